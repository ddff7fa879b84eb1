"""Handles: manifest format 2 (interfaces after the procedures, type tag 26) read and written
byte for byte as the Rust crates do, and the blocking client holding handles the Rust demo
server (`wirecall serve`) returns: methods called on them, released on close and on drop,
stale after close, refused by the asyncio client with a clear error."""

import asyncio
import inspect
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wirecall
from test_codec import _names, _types
from wirecall import schema, wire
from wirecall.errors import EncodeError
from wirecall.manifest import Interface, Manifest, ManifestError, Param, Procedure

#: `open(name: String<16>) -> handle Channel` (6) in service `demo`, then interface Channel
#: with `read() -> i32` (0) and `configure(scale: i32) -> i32` (1): the bytes of the Rust
#: crate's test (schema/tests/manifest_roundtrip.rs), written from the format by hand.
HANDLES_MANIFEST = bytes([
    2, 4, *b"demo", 1,
    6, 4, *b"open", 0, 1, 4, *b"name", 15, 16, 26, 7, *b"Channel",
    1, 7, *b"Channel", 2,
    0, 4, *b"read", 0, 0, 9,
    1, 9, *b"configure", 0, 1, 5, *b"scale", 9, 9,
])


def test_a_format_2_manifest_reads_and_writes_byte_for_byte():
    m = Manifest.parse(HANDLES_MANIFEST)
    assert m.to_bytes() == HANDLES_MANIFEST and m.format == 2
    (open_,) = m.procedures
    assert open_.signature() == "open(name: String<16>) -> handle Channel"
    assert open_.output == schema.Handle("Channel")
    channel = m.interface("Channel")
    assert channel is not None and m.interface("Log") is None
    assert [p.signature() for p in channel.methods] == ["read() -> i32", "configure(scale: i32) -> i32"]
    assert channel.method("configure").id == 1 and channel.method("open") is None
    assert m.listing().splitlines() == [
        f"demo (schema 0x{m.hash():08X}, 1 procedures, 1 interface)",
        "    6  open(name: String<16>) -> handle Channel",
        "interface Channel (2 methods)",
        "    0  read() -> i32",
        "    1  configure(scale: i32) -> i32",
    ]
    # Without interfaces, the same procedures are format 1; a handle of any interface
    # (an empty name) needs none.
    plain = Manifest("demo", [Procedure(0, "keep", 0, [], schema.Handle())])
    assert plain.to_bytes()[0] == 1
    assert Manifest.parse(plain.to_bytes()).procedures[0].signature() == "keep() -> handle"


def test_handles_decode_to_their_slot_and_generation_and_are_never_sent():
    channel = schema.Handle("Channel")
    value = channel.decode_value(b"\x80\x01\x07")
    assert value == schema.HandleValue("Channel", 128, 7)
    assert str(value) == "handle Channel #128.7"
    assert str(schema.Handle().decode_value(b"\x00\x01")) == "handle #0.1"
    with pytest.raises(wirecall.DecodeError):
        channel.decode_value(b"\x00")
    with pytest.raises(EncodeError, match="cannot be sent"):
        channel.encode_value(value)


@pytest.mark.parametrize("bad, why", [
    ("03", "unknown format"),
    ("02 00 00 00", "format 2 without interfaces"),
    ("02 00 00", "interfaces: varint runs past the end"),
    ("01 00 00 00", "trailing"),
    ("01 00 01 00 01 61 00 00 1a 01 49", "interface I, which the manifest does not declare"),
    ("02 00 01 00 01 61 00 00 1a 01 4a 01 01 49 00", "interface J, which the manifest does not declare"),
    ("02 00 00 02 01 49 00 01 49 00", "duplicate interface name I"),
    ("02 00 00 01 01 49 02 00 01 6d 00 00 00 01 01 6d 00 00 00", "duplicate method name m"),
    ("02 00 00 01 01 49 02 00 01 6d 00 00 00 00 01 6e 00 00 00", "duplicate method id 0"),
    ("02 00 00 ff ff ff ff 0f", "cannot fit"),
    ("01 00 01 00 01 61 00 00 1b", "unknown type tag 27"),
])
def test_invalid_format_2_manifests_are_refused(bad, why):
    with pytest.raises(ManifestError, match=why):
        Manifest.parse(bytes.fromhex(bad.replace(" ", "")))


def _procedures():
    return st.lists(st.tuples(_names(), st.lists(st.tuples(_names(), _types()), max_size=2,
                                                 unique_by=lambda p: p[0]), _types()),
                    max_size=3, unique_by=lambda p: p[0]).map(
        lambda procs: [Procedure(i, n, 0, [Param(pn, t) for pn, t in ps], out)
                       for i, (n, ps, out) in enumerate(procs)])


@settings(max_examples=200, deadline=None)
@given(_procedures(), st.lists(_procedures(), min_size=1, max_size=3), st.data())
def test_manifests_with_interfaces_round_trip(procedures, methods, data):
    interfaces = [Interface(f"I{i}", ms) for i, ms in enumerate(methods)]
    # Some results become handles of a declared interface, or of any.
    every = procedures + [m for ms in methods for m in ms]
    for p in every:
        if data.draw(st.booleans()):
            p.output = schema.Handle(data.draw(st.sampled_from([i.name for i in interfaces] + [""])))
    manifest = Manifest("svc", procedures, interfaces)
    encoded = manifest.to_bytes()
    assert encoded[0] == 2
    again = Manifest.parse(encoded)
    assert again.to_bytes() == encoded
    assert [i.name for i in again.interfaces] == [i.name for i in interfaces]
    for cut in range(len(encoded)):
        with pytest.raises(ManifestError):
            Manifest.parse(encoded[:cut])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_after_format_2_never_crash_the_reader(data):
    try:
        m = Manifest.parse(b"\x02" + data)
    except ManifestError:
        return
    assert Manifest.parse(m.to_bytes()).to_bytes() == m.to_bytes()


def test_handle_frames_read_and_write():
    for frame, body in [
        (wire.Invoke(3, 1, 0, 1, None, b"\x06"), "10 03 01 00 01 06"),
        (wire.Invoke(3, 0, 2, 0, 500, b""), "30 03 00 02 00 f4 03"),
        (wire.Release(0, 1), "0d 00 01"),
        (wire.Revoke(0, 1, 19, b"gone"), "2d 00 01 13 676f6e65"),
    ]:
        data = bytes.fromhex(body.replace(" ", ""))
        assert frame.encode() == data
        assert wire.parse_frame(data) == frame
    hello = wire.Hello(False, 1, 1, 0x0B, 256, 4, 4, 1000, 7, 5000, 8, 0)
    assert wire.parse_frame(hello.encode()) == hello
    assert hello.encode().endswith(bytes([0x88, 0x27, 8, 0]))


# -- against the Rust demo server ------------------------------------------------------------
@pytest.fixture
def dev(demo):
    device = wirecall.connect(demo)
    yield device
    device.close()


def _wait(done, limit: float) -> bool:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if done():
            return True
        time.sleep(0.005)
    return done()


def test_the_demo_manifest_has_its_interface(dev):
    m = dev.manifest
    assert m.format == 2 and m.to_bytes() == dev.peer.fetch_manifest(time.monotonic() + 5)
    assert m.procedure("open").signature() == "open(name: String<16>) -> handle Channel"
    assert [p.signature() for p in m.interface("Channel").methods] == [
        "read() -> i32", "configure(scale: i32) -> i32", "name() -> String<16>"]
    assert "interface Channel (3 methods)" in m.listing()
    assert str(inspect.signature(dev.open)) == "(name: String<16>, *, timeout: Optional[float] = None) -> handle Channel"


def test_methods_are_called_on_the_handle_a_procedure_returns(dev):
    with dev.open("temp") as ch:
        assert isinstance(ch, wirecall.RemoteObject)
        assert ch.handle == schema.HandleValue("Channel", 0, 1)
        assert sorted(ch.methods) == ["configure", "name", "read"]
        assert ch.configure(3) == 1
        assert ch.read() == 3
        assert ch.configure(scale=-1) == 3 and ch.read() == -2
        assert ch.name() == "temp"
        assert str(inspect.signature(ch.configure)) == "(scale: i32, *, timeout: Optional[float] = None) -> i32"
        with pytest.raises(wirecall.RemoteError) as refused:
            ch.configure(0)
        assert refused.value.code == "BadArguments"
        assert ch.revoked() is None
    # Closed: released on the device, and stale here.
    with pytest.raises(wirecall.RemoteError) as stale:
        ch.read()
    assert stale.value.code == "StaleHandle"
    # Two objects at once, each its own state.
    a, b = dev.open("a"), dev.open("b")
    assert len({a.handle, b.handle, ch.handle}) == 3
    assert (a.configure(10), a.read(), b.read(), a.name(), b.name()) == (1, 10, 1, "a", "b")
    a.close()
    b.close()


def test_closed_handles_are_released_on_the_device(dev):
    # More objects, one after another, than the device's table has slots (64): each
    # close frees its slot.
    for i in range(100):
        with dev.open(f"c{i}") as ch:
            assert ch.name() == f"c{i}"


def test_a_full_table_is_an_error_and_dropped_handles_are_released(dev):
    held = [dev.open(f"h{i}") for i in range(64)]
    with pytest.raises(wirecall.RemoteError) as full:
        dev.open("one too many")
    assert full.value.code == "TooManyHandles"
    assert len({h.handle for h in held}) == 64
    del held  # no close: released from the timer thread, within a keepalive
    assert _wait(lambda: not dev.peer._deferred, 5)
    assert dev.add(1, 2) == 3  # a round trip behind the releases
    again = [dev.open(f"g{i}") for i in range(64)]
    assert again[-1].read() == 1
    for h in again:
        h.close()


def test_a_handle_dies_with_its_connection(demo):
    first = wirecall.connect(demo)
    ch = first.open("x")
    first.close()
    with pytest.raises(wirecall.Error):
        ch.read()
    with wirecall.connect(demo) as second:
        with second.open("y") as other:
            assert other.handle.slot == 0 and other.read() == 1


def test_the_asyncio_client_refuses_handles_clearly(demo):
    async def main():
        async with await wirecall.connect_async(demo) as dev:
            frames = dev.stats["frames"]
            with pytest.raises(wirecall.Error, match="handles are not supported by the asyncio client yet"):
                await dev.open("x")
            assert dev.stats["frames"] == frames  # nothing was sent
            assert await dev.add(1, 2) == 3
    asyncio.run(main())
