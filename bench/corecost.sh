#!/usr/bin/env bash
# Instructions per byte of the core's input path (Endpoint::handle_input), counted by
# callgrind: deterministic, whatever else the machine does. Prints the table of
# docs/BENCHMARKS.md. Usage: bench/corecost.sh [bytes per case, default 1048576]
set -euo pipefail
cd "$(dirname "$0")/.."
bytes=${1:-1048576}
cargo build -q --release --locked -p wirecall-bench
bin=${CARGO_TARGET_DIR:-target}/release/wirecall-bench
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '| endpoint | input | fed | instructions per byte |\n|---|---|---|---:|\n'
for size in mcu host; do
  for workload in add echo replies; do
    for chunk in 1 4096; do
      fed=$(valgrind --tool=callgrind --callgrind-out-file="$out/cg" --toggle-collect='*measured_handle_input*' \
        "$bin" core-cost "$size" "$workload" "$chunk" "$bytes" 2>"$out/err" | awk '/^FED/ {print $5}')
      ir=$(grep -E '^(summary|totals):' "$out/cg" | head -1 | awk '{print $2}')
      what=$([ "$chunk" = 1 ] && echo "byte at a time" || echo "4 KiB chunks")
      desc=$(case $workload in add) echo "add requests, 14 B each on the wire";; echo) echo "echo requests of $([ $size = mcu ] && echo 200 || echo 1024) B";; replies) echo "replies, 11 B each on the wire";; esac)
      name=$([ "$size" = mcu ] && echo '`Endpoint<256, 4, 4, 576>`' || echo '`HostEndpoint`')
      printf '| %s | %s | %s | %s |\n' "$name" "$desc" "$what" "$(python3 -c "print(f'{$ir/$fed:.1f}')")"
    done
  done
done
