"""A service for the tests, served by the Python package: run ``python3 -m calc_service``
(from this directory) and call it with ``wirecall call --exec``, or import it and serve
``calc_service.service`` on a socket.
"""

import dataclasses
import enum
import time
from typing import Dict, Iterator, List, Optional, Tuple

import wirecall
from wirecall import RemoteError, f64, i32, u8, u32, u64

service = wirecall.Service("calc")


@dataclasses.dataclass
class Info:
    name: wirecall.string(max=16)
    version: u32
    ratio: f64


class Mode(enum.Enum):
    Off = 0
    On = 1
    Blink = 2


@service.expose
def add(a: i32, b: i32) -> i32:
    """a + b, BadArguments on overflow (as the Rust demo does)."""
    total = a + b
    if not -2**31 <= total < 2**31:
        raise RemoteError("BadArguments", "the sum does not fit i32")
    return total


@service.expose
def divide(a: f64, b: f64) -> f64:
    if b == 0:
        raise RemoteError("BadArguments", "division by zero")
    return a / b


@service.expose
def fail() -> None:
    raise RuntimeError("this handler always fails")


@service.expose
def echo(data: wirecall.vec(u8, max=200)) -> wirecall.vec(u8, max=200):
    return data


@service.expose
def greet(name: str) -> str:
    return f"hello, {name}"


@service.expose
def sleep(ms: u32) -> None:
    time.sleep(min(ms, 10_000) / 1000)


@service.expose
def count(n: u32) -> Iterator[u32]:
    """Yields 0..n: a server stream."""
    yield from range(n)


@service.expose
def total(items: Iterator[u32]) -> u64:
    """The sum of the caller's items: a client stream."""
    return sum(items)


@service.expose
def double(items: Iterator[i32]) -> Iterator[i32]:
    """Each item twice its value: a bidirectional stream."""
    for x in items:
        yield 2 * x


@service.expose
def info() -> Info:
    return Info("calc", 3, 0.5)


@service.expose
def toggle(mode: Mode) -> Mode:
    return Mode.Off if mode != Mode.Off else Mode.On


@service.expose
def maybe(x: Optional[i32]) -> Optional[i32]:
    return None if x is None else x + 1


@service.expose
def stats(values: List[f64]) -> Tuple[f64, f64]:
    return (min(values), max(values)) if values else (0.0, 0.0)


@service.expose
def tally(words: List[str]) -> Dict[str, u32]:
    out: Dict[str, int] = {}
    for w in words:
        out[w] = out.get(w, 0) + 1
    return out


@service.expose
def chatty(n: u8) -> u8:
    print("a print in a handler goes to stderr, not onto the link")
    return n


if __name__ == "__main__":
    import sys

    # No argument: stdio (as `wirecall call --exec` runs it); else a link URL to serve on.
    wirecall.serve(sys.argv[1] if len(sys.argv) > 1 else "stdio:", service)
