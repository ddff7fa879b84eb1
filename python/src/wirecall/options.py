"""The limits and timers of one end, and the budgets that bound what a peer can cause
(docs/PROTOCOL.md, sections 1 and 8)."""

from dataclasses import dataclass
from typing import Optional


@dataclass
class Options:
    """Limits and timers of one end (docs/PROTOCOL.md, section 1: the reference's defaults,
    with the host runtime's frame size and call count)."""

    #: Largest decoded frame accepted, header and CRC included (at least 48).
    max_frame: int = 4096
    #: Calls in flight at once in each direction: more inbound ones are answered Busy.
    max_calls: int = 32
    #: The deadline of a call made without a timeout, and of a served call that carries none.
    call_timeout: float = 5.0
    #: Ping interval when the link is quiet, Hello retry interval; three make the idle limit.
    keepalive: float = 1.0
    #: Longest time from a frame's first byte to its last.
    frame_timeout: float = 0.5
    #: How long a cancelled or expired call's id stays reserved.
    late_reply_grace: float = 1.0
    #: Items accepted on each stream before credit is granted back.
    stream_window: int = 16
    #: A stream on which nothing moved for this long is ended.
    stream_idle_timeout: float = 30.0
    #: The longest deadline given to a served call, whatever the caller asks.
    max_request_timeout: float = 60.0
    #: The longest idle limit, whatever keepalive the peer advertises.
    max_idle_limit: float = 30.0
    #: Opens nested deeper than this are answered TooDeep.
    max_call_depth: int = 4
    #: The schema hash the peer must serve (None: any).
    expect_schema: Optional[int] = None

    def check(self) -> None:
        if not 48 <= self.max_frame <= 1 << 20:
            raise ValueError("max_frame must be 48 to 1 MiB")
        if not 1 <= self.max_calls <= 128:
            raise ValueError("max_calls must be 1 to 128")
        if self.stream_window < 1:
            raise ValueError("stream_window must be at least 1")


class Budget:
    """At most ``max`` events per ``window`` seconds, counted in fixed windows (section 8)."""

    __slots__ = ("max", "window", "start", "count")

    def __init__(self, max: int, window: float, now: float) -> None:
        self.max = max
        self.window = window
        self.start = now
        self.count = 0

    def spend(self, now: float) -> bool:
        """Counts one event; False once the budget is exceeded."""
        if now >= self.start + self.window:
            self.start = now
            self.count = 0
        self.count += 1
        return self.count <= self.max

    def reset(self, now: float) -> None:
        self.start = now
        self.count = 0


def whole_ms(seconds: float) -> int:
    """Whole milliseconds, rounded up (a sub-millisecond timeout is sent as 1, section 6.2)."""
    ms = int(seconds * 1000)
    return ms + 1 if ms < seconds * 1000 else ms
