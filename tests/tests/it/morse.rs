//! The Morse physical layer (`wirecall_adapters::morse`): keyer and decoder round-trip every
//! byte value, clean and with timing errors of 30 % of a unit; the keyed signal survives a
//! WAV file with noise at a stated signal-to-noise ratio and a fading level.

use wirecall::{Duration, Instant};
use wirecall_adapters::morse::audio::{self, Tone};
use wirecall_adapters::morse::channel::{Channel, Impairments};
use wirecall_adapters::morse::{unit_at_wpm, Decoder, Edge, Keyer};

/// `bytes` keyed from time zero: the edges, and when the last word gap ends.
fn key(bytes: &[u8], unit: Duration) -> (Vec<Edge>, Instant) {
    let mut keyer = Keyer::<4>::new(unit);
    let mut edges = Vec::new();
    let mut end = Instant::ZERO;
    let mut rest = bytes.iter();
    loop {
        while keyer.has_room() {
            match rest.next() {
                Some(&b) => keyer.push(end, b).unwrap(),
                None => break,
            }
        }
        let Some(at) = keyer.poll_timeout() else {
            break;
        };
        end = at;
        edges.extend(keyer.handle_timeout(at));
    }
    (edges, end)
}

/// What `decoder` makes of `edges`, silence after them included.
fn decode(mut decoder: Decoder, edges: &[Edge]) -> Vec<u8> {
    let mut out = Vec::new();
    for &e in edges {
        if let Some(t) = decoder.poll_timeout().filter(|&t| t < e.at) {
            decoder.handle_timeout(t);
        }
        decoder.edge(e);
        out.extend(std::iter::from_fn(|| decoder.poll_byte()));
    }
    if let Some(t) = decoder.poll_timeout() {
        decoder.handle_timeout(t);
    }
    out.extend(std::iter::from_fn(|| decoder.poll_byte()));
    out
}

fn through(edges: &[Edge], unit: Duration, imp: Impairments, seed: u64) -> Vec<Edge> {
    let mut channel = Channel::new(unit, imp, seed);
    let mut out = Vec::new();
    for &e in edges {
        channel.edge(e, &mut |e| out.push(e));
    }
    out
}

fn every_byte() -> Vec<u8> {
    (0..=255).collect()
}

#[test]
fn every_byte_value_round_trips_through_keyer_and_decoder() {
    let unit = unit_at_wpm(20);
    let (edges, end) = key(&every_byte(), unit);
    assert_eq!(decode(Decoder::new(unit), &edges), every_byte());
    // The keyer keeps the timing: 32.75 units a byte on average.
    let units = end.as_micros() / unit.as_micros();
    assert_eq!(units, 256 * 3275 / 100, "{units} units for 256 bytes");
}

#[test]
fn every_byte_value_survives_edges_moved_by_30_percent_of_a_unit() {
    let unit = unit_at_wpm(20);
    let (edges, _) = key(&every_byte(), unit);
    for seed in 0..20 {
        let imp = Impairments {
            jitter: 0.3,
            ..Impairments::NONE
        };
        let heard = through(&edges, unit, imp, seed);
        assert_eq!(
            decode(Decoder::new(unit), &heard),
            every_byte(),
            "seed {seed}"
        );
    }
}

#[test]
fn every_byte_value_survives_marks_and_gaps_30_percent_too_long_or_short() {
    let unit = unit_at_wpm(20);
    let (edges, _) = key(&every_byte(), unit);
    for seed in 0..20 {
        let imp = Impairments {
            spread: 0.3,
            ..Impairments::NONE
        };
        let heard = through(&edges, unit, imp, seed);
        assert_eq!(
            decode(Decoder::new(unit), &heard),
            every_byte(),
            "seed {seed}"
        );
    }
}

#[test]
fn past_its_tolerance_the_decoder_loses_bytes_and_says_so() {
    // Edges moved by up to a whole unit: many words are unreadable; each is counted.
    let unit = unit_at_wpm(20);
    let (edges, _) = key(&every_byte(), unit);
    let imp = Impairments {
        jitter: 1.0,
        ..Impairments::NONE
    };
    let heard = through(&edges, unit, imp, 7);
    let mut decoder = Decoder::new(unit);
    for &e in &heard {
        decoder.edge(e);
    }
    decoder.handle_timeout(Instant::from_micros(u64::MAX));
    let s = decoder.stats();
    assert!(s.bad_words > 10, "{s:?}");
    assert!(s.bytes + s.bad_words <= 256 + 64, "{s:?}");
}

#[test]
fn a_person_sending_faster_than_expected_is_followed() {
    // Keyed at 25 wpm, read by a decoder told 20 wpm that tracks the speed.
    let (edges, _) = key(b"wirecall", unit_at_wpm(25));
    let heard = decode(Decoder::tracking(unit_at_wpm(20)), &edges);
    assert_eq!(heard, b"wirecall");
}

#[test]
fn a_wav_with_noise_and_fading_decodes_to_every_byte() {
    // Every byte value at 30 wpm, as a 700 Hz tone at 8 kHz: white noise over the whole band
    // at a signal-to-noise ratio of 0 dB (the tone's power while on equals the noise's),
    // and a level that fades to a tenth and back, like a radio signal. The detector is told
    // neither the pitch nor the speed.
    let unit = unit_at_wpm(30);
    let (edges, end) = key(&every_byte(), unit);
    let tone = Tone::default();
    let mut samples = audio::render(&edges, &tone, unit, end + Duration::from_secs(1));
    let n = samples.len() as f64;
    for (i, s) in samples.iter_mut().enumerate() {
        let x = i as f64 / n;
        let fade = 1.0 - 0.9 * (std::f64::consts::PI * x).sin();
        *s = (f64::from(*s) * fade) as f32;
    }
    audio::add_noise(&mut samples, tone.level * 0.1, 0.0, 1);
    let dir = std::env::temp_dir().join(format!("wirecall-morse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("every-byte.wav");
    audio::write_wav(&path, &[samples], tone.sample_rate).unwrap();
    let (rate, channels) = audio::read_wav(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!((rate, channels.len()), (8000, 1));
    let found = audio::detect(&channels[0], rate, None, None);
    assert!((found.pitch - 700.0).abs() < 5.0, "pitch {}", found.pitch);
    let ratio = found.unit.as_micros() as f64 / unit.as_micros() as f64;
    assert!((0.85..1.15).contains(&ratio), "unit {:?}", found.unit);
    let heard = decode(Decoder::tracking(found.unit), &found.edges);
    assert_eq!(heard, every_byte());
}
