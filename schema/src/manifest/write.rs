//! The manifest writer: the owned model back to the bytes a device sends.
//!
//! It writes what the model says, without validating it: a model the parser would refuse
//! (nesting deeper than [`MAX_DEPTH`](crate::MAX_DEPTH), two fields with one name) is
//! written as it is, which is what tests of the parser's refusals need.

use crate::leb128;
use crate::model::{Field, Manifest, Mode, Procedure, Type, VariantKind};

pub(crate) fn write(manifest: &Manifest) -> Vec<u8> {
    let mut out = vec![manifest.format()];
    str(&manifest.service, &mut out);
    procedures(&manifest.procedures, &mut out);
    // Format 2 exactly when there are interfaces (`Manifest::format`).
    if !manifest.interfaces.is_empty() {
        count(manifest.interfaces.len(), &mut out);
        for interface in &manifest.interfaces {
            str(&interface.name, &mut out);
            procedures(&interface.methods, &mut out);
        }
    }
    out
}

fn procedures(procedures: &[Procedure], out: &mut Vec<u8>) {
    count(procedures.len(), out);
    for procedure in procedures {
        write_procedure(procedure, out);
    }
}

fn write_procedure(p: &Procedure, out: &mut Vec<u8>) {
    varint(p.id, out);
    str(&p.name, out);
    out.push(p.mode.byte());
    fields(&p.params, out);
    ty(&p.output, out);
    match &p.mode {
        Mode::Call => {}
        Mode::ClientStream { in_item } => ty(in_item, out),
        Mode::ServerStream { item } => ty(item, out),
        Mode::Bidi { item, in_item } => {
            ty(item, out);
            ty(in_item, out);
        }
    }
}

fn ty(t: &Type, out: &mut Vec<u8>) {
    out.push(t.tag());
    match t {
        Type::String { max } => varint(*max, out),
        Type::Option(inner) => ty(inner, out),
        Type::Seq { max, item } => {
            varint(*max, out);
            ty(item, out);
        }
        Type::Map { max, key, value } => {
            varint(*max, out);
            ty(key, out);
            ty(value, out);
        }
        Type::Tuple(items) => types(items, out),
        Type::Array { len, item } => {
            varint(*len, out);
            ty(item, out);
        }
        Type::Struct { name, fields: f } => {
            str(name, out);
            fields(f, out);
        }
        Type::TupleStruct { name, fields } => {
            str(name, out);
            types(fields, out);
        }
        Type::UnitStruct { name } => str(name, out),
        Type::NewtypeStruct { name, inner } => {
            str(name, out);
            ty(inner, out);
        }
        Type::Enum { name, variants } => {
            str(name, out);
            count(variants.len(), out);
            for v in variants {
                str(&v.name, out);
                match &v.kind {
                    VariantKind::Unit => out.push(0),
                    VariantKind::Newtype(inner) => {
                        out.push(1);
                        ty(inner, out);
                    }
                    VariantKind::Tuple(items) => {
                        out.push(2);
                        types(items, out);
                    }
                    VariantKind::Struct(f) => {
                        out.push(3);
                        fields(f, out);
                    }
                }
            }
        }
        Type::Handle(interface) => str(interface, out),
        // The primitives are their tag alone.
        _ => {}
    }
}

fn fields(fields: &[Field], out: &mut Vec<u8>) {
    count(fields.len(), out);
    for f in fields {
        str(&f.name, out);
        ty(&f.ty, out);
    }
}

fn types(types: &[Type], out: &mut Vec<u8>) {
    count(types.len(), out);
    for t in types {
        ty(t, out);
    }
}

fn str(s: &str, out: &mut Vec<u8>) {
    count(s.len(), out);
    out.extend_from_slice(s.as_bytes());
}

/// A length or count. The format has room for `u32` only; a longer list saturates (and then
/// no longer parses), which only a model of more than 4 GiB could reach.
fn count(n: usize, out: &mut Vec<u8>) {
    varint(u32::try_from(n).unwrap_or(u32::MAX), out);
}

fn varint(v: u32, out: &mut Vec<u8>) {
    leb128::write(u128::from(v), out);
}
