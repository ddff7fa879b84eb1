//! The input half: bytes in, frames parsed, tables and events updated.

use super::{Endpoint, HelloKind, Link, LinkEvent, Pending, CONTROL_RESERVE, NEVER};
use crate::calls::InCall;
use crate::event::{CallId, Disconnect, PeerInfo, RequestEnd, RequestId};
use crate::framing::{Fed, FrameError};
use crate::handle::{Handle, Resolved};
use crate::stats::bump;
use crate::stream::{Flow, StreamMode};
use crate::time::{Duration, Instant};
use crate::wire::{self, Frame, Hello, Kind, ParseError, WireError};

impl<
        const FRAME: usize,
        const IN: usize,
        const OUT: usize,
        const TX: usize,
        const HANDLES: usize,
    > Endpoint<FRAME, IN, OUT, TX, HANDLES>
{
    /// Feeds bytes received from the link; returns how many were taken.
    ///
    /// It takes fewer than offered, possibly none, when a frame produced an event (poll it),
    /// or when the transmit queue lacks room for a reply (drain `poll_transmit`). Offer the
    /// rest again afterwards. Faults in the bytes are counted in [`Stats`](crate::Stats),
    /// never returned.
    ///
    /// The work is a few instructions per byte plus the CRC, whatever the capacities: data
    /// bytes are copied in runs, frames find their call without a search (see
    /// docs/BENCHMARKS.md for the measured figures).
    #[inline]
    #[must_use = "bytes not consumed must be offered again (backpressure)"]
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> usize {
        // A UART hands over one byte at a time: the general path for one byte, spelt out.
        // Most such bytes lie inside an unexpired frame, where they can only be stored.
        if let [byte] = *bytes {
            let at = self.now.max(now);
            if byte != crate::framing::DELIMITER {
                if self.decoder.in_frame() && at < self.frame_deadline {
                    self.now = at;
                    self.stats.bytes_in = self.stats.bytes_in.saturating_add(1);
                    if let Fed::Error(e) = self.decoder.feed(byte) {
                        self.count_frame_error(e);
                    }
                    return 1;
                }
            } else if self.decoder.is_idle() {
                // A delimiter between frames (every frame is sent with one before it).
                self.now = at;
                self.stats.bytes_in = self.stats.bytes_in.saturating_add(1);
                return 1;
            }
            return self.input_one(now, byte);
        }
        self.handle_input_slice(now, bytes)
    }

    /// [`handle_input`](Self::handle_input) for one byte. A byte that neither starts nor
    /// ends a frame can produce no event, needs no answer and never touches a frame still
    /// being reported, so only the bytes that do meet the input gate.
    #[inline(never)]
    fn input_one(&mut self, now: Instant, byte: u8) -> usize {
        let now = self.advance(now);
        if self.decoder.in_frame() && now >= self.frame_deadline {
            self.expire_partial_frame(now);
        }
        if self.decoder.starts_or_ends_frame(byte) {
            if self.input_blocked() {
                return 0;
            }
            if matches!(self.link, Link::Closed) {
                return 1; // a closed endpoint takes and drops everything
            }
        }
        self.stats.bytes_in = self.stats.bytes_in.saturating_add(1);
        let fed = self.decoder.feed(byte);
        self.on_fed(now, fed);
        1
    }

    #[inline(never)]
    fn handle_input_slice(&mut self, now: Instant, bytes: &[u8]) -> usize {
        let now = self.advance(now);
        // `now` is the arrival time of every byte of this call, so one check covers them.
        // (No control frame can be waiting for room here: room only appears in
        // `poll_transmit`, which queues them.)
        self.expire_partial_frame(now);
        // The gate is checked here and after each frame: nothing else can close it.
        if self.input_blocked() {
            return 0;
        }
        let mut used = 0;
        while let Some(rest) = bytes.get(used..).filter(|r| !r.is_empty()) {
            if matches!(self.link, Link::Closed) {
                used = bytes.len(); // a closed endpoint takes and drops everything
                break;
            }
            // At most one frame per step, so the reserve for its answer is there.
            let (n, fed) = self.decoder.feed_slice(rest);
            used = used.saturating_add(n);
            if self.on_fed(now, fed) && used < bytes.len() && self.input_blocked() {
                break;
            }
        }
        self.stats.bytes_in = self.stats.bytes_in.saturating_add(used as u32);
        used
    }

    /// Acts on what the decoder made of the bytes just fed; true if a frame ended.
    #[inline]
    fn on_fed(&mut self, now: Instant, fed: Fed) -> bool {
        match fed {
            Fed::Nothing => false,
            Fed::Started => {
                self.frame_deadline = now.after(self.config.frame_timeout);
                false
            }
            Fed::Error(e) => {
                self.count_frame_error(e);
                false
            }
            Fed::Frame(len) => {
                self.on_frame(now, len);
                true
            }
        }
    }

    #[inline(never)]
    fn count_frame_error(&mut self, e: FrameError) {
        bump(match e {
            FrameError::BadCrc => &mut self.stats.crc_errors,
            FrameError::TooLong => &mut self.stats.oversized_frames,
            FrameError::Truncated | FrameError::TooShort => &mut self.stats.framing_errors,
        });
    }

    /// True while input must wait: an event is unread (its bytes are in the receive buffer,
    /// a request reusing an ended call's id must not overtake its end, or a freed export's
    /// slot must be reported before a request may be given it), or the transmit
    /// queue lacks room for the answer a frame may need (backpressure).
    #[inline]
    fn input_blocked(&mut self) -> bool {
        // An export freed and not yet reported holds input too: the application drops its
        // object before the next request can be given its slot.
        if self.pending.is_some()
            || !self.link_events.is_empty()
            || self.due.reports
            || self.exports.has_dropped()
        {
            return true;
        }
        if self.tx_free() < CONTROL_RESERVE {
            bump(&mut self.stats.backpressure_stalls);
            return true;
        }
        false
    }

    /// Drops a partial frame older than `frame_timeout`; its remaining bytes are discarded
    /// up to the next delimiter.
    #[inline(never)]
    pub(super) fn expire_partial_frame(&mut self, now: Instant) {
        if self.decoder.in_frame() && now >= self.frame_deadline {
            self.decoder.discard();
            bump(&mut self.stats.frame_timeouts);
        }
    }

    // Out of line: keeps `handle_input` small, so each call (one per byte on a UART) saves
    // and restores few registers.
    #[inline(never)]
    fn on_frame(&mut self, now: Instant, len: usize) {
        self.dispatch_frame(now, len);
        if self.due.any() {
            self.flush_due();
        }
    }

    fn dispatch_frame(&mut self, now: Instant, len: usize) {
        bump(&mut self.stats.frames_in);
        self.last_rx = now;
        let frame = match Frame::parse(self.decoder.frame(len)) {
            Ok(f) => f.map(|tail: &[u8]| len.saturating_sub(tail.len())),
            Err(ParseError::Malformed | ParseError::MustUnderstand) => {
                return self.protocol_error(now);
            }
        };
        match frame {
            Frame::Hello { reply, body } => {
                let body = self.decoder.frame(len).get(body..).unwrap_or(&[]);
                match Hello::parse(body) {
                    Some(hello) => self.on_hello(now, reply, hello),
                    None => self.protocol_error(now),
                }
            }
            Frame::Request {
                id,
                procedure,
                timeout_ms,
                args,
            } => {
                let how = Incoming {
                    mode: StreamMode::Call,
                    depth: 0,
                    timeout_ms,
                    open: false,
                    target: None,
                };
                self.on_request(now, id, procedure, how, args, len)
            }
            Frame::Invoke {
                id,
                method,
                slot,
                generation,
                timeout_ms,
                args,
            } => {
                let how = Incoming {
                    mode: StreamMode::Call,
                    depth: 0,
                    timeout_ms,
                    open: false,
                    target: Some((slot, generation)),
                };
                self.on_request(now, id, method, how, args, len)
            }
            Frame::Release { slot, generation } => {
                self.on_release(now, Handle::new(slot, generation));
            }
            Frame::Revoke {
                slot,
                generation,
                code,
                reason,
            } => {
                // Only a side that speaks handles can hold one; to any other it is stray.
                // Outside a session it names nothing (it is from an ended one): ignored,
                // like a Release then, without spending the stray budget.
                if self.is_connected() {
                    if self.config.handles {
                        self.pending = Some(Pending::Revoked {
                            handle: Handle::new(slot, generation),
                            code,
                            at: reason,
                            len,
                        });
                    } else {
                        self.stray(now);
                    }
                }
            }
            Frame::Open {
                id,
                procedure,
                mode,
                depth,
                timeout_ms,
                args,
            } => {
                let how = Incoming {
                    mode,
                    depth,
                    timeout_ms,
                    open: true,
                    target: None,
                };
                self.on_request(now, id, procedure, how, args, len)
            }
            Frame::Item {
                id,
                mine,
                seq,
                packed,
                item,
            } => {
                let count = if packed {
                    match super::streams::count_packed(self.decoder.frame(len).get(item..)) {
                        Some(n) => n,
                        None => return self.protocol_error(now),
                    }
                } else {
                    1
                };
                self.on_item(now, id, mine, seq, count, packed, item, len)
            }
            Frame::Credit { id, mine, items } => self.on_credit(now, id, mine, items),
            Frame::End { id, mine, seq } => self.on_end(now, id, mine, seq),
            Frame::Reply { id, payload } => {
                self.cancel_orphan(id);
                if self.reply_lost_items(id) {
                    // The server's items end with its End; a Reply without it means the End
                    // was lost on the link, and items before it may have been too.
                    if let Some(id) = self.finish_call(now, id, false) {
                        self.pending = Some(Pending::Lost { id });
                    }
                } else if let Some(id) = self.finish_call(now, id, false) {
                    self.pending = Some(Pending::Reply {
                        id,
                        at: payload,
                        len,
                    });
                }
            }
            Frame::Error { id, code, detail } => {
                if let Some(id) = self.finish_call(now, id, code == WireError::Cancelled) {
                    self.pending = Some(Pending::Failed {
                        id,
                        code,
                        at: detail,
                        len,
                    });
                }
            }
            Frame::Cancel { id, code } => self.on_cancel(now, id, code),
            Frame::Ping { pong: false } => {
                bump(&mut self.stats.pings_received);
                // One pong answers every ping that arrived before it left; a ping while it
                // is still unsent does no work, and a flood of them is stray.
                let pong_unsent =
                    self.due.pong || self.pong_until.wrapping_sub(self.tx_popped) as i32 > 0;
                if self.is_connected() {
                    if pong_unsent {
                        self.stray(now);
                    } else {
                        self.due.pong = true;
                    }
                }
            }
            Frame::Ping { pong: true } => {}
            Frame::Close { code } => {
                let next = if is_fatal(code) {
                    Link::Closed
                } else {
                    Link::Handshaking
                };
                if !self.is_connected() {
                    // A refusal before any session (a server at its connection limit, an
                    // incompatible peer): say why, since `lose_link` reports only sessions.
                    let why = if is_fatal(code) {
                        Disconnect::Incompatible(code)
                    } else {
                        Disconnect::PeerClosed(code)
                    };
                    let _ = self.link_events.push(LinkEvent::Disconnected(why));
                }
                self.lose_link(Disconnect::PeerClosed(code), next);
            }
            Frame::ManifestRequest { offset } => {
                // Coalesced like pings: one piece is due at a time, for the latest offset.
                if self.is_connected() {
                    self.due.manifest = Some(offset);
                }
            }
            Frame::ManifestPiece {
                total,
                offset,
                bytes,
            } => {
                if self.is_connected() {
                    self.pending = Some(Pending::Manifest {
                        total,
                        offset,
                        at: bytes,
                        len,
                    });
                }
            }
            Frame::Ignorable => {
                bump(&mut self.stats.ignored_frames);
                self.stray(now);
            }
        }
    }

    #[inline(never)]
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
                let _ = self.link_events.push(LinkEvent::Disconnected(why));
            }
            self.lose_link(Disconnect::Incompatible(code), Link::Closed);
            self.due.close = Some(code);
            return;
        }
        if !reply {
            if self.is_connected() {
                // A fresh Hello on a live link: the peer restarted and forgot its calls. A
                // peer that "restarts" more often than the budget allows is not believed.
                if !self.restart_window.spend(self.config.restart_budget, now) {
                    return self.protocol_error(now);
                }
                self.lose_link(Disconnect::PeerRestarted, Link::Handshaking);
            }
            self.due.hello = Some(HelloKind::Reply);
        } else {
            if self.due.hello == Some(HelloKind::Initial) {
                self.due.hello = None; // the peer already has ours
            }
            if self.link == Link::Established {
                // A reply answers one of our initial Hellos, all sent while handshaking. One
                // that finds us established was answered by a peer that was established
                // too: it took our Hello (a retry that crossed its first answer) for a
                // restart and ended its session. Every request it made before it is
                // forgotten there, and every handle it held: end and free them here too,
                // or the objects would outlive their holder's session. (In the usual
                // crossing of two initial Hellos this side serves nothing yet: the peer
                // sends its reply before anything else of its session.)
                self.end_served();
            }
        }
        let call_timeout = (hello.features & Hello::FEATURE_CALL_TIMEOUT != 0)
            .then(|| Duration::from_millis(u64::from(hello.call_timeout_ms)));
        let stream_window =
            (hello.features & Hello::FEATURE_STREAMS != 0).then_some(hello.stream_window);
        let peer = PeerInfo {
            version,
            max_frame: hello.max_frame,
            max_inbound: hello.max_inbound,
            max_outbound: hello.max_outbound,
            keepalive: Duration::from_millis(u64::from(hello.keepalive_ms)),
            schema: hello.schema,
            manifest: hello.features & Hello::FEATURE_MANIFEST != 0,
            call_timeout,
            stream_window,
            handles: (hello.features & Hello::FEATURE_HANDLES != 0).then_some(hello.max_handles),
        };
        if self.link == Link::Handshaking {
            bump(&mut self.stats.handshakes);
            let _ = self.link_events.push(LinkEvent::Connected);
            self.last_ping = now;
        }
        self.peer = peer;
        self.link = Link::Established;
    }

    fn on_request(
        &mut self,
        now: Instant,
        id: u32,
        procedure: u32,
        how: Incoming,
        args: usize,
        len: usize,
    ) {
        if self.link != Link::Established {
            self.send_error(id, WireError::NoSession);
            return;
        }
        let peer = self.peer;
        if self.find_active_in(id).is_some() {
            return self.protocol_error(now); // the peer reused an id it is still waiting on
        }
        // The id is reused: a promise on it now means this call's answer, not an older
        // call's, whether this one is admitted or refused below (a refused call exports
        // nothing, so a promise on it is stale; and a Cancel of it must not free what an
        // older call with the id exported). Before the target is resolved: an Invoke is
        // never made on its own answer.
        self.exports.forget_origin(id);
        let depth = match u8::try_from(how.depth) {
            Ok(d) if d <= self.config.max_call_depth => d,
            _ => {
                self.send_error(id, WireError::TooDeep);
                return;
            }
        };
        // A method call names a live object, or a request whose answer will be one.
        let on = match how.target {
            None => None,
            Some(target) => match self.resolve_target(target) {
                Some(on) => Some(on),
                None => {
                    bump(&mut self.stats.stale_handles);
                    self.send_error(id, WireError::StaleHandle);
                    return;
                }
            },
        };
        if self.counts.in_used >= self.limits.inbound {
            bump(&mut self.stats.busy_sent);
            self.send_error(id, WireError::Busy);
            return;
        }
        let home = (id as usize).checked_rem(IN).unwrap_or(0);
        let index = match self.inbound.get(home) {
            Some(None) => home,
            _ => {
                // Taken by another call: the first free slot (one exists, as fewer than
                // `limits.inbound` ≤ IN are taken).
                let Some(free) = self.inbound.iter().position(|s| s.is_none()) else {
                    bump(&mut self.stats.busy_sent);
                    self.send_error(id, WireError::Busy);
                    return;
                };
                self.counts.in_displaced = self.counts.in_displaced.saturating_add(1);
                free
            }
        };
        // The caller's timeout, or its advertised default, or ours; never past our cap. An
        // Open without a timeout is a stream without a deadline: its idle timeout bounds it.
        let stream = how.mode != StreamMode::Call;
        let deadline = match (how.timeout_ms, peer.call_timeout) {
            (None, _) if how.open && stream => NEVER,
            (Some(ms), _) => {
                now.after(Duration::from_millis(u64::from(ms)).min(self.config.max_request_timeout))
            }
            (None, Some(default)) => now.after(default.min(self.config.max_request_timeout)),
            (None, None) => now.after(
                self.config
                    .call_timeout
                    .min(self.config.max_request_timeout),
            ),
        };
        let flow = if stream {
            let credit = if how.mode.server_sends() {
                super::commands::window16(peer.stream_window.unwrap_or(0))
            } else {
                0
            };
            let allowed = if how.mode.caller_sends() {
                self.limits.stream_window
            } else {
                0
            };
            Flow::new(how.mode, credit, allowed, now)
        } else {
            Flow::none(now)
        };
        if let Some(slot) = self.inbound.get_mut(index) {
            *slot = Some(InCall {
                id,
                deadline,
                state: crate::calls::InState::Active,
                depth,
                flow,
            });
        }
        self.counts.in_used = self.counts.in_used.saturating_add(1);
        bump(&mut self.stats.requests_received);
        let id = RequestId {
            wire: id,
            index: index as u32,
        };
        self.pending = Some(match on {
            None => Pending::Request {
                id,
                procedure,
                at: args,
                len,
            },
            Some(on) => Pending::Invoke {
                id,
                on,
                method: procedure,
                at: args,
                len,
            },
        });
    }

    /// What an Invoke's `slot` and `generation` name: a live object, or (generation 0) the
    /// answer of the peer's request `slot`, still being served or already given. `None`:
    /// nothing live (stale).
    fn resolve_target(&self, (slot, generation): (u32, u32)) -> Option<Resolved> {
        if self.limits.handles == 0 {
            return None; // this side exports nothing: every method call is on nothing
        }
        if generation != 0 {
            let handle = Handle::new(slot, generation);
            return self
                .exports
                .lookup(handle)
                .map(|interface| Resolved::Object { handle, interface });
        }
        if self.find_active_in(slot).is_some() {
            return Some(Resolved::Pending(slot));
        }
        self.exports
            .promised(slot)
            .map(|(handle, interface)| Resolved::Object { handle, interface })
    }

    /// The peer gave back a handle: its object is freed (and reported), or, if it names
    /// none, the release did no work.
    fn on_release(&mut self, now: Instant, handle: Handle) {
        if !self.is_connected() {
            return;
        }
        if self.exports.drop_handle(handle) {
            bump(&mut self.stats.handles_released);
        } else {
            // A release that crossed a revoke, or a peer that releases what it never had.
            bump(&mut self.stats.stale_handles);
            self.stray(now);
        }
    }

    /// The peer's final frame for call `id` arrived. Returns the call if the application is
    /// still waiting for it (and so must get an event); late frames are counted.
    ///
    /// A call this side ended (cancel or deadline) sent, or will send, a Cancel, and the peer
    /// answers every Cancel with `Error(Cancelled)` after anything else it sent for that
    /// id. So only that answer frees the slot; a reply or error that crossed the Cancel is
    /// counted as late and the id stays reserved, so it cannot reach a newer call.
    fn finish_call(&mut self, now: Instant, id: u32, cancel_answer: bool) -> Option<CallId> {
        let index = Self::out_slot(id);
        let Some(Some(call)) = self.outbound.get_mut(index) else {
            // No call has this id, not even one ended and waiting out its grace.
            bump(&mut self.stats.late_replies);
            self.stray(now);
            return None;
        };
        if call.id != id || !call.live {
            bump(&mut self.stats.late_replies);
            self.stray(now);
            return None;
        }
        let waiting = !call.ended;
        if !waiting {
            bump(&mut self.stats.late_replies);
        }
        if waiting || cancel_answer {
            call.live = false;
        }
        if waiting {
            self.free_out(index);
            return Some(CallId {
                wire: id,
                index: index as u32,
            });
        }
        self.settle_out(index);
        None
    }

    /// A Reply for `id`, which no call of this side has (not even one ended and held): the
    /// answer to a request of an ended session that the peer served in its own (their
    /// sessions end apart when a retried Hello crosses a reply, section 5.3), or to a call
    /// whose id an answer of an older session ended early. Nobody reads it, so the objects
    /// it may carry are unknown here: with handles on both sides, a Cancel for the id tells
    /// the peer to free them (the rule that frees what a cancelled call exported). The
    /// peer's `Error(Cancelled)` answer is stray in turn and not answered.
    fn cancel_orphan(&mut self, id: u32) {
        let held = matches!(
            self.outbound.get(Self::out_slot(id)),
            Some(Some(c)) if c.id == id && c.live
        );
        if held || !self.is_connected() || !self.config.handles || self.peer.handles.is_none() {
            return;
        }
        let mut frame = [Kind::Cancel.header(false); 1 + crate::varint::MAX_LEN];
        let n = encode_head(&mut frame, Kind::Cancel.header(false), id);
        // Room for one answer was reserved before the frame was taken.
        if self.queue_frame(&[frame.get(..n).unwrap_or(&[])]) {
            bump(&mut self.stats.cancels_sent);
        }
    }

    fn on_cancel(&mut self, now: Instant, id: u32, code: Option<WireError>) {
        bump(&mut self.stats.cancels_received);
        if !self.is_connected() {
            return; // no session, so no call to cancel and nobody waiting for an answer
        }
        if !self.cancel_window.spend(self.config.cancel_budget, now) {
            return self.reset_for_violation();
        }
        let reason = match code {
            Some(WireError::FlowControl) => RequestEnd::FlowControl,
            Some(WireError::ItemLost) => RequestEnd::ItemLost,
            _ => RequestEnd::Cancelled,
        };
        if let Some(i) = self.find_active_in(id) {
            // A request cancelled while it is served: its work is thrown away. Pairs of
            // request and cancel (HTTP/2's rapid reset) stay under the cancel budget at a
            // steady rate; this one is what stops them.
            if !self.abandon_window.spend(self.config.abandon_budget, now) {
                return self.reset_for_violation();
            }
            if let Some(Some(call)) = self.inbound.get_mut(i) {
                self.due.reports |= call.end(reason, None);
            }
        }
        // A cancel that crossed the answer: the caller ignores the answer, so it never
        // learns of the objects it exported, and they are freed now.
        self.exports.drop_origin(id);
        // An error still waiting for transmit room (a deadline) would otherwise follow the
        // answer below and arrive after the caller freed the id: the answer replaces it.
        if self.due.errors != 0 {
            for i in 0..IN {
                let Some(Some(call)) = self.inbound.get_mut(i) else {
                    continue;
                };
                if call.id == id && call.drop_error() {
                    self.due.errors = self.due.errors.saturating_sub(1);
                    self.settle_in(i);
                }
            }
        }
        // Always answer, even for an id no longer (or never) here: the link is an ordered
        // stream, so any reply already sent is ahead of this one, and the caller can free
        // its slot now instead of waiting out its grace period after a lost reply.
        // Room for this was reserved before the frame was taken.
        self.send_error(id, WireError::Cancelled);
    }

    /// Queues an error reply for call `id` at once (input keeps room for one).
    pub(super) fn send_error(&mut self, id: u32, code: WireError) {
        let mut head = [0u8; 1 + crate::varint::MAX_LEN + 1];
        let n = encode_head(&mut head, Kind::Error.header(false), id);
        if let Some(slot) = head.get_mut(n) {
            *slot = code as u8;
        }
        let _ = self.queue_frame(&[head.get(..n.saturating_add(1)).unwrap_or(&[])]);
    }

    /// A frame that did no work (see [`Config::stray_budget`]): past the budget, the link
    /// is reset like for a protocol violation.
    pub(super) fn stray(&mut self, now: Instant) {
        if !self.stray_window.spend(self.config.stray_budget, now) {
            bump(&mut self.stats.protocol_errors);
            self.reset_for_violation();
        }
    }

    pub(super) fn protocol_error(&mut self, now: Instant) {
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
        // The new session starts with fresh budgets, so one burst resets the link once. The
        // restart budget carries over: resets are themselves restarts of the session.
        self.protocol_window = super::Window::starting(self.now);
        self.cancel_window = super::Window::starting(self.now);
        self.stray_window = super::Window::starting(self.now);
        self.abandon_window = super::Window::starting(self.now);
    }
}

/// How a request came: as a Request (a plain call at depth 0) or an Open.
#[derive(Clone, Copy)]
struct Incoming {
    mode: StreamMode,
    depth: u32,
    timeout_ms: Option<u32>,
    open: bool,
    /// An Invoke's slot and generation.
    target: Option<(u32, u32)>,
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
    crate::varint::encode(id, rest)
        .unwrap_or(0)
        .saturating_add(1)
}
