"""Unsigned LEB128 varints, as frame fields use them (docs/PROTOCOL.md, section 1).

Seven value bits per byte, least significant group first, bit 7 set on every byte but the
last. Senders emit the shortest form; receivers accept a longer one of at most 5 bytes. The
5th byte may carry at most 4 value bits, so every value fits in 32 bits.
"""

from typing import Tuple

U32_MAX = 0xFFFFFFFF


class VarintError(ValueError):
    """A varint that runs past the end of its bytes, or does not fit in 32 bits."""


def encode(value: int) -> bytes:
    """The shortest encoding of ``value`` (0 to 2**32 - 1)."""
    if not 0 <= value <= U32_MAX:
        raise ValueError(f"varint out of range: {value}")
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode(data: bytes, pos: int = 0) -> Tuple[int, int]:
    """Reads a 32-bit varint at ``pos``; returns the value and the position after it.

    Raises :class:`VarintError` for a varint that is truncated, longer than 5 bytes, or whose
    5th byte has bits beyond bit 31 (strict, as section 1 asks).
    """
    value = 0
    for i in range(5):
        if pos >= len(data):
            raise VarintError("varint runs past the end")
        b = data[pos]
        pos += 1
        if i == 4 and b > 0x0F:
            raise VarintError("varint longer than 32 bits")
        value |= (b & 0x7F) << (7 * i)
        if b < 0x80:
            return value, pos
    raise VarintError("unreachable")  # pragma: no cover - the 5th byte always ends the loop
