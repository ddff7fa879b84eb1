//! The host runtime: real links, a thread per link, a `Clone + Send` client, servers.
//!
//! * [`Link`]: a byte stream split into a reader and a writer, with constructors for TCP,
//!   Unix sockets, child processes, this process's stdio and serial ports.
//! * [`Client`]: calls from any number of threads over one link, driven by one I/O thread,
//!   reconnecting with backoff when the link drops.
//! * [`serve_link`], [`serve_tcp`], [`serve_unix`]: serve a [`Handler`] on one link, or on
//!   every connection of a listener, each connection isolated on its own thread;
//!   [`serve_port`] serves one host after another on a serial port.
//!
//! All of them run the same [`Session`] (endpoint, pending calls, handler); so does the
//! async flavour in [`tokio`] (feature `tokio`): an `AsyncClient` and `serve` for any
//! `AsyncRead + AsyncWrite` stream. Adapters hold no protocol logic: what to send, when a call ends and
//! what the peer is told are the core's decisions.

mod client;
mod driver;
mod link;
mod server;
mod session;
#[cfg(feature = "tokio")]
pub mod tokio;

pub use client::{Client, ClientOptions};
pub use link::Link;
pub use server::{serve_link, serve_port, serve_tcp, serve_unix, ServerHandle};
pub use session::{CallOutcome, ClientError, Handler, HostEndpoint, Session};

/// The clock of a host: microseconds since the first use in this process.
pub(crate) fn now() -> wirecall::Instant {
    use std::sync::OnceLock;
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    let start = *START.get_or_init(std::time::Instant::now);
    wirecall::Instant::from_micros(start.elapsed().as_micros() as u64)
}
