//! Payloads: anything that can write its encoded bytes into a frame.

use serde::Serialize;

/// Why a payload could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PayloadError {
    /// It does not fit the space left in the frame.
    TooLarge,
    /// It could not be encoded.
    Encode,
}

/// Something that writes itself as the payload of a frame: raw bytes, or a
/// [`Postcard`]-encoded value.
pub trait Payload {
    /// Writes the encoded payload at the start of `out`, returning its length.
    fn write_to(&self, out: &mut [u8]) -> Result<usize, PayloadError>;
}

impl Payload for &[u8] {
    fn write_to(&self, out: &mut [u8]) -> Result<usize, PayloadError> {
        let dst = out.get_mut(..self.len()).ok_or(PayloadError::TooLarge)?;
        crate::bytes::copy_prefix(dst, self);
        Ok(self.len())
    }
}

impl<const N: usize> Payload for &[u8; N] {
    fn write_to(&self, out: &mut [u8]) -> Result<usize, PayloadError> {
        self.as_slice().write_to(out)
    }
}

/// A value to be encoded with postcard, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct Postcard<'a, T: ?Sized>(pub &'a T);

impl<T: Serialize + ?Sized> Payload for Postcard<'_, T> {
    fn write_to(&self, out: &mut [u8]) -> Result<usize, PayloadError> {
        match postcard::to_slice(self.0, out) {
            Ok(used) => Ok(used.len()),
            Err(postcard::Error::SerializeBufferFull) => Err(PayloadError::TooLarge),
            Err(_) => Err(PayloadError::Encode),
        }
    }
}
