"""The caller's half of a :class:`~wirecall.peer.Peer`: calls made (ids, in-flight slots,
deadlines, Cancel and the grace period), the items of the streams it calls (sequence numbers
and credit both ways), and fetching the peer's manifest (docs/PROTOCOL.md, sections 6 and
10.2). Built on :class:`~wirecall.session.Session`; :class:`~wirecall.peer.Peer` joins both halves.
"""

import threading
import time
from typing import Any, Callable, List, Optional, Tuple

from . import wire
from .errors import (Cancelled, ConnectionLost, Error, ErrorCode, ProtocolError, RemoteError, Timeout, TooLarge)
from .framing import CRC_LEN
from .manifest import MAX_MANIFEST, schema_hash
from .options import whole_ms
from .session import Session
from .records import CLOSED, ESTABLISHED, PENDING, ManifestFetch, OutCall
from .wire import FEATURE_CALL_TIMEOUT, FEATURE_MANIFEST, FEATURE_STREAMS, MODE_CALL, MODE_SERVER_STREAM


class CallerSide(Session):
    """Calls this side makes, and the manifest it fetches."""

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
                       cond: Optional[threading.Condition], waker: Optional[Callable[[], None]],
                       on: Optional[Tuple[int, int, int]] = None) -> Optional[OutCall]:
        """Sends a Request (``mode`` 0) or an Open if a session and a call slot are free now;
        None if not (wait for a change and try again). Raises if the peer is closed or the
        frame would be too large. ``timeout`` None means no deadline (streams only).

        ``on`` (slot, generation, session): an Invoke of method ``procedure`` on the handle
        received in that session instead; a handle of an ended session, or one the peer
        revoked, fails with ``StaleHandle`` without being sent."""
        now = time.monotonic()
        with self._wlock:
            with self._lock:
                if self.state == CLOSED:
                    raise self._failure or ConnectionLost("closed")
                if on is not None and on[2] != self._session:
                    raise RemoteError(ErrorCode.StaleHandle, "the handle's session has ended")
                if self.state != ESTABLISHED or len(self._calls) >= self._in_flight_limit():
                    return None
                peer = self.peer_hello
                assert peer is not None
                if mode != MODE_CALL and not peer.features & FEATURE_STREAMS:
                    raise Error("the peer does not take streams (its Hello lacks feature bit 1)")
                if on is not None:
                    revoked = self._revoked.get((on[0], on[1]))
                    if revoked is not None:
                        code, reason = revoked
                        raise RemoteError(ErrorCode.StaleHandle,
                                          f"the device revoked the handle ({ErrorCode.of(code).name}): {reason}")
                call_id = self._allocate_id()
                timeout_ms = self._timeout_field(timeout, mode, peer)
                if on is not None:
                    body = wire.Invoke(call_id, procedure, on[0], on[1], timeout_ms, args).encode()
                elif mode == MODE_CALL:
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

    @property
    def session(self) -> int:
        """The number of the current session (or of the last one): a handle is bound to it."""
        return self._session

    def hold_handle(self, slot: int, generation: int, session: int) -> None:
        """A handle received in ``session`` is held (until released or the session ends)."""
        with self._lock:
            if session == self._session:
                self._held.add((slot, generation))

    def release_handle(self, slot: int, generation: int, session: int) -> None:
        """Gives a handle back (a Release frame), if its session is the current one and the
        peer did not withdraw it; otherwise it is gone already."""
        with self._lock:
            if self.state != ESTABLISHED or session != self._session:
                return
            self._held.discard((slot, generation))
            if self._revoked.pop((slot, generation), None) is not None:
                return
        self._send(wire.Release(slot, generation).encode())  # a failed write ends the session, which frees it

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
        return min(whole_ms(timeout), 0xFFFFFFFF)

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
                   waker: Optional[Callable[[], None]] = None, on: Optional[Tuple[int, int, int]] = None) -> OutCall:
        """Like :meth:`try_start_call`, waiting for a session and a free slot until
        ``deadline``; the call's waiting is done on a condition of the peer's lock."""
        cond = threading.Condition(self._lock) if waker is None else None
        while True:
            call = self.try_start_call(procedure, mode, args, timeout, cond, waker, on)
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
            fetch = ManifestFetch(threading.Condition(self._lock))
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

    def _end_for_call(self, f: wire.End, now: float) -> None:
        """The server's End on a stream this side called: checked against the items received."""
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
