//! The host runtime over real links on this machine: TCP and Unix sockets on loopback,
//! serial ports made by `socat` (two linked ptys), many threads on one client, misbehaving
//! connections next to a good one, and a link lost mid-call.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use wirecall::{Procedure, WireError};
use wirecall_adapters::host::{self, Client, ClientError, ClientOptions, Link};
use wirecall_tests::demo::{demo, host_handler};
use wirecall_tests::pty::PtyPair;
use wirecall_tests::raw;

use crate::common::{host_client_options as client_options, host_server_config as server_config};

fn tcp_server() -> (host::ServerHandle, std::net::SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (
        host::serve_tcp(listener, host_handler, server_config()).unwrap(),
        addr,
    )
}

#[test]
fn tcp_many_threads_share_one_client_and_one_link() {
    let (server, addr) = tcp_server();
    let client = Client::connect(move || Link::tcp(addr), client_options()).unwrap();
    // Both sides say Hello at once (not at their first keepalive tick).
    assert!(client.wait_connected(Duration::from_millis(500)));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let client = client.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    assert_eq!(
                        client.call_typed::<demo::Add>(&(i, t * 1000), None),
                        Ok(i + t * 1000)
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (stats, up) = client.stats().unwrap();
    assert!(up);
    assert_eq!(stats.calls_sent, 400);
    assert_eq!(stats.handshakes, 1, "one link for every thread");
    drop(client);
    server.stop();
}

#[test]
fn unix_socket_calls_and_explicit_errors() {
    let dir = std::env::temp_dir().join(format!("wirecall-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("unix.sock");
    let _ = std::fs::remove_file(&path);
    let server = host::serve_unix(
        UnixListener::bind(&path).unwrap(),
        host_handler,
        server_config(),
    )
    .unwrap();
    let p = path.clone();
    let client = Client::connect(move || Link::unix(&p), client_options()).unwrap();
    let data = heapless::Vec::<u8, 200>::from_slice(b"over a unix socket").unwrap();
    assert_eq!(
        client.call_typed::<demo::Echo>(&(data.clone(),), None),
        Ok(data)
    );
    match client.call(99, &[], None) {
        Err(ClientError::Remote(WireError::UnknownProcedure, detail)) => {
            assert!(detail.contains("0 = add"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    match client.call(demo::Add::ID, &[1], None) {
        Err(ClientError::Remote(WireError::BadArguments, detail)) => {
            assert!(detail.contains("add expects"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    drop(client);
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A raw connection that misbehaves in one of three ways until dropped.
fn misbehave(
    addr: std::net::SocketAddr,
    how: &'static str,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_write_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let hello = raw::frame(&raw::hello(false, 1, 1, 4096, 32, 32, 1000, 0));
        let _ = s.write_all(&hello);
        let mut rng = 0x1234_5678u32;
        let mut id = 0u32;
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            let chunk: Vec<u8> = match how {
                // Random bytes, forever.
                "garbage" => (0..512)
                    .map(|_| {
                        rng ^= rng << 13;
                        rng ^= rng >> 17;
                        rng ^= rng << 5;
                        rng as u8
                    })
                    .collect(),
                // Valid requests as fast as possible, never reading a reply.
                "flood" => (0..64)
                    .flat_map(|_| {
                        id += 1; // never reused: a legal flood (reusing an active id is a violation)
                        raw::frame(&raw::request(id, demo::Add::ID, &[2, 4]))
                    })
                    .collect(),
                // Half a frame, then silence.
                _ => {
                    let f = raw::frame(&raw::request(1, demo::Add::ID, &[2, 4]));
                    let _ = s.write_all(&f[..5]);
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            let _ = s.write_all(&chunk);
        }
    })
}

#[test]
fn garbage_floods_and_stalls_on_other_connections_do_not_break_a_good_one() {
    let (server, addr) = tcp_server();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let bad: Vec<_> = ["garbage", "flood", "stall"]
        .into_iter()
        .map(|how| misbehave(addr, how, stop.clone()))
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let client = Client::connect(move || Link::tcp(addr), client_options()).unwrap();
    let t0 = Instant::now();
    for i in 0..200 {
        assert_eq!(
            client.call_typed::<demo::Add>(&(i, 1), Some(Duration::from_secs(2))),
            Ok(i + 1),
            "call {i}"
        );
    }
    eprintln!("200 calls took {:?}", t0.elapsed());
    assert_eq!(
        server.open_connections(),
        4,
        "the bad connections are still being served, isolated"
    );
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for b in bad {
        b.join().unwrap();
    }
    drop(client);
    server.stop();
}

/// Plays a device on one accepted connection: says Hello (4 calls, the demo's schema).
fn raw_device_says_hello(listener: &TcpListener) -> TcpStream {
    let (mut s, _) = listener.accept().unwrap();
    s.write_all(&raw::frame(&raw::hello(
        false,
        1,
        1,
        256,
        4,
        4,
        1000,
        demo::SCHEMA_HASH,
    )))
    .unwrap();
    s
}

/// Plays a device on one accepted connection: says Hello, then reads until the host's
/// first Request arrives and returns the connection and that request's body.
fn raw_device_takes_a_request(listener: &TcpListener) -> (TcpStream, Vec<u8>) {
    use std::io::Read;
    let mut s = raw_device_says_hello(listener);
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        // A Request frame has kind 2 (header 0x02, or 0x22 with a timeout).
        if let Some(f) = raw::unframe(&seen)
            .into_iter()
            .flatten()
            .find(|f| f[0] & 0x1f == 2)
        {
            return (s, f);
        }
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "the client hung up first");
        seen.extend_from_slice(&buf[..n]);
    }
}

/// A device that accepts one connection, completes the handshake, takes a request and
/// then vanishes (reset, cable pulled) without answering.
fn vanishing_device(listener: TcpListener) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let (s, _) = raw_device_takes_a_request(&listener);
        s.shutdown(std::net::Shutdown::Both).unwrap();
    })
}

#[test]
fn a_link_lost_mid_call_fails_the_call_at_once_and_the_client_reconnects() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let device = vanishing_device(listener);
    let client = Client::connect(move || Link::tcp(addr), client_options()).unwrap();
    // The call is taken by the device, which then vanishes: the call ends with
    // ConnectionLost as soon as the link drops, not at its 30-second deadline.
    let started = Instant::now();
    assert_eq!(
        client.call_typed::<demo::Add>(&(1, 2), Some(Duration::from_secs(30))),
        Err(ClientError::ConnectionLost)
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    device.join().unwrap();

    // The device comes back on the same address; the client finds it by itself.
    let server = host::serve_tcp(
        TcpListener::bind(addr).unwrap(),
        host_handler,
        server_config(),
    )
    .unwrap();
    assert_eq!(
        client.call_typed::<demo::Add>(&(20, 22), Some(Duration::from_secs(10))),
        Ok(42)
    );
    drop(client);
    server.stop();
}

#[test]
fn peer_and_stats_say_down_as_soon_as_the_link_ends_without_a_word() {
    // A device that says Hello and then vanishes without a Disconnect frame (reset, cable
    // pulled): the client's session view must end with the link, not linger until the
    // next link restarts it (a gateway answers "not connected" from it).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (vanish, told) = std::sync::mpsc::channel::<()>();
    let device = std::thread::spawn(move || {
        let s = raw_device_says_hello(&listener);
        told.recv().unwrap();
        s.shutdown(std::net::Shutdown::Both).unwrap();
        // The listener goes with this thread: reconnecting finds nobody.
    });
    let client = Client::connect(move || Link::tcp(addr), client_options()).unwrap();
    assert!(client.wait_connected(Duration::from_secs(10)));
    assert_eq!(client.peer().map(|p| p.schema), Some(demo::SCHEMA_HASH));
    vanish.send(()).unwrap();
    device.join().unwrap();
    let bound = Instant::now() + Duration::from_secs(10);
    while client.peer().is_some() && Instant::now() < bound {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(client.peer(), None, "the link ended; no session is up");
    assert_eq!(client.stats().map(|(_, up)| up), Some(false));
    assert!(!client.wait_connected(Duration::from_millis(50)));
}

#[test]
fn calls_made_while_disconnected_wait_for_the_link_up_to_their_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener); // nothing listens yet
    let client = Client::connect(move || Link::tcp(addr), client_options()).unwrap();
    assert_eq!(
        client.call_typed::<demo::Add>(&(1, 1), Some(Duration::from_millis(200))),
        Err(ClientError::Timeout)
    );
    let c = client.clone();
    let waiting = std::thread::spawn(move || {
        c.call_typed::<demo::Add>(&(2, 2), Some(Duration::from_secs(10)))
    });
    std::thread::sleep(Duration::from_millis(100));
    let server = host::serve_tcp(
        TcpListener::bind(addr).unwrap(),
        host_handler,
        server_config(),
    )
    .unwrap();
    assert_eq!(waiting.join().unwrap(), Ok(4));
    drop(client);
    server.stop();
}

#[test]
fn serial_ports_made_by_socat_carry_calls() {
    let ptys = PtyPair::start();
    let device_port = ptys.a.clone();
    let device = std::thread::spawn(move || {
        host::serve_link(
            Link::serial(&device_port, 115_200).unwrap(),
            host_handler(),
            server_config(),
        );
    });
    let client = Client::over(Link::serial(&ptys.b, 115_200).unwrap(), client_options()).unwrap();
    for i in 0..20 {
        assert_eq!(
            client.call_typed::<demo::Add>(&(i, i), Some(Duration::from_secs(5))),
            Ok(2 * i)
        );
    }
    // A serial read that times out is "no bytes yet": an idle second later the link is up.
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(client.stats().map(|(_, up)| up), Some(true));
    drop(client); // closes the session: the device sees Close and its serve_link returns
    device.join().unwrap();
}

#[test]
fn a_handler_slower_than_the_idle_limit_does_not_cost_the_link() {
    // The idle limit is 3 keepalive intervals (3 s); this handler takes 4 s. The handler runs
    // on its own thread, so the link keeps answering pings meanwhile.
    let (server, addr) = tcp_server();
    let client = Client::connect(move || Link::tcp(addr), client_options()).unwrap();
    assert_eq!(
        client.call_typed::<demo::Sleep>(&(4000,), Some(Duration::from_secs(10))),
        Ok(())
    );
    let (stats, up) = client.stats().unwrap();
    assert!(up);
    assert_eq!(
        (stats.handshakes, stats.link_losses),
        (1, 0),
        "the link never dropped: {stats:?}"
    );
    // Whichever side's keepalive fires first keeps both quiet for another interval, so
    // count Pings both ways.
    assert!(
        stats.pings_sent + stats.pings_received >= 2,
        "keepalive ran while the handler worked: {stats:?}"
    );
    drop(client);
    server.stop();
}

#[test]
fn on_a_serial_port_a_late_answer_for_the_last_host_never_reaches_the_next() {
    let ptys = PtyPair::start();
    let port = ptys.a.clone();
    let device = std::thread::spawn(move || {
        host::serve_port(
            Link::serial(&port, 115_200).unwrap(),
            host_handler(),
            server_config(),
        );
    });
    let options = || ClientOptions {
        reconnect: false,
        ..client_options()
    };
    // The first host's call (id 0) is still being worked on when it gives up and leaves.
    let first = Client::over(Link::serial(&ptys.b, 115_200).unwrap(), options()).unwrap();
    assert_eq!(
        first.call_typed::<demo::Sleep>(&(1500,), Some(Duration::from_millis(200))),
        Err(ClientError::Timeout)
    );
    drop(first);
    // The next host's first call also has id 0; it must get its own answer, not the late one.
    let second = Client::over(Link::serial(&ptys.b, 115_200).unwrap(), options()).unwrap();
    assert_eq!(
        second.call_typed::<demo::Add>(&(1, 2), Some(Duration::from_secs(5))),
        Ok(3)
    );
    drop(second);
    drop(ptys); // socat goes: the port fails and serve_port returns
    device.join().unwrap();
}

#[test]
fn a_connection_that_never_says_hello_is_closed_after_three_keepalives() {
    let (server, addr) = tcp_server();
    let silent = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.open_connections(), 1);
    let start = Instant::now();
    while server.open_connections() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(6),
            "the silent connection was never closed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(silent);
    server.stop();
}

#[test]
fn a_deadline_noticed_by_the_device_is_a_timeout_for_the_caller() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // A device whose deadline fires first: it answers the call with DeadlineExceeded.
    let device = std::thread::spawn(move || {
        let (mut s, request) = raw_device_takes_a_request(&listener);
        s.write_all(&raw::frame(&[
            0x04,
            request[1],
            WireError::DeadlineExceeded as u8,
        ]))
        .unwrap();
        std::thread::sleep(Duration::from_millis(200));
    });
    let client = Client::connect(
        move || Link::tcp(addr),
        ClientOptions {
            reconnect: false,
            ..client_options()
        },
    )
    .unwrap();
    assert_eq!(
        client.call_typed::<demo::Add>(&(1, 2), Some(Duration::from_secs(5))),
        Err(ClientError::Timeout)
    );
    device.join().unwrap();
}

/// Reads from `peer` until a frame whose kind is `kind` has come; returns its body.
fn frame_of_kind(peer: &mut std::os::unix::net::UnixStream, kind: u8) -> Vec<u8> {
    use std::io::Read;
    let (mut seen, mut buf) = (Vec::new(), [0u8; 256]);
    loop {
        if let Some(f) = raw::unframe(&seen)
            .into_iter()
            .flatten()
            .find(|f| f[0] & 0x1f == kind)
        {
            return f;
        }
        let n = peer
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("no frame of kind {kind} came: {e}"));
        assert!(n > 0, "the client hung up first");
        seen.extend_from_slice(&buf[..n]);
    }
}

/// A Hello reply alone, from a peer that kept its session: no initial Hello of its own.
fn hello_reply() -> Vec<u8> {
    raw::frame(&raw::hello(true, 1, 1, 4096, 4, 4, 1000, 0))
}

/// The client's keepalive: longer than the calls' deadline, so that no Ping (whose write
/// would wake a waiting call) comes before it.
const LONG_KEEPALIVE: wirecall::Duration = wirecall::Duration::from_secs(10);

#[test]
fn a_call_waiting_for_the_handshake_starts_when_a_hello_reply_alone_completes_it() {
    // Found by the `host_client` fuzz target: a session that came up with nothing for
    // the client to write (the peer answered its Hello with a reply alone, as a device
    // that kept its session does) woke no waiting call, which then waited for the next
    // write (a keepalive Ping) or its deadline.
    let (mut peer, here) = std::os::unix::net::UnixStream::pair().unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let options = ClientOptions {
        config: wirecall::Config::default().with_keepalive(LONG_KEEPALIVE),
        ..ClientOptions::default()
    };
    let client = Client::over(Link::from_unix(here).unwrap(), options).unwrap();
    let c = client.clone();
    let caller = std::thread::spawn(move || c.call(0, b"x", Some(Duration::from_secs(5))));
    assert_eq!(frame_of_kind(&mut peer, 1)[0], 0x01, "the client's Hello");
    std::thread::sleep(Duration::from_millis(100)); // the call waits for a session by now
    peer.write_all(&hello_reply()).unwrap();
    let request = frame_of_kind(&mut peer, 2);
    peer.write_all(&raw::frame(&[0x03, request[1], b'y']))
        .unwrap();
    assert_eq!(caller.join().unwrap(), Ok(b"y".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_call_waiting_for_the_handshake_starts_when_a_hello_reply_alone_completes_it() {
    // The same in the async flavour (see the test above).
    use host::tokio::AsyncClient;
    let (peer, here) = std::os::unix::net::UnixStream::pair().unwrap();
    here.set_nonblocking(true).unwrap();
    let here = tokio::net::UnixStream::from_std(here).unwrap();
    let config = wirecall::Config::default().with_keepalive(LONG_KEEPALIVE);
    let client = AsyncClient::over(here, config);
    let c = client.clone();
    let caller = tokio::spawn(async move { c.call(0, b"x", Some(Duration::from_secs(5))).await });
    let device = tokio::task::spawn_blocking(move || {
        let mut peer = peer;
        peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        assert_eq!(frame_of_kind(&mut peer, 1)[0], 0x01, "the client's Hello");
        std::thread::sleep(Duration::from_millis(100)); // the call waits by now
        peer.write_all(&hello_reply()).unwrap();
        let request = frame_of_kind(&mut peer, 2);
        peer.write_all(&raw::frame(&[0x03, request[1], b'y']))
            .unwrap();
        peer
    });
    assert_eq!(caller.await.unwrap(), Ok(b"y".to_vec()));
    drop(device.await.unwrap());
    drop(client);
}
