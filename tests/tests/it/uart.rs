//! The firmware driver (`wirecall_adapters::uart`, `no_std`) over a real byte stream: a
//! loopback TCP connection stands in for the UART wire, wrapped in the `embedded-io` traits the
//! way a HAL's UART is, with `read_ready` answered by a non-blocking peek. The host side is
//! the ordinary host client.

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wirecall::{Config, Event};
use wirecall_adapters::host::{Client, ClientOptions, Link};
use wirecall_adapters::uart::{Clock, UartDriver};
use wirecall_tests::demo::{demo, DemoDevice};

/// One end of the socket pair as an `embedded-io` UART.
struct SocketUart(TcpStream);

impl embedded_io::ErrorType for SocketUart {
    type Error = std::io::Error;
}

impl embedded_io::Read for SocketUart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, std::io::Error> {
        std::io::Read::read(&mut self.0, buf)
    }
}

impl embedded_io::ReadReady for SocketUart {
    fn read_ready(&mut self) -> Result<bool, std::io::Error> {
        self.0.set_nonblocking(true)?;
        let ready = match self.0.peek(&mut [0u8; 1]) {
            Ok(n) => Ok(n > 0),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        };
        self.0.set_nonblocking(false)?;
        ready
    }
}

impl embedded_io::Write for SocketUart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, std::io::Error> {
        std::io::Write::write(&mut self.0, buf)
    }
    fn flush(&mut self) -> Result<(), std::io::Error> {
        Ok(())
    }
}

/// A SysTick stand-in.
struct MonotonicClock(std::time::Instant);

impl Clock for MonotonicClock {
    fn now_micros(&mut self) -> u64 {
        self.0.elapsed().as_micros() as u64
    }
}

#[test]
fn the_firmware_driver_serves_a_host_over_an_embedded_io_uart() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host_end = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (device_end, _) = listener.accept().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let firmware = std::thread::spawn(move || {
        // The firmware's main loop, as in the module docs.
        let config = Config::default().with_manifest(&demo::MANIFEST);
        let mut driver: UartDriver<_, _> = UartDriver::new(
            SocketUart(device_end),
            MonotonicClock(std::time::Instant::now()),
            config,
        );
        let mut device = DemoDevice::default();
        let mut out = [0u8; 256];
        while !stop2.load(Ordering::SeqCst) {
            driver.poll().unwrap();
            while let Some(event) = driver.endpoint().poll_event() {
                if let Event::Request {
                    id,
                    procedure,
                    args,
                    ..
                } = event
                {
                    let answer = demo::dispatch(&mut device, procedure, args, &mut out);
                    let ep = driver.endpoint();
                    match answer {
                        Ok(n) => ep.respond(id, &out[..n]).unwrap(),
                        Err(e) => ep.respond_error(id, e, "").unwrap(),
                    }
                }
            }
            if driver.is_idle() {
                std::thread::sleep(Duration::from_micros(200)); // WFI
            }
        }
        *driver.endpoint().stats()
    });
    let options = ClientOptions {
        config: Config::default().expecting_schema(demo::SCHEMA_HASH),
        ..ClientOptions::default()
    };
    let client = Client::over(Link::from_tcp(host_end).unwrap(), options).unwrap();
    for i in 0..50 {
        assert_eq!(client.call_typed::<demo::Add>(&(i, 1), None), Ok(i + 1));
    }
    let data = heapless::Vec::<u8, 200>::from_slice(&[0u8, 1, 2, 0, 255]).unwrap();
    assert_eq!(
        client.call_typed::<demo::Echo>(&(data.clone(),), None),
        Ok(data)
    );
    drop(client);
    stop.store(true, Ordering::SeqCst);
    let stats = firmware.join().unwrap();
    assert_eq!(stats.requests_received, 51);
    assert_eq!(stats.crc_errors + stats.framing_errors, 0);
}
