#!/usr/bin/env python3
"""Python client calls per second against the Rust server (`wirecall serve`), over loopback TCP.

    python3 python/bench/calls_per_second.py [--server target/release/wirecall] [--seconds 3] [--rounds 3]
        [--rust-bench target/release/wirecall-bench]

Starts the Rust demo server itself (stopped by pid at the end), or uses ``--url``. Calls
``add(1000 + i % 1000, 5678)`` (the Rust benchmarks' arguments) with 1 call in flight (one
thread), then 32 in flight two ways: 32 threads sharing one connection, and asyncio with
32 tasks. With ``--rust-bench`` the Rust clients run in the same rounds (``wirecall-bench``:
the blocking client at 1 in flight, the tokio one at 32, each against its own Rust server),
for ratios on a noisy machine. Prints one line per case with the median of the rounds and
each round; asserts nothing.
"""

import argparse
import asyncio
import pathlib
import statistics
import subprocess
import sys
import threading
import time
from typing import Callable, Dict, List

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


def rust_case(bench: str, case: str, inflight: int, seconds: float) -> float:
    """One run of a `wirecall-bench` case: its calls per second."""
    out = subprocess.run([bench, case, "--runs", "1", "--seconds", str(seconds), "--warmup", "0.3", "--inflight",
                          str(inflight)], capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT"))
    return float(line.split("\t")[6])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=str(REPO / "target" / "release" / "wirecall"))
    parser.add_argument("--url", help="use a running server instead of starting one")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rust-bench", help="also run these Rust cases of wirecall-bench in the same rounds")
    args = parser.parse_args()
    process = None
    url = args.url
    if url is None:
        process, url = start_server(args.server)
    try:
        dev = wirecall.connect(url)
        dev.add(1, 2)  # warm up: the session and the first call
        cases: List["tuple[str, Callable[[], float]]"] = [
            ("python sync, 1 in flight", lambda: one_in_flight(dev, args.seconds)),
            ("python sync, 32 threads on one connection", lambda: threads_in_flight(dev, args.seconds, 32)),
            ("python asyncio, 32 tasks on one connection", lambda: asyncio_in_flight(url, args.seconds, 32)),
        ]
        if args.rust_bench:
            cases += [
                ("rust blocking Client, 1 in flight", lambda: rust_case(args.rust_bench, "wirecall-tcp-add", 1,
                                                                        args.seconds)),
                ("rust tokio AsyncClient, 32 in flight", lambda: rust_case(args.rust_bench, "wirecall-tokio-tcp-add",
                                                                           32, args.seconds)),
            ]
        print(f"python {sys.version.split()[0]}, server {url}, {args.rounds} rounds of {args.seconds:g} s")
        results: Dict[str, List[float]] = {name: [] for name, _ in cases}
        for _ in range(args.rounds):  # rounds interleave the cases, so that noise hits all alike
            for name, measure in cases:
                results[name].append(measure())
        for name, rates in results.items():
            rounds = ", ".join(f"{r:,.0f}" for r in rates)
            print(f"RESULT\t{name}\t{statistics.median(rates):,.0f} calls/s\t(rounds: {rounds})")
        dev.close()
    finally:
        if process is not None:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
