//! The decoder: timed key edges in, bytes out. It classifies each mark and gap by its length
//! in units (a mark under 1.85 units is a dit; a gap of 1.85 to 4.4 units ends a character,
//! a longer one ends the word, that is, the byte), and drops what it cannot read: a word
//! that is not exactly two hex digits is counted and yields no byte (the frame it belonged
//! to then fails its CRC, and the protocol reports the loss).
//!
//! The thresholds leave room for timing errors of 30 % of a unit either way, in either of
//! the two usual models: every edge displaced by up to 0.3 units (a dit then lasts 0.4 to 1.6
//! units, a dah 2.4 to 3.6, a letter gap 2.4 to 3.6, a word gap 6.4 to 7.6), or every mark
//! and gap 30 % longer or shorter (a dit 0.7 to 1.3, a dah 2.1 to 3.9, a letter gap 2.1 to
//! 3.9, a word gap 4.9 to 9.1). A decoder made with [`Decoder::new`] reads at the unit it
//! was given, so these margins hold exactly; [`Decoder::tracking`] follows a sender whose
//! speed differs or drifts (a person, a recording), at the cost of some of that margin.

use heapless::Deque;
use wirecall::{Duration, Instant};

use super::code::{digit, Code};
use super::Edge;

/// Marks and gaps shorter than this many hundredths of the unit are glitches (a click, a
/// fade of the tone): ignored, as if the key had not moved.
const GLITCH: u64 = 30;
/// Marks shorter than this many hundredths are dits; gaps shorter, gaps inside a character.
const DAH: u64 = 185;
/// Gaps at least this many hundredths end the word (the byte).
const WORD: u64 = 440;
/// A mark longer than this many hundredths is not Morse (a stuck key, a carrier).
const LONG_MARK: u64 = 600;

/// What the decoder has seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecoderStats {
    /// Bytes decoded.
    pub bytes: u32,
    /// Words that were not two hex digits (each a byte lost).
    pub bad_words: u32,
    /// Marks and gaps too short to be Morse, ignored.
    pub glitches: u32,
}

/// Decodes edges keyed by a [`Keyer`](super::Keyer) (or a person, or a tone detector) back
/// into bytes.
///
/// ```
/// use wirecall::{Duration, Instant};
/// use wirecall_adapters::morse::{Decoder, Keyer};
///
/// let unit = Duration::from_millis(60);
/// let (mut keyer, mut decoder) = (Keyer::<8>::new(unit), Decoder::new(unit));
/// for b in *b"hi" {
///     keyer.push(Instant::ZERO, b).unwrap();
/// }
/// let mut heard = Vec::new();
/// while let Some(at) = keyer.poll_timeout() {
///     if let Some(edge) = keyer.handle_timeout(at) {
///         decoder.edge(edge);
///     }
///     heard.extend(std::iter::from_fn(|| decoder.poll_byte()));
/// }
/// // The last byte ends when the silence after it is long enough to be a word gap.
/// let end = decoder.poll_timeout().unwrap();
/// decoder.handle_timeout(end);
/// heard.extend(std::iter::from_fn(|| decoder.poll_byte()));
/// assert_eq!(heard, b"hi");
/// ```
#[derive(Debug)]
pub struct Decoder {
    nominal: u64,
    /// The unit now, in microseconds: when tracking, follows the sender's speed within 0.5
    /// to 2 times `nominal`.
    unit: u64,
    tracking: bool,
    /// The last edge taken (glitches are not).
    last: Option<Edge>,
    /// When the mark before the current gap started (to undo a glitch of a gap).
    mark_start: Instant,
    /// When the gap before the current mark started (to undo a glitch of a mark).
    gap_start: Instant,
    /// The character being read.
    code: Code,
    /// The word being read: its digits so far.
    digits: [u8; 2],
    count: u8,
    /// The word cannot be a byte any more (a bad character, too many, a long mark).
    spoiled: bool,
    /// What the last mark changed (character, unit, spoiled), until the gap after it proves
    /// longer than a glitch.
    undo: Option<(Code, u64, bool)>,
    out: Deque<u8, 4>,
    stats: DecoderStats,
}

impl Decoder {
    /// A decoder reading dits of exactly `unit` (a keyer's, or a link's of known speed).
    pub const fn new(unit: Duration) -> Self {
        Self::with(unit, false)
    }

    /// A decoder that starts at `unit` and follows the sender's speed (each mark moves its
    /// unit a sixteenth of the way to what that mark says, within half to twice `unit`): for
    /// a person's sending or a recording.
    pub const fn tracking(unit: Duration) -> Self {
        Self::with(unit, true)
    }

    const fn with(unit: Duration, tracking: bool) -> Self {
        let nominal = if unit.as_micros() == 0 {
            1
        } else {
            unit.as_micros()
        };
        Decoder {
            nominal,
            unit: nominal,
            tracking,
            last: None,
            mark_start: Instant::ZERO,
            gap_start: Instant::ZERO,
            code: Code { len: 0, dahs: 0 },
            digits: [0; 2],
            count: 0,
            spoiled: false,
            undo: None,
            out: Deque::new(),
            stats: DecoderStats {
                bytes: 0,
                bad_words: 0,
                glitches: 0,
            },
        }
    }

    /// The length of a dit it reads by now.
    pub const fn unit(&self) -> Duration {
        Duration::from_micros(self.unit)
    }

    /// What it has seen.
    pub const fn stats(&self) -> DecoderStats {
        self.stats
    }

    /// Takes one key edge. Edges must come in time order; a repeated state is ignored.
    pub fn edge(&mut self, edge: Edge) {
        let Some(last) = self.last else {
            if edge.down {
                self.mark_start = edge.at;
                self.last = Some(edge);
            }
            return;
        };
        if edge.down == last.down || edge.at < last.at {
            return;
        }
        let span = edge.at.saturating_since(last.at).as_micros();
        let hundredths = span.saturating_mul(100) / self.unit;
        if edge.down {
            // A gap ended.
            if hundredths < GLITCH {
                // A dropout inside a mark: the mark goes on, and what its first part did
                // (an element, a speed estimate) is undone: it is taken once, whole, at
                // its real end.
                self.stats.glitches = self.stats.glitches.saturating_add(1);
                if let Some((code, unit, spoiled)) = self.undo.take() {
                    (self.code, self.unit, self.spoiled) = (code, unit, spoiled);
                }
                self.last = Some(Edge {
                    at: self.mark_start,
                    down: true,
                });
                return;
            }
            self.undo = None;
            if hundredths >= WORD {
                self.end_word();
            } else if hundredths >= DAH {
                self.end_character();
            }
            self.mark_start = edge.at;
        } else {
            // A mark ended.
            if hundredths < GLITCH {
                // A click inside a gap: the gap goes on.
                self.stats.glitches = self.stats.glitches.saturating_add(1);
                self.last = Some(Edge {
                    at: self.gap_start,
                    down: false,
                });
                return;
            }
            let dah = hundredths >= DAH;
            self.undo = Some((self.code, self.unit, self.spoiled));
            if hundredths > LONG_MARK {
                self.spoiled = true;
            } else if self.tracking {
                let says = if dah { span / 3 } else { span };
                let unit = (self.unit * 15 + says) / 16;
                self.unit = unit.clamp(self.nominal / 2, self.nominal * 2).max(1);
            }
            if self.code.len >= 5 {
                self.spoiled = true;
            } else {
                self.code.len += 1;
                self.code.dahs = (self.code.dahs << 1) | u8::from(dah);
            }
            self.gap_start = edge.at;
        }
        self.last = Some(edge);
    }

    /// When the silence after the last mark becomes a word gap, ending the byte being
    /// read; `None` if none is.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let last = self.last.filter(|l| !l.down)?;
        if self.code.len == 0 && self.count == 0 && !self.spoiled {
            return None;
        }
        Some(last.at + Duration::from_micros(self.unit.saturating_mul(WORD) / 100))
    }

    /// Ends the byte being read if the silence has lasted a word gap by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|t| t <= now) {
            self.end_word();
        }
    }

    /// The next byte decoded, if any. Drain it after every edge and timeout: it holds four
    /// bytes, and a fifth pushes out the oldest.
    pub fn poll_byte(&mut self) -> Option<u8> {
        self.out.pop_front()
    }

    fn end_character(&mut self) {
        if self.code.len == 0 {
            return;
        }
        match digit(self.code) {
            Some(d) if usize::from(self.count) < self.digits.len() => {
                if let Some(slot) = self.digits.get_mut(usize::from(self.count)) {
                    *slot = d;
                }
                self.count += 1;
            }
            _ => self.spoiled = true,
        }
        self.code = Code { len: 0, dahs: 0 };
    }

    fn end_word(&mut self) {
        self.end_character();
        if self.count == 0 && !self.spoiled {
            return;
        }
        if self.count == 2 && !self.spoiled {
            let [hi, lo] = self.digits;
            // The queue is drained after every edge; a full one loses the oldest.
            if self.out.is_full() {
                self.out.pop_front();
            }
            let _ = self.out.push_back(hi << 4 | lo);
            self.stats.bytes = self.stats.bytes.saturating_add(1);
        } else {
            self.stats.bad_words = self.stats.bad_words.saturating_add(1);
        }
        self.count = 0;
        self.spoiled = false;
    }
}
