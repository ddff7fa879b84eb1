//! A blocking driver for firmware: one [`Endpoint`] over a UART that implements the
//! `embedded-io` traits, with time from a [`Clock`] the firmware provides.
//!
//! `no_std`, no allocation. It moves bytes and time and nothing else; every protocol
//! decision stays in the core. The firmware's main loop:
//!
//! ```text
//! loop {
//!     driver.poll()?;                                   // bytes in and out, deadlines
//!     while let Some(event) = driver.endpoint().poll_event() {
//!         // answer requests with driver.endpoint().respond(..) after the event
//!     }
//!     // Masked, so no interrupt slips in between the check and the sleep; a pending one
//!     // still wakes WFI.
//!     cortex_m::interrupt::free(|_| if driver.is_idle() { cortex_m::asm::wfi() });
//! }
//! ```
//!
//! Contract with the UART: `read_ready` says whether `read` would return at least one byte
//! without blocking (so `poll` never blocks on input); `write_all` may block until the bytes
//! are in the UART's FIFO (output is small and bounded by the transmit queue).

use embedded_io::{Read, ReadReady, Write};
use wirecall::{Config, Endpoint, Instant};

/// The firmware's clock: microseconds since boot, never going backwards (a SysTick counter).
///
/// A 32-bit millisecond tick wraps after 49 days; a clock that carries the wraps keeps
/// deadlines right forever (the tick is read from a `static` that the SysTick interrupt
/// increments):
///
/// ```
/// use core::sync::atomic::{AtomicU32, Ordering};
/// use wirecall_adapters::uart::Clock;
///
/// static MILLIS: AtomicU32 = AtomicU32::new(0); // += 1 in the SysTick interrupt
///
/// struct SysTickClock {
///     last: u32,
///     wraps: u64,
/// }
/// impl Clock for SysTickClock {
///     fn now_micros(&mut self) -> u64 {
///         let ms = MILLIS.load(Ordering::Relaxed);
///         if ms < self.last {
///             self.wraps += 1; // called at least once per 49 days: by every poll
///         }
///         self.last = ms;
///         ((self.wraps << 32) + u64::from(ms)) * 1000
///     }
/// }
///
/// let mut clock = SysTickClock { last: 0, wraps: 0 };
/// MILLIS.store(u32::MAX, Ordering::Relaxed);
/// let before = clock.now_micros();
/// MILLIS.store(1, Ordering::Relaxed); // the tick wrapped: 2 ms later
/// assert_eq!(clock.now_micros() - before, 2000);
/// ```
pub trait Clock {
    /// Microseconds since boot.
    fn now_micros(&mut self) -> u64;
}

/// Why [`UartDriver::poll`] failed: the UART reported an error.
#[derive(Debug)]
pub struct UartError<E>(pub E);

impl<E: core::fmt::Debug> core::fmt::Display for UartError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "the UART failed: {:?}", self.0)
    }
}

impl<E: core::fmt::Debug> core::error::Error for UartError<E> {}

/// An endpoint bound to a UART and a clock. See the module docs.
///
/// The const parameters are the endpoint's (`Endpoint<FRAME, IN, OUT, TX>`), at the
/// microcontroller defaults unless given. Here a device and a host, each a driver, over an
/// in-memory serial line; on a board the UART is the HAL's (anything with embedded-io's
/// `Read + Write + ReadReady`) and the loop is the firmware's main loop.
///
/// ```
/// use std::cell::{Cell, RefCell};
/// use std::collections::VecDeque;
/// use std::convert::Infallible;
/// use std::rc::Rc;
/// use wirecall::{Config, Dispatched, Event, Procedure, WireError};
/// use wirecall_adapters::uart::{Clock, UartDriver};
///
/// wirecall::service! {
///     pub mod calc {
///         0 => Add: fn add(a: i32, b: i32) -> i32;
///     }
/// }
/// struct Device;
/// impl calc::Handler for Device {
///     fn add(&mut self, a: i32, b: i32) -> Result<i32, WireError> {
///         a.checked_add(b).ok_or(WireError::BadArguments)
///     }
/// }
///
/// /// One direction of an in-memory serial line.
/// type Wire = Rc<RefCell<VecDeque<u8>>>;
/// /// One end of the line: it reads what the other end wrote.
/// struct Uart {
///     rx: Wire,
///     tx: Wire,
/// }
/// impl embedded_io::ErrorType for Uart {
///     type Error = Infallible;
/// }
/// impl embedded_io::ReadReady for Uart {
///     fn read_ready(&mut self) -> Result<bool, Infallible> {
///         Ok(!self.rx.borrow().is_empty())
///     }
/// }
/// impl embedded_io::Read for Uart {
///     fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
///         let mut rx = self.rx.borrow_mut();
///         let n = buf.len().min(rx.len());
///         for (slot, byte) in buf.iter_mut().zip(rx.drain(..n)) {
///             *slot = byte;
///         }
///         Ok(n)
///     }
/// }
/// impl embedded_io::Write for Uart {
///     fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
///         self.tx.borrow_mut().extend(buf);
///         Ok(buf.len())
///     }
///     fn flush(&mut self) -> Result<(), Infallible> {
///         Ok(())
///     }
/// }
///
/// /// A clock that the test moves: both ends share it.
/// #[derive(Clone, Default)]
/// struct TestClock(Rc<Cell<u64>>);
/// impl Clock for TestClock {
///     fn now_micros(&mut self) -> u64 {
///         self.0.get()
///     }
/// }
///
/// let (a, b) = (Wire::default(), Wire::default());
/// let clock = TestClock::default();
/// let device_config = Config::default().with_manifest(&calc::MANIFEST);
/// let mut device: UartDriver<_, _> = UartDriver::new(Uart { rx: a.clone(), tx: b.clone() }, clock.clone(), device_config);
/// let host_config = Config::default().expecting_schema(calc::SCHEMA_HASH);
/// let mut host: UartDriver<_, _> = UartDriver::new(Uart { rx: b, tx: a }, clock.clone(), host_config);
///
/// let mut sum = None;
/// while sum.is_none() {
///     // The device's main loop, one turn: the UART, then requests answered.
///     let _ = device.poll(); // Infallible: this UART has no errors
///     let mut out = [0u8; calc::MAX_REPLY_LEN];
///     let ep = device.endpoint();
///     while let Some(event) = ep.poll_event() {
///         if let Event::Request { id, mode, procedure, args, export } = event {
///             let _ = match calc::dispatch_request(&mut Device, id, mode, procedure, args, export, &mut out) {
///                 Ok(Dispatched::Reply(n)) => ep.respond(id, &out[..n]),
///                 Ok(_) => Ok(()), // no streams or handles in this service
///                 Err(e) => ep.respond_error(id, e, ""),
///             };
///         }
///     }
///     // The host's: it calls once the session is up, and takes the reply.
///     let _ = host.poll();
///     let now = host.now();
///     while let Some(event) = host.endpoint().poll_event() {
///         match event {
///             Event::Connected(_) => {
///                 host.endpoint().call(now, calc::Add::ID, calc::Add::args(&(40, 2))).expect("connected");
///             }
///             Event::Reply { payload, .. } => sum = Some(calc::Add::output(payload)),
///             _ => {}
///         }
///     }
///     assert!(clock.0.get() < 1_000_000, "no answer within a second");
///     clock.0.set(clock.0.get() + 100); // 100 µs pass
/// }
/// assert_eq!(sum, Some(Ok(42)));
/// // With nothing left to move, the device may sleep until its next deadline.
/// let _ = device.poll();
/// assert!(device.is_idle());
/// assert!(device.next_deadline_micros().is_some_and(|t| t > clock.0.get()));
/// ```
pub struct UartDriver<
    U,
    C,
    const FRAME: usize = 256,
    const IN: usize = 4,
    const OUT: usize = 4,
    const TX: usize = 576,
> {
    uart: U,
    clock: C,
    ep: Endpoint<FRAME, IN, OUT, TX>,
    /// Bytes read from the UART that the endpoint has not taken yet (it takes nothing while
    /// an event is unread or its transmit queue is full).
    rx: [u8; 64],
    rx_start: usize,
    rx_end: usize,
}

impl<U, C, const FRAME: usize, const IN: usize, const OUT: usize, const TX: usize>
    UartDriver<U, C, FRAME, IN, OUT, TX>
where
    U: Read + Write + ReadReady,
    C: Clock,
{
    /// A driver whose endpoint starts its handshake now.
    pub fn new(uart: U, mut clock: C, config: Config) -> Self {
        let now = Instant::from_micros(clock.now_micros());
        UartDriver {
            uart,
            clock,
            ep: Endpoint::new(now, config),
            rx: [0; 64],
            rx_start: 0,
            rx_end: 0,
        }
    }

    /// The endpoint: poll its events, make calls, respond.
    pub fn endpoint(&mut self) -> &mut Endpoint<FRAME, IN, OUT, TX> {
        &mut self.ep
    }

    /// The current time of the driver's clock, in the core's terms.
    pub fn now(&mut self) -> Instant {
        Instant::from_micros(self.clock.now_micros())
    }

    /// Sends what is queued, runs due deadlines, and takes the input that is ready, once.
    /// Never blocks waiting for input. Call it, drain the endpoint's events, repeat.
    pub fn poll(&mut self) -> Result<(), UartError<U::Error>> {
        let now = self.now();
        self.flush()?;
        if self.ep.poll_timeout().is_some_and(|t| t <= now) {
            self.ep.handle_timeout(now);
        }
        if self.rx_start == self.rx_end && self.uart.read_ready().map_err(UartError)? {
            self.rx_end = self.uart.read(&mut self.rx).map_err(UartError)?;
            self.rx_start = 0;
        }
        if let Some(bytes) = self.rx.get(self.rx_start..self.rx_end) {
            self.rx_start += self.ep.handle_input(now, bytes);
        }
        self.flush()
    }

    /// True when nothing is buffered in either direction: the firmware may sleep until an
    /// interrupt (a received byte, or the tick that reaches [`next_deadline_micros`](Self::next_deadline_micros)).
    pub fn is_idle(&mut self) -> bool {
        self.rx_start == self.rx_end
            && self.ep.transmit_pending() == 0
            && !self.uart.read_ready().unwrap_or(true)
    }

    /// When the endpoint next needs `poll` even without input, in clock microseconds.
    pub fn next_deadline_micros(&self) -> Option<u64> {
        self.ep.poll_timeout().map(Instant::as_micros)
    }

    /// Writes everything the endpoint has to send.
    fn flush(&mut self) -> Result<(), UartError<U::Error>> {
        let mut buf = [0u8; 32];
        loop {
            let n = self.ep.poll_transmit(&mut buf);
            let Some(bytes) = buf.get(..n).filter(|b| !b.is_empty()) else {
                return self.uart.flush().map_err(UartError);
            };
            self.uart.write_all(bytes).map_err(UartError)?;
        }
    }
}
