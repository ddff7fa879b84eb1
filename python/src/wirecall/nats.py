"""Devices on a NATS bus, called through ``wirecall-gateway`` (docs/NATS.md), with asyncio and
nats-py (``pip install 'wirecall[nats]'``)::

    import wirecall.nats

    bus = await wirecall.nats.connect("nats://127.0.0.1:4222")
    for d in await bus.devices():              # the gateways' answers to $SRV.INFO
        print(d.id, d.service, [p.signature for p in d.procedures])
    dev = bus.device("demo")
    await dev.add(2, 40)                       # 42
    await dev.call("add", [2, 40], timeout=1)  # the same, by name
    async for n in dev.count(5):               # a server stream
        ...
    await bus.close()

On the bus every payload is JSON: arguments go as the gateway takes them (an array by
position, an object by parameter name), results come back decoded by ``json``. The gateway
encodes them against the device's manifest, so this module needs no manifest.

Every reply comes to one wildcard subscription on the bus's own inbox, each request with a
reply subject of its own there: that subject is also what a cancel names
(``wirecall.ID.PROCEDURE.cancel``), sent when a call's task is cancelled, when its timeout
passes without an answer, when a stream is left before its end, and for every call and
stream still waiting when the bus is closed.
"""

import asyncio
import itertools
import json
import math
import re
from typing import Any, Awaitable, Callable, Dict, Generator, List, NamedTuple, Optional, Set, Tuple, Union

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from .errors import (Busy, Cancelled, ConnectionLost, DeadlineExceeded, DecodeError, Error, IncompatibleSchema,
                     ProtocolError, RemoteError, Timeout)

#: The request header that gives the call's deadline in milliseconds (docs/NATS.md).
TIMEOUT_HEADER = "Wirecall-Timeout-Ms"
#: A stream item's header: its number, from 1.
ITEM_HEADER = "Wirecall-Item"
#: The header of a stream's last message when it ended well: how many items it sent.
END_HEADER = "Wirecall-End"
#: The services API's error headers: the text and the HTTP-like code.
ERROR_HEADER = "Nats-Service-Error"
ERROR_CODE_HEADER = "Nats-Service-Error-Code"

#: The deadline of a call that names none: the device's own default (docs/NATS.md).
DEFAULT_TIMEOUT = 5.0
#: How long after its deadline a call still waits for the gateway's own answer (504 or the
#: result that crossed it) before giving up on the gateway itself.
GRACE = 1.0
#: How long a stream may bring nothing before it is cancelled (the protocol's stream idle
#: timeout): a gateway that was killed never sends the stream's end.
STREAM_IDLE = 30.0

# A device id and a procedure name are each one subject token (docs/NATS.md).
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")
_SERVICE_PREFIX = "wirecall-"


class NoGateway(ConnectionLost):
    """No gateway on the bus serves the device (nobody answered its subject)."""


class ProcedureInfo(NamedTuple):
    """One endpoint of a device as its gateway announces it."""

    name: str
    subject: str
    #: As ``wirecall list`` prints it: ``add(a: i32, b: i32) -> i32``.
    signature: str
    #: ``call`` or ``server_stream``.
    mode: str
    procedure_id: Optional[int]


class DeviceInfo(NamedTuple):
    """A device on the bus: its id, the service in its manifest, its schema hash and the
    procedures its gateways serve. ``gateways`` are the service instance ids that answered."""

    id: str
    service: str
    schema: int
    link: str
    procedures: List[ProcedureInfo]
    gateways: List[str]


def error_for(code: int, text: str) -> Error:
    """The exception for a gateway's error answer: its code (``Nats-Service-Error-Code``)
    and text (``Nats-Service-Error``), as the table of docs/NATS.md gives them."""
    if code == 400:
        return RemoteError("BadArguments", text)
    if code == 404:
        return RemoteError("UnknownProcedure", text)
    if code == 409:
        return IncompatibleSchema(text)
    if code == 413:
        return RemoteError("TooLarge", text)
    if code == 499:
        return Cancelled(text)
    if code == 502:
        return DecodeError(text)
    if code == 503:
        if text.startswith("Busy"):
            return Busy(detail=re.sub(r"^Busy:?\s*", "", text))
        if "shutting down" in text:
            return RemoteError("ShuttingDown", text)
        return ConnectionLost(text)
    if code == 504:
        return DeadlineExceeded(detail=text)
    return RemoteError("Internal", f"{text} (code {code})")


def _check_token(what: str, token: str) -> str:
    if not _TOKEN.match(token):
        raise ValueError(f"bad {what} {token!r}: use letters, digits, `-` and `_` only")
    return token


def _jsonable(value: Any) -> Any:
    """``json.dumps``'s fallback: bytes go as an array of numbers (the codec's convention)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return list(bytes(value))
    raise TypeError(f"{type(value).__name__} is not JSON: {value!r}")


def _payload(args: Any) -> bytes:
    """The request's payload: ``None`` is no arguments (an empty payload)."""
    if args is None:
        return b""
    try:
        return json.dumps(args, default=_jsonable).encode()
    except (TypeError, ValueError) as e:
        raise TypeError(f"the arguments are not JSON: {e}") from None


def _decode(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError as e:
        raise DecodeError(f"the gateway's answer is not JSON: {e}: {data[:80]!r}") from None


def _timeout_headers(timeout: float) -> Dict[str, str]:
    """Every request carries its deadline: NATS requests have none of their own."""
    if not timeout > 0:
        raise ValueError(f"a timeout must be above 0 seconds, not {timeout}")
    return {TIMEOUT_HEADER: str(max(1, math.ceil(timeout * 1000)))}


def _is_no_responders(msg: Msg) -> bool:
    """NATS's own answer when nobody subscribes to a request's subject: status 503, empty."""
    headers = msg.headers or {}
    return headers.get("Status") == "503" and ERROR_CODE_HEADER not in headers and not msg.data


def _error_of(msg: Msg) -> Optional[Error]:
    """The gateway's error answer, if ``msg`` is one: either error header makes it one, and
    a missing or unreadable code is 500 (as ``wirecall call --nats`` reads it)."""
    headers = msg.headers or {}
    code = headers.get(ERROR_CODE_HEADER)
    if code is None and ERROR_HEADER not in headers:
        return None
    try:
        number = int(code or "")
    except ValueError:
        number = 500
    return error_for(number, headers.get(ERROR_HEADER, ""))


class _Route(NamedTuple):
    """What takes the messages of one reply subject."""

    take: Callable[[Msg], None]
    #: Told if the bus closes first.
    fail: Callable[[Error], None]
    #: The request's subject, whose ``.cancel`` the bus publishes if it closes first; ``None``
    #: for a request that has nothing to cancel (``$SRV.INFO``).
    subject: Optional[str]


async def flush_after_subscribe(nc: NatsClient) -> None:
    """Returns once the server has the subscriptions just made on ``nc``. One ``flush`` is
    not enough with nats-py: it writes its PING to the socket at once, while the SUB waits
    in the buffer for the flusher task, so the PONG may come back before the server has the
    SUB (and a message sent at once from another connection finds nobody). By the second
    PING the flusher has run (the first round trip let it), so the SUB went before it."""
    await nc.flush()
    await nc.flush()


def _device_info(data: bytes) -> Optional[Tuple[DeviceInfo, str]]:
    """A ``$SRV.INFO`` answer as a device and its gateway's instance id, or ``None`` for
    another kind of service (or an answer that does not parse)."""
    try:
        info = json.loads(data)
        name = info["name"]
        metadata = info.get("metadata") or {}
        if not name.startswith(_SERVICE_PREFIX) or "schema_hash" not in metadata:
            return None
        procedures = []
        for e in info.get("endpoints") or []:
            meta = e.get("metadata") or {}
            number = meta.get("procedure_id")
            procedures.append(ProcedureInfo(e["name"], e["subject"], meta.get("signature", ""),
                                            meta.get("mode", "call"), None if number is None else int(number)))
        procedures.sort(key=lambda p: (p.procedure_id is None, p.procedure_id or 0))
        device = DeviceInfo(name[len(_SERVICE_PREFIX):], metadata.get("wirecall_service", ""),
                            int(metadata["schema_hash"], 16), metadata.get("link", ""), procedures, [])
        return device, str(info.get("id", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class Bus:
    """A NATS connection that calls wirecall devices through their gateways.

    Made by :func:`connect` (or :meth:`over` for a connection of your own); ``timeout`` is
    the deadline of calls and streams that name none."""

    def __init__(self, nc: NatsClient, timeout: float = DEFAULT_TIMEOUT, owned: bool = True) -> None:
        self.nc = nc
        self.timeout = timeout
        self._owned = owned
        self._prefix = nc.new_inbox()
        self._numbers = itertools.count(1)
        # Reply subject -> what takes its messages, what to tell and what to cancel if the
        # bus closes first.
        self._routes: Dict[str, _Route] = {}
        # The subscription to the bus's inbox: close() removes it, as the connection may be
        # the caller's and outlive the bus.
        self._subscription: Optional[Subscription] = None
        # Cancels on their way out (a task each, so that a cancelled caller need not await).
        self._sending: Set["asyncio.Task[None]"] = set()
        self._loop = asyncio.get_running_loop()

    @classmethod
    async def over(cls, nc: NatsClient, timeout: float = DEFAULT_TIMEOUT) -> "Bus":
        """A bus on a NATS connection the caller made (and closes)."""
        bus = cls(nc, timeout, owned=False)
        await bus._subscribe()
        return bus

    async def _subscribe(self) -> None:
        self._subscription = await self.nc.subscribe(self._prefix + ".*", cb=self._route)
        # The subscription is on the server before any request names it as reply subject.
        await flush_after_subscribe(self.nc)

    async def _route(self, msg: Msg) -> None:
        route = self._routes.get(msg.subject)
        if route is not None:
            route.take(msg)

    def _reply_subject(self) -> str:
        return f"{self._prefix}.{next(self._numbers)}"

    def device(self, id: str, timeout: Optional[float] = None) -> "BusDevice":
        """The device with id ``id`` (no request is made: a device no gateway serves fails at
        its first call with :class:`NoGateway`). ``timeout`` is the default deadline of its
        calls and streams."""
        return BusDevice(self, _check_token("device id", id), self.timeout if timeout is None else timeout)

    async def devices(self, timeout: float = 2.0, quiet: float = 0.25) -> List[DeviceInfo]:
        """The devices on the bus, by id: every gateway answers ``$SRV.INFO`` once per device
        it serves. Gathers answers until none came for ``quiet`` seconds, at most ``timeout``
        seconds in all; a device served by several gateways is one entry that lists them all
        (one per schema, should two gateways serve different schemas under one id)."""
        answers: "asyncio.Queue[Msg]" = asyncio.Queue()
        reply = self._reply_subject()
        self._routes[reply] = _Route(answers.put_nowait, lambda e: None, None)
        found: Dict[Tuple[str, int], DeviceInfo] = {}
        try:
            await self.nc.publish("$SRV.INFO", b"", reply=reply)
            end = self._loop.time() + timeout
            wait = timeout  # the first answer may take the whole bound; the rest come close
            while True:
                left = end - self._loop.time()
                if left <= 0:
                    break
                try:
                    msg = await asyncio.wait_for(answers.get(), min(left, wait))
                except asyncio.TimeoutError:
                    break
                if _is_no_responders(msg):
                    break  # no service at all on the bus
                wait = quiet
                parsed = _device_info(msg.data)
                if parsed is None:
                    continue
                device, gateway = parsed
                known = found.setdefault((device.id, device.schema), device)
                known.gateways.append(gateway)
        finally:
            self._routes.pop(reply, None)
        return sorted(found.values(), key=lambda d: (d.id, d.schema))

    async def device_info(self, id: str, timeout: float = 2.0) -> Optional[DeviceInfo]:
        """One gateway's description of device ``id`` (``$SRV.INFO.wirecall-ID``), or
        ``None`` when no gateway serves it."""
        subject = f"$SRV.INFO.{_SERVICE_PREFIX}{_check_token('device id', id)}"
        try:
            msg = await self.nc.request(subject, b"", timeout=timeout)
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
            return None
        parsed = _device_info(msg.data)
        return None if parsed is None else parsed[0]._replace(gateways=[parsed[1]])

    async def call(self, device: str, procedure: str, args: Any = None, timeout: Optional[float] = None) -> Any:
        """Calls ``procedure`` of ``device`` with JSON ``args`` (a list by position, a dict by
        name, a bare value, ``None`` for none) and returns its JSON result. The timeout (the
        bus's default if ``None``) goes to the gateway as the call's deadline."""
        timeout = self.timeout if timeout is None else timeout
        subject = f"wirecall.{_check_token('device id', device)}.{_check_token('procedure name', procedure)}"
        payload = _payload(args)
        headers = _timeout_headers(timeout)
        answer: "asyncio.Future[Msg]" = self._loop.create_future()

        def take(msg: Msg) -> None:
            if not answer.done():
                answer.set_result(msg)

        def fail(e: Error) -> None:
            if not answer.done():
                answer.set_exception(e)

        reply = self._reply_subject()
        self._routes[reply] = _Route(take, fail, subject)
        try:
            await self._publish(subject, payload, reply, headers)
            try:
                msg = await asyncio.wait_for(answer, timeout + GRACE)
            except asyncio.TimeoutError:
                self._cancel(subject, reply)
                raise Timeout(f"no answer to {subject} within {timeout} s (the gateway was sent a cancel)") from None
            except asyncio.CancelledError:
                self._cancel(subject, reply)
                raise
        finally:
            self._routes.pop(reply, None)
        if _is_no_responders(msg):
            raise await self._nobody_serves(device, procedure)
        failure = _error_of(msg)
        if failure is not None:
            raise failure
        if msg.headers and ITEM_HEADER in msg.headers:
            self._cancel(subject, reply)
            raise Error(f"{procedure} is a server stream: iterate it (`async for x in dev.{procedure}(...)`)")
        return _decode(msg.data)

    def stream(self, device: str, procedure: str, args: Any = None, timeout: Optional[float] = None,
               idle: float = STREAM_IDLE) -> "BusStream":
        """A server stream of ``procedure``: iterate it with ``async for``. ``timeout`` (the
        bus's default if ``None``) bounds the whole stream, sent as its deadline as for a
        call; ``idle`` is how long it may bring nothing."""
        return BusStream(self, device, procedure, args, self.timeout if timeout is None else timeout, idle)

    async def _publish(self, subject: str, payload: bytes, reply: str, headers: Optional[Dict[str, str]]) -> None:
        try:
            await self.nc.publish(subject, payload, reply=reply, headers=headers)
        except nats.errors.Error as e:
            raise ConnectionLost(f"cannot send to NATS: {e!r}") from e

    def _cancel(self, subject: str, reply: str) -> None:
        """Publishes the cancel of the request whose reply subject is ``reply``, as a task of
        its own: callable from a cancelled task, and from a finaliser on the loop's thread."""
        if self.nc.is_closed:
            return

        async def send() -> None:
            try:
                await self.nc.publish(subject + ".cancel", reply.encode())
                await self.nc.flush()
            except nats.errors.Error:
                # The connection is closing or closed: the gateway hears nothing more from
                # this caller anyway, and the call ends at its deadline there.
                pass

        task = self._loop.create_task(send())
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _nobody_serves(self, device: str, procedure: str) -> Error:
        """Why nobody answered ``wirecall.DEVICE.PROCEDURE``: no gateway serves the device,
        or its gateway serves no such procedure (asked with ``$SRV.INFO``)."""
        info = await self.device_info(device)
        if info is None:
            return NoGateway(f"no gateway serves device {device} on this bus (nobody answers "
                             f"wirecall.{device}.{procedure})")
        served = ", ".join(p.name for p in info.procedures)
        return RemoteError("UnknownProcedure", f"device {device} has no procedure {procedure} on the bus "
                                               f"(its gateway serves {served})")

    async def close(self) -> None:
        """Fails the calls and streams still waiting (:class:`ConnectionLost`) and sends their
        cancels, so that the devices stop them rather than run them to their deadlines
        holding call slots; sends the cancels already on their way, removes the bus's
        subscription, then closes the connection if this bus made it."""
        routes = list(self._routes.items())
        self._routes.clear()
        for _, route in routes:
            route.fail(ConnectionLost("the bus was closed"))
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
        if self.nc.is_closed:
            return
        try:
            for reply, route in routes:
                if route.subject is not None:
                    await self.nc.publish(route.subject + ".cancel", reply.encode())
            await self.nc.flush()
            if self._subscription is not None:
                await self._subscription.unsubscribe()
                self._subscription = None
        except nats.errors.Error:
            # The connection is closing or closed under the bus: the gateway hears nothing
            # more from it, and the calls end at their deadlines there.
            pass
        if self._owned and not self.nc.is_closed:
            await self.nc.close()

    async def __aenter__(self) -> "Bus":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


class BusStream:
    """The items of one server stream, as they arrive (``async for``). Leaving early
    (:meth:`aclose`, ``async with``, or dropping it) cancels the stream on the device.
    Once it ended well, ``count`` is the number of items the gateway said it sent and
    ``result`` the procedure's final value (``None`` for none)."""

    def __init__(self, bus: Bus, device: str, procedure: str, args: Any, timeout: float, idle: float) -> None:
        self.procedure = procedure
        self._bus = bus
        self._subject = f"wirecall.{_check_token('device id', device)}.{_check_token('procedure name', procedure)}"
        self._device = device
        self._payload = _payload(args)
        self._headers = _timeout_headers(timeout)
        self._timeout = timeout
        self._idle = idle
        # The messages of the reply subject, or the error that ended the stream first (the
        # bus closed). The bus holds the queue, not the stream: a stream dropped by a loop
        # left with `break` is finalised at once, and its finaliser sends the cancel.
        self._queue: "asyncio.Queue[Union[Msg, Error]]" = asyncio.Queue()
        self._reply: Optional[str] = None
        self._deadline = 0.0
        self._ended = False
        self._items = 0
        self.count: Optional[int] = None
        self.result: Any = None

    async def _open(self) -> None:
        self._reply = self._bus._reply_subject()
        self._bus._routes[self._reply] = _Route(self._queue.put_nowait, self._queue.put_nowait, self._subject)
        self._deadline = self._bus._loop.time() + self._timeout + GRACE
        await self._bus._publish(self._subject, self._payload, self._reply, self._headers)

    def _end(self, cancel: bool) -> None:
        self._ended = True
        if self._reply is not None:
            self._bus._routes.pop(self._reply, None)
            if cancel:
                self._bus._cancel(self._subject, self._reply)

    def __aiter__(self) -> "BusStream":
        return self

    async def __anext__(self) -> Any:
        if self._ended:
            raise StopAsyncIteration
        try:
            if self._reply is None:
                await self._open()
            wait = min(self._idle, max(0.0, self._deadline - self._bus._loop.time()))
            msg = await asyncio.wait_for(self._queue.get(), wait)
        except asyncio.TimeoutError:
            self._end(cancel=True)
            raise Timeout(f"{self._subject}: no item within {wait:.3g} s (the gateway was sent a cancel)") from None
        except asyncio.CancelledError:
            self._end(cancel=True)
            raise
        except ConnectionLost:  # the request could not be sent
            self._end(cancel=False)
            raise
        if isinstance(msg, Error):
            self._end(cancel=False)
            raise msg
        headers = msg.headers or {}
        if ITEM_HEADER in headers:
            self._items += 1
            if headers[ITEM_HEADER].strip() != str(self._items):
                # Core NATS drops messages for a slow consumer: say so rather than skip.
                self._end(cancel=True)
                raise ProtocolError(f"{self._subject}: item {self._items} was lost on the bus "
                                    f"(the next was {headers[ITEM_HEADER]})")
            return _decode(msg.data)
        self._end(cancel=False)
        if END_HEADER in headers:
            try:
                self.count = int(headers[END_HEADER])
            except ValueError:
                raise ProtocolError(f"{self._subject}: the stream's end says {headers[END_HEADER]!r} items, "
                                    "not a number") from None
            if self.count != self._items:
                raise ProtocolError(f"{self._subject}: the gateway sent {self.count} items, "
                                    f"{self._items} arrived")
            # The procedure's final value, if the gateway sent one (a server stream's is
            # mostly `()`: null).
            self.result = _decode(msg.data) if msg.data else None
            raise StopAsyncIteration
        if _is_no_responders(msg):
            raise await self._bus._nobody_serves(self._device, self.procedure)
        failure = _error_of(msg)
        if failure is not None:
            raise failure
        raise Error(f"{self.procedure} is not a server stream (it answered once): await it instead")

    async def aclose(self) -> None:
        """Cancels the stream on the device, if it was started and has not ended."""
        if not self._ended:
            self._end(cancel=self._reply is not None)

    async def __aenter__(self) -> "BusStream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # A loop left with `break` drops its stream: cancel it from the loop's thread.
        if not self._ended and self._reply is not None:
            try:
                loop = self._bus._loop
                if not loop.is_closed():
                    loop.call_soon_threadsafe(self._end, True)
            except RuntimeError:
                pass


class Invocation:
    """``dev.NAME(args)``: await it for a call's result, or iterate it (``async for``, or
    ``async with ... as stream``) for a server stream's items. Nothing is sent before either."""

    def __init__(self, device: "BusDevice", procedure: str, args: Any, timeout: Optional[float]) -> None:
        self._device = device
        self._procedure = procedure
        self._args = args
        self._timeout = timeout
        self._stream: Optional[BusStream] = None

    def __await__(self) -> Generator[Any, None, Any]:
        return self._device.call(self._procedure, self._args, timeout=self._timeout).__await__()

    def __aiter__(self) -> BusStream:
        return self._device.stream(self._procedure, self._args, timeout=self._timeout)

    async def __aenter__(self) -> BusStream:
        self._stream = self._device.stream(self._procedure, self._args, timeout=self._timeout)
        return self._stream

    async def __aexit__(self, *exc: Any) -> None:
        if self._stream is not None:
            await self._stream.aclose()


class BusDevice:
    """A device on the bus, called by method (``await dev.add(2, 40)``) or by name
    (``await dev.call("add", [2, 40])``). Each method takes positional arguments or keyword
    arguments (by parameter name), and ``timeout=`` in seconds."""

    def __init__(self, bus: Bus, id: str, timeout: float) -> None:
        self.bus = bus
        self.id = id
        self.timeout = timeout

    def __getattr__(self, name: str) -> Callable[..., Invocation]:
        if name.startswith("_"):
            raise AttributeError(name)
        _check_token("procedure name", name)

        def method(*args: Any, timeout: Optional[float] = None, **kwargs: Any) -> Invocation:
            if args and kwargs:
                raise TypeError(f"{name}: give the arguments by position or by name, not both")
            return Invocation(self, name, kwargs if kwargs else list(args), timeout)

        method.__name__ = name
        return method

    def call(self, procedure: str, args: Any = None, *, timeout: Optional[float] = None) -> Awaitable[Any]:
        """Calls ``procedure`` with JSON ``args``: see :meth:`Bus.call`."""
        return self.bus.call(self.id, procedure, args, self.timeout if timeout is None else timeout)

    def stream(self, procedure: str, args: Any = None, *, timeout: Optional[float] = None,
               idle: float = STREAM_IDLE) -> BusStream:
        """The items of server stream ``procedure``: see :meth:`Bus.stream`."""
        return self.bus.stream(self.id, procedure, args, self.timeout if timeout is None else timeout, idle)

    async def info(self) -> Optional[DeviceInfo]:
        """What a gateway says of this device, or ``None`` if none serves it."""
        return await self.bus.device_info(self.id)

    def __repr__(self) -> str:
        return f"<wirecall.nats.BusDevice {self.id}>"


async def connect(servers: Union[str, List[str]] = "nats://127.0.0.1:4222", *, timeout: float = DEFAULT_TIMEOUT,
                  **options: Any) -> Bus:
    """Connects to NATS (``options`` go to ``nats.connect``) and returns a :class:`Bus`;
    ``timeout`` is the deadline of calls and streams that name none."""
    try:
        nc = await nats.connect(servers, **options)
    except Exception as e:  # nats-py raises several kinds; each means the same here
        raise ConnectionLost(f"cannot connect to NATS at {servers}: {e}") from e
    bus = Bus(nc, timeout)
    await bus._subscribe()
    return bus
