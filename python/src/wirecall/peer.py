"""One end of a wirecall link: the session rules of docs/PROTOCOL.md, sections 5 to 9.

A :class:`Peer` owns a transport (anything with ``read``, ``write`` and ``close``), a reader
thread that decodes frames and acts on them, and a timer thread (keepalive, Hello retries,
server deadlines, grace periods). It both calls and serves, like the reference endpoint:
:meth:`Peer.start_call` and friends make calls (the client modules wrap them), and a
``service`` (see :mod:`wirecall.server`) answers the peer's calls on a pool of threads.

Locking: ``_lock`` guards all state; ``_wlock`` serialises writes. A thread that must both
decide and write under one view of the state (an answer versus a Cancel crossing it) takes
``_wlock`` first, then ``_lock``; nothing takes ``_wlock`` while holding ``_lock``. Every
state change that someone may wait for ends with ``wake()`` on the waiting call, or a
notify on ``_changed``.
"""

import collections
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, List, Optional

from . import wire
from .errors import (Cancelled, ConnectionLost, Error, ErrorCode, IncompatibleSchema, IncompatibleVersion,
                     ProtocolError, Refused, RemoteError, Timeout, TooLarge)
from .framing import CRC_LEN, FrameDecoder, encode_frame
from .manifest import MAX_MANIFEST, schema_hash
from .timers import Timers
from .varint import encode as varint_encode
from .wire import (FEATURE_CALL_TIMEOUT, FEATURE_MANIFEST, FEATURE_STREAMS, MODE_CALL, MODE_CLIENT_STREAM,
                   MODE_SERVER_STREAM, PROTOCOL_VERSION)

log = logging.getLogger("wirecall")

HANDSHAKING, ESTABLISHED, CLOSED = "handshaking", "established", "closed"
_CREDIT_CAP = 65535
#: An Error frame without detail with a 5-byte id: the smallest answer that always fits.
_ERROR_OVERHEAD = 1 + 5 + 1 + CRC_LEN


@dataclass
class Options:
    """Limits and timers of one end (docs/PROTOCOL.md, section 1: the reference's defaults,
    with the host runtime's frame size and call count)."""

    #: Largest decoded frame accepted, header and CRC included (at least 48).
    max_frame: int = 4096
    #: Calls in flight at once in each direction: more inbound ones are answered Busy.
    max_calls: int = 32
    #: The deadline of a call made without a timeout, and of a served call that carries none.
    call_timeout: float = 5.0
    #: Ping interval when the link is quiet, Hello retry interval; three make the idle limit.
    keepalive: float = 1.0
    #: Longest time from a frame's first byte to its last.
    frame_timeout: float = 0.5
    #: How long a cancelled or expired call's id stays reserved.
    late_reply_grace: float = 1.0
    #: Items accepted on each stream before credit is granted back.
    stream_window: int = 16
    #: A stream on which nothing moved for this long is ended.
    stream_idle_timeout: float = 30.0
    #: The longest deadline given to a served call, whatever the caller asks.
    max_request_timeout: float = 60.0
    #: The longest idle limit, whatever keepalive the peer advertises.
    max_idle_limit: float = 30.0
    #: Opens nested deeper than this are answered TooDeep.
    max_call_depth: int = 4
    #: The schema hash the peer must serve (None: any).
    expect_schema: Optional[int] = None

    def check(self) -> None:
        if not 48 <= self.max_frame <= 1 << 20:
            raise ValueError("max_frame must be 48 to 1 MiB")
        if not 1 <= self.max_calls <= 128:
            raise ValueError("max_calls must be 1 to 128")
        if self.stream_window < 1:
            raise ValueError("stream_window must be at least 1")


class Budget:
    """At most ``max`` events per ``window`` seconds, counted in fixed windows (section 8)."""

    __slots__ = ("max", "window", "start", "count")

    def __init__(self, max: int, window: float, now: float) -> None:
        self.max = max
        self.window = window
        self.start = now
        self.count = 0

    def spend(self, now: float) -> bool:
        """Counts one event; False once the budget is exceeded."""
        if now >= self.start + self.window:
            self.start = now
            self.count = 0
        self.count += 1
        return self.count <= self.max

    def reset(self, now: float) -> None:
        self.start = now
        self.count = 0


class _Waitable:
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


class OutCall(_Waitable):
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


class InCall(_Waitable):
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


class _ManifestFetch:
    """The state of one manifest fetch: the offset waited for and the piece that came."""

    __slots__ = ("want", "piece", "cond")

    def __init__(self, cond: threading.Condition) -> None:
        self.want = 0
        self.piece: Optional[wire.ManifestPiece] = None
        self.cond = cond


class Peer:
    """One end of a link: handshake, keepalive, calls both ways, streams, budgets.

    ``service`` (optional) answers the peer's calls; without one every call is answered
    ``UnknownProcedure``. Start it with :meth:`start`; it runs until :meth:`close` or until
    the link closes.
    """

    def __init__(self, transport: Any, options: Optional[Options] = None, service: Any = None,
                 name: str = "wirecall") -> None:
        self.options = options or Options()
        self.options.check()
        self.transport = transport
        self.service = service
        self.name = name
        self._lock = threading.Lock()
        self._wlock = threading.Lock()
        #: Notified on every change of the session state or of the free call slots.
        self._changed = threading.Condition(self._lock)
        #: Async waiters on the same changes.
        self._change_wakers: List[Callable[[], None]] = []
        now = time.monotonic()
        o = self.options
        self._decoder = FrameDecoder(o.max_frame, o.frame_timeout)
        self.state = HANDSHAKING
        self.peer_hello: Optional[wire.Hello] = None
        self._session = 0
        self._failure: Optional[Error] = None
        self._refusal: Optional[Error] = None
        self._calls: Dict[int, OutCall] = {}
        self._next_id = 0
        self._inbound: Dict[int, InCall] = {}
        self._handlers = 0
        self._executor: Optional[ThreadPoolExecutor] = None
        self._fetch: Optional[_ManifestFetch] = None
        self._last_rx = now
        self._last_ping = now
        self._next_hello = now
        self._protocol = Budget(8, 1.0, now)
        self._cancels = Budget(64, 1.0, now)
        self._strays = Budget(64, 1.0, now)
        self._abandons = Budget(32, 10.0, now)
        self._restarts = Budget(4, 10.0, now)
        self._manifest: bytes = service.manifest_bytes if service is not None else b""
        self.stats: Dict[str, int] = collections.defaultdict(int)
        self._timers = Timers(self._tick, f"{name}-timers")
        self._reader = threading.Thread(target=self._read_loop, name=f"{name}-reader", daemon=True)
        # Work handed over without taking a lock (see defer), run by the timer thread.
        self._deferred: Deque[Callable[[], None]] = collections.deque()
        self._closed_event = threading.Event()

    # ------------------------------------------------------------------ life cycle
    def start(self) -> "Peer":
        """Sends the first Hello and starts the reader and timer threads."""
        if self.service is not None:
            self._executor = ThreadPoolExecutor(self.options.max_calls, thread_name_prefix=f"{self.name}-handler")
        with self._lock:
            # The first retry is one keepalive after the start (section 5.2): a second
            # initial Hello right behind the first would read as a restart.
            self._next_hello = time.monotonic() + self.options.keepalive
        self._send_hello(reply=False)
        self._timers.start()
        self._reader.start()
        return self

    def close(self, code: ErrorCode = ErrorCode.Closed) -> None:
        """Ends the session with ``Close(code)`` and closes the link; every call still waiting
        ends with :class:`ConnectionLost`."""
        with self._lock:
            was_closed = self.state == CLOSED
        if not was_closed:
            self._write_quietly(wire.Close(int(code)).encode())
        self._finish(ConnectionLost("the connection was closed"))
        if self._reader.is_alive() and self._reader is not threading.current_thread():
            self._reader.join(2.0)

    def wait_closed(self, timeout: Optional[float] = None) -> bool:
        """Waits until the link is closed (by either side); True if it is."""
        return self._closed_event.wait(timeout)

    @property
    def established(self) -> bool:
        return self.state == ESTABLISHED

    @property
    def failure(self) -> Optional[Error]:
        """Why the peer is closed, once it is."""
        return self._failure

    def all_stats(self) -> Dict[str, int]:
        """The counters: the framing layer's and the session's."""
        out = dict(self._decoder.stats)
        out.update(self.stats)
        return out

    # ------------------------------------------------------------------ writing
    def _write(self, *bodies: bytes) -> None:
        """Writes frames; the caller holds ``_wlock``. A failed write closes the peer."""
        data = b"".join(encode_frame(b) for b in bodies)
        try:
            self.transport.write(data)
        except (OSError, ValueError) as e:
            self._finish(ConnectionLost(f"the link failed: {e}"))

    def _send(self, *bodies: bytes) -> None:
        with self._wlock:
            self._write(*bodies)

    def _write_quietly(self, body: bytes) -> None:
        try:
            with self._wlock:
                self.transport.write(encode_frame(body))
        except (OSError, ValueError):
            pass  # closing anyway: the link is already gone

    def _send_hello(self, reply: bool) -> None:
        o = self.options
        features = FEATURE_CALL_TIMEOUT | FEATURE_STREAMS | (FEATURE_MANIFEST if self.service is not None else 0)
        schema = schema_hash(self._manifest) if self._manifest else 0
        hello = wire.Hello(reply, PROTOCOL_VERSION, PROTOCOL_VERSION, features, o.max_frame, o.max_calls, o.max_calls,
                           _ms(o.keepalive), schema, _ms(o.call_timeout), o.stream_window)
        self._send(hello.encode())

    def frame_limit(self) -> int:
        """The largest decoded frame either side accepts (section 5.2)."""
        peer = self.peer_hello.max_frame if self.peer_hello is not None else self.options.max_frame
        return min(self.options.max_frame, peer)

    # ------------------------------------------------------------------ reading
    def _read_loop(self) -> None:
        reason = "the link closed"
        while True:
            try:
                data = self.transport.read(65536)
            except Exception as e:  # whatever the transport raises, the link has ended
                reason = f"the link failed: {e}"
                data = b""
            if not data:
                break
            now = time.monotonic()
            for frame in self._decoder.feed(data, now):
                try:
                    self._on_frame(frame, now)
                except Exception:  # a bug here must not end the connection unseen
                    self.stats["internal_errors"] += 1
                    log.exception("wirecall: error handling a frame")
            if self.state == CLOSED:
                break
        self._finish(self._refusal or ConnectionLost(reason))

    def _on_frame(self, body: bytes, now: float) -> None:
        with self._lock:
            self._last_rx = now
            if self.state == CLOSED:
                return
        try:
            f = wire.parse_frame(body)
        except wire.Malformed as e:
            log.debug("wirecall: malformed frame %s: %s", body[:16].hex(), e)
            self._violation(now)
            return
        if isinstance(f, wire.Reply):
            self._on_answer(f.id, f.result, None, now)
        elif isinstance(f, wire.ErrorFrame):
            self._on_answer(f.id, f.detail, f.code, now)
        elif isinstance(f, wire.Request):
            self._on_request(f.id, f.procedure, MODE_CALL, 0, f.timeout_ms, f.args, now)
        elif isinstance(f, wire.Open):
            self._on_request(f.id, f.procedure, f.mode, f.depth, f.timeout_ms, f.args, now)
        elif isinstance(f, wire.Item):
            self._on_items(f.id, f.from_server, f.seq, [f.item], now)
        elif isinstance(f, wire.Items):
            self._on_items(f.id, f.from_server, f.seq, f.items, now)
        elif isinstance(f, wire.Credit):
            self._on_credit(f, now)
        elif isinstance(f, wire.End):
            self._on_end(f, now)
        elif isinstance(f, wire.Hello):
            self._on_hello(f, now)
        elif isinstance(f, wire.Cancel):
            self._on_cancel(f.id, now)
        elif isinstance(f, wire.Ping):
            self._on_ping(f.pong, now)
        elif isinstance(f, wire.Close):
            self._on_close(f.code, now)
        elif isinstance(f, wire.ManifestRequest):
            self._on_manifest_request(f.offset)
        elif isinstance(f, wire.ManifestPiece):
            self._on_manifest_piece(f)
        else:  # an unknown kind
            assert isinstance(f, wire.Unknown)
            if f.must_understand:
                self._violation(now)
            else:
                self.stats["ignored_frames"] += 1
                self._stray(now)

    # ------------------------------------------------------------------ session
    def _on_hello(self, h: wire.Hello, now: float) -> None:
        o = self.options
        version = min(PROTOCOL_VERSION, h.version)
        if version < max(PROTOCOL_VERSION, h.min_version):
            self._close_final(ErrorCode.IncompatibleVersion, IncompatibleVersion(
                f"the peer speaks protocol versions {h.min_version} to {h.version}; this side speaks "
                f"{PROTOCOL_VERSION}"))
            return
        if o.expect_schema is not None and h.schema != o.expect_schema:
            self._close_final(ErrorCode.IncompatibleSchema, IncompatibleSchema(
                f"the peer serves schema 0x{h.schema:08X}, not the expected 0x{o.expect_schema:08X}",
                o.expect_schema, h.schema))
            return
        if not h.reply:
            with self._lock:
                restart = self.state == ESTABLISHED
            if restart:
                if not self._restarts.spend(now):
                    self._violation(now)  # a restart beyond the budget is not believed
                    return
                self._end_session(ConnectionLost("the peer restarted"), now, send_hello=False)
            self._send_hello(reply=True)
        with self._lock:
            self.peer_hello = h
            if self.state == HANDSHAKING:
                self.state = ESTABLISHED
                self._session += 1
                self._last_ping = now
                self._refusal = None
                self._notify_change()
        self._timers.wake()

    def _notify_change(self) -> None:
        """Wakes everyone waiting for the session or a call slot (lock held)."""
        self._changed.notify_all()
        for w in self._change_wakers:
            w()

    def add_change_waker(self, waker: Callable[[], None]) -> None:
        """Calls ``waker`` (with the lock held: it must only schedule) on every change of the
        session or of the free call slots: how asyncio waits for them."""
        with self._lock:
            self._change_wakers.append(waker)

    def remove_change_waker(self, waker: Callable[[], None]) -> None:
        with self._lock:
            if waker in self._change_wakers:
                self._change_wakers.remove(waker)

    def _end_session(self, error: Error, now: float, send_hello: bool = True) -> None:
        """Ends the session (section 5.4): calls end without a Cancel, ids are released at
        once, served calls may no longer answer; back to Handshaking."""
        with self._lock:
            if self.state != ESTABLISHED:
                return
            self.state = HANDSHAKING
            self.stats["link_losses"] += 1
            self._fail_calls(error)
            self._next_hello = now + self.options.keepalive
            self._fetch = None
        if send_hello:
            self._send_hello(reply=False)
        self._timers.wake()

    def _fail_calls(self, error: Error) -> None:
        """Ends every call both ways with ``error`` (lock held)."""
        for call in self._calls.values():
            if call.grace is not None:
                call.grace.cancel()
            if call.outcome is None:
                call.outcome = error
            call.wake()
        self._calls.clear()
        for served in self._inbound.values():
            served.active = False
            if served.deadline is not None:
                served.deadline.cancel()
            served.wake()
        self._notify_change()

    def _close_final(self, code: ErrorCode, error: Error) -> None:
        """Sends ``Close(code)`` and closes for good (incompatible version or schema)."""
        self._write_quietly(wire.Close(int(code)).encode())
        self._finish(error)

    def _finish(self, error: Error) -> None:
        """Closes the peer for good: every call ends with ``error``, the link is closed."""
        with self._lock:
            if self.state == CLOSED:
                return
            self.state = CLOSED
            self._failure = error
            self._fail_calls(error)
            if self._fetch is not None:
                self._fetch.cond.notify_all()
        self._timers.stop()
        try:
            self.transport.close()
        except OSError:
            pass
        if self._executor is not None:
            self._executor.shutdown(wait=False)
        self._closed_event.set()

    def _on_close(self, code: int, now: float) -> None:
        ec = ErrorCode.of(code)
        if ec == ErrorCode.IncompatibleVersion:
            self._finish(IncompatibleVersion("the peer closed the link: incompatible protocol version"))
        elif ec == ErrorCode.IncompatibleSchema:
            self._finish(IncompatibleSchema("the peer closed the link: it expects another schema"))
        elif self.state == HANDSHAKING:
            # A refusal: a server at its connection limit says Busy, then closes.
            what = "it is at its connection limit" if ec == ErrorCode.Busy else ec.name
            self._refusal = Refused(ec, f"the peer refused the connection: {what}")
        else:
            self._end_session(ConnectionLost(f"the peer closed the session ({ec.name})"), now)

    def _violation(self, now: float) -> None:
        """Counts a protocol violation; past the budget, resets the session (section 8)."""
        self.stats["protocol_errors"] += 1
        if not self._protocol.spend(now):
            self._reset(now)

    def _stray(self, now: float) -> None:
        """Counts a frame that does no work; past the budget, resets the session."""
        if self.state == ESTABLISHED and not self._strays.spend(now):
            self.stats["protocol_errors"] += 1
            self._reset(now)

    def _reset(self, now: float) -> None:
        self._send(wire.Close(int(ErrorCode.ProtocolViolation)).encode())
        for budget in (self._protocol, self._cancels, self._strays, self._abandons):
            budget.reset(now)
        if self.state == ESTABLISHED:
            self._end_session(ConnectionLost("the peer broke the protocol; the session was reset"), now)
        else:
            self._send_hello(reply=False)

    def _on_ping(self, pong: bool, now: float) -> None:
        if pong:
            return  # counted as a valid frame already
        self.stats["pings_received"] += 1
        if self.state == ESTABLISHED:
            self._send(wire.Ping(pong=True).encode())

    def _idle_limit(self) -> float:
        o = self.options
        peer_ka = self.peer_hello.keepalive_ms / 1000.0 if self.peer_hello is not None else o.keepalive
        return min(3 * max(o.keepalive, peer_ka), max(o.max_idle_limit, 3 * o.keepalive))

    def defer(self, fn: Callable[[], None]) -> None:
        """Runs ``fn`` on the timer thread within a keepalive interval, taking no lock here:
        for finalizers (``__del__``), which the garbage collector may run in a thread that
        holds the peer's lock."""
        self._deferred.append(fn)  # deque.append is atomic

    def _tick(self, now: float) -> Optional[float]:
        """Deferred work, keepalive, idle limit and Hello retries; returns when to be called
        again."""
        while self._deferred:
            fn = self._deferred.popleft()
            try:
                fn()
            except Exception:
                log.exception("wirecall: deferred work failed")
        o = self.options
        with self._lock:
            state, last_rx, last_ping, next_hello = self.state, self._last_rx, self._last_ping, self._next_hello
        if state == CLOSED:
            return None
        if state == HANDSHAKING:
            if now >= next_hello:
                self._send_hello(reply=False)
                with self._lock:
                    self._next_hello = now + o.keepalive
                return now + o.keepalive
            return next_hello
        idle = self._idle_limit()
        if now >= last_rx + idle:
            self._end_session(ConnectionLost(f"the link was silent for {idle:g} s"), now)
            return now + o.keepalive
        if now >= last_rx + o.keepalive and now >= last_ping + o.keepalive:
            with self._lock:
                self._last_ping = now
            self._send(wire.Ping().encode())
            last_ping = now
        return min(max(last_rx, last_ping) + o.keepalive, last_rx + idle)

    # ------------------------------------------------------------------ calls made
    def wait_session(self, deadline: float) -> None:
        """Waits until a session is established; raises if the peer closes or ``deadline``
        (monotonic) passes."""
        with self._lock:
            while self.state != ESTABLISHED:
                if self.state == CLOSED:
                    raise self._failure or ConnectionLost("closed")
                left = deadline - time.monotonic()
                if left <= 0:
                    if self._refusal is not None:
                        raise self._refusal
                    raise ConnectionLost("no session: the peer did not answer the handshake in time")
                self._changed.wait(left)

    def _in_flight_limit(self) -> int:
        peer = self.peer_hello.max_inbound if self.peer_hello is not None else 1
        return max(1, min(self.options.max_calls, peer))

    def try_start_call(self, procedure: int, mode: int, args: bytes, timeout: Optional[float],
                       cond: Optional[threading.Condition], waker: Optional[Callable[[], None]]) -> Optional[OutCall]:
        """Sends a Request (``mode`` 0) or an Open if a session and a call slot are free now;
        None if not (wait for a change and try again). Raises if the peer is closed or the
        frame would be too large. ``timeout`` None means no deadline (streams only)."""
        now = time.monotonic()
        with self._wlock:
            with self._lock:
                if self.state == CLOSED:
                    raise self._failure or ConnectionLost("closed")
                if self.state != ESTABLISHED or len(self._calls) >= self._in_flight_limit():
                    return None
                peer = self.peer_hello
                assert peer is not None
                if mode != MODE_CALL and not peer.features & FEATURE_STREAMS:
                    raise Error("the peer does not take streams (its Hello lacks feature bit 1)")
                call_id = self._allocate_id()
                timeout_ms = self._timeout_field(timeout, mode, peer)
                if mode == MODE_CALL:
                    body = wire.Request(call_id, procedure, timeout_ms, args).encode()
                else:
                    body = wire.Open(call_id, procedure, mode, 0, timeout_ms, args).encode()
                if len(body) + CRC_LEN > self.frame_limit():
                    raise TooLarge(f"the request takes {len(body) + CRC_LEN} bytes; the frame limit is "
                                   f"{self.frame_limit()}")
                call = OutCall(call_id, procedure, mode, self._session, cond, waker, self.options.stream_window,
                               peer.stream_window, now)
                self._calls[call_id] = call
            self._write(body)
        return call

    def _allocate_id(self) -> int:
        """The next id not held by a call: ids cycle below 128 so that they stay one byte."""
        for _ in range(128):
            candidate = self._next_id
            self._next_id = (self._next_id + 1) & 0x7F
            if candidate not in self._calls:
                return candidate
        raise AssertionError("more calls held than the 128 ids")  # max_calls <= 128 prevents it

    def _timeout_field(self, timeout: Optional[float], mode: int, peer: wire.Hello) -> Optional[int]:
        """The timeout_ms to send (section 6.2): none for a call within 1/16 of the default
        both sides know, none for a stream without a deadline."""
        if timeout is None:
            return None
        default = self.options.call_timeout
        if (mode == MODE_CALL and peer.features & FEATURE_CALL_TIMEOUT
                and default * 15 / 16 <= timeout <= default):
            return None
        return min(_ms(timeout), 0xFFFFFFFF)

    def wait_change(self, deadline: float) -> bool:
        """Waits (lock not held by the caller) for a change of the session or slots; False
        once ``deadline`` has passed."""
        with self._lock:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._changed.wait(left)
            return True

    def start_call(self, procedure: int, mode: int, args: bytes, timeout: Optional[float], deadline: float,
                   waker: Optional[Callable[[], None]] = None) -> OutCall:
        """Like :meth:`try_start_call`, waiting for a session and a free slot until
        ``deadline``; the call's waiting is done on a condition of the peer's lock."""
        cond = threading.Condition(self._lock) if waker is None else None
        while True:
            call = self.try_start_call(procedure, mode, args, timeout, cond, waker)
            if call is not None:
                return call
            with self._lock:
                if self.state == CLOSED:
                    raise self._failure or ConnectionLost("closed")
                left = deadline - time.monotonic()
                if left <= 0:
                    if self.state != ESTABLISHED:
                        raise self._refusal or Timeout("no session before the call's deadline")
                    raise Timeout("no free call slot before the call's deadline")
                if self.state != ESTABLISHED or len(self._calls) >= self._in_flight_limit():
                    self._changed.wait(left)

    def wait_outcome(self, call: OutCall, deadline: float) -> bytes:
        """Waits for a plain call's answer; at ``deadline`` the call is cancelled and
        :class:`Timeout` raised."""
        with self._lock:
            while call.outcome is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                call.cond.wait(left)  # type: ignore[union-attr]
        return self.outcome(call, deadline_passed=True)

    def outcome(self, call: OutCall, deadline_passed: bool = False) -> bytes:
        """The result of an ended call, or its exception raised; a call still waiting is
        cancelled as expired (``deadline_passed``) and Timeout raised."""
        with self._lock:
            outcome = call.outcome
        if outcome is None:
            self.abandon(call, Timeout("the call's deadline passed") if deadline_passed else Cancelled())
            with self._lock:
                outcome = call.outcome
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def abandon(self, call: OutCall, error: Error, code: Optional[ErrorCode] = None) -> None:
        """Ends a call this side gave up (its deadline, the application's cancel, an
        overrun or lost item): sends Cancel and holds the id for the grace period."""
        with self._lock:
            if call.outcome is not None:
                return
            call.outcome = error
            call.wake()
            if self._calls.get(call.id) is not call or call.session != self._session or self.state != ESTABLISHED:
                return
            call.held = True
            call.grace = self._timers.at(time.monotonic() + self.options.late_reply_grace,
                                         lambda: self._release(call))
        self._send(wire.Cancel(call.id, None if code is None else int(code)).encode())

    def _release(self, call: OutCall) -> None:
        """Frees a held id (the peer's Error(Cancelled) came, or the grace ended)."""
        with self._lock:
            if self._calls.get(call.id) is call:
                del self._calls[call.id]
                if call.grace is not None:
                    call.grace.cancel()
                self._notify_change()

    def _on_answer(self, call_id: int, payload: bytes, code: Optional[int], now: float) -> None:
        with self._lock:
            call = self._calls.get(call_id)
            if call is None:
                self.stats["late_replies"] += 1
                stray = True
            elif call.outcome is not None:
                # A late answer for a held id; the peer's answer to our Cancel ends the hold.
                self.stats["late_replies"] += 1
                stray = False
                if code == ErrorCode.Cancelled:
                    del self._calls[call_id]
                    if call.grace is not None:
                        call.grace.cancel()
                    self._notify_change()
            else:
                stray = False
                del self._calls[call_id]
                if code is not None:
                    call.outcome = RemoteError.from_wire(code, payload)
                elif call.mode & MODE_SERVER_STREAM and not call.got_end:
                    call.outcome = RemoteError(ErrorCode.ItemLost, "the stream's reply came without its End")
                else:
                    call.outcome = payload
                call.wake()
                self._notify_change()
        if stray:
            self._stray(now)

    # ------------------------------------------------------------------ streams (both sides)
    def _on_items(self, call_id: int, from_server: bool, seq: int, items: List[bytes], now: float) -> None:
        if from_server:
            self._items_for_call(call_id, seq, items, now)
        else:
            self._items_for_served(call_id, seq, items, now)

    def _items_for_call(self, call_id: int, seq: int, items: List[bytes], now: float) -> None:
        failure: Optional[ErrorCode] = None
        with self._lock:
            call = self._calls.get(call_id)
            if call is None or call.outcome is not None or not call.mode & MODE_SERVER_STREAM:
                self.stats["items_refused"] += 1
                stray = call is None
                call = None
            else:
                stray = False
                call.last_activity = now
                if call.got_end or call.recv_count + len(items) > call.recv_granted:
                    failure = ErrorCode.FlowControl
                elif seq != call.recv_seq:
                    failure = ErrorCode.ItemLost
                else:
                    call.items.extend(items)
                    call.recv_count += len(items)
                    call.recv_seq = (seq + len(items)) & 0xFF
                    call.wake()
        if stray:
            self._stray(now)
        if call is not None and failure is not None:
            self._stream_failed_as_caller(call, failure, now)

    def _stream_failed_as_caller(self, call: OutCall, code: ErrorCode, now: float) -> None:
        if code == ErrorCode.FlowControl:
            self._violation(now)
            error = ProtocolError("the server sent items beyond its credit")
        else:
            error = ProtocolError("a stream item was lost on the link")
        self.abandon(call, error, code)

    def _on_credit(self, f: wire.Credit, now: float) -> None:
        with self._lock:
            if f.from_server:
                target: Any = self._calls.get(f.id)
                live = target is not None and target.outcome is None
            else:
                target = self._inbound.get(f.id)
                live = target is not None and target.active
            if live:
                target.send_credit = min(_CREDIT_CAP, target.send_credit + f.items)
                if f.from_server:
                    target.last_activity = now
                target.wake()
        # A Credit for a stream that ended is ignored (section 6.6).

    def _on_end(self, f: wire.End, now: float) -> None:
        if f.from_server:
            lost = False
            with self._lock:
                call = self._calls.get(f.id)
                if call is not None and call.outcome is None and call.mode & MODE_SERVER_STREAM:
                    call.last_activity = now
                    if f.seq != call.recv_seq:
                        lost = True
                    else:
                        call.got_end = True
                        call.wake()
            if lost and call is not None:
                self._stream_failed_as_caller(call, ErrorCode.ItemLost, now)
            return
        with self._lock:
            served = self._inbound.get(f.id)
            if served is None or not served.active or not served.mode & MODE_CLIENT_STREAM:
                return
            if f.seq != served.recv_seq:
                served.stream_error = ErrorCode.ItemLost
            else:
                served.got_end = True
            served.wake()
        if served.stream_error is not None:
            self._end_served(served, ErrorCode.ItemLost)

    def next_item(self, call: OutCall, deadline: Optional[float]) -> Optional[bytes]:
        """The next item of a server stream this side called, waiting until ``deadline``
        (None: wait as long as it takes); None when the stream ended well. Grants credit
        back as items are taken; raises the call's error, or Timeout (the call is then
        cancelled)."""
        credit = 0
        with self._lock:
            while not call.items and call.outcome is None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                call.cond.wait(left)  # type: ignore[union-attr]
            item = self._take_item(call)
            if item is not None:
                credit = self._credit_due(call)
        if item is None:
            if call.outcome is None:
                self.abandon(call, Timeout("nothing moved on the stream for its idle timeout"))
            self.outcome(call)  # raises the call's error, if any
            return None
        if credit:
            self._send(wire.Credit(call.id, False, credit).encode())
        return item

    def poll_item(self, call: OutCall) -> Any:
        """Without waiting: an item, ``None`` once the stream ended well (or raises its error),
        or :data:`PENDING`. For asyncio, which waits on the call's waker."""
        credit = 0
        with self._lock:
            if not call.items and call.outcome is None:
                return PENDING
            item = self._take_item(call)
            if item is not None:
                credit = self._credit_due(call)
        if item is None:
            self.outcome(call)
            return None
        if credit:
            self._send(wire.Credit(call.id, False, credit).encode())
        return item

    @staticmethod
    def _take_item(call: OutCall) -> Optional[bytes]:
        if call.items:
            return call.items.popleft()
        return None

    def _credit_due(self, call: Any) -> int:
        """Counts an item consumed; the credit to grant back now, in batches of half the
        window (lock held)."""
        call.consumed += 1
        batch = max(1, self.options.stream_window // 2)
        if call.consumed >= batch and (isinstance(call, InCall) and call.active or
                                       isinstance(call, OutCall) and call.outcome is None):
            grant, call.consumed = call.consumed, 0
            call.recv_granted += grant
            return grant
        return 0

    def send_item(self, call: OutCall, item: bytes, deadline: Optional[float]) -> None:
        """Sends one item of a client or bidirectional stream, waiting for credit until
        ``deadline``; raises the call's outcome if it ended (its error, or
        :class:`ConnectionLost` if it ended well before all its items went)."""
        with self._lock:
            while call.send_credit <= 0 and call.outcome is None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                call.cond.wait(left)  # type: ignore[union-attr]
        self._send_item_now(call, item)

    def try_send_item(self, call: OutCall, item: bytes) -> bool:
        """Sends an item if there is credit now; False if not (wait for the call's waker)."""
        with self._lock:
            if call.send_credit <= 0 and call.outcome is None:
                return False
        self._send_item_now(call, item)
        return True

    def _send_item_now(self, call: OutCall, item: bytes) -> None:
        with self._wlock:
            with self._lock:
                ended = call.outcome is not None
                no_credit = call.send_credit <= 0
                if not ended and not no_credit:
                    seq = call.send_seq
                    call.send_seq = (seq + 1) & 0xFF
                    call.send_credit -= 1
                    call.last_activity = time.monotonic()
            if not ended and not no_credit:
                body = wire.Item(call.id, False, seq, item).encode()
                if len(body) + CRC_LEN > self.frame_limit():
                    raise TooLarge(f"a stream item of {len(item)} bytes does not fit the frame limit")
                self._write(body)
                return
        if ended:
            self.outcome(call)
            raise ConnectionLost("the call ended before its items were sent")
        self.abandon(call, Timeout("no credit from the server for the stream's idle timeout"))
        self.outcome(call)

    def end_items(self, call: OutCall) -> None:
        """Says this side's items on a stream are over (End)."""
        with self._lock:
            if call.outcome is not None or call.sent_end:
                return
            call.sent_end = True
            seq = call.send_seq
        self._send(wire.End(call.id, False, seq).encode())

    # ------------------------------------------------------------------ serving
    def _on_request(self, call_id: int, procedure: int, mode: int, depth: int, timeout_ms: Optional[int],
                    args: bytes, now: float) -> None:
        answer: Optional[int] = None
        detail = b""
        served: Optional[InCall] = None
        entry: Any = None
        with self._wlock:
            with self._lock:
                if self.state != ESTABLISHED:
                    answer = ErrorCode.NoSession
                elif call_id in self._inbound and self._inbound[call_id].active:
                    answer = -1  # a duplicate active id: a violation, never answered
                elif self._handlers >= self.options.max_calls:
                    self.stats["busy_sent"] += 1
                    answer = ErrorCode.Busy
                elif depth > self.options.max_call_depth:
                    answer = ErrorCode.TooDeep
                else:
                    entry = self.service.lookup(procedure) if self.service is not None else None
                    if entry is None:
                        answer = ErrorCode.UnknownProcedure
                        detail = f"no procedure {procedure}".encode()
                    elif entry.procedure.mode != mode:
                        answer = ErrorCode.BadArguments
                        detail = (f"{entry.procedure.name} is a {_MODE_TEXT[entry.procedure.mode]}, called as a "
                                  f"{_MODE_TEXT[mode]}").encode()
                    else:
                        peer = self.peer_hello
                        assert peer is not None
                        served = InCall(call_id, procedure, mode, self._session, threading.Condition(self._lock),
                                        self.options.stream_window, peer.stream_window)
                        self._inbound[call_id] = served
                        self._handlers += 1
                        limit = self._served_deadline(timeout_ms, mode, peer)
                        if limit is not None:
                            served.deadline = self._timers.at(now + limit, lambda: self._expire_served(served))
            if answer == -1:
                pass
            elif answer is not None and self.state != CLOSED:
                self._write(wire.ErrorFrame(call_id, int(answer), detail).encode())
        if answer == -1:
            self._violation(now)
        elif served is not None:
            assert self._executor is not None
            try:
                self._executor.submit(self.service.run, self, served, entry, args)
            except RuntimeError:  # the executor shut down: the peer is closing
                self.handler_done(served)

    def _served_deadline(self, timeout_ms: Optional[int], mode: int, peer: wire.Hello) -> Optional[float]:
        """How long a served call may take (section 6.2): the timeout sent, else the caller's
        advertised default, else ours; a stream opened without one has none."""
        o = self.options
        if timeout_ms is not None:
            limit = timeout_ms / 1000.0
        elif mode != MODE_CALL:
            return None
        elif peer.features & FEATURE_CALL_TIMEOUT:
            limit = peer.call_timeout_ms / 1000.0
        else:
            limit = o.call_timeout
        return min(limit, o.max_request_timeout)

    def _expire_served(self, served: InCall) -> None:
        with self._wlock:
            with self._lock:
                expired = served.active and served.session == self._session and self.state == ESTABLISHED
                if expired:
                    served.active = False
                    self.stats["requests_timed_out"] += 1
                    served.wake()
            if expired:
                self._write(wire.ErrorFrame(served.id, int(ErrorCode.DeadlineExceeded)).encode())

    def _on_cancel(self, call_id: int, now: float) -> None:
        if self.state != ESTABLISHED:
            return  # no session: no call to cancel, nobody waiting (section 6.4)
        self.stats["cancels_received"] += 1
        if not self._cancels.spend(now):
            self._reset(now)
            return
        abandoned = False
        with self._wlock:
            with self._lock:
                served = self._inbound.get(call_id)
                if served is not None and served.active:
                    served.active = False
                    served.cancelled = True
                    abandoned = True
                    if served.deadline is not None:
                        served.deadline.cancel()
                    served.wake()
            # Always answered, and always the last frame for the id (section 6.4).
            self._write(wire.ErrorFrame(call_id, int(ErrorCode.Cancelled)).encode())
        if abandoned and not self._abandons.spend(now):
            self.stats["protocol_errors"] += 1
            self._reset(now)

    def _items_for_served(self, call_id: int, seq: int, items: List[bytes], now: float) -> None:
        failure: Optional[ErrorCode] = None
        with self._lock:
            served = self._inbound.get(call_id)
            if served is None or not served.active:
                self.stats["items_refused"] += 1
                stray = served is None
                served = None
            else:
                stray = False
                if not served.mode & MODE_CLIENT_STREAM or served.got_end or \
                        served.recv_count + len(items) > served.recv_granted:
                    failure = ErrorCode.FlowControl
                elif seq != served.recv_seq:
                    failure = ErrorCode.ItemLost
                else:
                    served.items.extend(items)
                    served.recv_count += len(items)
                    served.recv_seq = (seq + len(items)) & 0xFF
                    served.wake()
        if stray:
            self._stray(now)
        if served is not None and failure is not None:
            if failure == ErrorCode.FlowControl:
                self._violation(now)
            self._end_served(served, failure)

    def _end_served(self, served: InCall, code: ErrorCode) -> None:
        """Ends a served stream with an error of this side's (FlowControl, ItemLost)."""
        self.answer(served, wire.ErrorFrame(served.id, int(code)).encode())

    def answer(self, served: InCall, *bodies: bytes) -> bool:
        """Sends a served call's last frames (End and Reply, a Reply, or an Error) if it is
        still active; False if it ended meanwhile (its answer is then dropped and counted)."""
        with self._wlock:
            with self._lock:
                ok = served.active and served.session == self._session and self.state == ESTABLISHED
                if ok:
                    served.active = False
                    if served.deadline is not None:
                        served.deadline.cancel()
                    served.wake()
                else:
                    self.stats["answers_dropped"] += 1
            if ok:
                self._write(*bodies)
        return ok

    def answer_limit(self) -> int:
        """The most payload bytes an answer frame may carry for a 5-byte id."""
        return self.frame_limit() - _ERROR_OVERHEAD

    def handler_done(self, served: InCall) -> None:
        """A handler returned: its slot is free (a call that ended otherwise held it until now)."""
        with self._lock:
            self._handlers -= 1
            if self._inbound.get(served.id) is served:
                del self._inbound[served.id]

    def send_served_item(self, served: InCall, item: bytes, idle_timeout: float) -> bool:
        """Sends one item of a served stream, waiting for the caller's credit; False once the
        call has ended (cancelled, expired, the session lost): the handler should stop."""
        deadline = time.monotonic() + idle_timeout
        with self._lock:
            while served.active and served.send_credit <= 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                served.cond.wait(left)  # type: ignore[union-attr]
            if not served.active:
                return False
            stalled = served.send_credit <= 0
        if stalled:
            # Nothing moved for the idle timeout: the stream ends (section 6.6).
            self.answer(served, wire.ErrorFrame(served.id, int(ErrorCode.DeadlineExceeded)).encode())
            return False
        with self._wlock:
            with self._lock:
                if not served.active:
                    return False
                seq = served.send_seq
                served.send_seq = (seq + 1) & 0xFF
                served.send_credit -= 1
            self._write(wire.Item(served.id, True, seq, item).encode())
        return True

    def next_served_item(self, served: InCall, idle_timeout: float) -> Optional[bytes]:
        """The next item the caller sent on a served stream; None after its End. Raises
        :class:`Cancelled` once the call has ended, :class:`Timeout` when nothing came for the
        idle timeout (the call is then answered DeadlineExceeded)."""
        deadline = time.monotonic() + idle_timeout
        credit = 0
        with self._lock:
            while served.active and not served.items and not served.got_end:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                served.cond.wait(left)  # type: ignore[union-attr]
            if not served.active:
                raise Cancelled("the call ended")
            if served.items:
                item: Optional[bytes] = served.items.popleft()
                credit = self._credit_due(served)
            elif served.got_end:
                return None
            else:
                item = None
        if item is None:
            self.answer(served, wire.ErrorFrame(served.id, int(ErrorCode.DeadlineExceeded)).encode())
            raise Timeout("the caller sent nothing on the stream for its idle timeout")
        if credit:
            with self._wlock:
                with self._lock:
                    live = served.active
                if live:
                    self._write(wire.Credit(served.id, True, credit).encode())
        return item

    def served_item_limit(self) -> int:
        """The most bytes one item of a served stream may take."""
        return self.frame_limit() - CRC_LEN - 1 - 5 - 1

    # ------------------------------------------------------------------ the manifest
    def _on_manifest_request(self, offset: int) -> None:
        if self.state != ESTABLISHED:
            return  # outside a session: ignored
        total = len(self._manifest)
        head = 1 + len(varint_encode(total)) + len(varint_encode(offset))
        room = self.frame_limit() - CRC_LEN - head
        data = self._manifest[offset:offset + max(0, room)] if offset < total else b""
        self._send(wire.ManifestPiece(total, offset, data).encode())

    def _on_manifest_piece(self, piece: wire.ManifestPiece) -> None:
        with self._lock:
            fetch = self._fetch
            if self.state != ESTABLISHED or fetch is None or piece.offset != fetch.want:
                self.stats["manifest_pieces_dropped"] += 1
                return
            fetch.piece = piece
            fetch.cond.notify_all()

    def fetch_manifest(self, deadline: float, retry: float = 1.0) -> bytes:
        """Fetches the peer's manifest (section 10.2) and checks it against the hash of its
        Hello. Raises :class:`Error` if the peer serves none, :class:`ProtocolError` if the
        pieces do not add up, :class:`Timeout` at ``deadline``."""
        self.wait_session(deadline)
        with self._lock:
            peer = self.peer_hello
            assert peer is not None
            if not peer.features & FEATURE_MANIFEST:
                raise Error("the peer serves no manifest (its Hello lacks feature bit 2)")
            session = self._session
            fetch = _ManifestFetch(threading.Condition(self._lock))
            self._fetch = fetch
        data = bytearray()
        total: Optional[int] = None
        try:
            while total is None or len(data) < total:
                with self._lock:
                    fetch.want, fetch.piece = len(data), None
                self._send(wire.ManifestRequest(len(data)).encode())
                asked = time.monotonic()
                with self._lock:
                    while fetch.piece is None:
                        if self.state != ESTABLISHED or self._session != session:
                            raise self._failure or ConnectionLost("the session ended during the manifest fetch")
                        now = time.monotonic()
                        if now >= deadline:
                            raise Timeout("the manifest did not come in time")
                        if now >= asked + retry:
                            break  # ask again: a request or a piece may be lost on a noisy link
                        fetch.cond.wait(min(deadline, asked + retry) - now)
                    piece = fetch.piece
                if piece is None:
                    continue
                if total is None:
                    total = piece.total
                    if total > MAX_MANIFEST:
                        raise ProtocolError(f"the manifest is {total} bytes; at most {MAX_MANIFEST} are taken")
                    if total == 0:
                        raise Error("the peer serves no manifest (total 0)")
                elif piece.total != total:
                    raise ProtocolError("the manifest's total changed between pieces")
                if not piece.data and len(data) < total:
                    raise ProtocolError("a manifest piece without bytes before the end")
                data += piece.data[:total - len(data)]
        finally:
            with self._lock:
                if self._fetch is fetch:
                    self._fetch = None
        if schema_hash(bytes(data)) != peer.schema:
            raise ProtocolError(f"the manifest's hash 0x{schema_hash(bytes(data)):08X} is not the schema "
                                f"0x{peer.schema:08X} of the peer's Hello")
        return bytes(data)


#: What :meth:`Peer.poll_item` returns while no item has come.
PENDING = object()

_MODE_TEXT = {0: "plain call", 1: "client stream", 2: "server stream", 3: "bidirectional stream"}


def _ms(seconds: float) -> int:
    """Whole milliseconds, rounded up (a sub-millisecond timeout is sent as 1)."""
    ms = int(seconds * 1000)
    return ms + 1 if ms < seconds * 1000 else ms
