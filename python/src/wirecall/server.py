"""Serving Python functions: declare them with :func:`expose`, serve them on a link.

::

    import wirecall

    @wirecall.expose
    def add(a: wirecall.i32, b: wirecall.i32) -> wirecall.i32:
        return a + b

    @wirecall.expose
    def count(n: wirecall.u32) -> Iterator[wirecall.u32]:   # a server stream
        yield from range(n)

    if __name__ == "__main__":
        wirecall.serve_stdio()     # or serve_tcp("127.0.0.1", 7000), serve("serial:///dev/ttyUSB0")

The service's manifest is built from the declarations (types from the hints, see
:mod:`wirecall.hints`; numbers in declaration order unless given), so any wirecall host calls
it by name: ``wirecall call --exec "python3 -m mymodule" add '[2, 3]'`` prints 5.

A handler answers with its return value; raising :class:`wirecall.RemoteError` answers with
that wire error (``raise RemoteError("BadArguments", "b must not be 0")``), and any other
exception with ``Internal`` and the exception's text as detail. Arguments that do not decode
are answered ``BadArguments``, unknown procedures ``UnknownProcedure``, calls beyond
``max_calls`` ``Busy``, results too large for the frame limit ``TooLarge``.
"""

import inspect
import logging
import os
import socket
import sys
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

from . import hints, wire
from .errors import Cancelled, DecodeError, EncodeError, ErrorCode, RemoteError
from .framing import CRC_LEN, encode_frame
from .manifest import Manifest, Param, Procedure
from .peer import InCall, Options, Peer
from .transports import LinkUrl, SerialTransport, SocketTransport, stdio_transport
from .varint import encode as varint_encode

log = logging.getLogger("wirecall")


class Exposed:
    """A served procedure: its manifest entry and the function behind it."""

    __slots__ = ("procedure", "func", "keyword_only")

    def __init__(self, procedure: Procedure, func: Callable[..., Any], keyword_only: Tuple[str, ...]) -> None:
        self.procedure = procedure
        self.func = func
        self.keyword_only = keyword_only

    def call(self, values: List[Any], items: Optional[Iterator[Any]]) -> Any:
        params = self.procedure.params
        positional = [v for p, v in zip(params, values) if p.name not in self.keyword_only]
        keywords = {p.name: v for p, v in zip(params, values) if p.name in self.keyword_only}
        if items is not None:
            positional.append(items)
        return self.func(*positional, **keywords)


class Service:
    """A named set of exposed procedures, and the manifest that describes them.

    The module-level :func:`expose` adds to a default service; make one of your own to serve
    several services from one process. Its manifest is fixed once it is first served.
    """

    def __init__(self, name: Optional[str] = None) -> None:
        self._name = name
        self._exposed: List[Exposed] = []
        self._by_id: Dict[int, Exposed] = {}
        self._frozen: Optional[Tuple[Manifest, bytes]] = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The service name: as given, else the name of the module that exposed the first
        procedure (``python -m mymodule`` gives ``mymodule``)."""
        if self._name:
            return self._name
        if self._exposed:
            return _module_name(self._exposed[0].func)
        return "python"

    def expose(self, func: Optional[Callable[..., Any]] = None, *, name: Optional[str] = None,
               id: Optional[int] = None) -> Any:
        """Serves ``func`` under its name (or ``name``) with the next free number (or ``id``).

        Usable bare (``@expose``) or with options (``@expose(name="add", id=0)``). Every
        parameter needs a hint with a wire type; a missing return hint means ``()``. A
        return hint ``Iterator[T]`` makes a server stream (write a generator); a last
        parameter hinted ``Iterator[T]`` takes the caller's items (a client stream, or both
        ways with an ``Iterator`` return).
        """
        def add(f: Callable[..., Any]) -> Callable[..., Any]:
            self._add(f, name or f.__name__, id)
            return f

        return add(func) if func is not None else add

    def _add(self, func: Callable[..., Any], name: str, number: Optional[int]) -> None:
        with self._lock:
            if self._frozen is not None:
                raise RuntimeError(f"{self.name} is being served: its procedures are fixed")
            if any(e.procedure.name == name for e in self._exposed):
                raise ValueError(f"a procedure called {name} is exposed already")
            if number is None:
                number = max(self._by_id, default=-1) + 1
            if number in self._by_id:
                raise ValueError(f"procedure number {number} is taken by {self._by_id[number].procedure.name}")
            if not 0 <= number <= 0xFFFFFFFF:
                raise ValueError("procedure numbers are 0 to 2**32 - 1")
            exposed = _describe(func, name, number)
            self._exposed.append(exposed)
            self._by_id[number] = exposed

    @property
    def manifest(self) -> Manifest:
        return self._freeze()[0]

    @property
    def manifest_bytes(self) -> bytes:
        return self._freeze()[1]

    def _freeze(self) -> Tuple[Manifest, bytes]:
        with self._lock:
            if self._frozen is None:
                manifest = Manifest(self.name, [e.procedure for e in self._exposed])
                self._frozen = (manifest, manifest.to_bytes())
            return self._frozen

    def lookup(self, number: int) -> Optional[Exposed]:
        """The procedure with wire number ``number``."""
        return self._by_id.get(number)

    # -- running one call (on a handler thread of the peer) ---------------------------
    def run(self, peer: Peer, served: InCall, exposed: Exposed, args: bytes) -> None:
        """Serves one admitted call to its answer (or until it ends otherwise)."""
        proc = exposed.procedure
        result: Any = None
        try:
            try:
                values = proc.decode_args(args)
            except DecodeError as e:
                raise RemoteError(ErrorCode.BadArguments, f"{proc.name}: {e}") from None
            items = _Incoming(peer, served, proc) if proc.in_item is not None else None
            result = exposed.call(values, items)
            if proc.item is not None:
                self._stream(peer, served, proc, result)
            else:
                payload = _encode(proc.output, result, proc.name, "result")
                reply = wire.Reply(served.id, payload).encode()
                if len(reply) + CRC_LEN > peer.frame_limit():
                    raise RemoteError(ErrorCode.TooLarge, f"{proc.name}: the result takes {len(payload)} bytes; "
                                                          f"the frame limit is {peer.frame_limit()}")
                peer.answer(served, reply)
        except RemoteError as e:
            peer.answer(served, _error(peer, served.id, e.number, e.detail_bytes))
        except Cancelled:
            pass  # the call ended (cancelled, expired, the session lost): nobody waits for an answer
        except Exception as e:
            log.warning("wirecall: %s failed", proc.name, exc_info=True)
            peer.answer(served, _error(peer, served.id, ErrorCode.Internal, f"{type(e).__name__}: {e}".encode()))
        finally:
            close = getattr(result, "close", None)
            if proc.item is not None and callable(close):
                close()  # a generator stopped early runs its finally blocks now
            peer.handler_done(served)

    @staticmethod
    def _stream(peer: Peer, served: InCall, proc: Procedure, values: Any) -> None:
        assert proc.item is not None
        limit = peer.served_item_limit()
        for value in values:
            item = _encode(proc.item, value, proc.name, "item")
            if len(item) > limit:
                raise RemoteError(ErrorCode.TooLarge, f"{proc.name}: an item takes {len(item)} bytes; at most "
                                                      f"{limit} fit a frame")
            if not peer.send_served_item(served, item, peer.options.stream_idle_timeout):
                return  # the call ended: stop producing
        # The End, then the Reply that ends the call (section 6.6).
        peer.answer(served, wire.End(served.id, True, served.send_seq).encode(), wire.Reply(served.id, b"").encode())


def _encode(t: Any, value: Any, name: str, what: str) -> bytes:
    try:
        return t.encode_value(value)
    except EncodeError as e:
        raise RemoteError(ErrorCode.Internal, f"{name}: the {what} does not fit {t}: {e}") from None


def _error(peer: Peer, call_id: int, code: int, detail: bytes) -> bytes:
    """An Error frame, its detail cut to fit the frame limit (byte-wise, as the reference does)."""
    room = peer.frame_limit() - CRC_LEN - 1 - len(varint_encode(call_id)) - 1
    return wire.ErrorFrame(call_id, int(code), detail[:max(0, room)]).encode()


class _Incoming:
    """The caller's items on a served stream, decoded, as an iterator for the handler."""

    def __init__(self, peer: Peer, served: InCall, proc: Procedure) -> None:
        self._peer = peer
        self._served = served
        self._proc = proc
        self._count = 0

    def __iter__(self) -> "_Incoming":
        return self

    def __next__(self) -> Any:
        data = self._peer.next_served_item(self._served, self._peer.options.stream_idle_timeout)
        if data is None:
            raise StopIteration
        assert self._proc.in_item is not None
        try:
            value = self._proc.in_item.decode_value(data)
        except DecodeError as e:
            raise RemoteError(ErrorCode.BadArguments, f"{self._proc.name}: item {self._count}: {e}") from None
        self._count += 1
        return value


def _module_name(func: Callable[..., Any]) -> str:
    module = getattr(func, "__module__", None) or "python"
    if module == "__main__":
        main = sys.modules.get("__main__")
        spec = getattr(main, "__spec__", None)
        if spec is not None and spec.name:
            module = spec.name
        else:
            module = os.path.splitext(os.path.basename(getattr(main, "__file__", "") or "python"))[0]
    return module.rsplit(".", 1)[-1]


def _describe(func: Callable[..., Any], name: str, number: int) -> Exposed:
    """The manifest entry of a function, from its signature and hints."""
    try:
        type_hints = hints.get_type_hints(func, include_extras=True)
    except NameError as e:
        raise TypeError(f"{name}: a hint names something undefined: {e}") from None
    sig = inspect.signature(func)
    params = list(sig.parameters.values())
    in_item = None
    if params and params[-1].name in type_hints:
        item_hint = hints.stream_item(type_hints[params[-1].name])
        if item_hint is not None:
            in_item = hints.wire_type(item_hint, f"{name}: the items of {params[-1].name}")
            params = params[:-1]
    wire_params = []
    keyword_only = []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"{name}: *args and **kwargs have no wire type")
        if p.name not in type_hints:
            raise TypeError(f"{name}: parameter {p.name} needs a type hint (e.g. wirecall.i32)")
        hint = type_hints[p.name]
        if hints.stream_item(hint) is not None:
            raise TypeError(f"{name}: only the last parameter can take a stream")
        wire_params.append(Param(p.name, hints.wire_type(hint, f"{name}: parameter {p.name}")))
        if p.kind == p.KEYWORD_ONLY:
            keyword_only.append(p.name)
    returns = type_hints.get("return", None)
    item_hint = hints.stream_item(returns) if returns is not None else None
    if item_hint is not None:
        item = hints.wire_type(item_hint, f"{name}: the items it yields")
        output = hints.wire_type(None, name)
    else:
        item = None
        output = hints.wire_type(returns, f"{name}: its result")
    mode = (wire.MODE_CLIENT_STREAM if in_item is not None else 0) | (wire.MODE_SERVER_STREAM if item is not None else 0)
    return Exposed(Procedure(number, name, mode, wire_params, output, item, in_item), func, tuple(keyword_only))


#: The service :func:`expose` adds to and the ``serve_*`` functions serve by default.
default_service = Service()


def expose(func: Optional[Callable[..., Any]] = None, *, name: Optional[str] = None, id: Optional[int] = None) -> Any:
    """Serves a function in the default service: see :meth:`Service.expose`."""
    return default_service.expose(func, name=name, id=id)


# ---------------------------------------------------------------------------- serving on links
def serve_link(transport: Any, service: Optional[Service] = None, options: Optional[Options] = None,
               name: str = "wirecall-server") -> Peer:
    """Serves on an open transport in the background; returns the running :class:`Peer`
    (``peer.wait_closed()`` waits for the link's end)."""
    service = service or default_service
    return Peer(transport, options, service, name).start()


def serve_stdio(service: Optional[Service] = None, options: Optional[Options] = None) -> None:
    """Serves on this process's stdin and stdout until stdin ends: the way a Rust program (or
    ``wirecall call --exec``) runs a Python module as a child process. While it serves,
    ``print`` writes to stderr, so that nothing but frames reaches the link."""
    peer = serve_link(stdio_transport(), service, options, "wirecall-stdio")
    peer.wait_closed()


def serve_serial(port: str, baud: int = 115200, service: Optional[Service] = None,
                 options: Optional[Options] = None) -> None:
    """Serves on a serial port (pyserial) until the port closes."""
    peer = serve_link(SerialTransport(port, baud), service, options, "wirecall-serial")
    peer.wait_closed()


class Server:
    """A listening socket that serves every connection with its own :class:`Peer`.

    At most ``max_connections`` are served at once; one more is sent ``Close(Busy)`` and
    closed, as the reference host server does. :meth:`stop` closes the listener and every
    connection (``Close(ShuttingDown)``).
    """

    def __init__(self, listener: socket.socket, service: Optional[Service] = None,
                 options: Optional[Options] = None, max_connections: int = 256) -> None:
        self.listener = listener
        self.service = service or default_service
        self.service.manifest_bytes  # fix the manifest now: a declaration error shows here
        self.options = options
        self.max_connections = max_connections
        self._peers: List[Peer] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name="wirecall-accept", daemon=True)

    @property
    def address(self) -> str:
        """Where it listens, as ``HOST:PORT`` or a path."""
        addr = self.listener.getsockname()
        if isinstance(addr, tuple):
            host = f"[{addr[0]}]" if ":" in addr[0] else addr[0]
            return f"{host}:{addr[1]}"
        return str(addr)

    @property
    def url(self) -> str:
        """Where it listens, as a link URL."""
        if self.listener.family == socket.AF_UNIX:
            return str(LinkUrl("unix", self.address))
        return f"tcp://{self.address}"

    def start(self) -> "Server":
        """Accepts connections on a thread of its own."""
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Accepts connections until :meth:`stop` (from another thread) or an interrupt."""
        self.start()
        try:
            while not self._stopped.wait(1.0):
                pass
        finally:
            self.stop()

    def stop(self) -> None:
        self._stopped.set()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        with self._lock:
            peers = list(self._peers)
        for peer in peers:
            peer.close(ErrorCode.ShuttingDown)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(2.0)

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return  # the listener was closed
            with self._lock:
                self._peers = [p for p in self._peers if not p.wait_closed(0)]
                full = len(self._peers) >= self.max_connections
            if full:
                try:
                    sock.sendall(encode_frame(wire.Close(int(ErrorCode.Busy)).encode()))
                except OSError:
                    pass
                sock.close()
                continue
            peer = serve_link(SocketTransport(sock), self.service, self.options, "wirecall-conn")
            with self._lock:
                self._peers.append(peer)


def _announce(server: Server) -> None:
    # One line, once it listens: what a parent process waits for (as `wirecall serve` does).
    print(f"wirecall: serving {server.service.name} on {server.url.replace('://', ' ', 1)}", file=sys.stderr,
          flush=True)


def tcp_server(host: str = "127.0.0.1", port: int = 0, service: Optional[Service] = None,
               options: Optional[Options] = None, max_connections: int = 256) -> Server:
    """A :class:`Server` listening on TCP (port 0: any free port; see ``.address``), not yet
    accepting: call ``start()`` or ``serve_forever()``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(64)
    except OSError:
        listener.close()
        raise
    return Server(listener, service, options, max_connections)


def unix_server(path: str, service: Optional[Service] = None, options: Optional[Options] = None,
                max_connections: int = 256) -> Server:
    """A :class:`Server` listening on a Unix socket path. A stale socket there (one nobody
    listens on) is replaced; anything else is an error."""
    if os.path.exists(path):
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except ConnectionRefusedError:
            os.unlink(path)  # a socket left by a server that stopped
        except OSError as e:
            raise FileExistsError(f"{path} exists and is not a stale socket: {e}") from None
        else:
            raise FileExistsError(f"a server is listening on {path}")
        finally:
            probe.close()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
        listener.listen(64)
    except OSError:
        listener.close()
        raise
    return Server(listener, service, options, max_connections)


def serve_tcp(host: str = "127.0.0.1", port: int = 0, service: Optional[Service] = None,
              options: Optional[Options] = None, max_connections: int = 256) -> None:
    """Serves on TCP until interrupted; prints ``wirecall: serving NAME on tcp HOST:PORT`` to
    stderr once it listens."""
    server = tcp_server(host, port, service, options, max_connections)
    _announce(server)
    server.serve_forever()


def serve_unix(path: str, service: Optional[Service] = None, options: Optional[Options] = None,
               max_connections: int = 256) -> None:
    """Serves on a Unix socket until interrupted; prints its "serving" line once it listens."""
    server = unix_server(path, service, options, max_connections)
    _announce(server)
    try:
        server.serve_forever()
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


def serve(url: Union[str, LinkUrl], service: Optional[Service] = None, options: Optional[Options] = None) -> None:
    """Serves on a link URL: ``tcp://HOST:PORT``, ``unix:///path``, ``serial:///dev/ttyUSB0?baud=N``
    or ``stdio:``; runs until the link ends or the process is interrupted."""
    link = url if isinstance(url, LinkUrl) else LinkUrl.parse(url)
    if link.kind == "tcp":
        host, _, port = link.target.rpartition(":")
        serve_tcp(host.strip("[]"), int(port), service, options)
    elif link.kind == "unix":
        serve_unix(link.target, service, options)
    elif link.kind == "serial":
        serve_serial(link.target, link.baud, service, options)
    elif link.kind == "stdio":
        serve_stdio(service, options)
    else:
        raise ValueError(f"cannot serve on {link}: serve on tcp://, unix://, serial:// or stdio:")


__all__ = ["Service", "Server", "expose", "default_service", "serve", "serve_link", "serve_stdio", "serve_tcp",
           "serve_unix", "serve_serial", "tcp_server", "unix_server"]
