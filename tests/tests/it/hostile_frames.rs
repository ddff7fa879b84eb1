//! Hostile frames at the frame layer, played with hand-built bytes against one device
//! endpoint: cut-off vector frames, overflowing varints, trailing bytes, fields that claim
//! more than the frame holds, duplicate and wrong-typed replies, and peers that restart or
//! advertise absurd limits while streams are open. Each test asserts the exact counters,
//! frames and events docs/PROTOCOL.md prescribes, so that a change of behaviour fails it.

use wirecall::{
    CallFailure, Config, Disconnect, Instant, Open, Procedure, RequestEnd, Stats, StreamId,
    StreamMode, WireError,
};
use wirecall_tests::demo::demo;
use wirecall_tests::engine::Owned;
use wirecall_tests::raw;

use crate::common::{enc, Mcu};
use crate::vectors::{frames, load};
use crate::victim::Victim;

/// The counters a dropped or refused frame may move, in one comparable tuple:
/// (crc, framing, oversized, protocol, ignored (index 4), late replies).
fn drops(s: &Stats) -> [u32; 6] {
    [
        s.crc_errors,
        s.framing_errors,
        s.oversized_frames,
        s.protocol_errors,
        s.ignored_frames,
        s.late_replies,
    ]
}

const CRC: usize = 0;
const FRAMING: usize = 1;
const OVERSIZED: usize = 2;
const PROTOCOL: usize = 3;
const LATE: usize = 5;

/// `drops` of a fresh session plus one on counter `i`.
fn one(i: usize) -> [u32; 6] {
    let mut d = [0; 6];
    d[i] = 1;
    d
}

/// An initial Hello body with the streams feature (bit 1) and the given limits.
fn stream_hello(max_frame: u32, inbound: u32, keepalive_ms: u32, window: u32) -> Vec<u8> {
    let mut b = vec![0x01, 1, 1];
    for v in [2, max_frame, inbound, inbound, keepalive_ms] {
        b.extend(raw::varint(v));
    }
    b.extend(0u32.to_le_bytes());
    b.extend(raw::varint(window));
    b
}

/// A device in a session with a peer that speaks streams (window 8, 1 s keepalive).
fn streaming_victim() -> Victim {
    let mut v = Victim::fresh();
    v.handshake(&stream_hello(1024, 64, 1000, 8));
    v
}

fn with_id(kind: u8, id: u32, rest: &[u8]) -> Vec<u8> {
    let mut b = vec![kind];
    b.extend(raw::varint(id));
    b.extend_from_slice(rest);
    b
}

/// The peer opens a stream of `mode` (wire mode byte) on `echo`'s procedure number with call
/// id `id`; returns the device's request id for it.
fn peer_opens(v: &mut Victim, id: u32, mode: u8) -> wirecall::RequestId {
    v.feed(&raw::frame(&with_id(
        0x08,
        id,
        &[demo::Echo::ID as u8, mode, 0],
    )));
    let [Owned::Request { id, .. }] = std::mem::take(&mut v.events)[..] else {
        panic!("the Open was not admitted")
    };
    v.frames();
    id
}

/// The one valid frame fed after each broken input: Request id 9, `add(2, 4)`.
fn probe() -> Vec<u8> {
    raw::frame(&raw::request(9, demo::Add::ID, &[2, 4]))
}

fn served_probe(events: &[Owned]) -> bool {
    matches!(events, [Owned::Request { id, procedure: 0, args }] if id.wire() == 9 && args == &[2, 4])
}

/// What docs/PROTOCOL.md section 2.3 says a receiver with `max_frame` counts for the COBS
/// bytes `cobs` followed by a delimiter; `None` for nothing (an empty frame). Written from
/// the rules, apart from the core's decoder.
fn expected_drop(cobs: &[u8], max_frame: usize) -> Option<usize> {
    if cobs.is_empty() {
        return None;
    }
    // Decoded bytes as they arrive: a block's implied zero is data only once another
    // block follows it (rule 4 counts it then).
    let mut decoded = 0;
    let mut i = 0;
    while i < cobs.len() {
        let code = cobs[i] as usize;
        let data = (code - 1).min(cobs.len() - i - 1);
        decoded += data;
        if decoded > max_frame {
            return Some(OVERSIZED);
        }
        i += 1 + data;
        if i < cobs.len() && code < 0xff {
            decoded += 1;
            if decoded > max_frame {
                return Some(OVERSIZED);
            }
        }
    }
    let Some(frame) = raw::cobs_decode(cobs) else {
        return Some(FRAMING); // the last code byte promised more than came
    };
    if frame.len() < 5 {
        return Some(FRAMING);
    }
    // A proper prefix of a valid frame: its last four bytes are not its CRC.
    assert_eq!(raw::unframe(&[&[0][..], cobs, &[0]].concat()), [None]);
    Some(CRC)
}

#[test]
fn every_prefix_of_every_vector_frame_is_dropped_and_the_next_frame_works() {
    let v = load();
    let f = frames(&v);
    let mut checked = 0;
    let mut seen = [0; 6];
    for (name, (_, wire)) in &f {
        // wire = 00 COBS 00; every cut before the closing delimiter, then a delimiter.
        for cut in 1..wire.len() - 1 {
            let mut s = Victim::with(Mcu::new(Instant::ZERO, Config::default()));
            s.handshake(&f["hello_reply"].0);
            let mut input = wire[..cut].to_vec();
            input.push(0);
            s.feed(&input);
            let counter = expected_drop(&wire[1..cut], 256);
            if let Some(c) = counter {
                seen[c] += 1;
            }
            let expected = counter.map_or([0; 6], one);
            assert_eq!(drops(s.ep.stats()), expected, "{name} cut at {cut}");
            assert!(s.events.is_empty(), "{name} cut at {cut}: {:?}", s.events);
            assert!(s.frames().is_empty(), "{name} cut at {cut}: answered");
            s.feed(&probe());
            assert!(
                served_probe(&s.events),
                "{name} cut at {cut}: {:?}",
                s.events
            );
            checked += 1;
        }
    }
    // Every cut of every frame was played (request_long's cuts past 256 decoded bytes too).
    assert!(
        seen[CRC] > 0 && seen[FRAMING] > 0 && seen[OVERSIZED] > 0,
        "{seen:?}"
    );
    assert_eq!(checked, f.values().map(|(_, w)| w.len() - 2).sum::<usize>());
}

/// Feeds `body` (one malformed frame) nine times: the first eight cost a protocol error
/// each and nothing else; the ninth resets the link with `Close(ProtocolViolation)` and a
/// fresh Hello (section 8, protocol error budget 8 per second).
pub(crate) fn malformed_up_to_the_reset(v: &mut Victim, body: &[u8], what: &str) {
    for n in 1..=8 {
        v.feed(&raw::frame(body));
        assert_eq!(drops(v.ep.stats()), [0, 0, 0, n, 0, 0], "{what} #{n}");
        assert!(v.events.is_empty(), "{what}: {:?}", v.events);
        assert!(v.frames().is_empty(), "{what}: answered");
        assert!(v.ep.is_connected(), "{what}");
    }
    v.feed(&raw::frame(body));
    assert_eq!(
        v.events,
        [Owned::Disconnected(Disconnect::ProtocolViolation)],
        "{what}"
    );
    let sent = v.frames();
    assert_eq!(sent.len(), 2, "{what}: {sent:?}");
    assert_eq!(
        sent[0],
        [0x07, WireError::ProtocolViolation as u8],
        "{what}"
    );
    assert_eq!(sent[1][0], 0x01, "{what}: a fresh initial Hello");
    assert_eq!(v.ep.stats().protocol_errors, 9, "{what}");
}

/// Six bytes, the last a terminator: longer than any u32 may be encoded.
const SIX_BYTES: [u8; 6] = [0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
/// Five bytes whose fifth carries bit 32: a value past u32.
const PAST_U32: [u8; 5] = [0xff, 0xff, 0xff, 0xff, 0x1f];

/// Every varint field of every kind, as (name, bytes before the field, bytes after it).
fn varint_fields() -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
    vec![
        ("Request id", vec![0x02], vec![0, 2, 4]),
        ("Request procedure", vec![0x02, 1], vec![2, 4]),
        ("Request timeout", vec![0x22, 1, 0], vec![2, 4]),
        ("Reply id", vec![0x03], vec![6]),
        ("Error id", vec![0x04], vec![6]),
        ("Cancel id", vec![0x05], vec![]),
        ("Open id", vec![0x08], vec![5, 2, 0, 3]),
        ("Open procedure", vec![0x08, 1], vec![2, 0, 3]),
        ("Open depth", vec![0x08, 1, 5, 2], vec![3]),
        ("Open timeout", vec![0x28, 1, 5, 2, 0], vec![3]),
        ("Item id (caller)", vec![0x09], vec![0, 7]),
        ("Item id (server)", vec![0x29], vec![0, 7]),
        ("Items id", vec![0x0c], vec![0, 1, 7]),
        ("Credit id", vec![0x0a], vec![4]),
        ("Credit items", vec![0x0a, 1], vec![]),
        ("End id", vec![0x0b], vec![0]),
        ("Manifest request offset", vec![0x0e], vec![]),
        ("Manifest piece total", vec![0x2e], vec![0]),
        ("Manifest piece offset", vec![0x2e, 10], vec![]),
    ]
}

#[test]
fn an_overflowing_varint_in_any_field_is_a_protocol_error_and_nine_reset_the_link() {
    for (field, head, tail) in varint_fields() {
        for (form, bad) in [
            ("6-byte", &SIX_BYTES[..]),
            ("5th byte > 0x0F", &PAST_U32[..]),
        ] {
            let mut v = streaming_victim();
            let body = [&head[..], bad, &tail[..]].concat();
            malformed_up_to_the_reset(&mut v, &body, &format!("{field}, {form}"));
        }
    }
}

#[test]
fn an_overflowing_varint_in_a_hello_refuses_the_session() {
    // Each varint field of the vector Hello (features 3), overflowing: a Hello that cannot
    // be read starts no session and gets no reply.
    let hello = |i: usize, bad: &[u8]| {
        let fields: [&[u8]; 8] = [
            &[3],
            &[0x80, 2],
            &[4],
            &[4],
            &[0xe8, 7],
            &[0, 0, 0, 0],
            &[0x88, 0x27],
            &[8],
        ];
        let mut b = vec![0x01, 1, 1];
        for (j, f) in fields.iter().enumerate() {
            b.extend_from_slice(if j == i { bad } else { f });
        }
        b
    };
    for i in [0, 1, 2, 3, 4, 6, 7] {
        for bad in [&SIX_BYTES[..], &PAST_U32[..]] {
            let mut v = Victim::fresh();
            v.frames();
            v.feed(&raw::frame(&hello(i, bad)));
            assert!(!v.ep.is_connected(), "field {i}");
            assert_eq!(drops(v.ep.stats()), one(PROTOCOL), "field {i}");
            assert!(v.events.is_empty() && v.frames().is_empty(), "field {i}");
        }
    }
}

#[test]
fn trailing_bytes_after_hello_cancel_ping_and_close_are_ignored() {
    // Section 3.3: these four kinds may grow fields in later versions.
    let junk = [0xff, 0x01, 0x80];
    // Hello: a session starts, answered with a Hello reply.
    let mut v = Victim::fresh();
    v.frames();
    v.feed(&raw::frame(
        &[stream_hello(1024, 64, 1000, 8), junk.to_vec()].concat(),
    ));
    assert!(v.ep.is_connected());
    assert_eq!(v.ep.peer().unwrap().stream_window, Some(8));
    assert_eq!(v.frames()[0][0], 0x21);
    // Ping: one Pong.
    v.events.clear();
    v.feed(&raw::frame(&[&[0x06][..], &junk].concat()));
    assert_eq!(v.frames(), [vec![0x26]]);
    // Cancel: the byte after the id is its optional code (section 6.6), the rest ignored;
    // the call ends and is answered Cancelled.
    v.feed(&raw::frame(&raw::request(3, demo::Add::ID, &[2, 4])));
    let [Owned::Request { id, .. }] = std::mem::take(&mut v.events)[..] else {
        panic!()
    };
    v.feed(&raw::frame(&with_id(
        0x05,
        3,
        &[WireError::Cancelled as u8, 0xff, 0x80],
    )));
    assert_eq!(
        v.events,
        [Owned::RequestEnded {
            id,
            reason: RequestEnd::Cancelled
        }]
    );
    assert_eq!(v.frames(), [vec![0x04, 3, WireError::Cancelled as u8]]);
    assert_eq!(drops(v.ep.stats()), [0; 6]);
    // Close: the reason is the rest; the session ends and a new handshake starts.
    v.events.clear();
    v.feed(&raw::frame(
        &[&[0x07, WireError::Closed as u8][..], &junk].concat(),
    ));
    assert_eq!(
        v.events,
        [Owned::Disconnected(Disconnect::PeerClosed(
            WireError::Closed
        ))]
    );
    assert_eq!(v.frames()[0][0], 0x01);
    assert_eq!(drops(v.ep.stats()), [0; 6]);
}

#[test]
fn trailing_bytes_after_credit_end_and_manifest_request_are_ignored() {
    // docs/PROTOCOL.md section 3.3: trailing bytes after a Credit's count, an End's sequence
    // number and a Manifest request's offset are ignored (room for later fields).
    let mut v = streaming_victim();
    let id = peer_opens(&mut v, 1, 3); // bidirectional: both sides send items
    v.feed(&raw::frame(&with_id(0x0a, 1, &[4, 0xff, 0x80])));
    // The grant counts (no event: the device still had credit, so nothing was waiting).
    assert_eq!(v.ep.credit(StreamId::Request(id)), 8 + 4);
    assert!(v.events.is_empty(), "{:?}", v.events);
    v.feed(&raw::frame(&with_id(0x0b, 1, &[0, 0xff, 0x80])));
    assert_eq!(v.events, [Owned::ItemsEnded { id }]);
    v.feed(&raw::frame(&[0x0e, 0, 0xff, 0x80]));
    let sent = v.frames();
    assert_eq!(sent.len(), 1);
    let mut head = vec![0x2e];
    let mut total = demo::MANIFEST.len();
    while total >= 0x80 {
        head.push((total as u8 & 0x7f) | 0x80);
        total >>= 7;
    }
    head.extend([total as u8, 0]);
    assert_eq!(&sent[0][..head.len()], head);
    assert_eq!(drops(v.ep.stats()), [0; 6]);
}

#[test]
fn frames_missing_a_required_field_are_protocol_errors() {
    for (what, body) in [
        ("Request without procedure", vec![0x02, 1]),
        ("Request flagged without timeout", vec![0x22, 1, 0]),
        ("Error without code", vec![0x04, 1]),
        ("Cancel without id", vec![0x05]),
        ("Close without code", vec![0x07]),
        ("Open without mode", vec![0x08, 1, 5]),
        ("Open without depth", vec![0x08, 1, 5, 2]),
        ("Open with mode 4", vec![0x08, 1, 5, 4, 0]),
        ("Item without seq", vec![0x09, 1]),
        ("Items without seq", vec![0x0c, 1]),
        ("Credit without items", vec![0x0a, 1]),
        ("End without seq", vec![0x0b, 1]),
        ("Manifest request without offset", vec![0x0e]),
        ("Manifest piece without offset", vec![0x2e, 10]),
    ] {
        let mut v = streaming_victim();
        malformed_up_to_the_reset(&mut v, &body, what);
    }
}

#[test]
fn a_hello_cut_anywhere_starts_no_session() {
    // Every proper prefix of the vector Hello (features 3: all ten fields required).
    let f = frames(&load());
    let hello = &f["hello"].0;
    for cut in 1..hello.len() {
        let mut v = Victim::fresh();
        v.frames();
        v.feed(&raw::frame(&hello[..cut]));
        assert!(!v.ep.is_connected(), "cut at {cut}");
        assert_eq!(drops(v.ep.stats()), one(PROTOCOL), "cut at {cut}");
        assert!(v.events.is_empty() && v.frames().is_empty(), "cut at {cut}");
        // The whole Hello still works afterwards.
        v.feed(&raw::frame(hello));
        assert!(v.ep.is_connected(), "cut at {cut}");
    }
}

#[test]
fn an_items_frame_whose_lengths_overrun_is_malformed_and_delivers_nothing() {
    // Section 6.6: a length past the end, or no item at all, makes the frame malformed.
    for (what, rest) in [
        ("length 5, two bytes", vec![0, 5, 1, 2]),
        ("second length past the end", vec![0, 1, 7, 3, 1]),
        ("no item", vec![0]),
        (
            "length varint overflowing",
            vec![0, 0xff, 0xff, 0xff, 0xff, 0x1f],
        ),
    ] {
        let mut v = streaming_victim();
        let id = peer_opens(&mut v, 1, 1); // client stream: the peer sends items
        v.feed(&raw::frame(&with_id(0x0c, 1, &rest)));
        assert!(v.events.is_empty(), "{what}: {:?}", v.events);
        assert_eq!(drops(v.ep.stats()), one(PROTOCOL), "{what}");
        let sent = v.frames();
        // Nothing of it was counted as an item: the next item is still number 0.
        v.feed(&raw::frame(&with_id(0x09, 1, &[0, 7])));
        assert_eq!(
            v.events,
            [Owned::Item {
                stream: StreamId::Request(id),
                item: vec![7]
            }],
            "{what}: sent {sent:?}"
        );
    }
}

#[test]
fn a_second_answer_to_a_call_already_answered_is_late_and_silent() {
    let mut v = streaming_victim();
    let call = v.ep.call(v.now, demo::Add::ID, &enc(&(2, 4))[..]).unwrap();
    v.frames();
    let reply = raw::frame(&with_id(0x03, call.wire(), &enc(&6)));
    v.feed(&reply);
    assert_eq!(
        v.events,
        [Owned::Reply {
            id: call,
            payload: enc(&6)
        }]
    );
    v.events.clear();
    // The same Reply again, then an Error for the same id: neither reaches the application.
    v.feed(&reply);
    assert_eq!(drops(v.ep.stats()), one(LATE));
    v.feed(&raw::frame(&with_id(
        0x04,
        call.wire(),
        &[WireError::Busy as u8],
    )));
    assert_eq!(drops(v.ep.stats()), [0, 0, 0, 0, 0, 2]);
    assert!(v.events.is_empty(), "{:?}", v.events);
    assert!(v.frames().is_empty(), "a late reply is not answered");
}

#[test]
fn a_reply_that_is_not_the_procedures_result_fails_the_typed_decode() {
    // The engine passes a Reply's bytes on as they are; the typed layer must refuse bytes
    // that are not an `i32` (empty, overlong varint, or an `i32` with bytes after it).
    for payload in [vec![], vec![0xff; 6], [enc(&6), vec![0]].concat()] {
        let mut v = streaming_victim();
        let call = v.ep.call(v.now, demo::Add::ID, &enc(&(2, 4))[..]).unwrap();
        v.frames();
        v.feed(&raw::frame(&with_id(0x03, call.wire(), &payload)));
        let [Owned::Reply { id, payload: got }] = &v.events[..] else {
            panic!("{:?}", v.events)
        };
        assert_eq!((*id, got), (call, &payload));
        assert!(demo::Add::output(got).is_err(), "{payload:?} decoded");
    }
    assert_eq!(demo::Add::output(&enc(&6)).ok(), Some(6));
}

#[test]
fn an_oversized_item_frame_hides_no_item_in_its_tail() {
    let mut v = streaming_victim();
    let id = peer_opens(&mut v, 1, 1);
    // A 400-byte Item whose last bytes form a complete valid Item frame (seq 0).
    let inner = raw::frame(&with_id(0x09, 1, &[0, 7]));
    let mut body = with_id(0x09, 1, &[0]);
    body.extend_from_slice(&[0x11; 390]);
    body.extend_from_slice(&inner[1..inner.len() - 1]);
    let mut wire = raw::frame(&body);
    wire.pop(); // the inner frame stays inside the oversized run
    wire.extend_from_slice(&inner[1..]);
    v.feed(&wire);
    assert_eq!(drops(v.ep.stats()), one(OVERSIZED));
    assert!(v.events.is_empty(), "{:?}", v.events);
    assert!(v.frames().is_empty());
    // Nothing was taken from the tail: the next item is number 0 and arrives.
    v.feed(&raw::frame(&with_id(0x09, 1, &[0, 8])));
    assert_eq!(
        v.events,
        [Owned::Item {
            stream: StreamId::Request(id),
            item: vec![8]
        }]
    );
}

#[test]
fn a_peer_restart_ends_streams_both_ways_exactly_once() {
    let mut v = streaming_victim();
    let served = peer_opens(&mut v, 1, 3);
    let opened =
        v.ep.open(
            v.now,
            demo::Echo::ID,
            &[][..],
            Open::stream(StreamMode::Bidi),
        )
        .unwrap();
    v.frames();
    // An initial Hello mid-session: the peer forgot both streams (section 5.3).
    v.feed(&raw::frame(&stream_hello(1024, 64, 1000, 8)));
    let Owned::Connected(_) = v.events[1] else {
        panic!("{:?}", v.events)
    };
    assert_eq!(v.events[0], Owned::Disconnected(Disconnect::PeerRestarted));
    assert_eq!(
        v.events[2..],
        [
            Owned::CallFailed {
                id: opened,
                reason: CallFailure::ConnectionLost,
                detail: vec![]
            },
            Owned::RequestEnded {
                id: served,
                reason: RequestEnd::ConnectionLost
            }
        ]
    );
    // Only a Hello reply goes out: no Cancel, End or Error for the streams of the old session.
    let sent = v.frames();
    assert_eq!((sent.len(), sent[0][0]), (1, 0x21), "{sent:?}");
    // Items of the old session that were still on the line end nothing a second time.
    v.events.clear();
    v.feed(&raw::frame(&with_id(0x09, 1, &[0, 7])));
    v.feed(&raw::frame(&with_id(0x29, opened.wire(), &[0, 7])));
    assert!(v.events.is_empty(), "{:?}", v.events);
    assert_eq!(drops(v.ep.stats())[PROTOCOL], 0);
}

#[test]
fn a_hello_with_absurd_limits_does_not_lift_this_sides_caps() {
    // max_frame 4 GiB, 65535 items of window, a keepalive of 49 days.
    let mut v = Victim::fresh();
    v.handshake(&stream_hello(u32::MAX, u32::MAX, u32::MAX, 65535));
    let opened =
        v.ep.open(
            v.now,
            demo::Echo::ID,
            &[][..],
            Open::stream(StreamMode::ClientStream),
        )
        .unwrap();
    v.frames();
    // Items are packed to this side's 256-byte frames, whatever the peer accepts.
    let item = [0x55u8; 100];
    let sent =
        v.ep.send_items(StreamId::Call(opened), &[&item[..]; 6])
            .unwrap();
    assert!(sent >= 2, "{sent}");
    let frames = v.frames();
    assert!(!frames.is_empty());
    assert!(
        frames.iter().all(|f| f.len() + 4 <= 256),
        "{:?}",
        frames.iter().map(Vec::len).collect::<Vec<_>>()
    );
    // The link is declared dead at this side's 30 s idle cap, not after 3 × 49 days, and
    // the stream ends with it, once.
    v.events.clear();
    for _ in 0..29 {
        v.advance(1000);
    }
    assert!(v.events.is_empty(), "{:?}", v.events);
    v.advance(1001);
    assert_eq!(
        v.events,
        [
            Owned::Disconnected(Disconnect::Idle),
            Owned::CallFailed {
                id: opened,
                reason: CallFailure::ConnectionLost,
                detail: vec![]
            }
        ]
    );
    // A window of 0 would forbid every item: the Hello is malformed and starts no session.
    let mut w = Victim::fresh();
    w.frames();
    w.feed(&raw::frame(&stream_hello(1024, 4, 1000, 0)));
    assert!(!w.ep.is_connected());
    assert_eq!(drops(w.ep.stats()), one(PROTOCOL));
}

#[test]
fn an_open_that_reuses_an_active_id_is_a_protocol_error_not_a_second_stream() {
    let mut v = streaming_victim();
    let first = peer_opens(&mut v, 5, 3); // bidirectional, still active
    v.feed(&raw::frame(&with_id(
        0x08,
        5,
        &[demo::Echo::ID as u8, 3, 0],
    )));
    assert!(v.events.is_empty(), "no second request: {:?}", v.events);
    assert_eq!(v.ep.stats().protocol_errors, 1);
    assert!(
        v.frames().is_empty(),
        "nothing answered: the first stream's id is not ended"
    );
    // The first stream is untouched: it still sends.
    assert_eq!(v.ep.send_item(first, &b"x"[..]), Ok(()));
    assert_eq!(v.frames().len(), 1);
}

#[test]
fn a_hello_with_a_keepalive_of_zero_does_not_make_this_side_ping_without_end() {
    // keepalive 0 from the peer: this side's own keepalive (1 s) still sets its pace.
    let mut v = Victim::fresh();
    v.handshake(&stream_hello(256, 4, 0, 8));
    let before = v.ep.stats().pings_sent;
    for _ in 0..10 {
        v.advance(100);
    }
    let pings = v.ep.stats().pings_sent - before;
    assert!(pings <= 1, "{pings} pings in one second of silence");
}

/// The device opens a stream of `mode` on `echo`; its Open is taken off the line.
fn this_side_opens(v: &mut Victim, mode: StreamMode) -> wirecall::CallId {
    let call =
        v.ep.open(v.now, demo::Echo::ID, &[][..], Open::stream(mode))
            .unwrap();
    v.frames();
    call
}

#[test]
fn answers_items_and_ends_after_a_stream_ended_are_late_and_silent() {
    // A server stream this side opened ends properly (item, End, Reply); then the peer
    // repeats every frame of it and adds an Error. None reaches the application, none is
    // answered, and none is a protocol error: a Reply or Error counts as late (the stray
    // budget bounds a flood of them), an Item as refused, an End not at all.
    let mut v = streaming_victim();
    let call = this_side_opens(&mut v, StreamMode::ServerStream);
    let item = raw::frame(&with_id(0x29, call.wire(), &[0, 7]));
    let end = raw::frame(&with_id(0x2b, call.wire(), &[1]));
    let reply = raw::frame(&with_id(0x03, call.wire(), &[]));
    v.feed(&[item.clone(), end.clone(), reply.clone()].concat());
    assert_eq!(
        v.events,
        [
            Owned::Item {
                stream: StreamId::Call(call),
                item: vec![7]
            },
            Owned::Reply {
                id: call,
                payload: vec![]
            }
        ]
    );
    v.events.clear();
    v.frames(); // the credit for the item, if any
    let error = raw::frame(&with_id(0x04, call.wire(), &[WireError::Internal as u8]));
    v.feed(&[item, end, reply, error].concat());
    assert!(v.events.is_empty(), "{:?}", v.events);
    assert!(v.frames().is_empty(), "nothing answers a late frame");
    let s = v.ep.stats();
    assert_eq!(
        drops(s),
        [0, 0, 0, 0, 0, 2],
        "the Reply and the Error are late"
    );
    assert_eq!(s.items_refused, 1);
}

#[test]
fn a_stream_this_side_cancelled_ignores_the_peers_late_items_end_and_reply() {
    // This side gives up on a bidirectional stream (one Cancel goes out, no event: the
    // application asked); the peer had already sent an item, its End and its Reply.
    let mut v = streaming_victim();
    let call = this_side_opens(&mut v, StreamMode::Bidi);
    v.ep.cancel(call).unwrap();
    let sent = v.frames();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0][0], 0x05, "a Cancel: {sent:?}");
    v.events.clear();
    v.feed(
        &[
            raw::frame(&with_id(0x29, call.wire(), &[0, 7])),
            raw::frame(&with_id(0x2b, call.wire(), &[1])),
            raw::frame(&with_id(0x03, call.wire(), &[])),
        ]
        .concat(),
    );
    assert!(v.events.is_empty(), "{:?}", v.events);
    assert!(v.frames().is_empty());
    let s = v.ep.stats();
    assert_eq!(
        drops(s),
        [0, 0, 0, 0, 0, 1],
        "the Reply is late; nothing else counts"
    );
    assert_eq!(s.items_refused, 1);
}

#[test]
fn open_and_cancel_pairs_under_the_cancel_budget_still_end_the_link() {
    // The rapid-reset pattern with streams: each Open is admitted (and its handler may
    // start), then cancelled at once. 32 pairs within 10 s are tolerated, each stream ending
    // exactly once; the 33rd resets the link, as for plain requests (`budgets.rs`).
    for mode in [1u8, 2, 3] {
        let mut v = streaming_victim();
        for id in 0..32u32 {
            v.feed(&raw::frame(&with_id(
                0x08,
                id,
                &[demo::Echo::ID as u8, mode, 0],
            )));
            v.feed(&raw::frame(&with_id(0x05, id, &[])));
            v.advance(30);
        }
        let count = |f: fn(&Owned) -> bool| v.events.iter().filter(|e| f(e)).count();
        assert_eq!(
            count(|e| matches!(e, Owned::Request { .. })),
            32,
            "mode {mode}: every Open was admitted: {:?}",
            v.events
        );
        assert_eq!(
            count(|e| matches!(e, Owned::RequestEnded { .. })),
            32,
            "mode {mode}: every stream ended once: {:?}",
            v.events
        );
        assert!(
            !v.events
                .contains(&Owned::Disconnected(Disconnect::ProtocolViolation)),
            "mode {mode}"
        );
        v.events.clear();
        v.feed(&raw::frame(&with_id(
            0x08,
            32,
            &[demo::Echo::ID as u8, mode, 0],
        )));
        v.feed(&raw::frame(&with_id(0x05, 32, &[])));
        assert!(
            v.events
                .contains(&Owned::Disconnected(Disconnect::ProtocolViolation)),
            "mode {mode}: {:?}",
            v.events
        );
    }
}
