//! Two live endpoints driven by an arbitrary list of operations and link faults.
//! Inputs and oracles: `wirecall_tests::fuzz_harness::pair`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wirecall_tests::fuzz_harness::pair(data));
