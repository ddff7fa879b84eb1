//! The tokio flavour: an async server and async clients, raw and typed, in one process.
//!
//! ```sh
//! cargo run -p wirecall-examples --example tokio_flavour
//! ```
//!
//! The server is the application's own accept loop; each connection is a task serving the
//! `tally` service with `host::tokio::serve`. The typed `tally::AsyncClient` has the same
//! methods as the blocking `tally::Client`, `async`; many calls are in flight at once over
//! one connection. The async flavour serves plain calls only: a stream procedure is
//! refused, explicitly, and served by the blocking runtime (`serve_tcp`) instead.

use std::error::Error;
use std::pin::Pin;

use futures_core::Stream;
use tokio::net::{TcpListener, TcpStream};
use wirecall::WireError;
use wirecall_adapters::host::tokio::{serve, AsyncClient};
use wirecall_adapters::host::{ClientError, ServeOptions};
use wirecall_examples::{tally, Tally};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // The server: one task per connection, every one with a handle on the same counters.
    let tally = Tally::default();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shared = tally.clone();
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            // The handler's methods run on tokio's blocking threads (they may block on the
            // lock); each request is a task of its own, so they run concurrently.
            tokio::spawn(serve(
                stream,
                tally::serve(shared.clone()),
                ServeOptions::default(),
            ));
        }
    });
    println!("serving on tcp://{addr}");

    // A client that reconnects with backoff; `connect` takes any async stream maker.
    let raw = AsyncClient::connect(
        move || TcpStream::connect(addr),
        wirecall::Config::default(),
    );
    let client = tally::AsyncClient::new(raw.clone());

    // Calls in flight at once over the one connection: their requests share writes, and
    // each reply wakes its own caller.
    let (a, b, c, d) = tokio::join!(
        client.add("even", 2),
        client.add("odd", 1),
        client.add("even", 2),
        client.add("odd", 3),
    );
    println!("add() x 4 at once: {}, {}, {}, {}", a?, b?, c?, d?);
    println!(
        "get(even) = {}, get(odd) = {}",
        client.get("even").await?,
        client.get("odd").await?
    );
    if (tally.value("even"), tally.value("odd")) != (4, 4) {
        return Err("the counters do not add up".into());
    }

    // The untyped client underneath: the endpoint's counters, and the manifest the glue
    // serves (what `wirecall list` reads).
    let (stats, connected) = raw.stats();
    println!(
        "connected: {connected}, frames sent: {}, received: {}",
        stats.frames_out, stats.frames_in
    );
    let manifest = raw.manifest(None).await?;
    println!("the server describes itself in {} bytes", manifest.len());
    if manifest != tally::MANIFEST {
        return Err("an unexpected manifest".into());
    }

    // A stream procedure: refused by the async flavour, with a reason.
    let mut list = client.list().await?;
    match next(&mut list).await {
        Some(Err(ClientError::Remote(WireError::UnknownProcedure, why))) => {
            println!("list() is refused here: {why}")
        }
        other => return Err(format!("list() gave {other:?}").into()),
    }

    drop((list, client, raw)); // the link's task closes the session
    server.abort();
    Ok(())
}

/// The next item of a stream (what `StreamExt::next` of `futures` or `tokio-stream` does;
/// written out so that the example needs neither).
async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}
