//! What a host user chooses and what it costs: capacities set at run time, slow handlers
//! on one connection served concurrently (both flavours), calls kept in flight from one
//! thread, and a call's bytes on the wire through the host client.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use wirecall::{Config, WireError};
use wirecall_adapters::host::tokio::{serve, AsyncClient, AsyncClientOptions};
use wirecall_adapters::host::{
    self, Capacity, Client, ClientError, ClientOptions, Handler, Link, ServeOptions,
};
use wirecall_tests::demo::{demo, host_handler};

/// Procedure 7 returns its arguments; procedure 8 sleeps for the milliseconds in its
/// first two bytes.
fn mirror() -> Box<dyn Handler> {
    Box::new(|procedure: u32, args: &[u8]| match procedure {
        7 => Ok(args.to_vec()),
        8 => {
            let ms = u16::from_le_bytes([args[0], args[1]]);
            std::thread::sleep(Duration::from_millis(u64::from(ms)));
            Ok(vec![])
        }
        _ => Err((WireError::UnknownProcedure, String::new())),
    })
}

fn serve_with(capacity: Capacity) -> (host::ServerHandle, std::net::SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let options = ServeOptions {
        capacity,
        ..ServeOptions::default()
    };
    (host::serve_tcp(listener, mirror, options).unwrap(), addr)
}

#[test]
fn a_host_chooses_its_frame_size_and_calls_in_flight() {
    let big = Capacity {
        max_frame: 65536,
        max_calls: 100,
    };
    let (server, addr) = serve_with(big);
    let client = Client::connect(
        move || Link::tcp(addr),
        ClientOptions {
            capacity: big,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let payload: Vec<u8> = (0..60_000).map(|i| (i % 251) as u8).collect();
    assert_eq!(client.call(7, &payload, None), Ok(payload.clone()));
    // 100 calls in flight from one thread, each answered with its own bytes.
    let pending: Vec<_> = (0..100u32)
        .map(|i| client.start(7, &i.to_le_bytes(), None).unwrap())
        .collect();
    for (i, p) in pending.into_iter().enumerate() {
        assert_eq!(p.wait(), Ok((i as u32).to_le_bytes().to_vec()));
    }
    drop(client);
    // At the default capacity (4 KiB frames) the same call is refused locally.
    let small = Client::connect(move || Link::tcp(addr), ClientOptions::default()).unwrap();
    assert_eq!(small.call(7, &payload, None), Err(ClientError::TooLarge));
    drop(small);
    server.stop();
    // Out-of-range capacities are errors that say what is allowed.
    let err = Client::connect(
        move || Link::tcp(addr),
        ClientOptions {
            capacity: Capacity {
                max_frame: 1 << 20,
                max_calls: 32,
            },
            ..ClientOptions::default()
        },
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("48 to 65536"), "{err}");
}

#[test]
fn slow_handlers_on_one_connection_finish_in_about_the_time_of_one() {
    let (server, addr) = serve_with(Capacity::default());
    let client = Client::connect(move || Link::tcp(addr), ClientOptions::default()).unwrap();
    assert!(client.wait_connected(Duration::from_secs(5)));
    let started = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let c = client.clone();
            std::thread::spawn(move || c.call(8, &1000u16.to_le_bytes(), None))
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), Ok(vec![]));
    }
    let took = started.elapsed();
    // One after the other they would take 8 s.
    assert!(
        took < Duration::from_secs(4),
        "8 calls of 1 s took {took:?}"
    );
    drop(client);
    server.stop();
}

#[test]
fn pending_calls_dropped_unanswered_are_cancelled() {
    let (server, addr) = serve_with(Capacity::default());
    let client = Client::connect(move || Link::tcp(addr), ClientOptions::default()).unwrap();
    let pending = client.start(8, &500u16.to_le_bytes(), None).unwrap();
    drop(pending);
    let (stats, _) = client.stats().unwrap();
    assert_eq!(stats.cancels_sent, 1, "{stats:?}");
    assert_eq!(client.call(7, &[1, 2, 3], None), Ok(vec![1, 2, 3]));
    drop(client);
    server.stop();
}

#[tokio::test(flavor = "current_thread")]
async fn async_slow_handlers_on_one_connection_run_concurrently() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let sleepy = |_procedure: u32, _args: Vec<u8>| async {
            tokio::time::sleep(Duration::from_millis(1000)).await;
            Ok(vec![1])
        };
        serve(stream, sleepy, Config::default()).await;
    });
    let client = AsyncClient::connect(
        move || tokio::net::TcpStream::connect(addr),
        AsyncClientOptions::default(),
    );
    let started = Instant::now();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.call(0, &[], None).await })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap(), Ok(vec![1]));
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "8 calls of 1 s took {took:?}"
    );
    client.close();
    let _ = server.await;
}

#[tokio::test(flavor = "current_thread")]
async fn the_async_client_reconnects_and_says_hello_at_once() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener); // nothing listens yet
    let client = AsyncClient::connect(
        move || tokio::net::TcpStream::connect(addr),
        AsyncClientOptions::from(Config::default().expecting_schema(demo::SCHEMA_HASH)),
    );
    let waiting = {
        let c = client.clone();
        tokio::spawn(async move {
            c.call_typed::<demo::Add>(&(2, 2), Some(Duration::from_secs(10)))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let server = tokio::task::spawn_blocking(move || {
        host::serve_tcp(
            std::net::TcpListener::bind(addr).unwrap(),
            host_handler,
            Config::default().with_manifest(&demo::MANIFEST),
        )
        .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(waiting.await.unwrap(), Ok(4));
    // Its handshake did not wait for a keepalive tick: a fresh link is up within one.
    let (stats, up) = client.stats();
    assert!(up && stats.handshakes == 1, "{stats:?}");
    client.close();
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
}

#[test]
fn add_costs_22_bytes_through_the_host_client_from_the_first_call_on() {
    // A proxy between client and server counts the bytes of each call.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = host::serve_tcp(listener, host_handler, Config::default()).unwrap();
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_addr = proxy.local_addr().unwrap();
    let counted = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let c2 = counted.clone();
    std::thread::spawn(move || {
        let (client_side, _) = proxy.accept().unwrap();
        let server_side = std::net::TcpStream::connect(addr).unwrap();
        let pump = |mut from: std::net::TcpStream,
                    mut to: std::net::TcpStream,
                    n: std::sync::Arc<std::sync::atomic::AtomicU64>| {
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut buf = [0u8; 4096];
                while let Ok(k) = from.read(&mut buf) {
                    if k == 0 || to.write_all(&buf[..k]).is_err() {
                        break;
                    }
                    n.fetch_add(k as u64, std::sync::atomic::Ordering::SeqCst);
                }
                let _ = to.shutdown(std::net::Shutdown::Write);
            })
        };
        let a = pump(
            client_side.try_clone().unwrap(),
            server_side.try_clone().unwrap(),
            c2.clone(),
        );
        let b = pump(server_side, client_side, c2);
        let _ = (a.join(), b.join());
    });
    let client = Client::connect(move || Link::tcp(proxy_addr), ClientOptions::default()).unwrap();
    assert!(client.wait_connected(Duration::from_secs(5)));
    let settle = || {
        // Both Hellos (and nothing else) have crossed once the count stops moving.
        let mut last = u64::MAX;
        loop {
            std::thread::sleep(Duration::from_millis(50));
            let now = counted.load(std::sync::atomic::Ordering::SeqCst);
            if now == last {
                return now;
            }
            last = now;
        }
    };
    let before = settle();
    for round in 0..3 {
        let start = counted.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(client.call_typed::<demo::Add>(&(1, 2), None), Ok(3));
        let end = settle();
        // Request 12 bytes, reply 10: no timeout on the wire (both sides know the
        // default), and a one-byte call id.
        assert_eq!(end - start, 22, "round {round} (before: {before})");
    }
    drop(client);
    server.stop();
}
