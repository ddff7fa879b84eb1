"""Links: byte streams named by URL, as everywhere in the project (README, "Links are named by
URL"):

=====================================  =======================================================
``tcp://HOST:PORT``                    a TCP connection (``HOST`` a name, IPv4, or ``[IPv6]``)
``unix:///abs/path``, ``unix:rel``     a Unix socket
``serial:///dev/ttyUSB0?baud=115200``  a serial port, 8N1 (pyserial; ``baud`` defaults to 115200)
``exec:COMMAND LINE``                  a child process run by ``sh -c``, over its stdin and stdout
``stdio:``                             this process's stdin and stdout (for serving)
=====================================  =======================================================

A transport has three methods: ``read(n)`` (blocks; returns at most ``n`` bytes, ``b""`` at
the end), ``write(data)`` (all of it) and ``close()``.
"""

import os
import signal
import socket
import subprocess
import sys
from typing import Any, NamedTuple, Union

from .errors import ConnectionLost

DEFAULT_BAUD = 115200


class LinkUrl(NamedTuple):
    """A parsed link URL: ``kind`` is tcp, unix, serial, exec or stdio; ``target`` the address,
    path or command line; ``baud`` the serial rate."""

    kind: str
    target: str = ""
    baud: int = DEFAULT_BAUD

    @staticmethod
    def parse(url: str) -> "LinkUrl":
        """Reads a link URL; ``ValueError`` says what is wrong with it."""
        scheme, sep, rest = url.partition(":")
        if not sep:
            raise ValueError(f"bad link URL `{url}`: no scheme (tcp://, unix://, serial://, exec:, stdio:)")
        if scheme == "tcp":
            if not rest.startswith("//"):
                raise ValueError(f"bad link URL `{url}`: expected tcp://HOST:PORT")
            address = rest[2:]
            host, colon, port = address.rpartition(":")
            if not colon or not port.isdigit():
                raise ValueError(f"bad link URL `{url}`: no port")
            if not host:
                raise ValueError(f"bad link URL `{url}`: no host")
            return LinkUrl("tcp", address)
        if scheme == "unix":
            path = rest[2:] if rest.startswith("//") else rest
            if not path:
                raise ValueError(f"bad link URL `{url}`: no path")
            return LinkUrl("unix", path)
        if scheme == "serial":
            path = rest[2:] if rest.startswith("//") else rest
            path, _, query = path.partition("?")
            if not path:
                raise ValueError(f"bad link URL `{url}`: no port path")
            baud = DEFAULT_BAUD
            for pair in filter(None, query.split("&")):
                key, _, value = pair.partition("=")
                if key != "baud":
                    raise ValueError(f"bad link URL `{url}`: unknown option {key}")
                if not value.isdigit() or int(value) < 1:
                    raise ValueError(f"bad link URL `{url}`: baud must be a positive number")
                baud = int(value)
            return LinkUrl("serial", path, baud)
        if scheme == "exec":
            if not rest.strip():
                raise ValueError(f"bad link URL `{url}`: no command line")
            return LinkUrl("exec", rest)
        if scheme == "stdio":
            return LinkUrl("stdio")
        raise ValueError(f"bad link URL `{url}`: unknown scheme {scheme}")

    def __str__(self) -> str:
        if self.kind == "tcp":
            return f"tcp://{self.target}"
        if self.kind in ("unix", "serial"):
            path = f"//{self.target}" if self.target.startswith("/") else self.target
            return f"{self.kind}:{path}" + (f"?baud={self.baud}" if self.kind == "serial" else "")
        if self.kind == "exec":
            return f"exec:{self.target}"
        return "stdio:"


class SocketTransport:
    """A connected stream socket (TCP or Unix)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            # Small frames go out at once: a call is one write, its answer one read.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def read(self, n: int) -> bytes:
        return self.sock.recv(n)

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes a reader blocked in recv
        except OSError:
            pass
        self.sock.close()


class PipeTransport:
    """A pair of file descriptors: one read, one written."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self._closed = False

    def read(self, n: int) -> bytes:
        return os.read(self.read_fd, n)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.write_fd, view)
            view = view[written:]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for fd in {self.read_fd, self.write_fd}:
            try:
                os.close(fd)
            except OSError:
                pass


class ProcessTransport(PipeTransport):
    """A child process's stdin and stdout. It runs in a process group of its own, killed
    with the link, so that nothing a command line started is left behind."""

    def __init__(self, command: str) -> None:
        self.process = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        bufsize=0, start_new_session=True)
        assert self.process.stdin is not None and self.process.stdout is not None
        super().__init__(self.process.stdout.fileno(), self.process.stdin.fileno())

    def close(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # the reader sees the end of stdout
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        assert self.process.stdin is not None and self.process.stdout is not None
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        self._closed = True


class SerialTransport:
    """A serial port through pyserial (``pip install wirecall[serial]``)."""

    def __init__(self, path: str, baud: int) -> None:
        try:
            import serial  # type: ignore[import-not-found]
        except ImportError:
            raise ImportError("serial ports need pyserial: pip install 'wirecall[serial]'") from None
        self.port = serial.Serial(path, baud, timeout=None)

    def read(self, n: int) -> bytes:
        try:
            data = self.port.read(1)  # blocks until a byte comes
            waiting = self.port.in_waiting
            if data and waiting:
                data += self.port.read(min(waiting, n - 1))
        except (TypeError, AttributeError):
            # pyserial fails this way when the port is closed under a blocked read: the end.
            if not self.port.is_open:
                return b""
            raise
        return bytes(data)

    def write(self, data: bytes) -> None:
        self.port.write(data)

    def close(self) -> None:
        if hasattr(self.port, "cancel_read"):
            self.port.cancel_read()
        self.port.close()


def stdio_transport() -> PipeTransport:
    """This process's stdin and stdout as a link, with ``print`` kept off the link: fd 1 is
    moved to a private descriptor and stdout then writes to stderr; stdin reads nothing."""
    sys.stdout.flush()
    wire_in = os.dup(0)
    wire_out = os.dup(1)
    os.dup2(2, 1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return PipeTransport(wire_in, wire_out)


Transport = Union[SocketTransport, PipeTransport, SerialTransport, Any]


def open_link(url: Union[str, LinkUrl]) -> Transport:
    """Opens a link URL: connects, opens the port or starts the command. A failure raises
    :class:`ConnectionLost` naming what was tried (``cannot connect to tcp 127.0.0.1:1:
    connection refused``), with the OS error as its cause."""
    link = url if isinstance(url, LinkUrl) else LinkUrl.parse(url)
    try:
        if link.kind == "tcp":
            host, _, port = link.target.rpartition(":")
            host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
            return SocketTransport(socket.create_connection((host, int(port))))
        if link.kind == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(link.target)
            except OSError:
                sock.close()
                raise
            return SocketTransport(sock)
        if link.kind == "serial":
            return SerialTransport(link.target, link.baud)
        if link.kind == "exec":
            return ProcessTransport(link.target)
        return stdio_transport()
    except OSError as e:
        raise ConnectionLost(f"{_attempt(link)}: {_cause(e)}") from e


def _attempt(link: LinkUrl) -> str:
    return {
        "tcp": f"cannot connect to tcp {link.target}",
        "unix": f"cannot connect to unix socket {link.target}",
        "serial": f"cannot open serial port {link.target}",
        "exec": f"cannot start `{link.target}`",
    }.get(link.kind, "cannot use stdio")


def _cause(e: OSError) -> str:
    """The OS error in a few lowercase words: "connection refused", "no such file or directory"."""
    text = e.strerror or str(e) or type(e).__name__
    return text[:1].lower() + text[1:]
