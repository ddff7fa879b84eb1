//! The programs the NATS benchmark runs beside its own children: `nats-server` and the
//! `wirecall-gateway` binary. Each is read by its log lines, stopped by its own pid and
//! reaped; and each can say how much CPU it has used, so that a run can tell where a
//! call's time goes.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a program may take to print the line that says it is ready.
const READY: Duration = Duration::from_secs(20);

/// A child program, killed by its pid and reaped when dropped. A thread reads its stderr
/// (where both programs log) so that the pipe never fills.
pub(crate) struct Process {
    child: Child,
    name: String,
    lines: mpsc::Receiver<String>,
}

impl Process {
    fn start(name: &str, command: &mut Command) -> Result<Process, String> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {name} ({command:?}): {e}"))?;
        let stderr = child.stderr.take().ok_or("no stderr pipe")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // Nobody listens once the program is ready: the lines are dropped, the
                // pipe keeps draining.
                let _ = tx.send(line);
            }
        });
        Ok(Process {
            child,
            name: name.to_string(),
            lines,
        })
    }

    /// Waits for the first line `pick` accepts; fails with the lines seen if the program
    /// ends or stays silent for [`READY`].
    fn wait_for<T>(&self, mut pick: impl FnMut(&str) -> Option<T>) -> Result<T, String> {
        let deadline = Instant::now() + READY;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(found) = pick(&line) {
                        return Ok(found);
                    }
                    seen.push(line);
                }
                Err(_) => {
                    return Err(format!(
                        "{} did not get ready within {READY:?}; it said:\n{}",
                        self.name,
                        seen.join("\n")
                    ))
                }
            }
        }
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `nats-server` on a port of its own choosing (`-p -1`), and its client URL from its log.
pub(crate) fn nats_server() -> Result<(Process, String), String> {
    let server = Process::start(
        "nats-server",
        Command::new("nats-server").args(["-a", "127.0.0.1", "-p", "-1"]),
    )?;
    let addr = server.wait_for(|l| {
        l.split_once("Listening for client connections on ")
            .map(|(_, addr)| addr.trim().to_string())
    })?;
    server.wait_for(|l| l.contains("Server is ready").then_some(()))?;
    Ok((server, format!("nats://{addr}")))
}

/// The gateway serving `link` as device `id` on the bus at `nats`, once it says ready.
pub(crate) fn gateway(exe: &Path, nats: &str, id: &str, link: &str) -> Result<Process, String> {
    let gateway = Process::start(
        "wirecall-gateway",
        Command::new(exe).args(["--nats", nats, "--device", &format!("{id}={link}")]),
    )?;
    gateway.wait_for(|l| l.contains("wirecall-gateway: ready").then_some(()))?;
    Ok(gateway)
}

/// CPU time (user and system, every thread) process `pid` has used so far, in seconds;
/// `None` once it is gone. `/proc/PID/stat` counts clock ticks, 100 a second on Linux
/// (`USER_HZ`, fixed by the kernel's ABI whatever its own tick rate).
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may contain spaces: count fields after it.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of the man page, utime 14 and stime 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_while_a_process_works_and_ends_with_it() {
        let me = std::process::id();
        let before = cpu_seconds(me).unwrap();
        // Work until the kernel has counted at least two of its 10 ms ticks.
        let t0 = Instant::now();
        let mut x = 0u64;
        while cpu_seconds(me).unwrap() < before + 0.02 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "no CPU time counted"
            );
        }
        std::hint::black_box(x);
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(cpu_seconds(pid), None);
    }
}
