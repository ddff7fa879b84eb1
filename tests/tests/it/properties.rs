//! Property tests: chunking never matters, garbage never wedges, and a model of the call
//! tables holds under random operations on a faulty line.

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;
use wirecall::{CallId, Instant, Procedure};
use wirecall_adapters::sim::Faults;
use wirecall_tests::demo::demo;
use wirecall_tests::engine::{Engine, Owned};
use wirecall_tests::pair::{Pair, Serve, Side};
use wirecall_tests::raw;

use crate::common::{device_config, enc, host_config, Host, Mcu};

/// Feeds `stream` to a fresh device in the given chunk sizes (cycled), draining after
/// every input, and returns its events and everything it sent after its first Hello.
fn run_chunked(stream: &[u8], chunks: &[usize]) -> (Vec<Owned>, Vec<u8>) {
    let mut ep = Mcu::new(Instant::ZERO, device_config());
    let (mut events, mut wire) = (Vec::new(), Vec::new());
    let mut rest = stream;
    let mut sizes = chunks.iter().cycle();
    let mut buf = [0u8; 64];
    // The device's own Hello goes out before anything arrives, as with a real driver.
    while ep.poll_transmit(&mut buf) > 0 {}
    while !rest.is_empty() {
        let size = (*sizes.next().unwrap()).clamp(1, rest.len());
        let mut piece = &rest[..size];
        while !piece.is_empty() {
            let n = ep.handle_input(Instant::ZERO, piece);
            piece = &piece[n..];
            while let Some(e) = Engine::poll_event(&mut ep) {
                events.push(e);
            }
            loop {
                let n = ep.poll_transmit(&mut buf);
                if n == 0 {
                    break;
                }
                wire.extend_from_slice(&buf[..n]);
            }
        }
        rest = &rest[size..];
    }
    (events, wire)
}

fn session_stream(garbage: &[Vec<u8>], calls: &[(u32, i32, i32)]) -> Vec<u8> {
    let mut s = raw::frame(&raw::hello(false, 1, 1, 1024, 8, 8, 1000, 0));
    for (i, (id, a, b)) in calls.iter().enumerate() {
        if let Some(g) = garbage.get(i) {
            s.extend(g);
        }
        s.extend(raw::frame(&raw::request(
            *id,
            demo::Add::ID,
            &enc(&(*a, *b)),
        )));
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn one_byte_random_chunks_or_all_at_once_give_the_same_events(
        garbage in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 0..6),
        calls in proptest::collection::vec((0u32..300, any::<i32>(), any::<i32>()), 1..8),
        chunks in proptest::collection::vec(1usize..40, 1..10),
    ) {
        let stream = session_stream(&garbage, &calls);
        let whole = run_chunked(&stream, &[stream.len()]);
        prop_assert_eq!(&run_chunked(&stream, &[1]), &whole);
        prop_assert_eq!(&run_chunked(&stream, &chunks), &whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_never_wedge_the_decoder(
        garbage in proptest::collection::vec(any::<u8>(), 0..2000),
    ) {
        let mut stream = garbage.clone();
        stream.extend(session_stream(&[], &[(9, 40, 2)]));
        let (events, _) = run_chunked(&stream, &[7]);
        let got = events.iter().any(|e| matches!(e, Owned::Request { args, .. } if *args == enc(&(40, 2))));
        prop_assert!(got, "the valid call after garbage was not delivered: {:?}", events);
    }
}

/// An operation of the model test.
#[derive(Clone, Debug)]
enum Op {
    Call { timeout_ms: Option<u16> },
    Cancel(usize),
    Answer(usize),
    Refuse(usize),
    Wait(u16),
    Noise(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => proptest::option::of(50u16..3000).prop_map(|timeout_ms| Op::Call { timeout_ms }),
        1 => (0usize..8).prop_map(Op::Cancel),
        3 => (0usize..8).prop_map(Op::Answer),
        1 => (0usize..8).prop_map(Op::Refuse),
        3 => (1u16..1500).prop_map(Op::Wait),
        1 => any::<bool>().prop_map(Op::Noise),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Every call ends exactly once (reply, error, cancel, deadline or lost connection),
    /// no event names a call that is not outstanding, and the tables drain.
    #[test]
    fn every_call_ends_exactly_once(ops in proptest::collection::vec(op(), 1..60), seed in any::<u64>()) {
        let mut p = Pair::with_line(
            Side::new(Host::new(Instant::ZERO, host_config()), Serve::Hold),
            Side::new(Mcu::new(Instant::ZERO, device_config()), Serve::Hold),
            115_200,
            Duration::from_micros(100),
            seed,
        );
        p.connect();
        // Calls outstanding, by id; the event log is checked as it grows.
        let mut outstanding: HashMap<CallId, ()> = HashMap::new();
        let mut ended = 0usize;
        let mut started = 0usize;
        let mut seen = 0usize;
        let mut check = |p: &mut Pair, outstanding: &mut HashMap<CallId, ()>, ended: &mut usize| -> Result<(), TestCaseError> {
            for e in &p.a.events[seen..] {
                let id = match e {
                    Owned::Reply { id, .. } | Owned::CallFailed { id, .. } => *id,
                    _ => continue,
                };
                prop_assert!(outstanding.remove(&id).is_some(), "event for a call not outstanding: {:?}", e);
                *ended += 1;
            }
            seen = p.a.events.len();
            Ok(())
        };
        for op in ops {
            match op {
                Op::Call { timeout_ms } => {
                    let timeout = timeout_ms.map(|ms| wirecall::Duration::from_millis(u64::from(ms)));
                    if let Ok(id) = p.a.ep.call(p.instant(), demo::Add::ID, &enc(&(1, 2)), timeout) {
                        prop_assert!(outstanding.insert(id, ()).is_none(), "id {:?} reused while outstanding", id);
                        started += 1;
                    }
                }
                Op::Cancel(k) => {
                    let mut ids: Vec<_> = outstanding.keys().copied().collect();
                    ids.sort();
                    if let Some(id) = ids.get(k).copied() {
                        p.a.ep.cancel(id).unwrap();
                        outstanding.remove(&id);
                        ended += 1;
                    }
                }
                Op::Answer(k) | Op::Refuse(k) => {
                    let held = p.b.held_requests();
                    if let Some((rid, _, _)) = held.get(k) {
                        let r = if matches!(op, Op::Answer(_)) {
                            p.b.ep.respond(*rid, &enc(&3))
                        } else {
                            p.b.ep.respond_error(*rid, wirecall::WireError::Internal, "no")
                        };
                        // Answering twice, or after a cancel, is refused, not sent.
                        if r.is_err() {
                            prop_assert_eq!(r, Err(wirecall::RespondError::NotPending));
                        }
                    }
                }
                Op::Wait(ms) => p.run_for(Duration::from_millis(u64::from(ms))),
                Op::Noise(on) => {
                    let f = if on { Faults { drop: 0.01, flip: 0.01, duplicate: 0.01, insert: 0.01, cut: false } } else { Faults::NONE };
                    p.ab.set_faults(f);
                    p.ba.set_faults(f);
                }
            }
            check(&mut p, &mut outstanding, &mut ended)?;
        }
        p.ab.set_faults(Faults::NONE);
        p.ba.set_faults(Faults::NONE);
        p.run_for(Duration::from_secs(12));
        check(&mut p, &mut outstanding, &mut ended)?;
        prop_assert!(outstanding.is_empty(), "calls that never ended: {:?}", outstanding);
        prop_assert_eq!(ended, started);
        prop_assert_eq!(p.a.ep.slots_in_use(), (0, 0));
        prop_assert_eq!(p.b.ep.requests_pending(), 0);
    }
}

/// One damaged byte (dropped, duplicated, or any single bit flipped) anywhere in a frame
/// never costs the untouched frame after it: the delimiters resynchronise the decoder.
/// Exhaustive over every position and fault, for frames of each kind a device receives.
#[test]
fn one_damaged_byte_never_loses_the_next_frame() {
    let next = raw::frame(&raw::request(3, demo::Add::ID, &enc(&(1, 2))));
    let victims = [
        raw::frame(&[0x05, 0x02]),
        raw::frame(&raw::request(2, demo::Echo::ID, &[0x00, 0xff, 0x00, 0x01])),
        raw::frame(&[0x06]),
        raw::frame(&raw::hello(true, 1, 1, 1024, 8, 8, 1000, 7)),
    ];
    let delivered = |damaged: &[u8]| {
        let mut stream = raw::frame(&raw::hello(true, 1, 1, 1024, 8, 8, 1000, 0));
        stream.extend_from_slice(damaged);
        stream.extend_from_slice(&next);
        let (events, _) = run_chunked(&stream, &[stream.len()]);
        events
            .iter()
            .any(|e| matches!(e, Owned::Request { id, .. } if id.wire() == 3))
    };
    let mut cases = 0;
    for a in &victims {
        for i in 0..a.len() {
            let mut variants = vec![];
            let mut dup = a.clone();
            dup.insert(i, a[i]);
            variants.push(dup);
            let mut drop = a.clone();
            drop.remove(i);
            variants.push(drop);
            for bit in 0..8 {
                let mut flip = a.clone();
                flip[i] ^= 1 << bit;
                variants.push(flip);
            }
            for v in variants {
                assert!(delivered(&v), "lost the next frame after {v:02x?}");
                cases += 1;
            }
        }
    }
    assert!(cases > 400);
}

/// An operation of the stream-table model test.
#[derive(Clone, Debug)]
enum StreamOp {
    Open { n: u8, timeout_ms: Option<u16> },
    Cancel(usize),
    Consume(usize, u8),
    Wait(u16),
    Noise(bool),
}

fn stream_op() -> impl Strategy<Value = StreamOp> {
    prop_oneof![
        3 => (0u8..40, proptest::option::of(100u16..3000))
            .prop_map(|(n, timeout_ms)| StreamOp::Open { n, timeout_ms }),
        1 => (0usize..6).prop_map(StreamOp::Cancel),
        4 => ((0usize..6), 1u8..10).prop_map(|(k, m)| StreamOp::Consume(k, m)),
        3 => (1u16..1500).prop_map(StreamOp::Wait),
        1 => any::<bool>().prop_map(StreamOp::Noise),
    ]
}

/// The caller's view of one open stream in the model.
#[derive(Debug, Default)]
struct Model {
    received: u32,
    consumed: u32,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The stream table against a model, under random opens, cancels, slow consumption
    /// and line faults: items arrive in order without gaps or duplicates and never beyond
    /// the window unconsumed, every stream ends exactly once, and both tables drain.
    #[test]
    fn every_stream_ends_exactly_once_in_order_within_its_window(
        ops in proptest::collection::vec(stream_op(), 1..50),
        seed in any::<u64>(),
    ) {
        let mut p = Pair::with_line(
            Side::new(Host::new(Instant::ZERO, host_config()), Serve::Hold),
            Side::new(Mcu::new(Instant::ZERO, device_config()), Serve::Dispatch),
            115_200,
            Duration::from_micros(100),
            seed,
        );
        p.a.auto_consume = false;
        p.connect();
        let window = 8;
        let mut open: HashMap<CallId, Model> = HashMap::new();
        let (mut started, mut ended) = (0usize, 0usize);
        let check = |p: &mut Pair, open: &mut HashMap<CallId, Model>, ended: &mut usize| -> Result<(), TestCaseError> {
            for e in p.a.take_events() {
                match e {
                    Owned::Item { stream: wirecall::StreamId::Call(id), item } => {
                        let m = open.get_mut(&id);
                        prop_assert!(m.is_some(), "an item for a stream not open: {:?}", id);
                        let m = m.unwrap();
                        let v: u32 = postcard::from_bytes(&item).unwrap();
                        prop_assert_eq!(v, m.received, "a gap or a duplicate");
                        m.received += 1;
                        prop_assert!(m.received - m.consumed <= window, "beyond the window");
                    }
                    Owned::Reply { id, .. } | Owned::CallFailed { id, .. } => {
                        prop_assert!(open.remove(&id).is_some(), "an end for a stream not open: {:?}", id);
                        *ended += 1;
                    }
                    Owned::Disconnected(_) | Owned::Connected(_) => {}
                    other => prop_assert!(false, "unexpected event {:?}", other),
                }
            }
            Ok(())
        };
        for op in ops {
            match op {
                StreamOp::Open { n, timeout_ms } => {
                    let mut how = wirecall::Open::stream(wirecall::StreamMode::ServerStream);
                    if let Some(ms) = timeout_ms {
                        how = how.with_timeout(wirecall::Duration::from_millis(u64::from(ms)));
                    }
                    let now = p.instant();
                    if let Ok(id) = p.a.ep.open(now, demo::Count::ID, &enc(&u32::from(n)), how) {
                        prop_assert!(open.insert(id, Model::default()).is_none(), "id reused while open");
                        started += 1;
                    }
                }
                StreamOp::Cancel(k) => {
                    let mut ids: Vec<_> = open.keys().copied().collect();
                    ids.sort();
                    if let Some(id) = ids.get(k).copied() {
                        p.a.ep.cancel(id).unwrap();
                        open.remove(&id);
                        ended += 1;
                    }
                }
                StreamOp::Consume(k, m) => {
                    let mut ids: Vec<_> = open.keys().copied().collect();
                    ids.sort();
                    if let Some(id) = ids.get(k).copied() {
                        let model = open.get_mut(&id).unwrap();
                        let take = u32::from(m).min(model.received - model.consumed);
                        p.a.ep.consume(wirecall::StreamId::Call(id), take).unwrap();
                        model.consumed += take;
                    }
                }
                StreamOp::Wait(ms) => p.run_for(Duration::from_millis(u64::from(ms))),
                StreamOp::Noise(on) => {
                    let f = if on { Faults { drop: 0.002, flip: 0.002, duplicate: 0.001, insert: 0.001, cut: false } } else { Faults::NONE };
                    p.ab.set_faults(f);
                    p.ba.set_faults(f);
                }
            }
            check(&mut p, &mut open, &mut ended)?;
        }
        // A fast consumer from here on: every stream ends (its items, an error, or idle).
        p.ab.set_faults(Faults::NONE);
        p.ba.set_faults(Faults::NONE);
        for _ in 0..100 {
            for (id, m) in open.iter_mut() {
                p.a.ep.consume(wirecall::StreamId::Call(*id), m.received - m.consumed).unwrap();
                m.consumed = m.received;
            }
            p.run_for(Duration::from_millis(500));
            check(&mut p, &mut open, &mut ended)?;
            if open.is_empty() {
                break;
            }
        }
        // A server whose Cancel was lost learns it at the latest by its idle timeout.
        p.run_for(Duration::from_secs(35));
        prop_assert!(open.is_empty(), "streams that never ended: {:?}", open);
        prop_assert_eq!(ended, started);
        prop_assert_eq!(p.a.ep.slots_in_use(), (0, 0));
        prop_assert_eq!(p.b.ep.slots_in_use(), (0, 0));
        prop_assert!(p.b.producers.is_empty());
    }
}
