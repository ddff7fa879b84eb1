//! `wirecall guest` end to end: the example guest (a WebAssembly module) runs on wasmtime
//! behind the bridge; `wirecall call` reaches its procedures over TCP, and its own calls drop
//! through to a native key-value service on a Unix socket (served by this test process with
//! the host runtime). A guest that traps is stopped and replaced; the bridge carries on.
//!
//! The module is built by `./ci.sh` (`cargo build --target wasm32-unknown-unknown --release
//! -p wirecall-guest-example`); without it these tests say so and pass, unless
//! `WIRECALL_REQUIRE_GUEST=1` (ci.sh sets it) makes that a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{bridging, call, stderr, stdout, wait_until, Running, TempDir, BIN};
use wirecall::WireError;
use wirecall_adapters::host::{serve_unix, ServeOptions, ServerHandle};
use wirecall_guest_services::{kv, Key, Value};

const MODULE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../target/wasm32-unknown-unknown/release/wirecall_guest_example.wasm"
);

/// Whether the module is there; else says why (and fails under WIRECALL_REQUIRE_GUEST=1).
fn module_built() -> bool {
    if std::path::Path::new(MODULE).exists() {
        return true;
    }
    let why = format!("{MODULE} missing (./ci.sh builds it)");
    assert!(
        std::env::var("WIRECALL_REQUIRE_GUEST").as_deref() != Ok("1"),
        "{why}"
    );
    eprintln!("skipped: {why}");
    false
}

/// The native key-value store: what the guest's calls reach.
#[derive(Clone, Default)]
struct Store(Arc<Mutex<HashMap<Key, Value>>>);

impl kv::HostHandler for Store {
    fn get(&self, key: Key) -> Result<Option<Value>, WireError> {
        Ok(self.0.lock().unwrap().get(&key).cloned())
    }
    fn put(&self, key: Key, value: Value) -> Result<Option<Value>, WireError> {
        Ok(self.0.lock().unwrap().insert(key, value))
    }
}

/// The store served on a Unix socket in `dir`.
fn native_kv(dir: &TempDir) -> (ServerHandle, Store, String) {
    let path = dir.file("kv.sock");
    let store = Store::default();
    let server = serve_unix(
        UnixListener::bind(&path).unwrap(),
        kv::serve(store.clone()),
        ServeOptions::default(),
    )
    .unwrap();
    (server, store, format!("unix://{path}"))
}

/// `wirecall guest MODULE --listen tcp://127.0.0.1:0 ARGS`, its address, and the lines it
/// printed after (the guests' exits).
fn guest(args: &[&str]) -> (Running, String, Arc<Mutex<Vec<String>>>) {
    let mut all = vec!["guest", MODULE, "--listen", "tcp://127.0.0.1:0"];
    all.extend_from_slice(args);
    bridging(&all)
}

fn on(addr: &str, procedure: &str, args: &str) -> std::process::Output {
    call(&["--tcp", addr, "--no-cache", procedure, args])
}

#[test]
fn a_guests_calls_drop_through_the_bridge_to_a_native_service() {
    if !module_built() {
        return;
    }
    let dir = TempDir::new("guest-kv");
    let (kv_server, store, kv_url) = native_kv(&dir);
    let (_guest, addr, _) = guest(&["--upstream", &kv_url]);

    let out = on(&addr, "add", "[2, 3]");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "5");
    // remember: the guest stores through the native service (nothing was there before).
    let out = on(&addr, "remember", r#"["color", "blue"]"#);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "null");
    let stored = store.0.lock().unwrap().get("color").cloned();
    assert_eq!(
        stored.as_deref(),
        Some(&b"blue"[..]),
        "the native store holds it"
    );
    let out = on(&addr, "recall", r#"["color"]"#);
    assert_eq!(stdout(&out).trim(), r#""blue""#, "{}", stderr(&out));
    kv_server.stop();
}

#[test]
fn without_an_upstream_the_guests_calls_get_an_explicit_error() {
    if !module_built() {
        return;
    }
    let (_guest, addr, _) = guest(&[]);
    assert_eq!(stdout(&on(&addr, "add", "[20, 22]")).trim(), "42");
    let out = on(&addr, "recall", r#"["color"]"#);
    assert!(!out.status.success());
    assert!(!stderr(&out).is_empty(), "an explicit error, not a hang");
}

#[test]
fn a_guest_that_traps_is_stopped_and_a_fresh_one_serves_the_next_calls() {
    if !module_built() {
        return;
    }
    let (_guest, addr, later) = guest(&["--cpu-ms", "200"]);
    // The bridge opens a fresh instance after a stop (after its backoff): calls work again.
    let serves_again = || {
        wait_until(Duration::from_secs(20), || {
            stdout(&on(&addr, "add", "[1, 2]")).trim() == "3"
        })
    };
    let out = on(&addr, "trap", "[]");
    assert!(!out.status.success(), "the trap is an error for its caller");
    assert!(serves_again(), "no fresh guest answered after the trap");
    let out = on(&addr, "spin", "[]");
    assert!(
        !out.status.success(),
        "an endless loop is an error for its caller"
    );
    assert!(serves_again(), "no fresh guest answered after the loop");
    let said = later.lock().unwrap().join("\n");
    assert!(said.contains("(instance 1) stopped: trapped"), "{said}");
    assert!(
        said.contains("(instance 2) stopped: computed for more than"),
        "{said}"
    );
}

/// A module whose `wirecall_main` is `unreachable`: it traps the moment it starts (58 bytes:
/// one type, one function, one memory page, the two exports the runner checks).
const TRAPS_AT_START: &[u8] = &[
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02,
    0x01, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x1a, 0x02, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72,
    0x79, 0x02, 0x00, 0x0d, 0x77, 0x69, 0x72, 0x65, 0x63, 0x61, 0x6c, 0x6c, 0x5f, 0x6d, 0x61, 0x69,
    0x6e, 0x00, 0x00, 0x0a, 0x05, 0x01, 0x03, 0x00, 0x00, 0x0b,
];

#[test]
fn a_guest_that_traps_at_start_is_restarted_with_a_growing_backoff() {
    let dir = TempDir::new("guest-trap-at-start");
    let module = dir.file("traps.wasm");
    std::fs::write(&module, TRAPS_AT_START).unwrap();
    let started = std::time::Instant::now();
    let mut child = Command::new(BIN)
        .args(["guest", &module, "--listen", "tcp://127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = BufReader::new(child.stderr.take().unwrap());
    let _running = Running(child);
    // Before the fix, instances followed each other every 50 ms (about 20 a second). The
    // waits now double from 50 ms: the fifth start comes after at least 50 + 100 + 200 +
    // 400 ms. A lower bound only, which a slow machine cannot break.
    for line in err.lines().map_while(Result::ok) {
        if line.contains("(instance 5) stopped") {
            break;
        }
    }
    assert!(
        started.elapsed() >= Duration::from_millis(750),
        "five instances in {:?}",
        started.elapsed()
    );
}
