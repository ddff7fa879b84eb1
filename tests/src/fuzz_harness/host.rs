//! The host runtime (`serve_link` with the generated glue of the calc service) over a
//! socket pair, fed by an arbitrary peer.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use wirecall::__fuzz::parse_frame;
use wirecall_adapters::host::{serve_link, Link, ServeOptions};

use crate::calc::{calc, Calc};
use crate::raw;

/// What the peer sends next.
#[derive(Arbitrary, Debug)]
enum Op {
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A valid frame with this body.
    Frame(Vec<u8>),
    /// A request for a calc procedure.
    Call {
        id: u16,
        procedure: u8,
        args: Vec<u8>,
    },
    /// An Open (a stream, or a call nested `depth` deep).
    Open {
        id: u16,
        procedure: u8,
        mode: u8,
        depth: u8,
        args: Vec<u8>,
    },
    /// A caller's item.
    Item {
        id: u16,
        seq: u8,
        item: Vec<u8>,
    },
    /// Credit for the server's items.
    Credit {
        id: u16,
        items: u8,
    },
    /// The end of the caller's items.
    End {
        id: u16,
        seq: u8,
    },
    Cancel {
        id: u16,
    },
    Ping,
}

fn body(head: u8, id: u16, rest: &[&[u8]]) -> Vec<u8> {
    let mut b = vec![head];
    b.extend(raw::varint(id.into()));
    for r in rest {
        b.extend_from_slice(r);
    }
    b
}

/// How long a server may take to answer an input and end once the peer has gone: the
/// fuzzer's inputs are small, so anything near it is a hang.
const LIMIT: Duration = Duration::from_secs(10);

/// Input: whether the peer's `Hello` offers streams, then a list of `Op`s. The peer
/// writes them all, shuts its side down, and reads until the server closes the link.
///
/// Oracles: no panic in the server; it ends within `LIMIT` once the peer has gone (no
/// hang); everything it sends is a valid frame that the core's parser accepts; every Reply
/// answers a request (Request or Open) the peer made with that id, and no id gets more
/// replies than it was requested.
pub fn host(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(streams) = bool::arbitrary(&mut u) else {
        return;
    };
    let Ok(ops) = Vec::<Op>::arbitrary_take_rest(u) else {
        return;
    };
    // A host's Hello: version 1, frames of 4 KiB, 32 calls each way, keepalive 1 s, no
    // schema; with streams, a window of 8.
    let mut hello = vec![0x01, 1, 1, if streams { 2 } else { 0 }];
    for v in [4096, 32, 32, 1000] {
        hello.extend(raw::varint(v));
    }
    hello.extend([0, 0, 0, 0]);
    if streams {
        hello.push(8);
    }
    let mut input = raw::frame(&hello);
    for op in ops.into_iter().take(64) {
        let b = match op {
            Op::Bytes(b) => {
                input.extend(b);
                continue;
            }
            Op::Frame(b) => b,
            Op::Call {
                id,
                procedure,
                args,
            } => raw::request(id.into(), procedure.into(), &args),
            Op::Open {
                id,
                procedure,
                mode,
                depth,
                args,
            } => body(
                0x08,
                id,
                &[
                    &raw::varint(procedure.into()),
                    &[mode % 4, depth % 4],
                    &args,
                ],
            ),
            Op::Item { id, seq, item } => body(0x09, id, &[&[seq], &item]),
            Op::Credit { id, items } => body(0x0a, id, &[&[items]]),
            Op::End { id, seq } => body(0x0b, id, &[&[seq]]),
            Op::Cancel { id } => body(0x05, id, &[]),
            Op::Ping => vec![0x06],
        };
        input.extend(raw::frame(&b));
    }

    // The requests the peer made, as the core parses what it sent.
    let mut requested: BTreeMap<u32, usize> = BTreeMap::new();
    for frame in raw::unframe(&input).into_iter().flatten() {
        if let Ok(f) = parse_frame(&frame) {
            if matches!(f.kind(), 2 | 8) {
                *requested
                    .entry(f.id().expect("requests have ids"))
                    .or_default() += 1;
            }
        }
    }

    let (mut peer, there) = UnixStream::pair().expect("a socket pair");
    let link = Link::from_unix(there).expect("a link");
    let server = std::thread::spawn(move || {
        serve_link(link, calc::serve(Calc::default()), ServeOptions::default())
    });
    peer.set_read_timeout(Some(LIMIT)).expect("a read timeout");
    peer.set_write_timeout(Some(LIMIT))
        .expect("a write timeout");
    // The server may stop reading (backpressure) until its answers are read: write from
    // another thread while this one reads.
    let mut writer = peer.try_clone().expect("a second handle");
    let feeder = std::thread::spawn(move || {
        let _ = writer.write_all(&input);
        let _ = writer.shutdown(Shutdown::Write);
    });
    let mut output = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match peer.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => output.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("the server did not end within {LIMIT:?} of the peer leaving: {e}"),
        }
    }
    feeder.join().expect("the feeder ran");
    server.join().expect("the server did not panic");

    let mut replies: BTreeMap<u32, usize> = BTreeMap::new();
    for frame in raw::unframe(&output) {
        let frame = frame.unwrap_or_else(|| panic!("the server sent a broken frame: {output:?}"));
        let f = parse_frame(&frame)
            .unwrap_or_else(|e| panic!("the server sent {frame:?}, which does not parse: {e:?}"));
        if f.kind() == 3 {
            let id = f.id().expect("replies have ids");
            let n = replies.entry(id).or_default();
            *n += 1;
            assert!(
                *n <= requested.get(&id).copied().unwrap_or(0),
                "reply {n} to id {id}, requested {:?} times",
                requested.get(&id)
            );
        }
    }
}
