//! The async flavour over real loopback sockets: async to async with many calls in
//! flight, and both directions of interop with the blocking runtime (one core, one
//! protocol).

use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use wirecall::Config;
use wirecall_adapters::host::tokio::{serve, AsyncClient, Inline};
use wirecall_adapters::host::{self, Client, ClientError, ClientOptions, Link};
use wirecall_tests::demo::{demo, host_handler};

fn server_config() -> Config {
    Config::default().with_manifest(&demo::MANIFEST)
}

fn client_config() -> Config {
    Config::default().expecting_schema(demo::SCHEMA_HASH)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_client_and_server_with_many_calls_in_flight() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        serve(stream, Inline(host_handler()), server_config()).await;
    });
    let client = AsyncClient::over(TcpStream::connect(addr).await.unwrap(), client_config());
    // 200 calls at once: 32 in flight at a time (the server's limit), the rest queued.
    let calls = (0..200).map(|i| {
        let c = client.clone();
        async move { c.call_typed::<demo::Add>(&(i, 1), None).await }
    });
    let results = futures_join_all(calls).await;
    assert!(
        results
            .iter()
            .enumerate()
            .all(|(i, r)| *r == Ok(i as i32 + 1)),
        "{results:?}"
    );
    client.close();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
}

/// `join_all` without another dependency: spawn each and await in order.
async fn futures_join_all<F>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_client_calls_a_blocking_server() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = host::serve_tcp(listener, host_handler, server_config()).unwrap();
    let client = AsyncClient::over(TcpStream::connect(addr).await.unwrap(), client_config());
    assert_eq!(client.call_typed::<demo::Add>(&(40, 2), None).await, Ok(42));
    assert!(matches!(
        client.call(77, &[], None).await,
        Err(ClientError::Remote(
            wirecall::WireError::UnknownProcedure,
            _
        ))
    ));
    client.close();
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_client_calls_an_async_server_and_sees_it_go() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        serve(stream, Inline(host_handler()), server_config()).await;
    });
    let options = ClientOptions {
        config: client_config(),
        reconnect: false,
        ..ClientOptions::default()
    };
    let client = Client::connect(move || Link::tcp(addr), options).unwrap();
    let c = client.clone();
    let r = tokio::task::spawn_blocking(move || c.call_typed::<demo::Add>(&(1, 2), None))
        .await
        .unwrap();
    assert_eq!(r, Ok(3));
    server.abort(); // the server task goes away: its socket closes
    let _ = server.await;
    let r = tokio::task::spawn_blocking(move || {
        client.call_typed::<demo::Add>(&(1, 2), Some(Duration::from_secs(5)))
    })
    .await
    .unwrap();
    assert_eq!(r, Err(ClientError::ConnectionLost));
}
