//! A forwarding proxy that counts the bytes each way (for `--wire-bytes`): what a UART
//! would carry for the same calls; TCP/IP headers are not counted.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::stats::Bytes2;

/// The two counters.
#[derive(Clone, Default)]
pub(crate) struct Counters {
    c2s: Arc<AtomicU64>,
    s2c: Arc<AtomicU64>,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> Bytes2 {
        Bytes2 {
            c2s: self.c2s.load(Ordering::SeqCst),
            s2c: self.s2c.load(Ordering::SeqCst),
        }
    }
}

/// A running proxy in front of a server.
pub(crate) struct Proxy {
    /// Where clients connect.
    pub(crate) addr: String,
    pub(crate) counters: Counters,
}

/// One direction of a proxied stream.
trait Half: Read + Write + Send + 'static {
    fn close_write(&self);
}
impl Half for TcpStream {
    fn close_write(&self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}
impl Half for UnixStream {
    fn close_write(&self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}

fn pump(mut from: impl Half, to: impl Half, counter: Arc<AtomicU64>) {
    let mut to = to;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        counter.fetch_add(n as u64, Ordering::SeqCst);
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    to.close_write();
}

impl Proxy {
    /// Starts a proxy in front of `target` (a TCP address, or a Unix path if `unix`).
    pub(crate) fn start(unix: bool, target: &str) -> Result<Proxy, String> {
        let counters = Counters::default();
        let (c2s, s2c) = (counters.c2s.clone(), counters.s2c.clone());
        let target = target.to_string();
        let addr = if unix {
            let path = format!("{target}.proxy");
            let _ = std::fs::remove_file(&path);
            let listener = UnixListener::bind(&path).map_err(|e| e.to_string())?;
            std::thread::spawn(move || {
                for client in listener.incoming().flatten() {
                    let Ok(server) = UnixStream::connect(&target) else {
                        continue;
                    };
                    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                        continue;
                    };
                    let (a, b) = (c2s.clone(), s2c.clone());
                    std::thread::spawn(move || pump(client, server, a));
                    std::thread::spawn(move || pump(s2, c2, b));
                }
            });
            path
        } else {
            let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            let local = listener
                .local_addr()
                .map_err(|e| e.to_string())?
                .to_string();
            std::thread::spawn(move || {
                for client in listener.incoming().flatten() {
                    let Ok(server) = TcpStream::connect(target.as_str()) else {
                        continue;
                    };
                    let _ = (client.set_nodelay(true), server.set_nodelay(true));
                    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                        continue;
                    };
                    let (a, b) = (c2s.clone(), s2c.clone());
                    std::thread::spawn(move || pump(client, server, a));
                    std::thread::spawn(move || pump(s2, c2, b));
                }
            });
            local
        };
        Ok(Proxy { addr, counters })
    }
}
