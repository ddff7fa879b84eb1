//! The Morse link as sound: the keyed signal rendered as a tone (with raised-cosine edges,
//! so it does not click) into a WAV file, and a WAV file decoded back into key edges by
//! detecting the tone. The detector is built for real recordings, not only our own output:
//! it finds the pitch itself, follows the level (a fading signal, a receiver's gain), and
//! reads through noise.

use std::collections::VecDeque;
use std::f64::consts::PI;
use std::io;
use std::path::Path;

use wirecall::{Duration, Instant};

use super::Edge;

/// How a signal sounds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tone {
    /// Samples per second of the audio.
    pub sample_rate: u32,
    /// The tone's frequency in hertz.
    pub pitch: f64,
    /// Length of each edge's raised-cosine ramp (shorter ramps click, longer ones blur the
    /// dits): capped at a quarter of the unit when rendering.
    pub rise: Duration,
    /// Peak amplitude, 0 to 1.
    pub level: f64,
}

impl Default for Tone {
    /// 8000 samples a second, 700 Hz, 4 ms ramps, half of full scale.
    fn default() -> Tone {
        Tone {
            sample_rate: 8000,
            pitch: 700.0,
            rise: Duration::from_millis(4),
            level: 0.5,
        }
    }
}

/// Renders `edges` (key down, up, down, ...) as `tone`, from time zero to `end`, into
/// samples in -1 to 1. Each mark fades in and out over `tone.rise` (at most a quarter of
/// `unit`), centred on its edges, so its length is kept.
pub fn render(edges: &[Edge], tone: &Tone, unit: Duration, end: Instant) -> Vec<f32> {
    let rate = f64::from(tone.sample_rate);
    let sec = |t: Instant| t.as_micros() as f64 / 1e6;
    let len = (sec(end) * rate).ceil() as usize;
    let mut out = vec![0f32; len];
    let rise = (tone.rise.as_micros().min(unit.as_micros() / 4) as f64 / 1e6).max(1.0 / rate);
    let mut down_at = None;
    for e in edges {
        match (e.down, down_at) {
            (true, None) => down_at = Some(sec(e.at)),
            (false, Some(start)) => {
                let stop = sec(e.at);
                down_at = None;
                let first = (((start - rise / 2.0) * rate).floor().max(0.0)) as usize;
                let last = (((stop + rise / 2.0) * rate).ceil() as usize).min(len);
                for (n, s) in out.iter_mut().enumerate().take(last).skip(first) {
                    let t = n as f64 / rate;
                    let ramp = |x: f64| {
                        let x = (x / rise + 0.5).clamp(0.0, 1.0);
                        0.5 - 0.5 * (PI * x).cos()
                    };
                    let gain = ramp(t - start).min(ramp(stop - t));
                    *s += (tone.level * gain * (2.0 * PI * tone.pitch * t).sin()) as f32;
                }
            }
            _ => {}
        }
    }
    out
}

/// Writes `channels` (one or two, padded to the longest) as 16-bit PCM at `sample_rate`.
pub fn write_wav(path: &Path, channels: &[Vec<f32>], sample_rate: u32) -> io::Result<()> {
    let spec = hound::WavSpec {
        channels: channels.len().max(1) as u16,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(io::Error::other)?;
    let len = channels.iter().map(Vec::len).max().unwrap_or(0);
    for n in 0..len {
        for ch in channels {
            let s = ch.get(n).copied().unwrap_or(0.0).clamp(-1.0, 1.0);
            w.write_sample((s * 32767.0) as i16)
                .map_err(io::Error::other)?;
        }
    }
    w.finalize().map_err(io::Error::other)
}

/// Reads a WAV file (PCM of 8 to 32 bits, or 32-bit float) into its sample rate and one
/// vector of samples in -1 to 1 per channel.
pub fn read_wav(path: &Path) -> io::Result<(u32, Vec<Vec<f32>>)> {
    let mut r =
        hound::WavReader::open(path).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let spec = r.spec();
    let channels = usize::from(spec.channels.max(1));
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
        hound::SampleFormat::Int => {
            let scale = 2f32.powi(i32::from(spec.bits_per_sample.clamp(1, 32)) - 1);
            r.samples::<i32>()
                .map(|s| s.map(|s| s as f32 / scale))
                .collect::<Result<_, _>>()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        }
    };
    let mut out = vec![Vec::with_capacity(samples.len() / channels); channels];
    for (i, s) in samples.into_iter().enumerate() {
        if let Some(ch) = out.get_mut(i % channels) {
            ch.push(s);
        }
    }
    Ok((spec.sample_rate, out))
}

/// Adds white Gaussian noise so that the tone's power while on (a sine of amplitude
/// `level`: `level`²/2) over the noise's power, over the whole band, is `snr_db`.
pub fn add_noise(samples: &mut [f32], level: f64, snr_db: f64, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let sigma = (level * level / 2.0 / 10f64.powf(snr_db / 10.0)).sqrt();
    for s in samples.iter_mut() {
        // Box-Muller: two uniforms give a standard normal.
        let (u1, u2) = (rng.f64().max(1e-12), rng.f64());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos();
        *s += (sigma * z) as f32;
    }
}

/// What the tone detector found.
#[derive(Clone, Debug, PartialEq)]
pub struct Detected {
    /// Key edges, down then up, in time order (time zero is the file's first sample).
    pub edges: Vec<Edge>,
    /// The tone's pitch in hertz.
    pub pitch: f64,
    /// The dit length it read the signal at (given, or estimated from the marks).
    pub unit: Duration,
}

/// Finds the tone in `samples` and turns it into key edges; `None` if no keyed tone is
/// there (fewer than ten marks: silence, noise, a steady carrier). `pitch` and `unit` are
/// estimated from the signal unless given; a unit is found from 5 ms to 1 s (240 down to
/// 1.2 words per minute).
///
/// How: the pitch is the strongest frequency from 200 Hz to 2 kHz in the loudest parts of
/// the signal; the signal is mixed down at that pitch and averaged over half a unit (a
/// filter about 2 / unit wide, which keeps the edges and drops most of the noise); the key
/// is down while that envelope is above halfway between the tone's level and the noise's,
/// found second by second (two-means over about five seconds around, so a fading or
/// growing signal is followed), with hysteresis; never where the two levels are less than
/// 2.8 times apart (noise alone splits about 2.3 to 1) or the tone is below -60 dB of full
/// scale, nor below six times the envelope's tenth percentile (the noise, while the key is
/// up).
pub fn detect(
    samples: &[f32],
    sample_rate: u32,
    pitch: Option<f64>,
    unit: Option<Duration>,
) -> Option<Detected> {
    let rate = f64::from(sample_rate.max(1));
    let pitch = pitch.unwrap_or_else(|| estimate_pitch(samples, rate));
    let unit = unit.unwrap_or_else(|| {
        // Unknown speed: read the signal through averages of 2 to 64 ms, estimate the dit
        // from each reading, and keep the estimate from the reading whose average best
        // matches half of it (too short an average lets noise split the marks, too long
        // a one merges them) and whose marks fit dits and dahs best.
        let mut best: Option<(f64, Duration)> = None;
        for ms in [2u64, 4, 8, 16, 32, 64] {
            let edges = envelope_edges(samples, rate, pitch, Duration::from_millis(ms));
            let Some((u, fit)) = estimate_unit(&edges) else {
                continue;
            };
            let mismatch = ((u.as_micros() as f64 / 2.0) / (ms as f64 * 1000.0))
                .ln()
                .abs();
            let score = fit + 0.05 * mismatch;
            if best.is_none_or(|(b, _)| score < b) {
                best = Some((score, u));
            }
        }
        best.map_or(Duration::from_millis(60), |(_, u)| u)
    });
    let window = Duration::from_micros(unit.as_micros() / 2);
    let edges = envelope_edges(samples, rate, pitch, window);
    let marks = edges.iter().filter(|e| e.down).count();
    (marks >= 10).then_some(Detected { edges, pitch, unit })
}

/// The power of `x` at `freq` (Goertzel).
fn goertzel(x: &[f32], rate: f64, freq: f64) -> f64 {
    let w = 2.0 * PI * freq / rate;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s0 = f64::from(v) + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - c * s1 * s2
}

/// The strongest frequency from 200 Hz to 2 kHz over the 40 loudest 50 ms blocks.
fn estimate_pitch(samples: &[f32], rate: f64) -> f64 {
    let block = ((rate * 0.05) as usize).max(16);
    let mut blocks: Vec<(f64, &[f32])> = samples
        .chunks(block)
        .map(|b| {
            (
                b.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>(),
                b,
            )
        })
        .collect();
    blocks.sort_by(|a, b| b.0.total_cmp(&a.0));
    blocks.truncate(40);
    let power = |f: f64| {
        blocks
            .iter()
            .map(|(_, b)| goertzel(b, rate, f))
            .sum::<f64>()
    };
    let best = |from: f64, to: f64, step: f64| {
        let mut f = from;
        let (mut best_f, mut best_p) = (from, f64::MIN);
        while f <= to {
            let p = power(f);
            if p > best_p {
                (best_f, best_p) = (f, p);
            }
            f += step;
        }
        best_f
    };
    let coarse = best(200.0, 2000f64.min(rate / 2.0 - 50.0), 10.0);
    best(coarse - 10.0, coarse + 10.0, 1.0)
}

/// Mixes `samples` down at `pitch`, averages over `window`, and thresholds the envelope
/// (see [`detect`]).
fn envelope_edges(samples: &[f32], rate: f64, pitch: f64, window: Duration) -> Vec<Edge> {
    let window = ((window.as_micros() as f64 / 1e6 * rate) as usize).max(4);
    // One envelope value per hop (an eighth of the window).
    let hop = (window / 8).max(1);
    let w = 2.0 * PI * pitch / rate;
    let (mut si, mut sq) = (0.0f64, 0.0f64);
    let mut ring: VecDeque<(f64, f64)> = VecDeque::with_capacity(window + 1);
    let mut env = Vec::with_capacity(samples.len() / hop + 1);
    for (n, &v) in samples.iter().enumerate() {
        let (i, q) = (
            f64::from(v) * (w * n as f64).cos(),
            f64::from(v) * (w * n as f64).sin(),
        );
        si += i;
        sq += q;
        ring.push_back((i, q));
        if ring.len() > window {
            if let Some((oi, oq)) = ring.pop_front() {
                si -= oi;
                sq -= oq;
            }
        }
        if n % hop == 0 {
            env.push(2.0 * (si * si + sq * sq).sqrt() / window as f64);
        }
    }
    if env.is_empty() {
        return Vec::new();
    }
    // The noise: the tenth percentile of the envelope (the key is up at least that often:
    // hex digits keep it down up to 62 % of a byte, so a median could be the tone). For
    // noise alone (a Rayleigh envelope) six times that is 2.8 standard deviations: noise
    // crosses it 2 % of the time, and hysteresis and the decoder's glitch filter take the
    // rest.
    let mut sorted = env.clone();
    sorted.sort_by(f64::total_cmp);
    let noise = sorted.get(sorted.len() / 10).copied().unwrap_or(0.0);
    let levels = local_levels(&env, ((rate / hop as f64) as usize).max(1));
    let hop_s = hop as f64 / rate;
    // The average's delay: half the window.
    let delay = window as f64 / 2.0 / rate;
    let mut edges = Vec::new();
    let mut down = false;
    for (k, &e) in env.iter().enumerate() {
        let (on, off) = levels.get(k).copied().unwrap_or((f64::MAX, 0.0));
        // Halfway between the two levels, with a hysteresis of a sixth of their distance;
        // a block whose levels are too close holds no signal (`local_levels`).
        let mid = off + (on - off) / 2.0;
        let band = (on - off) / 6.0;
        let floor = noise * 6.0;
        let now_down = if down {
            e > (mid - band).max(floor * 0.8)
        } else {
            e > (mid + band).max(floor)
        };
        if now_down != down {
            down = now_down;
            let t = (k as f64 * hop_s - delay).max(0.0);
            edges.push(Edge {
                at: Instant::from_micros((t * 1e6) as u64),
                down,
            });
        }
    }
    if down {
        let t = env.len() as f64 * hop_s;
        edges.push(Edge {
            at: Instant::from_micros((t * 1e6) as u64),
            down: false,
        });
    }
    edges
}

/// The tone's level and the noise's around each envelope value: the envelope is cut into
/// blocks of `block` values (about a second); for each, the values within two blocks
/// either way are split in two groups, key down and key up (two-means: the threshold moves
/// to halfway between the groups' means until it settles), whose means are the levels.
/// Following them block by block follows a signal that fades or grows. Where the groups'
/// means are less than 2.8 times apart (or the tone is under -60 dB of full scale), there
/// is no tone (noise alone splits about 2.3
/// to 1): the levels are then `(f64::MAX, 0)`, and nothing there is taken as a mark.
fn local_levels(env: &[f64], block: usize) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(env.len());
    for start in (0..env.len()).step_by(block) {
        let from = start.saturating_sub(2 * block);
        let to = (start + 3 * block).min(env.len());
        let values = env.get(from..to).unwrap_or(&[]);
        let mut t = values.iter().sum::<f64>() / values.len().max(1) as f64;
        let (mut on, mut off) = (t, t);
        for _ in 0..12 {
            let (mut s_on, mut n_on, mut s_off, mut n_off) = (0.0, 0usize, 0.0, 0usize);
            for &v in values {
                if v > t {
                    (s_on, n_on) = (s_on + v, n_on + 1);
                } else {
                    (s_off, n_off) = (s_off + v, n_off + 1);
                }
            }
            on = if n_on > 0 { s_on / n_on as f64 } else { t };
            off = if n_off > 0 { s_off / n_off as f64 } else { t };
            let next = (on + off) / 2.0;
            if (next - t).abs() <= 1e-12 * on.max(1e-30) {
                break;
            }
            t = next;
        }
        // -60 dB of full scale: digital silence with a little dither is not a tone.
        let levels = if on >= 2.8 * off && on >= 1e-3 {
            (on, off)
        } else {
            (f64::MAX, 0.0)
        };
        let len = block.min(env.len() - start);
        out.extend(std::iter::repeat_n(levels, len));
    }
    out
}

/// The dit length of a keyed signal, and how well its marks fit it (the mean squared log
/// error, 0 for a perfect fit): the unit from 5 ms to 1 s (in 1 % steps) that fits the
/// marks best as dits (1 unit) and dahs (3), by squared log error (capped, so clicks and
/// merged marks weigh little). Fitting only dits at a third of their length would make them
/// "dahs": of units that fit about equally well, the longest wins. `None` with fewer than
/// ten marks.
fn estimate_unit(edges: &[Edge]) -> Option<(Duration, f64)> {
    let marks: Vec<f64> = edges
        .chunks(2)
        .filter_map(|p| match p {
            [a, b] if a.down && !b.down => Some(b.at.saturating_since(a.at).as_micros() as f64),
            _ => None,
        })
        .filter(|&d| d > 0.0)
        .collect();
    if marks.len() < 10 {
        return None;
    }
    let score = |u: f64| {
        marks
            .iter()
            .map(|&d| {
                let e = (d / u).ln().abs().min((d / (3.0 * u)).ln().abs()).min(0.5);
                e * e
            })
            .sum::<f64>()
            / marks.len() as f64
    };
    let mut candidates = Vec::new();
    let mut u = 5_000.0;
    while u <= 1_000_000.0 {
        candidates.push((u, score(u)));
        u *= 1.01;
    }
    let best = candidates.iter().map(|c| c.1).fold(f64::MAX, f64::min);
    let unit = candidates
        .iter()
        .filter(|c| c.1 <= best * 1.05 + 1e-6)
        .map(|c| c.0)
        .fold(0.0, f64::max);
    // A threshold above half the tone's level shortens every mark and lengthens every gap
    // by the same time: the mean of a dit and a gap inside a character is still one unit.
    let gaps: Vec<f64> = edges
        .windows(2)
        .filter_map(|p| match p {
            [a, b] if !a.down && b.down => Some(b.at.saturating_since(a.at).as_micros() as f64),
            _ => None,
        })
        .collect();
    let median = |v: Vec<f64>| {
        let mut v = v;
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    let short =
        |v: &[f64]| -> Vec<f64> { v.iter().copied().filter(|&d| d < 1.85 * unit).collect() };
    let unit = match (median(short(&marks)), median(short(&gaps))) {
        (Some(dit), Some(gap)) => (dit + gap) / 2.0,
        _ => unit,
    };
    Some((Duration::from_micros(unit as u64), best))
}
