//! Type descriptions for schema discovery: what a value looks like on the wire.
//!
//! A [`Type`] describes how postcard encodes a Rust type: its shape (struct, enum, sequence,
//! integer ...), the names of its fields and variants, and the bounds a decoder enforces
//! (the capacity of a `heapless::Vec<T, N>` or `heapless::String<N>`). [`Schema`] gives a
//! type its description as a `const`, so a whole service's description is built at compile
//! time ([`service!`](crate::service) writes it into the service's `MANIFEST`, bytes in
//! flash) and the trees here are never in the firmware image.
//!
//! The core implements [`Schema`] for the primitive types, tuples, arrays, `Option`, and the
//! bounded `heapless` containers; `#[derive(wirecall::Schema)]` (feature `derive`)
//! implements it for your structs and enums, and feature `alloc` adds `Vec`, `String`,
//! `Box` and `BTreeMap`.

/// How a type is encoded, for a host that knows it only by its description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Type {
    /// `()`: nothing on the wire.
    Unit,
    /// One byte, 0 or 1.
    Bool,
    /// One raw byte.
    U8,
    /// Varint.
    U16,
    /// Varint.
    U32,
    /// Varint.
    U64,
    /// Varint.
    U128,
    /// One raw byte (two's complement).
    I8,
    /// Zigzag varint.
    I16,
    /// Zigzag varint.
    I32,
    /// Zigzag varint.
    I64,
    /// Zigzag varint.
    I128,
    /// Four bytes, little-endian IEEE 754.
    F32,
    /// Eight bytes, little-endian IEEE 754.
    F64,
    /// One Unicode scalar, as its UTF-8 with a length varint.
    Char,
    /// UTF-8 text with a length varint; `max` bytes at most (0: no bound).
    String {
        /// Most bytes the decoder accepts (0: no bound).
        max: u32,
    },
    /// A presence byte (0 or 1), then the value if present.
    Option(&'static Type),
    /// A count varint, then the items; `max` items at most (0: no bound).
    Seq {
        /// Most items the decoder accepts (0: no bound).
        max: u32,
        /// The items' type.
        item: &'static Type,
    },
    /// A count varint, then key and value pairs; `max` entries at most (0: no bound).
    Map {
        /// Most entries the decoder accepts (0: no bound).
        max: u32,
        /// The keys' type.
        key: &'static Type,
        /// The values' type.
        value: &'static Type,
    },
    /// The elements in order, no count.
    Tuple(&'static [&'static Type]),
    /// `len` items in order, no count (`[T; N]`).
    Array {
        /// The number of items.
        len: u32,
        /// The items' type.
        item: &'static Type,
    },
    /// The fields in order, no count.
    Struct {
        /// The type's name.
        name: &'static str,
        /// The fields in declaration order.
        fields: &'static [Field],
    },
    /// The fields in order, no count.
    TupleStruct {
        /// The type's name.
        name: &'static str,
        /// The fields' types in order.
        fields: &'static [&'static Type],
    },
    /// Nothing on the wire.
    UnitStruct {
        /// The type's name.
        name: &'static str,
    },
    /// Encoded as the wrapped value.
    Newtype {
        /// The type's name.
        name: &'static str,
        /// The wrapped type.
        inner: &'static Type,
    },
    /// The variant's index (a varint, its position here), then its fields.
    Enum {
        /// The type's name.
        name: &'static str,
        /// The variants in declaration order.
        variants: &'static [Variant],
    },
    /// A handle to an object of the named interface of the service (empty: any): its slot
    /// and generation, two varints.
    Handle(&'static str),
}

/// A named field of a struct or struct variant, or a procedure's parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// The field's name.
    pub name: &'static str,
    /// Its type.
    pub ty: &'static Type,
}

/// One variant of an enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// The variant's name.
    pub name: &'static str,
    /// What it carries.
    pub shape: VariantShape,
}

/// What an enum variant carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VariantShape {
    /// Nothing: `A`.
    Unit,
    /// One value: `A(T)`.
    Newtype(&'static Type),
    /// Several values: `A(T, U)`.
    Tuple(&'static [&'static Type]),
    /// Named fields: `A { x: T }`.
    Struct(&'static [Field]),
}

/// A type whose wire shape is known at compile time. Implemented by the core for
/// primitives and bounded containers, and by `#[derive(wirecall::Schema)]` (feature
/// `derive`) for structs and enums whose serde encoding is the default one.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no wire description: it cannot be a parameter, result or item of a `service!`",
    label = "this type does not implement `wirecall::Schema`",
    note = "in `no_std` code use `heapless::String<N>` and `heapless::Vec<T, N>` (their capacities bound what a peer can send); on a host, `String`, `Vec` and `BTreeMap` need wirecall's feature `alloc`",
    note = "for your own structs and enums, `#[derive(serde::Serialize, serde::Deserialize, wirecall::Schema)]` (wirecall's feature `derive`)"
)]
pub trait Schema {
    /// How values of this type are encoded.
    const TYPE: &'static Type;
}

macro_rules! primitive {
    ($($t:ty => $v:ident),* $(,)?) => {
        $(impl Schema for $t {
            const TYPE: &'static Type = &Type::$v;
        })*
    };
}

primitive! {
    () => Unit, bool => Bool, char => Char, f32 => F32, f64 => F64,
    u8 => U8, u16 => U16, u32 => U32, u64 => U64, u128 => U128,
    i8 => I8, i16 => I16, i32 => I32, i64 => I64, i128 => I128,
}

// postcard writes `usize` and `isize` as varints of their values, the same bytes as `u64`
// and `i64`. They are described as those on every platform, so that one declaration has
// one manifest, and one hash, on a 32-bit device and a 64-bit host (a 32-bit decoder
// refuses values beyond its `usize` with `BadArguments`).
impl Schema for usize {
    const TYPE: &'static Type = &Type::U64;
}

impl Schema for isize {
    const TYPE: &'static Type = &Type::I64;
}

// Borrowed parameters (`fn log(text: &str)`): the same bytes as an unbounded `String` and
// `Vec<u8>`, decoded without a copy.
impl Schema for &str {
    const TYPE: &'static Type = &Type::String { max: 0 };
}

impl Schema for &[u8] {
    const TYPE: &'static Type = &Type::Seq {
        max: 0,
        item: &Type::U8,
    };
}

impl<T: Schema> Schema for Option<T> {
    const TYPE: &'static Type = &Type::Option(T::TYPE);
}

impl<T: Schema, const N: usize> Schema for [T; N] {
    const TYPE: &'static Type = &Type::Array {
        len: N as u32,
        item: T::TYPE,
    };
}

macro_rules! tuple {
    ($($name:ident)+) => {
        impl<$($name: Schema),+> Schema for ($($name,)+) {
            const TYPE: &'static Type = &Type::Tuple(&[$($name::TYPE),+]);
        }
    };
}

tuple!(A);
tuple!(A B);
tuple!(A B C);
tuple!(A B C D);
tuple!(A B C D E);
tuple!(A B C D E F);
tuple!(A B C D E F G);
tuple!(A B C D E F G H);
tuple!(A B C D E F G H I);
tuple!(A B C D E F G H I J);
tuple!(A B C D E F G H I J K);
tuple!(A B C D E F G H I J K L);

/// A capacity as a bound on the wire (saturating: no real capacity reaches `u32::MAX`).
const fn bound(n: usize) -> u32 {
    if n > u32::MAX as usize {
        u32::MAX
    } else {
        n as u32
    }
}

impl<T: Schema, const N: usize, L: heapless::LenType> Schema for heapless::Vec<T, N, L> {
    const TYPE: &'static Type = &Type::Seq {
        max: bound(N),
        item: T::TYPE,
    };
}

impl<const N: usize, L: heapless::LenType> Schema for heapless::String<N, L> {
    const TYPE: &'static Type = &Type::String { max: bound(N) };
}

impl<K: Schema, V: Schema, const N: usize> Schema for heapless::LinearMap<K, V, N> {
    const TYPE: &'static Type = &Type::Map {
        max: bound(N),
        key: K::TYPE,
        value: V::TYPE,
    };
}

#[cfg(feature = "alloc")]
mod alloc_impls {
    extern crate alloc;
    use super::{Schema, Type};

    impl<T: Schema> Schema for alloc::vec::Vec<T> {
        const TYPE: &'static Type = &Type::Seq {
            max: 0,
            item: T::TYPE,
        };
    }

    impl Schema for alloc::string::String {
        const TYPE: &'static Type = &Type::String { max: 0 };
    }

    impl<T: Schema + ?Sized> Schema for alloc::boxed::Box<T> {
        const TYPE: &'static Type = T::TYPE;
    }

    impl<K: Schema, V: Schema> Schema for alloc::collections::BTreeMap<K, V> {
        const TYPE: &'static Type = &Type::Map {
            max: 0,
            key: K::TYPE,
            value: V::TYPE,
        };
    }
}

#[cfg(feature = "serde_bytes")]
mod serde_bytes_impls {
    use super::{Schema, Type};

    // A byte string: a length, then the bytes (what a `Vec<u8>` is on the wire), so hosts
    // describe it as a sequence of `u8`.
    impl Schema for serde_bytes::ByteBuf {
        const TYPE: &'static Type = &Type::Seq {
            max: 0,
            item: &Type::U8,
        };
    }
}

/// What [`service!`](crate::service) takes a parameter written `String` or `Vec<T>` for:
/// with feature `alloc`, the `alloc` types; without it (in `no_std` code, where `String`
/// is not even in scope), stand-ins of the same names that implement no [`Schema`], so
/// the error points at the parameter and says to use `heapless` types.
#[doc(hidden)]
pub mod __alloc_or_hint {
    #[cfg(feature = "alloc")]
    extern crate alloc;
    #[cfg(feature = "alloc")]
    pub use alloc::{string::String, vec::Vec};

    /// `String` without feature `alloc`: not a wire type (see the module docs).
    #[cfg(not(feature = "alloc"))]
    #[derive(Debug)]
    pub struct String;

    /// `Vec<T>` without feature `alloc`: not a wire type (see the module docs).
    #[cfg(not(feature = "alloc"))]
    #[derive(Debug)]
    pub struct Vec<T>(core::marker::PhantomData<T>);

    // The stand-ins encode and decode as nothing, so that the one error left is the
    // missing `Schema`, which says what to write instead. Nothing can use them: that
    // error stops the build.
    #[cfg(not(feature = "alloc"))]
    mod serde_impls {
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        impl Serialize for super::String {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_unit()
            }
        }

        impl<'de> Deserialize<'de> for super::String {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <()>::deserialize(d).map(|()| super::String)
            }
        }

        impl<T> Serialize for super::Vec<T> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_unit()
            }
        }

        impl<'de, T> Deserialize<'de> for super::Vec<T> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <()>::deserialize(d).map(|()| super::Vec(core::marker::PhantomData))
            }
        }
    }
}
