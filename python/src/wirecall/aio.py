"""The asyncio flavour of the client::

    dev = await wirecall.connect_async("tcp://127.0.0.1:7000")
    await dev.add(2, 3)                     # 5
    async for n in dev.count(10):           # a server stream
        ...
    await dev.sum([1, 2, 3])                # a client stream (an iterable or an async iterable)

The protocol runs where the blocking client's does (a reader thread per connection, which
hands answers to the event loop with ``call_soon_threadsafe``), so both flavours share one
implementation of the session rules. Calls never block the event loop on an answer: they
wait on asyncio events. Cancelling the task of a call cancels the call on the device.
"""

import asyncio
import time
from typing import Any, AsyncIterator, Callable, Dict, List, Optional, Union

from .client import Binding, Device, connect, decode_result
from .errors import Cancelled, DecodeError, EncodeError, Error, ProtocolError, Timeout
from .manifest import Manifest, Procedure, schema_hash
from .peer import PENDING, OutCall, Peer
from .schema import Handle
from .transports import LinkUrl
from .wire import MODE_CALL, MODE_CLIENT_STREAM


class _Signal:
    """A wake-up for one waiting coroutine, settable from any thread (the peer calls
    :meth:`wake` under its lock). Lighter than ``asyncio.wait_for`` on an ``Event``, which
    makes a task per wait: one future and one timer handle."""

    __slots__ = ("loop", "woken", "future")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.woken = False
        self.future: "Optional[asyncio.Future[None]]" = None

    def wake(self) -> None:
        self.loop.call_soon_threadsafe(self._set)

    def _set(self) -> None:
        self.woken = True
        if self.future is not None and not self.future.done():
            self.future.set_result(None)

    async def wait(self, until: Optional[float]) -> None:
        """Waits for a wake (one that came since the last wait counts) or until the
        monotonic time ``until``."""
        if not self.woken:
            left = None if until is None else until - time.monotonic()
            if left is not None and left <= 0:
                return
            self.future = self.loop.create_future()
            timer = None if left is None else self.loop.call_later(left, self._set)
            try:
                await self.future
            finally:
                self.future = None
                if timer is not None:
                    timer.cancel()
        self.woken = False


async def _start(peer: Peer, proc_id: int, mode: int, args: bytes, timeout: Optional[float], start_by: float,
                 signal: _Signal) -> OutCall:
    """Sends the Request or Open once a session and a call slot are free."""
    call = peer.try_start_call(proc_id, mode, args, timeout, None, signal.wake)
    if call is not None:
        return call
    changes = _Signal(signal.loop)
    peer.add_change_waker(changes.wake)
    try:
        while True:
            call = peer.try_start_call(proc_id, mode, args, timeout, None, signal.wake)
            if call is not None:
                return call
            if time.monotonic() >= start_by:
                raise Timeout("no session or free call slot before the call's deadline")
            await changes.wait(start_by)
    finally:
        peer.remove_change_waker(changes.wake)


class AsyncDevice:
    """A connected device whose procedures are coroutine functions (``await dev.add(2, 3)``);
    stream procedures return async iterators (``async for x in dev.count(10)``)."""

    def __init__(self, device: Device) -> None:
        self._device = device
        self._peer = device.peer
        self.manifest = device.manifest
        self.procedures: Dict[str, Callable[..., Any]] = {}
        if self.manifest is not None:
            schema = schema_hash(self.manifest.to_bytes())
            for proc in self.manifest.procedures:
                self.procedures[proc.name] = Binding(proc).make(self._invoke, self.manifest.service, schema,
                                                                is_async=True)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        procedures = self.__dict__.get("procedures", {})
        if name in procedures:
            return procedures[name]
        raise AttributeError(f"{type(self).__name__} has no procedure or attribute {name!r}")

    def __getitem__(self, name: str) -> Callable[..., Any]:
        return self.procedures[name]

    def __dir__(self) -> List[str]:
        return sorted(set(super().__dir__()) | set(self.procedures))

    def __repr__(self) -> str:
        return repr(self._device).replace("wirecall.Device", "wirecall.AsyncDevice", 1)

    @property
    def schema(self) -> int:
        return self._device.schema

    @property
    def stats(self) -> Dict[str, int]:
        return self._device.stats

    async def close(self) -> None:
        """Closes the connection (in a worker thread: closing joins the reader)."""
        await asyncio.get_running_loop().run_in_executor(None, self._device.close)

    async def __aenter__(self) -> "AsyncDevice":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def call_raw(self, procedure: int, args: bytes, timeout: Optional[float] = None) -> bytes:
        """Calls procedure number ``procedure`` with encoded arguments; the result's bytes."""
        peer = self._peer
        timeout = peer.options.call_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        signal = _Signal(asyncio.get_running_loop())
        call = await _start(peer, procedure, MODE_CALL, args, timeout, deadline, signal)
        try:
            while call.outcome is None and time.monotonic() < deadline:
                await signal.wait(deadline)
        except asyncio.CancelledError:
            peer.abandon(call, Cancelled("the task was cancelled"))
            raise
        return peer.outcome(call, deadline_passed=True)

    def _invoke(self, binding: Binding, values: List[Any], items: Any, timeout: Optional[float]) -> Any:
        proc = binding.proc
        if isinstance(proc.output, Handle):
            # Refused before anything is sent: the device would export an object that
            # nothing here could call or release before the session ends.
            raise Error(f"{proc.name} returns a {proc.output}: handles are not supported by the asyncio client "
                        f"yet (the blocking client, wirecall.connect, holds them)")
        args = proc.encode_args(values)
        if proc.mode == MODE_CALL:
            return self._call(proc, args, timeout)
        stream = AsyncItemStream(self._peer, proc, args, timeout, items)
        if proc.mode == MODE_CLIENT_STREAM:
            return stream.run_client_stream()
        return stream

    async def _call(self, proc: Procedure, args: bytes, timeout: Optional[float]) -> Any:
        data = await self.call_raw(proc.id, args, timeout)
        return decode_result(proc.output, data, f"the result of {proc.name}")


class AsyncItemStream:
    """A stream call for asyncio: an async iterator over the server's items, opened on first
    use; the caller's items (an iterable or an async iterable) are sent by a task of its own.
    ``aclose()`` (or leaving an ``async with``) cancels it on the server."""

    def __init__(self, peer: Peer, proc: Procedure, args: bytes, timeout: Optional[float], items: Any) -> None:
        self._peer = peer
        self.procedure = proc
        self._args = args
        self._timeout = timeout
        self._items = items
        self._call: Optional[OutCall] = None
        self._signal: Optional[_Signal] = None
        self._deadline: Optional[float] = None
        self._feeder: Optional["asyncio.Task[None]"] = None
        self._count = 0

    async def _open(self) -> OutCall:
        if self._call is None:
            loop = asyncio.get_running_loop()
            self._signal = _Signal(loop)
            now = time.monotonic()
            self._deadline = None if self._timeout is None else now + self._timeout
            start_by = now + (self._peer.options.call_timeout if self._timeout is None else self._timeout)
            self._call = await _start(self._peer, self.procedure.id, self.procedure.mode, self._args, self._timeout,
                                      start_by, self._signal)
            if self.procedure.in_item is not None and self.procedure.item is not None:
                self._feeder = loop.create_task(self._feed())
        return self._call

    def _until(self) -> float:
        idle = time.monotonic() + self._peer.options.stream_idle_timeout
        return idle if self._deadline is None else min(idle, self._deadline)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        call = await self._open()
        assert self._signal is not None and self.procedure.item is not None
        until = self._until()
        try:
            while True:
                got = self._peer.poll_item(call)
                if got is not PENDING:
                    break
                if time.monotonic() >= until:
                    self._peer.abandon(call, Timeout("nothing moved on the stream for its idle timeout"))
                    self._peer.outcome(call)
                await self._signal.wait(until)
        except asyncio.CancelledError:
            self._peer.abandon(call, Cancelled("the task was cancelled"))
            raise
        if got is None:
            raise StopAsyncIteration
        try:
            value = self.procedure.item.decode_value(got)
        except DecodeError as e:
            self._peer.abandon(call, ProtocolError(f"item {self._count} of {self.procedure.name}: {e}"))
            raise
        self._count += 1
        return value

    async def _send_all(self) -> None:
        call = await self._open()
        assert self._signal is not None and self.procedure.in_item is not None
        items = self._items
        if hasattr(items, "__aiter__"):
            async for value in items:
                await self._send(call, value)
        else:
            for value in items:
                await self._send(call, value)
        self._peer.end_items(call)

    async def _send(self, call: OutCall, value: Any) -> None:
        assert self._signal is not None and self.procedure.in_item is not None
        try:
            data = self.procedure.in_item.encode_value(value)
        except EncodeError as e:
            self._peer.abandon(call, EncodeError(f"an item of {self.procedure.name}: {e}"))
            raise
        until = self._until()
        while not self._peer.try_send_item(call, data):
            if time.monotonic() >= until:
                self._peer.abandon(call, Timeout("no credit from the server for the stream's idle timeout"))
                self._peer.outcome(call)
            await self._signal.wait(until)

    async def _feed(self) -> None:
        try:
            await self._send_all()
        except Error:
            pass  # the call ended with that error: the reading side raises it
        except Exception as e:
            assert self._call is not None
            self._peer.abandon(self._call, Error(f"the items of {self.procedure.name} failed: {e!r}"))

    async def run_client_stream(self) -> Any:
        """Sends every item, then waits for and decodes the server's one answer."""
        call = await self._open()
        assert self._signal is not None
        try:
            await self._send_all()
            until = self._deadline if self._deadline is not None else self._until()
            while call.outcome is None and time.monotonic() < until:
                await self._signal.wait(until)
        except asyncio.CancelledError:
            self._peer.abandon(call, Cancelled("the task was cancelled"))
            raise
        data = self._peer.outcome(call, deadline_passed=True)
        return decode_result(self.procedure.output, data, f"the result of {self.procedure.name}")

    async def aclose(self) -> None:
        """Cancels the call on the server (a no-op once it ended)."""
        if self._feeder is not None:
            self._feeder.cancel()
        if self._call is not None:
            self._peer.abandon(self._call, Cancelled(f"{self.procedure.name} was cancelled"))

    def __del__(self) -> None:
        # As for the blocking stream: dropped before its end, it is cancelled.
        call = getattr(self, "_call", None)
        if call is not None and call.outcome is None:
            peer, name = self._peer, self.procedure.name
            peer.defer(lambda: peer.abandon(call, Cancelled(f"{name} was dropped before its end")))

    async def __aenter__(self) -> "AsyncItemStream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


async def connect_async(url: Union[str, LinkUrl], **options: Any) -> AsyncDevice:
    """Connects as :func:`wirecall.connect` does (same options), without blocking the event
    loop: the link is opened and the manifest fetched on a worker thread."""
    loop = asyncio.get_running_loop()
    device = await loop.run_in_executor(None, lambda: connect(url, **options))
    return AsyncDevice(device)


__all__ = ["connect_async", "AsyncDevice", "AsyncItemStream", "Manifest"]
