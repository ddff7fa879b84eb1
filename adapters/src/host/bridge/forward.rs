//! The forwarder: sans-I/O, like the core. It owns the endpoints of one back link, any
//! number of front links and an optional upstream link, and turns each side's events into
//! commands on another side. It reads no clock and moves no bytes: the driver feeds it
//! input and time and writes out what it queues, so its rules are tested in virtual time.
//!
//! Rules (issue 16's design): a front's request becomes a call on the back with what is
//! left of its deadline, minus a margin, so that the back's `DeadlineExceeded` comes back
//! before the front gives up; a back with no free slot makes it `Busy` at once (nothing
//! queues); a request's end (cancel, deadline, lost link) cancels its call; a call's end
//! answers its request with the same wire error and detail. Stream items are passed on one
//! at a time and consumed on the side they came from only once sent on the other, so the
//! peers' own credit bounds what waits here. The back's calls nested in a forwarded call
//! (callbacks) go to the front that made it; its other calls go upstream, if there is one.
//!
//! Room: a side's input is taken only while it and the shared sides its events command
//! (back, upstream) have room for a frame, never depending on a front's room (see
//! [`Forwarder::may_take_input`]). So whatever the back sends a front must be able to wait
//! for that front's room: an answer waits in its pair (at most one), stream items in its
//! queue (at most the back's window: they are consumed on the back only once sent), a
//! client stream's end in its flag (retried after each write), a cancel or credit in the
//! front's endpoint's due flags (the core sends them when room comes); only a callback,
//! which would need a call slot and the request's arguments held, is refused `Busy`.

use std::collections::VecDeque;

use wirecall::{
    CallError, CallFailure, CallId, Duration, Event, Instant, Open, RequestId, StreamError,
    StreamId, StreamMode, WireError,
};

use super::pairs::{Outcome, Pair, Pairs, Side};
use crate::host::engine::HostEngine;

/// The most of a forwarded deadline kept back for the answer's way home.
const MARGIN: Duration = Duration::from_millis(10);

/// Largest manifest read from a peer (a bigger one is not served through the bridge).
const MAX_MANIFEST: u32 = 1 << 20;

/// What an event said, copied out of the endpoint (its payload goes to `scratch`).
#[derive(Clone, Copy, Debug)]
enum Ev {
    Connected,
    Request {
        id: RequestId,
        procedure: u32,
        mode: StreamMode,
    },
    Invoke(RequestId),
    Reply(CallId),
    Failed(CallId, CallFailure),
    Ended(RequestId),
    Item(StreamId),
    Credit(StreamId),
    ItemsEnded(RequestId),
    Manifest {
        total: u32,
        offset: u32,
    },
    Other,
}

/// A peer's manifest, read piece by piece after its handshake.
#[derive(Debug, Default)]
pub(crate) struct ManifestRead {
    pub(crate) bytes: Vec<u8>,
    pub(crate) done: bool,
}

/// Counters of what the forwarder did (the driver exposes them as `BridgeStats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub(crate) forwarded: u64,
    pub(crate) busy: u64,
    pub(crate) unavailable: u64,
    pub(crate) cancels: u64,
    pub(crate) callbacks: u64,
}

/// See the module docs.
pub(crate) struct Forwarder {
    back: Option<Box<dyn HostEngine>>,
    upstream: Option<Box<dyn HostEngine>>,
    fronts: Vec<Option<Box<dyn HostEngine>>>,
    pairs: Pairs,
    scratch: Vec<u8>,
    pub(crate) back_manifest: ManifestRead,
    pub(crate) upstream_manifest: ManifestRead,
    /// An upstream is configured (even while its link is down).
    has_upstream: bool,
    pub(crate) counters: Counters,
}

impl Forwarder {
    /// A forwarder for at most `max_fronts` fronts at once.
    pub(crate) fn new(max_fronts: usize, has_upstream: bool) -> Forwarder {
        Forwarder {
            back: None,
            upstream: None,
            fronts: (0..max_fronts).map(|_| None).collect(),
            pairs: Pairs::default(),
            scratch: Vec::new(),
            back_manifest: ManifestRead::default(),
            upstream_manifest: ManifestRead::default(),
            has_upstream,
            counters: Counters::default(),
        }
    }

    /// Installs `side`'s endpoint (back or upstream).
    pub(crate) fn set(&mut self, side: Side, now: Instant, engine: Option<Box<dyn HostEngine>>) {
        match side {
            Side::Upstream => self.set_upstream(now, engine),
            _ => self.set_back(now, engine),
        }
    }

    /// The schema hash `side`'s peer announced, while connected.
    pub(crate) fn peer_schema(&self, side: Side) -> Option<u32> {
        self.engine_ref(side)
            .and_then(|e| e.peer())
            .map(|p| p.schema)
    }

    /// Installs the back's endpoint for a new link (or none: the link is down). What was
    /// forwarded over the previous one ends here, explicitly.
    pub(crate) fn set_back(&mut self, now: Instant, engine: Option<Box<dyn HostEngine>>) {
        self.side_lost(now, Side::Back, "the link to the device was lost");
        self.back = engine;
        self.process(now);
    }

    /// Installs the upstream's endpoint for a new link (or none).
    pub(crate) fn set_upstream(&mut self, now: Instant, engine: Option<Box<dyn HostEngine>>) {
        self.side_lost(
            now,
            Side::Upstream,
            "the link to the upstream service was lost",
        );
        self.upstream = engine;
        self.process(now);
    }

    /// Takes a front's endpoint into a free slot; `None` (and the engine back) when all
    /// are taken.
    pub(crate) fn add_front(
        &mut self,
        engine: Box<dyn HostEngine>,
    ) -> Result<usize, Box<dyn HostEngine>> {
        match self.fronts.iter().position(Option::is_none) {
            Some(slot) => {
                if let Some(s) = self.fronts.get_mut(slot) {
                    *s = Some(engine);
                }
                Ok(slot)
            }
            None => Err(engine),
        }
    }

    /// A front's link ended: its calls on the back are cancelled, the callbacks waiting for
    /// it are answered with an error, and its slot is freed.
    pub(crate) fn remove_front(&mut self, now: Instant, slot: usize) {
        self.side_lost(
            now,
            Side::Front(slot),
            "the client this call was for has gone",
        );
        if let Some(s) = self.fronts.get_mut(slot) {
            *s = None;
        }
        self.process(now);
    }

    /// Fronts connected now.
    pub(crate) fn fronts(&self) -> usize {
        self.fronts.iter().flatten().count()
    }

    /// Calls forwarded and still in flight.
    pub(crate) fn in_flight(&self) -> usize {
        self.pairs.len()
    }

    /// Stream items waiting for the other side's credit, all streams together.
    pub(crate) fn buffered_items(&self) -> usize {
        self.pairs.buffered()
    }

    pub(crate) fn is_back_connected(&self) -> bool {
        self.back.as_ref().is_some_and(|b| b.is_connected())
    }

    /// Bytes from `side`'s link; returns how many its endpoint took (fewer when its
    /// transmit queue is full: write it out, then offer the rest again).
    pub(crate) fn handle_input(&mut self, now: Instant, side: Side, bytes: &[u8]) -> usize {
        let taken = match self.engine(side) {
            Some(e) => e.handle_input(now, bytes),
            None => bytes.len(), // a side removed meanwhile: its bytes go nowhere
        };
        self.process(now);
        taken
    }

    /// Runs every endpoint's timers.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        for side in self.sides() {
            if let Some(e) = self.engine(side) {
                if e.poll_timeout().is_some_and(|t| t <= now) {
                    e.handle_timeout(now);
                }
            }
        }
        self.process(now);
    }

    /// The earliest moment any endpoint wants `handle_timeout`.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let all = self
            .back
            .iter()
            .chain(&self.upstream)
            .chain(self.fronts.iter().flatten());
        all.filter_map(|e| e.poll_timeout()).min()
    }

    /// Takes bytes to write to `side`'s link.
    pub(crate) fn poll_transmit(&mut self, side: Side, buf: &mut [u8]) -> usize {
        let n = self.engine(side).map_or(0, |e| e.poll_transmit(buf));
        if n > 0 {
            self.pump(); // room freed: items and answers that waited for it go now
        }
        n
    }

    /// Whether `side`'s bytes may be fed now: its endpoint and the shared endpoints its
    /// events can command (the back, the upstream) have room for a frame. When this is
    /// false, the driver writes those sides out first (backpressure: it stops reading
    /// `side` meanwhile).
    ///
    /// The fronts' room never gates the back: one front that stops reading would stall
    /// the device for every other front, and then its link would idle out. What the back
    /// sends a front without room waits in that front's pairs instead (an answer, at most
    /// a window of items per stream, whose credit on the back stops while they wait), and
    /// a callback to it is refused `Busy`; a front stuck for good is dropped by its
    /// writer, alone.
    pub(crate) fn may_take_input(&self, side: Side) -> bool {
        let room = |e: &Option<Box<dyn HostEngine>>| e.as_ref().is_none_or(|e| e.room_for_frame());
        let own = match side {
            Side::Back => room(&self.back),
            Side::Upstream => room(&self.upstream),
            Side::Front(f) => self.fronts.get(f).is_none_or(room),
        };
        let others = match side {
            Side::Front(_) | Side::Upstream => room(&self.back),
            Side::Back => room(&self.upstream),
        };
        own && others
    }

    /// Sides with bytes to write.
    pub(crate) fn pending_sides(&self) -> Vec<Side> {
        self.sides()
            .into_iter()
            .filter(|&s| self.engine_ref(s).is_some_and(|e| e.transmit_pending() > 0))
            .collect()
    }

    /// A side's endpoint (for its statistics).
    pub(crate) fn stats(&self, side: Side) -> Option<wirecall::Stats> {
        self.engine_ref(side).map(|e| e.stats())
    }

    fn sides(&self) -> Vec<Side> {
        let fronts =
            (0..self.fronts.len()).filter(|&f| matches!(self.fronts.get(f), Some(Some(_))));
        [Side::Back, Side::Upstream]
            .into_iter()
            .chain(fronts.map(Side::Front))
            .collect()
    }

    fn engine(&mut self, side: Side) -> Option<&mut (dyn HostEngine + 'static)> {
        match side {
            Side::Back => self.back.as_deref_mut(),
            Side::Upstream => self.upstream.as_deref_mut(),
            Side::Front(f) => self.fronts.get_mut(f).and_then(|e| e.as_deref_mut()),
        }
    }

    fn engine_ref(&self, side: Side) -> Option<&(dyn HostEngine + 'static)> {
        match side {
            Side::Back => self.back.as_deref(),
            Side::Upstream => self.upstream.as_deref(),
            Side::Front(f) => self.fronts.get(f).and_then(|e| e.as_deref()),
        }
    }

    /// Drains every side's events until none is left, acting on each.
    fn process(&mut self, now: Instant) {
        loop {
            let mut any = false;
            for side in self.sides() {
                while let Some(ev) = self.next_event(side) {
                    any = true;
                    self.on_event(now, side, ev);
                }
            }
            if !any {
                break;
            }
        }
        self.pump();
    }

    fn next_event(&mut self, side: Side) -> Option<Ev> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let ev = self
            .engine(side)
            .and_then(|e| e.poll_event())
            .map(|ev| match ev {
                Event::Connected(_) => Ev::Connected,
                Event::Request {
                    id,
                    procedure,
                    args,
                    mode,
                    ..
                } => {
                    scratch.extend_from_slice(args);
                    Ev::Request {
                        id,
                        procedure,
                        mode,
                    }
                }
                Event::Invoke { id, .. } => Ev::Invoke(id),
                Event::Reply { id, payload } => {
                    scratch.extend_from_slice(payload);
                    Ev::Reply(id)
                }
                Event::CallFailed { id, reason, detail } => {
                    scratch.extend_from_slice(detail);
                    Ev::Failed(id, reason)
                }
                Event::RequestEnded { id, .. } => Ev::Ended(id),
                Event::Item { stream, item } => {
                    scratch.extend_from_slice(item);
                    Ev::Item(stream)
                }
                Event::Credit { stream } => Ev::Credit(stream),
                Event::ItemsEnded { id } => Ev::ItemsEnded(id),
                Event::ManifestPiece {
                    total,
                    offset,
                    bytes,
                } => {
                    scratch.extend_from_slice(bytes);
                    Ev::Manifest { total, offset }
                }
                _ => Ev::Other,
            });
        self.scratch = scratch;
        ev
    }

    fn on_event(&mut self, now: Instant, side: Side, ev: Ev) {
        let payload = std::mem::take(&mut self.scratch);
        match ev {
            Ev::Connected => self.on_connected(side),
            Ev::Request {
                id,
                procedure,
                mode,
            } => self.on_request(now, side, id, procedure, &payload, mode),
            Ev::Invoke(id) => {
                let detail = "the bridge forwards calls, not remote handles";
                self.answer(side, id, Err((WireError::UnknownProcedure, detail.into())));
            }
            Ev::Reply(id) => self.on_end(side, id, Ok(payload.clone())),
            Ev::Failed(id, reason) => {
                let detail = String::from_utf8_lossy(&payload).into_owned();
                self.on_end(side, id, Err(failure(reason, detail)));
            }
            Ev::Ended(id) => {
                if let Some(i) = self.pairs.by_req(side, id) {
                    if let Some(p) = self.pairs.remove(i).filter(|p| !p.call_gone) {
                        self.counters.cancels += 1;
                        if let Some(e) = self.engine(p.call_side) {
                            let _ = e.cancel(p.call);
                        }
                    }
                }
            }
            Ev::Item(stream) => self.on_item(side, stream, &payload),
            Ev::Credit(stream) => {
                if let Some(i) = self.pair_of(side, stream) {
                    self.flush(i);
                }
            }
            Ev::ItemsEnded(id) => {
                if let Some(i) = self.pairs.by_req(side, id) {
                    if let Some(p) = self.pairs.get_mut(i) {
                        p.caller_ended = true;
                    }
                    self.flush(i);
                }
            }
            Ev::Manifest { total, offset } => self.on_manifest(side, total, offset, &payload),
            Ev::Other => {}
        }
        self.scratch = payload;
    }

    fn on_connected(&mut self, side: Side) {
        let read = match side {
            Side::Back => &mut self.back_manifest,
            Side::Upstream => &mut self.upstream_manifest,
            Side::Front(_) => return,
        };
        *read = ManifestRead::default();
        let serves = self
            .engine_ref(side)
            .and_then(|e| e.peer())
            .is_some_and(|p| p.manifest);
        let asked = serves
            && self
                .engine(side)
                .is_some_and(|e| e.request_manifest(0).is_ok());
        if !asked {
            self.manifest_mut(side).done = true; // nothing to read: serve none
        }
    }

    fn manifest_mut(&mut self, side: Side) -> &mut ManifestRead {
        match side {
            Side::Upstream => &mut self.upstream_manifest,
            _ => &mut self.back_manifest,
        }
    }

    fn on_manifest(&mut self, side: Side, total: u32, offset: u32, bytes: &[u8]) {
        if matches!(side, Side::Front(_)) {
            return;
        }
        let read = self.manifest_mut(side);
        if total > MAX_MANIFEST || offset as usize != read.bytes.len() {
            read.done = true; // too big, or a piece out of order: serve none
            read.bytes.clear();
            return;
        }
        read.bytes.extend_from_slice(bytes);
        let next = read.bytes.len() as u32;
        if next >= total || bytes.is_empty() {
            read.done = true;
        } else if self
            .engine(side)
            .is_none_or(|e| e.request_manifest(next).is_err())
        {
            self.manifest_mut(side).done = true;
        }
    }

    /// Where a request from `side` at `depth` goes, and the request it is nested in there.
    fn route(&self, side: Side, depth: u8) -> Result<(Side, Option<RequestId>), String> {
        if depth == 0 {
            return match side {
                Side::Front(_) => Ok((Side::Back, None)),
                Side::Back if self.has_upstream => Ok((Side::Upstream, None)),
                _ => Err(
                    "nothing serves the device's own calls here (the bridge has no upstream)"
                        .into(),
                ),
            };
        }
        // A callback: made while `side` serves a call this bridge made on it. The wire
        // names no parent, only the depth, so it goes to the side whose request that call
        // forwards, when exactly one side has calls in flight on `side`.
        let mut calls = self.pairs.calls_on(side);
        let Some(first) = calls.next() else {
            return Err("a nested call with no forwarded call in flight".into());
        };
        let (to, mut parent) = (first.req_side, first.req);
        for p in calls {
            if p.req_side != to {
                return Err("a nested call while several clients have calls in flight: the bridge cannot tell whose it is".into());
            }
            parent = p.req;
        }
        Ok((to, Some(parent)))
    }

    fn on_request(
        &mut self,
        now: Instant,
        side: Side,
        id: RequestId,
        procedure: u32,
        args: &[u8],
        mode: StreamMode,
    ) {
        let Some(e) = self.engine_ref(side) else {
            return;
        };
        let depth = e.request_depth(id).unwrap_or(0);
        let deadline = e.request_deadline(id);
        let (to, parent) = match self.route(side, depth) {
            Ok(r) => r,
            Err(detail) => {
                self.counters.unavailable += 1;
                self.answer(side, id, Err((WireError::UnknownProcedure, detail)));
                return;
            }
        };
        let timeout = match deadline {
            None => None, // a stream without a deadline: none on the other side either
            Some(d) => {
                let left = d.saturating_since(now);
                let margin = Duration::from_micros((left.as_micros() / 10).min(MARGIN.as_micros()));
                let left = Duration::from_micros(left.as_micros() - margin.as_micros());
                if left.as_micros() == 0 {
                    let detail = "no time was left to forward the call";
                    self.answer(side, id, Err((WireError::DeadlineExceeded, detail.into())));
                    return;
                }
                Some(left)
            }
        };
        let mut how = Open::stream(mode);
        if let Some(t) = timeout {
            how = how.with_timeout(t);
        }
        if let Some(p) = parent {
            how = how.nested_in(p);
        }
        let limit = self
            .engine_ref(to)
            .and_then(|e| e.peer())
            .map(|p| p.max_inbound);
        let opened = match self.engine(to) {
            Some(e) => e.open(now, procedure, args, how),
            None => Err(CallError::NotConnected),
        };
        match opened {
            Ok(call) => {
                self.counters.forwarded += 1;
                if parent.is_some() {
                    self.counters.callbacks += 1;
                }
                self.pairs.insert(Pair {
                    req_side: side,
                    req: id,
                    call_side: to,
                    call,
                    up: Default::default(),
                    down: Default::default(),
                    caller_ended: false,
                    end_sent: false,
                    outcome: None,
                    call_gone: false,
                });
            }
            Err(e) => {
                let answer = refusal(e, to, limit);
                if answer.0 == WireError::Busy {
                    self.counters.busy += 1;
                } else {
                    self.counters.unavailable += 1;
                }
                self.answer(side, id, Err(answer));
            }
        }
    }

    /// A call made on `side` ended: its request gets the outcome once the items before it
    /// have gone.
    fn on_end(&mut self, side: Side, id: CallId, outcome: Outcome) {
        if let Some(i) = self.pairs.by_call(side, id) {
            if let Some(p) = self.pairs.get_mut(i) {
                p.outcome = Some(outcome);
            }
            self.flush(i);
        }
    }

    fn on_item(&mut self, side: Side, stream: StreamId, item: &[u8]) {
        let Some(i) = self.pair_of(side, stream) else {
            // Its pair is over (the stream is ending): take it so credit never sticks.
            if let Some(e) = self.engine(side) {
                let _ = e.consume(stream, 1);
            }
            return;
        };
        if let Some(p) = self.pairs.get_mut(i) {
            match stream {
                StreamId::Call(_) => p.up.push_back(item.to_vec()),
                // Its call is gone: nothing will take it, and the request is about to end.
                StreamId::Request(_) if p.call_gone => {
                    if let Some(e) = self.engine(side) {
                        let _ = e.consume(stream, 1);
                    }
                }
                StreamId::Request(_) => p.down.push_back(item.to_vec()),
            }
        }
        self.flush(i);
    }

    fn pair_of(&self, side: Side, stream: StreamId) -> Option<usize> {
        match stream {
            StreamId::Call(c) => self.pairs.by_call(side, c),
            StreamId::Request(r) => self.pairs.by_req(side, r),
        }
    }

    /// Passes on what a pair holds as far as credit and room allow: items each way (each
    /// consumed where it came from once sent), the caller's end, then the call's end.
    fn flush(&mut self, i: usize) {
        let Some(p) = self.pairs.get_mut(i) else {
            return;
        };
        let (rs, req, cs, call, gone) = (p.req_side, p.req, p.call_side, p.call, p.call_gone);
        let (mut up, mut down) = (std::mem::take(&mut p.up), std::mem::take(&mut p.down));
        let (to_caller, from_server) = (StreamId::Request(req), StreamId::Call(call));
        // A call gone with its side takes no credit back and is sent nothing more.
        let server = (!gone).then_some((cs, from_server));
        self.pass(&mut up, (rs, to_caller), server);
        if !gone {
            self.pass(&mut down, (cs, from_server), Some((rs, to_caller)));
        }
        let Some(p) = self.pairs.get_mut(i) else {
            return;
        };
        p.up = up;
        p.down = down;
        if p.caller_ended && !p.end_sent && p.down.is_empty() && !gone {
            // Marked sent only once queued: a full queue refuses it like an item, and
            // the next write's pump retries it (else the server would wait for it forever).
            let sent = self.engine(cs).map_or(Ok(()), |e| e.end_items(call));
            if !matches!(sent, Err(StreamError::WouldBlock)) {
                if let Some(p) = self.pairs.get_mut(i) {
                    p.end_sent = true;
                }
            }
        }
        let Some(p) = self.pairs.get_mut(i) else {
            return;
        };
        if p.up.is_empty() && p.outcome.is_some() {
            let outcome = p.outcome.take().unwrap_or(Ok(Vec::new()));
            if self.answer(rs, req, outcome.clone()) {
                self.pairs.remove(i);
            } else if let Some(p) = self.pairs.get_mut(i) {
                p.outcome = Some(outcome); // no room yet: again after the next write
            }
        }
    }

    /// Sends `queue`'s items on `to` while it has credit and room, consuming each on
    /// `from` (where it came from) once sent: the coupling that bounds the queue.
    fn pass(
        &mut self,
        queue: &mut VecDeque<Vec<u8>>,
        (to_side, to): (Side, StreamId),
        from: Option<(Side, StreamId)>,
    ) {
        while let Some(item) = queue.front() {
            let Some(e) = self.engine(to_side) else { break };
            if e.credit(to) == 0 || e.send_item(to, item).is_err() {
                break;
            }
            queue.pop_front();
            if let Some((from_side, from)) = from {
                if let Some(e) = self.engine(from_side) {
                    let _ = e.consume(from, 1);
                }
            }
        }
    }

    /// Retries every pair that holds something (after room was freed or credit came).
    fn pump(&mut self) {
        for i in self.pairs.live() {
            self.flush(i);
        }
    }

    /// Answers a request; false only when its endpoint has no room now (try again).
    fn answer(&mut self, side: Side, id: RequestId, outcome: Outcome) -> bool {
        let Some(e) = self.engine(side) else {
            return true;
        };
        let r = match &outcome {
            Ok(bytes) => e.respond(id, bytes),
            Err((code, detail)) => e.respond_error(id, *code, detail),
        };
        !matches!(r, Err(wirecall::RespondError::WouldBlock))
    }

    /// A side's link ended (or its endpoint is being replaced): every pair through it ends,
    /// explicitly on the side still there. A request whose call was on the lost side keeps
    /// what its pair already holds: the items, then the call's own end if it came before
    /// the loss (a reply waiting for room is still the reply), else `NoSession`. Its pair
    /// stays until that is sent, as an answer waits for room anywhere (the caller's
    /// endpoint may be full right now); the caller's `process` sends what it can.
    fn side_lost(&mut self, _now: Instant, side: Side, why: &str) {
        for i in self.pairs.live() {
            let Some(p) = self.pairs.get_mut(i) else {
                continue;
            };
            if p.req_side == side {
                let (cs, call, gone) = (p.call_side, p.call, p.call_gone);
                self.pairs.remove(i);
                if !gone {
                    self.counters.cancels += 1;
                    if let Some(e) = self.engine(cs) {
                        let _ = e.cancel(call);
                    }
                }
            } else if p.call_side == side && !p.call_gone {
                p.down.clear(); // the caller's items: nowhere to go now
                p.outcome
                    .get_or_insert_with(|| Err((WireError::NoSession, why.into())));
                self.pairs.detach_call(i);
            }
        }
    }
}

/// The wire error and detail that answer a request whose call ended with `reason`.
fn failure(reason: CallFailure, detail: String) -> (WireError, String) {
    match reason {
        CallFailure::Remote(code) => (code, detail),
        CallFailure::DeadlineExceeded => (
            WireError::DeadlineExceeded,
            "the device did not answer within the deadline".into(),
        ),
        CallFailure::ConnectionLost => (
            WireError::NoSession,
            "the link to the device was lost".into(),
        ),
        CallFailure::FlowControl => (
            WireError::FlowControl,
            "the device sent items beyond its credit".into(),
        ),
        CallFailure::ItemLost => (
            WireError::ItemLost,
            "an item from the device was lost".into(),
        ),
        CallFailure::Idle => (
            WireError::DeadlineExceeded,
            "the device's stream idled".into(),
        ),
        _ => (
            WireError::Internal,
            format!("the forwarded call failed: {reason:?}"),
        ),
    }
}

/// The answer to a request whose call could not be made on `to`.
fn refusal(e: CallError, to: Side, limit: Option<u32>) -> (WireError, String) {
    let who = match to {
        Side::Back => "the device",
        Side::Upstream => "the upstream service",
        Side::Front(_) => "the client",
    };
    match e {
        CallError::TooManyCalls => (
            WireError::Busy,
            match limit {
                Some(n) => format!("{who} serves {n} calls at once, all taken"),
                None => format!("{who} has no free call slot"),
            },
        ),
        CallError::NotConnected | CallError::Closed => (
            WireError::NoSession,
            format!("{who} is not connected to the bridge"),
        ),
        CallError::TooLarge => (WireError::TooLarge, format!("too large for {who}'s frames")),
        CallError::TooDeep => (WireError::TooDeep, "calls nested too deeply".into()),
        CallError::Unsupported => (
            WireError::UnknownProcedure,
            format!("{who} does not speak streams"),
        ),
        CallError::WouldBlock => (WireError::Busy, format!("the link to {who} is full")),
        _ => (
            WireError::Internal,
            format!("cannot forward to {who}: {e:?}"),
        ),
    }
}
