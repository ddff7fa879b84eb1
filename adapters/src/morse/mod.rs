//! The Morse-code link: wirecall's bytes as dits and dahs, for a link of a few bytes per
//! second that a person can hear (and the harshest test of the protocol's timers).
//!
//! Like the core, the physical layer is sans-I/O and `no_std`: a [`Keyer`] turns bytes
//! into timed key-down and key-up [`Edge`]s (a firmware drives a GPIO or a buzzer from
//! them), a [`Decoder`] turns timed edges back into bytes, following the sender's speed and
//! tolerating each mark and gap lasting 30 % more or less than nominal. How bytes map to
//! Morse (two hex digits per byte, one word each) and why: [`code`].
//!
//! With the standard library, also: [`channel`], a noisy channel for tests and the demo
//! (jitter, dropped and stretched elements, noise bursts); [`audio`], the keyed signal as a
//! tone in a WAV file and back (tone detection that copes with noise and level changes);
//! [`line`](mod@line), a Morse link in virtual time with the shape of [`SimLine`](crate::sim::SimLine).
//! Timers for a link this slow: `wirecall::Config::for_byte_time` with
//! [`byte_time`].

pub mod code;
mod decoder;
mod keyer;

#[cfg(feature = "std")]
pub mod audio;
#[cfg(feature = "std")]
pub mod channel;
#[cfg(feature = "std")]
pub mod line;

pub use decoder::{Decoder, DecoderStats};
pub use keyer::Keyer;

use wirecall::{Duration, Instant};

/// The key went down (`down`) or up at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    /// When.
    pub at: Instant,
    /// Key down (tone on) if true, up (silence) if false.
    pub down: bool,
}

/// The unit (a dit) at `wpm` words per minute, by the PARIS standard (50 units a word):
/// 1200 ms / `wpm`.
pub const fn unit_at_wpm(wpm: u32) -> Duration {
    let wpm = if wpm == 0 { 1 } else { wpm as u64 };
    Duration::from_micros(1_200_000 / wpm)
}

/// The longest one byte takes on a link of dits of `unit` (the byte `0x00`, 48 units): what
/// to give `Config::for_byte_time` so that no timer of the protocol fires only because the
/// link is slow.
pub const fn byte_time(unit: Duration) -> Duration {
    unit.saturating_mul(code::MAX_BYTE_UNITS as u64)
}
