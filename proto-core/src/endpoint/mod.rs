//! The protocol state machine.

mod commands;
mod receive;
mod timers;

use heapless::Deque;

use crate::calls::{InCall, InState, OutCall};
use crate::config::{Budget, Config};
use crate::event::{CallFailure, CallId, Disconnect, Event, PeerInfo, RequestEnd, RequestId};
use crate::framing::{self, Decoder};
use crate::stats::Stats;
use crate::time::{Duration, Instant};
use crate::wire::WireError;

/// Wire bytes of the largest frame that input processing may have to queue at once (an
/// `Error` reply without detail: header, 5-byte id, code, CRC). Input stops while less than
/// this is free, so a flood of requests meets backpressure instead of lost `Busy` replies.
const CONTROL_RESERVE: usize = framing::max_encoded_len(1 + 5 + 1 + framing::CRC_LEN);

/// One end of a wirecall link: calls out, serves calls in, both at once.
///
/// The endpoint is sans-I/O: it never reads a clock, touches a device or allocates. You
/// move bytes and time in and out of it. Its capacities are const parameters, so its size is
/// fixed at compile time (see [`Endpoint::WORST_CASE_RAM`] and the crate docs):
///
/// * `FRAME`: largest decoded frame, header and CRC included (receive buffer, and the
///   largest frame this side sends). Default 256.
/// * `IN`: calls from the peer served at once; more get `Busy`. Default 4.
/// * `OUT`: calls to the peer in flight at once. Default 4.
/// * `TX`: bytes of the transmit queue; at least one largest encoded frame plus room for a
///   control frame (checked at compile time). Default 576.
///
/// # The contract
///
/// * **Inputs**: [`handle_input`](Self::handle_input) with bytes from the link (any number,
///   one at a time is fine), [`handle_timeout`](Self::handle_timeout) when
///   [`poll_timeout`](Self::poll_timeout)'s instant has come.
/// * **Commands**: [`call`](Self::call), [`respond`](Self::respond),
///   [`respond_error`](Self::respond_error), [`cancel`](Self::cancel),
///   [`close`](Self::close). Misuse and local capacity limits are `Err`s of these.
/// * **Outputs**: [`poll_event`](Self::poll_event) until `None`,
///   [`poll_transmit`](Self::poll_transmit) until 0 (a one-byte buffer works),
///   then [`poll_timeout`](Self::poll_timeout).
///
/// **The rule of one mutation**: after every input or command, drain the outputs in that
/// order before the next input. `handle_input` enforces it: it stops consuming after a frame
/// that produced an event, and takes nothing while an event is unread or while the transmit
/// queue lacks room for a control frame (backpressure). Its return value says how many
/// bytes it took; offer the rest again after draining.
///
/// # Guarantees
///
/// * Never panics, whatever bytes arrive; does bounded work per byte and per call.
/// * Faults caused by the peer or the link are never `Err`s: they are [`Stats`] counters
///   and, where a call is affected, events.
/// * Every call ends exactly once: with a reply, an error, a deadline, a cancel or a lost
///   connection. Every request the peer waits on gets an explicit answer.
/// * `now` may be passed in any order; the endpoint clamps it so its clock never runs
///   backwards.
#[derive(Debug)]
pub struct Endpoint<
    const FRAME: usize = 256,
    const IN: usize = 4,
    const OUT: usize = 4,
    const TX: usize = 576,
> {
    config: Config,
    now: Instant,
    link: Link,
    /// The peer of the last handshake, for `Event::Connected`.
    last_peer: PeerInfo,
    decoder: Decoder<FRAME>,
    /// When the frame now being received began.
    frame_started: Instant,
    /// Where outgoing frames are assembled before COBS encoding.
    scratch: [u8; FRAME],
    tx: Deque<u8, TX>,
    outbound: [Option<OutCall>; OUT],
    inbound: [Option<InCall>; IN],
    next_id: u32,
    /// A payload event whose bytes are in the decoder's buffer.
    pending: Option<Pending>,
    link_events: Deque<LinkEvent, 4>,
    due: Due,
    last_rx: Instant,
    last_ping: Instant,
    next_hello: Instant,
    protocol_window: Window,
    cancel_window: Window,
    /// Bytes ever handed out by `poll_transmit`, and the count at which the last queued
    /// pong will have been handed out: while below it, a pong is still waiting and further
    /// pings coalesce into it.
    /// (Wrapping `u32`s: the two never differ by more than `TX`, far below 2^31.)
    tx_popped: u32,
    pong_until: u32,
    stats: Stats,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Handshaking,
    Established(PeerInfo),
    Closed,
}

/// A link change not yet reported. `Connected` reads the peer from `last_peer`, so the
/// queue stays a few bytes.
#[derive(Clone, Copy, Debug)]
enum LinkEvent {
    Connected,
    Disconnected(Disconnect),
}

/// A payload event; `at` is where its tail starts in the frame of length `len`.
#[derive(Clone, Copy, Debug)]
enum Pending {
    Request {
        id: u32,
        procedure: u32,
        at: usize,
        len: usize,
    },
    Reply {
        id: u32,
        at: usize,
        len: usize,
    },
    Failed {
        id: u32,
        code: WireError,
        at: usize,
        len: usize,
    },
}

/// Control frames waiting for room in the transmit queue. Each kind is at most one
/// frame: repeated causes coalesce.
#[derive(Clone, Copy, Debug, Default)]
struct Due {
    close: Option<WireError>,
    hello: Option<HelloKind>,
    pong: bool,
    ping: bool,
    /// A call in either table ended and `poll_event` has not reported it yet: input waits,
    /// so a request reusing that id can never be reported before the old one's end.
    reports: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HelloKind {
    Initial,
    Reply,
}

/// Counts events in a sliding-by-reset time window against a [`Budget`].
#[derive(Clone, Copy, Debug, Default)]
struct Window {
    start: Instant,
    count: u16,
}

impl Window {
    /// Records one event; false once the budget for this window is exceeded.
    fn spend(&mut self, budget: Budget, now: Instant) -> bool {
        if now >= self.start + budget.window {
            self.start = now;
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        self.count <= budget.max
    }
}

impl<const FRAME: usize, const IN: usize, const OUT: usize, const TX: usize>
    Endpoint<FRAME, IN, OUT, TX>
{
    /// Worst-case memory of this endpoint type in bytes: it owns all its buffers, so this is
    /// all the RAM it will ever use (the tests assert the default's figure).
    pub const WORST_CASE_RAM: usize = core::mem::size_of::<Self>();

    /// Ids cycle through this many values: one varint byte for the first 128, and enough
    /// ids that a slot held for late replies never forces reuse of a live id.
    const ID_SPACE: u32 = if OUT <= 64 { 128 } else { 1 << 14 };

    /// A new endpoint; it starts the handshake at once (its `Hello` is the first thing
    /// [`poll_transmit`](Self::poll_transmit) returns).
    pub fn new(now: Instant, config: Config) -> Self {
        const {
            assert!(
                FRAME >= crate::wire::MIN_MAX_FRAME,
                "FRAME must be at least MIN_MAX_FRAME (48)"
            );
            assert!(FRAME <= u32::MAX as usize, "FRAME must fit in 32 bits");
            assert!(IN >= 1 && OUT >= 1, "IN and OUT must be at least 1");
            assert!(
                TX >= framing::max_encoded_len(FRAME) + CONTROL_RESERVE,
                "TX must hold one largest encoded frame plus a control frame"
            );
        }
        Endpoint {
            config,
            now,
            link: Link::Handshaking,
            last_peer: PeerInfo {
                version: 0,
                max_frame: 0,
                max_inbound: 0,
                max_outbound: 0,
                keepalive: Duration::ZERO,
                schema: 0,
            },
            decoder: Decoder::new(),
            frame_started: now,
            scratch: [0; FRAME],
            tx: Deque::new(),
            outbound: [None; OUT],
            inbound: [None; IN],
            next_id: 0,
            pending: None,
            link_events: Deque::new(),
            due: Due {
                hello: Some(HelloKind::Initial),
                ..Due::default()
            },
            last_rx: now,
            last_ping: now,
            next_hello: now + config.keepalive,
            protocol_window: Window {
                start: now,
                count: 0,
            },
            cancel_window: Window {
                start: now,
                count: 0,
            },
            tx_popped: 0,
            pong_until: 0,
            stats: Stats::default(),
        }
    }

    /// The settings this endpoint was made with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters of what the link and the peer did.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// What the handshake learned about the peer, while the link is established.
    pub fn peer(&self) -> Option<&PeerInfo> {
        match &self.link {
            Link::Established(peer) => Some(peer),
            _ => None,
        }
    }

    /// True once the handshake completed and until the link is lost.
    pub fn is_connected(&self) -> bool {
        matches!(self.link, Link::Established(_))
    }

    /// True after [`close`](Self::close), or after the handshake found the peer
    /// incompatible.
    pub fn is_closed(&self) -> bool {
        self.link == Link::Closed
    }

    /// Calls this endpoint made that are still waiting for their outcome.
    pub fn calls_in_flight(&self) -> usize {
        self.outbound.iter().flatten().filter(|c| !c.ended).count()
    }

    /// Calls from the peer still waiting for `respond`.
    pub fn requests_pending(&self) -> usize {
        self.inbound
            .iter()
            .flatten()
            .filter(|c| c.is_active())
            .count()
    }

    /// Table slots in use in each direction (outbound, inbound), including calls that have
    /// ended but whose aftermath (late-reply grace, an unread event, a queued error) is not
    /// over. Zero in both once everything has settled.
    pub fn slots_in_use(&self) -> (usize, usize) {
        (
            self.outbound.iter().flatten().count(),
            self.inbound.iter().flatten().count(),
        )
    }

    /// Bytes waiting in the transmit queue.
    pub fn transmit_pending(&self) -> usize {
        self.tx.len()
    }

    /// The next event, or `None`. Call until `None` after every input or command.
    ///
    /// Order: the payload event of the last frame, link changes, ended calls in either
    /// direction.
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        if let Some(p) = self.pending.take() {
            return Some(self.payload_event(p));
        }
        if let Some(ev) = self.link_events.pop_front() {
            return Some(match ev {
                LinkEvent::Connected => Event::Connected(self.last_peer),
                LinkEvent::Disconnected(why) => Event::Disconnected(why),
            });
        }
        for slot in self.outbound.iter_mut() {
            let Some(call) = slot else { continue };
            if let Some(reason) = call.report.take() {
                let id = CallId(call.id);
                if call.is_done() {
                    *slot = None;
                }
                return Some(Event::CallFailed {
                    id,
                    reason,
                    detail: &[],
                });
            }
        }
        for slot in self.inbound.iter_mut() {
            let Some(call) = slot else { continue };
            if let InState::Ended {
                reason,
                reported: reported @ false,
                ..
            } = &mut call.state
            {
                *reported = true;
                let (id, reason) = (RequestId(call.id), *reason);
                if call.is_done() {
                    *slot = None;
                }
                return Some(Event::RequestEnded { id, reason });
            }
        }
        self.due.reports = false;
        None
    }

    fn payload_event(&self, p: Pending) -> Event<'_> {
        let tail = |at: usize, len: usize| self.decoder.frame(len).get(at..).unwrap_or(&[]);
        match p {
            Pending::Request {
                id,
                procedure,
                at,
                len,
            } => Event::Request {
                id: RequestId(id),
                procedure,
                args: tail(at, len),
            },
            Pending::Reply { id, at, len } => Event::Reply {
                id: CallId(id),
                payload: tail(at, len),
            },
            Pending::Failed { id, code, at, len } => Event::CallFailed {
                id: CallId(id),
                reason: CallFailure::Remote(code),
                detail: tail(at, len),
            },
        }
    }

    /// Copies bytes to send into `buf`, returning how many. Call until it returns 0; any
    /// buffer size works, one byte included.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> usize {
        self.flush_due();
        let mut n = 0;
        for slot in buf.iter_mut() {
            match self.tx.pop_front() {
                Some(b) => {
                    *slot = b;
                    n += 1;
                }
                None => break,
            }
        }
        self.stats.bytes_out = self.stats.bytes_out.saturating_add(n as u32);
        self.tx_popped = self.tx_popped.wrapping_add(n as u32);
        n
    }

    /// Clamps `now` so the endpoint's clock never runs backwards, and returns it.
    fn advance(&mut self, now: Instant) -> Instant {
        self.now = self.now.max(now);
        self.now
    }

    fn tx_free(&self) -> usize {
        TX - self.tx.len()
    }

    /// Queues one frame made of `parts` if the transmit queue has room.
    fn queue_frame(&mut self, parts: &[&[u8]]) -> bool {
        Self::push_frame(&mut self.tx, &mut self.stats, parts)
    }

    /// [`queue_frame`](Self::queue_frame) on borrowed fields, so that a frame assembled in
    /// `scratch` can be queued without copying it.
    fn push_frame(tx: &mut Deque<u8, TX>, stats: &mut Stats, parts: &[&[u8]]) -> bool {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if framing::max_encoded_len(len + framing::CRC_LEN) > TX - tx.len() {
            return false;
        }
        // Room was checked above, so no push can fail.
        framing::encode_frame(parts, |b| {
            let _ = tx.push_back(b);
        });
        crate::stats::bump(&mut stats.frames_out);
        true
    }

    /// The largest decoded frame this side may send now.
    fn send_limit(&self) -> usize {
        match &self.link {
            Link::Established(peer) => FRAME.min(peer.max_frame as usize),
            _ => FRAME,
        }
    }

    fn keepalive_idle_limit(&self, peer: &PeerInfo) -> Duration {
        self.config.keepalive.max(peer.keepalive).saturating_mul(3)
    }

    /// Ends the session: every call in either direction ends with a lost connection, and
    /// the endpoint goes back to the handshake (or stays closed).
    fn lose_link(&mut self, why: Disconnect, next: Link) {
        if let Link::Established(_) = self.link {
            crate::stats::bump(&mut self.stats.link_losses);
            let _ = self.link_events.push_back(LinkEvent::Disconnected(why));
        }
        for call in self.outbound.iter_mut().flatten() {
            if !call.ended {
                call.ended = true;
                call.report = Some(CallFailure::ConnectionLost);
                self.due.reports = true;
            }
            call.live = false;
            call.cancel_due = false;
        }
        // A request the application has not seen yet is simply forgotten.
        if let Some(Pending::Request { id, .. }) = self.pending {
            self.pending = None;
            for slot in self.inbound.iter_mut() {
                if slot.is_some_and(|c| c.id == id && c.is_active()) {
                    *slot = None;
                }
            }
        }
        for call in self.inbound.iter_mut().flatten() {
            self.due.reports |= call.is_active();
            call.end(RequestEnd::ConnectionLost, None);
            if let InState::Ended { error_due, .. } = &mut call.state {
                *error_due = None; // the session it belonged to is gone
            }
        }
        crate::calls::tidy(&mut self.outbound, OutCall::is_done);
        crate::calls::tidy(&mut self.inbound, InCall::is_done);
        self.due.ping = false;
        self.due.pong = false;
        self.link = next;
        if next == Link::Handshaking {
            self.due.hello = Some(HelloKind::Initial);
            self.next_hello = self.now + self.config.keepalive;
        }
    }
}
