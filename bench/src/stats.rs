//! Timing windows, latency statistics and the `RESULT`/`WIRE` lines peerbench reads.

use std::time::{Duration, Instant};

/// The measured part of a run: after the warm-up, for the given seconds.
#[derive(Clone, Copy)]
pub(crate) struct Window {
    start: Instant,
    end: Instant,
}

impl Window {
    pub(crate) fn new(warmup: f64, seconds: f64) -> Window {
        let start = Instant::now() + Duration::from_secs_f64(warmup);
        Window {
            start,
            end: start + Duration::from_secs_f64(seconds),
        }
    }

    /// Records a call from `t0` to `t1`; false once the window is over.
    pub(crate) fn record(&self, lats: &mut Vec<u32>, t0: Instant, t1: Instant) -> bool {
        if t1 >= self.end {
            return false;
        }
        if t0 >= self.start {
            lats.push((t1 - t0).as_nanos().min(u128::from(u32::MAX)) as u32);
        }
        true
    }

    /// When the measured part begins.
    pub(crate) fn start(&self) -> Instant {
        self.start
    }

    /// When the measured part ends.
    pub(crate) fn end(&self) -> Instant {
        self.end
    }

    pub(crate) fn seconds(&self) -> f64 {
        (self.end - self.start).as_secs_f64()
    }
}

/// One run's calls per second and latency percentiles.
pub(crate) struct RunResult {
    cps: f64,
    p50_us: f64,
    p99_us: f64,
}

impl RunResult {
    /// Calls per second.
    pub(crate) fn cps(&self) -> f64 {
        self.cps
    }

    /// Median latency, µs.
    pub(crate) fn p50(&self) -> f64 {
        self.p50_us
    }

    /// 99th percentile latency, µs.
    pub(crate) fn p99(&self) -> f64 {
        self.p99_us
    }

    pub(crate) fn from_lats(mut lats: Vec<u32>, seconds: f64) -> RunResult {
        lats.sort_unstable();
        let pct = |p: f64| {
            if lats.is_empty() {
                return f64::NAN;
            }
            let i = ((p * lats.len() as f64).ceil() as usize).clamp(1, lats.len()) - 1;
            f64::from(lats[i]) / 1000.0
        };
        RunResult {
            cps: lats.len() as f64 / seconds,
            p50_us: pct(0.5),
            p99_us: pct(0.99),
        }
    }
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let med = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    (med, v[0], v[n - 1])
}

/// Prints the runs and the `RESULT` line (tab-separated, peerbench's format).
pub(crate) fn report(
    case: &str,
    inflight: usize,
    client_rt: &str,
    server_rt: &str,
    runs: &[RunResult],
) {
    for (k, r) in runs.iter().enumerate() {
        println!(
            "  run {}: {:>10.0} calls/s  p50 {:>8.1} us  p99 {:>8.1} us",
            k + 1,
            r.cps,
            r.p50_us,
            r.p99_us
        );
    }
    let (c, cl, ch) = median(runs.iter().map(|r| r.cps).collect());
    let (p, pl, ph) = median(runs.iter().map(|r| r.p50_us).collect());
    let (q, ql, qh) = median(runs.iter().map(|r| r.p99_us).collect());
    println!(
        "RESULT\t{case}\t{inflight}\t{client_rt}\t{server_rt}\t{}\t{c:.0}\t{cl:.0}\t{ch:.0}\t{p:.1}\t{pl:.1}\t{ph:.1}\t{q:.1}\t{ql:.1}\t{qh:.1}",
        runs.len()
    );
}

/// Bytes each way.
#[derive(Clone, Copy, Default)]
pub(crate) struct Bytes2 {
    pub(crate) c2s: u64,
    pub(crate) s2c: u64,
}

impl std::ops::Sub for Bytes2 {
    type Output = Bytes2;
    fn sub(self, o: Bytes2) -> Bytes2 {
        Bytes2 {
            c2s: self.c2s - o.c2s,
            s2c: self.s2c - o.s2c,
        }
    }
}

/// Bytes of connection set-up, of the first call, and of `calls` calls after it.
pub(crate) struct WireReport {
    pub(crate) setup: Bytes2,
    pub(crate) first: Bytes2,
    pub(crate) steady: Bytes2,
    pub(crate) calls: usize,
}

/// Prints the `WIRE` line (tab-separated, peerbench's format).
pub(crate) fn report_wire(case: &str, w: &WireReport) {
    let n = w.calls as f64;
    let (c2s, s2c) = (w.steady.c2s as f64 / n, w.steady.s2c as f64 / n);
    println!(
        "  setup {} + {} B; first call {} + {} B; steady {c2s:.2} + {s2c:.2} = {:.2} B per call",
        w.setup.c2s,
        w.setup.s2c,
        w.first.c2s,
        w.first.s2c,
        c2s + s2c
    );
    println!(
        "WIRE\t{case}\t{}\t{}\t{}\t{}\t{c2s:.2}\t{s2c:.2}\t{:.2}",
        w.setup.c2s,
        w.setup.s2c,
        w.first.c2s,
        w.first.s2c,
        c2s + s2c
    );
}
