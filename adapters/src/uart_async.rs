//! An async driver for firmware: one [`Endpoint`] over a UART that implements the
//! `embedded-io-async` traits (embassy's buffered UARTs on STM32, RP2040 and nRF, or any
//! async HAL whose UART read is cancel-safe), with time from a [`Timer`] the firmware provides. Feature `async`.
//!
//! `no_std`, no allocation, no executor of its own. Like the blocking
//! [`UartDriver`](crate::uart::UartDriver) it moves bytes and time and nothing else; every
//! protocol decision stays in the core. The firmware's task:
//!
//! ```text
//! loop {
//!     driver.run_until_event().await?;          // bytes in and out, deadlines, then back
//!     while let Some(event) = driver.endpoint().poll_event() {
//!         // answer requests with driver.endpoint().respond(..) after the event
//!     }
//! }
//! ```
//!
//! [`run_until_event`](AsyncUartDriver::run_until_event) writes what the endpoint has
//! queued, then waits for whichever comes first, input bytes or the endpoint's next
//! deadline, feeds it to the endpoint, and returns when there may be events to drain: the
//! rule of one mutation of the core (see the `wirecall` crate docs), with the waiting done
//! by the executor instead of `WFI`.
//!
//! # Guarantees
//!
//! * **Bounded**: besides the endpoint, the driver holds 64 bytes of input and 32 bytes of
//!   output, and its futures hold nothing that grows.
//! * **No byte lost that the endpoint has not taken**: input is read only into the driver's
//!   own buffer and offered to the endpoint from there; what the endpoint refuses
//!   (backpressure, an unread event) stays in that buffer and is offered again on the next
//!   run, and nothing more is read until it has all been taken.
//! * **Everything queued is written**: a run starts by writing the whole transmit queue and
//!   flushing the UART, and writes again after feeding input or deadlines, so a request's
//!   `Busy`, a pong or a keepalive ping never waits for the application. It flushes because
//!   a UART whose `write` only buffers (a USB CDC class) would otherwise hold an answer
//!   back; with a UART whose `flush` waits for the wire (embassy's `BufferedUart`), the
//!   driver does not read while the last bytes leave, and the UART's receive buffer covers
//!   that time (docs/FIRMWARE.md sizes it).
//!
//! # Cancellation: what the UART must promise
//!
//! Waiting for input and for a deadline at once means dropping one of the two futures when
//! the other completes: when the deadline comes first, the pending `read` is dropped.
//! `embedded-io-async` does not require `read` to be *cancel-safe* (side-effect free when
//! dropped before it completes); it encourages it and asks implementations to say whether
//! they are, because a read that DMAs straight into the caller's buffer cannot be. So this
//! driver requires a UART whose `read` and `write` are cancel-safe. Embassy's buffered
//! UARTs are (`BufferedUart` on STM32 and RP2040, `BufferedUarte` on nRF): an interrupt or
//! DMA fills a ring buffer and `read` copies out of it within one poll. So is a `read`
//! written over an interrupt-filled queue (the example firmware's `uart0.rs` keeps one)
//! that copies out within one poll. A UART that only receives while a `read` is running
//! (a one-shot DMA read) is no fit for a link whatever the driver does: the bytes that
//! arrive between two reads are lost.
//!
//! Given that, the driver adds no loss of its own:
//!
//! * the read and the timer are polled in that order, so a read that completed is taken
//!   even when the deadline came at the same time, and only a read that returned
//!   `Pending` (and so, being cancel-safe, took nothing) is ever dropped;
//! * [`run_until_event`](AsyncUartDriver::run_until_event) is itself cancel-safe: bytes
//!   taken from the endpoint's transmit queue stay in the driver's buffer until the UART
//!   reports them written, input in the driver's buffer until the endpoint takes it, and
//!   the need to return (a frame ended, a deadline ran) in a flag until a run returns.
//!   So the application may race it against its own futures (an
//!   `embassy_futures::select` with a sensor or a button) and drop it when those win.
//!
//! # Time
//!
//! The driver reads the time from a [`Clock`] (the blocking driver's trait, microseconds
//! since boot) and waits for a deadline with [`Timer::wait_until`]: an absolute deadline,
//! which is what the core's `poll_timeout` gives and what `embassy_time::Timer::at` takes.
//! Nothing here names embassy: any HAL timer or executor fits.
//!
//! # Example
//!
//! A device answering one call from a host. Here the UART's far end is a host endpoint in
//! memory and time is virtual; on a board the UART is the HAL's and the clock
//! embassy-time's (docs/FIRMWARE.md).
//!
//! ```
//! # use core::convert::Infallible;
//! # use core::future::{poll_fn, Future};
//! # use core::task::{Context, Poll, Waker};
//! # use std::{cell::Cell, rc::Rc};
//! # use wirecall::{Config, Endpoint, Event, Instant};
//! # use wirecall_adapters::uart_async::{AsyncUartDriver, Clock, Timer};
//! # /// The UART: its far end is a host endpoint, which calls procedure 7 with the bytes
//! # /// [40, 2] once connected and keeps the answer.
//! # struct Uart { host: Endpoint, answer: Rc<Cell<Option<u8>>> }
//! # impl embedded_io_async::ErrorType for Uart { type Error = Infallible; }
//! # impl embedded_io_async::Read for Uart {
//! #     async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
//! #         poll_fn(|_| match self.host.poll_transmit(buf) { 0 => Poll::Pending, n => Poll::Ready(Ok(n)) }).await
//! #     }
//! # }
//! # impl embedded_io_async::Write for Uart {
//! #     async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
//! #         let mut taken = 0;
//! #         while taken < buf.len() {
//! #             let n = self.host.handle_input(Instant::ZERO, &buf[taken..]);
//! #             while let Some(event) = self.host.poll_event() {
//! #                 match event {
//! #                     Event::Connected(_) => { let _ = self.host.call(Instant::ZERO, 7, &[40u8, 2][..]); }
//! #                     Event::Reply { payload, .. } => self.answer.set(payload.first().copied()),
//! #                     _ => {}
//! #                 }
//! #             }
//! #             if n == 0 { break; }
//! #             taken += n;
//! #         }
//! #         Ok(taken)
//! #     }
//! #     async fn flush(&mut self) -> Result<(), Infallible> { Ok(()) }
//! # }
//! # /// A virtual clock: waiting jumps to the deadline.
//! # struct Ticks(u64);
//! # impl Clock for Ticks { fn now_micros(&mut self) -> u64 { self.0 } }
//! # impl Timer for Ticks { async fn wait_until(&mut self, micros: u64) { self.0 = self.0.max(micros) } }
//! # fn block_on<F: Future>(f: F) -> F::Output {
//! #     let mut f = core::pin::pin!(f);
//! #     let mut cx = Context::from_waker(Waker::noop());
//! #     loop { if let Poll::Ready(out) = f.as_mut().poll(&mut cx) { return out; } }
//! # }
//! # let answer = Rc::new(Cell::new(None));
//! # let uart = Uart { host: Endpoint::new(Instant::ZERO, Config::default()), answer: answer.clone() };
//! let mut driver: AsyncUartDriver<_, _> = AsyncUartDriver::new(uart, Ticks(0), Config::default());
//! block_on(async {
//!     while answer.get().is_none() {
//!         driver.run_until_event().await?;
//!         while let Some(event) = driver.endpoint().poll_event() {
//!             if let Event::Request { id, args, .. } = event {
//!                 let sum = args.iter().fold(0u8, |a, b| a.wrapping_add(*b));
//!                 // The transmit queue was written out before the run returned: this fits.
//!                 driver.endpoint().respond(id, &[sum][..]).unwrap();
//!             }
//!         }
//!     }
//!     // The answer went out in the last run.
//!     Ok::<(), wirecall_adapters::uart_async::AsyncUartError<Infallible>>(())
//! })?;
//! assert_eq!(answer.get(), Some(42));
//! # Ok::<(), wirecall_adapters::uart_async::AsyncUartError<Infallible>>(())
//! ```

use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::Poll;

use embedded_io_async::{Read, Write};
use wirecall::{Config, Endpoint, Instant};

/// The clock: the blocking driver's trait, re-exported so that one implementation serves
/// both drivers.
pub use crate::uart::Clock;

/// Bytes of input the driver holds between the UART and the endpoint (the blocking driver
/// holds as many).
const RX_CHUNK: usize = 64;
/// Bytes of output the driver holds between the endpoint and the UART.
const TX_CHUNK: usize = 32;
/// The longest single wait the driver asks of a [`Timer`]: an hour. A deadline further out
/// (or none at all) is waited for in steps of this, so an implementation never sees an
/// instant that overflows a narrow tick counter, and the remaining time always fits a
/// `u32` of microseconds (for a timer built on a relative delay).
const MAX_WAIT_MICROS: u64 = 3_600_000_000;

/// Waiting for a deadline: a [`Clock`] that can also sleep until one of its instants.
///
/// The driver asks for an absolute instant, in the clock's microseconds, never more than
/// an hour ahead. `wait_until` may complete late (the driver then runs late) or early (the
/// driver reads the clock again and waits again); it must not busy-wait if the firmware
/// wants to sleep, which is the executor's business.
///
/// Why a trait of our own rather than embedded-hal-async's `DelayNs`: the core's deadlines
/// are instants (`poll_timeout`), and so are embassy-time's (`Timer::at`), so an absolute
/// wait neither drifts by the time between reading the clock and starting a delay nor
/// needs a dependency for one method. A `DelayNs` serves as well, in three lines (second
/// example).
///
/// The future is not required to be `Send`: firmware executors run the driver's task on
/// one core, and embassy's timer futures are not `Send` either.
///
/// # Examples
///
/// With embassy-time (`embassy_time::Instant` counts from boot, like [`Clock`]):
///
/// ```text
/// struct EmbassyClock;
///
/// impl Clock for EmbassyClock {
///     fn now_micros(&mut self) -> u64 {
///         embassy_time::Instant::now().as_micros()
///     }
/// }
///
/// impl Timer for EmbassyClock {
///     async fn wait_until(&mut self, micros: u64) {
///         embassy_time::Timer::at(embassy_time::Instant::from_micros(micros)).await
///     }
/// }
/// ```
///
/// Over any relative delay (an `embedded_hal_async::delay::DelayNs` is one), with the
/// clock read just before sleeping; the driver never asks for more than an hour, which fits
/// the `u32` microseconds of `delay_us`:
///
/// ```
/// use core::future::Future;
/// use wirecall_adapters::uart_async::{Clock, Timer};
///
/// /// A stand-in for a HAL's delay and its free-running counter.
/// struct Delay { now: u64 }
///
/// impl Delay {
///     async fn delay_us(&mut self, us: u32) {
///         self.now += u64::from(us);
///     }
/// }
///
/// impl Clock for Delay {
///     fn now_micros(&mut self) -> u64 {
///         self.now
///     }
/// }
///
/// impl Timer for Delay {
///     async fn wait_until(&mut self, micros: u64) {
///         let left = micros.saturating_sub(self.now_micros());
///         self.delay_us(u32::try_from(left).unwrap_or(u32::MAX)).await
///     }
/// }
///
/// let mut delay = Delay { now: 5 };
/// let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
/// assert!(core::pin::pin!(delay.wait_until(1_000)).poll(&mut cx).is_ready());
/// assert_eq!(delay.now_micros(), 1_000);
/// ```
pub trait Timer: Clock {
    /// Completes when [`now_micros`](Clock::now_micros) has reached `micros` (or soon
    /// after; early is allowed).
    ///
    /// # Examples
    ///
    /// A virtual clock for tests that jumps to the deadline:
    ///
    /// ```
    /// use core::future::Future;
    /// use wirecall_adapters::uart_async::{Clock, Timer};
    ///
    /// struct Ticks(u64);
    /// impl Clock for Ticks {
    ///     fn now_micros(&mut self) -> u64 {
    ///         self.0
    ///     }
    /// }
    /// impl Timer for Ticks {
    ///     async fn wait_until(&mut self, micros: u64) {
    ///         self.0 = self.0.max(micros);
    ///     }
    /// }
    ///
    /// let mut ticks = Ticks(0);
    /// let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
    /// assert!(core::pin::pin!(ticks.wait_until(250)).poll(&mut cx).is_ready());
    /// assert_eq!(ticks.now_micros(), 250);
    /// ```
    fn wait_until(&mut self, micros: u64) -> impl Future<Output = ()>;
}

/// Why a run of the [`AsyncUartDriver`] failed. The endpoint is unharmed: bytes the UART
/// did not report written are still in the driver, and input it did not take too; a run
/// after a transient error goes on where this one stopped.
///
/// # Examples
///
/// A UART at its end (as a pipe or socket reports it; a UART never does) ends the run
/// with `Closed`:
///
/// ```
/// # use core::convert::Infallible;
/// # use core::future::Future;
/// # use core::task::{Context, Poll, Waker};
/// # use wirecall::Config;
/// # use wirecall_adapters::uart_async::{AsyncUartDriver, AsyncUartError, Clock, Timer};
/// /// A UART whose far end has gone: every read is at its end.
/// struct Gone;
/// impl embedded_io_async::ErrorType for Gone {
///     type Error = Infallible;
/// }
/// impl embedded_io_async::Read for Gone {
///     async fn read(&mut self, _: &mut [u8]) -> Result<usize, Infallible> {
///         Ok(0)
///     }
/// }
/// impl embedded_io_async::Write for Gone {
///     async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
///         Ok(buf.len())
///     }
///     async fn flush(&mut self) -> Result<(), Infallible> {
///         Ok(())
///     }
/// }
/// # struct Ticks(u64);
/// # impl Clock for Ticks { fn now_micros(&mut self) -> u64 { self.0 } }
/// # impl Timer for Ticks { async fn wait_until(&mut self, micros: u64) { self.0 = self.0.max(micros) } }
/// # fn block_on<F: Future>(f: F) -> F::Output {
/// #     let mut f = core::pin::pin!(f);
/// #     let mut cx = Context::from_waker(Waker::noop());
/// #     loop { if let Poll::Ready(out) = f.as_mut().poll(&mut cx) { return out; } }
/// # }
///
/// let mut driver: AsyncUartDriver<_, _> = AsyncUartDriver::new(Gone, Ticks(0), Config::default());
/// assert_eq!(block_on(driver.run_until_event()), Err(AsyncUartError::Closed));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsyncUartError<E> {
    /// The UART reported an error.
    Uart(E),
    /// The UART said it is at its end: a read of no bytes into a non-empty buffer, or a
    /// write that took none (a pipe or socket whose far end closed).
    Closed,
}

impl<E: core::fmt::Debug> core::fmt::Display for AsyncUartError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AsyncUartError::Uart(e) => write!(f, "UART error: {e:?}"),
            AsyncUartError::Closed => f.write_str("the UART is at its end"),
        }
    }
}

impl<E: core::fmt::Debug> core::error::Error for AsyncUartError<E> {}

/// An endpoint bound to an async UART and a timer. See the module docs for the loop and
/// what the UART must promise.
///
/// The const parameters are the endpoint's (`Endpoint<FRAME, IN, OUT, TX>`, defaults for a
/// microcontroller); the driver adds 96 bytes of buffers and a few words of state to them.
///
/// # Examples
///
/// The type for a larger endpoint (1 KiB frames, 8 calls each way), named once in a
/// static or a task's signature:
///
/// ```
/// # use core::convert::Infallible;
/// # use wirecall_adapters::uart_async::{AsyncUartDriver, Clock, Timer};
/// # struct Uart;
/// # impl embedded_io_async::ErrorType for Uart { type Error = Infallible; }
/// # impl embedded_io_async::Read for Uart { async fn read(&mut self, _: &mut [u8]) -> Result<usize, Infallible> { Ok(0) } }
/// # impl embedded_io_async::Write for Uart {
/// #     async fn write(&mut self, b: &[u8]) -> Result<usize, Infallible> { Ok(b.len()) }
/// #     async fn flush(&mut self) -> Result<(), Infallible> { Ok(()) }
/// # }
/// # struct Ticks(u64);
/// # impl Clock for Ticks { fn now_micros(&mut self) -> u64 { self.0 } }
/// # impl Timer for Ticks { async fn wait_until(&mut self, micros: u64) { self.0 = self.0.max(micros) } }
/// type Driver = AsyncUartDriver<Uart, Ticks, 1024, 8, 8, 2112>;
/// let driver = Driver::new(Uart, Ticks(0), wirecall::Config::default());
/// assert!(core::mem::size_of_val(&driver) > 2 * 1024 + 2112);
/// ```
pub struct AsyncUartDriver<
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
    /// an event is unread or its transmit queue is full): `rx[rx_start..rx_end]`.
    rx: [u8; RX_CHUNK],
    rx_start: usize,
    rx_end: usize,
    /// Bytes taken from the endpoint's transmit queue that the UART has not reported
    /// written yet: `tx[tx_start..tx_end]`. Kept here, not in a local, so that a run
    /// dropped in the middle of a write loses none of them.
    tx: [u8; TX_CHUNK],
    tx_start: usize,
    tx_end: usize,
    /// Bytes were written and the UART not flushed since (a run dropped between the two
    /// flushes on the next one).
    unflushed: bool,
    /// The last byte the endpoint took was inside a frame, not a delimiter: the next
    /// delimiter it takes ends a frame.
    in_frame: bool,
    /// A frame ended or a deadline ran, and no run has returned since: the next run
    /// returns once it has written the answer out. Kept here so that a run dropped while
    /// writing (after the endpoint took the frame) still wakes the application.
    wake: bool,
}

/// Which of two futures completed first.
enum Either<A, B> {
    First(A),
    Second(B),
}

/// Waits for `a` or `b`, whichever completes first, and drops the other. `a` is polled
/// first every time, so when both are ready, `a` wins: the driver puts the UART read
/// there, so a completed read is never dropped for a deadline. (Hand-written with
/// `poll_fn` and `pin!`: two futures need no crate.)
async fn first<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(move |cx| {
        if let Poll::Ready(out) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::First(out));
        }
        if let Poll::Ready(out) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Second(out));
        }
        Poll::Pending
    })
    .await
}

impl<U, C, const FRAME: usize, const IN: usize, const OUT: usize, const TX: usize>
    AsyncUartDriver<U, C, FRAME, IN, OUT, TX>
where
    U: Read + Write,
    C: Timer,
{
    /// A driver whose endpoint starts its handshake now (its `Hello` goes out on the first
    /// run).
    ///
    /// # Examples
    ///
    /// ```
    /// # use core::convert::Infallible;
    /// # use wirecall::{Config, Endpoint, Instant};
    /// # use wirecall_adapters::uart_async::{AsyncUartDriver, Clock, Timer};
    /// # struct Uart;
    /// # impl embedded_io_async::ErrorType for Uart { type Error = Infallible; }
    /// # impl embedded_io_async::Read for Uart { async fn read(&mut self, _: &mut [u8]) -> Result<usize, Infallible> { Ok(0) } }
    /// # impl embedded_io_async::Write for Uart {
    /// #     async fn write(&mut self, b: &[u8]) -> Result<usize, Infallible> { Ok(b.len()) }
    /// #     async fn flush(&mut self) -> Result<(), Infallible> { Ok(()) }
    /// # }
    /// # struct Ticks(u64);
    /// # impl Clock for Ticks { fn now_micros(&mut self) -> u64 { self.0 } }
    /// # impl Timer for Ticks { async fn wait_until(&mut self, micros: u64) { self.0 = self.0.max(micros) } }
    /// // A ping every 500 ms; a host silent for three of them is declared gone.
    /// let config = Config::default().with_keepalive(wirecall::Duration::from_millis(500));
    /// let mut driver: AsyncUartDriver<_, _> = AsyncUartDriver::new(Uart, Ticks(0), config);
    /// assert!(!driver.endpoint().is_connected()); // until the host's Hello arrives
    /// assert_eq!(driver.endpoint().config().keepalive, wirecall::Duration::from_millis(500));
    /// ```
    pub fn new(uart: U, mut clock: C, config: Config) -> Self {
        let now = Instant::from_micros(clock.now_micros());
        AsyncUartDriver {
            uart,
            clock,
            ep: Endpoint::new(now, config),
            rx: [0; RX_CHUNK],
            rx_start: 0,
            rx_end: 0,
            tx: [0; TX_CHUNK],
            tx_start: 0,
            tx_end: 0,
            unflushed: false,
            in_frame: false,
            wake: false,
        }
    }

    /// The endpoint: poll its events, make calls, respond.
    ///
    /// # Examples
    ///
    /// ```
    /// # use core::convert::Infallible;
    /// # use wirecall::Config;
    /// # use wirecall_adapters::uart_async::{AsyncUartDriver, Clock, Timer};
    /// # struct Uart;
    /// # impl embedded_io_async::ErrorType for Uart { type Error = Infallible; }
    /// # impl embedded_io_async::Read for Uart { async fn read(&mut self, _: &mut [u8]) -> Result<usize, Infallible> { Ok(0) } }
    /// # impl embedded_io_async::Write for Uart {
    /// #     async fn write(&mut self, b: &[u8]) -> Result<usize, Infallible> { Ok(b.len()) }
    /// #     async fn flush(&mut self) -> Result<(), Infallible> { Ok(()) }
    /// # }
    /// # struct Ticks(u64);
    /// # impl Clock for Ticks { fn now_micros(&mut self) -> u64 { self.0 } }
    /// # impl Timer for Ticks { async fn wait_until(&mut self, micros: u64) { self.0 = self.0.max(micros) } }
    /// let mut driver: AsyncUartDriver<_, _> = AsyncUartDriver::new(Uart, Ticks(0), Config::default());
    /// // Nothing has happened yet: no events, no calls, no traffic counted.
    /// assert!(driver.endpoint().poll_event().is_none());
    /// assert_eq!(driver.endpoint().calls_in_flight(), 0);
    /// assert_eq!(driver.endpoint().stats().bytes_in, 0);
    /// ```
    pub fn endpoint(&mut self) -> &mut Endpoint<FRAME, IN, OUT, TX> {
        &mut self.ep
    }

    /// The current time of the driver's clock, in the core's terms: what
    /// [`Endpoint::call`] and the other commands take as `now`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use core::convert::Infallible;
    /// # use wirecall::{Config, Instant};
    /// # use wirecall_adapters::uart_async::{AsyncUartDriver, Clock, Timer};
    /// # struct Uart;
    /// # impl embedded_io_async::ErrorType for Uart { type Error = Infallible; }
    /// # impl embedded_io_async::Read for Uart { async fn read(&mut self, _: &mut [u8]) -> Result<usize, Infallible> { Ok(0) } }
    /// # impl embedded_io_async::Write for Uart {
    /// #     async fn write(&mut self, b: &[u8]) -> Result<usize, Infallible> { Ok(b.len()) }
    /// #     async fn flush(&mut self) -> Result<(), Infallible> { Ok(()) }
    /// # }
    /// # struct Ticks(u64);
    /// # impl Clock for Ticks { fn now_micros(&mut self) -> u64 { self.0 } }
    /// # impl Timer for Ticks { async fn wait_until(&mut self, micros: u64) { self.0 = self.0.max(micros) } }
    /// let mut driver: AsyncUartDriver<_, _> = AsyncUartDriver::new(Uart, Ticks(1_500), Config::default());
    /// assert_eq!(driver.now(), Instant::from_micros(1_500));
    /// ```
    pub fn now(&mut self) -> Instant {
        Instant::from_micros(self.clock.now_micros())
    }

    /// When the endpoint next needs a run even without input, in clock microseconds (a
    /// run waits for it by itself; this is for the application's own planning).
    ///
    /// # Examples
    ///
    /// ```
    /// # use core::convert::Infallible;
    /// # use wirecall::Config;
    /// # use wirecall_adapters::uart_async::{AsyncUartDriver, Clock, Timer};
    /// # struct Uart;
    /// # impl embedded_io_async::ErrorType for Uart { type Error = Infallible; }
    /// # impl embedded_io_async::Read for Uart { async fn read(&mut self, _: &mut [u8]) -> Result<usize, Infallible> { Ok(0) } }
    /// # impl embedded_io_async::Write for Uart {
    /// #     async fn write(&mut self, b: &[u8]) -> Result<usize, Infallible> { Ok(b.len()) }
    /// #     async fn flush(&mut self) -> Result<(), Infallible> { Ok(()) }
    /// # }
    /// # struct Ticks(u64);
    /// # impl Clock for Ticks { fn now_micros(&mut self) -> u64 { self.0 } }
    /// # impl Timer for Ticks { async fn wait_until(&mut self, micros: u64) { self.0 = self.0.max(micros) } }
    /// let driver: AsyncUartDriver<_, _> = AsyncUartDriver::new(Uart, Ticks(0), Config::default());
    /// // A handshaking endpoint repeats its Hello until the peer answers.
    /// assert!(driver.next_deadline_micros().is_some_and(|t| t > 0));
    /// ```
    pub fn next_deadline_micros(&self) -> Option<u64> {
        self.ep.poll_timeout().map(Instant::as_micros)
    }

    /// Writes what the endpoint has queued, then waits for input or the endpoint's next
    /// deadline, whichever comes first, and feeds it to the endpoint; returns when there
    /// may be events for the application. Then drain
    /// [`poll_event`](Endpoint::poll_event) until `None`, answer, and call it again.
    ///
    /// It returns when a frame has ended in the input the endpoint took, when a deadline
    /// was due and [`handle_timeout`](Endpoint::handle_timeout) ran, or when the endpoint
    /// refuses input until its events are drained; input that ends no frame (the first
    /// bytes of a frame, one at a time) is fed without returning. It may return with no
    /// event pending. Before returning, it writes what the endpoint queued in answer.
    ///
    /// Cancel-safe when the UART's `read` and `write` are (module docs): dropped before it
    /// completes, it loses no byte in either direction, and the next run goes on where it
    /// stopped; a run dropped after it fed a frame's end or a deadline (while writing the
    /// answer out) leaves the next run to return for it.
    ///
    /// # Errors
    ///
    /// [`AsyncUartError::Uart`] when the UART reports an error, [`AsyncUartError::Closed`]
    /// when it reports its end. Nothing is lost; a run may be tried again.
    ///
    /// # Examples
    ///
    /// Runs until the handshake with the far end completes (here the far end is a host
    /// endpoint in memory):
    ///
    /// ```
    /// # use core::convert::Infallible;
    /// # use core::future::{poll_fn, Future};
    /// # use core::task::{Context, Poll, Waker};
    /// # use wirecall::{Config, Endpoint, Event, Instant};
    /// # use wirecall_adapters::uart_async::{AsyncUartDriver, AsyncUartError, Clock, Timer};
    /// # struct Uart(Endpoint);
    /// # impl embedded_io_async::ErrorType for Uart { type Error = Infallible; }
    /// # impl embedded_io_async::Read for Uart {
    /// #     async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
    /// #         poll_fn(|_| match self.0.poll_transmit(buf) { 0 => Poll::Pending, n => Poll::Ready(Ok(n)) }).await
    /// #     }
    /// # }
    /// # impl embedded_io_async::Write for Uart {
    /// #     async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
    /// #         let mut taken = 0;
    /// #         while taken < buf.len() {
    /// #             let n = self.0.handle_input(Instant::ZERO, &buf[taken..]);
    /// #             while self.0.poll_event().is_some() {}
    /// #             if n == 0 { break; }
    /// #             taken += n;
    /// #         }
    /// #         Ok(taken)
    /// #     }
    /// #     async fn flush(&mut self) -> Result<(), Infallible> { Ok(()) }
    /// # }
    /// # struct Ticks(u64);
    /// # impl Clock for Ticks { fn now_micros(&mut self) -> u64 { self.0 } }
    /// # impl Timer for Ticks { async fn wait_until(&mut self, micros: u64) { self.0 = self.0.max(micros) } }
    /// # fn block_on<F: Future>(f: F) -> F::Output {
    /// #     let mut f = core::pin::pin!(f);
    /// #     let mut cx = Context::from_waker(Waker::noop());
    /// #     loop { if let Poll::Ready(out) = f.as_mut().poll(&mut cx) { return out; } }
    /// # }
    /// # let uart = Uart(Endpoint::new(Instant::ZERO, Config::default()));
    /// let mut driver: AsyncUartDriver<_, _> = AsyncUartDriver::new(uart, Ticks(0), Config::default());
    /// let peer = block_on(async {
    ///     loop {
    ///         driver.run_until_event().await?;
    ///         while let Some(event) = driver.endpoint().poll_event() {
    ///             if let Event::Connected(peer) = event {
    ///                 return Ok::<_, AsyncUartError<Infallible>>(peer);
    ///             }
    ///         }
    ///     }
    /// })?;
    /// assert!(driver.endpoint().is_connected());
    /// assert_eq!(peer.max_frame, 256);
    /// # Ok::<(), AsyncUartError<Infallible>>(())
    /// ```
    pub async fn run_until_event(&mut self) -> Result<(), AsyncUartError<U::Error>> {
        self.run(None).await
    }

    /// Like [`run_until_event`](Self::run_until_event), and returns at `wake_at_micros`
    /// by the clock at the latest: for the application's own timers (a reply due later, a
    /// stream's next sample), without a second timer future of its own. A time already
    /// past returns once the pending input and deadlines have been handled.
    ///
    /// # Errors
    ///
    /// As [`run_until_event`](Self::run_until_event).
    ///
    /// # Examples
    ///
    /// A device that answers a request 50 ms after it arrived, without blocking the link
    /// meanwhile:
    ///
    /// ```
    /// # use core::convert::Infallible;
    /// # use core::future::{poll_fn, Future};
    /// # use core::task::{Context, Poll, Waker};
    /// # use wirecall::{Config, Endpoint, Instant};
    /// # use wirecall_adapters::uart_async::{AsyncUartDriver, Clock, Timer};
    /// # struct Uart;
    /// # impl embedded_io_async::ErrorType for Uart { type Error = Infallible; }
    /// # impl embedded_io_async::Read for Uart {
    /// #     async fn read(&mut self, _: &mut [u8]) -> Result<usize, Infallible> { poll_fn(|_| Poll::Pending).await }
    /// # }
    /// # impl embedded_io_async::Write for Uart {
    /// #     async fn write(&mut self, b: &[u8]) -> Result<usize, Infallible> { Ok(b.len()) }
    /// #     async fn flush(&mut self) -> Result<(), Infallible> { Ok(()) }
    /// # }
    /// # struct Ticks(u64);
    /// # impl Clock for Ticks { fn now_micros(&mut self) -> u64 { self.0 } }
    /// # impl Timer for Ticks { async fn wait_until(&mut self, micros: u64) { self.0 = self.0.max(micros) } }
    /// # fn block_on<F: Future>(f: F) -> F::Output {
    /// #     let mut f = core::pin::pin!(f);
    /// #     let mut cx = Context::from_waker(Waker::noop());
    /// #     loop { if let Poll::Ready(out) = f.as_mut().poll(&mut cx) { return out; } }
    /// # }
    /// let mut driver: AsyncUartDriver<_, _> = AsyncUartDriver::new(Uart, Ticks(0), Config::default());
    /// let reply_due = 50_000; // (from a request's arrival, in a real device)
    /// block_on(async {
    ///     while driver.now().as_micros() < reply_due {
    ///         driver.run_until_event_or(reply_due).await?;
    ///         while let Some(_event) = driver.endpoint().poll_event() {}
    ///     }
    ///     // respond here
    ///     Ok::<(), wirecall_adapters::uart_async::AsyncUartError<Infallible>>(())
    /// })?;
    /// assert!(driver.now().as_micros() >= reply_due);
    /// # Ok::<(), wirecall_adapters::uart_async::AsyncUartError<Infallible>>(())
    /// ```
    pub async fn run_until_event_or(
        &mut self,
        wake_at_micros: u64,
    ) -> Result<(), AsyncUartError<U::Error>> {
        self.run(Some(wake_at_micros)).await
    }

    /// Writes everything the endpoint has queued and flushes the UART, without reading:
    /// for a last word before the driver is dropped (a [`close`](Endpoint::close)). The
    /// runs do this by themselves.
    ///
    /// Cancel-safe like the runs.
    ///
    /// # Errors
    ///
    /// As [`run_until_event`](Self::run_until_event).
    ///
    /// # Examples
    ///
    /// ```
    /// # use core::convert::Infallible;
    /// # use core::future::Future;
    /// # use core::task::{Context, Poll, Waker};
    /// # use wirecall::Config;
    /// # use wirecall_adapters::uart_async::{AsyncUartDriver, Clock, Timer};
    /// # struct Uart;
    /// # impl embedded_io_async::ErrorType for Uart { type Error = Infallible; }
    /// # impl embedded_io_async::Read for Uart { async fn read(&mut self, _: &mut [u8]) -> Result<usize, Infallible> { Ok(0) } }
    /// # impl embedded_io_async::Write for Uart {
    /// #     async fn write(&mut self, b: &[u8]) -> Result<usize, Infallible> { Ok(b.len()) }
    /// #     async fn flush(&mut self) -> Result<(), Infallible> { Ok(()) }
    /// # }
    /// # struct Ticks(u64);
    /// # impl Clock for Ticks { fn now_micros(&mut self) -> u64 { self.0 } }
    /// # impl Timer for Ticks { async fn wait_until(&mut self, micros: u64) { self.0 = self.0.max(micros) } }
    /// # fn block_on<F: Future>(f: F) -> F::Output {
    /// #     let mut f = core::pin::pin!(f);
    /// #     let mut cx = Context::from_waker(Waker::noop());
    /// #     loop { if let Poll::Ready(out) = f.as_mut().poll(&mut cx) { return out; } }
    /// # }
    /// let mut driver: AsyncUartDriver<_, _> = AsyncUartDriver::new(Uart, Ticks(0), Config::default());
    /// driver.endpoint().close();
    /// block_on(driver.flush())?;
    /// assert_eq!(driver.endpoint().transmit_pending(), 0);
    /// # Ok::<(), wirecall_adapters::uart_async::AsyncUartError<Infallible>>(())
    /// ```
    pub async fn flush(&mut self) -> Result<(), AsyncUartError<U::Error>> {
        loop {
            if self.tx_start == self.tx_end {
                let n = self.ep.poll_transmit(&mut self.tx);
                if n == 0 {
                    break;
                }
                self.tx_start = 0;
                self.tx_end = n.min(TX_CHUNK);
            }
            let pending = self.tx.get(self.tx_start..self.tx_end).unwrap_or(&[]);
            let n = self
                .uart
                .write(pending)
                .await
                .map_err(AsyncUartError::Uart)?;
            if n == 0 {
                // `write` never returns 0 for a non-empty buffer unless it never will
                // take more (embedded-io-async): retrying would spin.
                return Err(AsyncUartError::Closed);
            }
            self.tx_start = (self.tx_start + n).min(self.tx_end);
            self.unflushed = true;
        }
        // Flushed, not just written: a UART that buffers until `flush` would otherwise hold
        // the bytes while the driver waits for an answer to them.
        if self.unflushed {
            self.uart.flush().await.map_err(AsyncUartError::Uart)?;
            self.unflushed = false;
        }
        Ok(())
    }

    /// One run: see `run_until_event`; `wake_at` is the application's own deadline.
    async fn run(&mut self, wake_at: Option<u64>) -> Result<(), AsyncUartError<U::Error>> {
        loop {
            self.flush().await?;
            if self.wake {
                self.wake = false;
                return Ok(());
            }
            let now_micros = self.clock.now_micros();
            let now = Instant::from_micros(now_micros);
            if self.ep.poll_timeout().is_some_and(|t| t <= now) {
                self.ep.handle_timeout(now);
                self.wake = true;
                continue; // to write what it queued, then return
            }
            if self.rx_start < self.rx_end {
                let offered = self.rx.get(self.rx_start..self.rx_end).unwrap_or(&[]);
                let taken = self.ep.handle_input(now, offered).min(offered.len());
                // Events come out of input only when a frame ends, at a delimiter (0x00)
                // after frame bytes; input without one (a frame arriving byte by byte)
                // is fed on without waking the application for nothing.
                let mut frame_ended = false;
                for &byte in offered.get(..taken).unwrap_or(&[]) {
                    frame_ended |= byte == 0 && self.in_frame;
                    self.in_frame = byte != 0;
                }
                self.rx_start += taken;
                if frame_ended {
                    self.wake = true;
                    continue;
                }
                if self.rx_start < self.rx_end {
                    if self.ep.transmit_pending() > 0 {
                        // Backpressure: write the queue out, then offer the rest again.
                        continue;
                    }
                    // Refused with an empty transmit queue: an event is unread.
                    return Ok(());
                }
            }
            if wake_at.is_some_and(|w| w <= now_micros) {
                return Ok(());
            }
            let deadline = match (self.ep.poll_timeout().map(Instant::as_micros), wake_at) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap_or(u64::MAX),
            }
            .min(now_micros.saturating_add(MAX_WAIT_MICROS));
            // Reads only when the driver's buffer is empty, and only into it: a read that
            // completes always lands in `rx` and is counted.
            let AsyncUartDriver {
                uart, clock, rx, ..
            } = self;
            match first(uart.read(rx), clock.wait_until(deadline)).await {
                Either::First(Ok(0)) => return Err(AsyncUartError::Closed),
                Either::First(Ok(n)) => {
                    self.rx_start = 0;
                    self.rx_end = n.min(RX_CHUNK);
                }
                Either::First(Err(e)) => return Err(AsyncUartError::Uart(e)),
                // The deadline (or the application's time) may have come: checked above.
                Either::Second(()) => {}
            }
        }
    }
}

/// The RAM figures of docs/FIRMWARE.md ("Sizing the endpoint"), measured by the compiler:
/// a 32-bit build (every Cortex-M build of `ci.sh`) checks the Cortex-M column, a 64-bit
/// build the host column. A change of the core's or the drivers' layout fails the build
/// here until the document is measured again and this table with it.
///
/// Each row is `FRAME, IN, OUT, TX => bytes on 32-bit, bytes on 64-bit`. On 32-bit the
/// document's estimate, `652 + 2 FRAME + 40 IN + 41 OUT + TX`, is checked too: it is
/// exact to within the padding (-1 to +7 bytes; the endpoint is 8-byte aligned and the
/// compiler packs its small fields into the holes).
const _: () = {
    use crate::uart::UartDriver;
    use core::mem::size_of;

    #[cfg(target_pointer_width = "32")]
    const fn estimate(frame: usize, inbound: usize, outbound: usize, tx: usize) -> usize {
        652 + 2 * frame + 40 * inbound + 41 * outbound + tx
    }

    macro_rules! rows {
        ($($f:literal, $i:literal, $o:literal, $t:literal => $b32:literal, $b64:literal;)*) => {$(
            let bytes = Endpoint::<$f, $i, $o, $t>::WORST_CASE_RAM;
            #[cfg(target_pointer_width = "32")]
            {
                assert!(bytes == $b32, "docs/FIRMWARE.md's RAM table is out of date");
                let e = estimate($f, $i, $o, $t);
                assert!(bytes + 1 >= e && bytes <= e + 7, "the estimate is off");
            }
            #[cfg(target_pointer_width = "64")]
            assert!(bytes == $b64, "docs/FIRMWARE.md's RAM table is out of date");
        )*};
    }

    rows! {
        // The table of configurations.
        48, 1, 1, 65 => 896, 944;
        64, 1, 1, 81 => 944, 992;
        128, 2, 2, 160 => 1232, 1272;
        128, 4, 4, 288 => 1520, 1568;
        256, 4, 4, 576 => 2064, 2112;
        256, 8, 8, 576 => 2392, 2432;
        512, 4, 4, 1088 => 3088, 3136;
        1024, 8, 8, 2112 => 5464, 5504;
        4096, 32, 32, 8256 => 19696, 19736;
        // The sweeps the per-unit costs come from: one parameter moves, the rest stay.
        64, 4, 4, 2200 => 3304, 3352;
        2048, 4, 4, 2200 => 7272, 7320;
        256, 1, 4, 576 => 1944, 1992;
        256, 16, 4, 576 => 2544, 2592;
        256, 4, 1, 576 => 1944, 1984;
        256, 4, 16, 576 => 2560, 2600;
        256, 4, 4, 280 => 1768, 1816;
        256, 4, 4, 1152 => 2640, 2688;
    }

    // What each driver adds to its endpoint (the UART and clock types are the
    // application's: zero-sized here, as embassy's clock is).
    let ep = Endpoint::<256, 4, 4, 576>::WORST_CASE_RAM;
    let (async_driver, blocking_driver) = if cfg!(target_pointer_width = "32") {
        (120, 72)
    } else {
        (136, 80)
    };
    assert!(size_of::<AsyncUartDriver<(), ()>>() - ep == async_driver);
    assert!(size_of::<UartDriver<(), ()>>() - ep == blocking_driver);
};
