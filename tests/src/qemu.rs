//! The example firmware under `qemu-system-arm`, its UART0 on a Unix socket, a TCP socket,
//! QEMU's own pty, or a pty that `socat` joins to the Unix socket. QEMU (and socat) are
//! stopped by their pids when the guard drops, always.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The firmware image `./ci.sh` builds (`cargo build --release` in `firmware-example/`).
pub fn firmware_elf() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../firmware-example/target/thumbv7m-none-eabi/release/firmware-example");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --release` in firmware-example/ (./ci.sh does)",
        path.display()
    );
    path
}

/// A running QEMU.
pub struct Qemu {
    child: Child,
    /// socat, joining the UART's socket to a pty ([`Qemu::with_socat_pty`]).
    bridge: Option<Child>,
    dir: PathBuf,
    /// The UART's Unix socket (socket mode), pty path (pty modes) or `host:port` (TCP).
    pub serial: PathBuf,
    /// The monitor's Unix socket, for `system_reset`, `cont`, ...
    pub monitor: PathBuf,
}

fn base_command(dir: &std::path::Path) -> Command {
    let mut c = Command::new("qemu-system-arm");
    // Not -nographic: it treats byte 0x01 as an escape and can kill QEMU mid-frame.
    c.args([
        "-cpu",
        "cortex-m3",
        "-machine",
        "lm3s6965evb",
        "-display",
        "none",
    ])
    .args(["-semihosting-config", "enable=on,target=native"])
    .arg("-monitor")
    .arg(format!(
        "unix:{},server=on,wait=off",
        dir.join("monitor").display()
    ));
    c
}

impl Qemu {
    fn dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "wirecall-qemu-{}-{tag}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    /// Boots the firmware with UART0 on a Unix socket; QEMU waits for the host to connect,
    /// so nothing the device sends is lost. Returns QEMU and the connected socket.
    pub fn with_socket() -> (Qemu, UnixStream) {
        let qemu = Qemu::listening_on_socket("sock");
        let start = Instant::now();
        loop {
            if let Ok(s) = UnixStream::connect(&qemu.serial) {
                return (qemu, s);
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "QEMU never opened its UART socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// QEMU with UART0 on a Unix socket it listens on; the firmware starts once something
    /// connects.
    fn listening_on_socket(tag: &str) -> Qemu {
        let dir = Qemu::dir(tag);
        let serial = dir.join("uart");
        let child = base_command(&dir)
            .arg("-serial")
            .arg(format!("unix:{},server=on,wait=on", serial.display()))
            .arg("-kernel")
            .arg(firmware_elf())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("qemu-system-arm (./ci.sh installs it)");
        Qemu {
            child,
            bridge: None,
            monitor: dir.join("monitor"),
            serial,
            dir,
        }
    }

    /// Boots the firmware with UART0 on a TCP socket on loopback; QEMU waits for the host
    /// to connect, so nothing the device sends is lost. Returns QEMU and the connected
    /// socket.
    pub fn with_tcp() -> (Qemu, TcpStream) {
        for _ in 0..5 {
            // A port free a moment ago; if another process takes it first, QEMU exits and
            // the next round tries another.
            let addr: SocketAddr = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port");
            let dir = Qemu::dir("tcp");
            let child = base_command(&dir)
                .arg("-serial")
                .arg(format!("tcp:{addr},server=on,wait=on"))
                .arg("-kernel")
                .arg(firmware_elf())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("qemu-system-arm (./ci.sh installs it)");
            let mut qemu = Qemu {
                child,
                bridge: None,
                monitor: dir.join("monitor"),
                serial: PathBuf::from(addr.to_string()),
                dir,
            };
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if let Ok(s) = TcpStream::connect(addr) {
                    return (qemu, s);
                }
                if qemu.child.try_wait().ok().flatten().is_some() {
                    break; // it could not listen there
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("QEMU never opened its UART's TCP port");
    }

    /// Boots the firmware with UART0 on a Unix socket that `socat` joins to a new pty, as
    /// a serial adapter appears to a host: open [`serial`](Self::serial) as a serial port.
    /// The firmware starts when socat connects, before the host opens the pty; what it
    /// sends meanwhile waits in the pty.
    pub fn with_socat_pty() -> Qemu {
        let mut qemu = Qemu::listening_on_socket("socat");
        let start = Instant::now();
        while !qemu.serial.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "QEMU never opened its UART socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let pty = qemu.dir.join("tty");
        qemu.bridge = Some(
            Command::new("socat")
                .arg(format!("pty,raw,echo=0,link={}", pty.display()))
                .arg(format!("UNIX-CONNECT:{}", qemu.serial.display()))
                .stderr(Stdio::null())
                .spawn()
                .expect("socat (./ci.sh installs it)"),
        );
        while !pty.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "socat made no pty"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        qemu.serial = pty;
        qemu
    }

    /// Starts QEMU paused (`-S`) with UART0 on a new pty, and returns it with the pty's
    /// path; open the pty, then [`resume`](Self::resume).
    pub fn with_pty() -> Qemu {
        let dir = Qemu::dir("pty");
        let mut child = base_command(&dir)
            .args(["-S", "-serial", "pty", "-kernel"])
            .arg(firmware_elf())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("qemu-system-arm (./ci.sh installs it)");
        // QEMU says on stdout: "char device redirected to /dev/pts/N (label serial0)".
        let mut line = String::new();
        let mut err = BufReader::new(child.stdout.take().expect("stdout"));
        while !line.contains("/dev/pts/") {
            line.clear();
            if err.read_line(&mut line).unwrap_or(0) == 0 {
                let _ = child.kill();
                panic!("QEMU did not report its pty");
            }
        }
        let pty = line
            .split_whitespace()
            .find(|w| w.starts_with("/dev/pts/"))
            .unwrap_or_default()
            .to_string();
        // Keep draining stdout so QEMU never blocks on it.
        std::thread::spawn(move || for _ in err.lines() {});
        Qemu {
            child,
            bridge: None,
            monitor: dir.join("monitor"),
            serial: PathBuf::from(pty),
            dir,
        }
    }

    /// Sends one command to the QEMU monitor.
    pub fn monitor(&self, command: &str) {
        use std::io::Write;
        let start = Instant::now();
        let mut s = loop {
            match UnixStream::connect(&self.monitor) {
                Ok(s) => break s,
                Err(_) if start.elapsed() < Duration::from_secs(5) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => panic!("QEMU monitor: {e}"),
            }
        };
        s.write_all(format!("{command}\n").as_bytes())
            .expect("monitor write");
        // Give the monitor time to act before the connection closes.
        std::thread::sleep(Duration::from_millis(100));
    }

    /// Resumes a QEMU started paused.
    pub fn resume(&self) {
        self.monitor("cont");
    }

    /// Resets the emulated board, as the reset button does.
    pub fn reset(&self) {
        self.monitor("system_reset");
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        if let Some(mut socat) = self.bridge.take() {
            let _ = socat.kill();
            let _ = socat.wait();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
