"""Property test: this package's postcard codec and the Rust dynamic codec (``wirecall_schema``,
which ``wirecall call`` drives from JSON) agree byte for byte, on generated types and values.

For each example a Python server serves ``echo(value: T, tag: u8) -> T`` for a generated type T
(its manifest built here, parsed by the Rust command), and records the bytes its argument
re-encodes to. ``wirecall call`` is given the value as JSON: its encoder must write exactly
the bytes this package writes. Then the command's own printed result (its decoder's reading
of the bytes this package sent back) is passed back as the argument: the bytes must again be
the same, so the Rust decoder read the Python bytes as the value they were.
"""

import json
import math

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import wirecall
from conftest import run_cli
from test_codec import _types, values_of
from wirecall import schema


def json_expressible(t: schema.Type) -> bool:
    """Whether every value of ``t`` has one JSON form: no option of something that is itself
    null in JSON (``Option<()>``, ``Option<Option<T>>``: Some(None) and None look alike)."""
    if isinstance(t, schema.Option):
        inner = t.inner
        while isinstance(inner, schema.Newtype):
            inner = inner.inner
        if isinstance(inner, (schema.Option, schema.Unit, schema.UnitStruct)):
            return False
        return json_expressible(t.inner)
    children = []
    if isinstance(t, (schema.Seq, schema.Array)):
        children = [t.item]
    elif isinstance(t, schema.Map):
        children = [t.key, t.value]
    elif isinstance(t, schema.TupleType):
        children = list(t.items)
    elif isinstance(t, schema.TupleStruct):
        children = list(t.fields)
    elif isinstance(t, schema.Struct):
        children = [ft for _, ft in t.fields]
    elif isinstance(t, schema.Newtype):
        children = [t.inner]
    elif isinstance(t, schema.Enum):
        children = [v.body for v in t.variants if v.kind == schema.VARIANT_NEWTYPE]
    return all(json_expressible(c) for c in children)


def to_json(t: schema.Type, v):
    """The JSON form ``wirecall call`` takes for a value (README, "From the command line")."""
    if isinstance(t, schema.Int):
        return v if -2**63 <= v < 2**64 else str(v)  # wider integers as decimal strings
    if isinstance(t, schema.Float):
        assume(math.isfinite(v))  # JSON has no infinities
        return v
    if isinstance(t, schema.Option):
        return None if v is None else to_json(t.inner, v)
    if isinstance(t, (schema.Seq, schema.Array)):
        return [to_json(t.item, x) for x in v]
    if isinstance(t, schema.Map):
        return [[to_json(t.key, k), to_json(t.value, x)] for k, x in v.items()]  # pairs keep the order
    if isinstance(t, schema.TupleType):
        return [to_json(i, x) for i, x in zip(t.items, v)]
    if isinstance(t, schema.TupleStruct):
        return [to_json(i, x) for i, x in zip(t.fields, v)]
    if isinstance(t, schema.Struct):
        return {n: to_json(ft, v[n]) for n, ft in t.fields}
    if isinstance(t, schema.Newtype):
        return to_json(t.inner, v)
    if isinstance(t, schema.Enum) and isinstance(v, dict):
        ((name, body),) = v.items()
        variant = next(x for x in t.variants if x.name == name)
        return {name: to_json(variant.body, body)}
    return v  # bool, str, None, a unit variant's name


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(st.data())
def test_the_rust_codec_writes_and_reads_the_bytes_this_one_does(wirecall_bin, data):
    t = data.draw(_types().filter(json_expressible), label="type")
    value = data.draw(values_of(t), label="value")
    # Two parameters, so the JSON is read as the argument list only (with one, a bare value
    # is tried first: schema/src/codec/args.rs).
    argument = json.dumps([to_json(t, value), 7])
    expected = t.encode_value(value)
    received = []
    service = wirecall.Service("interop")

    def echo(value: t, tag: wirecall.u8) -> t:  # type: ignore[valid-type] - a wire type as the hint
        assert tag == 7
        received.append(t.encode_value(value))
        return value

    service.expose(echo)
    server = wirecall.tcp_server(service=service).start()
    try:
        first = run_cli(wirecall_bin, "call", "--no-cache", "--tcp", server.address, "echo", argument)
        assert first.returncode == 0, (argument, first.stderr.decode())
        assert received == [expected], f"the Rust encoder wrote other bytes for {argument}"
        printed = first.stdout.decode().strip()
        second = run_cli(wirecall_bin, "call", "--no-cache", "--tcp", server.address, "echo", f"[{printed}, 7]")
        assert second.returncode == 0, (printed, second.stderr.decode())
        assert received[1] == expected, f"the Rust decoder read {expected.hex()} as {printed}"
    finally:
        server.stop()
