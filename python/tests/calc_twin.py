"""The Rust test service `calc` (tests/src/calc.rs), written in Python: the same procedures
with the same wire types, so the same manifest and schema hash. The Rust integration test
`tests/tests/it/python.rs` runs it as a child process (``python3 -m calc_twin``) and calls it
through the typed client that ``service!`` generates for the Rust declaration, as if it were
the Rust server.
"""

import threading
from typing import Iterator

import wirecall
from wirecall import RemoteError, i32, u32, u64

service = wirecall.Service("calc")
_hits = 0
_lock = threading.Lock()


def _hit() -> None:
    global _hits
    with _lock:
        _hits += 1


@service.expose
def add(a: i32, b: i32) -> i32:
    _hit()
    if not -2**31 <= a + b < 2**31:
        raise RemoteError("BadArguments")
    return a + b


@service.expose
def chars(text: str) -> u32:
    _hit()
    return len(text)


@service.expose
def checksum(data: bytes) -> u32:
    _hit()
    return sum(data)


@service.expose
def hits() -> u64:
    return _hits


@service.expose
def upto(n: u32) -> Iterator[u32]:
    _hit()
    yield from range(n)


@service.expose
def total(items: Iterator[u32]) -> u64:
    _hit()
    return sum(items)


@service.expose
def scale(factor: u32, items: Iterator[u32]) -> Iterator[u32]:
    _hit()
    for x in items:
        yield factor * x


@service.expose
def reset() -> None:
    global _hits
    with _lock:
        _hits = 0


if __name__ == "__main__":
    wirecall.serve_stdio(service)
