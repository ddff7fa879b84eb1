//! `wirecall-bench nats-tcp|nats-unix [--runs R] [--seconds S] [--warmup W] [--inflight
//! K,..] [--gateway PATH]`: calls per second and latency of `add` through NATS (an
//! async-nats client, `nats-server`, the `wirecall-gateway` binary, the demo server over
//! TCP or a Unix socket) against direct calls to the same demo server, at 1 and 32 in
//! flight (or the given counts), alternating in the same run.
//!
//! Five paths, each measured once per round in turn:
//!
//! * `direct blocking`: the blocking `Client`, K threads;
//! * `direct tokio`: the tokio `AsyncClient`, K tasks on a current-thread runtime;
//! * `NATS floor`: the NATS client requesting `add` from a plain responder that answers it
//!   itself (`nats_client::serve_floor`): the two hops through `nats-server` and the JSON,
//!   with no device behind them;
//! * `NATS gateway`: the NATS client requesting `wirecall.bench.add` from the gateway,
//!   which calls the demo server;
//! * `NATS async relay`: the NATS client requesting from a relay that calls the demo server
//!   with the tokio `AsyncClient` from the request's task (`nats_relay.rs`), where the
//!   gateway hands each call to a blocking thread.
//!
//! The demo server is `serve tcp`/`serve unix` (the host runtime's `serve_tcp`/`serve_unix`,
//! as `wirecall serve` runs it), the responder `serve nats-floor` and the relay `serve
//! nats-relay`, child processes of this binary like the other cases' servers. Every
//! program is stopped by its pid. Beside the times, each path's CPU per call in each
//! process (from `/proc/PID/stat` over the measured window) says where the time goes.

use std::path::PathBuf;
use std::time::Instant;

use crate::bridge;
use crate::nats_client::{self, FLOOR_SUBJECT};
use crate::nats_relay::RELAY_SUBJECT;
use crate::processes::{self, cpu_seconds};
use crate::rpc::{spawn_child, spawn_server, Case};
use crate::rpc_tokio;
use crate::stats::{RunResult, Window};

/// The device id the gateway serves the demo server as: requests go to `wirecall.bench.add`.
const DEVICE_ID: &str = "bench";

/// The command line of `nats-tcp`/`nats-unix`.
pub(crate) struct NatsOpts {
    runs: usize,
    seconds: f64,
    warmup: f64,
    inflight: Vec<usize>,
    gateway: Option<PathBuf>,
}

/// Parses the options after the mode's name.
pub(crate) fn parse(args: &[String]) -> Result<NatsOpts, String> {
    let mut o = NatsOpts {
        runs: 5,
        seconds: 2.0,
        warmup: 0.3,
        inflight: vec![1, 32],
        gateway: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let val = it.next().ok_or_else(|| format!("{a} needs a value"))?;
        let num = |v: &str| {
            v.parse::<f64>()
                .map_err(|_| format!("{a} takes a number, not `{v}`"))
        };
        match a.as_str() {
            "--runs" => {
                o.runs = val
                    .parse()
                    .map_err(|_| format!("--runs takes a number of runs, not `{val}`"))?
            }
            "--seconds" => o.seconds = num(val)?,
            "--warmup" => o.warmup = num(val)?,
            "--inflight" => {
                o.inflight = val
                    .split(',')
                    .map(|k| k.trim().parse::<usize>().ok().filter(|&k| k > 0))
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        format!("--inflight takes counts above 0 like 1,32, not `{val}`")
                    })?
            }
            "--gateway" => o.gateway = Some(PathBuf::from(val)),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if o.runs == 0 || o.seconds <= 0.0 || o.warmup < 0.0 {
        return Err("--runs and --seconds must be above 0, --warmup at least 0".into());
    }
    Ok(o)
}

/// The ways a call goes, in the order each round measures them.
#[derive(Clone, Copy)]
enum Path {
    DirectBlocking,
    DirectTokio,
    NatsFloor,
    NatsGateway,
    NatsRelay,
}

const PATHS: [Path; 5] = [
    Path::DirectBlocking,
    Path::DirectTokio,
    Path::NatsFloor,
    Path::NatsGateway,
    Path::NatsRelay,
];

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Path::DirectBlocking => "direct blocking",
            Path::DirectTokio => "direct tokio",
            Path::NatsFloor => "NATS floor",
            Path::NatsGateway => "NATS gateway",
            Path::NatsRelay => "NATS async relay",
        })
    }
}

/// The processes whose CPU time is counted, in the order of the CPU table's columns.
const PROCESSES: [&str; 6] = [
    "client (this process)",
    "nats-server",
    "floor responder",
    "gateway",
    "async relay",
    "demo server",
];

/// One path's runs: the timings and, per run, the CPU µs per call of each process.
#[derive(Default)]
struct PathRuns {
    runs: Vec<RunResult>,
    cpu_per_call: Vec<[f64; PROCESSES.len()]>,
}

/// Samples the CPU time of `pids` at the start and end of `win`, on a thread of its own
/// while the run goes on; returns each process's CPU seconds within the window.
fn cpu_during(
    win: Window,
    pids: [u32; PROCESSES.len()],
) -> std::thread::JoinHandle<[f64; PROCESSES.len()]> {
    std::thread::spawn(move || {
        let sample = || pids.map(|p| cpu_seconds(p).unwrap_or(f64::NAN));
        std::thread::sleep(win.start().saturating_duration_since(Instant::now()));
        let before = sample();
        std::thread::sleep(win.end().saturating_duration_since(Instant::now()));
        let after = sample();
        std::array::from_fn(|k| after[k] - before[k])
    })
}

/// The median of `v` (the mean of the middle two for an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The load averages (1, 5, 15 minutes) as `/proc/loadavg` gives them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The gateway binary: `--gateway`, else `wirecall-gateway` beside this binary (both are
/// built into the same target directory).
fn gateway_exe(opts: &NatsOpts) -> Result<PathBuf, String> {
    let exe = match &opts.gateway {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("wirecall-gateway"),
    };
    if !exe.is_file() {
        return Err(format!(
            "no gateway binary at {}: build it (cargo build --release -p wirecall-gateway) \
             or name it with --gateway PATH",
            exe.display()
        ));
    }
    Ok(exe)
}

/// Runs the comparison over TCP or a Unix socket and prints each run and the tables of
/// medians.
pub(crate) fn run(unix: bool, opts: &NatsOpts) -> Result<(), String> {
    let gateway_exe = gateway_exe(opts)?;
    let case = Case::parse(if unix {
        "wirecall-unix-add"
    } else {
        "wirecall-tcp-add"
    })
    .ok_or("case")?;
    let load_before = load_average();
    let (nats, url) = processes::nats_server()?;
    let server = spawn_server(case)?;
    let floor = spawn_child("nats-floor", &[&url])?;
    let link = if unix {
        format!("unix://{}", server.addr)
    } else {
        format!("tcp://{}", server.addr)
    };
    let gateway = processes::gateway(&gateway_exe, &url, DEVICE_ID, &link)?;
    let kind = if unix { "unix" } else { "tcp" };
    let relay = spawn_child("nats-relay", &[&url, kind, &server.addr])?;
    let subject = format!("wirecall.{DEVICE_ID}.add");
    let pids = [
        std::process::id(),
        nats.pid(),
        floor.pid(),
        gateway.pid(),
        relay.pid(),
        server.pid(),
    ];
    let rt = nats_client::runtime()?;
    println!(
        "# nats-{kind}: runs={} seconds={} warmup={}; demo server on {link}, {url}; load average {load_before}",
        opts.runs,
        opts.seconds,
        opts.warmup
    );
    let mut tables = Vec::new();
    for &inflight in &opts.inflight {
        let mut paths: [PathRuns; PATHS.len()] = Default::default();
        for round in 1..=opts.runs {
            for (k, path) in PATHS.into_iter().enumerate() {
                let win = Window::new(opts.warmup, opts.seconds);
                let cpu = cpu_during(win, pids);
                let nats_to = |to: &str| {
                    let lats = rt.block_on(nats_client::measure(&url, to, inflight, win))?;
                    Ok::<_, String>(RunResult::from_lats(lats, win.seconds()))
                };
                let r = match path {
                    Path::DirectBlocking => bridge::measure(case, &server.addr, inflight, win)?,
                    Path::DirectTokio => {
                        rpc_tokio::measure(&rt, case, &server.addr, (inflight, 0), win)?
                    }
                    Path::NatsFloor => nats_to(FLOOR_SUBJECT)?,
                    Path::NatsGateway => nats_to(&subject)?,
                    Path::NatsRelay => nats_to(RELAY_SUBJECT)?,
                };
                let cpu = cpu.join().map_err(|_| "the CPU sampler panicked")?;
                let calls = r.cps() * win.seconds();
                let per_call = cpu.map(|s| s * 1e6 / calls);
                println!(
                    "  {inflight:>2} in flight, round {round}, {path:<16}: {:>8.0} calls/s  p50 {:>8.1} us  p99 {:>8.1} us  CPU us/call {}",
                    r.cps(),
                    r.p50(),
                    r.p99(),
                    per_call.map(|c| format!("{c:.1}")).join(" / ")
                );
                paths[k].runs.push(r);
                paths[k].cpu_per_call.push(per_call);
            }
        }
        tables.push((inflight, paths));
    }
    let load_after = load_average();
    drop(relay);
    drop(gateway);
    drop(floor);
    drop(server);
    drop(nats);
    print_tables(&tables);
    println!("\nload average before {load_before}, after {load_after} (1, 5, 15 min)");
    Ok(())
}

/// The Markdown tables of medians: calls per second and ratios (medians of the per-round
/// ratios), latency, CPU per call.
fn print_tables(tables: &[(usize, [PathRuns; PATHS.len()])]) {
    let med = |p: &PathRuns, f: fn(&RunResult) -> f64| median(p.runs.iter().map(f).collect());
    // The median over rounds of path a's figure over path b's in the same round.
    let ratio = |a: &PathRuns, b: &PathRuns| {
        median(
            a.runs
                .iter()
                .zip(&b.runs)
                .map(|(x, y)| x.cps() / y.cps())
                .collect(),
        )
    };
    println!("\n| in flight | direct blocking calls/s | direct tokio calls/s | NATS floor calls/s | NATS gateway calls/s | NATS async relay calls/s | gateway / blocking | gateway / tokio | gateway / floor | relay / floor |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (inflight, p) in tables {
        let [b, t, f, g, r] = p;
        println!(
            "| {inflight} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
            med(b, RunResult::cps),
            med(t, RunResult::cps),
            med(f, RunResult::cps),
            med(g, RunResult::cps),
            med(r, RunResult::cps),
            ratio(g, b),
            ratio(g, t),
            ratio(g, f),
            ratio(r, f)
        );
    }
    println!("\n| in flight | path | p50 µs | p99 µs | added p50 / p99 µs vs direct blocking | added p50 / p99 µs vs direct tokio |");
    println!("|---:|---|---:|---:|---:|---:|");
    for (inflight, p) in tables {
        let (b50, b99) = (med(&p[0], RunResult::p50), med(&p[0], RunResult::p99));
        let (t50, t99) = (med(&p[1], RunResult::p50), med(&p[1], RunResult::p99));
        for (name, runs) in PATHS.iter().zip(p) {
            let (p50, p99) = (med(runs, RunResult::p50), med(runs, RunResult::p99));
            println!(
                "| {inflight} | {name} | {p50:.1} | {p99:.1} | {:.1} / {:.1} | {:.1} / {:.1} |",
                p50 - b50,
                p99 - b99,
                p50 - t50,
                p99 - t99
            );
        }
    }
    println!(
        "\n| in flight | path | {} | all |",
        PROCESSES.join(" µs/call | ") + " µs/call"
    );
    println!("|---:|---|{}---:|", "---:|".repeat(PROCESSES.len()));
    for (inflight, p) in tables {
        for (name, runs) in PATHS.iter().zip(p) {
            let per: Vec<f64> = (0..PROCESSES.len())
                .map(|k| median(runs.cpu_per_call.iter().map(|c| c[k]).collect()))
                .collect();
            let all = median(
                runs.cpu_per_call
                    .iter()
                    .map(|c| c.iter().sum::<f64>())
                    .collect(),
            );
            let cells: Vec<String> = per.iter().map(|c| format!("{c:.1}")).collect();
            println!("| {inflight} | {name} | {} | {all:.1} |", cells.join(" | "));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args(a: &str) -> Vec<String> {
        a.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options_have_defaults_and_bad_ones_are_named() {
        let o = parse(&[]).unwrap();
        assert_eq!((o.runs, o.seconds, o.warmup), (5, 2.0, 0.3));
        assert_eq!(o.inflight, [1, 32]);
        let o = parse(&args("--runs 3 --seconds 0.5 --inflight 8 --gateway /x/gw")).unwrap();
        assert_eq!((o.runs, o.seconds, o.inflight), (3, 0.5, vec![8]));
        assert_eq!(o.gateway, Some(PathBuf::from("/x/gw")));
        for (bad, says) in [
            ("--runs", "needs a value"),
            ("--runs x", "takes a number"),
            ("--seconds 1s", "takes a number"),
            ("--runs 0", "above 0"),
            ("--inflight 1,0", "counts above 0"),
            ("--inflight 1,,2", "counts above 0"),
            ("--fast 1", "unknown option --fast"),
        ] {
            let e = parse(&args(bad)).err().unwrap();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }

    #[test]
    fn a_missing_gateway_binary_says_how_to_build_it() {
        let o = parse(&args("--gateway /nonexistent/wirecall-gateway")).unwrap();
        let e = gateway_exe(&o).unwrap_err();
        assert!(
            e.contains("cargo build --release -p wirecall-gateway"),
            "{e}"
        );
    }
}
