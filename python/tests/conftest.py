"""Fixtures shared by the tests: the Rust ``wirecall`` binary, the Rust demo server over TCP
and a Unix socket, and the command line that runs the Python test service as a child.

Every process a test starts is started by pid and stopped by pid in a finalizer, and
readiness is an event (the server's "serving ... on ADDR" line), never a fixed sleep.
"""

import os
import pathlib
import select
import shlex
import subprocess
import sys
import tempfile
import time
from typing import Iterator, List, NamedTuple

import pytest

TESTS = pathlib.Path(__file__).resolve().parent
REPO = TESTS.parent.parent


def wirecall_binary() -> pathlib.Path:
    """The Rust command: $WIRECALL_BIN, else target/debug/wirecall (``cargo build -p wirecall-cli``)."""
    path = pathlib.Path(os.environ.get("WIRECALL_BIN", REPO / "target" / "debug" / "wirecall"))
    if not path.exists():
        pytest.fail(f"{path} is missing: build it with `cargo build -p wirecall-cli` (or set WIRECALL_BIN)")
    return path


@pytest.fixture(scope="session")
def wirecall_bin() -> pathlib.Path:
    return wirecall_binary()


class Running(NamedTuple):
    """A started server: its process and the address it printed."""

    process: subprocess.Popen
    address: str


def stop(process: subprocess.Popen) -> None:
    """Stops a child by its pid and reaps it."""
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()


def read_line(process: subprocess.Popen, limit: float = 30.0, stdout: bool = False) -> str:
    """The next line of a child's stderr (or stdout), waiting at most ``limit`` seconds for it.

    Read a byte at a time from the descriptor: a buffered reader would take several lines
    at once, and ``select`` would then wait for bytes already read."""
    pipe = process.stdout if stdout else process.stderr
    assert pipe is not None
    fd = pipe.fileno()
    end = time.monotonic() + limit
    line = bytearray()
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
        if not ready:
            raise TimeoutError(f"no line from pid {process.pid} in {limit} s (so far: {bytes(line)!r})")
        byte = os.read(fd, 1)
        if not byte:
            break  # the end of the stream
        line += byte
    return line.decode(errors="replace")


def start_server(args: List[str], marker: str = "serving") -> Running:
    """Starts a server (in the tests' directory, where the test services are) and waits for
    its "serving ... on ADDR" line; returns it and ADDR."""
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               cwd=TESTS)
    try:
        line = read_line(process)
        if marker not in line:
            raise RuntimeError(f"{args[0]} did not start: {line!r}")
    except BaseException:
        stop(process)
        raise
    return Running(process, line.strip().rsplit(" ", 1)[-1])


def demo_server(wirecall_bin: pathlib.Path, *args: str) -> Running:
    """``wirecall serve ARGS``: the Rust demo service (add, echo, fail, huge, sleep, count)."""
    return start_server([str(wirecall_bin), "serve", *args], "serving the demo service on")


@pytest.fixture(scope="module")
def demo_tcp(wirecall_bin: pathlib.Path) -> Iterator[str]:
    """The URL of a Rust demo server on TCP, stopped after the module's tests."""
    server = demo_server(wirecall_bin, "--tcp", "127.0.0.1:0")
    try:
        yield f"tcp://{server.address}"
    finally:
        stop(server.process)


@pytest.fixture(scope="module")
def demo_unix(wirecall_bin: pathlib.Path) -> Iterator[str]:
    """The URL of a Rust demo server on a Unix socket, stopped after the module's tests."""
    with tempfile.TemporaryDirectory(prefix="wirecall-py-") as tmp:
        path = os.path.join(tmp, "demo.sock")
        server = demo_server(wirecall_bin, "--unix", path)
        try:
            yield f"unix://{path}"
        finally:
            stop(server.process)


@pytest.fixture(params=["tcp", "unix"])
def demo(request: pytest.FixtureRequest) -> str:
    """The demo server's URL, over TCP and over a Unix socket."""
    return request.getfixturevalue(f"demo_{request.param}")


def python_service_command(module: str = "calc_service") -> str:
    """The command line that serves a test module on stdio, as `wirecall call --exec` runs it:
    this interpreter (the virtual environment's), from the tests' directory."""
    return f"cd {shlex.quote(str(TESTS))} && exec {shlex.quote(sys.executable)} -m {module}"


def run_cli(wirecall_bin: pathlib.Path, *args: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs ``wirecall ARGS`` to its end; stdout and stderr as text."""
    return subprocess.run([str(wirecall_bin), *args], input=stdin.encode(), capture_output=True, timeout=timeout)


def wait_until(check, limit: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    """Polls ``check`` every few milliseconds until it holds or ``limit`` seconds pass."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.005)
    return bool(check())
