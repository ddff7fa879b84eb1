//! This side's limits hold whatever the peer advertises or does: the idle limit and request
//! deadlines are capped, restarts are budgeted, run-time capacities below the const ones
//! are advertised and enforced, call ids stay one byte, and a timeout both sides already
//! know costs no bytes.

use wirecall::{CallError, Config, Disconnect, Duration, Endpoint, Instant, RequestEnd, WireError};
use wirecall_tests::engine::{Engine, Owned};
use wirecall_tests::raw;

use crate::common::{device_config, enc, Mcu};
use crate::victim::Victim;

/// A peer's Hello with the call-timeout feature (bit 0) and its default in milliseconds.
fn hello_with_default(keepalive_ms: u32, call_timeout_ms: u32) -> Vec<u8> {
    let mut b = vec![0x01, 1, 1];
    for v in [1, 1024, 64, 64, keepalive_ms] {
        b.extend(raw::varint(v));
    }
    b.extend(0u32.to_le_bytes());
    b.extend(raw::varint(call_timeout_ms));
    b
}

/// Lets `ms` pass while the peer keeps the link alive (a Ping every 500 ms); returns the
/// frames the victim sent meanwhile other than Pongs and Pings.
fn live_for(v: &mut Victim, ms: u64) -> Vec<Vec<u8>> {
    let mut sent = Vec::new();
    let mut left = ms;
    while left > 0 {
        let step = left.min(500);
        v.advance(step);
        left -= step;
        v.feed(&raw::frame(&[0x06]));
        sent.extend(v.frames().into_iter().filter(|f| f[0] & 0x1f != 0x06));
    }
    sent
}

fn add_request(id: u32) -> Vec<u8> {
    raw::frame(&raw::request(id, 0, &enc(&(1, 2))))
}

fn requests(v: &Victim<impl Engine>) -> Vec<wirecall::RequestId> {
    v.events
        .iter()
        .filter_map(|e| match e {
            Owned::Request { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

#[test]
fn a_peer_advertising_an_endless_keepalive_is_still_declared_dead_at_the_cap() {
    let mut v = Victim::fresh();
    v.handshake(&raw::hello(false, 1, 1, 1024, 64, 64, u32::MAX, 0));
    // 3 × max(1 s, 49 days) would be 149 days; the cap (30 s by default) wins.
    v.advance(29_999);
    assert!(v.ep.is_connected());
    v.advance(1);
    assert!(!v.ep.is_connected());
    assert!(v.events.contains(&Owned::Disconnected(Disconnect::Idle)));
}

#[test]
fn the_idle_cap_never_shortens_this_sides_own_three_keepalives() {
    let config = device_config()
        .with_keepalive(Duration::from_secs(20))
        .with_max_idle_limit(Duration::from_secs(5));
    let mut v = Victim::with(Mcu::new(Instant::ZERO, config));
    v.handshake(&raw::hello(false, 1, 1, 1024, 64, 64, 1000, 0));
    v.advance(59_999);
    assert!(v.ep.is_connected(), "3 × its own 20 s, not the 5 s cap");
    v.advance(1);
    assert!(!v.ep.is_connected());
}

#[test]
fn a_request_asking_for_49_days_is_given_the_servers_cap() {
    let mut v = Victim::connected();
    let mut req = vec![0x22, 5, 0];
    req.extend(raw::varint(u32::MAX));
    req.extend(enc(&(1, 2)));
    v.feed(&raw::frame(&req));
    assert_eq!(requests(&v).len(), 1);
    assert!(live_for(&mut v, 59_500).is_empty());
    assert_eq!(
        live_for(&mut v, 500),
        [vec![0x04, 5, WireError::DeadlineExceeded as u8]]
    );
}

#[test]
fn a_request_without_timeout_gets_the_callers_advertised_default() {
    let mut v = Victim::fresh();
    v.handshake(&hello_with_default(1000, 300));
    v.feed(&add_request(1));
    v.advance(299);
    assert!(v.frames().is_empty());
    v.advance(1);
    assert_eq!(
        v.frames(),
        [vec![0x04, 1, WireError::DeadlineExceeded as u8]]
    );
    assert!(v.events.iter().any(|e| matches!(
        e,
        Owned::RequestEnded {
            reason: RequestEnd::DeadlineExceeded,
            ..
        }
    )));
}

#[test]
fn restarts_beyond_the_budget_are_not_believed() {
    let mut v = Victim::connected();
    let hello = raw::frame(&raw::hello(false, 1, 1, 1024, 64, 64, 1000, 0));
    // The default budget: 4 restarts per 10 s, each ending the session.
    for _ in 0..4 {
        v.feed(&hello);
    }
    let restarts = |v: &Victim| {
        v.events
            .iter()
            .filter(|e| **e == Owned::Disconnected(Disconnect::PeerRestarted))
            .count()
    };
    assert_eq!(restarts(&v), 4);
    let errors = v.ep.stats().protocol_errors;
    v.feed(&hello);
    assert_eq!(restarts(&v), 4, "the fifth is not honoured");
    assert_eq!(v.ep.stats().protocol_errors, errors + 1);
    assert!(v.ep.is_connected(), "the session goes on");
    // A new window brings a new budget.
    live_for(&mut v, 10_000);
    v.feed(&hello);
    assert_eq!(restarts(&v), 5);
}

#[test]
fn run_time_limits_below_the_capacities_are_advertised_and_enforced() {
    let config = Config::default()
        .with_max_frame(100)
        .with_max_inbound(2)
        .with_max_outbound(1);
    let mut v = Victim::with(Endpoint::<256, 4, 4, 576>::new(Instant::ZERO, config));
    // The Hello says 100 bytes, 2 in, 1 out.
    let hello = v.frames().remove(0);
    assert_eq!(&hello[..4], &[0x01, 1, 1, 3]);
    assert_eq!(&hello[4..8], &[100, 2, 1, 0xe8]);
    v.handshake(&raw::hello(false, 1, 1, 1024, 64, 64, 1000, 0));
    assert_eq!(v.ep.limits(), (100, 2, 1));

    // Two requests are served, the third is Busy although the table has four slots.
    v.feed(&[add_request(1), add_request(2), add_request(3)].concat());
    assert_eq!(requests(&v).len(), 2);
    assert_eq!(v.frames(), [vec![0x04, 3, WireError::Busy as u8]]);

    // A frame over 100 bytes is dropped as oversized.
    let big = raw::frame(&raw::request(9, 1, &[7u8; 120]));
    v.feed(&big);
    assert_eq!(v.ep.stats().oversized_frames, 1);

    // One call in flight at a time.
    v.ep.call(v.now, 0, &[2, 4][..]).unwrap();
    assert_eq!(
        v.ep.call(v.now, 0, &[2, 4][..]),
        Err(CallError::TooManyCalls)
    );
}

#[test]
fn call_ids_are_one_byte_and_index_the_calls_own_slot() {
    let mut v = Victim::connected();
    let mut seen = std::collections::BTreeSet::new();
    for round in 0..1000u32 {
        let id = v.ep.call(v.now, 0, &[2, 4][..]).unwrap();
        assert!(id.wire() < 128, "round {round}: id {}", id.wire());
        assert_eq!(id.index(), id.wire() as usize % 4);
        seen.insert(id.wire());
        v.frames();
        let mut reply = vec![0x03];
        reply.extend(raw::varint(id.wire()));
        reply.push(6);
        v.feed(&raw::frame(&reply));
        assert!(matches!(v.events.pop(), Some(Owned::Reply { id: got, .. }) if got == id));
    }
    // One call at a time uses slot 0, its id moving on each time so that a lost final
    // frame can never be taken for the next call.
    assert_eq!(seen.len(), 32);
    assert!(seen.iter().all(|id| id % 4 == 0));
    // Calls at once take different slots.
    let ids: Vec<_> = (0..4)
        .map(|_| v.ep.call(v.now, 0, &[2, 4][..]).unwrap().index())
        .collect();
    assert_eq!(ids, [0, 1, 2, 3]);
}

#[test]
fn requests_with_colliding_ids_are_all_served_and_cancelled_by_id() {
    let mut v = Victim::connected();
    // 0, 4, 8 all belong in slot 0 of a 4-slot table.
    v.feed(&[add_request(0), add_request(4), add_request(8)].concat());
    let ids = requests(&v);
    assert_eq!(ids.iter().map(|r| r.wire()).collect::<Vec<_>>(), [0, 4, 8]);
    let slots: std::collections::BTreeSet<_> = ids.iter().map(|r| r.index()).collect();
    assert_eq!(slots.len(), 3);
    // A request reusing an active (displaced) id is a violation, not a second call.
    let errors = v.ep.stats().protocol_errors;
    v.feed(&add_request(8));
    assert_eq!(v.ep.stats().protocol_errors, errors + 1);
    // Cancel the displaced one, answer the others.
    v.feed(&raw::frame(&[0x05, 4]));
    assert_eq!(v.frames(), [vec![0x04, 4, WireError::Cancelled as u8]]);
    assert_eq!(
        v.ep.respond(ids[1], &[6][..]),
        Err(wirecall::RespondError::NotPending)
    );
    v.ep.respond(ids[0], &[6][..]).unwrap();
    v.ep.respond(ids[2], &[6][..]).unwrap();
    assert_eq!(v.frames(), [vec![0x03, 0, 6], vec![0x03, 8, 6]]);
    assert_eq!(v.ep.slots_in_use(), (0, 0));
}

#[test]
fn a_timeout_the_peer_already_knows_costs_no_bytes() {
    let mut v = Victim::fresh();
    v.handshake(&hello_with_default(1000, 5000));
    let sent = |v: &mut Victim, timeout: Duration| {
        let id =
            v.ep.call_with_timeout(v.now, 0, &[2, 4][..], timeout)
                .unwrap();
        let f = v.frames().remove(0);
        v.ep.cancel(id).unwrap();
        v.frames();
        let mut answer = vec![0x04];
        answer.extend(raw::varint(id.wire()));
        answer.push(WireError::Cancelled as u8);
        v.feed(&raw::frame(&answer));
        f
    };
    // Our default is 5 s (advertised in our Hello); the peer applies it.
    assert_eq!(sent(&mut v, Duration::from_secs(5))[0], 0x02);
    // A call that waited a little (within 1/16 of the default) still sends none.
    assert_eq!(sent(&mut v, Duration::from_millis(4700))[0], 0x02);
    // Anything else is sent: shorter, or longer than the default.
    let short = sent(&mut v, Duration::from_millis(1500));
    assert_eq!((short[0], &short[3..5]), (0x22, &raw::varint(1500)[..]));
    assert_eq!(sent(&mut v, Duration::from_secs(6))[0], 0x22);
}

#[test]
fn a_peer_without_the_feature_is_always_sent_the_timeout() {
    let mut v = Victim::connected(); // its Hello has features 0
    v.ep.call_with_timeout(v.now, 0, &[2, 4][..], Duration::from_secs(5))
        .unwrap();
    let f = v.frames().remove(0);
    assert_eq!((f[0], &f[3..5]), (0x22, &raw::varint(5000)[..]));
}

#[test]
fn a_refusal_before_any_session_is_reported_with_its_code() {
    let mut server = Victim::with(Mcu::new(Instant::ZERO, device_config()));
    server.ep.close_with(WireError::Busy);
    let wire = {
        server.drain_tx();
        std::mem::take(&mut server.wire)
    };
    // The first frame out is the refusal, not a Hello.
    assert_eq!(
        raw::unframe(&wire),
        [Some(vec![0x07, WireError::Busy as u8])]
    );
    let mut client = Victim::fresh();
    client.feed(&wire);
    assert_eq!(
        client.events,
        [Owned::Disconnected(Disconnect::PeerClosed(WireError::Busy))]
    );
    assert!(
        !client.ep.is_closed(),
        "not final: the client may come back later"
    );
}
