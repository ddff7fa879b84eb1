//! The life of a link: loss, idle detection, peer restart, close, incompatible peers,
//! and noise on the line.

use std::time::Duration;

use wirecall::{CallFailure, Disconnect, Instant, Procedure, WireError};
use wirecall_adapters::sim::Faults;
use wirecall_tests::demo::demo;
use wirecall_tests::engine::Owned;
use wirecall_tests::pair::{Pair, Serve, Side};

use crate::common::{connected_pair, device_config, enc, host_config, Host, Mcu};

fn count(events: &[Owned], f: impl Fn(&Owned) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

#[test]
fn keepalive_keeps_an_idle_link_up() {
    let mut p = connected_pair();
    p.run_for(Duration::from_secs(30));
    assert!(p.a.ep.is_connected() && p.b.ep.is_connected());
    assert!(p.a.ep.stats().pings_sent + p.b.ep.stats().pings_sent >= 10);
    assert!(
        p.a.events.is_empty() && p.b.events.is_empty(),
        "{:?}",
        p.a.events
    );
}

#[test]
fn a_cut_link_is_declared_dead_every_call_fails_and_it_recovers() {
    let mut p = connected_pair();
    p.b.serve = Serve::Hold;
    let calls: Vec<_> = (0..3)
        .map(|i| {
            p.a.ep
                .call(p.instant(), demo::Add::ID, &enc(&(i, i)), None)
                .unwrap()
        })
        .collect();
    p.run_for(Duration::from_millis(20));
    p.ab.set_faults(Faults {
        cut: true,
        ..Faults::NONE
    });
    p.ba.set_faults(Faults {
        cut: true,
        ..Faults::NONE
    });
    let cut_at = p.now;
    assert!(
        p.run_until(Duration::from_secs(10), |p| !p.a.ep.is_connected()
            && !p.b.ep.is_connected())
    );
    let dead_after = p.now - cut_at;
    // Three keepalive intervals (1 s each) after the last valid frame, which crossed the
    // line up to 20 ms before the cut.
    assert!(
        dead_after >= Duration::from_millis(2980) && dead_after <= Duration::from_secs(3),
        "{dead_after:?}"
    );
    assert!(p.a.events.contains(&Owned::Disconnected(Disconnect::Idle)));
    let lost: Vec<_> =
        p.a.events
            .iter()
            .filter_map(|e| match e {
                Owned::CallFailed {
                    id,
                    reason: CallFailure::ConnectionLost,
                    ..
                } => Some(*id),
                _ => None,
            })
            .collect();
    assert_eq!(lost, calls);
    assert_eq!(
        count(&p.b.events, |e| matches!(
            e,
            Owned::RequestEnded {
                reason: wirecall::RequestEnd::ConnectionLost,
                ..
            }
        )),
        3
    );
    assert_eq!(
        (p.a.ep.slots_in_use(), p.b.ep.slots_in_use()),
        ((0, 0), (0, 0)),
        "every table is empty"
    );

    // The cable goes back in: the Hello retries find each other and calls work again.
    p.ab.set_faults(Faults::NONE);
    p.ba.set_faults(Faults::NONE);
    p.b.serve = Serve::Dispatch;
    assert!(
        p.run_until(Duration::from_secs(3), |p| p.a.ep.is_connected()
            && p.b.ep.is_connected())
    );
    let id =
        p.a.ep
            .call(p.instant(), demo::Add::ID, &enc(&(20, 22)), None)
            .unwrap();
    p.run_for(Duration::from_millis(20));
    assert!(p.a.events.contains(&Owned::Reply {
        id,
        payload: enc(&42)
    }));
}

#[test]
fn a_peer_restart_fails_pending_calls_at_once_and_reconnects() {
    let mut p = connected_pair();
    p.b.serve = Serve::Hold;
    let id =
        p.a.ep
            .call(p.instant(), demo::Add::ID, &enc(&(1, 2)), None)
            .unwrap();
    p.run_for(Duration::from_millis(20));
    // The device resets: a brand-new endpoint says Hello.
    p.b = Side::new(Mcu::new(p.instant(), device_config()), Serve::Dispatch);
    let reset_at = p.now;
    p.run_for(Duration::from_millis(20));
    assert_eq!(
        &p.a.events[..3],
        &[
            Owned::Disconnected(Disconnect::PeerRestarted),
            Owned::Connected(match &p.a.events[1] {
                Owned::Connected(i) => *i,
                e => panic!("{e:?}"),
            }),
            Owned::CallFailed {
                id,
                reason: CallFailure::ConnectionLost,
                detail: vec![]
            },
        ]
    );
    assert!(p.now - reset_at < Duration::from_secs(1));
    let id =
        p.a.ep
            .call(p.instant(), demo::Add::ID, &enc(&(2, 2)), None)
            .unwrap();
    p.run_for(Duration::from_millis(20));
    assert!(p.a.events.contains(&Owned::Reply {
        id,
        payload: enc(&4)
    }));
}

#[test]
fn close_ends_everything_on_both_sides() {
    let mut p = connected_pair();
    p.b.serve = Serve::Hold;
    let mine =
        p.a.ep
            .call(p.instant(), demo::Add::ID, &enc(&(1, 2)), None)
            .unwrap();
    p.run_for(Duration::from_millis(20));
    p.a.ep.close();
    assert!(!p.a.ep.is_connected());
    p.run_for(Duration::from_millis(20));
    assert!(p
        .a
        .events
        .contains(&Owned::Disconnected(Disconnect::LocalClose)));
    assert!(p.a.events.contains(&Owned::CallFailed {
        id: mine,
        reason: CallFailure::ConnectionLost,
        detail: vec![]
    }));
    assert!(p
        .b
        .events
        .contains(&Owned::Disconnected(Disconnect::PeerClosed(
            WireError::Closed
        ))));
    assert_eq!(
        count(&p.b.events, |e| matches!(e, Owned::RequestEnded { .. })),
        1
    );
    assert_eq!(
        (p.a.ep.slots_in_use(), p.b.ep.slots_in_use()),
        ((0, 0), (0, 0))
    );
    assert_eq!(
        p.a.ep.call(p.instant(), 0, &[], None),
        Err(wirecall::CallError::Closed)
    );
}

#[test]
fn a_schema_mismatch_ends_the_handshake_with_an_explicit_error() {
    let mut p = Pair::new(
        Side::new(Host::new(Instant::ZERO, host_config()), Serve::Hold),
        Side::new(
            Mcu::new(Instant::ZERO, device_config().with_schema(0x1234)),
            Serve::Dispatch,
        ),
    );
    p.run_for(Duration::from_secs(2));
    assert!(!p.a.ep.is_connected());
    assert_eq!(
        p.a.events,
        [Owned::Disconnected(Disconnect::Incompatible(
            WireError::IncompatibleSchema
        ))]
    );
    // The device heard why, explicitly, instead of silence.
    assert!(p
        .b
        .events
        .contains(&Owned::Disconnected(Disconnect::PeerClosed(
            WireError::IncompatibleSchema
        ))));
}

#[test]
fn calls_survive_a_noisy_line_and_every_call_ends_exactly_once() {
    for seed in 1..=4 {
        let mut p = Pair::with_line(
            Side::new(Host::new(Instant::ZERO, host_config()), Serve::Hold),
            Side::new(Mcu::new(Instant::ZERO, device_config()), Serve::Dispatch),
            115_200,
            Duration::from_micros(100),
            seed,
        );
        p.connect();
        let noise = Faults {
            drop: 0.002,
            flip: 0.002,
            duplicate: 0.002,
            insert: 0.002,
            cut: false,
        };
        p.ab.set_faults(noise);
        p.ba.set_faults(noise);
        let mut started = Vec::new();
        for i in 0..200i32 {
            if let Ok(id) = p.a.ep.call(p.instant(), demo::Add::ID, &enc(&(i, 1)), None) {
                started.push((id, i));
            }
            p.run_for(Duration::from_millis(15));
        }
        p.ab.set_faults(Faults::NONE);
        p.ba.set_faults(Faults::NONE);
        p.run_for(Duration::from_secs(8));
        let mut ended = std::collections::HashMap::new();
        let mut ok = 0;
        for e in &p.a.events {
            match e {
                Owned::Reply { id, payload } => {
                    *ended.entry(*id).or_insert(0) += 1;
                    let i = started.iter().rev().find(|s| s.0 == *id).unwrap().1;
                    // Ids are reused, so match the reply to the latest call with that id
                    // only loosely: the result must be some i + 1 of a call we made.
                    let v: i32 = postcard::from_bytes(payload).unwrap();
                    assert!(
                        started.iter().any(|s| s.1 + 1 == v),
                        "reply {v} to a call never made ({i})"
                    );
                    ok += 1;
                }
                Owned::CallFailed { id, .. } => *ended.entry(*id).or_insert(0) += 1,
                _ => {}
            }
        }
        let ends: usize = ended.values().sum();
        assert_eq!(
            ends,
            started.len(),
            "seed {seed}: every call ends exactly once"
        );
        assert!(
            ok >= started.len() * 8 / 10,
            "seed {seed}: only {ok} of {} succeeded",
            started.len()
        );
        let s = p.b.ep.stats();
        assert!(
            s.crc_errors + s.framing_errors > 0,
            "the noise was noticed: {s:?}"
        );
        assert_eq!(
            (p.a.ep.slots_in_use(), p.b.ep.slots_in_use()),
            ((0, 0), (0, 0))
        );
        // After the noise, the link is healthy.
        let id =
            p.a.ep
                .call(p.instant(), demo::Add::ID, &enc(&(5, 5)), None)
                .unwrap();
        p.run_for(Duration::from_millis(20));
        assert!(
            p.a.events.contains(&Owned::Reply {
                id,
                payload: enc(&10)
            }),
            "seed {seed}"
        );
    }
}
