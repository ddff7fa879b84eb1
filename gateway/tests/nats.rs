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

/// A running bus: `nats-server` (with JetStream in a temporary store when asked), the
/// demo server on TCP, and the gateway serving it as device `demo`.
struct Bus {
    nats_url: String,
    device_addr: String,
    wirecall: PathBuf,
    // Dropped in this order: the gateway first, the server last.
    gateway: Process,
    device: Option<Process>,
    _nats: Process,
    _store: Option<TempDir>,
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Bus {
    fn start(jetstream: bool, gateway_args: &[&str]) -> Option<Bus> {
        let wirecall = tools()?;
        let store = jetstream.then(|| {
            let dir = std::env::temp_dir().join(format!(
                "wirecall-gateway-js-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        });
        let mut command = Command::new("nats-server");
        command.args(["-a", "127.0.0.1", "-p", "-1"]);
        if let Some(dir) = &store {
            command.arg("-js").arg("-sd").arg(&dir.0);
        }
        let mut nats = Process::start(&mut command);
        let nats_addr = nats.wait_for("nats-server listening", |l| {
            l.split_once("Listening for client connections on ")
                .map(|(_, addr)| addr.trim().to_string())
        });
        nats.wait_for("nats-server ready", |l| {
            l.contains("Server is ready").then_some(())
        });
        nats.detach_lines();
        let nats_url = format!("nats://{nats_addr}");
        let (device, device_addr) = start_demo(&wirecall, "127.0.0.1:0");
        let gateway = start_gateway(&nats_url, &device_addr, gateway_args);
        Some(Bus {
            nats_url,
            device_addr,
            wirecall,
            gateway,
            device: Some(device),
            _nats: nats,
            _store: store,
        })
    }

    async fn client(&self) -> async_nats::Client {
        async_nats::ConnectOptions::new()
            .request_timeout(Some(EVENT))
            .connect(&self.nats_url)
            .await
            .unwrap()
    }
}

/// `wirecall serve --tcp ADDR`, and the address it serves on.
fn start_demo(wirecall: &PathBuf, addr: &str) -> (Process, String) {
    let mut device = Process::start(Command::new(wirecall).args(["serve", "--tcp", addr]));
    let addr = device.wait_for("wirecall serving", |l| {
        l.split_once(" on tcp ")
            .map(|(_, addr)| addr.trim().to_string())
    });
    device.detach_lines();
    (device, addr)
}

/// The gateway for device `demo` at `device_addr`, once it says it is ready (its later
/// lines stay readable).
fn start_gateway(nats_url: &str, device_addr: &str, extra: &[&str]) -> Process {
    let demo = format!("demo=tcp://{device_addr}");
    let gateway = Process::start(
        Command::new(env!("CARGO_BIN_EXE_wirecall-gateway"))
            .args(["--nats", nats_url, "--device", &demo])
            .args(extra),
    );
    gateway.wait_for("gateway ready", |l| {
        l.contains("wirecall-gateway: ready").then_some(())
    });
    gateway
}

/// A request published with `inbox` as its reply subject (the caller subscribed to it).
async fn publish_request(
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
async fn next(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    use futures_util::StreamExt;
    tokio::time::timeout(EVENT, sub.next())
        .await
        .expect("a message within the bound")
        .expect("the subscription is open")
}

fn header<'a>(m: &'a async_nats::Message, name: &str) -> Option<&'a str> {
    m.headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(|v| v.as_str())
}

/// The device's state in `$SRV.STATS` (the gateway's `data`): connected, calls in flight.
async fn device_state(client: &async_nats::Client) -> (bool, u64) {
    let stats = client
        .request("$SRV.STATS.wirecall-demo", "".into())
        .await
        .unwrap();
    let stats: serde_json::Value = serde_json::from_slice(&stats.payload).unwrap();
    let data = &stats["endpoints"][0]["data"];
    (
        data["connected"].as_bool().unwrap_or(false),
        data["in_flight"].as_u64().unwrap_or(0),
    )
}

/// Asks `$SRV.STATS` until `want` holds, within [`EVENT`].
async fn wait_state(client: &async_nats::Client, want: impl Fn((bool, u64)) -> bool) {
    let bound = tokio::time::Instant::now() + EVENT;
    loop {
        let state = device_state(client).await;
        if want(state) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < bound,
            "the device's state stayed {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stream_publishes_each_item_then_its_end() {
    let Some(bus) = Bus::start(false, &[]) else {
        return;
    };
    let client = bus.client().await;
    let inbox = client.new_inbox();
    let mut sub = client.subscribe(inbox.clone()).await.unwrap();
    publish_request(&client, "wirecall.demo.count", &inbox, &[], "[5]").await;
    for n in 1..=5u32 {
        let m = next(&mut sub).await;
        assert_eq!(header(&m, "Wirecall-Item"), Some(n.to_string().as_str()));
        assert_eq!(
            std::str::from_utf8(&m.payload).unwrap(),
            (n - 1).to_string()
        );
    }
    let end = next(&mut sub).await;
    assert_eq!(header(&end, "Wirecall-End"), Some("5"), "{end:?}");
    assert_eq!(header(&end, "Nats-Service-Error"), None);

    // Its endpoint says it is a stream.
    let info = client
        .request("$SRV.INFO.wirecall-demo", "".into())
        .await
        .unwrap();
    let info: Info = serde_json::from_slice(&info.payload).unwrap();
    let count = info
        .endpoints
        .iter()
        .find(|e| e.name == "count")
        .unwrap_or_else(|| panic!("no count endpoint in {info:?}"));
    assert_eq!(
        count.metadata.get("mode").map(String::as_str),
        Some("server_stream")
    );
    assert_eq!(info.metadata.get("link").map(String::as_str), Some("tcp"));

    // Bad arguments end the stream at once with the error headers, and no item.
    publish_request(&client, "wirecall.demo.count", &inbox, &[], "[\"many\"]").await;
    let m = next(&mut sub).await;
    assert_eq!(header(&m, "Nats-Service-Error-Code"), Some("400"), "{m:?}");
    drop(bus);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_keeps_a_streams_items_when_asked() {
    let Some(bus) = Bus::start(true, &[]) else {
        return;
    };
    let client = bus.client().await;
    let js = async_nats::jetstream::new(client.clone());
    js.create_stream(async_nats::jetstream::stream::Config {
        name: "KEPT".into(),
        subjects: vec!["kept.demo".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let inbox = client.new_inbox();
    let mut sub = client.subscribe(inbox.clone()).await.unwrap();
    let kept = [
        ("Wirecall-Stream-Subject", "kept.demo"),
        ("Wirecall-JetStream", "true"),
    ];
    publish_request(&client, "wirecall.demo.count", &inbox, &kept, "[10]").await;
    let end = next(&mut sub).await;
    assert_eq!(header(&end, "Wirecall-End"), Some("10"), "{end:?}");
    let mut stream = js.get_stream("KEPT").await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 10);
    let seventh = stream.get_raw_message(7).await.unwrap();
    assert_eq!(std::str::from_utf8(&seventh.payload).unwrap(), "6");

    // No stream captures the subject: the call ends with 503 naming it.
    let lost = [
        ("Wirecall-Stream-Subject", "nowhere.demo"),
        ("Wirecall-JetStream", "true"),
    ];
    publish_request(&client, "wirecall.demo.count", &inbox, &lost, "[10]").await;
    let end = next(&mut sub).await;
    assert_eq!(
        header(&end, "Nats-Service-Error-Code"),
        Some("503"),
        "{end:?}"
    );
    assert!(
        header(&end, "Nats-Service-Error").is_some_and(|t| t.contains("nowhere.demo")),
        "{end:?}"
    );
    // The device's stream was cancelled: nothing is left in flight.
    wait_state(&client, |(_, in_flight)| in_flight == 0).await;
    drop(bus);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_message_ends_the_call_on_the_device() {
    let Some(bus) = Bus::start(false, &[]) else {
        return;
    };
    let client = bus.client().await;
    let inbox = client.new_inbox();
    let mut sub = client.subscribe(inbox.clone()).await.unwrap();
    // A minute's sleep with two minutes to run: only the cancel can end it in time.
    let long = [("Wirecall-Timeout-Ms", "120000")];
    publish_request(&client, "wirecall.demo.sleep", &inbox, &long, "[60000]").await;
    wait_state(&client, |(_, in_flight)| in_flight == 1).await;
    client
        .publish("wirecall.demo.sleep.cancel", inbox.clone().into())
        .await
        .unwrap();
    let m = next(&mut sub).await;
    assert_eq!(header(&m, "Nats-Service-Error-Code"), Some("499"), "{m:?}");
    wait_state(&client, |(_, in_flight)| in_flight == 0).await;

    // A cancel published right behind its request (it may overtake it inside the
    // gateway) ends it too; so does one for a stream.
    let inbox2 = client.new_inbox();
    let mut sub2 = client.subscribe(inbox2.clone()).await.unwrap();
    publish_request(&client, "wirecall.demo.sleep", &inbox2, &long, "[60000]").await;
    client
        .publish("wirecall.demo.sleep.cancel", inbox2.clone().into())
        .await
        .unwrap();
    let m = next(&mut sub2).await;
    assert_eq!(header(&m, "Nats-Service-Error-Code"), Some("499"), "{m:?}");

    let inbox3 = client.new_inbox();
    let mut sub3 = client.subscribe(inbox3.clone()).await.unwrap();
    publish_request(
        &client,
        "wirecall.demo.count",
        &inbox3,
        &long,
        "[4000000000]",
    )
    .await;
    let first = next(&mut sub3).await;
    assert_eq!(header(&first, "Wirecall-Item"), Some("1"));
    client
        .publish("wirecall.demo.count.cancel", inbox3.clone().into())
        .await
        .unwrap();
    loop {
        let m = next(&mut sub3).await;
        if header(&m, "Wirecall-Item").is_none() {
            assert_eq!(header(&m, "Nats-Service-Error-Code"), Some("499"), "{m:?}");
            break;
        }
    }
    wait_state(&client, |(_, in_flight)| in_flight == 0).await;

    // The device serves on.
    let reply = client
        .request("wirecall.demo.add", "[2, 40]".into())
        .await
        .unwrap();
    assert_eq!(std::str::from_utf8(&reply.payload).unwrap(), "42");
    drop(bus);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_is_down_is_answered_at_once_and_found_again() {
    let Some(mut bus) = Bus::start(false, &[]) else {
        return;
    };
    let client = bus.client().await;
    let long = {
        let mut h = HeaderMap::new();
        h.insert("Wirecall-Timeout-Ms", "120000");
        h
    };
    drop(bus.device.take()); // killed by its pid
    wait_state(&client, |(connected, _)| !connected).await;
    let started = std::time::Instant::now();
    let reply = client
        .request_with_headers("wirecall.demo.add", long.clone(), "[1, 2]".into())
        .await
        .unwrap();
    assert_eq!(
        header(&reply, "Nats-Service-Error-Code"),
        Some("503"),
        "{reply:?}"
    );
    assert!(
        header(&reply, "Nats-Service-Error").is_some_and(|t| t.contains("not connected")),
        "{reply:?}"
    );
    // At once: far from the two minutes the call was given.
    assert!(started.elapsed() < EVENT);

    // The device comes back on the same address; the gateway's client finds it.
    let (device, _) = start_demo(&bus.wirecall, &bus.device_addr);
    bus.device = Some(device);
    wait_state(&client, |(connected, _)| connected).await;
    let reply = client
        .request_with_headers("wirecall.demo.add", long, "[20, 22]".into())
        .await
        .unwrap();
    assert_eq!(std::str::from_utf8(&reply.payload).unwrap(), "42");
    drop(bus);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_gateway_finishes_calls_within_its_grace_then_cuts_the_rest() {
    let Some(bus) = Bus::start(false, &["--grace", "2"]) else {
        return;
    };
    let client = bus.client().await;
    let long = [("Wirecall-Timeout-Ms", "120000")];
    // One call that ends within the grace period, one that would outlast it.
    let (short_inbox, long_inbox) = (client.new_inbox(), client.new_inbox());
    let mut short_sub = client.subscribe(short_inbox.clone()).await.unwrap();
    let mut long_sub = client.subscribe(long_inbox.clone()).await.unwrap();
    publish_request(&client, "wirecall.demo.sleep", &short_inbox, &long, "[300]").await;
    publish_request(
        &client,
        "wirecall.demo.sleep",
        &long_inbox,
        &long,
        "[60000]",
    )
    .await;
    wait_state(&client, |(_, in_flight)| in_flight == 2).await;
    let pid = bus.gateway.child.id().to_string();
    let term = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(term.success());
    bus.gateway
        .wait_for("gateway stopping", |l| l.contains("stopping").then_some(()));

    let short = next(&mut short_sub).await;
    assert_eq!(header(&short, "Nats-Service-Error"), None, "{short:?}");
    assert_eq!(std::str::from_utf8(&short.payload).unwrap(), "null");
    let cut = next(&mut long_sub).await;
    assert_eq!(
        header(&cut, "Nats-Service-Error-Code"),
        Some("503"),
        "{cut:?}"
    );
    assert!(
        header(&cut, "Nats-Service-Error").is_some_and(|t| t.contains("shutting down")),
        "{cut:?}"
    );
    bus.gateway.wait_for("gateway stopped", |l| {
        l.contains("wirecall-gateway: stopped").then_some(())
    });
    // Nobody serves the device any more: NATS says so at once.
    let e = client
        .request("wirecall.demo.add", "[1, 1]".into())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), async_nats::RequestErrorKind::NoResponders, "{e}");
    drop(bus);
}
