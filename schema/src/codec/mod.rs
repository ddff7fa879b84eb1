//! The dynamic codec: JSON to postcard payload bytes and back, driven by the manifest's
//! types. The JSON conventions are in the crate docs.
//!
//! Encoding walks the type and looks into the JSON; decoding walks the type and reads the
//! bytes. Both stop at [`MAX_DEPTH`](crate::MAX_DEPTH) levels, so a type built by hand
//! deeper than a manifest may describe is an error rather than a deep recursion.

mod args;
mod decode;
mod encode;
mod error;
mod keys;
mod text;

pub use error::CodecError;
// For the errors of reading a declared manifest, which show JSON as the codec's do.
pub(crate) use error::got_json;

use serde_json::{Map, Value};

use crate::model::{Procedure, Type};
use decode::Decoder;
use encode::Encoder;

/// The most values that take no bytes (units, unit structs, empty tuples and structs) one
/// decoded payload may hold. Everything else is bounded by the payload's length; these are
/// not, so a hostile count of them (`Vec<()>` of four billion) stops here instead.
pub const MAX_EMPTY_VALUES: usize = 1 << 16;

/// The payload bytes of `json` as a `ty`.
///
/// # Errors
///
/// [`CodecError`] when `json` does not fit `ty`, with the path to the part that does not.
pub fn encode_value(ty: &Type, json: &Value) -> Result<Vec<u8>, CodecError> {
    let mut encoder = Encoder::default();
    encoder.value(ty, json)?;
    Ok(encoder.out)
}

/// The JSON of the payload `bytes` holding a `ty`. Every byte must be used. Never panics,
/// whatever the bytes.
///
/// # Errors
///
/// [`CodecError`] when the bytes are not a `ty`; its `got` says what they held at which byte.
pub fn decode_value(ty: &Type, bytes: &[u8]) -> Result<Value, CodecError> {
    let mut decoder = Decoder::new(bytes);
    let value = decoder.value(ty)?;
    decoder.finish()?;
    Ok(value)
}

/// The payload of a call's arguments: `json` is an array (by position), an object (by
/// parameter name), or for a procedure with one parameter its bare value (the rule is in
/// the crate docs); `[]`, `{}` or `null` for none.
///
/// # Errors
///
/// [`CodecError`] naming the procedure, e.g. `add: missing field b`.
pub fn encode_args(procedure: &Procedure, json: &Value) -> Result<Vec<u8>, CodecError> {
    args::encode(procedure, json).map_err(|e| e.in_procedure(&procedure.name))
}

/// The arguments in a request's payload, as an object by parameter name (what a host
/// serving a procedure, or a log, shows).
///
/// # Errors
///
/// [`CodecError`] naming the procedure, with the path from the parameter's name.
pub fn decode_args(procedure: &Procedure, bytes: &[u8]) -> Result<Value, CodecError> {
    let decode = || {
        let mut decoder = Decoder::new(bytes);
        let mut object = Map::new();
        for param in &procedure.params {
            let mark = decoder.path.field(&param.name);
            let value = decoder.value(&param.ty)?;
            decoder.path.leave(mark);
            object.insert(param.name.clone(), value);
        }
        decoder.finish()?;
        Ok(Value::Object(object))
    };
    decode().map_err(|e: CodecError| e.in_procedure(&procedure.name))
}

/// The payload of `procedure`'s reply.
///
/// # Errors
///
/// As [`encode_value`], naming the procedure.
pub fn encode_output(procedure: &Procedure, json: &Value) -> Result<Vec<u8>, CodecError> {
    encode_value(&procedure.output, json).map_err(|e| e.in_procedure(&procedure.name))
}

/// The JSON of `procedure`'s reply.
///
/// # Errors
///
/// As [`decode_value`], naming the procedure.
pub fn decode_output(procedure: &Procedure, bytes: &[u8]) -> Result<Value, CodecError> {
    decode_value(&procedure.output, bytes).map_err(|e| e.in_procedure(&procedure.name))
}

/// The payload of an item the server sends on `procedure`'s stream.
///
/// # Errors
///
/// As [`encode_value`], naming the procedure; also when the server sends no items there.
pub fn encode_item(procedure: &Procedure, json: &Value) -> Result<Vec<u8>, CodecError> {
    let ty = item_type(procedure, procedure.item(), "server")?;
    encode_value(ty, json).map_err(|e| e.in_procedure(&procedure.name))
}

/// The JSON of an item the server sent on `procedure`'s stream.
///
/// # Errors
///
/// As [`decode_value`], naming the procedure; also when the server sends no items there.
pub fn decode_item(procedure: &Procedure, bytes: &[u8]) -> Result<Value, CodecError> {
    let ty = item_type(procedure, procedure.item(), "server")?;
    decode_value(ty, bytes).map_err(|e| e.in_procedure(&procedure.name))
}

/// The payload of an item the caller sends on `procedure`'s stream.
///
/// # Errors
///
/// As [`encode_value`], naming the procedure; also when the caller sends no items there.
pub fn encode_in_item(procedure: &Procedure, json: &Value) -> Result<Vec<u8>, CodecError> {
    let ty = item_type(procedure, procedure.in_item(), "caller")?;
    encode_value(ty, json).map_err(|e| e.in_procedure(&procedure.name))
}

/// The JSON of an item the caller sent on `procedure`'s stream.
///
/// # Errors
///
/// As [`decode_value`], naming the procedure; also when the caller sends no items there.
pub fn decode_in_item(procedure: &Procedure, bytes: &[u8]) -> Result<Value, CodecError> {
    let ty = item_type(procedure, procedure.in_item(), "caller")?;
    decode_value(ty, bytes).map_err(|e| e.in_procedure(&procedure.name))
}

fn item_type<'a>(
    procedure: &Procedure,
    ty: Option<&'a Type>,
    who: &str,
) -> Result<&'a Type, CodecError> {
    ty.ok_or_else(|| {
        let kind = procedure.mode.kind_name();
        let message = format!("the {who} sends no items on a {kind}");
        CodecError::new(&error::Path::default(), message, None).in_procedure(&procedure.name)
    })
}
