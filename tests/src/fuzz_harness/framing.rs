//! The frame decoder alone, on arbitrary bytes in arbitrary chunkings.

use wirecall::__fuzz::{Fed, FrameDecoder, FrameFault};

use crate::raw;

/// The decoder's buffer; the limit in use is chosen by the input.
const N: usize = 256;

/// What a decoder reported for one run of bytes between delimiters.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Frame(Vec<u8>),
    Error(FrameFault),
}

/// Feeds `stream` through `feed_slice` in chunks of the given sizes (cycled).
fn chunked(limit: usize, stream: &[u8], sizes: &[usize]) -> Vec<Outcome> {
    let mut d = FrameDecoder::<N>::new(limit);
    let mut out = Vec::new();
    let mut rest = stream;
    let mut k = 0;
    while !rest.is_empty() {
        let size = sizes
            .get(k % sizes.len().max(1))
            .copied()
            .unwrap_or(rest.len());
        k += 1;
        let (mut chunk, tail) = rest.split_at(size.clamp(1, rest.len()));
        rest = tail;
        while !chunk.is_empty() {
            let (n, fed) = d.feed_slice(chunk);
            // The bulk path takes at least one byte, and never more than it was given.
            assert!(
                n >= 1 && n <= chunk.len(),
                "feed_slice took {n} of {}",
                chunk.len()
            );
            chunk = &chunk[n..];
            record(&d, fed, limit, &mut out);
        }
    }
    out
}

/// Feeds `stream` one byte at a time through `feed`.
fn bytewise(limit: usize, stream: &[u8]) -> Vec<Outcome> {
    let mut d = FrameDecoder::<N>::new(limit);
    let mut out = Vec::new();
    for &b in stream {
        let fed = d.feed(b);
        record(&d, fed, limit, &mut out);
    }
    assert!(d.is_idle(), "the stream ends with a delimiter");
    out
}

fn record(d: &FrameDecoder<N>, fed: Fed, limit: usize, out: &mut Vec<Outcome>) {
    match fed {
        Fed::Frame(len) => {
            // A frame within the limit, CRC excluded, and at least a header byte.
            assert!(
                len >= 1 && len + 4 <= limit.min(N),
                "frame of {len} bytes, limit {limit}"
            );
            let body = d.frame(len);
            assert_eq!(body.len(), len);
            out.push(Outcome::Frame(body.to_vec()));
        }
        Fed::Error(e) => out.push(Outcome::Error(e)),
        Fed::Nothing | Fed::Started => {}
    }
}

/// Input: a limit byte, a chunk-count byte and that many chunk sizes, then the stream. Some
/// of the stream's runs between zeros are replaced by valid frames of themselves, so that
/// the fuzzer reaches whole frames without guessing CRCs.
///
/// Oracles: no panic; every frame within the limit; the byte path, the bulk path on the
/// whole input, and the bulk path in the chosen chunks report the same frames and the same
/// errors in the same order; and those agree with the plain reference decoder
/// (`raw::unframe`): one outcome per run between delimiters, a frame exactly where the
/// reference finds a valid one that fits the limit.
pub fn framing(data: &[u8]) {
    let [limit, nchunks, rest @ ..] = data else {
        return;
    };
    let limit = 5 + usize::from(*limit) % (N - 4);
    let nchunks = usize::from(*nchunks % 16).min(rest.len());
    let (sizes, raw_stream) = rest.split_at(nchunks);
    let sizes: Vec<usize> = sizes.iter().map(|&s| usize::from(s)).collect();

    // Runs that begin with 0xfe become a frame of the rest of the run (framed here).
    let mut stream = Vec::new();
    for (i, run) in raw_stream.split(|&b| b == 0).enumerate() {
        if i > 0 {
            stream.push(0);
        }
        match run.split_first() {
            Some((0xfe, body)) if !body.is_empty() => stream.extend(raw::frame(body)),
            _ => stream.extend_from_slice(run),
        }
    }
    // A final delimiter, so that every run has ended.
    stream.push(0);

    let one = bytewise(limit, &stream);
    let whole = chunked(limit, &stream, &[]);
    let pieces = chunked(limit, &stream, &sizes);
    assert_eq!(one, whole, "byte path and bulk path disagree");
    assert_eq!(one, pieces, "bulk path in chunks {sizes:?} disagrees");

    let reference = raw::unframe(&stream);
    assert_eq!(
        one.len(),
        reference.len(),
        "one outcome per run between delimiters"
    );
    for (got, want) in one.iter().zip(&reference) {
        match (got, want) {
            (Outcome::Frame(g), Some(w)) => assert_eq!(g, w),
            (Outcome::Error(FrameFault::TooLong), Some(w)) => {
                assert!(
                    w.len() + 4 > limit,
                    "a {}-byte frame refused as too long",
                    w.len()
                )
            }
            (Outcome::Error(_), None) => {}
            (got, want) => panic!("decoder: {got:?}, reference: {want:?}"),
        }
    }
}
