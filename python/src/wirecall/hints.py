"""Python type hints to wire types, for the procedures a Python server declares.

Plain hints map to the obvious wire type: ``int`` to ``i64``, ``float`` to ``f64``, ``bool``,
``str`` to ``String``, ``bytes`` to ``Vec<u8>``, ``None`` to ``()``, ``list[T]`` to ``Vec<T>``,
``tuple[A, B]`` to a tuple (``tuple[T, ...]`` to ``Vec<T>``), ``dict[K, V]`` to a map,
``Optional[T]`` to ``Option<T>``, a dataclass to a struct and an ``enum.Enum`` to an enum of
unit variants. Where Python's type says less than the wire's, name the wire type:
``wirecall.i32``, ``wirecall.u8``, ``wirecall.f32``, ``wirecall.string(max=32)``,
``wirecall.vec(wirecall.u8, max=200)``, ``wirecall.array(wirecall.u8, 4)``; each is a
``typing.Annotated`` of the Python type, so type checkers see ``int``, ``str``, ``list``.
"""

import collections.abc
import dataclasses
import enum
import types
import typing
from typing import Any, Optional, Tuple

from . import schema
from .schema import Type

from typing import Annotated, get_args, get_origin, get_type_hints

# The explicit wire types, as annotations.
u8 = Annotated[int, schema.U8_T]
u16 = Annotated[int, schema.U16_T]
u32 = Annotated[int, schema.U32_T]
u64 = Annotated[int, schema.U64_T]
u128 = Annotated[int, schema.U128_T]
i8 = Annotated[int, schema.I8_T]
i16 = Annotated[int, schema.I16_T]
i32 = Annotated[int, schema.I32_T]
i64 = Annotated[int, schema.I64_T]
i128 = Annotated[int, schema.I128_T]
f32 = Annotated[float, schema.F32_T]
f64 = Annotated[float, schema.F64_T]
char = Annotated[str, schema.CHAR_T]
unit = Annotated[None, schema.UNIT_T]


def string(max: int = 0) -> Any:
    """A UTF-8 string of at most ``max`` bytes (0: no bound), e.g. ``wirecall.string(max=32)``."""
    return Annotated[str, schema.String(max)]


def vec(item: Any, max: int = 0) -> Any:
    """A sequence of at most ``max`` items (0: no bound), e.g. ``wirecall.vec(wirecall.u8, max=200)``
    (its Python value is ``bytes`` when the items are ``u8``)."""
    t = wire_type(item, "vec item")
    return Annotated[bytes if t == schema.U8_T else list, schema.Seq(max, t)]


def array(item: Any, length: int) -> Any:
    """Exactly ``length`` items, no count on the wire, e.g. ``wirecall.array(wirecall.u8, 4)``."""
    t = wire_type(item, "array item")
    return Annotated[bytes if t == schema.U8_T else list, schema.Array(length, t)]


def map_of(key: Any, value: Any, max: int = 0) -> Any:
    """A map of at most ``max`` entries (0: no bound)."""
    return Annotated[dict, schema.Map(max, wire_type(key, "map key"), wire_type(value, "map value"))]


_SEQUENCES = (list, typing.List, collections.abc.Sequence, collections.abc.MutableSequence, typing.Sequence)
_MAPS = (dict, typing.Dict, collections.abc.Mapping, collections.abc.MutableMapping, typing.Mapping)
# `Optional[T]`, and `T | None` from Python 3.10 on.
_UNIONS = (typing.Union,) + ((types.UnionType,) if hasattr(types, "UnionType") else ())
#: Hints of a stream: a return value that yields items, a parameter that takes them.
STREAMS = (collections.abc.Iterator, collections.abc.Iterable, collections.abc.Generator, typing.Iterator,
           typing.Iterable, typing.Generator)


def stream_item(hint: Any) -> Optional[Any]:
    """The item hint of ``Iterator[T]``, ``Iterable[T]`` or ``Generator[T, ...]``; None for any
    other hint."""
    origin = get_origin(hint)
    if origin in STREAMS:
        args = get_args(hint)
        if not args:
            raise TypeError(f"{hint!r}: name the item type, e.g. Iterator[wirecall.u32]")
        return args[0]
    return None


def wire_type(hint: Any, where: str, _seen: Tuple[type, ...] = ()) -> Type:
    """The wire type of a hint; ``TypeError`` (naming ``where``) for one without a wire type."""
    if isinstance(hint, Type):
        return hint
    if hint is None or hint is type(None):
        return schema.UNIT_T
    origin = get_origin(hint)
    args = get_args(hint)
    if origin is Annotated:
        for meta in hint.__metadata__:
            if isinstance(meta, Type):
                return meta
        return wire_type(args[0], where, _seen)
    if hint is bool:
        return schema.BOOL_T
    if hint is int:
        return schema.I64_T
    if hint is float:
        return schema.F64_T
    if hint is str:
        return schema.String(0)
    if hint in (bytes, bytearray):
        return schema.Seq(0, schema.U8_T)
    if origin in _UNIONS:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            return schema.Option(wire_type(rest[0], where, _seen))
        raise TypeError(f"{where}: {hint!r} has no wire type (only Optional[T] unions do)")
    if origin in _SEQUENCES or hint in (list, typing.List):
        if not args:
            raise TypeError(f"{where}: {hint!r}: name the item type, e.g. list[wirecall.u32]")
        return schema.Seq(0, wire_type(args[0], where, _seen))
    if origin in (tuple, typing.Tuple):
        if len(args) == 2 and args[1] is Ellipsis:
            return schema.Seq(0, wire_type(args[0], where, _seen))
        if args == ((),):
            return schema.TupleType(())
        return schema.TupleType([wire_type(a, where, _seen) for a in args])
    if origin in _MAPS:
        if len(args) != 2:
            raise TypeError(f"{where}: {hint!r}: name the key and value types")
        return schema.Map(0, wire_type(args[0], where, _seen), wire_type(args[1], where, _seen))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if hint in _seen:
            raise TypeError(f"{where}: {hint.__name__} contains itself; a manifest cannot describe that")
        hints = get_type_hints(hint, include_extras=True)
        fields = [(f.name, wire_type(hints[f.name], f"{where}: {hint.__name__}.{f.name}", _seen + (hint,)))
                  for f in dataclasses.fields(hint)]
        return schema.Struct(hint.__name__, fields, pyclass=hint)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return schema.Enum(hint.__name__, [schema.Variant(m.name) for m in hint], pyclass=hint)
    raise TypeError(f"{where}: {hint!r} has no wire type; give an explicit one such as wirecall.i32")
