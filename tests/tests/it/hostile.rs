//! A hostile or broken peer, played byte by byte with hand-built frames: every bound of the
//! budget table is hit and must hold, with an explicit answer where the peer waits for one.

use wirecall::{Disconnect, Duration, Procedure, WireError};
use wirecall_tests::demo::demo;
use wirecall_tests::engine::Owned;
use wirecall_tests::raw;

use crate::common::enc;
use crate::victim::Victim;

fn error_frame(id: u32, code: WireError) -> Vec<u8> {
    let mut b = vec![0x04];
    b.extend(raw::varint(id));
    b.push(code as u8);
    b
}

fn add_request(id: u32) -> Vec<u8> {
    raw::frame(&raw::request(id, demo::Add::ID, &enc(&(1, 2))))
}

#[test]
fn calls_past_the_inbound_limit_get_busy_not_silence() {
    let mut v = Victim::connected();
    let flood: Vec<u8> = (0..10).flat_map(add_request).collect();
    v.feed(&flood);
    let admitted: Vec<_> = v
        .events
        .iter()
        .filter(|e| matches!(e, Owned::Request { .. }))
        .collect();
    assert_eq!(admitted.len(), 4);
    assert_eq!(
        v.frames(),
        (4..10)
            .map(|id| error_frame(id, WireError::Busy))
            .collect::<Vec<_>>()
    );
    assert_eq!(v.ep.stats().busy_sent, 6);
}

#[test]
fn a_flood_meets_backpressure_and_every_request_still_gets_one_answer() {
    let mut v = Victim::connected();
    let flood: Vec<u8> = (0..300).flat_map(add_request).collect();
    let mut rest = &flood[..];
    let mut stalls = 0;
    while !rest.is_empty() {
        let n = v.feed_until_stall(rest);
        rest = &rest[n..];
        if !rest.is_empty() {
            stalls += 1; // the transmit queue is full: the device stopped reading
            assert!(v.ep.transmit_pending() > 576 - 20);
            v.drain_tx();
        }
    }
    assert!(stalls > 0);
    assert!(v.ep.stats().backpressure_stalls > 0);
    let busy = v.frames().len();
    assert_eq!(busy, 296, "all but the four admitted were answered Busy");
    assert_eq!(v.events.len(), 4);
}

#[test]
fn malformed_frames_past_the_budget_reset_the_link_with_an_error() {
    let mut v = Victim::connected();
    let malformed = raw::frame(&[0x02, 0x80]); // a Request whose id varint never ends
    for _ in 0..8 {
        v.feed(&malformed);
    }
    assert!(v.ep.is_connected(), "eight per second are tolerated");
    v.feed(&malformed);
    assert!(!v.ep.is_connected());
    assert_eq!(
        v.events,
        [Owned::Disconnected(Disconnect::ProtocolViolation)]
    );
    let frames = v.frames();
    assert_eq!(frames[0], [0x07, WireError::ProtocolViolation as u8]);
    assert_eq!(frames[1][0], 0x01, "and offers a fresh handshake");
    assert_eq!(v.ep.stats().protocol_errors, 9);
}

#[test]
fn errors_spread_out_in_time_stay_within_the_budget() {
    let mut v = Victim::connected();
    for _ in 0..40 {
        v.feed(&raw::frame(&[0x02, 0x80]));
        v.feed(&raw::frame(&[0x06])); // keep the link alive with pings
        v.advance(200);
    }
    assert!(v.ep.is_connected());
    assert_eq!(v.ep.stats().protocol_errors, 40);
}

#[test]
fn unknown_kinds_are_ignored_or_rejected_by_the_must_understand_bit() {
    let mut v = Victim::connected();
    v.feed(&raw::frame(&[0x1f, 1, 2, 3]));
    assert_eq!(
        (v.ep.stats().ignored_frames, v.ep.stats().protocol_errors),
        (1, 0)
    );
    v.feed(&raw::frame(&[0x9f, 1, 2, 3]));
    assert_eq!(v.ep.stats().protocol_errors, 1);
    assert!(v.ep.is_connected());
}

#[test]
fn a_partial_frame_that_stalls_is_dropped_and_the_next_frame_works() {
    let mut v = Victim::connected();
    let frame = add_request(1);
    let (head, tail) = frame.split_at(6);
    v.feed(head);
    assert!(v.ep.poll_timeout().unwrap() <= v.now + Duration::from_millis(500));
    v.advance(600);
    assert_eq!(v.ep.stats().frame_timeouts, 1);
    // The stale tail is discarded up to its delimiter; the next frame is served.
    v.feed(tail);
    v.feed(&add_request(2));
    assert!(matches!(
        v.events.as_slice(),
        [Owned::Request { procedure: 0, .. }]
    ));
    assert_eq!(v.ep.stats().requests_received, 1);
}

#[test]
fn an_oversized_frame_is_discarded_and_nothing_is_smuggled_out_of_its_tail() {
    let mut v = Victim::connected();
    // A 400-byte "echo" whose last bytes happen to form a complete valid request frame.
    let inner = add_request(7);
    let mut body = raw::request(3, demo::Echo::ID, &[0x11; 390]);
    body.extend_from_slice(&inner[1..inner.len() - 1]);
    let mut wire = raw::frame(&body);
    wire.pop(); // keep the inner frame inside the oversized run
    wire.extend_from_slice(&inner[1..]);
    v.feed(&wire);
    assert_eq!(v.ep.stats().oversized_frames, 1);
    assert!(v.events.is_empty(), "{:?}", v.events);
    v.feed(&add_request(8));
    assert_eq!(v.events.len(), 1);
}

#[test]
fn ping_floods_coalesce_into_one_pending_pong() {
    let mut v = Victim::connected();
    let pings: Vec<u8> = (0..50).flat_map(|_| raw::frame(&[0x06])).collect();
    assert_eq!(v.feed_until_stall(&pings), pings.len());
    assert_eq!(v.frames(), [vec![0x26]]);
    assert_eq!(v.ep.stats().pings_received, 50);
}

#[test]
fn a_cancel_flood_past_the_budget_resets_the_link() {
    let mut v = Victim::connected();
    let cancels: Vec<u8> = (0..65u32)
        .flat_map(|id| {
            let mut b = vec![0x05];
            b.extend(raw::varint(id));
            raw::frame(&b)
        })
        .collect();
    v.feed(&cancels);
    assert_eq!(
        v.events,
        [Owned::Disconnected(Disconnect::ProtocolViolation)]
    );
}

#[test]
fn duplicate_request_ids_are_protocol_errors_not_second_calls() {
    let mut v = Victim::connected();
    v.feed(&add_request(5));
    v.feed(&add_request(5));
    assert_eq!(v.events.len(), 1);
    assert_eq!(v.ep.stats().protocol_errors, 1);
}

#[test]
fn requests_before_the_handshake_are_told_there_is_no_session() {
    let mut v = Victim::fresh();
    v.frames(); // our Hello
    v.feed(&add_request(3));
    assert_eq!(v.frames(), [error_frame(3, WireError::NoSession)]);
}

#[test]
fn an_incompatible_version_is_refused_explicitly() {
    let mut v = Victim::fresh();
    v.frames();
    v.feed(&raw::frame(&raw::hello(false, 9, 9, 1024, 4, 4, 1000, 0)));
    assert_eq!(
        v.frames(),
        [vec![0x07, WireError::IncompatibleVersion as u8]]
    );
    assert_eq!(
        v.events,
        [Owned::Disconnected(Disconnect::Incompatible(
            WireError::IncompatibleVersion
        ))]
    );
    assert!(v.ep.is_closed());
}

#[test]
fn garbage_between_frames_costs_nothing_but_counters() {
    let mut v = Victim::connected();
    let mut noise = vec![
        0x00, 0x13, 0x37, 0xff, 0xff, 0x00, 0x05, 0x01, 0x00, 0x02, 0x02, 0x00,
    ];
    noise.extend(add_request(1));
    v.feed(&noise);
    assert_eq!(v.events.len(), 1);
    let s = v.ep.stats();
    // Three runs between delimiters, each a framing error (section 2.3): `13 37 ff ff` and
    // `05 01` end while their code byte still promises data (rule 3), and `02 02` decodes
    // to one byte, shorter than a header and CRC (rule 5). None is a protocol error.
    assert_eq!(
        (
            s.framing_errors,
            s.crc_errors,
            s.oversized_frames,
            s.protocol_errors
        ),
        (3, 0, 0, 0),
        "{s:?}"
    );
    assert!(v.frames().is_empty(), "noise is not answered");
}

#[test]
fn a_cancelled_id_stays_reserved_until_the_peer_answers_the_cancel() {
    let mut v = Victim::connected();
    let id = v.ep.call(v.now, 0, &[2, 4][..]).unwrap();
    v.ep.cancel(id).unwrap();
    let sent = v.frames();
    assert_eq!(sent.last().unwrap(), &[0x05, id.wire() as u8]);
    // The peer's reply crossed the cancel: counted as late, and the id stays reserved,
    // because the answer to the cancel is still to come.
    let mut reply = vec![0x03];
    reply.extend(raw::varint(id.wire()));
    reply.push(6);
    v.feed(&raw::frame(&reply));
    assert_eq!(v.ep.slots_in_use().0, 1);
    assert!(v.events.is_empty());
    v.feed(&raw::frame(&error_frame(id.wire(), WireError::Cancelled)));
    assert_eq!(v.ep.slots_in_use().0, 0);
    assert_eq!(v.ep.stats().late_replies, 2);
    assert!(v.events.is_empty());
}

#[test]
fn after_a_reset_the_budget_starts_afresh() {
    let mut v = Victim::connected();
    let malformed = raw::frame(&[0x02, 0x80]);
    for _ in 0..9 {
        v.feed(&malformed);
    }
    assert!(!v.ep.is_connected());
    v.feed(&raw::frame(&raw::hello(false, 1, 1, 1024, 64, 64, 1000, 0)));
    assert!(v.ep.is_connected());
    v.events.clear();
    v.frames();
    // The same window, but a new session: one more malformed frame is within budget.
    v.feed(&malformed);
    assert!(v.ep.is_connected());
    assert!(v.frames().iter().all(|f| f[0] != 0x07), "no second Close");
}

#[test]
fn cancels_without_a_session_cost_nothing() {
    let mut v = Victim::fresh();
    v.frames();
    let cancels: Vec<u8> = (0..200u32)
        .flat_map(|id| raw::frame(&[0x05, (id % 100) as u8]))
        .collect();
    v.feed(&cancels);
    assert!(v.frames().is_empty());
    assert!(v.events.is_empty());
}

#[test]
fn error_detail_is_cut_to_fit_at_a_character_boundary() {
    let mut v = Victim::connected();
    v.feed(&add_request(1));
    let Owned::Request { id, .. } = v.events[0].clone() else {
        panic!()
    };
    let detail = "é".repeat(300); // 600 bytes, two per character; the frame holds 256
    v.ep.respond_error(id, WireError::BadArguments, &detail)
        .unwrap();
    let frames = v.frames();
    let text = &frames[0][3..];
    assert!(
        text.len() >= 240 && text.len() <= 256 - 3 - 4,
        "{}",
        text.len()
    );
    assert!(
        std::str::from_utf8(text).is_ok(),
        "detail split a character"
    );
}

#[test]
fn sub_millisecond_timeouts_round_up_on_the_wire() {
    let mut v = Victim::connected();
    v.ep.call_with_timeout(v.now, 0, &[2, 4][..], Duration::from_micros(300))
        .unwrap();
    let frames = v.frames();
    assert_eq!(
        frames[0][..4],
        [0x22, 0x00, 0x00, 0x01],
        "header with FLAG, id, procedure, 1 ms"
    );
}

#[test]
fn a_hello_too_small_to_carry_a_hello_is_refused() {
    let mut v = Victim::fresh();
    v.frames();
    v.feed(&raw::frame(&raw::hello(false, 1, 1, 20, 4, 4, 1000, 0)));
    assert!(!v.ep.is_connected());
    assert_eq!(v.ep.stats().protocol_errors, 1);
}

#[test]
fn a_cancelled_id_reused_at_once_is_reported_in_order() {
    let mut v = Victim::connected();
    v.feed(&add_request(5));
    // In one burst: cancel call 5, then start a new call 5.
    let mut burst = raw::frame(&[0x05, 5]);
    burst.extend(add_request(5));
    v.feed(&burst);
    let kinds: Vec<String> = v
        .events
        .iter()
        .map(|e| match e {
            Owned::Request { id, .. } => format!("request {}", id.wire()),
            Owned::RequestEnded { id, .. } => format!("ended {}", id.wire()),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds, ["request 5", "ended 5", "request 5"]);
    // The new call 5 is the one answerable now.
    let Owned::Request { id, .. } = v.events[2].clone() else {
        panic!()
    };
    assert_eq!(v.ep.respond(id, &enc(&3)[..]), Ok(()));
}
