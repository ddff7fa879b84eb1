//! Streams in the simulated pair: every item in order or a clear error, flow control that
//! holds at every step, every way a stream ends (once, on both sides, slots freed), the
//! stream-table bound, and calls nested in calls.

use std::time::Duration;

use wirecall::{
    CallError, CallFailure, CallId, Open, Procedure, RequestEnd, StreamId, StreamMode, WireError,
};
use wirecall_adapters::sim::Faults;
use wirecall_tests::demo::demo;
use wirecall_tests::engine::Owned;
use wirecall_tests::pair::{Pair, Serve, Side};

use crate::common::{connected_pair, device_config, enc, host_and_device, host_config, Host, Mcu};

/// The items of stream `id` that A received so far, decoded, and how the call ended.
fn received(p: &Pair, id: CallId) -> (Vec<u32>, Option<Owned>) {
    let mut items = Vec::new();
    let mut end = None;
    for e in &p.a.events {
        match e {
            Owned::Item {
                stream: StreamId::Call(s),
                item,
            } if *s == id => items.push(postcard::from_bytes::<u32>(item).unwrap()),
            Owned::Reply { id: c, .. } | Owned::CallFailed { id: c, .. } if *c == id => {
                assert!(end.is_none(), "a second end: {e:?}");
                end = Some(e.clone());
            }
            _ => {}
        }
    }
    (items, end)
}

fn open_count(p: &mut Pair, n: u32) -> CallId {
    let now = p.instant();
    p.a.ep
        .open(
            now,
            demo::Count::ID,
            &enc(&n),
            Open::stream(StreamMode::ServerStream),
        )
        .unwrap()
}

#[test]
fn a_count_stream_delivers_every_item_in_order_and_frees_both_slots() {
    let mut p = connected_pair();
    let id = open_count(&mut p, 1000);
    assert!(p.run_until(Duration::from_secs(60), |p| received(p, id).1.is_some()));
    let (items, end) = received(&p, id);
    assert_eq!(items, (0..1000).collect::<Vec<_>>());
    assert_eq!(
        end,
        Some(Owned::Reply {
            id,
            payload: vec![]
        })
    );
    assert_eq!(p.a.ep.slots_in_use(), (0, 0));
    assert_eq!(p.b.ep.slots_in_use(), (0, 0));
    assert!(p.b.producers.is_empty());
    assert_eq!(p.b.ep.stats().items_sent, 1000);
    assert_eq!(p.a.ep.stats().items_received, 1000);
}

/// 100,000 items through a line that drops, flips, duplicates and inserts bytes: every
/// stream delivers a prefix of its items in order, and one that stops short ends with an
/// error (never a gap, a duplicate, or a silent end). The caller resumes where it stopped
/// until every item arrived.
#[test]
fn a_hundred_thousand_items_through_a_faulty_line_arrive_in_order_or_end_with_an_error() {
    let mut p = connected_pair();
    let noisy = Faults {
        drop: 0.000_02,
        flip: 0.000_02,
        duplicate: 0.000_01,
        insert: 0.000_01,
        cut: false,
    };
    p.ab.set_faults(noisy);
    p.ba.set_faults(noisy);
    const TOTAL: u32 = 100_000;
    let (mut delivered, mut errors, mut streams) = (0u32, Vec::new(), 0);
    while delivered < TOTAL {
        let seen = p.a.events.len();
        let id = open_count(&mut p, TOTAL - delivered);
        streams += 1;
        assert!(
            p.run_until(Duration::from_secs(600), |p| p.a.events[seen..]
                .iter()
                .any(|e| matches!(e, Owned::Reply { id: c, .. } | Owned::CallFailed { id: c, .. } if *c == id))),
            "stream {streams} never ended"
        );
        let mut got = Vec::new();
        let mut end = None;
        for e in p.a.take_events() {
            match e {
                Owned::Item { stream, item } if stream == StreamId::Call(id) => {
                    got.push(postcard::from_bytes::<u32>(&item).unwrap())
                }
                Owned::Reply { id: c, .. } | Owned::CallFailed { id: c, .. } if c == id => {
                    end = Some(e)
                }
                _ => {}
            }
        }
        let expect: Vec<u32> = (0..got.len() as u32).collect();
        assert_eq!(got, expect, "stream {streams}: a gap or a duplicate");
        delivered += got.len() as u32;
        match end.unwrap() {
            Owned::Reply { .. } => {
                assert_eq!(delivered, TOTAL, "a stream ended short without an error")
            }
            Owned::CallFailed { reason, .. } => errors.push(reason),
            _ => unreachable!(),
        }
    }
    assert!(
        !errors.is_empty(),
        "the faults never hit a stream: the test proves nothing"
    );
    let st = (p.ab.stats(), p.ba.stats());
    let mut kinds = std::collections::BTreeMap::new();
    for e in &errors {
        *kinds.entry(format!("{e:?}")).or_insert(0) += 1;
    }
    println!("{TOTAL} items in {streams} streams; ended early: {kinds:?}; line faults {st:?}");
}

/// A receiver that consumes one item every 50 ms: at every instant the items the device
/// sent that the host has not consumed stay within the host's window; the stream still
/// completes, and the sender did use the whole window.
#[test]
fn a_slow_consumer_is_never_flooded() {
    let mut p = connected_pair();
    p.a.auto_consume = false;
    let window = 8u32;
    let id = open_count(&mut p, 200);
    let mut consumed = 0u32;
    let mut worst = 0;
    let mut steps = 0;
    while !received_end(&p, id) {
        assert!(steps < 10_000, "the throttled stream never finished");
        p.run_until(Duration::from_millis(50), |p| {
            steps += 1;
            let sent = p.b.ep.stats().items_sent;
            worst = worst.max(sent - consumed);
            assert!(
                sent - consumed <= window,
                "{sent} sent, {consumed} consumed: beyond the window"
            );
            false
        });
        if p.a.ep.stats().items_received > consumed && !received_end(&p, id) {
            p.a.ep.consume(StreamId::Call(id), 1).unwrap();
            consumed += 1;
        }
    }
    let (items, _) = received(&p, id);
    assert_eq!(items, (0..200).collect::<Vec<_>>());
    assert_eq!(worst, window, "the sender used the whole window");
}

fn received_end(p: &Pair, id: CallId) -> bool {
    p.a.events.iter().any(
        |e| matches!(e, Owned::Reply { id: c, .. } | Owned::CallFailed { id: c, .. } if *c == id),
    )
}

/// A fast consumer is not starved: credit comes back before the device runs out, so the
/// line from the device is busy nearly all the time (measured: items per second against
/// what the line could carry).
#[test]
fn credit_arrives_before_the_sender_runs_out() {
    let mut p = connected_pair();
    let id = open_count(&mut p, 2000);
    let start = p.now;
    assert!(p.run_until(Duration::from_secs(60), |p| received_end(p, id)));
    let took = p.now - start;
    let bytes = p.ba.stats().written as f64;
    let line_time = bytes * 10.0 / 115_200.0;
    let busy = line_time / took.as_secs_f64();
    assert!(
        busy > 0.9,
        "the line was busy {busy:.2} of the time: the sender waited for credit"
    );
}

/// A stream served on a device ends by every route exactly once on both sides, and its
/// slots are free afterwards.
#[test]
fn every_way_a_stream_ends_ends_it_once_on_both_sides() {
    // The caller cancels mid-stream.
    let mut p = connected_pair();
    p.a.auto_consume = false;
    let id = open_count(&mut p, 1000);
    assert!(
        p.run_until(Duration::from_secs(5), |p| p.a.ep.stats().items_received
            == 8)
    );
    p.a.ep.cancel(id).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_request_ended(&p, &[RequestEnd::Cancelled]);
    assert_eq!(
        received(&p, id).1,
        None,
        "a cancelled call has no end event"
    );
    assert_free(&p);

    // The call's deadline.
    let mut p = connected_pair();
    p.a.auto_consume = false;
    let now = p.instant();
    let id =
        p.a.ep
            .open(
                now,
                demo::Count::ID,
                &enc(&1000u32),
                Open::stream(StreamMode::ServerStream)
                    .with_timeout(wirecall::Duration::from_millis(300)),
            )
            .unwrap();
    p.run_for(Duration::from_secs(2));
    assert_eq!(
        received(&p, id).1,
        Some(Owned::CallFailed {
            id,
            reason: CallFailure::DeadlineExceeded,
            detail: vec![]
        })
    );
    // The server has the same deadline; whichever side's timer fires first ends it.
    assert_request_ended(&p, &[RequestEnd::DeadlineExceeded, RequestEnd::Cancelled]);
    assert_free(&p);

    // Idle: the consumer stops consuming; after the idle timeout both sides end it.
    let mut p = connected_pair();
    p.a.auto_consume = false;
    let id = open_count(&mut p, 1000);
    p.run_for(Duration::from_secs(40));
    // Whichever side's idle timer fires first ends it: the caller's reports `Idle`, the
    // server's sends `DeadlineExceeded`.
    let end = received(&p, id).1;
    assert!(
        [
            CallFailure::Idle,
            CallFailure::Remote(WireError::DeadlineExceeded)
        ]
        .iter()
        .any(|r| end
            == Some(Owned::CallFailed {
                id,
                reason: *r,
                detail: vec![]
            })),
        "{end:?}"
    );
    assert_request_ended(&p, &[RequestEnd::Idle, RequestEnd::Cancelled]);
    assert_free(&p);

    // The server ends it with an error.
    let mut p = host_and_device(Serve::Hold);
    p.connect();
    let id = open_count(&mut p, 10);
    p.run_for(Duration::from_millis(50));
    let (rid, _, _) = p.b.held_requests()[0].clone();
    p.b.ep
        .send_item(StreamId::Request(rid), &enc(&0u32))
        .unwrap();
    p.b.ep
        .respond_error(rid, WireError::Internal, "sensor failed")
        .unwrap();
    p.run_for(Duration::from_millis(50));
    let (items, end) = received(&p, id);
    assert_eq!(items, [0]);
    assert_eq!(
        end,
        Some(Owned::CallFailed {
            id,
            reason: CallFailure::Remote(WireError::Internal),
            detail: b"sensor failed".to_vec()
        })
    );
    assert_free(&p);
}

fn assert_request_ended(p: &Pair, reasons: &[RequestEnd]) {
    let ends: Vec<_> =
        p.b.events
            .iter()
            .filter(|e| matches!(e, Owned::RequestEnded { .. }))
            .collect();
    assert!(
        matches!(&ends[..], [Owned::RequestEnded { reason: r, .. }] if reasons.contains(r)),
        "{ends:?}"
    );
}

fn assert_free(p: &Pair) {
    assert_eq!(p.a.ep.slots_in_use(), (0, 0), "caller slots");
    assert_eq!(p.b.ep.slots_in_use(), (0, 0), "server slots");
}

/// Streams share the call tables: a device with 4 request slots serves 4 streams at once;
/// the host knows it from the device's Hello and refuses a fifth locally (a peer that
/// sends one anyway is answered `Busy`, see `limits.rs`).
#[test]
fn a_fifth_stream_on_a_four_slot_device_is_refused() {
    let mut p = connected_pair();
    p.a.auto_consume = false;
    let ids: Vec<_> = (0..4).map(|_| open_count(&mut p, 100)).collect();
    let now = p.instant();
    assert_eq!(
        p.a.ep.open(
            now,
            demo::Count::ID,
            &enc(&1u32),
            Open::stream(StreamMode::ServerStream)
        ),
        Err(CallError::TooManyCalls)
    );
    p.run_for(Duration::from_millis(100));
    for id in &ids {
        assert_eq!(received(&p, *id).0.len(), 8, "each stream holds its window");
    }
}

/// A client stream (items from the caller, one reply) and a bidirectional one, served by
/// a device that the test drives: credit holds both ways, and the End counts the items.
#[test]
fn client_and_bidirectional_streams_carry_items_both_ways() {
    let mut p = host_and_device(Serve::Hold);
    p.connect();
    let now = p.instant();
    let sum =
        p.a.ep
            .open(now, 7, &[], Open::stream(StreamMode::ClientStream))
            .unwrap();
    p.run_for(Duration::from_millis(20));
    let (rid, procedure, _) = p.b.held_requests()[0].clone();
    assert_eq!(procedure, 7);
    assert_eq!(p.b.ep.request_mode(rid), Some(StreamMode::ClientStream));
    p.b.auto_consume = false;
    // The caller may send exactly the device's window before credit.
    let mut sent = 0u32;
    while p.a.ep.send_item(StreamId::Call(sum), &enc(&sent)).is_ok() {
        sent += 1;
    }
    assert_eq!(sent, 8);
    p.run_for(Duration::from_millis(50));
    let got: Vec<u32> =
        p.b.take_events()
            .into_iter()
            .filter_map(|e| match e {
                Owned::Item { item, .. } => Some(postcard::from_bytes(&item).unwrap()),
                _ => None,
            })
            .collect();
    assert_eq!(got, (0..8).collect::<Vec<_>>());
    p.b.ep.consume(StreamId::Request(rid), 8).unwrap();
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.a.ep.credit(StreamId::Call(sum)), 8, "credit came back");
    p.a.ep.end_items(sum).unwrap();
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.b.take_events(), [Owned::ItemsEnded { id: rid }]);
    p.b.ep.respond(rid, &enc(&28u64)).unwrap();
    p.run_for(Duration::from_millis(50));
    assert_eq!(
        received(&p, sum).1,
        Some(Owned::Reply {
            id: sum,
            payload: enc(&28u64)
        })
    );

    // Bidirectional: each item from the caller answered by one from the device.
    let now = p.instant();
    let echo =
        p.a.ep
            .open(now, 8, &[], Open::stream(StreamMode::Bidi))
            .unwrap();
    p.run_for(Duration::from_millis(20));
    let (rid, _, _) = p.b.held_requests().last().unwrap().clone();
    p.b.auto_consume = true;
    for i in 0..20u32 {
        p.a.ep.send_item(StreamId::Call(echo), &enc(&i)).unwrap();
        p.run_for(Duration::from_millis(5));
        p.b.ep
            .send_item(StreamId::Request(rid), &enc(&(i * 2)))
            .unwrap();
        p.run_for(Duration::from_millis(5));
    }
    p.a.ep.end_items(echo).unwrap();
    p.run_for(Duration::from_millis(20));
    p.b.ep.respond(rid, &[]).unwrap();
    p.run_for(Duration::from_millis(20));
    let (items, end) = received(&p, echo);
    assert_eq!(items, (0..20).map(|i| i * 2).collect::<Vec<_>>());
    assert_eq!(
        end,
        Some(Owned::Reply {
            id: echo,
            payload: vec![]
        })
    );
    assert_free(&p);
}

/// While serving a call, the device calls back into the host (a progress report); the
/// host answers it while its own call is still in flight. Calls nested past the limit are
/// refused, locally or by the peer.
#[test]
fn a_server_calls_back_into_its_caller_within_the_depth_limit() {
    let mut p = Pair::new(
        Side::new(
            Host::new(
                wirecall::Instant::ZERO,
                host_config().with_max_call_depth(2),
            ),
            Serve::Hold,
        ),
        Side::new(
            Mcu::new(
                wirecall::Instant::ZERO,
                device_config().with_max_call_depth(2),
            ),
            Serve::Hold,
        ),
    );
    p.connect();
    let now = p.instant();
    let outer = p.a.ep.call(now, 0, &enc(&(1, 2)), None).unwrap();
    p.run_for(Duration::from_millis(20));
    let (served, _, _) = p.b.held_requests()[0].clone();
    // The device calls the host while serving: one level deeper.
    let now = p.instant();
    let progress =
        p.b.ep
            .open(now, 0, &enc(&(10, 20)), Open::call().nested_in(served))
            .unwrap();
    p.run_for(Duration::from_millis(20));
    let (cb, _, args) = p.a.held_requests()[0].clone();
    assert_eq!(args, enc(&(10, 20)));
    assert_eq!(p.a.ep.request_depth(cb), Some(1));
    // The host calls back again while serving the callback (depth 2, its own limit).
    let now = p.instant();
    let again =
        p.a.ep
            .open(now, 0, &enc(&(3, 4)), Open::call().nested_in(cb))
            .unwrap();
    p.run_for(Duration::from_millis(20));
    let (deep, _, _) = p.b.held_requests()[1].clone();
    assert_eq!(p.b.ep.request_depth(deep), Some(2));
    // The device refuses to go deeper than its own limit (2 here); the host refuses a
    // request nested past its limit (the `error_too_deep` vector test covers that byte).
    let now = p.instant();
    assert_eq!(
        p.b.ep
            .open(now, 0, &enc(&(5, 6)), Open::call().nested_in(deep)),
        Err(CallError::TooDeep)
    );
    // The answers unwind in order; a call nested in a request that is over is refused.
    p.b.ep.respond(deep, &enc(&7)).unwrap();
    p.run_for(Duration::from_millis(20));
    assert!(p.a.events.contains(&Owned::Reply {
        id: again,
        payload: enc(&7)
    }));
    p.a.ep.respond(cb, &enc(&30)).unwrap();
    p.run_for(Duration::from_millis(20));
    assert!(p.b.events.contains(&Owned::Reply {
        id: progress,
        payload: enc(&30)
    }));
    p.b.ep.respond(served, &enc(&3)).unwrap();
    p.run_for(Duration::from_millis(20));
    assert!(p.a.events.contains(&Owned::Reply {
        id: outer,
        payload: enc(&3)
    }));
    let now = p.instant();
    assert_eq!(
        p.a.ep
            .open(now, 0, &enc(&(0, 0)), Open::call().nested_in(cb)),
        Err(CallError::TooDeep)
    );
    assert_free(&p);
}

/// Bytes between two concrete endpoints: what each sent, and what the other has not taken
/// yet (it takes nothing while an event is unread, so the test drains events in between).
#[derive(Default)]
struct Wires {
    to_dev: Vec<u8>,
    to_host: Vec<u8>,
}

impl Wires {
    /// Moves what both sides have to send, and feeds each what it will take now.
    fn shuttle(&mut self, host: &mut Host, dev: &mut Mcu, now: wirecall::Instant) {
        let mut buf = [0u8; 64];
        loop {
            let n = host.poll_transmit(&mut buf);
            self.to_dev.extend_from_slice(&buf[..n]);
            let m = dev.poll_transmit(&mut buf);
            self.to_host.extend_from_slice(&buf[..m]);
            let a = dev.handle_input(now, &self.to_dev);
            self.to_dev.drain(..a);
            let b = host.handle_input(now, &self.to_host);
            self.to_host.drain(..b);
            if n == 0 && m == 0 && a == 0 && b == 0 {
                return;
            }
        }
    }
}

/// The typed handles drive a stream end to end on concrete endpoints, as firmware does:
/// typed items both ways, credit by `consumed`, the typed end.
#[test]
fn typed_stream_handles_carry_typed_items_without_an_allocator() {
    use wirecall::{CallerStream, Dispatched, Event, ServedStream};
    let now = wirecall::Instant::ZERO;
    let mut host = Host::new(now, host_config());
    let mut dev = Mcu::new(now, device_config());
    let mut wires = Wires::default();
    for _ in 0..4 {
        wires.shuttle(&mut host, &mut dev, now);
        while host.poll_event().is_some() {}
        while dev.poll_event().is_some() {}
    }
    assert!(host.is_connected() && dev.is_connected());

    let count = CallerStream::<demo::Count>::open(&mut host, now, &(20,), None).unwrap();
    let mut served: Option<(ServedStream<demo::Count>, u32)> = None;
    let mut got = Vec::new();
    let mut done = None;
    let mut device = wirecall_tests::demo::DemoDevice::default();
    for _ in 0..1000 {
        wires.shuttle(&mut host, &mut dev, now);
        // The device: accept the stream, then send while there is credit.
        while let Some(ev) = dev.poll_event() {
            if let Event::Request {
                id,
                procedure,
                args,
                mode,
                export,
            } = ev
            {
                let mut out = [0u8; 16];
                let r = demo::dispatch_request(
                    &mut device,
                    id,
                    mode,
                    procedure,
                    args,
                    export,
                    &mut out,
                );
                assert_eq!(r, Ok(Dispatched::Stream));
                let (stream, n) = device.counts.pop().unwrap();
                served = Some((ServedStream::new(stream), n));
            }
        }
        if let Some((s, n)) = served.as_mut() {
            let mut next = 20 - *n;
            while *n > 0 && s.credit(&dev) > 0 {
                s.send(&mut dev, &next).unwrap();
                *n -= 1;
                next += 1;
            }
        }
        if served.as_ref().is_some_and(|(_, n)| *n == 0) {
            let (s, _) = served.take().unwrap();
            s.finish(&mut dev, &()).map_err(|(_, e)| e).unwrap();
        }
        wires.shuttle(&mut host, &mut dev, now);
        // The host: typed items, consumed one by one.
        let mut taken = 0;
        while let Some(ev) = host.poll_event() {
            if let Some(item) = count.item(&ev) {
                got.push(item.unwrap());
                taken += 1;
            }
            if let Some(end) = count.end_of(&ev) {
                done = Some(end);
            }
        }
        count.consumed(&mut host, taken).ok();
        if done.is_some() {
            break;
        }
    }
    assert_eq!(got, (0..20).collect::<Vec<u32>>());
    assert_eq!(done, Some(Ok(())));
}

/// Packed items through the same faulty line: every stream delivers a gap-free prefix of
/// its items in order (each item says its number), or ends with an error; resumed until all
/// 20,000 are in.
#[test]
fn packed_items_through_a_faulty_line_arrive_in_order_or_end_with_an_error() {
    let mut p = host_and_device(Serve::Hold);
    p.connect();
    let noisy = Faults {
        drop: 0.000_05,
        flip: 0.000_05,
        duplicate: 0.000_02,
        insert: 0.000_02,
        cut: false,
    };
    p.ab.set_faults(noisy);
    p.ba.set_faults(noisy);
    const TOTAL: u32 = 20_000;
    let (mut delivered, mut errors, mut packed_frames) = (0u32, 0, 0u32);
    while delivered < TOTAL {
        let now = p.instant();
        let Ok(id) =
            p.a.ep
                .open(now, 1, &[], Open::stream(StreamMode::ServerStream))
        else {
            p.run_for(Duration::from_millis(100)); // slots still held after a failure
            continue;
        };
        let seen = p.b.events.len();
        if !p.run_until(Duration::from_secs(60), |p| {
            p.b.events[seen..]
                .iter()
                .any(|e| matches!(e, Owned::Request { .. }))
        }) {
            p.a.ep.cancel(id).ok();
            continue; // the Open was lost: the caller gives up and opens again
        }
        let rid = p.b.held_requests().last().unwrap().0;
        let mut next = delivered;
        let ended = p.run_until(Duration::from_secs(600), |p| {
            while next < TOTAL && p.b.ep.credit(StreamId::Request(rid)) > 0 {
                let bodies: Vec<Vec<u8>> = (next..TOTAL.min(next + 20))
                    .map(|n| {
                        let mut b = n.to_le_bytes().to_vec();
                        b.resize(16, 0xee);
                        b
                    })
                    .collect();
                let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
                match p.b.ep.send_items(StreamId::Request(rid), &refs) {
                    Ok(k) => {
                        next += k as u32;
                        packed_frames += 1;
                    }
                    Err(_) => break,
                }
            }
            if next == TOTAL {
                let _ = p.b.ep.respond(rid, &[]);
            }
            p.a.events.iter().any(
                |e| matches!(e, Owned::Reply { id: c, .. } | Owned::CallFailed { id: c, .. } if *c == id),
            )
        });
        if !ended {
            p.a.ep.cancel(id).ok();
        }
        let mut end = None;
        for e in p.a.take_events() {
            match e {
                Owned::Item { stream, item } if stream == StreamId::Call(id) => {
                    let n = u32::from_le_bytes(item[..4].try_into().unwrap());
                    assert_eq!(n, delivered, "a gap or a duplicate");
                    delivered += 1;
                    p.a.ep.consume(stream, 1).ok();
                }
                Owned::Reply { id: c, .. } | Owned::CallFailed { id: c, .. } if c == id => {
                    end = Some(e)
                }
                _ => {}
            }
        }
        p.b.take_events();
        match end {
            Some(Owned::Reply { .. }) => {
                assert_eq!(delivered, TOTAL, "ended short without an error")
            }
            _ => errors += 1,
        }
    }
    assert!(
        errors > 0,
        "the faults never hit a stream: the test proves nothing"
    );
    assert!(
        packed_frames < TOTAL / 2,
        "items went packed: {packed_frames} frames"
    );
}
