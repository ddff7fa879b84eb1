#!/usr/bin/env bash
# `add` through NATS (an async-nats client, nats-server, wirecall-gateway, the demo server)
# against direct calls to the same server, at 1 and 32 in flight, alternating in the same
# run: the NATS tables of docs/BENCHMARKS.md. Needs nats-server on the PATH. Only ratios
# within one run mean anything on a shared machine.
#
# Usage: bench/natsbench.sh     (about 2.5 minutes per link at the defaults; knobs:
#                                ROUNDS SECS WARMUP LINKS="tcp unix")
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release --locked -p wirecall-bench -p wirecall-gateway
BIN=${CARGO_TARGET_DIR:-target}/release
for link in ${LINKS:-tcp unix}; do
  "$BIN/wirecall-bench" "nats-$link" --runs "${ROUNDS:-5}" --seconds "${SECS:-2}" \
    --warmup "${WARMUP:-0.3}" --gateway "$BIN/wirecall-gateway"
done
