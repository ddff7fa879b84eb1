"""The session of a wirecall link (docs/PROTOCOL.md, sections 5, 7 and 8): handshake,
keepalive and the idle limit, Close, the budgets, reading frames and writing them.

:class:`Session` owns a transport (anything with ``read``, ``write`` and ``close``), a
reader thread that decodes frames and dispatches them, and a timer thread. The caller's half
(:mod:`wirecall.caller`) and the server's (:mod:`wirecall.serving`) build on it, and
:class:`wirecall.peer.Peer` joins them: one end that both calls and serves, like the
reference endpoint.

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
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple, TypeVar

from . import wire
from .errors import (ConnectionLost, Error, ErrorCode, IncompatibleSchema, IncompatibleVersion, Refused)
from .framing import FrameDecoder, encode_frame
from .manifest import schema_hash
from .options import Budget, Options, whole_ms
from .records import CLOSED, ESTABLISHED, HANDSHAKING, InCall, ManifestFetch, OutCall
from .timers import Timers
from .wire import (FEATURE_CALL_TIMEOUT, FEATURE_HANDLES, FEATURE_MANIFEST, FEATURE_STREAMS, MODE_CALL,
                   PROTOCOL_VERSION)

log = logging.getLogger("wirecall")

_S = TypeVar("_S", bound="Session")
#: Credit adds up to at most this (section 6.6).
_CREDIT_CAP = 65535

class Session:
    """The session of one end of a link, and the state both halves share.

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
        #: Whether this side holds the peer's handles (a client's, see client.RemoteObject):
        #: its Hello then says so (feature bit 3, exporting none). Set before :meth:`start`.
        self.holds_handles = False
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
        #: Handles the peer withdrew in this session: (slot, generation) -> (code, reason).
        self._revoked: Dict[Tuple[int, int], Tuple[int, str]] = {}
        #: Handles held in this session (as many as live handle objects): a Revoke is
        #: recorded only for one of these, so a peer cannot grow ``_revoked`` at will.
        self._held: Set[Tuple[int, int]] = set()
        self._next_id = 0
        self._inbound: Dict[int, InCall] = {}
        self._handlers = 0
        self._executor: Optional[ThreadPoolExecutor] = None
        self._fetch: Optional[ManifestFetch] = None
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
    def start(self: _S) -> _S:
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
        if self.holds_handles:
            features |= FEATURE_HANDLES  # with max_handles 0: it exports none
        schema = schema_hash(self._manifest) if self._manifest else 0
        hello = wire.Hello(reply, PROTOCOL_VERSION, PROTOCOL_VERSION, features, o.max_frame, o.max_calls, o.max_calls,
                           whole_ms(o.keepalive), schema, whole_ms(o.call_timeout), o.stream_window, 0)
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
        elif isinstance(f, wire.Invoke):
            self._on_invoke(f, now)
        elif isinstance(f, wire.Revoke):
            self._on_revoke(f, now)
        elif isinstance(f, wire.Release):
            self._stray(now)  # this side exports nothing to release
        else:  # an unknown kind
            assert isinstance(f, wire.Unknown)
            if f.must_understand:
                self._violation(now)
            else:
                self.stats["ignored_frames"] += 1
                self._stray(now)

    # ------------------------------------------------------------------ handles
    def _on_invoke(self, f: wire.Invoke, now: float) -> None:
        """A method call on an object this side exported: it exports none, so every handle
        is stale."""
        with self._lock:
            established = self.state == ESTABLISHED
        if not established:
            self._stray(now)
            return
        self._send(wire.ErrorFrame(f.id, int(ErrorCode.StaleHandle), b"this side exports no objects").encode())

    def _on_revoke(self, f: wire.Revoke, now: float) -> None:
        """The peer withdrew an object whose handle this side may hold: later calls on it
        fail here, without being sent."""
        with self._lock:
            taken = self.state == ESTABLISHED and self.holds_handles and (f.slot, f.generation) in self._held
            if taken:
                self._revoked[(f.slot, f.generation)] = (f.code, f.reason.decode("utf-8", "replace"))
        if not taken:
            # Only a handle this side holds can be withdrawn from it: any other Revoke does
            # no work (and a flood of them meets the stray budget).
            self._stray(now)

    def revoked(self, slot: int, generation: int) -> Optional[Tuple[int, str]]:
        """Why the peer withdrew the object of this handle in the current session, if it did."""
        with self._lock:
            return self._revoked.get((slot, generation))

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
            self._revoked.clear()  # every handle of the session is gone anyway
            self._held.clear()
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

    # ------------------------------------------------------------------ streams (both sides)
    def _on_items(self, call_id: int, from_server: bool, seq: int, items: List[bytes], now: float) -> None:
        if from_server:
            self._items_for_call(call_id, seq, items, now)
        else:
            self._items_for_served(call_id, seq, items, now)

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
            self._end_for_call(f, now)
        else:
            self._end_for_served(f, now)

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

    # ------------------------------------------------------------------ serving

    # ------------------------------------------------------------------ the manifest

    # -- implemented by the caller's half (wirecall.caller) and the server's (wirecall.serving)
    def _on_answer(self, call_id: int, payload: bytes, code: Optional[int], now: float) -> None:
        raise NotImplementedError

    def _items_for_call(self, call_id: int, seq: int, items: List[bytes], now: float) -> None:
        raise NotImplementedError

    def _end_for_call(self, f: wire.End, now: float) -> None:
        raise NotImplementedError

    def _on_manifest_piece(self, piece: wire.ManifestPiece) -> None:
        raise NotImplementedError

    def _on_request(self, call_id: int, procedure: int, mode: int, depth: int, timeout_ms: Optional[int],
                    args: bytes, now: float) -> None:
        raise NotImplementedError

    def _items_for_served(self, call_id: int, seq: int, items: List[bytes], now: float) -> None:
        raise NotImplementedError

    def _end_for_served(self, f: wire.End, now: float) -> None:
        raise NotImplementedError

    def _on_cancel(self, call_id: int, now: float) -> None:
        raise NotImplementedError

    def _on_manifest_request(self, offset: int) -> None:
        raise NotImplementedError
