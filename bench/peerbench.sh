#!/usr/bin/env bash
# wirecall side by side with the peers of ../shared/peerbench (raw sockets, ipfi,
# postcard-rpc, tarpc, tonic), in the same interleaved rounds: the table of
# docs/BENCHMARKS.md. Only ratios within one run mean anything on a shared machine.
#
# Usage: bench/peerbench.sh            (about 12 minutes on 2 cores; knobs as run_all.sh's:
#                                       ROUNDS SECS WARMUP INFLIGHTS OPS SYSTEMS SPIN OUT)
set -euo pipefail
cd "$(dirname "$0")/.."
PEERBENCH=${PEERBENCH:-../shared/peerbench}
cargo build -q --release --locked -p wirecall-bench
BIN=$(pwd)/${CARGO_TARGET_DIR:-target}/release/wirecall-bench
CASES=""
for flavour in "" tokio- pipelined-; do
  for op in add echo; do
    for link in tcp unix; do
      CASES="$CASES${CASES:+,}wirecall-$flavour$link-$op"
    done
  done
done
cd "$PEERBENCH"
export CARGO_TARGET_DIR=${PEERBENCH_TARGET:-${TMPDIR:-/tmp}/peerbench-target}
export SPIN=${SPIN:-1} ROUNDS=${ROUNDS:-3} SECS=${SECS:-2}
export SYSTEMS=${SYSTEMS:-"raw-unix raw-tcp ipfi postcard-rpc tarpc-bincode tonic"}
export EXTRA="$BIN:$CASES"
exec ./run_all.sh
