//! The owned model of a manifest: a service, its procedures, its interfaces (the types of
//! the objects its handles name) and their types.
//!
//! The model mirrors the manifest bytes one to one (see the crate docs for the format), so
//! [`Manifest::parse`] then [`Manifest::to_bytes`] gives back the bytes a device sent, and
//! a model built by hand writes the bytes a device would send for it. Bounds keep the
//! wire's convention: `0` means "no bound".

/// The manifest format of a service without interfaces (the first byte of its manifest);
/// this crate reads and writes it and [`FORMAT_INTERFACES`].
pub const FORMAT: u8 = 1;

/// The manifest format of a service that declares interfaces: format 1 followed by the
/// interfaces, each with its methods. A manifest is written in this format exactly when
/// it has interfaces, so a service without any keeps its format-1 bytes and hash.
pub const FORMAT_INTERFACES: u8 = 2;

/// The deepest nesting of types a manifest may have: a leaf type is one level, an
/// `Option<u8>` two. Deeper manifests are rejected, so nothing in this crate recurses further.
pub const MAX_DEPTH: usize = 32;

/// A device's description of its service: what a host needs to call it by name with JSON.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Manifest {
    /// The service name.
    pub service: String,
    /// The procedures, in the order the device listed them.
    pub procedures: Vec<Procedure>,
    /// The interfaces, in the order the device listed them: the types of the objects its
    /// handles name, each with the methods callable on such a handle. Empty for a service
    /// without handles (a format-1 manifest).
    pub interfaces: Vec<Interface>,
}

impl Manifest {
    /// The first procedure called `name` (a parsed manifest has no two with one name).
    pub fn procedure(&self, name: &str) -> Option<&Procedure> {
        self.procedures.iter().find(|p| p.name == name)
    }

    /// The procedure with wire number `id`.
    pub fn procedure_by_id(&self, id: u32) -> Option<&Procedure> {
        self.procedures.iter().find(|p| p.id == id)
    }

    /// The first interface called `name` (a parsed manifest has no two with one name).
    pub fn interface(&self, name: &str) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.name == name)
    }

    /// The interface of the handle `procedure` returns, if its result is a handle of an
    /// interface this manifest declares (`open(..) -> handle Channel` gives `Channel`).
    pub fn returned_interface(&self, procedure: &Procedure) -> Option<&Interface> {
        match &procedure.output {
            Type::Handle(name) => self.interface(name),
            _ => None,
        }
    }

    /// The format byte this manifest is written with: [`FORMAT_INTERFACES`] when it has
    /// interfaces, else [`FORMAT`].
    pub fn format(&self) -> u8 {
        if self.interfaces.is_empty() {
            FORMAT
        } else {
            FORMAT_INTERFACES
        }
    }
}

/// An interface: the type of the objects that handles of it name, and the methods callable
/// on such a handle. Methods are procedures numbered apart from the service's (each
/// interface numbers its own from wherever it likes); a call of one names the handle.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Interface {
    /// The interface's name (a handle of it has the type `handle` and this name).
    pub name: String,
    /// Its methods, in the order the device listed them.
    pub methods: Vec<Procedure>,
}

impl Interface {
    /// The first method called `name` (a parsed manifest has no two in one interface).
    pub fn method(&self, name: &str) -> Option<&Procedure> {
        self.methods.iter().find(|m| m.name == name)
    }

    /// The method with number `id`.
    pub fn method_by_id(&self, id: u32) -> Option<&Procedure> {
        self.methods.iter().find(|m| m.id == id)
    }
}

/// One procedure: its wire number, name, parameters and the types that flow.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Procedure {
    /// The procedure number on the wire.
    pub id: u32,
    /// The name a host calls it by.
    pub name: String,
    /// The parameters, in order; the arguments on the wire are them concatenated.
    pub params: Vec<Field>,
    /// The reply's type (unit for server and bidirectional streams, whose reply only ends
    /// the stream; the parser accepts whatever the device declares).
    pub output: Type,
    /// Whether items flow, which way, and their types.
    pub mode: Mode,
}

impl Procedure {
    /// The type of the items the server sends, if it sends any.
    pub fn item(&self) -> Option<&Type> {
        match &self.mode {
            Mode::ServerStream { item } | Mode::Bidi { item, .. } => Some(item),
            Mode::Call | Mode::ClientStream { .. } => None,
        }
    }

    /// The type of the items the caller sends, if it sends any.
    pub fn in_item(&self) -> Option<&Type> {
        match &self.mode {
            Mode::ClientStream { in_item } | Mode::Bidi { in_item, .. } => Some(in_item),
            Mode::Call | Mode::ServerStream { .. } => None,
        }
    }
}

/// How a procedure is called, with the item types of its streams, so that a procedure
/// cannot claim items without their type or a type without items.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// A plain call: arguments in, one reply out (mode byte 0).
    Call,
    /// The caller sends items, then the server replies once (mode byte 1).
    ClientStream {
        /// The items the caller sends.
        in_item: Type,
    },
    /// The server sends items (mode byte 2).
    ServerStream {
        /// The items the server sends.
        item: Type,
    },
    /// Items flow both ways (mode byte 3).
    Bidi {
        /// The items the server sends.
        item: Type,
        /// The items the caller sends.
        in_item: Type,
    },
}

impl Mode {
    /// The mode byte of the manifest.
    pub fn byte(&self) -> u8 {
        match self {
            Mode::Call => 0,
            Mode::ClientStream { .. } => 1,
            Mode::ServerStream { .. } => 2,
            Mode::Bidi { .. } => 3,
        }
    }

    /// Whether items flow at all (any mode but [`Mode::Call`]).
    pub fn is_stream(&self) -> bool {
        !matches!(self, Mode::Call)
    }

    /// A short name for listings: `call`, `client stream`, `server stream` or `bidi stream`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Mode::Call => "call",
            Mode::ClientStream { .. } => "client stream",
            Mode::ServerStream { .. } => "server stream",
            Mode::Bidi { .. } => "bidi stream",
        }
    }
}

/// A named, typed slot: a parameter or a struct field.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    /// The name.
    pub name: String,
    /// The type.
    pub ty: Type,
}

impl Field {
    /// A field called `name` of type `ty`.
    pub fn new(name: impl Into<String>, ty: Type) -> Self {
        Field {
            name: name.into(),
            ty,
        }
    }
}

/// A variant of an enum: its name and what it carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Variant {
    /// The name.
    pub name: String,
    /// What it carries.
    pub kind: VariantKind,
}

impl Variant {
    /// A variant called `name` carrying `kind`.
    pub fn new(name: impl Into<String>, kind: VariantKind) -> Self {
        Variant {
            name: name.into(),
            kind,
        }
    }
}

/// What an enum variant carries (kind byte 0 to 3 in the manifest).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum VariantKind {
    /// Nothing: `Off`.
    Unit,
    /// One unnamed value: `Level(u8)`.
    Newtype(Type),
    /// Several unnamed values: `Pair(u8, u8)`.
    Tuple(Vec<Type>),
    /// Named fields: `Blink { hz: u8 }`.
    Struct(Vec<Field>),
}

/// A type as the manifest describes it. Each variant is one tag of the type table in the
/// crate docs; the tag number is [`Type::tag`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// `()`: no bytes.
    Unit,
    /// `bool`: one byte, 0 or 1.
    Bool,
    /// `u8`: one raw byte.
    U8,
    /// `u16`: a varint.
    U16,
    /// `u32`: a varint.
    U32,
    /// `u64`: a varint.
    U64,
    /// `u128`: a varint.
    U128,
    /// `i8`: one raw byte.
    I8,
    /// `i16`: a zigzag varint.
    I16,
    /// `i32`: a zigzag varint.
    I32,
    /// `i64`: a zigzag varint.
    I64,
    /// `i128`: a zigzag varint.
    I128,
    /// `f32`: four bytes, little-endian.
    F32,
    /// `f64`: eight bytes, little-endian.
    F64,
    /// `char`: its UTF-8 as a string.
    Char,
    /// UTF-8 text of at most `max` bytes (`0`: no bound).
    String {
        /// The most bytes, or 0 for no bound.
        max: u32,
    },
    /// An optional value.
    Option(Box<Type>),
    /// A sequence of at most `max` items (`0`: no bound).
    Seq {
        /// The most items, or 0 for no bound.
        max: u32,
        /// The item type.
        item: Box<Type>,
    },
    /// A map of at most `max` entries (`0`: no bound).
    Map {
        /// The most entries, or 0 for no bound.
        max: u32,
        /// The key type.
        key: Box<Type>,
        /// The value type.
        value: Box<Type>,
    },
    /// A tuple: its items in order.
    Tuple(Vec<Type>),
    /// An array of exactly `len` items (no length on the wire).
    Array {
        /// The number of items.
        len: u32,
        /// The item type.
        item: Box<Type>,
    },
    /// A struct with named fields.
    Struct {
        /// The struct's name.
        name: String,
        /// The fields in declaration order.
        fields: Vec<Field>,
    },
    /// A struct with unnamed fields: `struct Point(i32, i32)`.
    TupleStruct {
        /// The struct's name.
        name: String,
        /// The field types in order.
        fields: Vec<Type>,
    },
    /// A struct without fields: `struct Ping`.
    UnitStruct {
        /// The struct's name.
        name: String,
    },
    /// A struct wrapping one value: `struct Meters(u32)`.
    NewtypeStruct {
        /// The struct's name.
        name: String,
        /// The wrapped type.
        inner: Box<Type>,
    },
    /// An enum.
    Enum {
        /// The enum's name.
        name: String,
        /// The variants; a value's variant index is its position here.
        variants: Vec<Variant>,
    },
    /// A handle to an object of the named interface on the device (tag 26): its slot and
    /// generation in the device's export table, two varints. An empty name stands for a
    /// handle of any interface (what the core's `Handle` type describes).
    Handle(String),
}

impl Type {
    /// UTF-8 text of at most `max` bytes (`0`: no bound).
    pub fn string(max: u32) -> Type {
        Type::String { max }
    }

    /// An optional `inner`.
    pub fn option(inner: Type) -> Type {
        Type::Option(Box::new(inner))
    }

    /// A sequence of at most `max` items (`0`: no bound).
    pub fn seq(max: u32, item: Type) -> Type {
        Type::Seq {
            max,
            item: Box::new(item),
        }
    }

    /// A map of at most `max` entries (`0`: no bound).
    pub fn map(max: u32, key: Type, value: Type) -> Type {
        Type::Map {
            max,
            key: Box::new(key),
            value: Box::new(value),
        }
    }

    /// An array of exactly `len` items.
    pub fn array(len: u32, item: Type) -> Type {
        Type::Array {
            len,
            item: Box::new(item),
        }
    }

    /// A struct called `name` with `fields`.
    pub fn structure(name: impl Into<String>, fields: Vec<Field>) -> Type {
        Type::Struct {
            name: name.into(),
            fields,
        }
    }

    /// A struct called `name` wrapping `inner`.
    pub fn newtype(name: impl Into<String>, inner: Type) -> Type {
        Type::NewtypeStruct {
            name: name.into(),
            inner: Box::new(inner),
        }
    }

    /// An enum called `name` with `variants`.
    pub fn enumeration(name: impl Into<String>, variants: Vec<Variant>) -> Type {
        Type::Enum {
            name: name.into(),
            variants,
        }
    }

    /// A handle of interface `name`.
    pub fn handle(name: impl Into<String>) -> Type {
        Type::Handle(name.into())
    }

    /// The manifest tag of this type (0 to 26).
    pub fn tag(&self) -> u8 {
        match self {
            Type::Unit => 0,
            Type::Bool => 1,
            Type::U8 => 2,
            Type::U16 => 3,
            Type::U32 => 4,
            Type::U64 => 5,
            Type::U128 => 6,
            Type::I8 => 7,
            Type::I16 => 8,
            Type::I32 => 9,
            Type::I64 => 10,
            Type::I128 => 11,
            Type::F32 => 12,
            Type::F64 => 13,
            Type::Char => 14,
            Type::String { .. } => 15,
            Type::Option(_) => 16,
            Type::Seq { .. } => 17,
            Type::Map { .. } => 18,
            Type::Tuple(_) => 19,
            Type::Array { .. } => 20,
            Type::Struct { .. } => 21,
            Type::TupleStruct { .. } => 22,
            Type::UnitStruct { .. } => 23,
            Type::NewtypeStruct { .. } => 24,
            Type::Enum { .. } => 25,
            Type::Handle(_) => 26,
        }
    }

    /// The name of a struct or enum type; `None` for the others.
    pub fn type_name(&self) -> Option<&str> {
        match self {
            Type::Struct { name, .. }
            | Type::TupleStruct { name, .. }
            | Type::UnitStruct { name }
            | Type::NewtypeStruct { name, .. }
            | Type::Enum { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Whether every value of this type encodes to no bytes at all (unit, unit structs, and
    /// tuples, arrays and structs made only of those). The decoder needs it because a count
    /// of such items cannot be checked against the bytes left.
    pub fn is_zero_size(&self) -> bool {
        match self {
            Type::Unit | Type::UnitStruct { .. } => true,
            Type::Tuple(items) | Type::TupleStruct { fields: items, .. } => {
                items.iter().all(Type::is_zero_size)
            }
            Type::Struct { fields, .. } => fields.iter().all(|f| f.ty.is_zero_size()),
            Type::Array { len, item } => *len == 0 || item.is_zero_size(),
            Type::NewtypeStruct { inner, .. } => inner.is_zero_size(),
            _ => false,
        }
    }
}
