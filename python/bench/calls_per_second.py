#!/usr/bin/env python3
"""Python client calls per second against the Rust server (`wirecall serve`), over loopback TCP.

    python3 python/bench/calls_per_second.py [--server target/release/wirecall] [--seconds 3] [--rounds 3]

Starts the Rust demo server itself (stopped by pid at the end), or uses ``--url``. Calls
``add(1000 + i % 1000, 5678)`` (the Rust benchmarks' arguments) with 1 call in flight (one
thread), then 32 in flight three ways: 32 threads sharing one connection, and asyncio with
32 tasks. Prints one line per case with the median of the rounds; asserts nothing.
"""

import argparse
import asyncio
import pathlib
import statistics
import subprocess
import sys
import threading
import time
from typing import Callable, List

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python" / "src"))  # runs from a checkout without installing

import wirecall  # noqa: E402


def start_server(binary: str) -> "tuple[subprocess.Popen, str]":
    process = subprocess.Popen([binary, "serve", "--tcp", "127.0.0.1:0"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    line = process.stderr.readline().decode()  # "wirecall: serving the demo service on tcp ADDR", once it listens
    if "serving" not in line:
        process.kill()
        process.wait()
        raise SystemExit(f"the server did not start: {line!r}")
    return process, f"tcp://{line.split()[-1]}"


def one_in_flight(dev: wirecall.Device, seconds: float) -> float:
    add, n, end = dev.add, 0, time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < end:
        for _ in range(100):
            add(1000 + n % 1000, 5678)
            n += 1
    return n / (time.perf_counter() - start)


def threads_in_flight(dev: wirecall.Device, seconds: float, threads: int) -> float:
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def worker(k: int) -> None:
        add, n = dev.add, 0
        while time.perf_counter() < stop:
            add(1000 + n % 1000, 5678)
            n += 1
        counts[k] = n

    workers = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - start)


def asyncio_in_flight(url: str, seconds: float, tasks: int) -> float:
    async def main() -> float:
        dev = await wirecall.connect_async(url)
        counts = [0] * tasks
        stop = time.perf_counter() + seconds

        async def worker(k: int) -> None:
            n = 0
            while time.perf_counter() < stop:
                await dev.add(1000 + n % 1000, 5678)
                n += 1
            counts[k] = n

        start = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(tasks)))
        rate = sum(counts) / (time.perf_counter() - start)
        await dev.close()
        return rate

    return asyncio.run(main())


def median_of(rounds: int, measure: Callable[[], float]) -> "tuple[float, List[float]]":
    results = [measure() for _ in range(rounds)]
    return statistics.median(results), results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=str(REPO / "target" / "release" / "wirecall"))
    parser.add_argument("--url", help="use a running server instead of starting one")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    process = None
    url = args.url
    if url is None:
        process, url = start_server(args.server)
    try:
        dev = wirecall.connect(url)
        dev.add(1, 2)  # warm up: the session and the first call
        cases = [
            ("sync, 1 in flight", lambda: one_in_flight(dev, args.seconds)),
            ("sync, 32 threads on one connection", lambda: threads_in_flight(dev, args.seconds, 32)),
            ("asyncio, 32 tasks on one connection", lambda: asyncio_in_flight(url, args.seconds, 32)),
        ]
        print(f"python {sys.version.split()[0]}, server {url}, {args.rounds} rounds of {args.seconds:g} s")
        for name, measure in cases:
            median, results = median_of(args.rounds, measure)
            rounds = ", ".join(f"{r:,.0f}" for r in results)
            print(f"RESULT\t{name}\t{median:,.0f} calls/s\t(rounds: {rounds})")
        dev.close()
    finally:
        if process is not None:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
