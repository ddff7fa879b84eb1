//! The tokio flavour's cases: client and server each on a current-thread runtime, as the
//! async peers in peerbench run; `--inflight K` is K tasks sharing one client.

use std::time::{Duration, Instant};

use wirecall_adapters::host::tokio::{serve as serve_stream, AsyncClient, Inline};

use crate::proxy::Counters;
use crate::rpc::{add_args, bench_service as svc, check_add, check_echo, echo_payload, Case, Opts};
use crate::stats::{report, Bytes2, RunResult, Window};

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// Serves the benchmark service on every connection of a TCP or Unix listener.
pub(crate) fn serve(unix: bool, path: Option<&str>, announce: impl Fn(&str)) -> Result<(), String> {
    let rt = runtime()?;
    rt.block_on(async move {
        let config = wirecall::Config::default();
        if unix {
            let path = path.ok_or("a unix path")?;
            let _ = std::fs::remove_file(path);
            let l = tokio::net::UnixListener::bind(path).map_err(|e| e.to_string())?;
            announce(path);
            loop {
                let (s, _) = l.accept().await.map_err(|e| e.to_string())?;
                tokio::spawn(serve_stream(s, Inline(crate::rpc::handler()), config));
            }
        } else {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| e.to_string())?;
            announce(&l.local_addr().map_err(|e| e.to_string())?.to_string());
            loop {
                let (s, _) = l.accept().await.map_err(|e| e.to_string())?;
                let _ = s.set_nodelay(true);
                tokio::spawn(serve_stream(s, Inline(crate::rpc::handler()), config));
            }
        }
    })
}

pub(crate) async fn connect(case: Case, addr: &str) -> Result<AsyncClient, String> {
    let config = wirecall::Config::default();
    let client = if case.unix {
        let s = tokio::net::UnixStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        AsyncClient::over(s, config)
    } else {
        let s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        AsyncClient::over(s, config)
    };
    let t0 = Instant::now();
    while !client.stats().1 {
        if t0.elapsed() > Duration::from_secs(5) {
            return Err("no handshake within 5 s".into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(client)
}

async fn call(client: &AsyncClient, case: Case, size: usize, i: u64) {
    if case.echo {
        let got = client
            .call_typed::<svc::Echo>(&(serde_bytes::ByteBuf::from(echo_payload(size, i)),), None)
            .await
            .unwrap_or_else(|e| panic!("echo {i}: {e}"));
        check_echo(size, i, &got);
    } else {
        let args = add_args(i);
        let got = client
            .call_typed::<svc::Add>(&args, None)
            .await
            .unwrap_or_else(|e| panic!("add {i}: {e}"));
        check_add(i, got);
    }
}

/// One timed run on `rt` in `win`: `inflight` tasks share one client connected to `addr`,
/// each calling in a loop (the NATS benchmark measures its direct async calls here too).
pub(crate) fn measure(
    rt: &tokio::runtime::Runtime,
    case: Case,
    addr: &str,
    (inflight, size): (usize, usize),
    win: Window,
) -> Result<RunResult, String> {
    let lats = rt.block_on(async {
        let client = connect(case, addr).await?;
        let tasks: Vec<_> = (0..inflight)
            .map(|k| {
                let client = client.clone();
                let step = inflight as u64;
                tokio::spawn(async move {
                    let mut lats = Vec::with_capacity(1 << 16);
                    let mut i = k as u64;
                    loop {
                        let t0 = Instant::now();
                        call(&client, case, size, i).await;
                        if !win.record(&mut lats, t0, Instant::now()) {
                            return lats;
                        }
                        i += step;
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.map_err(|e| e.to_string())?);
        }
        client.close();
        Ok::<_, String>(all)
    })?;
    Ok(RunResult::from_lats(lats, win.seconds()))
}

/// Runs a tokio case: K tasks share one client, each calling in a loop.
pub(crate) fn run(name: &str, case: Case, opts: &Opts, addr: &str) -> Result<(), String> {
    if opts.wire_bytes {
        return crate::rpc::run_wire(name, case, opts, addr);
    }
    let rt = runtime()?;
    let mut runs = Vec::new();
    for _ in 0..opts.runs {
        // The connection is made in the warm-up.
        let win = Window::new(opts.warmup, opts.seconds);
        runs.push(measure(&rt, case, addr, (opts.inflight, opts.size), win)?);
    }
    report(name, opts.inflight, "current", "current", &runs);
    Ok(())
}

/// The calls of `--wire-bytes` through the proxy at `addr`.
pub(crate) fn wire_calls(
    case: Case,
    addr: &str,
    opts: &Opts,
    counters: &Counters,
) -> Result<(Bytes2, Bytes2, Bytes2), String> {
    let rt = runtime()?;
    rt.block_on(async {
        let settle = || tokio::time::sleep(Duration::from_millis(150));
        let client = connect(case, addr).await?;
        settle().await;
        let s0 = counters.snapshot();
        call(&client, case, opts.size, 0).await;
        settle().await;
        let s1 = counters.snapshot();
        for i in 1..=opts.byte_calls as u64 {
            call(&client, case, opts.size, i).await;
        }
        settle().await;
        let s2 = counters.snapshot();
        client.close();
        Ok((s0, s1, s2))
    })
}
