//! Calls over the Morse link in virtual time (`MorseLine`: keyer, noisy channel, decoder,
//! each way), at 20 words per minute: a byte takes about two seconds, a call a minute.
//! With timers from `Config::for_byte_time`, nothing times out because the link is slow;
//! with jitter and dropped elements, every call ends once with the right result or a clear
//! error, and none with a wrong value.

use std::time::Duration;

use wirecall::{CallFailure, Config, Instant, Procedure};
use wirecall_adapters::morse::channel::Impairments;
use wirecall_adapters::morse::line::MorseLine;
use wirecall_adapters::morse::{byte_time, unit_at_wpm};
use wirecall_tests::demo::demo;
use wirecall_tests::engine::Owned;
use wirecall_tests::pair::{Pair, Serve, Side};

use crate::common::{device_config, enc, host_config, Host, Mcu};

/// Frames of up to 64 bytes: the largest takes 67 bytes, three minutes at 20 wpm.
const MAX_FRAME: usize = 64;

fn for_morse(c: Config, wpm: u32) -> Config {
    c.with_max_frame(MAX_FRAME as u32)
        .for_byte_time(byte_time(unit_at_wpm(wpm)), MAX_FRAME)
}

fn morse_pair(wpm: u32, imp: Impairments, seed: u64) -> Pair<MorseLine> {
    let unit = unit_at_wpm(wpm);
    let mut p = Pair::with_lines(
        Side::new(
            Host::new(Instant::ZERO, for_morse(host_config(), wpm)),
            Serve::Hold,
        ),
        Side::new(
            Mcu::new(Instant::ZERO, for_morse(device_config(), wpm)),
            Serve::Dispatch,
        ),
        MorseLine::new(unit, imp, seed),
        MorseLine::new(unit, imp, seed ^ 0x5eed),
    );
    let connected = p.run_until(Duration::from_secs(3600), |p| {
        p.a.ep.is_connected() && p.b.ep.is_connected()
    });
    assert!(connected, "no handshake in an hour of Morse");
    p.a.take_events();
    p
}

/// Makes one call and runs until it ends: its outcome, and how long it took.
fn call(p: &mut Pair<MorseLine>, a: i32, b: i32) -> (Result<i32, CallFailure>, Duration) {
    // A session lost to noise (an accepted outcome of an earlier call) comes back first.
    let connected = p.run_until(Duration::from_secs(3600), |p| {
        p.a.ep.is_connected() && p.b.ep.is_connected()
    });
    assert!(connected, "no new handshake in an hour of Morse");
    let start = p.now;
    let id =
        p.a.ep
            .call(p.instant(), demo::Add::ID, &enc(&(a, b)), None)
            .expect("a free slot");
    let mut outcome = None;
    p.run_until(Duration::from_secs(4 * 3600), |p| {
        for e in p.a.take_events() {
            match e {
                Owned::Reply { id: got, payload } if got == id => {
                    assert!(outcome.is_none(), "a second end of one call");
                    outcome = Some(Ok(demo::Add::output(&payload).expect("an i32")));
                }
                Owned::CallFailed {
                    id: got, reason, ..
                } if got == id => {
                    assert!(outcome.is_none(), "a second end of one call");
                    outcome = Some(Err(reason));
                }
                _ => {}
            }
        }
        outcome.is_some()
    });
    (outcome.expect("the call ended"), p.now - start)
}

#[test]
fn calls_at_20_wpm_on_a_clean_link_all_succeed_and_nothing_times_out() {
    let mut p = morse_pair(20, Impairments::NONE, 1);
    for i in 0..5 {
        let (got, took) = call(&mut p, i, 1000);
        assert_eq!(got, Ok(i + 1000));
        // 22 bytes in all (request and reply) at about two seconds a byte.
        assert!(
            took > Duration::from_secs(30) && took < Duration::from_secs(120),
            "{took:?}"
        );
    }
    // Quiet for ten minutes of virtual time: keepalives keep the link up, none spuriously
    // declares it dead.
    p.run_for(Duration::from_secs(600));
    assert!(p.a.ep.is_connected() && p.b.ep.is_connected());
    let (got, _) = call(&mut p, 7, 8);
    assert_eq!(got, Ok(15));
    let (a, b) = (p.a.ep.stats(), p.b.ep.stats());
    assert_eq!(
        (
            a.calls_timed_out,
            a.link_losses,
            b.link_losses,
            b.requests_timed_out
        ),
        (0, 0, 0, 0),
        "{a:?} {b:?}"
    );
    assert_eq!(
        p.ab.decoder_stats().bad_words + p.ba.decoder_stats().bad_words,
        0
    );
}

#[test]
fn calls_at_20_wpm_through_jitter_and_dropped_elements_end_right_or_with_a_clear_error() {
    let noisy = Impairments {
        jitter: 0.3,
        drop: 0.002,
        ..Impairments::NONE
    };
    let (mut ok, mut failed) = (0, 0);
    for seed in 1..=3 {
        let mut p = morse_pair(20, Impairments::NONE, seed);
        p.ab.set_impairments(noisy);
        p.ba.set_impairments(noisy);
        for i in 0..12 {
            let (a, b) = (i * 7 + seed as i32, 1000 * seed as i32);
            match call(&mut p, a, b) {
                (Ok(v), _) => {
                    assert_eq!(v, a + b, "seed {seed}: a wrong result");
                    ok += 1;
                }
                (Err(reason), _) => {
                    // A lost frame: the caller's deadline, or a lost link, said plainly.
                    assert!(
                        matches!(
                            reason,
                            CallFailure::DeadlineExceeded | CallFailure::ConnectionLost
                        ),
                        "seed {seed}: {reason:?}"
                    );
                    failed += 1;
                }
            }
        }
        let lost = p.ab.channel_stats().dropped + p.ba.channel_stats().dropped;
        assert!(lost > 0, "seed {seed}: the channel dropped nothing");
    }
    eprintln!("{ok} of 36 calls succeeded, {failed} failed");
    assert!(ok >= 18, "{ok} of 36 calls succeeded, {failed} failed");
    assert!(
        failed > 0,
        "no call met a dropped element: the test tests nothing"
    );
}

#[test]
fn stretched_elements_and_noise_bursts_never_produce_a_wrong_result() {
    // A sloppier channel: marks stretched by one to two units (a dit read as a dah), noise
    // bursts in the gaps, every mark and gap 20 % off. Bytes are misread, not only lost,
    // so frames arrive damaged: the CRC refuses them, and the calls they carried end with
    // a deadline instead of a wrong value.
    let rough = Impairments {
        spread: 0.2,
        stretch: 0.002,
        burst: 0.002,
        ..Impairments::NONE
    };
    let (mut ok, mut failed) = (0, 0);
    let mut p = morse_pair(20, Impairments::NONE, 9);
    p.ab.set_impairments(rough);
    p.ba.set_impairments(rough);
    for i in 0..16 {
        match call(&mut p, i, -3 * i) {
            (Ok(v), _) => {
                assert_eq!(v, -2 * i, "a wrong result");
                ok += 1;
            }
            (Err(reason), _) => {
                assert!(
                    matches!(
                        reason,
                        CallFailure::DeadlineExceeded | CallFailure::ConnectionLost
                    ),
                    "{reason:?}"
                );
                failed += 1;
            }
        }
    }
    let c = p.ab.channel_stats();
    let crc = p.a.ep.stats().crc_errors + p.b.ep.stats().crc_errors;
    eprintln!("{ok} ok, {failed} failed; {c:?}; {crc} CRC errors");
    assert!(c.stretched > 0 && c.bursts > 0, "{c:?}");
    assert!(crc > 0, "no frame arrived damaged: the test tests nothing");
    assert!(ok >= 6, "{ok} of 16 calls succeeded");
}
