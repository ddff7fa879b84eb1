//! The readable notation of types and procedures, for listings and error messages.
//!
//! Rust-like, with the bounds heapless would write: `u8`, `()`, `String`, `String<32>`,
//! `Option<T>`, `Vec<T>`, `Vec<u8, 200>`, `Map<K, V>`, `Map<K, V, 16>`, `(A, B)`, `(A,)`,
//! `[u8; 4]`, `handle Channel`, and structs and enums by name. A signature lists the
//! parameters, a caller's stream as a last `stream T` parameter, and a server's stream as
//! `-> stream T`: `add(a: i32, b: i32) -> i32`, `count(n: u32) -> stream u32`,
//! `sum(stream u32) -> u64`, `chat(stream String) -> stream String`,
//! `open(name: String<16>) -> handle Channel`. A unit result is left out (`reset()`), as in
//! Rust.

use std::collections::HashSet;
use std::fmt::{self, Display, Write};

use crate::model::{Field, Manifest, Procedure, Type, VariantKind};

impl Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Unit => f.write_str("()"),
            Type::Bool => f.write_str("bool"),
            Type::U8 => f.write_str("u8"),
            Type::U16 => f.write_str("u16"),
            Type::U32 => f.write_str("u32"),
            Type::U64 => f.write_str("u64"),
            Type::U128 => f.write_str("u128"),
            Type::I8 => f.write_str("i8"),
            Type::I16 => f.write_str("i16"),
            Type::I32 => f.write_str("i32"),
            Type::I64 => f.write_str("i64"),
            Type::I128 => f.write_str("i128"),
            Type::F32 => f.write_str("f32"),
            Type::F64 => f.write_str("f64"),
            Type::Char => f.write_str("char"),
            Type::String { max: 0 } => f.write_str("String"),
            Type::String { max } => write!(f, "String<{max}>"),
            Type::Option(inner) => write!(f, "Option<{inner}>"),
            Type::Seq { max: 0, item } => write!(f, "Vec<{item}>"),
            Type::Seq { max, item } => write!(f, "Vec<{item}, {max}>"),
            Type::Map { max: 0, key, value } => write!(f, "Map<{key}, {value}>"),
            Type::Map { max, key, value } => write!(f, "Map<{key}, {value}, {max}>"),
            Type::Tuple(items) if items.len() == 1 => write!(f, "({},)", List(items)),
            Type::Tuple(items) => write!(f, "({})", List(items)),
            Type::Array { len, item } => write!(f, "[{item}; {len}]"),
            Type::Struct { name, .. }
            | Type::TupleStruct { name, .. }
            | Type::UnitStruct { name }
            | Type::NewtypeStruct { name, .. }
            | Type::Enum { name, .. } => f.write_str(name),
            Type::Handle(interface) if interface.is_empty() => f.write_str("handle"),
            Type::Handle(interface) => write!(f, "handle {interface}"),
        }
    }
}

/// Types separated by `, `.
struct List<'a>(&'a [Type]);

impl Display for List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

/// Fields as `a: T, b: U`.
pub(crate) struct Fields<'a>(pub(crate) &'a [Field]);

impl Display for Fields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, field) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}: {}", field.name, field.ty)?;
        }
        Ok(())
    }
}

/// A procedure's signature, e.g. `add(a: i32, b: i32) -> i32` or `count(n: u32) -> stream u32`.
pub fn signature(procedure: &Procedure) -> String {
    let mut out = format!("{}({}", procedure.name, Fields(&procedure.params));
    if let Some(in_item) = procedure.in_item() {
        let comma = if procedure.params.is_empty() {
            ""
        } else {
            ", "
        };
        let _ = write!(out, "{comma}stream {in_item}");
    }
    out.push(')');
    let unit_output = procedure.output == Type::Unit;
    match (procedure.item(), unit_output) {
        (Some(item), true) => {
            let _ = write!(out, " -> stream {item}");
        }
        (Some(item), false) => {
            let _ = write!(out, " -> stream {item}, then {}", procedure.output);
        }
        (None, true) => {}
        (None, false) => {
            let _ = write!(out, " -> {}", procedure.output);
        }
    }
    out
}

/// The definition of a named type, e.g. `struct Info { version: u32, name: String<16> }`,
/// `struct Point(i32, i32)`, `struct Ping`, `struct Meters(u32)` or
/// `enum Mode { Off, On, Blink { hz: u8 } }`; `None` for a type without a name.
pub fn definition(ty: &Type) -> Option<String> {
    Some(match ty {
        Type::Enum { .. } => format!("enum {}", Body(ty)),
        Type::Struct { .. }
        | Type::TupleStruct { .. }
        | Type::UnitStruct { .. }
        | Type::NewtypeStruct { .. } => format!("struct {}", Body(ty)),
        _ => return None,
    })
}

/// A named type's name and body without `struct`/`enum`, as error messages show what they
/// expected: `Info { version: u32 }`, `Mode { Off, On }`. Other types as [`Display`].
pub(crate) struct Body<'a>(pub(crate) &'a Type);

impl Display for Body<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Type::Struct { name, fields } if fields.is_empty() => write!(f, "{name} {{}}"),
            Type::Struct { name, fields } => write!(f, "{name} {{ {} }}", Fields(fields)),
            Type::TupleStruct { name, fields } => write!(f, "{name}({})", List(fields)),
            Type::NewtypeStruct { name, inner } => write!(f, "{name}({inner})"),
            Type::Enum { name, .. } => write!(f, "{name} {{ {} }}", Variants(self.0)),
            other => write!(f, "{other}"),
        }
    }
}

/// An enum's variants as `Off, On, Blink { hz: u8 }, Level(u8)`; nothing for other types.
pub(crate) struct Variants<'a>(pub(crate) &'a Type);

impl Display for Variants<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Type::Enum { variants, .. } = self.0 else {
            return Ok(());
        };
        for (i, v) in variants.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(&v.name)?;
            match &v.kind {
                VariantKind::Unit => {}
                VariantKind::Newtype(inner) => write!(f, "({inner})")?,
                VariantKind::Tuple(items) => write!(f, "({})", List(items))?,
                VariantKind::Struct(fields) if fields.is_empty() => f.write_str(" {}")?,
                VariantKind::Struct(fields) => write!(f, " {{ {} }}", Fields(fields))?,
            }
        }
        Ok(())
    }
}

/// Every named type (struct or enum) the manifest's procedures and its interfaces' methods
/// use, each once, in the order they first appear (depth first, the procedures before the
/// methods), for a listing to define after the signatures. Two different types with one
/// name are both listed.
pub fn named_types(manifest: &Manifest) -> Vec<&Type> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let methods = manifest.interfaces.iter().flat_map(|i| &i.methods);
    for p in manifest.procedures.iter().chain(methods) {
        let tops = p.params.iter().map(|f| &f.ty);
        let tops = tops.chain([&p.output]).chain(p.item()).chain(p.in_item());
        for t in tops {
            collect(t, &mut seen, &mut out);
        }
    }
    out
}

fn collect<'a>(t: &'a Type, seen: &mut HashSet<&'a Type>, out: &mut Vec<&'a Type>) {
    if t.type_name().is_some() {
        if !seen.insert(t) {
            return; // its inner types are listed already
        }
        out.push(t);
    }
    match t {
        Type::Option(inner) | Type::NewtypeStruct { inner, .. } => collect(inner, seen, out),
        Type::Seq { item, .. } | Type::Array { item, .. } => collect(item, seen, out),
        Type::Map { key, value, .. } => {
            collect(key, seen, out);
            collect(value, seen, out);
        }
        Type::Tuple(items) | Type::TupleStruct { fields: items, .. } => {
            items.iter().for_each(|i| collect(i, seen, out));
        }
        Type::Struct { fields, .. } => fields.iter().for_each(|f| collect(&f.ty, seen, out)),
        Type::Enum { variants, .. } => {
            for v in variants {
                match &v.kind {
                    VariantKind::Unit => {}
                    VariantKind::Newtype(inner) => collect(inner, seen, out),
                    VariantKind::Tuple(items) => items.iter().for_each(|i| collect(i, seen, out)),
                    VariantKind::Struct(fields) => {
                        fields.iter().for_each(|f| collect(&f.ty, seen, out));
                    }
                }
            }
        }
        _ => {}
    }
}
