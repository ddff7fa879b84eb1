"""The Python client against the example firmware under QEMU (an LM3S6965, Cortex-M3),
over its UART: on a Unix socket, and on a pty through pyserial (a ``serial://`` URL), as a
real board's USB serial port would be. The firmware is built by ``./ci.sh``
(``python3 firmware-example/footprint.py``, or ``cargo build --release`` in
firmware-example/); without it or QEMU these tests are skipped, unless
``WIRECALL_REQUIRE_FIRMWARE=1`` (ci.sh sets it) makes that a failure."""

import os
import shutil
import subprocess
import tempfile
import threading
import tty
from typing import Iterator, List

import pytest

import wirecall
from conftest import REPO, read_line, stop

ELF = REPO / "firmware-example" / "target" / "thumbv7m-none-eabi" / "release" / "firmware-example"


def _require() -> None:
    missing = [what for what, ok in (("qemu-system-arm", shutil.which("qemu-system-arm")),
                                     (str(ELF), ELF.exists())) if not ok]
    if missing:
        message = f"{' and '.join(missing)} missing (./ci.sh installs QEMU and builds the firmware)"
        if os.environ.get("WIRECALL_REQUIRE_FIRMWARE") == "1":
            pytest.fail(message)
        pytest.skip(message)


def boot(serial: str, paused: bool = False) -> subprocess.Popen:
    """QEMU with the firmware and UART0 on ``serial`` (a QEMU character device); ``paused``
    starts it stopped, with its monitor on stdin and stdout (write ``cont`` to run it)."""
    _require()
    monitor = ["-S", "-monitor", "stdio"] if paused else ["-monitor", "none"]
    return subprocess.Popen(
        ["qemu-system-arm", "-cpu", "cortex-m3", "-machine", "lm3s6965evb", "-display", "none", *monitor,
         "-semihosting-config", "enable=on,target=native", "-serial", serial, "-kernel", str(ELF)],
        stdin=subprocess.PIPE if paused else subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture
def uart_socket() -> Iterator[str]:
    """The firmware's UART on a Unix socket; QEMU starts the device once we connect."""
    with tempfile.TemporaryDirectory(prefix="wc-qemu-") as tmp:
        path = os.path.join(tmp, "uart")
        qemu = boot(f"unix:{path},server=on,wait=on")
        try:
            # QEMU says so on stderr once it listens: the event to wait for.
            line = read_line(qemu)
            assert "waiting for connection" in line, line
            yield f"unix://{path}"
        finally:
            stop(qemu)


@pytest.fixture
def uart_pty() -> Iterator[str]:
    """The firmware's UART on a pty, as a serial port. QEMU starts paused: a new pty echoes
    what it receives until someone makes it raw, which would send the device's first frames
    back to it; so the pty is made raw first, then the device runs."""
    pytest.importorskip("serial")
    qemu = boot("pty", paused=True)
    raw = -1
    try:
        # QEMU names the pty on stdout: "char device redirected to /dev/pts/N (label serial0)".
        line = read_line(qemu, stdout=True)
        while "redirected to /dev/" not in line:
            assert line, "QEMU ended without naming its pty"
            line = read_line(qemu, stdout=True)
        pty = line.split("redirected to ")[1].split()[0]
        raw = os.open(pty, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(raw)
        assert qemu.stdin is not None
        qemu.stdin.write(b"cont\n")
        qemu.stdin.flush()
        yield f"serial://{pty}?baud=115200"
    finally:
        if raw >= 0:
            os.close(raw)
        stop(qemu)


def exercise(dev: wirecall.Device) -> None:
    assert dev.add(40, 2) == 42
    assert dev.echo(bytes([0, 1, 2, 0, 0xFF, 0])) == bytes([0, 1, 2, 0, 0xFF, 0])
    assert dev.set_level(7) == 0 and dev.get_level() == 7
    info = dev.info()
    assert info.firmware.startswith("wirecall-example"), info
    readings = list(dev.sample(1000, 20))
    assert [r.seq for r in readings] == list(range(20))
    assert all(type(r).__name__ == "Reading" for r in readings)


def test_every_procedure_of_the_firmware_over_its_uart(uart_socket):
    with wirecall.connect(uart_socket) as dev:
        assert list(dev.procedures) == ["add", "echo", "info", "set_level", "get_level", "sleep", "sample",
                                        "ask_host", "open_channel", "power_down"]
        exercise(dev)
        with pytest.raises(wirecall.RemoteError) as e:
            dev.add(2**31 - 1, 1)
        assert e.value.code == "BadArguments"
        with pytest.raises(wirecall.EncodeError, match="at most 64"):
            dev.echo(bytes(65))
        with pytest.raises(wirecall.Timeout):
            dev.sleep(2000, timeout=0.2)
        assert dev.sleep(10) is None
        assert dev.add(1, 1) == 2


def test_the_firmwares_sensor_channels_are_handles_from_python(uart_socket):
    with wirecall.connect(uart_socket) as dev:
        with dev.open_channel(0) as temp, dev.open_channel(1) as supply:
            assert temp.configure(4) == 1
            assert 20_000 <= temp.read() <= 30_000  # milli-degrees Celsius
            assert isinstance(supply.read(), int)
        # Released on leaving the block: the device's four slots are free again.
        held = [dev.open_channel(0) for _ in range(4)]
        with pytest.raises(wirecall.RemoteError) as e:
            dev.open_channel(0)
        assert e.value.code == "TooManyHandles"
        for ch in held:
            ch.close()
        with dev.open_channel(1) as again:
            assert isinstance(again.read(), int)
            # The device withdraws every supply channel: the Revoke arrives ahead of the
            # answer, so the handle knows at once, and a call on it is refused unsent.
            assert again.revoked() is None
            assert dev.power_down(1) == 1
            assert again.revoked() == ("Revoked", "powered down")
            with pytest.raises(wirecall.RemoteError) as e:
                again.read()
            assert e.value.code == "StaleHandle"


def test_the_firmware_calls_back_into_python(uart_socket):
    host = wirecall.Service("host")
    asked: List[tuple] = []

    @host.expose
    def add(a: wirecall.i32, b: wirecall.i32) -> wirecall.i32:
        asked.append((a, b))
        return a + b

    with wirecall.connect(uart_socket, service=host) as dev:
        assert dev.ask_host(20, 22) == 42
        assert asked == [(20, 22)]


def test_threads_beyond_the_devices_four_slots_all_get_answers(uart_socket):
    with wirecall.connect(uart_socket) as dev:
        assert dev.peer.peer_hello.max_inbound == 4
        failures: List[BaseException] = []

        def worker(k: int) -> None:
            try:
                for i in range(10):
                    assert dev.add(k, i) == k + i
            except BaseException as e:
                failures.append(e)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        assert dev.stats.get("late_replies", 0) == 0


def test_the_firmware_over_a_serial_port(uart_pty):
    with wirecall.connect(uart_pty) as dev:
        exercise(dev)
