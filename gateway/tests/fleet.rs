//! Many devices on one gateway, and devices that are not there when it starts: 64
//! sessions of the demo server (`wirecall serve --unix`) each a service of its own, called
//! all at once; a `--device` that cannot be reached at start is tried again until it comes;
//! one id given twice is refused.
//!
//! Needs `nats-server` and the `wirecall` binary (see nats.rs). Every process is killed by
//! its own pid.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Instant;

use async_nats::service::Info;
use common::{
    client, demo_server, gateway, has_service, lacks_service, nats_server, ok_text, tools,
    wait_until, TempDir, EVENT,
};
use futures_util::StreamExt;

const DEVICES: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_devices_are_sixty_four_services_called_at_once() {
    let Some(wirecall) = tools() else { return };
    let dir = TempDir::new("fleet64");
    let socket = dir.0.join("demo.sock");
    let (_nats, nats_url) = nats_server();
    let (_device, _) = demo_server(&wirecall, &["--unix", socket.to_str().unwrap()]);

    // 64 devices, each its own connection (and so its own session) to the one server.
    let mut args = Vec::new();
    for n in 0..DEVICES {
        args.push("--device".to_string());
        args.push(format!("dev{n:02}=unix:{}", socket.display()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let _gateway = gateway(&nats_url, &args, |l| {
        assert!(!l.contains("cannot") && !l.contains("trying again"), "{l}")
    });
    eprintln!("64 devices registered in {:?}", started.elapsed());
    let client = client(&nats_url).await;

    // $SRV.INFO, asked once, is answered by every service: gather the answers until all
    // 64 are in (or the bound passes).
    let inbox = client.new_inbox();
    let mut answers = client.subscribe(inbox.clone()).await.unwrap();
    client
        .publish_with_reply("$SRV.INFO", inbox, "".into())
        .await
        .unwrap();
    let expected: BTreeSet<String> = (0..DEVICES)
        .map(|n| format!("wirecall-dev{n:02}"))
        .collect();
    let mut seen = BTreeSet::new();
    let end = tokio::time::Instant::now() + EVENT;
    while !expected.is_subset(&seen) {
        let answer = tokio::time::timeout_at(end, answers.next())
            .await
            .unwrap_or_else(|_| panic!("$SRV.INFO: only {} of 64: {seen:?}", seen.len()))
            .unwrap();
        let info: Info = serde_json::from_slice(&answer.payload).unwrap();
        assert!(
            info.endpoints
                .iter()
                .any(|e| e.subject == format!("wirecall.{}.add", &info.name["wirecall-".len()..])),
            "{info:?}"
        );
        assert!(
            seen.insert(info.name.clone()),
            "{} answered twice",
            info.name
        );
    }
    assert_eq!(seen, expected);

    // One call to each device, all in flight together; each answers its own sum.
    let started = Instant::now();
    let calls = (0..DEVICES).map(|n| {
        let client = client.clone();
        async move {
            let reply = client
                .request(
                    format!("wirecall.dev{n:02}.add"),
                    format!("[{n}, 1000]").into(),
                )
                .await
                .unwrap();
            (n, ok_text(&reply))
        }
    });
    for (n, sum) in futures_util::future::join_all(calls).await {
        assert_eq!(sum, (n + 1000).to_string(), "dev{n:02}");
    }
    eprintln!("64 concurrent calls answered in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_missing_at_start_is_tried_again_until_it_comes() {
    let Some(wirecall) = tools() else { return };
    let dir = TempDir::new("late");
    let late = dir.0.join("late.sock");
    let (_nats, nats_url) = nats_server();
    let (_good, on) = demo_server(&wirecall, &["--tcp", "127.0.0.1:0"]);
    let good = on.strip_prefix("tcp ").unwrap();

    // Nothing listens on `late` yet: reported, and the gateway is ready all the same.
    let mut reported = false;
    let gateway = gateway(
        &nats_url,
        &[
            "--connect-timeout",
            "2",
            "--device",
            &format!("late=unix:{}", late.display()),
            "--device",
            &format!("good=tcp://{good}"),
        ],
        |l| {
            if l.contains("device late:") && l.contains("trying again in") {
                reported = true;
            }
        },
    );
    assert!(
        reported,
        "the missing device was not reported before `ready`"
    );
    let client = client(&nats_url).await;
    assert_eq!(
        ok_text(
            &client
                .request("wirecall.good.add", "[1, 2]".into())
                .await
                .unwrap()
        ),
        "3"
    );
    assert!(lacks_service(&client, "late").await);

    // It comes: the next attempt registers it, and it answers.
    let (_late, _) = demo_server(&wirecall, &["--unix", late.to_str().unwrap()]);
    gateway.wait_for("late registered", |l| {
        l.contains("wirecall-gateway: device late (").then_some(())
    });
    wait_until("service wirecall-late", || has_service(&client, "late")).await;
    let reply = client
        .request("wirecall.late.add", "[40, 2]".into())
        .await
        .unwrap();
    assert_eq!(ok_text(&reply), "42");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_id_given_twice_is_refused_at_start() {
    let Some(_) = tools() else { return };
    let (_nats, nats_url) = nats_server();
    let mut gateway = common::Process::start(
        std::process::Command::new(env!("CARGO_BIN_EXE_wirecall-gateway")).args([
            "--nats",
            &nats_url,
            "--connect-timeout",
            "1",
            "--device",
            "a=tcp://127.0.0.1:1",
            "--device",
            "a=tcp://127.0.0.1:2",
        ]),
    );
    gateway.wait_for("refused", |l| {
        l.contains(
            "--device a=tcp://127.0.0.1:2 is refused: device id `a` is already taken by \
             --device a=tcp://127.0.0.1:1",
        )
        .then_some(())
    });
    assert_eq!(gateway.wait_exit().code(), Some(1));
}

/// docs/NATS.md: SIGTERM lets calls in flight finish for `--grace`. That must hold from
/// the moment a device serves, not only once every device has had its first attempt
/// (`ready`): here one device is slow to answer its first attempt (a port that accepts and
/// says nothing), while another already serves a call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_before_ready_still_lets_calls_in_flight_finish() {
    let Some(wirecall) = tools() else { return };
    let (_nats, nats_url) = nats_server();
    let (_good, on) = demo_server(&wirecall, &["--tcp", "127.0.0.1:0"]);
    let good = on.strip_prefix("tcp ").unwrap();
    // Accepted by the kernel, never answered: the first attempt waits its connect timeout.
    let mute = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut gateway = common::Process::start(
        std::process::Command::new(env!("CARGO_BIN_EXE_wirecall-gateway")).args([
            "--nats",
            &nats_url,
            "--connect-timeout",
            "10",
            "--device",
            &format!("good=tcp://{good}"),
            "--device",
            &format!("mute=tcp://{}", mute.local_addr().unwrap()),
        ]),
    );
    gateway.wait_for("good registered", |l| {
        l.contains("wirecall-gateway: device good (").then_some(())
    });
    let client = client(&nats_url).await;
    wait_until("service wirecall-good", || has_service(&client, "good")).await;
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.request("wirecall.good.sleep", "[1000]".into()).await }
    });
    common::wait_in_flight(&client, "good", 1).await;
    let term = std::process::Command::new("kill")
        .args(["-TERM", &gateway.pid().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let answer = call.await.unwrap();
    assert!(
        matches!(&answer, Ok(m) if &m.payload[..] == b"null"),
        "the call in flight at SIGTERM: {answer:?}"
    );
    assert_eq!(gateway.wait_exit().code(), Some(0));
}
