"""The Python server, called by the Rust command (`wirecall call --exec "python3 -m ..."`,
`--tcp`, `--unix`), by the Python client, and by a raw peer that sends frames by hand to
check the bounds and the explicit wire errors."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Iterator, List, Optional

import pytest

import wirecall
from calc_service import service as calc
from conftest import python_service_command, read_line, run_cli, start_server, stop, wait_until
from wirecall import wire
from wirecall.errors import ErrorCode
from wirecall.framing import FrameDecoder, encode_frame
from wirecall.transports import SerialTransport


# -- called by the Rust command over a child process's stdio ----------------------------------
@pytest.fixture(scope="module")
def exec_args():
    return ["--exec", python_service_command()]


def out(result) -> str:
    return result.stdout.decode().strip()


def test_rust_lists_the_python_service(wirecall_bin, exec_args):
    listing = run_cli(wirecall_bin, "list", *exec_args)
    assert listing.returncode == 0, listing.stderr
    text = out(listing)
    assert f"calc (schema 0x{calc.manifest.hash():08X}, 15 procedures)" in text
    for line in ("0  add(a: i32, b: i32) -> i32", "6  count(n: u32) -> stream u32", "7  total(stream u32) -> u64",
                 "8  double(stream i32) -> stream i32", "struct Info { name: String<16>, version: u32, ratio: f64 }",
                 "enum Mode { Off, On, Blink }"):
        assert line in text


@pytest.mark.parametrize("args, want", [
    (["add", "[2, 3]"], "5"),
    (["add", '{"a": 40, "b": 2}'], "42"),
    (["greet", '"bob"'], '"hello, bob"'),
    (["echo", '"0x00ff"'], '"0x00ff"'),
    (["info"], '{"name":"calc","version":3,"ratio":0.5}'),
    (["toggle", '"Off"'], '"On"'),
    (["maybe", "null"], "null"),
    (["maybe", "41"], "42"),
    (["stats", "[[1.5, -2, 8]]"], "[-2.0,8.0]"),
    (["tally", '[["a", "b", "a"]]'], '{"a":2,"b":1}'),
    (["chatty", "7"], "7"),  # its print goes to stderr, not onto the link
])
def test_rust_calls_python(wirecall_bin, exec_args, args, want):
    result = run_cli(wirecall_bin, "call", *exec_args, *args)
    assert (result.returncode, out(result)) == (0, want), result.stderr


def test_rust_gets_python_errors(wirecall_bin, exec_args):
    failed = run_cli(wirecall_bin, "call", *exec_args, "fail")
    assert failed.returncode == 1
    assert "internal error: RuntimeError: this handler always fails" in failed.stderr.decode()
    zero = run_cli(wirecall_bin, "call", *exec_args, "divide", "[1, 0]")
    assert zero.returncode == 1 and "division by zero" in zero.stderr.decode()
    slow = run_cli(wirecall_bin, "call", *exec_args, "--timeout", "200ms", "sleep", "[3000]")
    assert slow.returncode == 3, slow.stderr


def test_rust_streams_from_and_to_python(wirecall_bin, exec_args):
    count = run_cli(wirecall_bin, "stream", *exec_args, "count", "[200]")
    assert (count.returncode, out(count).split("\n")) == (0, [str(i) for i in range(200)]), count.stderr
    total = run_cli(wirecall_bin, "stream", *exec_args, "total", stdin="".join(f"{i}\n" for i in range(100)))
    assert (total.returncode, out(total)) == (0, "4950"), total.stderr
    double = run_cli(wirecall_bin, "stream", *exec_args, "double", stdin="1\n-2\n30\n")
    assert (double.returncode, out(double)) == (0, "2\n-4\n60"), double.stderr


def test_rust_calls_python_over_tcp_and_a_unix_socket(wirecall_bin):
    server = start_server([sys.executable, "-m", "calc_service", "tcp://127.0.0.1:0"], "serving calc on tcp")
    try:
        result = run_cli(wirecall_bin, "call", "--tcp", server.address, "add", "[2, 3]")
        assert (result.returncode, out(result)) == (0, "5"), result.stderr
    finally:
        stop(server.process)
    with tempfile.TemporaryDirectory(prefix="wirecall-py-") as tmp:
        path = os.path.join(tmp, "calc.sock")
        server = start_server([sys.executable, "-m", "calc_service", f"unix://{path}"], "serving calc on unix")
        try:
            result = run_cli(wirecall_bin, "stream", "--unix", path, "count", "[3]")
            assert (result.returncode, out(result)) == (0, "0\n1\n2"), result.stderr
        finally:
            stop(server.process)


# -- called by the Python client -------------------------------------------------------------
@pytest.fixture
def calc_server():
    server = wirecall.tcp_server(service=calc).start()
    yield server
    server.stop()


def test_python_calls_python(calc_server):
    with wirecall.connect(calc_server.url) as dev:
        assert dev.add(2, 3) == 5
        info = dev.info()
        assert (type(info).__name__, info.name, info.version, info.ratio) == ("Info", "calc", 3, 0.5)
        assert dev.toggle("On") == "Off"
        assert dev.maybe(None) is None and dev.maybe(1) == 2
        assert dev.tally(["x", "x"]) == {"x": 2}
        assert list(dev.count(5)) == [0, 1, 2, 3, 4]
        assert dev.total(range(1000)) == 499500
        assert dev.total([]) == 0
        assert list(dev.double(iter([1, 2, 3]))) == [2, 4, 6]
        with pytest.raises(wirecall.RemoteError) as e:
            dev.fail()
        assert e.value.code == "Internal" and "always fails" in e.value.detail
        with pytest.raises(wirecall.RemoteError, match="division by zero"):
            dev.divide(1.0, 0.0)
        with pytest.raises(wirecall.Timeout):
            dev.sleep(2000, timeout=0.1)
        assert dev.add(1, 1) == 2


def test_python_calls_python_with_asyncio(calc_server):
    import asyncio

    async def main():
        async with await wirecall.connect_async(calc_server.url) as dev:
            assert await dev.total(range(100)) == 4950

            async def agen():
                for i in range(5):
                    yield i

            assert [x async for x in dev.double(agen())] == [0, 2, 4, 6, 8]
            assert await asyncio.gather(*(dev.add(i, 1) for i in range(50))) == [i + 1 for i in range(50)]
    asyncio.run(main())


def test_a_cancelled_stream_stops_its_generator():
    stopped = threading.Event()
    svc = wirecall.Service("gen")

    @svc.expose
    def forever() -> Iterator[wirecall.u32]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            stopped.set()

    server = wirecall.tcp_server(service=svc).start()
    try:
        with wirecall.connect(server.url) as dev:
            with dev.forever() as items:
                assert [next(items) for _ in range(100)] == list(range(100))
            assert stopped.wait(5), "the generator was not closed after the cancel"
    finally:
        server.stop()


def test_a_stream_with_a_slow_reader_never_exceeds_its_credit():
    svc = wirecall.Service("credit")
    sent = []

    @svc.expose
    def numbers(n: wirecall.u32) -> Iterator[wirecall.u32]:
        for i in range(n):
            sent.append(i)
            yield i

    server = wirecall.tcp_server(service=svc).start()
    try:
        with wirecall.connect(server.url, options=wirecall.Options(stream_window=4)) as dev:
            items = dev.numbers(100)
            assert next(items) == 0
            # The server may run ahead by the window (4 items) and one it is holding.
            assert wait_until(lambda: len(sent) >= 5)
            time.sleep(0.1)  # give an overrun the chance to happen
            assert len(sent) <= 6
            assert list(items) == list(range(1, 100))
    finally:
        server.stop()


# -- a raw peer: bounds and explicit errors ----------------------------------------------------
class RawPeer:
    """A socket speaking frames by hand, with the package's framing and frame classes."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.sock = socket.create_connection((host, int(port)))
        self.decoder = FrameDecoder(4096)
        self.frames: List[object] = []

    def send(self, *frames) -> None:
        self.sock.sendall(b"".join(encode_frame(f.encode()) for f in frames))

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, timeout: float = 5.0) -> Optional[object]:
        self.sock.settimeout(timeout)
        while not self.frames:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                return None
            if not data:
                return None
            self.frames += [wire.parse_frame(f) for f in self.decoder.feed(data, time.monotonic())]
        return self.frames.pop(0)

    def recv_kind(self, kind: type, timeout: float = 5.0):
        """The next frame of a kind, skipping keepalive Pings and Hellos."""
        while True:
            f = self.recv(timeout)
            if f is None or isinstance(f, kind):
                return f

    def handshake(self) -> wire.Hello:
        self.send(wire.Hello(False, 1, 1, 3, 4096, 32, 32, 1000, 0, 5000, 8))
        hello = self.recv_kind(wire.Hello)
        assert hello is not None
        return hello

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw_server():
    server = wirecall.tcp_server(service=calc, options=wirecall.Options(max_calls=2)).start()
    peer = RawPeer(server.address)
    yield server, peer
    peer.close()
    server.stop()


SLEEP, ADD, COUNT = 5, 0, 6


def test_the_server_says_who_it_is(raw_server):
    _, peer = raw_server
    hello = peer.handshake()
    assert hello.features == 7 and hello.schema == calc.manifest.hash()
    assert (hello.max_frame, hello.max_inbound, hello.stream_window) == (4096, 2, 16)
    peer.send(wire.ManifestRequest(0))
    piece = peer.recv_kind(wire.ManifestPiece)
    assert piece.total == len(calc.manifest_bytes) and piece.data == calc.manifest_bytes


def test_requests_before_the_handshake_get_no_session(raw_server):
    _, peer = raw_server
    peer.send(wire.Request(3, ADD, None, b"\x02\x04"))
    assert peer.recv_kind(wire.ErrorFrame) == wire.ErrorFrame(3, ErrorCode.NoSession)


def test_calls_beyond_the_limit_get_busy(raw_server):
    _, peer = raw_server
    peer.handshake()
    peer.send(*(wire.Request(i, SLEEP, None, b"\xc8\x01") for i in range(3)))  # sleep(200) x 3
    assert peer.recv_kind(wire.ErrorFrame) == wire.ErrorFrame(2, ErrorCode.Busy)
    assert {peer.recv_kind(wire.Reply).id for _ in range(2)} == {0, 1}


@pytest.mark.parametrize("frame, code", [
    (wire.Request(1, 99, None, b""), ErrorCode.UnknownProcedure),
    (wire.Request(1, ADD, None, b"\x02"), ErrorCode.BadArguments),  # b missing
    (wire.Request(1, ADD, None, b"\x02\x04\x00"), ErrorCode.BadArguments),  # a byte too many
    (wire.Request(1, COUNT, None, b"\x03"), ErrorCode.BadArguments),  # a stream called as a plain call
    (wire.Open(1, ADD, 0, 5, None, b"\x02\x04"), ErrorCode.TooDeep),
    (wire.Request(1, SLEEP, 50, b"\xe8\x07"), ErrorCode.DeadlineExceeded),  # sleep(1000), 50 ms to do it
])
def test_bad_requests_get_explicit_errors(raw_server, frame, code):
    _, peer = raw_server
    peer.handshake()
    peer.send(frame)
    error = peer.recv_kind(wire.ErrorFrame)
    assert (error.id, ErrorCode(error.code)) == (1, code), error


def test_a_cancel_is_always_answered_cancelled(raw_server):
    _, peer = raw_server
    peer.handshake()
    peer.send(wire.Request(4, SLEEP, None, b"\xe8\x07"), wire.Cancel(4), wire.Cancel(77))
    assert peer.recv_kind(wire.ErrorFrame) == wire.ErrorFrame(4, ErrorCode.Cancelled)
    assert peer.recv_kind(wire.ErrorFrame) == wire.ErrorFrame(77, ErrorCode.Cancelled)
    # The sleep's result, when it comes, is never sent: Cancelled was the last word on id 4.
    peer.send(wire.Request(5, ADD, None, b"\x02\x04"))
    assert peer.recv_kind((wire.Reply, wire.ErrorFrame)) == wire.Reply(5, b"\x06")


def test_noise_and_malformed_frames_are_counted_and_dropped(raw_server):
    server, peer = raw_server
    peer.handshake()
    good = encode_frame(wire.Request(9, ADD, None, b"\x02\x04").encode())
    bad_crc = bytearray(good)
    bad_crc[-2] ^= 0x55
    peer.send_bytes(b"\x13\x37\xff\x00\x42" + bytes(bad_crc) + good[:5] + b"\x00" + b"\x11" * 5000 + b"\x00")
    peer.send_bytes(encode_frame(b"\x02\x80"))  # a Request whose id never ends: malformed
    peer.send(wire.Request(9, ADD, None, b"\x02\x04"))
    assert peer.recv_kind((wire.Reply, wire.ErrorFrame)) == wire.Reply(9, b"\x06")
    stats = server._peers[0].all_stats()
    assert stats["crc_errors"] == 1 and stats["framing_errors"] >= 2
    assert stats["oversized_frames"] == 1 and stats["protocol_errors"] == 1


def test_a_flood_of_violations_resets_the_session(raw_server):
    _, peer = raw_server
    peer.handshake()
    peer.send_bytes(encode_frame(b"\x02\x80") * 9)  # the 9th violation in a second
    assert peer.recv_kind(wire.Close) == wire.Close(ErrorCode.ProtocolViolation)
    assert peer.recv_kind(wire.Hello).reply is False  # and a new handshake
    peer.handshake()
    peer.send(wire.Request(1, ADD, None, b"\x02\x04"))
    assert peer.recv_kind((wire.Reply, wire.ErrorFrame)) == wire.Reply(1, b"\x06")


def test_a_stream_honours_credit_and_ends_with_end_then_reply(raw_server):
    _, peer = raw_server
    peer.handshake()  # our window: 8
    peer.send(wire.Open(8, COUNT, wire.MODE_SERVER_STREAM, 0, None, b"\x0c"))  # count(12)
    items = [peer.recv_kind(wire.Item) for _ in range(8)]
    assert [(i.seq, i.item) for i in items] == [(n, bytes([n])) for n in range(8)]
    assert peer.recv(0.2) is None  # no credit left: it waits
    peer.send(wire.Credit(8, False, 8))
    rest = [peer.recv_kind(wire.Item) for _ in range(4)]
    assert [i.seq for i in rest] == [8, 9, 10, 11]
    assert peer.recv_kind(wire.End) == wire.End(8, True, 12)
    assert peer.recv_kind(wire.Reply) == wire.Reply(8, b"")


def test_items_beyond_credit_end_a_client_stream_with_flow_control(raw_server):
    _, peer = raw_server
    hello = peer.handshake()
    total = 7
    peer.send(wire.Open(3, total, wire.MODE_CLIENT_STREAM, 0, None, b""))
    peer.send(*(wire.Item(3, False, i, b"\x01") for i in range(hello.stream_window + 1)))
    assert peer.recv_kind(wire.ErrorFrame) == wire.ErrorFrame(3, ErrorCode.FlowControl)


def test_a_lost_item_ends_a_client_stream_with_item_lost(raw_server):
    _, peer = raw_server
    peer.handshake()
    peer.send(wire.Open(3, 7, wire.MODE_CLIENT_STREAM, 0, None, b""))
    peer.send(wire.Item(3, False, 0, b"\x01"), wire.Item(3, False, 2, b"\x01"))
    assert peer.recv_kind(wire.ErrorFrame) == wire.ErrorFrame(3, ErrorCode.ItemLost)


def test_the_connection_cap_answers_busy():
    server = wirecall.tcp_server(service=calc, max_connections=1).start()
    try:
        with wirecall.connect(server.url) as first:
            assert first.add(1, 1) == 2
            with pytest.raises(wirecall.Refused, match="connection limit"):
                wirecall.connect(server.url, timeout=2)
    finally:
        server.stop()


def test_a_silent_peer_is_pinged_then_given_up_on():
    # Keepalive 0.1 s: a Ping after 0.1 s of silence, the session over after 0.3 s.
    server = wirecall.tcp_server(service=calc, options=wirecall.Options(keepalive=0.1)).start()
    peer = RawPeer(server.address)
    try:
        peer.send(wire.Hello(False, 1, 1, 3, 4096, 32, 32, 100, 0, 5000, 8))
        hello = peer.recv_kind(wire.Hello)  # the server's own initial Hello, then its reply to ours
        if not hello.reply:
            assert peer.recv_kind(wire.Hello).reply
        assert peer.recv_kind(wire.Ping, timeout=2) == wire.Ping(False)
        # Still silent: the server ends the session and starts a new handshake.
        assert peer.recv_kind(wire.Hello, timeout=2).reply is False
        assert server._peers[0].all_stats()["link_losses"] == 1
    finally:
        peer.close()
        server.stop()


def test_python_calls_a_child_process_by_exec_url(wirecall_bin):
    # The Rust demo server, and the Python test service, each as a child on its stdio.
    with wirecall.connect(f"exec:{wirecall_bin} serve --stdio") as rust:
        assert rust.add(2, 3) == 5
        child = rust.peer.transport.process
    assert wait_until(lambda: child.poll() is not None), "the child outlived its link"
    with wirecall.connect(f"exec:{python_service_command()}") as python:
        assert python.greet("exec") == "hello, exec"
        assert list(python.count(3)) == [0, 1, 2]


@pytest.fixture
def pty_pair():
    """Two linked pseudo-terminals from socat (a serial cable on one machine), stopped by pid."""
    pytest.importorskip("serial")
    if shutil.which("socat") is None:
        pytest.skip("socat is missing (./ci.sh installs it)")
    socat = subprocess.Popen(["socat", "-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        ptys = []
        # "... N PTY is /dev/pts/3" for each end, then "starting data transfer loop": ready.
        line = read_line(socat)
        while "starting data transfer loop" not in line:
            assert line, "socat ended before it was ready"
            if "PTY is " in line:
                ptys.append(line.split("PTY is ")[1].strip())
            line = read_line(socat)
        yield ptys
    finally:
        stop(socat)


def test_python_serves_a_serial_port(wirecall_bin, pty_pair):
    device_end, host_end = pty_pair
    peer = wirecall.serve_link(SerialTransport(device_end, 115200), calc, name="serial-device")
    try:
        result = run_cli(wirecall_bin, "call", "--serial", host_end, "--baud", "115200", "add", "[2, 3]")
        assert (result.returncode, out(result)) == (0, "5"), result.stderr
        # The same line, from Python: a serial:// link on the other end.
        with wirecall.connect(f"serial://{host_end}?baud=115200") as dev:
            assert dev.greet("serial") == "hello, serial"
            assert list(dev.count(50)) == list(range(50))
    finally:
        peer.close()


def test_the_manifest_travels_in_pieces_through_small_frames(wirecall_bin, calc_server):
    # 64-byte frames: the Rust command fetches the Python manifest piece by piece...
    listing = run_cli(wirecall_bin, "list", "--no-cache", "--max-frame", "64", "--tcp", calc_server.address)
    assert listing.returncode == 0, listing.stderr
    assert "13  tally(words: Vec<String>) -> Map<String, u32>" in out(listing)
    # ...and so does the Python client.
    with wirecall.connect(calc_server.url, options=wirecall.Options(max_frame=64)) as dev:
        assert dev.manifest.to_bytes() == calc.manifest_bytes
        assert dev.add(1, 2) == 3
