//! The test harness of wirecall.
//!
//! * [`pair`]: two endpoints joined by two simulated serial lines on a virtual clock that
//!   jumps to the earliest deadline; each side can serve requests automatically or hold
//!   them for the test to answer.
//! * [`raw`]: an independent, deliberately plain implementation of the framing (COBS and
//!   CRC-32C) for hostile-peer tests and the byte-exact test vectors.
//! * [`demo`]: the demo service both the tests and the command-line demo serve.
//! * [`fuzz_harness`]: what each fuzz target runs on one input, and its oracles.
//! * [`calc`]: a service served and called through `service!`'s generated glue and
//!   clients (binary `calc-server` serves it on stdio).
//! * [`pipelining`]: a chain of three calls on a handle, waiting or pipelined, timed on the
//!   pair.
//! * [`peer`]: a misbehaving peer on a real socket (floods, never reads, falls silent).
//! * [`pty`]: serial-port pairs from `socat`.
//! * [`qemu`]: the example firmware under `qemu-system-arm`.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod calc;
pub mod demo;
pub mod engine;
pub mod fuzz_harness;
pub mod pair;
pub mod peer;
pub mod pipelining;
pub mod process;
pub mod pty;
pub mod qemu;
pub mod raw;
