//! The wirecall core compiled to WebAssembly, for the npm package `wirecall` (js/).
//!
//! A thin `wasm-bindgen` layer and nothing more: every protocol decision is the Rust
//! core's (`wirecall`), every payload encoding the manifest codec's (`wirecall-schema`).
//! JavaScript gets
//!
//! * [`Engine`]: one endpoint, sans-I/O as in Rust: `handleInput(now, bytes)`,
//!   `handleTimeout(now)`, commands (`call`, `open`, `respond`, `cancel`, stream items),
//!   and the outputs `pollTransmit()`, `pollEvent()` and `pollTimeout()`; time is
//!   milliseconds on any monotonic clock;
//! * [`Schema`]: a manifest, with the codec between JavaScript values and payloads.
//!
//! Values cross as plain JavaScript: numbers (integers beyond 2^53 as `BigInt`), strings,
//! booleans, `null`, arrays and objects, following the codec's JSON conventions.
//!
//! Its size is one endpoint class (4 KiB frames, 32 calls each way, 64 export slots: the
//! host runtime's default), so that one copy of the state machine is in the module.

#![forbid(unsafe_code)]

mod engine;
mod errors;
mod options;
mod schema;
mod stats;
mod value;

pub use engine::{Engine, HANDLES, MAX_CALLS, MAX_FRAME};
pub use schema::{manifest_hash, Schema};
