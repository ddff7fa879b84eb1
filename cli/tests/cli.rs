//! `wirecall serve` and `wirecall call` used together as a user would, over every transport,
//! and the child-process link through a device reset. Every process started here is
//! stopped by its pid, always (the guards kill and reap on drop).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use wirecall::Config;
use wirecall_adapters::host::{Client, ClientError, ClientOptions, Link};
use wirecall_tests::demo::demo;

const BIN: &str = env!("CARGO_BIN_EXE_wirecall");

/// A child process killed and reaped on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `wirecall serve ARGS` and waits for its "serving ... on" line; returns the guard
/// and the address it printed.
fn serve(args: &[&str]) -> (Running, String) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("serving the demo service on"), "{line}");
    let addr = line.trim().rsplit(' ').next().unwrap().to_string();
    (Running(child), addr)
}

fn call(args: &[&str]) -> Output {
    Command::new(BIN).arg("call").args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

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
    let o = with(&["add", r#"{"a": 40, "b": 2}"#]);
    assert_eq!(stdout(&o), "42");
    let o = with(&["echo", "[104, 105]"]);
    assert_eq!(stdout(&o), "[104,105]");
    let o = with(&["fail"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("internal error"), "{}", stderr(&o));
    let o = with(&["add", r#""x""#]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("add(a : i32, b : i32) -> i32"),
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
        stderr(&o).contains("cannot open the link"),
        "{}",
        stderr(&o)
    );
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
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
