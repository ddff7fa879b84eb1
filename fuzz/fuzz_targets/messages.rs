//! Each message decoder of the core: varints, `Hello`, the frame parser, packed items.
//! Inputs and oracles: `wirecall_tests::fuzz_harness::messages`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wirecall_tests::fuzz_harness::messages(data));
