//! Streams: calls that carry items before their end, with credit flow control; and the
//! options of a call opened with [`Endpoint::open`](crate::Endpoint::open).
//!
//! A stream is a call. It has the call's id, slot, deadline, cancellation and end (the
//! server's `Reply` or `Error`); on top, items flow one way or both, each direction under
//! credit: the receiver grants items, the sender never sends beyond the grant. The initial
//! grant is the receiver's `stream_window` (from its `Hello`); the receiver grants more as
//! its application consumes items ([`Endpoint::consume`](crate::Endpoint::consume)), in
//! batches of half a window so that credit arrives before the sender runs out. An item beyond
//! the grant ends the stream with [`WireError::FlowControl`](crate::WireError::FlowControl).
//! Items carry a sequence number (modulo 256) and each side's `End` the count, so an item
//! the link lost (a frame dropped for its CRC) ends the stream with
//! [`WireError::ItemLost`](crate::WireError::ItemLost) at the next item or the end: an
//! application sees every item in order, or an error, never a gap.

use crate::event::{CallId, RequestId};
use crate::time::{Duration, Instant};

/// Which way items flow on a call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StreamMode {
    /// No items: one request, one reply (a plain call).
    #[default]
    Call,
    /// The caller sends items, then ends them; the server replies once.
    ClientStream,
    /// The server sends items, then its reply ends the call.
    ServerStream,
    /// Both send items; the server's reply ends the call.
    Bidi,
}

impl StreamMode {
    /// The mode byte of an `Open` frame: bit 0, the caller sends items; bit 1, the server.
    pub(crate) const fn to_wire(self) -> u8 {
        match self {
            StreamMode::Call => 0,
            StreamMode::ClientStream => 1,
            StreamMode::ServerStream => 2,
            StreamMode::Bidi => 3,
        }
    }

    /// The mode of a mode byte; other bits set make the frame malformed.
    pub(crate) const fn from_wire(b: u8) -> Option<StreamMode> {
        Some(match b {
            0 => StreamMode::Call,
            1 => StreamMode::ClientStream,
            2 => StreamMode::ServerStream,
            3 => StreamMode::Bidi,
            _ => return None,
        })
    }

    /// The caller sends items.
    pub const fn caller_sends(self) -> bool {
        matches!(self, StreamMode::ClientStream | StreamMode::Bidi)
    }

    /// The server sends items.
    pub const fn server_sends(self) -> bool {
        matches!(self, StreamMode::ServerStream | StreamMode::Bidi)
    }
}

/// One stream, from this side: a call it made, or a request it serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StreamId {
    /// A call this side made (it receives the server's items, sends the caller's).
    Call(CallId),
    /// A request this side serves (it receives the caller's items, sends the server's).
    Request(RequestId),
}

impl From<CallId> for StreamId {
    fn from(id: CallId) -> Self {
        StreamId::Call(id)
    }
}

impl From<RequestId> for StreamId {
    fn from(id: RequestId) -> Self {
        StreamId::Request(id)
    }
}

/// How [`Endpoint::open`](crate::Endpoint::open) makes a call: its stream mode, its deadline,
/// and the request it is made from (a callback into the caller, or any call nested in
/// serving another).
///
/// ```
/// use wirecall::{Duration, Open, StreamMode};
/// let o = Open::stream(StreamMode::ServerStream).with_timeout(Duration::from_secs(30));
/// assert_eq!(o.mode, StreamMode::ServerStream);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Open {
    /// Which way items flow.
    pub mode: StreamMode,
    /// The call's deadline from now. `None`: a plain call gets
    /// [`Config::call_timeout`](crate::Config::call_timeout); a stream has no deadline of
    /// its own and ends only when it ends, is cancelled, or idles past
    /// [`Config::stream_idle_timeout`](crate::Config::stream_idle_timeout) on either side.
    pub timeout: Option<Duration>,
    /// The request being served when this call is made: the call is one level deeper, and
    /// the peer refuses it past its [`Config::max_call_depth`](crate::Config::max_call_depth).
    pub parent: Option<RequestId>,
    /// The handle the call is made on: the call is a method call (an Invoke) on an object
    /// of the peer. Only plain calls at depth 0 are made on handles.
    pub target: Option<crate::handle::Target>,
}

impl Open {
    /// A plain call (no items), as [`Endpoint::call`](crate::Endpoint::call) makes.
    pub const fn call() -> Open {
        Open {
            mode: StreamMode::Call,
            timeout: None,
            parent: None,
            target: None,
        }
    }

    /// A stream of `mode`.
    pub const fn stream(mode: StreamMode) -> Open {
        Open {
            mode,
            timeout: None,
            parent: None,
            target: None,
        }
    }

    /// With a deadline of `timeout` from the moment the call is made.
    pub const fn with_timeout(mut self, timeout: Duration) -> Open {
        self.timeout = Some(timeout);
        self
    }

    /// Made while serving request `parent` (one level deeper than it).
    pub const fn nested_in(mut self, parent: RequestId) -> Open {
        self.parent = Some(parent);
        self
    }

    /// Made on `target`: a method call on a handle the peer gave this side, or on the
    /// handle a call still in flight will return (see
    /// [`Endpoint::invoke`](crate::Endpoint::invoke)).
    pub const fn on(mut self, target: crate::handle::Target) -> Open {
        self.target = Some(target);
        self
    }
}

/// The stream state of one call slot (either table). A plain call has mode `Call` and
/// its counters stay zero.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Flow {
    pub(crate) mode: StreamMode,
    /// Items this side may still send before the peer grants more (saturating: a peer
    /// granting more than 65535 at once gains nothing).
    pub(crate) credit: u16,
    /// Items the peer may still send before this side grants more (at most the window).
    pub(crate) allowed: u16,
    /// Items the application consumed that were not granted back yet.
    pub(crate) consumed: u16,
    /// The caller's items have ended (its `End` was sent, or received).
    pub(crate) items_ended: bool,
    /// A `Credit` frame is owed (it did not fit the transmit queue when it fell due).
    pub(crate) credit_due: bool,
    /// The server's items have ended (a server queued its `End`; a caller received it).
    pub(crate) server_ended: bool,
    /// Why the peer broke the stream (`FlowControl`, `ItemLost`): a caller's Cancel says so.
    pub(crate) broken: Option<crate::wire::WireError>,
    /// The sequence number of the next item this side sends.
    pub(crate) seq_out: u8,
    /// The sequence number the next item from the peer must carry.
    pub(crate) seq_in: u8,
    /// When an item, credit or end last moved on this stream, either way.
    pub(crate) active_at: Instant,
}

impl Flow {
    /// The state of a plain call.
    pub(crate) const fn none(now: Instant) -> Flow {
        Flow {
            mode: StreamMode::Call,
            credit: 0,
            allowed: 0,
            consumed: 0,
            items_ended: false,
            credit_due: false,
            server_ended: false,
            broken: None,
            seq_out: 0,
            seq_in: 0,
            active_at: now,
        }
    }

    /// A new stream: this side may send `credit` items, the peer `allowed`.
    pub(crate) const fn new(mode: StreamMode, credit: u16, allowed: u16, now: Instant) -> Flow {
        Flow {
            mode,
            credit,
            allowed,
            consumed: 0,
            items_ended: false,
            credit_due: false,
            server_ended: false,
            broken: None,
            seq_out: 0,
            seq_in: 0,
            active_at: now,
        }
    }

    /// True for a stream (items may flow), false for a plain call.
    pub(crate) const fn is_stream(&self) -> bool {
        !matches!(self.mode, StreamMode::Call)
    }
}
