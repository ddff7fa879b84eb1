//! A noisy Morse channel for tests and the demo: what a radio path or a sloppy hand does to
//! the keyed edges. Seeded, so a failure can be replayed.

use wirecall::{Duration, Instant};

use super::Edge;

/// What the channel does, per mark (a key-down and its key-up).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Impairments {
    /// Each edge moves by up to this fraction of the unit, either way (uniformly): 0.3 lets a
    /// dit last 0.4 to 1.6 units.
    pub jitter: f64,
    /// Each mark and each gap lasts up to this fraction longer or shorter (uniformly),
    /// shifting everything after it: a sender whose rhythm wanders.
    pub spread: f64,
    /// Chance a mark is lost (its edges never arrive).
    pub drop: f64,
    /// Chance a mark is stretched by one to two units (a dit may become a dah).
    pub stretch: f64,
    /// Chance a gap gets a burst of noise: a spurious mark of 0.1 to 1.5 units somewhere
    /// inside it.
    pub burst: f64,
}

impl Impairments {
    /// A clean channel.
    pub const NONE: Impairments = Impairments {
        jitter: 0.0,
        spread: 0.0,
        drop: 0.0,
        stretch: 0.0,
        burst: 0.0,
    };
}

/// What the channel did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// Marks that went in.
    pub marks: u64,
    /// Marks lost.
    pub dropped: u64,
    /// Marks stretched.
    pub stretched: u64,
    /// Noise bursts added.
    pub bursts: u64,
}

/// Passes the edges of a keyer through [`Impairments`]. Feed it each edge in order; it
/// emits edges in time order (never before time zero), moved earlier or later by jitter
/// and spread and later by stretches.
#[derive(Debug)]
pub struct Channel {
    unit: f64,
    imp: Impairments,
    rng: fastrand::Rng,
    /// Time added to everything from now on by spread and stretches (microseconds).
    shift: f64,
    /// The key-down of the mark in progress (its up edge decides its fate).
    pending_down: Option<Instant>,
    /// When the last mark that went out ended (no edge may go out before it).
    last_out: f64,
    /// The previous up edge as it went in (the gap before the next mark starts there).
    gap_from: Option<f64>,
    stats: ChannelStats,
}

impl Channel {
    /// A channel for dits of `unit`, its randomness seeded with `seed`.
    pub fn new(unit: Duration, imp: Impairments, seed: u64) -> Channel {
        Channel {
            unit: unit.as_micros() as f64,
            imp,
            rng: fastrand::Rng::with_seed(seed),
            shift: 0.0,
            pending_down: None,
            last_out: 0.0,
            gap_from: None,
            stats: ChannelStats::default(),
        }
    }

    /// Changes the impairments from the next edge on.
    pub fn set_impairments(&mut self, imp: Impairments) {
        self.imp = imp;
    }

    /// What it did so far.
    pub fn stats(&self) -> ChannelStats {
        self.stats
    }

    /// Takes one edge as keyed; hands what comes out of the channel to `out`.
    pub fn edge(&mut self, edge: Edge, out: &mut impl FnMut(Edge)) {
        if edge.down {
            self.pending_down = Some(edge.at);
            return;
        }
        let Some(down) = self.pending_down.take() else {
            return;
        };
        self.stats.marks += 1;
        let (mut start, mut end) = (down.as_micros() as f64, edge.at.as_micros() as f64);
        // The gap before this mark, and then the mark, wander in length.
        if let Some(from) = self.gap_from {
            self.shift += self.spread_of(start - from);
        }
        self.gap_from = Some(end);
        start += self.shift;
        self.shift += self.spread_of(end - down.as_micros() as f64);
        if self.chance(self.imp.stretch) {
            self.stats.stretched += 1;
            self.shift += self.unit * (1.0 + self.rng.f64());
        }
        end += self.shift;
        // A burst of noise in the gap before the mark.
        if self.chance(self.imp.burst) && start - self.last_out > 0.2 * self.unit {
            self.stats.bursts += 1;
            let len = self.unit * (0.1 + 1.4 * self.rng.f64());
            let room = (start - self.last_out - len).max(0.0);
            let at = self.last_out + room * self.rng.f64();
            self.emit(at, (at + len).min(start - 1.0), out);
        }
        if self.chance(self.imp.drop) {
            self.stats.dropped += 1;
            return;
        }
        let j = |c: &mut Channel| c.imp.jitter * c.unit * (2.0 * c.rng.f64() - 1.0);
        let (js, je) = (j(self), j(self));
        self.emit(start + js, end + je, out);
    }

    /// Sends one mark, kept in order after the last (and at least a microsecond long).
    fn emit(&mut self, start: f64, end: f64, out: &mut impl FnMut(Edge)) {
        let start = start.max(self.last_out + 1.0);
        let end = end.max(start + 1.0);
        self.last_out = end;
        let at = |t: f64| Instant::from_micros(t.max(0.0) as u64);
        out(Edge {
            at: at(start),
            down: true,
        });
        out(Edge {
            at: at(end),
            down: false,
        });
    }

    fn spread_of(&mut self, span: f64) -> f64 {
        self.imp.spread * span * (2.0 * self.rng.f64() - 1.0)
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.f64() < p
    }
}
