//! The byte-exact vectors of docs/PROTOCOL.md (tests/vectors/wire.json), checked three
//! ways: the plain framing implementation reproduces every wire string; a core endpoint
//! walked through a session sends exactly these bytes and understands the peer's; and
//! every broken input is dropped with the right counter while the next frame still works.

use std::collections::HashMap;

use serde_json::Value;
use wirecall::{CallFailure, Config, Duration, Instant, Stats};
use wirecall_tests::engine::{Engine, Owned};
use wirecall_tests::raw;

use crate::common::{Host, Mcu};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

pub(crate) fn load() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/wire.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// name -> (body, wire)
pub(crate) fn frames(v: &Value) -> HashMap<String, (Vec<u8>, Vec<u8>)> {
    v["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                (
                    hex(f["body"].as_str().unwrap()),
                    hex(f["wire"].as_str().unwrap()),
                ),
            )
        })
        .collect()
}

/// Drives one endpoint against scripted peer bytes.
struct Script {
    ep: Box<dyn Engine>,
    now: Instant,
    events: Vec<Owned>,
}

impl Script {
    fn sent(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        while self.ep.poll_transmit(&mut b) == 1 {
            out.push(b[0]);
        }
        out
    }
    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let n = self.ep.handle_input(self.now, bytes);
            bytes = &bytes[n..];
            while let Some(e) = self.ep.poll_event() {
                self.events.push(e);
            }
        }
    }
}

#[test]
fn the_plain_implementation_reproduces_every_wire_string() {
    let v = load();
    for (name, (body, wire)) in frames(&v) {
        assert_eq!(raw::frame(&body), wire, "{name}");
        assert_eq!(raw::unframe(&wire), [Some(body)], "{name}");
    }
    let add = &v["add_exchange"];
    assert_eq!(add["total_bytes"], 22);
    let total = hex(add["request_wire"].as_str().unwrap()).len()
        + hex(add["reply_wire"].as_str().unwrap()).len();
    assert_eq!(total, 22);
}

#[test]
fn a_core_endpoint_speaks_the_vectors_byte_for_byte() {
    let v = load();
    let f = frames(&v);
    let wire = |n: &str| f[n].1.clone();
    let config = Config::default().with_schema(0x1234_5678);
    let mut s = Script {
        ep: Box::new(Mcu::new(Instant::ZERO, config)),
        now: Instant::ZERO,
        events: vec![],
    };

    assert_eq!(s.sent(), wire("hello"));
    s.feed(&wire("hello_reply"));
    let Owned::Connected(peer) = s.events.remove(0) else {
        panic!()
    };
    assert_eq!(
        (
            peer.max_frame,
            peer.max_inbound,
            peer.max_outbound,
            peer.schema
        ),
        (1024, 16, 16, 0)
    );
    assert_eq!(s.sent(), b"", "a Hello reply is not answered");

    let add = s.ep.call(s.now, 0, &[2, 4], None).unwrap();
    assert_eq!(s.sent(), wire("request_add"));
    s.feed(&wire("reply_add"));
    assert_eq!(
        s.events.remove(0),
        Owned::Reply {
            id: add,
            payload: vec![6]
        }
    );

    let timed =
        s.ep.call(s.now, 0, &[2, 4], Some(Duration::from_millis(1500)))
            .unwrap();
    assert_eq!(s.sent(), wire("request_add_timeout"));
    assert_eq!(
        (timed.wire(), timed.index()),
        (4, 0),
        "slot 0, its next epoch"
    );
    s.ep.cancel(timed).unwrap();
    assert_eq!(s.sent(), wire("cancel"));
    s.feed(&wire("error_cancelled"));
    assert!(
        s.events.is_empty(),
        "the final word on a cancelled call is no event"
    );
    assert_eq!(s.ep.slots_in_use(), (0, 0));

    // The peer stated the call-timeout feature, so a timeout equal to our advertised
    // default (5 s) costs no bytes: the request is `request_add` with the next id (8).
    let implicit =
        s.ep.call(s.now, 0, &[2, 4], Some(Duration::from_secs(5)))
            .unwrap();
    let mut same = f["request_add"].0.clone();
    same[1] = implicit.wire() as u8;
    assert_eq!((implicit.wire(), s.sent()), (8, raw::frame(&same)));
    s.ep.cancel(implicit).unwrap();
    s.sent();
    s.feed(&raw::frame(&[0x04, 8, 6]));

    s.feed(&wire("request_from_peer"));
    let Owned::Request {
        id,
        procedure: 0,
        args,
    } = s.events.remove(0)
    else {
        panic!()
    };
    assert_eq!((id.wire(), args), (300, vec![2, 4]));
    s.ep.respond_error(id, wirecall::WireError::BadArguments, "expected (i32, i32)")
        .unwrap();
    assert_eq!(s.sent(), wire("error_detail"));

    s.feed(&wire("ping"));
    assert_eq!(s.sent(), wire("pong"));
    s.now = s.now + Duration::from_secs(1);
    s.ep.handle_timeout(s.now);
    assert_eq!(s.sent(), wire("ping"));

    s.feed(&wire("unknown_ignorable"));
    s.feed(&wire("unknown_must_understand"));
    let st: Stats = s.ep.stats();
    assert_eq!((st.ignored_frames, st.protocol_errors), (1, 1));

    s.ep.close();
    assert_eq!(s.sent(), wire("close"));
    assert!(s.events.is_empty(), "{:?}", s.events);
}

#[test]
fn a_core_endpoint_understands_the_peer_side_vectors() {
    let v = load();
    let f = frames(&v);
    let wire = |n: &str| f[n].1.clone();
    // A host: frames of 1024 bytes take the 300-byte request.
    let mut s = Script {
        ep: Box::new(Host::new(Instant::ZERO, Config::default())),
        now: Instant::ZERO,
        events: vec![],
    };
    s.sent();
    s.feed(&wire("hello"));
    let Owned::Connected(peer) = s.events.remove(0) else {
        panic!()
    };
    assert_eq!(
        (peer.max_frame, peer.keepalive, peer.schema),
        (256, Duration::from_secs(1), 0x1234_5678)
    );
    let mut reply = wire("hello_reply");
    assert_eq!(
        s.sent(),
        std::mem::take(&mut reply),
        "a Hello is answered with this host's Hello reply"
    );

    s.feed(&wire("request_long"));
    let Owned::Request {
        procedure: 1, args, ..
    } = s.events.remove(0)
    else {
        panic!()
    };
    assert_eq!(args, f["request_long"].0[3..]);

    let call = s.ep.call(s.now, 0, &[2, 4], None).unwrap();
    s.sent();
    // error_busy names id 7; the same frame for this call's id must end it with Busy.
    assert_eq!(f["error_busy"].0, [0x04, 0x07, 0x01]);
    let mut busy_for_call = vec![0x04];
    busy_for_call.extend(raw::varint(call.wire()));
    busy_for_call.push(1);
    s.feed(&raw::frame(&busy_for_call));
    assert_eq!(
        s.events.remove(0),
        Owned::CallFailed {
            id: call,
            reason: CallFailure::Remote(wirecall::WireError::Busy),
            detail: vec![]
        }
    );

    s.feed(&wire("close_protocol_violation"));
    assert_eq!(
        s.events.remove(0),
        Owned::Disconnected(wirecall::Disconnect::PeerClosed(
            wirecall::WireError::ProtocolViolation
        ))
    );
}

#[test]
fn a_hello_without_the_call_timeout_feature_is_understood_and_respected() {
    let v = load();
    let f = frames(&v);
    let mut s = Script {
        ep: Box::new(Host::new(Instant::ZERO, Config::default())),
        now: Instant::ZERO,
        events: vec![],
    };
    s.sent();
    s.feed(&f["hello_plain"].1);
    let Owned::Connected(peer) = s.events.remove(0) else {
        panic!()
    };
    assert_eq!((peer.max_frame, peer.call_timeout), (256, None));
    s.sent();
    // Such a peer applies its own default to a request without timeout: this side sends
    // the timeout of a call made with one, even if it equals its own default.
    s.ep.call(s.now, 0, &[2, 4], Some(Duration::from_secs(5)))
        .unwrap();
    let sent = raw::unframe(&s.sent());
    assert_eq!(sent[0].as_ref().map(|b| b[0]), Some(0x22));
}

#[test]
fn broken_inputs_are_dropped_with_the_right_counter_and_the_next_frame_works() {
    let v = load();
    let f = frames(&v);
    for case in v["broken"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut s = Script {
            ep: Box::new(Mcu::new(Instant::ZERO, Config::default())),
            now: Instant::ZERO,
            events: vec![],
        };
        s.sent();
        s.feed(&f["hello_reply"].1);
        s.events.clear();
        let before = s.ep.stats();
        s.feed(&hex(case["wire"].as_str().unwrap()));
        let after = s.ep.stats();
        let counter = case["counter"].as_str().unwrap();
        let delta = |st: &Stats| match counter {
            "crc_errors" => st.crc_errors,
            "framing_errors" => st.framing_errors,
            "oversized_frames" => st.oversized_frames,
            "protocol_errors" => st.protocol_errors,
            other => panic!("unknown counter {other}"),
        };
        assert_eq!(delta(&after), delta(&before) + 1, "{name}");
        assert!(s.events.is_empty(), "{name}: {:?}", s.events);
        s.feed(&hex(case["then"].as_str().unwrap()));
        assert!(
            matches!(&s.events[..], [Owned::Request { id, procedure: 0, args }] if id.wire() == 9 && args == &[2, 4]),
            "{name}: {:?}",
            s.events
        );
    }
}

/// docs/PROTOCOL.md quotes the demo service's manifest (24 bytes a line, in hex) and its
/// hash: they must be the ones the macro builds, so a second implementation can check its
/// manifest reader and hash against them.
#[test]
fn the_spec_quotes_the_demo_manifest_and_hash_as_built() {
    use wirecall_tests::demo::demo;
    let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md"))
        .unwrap();
    for line in demo::MANIFEST.chunks(24) {
        let line: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
        let line = line.join(" ");
        assert!(
            spec.contains(&line),
            "the spec lacks the manifest line {line}"
        );
    }
    let hash = format!("0x{:08X}", demo::SCHEMA_HASH);
    assert!(spec.contains(&hash), "the spec lacks {hash}");
}

/// The 91-byte manifest the manifest vectors carry (the demo service's before it had
/// handles: format 1, six procedures; docs/PROTOCOL.md section 10.1 quotes it), put
/// together from the two pieces.
fn vector_manifest(f: &HashMap<String, (Vec<u8>, Vec<u8>)>) -> &'static [u8] {
    let first = &f["manifest_piece_first"].0[3..];
    let rest = &f["manifest_piece_rest"].0[3..];
    Box::leak([first, rest].concat().into_boxed_slice())
}

/// Schema discovery byte for byte: a device with the vectors' manifest and 64-byte frames
/// advertises it, answers each Manifest request with the piece the vectors hold; and a host
/// asks with the request bytes and takes the pieces as events.
#[test]
fn manifest_requests_and_pieces_match_the_vectors() {
    let v = load();
    let f = frames(&v);
    let wire = |n: &str| f[n].1.clone();
    let manifest = vector_manifest(&f);
    assert_eq!((manifest.len(), manifest[0]), (91, 1));
    assert_eq!(wirecall::manifest_hash(manifest), 0x61D4_97C5);
    let config = Config::default().with_manifest(manifest).with_max_frame(64);
    let mut device = Script {
        ep: Box::new(Mcu::new(Instant::ZERO, config)),
        now: Instant::ZERO,
        events: vec![],
    };
    assert_eq!(device.sent(), wire("hello_manifest"));
    device.feed(&wire("hello_reply"));
    device.feed(&wire("manifest_request"));
    assert_eq!(device.sent(), wire("manifest_piece_first"));
    device.feed(&wire("manifest_request_rest"));
    assert_eq!(device.sent(), wire("manifest_piece_rest"));
    device.feed(&raw::frame(&[0x0e, 0xc8, 0x01]));
    assert_eq!(device.sent(), wire("manifest_piece_past_end"));

    let mut host = Script {
        ep: Box::new(Mcu::new(Instant::ZERO, Config::default())),
        now: Instant::ZERO,
        events: vec![],
    };
    host.sent();
    host.feed(&wire("hello_manifest"));
    let Owned::Connected(peer) = host.events.remove(0) else {
        panic!()
    };
    assert!(peer.manifest);
    assert_eq!(peer.schema, 0x61D4_97C5);
    host.sent(); // its Hello reply
    host.ep.request_manifest(0).unwrap();
    assert_eq!(host.sent(), wire("manifest_request"));
    host.feed(&wire("manifest_piece_first"));
    host.ep.request_manifest(57).unwrap();
    assert_eq!(host.sent(), wire("manifest_request_rest"));
    host.feed(&wire("manifest_piece_rest"));
    let mut got = Vec::new();
    for e in host.events.drain(..) {
        let Owned::ManifestPiece {
            total: 91,
            offset,
            bytes,
        } = e
        else {
            panic!("{e:?}")
        };
        assert_eq!(offset as usize, got.len());
        got.extend(bytes);
    }
    assert_eq!(got, manifest);
}

/// Everything `ep` has to send, in one-byte steps.
fn sent<E: Engine>(ep: &mut E) -> Vec<u8> {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while ep.poll_transmit(&mut b) == 1 {
        out.push(b[0]);
    }
    out
}

/// Feeds `bytes` to `ep`, draining its events as they come; returns them.
fn feed<E: Engine>(ep: &mut E, mut bytes: &[u8]) -> Vec<Owned> {
    let mut events = Vec::new();
    while !bytes.is_empty() {
        let n = ep.handle_input(Instant::ZERO, bytes);
        bytes = &bytes[n..];
        while let Some(e) = Engine::poll_event(ep) {
            events.push(e);
        }
    }
    events
}

/// Remote handles byte for byte (docs/PROTOCOL.md, "Remote handles", the worked example):
/// a host opens a channel of the demo device, pipelines a read on the promise of that
/// call, configures it with a timeout, releases it, finds it stale, opens another in the
/// same slot at the next generation, which the device revokes; every frame either side
/// sends is the vector's, and each side understands the other's.
#[test]
fn remote_handle_frames_match_the_vectors() {
    use wirecall::{Handle, Procedure, Resolved, Target, WireError};
    use wirecall_tests::demo::demo;
    let v = load();
    let f = frames(&v);
    let wire = |n: &str| f[n].1.clone();
    let both = |a: &str, b: &str| [wire(a), wire(b)].concat();
    let channel = demo::Channel::INTERFACE;
    let mut device = Mcu::new(
        Instant::ZERO,
        Config::default().with_schema(0x1234_5678).with_handles(),
    );
    let mut host = Host::new(Instant::ZERO, Config::default().with_handles());

    // The handshake: both Hellos carry feature bit 3 and the export table's size.
    assert_eq!(sent(&mut device), wire("hello_handles"));
    sent(&mut host);
    let [Owned::Connected(peer)] = &feed(&mut host, &wire("hello_handles"))[..] else {
        panic!()
    };
    assert_eq!(peer.handles, Some(4));
    assert_eq!(sent(&mut host), wire("hello_handles_reply"));
    let [Owned::Connected(peer)] = &feed(&mut device, &wire("hello_handles_reply"))[..] else {
        panic!()
    };
    assert_eq!((peer.handles, peer.max_frame), (Some(4), 1024));

    // open("temp"), and at once a read on what that call returns.
    let name: heapless::String<16> = "temp".try_into().unwrap();
    let open = host
        .call(
            Instant::ZERO,
            demo::OpenChannel::ID,
            &crate::common::enc(&name)[..],
        )
        .unwrap();
    assert_eq!(sent(&mut host), wire("request_open"));
    let read = host
        .invoke(
            Instant::ZERO,
            Target::Promise(open.wire()),
            demo::Channel::Read::ID,
            &[][..],
        )
        .unwrap();
    assert_eq!(read.wire(), 1);
    assert_eq!(sent(&mut host), wire("invoke_promise"));

    // The device gets both before answering either: the read waits for the open.
    let events = feed(&mut device, &both("request_open", "invoke_promise"));
    let [Owned::Request {
        id: opened,
        procedure: 6,
        ..
    }, Owned::Invoke {
        id: reading,
        on,
        method: 0,
        ..
    }] = events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!(on, Resolved::Pending(0));
    let h = device.respond_export(opened, channel).unwrap();
    assert_eq!(h, Handle::new(0, 1));
    assert_eq!(
        device.resolve_promise(0),
        Ok(Resolved::Object {
            handle: h,
            interface: channel
        })
    );
    device
        .respond(reading, &crate::common::enc(&1i32)[..])
        .unwrap();
    assert_eq!(sent(&mut device), both("reply_handle", "reply_read"));
    let events = feed(&mut host, &both("reply_handle", "reply_read"));
    let [Owned::Reply {
        id: a,
        payload: ref handle,
    }, Owned::Reply {
        id: b,
        payload: ref value,
    }] = events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!((a, b), (open, read));
    assert_eq!(postcard::from_bytes::<Handle>(handle).unwrap(), h);
    assert_eq!(demo::Channel::Read::output(value).ok(), Some(1));

    // configure(10) on the handle, with a timeout.
    let configure = host
        .invoke_with_timeout(
            Instant::ZERO,
            Target::Handle(h),
            demo::Channel::Configure::ID,
            &crate::common::enc(&10i32)[..],
            Duration::from_millis(1500),
        )
        .unwrap();
    assert_eq!(configure.wire(), 16);
    assert_eq!(sent(&mut host), wire("invoke_timeout"));
    let events = feed(&mut device, &wire("invoke_timeout"));
    let [Owned::Invoke {
        id,
        on,
        method: 1,
        ref args,
    }] = events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!(
        (on, &args[..]),
        (
            Resolved::Object {
                handle: h,
                interface: channel
            },
            &[0x14][..]
        )
    );
    device.respond(id, &crate::common::enc(&1i32)[..]).unwrap();
    assert_eq!(sent(&mut device), wire("reply_configure"));
    assert!(
        matches!(&feed(&mut host, &wire("reply_configure"))[..], [Owned::Reply { id, .. }] if *id == configure)
    );

    // Released: the device hears of it; a call on it afterwards is stale.
    host.release(h).unwrap();
    assert_eq!(sent(&mut host), wire("release"));
    assert_eq!(
        feed(&mut device, &wire("release")),
        [Owned::Released {
            handle: h,
            interface: channel
        }]
    );
    let stale = host
        .invoke(
            Instant::ZERO,
            Target::Handle(h),
            demo::Channel::Read::ID,
            &[][..],
        )
        .unwrap();
    assert_eq!(sent(&mut host), wire("invoke"));
    assert!(feed(&mut device, &wire("invoke")).is_empty());
    assert_eq!(sent(&mut device), wire("error_stale_handle"));
    assert_eq!(
        feed(&mut host, &wire("error_stale_handle")),
        [Owned::CallFailed {
            id: stale,
            reason: CallFailure::Remote(WireError::StaleHandle),
            detail: vec![]
        }]
    );

    // A new object takes slot 0 at generation 2; the device revokes it with a reason.
    let name: heapless::String<16> = "log".try_into().unwrap();
    let open = host
        .call(
            Instant::ZERO,
            demo::OpenChannel::ID,
            &crate::common::enc(&name)[..],
        )
        .unwrap();
    assert_eq!(sent(&mut host), wire("request_open_log"));
    let [Owned::Request { id, .. }] = feed(&mut device, &wire("request_open_log"))[..] else {
        panic!()
    };
    let g = device.respond_export(id, channel).unwrap();
    assert_eq!(g, Handle::new(0, 2));
    assert_eq!(sent(&mut device), wire("reply_handle_reused"));
    device.revoke(g, WireError::Revoked, "unplugged").unwrap();
    assert_eq!(sent(&mut device), wire("revoke"));
    let events = feed(&mut host, &both("reply_handle_reused", "revoke"));
    assert!(matches!(&events[0], Owned::Reply { id, .. } if *id == open));
    assert_eq!(
        events[1],
        Owned::Revoked {
            handle: g,
            code: WireError::Revoked,
            reason: b"unplugged".to_vec()
        }
    );

    // A constructor when the table is full (the host's fourth open of four slots...):
    // answered TooManyHandles. Here the device's application answers a raw request id 1.
    let [Owned::Request { id, .. }] =
        feed(&mut device, &raw::frame(&[0x02, 0x01, 0x06, 0x01, b'x']))[..]
    else {
        panic!()
    };
    device
        .respond_error(id, WireError::TooManyHandles, "")
        .unwrap();
    assert_eq!(sent(&mut device), wire("error_too_many_handles"));
}
