//! A simulated serial line, one direction, on a virtual clock.
//!
//! Bytes written at time `t` leave the sender one after another at the line's baud rate
//! (10 bit times per byte, as 8N1 framing spends), travel for `latency`, and can be read
//! once their arrival time has come. [`Faults`] drop, corrupt, duplicate or insert bytes,
//! drawn from a seeded generator so every run with the same seed is identical. Time is a
//! [`Duration`] since an origin the caller chooses; the line never reads a real clock.

use std::collections::VecDeque;
use std::time::Duration;

/// What can go wrong on the line, as probabilities per byte (0.0 to 1.0).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Faults {
    /// The byte never arrives.
    pub drop: f64,
    /// One random bit of the byte is inverted.
    pub flip: f64,
    /// The byte arrives twice.
    pub duplicate: f64,
    /// A random byte arrives before it (line noise).
    pub insert: f64,
    /// The whole line is cut: nothing written arrives.
    pub cut: bool,
}

impl Faults {
    /// A clean line.
    pub const NONE: Faults = Faults {
        drop: 0.0,
        flip: 0.0,
        duplicate: 0.0,
        insert: 0.0,
        cut: false,
    };
}

/// Counts of what the faults did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineStats {
    /// Bytes written.
    pub written: u64,
    /// Bytes dropped (including by a cut).
    pub dropped: u64,
    /// Bytes with a flipped bit.
    pub flipped: u64,
    /// Bytes duplicated.
    pub duplicated: u64,
    /// Noise bytes inserted.
    pub inserted: u64,
}

/// One direction of a serial line.
///
/// Two of them make a line between two endpoints; a loop in virtual time moves bytes and
/// jumps to the next moment something happens (a byte arrives, a deadline is due), so a
/// second of line time takes microseconds and every run is the same:
///
/// ```
/// use std::time::Duration;
/// use wirecall::{Config, Endpoint, Event, Instant, Procedure, WireError};
/// use wirecall_adapters::sim::{Faults, SimLine};
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
/// /// Writes what `ep` has to send onto `line`, at `t`.
/// fn send(ep: &mut Endpoint, line: &mut SimLine, t: Duration) {
///     let mut buf = [0u8; 64];
///     loop {
///         let n = ep.poll_transmit(&mut buf);
///         if n == 0 {
///             break;
///         }
///         line.write(t, &buf[..n]);
///     }
/// }
/// /// Feeds `bytes` to `ep` at `now`, answering requests and keeping replies; a call that
/// /// failed (its request was damaged on the line and its deadline passed) is forgotten.
/// fn receive(ep: &mut Endpoint, now: Instant, mut bytes: &[u8], sum: &mut Option<i32>, called: &mut bool) {
///     while !bytes.is_empty() {
///         bytes = &bytes[ep.handle_input(now, bytes)..];
///         while let Some(event) = ep.poll_event() {
///             match event {
///                 Event::Request { id, procedure, args, .. } => {
///                     let mut out = [0u8; calc::MAX_REPLY_LEN];
///                     let _ = match calc::dispatch(&mut Device, procedure, args, &mut out) {
///                         Ok(n) => ep.respond(id, &out[..n]),
///                         Err(e) => ep.respond_error(id, e, ""),
///                     };
///                 }
///                 Event::Reply { payload, .. } => *sum = calc::Add::output(payload).ok(),
///                 Event::CallFailed { .. } => *called = false, // call again
///                 _ => {}
///             }
///         }
///     }
/// }
///
/// // 9600 baud, 2 ms of latency each way; one byte in 200 corrupted on the way out.
/// let mut to_device = SimLine::new(9600, Duration::from_millis(2), 7);
/// let mut to_host = SimLine::new(9600, Duration::from_millis(2), 8);
/// to_device.set_faults(Faults { flip: 0.005, ..Faults::NONE });
/// let micros = |t: Duration| Instant::from_micros(t.as_micros() as u64);
/// let mut host: Endpoint = Endpoint::new(Instant::ZERO, Config::default().expecting_schema(calc::SCHEMA_HASH));
/// let mut device: Endpoint = Endpoint::new(Instant::ZERO, Config::default().with_manifest(&calc::MANIFEST));
///
/// let (mut t, mut sum, mut called) = (Duration::ZERO, None, false);
/// let mut bytes = Vec::new();
/// while sum.is_none() {
///     let now = micros(t);
///     host.handle_timeout(now); // runs only what is due: handshake retries, deadlines
///     device.handle_timeout(now);
///     if host.is_connected() && !called {
///         called = host.call(now, calc::Add::ID, calc::Add::args(&(40, 2))).is_ok();
///     }
///     send(&mut host, &mut to_device, t);
///     send(&mut device, &mut to_host, t);
///     bytes.clear();
///     to_device.read(t, &mut bytes);
///     receive(&mut device, now, &bytes, &mut sum, &mut called);
///     bytes.clear();
///     to_host.read(t, &mut bytes);
///     receive(&mut host, now, &bytes, &mut sum, &mut called);
///     // Jump to the next byte's arrival or the next deadline, whichever comes first.
///     let deadline = [host.poll_timeout(), device.poll_timeout()].into_iter().flatten().min();
///     let deadline = deadline.map(|d| Duration::from_micros(d.as_micros()));
///     let arrival = to_device.next_arrival().into_iter().chain(to_host.next_arrival()).min();
///     let next = [deadline, arrival].into_iter().flatten().min().unwrap_or(t);
///     t = next.max(t + Duration::from_micros(1));
///     assert!(t < Duration::from_secs(60), "no answer in a minute of line time");
/// }
/// assert_eq!(sum, Some(42));
/// // At 9600 baud a byte takes over a millisecond: the handshake and the call took
/// // tens of milliseconds of line time (and a moment of real time).
/// assert!(t > Duration::from_millis(20), "{t:?}");
/// assert!(to_host.stats().written > 0);
/// ```
#[derive(Debug)]
pub struct SimLine {
    byte_time: Duration,
    latency: Duration,
    faults: Faults,
    rng: fastrand::Rng,
    /// Bytes in flight with their arrival times, in order.
    in_flight: VecDeque<(Duration, u8)>,
    /// When the transmitter is free to start the next byte.
    tx_free_at: Duration,
    stats: LineStats,
    /// Every byte read so far, when recording.
    tap: Option<Vec<u8>>,
    /// Every byte written so far (before the faults), when recording.
    tap_written: Option<Vec<u8>>,
}

impl SimLine {
    /// A clean line at `baud` bits per second (0: infinitely fast) with `latency`, its
    /// fault generator seeded with `seed`.
    pub fn new(baud: u32, latency: Duration, seed: u64) -> Self {
        let byte_time = if baud == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(10_000_000_000 / u64::from(baud))
        };
        SimLine {
            byte_time,
            latency,
            faults: Faults::NONE,
            rng: fastrand::Rng::with_seed(seed),
            in_flight: VecDeque::new(),
            tx_free_at: Duration::ZERO,
            stats: LineStats::default(),
            tap: None,
            tap_written: None,
        }
    }

    /// Sets the faults from now on.
    pub fn set_faults(&mut self, faults: Faults) {
        self.faults = faults;
    }

    /// What the faults did so far.
    pub fn stats(&self) -> LineStats {
        self.stats
    }

    /// Time one byte occupies the line.
    pub fn byte_time(&self) -> Duration {
        self.byte_time
    }

    /// Writes `bytes` at `now`. They queue behind earlier bytes at the line's rate.
    pub fn write(&mut self, now: Duration, bytes: &[u8]) {
        if let Some(tap) = &mut self.tap_written {
            tap.extend_from_slice(bytes);
        }
        for &byte in bytes {
            self.stats.written += 1;
            let start = self.tx_free_at.max(now);
            self.tx_free_at = start + self.byte_time;
            let arrive = self.tx_free_at + self.latency;
            if self.faults.cut || self.chance(self.faults.drop) {
                self.stats.dropped += 1;
                continue;
            }
            if self.chance(self.faults.insert) {
                self.stats.inserted += 1;
                let noise = self.rng.u8(..);
                self.in_flight.push_back((arrive, noise));
            }
            let mut b = byte;
            if self.chance(self.faults.flip) {
                self.stats.flipped += 1;
                b ^= 1 << self.rng.u8(0..8);
            }
            self.in_flight.push_back((arrive, b));
            if self.chance(self.faults.duplicate) {
                self.stats.duplicated += 1;
                self.in_flight.push_back((arrive, b));
            }
        }
    }

    /// Moves the bytes that have arrived by `now` into `out`, returning how many.
    pub fn read(&mut self, now: Duration, out: &mut Vec<u8>) -> usize {
        let mut n = 0;
        while let Some(&(at, b)) = self.in_flight.front() {
            if at > now {
                break;
            }
            self.in_flight.pop_front();
            out.push(b);
            if let Some(tap) = &mut self.tap {
                tap.push(b);
            }
            n += 1;
        }
        n
    }

    /// Starts recording every byte read, for tests that inspect the traffic.
    pub fn record(&mut self) {
        self.tap.get_or_insert_with(Vec::new);
    }

    /// Takes the bytes recorded since the last call.
    pub fn take_recorded(&mut self) -> Vec<u8> {
        self.tap.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Starts recording every byte written, as the sender wrote it (before the faults):
    /// compared with what was read, it tells a frame that arrived intact from one that
    /// was damaged on the way.
    pub fn record_written(&mut self) {
        self.tap_written.get_or_insert_with(Vec::new);
    }

    /// Takes the bytes written since the last call, as the sender wrote them.
    pub fn take_written(&mut self) -> Vec<u8> {
        self.tap_written
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// When the next byte in flight arrives, if any.
    pub fn next_arrival(&self) -> Option<Duration> {
        self.in_flight.front().map(|&(at, _)| at)
    }

    /// Bytes written but not yet read.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.f64() < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baud_rate_paces_bytes() {
        let mut line = SimLine::new(115_200, Duration::from_micros(100), 1);
        line.write(Duration::ZERO, &[1, 2, 3]);
        let mut out = Vec::new();
        // Bytes arrive at 186.8, 273.6 and 360.4 us: 86.8 us each, plus latency.
        assert_eq!(line.read(Duration::from_micros(200), &mut out), 1);
        assert_eq!(line.read(Duration::from_micros(361), &mut out), 2);
        assert_eq!(out, [1, 2, 3]);
        assert_eq!(line.next_arrival(), None);
    }

    #[test]
    fn faults_are_seeded_and_counted() {
        let run = |seed| {
            let mut line = SimLine::new(0, Duration::ZERO, seed);
            line.set_faults(Faults {
                drop: 0.1,
                flip: 0.1,
                duplicate: 0.1,
                insert: 0.1,
                cut: false,
            });
            line.write(Duration::ZERO, &[0x55; 1000]);
            let mut out = Vec::new();
            line.read(Duration::ZERO, &mut out);
            (out, line.stats())
        };
        let (a, sa) = run(7);
        assert_eq!(run(7).0, a);
        assert!(sa.dropped > 50 && sa.flipped > 50 && sa.duplicated > 50 && sa.inserted > 50);
        assert_eq!(
            a.len() as u64,
            1000 - sa.dropped + sa.duplicated + sa.inserted
        );
    }
}
