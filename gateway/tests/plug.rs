//! `--watch DIR`: serial devices plugged into and unplugged from a watched directory.
//! Each "device" is a socat pty pair (one end linked into DIR, as udev links a USB serial
//! adapter into /dev/serial/by-id) whose other end the demo server serves
//! (`wirecall serve --serial`). Unplugging is socat ending (its links go with it).
//!
//! Needs `nats-server`, socat and the `wirecall` binary. Every wait is for an event (a
//! line, a reply, the bus's answer), bounded; every process is killed by its own pid.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use async_nats::service::Info;
use async_nats::{HeaderMap, RequestErrorKind};
use common::{
    client, demo_server, error_code, gateway, has_service, lacks_service, nats_server, ok_text,
    pty_pair, tools, tools_and_socat, wait_until, Process, TempDir,
};

/// A board plugged in: the pty pair linked as `watched/NAME` and `other/NAME`, the demo
/// server serving the far end. Dropped, both are killed.
struct Board {
    socat: Process,
    _server: Process,
}

fn plug(wirecall: &Path, watched: &Path, other: &Path, name: &str) -> Board {
    let far = other.join(name);
    let socat = pty_pair(&watched.join(name), &far);
    let (server, _) = demo_server(wirecall, &["--serial", far.to_str().unwrap()]);
    Board {
        socat,
        _server: server,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_device_comes_goes_and_comes_back() {
    let Some(wirecall) = tools_and_socat() else {
        return;
    };
    let watched = TempDir::new("watched");
    let other = TempDir::new("far-ends");
    let (_nats, nats_url) = nats_server();
    let gateway = gateway(
        &nats_url,
        &[
            "--watch",
            watched.0.to_str().unwrap(),
            "--connect-timeout",
            "3",
        ],
        |_| {},
    );
    let client = client(&nats_url).await;

    // Plugged in: on the bus as wirecall-board-1, answering calls.
    let mut board = plug(&wirecall, &watched.0, &other.0, "board-1");
    gateway.wait_for("board-1 appeared", |l| {
        l.contains("board-1 appeared: device board-1 on serial://")
            .then_some(())
    });
    wait_until("wirecall-board-1 on the bus", || {
        has_service(&client, "board-1")
    })
    .await;
    let info = client
        .request("$SRV.INFO.wirecall-board-1", "".into())
        .await
        .unwrap();
    let info: Info = serde_json::from_slice(&info.payload).unwrap();
    assert!(
        info.endpoints
            .iter()
            .any(|e| e.subject == "wirecall.board-1.add"),
        "{info:?}"
    );
    let reply = client
        .request("wirecall.board-1.add", "[2, 3]".into())
        .await
        .unwrap();
    assert_eq!(ok_text(&reply), "5");

    // A long call in flight when the board goes: it ends with an error, long before its
    // minute is up. (The `add` after it, answered, shows the gateway has taken it: NATS
    // delivers one connection's messages in order.)
    let mut minute = HeaderMap::new();
    minute.insert("Wirecall-Timeout-Ms", "60000");
    let in_flight = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .request_with_headers("wirecall.board-1.sleep", minute, "[60000]".into())
                .await
        }
    });
    let reply = client
        .request("wirecall.board-1.add", "[1, 1]".into())
        .await
        .unwrap();
    assert_eq!(ok_text(&reply), "2");

    // Unplugged: the entry goes, the service leaves the bus, calls find no responders.
    board.socat.terminate();
    gateway.wait_for("board-1 gone", |l| {
        l.contains("board-1 is gone: taking its device off the bus")
            .then_some(())
    });
    let ended = in_flight.await.unwrap().unwrap();
    assert_eq!(error_code(&ended).as_deref(), Some("503"), "{ended:?}");
    wait_until("wirecall-board-1 off the bus", || {
        lacks_service(&client, "board-1")
    })
    .await;
    wait_until("no responders for wirecall.board-1.add", || async {
        let asked = client.request("wirecall.board-1.add", "[1, 1]".into());
        matches!(
            tokio::time::timeout(Duration::from_secs(1), asked).await,
            Ok(Err(e)) if e.kind() == RequestErrorKind::NoResponders
        )
    })
    .await;
    drop(board);

    // Plugged in again (another pty under the same name): back, and answering.
    let _board = plug(&wirecall, &watched.0, &other.0, "board-1");
    wait_until("wirecall-board-1 back on the bus", || {
        has_service(&client, "board-1")
    })
    .await;
    let reply = client
        .request("wirecall.board-1.add", "[20, 22]".into())
        .await
        .unwrap();
    assert_eq!(ok_text(&reply), "42");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_entries_with_one_id_the_second_is_refused() {
    let Some(wirecall) = tools_and_socat() else {
        return;
    };
    let watched = TempDir::new("collide");
    let other = TempDir::new("collide-far");
    let (_nats, nats_url) = nats_server();
    let gateway = gateway(&nats_url, &["--watch", watched.0.to_str().unwrap()], |_| {});
    let client = client(&nats_url).await;

    // `tty a` and `tty.a` are both device `tty_a`. The first (in order of path) is served.
    let mut first = plug(&wirecall, &watched.0, &other.0, "tty a");
    wait_until("wirecall-tty_a on the bus", || {
        has_service(&client, "tty_a")
    })
    .await;
    let _second = plug(&wirecall, &watched.0, &other.0, "tty.a");
    let refused = gateway.wait_for("the second refused", |l| {
        l.contains("is refused").then(|| l.to_string())
    });
    assert_eq!(
        refused,
        format!(
            "wirecall-gateway: {} is refused: device id `tty_a` is already taken by {}",
            watched.0.join("tty.a").display(),
            watched.0.join("tty a").display()
        )
    );
    let reply = client
        .request("wirecall.tty_a.add", "[1, 2]".into())
        .await
        .unwrap();
    assert_eq!(ok_text(&reply), "3");

    // The first goes: the second gets the id.
    first.socat.terminate();
    let second = format!(
        "{} appeared: device tty_a",
        watched.0.join("tty.a").display()
    );
    gateway.wait_for("the second served", |l| l.contains(&second).then_some(()));
    // (A request may still meet the first one's endpoint on its way off the bus, and go
    // unanswered: each try waits a second.)
    wait_until("wirecall-tty_a served again", || async {
        let asked = client.request("wirecall.tty_a.add", "[2, 2]".into());
        match tokio::time::timeout(Duration::from_secs(1), asked).await {
            Ok(Ok(reply)) => error_code(&reply).is_none() && &reply.payload[..] == b"4",
            _ => false,
        }
    })
    .await;
}

/// docs/NATS.md: a gateway stopped with SIGTERM "first stops taking requests (its endpoints
/// leave the queue group ...)". With `--device` and `--watch` together, the named devices
/// must not go on taking new requests while the watched ones use their grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sigterm_a_named_device_stops_taking_requests_at_once_too() {
    let Some(wirecall) = tools_and_socat() else {
        return;
    };
    let watched = TempDir::new("stop-order");
    let other = TempDir::new("stop-order-far");
    let (_nats, nats_url) = nats_server();
    let (_named, on) = demo_server(&wirecall, &["--tcp", "127.0.0.1:0"]);
    let named = format!("named=tcp://{}", on.strip_prefix("tcp ").unwrap());
    let _board = plug(&wirecall, &watched.0, &other.0, "board");
    let gateway = gateway(
        &nats_url,
        &[
            "--device",
            &named,
            "--watch",
            watched.0.to_str().unwrap(),
            "--grace",
            "10",
        ],
        |_| {},
    );
    let client = client(&nats_url).await;
    wait_until("wirecall-board on the bus", || {
        has_service(&client, "board")
    })
    .await;
    // A call in flight on the watched board (20 s), taken by the gateway before the stop:
    // the watched device uses its grace for it.
    let mut minute = HeaderMap::new();
    minute.insert("Wirecall-Timeout-Ms", "60000");
    let long = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .request_with_headers("wirecall.board.sleep", minute, "[20000]".into())
                .await
        }
    });
    common::wait_in_flight(&client, "board", 1).await;

    let term = std::process::Command::new("kill")
        .args(["-TERM", &gateway.pid().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    // The named device leaves the bus while the watched one's call still runs: not after
    // the watched devices' grace.
    wait_until("the named device off the bus", || {
        lacks_service(&client, "named")
    })
    .await;
    assert!(
        !long.is_finished(),
        "the named device stayed on the bus until the watched one's call ended"
    );
}

/// A device whose link comes back serving another schema (re-flashed behind a
/// `--device`, or another board plugged in under a watched name between two looks, its
/// port's number reused) is registered again with its own manifest, over the same
/// client: its calls would otherwise all be refused 409. The device is an `exec:` link
/// that runs the calc service, then, once a flag file exists and the first is killed (by
/// the pid it wrote), the demo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_comes_back_with_another_schema_is_registered_again() {
    let Some(wirecall) = tools() else {
        return;
    };
    let calc = wirecall.with_file_name("calc-server");
    assert!(
        calc.exists(),
        "{} is not built (cargo build -p wirecall-tests --bin calc-server)",
        calc.display()
    );
    let dir = TempDir::new("reflash");
    let (flag, pid_file) = (dir.0.join("flashed"), dir.0.join("pid"));
    let script = format!(
        "echo $$ > \"{pid}\"; if [ -e \"{flag}\" ]; then exec \"{demo}\" serve --stdio; \
         else exec \"{calc}\"; fi",
        pid = pid_file.display(),
        flag = flag.display(),
        demo = wirecall.display(),
        calc = calc.display(),
    );
    let (_nats, nats_url) = nats_server();
    let device = format!("board=exec:sh -c '{script}'");
    let _gateway = gateway(&nats_url, &["--device", &device], |_| {});
    let client = client(&nats_url).await;
    // Each ask bounded by a second: a service being taken off may still be subscribed
    // for a moment without answering (see `common::service_state`).
    let service = |client: async_nats::Client| async move {
        let ask = client.request("$SRV.INFO.wirecall-board", "".into());
        let info = tokio::time::timeout(Duration::from_secs(1), ask).await;
        info.ok()
            .and_then(Result::ok)
            .and_then(|m| serde_json::from_slice::<Info>(&m.payload).ok())
            .and_then(|i| i.metadata.get("wirecall_service").cloned())
    };
    assert_eq!(service(client.clone()).await.as_deref(), Some("calc"));

    // Re-flashed: the next start runs the demo; this one is killed by its pid.
    std::fs::write(&flag, b"").unwrap();
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(std::process::Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status()
        .unwrap()
        .success());
    wait_until("the demo on the bus as board", || {
        let c = client.clone();
        async move { service(c).await.as_deref() == Some("demo") }
    })
    .await;
    let reply = client
        .request("wirecall.board.echo", "[[1, 2]]".into())
        .await
        .unwrap();
    assert_eq!(ok_text(&reply), r#""0x0102""#);
}
