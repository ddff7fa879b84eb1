//! Helpers shared by the command's test files: the binary, a guard that stops a child by
//! its pid, and running `serve`, `call` and `stream` as a user would.

// Each test file uses a part of these.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) mod ws;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_wirecall");

/// A child process killed and reaped on drop.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `wirecall ARGS` (a `bridge` or a `guest`, listening on TCP) and waits for its
/// `bridging tcp ADDR to ...` line; returns the guard, ADDR, and the lines it prints after,
/// gathered by a thread (which also keeps its stderr from filling).
pub(crate) fn bridging(
    args: &[&str],
) -> (
    Running,
    String,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    let mut child = Command::new(BIN)
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let running = Running(child);
    let mut line = String::new();
    while !line.contains("bridging tcp") {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "wirecall ended: {args:?}"
        );
    }
    let addr = line.split_whitespace().nth(3).unwrap().to_string();
    let later = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = later.clone();
    std::thread::spawn(move || {
        for line in err.lines().map_while(Result::ok) {
            seen.lock().unwrap().push(line);
        }
    });
    (running, addr, later)
}

/// Starts `wirecall COMMAND ARGS` and waits for the line of its stderr that has `ready` in
/// it (the command prints it once it listens); returns the guard and that line's last word.
fn start(command: &str, args: &[&str], ready: &str) -> (Running, String) {
    let mut child = Command::new(BIN)
        .arg(command)
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let running = Running(child);
    let mut line = String::new();
    while !line.contains(ready) {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "{command} ended");
    }
    let word = line.trim().rsplit(' ').next().unwrap().to_string();
    (running, word)
}

/// Starts `wirecall serve ARGS` and waits for its "serving ... on" line; returns the guard
/// and the address it printed.
pub(crate) fn serve(args: &[&str]) -> (Running, String) {
    start("serve", args, "serving the demo service on")
}

/// Starts `wirecall web ARGS` and waits for its "the demo page is at" line; returns the
/// guard and the HOST:PORT it printed.
pub(crate) fn web(args: &[&str]) -> (Running, String) {
    let (running, url) = start("web", args, "the demo page is at");
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    (running, addr.to_string())
}

/// Runs `wirecall COMMAND ARGS`, which must fail: waits for it to exit (it is killed if it
/// does not within 10 s, and the test fails). Its stdout is not kept.
pub(crate) fn fails(command: &str, args: &[&str]) -> Output {
    let child = Command::new(BIN)
        .arg(command)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let exited = wait_until(Duration::from_secs(10), || {
        running.0.try_wait().unwrap().is_some()
    });
    assert!(exited, "{command} {args:?} did not fail");
    let mut err = Vec::new();
    let mut stderr = running.0.stderr.take().unwrap();
    stderr.read_to_end(&mut err).unwrap();
    Output {
        status: running.0.wait().unwrap(),
        stdout: Vec::new(),
        stderr: err,
    }
}

/// Sends `METHOD PATH` to the HTTP server at `addr` and reads the answer to its end:
/// status, head and body.
pub(crate) fn http_get(addr: &str, method: &str, path: &str) -> (u16, String, Vec<u8>) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a whole head");
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, answer[split + 4..].to_vec())
}

/// Runs `wirecall call ARGS` to its end.
pub(crate) fn call(args: &[&str]) -> Output {
    Command::new(BIN).arg("call").args(args).output().unwrap()
}

/// Runs `wirecall stream ARGS` to its end.
pub(crate) fn stream(args: &[&str]) -> Output {
    Command::new(BIN).arg("stream").args(args).output().unwrap()
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

/// True while process `pid` exists and is not a zombie (a zombie is dead, waiting only for
/// its parent, or init, to collect it).
pub(crate) fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// Waits until `done` holds, looking every few milliseconds, for at most `limit`; returns
/// whether it came.
pub(crate) fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    done()
}

/// A directory of its own for one test, removed on drop.
pub(crate) struct TempDir(pub(crate) std::path::PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("wirecall-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// `name` in the directory, as a string.
    pub(crate) fn file(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
