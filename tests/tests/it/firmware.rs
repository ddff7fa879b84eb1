//! The example firmware, booted in QEMU (`lm3s6965evb`), called over its UART by the host
//! client: every procedure, garbage on the line, a flood past the in-flight limit, a reset
//! mid-call, and the same through a pty opened with the `serialport` crate. Its sensor
//! channels are remote handles: used over a TCP socket and a socat pty, a released handle
//! sent by a bare core endpoint, and a reset mid-use.

use std::io::Write;
use std::time::Duration;

use wirecall::{CallFailure, CallId, Config, Handle, Procedure, Target, WireError};
use wirecall_adapters::host::{Client, ClientError, ClientOptions, Link};
use wirecall_example_service::device;
use wirecall_tests::engine::{Engine, Owned};
use wirecall_tests::qemu::Qemu;
use wirecall_tests::raw;

fn options() -> ClientOptions {
    ClientOptions {
        config: Config::default().expecting_schema(device::SCHEMA_HASH),
        reconnect: false,
        ..ClientOptions::default()
    }
}

fn t(ms: u64) -> Option<Duration> {
    Some(Duration::from_millis(ms))
}

#[test]
fn every_procedure_of_the_firmware_answers_over_its_uart() {
    let (_qemu, uart) = Qemu::with_socket();
    let client = Client::over(Link::from_unix(uart).unwrap(), options()).unwrap();
    assert_eq!(client.call_typed::<device::Add>(&(40, 2), t(5000)), Ok(42));
    // The device describes itself: the manifest in its flash, fetched in 256-byte frames,
    // is the one the declaration builds, and hashes to what its handshake said.
    assert_eq!(client.manifest(t(5000)).unwrap(), device::MANIFEST);
    assert_eq!(client.peer().unwrap().schema, device::SCHEMA_HASH);
    assert_eq!(
        client.call_typed::<device::Add>(&(i32::MAX, 1), t(5000)),
        Err(ClientError::Remote(WireError::BadArguments, String::new()))
    );
    let data = heapless::Vec::<u8, 64>::from_slice(&[0, 1, 2, 0, 0xff, 0]).unwrap();
    assert_eq!(
        client.call_typed::<device::Echo>(&(data.clone(),), t(5000)),
        Ok(data)
    );
    assert_eq!(client.call_typed::<device::SetLevel>(&(7,), t(5000)), Ok(0));
    assert_eq!(client.call_typed::<device::GetLevel>(&(), t(5000)), Ok(7));
    assert_eq!(client.call_typed::<device::Sleep>(&(50,), t(5000)), Ok(()));
    let first = client.call_typed::<device::Info>(&(), t(5000)).unwrap();
    assert!(first.firmware.starts_with("wirecall-example"), "{first:?}");
    assert!(first.requests >= 6 && first.frames_in >= 7, "{first:?}");
    std::thread::sleep(Duration::from_millis(300));
    let second = client.call_typed::<device::Info>(&(), t(5000)).unwrap();
    assert!(
        second.uptime_ms > first.uptime_ms,
        "the SysTick clock runs: {first:?} then {second:?}"
    );
    assert_eq!(
        client.call(99, &[], t(5000)),
        Err(ClientError::Remote(
            WireError::UnknownProcedure,
            String::new()
        ))
    );
}

#[test]
fn garbage_and_half_frames_on_the_uart_do_not_stop_the_next_call() {
    let (_qemu, uart) = Qemu::with_socket();
    let mut wire = uart.try_clone().unwrap();
    let client = Client::over(Link::from_unix(uart).unwrap(), options()).unwrap();
    assert_eq!(client.call_typed::<device::Add>(&(1, 1), t(5000)), Ok(2));
    // Line noise, a frame cut in half, and a frame with a bad CRC, between calls.
    let half = raw::frame(&raw::request(90, 0, &[2, 4]));
    let mut bad_crc = raw::frame(&raw::request(91, 0, &[2, 4]));
    let n = bad_crc.len();
    bad_crc[n - 2] ^= 0x55;
    wire.write_all(&[0x13, 0x37, 0xff, 0x00, 0x42, 0x99])
        .unwrap();
    wire.write_all(&half[..half.len() / 2]).unwrap();
    wire.write_all(&bad_crc).unwrap();
    assert_eq!(client.call_typed::<device::Add>(&(2, 3), t(5000)), Ok(5));
    let info = client.call_typed::<device::Info>(&(), t(5000)).unwrap();
    assert!(info.crc_errors + info.framing_errors >= 2, "{info:?}");
}

#[test]
fn a_flood_past_the_firmware_in_flight_limit_gets_busy_not_silence() {
    use std::io::Read;
    let (_qemu, mut uart) = Qemu::with_socket();
    // A raw host that ignores the device's limit of 4: handshake, then six slow calls at once.
    uart.write_all(&raw::frame(&raw::hello(false, 1, 1, 1024, 8, 8, 1000, 0)))
        .unwrap();
    let sleeps: Vec<u8> = (100..106u32)
        .flat_map(|id| raw::frame(&raw::request(id, 5, &raw::varint(300))))
        .collect();
    uart.write_all(&sleeps).unwrap();
    uart.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut got = Vec::new();
    let start = std::time::Instant::now();
    let mut buf = [0u8; 256];
    while start.elapsed() < Duration::from_millis(1500) {
        match uart.read(&mut buf) {
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("{e}"),
        }
    }
    let frames: Vec<Vec<u8>> = raw::unframe(&got).into_iter().flatten().collect();
    let busy: Vec<u32> = frames
        .iter()
        .filter(|f| f[0] == 0x04 && f[2] == WireError::Busy as u8)
        .map(|f| u32::from(f[1]))
        .collect();
    let replies: Vec<u32> = frames
        .iter()
        .filter(|f| f[0] == 0x03)
        .map(|f| u32::from(f[1]))
        .collect();
    assert_eq!(busy, [104, 105], "{frames:02x?}");
    assert_eq!(
        replies.len(),
        4,
        "the four admitted calls are answered: {frames:02x?}"
    );
}

#[test]
fn a_reset_of_the_device_mid_call_ends_the_call_and_the_host_carries_on() {
    let (qemu, uart) = Qemu::with_socket();
    let client = Client::over(Link::from_unix(uart).unwrap(), options()).unwrap();
    assert_eq!(client.call_typed::<device::SetLevel>(&(9,), t(5000)), Ok(0));
    let c = client.clone();
    let slow = std::thread::spawn(move || c.call_typed::<device::Sleep>(&(3000,), t(20_000)));
    std::thread::sleep(Duration::from_millis(300));
    qemu.reset();
    // The rebooted device says Hello again: the host's core sees a restart and ends the call.
    assert_eq!(slow.join().unwrap(), Err(ClientError::ConnectionLost));
    // A fresh device (its level is back to 0) answers the next call on the same link.
    assert_eq!(client.call_typed::<device::GetLevel>(&(), t(5000)), Ok(0));
}

#[test]
fn the_firmware_answers_through_a_pty_opened_with_serialport() {
    let qemu = Qemu::with_pty();
    let port = qemu.serial.to_str().unwrap().to_string();
    let first = Link::serial(&port, 115_200).unwrap();
    // The device boots only after `resume`; on a loaded machine that can take longer than
    // the host's idle limit for an unanswered handshake (3 s), after which the host reopens
    // the port, as it would for a real board that is slow to come up.
    let mut first = Some(first);
    let client = Client::connect(
        move || {
            first
                .take()
                .map_or_else(|| Link::serial(&port, 115_200), Ok)
        },
        ClientOptions {
            reconnect: true,
            ..options()
        },
    )
    .unwrap();
    qemu.resume(); // the host has the pty open: nothing the device sends is lost
    let answer = client.call_typed::<device::Add>(&(20, 22), t(10_000));
    assert_eq!(
        answer,
        Ok(42),
        "stats {:?}, handshake failure {:?}",
        client.stats(),
        client.handshake_failure()
    );
    let data = heapless::Vec::<u8, 64>::from_slice(b"through a pty").unwrap();
    assert_eq!(
        client.call_typed::<device::Echo>(&(data.clone(),), t(5000)),
        Ok(data)
    );
}

#[test]
fn the_firmware_streams_sensor_samples_at_the_rate_asked_and_stops_when_dropped() {
    use wirecall_example_service::Reading;
    let (_qemu, uart) = Qemu::with_socket();
    let client = Client::over(Link::from_unix(uart).unwrap(), options()).unwrap();
    // 200 samples a second, 60 of them: in order, never faster than asked by the device's
    // own clock (a fixed schedule; samples held back by credit are late, never bunched),
    // then the end.
    let mut stream = client
        .stream_typed::<device::Sample>(&(200, 60), t(20_000))
        .unwrap();
    let readings: Vec<Reading> = stream.by_ref().map(Result::unwrap).collect();
    assert_eq!(stream.finish(), Ok(()));
    assert_eq!(
        readings.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (0..60).collect::<Vec<_>>()
    );
    for pair in readings.windows(2) {
        assert!(pair[1].at_ms >= pair[0].at_ms, "{pair:?}");
    }
    // 59 periods of 5 ms at least; the clock has millisecond steps.
    let span = readings[59].at_ms - readings[0].at_ms;
    assert!(
        span >= 59 * 5 - 1,
        "60 samples in {span} ms: faster than 200 Hz"
    );
    assert!(readings
        .iter()
        .all(|r| (20_000..=30_000).contains(&r.milli_celsius)));
    // An endless stream, dropped after a few samples: the device stops it (its slot is
    // free again, so four more calls fit at once) and goes on serving.
    let mut endless = client
        .stream_typed::<device::Sample>(&(1000, 0), None)
        .unwrap();
    for _ in 0..20 {
        endless.next().unwrap().unwrap();
    }
    drop(endless);
    let calls: Vec<_> = (0..4)
        .map(|i| {
            client
                .start(device::Add::ID, &raw::varint(0).repeat(2), t(5000))
                .map(|p| (i, p))
        })
        .collect::<Result<_, _>>()
        .unwrap();
    for (_, p) in calls {
        assert_eq!(p.wait(), Ok(vec![0]));
    }
    // A rate out of range is refused.
    assert_eq!(
        client
            .stream_typed::<device::Sample>(&(0, 1), t(5000))
            .unwrap()
            .next(),
        Some(Err(ClientError::Remote(
            WireError::BadArguments,
            String::new()
        )))
    );
}

#[test]
fn the_firmware_calls_back_into_the_host_while_serving_a_call() {
    let (_qemu, uart) = Qemu::with_socket();
    let options = ClientOptions {
        handler: Some(wirecall_tests::demo::host_handler()),
        ..options()
    };
    let client = Client::over(Link::from_unix(uart).unwrap(), options).unwrap();
    // The device serves ask_host by calling the host's add (procedure 0).
    assert_eq!(
        client.call_typed::<device::AskHost>(&(40, 2), t(5000)),
        Ok(42)
    );
    assert_eq!(
        client.call_typed::<device::AskHost>(&(i32::MAX, 1), t(5000)),
        Err(ClientError::Remote(
            WireError::Internal,
            "the call back failed".into()
        ))
    );
    let (stats, _) = client.stats().unwrap();
    assert_eq!(stats.requests_received, 2, "the device's two calls back");
}

/// The firmware's sensor channels as a holder uses them through the typed client: open,
/// read, configure, the four slots, release on drop, revoke, pipelining.
fn exercise_channels(client: &Client) {
    let dev = device::Client::new(client.clone()).with_timeout(Duration::from_secs(5));
    let bad = |e: ClientError| matches!(e, ClientError::Remote(WireError::BadArguments, _));
    let temp = dev.open_channel(0).unwrap();
    assert!((20_000..=30_000).contains(&temp.read().unwrap()));
    assert_eq!(temp.configure(16), Ok(1), "one sample a read at first");
    assert_eq!(temp.configure(8), Ok(16));
    assert!((20_000..=30_000).contains(&temp.read().unwrap()));
    assert!(bad(temp.configure(0).unwrap_err()));
    assert!(bad(temp.configure(65).unwrap_err()));
    let volts = dev.open_channel(1).unwrap();
    assert!((3_251..=3_300).contains(&volts.read().unwrap()));
    assert!(bad(dev.open_channel(2).unwrap_err()), "no such sensor");

    // Four slots: a fifth channel is refused, explicitly; dropping one frees its slot.
    let a = dev.open_channel(0).unwrap();
    let b = dev.open_channel(1).unwrap();
    assert!(matches!(
        dev.open_channel(0),
        Err(ClientError::Remote(WireError::TooManyHandles, _))
    ));
    let b_handle = b.remote().handle().unwrap();
    drop(b);
    let c = dev.open_channel(1).unwrap();
    let c_handle = c.remote().handle().unwrap();
    assert_eq!(c_handle.slot(), b_handle.slot(), "b's slot, free again");
    assert_ne!(c_handle.generation(), b_handle.generation());
    assert!((3_251..=3_300).contains(&c.read().unwrap()));

    // Powering the temperature sensor down revokes its two channels: their holders are
    // told without calling them, and calls on them fail without being sent.
    assert_eq!(dev.power_down(0), Ok(2));
    for ch in [&temp, &a] {
        assert_eq!(
            ch.remote().wait_revoked(Duration::from_secs(5)),
            Some((WireError::Revoked, "powered down".to_string()))
        );
    }
    let (sent, _) = client.stats().unwrap();
    match temp.read() {
        Err(ClientError::Remote(WireError::StaleHandle, detail)) => {
            assert!(detail.contains("powered down"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.stats().unwrap().0.calls_sent, sent.calls_sent);
    // The voltage channels live on; the two slots are free again.
    assert_eq!(volts.remote().revoked(), None);
    assert!((3_251..=3_300).contains(&volts.read().unwrap()));
    assert!(bad(dev.power_down(3).unwrap_err()));
    let d = dev.open_channel(0).unwrap();
    let e = dev.open_channel(0).unwrap();
    assert!(matches!(
        dev.open_channel(1),
        Err(ClientError::Remote(WireError::TooManyHandles, _))
    ));
    // Revoked handles need no release (their objects are gone); the rest are released.
    drop((temp, a, volts, c, d, e));

    // Pipelined: the open returns at once, and a call on its channel leaves at once too,
    // naming "the handle that the open returns"; an open that fails fails its calls.
    let piped = dev.clone().pipelined();
    let ch = piped.open_channel(0).unwrap();
    assert_eq!(ch.configure(4), Ok(1));
    assert!((20_000..=30_000).contains(&ch.read().unwrap()));
    assert_eq!(ch.remote().handle().unwrap().slot(), 0, "every slot free");
    let none = piped.open_channel(7).unwrap();
    assert!(matches!(
        none.configure(2),
        Err(ClientError::Remote(WireError::StaleHandle, _))
    ));
    assert!(bad(none.remote().handle().unwrap_err()));
}

#[test]
fn the_firmware_serves_sensor_channels_as_handles_over_tcp() {
    let (_qemu, uart) = Qemu::with_tcp();
    let client = Client::over(Link::from_tcp(uart).unwrap(), options()).unwrap();
    exercise_channels(&client);
}

#[test]
fn the_firmware_serves_sensor_channels_as_handles_through_a_socat_pty() {
    let qemu = Qemu::with_socat_pty();
    let port = qemu.serial.to_str().unwrap().to_string();
    let client = Client::over(Link::serial(&port, 115_200).unwrap(), options()).unwrap();
    exercise_channels(&client);
}

/// A host made of a bare core endpoint on the firmware's UART socket: it sends what the
/// host runtime never would, such as a method call on a handle it released.
struct CoreHost {
    ep: crate::common::Host,
    uart: std::os::unix::net::UnixStream,
    start: std::time::Instant,
    events: Vec<Owned>,
}

impl CoreHost {
    fn connect(uart: std::os::unix::net::UnixStream) -> CoreHost {
        uart.set_read_timeout(t(10)).unwrap();
        let config = Config::default()
            .with_handles()
            .expecting_schema(device::SCHEMA_HASH);
        let mut host = CoreHost {
            ep: crate::common::Host::new(wirecall::Instant::ZERO, config),
            uart,
            start: std::time::Instant::now(),
            events: Vec::new(),
        };
        host.until(|e| matches!(e, Owned::Connected(_)));
        host
    }

    fn now(&self) -> wirecall::Instant {
        wirecall::Instant::from_micros(self.start.elapsed().as_micros() as u64)
    }

    /// Moves bytes both ways and runs deadlines until an event matches `done` (at most
    /// 10 s); takes that event out of the log.
    fn until(&mut self, mut done: impl FnMut(&Owned) -> bool) -> Owned {
        use std::io::Read;
        let give_up = std::time::Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 512];
        loop {
            self.flush();
            if let Some(at) = self.events.iter().position(&mut done) {
                return self.events.remove(at);
            }
            assert!(
                std::time::Instant::now() < give_up,
                "no such event: {:?}",
                self.events
            );
            let n = match self.uart.read(&mut buf) {
                Ok(0) => panic!("the UART socket closed"),
                Ok(n) => n,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    0
                }
                Err(e) => panic!("{e}"),
            };
            let now = self.now();
            let mut bytes = &buf[..n];
            while !bytes.is_empty() {
                let used = self.ep.handle_input(now, bytes);
                bytes = &bytes[used..];
                self.drain();
                if used == 0 {
                    self.flush(); // backpressure: the transmit queue is full
                }
            }
            if self.ep.poll_timeout().is_some_and(|d| d <= now) {
                self.ep.handle_timeout(now);
                self.drain();
            }
        }
    }

    /// Writes out what the endpoint has to send.
    fn flush(&mut self) {
        let mut out = [0u8; 512];
        loop {
            let n = self.ep.poll_transmit(&mut out);
            if n == 0 {
                return;
            }
            self.uart.write_all(&out[..n]).unwrap();
        }
    }

    fn drain(&mut self) {
        while let Some(ev) = Engine::poll_event(&mut self.ep) {
            self.events.push(ev);
        }
    }

    /// Waits for the outcome of call `id`.
    fn outcome(&mut self, id: CallId) -> Result<Vec<u8>, CallFailure> {
        match self.until(|e| {
            matches!(e, Owned::Reply { id: got, .. } | Owned::CallFailed { id: got, .. } if *got == id)
        }) {
            Owned::Reply { payload, .. } => Ok(payload),
            Owned::CallFailed { reason, .. } => Err(reason),
            _ => unreachable!("matched above"),
        }
    }

    fn open(&mut self, kind: u8) -> Handle {
        let now = self.now();
        let id = Engine::call(&mut self.ep, now, device::OpenChannel::ID, &[kind], None).unwrap();
        wirecall::decode_exact(&self.outcome(id).unwrap()).unwrap()
    }

    fn read(&mut self, on: Handle) -> Result<i32, CallFailure> {
        let now = self.now();
        let id = Engine::invoke(
            &mut self.ep,
            now,
            Target::Handle(on),
            device::Channel::Read::ID,
            &[],
        )
        .unwrap();
        self.outcome(id)
            .map(|bytes| wirecall::decode_exact(&bytes).unwrap())
    }
}

#[test]
fn a_released_handle_is_stale_on_the_firmware_and_never_reaches_the_next_channel_in_its_slot() {
    let (_qemu, uart) = Qemu::with_socket();
    let mut host = CoreHost::connect(uart);
    let temp = host.open(0);
    assert!((20_000..=30_000).contains(&host.read(temp).unwrap()));
    Engine::release(&mut host.ep, temp).unwrap();
    // The release leaves before the next open, so the device has freed the slot by then:
    // the new channel gets it, at a new generation.
    let volts = host.open(1);
    assert_eq!(volts.slot(), temp.slot());
    assert_ne!(volts.generation(), temp.generation());
    // A call with the old handle is refused by the device, and never reaches the new
    // channel in its slot; a second release of it changes nothing.
    assert_eq!(
        host.read(temp),
        Err(CallFailure::Remote(WireError::StaleHandle))
    );
    Engine::release(&mut host.ep, temp).unwrap();
    assert!((3_251..=3_300).contains(&host.read(volts).unwrap()));
}

#[test]
fn a_reset_of_the_device_makes_its_channels_stale_and_a_new_open_works() {
    let (qemu, uart) = Qemu::with_socket();
    let client = Client::over(Link::from_unix(uart).unwrap(), options()).unwrap();
    let dev = device::Client::new(client.clone()).with_timeout(Duration::from_secs(5));
    let temp = dev.open_channel(0).unwrap();
    assert_eq!(temp.configure(4), Ok(1));
    assert!((20_000..=30_000).contains(&temp.read().unwrap()));
    // A slow call in flight ends when the rebooted device says Hello again: then the
    // host knows the session is over.
    let before = client.stats().unwrap().0.calls_sent;
    let c = client.clone();
    let slow = std::thread::spawn(move || c.call_typed::<device::Sleep>(&(10_000,), t(20_000)));
    // Once the call has started (the client's statistics count it).
    let give_up = std::time::Instant::now() + Duration::from_secs(10);
    while client.stats().unwrap().0.calls_sent == before {
        assert!(
            std::time::Instant::now() < give_up,
            "the sleep was not sent"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    qemu.reset();
    assert_eq!(slow.join().unwrap(), Err(ClientError::ConnectionLost));
    // The channel went with the old session: a call on it fails without being sent.
    let (sent, _) = client.stats().unwrap();
    assert!(matches!(
        temp.read(),
        Err(ClientError::Remote(WireError::StaleHandle, _))
    ));
    assert_eq!(client.stats().unwrap().0.calls_sent, sent.calls_sent);
    drop(temp); // no release: its object went with the session
                // The fresh device has every slot free: four new channels, the first at slot 0, one
                // sample a read again.
    let fresh: Vec<_> = (0..4).map(|i| dev.open_channel(i % 2).unwrap()).collect();
    assert_eq!(fresh[0].remote().handle().unwrap().slot(), 0);
    assert_eq!(fresh[0].configure(2), Ok(1));
    assert!((20_000..=30_000).contains(&fresh[0].read().unwrap()));
}
