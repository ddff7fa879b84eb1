//! The manifest: a service's self-description, as bytes built at compile time.
//!
//! [`service!`](crate::service) describes every procedure (number, name, stream mode, the
//! names and [`Type`]s of its parameters, its result and its items) as a
//! [`ServiceSchema`], and writes it with [`manifest`] into a `static` byte array: the
//! firmware carries the bytes in flash, never the description trees. A peer fetches the
//! bytes in pieces with `Manifest` frames (docs/PROTOCOL.md, "Schema discovery"), and the
//! schema hash in the handshake is the [`manifest_hash`] of these bytes, so a host knows
//! from the `Hello` alone whether a copy it cached is current.
//!
//! The byte format (varints are LEB128, `str` is a length varint and UTF-8):
//!
//! ```text
//! manifest  = format u8 (1, or 2 with interfaces) · service: str · count: varint · procedure{count}
//!             · [if format 2: ninterfaces: varint · interface{ninterfaces}]
//! procedure = id: varint · name: str · mode: u8 · nparams: varint · (name: str · type){nparams}
//!             · output: type · [item: type if mode is 2 or 3] · [in_item: type if mode is 1 or 3]
//! interface = name: str · count: varint · procedure{count}   (its methods, numbered apart)
//! type      = tag u8 · body   (see `Type`; the tags are listed in docs/PROTOCOL.md)
//! ```
//!
//! A service without interfaces keeps format 1, so its manifest and its hash are the same
//! as before handles existed.
//!
//! Everything here is `const fn`: it runs in the compiler, not on the device (so an index
//! out of bounds here is a compile error, never a panic at run time).
#![allow(clippy::indexing_slicing)]

use crate::schema::{Field, Type, Variant, VariantShape};
use crate::stream::StreamMode;

/// The first byte of a manifest: the version of this format (that of a service without
/// interfaces; one with interfaces is [`MANIFEST_FORMAT_INTERFACES`]).
pub const MANIFEST_FORMAT: u8 = 1;

/// The first byte of the manifest of a service that declares interfaces (handle types).
pub const MANIFEST_FORMAT_INTERFACES: u8 = 2;

/// One procedure, described for the manifest.
#[derive(Clone, Copy, Debug)]
pub struct ProcedureSchema {
    /// The procedure number on the wire.
    pub id: u32,
    /// Its name.
    pub name: &'static str,
    /// Which way items flow.
    pub mode: StreamMode,
    /// The parameters, in order.
    pub params: &'static [Field],
    /// The reply's type (`()` for server and bidirectional streams).
    pub output: &'static Type,
    /// The server's items (`()` unless it sends items).
    pub item: &'static Type,
    /// The caller's items (`()` unless it sends items).
    pub in_item: &'static Type,
}

/// A service, described for the manifest.
#[derive(Clone, Copy, Debug)]
pub struct ServiceSchema {
    /// The service's name.
    pub name: &'static str,
    /// Its procedures.
    pub procedures: &'static [ProcedureSchema],
    /// Its interfaces: the types of the objects its handles name.
    pub interfaces: &'static [InterfaceSchema],
}

/// An interface of a service: the methods callable on a handle of it (numbered apart from
/// the service's procedures), described for the manifest.
#[derive(Clone, Copy, Debug)]
pub struct InterfaceSchema {
    /// The interface's name (its handles' type is `handle` and this name).
    pub name: &'static str,
    /// Its methods.
    pub methods: &'static [ProcedureSchema],
}

/// The length of `service`'s manifest, for the array [`manifest`] fills.
pub const fn manifest_len(service: &ServiceSchema) -> usize {
    let mut w = Writer {
        out: &mut [],
        at: 0,
    };
    w.service(service);
    w.at
}

/// `service`'s manifest; `N` must be [`manifest_len`] (checked when the constant is built).
pub const fn manifest<const N: usize>(service: &ServiceSchema) -> [u8; N] {
    let mut out = [0u8; N];
    let mut w = Writer {
        out: &mut out,
        at: 0,
    };
    w.service(service);
    assert!(w.at == N, "the manifest's length is manifest_len");
    out
}

/// The schema hash of a manifest, as the handshake carries it: CRC-32C of the bytes, never
/// 0 (0 in a `Hello` means "no schema").
pub const fn manifest_hash(manifest: &[u8]) -> u32 {
    match crate::framing::crc32c_const(manifest) {
        0 => 1,
        h => h,
    }
}

/// Checks, at compile time, that no two procedures of `service` share a number or a name
/// (a host could not tell them apart, and dispatch would run the first for both); the
/// `service!` macro calls it in a constant, so a clash is a compile error.
pub const fn check_unique(service: &ServiceSchema) {
    let p = service.procedures;
    let mut i = 0;
    while i < p.len() {
        let mut j = i + 1;
        while j < p.len() {
            assert!(
                p[i].id != p[j].id,
                "two procedures of the service have the same number"
            );
            assert!(
                !same(p[i].name, p[j].name),
                "two procedures of the service have the same name"
            );
            j += 1;
        }
        i += 1;
    }
}

pub(crate) const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Counts every byte, and writes those that fit (none, when measuring).
struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    const fn byte(&mut self, b: u8) {
        if self.at < self.out.len() {
            self.out[self.at] = b;
        }
        self.at += 1;
    }

    const fn varint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.byte((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }

    const fn count(&mut self, n: usize) {
        assert!(n <= u32::MAX as usize, "a count fits a u32");
        self.varint(n as u32);
    }

    /// A name: a raw identifier (`r#type`) is written as serde writes it, without `r#`
    /// (no identifier otherwise contains `#`).
    const fn str(&mut self, s: &str) {
        let mut b = s.as_bytes();
        if let [b'r', b'#', rest @ ..] = b {
            b = rest;
        }
        self.count(b.len());
        let mut i = 0;
        while i < b.len() {
            self.byte(b[i]);
            i += 1;
        }
    }

    const fn service(&mut self, s: &ServiceSchema) {
        let with_interfaces = !s.interfaces.is_empty();
        self.byte(if with_interfaces {
            MANIFEST_FORMAT_INTERFACES
        } else {
            MANIFEST_FORMAT
        });
        self.str(s.name);
        self.procedures(s.procedures);
        if with_interfaces {
            self.count(s.interfaces.len());
            let mut i = 0;
            while i < s.interfaces.len() {
                self.str(s.interfaces[i].name);
                self.procedures(s.interfaces[i].methods);
                i += 1;
            }
        }
    }

    const fn procedures(&mut self, procedures: &[ProcedureSchema]) {
        self.count(procedures.len());
        let mut i = 0;
        while i < procedures.len() {
            self.procedure(&procedures[i]);
            i += 1;
        }
    }

    const fn procedure(&mut self, p: &ProcedureSchema) {
        self.varint(p.id);
        self.str(p.name);
        self.byte(p.mode.to_wire());
        self.fields(p.params);
        self.ty(p.output);
        if p.mode.server_sends() {
            self.ty(p.item);
        }
        if p.mode.caller_sends() {
            self.ty(p.in_item);
        }
    }

    const fn fields(&mut self, fields: &[Field]) {
        self.count(fields.len());
        let mut i = 0;
        while i < fields.len() {
            self.str(fields[i].name);
            self.ty(fields[i].ty);
            i += 1;
        }
    }

    const fn types(&mut self, types: &[&Type]) {
        self.count(types.len());
        let mut i = 0;
        while i < types.len() {
            self.ty(types[i]);
            i += 1;
        }
    }

    const fn variants(&mut self, variants: &[Variant]) {
        self.count(variants.len());
        let mut i = 0;
        while i < variants.len() {
            self.str(variants[i].name);
            match variants[i].shape {
                VariantShape::Unit => self.byte(0),
                VariantShape::Newtype(t) => {
                    self.byte(1);
                    self.ty(t);
                }
                VariantShape::Tuple(ts) => {
                    self.byte(2);
                    self.types(ts);
                }
                VariantShape::Struct(fs) => {
                    self.byte(3);
                    self.fields(fs);
                }
            }
            i += 1;
        }
    }

    const fn ty(&mut self, t: &Type) {
        match *t {
            Type::Unit => self.byte(0),
            Type::Bool => self.byte(1),
            Type::U8 => self.byte(2),
            Type::U16 => self.byte(3),
            Type::U32 => self.byte(4),
            Type::U64 => self.byte(5),
            Type::U128 => self.byte(6),
            Type::I8 => self.byte(7),
            Type::I16 => self.byte(8),
            Type::I32 => self.byte(9),
            Type::I64 => self.byte(10),
            Type::I128 => self.byte(11),
            Type::F32 => self.byte(12),
            Type::F64 => self.byte(13),
            Type::Char => self.byte(14),
            Type::String { max } => {
                self.byte(15);
                self.varint(max);
            }
            Type::Option(inner) => {
                self.byte(16);
                self.ty(inner);
            }
            Type::Seq { max, item } => {
                self.byte(17);
                self.varint(max);
                self.ty(item);
            }
            Type::Map { max, key, value } => {
                self.byte(18);
                self.varint(max);
                self.ty(key);
                self.ty(value);
            }
            Type::Tuple(ts) => {
                self.byte(19);
                self.types(ts);
            }
            Type::Array { len, item } => {
                self.byte(20);
                self.varint(len);
                self.ty(item);
            }
            Type::Struct { name, fields } => {
                self.byte(21);
                self.str(name);
                self.fields(fields);
            }
            Type::TupleStruct { name, fields } => {
                self.byte(22);
                self.str(name);
                self.types(fields);
            }
            Type::UnitStruct { name } => {
                self.byte(23);
                self.str(name);
            }
            Type::Newtype { name, inner } => {
                self.byte(24);
                self.str(name);
                self.ty(inner);
            }
            Type::Enum { name, variants } => {
                self.byte(25);
                self.str(name);
                self.variants(variants);
            }
            Type::Handle(interface) => {
                self.byte(26);
                self.str(interface);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;

    const ADD: ProcedureSchema = ProcedureSchema {
        id: 0,
        name: "add",
        mode: StreamMode::Call,
        params: &[
            Field {
                name: "a",
                ty: <i32 as Schema>::TYPE,
            },
            Field {
                name: "b",
                ty: <i32 as Schema>::TYPE,
            },
        ],
        output: <i32 as Schema>::TYPE,
        item: <() as Schema>::TYPE,
        in_item: <() as Schema>::TYPE,
    };
    const UPTO: ProcedureSchema = ProcedureSchema {
        id: 130,
        name: "upto",
        mode: StreamMode::ServerStream,
        params: &[],
        output: <() as Schema>::TYPE,
        item: <heapless::Vec<u8, 200> as Schema>::TYPE,
        in_item: <() as Schema>::TYPE,
    };
    const CALC: ServiceSchema = ServiceSchema {
        name: "calc",
        procedures: &[ADD, UPTO],
        interfaces: &[],
    };
    const LEN: usize = manifest_len(&CALC);
    const BYTES: [u8; LEN] = manifest::<LEN>(&CALC);

    #[test]
    fn a_manifest_is_the_bytes_the_format_says() {
        let want: &[u8] = &[
            1, 4, b'c', b'a', b'l', b'c', 2, // format, "calc", 2 procedures
            0, 3, b'a', b'd', b'd', 0, 2, 1, b'a', 9, 1, b'b', 9,
            9, // add(a: i32, b: i32) -> i32
            0x82, 1, 4, b'u', b'p', b't', b'o', 2, 0, 0, 17, 0xc8, 1,
            2, // upto() -> stream Vec<u8, 200>
        ];
        assert_eq!(&BYTES[..], want);
        assert_ne!(manifest_hash(&BYTES), 0);
        assert_eq!(manifest_hash(&BYTES), manifest_hash(want));
    }

    #[test]
    fn procedures_must_differ_in_number_and_name() {
        extern crate std;
        use std::boxed::Box;
        check_unique(&CALC);
        let twice = |a: ProcedureSchema, b: ProcedureSchema| {
            std::panic::catch_unwind(move || {
                check_unique(&ServiceSchema {
                    name: "x",
                    procedures: Box::leak(Box::new([a, b])),
                    interfaces: &[],
                })
            })
            .is_err()
        };
        assert!(
            twice(
                ADD,
                ProcedureSchema {
                    name: "other",
                    ..ADD
                }
            ),
            "same number"
        );
        assert!(twice(ADD, ProcedureSchema { id: 9, ..ADD }), "same name");
        assert!(!twice(ADD, UPTO));
    }
}
