//! How much of a 115200-baud serial line a stream's payload fills, in the simulated pair
//! (virtual time, so the figure is exact and the same on every run):
//! `cargo run --release -p wirecall-tests --example stream_efficiency [item bytes] [items]`
//! (items up to 245 bytes: the device's frames are 256).
//!
//! A device (MCU-size endpoint) streams `items` items of `item bytes` to a host that
//! consumes each at once; the line carries 8N1 bytes, 11,520 per second. Prints the
//! payload rate as a share of that, with the stream window at 8 (the default) and larger,
//! sending each item in a frame of its own (`send_item`) and packing as many as fit in one
//! frame (`send_items`).

#![allow(clippy::expect_used)] // a measurement tool: a failed step should stop it loudly

use std::time::Duration;

use wirecall::{Config, Instant, Open, StreamId, StreamMode};
use wirecall_tests::engine::Owned;
use wirecall_tests::pair::{Pair, Serve, Side};

type Host = wirecall::Endpoint<1024, 16, 16, 2100>;
type Mcu = wirecall::Endpoint<256, 4, 4, 576>;

fn run(item: usize, items: usize, window: u32, packed: bool) -> (f64, Duration, u64) {
    let config = Config::default().with_stream_window(window);
    let mut p = Pair::new(
        Side::new(Host::new(Instant::ZERO, config), Serve::Hold),
        Side::new(Mcu::new(Instant::ZERO, config), Serve::Hold),
    );
    p.connect();
    let now = p.instant();
    let id =
        p.a.ep
            .open(now, 1, &[], Open::stream(StreamMode::ServerStream))
            .expect("open");
    assert!(p.run_until(Duration::from_secs(1), |p| !p.b.held_requests().is_empty()));
    let (rid, _, _) = p.b.held_requests()[0].clone();
    let start = p.now;
    let written_before = p.ba.stats().written;
    let payload = vec![0x5au8; item];
    let mut sent = 0;
    let done = p.run_until(Duration::from_secs(3600), |p| {
        while sent < items && p.b.ep.credit(StreamId::Request(rid)) > 0 {
            let stream = StreamId::Request(rid);
            let went = if packed {
                let batch: Vec<&[u8]> =
                    (sent..items).map(|_| payload.as_slice()).take(64).collect();
                p.b.ep.send_items(stream, &batch)
            } else {
                p.b.ep.send_item(stream, &payload).map(|()| 1)
            };
            match went {
                Ok(n) => sent += n,
                Err(_) => break, // transmit queue full: the line drains it
            }
        }
        if sent == items {
            let _ = p.b.ep.respond(rid, &[]);
        }
        p.a.events
            .iter()
            .any(|e| matches!(e, Owned::Reply { id: c, .. } if *c == id))
    });
    assert!(done, "the stream did not finish");
    let took = p.now - start;
    let wire = p.ba.stats().written - written_before;
    let share = (items * item) as f64 / took.as_secs_f64() / 11_520.0;
    (share, took, wire)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let item = args.first().copied().unwrap_or(64);
    let items = args.get(1).copied().unwrap_or(2000);
    println!("item bytes\titems\twindow\tframes\tvirtual seconds\twire bytes from the device\twire bytes per item\tpayload share of 11,520 B/s");
    for packed in [false, true] {
        for window in [8, 16, 64] {
            let (share, took, wire) = run(item, items, window, packed);
            println!(
                "{item}\t{items}\t{window}\t{}\t{:.3}\t{wire}\t{:.2}\t{:.1} %",
                if packed { "packed" } else { "one per item" },
                took.as_secs_f64(),
                wire as f64 / items as f64,
                share * 100.0
            );
        }
    }
}
