//! Calls per second into a guest against the same service served natively, in one run,
//! both through `Client::over` a link: the example guest's `add` over the runner's channel,
//! and a native `plugin::HostHandler`'s over a Unix socket pair (`serve_link`). At 1 call
//! in flight (one thread) and 32 (32 threads on one client).
//!
//! `cargo build --target wasm32-unknown-unknown --release -p wirecall-guest-example &&
//! cargo run --release -p wirecall-wasm-host --example guest_calls [-- SECONDS ROUNDS]`
//! (2 s, 3 rounds by default; the median round is printed).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wirecall::WireError;
use wirecall_adapters::host::{serve_link, Client, ClientOptions, Link, ServeOptions};
use wirecall_guest_services::{plugin, Key, Value};
use wirecall_wasm_host::{Limits, Runner};

/// `plugin` served natively: the same answers as the guest's for `add` and `echo`.
struct Native;

impl plugin::HostHandler for Native {
    fn add(&self, a: i32, b: i32) -> Result<i32, WireError> {
        a.checked_add(b).ok_or(WireError::BadArguments)
    }
    fn echo(&self, data: Value) -> Result<Value, WireError> {
        Ok(data)
    }
    fn count(&self, _: &mut dyn wirecall::StreamItems<(), u32>, _: u32) -> Result<(), WireError> {
        Err(WireError::UnknownProcedure)
    }
    fn remember(&self, _: Key, _: Value) -> Result<Option<Value>, WireError> {
        Err(WireError::UnknownProcedure)
    }
    fn recall(&self, _: Key) -> Result<Option<Value>, WireError> {
        Err(WireError::UnknownProcedure)
    }
    fn trap(&self) -> Result<(), WireError> {
        Err(WireError::UnknownProcedure)
    }
    fn spin(&self) -> Result<(), WireError> {
        Err(WireError::UnknownProcedure)
    }
    fn flood(&self) -> Result<(), WireError> {
        Err(WireError::UnknownProcedure)
    }
    fn hog(&self) -> Result<(), WireError> {
        Err(WireError::UnknownProcedure)
    }
    fn poll_spin(&self) -> Result<(), WireError> {
        Err(WireError::UnknownProcedure)
    }
}

/// Calls `add` from `threads` threads for `seconds`; calls per second.
fn rate(client: &Client, threads: usize, seconds: f64) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (client, stop, done) = (client.clone(), stop.clone(), done.clone());
            std::thread::spawn(move || {
                let typed = plugin::Client::new(client);
                let mut i = 0i32;
                while !stop.load(Ordering::Relaxed) {
                    let sum = typed.add(i, t as i32).expect("add");
                    assert_eq!(sum, i + t as i32);
                    i = (i + 1) % 1000;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds / 4.0)); // warm-up
    let (start, before) = (Instant::now(), done.load(Ordering::Relaxed));
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let calls = done.load(Ordering::Relaxed) - before;
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("a caller");
    }
    calls as f64 / elapsed
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().map_or(Ok(2.0), |s| s.parse())?;
    let rounds: usize = args.next().map_or(Ok(3), |s| s.parse())?;
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let path = format!("{target}/wasm32-unknown-unknown/release/wirecall_guest_example.wasm");
    let wasm = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;

    let runner = Runner::new()?;
    let module = runner.compile(&wasm)?;
    let (link, guest) = runner.start(&module, "bench", Limits::default())?;
    let to_guest = Client::over(link, ClientOptions::default())?;

    let (here, there) = UnixStream::pair()?;
    let server = std::thread::spawn(move || {
        let link = Link::from_unix(there).expect("a link");
        serve_link(link, plugin::serve(Native), ServeOptions::default())
    });
    let to_native = Client::over(Link::from_unix(here)?, ClientOptions::default())?;

    println!("in flight\tguest calls/s\tnative calls/s\tguest/native");
    for threads in [1, 32] {
        let (mut g, mut n) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            g.push(rate(&to_guest, threads, seconds));
            n.push(rate(&to_native, threads, seconds));
        }
        let (g, n) = (median(g), median(n));
        println!("{threads}\t{g:.0}\t{n:.0}\t{:.2}", g / n);
    }
    drop(to_guest);
    drop(to_native);
    println!("guest: {}", guest.wait());
    let _ = server.join();
    Ok(())
}
