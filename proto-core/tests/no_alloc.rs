//! The core never allocates: two endpoints run a handshake, calls both ways, a stream with
//! credit, a cancel, garbage on the line and deadlines, inside `assert_no_alloc`, whose global
//! allocator aborts on any allocation made meanwhile (`no_std` without
//! `alloc` already keeps the core from naming an allocator; this shows that nothing it
//! depends on allocates behind its back either).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use assert_no_alloc::{assert_no_alloc, AllocDisabler};
use wirecall::{Config, Duration, Endpoint, Event, Instant, Open, StreamMode};

// Every allocation inside `assert_no_alloc` aborts the test binary (a failure that names
// the allocation): a well-kept crate for exactly this, instead of an allocator of our own,
// which would need the `unsafe` this workspace forbids.
#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

/// Moves `from`'s output into `to`, draining `to`'s events into `seen` and answering its
/// requests (echo for calls, one item back for streams).
fn pump(now: Instant, from: &mut Endpoint, to: &mut Endpoint, seen: &mut [u32; 8]) {
    let mut wire = [0u8; 64];
    loop {
        let n = from.poll_transmit(&mut wire);
        if n == 0 {
            return;
        }
        let mut bytes = &wire[..n];
        while !bytes.is_empty() {
            let used = to.handle_input(now, bytes);
            bytes = &bytes[used..];
            while let Some(event) = to.poll_event() {
                match event {
                    Event::Connected(_) => seen[0] += 1,
                    Event::Request {
                        id,
                        mode: StreamMode::Call,
                        ..
                    } => {
                        seen[1] += 1;
                        let _ = to.respond(id, b"ok");
                    }
                    Event::Request { id, .. } => {
                        seen[2] += 1;
                        let _ = to.send_item(id, &b"item"[..]);
                    }
                    Event::Reply { .. } => seen[3] += 1,
                    Event::Item { stream, .. } => {
                        seen[4] += 1;
                        let _ = to.consume(stream, 1);
                    }
                    Event::CallFailed { .. } => seen[5] += 1,
                    _ => seen[6] += 1,
                }
            }
            if used == 0 {
                break;
            }
        }
    }
}

#[test]
fn the_core_allocates_nothing_on_any_path_this_test_drives() {
    let mut a: Endpoint = Endpoint::new(Instant::ZERO, Config::default());
    let mut b: Endpoint = Endpoint::new(Instant::ZERO, Config::default());
    let mut seen = [0u32; 8];
    assert_no_alloc(|| drive(&mut a, &mut b, &mut seen));
    assert!(seen[0] >= 2, "a session came up: {seen:?}");
    assert!(
        seen[1] > 10 && seen[3] > 10,
        "calls were answered: {seen:?}"
    );
    assert!(
        seen[2] >= 1 && seen[4] >= 1,
        "a stream moved items: {seen:?}"
    );
}

/// Everything the test does to the two endpoints, with no allocation allowed.
fn drive(a: &mut Endpoint, b: &mut Endpoint, seen: &mut [u32; 8]) {
    let mut now = Instant::ZERO;
    for round in 0..50u32 {
        now = now + Duration::from_millis(10);
        pump(now, a, b, seen);
        pump(now, b, a, seen);
        if a.is_connected() {
            let _ = a.call(now, 0, &round.to_le_bytes()[..]);
            let _ = b.call(now, 1, &b"back"[..]);
            if round % 10 == 1 {
                let _ = a.open(now, 2, &[][..], Open::stream(StreamMode::ServerStream));
            }
            if round % 7 == 3 {
                if let Ok(id) = a.call(now, 3, &[][..]) {
                    let _ = a.cancel(id);
                }
            }
            if round % 9 == 4 {
                // Noise on the line: a broken frame, a stray delimiter run.
                let _ = b.handle_input(now, &[0x00, 0x13, 0x37, 0xff, 0x00, 0x00]);
            }
        }
        for ep in [&mut *a, &mut *b] {
            if ep.poll_timeout().is_some_and(|t| t <= now) {
                ep.handle_timeout(now);
            }
            while ep.poll_event().is_some() {}
        }
    }
    // Deadlines: a long silence ends every call and, past the idle limit, the link.
    now = now + Duration::from_secs(10);
    for ep in [a, b] {
        ep.handle_timeout(now);
        while ep.poll_event().is_some() {}
    }
}
