"""Wire error codes (docs/PROTOCOL.md, section 4) and the exceptions this package raises.

Every failure a caller can meet is a :class:`Error`. The peer's answers are
:class:`RemoteError` (its ``code`` is the wire error's name, its ``detail`` the text the peer
sent); :class:`Busy` and :class:`DeadlineExceeded` are the remote errors a caller most often
wants to tell apart. Local outcomes have classes of their own.
"""

import enum
from typing import Optional, Union


class ErrorCode(enum.IntEnum):
    """The one-byte error numbers of Error and Close frames; the numbers are stable."""

    Unknown = 0
    Busy = 1
    UnknownProcedure = 2
    BadArguments = 3
    TooLarge = 4
    DeadlineExceeded = 5
    Cancelled = 6
    IncompatibleVersion = 7
    IncompatibleSchema = 8
    ProtocolViolation = 9
    NoSession = 10
    Internal = 11
    ShuttingDown = 12
    Closed = 13
    FlowControl = 14
    TooDeep = 15
    ItemLost = 16
    StaleHandle = 17
    TooManyHandles = 18
    Revoked = 19

    @classmethod
    def of(cls, number: int) -> "ErrorCode":
        """The code for a received number; numbers this version does not know are ``Unknown``."""
        try:
            return cls(number)
        except ValueError:
            return cls.Unknown


class Error(Exception):
    """The base of every wirecall exception."""


class RemoteError(Error):
    """The peer answered a call with an Error frame.

    ``code`` is the error's name (``"Internal"``, ``"BadArguments"``, ...), ``number`` its wire
    number and ``detail`` the peer's text (undecodable bytes replaced). A handler served by
    this package raises one to answer with that code: ``raise RemoteError("BadArguments",
    "b must not be 0")``.
    """

    def __init__(self, code: Union[str, int, ErrorCode], detail: Union[str, bytes] = "") -> None:
        if isinstance(code, str):
            try:
                code = ErrorCode[code]
            except KeyError:
                raise ValueError(f"no wire error is called {code!r}") from None
        self.error_code = ErrorCode.of(int(code))
        self.number = int(code)
        self.detail_bytes = detail.encode() if isinstance(detail, str) else bytes(detail)
        self.detail = self.detail_bytes.decode("utf-8", "replace")
        text = self.code if not self.detail else f"{self.code}: {self.detail}"
        super().__init__(text)

    @property
    def code(self) -> str:
        """The wire error's name."""
        return self.error_code.name

    @staticmethod
    def from_wire(number: int, detail: bytes = b"") -> "RemoteError":
        """The exception for an Error frame's code and detail: :class:`Busy` and
        :class:`DeadlineExceeded` get their own classes."""
        cls = {ErrorCode.Busy: Busy, ErrorCode.DeadlineExceeded: DeadlineExceeded}.get(
            ErrorCode.of(number), RemoteError)
        return cls(number, detail)


class Busy(RemoteError):
    """The peer had no free slot for the call (or is at its connection limit): try again later."""

    def __init__(self, code: Union[str, int, ErrorCode] = ErrorCode.Busy, detail: Union[str, bytes] = "") -> None:
        super().__init__(code, detail)


class Timeout(Error):
    """The call did not end in time: its deadline passed (the call was cancelled on the peer),
    or a stream moved nothing for its idle timeout."""


class DeadlineExceeded(RemoteError, Timeout):
    """The peer ended the call at its own deadline (``DeadlineExceeded`` on the wire)."""

    def __init__(self, code: Union[str, int, ErrorCode] = ErrorCode.DeadlineExceeded,
                 detail: Union[str, bytes] = "") -> None:
        super().__init__(code, detail)


class Cancelled(Error):
    """The call was cancelled by this side (the peer was sent a Cancel)."""


class ConnectionLost(Error):
    """The link closed or the session ended before the answer; or no session could be made."""


class Refused(ConnectionLost):
    """The peer closed the link during the handshake, with the code it gave (``code``), e.g.
    ``Busy`` from a server at its connection limit."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        self.code = code.name
        super().__init__(message)


class IncompatibleSchema(Error):
    """The peer serves another schema than the one expected (final: the link is closed)."""

    def __init__(self, message: str, expected: Optional[int] = None, peer: Optional[int] = None) -> None:
        self.expected = expected
        self.peer = peer
        super().__init__(message)


class IncompatibleVersion(Error):
    """The peer speaks no protocol version this side speaks (final: the link is closed)."""


class ProtocolError(Error):
    """The peer sent something that breaks the protocol: an answer that does not decode as its
    declared type, an invalid manifest, an item out of sequence."""


class DecodeError(ProtocolError, ValueError):
    """Bytes that do not decode as the type they should have."""


class EncodeError(Error, ValueError):
    """A value that does not fit the wire type it is sent as; nothing was sent."""


class TooLarge(Error):
    """A frame that would exceed the frame limit of either side; nothing was sent."""
