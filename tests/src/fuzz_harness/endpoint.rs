//! One endpoint driven by an arbitrary script of peer bytes, time steps and local commands
//! (the original `endpoint` target, with more oracles).

use std::collections::BTreeSet;

use arbitrary::{Arbitrary, Unstructured};
use wirecall::{
    CallId, Config, Duration, Endpoint, Event, Instant, RequestId, Stats, StreamId, WireError,
};

use crate::raw;

#[derive(Arbitrary, Debug)]
enum Op {
    /// Bytes from the peer, in one `handle_input` call.
    Bytes(Vec<u8>),
    /// A complete valid frame from the peer with this body (framed here, so the fuzzer
    /// reaches the frame layer without having to guess CRCs).
    Frame(Vec<u8>),
    /// Time passes.
    Wait(u16),
    /// A local call.
    Call {
        procedure: u8,
        args: Vec<u8>,
        timeout_ms: Option<u16>,
    },
    /// Answer the oldest held request.
    Respond(Vec<u8>),
    /// Refuse the oldest held request.
    Refuse(u8),
    /// Cancel the oldest call.
    Cancel,
    /// Close the endpoint.
    Close,
}

const IN: usize = 4;
const OUT: usize = 4;
const TX: usize = 576;
type Ep = Endpoint<256, IN, OUT, TX>;

/// The endpoint and what its application knows.
struct Driver {
    ep: Ep,
    now: Instant,
    /// Requests handed out and not yet answered or ended.
    held: Vec<RequestId>,
    /// Calls made, not yet ended nor cancelled.
    calls: BTreeSet<CallId>,
    /// The counters after the last step.
    stats: Stats,
}

impl Driver {
    fn drain(&mut self) {
        while let Some(ev) = self.ep.poll_event() {
            match ev {
                Event::Request { id, .. } => {
                    assert!(!self.held.contains(&id), "request {id:?} handed out twice");
                    self.held.push(id);
                }
                Event::RequestEnded { id, .. } => {
                    let before = self.held.len();
                    self.held.retain(|h| *h != id);
                    assert_eq!(
                        self.held.len() + 1,
                        before,
                        "end of {id:?}, which is not pending"
                    );
                }
                Event::Reply { id, .. } | Event::CallFailed { id, .. } => {
                    assert!(
                        self.calls.remove(&id),
                        "outcome for {id:?}, which is not pending"
                    )
                }
                Event::Item {
                    stream: StreamId::Call(id),
                    ..
                } => {
                    assert!(
                        self.calls.contains(&id),
                        "item for {id:?}, which is not pending"
                    )
                }
                Event::Item {
                    stream: StreamId::Request(id),
                    ..
                } => {
                    assert!(
                        self.held.contains(&id),
                        "item for {id:?}, which is not pending"
                    )
                }
                _ => {}
            }
        }
        let mut buf = [0u8; 64];
        while self.ep.poll_transmit(&mut buf) > 0 {}
    }

    fn feed(&mut self, mut bytes: &[u8]) {
        // The endpoint may hold input back (backpressure), but not for ever: the transmit
        // queue is drained after every call, so each call takes a byte or more.
        while !bytes.is_empty() {
            let n = self.ep.handle_input(self.now, bytes);
            assert!(n <= bytes.len());
            bytes = &bytes[n..];
            self.drain();
            assert!(
                n > 0 || self.ep.is_closed(),
                "no input taken with an empty transmit queue"
            );
            if n == 0 {
                break;
            }
        }
    }

    fn check(&mut self) {
        let (out, inn) = self.ep.slots_in_use();
        assert!(out <= OUT && inn <= IN, "slots {out}/{inn}");
        assert!(self.ep.transmit_pending() <= TX);
        assert_eq!(
            self.ep.calls_in_flight(),
            self.calls.len(),
            "calls in flight"
        );
        assert!(out >= self.calls.len() && inn >= self.held.len());
        assert_eq!(
            self.ep.requests_pending(),
            self.held.len(),
            "requests pending"
        );
        if self.ep.is_closed() {
            assert!(
                self.calls.is_empty() && self.held.is_empty(),
                "calls outlive a close"
            );
        }
        let stats = *self.ep.stats();
        counters_grow(&self.stats, &stats);
        self.stats = stats;
    }
}

/// Every counter of `after` is at least its value in `before` (they only count up).
pub(super) fn counters_grow(before: &Stats, after: &Stats) {
    let (b, a) = (format!("{before:?}"), format!("{after:?}"));
    let nums = |s: &str| -> Vec<u64> {
        s.split(|c: char| !c.is_ascii_digit())
            .filter_map(|t| t.parse().ok())
            .collect()
    };
    for (x, y) in nums(&b).iter().zip(nums(&a)) {
        assert!(*x <= y, "a counter went down: {b} -> {a}");
    }
}

/// Input: a list of `Op`s. Starts connected (a `Hello` from a host) so that the fuzzer
/// reaches calls at once.
///
/// Oracles, after every step: no panic (overflow checks on); tables and the transmit queue
/// within their capacities; the application's count of calls in flight and pending
/// requests equals the endpoint's; each call gets at most one outcome, and only while it is
/// pending (no event for a call that does not exist); each request is handed out once and
/// ends at most once; after a close nothing is pending; counters never go down; no deadline
/// is left in the past right after `handle_timeout` (a driver would spin); input is taken
/// whenever the transmit queue is empty (no stall).
pub fn endpoint(data: &[u8]) {
    let Ok(ops) = Vec::<Op>::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let mut d = Driver {
        ep: Ep::new(Instant::ZERO, Config::default()),
        now: Instant::ZERO,
        held: vec![],
        calls: BTreeSet::new(),
        stats: Stats::default(),
    };
    d.drain();
    d.feed(&raw::frame(&[
        0x21, 1, 1, 0, 0x80, 0x08, 0x10, 0x10, 0xe8, 0x07, 0, 0, 0, 0,
    ]));
    d.check();
    for op in ops {
        match op {
            Op::Bytes(b) => d.feed(&b),
            Op::Frame(body) => d.feed(&raw::frame(&body)),
            Op::Wait(ms) => {
                d.now = d.now + Duration::from_millis(u64::from(ms));
                d.ep.handle_timeout(d.now);
                d.drain();
                if let Some(t) = d.ep.poll_timeout() {
                    assert!(
                        t > d.now,
                        "deadline {t:?} not after now {:?} right after handle_timeout",
                        d.now
                    );
                }
            }
            Op::Call {
                procedure,
                args,
                timeout_ms,
            } => {
                let r = match timeout_ms {
                    Some(ms) => d.ep.call_with_timeout(
                        d.now,
                        procedure.into(),
                        &args[..],
                        Duration::from_millis(ms.into()),
                    ),
                    None => d.ep.call(d.now, procedure.into(), &args[..]),
                };
                if let Ok(id) = r {
                    assert!(d.calls.insert(id), "call id {id:?} given twice");
                }
                d.drain();
            }
            Op::Respond(payload) => {
                if let Some(id) = d.held.first().copied() {
                    if d.ep.respond(id, &payload[..]).is_ok() {
                        d.held.remove(0);
                    }
                    d.drain();
                }
            }
            Op::Refuse(code) => {
                if let Some(id) = d.held.first().copied() {
                    if d.ep
                        .respond_error(id, WireError::from_u8(code), "fuzz")
                        .is_ok()
                    {
                        d.held.remove(0);
                    }
                    d.drain();
                }
            }
            Op::Cancel => {
                if let Some(id) = d.calls.first().copied() {
                    assert!(
                        d.ep.cancel(id).is_ok(),
                        "a pending call could not be cancelled"
                    );
                    d.calls.remove(&id);
                    d.drain();
                }
            }
            Op::Close => {
                d.ep.close();
                d.drain();
            }
        }
        d.check();
    }
}
