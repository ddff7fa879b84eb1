//! `wirecall web`: the browser demo's server. Static files from a root made here (js/
//! belongs to the JavaScript side), with the content types browsers need and nothing from
//! outside the root; `/ws` to the in-process demo service and bridged to a `wirecall
//! serve --tcp` process; a bridge to nothing closing with the reason; a root without the
//! built package refused at start. Every process started here is stopped by its pid.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;

mod common;
use common::ws::{close_of, connect, demo_client, Split};
use common::*;

/// The start of every wasm module: its magic number and version.
const WASM: &[u8] = b"\0asm\x01\0\0\0";

/// A web root as `npm run build` leaves js/: the page and the built package. Beside it
/// (outside the root) lies a secret no request may reach.
fn site(name: &str) -> (TempDir, String) {
    let dir = TempDir::new(name);
    let root = dir.0.join("js");
    std::fs::create_dir_all(root.join("demo")).unwrap();
    std::fs::create_dir_all(root.join("dist")).unwrap();
    std::fs::write(root.join("demo/index.html"), "<h1>wirecall demo</h1>").unwrap();
    std::fs::write(root.join("demo/app.mjs"), "export {};").unwrap();
    std::fs::write(root.join("dist/wirecall_bg.wasm"), WASM).unwrap();
    std::fs::write(dir.0.join("secret.txt"), "the secret").unwrap();
    let root = root.display().to_string();
    (dir, root)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn web_serves_the_page_and_the_package_with_their_types() {
    let (_dir, root) = site("web-files");
    let (_web, addr) = web(&["--listen", "127.0.0.1:0", "--root", &root]);

    let (status, head, body) = http_get(&addr, "GET", "/");
    assert_eq!(status, 200, "{head}");
    assert_eq!(
        header(&head, "content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(header(&head, "cache-control"), Some("no-store"));
    assert_eq!(body, b"<h1>wirecall demo</h1>");

    let (status, head, body) = http_get(&addr, "GET", "/dist/wirecall_bg.wasm");
    assert_eq!(status, 200, "{head}");
    assert_eq!(header(&head, "content-type"), Some("application/wasm"));
    assert_eq!(header(&head, "content-length"), Some("8"));
    assert_eq!(body, WASM);

    let (_, head, _) = http_get(&addr, "GET", "/demo/app.mjs");
    assert_eq!(
        header(&head, "content-type"),
        Some("text/javascript; charset=utf-8")
    );
    // The page's directory gives the page too, so its relative links work as on disk.
    let (status, _, body) = http_get(&addr, "GET", "/demo/");
    assert_eq!((status, &body[..]), (200, &b"<h1>wirecall demo</h1>"[..]));

    let (status, head, body) = http_get(&addr, "HEAD", "/dist/wirecall_bg.wasm");
    assert_eq!((status, header(&head, "content-length")), (200, Some("8")));
    assert!(body.is_empty());
    let (status, head, _) = http_get(&addr, "POST", "/");
    assert_eq!((status, header(&head, "allow")), (405, Some("GET, HEAD")));
    assert_eq!(http_get(&addr, "GET", "/demo/missing.js").0, 404);
}

#[test]
fn web_serves_nothing_from_outside_its_root() {
    let (_dir, root) = site("web-escapes");
    let (_web, addr) = web(&["--listen", "127.0.0.1:0", "--root", &root]);
    for path in [
        "/../secret.txt",
        "/demo/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/demo/..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
    ] {
        let (status, _, body) = http_get(&addr, "GET", path);
        assert!(matches!(status, 400 | 404), "{path}: {status}");
        assert!(
            !String::from_utf8_lossy(&body).contains("the secret"),
            "{path}"
        );
    }
}

#[test]
fn web_ws_is_the_demo_service() {
    let (_dir, root) = site("web-demo");
    let (_web, addr) = web(&["--listen", "127.0.0.1:0", "--root", &root]);
    let client = demo_client(connect(&format!("ws://{addr}/ws")), Split::Whole);
    assert_eq!(client.add(2, 40), Ok(42));
    let items: Vec<u32> = client.count(50).unwrap().map(|i| i.unwrap()).collect();
    assert_eq!(items, (0..50).collect::<Vec<u32>>());
    // A page of this server may connect; a page from elsewhere may not.
    let status_with = |host: &str, origin: &str| {
        let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
        request.headers_mut().insert("Host", host.parse().unwrap());
        match tungstenite::client(request, std::net::TcpStream::connect(&addr).unwrap()) {
            Ok((_, response)) => response.status(),
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                response.status()
            }
            Err(e) => panic!("{e}"),
        }
    };
    let port = addr.rsplit(':').next().unwrap();
    assert_eq!(status_with(&addr, &format!("http://{addr}")), 101);
    assert_eq!(
        status_with(
            &format!("localhost:{port}"),
            &format!("http://localhost:{port}")
        ),
        101
    );
    assert_eq!(status_with(&addr, "http://evil.example"), 403);
    // DNS rebinding: a page of evil.example, its name re-pointed at 127.0.0.1, sends its own
    // name as both Host and Origin; only an address or localhost is taken as this server.
    let rebound = format!("evil.example:{port}");
    assert_eq!(status_with(&rebound, &format!("http://{rebound}")), 403);
}

#[test]
fn web_bridges_each_websocket_to_a_tcp_server() {
    let (_dir, root) = site("web-bridge");
    let (server, tcp) = serve(&["--tcp", "127.0.0.1:0"]);
    let to = format!("tcp://{tcp}");
    let (_web, addr) = web(&["--listen", "127.0.0.1:0", "--root", &root, "--to", &to]);
    let url = format!("ws://{addr}/ws");
    for split in [Split::Whole, Split::BytePerMessage] {
        let client = demo_client(connect(&url), split);
        assert_eq!(client.add(2, 40), Ok(42));
        let items: Vec<u32> = client.count(1000).unwrap().map(|i| i.unwrap()).collect();
        assert_eq!(items, (0..1000).collect::<Vec<u32>>());
    }
    // The device goes away: the page hears it in the close.
    let mut ws = connect(&url);
    // The device's Hello: the bridge is up.
    assert!(matches!(ws.read(), Ok(tungstenite::Message::Binary(_))));
    drop(server);
    let close = close_of(&mut ws).expect("a close with a status");
    assert_eq!(close.code, CloseCode::Error);
    assert!(
        close.reason.contains(&format!("the link to {to}")),
        "{}",
        close.reason
    );
}

#[test]
fn a_bridge_to_nothing_closes_the_websocket_saying_why() {
    let (_dir, root) = site("web-nothing");
    let to = "tcp://127.0.0.1:1";
    let (_web, addr) = web(&["--listen", "127.0.0.1:0", "--root", &root, "--to", to]);
    let mut ws = connect(&format!("ws://{addr}/ws"));
    let close = close_of(&mut ws).expect("a close with a status");
    assert_eq!(close.code, CloseCode::Error);
    assert!(
        close
            .reason
            .contains("cannot connect to tcp 127.0.0.1:1: connection refused"),
        "{}",
        close.reason
    );
}

/// Runs `wirecall web ARGS`, which should fail at start; returns its exit code and stderr.
fn web_fails(args: &[&str]) -> (Option<i32>, String) {
    let o = fails("web", &[&["--listen", "127.0.0.1:0"], args].concat());
    (o.status.code(), stderr(&o))
}

#[test]
fn web_without_the_page_or_the_built_package_fails_at_start() {
    let dir = TempDir::new("web-unbuilt");
    let (code, stderr) = web_fails(&["--root", &dir.file("nowhere")]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("does not exist"), "{stderr}");

    let (code, stderr) = web_fails(&["--root", &dir.file("")]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("has no demo/index.html"), "{stderr}");
    assert!(stderr.contains("npm run build"), "{stderr}");

    std::fs::create_dir_all(dir.0.join("demo")).unwrap();
    std::fs::write(dir.0.join("demo/index.html"), "<h1>demo</h1>").unwrap();
    let (code, stderr) = web_fails(&["--root", &dir.file("")]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("has no dist/ (the built wasm package)"),
        "{stderr}"
    );
}
