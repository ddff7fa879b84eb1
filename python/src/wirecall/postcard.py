"""Postcard's primitives (docs/PROTOCOL.md, section 10): varints of any width, zigzag, and a
checked reader. The types built from them are in :mod:`wirecall.schema`.

Postcard 1.x encodes ``u16``..``u128`` as LEB128 varints, signed integers wider than a byte
as the zigzag of the value in a varint, floats as little-endian IEEE 754, and lengths as
``u32``-range varints. Decoding accepts non-minimal varints (as postcard does) but never
more bytes than the width needs, nor a value that does not fit it.
"""

from .errors import DecodeError


def varint_len(bits: int) -> int:
    """The most bytes a varint of a ``bits``-bit integer takes (3 for u16, 5 for u32, ...)."""
    return (bits + 6) // 7


def encode_varint(value: int, out: bytearray) -> None:
    """Appends the shortest LEB128 encoding of the non-negative ``value``."""
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def zigzag(value: int) -> int:
    """Maps signed to unsigned so that small magnitudes stay small: 0, -1, 1, -2 -> 0, 1, 2, 3."""
    return value << 1 if value >= 0 else ((-value) << 1) - 1


def unzigzag(value: int) -> int:
    """The inverse of :func:`zigzag`."""
    return (value >> 1) ^ -(value & 1)


class Reader:
    """A cursor over a payload; every read is checked and raises :class:`DecodeError`."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def left(self) -> int:
        """Bytes not read yet."""
        return len(self.data) - self.pos

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise DecodeError("the value runs past the end of its bytes")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise DecodeError(f"{n} bytes expected, {len(self.data) - self.pos} left")
        chunk = self.data[self.pos:end]
        self.pos = end
        return bytes(chunk)

    def varint(self, bits: int) -> int:
        """A varint of an unsigned ``bits``-bit integer."""
        value, shift = 0, 0
        for _ in range(varint_len(bits)):
            b = self.byte()
            value |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                if value >> bits:
                    raise DecodeError(f"varint does not fit {bits} bits")
                return value
        raise DecodeError(f"varint longer than a {bits}-bit integer takes")

    def finish(self) -> None:
        """Decoding is exact: bytes left after the value make the payload invalid."""
        if self.pos != len(self.data):
            raise DecodeError(f"{len(self.data) - self.pos} bytes left after the value")
