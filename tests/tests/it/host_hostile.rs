//! The host runtime against hostile peers on real loopback sockets: floods of Pings or of
//! bytes without a delimiter, a peer that never reads, stacks of idle connections and
//! restart storms. Deadlines are reported on time, a good client on another connection
//! keeps its answers, and what the runtime holds stays bounded.
//!
//! Time bounds here are generous (the machines are shared): each test's misbehaviour
//! lasts far longer than the bound, so an implementation that waited for it to end would
//! fail.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use wirecall::{Procedure, WireError};
use wirecall_adapters::host::{self, Client, ClientError, Link, ServeOptions};
use wirecall_tests::demo::{demo, host_handler};
use wirecall_tests::peer::{HostilePeer, Misbehaviour};
use wirecall_tests::raw;

use crate::common::{host_client_options as client_options, host_server_config as server_config};

/// A call that the peer never answers ends by its deadline, however hard the peer floods:
/// returns how it ended and the client's counters.
fn call_under_flood(how: Misbehaviour) -> (Result<i32, ClientError>, wirecall::Stats) {
    let peer = HostilePeer::spawn(how, 1000, demo::SCHEMA_HASH);
    let addr = peer.addr;
    let client = Client::connect(move || Link::tcp(addr), client_options()).unwrap();
    assert!(client.wait_connected(Duration::from_secs(5)));
    // Let the flood run before the call, and well past its deadline.
    while peer.sent.load(std::sync::atomic::Ordering::SeqCst) < 4 << 20 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    let outcome = client.call_typed::<demo::Add>(&(1, 2), Some(Duration::from_millis(500)));
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1500),
        "the deadline was 500 ms, the call took {took:?}"
    );
    let (stats, _) = client.stats().unwrap();
    drop(client);
    (outcome, stats)
}

#[test]
fn a_ping_flood_does_not_hold_a_callers_deadline() {
    let (outcome, stats) = call_under_flood(Misbehaviour::FloodPings);
    // Pings while a pong is unsent are stray frames: past 64 a second the session is reset,
    // again after each new handshake, so the call ends by its deadline or with the session.
    assert!(
        matches!(
            outcome,
            Err(ClientError::Timeout | ClientError::ConnectionLost)
        ),
        "{outcome:?}"
    );
    assert!(
        stats.pings_received > 1_000,
        "the flood was read: {stats:?}"
    );
    assert!(
        stats.protocol_errors >= 1 && stats.link_losses >= 1,
        "the flood reset the session: {stats:?}"
    );
}

#[test]
fn bytes_without_a_delimiter_do_not_hold_a_callers_deadline() {
    let (outcome, stats) = call_under_flood(Misbehaviour::FloodNoDelimiter);
    assert_eq!(outcome, Err(ClientError::Timeout));
    assert!(stats.oversized_frames >= 1, "{stats:?}");
}

#[test]
fn a_peer_advertising_an_endless_keepalive_is_dropped_at_this_sides_idle_cap() {
    // The peer says its keepalive is 49 days, then falls silent. This client caps its idle
    // limit at 1 s: the call in flight ends with the link, long before its 20 s deadline.
    let peer = HostilePeer::spawn(Misbehaviour::Silent, u32::MAX, demo::SCHEMA_HASH);
    let addr = peer.addr;
    let mut options = client_options();
    options.config = options
        .config
        .with_keepalive(wirecall::Duration::from_millis(100))
        .with_max_idle_limit(wirecall::Duration::from_secs(1));
    options.reconnect = false;
    let client = Client::connect(move || Link::tcp(addr), options).unwrap();
    assert!(client.wait_connected(Duration::from_secs(5)));
    let started = Instant::now();
    let outcome = client.call_typed::<demo::Add>(&(1, 2), Some(Duration::from_secs(20)));
    assert_eq!(outcome, Err(ClientError::ConnectionLost));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

/// Valid requests as fast as possible on one connection, never reading a reply.
fn flood_without_reading(addr: std::net::SocketAddr) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_write_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let hello = raw::frame(&raw::hello(false, 1, 1, 4096, 32, 32, 1000, 0));
        s.write_all(&hello).unwrap();
        let data = heapless::Vec::<u8, 200>::from_slice(&[7; 200]).unwrap();
        let args = postcard::to_allocvec(&(data,)).unwrap();
        let mut id = 0u32;
        let mut written = 0u64;
        let started = Instant::now();
        // Until the server stops taking bytes for good (it drops the connection).
        while started.elapsed() < Duration::from_secs(30) {
            let batch: Vec<u8> = (0..32)
                .flat_map(|_| {
                    id = id.wrapping_add(1) % 100_000; // never an active id twice
                    raw::frame(&raw::request(id, demo::Echo::ID, &args))
                })
                .collect();
            match s.write(&batch) {
                Ok(n) => written += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => break,
            }
        }
        written
    })
}

#[test]
fn a_client_that_never_reads_is_dropped_and_the_others_are_served() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = host::serve_tcp(listener, host_handler, server_config()).unwrap();
    let good = Client::connect(move || Link::tcp(addr), client_options()).unwrap();
    assert_eq!(good.call_typed::<demo::Add>(&(1, 2), None), Ok(3));
    let flooder = flood_without_reading(addr);
    // The good client is answered all along, while the flooder fills its socket.
    let started = Instant::now();
    let mut i = 0;
    while server.open_connections() > 1 {
        assert_eq!(
            good.call_typed::<demo::Add>(&(i, 1), Some(Duration::from_secs(5))),
            Ok(i + 1)
        );
        i += 1;
        assert!(
            started.elapsed() < Duration::from_secs(25),
            "the connection that never reads was never dropped"
        );
    }
    let written = flooder.join().unwrap();
    assert!(written > 1 << 20, "the flooder wrote {written} bytes");
    assert_eq!(good.call_typed::<demo::Add>(&(40, 2), None), Ok(42));
    drop(good);
    server.stop();
}

#[test]
fn idle_connections_over_the_cap_are_refused_explicitly_and_a_good_client_carries_on() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let options = ServeOptions {
        max_connections: 4,
        ..ServeOptions::from(server_config())
    };
    let server = host::serve_tcp(listener, host_handler, options).unwrap();
    let good = Client::connect(move || Link::tcp(addr), client_options()).unwrap();
    assert_eq!(good.call_typed::<demo::Add>(&(1, 2), None), Ok(3));
    // Three silent sockets take the remaining places...
    let silent: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    while server.open_connections() < 4 {
        std::thread::sleep(Duration::from_millis(5));
    }
    // ...so the next connection is told why it is turned away, at once.
    let started = Instant::now();
    let refused = Client::over(Link::tcp(addr).unwrap(), client_options()).unwrap();
    assert_eq!(
        refused.call_typed::<demo::Add>(&(1, 1), Some(Duration::from_secs(10))),
        Err(ClientError::Refused(WireError::Busy))
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(server.refused_connections() >= 1);
    // The good client never noticed.
    assert_eq!(good.call_typed::<demo::Add>(&(2, 2), None), Ok(4));
    // The silent ones never said Hello: they are closed after three keepalives (3 s).
    let started = Instant::now();
    while server.open_connections() > 1 {
        assert!(started.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(silent);
    let later = Client::over(Link::tcp(addr).unwrap(), client_options()).unwrap();
    assert_eq!(later.call_typed::<demo::Add>(&(3, 3), None), Ok(6));
    drop((good, refused, later));
    server.stop();
}

#[test]
fn a_restart_storm_ends_the_connection_with_an_explicit_close() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = host::serve_tcp(listener, host_handler, server_config()).unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let hello = raw::frame(&raw::hello(false, 1, 1, 4096, 32, 32, 1000, 0));
    // A session, then "restart" after restart: 4 are believed (the budget), the next
    // 9 are protocol violations, the last of which exceeds that budget too.
    for _ in 0..14 {
        s.write_all(&hello).unwrap();
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("the server neither closed nor answered: {e}"),
        }
    }
    let frames: Vec<Vec<u8>> = raw::unframe(&got).into_iter().flatten().collect();
    assert!(
        frames.contains(&vec![0x07, WireError::ProtocolViolation as u8]),
        "{frames:02x?}"
    );
    let replies = frames.iter().filter(|f| f[0] == 0x21).count();
    assert_eq!(
        replies, 5,
        "one session and four restarts were answered: {frames:02x?}"
    );
    server.stop();
}
