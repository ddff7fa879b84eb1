//! One object-safe face for endpoints of any capacities, with owned events, so the harness
//! can hold two different endpoint types.

use wirecall::{
    CallError, CallFailure, CallId, CancelError, Disconnect, Duration, Endpoint, Event, Handle,
    HandleError, Instant, Open, PeerInfo, RequestEnd, RequestId, Resolved, RespondError, Stats,
    StreamError, StreamId, StreamMode, Target, WireError,
};

/// An [`Event`] with its payload copied out; fields as in [`Event`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Owned {
    /// See [`Event::Connected`].
    Connected(PeerInfo),
    /// See [`Event::Disconnected`].
    Disconnected(Disconnect),
    /// See [`Event::Request`].
    Request {
        id: RequestId,
        procedure: u32,
        args: Vec<u8>,
    },
    /// See [`Event::Reply`].
    Reply { id: CallId, payload: Vec<u8> },
    /// See [`Event::CallFailed`].
    CallFailed {
        id: CallId,
        reason: CallFailure,
        detail: Vec<u8>,
    },
    /// See [`Event::RequestEnded`].
    RequestEnded { id: RequestId, reason: RequestEnd },
    /// See [`Event::Item`].
    Item { stream: StreamId, item: Vec<u8> },
    /// See [`Event::Credit`].
    Credit { stream: StreamId },
    /// See [`Event::ItemsEnded`].
    ItemsEnded { id: RequestId },
    /// See [`Event::ManifestPiece`].
    ManifestPiece {
        total: u32,
        offset: u32,
        bytes: Vec<u8>,
    },
    /// See [`Event::Invoke`].
    Invoke {
        id: RequestId,
        on: Resolved,
        method: u32,
        args: Vec<u8>,
    },
    /// See [`Event::Released`].
    Released { handle: Handle, interface: u8 },
    /// See [`Event::Revoked`].
    Revoked {
        handle: Handle,
        code: WireError,
        reason: Vec<u8>,
    },
}

impl Owned {
    /// Copies an event.
    pub fn from_event(ev: Event<'_>) -> Owned {
        match ev {
            Event::Connected(p) => Owned::Connected(p),
            Event::Disconnected(d) => Owned::Disconnected(d),
            Event::Request {
                id,
                procedure,
                args,
                ..
            } => Owned::Request {
                id,
                procedure,
                args: args.to_vec(),
            },
            Event::Reply { id, payload } => Owned::Reply {
                id,
                payload: payload.to_vec(),
            },
            Event::CallFailed { id, reason, detail } => Owned::CallFailed {
                id,
                reason,
                detail: detail.to_vec(),
            },
            Event::RequestEnded { id, reason } => Owned::RequestEnded { id, reason },
            Event::Item { stream, item } => Owned::Item {
                stream,
                item: item.to_vec(),
            },
            Event::Credit { stream } => Owned::Credit { stream },
            Event::ItemsEnded { id } => Owned::ItemsEnded { id },
            Event::ManifestPiece {
                total,
                offset,
                bytes,
            } => Owned::ManifestPiece {
                total,
                offset,
                bytes: bytes.to_vec(),
            },
            Event::Invoke {
                id,
                on,
                method,
                args,
                ..
            } => Owned::Invoke {
                id,
                on,
                method,
                args: args.to_vec(),
            },
            Event::Released { handle, interface } => Owned::Released { handle, interface },
            Event::Revoked {
                handle,
                code,
                reason,
            } => Owned::Revoked {
                handle,
                code,
                reason: reason.to_vec(),
            },
            _ => panic!("event kind unknown to the harness: {ev:?}"),
        }
    }
}

/// The endpoint operations the harness uses.
#[allow(missing_docs)]
pub trait Engine {
    fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> usize;
    fn handle_timeout(&mut self, now: Instant);
    fn poll_event(&mut self) -> Option<Owned>;
    fn poll_transmit(&mut self, buf: &mut [u8]) -> usize;
    fn poll_timeout(&self) -> Option<Instant>;
    fn call(
        &mut self,
        now: Instant,
        procedure: u32,
        args: &[u8],
        timeout: Option<Duration>,
    ) -> Result<CallId, CallError>;
    fn open(
        &mut self,
        now: Instant,
        procedure: u32,
        args: &[u8],
        how: Open,
    ) -> Result<CallId, CallError>;
    fn send_item(&mut self, stream: StreamId, item: &[u8]) -> Result<(), StreamError>;
    fn send_items(&mut self, stream: StreamId, items: &[&[u8]]) -> Result<usize, StreamError>;
    fn end_items(&mut self, id: CallId) -> Result<(), StreamError>;
    fn consume(&mut self, stream: StreamId, items: u32) -> Result<(), StreamError>;
    fn credit(&self, stream: StreamId) -> u32;
    fn request_mode(&self, id: RequestId) -> Option<StreamMode>;
    fn request_depth(&self, id: RequestId) -> Option<u8>;
    fn respond(&mut self, id: RequestId, payload: &[u8]) -> Result<(), RespondError>;
    fn respond_error(
        &mut self,
        id: RequestId,
        error: WireError,
        detail: &str,
    ) -> Result<(), RespondError>;
    fn cancel(&mut self, id: CallId) -> Result<(), CancelError>;
    fn request_manifest(&mut self, offset: u32) -> Result<(), CallError>;
    fn peer(&self) -> Option<PeerInfo>;
    fn close(&mut self);
    fn stats(&self) -> Stats;
    fn is_connected(&self) -> bool;
    fn calls_in_flight(&self) -> usize;
    fn requests_pending(&self) -> usize;
    fn slots_in_use(&self) -> (usize, usize);
    fn invoke(
        &mut self,
        now: Instant,
        target: Target,
        method: u32,
        args: &[u8],
    ) -> Result<CallId, CallError>;
    fn respond_export(&mut self, id: RequestId, interface: u8) -> Result<Handle, HandleError>;
    fn respond_export_at(
        &mut self,
        id: RequestId,
        interface: u8,
        handle: Handle,
    ) -> Result<Handle, HandleError>;
    fn resolve_promise(&self, request: u32) -> Result<Resolved, HandleError>;
    fn revoke(&mut self, handle: Handle, code: WireError, reason: &str) -> Result<(), HandleError>;
    fn release(&mut self, handle: Handle) -> Result<(), HandleError>;
    fn next_export(&self) -> Option<Handle>;
    fn exports_live(&self) -> usize;
}

impl<const F: usize, const I: usize, const O: usize, const T: usize, const H: usize> Engine
    for Endpoint<F, I, O, T, H>
{
    fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> usize {
        Endpoint::handle_input(self, now, bytes)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Endpoint::handle_timeout(self, now)
    }
    fn poll_event(&mut self) -> Option<Owned> {
        Endpoint::poll_event(self).map(Owned::from_event)
    }
    fn poll_transmit(&mut self, buf: &mut [u8]) -> usize {
        Endpoint::poll_transmit(self, buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Endpoint::poll_timeout(self)
    }
    fn call(
        &mut self,
        now: Instant,
        procedure: u32,
        args: &[u8],
        timeout: Option<Duration>,
    ) -> Result<CallId, CallError> {
        match timeout {
            Some(t) => Endpoint::call_with_timeout(self, now, procedure, args, t),
            None => Endpoint::call(self, now, procedure, args),
        }
    }
    fn open(
        &mut self,
        now: Instant,
        procedure: u32,
        args: &[u8],
        how: Open,
    ) -> Result<CallId, CallError> {
        Endpoint::open(self, now, procedure, args, how)
    }
    fn send_item(&mut self, stream: StreamId, item: &[u8]) -> Result<(), StreamError> {
        Endpoint::send_item(self, stream, item)
    }
    fn send_items(&mut self, stream: StreamId, items: &[&[u8]]) -> Result<usize, StreamError> {
        Endpoint::send_items(self, stream, items)
    }
    fn end_items(&mut self, id: CallId) -> Result<(), StreamError> {
        Endpoint::end_items(self, id)
    }
    fn consume(&mut self, stream: StreamId, items: u32) -> Result<(), StreamError> {
        Endpoint::consume(self, stream, items)
    }
    fn credit(&self, stream: StreamId) -> u32 {
        Endpoint::credit(self, stream)
    }
    fn request_mode(&self, id: RequestId) -> Option<StreamMode> {
        Endpoint::request_mode(self, id)
    }
    fn request_depth(&self, id: RequestId) -> Option<u8> {
        Endpoint::request_depth(self, id)
    }
    fn respond(&mut self, id: RequestId, payload: &[u8]) -> Result<(), RespondError> {
        Endpoint::respond(self, id, payload)
    }
    fn respond_error(
        &mut self,
        id: RequestId,
        error: WireError,
        detail: &str,
    ) -> Result<(), RespondError> {
        Endpoint::respond_error(self, id, error, detail)
    }
    fn cancel(&mut self, id: CallId) -> Result<(), CancelError> {
        Endpoint::cancel(self, id)
    }
    fn request_manifest(&mut self, offset: u32) -> Result<(), CallError> {
        Endpoint::request_manifest(self, offset)
    }
    fn peer(&self) -> Option<PeerInfo> {
        Endpoint::peer(self).copied()
    }
    fn close(&mut self) {
        Endpoint::close(self)
    }
    fn stats(&self) -> Stats {
        *Endpoint::stats(self)
    }
    fn is_connected(&self) -> bool {
        Endpoint::is_connected(self)
    }
    fn calls_in_flight(&self) -> usize {
        Endpoint::calls_in_flight(self)
    }
    fn requests_pending(&self) -> usize {
        Endpoint::requests_pending(self)
    }
    fn slots_in_use(&self) -> (usize, usize) {
        Endpoint::slots_in_use(self)
    }
    fn invoke(
        &mut self,
        now: Instant,
        target: Target,
        method: u32,
        args: &[u8],
    ) -> Result<CallId, CallError> {
        Endpoint::invoke(self, now, target, method, args)
    }
    fn respond_export(&mut self, id: RequestId, interface: u8) -> Result<Handle, HandleError> {
        Endpoint::respond_export(self, id, interface)
    }
    fn respond_export_at(
        &mut self,
        id: RequestId,
        interface: u8,
        handle: Handle,
    ) -> Result<Handle, HandleError> {
        Endpoint::respond_export_at(self, id, interface, handle)
    }
    fn resolve_promise(&self, request: u32) -> Result<Resolved, HandleError> {
        Endpoint::resolve_promise(self, request)
    }
    fn revoke(&mut self, handle: Handle, code: WireError, reason: &str) -> Result<(), HandleError> {
        Endpoint::revoke(self, handle, code, reason)
    }
    fn release(&mut self, handle: Handle) -> Result<(), HandleError> {
        Endpoint::release(self, handle)
    }
    fn next_export(&self) -> Option<Handle> {
        Endpoint::next_export(self)
    }
    fn exports_live(&self) -> usize {
        Endpoint::exports_live(self)
    }
}
