//! The async firmware driver (`wirecall_adapters::uart_async`, `no_std`) on a real executor
//! over a real byte stream: a Unix socket pair stands in for the UART wire, the device end
//! wrapped in the `embedded-io-async` traits the way an async HAL's UART is, driven on a
//! tokio current-thread runtime (one task, as on a microcontroller's executor). The host
//! side is the ordinary host client, or a raw peer that writes frames byte-exactly.
//!
//! Every wait is for an event (an answer, a closed socket, the device's task ending), each
//! bounded by a generous timeout so that a bug fails the test instead of hanging it.

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wirecall::{CallFailure, Config, Disconnect, Event, Procedure, RequestId, Stats, WireError};
use wirecall_adapters::host::{Client, ClientError, ClientOptions, Link};
use wirecall_adapters::uart_async::{AsyncUartDriver, AsyncUartError, Clock, Timer};
use wirecall_tests::demo::{demo, DemoDevice};
use wirecall_tests::raw;

/// The longest any test waits for something that should take milliseconds.
const PATIENCE: Duration = Duration::from_secs(30);

/// What the UART wrapper counts, readable from the test's thread.
#[derive(Default)]
struct Counters {
    reads: AtomicUsize,
    bytes_read: AtomicUsize,
    largest_read: AtomicUsize,
    writes: AtomicUsize,
}

/// The device end of the socket pair as an `embedded-io-async` UART. Tokio's `read` and
/// `write` on a socket are cancel-safe, as the driver requires of a UART.
struct SocketUart {
    io: tokio::net::UnixStream,
    /// Most bytes one read returns (1: input arrives one byte at a time).
    max_read: usize,
    /// Most bytes one write takes; each write first yields to the executor once, so that
    /// a run can be dropped in the middle of writing a frame.
    max_write: usize,
    yield_before_write: bool,
    counters: Arc<Counters>,
}

impl SocketUart {
    /// Must be called inside the runtime (tokio registers the socket with its reactor).
    fn new(io: UnixStream, counters: Arc<Counters>) -> SocketUart {
        io.set_nonblocking(true).unwrap();
        SocketUart {
            io: tokio::net::UnixStream::from_std(io).unwrap(),
            max_read: usize::MAX,
            max_write: usize::MAX,
            yield_before_write: false,
            counters,
        }
    }
}

impl embedded_io_async::ErrorType for SocketUart {
    type Error = std::io::Error;
}

impl embedded_io_async::Read for SocketUart {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.max_read);
        let got = self.io.read(&mut buf[..n]).await?;
        self.counters.reads.fetch_add(1, Ordering::SeqCst);
        self.counters.bytes_read.fetch_add(got, Ordering::SeqCst);
        self.counters.largest_read.fetch_max(got, Ordering::SeqCst);
        Ok(got)
    }
}

impl embedded_io_async::Write for SocketUart {
    async fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.yield_before_write {
            tokio::task::yield_now().await;
        }
        let n = buf.len().min(self.max_write);
        let wrote = self.io.write(&buf[..n]).await?;
        self.counters.writes.fetch_add(1, Ordering::SeqCst);
        Ok(wrote)
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        self.io.flush().await
    }
}

/// The runtime's clock, as embassy-time's would be on a board.
struct TokioClock(tokio::time::Instant);

impl Clock for TokioClock {
    fn now_micros(&mut self) -> u64 {
        self.0.elapsed().as_micros() as u64
    }
}

impl Timer for TokioClock {
    async fn wait_until(&mut self, micros: u64) {
        tokio::time::sleep_until(self.0 + Duration::from_micros(micros)).await
    }
}

type Driver<const FRAME: usize, const IN: usize, const TX: usize> =
    AsyncUartDriver<SocketUart, TokioClock, FRAME, IN, 4, TX>;

/// How the demo device's task ended, and what it saw on the way.
struct Report {
    stats: Stats,
    /// Why the last run failed (the host went away: the UART is `Closed`, or its far end
    /// refused a write), or `None` if the task stopped on a `Disconnected` event.
    end: Option<AsyncUartError<std::io::Error>>,
    /// Runs that returned.
    runs: usize,
    /// Runs dropped before they completed (the cancellation test).
    dropped: usize,
    /// The most requests the device had in flight at once.
    max_pending: usize,
    /// The procedures of the requests answered, in the order they were answered.
    answered: Vec<u32>,
    /// Events other than requests, with the UART's read count when each came out.
    events: Vec<(String, usize)>,
}

/// How the device's task runs.
#[derive(Clone, Copy, Default)]
struct Options {
    max_read: Option<usize>,
    /// Race each run against a yield of the executor and drop it when that wins.
    drop_runs: bool,
    /// Call the peer's procedure 0 with this timeout once connected (the peer never answers).
    call_with_timeout: Option<Duration>,
    /// Stop at the first `Disconnected` event.
    stop_on_disconnect: bool,
}

/// Runs the demo device on a current-thread runtime in a thread of its own, as an embassy
/// task would run on a microcontroller: `sleep` is answered later without blocking the
/// link (the application's own timer, through `run_until_event_or`), everything else at
/// once through the service's dispatch.
fn spawn_device<const FRAME: usize, const IN: usize, const TX: usize>(
    wire: UnixStream,
    config: Config,
    options: Options,
) -> (Arc<Counters>, std::thread::JoinHandle<Report>) {
    let counters = Arc::new(Counters::default());
    let c = counters.clone();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut uart = SocketUart::new(wire, c.clone());
            if let Some(n) = options.max_read {
                uart.max_read = n;
            }
            if options.drop_runs {
                uart.max_write = 5;
                uart.yield_before_write = true;
            }
            let driver: Driver<FRAME, IN, TX> =
                AsyncUartDriver::new(uart, TokioClock(tokio::time::Instant::now()), config);
            tokio::time::timeout(PATIENCE, serve_demo(driver, c, options))
                .await
                .expect("the device's task ended in time")
        })
    });
    (counters, thread)
}

async fn serve_demo<const FRAME: usize, const IN: usize, const TX: usize>(
    mut driver: Driver<FRAME, IN, TX>,
    counters: Arc<Counters>,
    options: Options,
) -> Report {
    let mut device = DemoDevice::default();
    let mut out = [0u8; 256];
    // `sleep` requests being served: who to answer, and when (clock microseconds).
    let mut sleeping: Vec<(RequestId, u64)> = Vec::new();
    let mut report = Report {
        stats: Stats::default(),
        end: None,
        runs: 0,
        dropped: 0,
        max_pending: 0,
        answered: Vec::new(),
        events: Vec::new(),
    };
    loop {
        let wake = sleeping.iter().map(|s| s.1).min();
        let run = async {
            match wake {
                Some(at) => driver.run_until_event_or(at).await,
                None => driver.run_until_event().await,
            }
        };
        let result = if options.drop_runs {
            tokio::select! {
                biased;
                r = run => r,
                () = tokio::task::yield_now() => {
                    report.dropped += 1;
                    continue;
                }
            }
        } else {
            run.await
        };
        if let Err(e) = result {
            report.end = Some(e);
            break;
        }
        report.runs += 1;
        let now = driver.now();
        let mut disconnected = false;
        while let Some(event) = driver.endpoint().poll_event() {
            let reads = counters.reads.load(Ordering::SeqCst);
            match event {
                Event::Request {
                    id,
                    procedure,
                    args,
                    ..
                } if procedure == demo::Sleep::ID => {
                    let (ms,) = wirecall::decode_exact::<(u32,)>(args).unwrap();
                    sleeping.push((id, now.as_micros() + u64::from(ms) * 1000));
                }
                Event::Request {
                    id,
                    procedure,
                    args,
                    ..
                } => {
                    let answer = demo::dispatch(&mut device, procedure, args, &mut out);
                    let ep = driver.endpoint();
                    // The run wrote the transmit queue out before returning: this fits.
                    match answer {
                        Ok(n) => ep.respond(id, &out[..n]).unwrap(),
                        Err(e) => ep.respond_error(id, e, "").unwrap(),
                    }
                    report.answered.push(procedure);
                }
                Event::RequestEnded { id, .. } => sleeping.retain(|s| s.0 != id),
                Event::Connected(_) => {
                    report.events.push(("connected".into(), reads));
                    if let Some(timeout) = options.call_with_timeout {
                        let timeout = wirecall::Duration::from_micros(timeout.as_micros() as u64);
                        driver
                            .endpoint()
                            .call_with_timeout(now, 0, &[2u8, 4][..], timeout)
                            .unwrap();
                    }
                }
                Event::Disconnected(why) => {
                    report.events.push((format!("disconnected {why:?}"), reads));
                    disconnected = true;
                }
                Event::CallFailed { reason, .. } => {
                    report
                        .events
                        .push((format!("call failed {reason:?}"), reads));
                }
                other => report.events.push((format!("{other:?}"), reads)),
            }
        }
        report.max_pending = report.max_pending.max(driver.endpoint().requests_pending());
        if disconnected && options.stop_on_disconnect {
            break;
        }
        let now = driver.now().as_micros();
        let ep = driver.endpoint();
        sleeping.retain(|&(id, due)| {
            if due > now {
                return true;
            }
            ep.respond(id, &[]).unwrap(); // `()` encodes as nothing
            report.answered.push(demo::Sleep::ID);
            false
        });
    }
    report.stats = *driver.endpoint().stats();
    report
}

/// The host went away: the UART said it is at its end, or refused the device's last
/// words (the host's Close makes the device start a new handshake at once).
fn assert_host_gone(report: &Report) {
    match &report.end {
        Some(AsyncUartError::Closed) => {}
        Some(AsyncUartError::Uart(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => panic!("the device's task ended with {other:?}"),
    }
}

fn client(host_end: UnixStream) -> Client {
    client_with(host_end, Config::default())
}

fn client_with(host_end: UnixStream, config: Config) -> Client {
    let options = ClientOptions {
        config: config.expecting_schema(demo::SCHEMA_HASH),
        reconnect: false,
        ..ClientOptions::default()
    };
    Client::over(Link::from_unix(host_end).unwrap(), options).unwrap()
}

fn t() -> Option<Duration> {
    Some(PATIENCE)
}

fn device_config() -> Config {
    Config::default().with_manifest(&demo::MANIFEST)
}

#[test]
fn the_async_driver_serves_a_host_over_an_embedded_io_async_uart() {
    let (host_end, device_end) = UnixStream::pair().unwrap();
    let (_, device) = spawn_device::<256, 4, 576>(device_end, device_config(), Options::default());
    let client = client(host_end);
    for i in 0..50 {
        assert_eq!(client.call_typed::<demo::Add>(&(i, 1), t()), Ok(i + 1));
    }
    let data = heapless::Vec::<u8, 200>::from_slice(&[0u8, 1, 2, 0, 255]).unwrap();
    assert_eq!(
        client.call_typed::<demo::Echo>(&(data.clone(),), t()),
        Ok(data)
    );
    assert_eq!(
        client.call_typed::<demo::Add>(&(i32::MAX, 1), t()),
        Err(ClientError::Remote(WireError::BadArguments, String::new()))
    );
    assert_eq!(
        client.call_typed::<demo::Fail>(&(), t()),
        Err(ClientError::Remote(WireError::Internal, String::new()))
    );
    assert_eq!(
        client.call(99, &[], t()),
        Err(ClientError::Remote(
            WireError::UnknownProcedure,
            String::new()
        ))
    );
    // The device describes itself through the async driver too.
    assert_eq!(client.manifest(t()).unwrap(), demo::MANIFEST);
    drop(client);
    // The host's end closed: the device's next run says so.
    let report = device.join().unwrap();
    assert_host_gone(&report);
    assert_eq!(report.stats.requests_received, 54);
    assert_eq!(report.stats.crc_errors + report.stats.framing_errors, 0);
}

#[test]
fn many_calls_in_flight_are_answered_as_they_finish() {
    let (host_end, device_end) = UnixStream::pair().unwrap();
    // Room for 8 requests at once on the device.
    let (_, device) = spawn_device::<256, 8, 576>(device_end, device_config(), Options::default());
    let client = client(host_end);
    // Four slow calls in flight, answered by the device's own timer, not by blocking...
    let sleeps: Vec<_> = [1300u32, 1200, 1100, 1000]
        .iter()
        .map(|ms| {
            let args = postcard::to_allocvec(&(*ms,)).unwrap();
            client.start(demo::Sleep::ID, &args, t()).unwrap()
        })
        .collect();
    // ...so that fast calls are answered meanwhile, several at once from one thread.
    let mut batch = client.batch();
    let adds: Vec<_> = (0..3)
        .map(|i| {
            let args = postcard::to_allocvec(&(i, 100)).unwrap();
            batch.start(demo::Add::ID, &args, t()).unwrap()
        })
        .collect();
    drop(batch); // sends the three requests in one write
    for (i, add) in adds.into_iter().enumerate() {
        let reply = add.wait().unwrap();
        assert_eq!(wirecall::decode_exact::<i32>(&reply), Ok(i as i32 + 100));
    }
    for i in 0..20 {
        assert_eq!(client.call_typed::<demo::Add>(&(i, 2), t()), Ok(i + 2));
    }
    for sleep in sleeps {
        assert_eq!(sleep.wait(), Ok(Vec::new()));
    }
    drop(client);
    let report = device.join().unwrap();
    assert_host_gone(&report);
    // The adds were answered while all four sleeps were in flight, the sleeps when due.
    let add = demo::Add::ID;
    let sleep = demo::Sleep::ID;
    assert_eq!(report.answered[..23], [add; 23], "{:?}", report.answered);
    assert_eq!(report.answered[23..], [sleep; 4], "{:?}", report.answered);
    assert_eq!(report.max_pending, 4);
}

#[test]
fn input_arriving_one_byte_at_a_time_is_served() {
    let (host_end, device_end) = UnixStream::pair().unwrap();
    let options = Options {
        max_read: Some(1),
        ..Options::default()
    };
    let (counters, device) = spawn_device::<256, 4, 576>(device_end, device_config(), options);
    let client = client(host_end);
    for i in 0..20 {
        assert_eq!(client.call_typed::<demo::Add>(&(i, -1), t()), Ok(i - 1));
    }
    // A frame of COBS blocks with zeros in it, longer than the driver's 64-byte buffer.
    let data: heapless::Vec<u8, 200> = (0..200).map(|i| (i % 7) as u8).collect();
    assert_eq!(
        client.call_typed::<demo::Echo>(&(data.clone(),), t()),
        Ok(data)
    );
    drop(client);
    let report = device.join().unwrap();
    assert_host_gone(&report);
    let bytes = counters.bytes_read.load(Ordering::SeqCst);
    // Every byte came in a read of its own, and the endpoint took each one.
    assert_eq!(counters.largest_read.load(Ordering::SeqCst), 1);
    assert!(counters.reads.load(Ordering::SeqCst) >= bytes);
    assert_eq!(report.stats.bytes_in as usize, bytes);
    assert_eq!(report.stats.requests_received, 21);
    assert_eq!(report.stats.crc_errors + report.stats.framing_errors, 0);
    // The application woke per frame, not per byte.
    assert!(
        report.runs * 8 < bytes,
        "{} runs for {bytes} bytes",
        report.runs
    );
}

/// A raw peer's first words: read the device's Hello, answer with one of its own. The
/// peer advertises `keepalive_ms`.
fn raw_handshake(wire: &mut UnixStream, keepalive_ms: u32) {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    wire.set_read_timeout(Some(PATIENCE)).unwrap();
    while !raw::unframe(&got).iter().flatten().any(|f| f[0] == 0x01) {
        let n = wire.read(&mut buf).unwrap();
        assert!(n > 0, "the device closed before its Hello");
        got.extend_from_slice(&buf[..n]);
    }
    wire.write_all(&raw::frame(&raw::hello(
        false,
        1,
        1,
        1024,
        8,
        8,
        keepalive_ms,
        0,
    )))
    .unwrap();
}

#[test]
fn deadlines_fire_while_no_input_arrives() {
    let (mut peer, device_end) = UnixStream::pair().unwrap();
    let config = device_config().with_keepalive(wirecall::Duration::from_millis(100));
    let options = Options {
        call_with_timeout: Some(Duration::from_millis(50)),
        stop_on_disconnect: true,
        ..Options::default()
    };
    let (counters, device) = spawn_device::<256, 4, 576>(device_end, config, options);
    // The peer completes the handshake, then says nothing at all: only the device's timer
    // can move it from here.
    raw_handshake(&mut peer, 100);
    let report = device.join().unwrap();
    let names: Vec<&str> = report.events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        names,
        [
            "connected".to_string(),
            format!("call failed {:?}", CallFailure::DeadlineExceeded),
            format!("disconnected {:?}", Disconnect::Idle),
        ],
        "{:?}",
        report.events
    );
    // No byte was read between the handshake and the deadline, nor the link's death.
    let reads_at_connect = report.events[0].1;
    assert!(report.events.iter().all(|(_, r)| *r == reads_at_connect));
    assert_eq!(counters.reads.load(Ordering::SeqCst), reads_at_connect);
    assert_eq!(report.stats.calls_timed_out, 1);
    assert_eq!(report.stats.link_losses, 1);
    // The keepalive pings went out while nothing came in, and the call's cancel.
    assert!(report.stats.pings_sent >= 2, "{:?}", report.stats);
    let mut wire = Vec::new();
    peer.set_read_timeout(Some(PATIENCE)).unwrap();
    peer.read_to_end(&mut wire).unwrap(); // the device's task is over: its end is closed
    let frames: Vec<Vec<u8>> = raw::unframe(&wire).into_iter().flatten().collect();
    let pings = frames.iter().filter(|f| f[0] == 0x06).count();
    let cancels = frames.iter().filter(|f| f[0] & 0x1f == 0x05).count();
    assert_eq!(pings as u32, report.stats.pings_sent);
    assert_eq!(cancels, 1);
}

/// The kind, call id and the rest of the body of a frame that has a call id.
fn parse(frame: &[u8]) -> (u8, u32, &[u8]) {
    let mut id = 0u32;
    let mut at = 1;
    for shift in (0..).step_by(7) {
        let b = frame[at];
        at += 1;
        id |= u32::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
    }
    (frame[0] & 0x1f, id, &frame[at..])
}

#[test]
fn input_faster_than_the_endpoint_takes_it_is_not_lost() {
    let (mut peer, device_end) = UnixStream::pair().unwrap();
    // The smallest endpoint there is (48-byte frames, one request at a time, a transmit
    // queue of one frame and a control frame), so that the floods below overrun it.
    let (counters, device) =
        spawn_device::<48, 1, 65>(device_end, device_config(), Options::default());
    raw_handshake(&mut peer, 10_000);
    // 100 calls in one write: the driver reads 64 bytes at a time, several frames, and the
    // endpoint takes one frame per run (its request is answered before the next is read).
    let adds: Vec<u8> = (1..=100u32)
        .flat_map(|id| {
            let args = postcard::to_allocvec(&(id as i32, 1000)).unwrap();
            raw::frame(&raw::request(id, demo::Add::ID, &args))
        })
        .collect();
    // Then 100 slow calls in one write: one is admitted, the 99 others get `Busy`, queued
    // by the endpoint itself faster than its transmit queue (65 bytes) holds them (a
    // 64-byte read holds five requests), so input stalls until the driver has written the
    // queue out.
    let sleeps: Vec<u8> = (101..=200u32)
        .flat_map(|id| raw::frame(&raw::request(id, demo::Sleep::ID, &raw::varint(1000))))
        .collect();
    peer.write_all(&adds).unwrap();
    peer.write_all(&sleeps).unwrap();
    // Every call gets exactly one answer.
    let mut answers = std::collections::BTreeMap::new();
    let mut wire = Vec::new();
    let mut buf = [0u8; 4096];
    peer.set_read_timeout(Some(PATIENCE)).unwrap();
    while answers.len() < 200 {
        let n = peer.read(&mut buf).unwrap();
        assert!(n > 0, "the device closed early: {} answers", answers.len());
        wire.extend_from_slice(&buf[..n]);
        // Frames are whole once their closing delimiter is in.
        let whole = wire.iter().rposition(|&b| b == 0).map_or(0, |i| i + 1);
        for frame in raw::unframe(&wire[..whole]) {
            let frame = frame.expect("every frame intact");
            // Replies and errors; not the Hello or pings.
            if matches!(frame[0] & 0x1f, 0x03 | 0x04) {
                let (kind, id, rest) = parse(&frame);
                assert!(
                    answers.insert(id, (kind, rest.to_vec())).is_none(),
                    "two answers for {id}"
                );
            }
        }
        wire.drain(..whole);
    }
    for id in 1..=100u32 {
        let (kind, body) = &answers[&id];
        assert_eq!(*kind, 0x03, "call {id}");
        assert_eq!(
            wirecall::decode_exact::<i32>(body),
            Ok(id as i32 + 1000),
            "{id}"
        );
    }
    let busy = (101..=200u32)
        .filter(|id| answers[id] == (0x04, vec![WireError::Busy as u8]))
        .count();
    let slept = (101..=200u32)
        .filter(|id| answers[id] == (0x03, vec![]))
        .count();
    assert_eq!((busy, slept), (99, 1));
    drop(peer);
    let report = device.join().unwrap();
    assert_eq!(
        report.stats.bytes_in as usize,
        counters.bytes_read.load(Ordering::SeqCst)
    );
    assert_eq!(report.stats.frames_in, 201);
    assert_eq!(report.stats.crc_errors + report.stats.framing_errors, 0);
    assert_eq!(report.stats.busy_sent, 99);
    assert!(report.stats.backpressure_stalls > 0, "{:?}", report.stats);
}

#[test]
fn runs_dropped_midway_lose_no_byte() {
    let (host_end, device_end) = UnixStream::pair().unwrap();
    // Each run is raced against a yield of the executor and dropped when the yield wins:
    // in the middle of a read, a wait for a deadline, or a write (the UART takes 5 bytes
    // per write and yields before each).
    let options = Options {
        drop_runs: true,
        ..Options::default()
    };
    // No timer on either side for a minute: a run dropped after it fed the end of a frame
    // but before it returned must still wake the application on the next run, or the
    // request would wait for the next byte or deadline, and the call time out.
    let quiet = wirecall::Duration::from_secs(60);
    let config = device_config().with_keepalive(quiet);
    let (counters, device) = spawn_device::<256, 4, 576>(device_end, config, options);
    let client = client_with(host_end, Config::default().with_keepalive(quiet));
    let soon = Some(Duration::from_secs(10));
    for i in 0..100 {
        assert_eq!(client.call_typed::<demo::Add>(&(i, i), soon), Ok(2 * i));
    }
    let data: heapless::Vec<u8, 200> = (0..200).map(|i| (i % 5) as u8).collect();
    assert_eq!(
        client.call_typed::<demo::Echo>(&(data.clone(),), soon),
        Ok(data)
    );
    drop(client);
    let report = device.join().unwrap();
    assert_host_gone(&report);
    assert!(report.dropped > 200, "{} runs dropped", report.dropped);
    assert_eq!(report.stats.requests_received, 101);
    assert_eq!(report.stats.crc_errors + report.stats.framing_errors, 0);
    assert_eq!(
        report.stats.bytes_in as usize,
        counters.bytes_read.load(Ordering::SeqCst)
    );
}

#[test]
fn a_run_dropped_while_writing_still_reports_the_frame_it_fed() {
    let (mut peer, device_end) = UnixStream::pair().unwrap();
    let options = Options {
        drop_runs: true,
        ..Options::default()
    };
    // No timer for a minute on either side: nothing but the driver's own memory can bring
    // the request below to the application.
    let config = device_config().with_keepalive(wirecall::Duration::from_secs(60));
    let (_, device) = spawn_device::<256, 4, 576>(device_end, config, options);
    raw_handshake(&mut peer, 60_000);
    // A ping and a request in one write, so in one read: the endpoint queues the pong and
    // stops at the request's event. The run then writes the pong, yields inside the write
    // and is dropped there, after it fed the request's frame but before it returned.
    let mut burst = raw::frame(&[0x06]);
    let args = postcard::to_allocvec(&(20, 22)).unwrap();
    burst.extend(raw::frame(&raw::request(1, demo::Add::ID, &args)));
    peer.write_all(&burst).unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut wire = Vec::new();
    let mut buf = [0u8; 256];
    let reply = loop {
        let n = peer.read(&mut buf).expect("the reply within 10 s");
        assert!(n > 0, "the device closed early");
        wire.extend_from_slice(&buf[..n]);
        let whole = wire.iter().rposition(|&b| b == 0).map_or(0, |i| i + 1);
        let frames: Vec<Vec<u8>> = raw::unframe(&wire[..whole]).into_iter().flatten().collect();
        if let Some(f) = frames.iter().find(|f| f[0] == 0x03) {
            break f.clone();
        }
    };
    let (_, id, result) = parse(&reply);
    assert_eq!((id, wirecall::decode_exact::<i32>(result)), (1, Ok(42)));
    drop(peer);
    let report = device.join().unwrap();
    assert!(report.dropped > 0);
    assert_eq!(report.stats.pings_received, 1);
}
