//! A child process of a test: started with its stderr read line by line (so its pipe never
//! fills), waited on with an upper bound, killed by its pid and reaped when dropped. For
//! the tests that run the command-line programs (the gateway's, the command's).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long any one awaited event may take before the test fails (an upper bound on a
/// wait for a line or a reply, never a sleep).
pub const EVENT: Duration = Duration::from_secs(15);

/// A child process, killed by its pid and reaped when dropped; its stderr lines arrive
/// on `lines` (a thread reads them as they come, so the pipe never fills).
pub struct Process {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Process {
    /// Starts `command` with stderr read line by line.
    pub fn start(command: &mut Command) -> Process {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let stderr = BufReader::new(child.stderr.take().unwrap());
        // Unbounded: a gateway with many devices says much, and must never block on it.
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                // Nobody waits any more: keep draining so the child never blocks.
                let _ = tx.send(line);
            }
        });
        Process { child, lines }
    }

    /// Waits for the first line `pick` accepts and returns what it made of it.
    pub fn wait_for<T>(&self, what: &str, mut pick: impl FnMut(&str) -> Option<T>) -> T {
        let end = Instant::now() + EVENT;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("no {what} line: {e}"));
            if let Some(found) = pick(&line) {
                return found;
            }
        }
    }

    /// Lets the reader thread drain the rest of the output on its own.
    pub fn detach_lines(&mut self) {
        let (_, empty) = mpsc::channel();
        drop(std::mem::replace(&mut self.lines, empty));
    }

    /// Waits (at most [`EVENT`]) for the process to end by itself, and says how it ended.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let end = Instant::now() + EVENT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < end, "the process did not end");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process (SIGKILL, by its pid) and reaps it: when this returns, the
    /// process and its sockets are gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    /// Asks the process to end (SIGTERM, by its pid) and reaps it, as an unplugged device's
    /// link goes away cleanly (socat removes its links); SIGKILL if it takes too long.
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let end = Instant::now() + EVENT;
        while Instant::now() < end {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}
