//! The gateway between a real `nats-server` and the demo server (`wirecall serve`), called
//! by an async-nats client: a call, its errors, and the services API's discovery.
//!
//! Needs `nats-server` on the PATH (Debian's package) and the `wirecall` binary built
//! next to this test (`cargo test --workspace` builds it). Without them the test says so
//! and passes; `WIRECALL_REQUIRE_NATS=1` (as ./ci.sh sets) makes their absence a failure.
//! Every process is started here, read by its lines and killed by its own pid.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use async_nats::service::{Info, PingResponse};
use async_nats::HeaderMap;
use common::{demo_server, gateway, nats_server, tools};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_requests_become_calls_on_the_demo_device() {
    let Some(wirecall) = tools() else { return };

    let (nats, nats_url) = nats_server();
    let (device, on) = demo_server(&wirecall, &["--tcp", "127.0.0.1:0"]);
    let device_addr = on.strip_prefix("tcp ").unwrap().to_string();
    let mut gateway = gateway(
        &nats_url,
        &["--device", &format!("demo=tcp://{device_addr}")],
        |l| {
            assert!(
                !l.contains("wirecall-gateway: device") || !l.contains("cannot"),
                "{l}"
            )
        },
    );
    gateway.detach_lines();

    let client = async_nats::ConnectOptions::new()
        .request_timeout(Some(common::EVENT))
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
