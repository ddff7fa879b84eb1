#!/usr/bin/env python3
"""The table of docs/BENCHMARKS.md from one peerbench run (bench/peerbench.sh).

usage: bench/ratios.py RESULTS_TSV WIRE_TSV

For every case and number of calls in flight: the median calls per second over the rounds
(and the range), its ratio to the raw socket of the same transport *in the same round*
(the median of the per-round ratios, so a slow round hits both alike), the same against
tarpc-bincode (the fastest peer with many calls in flight), the median p50 and
p99 latency, and the bytes per call in steady state.
"""
import statistics
import sys
from collections import defaultdict


def transport(case):
    return "unix" if "-unix-" in case else "tcp"


def op(case):
    return case.rsplit("-", 1)[1]


def main():
    results, wire_path = sys.argv[1], sys.argv[2]
    runs = defaultdict(dict)  # (round, inflight) -> case -> (cps, p50, p99)
    order = []
    for line in open(results):
        p = line.rstrip("\n").split("\t")
        if len(p) < 16 or p[1] != "RESULT":
            continue
        rnd, case, inflight = int(p[0]), p[2], int(p[3])
        runs[(rnd, inflight)][case] = (float(p[7]), float(p[10]), float(p[13]))
        if (case, inflight) not in order:
            order.append((case, inflight))
    wire = {}
    for line in open(wire_path):
        p = line.rstrip("\n").split("\t")
        if len(p) >= 9 and p[0] == "WIRE":
            wire[p[1]] = float(p[8])
    order.sort(key=lambda ci: (ci[1], op(ci[0]), 0 if ci[0].startswith("raw") else 1))
    print(
        "| case | in flight | calls/s median [min-max] | x raw, same round "
        "| x tarpc, same round | p50 us | p99 us | bytes per call |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for case, inflight in order:
        raw = f"raw-{transport(case)}-{op(case)}"
        tarpc = f"tarpc-bincode-{op(case)}"  # tarpc runs over TCP
        cps, ratios, vs_tarpc, p50s, p99s = [], [], [], [], []
        for (rnd, k), cases in sorted(runs.items()):
            if k != inflight or case not in cases:
                continue
            c, p50, p99 = cases[case]
            cps.append(c)
            p50s.append(p50)
            p99s.append(p99)
            if raw in cases and cases[raw][0] > 0:
                ratios.append(c / cases[raw][0])
            if tarpc in cases and cases[tarpc][0] > 0:
                vs_tarpc.append(c / cases[tarpc][0])
        ratio = f"{statistics.median(ratios):.2f}" if ratios else "n/a"
        ratio_t = f"{statistics.median(vs_tarpc):.2f}" if vs_tarpc else "n/a"
        b = wire.get(case)
        print(
            f"| {case} | {inflight} | {statistics.median(cps):,.0f} [{min(cps):,.0f}-{max(cps):,.0f}] "
            f"| {ratio} | {ratio_t} | {statistics.median(p50s):.1f} | {statistics.median(p99s):.1f} "
            f"| {'' if b is None else f'{b:.2f}'} |"
        )


if __name__ == "__main__":
    main()
