//! The gateway between a real `nats-server` and the demo server (`wirecall serve`), called
//! by an async-nats client: a call, its errors, and the services API's discovery.
//!
//! Needs `nats-server` on the PATH (Debian's package) and the `wirecall` binary built
//! next to this test (`cargo test --workspace` builds it). Without them the test says so
//! and passes; `WIRECALL_REQUIRE_NATS=1` (as ./ci.sh sets) makes their absence a failure.
//! Every process is started here, read by its lines and killed by its own pid.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use async_nats::service::{Info, PingResponse};
use async_nats::HeaderMap;

/// How long any one awaited event may take before the test fails (an upper bound on a
/// wait for a line or a reply, never a sleep).
const EVENT: Duration = Duration::from_secs(15);

/// A child process, killed by its pid and reaped when dropped; its stderr lines arrive
/// on `lines` (a thread reads them, so the pipe never fills).
struct Process {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Process {
    fn start(command: &mut Command) -> Process {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let stderr = BufReader::new(child.stderr.take().unwrap());
        // Bounded: one line at a time is read ahead; the thread ends with the pipe.
        let (tx, lines) = mpsc::sync_channel(1);
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    // Nobody waits any more: keep draining so the child never blocks.
                    continue;
                }
            }
        });
        Process { child, lines }
    }

    /// Waits for the first line `pick` accepts and returns what it made of it.
    fn wait_for<T>(&self, what: &str, mut pick: impl FnMut(&str) -> Option<T>) -> T {
        loop {
            let line = self
                .lines
                .recv_timeout(EVENT)
                .unwrap_or_else(|e| panic!("no {what} line: {e}"));
            if let Some(found) = pick(&line) {
                return found;
            }
        }
    }

    /// Lets the reader thread drain the rest of the output on its own.
    fn detach_lines(&mut self) {
        let (_, empty) = mpsc::sync_channel(0);
        drop(std::mem::replace(&mut self.lines, empty));
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `nats-server` and the `wirecall` binary, or `None` (after saying why) when one is
/// missing and `WIRECALL_REQUIRE_NATS` is not `1`.
fn tools() -> Option<PathBuf> {
    let nats = Command::new("nats-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    // target/debug/deps/THIS-TEST -> target/debug/wirecall
    let wirecall = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("wirecall"))
        .filter(|p| p.exists());
    let why = match (nats, &wirecall) {
        (true, Some(_)) => return wirecall,
        (false, _) => "nats-server is not installed",
        (true, None) => "the wirecall binary is not built (cargo build -p wirecall-cli)",
    };
    assert!(
        std::env::var("WIRECALL_REQUIRE_NATS").as_deref() != Ok("1"),
        "WIRECALL_REQUIRE_NATS=1, and {why}"
    );
    eprintln!("skipped: {why}");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_requests_become_calls_on_the_demo_device() {
    let Some(wirecall) = tools() else { return };

    // `-p -1`: nats-server picks a free port and logs it, so no port is guessed.
    let mut nats =
        Process::start(Command::new("nats-server").args(["-a", "127.0.0.1", "-p", "-1"]));
    let nats_addr = nats.wait_for("nats-server listening", |l| {
        l.split_once("Listening for client connections on ")
            .map(|(_, addr)| addr.trim().to_string())
    });
    nats.wait_for("nats-server ready", |l| {
        l.contains("Server is ready").then_some(())
    });
    nats.detach_lines();
    let nats_url = format!("nats://{nats_addr}");

    let mut device =
        Process::start(Command::new(&wirecall).args(["serve", "--tcp", "127.0.0.1:0"]));
    let device_addr = device.wait_for("wirecall serving", |l| {
        l.split_once(" on tcp ")
            .map(|(_, addr)| addr.trim().to_string())
    });
    device.detach_lines();

    let mut gateway = Process::start(Command::new(env!("CARGO_BIN_EXE_wirecall-gateway")).args([
        "--nats",
        &nats_url,
        "--device",
        &format!("demo=tcp://{device_addr}"),
    ]));
    gateway.wait_for("gateway ready", |l| {
        assert!(
            !l.contains("wirecall-gateway: device") || !l.contains("cannot"),
            "{l}"
        );
        l.contains("wirecall-gateway: ready").then_some(())
    });
    gateway.detach_lines();

    let client = async_nats::ConnectOptions::new()
        .request_timeout(Some(EVENT))
        .connect(&nats_url)
        .await
        .unwrap();

    // A call: JSON arguments in, the JSON result out.
    let reply = client
        .request("wirecall.demo.add", "[2, 40]".into())
        .await
        .unwrap();
    assert!(reply
        .headers
        .as_ref()
        .and_then(|h| h.get("Nats-Service-Error"))
        .is_none());
    assert_eq!(std::str::from_utf8(&reply.payload).unwrap(), "42");

    // The caller's timeout as the call's deadline, named in a header.
    let mut headers = HeaderMap::new();
    headers.insert("Wirecall-Timeout-Ms", "2000");
    let reply = client
        .request_with_headers("wirecall.demo.add", headers, "[1, 1]".into())
        .await
        .unwrap();
    assert_eq!(std::str::from_utf8(&reply.payload).unwrap(), "2");

    // Arguments that do not fit: refused at once with the services API's error headers.
    for bad in ["[\"two\", 40]", "[1]", "not json"] {
        let reply = client
            .request("wirecall.demo.add", bad.into())
            .await
            .unwrap();
        let headers = reply.headers.expect("error headers");
        assert_eq!(
            headers.get("Nats-Service-Error-Code").map(|v| v.as_str()),
            Some("400"),
            "{bad}"
        );
        let text = headers
            .get("Nats-Service-Error")
            .unwrap()
            .as_str()
            .to_string();
        assert!(!text.is_empty(), "{bad}");
        if bad != "not json" {
            assert!(text.contains("expected add("), "{bad}: {text}");
        }
    }
    let mut headers = HeaderMap::new();
    headers.insert("Wirecall-Timeout-Ms", "soon");
    let reply = client
        .request_with_headers("wirecall.demo.add", headers, "[1, 1]".into())
        .await
        .unwrap();
    let code = reply
        .headers
        .as_ref()
        .and_then(|h| h.get("Nats-Service-Error-Code"));
    assert_eq!(code.map(|v| v.as_str()), Some("400"));

    // An unknown procedure has no endpoint: NATS says "no responders" at once.
    let e = client
        .request("wirecall.demo.no_such_procedure", "[]".into())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), async_nats::RequestErrorKind::NoResponders, "{e}");

    // Discovery: $SRV.PING and $SRV.INFO answer with the device's service.
    let ping = client
        .request("$SRV.PING.wirecall-demo", "".into())
        .await
        .unwrap();
    let ping: PingResponse = serde_json::from_slice(&ping.payload).unwrap();
    assert_eq!(ping.name, "wirecall-demo");
    let info = client
        .request("$SRV.INFO.wirecall-demo", "".into())
        .await
        .unwrap();
    let info: Info = serde_json::from_slice(&info.payload).unwrap();
    assert_eq!(info.name, "wirecall-demo");
    assert!(
        info.metadata
            .get("schema_hash")
            .is_some_and(|h| h.starts_with("0x")),
        "{info:?}"
    );
    let add = info
        .endpoints
        .iter()
        .find(|e| e.subject == "wirecall.demo.add")
        .unwrap_or_else(|| panic!("no add endpoint in {info:?}"));
    assert_eq!(add.name, "add");
    assert!(
        add.metadata
            .get("signature")
            .is_some_and(|s| s.starts_with("add(")),
        "{add:?}"
    );

    // $SRV.STATS counts the requests the endpoint answered, errors among them.
    let stats = client
        .request("$SRV.STATS.wirecall-demo", "".into())
        .await
        .unwrap();
    let stats: serde_json::Value = serde_json::from_slice(&stats.payload).unwrap();
    let add = stats["endpoints"]
        .as_array()
        .and_then(|all| all.iter().find(|e| e["subject"] == "wirecall.demo.add"))
        .unwrap_or_else(|| panic!("no add endpoint in {stats}"));
    assert_eq!(add["num_requests"], 6, "{add}");
    assert_eq!(add["num_errors"], 4, "{add}");

    drop(client);
    drop(gateway);
    drop(device);
    drop(nats);
}
