"""One thread per connection for everything that happens at a time rather than on input:
server-side deadlines, the end of a late-reply grace, keepalive and Hello retries.

Callbacks run on the timer thread, one at a time, outside the timer's own lock; they must
not block for long (they take the connection's locks and write small frames).
"""

import heapq
import itertools
import logging
import threading
import time
from typing import Callable, List, Optional, Tuple

log = logging.getLogger("wirecall")


class Timer:
    """A scheduled callback; :meth:`cancel` keeps it from running (it is dropped when due)."""

    __slots__ = ("when", "fn", "cancelled")

    def __init__(self, when: float, fn: Callable[[], None]) -> None:
        self.when = when
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Timers:
    """Runs callbacks at monotonic times, and ``tick(now)`` whenever the time it last asked for
    comes (it returns the next such time, or None to be asked again after a second)."""

    def __init__(self, tick: Callable[[float], Optional[float]], name: str) -> None:
        self._tick = tick
        self._heap: List[Tuple[float, int, Timer]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._next_tick = time.monotonic()
        self._woken = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def at(self, when: float, fn: Callable[[], None]) -> Timer:
        """Runs ``fn`` at monotonic time ``when`` (at once if it has passed)."""
        timer = Timer(when, fn)
        with self._cond:
            earliest = not self._heap or when < self._heap[0][0]
            heapq.heappush(self._heap, (when, next(self._order), timer))
            if earliest and when < self._next_tick:
                self._cond.notify()
        return timer

    def wake(self) -> None:
        """Calls ``tick`` now (the state it computes its next time from has changed)."""
        with self._cond:
            self._woken = True
            self._cond.notify()

    def stop(self) -> None:
        """Stops the thread; callbacks not yet due never run."""
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            due: List[Timer] = []
            tick = False
            with self._cond:
                while not self._stopped:
                    now = time.monotonic()
                    while self._heap and self._heap[0][0] <= now:
                        timer = heapq.heappop(self._heap)[2]
                        if not timer.cancelled:
                            due.append(timer)
                    # Cancelled timers are dropped from the top as they come due.
                    tick = self._woken or now >= self._next_tick
                    if due or tick:
                        self._woken = False
                        break
                    until = self._next_tick
                    if self._heap:
                        until = min(until, self._heap[0][0])
                    self._cond.wait(until - now)
                if self._stopped:
                    return
            for timer in due:
                self._call(timer.fn)
            if tick:
                now = time.monotonic()
                nxt: Optional[float] = None
                try:
                    nxt = self._tick(now)
                except Exception:  # a bug must not stop every timer of the connection
                    log.exception("wirecall: timer tick failed")
                with self._cond:
                    self._next_tick = nxt if nxt is not None else now + 1.0

    @staticmethod
    def _call(fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:  # a bug must not stop every timer of the connection
            log.exception("wirecall: timer callback failed")
