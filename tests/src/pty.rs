//! Two linked pseudo-terminals made by `socat`: a serial cable on one machine.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Two linked pseudo-terminals from socat, stopped by its pid on drop.
pub struct PtyPair {
    child: Child,
    /// One end's path.
    pub a: String,
    /// The other end's path.
    pub b: String,
    dir: std::path::PathBuf,
}

impl PtyPair {
    /// Starts socat; panics if it is missing or makes no ptys within 5 s.
    pub fn start() -> PtyPair {
        let dir = std::env::temp_dir().join(format!(
            "wirecall-pty-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (
            dir.join("a").display().to_string(),
            dir.join("b").display().to_string(),
        );
        let child = Command::new("socat")
            .arg(format!("pty,raw,echo=0,link={a}"))
            .arg(format!("pty,raw,echo=0,link={b}"))
            .stderr(Stdio::null())
            .spawn()
            .expect("socat (./ci.sh installs it)");
        let start = Instant::now();
        while !(std::path::Path::new(&a).exists() && std::path::Path::new(&b).exists()) {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "socat made no ptys"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        PtyPair { child, a, b, dir }
    }
}

impl Drop for PtyPair {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
