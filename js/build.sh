#!/usr/bin/env bash
# Builds the WebAssembly core of the npm package into dist/: the Rust crate js/wasm for
# wasm32-unknown-unknown (profile "wasm": optimised for size), then wasm-bindgen's glue.
# Needs: rustup target add wasm32-unknown-unknown; cargo install wasm-bindgen-cli at the
# version js/wasm/Cargo.toml pins (ci.sh does both).
set -euo pipefail
cd "$(dirname "$0")"
target_dir=${CARGO_TARGET_DIR:-$PWD/../target}
cargo build -q -p wirecall-wasm --target wasm32-unknown-unknown --profile wasm --locked
wasm-bindgen --target web --out-dir dist --out-name wirecall_wasm \
    "$target_dir/wasm32-unknown-unknown/wasm/wirecall_wasm.wasm"
