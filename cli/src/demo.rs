//! The demo: a device and a host over a simulated serial line.
//!
//! Times shown are simulated: the line moves one byte per 86.8 us (115200 baud, 8N1), so
//! they are what the same exchange takes on a real UART at that rate, not how long this
//! process took.

use std::time::Duration;

use wirecall::{CallFailure, Duration as CoreDuration, Instant, Procedure, Stats};
use wirecall_adapters::sim::Faults;
use wirecall_tests::demo::demo;
use wirecall_tests::engine::Owned;
use wirecall_tests::pair::{Pair, Serve, Side};

type Device = wirecall::Endpoint<256, 4, 4, 576>;
type Host = wirecall::Endpoint<1024, 16, 16, 2100>;

fn enc<T: serde_like::Ser>(v: &T) -> Vec<u8> {
    v.bytes()
}

/// Serialising helpers kept local so the demo reads as plain calls.
mod serde_like {
    pub(super) trait Ser {
        fn bytes(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Ser for T {
        fn bytes(&self) -> Vec<u8> {
            postcard::to_allocvec(self).unwrap_or_default()
        }
    }
}

pub(crate) fn run(seed: u64) {
    println!("wirecall demo: a device and a host over a simulated 115200-baud serial line\n");
    let device = Device::new(
        Instant::ZERO,
        wirecall::Config::default().with_manifest(&demo::MANIFEST),
    );
    let host = Host::new(
        Instant::ZERO,
        wirecall::Config::default().expecting_schema(demo::SCHEMA_HASH),
    );
    let mut p = Pair::with_line(
        Side::new(host, Serve::Hold),
        Side::new(device, Serve::Dispatch),
        115_200,
        Duration::from_micros(50),
        seed,
    );

    p.connect();
    let Some(Owned::Connected(peer)) = p.a.events.first().cloned() else {
        return;
    };
    println!(
        "handshake done at {}: device accepts {}-byte frames, serves {} calls at once, schema {:08x} (matches)",
        ms(p.now),
        peer.max_frame,
        peer.max_inbound,
        peer.schema
    );
    p.a.take_events();

    section("one call");
    let (a0, b0) = (p.a.ep.stats().bytes_out, p.b.ep.stats().bytes_out);
    let (reply, took) = call(&mut p, demo::Add::ID, &enc(&(2i32, 40i32)));
    let wire = p.a.ep.stats().bytes_out - a0 + p.b.ep.stats().bytes_out - b0;
    println!(
        "add(2, 40) = {}   in {}, {} bytes on the wire for request and reply",
        show::<i32>(&reply),
        ms(took),
        wire
    );
    let text =
        heapless::Vec::<u8, 200>::from_slice(b"hello over a serial line").unwrap_or_default();
    let (reply, took) = call(&mut p, demo::Echo::ID, &enc(&(text,)));
    let echoed = reply
        .ok()
        .and_then(|r| demo::Echo::output(&r).ok())
        .map(|v| String::from_utf8_lossy(&v).into_owned());
    println!(
        "echo(\"hello over a serial line\") = {:?}   in {}",
        echoed.unwrap_or_default(),
        ms(took)
    );

    section("four calls in flight at once");
    let start = p.now;
    let ids: Vec<_> = (0..4)
        .filter_map(|i| {
            p.a.ep
                .call(p.instant(), demo::Add::ID, &enc(&(i, i * 10)), None)
                .ok()
        })
        .collect();
    match p.a.ep.call(p.instant(), demo::Add::ID, &enc(&(9, 9)), None) {
        Err(e) => println!("a fifth call is refused locally: {e} (the device serves 4 at once)"),
        Ok(_) => println!("a fifth call was accepted (unexpected)"),
    }
    p.run_until(Duration::from_secs(1), |p| replies(p) >= ids.len());
    for ev in p.a.take_events() {
        if let Owned::Reply { id, payload } = ev {
            println!("  call {} -> {}", id.wire(), show::<i32>(&Ok(payload)));
        }
    }
    println!("all four answered in {}", ms(p.now - start));

    section("explicit errors, never silence");
    for (what, proc_id, args) in [
        ("procedure 42 (does not exist)", 42, vec![]),
        ("add with one byte of arguments", demo::Add::ID, vec![1]),
        ("fail()", demo::Fail::ID, vec![]),
        (
            "huge() (result larger than a frame)",
            demo::Huge::ID,
            vec![],
        ),
    ] {
        let (r, _) = call(&mut p, proc_id, &args);
        println!(
            "  {what:40} -> {}",
            r.err().map(|e| e.to_string()).unwrap_or_default()
        );
    }
    p.b.serve = Serve::Hold;
    let (r, took) = call_with_timeout(&mut p, CoreDuration::from_millis(200));
    println!(
        "  {:40} -> {} after {}",
        "a call the device never answers (200 ms)",
        r.err().unwrap_or_default(),
        ms(took)
    );
    p.b.serve = Serve::Dispatch;

    section("a noisy line: 0.4% of bytes damaged (0.1% each dropped, flipped, duplicated, noise inserted)");
    let noise = Faults {
        drop: 0.001,
        flip: 0.001,
        duplicate: 0.001,
        insert: 0.001,
        cut: false,
    };
    p.ab.set_faults(noise);
    p.ba.set_faults(noise);
    let (mut ok, mut failed) = (0, 0);
    for i in 0..100i32 {
        match call_with(
            &mut p,
            demo::Add::ID,
            &enc(&(i, 1)),
            Some(CoreDuration::from_millis(300)),
        )
        .0
        {
            Ok(_) => ok += 1,
            Err(_) => failed += 1,
        }
    }
    p.ab.set_faults(Faults::NONE);
    p.ba.set_faults(Faults::NONE);
    let (la, lb) = (p.ab.stats(), p.ba.stats());
    println!(
        "100 calls: {ok} answered, {failed} ended with an explicit error (deadline); the line damaged {} bytes,\n\
         every damaged frame was caught by its CRC or framing and the link resynchronised at the next delimiter",
        la.dropped + la.flipped + la.duplicated + la.inserted + lb.dropped + lb.flipped + lb.duplicated + lb.inserted
    );
    let (r, _) = call(&mut p, demo::Add::ID, &enc(&(1i32, 1i32)));
    println!("noise over: add(1, 1) = {}", show::<i32>(&r));

    section("link statistics");
    print_stats(&p.a.ep.stats(), &p.b.ep.stats());
    println!("\nsimulated time elapsed: {}", ms(p.now));
}

/// A call's reply, or why it failed in words.
pub(crate) type Outcome = Result<Vec<u8>, String>;

fn call(p: &mut Pair, procedure: u32, args: &[u8]) -> (Outcome, Duration) {
    call_with(p, procedure, args, None)
}

fn call_with_timeout(p: &mut Pair, timeout: CoreDuration) -> (Outcome, Duration) {
    call_with(p, demo::Add::ID, &enc(&(1i32, 2i32)), Some(timeout))
}

/// Makes one call and runs the line until it ends; returns its outcome and how long it took.
fn call_with(
    p: &mut Pair,
    procedure: u32,
    args: &[u8],
    timeout: Option<CoreDuration>,
) -> (Outcome, Duration) {
    // Like a real client, wait for a free slot (a call that timed out holds its slot until
    // the device's final word, or the late-reply grace period).
    p.run_until(Duration::from_secs(2), |p| p.a.ep.slots_in_use().0 < 4);
    let start = p.now;
    let id = match p.a.ep.call(p.instant(), procedure, args, timeout) {
        Ok(id) => id,
        Err(e) => return (Err(e.to_string()), Duration::ZERO),
    };
    let mut outcome = None;
    p.run_until(Duration::from_secs(10), |p| {
        for ev in p.a.take_events() {
            outcome = outcome.take().or_else(|| outcome_of(ev, id));
        }
        outcome.is_some()
    });
    (
        outcome.unwrap_or_else(|| Err("no outcome".into())),
        p.now - start,
    )
}

/// What event `ev` says of call `id`, if it is that call's end: its reply, or why it failed
/// in words (the Morse demo shows calls the same way).
pub(crate) fn outcome_of(ev: Owned, id: wirecall::CallId) -> Option<Outcome> {
    match ev {
        Owned::Reply { id: got, payload } if got == id => Some(Ok(payload)),
        Owned::CallFailed {
            id: got,
            reason,
            detail,
        } if got == id => Some(Err(match reason {
            CallFailure::Remote(e) if !detail.is_empty() => {
                format!("{e}: {}", String::from_utf8_lossy(&detail))
            }
            CallFailure::Remote(e) => format!("remote error: {e}"),
            CallFailure::DeadlineExceeded => "deadline exceeded".to_string(),
            other => format!("{other:?}"),
        })),
        _ => None,
    }
}

fn replies(p: &Pair) -> usize {
    p.a.events
        .iter()
        .filter(|e| matches!(e, Owned::Reply { .. }))
        .count()
}

fn show<T: serde::de::DeserializeOwned + std::fmt::Debug>(r: &Outcome) -> String {
    match r {
        Ok(bytes) => wirecall::decode_exact::<T>(bytes)
            .map(|v| format!("{v:?}"))
            .unwrap_or_else(|e| e.to_string()),
        Err(e) => e.clone(),
    }
}

fn section(title: &str) {
    println!("\n== {title}");
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn print_stats(host: &Stats, device: &Stats) {
    let rows: [(&str, u32, u32); 12] = [
        ("bytes out", host.bytes_out, device.bytes_out),
        ("frames out", host.frames_out, device.frames_out),
        ("frames in (valid)", host.frames_in, device.frames_in),
        ("CRC errors", host.crc_errors, device.crc_errors),
        ("framing errors", host.framing_errors, device.framing_errors),
        ("calls sent", host.calls_sent, device.calls_sent),
        (
            "requests served",
            host.requests_received,
            device.requests_received,
        ),
        ("late replies", host.late_replies, device.late_replies),
        (
            "calls timed out",
            host.calls_timed_out,
            device.calls_timed_out,
        ),
        (
            "cancels sent / received",
            host.cancels_sent,
            device.cancels_received,
        ),
        ("pings sent", host.pings_sent, device.pings_sent),
        ("handshakes", host.handshakes, device.handshakes),
    ];
    println!("  {:26} {:>8} {:>8}", "", "host", "device");
    for (name, h, d) in rows {
        println!("  {name:26} {h:>8} {d:>8}");
    }
}
