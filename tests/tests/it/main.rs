//! The integration tests of wirecall: one binary, one module per subject.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

mod batch;
mod budgets;
mod calls;
mod common;
mod dynamic;
mod firmware;
mod fuzz_corpus;
mod handle_properties;
mod handles_pair;
mod host_handles;
mod host_hostile;
mod host_limits;
mod host_memory;
mod host_streams;
mod hostile;
mod hostile_frames;
mod hostile_handles;
mod limits;
mod link;
mod manifest;
mod manifest_edges;
mod memory;
mod morse;
mod morse_link;
mod node;
mod properties;
mod python;
mod stream_vectors;
mod streams;
mod tokio_flavour;
mod transports;
mod typed_glue;
mod uart;
mod uart_async;
mod vectors;
mod victim;
