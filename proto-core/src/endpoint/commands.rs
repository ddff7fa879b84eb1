//! Commands from the application: call, respond, respond_error, cancel, close.

use super::receive::encode_head;
use super::{Endpoint, Link};
use crate::calls::OutCall;
use crate::error::{CallError, CancelError, RespondError};
use crate::event::{CallId, Disconnect, RequestId};
use crate::framing::CRC_LEN;
use crate::payload::{Payload, PayloadError};
use crate::stats::bump;
use crate::time::{Duration, Instant};
use crate::varint;
use crate::wire::{Kind, WireError};

impl<const FRAME: usize, const IN: usize, const OUT: usize, const TX: usize>
    Endpoint<FRAME, IN, OUT, TX>
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
        self.start_call(now, procedure, None, &args)
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
        self.start_call(now, procedure, Some(timeout), &args)
    }

    fn start_call(
        &mut self,
        now: Instant,
        procedure: u32,
        timeout: Option<Duration>,
        args: &dyn Payload,
    ) -> Result<CallId, CallError> {
        let now = self.advance(now);
        let peer = match self.link {
            Link::Established(peer) => peer,
            Link::Handshaking => return Err(CallError::NotConnected),
            Link::Closed => return Err(CallError::Closed),
        };
        let in_use = self.outbound.iter().flatten().count();
        if in_use >= OUT.min(peer.max_inbound as usize) {
            return Err(CallError::TooManyCalls);
        }
        let id = self.allocate_id();
        let limit = self.send_limit().saturating_sub(CRC_LEN);
        let mut n = encode_head(
            &mut self.scratch,
            Kind::Request.header(timeout.is_some()),
            id,
        );
        n += encode_varint(&mut self.scratch, n, procedure);
        if let Some(t) = timeout {
            // Round up: a sub-millisecond timeout must not reach the peer as "0 ms".
            let ms = u32::try_from(t.as_micros().div_ceil(1000)).unwrap_or(u32::MAX);
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
        let deadline = now + timeout.unwrap_or(self.config.call_timeout);
        if let Some(slot) = self.outbound.iter_mut().find(|s| s.is_none()) {
            *slot = Some(OutCall::new(id, deadline));
        }
        self.next_id = (id + 1) % Self::ID_SPACE;
        bump(&mut self.stats.calls_sent);
        self.flush_due();
        Ok(CallId(id))
    }

    /// The next id after the last one used that no slot holds. At most `OUT` ids are held,
    /// so this looks at most `OUT + 1` candidates.
    fn allocate_id(&self) -> u32 {
        let mut id = self.next_id;
        while self.outbound.iter().flatten().any(|c| c.id == id) {
            id = (id + 1) % Self::ID_SPACE;
        }
        id
    }

    /// Answers request `id` with an encoded result.
    pub fn respond(&mut self, id: RequestId, result: impl Payload) -> Result<(), RespondError> {
        let slot = self.active_request(id)?;
        let limit = self.send_limit().saturating_sub(CRC_LEN);
        let n = encode_head(&mut self.scratch, Kind::Reply.header(false), id.0);
        let room = self
            .scratch
            .get_mut(n..limit)
            .ok_or(RespondError::TooLarge)?;
        let len = result.write_to(room).map_err(|e| match e {
            PayloadError::TooLarge => RespondError::TooLarge,
            PayloadError::Encode => RespondError::Encode,
        })?;
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
        let mut n = encode_head(&mut self.scratch, Kind::Error.header(false), id.0);
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
            dst.copy_from_slice(src);
        }
        self.finish_request(slot, n + take)
    }

    fn active_request(&self, id: RequestId) -> Result<usize, RespondError> {
        self.inbound
            .iter()
            .position(|s| s.is_some_and(|c| c.id == id.0 && c.is_active()))
            .ok_or(RespondError::NotPending)
    }

    fn finish_request(&mut self, slot: usize, len: usize) -> Result<(), RespondError> {
        if !self.queue_scratch(len) {
            return Err(RespondError::WouldBlock);
        }
        if let Some(s) = self.inbound.get_mut(slot) {
            *s = None;
        }
        self.flush_due();
        Ok(())
    }

    fn queue_scratch(&mut self, len: usize) -> bool {
        let frame = self.scratch.get(..len).unwrap_or(&[]);
        Self::push_frame(&mut self.tx, &mut self.stats, &[frame])
    }

    /// Cancels call `id`: it ends now without an event, and the peer is told to stop.
    /// Its slot stays reserved until the peer's final frame or the late-reply grace period.
    pub fn cancel(&mut self, id: CallId) -> Result<(), CancelError> {
        let (now, grace) = (self.now, self.config.late_reply_grace);
        let call = self
            .outbound
            .iter_mut()
            .flatten()
            .find(|c| c.id == id.0 && !c.ended)
            .ok_or(CancelError::NotPending)?;
        call.abandon(now, grace);
        self.flush_due();
        Ok(())
    }

    /// Closes the link: the peer is told (`Close`), every pending call in either direction
    /// ends with a lost connection, and the endpoint takes no more input. Drain
    /// `poll_event` and `poll_transmit` afterwards.
    pub fn close(&mut self) {
        if self.link == Link::Closed {
            return;
        }
        self.lose_link(Disconnect::LocalClose, Link::Closed);
        self.due.close = Some(WireError::Closed);
        self.flush_due();
    }
}

fn encode_varint(buf: &mut [u8], at: usize, v: u32) -> usize {
    varint::encode(v, buf.get_mut(at..).unwrap_or(&mut [])).unwrap_or(0)
}
