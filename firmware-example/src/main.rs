//! The example firmware: a wirecall device on UART0 of an LM3S6965 (Cortex-M3).
//!
//! UART0's receive interrupt fills a heapless single-producer queue; the main loop feeds it
//! to the endpoint through the `embedded-io` driver, answers calls, and sleeps (`WFI`) when
//! there is nothing to do. SysTick ticks every millisecond and drives deadlines and
//! keepalive. Sensor channels are remote handles: each open channel lives in the slot of
//! the endpoint's export table that its handle names.

#![no_std]
#![no_main]

mod uart0;

use core::cell::RefCell;
use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::interrupt::Mutex;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception};
use heapless::spsc::{Producer, Queue};
use lm3s6965::{interrupt, Interrupt};
use panic_halt as _;
use wirecall::{
    CallId, Config, Dispatched, Event, Handle, Open, Procedure, RequestId, Resolved, ServedStream,
    WireError,
};
use wirecall_adapters::uart::{Clock, UartDriver};
use wirecall_example_service::{device, DeviceInfo, Reading};

/// Core clock of the LM3S6965 in QEMU (and on the evaluation board without the PLL).
const CORE_HZ: u32 = 12_000_000;

static MILLIS: AtomicU32 = AtomicU32::new(0);
static RX_LOST: AtomicU32 = AtomicU32::new(0);
static RX_PRODUCER: Mutex<RefCell<Option<Producer<'static, u8>>>> = Mutex::new(RefCell::new(None));

macro_rules! log {
    ($($t:tt)*) => {
        #[cfg(feature = "defmt")]
        defmt::info!($($t)*);
    };
}

#[cfg(feature = "defmt")]
use defmt_semihosting as _;

/// SysTick milliseconds as a 64-bit microsecond clock (the 32-bit counter wraps after 49
/// days; the clock carries the wraps).
struct SysTickClock {
    last: u32,
    wraps: u64,
}

impl Clock for SysTickClock {
    fn now_micros(&mut self) -> u64 {
        let ms = MILLIS.load(Ordering::Relaxed);
        if ms < self.last {
            self.wraps += 1;
        }
        self.last = ms;
        ((self.wraps << 32) + u64::from(ms)) * 1000
    }
}

/// The slots of the endpoint's export table (its `HANDLES`, 4 by default): one channel each.
const CHANNELS: usize = 4;

/// An open channel of the sensor, kept at its handle's slot.
#[derive(Clone, Copy)]
struct Channel {
    /// Its handle, for revoking it.
    handle: Handle,
    /// Which sensor: 0 temperature, 1 supply voltage.
    kind: u8,
    /// Samples a read averages, 1 to 64.
    samples: u8,
}

/// The device's state and its answers to calls.
struct Device {
    level: u32,
    info: DeviceInfo,
    /// A `sample` stream just accepted, for the main loop to take: (stream, hz, count).
    accepted: Option<(RequestId, u32, u32)>,
    /// Open channels, by slot of the export table (`Event::Released` empties one).
    channels: [Option<Channel>; CHANNELS],
    /// A `power_down` just answered: the kind whose channels the main loop revokes.
    down: Option<u8>,
}

impl Device {
    fn channel(&mut self, this: Handle) -> Result<&mut Channel, WireError> {
        // The endpoint checked the handle (slot and generation) before the call got here.
        self.channels
            .get_mut(this.slot())
            .and_then(Option::as_mut)
            .ok_or(WireError::StaleHandle)
    }
}

/// A `sample` stream being served.
struct Sampling {
    stream: ServedStream<device::Sample>,
    period_us: u64,
    /// When the next sample is due.
    due: u64,
    /// Samples sent so far, and how many to send (0: until cancelled).
    sent: u32,
    count: u32,
}

/// The simulated sensor: a slow triangle wave between 20 and 30 degrees Celsius.
fn temperature(at_ms: u32) -> i32 {
    let phase = (at_ms % 20_000) as i32; // a 20 s period
    let up = if phase < 10_000 {
        phase
    } else {
        20_000 - phase
    };
    20_000 + up
}

/// Sensor `kind` at `at_ms`: 0 the temperature (milli-degrees Celsius), 1 a supply voltage
/// sawtooth between 3,251 and 3,300 mV.
fn sense(kind: u8, at_ms: u32) -> i32 {
    if kind == 0 {
        temperature(at_ms)
    } else {
        3_300 - ((at_ms / 10) % 50) as i32
    }
}

impl device::Channel::Handler for Device {
    fn read(&mut self, this: Handle) -> Result<i32, WireError> {
        let now = self.info.uptime_ms as u32;
        let ch = *self.channel(this)?;
        let sum: i32 = (0..u32::from(ch.samples))
            .map(|i| sense(ch.kind, now.wrapping_sub(i)))
            .sum();
        Ok(sum / i32::from(ch.samples.max(1)))
    }
    fn configure(&mut self, this: Handle, samples: u32) -> Result<u32, WireError> {
        let ch = self.channel(this)?;
        match u8::try_from(samples) {
            Ok(n @ 1..=64) => Ok(u32::from(core::mem::replace(&mut ch.samples, n))),
            _ => Err(WireError::BadArguments),
        }
    }
}

impl device::Handler for Device {
    fn add(&mut self, a: i32, b: i32) -> Result<i32, WireError> {
        a.checked_add(b).ok_or(WireError::BadArguments)
    }
    fn echo(&mut self, data: heapless::Vec<u8, 64>) -> Result<heapless::Vec<u8, 64>, WireError> {
        Ok(data)
    }
    fn info(&mut self) -> Result<DeviceInfo, WireError> {
        Ok(self.info.clone())
    }
    fn set_level(&mut self, level: u32) -> Result<u32, WireError> {
        Ok(core::mem::replace(&mut self.level, level))
    }
    fn get_level(&mut self) -> Result<u32, WireError> {
        Ok(self.level)
    }
    fn sleep(&mut self, _ms: u32) -> Result<(), WireError> {
        // Answered by the main loop when the time is up, never through dispatch.
        Err(WireError::Internal)
    }
    fn ask_host(&mut self, _a: i32, _b: i32) -> Result<i32, WireError> {
        // Answered by the main loop when the caller has answered, never through dispatch.
        Err(WireError::Internal)
    }
    fn open_channel(&mut self, this: Handle, kind: u8) -> Result<(), WireError> {
        let slot = self.channels.get_mut(this.slot());
        match slot {
            Some(slot) if kind <= 1 => {
                *slot = Some(Channel {
                    handle: this,
                    kind,
                    samples: 1,
                });
                Ok(())
            }
            _ => Err(WireError::BadArguments),
        }
    }
    fn power_down(&mut self, kind: u8) -> Result<u32, WireError> {
        if kind > 1 {
            return Err(WireError::BadArguments);
        }
        self.down = Some(kind);
        let open = self.channels.iter().flatten().filter(|c| c.kind == kind);
        Ok(open.count() as u32)
    }
    fn sample(&mut self, stream: RequestId, hz: u32, count: u32) -> Result<(), WireError> {
        if !(1..=1000).contains(&hz) {
            return Err(WireError::BadArguments);
        }
        self.accepted = Some((stream, hz, count));
        Ok(())
    }
}

#[entry]
fn main() -> ! {
    let Some(mut cp) = cortex_m::Peripherals::take() else {
        panic!()
    };
    cp.SYST.set_clock_source(SystClkSource::Core);
    cp.SYST.set_reload(CORE_HZ / 1000 - 1);
    cp.SYST.clear_current();
    cp.SYST.enable_counter();
    cp.SYST.enable_interrupt();

    let Some(queue) = cortex_m::singleton!(: Queue<u8, 256> = Queue::new()) else {
        panic!()
    };
    let (producer, consumer) = queue.split();
    cortex_m::interrupt::free(|cs| RX_PRODUCER.borrow(cs).replace(Some(producer)));
    uart0::init();
    // SAFETY: the handler and its queue are set up above, before the interrupt can fire.
    unsafe { cortex_m::peripheral::NVIC::unmask(Interrupt::UART0) };
    log!("wirecall example firmware up");

    let config = Config::default()
        .with_manifest(&device::MANIFEST)
        .with_handles();
    let clock = SysTickClock { last: 0, wraps: 0 };
    // In a static (not on the stack) so the link-time RAM figure includes the endpoint.
    let Some(driver) = cortex_m::singleton!(: UartDriver<uart0::Uart0, SysTickClock> =
        UartDriver::new(uart0::Uart0 { rx: consumer }, clock, config))
    else {
        panic!()
    };
    let mut dev = Device {
        level: 0,
        info: DeviceInfo {
            firmware: heapless::String::try_from(concat!(
                "wirecall-example ",
                env!("CARGO_PKG_VERSION")
            ))
            .unwrap_or_default(),
            uptime_ms: 0,
            frames_in: 0,
            frames_out: 0,
            crc_errors: 0,
            framing_errors: 0,
            busy_sent: 0,
            requests: 0,
            rx_overruns: 0,
        },
        accepted: None,
        channels: [None; CHANNELS],
        down: None,
    };
    // `sample` streams in progress (at most IN (4) requests are admitted).
    let mut sampling: heapless::Vec<Sampling, 4> = heapless::Vec::new();
    // `ask_host` requests waiting for the caller's answer: (our call, their request).
    let mut asking: heapless::Vec<(CallId, RequestId), 4> = heapless::Vec::new();
    // Calls to `sleep` in progress: who to answer, and when.
    let mut sleeping: heapless::Vec<(RequestId, u64), 4> = heapless::Vec::new();
    let mut out = [0u8; 128];

    loop {
        let _ = driver.poll(); // Infallible
        let now = driver.now().as_micros();
        let stats = *driver.endpoint().stats();
        dev.info.uptime_ms = now / 1000;
        dev.info.frames_in = stats.frames_in;
        dev.info.frames_out = stats.frames_out;
        dev.info.crc_errors = stats.crc_errors;
        dev.info.framing_errors = stats.framing_errors;
        dev.info.busy_sent = stats.busy_sent;
        dev.info.requests = stats.requests_received;
        dev.info.rx_overruns = RX_LOST.load(Ordering::Relaxed);

        while let Some(event) = driver.endpoint().poll_event() {
            match event {
                Event::Request {
                    id,
                    procedure,
                    args,
                    ..
                } if procedure == device::Sleep::ID => {
                    let ms = wirecall::decode_exact::<(u32,)>(args).map(|(ms,)| ms);
                    match ms {
                        // At most IN (4) requests are admitted, so this never overflows.
                        Ok(ms) => {
                            let _ = sleeping.push((id, now + u64::from(ms) * 1000));
                        }
                        Err(_) => {
                            let _ = driver.endpoint().respond_error(
                                id,
                                WireError::BadArguments,
                                "sleep(ms: u32)",
                            );
                        }
                    }
                }
                Event::Request {
                    id,
                    procedure,
                    args,
                    ..
                } if procedure == device::AskHost::ID => {
                    // The same arguments as the caller's `add`: pass them on, one level
                    // deeper than this request.
                    // Copied out: the arguments live in the endpoint's receive buffer.
                    let mut copy = [0u8; 16];
                    let n = args.len().min(copy.len());
                    copy[..n].copy_from_slice(&args[..n]);
                    let now_core = wirecall::Instant::from_micros(now);
                    let ep = driver.endpoint();
                    match ep.open(now_core, 0, &copy[..n], Open::call().nested_in(id)) {
                        Ok(call) => {
                            let _ = asking.push((call, id));
                        }
                        Err(_) => {
                            let _ = ep.respond_error(id, WireError::Internal, "cannot call back");
                        }
                    }
                }
                Event::Reply { id: call, payload } => {
                    let mut answer = [0u8; 16];
                    let n = payload.len().min(answer.len());
                    answer[..n].copy_from_slice(&payload[..n]);
                    if let Some(i) = asking.iter().position(|(c, _)| *c == call) {
                        let (_, request) = asking.swap_remove(i);
                        let _ = driver.endpoint().respond(request, &answer[..n]);
                    }
                }
                Event::CallFailed { id: call, .. } => {
                    if let Some(i) = asking.iter().position(|(c, _)| *c == call) {
                        let (_, request) = asking.swap_remove(i);
                        let _ = driver.endpoint().respond_error(
                            request,
                            WireError::Internal,
                            "the call back failed",
                        );
                    }
                }
                Event::Request {
                    id,
                    procedure,
                    args,
                    mode,
                    export,
                } => {
                    log!("call {=u32}", procedure);
                    let answer = device::dispatch_request(
                        &mut dev, id, mode, procedure, args, export, &mut out,
                    );
                    let ep = driver.endpoint();
                    // A power_down: its channels are revoked before the answer leaves, so
                    // their holders know when it arrives.
                    if let Some(kind) = dev.down.take() {
                        for slot in dev.channels.iter_mut() {
                            if let Some(ch) = slot.filter(|c| c.kind == kind) {
                                let _ = ep.revoke(ch.handle, WireError::Revoked, "powered down");
                                *slot = None;
                            }
                        }
                    }
                    // The transmit queue was emptied by `poll`, so these fit (four revokes
                    // and an answer are under 200 of its 576 bytes).
                    let _ = match answer {
                        Ok(Dispatched::Reply(n)) => ep.respond(id, out.get(..n).unwrap_or(&[])),
                        // open_channel made its channel at the announced handle's slot.
                        Ok(Dispatched::Export { interface, handle }) => {
                            match ep.respond_export_at(id, interface, handle) {
                                Ok(_) => Ok(()),
                                Err(_) => {
                                    if let Some(slot) = dev.channels.get_mut(handle.slot()) {
                                        *slot = None;
                                    }
                                    ep.respond_error(id, WireError::Internal, "")
                                }
                            }
                        }
                        Ok(Dispatched::Stream) => Ok(()),
                        Err(e) => ep.respond_error(id, e, ""),
                    };
                    if let Some((stream, hz, count)) = dev.accepted.take() {
                        let period_us = 1_000_000 / u64::from(hz);
                        let _ = sampling.push(Sampling {
                            stream: ServedStream::new(stream),
                            period_us,
                            due: now,
                            sent: 0,
                            count,
                        });
                    }
                }
                // A method call on a channel.
                Event::Invoke {
                    id,
                    on,
                    method,
                    args,
                    ..
                } => {
                    let answer = match on {
                        Resolved::Object { handle, interface } => device::dispatch_invoke(
                            &mut dev, handle, interface, method, args, &mut out,
                        ),
                        // Pipelined on a request that is still unanswered. This firmware
                        // answers every open_channel in the pass that took it, so that is
                        // one whose answer did not fit the transmit queue: try again.
                        Resolved::Pending(_) => Err(WireError::Busy),
                    };
                    let ep = driver.endpoint();
                    let _ = match answer {
                        Ok(n) => ep.respond(id, out.get(..n).unwrap_or(&[])),
                        Err(e) => ep.respond_error(id, e, ""),
                    };
                }
                // The host dropped its handle (or the session ended): close the channel.
                Event::Released { handle, .. } => {
                    if let Some(slot) = dev.channels.get_mut(handle.slot()) {
                        *slot = None;
                    }
                }
                Event::RequestEnded { id, .. } => {
                    sleeping.retain(|(s, _)| *s != id);
                    sampling.retain(|s| s.stream.id() != id);
                    // Our call back for it is moot: cancel it.
                    if let Some(i) = asking.iter().position(|(_, r)| *r == id) {
                        let (call, _) = asking.swap_remove(i);
                        let _ = driver.endpoint().cancel(call);
                    }
                }
                _ => {}
            }
        }
        let ep = driver.endpoint();
        // Each stream samples when its next sample is due and the caller has granted
        // credit for it; without credit it waits (the sample is taken late, not queued).
        sampling.retain_mut(|s| {
            if s.count != 0 && s.sent == s.count {
                // The end; retried while the transmit queue has no room.
                return ep.respond(s.stream.id(), &[]) == Err(wirecall::RespondError::WouldBlock);
            }
            if now < s.due || s.stream.credit(ep) == 0 {
                return true;
            }
            let at_ms = (now / 1000) as u32;
            let reading = Reading {
                seq: s.sent,
                at_ms,
                milli_celsius: temperature(at_ms),
            };
            match s.stream.send(ep, &reading) {
                Ok(()) => {
                    s.sent += 1;
                    // On a fixed schedule; a stream the caller held back for more than a
                    // period starts a new one from now (no burst of catch-up samples).
                    s.due = if now >= s.due + s.period_us {
                        now + s.period_us
                    } else {
                        s.due + s.period_us
                    };
                    true
                }
                Err(wirecall::StreamError::WouldBlock) => true,
                Err(_) => false, // the stream ended
            }
        });
        sleeping.retain(|&(id, due)| {
            if now < due {
                return true;
            }
            let _ = ep.respond(id, &[]); // `()` encodes as nothing
            false
        });
        // With interrupts masked, so none can slip in between the check and the sleep; a
        // pending interrupt (the next byte, the next tick) still wakes WFI.
        cortex_m::interrupt::free(|_| {
            if driver.is_idle() {
                cortex_m::asm::wfi();
            }
        });
    }
}

#[exception]
fn SysTick() {
    MILLIS.fetch_add(1, Ordering::Relaxed);
}

#[interrupt]
fn UART0() {
    cortex_m::interrupt::free(|cs| {
        if let Some(producer) = RX_PRODUCER.borrow(cs).borrow_mut().as_mut() {
            let lost = uart0::on_interrupt(producer);
            if lost > 0 {
                RX_LOST.fetch_add(lost, Ordering::Relaxed);
            }
        }
    });
}
