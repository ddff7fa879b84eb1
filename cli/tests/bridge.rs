//! `wirecall bridge` end to end: TCP clients -> the bridge -> socat's pty -> the example
//! firmware under QEMU (which serves 4 calls at once). QEMU, socat, the bridge and every
//! client are child processes stopped by their pids.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{call, stderr, stdout, stream, wait_until, Running, BIN};
use wirecall_example_service::device;
use wirecall_tests::qemu::Qemu;

/// The firmware under QEMU on a pty, and `wirecall bridge` to it on a free TCP port.
fn firmware_behind_a_bridge() -> (Qemu, Running, String) {
    let qemu = Qemu::with_socat_pty();
    let to = format!("serial://{}?baud=115200", qemu.serial.display());
    let (bridge, addr) = bridge(&["--to", &to]);
    (qemu, bridge, addr)
}

/// Starts `wirecall bridge --listen tcp://127.0.0.1:0 ARGS`; returns it and its address.
fn bridge(args: &[&str]) -> (Running, String) {
    let mut all = vec!["bridge", "--listen", "tcp://127.0.0.1:0"];
    all.extend_from_slice(args);
    let (running, addr, _) = common::bridging(&all);
    (running, addr)
}

fn list(args: &[&str]) -> Output {
    Command::new(BIN).arg("list").args(args).output().unwrap()
}

fn tcp(addr: &str, rest: &[&str]) -> Vec<String> {
    let mut v = vec!["--tcp".to_string(), addr.to_string(), "--no-cache".into()];
    v.extend(rest.iter().map(|s| s.to_string()));
    v
}

fn run(f: fn(&[&str]) -> Output, args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    f(&args)
}

/// `wirecall call` started in the background.
fn spawn_call(addr: &str, rest: &[&str]) -> Child {
    Command::new(BIN)
        .arg("call")
        .args(tcp(addr, rest))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Four calls of `sleep` held in flight on the device: a call that was refused (a slot
/// freed by a cancel can stay taken for the late-reply grace) is made again until all four
/// are in, which `Busy` for a fifth call shows.
fn fill_device(addr: &str) -> Vec<Running> {
    let long = ["--timeout", "60s", "sleep", "[60000]"];
    let mut calls: Vec<Running> = (0..4).map(|_| Running(spawn_call(addr, &long))).collect();
    let full = wait_until(Duration::from_secs(10), || {
        for c in &mut calls {
            if c.0.try_wait().unwrap().is_some() {
                *c = Running(spawn_call(addr, &long));
            }
        }
        device_full(addr)
    });
    assert!(full, "4 calls in flight");
    calls
}

/// True when the device answers `Busy` (all 4 of its slots taken).
fn device_full(addr: &str) -> bool {
    let o = run(call, &tcp(addr, &["get_level"]));
    o.status.code() == Some(1) && stderr(&o).contains("busy")
}

#[test]
fn the_qemu_firmware_is_listed_called_and_streamed_through_the_bridge() {
    let (_qemu, _bridge, addr) = firmware_behind_a_bridge();
    let o = run(list, &tcp(&addr, &["--timeout", "20s"]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let schema = format!(
        "device (schema 0x{:08X}, 10 procedures",
        device::SCHEMA_HASH
    );
    assert!(stdout(&o).contains(&schema), "{}", stdout(&o));
    let o = run(call, &tcp(&addr, &["add", "[20, 22]"]));
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), "42".into()),
        "{}",
        stderr(&o)
    );
    let o = run(
        stream,
        &tcp(&addr, &["sample", r#"{"hz": 200, "count": 20}"#]),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let seqs: Vec<u64> = stdout(&o)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, (0..20).collect::<Vec<_>>());
    // The device's own call back to its caller (ask_host) reaches this client, which
    // serves nothing: the device hears an explicit error, and so does the client.
    let o = run(call, &tcp(&addr, &["ask_host", "[1, 2]"]));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

#[test]
fn eight_clients_onto_a_device_that_serves_four_deadlines_and_dropped_clients() {
    let (_qemu, _bridge, addr) = firmware_behind_a_bridge();
    let o = run(call, &tcp(&addr, &["--timeout", "20s", "get_level"]));
    assert_eq!(o.status.code(), Some(0), "the device is up: {}", stderr(&o));

    // 8 at once: 4 are served, 4 answered Busy at once; each ends exactly once.
    let start = Instant::now();
    let clients: Vec<Child> = (0..8)
        .map(|_| spawn_call(&addr, &["sleep", "[3000]"]))
        .collect();
    let outs: Vec<Output> = clients
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let ok = outs.iter().filter(|o| o.status.code() == Some(0)).count();
    let busy = outs
        .iter()
        .filter(|o| o.status.code() == Some(1) && stderr(o).contains("busy"))
        .count();
    assert_eq!(
        (ok, busy),
        (4, 4),
        "{:?}",
        outs.iter().map(stderr).collect::<Vec<_>>()
    );
    assert!(start.elapsed() < Duration::from_secs(10));

    // Deadlines cross the bridge: 4 calls that time out free the device's 4 slots (the
    // bridge's shorter deadline expires first and cancels them on the device).
    let clients: Vec<Child> = (0..4)
        .map(|_| spawn_call(&addr, &["--timeout", "500ms", "sleep", "[20000]"]))
        .collect();
    for c in clients {
        let o = c.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    }
    assert!(
        wait_until(Duration::from_secs(3), || run(
            call,
            &tcp(&addr, &["get_level"])
        )
        .status
        .code()
            == Some(0)),
        "the device's slots were freed"
    );

    // Clients that go away mid-call: their calls are cancelled on the device.
    // (Four calls in flight again also shows the timed-out ones left the device.)
    let clients = fill_device(&addr);
    drop(clients); // killed by pid
                   // Their 60-second calls hold the device's 4 slots unless their cancels reached it.
    let again = fill_device(&addr);
    drop(again);
}

#[test]
fn the_device_dropping_fails_the_calls_through_the_bridge_explicitly() {
    let (qemu, _bridge, addr) = firmware_behind_a_bridge();
    let o = run(call, &tcp(&addr, &["--timeout", "20s", "get_level"]));
    assert_eq!(o.status.code(), Some(0), "the device is up: {}", stderr(&o));
    let pending = fill_device(&addr);
    let start = Instant::now();
    drop(qemu); // QEMU and socat killed by pid: the pty closes under the bridge
    for mut c in pending {
        let mut err = String::new();
        c.0.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert_ne!(c.0.wait().unwrap().code(), Some(0));
        assert!(err.contains("lost"), "{err}");
    }
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    // While the device is gone, calls fail at once, saying so.
    let o = run(call, &tcp(&addr, &["--timeout", "5s", "get_level"]));
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("not connected"), "{}", stderr(&o));
}
