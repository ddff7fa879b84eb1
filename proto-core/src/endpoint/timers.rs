//! Time: deadlines, keepalive, handshake retries; and flushing control frames that were
//! waiting for room in the transmit queue.

use super::receive::encode_head;
use super::{Endpoint, HelloKind, Link, NEVER};
use crate::event::{CallFailure, Disconnect, RequestEnd};
use crate::stats::bump;
use crate::time::{earliest, Instant};
use crate::varint;
use crate::wire::{self, Hello, Kind, WireError, HELLO_MAX};

impl<
        const FRAME: usize,
        const IN: usize,
        const OUT: usize,
        const TX: usize,
        const HANDLES: usize,
    > Endpoint<FRAME, IN, OUT, TX, HANDLES>
{
    /// Processes every deadline that has come by `now`: call deadlines, keepalive pings,
    /// idle-link detection, handshake retries, partial-frame age. Cheap to call early.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        self.expire_partial_frame(now);
        match self.link {
            Link::Closed => {}
            Link::Handshaking => {
                if now >= self.next_hello {
                    self.due.hello = Some(HelloKind::Initial);
                    self.next_hello = now + self.config.keepalive;
                }
            }
            Link::Established => {
                let peer = self.peer;
                if now >= self.last_rx + self.keepalive_idle_limit(&peer) {
                    self.lose_link(Disconnect::Idle, Link::Handshaking);
                } else if now >= self.last_rx + self.config.keepalive
                    && now >= self.last_ping + self.config.keepalive
                {
                    self.due.ping = true;
                    self.last_ping = now;
                }
            }
        }
        let grace = self.config.late_reply_grace;
        let idle = self.config.stream_idle_timeout;
        for i in 0..OUT {
            let Some(Some(call)) = self.outbound.get_mut(i) else {
                continue;
            };
            let expired = now >= call.until;
            let idled = call.flow.is_stream() && now >= call.flow.active_at + idle;
            if !call.ended && (expired || idled) {
                if call.abandon(now, grace) {
                    self.due.cancels += 1;
                }
                call.report = Some(if expired {
                    CallFailure::DeadlineExceeded
                } else {
                    CallFailure::Idle
                });
                self.due.reports = true;
                bump(&mut self.stats.calls_timed_out);
            } else if call.ended && call.live && now >= call.until {
                call.live = false; // the peer's final word never came; stop holding the id
                self.settle_out(i);
            }
        }
        for call in self.inbound.iter_mut().flatten() {
            let idled = call.flow.is_stream() && now >= call.flow.active_at + idle;
            if call.is_active() && (now >= call.deadline || idled) {
                self.due.reports = true;
                let reason = if now >= call.deadline {
                    RequestEnd::DeadlineExceeded
                } else {
                    RequestEnd::Idle
                };
                call.end(reason, Some(WireError::DeadlineExceeded));
                self.due.errors += 1;
                bump(&mut self.stats.requests_timed_out);
            }
        }
        self.flush_due();
    }

    /// The next instant at which [`handle_timeout`](Self::handle_timeout) has work, if any.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = None;
        if self.decoder.in_frame() {
            next = Some(self.frame_deadline);
        }
        match &self.link {
            Link::Closed => {}
            Link::Handshaking => next = earliest(next, Some(self.next_hello)),
            Link::Established => {
                let ping = (self.last_rx + self.config.keepalive)
                    .max(self.last_ping + self.config.keepalive);
                let idle = self.last_rx + self.keepalive_idle_limit(&self.peer);
                next = earliest(next, Some(ping.min(idle)));
            }
        }
        let idle = self.config.stream_idle_timeout;
        for call in self.outbound.iter().flatten() {
            if (!call.ended || call.live) && call.until != NEVER {
                next = earliest(next, Some(call.until));
            }
            if !call.ended && call.flow.is_stream() {
                next = earliest(next, Some(call.flow.active_at + idle));
            }
        }
        for call in self.inbound.iter().flatten().filter(|c| c.is_active()) {
            if call.deadline != NEVER {
                next = earliest(next, Some(call.deadline));
            }
            if call.flow.is_stream() {
                next = earliest(next, Some(call.flow.active_at + idle));
            }
        }
        next
    }

    /// Queues every control frame that is due and fits, most important first. What does
    /// not fit stays due and goes out on a later call, when `poll_transmit` made room.
    #[inline(never)]
    pub(super) fn flush_due(&mut self) {
        if let Some(code) = self.due.close {
            if !self.queue_frame(&[&[Kind::Close.header(false), code as u8]]) {
                return;
            }
            self.due.close = None;
        }
        if self.link == Link::Closed {
            return;
        }
        if let Some(kind) = self.due.hello {
            let mut body = [0u8; HELLO_MAX];
            let n = self.local_hello().encode(&mut body);
            let header = Kind::Hello.header(kind == HelloKind::Reply);
            if !self.queue_frame(&[&[header], body.get(..n).unwrap_or(&[])]) {
                return;
            }
            self.due.hello = None;
        }
        if self.due.pong {
            if !self.queue_frame(&[&[Kind::Ping.header(true)]]) {
                return;
            }
            self.due.pong = false;
            self.pong_until = self.tx_popped.wrapping_add(self.tx.len() as u32);
        }
        if let Some(offset) = self.due.manifest {
            // One piece in the queue at a time; the next waits for it to leave (it stays
            // due, and the next `poll_transmit` queues it), without holding up the rest.
            // A piece that does not fit now stays due without holding up the smaller
            // control frames after it (pings, cancels, errors, credit).
            if self.manifest_until.wrapping_sub(self.tx_popped) as i32 <= 0
                && self.queue_manifest_piece(offset)
            {
                self.due.manifest = None;
                self.manifest_until = self.tx_popped.wrapping_add(self.tx.len() as u32);
            }
        }
        if self.due.ping {
            if !self.queue_frame(&[&[Kind::Ping.header(false)]]) {
                return;
            }
            self.due.ping = false;
            bump(&mut self.stats.pings_sent);
        }
        if self.due.cancels != 0 {
            for i in 0..OUT {
                let Some(Some(call)) = self.outbound.get(i) else {
                    continue;
                };
                if !call.cancel_due {
                    continue;
                }
                // A server that broke the stream (overran its credit, lost an item) is told
                // why (version 1 receivers ignore the code byte).
                let mut head = [0u8; 1 + varint::MAX_LEN + 1];
                let mut n = encode_head(&mut head, Kind::Cancel.header(false), call.id);
                if let Some(code) = call.flow.broken {
                    if let Some(b) = head.get_mut(n) {
                        *b = code as u8;
                        n += 1;
                    }
                }
                if !self.queue_frame(&[head.get(..n).unwrap_or(&[])]) {
                    return;
                }
                bump(&mut self.stats.cancels_sent);
                if let Some(Some(call)) = self.outbound.get_mut(i) {
                    call.cancel_due = false;
                }
                self.due.cancels = self.due.cancels.saturating_sub(1);
                self.settle_out(i);
            }
        }
        if self.due.errors != 0 {
            for i in 0..IN {
                let Some(Some(call)) = self.inbound.get(i) else {
                    continue;
                };
                let Some(code) = call.error_due() else {
                    continue;
                };
                let mut head = [0u8; 1 + varint::MAX_LEN + 1];
                let n = encode_head(&mut head, Kind::Error.header(false), call.id);
                if let Some(b) = head.get_mut(n) {
                    *b = code as u8;
                }
                if !self.queue_frame(&[head.get(..=n).unwrap_or(&[])]) {
                    return;
                }
                if let Some(Some(call)) = self.inbound.get_mut(i) {
                    call.drop_error();
                }
                self.due.errors = self.due.errors.saturating_sub(1);
                self.settle_in(i);
            }
        }
        if self.due.credits {
            self.flush_credits();
        }
    }

    fn local_hello(&self) -> Hello {
        Hello {
            version: wire::PROTOCOL_VERSION,
            min_version: wire::MIN_PROTOCOL_VERSION,
            features: Hello::FEATURE_CALL_TIMEOUT
                | Hello::FEATURE_STREAMS
                | if self.config.manifest.is_empty() {
                    0
                } else {
                    Hello::FEATURE_MANIFEST
                }
                | if self.config.handles {
                    Hello::FEATURE_HANDLES
                } else {
                    0
                },
            max_frame: self.limits.frame,
            max_inbound: u32::from(self.limits.inbound),
            max_outbound: u32::from(self.limits.outbound),
            keepalive_ms: u32::try_from(self.config.keepalive.as_millis()).unwrap_or(u32::MAX),
            schema: self.config.schema,
            call_timeout_ms: super::commands::ceil_millis(self.config.call_timeout),
            stream_window: u32::from(self.limits.stream_window),
            max_handles: u32::from(self.limits.handles),
        }
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
    /// Queues the piece of this side's manifest that starts at `offset`: as many bytes as
    /// the frame limit allows (none past the end; `total` 0 if this side has no manifest).
    fn queue_manifest_piece(&mut self, offset: u32) -> bool {
        let manifest = self.config.manifest;
        let total = u32::try_from(manifest.len()).unwrap_or(u32::MAX);
        let mut head = [Kind::Manifest.header(true); 1 + 2 * varint::MAX_LEN];
        let mut n = 1;
        for v in [total, offset] {
            n += varint::encode(v, head.get_mut(n..).unwrap_or(&mut [])).unwrap_or(0);
        }
        let room = self
            .send_limit()
            .saturating_sub(n + crate::framing::CRC_LEN);
        let from = manifest.get(offset as usize..).unwrap_or(&[]);
        let piece = from.get(..room.min(from.len())).unwrap_or(&[]);
        self.queue_frame(&[head.get(..n).unwrap_or(&[]), piece])
    }
}
