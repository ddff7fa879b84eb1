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

/// Every byte value, keyed at 20 wpm, through `imp` with 20 seeds, decodes exactly.
fn every_byte_survives(imp: Impairments) {
    let unit = unit_at_wpm(20);
    let (edges, _) = key(&every_byte(), unit);
    for seed in 0..20 {
        let heard = through(&edges, unit, imp, seed);
        assert_eq!(
            decode(Decoder::new(unit), &heard),
            every_byte(),
            "seed {seed}"
        );
    }
}

#[test]
fn every_byte_value_survives_edges_moved_by_30_percent_of_a_unit() {
    every_byte_survives(Impairments {
        jitter: 0.3,
        ..Impairments::NONE
    });
}

#[test]
fn every_byte_value_survives_marks_and_gaps_30_percent_too_long_or_short() {
    every_byte_survives(Impairments {
        spread: 0.3,
        ..Impairments::NONE
    });
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
fn a_person_sending_at_another_speed_is_followed_by_a_tracking_decoder() {
    // Keyed at 1.5 times the expected unit (13.3 wpm, told 20): a decoder reading at exactly
    // 20 wpm takes the dits for dahs and loses the bytes; one that tracks the speed reads
    // them after at most the first.
    let slow = Duration::from_micros(unit_at_wpm(20).as_micros() * 3 / 2);
    let (edges, _) = key(b"wirecall over morse", slow);
    assert_ne!(
        decode(Decoder::new(unit_at_wpm(20)), &edges),
        b"wirecall over morse"
    );
    let heard = decode(Decoder::tracking(unit_at_wpm(20)), &edges);
    assert!(heard.ends_with(b"irecall over morse"), "{heard:?}");
}

#[test]
fn a_dropout_inside_a_mark_is_ignored_as_if_the_key_had_not_moved() {
    // 0xBE is "-... ." : a 0.1-unit dropout 2 units into the dah of "B" once made the two
    // halves of that dah count as two elements ("--...", a 7: a wrong byte).
    let unit = unit_at_wpm(20);
    let (mut edges, _) = key(&[0xBE, 0x0E], unit);
    let u = unit.as_micros();
    let at = |e: &Edge, d: u64| Instant::from_micros(e.at.as_micros() + d);
    // A dropout at 2.0 units into the first dah (of B), and one 0.5 units into the first dah
    // of the second byte's "0" (its sixth mark).
    let b_dah = edges[0];
    let zero_dah = *edges.iter().filter(|e| e.down).nth(5).unwrap();
    for (start, offset) in [(b_dah, 2 * u), (zero_dah, u / 2)] {
        let up = Edge {
            at: at(&start, offset),
            down: false,
        };
        let down = Edge {
            at: at(&start, offset + u / 10),
            down: true,
        };
        let k = edges.iter().position(|e| e.at > up.at).unwrap();
        edges.insert(k, down);
        edges.insert(k, up);
    }
    let mut decoder = Decoder::new(unit);
    let heard = {
        let mut out = Vec::new();
        for &e in &edges {
            decoder.edge(e);
            out.extend(std::iter::from_fn(|| decoder.poll_byte()));
        }
        decoder.handle_timeout(Instant::from_micros(u64::MAX));
        out.extend(std::iter::from_fn(|| decoder.poll_byte()));
        out
    };
    assert_eq!(heard, [0xBE, 0x0E]);
    assert_eq!(decoder.stats().glitches, 2);
}

#[test]
fn a_byte_pushed_after_an_unhandled_word_gap_starts_when_it_is_pushed() {
    // The end of a word gap keys no edge: a firmware may never call `handle_timeout` for it.
    let unit = unit_at_wpm(20);
    let mut keyer = Keyer::<2>::new(unit);
    keyer.push(Instant::ZERO, 0xEE).unwrap();
    // Every edge is handled; the word gap's end (no edge) is left pending.
    for _ in 0..4 {
        let at = keyer.poll_timeout().unwrap();
        assert!(keyer.handle_timeout(at).is_some());
    }
    assert!(!keyer.is_down() && keyer.poll_timeout().is_some());
    let later = Instant::from_micros(100 * unit.as_micros());
    keyer.push(later, 0xEE).unwrap();
    assert_eq!(keyer.poll_timeout(), Some(later));
    assert_eq!(
        keyer.handle_timeout(later),
        Some(Edge {
            at: later,
            down: true
        })
    );
}

#[test]
fn silence_noise_and_dither_hold_no_tone() {
    let rate = 8000;
    let silence = vec![0f32; 8 * rate as usize];
    assert!(audio::detect(&silence, rate, None, None).is_none());
    let mut noise = vec![0f32; 8 * rate as usize];
    audio::add_noise(&mut noise, 0.5, 0.0, 3);
    assert!(audio::detect(&noise, rate, None, None).is_none());
    // Digital silence with sparse one-bit dither.
    let mut rng = fastrand::Rng::with_seed(5);
    let dither: Vec<f32> = (0..30 * rate)
        .map(|_| {
            if rng.f64() < 0.05 {
                (rng.f64() as f32 - 0.5) / 16384.0
            } else {
                0.0
            }
        })
        .collect();
    assert!(audio::detect(&dither, rate, None, None).is_none());
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
    let found = audio::detect(&channels[0], rate, None, None).expect("a keyed tone");
    assert!((found.pitch - 700.0).abs() < 5.0, "pitch {}", found.pitch);
    let ratio = found.unit.as_micros() as f64 / unit.as_micros() as f64;
    assert!((0.85..1.15).contains(&ratio), "unit {:?}", found.unit);
    let heard = decode(Decoder::tracking(found.unit), &found.edges);
    assert_eq!(heard, every_byte());
}
