//! Commands for remote handles: export an object in an answer, call methods on the peer's,
//! release them, revoke this side's.

use super::commands::encode_varint;
use super::receive::encode_head;
use super::{Endpoint, Link};
use crate::error::CallError;
use crate::event::{CallId, RequestId};
use crate::framing::CRC_LEN;
use crate::handle::{Handle, HandleError, Resolved, Target};
use crate::payload::Payload;
use crate::stats::bump;
use crate::stream::Open;
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
    /// Answers request `id` with a new handle: the object the application made for it is
    /// exported as `interface` (a number of your choosing, given back with every method
    /// call on it) in the lowest free slot. A host runtime, which keeps its objects by the
    /// handle returned, uses this; a device that made its object at the slot its event
    /// announced uses [`respond_export_at`](Self::respond_export_at).
    ///
    /// `TableFull` if every slot is taken (answer `TooManyHandles`), `Unsupported` with
    /// handles off on either side (the peer could neither call nor release the object:
    /// answer with an error), `Stale` if `id` is not waiting for an answer, `WouldBlock` if
    /// the transmit queue is full (nothing changed: retry after draining it).
    pub fn respond_export(&mut self, id: RequestId, interface: u8) -> Result<Handle, HandleError> {
        let limit = usize::from(self.limits.handles);
        let handle = self.exports.next(limit).ok_or(HandleError::TableFull)?;
        self.export_as(id, interface, handle)
    }

    /// [`respond_export`](Self::respond_export) at `handle`, the one the request's event
    /// announced as `export`, where the application made its object. Releases and session
    /// ends that free lower slots meanwhile do not move it; `Stale` if `handle` is no longer
    /// the next of its slot (the slot was given to another export in between: drop the
    /// object, or answer with `respond_export` and move it), besides the errors of
    /// `respond_export`.
    pub fn respond_export_at(
        &mut self,
        id: RequestId,
        interface: u8,
        handle: Handle,
    ) -> Result<Handle, HandleError> {
        let limit = usize::from(self.limits.handles);
        if !self.exports.is_next(limit, handle) {
            return Err(HandleError::Stale);
        }
        self.export_as(id, interface, handle)
    }

    /// Answers request `id` with `handle`, a free slot at its next generation.
    fn export_as(
        &mut self,
        id: RequestId,
        interface: u8,
        handle: Handle,
    ) -> Result<Handle, HandleError> {
        let slot = self.active_request(id).map_err(|_| HandleError::Stale)?;
        if self.limits.handles == 0 || self.peer.handles.is_none() {
            return Err(HandleError::Unsupported);
        }
        // The reply carries the handle as its result: slot and generation, two varints.
        let mut n = encode_head(&mut self.scratch, Kind::Reply.header(false), id.wire);
        n += encode_varint(&mut self.scratch, n, handle.slot() as u32);
        n += encode_varint(&mut self.scratch, n, handle.generation());
        if n + CRC_LEN > self.send_limit() || !self.end_server_items(slot, n) {
            return Err(HandleError::WouldBlock);
        }
        self.finish_request(slot, n)
            .map_err(|_| HandleError::WouldBlock)?;
        self.exports.export_at(handle, id.wire, interface);
        bump(&mut self.stats.handles_exported);
        Ok(handle)
    }

    /// The handle the next export gets (see [`Event::Request`](crate::Event::Request)'s
    /// `export`), if a slot is free.
    pub fn next_export(&self) -> Option<Handle> {
        self.exports.next(usize::from(self.limits.handles))
    }

    /// Objects exported and not yet freed.
    pub fn exports_live(&self) -> usize {
        self.exports.live()
    }

    /// The interface of exported object `handle`, if it is live.
    pub fn export_interface(&self, handle: Handle) -> Option<u8> {
        self.exports.lookup(handle)
    }

    /// What a method call that targeted the answer of the peer's request `request` (an
    /// [`Resolved::Pending`]) is made on, now: once that request has been answered, its
    /// exported object, or `Stale` if it exported none.
    pub fn resolve_promise(&self, request: u32) -> Result<Resolved, HandleError> {
        if self.find_active_in(request).is_some() {
            return Ok(Resolved::Pending(request));
        }
        self.exports
            .promised(request)
            .map(|(handle, interface)| Resolved::Object { handle, interface })
            .ok_or(HandleError::Stale)
    }

    /// Withdraws exported object `handle`: it is freed now (no
    /// [`Event::Released`](crate::Event::Released) follows, you know already), and the
    /// holder gets a Revoke with `code` (`Revoked`, `ShuttingDown` ...) and `reason` (UTF-8,
    /// cut to fit a frame). Its calls on it are answered `StaleHandle` from now on.
    pub fn revoke(
        &mut self,
        handle: Handle,
        code: WireError,
        reason: &str,
    ) -> Result<(), HandleError> {
        if self.link != Link::Established {
            return Err(HandleError::NotConnected);
        }
        if self.exports.lookup(handle).is_none() {
            return Err(HandleError::Stale);
        }
        if self.peer.handles.is_none() {
            return Err(HandleError::Unsupported); // never sent kind 13 (it holds none)
        }
        let mut head = [Kind::Handle.header(true); 1 + 2 * varint::MAX_LEN + 1];
        let mut n = 1;
        n += encode_varint(&mut head, n, handle.slot() as u32);
        n += encode_varint(&mut head, n, handle.generation());
        if let Some(b) = head.get_mut(n) {
            *b = code as u8;
            n += 1;
        }
        let room = self.send_limit().saturating_sub(n + CRC_LEN);
        let mut take = reason.len().min(room);
        while !reason.is_char_boundary(take) {
            take -= 1; // never split a UTF-8 character (0 is always a boundary)
        }
        let text = reason.as_bytes().get(..take).unwrap_or(&[]);
        if !self.queue_frame(&[head.get(..n).unwrap_or(&[]), text]) {
            return Err(HandleError::WouldBlock);
        }
        self.exports.revoke(handle);
        Ok(())
    }

    /// Gives back `handle`, one the peer exported: its object is freed there. Release
    /// every handle you were given exactly once (a handle of an ended session needs none:
    /// its object went with the session).
    pub fn release(&mut self, handle: Handle) -> Result<(), HandleError> {
        if self.link != Link::Established {
            return Err(HandleError::NotConnected);
        }
        if !self.config.handles || self.peer.handles.is_none() {
            return Err(HandleError::Unsupported);
        }
        let mut frame = [Kind::Handle.header(false); 1 + 2 * varint::MAX_LEN];
        let mut n = 1;
        n += encode_varint(&mut frame, n, handle.slot() as u32);
        n += encode_varint(&mut frame, n, handle.generation());
        if !self.queue_frame(&[frame.get(..n).unwrap_or(&[])]) {
            return Err(HandleError::WouldBlock);
        }
        Ok(())
    }

    /// Calls `method` on `target`: a handle the peer gave this side, or
    /// [`Target::Promise`] of a call still in flight whose answer will be one (pipelining:
    /// the method call leaves now, without waiting for that answer). The outcome arrives
    /// as for [`call`](Self::call), with the default deadline. `Unsupported` unless both
    /// sides speak handles.
    pub fn invoke(
        &mut self,
        now: Instant,
        target: Target,
        method: u32,
        args: impl Payload,
    ) -> Result<CallId, CallError> {
        self.start_call(now, method, Open::call().on(target), &args)
    }

    /// [`invoke`](Self::invoke) with a deadline of `timeout` from `now`.
    pub fn invoke_with_timeout(
        &mut self,
        now: Instant,
        target: Target,
        method: u32,
        args: impl Payload,
        timeout: Duration,
    ) -> Result<CallId, CallError> {
        self.start_call(
            now,
            method,
            Open::call().with_timeout(timeout).on(target),
            &args,
        )
    }
}
