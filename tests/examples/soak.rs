//! A soak of the framing and the call life cycle on a noisy simulated line, in virtual time:
//! `cargo run --release -p wirecall-tests --example soak -- --frames 10000000 --ber 1e-5`
//! (options: `--frames N`, `--ber B` (bit error rate), `--drop P` (probability that a byte
//! is lost), `--seed S`).
//!
//! A host (`Endpoint<1024, 16, 16, 2100>`) calls a device (`Endpoint<256, 4, 4, 576>`,
//! the microcontroller defaults) through two simulated lines that flip bits and drop bytes,
//! keeping four calls in flight: `add` with random operands and `echo` with 0 to 200 random
//! bytes, each with a 50 ms deadline. It runs until both lines together carried `--frames`
//! frames, then prints its figures and fails (exit code 1) unless:
//!
//! * no corrupted frame was accepted: every frame that arrived with a valid CRC-32C is one
//!   the other side sent (the bytes read from each line are checked against the bytes
//!   written to it, with the tests' own framing), and neither endpoint counted more valid
//!   frames than arrived intact;
//! * every call ended exactly once, with the right result or a clear error;
//! * no result was wrong.
//!
//! The line has no baud rate here (every byte written at `t` arrives at `t` + 1 ms), so
//! the clock only jumps from one exchange to the next and the run is bound by the CPU.
//! Each flipped byte has exactly one bit inverted, so a bit error rate of B flips a byte
//! with probability 8 B.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a tool: a failed step should stop it loudly

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use wirecall::{CallFailure, CallId, Config, Instant, Procedure};
use wirecall_adapters::sim::{Faults, SimLine};
use wirecall_tests::demo::demo;
use wirecall_tests::engine::Owned;
use wirecall_tests::pair::{Pair, Serve, Side};
use wirecall_tests::raw;

type Host = wirecall::Endpoint<1024, 16, 16, 2100>;
type Mcu = wirecall::Endpoint<256, 4, 4, 576>;

/// What the run is asked to do.
struct Options {
    frames: u64,
    ber: f64,
    drop: f64,
    seed: u64,
}

fn options() -> Options {
    let mut o = Options {
        frames: 1_000_000,
        ber: 1e-5,
        drop: 0.0,
        seed: 1,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--frames" => o.frames = value.parse().expect("--frames N"),
            "--ber" => o.ber = value.parse().expect("--ber B"),
            "--drop" => o.drop = value.parse().expect("--drop P"),
            "--seed" => o.seed = value.parse().expect("--seed S"),
            other => panic!("unknown option {other}"),
        }
    }
    o
}

/// One line's traffic checked frame by frame: what was written (intact) against what
/// arrived.
#[derive(Default)]
struct Audit {
    /// Bodies of frames written recently (this check and the one before: a frame
    /// written just before a check can arrive after it).
    recent: [HashSet<Vec<u8>>; 2],
    /// Bytes after the last delimiter, written or read, kept for the next check.
    carry_written: Vec<u8>,
    carry_read: Vec<u8>,
    /// Frames written.
    written: u64,
    /// Frames that arrived with a valid CRC and are frames that were written.
    intact: u64,
    /// Frames that arrived with a valid CRC but were never written: corrupted frames a
    /// CRC let through. Must stay zero.
    corrupted_accepted: u64,
    /// Runs between delimiters that arrived damaged (rejected by COBS or the CRC).
    rejected: u64,
}

/// Splits `carry ++ more` at its last delimiter: the complete part is returned, the rest
/// kept in `carry`.
fn complete(carry: &mut Vec<u8>, more: Vec<u8>) -> Vec<u8> {
    carry.extend(more);
    match carry.iter().rposition(|&b| b == 0) {
        Some(last) => {
            let rest = carry.split_off(last + 1);
            std::mem::replace(carry, rest)
        }
        None => Vec::new(),
    }
}

impl Audit {
    fn check(&mut self, line: &mut SimLine) {
        let written = complete(&mut self.carry_written, line.take_written());
        let read = complete(&mut self.carry_read, line.take_recorded());
        self.recent.swap(0, 1);
        self.recent[1].clear();
        for frame in raw::unframe(&written) {
            let body = frame.expect("an endpoint wrote a broken frame");
            self.written += 1;
            self.recent[1].insert(body);
        }
        for frame in raw::unframe(&read) {
            match frame {
                Some(body) if self.recent.iter().any(|set| set.contains(&body)) => self.intact += 1,
                Some(body) => {
                    self.corrupted_accepted += 1;
                    eprintln!("CORRUPTED FRAME ACCEPTED: {body:02x?}");
                }
                None => self.rejected += 1,
            }
        }
    }
}

/// What a call should return.
enum Expected {
    Add(i32),
    Echo(Vec<u8>),
}

#[derive(Default)]
struct Outcomes {
    started: u64,
    ok: u64,
    wrong: u64,
    failed: BTreeMap<String, u64>,
}

fn main() {
    let o = options();
    let started = std::time::Instant::now();
    let config = Config::default();
    let mut host = Side::new(
        Host::new(Instant::ZERO, config.expecting_schema(demo::SCHEMA_HASH)),
        Serve::Hold,
    );
    let mut device = Side::new(
        Mcu::new(Instant::ZERO, config.with_manifest(&demo::MANIFEST)),
        Serve::Dispatch,
    );
    // Whole frames per input and output call: the soak is about the line, not chunking
    // (the property tests cover that).
    for side in [&mut host, &mut device] {
        side.rx_chunk = 4096;
        side.tx_chunk = 4096;
    }
    let mut p = Pair::with_line(host, device, 0, Duration::from_millis(1), o.seed);
    let faults = Faults {
        flip: 8.0 * o.ber,
        drop: o.drop,
        ..Faults::NONE
    };
    for line in [&mut p.ab, &mut p.ba] {
        line.set_faults(faults);
        line.record();
        line.record_written();
    }
    let mut rng = fastrand::Rng::with_seed(o.seed);
    let mut pending: HashMap<CallId, Expected> = HashMap::new();
    let mut out = Outcomes::default();
    let (mut ab, mut ba) = (Audit::default(), Audit::default());
    let mut disconnects = 0u64;
    let mut steps = 0u64;
    let deadline = wirecall::Duration::from_millis(50);

    p.run_until(Duration::from_secs(u64::MAX / 4), |p| {
        steps += 1;
        p.b.take_events(); // the device's log: requests it served
        for event in p.a.take_events() {
            match event {
                Owned::Reply { id, payload } => {
                    let right = match pending.remove(&id) {
                        Some(Expected::Add(sum)) => demo::Add::output(&payload) == Ok(sum),
                        Some(Expected::Echo(data)) => {
                            demo::Echo::output(&payload).is_ok_and(|got| got[..] == data[..])
                        }
                        None => false, // a reply for no call of ours
                    };
                    if right {
                        out.ok += 1;
                    } else {
                        out.wrong += 1;
                        eprintln!("WRONG RESULT for {id:?}: {payload:02x?}");
                    }
                }
                Owned::CallFailed { id, reason, .. } => {
                    if pending.remove(&id).is_none() {
                        out.wrong += 1; // an outcome for a call that had one already
                        eprintln!("SECOND OUTCOME for {id:?}: {reason:?}");
                    }
                    let name = match reason {
                        CallFailure::Remote(e) => format!("remote {e:?}"),
                        other => format!("{other:?}"),
                    };
                    *out.failed.entry(name).or_default() += 1;
                }
                Owned::Disconnected(_) => disconnects += 1,
                _ => {}
            }
        }
        if steps.is_multiple_of(256) {
            ab.check(&mut p.ab);
            ba.check(&mut p.ba);
            if ab.written + ba.written >= o.frames {
                return true;
            }
        }
        let now = p.instant();
        while p.a.ep.is_connected() && p.a.ep.calls_in_flight() < 4 {
            let (procedure, args, expected) = if rng.bool() {
                let (a, b) = (rng.i32(-1 << 30..1 << 30), rng.i32(-1 << 30..1 << 30));
                (
                    demo::Add::ID,
                    postcard::to_allocvec(&(a, b)),
                    Expected::Add(a + b),
                )
            } else {
                let data: Vec<u8> = (0..rng.usize(0..=200)).map(|_| rng.u8(..)).collect();
                let v = heapless::Vec::<u8, 200>::from_slice(&data).unwrap();
                (
                    demo::Echo::ID,
                    postcard::to_allocvec(&(v,)),
                    Expected::Echo(data),
                )
            };
            let args = args.expect("encode");
            match p.a.ep.call(now, procedure, &args, Some(deadline)) {
                Ok(id) => {
                    out.started += 1;
                    assert!(
                        pending.insert(id, expected).is_none(),
                        "id reused in flight"
                    );
                }
                Err(_) => break, // the transmit queue is full or a slot is still held
            }
        }
        false
    });
    // Let every call still in flight end.
    p.run_for(Duration::from_secs(2));
    for event in p.a.take_events() {
        match event {
            // Counted as failed, neither right nor wrong: the run stopped mid-call.
            Owned::Reply { id, .. } | Owned::CallFailed { id, .. }
                if pending.remove(&id).is_some() =>
            {
                *out.failed.entry("(after the end)".into()).or_default() += 1;
            }
            _ => {}
        }
    }
    ab.check(&mut p.ab);
    ba.check(&mut p.ba);
    let took = started.elapsed();
    let (hs, ds) = (p.a.ep.stats(), p.b.ep.stats());
    let (la, lb) = (p.ab.stats(), p.ba.stats());
    let failed: u64 = out.failed.values().sum();
    println!(
        "soak: frames {} (host->device {}, device->host {}), ber {:e}, drop {:e}, seed {}",
        ab.written + ba.written,
        ab.written,
        ba.written,
        o.ber,
        o.drop,
        o.seed
    );
    println!(
        "line: bytes {}, bit errors injected {}, bytes dropped {}",
        la.written + lb.written,
        la.flipped + lb.flipped,
        la.dropped + lb.dropped
    );
    println!(
        "frames arrived damaged and rejected {} (tests' framing); endpoints: crc errors {}, framing errors {}, oversized {}, partial frames timed out {}",
        ab.rejected + ba.rejected,
        hs.crc_errors + ds.crc_errors,
        hs.framing_errors + ds.framing_errors,
        hs.oversized_frames + ds.oversized_frames,
        hs.frame_timeouts + ds.frame_timeouts
    );
    println!(
        "calls: started {}, ok {}, failed {} {:?}, still open {}, wrong results {}",
        out.started,
        out.ok,
        failed,
        out.failed,
        pending.len(),
        out.wrong
    );
    println!(
        "corrupted frames accepted {}, protocol errors {}, disconnects {}, virtual time {:.1} s, run time {:.1} s",
        ab.corrupted_accepted + ba.corrupted_accepted,
        hs.protocol_errors + ds.protocol_errors,
        disconnects,
        p.now.as_secs_f64(),
        took.as_secs_f64()
    );
    let mut bad = Vec::new();
    if ab.corrupted_accepted + ba.corrupted_accepted > 0 {
        bad.push("corrupted frames were accepted");
    }
    // The endpoints' own count of valid frames cannot exceed what arrived intact.
    if u64::from(ds.frames_in) > ab.intact || u64::from(hs.frames_in) > ba.intact {
        bad.push("an endpoint accepted more frames than arrived intact");
    }
    if out.wrong > 0 {
        bad.push("wrong results");
    }
    if !pending.is_empty() {
        bad.push("calls without an outcome");
    }
    if out.started != out.ok + failed {
        bad.push("calls started and ended do not add up");
    }
    if bad.is_empty() {
        println!("SOAK OK");
    } else {
        println!("SOAK FAILED: {}", bad.join(", "));
        std::process::exit(1);
    }
}
