//! Remote handles through the blocking host runtime over real links: the demo service's
//! sensor `Channel` over loopback TCP, a Unix socket and a socat pty; release on drop,
//! pipelining, revocation, the end of a session, and a raw peer naming handles that are
//! not there.

use std::any::Any;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wirecall::{Procedure, WireError};
use wirecall_adapters::host::{
    self, Client, ClientError, ClientOptions, Handler, Link, Request, ServeOptions, HOST_HANDLES,
};
use wirecall_tests::demo::{demo, host_handler, DemoHost};
use wirecall_tests::pty::PtyPair;
use wirecall_tests::raw;

use crate::common::{host_client_options as client_options, host_server_config as server_config};

fn name(s: &str) -> heapless::String<16> {
    heapless::String::try_from(s).unwrap()
}

fn tcp_server() -> (host::ServerHandle, std::net::SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = host::serve_tcp(listener, demo::serve(DemoHost), ServeOptions::default());
    (server.unwrap(), addr)
}

fn typed(addr: std::net::SocketAddr) -> demo::Client<Client> {
    let raw = Client::connect(move || Link::tcp(addr), client_options()).unwrap();
    demo::Client::new(raw).with_timeout(Duration::from_secs(10))
}

fn is_remote(e: &ClientError, code: WireError) -> bool {
    matches!(e, ClientError::Remote(c, _) if *c == code)
}

#[test]
fn a_channel_handle_reads_and_configures_over_tcp() {
    let (server, addr) = tcp_server();
    let client = typed(addr);
    let temp = client.open(name("temp")).unwrap();
    let log = client.open(name("log")).unwrap();
    assert_ne!(
        temp.remote().handle().unwrap(),
        log.remote().handle().unwrap()
    );
    assert_eq!(temp.configure(3), Ok(1));
    assert_eq!((temp.read(), temp.read()), (Ok(3), Ok(6)));
    // Each object keeps its own state.
    assert_eq!(log.read(), Ok(1));
    assert_eq!(temp.name().unwrap().as_str(), "temp");
    assert_eq!(log.name().unwrap().as_str(), "log");
    // The handler's own error reaches the caller as from any procedure.
    assert!(is_remote(
        &temp.configure(0).unwrap_err(),
        WireError::BadArguments
    ));
    // Plain procedures go on beside the handles.
    assert_eq!(client.add(2, 3), Ok(5));
    drop((temp, log, client));
    server.stop();
}

#[test]
fn dropping_a_handle_frees_its_slot_on_the_server() {
    let (server, addr) = tcp_server();
    let client = typed(addr);
    let mut held: Vec<_> = (0..HOST_HANDLES)
        .map(|i| client.open(name(&format!("c{i}"))).unwrap())
        .collect();
    // The table is full: an explicit error, not a queue.
    let full = client.open(name("one more")).unwrap_err();
    assert!(is_remote(&full, WireError::TooManyHandles), "{full:?}");
    // A handle dropped is released; the open after it finds its slot free (the release
    // goes out ahead of the call).
    let freed = held.swap_remove(7).remote().handle().unwrap();
    held.truncate(HOST_HANDLES - 2);
    let again = client.open(name("again")).unwrap();
    let h = again.remote().handle().unwrap();
    assert!(h.slot() < HOST_HANDLES);
    if h.slot() == freed.slot() {
        assert!(h.generation() > freed.generation(), "{h:?} after {freed:?}");
    }
    assert_eq!(again.read(), Ok(1));
    // Every handle still held still reaches its own object.
    for (i, c) in held.iter().enumerate().take(3) {
        let n = c.name().unwrap();
        assert!(n.starts_with('c'), "{i}: {n}");
    }
    drop((held, again, client));
    server.stop();
}

#[test]
fn calls_on_a_handle_not_yet_returned_leave_at_once_and_reach_it() {
    let (server, addr) = tcp_server();
    let client = typed(addr).pipelined();
    let ch = client.open(name("fast")).unwrap();
    // Both calls leave before the open's answer is awaited: they name "the handle that
    // call returns", and the server runs them on it once the open is answered.
    let configure = ch
        .remote()
        .start(
            demo::Channel::Configure::ID,
            &postcard::to_allocvec(&7i32).unwrap(),
            None,
        )
        .unwrap();
    let read = ch
        .remote()
        .start(demo::Channel::Read::ID, &[], None)
        .unwrap();
    assert_eq!(
        configure.wait().unwrap(),
        postcard::to_allocvec(&1i32).unwrap()
    );
    assert_eq!(read.wait().unwrap(), postcard::to_allocvec(&7i32).unwrap());
    // The handle itself, once asked for, is the one the calls reached.
    assert_eq!(ch.read(), Ok(14));
    assert!(ch.remote().handle().is_ok());

    // A constructor that fails: every call on its promise fails with StaleHandle, and the
    // handle says why the constructor failed.
    let raw = client.caller();
    let bad = raw
        .call_export(
            Some(demo::SCHEMA_HASH),
            demo::OpenChannel::ID,
            &[0xff],
            None,
            true,
        )
        .unwrap();
    let e = bad.call(demo::Channel::Read::ID, &[], None).unwrap_err();
    assert!(is_remote(&e, WireError::StaleHandle), "{e:?}");
    let e = bad.handle().unwrap_err();
    assert!(is_remote(&e, WireError::BadArguments), "{e:?}");
    drop((ch, bad, client));
    server.stop();
}

#[test]
fn a_handle_of_an_ended_session_fails_without_being_sent() {
    let dir = std::env::temp_dir().join(format!("wirecall-handles-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("demo.sock");
    let serve = |path: &std::path::Path| {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).unwrap();
        host::serve_unix(listener, demo::serve(DemoHost), ServeOptions::default()).unwrap()
    };
    let server = serve(&path);
    let at = path.clone();
    let raw = Client::connect(move || Link::unix(&at), client_options()).unwrap();
    let client = demo::Client::new(raw.clone()).with_timeout(Duration::from_secs(10));
    let ch = client.open(name("old")).unwrap();
    assert_eq!(ch.read(), Ok(1));
    // The server goes (its sessions with it) and another takes its place.
    server.stop();
    let server = serve(&path);
    // Calls made while the client notices the old link went fail; then a new session.
    let mut attempts = 0;
    while client.add(1, 1) != Ok(2) {
        attempts += 1;
        assert!(attempts < 20, "no new session");
    }
    let sent = raw.stats().unwrap().0.calls_sent;
    let e = ch.read().unwrap_err();
    assert!(is_remote(&e, WireError::StaleHandle), "{e:?}");
    assert_eq!(raw.stats().unwrap().0.calls_sent, sent, "the call was sent");
    // A new handle in the new session works, and the old one's drop sends nothing stale.
    let fresh = client.open(name("new")).unwrap();
    assert_eq!(fresh.read(), Ok(1));
    drop((ch, fresh, client, raw));
    server.stop();
    let _ = std::fs::remove_dir_all(dir);
}

/// An untyped server whose one object (interface 0) withdraws itself when method 1 is
/// called; method 0 counts.
struct Revoker {
    calls: AtomicU32,
}

impl Handler for Revoker {
    fn handle(&self, _: u32, _: &[u8]) -> Result<Vec<u8>, (WireError, String)> {
        Err((WireError::UnknownProcedure, String::new()))
    }

    fn serve(&self, request: &mut Request<'_>) -> Result<Vec<u8>, (WireError, String)> {
        let Some((object, _)) = request.target() else {
            // Procedure 0 makes an object.
            let object: Arc<dyn Any + Send + Sync> = Arc::new(AtomicU32::new(0));
            request.export(object, 0);
            return Ok(Vec::new());
        };
        let counter = object.downcast_ref::<AtomicU32>().expect("our object");
        self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = vec![counter.fetch_add(1, Ordering::SeqCst) as u8];
        if request.procedure() == 1 {
            request.revoke_target(WireError::Revoked, "unplugged");
        }
        Ok(answer)
    }

    fn exports(&self) -> bool {
        true
    }
}

#[test]
fn the_server_revokes_a_handle_and_the_holder_hears_it_without_a_call() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let revoker = Arc::new(Revoker {
        calls: AtomicU32::new(0),
    });
    let shared = revoker.clone();
    let server = host::serve_tcp(
        listener,
        move || Box::new(shared.clone()) as Box<dyn Handler>,
        ServeOptions::default(),
    )
    .unwrap();
    let client = Client::connect(move || Link::tcp(addr), ClientOptions::default()).unwrap();
    let a = client.call_export(None, 0, &[], None, false).unwrap();
    let b = client.call_export(None, 0, &[], None, false).unwrap();
    assert_eq!(a.call(0, &[], None), Ok(vec![0]));
    assert_eq!(b.revoked(), None);
    // Method 1 answers, then withdraws its object: the holder learns it with no call.
    assert_eq!(b.call(1, &[], None), Ok(vec![0]));
    let (code, reason) = b.wait_revoked(Duration::from_secs(10)).expect("a revoke");
    assert_eq!((code, reason.as_str()), (WireError::Revoked, "unplugged"));
    let served = revoker.calls.load(Ordering::SeqCst);
    let e = b.call(0, &[], None).unwrap_err();
    assert!(is_remote(&e, WireError::StaleHandle), "{e:?}");
    assert_eq!(revoker.calls.load(Ordering::SeqCst), served, "refused here");
    // The other object is untouched.
    assert_eq!(a.call(0, &[], None), Ok(vec![1]));
    assert_eq!(a.revoked(), None);
    drop((a, b, client));
    server.stop();
}

#[test]
fn a_raw_peer_naming_handles_that_are_not_there_gets_stale_handle() {
    let (server, addr) = tcp_server();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&raw::frame(&raw::hello(false, 1, 1, 4096, 32, 32, 1000, 0)))
        .unwrap();
    // Invokes (kind 16) on a slot never used, a generation never given, and the promise
    // of a call never made; then a stale release (kind 13), which gets no answer.
    let invoke = |id: u32, slot: u32, generation: u32| {
        let mut b = vec![0x10];
        for v in [id, demo::Channel::Read::ID, slot, generation] {
            b.extend(raw::varint(v));
        }
        raw::frame(&b)
    };
    let mut out = Vec::new();
    for (id, slot, generation) in [(1, 63, 1), (2, 0, 77), (3, 5, 0), (4, 100_000, 1)] {
        out.extend(invoke(id, slot, generation));
    }
    out.extend(raw::frame(&[0x0d, 0, 77]));
    // This peer's Hello lacks the handles bit: it could never release an object, so none
    // is made for it.
    out.extend(raw::frame(&raw::request(
        6,
        demo::OpenChannel::ID,
        &[1, b'x'],
    )));
    out.extend(raw::frame(&raw::request(5, demo::Add::ID, &[2, 4])));
    s.write_all(&out).unwrap();
    // Every invoke is answered StaleHandle; the add after them still works.
    let mut got = Vec::new();
    let mut errors = Vec::new();
    let mut reply = None;
    while reply.is_none() || errors.len() < 5 {
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).expect("the server answers");
        assert!(n > 0, "the server closed the connection");
        got.extend_from_slice(&buf[..n]);
        reply = None;
        for frame in raw::unframe(&got).into_iter().flatten() {
            match frame.as_slice() {
                [0x04, id, code, ..] => errors.push((*id, *code)),
                [0x03, 5, rest @ ..] => reply = Some(rest.to_vec()),
                _ => {}
            }
        }
        if reply.is_none() || errors.len() < 5 {
            errors.clear();
        }
    }
    errors.sort();
    let stale = WireError::StaleHandle as u8;
    let internal = WireError::Internal as u8;
    assert_eq!(
        errors,
        [
            (1, stale),
            (2, stale),
            (3, stale),
            (4, stale),
            (6, internal)
        ]
    );
    assert_eq!(reply, Some(vec![6]));
    drop(s);
    server.stop();
}

#[test]
fn handles_over_a_serial_port_made_by_socat() {
    let ptys = PtyPair::start();
    let port = ptys.a.clone();
    let device = std::thread::spawn(move || {
        host::serve_link(
            Link::serial(&port, 115_200).unwrap(),
            host_handler(),
            server_config(),
        );
    });
    let raw = Client::over(Link::serial(&ptys.b, 115_200).unwrap(), client_options()).unwrap();
    let client = demo::Client::new(raw).with_timeout(Duration::from_secs(10));
    let ch = client.open(name("uart")).unwrap();
    assert_eq!(ch.configure(-2), Ok(1));
    assert_eq!(ch.read(), Ok(-2));
    let piped = client.clone().pipelined().open(name("piped")).unwrap();
    assert_eq!(piped.read(), Ok(1));
    drop((ch, piped, client)); // closes the session: the device's serve_link returns
    device.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_client_holds_handles_too() {
    use wirecall_adapters::host::tokio::AsyncClient;
    let (server, addr) = tcp_server();
    let raw = AsyncClient::connect(
        move || tokio::net::TcpStream::connect(addr),
        client_options().config,
    );
    let client = demo::AsyncClient::new(raw.clone()).with_timeout(Duration::from_secs(10));
    let ch = client.open(name("async")).await.unwrap();
    assert_eq!(ch.configure(4).await, Ok(1));
    assert_eq!(ch.read().await, Ok(4));
    assert_eq!(ch.name().await.unwrap().as_str(), "async");
    // Fill the table; a dropped handle's release reaches the server ahead of the next open.
    let mut held = Vec::new();
    for i in 1..HOST_HANDLES {
        held.push(client.open(name(&format!("a{i}"))).await.unwrap());
    }
    let full = client.open(name("full")).await.unwrap_err();
    assert!(is_remote(&full, WireError::TooManyHandles), "{full:?}");
    drop(ch);
    let again = client.open(name("again")).await.unwrap();
    assert_eq!(again.read().await, Ok(1));
    assert_eq!(again.remote().revoked(), None);
    drop((held, again, client, raw));
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
}

#[test]
fn a_promise_whose_call_was_answered_is_never_sent_for_a_newer_call_with_its_id() {
    let (server, addr) = tcp_server();
    let client = typed(addr);
    // Open "a" pipelined and leave it unresolved; its answer arrives before the add's.
    let a = client.clone().pipelined().open(name("a")).unwrap();
    assert_eq!(client.add(1, 1), Ok(2));
    // More opens, one after another: call ids cycle through the same few values, so some
    // open reuses the id of a's open, and exports an object under it on the server.
    let others: Vec<_> = (0..8)
        .map(|i| client.open(name(&format!("b{i}"))).unwrap())
        .collect();
    // A call on `a` must reach "a", not the newer call's object: its promise has settled,
    // so the call goes to the handle a's answer carried.
    assert_eq!(a.name().unwrap().as_str(), "a");
    assert_eq!(others[3].name().unwrap().as_str(), "b3");
    drop((a, others, client));
    server.stop();
}

mod abandoned_open {
    //! A tokio caller that gives up on a procedure returning a handle (a timeout around the
    //! future) leaves no object behind on the server.

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use wirecall::WireError;
    use wirecall_adapters::host::{self, ServeOptions};

    wirecall::service! {
        pub mod slow {
            0 => Open: fn open(ms: u32) -> handle Obj;
            1 => Live: fn live() -> (u32, u32);
            interface Obj {
                0 => Ping: fn ping() -> u32;
            }
        }
    }

    /// Objects alive, and opens whose handler has returned.
    static LIVE: AtomicUsize = AtomicUsize::new(0);
    static OPENED: AtomicUsize = AtomicUsize::new(0);

    struct Obj;
    impl Drop for Obj {
        fn drop(&mut self) {
            LIVE.fetch_sub(1, Ordering::SeqCst);
        }
    }
    impl slow::Obj::HostMethods for Obj {
        fn ping(&self) -> Result<u32, WireError> {
            Ok(1)
        }
    }
    struct Slow;
    impl slow::HostHandler for Slow {
        type Obj = Obj;
        fn open(&self, ms: u32) -> Result<Obj, WireError> {
            std::thread::sleep(Duration::from_millis(u64::from(ms)));
            LIVE.fetch_add(1, Ordering::SeqCst);
            OPENED.fetch_add(1, Ordering::SeqCst);
            Ok(Obj)
        }
        fn live(&self) -> Result<(u32, u32), WireError> {
            let n = |a: &AtomicUsize| a.load(Ordering::SeqCst) as u32;
            Ok((n(&LIVE), n(&OPENED)))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_async_open_leaves_no_object_on_the_server() {
        use wirecall_adapters::host::tokio::AsyncClient;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = host::serve_tcp(listener, slow::serve(Slow), ServeOptions::default());
        let server = server.unwrap();
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let raw = AsyncClient::over(stream, wirecall::Config::default());
        let client = slow::AsyncClient::new(raw);
        assert_eq!(client.live().await, Ok((0, 0)));
        // The caller gives up long before the handler (300 ms) returns its object.
        let gave_up = tokio::time::timeout(Duration::from_millis(20), client.open(300)).await;
        assert!(gave_up.is_err());
        // Once the handler has returned, the object goes: its call was cancelled, so it is
        // never exported. (Left exported, it would live until the session ends.)
        let mut looks = 0;
        loop {
            let (live, opened) = client.live().await.unwrap();
            if opened == 1 && live == 0 {
                break;
            }
            looks += 1;
            assert!(
                looks < 1000,
                "the object outlived every holder: {live} live"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // A handle taken normally is kept, and released when dropped.
        let obj = client.open(0).await.unwrap();
        assert_eq!(obj.ping().await, Ok(1));
        assert_eq!(client.live().await.unwrap().0, 1);
        drop(obj);
        loop {
            if client.live().await.unwrap().0 == 0 {
                break;
            }
            looks += 1;
            assert!(looks < 2000, "a dropped handle was not released");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(client);
        tokio::task::spawn_blocking(move || server.stop())
            .await
            .unwrap();
    }
}
