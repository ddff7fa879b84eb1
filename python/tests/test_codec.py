"""The postcard codec and the manifest: the spec's examples, bounds and rejections, and
property tests (hypothesis) over generated types and values."""

import dataclasses
import enum
import math
from typing import Dict, Iterator, List, Optional, Tuple, Union

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wirecall
from wirecall import schema
from wirecall.errors import DecodeError, EncodeError
from wirecall.manifest import Manifest, ManifestError, Param, Procedure, schema_hash

DEMO_MANIFEST = bytes.fromhex(
    "01 04 64 65 6d 6f 06 00 03 61 64 64 00 02 01 61 09 01 62 09 09 01 04 65"
    "63 68 6f 00 01 04 64 61 74 61 11 c8 01 02 11 c8 01 02 02 04 66 61 69 6c"
    "00 00 00 03 04 68 75 67 65 00 00 11 80 08 02 04 05 73 6c 65 65 70 00 01"
    "02 6d 73 04 00 05 05 63 6f 75 6e 74 02 01 01 6e 04 00 04".replace(" ", ""))


def test_postcard_examples_of_section_10():
    i32 = schema.I32_T
    assert [i32.encode_value(v).hex() for v in (1, 2, -1, 3)] == ["02", "04", "01", "06"]
    assert schema.U32_T.encode_value(300).hex() == "ac02"
    assert schema.I8_T.encode_value(-1).hex() == "ff"
    assert schema.BOOL_T.encode_value(True).hex() == "01"
    assert schema.F32_T.encode_value(1.0).hex() == "0000803f"
    assert schema.Option(schema.U8_T).encode_value(None).hex() == "00"
    assert schema.Option(schema.U8_T).encode_value(7).hex() == "0107"
    assert schema.String(0).encode_value("hi").hex() == "026869"
    assert schema.CHAR_T.encode_value("é").hex() == "02c3a9"
    assert schema.Seq(0, schema.U16_T).encode_value([1, 300]).hex() == "0201ac02"
    assert schema.Array(2, schema.U8_T).encode_value(b"\x01\x02").hex() == "0102"
    assert schema.I128_T.encode_value(-2**127) == b"\xff" * 18 + b"\x03"
    assert schema.U128_T.decode_value(b"\xff" * 18 + b"\x03") == 2**128 - 1
    assert schema.I64_T.decode_value(bytes.fromhex("8000")) == 0  # a non-minimal varint


def test_integers_are_range_checked_both_ways():
    with pytest.raises(EncodeError, match="does not fit i32"):
        schema.I32_T.encode_value(2**31)
    with pytest.raises(EncodeError, match="expected an integer"):
        schema.U8_T.encode_value(True)
    with pytest.raises(DecodeError):
        schema.U16_T.decode_value(bytes.fromhex("ffff07"))  # 0x1ffff does not fit 16 bits
    with pytest.raises(DecodeError):
        schema.U16_T.decode_value(bytes.fromhex("80808000"))  # longer than a u16 takes
    with pytest.raises(DecodeError, match="left after"):
        schema.U8_T.decode_value(b"\x01\x02")
    with pytest.raises(EncodeError):
        schema.F32_T.encode_value(1e39)


def test_bounds_are_checked_before_sending_and_when_receiving():
    seq = schema.Seq(3, schema.U8_T)
    with pytest.raises(EncodeError, match="at most 3 items"):
        seq.encode_value(b"abcd")
    with pytest.raises(DecodeError, match="at most 3"):
        seq.decode_value(b"\x04abcd")
    with pytest.raises(EncodeError, match="at most 2 bytes"):
        schema.String(2).encode_value("héllo")
    with pytest.raises(DecodeError, match="cannot fit"):
        schema.Seq(0, schema.U32_T).decode_value(b"\xff\xff\xff\xff\x0f")
    with pytest.raises(DecodeError, match="not UTF-8"):
        schema.String(0).decode_value(b"\x01\xff")
    with pytest.raises(DecodeError):
        schema.BOOL_T.decode_value(b"\x02")


def test_structs_enums_and_their_python_values():
    point = schema.Struct("Point", [("x", schema.I32_T), ("y", schema.I32_T)])
    data = point.encode_value({"x": 1, "y": -1})
    assert data.hex() == "0201"
    value = point.decode_value(data)
    assert (type(value).__name__, value.x, value.y) == ("Point", 1, -1)
    assert point.encode_value(value) == data  # the decoded dataclass encodes back
    with pytest.raises(EncodeError, match="missing field y"):
        point.encode_value({"x": 1})
    with pytest.raises(EncodeError, match="no field z"):
        point.encode_value({"x": 1, "y": 2, "z": 3})
    mode = schema.Enum("Mode", [schema.Variant("Off"), schema.Variant("Level", schema.VARIANT_NEWTYPE, schema.U8_T),
                                schema.Variant("Blink", schema.VARIANT_STRUCT, (("hz", schema.U8_T),))])
    assert mode.encode_value("Off").hex() == "00"
    assert mode.encode_value({"Level": 7}).hex() == "0107"
    assert mode.encode_value({"Blink": {"hz": 2}}).hex() == "0202"
    assert mode.decode_value(bytes.fromhex("0202")) == {"Blink": {"hz": 2}}
    assert mode.definition() == "enum Mode { Off, Level(u8), Blink { hz: u8 } }"
    with pytest.raises(DecodeError):
        mode.decode_value(b"\x03")


def test_the_demo_manifest_reads_and_writes_byte_for_byte():
    manifest = Manifest.parse(DEMO_MANIFEST)
    assert manifest.to_bytes() == DEMO_MANIFEST
    assert schema_hash(DEMO_MANIFEST) == 0x61D497C5
    assert [p.signature() for p in manifest.procedures] == [
        "add(a: i32, b: i32) -> i32", "echo(data: Vec<u8, 200>) -> Vec<u8, 200>", "fail()",
        "huge() -> Vec<u8, 1024>", "sleep(ms: u32)", "count(n: u32) -> stream u32"]


def test_a_python_declaration_builds_the_rust_declarations_manifest():
    # The Rust demo service (tests/src/demo.rs) as it was before it had a handle type (the
    # 91-byte manifest of docs/PROTOCOL.md), declared in Python: the same 91 bytes.
    demo = wirecall.Service("demo")

    @demo.expose
    def add(a: wirecall.i32, b: wirecall.i32) -> wirecall.i32: ...

    @demo.expose
    def echo(data: wirecall.vec(wirecall.u8, max=200)) -> wirecall.vec(wirecall.u8, max=200): ...

    @demo.expose
    def fail() -> None: ...

    @demo.expose
    def huge() -> wirecall.vec(wirecall.u8, max=1024): ...

    @demo.expose
    def sleep(ms: wirecall.u32): ...

    @demo.expose
    def count(n: wirecall.u32) -> Iterator[wirecall.u32]: ...

    assert demo.manifest_bytes == DEMO_MANIFEST


def test_hints_map_to_wire_types():
    @dataclasses.dataclass
    class Reading:
        celsius: wirecall.f32
        tags: List[str]

    class Color(enum.Enum):
        Red = 1
        Green = 2

    svc = wirecall.Service("hints")

    @svc.expose
    def f(a: int, b: float, c: bool, d: str, e: bytes, g: Optional[wirecall.u8], h: Tuple[int, str],
          i: Dict[str, wirecall.u16], j: Reading, k: Color, items: Iterator[wirecall.i16]) -> Iterator[Reading]: ...

    (proc,) = svc.manifest.procedures
    assert proc.signature() == ("f(a: i64, b: f64, c: bool, d: String, e: Vec<u8>, g: Option<u8>, h: (i64, String), "
                                "i: Map<String, u16>, j: Reading, k: Color, stream i16) -> stream Reading")
    assert Manifest.parse(svc.manifest_bytes).to_bytes() == svc.manifest_bytes
    # The Python classes are what the server decodes to.
    reading = proc.params[8].type
    assert reading.decode_value(reading.encode_value(Reading(1.5, ["a"]))) == Reading(1.5, ["a"])
    color = proc.params[9].type
    assert color.decode_value(color.encode_value(Color.Green)) is Color.Green


def test_declarations_without_a_wire_type_are_refused():
    svc = wirecall.Service("bad")
    with pytest.raises(TypeError, match="needs a type hint"):
        svc.expose(lambda a: a)
    with pytest.raises(TypeError, match="no wire type"):
        @svc.expose
        def g(a: object) -> None: ...
    with pytest.raises(TypeError, match="only Optional"):
        @svc.expose
        def h(a: Union[int, str]) -> None: ...
    @svc.expose
    def ok() -> None: ...
    with pytest.raises(ValueError, match="exposed already"):
        svc.expose(ok)


@pytest.mark.parametrize("bad, why", [
    ("03", "unknown format"),
    ("01 00 01", "cannot fit"),
    ("01 00 01 00 01 61 04 00 00", "unknown mode"),
    ("01 00 01 00 01 61 00 00 1b", "unknown type tag"),
    ("01 00 00 00", "trailing"),
    ("01 00 02 00 01 61 00 00 00 01 01 61 00 00 00", "duplicate procedure name"),
    ("01 00 01 00 01 61 00 02 01 78 01 01 78 01 00", "duplicate parameter name"),
    ("01 01 ff", "not UTF-8"),
])
def test_invalid_manifests_are_refused(bad, why):
    with pytest.raises(ManifestError, match=why):
        Manifest.parse(bytes.fromhex(bad.replace(" ", "")))


def test_manifest_nesting_stops_at_32_levels():
    def manifest(depth: int) -> bytes:
        # One procedure whose output is Option<Option<...<u8>>> of `depth` levels.
        return bytes.fromhex("0100010001610000") + b"\x10" * (depth - 1) + b"\x02"
    assert Manifest.parse(manifest(32)).procedures[0].output.notation().count("Option") == 31
    with pytest.raises(ManifestError, match="deeper than 32"):
        Manifest.parse(manifest(33))


# -- property tests -------------------------------------------------------------------------
def _names() -> st.SearchStrategy[str]:
    return st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)


leaf_types = st.sampled_from(list(schema.LEAVES.values()))


def _types(depth: int = 4) -> st.SearchStrategy[schema.Type]:
    def extend(inner: st.SearchStrategy[schema.Type]) -> st.SearchStrategy[schema.Type]:
        fields = st.lists(st.tuples(_names(), inner), max_size=3, unique_by=lambda f: f[0])
        return st.one_of(
            st.builds(schema.Option, inner),
            st.builds(schema.Seq, st.sampled_from([0, 5]), inner),
            st.builds(schema.Array, st.integers(0, 3), inner),
            st.builds(schema.Map, st.sampled_from([0, 4]), st.sampled_from([schema.U8_T, schema.String(0)]), inner),
            st.builds(schema.TupleType, st.lists(inner, max_size=3)),
            st.builds(lambda n, f: schema.Struct(n.capitalize(), f), _names(), fields),
            st.builds(lambda n, f: schema.TupleStruct(n.capitalize(), f), _names(), st.lists(inner, max_size=3)),
            st.builds(lambda n, t: schema.Newtype(n.capitalize(), t), _names(), inner),
            st.builds(lambda n, vs: schema.Enum(n.capitalize(), vs), _names(), st.lists(
                st.one_of(st.builds(schema.Variant, _names()),
                          st.builds(lambda n, t: schema.Variant(n, schema.VARIANT_NEWTYPE, t), _names(), inner)),
                min_size=1, max_size=3, unique_by=lambda v: v.name)),
        )
    return st.recursive(st.one_of(leaf_types, st.builds(schema.String, st.sampled_from([0, 8])),
                                  st.builds(schema.UnitStruct, _names())), extend, max_leaves=depth)


def values_of(t: schema.Type) -> st.SearchStrategy:
    if isinstance(t, schema.Int):
        return st.integers(t.lo, t.hi)
    if isinstance(t, schema.Float):
        return st.floats(width=32 if t.size == 4 else 64, allow_nan=False)
    if t == schema.BOOL_T:
        return st.booleans()
    if isinstance(t, (schema.Unit, schema.UnitStruct)):
        return st.none()
    if isinstance(t, schema.Char):
        return st.characters(blacklist_categories=("Cs",))
    if isinstance(t, schema.String):
        text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=t.max or 10)
        return text.filter(lambda s: not t.max or len(s.encode()) <= t.max)
    if isinstance(t, schema.Option):
        return st.none() | values_of(t.inner).filter(lambda v: v is not None)
    if isinstance(t, (schema.Seq, schema.Array)):
        n = (0, t.max or 6) if isinstance(t, schema.Seq) else (t.len, t.len)
        items = st.lists(values_of(t.item), min_size=n[0], max_size=n[1])
        return items.map(bytes) if t.item == schema.U8_T else items
    if isinstance(t, schema.Map):
        return st.dictionaries(values_of(t.key), values_of(t.value), max_size=t.max or 4)
    if isinstance(t, (schema.TupleType, schema.TupleStruct)):
        return st.tuples(*(values_of(i) for i in (t.items if isinstance(t, schema.TupleType) else t.fields)))
    if isinstance(t, schema.Struct):
        return st.fixed_dictionaries({n: values_of(ft) for n, ft in t.fields})
    if isinstance(t, schema.Newtype):
        return values_of(t.inner)
    if isinstance(t, schema.Enum):
        return st.one_of(*(st.just(v.name) if v.kind == schema.VARIANT_UNIT
                           else values_of(v.body).map(lambda x, n=v.name: {n: x}) for v in t.variants))
    raise AssertionError(t)


def _comparable(t: schema.Type, value):
    """A decoded value in the form it was generated in (structs as dicts)."""
    if isinstance(t, schema.Struct):
        get = value.get if isinstance(value, dict) else lambda n: getattr(value, n)
        return {n: _comparable(ft, get(n)) for n, ft in t.fields}
    if isinstance(t, schema.Option):
        return None if value is None else _comparable(t.inner, value)
    if isinstance(t, schema.Seq) or isinstance(t, schema.Array):
        return value if isinstance(value, bytes) else [_comparable(t.item, v) for v in value]
    if isinstance(t, (schema.TupleType, schema.TupleStruct)):
        items = t.items if isinstance(t, schema.TupleType) else t.fields
        return tuple(_comparable(i, v) for i, v in zip(items, value))
    if isinstance(t, schema.Map):
        return {k: _comparable(t.value, v) for k, v in value.items()}
    if isinstance(t, schema.Newtype):
        return _comparable(t.inner, value)
    if isinstance(t, schema.Enum) and isinstance(value, dict):
        ((name, body),) = value.items()
        variant = next(v for v in t.variants if v.name == name)
        if variant.kind == schema.VARIANT_NEWTYPE:
            return {name: _comparable(variant.body, body)}
        return value
    if isinstance(t, schema.Float) and isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_every_value_round_trips_through_its_type(data):
    t = data.draw(_types())
    value = data.draw(values_of(t))
    encoded = t.encode_value(value)
    decoded = t.decode_value(encoded)
    assert _comparable(t, decoded) == _comparable(t, value)
    assert t.encode_value(decoded) == encoded


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_truncated_or_extended_payloads_never_decode_silently(data):
    t = data.draw(_types())
    encoded = t.encode_value(data.draw(values_of(t)))
    if encoded:
        cut = data.draw(st.integers(0, len(encoded) - 1))
        with pytest.raises(DecodeError):
            t.decode_value(encoded[:cut])
    with pytest.raises(DecodeError):
        t.decode_value(encoded + b"\x00")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_names(), st.lists(st.tuples(_names(), _types()), max_size=3, unique_by=lambda p: p[0]),
                          _types(), st.sampled_from([0, 1, 2, 3]), _types()),
                max_size=4, unique_by=lambda p: p[0]))
def test_manifests_round_trip(procs):
    procedures = [Procedure(i, name, mode, [Param(n, t) for n, t in params],
                            schema.UNIT_T if mode & 2 else output,
                            item if mode & 2 else None, item if mode & 1 else None)
                  for i, (name, params, output, mode, item) in enumerate(procs)]
    manifest = Manifest("svc", procedures)
    data = manifest.to_bytes()
    again = Manifest.parse(data)
    assert again.to_bytes() == data
    assert [p.signature() for p in again.procedures] == [p.signature() for p in procedures]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_never_crash_the_manifest_reader(data):
    try:
        Manifest.parse(b"\x01" + data)
    except ManifestError:
        pass
