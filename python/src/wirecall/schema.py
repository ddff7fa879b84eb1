"""Wire types: what a manifest says about a value, and the postcard codec each type drives.

Each class is one tag of the manifest's type table (docs/PROTOCOL.md, section 10.1). A type
encodes a Python value (:meth:`Type.encode_value`), decodes one exactly
(:meth:`Type.decode_value`), writes its description into a manifest (:meth:`Type.describe`)
and prints in the notation of ``wirecall list`` (``Vec<u8, 200>``, ``Option<i32>``).

Python values by type: integers are ``int`` (range-checked), floats ``float``, ``char`` a
one-character ``str``, strings ``str``; a sequence or array of ``u8`` is ``bytes`` (lists of
ints are accepted when encoding), other sequences are lists, tuples are tuples, maps dicts,
options ``None`` or the value; a struct is an instance of its Python class (a dataclass made
for it when there is none; dicts are accepted when encoding), a tuple struct a tuple, a unit
struct ``None``, a newtype its inner value; an enum variant is its name (unit variants) or a
one-entry dict ``{name: body}``, or a member of its Python ``enum.Enum`` class.
"""

import dataclasses
import enum
import keyword
import struct
from collections.abc import Mapping
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from .errors import DecodeError, EncodeError
from .postcard import Reader, encode_varint, unzigzag, zigzag

#: The deepest nesting of types a manifest may have (a parameter's type is level 1).
MAX_DEPTH = 32
#: A sequence of zero-sized items (``Vec<()>``) may claim at most this many.
_MAX_ZERO_SIZED = 1 << 16

# Type tags (section 10.1).
UNIT, BOOL, U8, U16, U32, U64, U128, I8, I16, I32, I64, I128 = range(12)
F32, F64, CHAR, STRING, OPTION, SEQ, MAP, TUPLE, ARRAY = range(12, 21)
STRUCT, TUPLE_STRUCT, UNIT_STRUCT, NEWTYPE_STRUCT, ENUM = range(21, 26)
HANDLE = 26


def _write_str(text: str, out: bytearray) -> None:
    raw = text.encode()
    encode_varint(len(raw), out)
    out += raw


def _describe_name(what: Any) -> str:
    text = repr(what)
    return text if len(text) <= 40 else text[:37] + "..."


class Type:
    """A wire type. Types compare and hash by structure."""

    tag: int = -1
    __slots__ = ()

    # -- the codec ---------------------------------------------------------------------
    def encode(self, value: Any, out: bytearray) -> None:
        """Appends the postcard encoding of ``value``; :class:`EncodeError` if it does not fit."""
        raise NotImplementedError

    def decode(self, r: Reader) -> Any:
        """Reads one value; :class:`DecodeError` if the bytes are not one."""
        raise NotImplementedError

    def encode_value(self, value: Any) -> bytes:
        """The postcard bytes of ``value``."""
        out = bytearray()
        self.encode(value, out)
        return bytes(out)

    def decode_value(self, data: bytes) -> Any:
        """The value ``data`` encodes, exactly: trailing bytes are an error."""
        r = Reader(data)
        value = self.decode(r)
        r.finish()
        return value

    def min_size(self) -> int:
        """The fewest bytes a value of this type takes."""
        return 1

    # -- the manifest ------------------------------------------------------------------
    def describe(self, out: bytearray) -> None:
        """Appends this type's description (tag and body) as a manifest carries it."""
        out.append(self.tag)

    def _key(self) -> Tuple[Any, ...]:
        return (self.tag,)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Type) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def notation(self) -> str:
        """The type as ``wirecall list`` prints it."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.notation()

    # The notation also as repr, so that ``help()`` shows ``add(a: i32, b: i32) -> i32``.
    def __repr__(self) -> str:
        return self.notation()


class Unit(Type):
    """``()``: no bytes; the Python value is ``None``."""

    tag = UNIT
    __slots__ = ()

    def encode(self, value: Any, out: bytearray) -> None:
        if value is not None:
            raise EncodeError(f"expected None for (), got {_describe_name(value)}")

    def decode(self, r: Reader) -> Any:
        return None

    def min_size(self) -> int:
        return 0

    def notation(self) -> str:
        return "()"


class Bool(Type):
    """``bool``: one byte, 0 or 1."""

    tag = BOOL
    __slots__ = ()

    def encode(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, bool):
            raise EncodeError(f"expected a bool, got {_describe_name(value)}")
        out.append(1 if value else 0)

    def decode(self, r: Reader) -> Any:
        b = r.byte()
        if b > 1:
            raise DecodeError(f"a bool is 0 or 1, not {b}")
        return b == 1

    def notation(self) -> str:
        return "bool"


class Int(Type):
    """An integer of 8 to 128 bits: 8-bit ones are a byte, the others varints (zigzag if signed)."""

    __slots__ = ("tag", "bits", "signed", "lo", "hi")

    def __init__(self, tag: int, bits: int, signed: bool) -> None:
        self.tag = tag
        self.bits = bits
        self.signed = signed
        self.lo = -(1 << (bits - 1)) if signed else 0
        self.hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1

    def encode(self, value: Any, out: bytearray) -> None:
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise EncodeError(f"expected an integer for {self}, got {_describe_name(value)}")
        value = value.__index__()
        if not self.lo <= value <= self.hi:
            raise EncodeError(f"{value} does not fit {self}")
        if self.bits == 8:
            out.append(value & 0xFF)
        else:
            encode_varint(zigzag(value) if self.signed else value, out)

    def decode(self, r: Reader) -> Any:
        if self.bits == 8:
            b = r.byte()
            return b - 256 if self.signed and b >= 128 else b
        value = r.varint(self.bits)
        return unzigzag(value) if self.signed else value

    def notation(self) -> str:
        return f"{'i' if self.signed else 'u'}{self.bits}"


class Float(Type):
    """``f32`` or ``f64``: 4 or 8 bytes, little-endian IEEE 754."""

    __slots__ = ("tag", "size", "fmt")

    def __init__(self, tag: int, size: int) -> None:
        self.tag = tag
        self.size = size
        self.fmt = "<f" if size == 4 else "<d"

    def encode(self, value: Any, out: bytearray) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EncodeError(f"expected a number for {self}, got {_describe_name(value)}")
        try:
            out += struct.pack(self.fmt, value)
        except (OverflowError, struct.error):
            raise EncodeError(f"{value} does not fit {self}") from None

    def decode(self, r: Reader) -> Any:
        return struct.unpack(self.fmt, r.take(self.size))[0]

    def min_size(self) -> int:
        return self.size

    def notation(self) -> str:
        return f"f{self.size * 8}"


class Char(Type):
    """``char``: one Unicode scalar value, as its UTF-8 after a length varint."""

    tag = CHAR
    __slots__ = ()

    def encode(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, str) or len(value) != 1:
            raise EncodeError(f"expected one character, got {_describe_name(value)}")
        try:
            _write_str(value, out)
        except UnicodeEncodeError:
            raise EncodeError(f"{value!r} is not a Unicode scalar value") from None

    def decode(self, r: Reader) -> Any:
        n = r.varint(32)
        if not 1 <= n <= 4:
            raise DecodeError(f"a char takes 1 to 4 bytes, not {n}")
        try:
            text = r.take(n).decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError("a char that is not UTF-8") from None
        if len(text) != 1:
            raise DecodeError(f"{n} bytes of {len(text)} characters for one char")
        return text

    def min_size(self) -> int:
        return 2

    def notation(self) -> str:
        return "char"


class String(Type):
    """A UTF-8 string of at most ``max`` bytes (0: no bound)."""

    tag = STRING
    __slots__ = ("max",)

    def __init__(self, max: int = 0) -> None:
        self.max = max

    def encode(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, str):
            raise EncodeError(f"expected a str for {self}, got {_describe_name(value)}")
        try:
            raw = value.encode("utf-8")
        except UnicodeEncodeError:
            raise EncodeError("a str with lone surrogates is not UTF-8") from None
        if self.max and len(raw) > self.max:
            raise EncodeError(f"at most {self.max} bytes of UTF-8, got {len(raw)}")
        encode_varint(len(raw), out)
        out += raw

    def decode(self, r: Reader) -> Any:
        n = r.varint(32)
        if self.max and n > self.max:
            raise DecodeError(f"at most {self.max} bytes of UTF-8, got {n}")
        try:
            return r.take(n).decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError("a string that is not UTF-8") from None

    def describe(self, out: bytearray) -> None:
        out.append(self.tag)
        encode_varint(self.max, out)

    def _key(self) -> Tuple[Any, ...]:
        return (self.tag, self.max)

    def notation(self) -> str:
        return "String" if not self.max else f"String<{self.max}>"


class Option(Type):
    """``Option<T>``: a byte 0 (``None``), or 1 and the value."""

    tag = OPTION
    __slots__ = ("inner",)

    def __init__(self, inner: Type) -> None:
        self.inner = inner

    def encode(self, value: Any, out: bytearray) -> None:
        if value is None:
            out.append(0)
        else:
            out.append(1)
            self.inner.encode(value, out)

    def decode(self, r: Reader) -> Any:
        b = r.byte()
        if b == 0:
            return None
        if b != 1:
            raise DecodeError(f"an Option's tag is 0 or 1, not {b}")
        return self.inner.decode(r)

    def describe(self, out: bytearray) -> None:
        out.append(self.tag)
        self.inner.describe(out)

    def _key(self) -> Tuple[Any, ...]:
        return (self.tag, self.inner)

    def notation(self) -> str:
        return f"Option<{self.inner}>"


def _is_u8(t: Type) -> bool:
    return t.tag == U8


def _items_of(value: Any, what: Type) -> List[Any]:
    """The elements of a sequence value: any iterable except text, bytes of other types, and maps."""
    if isinstance(value, (str, Mapping)) or not isinstance(value, Iterable):
        raise EncodeError(f"expected a sequence for {what}, got {_describe_name(value)}")
    return list(value)


def _encode_items(item: Type, values: Sequence[Any], out: bytearray) -> None:
    if _is_u8(item) and isinstance(values, (bytes, bytearray, memoryview)):
        out += values
        return
    for i, v in enumerate(values):
        try:
            item.encode(v, out)
        except EncodeError as e:
            raise EncodeError(f"at [{i}]: {e}") from None


def _decode_items(item: Type, count: int, r: Reader) -> Any:
    if _is_u8(item):
        return r.take(count)
    return [item.decode(r) for _ in range(count)]


def _check_count(count: int, item_size: int, r: Reader) -> None:
    """Refuses a count that cannot fit in the bytes left, before decoding anything for it."""
    if item_size:
        if count * item_size > r.left():
            raise DecodeError(f"{count} items cannot fit in {r.left()} bytes")
    elif count > _MAX_ZERO_SIZED:
        raise DecodeError(f"{count} zero-sized items")


class Seq(Type):
    """A sequence of at most ``max`` items (0: no bound): a count varint, then the items."""

    tag = SEQ
    __slots__ = ("max", "item")

    def __init__(self, max: int, item: Type) -> None:
        self.max = max
        self.item = item

    def encode(self, value: Any, out: bytearray) -> None:
        if _is_u8(self.item) and isinstance(value, (bytes, bytearray, memoryview)):
            values: Any = value
        else:
            values = _items_of(value, self)
        if self.max and len(values) > self.max:
            raise EncodeError(f"at most {self.max} items, got {len(values)}")
        encode_varint(len(values), out)
        _encode_items(self.item, values, out)

    def decode(self, r: Reader) -> Any:
        count = r.varint(32)
        if self.max and count > self.max:
            raise DecodeError(f"at most {self.max} items, got {count}")
        _check_count(count, self.item.min_size(), r)
        return _decode_items(self.item, count, r)

    def describe(self, out: bytearray) -> None:
        out.append(self.tag)
        encode_varint(self.max, out)
        self.item.describe(out)

    def _key(self) -> Tuple[Any, ...]:
        return (self.tag, self.max, self.item)

    def notation(self) -> str:
        return f"Vec<{self.item}>" if not self.max else f"Vec<{self.item}, {self.max}>"


def _hashable(key: Any) -> Any:
    """Map keys decoded as lists become tuples, so that they can key a dict."""
    if isinstance(key, list):
        return tuple(_hashable(k) for k in key)
    if isinstance(key, dict):
        raise DecodeError("a map key that decodes to a dict cannot key a Python dict")
    return key


class Map(Type):
    """A map of at most ``max`` entries (0: no bound): a count, then key and value pairs."""

    tag = MAP
    __slots__ = ("max", "key", "value")

    def __init__(self, max: int, key: Type, value: Type) -> None:
        self.max = max
        self.key = key
        self.value = value

    def encode(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, Mapping):
            raise EncodeError(f"expected a dict for {self}, got {_describe_name(value)}")
        if self.max and len(value) > self.max:
            raise EncodeError(f"at most {self.max} entries, got {len(value)}")
        encode_varint(len(value), out)
        for k, v in value.items():
            try:
                self.key.encode(k, out)
                self.value.encode(v, out)
            except EncodeError as e:
                raise EncodeError(f"at [{k!r}]: {e}") from None

    def decode(self, r: Reader) -> Any:
        count = r.varint(32)
        if self.max and count > self.max:
            raise DecodeError(f"at most {self.max} entries, got {count}")
        _check_count(count, self.key.min_size() + self.value.min_size(), r)
        out = {}
        for _ in range(count):
            k = _hashable(self.key.decode(r))
            out[k] = self.value.decode(r)
        return out

    def describe(self, out: bytearray) -> None:
        out.append(self.tag)
        encode_varint(self.max, out)
        self.key.describe(out)
        self.value.describe(out)

    def _key(self) -> Tuple[Any, ...]:
        return (self.tag, self.max, self.key, self.value)

    def notation(self) -> str:
        if not self.max:
            return f"Map<{self.key}, {self.value}>"
        return f"Map<{self.key}, {self.value}, {self.max}>"


def _encode_tuple(items: Sequence[Type], value: Any, what: object, out: bytearray) -> None:
    if not isinstance(value, (tuple, list)):
        raise EncodeError(f"expected a tuple for {what}, got {_describe_name(value)}")
    if len(value) != len(items):
        raise EncodeError(f"expected {len(items)} elements for {what}, got {len(value)}")
    for i, (t, v) in enumerate(zip(items, value)):
        try:
            t.encode(v, out)
        except EncodeError as e:
            raise EncodeError(f"at [{i}]: {e}") from None


def _list(types: Sequence[Type]) -> str:
    return ", ".join(str(t) for t in types)


class TupleType(Type):
    """A tuple: the elements in order."""

    tag = TUPLE
    __slots__ = ("items",)

    def __init__(self, items: Sequence[Type]) -> None:
        self.items = tuple(items)

    def encode(self, value: Any, out: bytearray) -> None:
        _encode_tuple(self.items, value, self, out)

    def decode(self, r: Reader) -> Any:
        return tuple(t.decode(r) for t in self.items)

    def min_size(self) -> int:
        return sum(t.min_size() for t in self.items)

    def describe(self, out: bytearray) -> None:
        out.append(self.tag)
        encode_varint(len(self.items), out)
        for t in self.items:
            t.describe(out)

    def _key(self) -> Tuple[Any, ...]:
        return (self.tag, self.items)

    def notation(self) -> str:
        return f"({self.items[0]},)" if len(self.items) == 1 else f"({_list(self.items)})"


class Array(Type):
    """Exactly ``len`` items, no count."""

    tag = ARRAY
    __slots__ = ("len", "item")

    def __init__(self, len: int, item: Type) -> None:
        self.len = len
        self.item = item

    def encode(self, value: Any, out: bytearray) -> None:
        if _is_u8(self.item) and isinstance(value, (bytes, bytearray, memoryview)):
            values: Any = value
        else:
            values = _items_of(value, self)
        if len(values) != self.len:
            raise EncodeError(f"exactly {self.len} items, got {len(values)}")
        _encode_items(self.item, values, out)

    def decode(self, r: Reader) -> Any:
        _check_count(self.len, self.item.min_size(), r)
        return _decode_items(self.item, self.len, r)

    def min_size(self) -> int:
        return self.len * self.item.min_size()

    def describe(self, out: bytearray) -> None:
        out.append(self.tag)
        encode_varint(self.len, out)
        self.item.describe(out)

    def _key(self) -> Tuple[Any, ...]:
        return (self.tag, self.len, self.item)

    def notation(self) -> str:
        return f"[{self.item}; {self.len}]"


Fields = Tuple[Tuple[str, Type], ...]


def _describe_fields(fields: Fields, out: bytearray) -> None:
    encode_varint(len(fields), out)
    for name, t in fields:
        _write_str(name, out)
        t.describe(out)


def _encode_fields(fields: Fields, value: Any, what: str, out: bytearray) -> None:
    """Encodes a struct's fields from a mapping (exactly its keys) or an object's attributes."""
    mapping = isinstance(value, Mapping)
    if mapping:
        extra = set(value) - {name for name, _ in fields}
        if extra:
            raise EncodeError(f"{what} has no field {sorted(map(str, extra))[0]}")
    for name, t in fields:
        if not (name in value if mapping else hasattr(value, name)):
            raise EncodeError(f"{what}: missing field {name}")
        try:
            t.encode(value[name] if mapping else getattr(value, name), out)
        except EncodeError as e:
            raise EncodeError(f"{name}: {e}") from None


def _record_class(name: str, fields: Fields) -> Optional[type]:
    """A dataclass for a struct that has no Python class, or None when its names cannot be
    Python identifiers (it then decodes to a dict)."""
    names = [name] + [f for f, _ in fields]
    if not all(n.isidentifier() and not keyword.iskeyword(n) for n in names):
        return None
    if any(f.startswith("__") for f, _ in fields) or len(set(names[1:])) != len(fields):
        return None
    return dataclasses.make_dataclass(name, [(f, Any) for f, _ in fields])


class Struct(Type):
    """A struct with named fields. ``pyclass`` (a dataclass, or any class taking the fields as
    keywords) is what values decode to; without one a dataclass is made for it."""

    tag = STRUCT
    __slots__ = ("name", "fields", "pyclass", "_made")

    def __init__(self, name: str, fields: Iterable[Tuple[str, Type]], pyclass: Optional[type] = None) -> None:
        self.name = name
        self.fields: Fields = tuple(fields)
        self.pyclass = pyclass
        self._made = False

    def encode(self, value: Any, out: bytearray) -> None:
        if value is None or isinstance(value, (str, bytes, int, float, list, tuple)):
            raise EncodeError(f"expected a {self.name} (an object or a dict), got {_describe_name(value)}")
        _encode_fields(self.fields, value, self.name, out)

    def decode(self, r: Reader) -> Any:
        values = {name: t.decode(r) for name, t in self.fields}
        if self.pyclass is None and not self._made:
            self.pyclass = _record_class(self.name, self.fields)
            self._made = True
        return values if self.pyclass is None else self.pyclass(**values)

    def min_size(self) -> int:
        return sum(t.min_size() for _, t in self.fields)

    def describe(self, out: bytearray) -> None:
        out.append(self.tag)
        _write_str(self.name, out)
        _describe_fields(self.fields, out)

    def _key(self) -> Tuple[Any, ...]:
        return (self.tag, self.name, self.fields)

    def notation(self) -> str:
        return self.name

    def definition(self) -> str:
        """``struct Name { a: T, b: U }``."""
        body = ", ".join(f"{n}: {t}" for n, t in self.fields)
        return f"struct {self.name} {{ {body} }}" if body else f"struct {self.name} {{}}"


class TupleStruct(Type):
    """A struct with unnamed fields: a tuple in Python."""

    tag = TUPLE_STRUCT
    __slots__ = ("name", "fields")

    def __init__(self, name: str, fields: Sequence[Type]) -> None:
        self.name = name
        self.fields = tuple(fields)

    def encode(self, value: Any, out: bytearray) -> None:
        _encode_tuple(self.fields, value, self, out)

    def decode(self, r: Reader) -> Any:
        return tuple(t.decode(r) for t in self.fields)

    def min_size(self) -> int:
        return sum(t.min_size() for t in self.fields)

    def describe(self, out: bytearray) -> None:
        out.append(self.tag)
        _write_str(self.name, out)
        encode_varint(len(self.fields), out)
        for t in self.fields:
            t.describe(out)

    def _key(self) -> Tuple[Any, ...]:
        return (self.tag, self.name, self.fields)

    def notation(self) -> str:
        return self.name


class UnitStruct(Type):
    """A struct without fields: no bytes, ``None`` in Python."""

    tag = UNIT_STRUCT
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def encode(self, value: Any, out: bytearray) -> None:
        if value is not None:
            raise EncodeError(f"expected None for {self.name}, got {_describe_name(value)}")

    def decode(self, r: Reader) -> Any:
        return None

    def min_size(self) -> int:
        return 0

    def describe(self, out: bytearray) -> None:
        out.append(self.tag)
        _write_str(self.name, out)

    def _key(self) -> Tuple[Any, ...]:
        return (self.tag, self.name)

    def notation(self) -> str:
        return self.name


class Newtype(Type):
    """A struct of one unnamed field: the inner value itself in Python and on the wire."""

    tag = NEWTYPE_STRUCT
    __slots__ = ("name", "inner")

    def __init__(self, name: str, inner: Type) -> None:
        self.name = name
        self.inner = inner

    def encode(self, value: Any, out: bytearray) -> None:
        self.inner.encode(value, out)

    def decode(self, r: Reader) -> Any:
        return self.inner.decode(r)

    def min_size(self) -> int:
        return self.inner.min_size()

    def describe(self, out: bytearray) -> None:
        out.append(self.tag)
        _write_str(self.name, out)
        self.inner.describe(out)

    def _key(self) -> Tuple[Any, ...]:
        return (self.tag, self.name, self.inner)

    def notation(self) -> str:
        return self.name


# Variant kinds of an enum.
VARIANT_UNIT, VARIANT_NEWTYPE, VARIANT_TUPLE, VARIANT_STRUCT = 0, 1, 2, 3
#: A variant's body: None (unit), a Type (newtype), a tuple of types (tuple), or fields (struct).
VariantBody = Any


class Variant:
    """One variant of an enum: a name, a kind (unit, newtype, tuple, struct) and its body."""

    __slots__ = ("name", "kind", "body")

    def __init__(self, name: str, kind: int = VARIANT_UNIT, body: VariantBody = None) -> None:
        self.name = name
        self.kind = kind
        self.body: Any = tuple(body) if isinstance(body, (list, tuple)) else body

    def _key(self) -> Tuple[Any, ...]:
        return (self.name, self.kind, self.body)

    def encode_body(self, value: Any, out: bytearray) -> None:
        if self.kind == VARIANT_NEWTYPE:
            self.body.encode(value, out)
        elif self.kind == VARIANT_TUPLE:
            _encode_tuple(self.body, value, self.name, out)
        elif self.kind == VARIANT_STRUCT:
            _encode_fields(self.body, value, self.name, out)

    def decode_body(self, r: Reader) -> Any:
        if self.kind == VARIANT_NEWTYPE:
            return self.body.decode(r)
        if self.kind == VARIANT_TUPLE:
            return tuple(t.decode(r) for t in self.body)
        return {name: t.decode(r) for name, t in self.body}

    def min_size(self) -> int:
        if self.kind == VARIANT_UNIT:
            return 0
        if self.kind == VARIANT_NEWTYPE:
            return self.body.min_size()
        if self.kind == VARIANT_TUPLE:
            return sum(t.min_size() for t in self.body)
        return sum(t.min_size() for _, t in self.body)

    def describe(self, out: bytearray) -> None:
        _write_str(self.name, out)
        out.append(self.kind)
        if self.kind == VARIANT_NEWTYPE:
            self.body.describe(out)
        elif self.kind == VARIANT_TUPLE:
            encode_varint(len(self.body), out)
            for t in self.body:
                t.describe(out)
        elif self.kind == VARIANT_STRUCT:
            _describe_fields(self.body, out)

    def notation(self) -> str:
        if self.kind == VARIANT_UNIT:
            return self.name
        if self.kind == VARIANT_NEWTYPE:
            return f"{self.name}({self.body})"
        if self.kind == VARIANT_TUPLE:
            return f"{self.name}({_list(self.body)})"
        return f"{self.name} {{ {', '.join(f'{n}: {t}' for n, t in self.body)} }}"


class Enum(Type):
    """An enum: the variant's index as a varint, then its body. ``pyclass``, a Python
    ``enum.Enum`` whose members are the (unit) variants, is what values decode to."""

    tag = ENUM
    __slots__ = ("name", "variants", "pyclass", "_by_name")

    def __init__(self, name: str, variants: Iterable[Variant], pyclass: Any = None) -> None:
        self.name = name
        self.variants = tuple(variants)
        self.pyclass = pyclass
        self._by_name = {v.name: i for i, v in enumerate(self.variants)}

    def encode(self, value: Any, out: bytearray) -> None:
        if isinstance(value, enum.Enum):
            name, body = value.name, None
        elif isinstance(value, str):
            name, body = value, None
        elif isinstance(value, Mapping) and len(value) == 1:
            ((name, body),) = value.items()
        else:
            raise EncodeError(f"expected a variant of {self.name} (a name, or {{name: body}}), "
                              f"got {_describe_name(value)}")
        index = self._by_name.get(name)
        if index is None:
            raise EncodeError(f"{self.name} has no variant {name!r}")
        variant = self.variants[index]
        if variant.kind == VARIANT_UNIT and body is not None:
            raise EncodeError(f"{self.name}::{name} carries no value")
        encode_varint(index, out)
        try:
            variant.encode_body(body, out)
        except EncodeError as e:
            raise EncodeError(f"{self.name}::{name}: {e}") from None

    def decode(self, r: Reader) -> Any:
        index = r.varint(32)
        if index >= len(self.variants):
            raise DecodeError(f"{self.name} has no variant {index}")
        variant = self.variants[index]
        if variant.kind == VARIANT_UNIT:
            return self.pyclass[variant.name] if self.pyclass is not None else variant.name
        return {variant.name: variant.decode_body(r)}

    def describe(self, out: bytearray) -> None:
        out.append(self.tag)
        _write_str(self.name, out)
        encode_varint(len(self.variants), out)
        for v in self.variants:
            v.describe(out)

    def _key(self) -> Tuple[Any, ...]:
        return (self.tag, self.name, tuple(v._key() for v in self.variants))

    def notation(self) -> str:
        return self.name

    def definition(self) -> str:
        """``enum Name { A, B(u8), C { x: i32 } }``."""
        return f"enum {self.name} {{ {', '.join(v.notation() for v in self.variants)} }}"


class HandleValue(NamedTuple):
    """A decoded handle: the interface it is of (empty: any), and the object's slot and
    generation in the exporter's table."""

    interface: str
    slot: int
    generation: int

    def __str__(self) -> str:
        name = f" {self.interface}" if self.interface else ""
        return f"handle{name} #{self.slot}.{self.generation}"


class Handle(Type):
    """``handle Channel``: a handle to an object of an interface of the service (an empty
    name: of any interface), two varints on the wire, its slot and generation.

    It decodes to a :class:`HandleValue`; no Python value encodes to one (a handle only
    comes from the device that exports the object)."""

    tag = HANDLE
    __slots__ = ("interface",)

    def __init__(self, interface: str = "") -> None:
        self.interface = interface

    def encode(self, value: Any, out: bytearray) -> None:
        raise EncodeError(f"{self} cannot be sent: a handle only comes from the device")

    def decode(self, r: Reader) -> Any:
        slot = r.varint(32)
        return HandleValue(self.interface, slot, r.varint(32))

    def min_size(self) -> int:
        return 2

    def describe(self, out: bytearray) -> None:
        out.append(self.tag)
        _write_str(self.interface, out)

    def _key(self) -> Tuple[Any, ...]:
        return (self.tag, self.interface)

    def notation(self) -> str:
        return f"handle {self.interface}" if self.interface else "handle"


# The types without a body, one instance each.
UNIT_T = Unit()
BOOL_T = Bool()
U8_T, U16_T, U32_T, U64_T, U128_T = (Int(U8 + i, b, False) for i, b in enumerate((8, 16, 32, 64, 128)))
I8_T, I16_T, I32_T, I64_T, I128_T = (Int(I8 + i, b, True) for i, b in enumerate((8, 16, 32, 64, 128)))
F32_T = Float(F32, 4)
F64_T = Float(F64, 8)
CHAR_T = Char()

#: The leaf types by tag, for the manifest reader.
LEAVES: Dict[int, Type] = {t.tag: t for t in (UNIT_T, BOOL_T, U8_T, U16_T, U32_T, U64_T, U128_T, I8_T, I16_T,
                                              I32_T, I64_T, I128_T, F32_T, F64_T, CHAR_T)}


def named_types(types: Iterable[Type]) -> List[Type]:
    """The structs and enums used by ``types``, inside out, each once: what a listing defines."""
    seen: List[Type] = []

    def visit(t: Type) -> None:
        inner: List[Type] = []
        if isinstance(t, (Option,)):
            inner = [t.inner]
        elif isinstance(t, (Seq, Array)):
            inner = [t.item]
        elif isinstance(t, Map):
            inner = [t.key, t.value]
        elif isinstance(t, (TupleType,)):
            inner = list(t.items)
        elif isinstance(t, TupleStruct):
            inner = list(t.fields)
        elif isinstance(t, Struct):
            inner = [ft for _, ft in t.fields]
        elif isinstance(t, Newtype):
            inner = [t.inner]
        elif isinstance(t, Enum):
            for v in t.variants:
                if v.kind == VARIANT_NEWTYPE:
                    inner.append(v.body)
                elif v.kind == VARIANT_TUPLE:
                    inner.extend(v.body)
                elif v.kind == VARIANT_STRUCT:
                    inner.extend(ft for _, ft in v.body)
        for i in inner:
            visit(i)
        if isinstance(t, (Struct, TupleStruct, UnitStruct, Newtype, Enum)) and t not in seen:
            seen.append(t)

    for t in types:
        visit(t)
    return seen
