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

/// The tables of reflected CRC-32C (polynomial 0x82F63B78), built at compile time: table 0
/// is the classic byte-at-a-time table; table k gives the effect of a byte followed by k
/// zero bytes, which lets sixteen bytes be folded in at once ("slicing-by-16").
/// (Indexing is evaluated by the compiler: out of bounds would fail the build, not panic.)
#[allow(clippy::indexing_slicing)]
const CRC_TABLES: [[u32; 256]; 16] = {
    let mut t = [[0u32; 256]; 16];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = (crc >> 1) ^ if crc & 1 != 0 { 0x82F6_3B78 } else { 0 };
            bit += 1;
        }
        t[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 16 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    t
};

/// The byte-at-a-time table alone (1 KiB): what 32-bit targets keep in flash.
const CRC_TABLE: [u32; 256] = CRC_TABLES[0];

/// What CRC-32C gives over a frame followed by its own CRC (little-endian): a frame is
/// intact exactly when the CRC of all its decoded bytes equals this.
const CRC_RESIDUE: u32 = 0x4867_4BC7;

/// CRC-32C (Castagnoli), the checksum of every frame, continued over `data` from `crc`
/// (start with `!0`, finish with `!`). Check value of "123456789": 0xE3069283.
///
/// Written here (tables built at compile time) rather than taken from the `crc` crate: its
/// per-call set-up was most of the checksum's cost on the small frames of a call, and one
/// set of tables serves the encoder, the decoder and `schema_hash`. On 64-bit targets
/// (hosts) sixteen bytes are folded in at a time, with 16 KiB of tables; 32-bit targets
/// (microcontrollers) go byte by byte with the first 1 KiB table only, to spare flash. The
/// result is the same; a test checks both ways against each other.
#[inline]
pub(crate) fn crc32c_update(crc: u32, data: &[u8]) -> u32 {
    #[cfg(target_pointer_width = "64")]
    {
        crc32c_by16(crc, data)
    }
    #[cfg(not(target_pointer_width = "64"))]
    {
        crc32c_by1(crc, data)
    }
}

/// Byte at a time: about eight instructions per byte, 1 KiB of table.
#[allow(clippy::indexing_slicing)] // a `u8` index into a 256-entry table: never out of bounds
#[cfg_attr(target_pointer_width = "64", allow(dead_code))]
fn crc32c_by1(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = CRC_TABLE[usize::from(crc as u8 ^ b)] ^ (crc >> 8);
    }
    crc
}

/// Sixteen bytes at a time: about one and a half instructions per byte, 16 KiB of tables.
#[cfg_attr(not(target_pointer_width = "64"), allow(dead_code))]
fn crc32c_by16(mut crc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        let (lo, hi) = c.split_at(8); // `chunks_exact(16)`: both halves have eight bytes
        crc = fold8(lo, crc, 15) ^ fold8(hi, 0, 7);
    }
    // Frames are short, so their tail is often as long as the loop's body: one eight-byte
    // step before the byte loop keeps the tail under eight lookups.
    let rest = chunks.remainder();
    match rest.split_at_checked(8) {
        Some((eight, tail)) => crc32c_by1(fold8(eight, crc, 7), tail),
        None => crc32c_by1(crc, rest),
    }
}

/// The slicing-by-N step for eight bytes `c` (exactly eight) that stand `top + 1` bytes
/// from the end of the block: table `top - k` advances byte `k` past the block's end.
/// `crc` is folded into the first four bytes; pass 0 for a block's later halves.
#[inline(always)]
#[allow(clippy::indexing_slicing)] // `u8` indexes into 256-entry tables; `c` has eight bytes
#[cfg_attr(not(target_pointer_width = "64"), allow(dead_code))]
fn fold8(c: &[u8], crc: u32, top: usize) -> u32 {
    const T: [[u32; 256]; 16] = CRC_TABLES;
    let t = &T;
    let a = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) ^ crc;
    let b = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
    let byte = |x: u32, k: u32| ((x >> (8 * k)) & 0xff) as usize;
    t[top][byte(a, 0)]
        ^ t[top - 1][byte(a, 1)]
        ^ t[top - 2][byte(a, 2)]
        ^ t[top - 3][byte(a, 3)]
        ^ t[top - 4][byte(b, 0)]
        ^ t[top - 5][byte(b, 1)]
        ^ t[top - 6][byte(b, 2)]
        ^ t[top - 7][byte(b, 3)]
}

/// CRC-32C of `data`, usable in constants (for schema hashes).
#[allow(clippy::indexing_slicing)] // index below 256 into a 256-entry table
pub(crate) const fn crc32c_const(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    let mut i = 0;
    while i < data.len() {
        crc = CRC_TABLE[((crc as u8) ^ data[i]) as usize] ^ (crc >> 8);
        i += 1;
    }
    !crc
}

fn residue(data: &[u8]) -> u32 {
    !crc32c_update(!0, data)
}

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

/// Data runs at least this long are copied in bulk.
const BULK: usize = 16;

/// Streaming COBS decoder with a CRC check, owning an `N`-byte frame buffer, of which it
/// uses at most `limit` bytes.
///
/// [`feed_slice`](Self::feed_slice) takes any number of bytes and stops at the first one
/// that has something to report; inside a COBS block it copies runs of data bytes in bulk
/// (the search for a delimiter is `memchr`), so the work per byte does not grow with the
/// frame and is a few instructions plus the CRC.
#[derive(Debug)]
pub(crate) struct Decoder<const N: usize> {
    buf: [u8; N],
    len: usize,
    /// Largest decoded frame accepted (at most `N`).
    limit: usize,
    state: State,
    /// Data bytes still promised by the current COBS code byte.
    remaining: u8,
    /// Whether the current block ends in an implied zero (code byte below 0xFF).
    zero_after: bool,
}

// Decoding runs on what a peer sends: no arithmetic here may overflow or panic, whatever
// the input. Saturating where it is cheap; on the per-byte path wrapping (as fast as `+`),
// each with the check above it that keeps it from wrapping.
#[deny(clippy::arithmetic_side_effects)]
impl<const N: usize> Decoder<N> {
    pub(crate) const fn new(limit: usize) -> Self {
        Decoder {
            buf: [0; N],
            len: 0,
            limit: if limit < N { limit } else { N },
            state: State::Idle,
            remaining: 0,
            zero_after: false,
        }
    }

    /// True between frames (not inside one, not discarding).
    pub(crate) fn is_idle(&self) -> bool {
        matches!(self.state, State::Idle)
    }

    /// True while part of a frame has been received.
    pub(crate) fn in_frame(&self) -> bool {
        matches!(self.state, State::InFrame)
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
        if self.len >= self.limit {
            return false;
        }
        match self.buf.get_mut(self.len) {
            Some(slot) => {
                *slot = byte;
                self.len = self.len.wrapping_add(1); // < limit <= N: cannot wrap
                true
            }
            None => false,
        }
    }

    /// Feeds bytes from the link until one of them has something to report (a frame, an
    /// error, the start of a frame) or all are taken. Returns how many were taken and what
    /// the last of them did.
    #[inline]
    pub(crate) fn feed_slice(&mut self, input: &[u8]) -> (usize, Fed) {
        let mut i = 0;
        while let Some(&byte) = input.get(i) {
            if byte != DELIMITER {
                match self.state {
                    State::Discard => {
                        // Everything up to the next delimiter goes.
                        let rest = input.get(i..).unwrap_or(&[]);
                        i = i.saturating_add(memchr::memchr(DELIMITER, rest).unwrap_or(rest.len()));
                        continue;
                    }
                    State::Idle if input.len().saturating_sub(i) > MIN_FRAME.saturating_add(1) => {
                        // A frame starts here. If it also ends in `input`, decode it at once.
                        let rest = input.get(i..).unwrap_or(&[]);
                        if let Some(end) = memchr::memchr(DELIMITER, rest) {
                            let fed = self.decode_whole(rest.get(..end).unwrap_or(&[]));
                            return (i.saturating_add(end).saturating_add(1), fed);
                        }
                    }
                    State::InFrame if self.remaining > 0 => {
                        // A run of data bytes up to the block's end or a delimiter, copied
                        // at once (the byte-by-byte path costs several times more).
                        let room = self.limit.min(N).saturating_sub(self.len);
                        if room == 0 {
                            self.discard();
                            return (i.saturating_add(1), Fed::Error(FrameError::TooLong));
                        }
                        let want = (self.remaining as usize)
                            .min(input.len().saturating_sub(i))
                            .min(room);
                        let run =
                            self.copy_run(input.get(i..i.saturating_add(want)).unwrap_or(&[]));
                        // run <= remaining <= 254
                        self.remaining = self.remaining.saturating_sub(run as u8);
                        i = i.saturating_add(run);
                        continue;
                    }
                    _ => {}
                }
            }
            i = i.wrapping_add(1); // < input.len(): cannot wrap
            match self.feed(byte) {
                Fed::Nothing => {}
                other => return (i, other),
            }
        }
        (i, Fed::Nothing)
    }

    /// Decodes a whole encoded frame (the bytes between two delimiters, none of them zero),
    /// with exactly the outcomes the byte-at-a-time path would give. The decoder is idle
    /// before and after.
    fn decode_whole(&mut self, enc: &[u8]) -> Fed {
        let limit = self.limit.min(N);
        self.len = 0;
        let mut p = 0;
        while let Some(&code) = enc.get(p) {
            let n = usize::from(code).saturating_sub(1); // no zeros in `enc`
                                                         // The bytes the code promises, as far as the frame goes: they are taken (and may
                                                         // overflow) before the delimiter shows that more were promised.
            let start = p.saturating_add(1);
            let data = enc
                .get(start..start.saturating_add(n).min(enc.len()))
                .unwrap_or(&[]);
            let room = limit.saturating_sub(self.len);
            let end = self.len.saturating_add(data.len().min(room));
            let Some(dst) = self.buf.get_mut(self.len..end) else {
                return Fed::Error(FrameError::TooLong);
            };
            if data.len() > room {
                return Fed::Error(FrameError::TooLong);
            }
            crate::bytes::copy_prefix(dst, data);
            self.len = self.len.saturating_add(data.len());
            if data.len() < n {
                return Fed::Error(FrameError::Truncated);
            }
            p = start.saturating_add(n);
            // The implied zero, unless the block is full or the frame's last.
            if code != 0xff && p < enc.len() && !self.push(0) {
                return Fed::Error(FrameError::TooLong);
            }
        }
        self.finish()
    }

    /// Appends the bytes of `src` up to its first delimiter (there is room for all of
    /// them); returns how many. Long runs use `memchr` and one copy, short ones a loop that
    /// does both in one pass.
    #[inline]
    fn copy_run(&mut self, src: &[u8]) -> usize {
        let Some(dst) = self
            .buf
            .get_mut(self.len..self.len.saturating_add(src.len()))
        else {
            return 0;
        };
        let run = if src.len() >= BULK {
            let run = memchr::memchr(DELIMITER, src).unwrap_or(src.len());
            if let (Some(d), Some(s)) = (dst.get_mut(..run), src.get(..run)) {
                crate::bytes::copy_prefix(d, s);
            }
            run
        } else {
            let mut run: usize = 0;
            for (d, &s) in dst.iter_mut().zip(src) {
                if s == DELIMITER {
                    break;
                }
                *d = s;
                run = run.wrapping_add(1); // <= src.len(): cannot wrap
            }
            run
        };
        self.len = self.len.saturating_add(run);
        run
    }

    /// True if `byte` would start a frame (a non-delimiter between frames) or end one (a
    /// delimiter inside one): the two bytes that can lead to an event.
    #[inline]
    pub(crate) fn starts_or_ends_frame(&self, byte: u8) -> bool {
        match self.state {
            State::Idle => byte != DELIMITER,
            State::InFrame => byte == DELIMITER,
            State::Discard => false,
        }
    }

    /// Feeds one byte from the link.
    #[inline]
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
                self.remaining = self.remaining.wrapping_sub(1); // > 0 in this arm
                Fed::Nothing
            }
        }
    }

    fn code(&mut self, code: u8) {
        self.remaining = code.wrapping_sub(1); // code != 0: delimiters never reach here
        self.zero_after = code != 0xff;
    }

    #[inline(never)]
    fn finish(&mut self) -> Fed {
        // The implied zero after the last block is the frame end, not data.
        let Some(body_len) = self.len.checked_sub(CRC_LEN) else {
            return Fed::Error(FrameError::TooShort);
        };
        if self.len < MIN_FRAME {
            return Fed::Error(FrameError::TooShort);
        }
        if residue(self.buf.get(..self.len).unwrap_or(&[])) != CRC_RESIDUE {
            return Fed::Error(FrameError::BadCrc);
        }
        Fed::Frame(body_len)
    }
}

/// Where an encoded frame goes: bytes appended in order, and a byte reserved to be filled in
/// later (a COBS code byte is known only at the end of its block).
pub(crate) trait FrameSink {
    /// Appends bytes.
    fn put(&mut self, bytes: &[u8]);
    /// Appends a byte to be set later; returns where it is.
    fn reserve(&mut self) -> usize;
    /// Sets a reserved byte.
    fn fill(&mut self, at: usize, byte: u8);
}

/// Encodes one frame made of `parts` (concatenated), appending its CRC, COBS-encoding it and
/// surrounding it with delimiters, into `out`.
///
/// Runs of non-zero bytes are found with `memchr` and appended whole, so the work per byte
/// is about that of a copy, whatever the number of parts. The output is byte for byte the
/// reference algorithm of docs/PROTOCOL.md section 2.1 (no empty block after a final full
/// one; a final zero gives a final `01` block).
pub(crate) fn encode_frame(parts: &[&[u8]], out: &mut impl FrameSink) {
    let crc = !parts.iter().fold(!0, |crc, part| crc32c_update(crc, part));
    let crc = crc.to_le_bytes();
    out.put(&[DELIMITER]);
    // The open block: where its code byte goes and how many data bytes it has. None after
    // a full block, until a byte shows that another block follows.
    let mut open: Option<(usize, usize)> = Some((out.reserve(), 0));
    for chunk in parts.iter().copied().chain(core::iter::once(&crc[..])) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let (at, run) = match open {
                Some(block) => block,
                None => (out.reserve(), 0),
            };
            let room = 254 - run;
            let take = rest.len().min(room);
            let seg = rest.get(..take).unwrap_or(&[]);
            match memchr::memchr(DELIMITER, seg) {
                Some(zero) => {
                    // The block ends with the zero it stands for; another always follows.
                    out.put(seg.get(..zero).unwrap_or(&[]));
                    out.fill(at, (run + zero + 1) as u8);
                    open = Some((out.reserve(), 0));
                    rest = rest.get(zero + 1..).unwrap_or(&[]);
                }
                None => {
                    out.put(seg);
                    rest = rest.get(take..).unwrap_or(&[]);
                    if run + take == 254 {
                        out.fill(at, 0xff);
                        open = None;
                    } else {
                        open = Some((at, run + take));
                    }
                }
            }
        }
    }
    if let Some((at, run)) = open {
        out.fill(at, (run + 1) as u8);
    }
    out.put(&[DELIMITER]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    extern crate std;
    use std::vec::Vec;

    impl FrameSink for Vec<u8> {
        fn put(&mut self, bytes: &[u8]) {
            self.extend_from_slice(bytes);
        }
        fn reserve(&mut self) -> usize {
            self.push(0);
            self.len() - 1
        }
        fn fill(&mut self, at: usize, byte: u8) {
            self[at] = byte;
        }
    }

    fn encode(parts: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_frame(parts, &mut v);
        v
    }

    /// The reference algorithm of docs/PROTOCOL.md, written as plainly as it is there.
    fn encode_plain(data: &[u8]) -> Vec<u8> {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = (crc >> 1) ^ if crc & 1 != 0 { 0x82F6_3B78 } else { 0 };
            }
        }
        let mut d = data.to_vec();
        d.extend_from_slice(&(!crc).to_le_bytes());
        let mut out = std::vec![0u8];
        let mut pos = 0;
        loop {
            let run = d[pos..].iter().take(254).take_while(|&&b| b != 0).count();
            out.push(if run == 254 { 0xff } else { run as u8 + 1 });
            out.extend_from_slice(&d[pos..pos + run]);
            pos += run;
            if pos == d.len() {
                break;
            }
            if run < 254 {
                pos += 1;
            }
        }
        out.push(0);
        out
    }

    fn decode_all<const N: usize>(bytes: &[u8]) -> Vec<Result<Vec<u8>, FrameError>> {
        let mut d = Decoder::<N>::new(N);
        let mut out = Vec::new();
        for &b in bytes {
            match d.feed(b) {
                Fed::Frame(n) => out.push(Ok(d.frame(n).to_vec())),
                Fed::Error(e) => out.push(Err(e)),
                _ => {}
            }
        }
        // The bulk path, in one slice and in uneven chunks, reports exactly the same.
        for chunk in [bytes.len().max(1), 7, 1] {
            let mut d = Decoder::<N>::new(N);
            let mut bulk = Vec::new();
            for part in bytes.chunks(chunk) {
                let mut part = part;
                while !part.is_empty() {
                    let (n, fed) = d.feed_slice(part);
                    assert!(n > 0 && n <= part.len());
                    part = &part[n..];
                    match fed {
                        Fed::Frame(len) => bulk.push(Ok(d.frame(len).to_vec())),
                        Fed::Error(e) => bulk.push(Err(e)),
                        _ => {}
                    }
                }
            }
            assert_eq!(bulk, out, "chunks of {chunk}");
        }
        out
    }

    #[test]
    fn a_runtime_limit_below_the_buffer_is_enforced() {
        let wire = encode(&[&[7u8; 40]]);
        let mut d = Decoder::<64>::new(32);
        let (mut got, mut rest) = (Vec::new(), &wire[..]);
        while !rest.is_empty() {
            let (n, fed) = d.feed_slice(rest);
            rest = &rest[n..];
            got.push(fed);
        }
        assert!(got.contains(&Fed::Error(FrameError::TooLong)), "{got:?}");
        let mut d = Decoder::<64>::new(64);
        assert_eq!(d.feed_slice(&wire), (wire.len(), Fed::Frame(40)));
    }

    #[test]
    fn crc32c_check_value() {
        assert_eq!(residue(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c_const(b"123456789"), 0xE306_9283);
        assert_eq!(!crc32c_by1(!0, b"123456789"), 0xE306_9283);
        assert_eq!(!crc32c_by16(!0, b"123456789"), 0xE306_9283);
        let mut framed = b"123456789".to_vec();
        framed.extend_from_slice(&0xE306_9283u32.to_le_bytes());
        assert_eq!(residue(&framed), CRC_RESIDUE);
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
        /// Both ways of computing the CRC (the hosts' and the microcontrollers') agree.
        #[test]
        fn sixteen_bytes_at_a_time_is_byte_at_a_time(
            data in proptest::collection::vec(any::<u8>(), 0..300),
            start in any::<u32>(),
        ) {
            prop_assert_eq!(crc32c_by16(start, &data), crc32c_by1(start, &data));
            prop_assert_eq!(crc32c_update(start, &data), crc32c_by1(start, &data));
        }

        /// The bulk encoder writes exactly the reference algorithm's bytes, however the frame
        /// is split into parts (runs of 254 and zeros at block edges included).
        #[test]
        fn the_encoder_is_the_reference_algorithm(
            data in proptest::collection::vec(prop_oneof![Just(0u8), 1u8..=255, 1u8..=255], 1..800),
            cuts in proptest::collection::vec(0usize..800, 0..4),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort_unstable();
            let mut parts = Vec::new();
            let mut from = 0;
            for c in cuts {
                parts.push(&data[from..c]);
                from = c;
            }
            parts.push(&data[from..]);
            prop_assert_eq!(encode(&parts), encode_plain(&data));
        }

        #[test]
        fn round_trip(parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..4)) {
            let slices: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
            let joined: Vec<u8> = parts.concat();
            prop_assume!(!joined.is_empty()); // a frame has at least its header byte
            let wire = encode(&slices);
            prop_assert!(wire.len() <= max_encoded_len(joined.len() + CRC_LEN));
            prop_assert_eq!(decode_all::<1200>(&wire), [Ok(joined)]);
        }

        /// Whatever the bytes and the limit, the bulk and whole-frame paths report exactly
        /// what the byte-at-a-time path reports (`decode_all` compares them).
        #[test]
        fn every_path_agrees(
            pieces in proptest::collection::vec(
                prop_oneof![
                    proptest::collection::vec(any::<u8>(), 0..80).prop_map(|b| encode(&[&b])),
                    proptest::collection::vec(any::<u8>(), 0..40),
                    proptest::collection::vec(prop_oneof![Just(0u8), Just(0xffu8), 1u8..4], 0..20),
                ],
                0..12,
            ),
        ) {
            let stream: Vec<u8> = pieces.concat();
            let _ = decode_all::<64>(&stream);
            let _ = decode_all::<300>(&stream);
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
