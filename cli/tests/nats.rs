//! `wirecall list --nats` and `wirecall call --nats` against a real `nats-server`, the demo
//! server (`wirecall serve`) and `wirecall-gateway` serving it: discovery, calls, their
//! errors and exit codes, a server stream, and Ctrl-C cancelling a call on the device.
//!
//! Needs `nats-server` on the PATH and the `wirecall-gateway` binary built next to this
//! test (`cargo build -p wirecall-gateway` into the same target directory, as
//! `cargo test --workspace` does). Without them the tests say so and pass;
//! `WIRECALL_REQUIRE_NATS=1` (as ./ci.sh sets) makes their absence a failure. Every
//! process is started here, read by its lines and killed by its own pid.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use futures_util::StreamExt;

mod common;
use common::{stderr, stdout, wait_until, BIN};

use wirecall_tests::process::{Process, EVENT};

/// The `wirecall-gateway` binary next to this test, when `nats-server` is installed too;
/// `None` (after saying why) when one is missing and `WIRECALL_REQUIRE_NATS` is not `1`.
fn gateway_binary() -> Option<PathBuf> {
    let nats = Command::new("nats-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    // target/debug/deps/THIS-TEST -> target/debug/wirecall-gateway
    let gateway = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("wirecall-gateway"))
        .filter(|p| p.exists());
    let why = match (nats, &gateway) {
        (true, Some(_)) => return gateway,
        (false, _) => "nats-server is not installed",
        (true, None) => {
            "the wirecall-gateway binary is not built next to this test \
             (cargo build -p wirecall-gateway)"
        }
    };
    assert!(
        std::env::var("WIRECALL_REQUIRE_NATS").as_deref() != Ok("1"),
        "WIRECALL_REQUIRE_NATS=1, and {why}"
    );
    eprintln!("skipped: {why}");
    None
}

/// A NATS server, the demo device and gateways serving it as device `demo`.
struct Bus {
    url: String,
    // Dropped (killed) in this order: gateways first, then the device and the server.
    gateways: Vec<Process>,
    _device: Process,
    _nats: Process,
}

impl Bus {
    /// Starts it all with `gateways` gateways, each ready (its services registered).
    fn start(gateway: &PathBuf, gateways: usize) -> Bus {
        // `-p -1`: nats-server picks a free port and logs it, so no port is guessed.
        let nats =
            Process::start(Command::new("nats-server").args(["-a", "127.0.0.1", "-p", "-1"]));
        let addr = nats.wait_for("nats-server listening", |l| {
            l.split_once("Listening for client connections on ")
                .map(|(_, addr)| addr.trim().to_string())
        });
        nats.wait_for("nats-server ready", |l| {
            l.contains("Server is ready").then_some(())
        });
        let url = format!("nats://{addr}");
        let device = Process::start(Command::new(BIN).args(["serve", "--tcp", "127.0.0.1:0"]));
        let device_addr = device.wait_for("wirecall serving", |l| {
            l.split_once(" on tcp ")
                .map(|(_, addr)| addr.trim().to_string())
        });
        let gateways = (0..gateways)
            .map(|_| {
                let g = Process::start(Command::new(gateway).args([
                    "--nats",
                    &url,
                    "--device",
                    &format!("demo=tcp://{device_addr}"),
                ]));
                g.wait_for("gateway ready", |l| {
                    l.contains("wirecall-gateway: ready").then_some(())
                });
                g
            })
            .collect();
        Bus {
            url,
            gateways,
            _device: device,
            _nats: nats,
        }
    }

    /// Runs `wirecall COMMAND --nats URL ARGS` to its end (killed, and the test failed, if
    /// it has not ended within [`EVENT`]).
    fn run(&self, command: &str, args: &[&str]) -> Output {
        let mut child = Command::new(BIN)
            .args([command, "--nats", &self.url])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read as they come, so that neither pipe fills while the command runs.
        let out = reader(child.stdout.take().unwrap());
        let err = reader(child.stderr.take().unwrap());
        let mut child = common::Running(child);
        let ended = wait_until(EVENT, || child.0.try_wait().unwrap().is_some());
        assert!(ended, "wirecall {command} {args:?} did not end");
        Output {
            status: child.0.wait().unwrap(),
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
        }
    }
}

/// A thread that reads `pipe` to its end.
fn reader(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = pipe.read_to_end(&mut all);
        all
    })
}

#[test]
fn list_and_call_a_device_through_two_gateways() {
    let Some(gateway) = gateway_binary() else {
        return;
    };
    let mut bus = Bus::start(&gateway, 2);

    // Discovery: the device, its service, schema, both gateways, each procedure's
    // number and signature as `wirecall list` prints them.
    let o = bus.run("list", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let first = out.lines().next().unwrap();
    assert!(
        first.starts_with("device demo: demo (schema 0x") && first.ends_with(", 2 gateways)"),
        "{out}"
    );
    for line in ["    0  add(a: i32, b: i32) -> i32", "    4  sleep(ms: u32)"] {
        assert!(out.lines().any(|l| l == line), "{line} not in\n{out}");
    }
    // One device by its id; one nobody serves is an error, exit 4 as a link that cannot
    // be opened.
    let o = bus.run("list", &["demo"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("device demo: "), "{}", stdout(&o));
    let o = bus.run("list", &["ghost"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no gateway serves device ghost"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    let o = bus.run("list", &["--json", "demo"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(json[0]["device"], "demo");
    assert_eq!(json[0]["gateways"], 2);

    // A call: JSON in, JSON out, as `wirecall call` prints it.
    let o = bus.run("call", &["demo", "add", "[2, 40]"]);
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), "42".to_string()),
        "{}",
        stderr(&o)
    );
    let o = bus.run("call", &["demo", "echo", "\"hi\""]);
    assert_eq!(stdout(&o), "\"hi\"", "{}", stderr(&o));

    // Arguments that do not fit: the gateway's message with the signature, exit 2 as a
    // direct call refuses them.
    let o = bus.run("call", &["demo", "add", "[\"two\", 40]"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("expected add(a: i32, b: i32) -> i32"),
        "{}",
        stderr(&o)
    );
    // Not JSON: refused here, before anything is sent.
    let o = bus.run("call", &["demo", "add", "[2,"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not JSON"), "{}", stderr(&o));

    // The device's own error: exit 1, its message.
    let o = bus.run("call", &["demo", "fail"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("internal error"), "{}", stderr(&o));

    // --timeout goes to the device as the call's deadline: the gateway answers 504 at
    // it, exit 3 as a direct call that timed out.
    let o = bus.run("call", &["--timeout", "300ms", "demo", "sleep", "3000"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("504"), "{}", stderr(&o));

    // A device nobody serves: NATS has no responders for it; exit 4, and where to look.
    let o = bus.run("call", &["ghost", "add", "[1, 2]"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("no gateway serves wirecall.ghost.add") && err.contains("no responders"),
        "{err}"
    );
    assert!(err.contains("wirecall list --nats"), "{err}");
    // A procedure the device does not have: as on a direct link, exit 2 and the names.
    let o = bus.run("call", &["demo", "nope"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("unknown procedure `nope`") && stderr(&o).contains("add, count, echo"),
        "{}",
        stderr(&o)
    );
    // Arguments over the NATS server's largest message (1 MiB by default): refused before
    // they are sent, exit 2 as arguments too large for a device's frames.
    let dir = common::TempDir::new("nats-large-args");
    let large = dir.file("args.json");
    std::fs::write(&large, format!("\"{}\"", "a".repeat(2 << 20))).unwrap();
    let o = bus.run("call", &["demo", "echo", &format!("@{large}")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("max payload"), "{}", stderr(&o));
    // A device id that is no subject token never reaches the bus.
    let o = bus.run("call", &["de.mo", "add"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("bad device id"), "{}", stderr(&o));

    // One gateway killed: once the server has dropped its subscriptions (discovery
    // counts one gateway), the other serves every call.
    drop(bus.gateways.remove(0));
    let one = wait_until(EVENT, || {
        stdout(&bus.run("list", &["demo"])).contains(", 1 gateway)")
    });
    assert!(one, "discovery still counts the killed gateway");
    for _ in 0..3 {
        let o = bus.run("call", &["demo", "add", "[40, 2]"]);
        assert_eq!(stdout(&o), "42", "{}", stderr(&o));
    }
}

#[test]
fn an_unreachable_nats_server_is_a_link_that_cannot_be_opened() {
    // Port 1 on the loopback: nothing listens there.
    let o = Command::new(BIN)
        .args([
            "call",
            "--nats",
            "nats://127.0.0.1:1",
            "demo",
            "add",
            "[1, 2]",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot connect to NATS at nats://127.0.0.1:1"),
        "{}",
        stderr(&o)
    );
    // Options of a device's link mean nothing on NATS: refused, not ignored.
    let o = Command::new(BIN)
        .args([
            "call",
            "--nats",
            "nats://127.0.0.1:1",
            "--baud",
            "9600",
            "demo",
            "add",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn a_server_stream_prints_every_item_in_order() {
    let Some(gateway) = gateway_binary() else {
        return;
    };
    let bus = Bus::start(&gateway, 1);
    let o = bus.run("list", &["demo"]);
    assert!(
        stdout(&o)
            .lines()
            .any(|l| l == "    5  count(n: u32) -> stream u32"),
        "{}",
        stdout(&o)
    );
    let o = bus.run("call", &["demo", "count", "[300]"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let want: Vec<String> = (0..300).map(|i| i.to_string()).collect();
    assert_eq!(stdout(&o).lines().collect::<Vec<_>>(), want);
    // A stream of no items ends well with nothing printed.
    let o = bus.run("call", &["demo", "count", "[0]"]);
    assert_eq!((o.status.code(), stdout(&o)), (Some(0), String::new()));
    // A stream the deadline ends: the gateway's 504 after the items so far, which are the
    // stream's first ones in order; exit 3 as a call that timed out.
    let o = bus.run(
        "call",
        &["--timeout", "500ms", "demo", "count", "[100000000]"],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("504"), "{}", stderr(&o));
    let out = stdout(&o);
    for (i, line) in out.lines().enumerate() {
        assert_eq!(line, i.to_string());
    }
}

/// Runs `wirecall call --nats URL --timeout 60s demo PROCEDURE ARGS`, sends it Ctrl-C once
/// its request is on the bus, checks that it published the request's reply subject on the
/// cancel subject and left with 130, and returns the gateway's final answer to the request
/// (a stream's items before it skipped), which the command itself no longer reads.
async fn interrupt(bus: &Bus, procedure: &str, args: &str) -> async_nats::Message {
    let watcher = async_nats::connect(&bus.url).await.unwrap();
    let subject = format!("wirecall.demo.{procedure}");
    // A plain subscriber (no queue group) sees a copy of every request, and so learns the
    // command's reply subject; and every cancel.
    let mut requests = watcher.subscribe(subject.clone()).await.unwrap();
    let mut cancels = watcher
        .subscribe(format!("{subject}.cancel"))
        .await
        .unwrap();
    watcher.flush().await.unwrap();

    // The deadline is a minute, beyond every wait here: only a cancel ends the call in time.
    let mut child = Command::new(BIN)
        .args(["call", "--nats", &bus.url, "--timeout", "60s", "demo"])
        .args([procedure, args])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = reader(child.stderr.take().unwrap());
    let mut child = common::Running(child);
    let pid = child.0.id();
    let request = tokio::time::timeout(EVENT, requests.next())
        .await
        .unwrap_or_else(|_| panic!("no request on {subject}"))
        .unwrap();
    let reply = request
        .reply
        .clone()
        .expect("the request has a reply subject");
    // The command's --timeout, less what connecting took, is the call's deadline.
    let deadline = request
        .headers
        .as_ref()
        .and_then(|h| h.get("Wirecall-Timeout-Ms"))
        .map(|v| v.as_str().parse::<u64>().unwrap());
    assert!(
        deadline.is_some_and(|ms| ms > 50_000 && ms <= 60_000),
        "{:?}",
        request.headers
    );
    // The gateway's answer goes to the reply subject: this subscriber reads it too.
    let mut answers = watcher.subscribe(reply.clone()).await.unwrap();
    watcher.flush().await.unwrap();

    // Ctrl-C, to the command by its pid (the request it published proves its handler is
    // in place: it is set before the request goes out).
    let kill = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());

    let cancel = tokio::time::timeout(EVENT, cancels.next())
        .await
        .unwrap_or_else(|_| panic!("no cancel on {subject}.cancel"))
        .unwrap();
    assert_eq!(
        std::str::from_utf8(&cancel.payload).unwrap(),
        reply.as_str()
    );
    // The command left after sending the cancel, as a command ended by Ctrl-C: 130.
    assert!(wait_until(EVENT, || child.0.try_wait().unwrap().is_some()));
    assert_eq!(child.0.wait().unwrap().code(), Some(130));
    let err = String::from_utf8(err.join().unwrap()).unwrap();
    assert!(err.contains("interrupted; the call was cancelled"), "{err}");
    loop {
        let answer = tokio::time::timeout(EVENT, answers.next())
            .await
            .expect("no final answer to the cancelled request")
            .unwrap();
        let item = answer
            .headers
            .as_ref()
            .is_some_and(|h| h.get("Wirecall-Item").is_some());
        if !item {
            return answer;
        }
    }
}

/// The services API's error code of `m`, if it is an error.
fn error_code(m: &async_nats::Message) -> Option<String> {
    m.headers
        .as_ref()
        .and_then(|h| h.get("Nats-Service-Error-Code"))
        .map(|v| v.as_str().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_cancels_a_call_and_a_stream_on_the_device() {
    let Some(gateway) = gateway_binary() else {
        return;
    };
    let bus = Bus::start(&gateway, 1);
    // 499: the gateway cancelled the call on the device. Without the cancel the demo's
    // 10 s sleep would answer `null` after this test's bound, or the deadline 504.
    let answer = interrupt(&bus, "sleep", "10000").await;
    assert_eq!(error_code(&answer).as_deref(), Some("499"), "{answer:?}");
    // A stream of ten million items: cancelled on the device long before it could end.
    let answer = interrupt(&bus, "count", "[10000000]").await;
    assert_eq!(error_code(&answer).as_deref(), Some("499"), "{answer:?}");
}
