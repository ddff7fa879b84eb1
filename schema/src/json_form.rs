//! The JSON form of a manifest (`wirecall list --json`), through serde's `Serialize`.
//!
//! ```json
//! {"format": 1, "service": "demo", "procedures": [
//!   {"id": 1, "name": "add", "kind": "call", "signature": "add(a: i32, b: i32) -> i32",
//!    "params": [{"name": "a", "type": {"type": "i32"}}, {"name": "b", "type": {"type": "i32"}}],
//!    "output": {"type": "i32"}, "item": null, "in_item": null}],
//!  "interfaces": []}
//! ```
//!
//! `format` is the manifest's format byte (2 when it has interfaces); `interfaces` lists
//! them as `{"name": "Channel", "methods": [...]}`, each method as a procedure above.
//! `kind` is [`Mode::kind_name`](crate::Mode::kind_name). A type is an object whose `type`
//! is its tag's name in snake case (`u8`, `string`, `seq`, `tuple_struct`, `enum`, ...) with
//! its body as named members: `max` (left out when there is no bound), `some` (an option's
//! type), `item`, `key`, `value`, `len`, `items`, `name`, `fields` (`[{name, type}]`, or
//! types for a tuple struct), `inner`, and `variants` (`[{name, kind, ...}]` with `kind` one
//! of `unit`, `newtype` (with `inner`), `tuple` (with `items`) or `struct` (with `fields`)),
//! and `interface` (a handle's interface name, empty for any).
//!
//! # Reading it back
//!
//! [`Manifest::from_json`](crate::Manifest::from_json) and
//! [`Type::from_json`](crate::Type::from_json) (in `json_read`) read this form back, and a
//! shorter one, for a server that declares its service at run time:
//!
//! * Anywhere a type is expected, a string in the notation is taken too (`"i32"`,
//!   `"Vec<u8, 200>"`, `"Option<handle Channel>"`, read by [`Type::parse`](crate::Type::parse));
//!   a struct or enum, which the notation only names, is an object as above. Objects and
//!   strings mix freely (`{"type": "seq", "max": 4, "item": "String<8>"}`).
//! * `params`, and the `fields` of a struct or of a struct variant, are an array of
//!   `{"name", "type"}` or an object of name to type in declaration order
//!   (`{"a": "i32", "b": "i32"}`). `max` may also be `0` or `null` for no bound, and a
//!   handle's `interface` may be left out for any interface. A variant's `kind` may be left
//!   out: its body (`inner`, `items` or `fields`, or none) says it.
//! * What is derived may be left out. On a procedure: `signature` (ignored when given);
//!   `id` (each missing one is the first number from 0 that the list has not used, counted
//!   apart for the procedures and for each interface's methods); `output` (the unit type);
//!   `params` (none); `kind` (the items given say it, so none is a `call`), and `item`,
//!   `in_item` unless the kind needs them (a `server stream` needs `item`, a
//!   `client stream` `in_item`, a `bidi stream` both; one it does not need is an error).
//!   On the manifest: `interfaces` (none) and `format` (when given, it must be the one the
//!   interfaces imply). `service`, `procedures`, names and the types' bodies are required.
//! * A member not listed here is an error, so that a misspelt one is not passed over.
//!
//! Everything the byte parser refuses is refused, with the JSON path of the problem
//! (`procedures[1].params.b: unknown type "i33"`): two procedures, methods of one interface,
//! interfaces, parameters, fields or variants with one name, two procedures or methods of
//! one interface with one id, a handle of an interface that is not declared, types nested
//! deeper than [`MAX_DEPTH`](crate::MAX_DEPTH). The manifest read is then written to bytes
//! and parsed again, so both readers agree on what a manifest is.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::model::{Field, Interface, Manifest, Procedure, Type, Variant, VariantKind};
use crate::notation::signature;

impl Serialize for Manifest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("format", &self.format())?;
        m.serialize_entry("service", &self.service)?;
        m.serialize_entry("procedures", &self.procedures)?;
        m.serialize_entry("interfaces", &self.interfaces)?;
        m.end()
    }
}

impl Serialize for Interface {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("name", &self.name)?;
        m.serialize_entry("methods", &self.methods)?;
        m.end()
    }
}

impl Serialize for Procedure {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(8))?;
        m.serialize_entry("id", &self.id)?;
        m.serialize_entry("name", &self.name)?;
        m.serialize_entry("kind", self.mode.kind_name())?;
        m.serialize_entry("signature", &signature(self))?;
        m.serialize_entry("params", &self.params)?;
        m.serialize_entry("output", &self.output)?;
        m.serialize_entry("item", &self.item())?;
        m.serialize_entry("in_item", &self.in_item())?;
        m.end()
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("name", &self.name)?;
        m.serialize_entry("type", &self.ty)?;
        m.end()
    }
}

impl Serialize for Variant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &self.name)?;
        match &self.kind {
            VariantKind::Unit => m.serialize_entry("kind", "unit")?,
            VariantKind::Newtype(inner) => {
                m.serialize_entry("kind", "newtype")?;
                m.serialize_entry("inner", inner)?;
            }
            VariantKind::Tuple(items) => {
                m.serialize_entry("kind", "tuple")?;
                m.serialize_entry("items", items)?;
            }
            VariantKind::Struct(fields) => {
                m.serialize_entry("kind", "struct")?;
                m.serialize_entry("fields", fields)?;
            }
        }
        m.end()
    }
}

impl Serialize for Type {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", tag_name(self))?;
        match self {
            Type::String { max } => bound(&mut m, *max)?,
            Type::Option(inner) => m.serialize_entry("some", inner)?,
            Type::Seq { max, item } => {
                bound(&mut m, *max)?;
                m.serialize_entry("item", item)?;
            }
            Type::Map { max, key, value } => {
                bound(&mut m, *max)?;
                m.serialize_entry("key", key)?;
                m.serialize_entry("value", value)?;
            }
            Type::Tuple(items) => m.serialize_entry("items", items)?,
            Type::Array { len, item } => {
                m.serialize_entry("len", len)?;
                m.serialize_entry("item", item)?;
            }
            Type::Struct { name, fields } => {
                m.serialize_entry("name", name)?;
                m.serialize_entry("fields", fields)?;
            }
            Type::TupleStruct { name, fields } => {
                m.serialize_entry("name", name)?;
                m.serialize_entry("fields", fields)?;
            }
            Type::UnitStruct { name } => m.serialize_entry("name", name)?,
            Type::NewtypeStruct { name, inner } => {
                m.serialize_entry("name", name)?;
                m.serialize_entry("inner", inner)?;
            }
            Type::Enum { name, variants } => {
                m.serialize_entry("name", name)?;
                m.serialize_entry("variants", variants)?;
            }
            Type::Handle(interface) => m.serialize_entry("interface", interface)?,
            _ => {}
        }
        m.end()
    }
}

/// A bound, left out when there is none (0 on the wire).
fn bound<M: SerializeMap>(m: &mut M, max: u32) -> Result<(), M::Error> {
    if max == 0 {
        return Ok(());
    }
    m.serialize_entry("max", &max)
}

fn tag_name(t: &Type) -> &'static str {
    match t {
        Type::Unit => "unit",
        Type::Bool => "bool",
        Type::U8 => "u8",
        Type::U16 => "u16",
        Type::U32 => "u32",
        Type::U64 => "u64",
        Type::U128 => "u128",
        Type::I8 => "i8",
        Type::I16 => "i16",
        Type::I32 => "i32",
        Type::I64 => "i64",
        Type::I128 => "i128",
        Type::F32 => "f32",
        Type::F64 => "f64",
        Type::Char => "char",
        Type::String { .. } => "string",
        Type::Option(_) => "option",
        Type::Seq { .. } => "seq",
        Type::Map { .. } => "map",
        Type::Tuple(_) => "tuple",
        Type::Array { .. } => "array",
        Type::Struct { .. } => "struct",
        Type::TupleStruct { .. } => "tuple_struct",
        Type::UnitStruct { .. } => "unit_struct",
        Type::NewtypeStruct { .. } => "newtype_struct",
        Type::Enum { .. } => "enum",
        Type::Handle(_) => "handle",
    }
}
