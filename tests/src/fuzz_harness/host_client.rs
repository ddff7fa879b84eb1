//! The blocking host `Client` over a socket pair, its calls made from their own threads,
//! answered by an arbitrary server peer.
//!
//! The peer reads the client's `Hello` and answers it, waits until it has read every
//! request the calls can make in that session (a call that could start and does not is a
//! failure too), then writes a list of operations (raw bytes, frames, and answers, items,
//! ends, credit, errors for the calls it saw or for arbitrary ids, pings, restarts,
//! closes) and leaves. A thread reads everything the client writes the whole
//! time, so the client never waits on the peer to read. The oracles then hold every
//! outcome and every item the application got against the frames the peer really sent:
//! the client must never report an event no frame caused.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use wirecall::__fuzz::{hello_parse, parse_frame, varint_decode};
use wirecall::{Hello, Procedure, StreamMode, WireError};
use wirecall_adapters::host::{Client, ClientError, ClientOptions, Link};

use crate::calc::calc;
use crate::raw;

/// How long the client may take to end every call, and to let go of its link once
/// dropped, after the peer has gone: the runs are small, so anything near it is a hang.
const LIMIT: Duration = Duration::from_secs(10);

/// How long the peer waits for the client's `Hello`, then for the requests the calls can
/// make once the session is up. They come within milliseconds; a call that waits longer
/// did not start when it could (with [`KEEPALIVE`], no Ping comes to wake it).
const SETTLE: Duration = Duration::from_secs(5);

/// The client's keepalive: longer than a run. Its Pings are writes, and every write wakes
/// calls waiting to start; with them at 1 s (the default) a call the client forgot to
/// start when the session came up would only be late, not missing.
const KEEPALIVE: wirecall::Duration = wirecall::Duration::from_secs(10);

/// The deadline of every call (the stream `upto` has none). Runs end long before it, so
/// a `Timeout` is an event that needs a frame: a `DeadlineExceeded` from the peer.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The items the client stream sends (`total`'s `u32`s, each one byte of postcard).
const TOTAL_ITEMS: [&[u8]; 3] = [&[0x41], &[0x42], &[0x43]];

/// The calls the client makes, each from its own thread. Procedure, mode and arguments
/// differ between any two, so a request on the wire names its call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    /// `add(1, 2)`, untyped: whatever bytes the peer answers are the result.
    Add,
    /// `checksum([1, 2, 3])`, untyped.
    Checksum,
    /// `chars("fuzz")` through the generated client, which checks the schema hash of the
    /// handshake first and decodes the result.
    Chars,
    /// `upto(7)`, a server stream without a deadline, read to its end.
    Upto,
    /// `total`, a client stream: sends [`TOTAL_ITEMS`], then waits for the answer.
    Total,
}

impl Call {
    fn procedure(self) -> u32 {
        match self {
            Call::Add => 0,
            Call::Chars => 1,
            Call::Checksum => 2,
            Call::Upto => 4,
            Call::Total => 5,
        }
    }

    /// The Open mode byte of its request; `None` for a plain Request.
    fn mode(self) -> Option<u8> {
        match self {
            Call::Upto => Some(2),
            Call::Total => Some(1),
            _ => None,
        }
    }

    fn args(self) -> Vec<u8> {
        match self {
            Call::Add => vec![0x02, 0x04],
            Call::Checksum => vec![0x03, 1, 2, 3],
            Call::Chars => postcard::to_allocvec("fuzz").expect("a string encodes"),
            Call::Upto => vec![7],
            Call::Total => vec![],
        }
    }

    /// Whether the client sends it to a peer that said `hello`: a typed call only to a
    /// peer with calc's schema, streams only to a peer that speaks them.
    fn sent_to(self, hello: &PeerHello) -> bool {
        match self {
            Call::Chars => hello.schema() == calc::SCHEMA_HASH,
            Call::Upto | Call::Total => hello.window.is_some(),
            Call::Add | Call::Checksum => true,
        }
    }

    /// Makes the call, on the calling thread.
    fn run(self, client: &Client) -> Ran {
        let started = Instant::now();
        let (mut items, mut sent) = (Vec::new(), 0);
        let bytes = |r: Result<Vec<u8>, ClientError>| r.map(Answer::Bytes);
        let result = match self {
            Call::Add | Call::Checksum => {
                bytes(client.call(self.procedure(), &self.args(), Some(CALL_TIMEOUT)))
            }
            Call::Chars => calc::Client::new(client.clone())
                .with_timeout(CALL_TIMEOUT)
                .chars("fuzz")
                .map(Answer::Count),
            Call::Upto => {
                match client.open_stream(4, &self.args(), StreamMode::ServerStream, None) {
                    Ok(mut stream) => {
                        while let Some(item) = stream.next_item() {
                            items.push(item);
                        }
                        bytes(stream.finish())
                    }
                    Err(e) => Err(e),
                }
            }
            Call::Total => {
                match client.open_stream(5, &[], StreamMode::ClientStream, Some(CALL_TIMEOUT)) {
                    Ok(mut stream) => {
                        for item in TOTAL_ITEMS {
                            if stream.send(item).is_err() {
                                break;
                            }
                            sent += 1;
                        }
                        bytes(stream.finish())
                    }
                    Err(e) => Err(e),
                }
            }
        };
        Ran {
            call: self,
            result,
            items,
            sent,
            elapsed: started.elapsed(),
        }
    }
}

/// A call's result as the application got it.
#[derive(Debug)]
enum Answer {
    /// An untyped call's (or a stream's) encoded result.
    Bytes(Vec<u8>),
    /// The typed `chars`'s decoded result.
    Count(u32),
}

/// What one call's thread came back with.
#[derive(Debug)]
struct Ran {
    call: Call,
    result: Result<Answer, ClientError>,
    /// The server stream's items, in the order the iterator yielded them.
    items: Vec<Vec<u8>>,
    /// The client stream's items that `send` took.
    sent: usize,
    elapsed: Duration,
}

/// The schema hash the peer announces.
#[derive(Arbitrary, Clone, Copy, Debug)]
enum Schema {
    Calc,
    None,
    Other(u32),
}

/// The peer's `Hello`: always well formed, so that a session starts and the requests
/// come (each field within what the protocol allows).
#[derive(Arbitrary, Clone, Copy, Debug)]
struct PeerHello {
    /// Feature bit 0, with its `call_timeout_ms`.
    call_timeout: Option<u32>,
    /// Feature bit 1 (streams), with its `stream_window` (0 is read as 1).
    window: Option<u8>,
    /// Feature bit 2 (serves a manifest).
    manifest: bool,
    schema: Schema,
    /// `max_frame` above the protocol's least, 48.
    max_frame: u16,
    /// `max_inbound` is 1 + this % 8: small enough that it can hold calls back.
    max_inbound: u8,
    keepalive_ms: u16,
}

impl PeerHello {
    fn schema(&self) -> u32 {
        match self.schema {
            Schema::Calc => calc::SCHEMA_HASH,
            Schema::None => 0,
            Schema::Other(h) => h,
        }
    }

    fn max_inbound(&self) -> u32 {
        1 + u32::from(self.max_inbound % 8)
    }

    /// The frame body: an initial `Hello`, or a reply.
    fn body(&self, reply: bool) -> Vec<u8> {
        let features = u32::from(self.call_timeout.is_some())
            | u32::from(self.window.is_some()) << 1
            | u32::from(self.manifest) << 2;
        let mut b = vec![if reply { 0x21 } else { 0x01 }, 1, 1];
        for v in [
            features,
            48 + u32::from(self.max_frame),
            self.max_inbound(),
            32,
            u32::from(self.keepalive_ms),
        ] {
            b.extend(raw::varint(v));
        }
        b.extend(self.schema().to_le_bytes());
        if let Some(t) = self.call_timeout {
            b.extend(raw::varint(t));
        }
        if let Some(w) = self.window {
            b.extend(raw::varint(w.max(1).into()));
        }
        b
    }
}

/// Which call a frame is about.
#[derive(Arbitrary, Debug)]
enum To {
    /// The id the client's request for one of the calls carried (modulo their number);
    /// id 0 if that request had not come when the operations started.
    Call(u8),
    /// Any id.
    Id(u16),
}

/// What the peer writes next. Answers, items, ends and credit go the way a server sends
/// them (FLAG set); `seq: None` is the next number on that id.
#[derive(Arbitrary, Debug)]
enum Op {
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A valid frame with this body.
    Frame(Vec<u8>),
    Reply {
        to: To,
        payload: Vec<u8>,
    },
    Error {
        to: To,
        code: u8,
        detail: Vec<u8>,
    },
    Item {
        to: To,
        seq: Option<u8>,
        item: Vec<u8>,
    },
    /// Packed items (none: a malformed frame).
    Items {
        to: To,
        seq: Option<u8>,
        items: Vec<Vec<u8>>,
    },
    End {
        to: To,
        seq: Option<u8>,
    },
    Credit {
        to: To,
        items: u16,
    },
    /// What a server ending a stream sends: an End with the next number, then a Reply.
    Finish {
        to: To,
        payload: Vec<u8>,
    },
    Ping,
    Pong,
    /// An initial `Hello` (the peer restarted) or a reply.
    Hello {
        initial: bool,
        hello: PeerHello,
    },
    Close {
        code: u8,
    },
    /// A call from the peer to the client (which serves nothing).
    Call {
        id: u16,
        procedure: u8,
        args: Vec<u8>,
    },
    /// The peer cancels a call of its own.
    Cancel {
        id: u16,
    },
}

/// A frame body: header, id, then `rest`.
fn body(head: u8, id: u32, rest: &[&[u8]]) -> Vec<u8> {
    let mut b = vec![head];
    b.extend(raw::varint(id));
    for r in rest {
        b.extend_from_slice(r);
    }
    b
}

impl Op {
    /// The bytes the peer writes; `ids` holds each call's id, `next` the next item number
    /// the peer would send on each id.
    fn wire(self, ids: &[Option<u32>], next: &mut BTreeMap<u32, u8>) -> Vec<u8> {
        let id = |to: &To| match *to {
            To::Call(k) => ids
                .get(usize::from(k) % ids.len().max(1))
                .copied()
                .flatten()
                .unwrap_or(0),
            To::Id(id) => id.into(),
        };
        // The item number to use for `count` items on `id`, moving the next one on.
        let mut number = |id: u32, seq: Option<u8>, count: usize| {
            let at = next.entry(id).or_default();
            let seq = seq.unwrap_or(*at);
            *at = seq.wrapping_add(count as u8);
            seq
        };
        let b = match self {
            Op::Bytes(b) => return b,
            Op::Frame(b) => b,
            Op::Reply { to, payload } => body(0x03, id(&to), &[&payload]),
            Op::Error { to, code, detail } => body(0x04, id(&to), &[&[code], &detail]),
            Op::Item { to, seq, item } => {
                let id = id(&to);
                body(0x29, id, &[&[number(id, seq, 1)], &item])
            }
            Op::Items { to, seq, items } => {
                let id = id(&to);
                let mut packed = vec![number(id, seq, items.len())];
                for item in &items {
                    packed.extend(raw::varint(item.len() as u32));
                    packed.extend_from_slice(item);
                }
                body(0x2c, id, &[&packed])
            }
            Op::End { to, seq } => {
                let id = id(&to);
                body(0x2b, id, &[&[number(id, seq, 0)]])
            }
            Op::Credit { to, items } => body(0x2a, id(&to), &[&raw::varint(items.into())]),
            Op::Finish { to, payload } => {
                let id = id(&to);
                let mut wire = raw::frame(&body(0x2b, id, &[&[number(id, None, 0)]]));
                wire.extend(raw::frame(&body(0x03, id, &[&payload])));
                return wire;
            }
            Op::Ping => vec![0x06],
            Op::Pong => vec![0x26],
            Op::Hello { initial, hello } => hello.body(!initial),
            Op::Close { code } => vec![0x07, code],
            Op::Call {
                id,
                procedure,
                args,
            } => raw::request(id.into(), procedure.into(), &args),
            Op::Cancel { id } => body(0x05, id.into(), &[]),
        };
        raw::frame(&b)
    }
}

/// A frame, with the fields the oracles read (PROTOCOL.md section 3.2).
#[derive(Debug)]
struct Frame {
    /// The kind as the core's parser read it (0: an unknown kind, ignored).
    kind: u8,
    /// The header's FLAG bit (`0x20`).
    flag: bool,
    id: Option<u32>,
    /// Request and Open.
    procedure: u32,
    /// Open's mode.
    mode: Option<u8>,
    /// Error's and Close's code; Item's, Items' and End's sequence number.
    byte: u8,
    /// Credit's count.
    credit: u32,
    /// Arguments, payload, detail, item(s).
    tail: Vec<u8>,
    hello: Option<Hello>,
}

impl Frame {
    /// Parses a frame body with the core's parser, then reads the fields it checked.
    fn parse(body: &[u8]) -> Option<Frame> {
        let view = parse_frame(body).ok()?;
        let kind = view.kind();
        let id = view.id();
        // What follows the header and the id.
        let rest = match id {
            Some(_) => {
                let (_, n) = varint_decode(body.get(1..)?)?;
                body.get(1 + n..)?
            }
            None => body.get(1..)?,
        };
        let first = rest.first().copied().unwrap_or(0);
        let (procedure, mode) = match kind {
            2 => (varint_decode(rest)?.0, None),
            8 => {
                let (p, n) = varint_decode(rest)?;
                (p, rest.get(n).copied())
            }
            _ => (0, None),
        };
        Some(Frame {
            kind,
            flag: body.first()? & 0x20 != 0,
            id,
            procedure,
            mode,
            byte: first,
            credit: if kind == 10 {
                varint_decode(rest)?.0
            } else {
                0
            },
            tail: view.tail().unwrap_or(&[]).to_vec(),
            hello: if kind == 1 { hello_parse(rest) } else { None },
        })
    }

    /// The items of an Item or Items frame, each with its number.
    fn items(&self) -> Vec<(u8, Vec<u8>)> {
        match self.kind {
            9 => vec![(self.byte, self.tail.clone())],
            12 => {
                let (mut out, mut at, mut seq) = (Vec::new(), 0, self.byte);
                while let Some((len, n)) = self.tail.get(at..).and_then(varint_decode) {
                    let end = at + n + len as usize;
                    let Some(item) = self.tail.get(at + n..end) else {
                        break;
                    };
                    out.push((seq, item.to_vec()));
                    (at, seq) = (end, seq.wrapping_add(1));
                }
                out
            }
            _ => Vec::new(),
        }
    }

    /// True for a request that calls `call`.
    fn calls(&self, call: Call) -> bool {
        let shape = match (self.kind, call.mode()) {
            (2, None) => true,
            (8, mode) => self.mode == Some(mode.unwrap_or(0)),
            _ => false,
        };
        shape && self.procedure == call.procedure() && self.tail == call.args()
    }
}

/// Reads what the client writes until it closes its end, sending each frame's bytes
/// (between delimiters) on as they come; `Err` if the read failed or timed out.
fn read_frames(mut from: UnixStream, to: &Sender<Vec<u8>>) -> std::io::Result<()> {
    let (mut chunk, mut buf) = (Vec::new(), [0u8; 4096]);
    loop {
        match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                for &b in &buf[..n] {
                    if b != 0 {
                        chunk.push(b);
                    } else if !chunk.is_empty() {
                        let _ = to.send(std::mem::take(&mut chunk));
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Decodes a frame the client wrote; every one must be valid and parse.
fn client_frame(chunk: &[u8]) -> Frame {
    let mut wire = vec![0];
    wire.extend_from_slice(chunk);
    wire.push(0);
    let body = raw::unframe(&wire)
        .pop()
        .flatten()
        .unwrap_or_else(|| panic!("the client wrote a broken frame: {chunk:?}"));
    Frame::parse(&body).unwrap_or_else(|| panic!("the client wrote {body:?}, which does not parse"))
}

/// Takes the client's frames as they come until `done`, which must be within [`SETTLE`].
fn take_until(
    rx: &Receiver<Vec<u8>>,
    seen: &mut Vec<Frame>,
    what: &str,
    done: impl Fn(&[Frame]) -> bool,
) {
    let until = Instant::now() + SETTLE;
    while !done(seen) {
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(chunk) => seen.push(client_frame(&chunk)),
            Err(_) => panic!("{what} did not come within {SETTLE:?}: {seen:?}"),
        }
    }
}

/// The peer's socket, shut down both ways when dropped: when an oracle fails, the client
/// sees the peer go (its calls end, it closes its end, the reader sees that), so that no
/// thread of the run is left waiting.
struct Hangup(UnixStream);

impl Drop for Hangup {
    fn drop(&mut self) {
        let _ = self.0.shutdown(Shutdown::Both);
    }
}

/// Writes `bytes` to the client, keeping them in `out`; false once the client has closed
/// its end.
fn send(peer: &mut UnixStream, out: &mut Vec<u8>, bytes: &[u8]) -> bool {
    out.extend_from_slice(bytes);
    match peer.write_all(bytes) {
        Ok(()) => true,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            panic!("the client read nothing for {LIMIT:?} while the peer was writing")
        }
        Err(_) => false,
    }
}

/// Input: the peer's `Hello`, whether the client also opens a client stream, whether the
/// peer leaves by shutting down only its writing side (else both), then a list of `Op`s
/// (at most 64).
///
/// Oracles: no panic in the client or its callers; its Hello, then every request the
/// peer's Hello lets through (the calls wait for the session), come within `SETTLE`;
/// every call returns within `LIMIT` of the peer leaving; dropping the client returns
/// within `LIMIT` and (after a half-close) closes its end of the link; everything the
/// client writes is a valid frame the core parses; every request is one of the calls,
/// each sent at most once; a Cancel names an id the client used; items and End go only
/// on the client stream, numbered from 0, the items the caller sent in order, within the
/// peer's window and credit; credit goes only to the server stream, at most one per item
/// the application took; Replies and Errors only answer the peer's requests (or
/// Cancels), Hello replies its initial Hellos, Pongs its Pings, manifest pieces its
/// manifest requests. And no event without a frame: a result is the payload of a Reply
/// the peer sent for that call's id (after the End for as many items, for the server
/// stream); a `Remote` error an Error with that code and detail; a `Timeout` a
/// `DeadlineExceeded` (the runs end long before the deadline); `ItemLost` and
/// `FlowControl` a frame on the call's id; `Refused` a Close with that code;
/// `IncompatibleSchema` and `Unsupported` a Hello that said so; the server stream's
/// items, in order, items the peer sent on its id with those numbers.
pub fn host_client(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let (Ok(hello), Ok(client_stream), Ok(half_close)) = (
        PeerHello::arbitrary(&mut u),
        bool::arbitrary(&mut u),
        bool::arbitrary(&mut u),
    ) else {
        return;
    };
    let Ok(ops) = Vec::<Op>::arbitrary_take_rest(u) else {
        return;
    };
    let calls: Vec<Call> = [
        Call::Add,
        Call::Checksum,
        Call::Chars,
        Call::Upto,
        Call::Total,
    ]
    .into_iter()
    .filter(|&c| client_stream || c != Call::Total)
    .collect();

    let (mut peer, here) = UnixStream::pair().expect("a socket pair");
    peer.set_read_timeout(Some(LIMIT)).expect("a read timeout");
    peer.set_write_timeout(Some(LIMIT))
        .expect("a write timeout");
    let options = ClientOptions {
        config: wirecall::Config::default().with_keepalive(KEEPALIVE),
        ..ClientOptions::default()
    };
    let client = Client::over(Link::from_unix(here).expect("a link"), options).expect("a client");
    let _hangup = Hangup(peer.try_clone().expect("a second handle"));
    let (frames, frames_in) = mpsc::channel();
    let reading = peer.try_clone().expect("a second handle");
    let reader = thread::spawn(move || read_frames(reading, &frames));
    let (done, results) = mpsc::channel();
    let callers: Vec<JoinHandle<()>> = calls
        .iter()
        .map(|&call| {
            let (client, done) = (client.clone(), done.clone());
            thread::spawn(move || {
                let _ = done.send(call.run(&client));
            })
        })
        .collect();
    drop(done);

    // The handshake, then the requests the calls make: every one the peer's Hello lets
    // through (streams, calc's schema, its limit on calls in flight), all waiting for
    // the session, so they must come as soon as it is up.
    let mut seen = Vec::new();
    let mut out = Vec::new();
    take_until(&frames_in, &mut seen, "the client's Hello", |s| {
        s.iter().any(|f| f.kind == 1 && !f.flag)
    });
    let mut alive = send(&mut peer, &mut out, &raw::frame(&hello.body(true)));
    let expected = calls
        .iter()
        .filter(|c| c.sent_to(&hello))
        .count()
        .min(hello.max_inbound() as usize);
    take_until(&frames_in, &mut seen, "every request that could go", |s| {
        s.iter().filter(|f| matches!(f.kind, 2 | 8)).count() >= expected
    });
    let ids: Vec<Option<u32>> = calls
        .iter()
        .map(|&c| seen.iter().find(|f| f.calls(c)).and_then(|f| f.id))
        .collect();

    let mut next = BTreeMap::new();
    for op in ops.into_iter().take(64) {
        if !alive {
            break;
        }
        alive = send(&mut peer, &mut out, &op.wire(&ids, &mut next));
    }
    let _ = peer.shutdown(if half_close {
        Shutdown::Write
    } else {
        Shutdown::Both
    });

    // Every call returns soon after the peer has gone.
    let deadline = Instant::now() + LIMIT;
    let mut ran = Vec::new();
    while ran.len() < calls.len() {
        match results.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(r) => ran.push(r),
            Err(RecvTimeoutError::Timeout) => panic!(
                "{} of {} calls still running {LIMIT:?} after the peer left: {ran:?}",
                calls.len() - ran.len(),
                calls.len()
            ),
            Err(RecvTimeoutError::Disconnected) => break, // a caller panicked: joined below
        }
    }
    for caller in callers {
        caller.join().expect("a caller did not panic");
    }
    let (dropped, dropping) = mpsc::channel();
    let dropper = thread::spawn(move || {
        drop(client);
        let _ = dropped.send(());
    });
    dropping
        .recv_timeout(LIMIT)
        .expect("dropping the client returns");
    // Joined, so that no thread of the run outlives it (LeakSanitizer counts the
    // thread-local storage of threads still running).
    dropper.join().expect("dropping the client did not panic");
    let read = reader.join().expect("the reader did not panic");
    if let (true, Err(e)) = (half_close, read) {
        // The peer still reads: the dropped client must have closed its end (a reset, when
        // it left bytes unread, says so too).
        assert!(
            !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "the client's end of the link stayed open: {e}"
        );
    }
    seen.extend(frames_in.try_iter().map(|c| client_frame(&c)));

    let peer_frames: Vec<Frame> = raw::unframe(&out)
        .into_iter()
        .flatten()
        .filter_map(|b| Frame::parse(&b))
        .collect();
    check_client_frames(&calls, &ran, &seen, &peer_frames);
    for r in &ran {
        check_outcome(r, &seen, &peer_frames);
    }
}

/// The ids of the client's requests for `call` (one, or none if it never went out).
fn ids_of(call: Call, seen: &[Frame]) -> Vec<u32> {
    seen.iter()
        .filter(|f| f.calls(call))
        .filter_map(|f| f.id)
        .collect()
}

/// How many of the peer's frames of `kinds` carry `id`.
fn count(frames: &[Frame], kinds: &[u8], id: u32) -> usize {
    frames
        .iter()
        .filter(|f| kinds.contains(&f.kind) && f.id == Some(id))
        .count()
}

/// The oracles on what the client wrote.
fn check_client_frames(calls: &[Call], ran: &[Ran], seen: &[Frame], peer: &[Frame]) {
    let mut used = Vec::new();
    for f in seen {
        match f.kind {
            2 | 8 => {
                let call = calls.iter().find(|&&c| f.calls(c));
                let call = call.unwrap_or_else(|| panic!("a request for no call: {f:?}"));
                assert_eq!(
                    ids_of(*call, seen).len(),
                    1,
                    "{call:?} was requested more than once"
                );
                used.extend(f.id);
            }
            5 => {
                let id = f.id.expect("a Cancel has an id");
                assert!(used.contains(&id), "a Cancel for id {id}, never used");
            }
            _ => {}
        }
    }

    // Items and End only on the client stream, in order, within the window and credit.
    let total = if calls.contains(&Call::Total) {
        ids_of(Call::Total, seen)
    } else {
        Vec::new()
    };
    let sent = ran
        .iter()
        .find(|r| r.call == Call::Total)
        .map_or(0, |r| r.sent);
    let mut items = 0usize;
    for f in seen.iter().filter(|f| matches!(f.kind, 9 | 11 | 12)) {
        let id = f.id.expect("items have ids");
        assert!(
            !f.flag && total.contains(&id),
            "items or an End on id {id}, not the client stream's ({total:?}): {f:?}"
        );
        if f.kind == 11 {
            assert_eq!(usize::from(f.byte), items % 256, "the End's number");
            continue;
        }
        for (seq, item) in f.items() {
            assert_eq!(usize::from(seq), items % 256, "item {items}'s number");
            assert_eq!(
                Some(&item.as_slice()),
                TOTAL_ITEMS.get(items),
                "item {items}"
            );
            items += 1;
        }
    }
    assert!(items <= sent, "{items} items on the wire, {sent} sent");
    let window = peer
        .iter()
        .filter_map(|f| f.hello)
        .filter(|h| h.features & Hello::FEATURE_STREAMS != 0)
        .map(|h| h.stream_window as usize)
        .max()
        .unwrap_or(0);
    let credit: usize = peer
        .iter()
        .filter(|f| f.kind == 10 && f.flag && f.id.is_some_and(|id| total.contains(&id)))
        .map(|f| f.credit as usize)
        .sum();
    assert!(
        items <= window + credit,
        "{items} items sent on a window of {window} and {credit} credit"
    );

    // Credit only to the server stream, for items the application took.
    let upto = ids_of(Call::Upto, seen);
    let taken = ran
        .iter()
        .find(|r| r.call == Call::Upto)
        .map_or(0, |r| r.items.len());
    let mut granted = 0usize;
    for f in seen.iter().filter(|f| f.kind == 10) {
        let id = f.id.expect("credit has an id");
        if f.flag {
            assert!(
                count(peer, &[8], id) > 0,
                "credit for id {id}, never opened"
            );
        } else {
            assert!(
                upto.contains(&id),
                "credit on id {id}, not the server stream's"
            );
            granted += f.credit as usize;
        }
    }
    assert!(
        granted <= taken,
        "{granted} items of credit for {taken} items taken"
    );

    // Answers only to what the peer asked.
    let mut answers: BTreeMap<u32, (usize, usize)> = BTreeMap::new();
    for f in seen.iter().filter(|f| matches!(f.kind, 3 | 4)) {
        let id = f.id.expect("answers have ids");
        let (replies, errors) = answers.entry(id).or_default();
        if f.kind == 3 {
            *replies += 1;
        } else {
            *errors += 1;
        }
        let requested = count(peer, &[2, 8], id);
        assert!(
            *replies <= requested,
            "{replies} replies to id {id}, requested {requested} times"
        );
        assert!(
            *replies + *errors <= requested + count(peer, &[5], id),
            "{replies} replies and {errors} errors to id {id}, requested {requested} times"
        );
    }
    let kinds = |frames: &[Frame], kind: u8, flag: bool| {
        frames
            .iter()
            .filter(|f| f.kind == kind && f.flag == flag)
            .count()
    };
    for (kind, what) in [(1, "Hello replies"), (6, "Pongs"), (14, "manifest pieces")] {
        assert!(
            kinds(seen, kind, true) <= kinds(peer, kind, false),
            "{} {what} for {} asks",
            kinds(seen, kind, true),
            kinds(peer, kind, false)
        );
    }
    assert_eq!(kinds(seen, 14, false), 0, "the client asked for a manifest");
}

/// The oracles on one call's outcome: nothing the peer did not send.
fn check_outcome(r: &Ran, seen: &[Frame], peer: &[Frame]) {
    // A request that never reached the wire (the client had queued it when the link went)
    // can still meet a reply for a guessed id: then any id will do.
    let ids = ids_of(r.call, seen);
    let on = |f: &&Frame| f.id.is_some_and(|id| ids.is_empty() || ids.contains(&id));
    let replies = || peer.iter().filter(on).filter(|f| f.kind == 3);
    let hellos = || peer.iter().filter_map(|f| f.hello);
    match &r.result {
        Ok(Answer::Bytes(bytes)) => {
            assert!(
                replies().any(|f| f.tail == *bytes),
                "{r:?}: no Reply carried that result"
            );
            if r.call == Call::Upto {
                // An End, for as many items as were taken, came before such a Reply on
                // the same id.
                let n = r.items.len() % 256;
                let mut ended = Vec::new();
                let found = peer.iter().filter(on).any(|f| {
                    if f.kind == 11 && f.flag && usize::from(f.byte) == n {
                        ended.extend(f.id);
                    }
                    f.kind == 3 && f.tail == *bytes && f.id.is_some_and(|id| ended.contains(&id))
                });
                assert!(found, "{r:?}: no End for {n} items before the Reply");
            }
        }
        Ok(Answer::Count(n)) => assert!(
            replies().any(|f| <calc::Chars as Procedure>::output(&f.tail).ok() == Some(*n)),
            "{r:?}: no Reply decodes to that result"
        ),
        Err(ClientError::Decode) => assert!(
            r.call == Call::Chars
                && replies().any(|f| <calc::Chars as Procedure>::output(&f.tail).is_err()),
            "{r:?}: no Reply fails to decode"
        ),
        Err(ClientError::Remote(code, detail)) => {
            assert!(
                !matches!(
                    code,
                    WireError::DeadlineExceeded | WireError::ItemLost | WireError::FlowControl
                ),
                "{r:?}: these codes have errors of their own"
            );
            assert!(
                peer.iter().filter(on).any(|f| f.kind == 4
                    && WireError::from_u8(f.byte) == *code
                    && String::from_utf8_lossy(&f.tail) == *detail),
                "{r:?}: no Error with that code and detail"
            );
        }
        Err(ClientError::Timeout) => {
            assert!(
                r.elapsed >= CALL_TIMEOUT
                    || peer.iter().filter(on).any(|f| f.kind == 4
                        && WireError::from_u8(f.byte) == WireError::DeadlineExceeded),
                "{r:?}: a timeout before the deadline without a DeadlineExceeded"
            )
        }
        Err(ClientError::ItemLost | ClientError::FlowControl) => assert!(
            peer.iter()
                .filter(on)
                .any(|f| matches!(f.kind, 3 | 4 | 9 | 11 | 12)),
            "{r:?}: nothing came on the call's id"
        ),
        Err(ClientError::ConnectionLost) => {}
        Err(ClientError::Refused(code)) => assert!(
            peer.iter()
                .any(|f| f.kind == 7 && WireError::from_u8(f.byte) == *code),
            "{r:?}: no Close with that code"
        ),
        Err(ClientError::IncompatibleSchema { expected, peer: p }) => assert!(
            r.call == Call::Chars
                && *expected == calc::SCHEMA_HASH
                && hellos().any(|h| h.schema == *p),
            "{r:?}: no Hello announced that schema"
        ),
        Err(ClientError::Unsupported) => assert!(
            matches!(r.call, Call::Upto | Call::Total)
                && hellos().any(|h| h.features & Hello::FEATURE_STREAMS == 0),
            "{r:?}: every Hello offered streams"
        ),
        Err(e) => panic!("{r:?}: unexpected error {e}"),
    }

    // The server stream's items: in order, each one the peer sent on its id with that
    // number (a subsequence of what it sent, matched greedily).
    let mut sent = peer
        .iter()
        .filter(on)
        .filter(|f| f.flag)
        .flat_map(Frame::items);
    for (k, item) in r.items.iter().enumerate() {
        assert!(
            sent.any(|(seq, bytes)| usize::from(seq) == k % 256 && bytes == *item),
            "{r:?}: item {k} is not one the peer sent after the ones before it"
        );
    }
}
