//! The input half: bytes in, frames parsed, tables and events updated.

use super::{Endpoint, HelloKind, Link, LinkEvent, Pending, CONTROL_RESERVE};
use crate::calls::InCall;
use crate::event::{Disconnect, PeerInfo, RequestEnd};
use crate::framing::{Fed, FrameError};
use crate::stats::bump;
use crate::time::{Duration, Instant};
use crate::wire::{self, Frame, Hello, Kind, ParseError, WireError};

impl<const FRAME: usize, const IN: usize, const OUT: usize, const TX: usize>
    Endpoint<FRAME, IN, OUT, TX>
{
    /// Feeds bytes received from the link; returns how many were taken.
    ///
    /// It takes fewer than offered, possibly none, when a frame produced an event (poll it),
    /// or when the transmit queue lacks room for a reply (drain `poll_transmit`). Offer the
    /// rest again afterwards. Faults in the bytes are counted in [`Stats`](crate::Stats),
    /// never returned.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> usize {
        let now = self.advance(now);
        self.flush_due();
        let mut used = 0;
        for &byte in bytes {
            if self.pending.is_some() || !self.link_events.is_empty() || self.due.reports {
                break;
            }
            if self.tx_free() < CONTROL_RESERVE {
                bump(&mut self.stats.backpressure_stalls);
                break;
            }
            used += 1;
            if self.link == Link::Closed {
                continue;
            }
            self.expire_partial_frame(now);
            match self.decoder.feed(byte) {
                Fed::Nothing => {}
                Fed::Started => self.frame_started = now,
                Fed::Error(e) => bump(match e {
                    FrameError::BadCrc => &mut self.stats.crc_errors,
                    FrameError::TooLong => &mut self.stats.oversized_frames,
                    FrameError::Truncated | FrameError::TooShort => &mut self.stats.framing_errors,
                }),
                Fed::Frame(len) => self.on_frame(now, len),
            }
        }
        self.stats.bytes_in = self.stats.bytes_in.saturating_add(used as u32);
        self.flush_due();
        used
    }

    /// Drops a partial frame older than `frame_timeout`; its remaining bytes are discarded
    /// up to the next delimiter.
    pub(super) fn expire_partial_frame(&mut self, now: Instant) {
        if self.decoder.in_frame() && now >= self.frame_started + self.config.frame_timeout {
            self.decoder.discard();
            bump(&mut self.stats.frame_timeouts);
        }
    }

    fn on_frame(&mut self, now: Instant, len: usize) {
        bump(&mut self.stats.frames_in);
        self.last_rx = now;
        let frame = match Frame::parse(self.decoder.frame(len)) {
            Ok(f) => f.map(|tail: &[u8]| len - tail.len()),
            Err(ParseError::Malformed | ParseError::MustUnderstand) => {
                return self.protocol_error(now);
            }
        };
        match frame {
            Frame::Hello { reply, hello } => self.on_hello(now, reply, hello),
            Frame::Request {
                id,
                procedure,
                timeout_ms,
                args,
            } => self.on_request(now, id, procedure, timeout_ms, args, len),
            Frame::Reply { id, payload } => {
                if self.finish_call(id, false) {
                    self.pending = Some(Pending::Reply {
                        id,
                        at: payload,
                        len,
                    });
                }
            }
            Frame::Error { id, code, detail } => {
                if self.finish_call(id, code == WireError::Cancelled) {
                    self.pending = Some(Pending::Failed {
                        id,
                        code,
                        at: detail,
                        len,
                    });
                }
            }
            Frame::Cancel { id } => self.on_cancel(now, id),
            Frame::Ping { pong: false } => {
                bump(&mut self.stats.pings_received);
                // One pong answers every ping that arrived before it left.
                if self.is_connected() && self.pong_until.wrapping_sub(self.tx_popped) as i32 <= 0 {
                    self.due.pong = true;
                }
            }
            Frame::Ping { pong: true } => {}
            Frame::Close { code } => {
                let next = if is_fatal(code) {
                    Link::Closed
                } else {
                    Link::Handshaking
                };
                if is_fatal(code) && !self.is_connected() {
                    let _ = self
                        .link_events
                        .push_back(LinkEvent::Disconnected(Disconnect::Incompatible(code)));
                }
                self.lose_link(Disconnect::PeerClosed(code), next);
            }
            Frame::Ignorable => bump(&mut self.stats.ignored_frames),
        }
    }

    fn on_hello(&mut self, now: Instant, reply: bool, hello: Hello) {
        if (hello.max_frame as usize) < wire::MIN_MAX_FRAME {
            return self.protocol_error(now); // could not even carry our Hello
        }
        let version = wire::PROTOCOL_VERSION.min(hello.version);
        let problem = if version < wire::MIN_PROTOCOL_VERSION.max(hello.min_version) {
            Some(WireError::IncompatibleVersion)
        } else if self.config.expect_schema.is_some_and(|s| s != hello.schema) {
            Some(WireError::IncompatibleSchema)
        } else {
            None
        };
        if let Some(code) = problem {
            if !self.is_connected() {
                let why = Disconnect::Incompatible(code);
                let _ = self.link_events.push_back(LinkEvent::Disconnected(why));
            }
            self.lose_link(Disconnect::Incompatible(code), Link::Closed);
            self.due.close = Some(code);
            return;
        }
        if !reply {
            if self.is_connected() {
                // A fresh Hello on a live link: the peer restarted and forgot its calls.
                self.lose_link(Disconnect::PeerRestarted, Link::Handshaking);
            }
            self.due.hello = Some(HelloKind::Reply);
        } else if self.due.hello == Some(HelloKind::Initial) {
            self.due.hello = None; // the peer already has ours
        }
        let peer = PeerInfo {
            version,
            max_frame: hello.max_frame,
            max_inbound: hello.max_inbound,
            max_outbound: hello.max_outbound,
            keepalive: Duration::from_millis(u64::from(hello.keepalive_ms)),
            schema: hello.schema,
        };
        if self.link == Link::Handshaking {
            bump(&mut self.stats.handshakes);
            self.last_peer = peer;
            let _ = self.link_events.push_back(LinkEvent::Connected);
            self.last_ping = now;
        }
        self.link = Link::Established(peer);
    }

    fn on_request(
        &mut self,
        now: Instant,
        id: u32,
        procedure: u32,
        timeout_ms: Option<u32>,
        args: usize,
        len: usize,
    ) {
        if !self.is_connected() {
            self.send_error(id, WireError::NoSession);
            return;
        }
        if self
            .inbound
            .iter()
            .flatten()
            .any(|c| c.id == id && c.is_active())
        {
            return self.protocol_error(now); // the peer reused an id it is still waiting on
        }
        let Some(slot) = self.inbound.iter_mut().find(|s| s.is_none()) else {
            bump(&mut self.stats.busy_sent);
            self.send_error(id, WireError::Busy);
            return;
        };
        let timeout = timeout_ms
            .map(|ms| Duration::from_millis(u64::from(ms)))
            .unwrap_or(self.config.call_timeout);
        *slot = Some(InCall {
            id,
            deadline: now + timeout,
            state: crate::calls::InState::Active,
        });
        bump(&mut self.stats.requests_received);
        self.pending = Some(Pending::Request {
            id,
            procedure,
            at: args,
            len,
        });
    }

    /// The peer's final frame for call `id` arrived. Returns true if the application is
    /// still waiting for it (and so must get an event); late frames are counted.
    ///
    /// A call this side ended (cancel or deadline) sent, or will send, a Cancel, and the peer
    /// answers every Cancel with `Error(Cancelled)` after anything else it sent for that
    /// id. So only that answer frees the slot; a reply or error that crossed the Cancel is
    /// counted as late and the id stays reserved, so it cannot reach a newer call.
    fn finish_call(&mut self, id: u32, cancel_answer: bool) -> bool {
        let Some(slot) = self
            .outbound
            .iter_mut()
            .find(|s| s.is_some_and(|c| c.id == id && c.live))
        else {
            bump(&mut self.stats.late_replies);
            return false;
        };
        let Some(call) = slot.as_mut() else {
            return false;
        };
        let waiting = !call.ended;
        if !waiting {
            bump(&mut self.stats.late_replies);
        }
        if waiting || cancel_answer {
            call.live = false;
        }
        if call.is_done() || waiting {
            *slot = None;
        }
        waiting
    }

    fn on_cancel(&mut self, now: Instant, id: u32) {
        bump(&mut self.stats.cancels_received);
        if !self.is_connected() {
            return; // no session, so no call to cancel and nobody waiting for an answer
        }
        if !self.cancel_window.spend(self.config.cancel_budget, now) {
            return self.reset_for_violation();
        }
        let found = self
            .inbound
            .iter_mut()
            .flatten()
            .find(|c| c.id == id && c.is_active());
        if let Some(call) = found {
            call.end(RequestEnd::Cancelled, None);
            self.due.reports = true;
        }
        // An error still waiting for transmit room (a deadline) would otherwise follow the
        // answer below and arrive after the caller freed the id: the answer replaces it.
        for call in self.inbound.iter_mut().flatten().filter(|c| c.id == id) {
            if let crate::calls::InState::Ended { error_due, .. } = &mut call.state {
                *error_due = None;
            }
        }
        // Always answer, even for an id no longer (or never) here: the link is an ordered
        // stream, so any reply already sent is ahead of this one, and the caller can free
        // its slot now instead of waiting out its grace period after a lost reply.
        // Room for this was reserved before the byte was taken.
        self.send_error(id, WireError::Cancelled);
    }

    /// Queues an error reply for call `id` at once (input keeps room for one).
    pub(super) fn send_error(&mut self, id: u32, code: WireError) {
        let mut head = [0u8; 1 + crate::varint::MAX_LEN + 1];
        let n = encode_head(&mut head, Kind::Error.header(false), id);
        if let Some(slot) = head.get_mut(n) {
            *slot = code as u8;
        }
        let _ = self.queue_frame(&[head.get(..n + 1).unwrap_or(&[])]);
    }

    fn protocol_error(&mut self, now: Instant) {
        bump(&mut self.stats.protocol_errors);
        if !self
            .protocol_window
            .spend(self.config.protocol_error_budget, now)
        {
            self.reset_for_violation();
        }
    }

    fn reset_for_violation(&mut self) {
        self.due.close = Some(WireError::ProtocolViolation);
        self.lose_link(Disconnect::ProtocolViolation, Link::Handshaking);
        // The new session starts with fresh budgets, so one burst resets the link once.
        self.protocol_window = super::Window {
            start: self.now,
            count: 0,
        };
        self.cancel_window = super::Window {
            start: self.now,
            count: 0,
        };
    }
}

/// Version or schema mismatch: retrying with the same peer cannot help.
fn is_fatal(code: WireError) -> bool {
    matches!(
        code,
        WireError::IncompatibleVersion | WireError::IncompatibleSchema
    )
}

/// Writes a header byte and a varint id; returns the length.
pub(super) fn encode_head(out: &mut [u8], header: u8, id: u32) -> usize {
    let Some((first, rest)) = out.split_first_mut() else {
        return 0;
    };
    *first = header;
    1 + crate::varint::encode(id, rest).unwrap_or(0)
}
