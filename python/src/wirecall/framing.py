"""The framing layer (docs/PROTOCOL.md, section 2): COBS, a CRC-32C trailer, ``00`` delimiters.

On the wire a frame is ``00 · COBS(frame ‖ crc32c(frame) little-endian) · 00``. Encoding is
:func:`encode_frame`; :class:`FrameDecoder` takes bytes as they arrive and returns the frames
that pass every receiver rule of section 2.3, counting each one it drops.
"""

from typing import Dict, List, Optional, Tuple

from .crc import crc32c

DELIMITER = 0
CRC_LEN = 4
#: The shortest decoded frame: a header byte and the CRC.
MIN_DECODED = 1 + CRC_LEN


def cobs_encode(data: bytes) -> bytes:
    """COBS as the reference encodes it (section 2.1): no empty block after a final 0xFF one."""
    out = bytearray()
    pos, n = 0, len(data)
    while True:
        zero = data.find(0, pos, pos + 254)
        run = (min(254, n - pos) if zero < 0 else zero - pos)
        out.append(0xFF if run == 254 else run + 1)
        out += data[pos:pos + run]
        pos += run
        if pos == n:
            return bytes(out)
        if run < 254:
            pos += 1  # the zero this block stands for


def cobs_decode(encoded: bytes) -> Tuple[bytes, bool]:
    """Decodes the COBS bytes between two delimiters (none of them zero).

    Returns the decoded bytes and whether the last code byte promised more data than there
    was (a truncated frame). Both final forms of section 2.1, with and without an empty block
    after a final 0xFF block, decode to the same bytes.
    """
    out = bytearray()
    pos, n = 0, len(encoded)
    while pos < n:
        code = encoded[pos]
        end = pos + code
        if end > n:
            out += encoded[pos + 1:n]
            return bytes(out), True
        out += encoded[pos + 1:end]
        pos = end
        if code < 0xFF and pos < n:
            out.append(0)  # the zero between this block and the next; the last one ends the frame
    return bytes(out), False


def encode_frame(body: bytes) -> bytes:
    """The wire bytes of one frame: delimiter, COBS of the body and its CRC, delimiter."""
    return b"\x00" + cobs_encode(body + crc32c(body).to_bytes(4, "little")) + b"\x00"


def max_encoded_len(decoded_len: int) -> int:
    """The most wire bytes a decoded frame (CRC included) takes, both delimiters included."""
    return decoded_len + decoded_len // 254 + 1 + 2


class FrameDecoder:
    """Receives bytes as they come and yields the valid frames among them (section 2.3).

    Each dropped input is counted in :attr:`stats` (``framing_errors``, ``oversized_frames``,
    ``crc_errors``, ``frame_timeouts``), never raised: line noise is not an error of the
    session. Memory is bounded by ``max_frame``: the bytes of a frame in progress are kept
    only while they could still decode to at most ``max_frame`` bytes.
    """

    def __init__(self, max_frame: int, frame_timeout: float = 0.5) -> None:
        self.max_frame = max_frame
        self.frame_timeout = frame_timeout
        # Encoded bytes (no delimiters) that can decode to at most max_frame bytes.
        self._max_encoded = max_frame + max_frame // 254 + 1
        self._partial = bytearray()
        self._started: Optional[float] = None
        # After an oversized or stale frame: skip everything up to the next delimiter.
        self._discarding = False
        self.stats: Dict[str, int] = {
            "framing_errors": 0,
            "oversized_frames": 0,
            "crc_errors": 0,
            "frame_timeouts": 0,
            "frames": 0,
        }

    def feed(self, data: bytes, now: float) -> List[bytes]:
        """Takes the bytes that arrived at ``now`` (seconds, any monotonic clock); returns the
        complete valid frames among them, without their CRC."""
        frames: List[bytes] = []
        self.expire(now)
        pieces = data.split(b"\x00")
        # Every piece but the last ends at a delimiter; the last is the start of a frame.
        for piece in pieces[:-1]:
            if self._discarding:
                self._discarding = False
            elif self._partial:
                self._partial += piece
                self._complete(bytes(self._partial), frames)
            elif piece:
                self._complete(piece, frames)
            # else: an empty frame (delimiter after delimiter), ignored
            self._partial.clear()
            self._started = None
        last = pieces[-1]
        if last and not self._discarding:
            if not self._partial:
                self._started = now
            self._partial += last
            if len(self._partial) > self._max_encoded:
                self._drop_oversized()
        return frames

    def expire(self, now: float) -> None:
        """Drops a frame in progress that started ``frame_timeout`` ago or more (rule 7)."""
        if self._started is not None and now >= self._started + self.frame_timeout:
            self.stats["frame_timeouts"] += 1
            self._partial.clear()
            self._started = None
            self._discarding = True

    def _drop_oversized(self) -> None:
        self.stats["oversized_frames"] += 1
        self._partial.clear()
        self._started = None
        self._discarding = True

    def _complete(self, encoded: bytes, frames: List[bytes]) -> None:
        if len(encoded) > self._max_encoded:
            self.stats["oversized_frames"] += 1
            return
        decoded, truncated = cobs_decode(encoded)
        if len(decoded) > self.max_frame:
            self.stats["oversized_frames"] += 1
        elif truncated or len(decoded) < MIN_DECODED:
            self.stats["framing_errors"] += 1
        elif int.from_bytes(decoded[-CRC_LEN:], "little") != crc32c(decoded[:-CRC_LEN]):
            self.stats["crc_errors"] += 1
        else:
            self.stats["frames"] += 1
            frames.append(decoded[:-CRC_LEN])
