//! The client handle: `Clone + Send`, used from any number of threads at once. Each call
//! is written by its own thread and, while no other thread reads the link, that thread
//! reads its own reply (see `conn.rs`). One I/O thread per client connects and reconnects
//! with backoff, and reads while no caller does; one timer thread runs deadlines.

use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wirecall::{Config, Disconnect, Procedure, Stats, WireError};

use super::conn::{Conn, Started};
use super::engine::Capacity;
use super::link::Link;
use super::runtime::{Runtime, RuntimeOwner};
use super::session::{CallOutcome, ClientError, Handler, Session};

/// How a [`Client`] runs.
pub struct ClientOptions {
    /// Settings of the endpoint (deadline default, keepalive, expected schema, ...).
    pub config: Config,
    /// Largest frame and calls in flight; the default is 4 KiB frames and 32 calls.
    pub capacity: Capacity,
    /// Reconnect when the link drops (default). Without it the client ends with its link.
    pub reconnect: bool,
    /// First wait before reconnecting; it doubles on each failure up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest wait between reconnection attempts.
    pub backoff_max: Duration,
    /// Serves calls the peer makes to this side, if any.
    pub handler: Option<Box<dyn Handler>>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            config: Config::default(),
            capacity: Capacity::default(),
            reconnect: true,
            backoff_min: Duration::from_millis(20),
            backoff_max: Duration::from_secs(2),
            handler: None,
        }
    }
}

/// Calls procedures on the peer of one link. Cheap to clone; every clone shares the link.
/// The link (and a child process behind it) is released when the last clone is dropped.
///
/// ```
/// use std::net::TcpListener;
/// use wirecall::WireError;
/// use wirecall_adapters::host::{serve_tcp, Client, ClientOptions, Link};
///
/// // A server whose procedure 0 adds two bytes.
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let add = |procedure: u32, args: &[u8]| match (procedure, args) {
///     (0, [a, b]) => Ok(vec![a + b]),
///     _ => Err((WireError::UnknownProcedure, String::new())),
/// };
/// let server = serve_tcp(listener, move || Box::new(add), wirecall::Config::default())?;
///
/// let client = Client::connect(move || Link::tcp(addr), ClientOptions::default())?;
/// assert_eq!(client.call(0, &[40, 2], None), Ok(vec![42]));
/// drop(client);
/// server.stop();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    conn: Arc<Conn>,
    default_timeout: Duration,
    _owner: Arc<Owner>,
}

/// Closes the connection and waits for the client's threads when the last clone goes.
struct Owner {
    conn: Arc<Conn>,
    io: Option<JoinHandle<()>>,
    _runtime: RuntimeOwner,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.conn.close(WireError::Closed);
        if let Some(t) = self.io.take() {
            let _ = t.join();
        }
    }
}

impl Client {
    /// A client over links made by `connect`, called again (with backoff) whenever the link
    /// drops, until the client is dropped. Calls made while disconnected wait for the next
    /// handshake, up to their deadline. Fails if the capacity is out of range or the
    /// client's threads cannot be started.
    pub fn connect(
        connect: impl FnMut() -> io::Result<Link> + Send + 'static,
        options: ClientOptions,
    ) -> io::Result<Client> {
        options.capacity.validate().map_err(io::Error::other)?;
        let runtime = Runtime::start("wirecall-client", 16)?;
        let session = Session::new(super::now(), options.config, options.capacity);
        let handler = options.handler.map(Arc::<dyn Handler>::from);
        let conn = Conn::new(session, handler, runtime.runtime.clone(), true);
        runtime.runtime.register(&conn);
        let io_conn = conn.clone();
        let reconnect = (options.reconnect, options.backoff_min, options.backoff_max);
        let io = std::thread::Builder::new()
            .name("wirecall-io".into())
            .spawn(move || drive(&io_conn, connect, reconnect))?;
        Ok(Client {
            conn: conn.clone(),
            default_timeout: super::from_core(options.config.call_timeout),
            _owner: Arc::new(Owner {
                conn,
                io: Some(io),
                _runtime: runtime,
            }),
        })
    }

    /// A client over one link, without reconnection.
    pub fn over(link: Link, mut options: ClientOptions) -> io::Result<Client> {
        options.reconnect = false;
        let mut link = Some(link);
        Client::connect(
            move || {
                link.take()
                    .ok_or_else(|| io::Error::other("the link is gone"))
            },
            options,
        )
    }

    /// Calls `procedure` with encoded `args` and waits for the outcome. `timeout` defaults
    /// to the configured call timeout; it includes any wait for a connection or a free
    /// slot.
    pub fn call(&self, procedure: u32, args: &[u8], timeout: Option<Duration>) -> CallOutcome {
        self.conn
            .call(procedure, args, timeout.unwrap_or(self.default_timeout))
    }

    /// [`call`](Self::call), sent only in a session whose peer serves `schema`.
    pub(crate) fn call_checked(
        &self,
        schema: Option<u32>,
        procedure: u32,
        args: &[u8],
        timeout: Option<Duration>,
    ) -> CallOutcome {
        let timeout = timeout.unwrap_or(self.default_timeout);
        let started = self.conn.start(schema, procedure, args, timeout, true)?;
        self.conn.finish(&started)
    }

    /// Starts a call and returns without waiting for its outcome (only for a session, a
    /// free slot or room to send, within the call's deadline): one thread can keep many
    /// calls in flight. Collect the outcome with [`PendingCall::wait`]; dropping the
    /// `PendingCall` instead cancels the call (the peer is told).
    ///
    /// ```no_run
    /// # use wirecall_adapters::host::{Client, ClientOptions, Link};
    /// # let client = Client::connect(|| Link::tcp("127.0.0.1:7000"), ClientOptions::default())?;
    /// // Eight calls in flight from one thread, their replies collected in order.
    /// let pending: Vec<_> = (0..8u8)
    ///     .map(|i| client.start(0, &[i, 1], None))
    ///     .collect::<Result<_, _>>()?;
    /// for p in pending {
    ///     println!("{:?}", p.wait());
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start(
        &self,
        procedure: u32,
        args: &[u8],
        timeout: Option<Duration>,
    ) -> Result<PendingCall, ClientError> {
        self.start_call(procedure, args, timeout, true)
    }

    /// A batch: calls started through it are held back and go out together, in one write,
    /// when it is sent or dropped. They go earlier only together with a write that happens
    /// anyway: another thread's call, what the reader writes after taking in bytes (answers,
    /// Pongs), a timer's (a keepalive Ping, a deadline's Cancel), a thread that waits for a
    /// reply or for a free slot, a full transmit queue. A read that brings nothing writes
    /// nothing. One write for many requests is what lets one thread keep many calls in
    /// flight at a fraction of a system call each. (Forgetting a batch with
    /// `std::mem::forget` leaves idle ticks holding requests back until some write.)
    ///
    /// ```no_run
    /// # use wirecall_adapters::host::{Client, ClientOptions, Link};
    /// # let client = Client::connect(|| Link::tcp("127.0.0.1:7000"), ClientOptions::default())?;
    /// let mut batch = client.batch();
    /// let pending: Vec<_> = (0..8u8)
    ///     .map(|i| batch.start(0, &[i, 1], None))
    ///     .collect::<Result<_, _>>()?;
    /// batch.send(); // eight requests, one write
    /// for p in pending {
    ///     println!("{:?}", p.wait());
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn batch(&self) -> Batch<'_> {
        self.conn.open_batch();
        Batch {
            client: self,
            latest: None,
        }
    }

    fn start_call(
        &self,
        procedure: u32,
        args: &[u8],
        timeout: Option<Duration>,
        send: bool,
    ) -> Result<PendingCall, ClientError> {
        let timeout = timeout.unwrap_or(self.default_timeout);
        let started = self.conn.start(None, procedure, args, timeout, send)?;
        Ok(PendingCall {
            conn: self.conn.clone(),
            started: Some(started),
            _owner: self._owner.clone(),
        })
    }

    /// Calls procedure `P` with typed arguments and decodes its typed result.
    pub fn call_typed<P: Procedure>(
        &self,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
    ) -> Result<P::Output, ClientError> {
        let bytes = postcard::to_allocvec(args).map_err(|_| ClientError::TooLarge)?;
        let out = self.call(P::ID, &bytes, timeout)?;
        P::output(&out).map_err(|_| ClientError::Decode)
    }

    /// The link's runner, for the stream types.
    pub(crate) fn conn(&self) -> &Arc<Conn> {
        &self.conn
    }

    /// What the handshake of the current session learned about the peer (its limits and
    /// schema hash, whether it serves a manifest), while a session is up.
    pub fn peer(&self) -> Option<wirecall::PeerInfo> {
        self.conn.peer()
    }

    /// Fetches the peer's manifest (its self-description: procedures, their names and
    /// types; `wirecall-schema` reads it), waiting for a session first, all within
    /// `timeout` (default: the call timeout). The bytes are checked against the schema
    /// hash of the handshake ([`peer`](Self::peer)`.schema`), so a copy cached under that
    /// hash is current exactly when the hashes match.
    ///
    /// `NoManifest` if the peer serves none, `BadManifest` if its pieces do not add up,
    /// `Timeout` if it takes longer than `timeout`.
    pub fn manifest(&self, timeout: Option<Duration>) -> Result<Vec<u8>, ClientError> {
        let timeout = timeout.unwrap_or(self.default_timeout);
        let deadline = Instant::now() + super::capped(timeout);
        if !self.wait_connected(timeout) {
            return Err(self.conn.why_no_session());
        }
        self.conn.fetch_manifest(deadline)
    }

    /// The endpoint's statistics, and whether a session is established now.
    pub fn stats(&self) -> Option<(Stats, bool)> {
        Some(self.conn.stats())
    }

    /// Waits until a session is established, for at most `timeout`. Returns false at once
    /// when none can come any more: a client without reconnection whose link ended (see
    /// [`handshake_failure`](Self::handshake_failure) for why), or a closed one.
    pub fn wait_connected(&self, timeout: Duration) -> bool {
        let end = Instant::now() + super::capped(timeout);
        while Instant::now() < end {
            if self.conn.stats().1 {
                return true;
            }
            if self.conn.is_over() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }

    /// Why the last link ended before a handshake completed on it, when the handshake
    /// said so: `Disconnect::Incompatible(WireError::IncompatibleVersion)` (no protocol
    /// version both sides speak), `Incompatible(IncompatibleSchema)` (the peer serves
    /// another schema than [`Config::expect_schema`](wirecall::Config::expect_schema)),
    /// `PeerClosed(Busy)` (a server at its connection limit), and so on, whichever side
    /// found the problem. `None` if no link ended so, or the last one had a session, or
    /// it ended without a word (it closed, or stayed silent: see [`stats`](Self::stats)
    /// for what arrived).
    pub fn handshake_failure(&self) -> Option<Disconnect> {
        self.conn.handshake_failure()
    }
}

/// A call started with [`Client::start`], its outcome still to be collected.
#[must_use = "dropping a PendingCall cancels the call"]
pub struct PendingCall {
    conn: Arc<Conn>,
    started: Option<Started>,
    _owner: Arc<Owner>,
}

impl PendingCall {
    /// Waits for the outcome (reading the link for every caller while nobody else does).
    pub fn wait(mut self) -> CallOutcome {
        match self.started.take() {
            Some(started) => self.conn.finish(&started),
            None => Err(ClientError::ConnectionLost),
        }
    }

    /// True once the outcome is in: [`wait`](Self::wait) returns it without blocking.
    /// While no thread waits for a reply, the client's I/O thread reads them (from a few
    /// tens of milliseconds after the last call started), so polling this alone gets there.
    pub fn is_ready(&self) -> bool {
        self.started.as_ref().is_none_or(Started::is_answered)
    }
}

/// Calls started together and sent in one write: see [`Client::batch`].
#[must_use = "a batch sends its calls when it is sent or dropped"]
pub struct Batch<'a> {
    client: &'a Client,
    /// The latest deadline of the calls started, which bounds the final write.
    latest: Option<Instant>,
}

impl Batch<'_> {
    /// Starts a call whose request goes out with the batch's (as [`Client::start`]
    /// otherwise: it waits only for a session, a slot or room to send).
    pub fn start(
        &mut self,
        procedure: u32,
        args: &[u8],
        timeout: Option<Duration>,
    ) -> Result<PendingCall, ClientError> {
        let pending = self.client.start_call(procedure, args, timeout, false)?;
        if let Some(s) = &pending.started {
            self.latest = self.latest.max(Some(s.deadline()));
        }
        Ok(pending)
    }

    /// Writes the requests started (what the drop does; this says so at the call site).
    pub fn send(self) {}
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        self.client.conn.close_batch(self.latest);
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        if let Some(started) = self.started.take() {
            self.conn.abandon(&started);
        }
    }
}

/// The I/O thread: connect, read while no caller does until the link drops, back off,
/// reconnect.
fn drive(
    conn: &Arc<Conn>,
    mut connect: impl FnMut() -> io::Result<Link>,
    (reconnect, backoff_min, backoff_max): (bool, Duration, Duration),
) {
    let mut backoff = backoff_min;
    loop {
        if conn.is_closed() {
            return;
        }
        match connect() {
            Ok(link) => {
                conn.attach(link, true);
                while conn.link_up() && !conn.is_closed() {
                    conn.idle_read(Instant::now() + Duration::from_millis(250));
                }
                let connected = conn.has_connected();
                let why = conn.take_disconnect();
                conn.note_handshake_failure(why.filter(|_| !connected));
                let refused = match why {
                    Some(Disconnect::PeerClosed(code)) if !connected => Some(code),
                    _ => None,
                };
                conn.detach(true);
                if connected {
                    backoff = backoff_min;
                }
                if !reconnect {
                    let why = refused.map_or(ClientError::ConnectionLost, ClientError::Refused);
                    conn.set_terminal(why);
                    return;
                }
                conn.note_refusal(refused);
            }
            Err(_) if !reconnect => {
                conn.set_terminal(ClientError::ConnectionLost);
                return;
            }
            Err(_) => {}
        }
        // Disconnected: calls wait (up to their deadlines) for the next attempt.
        conn.wait_closed(Instant::now() + backoff);
        backoff = (backoff * 2).min(backoff_max);
    }
}
