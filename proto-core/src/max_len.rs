//! The longest encoding of a type, from its [`Type`]: what lets a buffer be sized from a
//! declaration (`[0u8; calc::MAX_REPLY_LEN]`) instead of guessed.

use crate::manifest::ServiceSchema;
use crate::schema::{Field, Type, VariantShape};
use crate::stream::StreamMode;

/// The most bytes postcard writes for a value of type `ty`, or `None` if it has no bound
/// (a `Vec`, `String` or map without a capacity). Saturates at `usize::MAX`.
pub const fn max_encoded_len_of(ty: &Type) -> Option<usize> {
    match *ty {
        Type::Unit | Type::UnitStruct { .. } => Some(0),
        Type::Bool | Type::U8 | Type::I8 => Some(1),
        Type::U16 | Type::I16 => Some(3),
        Type::U32 | Type::I32 => Some(5),
        Type::U64 | Type::I64 => Some(10),
        Type::U128 | Type::I128 => Some(19),
        Type::F32 => Some(4),
        Type::F64 => Some(8),
        // A length varint (one byte: at most 4) and up to four bytes of UTF-8.
        Type::Char => Some(5),
        Type::String { max: 0 } => None,
        Type::String { max } => Some(add(varint_len(max), max as usize)),
        Type::Option(inner) => match max_encoded_len_of(inner) {
            Some(n) => Some(add(1, n)),
            None => None,
        },
        Type::Seq { max: 0, .. } | Type::Map { max: 0, .. } => None,
        Type::Seq { max, item } => match max_encoded_len_of(item) {
            Some(n) => Some(add(varint_len(max), mul(max as usize, n))),
            None => None,
        },
        Type::Map { max, key, value } => {
            match (max_encoded_len_of(key), max_encoded_len_of(value)) {
                (Some(k), Some(v)) => Some(add(varint_len(max), mul(max as usize, add(k, v)))),
                _ => None,
            }
        }
        Type::Array { len, item } => match max_encoded_len_of(item) {
            Some(n) => Some(mul(len as usize, n)),
            None => None,
        },
        Type::Tuple(items) | Type::TupleStruct { fields: items, .. } => sum_types(items),
        Type::Struct { fields, .. } => sum_fields(fields),
        Type::Newtype { inner, .. } => max_encoded_len_of(inner),
        Type::Handle(_) => Some(10),
        Type::Enum { variants, .. } => {
            let mut longest = 0;
            let mut rest = variants;
            while let [variant, tail @ ..] = rest {
                rest = tail;
                let body = match variant.shape {
                    VariantShape::Unit => Some(0),
                    VariantShape::Newtype(t) => max_encoded_len_of(t),
                    VariantShape::Tuple(ts) => sum_types(ts),
                    VariantShape::Struct(fs) => sum_fields(fs),
                };
                match body {
                    Some(n) if n > longest => longest = n,
                    Some(_) => {}
                    None => return None,
                }
            }
            Some(add(varint_len(variants.len() as u32), longest))
        }
    }
}

impl ServiceSchema {
    /// The longest encoded result of any procedure (`None` if one has no bound): the
    /// buffer a handler's result is encoded into needs no more.
    pub const fn max_reply_len(&self) -> Option<usize> {
        let mut longest = 0;
        let mut rest = self.procedures;
        while let [p, tail @ ..] = rest {
            rest = tail;
            match max_encoded_len_of(p.output) {
                Some(n) if n > longest => longest = n,
                Some(_) => {}
                None => return None,
            }
        }
        Some(longest)
    }

    /// The longest encoded arguments of any procedure (`None` if one has no bound).
    pub const fn max_args_len(&self) -> Option<usize> {
        let mut longest = 0;
        let mut rest = self.procedures;
        while let [p, tail @ ..] = rest {
            rest = tail;
            match sum_fields(p.params) {
                Some(n) if n > longest => longest = n,
                Some(_) => {}
                None => return None,
            }
        }
        Some(longest)
    }

    /// The longest encoded stream item, either way, of any procedure (`Some(0)` if none
    /// streams; `None` if one has no bound).
    pub const fn max_item_len(&self) -> Option<usize> {
        let mut longest = 0;
        let mut rest = self.procedures;
        while let [p, tail @ ..] = rest {
            rest = tail;
            if matches!(p.mode, StreamMode::Call) {
                continue;
            }
            let mut items: &[&Type] = &[p.item, p.in_item];
            while let [item, more @ ..] = items {
                items = more;
                match max_encoded_len_of(item) {
                    Some(n) if n > longest => longest = n,
                    Some(_) => {}
                    None => return None,
                }
            }
        }
        Some(longest)
    }
}

/// `Some(n)` as a `usize` for a generated constant: `usize::MAX` stands for "no bound".
#[doc(hidden)]
pub const fn __or_unbounded(n: Option<usize>) -> usize {
    match n {
        Some(n) => n,
        None => usize::MAX,
    }
}

const fn sum_types(types: &[&Type]) -> Option<usize> {
    let mut total = 0;
    let mut rest = types;
    while let [ty, tail @ ..] = rest {
        rest = tail;
        match max_encoded_len_of(ty) {
            Some(n) => total = add(total, n),
            None => return None,
        }
    }
    Some(total)
}

const fn sum_fields(fields: &[Field]) -> Option<usize> {
    let mut total = 0;
    let mut rest = fields;
    while let [field, tail @ ..] = rest {
        rest = tail;
        match max_encoded_len_of(field.ty) {
            Some(n) => total = add(total, n),
            None => return None,
        }
    }
    Some(total)
}

/// The bytes of `n` as a varint.
const fn varint_len(n: u32) -> usize {
    let mut len = 1;
    let mut rest = n >> 7;
    while rest != 0 {
        len += 1;
        rest >>= 7;
    }
    len
}

const fn add(a: usize, b: usize) -> usize {
    a.saturating_add(b)
}

const fn mul(a: usize, b: usize) -> usize {
    a.saturating_mul(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;

    /// The bound holds for the largest values, and is reached by them.
    fn longest<T: serde::Serialize + Schema>(value: &T) -> (usize, Option<usize>) {
        let mut buf = [0u8; 2048];
        let used = postcard::to_slice(value, &mut buf)
            .map(|b| b.len())
            .unwrap_or(0);
        (used, max_encoded_len_of(T::TYPE))
    }

    #[test]
    fn the_bound_is_the_longest_value() {
        assert_eq!(longest(&u32::MAX), (5, Some(5)));
        assert_eq!(longest(&i64::MIN), (10, Some(10)));
        assert_eq!(longest(&u128::MAX), (19, Some(19)));
        assert_eq!(longest(&u16::MAX), (3, Some(3)));
        assert_eq!(longest(&'\u{10FFFF}'), (5, Some(5)));
        assert_eq!(longest(&Some((1.5f64, u8::MAX))), (10, Some(10)));
        let full: heapless::Vec<u32, 200> = (0..200).map(|_| u32::MAX).collect();
        assert_eq!(longest(&full), (2 + 200 * 5, Some(2 + 200 * 5)));
        let mut s = heapless::String::<130>::new();
        for _ in 0..130 {
            let _ = s.push('a');
        }
        assert_eq!(longest(&s), (132, Some(132)));
        assert_eq!(longest(&[u64::MAX; 3]), (30, Some(30)));
    }

    #[test]
    fn unbounded_types_have_no_bound() {
        assert_eq!(max_encoded_len_of(&Type::String { max: 0 }), None);
        static SEQ: Type = Type::Seq {
            max: 0,
            item: &Type::U8,
        };
        assert_eq!(max_encoded_len_of(&Type::Option(&SEQ)), None);
        assert_eq!(__or_unbounded(None), usize::MAX);
    }
}
