//! Calls end to end over the simulated line: handshake, limits, results, errors,
//! ordering, deadlines and cancellation.

use std::time::Duration;

use wirecall::{
    CallError, CallFailure, Duration as CoreDuration, Instant, Procedure, RequestEnd, WireError,
};
use wirecall_tests::demo::demo;
use wirecall_tests::engine::Owned;
use wirecall_tests::pair::{Pair, Serve, Side};

use crate::common::{connected_pair, device_config, enc, host_and_device, host_config, Host, Mcu};

fn replies(events: &[Owned]) -> Vec<(wirecall::CallId, Vec<u8>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Owned::Reply { id, payload } => Some((*id, payload.clone())),
            _ => None,
        })
        .collect()
}

fn failures(events: &[Owned]) -> Vec<(wirecall::CallId, CallFailure)> {
    events
        .iter()
        .filter_map(|e| match e {
            Owned::CallFailed { id, reason, .. } => Some((*id, *reason)),
            _ => None,
        })
        .collect()
}

#[test]
fn handshake_reports_peer_limits_and_each_side_honours_the_smaller() {
    let mut p = host_and_device(Serve::Hold);
    p.connect();
    let Owned::Connected(dev) = p.a.events[0].clone() else {
        panic!("{:?}", p.a.events)
    };
    assert_eq!(
        (dev.max_frame, dev.max_inbound, dev.max_outbound, dev.schema),
        (256, 4, 4, demo::SCHEMA_HASH)
    );
    let Owned::Connected(host) = p.b.events[0].clone() else {
        panic!()
    };
    assert_eq!(
        (host.max_frame, host.max_inbound, host.max_outbound),
        (1024, 16, 16)
    );

    // The host could keep 16 calls in flight, but the device serves only 4.
    let now = p.instant();
    for _ in 0..4 {
        p.a.ep
            .call(now, demo::Add::ID, &enc(&(1, 2)), None)
            .unwrap();
    }
    assert_eq!(
        p.a.ep.call(now, demo::Add::ID, &enc(&(1, 2)), None),
        Err(CallError::TooManyCalls)
    );
    // Calls the device makes stay within the host's 16-call limit, not its own 4.
    for _ in 0..4 {
        p.b.ep
            .call(now, demo::Add::ID, &enc(&(1, 2)), None)
            .unwrap();
    }
    assert_eq!(
        p.b.ep.call(now, demo::Add::ID, &enc(&(1, 2)), None),
        Err(CallError::TooManyCalls)
    );
}

#[test]
fn add_costs_22_bytes_on_the_wire_request_and_reply_together() {
    let mut p = connected_pair();
    let (a0, b0) = (p.a.ep.stats().bytes_out, p.b.ep.stats().bytes_out);
    let id =
        p.a.ep
            .call(p.instant(), demo::Add::ID, &enc(&(1i32, 2i32)), None)
            .unwrap();
    p.run_for(Duration::from_millis(50));
    let events = p.a.take_events();
    assert_eq!(replies(&events), [(id, enc(&3i32))]);
    let request = p.a.ep.stats().bytes_out - a0;
    let reply = p.b.ep.stats().bytes_out - b0;
    assert_eq!(
        (request, reply),
        (12, 10),
        "request and reply bytes, delimiters included"
    );
    assert_eq!(request + reply, 22);
}

#[test]
fn many_calls_in_flight_both_ways_answered_in_any_order() {
    let mut p = Pair::new(
        Side::new(
            Host::new(Instant::ZERO, host_config().with_manifest(&demo::MANIFEST)),
            Serve::Hold,
        ),
        Side::new(Mcu::new(Instant::ZERO, device_config()), Serve::Hold),
    );
    p.connect();
    let now = p.instant();
    let host_calls: Vec<_> = (0..4)
        .map(|i| {
            p.a.ep
                .call(now, demo::Add::ID, &enc(&(i, 100)), None)
                .unwrap()
        })
        .collect();
    let dev_calls: Vec<_> = (0..4)
        .map(|i| {
            p.b.ep
                .call(now, demo::Add::ID, &enc(&(i, 200)), None)
                .unwrap()
        })
        .collect();
    p.run_for(Duration::from_millis(20));
    // Both sides hold four requests; answer them newest first.
    for side in [&mut p.a, &mut p.b] {
        let held = side.held_requests();
        assert_eq!(held.len(), 4);
        for (id, _, args) in held.iter().rev() {
            let (x, y): (i32, i32) = postcard::from_bytes(args).unwrap();
            side.ep.respond(*id, &enc(&(x + y))).unwrap();
        }
        assert_eq!(side.ep.requests_pending(), 0);
    }
    p.run_for(Duration::from_millis(20));
    let mut got_a = replies(&p.a.events);
    let mut got_b = replies(&p.b.events);
    assert_eq!(
        got_a.iter().map(|r| r.0).collect::<Vec<_>>(),
        host_calls.iter().rev().copied().collect::<Vec<_>>()
    );
    got_a.sort();
    got_b.sort();
    assert_eq!(
        got_a,
        host_calls
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, enc(&(i as i32 + 100))))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        got_b,
        dev_calls
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, enc(&(i as i32 + 200))))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        (p.a.ep.slots_in_use(), p.b.ep.slots_in_use()),
        ((0, 0), (0, 0))
    );
}

#[test]
fn every_kind_of_rejection_is_an_explicit_error() {
    let mut p = connected_pair();
    let now = p.instant();
    let unknown = p.a.ep.call(now, 77, &[], None).unwrap();
    let bad = p.a.ep.call(now, demo::Add::ID, &[1], None).unwrap();
    let fail = p.a.ep.call(now, demo::Fail::ID, &[], None).unwrap();
    let huge = p.a.ep.call(now, demo::Huge::ID, &[], None).unwrap();
    p.run_for(Duration::from_millis(50));
    let mut got = failures(&p.a.events);
    got.sort_by_key(|f| f.0);
    assert_eq!(
        got,
        [
            (unknown, CallFailure::Remote(WireError::UnknownProcedure)),
            (bad, CallFailure::Remote(WireError::BadArguments)),
            (fail, CallFailure::Remote(WireError::Internal)),
            (huge, CallFailure::Remote(WireError::TooLarge)),
        ]
    );
    // Arguments too large for the device's 256-byte frames fail locally, before sending.
    assert_eq!(
        p.a.ep.call(now, demo::Echo::ID, &[1u8; 300], None),
        Err(CallError::TooLarge)
    );
}

#[test]
fn error_detail_text_reaches_the_caller() {
    let mut p = host_and_device(Serve::Hold);
    p.connect();
    let id = p.a.ep.call(p.instant(), demo::Add::ID, &[9], None).unwrap();
    p.run_for(Duration::from_millis(20));
    let (rid, _, _) = p.b.held_requests()[0].clone();
    p.b.ep
        .respond_error(rid, WireError::BadArguments, "expected (i32, i32)")
        .unwrap();
    p.run_for(Duration::from_millis(20));
    assert!(p.a.events.contains(&Owned::CallFailed {
        id,
        reason: CallFailure::Remote(WireError::BadArguments),
        detail: b"expected (i32, i32)".to_vec()
    }));
}

#[test]
fn a_held_call_fails_at_its_deadline_and_the_cancel_reaches_the_server() {
    let mut p = host_and_device(Serve::Hold);
    p.connect();
    let start = p.now;
    let id =
        p.a.ep
            .call(
                p.instant(),
                demo::Add::ID,
                &enc(&(1, 2)),
                Some(CoreDuration::from_secs(1)),
            )
            .unwrap();
    assert!(
        p.run_until(Duration::from_secs(3), |p| !failures(&p.a.events)
            .is_empty())
    );
    assert_eq!(failures(&p.a.events), [(id, CallFailure::DeadlineExceeded)]);
    let waited = p.now - start;
    // The core's clock has microsecond resolution; the harness's has nanoseconds.
    assert!(
        waited >= Duration::from_micros(999_999) && waited < Duration::from_millis(1010),
        "{waited:?}"
    );
    p.run_for(Duration::from_millis(50));
    let (rid, _, _) = p.b.held_requests()[0].clone();
    assert!(p.b.events.contains(&Owned::RequestEnded {
        id: rid,
        reason: RequestEnd::Cancelled
    }));
    // The server can no longer answer it, and says so.
    assert_eq!(
        p.b.ep.respond(rid, &[1]),
        Err(wirecall::RespondError::NotPending)
    );
    assert_eq!(p.a.ep.stats().cancels_sent, 1);
    assert_eq!(p.b.ep.stats().cancels_received, 1);
    // The server's final word (Cancelled) released the caller's slot.
    assert_eq!(p.a.ep.slots_in_use(), (0, 0));
}

#[test]
fn the_server_gives_up_at_its_own_deadline_and_tells_the_caller() {
    // The caller's default deadline is 5 s; the server caps every request at 300 ms.
    let mut p = Pair::new(
        Side::new(Host::new(Instant::ZERO, host_config()), Serve::Hold),
        Side::new(
            Mcu::new(
                Instant::ZERO,
                device_config().with_max_request_timeout(CoreDuration::from_millis(300)),
            ),
            Serve::Hold,
        ),
    );
    p.connect();
    let id =
        p.a.ep
            .call(p.instant(), demo::Add::ID, &enc(&(1, 2)), None)
            .unwrap();
    p.run_for(Duration::from_millis(400));
    assert_eq!(
        failures(&p.a.events),
        [(id, CallFailure::Remote(WireError::DeadlineExceeded))]
    );
    assert!(matches!(
        p.b.events.last(),
        Some(Owned::RequestEnded {
            reason: RequestEnd::DeadlineExceeded,
            ..
        })
    ));
    assert_eq!(p.b.ep.stats().requests_timed_out, 1);
}

#[test]
fn cancel_ends_the_call_quietly_and_a_late_reply_is_only_counted() {
    let mut p = host_and_device(Serve::Hold);
    p.connect();
    let id =
        p.a.ep
            .call(p.instant(), demo::Add::ID, &enc(&(1, 2)), None)
            .unwrap();
    p.run_for(Duration::from_millis(20));
    let (rid, _, _) = p.b.held_requests()[0].clone();
    // The server answers at the same moment the caller cancels: the frames cross.
    p.b.ep.respond(rid, &enc(&3)).unwrap();
    p.a.ep.cancel(id).unwrap();
    assert_eq!(p.a.ep.cancel(id), Err(wirecall::CancelError::NotPending));
    assert_eq!(p.a.ep.calls_in_flight(), 0);
    p.run_for(Duration::from_millis(50));
    assert!(replies(&p.a.events).is_empty() && failures(&p.a.events).is_empty());
    // Both the crossed reply and the server's answer to the cancel arrive after the call
    // ended: counted, never reported.
    assert_eq!(p.a.ep.stats().late_replies, 2);
    assert_eq!(p.a.ep.slots_in_use(), (0, 0));
}

#[test]
fn a_slot_held_for_a_late_reply_is_released_after_the_grace_period() {
    let mut p = connected_pair();
    p.b.serve = Serve::Hold;
    let id =
        p.a.ep
            .call(p.instant(), demo::Add::ID, &enc(&(1, 2)), None)
            .unwrap();
    p.ab.set_faults(wirecall_adapters::sim::Faults {
        cut: true,
        ..Default::default()
    });
    p.a.ep.cancel(id).unwrap();
    p.run_for(Duration::from_millis(500));
    assert_eq!(
        p.a.ep.slots_in_use(),
        (1, 0),
        "held: the peer's final word may still come"
    );
    p.run_for(Duration::from_millis(600));
    assert_eq!(p.a.ep.slots_in_use(), (0, 0));
}
