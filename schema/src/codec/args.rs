//! A procedure's arguments from JSON: by position, by name, or bare for one parameter.
//!
//! The rule for one parameter `p: T` (both readings are possible there): the JSON is first
//! read bare, as the value of `p`; only if that fails, and the JSON is an array or an
//! object, is it read as the arguments (`[v]` or `{"p": v}`). The bare reading goes first
//! because a JSON text that is a valid `T` most likely is one (`echo [1, 2]` sends two
//! bytes, not fails for want of a second argument). When both fail, the error shown is
//! the argument reading's for an object whose one key is `p` (clearly by name); otherwise
//! the bare reading's if the JSON looks like a `T` at its top level (an array for a
//! sequence, an array of the right length for a tuple, an object for a struct, a string or
//! one-key object for an enum, ...), else the argument reading's. So `echo [300]` for
//! `echo(data: Vec<u8, 200>)` says `300 does not fit u8 at [0]`, `set {"mode": "Dim"}` for
//! `set(mode: Mode)` says `expected one of Off, On at mode, got "Dim"`, and `count [1, 2]`
//! for `count(n: u32)` says `expected 1 argument (n: u32), got 2`.

use serde_json::Value;

use super::encode::Encoder;
use super::error::CodecError;
use crate::model::{Field, Procedure, Type};
use crate::notation::Fields;

/// The payload of `procedure`'s arguments (errors without the procedure's name).
pub(crate) fn encode(procedure: &Procedure, json: &Value) -> Result<Vec<u8>, CodecError> {
    match procedure.params.as_slice() {
        [] => match json {
            Value::Null => Ok(Vec::new()),
            Value::Array(a) if a.is_empty() => Ok(Vec::new()),
            Value::Object(o) if o.is_empty() => Ok(Vec::new()),
            other => {
                let message = "expected no arguments ([], {} or null)";
                Err(Encoder::default().fail(message, Some(other)))
            }
        },
        [param] => {
            let mut bare = Encoder::default();
            let bare_error = match bare.value(&param.ty, json) {
                Ok(()) => return Ok(bare.out),
                Err(e) => e,
            };
            if !(json.is_array() || json.is_object()) {
                return Err(bare_error);
            }
            let by_name = json
                .as_object()
                .is_some_and(|o| o.len() == 1 && o.contains_key(&param.name));
            match listed(&procedure.params, json) {
                Ok(bytes) => Ok(bytes),
                Err(_) if !by_name && has_shape(&param.ty, json) => Err(bare_error),
                Err(listed_error) => Err(listed_error),
            }
        }
        params => listed(params, json),
    }
}

/// The arguments as a JSON array (one per parameter) or object (one key per parameter).
fn listed(params: &[Field], json: &Value) -> Result<Vec<u8>, CodecError> {
    let mut encoder = Encoder::default();
    let n = params.len();
    let plural = if n == 1 { "argument" } else { "arguments" };
    match json {
        Value::Array(items) => {
            if items.len() != n {
                let message = format!("expected {n} {plural} ({})", Fields(params));
                return Err(encoder.fail_count(message, items.len()));
            }
            for (param, item) in params.iter().zip(items) {
                let mark = encoder.path.field(&param.name);
                encoder.value(&param.ty, item)?;
                encoder.path.leave(mark);
            }
        }
        Value::Object(object) => encoder.fields(params, object)?,
        other => {
            let message = format!(
                "expected {n} {plural} ({}) as an array or an object",
                Fields(params)
            );
            return Err(encoder.fail(message, Some(other)));
        }
    }
    Ok(encoder.out)
}

/// Whether `json` looks like a value of `ty` at its top level: its JSON kind is one values
/// of `ty` are written in, and an array has the length of a tuple or array, an enum's
/// object one key. Contents further in are not looked at.
fn has_shape(ty: &Type, json: &Value) -> bool {
    match ty {
        Type::Unit | Type::UnitStruct { .. } => json.is_null(),
        Type::Bool => json.is_boolean(),
        Type::U8 | Type::U16 | Type::U32 | Type::I8 | Type::I16 | Type::I32 => json.is_number(),
        Type::U64 | Type::U128 | Type::I64 | Type::I128 | Type::F32 | Type::F64 => {
            json.is_number() || json.is_string()
        }
        Type::Char | Type::String { .. } => json.is_string(),
        Type::Option(inner) => json.is_null() || has_shape(inner, json),
        Type::Seq { item, .. } => json.is_array() || (**item == Type::U8 && json.is_string()),
        Type::Array { len, item } => match json {
            Value::Array(items) => items.len() == *len as usize,
            Value::String(_) => **item == Type::U8,
            _ => false,
        },
        Type::Map { .. } => json.is_array() || json.is_object(),
        Type::Tuple(types) | Type::TupleStruct { fields: types, .. } => json
            .as_array()
            .is_some_and(|items| items.len() == types.len()),
        Type::Struct { .. } => json.is_object(),
        Type::NewtypeStruct { inner, .. } => has_shape(inner, json),
        Type::Enum { .. } => match json {
            Value::String(_) => true,
            Value::Object(o) => o.len() == 1,
            _ => false,
        },
        // Decoded, a handle prints as an object; no JSON encodes to one.
        Type::Handle(_) => json.is_object(),
    }
}
