//! The manifest, its procedures and its interfaces from JSON.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::{array, err, index, member, members, number, optional, required, string};
use super::{JsonFormError, Names, Reader};
use crate::model::{Interface, Manifest, Mode, Procedure, Type};

type Result<T> = core::result::Result<T, JsonFormError>;

/// What a list of procedures is, for error messages: the service's own or an interface's
/// methods (the byte parser's words).
struct List {
    duplicate_name: &'static str,
    duplicate_id: &'static str,
}

const PROCEDURES: List = List {
    duplicate_name: "procedure name",
    duplicate_id: "procedure id",
};

const METHODS: List = List {
    duplicate_name: "method name",
    duplicate_id: "method id",
};

/// The members of a procedure; `signature` is written by the JSON form and ignored here,
/// since it is derived from the others.
const PROCEDURE_MEMBERS: &[&str] = &[
    "id",
    "name",
    "kind",
    "signature",
    "params",
    "output",
    "item",
    "in_item",
];

impl Reader {
    pub(super) fn manifest(&mut self, value: &Value) -> Result<Manifest> {
        let Value::Object(map) = value else {
            let message = "expected a manifest: {\"service\", \"procedures\", ...}";
            return Err(super::expected("", message, value));
        };
        members(map, "", &["format", "service", "procedures", "interfaces"])?;
        let service = required(map, "", "service", "the service's name")?;
        let service = string(service, "service")?;
        let procedures = required(map, "", "procedures", "an array of procedures")?;
        let procedures = self.procedures(procedures, "procedures", &PROCEDURES)?;
        let mut interfaces = Vec::new();
        if let Some(list) = optional(map, "interfaces") {
            let mut names = Names::new("interface name");
            for (i, item) in array(list, "interfaces")?.iter().enumerate() {
                let at = index("interfaces", i);
                let Value::Object(interface) = item else {
                    let message = "expected an interface: {\"name\", \"methods\"}";
                    return Err(super::expected(&at, message, item));
                };
                members(interface, &at, &["name", "methods"])?;
                let name = required(interface, &at, "name", "the interface's name")?;
                let name = string(name, &member(&at, "name"))?;
                names.insert(&name, &at)?;
                let methods = required(interface, &at, "methods", "an array of methods")?;
                let methods = self.procedures(methods, &member(&at, "methods"), &METHODS)?;
                interfaces.push(Interface { name, methods });
            }
        }
        for (path, name) in &self.handles {
            if !name.is_empty() && !interfaces.iter().any(|i| i.name == *name) {
                let message = format!(
                    "a handle of interface {name}, which the manifest does not declare \
                     (declare it in \"interfaces\")"
                );
                return Err(err(path, message));
            }
        }
        let manifest = Manifest {
            service,
            procedures,
            interfaces,
        };
        if let Some(format) = optional(map, "format") {
            // Derived from the content; a declared one that differs is a mistake somewhere.
            if format.as_u64() != Some(u64::from(manifest.format())) {
                let message = format!(
                    "expected {} (format 1 without interfaces, 2 with), got {}",
                    manifest.format(),
                    super::got_json(format)
                );
                return Err(err("format", message));
            }
        }
        Ok(manifest)
    }

    /// An array of procedures (or of one interface's methods). A missing `id` is the first
    /// number from 0 that no procedure of the list has, in order.
    fn procedures(&mut self, value: &Value, path: &str, list: &List) -> Result<Vec<Procedure>> {
        let items = array(value, path)?;
        let mut read = Vec::with_capacity(items.len());
        let mut names = Names::new(list.duplicate_name);
        let mut taken = HashSet::new();
        for (i, item) in items.iter().enumerate() {
            let at = index(path, i);
            let (id, procedure) = self.procedure(item, &at)?;
            names.insert(&procedure.name, &at)?;
            if let Some(id) = id {
                if !taken.insert(id) {
                    let message = format!("duplicate {} {id}", list.duplicate_id);
                    return Err(err(&member(&at, "id"), message));
                }
            }
            read.push((id, procedure));
        }
        // The ids given are all known now; number the others around them.
        let mut next: u32 = 0;
        let mut procedures = Vec::with_capacity(read.len());
        for (id, mut procedure) in read {
            procedure.id = match id {
                Some(id) => id,
                None => {
                    while taken.contains(&next) {
                        // Only a list of over four billion procedures runs out.
                        next = next.checked_add(1).ok_or_else(|| err(path, "no id left"))?;
                    }
                    taken.insert(next);
                    next
                }
            };
            procedures.push(procedure);
        }
        Ok(procedures)
    }

    /// A procedure and the id it was given, if any (its `id` is 0 until numbered).
    fn procedure(&mut self, value: &Value, path: &str) -> Result<(Option<u32>, Procedure)> {
        let Value::Object(map) = value else {
            let message = "expected a procedure: {\"name\", \"params\", \"output\", ...}";
            return Err(super::expected(path, message, value));
        };
        members(map, path, PROCEDURE_MEMBERS)?;
        let id = match optional(map, "id") {
            Some(id) => Some(number(id, &member(path, "id"))?),
            None => None,
        };
        let name = required(map, path, "name", "the procedure's name")?;
        let name = string(name, &member(path, "name"))?;
        let params = match optional(map, "params") {
            Some(params) => self.fields(params, &member(path, "params"), 1, "parameter name")?,
            None => Vec::new(),
        };
        let output = match optional(map, "output") {
            Some(output) => self.ty(output, &member(path, "output"), 1)?,
            None => Type::Unit,
        };
        let mode = self.mode(map, path)?;
        let procedure = Procedure {
            id: 0,
            name,
            params,
            output,
            mode,
        };
        Ok((id, procedure))
    }

    /// The mode from `kind` ([`Mode::kind_name`]) and the item types it needs, `item` for
    /// the server's and `in_item` for the caller's. Without a `kind`, the item types given
    /// say it: none, a call.
    fn mode(&mut self, map: &Map<String, Value>, path: &str) -> Result<Mode> {
        let item = match optional(map, "item") {
            Some(item) => Some(self.ty(item, &member(path, "item"), 1)?),
            None => None,
        };
        let in_item = match optional(map, "in_item") {
            Some(in_item) => Some(self.ty(in_item, &member(path, "in_item"), 1)?),
            None => None,
        };
        let kind = match optional(map, "kind") {
            Some(kind) => Some(string(kind, &member(path, "kind"))?),
            None => None,
        };
        let (needs_item, needs_in_item) = match kind.as_deref() {
            None => (item.is_some(), in_item.is_some()),
            Some("call") => (false, false),
            Some("client stream") => (false, true),
            Some("server stream") => (true, false),
            Some("bidi stream") => (true, true),
            Some(other) => {
                let message = format!(
                    "unknown kind {other:?} (expected \"call\", \"client stream\", \
                     \"server stream\" or \"bidi stream\")"
                );
                return Err(err(&member(path, "kind"), message));
            }
        };
        let kind = kind.as_deref().unwrap_or("call");
        let item = match (needs_item, item) {
            (true, None) => {
                let message = format!(
                    "missing \"item\" (a {kind} needs the type of the items the server sends)"
                );
                return Err(err(path, message));
            }
            (false, Some(_)) => {
                let message = format!("a {kind} has no item (the server sends none)");
                return Err(err(&member(path, "item"), message));
            }
            (_, item) => item,
        };
        let in_item = match (needs_in_item, in_item) {
            (true, None) => {
                let message = format!(
                    "missing \"in_item\" (a {kind} needs the type of the items the caller sends)"
                );
                return Err(err(path, message));
            }
            (false, Some(_)) => {
                let message = format!("a {kind} has no in_item (the caller sends none)");
                return Err(err(&member(path, "in_item"), message));
            }
            (_, in_item) => in_item,
        };
        Ok(match (item, in_item) {
            (None, None) => Mode::Call,
            (None, Some(in_item)) => Mode::ClientStream { in_item },
            (Some(item), None) => Mode::ServerStream { item },
            (Some(item), Some(in_item)) => Mode::Bidi { item, in_item },
        })
    }
}
