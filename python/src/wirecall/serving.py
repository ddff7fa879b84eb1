"""The server's half of a :class:`~wirecall.peer.Peer`: admitting the peer's calls (NoSession,
Busy, TooDeep, UnknownProcedure, a mode that does not match), their deadlines, Cancels and
answers, the items of served streams, and pieces of the manifest (docs/PROTOCOL.md,
sections 6 and 10.2). The handler itself runs in :meth:`wirecall.server.Service.run`.
Built on :class:`~wirecall.session.Session`; :class:`~wirecall.peer.Peer` joins both halves.
"""

import threading
import time
from typing import Any, List, Optional

from . import wire
from .errors import Cancelled, ErrorCode, Timeout
from .framing import CRC_LEN
from .session import Session
from .records import CLOSED, ESTABLISHED, InCall
from .varint import encode as varint_encode
from .wire import FEATURE_CALL_TIMEOUT, MODE_CALL, MODE_CLIENT_STREAM

#: An Error frame without detail with a 5-byte id: the smallest answer that always fits.
_ERROR_OVERHEAD = 1 + 5 + 1 + CRC_LEN
_MODE_TEXT = {0: "plain call", 1: "client stream", 2: "server stream", 3: "bidirectional stream"}


class ServingSide(Session):
    """Calls the peer makes to this side."""

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

    def _on_manifest_request(self, offset: int) -> None:
        if self.state != ESTABLISHED:
            return  # outside a session: ignored
        total = len(self._manifest)
        head = 1 + len(varint_encode(total)) + len(varint_encode(offset))
        room = self.frame_limit() - CRC_LEN - head
        data = self._manifest[offset:offset + max(0, room)] if offset < total else b""
        self._send(wire.ManifestPiece(total, offset, data).encode())

    def _end_for_served(self, f: wire.End, now: float) -> None:
        """The caller's End on a stream this side serves: checked against the items received."""
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
