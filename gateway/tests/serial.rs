//! Calls, errors, streams and cancels through the gateway to devices on serial ports: the demo server on a
//! socat pty pair (`wirecall serve --serial`), and the example firmware under QEMU behind
//! a socat pty (as cli/tests/bridge.rs runs it).
//!
//! Needs `nats-server`, socat and the `wirecall` binary (else skipped, unless
//! `WIRECALL_REQUIRE_NATS=1`); the firmware test also needs qemu-system-arm and the
//! firmware image (`cd firmware-example && python3 footprint.py`, as ./ci.sh does), else
//! it is skipped with a message unless `WIRECALL_REQUIRE_FIRMWARE=1` makes that a failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use async_nats::service::Info;
use async_nats::HeaderMap;
use common::{
    client, demo_server, error_code, error_text, gateway, header, installed, nats_server, next,
    ok_text, pty_pair, publish_request, skip, tools_and_socat, TempDir,
};

/// Runs server stream `subject` with `args`: its items' payloads, once it ended well.
async fn stream_items(client: &async_nats::Client, subject: &str, args: &str) -> Vec<String> {
    let inbox = client.new_inbox();
    let mut sub = client.subscribe(inbox.clone()).await.unwrap();
    let deadline = [("Wirecall-Timeout-Ms", "20000")];
    publish_request(client, subject, &inbox, &deadline, args).await;
    let mut items = Vec::new();
    loop {
        let m = next(&mut sub).await;
        if let Some(n) = header(&m, "Wirecall-Item") {
            assert_eq!(n, (items.len() + 1).to_string(), "{m:?}");
            items.push(std::str::from_utf8(&m.payload).unwrap().to_string());
            continue;
        }
        assert_eq!(header(&m, "Nats-Service-Error"), None, "{m:?}");
        assert_eq!(
            header(&m, "Wirecall-End"),
            Some(items.len().to_string().as_str()),
            "{m:?}"
        );
        return items;
    }
}

/// Starts `subject` with `args` (a call that would take minutes, or an endless stream),
/// waits for `items` of its items, cancels it by its reply subject: the answer is 499.
async fn cancel_after(client: &async_nats::Client, subject: &str, args: &str, items: usize) {
    let inbox = client.new_inbox();
    let mut sub = client.subscribe(inbox.clone()).await.unwrap();
    let long = [("Wirecall-Timeout-Ms", "120000")];
    publish_request(client, subject, &inbox, &long, args).await;
    for n in 1..=items {
        let m = next(&mut sub).await;
        assert_eq!(
            header(&m, "Wirecall-Item"),
            Some(n.to_string().as_str()),
            "{m:?}"
        );
    }
    if items == 0 {
        // A call: wait until the gateway has it in flight (its stats say so).
        let id = subject.split('.').nth(1).unwrap();
        common::wait_in_flight(client, id, 1).await;
    }
    client
        .publish(format!("{subject}.cancel"), inbox.clone().into())
        .await
        .unwrap();
    loop {
        let m = next(&mut sub).await;
        if header(&m, "Wirecall-Item").is_none() {
            assert_eq!(error_code(&m).as_deref(), Some("499"), "{m:?}");
            return;
        }
    }
}

/// Asks `subject` with `args` (and a deadline of `timeout_ms` if given); the reply.
async fn ask(
    client: &async_nats::Client,
    subject: &str,
    args: &str,
    timeout_ms: Option<u64>,
) -> async_nats::Message {
    let mut headers = HeaderMap::new();
    if let Some(ms) = timeout_ms {
        headers.insert("Wirecall-Timeout-Ms", ms.to_string().as_str());
    }
    client
        .request_with_headers(subject.to_string(), headers, args.to_string().into())
        .await
        .unwrap_or_else(|e| panic!("{subject} {args}: {e}"))
}

/// Fails the test unless `reply` is an error with `code` whose text contains `says`.
fn assert_error(reply: &async_nats::Message, code: &str, says: &str) {
    assert_eq!(error_code(reply).as_deref(), Some(code), "{reply:?}");
    let text = error_text(reply);
    assert!(text.contains(says), "{code}: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_server_on_a_pty_is_called_through_the_gateway() {
    let Some(wirecall) = tools_and_socat() else {
        return;
    };
    let dir = TempDir::new("pty");
    let (near, far) = (dir.0.join("near"), dir.0.join("far"));
    let _socat = pty_pair(&near, &far);
    let (_device, _) = demo_server(&wirecall, &["--serial", far.to_str().unwrap()]);
    let (_nats, nats_url) = nats_server();
    let _gateway = gateway(
        &nats_url,
        &[
            "--device",
            &format!("pty=serial://{}?baud=115200", near.display()),
        ],
        |l| assert!(!l.contains("trying again"), "{l}"),
    );
    let client = client(&nats_url).await;

    assert_eq!(
        ok_text(&ask(&client, "wirecall.pty.add", "[2, 40]", None).await),
        "42"
    );
    assert_eq!(
        ok_text(
            &ask(
                &client,
                "wirecall.pty.add",
                r#"{"a": -5, "b": 3}"#,
                Some(2000)
            )
            .await
        ),
        "-2"
    );
    assert_eq!(
        ok_text(&ask(&client, "wirecall.pty.echo", "[[1, 2, 255]]", None).await),
        r#""0x0102ff""#
    );
    assert_eq!(
        ok_text(&ask(&client, "wirecall.pty.sleep", "[10]", None).await),
        "null"
    );
    // The device's handler fails: 500, with the device's own words.
    assert_error(
        &ask(&client, "wirecall.pty.fail", "[]", None).await,
        "500",
        "device pty: ",
    );
    // Arguments that do not fit never reach the port.
    assert_error(
        &ask(&client, "wirecall.pty.add", "[1]", None).await,
        "400",
        "expected add(",
    );
    // The deadline passes on the device: 504.
    assert_error(
        &ask(&client, "wirecall.pty.sleep", "[5000]", Some(200)).await,
        "504",
        "device pty: ",
    );
    // A stream, item by item; a minute's call and an endless stream, cancelled.
    assert_eq!(
        stream_items(&client, "wirecall.pty.count", "[5]").await,
        ["0", "1", "2", "3", "4"]
    );
    cancel_after(&client, "wirecall.pty.sleep", "[60000]", 0).await;
    cancel_after(&client, "wirecall.pty.count", "[4000000000]", 3).await;
    // After all that the port is in step: a call still answers.
    assert_eq!(
        ok_text(&ask(&client, "wirecall.pty.add", "[1, 1]", None).await),
        "2"
    );
}

/// The firmware image that ./ci.sh builds, if it is there.
fn firmware_image() -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../firmware-example/target/thumbv7m-none-eabi/release/firmware-example");
    path.exists().then_some(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_qemu_firmware_on_a_pty_is_called_through_the_gateway() {
    let Some(_) = tools_and_socat() else {
        return;
    };
    if firmware_image().is_none() {
        return skip(
            "no firmware image (cd firmware-example && python3 footprint.py)",
            "WIRECALL_REQUIRE_FIRMWARE",
        );
    }
    if !installed("qemu-system-arm", "--version") {
        return skip(
            "qemu-system-arm is not installed",
            "WIRECALL_REQUIRE_FIRMWARE",
        );
    }
    let qemu = wirecall_tests::qemu::Qemu::with_socat_pty();
    let (_nats, nats_url) = nats_server();
    let _gateway = gateway(
        &nats_url,
        &[
            "--connect-timeout",
            "20",
            "--device",
            &format!("fw=serial://{}?baud=115200", qemu.serial.display()),
        ],
        |l| assert!(!l.contains("trying again"), "{l}"),
    );
    let client = client(&nats_url).await;

    // Its service: the firmware's manifest (what `wirecall list` shows), its plain calls
    // as endpoints.
    let info = client
        .request("$SRV.INFO.wirecall-fw", "".into())
        .await
        .unwrap();
    let info: Info = serde_json::from_slice(&info.payload).unwrap();
    assert_eq!(
        info.metadata.get("schema_hash").map(String::as_str),
        Some(format!("0x{:08X}", wirecall_example_service::device::SCHEMA_HASH).as_str()),
        "{info:?}"
    );
    assert_eq!(
        info.metadata.get("wirecall_service").map(String::as_str),
        Some("device")
    );
    for procedure in [
        "add",
        "echo",
        "info",
        "set_level",
        "get_level",
        "sleep",
        "power_down",
    ] {
        let subject = format!("wirecall.fw.{procedure}");
        let endpoint = info
            .endpoints
            .iter()
            .find(|e| e.subject == subject)
            .unwrap_or_else(|| panic!("no {subject} in {info:?}"));
        assert!(
            endpoint
                .metadata
                .get("signature")
                .is_some_and(|s| s.starts_with(&format!("{procedure}("))),
            "{endpoint:?}"
        );
    }

    // Calls: a sum, a level set and read back, a structure.
    assert_eq!(
        ok_text(&ask(&client, "wirecall.fw.add", "[20, 22]", Some(5000)).await),
        "42"
    );
    ask(&client, "wirecall.fw.set_level", "[7]", Some(5000)).await;
    assert_eq!(
        ok_text(&ask(&client, "wirecall.fw.set_level", "[9]", Some(5000)).await),
        "7"
    );
    assert_eq!(
        ok_text(&ask(&client, "wirecall.fw.get_level", "[]", Some(5000)).await),
        "9"
    );
    let info = ok_text(&ask(&client, "wirecall.fw.info", "[]", Some(5000)).await);
    assert!(
        serde_json::from_str::<serde_json::Value>(&info).is_ok_and(|v| v.is_object()),
        "{info}"
    );
    // Errors: the firmware refuses an overflowing sum and an unknown sensor (BadArguments,
    // 400 from the device itself), and the gateway refuses arguments that do not fit.
    assert_error(
        &ask(&client, "wirecall.fw.add", "[2147483647, 1]", Some(5000)).await,
        "400",
        "device fw: ",
    );
    assert_error(
        &ask(&client, "wirecall.fw.power_down", "[7]", Some(5000)).await,
        "400",
        "device fw: ",
    );
    assert_error(
        &ask(&client, "wirecall.fw.set_level", "[-1]", Some(5000)).await,
        "400",
        "expected set_level(",
    );
    // A stream: five samples at 100 Hz, each a Reading; then the device's sleep and an
    // endless sampling, each cancelled; the device answers on.
    let samples = stream_items(&client, "wirecall.fw.sample", "[100, 5]").await;
    assert_eq!(samples.len(), 5);
    for s in &samples {
        assert!(
            serde_json::from_str::<serde_json::Value>(s).is_ok_and(|v| v.is_object()),
            "{s}"
        );
    }
    cancel_after(&client, "wirecall.fw.sleep", "[60000]", 0).await;
    cancel_after(&client, "wirecall.fw.sample", "[50, 0]", 2).await;
    assert_eq!(
        ok_text(&ask(&client, "wirecall.fw.add", "[1, 2]", Some(5000)).await),
        "3"
    );
    drop(qemu);
}
