//! A Morse link in virtual time, with the shape of [`SimLine`](crate::sim::SimLine): bytes
//! written are keyed, pass a noisy [`Channel`], and are decoded on the far side; what the
//! decoder yields is read. It keeps the edges both as keyed and as heard, for showing the
//! link and for rendering it as audio.

use std::collections::VecDeque;
use std::time::Duration as StdDuration;

use wirecall::{Duration, Instant};

use super::channel::{Channel, ChannelStats, Impairments};
use super::{Decoder, DecoderStats, Edge, Keyer};

/// One direction of a Morse link.
#[derive(Debug)]
pub struct MorseLine {
    keyer: Keyer<1>,
    channel: Channel,
    decoder: Decoder,
    /// Edges out of the channel, not yet taken by the decoder.
    heard: VecDeque<Edge>,
    /// Every byte written, with when its keying starts.
    keyed: Vec<(Instant, u8)>,
    /// Every edge as keyed and as heard, when recording.
    keyed_edges: Option<Vec<Edge>>,
    heard_edges: Option<Vec<Edge>>,
    written: u64,
}

impl MorseLine {
    /// A line keyed with dits of `unit`, through `imp`, its noise seeded with `seed`.
    pub fn new(unit: Duration, imp: Impairments, seed: u64) -> MorseLine {
        MorseLine {
            keyer: Keyer::new(unit),
            channel: Channel::new(unit, imp, seed),
            decoder: Decoder::new(unit),
            heard: VecDeque::new(),
            keyed: Vec::new(),
            keyed_edges: None,
            heard_edges: None,
            written: 0,
        }
    }

    /// Changes the channel's impairments from now on.
    pub fn set_impairments(&mut self, imp: Impairments) {
        self.channel.set_impairments(imp);
    }

    /// Starts keeping every edge, as keyed and as heard ([`edges`](Self::edges)).
    pub fn record(&mut self) {
        self.keyed_edges.get_or_insert_with(Vec::new);
        self.heard_edges.get_or_insert_with(Vec::new);
    }

    /// The edges kept since [`record`](Self::record): as keyed, and as heard.
    pub fn edges(&self) -> (&[Edge], &[Edge]) {
        (
            self.keyed_edges.as_deref().unwrap_or(&[]),
            self.heard_edges.as_deref().unwrap_or(&[]),
        )
    }

    /// Every byte written so far, with when its keying started.
    pub fn keyed(&self) -> &[(Instant, u8)] {
        &self.keyed
    }

    /// The dit length.
    pub fn unit(&self) -> Duration {
        self.keyer.unit()
    }

    /// What the decoder made of it.
    pub fn decoder_stats(&self) -> DecoderStats {
        self.decoder.stats()
    }

    /// What the channel did.
    pub fn channel_stats(&self) -> ChannelStats {
        self.channel.stats()
    }

    /// Bytes written.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Keys `bytes` from `now` on, each after the ones before (the keyer's timeline runs
    /// ahead of `now`: the edges wait in the channel until their time).
    pub fn write(&mut self, now: StdDuration, bytes: &[u8]) {
        let now = instant(now);
        for &b in bytes {
            self.written += 1;
            // Keyed through to the end of its word gap at once, the keyer is idle again:
            // this byte starts at `now` or when the last one's word gap ends.
            if self.keyer.push(now, b).is_ok() {
                let start = self.keyer.poll_timeout().unwrap_or(now);
                self.keyed.push((start, b));
            }
            self.run_keyer();
        }
    }

    /// Moves the bytes decoded by `now` into `out`, returning how many.
    pub fn read(&mut self, now: StdDuration, out: &mut Vec<u8>) -> usize {
        let now = instant(now);
        let before = out.len();
        loop {
            let edge = self.heard.front().copied().filter(|e| e.at <= now);
            let timeout = self.decoder.poll_timeout().filter(|&t| t <= now);
            match (edge, timeout) {
                (Some(e), t) if t.is_none_or(|t| e.at <= t) => {
                    self.heard.pop_front();
                    self.decoder.edge(e);
                }
                (_, Some(t)) => self.decoder.handle_timeout(t),
                _ => break,
            }
            out.extend(std::iter::from_fn(|| self.decoder.poll_byte()));
        }
        out.len() - before
    }

    /// When something next happens at the far end (an edge arrives, or a byte ends by
    /// silence), if anything will.
    pub fn next_arrival(&self) -> Option<StdDuration> {
        let edge = self.heard.front().map(|e| e.at);
        [edge, self.decoder.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .map(|t| StdDuration::from_micros(t.as_micros()))
    }

    /// Edges not yet taken by the far end.
    pub fn in_flight(&self) -> usize {
        self.heard.len()
    }

    fn run_keyer(&mut self) {
        while let Some(t) = self.keyer.poll_timeout() {
            if let Some(edge) = self.keyer.handle_timeout(t) {
                if let Some(k) = &mut self.keyed_edges {
                    k.push(edge);
                }
                let (heard, record) = (&mut self.heard, &mut self.heard_edges);
                self.channel.edge(edge, &mut |e| {
                    heard.push_back(e);
                    if let Some(r) = record.as_mut() {
                        r.push(e);
                    }
                });
            }
        }
    }
}

fn instant(d: StdDuration) -> Instant {
    Instant::from_micros(d.as_micros() as u64)
}
