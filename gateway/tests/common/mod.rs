//! What the gateway's test files share: child processes killed by their pid, the tools
//! they need (`nats-server`, the `wirecall` binary, socat), a NATS server on a free port,
//! the demo server, the gateway, and waiting for events with an upper bound.

// Each test file uses a part of these.
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::{HeaderMap, Message};

pub(crate) use wirecall_tests::process::{Process, EVENT};

/// The `wirecall` binary next to this test (target/debug/deps/THIS-TEST ->
/// target/debug/wirecall), if built.
fn wirecall_binary() -> Option<PathBuf> {
    std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("wirecall"))
        .filter(|p| p.exists())
}

/// Whether `program --version` (or `-V`) runs.
pub(crate) fn installed(program: &str, version_flag: &str) -> bool {
    Command::new(program)
        .arg(version_flag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `nats-server` and the `wirecall` binary, or `None` (after saying why) when one is
/// missing and `WIRECALL_REQUIRE_NATS` is not `1`.
pub(crate) fn tools() -> Option<PathBuf> {
    let nats = installed("nats-server", "--version");
    let wirecall = wirecall_binary();
    let why = match (nats, &wirecall) {
        (true, Some(_)) => return wirecall,
        (false, _) => "nats-server is not installed",
        (true, None) => "the wirecall binary is not built (cargo build -p wirecall-cli)",
    };
    skip(why, "WIRECALL_REQUIRE_NATS");
    None
}

/// [`tools`], and socat too (for its pty pairs).
pub(crate) fn tools_and_socat() -> Option<PathBuf> {
    let wirecall = tools()?;
    if installed("socat", "-V") {
        return Some(wirecall);
    }
    skip("socat is not installed", "WIRECALL_REQUIRE_NATS");
    None
}

/// Says why a test does not run; a failure instead when `require` is `1`.
pub(crate) fn skip(why: &str, require: &str) {
    assert!(
        std::env::var(require).as_deref() != Ok("1"),
        "{require}=1, and {why}"
    );
    eprintln!("skipped: {why}");
}

/// A running `nats-server` and its monitoring port.
pub(crate) struct Nats {
    /// The server process.
    pub(crate) process: Process,
    /// `HOST:PORT` of its HTTP monitoring.
    monitor: String,
}

impl Nats {
    /// How many client connections the server has now (its `/connz`): a killed client
    /// is gone from the bus exactly when the server has dropped its connection.
    pub(crate) fn connections(&self) -> u64 {
        use std::io::{Read, Write};
        let mut http = std::net::TcpStream::connect(&self.monitor).unwrap();
        write!(
            http,
            "GET /connz HTTP/1.0\r\nHost: {}\r\n\r\n",
            self.monitor
        )
        .unwrap();
        let mut answer = String::new();
        http.read_to_string(&mut answer).unwrap();
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let connz: serde_json::Value = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("/connz is not JSON ({e}): {answer}"));
        connz["num_connections"]
            .as_u64()
            .unwrap_or_else(|| panic!("no num_connections in {connz}"))
    }
}

/// A `nats-server` on a free loopback port, and its URL.
pub(crate) fn nats_server() -> (Nats, String) {
    nats_server_with(&[])
}

/// [`nats_server`] with more arguments (`-js -sd DIR` for JetStream).
pub(crate) fn nats_server_with(extra: &[&std::ffi::OsStr]) -> (Nats, String) {
    // `-p -1`, `-m -1`: nats-server picks free ports and logs them, so none is guessed.
    let mut nats = Process::start(
        Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", "-1", "-m", "-1"])
            .args(extra),
    );
    let monitor = nats.wait_for("nats-server monitoring", |l| {
        l.split_once("Starting http monitor on ")
            .map(|(_, addr)| addr.trim().to_string())
    });
    let addr = nats.wait_for("nats-server listening", |l| {
        l.split_once("Listening for client connections on ")
            .map(|(_, addr)| addr.trim().to_string())
    });
    nats.wait_for("nats-server ready", |l| {
        l.contains("Server is ready").then_some(())
    });
    nats.detach_lines();
    (
        Nats {
            process: nats,
            monitor,
        },
        format!("nats://{addr}"),
    )
}

/// `wirecall serve ARGS` (the demo service), once it says it serves; returns it and what
/// follows ` on ` in that line (`tcp ADDR`, `unix PATH`, `PATH at N baud`).
pub(crate) fn demo_server(wirecall: &Path, args: &[&str]) -> (Process, String) {
    let mut device = Process::start(Command::new(wirecall).arg("serve").args(args));
    let on = device.wait_for("wirecall serving", |l| {
        l.split_once("serving the demo service on ")
            .map(|(_, on)| on.trim().to_string())
    });
    device.detach_lines();
    (device, on)
}

/// `wirecall-gateway --nats URL ARGS`, once it says it is ready (its lines before that are
/// checked by `check`). Its later lines stay readable with [`Process::wait_for`].
pub(crate) fn gateway(nats_url: &str, args: &[&str], mut check: impl FnMut(&str)) -> Process {
    let gateway = Process::start(
        Command::new(env!("CARGO_BIN_EXE_wirecall-gateway"))
            .args(["--nats", nats_url])
            .args(args),
    );
    gateway.wait_for("gateway ready", |l| {
        check(l);
        l.contains("wirecall-gateway: ready").then_some(())
    });
    gateway
}

/// A NATS client whose requests wait at most [`EVENT`].
pub(crate) async fn client(nats_url: &str) -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .request_timeout(Some(EVENT))
        .connect(nats_url)
        .await
        .unwrap()
}

/// Polls `check` until it is true; fails the test after [`EVENT`], naming `what`.
pub(crate) async fn wait_until<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let end = Instant::now() + EVENT;
    while !check().await {
        assert!(Instant::now() < end, "{what}: not within {EVENT:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A reply's error code (`Nats-Service-Error-Code`), if it is an error.
pub(crate) fn error_code(reply: &Message) -> Option<String> {
    reply
        .headers
        .as_ref()
        .and_then(|h| h.get("Nats-Service-Error-Code"))
        .map(|v| v.as_str().to_string())
}

/// A reply's error text (`Nats-Service-Error`), empty if none.
pub(crate) fn error_text(reply: &Message) -> String {
    reply
        .headers
        .as_ref()
        .and_then(|h| h.get("Nats-Service-Error"))
        .map(|v| v.as_str().to_string())
        .unwrap_or_default()
}

/// A successful reply's payload as text; fails the test on an error reply.
pub(crate) fn ok_text(reply: &Message) -> String {
    assert_eq!(error_code(reply), None, "{}", error_text(reply));
    String::from_utf8(reply.payload.to_vec()).unwrap()
}

/// Whether service `wirecall-ID` is on the bus: `Some(true)` if it answers
/// `$SRV.INFO.wirecall-ID`, `Some(false)` if NATS says "no responders" (nobody has
/// subscribed), `None` if it is being taken off (still subscribed, no longer answering:
/// a stopped service drops its subscriptions a moment after it stops answering).
pub(crate) async fn service_state(client: &async_nats::Client, id: &str) -> Option<bool> {
    let subject = format!("$SRV.INFO.wirecall-{id}");
    let asked = client.request(subject.clone(), "".into());
    match tokio::time::timeout(Duration::from_secs(1), asked).await {
        Ok(Ok(_)) => Some(true),
        Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => Some(false),
        Ok(Err(e)) => panic!("{subject}: {e}"),
        Err(_) => None,
    }
}

/// Whether service `wirecall-ID` answers `$SRV.INFO.wirecall-ID` now.
pub(crate) async fn has_service(client: &async_nats::Client, id: &str) -> bool {
    service_state(client, id).await == Some(true)
}

/// Whether nobody serves `wirecall-ID` now (NATS says "no responders").
pub(crate) async fn lacks_service(client: &async_nats::Client, id: &str) -> bool {
    service_state(client, id).await == Some(false)
}

/// A temporary directory of this test, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    /// A new empty directory named after `tag`, the process and the thread.
    pub(crate) fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "wirecall-gateway-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `socat` joining two new ptys, linked as `a` and `b`, once both links exist: a serial
/// cable between two ports, one of them plugged into the gateway's watched directory.
pub(crate) fn pty_pair(a: &Path, b: &Path) -> Process {
    let socat = Process::start(Command::new("socat").args([
        format!("pty,raw,echo=0,link={}", a.display()),
        format!("pty,raw,echo=0,link={}", b.display()),
    ]));
    let end = Instant::now() + EVENT;
    while !(a.exists() && b.exists()) {
        assert!(Instant::now() < end, "socat made no ptys");
        std::thread::sleep(Duration::from_millis(10));
    }
    socat
}

/// A request published with `inbox` as its reply subject (the caller subscribed to it).
pub(crate) async fn publish_request(
    client: &async_nats::Client,
    subject: &str,
    inbox: &str,
    headers: &[(&str, &str)],
    payload: &str,
) {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.insert(*k, *v);
    }
    client
        .publish_with_reply_and_headers(
            subject.to_string(),
            inbox.to_string(),
            map,
            payload.to_string().into(),
        )
        .await
        .unwrap();
    client.flush().await.unwrap();
}

/// The next message on `sub`, within [`EVENT`].
pub(crate) async fn next(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    use futures_util::StreamExt;
    tokio::time::timeout(EVENT, sub.next())
        .await
        .expect("a message within the bound")
        .expect("the subscription is open")
}

pub(crate) fn header<'a>(m: &'a async_nats::Message, name: &str) -> Option<&'a str> {
    m.headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(|v| v.as_str())
}

/// Device `id`'s calls in flight through the gateway, from `$SRV.STATS` (the `data` the
/// gateway gives each endpoint).
pub(crate) async fn in_flight(client: &async_nats::Client, id: &str) -> u64 {
    let stats = client
        .request(format!("$SRV.STATS.wirecall-{id}"), "".into())
        .await
        .unwrap();
    let stats: serde_json::Value = serde_json::from_slice(&stats.payload).unwrap();
    stats["endpoints"][0]["data"]["in_flight"]
        .as_u64()
        .unwrap_or_else(|| panic!("no in_flight in {stats}"))
}

/// Waits (within [`EVENT`]) until device `id` has exactly `n` calls in flight.
pub(crate) async fn wait_in_flight(client: &async_nats::Client, id: &str, n: u64) {
    wait_until(&format!("{n} calls in flight on {id}"), || async {
        in_flight(client, id).await == n
    })
    .await;
}
