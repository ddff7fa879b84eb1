//! The RPC cases of `../shared/peerbench`'s EXTRA interface: `add` and `echo` over TCP and
//! Unix sockets, with the blocking and the tokio flavour, a server in a child process as
//! the peers have, K calls in flight on one client.
//!
//! Cases: `wirecall-{tcp,unix}-{add,echo}` (blocking `Client`, `serve_tcp`/`serve_unix`)
//! and `wirecall-tokio-{tcp,unix}-{add,echo}` (`AsyncClient` and `tokio::serve` on
//! current-thread runtimes). The argument values are peerbench's: `add(1000 + i % 1000,
//! 5678)`, and `echo` of N bytes whose first 8 carry the call number.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wirecall::WireError;
use wirecall_adapters::host::{self, Client, ClientOptions, Link};

use crate::stats::{report, report_wire, Bytes2, RunResult, Window, WireReport};

wirecall::service! {
    /// The benchmark's service: the same two procedures as the peers'.
    pub mod bench_service {
        /// `a + b`, wrapping.
        0 => Add: fn add(a: i32, b: i32) -> i32;
        /// Its bytes back (a byte string: as the peers' benchmarks, `serde_bytes`).
        1 => Echo: fn echo(data: serde_bytes::ByteBuf) -> serde_bytes::ByteBuf;
    }
}

use bench_service as svc;

struct Service;

impl svc::Handler for Service {
    fn add(&mut self, a: i32, b: i32) -> Result<i32, WireError> {
        Ok(a.wrapping_add(b))
    }
    fn echo(&mut self, data: serde_bytes::ByteBuf) -> Result<serde_bytes::ByteBuf, WireError> {
        Ok(data)
    }
}

// The blocking servers serve it the way an application does: through the generated glue.
impl svc::HostHandler for Service {
    fn add(&self, a: i32, b: i32) -> Result<i32, WireError> {
        Ok(a.wrapping_add(b))
    }
    fn echo(&self, data: serde_bytes::ByteBuf) -> Result<serde_bytes::ByteBuf, WireError> {
        Ok(data)
    }
}

/// The service as a host handler for the tokio flavour's `Inline` (encoding into a buffer
/// sized for the largest echo).
pub(crate) fn handler() -> Box<dyn host::Handler> {
    Box::new(|procedure: u32, args: &[u8]| {
        let mut out = vec![0u8; args.len() + 16];
        match svc::dispatch(&mut Service, procedure, args, &mut out) {
            Ok(n) => {
                out.truncate(n);
                Ok(out)
            }
            Err(e) => Err((e, String::new())),
        }
    })
}

/// Options of one run, as peerbench passes them.
pub(crate) struct Opts {
    pub(crate) runs: usize,
    pub(crate) seconds: f64,
    pub(crate) warmup: f64,
    pub(crate) inflight: usize,
    pub(crate) size: usize,
    pub(crate) wire_bytes: bool,
    pub(crate) byte_calls: usize,
}

/// A parsed case name.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Case {
    pub(crate) tokio: bool,
    /// One thread keeping K calls in flight with `Client::start` (blocking flavour).
    pub(crate) pipelined: bool,
    pub(crate) unix: bool,
    pub(crate) echo: bool,
}

impl Case {
    pub(crate) fn parse(name: &str) -> Option<Case> {
        let rest = name.strip_prefix("wirecall-")?;
        let (tokio, rest) = match rest.strip_prefix("tokio-") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let (pipelined, rest) = match rest.strip_prefix("pipelined-") {
            Some(r) if !tokio => (true, r),
            _ => (false, rest),
        };
        let (unix, op) = match rest.split_once('-')? {
            ("tcp", op) => (false, op),
            ("unix", op) => (true, op),
            _ => return None,
        };
        let echo = match op {
            "add" => false,
            "echo" => true,
            _ => return None,
        };
        Some(Case {
            tokio,
            pipelined,
            unix,
            echo,
        })
    }
}

/// The server process: `wirecall-bench serve <tcp|unix|tokio-tcp|tokio-unix> [path]` (or
/// `bridge ADDR`, `nats-floor NATS_URL`, `nats-relay NATS_URL tcp|unix ADDR`). Prints
/// `LISTEN <addr>` and serves until its stdin closes.
pub(crate) fn serve(kind: &str, args: &[String]) -> Result<(), String> {
    let path = args.first().map(String::as_str);
    // Exit when the parent goes away (it holds our stdin).
    std::thread::spawn(|| {
        let mut sink = String::new();
        let _ = std::io::stdin().read_line(&mut sink);
        std::process::exit(0);
    });
    let announce = |addr: &str| {
        let mut o = std::io::stdout();
        let _ = writeln!(o, "LISTEN {addr}");
        let _ = o.flush();
    };
    let config = wirecall::Config::default();
    match kind {
        "tcp" | "unix" => {
            let _server = if kind == "tcp" {
                let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
                announce(&l.local_addr().map_err(|e| e.to_string())?.to_string());
                host::serve_tcp(l, svc::serve(Service), config).map_err(|e| e.to_string())?
            } else {
                let path = path.ok_or("a unix path")?;
                let _ = std::fs::remove_file(path);
                let l = std::os::unix::net::UnixListener::bind(path).map_err(|e| e.to_string())?;
                announce(path);
                host::serve_unix(l, svc::serve(Service), config).map_err(|e| e.to_string())?
            };
            loop {
                std::thread::park();
            }
        }
        "tokio-tcp" | "tokio-unix" => crate::rpc_tokio::serve(kind == "tokio-unix", path, announce),
        "bridge" => crate::bridge::serve(path.ok_or("the address to bridge to")?, announce),
        "nats-floor" => crate::nats_client::serve_floor(path.ok_or("the NATS URL")?, announce),
        "nats-relay" => match args {
            [url, link, addr] => crate::nats_relay::serve(url, link == "unix", addr, announce),
            _ => Err("nats-relay takes NATS_URL tcp|unix ADDR".into()),
        },
        other => Err(format!("unknown server kind {other}")),
    }
}

/// The server child process of one case.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: String,
    unix: Option<String>,
}

impl Server {
    /// The child's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(p) = &self.unix {
            let _ = std::fs::remove_file(p);
        }
    }
}

pub(crate) fn spawn_server(case: Case) -> Result<Server, String> {
    let kind = match (case.tokio, case.unix) {
        (false, false) => "tcp",
        (false, true) => "unix",
        (true, false) => "tokio-tcp",
        (true, true) => "tokio-unix",
    };
    let unix = case.unix.then(|| {
        std::env::temp_dir()
            .join(format!("wirecall-bench-{}.sock", std::process::id()))
            .display()
            .to_string()
    });
    let mut server = spawn_child(kind, unix.as_deref().as_slice())?;
    server.unix = unix;
    Ok(server)
}

/// `wirecall-bench serve KIND [ARG..]` as a child process, once it announced its address.
pub(crate) fn spawn_child(kind: &str, args: &[&str]) -> Result<Server, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.arg("serve").arg(kind).args(args);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    let addr = line
        .trim()
        .strip_prefix("LISTEN ")
        .ok_or_else(|| format!("the server did not announce itself: {line:?}"))?
        .to_string();
    Ok(Server {
        child,
        addr,
        unix: None,
    })
}

/// peerbench's `add` arguments for call `i`.
pub(crate) fn add_args(i: u64) -> (i32, i32) {
    (1000 + (i % 1000) as i32, 5678)
}

/// peerbench's echo payload for call `i`.
pub(crate) fn echo_payload(size: usize, i: u64) -> Vec<u8> {
    let mut v: Vec<u8> = (0..size).map(|k| (k % 251) as u8).collect();
    let n = size.min(8);
    v[..n].copy_from_slice(&i.to_le_bytes()[..n]);
    v
}

/// One call with the blocking client (the generated typed client, as an application
/// calls), checked.
pub(crate) fn call_blocking(client: &svc::Client<Client>, case: Case, size: usize, i: u64) {
    if case.echo {
        let data = serde_bytes::ByteBuf::from(echo_payload(size, i));
        let got = client
            .echo(data)
            .unwrap_or_else(|e| panic!("echo {i}: {e}"));
        check_echo(size, i, &got);
    } else {
        let (a, b) = add_args(i);
        assert_eq!(client.add(a, b), Ok(a + b), "add {i}");
    }
}

pub(crate) fn connect_blocking(case: Case, addr: &str) -> Result<Client, String> {
    let addr = addr.to_string();
    let link = move || {
        if case.unix {
            Link::unix(&addr)
        } else {
            Link::tcp(addr.as_str())
        }
    };
    let client = Client::connect(link, ClientOptions::default()).map_err(|e| e.to_string())?;
    if !client.wait_connected(Duration::from_secs(5)) {
        return Err("no handshake within 5 s".into());
    }
    Ok(client)
}

/// Starts call `i` in `batch` without waiting for it.
fn start_blocking(
    batch: &mut host::Batch<'_>,
    case: Case,
    size: usize,
    i: u64,
) -> host::PendingCall {
    let args = if case.echo {
        postcard::to_allocvec(&(serde_bytes::ByteBuf::from(echo_payload(size, i)),))
    } else {
        postcard::to_allocvec(&add_args(i))
    };
    let procedure = if case.echo { 1 } else { 0 };
    batch
        .start(procedure, &args.unwrap_or_default(), None)
        .unwrap_or_else(|e| panic!("call {i}: {e}"))
}

/// Checks the outcome of call `i`.
fn check_blocking(case: Case, size: usize, i: u64, outcome: host::CallOutcome) {
    let bytes = outcome.unwrap_or_else(|e| panic!("call {i}: {e}"));
    if case.echo {
        let got = wirecall::decode_exact::<serde_bytes::ByteBuf>(&bytes).unwrap_or_default();
        check_echo(size, i, &got);
    } else {
        check_add(i, wirecall::decode_exact::<i32>(&bytes).unwrap_or_default());
    }
}

/// One thread keeps `inflight` calls in flight: it waits for the oldest, collects every
/// other reply already in, and starts as many calls again in one batch (one write).
fn drive_pipelined(client: &Client, case: Case, opts: &Opts, win: Window) -> Vec<u32> {
    let mut lats = Vec::with_capacity(1 << 20);
    let mut flying = std::collections::VecDeque::with_capacity(opts.inflight);
    let mut next = 0u64;
    let mut refill = opts.inflight;
    loop {
        let mut batch = client.batch();
        for _ in 0..refill {
            let pending = start_blocking(&mut batch, case, opts.size, next);
            flying.push_back((next, Instant::now(), pending));
            next += 1;
        }
        batch.send();
        refill = 0;
        let mut more = true;
        while let Some((i, t0, pending)) = flying.pop_front() {
            check_blocking(case, opts.size, i, pending.wait());
            refill += 1;
            more = win.record(&mut lats, t0, Instant::now());
            if !more || !flying.front().is_some_and(|f| f.2.is_ready()) {
                break;
            }
        }
        if !more {
            break;
        }
    }
    for (i, _, pending) in flying {
        check_blocking(case, opts.size, i, pending.wait());
    }
    lats
}

/// Runs a blocking case: K threads share one client, each calling in a loop (or one
/// thread keeps K calls in flight, for the pipelined cases).
pub(crate) fn run_blocking(name: &str, case: Case, opts: &Opts, addr: &str) -> Result<(), String> {
    if opts.wire_bytes {
        return run_wire(name, case, opts, addr);
    }
    if case.pipelined {
        let mut runs = Vec::new();
        for _ in 0..opts.runs {
            let client = connect_blocking(case, addr)?;
            let win = Window::new(opts.warmup, opts.seconds);
            let lats = drive_pipelined(&client, case, opts, win);
            runs.push(RunResult::from_lats(lats, win.seconds()));
        }
        report(name, opts.inflight, "1 thread", "threads", &runs);
        return Ok(());
    }
    let mut runs = Vec::new();
    for _ in 0..opts.runs {
        let client = connect_blocking(case, addr)?;
        let win = Window::new(opts.warmup, opts.seconds);
        let threads: Vec<_> = (0..opts.inflight)
            .map(|k| {
                let client = svc::Client::new(client.clone());
                let (size, step) = (opts.size, opts.inflight as u64);
                std::thread::spawn(move || {
                    let mut lats = Vec::with_capacity(1 << 16);
                    let mut i = k as u64;
                    loop {
                        let t0 = Instant::now();
                        call_blocking(&client, case, size, i);
                        if !win.record(&mut lats, t0, Instant::now()) {
                            return lats;
                        }
                        i += step;
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in threads {
            all.extend(t.join().map_err(|_| "a calling thread panicked")?);
        }
        runs.push(RunResult::from_lats(all, win.seconds()));
    }
    report(name, opts.inflight, "threads", "threads", &runs);
    Ok(())
}

/// Counts bytes each way through a proxy: setup, the first call, then `byte_calls` calls.
pub(crate) fn run_wire(name: &str, case: Case, opts: &Opts, addr: &str) -> Result<(), String> {
    let proxy = crate::proxy::Proxy::start(case.unix, addr)?;
    let counters = proxy.counters.clone();
    let settle = || std::thread::sleep(Duration::from_millis(150));
    let report_it = |s0: Bytes2, s1: Bytes2, s2: Bytes2| {
        report_wire(
            name,
            &WireReport {
                setup: s0,
                first: s1 - s0,
                steady: s2 - s1,
                calls: opts.byte_calls,
            },
        )
    };
    if case.tokio {
        let (s0, s1, s2) = crate::rpc_tokio::wire_calls(case, &proxy.addr, opts, &counters)?;
        report_it(s0, s1, s2);
        return Ok(());
    }
    let client = svc::Client::new(connect_blocking(case, &proxy.addr)?);
    settle();
    let s0 = counters.snapshot();
    call_blocking(&client, case, opts.size, 0);
    settle();
    let s1 = counters.snapshot();
    for i in 1..=opts.byte_calls as u64 {
        call_blocking(&client, case, opts.size, i);
    }
    settle();
    let s2 = counters.snapshot();
    drop(client);
    report_it(s0, s1, s2);
    Ok(())
}

/// Runs a case end to end: its server in a child process, then the client side.
pub(crate) fn run(name: &str, opts: &Opts) -> Result<(), String> {
    let case = Case::parse(name).ok_or_else(|| format!("unknown case {name}"))?;
    let server = spawn_server(case)?;
    println!(
        "# {name}: inflight={} runs={} seconds={} warmup={} size={}{}",
        opts.inflight,
        opts.runs,
        opts.seconds,
        opts.warmup,
        opts.size,
        if opts.wire_bytes {
            " (wire-bytes mode)"
        } else {
            ""
        }
    );
    let result = if case.tokio {
        crate::rpc_tokio::run(name, case, opts, &server.addr)
    } else {
        run_blocking(name, case, opts, &server.addr)
    };
    drop(server);
    result
}

/// Shared by both flavours' drivers.
pub(crate) fn check_add(i: u64, got: i32) {
    let (a, b) = add_args(i);
    assert_eq!(got, a + b, "add {i}");
}

/// Shared by both flavours' drivers: the length and the call number in the first 8 bytes,
/// as peerbench checks its peers' echoes.
pub(crate) fn check_echo(size: usize, i: u64, got: &[u8]) {
    let n = size.min(8);
    assert_eq!(got.len(), size, "echo {i}: length");
    assert_eq!(got[..n], i.to_le_bytes()[..n], "echo {i}: content");
}
