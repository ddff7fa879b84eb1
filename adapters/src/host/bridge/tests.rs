//! The forwarder in virtual time: a device endpoint behind it, client endpoints in front,
//! bytes moved by hand and the clock jumped to the next deadline. Every run is the same.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::HashMap;

use wirecall::{
    CallFailure, CallId, Config, Duration, Event, Instant, Open, RequestEnd, RequestId, StreamId,
    StreamMode, WireError,
};

use super::forward::Forwarder;
use super::pairs::Side;
use crate::host::engine::{Capacity, HostEndpoint};

/// Procedures of the simulated device.
const ECHO: u32 = 0;
const HOLD: u32 = 1; // answered only when the test says so
const FAIL: u32 = 2; // BadArguments "bad"
const COUNT_DOWN: u32 = 3; // a server stream of args[0] items of args[1] x 100 bytes (or 1)
const ASK_CALLER: u32 = 4; // calls its caller back (procedure 9), replies with the answer
const SUM_ITEMS: u32 = 5; // a client stream: replies with the number of items
const CALLBACK: u32 = 9; // served by the fronts: "cb:" + args

#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    Ok(Vec<u8>),
    Err(CallFailure, String),
}

#[derive(Default)]
struct Front {
    ep: Option<HostEndpoint>,
    ends: HashMap<CallId, Vec<End>>,
    /// The ends of earlier calls whose ids were used again.
    history: Vec<Vec<End>>,
    items: HashMap<CallId, Vec<Vec<u8>>>,
    callbacks: Vec<RequestId>,
    ended_requests: Vec<(RequestId, RequestEnd)>,
    /// Answer callbacks at once (else hold them).
    answer_callbacks: bool,
    /// Its peer stopped reading: the bridge's bytes for it stay in the bridge.
    stuck: bool,
    /// Bytes it sent that the bridge did not take yet (a socket's buffer).
    backlog: Vec<u8>,
}

struct Sim {
    now: Instant,
    fwd: Forwarder,
    dev: HostEndpoint,
    fronts: Vec<Front>,
    held: Vec<RequestId>,
    /// Device requests that ended without an answer (cancels, deadlines).
    dev_ended: Vec<(RequestId, RequestEnd)>,
    dev_deadlines: Vec<Duration>,
    /// Server streams the device is producing: (request, items left, item size).
    producing: Vec<(RequestId, u8, usize)>,
    counting: HashMap<RequestId, u32>,
    asked: HashMap<CallId, RequestId>,
    /// The device's calls that failed, with their details.
    dev_failed: Vec<(CallId, CallFailure, String)>,
    /// Most items waiting inside the forwarder at once.
    most_buffered: usize,
    /// Bytes the device's link takes from the bridge at once (a slow link: small).
    back_chunk: usize,
    /// The device's bytes the bridge did not take yet (its own queue was full).
    dev_backlog: Vec<u8>,
}

fn front_config() -> Config {
    Config::default().with_max_frame(4096)
}

impl Sim {
    fn new(fronts: usize, device_calls: u32) -> Sim {
        let now = Instant::ZERO;
        let mut fwd = Forwarder::new(8, false);
        fwd.set_back(
            now,
            Some(Capacity::default().endpoint(now, Config::default())),
        );
        let dev = HostEndpoint::new(
            now,
            Config::default()
                .with_max_frame(4096)
                .with_max_inbound(device_calls),
        );
        let mut sim = Sim {
            now,
            fwd,
            dev,
            fronts: Vec::new(),
            held: Vec::new(),
            dev_ended: Vec::new(),
            dev_deadlines: Vec::new(),
            producing: Vec::new(),
            counting: HashMap::new(),
            asked: HashMap::new(),
            dev_failed: Vec::new(),
            most_buffered: 0,
            back_chunk: 4096,
            dev_backlog: Vec::new(),
        };
        for _ in 0..fronts {
            sim.add_front();
        }
        sim.settle();
        assert!(sim.fwd.is_back_connected());
        sim
    }

    fn add_front(&mut self) -> usize {
        let engine = Capacity::default().endpoint(self.now, front_config());
        let slot = self.fwd.add_front(engine).ok().unwrap();
        if self.fronts.len() <= slot {
            self.fronts.resize_with(slot + 1, Front::default);
        }
        self.fronts[slot] = Front {
            ep: Some(HostEndpoint::new(self.now, front_config())),
            answer_callbacks: true,
            ..Front::default()
        };
        slot
    }

    fn front(&mut self, f: usize) -> &mut HostEndpoint {
        self.fronts[f].ep.as_mut().unwrap()
    }

    fn call(&mut self, f: usize, procedure: u32, args: &[u8], how: Open) -> CallId {
        let now = self.now;
        let id = self.front(f).open(now, procedure, args, how).unwrap();
        if let Some(old) = self.fronts[f].ends.remove(&id) {
            self.fronts[f].history.push(old); // the id of a call that ended, used again
        }
        self.settle();
        id
    }

    fn ends(&self, f: usize, id: CallId) -> Vec<End> {
        self.fronts[f].ends.get(&id).cloned().unwrap_or_default()
    }

    /// Moves bytes and serves events until nothing moves.
    fn settle(&mut self) {
        let mut buf = [0u8; 4096];
        for _ in 0..10_000 {
            let mut moved = false;
            let chunk = self.back_chunk;
            let n = self.fwd.poll_transmit(Side::Back, &mut buf[..chunk]);
            moved |= n > 0;
            let mut off = 0;
            while off < n {
                off += self.dev.handle_input(self.now, &buf[off..n]);
                self.serve_device();
            }
            let n = self.dev.poll_transmit(&mut buf);
            moved |= n > 0;
            let mut backlog = std::mem::take(&mut self.dev_backlog);
            backlog.extend_from_slice(&buf[..n]);
            let taken = self.offer(Side::Back, &backlog);
            moved |= taken > 0;
            backlog.drain(..taken);
            self.dev_backlog = backlog;
            for f in 0..self.fronts.len() {
                if self.fronts[f].ep.is_none() {
                    continue;
                }
                let n = match self.fronts[f].stuck {
                    true => 0,
                    false => self.fwd.poll_transmit(Side::Front(f), &mut buf),
                };
                moved |= n > 0;
                let mut off = 0;
                while off < n {
                    let now = self.now;
                    off += self.front(f).handle_input(now, &buf[off..n]);
                    self.serve_front(f);
                }
                let n = self.front(f).poll_transmit(&mut buf);
                moved |= n > 0;
                let mut backlog = std::mem::take(&mut self.fronts[f].backlog);
                backlog.extend_from_slice(&buf[..n]);
                let taken = self.offer(Side::Front(f), &backlog);
                moved |= taken > 0;
                backlog.drain(..taken);
                self.fronts[f].backlog = backlog;
            }
            self.serve_device();
            moved |= self.produce();
            for f in 0..self.fronts.len() {
                self.serve_front(f);
            }
            if !moved {
                assert!(self.dev_backlog.is_empty(), "input of the device stalls");
                // Only a front that does not read may be held back for good.
                for (f, front) in self.fronts.iter().enumerate() {
                    assert!(
                        front.backlog.is_empty() || front.stuck,
                        "input of front {f} stalls"
                    );
                }
                return;
            }
        }
        panic!("the simulation does not settle");
    }

    /// Feeds bytes as the driver does, while the forwarder takes them; how many it took.
    fn offer(&mut self, side: Side, bytes: &[u8]) -> usize {
        let mut off = 0;
        while off < bytes.len() && self.fwd.may_take_input(side) {
            let taken = self.fwd.handle_input(self.now, side, &bytes[off..]);
            if taken == 0 {
                break;
            }
            off += taken;
        }
        off
    }

    /// Jumps the clock to the earliest deadline of any endpoint (at most `limit` ahead).
    fn advance(&mut self, limit: Duration) {
        let until = self.now + limit;
        loop {
            let next = [self.fwd.poll_timeout(), self.dev.poll_timeout()]
                .into_iter()
                .chain(
                    self.fronts
                        .iter()
                        .map(|f| f.ep.as_ref().and_then(|e| e.poll_timeout())),
                )
                .flatten()
                .min();
            let Some(t) = next.filter(|&t| t <= until) else {
                break;
            };
            self.now = self.now.max(t);
            self.fwd.handle_timeout(self.now);
            self.dev.handle_timeout(self.now);
            for f in &mut self.fronts {
                if let Some(e) = f.ep.as_mut() {
                    e.handle_timeout(self.now);
                }
            }
            self.settle();
        }
        self.now = until;
        self.settle();
    }

    fn serve_device(&mut self) {
        while let Some(ev) = self.dev.poll_event() {
            match ev {
                Event::Request {
                    id,
                    procedure,
                    args,
                    ..
                } => {
                    let args = args.to_vec();
                    if let Some(d) = self.dev.request_deadline(id) {
                        self.dev_deadlines.push(d.saturating_since(self.now));
                    }
                    match procedure {
                        ECHO => self.dev.respond(id, &args[..]).unwrap(),
                        HOLD => self.held.push(id),
                        FAIL => self
                            .dev
                            .respond_error(id, WireError::BadArguments, "bad")
                            .unwrap(),
                        COUNT_DOWN => {
                            let size = args.get(1).map_or(1, |&k| usize::from(k) * 100);
                            self.producing.push((id, args[0], size));
                        }
                        ASK_CALLER => {
                            let how = Open::call().nested_in(id);
                            let cb = self.dev.open(self.now, CALLBACK, &args[..], how).unwrap();
                            self.asked.insert(cb, id);
                        }
                        SUM_ITEMS => {
                            self.counting.insert(id, 0);
                        }
                        _ => self
                            .dev
                            .respond_error(id, WireError::UnknownProcedure, "")
                            .unwrap(),
                    }
                }
                Event::Reply { id, payload } => {
                    let payload = payload.to_vec();
                    if let Some(req) = self.asked.remove(&id) {
                        self.dev.respond(req, &payload[..]).unwrap();
                    }
                }
                Event::CallFailed { id, reason, detail } => {
                    let detail = String::from_utf8_lossy(detail).into_owned();
                    self.dev_failed.push((id, reason, detail));
                    if let Some(req) = self.asked.remove(&id) {
                        let _ =
                            self.dev
                                .respond_error(req, WireError::Cancelled, "callback failed");
                    }
                }
                Event::RequestEnded { id, reason } => self.dev_ended.push((id, reason)),
                Event::Item { stream, .. } => {
                    if let StreamId::Request(r) = stream {
                        *self.counting.entry(r).or_default() += 1;
                    }
                    self.dev.consume(stream, 1).unwrap();
                }
                Event::ItemsEnded { id } => {
                    let n = self.counting.remove(&id).unwrap_or(0);
                    self.dev.respond(id, &n.to_le_bytes()[..]).unwrap();
                }
                _ => {}
            }
        }
    }

    /// The device sends stream items as its credit allows; true if it sent any.
    fn produce(&mut self) -> bool {
        let mut sent = false;
        let mut left = Vec::new();
        for (id, n, size) in std::mem::take(&mut self.producing) {
            let mut n = n;
            while n > 0
                && self.dev.credit(id) > 0
                && self.dev.send_item(id, &vec![n; size][..]).is_ok()
            {
                n -= 1;
                sent = true;
            }
            if n == 0 {
                self.dev.respond(id, &b"done"[..]).unwrap();
                sent = true;
            } else if self.dev.request_mode(id).is_some() {
                left.push((id, n, size));
            }
        }
        self.producing = left;
        sent
    }

    fn serve_front(&mut self, f: usize) {
        let front = &mut self.fronts[f];
        let Some(ep) = front.ep.as_mut() else { return };
        while let Some(ev) = ep.poll_event() {
            match ev {
                Event::Reply { id, payload } => front
                    .ends
                    .entry(id)
                    .or_default()
                    .push(End::Ok(payload.to_vec())),
                Event::CallFailed { id, reason, detail } => front.ends.entry(id).or_default().push(
                    End::Err(reason, String::from_utf8_lossy(detail).into_owned()),
                ),
                Event::Item { stream, item } => {
                    if let StreamId::Call(c) = stream {
                        front.items.entry(c).or_default().push(item.to_vec());
                    }
                    ep.consume(stream, 1).unwrap();
                }
                Event::Request { id, args, .. } => {
                    let mut answer = b"cb:".to_vec();
                    answer.extend_from_slice(args);
                    front.callbacks.push(id);
                    if front.answer_callbacks {
                        ep.respond(id, &answer[..]).unwrap();
                    }
                }
                Event::RequestEnded { id, reason } => front.ended_requests.push((id, reason)),
                _ => {}
            }
        }
        self.most_buffered = self.most_buffered.max(self.fwd.buffered_items());
    }
}

fn remote(code: WireError) -> impl Fn(&End) -> bool {
    move |e| matches!(e, End::Err(CallFailure::Remote(c), _) if *c == code)
}

#[test]
fn calls_and_errors_pass_with_their_details() {
    let mut sim = Sim::new(1, 4);
    let a = sim.call(0, ECHO, b"hello", Open::call());
    assert_eq!(sim.ends(0, a), vec![End::Ok(b"hello".to_vec())]);
    let b = sim.call(0, FAIL, b"", Open::call());
    assert_eq!(
        sim.ends(0, b),
        vec![End::Err(
            CallFailure::Remote(WireError::BadArguments),
            "bad".into()
        )]
    );
    assert_eq!(sim.fwd.in_flight(), 0);
}

#[test]
fn excess_over_the_devices_limit_is_busy_at_once_never_queued() {
    let mut sim = Sim::new(2, 4);
    let calls: Vec<(usize, CallId)> = (0..8)
        .map(|i| (i % 2, sim.call(i % 2, HOLD, b"", Open::call())))
        .collect();
    let busy = calls
        .iter()
        .filter(|(f, c)| sim.ends(*f, *c).iter().any(remote(WireError::Busy)))
        .count();
    assert_eq!(busy, 4, "4 served, 4 refused");
    assert_eq!(sim.held.len(), 4);
    assert_eq!(sim.fwd.in_flight(), 4);
    for id in std::mem::take(&mut sim.held) {
        sim.dev.respond(id, &b"ok"[..]).unwrap();
    }
    sim.settle();
    for (f, c) in calls {
        assert_eq!(sim.ends(f, c).len(), 1, "every call ends exactly once");
    }
    assert_eq!(sim.fwd.counters.busy, 4);
}

#[test]
fn deadlines_shrink_and_the_devices_expiry_comes_back_first() {
    let mut sim = Sim::new(1, 4);
    let timeout = Duration::from_millis(1000);
    let c = sim.call(0, HOLD, b"", Open::call().with_timeout(timeout));
    let seen = sim.dev_deadlines[0];
    assert!(
        seen.as_micros() < timeout.as_micros(),
        "the device sees {seen:?}"
    );
    assert!(
        seen.as_micros() >= 980_000,
        "shrunk by a margin only: {seen:?}"
    );
    sim.advance(Duration::from_secs(2));
    let ends = sim.ends(0, c);
    assert_eq!(ends.len(), 1);
    assert!(
        matches!(
            &ends[0],
            End::Err(CallFailure::Remote(WireError::DeadlineExceeded), _)
                | End::Err(CallFailure::DeadlineExceeded, _)
        ),
        "{ends:?}"
    );
    assert_eq!(sim.fwd.in_flight(), 0);
}

#[test]
fn a_front_cancel_reaches_the_device() {
    let mut sim = Sim::new(1, 4);
    let c = sim.call(0, HOLD, b"", Open::call());
    sim.front(0).cancel(c).unwrap();
    sim.settle();
    assert_eq!(sim.dev_ended.len(), 1);
    assert_eq!(sim.dev_ended[0].1, RequestEnd::Cancelled);
    assert_eq!(sim.fwd.in_flight(), 0);
    assert_eq!(sim.fwd.counters.cancels, 1);
}

#[test]
fn a_device_cancel_of_a_callback_reaches_the_front() {
    let mut sim = Sim::new(1, 4);
    sim.fronts[0].answer_callbacks = false;
    let c = sim.call(0, ASK_CALLER, b"x", Open::call());
    assert_eq!(sim.fronts[0].callbacks.len(), 1);
    let (&cb, &outer) = sim.asked.iter().next().unwrap();
    sim.dev.cancel(cb).unwrap();
    sim.settle();
    assert_eq!(
        sim.fronts[0].ended_requests.len(),
        1,
        "the front's callback request ended"
    );
    assert_eq!(sim.fronts[0].ended_requests[0].1, RequestEnd::Cancelled);
    // The device then answers the outer call itself.
    sim.dev.respond(outer, &b"without"[..]).unwrap();
    sim.settle();
    assert_eq!(sim.ends(0, c), vec![End::Ok(b"without".to_vec())]);
}

#[test]
fn callbacks_go_to_the_front_whose_call_made_them() {
    let mut sim = Sim::new(2, 4);
    let c = sim.call(1, ASK_CALLER, b"hi", Open::call());
    assert_eq!(sim.ends(1, c), vec![End::Ok(b"cb:hi".to_vec())]);
    assert!(sim.fronts[0].callbacks.is_empty());
    assert_eq!(sim.fwd.counters.callbacks, 1);
}

#[test]
fn the_devices_own_calls_get_an_explicit_error_without_upstream() {
    let mut sim = Sim::new(1, 4);
    let now = sim.now;
    let c = sim.dev.open(now, 7, &b""[..], Open::call()).unwrap();
    sim.settle();
    let (id, reason, detail) = sim.dev_failed[0].clone();
    assert_eq!(
        (id, reason),
        (c, CallFailure::Remote(WireError::UnknownProcedure))
    );
    assert!(detail.contains("upstream"), "{detail}");
    assert_eq!(sim.fwd.counters.unavailable, 1);
}

#[test]
fn server_streams_pass_with_credit_coupled() {
    let mut sim = Sim::new(1, 4);
    let c = sim.call(
        0,
        COUNT_DOWN,
        &[50u8][..],
        Open::stream(StreamMode::ServerStream),
    );
    let items = sim.fronts[0].items.get(&c).cloned().unwrap_or_default();
    assert_eq!(items.len(), 50);
    assert_eq!(items[0], vec![50]);
    assert_eq!(items[49], vec![1]);
    assert_eq!(sim.ends(0, c), vec![End::Ok(b"done".to_vec())]);
    assert!(
        sim.most_buffered <= 8,
        "at most a window waits: {}",
        sim.most_buffered
    );
}

#[test]
fn client_streams_pass_with_credit_coupled() {
    let mut sim = Sim::new(1, 4);
    let c = sim.call(0, SUM_ITEMS, b"", Open::stream(StreamMode::ClientStream));
    let mut sent = 0;
    for _ in 0..1000 {
        if sent == 30 {
            break;
        }
        while sent < 30 && sim.front(0).credit(c) > 0 {
            sim.front(0).send_item(c, &[sent as u8][..]).unwrap();
            sent += 1;
        }
        sim.settle();
    }
    sim.front(0).end_items(c).unwrap();
    sim.settle();
    assert_eq!(sim.ends(0, c), vec![End::Ok(30u32.to_le_bytes().to_vec())]);
}

#[test]
fn losing_the_device_ends_every_forwarded_call_explicitly() {
    let mut sim = Sim::new(2, 4);
    let a = sim.call(0, HOLD, b"", Open::call());
    let b = sim.call(1, HOLD, b"", Open::call());
    let now = sim.now;
    sim.fwd.set_back(now, None);
    sim.settle();
    for (f, c) in [(0, a), (1, b)] {
        let ends = sim.ends(f, c);
        assert_eq!(ends.len(), 1);
        assert!(
            matches!(&ends[0], End::Err(CallFailure::Remote(WireError::NoSession), d) if d.contains("lost")),
            "{ends:?}"
        );
    }
    // While it is down, calls fail at once.
    let c = sim.call(0, ECHO, b"", Open::call());
    assert!(sim.ends(0, c).iter().any(remote(WireError::NoSession)));
}

#[test]
fn losing_a_front_cancels_its_calls_on_the_device() {
    let mut sim = Sim::new(2, 4);
    sim.call(0, HOLD, b"", Open::call());
    sim.call(0, HOLD, b"", Open::call());
    let other = sim.call(1, HOLD, b"", Open::call());
    let now = sim.now;
    sim.fwd.remove_front(now, 0);
    sim.fronts[0].ep = None;
    sim.settle();
    assert_eq!(
        sim.dev_ended.len(),
        2,
        "both of its calls were cancelled on the device"
    );
    assert_eq!(sim.fwd.in_flight(), 1, "the other front's call goes on");
    let id = sim.held[2];
    sim.dev.respond(id, &b"ok"[..]).unwrap();
    sim.settle();
    assert_eq!(sim.ends(1, other), vec![End::Ok(b"ok".to_vec())]);
}

#[test]
fn random_traffic_ends_every_call_exactly_once() {
    for seed in 0..20u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut sim = Sim::new(3, 4);
        let (mut made, mut cancelled) = (Vec::new(), 0);
        for _ in 0..60 {
            let f = rng.usize(0..3);
            let how = Open::call().with_timeout(Duration::from_millis(rng.u64(5..500)));
            match rng.u8(0..6) {
                0 => made.push((f, sim.call(f, ECHO, b"e", how))),
                1 | 2 => made.push((f, sim.call(f, HOLD, b"", how))),
                3 => made.push((f, sim.call(f, ASK_CALLER, b"a", how))),
                4 => {
                    if let Some(&(f, c)) = made.get(rng.usize(0..made.len().max(1))) {
                        // A call cancelled here ends here, with no event.
                        cancelled += usize::from(sim.front(f).cancel(c).is_ok());
                        sim.settle();
                    }
                }
                _ => sim.advance(Duration::from_millis(rng.u64(1..100))),
            }
            if rng.u8(0..4) == 0 && !sim.held.is_empty() {
                let id = sim.held.remove(0);
                let _ = sim.dev.respond(id, &b"late"[..]);
                sim.settle();
            }
        }
        sim.advance(Duration::from_secs(10));
        let mut ended = 0;
        for front in &sim.fronts {
            for ends in front.history.iter().chain(front.ends.values()) {
                assert_eq!(ends.len(), 1, "seed {seed}: {ends:?}");
                ended += 1;
            }
        }
        assert_eq!(
            ended + cancelled,
            made.len(),
            "seed {seed}: every call ended"
        );
        assert_eq!(sim.fwd.in_flight(), 0, "seed {seed}");
    }
}

#[test]
fn a_forwarded_call_costs_a_stated_number_of_bytes() {
    // The ARCHITECTURE figure: a pair and its two index entries (keys and slot), before
    // any stream item or held answer (those are bounded by windows and one frame).
    let entry = size_of::<(Side, RequestId, usize)>().max(size_of::<(Side, CallId, usize)>());
    let per_call = size_of::<super::pairs::Pair>() + 2 * (entry + 1);
    assert!(per_call <= 256, "{per_call} bytes");
}

/// Answers the device's held calls one by one with `payload`, the bridge running between.
fn answer_held(sim: &mut Sim, payload: &[u8]) {
    for id in std::mem::take(&mut sim.held) {
        sim.dev.respond(id, payload).unwrap();
        sim.settle();
    }
}

/// Review: one front that stopped reading stalled the device's input for every front
/// (the back was read only while every front had room), until the device's link dropped.
#[test]
fn a_front_that_stops_reading_stalls_only_itself() {
    let mut sim = Sim::new(2, 8);
    sim.fronts[0].stuck = true;
    let stuck: Vec<CallId> = (0..4)
        .map(|_| sim.call(0, HOLD, b"", Open::call()))
        .collect();
    let big = vec![7u8; 3000];
    answer_held(&mut sim, &big); // two fill its queue; two wait in their pairs
    assert!(!sim.fwd.may_take_input(Side::Front(0)), "its queue is full");
    assert_eq!(sim.fwd.in_flight(), 2, "replies wait for its room");
    for i in 0..10u8 {
        let c = sim.call(1, ECHO, &[i][..], Open::call());
        assert_eq!(
            sim.ends(1, c),
            vec![End::Ok(vec![i])],
            "call {i} of the other front"
        );
    }
    assert!(sim.fwd.may_take_input(Side::Back));
    assert!(sim.fwd.is_back_connected());
    sim.fronts[0].stuck = false; // it reads again: nothing it was sent was lost
    sim.settle();
    for c in stuck {
        assert_eq!(sim.ends(0, c), vec![End::Ok(big.clone())]);
    }
    assert_eq!(sim.fwd.in_flight(), 0);
}

#[test]
fn a_stuck_fronts_stream_holds_a_window_and_stops_the_devices_credit() {
    let mut sim = Sim::new(2, 8);
    sim.fronts[0].stuck = true;
    let how = Open::stream(StreamMode::ServerStream);
    let s = sim.call(0, COUNT_DOWN, &[40u8, 30][..], how); // 40 items of 3000 bytes
    for i in 0..5u8 {
        let c = sim.call(1, ECHO, &[i][..], Open::call());
        assert_eq!(sim.ends(1, c), vec![End::Ok(vec![i])]);
    }
    assert!(
        sim.fwd.buffered_items() <= 8,
        "{}",
        sim.fwd.buffered_items()
    );
    assert!(sim.producing[0].1 > 0, "the device waits for credit");
    sim.fronts[0].stuck = false;
    sim.settle();
    let items = sim.fronts[0].items.get(&s).cloned().unwrap_or_default();
    assert_eq!(items.len(), 40);
    assert_eq!(items[39], vec![1u8; 3000]);
    assert_eq!(sim.ends(0, s), vec![End::Ok(b"done".to_vec())]);
    assert!(
        sim.most_buffered <= 8,
        "at most a window: {}",
        sim.most_buffered
    );
}

/// Review: a reply waiting for a front's room was answered `NoSession` when the device's
/// link dropped, and an answer the front had no room for was dropped.
#[test]
fn losing_the_device_keeps_the_replies_that_wait_for_room() {
    let mut sim = Sim::new(1, 8);
    sim.fronts[0].stuck = true;
    let answered: Vec<CallId> = (0..3)
        .map(|_| sim.call(0, HOLD, b"", Open::call()))
        .collect();
    let pending = sim.call(0, HOLD, b"", Open::call());
    let last = sim.held.pop().unwrap();
    let big = vec![9u8; 3000];
    answer_held(&mut sim, &big); // two fill its queue; one waits in its pair
    assert_eq!(sim.fwd.in_flight(), 2);
    sim.held.push(last);
    let now = sim.now;
    sim.fwd.set_back(now, None);
    sim.settle();
    sim.fronts[0].stuck = false;
    sim.settle();
    for c in answered {
        assert_eq!(sim.ends(0, c), vec![End::Ok(big.clone())]);
    }
    let ends = sim.ends(0, pending);
    assert!(
        matches!(&ends[..], [End::Err(CallFailure::Remote(WireError::NoSession), d)] if d.contains("lost")),
        "{ends:?}"
    );
    assert_eq!(sim.fwd.in_flight(), 0);
}

/// Review: the end of a client stream was marked sent even when the device's queue had
/// no room for it, and the device then waited for it forever. Items of random sizes
/// through a slow device link, the queue nearly full all along. (The input gate leaves
/// room for a frame before each event, so the refusal needs an exact fit after a batch
/// of items passed on one credit; these runs guard the path, they do not hit that fit.)
#[test]
fn a_client_stream_through_a_slow_device_link_ends() {
    for seed in 0..40u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut sim = Sim::new(1, 4);
        sim.back_chunk = rng.usize(1..24);
        let c = sim.call(0, SUM_ITEMS, b"", Open::stream(StreamMode::ClientStream));
        let (mut sent, total) = (0u32, 24u32);
        for _ in 0..1000 {
            while sent < total && sim.front(0).credit(c) > 0 {
                let item = vec![sent as u8; rng.usize(500..1100)];
                if sim.front(0).send_item(c, &item[..]).is_err() {
                    break; // its own queue is full: after the next settle
                }
                sent += 1;
            }
            if sent == total {
                break;
            }
            sim.settle();
        }
        while sim.front(0).end_items(c).is_err() {
            sim.settle();
        }
        sim.settle();
        assert_eq!(
            sim.ends(0, c),
            vec![End::Ok(total.to_le_bytes().to_vec())],
            "seed {seed}"
        );
    }
}

/// The threaded driver: fronts over the cap are refused with `Close(Busy)`, as servers do.
#[test]
fn fronts_over_the_cap_are_refused_busy() {
    use crate::host::{serve_tcp, Bridge, BridgeOptions, Client, ClientError, ClientOptions, Link};
    let device = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let at = device.local_addr().unwrap();
    let echo = |_: u32, args: &[u8]| Ok::<_, (WireError, String)>(args.to_vec());
    let server = serve_tcp(device, move || Box::new(echo), Config::default()).unwrap();
    let options = BridgeOptions {
        max_connections: 1,
        ..BridgeOptions::default()
    };
    let bridge = Bridge::start(move || Link::tcp(at), None, options).unwrap();
    let front = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = front.local_addr().unwrap();
    bridge.serve_tcp(front).unwrap();
    let first = Client::over(Link::tcp(addr).unwrap(), ClientOptions::default()).unwrap();
    assert_eq!(first.call(0, b"a", None), Ok(b"a".to_vec()));
    let second = Client::over(Link::tcp(addr).unwrap(), ClientOptions::default()).unwrap();
    assert_eq!(
        second.call(0, b"b", Some(std::time::Duration::from_secs(5))),
        Err(ClientError::Refused(WireError::Busy))
    );
    assert_eq!(bridge.stats().fronts, 1);
    drop((first, second));
    bridge.stop();
    server.stop();
}
