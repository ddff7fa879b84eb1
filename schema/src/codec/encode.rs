//! JSON to payload bytes, walking the type (never the JSON), so the work is bounded by
//! the type's depth and the JSON's size.

use serde_json::{Map, Value};

use super::error::{got_json, CodecError, Path};
use super::keys;
use super::text::{self, Int, IntError};
use crate::leb128;
use crate::model::{Field, Type, Variant, VariantKind};
use crate::notation::{Body, Fields, Variants};
use crate::MAX_DEPTH;

type Result<T = ()> = core::result::Result<T, CodecError>;

/// Appends values to `out`, keeping the path for errors.
#[derive(Default)]
pub(crate) struct Encoder {
    pub(crate) out: Vec<u8>,
    pub(crate) path: Path,
    depth: usize,
}

impl Encoder {
    /// An error at the current path.
    pub(crate) fn fail(&self, message: impl Into<String>, got: Option<&Value>) -> CodecError {
        CodecError::new(&self.path, message, got.map(got_json))
    }

    /// An error at the current path about a count: `<message>, got <count>`.
    pub(crate) fn fail_count(&self, message: String, count: usize) -> CodecError {
        CodecError::new(&self.path, message, Some(count.to_string()))
    }

    /// `expected <ty>, got <value>`.
    fn mismatch(&self, ty: &Type, got: &Value) -> CodecError {
        self.fail(format!("expected {}", expected(ty)), Some(got))
    }

    /// Encodes `value` as a `ty`.
    pub(crate) fn value(&mut self, ty: &Type, value: &Value) -> Result {
        if self.depth >= MAX_DEPTH {
            return Err(self.fail(format!("type nested deeper than {MAX_DEPTH} levels"), None));
        }
        self.depth += 1;
        let result = self.value_in(ty, value);
        self.depth -= 1;
        result
    }

    fn value_in(&mut self, ty: &Type, value: &Value) -> Result {
        match ty {
            Type::Unit | Type::UnitStruct { .. } => match value {
                Value::Null => Ok(()),
                other => Err(self.mismatch(ty, other)),
            },
            Type::Bool => match value {
                Value::Bool(b) => {
                    self.out.push(u8::from(*b));
                    Ok(())
                }
                other => Err(self.mismatch(ty, other)),
            },
            Type::U8 => self.unsigned(ty, value, 8).map(|v| self.out.push(v as u8)),
            Type::I8 => self
                .signed(ty, value, 8)
                .map(|v| self.out.push(v as i8 as u8)),
            Type::U16 => self.varint(ty, value, 16),
            Type::U32 => self.varint(ty, value, 32),
            Type::U64 => self.varint(ty, value, 64),
            Type::U128 => self.varint(ty, value, 128),
            Type::I16 => self.zigzag(ty, value, 16),
            Type::I32 => self.zigzag(ty, value, 32),
            Type::I64 => self.zigzag(ty, value, 64),
            Type::I128 => self.zigzag(ty, value, 128),
            Type::F32 => self.float(ty, value, true),
            Type::F64 => self.float(ty, value, false),
            Type::Char => match value {
                Value::String(s) if s.chars().count() == 1 => {
                    self.bytes(s.as_bytes());
                    Ok(())
                }
                other => Err(self.mismatch(ty, other)),
            },
            Type::String { max } => match value {
                Value::String(s) => {
                    self.bound(*max, s.len(), "bytes")?;
                    self.bytes(s.as_bytes());
                    Ok(())
                }
                other => Err(self.mismatch(ty, other)),
            },
            Type::Option(inner) => match value {
                Value::Null => {
                    self.out.push(0);
                    Ok(())
                }
                some => {
                    self.out.push(1);
                    self.value(inner, some)
                }
            },
            Type::Seq { max, item } => match value {
                Value::String(s) if **item == Type::U8 => {
                    let bytes = self.text_bytes(s)?;
                    self.bound(*max, bytes.len(), "items")?;
                    self.bytes(&bytes);
                    Ok(())
                }
                Value::Array(items) => {
                    self.bound(*max, items.len(), "items")?;
                    self.count(items.len());
                    self.items(item, items)
                }
                other => Err(self.mismatch(ty, other)),
            },
            Type::Array { len, item } => match value {
                Value::String(s) if **item == Type::U8 => {
                    let bytes = self.text_bytes(s)?;
                    self.exact_len(*len as usize, bytes.len(), "bytes")?;
                    self.out.extend_from_slice(&bytes);
                    Ok(())
                }
                Value::Array(items) => {
                    self.exact_len(*len as usize, items.len(), "items")?;
                    self.items(item, items)
                }
                other => Err(self.mismatch(ty, other)),
            },
            Type::Tuple(types) | Type::TupleStruct { fields: types, .. } => {
                self.tuple(types, value, || expected(ty))
            }
            Type::Map {
                max,
                key,
                value: val,
            } => self.map(ty, *max, key, val, value),
            Type::Struct { fields, .. } => match value {
                Value::Object(object) => self.fields(fields, object),
                other => Err(self.mismatch(ty, other)),
            },
            Type::NewtypeStruct { inner, .. } => self.value(inner, value),
            Type::Enum { variants, .. } => self.variant(ty, variants, value),
            // A handle names an object in the device's table: only the device makes one.
            Type::Handle(_) => Err(self.fail(
                format!("{ty} cannot be given in JSON (a handle only comes from the device)"),
                None,
            )),
        }
    }

    /// Items of one type, each at its index.
    fn items(&mut self, item: &Type, items: &[Value]) -> Result {
        for (i, v) in items.iter().enumerate() {
            let mark = self.path.index(i);
            self.value(item, v)?;
            self.path.leave(mark);
        }
        Ok(())
    }

    /// A JSON array of exactly one value of each of `types`; `expected` says what a value
    /// of another shape should have been.
    fn tuple(
        &mut self,
        types: &[Type],
        value: &Value,
        expected: impl FnOnce() -> String,
    ) -> Result {
        let Value::Array(items) = value else {
            return Err(self.fail(format!("expected {}", expected()), Some(value)));
        };
        self.exact_len(types.len(), items.len(), "items")?;
        for (i, (t, v)) in types.iter().zip(items).enumerate() {
            let mark = self.path.index(i);
            self.value(t, v)?;
            self.path.leave(mark);
        }
        Ok(())
    }

    /// Exactly the named fields, from a JSON object: an unknown key is an error, never
    /// ignored, and so is a missing field.
    pub(crate) fn fields(&mut self, fields: &[Field], object: &Map<String, Value>) -> Result {
        if let Some(unknown) = object
            .keys()
            .find(|k| !fields.iter().any(|f| &f.name == *k))
        {
            let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
            let message = format!("unknown field {unknown} (expected {})", names.join(", "));
            return Err(self.fail(message, None));
        }
        for field in fields {
            let Some(v) = object.get(&field.name) else {
                return Err(self.fail(format!("missing field {}", field.name), None));
            };
            let mark = self.path.field(&field.name);
            self.value(&field.ty, v)?;
            self.path.leave(mark);
        }
        Ok(())
    }

    fn map(&mut self, ty: &Type, max: u32, key: &Type, val: &Type, value: &Value) -> Result {
        match value {
            Value::Object(object) => {
                self.bound(max, object.len(), "entries")?;
                self.count(object.len());
                for (k, v) in keys::object_entries(object, key) {
                    let mark = self.path.key(k);
                    self.value(key, &keys::key_value(k, key))?;
                    self.value(val, v)?;
                    self.path.leave(mark);
                }
                Ok(())
            }
            Value::Array(pairs) => {
                self.bound(max, pairs.len(), "entries")?;
                self.count(pairs.len());
                for (i, pair) in pairs.iter().enumerate() {
                    let mark = self.path.index(i);
                    match pair.as_array().map(Vec::as_slice) {
                        Some([k, v]) => {
                            self.value(key, k)?;
                            self.value(val, v)?;
                        }
                        _ => return Err(self.fail("expected a [key, value] pair", Some(pair))),
                    }
                    self.path.leave(mark);
                }
                Ok(())
            }
            other => Err(self.mismatch(ty, other)),
        }
    }

    /// A unit variant as its name, any variant as `{"Name": body}`.
    fn variant(&mut self, ty: &Type, variants: &[Variant], value: &Value) -> Result {
        let (name, body) = match value {
            Value::String(name) => (name, None),
            Value::Object(object) if object.len() == 1 => match object.iter().next() {
                Some((name, body)) => (name, Some(body)),
                None => return Err(self.mismatch(ty, value)),
            },
            other => return Err(self.mismatch(ty, other)),
        };
        let Some((index, variant)) = variants.iter().enumerate().find(|(_, v)| &v.name == name)
        else {
            return Err(self.mismatch(ty, value));
        };
        if body.is_none() && variant.kind != VariantKind::Unit {
            let message = format!("expected {{\"{name}\": {}}}", body_notation(&variant.kind));
            return Err(self.fail(message, Some(value)));
        }
        self.count(index);
        let mark = self.path.field(name);
        match (&variant.kind, body) {
            (VariantKind::Unit, None | Some(Value::Null)) => {}
            (VariantKind::Unit, Some(other)) => return Err(self.fail("expected null", Some(other))),
            (_, None) => {} // refused above
            (VariantKind::Newtype(inner), Some(body)) => self.value(inner, body)?,
            (kind @ VariantKind::Tuple(types), Some(body)) => {
                self.tuple(types, body, || body_notation(kind))?;
            }
            (VariantKind::Struct(fields), Some(Value::Object(object))) => {
                self.fields(fields, object)?;
            }
            (kind @ VariantKind::Struct(_), Some(other)) => {
                let message = format!("expected {}", body_notation(kind));
                return Err(self.fail(message, Some(other)));
            }
        }
        self.path.leave(mark);
        Ok(())
    }

    fn int(&self, ty: &Type, value: &Value, bits: u32) -> Result<Int> {
        Int::from_json(value, bits >= 64).map_err(|e| match e {
            IntError::NotInteger if value.is_number() => {
                self.fail(format!("expected {ty} (an integer)"), Some(value))
            }
            IntError::NotInteger => self.mismatch(ty, value),
            IntError::TooLarge(text) => self.fail(format!("{text} does not fit {ty}"), None),
        })
    }

    fn unsigned(&self, ty: &Type, value: &Value, bits: u32) -> Result<u128> {
        let int = self.int(ty, value, bits)?;
        int.unsigned(bits)
            .ok_or_else(|| self.fail(format!("{int} does not fit {ty}"), None))
    }

    fn signed(&self, ty: &Type, value: &Value, bits: u32) -> Result<i128> {
        let int = self.int(ty, value, bits)?;
        int.signed(bits)
            .ok_or_else(|| self.fail(format!("{int} does not fit {ty}"), None))
    }

    fn varint(&mut self, ty: &Type, value: &Value, bits: u32) -> Result {
        let v = self.unsigned(ty, value, bits)?;
        leb128::write(v, &mut self.out);
        Ok(())
    }

    fn zigzag(&mut self, ty: &Type, value: &Value, bits: u32) -> Result {
        let v = self.signed(ty, value, bits)?;
        leb128::write(leb128::zigzag(v), &mut self.out);
        Ok(())
    }

    fn float(&mut self, ty: &Type, value: &Value, single: bool) -> Result {
        let Some(f) = text::float_from_json(value) else {
            return Err(self.mismatch(ty, value));
        };
        if single {
            // `as` may keep some of a NaN's payload; "NaN" stands for the one NaN of each width.
            let narrow = if f.is_nan() { f32::NAN } else { f as f32 };
            if f.is_finite() && !narrow.is_finite() {
                return Err(self.fail(format!("{} does not fit f32", got_json(value)), None));
            }
            self.out.extend_from_slice(&narrow.to_le_bytes());
        } else {
            self.out.extend_from_slice(&f.to_le_bytes());
        }
        Ok(())
    }

    /// The bytes a string stands for where bytes are expected.
    fn text_bytes(&self, text: &str) -> Result<Vec<u8>> {
        text::bytes_from_text(text).map_err(|message| {
            let got = if text.len() > 60 {
                None
            } else {
                Some(Value::from(text))
            };
            self.fail(message, got.as_ref())
        })
    }

    /// `at most {max} {what}, got {len}`, unless `max` is 0 (no bound).
    fn bound(&self, max: u32, len: usize, what: &str) -> Result {
        if max != 0 && len > max as usize {
            return Err(self.fail_count(format!("at most {max} {what}"), len));
        }
        Ok(())
    }

    fn exact_len(&self, want: usize, len: usize, what: &str) -> Result {
        if want != len {
            return Err(self.fail_count(format!("expected exactly {want} {what}"), len));
        }
        Ok(())
    }

    fn count(&mut self, n: usize) {
        leb128::write(n as u128, &mut self.out);
    }

    /// A length, then the bytes.
    fn bytes(&mut self, bytes: &[u8]) {
        self.count(bytes.len());
        self.out.extend_from_slice(bytes);
    }
}

/// What an error says was expected for `ty`: its notation, with a struct's fields, an
/// enum's variants, and a hint where the JSON form is not obvious.
pub(crate) fn expected(ty: &Type) -> String {
    match ty {
        Type::Unit => "null".to_owned(),
        Type::UnitStruct { name } => format!("{name} (null)"),
        Type::Char => "char (a one-character string)".to_owned(),
        Type::Map { .. } => format!("{ty} (an object or [key, value] pairs)"),
        Type::Enum { .. } => format!("one of {}", Variants(ty)),
        Type::Struct { .. } | Type::TupleStruct { .. } | Type::NewtypeStruct { .. } => {
            Body(ty).to_string()
        }
        _ => ty.to_string(),
    }
}

/// What a variant's body looks like: `u8`, `[u8, u8]`, `{ hz: u8 }`, or `null`.
fn body_notation(kind: &VariantKind) -> String {
    match kind {
        VariantKind::Unit => "null".to_owned(),
        VariantKind::Newtype(inner) => inner.to_string(),
        VariantKind::Tuple(types) => {
            let items: Vec<String> = types.iter().map(Type::to_string).collect();
            format!("[{}]", items.join(", "))
        }
        VariantKind::Struct(fields) => format!("{{ {} }}", Fields(fields)),
    }
}
