//! wirecall inside a WebAssembly guest: the guest serves a `service!` and calls its host's
//! with the same typed API as a microcontroller, over a byte channel and a clock that the
//! runner (`wirecall-wasm-host`, on wasmtime) provides as imports. No network stack, no
//! WASI: three functions.
//!
//! # The guest ABI
//!
//! Imports, module `"wirecall"` (integers are wasm `i32`/`i64`, little-endian memory):
//!
//! | import | meaning |
//! |---|---|
//! | `write(ptr: i32, len: i32) -> i32` | offers `len` bytes at `ptr` to the host; returns how many it took, `0..=len` (0 when its buffer is full; the runner may wait a few milliseconds for room first) |
//! | `read(ptr: i32, cap: i32, timeout_ms: i32) -> i32` | waits up to `timeout_ms` for input, copies at most `cap` bytes to `ptr`; returns the count, 0 on timeout, -1 once the link is closed. With `cap` 0 it only waits (returns 0 once input is waiting or the time is up). Every call re-arms the guest's CPU budget |
//! | `now_ms() -> i64` | milliseconds of a monotonic clock |
//!
//! Exports: `memory`, and `wirecall_main()`, the guest's loop, run once on a thread of its
//! own; returning from it ends the guest ([`export_main!`] writes it). A pointer range
//! outside the memory traps. The runner stops a guest that traps, grows its memory past
//! its limit, or runs longer than its CPU budget without calling `read`; its link then
//! closes and its peers' calls end with errors.
//!
//! # The crate
//!
//! * [`sys`]: the imports as safe functions (its module holds the crate's only `unsafe`).
//! * [`Channel`] and [`GuestClock`]: embedded-io `Read`/`ReadReady`/`Write` over the byte
//!   channel and the UART driver's `Clock`, so the guest's loop is the firmware's: a
//!   [`UartDriver`] ([`Driver`], at guest sizes) and the generated `dispatch_request`.
//! * [`idle`]: the loop's wait (firmware's `WFI`); [`call`]: a blocking typed call to the
//!   host.
//!
//! A guest (the whole of one, built with
//! `cargo build --target wasm32-unknown-unknown --release`; `wasm-guest/example` is a
//! larger one):
//!
//! ```
//! use wirecall::{Config, Dispatched, Event, WireError};
//!
//! wirecall::service! {
//!     pub mod calc {
//!         0 => Add: fn add(a: i32, b: i32) -> i32;
//!     }
//! }
//! struct Calc;
//! impl calc::Handler for Calc {
//!     fn add(&mut self, a: i32, b: i32) -> Result<i32, WireError> {
//!         a.checked_add(b).ok_or(WireError::BadArguments)
//!     }
//! }
//!
//! fn run() {
//!     let config = Config::default().with_manifest(&calc::MANIFEST);
//!     let mut driver = wirecall_guest::driver(config);
//!     let mut out = [0u8; calc::MAX_REPLY_LEN];
//!     // A poll fails once the link is closed: returning ends the guest.
//!     while driver.poll().is_ok() {
//!         let ep = driver.endpoint();
//!         while let Some(event) = ep.poll_event() {
//!             if let Event::Request { id, mode, procedure, args, export } = event {
//!                 let _ = match calc::dispatch_request(&mut Calc, id, mode, procedure, args, export, &mut out) {
//!                     Ok(Dispatched::Reply(n)) => ep.respond(id, &out[..n]),
//!                     Ok(_) => Ok(()),
//!                     Err(e) => ep.respond_error(id, e, ""),
//!                 };
//!             }
//!         }
//!         if wirecall_guest::idle(&mut driver).is_err() {
//!             return;
//!         }
//!     }
//! }
//! wirecall_guest::export_main!(run);
//! # // Off wasm32 the imports are stubs of a closed link: the loop ends at once.
//! # run();
//! ```

#![no_std]

mod call;
mod channel;
pub mod sys;

pub use call::{call, idle, CallFailed, BUSY_DETAIL};
pub use channel::{Channel, Closed, GuestClock};

use wirecall::Config;
use wirecall_adapters::uart::UartDriver;

/// The firmware driver at guest sizes: 4 KiB frames and 32 calls served at once (the host
/// runtime's defaults), 8 calls to the host at once, a 16 KiB transmit queue: 27 KiB of the
/// guest's memory (checked by a test, on 64-bit). A
/// guest that wants other sizes names a `UartDriver<Channel, GuestClock, ..>` itself.
pub type Driver = UartDriver<Channel, GuestClock, 4096, 32, 8, 16384>;

/// A [`Driver`] over the runner's channel, its handshake started now.
pub fn driver(config: Config) -> Driver {
    UartDriver::new(Channel::new(), GuestClock, config)
}

/// Exports `wirecall_main`, the guest's entry point, running `$run` (a `fn()`):
/// `wirecall_guest::export_main!(run);` at the crate's top level. The export attribute
/// (`#[unsafe(no_mangle)]`: an exported symbol name is unsafe to Rust, since two could
/// clash) is written here, in this crate's macro, so a guest crate can keep
/// `forbid(unsafe_code)` (the example guest does).
#[macro_export]
macro_rules! export_main {
    ($run:path) => {
        /// The guest's entry point, called once by the runner.
        #[unsafe(no_mangle)]
        pub extern "C" fn wirecall_main() {
            $run()
        }
    };
}

#[cfg(test)]
mod tests {
    /// The figure in [`Driver`]'s docs (64-bit; a wasm32 guest's is a little smaller).
    #[test]
    fn the_driver_fits_its_stated_size() {
        let size = core::mem::size_of::<super::Driver>();
        assert!(size <= 27 << 10, "{size} bytes");
        extern crate std;
        std::println!("Driver: {size} bytes");
    }
}
