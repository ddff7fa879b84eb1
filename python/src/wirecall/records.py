"""The peer's records: its session states, and the calls in flight: what a caller waits on
(:class:`OutCall`), what a served call carries (:class:`InCall`), with their streams'
sequence numbers and credit. The peer changes them under its lock; callers and handlers
wait on them."""

import collections
import threading
from typing import Any, Callable, Deque, Optional

from . import wire
from .errors import ErrorCode

#: Session states (docs/PROTOCOL.md, section 5.1).
HANDSHAKING, ESTABLISHED, CLOSED = "handshaking", "established", "closed"


class Waitable:
    """What a caller or a handler waits on: a condition on the peer's lock (threads) and/or a
    callback (asyncio). ``wake`` is called with the lock held."""

    __slots__ = ("cond", "waker")

    def __init__(self, cond: Optional[threading.Condition], waker: Optional[Callable[[], None]]) -> None:
        self.cond = cond
        self.waker = waker

    def wake(self) -> None:
        if self.cond is not None:
            self.cond.notify_all()
        if self.waker is not None:
            self.waker()


class OutCall(Waitable):
    """A call this side made. ``outcome`` is None while it waits, then the result bytes or
    the exception it ended with. An ended call whose id is still held (a Cancel sent, the
    peer's answer not yet seen) stays in the table with ``held`` set."""

    __slots__ = ("id", "procedure", "mode", "session", "outcome", "held", "grace",
                 "items", "recv_seq", "recv_count", "recv_granted", "consumed", "got_end",
                 "send_credit", "send_seq", "sent_end", "last_activity")

    def __init__(self, id: int, procedure: int, mode: int, session: int, cond: Optional[threading.Condition],
                 waker: Optional[Callable[[], None]], window: int, peer_window: int, now: float) -> None:
        super().__init__(cond, waker)
        self.id = id
        self.procedure = procedure
        self.mode = mode
        self.session = session
        self.outcome: Any = None
        self.held = False
        self.grace: Any = None
        # Items from the server: received and not yet consumed, and the credit bookkeeping.
        self.items: Deque[bytes] = collections.deque()
        self.recv_seq = 0
        self.recv_count = 0
        self.recv_granted = window
        self.consumed = 0
        self.got_end = False
        # Items to the server.
        self.send_credit = peer_window
        self.send_seq = 0
        self.sent_end = False
        self.last_activity = now


class InCall(Waitable):
    """A call the peer made to this side. ``active`` until it is answered, expired or
    cancelled; the handler keeps running after that (threads cannot be stopped) but may no
    longer answer."""

    __slots__ = ("id", "procedure", "mode", "session", "active", "cancelled", "deadline",
                 "items", "recv_seq", "recv_count", "recv_granted", "consumed", "got_end", "stream_error",
                 "send_credit", "send_seq")

    def __init__(self, id: int, procedure: int, mode: int, session: int, cond: threading.Condition,
                 window: int, peer_window: int) -> None:
        super().__init__(cond, None)
        self.id = id
        self.procedure = procedure
        self.mode = mode
        self.session = session
        self.active = True
        self.cancelled = False
        self.deadline: Any = None
        self.items: Deque[bytes] = collections.deque()
        self.recv_seq = 0
        self.recv_count = 0
        self.recv_granted = window
        self.consumed = 0
        self.got_end = False
        self.stream_error: Optional[ErrorCode] = None
        self.send_credit = peer_window
        self.send_seq = 0


class ManifestFetch:
    """The state of one manifest fetch: the offset waited for and the piece that came."""

    __slots__ = ("want", "piece", "cond")

    def __init__(self, cond: threading.Condition) -> None:
        self.want = 0
        self.piece: Optional[wire.ManifestPiece] = None
        self.cond = cond


#: What :meth:`Peer.poll_item` returns while no item has come.
PENDING = object()
