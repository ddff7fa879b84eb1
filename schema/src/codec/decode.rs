//! Payload bytes to JSON, for bytes a device sent (possibly hostile).
//!
//! Never panics, and bounded by the input: a count is checked against the bytes left
//! before anything is allocated for it (items that take bytes cannot outnumber them), and
//! items that take no bytes at all (units, empty structs) are limited to
//! [`MAX_EMPTY_VALUES`](crate::MAX_EMPTY_VALUES) per payload, since only they could make a
//! few bytes expand without limit. Bounds declared in the manifest are enforced here too,
//! so anything decoded encodes again.

use serde_json::{Map, Value};

use super::encode::expected;
use super::error::{CodecError, Path};
use super::keys;
use super::text::{self, Int};
use crate::leb128::{self, VarintError};
use crate::model::{Field, Type, VariantKind};
use crate::{MAX_DEPTH, MAX_EMPTY_VALUES};

type Result<T = Value> = core::result::Result<T, CodecError>;

/// Reads values from the front of `bytes`, keeping the path for errors.
pub(crate) struct Decoder<'a> {
    bytes: &'a [u8],
    pos: usize,
    pub(crate) path: Path,
    depth: usize,
    empty_left: usize,
}

impl<'a> Decoder<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Decoder {
            bytes,
            pos: 0,
            path: Path::default(),
            depth: 0,
            empty_left: MAX_EMPTY_VALUES,
        }
    }

    fn left(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    fn fail(&self, message: impl Into<String>, got: Option<String>) -> CodecError {
        CodecError::new(&self.path, message, got)
    }

    /// `expected <ty>, got <what> at byte <offset>`.
    fn found(&self, ty: &Type, what: impl core::fmt::Display, offset: usize) -> CodecError {
        self.fail(
            format!("expected {}", expected(ty)),
            Some(format!("{what} at byte {offset}")),
        )
    }

    /// Requires that every byte was used.
    pub(crate) fn finish(&self) -> Result<()> {
        if self.left() > 0 {
            let n = self.left();
            let bytes = if n == 1 { "byte" } else { "bytes" };
            let message = format!(
                "{n} {bytes} left over after the value, from byte {}",
                self.pos
            );
            return Err(self.fail(message, None));
        }
        Ok(())
    }

    /// Decodes a `ty`.
    pub(crate) fn value(&mut self, ty: &Type) -> Result {
        if self.depth >= MAX_DEPTH {
            return Err(self.fail(format!("type nested deeper than {MAX_DEPTH} levels"), None));
        }
        let start = self.pos;
        self.depth += 1;
        let value = self.value_in(ty);
        self.depth -= 1;
        if self.pos == start {
            // A value that took no bytes: bounded separately, since the input cannot bound it.
            self.empty_left = self.empty_left.checked_sub(1).ok_or_else(|| {
                let message = format!("more than {MAX_EMPTY_VALUES} values that take no bytes");
                self.fail(message, None)
            })?;
        }
        value
    }

    fn value_in(&mut self, ty: &Type) -> Result {
        Ok(match ty {
            Type::Unit | Type::UnitStruct { .. } => Value::Null,
            Type::Bool => match self.byte(ty)? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                other => return Err(self.found(ty, format!("byte {other:#04x}"), self.pos - 1)),
            },
            Type::U8 => Value::from(self.byte(ty)?),
            Type::I8 => Value::from(self.byte(ty)? as i8),
            Type::U16 => self.unsigned(ty, 16)?,
            Type::U32 => self.unsigned(ty, 32)?,
            Type::U64 => self.unsigned(ty, 64)?,
            Type::U128 => self.unsigned(ty, 128)?,
            Type::I16 => self.signed(ty, 16)?,
            Type::I32 => self.signed(ty, 32)?,
            Type::I64 => self.signed(ty, 64)?,
            Type::I128 => self.signed(ty, 128)?,
            Type::F32 => text::f32_to_json(f32::from_le_bytes(self.array(ty)?)),
            Type::F64 => text::f64_to_json(f64::from_le_bytes(self.array(ty)?)),
            Type::Char => {
                let at = self.pos;
                let s = self.str(ty, 0)?;
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => Value::from(c.to_string()),
                    _ => return Err(self.found(ty, format!("the string {s:?}"), at)),
                }
            }
            Type::String { max } => Value::from(self.str(ty, *max)?),
            Type::Option(inner) => match self.byte(ty)? {
                0 => Value::Null,
                1 => self.value(inner)?,
                other => return Err(self.found(ty, format!("tag {other:#04x}"), self.pos - 1)),
            },
            Type::Seq { max, item } => {
                let n = self.count(ty, *max, "items", item.is_zero_size())?;
                if **item == Type::U8 {
                    text::bytes_to_json(self.take(ty, n)?)
                } else {
                    Value::Array(self.items(item, n)?)
                }
            }
            Type::Array { len, item } => {
                let n = *len as usize;
                if **item == Type::U8 {
                    text::bytes_to_json(self.take(ty, n)?)
                } else {
                    self.fits(ty, n, "items", item.is_zero_size())?;
                    Value::Array(self.items(item, n)?)
                }
            }
            Type::Map { max, key, value } => {
                let empty = key.is_zero_size() && value.is_zero_size();
                let n = self.count(ty, *max, "entries", empty)?;
                let mut entries = Vec::with_capacity(n.min(self.left()));
                for i in 0..n {
                    let mark = self.path.index(i);
                    let k = self.value(key)?;
                    let v = self.value(value)?;
                    self.path.leave(mark);
                    entries.push((k, v));
                }
                keys::entries_to_json(entries, key)
            }
            Type::Tuple(types) | Type::TupleStruct { fields: types, .. } => self.tuple(types)?,
            Type::Struct { fields, .. } => self.fields(fields)?,
            Type::Handle(interface) => {
                let slot = self.varint(ty, 32)?;
                let generation = self.varint(ty, 32)?;
                Value::Object(Map::from_iter([
                    ("handle".to_owned(), Value::from(interface.clone())),
                    (
                        "slot".to_owned(),
                        text::int_to_json(Int::from_unsigned(slot)),
                    ),
                    (
                        "generation".to_owned(),
                        text::int_to_json(Int::from_unsigned(generation)),
                    ),
                ]))
            }
            Type::NewtypeStruct { inner, .. } => self.value(inner)?,
            Type::Enum { variants, .. } => {
                let at = self.pos;
                let index = self.varint(ty, 32)? as usize;
                let Some(variant) = variants.get(index) else {
                    return Err(self.found(ty, format!("variant index {index}"), at));
                };
                let mark = self.path.field(&variant.name);
                let body = match &variant.kind {
                    VariantKind::Unit => None,
                    VariantKind::Newtype(inner) => Some(self.value(inner)?),
                    VariantKind::Tuple(types) => Some(self.tuple(types)?),
                    VariantKind::Struct(fields) => Some(self.fields(fields)?),
                };
                self.path.leave(mark);
                match body {
                    None => Value::from(variant.name.clone()),
                    Some(body) => Value::Object(Map::from_iter([(variant.name.clone(), body)])),
                }
            }
        })
    }

    fn tuple(&mut self, types: &[Type]) -> Result {
        let mut items = Vec::with_capacity(types.len());
        for (i, t) in types.iter().enumerate() {
            let mark = self.path.index(i);
            items.push(self.value(t)?);
            self.path.leave(mark);
        }
        Ok(Value::Array(items))
    }

    /// `n` items, after [`Decoder::count`] or [`Decoder::fits`] made sure they can be there.
    fn items(&mut self, item: &Type, n: usize) -> Result<Vec<Value>> {
        // Items that take no bytes are not preallocated: their count is not checked.
        let mut items = Vec::with_capacity(n.min(self.left()));
        for i in 0..n {
            let mark = self.path.index(i);
            items.push(self.value(item)?);
            self.path.leave(mark);
        }
        Ok(items)
    }

    fn fields(&mut self, fields: &[Field]) -> Result {
        let mut object = Map::new();
        for field in fields {
            let mark = self.path.field(&field.name);
            let value = self.value(&field.ty)?;
            self.path.leave(mark);
            object.insert(field.name.clone(), value);
        }
        Ok(Value::Object(object))
    }

    /// A count of items (a `usize` varint, as postcard writes lengths), within the
    /// manifest's bound `max` and the bytes left.
    fn count(&mut self, ty: &Type, max: u32, what: &str, empty_items: bool) -> Result<usize> {
        let n = self.varint(ty, 64)?;
        if max != 0 && n > u128::from(max) {
            return Err(self.fail(format!("at most {max} {what}"), Some(n.to_string())));
        }
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        self.fits(ty, n, what, empty_items)?;
        Ok(n)
    }

    /// Refuses `n` items (or bytes) that each take a byte or more when fewer bytes are left.
    fn fits(&self, ty: &Type, n: usize, what: &str, empty_items: bool) -> Result<()> {
        if !empty_items && n > self.left() {
            let found = format!("{n} {what} with {} bytes left", self.left());
            return Err(self.found(ty, found, self.pos));
        }
        Ok(())
    }

    fn unsigned(&mut self, ty: &Type, bits: u32) -> Result {
        let v = self.varint(ty, bits)?;
        Ok(text::int_to_json(Int::from_unsigned(v)))
    }

    fn signed(&mut self, ty: &Type, bits: u32) -> Result {
        let v = self.varint(ty, bits)?;
        Ok(text::int_to_json(Int::from_signed(leb128::unzigzag(v))))
    }

    fn varint(&mut self, ty: &Type, bits: u32) -> Result<u128> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        match leb128::read(rest, bits) {
            Ok((value, len)) => {
                self.pos += len;
                Ok(value)
            }
            Err(VarintError::Truncated) => {
                Err(self.found(ty, "the end of the payload", self.bytes.len()))
            }
            Err(VarintError::TooLong) => {
                Err(self.found(ty, format!("a varint too long for {bits} bits"), self.pos))
            }
            Err(VarintError::Overflow) => {
                Err(self.found(ty, format!("a varint above {bits} bits"), self.pos))
            }
        }
    }

    /// A length-prefixed UTF-8 string of at most `max` bytes (0: no bound).
    fn str(&mut self, ty: &Type, max: u32) -> Result<String> {
        let n = self.count(ty, max, "bytes", false)?;
        let at = self.pos;
        let raw = self.take(ty, n)?;
        match core::str::from_utf8(raw) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(self.found(ty, "bytes that are not UTF-8", at)),
        }
    }

    fn array<const N: usize>(&mut self, ty: &Type) -> Result<[u8; N]> {
        let bytes = self.take(ty, N)?;
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn byte(&mut self, ty: &Type) -> Result<u8> {
        let [b] = self.array(ty)?;
        Ok(b)
    }

    fn take(&mut self, ty: &Type, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.saturating_add(n);
        let Some(bytes) = self.bytes.get(self.pos..end) else {
            return Err(self.found(ty, "the end of the payload", self.bytes.len()));
        };
        self.pos = end;
        Ok(bytes)
    }
}
