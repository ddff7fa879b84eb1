//! `wirecall serve` and `wirecall call` used together as a user would, over every transport,
//! and the child-process link through a device reset. Every process started here is
//! stopped by its pid, always (the guards kill and reap on drop).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use wirecall::Config;
use wirecall_adapters::host::{Client, ClientError, ClientOptions, Link};
use wirecall_tests::demo::demo;

mod common;
use common::*;

/// The calls a user makes, over one transport (`--tcp ADDR`, `--unix PATH`, ...).
fn user_session(link: &[&str]) {
    let with = |rest: &[&str]| -> Output { call(&[link, rest].concat()) };
    let o = with(&["add", "[1, 2]"]);
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), "3".into()),
        "{}",
        stderr(&o)
    );
    // What the device serves, as it describes itself.
    let o = std::process::Command::new(BIN)
        .arg("list")
        .args(link)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("0  add(a: i32, b: i32) -> i32"),
        "{}",
        stdout(&o)
    );
    let o = with(&["add", r#"{"a": 40, "b": 2}"#]);
    assert_eq!(stdout(&o), "42");
    // Bytes go in as numbers, text, hex or base64, and print as text when they are text.
    let o = with(&["echo", "[104, 105]"]);
    assert_eq!(stdout(&o), "\"hi\"");
    let o = with(&["echo", "\"0x00ff\""]);
    assert_eq!(stdout(&o), "\"0x00ff\"");
    let o = with(&["echo", "\"base64:aGk=\""]);
    assert_eq!(stdout(&o), "\"hi\"");
    let o = with(&["fail"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("internal error"), "{}", stderr(&o));
    let o = with(&["add", r#""x""#]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("add(a: i32, b: i32) -> i32"),
        "{}",
        stderr(&o)
    );
    let o = with(&["nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown procedure `nope`"),
        "{}",
        stderr(&o)
    );
    // A handle, and calls of its methods in the same session. Its slot and generation
    // depend on the sessions the server had before (a serial port's endpoint outlives
    // each session), so only its interface is checked.
    let o = with(&[
        "open",
        r#"["temp"]"#,
        "then",
        "configure",
        "[3]",
        "then",
        "read",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        matches!(lines[..], [handle, "1", "3"] if handle.starts_with("handle Channel #")),
        "{out}"
    );
    let o = with(&["--timeout", "300ms", "sleep", "2000"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("timed out"), "{}", stderr(&o));
}

#[test]
fn serve_and_call_over_tcp() {
    let (_server, addr) = serve(&["--tcp", "127.0.0.1:0"]);
    user_session(&["--tcp", &addr]);
}

#[test]
fn serve_and_call_over_a_unix_socket() {
    let path = std::env::temp_dir().join(format!("wirecall-cli-{}.sock", std::process::id()));
    let (_server, _) = serve(&["--unix", path.to_str().unwrap()]);
    user_session(&["--unix", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn call_a_child_process_serving_on_stdio() {
    let exec = format!("{BIN} serve --stdio");
    user_session(&["--exec", &exec]);
}

#[test]
fn serve_and_call_over_a_serial_port_pair_from_socat() {
    let ptys = wirecall_tests::pty::PtyPair::start();
    let (a, b) = (ptys.a.clone(), ptys.b.clone());
    let (_server, _) = serve(&["--serial", &a, "--baud", "115200"]);
    user_session(&["--serial", &b, "--baud", "115200"]);
}

#[test]
fn a_call_to_nothing_fails_with_a_clear_message() {
    let o = call(&["--tcp", "127.0.0.1:1", "add", "[1, 2]"]);
    assert_eq!(o.status.code(), Some(4));
    assert!(
        stderr(&o).contains("cannot connect to tcp 127.0.0.1:1: connection refused"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_child_device_reset_mid_call_ends_the_call_and_the_client_starts_it_again() {
    let pidfile = std::env::temp_dir().join(format!("wirecall-child-{}.pid", std::process::id()));
    let script = format!("echo $$ > {}; exec {BIN} serve --stdio", pidfile.display());
    let pf = pidfile.clone();
    let read_pid = move || -> u32 {
        std::fs::read_to_string(&pf)
            .unwrap_or_default()
            .trim()
            .parse()
            .unwrap_or(0)
    };
    let options = ClientOptions {
        config: Config::default().expecting_schema(demo::SCHEMA_HASH),
        ..ClientOptions::default()
    };
    let client = Client::connect(
        move || {
            let mut c = Command::new("sh");
            c.arg("-c").arg(&script);
            Link::spawn(c)
        },
        options,
    )
    .unwrap();
    assert_eq!(client.call_typed::<demo::Add>(&(1, 2), None), Ok(3));
    let first = read_pid();
    assert!(pid_alive(first));

    let c = client.clone();
    let slow = std::thread::spawn(move || {
        c.call_typed::<demo::Sleep>(&(5000,), Some(Duration::from_secs(30)))
    });
    std::thread::sleep(Duration::from_millis(200));
    Command::new("kill")
        .arg("-9")
        .arg(first.to_string())
        .status()
        .unwrap();
    assert_eq!(slow.join().unwrap(), Err(ClientError::ConnectionLost));

    // The client starts the device again by itself and calls work.
    assert_eq!(
        client.call_typed::<demo::Add>(&(2, 2), Some(Duration::from_secs(10))),
        Ok(4)
    );
    let second = read_pid();
    assert_ne!(first, second);
    drop(client);
    assert!(
        !pid_alive(second),
        "the child was not stopped with the client"
    );
    let _ = std::fs::remove_file(&pidfile);
}

/// The peak resident memory of a running process, in KiB (`VmHWM`), if it is still there.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `wirecall call ARGS` to its end; returns its exit code, how long it ran, and the
/// last peak-memory reading taken while it ran (sampled every few milliseconds).
fn call_measured(args: &[&str]) -> (Option<i32>, Duration, u64, String) {
    let started = std::time::Instant::now();
    let mut child = Command::new(BIN)
        .arg("call")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let took = started.elapsed();
    let mut err = String::new();
    use std::io::Read;
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    (status.code(), took, peak, err)
}

#[test]
fn call_exits_at_its_deadline_with_flat_memory_while_the_device_floods_pings() {
    use wirecall_tests::peer::{HostilePeer, Misbehaviour};
    let peer = HostilePeer::spawn(Misbehaviour::FloodPings, 1000, demo::SCHEMA_HASH);
    let addr = peer.addr.to_string();
    // The old runtime took 8.9 s to exit from a 2 s timeout under this flood, growing by
    // 100-300 MB/s; the bounds below leave room for a loaded machine, not for that.
    let (code, took, peak_kib, err) =
        call_measured(&["--tcp", &addr, "--timeout", "1s", "sleep", "5000"]);
    // Past the stray-frame budget (64 pings a second while a pong is unsent) every session
    // is reset: no call can be made, and the command says why.
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("broke the protocol"), "{err}");
    assert!(
        took < Duration::from_millis(2500),
        "exited after {took:?} for a 1 s deadline"
    );
    assert!(peak_kib < 64 * 1024, "peak memory {peak_kib} KiB");
    let flooded = peer.sent.load(std::sync::atomic::Ordering::SeqCst);
    assert!(flooded > 1 << 20, "the peer flooded {flooded} bytes");
    eprintln!("under a ping flood: exited {took:?} after start for a 1 s deadline, peak {peak_kib} KiB, {flooded} bytes flooded");
}

#[test]
fn a_refused_connection_is_reported_as_such() {
    let (_server, addr) = serve(&["--tcp", "127.0.0.1:0", "--max-connections", "1"]);
    // One silent connection takes the only place.
    let _silent = std::net::TcpStream::connect(&addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let o = call(&["--tcp", &addr, "add", "[1, 2]"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("connection limit"), "{}", stderr(&o));
}

#[test]
fn serve_keeps_flat_memory_while_a_peer_sends_100_mb_without_a_delimiter() {
    use std::io::Write;
    let (server, addr) = serve(&["--tcp", "127.0.0.1:0"]);
    let pid = server.0.id();
    let baseline = peak_rss_kib(pid).unwrap();
    let flooder = std::thread::spawn({
        let addr = addr.clone();
        move || {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            let hello = wirecall_tests::raw::frame(&wirecall_tests::raw::hello(
                false, 1, 1, 4096, 32, 32, 1000, 0,
            ));
            s.write_all(&hello).unwrap();
            let chunk = vec![0x5au8; 1 << 20];
            let mut sent = 0usize;
            for _ in 0..100 {
                match s.write_all(&chunk) {
                    Ok(()) => sent += chunk.len(),
                    Err(_) => break, // dropped by the server's idle limit: fine too
                }
            }
            sent
        }
    });
    // A good client is answered meanwhile.
    let options = ClientOptions {
        config: Config::default().expecting_schema(demo::SCHEMA_HASH),
        ..ClientOptions::default()
    };
    let a = addr.clone();
    let client = Client::connect(move || Link::tcp(a.as_str()), options).unwrap();
    for i in 0..20 {
        assert_eq!(
            client.call_typed::<demo::Add>(&(i, 1), Some(Duration::from_secs(5))),
            Ok(i + 1)
        );
    }
    let sent = flooder.join().unwrap();
    let peak = peak_rss_kib(pid).unwrap();
    // The old runtime grew to 62-215 MB; a bounded one stays within a few MB of idle.
    assert!(sent >= 10 << 20, "only {sent} bytes were sent");
    assert!(
        peak < baseline + 32 * 1024,
        "peak {peak} KiB against {baseline} KiB idle, after {sent} bytes"
    );
    eprintln!("serve: peak {peak} KiB (idle {baseline} KiB) after {sent} undelimited bytes");
    drop(client);
}

#[test]
fn stream_prints_one_json_line_per_item_over_tcp_unix_and_a_child_process() {
    let (_tcp, addr) = serve(&["--tcp", "127.0.0.1:0"]);
    let dir = std::env::temp_dir().join(format!("wirecall-cli-stream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("s.sock");
    let (_unix, _) = serve(&["--unix", sock.to_str().unwrap()]);
    let exec = format!("{BIN} serve --stdio");
    for link in [
        vec!["--tcp", addr.as_str()],
        vec!["--unix", sock.to_str().unwrap()],
        vec!["--exec", exec.as_str()],
    ] {
        let o = stream(&[link.clone(), vec!["count", "[1000]"]].concat());
        assert_eq!(o.status.code(), Some(0), "{link:?}: {}", stderr(&o));
        let lines: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
        let want: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
        assert_eq!(lines, want, "{link:?}");
        assert_eq!(
            stderr(&o),
            "",
            "no progress line when stderr is not a terminal"
        );
    }
    // By name, and an empty stream.
    let o = stream(&["--tcp", &addr, "count", "{\"n\": 0}"]);
    assert_eq!((o.status.code(), stdout(&o)), (Some(0), String::new()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stream_and_call_refuse_each_others_procedures_and_bad_arguments() {
    let (_server, addr) = serve(&["--tcp", "127.0.0.1:0"]);
    let o = stream(&["--tcp", &addr, "add", "[1, 2]"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("`add` is not a stream"),
        "{}",
        stderr(&o)
    );
    let o = call(&["--tcp", &addr, "count", "[3]"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("`count` is a server stream"),
        "{}",
        stderr(&o)
    );
    let o = stream(&["--tcp", &addr, "count", "[-1]"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("count(n: u32) -> stream u32"),
        "{}",
        stderr(&o)
    );
    let o = stream(&["--tcp", "127.0.0.1:1", "count", "[3]"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
}

#[test]
fn a_stream_cut_short_by_a_closed_stdout_cancels_it_and_the_server_goes_on() {
    let (_server, addr) = serve(&["--tcp", "127.0.0.1:0"]);
    // `| head -3`: the reader goes away; the command exits and the device stops the stream.
    let mut child = Command::new(BIN)
        .args(["stream", "--tcp", &addr, "count", "[100000000]"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut first).unwrap();
    assert_eq!(first.trim(), "0");
    drop(out);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    // The server serves the next client at once.
    let o = call(&["--tcp", &addr, "add", "[1, 2]"]);
    assert_eq!(stdout(&o), "3");
}
