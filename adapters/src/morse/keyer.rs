//! The keyer: bytes in, timed key-down and key-up edges out, in the core's sans-I/O shape
//! (`push`, `poll_timeout`, `handle_timeout`). No clock, no allocation: a firmware keys a
//! GPIO or a buzzer from the edges, a simulation timestamps them.

use heapless::Deque;
use wirecall::{Duration, Instant};

use super::code::{byte_codes, LETTER_GAP, WORD_GAP};
use super::Edge;

/// Segments of one byte: up to 10 marks, the 9 gaps between them, the word gap.
const MAX_SEGMENTS: usize = 20;

/// Keys bytes as Morse (see [`code`](super::code)): each byte's two hex digits, then a
/// word gap, one unit of `unit` per dit. Holds up to `N` bytes waiting besides the one
/// being keyed.
///
/// ```
/// use wirecall::{Duration, Instant};
/// use wirecall_adapters::morse::{Edge, Keyer};
///
/// let mut keyer = Keyer::<4>::new(Duration::from_millis(60)); // 20 words per minute
/// keyer.push(Instant::ZERO, 0xE5).unwrap(); // "E" then "5": . .....
/// let mut edges = Vec::new();
/// while let Some(at) = keyer.poll_timeout() {
///     edges.extend(keyer.handle_timeout(at)); // a firmware would wait until `at` first
/// }
/// assert_eq!(edges.len(), 12, "six marks, each down and up");
/// assert_eq!(edges[0], Edge { at: Instant::ZERO, down: true });
/// // "E" is one dit; then a letter gap of three units.
/// assert_eq!(edges[1].at.as_micros(), 60_000);
/// assert_eq!(edges[2].at.as_micros(), 4 * 60_000);
/// ```
#[derive(Debug)]
pub struct Keyer<const N: usize> {
    unit: Duration,
    queue: Deque<u8, N>,
    /// Units of the current byte's segments: mark, gap, mark, ..., mark, word gap.
    segments: [u8; MAX_SEGMENTS],
    count: u8,
    /// The segment that starts at `next`.
    pos: u8,
    /// When the key next changes (or the word gap ends); `None` when idle.
    next: Option<Instant>,
    /// When the last byte's word gap ended (the earliest the next byte may start).
    free_at: Instant,
    down: bool,
}

impl<const N: usize> Keyer<N> {
    /// An idle keyer with dits of `unit` (1200 ms / words per minute: 60 ms is 20 wpm).
    pub const fn new(unit: Duration) -> Self {
        Keyer {
            unit,
            queue: Deque::new(),
            segments: [0; MAX_SEGMENTS],
            count: 0,
            pos: 0,
            next: None,
            free_at: Instant::ZERO,
            down: false,
        }
    }

    /// The length of a dit.
    pub const fn unit(&self) -> Duration {
        self.unit
    }

    /// Queues `byte` at `now`; an idle keyer starts it at `now` (or once the last byte's word
    /// gap is over). Gives the byte back if `N` bytes already wait.
    pub fn push(&mut self, now: Instant, byte: u8) -> Result<(), u8> {
        // A word gap that ended by `now` keys no edge, so a caller may not have handled it:
        // the keyer is idle then, and this byte starts now, not back when the gap ended.
        if let Some(end) = self.next.filter(|&t| self.pos >= self.count && t <= now) {
            if self.queue.is_empty() {
                self.free_at = end;
                self.next = None;
            }
        }
        if self.next.is_none() {
            self.load(byte);
            self.next = Some(if now > self.free_at {
                now
            } else {
                self.free_at
            });
            return Ok(());
        }
        self.queue.push_back(byte)
    }

    /// True if another byte can be pushed.
    pub fn has_room(&self) -> bool {
        self.next.is_none() || !self.queue.is_full()
    }

    /// True if nothing is being keyed or waits (the last word gap is over).
    pub fn is_idle(&self) -> bool {
        self.next.is_none()
    }

    /// Whether the key is down now.
    pub const fn is_down(&self) -> bool {
        self.down
    }

    /// When the key next changes (or the keyer next has something to do); `None` when idle.
    pub const fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }

    /// Moves the keyer to `now`: returns the edge due at or before `now`, if one is (with
    /// the time it was due, not `now`). Call it until [`poll_timeout`](Self::poll_timeout)
    /// is later than `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Edge> {
        loop {
            let at = self.next.filter(|&t| t <= now)?;
            if self.pos >= self.count {
                // The word gap is over: the next byte starts now, or the keyer rests.
                self.free_at = at;
                match self.queue.pop_front() {
                    Some(byte) => self.load(byte),
                    None => {
                        self.next = None;
                        return None;
                    }
                }
            }
            let units = self
                .segments
                .get(usize::from(self.pos))
                .copied()
                .unwrap_or(0);
            let down = self.pos.is_multiple_of(2);
            self.pos += 1;
            self.next = Some(at + self.unit.saturating_mul(u64::from(units)));
            if down != self.down {
                self.down = down;
                return Some(Edge { at, down });
            }
        }
    }

    /// Lays out `byte`'s segments; it starts at `next`.
    fn load(&mut self, byte: u8) {
        let mut n = 0;
        let [hi, lo] = byte_codes(byte);
        for (k, code) in [hi, lo].into_iter().enumerate() {
            if k == 1 {
                self.segments[n] = LETTER_GAP as u8;
                n += 1;
            }
            for i in 0..code.len {
                if i > 0 {
                    self.segments[n] = 1;
                    n += 1;
                }
                self.segments[n] = if code.is_dah(i) { 3 } else { 1 };
                n += 1;
            }
        }
        self.segments[n] = WORD_GAP as u8;
        self.count = n as u8 + 1;
        self.pos = 0;
    }
}
