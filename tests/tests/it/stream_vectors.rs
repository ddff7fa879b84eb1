//! The stream vectors of tests/vectors/wire.json: a core endpoint opening streams sends
//! exactly these bytes and understands the server's, and one serving them understands the
//! caller's, including both flow-control errors and the depth limit.

use std::collections::HashMap;

use wirecall::{CallFailure, Config, Instant, Open, RequestEnd, StreamId, StreamMode, WireError};
use wirecall_tests::engine::{Engine, Owned};
use wirecall_tests::raw;

use crate::common::{Host, Mcu};

fn wires() -> HashMap<String, Vec<u8>> {
    crate::vectors::frames(&crate::vectors::load())
        .into_iter()
        .map(|(name, (_, wire))| (name, wire))
        .collect()
}

/// A device (MCU-size endpoint) in a session, serving a server stream the peer opened
/// with call id `wire` (procedure 5, depth 0); everything it sent so far is drained.
fn serving_a_stream(wire: u8) -> (Script, wirecall::RequestId) {
    let mut s = Script::new(Box::new(Mcu::new(Instant::ZERO, Config::default())));
    s.sent();
    s.feed(&wires()["hello_reply"]);
    s.take();
    s.feed(&raw::frame(&[0x08, wire, 5, 2, 0]));
    let [Owned::Request { id, .. }] = &s.take()[..] else {
        panic!("no request")
    };
    let id = *id;
    s.sent();
    (s, id)
}

struct Script {
    ep: Box<dyn Engine>,
    events: Vec<Owned>,
}

impl Script {
    fn new(ep: Box<dyn Engine>) -> Script {
        Script { ep, events: vec![] }
    }
    fn sent(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut b = [0u8; 64];
        loop {
            let n = self.ep.poll_transmit(&mut b);
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&b[..n]);
        }
    }
    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let n = self.ep.handle_input(Instant::ZERO, bytes);
            bytes = &bytes[n..];
            while let Some(e) = self.ep.poll_event() {
                self.events.push(e);
            }
        }
    }
    fn take(&mut self) -> Vec<Owned> {
        std::mem::take(&mut self.events)
    }
}

#[test]
fn a_caller_opens_streams_byte_for_byte() {
    let w = wires();
    let mut s = Script::new(Box::new(Mcu::new(
        Instant::ZERO,
        Config::default().with_schema(0x1234_5678),
    )));
    assert_eq!(s.sent(), w["hello"]);
    s.feed(&w["hello_reply"]);
    let [Owned::Connected(peer)] = &s.take()[..] else {
        panic!()
    };
    assert_eq!(peer.stream_window, Some(8));
    // Two plain calls move slot 0 to its third epoch: id 8.
    for id in [0u8, 4] {
        let c = s.ep.call(Instant::ZERO, 0, &[2, 4], None).unwrap();
        assert_eq!(c.wire(), u32::from(id));
        s.sent();
        s.feed(&raw::frame(&[0x03, id, 6]));
    }
    s.take();

    let count =
        s.ep.open(
            Instant::ZERO,
            5,
            &[3],
            Open::stream(StreamMode::ServerStream),
        )
        .unwrap();
    assert_eq!(s.sent(), w["open_server_stream"]);
    s.feed(&w["item_from_server"]);
    // Items 1 to 3 packed in one frame: three events, in order.
    s.feed(&w["items_from_server"]);
    let items = s.take();
    let expected: Vec<Owned> = (0..4u8)
        .map(|i| Owned::Item {
            stream: StreamId::Call(count),
            item: vec![i],
        })
        .collect();
    assert_eq!(items, expected);
    // Consuming half the window (4 of 8) grants it back in one Credit frame.
    for n in 0..4 {
        assert_eq!(s.sent(), b"", "no credit before half the window ({n})");
        s.ep.consume(StreamId::Call(count), 1).unwrap();
    }
    assert_eq!(s.sent(), w["credit_from_caller"]);
    s.feed(&w["end_from_server"]);
    assert_eq!(
        s.take(),
        [],
        "the End alone is no event: the Reply ends the call"
    );
    s.feed(&w["reply_stream_end"]);
    assert_eq!(
        s.take(),
        [Owned::Reply {
            id: count,
            payload: vec![]
        }]
    );

    let bidi =
        s.ep.open(
            Instant::ZERO,
            6,
            &[],
            Open::stream(StreamMode::Bidi).with_timeout(wirecall::Duration::from_millis(2000)),
        )
        .unwrap();
    assert_eq!(s.sent(), w["open_bidi_timeout"]);
    assert_eq!(s.ep.credit(StreamId::Call(bidi)), 8, "the peer's window");
    s.ep.send_item(StreamId::Call(bidi), &[7, 7]).unwrap();
    assert_eq!(s.sent(), w["item_from_caller"]);
    s.feed(&w["credit_from_server"]);
    assert_eq!(s.ep.credit(StreamId::Call(bidi)), 11);
    s.ep.end_items(bidi).unwrap();
    assert_eq!(s.sent(), w["end_items"]);
    assert_eq!(
        s.ep.send_item(StreamId::Call(bidi), &[1]),
        Err(wirecall::StreamError::NotSending)
    );
    // The server sends nine items on a window of eight: the ninth is refused, the call
    // ends with FlowControl, and the server is told why.
    for seq in 0..9u8 {
        s.feed(&raw::frame(&[0x29, 12, seq, 1]));
    }
    let events = s.take();
    assert_eq!(events.len(), 9, "{events:?}");
    assert_eq!(
        events[8],
        Owned::CallFailed {
            id: bidi,
            reason: CallFailure::FlowControl,
            detail: vec![]
        }
    );
    assert_eq!(s.sent(), w["cancel_flow_control"]);
    assert_eq!(s.ep.stats().items_refused, 1);
}

#[test]
fn a_server_understands_the_callers_stream_frames() {
    let w = wires();
    let mut s = Script::new(Box::new(Host::new(Instant::ZERO, Config::default())));
    s.sent();
    s.feed(&w["hello"]);
    s.take();
    assert_eq!(s.sent(), w["hello_reply"]);

    s.feed(&w["open_bidi_timeout"]);
    let [Owned::Request {
        id,
        procedure: 6,
        args,
    }] = &s.take()[..]
    else {
        panic!()
    };
    let id = *id;
    assert!(args.is_empty());
    assert_eq!(s.ep.request_mode(id), Some(StreamMode::Bidi));
    assert_eq!(s.ep.request_depth(id), Some(0));
    assert_eq!(s.ep.credit(StreamId::Request(id)), 8, "the caller's window");
    s.feed(&w["item_from_caller"]);
    assert_eq!(
        s.take(),
        [Owned::Item {
            stream: StreamId::Request(id),
            item: vec![7, 7]
        }]
    );
    s.ep.consume(StreamId::Request(id), 1).unwrap();
    assert_eq!(s.sent(), b"", "one consumed: no credit yet");
    for seq in 1..4u8 {
        s.feed(&raw::frame(&[0x09, 12, seq, 7, 7]));
    }
    s.ep.consume(StreamId::Request(id), 3).unwrap();
    assert_eq!(s.sent(), w["credit_from_server"]);
    s.feed(&raw::frame(&[0x0b, 12, 4]));
    assert_eq!(&s.take()[3..], [Owned::ItemsEnded { id }]);
    assert_eq!(
        s.sent(),
        b"",
        "no credit is granted for items that can no longer come"
    );
    s.ep.send_item(StreamId::Request(id), &[5]).unwrap();
    assert_eq!(s.sent(), raw::frame(&[0x29, 12, 0, 5]));
    s.ep.respond(id, &[]).unwrap();
    assert_eq!(
        s.sent(),
        [raw::frame(&[0x2b, 12, 1]), raw::frame(&[0x03, 12])].concat(),
        "the server's End (one item) comes before its Reply"
    );

    // A caller that ignores credit: its ninth item on a window of eight ends the stream.
    let next = raw::frame(&[0x08, 16, 6, 3, 0]);
    s.feed(&next);
    let [Owned::Request { id, .. }] = &s.take()[..] else {
        panic!()
    };
    let id = *id;
    for seq in 0..9u8 {
        s.feed(&raw::frame(&[0x09, 16, seq, 1]));
    }
    let events = s.take();
    assert_eq!(
        events.last(),
        Some(&Owned::RequestEnded {
            id,
            reason: RequestEnd::FlowControl
        })
    );
    assert_eq!(
        s.sent(),
        raw::frame(&[0x04, 16, WireError::FlowControl as u8])
    );

    // A nested call is served one level deeper.
    s.feed(&w["open_nested"]);
    let [Owned::Request {
        id,
        procedure: 0,
        args,
    }] = &s.take()[..]
    else {
        panic!()
    };
    assert_eq!(
        (s.ep.request_depth(*id), args.as_slice()),
        (Some(1), &[2u8, 4][..])
    );
    assert_eq!(s.ep.request_mode(*id), Some(StreamMode::Call));
}

#[test]
fn a_call_nested_past_the_depth_limit_is_refused() {
    let w = wires();
    let mut s = Script::new(Box::new(Host::new(
        Instant::ZERO,
        Config::default().with_max_call_depth(0),
    )));
    s.sent();
    s.feed(&w["hello"]);
    s.take();
    s.sent();
    s.feed(&w["open_nested"]);
    assert_eq!(s.take(), []);
    assert_eq!(s.sent(), w["error_too_deep"]);
}

#[test]
fn a_peer_without_streams_gets_no_stream_frames() {
    let w = wires();
    let mut s = Script::new(Box::new(Host::new(Instant::ZERO, Config::default())));
    s.sent();
    s.feed(&w["hello_timeout_only"]);
    let [Owned::Connected(peer)] = &s.take()[..] else {
        panic!()
    };
    assert_eq!(peer.stream_window, None);
    s.sent();
    assert_eq!(
        s.ep.open(
            Instant::ZERO,
            5,
            &[3],
            Open::stream(StreamMode::ServerStream)
        ),
        Err(wirecall::CallError::Unsupported)
    );
    assert_eq!(s.sent(), b"");
}

#[test]
fn a_lost_item_ends_the_stream_with_item_lost_never_a_gap() {
    let w = wires();
    let mut s = Script::new(Box::new(Mcu::new(Instant::ZERO, Config::default())));
    s.sent();
    s.feed(&w["hello_reply"]);
    for id in [0u8, 4] {
        s.ep.call(Instant::ZERO, 0, &[2, 4], None).unwrap();
        s.sent();
        s.feed(&raw::frame(&[0x03, id, 6]));
    }
    s.take();
    let count =
        s.ep.open(
            Instant::ZERO,
            5,
            &[3],
            Open::stream(StreamMode::ServerStream),
        )
        .unwrap();
    s.sent();
    s.feed(&raw::frame(&[0x29, 8, 0, 0]));
    // Item 1 is lost on the link; item 2 arrives out of sequence and is not delivered.
    s.feed(&raw::frame(&[0x29, 8, 2, 2]));
    assert_eq!(
        s.take(),
        [
            Owned::Item {
                stream: StreamId::Call(count),
                item: vec![0]
            },
            Owned::CallFailed {
                id: count,
                reason: CallFailure::ItemLost,
                detail: vec![]
            }
        ]
    );
    assert_eq!(s.sent(), w["cancel_item_lost"]);

    // A Reply whose End was lost (the last items may have gone with it) fails too.
    s.feed(&raw::frame(&[0x04, 8, 6]));
    let count =
        s.ep.open(
            Instant::ZERO,
            5,
            &[1],
            Open::stream(StreamMode::ServerStream),
        )
        .unwrap();
    s.sent();
    s.feed(&raw::frame(&[0x29, count.wire() as u8, 0, 0]));
    s.feed(&raw::frame(&[0x03, count.wire() as u8]));
    assert_eq!(
        s.take()[1],
        Owned::CallFailed {
            id: count,
            reason: CallFailure::ItemLost,
            detail: vec![]
        }
    );
    // So does an End that counts more items than arrived.
    let count =
        s.ep.open(
            Instant::ZERO,
            5,
            &[1],
            Open::stream(StreamMode::ServerStream),
        )
        .unwrap();
    s.sent();
    s.feed(&raw::frame(&[0x2b, count.wire() as u8, 1]));
    assert_eq!(
        s.take(),
        [Owned::CallFailed {
            id: count,
            reason: CallFailure::ItemLost,
            detail: vec![]
        }]
    );
}

#[test]
fn a_reply_that_cannot_go_out_leaves_the_stream_open_and_sends_no_end() {
    let (mut s, id) = serving_a_stream(12);
    // A result larger than the frame limit: refused, and no End goes out before it.
    assert_eq!(
        s.ep.respond(id, &[7u8; 300]),
        Err(wirecall::RespondError::TooLarge)
    );
    assert_eq!(s.sent(), b"");
    // The stream goes on: an item, then the end and a reply that fits.
    s.ep.send_item(StreamId::Request(id), &[1]).unwrap();
    assert_eq!(s.sent(), raw::frame(&[0x29, 12, 0, 1]));
    s.ep.respond(id, &[]).unwrap();
    assert_eq!(
        s.sent(),
        [raw::frame(&[0x2b, 12, 1]), raw::frame(&[0x03, 12])].concat()
    );
    assert_eq!(
        s.ep.send_item(StreamId::Request(id), &[2]),
        Err(wirecall::StreamError::NotOpen)
    );
}

#[test]
fn items_packed_in_one_frame_are_sent_and_checked_like_single_items() {
    let w = wires();
    let (mut s, id) = serving_a_stream(8);
    // The server sends one item, then three packed: the same bytes as the vector's.
    s.ep.send_item(StreamId::Request(id), &[0]).unwrap();
    let three: [&[u8]; 3] = [&[1], &[2], &[3]];
    assert_eq!(s.ep.send_items(StreamId::Request(id), &three), Ok(3));
    assert_eq!(
        s.sent(),
        [raw::frame(&[0x29, 8, 0, 0]), w["items_from_server"].clone()].concat()
    );
    // Credit bounds the packing: 8 - 4 = 4 left, so 4 of 6 go.
    let six: [&[u8]; 6] = [&[9]; 6];
    assert_eq!(s.ep.send_items(StreamId::Request(id), &six), Ok(4));
    assert_eq!(
        s.ep.send_items(StreamId::Request(id), &six),
        Err(wirecall::StreamError::NoCredit)
    );

    // As a caller: packed items beyond the window end the stream with FlowControl, and a
    // malformed pack (a length past the end) is a protocol error, not an item.
    let mut c = Script::new(Box::new(Mcu::new(Instant::ZERO, Config::default())));
    c.sent();
    c.feed(&w["hello_reply"]);
    let call =
        c.ep.open(
            Instant::ZERO,
            5,
            &[3],
            Open::stream(StreamMode::ServerStream),
        )
        .unwrap();
    c.sent();
    c.take();
    let before = c.ep.stats().protocol_errors;
    c.feed(&raw::frame(&[0x2c, 0, 0, 5, 1]));
    assert_eq!(c.take(), []);
    assert_eq!(c.ep.stats().protocol_errors, before + 1);
    let mut nine = vec![0x2c, 0, 0];
    for i in 0..9u8 {
        nine.extend([1, i]);
    }
    c.feed(&raw::frame(&nine));
    assert_eq!(
        c.take(),
        [Owned::CallFailed {
            id: call,
            reason: CallFailure::FlowControl,
            detail: vec![]
        }]
    );
}

#[test]
fn the_largest_item_still_goes_when_sent_with_others() {
    let (mut s, id) = serving_a_stream(8);
    let id = StreamId::Request(id);
    // 256-byte frames: 3 header bytes and a 4-byte CRC leave 249 for one item alone; packed
    // it would need a length byte or two more. It goes alone, as an Item frame.
    let big = [7u8; 249];
    assert_eq!(s.ep.send_items(id, &[&big, &[1]]), Ok(1));
    let mut frame = vec![0x29, 8, 0];
    frame.extend_from_slice(&big);
    assert_eq!(s.sent(), raw::frame(&frame));
    assert_eq!(s.ep.send_items(id, &[]), Ok(0));
    assert_eq!(s.ep.send_items(id, &[&[1]]), Ok(1));
    assert_eq!(s.sent(), raw::frame(&[0x29, 8, 1, 1]));
}
