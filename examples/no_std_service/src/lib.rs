//! A device's service as firmware builds it: `#![no_std]`, no allocator, no threads.
//!
//! * [`thermostat`]: the service, declared with `service!` in types a microcontroller has
//!   (integers, a `#[derive(Schema)]` struct, `heapless::String` and `heapless::Vec` with
//!   their bounds, which the decoder enforces and the manifest states).
//! * [`Thermostat`]: the device's side, the generated `thermostat::Handler`: one
//!   `&mut self` method per procedure.
//! * [`drive`]: the firmware's main loop over a UART ([`UartDriver`], any embedded-io
//!   UART): bytes in and out, deadlines, and each request answered through the generated
//!   `dispatch_request`.
//!
//! On a board, `main` sets up the UART and a clock and hands them to [`drive`]:
//!
//! ```text
//! let config = Config::default().with_manifest(&thermostat::MANIFEST);
//! let mut driver: UartDriver<_, _> = UartDriver::new(uart, SysTickClock::new(), config);
//! let mut device = Thermostat::new(21_000);
//! drive(&mut driver, &mut device, |driver, device| {
//!     device.record(read_sensor());
//!     // Masked, so no interrupt slips in between the check and the sleep; a pending one
//!     // still wakes WFI.
//!     cortex_m::interrupt::free(|_| if driver.is_idle() { cortex_m::asm::wfi() });
//!     ControlFlow::Continue(())
//! })
//! ```
//!
//! Build it for a microcontroller (what `./ci.sh` does):
//! `cargo build -p wirecall-example-no-std --target thumbv6m-none-eabi` (or
//! `thumbv7em-none-eabihf`). On the host, `cargo test -p wirecall-example-no-std` runs it
//! against a host endpoint over an in-memory UART. `firmware-example/` is a whole
//! firmware built this way, run under QEMU.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use core::ops::ControlFlow;

use embedded_io::{Read, ReadReady, Write};
use serde::{Deserialize, Serialize};
use wirecall::{Dispatched, Event, WireError};
use wirecall_adapters::uart::{Clock, UartDriver, UartError};

/// What `status` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, wirecall::Schema)]
pub struct Status {
    /// The temperature it heats to, in milli-degrees Celsius.
    pub target_milli_c: i32,
    /// The latest reading, in milli-degrees Celsius.
    pub latest_milli_c: i32,
    /// Whether the heater is on (the latest reading is below the target).
    pub heating: bool,
    /// Milliseconds since boot.
    pub uptime_ms: u64,
}

wirecall::service! {
    /// A thermostat: a target temperature, a name, and its latest readings.
    pub mod thermostat {
        /// Sets the target, in milli-degrees Celsius (5 to 30 degrees); returns the
        /// previous one.
        0 => SetTarget: fn set_target(milli_c: i32) -> i32;
        /// The state now.
        1 => GetStatus: fn status() -> Status;
        /// Renames the device (at most 16 bytes of UTF-8); returns the old name.
        2 => Rename: fn rename(name: heapless::String<16>) -> heapless::String<16>;
        /// The latest `count` readings, oldest first (at most 8).
        3 => Readings: fn readings(count: u8) -> heapless::Vec<i32, 8>;
    }
}

/// How many readings the device keeps.
const KEPT: usize = 8;

/// The device: its state, and its answers to calls.
#[derive(Debug)]
pub struct Thermostat {
    target_milli_c: i32,
    name: heapless::String<16>,
    /// The latest readings, oldest overwritten first.
    readings: heapless::HistoryBuf<i32, KEPT>,
    uptime_ms: u64,
}

impl Thermostat {
    /// A thermostat heating to `target_milli_c`, with no readings yet.
    pub fn new(target_milli_c: i32) -> Self {
        Thermostat {
            target_milli_c,
            name: heapless::String::new(),
            readings: heapless::HistoryBuf::new(),
            uptime_ms: 0,
        }
    }

    /// Takes a reading of the sensor (the firmware calls it from its loop).
    pub fn record(&mut self, milli_c: i32) {
        self.readings.write(milli_c);
    }

    /// Whether the heater should be on.
    pub fn heating(&self) -> bool {
        self.readings
            .recent()
            .is_some_and(|&latest| latest < self.target_milli_c)
    }
}

impl thermostat::Handler for Thermostat {
    fn set_target(&mut self, milli_c: i32) -> Result<i32, WireError> {
        if !(5_000..=30_000).contains(&milli_c) {
            return Err(WireError::BadArguments);
        }
        Ok(core::mem::replace(&mut self.target_milli_c, milli_c))
    }

    fn status(&mut self) -> Result<Status, WireError> {
        Ok(Status {
            target_milli_c: self.target_milli_c,
            latest_milli_c: self.readings.recent().copied().unwrap_or(0),
            heating: self.heating(),
            uptime_ms: self.uptime_ms,
        })
    }

    fn rename(&mut self, name: heapless::String<16>) -> Result<heapless::String<16>, WireError> {
        // The decoder already refused a name over 16 bytes (`BadArguments`).
        Ok(core::mem::replace(&mut self.name, name))
    }

    fn readings(&mut self, count: u8) -> Result<heapless::Vec<i32, 8>, WireError> {
        let skip = self.readings.len().saturating_sub(usize::from(count));
        // At most KEPT (8) readings are kept, so they always fit.
        Ok(self.readings.oldest_ordered().skip(skip).copied().collect())
    }
}

// Each answer fits the transmit queue whatever arrives: at most IN (4) requests are in
// flight at the driver's defaults, and a reply frame is at most MAX_REPLY_LEN bytes plus
// its header, call id and CRC (10 bytes), encoded. Half of the 576-byte queue stays free
// for control frames. A service with larger results needs a larger `TX`.
const _: () = assert!(4 * wirecall::max_encoded_len(thermostat::MAX_REPLY_LEN + 10) <= 576 / 2);

/// Runs the device: the firmware's main loop. Each turn moves the UART's bytes and runs
/// the endpoint's deadlines ([`UartDriver::poll`]), answers every request that arrived,
/// then calls `between(driver, device)`: a board takes its readings there and sleeps
/// until the next interrupt when [`UartDriver::is_idle`] (see the crate docs); a test
/// moves bytes and time. `between` returning `Break` ends the loop; a UART error ends it
/// too.
pub fn drive<U, C>(
    driver: &mut UartDriver<U, C>,
    device: &mut Thermostat,
    mut between: impl FnMut(&mut UartDriver<U, C>, &mut Thermostat) -> ControlFlow<()>,
) -> Result<(), UartError<U::Error>>
where
    U: Read + Write + ReadReady,
    C: Clock,
{
    let mut out = [0u8; thermostat::MAX_REPLY_LEN];
    loop {
        driver.poll()?;
        device.uptime_ms = driver.now().as_micros() / 1000;
        let endpoint = driver.endpoint();
        while let Some(event) = endpoint.poll_event() {
            // Requests are this device's only business: it makes no calls of its own.
            let Event::Request {
                id,
                procedure,
                args,
                mode,
                export,
            } = event
            else {
                continue;
            };
            // Decodes the arguments (borrowed from the receive buffer), calls the
            // handler's method, encodes its result into `out`.
            let answer =
                thermostat::dispatch_request(device, id, mode, procedure, args, export, &mut out);
            // The transmit queue has room (see the assertion above): these succeed.
            let _ = match answer {
                Ok(Dispatched::Reply(n)) => endpoint.respond(id, out.get(..n).unwrap_or(&[])),
                // This service has no streams or handles; a device with one would start
                // the stream here, or answer with `respond_export`.
                Ok(Dispatched::Stream | Dispatched::Export { .. }) => Ok(()),
                Err(e) => endpoint.respond_error(id, e, ""),
            };
        }
        if between(driver, device).is_break() {
            return Ok(());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    //! The device against a host endpoint, over an in-memory UART, on a clock the test moves.

    use std::cell::{Cell, RefCell};
    use std::collections::VecDeque;
    use std::convert::Infallible;
    use std::rc::Rc;

    use wirecall::{CallId, Config, Endpoint, Instant, Procedure};

    use super::*;

    type Wire = Rc<RefCell<VecDeque<u8>>>;

    /// The device's end of the line.
    struct Uart {
        rx: Wire,
        tx: Wire,
    }

    impl embedded_io::ErrorType for Uart {
        type Error = Infallible;
    }

    impl ReadReady for Uart {
        fn read_ready(&mut self) -> Result<bool, Infallible> {
            Ok(!self.rx.borrow().is_empty())
        }
    }

    impl Read for Uart {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
            let mut rx = self.rx.borrow_mut();
            let n = buf.len().min(rx.len());
            for (slot, byte) in buf.iter_mut().zip(rx.drain(..n)) {
                *slot = byte;
            }
            Ok(n)
        }
    }

    impl Write for Uart {
        fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
            self.tx.borrow_mut().extend(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> Result<(), Infallible> {
            Ok(())
        }
    }

    #[derive(Clone, Default)]
    struct TestClock(Rc<Cell<u64>>);

    impl Clock for TestClock {
        fn now_micros(&mut self) -> u64 {
            self.0.get()
        }
    }

    /// The host's side: calls `procedure` with `args` once the session is up and returns
    /// the reply's payload (or the failure), running the device meanwhile.
    fn call_device(
        device: &mut Thermostat,
        procedure: u32,
        args: &[u8],
    ) -> Result<Vec<u8>, WireError> {
        let (to_device, to_host) = (Wire::default(), Wire::default());
        let clock = TestClock::default();
        let uart = Uart {
            rx: to_device.clone(),
            tx: to_host.clone(),
        };
        let config = Config::default().with_manifest(&thermostat::MANIFEST);
        let mut driver: UartDriver<_, _> = UartDriver::new(uart, clock.clone(), config);
        let mut host: Endpoint = Endpoint::new(
            Instant::ZERO,
            Config::default().expecting_schema(thermostat::SCHEMA_HASH),
        );
        let mut call: Option<CallId> = None;
        let mut outcome = None;
        drive(&mut driver, device, |_, _| {
            let now = Instant::from_micros(clock.0.get());
            let bytes: Vec<u8> = to_host.borrow_mut().drain(..).collect();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                rest = &rest[host.handle_input(now, rest)..];
                while let Some(event) = host.poll_event() {
                    match event {
                        Event::Reply { id, payload } if Some(id) == call => {
                            outcome = Some(Ok(payload.to_vec()));
                        }
                        Event::CallFailed { id, reason, .. } if Some(id) == call => {
                            outcome = Some(Err(match reason {
                                wirecall::CallFailure::Remote(e) => e,
                                _ => WireError::Internal,
                            }));
                        }
                        _ => {}
                    }
                }
            }
            if host.is_connected() && call.is_none() {
                call = Some(host.call(now, procedure, args).unwrap());
            }
            let mut buf = [0u8; 64];
            loop {
                let n = host.poll_transmit(&mut buf);
                if n == 0 {
                    break;
                }
                to_device.borrow_mut().extend(&buf[..n]);
            }
            assert!(clock.0.get() < 1_000_000, "no answer within a second");
            clock.0.set(clock.0.get() + 100);
            if outcome.is_some() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
        outcome.unwrap()
    }

    fn args<P: Procedure>(args: &P::Args<'_>) -> Vec<u8> {
        postcard::to_allocvec(args).unwrap()
    }

    #[test]
    fn every_procedure_answers_through_the_uart() {
        let mut device = Thermostat::new(20_000);
        for reading in [19_000, 19_500, 20_500] {
            device.record(reading);
        }
        let previous = call_device(
            &mut device,
            thermostat::SetTarget::ID,
            &args::<thermostat::SetTarget>(&(21_000,)),
        );
        assert_eq!(
            thermostat::SetTarget::output(&previous.unwrap()),
            Ok(20_000)
        );
        let status = call_device(&mut device, thermostat::GetStatus::ID, &[]).unwrap();
        let status = thermostat::GetStatus::output(&status).unwrap();
        assert_eq!(
            (status.target_milli_c, status.latest_milli_c, status.heating),
            (21_000, 20_500, true)
        );
        let name = heapless::String::try_from("attic").unwrap();
        let old = call_device(
            &mut device,
            thermostat::Rename::ID,
            &args::<thermostat::Rename>(&(name,)),
        )
        .unwrap();
        assert_eq!(thermostat::Rename::output(&old).unwrap(), "");
        let last_two = call_device(&mut device, thermostat::Readings::ID, &[2]).unwrap();
        assert_eq!(
            thermostat::Readings::output(&last_two).unwrap(),
            [19_500, 20_500]
        );
    }

    #[test]
    fn the_device_refuses_what_it_cannot_do() {
        let mut device = Thermostat::new(20_000);
        let too_hot = args::<thermostat::SetTarget>(&(90_000,));
        assert_eq!(
            call_device(&mut device, thermostat::SetTarget::ID, &too_hot),
            Err(WireError::BadArguments)
        );
        // 17 bytes: over the declared bound, refused by the decoder before the handler.
        let long = postcard::to_allocvec(&("seventeen bytes!!",)).unwrap();
        assert_eq!(
            call_device(&mut device, thermostat::Rename::ID, &long),
            Err(WireError::BadArguments)
        );
        assert_eq!(
            call_device(&mut device, 9, &[]),
            Err(WireError::UnknownProcedure)
        );
    }
}
