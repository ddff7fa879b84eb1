//! The bridge's threads with a front that stops reading (found in review: it stalled the
//! device's reader for every front, until the device's link idled out and every front's
//! calls failed with `NoSession`).
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant as Std};

use wirecall::{Event, Instant, Open, WireError};
use wirecall_adapters::host::{
    serve_tcp, Bridge, BridgeOptions, Client, ClientOptions, HostEndpoint, Link,
};

fn now(t0: Std) -> Instant {
    Instant::from_micros(t0.elapsed().as_micros() as u64)
}

#[test]
fn a_front_that_stops_reading_stalls_only_itself() {
    let device = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let at = device.local_addr().unwrap();
    let echo = |_: u32, args: &[u8]| Ok::<_, (WireError, String)>(args.to_vec());
    let server = serve_tcp(device, move || Box::new(echo), wirecall::Config::default()).unwrap();
    let bridge = Bridge::start(move || Link::tcp(at), None, BridgeOptions::default()).unwrap();

    // Front B: an ordinary client.
    let (b1, b2) = UnixStream::pair().unwrap();
    bridge.attach(Link::from_unix(b2).unwrap()).unwrap();
    let client = Client::over(Link::from_unix(b1).unwrap(), ClientOptions::default()).unwrap();
    assert_eq!(client.call(0, b"x", None), Ok(b"x".to_vec()));

    // Front A: speaks the protocol over small socket buffers, makes 32 calls with
    // 4000-byte arguments (their echoes fill its buffers and the bridge's queue for it),
    // and never reads again.
    let (mut a1, a2) = UnixStream::pair().unwrap();
    rustix::net::sockopt::set_socket_send_buffer_size(&a2, 4096).unwrap();
    rustix::net::sockopt::set_socket_recv_buffer_size(&a1, 4096).unwrap();
    bridge.attach(Link::from_unix(a2).unwrap()).unwrap();
    let t0 = Std::now();
    let mut ep = HostEndpoint::new(now(t0), wirecall::Config::default());
    a1.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut buf = vec![0u8; 8192];
    let mut connected = false;
    while !connected {
        let n = ep.poll_transmit(&mut buf);
        a1.write_all(&buf[..n]).unwrap();
        if let Ok(n) = a1.read(&mut buf) {
            let mut off = 0;
            while off < n {
                off += ep.handle_input(now(t0), &buf[off..n]);
                while let Some(ev) = ep.poll_event() {
                    connected |= matches!(ev, Event::Connected(_));
                }
            }
        }
    }
    let big = vec![0x41u8; 4000];
    let how = Open::call().with_timeout(wirecall::Duration::from_millis(60_000));
    for _ in 0..32 {
        ep.open(now(t0), 0, &big[..], how).unwrap();
        loop {
            let n = ep.poll_transmit(&mut buf);
            if n == 0 {
                break;
            }
            a1.write_all(&buf[..n]).unwrap();
        }
    }

    // Front B's calls go on meanwhile, every one answered by the device, over the same
    // link to it.
    let forwarded = bridge.stats().forwarded;
    for i in 0..50u32 {
        let args = i.to_le_bytes();
        let r = client.call(0, &args, Some(Duration::from_secs(30)));
        assert_eq!(r, Ok(args.to_vec()), "call {i} of front B");
    }
    assert!(bridge.stats().back_connected);
    assert!(bridge.stats().forwarded >= forwarded + 50);

    // Front A, stuck past its writer's stall limit, is dropped alone; B goes on.
    let until = Std::now() + Duration::from_secs(60);
    while bridge.stats().fronts > 1 {
        assert!(Std::now() < until, "the stuck front was never dropped");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(client.call(0, b"after", None), Ok(b"after".to_vec()));
    assert!(bridge.stats().back_connected);

    drop(a1);
    drop(client);
    bridge.stop();
    server.stop();
}
