//! Hostile peers and the frames of remote handles (kinds 13 and 16, feature bit 3), played
//! with hand-built bytes against one device endpoint, as in `hostile_frames.rs`: frames to a
//! side that does not speak handles, malformed Release, Revoke and Invoke frames, floods of
//! stale releases, method calls on random slots and generations, promises of calls that
//! exported nothing, a full export table, a Revoke outside a session, a peer whose session
//! ended without ours, and answers nobody waits for. Each test asserts the exact frames,
//! events and counters docs/PROTOCOL.md ("Remote handles") prescribes.

use wirecall::{Config, Disconnect, Handle, Instant, RequestEnd, Resolved, Target, WireError};
use wirecall_tests::engine::Owned;
use wirecall_tests::raw;

use crate::common::{device_config, Mcu};
use crate::hostile_frames::malformed_up_to_the_reset;
use crate::victim::Victim;

/// An initial Hello body of a peer that speaks streams (window 8) and handles, with
/// `max_handles` export slots: features 0x0a, so `stream_window` then `max_handles`.
fn hello_with_handles(max_handles: u32) -> Vec<u8> {
    let mut b = vec![0x01, 1, 1];
    for v in [0x0a, 1024, 16, 16, 1000] {
        b.extend(raw::varint(v));
    }
    b.extend(0u32.to_le_bytes());
    b.extend(raw::varint(8));
    b.extend(raw::varint(max_handles));
    b
}

/// The same Hello as a reply (FLAG set).
fn hello_reply_with_handles(max_handles: u32) -> Vec<u8> {
    let mut b = hello_with_handles(max_handles);
    b[0] = 0x21;
    b
}

/// A device that speaks handles (four export slots), in a session with a raw peer that
/// does too.
fn exporter() -> Victim {
    let mut v = Victim::with(Mcu::new(Instant::ZERO, device_config().with_handles()));
    v.handshake(&hello_with_handles(4));
    assert_eq!(v.ep.peer().unwrap().handles, Some(4));
    v
}

fn with_id(header: u8, id: u32, rest: &[u8]) -> Vec<u8> {
    let mut b = vec![header];
    b.extend(raw::varint(id));
    b.extend_from_slice(rest);
    b
}

/// An Invoke body: id, method, slot, generation, [timeout], args.
fn invoke(id: u32, method: u32, slot: u32, generation: u32, args: &[u8]) -> Vec<u8> {
    let mut b = with_id(0x10, id, &raw::varint(method));
    b.extend(raw::varint(slot));
    b.extend(raw::varint(generation));
    b.extend_from_slice(args);
    b
}

fn release(slot: u32, generation: u32) -> Vec<u8> {
    let mut b = vec![0x0d];
    b.extend(raw::varint(slot));
    b.extend(raw::varint(generation));
    b
}

fn revoke(slot: u32, generation: u32, code: WireError, reason: &[u8]) -> Vec<u8> {
    let mut b = vec![0x2d];
    b.extend(raw::varint(slot));
    b.extend(raw::varint(generation));
    b.push(code as u8);
    b.extend_from_slice(reason);
    b
}

/// `Error(id, code)`, as the endpoint sends it.
fn error(id: u32, code: WireError) -> Vec<u8> {
    with_id(0x04, id, &[code as u8])
}

/// The peer calls a constructor with request `id`; the device exports an object for it.
/// Returns its handle, after checking the Reply's bytes: `03 id slot generation`.
fn export(v: &mut Victim, id: u32) -> Handle {
    v.feed(&raw::frame(&with_id(0x02, id, &[6])));
    let [Owned::Request { id: request, .. }] = std::mem::take(&mut v.events)[..] else {
        panic!("the request was not admitted")
    };
    let h = v.ep.respond_export(request, 3).unwrap();
    let mut reply = with_id(0x03, id, &raw::varint(h.slot() as u32));
    reply.extend(raw::varint(h.generation()));
    assert_eq!(v.frames(), [reply]);
    h
}

#[test]
fn a_side_without_handles_answers_invokes_stale_and_counts_releases_and_revokes_as_stray() {
    // The peer breaks the rule (kinds 13 and 16 only to a peer that set bit 3) against a
    // device that does not speak handles. Every Invoke still gets an answer (its caller
    // waits for one); Release and Revoke do no work and spend the stray budget.
    let mut v = Victim::fresh();
    v.handshake(&hello_with_handles(4));
    assert_eq!(v.ep.peer().unwrap().handles, Some(4));
    v.feed(&raw::frame(&invoke(3, 0, 0, 1, &[])));
    assert_eq!(v.frames(), [error(3, WireError::StaleHandle)]);
    v.feed(&raw::frame(&invoke(4, 0, 7, 0, &[]))); // a promise
    assert_eq!(v.frames(), [error(4, WireError::StaleHandle)]);
    assert!(v.events.is_empty(), "{:?}", v.events);
    assert_eq!(v.ep.stats().stale_handles, 2);
    // 64 stray frames within a second are tolerated (stray budget), the 65th resets.
    for i in 0..32 {
        v.feed(&raw::frame(&release(i, 1)));
        v.feed(&raw::frame(&revoke(i, 1, WireError::Revoked, b"no")));
    }
    assert!(v.events.is_empty(), "{:?}", v.events);
    assert!(
        v.frames().is_empty(),
        "nothing answers a Release or a Revoke"
    );
    assert_eq!(v.ep.stats().stale_handles, 2 + 32);
    assert_eq!(v.ep.stats().protocol_errors, 0);
    v.feed(&raw::frame(&release(99, 1)));
    assert_eq!(
        v.events,
        [Owned::Disconnected(Disconnect::ProtocolViolation)]
    );
    assert_eq!(v.frames()[0], [0x07, WireError::ProtocolViolation as u8]);
}

#[test]
fn to_a_peer_without_feature_bit_3_a_side_with_handles_sends_no_handle() {
    // The device speaks handles, the peer does not (a version 1 peer without bit 3).
    let mut v = Victim::with(Mcu::new(Instant::ZERO, device_config().with_handles()));
    v.handshake(&raw::hello(false, 1, 1, 1024, 16, 16, 1000, 0));
    assert_eq!(v.ep.peer().unwrap().handles, None);
    // Its Hello carried the bit and its table size: features 0x0b, the last field 4.
    // A constructor it calls cannot be answered with a handle: the peer could neither
    // call the object nor release it (the export would stay until the session ends).
    v.feed(&raw::frame(&with_id(0x02, 5, &[6])));
    let [Owned::Request { id, .. }] = std::mem::take(&mut v.events)[..] else {
        panic!()
    };
    assert_eq!(
        v.ep.respond_export(id, 3),
        Err(wirecall::HandleError::Unsupported)
    );
    assert_eq!(v.ep.exports_live(), 0);
    assert!(v.frames().is_empty(), "no handle left");
    v.ep.respond_error(id, WireError::UnknownProcedure, "")
        .unwrap();
    assert_eq!(v.frames(), [error(5, WireError::UnknownProcedure)]);
    // Nor does it call methods on, or release, handles of such a peer.
    let h = Handle::new(0, 1);
    assert_eq!(
        v.ep.invoke(v.now, Target::Handle(h), 0, &[][..]),
        Err(wirecall::CallError::Unsupported)
    );
    assert_eq!(v.ep.release(h), Err(wirecall::HandleError::Unsupported));
    assert!(v.frames().is_empty());
}

#[test]
fn the_hello_of_a_side_with_handles_ends_with_its_table_size() {
    let mut ep = Mcu::new(Instant::ZERO, Config::default().with_handles());
    let mut v = Victim::with(Mcu::new(Instant::ZERO, Config::default()));
    v.frames();
    let mut buf = [0u8; 64];
    let n = ep.poll_transmit(&mut buf);
    let hello = raw::unframe(&buf[..n]).remove(0).unwrap();
    // features 0x0b: call timeout, streams, handles; then ... 5000 ms, window 8, 4 slots.
    assert_eq!(hello[3], 0x0b);
    assert_eq!(hello[hello.len() - 4..], [0x88, 0x27, 8, 4]);
    // A peer without handles takes it (the field is one it knows by the bit) and never
    // sends kinds 13 or 16 to a side that did not set the bit.
    v.handshake(&hello);
    assert_eq!(v.ep.peer().unwrap().handles, Some(4));
    // With max_handles 0 the side holds handles but exports none.
    let mut ep = Mcu::new(Instant::ZERO, Config::default().with_max_handles(0));
    let n = ep.poll_transmit(&mut buf);
    let hello = raw::unframe(&buf[..n]).remove(0).unwrap();
    assert_eq!(hello[hello.len() - 1], 0);
}

#[test]
fn malformed_release_revoke_and_invoke_frames_are_protocol_errors_never_answered() {
    for (what, body) in [
        ("Release without anything", vec![0x0d]),
        ("Release without generation", vec![0x0d, 1]),
        ("Revoke without generation", vec![0x2d, 1]),
        ("Revoke without code", vec![0x2d, 1, 1]),
        ("Invoke without method", vec![0x10, 1]),
        ("Invoke without slot", vec![0x10, 1, 0]),
        ("Invoke without generation", vec![0x10, 1, 0, 0]),
        ("Invoke flagged without timeout", vec![0x30, 1, 0, 0, 1]),
        (
            "Release, slot overflowing",
            [&[0x0d][..], &[0xff; 5], &[1]].concat(),
        ),
        (
            "Release, generation 6 bytes",
            [&[0x0d, 1][..], &[0x80; 5], &[0]].concat(),
        ),
        (
            "Revoke, slot overflowing",
            [&[0x2d][..], &[0xff, 0xff, 0xff, 0xff, 0x1f], &[1, 19]].concat(),
        ),
        (
            "Invoke, id overflowing",
            [&[0x10][..], &[0xff, 0xff, 0xff, 0xff, 0x1f], &[0, 0, 1]].concat(),
        ),
        (
            "Invoke, generation overflowing",
            [&[0x10, 1, 0, 0][..], &[0xff, 0xff, 0xff, 0xff, 0x1f]].concat(),
        ),
        (
            "Invoke, timeout overflowing",
            [&[0x30, 1, 0, 0, 1][..], &[0x80, 0x80, 0x80, 0x80, 0x80, 0]].concat(),
        ),
    ] {
        let mut v = exporter();
        malformed_up_to_the_reset(&mut v, &body, what);
        assert_eq!(v.ep.stats().stale_handles, 0, "{what}: read as a handle");
    }
}

#[test]
fn trailing_bytes_after_a_release_are_ignored() {
    // Section 3.3: a Release's rest is ignored (room for later fields); a Revoke's and an
    // Invoke's are its reason and arguments.
    let mut v = exporter();
    let h = export(&mut v, 1);
    v.feed(&raw::frame(
        &[&release(0, h.generation())[..], &[0xff, 0x80]].concat(),
    ));
    assert_eq!(
        v.events,
        [Owned::Released {
            handle: h,
            interface: 3
        }]
    );
    assert_eq!(
        (v.ep.stats().handles_released, v.ep.stats().protocol_errors),
        (1, 0)
    );
    assert!(v.frames().is_empty());
}

#[test]
fn a_flood_of_stale_releases_meets_the_stray_budget_and_the_reset_frees_every_object() {
    let mut v = exporter();
    let h = export(&mut v, 1);
    let g = export(&mut v, 2);
    // Releases of handles that were never issued, of a generation that has passed, and
    // of the live ones' slots at the wrong generation: 64 in a second do no harm.
    for i in 0..64u32 {
        let (slot, generation) = match i % 3 {
            0 => (10 + i, 1),
            1 => (0, h.generation() + 1 + i),
            _ => (1, 0xffff_ff00 + i),
        };
        v.feed(&raw::frame(&release(slot, generation)));
    }
    assert!(v.events.is_empty(), "{:?}", v.events);
    assert!(v.frames().is_empty());
    let s = *v.ep.stats();
    assert_eq!(
        (s.stale_handles, s.handles_released, s.protocol_errors),
        (64, 0, 0)
    );
    assert_eq!(v.ep.exports_live(), 2, "no live object was touched");
    // The 65th is over the budget: the link is reset, and both objects are freed.
    v.feed(&raw::frame(&release(7, 7)));
    assert_eq!(
        v.events,
        [
            Owned::Disconnected(Disconnect::ProtocolViolation),
            Owned::Released {
                handle: h,
                interface: 3
            },
            Owned::Released {
                handle: g,
                interface: 3
            }
        ]
    );
    let sent = v.frames();
    assert_eq!(sent[0], [0x07, WireError::ProtocolViolation as u8]);
    assert_eq!(sent[1][0], 0x01);
    assert_eq!(v.ep.exports_live(), 0);
    // A second later the budget is fresh: stale releases are counted again, no reset.
    v.handshake(&hello_with_handles(4));
    v.advance(1000);
    for i in 0..10 {
        v.feed(&raw::frame(&release(0, h.generation() + i)));
    }
    assert!(v.events.is_empty() && v.ep.is_connected());
}

#[test]
fn invokes_on_random_slots_and_generations_are_each_answered_stale_handle() {
    let mut v = exporter();
    let h = export(&mut v, 1);
    let mut rng = fastrand::Rng::with_seed(14);
    let mut expected = 0;
    // 500 method calls within one second: each gets its own answer, and none costs a
    // budget (a holder races revokes legitimately; backpressure bounds a flood).
    for i in 0..500u32 {
        let slot = match rng.u8(..3) {
            0 => rng.u32(..4),
            1 => rng.u32(..300),
            _ => rng.u32(..),
        };
        let generation = rng.u32(1..);
        if (slot, generation) == (0, h.generation()) {
            continue;
        }
        let id = rng.u32(..100_000);
        let timeout = rng.bool();
        let mut body = invoke(id, rng.u32(..4), slot, generation, &[i as u8]);
        if timeout {
            // The same with a timeout (FLAG): it follows the generation.
            body = invoke(id, 0, slot, generation, &[]);
            body[0] = 0x30;
            body.extend(raw::varint(500));
        }
        v.feed(&raw::frame(&body));
        assert!(v.events.is_empty(), "{:?}", v.events);
        assert_eq!(
            v.frames(),
            [error(id, WireError::StaleHandle)],
            "{slot} {generation}"
        );
        expected += 1;
    }
    let s = *v.ep.stats();
    assert_eq!(
        (s.stale_handles, s.protocol_errors, s.requests_received),
        (expected, 0, 1)
    );
    assert!(v.ep.is_connected());
    // The live object still answers.
    v.feed(&raw::frame(&invoke(9, 2, 0, h.generation(), &[7])));
    let [Owned::Invoke {
        on,
        method,
        ref args,
        ..
    }] = v.events[..]
    else {
        panic!("{:?}", v.events)
    };
    assert_eq!(
        (on, method, &args[..]),
        (
            Resolved::Object {
                handle: h,
                interface: 3
            },
            2,
            &[7][..]
        )
    );
}

#[test]
fn promises_of_calls_that_exported_nothing_are_stale() {
    let mut v = exporter();
    // A promise on an id the peer never used.
    v.feed(&raw::frame(&invoke(1, 0, 77, 0, &[])));
    assert_eq!(v.frames(), [error(1, WireError::StaleHandle)]);
    // A promise on a request still being served waits for it (Pending), then follows
    // its answer: a plain reply exports nothing, so the promise is stale.
    v.feed(&raw::frame(&with_id(0x02, 2, &[0])));
    let [Owned::Request { id: plain, .. }] = std::mem::take(&mut v.events)[..] else {
        panic!()
    };
    v.feed(&raw::frame(&invoke(3, 0, 2, 0, &[])));
    let [Owned::Invoke {
        id: waiting, on, ..
    }] = std::mem::take(&mut v.events)[..]
    else {
        panic!()
    };
    assert_eq!(on, Resolved::Pending(2));
    assert_eq!(v.ep.resolve_promise(2), Ok(Resolved::Pending(2)));
    v.ep.respond(plain, &[1][..]).unwrap();
    assert_eq!(v.ep.resolve_promise(2), Err(wirecall::HandleError::Stale));
    v.ep.respond_error(waiting, WireError::StaleHandle, "")
        .unwrap();
    v.frames();
    // Once answered, a promise on it is answered stale by the core itself.
    v.feed(&raw::frame(&invoke(4, 0, 2, 0, &[])));
    assert_eq!(v.frames(), [error(4, WireError::StaleHandle)]);
    // A constructor that failed (answered with an error) exported nothing either.
    v.feed(&raw::frame(&with_id(0x02, 5, &[6])));
    let [Owned::Request { id: failed, .. }] = std::mem::take(&mut v.events)[..] else {
        panic!()
    };
    v.ep.respond_error(failed, WireError::Internal, "").unwrap();
    v.frames();
    v.feed(&raw::frame(&invoke(6, 0, 5, 0, &[])));
    assert_eq!(v.frames(), [error(6, WireError::StaleHandle)]);
    // An Invoke that names itself as its promise (id 7 on "what call 7 returns") is
    // stale: a call cannot be made on its own answer.
    v.feed(&raw::frame(&invoke(7, 0, 7, 0, &[])));
    assert_eq!(v.frames(), [error(7, WireError::StaleHandle)]);
    assert_eq!(v.ep.stats().stale_handles, 4);
}

#[test]
fn a_refused_call_reusing_an_id_ends_the_promise_of_the_older_call_with_that_id() {
    // Call 5 exported an object, which the peer holds. Then the peer reuses id 5 for a call
    // that is refused without being served (a method call on a stale handle, answered by
    // the core). "What call 5 returns" is now that call's answer, which has no handle: a
    // promise on 5 is stale, and a Cancel of 5 (crossing that answer) must not free the
    // older object, which the peer still holds.
    let mut v = exporter();
    let h = export(&mut v, 5);
    assert_eq!(
        v.ep.resolve_promise(5),
        Ok(Resolved::Object {
            handle: h,
            interface: 3
        })
    );
    v.feed(&raw::frame(&invoke(5, 0, 3, 9, &[])));
    assert_eq!(v.frames(), [error(5, WireError::StaleHandle)]);
    v.feed(&raw::frame(&invoke(6, 0, 5, 0, &[])));
    assert_eq!(
        v.frames(),
        [error(6, WireError::StaleHandle)],
        "the promise on 5 reached the object of an older call 5"
    );
    v.feed(&raw::frame(&with_id(0x05, 5, &[])));
    assert!(v.events.is_empty(), "{:?}", v.events);
    assert_eq!(v.frames(), [error(5, WireError::Cancelled)]);
    assert_eq!(
        v.ep.export_interface(h),
        Some(3),
        "the object the peer holds was freed"
    );
    // The same with a call refused Busy: every inbound slot taken by held requests.
    let mut v = exporter();
    let h = export(&mut v, 5);
    for id in 10..14 {
        v.feed(&raw::frame(&with_id(0x02, id, &[0])));
    }
    v.events.clear();
    v.feed(&raw::frame(&with_id(0x02, 5, &[0])));
    assert_eq!(v.frames(), [error(5, WireError::Busy)]);
    v.feed(&raw::frame(&with_id(0x05, 5, &[])));
    assert_eq!(v.frames(), [error(5, WireError::Cancelled)]);
    assert!(v.events.is_empty(), "{:?}", v.events);
    assert_eq!(v.ep.export_interface(h), Some(3));
}

#[test]
fn a_full_table_is_answered_too_many_handles_and_a_release_makes_room_at_a_new_generation() {
    let mut v = exporter();
    let handles: Vec<Handle> = (1..=4).map(|id| export(&mut v, id)).collect();
    assert_eq!(
        handles,
        (0..4).map(|s| Handle::new(s, 1)).collect::<Vec<_>>()
    );
    // The fifth constructor: its event announces no handle, and the table is full.
    v.feed(&raw::frame(&with_id(0x02, 5, &[6])));
    let [Owned::Request { id, .. }] = std::mem::take(&mut v.events)[..] else {
        panic!()
    };
    assert_eq!(v.ep.next_export(), None);
    assert_eq!(
        v.ep.respond_export(id, 3),
        Err(wirecall::HandleError::TableFull)
    );
    v.ep.respond_error(id, WireError::TooManyHandles, "")
        .unwrap();
    assert_eq!(v.frames(), [error(5, WireError::TooManyHandles)]);
    // The peer releases slot 2: reported, then the slot is taken again at generation 2.
    v.feed(&raw::frame(&release(2, 1)));
    assert_eq!(
        v.events,
        [Owned::Released {
            handle: handles[2],
            interface: 3
        }]
    );
    v.events.clear();
    assert_eq!(v.ep.next_export(), Some(Handle::new(2, 2)));
    assert_eq!(export(&mut v, 6), Handle::new(2, 2));
    // The old handle of slot 2 is stale for good: refused, never taken for the new object.
    v.feed(&raw::frame(&invoke(7, 0, 2, 1, &[])));
    assert_eq!(v.frames(), [error(7, WireError::StaleHandle)]);
    v.feed(&raw::frame(&release(2, 1)));
    assert!(v.events.is_empty());
    assert_eq!(v.ep.export_interface(Handle::new(2, 2)), Some(3));
}

#[test]
fn a_revoke_outside_a_session_is_ignored_and_spends_no_budget() {
    // A Revoke (or Release) of an ended session arriving while this side is handshaking
    // names nothing: no event, no answer, and none of the stray budget (which counts
    // frames in a session); so 200 of them do not reset anything.
    let mut v = Victim::with(Mcu::new(Instant::ZERO, device_config().with_handles()));
    v.frames();
    for i in 0..100 {
        v.feed(&raw::frame(&revoke(i, 1, WireError::Revoked, b"old")));
        v.feed(&raw::frame(&release(i, 1)));
    }
    assert!(v.events.is_empty(), "{:?}", v.events);
    assert!(v.frames().is_empty(), "a handshaking side answers neither");
    assert_eq!(v.ep.stats().protocol_errors, 0);
    // An Invoke is a request: answered NoSession.
    v.feed(&raw::frame(&invoke(3, 0, 0, 1, &[])));
    assert_eq!(v.frames(), [error(3, WireError::NoSession)]);
    // The session starts normally, and a Revoke in it is an event.
    v.handshake(&hello_with_handles(4));
    v.feed(&raw::frame(&revoke(0, 1, WireError::Revoked, b"unplugged")));
    assert_eq!(
        v.events,
        [Owned::Revoked {
            handle: Handle::new(0, 1),
            code: WireError::Revoked,
            reason: b"unplugged".to_vec()
        }]
    );
}

#[test]
fn a_revoke_frees_at_once_and_a_release_crossing_it_is_stale() {
    let mut v = exporter();
    let h = export(&mut v, 1);
    let reason = "déjà fermé: ".repeat(40); // longer than the frame: cut at a character
    v.ep.revoke(h, WireError::Revoked, &reason).unwrap();
    let sent = v.frames();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0][..4], [0x2d, 0, 1, WireError::Revoked as u8]);
    assert!(sent[0].len() + 4 <= 256, "{}", sent[0].len());
    let text = std::str::from_utf8(&sent[0][4..]).expect("cut at a character boundary");
    assert!(reason.starts_with(text) && !text.is_empty());
    assert!(
        v.events.is_empty(),
        "no Released: the application revoked it"
    );
    assert_eq!(v.ep.exports_live(), 0);
    assert_eq!(
        v.ep.revoke(h, WireError::Revoked, ""),
        Err(wirecall::HandleError::Stale)
    );
    // The holder's Release and a method call, sent before the Revoke reached it.
    v.feed(&raw::frame(&release(0, 1)));
    v.feed(&raw::frame(&invoke(2, 0, 0, 1, &[])));
    assert!(v.events.is_empty());
    assert_eq!(v.frames(), [error(2, WireError::StaleHandle)]);
    assert_eq!(v.ep.stats().stale_handles, 2);
    // The slot is free again at once, at the next generation.
    assert_eq!(export(&mut v, 3), Handle::new(0, 2));
}

#[test]
fn a_hello_reply_while_established_ends_what_this_side_serves_for_the_peer() {
    // The peer answered a retried initial Hello of ours while it was established: it ended
    // its session, forgetting the requests it made and the handles it held. This side
    // ends its requests and frees its exports (reported), and its own calls go on.
    let mut v = exporter();
    let h = export(&mut v, 1);
    v.feed(&raw::frame(&with_id(0x02, 2, &[0])));
    let [Owned::Request { id: served, .. }] = std::mem::take(&mut v.events)[..] else {
        panic!()
    };
    let call = v.ep.call(v.now, 0, &[2, 4][..]).unwrap();
    v.frames();
    v.feed(&raw::frame(&hello_reply_with_handles(4)));
    assert_eq!(
        v.events,
        [
            Owned::Released {
                handle: h,
                interface: 3
            },
            Owned::RequestEnded {
                id: served,
                reason: RequestEnd::ConnectionLost
            }
        ]
    );
    assert!(
        v.frames().is_empty(),
        "nothing is answered for the ended request"
    );
    assert_eq!(v.ep.exports_live(), 0);
    assert!(v.ep.is_connected());
    // The old handle is stale; the call this side made still gets its answer.
    v.events.clear();
    v.feed(&raw::frame(&invoke(3, 0, 0, h.generation(), &[])));
    assert_eq!(v.frames(), [error(3, WireError::StaleHandle)]);
    v.feed(&raw::frame(&with_id(0x03, call.wire(), &[6])));
    assert_eq!(
        v.events,
        [Owned::Reply {
            id: call,
            payload: vec![6]
        }]
    );
}

#[test]
fn a_reply_nobody_waits_for_is_cancelled_so_that_its_exports_are_freed() {
    // With handles on both sides, a Reply for an id this side holds no call for (the
    // answer to a request of an ended session, or to a call whose answer an older one took)
    // may carry a handle nobody will ever release: this side answers it with a Cancel,
    // which frees whatever that request exported.
    let mut v = exporter();
    v.feed(&raw::frame(&with_id(0x03, 9, &[0, 1])));
    assert_eq!(v.frames(), [with_id(0x05, 9, &[])]);
    assert_eq!(v.ep.stats().cancels_sent, 1);
    // Its Error(Cancelled) answer is stray in turn, and not answered.
    v.feed(&raw::frame(&error(9, WireError::Cancelled)));
    assert!(v.frames().is_empty());
    assert!(v.events.is_empty(), "{:?}", v.events);
    // A late reply to a call this side cancelled is not: its Cancel went already.
    let call = v.ep.call(v.now, 0, &[2, 4][..]).unwrap();
    v.frames();
    v.ep.cancel(call).unwrap();
    assert_eq!(v.frames(), [with_id(0x05, call.wire(), &[])]);
    v.feed(&raw::frame(&with_id(0x03, call.wire(), &[6])));
    assert!(v.frames().is_empty());
    // Without handles on both sides, stray replies stay unanswered (section 6.3).
    let mut w = Victim::connected();
    w.feed(&raw::frame(&with_id(0x03, 9, &[0, 1])));
    assert!(w.frames().is_empty());
}

#[test]
fn an_exporter_frees_what_a_cancelled_orphan_reply_carried() {
    // Two endpoints by hand: B exports for A's call, A gives up on it, the Cancel is lost
    // on the line and A's grace period passes; then the reply arrives. A answers it with a
    // Cancel, and B frees the object (without, it would stay until the session ends).
    use wirecall::{Duration, Event};
    let cfg = || Config::default().with_handles();
    let mut a = Mcu::new(Instant::ZERO, cfg());
    let mut b = Mcu::new(Instant::ZERO, cfg());
    let mut now = Instant::ZERO;
    let pump = |from: &mut Mcu, to: &mut Mcu, now: Instant, drop: bool| {
        let mut buf = [0u8; 600];
        let n = from.poll_transmit(&mut buf);
        if !drop {
            let mut rest = &buf[..n];
            while !rest.is_empty() {
                let k = to.handle_input(now, rest);
                rest = &rest[k..];
                if k == 0 {
                    break;
                }
            }
        }
    };
    pump(&mut a, &mut b, now, false);
    pump(&mut b, &mut a, now, false);
    while a.poll_event().is_some() {}
    while b.poll_event().is_some() {}
    assert!(a.is_connected() && b.is_connected());
    let call = a.call(now, 6, &[1][..]).unwrap();
    pump(&mut a, &mut b, now, false);
    let Some(Event::Request { id, .. }) = b.poll_event() else {
        panic!()
    };
    a.cancel(call).unwrap();
    pump(&mut a, &mut b, now, true); // the Cancel is lost
    now = now + Duration::from_millis(1100); // the grace period passes
    a.handle_timeout(now);
    b.handle_timeout(now);
    while a.poll_event().is_some() {}
    while b.poll_event().is_some() {}
    // B's request has the default deadline (5 s): still active; it exports.
    b.respond_export(id, 1).unwrap();
    assert_eq!(b.exports_live(), 1);
    pump(&mut b, &mut a, now, false);
    assert!(a.poll_event().is_none(), "nobody waits for the reply");
    assert_eq!(a.stats().cancels_sent, 2);
    pump(&mut a, &mut b, now, false);
    assert!(matches!(
        b.poll_event(),
        Some(Event::Released { interface: 1, .. })
    ));
    assert_eq!(b.exports_live(), 0);
}

#[test]
fn an_object_made_at_the_announced_slot_is_exported_there_even_after_a_lower_slot_frees() {
    let mut v = exporter();
    let first = export(&mut v, 1);
    assert_eq!(first, Handle::new(0, 1));
    // A second constructor: its event announces slot 1 (what `next_export` says until
    // something changes the table), where the device makes its object; its answer waits.
    v.feed(&raw::frame(&with_id(0x02, 2, &[6])));
    let [Owned::Request { id, .. }] = std::mem::take(&mut v.events)[..] else {
        panic!("the request was not admitted")
    };
    let announced = v.ep.next_export().unwrap();
    assert_eq!(announced, Handle::new(1, 1));
    // Meanwhile the peer releases slot 0: now the lowest free slot.
    v.feed(&raw::frame(&release(0, 1)));
    assert_eq!(
        v.events,
        [Owned::Released {
            handle: first,
            interface: 3
        }]
    );
    v.events.clear();
    assert_eq!(v.ep.next_export(), Some(Handle::new(0, 2)));
    // Answered at the announced handle, not at the lowest free slot.
    assert_eq!(v.ep.respond_export_at(id, 3, announced), Ok(announced));
    assert_eq!(v.frames(), [with_id(0x03, 2, &[1, 1])]);
    assert_eq!(v.ep.export_interface(announced), Some(3));
    // Two constructors announced the same slot: the first export takes it, the second is
    // refused (`Stale`), never moved to another slot behind the application's back.
    v.feed(&raw::frame(&with_id(0x02, 3, &[6])));
    v.feed(&raw::frame(&with_id(0x02, 4, &[6])));
    let events = std::mem::take(&mut v.events);
    let [Owned::Request { id: a, .. }, Owned::Request { id: b, .. }] = events[..] else {
        panic!("{events:?}")
    };
    let both = v.ep.next_export().unwrap();
    assert_eq!(both, Handle::new(0, 2));
    assert_eq!(v.ep.respond_export_at(a, 3, both), Ok(both));
    assert_eq!(
        v.ep.respond_export_at(b, 3, both),
        Err(wirecall::HandleError::Stale)
    );
}
