//! Declaring a service: the JSON form read back into the model ([`Manifest::from_json`],
//! [`Type::from_json`]), leniently where a member is only derived, and with a string in the
//! notation accepted wherever a type is expected. The accepted form is in the docs of the
//! JSON form (`json_form.rs`).
//!
//! What the byte parser refuses is refused here too, with the JSON path of the problem;
//! then the model is written to bytes and parsed again, so that a declared manifest is
//! exactly one a device could send.

mod procedures;
mod types;

use core::fmt;
use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::codec::got_json;
use crate::model::{Manifest, Type};

/// A JSON description of a manifest or type that cannot be read: where in the JSON, and
/// what is wrong there. Prints as `procedures[1].params.b: unknown type "i33"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonFormError {
    /// Where the problem is, from the top of the JSON: `procedures[1].params.b`,
    /// `interfaces[0].methods[2].id`; empty at the top.
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

impl fmt::Display for JsonFormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for JsonFormError {}

impl Manifest {
    /// Reads a manifest from its JSON form (what `Serialize` writes), or from a shorter
    /// declaration of it: ids, kinds, outputs, interfaces and the format may be left out,
    /// parameters and fields given as an object of name to type, and any type as a string
    /// in the notation (`"Vec<u8, 16>"`). The accepted form is in the crate docs, under
    /// "Declaring a service". Never panics, whatever the JSON.
    ///
    /// The result is what [`Manifest::parse`] reads from its [`Manifest::to_bytes`]: the
    /// same names, ids, depths and interfaces are refused.
    ///
    /// # Errors
    ///
    /// [`JsonFormError`], with the JSON path of the problem.
    pub fn from_json(value: &Value) -> core::result::Result<Manifest, JsonFormError> {
        let manifest = Reader::default().manifest(value)?;
        // Both readers must agree: what is declared here is what a device would send. The
        // checks above give the better errors; this one catches anything they missed.
        match Manifest::parse(&manifest.to_bytes()) {
            Ok(parsed) if parsed == manifest => Ok(manifest),
            Ok(_) => Err(err(
                "",
                "the manifest does not survive being written to bytes",
            )),
            Err(e) => Err(err("", format!("the manifest's bytes do not parse: {e}"))),
        }
    }
}

impl Type {
    /// Reads a type from its JSON form (`{"type": "seq", "max": 16, "item": {"type": "u8"}}`)
    /// or from a string in the notation (`"Vec<u8, 16>"`, see [`Type::parse`]), the two
    /// mixed as one likes. Never panics, whatever the JSON.
    ///
    /// A handle's interface cannot be checked against a type alone; [`Manifest::from_json`]
    /// checks it.
    ///
    /// # Errors
    ///
    /// [`JsonFormError`], with the JSON path of the problem within `value`.
    pub fn from_json(value: &Value) -> core::result::Result<Type, JsonFormError> {
        Reader::default().ty(value, "", 1)
    }
}

/// What reading has gathered beyond the model.
#[derive(Default)]
struct Reader {
    /// Every handle type read, where, and its interface's name, checked against the
    /// interfaces once they are all read (they come after the procedures).
    handles: Vec<(String, String)>,
}

type Result<T> = core::result::Result<T, JsonFormError>;

fn err(path: &str, message: impl Into<String>) -> JsonFormError {
    JsonFormError {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// `message`, then what was found: `expected a string, got 5`.
fn expected(path: &str, message: &str, found: &Value) -> JsonFormError {
    err(path, format!("{message}, got {}", got_json(found)))
}

/// The path to member `key` of the object at `path`: `.key` when `key` reads as a name,
/// else `["key"]`, so that any key can be told apart.
fn member(path: &str, key: &str) -> String {
    let plain = key.starts_with(|c: char| c.is_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_alphanumeric() || c == '_');
    match (plain, path.is_empty()) {
        (true, true) => key.to_owned(),
        (true, false) => format!("{path}.{key}"),
        (false, _) => format!("{path}[{key:?}]"),
    }
}

/// The path to item `i` of the array at `path`.
fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// Refuses a member of `map` that is not among `known`: a misspelt member would otherwise
/// be left out silently (a `"maxx": 8` would leave a string unbounded).
fn members(map: &Map<String, Value>, path: &str, known: &[&str]) -> Result<()> {
    match map.keys().find(|key| !known.contains(&key.as_str())) {
        None => Ok(()),
        Some(key) => {
            let message = format!("unknown member (expected {})", known.join(", "));
            Err(err(&member(path, key), message))
        }
    }
}

/// Member `key` of `map`, if it is there and not `null`.
fn optional<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

/// Member `key` of `map`, which must be there and not `null`; `what` says what it holds.
fn required<'a>(
    map: &'a Map<String, Value>,
    path: &str,
    key: &str,
    what: &str,
) -> Result<&'a Value> {
    optional(map, key).ok_or_else(|| err(path, format!("missing {key:?} ({what})")))
}

fn string(value: &Value, path: &str) -> Result<String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        _ => Err(expected(path, "expected a string", value)),
    }
}

/// A `u32`: an id, a bound or a length.
fn number(value: &Value, path: &str) -> Result<u32> {
    match value.as_u64().map(u32::try_from) {
        Some(Ok(n)) => Ok(n),
        _ => Err(expected(
            path,
            "expected a whole number from 0 to 4294967295",
            value,
        )),
    }
}

fn array<'a>(value: &'a Value, path: &str) -> Result<&'a Vec<Value>> {
    match value {
        Value::Array(items) => Ok(items),
        _ => Err(expected(path, "expected an array", value)),
    }
}

/// The names (or ids) seen so far in one list, to refuse a second use of one, as the byte
/// parser does and with its words (`duplicate field name hz`).
struct Names {
    what: &'static str,
    seen: HashSet<String>,
}

impl Names {
    fn new(what: &'static str) -> Self {
        Names {
            what,
            seen: HashSet::new(),
        }
    }

    fn insert(&mut self, name: &str, path: &str) -> Result<()> {
        if self.seen.insert(name.to_owned()) {
            return Ok(());
        }
        Err(err(path, format!("duplicate {} {name}", self.what)))
    }
}
