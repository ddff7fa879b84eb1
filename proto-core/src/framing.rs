//! Framing: COBS with `0x00` delimiters and a CRC-32C trailer.
//!
//! A frame on the wire is `0x00, COBS(body ‖ crc32c(body) as 4 LE bytes), 0x00`. The decoder
//! here is fed one byte at a time and never panics. Its rules, which docs/PROTOCOL.md states
//! for other implementations:
//!
//! * A receiver starts as if it had just seen a delimiter. Empty frames (two delimiters in a
//!   row) are ignored.
//! * Decoding is strict: a delimiter that arrives while a COBS code byte still promises data
//!   bytes ends the frame as [`FrameError::Truncated`].
//! * A frame that grows past the buffer is [`FrameError::TooLong`], and everything up to the
//!   next delimiter is discarded: nothing can be smuggled out of the tail of an oversized run.
//! * A complete frame shorter than header + CRC is [`FrameError::TooShort`]; a CRC mismatch is
//!   [`FrameError::BadCrc`].
//!
//! COBS is written here rather than taken from the `cobs` crate because the endpoint needs a
//! decoder that owns its buffer (the crate's streaming decoder borrows it, which cannot live
//! inside the endpoint without self-reference), these exact strict/discard rules, and an
//! encoder that streams from several slices (header, payload, CRC) without first copying them
//! together.

use crc::{Crc, CRC_32_ISCSI};

/// CRC-32C (Castagnoli), the checksum of every frame. Check value of "123456789": 0xE3069283.
pub(crate) const CRC32C: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

/// Bytes of CRC trailer in every frame.
pub(crate) const CRC_LEN: usize = 4;

/// Smallest valid decoded frame: one header byte and the CRC.
pub(crate) const MIN_FRAME: usize = 1 + CRC_LEN;

/// The delimiter byte between frames.
pub(crate) const DELIMITER: u8 = 0x00;

/// Largest number of wire bytes a decoded frame of `len` bytes can take, both delimiters
/// included: one COBS code byte per 254 data bytes, one more, and two delimiters.
pub const fn max_encoded_len(len: usize) -> usize {
    len + len / 254 + 1 + 2
}

/// Why a run of bytes between delimiters was not a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) enum FrameError {
    /// A COBS code byte pointed past the delimiter that ended the frame.
    Truncated,
    /// The frame did not fit the receive buffer; bytes up to the next delimiter are dropped.
    TooLong,
    /// Shorter than a header byte plus the CRC.
    TooShort,
    /// The CRC-32C trailer did not match.
    BadCrc,
}

/// What one fed byte did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fed {
    /// Nothing to report.
    Nothing,
    /// This byte began a new frame (the receive deadline starts now).
    Started,
    /// A valid frame of this many bytes (CRC excluded) is in the buffer.
    Frame(usize),
    /// A broken frame ended (or began to be discarded) here.
    Error(FrameError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Between frames: the last byte was a delimiter.
    Idle,
    /// Inside a frame.
    InFrame,
    /// Dropping bytes until the next delimiter.
    Discard,
}

/// Byte-at-a-time COBS decoder with a CRC check, owning an `N`-byte frame buffer.
#[derive(Debug)]
pub(crate) struct Decoder<const N: usize> {
    buf: [u8; N],
    len: usize,
    state: State,
    /// Data bytes still promised by the current COBS code byte.
    remaining: u8,
    /// Whether the current block ends in an implied zero (code byte below 0xFF).
    zero_after: bool,
}

impl<const N: usize> Decoder<N> {
    pub(crate) const fn new() -> Self {
        Decoder {
            buf: [0; N],
            len: 0,
            state: State::Idle,
            remaining: 0,
            zero_after: false,
        }
    }

    /// True while part of a frame has been received.
    pub(crate) fn in_frame(&self) -> bool {
        self.state == State::InFrame
    }

    /// Abandons a partial frame and drops bytes until the next delimiter.
    pub(crate) fn discard(&mut self) {
        self.state = State::Discard;
        self.len = 0;
    }

    /// The body of the last complete frame (CRC excluded), valid until the next `feed`.
    pub(crate) fn frame(&self, len: usize) -> &[u8] {
        self.buf.get(..len).unwrap_or(&[])
    }

    fn push(&mut self, byte: u8) -> bool {
        match self.buf.get_mut(self.len) {
            Some(slot) => {
                *slot = byte;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// Feeds one byte from the link.
    pub(crate) fn feed(&mut self, byte: u8) -> Fed {
        if byte == DELIMITER {
            let was = self.state;
            self.state = State::Idle;
            return match was {
                State::Idle | State::Discard => Fed::Nothing,
                State::InFrame if self.remaining != 0 => Fed::Error(FrameError::Truncated),
                State::InFrame => self.finish(),
            };
        }
        match self.state {
            State::Discard => Fed::Nothing,
            State::Idle => {
                self.state = State::InFrame;
                self.len = 0;
                self.code(byte);
                Fed::Started
            }
            State::InFrame if self.remaining == 0 => {
                if self.zero_after && !self.push(0) {
                    self.discard();
                    return Fed::Error(FrameError::TooLong);
                }
                self.code(byte);
                Fed::Nothing
            }
            State::InFrame => {
                if !self.push(byte) {
                    self.discard();
                    return Fed::Error(FrameError::TooLong);
                }
                self.remaining -= 1;
                Fed::Nothing
            }
        }
    }

    fn code(&mut self, code: u8) {
        self.remaining = code - 1; // code != 0: delimiters never reach here
        self.zero_after = code != 0xff;
    }

    fn finish(&mut self) -> Fed {
        // The implied zero after the last block is the frame end, not data.
        let Some(body_len) = self.len.checked_sub(CRC_LEN) else {
            return Fed::Error(FrameError::TooShort);
        };
        if self.len < MIN_FRAME {
            return Fed::Error(FrameError::TooShort);
        }
        let (body, trailer) = self.buf.split_at(body_len);
        let mut crc = [0u8; CRC_LEN];
        for (dst, src) in crc.iter_mut().zip(trailer) {
            *dst = *src;
        }
        if CRC32C.checksum(body) != u32::from_le_bytes(crc) {
            return Fed::Error(FrameError::BadCrc);
        }
        Fed::Frame(body_len)
    }
}

/// Encodes one frame made of `parts` (concatenated), appending its CRC, COBS-encoding it and
/// surrounding it with delimiters. Bytes go to `out` one at a time, in order.
pub(crate) fn encode_frame(parts: &[&[u8]], mut out: impl FnMut(u8)) {
    let mut digest = CRC32C.digest();
    for part in parts {
        digest.update(part);
    }
    let crc = digest.finalize().to_le_bytes();
    let input = Parts { parts, crc: &crc };
    let total = input.len();

    out(DELIMITER);
    let mut pos = 0;
    loop {
        let run = (pos..total.min(pos + 254))
            .take_while(|&i| input.at(i) != 0)
            .count();
        if run == 254 {
            out(0xff);
        } else {
            out(run as u8 + 1);
        }
        for i in pos..pos + run {
            out(input.at(i));
        }
        pos += run;
        if pos == total {
            break;
        }
        if run < 254 {
            pos += 1; // the zero this block's code byte stands for
        }
    }
    out(DELIMITER);
}

/// Several slices and a CRC read as one sequence.
struct Parts<'a> {
    parts: &'a [&'a [u8]],
    crc: &'a [u8; CRC_LEN],
}

impl Parts<'_> {
    fn len(&self) -> usize {
        self.parts.iter().map(|p| p.len()).sum::<usize>() + CRC_LEN
    }

    fn at(&self, mut i: usize) -> u8 {
        for part in self.parts {
            match part.get(i) {
                Some(&b) => return b,
                None => i -= part.len(),
            }
        }
        self.crc.get(i).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    extern crate std;
    use std::vec::Vec;

    fn encode(parts: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_frame(parts, |b| v.push(b));
        v
    }

    fn decode_all<const N: usize>(bytes: &[u8]) -> Vec<Result<Vec<u8>, FrameError>> {
        let mut d = Decoder::<N>::new();
        let mut out = Vec::new();
        for &b in bytes {
            match d.feed(b) {
                Fed::Frame(n) => out.push(Ok(d.frame(n).to_vec())),
                Fed::Error(e) => out.push(Err(e)),
                _ => {}
            }
        }
        out
    }

    #[test]
    fn crc32c_check_value() {
        assert_eq!(CRC32C.checksum(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn zeros_and_long_runs_round_trip() {
        for body in [
            Vec::from([0u8]),
            Vec::from([0u8, 0]),
            (1..=254u8).collect::<Vec<_>>(),
            (0..600).map(|i| (i % 255 + 1) as u8).collect(),
            (0..600).map(|i| (i % 7) as u8).collect(),
        ] {
            let wire = encode(&[&body]);
            assert!(wire.len() <= max_encoded_len(body.len() + CRC_LEN));
            assert_eq!(wire.iter().filter(|&&b| b == 0).count(), 2);
            assert_eq!(decode_all::<1024>(&wire), [Ok(body)]);
        }
    }

    #[test]
    fn strict_and_discarding() {
        // Code byte 0x05 promises 4 bytes but the delimiter comes after 2.
        assert_eq!(
            decode_all::<64>(&[0, 5, 1, 2, 0]),
            [Err(FrameError::Truncated)]
        );
        assert_eq!(decode_all::<64>(&[0, 2, 1, 0]), [Err(FrameError::TooShort)]);
        // An oversized run hides a valid frame in its tail: it must not come out.
        let inner = encode(&[b"hi"]);
        let mut smuggle = Vec::from([0u8]);
        smuggle.extend(core::iter::repeat_n(0x11u8, 40));
        smuggle.extend(&inner[1..inner.len() - 1]); // no delimiter before the inner frame
        smuggle.push(0);
        smuggle.extend(&inner);
        let got = decode_all::<16>(&smuggle);
        assert_eq!(got, [Err(FrameError::TooLong), Ok(b"hi".to_vec())]);
    }

    proptest! {
        #[test]
        fn round_trip(parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..4)) {
            let slices: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
            let joined: Vec<u8> = parts.concat();
            prop_assume!(!joined.is_empty()); // a frame has at least its header byte
            let wire = encode(&slices);
            prop_assert!(wire.len() <= max_encoded_len(joined.len() + CRC_LEN));
            prop_assert_eq!(decode_all::<1200>(&wire), [Ok(joined)]);
        }

        #[test]
        fn garbage_never_wedges(garbage in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut stream = garbage.clone();
            stream.extend(encode(&[b"after garbage"]));
            let got = decode_all::<64>(&stream);
            prop_assert_eq!(got.last(), Some(&Ok(b"after garbage".to_vec())));
        }
    }
}
