//! `wirecall-bench bridge-tcp [--runs R] [--seconds S] [--warmup W]`: calls per second and
//! latency of `add` over loopback TCP, direct to the server and through a `Bridge` in front
//! of it (issue 16), at 1 and 32 calls in flight, alternating in the same run. The server
//! and the bridge are child processes (`serve tcp`, `serve bridge ADDR`), like the client a
//! process of its own, so that the bridge costs what it would between real programs.

use std::time::Instant;

use wirecall_adapters::host::{Bridge, BridgeOptions, Link};

use crate::rpc::{self, call_blocking, connect_blocking, spawn_child, Case, Opts};
use crate::stats::{RunResult, Window};

/// The bridge process: bridges to `target` and announces its own address.
pub(crate) fn serve(target: &str, announce: impl Fn(&str)) -> Result<(), String> {
    let target = target.to_string();
    let bridge = Bridge::start(
        move || Link::tcp(target.as_str()),
        None,
        BridgeOptions::default(),
    )
    .map_err(|e| e.to_string())?;
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = l.local_addr().map_err(|e| e.to_string())?;
    bridge.serve_tcp(l).map_err(|e| e.to_string())?;
    announce(&addr.to_string());
    loop {
        std::thread::park();
    }
}

/// One timed run in `win` of `inflight` threads calling `add` on one blocking client
/// connected to `addr` (TCP or Unix as `case` says; the NATS benchmark measures its direct
/// calls here too). The connection is made in the warm-up.
pub(crate) fn measure(
    case: Case,
    addr: &str,
    inflight: usize,
    win: Window,
) -> Result<RunResult, String> {
    let client = connect_blocking(case, addr)?;
    let threads: Vec<_> = (0..inflight)
        .map(|k| {
            let client = rpc::bench_service::Client::new(client.clone());
            std::thread::spawn(move || {
                let mut lats = Vec::with_capacity(1 << 16);
                let mut i = k as u64;
                loop {
                    let t0 = Instant::now();
                    call_blocking(&client, case, 0, i);
                    if !win.record(&mut lats, t0, Instant::now()) {
                        return lats;
                    }
                    i += inflight as u64;
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        all.extend(t.join().map_err(|_| "a calling thread panicked")?);
    }
    Ok(RunResult::from_lats(all, win.seconds()))
}

/// Runs the comparison and prints one line per run and a Markdown table of medians.
pub(crate) fn run(opts: &Opts) -> Result<(), String> {
    let server = spawn_child("tcp", &[])?;
    let bridge = spawn_child("bridge", &[&server.addr])?;
    let case = Case::parse("wirecall-tcp-add").ok_or("case")?;
    println!("| in flight | direct calls/s | bridged calls/s | ratio | direct p50/p99 µs | bridged p50/p99 µs | added p50/p99 µs |");
    println!("|---|---|---|---|---|---|---|");
    for inflight in [1, 32] {
        let (mut direct, mut bridged) = (Vec::new(), Vec::new());
        for _ in 0..opts.runs {
            let win = || Window::new(opts.warmup, opts.seconds);
            direct.push(measure(case, &server.addr, inflight, win())?);
            bridged.push(measure(case, &bridge.addr, inflight, win())?);
        }
        let med = |v: &[RunResult], f: fn(&RunResult) -> f64| {
            let mut x: Vec<f64> = v.iter().map(f).collect();
            x.sort_by(|a, b| a.total_cmp(b));
            x.get(x.len() / 2).copied().unwrap_or(f64::NAN)
        };
        let (dc, bc) = (med(&direct, RunResult::cps), med(&bridged, RunResult::cps));
        let (d50, b50) = (med(&direct, RunResult::p50), med(&bridged, RunResult::p50));
        let (d99, b99) = (med(&direct, RunResult::p99), med(&bridged, RunResult::p99));
        println!(
            "| {inflight} | {dc:.0} | {bc:.0} | {:.2}x | {d50:.1} / {d99:.1} | {b50:.1} / {b99:.1} | {:.1} / {:.1} |",
            bc / dc,
            b50 - d50,
            b99 - d99
        );
    }
    drop(bridge);
    drop(server);
    Ok(())
}
