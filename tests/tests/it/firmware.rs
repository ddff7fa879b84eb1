//! The example firmware, booted in QEMU (`lm3s6965evb`), called over its UART by the host
//! client: every procedure, garbage on the line, a flood past the in-flight limit, a reset
//! mid-call, and the same through a pty opened with the `serialport` crate.

use std::io::Write;
use std::time::Duration;

use wirecall::{Config, Procedure, WireError};
use wirecall_adapters::host::{Client, ClientError, ClientOptions, Link};
use wirecall_example_service::device;
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
