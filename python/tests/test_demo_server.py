"""The Python client against the Rust demo server (`wirecall serve`), over TCP and a Unix
socket: calls, errors, timeouts, cancellation, streams, many threads, asyncio."""

import asyncio
import inspect
import threading
import time

import pytest

import wirecall
from conftest import demo_server, stop


@pytest.fixture
def dev(demo):
    device = wirecall.connect(demo)
    yield device
    device.close()


#: The schema hash of the Rust demo service (tests/src/demo.rs): its manifest is format 2,
#: since it declares interface Channel.
DEMO_SCHEMA = 0x1BDF1C4B


def test_the_manifest_binds_methods_with_real_names(dev):
    assert list(dev.procedures) == ["add", "echo", "fail", "huge", "sleep", "count", "open"]
    assert dev.schema == DEMO_SCHEMA
    assert str(inspect.signature(dev.add)) == "(a: i32, b: i32, *, timeout: Optional[float] = None) -> i32"
    assert str(inspect.signature(dev.count)) == "(n: u32, *, timeout: Optional[float] = None) -> Iterator[u32]"
    assert dev.add.__doc__.startswith("add(a: i32, b: i32) -> i32")
    assert "add" in dir(dev)
    with pytest.raises(AttributeError):
        dev.subtract


def test_calls_by_position_and_by_name(dev):
    assert dev.add(2, 3) == 5
    assert dev.add(a=40, b=2) == 42
    assert dev.call("add", 1, b=-1) == 0
    assert dev.echo(b"hello") == b"hello"
    assert dev.echo([0, 1, 255]) == b"\x00\x01\xff"
    assert dev.sleep(1) is None


def test_wrong_arguments_fail_before_anything_is_sent(dev):
    frames = dev.stats["frames"]
    with pytest.raises(TypeError):
        dev.add(1)
    with pytest.raises(TypeError):
        dev.add(1, 2, c=3)
    with pytest.raises(wirecall.EncodeError, match="does not fit i32"):
        dev.add(2**31, 0)
    with pytest.raises(wirecall.EncodeError, match="at most 200 items"):
        dev.echo(bytes(201))
    assert dev.stats["frames"] == frames  # no answer came, because nothing was asked


def test_remote_errors_carry_the_wire_name(dev):
    with pytest.raises(wirecall.RemoteError) as failed:
        dev.fail()
    assert failed.value.code == "Internal" and failed.value.number == 11
    with pytest.raises(wirecall.RemoteError) as overflow:
        dev.add(2**31 - 1, 1)
    assert overflow.value.code == "BadArguments"
    assert dev.add(1, 1) == 2  # the connection goes on


def test_a_result_larger_than_the_frame_limit_is_too_large(demo):
    with wirecall.connect(demo, options=wirecall.Options(max_frame=256)) as small:
        with pytest.raises(wirecall.RemoteError) as e:
            small.huge()
        assert e.value.code == "TooLarge"
    with wirecall.connect(demo) as large:
        assert large.huge() == b"\xab" * 1024


def test_a_timeout_cancels_the_call_and_frees_its_slot(dev):
    started = time.monotonic()
    with pytest.raises(wirecall.Timeout):
        dev.sleep(2000, timeout=0.1)
    assert time.monotonic() - started < 1.0
    # More timed-out calls than the in-flight limit: each id is released by the server's
    # answer to its Cancel, so later calls still find a slot.
    limit = dev.peer._in_flight_limit()
    for _ in range(limit + 4):
        with pytest.raises(wirecall.Timeout):
            dev.sleep(300, timeout=0.01)
    assert dev.add(20, 22) == 42


def test_server_streams(dev):
    assert list(dev.count(1000)) == list(range(1000))
    assert list(dev.count(0)) == []


def test_leaving_a_stream_early_cancels_it(dev):
    with dev.count(100000) as items:
        for i, n in enumerate(items):
            assert n == i
            if i == 50:
                break
    assert items.done
    assert dev.add(1, 2) == 3
    assert list(dev.count(3)) == [0, 1, 2]


def test_many_threads_share_one_connection(dev):
    errors = []

    def worker(k: int) -> None:
        try:
            for i in range(50):
                assert dev.add(k, i) == k + i
        except Exception as e:  # reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_an_unexpected_schema_is_refused(demo):
    with pytest.raises(wirecall.IncompatibleSchema):
        wirecall.connect(demo, schema=0x12345678)
    with wirecall.connect(demo, schema=DEMO_SCHEMA) as ok:
        assert ok.add(1, 1) == 2


def test_calls_by_number_without_a_manifest(demo):
    with wirecall.connect(demo, manifest=False) as raw:
        assert raw.procedures == {}
        assert raw.call_raw(0, bytes.fromhex("0204")) == b"\x06"
        with pytest.raises(wirecall.RemoteError) as e:
            raw.call_raw(99, b"")
        assert e.value.code == "UnknownProcedure"


def test_a_refused_link_names_what_was_tried():
    with pytest.raises(wirecall.ConnectionLost, match="cannot connect to tcp 127.0.0.1:1"):
        wirecall.connect("tcp://127.0.0.1:1")
    with pytest.raises(ValueError, match="no port"):
        wirecall.connect("tcp://127.0.0.1")


def test_a_server_that_dies_mid_call_ends_it_with_connection_lost(wirecall_bin):
    server = demo_server(wirecall_bin, "--tcp", "127.0.0.1:0")
    try:
        dev = wirecall.connect(f"tcp://{server.address}")
        result = []
        caller = threading.Thread(target=lambda: result.append(_catch(lambda: dev.sleep(5000, timeout=10))))
        caller.start()
        # The call is in flight once the server holds it: wait for that, then kill the server.
        assert _wait(lambda: len(dev.peer._calls) == 1)
        stop(server.process)
        caller.join(10)
        assert isinstance(result[0], wirecall.ConnectionLost), result
        with pytest.raises(wirecall.ConnectionLost):
            dev.add(1, 2)
        dev.close()
    finally:
        stop(server.process)


def _catch(f):
    try:
        return f()
    except Exception as e:
        return e


def _wait(check, limit=10.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.005)
    return False


# -- asyncio ----------------------------------------------------------------------------------
def test_asyncio_calls_streams_and_timeouts(demo):
    async def main():
        async with await wirecall.connect_async(demo) as dev:
            assert await dev.add(2, 3) == 5
            assert await dev.add(a=1, b=1) == 2
            results = await asyncio.gather(*(dev.add(i, i) for i in range(100)))
            assert results == [2 * i for i in range(100)]
            assert [n async for n in dev.count(300)] == list(range(300))
            with pytest.raises(wirecall.RemoteError):
                await dev.fail()
            with pytest.raises(wirecall.Timeout):
                await dev.sleep(2000, timeout=0.05)
            # Cancelling the task cancels the call on the server.
            task = asyncio.ensure_future(dev.sleep(2000))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            stream = dev.count(100000)
            async for n in stream:
                if n == 10:
                    break
            await stream.aclose()
            assert await dev.add(40, 2) == 42
    asyncio.run(main())


def test_a_stream_dropped_unfinished_is_cancelled(dev):
    items = dev.count(100000)
    assert next(items) == 0
    call = items._call
    del items  # no close: the finalizer cancels it, within a keepalive
    assert _wait(lambda: call.outcome is not None and call.id not in dev.peer._calls, 5)
    assert isinstance(call.outcome, wirecall.Cancelled)
    assert dev.add(1, 2) == 3


def test_the_rust_manifest_in_pieces_through_small_frames(demo):
    with wirecall.connect(demo, options=wirecall.Options(max_frame=48)) as dev:
        assert dev.schema == DEMO_SCHEMA and dev.add(2, 2) == 4
