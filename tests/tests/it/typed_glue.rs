//! `service!`'s generated clients and host glue, end to end: `calc::serve(handler)` served
//! by the blocking and async runtimes, called through `calc::Client` and
//! `calc::AsyncClient`, over loopback TCP, a child process's stdio and a socat pty. Every
//! shape of procedure, borrowed parameters, state shared across connections, and the
//! schema check that keeps a client of one service away from another's procedures.

use std::net::TcpListener;
use std::pin::Pin;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use wirecall::{StreamMode, WireError};
use wirecall_adapters::host::tokio::AsyncClient;
use wirecall_adapters::host::{self, Client, ClientError, ClientOptions, Link, ServeOptions};
use wirecall_tests::calc::{calc, other, Calc};
use wirecall_tests::pty::PtyPair;

/// A `calc` server on loopback TCP (the blocking runtime), and its handler's shared count.
fn tcp_server() -> (host::ServerHandle, std::net::SocketAddr, Calc) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Calc::default();
    let server = host::serve_tcp(
        listener,
        calc::serve(handler.clone()),
        ServeOptions::default(),
    )
    .unwrap();
    (server, addr, handler)
}

/// Every shape of procedure through a blocking typed client (node.rs runs it too); ends
/// with a `reset`.
pub(crate) fn every_shape(client: &calc::Client<Client>) {
    assert_eq!(client.add(40, 2), Ok(42));
    assert_eq!(
        client.add(i32::MAX, 1),
        Err(ClientError::Remote(WireError::BadArguments, String::new())),
        "the handler's own error, without a detail text"
    );
    assert_eq!(client.chars("héllo wörld"), Ok(11));
    assert_eq!(client.checksum(&[1, 2, 3, 250]), Ok(256));
    let items: Vec<u32> = client.upto(100).unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(items, (0..100).collect::<Vec<_>>());
    let mut total = client.total().unwrap();
    for i in 1..=100 {
        total.send(&i).unwrap();
    }
    total.end_items().unwrap();
    assert_eq!(total.finish(), Ok(5050));
    let mut scale = client.scale(3).unwrap();
    for i in 1..=20u32 {
        scale.send(&i).unwrap();
        assert_eq!(
            scale.next(),
            Some(Ok(3 * i)),
            "one answer per item, in step"
        );
    }
    scale.end_items().unwrap();
    assert_eq!(scale.finish(), Ok(()));
    assert_eq!(client.reset(), Ok(()));
}

#[test]
fn the_generated_client_and_glue_carry_every_shape_over_tcp() {
    let (server, addr, handler) = tcp_server();
    let raw = Client::connect(move || Link::tcp(addr), ClientOptions::default()).unwrap();
    let client = calc::Client::new(raw.clone());
    every_shape(&client);
    // The glue serves the manifest and announces its hash.
    assert_eq!(raw.manifest(None).unwrap(), calc::MANIFEST.to_vec());
    assert_eq!(raw.peer().map(|p| p.schema), Some(calc::SCHEMA_HASH));
    // `reset` ran last and zeroed the shared count.
    assert_eq!(handler.hits.load(Ordering::SeqCst), 0);
    drop((client, raw));
    server.stop();
}

#[test]
fn the_result_buffer_is_sized_from_each_procedures_declared_type() {
    use wirecall::{Dispatch, Procedure};
    let glue = calc::Dispatcher(Calc::default());
    assert_eq!(
        glue.max_reply_len(calc::Add::ID),
        5,
        "an i32: a 5-byte varint at most"
    );
    assert_eq!(glue.max_reply_len(calc::Hits::ID), 10, "a u64");
    assert_eq!(
        glue.max_reply_len(calc::Upto::ID),
        0,
        "a server stream ends with ()"
    );
    assert_eq!(glue.max_reply_len(99), 0, "no such procedure");
    assert_eq!(calc::MAX_REPLY_LEN, 10);
    assert_eq!(calc::MAX_ITEM_LEN, 5);
    assert_eq!(
        calc::MAX_ARGS_LEN,
        usize::MAX,
        "`&str` and `&[u8]` have no bound"
    );
}

#[test]
fn state_is_shared_by_every_connection_of_a_server() {
    let (server, addr, handler) = tcp_server();
    let connect = || {
        let raw = Client::connect(move || Link::tcp(addr), ClientOptions::default()).unwrap();
        calc::Client::new(raw)
    };
    let (a, b) = (connect(), connect());
    for i in 0..10 {
        assert_eq!(a.add(i, 1), Ok(i + 1));
        assert_eq!(b.add(i, 2), Ok(i + 2));
    }
    assert_eq!(a.hits(), Ok(20), "one count for both connections");
    assert_eq!(b.hits(), Ok(20));
    assert_eq!(server.open_connections(), 2);
    assert_eq!(handler.hits.load(Ordering::SeqCst), 20);
    drop((a, b));
    server.stop();
}

#[test]
fn a_typed_client_never_reaches_another_services_procedure() {
    let (server, addr, handler) = tcp_server();
    let raw = Client::connect(move || Link::tcp(addr), ClientOptions::default()).unwrap();
    let wrong = other::Client::new(raw.clone());
    let refused = ClientError::IncompatibleSchema {
        expected: other::SCHEMA_HASH,
        peer: calc::SCHEMA_HASH,
    };
    // Procedure 0 exists on both sides with other types: the call is not sent at all.
    assert_eq!(wrong.add(1, 2), Err(refused.clone()));
    assert!(refused.to_string().contains("not sent"), "{refused}");
    assert_eq!(
        handler.hits.load(Ordering::SeqCst),
        0,
        "nothing reached the handler"
    );
    // The right client on the same link works, and so does an untyped call.
    let right = calc::Client::new(raw.clone());
    assert_eq!(right.add(1, 2), Ok(3));
    assert_eq!(handler.hits.load(Ordering::SeqCst), 1);
    drop((wrong, right, raw));
    server.stop();

    // A peer that announces no schema at all is refused as well.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let echo = |_: u32, args: &[u8]| Ok::<_, (WireError, String)>(args.to_vec());
    let server = host::serve_tcp(
        listener,
        move || Box::new(echo),
        wirecall::Config::default(),
    )
    .unwrap();
    let raw = Client::connect(move || Link::tcp(addr), ClientOptions::default()).unwrap();
    let client = calc::Client::new(raw.clone());
    let none = ClientError::IncompatibleSchema {
        expected: calc::SCHEMA_HASH,
        peer: 0,
    };
    assert_eq!(client.add(1, 2), Err(none.clone()));
    assert!(matches!(client.upto(3), Err(e) if e == none));
    assert_eq!(raw.call(0, b"untyped", None), Ok(b"untyped".to_vec()));
    drop((client, raw));
    server.stop();
}

#[test]
fn the_glue_says_what_the_caller_got_wrong() {
    let (server, addr, _) = tcp_server();
    let raw = Client::connect(move || Link::tcp(addr), ClientOptions::default()).unwrap();
    let detail = |outcome: host::CallOutcome| match outcome {
        Err(ClientError::Remote(code, detail)) => (code, detail),
        other => panic!("{other:?}"),
    };
    let (code, text) = detail(raw.call(99, &[], None));
    assert_eq!(code, WireError::UnknownProcedure);
    assert!(
        text.starts_with("no procedure 99; this service has 0 = add, 1 = chars"),
        "{text}"
    );
    assert_eq!(
        detail(raw.call(0, &[1], None)),
        (
            WireError::BadArguments,
            "add expects (a: i32, b: i32)".into()
        )
    );
    assert_eq!(
        detail(raw.call(4, &[3], None)),
        (
            WireError::BadArguments,
            "upto is a server stream: open it as one".into()
        )
    );
    let stream = raw
        .open_stream(0, &[2, 4], StreamMode::ServerStream, None)
        .unwrap();
    assert_eq!(
        detail(stream.finish()),
        (
            WireError::BadArguments,
            "add is not a stream: call it".into()
        )
    );
    drop(raw);
    server.stop();
}

/// The next item of an async stream.
async fn next<S: futures_core::Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

/// Every shape of procedure through an async typed client.
async fn every_shape_async(client: &calc::AsyncClient<AsyncClient>) {
    assert_eq!(client.add(40, 2).await, Ok(42));
    assert_eq!(client.chars("héllo").await, Ok(5));
    assert_eq!(client.checksum(&[7; 10]).await, Ok(70));
    let mut upto = client.upto(50).await.unwrap();
    for i in 0..50 {
        assert_eq!(next(&mut upto).await, Some(Ok(i)));
    }
    assert_eq!(next(&mut upto).await, None);
    let mut total = client.total().await.unwrap();
    for i in 1..=100 {
        total.send(&i).await.unwrap();
    }
    total.end_items().await.unwrap();
    assert_eq!(total.finish().await, Ok(5050));
    let mut scale = client.scale(5).await.unwrap();
    for i in 1..=20u32 {
        scale.send(&i).await.unwrap();
        assert_eq!(next(&mut scale).await, Some(Ok(5 * i)));
    }
    scale.end_items().await.unwrap();
    assert_eq!(scale.finish().await, Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_client_carries_every_shape_and_checks_the_schema() {
    let (server, addr, handler) = tcp_server();
    let raw = AsyncClient::connect(
        move || tokio::net::TcpStream::connect(addr),
        wirecall::Config::default(),
    );
    let client = calc::AsyncClient::new(raw.clone());
    every_shape_async(&client).await;
    let before = handler.hits.load(Ordering::SeqCst);
    let wrong = other::AsyncClient::new(raw.clone());
    assert_eq!(
        wrong.add(1, 2).await,
        Err(ClientError::IncompatibleSchema {
            expected: other::SCHEMA_HASH,
            peer: calc::SCHEMA_HASH,
        })
    );
    assert_eq!(handler.hits.load(Ordering::SeqCst), before);
    // The generated futures are `Send`: calls can be spawned as tasks of their own.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.add(i, i).await })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap(), Ok(2 * i as i32));
    }
    let spawned = client.clone();
    let stream = tokio::spawn(async move {
        let mut items = spawned.upto(3).await?;
        let mut got = Vec::new();
        while let Some(item) = next(&mut items).await {
            got.push(item?);
        }
        Ok::<_, ClientError>(got)
    });
    assert_eq!(stream.await.unwrap(), Ok(vec![0, 1, 2]));
    drop((client, wrong, raw));
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_server_serves_the_glue_to_both_clients() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Calc::default();
    let shared = handler.clone();
    let server = tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let glue = calc::serve(shared.clone());
            tokio::spawn(wirecall_adapters::host::tokio::serve(
                stream,
                glue,
                ServeOptions::default(),
            ));
        }
    });
    let raw = AsyncClient::over(
        tokio::net::TcpStream::connect(addr).await.unwrap(),
        wirecall::Config::default(),
    );
    let client = calc::AsyncClient::new(raw.clone());
    assert_eq!(client.add(2, 3).await, Ok(5));
    assert_eq!(client.chars("ünïcode").await, Ok(7));
    // The async flavour serves plain calls only: a stream is refused, explicitly.
    let mut upto = client.upto(3).await.unwrap();
    assert!(matches!(
        next(&mut upto).await,
        Some(Err(ClientError::Remote(WireError::UnknownProcedure, _)))
    ));
    // A blocking client on another connection shares the handler's count.
    let blocking = tokio::task::spawn_blocking(move || {
        let raw = Client::connect(move || Link::tcp(addr), ClientOptions::default()).unwrap();
        let client = calc::Client::new(raw);
        assert_eq!(client.add(1, 1), Ok(2));
        client.hits()
    })
    .await
    .unwrap();
    assert_eq!(blocking, Ok(3));
    assert_eq!(handler.hits.load(Ordering::SeqCst), 3);
    drop((upto, client, raw));
    server.abort();
}

fn calc_server() -> Command {
    Command::new(env!("CARGO_BIN_EXE_calc-server"))
}

#[test]
fn over_a_child_process_served_by_either_flavour() {
    // The blocking runtime in the child: every shape.
    let raw = Client::over(
        Link::spawn(calc_server()).unwrap(),
        ClientOptions::default(),
    )
    .unwrap();
    every_shape(&calc::Client::new(raw.clone()));
    drop(raw); // the child's process group is killed and reaped with the link
               // The async flavour in the child: plain calls, from a blocking typed client.
    let mut command = calc_server();
    command.arg("tokio");
    let raw = Client::over(Link::spawn(command).unwrap(), ClientOptions::default()).unwrap();
    let client = calc::Client::new(raw);
    assert_eq!(client.add(20, 22), Ok(42));
    assert_eq!(client.checksum(b"abc"), Ok(294));
    assert_eq!(client.hits(), Ok(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_client_over_a_child_process() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_calc-server"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdio = tokio::io::join(child.stdout.take().unwrap(), child.stdin.take().unwrap());
    let raw = AsyncClient::over(stdio, wirecall::Config::default());
    every_shape_async(&calc::AsyncClient::new(raw.clone())).await;
    raw.close();
    drop(raw);
    child.kill().await.unwrap(); // and reaped; kill_on_drop covers a failed assertion
}

#[test]
fn over_a_serial_port_made_by_socat() {
    let ptys = PtyPair::start();
    let port = ptys.a.clone();
    let device = std::thread::spawn(move || {
        host::serve_link(
            Link::serial(&port, 115_200).unwrap(),
            calc::serve(Calc::default()),
            ServeOptions::default(),
        );
    });
    let raw = Client::over(
        Link::serial(&ptys.b, 115_200).unwrap(),
        ClientOptions::default(),
    )
    .unwrap();
    let client = calc::Client::new(raw).with_timeout(Duration::from_secs(10));
    every_shape(&client);
    drop(client); // closes the session: the device's serve_link returns
    device.join().unwrap();
}

/// One end of a socat pty as a tokio stream: opened twice, as a reader and a writer that
/// tokio's reactor drives (the way a tokio serial-port crate does), for the async flavour
/// over a serial line. socat made the pty raw.
fn async_pty(path: &str) -> impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static {
    use tokio::net::unix::pipe::OpenOptions;
    // `unchecked`: a pty is a character device, not a FIFO; it polls the same way.
    let reader = OpenOptions::new()
        .unchecked(true)
        .open_receiver(path)
        .unwrap();
    let writer = OpenOptions::new()
        .unchecked(true)
        .open_sender(path)
        .unwrap();
    tokio::io::join(reader, writer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_flavour_over_a_serial_port_made_by_socat() {
    // An async typed client against the blocking glue on the other pty: every shape.
    // Both ends are opened before either side speaks, as a serial line always is.
    let ptys = PtyPair::start();
    let device_link = Link::serial(&ptys.a, 115_200).unwrap();
    let host_end = async_pty(&ptys.b);
    let device = std::thread::spawn(move || {
        host::serve_link(
            device_link,
            calc::serve(Calc::default()),
            ServeOptions::default(),
        );
    });
    let raw = AsyncClient::over(host_end, wirecall::Config::default());
    every_shape_async(&calc::AsyncClient::new(raw.clone()).with_timeout(Duration::from_secs(10)))
        .await;
    raw.close(); // the device sees Close: its serve_link returns
    drop(raw);
    tokio::task::spawn_blocking(move || device.join().unwrap())
        .await
        .unwrap();

    // The async server's glue on a pty, called by a blocking typed client.
    let ptys = PtyPair::start();
    let handler = Calc::default();
    let host_link = Link::serial(&ptys.b, 115_200).unwrap();
    let served = tokio::spawn(wirecall_adapters::host::tokio::serve(
        async_pty(&ptys.a),
        calc::serve(handler.clone()),
        ServeOptions::default(),
    ));
    let answers = tokio::task::spawn_blocking(move || {
        let raw = Client::over(host_link, ClientOptions::default()).unwrap();
        let client = calc::Client::new(raw).with_timeout(Duration::from_secs(10));
        (client.add(2, 40), client.chars("pty"), client.hits())
    })
    .await
    .unwrap();
    assert_eq!(answers, (Ok(42), Ok(3), Ok(2)));
    assert_eq!(handler.hits.load(Ordering::SeqCst), 2);
    served.abort();
    drop(ptys); // socat stopped by its pid
}

#[test]
fn a_reply_that_is_not_the_declared_type_is_a_decode_error_for_the_typed_client() {
    // A server that announces calc's schema but answers `add` with bytes that are no i32
    // (and `hits` with one byte too many): the typed client says so, it invents nothing.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let liar = |procedure: u32, _: &[u8]| -> Result<Vec<u8>, (WireError, String)> {
        match procedure {
            0 => Ok(vec![0xff; 6]), // a varint longer than an i32's
            3 => Ok(vec![7, 0]),    // a u64 and a stray byte
            _ => Ok(vec![]),
        }
    };
    let server = host::serve_tcp(
        listener,
        move || Box::new(liar),
        wirecall::Config::default().with_manifest(&calc::MANIFEST),
    )
    .unwrap();
    let raw = Client::connect(move || Link::tcp(addr), ClientOptions::default()).unwrap();
    let client = calc::Client::new(raw);
    assert_eq!(client.add(1, 2), Err(ClientError::Decode));
    assert_eq!(client.hits(), Err(ClientError::Decode));
    assert_eq!(client.reset(), Ok(()), "an empty reply is a `()`");
    drop(client);
    server.stop();
}
