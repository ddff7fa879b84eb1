//! The blocking host `Client` (calls, a typed call, both kinds of stream) over a socket
//! pair, answered by an arbitrary server peer.
//! Inputs and oracles: `wirecall_tests::fuzz_harness::host_client`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wirecall_tests::fuzz_harness::host_client(data));
