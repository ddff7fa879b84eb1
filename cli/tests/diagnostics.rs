//! What the command says when things go wrong, and the exit code it says it with: a closed
//! port, a missing path, a permission, bytes that are not wirecall, a device of another
//! protocol version or schema, `serve` that cannot listen; and arguments it refuses. Every
//! failure here is produced for real (sockets, ptys from socat, child processes); every
//! process started is stopped by its pid.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::process::{Command, Output};
use std::time::Duration;

use wirecall_tests::demo::demo;
use wirecall_tests::pty::PtyPair;
use wirecall_tests::raw::{frame, hello, unframe};

mod common;
use common::*;

/// Asserts the exit code and that stderr holds every one of `wanted`.
fn expect(o: &Output, code: i32, wanted: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "{err}");
    for w in wanted {
        assert!(err.contains(w), "wanted `{w}` in: {err}");
    }
}

/// A local TCP port nobody listens on (bound, then let go).
fn closed_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

#[test]
fn a_closed_port_is_refused_and_named() {
    let addr = closed_port();
    let want = format!("cannot connect to tcp {addr}: connection refused");
    expect(
        &call(&["--tcp", &addr, "add", "[1, 2]"]),
        4,
        &[&want, "hint:"],
    );
    let url = format!("tcp://{addr}");
    expect(&call(&["--link", &url, "add", "[1, 2]"]), 4, &[&want]);
    expect(&stream(&["--tcp", &addr, "count", "[3]"]), 4, &[&want]);
}

#[test]
fn a_path_with_nothing_there_is_named() {
    let dir = TempDir::new("diag-missing");
    let sock = dir.file("none.sock");
    expect(
        &call(&["--unix", &sock, "add", "[1, 2]"]),
        4,
        &[
            &format!("cannot connect to unix socket {sock}: no such file"),
            "is the server running",
        ],
    );
    let port = dir.file("ttyNONE");
    expect(
        &call(&["--serial", &port, "add", "[1, 2]"]),
        4,
        &[
            &format!("cannot open serial port {port}: no such file or device"),
            "plugged in",
        ],
    );
}

#[test]
fn a_stale_socket_is_told_from_a_missing_one() {
    let dir = TempDir::new("diag-stale");
    let sock = dir.file("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap()); // the file stays
    expect(
        &call(&["--unix", &sock, "add", "[1, 2]"]),
        4,
        &["connection refused", "nothing listens on it"],
    );
}

/// True when this process runs as root (who passes every permission check on files).
fn root() -> bool {
    std::fs::metadata("/proc/self").unwrap().uid() == 0
}

/// `wirecall ARGS` as someone permissions apply to: as user and group `nobody` when this
/// runs as root; `None` (with a note) if that cannot be done.
fn as_unprivileged(args: &[&str]) -> Option<Output> {
    let mut c = Command::new(BIN);
    c.args(args);
    if root() {
        c.uid(65534).gid(65534);
    }
    match c.output() {
        Ok(o) => Some(o),
        Err(e) => {
            eprintln!("note: skipping a permission check: cannot run as nobody ({e})");
            None
        }
    }
}

#[test]
fn permission_denied_is_reported_with_a_hint() {
    let dir = TempDir::new("diag-perm");
    // A Unix socket with a server behind it, that nobody may connect to.
    let sock = dir.file("closed.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o000)).unwrap();
    if let Some(o) = as_unprivileged(&["call", "--unix", &sock, "add", "[1, 2]"]) {
        expect(
            &o,
            4,
            &[
                &format!("cannot connect to unix socket {sock}: permission denied"),
                "permissions",
            ],
        );
    }
    // A serial port (one end of a pty pair) nobody may open.
    let ptys = PtyPair::start();
    std::fs::set_permissions(&ptys.b, std::fs::Permissions::from_mode(0o000)).unwrap();
    if let Some(o) = as_unprivileged(&["call", "--serial", &ptys.b, "add", "[1, 2]"]) {
        expect(
            &o,
            4,
            &[
                &format!("cannot open serial port {}: permission denied", ptys.b),
                "sudo usermod -aG",
                "log in again",
            ],
        );
    }
}

#[test]
fn bytes_that_are_not_frames_are_counted_and_shown() {
    // A child that writes text, then stays (quiet) on the link.
    let o = call(&[
        "--exec",
        "yes garbage | head -c 3000; exec sleep 60",
        "--timeout",
        "2s",
        "add",
        "[1, 2]",
    ]);
    expect(
        &o,
        4,
        &[
            "no session with `yes garbage",
            "it sent 3000 bytes but no wirecall handshake",
            "0 good frames",
            r#"its first bytes: "garbage\ngarbage"#,
            "stdout",
        ],
    );
}

#[test]
fn noise_on_a_serial_port_suggests_the_baud_rate() {
    // socat's ptys have no baud rate to get wrong; text on the line stands in for a device
    // at another rate, which reads as noise too.
    let ptys = PtyPair::start();
    let _noise = Running(
        Command::new("sh")
            .arg("-c")
            .arg(format!("exec yes garbage > '{}'", ptys.a))
            .spawn()
            .unwrap(),
    );
    let o = call(&["--serial", &ptys.b, "--timeout", "1s", "add", "[1, 2]"]);
    expect(
        &o,
        4,
        &[
            &format!("no session with serial port {} at 115200 baud", ptys.b),
            "no wirecall handshake",
            "check the baud rate",
        ],
    );
}

/// A fake device on a local TCP port: it sends `hello` to the one connection it takes,
/// then returns everything it received until the client hangs up.
fn fake_device(hello: Vec<u8>) -> (String, std::thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let device = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(&frame(&hello)).unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        got
    });
    (addr, device)
}

/// The kind and first byte of each good frame in `wire`.
fn frames(wire: &[u8]) -> Vec<(u8, u8)> {
    unframe(wire)
        .into_iter()
        .flatten()
        .map(|b| (b[0] & 0x1f, b.get(1).copied().unwrap_or(0)))
        .collect()
}

#[test]
fn a_device_of_another_protocol_version_is_told_with_both_versions() {
    let (addr, device) = fake_device(hello(false, 9, 9, 4096, 32, 32, 1000, demo::SCHEMA_HASH));
    let o = call(&["--tcp", &addr, "add", "[1, 2]"]);
    expect(
        &o,
        4,
        &[
            &format!("no session with tcp {addr}"),
            "the device speaks version 9 (and accepts 9 at the oldest)",
            &format!("this side speaks version {}", wirecall::PROTOCOL_VERSION),
        ],
    );
    // The device was told why: a Close (kind 7) with IncompatibleVersion (7).
    let got = device.join().unwrap();
    assert!(frames(&got).contains(&(7, 7)), "{:?}", frames(&got));
}

#[test]
fn a_device_serving_another_schema_exits_5() {
    let (addr, device) = fake_device(hello(false, 1, 1, 4096, 32, 32, 1000, 0x1234_5678));
    // A command pinned to a schema (`--schema HASH`) refuses any other.
    let pinned = format!("0x{:08X}", demo::SCHEMA_HASH);
    let o = stream(&["--tcp", &addr, "--schema", &pinned, "count", "[3]"]);
    expect(
        &o,
        5,
        &[&format!(
            "the device serves schema 0x12345678; this command expects {:#010x}",
            demo::SCHEMA_HASH
        )],
    );
    drop(device.join());
}

#[test]
fn a_handshake_that_never_comes_exits_4_whatever_the_timeout() {
    // A device that stays silent: at 300 ms the command gives up; at 10 s the client gives
    // up first (after three keepalive intervals). Either way: no session, 4.
    for timeout in ["300ms", "10s"] {
        let o = call(&[
            "--exec",
            "exec sleep 60",
            "--timeout",
            timeout,
            "add",
            "[1, 2]",
        ]);
        expect(
            &o,
            4,
            &["no session with `exec sleep 60`", "it sent nothing"],
        );
    }
    // A device that ends at once.
    let o = call(&["--exec", "exit 3", "add", "[1, 2]"]);
    expect(
        &o,
        4,
        &["it ended, or closed its stdin or stdout, without a word"],
    );
}

/// Runs `wirecall serve ARGS`, which must fail.
fn serve_fails(args: &[&str]) -> Output {
    fails("serve", args)
}

#[test]
fn serve_reports_what_it_cannot_open_instead_of_serving() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = TempDir::new("diag-serve");
    let port = dir.file("ttyNONE");
    let cases: [(&[&str], &str); 3] = [
        (
            &["--tcp", &addr],
            &format!("cannot listen on tcp {addr}: address already in use"),
        ),
        (
            &["--serial", &port],
            &format!("cannot open serial port {port}: no such file or device"),
        ),
        (
            &["--link", &format!("serial://{port}?baud=9600")],
            &format!("cannot open serial port {port}"),
        ),
    ];
    for (args, want) in cases {
        let o = serve_fails(args);
        expect(&o, 4, &[want]);
        assert!(!stderr(&o).contains("serving"), "{}", stderr(&o));
    }
    let o = serve_fails(&["--link", "exec:true"]);
    expect(&o, 2, &["cannot serve on exec:true"]);
}

#[test]
fn serve_leaves_a_file_or_a_running_servers_socket_alone() {
    let dir = TempDir::new("diag-serve-unix");
    let file = dir.file("notes.txt");
    std::fs::write(&file, "keep me").unwrap();
    let o = serve_fails(&["--unix", &file]);
    expect(
        &o,
        4,
        &[&format!(
            "cannot listen on unix socket {file}: {file} exists and is not a socket"
        )],
    );
    assert!(!stderr(&o).contains("serving"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");

    let sock = dir.file("live.sock");
    let (_first, _) = serve(&["--unix", &sock]);
    let o = serve_fails(&["--unix", &sock]);
    expect(&o, 4, &["another server is listening on it"]);
    // The first server still serves, on its socket.
    let o = call(&["--unix", &sock, "add", "[1, 2]"]);
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), "3".into()),
        "{}",
        stderr(&o)
    );

    // A socket left behind by a server that stopped is replaced.
    let stale = dir.file("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let (_second, _) = serve(&["--unix", &stale]);
    let o = call(&["--unix", &stale, "add", "[2, 2]"]);
    assert_eq!(stdout(&o), "4", "{}", stderr(&o));
}

#[test]
fn bad_numbers_are_refused_before_anything_is_sent() {
    let addr = closed_port();
    let tcp = ["--tcp", addr.as_str()];
    let cases: [(&[&str], &str); 7] = [
        (
            &["call", "--baud", "0", "--serial", "/dev/null"],
            "0 is not in 1..",
        ),
        (
            &["stream", "--baud", "0", "--serial", "/dev/null"],
            "0 is not in 1..",
        ),
        (
            &[&["call", "--timeout", "1e20"], &tcp[..]].concat(),
            "too long",
        ),
        (
            &[&["call", "--timeout", "inf"], &tcp[..]].concat(),
            "not a finite duration",
        ),
        (
            &[&["call", "--timeout", "0"], &tcp[..]].concat(),
            "more than zero",
        ),
        (
            &[&["stream", "--timeout=-1s"], &tcp[..]].concat(),
            "more than zero",
        ),
        (&["call", "--link", "tcp://localhost"], "no port"),
    ];
    for (args, want) in cases {
        let o = Command::new(BIN)
            .args(args)
            .args(["add", "[1, 2]"])
            .output()
            .unwrap();
        expect(&o, 2, &[want]);
    }
    let o = serve_fails(&["--serial", "/dev/null", "--baud", "0"]);
    expect(&o, 2, &["0 is not in 1.."]);
}

#[test]
fn long_timeouts_in_minutes_and_hours_are_taken() {
    let (_server, addr) = serve(&["--tcp", "127.0.0.1:0"]);
    for timeout in ["1m", "1h", "8760h"] {
        let o = call(&["--tcp", &addr, "--timeout", timeout, "add", "[1, 2]"]);
        assert_eq!(stdout(&o), "3", "{timeout}: {}", stderr(&o));
    }
}

#[test]
fn the_help_is_current_and_gives_the_exit_codes() {
    let o = Command::new(BIN).arg("--help").output().unwrap();
    let help = stdout(&o);
    assert!(!help.contains("follow"), "{help}");
    assert!(help.contains("serve, call and stream"), "{help}");
    for line in [
        "Exit codes",
        "3  the call timed out",
        "5  the device serves",
    ] {
        assert!(help.contains(line), "{help}");
    }
    let o = Command::new(BIN).args(["call", "--help"]).output().unwrap();
    assert!(stdout(&o).contains("Exit codes"));
    assert!(stdout(&o).contains("--link <URL>"));
}

#[test]
fn a_devices_own_text_reaches_the_terminal_escaped() {
    // A device whose names, descriptions of types and error details carry terminal escape
    // sequences (clear the screen, retitle the window, an 8-bit CSI, a bidi override).
    let mut manifest = wirecall_schema::Manifest::parse(&demo::MANIFEST).unwrap();
    manifest.service = "demo\x1b]0;owned\x07".into();
    manifest.procedures[0].params[0].name = "a\u{9b}2J".into();
    let bytes: &'static [u8] = Box::leak(manifest.to_bytes().into_boxed_slice());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handler = |_: u32, _: &[u8]| -> Result<Vec<u8>, (wirecall::WireError, String)> {
        Err((
            wirecall::WireError::Internal,
            "\x1b[2J\x1b[31mdisk \u{202e}lluf".into(),
        ))
    };
    let server = wirecall_adapters::host::serve_tcp(
        listener,
        move || Box::new(handler),
        wirecall::Config::default().with_manifest(bytes),
    )
    .unwrap();
    let unsafe_char =
        |c: char| c.is_control() && c != '\n' || ('\u{202a}'..='\u{202e}').contains(&c);
    let dir = TempDir::new("diag-escapes");
    let list = Command::new(BIN)
        .env("WIRECALL_CACHE_DIR", &dir.0)
        .args(["list", "--tcp", &addr])
        .output()
        .unwrap();
    let shown = stdout(&list);
    assert_eq!(list.status.code(), Some(0), "{}", stderr(&list));
    assert!(!shown.chars().any(unsafe_char), "{shown:?}");
    assert!(shown.contains("demo\\u{1b}]0;owned\\u{7}"), "{shown}");
    assert!(shown.contains("a\\u{9b}2J: i32"), "{shown}");
    let json = Command::new(BIN)
        .env("WIRECALL_CACHE_DIR", &dir.0)
        .args(["list", "--json", "--tcp", &addr])
        .output()
        .unwrap();
    let shown = stdout(&json);
    assert!(!shown.chars().any(unsafe_char), "{shown:?}");
    // Still JSON, still the device's names.
    let value: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(value["manifest"]["service"], "demo\x1b]0;owned\x07");
    let failed = Command::new(BIN)
        .env("WIRECALL_CACHE_DIR", &dir.0)
        .args(["call", "--tcp", &addr, "add", "[1, 2]"])
        .output()
        .unwrap();
    let err = stderr(&failed);
    assert_eq!(failed.status.code(), Some(1), "{err}");
    assert!(!err.chars().any(unsafe_char), "{err:?}");
    assert!(
        err.contains("\\u{1b}[2J\\u{1b}[31mdisk \\u{202e}lluf"),
        "{err}"
    );
    server.stop();
}
