//! Helpers shared by the command's test files: the binary, a guard that stops a child by
//! its pid, and running `serve`, `call` and `stream` as a user would.

// Each test file uses a part of these.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_wirecall");

/// A child process killed and reaped on drop.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `wirecall serve ARGS` and waits for its "serving ... on" line; returns the guard
/// and the address it printed.
pub(crate) fn serve(args: &[&str]) -> (Running, String) {
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
