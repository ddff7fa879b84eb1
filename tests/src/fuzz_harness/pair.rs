//! Two live endpoints joined by two byte queues, driven by an arbitrary list of operations:
//! calls, answers, cancels, streams and their credit, link faults, time and close.

use std::collections::BTreeMap;

use arbitrary::{Arbitrary, Unstructured};
use wirecall::{
    CallFailure, CallId, Config, Duration, Endpoint, Event, Instant, Open, RequestId, Stats,
    StreamId, StreamMode, WireError,
};

use super::endpoint::counters_grow;

const IN: usize = 4;
const OUT: usize = 4;
const TX: usize = 576;
type Ep = Endpoint<256, IN, OUT, TX>;

/// One step. `side` picks the endpoint (even: A, odd: B); `which` picks one of its calls or
/// requests (modulo their number, in id order).
#[derive(Arbitrary, Debug)]
enum Op {
    Call {
        side: u8,
        procedure: u8,
        args: Vec<u8>,
        timeout_ms: Option<u16>,
    },
    Open {
        side: u8,
        mode: u8,
        procedure: u8,
        args: Vec<u8>,
        timeout_ms: Option<u16>,
        nested: Option<u8>,
    },
    Respond {
        side: u8,
        which: u8,
        payload: Vec<u8>,
    },
    RespondError {
        side: u8,
        which: u8,
        code: u8,
        detail: Vec<u8>,
    },
    Cancel {
        side: u8,
        which: u8,
    },
    /// An item on a call (`request` false) or a request this side serves.
    SendItem {
        side: u8,
        request: bool,
        which: u8,
        item: Vec<u8>,
    },
    SendItems {
        side: u8,
        request: bool,
        which: u8,
        items: Vec<Vec<u8>>,
    },
    /// Grant credit: tell the endpoint that `n` items were consumed.
    Consume {
        side: u8,
        request: bool,
        which: u8,
        n: u8,
    },
    EndItems {
        side: u8,
        which: u8,
    },
    /// Move up to `n` bytes from `side`'s output to its peer, in chunks of `chunk` bytes.
    Deliver {
        side: u8,
        n: u16,
        chunk: u8,
    },
    /// Flip bits of a byte not yet delivered.
    Corrupt {
        side: u8,
        at: u16,
        xor: u8,
    },
    /// Lose bytes not yet delivered.
    Drop {
        side: u8,
        at: u16,
        len: u8,
    },
    Advance {
        ms: u16,
    },
    Close {
        side: u8,
    },
}

/// The items sent on one stream, and how many of them the peer has received.
type Sent = (Vec<Vec<u8>>, usize);

/// What one side's application knows.
#[derive(Default)]
struct App {
    /// Calls made and not yet ended (nor cancelled), by wire id.
    calls: BTreeMap<u32, (CallId, StreamMode)>,
    /// Requests handed out and not yet ended (answered or failed), by wire id.
    held: BTreeMap<u32, (RequestId, StreamMode)>,
    /// What this side asked for with each wire id, ever: (procedure, args). A peer's
    /// request must be one of them.
    asked: BTreeMap<u32, Vec<(u32, Vec<u8>)>>,
    /// What this side answered each wire id with, ever. A peer's reply must be one of them.
    answered: BTreeMap<u32, Vec<Vec<u8>>>,
    /// Items this side sent on each stream, by (sent as its caller, wire id), since the
    /// stream began; and how many the peer has received.
    sent: BTreeMap<(bool, u32), Sent>,
    stats: Stats,
}

struct Side {
    ep: Ep,
    app: App,
    /// Bytes sent and not yet delivered to the peer.
    wire: Vec<u8>,
}

struct World {
    sides: [Side; 2],
    now: Instant,
    /// Whether bytes were corrupted or lost: the exact-content checks of streams stay on
    /// (a gap must end a stream), but a lossy link may legitimately fail anything.
    faults: bool,
}

fn mode_of(m: u8) -> StreamMode {
    match m % 4 {
        0 => StreamMode::Call,
        1 => StreamMode::ClientStream,
        2 => StreamMode::ServerStream,
        _ => StreamMode::Bidi,
    }
}

fn pick<K: Copy, V: Copy>(map: &BTreeMap<K, V>, which: u8) -> Option<(K, V)> {
    if map.is_empty() {
        return None;
    }
    map.iter()
        .nth(usize::from(which) % map.len())
        .map(|(k, v)| (*k, *v))
}

impl World {
    fn new() -> World {
        let side = || Side {
            ep: Ep::new(Instant::ZERO, Config::default()),
            app: App::default(),
            wire: vec![],
        };
        let mut w = World {
            sides: [side(), side()],
            now: Instant::ZERO,
            faults: false,
        };
        // The handshake, untroubled.
        for _ in 0..3 {
            w.settle_side(0);
            w.settle_side(1);
            w.deliver(0, usize::MAX, 64);
            w.deliver(1, usize::MAX, 64);
        }
        assert!(
            w.sides[0].ep.is_connected() && w.sides[1].ep.is_connected(),
            "handshake"
        );
        w
    }

    /// Takes every event and byte `s` has to give, checking each event against what the
    /// peer's application did.
    fn settle_side(&mut self, s: usize) {
        let [a, b] = &mut self.sides;
        let (me, peer) = if s == 0 { (a, b) } else { (b, a) };
        while let Some(ev) = me.ep.poll_event() {
            match ev {
                Event::Request {
                    id,
                    procedure,
                    args,
                    mode,
                    ..
                } => {
                    let asked = peer
                        .app
                        .asked
                        .get(&id.wire())
                        .map(Vec::as_slice)
                        .unwrap_or(&[]);
                    assert!(
                        asked.iter().any(|(p, a)| *p == procedure && a == args),
                        "request {id:?} ({procedure}, {args:?}) that the peer never made"
                    );
                    assert!(
                        me.app.held.insert(id.wire(), (id, mode)).is_none(),
                        "request {id:?} handed out while one with its id is pending"
                    );
                    // This side's items as the server of this request start here.
                    me.app.sent.insert((false, id.wire()), (vec![], 0));
                }
                Event::Reply { id, payload } => {
                    assert!(
                        me.app.calls.get(&id.wire()).is_some_and(|(c, _)| *c == id),
                        "reply to {id:?}, which is not pending"
                    );
                    let answered = peer
                        .app
                        .answered
                        .get(&id.wire())
                        .map(Vec::as_slice)
                        .unwrap_or(&[]);
                    assert!(
                        answered.iter().any(|a| a == payload),
                        "reply {payload:?} to {id:?} that the peer never sent"
                    );
                    me.app.calls.remove(&id.wire());
                }
                Event::CallFailed { id, reason, .. } => {
                    assert!(
                        me.app.calls.get(&id.wire()).is_some_and(|(c, _)| *c == id),
                        "failure {reason:?} of {id:?}, which is not pending"
                    );
                    me.app.calls.remove(&id.wire());
                    let _: CallFailure = reason;
                }
                Event::RequestEnded { id, .. } => {
                    assert!(
                        me.app.held.get(&id.wire()).is_some_and(|(r, _)| *r == id),
                        "end of request {id:?}, which is not pending"
                    );
                    me.app.held.remove(&id.wire());
                }
                Event::Item { stream, item } => {
                    let (ok, key) = match stream {
                        StreamId::Call(c) => (
                            me.app.calls.get(&c.wire()).is_some_and(|(x, _)| *x == c),
                            (false, c.wire()),
                        ),
                        StreamId::Request(r) => (
                            me.app.held.get(&r.wire()).is_some_and(|(x, _)| *x == r),
                            (true, r.wire()),
                        ),
                    };
                    assert!(ok, "item on {stream:?}, which is not pending");
                    // Items arrive in order, each once, with no gap: the next one sent.
                    let (sent, received) = peer.app.sent.entry(key).or_default();
                    assert_eq!(
                        sent.get(*received).map(Vec::as_slice),
                        Some(item),
                        "item {received} on {stream:?} is not the next one the peer sent"
                    );
                    *received += 1;
                }
                Event::ItemsEnded { id } => {
                    assert!(
                        me.app.held.get(&id.wire()).is_some_and(|(r, _)| *r == id),
                        "end of items of {id:?}, which is not pending"
                    );
                }
                Event::Credit { stream } => match stream {
                    StreamId::Call(c) => {
                        assert!(me.app.calls.contains_key(&c.wire()), "credit for {c:?}")
                    }
                    StreamId::Request(r) => {
                        assert!(me.app.held.contains_key(&r.wire()), "credit for {r:?}")
                    }
                },
                _ => {}
            }
        }
        let mut buf = [0u8; 97];
        loop {
            let n = me.ep.poll_transmit(&mut buf);
            if n == 0 {
                break;
            }
            me.wire.extend_from_slice(&buf[..n]);
        }
        self.check(s);
    }

    fn check(&mut self, s: usize) {
        let me = &mut self.sides[s];
        let (out, inn) = me.ep.slots_in_use();
        assert!(out <= OUT && inn <= IN, "slots {out}/{inn}");
        assert!(me.ep.transmit_pending() <= TX);
        assert_eq!(
            me.ep.calls_in_flight(),
            me.app.calls.len(),
            "calls in flight"
        );
        assert!(out >= me.app.calls.len() && inn >= me.app.held.len());
        assert_eq!(
            me.ep.requests_pending(),
            me.app.held.len(),
            "requests pending"
        );
        if me.ep.is_closed() {
            assert!(
                me.app.calls.is_empty() && me.app.held.is_empty(),
                "calls outlive a close"
            );
        }
        let stats = *me.ep.stats();
        counters_grow(&me.app.stats, &stats);
        me.app.stats = stats;
    }

    /// Moves up to `n` bytes of `s`'s output into its peer, `chunk` bytes per call.
    fn deliver(&mut self, s: usize, n: usize, chunk: u8) {
        let chunk = usize::from(chunk.max(1));
        let take = n.min(self.sides[s].wire.len());
        let mut bytes: Vec<u8> = self.sides[s].wire.drain(..take).collect();
        let p = 1 - s;
        let mut at = 0;
        while at < bytes.len() {
            let end = (at + chunk).min(bytes.len());
            let used = self.sides[p].ep.handle_input(self.now, &bytes[at..end]);
            at += used;
            self.settle_side(p);
            if used == 0 {
                // A closed endpoint reads nothing (the bytes are lost, as on a closed
                // socket); otherwise the rest waits in the queue for a later delivery.
                if self.sides[p].ep.is_closed() {
                    at = bytes.len();
                }
                break;
            }
        }
        // Whatever was not taken stays in front of the queue.
        let rest = bytes.split_off(at);
        let w = &mut self.sides[s].wire;
        w.splice(0..0, rest);
    }

    fn advance(&mut self, to: Instant) {
        self.now = to.max(self.now);
        for s in 0..2 {
            self.sides[s].ep.handle_timeout(self.now);
            self.settle_side(s);
            if let Some(t) = self.sides[s].ep.poll_timeout() {
                assert!(
                    t > self.now,
                    "deadline {t:?} not after now {:?} right after handle_timeout",
                    self.now
                );
            }
        }
    }

    fn apply(&mut self, op: Op) {
        let side_of = |x: u8| usize::from(x & 1);
        match op {
            Op::Call {
                side,
                procedure,
                args,
                timeout_ms,
            } => {
                let s = side_of(side);
                let (now, me) = (self.now, &mut self.sides[s]);
                let r = match timeout_ms {
                    Some(ms) => me.ep.call_with_timeout(
                        now,
                        procedure.into(),
                        &args[..],
                        Duration::from_millis(ms.into()),
                    ),
                    None => me.ep.call(now, procedure.into(), &args[..]),
                };
                if let Ok(id) = r {
                    me.app.started(id, StreamMode::Call, procedure.into(), args);
                }
                self.settle_side(s);
            }
            Op::Open {
                side,
                mode,
                procedure,
                args,
                timeout_ms,
                nested,
            } => {
                let s = side_of(side);
                let (now, me) = (self.now, &mut self.sides[s]);
                let mode = mode_of(mode);
                let mut how = Open::stream(mode);
                if let Some(ms) = timeout_ms {
                    how = how.with_timeout(Duration::from_millis(ms.into()));
                }
                if let Some((_, (parent, _))) = nested.and_then(|w| pick(&me.app.held, w)) {
                    how = how.nested_in(parent);
                }
                if let Ok(id) = me.ep.open(now, procedure.into(), &args[..], how) {
                    me.app.started(id, mode, procedure.into(), args);
                }
                self.settle_side(s);
            }
            Op::Respond {
                side,
                which,
                payload,
            } => {
                let s = side_of(side);
                let me = &mut self.sides[s];
                if let Some((wire, (id, _))) = pick(&me.app.held, which) {
                    if me.ep.respond(id, &payload[..]).is_ok() {
                        me.app.held.remove(&wire);
                        me.app.answered.entry(wire).or_default().push(payload);
                    }
                }
                self.settle_side(s);
            }
            Op::RespondError {
                side,
                which,
                code,
                detail,
            } => {
                let s = side_of(side);
                let me = &mut self.sides[s];
                if let Some((wire, (id, _))) = pick(&me.app.held, which) {
                    let detail = String::from_utf8_lossy(&detail).into_owned();
                    if me
                        .ep
                        .respond_error(id, WireError::from_u8(code), &detail)
                        .is_ok()
                    {
                        me.app.held.remove(&wire);
                    }
                }
                self.settle_side(s);
            }
            Op::Cancel { side, which } => {
                let s = side_of(side);
                let me = &mut self.sides[s];
                if let Some((wire, (id, _))) = pick(&me.app.calls, which) {
                    assert!(
                        me.ep.cancel(id).is_ok(),
                        "a pending call could not be cancelled"
                    );
                    me.app.calls.remove(&wire);
                }
                self.settle_side(s);
            }
            Op::SendItem {
                side,
                request,
                which,
                item,
            } => {
                let s = side_of(side);
                let me = &mut self.sides[s];
                if let Some((stream, key)) = me.app.stream(request, which) {
                    if me.ep.send_item(stream, &item[..]).is_ok() {
                        me.app.sent.entry(key).or_default().0.push(item);
                    }
                }
                self.settle_side(s);
            }
            Op::SendItems {
                side,
                request,
                which,
                items,
            } => {
                let s = side_of(side);
                let me = &mut self.sides[s];
                if let Some((stream, key)) = me.app.stream(request, which) {
                    let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
                    if let Ok(n) = me.ep.send_items(stream, &refs) {
                        assert!(n <= items.len());
                        me.app
                            .sent
                            .entry(key)
                            .or_default()
                            .0
                            .extend(items.into_iter().take(n));
                    }
                }
                self.settle_side(s);
            }
            Op::Consume {
                side,
                request,
                which,
                n,
            } => {
                let s = side_of(side);
                let me = &mut self.sides[s];
                if let Some((stream, _)) = me.app.stream(request, which) {
                    let _ = me.ep.consume(stream, n.into());
                }
                self.settle_side(s);
            }
            Op::EndItems { side, which } => {
                let s = side_of(side);
                let me = &mut self.sides[s];
                if let Some((_, (id, _))) = pick(&me.app.calls, which) {
                    let _ = me.ep.end_items(id);
                }
                self.settle_side(s);
            }
            Op::Deliver { side, n, chunk } => self.deliver(side_of(side), n.into(), chunk),
            Op::Corrupt { side, at, xor } => {
                let w = &mut self.sides[side_of(side)].wire;
                if !w.is_empty() && xor != 0 {
                    let i = usize::from(at) % w.len();
                    w[i] ^= xor;
                    self.faults = true;
                }
            }
            Op::Drop { side, at, len } => {
                let w = &mut self.sides[side_of(side)].wire;
                if !w.is_empty() && len != 0 {
                    let i = usize::from(at) % w.len();
                    let end = (i + usize::from(len)).min(w.len());
                    w.drain(i..end);
                    self.faults = true;
                }
            }
            Op::Advance { ms } => self.advance(self.now + Duration::from_millis(ms.into())),
            Op::Close { side } => {
                let s = side_of(side);
                self.sides[s].ep.close();
                self.settle_side(s);
            }
        }
    }

    /// Lets the link run without faults until both sides have nothing left to do, jumping
    /// to each next deadline; every call and request must then have ended.
    fn finish(&mut self) {
        for _ in 0..2000 {
            for s in 0..2 {
                let n = self.sides[s].wire.len();
                self.deliver(s, n, 128);
            }
            let idle = self
                .sides
                .iter()
                .all(|s| s.wire.is_empty() && s.app.calls.is_empty() && s.app.held.is_empty());
            if idle {
                return;
            }
            if self.sides.iter().any(|s| !s.wire.is_empty()) {
                continue;
            }
            let next = self.sides.iter().filter_map(|s| s.ep.poll_timeout()).min();
            match next {
                Some(t) => self.advance(t),
                None => break,
            }
        }
        for (s, side) in self.sides.iter().enumerate() {
            assert!(
                side.app.calls.is_empty() && side.app.held.is_empty(),
                "side {s}: calls {:?} and requests {:?} never ended (faults: {})",
                side.app.calls,
                side.app.held,
                self.faults
            );
        }
    }
}

impl App {
    fn started(&mut self, id: CallId, mode: StreamMode, procedure: u32, args: Vec<u8>) {
        assert!(
            self.calls.insert(id.wire(), (id, mode)).is_none(),
            "call id {id:?} given while one with its wire id is pending"
        );
        self.asked
            .entry(id.wire())
            .or_default()
            .push((procedure, args));
        self.sent.insert((true, id.wire()), (vec![], 0));
    }

    /// A call (`request` false) or a request of this side, as a stream and its key in `sent`.
    fn stream(&self, request: bool, which: u8) -> Option<(StreamId, (bool, u32))> {
        if request {
            pick(&self.held, which).map(|(w, (id, _))| (StreamId::Request(id), (false, w)))
        } else {
            pick(&self.calls, which).map(|(w, (id, _))| (StreamId::Call(id), (true, w)))
        }
    }
}

/// Input: a list of `Op`s, applied after an untroubled handshake; then the link runs
/// without faults until everything has ended.
///
/// Oracles, after every step on both sides: those of the `endpoint` target (tables and
/// queue within bounds, counts agree with the application's, counters only grow, no
/// deadline in the past after `handle_timeout`); and across the link: every `Request` is
/// one the peer made (same id, procedure and arguments), every `Reply` carries a payload
/// the peer answered that id with, every item is the next one the peer sent on that stream
/// (in order, once, no gap, even when bytes are corrupted or lost), an outcome only for a
/// pending call, an end only for a pending request. At the end, every call and every
/// request has ended exactly once on both sides.
pub fn pair(data: &[u8]) {
    let Ok(ops) = Vec::<Op>::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let mut w = World::new();
    for op in ops.into_iter().take(256) {
        w.apply(op);
    }
    w.finish();
}
