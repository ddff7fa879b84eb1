#!/usr/bin/env bash
# Every check of wirecall, from a fresh machine: installs what it needs, then runs
# formatting, lints, tests, docs, microcontroller builds, the demo and the examples.
# Usage: ./ci.sh            (about 12-14 minutes on 2 cores from a cold cache, 4 warm)
set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true
cd "$(dirname "$0")"
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }

step "install: Rust components and microcontroller targets"
rustup component add rustfmt clippy >/dev/null
rustup target add thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf >/dev/null
step "install: system packages (socat makes serial-port pairs; QEMU runs the firmware; valgrind counts the core's instructions; nats-server is the bus of the gateway's tests)"
if ! command -v socat >/dev/null || ! command -v python3 >/dev/null || ! command -v qemu-system-arm >/dev/null \
    || ! command -v valgrind >/dev/null || ! command -v nats-server >/dev/null; then
    apt-get update -qq
    # --no-install-recommends: with recommends apt swaps out the machine's newer qemu-utils.
    apt-get install -y -qq --no-install-recommends socat python3 qemu-system-arm binutils valgrind \
        nats-server >/dev/null
fi

step "format"
cargo fmt --all -- --check
(cd firmware-example && cargo fmt --all -- --check)

step "lint (host, all targets)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "lint (the core on a Cortex-M0, with and without defmt)"
cargo clippy -p wirecall --target thumbv6m-none-eabi --no-default-features --locked -- -D warnings
cargo clippy -p wirecall --target thumbv6m-none-eabi --features defmt --locked -- -D warnings

step "build the core for microcontrollers (no_std, no alloc)"
# These builds also enforce the documented 32-bit worst-case RAM at compile time.
cargo build -p wirecall --target thumbv6m-none-eabi --no-default-features --release --locked
cargo build -p wirecall --target thumbv7em-none-eabihf --no-default-features --release --locked
cargo build -p wirecall --target thumbv7em-none-eabihf --features defmt --release --locked
cargo clippy -p wirecall --target thumbv7em-none-eabihf --no-default-features --locked -- -D warnings
# The firmware driver (embedded-io UART) builds without std too.
cargo clippy -p wirecall-adapters --target thumbv7em-none-eabihf --no-default-features --locked -- -D warnings
# The async driver (embedded-io-async, feature async) for a Cortex-M0+ (RP2040) and a
# Cortex-M4F (STM32F4): lint and build. These builds also check docs/FIRMWARE.md's RAM
# table (32-bit column) at compile time.
for target in thumbv6m-none-eabi thumbv7em-none-eabihf; do
    cargo clippy -p wirecall-adapters --target "$target" --no-default-features --features async --locked -- -D warnings
    cargo build -p wirecall-adapters --target "$target" --no-default-features --features async --release --locked
done

step "firmware: lint, build (also with defmt), footprint within budget"
(
    cd firmware-example
    cargo clippy --release --locked --bins --examples -- -D warnings
    cargo build --release --locked --features defmt --target-dir target/defmt
    python3 footprint.py    # builds the release firmware the QEMU tests boot
    # The core cannot panic: with every entry point reachable and a panic handler that calls
    # a function defined nowhere, the link fails if any panic path is left.
    cargo build --release --locked --example no_panic
    # The Morse keyer and decoder on the microcontroller: every byte value, edges jittered by
    # up to 30 % of a unit; QEMU exits with the example's verdict.
    cargo build --release --locked --example morse_loopback
    timeout 120 qemu-system-arm -M lm3s6965evb -cpu cortex-m3 -display none -monitor none -serial null \
        -semihosting-config enable=on,target=native \
        -kernel target/thumbv7m-none-eabi/release/examples/morse_loopback 2>/dev/null
    # The defmt log really decodes on the host (the README's command).
    command -v defmt-print >/dev/null || cargo install defmt-print --locked
    elf=target/defmt/thumbv7m-none-eabi/release/firmware-example
    log=$( (timeout 3 qemu-system-arm -M lm3s6965evb -cpu cortex-m3 -display none -monitor none -serial null \
        -semihosting-config enable=on,target=native -kernel "$elf" 2>/dev/null || true) | defmt-print -e "$elf" 2>&1 || true)
    echo "$log"
    grep -q "wirecall example firmware up" <<<"$log"
)

step "test vectors match their generator"
python3 tests/vectors/generate.py >/dev/null
git diff --exit-code -- tests/vectors/wire.json

step "docs (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "demo"
demo_out=$(cargo run -q -p wirecall-cli --locked -- demo)
echo "$demo_out" | tail -n 20
grep -q "add(2, 40) = 42 .* 22 bytes on the wire" <<<"$demo_out"

step "python: the wirecall package in a fresh virtual environment; its tests against the Rust command, demo server, firmware and NATS gateway"
# The venv module is a separate package on Debian and Ubuntu.
if ! python3 -c "import ensurepip, venv" 2>/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
cargo build -q -p wirecall-cli -p wirecall-gateway --locked
python3 -m venv --clear target/python-venv
target/python-venv/bin/pip install -q --disable-pip-version-check "./python[test,lint,nats]"
target/python-venv/bin/python -m pyflakes python/src python/tests python/bench
target/python-venv/bin/python -m mypy --config-file python/pyproject.toml python/src/wirecall
python_log=$(cd python && WIRECALL_REQUIRE_FIRMWARE=1 WIRECALL_REQUIRE_NATS=1 WIRECALL_BIN="$PWD/../target/debug/wirecall" \
    WIRECALL_GATEWAY_BIN="$PWD/../target/debug/wirecall-gateway" ../target/python-venv/bin/python -m pytest -q \
    -p no:cacheprovider tests 2>&1) || { echo "$python_log"; echo "python tests failed"; exit 1; }
echo "$python_log" | tail -n 3
python_passed=$(grep -oE '[0-9]+ passed' <<<"$python_log" | tail -n 1 | awk '{print $1}')

step "guests: the guest crates linted for wasm32, the example guest module built (the runner's tests load it)"
rustup target add wasm32-unknown-unknown >/dev/null
cargo clippy --target wasm32-unknown-unknown -p wirecall-guest -p wirecall-guest-services -p wirecall-guest-example --locked -- -D warnings
cargo build --target wasm32-unknown-unknown --release -p wirecall-guest-example --locked
ls -l target/wasm32-unknown-unknown/release/wirecall_guest_example.wasm

step "javascript: the core compiled to WebAssembly, the npm package's tests against the Rust command, demo server, firmware and NATS gateway, the demo page in headless Chromium"
# The wasm target, and wasm-bindgen's CLI at exactly the version js/wasm pins (the glue it
# writes must match the crate). Installed without --locked: the registry mirror lacks the
# webpki-roots version its lock file names (about 5 minutes, once per machine).
rustup target add wasm32-unknown-unknown >/dev/null
bindgen_pin=$(grep -oP '^wasm-bindgen = "=\K[0-9.]+' js/wasm/Cargo.toml)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$bindgen_pin" ]; then
    cargo install -q wasm-bindgen-cli --version "$bindgen_pin"
fi
command -v node >/dev/null && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] \
    || { echo "Node 20 or later is needed for js/ (node: $(node --version 2>/dev/null || echo none))"; exit 1; }
cargo clippy -p wirecall-wasm --target wasm32-unknown-unknown --locked -- -D warnings
(cd js && npm ci --no-audit --no-fund --loglevel=error && ./build.sh)
# The size a page downloads: the module and its glue, gzipped (docs/BENCHMARKS.md).
for f in js/dist/wirecall_wasm_bg.wasm js/dist/wirecall_wasm.js; do
    printf '%s: %d bytes, %d gzipped\n' "$f" "$(wc -c <"$f")" "$(gzip -9c "$f" | wc -c)"
done
# The Rust calc server, whose manifest the JavaScript copy of calc must match byte for byte.
cargo build -q -p wirecall-tests --bin calc-server --locked
# npm ci installs the optional `nats` package (wirecall/nats), as package-lock.json pins it.
js_log=$(cd js && WIRECALL_REQUIRE_FIRMWARE=1 WIRECALL_REQUIRE_GUEST=1 WIRECALL_REQUIRE_NATS=1 WIRECALL_BIN="$PWD/../target/debug/wirecall" \
    WIRECALL_GATEWAY_BIN="$PWD/../target/debug/wirecall-gateway" node --test test/ 2>&1) \
    || { echo "$js_log"; echo "javascript tests failed"; exit 1; }
echo "$js_log" | grep -E '^# (tests|pass|fail|skipped)'
js_passed=$(grep -oP '^# pass \K[0-9]+' <<<"$js_log")
grep -q '^# skipped 0$' <<<"$js_log" || { echo "$js_log" | grep -i skip; echo "javascript tests were skipped"; exit 1; }
# The demo page in a real headless browser: Chromium (Debian's headless shell, no GTK) driven
# by puppeteer-core, against `wirecall web`: connect, list, call add, plot a stream, stop it.
if ! command -v chromium-headless-shell >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium-headless-shell >/dev/null
fi
(cd js && WIRECALL_BIN="$PWD/../target/debug/wirecall" timeout 300 node test-browser/run.mjs)

step "examples: build, run the stand-alone ones, the no_std service for a Cortex-M0 and a Cortex-M4F"
cargo build -q -p wirecall-examples --examples --locked
for example in host_client shared_state_server tokio_flavour; do
    printf -- '-- %s\n' "$example"
    timeout 60 "target/debug/examples/$example"
done
# A client and a server in two processes. The server's first line says where it listens,
# once it does, so reading it is the wait; it serves until killed.
printf -- '-- shared_state_server --listen, host_client URL\n'
exec {server_out}< <(exec target/debug/examples/shared_state_server --listen 127.0.0.1:0)
server_pid=$!
if ! read -r -t 60 -u "$server_out" listening; then
    kill "$server_pid" 2>/dev/null || true
    echo "shared_state_server did not start"; exit 1
fi
echo "$listening"
client_status=0
timeout 60 target/debug/examples/host_client "${listening##* }" || client_status=$?
kill "$server_pid"
exec {server_out}<&-
[ "$client_status" = 0 ] || { echo "host_client failed against shared_state_server"; exit 1; }
# The device service builds without std or alloc, and lints clean, for both cores.
for target in thumbv6m-none-eabi thumbv7em-none-eabihf; do
    cargo clippy -p wirecall-example-no-std --target "$target" --locked -- -D warnings
    cargo build -p wirecall-example-no-std --target "$target" --release --locked
done

step "benchmarks: every case for a fraction of a second (asserts no speed), the bytes of a call, the core's instructions per byte"
cargo build -q --release --locked -p wirecall-bench -p wirecall-gateway
bench=target/release/wirecall-bench
for case in $("$bench" list); do
    line=$("$bench" "$case" --runs 1 --seconds 0.2 --warmup 0.05 --inflight 4 --size 256 | grep '^RESULT')
    printf '%s\n' "$line"
done
# add(1000 + i % 1000, 5678) through the host client: 14 + 11 bytes, from the first call on.
for case in wirecall-tcp-add wirecall-tokio-unix-add; do
    wire=$("$bench" "$case" --wire-bytes --byte-calls 50 | grep '^WIRE')
    echo "$wire"
    [ "$(cut -f5,6,9 <<<"$wire")" = "$(printf '14\t11\t25.00')" ] || { echo "unexpected bytes per call"; exit 1; }
done
bench/corecost.sh 65536
# Calls through nats-server and the gateway beside direct ones, one short round (every
# reply checked; asserts no speed): what bench/natsbench.sh runs for docs/BENCHMARKS.md.
"$bench" nats-tcp --runs 1 --seconds 0.2 --warmup 0.05 --inflight 1,4 \
    --gateway target/release/wirecall-gateway | grep -E '^\| (1|4) \| [0-9]'
# A server stream over loopback TCP against a raw socket, one short round (asserts no speed).
"$bench" stream-tcp --rounds 1 --items 2000 --size 1024 --window 64 | grep '^MEDIAN'
# The payload share of a 115200-baud line for 64-byte items, in virtual time: exact, so
# the figure of docs/BENCHMARKS.md is checked.
eff=$(cargo run -q --release --locked -p wirecall-tests --example stream_efficiency)
echo "$eff"
grep -qP '^64\t2000\t8\tone per item\t.*\t74\.01\t86\.5 %$' <<<"$eff" || { echo "stream efficiency changed"; exit 1; }
grep -qP '^64\t2000\t8\tpacked\t.*\t69\.76\t91\.7 %$' <<<"$eff" || { echo "packed stream efficiency changed"; exit 1; }
# A chain of three calls on a remote handle over a 115200-baud line, waiting for each answer
# and pipelined, in virtual time: exact, so the table of docs/BENCHMARKS.md is checked.
pipe=$(cargo run -q --release --locked -p wirecall-tests --example pipelining)
echo "$pipe"
grep -qP '^115200\t0\.1\t6\.85\t4\.63\t2\.22\t32 %\t41\t31$' <<<"$pipe" || { echo "pipelining figures changed"; exit 1; }
grep -qP '^115200\t16\.0\t102\.25\t36\.43\t65\.82\t64 %\t41\t31$' <<<"$pipe" || { echo "pipelining figures changed"; exit 1; }

# The soak in virtual time, a short round of each kind (docs/RELIABILITY.md has the long
# runs): no corrupted frame accepted, every call ended, no wrong result.
for noise in "--ber 1e-5" "--ber 1e-3 --drop 1e-3"; do
    # shellcheck disable=SC2086 # two words of options
    soak=$(cargo run -q --release --locked -p wirecall-tests --example soak -- --frames 1000000 $noise)
    echo "$soak"
    grep -q "^corrupted frames accepted 0," <<<"$soak" || { echo "soak: corrupted frames accepted"; exit 1; }
    grep -q "wrong results 0$" <<<"$soak" || { echo "soak: wrong results"; exit 1; }
    grep -q "^SOAK OK$" <<<"$soak" || { echo "soak failed"; exit 1; }
done

step "Miri: the core's unit tests under the interpreter (undefined behaviour, out-of-bounds, data races)"
# The core has no unsafe code of its own; this covers what it calls (memchr's SIMD search,
# core and heapless) on every path the unit tests reach. Proptests run 4 cases each here
# (Miri is ~1000x slower); isolation is off for proptest's failure files, and leaks are
# not checked because the only allocations are the test harness's and proptest's (the core
# never allocates).
rustup component add miri rust-src --toolchain nightly >/dev/null
MIRIFLAGS="-Zmiri-disable-isolation -Zmiri-ignore-leaks" PROPTEST_CASES=4 \
    cargo +nightly miri test -p wirecall --lib --locked 2>&1 | grep -E "^test result|^error|FAILED"

step "fuzz: every target built, then 20 s each, overflow checks on (nightly, cargo-fuzz)"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# Seven targets x 20 s: 2 minutes 20 s of fuzzing. The committed corpus is their seed (and
# `cargo test` replays it below); what a run adds goes to a scratch directory, so that
# ci never changes the checkout. A crash stops ci with the input in fuzz/artifacts/.
(cd fuzz && cargo +nightly fuzz build -a)
for target in framing messages endpoint pair typed host host_client; do
    scratch=$(mktemp -d)
    (cd fuzz && cargo +nightly fuzz run -a "$target" "$scratch" "corpus/$target" -- \
        -max_total_time=20 -max_len=2048 -timeout=20 -print_final_stats=1 2>&1 \
        | grep -E "^(Done|stat::number_of_executed_units)|panicked|ERROR|SUMMARY")
    rm -rf "$scratch"
done

step "tests (unit, integration, property, doc)"
test_log=$(mktemp)
trap 'rm -f "$test_log"' EXIT
# The Node server (js/examples/server.js) and the example guest's module are there by now:
# their Rust tests must not skip; nor must the gateway's (nats-server is installed above,
# and each test starts and kills its own by pid), the firmware's among them (built above).
WIRECALL_REQUIRE_NODE=1 WIRECALL_REQUIRE_GUEST=1 WIRECALL_REQUIRE_NATS=1 WIRECALL_REQUIRE_FIRMWARE=1 cargo test --workspace --locked 2>&1 | tee "$test_log"
passed=$(grep -oE 'test result: [a-zA-Z]+\. [0-9]+ passed' "$test_log" | awk '{s+=$4} END {print s+0}')
failed=$(grep -oE '[0-9]+ failed;' "$test_log" | awk '{s+=$1} END {print s+0}')

echo
echo "ci.sh: all checks passed"
echo "tests: $passed passed, $failed failed (Rust); $python_passed passed (Python); $js_passed passed (JavaScript)"
