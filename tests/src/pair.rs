//! Two endpoints, two simulated serial lines, one virtual clock.
//!
//! The clock jumps straight to the earliest thing that can happen (a byte arriving, an
//! endpoint deadline), so a test of a five-second deadline over a 115200-baud line runs in
//! microseconds and is the same on every run. Every input is followed by draining events and
//! transmit, as the core's rule of one mutation asks; a side either serves requests with
//! [`DemoDevice`] at once (its sensor channels as remote handles: exported, called,
//! released) or holds them in its event log for the test to answer.

use std::time::Duration;

use wirecall::{
    Dispatched, Handle, HandleError, Instant, RequestId, Resolved, RespondError, WireError,
};
use wirecall_adapters::morse::line::MorseLine;
use wirecall_adapters::sim::SimLine;

use crate::demo::{demo, DemoDevice};
use crate::engine::{Engine, Owned};

/// What a side does with requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serve {
    /// Answer each request at once with [`DemoDevice`].
    Dispatch,
    /// Leave requests in the event log for the test.
    Hold,
}

/// One endpoint and what it reported.
pub struct Side {
    /// The endpoint.
    pub ep: Box<dyn Engine>,
    /// Every event it reported, in order.
    pub events: Vec<Owned>,
    /// How it serves requests.
    pub serve: Serve,
    /// The handler used by [`Serve::Dispatch`].
    pub device: DemoDevice,
    /// Bytes per `handle_input` call (splits frames across calls).
    pub rx_chunk: usize,
    /// Bytes per `poll_transmit` call.
    pub tx_chunk: usize,
    /// Consume every stream item as it arrives (a fast consumer); otherwise the test
    /// consumes them.
    pub auto_consume: bool,
    /// Server streams being produced by [`Serve::Dispatch`]: (stream, next item, end).
    pub producers: Vec<(RequestId, u32, u32)>,
    /// Bytes that arrived but the endpoint has not taken yet.
    backlog: Vec<u8>,
    /// Bytes drained from the endpoint while answering, not yet on the line.
    backlog_tx: Vec<u8>,
}

impl Side {
    /// A side serving with `serve`, moving bytes 64 at a time.
    pub fn new(ep: impl Engine + 'static, serve: Serve) -> Side {
        Side {
            ep: Box::new(ep),
            events: Vec::new(),
            serve,
            device: DemoDevice::default(),
            rx_chunk: 64,
            tx_chunk: 64,
            auto_consume: true,
            producers: Vec::new(),
            backlog: Vec::new(),
            backlog_tx: Vec::new(),
        }
    }

    /// Takes the event log.
    pub fn take_events(&mut self) -> Vec<Owned> {
        std::mem::take(&mut self.events)
    }

    /// Requests held for the test, oldest first.
    pub fn held_requests(&self) -> Vec<(RequestId, u32, Vec<u8>)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Owned::Request {
                    id,
                    procedure,
                    args,
                } => Some((*id, *procedure, args.clone())),
                _ => None,
            })
            .collect()
    }

    fn drain_events(&mut self) {
        while let Some(ev) = self.ep.poll_event() {
            if self.serve == Serve::Dispatch {
                match &ev {
                    Owned::Request {
                        id,
                        procedure,
                        args,
                    } => self.serve_request(*id, *procedure, args),
                    Owned::Invoke {
                        id,
                        on,
                        method,
                        args,
                    } => self.serve_invoke(*id, *on, *method, args),
                    // The peer released a channel (or the session ended): drop it.
                    Owned::Released { handle, .. } => {
                        if let Some(c) = self.device.channels.get_mut(handle.slot()) {
                            *c = None;
                        }
                    }
                    _ => {}
                }
            }
            if let (true, Owned::Item { stream, .. }) = (self.auto_consume, &ev) {
                self.ep.consume(*stream, 1).expect("consume");
            }
            self.events.push(ev);
        }
    }

    /// Serves a request with [`DemoDevice`]: a reply, an error, a stream started, or a
    /// channel exported as a handle.
    fn serve_request(&mut self, id: RequestId, procedure: u32, args: &[u8]) {
        let mut out = [0u8; 1024];
        let mode = self.ep.request_mode(id).unwrap_or_default();
        // The request event's `export`: nothing was exported since it was polled.
        let export = self.ep.next_export();
        let result = demo::dispatch_request(
            &mut self.device,
            id,
            mode,
            procedure,
            args,
            export,
            &mut out,
        );
        let answer = match result {
            Ok(Dispatched::Stream) => {
                let (stream, n) = self.device.counts.pop().expect("a count stream");
                self.producers.push((stream, 0, n));
                return;
            }
            Ok(Dispatched::Reply(n)) => Answer::Reply(out[..n].to_vec()),
            Ok(Dispatched::Export { interface, handle }) => Answer::Export(interface, handle),
            Err(e) => Answer::Error(e),
        };
        self.answer(id, &answer);
    }

    /// Serves a method call on a channel [`DemoDevice`] exported.
    fn serve_invoke(&mut self, id: RequestId, on: Resolved, method: u32, args: &[u8]) {
        // Requests are answered as they arrive, so the request a pipelined call names has
        // been answered by now: its promise resolves to what it exported, or to nothing.
        let on = match on {
            Resolved::Pending(request) => self.ep.resolve_promise(request),
            on => Ok(on),
        };
        let mut out = [0u8; 1024];
        let answer = match on {
            Ok(Resolved::Object { handle, interface }) => {
                match demo::dispatch_invoke(
                    &mut self.device,
                    handle,
                    interface,
                    method,
                    args,
                    &mut out,
                ) {
                    Ok(n) => Answer::Reply(out[..n].to_vec()),
                    Err(e) => Answer::Error(e),
                }
            }
            // Still unanswered (not while this side dispatches): the caller may retry.
            Ok(Resolved::Pending(_)) => Answer::Error(WireError::Busy),
            Err(_) => Answer::Error(WireError::StaleHandle),
        };
        self.answer(id, &answer);
    }

    /// Answers request `id`. A full transmit queue is the one retryable failure; the
    /// harness drains it into the line's backlog and answers again, as a real driver would.
    fn answer(&mut self, id: RequestId, answer: &Answer) {
        let mut spill = Vec::new();
        loop {
            let result = match answer {
                Answer::Reply(bytes) => match self.ep.respond(id, bytes) {
                    Err(RespondError::TooLarge) => {
                        self.ep.respond_error(id, WireError::TooLarge, "")
                    }
                    other => other,
                },
                Answer::Error(e) => self.ep.respond_error(id, *e, ""),
                Answer::Export(interface, handle) => {
                    match self.ep.respond_export_at(id, *interface, *handle) {
                        Ok(got) => {
                            assert_eq!(got, *handle, "the export got the announced handle");
                            Ok(())
                        }
                        Err(HandleError::WouldBlock) => Err(RespondError::WouldBlock),
                        Err(e) => panic!("respond_export: {e}"),
                    }
                }
            };
            match result {
                Err(RespondError::WouldBlock) => {
                    let mut buf = [0u8; 256];
                    let n = self.ep.poll_transmit(&mut buf);
                    assert!(n > 0, "WouldBlock with an empty transmit queue");
                    spill.extend_from_slice(&buf[..n]);
                }
                r => {
                    r.expect("respond");
                    break;
                }
            }
        }
        self.backlog_tx.extend(spill);
    }

    /// Sends what the producers have while credit and the transmit queue allow, and ends
    /// the finished streams; a stream that ended meanwhile (cancel, deadline) is dropped.
    /// Returns whether anything was sent.
    pub fn produce(&mut self) -> bool {
        let mut moved = false;
        let mut i = 0;
        while i < self.producers.len() {
            let (id, next, end) = self.producers[i];
            let stream = wirecall::StreamId::Request(id);
            let mut next_item = next;
            let mut open = true;
            while next_item < end && self.ep.credit(stream) > 0 {
                let item = postcard::to_allocvec(&next_item).expect("encode");
                match self.ep.send_item(stream, &item) {
                    Ok(()) => next_item += 1,
                    Err(wirecall::StreamError::WouldBlock) => break,
                    Err(_) => {
                        open = false;
                        break;
                    }
                }
            }
            moved |= next_item != next;
            self.producers[i].1 = next_item;
            if open && next_item == end {
                match self.ep.respond(id, &[]) {
                    Ok(()) => {
                        open = false;
                        moved = true;
                    }
                    Err(wirecall::RespondError::WouldBlock) => {}
                    Err(_) => open = false,
                }
            } else if open && self.ep.request_mode(id).is_none() {
                open = false; // ended by the caller or a deadline
            }
            if open {
                i += 1;
            } else {
                self.producers.remove(i);
            }
        }
        moved
    }
}

/// How [`Serve::Dispatch`] answers a request.
enum Answer {
    Reply(Vec<u8>),
    Error(WireError),
    /// Export the object made at the handle's slot, as this interface.
    Export(u8, Handle),
}

/// What carries bytes one way between the sides, in virtual time: a [`SimLine`] (a serial
/// line) or a [`MorseLine`] (the Morse link).
pub trait Line {
    /// Writes `bytes` at `now`; they arrive later, at the line's pace.
    fn write(&mut self, now: Duration, bytes: &[u8]);
    /// Moves what has arrived by `now` into `out`, returning how many bytes.
    fn read(&mut self, now: Duration, out: &mut Vec<u8>) -> usize;
    /// When the line next has something to do, if it will.
    fn next_arrival(&self) -> Option<Duration>;
}

impl Line for SimLine {
    fn write(&mut self, now: Duration, bytes: &[u8]) {
        SimLine::write(self, now, bytes);
    }
    fn read(&mut self, now: Duration, out: &mut Vec<u8>) -> usize {
        SimLine::read(self, now, out)
    }
    fn next_arrival(&self) -> Option<Duration> {
        SimLine::next_arrival(self)
    }
}

impl Line for MorseLine {
    fn write(&mut self, now: Duration, bytes: &[u8]) {
        MorseLine::write(self, now, bytes);
    }
    fn read(&mut self, now: Duration, out: &mut Vec<u8>) -> usize {
        MorseLine::read(self, now, out)
    }
    fn next_arrival(&self) -> Option<Duration> {
        MorseLine::next_arrival(self)
    }
}

/// Two sides joined by two lines.
pub struct Pair<L: Line = SimLine> {
    /// Side A (usually the host).
    pub a: Side,
    /// Side B (usually the device).
    pub b: Side,
    /// The line from A to B.
    pub ab: L,
    /// The line from B to A.
    pub ba: L,
    /// Virtual time since the start.
    pub now: Duration,
}

/// Converts virtual time to the core's clock.
pub fn instant(d: Duration) -> Instant {
    Instant::from_micros(d.as_micros() as u64)
}

impl Pair {
    /// A pair over a 115200-baud line with 100 us latency each way.
    pub fn new(a: Side, b: Side) -> Pair {
        Pair::with_line(a, b, 115_200, Duration::from_micros(100), 1)
    }

    /// A pair over lines of `baud` and `latency`, faults seeded with `seed`.
    pub fn with_line(a: Side, b: Side, baud: u32, latency: Duration, seed: u64) -> Pair {
        Pair {
            a,
            b,
            ab: SimLine::new(baud, latency, seed),
            ba: SimLine::new(baud, latency, seed ^ 0x5eed),
            now: Duration::ZERO,
        }
    }
}

impl<L: Line> Pair<L> {
    /// A pair over the lines `ab` (from A to B) and `ba`.
    pub fn with_lines(a: Side, b: Side, ab: L, ba: L) -> Pair<L> {
        Pair {
            a,
            b,
            ab,
            ba,
            now: Duration::ZERO,
        }
    }

    /// The core's view of now.
    pub fn instant(&self) -> Instant {
        instant(self.now)
    }

    /// Moves every byte and event that is ready at the current time, until nothing moves.
    pub fn pump(&mut self) {
        let now = self.now;
        for _ in 0..100_000 {
            let mut moved = false;
            moved |= self.a.produce();
            moved |= self.b.produce();
            moved |= Self::transmit(&mut self.a, &mut self.ab, now);
            moved |= Self::transmit(&mut self.b, &mut self.ba, now);
            moved |= Self::receive(&mut self.b, &mut self.ab, now);
            moved |= Self::receive(&mut self.a, &mut self.ba, now);
            if !moved {
                return;
            }
        }
        panic!("the pair never settled at {now:?}: an endpoint is wedged");
    }

    fn transmit(side: &mut Side, line: &mut L, now: Duration) -> bool {
        let mut moved = false;
        if !side.backlog_tx.is_empty() {
            line.write(now, &std::mem::take(&mut side.backlog_tx));
            moved = true;
        }
        let mut buf = vec![0u8; side.tx_chunk.max(1)];
        loop {
            let n = side.ep.poll_transmit(&mut buf);
            if n == 0 {
                return moved;
            }
            line.write(now, &buf[..n]);
            moved = true;
        }
    }

    fn receive(side: &mut Side, line: &mut L, now: Duration) -> bool {
        line.read(now, &mut side.backlog);
        if side.backlog.is_empty() {
            side.drain_events();
            return false;
        }
        let t = instant(now);
        let chunk = side.rx_chunk.max(1).min(side.backlog.len());
        let used = side.ep.handle_input(t, &side.backlog[..chunk]);
        side.backlog.drain(..used);
        side.drain_events();
        // Taking nothing is fine once: the caller transmits (backpressure) and retries.
        used > 0
    }

    /// Runs until nothing more can happen before `now + d`, then sets the clock there.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.step(end) {}
    }

    /// Runs until `done` holds, for at most `limit` of virtual time; returns whether it held.
    /// `done` is checked after every instant at which something happened.
    pub fn run_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&mut Pair<L>) -> bool,
    ) -> bool {
        let end = self.now + limit;
        self.pump();
        loop {
            if done(self) {
                return true;
            }
            if !self.step(end) {
                return done(self);
            }
        }
    }

    /// Moves everything ready now, then jumps the clock to the next instant at which
    /// something happens (a byte arrives, a deadline comes), if that is not after `end`,
    /// and processes it. Returns false, with the clock at `end`, when nothing is left before.
    fn step(&mut self, end: Duration) -> bool {
        self.pump();
        let next = [
            self.ab.next_arrival(),
            self.ba.next_arrival(),
            self.timeout(true),
            self.timeout(false),
        ]
        .into_iter()
        .flatten()
        .min();
        let more = matches!(next, Some(t) if t <= end);
        self.now = match next {
            Some(t) if more => self.now.max(t),
            _ => self.now.max(end),
        };
        self.fire_timeouts();
        self.pump();
        more
    }

    /// Runs until both sides are connected (at most 5 s); panics otherwise.
    pub fn connect(&mut self) {
        assert!(
            self.run_until(Duration::from_secs(5), |p| p.a.ep.is_connected()
                && p.b.ep.is_connected()),
            "pair did not connect"
        );
    }

    fn timeout(&self, a: bool) -> Option<Duration> {
        let side = if a { &self.a } else { &self.b };
        side.ep
            .poll_timeout()
            .map(|t| Duration::from_micros(t.as_micros()))
    }

    fn fire_timeouts(&mut self) {
        let now = self.instant();
        for side in [&mut self.a, &mut self.b] {
            if side.ep.poll_timeout().is_some_and(|t| t <= now) {
                side.ep.handle_timeout(now);
                side.drain_events();
            }
        }
    }
}
