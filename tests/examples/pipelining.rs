//! What pipelining saves over a 115200-baud serial line, in the simulated pair (virtual
//! time, so the figures are exact and the same on every run):
//! `cargo run --release -p wirecall-tests --example pipelining`.
//!
//! A host opens a sensor channel on a device (the demo service's `open`, which returns a
//! handle), configures it and reads it: three calls. Waiting, each call leaves once the
//! answer before it has arrived; pipelined, the two method calls leave with the open,
//! naming "the handle that the open returns". Printed for a few one-way latencies of the
//! line (the 115200-baud bytes themselves take 86.8 us each).

#![allow(clippy::expect_used)] // a measurement tool: a failed step should stop it loudly

use std::time::Duration;

use wirecall_tests::pipelining::chain;

fn main() {
    println!("baud\tlatency each way (ms)\twaiting (ms)\tpipelined (ms)\tsaved (ms)\tsaved\twire bytes to the device\twire bytes to the host");
    for latency_us in [100, 2_000, 16_000] {
        let latency = Duration::from_micros(latency_us);
        let waiting = chain(115_200, latency, false);
        let pipelined = chain(115_200, latency, true);
        assert_eq!(
            (waiting.previous_scale, waiting.reading),
            (pipelined.previous_scale, pipelined.reading),
            "the same answers either way"
        );
        assert_eq!(
            (waiting.to_device, waiting.to_host),
            (pipelined.to_device, pipelined.to_host),
            "the same bytes either way"
        );
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let saved = waiting.took - pipelined.took;
        println!(
            "115200\t{:.1}\t{:.2}\t{:.2}\t{:.2}\t{:.0} %\t{}\t{}",
            latency_us as f64 / 1000.0,
            ms(waiting.took),
            ms(pipelined.took),
            ms(saved),
            100.0 * saved.as_secs_f64() / waiting.took.as_secs_f64(),
            waiting.to_device,
            waiting.to_host,
        );
    }
}
