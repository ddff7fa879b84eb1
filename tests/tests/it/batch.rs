//! Batches of calls from one thread (`Client::batch`) over real sockets: held back until
//! sent, then one write; bigger than the call window or the transmit queue; and outcomes
//! that arrive while nobody waits.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wirecall::Procedure;
use wirecall_adapters::host::{self, Capacity, Client, Link};
use wirecall_tests::demo::{demo, host_handler};

use crate::common::{host_client_options, host_server_config};

fn tcp_server() -> (host::ServerHandle, std::net::SocketAddr) {
    tcp_server_with(host_server_config())
}

fn tcp_server_with(config: wirecall::Config) -> (host::ServerHandle, std::net::SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (
        host::serve_tcp(listener, host_handler, config).unwrap(),
        addr,
    )
}

const MINUTE: wirecall::Duration = wirecall::Duration::from_secs(60);

/// A server and a client over a link whose writes are counted, neither sending keepalive
/// Pings for a minute (so that every write the test sees is one it caused), connected.
fn quiet_pair() -> (host::ServerHandle, Client, Arc<Mutex<Vec<usize>>>) {
    let (server, addr) = tcp_server_with(host_server_config().with_keepalive(MINUTE));
    let writes = Arc::new(Mutex::new(Vec::new()));
    let mut options = host_client_options();
    options.config = options.config.with_keepalive(MINUTE);
    let client = Client::over(counted_link(addr, writes.clone()), options).unwrap();
    assert!(client.wait_connected(Duration::from_secs(10)));
    // The client writes its Hello at once and its Hello reply when the server's Hello
    // arrives: the session can be up before the second write is counted.
    let give_up = Instant::now() + Duration::from_secs(10);
    while writes.lock().unwrap().len() < 2 {
        assert!(Instant::now() < give_up, "the handshake writes never came");
        std::thread::sleep(Duration::from_millis(1));
    }
    (server, client, writes)
}

/// A TCP stream's writing half that records the length of every `write` made on it.
struct CountingWriter {
    stream: TcpStream,
    writes: Arc<Mutex<Vec<usize>>>,
}

impl Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.stream.write(buf)?;
        self.writes.lock().unwrap().push(n);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

/// A link to `addr` whose writes are recorded in `writes` (ticks as `Link::from_tcp`'s).
fn counted_link(addr: std::net::SocketAddr, writes: Arc<Mutex<Vec<usize>>>) -> Link {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let reader = stream.try_clone().unwrap();
    let writer = CountingWriter {
        stream: stream.try_clone().unwrap(),
        writes,
    };
    Link::from_parts("counted tcp", reader, writer, move || {
        let _ = stream.shutdown(std::net::Shutdown::Both);
    })
}

/// A server and a connected client with eight calls in flight and 256-byte frames,
/// neither sending keepalive Pings for a minute.
fn small_quiet_client() -> (host::ServerHandle, Client) {
    let (server, addr) = tcp_server_with(host_server_config().with_keepalive(MINUTE));
    let mut options = host_client_options();
    options.config = options.config.with_keepalive(MINUTE);
    options.capacity = Capacity {
        max_frame: 256,
        max_calls: 8,
    };
    let client = Client::connect(move || Link::tcp(addr), options).unwrap();
    assert!(client.wait_connected(Duration::from_secs(10)));
    (server, client)
}

fn add_args(i: i32) -> Vec<u8> {
    postcard::to_allocvec(&(i, 1000)).unwrap()
}

fn add_result(bytes: &[u8]) -> i32 {
    demo::Add::output(bytes).unwrap()
}

#[test]
fn a_batch_is_held_back_until_sent_then_goes_out_in_one_write() {
    let (server, client, writes) = quiet_pair();
    let before = writes.lock().unwrap().len();

    let mut batch = client.batch();
    let pending: Vec<_> = (0..20)
        .map(|i| batch.start(demo::Add::ID, &add_args(i), None).unwrap())
        .collect();
    // Give the idle ticks (every 50 ms) of the I/O thread and the timer a chance to write
    // the held requests wrongly; this cannot fail a correct runtime, however slow.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        writes.lock().unwrap().len(),
        before,
        "nothing is written before the batch is sent"
    );
    batch.send();
    let sent = writes.lock().unwrap()[before..].to_vec();
    // Twenty requests of 14 bytes on the wire each (delimiters shared), in one write.
    assert_eq!(sent.len(), 1, "one write for the batch: {sent:?}");
    assert!(sent[0] >= 20 * 13, "all twenty requests: {sent:?}");

    for (i, p) in (0..).zip(pending) {
        assert_eq!(add_result(&p.wait().unwrap()), i + 1000);
    }
    drop(client);
    server.stop();
}

#[test]
fn a_batch_larger_than_the_call_window_and_the_transmit_queue_completes() {
    // No keepalive traffic that would write held requests anyway: the batch must get out
    // by itself when it waits for slots and room. A batch of 100 echoes of 200 bytes
    // (about 20 KB) waits for slots and for room many times over.
    let (server, client) = small_quiet_client();
    let mut batch = client.batch();
    let pending: Vec<_> = (0..100u8)
        .map(|i| {
            let data: heapless::Vec<u8, 200> = std::iter::repeat_n(i, 200).collect();
            let args = postcard::to_allocvec(&(data,)).unwrap();
            batch.start(demo::Echo::ID, &args, None).unwrap()
        })
        .collect();
    drop(batch);
    for (i, p) in (0..100u8).zip(pending) {
        let out = demo::Echo::output(&p.wait().unwrap()).unwrap();
        assert_eq!(out.len(), 200);
        assert!(out.iter().all(|&b| b == i), "echo {i}");
    }
    drop(client);
    server.stop();
}

#[test]
fn outcomes_arrive_while_nobody_waits_and_is_ready_says_so() {
    let (server, addr) = tcp_server();
    let client = Client::connect(move || Link::tcp(addr), host_client_options()).unwrap();
    assert!(client.wait_connected(Duration::from_secs(10)));
    let mut batch = client.batch();
    let pending: Vec<_> = (0..5)
        .map(|i| batch.start(demo::Add::ID, &add_args(i), None).unwrap())
        .collect();
    batch.send();
    // No thread waits: the client's I/O thread reads the replies.
    let give_up = Instant::now() + Duration::from_secs(10);
    while !pending.iter().all(|p| p.is_ready()) {
        assert!(Instant::now() < give_up, "the replies were never read");
        std::thread::sleep(Duration::from_millis(1));
    }
    for (i, p) in (0..).zip(pending) {
        assert_eq!(add_result(&p.wait().unwrap()), i + 1000);
    }
    drop(client);
    server.stop();
}

#[test]
fn dropping_a_batch_sends_it_and_dropping_a_pending_call_cancels_only_that_call() {
    let (server, client, writes) = quiet_pair();
    let before = writes.lock().unwrap().len();
    let (slow, quick) = {
        let mut batch = client.batch();
        let sleep = postcard::to_allocvec(&(1_000u32,)).unwrap();
        let slow = batch.start(demo::Sleep::ID, &sleep, None).unwrap();
        let quick = batch.start(demo::Add::ID, &add_args(7), None).unwrap();
        (slow, quick)
    };
    // Written as the batch went out of scope, both requests in one write.
    assert_eq!(writes.lock().unwrap().len(), before + 1);
    drop(slow); // cancelled: the Cancel is written at once
    assert_eq!(writes.lock().unwrap().len(), before + 2);
    assert_eq!(client.stats().unwrap().0.cancels_sent, 1);
    assert_eq!(add_result(&quick.wait().unwrap()), 1007);
    drop(client);
    server.stop();
}

#[test]
fn a_batch_held_open_does_not_hold_up_another_threads_call() {
    // Thread A's open batch fills the call window (8 calls); thread B's call must wait for
    // a slot. B's wait writes A's held requests, whose replies free the slot: nothing
    // waits for a timer (keepalives are a minute apart on both sides).
    let (server, client) = small_quiet_client();
    let mut batch = client.batch();
    let held: Vec<_> = (0..8)
        .map(|i| batch.start(demo::Add::ID, &add_args(i), None).unwrap())
        .collect();
    let other = client.clone();
    let b = std::thread::spawn(move || {
        other.call_typed::<demo::Add>(&(1, 2), Some(Duration::from_secs(20)))
    });
    assert_eq!(b.join().unwrap(), Ok(3));
    batch.send();
    for (i, p) in (0..).zip(held) {
        assert_eq!(add_result(&p.wait().unwrap()), i + 1000);
    }
    drop(client);
    server.stop();
}
