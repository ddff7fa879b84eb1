//! Internals exposed to the fuzz targets and to the test that replays their corpus
//! (`wirecall-tests`'s `fuzz_harness`). **Not API**: hidden from the docs, no stability
//! promise, may change in any release.
//!
//! Always compiled, never behind a feature (a feature would change what is built), and it
//! changes no behaviour: every item here is a thin wrapper that calls exactly what the
//! endpoint calls, so the fuzzers reach the frame decoder and the message parsers directly,
//! without going through a handshake or guessing CRCs.

use crate::framing::{self, Decoder, FrameError};
use crate::wire::{self, Frame, ParseError};
use crate::Hello;

/// Why a run of bytes between delimiters was not a frame (the core's `FrameError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameFault {
    /// A COBS code byte pointed past the delimiter that ended the frame.
    Truncated,
    /// The frame did not fit the decoder's limit.
    TooLong,
    /// Shorter than a header byte and the CRC.
    TooShort,
    /// The CRC-32C trailer did not match.
    BadCrc,
}

impl From<FrameError> for FrameFault {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::Truncated => FrameFault::Truncated,
            FrameError::TooLong => FrameFault::TooLong,
            FrameError::TooShort => FrameFault::TooShort,
            FrameError::BadCrc => FrameFault::BadCrc,
        }
    }
}

/// What the decoder reported for the last byte it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fed {
    /// Nothing to report.
    Nothing,
    /// A frame began.
    Started,
    /// A valid frame of this many bytes (CRC excluded) is in the buffer.
    Frame(usize),
    /// A broken frame ended, or began to be discarded.
    Error(FrameFault),
}

impl From<framing::Fed> for Fed {
    fn from(f: framing::Fed) -> Self {
        match f {
            framing::Fed::Nothing => Fed::Nothing,
            framing::Fed::Started => Fed::Started,
            framing::Fed::Frame(n) => Fed::Frame(n),
            framing::Fed::Error(e) => Fed::Error(e.into()),
        }
    }
}

/// The endpoint's COBS + CRC-32C decoder with an `N`-byte buffer, of which it uses at most
/// `limit` bytes.
#[derive(Debug)]
pub struct FrameDecoder<const N: usize>(Decoder<N>);

impl<const N: usize> FrameDecoder<N> {
    /// A decoder between frames.
    pub const fn new(limit: usize) -> Self {
        FrameDecoder(Decoder::new(limit))
    }

    /// The one-byte path (what `handle_input` uses for a UART's single bytes).
    pub fn feed(&mut self, byte: u8) -> Fed {
        self.0.feed(byte).into()
    }

    /// The bulk path: takes bytes until one has something to report; returns how many it
    /// took and what the last did.
    pub fn feed_slice(&mut self, input: &[u8]) -> (usize, Fed) {
        let (n, fed) = self.0.feed_slice(input);
        (n, fed.into())
    }

    /// The body of the frame just reported as `Fed::Frame(len)`.
    pub fn frame(&self, len: usize) -> &[u8] {
        self.0.frame(len)
    }

    /// True between frames.
    pub fn is_idle(&self) -> bool {
        self.0.is_idle()
    }
}

/// The core's varint decoder: the value and the bytes it used.
pub fn varint_decode(input: &[u8]) -> Option<(u32, usize)> {
    crate::varint::decode(input)
}

/// The core's varint encoder: the bytes used in `out`, `None` if it is too short.
pub fn varint_encode(value: u32, out: &mut [u8]) -> Option<usize> {
    crate::varint::encode(value, out)
}

/// The largest `Hello` body [`hello_encode`] writes.
pub const HELLO_MAX: usize = wire::HELLO_MAX;

/// Parses a `Hello` body (header byte excluded), as the handshake does.
pub fn hello_parse(body: &[u8]) -> Option<Hello> {
    Hello::parse(body)
}

/// Writes a `Hello` body as the endpoint sends it; returns its length.
pub fn hello_encode(hello: &Hello, out: &mut [u8; HELLO_MAX]) -> usize {
    hello.encode(out)
}

/// Why a frame with a valid CRC did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseFault {
    /// A field was missing or malformed.
    Malformed,
    /// An unknown kind with the must-understand bit.
    MustUnderstand,
}

/// A parsed frame body, as the endpoint sees it before acting on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameView<'a>(Frame<&'a [u8]>);

/// Parses a frame body (CRC removed) with the endpoint's parser.
pub fn parse_frame(body: &[u8]) -> Result<FrameView<'_>, ParseFault> {
    Frame::parse(body).map(FrameView).map_err(|e| match e {
        ParseError::Malformed => ParseFault::Malformed,
        ParseError::MustUnderstand => ParseFault::MustUnderstand,
    })
}

impl<'a> FrameView<'a> {
    /// The kind number the parser chose (0 for an ignorable unknown kind).
    pub fn kind(&self) -> u8 {
        match self.0 {
            Frame::Hello { .. } => 1,
            Frame::Request { .. } => 2,
            Frame::Reply { .. } => 3,
            Frame::Error { .. } => 4,
            Frame::Cancel { .. } => 5,
            Frame::Ping { .. } => 6,
            Frame::Close { .. } => 7,
            Frame::Open { .. } => 8,
            Frame::Item { packed: false, .. } => 9,
            Frame::Credit { .. } => 10,
            Frame::End { .. } => 11,
            Frame::Item { packed: true, .. } => 12,
            Frame::Release { .. } | Frame::Revoke { .. } => 13,
            Frame::ManifestRequest { .. } | Frame::ManifestPiece { .. } => 14,
            Frame::Invoke { .. } => 16,
            Frame::Ignorable => 0,
        }
    }

    /// The call id, for the kinds that carry one.
    pub fn id(&self) -> Option<u32> {
        match self.0 {
            Frame::Request { id, .. }
            | Frame::Reply { id, .. }
            | Frame::Error { id, .. }
            | Frame::Cancel { id, .. }
            | Frame::Open { id, .. }
            | Frame::Item { id, .. }
            | Frame::Credit { id, .. }
            | Frame::End { id, .. }
            | Frame::Invoke { id, .. } => Some(id),
            _ => None,
        }
    }

    /// The variable-length tail (arguments, payload, detail, item(s), manifest bytes, the
    /// `Hello` body), for the kinds that have one.
    pub fn tail(&self) -> Option<&'a [u8]> {
        match self.0 {
            Frame::Hello { body: t, .. }
            | Frame::Request { args: t, .. }
            | Frame::Reply { payload: t, .. }
            | Frame::Error { detail: t, .. }
            | Frame::Open { args: t, .. }
            | Frame::Item { item: t, .. }
            | Frame::Invoke { args: t, .. }
            | Frame::Revoke { reason: t, .. }
            | Frame::ManifestPiece { bytes: t, .. } => Some(t),
            _ => None,
        }
    }

    /// For a `ManifestPiece`: its `total` and `offset`.
    pub fn manifest_piece(&self) -> Option<(u32, u32)> {
        match self.0 {
            Frame::ManifestPiece { total, offset, .. } => Some((total, offset)),
            _ => None,
        }
    }
}

/// The kind bits of a header byte.
pub const KIND_MASK: u8 = wire::KIND_MASK;

/// The number of items in an Items frame's tail, as the endpoint counts them before
/// delivering any (`None`: malformed or empty).
pub fn count_packed(tail: &[u8]) -> Option<u16> {
    crate::endpoint::count_packed(Some(tail))
}

/// The packed item of `frame` that starts at `at`, as the endpoint delivers it: the
/// `(start, end)` of its bytes in `frame` (the next item starts at `end`).
pub fn packed_item(frame: &[u8], at: usize) -> (usize, usize) {
    crate::endpoint::packed_item(frame, at)
}
