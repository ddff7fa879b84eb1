//! The host runtime (`serve_link`) over a socket pair, fed by an arbitrary peer.
//! Inputs and oracles: `wirecall_tests::fuzz_harness::host`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wirecall_tests::fuzz_harness::host(data));
