//! `wirecall serve --ws`: the demo service over WebSocket, reached by `tungstenite`'s client
//! (an implementation independent of the server's) with the Rust client speaking wirecall
//! through it; messages split any way; pings; and peers that break the protocol, each
//! ending its link with a close that says why while the server goes on. Every process
//! started here is stopped by its pid (the guards kill and reap on drop).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

mod common;
use common::ws::{close_of, connect, demo_client, Split};
use common::*;

/// The calls of the tests over one client: a call, and a server stream.
fn add_and_count(client: &wirecall_tests::demo::demo::Client<wirecall_adapters::host::Client>) {
    assert_eq!(client.add(2, 40), Ok(42));
    let items: Vec<u32> = client.count(100).unwrap().map(|i| i.unwrap()).collect();
    assert_eq!(items, (0..100).collect::<Vec<u32>>());
}

#[test]
fn serve_ws_answers_calls_and_streams_on_any_path() {
    let (_server, url) = serve(&["--ws", "127.0.0.1:0"]);
    assert!(
        url.starts_with("ws://127.0.0.1:") && url.ends_with('/'),
        "{url}"
    );
    add_and_count(&demo_client(connect(&url), Split::Whole));
    let elsewhere = format!("{url}some/path?x=1");
    add_and_count(&demo_client(connect(&elsewhere), Split::Whole));
}

#[test]
fn messages_split_any_way_carry_the_same_bytes() {
    let (_server, url) = serve(&["--ws", "127.0.0.1:0"]);
    // One byte per message, and one message in one-byte frames with a ping among them.
    add_and_count(&demo_client(connect(&url), Split::BytePerMessage));
    add_and_count(&demo_client(connect(&url), Split::Fragments));
}

#[test]
fn a_ping_gets_a_pong() {
    let (_server, url) = serve(&["--ws", "127.0.0.1:0"]);
    let mut ws = connect(&url);
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .unwrap();
    loop {
        match ws.read().unwrap() {
            Message::Pong(payload) => break assert_eq!(&payload[..], b"are you there"),
            Message::Binary(_) => {} // the service's Hello
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_close_is_answered_with_a_close() {
    let (_server, url) = serve(&["--ws", "127.0.0.1:0"]);
    let mut ws = connect(&url);
    ws.close(None).unwrap();
    loop {
        match ws.read() {
            Ok(Message::Binary(_)) => {}
            Ok(Message::Close(frame)) => break assert_eq!(frame.unwrap().code, CloseCode::Normal),
            other => panic!("{other:?}"),
        }
    }
    // The close handshake is done, and the server ends the connection.
    assert!(matches!(
        ws.read(),
        Err(tungstenite::Error::ConnectionClosed)
    ));
}

#[test]
fn a_text_message_ends_the_link_with_a_reason() {
    let (_server, url) = serve(&["--ws", "127.0.0.1:0"]);
    let mut ws = connect(&url);
    ws.send(Message::text("add(2, 40)")).unwrap();
    let close = close_of(&mut ws).expect("a close with a status");
    assert_eq!(close.code, CloseCode::Unsupported);
    assert!(close.reason.contains("binary messages"), "{}", close.reason);
    // The server goes on.
    add_and_count(&demo_client(connect(&url), Split::Whole));
}

/// Sends `bytes` raw on a new connection, after the handshake; returns the server's close.
fn close_after_raw(url: &str, bytes: &[u8]) -> tungstenite::protocol::CloseFrame {
    let mut ws = connect(url);
    ws.get_mut().write_all(bytes).unwrap();
    close_of(&mut ws).expect("a close with a status")
}

/// A client frame's header: `first` (FIN, opcode), a 64-bit length, a mask of zeros.
fn header(first: u8, len: u64) -> Vec<u8> {
    let mut bytes = vec![first, 0x80 | 127];
    bytes.extend(len.to_be_bytes());
    bytes.extend([0, 0, 0, 0]);
    bytes
}

#[test]
fn an_oversized_frame_ends_the_link_before_its_payload_comes() {
    let (server, url) = serve(&["--ws", "127.0.0.1:0"]);
    // 1 TiB announced (and never sent): a server that allocated it would be gone; one that
    // waited for it would never answer. Then one byte over the limit.
    for len in [1u64 << 40, (1 << 20) + 1] {
        let close = close_after_raw(&url, &header(0x82, len));
        assert_eq!(close.code, CloseCode::Size);
        assert!(
            close.reason.contains(&format!("a frame of {len} bytes"))
                && close.reason.contains("at most 1048576"),
            "{}",
            close.reason
        );
    }
    assert!(pid_alive(server.0.id()));
    add_and_count(&demo_client(connect(&url), Split::Whole));
}

#[test]
fn frames_that_break_the_protocol_end_the_link_with_a_reason() {
    let (_server, url) = serve(&["--ws", "127.0.0.1:0"]);
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("unmasked", vec![0x82, 0x01, 0x00], "unmasked"),
        (
            "reserved bits",
            vec![0xC2, 0x80, 0, 0, 0, 0],
            "reserved bits",
        ),
        (
            "stray continuation",
            vec![0x80, 0x80, 0, 0, 0, 0],
            "no message to continue",
        ),
        ("reserved opcode", vec![0x83, 0x80, 0, 0, 0, 0], "malformed"),
        ("long ping", header(0x89, 126), "control frame"),
    ];
    for (what, bytes, why) in cases {
        let close = close_after_raw(&url, &bytes);
        assert_eq!(close.code, CloseCode::Protocol, "{what}");
        assert!(close.reason.contains(why), "{what}: {}", close.reason);
    }
}

#[test]
fn a_request_that_is_no_upgrade_is_told_what_this_is() {
    let (_server, url) = serve(&["--ws", "127.0.0.1:0"]);
    let addr = url.trim_start_matches("ws://").trim_end_matches('/');
    let (status, _, body) = http_get(addr, "GET", "/");
    assert_eq!(status, 426);
    assert!(String::from_utf8_lossy(&body).contains("speaks WebSocket"));
}

#[test]
fn connections_over_the_cap_are_refused_with_503() {
    let (_server, url) = serve(&["--ws", "127.0.0.1:0", "--max-connections", "1"]);
    let first = demo_client(connect(&url), Split::Whole);
    assert_eq!(first.add(1, 1), Ok(2));
    let addr = url.trim_start_matches("ws://").split('/').next().unwrap();
    let refused = tungstenite::client(url.as_str(), TcpStream::connect(addr).unwrap());
    match refused {
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            assert_eq!(response.status(), 503);
            let body =
                String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).to_string();
            assert!(body.contains("connection limit (1 at once)"), "{body}");
        }
        other => panic!("not refused: {:?}", other.map(|(_, r)| r.status())),
    }
    // Its place is free again once the first connection ends.
    drop(first);
    let again = wait_until(Duration::from_secs(10), || {
        let stream = TcpStream::connect(addr).unwrap();
        tungstenite::client(url.as_str(), stream).is_ok()
    });
    assert!(again, "the place of a closed connection was not given back");
}
