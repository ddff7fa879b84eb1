//! The protocol state machine.

mod commands;
mod handles;
#[deny(clippy::arithmetic_side_effects)]
mod receive;
mod streams;
mod timers;

// For `crate::__fuzz`, which checks them against each other.
pub(crate) use streams::{count_packed, packed_item};

use crate::calls::{InCall, InState, OutCall};
use crate::config::{Budget, Config};
use crate::event::{CallFailure, CallId, Disconnect, Event, PeerInfo, RequestEnd, RequestId};
use crate::framing::{self, Decoder};
use crate::handle::{Exports, Handle, Resolved};
use crate::ring::{ByteRing, Fifo};
use crate::stats::Stats;
use crate::stream::StreamId;
use crate::time::{Duration, Instant};
use crate::wire::WireError;

/// The deadline of a stream made without one: never (its idle timeout bounds it).
pub(crate) const NEVER: Instant = Instant::from_micros(u64::MAX);

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
/// * `HANDLES`: slots of the export table, the objects this side can have out as remote
///   handles at once (12 bytes each; used only with
///   [`Config::with_handles`](crate::Config::with_handles)). Default 4.
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
/// that produced an event, and takes no byte that could start or end a frame while an
/// event is unread or while the transmit queue lacks room for a control frame
/// (backpressure); bytes that can do neither (the rest of a frame under way, delimiters
/// and noise between frames) may still be taken. Its return value says how many bytes it
/// took; offer the rest again after draining.
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
    const HANDLES: usize = 4,
> {
    config: Config,
    /// The run-time limits this side advertises: `config`'s, clamped to the capacities.
    limits: Limits,
    now: Instant,
    link: Link,
    /// What the peer's last `Hello` said (meaningful while established).
    peer: PeerInfo,
    decoder: Decoder<FRAME>,
    /// When the frame now being received is dropped if it has not ended (its first byte's
    /// arrival plus `frame_timeout`).
    frame_deadline: Instant,
    /// Where outgoing frames are assembled before COBS encoding.
    scratch: [u8; FRAME],
    tx: ByteRing<TX>,
    /// Calls this side made. A call's id is its slot plus `OUT` times the slot's epoch, so
    /// a reply finds its slot without a search.
    outbound: [Option<OutCall>; OUT],
    /// The epoch of each outbound slot's last id: the next call in that slot uses the next
    /// epoch, so an id is not reused at once even after the peer's last word was lost.
    epochs: [u8; OUT],
    /// Calls the peer made, each at slot `id % IN` unless that was taken ("displaced").
    inbound: [Option<InCall>; IN],
    /// Objects this side exported (remote handles).
    exports: Exports<HANDLES>,
    counts: Counts,
    /// A payload event whose bytes are in the decoder's buffer.
    pending: Option<Pending>,
    link_events: Fifo<LinkEvent, 4>,
    due: Due,
    last_rx: Instant,
    last_ping: Instant,
    next_hello: Instant,
    protocol_window: Window,
    cancel_window: Window,
    stray_window: Window,
    abandon_window: Window,
    restart_window: Window,
    /// Bytes ever handed out by `poll_transmit`, and the count at which the last queued
    /// pong will have been handed out: while below it, a pong is still waiting and further
    /// pings coalesce into it.
    /// (Wrapping `u32`s: the two never differ by more than `TX`, far below 2^31.)
    tx_popped: u32,
    pong_until: u32,
    /// The same for the last manifest piece queued: while it is still queued, the next
    /// waits, so a flood of manifest requests holds at most one piece in the queue (a
    /// request of 9 bytes on the wire can ask for a piece of a whole frame).
    manifest_until: u32,
    stats: Stats,
}

/// The limits this side advertises and enforces.
#[derive(Clone, Copy, Debug)]
struct Limits {
    frame: u32,
    inbound: u16,
    outbound: u16,
    /// Items the peer may send on each stream before this side grants more.
    stream_window: u16,
    /// Slots of the export table in use (0 with handles off).
    handles: u16,
}

/// Table occupancy, kept as the tables change so that no hot path counts.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    /// Outbound slots taken.
    out_used: u16,
    /// Inbound slots taken.
    in_used: u16,
    /// Inbound entries not at their home slot (`id % IN`): while zero, a lookup by id
    /// looks at one slot only.
    in_displaced: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Handshaking,
    Established,
    Closed,
}

/// A link change not yet reported. `Connected` reads the peer from `peer`, so the
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
        id: RequestId,
        procedure: u32,
        at: usize,
        len: usize,
    },
    Invoke {
        id: RequestId,
        on: Resolved,
        method: u32,
        at: usize,
        len: usize,
    },
    Revoked {
        handle: Handle,
        code: WireError,
        at: usize,
        len: usize,
    },
    Reply {
        id: CallId,
        at: usize,
        len: usize,
    },
    Failed {
        id: CallId,
        code: WireError,
        at: usize,
        len: usize,
    },
    Item {
        stream: StreamId,
        at: usize,
        len: usize,
    },
    /// The items of an Items frame, the next one's length varint at `at`.
    Items {
        stream: StreamId,
        at: usize,
        len: usize,
    },
    Credit {
        stream: StreamId,
    },
    /// A server stream's Reply came without its End: items were lost.
    Lost {
        id: CallId,
    },
    ItemsEnded {
        id: RequestId,
    },
    Manifest {
        total: u32,
        offset: u32,
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
    /// Outbound calls whose Cancel is still to be queued.
    cancels: u16,
    /// Inbound calls whose error (`DeadlineExceeded`) is still to be queued.
    errors: u16,
    /// A call in either table ended and `poll_event` has not reported it yet: input waits,
    /// so a request reusing that id can never be reported before the old one's end.
    reports: bool,
    /// Some stream owes the peer a `Credit` frame.
    credits: bool,
    /// The peer asked for the manifest from this offset (the latest request wins: the
    /// asker waits for the piece at the offset it asked last).
    manifest: Option<u32>,
}

impl Due {
    /// Anything for `flush_due` to queue: false on the hot path, which then costs one test.
    fn any(&self) -> bool {
        self.close.is_some()
            || self.hello.is_some()
            || self.pong
            || self.ping
            || self.cancels != 0
            || self.errors != 0
            || self.credits
            || self.manifest.is_some()
    }
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
    fn starting(now: Instant) -> Window {
        Window {
            start: now,
            count: 0,
        }
    }

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

impl<
        const FRAME: usize,
        const IN: usize,
        const OUT: usize,
        const TX: usize,
        const HANDLES: usize,
    > Endpoint<FRAME, IN, OUT, TX, HANDLES>
{
    /// Worst-case memory of this endpoint type in bytes: it owns all its buffers, so this is
    /// all the RAM it will ever use (the tests assert the default's figure).
    pub const WORST_CASE_RAM: usize = core::mem::size_of::<Self>();

    /// Epochs per outbound slot: ids stay below 128 (one varint byte) while `OUT` ≤ 128,
    /// below 16384 (two bytes) while `OUT` ≤ 16384.
    const EPOCHS: u32 = if OUT <= 128 {
        (128 / OUT) as u32
    } else if OUT <= 16384 {
        (16384 / OUT) as u32
    } else {
        1
    };

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
                IN <= u16::MAX as usize && OUT <= u16::MAX as usize,
                "IN and OUT must be at most 65535"
            );
            assert!(
                HANDLES <= u16::MAX as usize,
                "HANDLES must be at most 65535"
            );
            assert!(
                TX >= framing::max_encoded_len(FRAME) + CONTROL_RESERVE,
                "TX must hold one largest encoded frame plus a control frame"
            );
        }
        let clamp = |want: u32, cap: usize, min: usize| (want as usize).min(cap).max(min);
        let limits = Limits {
            frame: clamp(config.max_frame, FRAME, crate::wire::MIN_MAX_FRAME) as u32,
            inbound: clamp(config.max_inbound, IN, 1) as u16,
            outbound: clamp(config.max_outbound, OUT, 1) as u16,
            stream_window: config.stream_window.clamp(1, 65535) as u16,
            handles: if config.handles {
                (config.max_handles as usize).min(HANDLES) as u16
            } else {
                0
            },
        };
        Endpoint {
            config,
            limits,
            now,
            link: Link::Handshaking,
            peer: PeerInfo {
                version: 0,
                max_frame: 0,
                max_inbound: 0,
                max_outbound: 0,
                keepalive: Duration::ZERO,
                schema: 0,
                manifest: false,
                call_timeout: None,
                stream_window: None,
                handles: None,
            },
            decoder: Decoder::new(limits.frame as usize),
            frame_deadline: now,
            scratch: [0; FRAME],
            tx: ByteRing::new(),
            outbound: [None; OUT],
            // The first call in each slot uses epoch 0.
            epochs: [(Self::EPOCHS - 1) as u8; OUT],
            inbound: [None; IN],
            exports: Exports::new(),
            counts: Counts::default(),
            pending: None,
            link_events: Fifo::new(),
            due: Due {
                hello: Some(HelloKind::Initial),
                ..Due::default()
            },
            last_rx: now,
            last_ping: now,
            next_hello: now + config.keepalive,
            protocol_window: Window::starting(now),
            cancel_window: Window::starting(now),
            stray_window: Window::starting(now),
            abandon_window: Window::starting(now),
            restart_window: Window::starting(now),
            tx_popped: 0,
            pong_until: 0,
            manifest_until: 0,
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
            Link::Established => Some(&self.peer),
            _ => None,
        }
    }

    /// True once the handshake completed and until the link is lost.
    pub fn is_connected(&self) -> bool {
        self.link == Link::Established
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
            usize::from(self.counts.out_used),
            usize::from(self.counts.in_used),
        )
    }

    /// The limits this side advertises in its `Hello` and enforces: largest frame, calls
    /// served at once, calls in flight at once ([`Config`]'s, clamped to the capacities).
    pub fn limits(&self) -> (usize, usize, usize) {
        (
            self.limits.frame as usize,
            usize::from(self.limits.inbound),
            usize::from(self.limits.outbound),
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
    #[must_use = "an event not acted on is lost"]
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        if let Some(p) = self.pending.take() {
            if let Pending::Items { stream, at, len } = p {
                if !self.still_receives(stream) {
                    // Cancelled (or ended) while its packed items were being taken: the
                    // rest are dropped, as single items after a cancel are.
                    return self.poll_event();
                }
                // One event per packed item; the rest stays pending (and input waits).
                let (start, end) = streams::packed_item(self.decoder.frame(len), at);
                if end < len {
                    self.pending = Some(Pending::Items {
                        stream,
                        at: end,
                        len,
                    });
                }
                return Some(Event::Item {
                    stream,
                    item: self.decoder.frame(len).get(start..end).unwrap_or(&[]),
                });
            }
            return Some(self.payload_event(p));
        }
        if let Some(ev) = self.link_events.pop() {
            return Some(match ev {
                LinkEvent::Connected => Event::Connected(self.peer),
                LinkEvent::Disconnected(why) => Event::Disconnected(why),
            });
        }
        if let Some((handle, interface)) = self.exports.take_dropped() {
            return Some(Event::Released { handle, interface });
        }
        if !self.due.reports {
            return None;
        }
        for i in 0..OUT {
            let Some(Some(call)) = self.outbound.get_mut(i) else {
                continue;
            };
            if let Some(reason) = call.report.take() {
                let id = CallId {
                    wire: call.id,
                    index: i as u32,
                };
                self.settle_out(i);
                return Some(Event::CallFailed {
                    id,
                    reason,
                    detail: &[],
                });
            }
        }
        for i in 0..IN {
            let Some(Some(call)) = self.inbound.get_mut(i) else {
                continue;
            };
            if let InState::Ended {
                reason,
                reported: reported @ false,
                ..
            } = &mut call.state
            {
                *reported = true;
                let (wire, reason) = (call.id, *reason);
                self.settle_in(i);
                let id = RequestId {
                    wire,
                    index: i as u32,
                };
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
                id,
                procedure,
                args: tail(at, len),
                mode: self.request_mode(id).unwrap_or_default(),
                export: self.next_export(),
            },
            Pending::Invoke {
                id,
                on,
                method,
                at,
                len,
            } => Event::Invoke {
                id,
                on,
                method,
                args: tail(at, len),
                export: self.next_export(),
            },
            Pending::Revoked {
                handle,
                code,
                at,
                len,
            } => Event::Revoked {
                handle,
                code,
                reason: tail(at, len),
            },
            Pending::Reply { id, at, len } => Event::Reply {
                id,
                payload: tail(at, len),
            },
            Pending::Failed { id, code, at, len } => Event::CallFailed {
                id,
                reason: CallFailure::Remote(code),
                detail: tail(at, len),
            },
            Pending::Item { stream, at, len } | Pending::Items { stream, at, len } => Event::Item {
                stream,
                item: tail(at, len),
            },
            Pending::Credit { stream } => Event::Credit { stream },
            Pending::ItemsEnded { id } => Event::ItemsEnded { id },
            Pending::Manifest {
                total,
                offset,
                at,
                len,
            } => Event::ManifestPiece {
                total,
                offset,
                bytes: tail(at, len),
            },
            Pending::Lost { id } => Event::CallFailed {
                id,
                reason: CallFailure::ItemLost,
                detail: &[],
            },
        }
    }

    /// Copies bytes to send into `buf`, returning how many. Call until it returns 0; any
    /// buffer size works, one byte included.
    #[must_use = "the bytes copied into `buf` must be sent, or they are lost"]
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> usize {
        if self.due.any() {
            self.flush_due();
        }
        let n = self.tx.pop_into(buf);
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
        self.tx.free()
    }

    /// Queues one frame made of `parts` if the transmit queue has room.
    fn queue_frame(&mut self, parts: &[&[u8]]) -> bool {
        Self::push_frame(&mut self.tx, &mut self.stats, parts)
    }

    /// [`queue_frame`](Self::queue_frame) on borrowed fields, so that a frame assembled in
    /// `scratch` can be queued without copying it.
    fn push_frame(tx: &mut ByteRing<TX>, stats: &mut Stats, parts: &[&[u8]]) -> bool {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if framing::max_encoded_len(len + framing::CRC_LEN) > tx.free() {
            return false;
        }
        // Room was checked above, so no push can fail.
        framing::encode_frame(parts, tx);
        crate::stats::bump(&mut stats.frames_out);
        true
    }

    /// The largest decoded frame this side may send now.
    fn send_limit(&self) -> usize {
        match &self.link {
            Link::Established => self.limits.frame.min(self.peer.max_frame) as usize,
            _ => self.limits.frame as usize,
        }
    }

    /// Three of the longer keepalive interval, capped by this side's `max_idle_limit` (but
    /// never below three of its own intervals): a peer cannot stretch it without bound.
    fn keepalive_idle_limit(&self, peer: &PeerInfo) -> Duration {
        let own = self.config.keepalive.saturating_mul(3);
        let cap = self.config.max_idle_limit.max(own);
        self.config
            .keepalive
            .max(peer.keepalive)
            .saturating_mul(3)
            .min(cap)
    }

    /// The slot of outbound call `id` if it is one of ours.
    fn out_slot(id: u32) -> usize {
        id as usize % OUT
    }

    /// Frees outbound slot `i`, keeping the counts.
    fn free_out(&mut self, i: usize) {
        if let Some(slot) = self.outbound.get_mut(i) {
            if let Some(call) = slot.take() {
                self.counts.out_used = self.counts.out_used.saturating_sub(1);
                if call.cancel_due {
                    self.due.cancels = self.due.cancels.saturating_sub(1);
                }
            }
        }
    }

    /// Frees outbound slot `i` if nothing more can happen to its call.
    fn settle_out(&mut self, i: usize) {
        if matches!(self.outbound.get(i), Some(Some(c)) if c.is_done()) {
            self.free_out(i);
        }
    }

    /// Frees inbound slot `i`, keeping the counts.
    fn free_in(&mut self, i: usize) {
        if let Some(slot) = self.inbound.get_mut(i) {
            if let Some(call) = slot.take() {
                self.counts.in_used = self.counts.in_used.saturating_sub(1);
                if call.id as usize % IN != i {
                    self.counts.in_displaced = self.counts.in_displaced.saturating_sub(1);
                }
                if call.error_due().is_some() {
                    self.due.errors = self.due.errors.saturating_sub(1);
                }
            }
        }
    }

    /// Frees inbound slot `i` if nothing more can happen to its call.
    fn settle_in(&mut self, i: usize) {
        if matches!(self.inbound.get(i), Some(Some(c)) if c.is_done()) {
            self.free_in(i);
        }
    }

    /// The slot of the active inbound call with wire id `id`: its home slot, or, only if
    /// some entry is displaced, a search.
    fn find_active_in(&self, id: u32) -> Option<usize> {
        let home = id as usize % IN;
        if matches!(self.inbound.get(home), Some(Some(c)) if c.id == id && c.is_active()) {
            return Some(home);
        }
        if self.counts.in_displaced == 0 {
            return None;
        }
        self.inbound
            .iter()
            .position(|s| s.is_some_and(|c| c.id == id && c.is_active()))
    }

    /// Ends the session: every call in either direction ends with a lost connection, and
    /// the endpoint goes back to the handshake (or stays closed).
    fn lose_link(&mut self, why: Disconnect, next: Link) {
        if self.link == Link::Established {
            crate::stats::bump(&mut self.stats.link_losses);
            let _ = self.link_events.push(LinkEvent::Disconnected(why));
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
        self.due.cancels = 0;
        // A request the application has not seen yet is simply forgotten.
        if let Some(Pending::Request { id, .. } | Pending::Invoke { id, .. }) = self.pending {
            self.pending = None;
            if let Some(slot) = self.inbound.get_mut(id.index()) {
                *slot = None;
            }
        }
        for slot in self.outbound.iter_mut() {
            if slot.is_some_and(|c| c.is_done()) {
                *slot = None;
            }
        }
        self.end_served();
        self.due.ping = false;
        self.due.pong = false;
        // A piece asked for in the ended session is owed to nobody (and the next session
        // may allow smaller frames).
        self.due.manifest = None;
        if next == Link::Closed {
            self.decoder.discard(); // nothing more is decoded (and the input fast path
                                    // relies on a closed endpoint never being inside a frame)
        }
        self.link = next;
        if next == Link::Handshaking {
            self.due.hello = Some(HelloKind::Initial);
            self.next_hello = self.now + self.config.keepalive;
        }
    }

    /// Ends everything this side does for the peer's session: every request it made ends
    /// (no answer is sent) and every object exported to it is freed (and reported), so a
    /// handle never outlives the session of its holder. Called when the link's session
    /// ends, and when the peer ended its session without this side's (section 5.3 of
    /// docs/PROTOCOL.md: a Hello reply while established).
    fn end_served(&mut self) {
        self.exports.end_session();
        for call in self.inbound.iter_mut().flatten() {
            self.due.reports |= call.end(RequestEnd::ConnectionLost, None);
            call.drop_error(); // the session it belonged to is gone
        }
        self.due.errors = 0;
        for slot in self.inbound.iter_mut() {
            if slot.is_some_and(|c| c.is_done()) {
                *slot = None;
            }
        }
        self.recount();
    }

    /// Recomputes the table counts after a sweeping change (a lost link).
    fn recount(&mut self) {
        let used = |n: usize| n as u16; // tables hold at most 65535 entries (checked in `new`)
        self.counts.out_used = used(self.outbound.iter().flatten().count());
        self.counts.in_used = used(self.inbound.iter().flatten().count());
        self.counts.in_displaced = used(
            self.inbound
                .iter()
                .enumerate()
                .filter(|(i, s)| s.is_some_and(|c| c.id as usize % IN != *i))
                .count(),
        );
    }
}
