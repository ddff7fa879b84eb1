//! The host's endpoint: one object-safe face over a few const-generic sizes, chosen at run
//! time from the frame size and calls in flight a user asks for.
//!
//! The core's capacities are const generics (its size is known at compile time, which is
//! what firmware needs). A host user chooses them at run time instead: the runtime picks
//! the smallest of a few compiled sizes that holds the request, and sets the core's
//! run-time limits ([`Config::with_max_frame`] and friends) to exactly what was asked, so
//! the peer is told and held to the request, not to the size class.

use wirecall::{
    CallError, CallId, Config, Endpoint, Event, Handle, HandleError, Instant, Open, RequestId,
    Resolved, RespondError, Stats, StreamError, StreamId, WireError,
};

/// Slots of a host endpoint's export table: the objects one connection can have out as
/// remote handles at once (12 bytes each).
pub const HOST_HANDLES: usize = 64;

/// What a host endpoint can carry: the largest frame and the calls in flight each way.
/// The defaults (4 KiB frames, 32 calls) suit most links; the largest are 64 KiB frames
/// and 256 calls. Both sides need it: each refuses frames larger than its own capacity.
///
/// ```
/// use wirecall::WireError;
/// use wirecall_adapters::host::{serve_tcp, Capacity, Client, ClientError, ClientOptions, Link, ServeOptions};
///
/// let big = Capacity { max_frame: 64 * 1024, max_calls: 64 };
/// assert!(big.validate().is_ok());
/// assert!(Capacity { max_frame: 1 << 20, max_calls: 1 }.validate().unwrap_err().contains("65536"));
///
/// let echo = |_: u32, args: &[u8]| Ok::<_, (WireError, String)>(args.to_vec());
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let options = ServeOptions { capacity: big, ..ServeOptions::default() };
/// let server = serve_tcp(listener, move || Box::new(echo), options)?;
///
/// let payload = vec![7u8; 60_000];
/// let client = Client::connect(move || Link::tcp(addr), ClientOptions { capacity: big, ..ClientOptions::default() })?;
/// assert_eq!(client.call(0, &payload, None)?, payload);
/// // A client at the default capacity cannot send it.
/// let small = Client::connect(move || Link::tcp(addr), ClientOptions::default())?;
/// assert_eq!(small.call(0, &payload, None), Err(ClientError::TooLarge));
///
/// // What the larger endpoint costs in memory, per connection.
/// assert!(big.endpoint_bytes() > Capacity::default().endpoint_bytes());
/// drop((client, small));
/// server.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// Largest decoded frame accepted and sent (header and CRC included), 48 to 65,536
    /// bytes. A call's arguments or result can be up to about 10 bytes less.
    pub max_frame: usize,
    /// Calls in flight at once in each direction (served and made), 1 to 256.
    pub max_calls: usize,
}

impl Default for Capacity {
    fn default() -> Self {
        Capacity {
            max_frame: 4096,
            max_calls: 32,
        }
    }
}

impl Capacity {
    /// The largest frame a host endpoint supports.
    pub const MAX_FRAME: usize = 65536;
    /// The most calls in flight a host endpoint supports each way.
    pub const MAX_CALLS: usize = 256;

    /// Bytes one endpoint of this capacity occupies (its buffers and tables; the
    /// runtime's own buffers come on top, see the host module docs).
    pub fn endpoint_bytes(&self) -> usize {
        let (frame, calls) = self.class();
        match (frame, calls) {
            (4096, 32) => size_of::<Endpoint<4096, 32, 32, { tx(4096) }, HOST_HANDLES>>(),
            (4096, _) => size_of::<Endpoint<4096, 256, 256, { tx(4096) }, HOST_HANDLES>>(),
            (16384, 32) => size_of::<Endpoint<16384, 32, 32, { tx(16384) }, HOST_HANDLES>>(),
            (16384, _) => size_of::<Endpoint<16384, 256, 256, { tx(16384) }, HOST_HANDLES>>(),
            (_, 32) => size_of::<Endpoint<65536, 32, 32, { tx(65536) }, HOST_HANDLES>>(),
            _ => size_of::<Endpoint<65536, 256, 256, { tx(65536) }, HOST_HANDLES>>(),
        }
    }

    /// The compiled size that holds this capacity: (frame, calls).
    fn class(&self) -> (usize, usize) {
        let frame = match self.max_frame {
            0..=4096 => 4096,
            4097..=16384 => 16384,
            _ => 65536,
        };
        let calls = if self.max_calls <= 32 { 32 } else { 256 };
        (frame, calls)
    }

    /// Checks the bounds; the error says what is allowed.
    pub fn validate(&self) -> Result<(), String> {
        if !(wirecall::MIN_MAX_FRAME..=Self::MAX_FRAME).contains(&self.max_frame) {
            return Err(format!(
                "a frame of {} bytes: the host runtime supports {} to {}",
                self.max_frame,
                wirecall::MIN_MAX_FRAME,
                Self::MAX_FRAME
            ));
        }
        if !(1..=Self::MAX_CALLS).contains(&self.max_calls) {
            return Err(format!(
                "{} calls in flight: the host runtime supports 1 to {}",
                self.max_calls,
                Self::MAX_CALLS
            ));
        }
        Ok(())
    }

    /// A new endpoint of this capacity (clamped to the supported range), with `config`'s
    /// limits set to exactly this capacity.
    pub(crate) fn endpoint(&self, now: Instant, config: Config) -> Box<dyn HostEngine> {
        let frame = self
            .max_frame
            .clamp(wirecall::MIN_MAX_FRAME, Self::MAX_FRAME);
        let calls = self.max_calls.clamp(1, Self::MAX_CALLS);
        // The blocking runtime speaks handles (the tokio flavour refuses method calls).
        let config = config
            .with_handles()
            .with_max_frame(frame as u32)
            .with_max_inbound(calls as u32)
            .with_max_outbound(calls as u32);
        match self.class() {
            (4096, 32) => Box::new(Endpoint::<4096, 32, 32, { tx(4096) }, HOST_HANDLES>::new(
                now, config,
            )),
            (4096, _) => Box::new(Endpoint::<4096, 256, 256, { tx(4096) }, HOST_HANDLES>::new(
                now, config,
            )),
            (16384, 32) => Box::new(Endpoint::<16384, 32, 32, { tx(16384) }, HOST_HANDLES>::new(
                now, config,
            )),
            (16384, _) => {
                Box::new(Endpoint::<16384, 256, 256, { tx(16384) }, HOST_HANDLES>::new(now, config))
            }
            (_, 32) => Box::new(Endpoint::<65536, 32, 32, { tx(65536) }, HOST_HANDLES>::new(
                now, config,
            )),
            _ => {
                Box::new(Endpoint::<65536, 256, 256, { tx(65536) }, HOST_HANDLES>::new(now, config))
            }
        }
    }
}

/// The transmit queue of a host endpoint: two largest frames and the control reserve, so a
/// reply can be queued while the previous one is still being written.
const fn tx(frame: usize) -> usize {
    2 * wirecall::max_encoded_len(frame) + 64
}

/// The endpoint type of the host runtime's default capacity: 4 KiB frames, 32 calls each
/// way. A host program that drives an endpoint itself (as firmware does, without the
/// runtime's threads) can use it to speak to the runtime's clients and servers at their
/// sizes.
///
/// ```
/// use wirecall::{Config, Instant};
/// use wirecall_adapters::host::{Capacity, HostEndpoint};
///
/// let endpoint = HostEndpoint::new(Instant::ZERO, Config::default().with_max_frame(4096));
/// assert!(!endpoint.is_connected()); // its handshake has only begun
/// assert_eq!(size_of::<HostEndpoint>(), Capacity::default().endpoint_bytes());
/// ```
pub type HostEndpoint = Endpoint<4096, 32, 32, { tx(4096) }, HOST_HANDLES>;

/// The endpoint operations the host runtime uses, for any capacity.
pub(crate) trait HostEngine: Send {
    fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> usize;
    fn handle_timeout(&mut self, now: Instant);
    fn poll_timeout(&self) -> Option<Instant>;
    fn poll_event(&mut self) -> Option<Event<'_>>;
    fn poll_transmit(&mut self, buf: &mut [u8]) -> usize;
    fn open(
        &mut self,
        now: Instant,
        procedure: u32,
        args: &[u8],
        how: Open,
    ) -> Result<CallId, CallError>;
    fn send_item(&mut self, stream: StreamId, item: &[u8]) -> Result<(), StreamError>;
    fn end_items(&mut self, id: CallId) -> Result<(), StreamError>;
    fn consume(&mut self, stream: StreamId, items: u32) -> Result<(), StreamError>;
    fn respond(&mut self, id: RequestId, result: &[u8]) -> Result<(), RespondError>;
    fn respond_error(
        &mut self,
        id: RequestId,
        error: WireError,
        detail: &str,
    ) -> Result<(), RespondError>;
    fn close_with(&mut self, code: WireError);
    fn cancel(&mut self, id: CallId) -> Result<(), wirecall::CancelError>;
    fn request_manifest(&mut self, offset: u32) -> Result<(), CallError>;
    fn stats(&self) -> Stats;
    fn is_connected(&self) -> bool;
    /// Slots of the call tables (outbound, inbound), for sizing per-call state.
    fn table_sizes(&self) -> (usize, usize);
    fn respond_export(&mut self, id: RequestId, interface: u8) -> Result<Handle, HandleError>;
    fn resolve_promise(&self, request: u32) -> Result<Resolved, HandleError>;
    fn release(&mut self, handle: Handle) -> Result<(), HandleError>;
    fn revoke(&mut self, handle: Handle, code: WireError, reason: &str) -> Result<(), HandleError>;
    /// Slots of the export table.
    fn export_slots(&self) -> usize;
    /// What the handshake learned about the peer, while connected.
    fn peer(&self) -> Option<wirecall::PeerInfo>;
    /// Items that may be sent on `stream` now.
    fn credit(&self, stream: StreamId) -> u32;
    /// The deadline of a pending request (`None`: none, or not pending).
    fn request_deadline(&self, id: RequestId) -> Option<Instant>;
    /// Calls nested above a pending request.
    fn request_depth(&self, id: RequestId) -> Option<u8>;
    /// Bytes waiting in the transmit queue.
    fn transmit_pending(&self) -> usize;
    /// The transmit queue has room for one more frame of the largest size: a command
    /// made now cannot fail for want of room.
    fn room_for_frame(&self) -> bool;
    /// A slot of the export table is free.
    fn can_export(&self) -> bool;
}

impl<const F: usize, const I: usize, const O: usize, const T: usize, const H: usize> HostEngine
    for Endpoint<F, I, O, T, H>
{
    fn respond_export(&mut self, id: RequestId, interface: u8) -> Result<Handle, HandleError> {
        Endpoint::respond_export(self, id, interface)
    }
    fn resolve_promise(&self, request: u32) -> Result<Resolved, HandleError> {
        Endpoint::resolve_promise(self, request)
    }
    fn release(&mut self, handle: Handle) -> Result<(), HandleError> {
        Endpoint::release(self, handle)
    }
    fn revoke(&mut self, handle: Handle, code: WireError, reason: &str) -> Result<(), HandleError> {
        Endpoint::revoke(self, handle, code, reason)
    }
    fn export_slots(&self) -> usize {
        H
    }
    fn peer(&self) -> Option<wirecall::PeerInfo> {
        Endpoint::peer(self).copied()
    }
    fn credit(&self, stream: StreamId) -> u32 {
        Endpoint::credit(self, stream)
    }
    fn request_deadline(&self, id: RequestId) -> Option<Instant> {
        Endpoint::request_deadline(self, id)
    }
    fn request_depth(&self, id: RequestId) -> Option<u8> {
        Endpoint::request_depth(self, id)
    }
    fn transmit_pending(&self) -> usize {
        Endpoint::transmit_pending(self)
    }
    fn room_for_frame(&self) -> bool {
        Endpoint::transmit_pending(self) + wirecall::max_encoded_len(F) + 64 <= T
    }
    fn can_export(&self) -> bool {
        Endpoint::next_export(self).is_some()
    }
    fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> usize {
        Endpoint::handle_input(self, now, bytes)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Endpoint::handle_timeout(self, now)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Endpoint::poll_timeout(self)
    }
    fn poll_event(&mut self) -> Option<Event<'_>> {
        Endpoint::poll_event(self)
    }
    fn poll_transmit(&mut self, buf: &mut [u8]) -> usize {
        Endpoint::poll_transmit(self, buf)
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
    fn end_items(&mut self, id: CallId) -> Result<(), StreamError> {
        Endpoint::end_items(self, id)
    }
    fn consume(&mut self, stream: StreamId, items: u32) -> Result<(), StreamError> {
        Endpoint::consume(self, stream, items)
    }
    fn respond(&mut self, id: RequestId, result: &[u8]) -> Result<(), RespondError> {
        Endpoint::respond(self, id, result)
    }
    fn respond_error(
        &mut self,
        id: RequestId,
        error: WireError,
        detail: &str,
    ) -> Result<(), RespondError> {
        Endpoint::respond_error(self, id, error, detail)
    }
    fn close_with(&mut self, code: WireError) {
        Endpoint::close_with(self, code)
    }
    fn cancel(&mut self, id: CallId) -> Result<(), wirecall::CancelError> {
        Endpoint::cancel(self, id)
    }
    fn request_manifest(&mut self, offset: u32) -> Result<(), CallError> {
        Endpoint::request_manifest(self, offset)
    }
    fn stats(&self) -> Stats {
        *Endpoint::stats(self)
    }
    fn is_connected(&self) -> bool {
        Endpoint::is_connected(self)
    }
    fn table_sizes(&self) -> (usize, usize) {
        (O, I)
    }
}
