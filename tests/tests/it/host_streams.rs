//! Streams and callbacks through the host runtime over real links: TCP on loopback and a
//! serial port pair made by `socat`, in the blocking flavour and the tokio one.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wirecall::{StreamMode, WireError};
use wirecall_adapters::host::{self, Client, ClientError, ClientOptions, Handler, Link, Request};
use wirecall_tests::demo::{demo, host_handler};
use wirecall_tests::pty::PtyPair;

use crate::common::{host_client_options as client_options, host_server_config as server_config};

type Answer = Result<Vec<u8>, (WireError, String)>;

fn tcp_server(make: fn() -> Box<dyn Handler>) -> (host::ServerHandle, std::net::SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (
        host::serve_tcp(listener, make, server_config()).unwrap(),
        addr,
    )
}

#[test]
fn a_count_stream_over_tcp_delivers_every_item_in_order() {
    let (server, addr) = tcp_server(host_handler);
    let client = Client::connect(move || Link::tcp(addr), client_options()).unwrap();
    let mut stream = client
        .stream_typed::<demo::Count>(&(20_000,), None)
        .unwrap();
    let items: Vec<u32> = stream.by_ref().map(Result::unwrap).collect();
    assert_eq!(items, (0..20_000).collect::<Vec<_>>());
    assert_eq!(stream.finish(), Ok(()));
    // The client goes on with plain calls on the same link.
    assert_eq!(client.call_typed::<demo::Add>(&(2, 3), None), Ok(5));
    let (stats, _) = client.stats().unwrap();
    assert_eq!(stats.items_received, 20_000);
    drop(client);
    server.stop();
}

#[test]
fn two_streams_and_calls_share_one_link_from_several_threads() {
    let (server, addr) = tcp_server(host_handler);
    let client = Client::connect(move || Link::tcp(addr), client_options()).unwrap();
    let threads: Vec<_> = (0..3u32)
        .map(|t| {
            let client = client.clone();
            std::thread::spawn(move || {
                if t == 2 {
                    for i in 0..200 {
                        assert_eq!(client.call_typed::<demo::Add>(&(i, 1), None), Ok(i + 1));
                    }
                    return;
                }
                let n = 3000 + t * 1000;
                let items: Vec<u32> = client
                    .stream_typed::<demo::Count>(&(n,), None)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                assert_eq!(items, (0..n).collect::<Vec<_>>());
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(client);
    server.stop();
}

/// A handler that counts how many items its stream managed to send before it stopped.
struct Producer {
    sent: Arc<AtomicU32>,
    stopped: Arc<AtomicU32>,
}

impl Handler for Producer {
    fn handle(&self, _: u32, _: &[u8]) -> Answer {
        Err((WireError::UnknownProcedure, String::new()))
    }
    fn serve(&self, r: &mut Request<'_>) -> Answer {
        for i in 0u32.. {
            if r.send(&postcard::to_allocvec(&i).unwrap()).is_err() {
                self.stopped.fetch_add(1, Ordering::SeqCst);
                return Err((WireError::Cancelled, String::new()));
            }
            self.sent.store(i + 1, Ordering::SeqCst);
        }
        Ok(vec![])
    }
}

#[test]
fn dropping_a_stream_cancels_it_and_the_producer_stops_within_the_window() {
    let sent = Arc::new(AtomicU32::new(0));
    let stopped = Arc::new(AtomicU32::new(0));
    let (s2, st2) = (sent.clone(), stopped.clone());
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let server = std::thread::spawn(move || {
        host::serve_link(
            Link::from_unix(b).unwrap(),
            Box::new(Producer {
                sent: s2,
                stopped: st2,
            }),
            wirecall::Config::default(),
        )
    });
    let client = Client::over(Link::from_unix(a).unwrap(), ClientOptions::default()).unwrap();
    let mut stream = client
        .open_stream(1, &[], StreamMode::ServerStream, None)
        .unwrap();
    for _ in 0..100 {
        stream.next().unwrap().unwrap();
    }
    // The producer is held by credit: it ran at most a window ahead of what was taken.
    let window = wirecall::Config::default().stream_window;
    wait_for(|| sent.load(Ordering::SeqCst) >= 100);
    assert!(sent.load(Ordering::SeqCst) <= 100 + window);
    drop(stream);
    wait_for(|| stopped.load(Ordering::SeqCst) == 1);
    assert!(sent.load(Ordering::SeqCst) <= 100 + window);
    drop(client);
    server.join().unwrap();
}

fn wait_for(mut cond: impl FnMut() -> bool) {
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(std::time::Instant::now() < end, "the condition never held");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Procedure 7 adds up the u32 items it is sent (a client stream); procedure 8 sends each
/// item back doubled (bidirectional); procedure 9 reports progress to the caller's
/// procedure 100 at every tenth of `n` (a callback), then answers `n`.
struct Streams;

impl Handler for Streams {
    fn handle(&self, _: u32, _: &[u8]) -> Answer {
        Err((WireError::UnknownProcedure, String::new()))
    }
    fn serve(&self, r: &mut Request<'_>) -> Answer {
        let decode = |b: &[u8]| postcard::from_bytes::<u32>(b).unwrap();
        match (r.procedure(), r.mode()) {
            (7, StreamMode::ClientStream) => {
                let mut sum = 0u64;
                while let Some(item) = r.recv() {
                    let item = item.map_err(|e| (WireError::Cancelled, e.to_string()))?;
                    sum += u64::from(decode(&item));
                }
                Ok(postcard::to_allocvec(&sum).unwrap())
            }
            (8, StreamMode::Bidi) => {
                while let Some(item) = r.recv() {
                    let item = item.map_err(|e| (WireError::Cancelled, e.to_string()))?;
                    let doubled = decode(&item) * 2;
                    r.send(&postcard::to_allocvec(&doubled).unwrap())
                        .map_err(|e| (WireError::Cancelled, e.to_string()))?;
                }
                Ok(vec![])
            }
            (9, StreamMode::Call) => {
                let n = decode(r.args());
                for k in 1..=10u32 {
                    let done = postcard::to_allocvec(&(k * n / 10)).unwrap();
                    let reply = r
                        .call(100, &done, None)
                        .map_err(|e| (WireError::Internal, e.to_string()))?;
                    if reply != done {
                        return Err((WireError::Internal, "the progress echo differs".into()));
                    }
                }
                Ok(postcard::to_allocvec(&n).unwrap())
            }
            _ => Err((WireError::UnknownProcedure, String::new())),
        }
    }
}

fn streams_server() -> (host::ServerHandle, std::net::SocketAddr) {
    tcp_server(|| Box::new(Streams))
}

#[test]
fn client_and_bidirectional_streams_over_tcp() {
    let (server, addr) = streams_server();
    let client = Client::connect(move || Link::tcp(addr), ClientOptions::default()).unwrap();
    let mut sum = client
        .open_stream(7, &[], StreamMode::ClientStream, None)
        .unwrap();
    for i in 0..5000u32 {
        sum.send(&postcard::to_allocvec(&i).unwrap()).unwrap();
    }
    sum.end_items().unwrap();
    let total: u64 = postcard::from_bytes(&sum.finish().unwrap()).unwrap();
    assert_eq!(total, (0..5000u64).sum::<u64>());

    let mut echo = client.open_stream(8, &[], StreamMode::Bidi, None).unwrap();
    for i in 0..300u32 {
        echo.send(&postcard::to_allocvec(&i).unwrap()).unwrap();
        let back: u32 = postcard::from_bytes(&echo.next().unwrap().unwrap()).unwrap();
        assert_eq!(back, i * 2);
    }
    echo.end_items().unwrap();
    assert_eq!(echo.finish(), Ok(vec![]));
    drop(client);
    server.stop();
}

/// The caller's side of the callback: procedure 100 records the progress it is told and
/// echoes it.
fn progress_handler(seen: Arc<std::sync::Mutex<Vec<u32>>>) -> Box<dyn Handler> {
    Box::new(move |procedure: u32, args: &[u8]| -> Answer {
        assert_eq!(procedure, 100);
        seen.lock()
            .unwrap()
            .push(postcard::from_bytes(args).unwrap());
        Ok(args.to_vec())
    })
}

#[test]
fn a_server_calls_back_into_a_blocking_client_while_its_call_is_in_flight() {
    let (server, addr) = streams_server();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let options = ClientOptions {
        handler: Some(progress_handler(seen.clone())),
        ..ClientOptions::default()
    };
    let client = Client::connect(move || Link::tcp(addr), options).unwrap();
    // Several callers at once: each call's callbacks reach this client's handler.
    let threads: Vec<_> = (1..=4u32)
        .map(|t| {
            let client = client.clone();
            std::thread::spawn(move || {
                let out = client.call(9, &postcard::to_allocvec(&(t * 100)).unwrap(), None);
                assert_eq!(out, Ok(postcard::to_allocvec(&(t * 100)).unwrap()));
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(seen.lock().unwrap().len(), 40);
    drop(client);
    server.stop();
}

#[test]
fn a_callback_without_a_handler_on_the_caller_fails_the_call_cleanly() {
    let (server, addr) = streams_server();
    let client = Client::connect(move || Link::tcp(addr), ClientOptions::default()).unwrap();
    match client.call(9, &postcard::to_allocvec(&10u32).unwrap(), None) {
        Err(ClientError::Remote(WireError::Internal, detail)) => {
            assert!(
                detail.contains("no procedure") || detail.contains("answered"),
                "{detail}"
            )
        }
        other => panic!("{other:?}"),
    }
    drop(client);
    server.stop();
}

#[test]
fn a_stream_and_a_callback_over_a_socat_serial_pair() {
    let ptys = PtyPair::start();
    let device_port = ptys.a.clone();
    let device = std::thread::spawn(move || {
        host::serve_link(
            Link::serial(&device_port, 115_200).unwrap(),
            Box::new(SerialDevice),
            server_config(),
        );
    });
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let options = ClientOptions {
        handler: Some(progress_handler(seen.clone())),
        ..client_options()
    };
    let client = Client::over(Link::serial(&ptys.b, 115_200).unwrap(), options).unwrap();
    let items: Vec<u32> = client
        .stream_typed::<demo::Count>(&(2000,), None)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(items, (0..2000).collect::<Vec<_>>());
    assert_eq!(
        client.call(9, &postcard::to_allocvec(&50u32).unwrap(), None),
        Ok(postcard::to_allocvec(&50u32).unwrap())
    );
    assert_eq!(seen.lock().unwrap().len(), 10);
    drop(client);
    device.join().unwrap();
}

/// The demo service plus the callback procedure 9, for the serial test.
struct SerialDevice;

impl Handler for SerialDevice {
    fn handle(&self, procedure: u32, args: &[u8]) -> Answer {
        host_handler().handle(procedure, args)
    }
    fn serve(&self, r: &mut Request<'_>) -> Answer {
        if r.procedure() == 9 {
            Streams.serve(r)
        } else {
            host_handler().serve(r)
        }
    }
}

#[test]
fn tokio_a_count_stream_and_a_callback_into_an_async_client() {
    use wirecall_adapters::host::tokio::{AsyncClient, AsyncClientOptions, Inline};
    let (server, addr) = tcp_server(|| Box::new(SerialDevice));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let options = AsyncClientOptions {
            config: wirecall::Config::default().expecting_schema(demo::SCHEMA_HASH),
            handler: Some(Arc::new(Inline(progress_handler(seen.clone())))),
            ..AsyncClientOptions::default()
        };
        let client = AsyncClient::connect(move || tokio::net::TcpStream::connect(addr), options);
        let mut stream = client
            .stream_typed::<demo::Count>(&(5000,), None)
            .await
            .unwrap();
        let mut items = Vec::new();
        while let Some(item) = std::future::poll_fn(|cx| {
            futures_core::Stream::poll_next(std::pin::Pin::new(&mut stream), cx)
        })
        .await
        {
            items.push(postcard::from_bytes::<u32>(&item.unwrap()).unwrap());
        }
        assert_eq!(items, (0..5000).collect::<Vec<_>>());
        assert_eq!(stream.reply(), Some(&[][..]));
        // The server calls back ten times while this call is in flight.
        let out = client
            .call(9, &postcard::to_allocvec(&70u32).unwrap(), None)
            .await;
        assert_eq!(out, Ok(postcard::to_allocvec(&70u32).unwrap()));
        client.close();
    });
    assert_eq!(seen.lock().unwrap().len(), 10);
    server.stop();
}

/// Procedure 1 streams u32s until the caller stops it; procedure 2 (bidirectional) takes
/// the caller's items to their end, then sends 200; anything else fails.
struct Endless;

impl Handler for Endless {
    fn handle(&self, _: u32, _: &[u8]) -> Answer {
        Err((WireError::UnknownProcedure, String::new()))
    }
    fn serve(&self, r: &mut Request<'_>) -> Answer {
        let stop = |e: ClientError| (WireError::Cancelled, e.to_string());
        match r.procedure() {
            1 => {
                for i in 0u32.. {
                    r.send(&postcard::to_allocvec(&i).unwrap()).map_err(stop)?;
                }
                Ok(vec![])
            }
            2 => {
                while let Some(item) = r.recv() {
                    item.map_err(stop)?;
                }
                for i in 0u32..200 {
                    r.send(&postcard::to_allocvec(&i).unwrap()).map_err(stop)?;
                }
                Ok(vec![])
            }
            _ => Err((WireError::Internal, "no".into())),
        }
    }
}

/// A server on loopback whose accepted sockets the test can cut.
fn cuttable_server(
    config: wirecall::Config,
) -> (
    std::net::SocketAddr,
    Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let conns = Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = conns.clone();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(s) = s else { return };
            keep.lock().unwrap().push(s.try_clone().unwrap());
            std::thread::spawn(move || {
                host::serve_link(Link::from_tcp(s).unwrap(), Box::new(Endless), config)
            });
        }
    });
    (addr, conns)
}

#[test]
fn a_failed_stream_yields_its_error_once() {
    let (addr, _conns) = cuttable_server(wirecall::Config::default());
    let client = Client::connect(move || Link::tcp(addr), ClientOptions::default()).unwrap();
    let stream = client
        .open_stream(3, &[], StreamMode::ServerStream, None)
        .unwrap();
    let all: Vec<_> = stream.take(5).collect();
    assert_eq!(
        all,
        [Err(ClientError::Remote(WireError::Internal, "no".into()))]
    );
}

#[test]
fn a_stream_handle_from_before_a_reconnect_never_touches_a_newer_stream() {
    let (addr, conns) = cuttable_server(wirecall::Config::default());
    let client = Client::connect(move || Link::tcp(addr), ClientOptions::default()).unwrap();
    let mut old = client
        .open_stream(1, &[], StreamMode::ServerStream, None)
        .unwrap();
    old.next().unwrap().unwrap();
    for c in conns.lock().unwrap().drain(..) {
        c.shutdown(std::net::Shutdown::Both).unwrap();
    }
    // The old stream ends with the link (unread by its holder); the client reconnects.
    wait_for(|| conns.lock().unwrap().len() == 1 && client.stats().unwrap().1);
    // A new stream gets the same call id in the new session.
    let mut new = client
        .open_stream(1, &[], StreamMode::ServerStream, None)
        .unwrap();
    new.next().unwrap().unwrap();
    drop(old); // must not cancel `new`
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let got: Vec<Result<u32, ClientError>> = new
            .by_ref()
            .take(500)
            .map(|r| r.map(|b| postcard::from_bytes(&b).unwrap()))
            .collect();
        let _ = tx.send(got);
    });
    // (A guard against a hang, which is how the bug showed: the new stream's waiter was
    // dropped, so it waited for ever.)
    let got = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the new stream hung after the stale handle was dropped");
    assert_eq!(got, (1..501).map(Ok).collect::<Vec<_>>());
}

#[test]
fn a_handler_waiting_for_credit_does_not_serve_the_next_stream_on_its_own_stack() {
    // A's handler waits for credit when B is opened. B's handler must run on another
    // thread: had it run on top of A's, A could not go on while B waits for credit, and
    // consuming only A would stall until B's idle timeout killed B.
    let config =
        wirecall::Config::default().with_stream_idle_timeout(wirecall::Duration::from_secs(5));
    let (addr, _conns) = cuttable_server(config);
    let client = Client::connect(move || Link::tcp(addr), ClientOptions::default()).unwrap();
    let window = wirecall::Config::default().stream_window;
    let mut a = client
        .open_stream(1, &[], StreamMode::ServerStream, None)
        .unwrap();
    a.next().unwrap().unwrap();
    wait_for(|| client.stats().unwrap().0.items_received >= window); // A's window is in
    let mut b = client
        .open_stream(1, &[], StreamMode::ServerStream, None)
        .unwrap();
    b.next().unwrap().unwrap();
    for _ in 0..2000 {
        a.next().unwrap().unwrap();
    }
    assert!(
        matches!(b.next(), Some(Ok(_))),
        "B is alive: A never waited for B's idle timeout"
    );
}

#[test]
fn a_handler_waiting_for_credit_after_the_callers_end_is_not_woken_by_nothing() {
    // The caller ends its items, then takes the server's 200 items slowly: the handler
    // waits for credit several times, with the caller's End already in its slot (which
    // once woke it at once, for ever: a busy loop that starved the link).
    let (addr, _conns) = cuttable_server(wirecall::Config::default());
    let client = Client::connect(move || Link::tcp(addr), ClientOptions::default()).unwrap();
    let mut s = client.open_stream(2, &[], StreamMode::Bidi, None).unwrap();
    s.end_items().unwrap();
    let mut got = 0;
    for item in s.by_ref() {
        item.unwrap();
        got += 1;
    }
    assert_eq!(got, 200);
    assert_eq!(s.finish(), Ok(vec![]));
}

/// Procedure 3 (bidirectional) sends 9 items before it reads any of the caller's (the 9th
/// needs credit for the first 4 the caller took); procedure 9 calls back into the caller
/// ten times; procedure 5 echoes; procedure 1 streams for ever.
struct Busy;

impl Handler for Busy {
    fn handle(&self, _: u32, _: &[u8]) -> Answer {
        Err((WireError::UnknownProcedure, String::new()))
    }
    fn serve(&self, r: &mut Request<'_>) -> Answer {
        let stop = |e: ClientError| (WireError::Cancelled, e.to_string());
        match r.procedure() {
            1 => Endless.serve(r),
            3 => {
                for i in 0u32..9 {
                    r.send(&postcard::to_allocvec(&i).unwrap()).map_err(stop)?;
                }
                let mut n = 0u32;
                while let Some(item) = r.recv() {
                    item.map_err(stop)?;
                    n += 1;
                }
                Ok(postcard::to_allocvec(&n).unwrap())
            }
            5 => Ok(r.args().to_vec()),
            9 => {
                for k in 0..10u32 {
                    let a = postcard::to_allocvec(&k).unwrap();
                    let back = r
                        .call(100, &a, None)
                        .map_err(|e| (WireError::Internal, e.to_string()))?;
                    if back != a {
                        return Err((WireError::Internal, "wrong echo".into()));
                    }
                }
                Ok(vec![])
            }
            _ => Err((WireError::UnknownProcedure, String::new())),
        }
    }
}

#[test]
fn items_taken_are_reported_before_the_taker_waits_to_send() {
    // The server's window for the caller's items is 1. The caller takes 4 items, then
    // sends 2: the second needs the server to have taken the first, which it does only
    // after its 9th item, which needs the credit for the 4 taken. Reports held back until
    // the slot runs empty would leave both sides waiting for credit.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let options = host::ServeOptions::from(wirecall::Config::default().with_stream_window(1));
    let server = host::serve_tcp(listener, || Box::new(Busy), options).unwrap();
    let client = Client::connect(move || Link::tcp(addr), ClientOptions::default()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let c = client.clone();
    std::thread::spawn(move || {
        let mut s = c.open_stream(3, &[], StreamMode::Bidi, None).unwrap();
        // The server's first 8 items (this side's window) are in before any is taken, so
        // taking 4 leaves the stream's queue not empty.
        wait_for(|| c.stats().unwrap().0.items_received >= 8);
        for _ in 0..4 {
            s.next().unwrap().unwrap();
        }
        s.send(&[1]).unwrap();
        s.send(&[2]).unwrap();
        s.end_items().unwrap();
        let _ = tx.send(s.finish());
    });
    // (A guard against the hang the bug was.)
    let got = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("both sides wait for credit");
    assert_eq!(got, Ok(postcard::to_allocvec(&2u32).unwrap()));
    drop(client);
    server.stop();
}

#[test]
fn a_request_a_stream_handler_leaves_is_served_even_with_every_lent_thread_busy() {
    // The connection's own thread runs an endless stream's handler; the one lent thread
    // runs procedure 9, which calls back into the client; plain calls come meanwhile.
    // A plain call the stream's handler reads is left for another thread; the callback's
    // caller serves it itself rather than let the link go unread (which once ended the
    // session after three keepalives).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut options = host::ServeOptions::from(wirecall::Config::default());
    options.max_lent_threads = 1;
    let server = host::serve_tcp(listener, || Box::new(Busy), options).unwrap();
    let echo: Box<dyn Handler> = Box::new(|_: u32, args: &[u8]| -> Answer { Ok(args.to_vec()) });
    let client = Client::connect(
        move || Link::tcp(addr),
        ClientOptions {
            handler: Some(echo),
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (c, d) = (client.clone(), done.clone());
    let consumer = std::thread::spawn(move || {
        let mut s = c
            .open_stream(1, &[], StreamMode::ServerStream, None)
            .unwrap();
        while !d.load(Ordering::SeqCst) {
            s.next().unwrap().unwrap();
        }
    });
    let window = wirecall::Config::default().stream_window;
    wait_for(|| client.stats().unwrap().0.items_received >= window);
    let (c, d) = (client.clone(), done.clone());
    let pinger = std::thread::spawn(move || {
        let mut i = 0u32;
        while !d.load(Ordering::SeqCst) {
            let arg = postcard::to_allocvec(&i).unwrap();
            // Served, or (if the callback's caller was held up past the server's patience
            // by a loaded machine) refused explicitly: never lost, never a wrong answer.
            match c.call(5, &arg, Some(Duration::from_secs(30))) {
                Ok(back) => assert_eq!(back, arg),
                Err(e) => assert!(matches!(e, ClientError::Remote(WireError::Busy, _)), "{e}"),
            }
            i += 1;
        }
    });
    for _ in 0..5 {
        assert_eq!(
            client.call(9, &[], Some(Duration::from_secs(30))),
            Ok(vec![])
        );
    }
    done.store(true, Ordering::SeqCst);
    consumer.join().unwrap();
    pinger.join().unwrap();
    drop(client);
    server.stop();
}

/// `Streams` and an echo (procedure 5), counting the requests whose handler started.
struct Counted(Arc<AtomicU32>);

impl Handler for Counted {
    fn handle(&self, _: u32, _: &[u8]) -> Answer {
        Err((WireError::UnknownProcedure, String::new()))
    }
    fn serve(&self, r: &mut Request<'_>) -> Answer {
        self.0.fetch_add(1, Ordering::SeqCst);
        match (r.procedure(), r.mode()) {
            (5, StreamMode::Call) => Ok(r.args().to_vec()),
            _ => Streams.serve(r),
        }
    }
}

/// A TCP server of `Counted` with `lent` lent threads: its handle, address, and the count
/// of handlers started.
fn counted_server(lent: usize) -> (host::ServerHandle, std::net::SocketAddr, Arc<AtomicU32>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut options = host::ServeOptions::from(server_config());
    options.max_lent_threads = lent;
    let started = Arc::new(AtomicU32::new(0));
    let s = started.clone();
    let server = host::serve_tcp(
        listener,
        move || Box::new(Counted(s.clone())) as Box<dyn Handler>,
        options,
    )
    .unwrap();
    (server, addr, started)
}

#[test]
fn requests_no_thread_can_serve_get_busy_while_stream_handlers_wait_for_their_peer() {
    // Three client streams whose caller sends nothing hold every thread the server has:
    // the connection's own and both lent ones, each handler waiting for items. A request
    // read meanwhile has no thread to run on; it is answered `Busy` (it once waited with
    // nobody reading the link, until the server's idle limit ended the connection), and
    // the link stays read: the streams' items and the next calls are served.
    let (server, addr, started) = counted_server(2);
    let client = Client::connect(move || Link::tcp(addr), client_options()).unwrap();
    let mut sums: Vec<_> = (0..3)
        .map(|_| {
            client
                .open_stream(7, &[], StreamMode::ClientStream, None)
                .unwrap()
        })
        .collect();
    for s in &mut sums {
        s.flush(); // the Open goes out now
    }
    wait_for(|| started.load(Ordering::SeqCst) == 3);

    // No thread left: a fourth stream and a plain call are refused, explicitly.
    let fourth = client
        .open_stream(7, &[], StreamMode::ClientStream, None)
        .unwrap();
    // Refused by the runtime (no thread), not by the core (its in-flight limit is 32).
    let no_thread = |r: Result<Vec<u8>, ClientError>| matches!(r, Err(ClientError::Remote(WireError::Busy, ref why)) if why.contains("every thread"));
    assert!(
        no_thread(fourth.finish()),
        "a stream no thread can serve is refused"
    );
    let arg = postcard::to_allocvec(&(2i32, 3i32)).unwrap();
    assert!(no_thread(client.call(
        5,
        &arg,
        Some(Duration::from_secs(30))
    )));
    assert_eq!(started.load(Ordering::SeqCst), 3, "no handler ran for them");

    // The link is still read: each stream gets its items and answers, and once a thread
    // is free a plain call is served again, in the same session.
    let before = client.stats().unwrap().0;
    assert_eq!(before.handshakes, 1);
    for (k, mut s) in sums.into_iter().enumerate() {
        let k = k as u32;
        for i in 0..100u32 {
            s.send(&postcard::to_allocvec(&(i + k)).unwrap()).unwrap();
        }
        s.end_items().unwrap();
        let total: u64 = postcard::from_bytes(&s.finish().unwrap()).unwrap();
        assert_eq!(total, (0..100u64).map(|i| i + u64::from(k)).sum::<u64>());
    }
    assert_eq!(client.call(5, &arg, Some(Duration::from_secs(30))), Ok(arg));
    let after = client.stats().unwrap().0;
    assert_eq!(
        (after.handshakes, after.link_losses),
        (1, 0),
        "one session throughout"
    );
    drop(client);
    server.stop();
}

#[test]
fn a_lent_thread_reading_a_quiet_link_moves_to_a_link_that_needs_it() {
    // One lent thread for the whole server. Client X holds its connection's own thread with
    // a client stream and makes a call: the lent thread serves it, then reads X's link.
    // Client Y does the same: its call must be served by that lent thread, which leaves X
    // (X's stream handler reads X meanwhile), not refused while the thread sits on X.
    let (server, addr, started) = counted_server(1);
    let arg = postcard::to_allocvec(&(2i32, 3i32)).unwrap();
    let mut held = Vec::new();
    for (k, name) in ["X", "Y"].into_iter().enumerate() {
        let client = Client::connect(move || Link::tcp(addr), client_options()).unwrap();
        let mut sum = client
            .open_stream(7, &[], StreamMode::ClientStream, None)
            .unwrap();
        sum.flush();
        wait_for(|| started.load(Ordering::SeqCst) == 2 * k as u32 + 1);
        assert_eq!(
            client.call(5, &arg, Some(Duration::from_secs(30))),
            Ok(arg.clone()),
            "client {name}'s call"
        );
        held.push((client, sum));
    }
    for (client, mut sum) in held {
        sum.send(&postcard::to_allocvec(&7u32).unwrap()).unwrap();
        sum.end_items().unwrap();
        let total: u64 = postcard::from_bytes(&sum.finish().unwrap()).unwrap();
        assert_eq!(total, 7);
        drop(client);
    }
    server.stop();
}
