//! The host runtime: real links, a `Clone + Send` client, servers, and an async flavour.
//!
//! * [`Link`]: a byte stream split into a reader and a writer, with constructors for TCP,
//!   Unix sockets, child processes, this process's stdio and serial ports.
//! * [`LinkUrl`]: the names the project gives links everywhere (`tcp://HOST:PORT`,
//!   `unix:///path`, `serial:///dev/ttyUSB0?baud=115200`, `exec:COMMAND`, `stdio:`), parsed,
//!   printed and opened.
//! * [`Client`]: calls from any number of threads over one link, reconnecting with
//!   backoff when the link drops.
//! * [`serve_link`], [`serve_tcp`], [`serve_unix`]: serve a [`Handler`] on one link, or on
//!   every connection of a listener; [`serve_port`] serves one host after another on a
//!   serial port. [`ServeOptions`] sets the connection limit and capacities.
//! * [`Bridge`]: forwards calls, streams and cancellations from any number of client links
//!   to one device link (and the device's own calls to an upstream service), respecting
//!   the device's in-flight limit.
//! * `tokio` (feature `tokio`): `AsyncClient` and `serve` for any
//!   `AsyncRead + AsyncWrite` stream.
//!
//! Both flavours run the same session logic on the same core, so they cannot disagree about
//! the protocol; adapters hold no protocol logic of their own.
//!
//! # The path of a call (blocking flavour)
//!
//! The calling thread encodes the request into the endpoint and writes it to the link
//! itself, together with anything else queued (one `write`). If no other thread is reading
//! the link, it then reads the reply itself; otherwise the reader hands the reply straight
//! to it (one wake-up). On the server, the thread that reads the request runs the handler
//! and writes the answer. One call in flight therefore crosses no thread hand-off beyond
//! the socket on either side; with many in flight, each reply costs one wake-up of its
//! caller, and requests and replies queued meanwhile share writes. One thread can keep
//! many calls in flight without any wake-up: [`Client::batch`] writes a batch of
//! requests at once, and [`PendingCall::wait`] collects each outcome.
//!
//! # Memory
//!
//! Nothing between a socket and the endpoint grows with what the peer sends: a connection
//! holds its endpoint (20,496 bytes at the default capacity, see
//! [`Capacity::endpoint_bytes`]), a 16 KiB read buffer and a 16 KiB write buffer, a few
//! hundred bytes of bookkeeping, and one thread that reads it (its stack is the system
//! default; it touches a few pages). When the endpoint stops taking input, the reader
//! stops reading; when the peer stops reading, the writer gives up after 5 s without
//! progress and the link is dropped. Per call in flight a client adds the caller's own
//! thread and its arguments and result. A client has two threads of its own (I/O and
//! timer); a server has an accept thread, a timer thread, one thread per connection and
//! at most [`ServeOptions::max_lent_threads`] lent threads. A stream adds the items that
//! arrived and wait for the application: at most its receive window
//! ([`Config::stream_window`](wirecall::Config::stream_window)) of them, each at most a
//! frame.
//!
//! # Streams and callbacks
//!
//! [`Client::open_stream`] opens a stream and returns a [`CallStream`]: an iterator over
//! the server's items (each one taken grants the server credit for another) that also
//! sends the caller's; [`Client::stream_typed`] does the same with a procedure's types, and
//! `tokio::AsyncClient::open_stream` gives a `futures_core::Stream`. A server serves
//! streams and calls back into its caller through [`Handler::serve`], whose [`Request`]
//! sends and receives items (waiting for credit) and makes calls one level deeper. A
//! client with a handler ([`ClientOptions::handler`]) serves such callbacks while its own
//! call is in flight: whichever of its threads reads the link runs the handler.
//! The async flavour serves no streams yet (it refuses them with `UnknownProcedure`);
//! its clients consume server streams and serve callbacks.

mod bridge;
mod client;
mod conn;
mod engine;
mod link;
mod manifest;
mod objects;
mod printable;
mod remote;
mod runtime;
mod server;
mod session;
mod slot;
mod streams;
#[cfg(feature = "tokio")]
pub mod tokio;
mod typed;
mod url;
mod waiter;

pub use bridge::{Bridge, BridgeOptions, BridgeStats};
pub use client::{Batch, CallCanceller, Client, ClientOptions, PendingCall};
pub use engine::{Capacity, HostEndpoint, HOST_HANDLES};
pub use link::{Link, LinkGuard};
pub use printable::{json_printable, printable};
pub use remote::RemoteHandle;
pub use server::{serve_link, serve_port, serve_tcp, serve_unix, ServeOptions, ServerHandle};
pub use session::{CallOutcome, ClientError, Handler};
pub use streams::{CallStream, Request, TypedStream};
pub use typed::{HandlerFactory, IntoHandler, IntoHandlers};
pub use url::{LinkUrl, LinkUrlError};

/// The clock of a host: microseconds since the first use in this process.
pub(crate) fn now() -> wirecall::Instant {
    wirecall::Instant::from_micros(epoch().elapsed().as_micros() as u64)
}

fn epoch() -> std::time::Instant {
    use std::sync::OnceLock;
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    *START.get_or_init(std::time::Instant::now)
}

/// A moment that never comes, as a distance from now: deadlines are capped at it.
pub(crate) const FAR_FUTURE: std::time::Duration =
    std::time::Duration::from_secs(100 * 365 * 86_400);

/// `timeout`, capped at [`FAR_FUTURE`]: `Instant::now() + capped(t)` cannot overflow (and
/// panic) whatever a caller passes, `Duration::MAX` included.
pub(crate) fn capped(timeout: std::time::Duration) -> std::time::Duration {
    timeout.min(FAR_FUTURE)
}

/// A host duration in the core's terms.
pub(crate) fn to_core(d: std::time::Duration) -> wirecall::Duration {
    wirecall::Duration::from_micros(d.as_micros().min(u128::from(u64::MAX)) as u64)
}

/// A core duration in the host's terms.
pub(crate) fn from_core(d: wirecall::Duration) -> std::time::Duration {
    std::time::Duration::from_micros(d.as_micros())
}

/// A core instant (on [`now`]'s clock) in the host's terms.
pub(crate) fn from_core_instant(t: wirecall::Instant) -> std::time::Instant {
    epoch() + std::time::Duration::from_micros(t.as_micros())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use wirecall::{StreamMode, WireError};

    use super::*;

    #[test]
    fn the_longest_timeouts_are_far_deadlines_not_panics() {
        // `Instant::now() + Duration::MAX` panics; every deadline a caller gives is capped.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let echo = |_: u32, args: &[u8]| Ok::<_, (WireError, String)>(args.to_vec());
        let server = serve_tcp(
            listener,
            move || Box::new(echo),
            wirecall::Config::default(),
        )
        .unwrap();
        let client = Client::connect(move || Link::tcp(addr), ClientOptions::default()).unwrap();
        assert!(client.wait_connected(Duration::MAX));
        assert_eq!(client.call(0, b"x", Some(Duration::MAX)), Ok(b"x".to_vec()));
        // This server serves no streams: the stream is refused, with no panic on the way.
        let stream = client
            .open_stream(0, b"", StreamMode::ServerStream, Some(Duration::MAX))
            .unwrap();
        assert!(matches!(
            stream.finish(),
            Err(ClientError::Remote(WireError::UnknownProcedure, _))
        ));
        drop(client);
        server.stop();
    }
}
