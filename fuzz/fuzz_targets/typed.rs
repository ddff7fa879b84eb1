//! The typed decoders against `wirecall-schema`'s, and the manifest parser and codec.
//! Inputs and oracles: `wirecall_tests::fuzz_harness::typed`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wirecall_tests::fuzz_harness::typed(data));
