"""The frame layer (docs/PROTOCOL.md, section 3): one class per frame kind, and the parser.

A *frame* here is the decoded frame without its CRC: a header byte and the fields. Each
class's :meth:`encode` gives those bytes (:func:`wirecall.framing.encode_frame` puts them on
the wire); :func:`parse_frame` reads them back, raising :class:`Malformed` for a frame of a
known kind whose fields are missing or malformed (a protocol violation, section 3.2).
"""

from typing import List, NamedTuple, Optional, Union

from . import varint
from .varint import VarintError

# Header bits (section 3.1).
FLAG = 0x20
MUST_UNDERSTAND = 0x80
KIND_MASK = 0x1F

# Kinds (section 3.2).
HELLO, REQUEST, REPLY, ERROR, CANCEL, PING, CLOSE, OPEN = 1, 2, 3, 4, 5, 6, 7, 8
ITEM, CREDIT, END, ITEMS, HANDLE, MANIFEST, INVOKE = 9, 10, 11, 12, 13, 14, 16

# Hello feature bits.
FEATURE_CALL_TIMEOUT = 0x01
FEATURE_STREAMS = 0x02
FEATURE_MANIFEST = 0x04
#: Handles (kinds 13 and 16): the Hello carries ``max_handles`` after ``stream_window``.
FEATURE_HANDLES = 0x08

#: Every implementation accepts decoded frames of at least this many bytes (section 5.2).
MIN_MAX_FRAME = 48
PROTOCOL_VERSION = 1

# Stream modes of an Open (section 6.6): bit 0 the caller sends items, bit 1 the server does.
MODE_CALL, MODE_CLIENT_STREAM, MODE_SERVER_STREAM, MODE_BIDI = 0, 1, 2, 3


class Malformed(ValueError):
    """A frame of a known kind that cannot be read: a protocol violation."""


def _v(value: int) -> bytes:
    return varint.encode(value)


class Hello(NamedTuple):
    """The handshake (section 5.2): the sender's version, limits and schema."""

    reply: bool
    version: int
    min_version: int
    features: int
    max_frame: int
    max_inbound: int
    max_outbound: int
    keepalive_ms: int
    schema: int
    call_timeout_ms: int = 0
    stream_window: int = 0
    #: With :data:`FEATURE_HANDLES`: the slots of the sender's export table (0: it exports
    #: none, but holds handles).
    max_handles: int = 0

    def encode(self) -> bytes:
        out = bytearray((HELLO | (FLAG if self.reply else 0), self.version, self.min_version))
        for value in (self.features, self.max_frame, self.max_inbound, self.max_outbound, self.keepalive_ms):
            out += _v(value)
        out += self.schema.to_bytes(4, "little")
        if self.features & FEATURE_CALL_TIMEOUT:
            out += _v(self.call_timeout_ms)
        if self.features & FEATURE_STREAMS:
            out += _v(self.stream_window)
        if self.features & FEATURE_HANDLES:
            out += _v(self.max_handles)
        return bytes(out)


class Request(NamedTuple):
    """A plain call: id, procedure, optional timeout, arguments."""

    id: int
    procedure: int
    timeout_ms: Optional[int]
    args: bytes

    def encode(self) -> bytes:
        if self.timeout_ms is None:
            return bytes((REQUEST,)) + _v(self.id) + _v(self.procedure) + self.args
        return bytes((REQUEST | FLAG,)) + _v(self.id) + _v(self.procedure) + _v(self.timeout_ms) + self.args


class Reply(NamedTuple):
    """A call's result."""

    id: int
    result: bytes

    def encode(self) -> bytes:
        return bytes((REPLY,)) + _v(self.id) + self.result


class ErrorFrame(NamedTuple):
    """A call's failure: a code (section 4) and a detail that is meant to be UTF-8."""

    id: int
    code: int
    detail: bytes = b""

    def encode(self) -> bytes:
        return bytes((ERROR,)) + _v(self.id) + bytes((self.code,)) + self.detail


class Cancel(NamedTuple):
    """The caller gives a call up; ``code`` optionally says why (section 6.6)."""

    id: int
    code: Optional[int] = None

    def encode(self) -> bytes:
        return bytes((CANCEL,)) + _v(self.id) + (b"" if self.code is None else bytes((self.code,)))


class Ping(NamedTuple):
    """A keepalive probe, or with ``pong`` its answer (section 7)."""

    pong: bool = False

    def encode(self) -> bytes:
        return bytes((PING | (FLAG if self.pong else 0),))


class Close(NamedTuple):
    """The end of a session, with a code (section 8); the reason is not sent."""

    code: int
    reason: bytes = b""

    def encode(self) -> bytes:
        return bytes((CLOSE, self.code)) + self.reason


class Open(NamedTuple):
    """A call that may carry stream items (section 6.6)."""

    id: int
    procedure: int
    mode: int
    depth: int
    timeout_ms: Optional[int]
    args: bytes

    def encode(self) -> bytes:
        head = bytes((OPEN | (0 if self.timeout_ms is None else FLAG),)) + _v(self.id) + _v(self.procedure)
        head += bytes((self.mode,)) + _v(self.depth)
        if self.timeout_ms is not None:
            head += _v(self.timeout_ms)
        return head + self.args


class Item(NamedTuple):
    """One stream item; ``from_server`` is the FLAG bit ("on a call the receiver made")."""

    id: int
    from_server: bool
    seq: int
    item: bytes

    def encode(self) -> bytes:
        return bytes((ITEM | (FLAG if self.from_server else 0),)) + _v(self.id) + bytes((self.seq,)) + self.item


class Items(NamedTuple):
    """Several stream items packed in one frame, numbered from ``seq`` on."""

    id: int
    from_server: bool
    seq: int
    items: List[bytes]

    def encode(self) -> bytes:
        out = bytearray((ITEMS | (FLAG if self.from_server else 0),)) + _v(self.id) + bytes((self.seq,))
        for item in self.items:
            out += _v(len(item))
            out += item
        return bytes(out)


class Credit(NamedTuple):
    """Grants the stream's sender ``items`` more items."""

    id: int
    from_server: bool
    items: int

    def encode(self) -> bytes:
        return bytes((CREDIT | (FLAG if self.from_server else 0),)) + _v(self.id) + _v(self.items)


class End(NamedTuple):
    """The sender's items are over; ``seq`` is the count of items it sent, modulo 256."""

    id: int
    from_server: bool
    seq: int

    def encode(self) -> bytes:
        return bytes((END | (FLAG if self.from_server else 0),)) + _v(self.id) + bytes((self.seq,))


class Invoke(NamedTuple):
    """A call of method ``method`` on an object the receiver exported: the handle's ``slot``
    and ``generation`` (generation 0: "the handle the sender's call with id ``slot``
    returns"), then as a Request."""

    id: int
    method: int
    slot: int
    generation: int
    timeout_ms: Optional[int]
    args: bytes

    def encode(self) -> bytes:
        head = bytes((INVOKE | (0 if self.timeout_ms is None else FLAG),)) + _v(self.id) + _v(self.method)
        head += _v(self.slot) + _v(self.generation)
        if self.timeout_ms is not None:
            head += _v(self.timeout_ms)
        return head + self.args


class Release(NamedTuple):
    """The holder gives a handle back: the exporter frees the object."""

    slot: int
    generation: int

    def encode(self) -> bytes:
        return bytes((HANDLE,)) + _v(self.slot) + _v(self.generation)


class Revoke(NamedTuple):
    """The exporter withdrew an object: later calls on its handle are stale."""

    slot: int
    generation: int
    code: int
    reason: bytes = b""

    def encode(self) -> bytes:
        return bytes((HANDLE | FLAG,)) + _v(self.slot) + _v(self.generation) + bytes((self.code,)) + self.reason


class ManifestRequest(NamedTuple):
    """Asks for the peer's manifest from byte ``offset`` on (section 10.2)."""

    offset: int

    def encode(self) -> bytes:
        return bytes((MANIFEST,)) + _v(self.offset)


class ManifestPiece(NamedTuple):
    """A piece of the sender's manifest: ``data`` starts at ``offset`` of ``total`` bytes."""

    total: int
    offset: int
    data: bytes

    def encode(self) -> bytes:
        return bytes((MANIFEST | FLAG,)) + _v(self.total) + _v(self.offset) + self.data


class Unknown(NamedTuple):
    """A frame of a kind this package does not know (0, 15, 17 to 31)."""

    kind: int
    must_understand: bool
    body: bytes

    def encode(self) -> bytes:
        return self.body


Frame = Union[Hello, Request, Reply, ErrorFrame, Cancel, Ping, Close, Open, Item, Items, Credit, End,
              ManifestRequest, ManifestPiece, Invoke, Release, Revoke, Unknown]


class _Reader:
    """A cursor over a frame's fields; every read is checked."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 1) -> None:
        self.data = data
        self.pos = pos

    def byte(self, what: str) -> int:
        if self.pos >= len(self.data):
            raise Malformed(f"no {what}")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self, what: str) -> int:
        try:
            value, self.pos = varint.decode(self.data, self.pos)
        except VarintError as e:
            raise Malformed(f"{what}: {e}") from None
        return value

    def rest(self) -> bytes:
        return self.data[self.pos:]


def parse_frame(frame: bytes) -> Frame:
    """Reads one frame (header and fields, CRC removed). Raises :class:`Malformed`."""
    if not frame:
        raise Malformed("empty frame")
    header = frame[0]
    kind, flag = header & KIND_MASK, bool(header & FLAG)
    r = _Reader(frame)
    if kind == REQUEST:
        id_ = r.varint("call id")
        procedure = r.varint("procedure")
        timeout = r.varint("timeout") if flag else None
        return Request(id_, procedure, timeout, r.rest())
    if kind == REPLY:
        return Reply(r.varint("call id"), r.rest())
    if kind == ERROR:
        id_ = r.varint("call id")
        return ErrorFrame(id_, r.byte("error code"), r.rest())
    if kind == ITEM:
        id_ = r.varint("call id")
        return Item(id_, flag, r.byte("sequence number"), r.rest())
    if kind == CREDIT:
        return Credit(r.varint("call id"), flag, r.varint("credit"))
    if kind == HELLO:
        return _parse_hello(r, flag)
    if kind == CANCEL:
        id_ = r.varint("call id")
        code = r.byte("code") if r.pos < len(frame) else None
        return Cancel(id_, code)
    if kind == PING:
        return Ping(flag)
    if kind == CLOSE:
        return Close(r.byte("close code"), r.rest())
    if kind == OPEN:
        id_ = r.varint("call id")
        procedure = r.varint("procedure")
        mode = r.byte("mode")
        if mode > MODE_BIDI:
            raise Malformed(f"unknown stream mode {mode}")
        depth = r.varint("depth")
        timeout = r.varint("timeout") if flag else None
        return Open(id_, procedure, mode, depth, timeout, r.rest())
    if kind == ITEMS:
        id_ = r.varint("call id")
        seq = r.byte("sequence number")
        items = []
        while r.pos < len(frame):
            length = r.varint("item length")
            end = r.pos + length
            if end > len(frame):
                raise Malformed("an item runs past the end of the frame")
            items.append(frame[r.pos:end])
            r.pos = end
        if not items:
            raise Malformed("Items frame without items")
        return Items(id_, flag, seq, items)
    if kind == END:
        id_ = r.varint("call id")
        return End(id_, flag, r.byte("sequence number"))
    if kind == INVOKE:
        id_ = r.varint("call id")
        method = r.varint("method")
        slot = r.varint("slot")
        generation = r.varint("generation")
        timeout = r.varint("timeout") if flag else None
        return Invoke(id_, method, slot, generation, timeout, r.rest())
    if kind == HANDLE:
        slot = r.varint("slot")
        generation = r.varint("generation")
        if not flag:
            return Release(slot, generation)  # anything after is ignored
        return Revoke(slot, generation, r.byte("revoke code"), r.rest())
    if kind == MANIFEST:
        if not flag:
            return ManifestRequest(r.varint("offset"))
        total = r.varint("total")
        return ManifestPiece(total, r.varint("offset"), r.rest())
    return Unknown(kind, bool(header & MUST_UNDERSTAND), frame)


def _parse_hello(r: _Reader, reply: bool) -> Hello:
    version = r.byte("version")
    min_version = r.byte("min_version")
    features = r.varint("features")
    max_frame = r.varint("max_frame")
    max_inbound = r.varint("max_inbound")
    max_outbound = r.varint("max_outbound")
    keepalive_ms = r.varint("keepalive_ms")
    if r.pos + 4 > len(r.data):
        raise Malformed("no schema")
    schema = int.from_bytes(r.data[r.pos:r.pos + 4], "little")
    r.pos += 4
    call_timeout_ms = r.varint("call_timeout_ms") if features & FEATURE_CALL_TIMEOUT else 0
    stream_window = r.varint("stream_window") if features & FEATURE_STREAMS else 0
    max_handles = r.varint("max_handles") if features & FEATURE_HANDLES else 0
    if features & FEATURE_STREAMS and stream_window == 0:
        raise Malformed("stream window 0")
    if max_frame < MIN_MAX_FRAME:
        raise Malformed(f"max_frame {max_frame} below {MIN_MAX_FRAME}")
    # Later versions append fields: a version 1 reader ignores what follows.
    return Hello(reply, version, min_version, features, max_frame, max_inbound, max_outbound, keepalive_ms,
                 schema, call_timeout_ms, stream_window, max_handles)
