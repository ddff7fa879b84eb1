//! The services of the example guest, declared once for the guest (a `wasm32` module) and
//! its host (the runner's tests and benchmark):
//!
//! * [`plugin`]: what the guest serves: plain calls, an error, a server stream, two
//!   procedures that drop through to the host's [`kv`], and hostile behaviour on request
//!   (a trap, an endless loop, a flood of output, memory grown without bound) for the
//!   runner's containment tests.
//! * [`kv`]: a key-value store the *host* serves natively and the guest calls.
//!
//! Types a microcontroller could have (heapless, bounded): the same declarations would
//! serve a device.

#![no_std]

/// A key: at most 32 bytes of UTF-8.
pub type Key = heapless::String<32>;
/// A value: at most 64 bytes.
pub type Value = heapless::Vec<u8, 64>;

wirecall::service! {
    /// The example guest's service.
    pub mod plugin {
        /// `a + b`; `BadArguments` on overflow.
        0 => Add: fn add(a: i32, b: i32) -> i32;
        /// Returns its bytes.
        1 => Echo: fn echo(data: heapless::Vec<u8, 64>) -> heapless::Vec<u8, 64>;
        /// The numbers `0..n` as a server stream (at most 1000, `BadArguments` past that).
        2 => Count: fn count(n: u32) -> stream u32;
        /// Stores `value` under `key` in the host's `kv` (a call from the guest to its
        /// host); returns the previous value.
        3 => Remember: fn remember(key: heapless::String<32>, value: heapless::Vec<u8, 64>) -> Option<heapless::Vec<u8, 64>>;
        /// The value under `key` in the host's `kv`.
        4 => Recall: fn recall(key: heapless::String<32>) -> Option<heapless::Vec<u8, 64>>;
        /// Traps (a Rust panic: `unreachable` in the module).
        5 => Trap: fn trap() -> ();
        /// Loops forever without calling the host.
        6 => Spin: fn spin() -> ();
        /// Writes bytes to the host in a loop without reading, ignoring that the channel
        /// is full.
        7 => Flood: fn flood() -> ();
        /// Allocates a MiB at a time, forever.
        8 => Hog: fn hog() -> ();
        /// Polls for input with a zero timeout, forever (a busy wait that never yields).
        9 => PollSpin: fn poll_spin() -> ();
    }
}

wirecall::service! {
    /// A key-value store of the host.
    pub mod kv {
        /// The value under `key`.
        0 => Get: fn get(key: heapless::String<32>) -> Option<heapless::Vec<u8, 64>>;
        /// Stores `value` under `key`; returns the previous value.
        1 => Put: fn put(key: heapless::String<32>, value: heapless::Vec<u8, 64>) -> Option<heapless::Vec<u8, 64>>;
    }
}
