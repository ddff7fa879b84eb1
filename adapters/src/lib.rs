//! Links that carry bytes and time between a real (or simulated) link and a wirecall
//! [`Endpoint`](https://docs.rs/wirecall). Adapters hold no protocol logic: every decision
//! about frames, calls and deadlines is the core's.
//!
//! * [`uart`] (`no_std`): a blocking driver over `embedded-io` UARTs for firmware, with the
//!   clock handed in through a small trait.
//! * `uart_async` (`no_std`, feature `async`): the same over `embedded-io-async` UARTs, for
//!   embassy or any async HAL, with a timer trait for deadlines.
//! * [`host`] (feature `std`): links over TCP, Unix sockets, child processes, stdio and
//!   serial ports; a `Clone + Send` client that reconnects; servers for one link or a
//!   listener.
//! * [`morse`] (`no_std`; audio, a noisy channel and a simulated line with `std`): the
//!   Morse-code link, bytes as dits and dahs, keyed and decoded sans-I/O.
//! * [`sim`] (feature `std`): a simulated serial line with a baud rate, latency and
//!   seeded fault injection, on a virtual clock. The test harness and `wirecall demo` use
//!   it; use it to test your own service without hardware.

#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

// The README's Rust blocks run as doctests of this crate, the one that can host both ends
// of its examples: what the README shows is what compiles.
#[cfg(all(doctest, feature = "std"))]
#[doc = include_str!("../../README.md")]
mod readme {}

#[cfg(feature = "std")]
pub mod host;
pub mod morse;
#[cfg(feature = "std")]
pub mod sim;
pub mod uart;
#[cfg(feature = "async")]
pub mod uart_async;
