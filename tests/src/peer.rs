//! A misbehaving peer on a real socket, played with hand-made frames: it completes the
//! handshake like any peer, then floods, stops reading, or falls silent. Used against the
//! host runtime's client (it listens) and by the command-line tests.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::raw;

/// What the peer does once the handshake is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Valid Pings, as fast as the link takes them.
    FloodPings,
    /// Bytes that never contain a delimiter, as fast as the link takes them.
    FloodNoDelimiter,
    /// Nothing: it neither reads nor writes (the connection stays open).
    Silent,
}

/// A listening misbehaving peer; stops (and joins its threads) when dropped.
pub struct HostilePeer {
    /// Where to connect.
    pub addr: SocketAddr,
    /// Bytes it has written so far.
    pub sent: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HostilePeer {
    /// Listens on loopback; every connection gets a Hello (with the given keepalive in
    /// milliseconds and schema), then `how`.
    pub fn spawn(how: Misbehaviour, keepalive_ms: u32, schema: u32) -> HostilePeer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let (st, se) = (stop.clone(), sent.clone());
        let thread = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !st.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let (st, se) = (st.clone(), se.clone());
                        conns.push(std::thread::spawn(move || {
                            play(s, how, keepalive_ms, schema, &st, &se)
                        }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        HostilePeer {
            addr,
            sent,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for HostilePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn play(
    mut s: TcpStream,
    how: Misbehaviour,
    keepalive_ms: u32,
    schema: u32,
    stop: &AtomicBool,
    sent: &AtomicU64,
) {
    let _ = s.set_write_timeout(Some(Duration::from_millis(50)));
    let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
    let hello = raw::frame(&raw::hello(false, 1, 1, 4096, 32, 32, keepalive_ms, schema));
    if s.write_all(&hello).is_err() {
        return;
    }
    // Take the peer's Hello (and whatever else comes first), so the session is up.
    let mut buf = [0u8; 4096];
    let _ = s.read(&mut buf);
    let chunk: Vec<u8> = match how {
        Misbehaviour::FloodPings => (0..2048).flat_map(|_| raw::frame(&[0x06])).collect(),
        Misbehaviour::FloodNoDelimiter => vec![0x5a; 16 * 1024],
        Misbehaviour::Silent => Vec::new(),
    };
    while !stop.load(Ordering::SeqCst) {
        if chunk.is_empty() {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        match s.write(&chunk) {
            Ok(n) => {
                sent.fetch_add(n as u64, Ordering::SeqCst);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return,
        }
    }
}
