"""Calling a wirecall device bound at run time: connect, read its manifest, call by name.

::

    dev = wirecall.connect("tcp://127.0.0.1:7000")
    dev.add(2, 3)                 # 5; also dev.add(a=2, b=3)
    for n in dev.count(10):       # a server stream
        print(n)
    with dev.open("temp") as ch:  # a procedure that returns a handle: its methods
        ch.configure(3)           # are called on the object, in the same session
        ch.read()
    dev.procedures                # {'add': <add(a: i32, b: i32) -> i32>, ...}
    help(dev.add)                 # add(a: i32, b: i32, *, timeout=None) -> i32

A :class:`Device` is safe to use from many threads at once: each call waits for its own
answer while a reader thread dispatches answers by call id. Each call has a deadline
(``timeout=`` seconds, else the connection's ``call_timeout``); when it passes the call is
cancelled on the device and :class:`wirecall.Timeout` raised.
"""

import inspect
import keyword
import threading
import time
import weakref
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

from .errors import Cancelled, ConnectionLost, DecodeError, EncodeError, Error, ErrorCode, ProtocolError, RemoteError
from .manifest import Interface, Manifest, Procedure, schema_hash
from .schema import Handle, HandleValue
from .peer import OutCall, Options, Peer
from .transports import LinkUrl, open_link
from .wire import MODE_BIDI, MODE_CALL, MODE_CLIENT_STREAM, MODE_SERVER_STREAM


class _Notation(str):
    """Text shown as is by ``help()`` and ``inspect`` (a plain str would be quoted)."""

    def __repr__(self) -> str:
        return str(self)


def _py_name(name: str, taken: Iterable[str]) -> str:
    """A parameter name usable in Python: a keyword gets a trailing underscore."""
    out = name if name.isidentifier() and not keyword.iskeyword(name) else f"{name}_"
    if not out.isidentifier():
        out = "arg_" + "".join(c if c.isalnum() else "_" for c in name)
    while out in taken:
        out += "_"
    return out


class Binding:
    """How a procedure is called from Python: its signature (real parameter names, the
    items of a client stream as a last parameter, a keyword-only ``timeout``) and the
    mapping from a call's arguments to the wire's."""

    def __init__(self, proc: Procedure) -> None:
        self.proc = proc
        self.names: List[str] = []
        params = []
        for p in proc.params:
            py = _py_name(p.name, self.names)
            self.names.append(py)
            params.append(inspect.Parameter(py, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=p.type))
        self.items_name: Optional[str] = None
        if proc.in_item is not None:
            self.items_name = _py_name("items", self.names)
            params.append(inspect.Parameter(self.items_name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                            annotation=_Notation(f"Iterable[{proc.in_item}]")))
        taken = self.names + ([self.items_name] if self.items_name else [])
        self.timeout_name = _py_name("timeout", taken)
        params.append(inspect.Parameter(self.timeout_name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                        annotation=_Notation("Optional[float]")))
        if proc.item is not None:
            returns: Any = _Notation(f"Iterator[{proc.item}]")
        else:
            returns = proc.output
        self.signature = inspect.Signature(params, return_annotation=returns)

    def bind(self, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Tuple[List[Any], Any, Optional[float]]:
        """The parameter values, the items (client streams) and the timeout of one call;
        ``TypeError`` as for any Python function called wrongly."""
        if not kwargs and len(args) == len(self.names) and self.items_name is None:
            return list(args), None, None  # the common case, without inspect's binding
        bound = self.signature.bind(*args, **kwargs)
        values = [bound.arguments[n] for n in self.names]
        items = bound.arguments[self.items_name] if self.items_name else None
        return values, items, bound.arguments.get(self.timeout_name)

    def doc(self, service: str, schema: int) -> str:
        kind = {MODE_CALL: "a call", MODE_CLIENT_STREAM: "a client stream: pass an iterable of items",
                MODE_SERVER_STREAM: "a server stream: iterate over the result",
                MODE_BIDI: "a bidirectional stream: pass an iterable of items, iterate over the result"}
        return (f"{self.proc.signature()}\n\nProcedure {self.proc.id} of {service} (schema 0x{schema:08X}), "
                f"{kind[self.proc.mode]}.\n{self.timeout_name}: seconds before the call is cancelled "
                f"(default: the connection's call timeout).")

    def make(self, invoke: Callable[..., Any], service: str, schema: int, is_async: bool = False) -> Callable[..., Any]:
        """A function for the procedure with the right name, signature and docstring."""
        binding = self

        if is_async and self.proc.item is None:
            async def method(*args: Any, **kwargs: Any) -> Any:
                return await invoke(binding, *binding.bind(args, kwargs))
        else:
            def method(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
                return invoke(binding, *binding.bind(args, kwargs))

        method.__name__ = method.__qualname__ = self.proc.name if self.proc.name.isidentifier() else "procedure"
        method.__signature__ = self.signature  # type: ignore[attr-defined]
        method.__doc__ = self.doc(service, schema)
        method.procedure = self.proc  # type: ignore[attr-defined]
        return method


def decode_result(t: Any, data: bytes, what: str) -> Any:
    try:
        return t.decode_value(data)
    except DecodeError as e:
        raise DecodeError(f"{what} does not decode as {t}: {e}") from None


class Device:
    """A connected device (or any wirecall server), its procedures bound as methods.

    Attributes named after the procedures are functions (``dev.add(2, 3)``); a procedure
    whose name is taken by a method here is reached as ``dev["close"]`` or through
    :meth:`call`. ``procedures`` maps names to the functions.
    """

    def __init__(self, peer: Peer, manifest: Optional[Manifest], link: str = "") -> None:
        self._peer = peer
        self.manifest = manifest
        self.link = link
        self.procedures: Dict[str, Callable[..., Any]] = {}
        if manifest is not None:
            schema = schema_hash(manifest.to_bytes())
            for proc in manifest.procedures:
                self.procedures[proc.name] = Binding(proc).make(self._invoke, manifest.service, schema)

    # -- the procedures as attributes ----------------------------------------------------
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
        service = self.manifest.service if self.manifest is not None else "?"
        return f"<wirecall.Device {service} at {self.link}: {', '.join(self.procedures) or 'no manifest'}>"

    # -- life cycle ----------------------------------------------------------------------
    @property
    def schema(self) -> int:
        """The schema hash the device announced in its handshake."""
        hello = self._peer.peer_hello
        return hello.schema if hello is not None else 0

    @property
    def stats(self) -> Dict[str, int]:
        """The connection's counters (framing errors, late replies, ...)."""
        return self._peer.all_stats()

    @property
    def peer(self) -> Peer:
        return self._peer

    def close(self) -> None:
        """Closes the connection; calls still waiting raise :class:`ConnectionLost`."""
        self._peer.close()

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- calling -------------------------------------------------------------------------
    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Calls a procedure by name, as ``dev.NAME(*args, **kwargs)`` does."""
        try:
            method = self.procedures[name]
        except KeyError:
            raise Error(f"the device has no procedure {name!r}") from None
        return method(*args, **kwargs)

    def call_raw(self, procedure: int, args: bytes, timeout: Optional[float] = None) -> bytes:
        """Calls procedure number ``procedure`` with encoded arguments; returns the result's bytes."""
        timeout = self._peer.options.call_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        call = self._peer.start_call(procedure, MODE_CALL, args, timeout, deadline)
        return self._peer.wait_outcome(call, deadline)

    def _invoke(self, binding: Binding, values: List[Any], items: Any, timeout: Optional[float]) -> Any:
        proc = binding.proc
        args = proc.encode_args(values)
        if proc.mode == MODE_CALL and isinstance(proc.output, Handle):
            timeout = self._peer.options.call_timeout if timeout is None else timeout
            deadline = time.monotonic() + timeout
            call = self._peer.start_call(proc.id, MODE_CALL, args, timeout, deadline)
            data = self._peer.wait_outcome(call, deadline)
            handle = decode_result(proc.output, data, f"the result of {proc.name}")
            assert self.manifest is not None
            # The handle belongs to the session its call was answered in.
            return RemoteObject(self, self.manifest.interface(proc.output.interface), handle, call.session)
        if proc.mode == MODE_CALL:
            return decode_result(proc.output, self.call_raw(proc.id, args, timeout), f"the result of {proc.name}")
        stream = ItemStream(self._peer, proc, args, timeout)
        if proc.mode == MODE_SERVER_STREAM:
            return stream
        if proc.mode == MODE_CLIENT_STREAM:
            with stream:
                stream.send_all(items)
                return stream.result()
        stream.feed_in_background(items)
        return stream


class RemoteObject:
    """A handle to an object on the device, which a procedure declared ``-> handle I``
    returned: the methods of interface ``I`` are its attributes, called on the object
    (``ch.read()``, ``ch.configure(scale=3)``, ``ch.methods``), plain calls with a
    keyword-only ``timeout`` as the device's procedures.

    One owner, one release: :meth:`close` (or leaving a ``with`` block) gives the handle
    back and the device frees the object; a handle dropped unclosed is released within a
    keepalive. A handle dies with its session: after the link dropped or the device
    restarted, and after the device withdrew the object, calls fail with
    :class:`RemoteError` ``StaleHandle`` without being sent.
    """

    def __init__(self, device: Device, interface: Optional[Interface], handle: HandleValue, session: int) -> None:
        self._device = device
        self.interface = interface
        #: The handle: its interface's name, its slot and its generation.
        self.handle = handle
        self._session = session
        self._closed = False
        device.peer.hold_handle(handle.slot, handle.generation, session)
        self.methods: Dict[str, Callable[..., Any]] = {}
        # The methods reach the object through a weak reference: no cycle keeps a dropped
        # handle alive, so dropping it releases it at once (a method kept apart from its
        # object fails once the object is gone).
        ref = weakref.ref(self)

        def invoke(binding: Binding, values: List[Any], items: Any, timeout: Optional[float]) -> Any:
            obj = ref()
            if obj is None:
                raise RemoteError(ErrorCode.StaleHandle, "the handle was dropped")
            return obj._invoke(binding, values, items, timeout)

        if interface is not None:
            service = device.manifest.service if device.manifest is not None else "?"
            for m in interface.methods:
                self.methods[m.name] = Binding(m).make(invoke, f"{service}'s interface {interface.name}",
                                                       device.schema)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        methods = self.__dict__.get("methods", {})
        if name in methods:
            return methods[name]
        raise AttributeError(f"{self.handle} has no method or attribute {name!r}")

    def __getitem__(self, name: str) -> Callable[..., Any]:
        return self.methods[name]

    def __dir__(self) -> List[str]:
        return sorted(set(super().__dir__()) | set(self.methods))

    def __repr__(self) -> str:
        state = ", closed" if self._closed else ""
        return f"<wirecall.RemoteObject {self.handle}{state}: {', '.join(self.methods) or 'no methods'}>"

    def call_raw(self, method: int, args: bytes, timeout: Optional[float] = None) -> bytes:
        """Calls method number ``method`` on the object with encoded arguments; the result's bytes."""
        if self._closed:
            raise RemoteError(ErrorCode.StaleHandle, "the handle was closed")
        peer = self._device.peer
        timeout = peer.options.call_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        on = (self.handle.slot, self.handle.generation, self._session)
        call = peer.start_call(method, MODE_CALL, args, timeout, deadline, on=on)
        return peer.wait_outcome(call, deadline)

    def _invoke(self, binding: Binding, values: List[Any], items: Any, timeout: Optional[float]) -> Any:
        m = binding.proc
        if m.mode != MODE_CALL:
            raise Error(f"{m.name} is a stream: methods of a handle are plain calls only")
        args = m.encode_args(values)
        return decode_result(m.output, self.call_raw(m.id, args, timeout), f"the result of {m.name}")

    def revoked(self) -> Optional[Tuple[str, str]]:
        """Why the device withdrew the object (the code's name and its reason), if it did."""
        if self._session != self._device.peer.session:
            return None
        why = self._device.peer.revoked(self.handle.slot, self.handle.generation)
        return None if why is None else (ErrorCode.of(why[0]).name, why[1])

    def close(self) -> None:
        """Releases the object on the device (once; later calls fail with ``StaleHandle``)."""
        if self._closed:
            return
        self._closed = True
        self._device.peer.release_handle(self.handle.slot, self.handle.generation, self._session)

    def __enter__(self) -> "RemoteObject":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        # Released from the timer thread, as a dropped stream is cancelled (no lock here).
        if not getattr(self, "_closed", True):
            self._closed = True
            peer, h, session = self._device.peer, self.handle, self._session
            peer.defer(lambda: peer.release_handle(h.slot, h.generation, session))


class ItemStream:
    """A stream call in progress: an iterator over the server's items (server and
    bidirectional streams), and the sending of the caller's (client and bidirectional).

    Iterating takes items as they come, granting the server credit for more; leaving the
    loop early (``break``, an exception) and then :meth:`close` (or a ``with`` block)
    cancels the call on the server. ``timeout`` bounds the whole call; without one, it ends
    when nothing moves on it for the idle timeout.
    """

    def __init__(self, peer: Peer, proc: Procedure, args: bytes, timeout: Optional[float]) -> None:
        self._peer = peer
        self.procedure = proc
        now = time.monotonic()
        self._deadline = None if timeout is None else now + timeout
        start_by = now + (peer.options.call_timeout if timeout is None else timeout)
        self._call: OutCall = peer.start_call(proc.id, proc.mode, args, timeout, start_by)
        self._count = 0
        self._feeder: Optional[threading.Thread] = None

    def _wait_until(self) -> float:
        idle = time.monotonic() + self._peer.options.stream_idle_timeout
        return idle if self._deadline is None else min(idle, self._deadline)

    def __iter__(self) -> "ItemStream":
        return self

    def __next__(self) -> Any:
        data = self._peer.next_item(self._call, self._wait_until())
        if data is None:
            raise StopIteration
        assert self.procedure.item is not None
        try:
            value = self.procedure.item.decode_value(data)
        except DecodeError as e:
            self._peer.abandon(self._call, ProtocolError(f"item {self._count} of {self.procedure.name}: {e}"))
            raise DecodeError(f"item {self._count} of {self.procedure.name} does not decode as "
                              f"{self.procedure.item}: {e}") from None
        self._count += 1
        return value

    def send(self, value: Any) -> None:
        """Sends one item (client and bidirectional streams), waiting for credit."""
        assert self.procedure.in_item is not None
        try:
            data = self.procedure.in_item.encode_value(value)
        except EncodeError as e:
            self._peer.abandon(self._call, EncodeError(f"an item of {self.procedure.name}: {e}"))
            raise EncodeError(f"an item of {self.procedure.name}: {e}") from None
        self._peer.send_item(self._call, data, self._wait_until())

    def end(self) -> None:
        """Says this side's items are over (End); the server then answers."""
        self._peer.end_items(self._call)

    def send_all(self, items: Iterable[Any]) -> None:
        """Sends every item of ``items``, then End."""
        for value in items:
            self.send(value)
        self.end()

    def feed_in_background(self, items: Iterable[Any]) -> None:
        """Sends ``items`` from a thread of its own (a bidirectional stream: the caller reads
        the server's items meanwhile). A failure to send cancels the call, so that the
        reading side raises it."""
        def feed() -> None:
            try:
                self.send_all(items)
            except Error:
                pass  # the call has ended with that error: the reader raises it
            except Exception as e:  # the items' own iterator failed
                self._peer.abandon(self._call, Error(f"the items of {self.procedure.name} failed: {e!r}"))

        self._feeder = threading.Thread(target=feed, name="wirecall-feeder", daemon=True)
        self._feeder.start()

    def result(self) -> Any:
        """Waits for the server's answer; its decoded value (a client stream's result)."""
        until = self._deadline if self._deadline is not None else time.monotonic() + \
            self._peer.options.stream_idle_timeout
        data = self._peer.wait_outcome(self._call, until)
        return decode_result(self.procedure.output, data, f"the result of {self.procedure.name}")

    @property
    def done(self) -> bool:
        return self._call.outcome is not None

    def cancel(self) -> None:
        """Cancels the call on the server (a no-op once it ended)."""
        self._peer.abandon(self._call, Cancelled(f"{self.procedure.name} was cancelled"))

    close = cancel

    def __enter__(self) -> "ItemStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cancel()

    def __del__(self) -> None:
        # A stream dropped before its end is cancelled, as a generator is closed; on the
        # timer thread, since the collector may run this where the peer's lock is held.
        call = getattr(self, "_call", None)
        if call is not None and call.outcome is None:
            peer, name = self._peer, self.procedure.name
            peer.defer(lambda: peer.abandon(call, Cancelled(f"{name} was dropped before its end")))


def connect(url: Union[str, LinkUrl], *, timeout: float = 5.0, call_timeout: Optional[float] = None,
            schema: Optional[int] = None, manifest: Union[bool, Manifest] = True,
            options: Optional[Options] = None, service: Any = None) -> Device:
    """Connects to a link URL (``tcp://HOST:PORT``, ``unix:///path``,
    ``serial:///dev/ttyUSB0?baud=115200``, ``exec:COMMAND``), makes a session and fetches
    the manifest, all within ``timeout`` seconds.

    ``call_timeout`` is the deadline of calls made without one (default 5 s). ``schema``
    refuses (:class:`IncompatibleSchema`) a device serving another schema hash. Pass a
    :class:`Manifest` as ``manifest`` to use it instead of fetching one (the device must
    serve its hash), or ``False`` to fetch none (only :meth:`Device.call_raw` then).
    ``service`` (a :class:`wirecall.Service`) answers calls the device makes back.
    """
    opts = options or Options()
    if call_timeout is not None:
        opts.call_timeout = call_timeout
    given: Optional[Manifest] = manifest if isinstance(manifest, Manifest) else None
    if schema is not None:
        opts.expect_schema = schema
    elif given is not None:
        opts.expect_schema = given.hash()
    transport = open_link(url)
    peer = Peer(transport, opts, service, "wirecall-client")
    peer.holds_handles = True
    peer.start()
    try:
        deadline = time.monotonic() + timeout
        peer.wait_session(deadline)
        if given is not None:
            bound: Optional[Manifest] = given
        elif manifest:
            bound = Manifest.parse(peer.fetch_manifest(deadline))
        else:
            bound = None
    except BaseException:
        peer.close()
        raise
    return Device(peer, bound, str(url))


__all__ = ["connect", "Device", "ItemStream", "RemoteObject", "Binding", "ConnectionLost"]
