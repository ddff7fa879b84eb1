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
use super::remote::RemoteHandle;
use super::runtime::{Runtime, RuntimeOwner};
use super::session::{CallOutcome, ClientError, Handler, Session};

/// How a [`Client`] runs. Start from the default and change what you need.
///
/// A client with a [`handler`](Self::handler) serves calls from its peer: here a server
/// reports progress while it serves the client's own call, by calling back into the client
/// (a callback, made with [`Request::call`](super::Request::call)).
///
/// ```
/// use std::net::TcpListener;
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use wirecall::WireError;
/// use wirecall_adapters::host::{serve_tcp, Client, ClientOptions, Handler, Link, Request};
///
/// /// The server's procedure 0 works in three steps, and after each one calls its
/// /// caller's procedure 9 with how far it got.
/// struct Worker;
/// impl Handler for Worker {
///     fn handle(&self, _: u32, _: &[u8]) -> Result<Vec<u8>, (WireError, String)> {
///         unreachable!("serve answers every request")
///     }
///     fn serve(&self, request: &mut Request<'_>) -> Result<Vec<u8>, (WireError, String)> {
///         for step in 1..=3u8 {
///             request.call(9, &[step], None).map_err(|e| (WireError::Internal, e.to_string()))?;
///         }
///         Ok(b"done".to_vec())
///     }
/// }
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = serve_tcp(listener, || Box::new(Worker), wirecall::Config::default())?;
///
/// // The client serves procedure 9 while its own call is in flight.
/// let steps = Arc::new(Mutex::new(Vec::new()));
/// let seen = steps.clone();
/// let on_progress = move |procedure: u32, args: &[u8]| match procedure {
///     9 => {
///         seen.lock().unwrap().extend_from_slice(args);
///         Ok(vec![])
///     }
///     _ => Err((WireError::UnknownProcedure, String::new())),
/// };
/// let options = ClientOptions {
///     handler: Some(Box::new(on_progress)),
///     backoff_max: Duration::from_millis(500), // retry a lost link at least twice a second
///     ..ClientOptions::default()
/// };
/// let client = Client::connect(move || Link::tcp(addr), options)?;
/// assert_eq!(client.call(0, &[], None)?, b"done");
/// assert_eq!(*steps.lock().unwrap(), [1, 2, 3]);
/// drop(client);
/// server.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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

    /// [`call`](Self::call), sent only in a session whose peer serves `schema` (with
    /// `Some`): a call made while the link reconnects to re-flashed firmware fails with
    /// [`ClientError::IncompatibleSchema`] instead of reaching another service's
    /// procedure of the same number. What a bridge or gateway that read the manifest once
    /// should call with that manifest's hash.
    pub fn call_checked(
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
    /// ```
    /// # use wirecall_adapters::host::{serve_tcp, Client, ClientOptions, Link};
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let addr = listener.local_addr()?;
    /// # // Procedure 0 adds two bytes.
    /// # let add = |_: u32, args: &[u8]| match args {
    /// #     [a, b] => Ok(vec![a + b]),
    /// #     _ => Err((wirecall::WireError::BadArguments, String::new())),
    /// # };
    /// # let server = serve_tcp(listener, move || Box::new(add), wirecall::Config::default())?;
    /// # let client = Client::connect(move || Link::tcp(addr), ClientOptions::default())?;
    /// // Eight calls in flight from one thread (procedure 0 adds two bytes), their
    /// // replies collected in order.
    /// let pending: Vec<_> = (0..8u8)
    ///     .map(|i| client.start(0, &[i, 1], None))
    ///     .collect::<Result<_, _>>()?;
    /// for (i, p) in (0..8u8).zip(pending) {
    ///     assert_eq!(p.wait()?, [i + 1]);
    /// }
    /// # drop(client);
    /// # server.stop();
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
    /// ```
    /// # use wirecall_adapters::host::{serve_tcp, Client, ClientOptions, Link};
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let addr = listener.local_addr()?;
    /// # // Procedure 0 adds two bytes.
    /// # let add = |_: u32, args: &[u8]| match args {
    /// #     [a, b] => Ok(vec![a + b]),
    /// #     _ => Err((wirecall::WireError::BadArguments, String::new())),
    /// # };
    /// # let server = serve_tcp(listener, move || Box::new(add), wirecall::Config::default())?;
    /// # let client = Client::connect(move || Link::tcp(addr), ClientOptions::default())?;
    /// // Procedure 0 adds two bytes.
    /// let mut batch = client.batch();
    /// let pending: Vec<_> = (0..8u8)
    ///     .map(|i| batch.start(0, &[i, 1], None))
    ///     .collect::<Result<_, _>>()?;
    /// batch.send(); // eight requests, one write
    /// for (i, p) in (0..8u8).zip(pending) {
    ///     assert_eq!(p.wait()?, [i + 1]);
    /// }
    /// # drop(client);
    /// # server.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn batch(&self) -> Batch<'_> {
        self.conn.open_batch();
        Batch {
            client: self,
            latest: None,
        }
    }

    /// [`start`](Self::start), sent only in a session whose peer serves `schema` (see
    /// [`call_checked`](Self::call_checked)).
    pub fn start_checked(
        &self,
        schema: Option<u32>,
        procedure: u32,
        args: &[u8],
        timeout: Option<Duration>,
    ) -> Result<PendingCall, ClientError> {
        self.start_call_in(schema, procedure, args, timeout, true)
    }

    fn start_call(
        &self,
        procedure: u32,
        args: &[u8],
        timeout: Option<Duration>,
        send: bool,
    ) -> Result<PendingCall, ClientError> {
        self.start_call_in(None, procedure, args, timeout, send)
    }

    fn start_call_in(
        &self,
        schema: Option<u32>,
        procedure: u32,
        args: &[u8],
        timeout: Option<Duration>,
        send: bool,
    ) -> Result<PendingCall, ClientError> {
        let timeout = timeout.unwrap_or(self.default_timeout);
        let started = self.conn.start(schema, procedure, args, timeout, send)?;
        Ok(PendingCall {
            conn: self.conn.clone(),
            started: Some(started),
            _owner: self._owner.clone(),
        })
    }

    /// Calls procedure `P` with typed arguments and decodes its typed result. Unlike the
    /// methods of a generated `Client` (`calc::Client::new(client).add(40, 2)`), it does
    /// not check the peer's schema first: it suits a peer that announces none.
    ///
    /// ```
    /// # use wirecall_adapters::host::{serve_tcp, Client, ClientOptions, Link};
    /// wirecall::service! {
    ///     pub mod calc {
    ///         0 => Add: fn add(a: i32, b: i32) -> i32;
    ///     }
    /// }
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let addr = listener.local_addr()?;
    /// # // A server without a declaration, so without a schema: it adds two i32s by hand.
    /// # let add = |_: u32, args: &[u8]| {
    /// #     let (a, b): (i32, i32) = postcard::from_bytes(args).unwrap();
    /// #     Ok(postcard::to_allocvec(&(a + b)).unwrap())
    /// # };
    /// # let server = serve_tcp(listener, move || Box::new(add), wirecall::Config::default())?;
    /// # let client = Client::connect(move || Link::tcp(addr), ClientOptions::default())?;
    /// assert_eq!(client.call_typed::<calc::Add>(&(40, 2), None)?, 42);
    /// # drop(client);
    /// # server.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn call_typed<P: Procedure>(
        &self,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
    ) -> Result<P::Output, ClientError> {
        let bytes = postcard::to_allocvec(args).map_err(|_| ClientError::TooLarge)?;
        let out = self.call(P::ID, &bytes, timeout)?;
        P::output(&out).map_err(|_| ClientError::Decode)
    }

    /// Calls `procedure`, which returns a handle (`-> handle I`), and returns the handle
    /// (see [`RemoteHandle`]). Sent only in a session whose peer serves `schema`, if
    /// given. `pipelined`: return at once, before the answer: calls on the handle leave at
    /// once too, naming "the handle this call returns", and a failure of the call shows
    /// in them.
    pub fn call_export(
        &self,
        schema: Option<u32>,
        procedure: u32,
        args: &[u8],
        timeout: Option<Duration>,
        pipelined: bool,
    ) -> Result<RemoteHandle, ClientError> {
        let timeout = timeout.unwrap_or(self.default_timeout);
        let started = self.conn.start(schema, procedure, args, timeout, true)?;
        let (generation, call) = (started.generation, started.id.id.wire());
        if pipelined {
            let pending = PendingCall {
                conn: self.conn.clone(),
                started: Some(started),
                _owner: self._owner.clone(),
            };
            return Ok(RemoteHandle::promised(self, generation, call, pending));
        }
        let bytes = self.conn.finish(&started)?;
        RemoteHandle::from_reply(self, generation, &bytes)
    }

    /// Starts method call `method` on `target`, a handle of session `generation`.
    pub(crate) fn start_on(
        &self,
        target: wirecall::Target,
        generation: u64,
        method: u32,
        args: &[u8],
        timeout: Option<Duration>,
    ) -> Result<PendingCall, ClientError> {
        let timeout = timeout.unwrap_or(self.default_timeout);
        let started = self
            .conn
            .start_on(target, generation, method, args, timeout, true)?;
        Ok(PendingCall {
            conn: self.conn.clone(),
            started: Some(started),
            _owner: self._owner.clone(),
        })
    }

    /// Registers `handle`, received now, for revocations; and where its release goes.
    pub(crate) fn hold(
        &self,
        handle: wirecall::Handle,
    ) -> (Arc<super::objects::HeldState>, super::objects::ReleaseQueue) {
        self.conn.hold(handle)
    }

    /// Where dropped handles queue their release.
    pub(crate) fn releases(&self) -> super::objects::ReleaseQueue {
        self.conn.releases()
    }

    /// Writes what is queued (releases) if the connection is free now; otherwise its
    /// next write takes them along.
    pub(crate) fn poke(&self) {
        self.conn.poke();
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
    ///
    /// ```
    /// use wirecall_adapters::host::{serve_tcp, Client, ClientOptions, Link, ServeOptions};
    ///
    /// wirecall::service! {
    ///     pub mod calc {
    ///         0 => Add: fn add(a: i32, b: i32) -> i32;
    ///     }
    /// }
    /// struct Calc;
    /// impl calc::HostHandler for Calc {
    ///     fn add(&self, a: i32, b: i32) -> Result<i32, wirecall::WireError> {
    ///         Ok(a + b)
    ///     }
    /// }
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// // The generated glue serves the service's manifest.
    /// let server = serve_tcp(listener, calc::serve(Calc), ServeOptions::default())?;
    /// let client = Client::connect(move || Link::tcp(addr), ClientOptions::default())?;
    /// assert_eq!(client.manifest(None)?, calc::MANIFEST);
    /// assert_eq!(client.peer().map(|p| p.schema), Some(calc::SCHEMA_HASH));
    /// drop(client);
    /// server.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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

/// A call started with [`Client::start`] (or [`Batch::start`]), its outcome still to be
/// collected: [`wait`](Self::wait) for it, or ask whether it is in
/// ([`is_ready`](Self::is_ready)). Dropping it cancels the call (the peer is told).
///
/// ```
/// use std::time::Duration;
/// use wirecall_adapters::host::{serve_tcp, Client, ClientOptions, Link};
///
/// // Procedure 0 answers with its arguments.
/// let echo = |_: u32, args: &[u8]| Ok::<_, (wirecall::WireError, String)>(args.to_vec());
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = serve_tcp(listener, move || Box::new(echo), wirecall::Config::default())?;
/// let client = Client::connect(move || Link::tcp(addr), ClientOptions::default())?;
///
/// // Two calls in flight; this thread is free meanwhile, and collects them in any order.
/// let first = client.start(0, b"first", None)?;
/// let second = client.start(0, b"second", Some(Duration::from_secs(1)))?;
/// assert_eq!(second.wait()?, b"second");
/// assert_eq!(first.wait()?, b"first");
///
/// // Or look now and then whether it is in (the client's I/O thread reads the reply).
/// let third = client.start(0, b"third", None)?;
/// while !third.is_ready() {
///     std::thread::sleep(Duration::from_millis(1)); // other work
/// }
/// assert_eq!(third.wait()?, b"third"); // at once
/// drop(client);
/// server.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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

    /// Cancels the call if it is still waiting (`None`); its outcome if it is in.
    pub(crate) fn cancel_or_take(mut self) -> Option<CallOutcome> {
        let started = self.started.take()?;
        if self.conn.abandon(&started) {
            return None;
        }
        // Ended already: its outcome is in, or on its way to the waiter.
        Some(self.conn.finish(&started))
    }

    /// A handle that cancels this call from another thread or task, while this one waits
    /// for it: the thread in [`wait`](Self::wait) then returns `Err(Cancelled)` at once.
    pub fn canceller(&self) -> CallCanceller {
        CallCanceller::of(&self.conn, self.started.as_ref())
    }

    /// True once the outcome is in: [`wait`](Self::wait) returns it without blocking.
    /// While no thread waits for a reply, the client's I/O thread reads them (from a few
    /// tens of milliseconds after the last call started), so polling this alone gets there.
    pub fn is_ready(&self) -> bool {
        self.started.as_ref().is_none_or(Started::is_answered)
    }
}

/// Calls started together and sent in one write: see [`Client::batch`]. Each call's
/// outcome comes through its own [`PendingCall`].
///
/// ```
/// use wirecall_adapters::host::{serve_tcp, Client, ClientOptions, Link};
///
/// // Procedure 0 answers with its arguments.
/// let echo = |_: u32, args: &[u8]| Ok::<_, (wirecall::WireError, String)>(args.to_vec());
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = serve_tcp(listener, move || Box::new(echo), wirecall::Config::default())?;
/// let client = Client::connect(move || Link::tcp(addr), ClientOptions::default())?;
///
/// // 100 calls in rounds of 10: one write per round, from one thread.
/// let mut answers = Vec::new();
/// for round in 0..10u8 {
///     let mut batch = client.batch();
///     let pending = (0..10u8)
///         .map(|i| batch.start(0, &[round, i], None))
///         .collect::<Result<Vec<_>, _>>()?;
///     batch.send(); // what dropping the batch would do: write the ten requests
///     for p in pending {
///         answers.push(p.wait()?);
///     }
/// }
/// assert_eq!(answers.len(), 100);
/// assert_eq!(answers[42], [4, 2]);
/// drop(client);
/// server.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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

/// Cancels one call (or stream) from anywhere: what a gateway holds for a request whose
/// caller may give up while a thread waits for the device's answer. Cloning it is cheap;
/// cancelling a call that has ended does nothing.
///
/// ```
/// # use wirecall_adapters::host::{serve_tcp, Client, ClientError, ClientOptions, Link};
/// # use std::time::Duration;
/// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// # let addr = listener.local_addr()?;
/// // Procedure 0 answers only once `release` is dropped (or after a minute).
/// let (release, held) = std::sync::mpsc::channel::<()>();
/// let held = std::sync::Arc::new(std::sync::Mutex::new(held));
/// let slow = move || {
///     let held = held.clone();
///     Box::new(move |_: u32, _: &[u8]| {
///         let _ = held.lock().unwrap().recv_timeout(Duration::from_secs(60));
///         Ok::<_, (wirecall::WireError, String)>(Vec::new())
///     })
/// };
/// # let server = serve_tcp(listener, slow, wirecall::Config::default())?;
/// # let client = Client::connect(move || Link::tcp(addr), ClientOptions::default())?;
/// let pending = client.start(0, &[], Some(Duration::from_secs(30)))?;
/// let cancel = pending.canceller();
/// let waiting = std::thread::spawn(move || pending.wait());
/// assert!(cancel.cancel());
/// assert_eq!(waiting.join().unwrap(), Err(ClientError::Cancelled));
/// assert!(!cancel.cancel(), "once");
/// # drop(release);
/// # drop(client);
/// # server.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct CallCanceller {
    target: Option<(
        Arc<Conn>,
        super::session::CallTicket,
        Arc<super::waiter::Waiter>,
    )>,
}

impl CallCanceller {
    pub(crate) fn of(conn: &Arc<Conn>, started: Option<&Started>) -> CallCanceller {
        CallCanceller {
            target: started.map(|s| {
                let (id, waiter) = s.cancel_parts();
                (conn.clone(), id, waiter)
            }),
        }
    }

    /// Cancels the call if it is still in flight (the peer is told, and whoever waits for
    /// it gets `Err(ClientError::Cancelled)`); false if it had ended already.
    pub fn cancel(&self) -> bool {
        self.target
            .as_ref()
            .is_some_and(|(conn, id, waiter)| conn.cancel_started(*id, waiter))
    }
}

impl std::fmt::Debug for CallCanceller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallCanceller").finish_non_exhaustive()
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
