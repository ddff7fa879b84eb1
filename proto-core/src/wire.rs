//! The frame layer above COBS/CRC: header byte, frame kinds, wire errors, the `Hello`.
//!
//! Every decoded frame starts with one header byte:
//!
//! ```text
//!  bit 7   bit 6    bit 5   bits 4..0
//! +-------+--------+-------+----------+
//! |  MU   |  rsvd  | FLAG  |   kind   |
//! +-------+--------+-------+----------+
//! ```
//!
//! * `kind` (0..=31) says how to read the rest; see [`Kind`].
//! * `FLAG` is kind-specific (Hello: "this is a reply"; Request: "a timeout follows";
//!   Ping: "this is a pong").
//! * `rsvd` is sent as 0 and ignored on receipt.
//! * `MU`, "must understand": a receiver that does not know `kind` ignores the frame when MU
//!   is clear and treats it as a protocol violation when MU is set. Kinds of protocol
//!   version 1 are known to every receiver and are sent with MU clear.
//!
//! The bodies (all integers marked varint are LEB128 `u32`):
//!
//! | kind | value | body |
//! |---|---|---|
//! | Hello | 1 | version u8, min_version u8, features varint, max_frame varint, max_inbound varint, max_outbound varint, keepalive_ms varint, schema u32 LE, \[call_timeout_ms varint if features bit 0\], \[stream_window varint if bit 1\], \[max_handles varint if bit 3\]; later versions may append fields |
//! | Request | 2 | call id varint, procedure varint, \[timeout_ms varint if FLAG\], arguments |
//! | Reply | 3 | call id varint, result |
//! | Error | 4 | call id varint, code u8 ([`WireError`]), detail (UTF-8, may be empty) |
//! | Cancel | 5 | call id varint, \[code u8: why\] |
//! | Ping | 6 | empty (FLAG set: pong) |
//! | Close | 7 | code u8 ([`WireError`]), reason (UTF-8, may be empty) |
//! | Open | 8 | call id varint, procedure varint, mode u8, depth varint, \[timeout_ms varint if FLAG\], arguments |
//! | Item | 9 | call id varint, sequence u8, item (FLAG: on a call the receiver made) |
//! | Credit | 10 | call id varint, items varint (FLAG: on a call the receiver made) |
//! | End | 11 | call id varint, sequence u8 of the next item (FLAG: on a call the receiver made) |
//! | Items | 12 | call id varint, sequence u8 of the first item, then each item as a length varint and its bytes (FLAG as for Item) |
//! | Handle | 13 | Release (from the holder): slot varint, generation varint; FLAG set, Revoke (from the exporter): slot varint, generation varint, code u8, reason |
//! | Manifest | 14 | request: offset varint; FLAG set, a piece: total length varint, offset varint, the manifest's bytes from offset |
//! | Invoke | 16 | call id varint, method varint, slot varint, generation varint (0: the handle that call `slot` returns), \[timeout_ms varint if FLAG\], arguments |
//!
//! Kinds 8..=12 (streams and nested calls) are sent only to a peer whose `Hello` set
//! [`Hello::FEATURE_STREAMS`]; a Manifest request only to one that set
//! [`Hello::FEATURE_MANIFEST`]; kinds 13 and 16 only to one that set
//! [`Hello::FEATURE_HANDLES`]. Kind 15 is reserved for authentication; 17..=31 for later
//! extensions.
//!
//! A handle, in a Release, a Revoke, an Invoke and in a result, is two varints: the slot of
//! the exporter's table and the slot's generation, which is never 0 and never reused for
//! another object (docs/PROTOCOL.md section 13).

use crate::varint;

/// Protocol version this crate speaks (highest and lowest).
pub const PROTOCOL_VERSION: u8 = 1;
/// Oldest protocol version this crate accepts.
pub const MIN_PROTOCOL_VERSION: u8 = 1;

/// Smallest `max_frame` a `Hello` may state: every endpoint must accept frames this large
/// (the largest control frame, a `Hello`, is 41 bytes with its CRC).
pub const MIN_MAX_FRAME: usize = 48;

pub(crate) const MUST_UNDERSTAND: u8 = 0x80;
pub(crate) const FLAG: u8 = 0x20;
pub(crate) const KIND_MASK: u8 = 0x1f;

/// Frame kinds of protocol version 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    Hello = 1,
    Request = 2,
    Reply = 3,
    Error = 4,
    Cancel = 5,
    Ping = 6,
    Close = 7,
    Open = 8,
    Item = 9,
    Credit = 10,
    End = 11,
    Items = 12,
    Handle = 13,
    Manifest = 14,
    Invoke = 16,
}

impl Kind {
    pub(crate) fn header(self, flag: bool) -> u8 {
        self as u8 | if flag { FLAG } else { 0 }
    }
}

/// Errors a peer sees on the wire, with stable numbers.
///
/// Received numbers this version does not know decode as [`WireError::Unknown`], so a newer
/// peer's new error still ends the call instead of breaking the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
#[non_exhaustive]
pub enum WireError {
    /// A number this version does not know (0 is never sent).
    Unknown = 0,
    /// The server already runs as many calls as it allows; try again later.
    Busy = 1,
    /// No procedure has that number.
    UnknownProcedure = 2,
    /// The arguments did not decode as the procedure's argument type.
    BadArguments = 3,
    /// The request or the reply would not fit the frame limit.
    TooLarge = 4,
    /// The call ran past its deadline.
    DeadlineExceeded = 5,
    /// The caller cancelled the call.
    Cancelled = 6,
    /// The two sides share no protocol version.
    IncompatibleVersion = 7,
    /// The served schema is not the one the caller expects.
    IncompatibleSchema = 8,
    /// The peer broke the protocol too often.
    ProtocolViolation = 9,
    /// A request arrived before the handshake finished.
    NoSession = 10,
    /// The handler failed.
    Internal = 11,
    /// The sender is shutting down.
    ShuttingDown = 12,
    /// Orderly close.
    Closed = 13,
    /// The peer sent stream items beyond the credit it was granted.
    FlowControl = 14,
    /// The call was made from within too many nested calls (callbacks calling back).
    TooDeep = 15,
    /// A stream item was lost on the link: an item or the end arrived out of sequence.
    ItemLost = 16,
    /// The handle a method was called on names no live object: it was released or
    /// revoked, belongs to an ended session, or the call it was promised by returned none.
    StaleHandle = 17,
    /// The exporter's handle table is full: release a handle and try again.
    TooManyHandles = 18,
    /// The exporter withdrew the handle (a revoke's usual reason).
    Revoked = 19,
}

impl WireError {
    /// The error for a received number; unknown numbers become [`WireError::Unknown`].
    pub const fn from_u8(code: u8) -> WireError {
        match code {
            1 => WireError::Busy,
            2 => WireError::UnknownProcedure,
            3 => WireError::BadArguments,
            4 => WireError::TooLarge,
            5 => WireError::DeadlineExceeded,
            6 => WireError::Cancelled,
            7 => WireError::IncompatibleVersion,
            8 => WireError::IncompatibleSchema,
            9 => WireError::ProtocolViolation,
            10 => WireError::NoSession,
            11 => WireError::Internal,
            12 => WireError::ShuttingDown,
            13 => WireError::Closed,
            14 => WireError::FlowControl,
            15 => WireError::TooDeep,
            16 => WireError::ItemLost,
            17 => WireError::StaleHandle,
            18 => WireError::TooManyHandles,
            19 => WireError::Revoked,
            _ => WireError::Unknown,
        }
    }

    /// A stable lower-case name, for logs and command-line output.
    pub const fn name(self) -> &'static str {
        match self {
            WireError::Unknown => "unknown",
            WireError::Busy => "busy",
            WireError::UnknownProcedure => "unknown procedure",
            WireError::BadArguments => "bad arguments",
            WireError::TooLarge => "too large",
            WireError::DeadlineExceeded => "deadline exceeded",
            WireError::Cancelled => "cancelled",
            WireError::IncompatibleVersion => "incompatible version",
            WireError::IncompatibleSchema => "incompatible schema",
            WireError::ProtocolViolation => "protocol violation",
            WireError::NoSession => "no session",
            WireError::Internal => "internal error",
            WireError::ShuttingDown => "shutting down",
            WireError::Closed => "closed",
            WireError::FlowControl => "flow control violated",
            WireError::TooDeep => "calls nested too deep",
            WireError::ItemLost => "a stream item was lost",
            WireError::StaleHandle => "stale handle",
            WireError::TooManyHandles => "too many handles",
            WireError::Revoked => "revoked",
        }
    }
}

impl core::error::Error for WireError {}

impl core::fmt::Display for WireError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a `Hello` states about its sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Hello {
    /// Highest protocol version the sender speaks.
    pub version: u8,
    /// Lowest protocol version the sender accepts.
    pub min_version: u8,
    /// Optional features the sender supports (none are defined in version 1; send 0).
    pub features: u32,
    /// Largest decoded frame (header, body and CRC) the sender accepts.
    pub max_frame: u32,
    /// Calls the sender will serve at once; more get `Busy`.
    pub max_inbound: u32,
    /// Calls the sender may have in flight at once.
    pub max_outbound: u32,
    /// The sender's keepalive interval in milliseconds.
    pub keepalive_ms: u32,
    /// Hash of the service schema the sender serves (0: none).
    pub schema: u32,
    /// With [`Hello::FEATURE_CALL_TIMEOUT`]: the deadline, in milliseconds, of the sender's
    /// requests that carry no timeout.
    pub call_timeout_ms: u32,
    /// With [`Hello::FEATURE_STREAMS`]: the items the sender accepts on each stream before
    /// it grants more (the initial credit of the peer's sending side), at least 1.
    pub stream_window: u32,
    /// With [`Hello::FEATURE_HANDLES`]: the slots of the sender's export table (how many
    /// handles it can have out at once; 0: it exports none).
    pub max_handles: u32,
}

/// Largest encoded `Hello` body.
pub(crate) const HELLO_MAX: usize = 2 + 8 * varint::MAX_LEN + 4;

impl Hello {
    /// Feature bit 0, "call timeout": the `Hello` carries `call_timeout_ms`, a request from
    /// its sender without a timeout has that deadline, and the sender applies the peer's
    /// advertised `call_timeout_ms` to the peer's requests without a timeout. When both sides
    /// set it, a caller need not send a timeout equal to its advertised default.
    pub const FEATURE_CALL_TIMEOUT: u32 = 1;

    /// Feature bit 1, "streams": the `Hello` carries `stream_window`, and its sender
    /// understands the kinds Open, Item, Credit, End and Items (streaming procedures with credit
    /// flow control, and calls nested in calls). Neither side sends them to a peer without
    /// it.
    pub const FEATURE_STREAMS: u32 = 2;

    /// Feature bit 2, "manifest": the sender describes what it serves. It answers a
    /// Manifest request with a piece of its manifest (docs/PROTOCOL.md, "Schema
    /// discovery"), and its `schema` is the manifest's hash. Nobody sends a Manifest
    /// request to a peer without it.
    pub const FEATURE_MANIFEST: u32 = 4;

    /// Feature bit 3, "handles": the `Hello` carries `max_handles`, and its sender
    /// understands the kinds Handle (release and revoke) and Invoke (a method call on a
    /// handle). Neither side sends them to a peer without it.
    pub const FEATURE_HANDLES: u32 = 8;

    /// Writes the body (header excluded) into `out`, returning its length.
    pub(crate) fn encode(&self, out: &mut [u8; HELLO_MAX]) -> usize {
        let mut w = Writer { out, len: 0 };
        w.byte(self.version);
        w.byte(self.min_version);
        for v in [
            self.features,
            self.max_frame,
            self.max_inbound,
            self.max_outbound,
            self.keepalive_ms,
        ] {
            w.varint(v);
        }
        for b in self.schema.to_le_bytes() {
            w.byte(b);
        }
        if self.features & Hello::FEATURE_CALL_TIMEOUT != 0 {
            w.varint(self.call_timeout_ms);
        }
        if self.features & Hello::FEATURE_STREAMS != 0 {
            w.varint(self.stream_window);
        }
        if self.features & Hello::FEATURE_HANDLES != 0 {
            w.varint(self.max_handles);
        }
        w.len
    }

    /// Reads a body; trailing bytes (fields of later versions) are ignored. A `Hello` that
    /// sets a feature bit must carry that feature's field.
    pub(crate) fn parse(body: &[u8]) -> Option<Hello> {
        let mut r = Reader(body);
        let version = r.byte()?;
        let min_version = r.byte()?;
        let features = r.varint()?;
        let max_frame = r.varint()?;
        let max_inbound = r.varint()?;
        let max_outbound = r.varint()?;
        let keepalive_ms = r.varint()?;
        let schema = u32::from_le_bytes([r.byte()?, r.byte()?, r.byte()?, r.byte()?]);
        let call_timeout_ms = if features & Hello::FEATURE_CALL_TIMEOUT != 0 {
            r.varint()?
        } else {
            0
        };
        let stream_window = if features & Hello::FEATURE_STREAMS != 0 {
            match r.varint()? {
                0 => return None, // a stream nobody may send on
                w => w,
            }
        } else {
            0
        };
        let max_handles = if features & Hello::FEATURE_HANDLES != 0 {
            r.varint()?
        } else {
            0
        };
        Some(Hello {
            version,
            min_version,
            features,
            max_frame,
            max_inbound,
            max_outbound,
            keepalive_ms,
            schema,
            call_timeout_ms,
            stream_window,
            max_handles,
        })
    }
}

struct Writer<'a, const N: usize> {
    out: &'a mut [u8; N],
    len: usize,
}

impl<const N: usize> Writer<'_, N> {
    fn byte(&mut self, b: u8) {
        if let Some(slot) = self.out.get_mut(self.len) {
            *slot = b;
            self.len = self.len.saturating_add(1);
        }
    }
    fn varint(&mut self, v: u32) {
        let rest = self.out.get_mut(self.len..).unwrap_or(&mut []);
        self.len = self
            .len
            .saturating_add(varint::encode(v, rest).unwrap_or(0));
    }
}

/// A cursor over a frame body; every read is checked.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    pub(crate) fn varint(&mut self) -> Option<u32> {
        let (v, n) = varint::decode(self.0)?;
        self.0 = self.0.get(n..)?;
        Some(v)
    }
    /// The `timeout_ms` varint of a Request, Open or Invoke whose FLAG is `flag`: `Some(None)`
    /// without the flag, `None` if the flag promises a timeout that is missing or malformed.
    pub(crate) fn timeout(&mut self, flag: bool) -> Option<Option<u32>> {
        if flag {
            self.varint().map(Some)
        } else {
            Some(None)
        }
    }

    pub(crate) fn rest(self) -> &'a [u8] {
        self.0
    }
}

/// A decoded frame body, parsed. `T` is the type of the variable-length tail (arguments,
/// result, detail text): a slice of the receive buffer when parsed, or its offset in the
/// frame once the endpoint needs the buffer mutably.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Frame<T> {
    /// Its body is parsed by [`Hello::parse`] where it is used, which keeps this enum (made
    /// for every frame) small.
    Hello {
        reply: bool,
        body: T,
    },
    Request {
        id: u32,
        procedure: u32,
        timeout_ms: Option<u32>,
        args: T,
    },
    Reply {
        id: u32,
        payload: T,
    },
    Error {
        id: u32,
        code: WireError,
        detail: T,
    },
    /// `code`: why, if the caller said (a Cancel for a stream whose server overran its
    /// credit carries `FlowControl`); version 1 receivers ignore it.
    Cancel {
        id: u32,
        code: Option<WireError>,
    },
    Ping {
        pong: bool,
    },
    Close {
        code: WireError,
    },
    Open {
        id: u32,
        procedure: u32,
        mode: crate::stream::StreamMode,
        depth: u32,
        timeout_ms: Option<u32>,
        args: T,
    },
    /// `mine`: the item belongs to a call the receiver made (it travels from the server);
    /// otherwise to a call the sender made (from the caller).
    /// `seq`: the item's number on its stream, modulo 256 (0 for the first). `packed`:
    /// an Items frame, whose `item` is one or more items, each a length varint and its
    /// bytes, numbered from `seq` on.
    Item {
        id: u32,
        mine: bool,
        seq: u8,
        packed: bool,
        item: T,
    },
    Credit {
        id: u32,
        mine: bool,
        items: u32,
    },
    /// The sender's items on the stream are over; `seq` is the number the next would have
    /// had (the count of items sent, modulo 256). `mine` as for [`Frame::Item`].
    End {
        id: u32,
        mine: bool,
        seq: u8,
    },
    /// A request for the sender's manifest from byte `offset` on.
    ManifestRequest {
        offset: u32,
    },
    /// A piece of the sender's manifest: `bytes` start at `offset` of `total`.
    ManifestPiece {
        total: u32,
        offset: u32,
        bytes: T,
    },
    /// A method call on a handle: `slot` and `generation` name it (generation 0: the
    /// handle that the sender's call `slot` returns).
    Invoke {
        id: u32,
        method: u32,
        slot: u32,
        generation: u32,
        timeout_ms: Option<u32>,
        args: T,
    },
    /// The holder gives a handle back.
    Release {
        slot: u32,
        generation: u32,
    },
    /// The exporter withdrew a handle, for `code`; `reason` is UTF-8 text.
    Revoke {
        slot: u32,
        generation: u32,
        code: WireError,
        reason: T,
    },
    /// An unknown kind without the must-understand bit: ignore it.
    Ignorable,
}

impl<T> Frame<T> {
    /// The same frame with its tail mapped through `f`.
    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> Frame<U> {
        match self {
            Frame::Hello { reply, body } => Frame::Hello {
                reply,
                body: f(body),
            },
            Frame::Request {
                id,
                procedure,
                timeout_ms,
                args,
            } => Frame::Request {
                id,
                procedure,
                timeout_ms,
                args: f(args),
            },
            Frame::Reply { id, payload } => Frame::Reply {
                id,
                payload: f(payload),
            },
            Frame::Error { id, code, detail } => Frame::Error {
                id,
                code,
                detail: f(detail),
            },
            Frame::Cancel { id, code } => Frame::Cancel { id, code },
            Frame::Ping { pong } => Frame::Ping { pong },
            Frame::Close { code } => Frame::Close { code },
            Frame::Open {
                id,
                procedure,
                mode,
                depth,
                timeout_ms,
                args,
            } => Frame::Open {
                id,
                procedure,
                mode,
                depth,
                timeout_ms,
                args: f(args),
            },
            Frame::Item {
                id,
                mine,
                seq,
                packed,
                item,
            } => Frame::Item {
                id,
                mine,
                seq,
                packed,
                item: f(item),
            },
            Frame::Credit { id, mine, items } => Frame::Credit { id, mine, items },
            Frame::End { id, mine, seq } => Frame::End { id, mine, seq },
            Frame::ManifestRequest { offset } => Frame::ManifestRequest { offset },
            Frame::ManifestPiece {
                total,
                offset,
                bytes,
            } => Frame::ManifestPiece {
                total,
                offset,
                bytes: f(bytes),
            },
            Frame::Invoke {
                id,
                method,
                slot,
                generation,
                timeout_ms,
                args,
            } => Frame::Invoke {
                id,
                method,
                slot,
                generation,
                timeout_ms,
                args: f(args),
            },
            Frame::Release { slot, generation } => Frame::Release { slot, generation },
            Frame::Revoke {
                slot,
                generation,
                code,
                reason,
            } => Frame::Revoke {
                slot,
                generation,
                code,
                reason: f(reason),
            },
            Frame::Ignorable => Frame::Ignorable,
        }
    }
}

/// Why a frame with a valid CRC could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// A field was missing or malformed.
    Malformed,
    /// An unknown kind with the must-understand bit set.
    MustUnderstand,
}

impl<'a> Frame<&'a [u8]> {
    /// Parses a frame body (CRC already checked and removed).
    pub(crate) fn parse(frame: &'a [u8]) -> Result<Self, ParseError> {
        let (&header, body) = frame.split_first().ok_or(ParseError::Malformed)?;
        let flag = header & FLAG != 0;
        let mut r = Reader(body);
        let m = ParseError::Malformed;
        Ok(match header & KIND_MASK {
            1 => Frame::Hello { reply: flag, body },
            2 => {
                let id = r.varint().ok_or(m)?;
                let procedure = r.varint().ok_or(m)?;
                let timeout_ms = r.timeout(flag).ok_or(m)?;
                Frame::Request {
                    id,
                    procedure,
                    timeout_ms,
                    args: r.rest(),
                }
            }
            3 => Frame::Reply {
                id: r.varint().ok_or(m)?,
                payload: r.rest(),
            },
            4 => {
                let id = r.varint().ok_or(m)?;
                let code = WireError::from_u8(r.byte().ok_or(m)?);
                Frame::Error {
                    id,
                    code,
                    detail: r.rest(),
                }
            }
            5 => Frame::Cancel {
                id: r.varint().ok_or(m)?,
                code: r.byte().map(WireError::from_u8),
            },
            6 => Frame::Ping { pong: flag },
            7 => Frame::Close {
                code: WireError::from_u8(r.byte().ok_or(m)?),
            },
            8 => {
                let id = r.varint().ok_or(m)?;
                let procedure = r.varint().ok_or(m)?;
                let mode = crate::stream::StreamMode::from_wire(r.byte().ok_or(m)?).ok_or(m)?;
                let depth = r.varint().ok_or(m)?;
                let timeout_ms = r.timeout(flag).ok_or(m)?;
                Frame::Open {
                    id,
                    procedure,
                    mode,
                    depth,
                    timeout_ms,
                    args: r.rest(),
                }
            }
            9 | 12 => Frame::Item {
                id: r.varint().ok_or(m)?,
                mine: flag,
                seq: r.byte().ok_or(m)?,
                packed: header & KIND_MASK == Kind::Items as u8,
                item: r.rest(),
            },
            10 => {
                let id = r.varint().ok_or(m)?;
                let items = r.varint().ok_or(m)?;
                Frame::Credit {
                    id,
                    mine: flag,
                    items,
                }
            }
            11 => Frame::End {
                id: r.varint().ok_or(m)?,
                mine: flag,
                seq: r.byte().ok_or(m)?,
            },
            14 if flag => {
                let total = r.varint().ok_or(m)?;
                let offset = r.varint().ok_or(m)?;
                Frame::ManifestPiece {
                    total,
                    offset,
                    bytes: r.rest(),
                }
            }
            14 => Frame::ManifestRequest {
                offset: r.varint().ok_or(m)?,
            },
            13 => {
                let slot = r.varint().ok_or(m)?;
                let generation = r.varint().ok_or(m)?;
                if flag {
                    Frame::Revoke {
                        slot,
                        generation,
                        code: WireError::from_u8(r.byte().ok_or(m)?),
                        reason: r.rest(),
                    }
                } else {
                    Frame::Release { slot, generation }
                }
            }
            16 => {
                let id = r.varint().ok_or(m)?;
                let method = r.varint().ok_or(m)?;
                let slot = r.varint().ok_or(m)?;
                let generation = r.varint().ok_or(m)?;
                let timeout_ms = r.timeout(flag).ok_or(m)?;
                Frame::Invoke {
                    id,
                    method,
                    slot,
                    generation,
                    timeout_ms,
                    args: r.rest(),
                }
            }
            _ if header & MUST_UNDERSTAND != 0 => return Err(ParseError::MustUnderstand),
            _ => Frame::Ignorable,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_error_numbers_are_stable() {
        for n in 0..=255u8 {
            let e = WireError::from_u8(n);
            if e != WireError::Unknown {
                assert_eq!(e as u8, n);
            }
        }
        assert_eq!(WireError::from_u8(200), WireError::Unknown);
        assert_eq!(WireError::Busy as u8, 1);
        assert_eq!(WireError::Closed as u8, 13);
        assert_eq!(WireError::TooDeep as u8, 15);
        assert_eq!(WireError::ItemLost as u8, 16);
        assert_eq!(WireError::StaleHandle as u8, 17);
        assert_eq!(WireError::Revoked as u8, 19);
    }

    #[test]
    fn handle_kinds() {
        assert_eq!(
            Frame::parse(&[0x30, 4, 1, 2, 9, 0xe8, 0x07, 5]).unwrap(),
            Frame::Invoke {
                id: 4,
                method: 1,
                slot: 2,
                generation: 9,
                timeout_ms: Some(1000),
                args: &[5][..],
            }
        );
        assert_eq!(
            Frame::parse(&[0x0d, 2, 9, 0xff]).unwrap(),
            Frame::<&[u8]>::Release {
                slot: 2,
                generation: 9
            }
        );
        assert_eq!(
            Frame::parse(&[0x2d, 2, 9, 19, b'x']).unwrap(),
            Frame::Revoke {
                slot: 2,
                generation: 9,
                code: WireError::Revoked,
                reason: &b"x"[..]
            }
        );
        assert_eq!(Frame::parse(&[0x2d, 2, 9]), Err(ParseError::Malformed));
        assert_eq!(Frame::parse(&[0x10, 4, 1, 2]), Err(ParseError::Malformed));
        // The handles field follows the stream window.
        let h = Hello {
            version: 1,
            min_version: 1,
            features: Hello::FEATURE_STREAMS | Hello::FEATURE_HANDLES,
            max_frame: 256,
            max_inbound: 4,
            max_outbound: 4,
            keepalive_ms: 1000,
            schema: 0,
            call_timeout_ms: 0,
            stream_window: 8,
            max_handles: 4,
        };
        let mut buf = [0u8; HELLO_MAX];
        let n = h.encode(&mut buf);
        assert_eq!(&buf[n - 2..n], &[8, 4]);
        assert_eq!(Hello::parse(&buf[..n]), Some(h));
        assert_eq!(Hello::parse(&buf[..n - 1]), None);
    }

    #[test]
    fn hello_round_trip_and_extension() {
        let h = Hello {
            version: 1,
            min_version: 1,
            features: 0,
            max_frame: 4096,
            max_inbound: 300,
            max_outbound: 4,
            keepalive_ms: 1000,
            schema: 0xdead_beef,
            call_timeout_ms: 0,
            stream_window: 0,
            max_handles: 0,
        };
        let mut buf = [0u8; HELLO_MAX];
        let n = h.encode(&mut buf);
        assert_eq!(Hello::parse(&buf[..n]), Some(h));
        let mut longer = [0u8; HELLO_MAX + 3];
        longer[..n].copy_from_slice(&buf[..n]);
        assert_eq!(Hello::parse(&longer[..n + 3]), Some(h));
        assert_eq!(Hello::parse(&buf[..n - 1]), None);
        // With the call-timeout feature the field follows the schema, and must be there.
        let t = Hello {
            features: Hello::FEATURE_CALL_TIMEOUT,
            call_timeout_ms: 5000,
            ..h
        };
        let n = t.encode(&mut buf);
        assert_eq!(&buf[n - 2..n], &[0x88, 0x27]);
        assert_eq!(Hello::parse(&buf[..n]), Some(t));
        assert_eq!(Hello::parse(&buf[..n - 2]), None);
        // With streams too, the window follows the call timeout; a window of 0 is malformed.
        let s = Hello {
            features: Hello::FEATURE_CALL_TIMEOUT | Hello::FEATURE_STREAMS,
            stream_window: 300,
            ..t
        };
        let n = s.encode(&mut buf);
        assert_eq!(&buf[n - 4..n], &[0x88, 0x27, 0xac, 0x02]);
        assert_eq!(Hello::parse(&buf[..n]), Some(s));
        assert_eq!(Hello::parse(&buf[..n - 2]), None);
        buf[n - 2] = 0;
        assert_eq!(Hello::parse(&buf[..n - 1]), None);
    }

    #[test]
    fn stream_kinds() {
        use crate::stream::StreamMode;
        let open = Frame::parse(&[0x28, 5, 7, 2, 2, 0xe8, 0x07, 9]).unwrap();
        assert_eq!(
            open,
            Frame::Open {
                id: 5,
                procedure: 7,
                mode: StreamMode::ServerStream,
                depth: 2,
                timeout_ms: Some(1000),
                args: &[9][..],
            }
        );
        assert_eq!(
            Frame::parse(&[0x08, 5, 7, 4, 0]),
            Err(ParseError::Malformed)
        ); // mode 4
        assert_eq!(
            Frame::parse(&[0x29, 5, 1, 2]).unwrap(),
            Frame::Item {
                id: 5,
                mine: true,
                seq: 1,
                packed: false,
                item: &[2][..]
            }
        );
        assert_eq!(
            Frame::parse(&[0x0a, 5, 8]).unwrap(),
            Frame::<&[u8]>::Credit {
                id: 5,
                mine: false,
                items: 8
            }
        );
        assert_eq!(
            Frame::parse(&[0x0b, 5, 9]).unwrap(),
            Frame::<&[u8]>::End {
                id: 5,
                mine: false,
                seq: 9
            }
        );
        assert_eq!(Frame::parse(&[0x2b, 5]), Err(ParseError::Malformed)); // no sequence
        assert_eq!(Frame::parse(&[0x29, 5]), Err(ParseError::Malformed));
    }

    #[test]
    fn unknown_kinds() {
        assert_eq!(Frame::parse(&[0x1f, 1, 2]), Ok(Frame::Ignorable));
        assert_eq!(Frame::parse(&[0x9f]), Err(ParseError::MustUnderstand));
        assert_eq!(Frame::parse(&[0x02, 0x80]), Err(ParseError::Malformed));
        assert_eq!(Frame::parse(&[]), Err(ParseError::Malformed));
    }
}
