//! The example guest (`wasm-guest/example`, built for wasm32-unknown-unknown) run by the
//! runner: called through `Client::over` its link, calling the host's `kv` through the
//! client's handler, and each hostile procedure contained while a second guest answers.
//!
//! The module is built by `./ci.sh` (`cargo build --target wasm32-unknown-unknown
//! --release -p wirecall-guest-example`). Without it the tests say so and pass;
//! `WIRECALL_REQUIRE_GUEST=1` makes its absence a failure.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wirecall::WireError;
use wirecall_adapters::host::{Client, ClientError, ClientOptions, IntoHandler};
use wirecall_guest_services::{kv, plugin, Key, Value};
use wirecall_wasm_host::{Exit, Guest, GuestModule, Limits, Runner};

/// The example guest's module, or `None` (with the reason printed) when it is not built
/// and `WIRECALL_REQUIRE_GUEST` is not `1`.
fn module(runner: &Runner) -> Option<GuestModule> {
    let path = std::env::var_os("WIRECALL_GUEST_WASM")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").into());
            target.join("wasm32-unknown-unknown/release/wirecall_guest_example.wasm")
        });
    match std::fs::read(&path) {
        Ok(bytes) => Some(runner.compile(&bytes).expect("the example guest compiles")),
        Err(e) => {
            let why = format!("{}: {e} (cargo build --target wasm32-unknown-unknown --release -p wirecall-guest-example)", path.display());
            assert!(
                std::env::var("WIRECALL_REQUIRE_GUEST").as_deref() != Ok("1"),
                "WIRECALL_REQUIRE_GUEST=1, and {why}"
            );
            eprintln!("skipped: {why}");
            None
        }
    }
}

/// The host's key-value store, served to the guest through the client's handler.
#[derive(Clone, Default)]
struct Kv(Arc<Mutex<HashMap<Key, Value>>>);

impl kv::HostHandler for Kv {
    fn get(&self, key: Key) -> Result<Option<Value>, WireError> {
        Ok(self.0.lock().expect("kv").get(&key).cloned())
    }
    fn put(&self, key: Key, value: Value) -> Result<Option<Value>, WireError> {
        Ok(self.0.lock().expect("kv").insert(key, value))
    }
}

/// A started guest with a typed client of it that serves `kv` to it.
struct Running {
    guest: Guest,
    client: plugin::Client<Client>,
}

fn start(runner: &Runner, module: &GuestModule, name: &str, limits: Limits, store: &Kv) -> Running {
    let (link, guest) = runner
        .start(module, name, limits)
        .expect("the guest starts");
    let mut options = ClientOptions::default();
    options.handler =
        Some(kv::serve(store.clone()).into_handler(&mut options.config, &options.capacity));
    let client = Client::over(link, options).expect("a client over the guest's link");
    assert!(
        client.wait_connected(Duration::from_secs(10)),
        "the guest's handshake"
    );
    let client = plugin::Client::new(client).with_timeout(Duration::from_secs(20));
    Running { guest, client }
}

impl Running {
    /// Drops the client (the link is released) and waits for the guest's end.
    fn end(self) -> Exit {
        drop(self.client);
        self.guest
            .wait_timeout(Duration::from_secs(10))
            .expect("the guest ends with its link")
    }
}

fn key(s: &str) -> Key {
    Key::try_from(s).expect("a short key")
}

fn value(bytes: &[u8]) -> Value {
    Value::from_slice(bytes).expect("a short value")
}

#[test]
fn a_host_calls_a_guest_calls_errors_and_a_stream() {
    let runner = Runner::new().expect("a runner");
    let Some(module) = module(&runner) else {
        return;
    };
    let g = start(&runner, &module, "calls", Limits::default(), &Kv::default());
    assert_eq!(g.client.add(40, 2), Ok(42));
    assert_eq!(g.client.echo(value(b"hi")), Ok(value(b"hi")));
    match g.client.add(i32::MAX, 1) {
        Err(ClientError::Remote(WireError::BadArguments, _)) => {}
        other => panic!("an overflow is BadArguments, got {other:?}"),
    }
    let items: Result<Vec<u32>, _> = g.client.count(50).expect("the stream opens").collect();
    assert_eq!(items.expect("every item"), (0..50).collect::<Vec<_>>());
    match g
        .client
        .count(1001)
        .map(|s| s.collect::<Result<Vec<u32>, _>>())
    {
        Ok(Err(ClientError::Remote(WireError::BadArguments, _)))
        | Err(ClientError::Remote(WireError::BadArguments, _)) => {}
        other => panic!("count past 1000 is BadArguments, got {other:?}"),
    }
    assert_eq!(g.end(), Exit::LinkReleased);
}

#[test]
fn a_guest_calls_the_hosts_kv() {
    let runner = Runner::new().expect("a runner");
    let Some(module) = module(&runner) else {
        return;
    };
    let store = Kv::default();
    let g = start(&runner, &module, "kv", Limits::default(), &store);
    assert_eq!(g.client.remember(key("colour"), value(b"blue")), Ok(None));
    assert_eq!(g.client.recall(key("colour")), Ok(Some(value(b"blue"))));
    assert_eq!(
        g.client.remember(key("colour"), value(b"red")),
        Ok(Some(value(b"blue")))
    );
    assert_eq!(g.client.recall(key("size")), Ok(None));
    // It went to the host's store: the native side sees it.
    assert_eq!(
        store.0.lock().expect("kv").get(&key("colour")),
        Some(&value(b"red"))
    );
    assert_eq!(g.end(), Exit::LinkReleased);
}

#[test]
fn stop_ends_an_idle_guest_and_its_calls_fail() {
    let runner = Runner::new().expect("a runner");
    let Some(module) = module(&runner) else {
        return;
    };
    let g = start(
        &runner,
        &module,
        "stopped",
        Limits::default(),
        &Kv::default(),
    );
    assert_eq!(g.client.add(1, 2), Ok(3));
    g.guest.stop();
    assert_eq!(
        g.guest.wait_timeout(Duration::from_secs(10)),
        Some(Exit::Stopped)
    );
    assert!(
        g.client.add(1, 2).is_err(),
        "a stopped guest answers nothing"
    );
}

#[test]
fn a_module_without_the_abi_is_refused() {
    let runner = Runner::new().expect("a runner");
    // The smallest valid module: no exports at all.
    let empty = b"\0asm\x01\0\0\0";
    let err = runner.compile(empty).expect_err("no wirecall_main");
    assert!(err.to_string().contains("wirecall_main"), "{err}");
    assert!(runner.compile(b"not wasm").is_err());
}

/// Calls a hostile procedure on one guest while a second one runs in the same process:
/// the call ends with an error (not its 20 s deadline), the guest ends as `expected`
/// says, and the second guest still answers.
fn contained(
    limits: Limits,
    hostile: impl FnOnce(&plugin::Client<Client>) -> Result<(), ClientError>,
    expected: impl FnOnce(&Exit) -> bool,
) {
    let runner = Runner::new().expect("a runner");
    let Some(module) = module(&runner) else {
        return;
    };
    let store = Kv::default();
    let bystander = start(&runner, &module, "bystander", Limits::default(), &store);
    let victim = start(&runner, &module, "victim", limits, &store);
    let started = std::time::Instant::now();
    match hostile(&victim.client) {
        Err(ClientError::ConnectionLost) => {}
        other => panic!("the hostile call ends with the link, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "ended in {:?}",
        started.elapsed()
    );
    let exit = victim
        .guest
        .wait_timeout(Duration::from_secs(10))
        .expect("the guest ended");
    assert!(expected(&exit), "ended for the wrong reason: {exit}");
    assert!(
        victim.client.add(1, 1).is_err(),
        "the ended guest answers nothing"
    );
    assert_eq!(bystander.client.add(2, 3), Ok(5));
    assert_eq!(bystander.client.remember(key("k"), value(b"v")), Ok(None));
    drop(victim);
    assert_eq!(bystander.end(), Exit::LinkReleased);
}

fn quick_budget() -> Limits {
    Limits {
        cpu_budget: Duration::from_millis(300),
        ..Limits::default()
    }
}

#[test]
fn a_trap_is_contained() {
    contained(
        Limits::default(),
        |c| c.trap(),
        |e| matches!(e, Exit::Trapped(why) if why.contains("unreachable")),
    );
}

#[test]
fn an_endless_loop_is_contained() {
    contained(
        quick_budget(),
        |c| c.spin(),
        |e| matches!(e, Exit::CpuBudget { .. }),
    );
}

#[test]
fn a_flood_is_contained() {
    contained(
        quick_budget(),
        |c| c.flood(),
        |e| matches!(e, Exit::CpuBudget { .. }),
    );
}

#[test]
fn a_busy_poll_of_read_is_contained() {
    // `read` with a zero timeout and nothing to read neither waits nor takes input: it does
    // not re-arm the budget, so a guest that polls in a loop is stopped like any spinner.
    contained(
        quick_budget(),
        |c| c.poll_spin(),
        |e| matches!(e, Exit::CpuBudget { .. }),
    );
}

#[test]
fn memory_growth_is_contained() {
    let limits = Limits {
        memory_bytes: 8 << 20,
        ..Limits::default()
    };
    contained(
        limits,
        |c| c.hog(),
        |e| *e == Exit::MemoryLimit { limit: 8 << 20 },
    );
}
