//! One endpoint driven by an arbitrary script of peer bytes, frames, time and commands.
//! Inputs and oracles: `wirecall_tests::fuzz_harness::endpoint`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wirecall_tests::fuzz_harness::endpoint(data));
