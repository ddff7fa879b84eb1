"""The manifest: a service's description of itself (docs/PROTOCOL.md, sections 10.1 and 10.2).

Format 1 lists the procedures; format 2 (a service that declares interfaces, the types of
the objects its handles name) adds the interfaces after them, each with its methods
(numbered per interface), and type tag 26 is a handle (body: the interface's name, empty
for any). A manifest is written in format 2 exactly when it has interfaces.

:meth:`Manifest.parse` reads the bytes a peer sent (possibly hostile: every count is checked
against the bytes left, nesting stops at 32 levels, names are unique, a handle names a
declared interface, nothing trails), and
:meth:`Manifest.to_bytes` writes them, so that a Python server's manifest is byte for byte
what a Rust ``service!`` with the same declarations would build. :func:`schema_hash` is the
hash a Hello carries.
"""

from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from . import schema, varint
from .crc import crc32c
from .errors import DecodeError, EncodeError
from .postcard import Reader, encode_varint
from .schema import (ARRAY, ENUM, HANDLE, LEAVES, MAP, MAX_DEPTH, NEWTYPE_STRUCT, OPTION, SEQ, STRING, STRUCT,
                     TUPLE, TUPLE_STRUCT, UNIT_STRUCT, Type)
from .wire import MODE_BIDI, MODE_CALL, MODE_CLIENT_STREAM, MODE_SERVER_STREAM

#: The manifest format of a service without interfaces (a manifest's first byte).
FORMAT = 1
#: The manifest format of a service that declares interfaces (handle types).
FORMAT_INTERFACES = 2
#: The largest manifest a client fetches (the reference host's bound).
MAX_MANIFEST = 1 << 20

MODE_NAMES = {MODE_CALL: "call", MODE_CLIENT_STREAM: "client stream", MODE_SERVER_STREAM: "server stream",
              MODE_BIDI: "bidirectional stream"}


class ManifestError(DecodeError):
    """A manifest that cannot be read: ``offset`` is where the problem is."""

    def __init__(self, offset: int, message: str) -> None:
        self.offset = offset
        super().__init__(f"invalid manifest at byte {offset}: {message}")


def schema_hash(manifest: bytes) -> int:
    """The schema hash of a manifest: its CRC-32C, with 0 (which means "no schema") taken as 1."""
    return crc32c(manifest) or 1


class Param(NamedTuple):
    """A parameter: its name and wire type."""

    name: str
    type: Type


class Procedure:
    """One procedure of a manifest: number, name, mode, parameters and the types that flow.

    ``item`` is the type of the items the server sends (modes 2 and 3), ``in_item`` of those
    the caller sends (modes 1 and 3).
    """

    __slots__ = ("id", "name", "mode", "params", "output", "item", "in_item")

    def __init__(self, id: int, name: str, mode: int, params: Sequence[Param], output: Type,
                 item: Optional[Type] = None, in_item: Optional[Type] = None) -> None:
        if (item is not None) != bool(mode & MODE_SERVER_STREAM) or (in_item is not None) != bool(
                mode & MODE_CLIENT_STREAM):
            raise ValueError(f"{name}: mode {mode} does not match its item types")
        self.id = id
        self.name = name
        self.mode = mode
        self.params = tuple(params)
        self.output = output
        self.item = item
        self.in_item = in_item

    def signature(self) -> str:
        """The signature as ``wirecall list`` prints it: ``add(a: i32, b: i32) -> i32``,
        ``count(n: u32) -> stream u32``, ``sum(stream u32) -> u64``."""
        parts = [f"{p.name}: {p.type}" for p in self.params]
        if self.in_item is not None:
            parts.append(f"stream {self.in_item}")
        out = f"{self.name}({', '.join(parts)})"
        unit = self.output == schema.UNIT_T
        if self.item is not None:
            out += f" -> stream {self.item}" if unit else f" -> stream {self.item}, then {self.output}"
        elif not unit:
            out += f" -> {self.output}"
        return out

    def encode_args(self, values: Sequence[object]) -> bytes:
        """The arguments on the wire: each parameter's encoding, in order."""
        out = bytearray()
        for p, v in zip(self.params, values):
            try:
                p.type.encode(v, out)
            except EncodeError as e:
                raise EncodeError(f"{self.name}: {p.name}: {e}") from None
        return bytes(out)

    def decode_args(self, data: bytes) -> List[object]:
        """The parameters' values from arguments, exactly (trailing bytes are an error)."""
        r = Reader(data)
        values = []
        for p in self.params:
            try:
                values.append(p.type.decode(r))
            except DecodeError as e:
                raise DecodeError(f"{p.name}: {e}") from None
        r.finish()
        return values

    def describe(self, out: bytearray) -> None:
        encode_varint(self.id, out)
        _write_str(self.name, out)
        out.append(self.mode)
        encode_varint(len(self.params), out)
        for p in self.params:
            _write_str(p.name, out)
            p.type.describe(out)
        self.output.describe(out)
        if self.item is not None:
            self.item.describe(out)
        if self.in_item is not None:
            self.in_item.describe(out)

    def types(self) -> List[Type]:
        """Every type the procedure uses, parameters first."""
        extra = [t for t in (self.item, self.in_item) if t is not None]
        return [p.type for p in self.params] + [self.output] + extra

    def __repr__(self) -> str:
        return f"<procedure {self.id} {self.signature()}>"


def _write_str(text: str, out: bytearray) -> None:
    raw = text.encode()
    encode_varint(len(raw), out)
    out += raw


def _unique(procedures: Sequence[Procedure], what: str) -> None:
    names = [p.name for p in procedures]
    ids = [p.id for p in procedures]
    if len(set(names)) != len(names) or len(set(ids)) != len(ids):
        raise ValueError(f"two {what} share a name or a number")


class Interface:
    """An interface: the type of the objects a handle of it names, and the methods callable
    on such a handle (procedures numbered apart from the service's)."""

    def __init__(self, name: str, methods: Iterable[Procedure]) -> None:
        self.name = name
        self.methods: Tuple[Procedure, ...] = tuple(methods)
        _unique(self.methods, f"methods of {name}")
        self._by_name: Dict[str, Procedure] = {m.name: m for m in self.methods}

    def method(self, name: str) -> Optional[Procedure]:
        """The method called ``name``, if any."""
        return self._by_name.get(name)

    def __repr__(self) -> str:
        return f"<interface {self.name}: {', '.join(m.name for m in self.methods)}>"


class Manifest:
    """A service's name, procedures and interfaces."""

    def __init__(self, service: str, procedures: Iterable[Procedure], interfaces: Iterable[Interface] = ()) -> None:
        self.service = service
        self.procedures: Tuple[Procedure, ...] = tuple(procedures)
        self.interfaces: Tuple[Interface, ...] = tuple(interfaces)
        _unique(self.procedures, "procedures")
        if len({i.name for i in self.interfaces}) != len(self.interfaces):
            raise ValueError("two interfaces share a name")
        self._by_name: Dict[str, Procedure] = {p.name: p for p in self.procedures}
        self._by_id: Dict[int, Procedure] = {p.id: p for p in self.procedures}
        self._interfaces: Dict[str, Interface] = {i.name: i for i in self.interfaces}

    def procedure(self, name: str) -> Optional[Procedure]:
        """The procedure called ``name``, if any."""
        return self._by_name.get(name)

    def by_id(self, id: int) -> Optional[Procedure]:
        """The procedure with wire number ``id``, if any."""
        return self._by_id.get(id)

    def interface(self, name: str) -> Optional[Interface]:
        """The interface called ``name``, if any."""
        return self._interfaces.get(name)

    @property
    def format(self) -> int:
        """The format byte: 2 when there are interfaces, else 1."""
        return FORMAT_INTERFACES if self.interfaces else FORMAT

    def to_bytes(self) -> bytes:
        """The manifest as it travels."""
        out = bytearray((self.format,))
        _write_str(self.service, out)
        _describe_procedures(self.procedures, out)
        if self.interfaces:
            encode_varint(len(self.interfaces), out)
            for i in self.interfaces:
                _write_str(i.name, out)
                _describe_procedures(i.methods, out)
        return bytes(out)

    def hash(self) -> int:
        """The schema hash of these bytes (what a Hello carries)."""
        return schema_hash(self.to_bytes())

    def listing(self) -> str:
        """A listing like ``wirecall list``'s: the signatures, each interface with its
        methods, then the structs and enums."""
        count = len(self.interfaces)
        interfaces = "" if not count else f", {count} interface{'s' if count > 1 else ''}"
        lines = [f"{self.service} (schema 0x{self.hash():08X}, {len(self.procedures)} procedures{interfaces})"]
        lines += [f"{p.id:5}  {p.signature()}" for p in self.procedures]
        for i in self.interfaces:
            lines.append(f"interface {i.name} ({len(i.methods)} method{'' if len(i.methods) == 1 else 's'})")
            lines += [f"{m.id:5}  {m.signature()}" for m in i.methods]
        every = list(self.procedures) + [m for i in self.interfaces for m in i.methods]
        named = schema.named_types(t for p in every for t in p.types())
        for t in named:
            definition = getattr(t, "definition", None)
            lines.append("  " + (definition() if definition else f"struct {t}"))
        return "\n".join(lines)

    @staticmethod
    def parse(data: bytes) -> "Manifest":
        """Reads a manifest; :class:`ManifestError` says what is wrong and where."""
        return _Parser(bytes(data)).manifest()

    def __repr__(self) -> str:
        extra = f", {len(self.interfaces)} interfaces" if self.interfaces else ""
        return f"<manifest of {self.service}: {len(self.procedures)} procedures{extra}>"


def _describe_procedures(procedures: Sequence[Procedure], out: bytearray) -> None:
    encode_varint(len(procedures), out)
    for p in procedures:
        p.describe(out)


# The fewest bytes each counted thing takes, to refuse a count that cannot fit.
_MIN_PROCEDURE = 5  # id, name length, mode, parameter count, output tag
_MIN_NAMED = 2  # name length, then a tag or a variant kind
_MIN_TYPE = 1  # a tag
_MIN_INTERFACE = 2  # name length, method count


class _Parser:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        # Where each handle type is and the interface it names, checked at the end.
        self.handles: List[Tuple[int, str]] = []

    def fail(self, message: str, at: Optional[int] = None) -> ManifestError:
        return ManifestError(self.pos if at is None else at, message)

    def byte(self, what: str) -> int:
        if self.pos >= len(self.data):
            raise self.fail(f"truncated: expected {what}")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self, what: str) -> int:
        try:
            value, self.pos = varint.decode(self.data, self.pos)
        except varint.VarintError as e:
            raise self.fail(f"{what}: {e}") from None
        return value

    def text(self, what: str) -> str:
        at = self.pos
        n = self.varint(what)
        end = self.pos + n
        if end > len(self.data):
            raise self.fail(f"truncated: expected {what}")
        try:
            text = self.data[self.pos:end].decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not UTF-8", at) from None
        self.pos = end
        return text

    def count(self, what: str, min_each: int) -> int:
        at = self.pos
        n = self.varint(what)
        if n * min_each > len(self.data) - self.pos:
            raise self.fail(f"{n} {what} cannot fit in {len(self.data) - self.pos} bytes", at)
        return n

    def manifest(self) -> Manifest:
        fmt = self.byte("the format byte")
        if fmt not in (FORMAT, FORMAT_INTERFACES):
            raise self.fail(f"unknown format {fmt}", 0)
        service = self.text("the service name")
        procedures = self.procedures("procedures", "procedure")
        interfaces = []
        if fmt == FORMAT_INTERFACES:
            at = self.pos
            count = self.count("interfaces", _MIN_INTERFACE)
            if count == 0:
                raise self.fail("format 2 without interfaces", at)
            names = set()
            for _ in range(count):
                at = self.pos
                name = self.text("an interface name")
                if name in names:
                    raise self.fail(f"duplicate interface name {name}", at)
                names.add(name)
                interfaces.append(Interface(name, self.procedures("methods", "method")))
        if self.pos != len(self.data):
            raise self.fail(f"{len(self.data) - self.pos} trailing bytes")
        declared = {i.name for i in interfaces}
        for at, name in self.handles:
            if name and name not in declared:
                raise self.fail(f"a handle of interface {name}, which the manifest does not declare", at)
        return Manifest(service, procedures, interfaces)

    def procedures(self, what: str, one: str) -> List[Procedure]:
        procedures: List[Procedure] = []
        names, ids = set(), set()
        for _ in range(self.count(what, _MIN_PROCEDURE)):
            at = self.pos
            p = self.procedure()
            if p.name in names:
                raise self.fail(f"duplicate {one} name {p.name}", at)
            if p.id in ids:
                raise self.fail(f"duplicate {one} id {p.id}", at)
            names.add(p.name)
            ids.add(p.id)
            procedures.append(p)
        return procedures

    def procedure(self) -> Procedure:
        id_ = self.varint("a procedure id")
        name = self.text("a procedure name")
        mode_at = self.pos
        mode = self.byte("a procedure mode")
        if mode > MODE_BIDI:
            raise self.fail(f"unknown mode {mode}", mode_at)
        params = [Param(n, t) for n, t in self.fields("parameters", "parameter name", 1)]
        output = self.type(1)
        item = self.type(1) if mode & MODE_SERVER_STREAM else None
        in_item = self.type(1) if mode & MODE_CLIENT_STREAM else None
        return Procedure(id_, name, mode, params, output, item, in_item)

    def fields(self, what: str, slot: str, depth: int) -> List[Tuple[str, Type]]:
        out: List[Tuple[str, Type]] = []
        seen = set()
        for _ in range(self.count(what, _MIN_NAMED)):
            at = self.pos
            name = self.text(f"a {slot}")
            if name in seen:
                raise self.fail(f"duplicate {slot} {name}", at)
            seen.add(name)
            out.append((name, self.type(depth)))
        return out

    def types(self, what: str, depth: int) -> List[Type]:
        return [self.type(depth) for _ in range(self.count(what, _MIN_TYPE))]

    def type(self, depth: int) -> Type:
        if depth > MAX_DEPTH:
            raise self.fail(f"types nested deeper than {MAX_DEPTH} levels")
        inner = depth + 1
        at = self.pos
        tag = self.byte("a type tag")
        leaf = LEAVES.get(tag)
        if leaf is not None:
            return leaf
        if tag == STRING:
            return schema.String(self.varint("a string's max bytes"))
        if tag == OPTION:
            return schema.Option(self.type(inner))
        if tag == SEQ:
            max_ = self.varint("a sequence's max items")
            return schema.Seq(max_, self.type(inner))
        if tag == MAP:
            max_ = self.varint("a map's max entries")
            key = self.type(inner)
            return schema.Map(max_, key, self.type(inner))
        if tag == TUPLE:
            return schema.TupleType(self.types("tuple items", inner))
        if tag == ARRAY:
            n = self.varint("an array's length")
            return schema.Array(n, self.type(inner))
        if tag == STRUCT:
            name = self.text("a struct name")
            return schema.Struct(name, self.fields("struct fields", "field name", inner))
        if tag == TUPLE_STRUCT:
            name = self.text("a tuple struct name")
            return schema.TupleStruct(name, self.types("tuple struct fields", inner))
        if tag == UNIT_STRUCT:
            return schema.UnitStruct(self.text("a unit struct name"))
        if tag == NEWTYPE_STRUCT:
            name = self.text("a newtype struct name")
            return schema.Newtype(name, self.type(inner))
        if tag == ENUM:
            name = self.text("an enum name")
            return schema.Enum(name, self.variants(inner))
        if tag == HANDLE:
            name = self.text("a handle's interface name")
            self.handles.append((at, name))
            return schema.Handle(name)
        raise self.fail(f"unknown type tag {tag}", at)

    def variants(self, depth: int) -> List[schema.Variant]:
        out = []
        seen = set()
        for _ in range(self.count("enum variants", _MIN_NAMED)):
            at = self.pos
            name = self.text("a variant name")
            if name in seen:
                raise self.fail(f"duplicate variant name {name}", at)
            seen.add(name)
            kind_at = self.pos
            kind = self.byte("a variant kind")
            body: schema.VariantBody
            if kind == schema.VARIANT_UNIT:
                body = None
            elif kind == schema.VARIANT_NEWTYPE:
                body = self.type(depth)
            elif kind == schema.VARIANT_TUPLE:
                body = tuple(self.types("variant items", depth))
            elif kind == schema.VARIANT_STRUCT:
                body = tuple(self.fields("variant fields", "field name", depth))
            else:
                raise self.fail(f"unknown variant kind {kind}", kind_at)
            out.append(schema.Variant(name, kind, body))
        return out
