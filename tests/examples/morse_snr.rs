//! How well the Morse link's tone detector reads through noise: random bytes keyed at a
//! given speed, rendered as a 700 Hz tone at 8000 samples a second, mixed with white
//! Gaussian noise at each signal-to-noise ratio (the tone's power while on over the noise's
//! power in the whole 4 kHz band), optionally fading, then detected without being told the
//! pitch or the speed, and decoded. Prints a Markdown table of bytes lost or wrong per
//! thousand (edit distance between what was sent and what was read).
//!
//! `cargo run --release -p wirecall-tests --example morse_snr -- [--wpm N] [--bytes N] [--seeds N] [--fade]`

#![allow(clippy::expect_used)]

use wirecall::{Duration, Instant};
use wirecall_adapters::morse::audio::{self, Tone};
use wirecall_adapters::morse::{unit_at_wpm, Decoder, Keyer};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn key(bytes: &[u8], unit: Duration) -> (Vec<wirecall_adapters::morse::Edge>, Instant) {
    let mut keyer = Keyer::<1>::new(unit);
    let (mut edges, mut end) = (Vec::new(), Instant::ZERO);
    for &b in bytes {
        keyer.push(end, b).expect("the keyer is idle");
        while let Some(at) = keyer.poll_timeout() {
            end = at;
            edges.extend(keyer.handle_timeout(at));
        }
    }
    (edges, end)
}

/// Levenshtein distance: bytes lost, added or changed.
fn distance(a: &[u8], b: &[u8]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &x) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &y) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(x != y)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn main() {
    let wpm = arg("--wpm", 20) as u32;
    let count = arg("--bytes", 200) as usize;
    let seeds = arg("--seeds", 3);
    let fade = std::env::args().any(|a| a == "--fade");
    let unit = unit_at_wpm(wpm);
    let tone = Tone::default();
    println!(
        "{count} random bytes x {seeds} seeds at {wpm} wpm, {} Hz tone at {} samples/s{}; detector told neither pitch nor speed\n",
        tone.pitch,
        tone.sample_rate,
        if fade { ", level fading to a tenth and back" } else { "" }
    );
    println!("| SNR (whole band) | SNR in 50 Hz | bytes lost or wrong | per thousand | pitch found | dit found |");
    println!("|---|---|---|---|---|---|");
    for snr in [-15.0, -12.0, -9.0, -6.0, -3.0, 0.0, 6.0, 12.0, 18.0] {
        let (mut bad, mut total) = (0, 0);
        let mut found_pitch = 0.0;
        let mut found_unit = 0.0;
        for seed in 0..seeds {
            let mut rng = fastrand::Rng::with_seed(seed);
            let bytes: Vec<u8> = (0..count).map(|_| rng.u8(..)).collect();
            let (edges, end) = key(&bytes, unit);
            let mut samples = audio::render(&edges, &tone, unit, end + Duration::from_secs(1));
            let n = samples.len() as f64;
            if fade {
                for (i, s) in samples.iter_mut().enumerate() {
                    let f = 1.0 - 0.9 * (std::f64::consts::PI * i as f64 / n).sin();
                    *s = (f64::from(*s) * f) as f32;
                }
            }
            audio::add_noise(&mut samples, tone.level, snr, seed + 100);
            let Some(found) = audio::detect(&samples, tone.sample_rate, None, None) else {
                bad += bytes.len();
                total += bytes.len();
                continue;
            };
            found_pitch += found.pitch / seeds as f64;
            found_unit += found.unit.as_micros() as f64 / 1000.0 / seeds as f64;
            let mut decoder = if std::env::args().any(|a| a == "--fixed") {
                Decoder::new(found.unit)
            } else {
                Decoder::tracking(found.unit)
            };
            let mut heard = Vec::new();
            for &e in &found.edges {
                if let Some(t) = decoder.poll_timeout().filter(|&t| t < e.at) {
                    decoder.handle_timeout(t);
                }
                decoder.edge(e);
                heard.extend(std::iter::from_fn(|| decoder.poll_byte()));
            }
            decoder.handle_timeout(Instant::from_micros(u64::MAX));
            heard.extend(std::iter::from_fn(|| decoder.poll_byte()));
            bad += distance(&bytes, &heard);
            total += bytes.len();
        }
        // The detector averages over half a dit: a filter about 2 / dit wide; the
        // ratio in 50 Hz is what a 50 Hz wide ear or filter would hear.
        let in_50hz = snr + 10.0 * (4000.0f64 / 50.0).log10();
        println!(
            "| {snr:+.0} dB | {in_50hz:+.0} dB | {bad} of {total} | {:.1} | {found_pitch:.0} Hz | {found_unit:.1} ms |",
            bad as f64 * 1000.0 / total as f64
        );
    }
}
