//! The manifest bytes: parsing what a device sends, and writing the same bytes back.
//!
//! The format is in the crate docs. [`Manifest::parse`] never panics on any input and
//! bounds its work and memory by the input's length, because the bytes come from a device
//! that a host must not trust; [`Manifest::to_bytes`] is its inverse.

mod error;
mod parse;
mod write;

pub use error::{ManifestError, ManifestErrorKind};

use crate::model::Manifest;

impl Manifest {
    /// Parses the manifest bytes a device sent. Every byte must be used.
    ///
    /// # Errors
    ///
    /// [`ManifestError`], with the offset of the problem and what was expected there.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        parse::parse(bytes)
    }

    /// The manifest bytes for this model: what a device serving it sends.
    pub fn to_bytes(&self) -> Vec<u8> {
        write::write(self)
    }
}
