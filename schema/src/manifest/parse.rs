//! The manifest parser: bytes from a device (possibly hostile) to the owned model.
//!
//! Never panics, and its work and memory are linear in the input: every count is checked
//! against the bytes left before anything is allocated for it (each counted thing takes at
//! least one byte), and recursion stops at [`MAX_DEPTH`] levels.

use std::collections::HashSet;

use super::error::{ManifestError, ManifestErrorKind as Kind};
use crate::leb128::{self, VarintError};
use crate::model::{
    Field, Interface, Manifest, Mode, Procedure, Type, Variant, VariantKind, FORMAT,
    FORMAT_INTERFACES,
};
use crate::MAX_DEPTH;

type Result<T> = core::result::Result<T, ManifestError>;

/// The smallest a procedure can be: id, name length, mode, parameter count, output tag.
const MIN_PROCEDURE: usize = 5;
/// The smallest a named slot (parameter, field, variant) can be: name length, then a tag
/// or a kind byte.
const MIN_NAMED: usize = 2;
/// The smallest a type can be: its tag.
const MIN_TYPE: usize = 1;
/// The smallest an interface can be: name length, method count.
const MIN_INTERFACE: usize = 2;

pub(crate) fn parse(bytes: &[u8]) -> Result<Manifest> {
    let mut r = Reader {
        bytes,
        pos: 0,
        handles: Vec::new(),
    };
    let format = r.byte("the format byte")?;
    if format != FORMAT && format != FORMAT_INTERFACES {
        return Err(r.error_at(0, Kind::UnknownFormat(format)));
    }
    let service = r.str("the service name")?;
    let procedures = r.procedures(PROCEDURES)?;
    let mut interfaces = Vec::new();
    if format == FORMAT_INTERFACES {
        let at = r.pos;
        let count = r.count("interfaces", MIN_INTERFACE)?;
        if count == 0 {
            // Format 2 is the format of a service with interfaces; a writer of none writes
            // format 1, so these bytes could not be written back.
            return Err(r.error_at(at, Kind::NoInterfaces));
        }
        interfaces.reserve(count);
        let mut names = Names::new("interface name");
        for _ in 0..count {
            let at = r.pos;
            let name = r.str("an interface name")?;
            names.insert(&name, at)?;
            let methods = r.procedures(METHODS)?;
            interfaces.push(Interface { name, methods });
        }
    }
    if r.left() > 0 {
        return Err(r.error_at(r.pos, Kind::TrailingBytes(r.left())));
    }
    // Every handle names an interface declared here (or none: a handle of any interface).
    for (at, name) in &r.handles {
        if !name.is_empty() && !interfaces.iter().any(|i| i.name == *name) {
            let name = name.clone();
            return Err(r.error_at(*at, Kind::UnknownInterface(name)));
        }
    }
    Ok(Manifest {
        service,
        procedures,
        interfaces,
    })
}

/// What a list of procedures is, for error messages: the service's own or an interface's
/// methods.
struct ProcedureList {
    what: &'static str,
    duplicate_name: &'static str,
    duplicate_id: &'static str,
}

const PROCEDURES: ProcedureList = ProcedureList {
    what: "procedures",
    duplicate_name: "procedure name",
    duplicate_id: "procedure id",
};

const METHODS: ProcedureList = ProcedureList {
    what: "methods",
    duplicate_name: "method name",
    duplicate_id: "method id",
};

/// The manifest and how far it has been read.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Where each handle type is, and the interface it names, to check once the
    /// interfaces (after the procedures) are known.
    handles: Vec<(usize, String)>,
}

impl Reader<'_> {
    fn left(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    fn error_at(&self, offset: usize, kind: Kind) -> ManifestError {
        ManifestError { offset, kind }
    }

    fn byte(&mut self, expected: &'static str) -> Result<u8> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| self.error_at(self.pos, Kind::Truncated { expected }))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self, expected: &'static str) -> Result<u32> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        match leb128::read(rest, 32) {
            Ok((value, len)) => {
                self.pos += len;
                // `read` with 32 bits never returns more than u32::MAX.
                Ok(u32::try_from(value).unwrap_or(u32::MAX))
            }
            Err(VarintError::Truncated) => {
                Err(self.error_at(self.bytes.len(), Kind::Truncated { expected }))
            }
            Err(VarintError::TooLong) => {
                Err(self.error_at(self.pos, Kind::VarintTooLong { expected }))
            }
            Err(VarintError::Overflow) => {
                Err(self.error_at(self.pos, Kind::VarintOverflow { expected }))
            }
        }
    }

    /// A length-prefixed UTF-8 string.
    fn str(&mut self, expected: &'static str) -> Result<String> {
        let at = self.pos;
        let len = self.varint(expected)? as usize;
        let end = self.pos.saturating_add(len);
        let raw = self
            .bytes
            .get(self.pos..end)
            .ok_or_else(|| self.error_at(self.bytes.len(), Kind::Truncated { expected }))?;
        let text = core::str::from_utf8(raw)
            .map_err(|_| self.error_at(at, Kind::InvalidUtf8 { expected }))?;
        self.pos = end;
        Ok(text.to_owned())
    }

    /// A count of things taking at least `min_each` bytes, refused if they cannot fit.
    fn count(&mut self, what: &'static str, min_each: usize) -> Result<usize> {
        let at = self.pos;
        let count = self.varint(what)?;
        let needed = u64::from(count) * min_each as u64;
        if needed > self.left() as u64 {
            let left = self.left();
            return Err(self.error_at(at, Kind::CountTooLarge { what, count, left }));
        }
        Ok(count as usize)
    }

    /// A count, then that many procedures, no two with one name or id.
    fn procedures(&mut self, list: ProcedureList) -> Result<Vec<Procedure>> {
        let count = self.count(list.what, MIN_PROCEDURE)?;
        let mut procedures = Vec::with_capacity(count);
        let mut names = Names::new(list.duplicate_name);
        let mut ids = Names::new(list.duplicate_id);
        for _ in 0..count {
            let at = self.pos;
            let procedure = self.procedure()?;
            ids.insert(&procedure.id.to_string(), at)?;
            names.insert(&procedure.name, at)?;
            procedures.push(procedure);
        }
        Ok(procedures)
    }

    fn procedure(&mut self) -> Result<Procedure> {
        let id = self.varint("a procedure id")?;
        let name = self.str("a procedure name")?;
        let mode_at = self.pos;
        let mode = self.byte("a procedure mode")?;
        if mode > 3 {
            return Err(self.error_at(mode_at, Kind::UnknownMode(mode)));
        }
        let params = self.fields("parameters", Slot::Parameter, 1)?;
        let output = self.ty(1)?;
        let item = if mode >= 2 { Some(self.ty(1)?) } else { None };
        let in_item = if mode % 2 == 1 {
            Some(self.ty(1)?)
        } else {
            None
        };
        let mode = match (item, in_item) {
            (None, None) => Mode::Call,
            (None, Some(in_item)) => Mode::ClientStream { in_item },
            (Some(item), None) => Mode::ServerStream { item },
            (Some(item), Some(in_item)) => Mode::Bidi { item, in_item },
        };
        Ok(Procedure {
            id,
            name,
            params,
            output,
            mode,
        })
    }

    /// A count of `what`, then that many `name: str · type` at `depth`; `slot` says what a
    /// name is for ("parameter" or "field").
    fn fields(&mut self, what: &'static str, slot: Slot, depth: usize) -> Result<Vec<Field>> {
        let count = self.count(what, MIN_NAMED)?;
        let mut names = Names::new(slot.duplicate());
        let mut fields = Vec::with_capacity(count);
        for _ in 0..count {
            let at = self.pos;
            let field_name = self.str(slot.expected())?;
            names.insert(&field_name, at)?;
            fields.push(Field::new(field_name, self.ty(depth)?));
        }
        Ok(fields)
    }

    /// A count, then that many types, at `depth`.
    fn types(&mut self, what: &'static str, depth: usize) -> Result<Vec<Type>> {
        let count = self.count(what, MIN_TYPE)?;
        let mut types = Vec::with_capacity(count);
        for _ in 0..count {
            types.push(self.ty(depth)?);
        }
        Ok(types)
    }

    /// A type at nesting level `depth` (a parameter's type is at level 1).
    fn ty(&mut self, depth: usize) -> Result<Type> {
        if depth > MAX_DEPTH {
            return Err(self.error_at(self.pos, Kind::TooDeep));
        }
        let inner = depth + 1;
        let at = self.pos;
        let tag = self.byte("a type tag")?;
        Ok(match tag {
            0 => Type::Unit,
            1 => Type::Bool,
            2 => Type::U8,
            3 => Type::U16,
            4 => Type::U32,
            5 => Type::U64,
            6 => Type::U128,
            7 => Type::I8,
            8 => Type::I16,
            9 => Type::I32,
            10 => Type::I64,
            11 => Type::I128,
            12 => Type::F32,
            13 => Type::F64,
            14 => Type::Char,
            15 => Type::string(self.varint("a string's max bytes")?),
            16 => Type::option(self.ty(inner)?),
            17 => {
                let max = self.varint("a sequence's max items")?;
                Type::seq(max, self.ty(inner)?)
            }
            18 => {
                let max = self.varint("a map's max entries")?;
                let key = self.ty(inner)?;
                Type::map(max, key, self.ty(inner)?)
            }
            19 => Type::Tuple(self.types("tuple items", inner)?),
            20 => {
                let len = self.varint("an array's length")?;
                Type::array(len, self.ty(inner)?)
            }
            21 => {
                let name = self.str("a struct name")?;
                Type::structure(name, self.fields("struct fields", Slot::Field, inner)?)
            }
            22 => {
                let name = self.str("a tuple struct name")?;
                let fields = self.types("tuple struct fields", inner)?;
                Type::TupleStruct { name, fields }
            }
            23 => Type::UnitStruct {
                name: self.str("a unit struct name")?,
            },
            24 => {
                let name = self.str("a newtype struct name")?;
                Type::newtype(name, self.ty(inner)?)
            }
            25 => {
                let name = self.str("an enum name")?;
                Type::enumeration(name, self.variants(inner)?)
            }
            26 => {
                let name = self.str("a handle's interface name")?;
                self.handles.push((at, name.clone()));
                Type::Handle(name)
            }
            _ => return Err(self.error_at(at, Kind::UnknownTag(tag))),
        })
    }

    /// An enum's variants, whose bodies are at `depth`.
    fn variants(&mut self, depth: usize) -> Result<Vec<Variant>> {
        let count = self.count("enum variants", MIN_NAMED)?;
        let mut names = Names::new("variant name");
        let mut variants = Vec::with_capacity(count);
        for _ in 0..count {
            let at = self.pos;
            let name = self.str("a variant name")?;
            names.insert(&name, at)?;
            let kind_at = self.pos;
            let kind = match self.byte("a variant kind")? {
                0 => VariantKind::Unit,
                1 => VariantKind::Newtype(self.ty(depth)?),
                2 => VariantKind::Tuple(self.types("variant items", depth)?),
                3 => VariantKind::Struct(self.fields("variant fields", Slot::Field, depth)?),
                other => return Err(self.error_at(kind_at, Kind::UnknownVariantKind(other))),
            };
            variants.push(Variant::new(name, kind));
        }
        Ok(variants)
    }
}

/// What the names of a list of fields are for, for error messages.
#[derive(Clone, Copy)]
enum Slot {
    Parameter,
    Field,
}

impl Slot {
    fn expected(self) -> &'static str {
        match self {
            Slot::Parameter => "a parameter name",
            Slot::Field => "a field name",
        }
    }

    fn duplicate(self) -> &'static str {
        match self {
            Slot::Parameter => "parameter name",
            Slot::Field => "field name",
        }
    }
}

/// The names seen so far in one list, to refuse a second use of one.
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

    fn insert(&mut self, name: &str, offset: usize) -> Result<()> {
        if self.seen.insert(name.to_owned()) {
            return Ok(());
        }
        Err(ManifestError {
            offset,
            kind: Kind::Duplicate {
                what: self.what,
                name: name.to_owned(),
            },
        })
    }
}
