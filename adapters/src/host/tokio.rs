//! The async flavour on tokio: the same session logic (and so the same core), driven by one
//! task per link instead of threads. Any `AsyncRead + AsyncWrite` stream is a link: a
//! `TcpStream`, a `UnixStream`, a child's stdio, a serial port crate's async stream.
//!
//! * [`AsyncClient`]: calls from any number of tasks over one stream; with
//!   [`AsyncClient::connect`] it makes a new stream (with backoff) whenever the link drops.
//! * [`serve`]: serves an [`AsyncHandler`] on one stream.
//!
//! The link's task reads, writes and runs the deadlines. A call puts its request in the
//! endpoint from the calling task and wakes the link's task, which writes everything queued
//! in one write; the reply goes from the link's task to the waiting task through a
//! one-shot channel. Each request from the peer is a future: one that is ready at once
//! (a blocking handler made [`Inline`]) is answered within the link's task, any other runs
//! as a task of its own, so requests are served concurrently up to the calls in flight the
//! side advertises. Nothing is queued without bound: the link's task stops reading while
//! the endpoint's transmit queue is full, and a call that cannot start waits in its task.
//!
//! One caveat of a single task per link: it does not read while it writes, so two peers
//! joined by a tiny in-memory duplex that both write more than its buffer at once would wait
//! on each other (until the 5-second write stall drops the link). Kernel socket and pipe
//! buffers are far larger than one batch.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant as TokioInstant;
use wirecall::{Config, Disconnect, Procedure, WireError};

use super::engine::Capacity;
use super::link::WRITE_STALL;
use super::session::{Answered, CallOutcome, ClientError, Handler, Session, Sink, Start, Ticket};
use super::slot::StreamSlot;

mod manifest;
mod remote;
mod stream;
mod typed;

pub use remote::AsyncRemoteHandle;
pub use stream::AsyncStream;
pub use typed::{IntoAsyncHandler, TypedAsyncStream};

/// Bytes read at once.
const READ_BUF: usize = 16 * 1024;
/// Bytes written at once.
const WRITE_BUF: usize = 16 * 1024;

/// What a handler's answer is.
pub type Answer = Result<Vec<u8>, (WireError, String)>;

/// A boxed future of an answer.
pub type AnswerFuture = Pin<Box<dyn Future<Output = Answer> + Send>>;

/// Serves requests in the async flavour: each request is a future (run as a task of its
/// own unless it is ready at once), so requests are served concurrently. A closure
/// `Fn(u32, Vec<u8>) -> impl Future<Output = Answer>` is one.
///
/// ```
/// use std::time::Duration;
/// use wirecall::WireError;
/// use wirecall_adapters::host::tokio::{serve, AnswerFuture, AsyncClient, AsyncHandler};
///
/// /// Procedure 0 answers after waiting as many milliseconds as its one byte says,
/// /// without holding up the requests behind it.
/// struct Delay;
/// impl AsyncHandler for Delay {
///     fn handle(&self, procedure: u32, args: &[u8]) -> AnswerFuture {
///         let args = args.to_vec(); // the future outlives the borrowed arguments
///         Box::pin(async move {
///             match (procedure, args.as_slice()) {
///                 (0, [ms]) => {
///                     tokio::time::sleep(Duration::from_millis(u64::from(*ms))).await;
///                     Ok(vec![*ms])
///                 }
///                 _ => Err((WireError::UnknownProcedure, String::new())),
///             }
///         })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (a, b) = tokio::io::duplex(4096);
/// tokio::spawn(serve(b, Delay, wirecall::Config::default()));
/// let client = AsyncClient::over(a, wirecall::Config::default());
/// // Both in flight at once: the short one is answered first.
/// let (slow, fast) = tokio::join!(client.call(0, &[60], None), client.call(0, &[1], None));
/// assert_eq!((slow?, fast?), (vec![60], vec![1]));
///
/// // A closure that returns a future is a handler too.
/// let double = |_: u32, args: Vec<u8>| async move { Ok::<_, (WireError, String)>(args.repeat(2)) };
/// let (c, d) = tokio::io::duplex(4096);
/// tokio::spawn(serve(d, double, wirecall::Config::default()));
/// assert_eq!(AsyncClient::over(c, wirecall::Config::default()).call(0, b"ab", None).await?, b"abab");
/// # Ok(())
/// # }
/// ```
pub trait AsyncHandler: Send + Sync + 'static {
    /// Answers one request.
    fn handle(&self, procedure: u32, args: &[u8]) -> AnswerFuture;
}

impl<F, Fut> AsyncHandler for F
where
    F: Fn(u32, Vec<u8>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Answer> + Send + 'static,
{
    fn handle(&self, procedure: u32, args: &[u8]) -> AnswerFuture {
        Box::pin(self(procedure, args.to_vec()))
    }
}

/// A blocking [`Handler`] run within the link's task: for handlers that return quickly
/// (a slow one would hold up its link and every other task of its runtime thread).
///
/// ```
/// use wirecall::WireError;
/// use wirecall_adapters::host::tokio::{serve, AsyncClient, Inline};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Answered at once, in the link's task: no task of its own, no thread hand-off.
/// let checksum = |_: u32, args: &[u8]| {
///     Ok::<_, (WireError, String)>(vec![args.iter().fold(0u8, |s, b| s.wrapping_add(*b))])
/// };
/// let (a, b) = tokio::io::duplex(4096);
/// tokio::spawn(serve(b, Inline(Box::new(checksum)), wirecall::Config::default()));
/// let client = AsyncClient::over(a, wirecall::Config::default());
/// assert_eq!(client.call(0, &[1, 2, 3], None).await?, [6]);
/// # Ok(())
/// # }
/// ```
pub struct Inline(pub Box<dyn Handler>);

impl AsyncHandler for Inline {
    fn handle(&self, procedure: u32, args: &[u8]) -> AnswerFuture {
        Box::pin(std::future::ready(self.0.handle(procedure, args)))
    }
}

/// A blocking [`Handler`] run on tokio's blocking threads: for handlers that take a while
/// (blocking I/O, a long computation) without holding up the runtime's other tasks.
///
/// ```
/// use std::sync::Arc;
/// use wirecall::WireError;
/// use wirecall_adapters::host::tokio::{serve, AsyncClient, OnBlockingThreads};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Procedure 0 reads a file: blocking I/O, so on a blocking thread.
/// let path = std::env::temp_dir().join(format!("wirecall-doc-{}.txt", std::process::id()));
/// std::fs::write(&path, "on disk")?;
/// let file = path.clone();
/// let read = move |_: u32, _: &[u8]| {
///     std::fs::read(&file).map_err(|e| (WireError::Internal, e.to_string()))
/// };
/// let (a, b) = tokio::io::duplex(4096);
/// tokio::spawn(serve(b, OnBlockingThreads(Arc::new(read)), wirecall::Config::default()));
/// let client = AsyncClient::over(a, wirecall::Config::default());
/// assert_eq!(client.call(0, &[], None).await?, b"on disk");
/// std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// ```
pub struct OnBlockingThreads(pub Arc<dyn Handler>);

impl AsyncHandler for OnBlockingThreads {
    fn handle(&self, procedure: u32, args: &[u8]) -> AnswerFuture {
        let (handler, args) = (self.0.clone(), args.to_vec());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || handler.handle(procedure, &args))
                .await
                .unwrap_or_else(|_| Err((WireError::Internal, "the handler panicked".into())))
        })
    }
}

/// How an [`AsyncClient`] runs; a `Config` alone converts into the defaults with it.
///
/// A client with a [`handler`](Self::handler) serves calls from its peer, callbacks
/// included: here a blocking server asks its caller a question while serving its call.
///
/// ```
/// use std::sync::Arc;
/// use wirecall::WireError;
/// use wirecall_adapters::host::tokio::{AsyncClient, AsyncClientOptions, Inline};
/// use wirecall_adapters::host::{serve_tcp, Handler, Request};
///
/// /// The server's procedure 0 greets whoever calls: it asks the caller's procedure 1
/// /// for a name first.
/// struct Greeter;
/// impl Handler for Greeter {
///     fn handle(&self, _: u32, _: &[u8]) -> Result<Vec<u8>, (WireError, String)> {
///         unreachable!("serve answers every request")
///     }
///     fn serve(&self, request: &mut Request<'_>) -> Result<Vec<u8>, (WireError, String)> {
///         let name = request.call(1, &[], None).map_err(|e| (WireError::Internal, e.to_string()))?;
///         Ok([&b"hello, "[..], &name].concat())
///     }
/// }
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = serve_tcp(listener, || Box::new(Greeter), wirecall::Config::default())?;
///
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// let greeting = runtime.block_on(async move {
///     let name = |_: u32, _: &[u8]| Ok::<_, (WireError, String)>(b"tokio".to_vec());
///     let options = AsyncClientOptions {
///         handler: Some(Arc::new(Inline(Box::new(name)))),
///         ..AsyncClientOptions::default()
///     };
///     let client = AsyncClient::connect(move || tokio::net::TcpStream::connect(addr), options);
///     client.call(0, &[], None).await
/// })?;
/// assert_eq!(greeting, b"hello, tokio");
/// server.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AsyncClientOptions {
    /// Settings of the endpoint (deadline default, keepalive, expected schema, ...).
    pub config: Config,
    /// Largest frame and calls in flight; the default is 4 KiB frames and 32 calls.
    pub capacity: Capacity,
    /// First wait before reconnecting (with [`AsyncClient::connect`]); it doubles on each
    /// failure up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest wait between reconnection attempts.
    pub backoff_max: Duration,
    /// Serves calls the peer makes to this side, if any.
    pub handler: Option<Arc<dyn AsyncHandler>>,
}

impl Default for AsyncClientOptions {
    fn default() -> Self {
        AsyncClientOptions {
            config: Config::default(),
            capacity: Capacity::default(),
            backoff_min: Duration::from_millis(20),
            backoff_max: Duration::from_secs(2),
            handler: None,
        }
    }
}

impl From<Config> for AsyncClientOptions {
    fn from(config: Config) -> Self {
        AsyncClientOptions {
            config,
            ..AsyncClientOptions::default()
        }
    }
}

type Waiter = oneshot::Sender<CallOutcome>;

/// The write half of the current link, with the buffer its writes go through.
/// Bytes taken from the session and not yet written are `buf[start..end]`: a write given up
/// half way leaves the rest for the next one, in order.
struct Writer {
    half: Pin<Box<dyn AsyncWrite + Send>>,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

/// What a link's task and its callers share.
struct Shared {
    st: Mutex<State>,
    /// The link's write half (the link's task writes with it).
    writer: tokio::sync::Mutex<Option<Writer>>,
    /// Wakes the link's task: something to write, an answer, a close.
    io: Notify,
    /// Wakes tasks waiting to start a call: a session, a free slot, room to send.
    room: Notify,
    handler: Option<Arc<dyn AsyncHandler>>,
    default_timeout: Duration,
    /// Held while a task fetches the peer's manifest (the session takes the pieces of one
    /// fetch at a time).
    fetching: tokio::sync::Mutex<()>,
}

struct State {
    session: Session<Waiter>,
    link_up: bool,
    closing: bool,
    terminal: Option<ClientError>,
    refused: Option<WireError>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Collects what one step of input produced: outcomes are sent at once, requests kept for
/// after the lock.
#[derive(Default)]
struct Collected {
    requests: Vec<(Ticket, u32, Vec<u8>)>,
    /// Which of them are streams (this flavour serves none: they are refused).
    streams: Vec<Ticket>,
    completed: bool,
}

impl Sink<Waiter> for Collected {
    fn completed(&mut self, waiter: Waiter, outcome: CallOutcome) {
        let _ = waiter.send(outcome);
        self.completed = true;
    }
    fn request(&mut self, ticket: Ticket, procedure: u32, args: &[u8]) -> bool {
        self.requests.push((ticket, procedure, args.to_vec()));
        false
    }
    fn stream(&mut self, ticket: Ticket, _: wirecall::StreamMode, _: Arc<StreamSlot>) {
        self.streams.push(ticket);
    }
}

/// Calls procedures on the peer of an async stream. Cheap to clone; the link's task ends
/// when the last clone is dropped (the peer is told) or, without reconnection, when the
/// stream ends.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use wirecall::WireError;
/// use wirecall_adapters::host::tokio::{serve, AsyncClient, Inline};
///
/// let (a, b) = tokio::io::duplex(4096);
/// let double = |procedure: u32, args: &[u8]| match (procedure, args) {
///     (0, [x]) => Ok(vec![x * 2]),
///     _ => Err((WireError::UnknownProcedure, String::new())),
/// };
/// tokio::spawn(serve(b, Inline(Box::new(double)), wirecall::Config::default()));
/// let client = AsyncClient::over(a, wirecall::Config::default());
/// assert_eq!(client.call(0, &[21], None).await, Ok(vec![42]));
/// # }
/// ```
#[derive(Clone)]
pub struct AsyncClient {
    shared: Arc<Shared>,
    _owner: Arc<Owner>,
}

/// Tells the link's task to close when the last client handle goes.
struct Owner(Arc<Shared>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.lock().closing = true;
        self.0.io.notify_one();
    }
}

impl AsyncClient {
    /// A client over one stream, without reconnection (on the current tokio runtime).
    pub fn over<S>(stream: S, options: impl Into<AsyncClientOptions>) -> AsyncClient
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let mut stream = Some(stream);
        AsyncClient::start(
            move || {
                let s = stream.take();
                async move { s.ok_or_else(|| io::Error::other("the stream is gone")) }
            },
            options.into(),
            false,
        )
    }

    /// A client over streams made by `connect`, called again (with backoff) whenever the
    /// link drops, until the client is dropped. Calls made while disconnected wait for the
    /// next handshake, up to their deadline. A `service!`'s generated `AsyncClient` calls
    /// through it, typed:
    ///
    /// ```
    /// use wirecall::WireError;
    /// use wirecall_adapters::host::tokio::{serve, AsyncClient};
    /// use wirecall_adapters::host::ServeOptions;
    ///
    /// wirecall::service! {
    ///     pub mod calc {
    ///         0 => Add: fn add(a: i32, b: i32) -> i32;
    ///     }
    /// }
    /// #[derive(Clone)]
    /// struct Calc;
    /// impl calc::HostHandler for Calc {
    ///     fn add(&self, a: i32, b: i32) -> Result<i32, WireError> {
    ///         a.checked_add(b).ok_or(WireError::BadArguments)
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // A server: the accept loop is the application's; each connection a task.
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let addr = listener.local_addr()?;
    /// let server = tokio::spawn(async move {
    ///     while let Ok((stream, _)) = listener.accept().await {
    ///         tokio::spawn(serve(stream, calc::serve(Calc), ServeOptions::default()));
    ///     }
    /// });
    ///
    /// let raw = AsyncClient::connect(move || tokio::net::TcpStream::connect(addr), wirecall::Config::default());
    /// let client = calc::AsyncClient::new(raw.clone());
    /// assert_eq!(client.add(40, 2).await?, 42);
    /// assert_eq!(raw.manifest(None).await?, calc::MANIFEST); // the glue serves it
    /// server.abort();
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect<S, F, Fut>(connect: F, options: impl Into<AsyncClientOptions>) -> AsyncClient
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = io::Result<S>> + Send,
    {
        AsyncClient::start(connect, options.into(), true)
    }

    fn start<S, F, Fut>(mut connect: F, options: AsyncClientOptions, reconnect: bool) -> AsyncClient
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = io::Result<S>> + Send,
    {
        let shared = Arc::new(Shared {
            st: Mutex::new(State {
                session: Session::new(super::now(), options.config, options.capacity),
                link_up: false,
                closing: false,
                terminal: options
                    .capacity
                    .validate()
                    .err()
                    .map(|_| ClientError::ConnectionLost),
                refused: None,
            }),
            writer: tokio::sync::Mutex::new(None),
            io: Notify::new(),
            room: Notify::new(),
            handler: options.handler,
            default_timeout: super::from_core(options.config.call_timeout),
            fetching: tokio::sync::Mutex::new(()),
        });
        let task = shared.clone();
        let (min, max) = (options.backoff_min, options.backoff_max);
        tokio::spawn(async move {
            let mut backoff = min;
            loop {
                if task.lock().closing {
                    break;
                }
                match connect().await {
                    Ok(stream) => {
                        let (connected, end) = run_link(&task, stream, true).await;
                        if connected {
                            backoff = min;
                        }
                        if end == LinkEnd::Closed {
                            break;
                        }
                        let refused = match task.lock().session.take_disconnect() {
                            Some(Disconnect::PeerClosed(code)) if !connected => Some(code),
                            _ => None,
                        };
                        task.lock().refused = refused;
                        if !reconnect {
                            let why =
                                refused.map_or(ClientError::ConnectionLost, ClientError::Refused);
                            task.lock().terminal = Some(why);
                            task.room.notify_waiters();
                            break;
                        }
                    }
                    Err(_) if !reconnect => {
                        task.lock().terminal = Some(ClientError::ConnectionLost);
                        task.room.notify_waiters();
                        break;
                    }
                    Err(_) => {}
                }
                // Disconnected: calls wait (up to their deadlines) for the next attempt.
                let wait = tokio::time::sleep(backoff);
                tokio::select! {
                    () = wait => {}
                    () = task.io.notified() => {}
                }
                backoff = (backoff * 2).min(max);
            }
            let mut st = task.lock();
            st.terminal.get_or_insert(ClientError::ConnectionLost);
            st.session
                .fail_all(&mut Collected::default(), ClientError::ConnectionLost);
            drop(st);
            task.room.notify_waiters();
        });
        AsyncClient {
            _owner: Arc::new(Owner(shared.clone())),
            shared,
        }
    }

    /// Calls `procedure` with encoded `args`; `timeout` defaults to the configured one and
    /// includes any wait for a connection or a free slot.
    pub async fn call(
        &self,
        procedure: u32,
        args: &[u8],
        timeout: Option<Duration>,
    ) -> CallOutcome {
        self.call_checked(None, procedure, args, timeout).await
    }

    /// [`call`](Self::call), sent only in a session whose peer serves `schema`.
    pub(crate) async fn call_checked(
        &self,
        schema: Option<u32>,
        procedure: u32,
        args: &[u8],
        timeout: Option<Duration>,
    ) -> CallOutcome {
        let timeout = timeout.unwrap_or(self.shared.default_timeout);
        let deadline = TokioInstant::now() + super::capped(timeout);
        let (rx, id) = self
            .begin(deadline, |session, tx| {
                if let Err(e) = session.check_schema(schema) {
                    return Start::Failed(tx, e);
                }
                let left = deadline.saturating_duration_since(TokioInstant::now());
                session.start_call(super::now(), procedure, args, super::to_core(left), tx)
            })
            .await?;
        self.finish(rx, id, deadline).await
    }

    /// Waits for a started call's outcome until `deadline`, then ends it.
    async fn finish(
        &self,
        rx: oneshot::Receiver<CallOutcome>,
        id: super::session::CallTicket,
        deadline: TokioInstant,
    ) -> CallOutcome {
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(ClientError::ConnectionLost),
            Err(_) => {
                // The endpoint's deadline for the call is this same instant: let it end the
                // call (the peer is told), or end it here.
                {
                    let mut st = self.shared.lock();
                    st.session.timeout(super::now(), &mut Collected::default());
                    st.session.cancel_call(id);
                }
                self.shared.io.notify_one();
                Err(ClientError::Timeout)
            }
        }
    }

    /// Starts a call with `start` once a session, a slot and room are there (waiting up to
    /// `start_by`), and wakes the link's task to write it.
    async fn begin(
        &self,
        start_by: TokioInstant,
        mut start: impl FnMut(&mut Session<Waiter>, Waiter) -> Start<Waiter>,
    ) -> Result<(oneshot::Receiver<CallOutcome>, super::session::CallTicket), ClientError> {
        loop {
            let room = self.shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable(); // registered before looking: no wake-up is missed
            let (tx, rx) = oneshot::channel();
            // The lock is held in this block only: never across an await.
            let step = {
                let mut st = self.shared.lock();
                if st.closing {
                    return Err(ClientError::ConnectionLost);
                }
                let started = if st.link_up {
                    start(&mut st.session, tx)
                } else {
                    Start::Wait(tx)
                };
                match started {
                    Start::Started(id) => Ok(id),
                    Start::Failed(_, e) => return Err(e),
                    Start::Wait(_) => match st.terminal.clone() {
                        Some(e) => return Err(e),
                        None => Err(st.refused),
                    },
                }
            };
            match step {
                Ok(id) => {
                    // The link's task writes it, together with whatever else is queued by
                    // then: with many calls in flight that is one write for all of them.
                    self.shared.io.notify_one();
                    return Ok((rx, id));
                }
                Err(refused) => {
                    if tokio::time::timeout_at(start_by, room).await.is_err() {
                        return Err(refused.map_or(ClientError::Timeout, ClientError::Refused));
                    }
                }
            }
        }
    }

    /// Calls procedure `P` with typed arguments and decodes its typed result.
    pub async fn call_typed<P: Procedure>(
        &self,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
    ) -> Result<P::Output, ClientError> {
        let bytes = postcard::to_allocvec(args).map_err(|_| ClientError::TooLarge)?;
        let out = self.call(P::ID, &bytes, timeout).await?;
        P::output(&out).map_err(|_| ClientError::Decode)
    }

    /// The endpoint's statistics, and whether a session is established now.
    pub fn stats(&self) -> (wirecall::Stats, bool) {
        let st = self.shared.lock();
        // The link too: one that ended without a Disconnect frame leaves the endpoint
        // believing in its session until the next link restarts it.
        (st.session.stats(), st.link_up && st.session.is_connected())
    }

    /// Closes the session now (the peer is told); pending calls end with `ConnectionLost`.
    pub fn close(&self) {
        self.shared.lock().closing = true;
        self.shared.io.notify_one();
    }
}

/// Serves `handler` on `stream` until the stream ends, the peer goes silent past its
/// keepalive, or the peer closes. `options` is a [`ServeOptions`](super::ServeOptions)
/// or just a `Config` (of `ServeOptions`, this serves one stream: only `config` and
/// `capacity` apply). `handler` is an [`AsyncHandler`] or a typed service (see
/// [`IntoAsyncHandler`]); this flavour answers plain calls and refuses streams
/// (`UnknownProcedure`): serve those with the blocking runtime.
///
/// ```
/// use wirecall::WireError;
/// use wirecall_adapters::host::tokio::{serve, AsyncClient};
/// use wirecall_adapters::host::ServeOptions;
///
/// wirecall::service! {
///     pub mod kv {
///         0 => Put: fn put(key: String, value: u32);
///         1 => Get: fn get(key: &str) -> Option<u32>;
///     }
/// }
/// /// State shared by every connection: clones share the map.
/// #[derive(Clone, Default)]
/// struct Store(std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, u32>>>);
/// impl kv::HostHandler for Store {
///     fn put(&self, key: String, value: u32) -> Result<(), WireError> {
///         self.0.lock().unwrap().insert(key, value);
///         Ok(())
///     }
///     fn get(&self, key: &str) -> Result<Option<u32>, WireError> {
///         Ok(self.0.lock().unwrap().get(key).copied())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Store::default();
/// // Two connections (in-memory here), one store.
/// let (a, a_server) = tokio::io::duplex(4096);
/// let (b, b_server) = tokio::io::duplex(4096);
/// tokio::spawn(serve(a_server, kv::serve(store.clone()), ServeOptions::default()));
/// tokio::spawn(serve(b_server, kv::serve(store.clone()), ServeOptions::default()));
/// let a = kv::AsyncClient::new(AsyncClient::over(a, wirecall::Config::default()));
/// let b = kv::AsyncClient::new(AsyncClient::over(b, wirecall::Config::default()));
/// a.put("x".into(), 7).await?;
/// assert_eq!(b.get("x").await?, Some(7));
/// assert_eq!(b.get("y").await?, None);
/// # Ok(())
/// # }
/// ```
pub async fn serve<S>(
    stream: S,
    handler: impl IntoAsyncHandler,
    options: impl Into<super::ServeOptions>,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let mut options = options.into();
    let handler = handler.into_async_handler(&mut options.config, &options.capacity);
    let shared = Arc::new(Shared {
        st: Mutex::new(State {
            session: Session::new(super::now(), options.config, options.capacity),
            link_up: false,
            closing: false,
            terminal: None,
            refused: None,
        }),
        writer: tokio::sync::Mutex::new(None),
        io: Notify::new(),
        room: Notify::new(),
        handler: Some(handler),
        default_timeout: super::from_core(options.config.call_timeout),
        fetching: tokio::sync::Mutex::new(()),
    });
    let _ = run_link(&shared, stream, false).await;
    shared
        .lock()
        .session
        .fail_all(&mut Collected::default(), ClientError::ConnectionLost);
}

#[derive(Debug, PartialEq, Eq)]
enum LinkEnd {
    /// The stream ended or failed, or the core ended the session.
    Down,
    /// The application closed the client.
    Closed,
}

/// Drives one stream until it ends; returns whether a session was established, and why it
/// ended. `fresh` starts a new endpoint for it (a client's reconnection).
async fn run_link<S>(shared: &Arc<Shared>, stream: S, fresh: bool) -> (bool, LinkEnd)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, wr) = tokio::io::split(stream);
    let mut rbuf = vec![0u8; READ_BUF];
    let (mut start, mut end) = (0usize, 0usize);
    *shared.writer.lock().await = Some(Writer {
        half: Box::pin(wr),
        buf: vec![0u8; WRITE_BUF].into_boxed_slice(),
        start: 0,
        end: 0,
    });
    let attached = TokioInstant::now();
    {
        let mut st = shared.lock();
        if fresh {
            st.session.restart(super::now(), &mut Collected::default());
        }
        st.link_up = true;
    }
    shared.room.notify_waiters();
    let ended = loop {
        // 1. Input left over (the endpoint stopped taking it until its queue emptied).
        let mut got = Collected::default();
        let (closing, next, connected, session_over, came_up) = {
            let mut st = shared.lock();
            let was_connected = st.session.is_connected();
            if start < end {
                let n =
                    st.session
                        .input(super::now(), rbuf.get(start..end).unwrap_or(&[]), &mut got);
                start += n;
            }
            // The core ended the session: the link ends with it (a restarted peer is
            // already talking on the same link). The reason stays for the client.
            let over = match st.session.take_disconnect() {
                Some(Disconnect::PeerRestarted) | None => false,
                Some(why) => {
                    st.session.put_disconnect(why);
                    true
                }
            };
            (
                st.closing,
                st.session.next_timeout(),
                st.session.has_connected(),
                over,
                !was_connected && st.session.is_connected(),
            )
        };
        // Slots freed, or a session came up: calls waiting to start may start now. A peer
        // that answers this side's Hello with a reply alone (one that kept its session)
        // leaves nothing to write, so no write would wake them either.
        if got.completed || came_up {
            shared.room.notify_waiters();
        }
        for (ticket, procedure, args) in got.requests.drain(..) {
            if got.streams.contains(&ticket) {
                let refusal = Err((
                    WireError::UnknownProcedure,
                    "the async flavour serves no streams; serve them with the blocking runtime"
                        .into(),
                ));
                if !answer_now(shared, &ticket, &refusal) {
                    serve_request_answer(shared, ticket, refusal);
                }
                continue;
            }
            serve_request(shared, ticket, procedure, &args);
        }
        if closing {
            shared
                .lock()
                .session
                .close(WireError::Closed, &mut Collected::default());
            let mut w = shared.writer.lock().await;
            if let Some(w) = w.as_mut() {
                let _ = write_pending(shared, w).await;
                let _ = w.half.shutdown().await;
            }
            break LinkEnd::Closed;
        }
        // 2. Everything queued goes out, in as few writes as it takes.
        if write_out(shared).await.is_err() || session_over {
            break LinkEnd::Down;
        }
        // A peer that never completes the handshake is given up on like a silent one.
        let keepalive = super::from_core(shared.lock().session.config().keepalive);
        if !connected && TokioInstant::now() >= attached + keepalive * 3 {
            break LinkEnd::Down;
        }
        if start < end {
            continue; // room was made: offer the rest again
        }
        // 3. Wait for bytes, a wake-up, or the next deadline.
        let sleep_to = next
            .map(|t| TokioInstant::from_std(super::from_core_instant(t)))
            .unwrap_or_else(|| TokioInstant::now() + Duration::from_secs(3600));
        let sleep_to = if connected {
            sleep_to
        } else {
            sleep_to.min(attached + keepalive * 3)
        };
        tokio::select! {
            read = rd.read(&mut rbuf) => match read {
                Ok(n) if n > 0 => { start = 0; end = n; }
                _ => break LinkEnd::Down,
            },
            () = shared.io.notified() => {}
            () = tokio::time::sleep_until(sleep_to) => {
                let mut got = Collected::default();
                shared.lock().session.timeout(super::now(), &mut got);
                if got.completed {
                    shared.room.notify_waiters();
                }
            }
        }
    };
    *shared.writer.lock().await = None;
    let connected = {
        let mut st = shared.lock();
        st.link_up = false;
        st.session
            .fail_all(&mut Collected::default(), ClientError::ConnectionLost);
        st.session.has_connected()
    };
    shared.room.notify_waiters();
    (connected, ended)
}

/// Writes everything the session has to send; an error if the link failed or the peer
/// stopped reading for [`WRITE_STALL`].
async fn write_out(shared: &Shared) -> io::Result<()> {
    let mut w = shared.writer.lock().await;
    match w.as_mut() {
        Some(w) => write_pending(shared, w).await,
        None => Err(io::ErrorKind::NotConnected.into()),
    }
}

/// [`write_out`] with the writer in hand. Each completed `write` is accounted for before the
/// next, so the future can be dropped between them without losing or repeating a byte.
async fn write_pending(shared: &Shared, w: &mut Writer) -> io::Result<()> {
    loop {
        if w.start == w.end {
            (w.start, w.end) = (0, 0);
            let n = shared.lock().session.transmit(&mut w.buf);
            if n == 0 {
                return w.half.flush().await;
            }
            w.end = n;
            shared.room.notify_waiters(); // room in the transmit queue
        }
        let bytes = w.buf.get(w.start..w.end).unwrap_or(&[]);
        match tokio::time::timeout(WRITE_STALL, w.half.write(bytes)).await {
            Ok(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(Ok(n)) => w.start = (w.start + n).min(w.end),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(io::ErrorKind::TimedOut.into()),
        }
    }
}

/// Serves one request: answered at once if its future is ready, else in a task of its own.
fn serve_request(shared: &Arc<Shared>, ticket: Ticket, procedure: u32, args: &[u8]) {
    let mut fut = match &shared.handler {
        Some(h) => h.handle(procedure, args),
        None => Box::pin(std::future::ready(Err((
            WireError::UnknownProcedure,
            String::new(),
        )))),
    };
    // Polled once with a waker that does nothing: a future that is not ready moves to its
    // own task, whose first poll registers the real waker.
    let mut cx = Context::from_waker(std::task::Waker::noop());
    if let Poll::Ready(answer) = fut.as_mut().poll(&mut cx) {
        if answer_now(shared, &ticket, &answer) {
            return;
        }
        fut = Box::pin(std::future::ready(answer));
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        let answer = fut.await;
        answer_when_room(&shared, &ticket, &answer).await;
    });
}

/// Answers `ticket` with a ready answer, from a task of its own if there is no room now.
fn serve_request_answer(shared: &Arc<Shared>, ticket: Ticket, answer: Answer) {
    let shared = shared.clone();
    tokio::spawn(async move { answer_when_room(&shared, &ticket, &answer).await });
}

/// Answers as soon as the transmit queue has room.
async fn answer_when_room(shared: &Arc<Shared>, ticket: &Ticket, answer: &Answer) {
    {
        loop {
            let room = shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if answer_now(shared, ticket, answer) {
                return;
            }
            room.await; // the link's task made room
        }
    }
}

/// Answers if the transmit queue has room (true), or asks the link's task to make some.
fn answer_now(shared: &Shared, ticket: &Ticket, answer: &Answer) -> bool {
    let answered = shared.lock().session.answer(ticket, answer);
    shared.io.notify_one();
    answered != Answered::NoRoom
}
