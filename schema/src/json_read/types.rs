//! Types, fields and variants from JSON: an object of the JSON form, or anywhere a type is
//! expected, a string in the notation.

use serde_json::{Map, Value};

use super::{array, err, index, member, members, number, optional, required, string};
use super::{JsonFormError, Names, Reader};
use crate::model::{Field, Type, Variant, VariantKind, MAX_DEPTH};
use crate::notation_parse::parse_at;

type Result<T> = core::result::Result<T, JsonFormError>;

/// The `type` of every type object, as the JSON form writes it, for error messages.
const TAGS: &str = "unit, bool, u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, f32, f64, \
                    char, string, option, seq, map, tuple, array, struct, tuple_struct, \
                    unit_struct, newtype_struct, enum, handle";

impl Reader {
    /// A type at nesting level `depth` (1 for a parameter's), at `path`.
    pub(super) fn ty(&mut self, value: &Value, path: &str, depth: usize) -> Result<Type> {
        if depth > MAX_DEPTH {
            let message = format!("types nested deeper than {MAX_DEPTH} levels");
            return Err(err(path, message));
        }
        if let Value::String(text) = value {
            let ty = parse_at(text, depth).map_err(|e| err(path, e.to_string()))?;
            self.note_handles(&ty, path);
            return Ok(ty);
        }
        let Value::Object(map) = value else {
            let message = "expected a type: a string such as \"u8\" or \"Vec<u8, 16>\", \
                           or an object such as {\"type\": \"struct\", ...}";
            return Err(super::expected(path, message, value));
        };
        let tag = required(map, path, "type", "the type's kind")?;
        let tag_path = member(path, "type");
        let tag = string(tag, &tag_path)?;
        let inner = depth + 1;
        let primitive = |ty: Type| members(map, path, &["type"]).map(|()| ty);
        Ok(match tag.as_str() {
            "unit" => primitive(Type::Unit)?,
            "bool" => primitive(Type::Bool)?,
            "u8" => primitive(Type::U8)?,
            "u16" => primitive(Type::U16)?,
            "u32" => primitive(Type::U32)?,
            "u64" => primitive(Type::U64)?,
            "u128" => primitive(Type::U128)?,
            "i8" => primitive(Type::I8)?,
            "i16" => primitive(Type::I16)?,
            "i32" => primitive(Type::I32)?,
            "i64" => primitive(Type::I64)?,
            "i128" => primitive(Type::I128)?,
            "f32" => primitive(Type::F32)?,
            "f64" => primitive(Type::F64)?,
            "char" => primitive(Type::Char)?,
            "string" => {
                members(map, path, &["type", "max"])?;
                Type::string(bound(map, path)?)
            }
            "option" => {
                members(map, path, &["type", "some"])?;
                Type::option(self.member_type(map, path, "some", inner)?)
            }
            "seq" => {
                members(map, path, &["type", "max", "item"])?;
                let max = bound(map, path)?;
                Type::seq(max, self.member_type(map, path, "item", inner)?)
            }
            "map" => {
                members(map, path, &["type", "max", "key", "value"])?;
                let max = bound(map, path)?;
                let key = self.member_type(map, path, "key", inner)?;
                Type::map(max, key, self.member_type(map, path, "value", inner)?)
            }
            "tuple" => {
                members(map, path, &["type", "items"])?;
                Type::Tuple(self.member_types(map, path, "items", inner)?)
            }
            "array" => {
                members(map, path, &["type", "len", "item"])?;
                let len = required(map, path, "len", "the array's length")?;
                let len = number(len, &member(path, "len"))?;
                Type::array(len, self.member_type(map, path, "item", inner)?)
            }
            "struct" => {
                members(map, path, &["type", "name", "fields"])?;
                let name = type_name(map, path)?;
                let fields = required(map, path, "fields", "the struct's fields")?;
                let fields = self.fields(fields, &member(path, "fields"), inner, "field name")?;
                Type::structure(name, fields)
            }
            "tuple_struct" => {
                members(map, path, &["type", "name", "fields"])?;
                let name = type_name(map, path)?;
                let fields = self.member_types(map, path, "fields", inner)?;
                Type::TupleStruct { name, fields }
            }
            "unit_struct" => {
                members(map, path, &["type", "name"])?;
                Type::UnitStruct {
                    name: type_name(map, path)?,
                }
            }
            "newtype_struct" => {
                members(map, path, &["type", "name", "inner"])?;
                let name = type_name(map, path)?;
                Type::newtype(name, self.member_type(map, path, "inner", inner)?)
            }
            "enum" => {
                members(map, path, &["type", "name", "variants"])?;
                let name = type_name(map, path)?;
                let variants = required(map, path, "variants", "the enum's variants")?;
                Type::enumeration(
                    name,
                    self.variants(variants, &member(path, "variants"), inner)?,
                )
            }
            "handle" => {
                members(map, path, &["type", "interface"])?;
                let interface = match optional(map, "interface") {
                    Some(name) => string(name, &member(path, "interface"))?,
                    None => String::new(), // a handle of any interface, as `handle` reads
                };
                self.handles.push((path.to_owned(), interface.clone()));
                Type::Handle(interface)
            }
            _ => {
                let message = format!(
                    "unknown type kind {tag:?} (expected one of {TAGS}; a type in the \
                     notation is given as a string, not as an object's \"type\")"
                );
                return Err(err(&tag_path, message));
            }
        })
    }

    /// The type in member `key` of a type object, which must be there.
    fn member_type(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        key: &str,
        depth: usize,
    ) -> Result<Type> {
        let value = required(map, path, key, "a type")?;
        self.ty(value, &member(path, key), depth)
    }

    /// The array of types in member `key` of a type object, which must be there.
    fn member_types(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        key: &str,
        depth: usize,
    ) -> Result<Vec<Type>> {
        let value = required(map, path, key, "an array of types")?;
        self.types(value, &member(path, key), depth)
    }

    /// An array of types.
    pub(super) fn types(&mut self, value: &Value, path: &str, depth: usize) -> Result<Vec<Type>> {
        let items = array(value, path)?;
        let mut types = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            types.push(self.ty(item, &index(path, i), depth)?);
        }
        Ok(types)
    }

    /// Named slots (parameters or fields) whose types are at level `depth`: an array of
    /// `{"name", "type"}`, or an object of name to type (in its order). `what` names a
    /// name for the error when one repeats, as the byte parser does.
    pub(super) fn fields(
        &mut self,
        value: &Value,
        path: &str,
        depth: usize,
        what: &'static str,
    ) -> Result<Vec<Field>> {
        let mut names = Names::new(what);
        match value {
            Value::Object(map) => {
                let mut fields = Vec::with_capacity(map.len());
                for (name, ty) in map {
                    let at = member(path, name);
                    // An object has no two keys alike, so `names` is not needed here.
                    fields.push(Field::new(name.clone(), self.ty(ty, &at, depth)?));
                }
                Ok(fields)
            }
            Value::Array(items) => {
                let mut fields = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let at = index(path, i);
                    let Value::Object(field) = item else {
                        let message = "expected a {\"name\", \"type\"} object";
                        return Err(super::expected(&at, message, item));
                    };
                    members(field, &at, &["name", "type"])?;
                    let name = required(field, &at, "name", "its name")?;
                    let name = string(name, &member(&at, "name"))?;
                    names.insert(&name, &at)?;
                    let ty = required(field, &at, "type", "its type")?;
                    fields.push(Field::new(name, self.ty(ty, &member(&at, "type"), depth)?));
                }
                Ok(fields)
            }
            _ => {
                let message = "expected an object of name to type ({\"a\": \"i32\"}) or an \
                               array of {\"name\", \"type\"} objects";
                Err(super::expected(path, message, value))
            }
        }
    }

    /// An enum's variants, whose bodies are at level `depth`: an array of objects with a
    /// `name`, a `kind` (`unit`, `newtype`, `tuple` or `struct`), and the body the kind
    /// takes (`inner`, `items` or `fields`). A missing `kind` is the one its body implies.
    fn variants(&mut self, value: &Value, path: &str, depth: usize) -> Result<Vec<Variant>> {
        let items = array(value, path)?;
        let mut names = Names::new("variant name");
        let mut variants = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let at = index(path, i);
            let Value::Object(map) = item else {
                let message = "expected a variant: {\"name\", \"kind\", ...}";
                return Err(super::expected(&at, message, item));
            };
            members(map, &at, &["name", "kind", "inner", "items", "fields"])?;
            let name = required(map, &at, "name", "its name")?;
            let name = string(name, &member(&at, "name"))?;
            names.insert(&name, &at)?;
            let bodies = ["inner", "items", "fields"].map(|key| optional(map, key).is_some());
            let kind = match optional(map, "kind") {
                Some(kind) => string(kind, &member(&at, "kind"))?,
                None => match bodies {
                    [false, false, false] => "unit".to_owned(),
                    [true, false, false] => "newtype".to_owned(),
                    [false, true, false] => "tuple".to_owned(),
                    [false, false, true] => "struct".to_owned(),
                    _ => {
                        let message = "a variant has at most one of \"inner\", \"items\" and \
                                       \"fields\"";
                        return Err(err(&at, message));
                    }
                },
            };
            // The body the kind takes, and no other.
            let (body, kind) = match kind.as_str() {
                "unit" => (None, VariantKind::Unit),
                "newtype" => {
                    let inner = self.member_type(map, &at, "inner", depth)?;
                    (Some("inner"), VariantKind::Newtype(inner))
                }
                "tuple" => {
                    let items = self.member_types(map, &at, "items", depth)?;
                    (Some("items"), VariantKind::Tuple(items))
                }
                "struct" => {
                    let fields = required(map, &at, "fields", "the variant's fields")?;
                    let fields_at = member(&at, "fields");
                    let fields = self.fields(fields, &fields_at, depth, "field name")?;
                    (Some("fields"), VariantKind::Struct(fields))
                }
                _ => {
                    let message = format!(
                        "unknown variant kind {kind:?} (expected unit, newtype, tuple or struct)"
                    );
                    return Err(err(&member(&at, "kind"), message));
                }
            };
            for key in ["inner", "items", "fields"] {
                if Some(key) != body && optional(map, key).is_some() {
                    let message = format!(
                        "a {kind_name} variant has no {key:?}",
                        kind_name = kind_word(&kind)
                    );
                    return Err(err(&member(&at, key), message));
                }
            }
            variants.push(Variant::new(name, kind));
        }
        Ok(variants)
    }

    /// Notes the handles in a type read from the notation (which names no struct or enum,
    /// so only these hold others), to check their interfaces once all are known.
    fn note_handles(&mut self, ty: &Type, path: &str) {
        match ty {
            Type::Handle(name) => self.handles.push((path.to_owned(), name.clone())),
            Type::Option(inner) => self.note_handles(inner, path),
            Type::Seq { item, .. } | Type::Array { item, .. } => self.note_handles(item, path),
            Type::Map { key, value, .. } => {
                self.note_handles(key, path);
                self.note_handles(value, path);
            }
            Type::Tuple(items) => items.iter().for_each(|t| self.note_handles(t, path)),
            _ => {}
        }
    }
}

/// A variant kind's word, for error messages.
fn kind_word(kind: &VariantKind) -> &'static str {
    match kind {
        VariantKind::Unit => "unit",
        VariantKind::Newtype(_) => "newtype",
        VariantKind::Tuple(_) => "tuple",
        VariantKind::Struct(_) => "struct",
    }
}

/// The `name` of a struct or enum, which must be there.
fn type_name(map: &Map<String, Value>, path: &str) -> Result<String> {
    let name = required(map, path, "name", "the type's name")?;
    string(name, &member(path, "name"))
}

/// The `max` of a string, sequence or map: left out, `null` or 0 for no bound.
fn bound(map: &Map<String, Value>, path: &str) -> Result<u32> {
    match optional(map, "max") {
        Some(max) => number(max, &member(path, "max")),
        None => Ok(0),
    }
}
