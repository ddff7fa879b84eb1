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
pub trait Clock {
    /// Microseconds since boot.
    fn now_micros(&mut self) -> u64;
}

/// Why [`UartDriver::poll`] failed: the UART reported an error.
#[derive(Debug)]
pub struct UartError<E>(pub E);

/// An endpoint bound to a UART and a clock. See the module docs.
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
