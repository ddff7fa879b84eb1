//! The Morse-code link in the command: `wirecall demo --link morse` (a host calls the demo
//! device over a Morse link in virtual time, printing the dits and dahs of every frame and
//! the results; `--wav` writes the session as stereo audio) and `wirecall morse decode`
//! (the frames heard in a recording).

use std::path::Path;
use std::time::Duration;

use wirecall::{Config, Instant, Procedure};
use wirecall_adapters::morse::audio::{self, Tone};
use wirecall_adapters::morse::channel::Impairments;
use wirecall_adapters::morse::code::{byte_codes, dots};
use wirecall_adapters::morse::line::MorseLine;
use wirecall_adapters::morse::{byte_time, unit_at_wpm, Decoder};
use wirecall_tests::demo::demo;
use wirecall_tests::pair::{Pair, Serve, Side};

use crate::demo::outcome_of;
use crate::frames::{describe_wire, hex};

type Device = wirecall::Endpoint<256, 4, 4, 576>;
type Host = wirecall::Endpoint<1024, 16, 16, 2100>;

/// Frames of up to 64 bytes on the Morse link: the largest then takes 67 bytes on the wire.
const MAX_FRAME: usize = 64;

/// The fastest speed `--wav` renders (a 5 ms dit: three cycles of the lower tone; also the
/// fastest `morse decode` finds by itself).
const MAX_AUDIO_WPM: u32 = 240;

/// The tones of the two directions in a WAV: host to device (left), device to host (right).
const PITCHES: [f64; 2] = [600.0, 800.0];

/// What `wirecall demo --link morse` was asked for.
pub(crate) struct DemoOptions {
    pub(crate) wpm: u32,
    pub(crate) wav: Option<std::path::PathBuf>,
    pub(crate) noisy: bool,
    pub(crate) snr: Option<f64>,
    pub(crate) seed: u64,
}

/// A call the demo makes: what it shows, procedure, arguments, how to show the reply.
type DemoCall<'a> = (&'a str, u32, Vec<u8>, &'a dyn Fn(&[u8]) -> String);

fn config(c: Config, wpm: u32) -> Config {
    c.with_max_frame(MAX_FRAME as u32)
        .for_byte_time(byte_time(unit_at_wpm(wpm)), MAX_FRAME)
}

/// Prints each frame as it is keyed: when, which way, what it is, its bytes and its Morse.
#[derive(Default)]
struct Printer {
    /// Per direction: bytes shown so far, and the frame being gathered (start, bytes).
    shown: [usize; 2],
    frame: [Option<(Instant, Vec<u8>)>; 2],
}

impl Printer {
    /// Prints the frames keyed since the last call, both directions in time order.
    fn show(&mut self, p: &Pair<MorseLine>) {
        let mut done = Vec::new();
        for (dir, line) in [&p.ab, &p.ba].into_iter().enumerate() {
            let keyed = line.keyed();
            for &(at, byte) in keyed.iter().skip(self.shown[dir]) {
                let frame = &mut self.frame[dir];
                if byte == 0 {
                    if let Some((start, body)) = frame.take().filter(|f| !f.1.is_empty()) {
                        done.push((start, dir, body));
                    }
                    *frame = Some((at, Vec::new()));
                } else {
                    frame.get_or_insert((at, Vec::new())).1.push(byte);
                }
            }
            self.shown[dir] = keyed.len();
        }
        done.sort_by_key(|f| (f.0, f.1));
        for (start, dir, body) in done {
            print_frame(dir, start, &body, p.ab.unit());
        }
    }
}

fn print_frame(dir: usize, start: Instant, body: &[u8], unit: wirecall::Duration) {
    let who = ["host -> device", "device -> host"][dir];
    let units: u32 = body
        .iter()
        .chain([0u8, 0].iter())
        .map(|&b| wirecall_adapters::morse::code::byte_units(b))
        .sum();
    let secs = |us: u64| us as f64 / 1e6;
    println!(
        "[{:8.1} s] {who}  {}  ({} bytes with its delimiters, {:.1} s of Morse)",
        secs(start.as_micros()),
        describe_wire(body),
        body.len() + 2,
        secs(unit.as_micros() * u64::from(units))
    );
    println!("             00 {} 00", hex(body));
    let morse: Vec<String> = [0u8]
        .iter()
        .chain(body)
        .chain([0u8].iter())
        .map(|&b| {
            let [hi, lo] = byte_codes(b);
            format!("{} {}", dots(hi), dots(lo))
        })
        .collect();
    // Wrapped at about 100 columns, a word (byte) never split.
    let mut line = String::new();
    for word in morse {
        if line.len() + word.len() > 86 {
            println!("             {line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push_str(" / ");
        }
        line.push_str(&word);
    }
    println!("             {line}");
}

/// Runs the Morse demo.
pub(crate) fn demo(opts: &DemoOptions) -> i32 {
    if opts.wav.is_some() && opts.wpm > MAX_AUDIO_WPM {
        eprintln!(
            "wirecall: --wav renders audio up to {MAX_AUDIO_WPM} wpm (at {} wpm a dit is shorter than a few cycles of the tone, and `morse decode` finds speeds up to {MAX_AUDIO_WPM} wpm)",
            opts.wpm
        );
        return 2;
    }
    if opts.snr.is_some_and(|s| !s.is_finite()) {
        eprintln!("wirecall: --snr takes a number of dB");
        return 2;
    }
    // Fail before a long session if the recording cannot be written.
    if let Some(path) = &opts.wav {
        if let Err(e) = std::fs::File::create(path) {
            eprintln!("wirecall: cannot write {}: {e}", path.display());
            return 1;
        }
    }
    let unit = unit_at_wpm(opts.wpm);
    let imp = if opts.noisy {
        Impairments {
            jitter: 0.3,
            drop: 0.003,
            ..Impairments::NONE
        }
    } else {
        Impairments {
            jitter: 0.1,
            ..Impairments::NONE
        }
    };
    println!(
        "wirecall demo: a host calls the demo device over a Morse-code link\n\
         {} wpm (a dit is {:.1} ms), each byte two hex digits in Morse, one word per byte;\n\
         the channel moves every edge by up to {:.0} % of a dit{}. Times are the link's (virtual time).\n",
        opts.wpm,
        unit.as_micros() as f64 / 1000.0,
        imp.jitter * 100.0,
        if opts.noisy {
            format!(" and loses {:.1} % of the marks", imp.drop * 100.0)
        } else {
            String::new()
        }
    );
    let mut ab = MorseLine::new(unit, imp, opts.seed);
    let mut ba = MorseLine::new(unit, imp, opts.seed ^ 0x5eed);
    ab.record();
    ba.record();
    let host = Host::new(
        Instant::ZERO,
        config(
            Config::default().expecting_schema(demo::SCHEMA_HASH),
            opts.wpm,
        ),
    );
    let device = Device::new(
        Instant::ZERO,
        config(Config::default().with_manifest(&demo::MANIFEST), opts.wpm),
    );
    let mut p = Pair::with_lines(
        Side::new(host, Serve::Hold),
        Side::new(device, Serve::Dispatch),
        ab,
        ba,
    );
    let mut printer = Printer::default();
    let connected = p.run_until(Duration::from_secs(24 * 3600), |p| {
        printer.show(p);
        p.a.ep.is_connected() && p.b.ep.is_connected()
    });
    if !connected {
        println!("no handshake");
        return 1;
    }
    println!(
        "[{:8.1} s] connected: the device serves the demo schema; a frame may take up to {:.0} s here, so every timer is scaled to that",
        p.now.as_secs_f64(),
        (byte_time(unit).as_micros() as f64 / 1e6) * (MAX_FRAME + 3) as f64
    );
    p.a.take_events();
    let mut failures = 0;
    let calls: [DemoCall; 3] = [
        ("add(2, 40)", demo::Add::ID, enc(&(2i32, 40i32)), &|r| {
            demo::Add::output(r).map_or_else(|e| e.to_string(), |v| v.to_string())
        }),
        (
            "echo(\"hi\")",
            demo::Echo::ID,
            enc(&(heapless::Vec::<u8, 200>::from_slice(b"hi").unwrap_or_default(),)),
            &|r| {
                demo::Echo::output(r).map_or_else(
                    |e| e.to_string(),
                    |v| format!("{:?}", String::from_utf8_lossy(&v)),
                )
            },
        ),
        ("fail()", demo::Fail::ID, Vec::new(), &|_| "a reply".into()),
    ];
    for (what, procedure, args, show) in calls {
        println!();
        let start = p.now;
        let outcome = call(&mut p, &mut printer, procedure, &args);
        let took = (p.now - start).as_secs_f64();
        match outcome {
            Ok(reply) => println!("=> {what} = {}   ({took:.1} s)", show(&reply)),
            Err(e) => {
                failures += usize::from(procedure != demo::Fail::ID);
                println!("=> {what} failed: {e}   ({took:.1} s)");
            }
        }
    }
    // Let the last frames reach the far side, so the recording holds the whole session.
    p.run_for(Duration::from_secs_f64(
        unit.as_micros() as f64 / 1e6 * 60.0,
    ));
    printer.show(&p);
    let (a, b) = (p.ab.decoder_stats(), p.ba.decoder_stats());
    println!(
        "\n{:.1} s of Morse; decoded {} and {} bytes, {} and {} words unreadable (host -> device, device -> host); damaged frames refused (framing or CRC): {}",
        p.now.as_secs_f64(),
        a.bytes,
        b.bytes,
        a.bad_words,
        b.bad_words,
        [p.a.ep.stats(), p.b.ep.stats()]
            .iter()
            .map(|s| s.crc_errors + s.framing_errors)
            .sum::<u32>()
    );
    if let Some(path) = &opts.wav {
        let end = Instant::from_micros(p.now.as_micros() as u64);
        let tracks: Vec<Vec<f32>> = [&p.ab, &p.ba]
            .iter()
            .zip(PITCHES)
            .map(|(line, pitch)| {
                let tone = Tone {
                    pitch,
                    ..Tone::default()
                };
                let mut track = audio::render(line.edges().1, &tone, unit, end);
                if let Some(snr) = opts.snr {
                    audio::add_noise(&mut track, tone.level, snr, opts.seed ^ pitch as u64);
                }
                track
            })
            .collect();
        if let Err(e) = audio::write_wav(path, &tracks, Tone::default().sample_rate) {
            eprintln!("wirecall: cannot write {}: {e}", path.display());
            return 1;
        }
        println!(
            "wrote {}: {:.1} s of stereo audio, host -> device on the left ({} Hz), device -> host on the right ({} Hz){}",
            path.display(),
            p.now.as_secs_f64(),
            PITCHES[0],
            PITCHES[1],
            opts.snr
                .map(|s| format!(", with white noise at a signal-to-noise ratio of {s} dB"))
                .unwrap_or_default()
        );
    }
    if failures > 0 && !opts.noisy {
        return 1;
    }
    0
}

fn enc<T: serde::Serialize>(v: &T) -> Vec<u8> {
    postcard::to_allocvec(v).unwrap_or_default()
}

/// Makes one call and runs the link until it ends, printing frames as they are keyed.
fn call(
    p: &mut Pair<MorseLine>,
    printer: &mut Printer,
    procedure: u32,
    args: &[u8],
) -> Result<Vec<u8>, String> {
    let id =
        p.a.ep
            .call(p.instant(), procedure, args, None)
            .map_err(|e| e.to_string())?;
    let mut outcome = None;
    p.run_until(Duration::from_secs(24 * 3600), |p| {
        printer.show(p);
        for ev in p.a.take_events() {
            outcome = outcome.take().or_else(|| outcome_of(ev, id));
        }
        outcome.is_some()
    });
    outcome.unwrap_or_else(|| Err("no outcome".into()))
}

/// `wirecall morse decode FILE.wav`: prints, for each channel, the tone and speed found,
/// and every frame heard (hex and what it is), stamped with when its first byte was read.
/// Exits 1 if no channel holds a valid frame.
pub(crate) fn decode(path: &Path, pitch: Option<f64>, wpm: Option<u32>) -> i32 {
    let (rate, channels) = match audio::read_wav(path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "wirecall: cannot read {} as a WAV file: {e}",
                path.display()
            );
            return 1;
        }
    };
    let names = ["left", "right"];
    let mut frames_heard = 0;
    for (k, samples) in channels.iter().enumerate() {
        let name = names.get(k).copied().unwrap_or("channel");
        let Some(found) = audio::detect(samples, rate, pitch, wpm.map(unit_at_wpm)) else {
            println!("channel {} ({name}): no keyed tone found\n", k + 1);
            continue;
        };
        let unit_ms = found.unit.as_micros() as f64 / 1000.0;
        let mut decoder = Decoder::tracking(found.unit);
        // Each byte with when it was read: at the edge or the silence that ended it.
        let mut bytes: Vec<(Instant, u8)> = Vec::new();
        let drain = |decoder: &mut Decoder, at: Instant, bytes: &mut Vec<(Instant, u8)>| {
            bytes.extend(std::iter::from_fn(|| decoder.poll_byte()).map(|b| (at, b)));
        };
        for &e in &found.edges {
            if let Some(t) = decoder.poll_timeout().filter(|&t| t < e.at) {
                decoder.handle_timeout(t);
                drain(&mut decoder, t, &mut bytes);
            }
            decoder.edge(e);
            drain(&mut decoder, e.at, &mut bytes);
        }
        if let Some(t) = decoder.poll_timeout() {
            decoder.handle_timeout(t);
            drain(&mut decoder, t, &mut bytes);
        }
        let stats = decoder.stats();
        println!(
            "channel {} ({name}): tone {:.0} Hz, {:.0} wpm (a dit is {unit_ms:.1} ms); {} bytes heard, {} words unreadable",
            k + 1,
            found.pitch,
            1200.0 / unit_ms.max(0.001),
            stats.bytes,
            stats.bad_words
        );
        let (mut ok, mut broken) = (0, 0);
        for chunk in bytes.split(|&(_, b)| b == 0).filter(|c| !c.is_empty()) {
            let wire: Vec<u8> = chunk.iter().map(|&(_, b)| b).collect();
            let what = describe_wire(&wire);
            if what.starts_with("broken") {
                broken += 1;
            } else {
                ok += 1;
            }
            println!(
                "[{:8.1} s] {}\n             00 {} 00",
                chunk[0].0.as_micros() as f64 / 1e6,
                what,
                hex(&wire)
            );
        }
        println!("{ok} frames, {broken} broken\n");
        frames_heard += ok;
    }
    if frames_heard == 0 {
        eprintln!("wirecall: no wirecall frame heard in {}", path.display());
        return 1;
    }
    0
}
