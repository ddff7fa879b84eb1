"""CRC-32C (Castagnoli), the integrity check of every frame (docs/PROTOCOL.md, section 2.2).

Polynomial 0x1EDC6F41 (reflected 0x82F63B78), input and output reflected, initial value and
final XOR 0xFFFFFFFF. Table-driven, one byte per step: frames are small, and the standard
library has no CRC-32C (zlib's crc32 uses another polynomial).
"""

from typing import List

_POLY = 0x82F63B78


def _table() -> List[int]:
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ (_POLY if crc & 1 else 0)
        table.append(crc)
    return table


_TABLE = _table()


def crc32c(data: bytes, crc: int = 0) -> int:
    """The CRC-32C of ``data``; pass a previous result as ``crc`` to continue it."""
    table = _TABLE
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283, "CRC-32C check value"
