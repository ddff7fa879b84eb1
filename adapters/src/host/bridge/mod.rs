//! The call-level bridge: calls, streams and cancellations forwarded between links (issue 16).
//!
//! A [`Bridge`] holds one *back* link (a device: serial, TCP, Unix, a child process; a guest)
//! and serves its calls to any number of *front* links (clients that connect to it), plus,
//! optionally, an *upstream* link that serves the back's own calls. It speaks the protocol
//! on every link (it is not a byte copier): a front's call becomes a call on the back with
//! a shrunk deadline, a back at its in-flight limit makes excess calls `Busy` at once, a
//! cancel or a lost link on either side reaches the other, and stream items pass with their
//! credit coupled. The rules are those of the sans-I/O forwarder (`forward.rs`); this
//! module adds the threads.
//!
//! # Threads and hand-offs
//!
//! One reader thread per link, one writer thread per front, one timer thread, and one
//! accept thread per listener. A front's call: its reader decodes it, opens the call on the
//! back and writes it to the back itself (no hand-off); the back's reader decodes the
//! reply and wakes the front's writer, which writes it (one hand-off). A call through the
//! bridge thus costs the bridge's two socket reads and one thread wake-up on top of a
//! direct call.
//!
//! # Memory
//!
//! Per front: its endpoint ([`Capacity::endpoint_bytes`], 20,496 bytes at the default
//! capacity), a 16 KiB read buffer, a 16 KiB write buffer, two threads. Per forwarded call:
//! at most 256 bytes of bookkeeping (tested), its answer while it waits for room (at most a frame), and
//! for a stream at most its receive windows of items waiting for the other side's credit
//! (the back's window one way, the front's the other: 2 x 8 items of at most a frame each at
//! the defaults), since an item is taken from one side only once it was sent on the other.
//! The back and the upstream cost the same as a front. Nothing else grows: when the back's
//! (or the upstream's) transmit queue is full, the links whose input would add to it are
//! not read; when a front's is full, its own link is not read, and what the back sends it
//! waits in its pairs as counted above (the back is read on: one front that stops
//! reading must not stall the device for the others; it is dropped after its writer's
//! stall limit).

mod forward;
mod io;
mod pairs;
#[cfg(test)]
mod tests;

use std::io::{self as stdio, Write};
use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant as StdInstant};

use wirecall::Config;

use self::forward::Forwarder;
use self::io::{lock, Out, Shared};
use self::pairs::Side;
use super::engine::Capacity;
use super::link::Link;
use super::server::{refusal_bytes, refuse, Listener};

/// How long a link must have lived for the wait before reopening it to start short again.
const LIVED: Duration = Duration::from_secs(1);

/// How a [`Bridge`] runs.
///
/// ```
/// use wirecall_adapters::host::BridgeOptions;
/// let options = BridgeOptions { max_connections: 8, ..BridgeOptions::default() };
/// assert_eq!(options.max_connections, 8);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct BridgeOptions {
    /// Fronts served at once (default 64); one over the limit is refused with `Close(Busy)`.
    pub max_connections: usize,
    /// Frame size and calls each way of every endpoint of the bridge (default 4 KiB, 32).
    pub capacity: Capacity,
    /// Settings of the endpoints (keepalive, call timeout, budgets).
    pub config: Config,
    /// How long [`Bridge::start`] waits for the back (and upstream) to connect and send
    /// their manifests before it serves without them (default 5 s).
    pub start_timeout: Duration,
}

impl Default for BridgeOptions {
    fn default() -> Self {
        BridgeOptions {
            max_connections: 64,
            capacity: Capacity::default(),
            config: Config::default(),
            start_timeout: Duration::from_secs(5),
        }
    }
}

/// Counters of a running bridge.
///
/// ```
/// let stats = wirecall_adapters::host::BridgeStats::default();
/// assert_eq!(stats.forwarded, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BridgeStats {
    /// Calls forwarded (both ways, callbacks included).
    pub forwarded: u64,
    /// Calls answered `Busy` because the other side had no free slot.
    pub busy: u64,
    /// Calls answered with an error because nothing could serve them (link down, no
    /// upstream, an unattributable callback).
    pub unavailable: u64,
    /// Forwarded calls cancelled because their caller cancelled, timed out or went away.
    pub cancels: u64,
    /// Callbacks of the back forwarded to a front.
    pub callbacks: u64,
    /// Fronts connected now.
    pub fronts: usize,
    /// Forwarded calls in flight now.
    pub in_flight: usize,
    /// Stream items held by the bridge now, waiting for the other side's credit.
    pub buffered_items: usize,
    /// The back's link is up and its handshake done.
    pub back_connected: bool,
}

/// Something that opens a link, again after it drops.
type Opener = Box<dyn FnMut() -> stdio::Result<Link> + Send>;

/// A running bridge; see the module docs. [`stop`](Bridge::stop) (or dropping it) ends
/// every link and joins every thread.
///
/// ```
/// use wirecall::WireError;
/// use wirecall_adapters::host::{serve_tcp, Bridge, BridgeOptions, Client, ClientOptions, Link};
///
/// // A service standing in for a device, and a bridge in front of it.
/// let device = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let at = device.local_addr()?;
/// let echo = |_: u32, args: &[u8]| Ok::<_, (WireError, String)>(args.to_vec());
/// let server = serve_tcp(device, move || Box::new(echo), wirecall::Config::default())?;
/// let bridge = Bridge::start(move || Link::tcp(at), None, BridgeOptions::default())?;
///
/// // Clients reach the device through the bridge's listener.
/// let front = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let addr = front.local_addr()?;
/// bridge.serve_tcp(front)?;
/// let client = Client::connect(move || Link::tcp(addr), ClientOptions::default())?;
/// assert_eq!(client.call(3, b"hi", None), Ok(b"hi".to_vec()));
/// assert_eq!(bridge.stats().forwarded, 1);
/// drop(client);
/// bridge.stop();
/// server.stop();
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Bridge {
    shared: Arc<Shared>,
    options: BridgeOptions,
    /// The Config of every front's endpoint: the back's manifest and schema.
    front_config: Config,
    threads: Mutex<Vec<JoinHandle<()>>>,
    listeners: Mutex<Vec<OwnedFd>>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Bridge {
    /// Starts a bridge to the back link that `back` opens (again, with backoff, whenever
    /// it drops), and optionally an upstream that serves the back's own calls. Waits up to
    /// [`BridgeOptions::start_timeout`] for their handshakes and manifests: fronts then see
    /// the back's manifest and schema as the bridge's own, and the back sees the upstream's.
    /// Fails only when the options are invalid or a thread cannot start; a back that is
    /// not there yet is retried, and calls meanwhile fail with `NoSession`.
    ///
    /// ```
    /// use wirecall_adapters::host::{Bridge, BridgeOptions, Link};
    /// // Nothing listens there: the bridge starts anyway and keeps trying.
    /// let options = BridgeOptions { start_timeout: std::time::Duration::from_millis(50), ..Default::default() };
    /// let bridge = Bridge::start(|| Link::unix("/nonexistent/socket"), None, options)?;
    /// assert!(!bridge.stats().back_connected);
    /// bridge.stop();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start(
        back: impl FnMut() -> stdio::Result<Link> + Send + 'static,
        upstream: Option<Box<dyn FnMut() -> stdio::Result<Link> + Send>>,
        options: BridgeOptions,
    ) -> stdio::Result<Bridge> {
        options.capacity.validate().map_err(stdio::Error::other)?;
        let has_upstream = upstream.is_some();
        let shared = Shared::new(Forwarder::new(options.max_connections, has_upstream));
        let mut bridge = Bridge {
            shared: shared.clone(),
            options,
            front_config: options.config,
            threads: Mutex::new(Vec::new()),
            listeners: Mutex::new(Vec::new()),
        };
        let s = shared.clone();
        bridge.spawn("wirecall-bridge-timer", move || s.timer_loop())?;
        let deadline = StdInstant::now() + options.start_timeout;
        let mut back_config = options.config;
        if let Some(up) = upstream {
            bridge.spawn_side(Side::Upstream, up, options.config)?;
            let manifest = bridge.wait_manifest(Side::Upstream, deadline);
            back_config = with_peer(back_config, manifest);
        }
        bridge.spawn_side(Side::Back, Box::new(back), back_config)?;
        let manifest = bridge.wait_manifest(Side::Back, deadline);
        bridge.front_config = with_peer(options.config, manifest);
        Ok(bridge)
    }

    /// Serves one front link (a client connected some other way than a listener of the
    /// bridge's). Refused with `Close(Busy)` when [`BridgeOptions::max_connections`] fronts
    /// are connected.
    ///
    /// ```
    /// # use wirecall::WireError;
    /// # use wirecall_adapters::host::{serve_tcp, Bridge, BridgeOptions, Client, ClientOptions, Link};
    /// # let device = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let at = device.local_addr()?;
    /// # let echo = |_: u32, args: &[u8]| Ok::<_, (WireError, String)>(args.to_vec());
    /// # let server = serve_tcp(device, move || Box::new(echo), wirecall::Config::default())?;
    /// let bridge = Bridge::start(move || Link::tcp(at), None, BridgeOptions::default())?;
    /// let (a, b) = std::os::unix::net::UnixStream::pair()?;
    /// bridge.attach(Link::from_unix(b)?)?;
    /// let client = Client::over(Link::from_unix(a)?, ClientOptions::default())?;
    /// assert_eq!(client.call(1, b"x", None), Ok(b"x".to_vec()));
    /// # drop(client);
    /// bridge.stop();
    /// # server.stop();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn attach(&self, front: Link) -> stdio::Result<()> {
        let (config, capacity) = (self.front_config, self.options.capacity);
        for t in attach_front(&self.shared, config, capacity, front)? {
            let mut threads = lock(&self.threads);
            threads.retain(|t| !t.is_finished());
            threads.push(t);
        }
        Ok(())
    }

    /// Accepts fronts on a TCP listener (until [`stop`](Bridge::stop)).
    pub fn serve_tcp(&self, listener: TcpListener) -> stdio::Result<()> {
        self.serve(listener)
    }

    /// Accepts fronts on a Unix-socket listener (until [`stop`](Bridge::stop)).
    pub fn serve_unix(&self, listener: UnixListener) -> stdio::Result<()> {
        self.serve(listener)
    }

    /// What the bridge did so far.
    pub fn stats(&self) -> BridgeStats {
        let f = lock(&self.shared.fwd);
        let c = f.counters;
        BridgeStats {
            forwarded: c.forwarded,
            busy: c.busy,
            unavailable: c.unavailable,
            cancels: c.cancels,
            callbacks: c.callbacks,
            fronts: f.fronts(),
            in_flight: f.in_flight(),
            buffered_items: f.buffered_items(),
            back_connected: f.is_back_connected(),
        }
    }

    /// The back endpoint's counters (what the device's link did), while it is connected.
    pub fn back_stats(&self) -> Option<wirecall::Stats> {
        lock(&self.shared.fwd).stats(Side::Back)
    }

    /// Stops accepting, ends every link and joins every thread.
    pub fn stop(self) {
        drop(self);
    }

    fn serve<L: Listener>(&self, listener: L) -> stdio::Result<()> {
        let waker = listener.as_fd().try_clone_to_owned()?;
        rustix::io::ioctl_fionbio(&listener, false)?;
        lock(&self.listeners).push(waker);
        let (s, max) = (self.shared.clone(), self.options.max_connections);
        let (config, capacity) = (self.front_config, self.options.capacity);
        self.spawn("wirecall-bridge-accept", move || {
            let refusal = refusal_bytes();
            let mut threads: Vec<JoinHandle<()>> = Vec::new();
            while !s.stopping() {
                let Ok(stream) = listener.accept_stream() else {
                    if !s.stopping() {
                        std::thread::sleep(Duration::from_millis(10)); // out of descriptors
                    }
                    continue;
                };
                if lock(&s.fwd).fronts() >= max {
                    refuse(stream, &refusal);
                    continue;
                }
                if let Ok(link) = L::into_link(stream) {
                    if let Ok(mine) = attach_front(&s, config, capacity, link) {
                        threads.retain(|t| !t.is_finished());
                        threads.extend(mine);
                    }
                }
            }
            for t in threads {
                let _ = t.join();
            }
        })
    }

    fn wait_manifest(&self, side: Side, until: StdInstant) -> Option<(Vec<u8>, u32)> {
        while StdInstant::now() < until && !self.shared.stopping() {
            {
                let f = lock(&self.shared.fwd);
                let read = match side {
                    Side::Upstream => &f.upstream_manifest,
                    _ => &f.back_manifest,
                };
                let schema = f.peer_schema(side);
                if read.done {
                    return Some((read.bytes.clone(), schema.unwrap_or(0)));
                }
            }
            std::thread::sleep(Duration::from_millis(2)); // startup only
        }
        None
    }

    /// The thread that opens `side`'s link, reads it, and opens it again when it drops.
    fn spawn_side(&mut self, side: Side, mut open: Opener, config: Config) -> stdio::Result<()> {
        let (s, capacity) = (self.shared.clone(), self.options.capacity);
        self.spawn("wirecall-bridge-back", move || {
            let mut backoff = Duration::from_millis(50);
            while !s.stopping() {
                let Ok(link) = open() else {
                    s.sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                };
                let opened = std::time::Instant::now();
                let (mut reader, writer, guard) = link.split();
                let out = Out::new(side, writer, guard);
                lock(&s.outs).insert(side, out.clone());
                let engine = capacity.endpoint(super::now(), config);
                s.step(Some(side), |f| f.set(side, super::now(), Some(engine)));
                s.read_loop(side, reader.as_mut(), &out);
                out.close();
                lock(&s.outs).remove(&side);
                s.step(Some(side), |f| f.set(side, super::now(), None));
                // A link that opens and drops at once (a device that resets at boot, a guest
                // that traps at start) backs off like one that does not open; only a link
                // that lived starts the next wait short again.
                backoff = if opened.elapsed() >= LIVED {
                    Duration::from_millis(50)
                } else {
                    (backoff * 2).min(Duration::from_secs(2))
                };
                s.sleep(backoff);
            }
        })
    }

    fn spawn(&self, name: &str, f: impl FnOnce() + Send + 'static) -> stdio::Result<()> {
        let t = std::thread::Builder::new().name(name.into()).spawn(f)?;
        let mut threads = lock(&self.threads);
        threads.retain(|t| !t.is_finished());
        threads.push(t);
        Ok(())
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for fd in lock(&self.listeners).drain(..) {
            let _ = rustix::net::shutdown(&fd, rustix::net::Shutdown::Read);
        }
        for out in lock(&self.shared.outs).values() {
            out.close();
        }
        for t in std::mem::take(&mut *lock(&self.threads)) {
            let _ = t.join();
        }
    }
}

/// Serves one front: its endpoint in the forwarder, a reader and a writer thread (their
/// handles returned, for the owner to join).
fn attach_front(
    shared: &Arc<Shared>,
    config: Config,
    capacity: Capacity,
    front: Link,
) -> stdio::Result<Vec<JoinHandle<()>>> {
    let engine = capacity.endpoint(super::now(), config);
    let added = shared.step(None, |f| f.add_front(engine));
    let (mut reader, mut writer, guard) = front.split();
    let Ok(slot) = added else {
        let _ = writer.write_all(&refusal_bytes());
        drop(guard);
        return Ok(Vec::new());
    };
    let side = Side::Front(slot);
    let out = Out::new(side, writer, guard);
    lock(&shared.outs).insert(side, out.clone());
    shared.dispatch(None, &[side]); // its Hello
    let (s, o) = (shared.clone(), out.clone());
    let writer = std::thread::Builder::new()
        .name("wirecall-bridge-out".into())
        .spawn(move || s.write_loop(&o));
    let s = shared.clone();
    let reader = std::thread::Builder::new()
        .name("wirecall-bridge-in".into())
        .spawn(move || {
            s.read_loop(side, reader.as_mut(), &out);
            out.close();
            let mut outs = lock(&s.outs);
            if outs.get(&side).is_some_and(|o| Arc::ptr_eq(o, &out)) {
                outs.remove(&side);
            }
            drop(outs);
            s.step(None, |f| f.remove_front(super::now(), slot));
        });
    match (writer, reader) {
        (Ok(w), Ok(r)) => Ok(vec![w, r]),
        (w, r) => {
            // A thread could not start: the front goes, and whichever did start ends.
            if let Some(o) = lock(&shared.outs).remove(&side) {
                o.close();
            }
            shared.step(None, |f| f.remove_front(super::now(), slot));
            for t in [w, r].into_iter().flatten() {
                let _ = t.join();
            }
            Err(stdio::Error::other("cannot start a thread for the front"))
        }
    }
}

/// `config` serving a peer's manifest (leaked once per start: the core takes a
/// `&'static` manifest), or its schema hash when it serves none.
fn with_peer(config: Config, manifest: Option<(Vec<u8>, u32)>) -> Config {
    match manifest {
        Some((bytes, _)) if !bytes.is_empty() => {
            config.with_manifest(Box::leak(bytes.into_boxed_slice()))
        }
        Some((_, schema)) => config.with_schema(schema),
        None => config,
    }
}
