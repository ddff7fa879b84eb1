//! Map keys as JSON object keys: which key types can be written as an object's (string)
//! keys, how such a key converts back to a value of the key type, and in which order.
//!
//! The order of a JSON object's keys is not part of its value (this crate keeps them in
//! the order written, serde_json's `preserve_order`, so that structs print in field order).
//! Object entries therefore go on the wire sorted by key, as a typed map (`BTreeMap`) writes
//! them: integer keys in numeric order, text in byte order (which is code point order),
//! `false` before `true`; so decoding then encoding gives the same bytes. A decoded map
//! prints as an object only when its keys are already strictly increasing in that order;
//! otherwise (duplicate or unordered keys, or keys of other types) it prints as
//! `[[key, value], ...]` pairs, which keep any order.

use serde_json::{Map, Value};

use super::text::Int;
use crate::model::Type;

/// The kinds of key a JSON object can hold.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// Strings and chars: the object key is the text.
    Text,
    /// `true` or `false`.
    Bool,
    /// Any integer width: the object key is its decimal form.
    Int,
}

/// The key kind of `ty` (through newtype structs), if its values can be object keys.
pub(crate) fn key_kind(ty: &Type) -> Option<KeyKind> {
    match ty {
        Type::String { .. } | Type::Char => Some(KeyKind::Text),
        Type::Bool => Some(KeyKind::Bool),
        Type::U8 | Type::U16 | Type::U32 | Type::U64 | Type::U128 => Some(KeyKind::Int),
        Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::I128 => Some(KeyKind::Int),
        Type::NewtypeStruct { inner, .. } => key_kind(inner),
        _ => None,
    }
}

/// The JSON value an object key stands for, for the key type `ty`: a number for integer
/// keys (a decimal string when beyond `i64`/`u64`, which the wide integers accept), a bool
/// for `"true"`/`"false"`, and the string itself otherwise (so that a key that does not
/// convert fails with the key type's own message).
pub(crate) fn key_value(key: &str, ty: &Type) -> Value {
    match key_kind(ty) {
        Some(KeyKind::Int) => match Int::from_decimal(key) {
            Ok(int) => super::text::int_to_json(int),
            Err(_) => Value::from(key),
        },
        Some(KeyKind::Bool) => match key {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::from(key),
        },
        Some(KeyKind::Text) | None => Value::from(key),
    }
}

/// The object's entries in the order they go on the wire (see the module docs).
pub(crate) fn object_entries<'a>(
    object: &'a Map<String, Value>,
    ty: &Type,
) -> Vec<(&'a String, &'a Value)> {
    let mut entries: Vec<_> = object.iter().collect();
    match key_kind(ty) {
        // Keys that are not integers fail when encoded; until then any order will do.
        Some(KeyKind::Int) => {
            entries.sort_by_key(|(k, _)| Int::from_decimal(k).map(Int::order).ok())
        }
        // Byte order is code point order for text, and puts "false" before "true".
        Some(KeyKind::Text | KeyKind::Bool) => entries.sort_by(|a, b| a.0.cmp(b.0)),
        None => {}
    }
    entries
}

/// Decoded entries as a JSON object, if the key type allows it and the keys are strictly
/// increasing in the order [`object_entries`] would put them back in; otherwise as
/// `[[key, value], ...]`.
pub(crate) fn entries_to_json(entries: Vec<(Value, Value)>, ty: &Type) -> Value {
    match key_kind(ty) {
        Some(kind) if increasing(&entries, kind) => {
            let mut object = Map::new();
            for (key, value) in entries {
                object.insert(key_text(&key), value);
            }
            Value::Object(object)
        }
        _ => Value::Array(
            entries
                .into_iter()
                .map(|(k, v)| Value::Array(vec![k, v]))
                .collect(),
        ),
    }
}

fn increasing(entries: &[(Value, Value)], kind: KeyKind) -> bool {
    let texts: Vec<String> = entries.iter().map(|(k, _)| key_text(k)).collect();
    match kind {
        // Text order is byte order, as serde_json's maps sort; "false" < "true" too.
        KeyKind::Text | KeyKind::Bool => texts.windows(2).all(|w| matches!(w, [a, b] if a < b)),
        KeyKind::Int => {
            let order: Vec<_> = texts
                .iter()
                .map(|t| Int::from_decimal(t).map(Int::order).ok())
                .collect();
            order.iter().all(Option::is_some)
                && order.windows(2).all(|w| matches!(w, [a, b] if a < b))
        }
    }
}

/// A decoded key (a string, bool or number) as an object key.
fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
