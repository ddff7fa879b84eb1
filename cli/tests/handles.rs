//! Handles from the command line: `wirecall list` shows interfaces and handle-returning
//! procedures, and `wirecall call ... open '["temp"]' then configure '[3]' then read`
//! calls methods on the handle a procedure returns, in one session, against `wirecall
//! serve` over TCP; unknown methods and bad chains are refused before anything is sent,
//! and the first failing call (a refused argument, a revoked handle) stops the chain.
//! Every process started here is stopped by its pid (the guards kill and reap on drop).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{call, serve, stderr, stdout, BIN};
use wirecall::{Config, Procedure, WireError};
use wirecall_adapters::host::{serve_tcp, Handler, Request, ServerHandle};
use wirecall_tests::demo::demo;

fn list(args: &[&str]) -> Output {
    Command::new(BIN).arg("list").args(args).output().unwrap()
}

/// An empty cache directory, so every run fetches the description (the schema of the
/// demo changed with handles; a cache is not what these tests are about).
fn no_cache(args: &[&str]) -> Vec<String> {
    ["--no-cache"]
        .iter()
        .chain(args)
        .map(|s| s.to_string())
        .collect()
}

fn call_(args: &[&str]) -> Output {
    let args = no_cache(args);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    call(&args)
}

#[test]
fn list_shows_interfaces_and_the_procedures_that_return_their_handles() {
    let (_server, addr) = serve(&["--tcp", "127.0.0.1:0"]);
    let o = list(&["--no-cache", "--tcp", &addr]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    for want in [
        format!(
            "demo (schema 0x{:08X}, 7 procedures, 1 interface)",
            demo::SCHEMA_HASH
        ),
        "    6  open(name: String<16>) -> handle Channel".into(),
        "interface Channel (3 methods)\n    0  read() -> i32\n    1  configure(scale: i32) -> i32\n    2  name() -> String<16>".into(),
    ] {
        assert!(out.contains(&want), "{want} not in\n{out}");
    }
    let o = list(&["--no-cache", "--tcp", &addr, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let m = &v["manifest"];
    assert_eq!(m["format"], 2);
    assert_eq!(
        m["procedures"][6]["output"],
        serde_json::json!({"type": "handle", "interface": "Channel"})
    );
    assert_eq!(m["interfaces"][0]["name"], "Channel");
    let methods: Vec<&str> = m["interfaces"][0]["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["signature"].as_str().unwrap())
        .collect();
    assert_eq!(
        methods,
        [
            "read() -> i32",
            "configure(scale: i32) -> i32",
            "name() -> String<16>"
        ]
    );
}

#[test]
fn then_calls_methods_on_the_returned_handle_in_one_session() {
    let (_server, addr) = serve(&["--tcp", "127.0.0.1:0"]);
    let o = call_(&[
        "--tcp",
        &addr,
        "open",
        r#"["temp"]"#,
        "then",
        "configure",
        "[3]",
        "then",
        "read",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The handle, then configure's answer (the previous scale, 1), then read's (1 × 3).
    assert_eq!(stdout(&o), "handle Channel #0.1\n1\n3");

    // Alone, the handle; arguments default to none and go by name too; a bare value.
    let o = call_(&["--tcp", &addr, "open", r#""x""#]);
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), "handle Channel #0.1".into())
    );
    let o = call_(&[
        "--tcp",
        &addr,
        "open",
        r#"{"name": "log"}"#,
        "then",
        "read",
        "then",
        "name",
        "then",
        "configure",
        r#"{"scale": -2}"#,
        "then",
        "read",
        "then",
        "read",
        "[]",
    ]);
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), "handle Channel #0.1\n1\n\"log\"\n1\n-4\n-6".into()),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_pipelined_chain_goes_out_without_waiting() {
    let (_server, addr) = serve(&["--tcp", "127.0.0.1:0"]);
    // Order-independent methods: pipelined calls may run in any order on the device.
    let o = call_(&[
        "--tcp",
        &addr,
        "--pipelined",
        "open",
        r#"["p"]"#,
        "then",
        "name",
        "then",
        "configure",
        "[5]",
    ]);
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), "handle Channel #0.1\n\"p\"\n1".into()),
        "{}",
        stderr(&o)
    );
    // A failure stops the printing at the call that failed.
    let o = call_(&[
        "--tcp",
        &addr,
        "open",
        r#"["p"]"#,
        "then",
        "configure",
        "[0]",
        "then",
        "name",
        "--pipelined",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stdout(&o), "handle Channel #0.1");
}

#[test]
fn the_first_call_that_fails_stops_the_chain() {
    let (_server, addr) = serve(&["--tcp", "127.0.0.1:0"]);
    let o = call_(&[
        "--tcp",
        &addr,
        "open",
        r#"["temp"]"#,
        "then",
        "configure",
        "[0]",
        "then",
        "read",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "handle Channel #0.1",
        "read ran after the failure"
    );
    assert_eq!(
        stderr(&o),
        "wirecall call: configure: the device rejected the arguments"
    );
}

/// A server of the demo manifest whose `open` exports an object and whose `read` answers
/// 7 and withdraws the object ("unplugged"); it counts the requests it gets.
struct Revoking(Arc<AtomicUsize>);

impl Handler for Revoking {
    fn handle(&self, _: u32, _: &[u8]) -> Result<Vec<u8>, (WireError, String)> {
        Err((WireError::UnknownProcedure, String::new()))
    }

    fn serve(&self, request: &mut Request<'_>) -> Result<Vec<u8>, (WireError, String)> {
        self.0.fetch_add(1, Ordering::SeqCst);
        let procedure = request.procedure();
        match request.target() {
            None if procedure == demo::OpenChannel::ID => {
                request.export(Arc::new(()), demo::Channel::INTERFACE);
                Ok(Vec::new())
            }
            None => Err((WireError::UnknownProcedure, String::new())),
            Some(_) if procedure == demo::Channel::Read::ID => {
                request.revoke_target(WireError::Revoked, "unplugged");
                Ok(postcard::to_allocvec(&7i32).unwrap())
            }
            Some(_) => Err((WireError::UnknownProcedure, String::new())),
        }
    }

    fn exports(&self) -> bool {
        true
    }
}

fn revoking_server() -> (ServerHandle, String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let server = serve_tcp(
        listener,
        move || Box::new(Revoking(seen.clone())),
        Config::default().with_manifest(&demo::MANIFEST),
    )
    .unwrap();
    (server, addr, count)
}

#[test]
fn a_call_on_a_handle_the_device_withdrew_fails_with_stale_handle() {
    let (server, addr, count) = revoking_server();
    let o = call_(&[
        "--tcp", &addr, "open", r#"["x"]"#, "then", "read", "then", "read", "then", "read",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stdout(&o), "handle Channel #0.1\n7");
    // Refused here (the revocation came first) or by the device (it did not): stale
    // either way, and the chain stops there.
    assert!(
        stderr(&o).starts_with("wirecall call: read: the device answered: stale handle"),
        "{}",
        stderr(&o)
    );
    assert!(count.load(Ordering::SeqCst) <= 3);
    server.stop();
}

#[test]
fn unknown_methods_and_bad_chains_are_refused_before_anything_is_sent() {
    let (server, addr, count) = revoking_server();
    for (args, want) in [
        (
            &["open", r#"["x"]"#, "then", "nope"][..],
            "unknown method `nope` of interface Channel; it has: read, configure, name",
        ),
        (
            &[
                "open",
                r#"["x"]"#,
                "then",
                "read",
                "then",
                "configure",
                r#""x""#,
            ],
            "configure: expected i32, got \"x\"; expected configure(scale: i32) -> i32",
        ),
        (
            &["open", r#"["x"]"#, "then", "configure", "[1, 2"],
            "configure: the arguments are not JSON",
        ),
        (
            &["open", r#"["x"]"#, "then"],
            "`then` needs the name of a method of the handle",
        ),
        (
            &["open", r#"["x"]"#, "read"],
            "expected `then METHOD [ARGS]` after the arguments, got `read`",
        ),
        (
            &["add", "[1, 2]", "then", "read"],
            "`add` returns i32, not a handle",
        ),
        (
            &["open", "then", "read"],
            "open: expected 1 argument (name: String<16>), got 0",
        ),
    ] {
        let mut line = vec!["--tcp", &addr];
        line.extend_from_slice(args);
        let o = call_(&line);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{want} not in {}", stderr(&o));
        assert_eq!(stdout(&o), "");
    }
    assert_eq!(
        count.load(Ordering::SeqCst),
        0,
        "a request reached the device"
    );
    server.stop();
}

#[test]
fn help_documents_then() {
    let o = Command::new(BIN).args(["call", "--help"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let help = stdout(&o);
    for want in [
        "<PROCEDURE> [ARGS] [then METHOD [ARGS]]...",
        "`then METHOD [ARGS]`",
        "open '[\"temp\"]' then configure '[3]' then read",
        "handle Channel #0.1",
        "--pipelined",
        "Exit codes (call, stream):",
    ] {
        assert!(help.contains(want), "{want} not in\n{help}");
    }
}
