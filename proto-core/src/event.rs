//! What an endpoint reports through [`Endpoint::poll_event`](crate::Endpoint::poll_event).

use crate::time::Duration;
use crate::wire::WireError;

/// Identifies a call this endpoint made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CallId {
    pub(crate) wire: u32,
    pub(crate) index: u32,
}

/// Identifies a call the peer made to this endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RequestId {
    pub(crate) wire: u32,
    pub(crate) index: u32,
}

impl CallId {
    /// The number on the wire.
    pub const fn wire(self) -> u32 {
        self.wire
    }

    /// A number below the endpoint's `OUT`, different for every call in flight at once:
    /// index your own per-call state with it instead of searching.
    pub const fn index(self) -> usize {
        self.index as usize
    }
}

impl RequestId {
    /// The number on the wire (chosen by the peer).
    pub const fn wire(self) -> u32 {
        self.wire
    }

    /// A number below the endpoint's `IN`, different for every request pending at once:
    /// index your own per-request state with it instead of searching.
    pub const fn index(self) -> usize {
        self.index as usize
    }
}

/// What the handshake learned about the peer. Each side honours the smaller limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PeerInfo {
    /// The protocol version both sides now speak.
    pub version: u8,
    /// Largest frame the peer accepts (header, body and CRC).
    pub max_frame: u32,
    /// Calls the peer serves at once.
    pub max_inbound: u32,
    /// Calls the peer may have in flight at once.
    pub max_outbound: u32,
    /// The peer's keepalive interval.
    pub keepalive: Duration,
    /// Hash of the schema the peer serves (0: none): the hash of its manifest if it
    /// serves one.
    pub schema: u32,
    /// The peer answers manifest requests
    /// ([`Endpoint::request_manifest`](crate::Endpoint::request_manifest); feature
    /// [`Hello::FEATURE_MANIFEST`](crate::Hello::FEATURE_MANIFEST)).
    pub manifest: bool,
    /// The deadline of the peer's requests that carry no timeout, if the peer states it
    /// (feature [`Hello::FEATURE_CALL_TIMEOUT`](crate::Hello::FEATURE_CALL_TIMEOUT)).
    pub call_timeout: Option<Duration>,
    /// Items the peer accepts on each stream before it grants more, if it speaks streams
    /// (feature [`Hello::FEATURE_STREAMS`](crate::Hello::FEATURE_STREAMS)).
    pub stream_window: Option<u32>,
    /// The slots of the peer's export table, if it speaks remote handles (feature
    /// [`Hello::FEATURE_HANDLES`](crate::Hello::FEATURE_HANDLES)); `Some(0)`: it holds
    /// handles but exports none.
    pub handles: Option<u32>,
}

/// Why a call this endpoint made ended without a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CallFailure {
    /// The peer answered with this error.
    Remote(WireError),
    /// No reply came before the deadline; a cancel was sent to the peer.
    DeadlineExceeded,
    /// The link was closed, declared dead, or the peer restarted.
    ConnectionLost,
    /// The server sent stream items beyond the credit this side granted; the peer was
    /// sent a `Cancel` carrying `FlowControl`.
    FlowControl,
    /// A stream item from the server was lost on the link (it arrived out of sequence, or
    /// the items' end did not match their count); the peer was sent a `Cancel` carrying
    /// `ItemLost`. Every item delivered before was in order.
    ItemLost,
    /// Nothing moved on the stream for `stream_idle_timeout`; a cancel was sent.
    Idle,
}

/// Why a call the peer made ended without this endpoint responding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RequestEnd {
    /// The caller cancelled it.
    Cancelled,
    /// It ran past its deadline; the caller was sent `DeadlineExceeded`.
    DeadlineExceeded,
    /// The link was lost; nobody is waiting for the answer any more.
    ConnectionLost,
    /// The caller sent stream items beyond the credit this side granted; it was sent
    /// `FlowControl`.
    FlowControl,
    /// A stream item from the caller was lost on the link; it was sent `ItemLost`.
    ItemLost,
    /// Nothing moved on the stream for `stream_idle_timeout`; the caller was sent
    /// `DeadlineExceeded`.
    Idle,
}

/// Why an established link ended, or why a peer refused to start one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Disconnect {
    /// No valid frame for three keepalive intervals.
    Idle,
    /// The peer sent a new initial `Hello`: it restarted and forgot its calls.
    PeerRestarted,
    /// The peer closed the link with this code. Also reported while handshaking: a server
    /// at its connection limit refuses with `Busy`, one shutting down with `ShuttingDown`.
    PeerClosed(WireError),
    /// The peer broke the protocol more often than the budget allows; this side reset.
    ProtocolViolation,
    /// The local application called `close`.
    LocalClose,
    /// The handshake found the two sides incompatible (version or schema).
    Incompatible(WireError),
}

/// Something that happened, for the application to act on.
///
/// Payload slices borrow the endpoint's receive buffer; they stay valid until the next call
/// that takes `&mut` on the endpoint, and the endpoint takes no more input until the event
/// that carries them has been polled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Event<'a> {
    /// The handshake completed; calls may be made.
    Connected(PeerInfo),
    /// The link ended; every pending call has ended or will be reported as ended.
    Disconnected(Disconnect),
    /// The peer calls `procedure`; answer with `respond` or `respond_error`.
    Request {
        /// Pass this to `respond`.
        id: RequestId,
        /// The procedure number.
        procedure: u32,
        /// Encoded arguments.
        args: &'a [u8],
        /// Which way items flow: `Call` for a plain request, or the stream the caller
        /// opened (give it to the `dispatch_request` that [`service!`](crate::service)
        /// generates, which checks it against the declaration).
        mode: crate::stream::StreamMode,
        /// The handle this request's answer gets if it exports an object with
        /// [`Endpoint::respond_export_at`](crate::Endpoint::respond_export_at): the lowest
        /// free slot of the export table at its next generation, announced so that a device
        /// makes its object there first. `None` if the table is full or handles are off.
        export: Option<crate::handle::Handle>,
    },
    /// The peer calls `method` on an object this side exported; answer with `respond`,
    /// `respond_error` or `respond_export_at`, as a request.
    Invoke {
        /// Pass this to `respond`.
        id: RequestId,
        /// The object, or the request whose result it will be (pipelining).
        on: crate::handle::Resolved,
        /// The method number, within the object's interface.
        method: u32,
        /// Encoded arguments.
        args: &'a [u8],
        /// As for [`Event::Request`]: the handle an exported result would get.
        export: Option<crate::handle::Handle>,
    },
    /// An object this side exported is gone: the peer released it, cancelled the call that
    /// returned it, or the session ended. Drop your object; the slot is reused only after
    /// this event.
    Released {
        /// The handle it had (its slot indexes your objects).
        handle: crate::handle::Handle,
        /// The interface it was exported as.
        interface: u8,
    },
    /// The peer withdrew a handle this side holds: calls on it now fail with
    /// `StaleHandle`.
    Revoked {
        /// The handle.
        handle: crate::handle::Handle,
        /// Why, as the peer said.
        code: WireError,
        /// The peer's UTF-8 reason text (may be empty).
        reason: &'a [u8],
    },
    /// A call this endpoint made succeeded.
    Reply {
        /// The call.
        id: CallId,
        /// Encoded result.
        payload: &'a [u8],
    },
    /// A call this endpoint made ended without a result.
    CallFailed {
        /// The call.
        id: CallId,
        /// Why.
        reason: CallFailure,
        /// The peer's UTF-8 detail text, when `reason` is `Remote` (else empty).
        detail: &'a [u8],
    },
    /// A call the peer made ended before it was answered; do not respond to it.
    RequestEnded {
        /// The call.
        id: RequestId,
        /// Why.
        reason: RequestEnd,
    },
    /// An item arrived on a stream: from the server on a call this side made, or from the
    /// caller on a request it serves. Tell the endpoint when it has been consumed
    /// ([`Endpoint::consume`](crate::Endpoint::consume)), so that the peer gets credit for more.
    Item {
        /// The stream.
        stream: crate::stream::StreamId,
        /// The encoded item.
        item: &'a [u8],
    },
    /// The peer granted credit on a stream whose credit was used up: items may be sent
    /// again ([`Endpoint::credit`](crate::Endpoint::credit) says how many).
    Credit {
        /// The stream.
        stream: crate::stream::StreamId,
    },
    /// A piece of the peer's manifest arrived, in answer to
    /// [`Endpoint::request_manifest`](crate::Endpoint::request_manifest): `bytes` are the
    /// manifest's bytes from `offset` on, of `total` in all (a peer with no manifest
    /// answers `total` 0).
    ManifestPiece {
        /// The manifest's whole length.
        total: u32,
        /// Where `bytes` start in it.
        offset: u32,
        /// As many bytes as fit the frame (none if `offset` is at or past the end).
        bytes: &'a [u8],
    },
    /// The caller ended its items on a request this side serves (a client or bidirectional
    /// stream); the request itself still waits for the answer.
    ItemsEnded {
        /// The request.
        id: RequestId,
    },
}
