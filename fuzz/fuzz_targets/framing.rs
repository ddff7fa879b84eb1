//! The core's COBS + CRC frame decoder on arbitrary bytes in arbitrary chunkings.
//! Inputs and oracles: `wirecall_tests::fuzz_harness::framing`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wirecall_tests::fuzz_harness::framing(data));
