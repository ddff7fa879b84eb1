//! The example firmware, booted in QEMU (`lm3s6965evb`), called over its UART by the host
//! client: every procedure, garbage on the line, a flood past the in-flight limit, a reset
//! mid-call, and the same through a pty opened with the `serialport` crate.

use std::io::Write;
use std::time::Duration;

use wirecall::{Config, WireError};
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
