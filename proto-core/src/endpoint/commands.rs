//! Commands from the application: call, open, respond, respond_error, cancel, close.

use super::receive::encode_head;
use super::{Endpoint, Link, NEVER};
use crate::calls::OutCall;
use crate::error::{CallError, CancelError, RespondError};
use crate::event::{CallId, Disconnect, PeerInfo, RequestId};
use crate::framing::CRC_LEN;
use crate::payload::{Payload, PayloadError};
use crate::stats::bump;
use crate::stream::{Flow, Open, StreamMode};
use crate::time::{Duration, Instant};
use crate::varint;
use crate::wire::{Kind, WireError};

impl<
        const FRAME: usize,
        const IN: usize,
        const OUT: usize,
        const TX: usize,
        const HANDLES: usize,
    > Endpoint<FRAME, IN, OUT, TX, HANDLES>
{
    /// Calls `procedure` with encoded `args`, with the default deadline
    /// ([`Config::call_timeout`](crate::Config::call_timeout)). The outcome arrives as
    /// [`Event::Reply`](crate::Event::Reply) or [`Event::CallFailed`](crate::Event::CallFailed).
    ///
    /// `args` is raw bytes (`&[u8]`, `&[u8; N]`) or a [`Postcard`](crate::Postcard) value.
    pub fn call(
        &mut self,
        now: Instant,
        procedure: u32,
        args: impl Payload,
    ) -> Result<CallId, CallError> {
        self.start_call(now, procedure, Open::call(), &args)
    }

    /// Like [`call`](Self::call) with a deadline of `timeout` from `now`. The timeout is
    /// sent to the peer, which gives up (and says so) when it passes.
    pub fn call_with_timeout(
        &mut self,
        now: Instant,
        procedure: u32,
        args: impl Payload,
        timeout: Duration,
    ) -> Result<CallId, CallError> {
        self.start_call(now, procedure, Open::call().with_timeout(timeout), &args)
    }

    /// Calls `procedure` as `how` says: a stream (items then flow with
    /// [`send_item`](Self::send_item) and [`Event::Item`](crate::Event::Item)), with or
    /// without a deadline, nested in a request this side serves (a callback). A plain call
    /// made with `Open::call()` is exactly [`call`](Self::call). The call ends as any call
    /// does, with [`Event::Reply`](crate::Event::Reply) (for a server or bidirectional stream,
    /// after its items) or [`Event::CallFailed`](crate::Event::CallFailed).
    ///
    /// Streams and nested calls need a peer that speaks them
    /// ([`PeerInfo::stream_window`](crate::PeerInfo::stream_window) is `Some`); a nested plain
    /// call to a peer that does not goes out as a plain call.
    pub fn open(
        &mut self,
        now: Instant,
        procedure: u32,
        args: impl Payload,
        how: Open,
    ) -> Result<CallId, CallError> {
        self.start_call(now, procedure, how, &args)
    }

    /// Starts a call: a Request, an Open, or (with a target) an Invoke of method
    /// `procedure` on a handle.
    pub(super) fn start_call(
        &mut self,
        now: Instant,
        procedure: u32,
        how: Open,
        args: &dyn Payload,
    ) -> Result<CallId, CallError> {
        let target = how.target;
        let now = self.advance(now);
        let peer = match self.link {
            Link::Established => self.peer,
            Link::Handshaking => return Err(CallError::NotConnected),
            Link::Closed => return Err(CallError::Closed),
        };
        let depth = match how.parent {
            None => 0,
            Some(p) => match self.inbound.get(p.index()) {
                Some(Some(c)) if c.id == p.wire && c.is_active() => c.depth.saturating_add(1),
                _ => return Err(CallError::TooDeep), // its parent is over
            },
        };
        if depth > self.config.max_call_depth {
            return Err(CallError::TooDeep);
        }
        let stream = how.mode != StreamMode::Call;
        let peer_window = peer.stream_window;
        if stream && peer_window.is_none() {
            return Err(CallError::Unsupported);
        }
        if target.is_some()
            && (stream || depth > 0 || !self.config.handles || peer.handles.is_none())
        {
            return Err(CallError::Unsupported);
        }
        // A Request says everything a plain call at depth 0 needs, in the fewest bytes.
        let open = stream || (depth > 0 && peer_window.is_some());
        let cap = usize::from(self.limits.outbound).min(peer.max_inbound as usize);
        if usize::from(self.counts.out_used) >= cap {
            return Err(CallError::TooManyCalls);
        }
        // The lowest free slot (one exists: fewer than OUT are taken), its next epoch.
        let Some(index) = self.outbound.iter().position(|s| s.is_none()) else {
            return Err(CallError::TooManyCalls);
        };
        let epoch = self
            .epochs
            .get(index)
            .map_or(0, |&e| (u32::from(e) + 1) % Self::EPOCHS);
        let id = index as u32 + OUT as u32 * epoch;
        let limit = self.send_limit().saturating_sub(CRC_LEN);
        let (wire_timeout, deadline) = match how.timeout {
            // An Open always states a plain call's deadline (the default rule is the
            // Request's); a stream without one has none.
            Some(t) => (Some(t), now + t),
            None if !stream => (
                Some(self.config.call_timeout),
                now + self.config.call_timeout,
            ),
            None => (None, NEVER),
        };
        let wire_timeout = match (open, wire_timeout) {
            (true, t) => t.map(ceil_millis),
            (false, _) => how.timeout.and_then(|t| self.wire_timeout(t, &peer)),
        };
        // A Hello reply still waiting for room goes first: the peer takes a reply that
        // arrives after our requests for the end of its session (section 5.3), so nothing
        // of the session may overtake it.
        if self.due.hello.is_some() {
            self.flush_due();
            if self.due.hello.is_some() {
                return Err(CallError::WouldBlock);
            }
        }
        let kind = match (open, target) {
            (_, Some(_)) => Kind::Invoke,
            (true, None) => Kind::Open,
            (false, None) => Kind::Request,
        };
        let mut n = encode_head(&mut self.scratch, kind.header(wire_timeout.is_some()), id);
        n += encode_varint(&mut self.scratch, n, procedure);
        if let Some(target) = target {
            let (slot, generation) = target.wire();
            n += encode_varint(&mut self.scratch, n, slot);
            n += encode_varint(&mut self.scratch, n, generation);
        }
        if open {
            if let Some(b) = self.scratch.get_mut(n) {
                *b = how.mode.to_wire();
                n += 1;
            }
            n += encode_varint(&mut self.scratch, n, u32::from(depth));
        }
        if let Some(ms) = wire_timeout {
            n += encode_varint(&mut self.scratch, n, ms);
        }
        let room = self.scratch.get_mut(n..limit).ok_or(CallError::TooLarge)?;
        n += args.write_to(room).map_err(|e| match e {
            PayloadError::TooLarge => CallError::TooLarge,
            PayloadError::Encode => CallError::Encode,
        })?;
        if !self.queue_scratch(n) {
            return Err(CallError::WouldBlock);
        }
        let flow = if stream {
            let credit = if how.mode.caller_sends() {
                window16(peer_window.unwrap_or(0))
            } else {
                0
            };
            let allowed = if how.mode.server_sends() {
                self.limits.stream_window
            } else {
                0
            };
            Flow::new(how.mode, credit, allowed, now)
        } else {
            Flow::none(now)
        };
        if let (Some(slot), Some(e)) = (self.outbound.get_mut(index), self.epochs.get_mut(index)) {
            *slot = Some(OutCall::new(id, deadline, flow));
            *e = epoch as u8; // EPOCHS ≤ 128
            self.counts.out_used += 1;
        }
        bump(&mut self.stats.calls_sent);
        if self.due.any() {
            self.flush_due();
        }
        Ok(CallId {
            wire: id,
            index: index as u32,
        })
    }

    /// The timeout to put on the wire for a call of `timeout`, in whole milliseconds
    /// (rounded up: a sub-millisecond timeout must not reach the peer as "0 ms"), or none
    /// when the peer already knows it: it applies our advertised default to requests
    /// without a timeout, and `timeout` is within 1/16 of that default (a call that waited
    /// a little for a slot or the handshake). The peer's deadline is then at most that much
    /// later than ours, and our Cancel at our deadline ends its work.
    fn wire_timeout(&self, timeout: Duration, peer: &PeerInfo) -> Option<u32> {
        let ms = ceil_millis(timeout);
        if peer.call_timeout.is_some() {
            let default = ceil_millis(self.config.call_timeout);
            if ms <= default && ms >= default - default / 16 {
                return None;
            }
        }
        Some(ms)
    }

    /// Answers request `id` with an encoded result.
    pub fn respond(&mut self, id: RequestId, result: impl Payload) -> Result<(), RespondError> {
        let slot = self.active_request(id)?;
        let limit = self.send_limit().saturating_sub(CRC_LEN);
        let n = encode_head(&mut self.scratch, Kind::Reply.header(false), id.wire);
        let room = self
            .scratch
            .get_mut(n..limit)
            .ok_or(RespondError::TooLarge)?;
        let len = result.write_to(room).map_err(|e| match e {
            PayloadError::TooLarge => RespondError::TooLarge,
            PayloadError::Encode => RespondError::Encode,
        })?;
        // A stream's items end before its reply, with their count: the caller checks it.
        // Both go out, or neither does (the stream goes on if there is no room).
        if !self.end_server_items(slot, n + len) {
            return Err(RespondError::WouldBlock);
        }
        self.finish_request(slot, n + len)
    }

    /// Answers request `id` with a wire error and an optional UTF-8 detail text (cut to
    /// fit the peer's frame limit).
    pub fn respond_error(
        &mut self,
        id: RequestId,
        error: WireError,
        detail: &str,
    ) -> Result<(), RespondError> {
        let slot = self.active_request(id)?;
        let limit = self.send_limit().saturating_sub(CRC_LEN);
        let mut n = encode_head(&mut self.scratch, Kind::Error.header(false), id.wire);
        if let Some(b) = self.scratch.get_mut(n) {
            *b = error as u8;
            n += 1;
        }
        let room = self.scratch.get_mut(n..limit).unwrap_or(&mut []);
        let mut take = detail.len().min(room.len());
        while !detail.is_char_boundary(take) {
            take -= 1; // never split a UTF-8 character (0 is always a boundary)
        }
        if let (Some(dst), Some(src)) = (room.get_mut(..take), detail.as_bytes().get(..take)) {
            crate::bytes::copy_prefix(dst, src);
        }
        self.finish_request(slot, n + take)
    }

    pub(super) fn active_request(&self, id: RequestId) -> Result<usize, RespondError> {
        match self.inbound.get(id.index()) {
            Some(Some(c)) if c.id == id.wire && c.is_active() => Ok(id.index()),
            _ => Err(RespondError::NotPending),
        }
    }

    pub(super) fn finish_request(&mut self, slot: usize, len: usize) -> Result<(), RespondError> {
        if !self.queue_scratch(len) {
            return Err(RespondError::WouldBlock);
        }
        self.free_in(slot);
        if self.due.any() {
            self.flush_due();
        }
        Ok(())
    }

    pub(super) fn queue_scratch(&mut self, len: usize) -> bool {
        let frame = self.scratch.get(..len).unwrap_or(&[]);
        Self::push_frame(&mut self.tx, &mut self.stats, &[frame])
    }

    /// Asks the peer for its manifest from byte `offset` on; the answer is an
    /// [`Event::ManifestPiece`](crate::Event::ManifestPiece) with as many bytes as fit a
    /// frame. Ask again from the end of each piece until `total`. The request is a control
    /// frame without an id or a deadline: on a lossy link, ask again if no piece comes.
    ///
    /// `NotConnected` before the handshake, `Unsupported` if the peer serves no manifest
    /// ([`PeerInfo::manifest`](crate::PeerInfo::manifest)), `WouldBlock` if the transmit
    /// queue is full.
    pub fn request_manifest(&mut self, offset: u32) -> Result<(), CallError> {
        match self.link {
            Link::Established => {}
            Link::Closed => return Err(CallError::Closed),
            Link::Handshaking => return Err(CallError::NotConnected),
        }
        if !self.peer.manifest {
            return Err(CallError::Unsupported);
        }
        let mut frame = [Kind::Manifest.header(false); 1 + varint::MAX_LEN];
        let n = 1 + varint::encode(offset, frame.get_mut(1..).unwrap_or(&mut [])).unwrap_or(0);
        if self.queue_frame(&[frame.get(..n).unwrap_or(&[])]) {
            Ok(())
        } else {
            Err(CallError::WouldBlock)
        }
    }

    /// Cancels call `id`: it ends now without an event, and the peer is told to stop.
    /// Its slot stays reserved until the peer's final frame or the late-reply grace period.
    pub fn cancel(&mut self, id: CallId) -> Result<(), CancelError> {
        let (now, grace) = (self.now, self.config.late_reply_grace);
        let call = match self.outbound.get_mut(id.index()) {
            Some(Some(c)) if c.id == id.wire && !c.ended => c,
            _ => return Err(CancelError::NotPending),
        };
        if call.abandon(now, grace) {
            self.due.cancels += 1;
        }
        self.flush_due();
        Ok(())
    }

    /// Closes the link: the peer is told (`Close` with code `Closed`), every pending call in
    /// either direction ends with a lost connection, and the endpoint takes no more input.
    /// Drain `poll_event` and `poll_transmit` afterwards.
    pub fn close(&mut self) {
        self.close_with(WireError::Closed);
    }

    /// Like [`close`](Self::close) with another code for the peer: `Busy` from a server
    /// refusing a connection over its limit, `ShuttingDown` from one that stops.
    pub fn close_with(&mut self, code: WireError) {
        if self.link == Link::Closed {
            return;
        }
        self.lose_link(Disconnect::LocalClose, Link::Closed);
        self.due.close = Some(code);
        self.flush_due();
    }
}

/// A window or grant as the flow keeps it (a peer's larger window gains nothing).
pub(super) fn window16(items: u32) -> u16 {
    u16::try_from(items).unwrap_or(u16::MAX)
}

/// Whole milliseconds of `d`, rounded up, saturating at `u32::MAX`.
pub(super) fn ceil_millis(d: Duration) -> u32 {
    u32::try_from(d.as_micros().div_ceil(1000)).unwrap_or(u32::MAX)
}

pub(super) fn encode_varint(buf: &mut [u8], at: usize, v: u32) -> usize {
    varint::encode(v, buf.get_mut(at..).unwrap_or(&mut [])).unwrap_or(0)
}
