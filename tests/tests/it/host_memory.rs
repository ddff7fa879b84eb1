//! The host runtime's memory per connection stays within the bound its docs state
//! (adapters/src/host/mod.rs, "Memory": the endpoint, a 16 KiB read and a 16 KiB write
//! buffer, a few hundred bytes of bookkeeping, one thread) under every flood a peer can
//! send: Pings, bytes without a delimiter, oversized frames, manifest requests, and
//! requests at line rate. (Requests past the in-flight limit cannot be kept in flight on
//! this runtime: a request that waits for a thread stops the connection's reading, so the
//! flood meets backpressure first; the core's `Busy` past the limit is tested in
//! `hostile.rs`.)
//!
//! The server is a separate process (`calc-server tcp`, the blocking runtime at its default
//! capacity), so its resident memory (`/proc/PID/status`) is the runtime's alone. Sixteen
//! connections each take every flood in turn, a megabyte or more of it, concurrently; after
//! each flood every connection sends a Ping and waits for its Pong, which proves the server
//! read the whole flood first (the link is ordered). The peak resident size (`VmHWM`)
//! minus the size before the connections, divided by their number, must stay below the
//! stated bound plus a margin for what the docs leave unnumbered (the pages of the
//! connection thread's stack that it touches, the allocator's own bookkeeping); a small
//! fixed allowance covers the server's shared threads (timer, four lent threads).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use wirecall::WireError;
use wirecall_tests::raw;

/// Connections flooded at once.
const CONNECTIONS: usize = 16;
/// Bytes of each flood per connection (at least).
const FLOOD_BYTES: usize = 1 << 20;
/// The stated bound per connection: the endpoint at the default capacity, both buffers,
/// and "a few hundred bytes" of bookkeeping taken as 1 KiB.
const STATED_BYTES: u64 = 19_616 + 2 * 16 * 1024 + 1024;
/// What the docs leave unnumbered per connection: the touched pages of its thread's stack
/// and the allocator's overhead (measured: see docs/RELIABILITY.md).
const MARGIN_BYTES: u64 = 64 * 1024;
/// The server's shared threads and allocator arenas, once for the whole server.
const FIXED_BYTES: u64 = 2 * 1024 * 1024;

/// `calc-server tcp`, stopped (stdin closed, then killed by its pid) when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_calc-server"))
            .arg("tcp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("calc-server said {line:?}"))
            .trim()
            .to_string();
        Server { child, addr }
    }

    /// A field of `/proc/PID/status` in KiB.
    fn kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with(field)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the reader of a connection saw.
#[derive(Debug, PartialEq)]
enum Seen {
    Hello,
    Pong,
    Close(u8),
    Gone,
}

/// One flooding connection: the socket to write, and what its reader thread reports.
struct Conn {
    addr: String,
    s: TcpStream,
    seen: mpsc::Receiver<Seen>,
    resets: u32,
    /// Times the server ended this connection (a ping flood past the stray budget).
    dropped: u32,
    next_id: u32,
}

/// An initial Hello with the call-timeout and streams features (window 8).
fn hello() -> Vec<u8> {
    let mut b = vec![0x01, 1, 1, 3];
    for v in [4096, 32, 32, 1000] {
        b.extend(raw::varint(v));
    }
    b.extend(0u32.to_le_bytes());
    b.extend(raw::varint(5000));
    b.extend(raw::varint(8));
    raw::frame(&b)
}

impl Conn {
    fn open(addr: &str) -> Conn {
        let s = TcpStream::connect(addr).unwrap();
        let mut r = s.try_clone().unwrap();
        let (tx, seen) = mpsc::channel();
        // Reads everything the server says (so its writer never stalls) and reports the
        // frames the flooder waits for.
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut pending = Vec::new();
            loop {
                let n = match r.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(Seen::Gone);
                        return;
                    }
                    Ok(n) => n,
                };
                pending.extend_from_slice(&buf[..n]);
                let Some(last) = pending.iter().rposition(|&b| b == 0) else {
                    continue;
                };
                let rest = pending.split_off(last + 1);
                for body in raw::unframe(&std::mem::replace(&mut pending, rest))
                    .into_iter()
                    .flatten()
                {
                    let seen = match body[0] {
                        0x21 | 0x01 => Seen::Hello,
                        0x26 => Seen::Pong,
                        0x07 => Seen::Close(body.get(1).copied().unwrap_or(0)),
                        _ => continue,
                    };
                    let _ = tx.send(seen);
                }
            }
        });
        let mut c = Conn {
            addr: addr.to_string(),
            s,
            seen,
            resets: 0,
            dropped: 0,
            next_id: 0,
        };
        c.handshake();
        c
    }

    fn wait(&self) -> Seen {
        self.seen
            .recv_timeout(Duration::from_secs(120))
            .expect("the server neither answered nor closed")
    }

    fn handshake(&mut self) {
        self.s.write_all(&hello()).unwrap();
        loop {
            match self.wait() {
                Seen::Hello => return,
                Seen::Gone => panic!("the server closed the connection at the handshake"),
                _ => {}
            }
        }
    }

    /// Sends a Ping and waits for its Pong: everything sent before has been read. A reset
    /// of the session (a budget) is followed by a fresh handshake, and counted.
    fn sync(&mut self) {
        self.s.write_all(&raw::frame(&[0x06])).unwrap();
        loop {
            match self.wait() {
                Seen::Pong => return,
                Seen::Close(code) => {
                    assert_eq!(code, WireError::ProtocolViolation as u8);
                    self.resets += 1;
                    self.handshake();
                    self.s.write_all(&raw::frame(&[0x06])).unwrap();
                }
                Seen::Gone => panic!("the server dropped a connection at its sync"),
                Seen::Hello => {}
            }
        }
    }

    /// Pings while a pong is unsent are stray frames: past the budget (64 a second) the
    /// server resets the session with `Close(ProtocolViolation)` and, being a server of
    /// connections, ends this one. Four rounds: a chunk of 1024 pings, the server's end of
    /// the connection awaited, a new connection.
    fn ping_flood(&mut self) {
        let chunk: Vec<u8> = (0..1024).flat_map(|_| raw::frame(&[0x06])).collect();
        for _ in 0..4 {
            let _ = self.s.write_all(&chunk); // the server may end it mid-write
            loop {
                match self.wait() {
                    Seen::Close(code) => assert_eq!(code, WireError::ProtocolViolation as u8),
                    Seen::Gone => break,
                    Seen::Hello | Seen::Pong => {}
                }
            }
            let (resets, dropped) = (self.resets, self.dropped + 1);
            *self = Conn::open(&self.addr);
            (self.resets, self.dropped) = (resets, dropped);
        }
        self.sync();
    }

    fn id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    /// Writes one flood of `kind`, at least `FLOOD_BYTES`, then syncs.
    fn flood(&mut self, kind: Flood) {
        if let Flood::Pings = kind {
            return self.ping_flood();
        }
        let mut written = 0;
        while written < FLOOD_BYTES {
            let chunk: Vec<u8> = match kind {
                Flood::Pings => (0..1024).flat_map(|_| raw::frame(&[0x06])).collect(),
                Flood::NoDelimiter => vec![0x5a; 64 * 1024],
                Flood::Oversized => raw::frame(&raw::request(self.id(), 1, &[0x41; 8192])),
                Flood::Manifest => (0..1024).flat_map(|_| raw::frame(&[0x0e, 0])).collect(),
                Flood::Requests => (0..256)
                    .flat_map(|_| raw::frame(&raw::request(self.id(), 0, &[2, 4])))
                    .collect(),
            };
            self.s.write_all(&chunk).unwrap();
            written += chunk.len();
            // A budget the server keeps may reset the session: start a new one, go on.
            while let Ok(seen) = self.seen.try_recv() {
                match seen {
                    Seen::Close(code) => {
                        assert_eq!(code, WireError::ProtocolViolation as u8);
                        self.resets += 1;
                        self.handshake();
                    }
                    Seen::Gone => panic!("the server dropped a connection flooded with {kind:?}"),
                    Seen::Hello | Seen::Pong => {}
                }
            }
        }
        self.sync();
    }
}

// Not here: stream items without credit. A client stream waiting for items holds a
// thread; once a connection's own thread and the lent threads all wait so, the next
// request is deferred and nobody reads the connection, so the server's idle limit drops
// it although the peer keeps sending (reported on issue 11). Items past the credit are
// tested against the core in `streams.rs` and `hostile.rs`.
#[derive(Clone, Copy, Debug)]
enum Flood {
    Pings,
    NoDelimiter,
    Oversized,
    Manifest,
    Requests,
}

#[test]
fn a_connections_memory_stays_within_its_stated_bound_under_every_flood() {
    let server = Server::start();
    let before = server.kib("VmRSS:");
    let mut conns: Vec<Conn> = (0..CONNECTIONS).map(|_| Conn::open(&server.addr)).collect();
    let idle = server.kib("VmRSS:");
    let per_conn = |kib: u64| kib.saturating_sub(before) * 1024 / CONNECTIONS as u64;
    let limit = STATED_BYTES + MARGIN_BYTES + FIXED_BYTES / CONNECTIONS as u64;
    eprintln!(
        "server before: {before} KiB; {CONNECTIONS} idle connections: {idle} KiB ({} B each); limit {limit} B each",
        per_conn(idle)
    );
    let mut report = Vec::new();
    for kind in [
        Flood::Pings,
        Flood::NoDelimiter,
        Flood::Oversized,
        Flood::Manifest,
        Flood::Requests,
    ] {
        conns = std::thread::scope(|scope| {
            let handles: Vec<_> = conns
                .into_iter()
                .map(|mut c| {
                    scope.spawn(move || {
                        c.flood(kind);
                        c
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let (now, peak) = (server.kib("VmRSS:"), server.kib("VmHWM:"));
        let resets: u32 = conns.iter().map(|c| c.resets).sum();
        if let Flood::Pings = kind {
            let dropped: u32 = conns.iter().map(|c| c.dropped).sum();
            assert!(
                dropped >= CONNECTIONS as u32,
                "every flooded connection was ended"
            );
        }
        eprintln!(
            "after {kind:?}: {now} KiB now, {peak} KiB peak: {} B per connection at the peak ({resets} session resets so far)",
            per_conn(peak)
        );
        report.push((kind, per_conn(peak)));
        assert!(
            per_conn(peak) <= limit,
            "after {kind:?} the server peaked at {peak} KiB from {before} KiB: {} B per connection, over {limit} B",
            per_conn(peak)
        );
    }
    drop(conns);
    eprintln!("{report:?}");
}
