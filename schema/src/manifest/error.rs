//! Why a manifest did not parse: where, and what was expected there.

use core::fmt;

/// A manifest that does not parse. `offset` is the byte of the manifest where the problem
/// starts (for truncation: the length of the manifest, where more was expected).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestError {
    /// The byte of the manifest where the problem starts.
    pub offset: usize,
    /// What is wrong there.
    pub kind: ManifestErrorKind,
}

/// What is wrong with a manifest. `expected` fields name what the parser was reading, e.g.
/// `"a type tag"` or `"the name of a procedure"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestErrorKind {
    /// The bytes end before `expected`.
    Truncated {
        /// What the parser was reading.
        expected: &'static str,
    },
    /// The first byte is not a format this crate reads.
    UnknownFormat(u8),
    /// A type tag above 26.
    UnknownTag(u8),
    /// A procedure mode above 3.
    UnknownMode(u8),
    /// An enum variant kind above 3.
    UnknownVariantKind(u8),
    /// A varint longer than the five bytes a `u32` takes.
    VarintTooLong {
        /// What the parser was reading.
        expected: &'static str,
    },
    /// A varint above `u32::MAX`.
    VarintOverflow {
        /// What the parser was reading.
        expected: &'static str,
    },
    /// A name or string that is not UTF-8.
    InvalidUtf8 {
        /// What the parser was reading.
        expected: &'static str,
    },
    /// A count of things that cannot fit in the bytes left, each taking at least one byte
    /// (so a hostile count is refused before anything is allocated for it).
    CountTooLarge {
        /// What is counted, e.g. `"procedures"`.
        what: &'static str,
        /// The declared count.
        count: u32,
        /// The bytes left after the count.
        left: usize,
    },
    /// A type nested deeper than [`MAX_DEPTH`](crate::MAX_DEPTH) levels.
    TooDeep,
    /// Two procedures, interfaces, methods of one interface, parameters, fields or
    /// variants with one name (or two procedures, or methods of one interface, with one
    /// id), which would make calling by name or JSON objects ambiguous.
    Duplicate {
        /// What is duplicated, e.g. `"field name"`.
        what: &'static str,
        /// The duplicated name or id.
        name: String,
    },
    /// Bytes after the last procedure (or, in format 2, the last interface).
    TrailingBytes(usize),
    /// A format-2 manifest that declares no interfaces (a service without any is described
    /// in format 1).
    NoInterfaces,
    /// A handle of an interface the manifest does not declare: its name.
    UnknownInterface(String),
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "manifest byte {}: ", self.offset)?;
        match &self.kind {
            ManifestErrorKind::Truncated { expected } => {
                write!(f, "expected {expected}, got the end of the manifest")
            }
            ManifestErrorKind::UnknownFormat(b) => {
                write!(f, "expected format 1 or 2, got {b}")
            }
            ManifestErrorKind::UnknownTag(b) => {
                write!(f, "expected a type tag (0 to 26), got {b}")
            }
            ManifestErrorKind::UnknownMode(b) => {
                write!(f, "expected a procedure mode (0 to 3), got {b}")
            }
            ManifestErrorKind::UnknownVariantKind(b) => {
                write!(f, "expected a variant kind (0 to 3), got {b}")
            }
            ManifestErrorKind::VarintTooLong { expected } => {
                write!(f, "expected {expected}, got a varint longer than 5 bytes")
            }
            ManifestErrorKind::VarintOverflow { expected } => {
                write!(f, "expected {expected}, got a varint above u32::MAX")
            }
            ManifestErrorKind::InvalidUtf8 { expected } => {
                write!(f, "expected {expected}, got bytes that are not UTF-8")
            }
            ManifestErrorKind::CountTooLarge { what, count, left } => {
                write!(f, "{count} {what} cannot fit in the {left} bytes left")
            }
            ManifestErrorKind::TooDeep => {
                write!(f, "types nested deeper than {} levels", crate::MAX_DEPTH)
            }
            ManifestErrorKind::Duplicate { what, name } => write!(f, "duplicate {what} {name}"),
            ManifestErrorKind::TrailingBytes(n) => {
                write!(f, "expected the end of the manifest, got {n} more bytes")
            }
            ManifestErrorKind::NoInterfaces => {
                write!(f, "expected at least one interface in format 2, got none")
            }
            ManifestErrorKind::UnknownInterface(name) => {
                write!(
                    f,
                    "a handle of interface {name}, which the manifest does not declare"
                )
            }
        }
    }
}

impl std::error::Error for ManifestError {}
