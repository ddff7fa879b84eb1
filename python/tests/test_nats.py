"""wirecall.nats against a real bus: a ``nats-server``, the Rust demo server (``wirecall serve``)
and ``wirecall-gateway`` between them. Discovery, calls, errors, deadlines, streams and
cancellation, each checked on the bus itself where it can be: a second NATS connection (the
"spy") subscribes to the subjects a call uses and sees the requests, their headers, the
cancels and the gateway's answers.

Needs ``nats-server`` on the PATH, nats-py, and the gateway binary ($WIRECALL_GATEWAY_BIN, else
``wirecall-gateway`` next to the ``wirecall`` binary: ``cargo build -p wirecall-gateway``).
Without them the tests are skipped, saying why; ``WIRECALL_REQUIRE_NATS=1`` (as ./ci.sh
sets) makes their absence a failure.
"""

import asyncio
import json
import os
import pathlib
import shutil
import subprocess
import threading
import time
from typing import Any, Awaitable, Callable, Iterator, List, NamedTuple

import pytest

from conftest import demo_server, read_line, stop

import wirecall

try:
    import nats

    import wirecall.nats as wnats
except ImportError:  # the test extra installs nats-py; without it the tests say so
    nats = None

#: An upper bound on any one awaited event (a line, a reply, a message): never a sleep.
EVENT = 15.0
#: The demo service's schema hash (tests/src/demo.rs).
DEMO_SCHEMA = 0x1BDF1C4B


def _missing(wirecall_bin: pathlib.Path) -> List[str]:
    missing = []
    if shutil.which("nats-server") is None:
        missing.append("nats-server is not on the PATH")
    if nats is None:
        missing.append("nats-py is not installed (pip install './python[nats]')")
    if not gateway_binary(wirecall_bin).exists():
        missing.append(f"{gateway_binary(wirecall_bin)} is missing (cargo build -p wirecall-gateway, "
                       "or set WIRECALL_GATEWAY_BIN)")
    return missing


def gateway_binary(wirecall_bin: pathlib.Path) -> pathlib.Path:
    """$WIRECALL_GATEWAY_BIN, else ``wirecall-gateway`` beside the ``wirecall`` binary."""
    default = wirecall_bin.parent / "wirecall-gateway"
    return pathlib.Path(os.environ.get("WIRECALL_GATEWAY_BIN", default))


def _drain(process: subprocess.Popen) -> None:
    """Reads the rest of a child's stderr on a thread, so that its pipe never fills; the
    thread ends with the pipe, when the child is stopped."""
    assert process.stderr is not None
    fd = process.stderr.fileno()
    threading.Thread(target=lambda: all(iter(lambda: os.read(fd, 65536), b"")), daemon=True).start()


def _wait_for_line(process: subprocess.Popen, what: str, marker: str) -> str:
    """The first stderr line of ``process`` that contains ``marker``."""
    end = time.monotonic() + EVENT
    seen = []
    while time.monotonic() < end:
        line = read_line(process, max(0.0, end - time.monotonic()))
        if not line:
            raise RuntimeError(f"{what} ended before it was ready: {seen}")
        seen.append(line.strip())
        if marker in line:
            return line
    raise RuntimeError(f"no {what} line with {marker!r} in {EVENT} s: {seen}")


class Bus(NamedTuple):
    """The running bus: its URL and the processes on it (stopped by pid after the module)."""

    url: str
    processes: List[subprocess.Popen]


@pytest.fixture(scope="module")
def bus(wirecall_bin: pathlib.Path) -> Iterator[Bus]:
    missing = _missing(wirecall_bin)
    if missing:
        why = "; ".join(missing)
        if os.environ.get("WIRECALL_REQUIRE_NATS") == "1":
            pytest.fail(f"WIRECALL_REQUIRE_NATS=1, and {why}")
        pytest.skip(why)
    processes: List[subprocess.Popen] = []
    try:
        # `-p -1`: the server picks a free port and logs it, so no port is guessed.
        server = subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", "-1"], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        processes.append(server)
        listening = _wait_for_line(server, "nats-server", "Listening for client connections on ")
        address = listening.split("Listening for client connections on ", 1)[1].strip()
        _wait_for_line(server, "nats-server", "Server is ready")
        _drain(server)
        url = f"nats://{address}"

        device = demo_server(wirecall_bin, "--tcp", "127.0.0.1:0")
        processes.append(device.process)
        _drain(device.process)

        gateway = subprocess.Popen([str(gateway_binary(wirecall_bin)), "--nats", url, "--device",
                                    f"demo=tcp://{device.address}"], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        processes.append(gateway)
        _wait_for_line(gateway, "wirecall-gateway", "wirecall-gateway: ready")
        _drain(gateway)
        yield Bus(url, processes)
    finally:
        for process in reversed(processes):
            stop(process)


def run(bus: Bus, body: Callable[[Any, Any], Awaitable[None]]) -> None:
    """Runs ``body(client, spy)`` on a fresh event loop: ``client`` a wirecall.nats bus, ``spy``
    a second plain NATS connection; both are closed after it."""

    async def main() -> None:
        client = await wnats.connect(bus.url)
        spy = await nats.connect(bus.url)
        try:
            await asyncio.wait_for(body(client, spy), 4 * EVENT)
        finally:
            await spy.close()
            await client.close()

    asyncio.run(main())


async def _subscribe(spy: Any, subject: str) -> Any:
    """A subscription of the spy, on the server before the next request is sent."""
    sub = await spy.subscribe(subject)
    await wnats.flush_after_subscribe(spy)
    return sub


async def _endpoint_stats(spy: Any, subject: str) -> dict:
    """The gateway's ``$SRV.STATS`` entry of the endpoint on ``subject``."""
    msg = await spy.request("$SRV.STATS.wirecall-demo", b"", timeout=EVENT)
    for endpoint in json.loads(msg.data)["endpoints"]:
        if endpoint["subject"] == subject:
            return dict(endpoint)
    raise AssertionError(f"no endpoint {subject} in {msg.data!r}")


async def _wait_for_in_flight(spy: Any, subject: str, count: int) -> None:
    """Asks the gateway's ``$SRV.STATS`` until the device has ``count`` calls in flight
    through it, for at most EVENT seconds (each answer is an event: no fixed sleep)."""
    end = time.monotonic() + EVENT
    while True:
        data = (await _endpoint_stats(spy, subject))["data"]
        if data["in_flight"] == count:
            return
        if time.monotonic() > end:
            raise AssertionError(f"the device still has {data['in_flight']} calls in flight, not {count}, "
                                 f"after {EVENT} s")
        await asyncio.sleep(0.02)  # between two questions, not a wait for the outcome


def test_discovery_lists_the_demo_device(bus: Bus) -> None:
    async def body(client: Any, spy: Any) -> None:
        started = time.monotonic()
        devices = await client.devices(timeout=2 * EVENT)
        took = time.monotonic() - started
        assert [d.id for d in devices] == ["demo"], devices
        demo = devices[0]
        assert demo.service == "demo"
        assert demo.schema == DEMO_SCHEMA
        assert demo.link.startswith("tcp")
        assert len(demo.gateways) == 1 and demo.gateways[0]
        by_name = {p.name: p for p in demo.procedures}
        assert by_name["add"].signature == "add(a: i32, b: i32) -> i32"
        assert by_name["add"].subject == "wirecall.demo.add"
        assert by_name["add"].mode == "call"
        assert by_name["add"].procedure_id == 0
        assert by_name["sleep"].signature == "sleep(ms: u32)"
        # The gather ended on its quiet window after the answer, not on its bound (2 * EVENT).
        assert took < EVENT, took
        info = await client.device("demo").info()
        assert info is not None and info.schema == DEMO_SCHEMA
        assert await client.device("nobody").info() is None

    run(bus, body)


def test_calls_by_method_and_by_name(bus: Bus) -> None:
    async def body(client: Any, spy: Any) -> None:
        dev = client.device("demo")
        assert await dev.add(2, 40) == 42
        assert await dev.add(a=2, b=40) == 42
        assert await dev.call("add", [2, 40], timeout=1) == 42
        assert await dev.call("add", {"a": -7, "b": 5}) == -2
        assert await dev.echo(b"hello") == "hello"
        assert await dev.sleep(1) is None
        # Calls at once (fewer than the 32 the device takes), each answered to its own reply subject.
        sums = await asyncio.gather(*(dev.add(i, i) for i in range(20)))
        assert sums == [2 * i for i in range(20)]

    run(bus, body)


def test_every_call_sends_its_timeout(bus: Bus) -> None:
    async def body(client: Any, spy: Any) -> None:
        requests = await _subscribe(spy, "wirecall.demo.add")
        dev = client.device("demo")
        assert await dev.add(1, 2) == 3
        assert await dev.add(1, 2, timeout=1.5) == 3
        assert await client.device("demo", timeout=0.25).add(1, 2) == 3
        sent = [(await requests.next_msg(EVENT)).headers for _ in range(3)]
        assert [h["Wirecall-Timeout-Ms"] for h in sent] == ["5000", "1500", "250"]

    run(bus, body)


def test_errors_are_the_packages_exceptions(bus: Bus) -> None:
    async def body(client: Any, spy: Any) -> None:
        dev = client.device("demo")
        for bad in (("two", 40), (1,)):
            with pytest.raises(wirecall.RemoteError) as e:
                await dev.add(*bad)
            assert e.value.code == "BadArguments"
            assert "add(a: i32, b: i32) -> i32" in str(e.value), e.value
        with pytest.raises(wirecall.RemoteError) as e:
            await dev.fail()
        assert e.value.code == "Internal"
        with pytest.raises(wnats.NoGateway, match="no gateway serves device nobody"):
            await client.device("nobody").add(1, 2)
        with pytest.raises(wirecall.RemoteError, match="has no procedure subtract") as e:
            await dev.subtract(1, 2)
        assert e.value.code == "UnknownProcedure"
        assert "add" in str(e.value)  # what it does serve
        with pytest.raises(ValueError, match="bad device id"):
            client.device("a.b")
        with pytest.raises(TypeError, match="not both"):
            await dev.add(1, b=2)
        assert await dev.add(20, 22) == 42, "the device carries on"

    run(bus, body)


def test_a_device_at_its_limit_answers_busy_at_once(bus: Bus) -> None:
    async def body(client: Any, spy: Any) -> None:
        # The calls of the tests before have all been answered, but the gateway may drop
        # their tickets a moment later: start from none, or one of the 32 sleeps is refused.
        await _wait_for_in_flight(spy, "wirecall.demo.sleep", 0)
        dev = client.device("demo")
        # The gateway takes as many calls per device as the device does (32): fill them.
        sleeps = [asyncio.ensure_future(dev.sleep(6000, timeout=30)) for _ in range(32)]
        # All 32 hold their slots in the gateway (the spy seeing the requests would not say
        # so: an `add` sent then could take a slot before the last sleep). Until the sleeps
        # end (6 s), one more call is refused at once.
        await _wait_for_in_flight(spy, "wirecall.demo.sleep", 32)
        busy = None
        while busy is None and not any(s.done() for s in sleeps):
            try:
                await dev.add(1, 2)
            except wirecall.Busy as e:
                busy = e
        assert busy is not None, "no call was refused Busy while 32 were in flight"
        assert "as many calls in flight" in str(busy)
        assert await asyncio.gather(*sleeps) == [None] * 32

    run(bus, body)


def test_closing_the_bus_fails_the_calls_still_waiting_and_cancels_them(bus: Bus) -> None:
    async def body(client: Any, spy: Any) -> None:
        await _needs_streams(client)
        requests = await _subscribe(spy, "wirecall.demo.*")
        cancels = await _subscribe(spy, "wirecall.demo.*.cancel")
        dev = client.device("demo")
        # A call and a stream still waiting: without their cancels the device would hold
        # their slots for a minute (the sleep) and a billion items.
        call = asyncio.ensure_future(dev.sleep(60000, timeout=120))
        stream = dev.stream("count", [1000000000], timeout=120)
        assert await stream.__anext__() == 0
        replies = {(await requests.next_msg(EVENT)).reply for _ in range(2)}
        await _wait_for_in_flight(spy, "wirecall.demo.sleep", 2)
        started = time.monotonic()
        await client.close()
        with pytest.raises(wirecall.ConnectionLost, match="closed"):
            await call
        # The items already there come first; then the stream says the bus was closed.
        with pytest.raises(wirecall.ConnectionLost, match="closed"):
            async for _ in stream:
                pass
        assert time.monotonic() - started < EVENT
        assert {(await cancels.next_msg(EVENT)).data.decode() for _ in range(2)} == replies
        # The device stopped both (the gateway answered 499), long before the sleep's minute.
        await _wait_for_in_flight(spy, "wirecall.demo.sleep", 0)

    run(bus, body)


def test_a_bus_over_a_callers_connection_leaves_no_subscription(bus: Bus) -> None:
    async def body(client: Any, spy: Any) -> None:
        nc = await nats.connect(bus.url)
        try:
            # nats-py counts a connection's subscriptions in `_subs` (no public count).
            before = len(nc._subs)
            over = await wnats.Bus.over(nc)
            assert len(nc._subs) == before + 1
            assert await over.device("demo").add(2, 40) == 42
            await over.close()
            assert len(nc._subs) == before
            assert not nc.is_closed, "the caller's connection stays open"
        finally:
            await nc.close()

    run(bus, body)


def test_a_deadline_ends_the_call_on_the_device(bus: Bus) -> None:
    async def body(client: Any, spy: Any) -> None:
        dev = client.device("demo")
        started = time.monotonic()
        with pytest.raises(wirecall.DeadlineExceeded):
            await dev.sleep(60000, timeout=0.3)
        took = time.monotonic() - started
        # The gateway's 504 at the deadline, long before the sleep's minute.
        assert 0.25 < took < EVENT, took
        assert await dev.add(1, 1) == 2

    run(bus, body)


def test_no_answer_in_time_sends_the_cancel(bus: Bus) -> None:
    """A request nobody answers (the spy takes it and stays silent, as a gateway killed
    mid-call): the caller gives up after its timeout and a grace, and cancels."""
    async def body(client: Any, spy: Any) -> None:
        requests = await _subscribe(spy, "wirecall.silent.add")
        cancels = await _subscribe(spy, "wirecall.silent.add.cancel")
        started = time.monotonic()
        with pytest.raises(wirecall.Timeout, match="no answer"):
            await client.device("silent").add(1, 2, timeout=0.2)
        took = time.monotonic() - started
        # Not before the timeout and its grace; and it does give up (nothing else would end it).
        assert 0.2 + wnats.GRACE - 0.05 < took < 0.2 + wnats.GRACE + EVENT, took
        request = await requests.next_msg(EVENT)
        cancel = await cancels.next_msg(EVENT)
        assert cancel.data.decode() == request.reply

    run(bus, body)


def test_cancelling_a_call_sends_the_cancel(bus: Bus) -> None:
    async def body(client: Any, spy: Any) -> None:
        requests = await _subscribe(spy, "wirecall.demo.sleep")
        cancels = await _subscribe(spy, "wirecall.demo.sleep.cancel")
        dev = client.device("demo")
        call = asyncio.ensure_future(dev.sleep(60000, timeout=120))
        request = await requests.next_msg(EVENT)
        # The spy hears the gateway's answer to the call too (the reply subject is plain NATS).
        answers = await _subscribe(spy, request.reply)
        started = time.monotonic()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert time.monotonic() - started < EVENT
        cancel = await cancels.next_msg(EVENT)
        assert cancel.data.decode() == request.reply
        await _needs_streams(client)  # and the cancel subject, which came with them
        # The gateway cancelled the call and answered 499, long before the sleep's minute.
        answer = await _final_answer(answers)
        assert answer.headers["Nats-Service-Error-Code"] == "499", answer.headers
        assert time.monotonic() - started < EVENT

    run(bus, body)


def test_streams_follow_the_contract(bus: Bus) -> None:
    """The stream side of docs/NATS.md against a scripted responder on the spy's connection
    (device "scripted"): numbered items, the end with their count, an error as the last
    message, and an item lost on the way (as core NATS drops them for a slow consumer)."""

    async def body(client: Any, spy: Any) -> None:
        async def serve(msg: Any) -> None:
            n, skip, ending = json.loads(msg.data)
            for i in range(n):
                if i + 1 != skip:
                    await spy.publish(msg.reply, json.dumps(i * 10).encode(), headers={"Wirecall-Item": str(i + 1)})
            if ending is True:
                await spy.publish(msg.reply, b"", headers={"Nats-Service-Error": "device scripted: it broke",
                                                           "Nats-Service-Error-Code": "500"})
            elif ending == "no code":
                await spy.publish(msg.reply, b"", headers={"Nats-Service-Error": "device scripted: no code"})
            else:
                await spy.publish(msg.reply, b"", headers={"Wirecall-End": str(n) if ending is False else ending})

        async def answer_without_code(msg: Any) -> None:
            await spy.publish(msg.reply, b"", headers={"Nats-Service-Error": "device scripted: no code"})

        await spy.subscribe("wirecall.scripted.count", cb=serve)
        await spy.subscribe("wirecall.scripted.add", cb=answer_without_code)
        await wnats.flush_after_subscribe(spy)
        dev = client.device("scripted")
        stream = dev.stream("count", [4, 0, False])
        assert [x async for x in stream] == [0, 10, 20, 30]
        assert stream.count == 4
        seen = []
        with pytest.raises(wirecall.RemoteError, match="it broke") as e:
            async for x in dev.count(2, 0, True):
                seen.append(x)
        assert seen == [0, 10] and e.value.code == "Internal"
        seen = []
        with pytest.raises(wirecall.ProtocolError, match="item 2 was lost"):
            async for x in dev.count(3, 2, False):
                seen.append(x)
        assert seen == [0]
        # An end that is no number, and an error without its code (500, as the CLI reads it).
        with pytest.raises(wirecall.ProtocolError, match="'many' items, not a number"):
            async for x in dev.count(1, 0, "many"):
                pass
        with pytest.raises(wirecall.RemoteError, match="no code") as e:
            async for x in dev.count(1, 0, "no code"):
                pass
        assert e.value.code == "Internal"
        with pytest.raises(wirecall.RemoteError, match="no code") as e:
            await dev.add(1, 2)
        assert e.value.code == "Internal"

    run(bus, body)


def test_a_stream_yields_all_its_items(bus: Bus) -> None:
    async def body(client: Any, spy: Any) -> None:
        await _needs_streams(client)
        dev = client.device("demo")
        assert [x async for x in dev.count(5)] == [0, 1, 2, 3, 4]
        async with dev.count(300) as stream:
            assert [x async for x in stream] == list(range(300))
        assert stream.count == 300
        assert [x async for x in dev.stream("count", [0])] == []
        # A call and a stream each say which they are when used as the other.
        with pytest.raises(wirecall.Error, match="count is a server stream"):
            await dev.count(5)
        with pytest.raises(wirecall.Error, match="add is not a server stream"):
            async for _ in dev.add(1, 2):
                pass
        with pytest.raises(wirecall.RemoteError, match="count"):
            async for _ in dev.count("many"):
                pass
        with pytest.raises(wnats.NoGateway):
            async for _ in client.device("nobody").count(5):
                pass

    run(bus, body)


async def _ended_by_cancel(request: Any, cancels: Any, answers: Any) -> None:
    """The cancel went out naming the stream's reply subject, and the gateway then ended the
    stream with 499 (not with its end, a billion items later)."""
    cancel = await cancels.next_msg(EVENT)
    assert cancel.data.decode() == request.reply
    final = await _final_answer(answers)
    assert final.headers["Nats-Service-Error-Code"] == "499", final.headers


def test_leaving_a_stream_early_sends_the_cancel(bus: Bus) -> None:
    async def body(client: Any, spy: Any) -> None:
        await _needs_streams(client)
        requests = await _subscribe(spy, "wirecall.demo.count")
        cancels = await _subscribe(spy, "wirecall.demo.count.cancel")
        dev = client.device("demo")

        # `break`: the loop drops its stream, whose finaliser sends the cancel.
        # Streams far longer than any test, with deadlines far beyond it: only the cancel
        # ends them.
        async for x in dev.count(1000000000, timeout=120):
            if x == 0:
                request = await requests.next_msg(EVENT)
                # From now on the spy sees what the gateway sends to the stream's reply subject.
                answers = await _subscribe(spy, request.reply)
            if x == 2:
                break
        await _ended_by_cancel(request, cancels, answers)

        # `async with`: leaving the block closes the stream.
        async with dev.count(1000000000, timeout=120) as stream:
            async for x in stream:
                if x == 0:
                    request = await requests.next_msg(EVENT)
                    answers = await _subscribe(spy, request.reply)
                if x == 2:
                    break
        await _ended_by_cancel(request, cancels, answers)

    run(bus, body)


def test_a_streams_deadline_ends_it(bus: Bus) -> None:
    async def body(client: Any, spy: Any) -> None:
        await _needs_streams(client)
        started = time.monotonic()
        items = 0
        with pytest.raises(wirecall.DeadlineExceeded):
            async for _ in client.device("demo").count(1000000, timeout=0.3):
                items += 1
        took = time.monotonic() - started
        # The gateway's 504 at the deadline ended a stream that was running, long before
        # its million items, and ended it on the device too.
        assert items > 0
        assert took < EVENT, took
        await _wait_for_in_flight(spy, "wirecall.demo.count", 0)

    run(bus, body)


def test_cancelling_a_streams_task_sends_the_cancel(bus: Bus) -> None:
    async def body(client: Any, spy: Any) -> None:
        await _needs_streams(client)
        requests = await _subscribe(spy, "wirecall.demo.count")
        cancels = await _subscribe(spy, "wirecall.demo.count.cancel")
        seen: List[int] = []

        async def consume() -> None:
            async for x in client.device("demo").count(1000000000, timeout=120):
                seen.append(x)
                await asyncio.sleep(0.001)  # a slow consumer: the task is cancelled mid-stream

        task = asyncio.ensure_future(consume())
        request = await requests.next_msg(EVENT)
        answers = await _subscribe(spy, request.reply)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The gateway ended the stream with 499, not with its end a billion items later.
        await _ended_by_cancel(request, cancels, answers)

    run(bus, body)


async def _final_answer(answers: Any) -> Any:
    """The first message on a reply subject that is no stream item (the call's one answer,
    or a stream's last message), within EVENT seconds in all."""
    end = time.monotonic() + EVENT
    while True:
        msg = await answers.next_msg(max(0.001, end - time.monotonic()))
        if "Wirecall-Item" not in (msg.headers or {}):
            return msg


async def _needs_streams(client: Any) -> None:
    """Skips the test (or fails it under WIRECALL_REQUIRE_NATS=1) when the gateway serves no
    server streams yet: the demo device's ``count`` has no endpoint."""
    devices = await client.devices()
    modes = {p.name: p.mode for d in devices if d.id == "demo" for p in d.procedures}
    if modes.get("count") != "server_stream":
        if os.environ.get("WIRECALL_REQUIRE_NATS") == "1":
            pytest.fail(f"needs gateway streams: the demo device's endpoints are {modes}")
        pytest.skip("needs gateway streams")
