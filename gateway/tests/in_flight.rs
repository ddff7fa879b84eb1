//! Calls in flight through the gateway: server streams (to the reply subject, and kept by
//! JetStream), cancel messages, a device that goes down and comes back, and a stop that
//! lets calls finish within its grace. Against a real `nats-server`, the demo server and
//! the gateway, all killed by their pids (see `common`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use async_nats::service::Info;
use async_nats::HeaderMap;
use common::{
    demo_server, gateway, header, nats_server_with, next, publish_request, tools, Nats, Process,
    TempDir, EVENT,
};

/// A running bus: `nats-server` (with JetStream in a temporary store when asked), the
/// demo server on TCP, and the gateway serving it as device `demo`.
struct Bus {
    nats_url: String,
    device_addr: String,
    wirecall: PathBuf,
    // Dropped in this order: the gateway first, the server last.
    gateway: Process,
    device: Option<Process>,
    nats: Nats,
    _store: Option<TempDir>,
}

impl Bus {
    fn start(jetstream: bool, gateway_args: &[&str]) -> Option<Bus> {
        Bus::start_with(jetstream, &[], gateway_args)
    }

    /// [`start`](Self::start) with more arguments for `wirecall serve`.
    fn start_with(jetstream: bool, device_args: &[&str], gateway_args: &[&str]) -> Option<Bus> {
        let wirecall = tools()?;
        let store = jetstream.then(|| TempDir::new("js"));
        let extra: Vec<&std::ffi::OsStr> = match &store {
            Some(dir) => vec!["-js".as_ref(), "-sd".as_ref(), dir.0.as_os_str()],
            None => Vec::new(),
        };
        let (nats, nats_url) = nats_server_with(&extra);
        let (device, device_addr) = start_demo(&wirecall, "127.0.0.1:0", device_args);
        let demo = format!("demo=tcp://{device_addr}");
        let mut args = vec!["--device", demo.as_str()];
        args.extend_from_slice(gateway_args);
        let gateway = gateway(&nats_url, &args, |_| {});
        Some(Bus {
            nats_url,
            device_addr,
            wirecall,
            gateway,
            device: Some(device),
            nats,
            _store: store,
        })
    }

    async fn client(&self) -> async_nats::Client {
        common::client(&self.nats_url).await
    }
}

/// `wirecall serve --tcp ADDR`, and the address it serves on.
fn start_demo(wirecall: &Path, addr: &str, more: &[&str]) -> (Process, String) {
    let mut args = vec!["--tcp", addr];
    args.extend_from_slice(more);
    let (device, on) = demo_server(wirecall, &args);
    let addr = on.strip_prefix("tcp ").unwrap().to_string();
    (device, addr)
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
    // A device that serves one call at a time: the stream that cannot be kept must be
    // cancelled on it, or the call after it finds no slot.
    let Some(bus) = Bus::start_with(true, &["--max-calls", "1"], &[]) else {
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
    publish_request(
        &client,
        "wirecall.demo.count",
        &inbox,
        &lost,
        "[4000000000]",
    )
    .await;
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
    // The device's endless stream was cancelled: its one slot serves the next call.
    wait_state(&client, |(_, in_flight)| in_flight == 0).await;
    let mut headers = HeaderMap::new();
    headers.insert("Wirecall-Timeout-Ms", "10000");
    let reply = client
        .request_with_headers("wirecall.demo.add", headers, "[1, 2]".into())
        .await
        .unwrap();
    assert_eq!(
        std::str::from_utf8(&reply.payload).unwrap(),
        "3",
        "{reply:?}"
    );
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
    let (device, _) = start_demo(&bus.wirecall, &bus.device_addr, &[]);
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
    let Some(bus) = Bus::start(false, &["--grace", "6"]) else {
        return;
    };
    let client = bus.client().await;
    let long = [("Wirecall-Timeout-Ms", "120000")];
    // One call that ends within the grace period, one that would outlast it.
    let (short_inbox, long_inbox) = (client.new_inbox(), client.new_inbox());
    let mut short_sub = client.subscribe(short_inbox.clone()).await.unwrap();
    let mut long_sub = client.subscribe(long_inbox.clone()).await.unwrap();
    publish_request(
        &client,
        "wirecall.demo.sleep",
        &short_inbox,
        &long,
        "[1500]",
    )
    .await;
    publish_request(
        &client,
        "wirecall.demo.sleep",
        &long_inbox,
        &long,
        "[60000]",
    )
    .await;
    wait_state(&client, |(_, in_flight)| in_flight == 2).await;
    let pid = bus.gateway.pid().to_string();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_never_goes_to_a_subject_that_is_a_command() {
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
    // An answer (here an error, an empty message) to JetStream's API would delete the
    // stream with the gateway's permissions; one to a device's subject would call it.
    publish_request(
        &client,
        "wirecall.demo.add",
        "$JS.API.STREAM.DELETE.KEPT",
        &[],
        "not json",
    )
    .await;
    publish_request(
        &client,
        "wirecall.demo.add",
        "wirecall.demo.fail",
        &[],
        "[1, 2]",
    )
    .await;
    // Requests of one endpoint are taken in order: once a later one is answered, the
    // gateway has dealt with these.
    let reply = client
        .request("wirecall.demo.add", "[2, 40]".into())
        .await
        .unwrap();
    assert_eq!(std::str::from_utf8(&reply.payload).unwrap(), "42");
    client.flush().await.unwrap();
    assert!(
        js.get_stream("KEPT").await.is_ok(),
        "stream KEPT was deleted"
    );
    let stats = client
        .request("$SRV.STATS.wirecall-demo", "".into())
        .await
        .unwrap();
    let stats: serde_json::Value = serde_json::from_slice(&stats.payload).unwrap();
    let fail = stats["endpoints"]
        .as_array()
        .and_then(|all| all.iter().find(|e| e["name"] == "fail"))
        .unwrap_or_else(|| panic!("no fail endpoint in {stats}"));
    assert_eq!(fail["num_requests"], 0, "{fail}");
    drop(bus);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_past_the_devices_own_limit_is_busy_at_once() {
    let Some(bus) = Bus::start_with(false, &["--max-calls", "1"], &[]) else {
        return;
    };
    let client = bus.client().await;
    let (a, b) = (client.new_inbox(), client.new_inbox());
    let mut sub_a = client.subscribe(a.clone()).await.unwrap();
    let mut sub_b = client.subscribe(b.clone()).await.unwrap();
    let long = [("Wirecall-Timeout-Ms", "120000")];
    publish_request(&client, "wirecall.demo.sleep", &a, &long, "[60000]").await;
    wait_state(&client, |(_, n)| n == 1).await;
    publish_request(&client, "wirecall.demo.add", &b, &long, "[1, 2]").await;
    // At once: long before the first call's minute, or the second's two.
    let m = next(&mut sub_b).await;
    assert_eq!(header(&m, "Nats-Service-Error-Code"), Some("503"), "{m:?}");
    assert!(
        header(&m, "Nats-Service-Error").is_some_and(|t| t.contains("Busy")),
        "{m:?}"
    );
    client
        .publish("wirecall.demo.sleep.cancel", a.clone().into())
        .await
        .unwrap();
    let m = next(&mut sub_a).await;
    assert_eq!(header(&m, "Nats-Service-Error-Code"), Some("499"), "{m:?}");
    drop(bus);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_callers_cancels_never_cost_another_caller_its_call() {
    // A device resets a link on which more than 32 requests per 10 s are cancelled while
    // being served (its guard against rapid reset). 40 cancels from one caller: each is
    // answered 499 at once, and another caller's call in flight is not lost with the link.
    let Some(bus) = Bus::start(false, &[]) else {
        return;
    };
    let client = bus.client().await;
    let victim = client.new_inbox();
    let mut victim_sub = client.subscribe(victim.clone()).await.unwrap();
    let long = [("Wirecall-Timeout-Ms", "60000")];
    publish_request(&client, "wirecall.demo.sleep", &victim, &long, "[8000]").await;
    wait_state(&client, |(_, n)| n == 1).await;
    for _round in 0..2 {
        let inboxes: Vec<String> = (0..20).map(|_| client.new_inbox()).collect();
        let mut subs = Vec::new();
        for i in &inboxes {
            subs.push(client.subscribe(i.clone()).await.unwrap());
            publish_request(&client, "wirecall.demo.sleep", i, &long, "[2000]").await;
        }
        wait_state(&client, |(_, n)| n >= 21).await;
        for i in &inboxes {
            client
                .publish("wirecall.demo.sleep.cancel", i.clone().into())
                .await
                .unwrap();
        }
        client.flush().await.unwrap();
        for sub in &mut subs {
            let m = next(sub).await;
            assert_eq!(header(&m, "Nats-Service-Error-Code"), Some("499"), "{m:?}");
        }
        // Those left to run on the device end by themselves.
        wait_state(&client, |(_, n)| n <= 1).await;
    }
    let m = next(&mut victim_sub).await;
    assert_eq!(header(&m, "Nats-Service-Error"), None, "{m:?}");
    assert_eq!(std::str::from_utf8(&m.payload).unwrap(), "null");
    drop(bus);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_whose_nats_server_is_gone_still_stops() {
    let Some(mut bus) = Bus::start(false, &["--grace", "1"]) else {
        return;
    };
    bus.nats.process.kill();
    let pid = bus.gateway.pid().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    // Within the bound: it does not wait for ever to flush to a server that is gone.
    let status = bus.gateway.wait_exit();
    assert!(status.success(), "{status:?}");
    drop(bus);
}
