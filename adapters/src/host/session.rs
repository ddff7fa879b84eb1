//! One endpoint with the host-side bookkeeping around it: who waits for which call, and
//! which requests were handed out to be answered later.
//!
//! A `Session` is sans-I/O like the core: runners (threads, a tokio task) feed it bytes
//! and time and write out what it gives them. Both flavours of the host runtime run it,
//! so they cannot disagree about the protocol; only the waiting differs. It holds no
//! queue: a call that cannot start now is refused with [`Start::Wait`] and its caller
//! waits (a blocked thread, a pending future), so the callers themselves bound what waits.

use std::sync::Arc;

use wirecall::{CallError, CallFailure, CallId, Config, Disconnect, Event, Instant, PeerInfo};
use wirecall::{Handle, HandleError, RequestId, Resolved};
use wirecall::{Open, Stats, StreamError, StreamId, StreamMode, WireError};

use super::engine::{Capacity, HostEngine};
use super::objects::{Exported, Held, HeldState, Invocation, Object, ReleaseQueue};
use super::slot::StreamSlot;

/// Why a call from a host did not produce a result. It prints as a sentence for a user
/// (`the device answered: bad arguments: add expects (a: i32, b: i32)`).
///
/// ```
/// use std::time::Duration;
/// use wirecall::WireError;
/// use wirecall_adapters::host::{serve_tcp, Client, ClientError, ClientOptions, Link, ServeOptions};
///
/// wirecall::service! {
///     pub mod calc {
///         0 => Add: fn add(a: i32, b: i32) -> i32;
///         1 => Wait: fn wait(ms: u64);
///     }
/// }
/// wirecall::service! {
///     pub mod other {
///         0 => Add: fn add(a: i64, b: i64) -> i64;
///     }
/// }
/// struct Calc;
/// impl calc::HostHandler for Calc {
///     fn add(&self, a: i32, b: i32) -> Result<i32, WireError> {
///         a.checked_add(b).ok_or(WireError::BadArguments)
///     }
///     fn wait(&self, ms: u64) -> Result<(), WireError> {
///         std::thread::sleep(Duration::from_millis(ms));
///         Ok(())
///     }
/// }
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = serve_tcp(listener, calc::serve(Calc), ServeOptions::default())?;
/// let raw = Client::connect(move || Link::tcp(addr), ClientOptions::default())?;
/// let client = calc::Client::new(raw.clone());
///
/// // The handler's own error.
/// assert_eq!(client.add(i32::MAX, 1), Err(ClientError::Remote(WireError::BadArguments, String::new())));
/// // The caller's mistake, explained by the server: `add` (procedure 0) called with one byte.
/// let Err(e) = raw.call(0, &[1], None) else { panic!("accepted") };
/// assert_eq!(e, ClientError::Remote(WireError::BadArguments, "add expects (a: i32, b: i32)".into()));
/// assert_eq!(e.to_string(), "the device answered: bad arguments: add expects (a: i32, b: i32)");
/// // No answer within the deadline (the server is told to stop).
/// let impatient = calc::Client::new(raw.clone()).with_timeout(Duration::from_millis(20));
/// assert_eq!(impatient.wait(500), Err(ClientError::Timeout));
/// // A client of another service: refused before anything is sent.
/// let wrong = other::Client::new(raw.clone());
/// assert!(matches!(wrong.add(1, 2), Err(ClientError::IncompatibleSchema { .. })));
/// drop((client, impatient, wrong, raw));
/// server.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// The peer answered with this error and detail text.
    Remote(WireError, String),
    /// No answer before the deadline (noticed by this side, which told the peer to stop, or
    /// by the peer, which gave up at the same deadline).
    Timeout,
    /// The link dropped, the peer restarted, or the client was closed, before an answer.
    ConnectionLost,
    /// The peer refused the connection before any session with this code (`Busy`: a
    /// server at its connection limit; `ShuttingDown`: one that stops).
    Refused(WireError),
    /// The arguments exceed the peer's frame limit.
    TooLarge,
    /// The result did not decode as the procedure's output type.
    Decode,
    /// The peer does not speak streams or nested calls (an older version).
    Unsupported,
    /// The call would be nested deeper than this side allows
    /// ([`Config::max_call_depth`](wirecall::Config::max_call_depth)), or the request it
    /// was made from is over.
    TooDeep,
    /// The stream is over: no more items can be sent on it (the caller cancelled it, it
    /// ended, timed out, or its link went).
    StreamEnded,
    /// A stream item was lost on the link (the stream ended at the first gap, after every
    /// item before it).
    ItemLost,
    /// The peer broke the stream's flow control (sent beyond its credit).
    FlowControl,
    /// The peer serves no manifest: it does not describe itself (its `Hello` lacks
    /// [`Hello::FEATURE_MANIFEST`](wirecall::Hello::FEATURE_MANIFEST)).
    NoManifest,
    /// The peer's manifest pieces were inconsistent, too large, or did not hash to the
    /// schema hash of its handshake.
    BadManifest(String),
    /// This side cancelled the call ([`CallCanceller::cancel`](super::CallCanceller::cancel));
    /// the peer was told.
    Cancelled,
    /// A typed client's call was not sent: the peer serves another service (its handshake
    /// announced schema hash `peer`, the client's service is `expected`; 0 is a peer that
    /// announces none).
    IncompatibleSchema {
        /// The schema hash of the client's service.
        expected: u32,
        /// The one the peer announced.
        peer: u32,
    },
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Remote(e, d) if d.is_empty() => write!(f, "the device answered: {e}"),
            // The detail is the peer's text: shown with its control characters escaped.
            ClientError::Remote(e, d) => {
                write!(f, "the device answered: {e}: {}", super::printable(d))
            }
            ClientError::Timeout => f.write_str("timed out waiting for the answer"),
            ClientError::ConnectionLost => f.write_str("the link was lost before an answer"),
            ClientError::Refused(WireError::Busy) => {
                f.write_str("the server refused the connection: it is at its connection limit")
            }
            ClientError::Refused(e) => write!(f, "the peer refused the connection: {e}"),
            ClientError::TooLarge => f.write_str("the arguments exceed the device's frame limit"),
            ClientError::Decode => f.write_str("the answer did not decode as the expected type"),
            ClientError::Unsupported => {
                f.write_str("the peer does not support streams or nested calls")
            }
            ClientError::TooDeep => f.write_str("calls nested too deep"),
            ClientError::StreamEnded => f.write_str("the stream is over"),
            ClientError::Cancelled => f.write_str("the call was cancelled by this side"),
            ClientError::ItemLost => f.write_str("a stream item was lost on the link"),
            ClientError::FlowControl => f.write_str("the peer broke the stream's flow control"),
            ClientError::NoManifest => {
                f.write_str("the peer does not describe itself (it serves no manifest)")
            }
            ClientError::BadManifest(why) => write!(
                f,
                "the peer's manifest is unusable: {}",
                super::printable(why)
            ),
            ClientError::IncompatibleSchema { expected, peer: 0 } => write!(
                f,
                "the peer announces no schema, and this client's service is {expected:#010x}: not sent"
            ),
            ClientError::IncompatibleSchema { expected, peer } => write!(
                f,
                "the peer serves schema {peer:#010x}, not this client's service ({expected:#010x}): not sent"
            ),
        }
    }
}

impl std::error::Error for ClientError {}

/// The result of a call: the encoded output, or why there is none.
pub type CallOutcome = Result<Vec<u8>, ClientError>;

/// Serves requests: procedure number and encoded arguments in, encoded result or wire error
/// (with a detail text) out.
///
/// A handler may run on several threads at once, one per request being served (up to the
/// number of calls in flight the side advertises); share state with interior mutability.
/// The blocking runtime runs a handler on the thread that read the request, and lends the
/// link to another thread if it runs for more than a couple of milliseconds, so a slow
/// handler never stops the link (keepalive included) or the other requests.
///
/// A handler works with procedure numbers and encoded bytes: for a service without a
/// `service!` declaration (a generated `HostHandler`, served with `serve(handler)`, decodes
/// and encodes for you). A closure `Fn(u32, &[u8]) -> Result<Vec<u8>, (WireError, String)>`
/// is a handler too.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use wirecall::WireError;
/// use wirecall_adapters::host::{serve_tcp, Client, ClientError, ClientOptions, Handler, Link};
///
/// /// A store of bytes: procedure 1 puts `[key, value...]`, procedure 2 gets `[key]`.
/// #[derive(Default)]
/// struct Store(Mutex<HashMap<u8, Vec<u8>>>);
///
/// impl Handler for Store {
///     fn handle(&self, procedure: u32, args: &[u8]) -> Result<Vec<u8>, (WireError, String)> {
///         let mut map = self.0.lock().unwrap(); // handlers run concurrently: share with a lock
///         match (procedure, args) {
///             (1, [key, value @ ..]) => Ok(map.insert(*key, value.to_vec()).unwrap_or_default()),
///             (2, [key]) => map.get(key).cloned().ok_or((WireError::BadArguments, format!("no key {key}"))),
///             (1 | 2, _) => Err((WireError::BadArguments, "expects a key".into())),
///             _ => Err((WireError::UnknownProcedure, String::new())),
///         }
///     }
/// }
///
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = serve_tcp(listener, || Box::new(Store::default()), wirecall::Config::default())?;
/// let client = Client::connect(move || Link::tcp(addr), ClientOptions::default())?;
/// client.call(1, b"kvalue", None)?;
/// assert_eq!(client.call(2, b"k", None)?, b"value");
/// // The error and its detail text reach the caller.
/// assert_eq!(client.call(2, b"x", None), Err(ClientError::Remote(WireError::BadArguments, "no key 120".into())));
/// drop(client);
/// server.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Handler: Send + Sync {
    /// Answers one request.
    fn handle(&self, procedure: u32, args: &[u8]) -> Result<Vec<u8>, (WireError, String)>;

    /// Serves one request with its context: a stream's items, and calls back into the
    /// caller (see [`Request`](super::Request)). The default answers plain calls with
    /// [`handle`](Self::handle) and refuses streams with `UnknownProcedure`; a handler
    /// that serves streams or calls back overrides it.
    fn serve(&self, request: &mut super::Request<'_>) -> Result<Vec<u8>, (WireError, String)> {
        if request.target().is_some() {
            return Err((
                WireError::StaleHandle,
                "this side exports no objects".into(),
            ));
        }
        if request.mode() == StreamMode::Call {
            self.handle(request.procedure(), request.args())
        } else {
            Err((
                WireError::UnknownProcedure,
                "this side serves no streams".into(),
            ))
        }
    }

    /// True if this handler exports objects ([`Request::export`](super::Request::export))
    /// and serves method calls on them ([`Request::target`](super::Request::target)). A
    /// handler that does not is never handed a method call.
    fn exports(&self) -> bool {
        false
    }
}

impl<F> Handler for F
where
    F: Fn(u32, &[u8]) -> Result<Vec<u8>, (WireError, String)> + Send + Sync,
{
    fn handle(&self, procedure: u32, args: &[u8]) -> Result<Vec<u8>, (WireError, String)> {
        self(procedure, args)
    }
}

/// A request handed out to be answered later: which session and which request, so an
/// answer reaches neither a later session nor a later request that reuses the id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ticket {
    generation: u64,
    seq: u64,
    id: RequestId,
}

/// The detail of a call refused because the promise it names has settled (its call was
/// answered): the holder then calls on the handle the answer carries.
pub(crate) const PROMISE_SETTLED: &str = "the call that returns the handle has ended";

/// What runners do with what a session produces.
pub(crate) trait Sink<W> {
    /// The call `waiter` waits for ended.
    fn completed(&mut self, waiter: W, outcome: CallOutcome);
    /// A request from the peer: take the arguments now (they live in the receive buffer).
    /// Return true to stop taking input here, so the request is served before more is read.
    fn request(&mut self, ticket: Ticket, procedure: u32, args: &[u8]) -> bool;
    /// The request just given to [`request`](Self::request) is a stream of `mode`; its
    /// items and credit meet the handler at `slot`.
    fn stream(&mut self, ticket: Ticket, mode: StreamMode, slot: Arc<StreamSlot>);
}

/// A call handed out to its caller: its id and a sequence number unique in the session's
/// life, so a stale handle (a call that ended, in this session or an earlier one, whose id
/// the endpoint has since reused) never acts on a newer call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CallTicket {
    pub(crate) id: CallId,
    seq: u64,
}

/// What became of an attempt to start a call.
pub(crate) enum Start<W> {
    /// Sent (or queued in the endpoint's transmit queue).
    Started(CallTicket),
    /// Not now: no session yet, every slot taken, or no room to send. Wait and try again.
    Wait(W),
    /// Never: the call ended with this error.
    Failed(W, ClientError),
}

/// What became of a stream item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sent {
    /// In the transmit queue.
    Queued,
    /// Not sent: no credit; wait for the peer to grant some.
    NoCredit,
    /// Not sent: the transmit queue is full; write, then try again.
    NoRoom,
}

/// What became of an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answered {
    /// Queued for sending.
    Sent,
    /// Nobody waits for it any more (cancelled, expired, another session).
    Stale,
    /// No room in the transmit queue: send what is queued and answer again.
    NoRoom,
}

/// An endpoint plus the host's bookkeeping. See the module docs.
pub(crate) struct Session<W> {
    engine: Box<dyn HostEngine>,
    config: Config,
    capacity: Capacity,
    /// Each call in flight and its waiter, by [`CallId::index`].
    calls: Vec<Option<(CallTicket, W)>>,
    /// The stream calls among them, by [`CallId::index`].
    call_streams: Vec<Option<Arc<StreamSlot>>>,
    /// The stream requests being served, by [`RequestId::index`].
    request_streams: Vec<Option<Arc<StreamSlot>>>,
    /// The ticket sequence of each request handed out, by [`RequestId::index`] (0: none).
    requests: Vec<u64>,
    next_seq: u64,
    /// Counts sessions (endpoints, and sessions the core ended) so that an answer for an
    /// earlier one is dropped.
    generation: u64,
    connected_once: bool,
    /// How the core last ended the session (or refused one), until a runner takes it.
    disconnect: Option<Disconnect>,
    /// What the handshake of the current session learned about the peer.
    peer: Option<PeerInfo>,
    /// Where the piece of the peer's manifest that a thread asked for goes, and its
    /// offset: as `total` and `offset` (u32 little-endian), then the bytes. Only the piece
    /// asked for is taken, once, so the slot holds at most one whatever the peer sends.
    manifest: Option<(Arc<StreamSlot>, u32)>,
    /// The objects this side exported, and what the method calls it serves are made on.
    exported: Exported,
    /// The peer's handles this side holds.
    held: Held,
    /// The handler exports objects (takes method calls); otherwise a method call waiting
    /// for a request's handle is refused at once.
    serves_handles: bool,
    /// A method call waiting for a request's handle was settled: its thread should look.
    settled: bool,
}

impl<W> Session<W> {
    /// A session that starts its handshake at `now`.
    pub(crate) fn new(now: Instant, config: Config, capacity: Capacity) -> Session<W> {
        let engine = capacity.endpoint(now, config);
        let (outbound, inbound) = engine.table_sizes();
        let slots = engine.export_slots();
        Session {
            engine,
            config,
            capacity,
            calls: (0..outbound).map(|_| None).collect(),
            call_streams: vec![None; outbound],
            request_streams: vec![None; inbound],
            requests: vec![0; inbound],
            next_seq: 1,
            generation: 0,
            connected_once: false,
            disconnect: None,
            peer: None,
            manifest: None,
            exported: Exported::new(slots, inbound),
            held: Held::default(),
            serves_handles: false,
            settled: false,
        }
    }

    /// Starts over with a fresh endpoint (a new link): every call in flight ends with
    /// `ConnectionLost`, every request handed out goes stale.
    pub(crate) fn restart(&mut self, now: Instant, sink: &mut impl Sink<W>) {
        self.fail_all(sink, ClientError::ConnectionLost);
        self.engine = self.capacity.endpoint(now, self.config);
        self.generation += 1;
        self.requests.fill(0);
        end_all(&mut self.request_streams);
        self.connected_once = false;
        self.disconnect = None;
        self.peer = None;
        if let Some((slot, _)) = self.manifest.take() {
            slot.end();
        }
        self.exported.clear();
        self.held.end_session();
    }

    /// Ends every call in flight with `error` (the link is gone).
    pub(crate) fn fail_all(&mut self, sink: &mut impl Sink<W>, error: ClientError) {
        for slot in self.calls.iter_mut() {
            if let Some((_, w)) = slot.take() {
                sink.completed(w, Err(error.clone()));
            }
        }
        end_all(&mut self.call_streams);
    }

    /// Starts a call whose deadline is `timeout` from `now`.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // the tokio flavour's
    pub(crate) fn start_call(
        &mut self,
        now: Instant,
        procedure: u32,
        args: &[u8],
        timeout: wirecall::Duration,
        waiter: W,
    ) -> Start<W> {
        if timeout == wirecall::Duration::ZERO {
            return Start::Failed(waiter, ClientError::Timeout);
        }
        self.open(
            now,
            procedure,
            args,
            Open::call().with_timeout(timeout),
            waiter,
            None,
        )
    }

    /// Starts a call made as `how` says (a stream, nested in a request); a stream's items
    /// meet the application at `slot`.
    pub(crate) fn open(
        &mut self,
        now: Instant,
        procedure: u32,
        args: &[u8],
        how: Open,
        waiter: W,
        slot: Option<Arc<StreamSlot>>,
    ) -> Start<W> {
        // Releases queued by dropped handles go ahead of the call: a call that needs the
        // slot a release frees (an open on a full table) finds it freed.
        self.held
            .flush_releases(self.generation, self.engine.as_mut());
        // A promise names its call by id, so it may only be sent while that call is in
        // flight: once answered, its id may be reused, and the peer would take the promise
        // for the newer call's answer. (The handle is then known: call on it instead.)
        if let Some(wirecall::Target::Promise(call)) = how.target {
            let in_flight = self
                .calls
                .iter()
                .flatten()
                .any(|(t, _)| t.id.wire() == call);
            if !in_flight {
                return Start::Failed(
                    waiter,
                    ClientError::Remote(WireError::StaleHandle, PROMISE_SETTLED.into()),
                );
            }
        }
        match self.engine.open(now, procedure, args, how) {
            Ok(id) => {
                let ticket = CallTicket {
                    id,
                    seq: self.next_seq,
                };
                self.next_seq += 1;
                if let Some(s) = self.calls.get_mut(id.index()) {
                    *s = Some((ticket, waiter));
                }
                if let Some(s) = self.call_streams.get_mut(id.index()) {
                    *s = slot;
                }
                Start::Started(ticket)
            }
            Err(CallError::TooLarge | CallError::Encode) => {
                Start::Failed(waiter, ClientError::TooLarge)
            }
            Err(CallError::Closed) => Start::Failed(waiter, ClientError::ConnectionLost),
            Err(CallError::Unsupported) => Start::Failed(waiter, ClientError::Unsupported),
            Err(CallError::TooDeep) => Start::Failed(waiter, ClientError::TooDeep),
            // Not connected yet, every slot taken, or a full transmit queue.
            Err(_) => Start::Wait(waiter),
        }
    }

    /// Gives up on call `id` (its caller stopped waiting): the peer is told, nobody is
    /// told of its outcome. Returns false if it already ended.
    pub(crate) fn cancel_call(&mut self, ticket: CallTicket) -> bool {
        if !self.is_live(ticket) {
            return false;
        }
        if let Some(slot) = self.calls.get_mut(ticket.id.index()) {
            *slot = None;
        }
        end_one(&mut self.call_streams, ticket.id.index());
        let _ = self.engine.cancel(ticket.id);
        true
    }

    /// True while the call of `ticket` is in flight (not ended, not a newer call).
    fn is_live(&self, ticket: CallTicket) -> bool {
        matches!(self.calls.get(ticket.id.index()), Some(Some((t, _))) if *t == ticket)
    }

    /// Feeds bytes from the link, reporting outcomes and requests to `sink`; returns how
    /// many were taken. Fewer than offered when the sink asked to stop at a request, or
    /// when the transmit queue is full (send, then offer the rest again).
    pub(crate) fn input(&mut self, now: Instant, bytes: &[u8], sink: &mut impl Sink<W>) -> usize {
        let mut used = 0;
        loop {
            let n = self
                .engine
                .handle_input(now, bytes.get(used..).unwrap_or(&[]));
            used += n;
            let (events, stop) = self.drain(sink);
            if stop || used >= bytes.len() || (n == 0 && events == 0) {
                return used;
            }
        }
    }

    /// Processes the deadlines due by `now`.
    pub(crate) fn timeout(&mut self, now: Instant, sink: &mut impl Sink<W>) {
        self.engine.handle_timeout(now);
        self.drain(sink);
    }

    /// When [`timeout`](Self::timeout) next has work.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.engine.poll_timeout()
    }

    /// Moves bytes to send into `buf`; returns how many.
    pub(crate) fn transmit(&mut self, buf: &mut [u8]) -> usize {
        self.held
            .flush_releases(self.generation, self.engine.as_mut());
        self.engine.poll_transmit(buf)
    }

    /// Answers a request handed out earlier.
    pub(crate) fn answer(
        &mut self,
        ticket: &Ticket,
        answer: &Result<Vec<u8>, (WireError, String)>,
    ) -> Answered {
        let index = ticket.id.index();
        if ticket.generation != self.generation || self.requests.get(index) != Some(&ticket.seq) {
            return Answered::Stale;
        }
        let sent = match answer {
            Ok(bytes) => match self.engine.respond(ticket.id, bytes) {
                Err(wirecall::RespondError::TooLarge) => self.engine.respond_error(
                    ticket.id,
                    WireError::TooLarge,
                    "result exceeds the frame limit",
                ),
                other => other,
            },
            Err((code, detail)) => self.engine.respond_error(ticket.id, *code, detail),
        };
        match sent {
            Err(wirecall::RespondError::WouldBlock) => Answered::NoRoom,
            Ok(()) => {
                self.answered(ticket);
                Answered::Sent
            }
            Err(_) => Answered::Stale,
        }
    }

    /// The request of `ticket` was answered: its bookkeeping goes, and method calls
    /// waiting for its handle are settled.
    fn answered(&mut self, ticket: &Ticket) {
        let index = ticket.id.index();
        if let Some(s) = self.requests.get_mut(index) {
            *s = 0;
        }
        end_one(&mut self.request_streams, index);
        self.exported.ended(index);
        self.settled |= self.exported.settle(ticket.id.wire(), self.engine.as_ref());
    }

    /// Answers a request handed out earlier with a new object: the caller gets a handle
    /// to it. A full export table answers `TooManyHandles`.
    pub(crate) fn answer_export(
        &mut self,
        ticket: &Ticket,
        object: &Object,
        interface: u8,
    ) -> Answered {
        if !self.is_current(ticket) {
            return Answered::Stale;
        }
        match self.engine.respond_export(ticket.id, interface) {
            Ok(handle) => {
                self.exported.exported(handle, object.clone());
                self.answered(ticket);
                Answered::Sent
            }
            Err(HandleError::WouldBlock) => Answered::NoRoom,
            Err(HandleError::TableFull) => {
                let detail = format!(
                    "every one of the {} slots of this side's handle table is taken",
                    self.engine
                        .export_slots()
                        .min(self.config.max_handles as usize)
                );
                self.answer(ticket, &Err((WireError::TooManyHandles, detail)))
            }
            Err(HandleError::Unsupported) => self.answer(
                ticket,
                &Err((
                    WireError::Internal,
                    "the procedure returns a handle, and the caller does not speak handles".into(),
                )),
            ),
            Err(_) => Answered::Stale,
        }
    }

    /// What the method call of `ticket` is made on (`None`: a plain request, or one no
    /// longer served).
    pub(crate) fn invocation(&self, ticket: &Ticket) -> Option<Invocation> {
        self.is_current(ticket)
            .then(|| self.exported.invocation(ticket.id.index()))
            .flatten()
    }

    /// Whether a method call waiting for a request's handle was settled since the last
    /// look (its thread should look again).
    pub(crate) fn take_settled(&mut self) -> bool {
        std::mem::take(&mut self.settled)
    }

    /// The handler exports objects: method calls waiting for a request's handle wait.
    pub(crate) fn set_serves_handles(&mut self, serves: bool) {
        self.serves_handles = serves;
    }

    /// Withdraws exported object `handle` (the holder is told), right after the answer of
    /// the call made on it. An object already gone leaves nothing to do; with no room for
    /// the frame the revoke is not made (the object lives on until released or the
    /// session ends).
    pub(crate) fn revoke_after_answer(&mut self, handle: Handle, code: WireError, reason: String) {
        if self.engine.revoke(handle, code, &reason).is_ok() {
            self.exported.released(handle);
        }
    }

    /// A slot of the export table is free now.
    pub(crate) fn can_export(&self) -> bool {
        self.engine.can_export()
    }

    /// Why an export cannot be answered now: every slot taken.
    pub(crate) fn table_full_detail(&self) -> String {
        format!(
            "every one of the {} slots of this side's handle table is taken",
            self.engine
                .export_slots()
                .min(self.config.max_handles as usize)
        )
    }

    /// Counts sessions: a handle of another generation belongs to an ended session.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// A handle received in the current session: its shared state.
    pub(crate) fn hold(&mut self, handle: Handle) -> Arc<HeldState> {
        self.held.register(handle)
    }

    /// Where dropped handles queue their release.
    pub(crate) fn releases(&self) -> ReleaseQueue {
        self.held.releases()
    }

    /// Sends one item on a stream this side made.
    pub(crate) fn send_call_item(
        &mut self,
        ticket: CallTicket,
        item: &[u8],
    ) -> Result<Sent, ClientError> {
        if !self.is_live(ticket) {
            return Err(ClientError::StreamEnded);
        }
        Self::sent(self.engine.send_item(StreamId::Call(ticket.id), item))
    }

    /// Sends one item on a stream request this side serves (as [`send_call_item`]).
    pub(crate) fn send_request_item(
        &mut self,
        ticket: &Ticket,
        item: &[u8],
    ) -> Result<Sent, ClientError> {
        if !self.is_current(ticket) {
            return Err(ClientError::StreamEnded);
        }
        Self::sent(self.engine.send_item(StreamId::Request(ticket.id), item))
    }

    fn sent(r: Result<(), StreamError>) -> Result<Sent, ClientError> {
        match r {
            Ok(()) => Ok(Sent::Queued),
            Err(StreamError::NoCredit) => Ok(Sent::NoCredit),
            Err(StreamError::WouldBlock) => Ok(Sent::NoRoom),
            Err(StreamError::TooLarge | StreamError::Encode) => Err(ClientError::TooLarge),
            Err(_) => Err(ClientError::StreamEnded),
        }
    }

    /// Ends the items of a client or bidirectional stream this side made (`Ok(false)`: no
    /// room now, try again after a write).
    pub(crate) fn end_call_items(&mut self, ticket: CallTicket) -> Result<bool, ClientError> {
        if !self.is_live(ticket) {
            return Err(ClientError::StreamEnded);
        }
        match self.engine.end_items(ticket.id) {
            Ok(()) => Ok(true),
            Err(StreamError::WouldBlock) => Ok(false),
            Err(_) => Err(ClientError::StreamEnded),
        }
    }

    /// The application took one item of a stream this side made: the peer may send one
    /// more.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // the tokio flavour's
    pub(crate) fn consume_call_item(&mut self, ticket: CallTicket) {
        self.consume_call_items(ticket, 1);
    }

    /// The application took `items` items of a stream this side made.
    pub(crate) fn consume_call_items(&mut self, ticket: CallTicket, items: u32) {
        if self.is_live(ticket) {
            let _ = self.engine.consume(StreamId::Call(ticket.id), items);
        }
    }

    /// The handler took one item of a stream request.
    pub(crate) fn consume_request_item(&mut self, ticket: &Ticket) {
        if self.is_current(ticket) {
            let _ = self.engine.consume(StreamId::Request(ticket.id), 1);
        }
    }

    /// True while the request of `ticket` is still the one being served.
    fn is_current(&self, ticket: &Ticket) -> bool {
        ticket.generation == self.generation
            && self.requests.get(ticket.id.index()) == Some(&ticket.seq)
    }

    /// The request of `ticket`, if it is still served (for calls nested in it).
    pub(crate) fn current_request(&self, ticket: &Ticket) -> Option<RequestId> {
        self.is_current(ticket).then_some(ticket.id)
    }

    /// Closes the endpoint with `code` (the peer is told); every call ends with
    /// `ConnectionLost`.
    pub(crate) fn close(&mut self, code: WireError, sink: &mut impl Sink<W>) {
        self.engine.close_with(code);
        self.drain(sink);
        self.fail_all(sink, ClientError::ConnectionLost);
    }

    /// True while a session is established.
    pub(crate) fn is_connected(&self) -> bool {
        self.engine.is_connected()
    }

    /// True once a handshake completed since `new` or `restart`.
    pub(crate) fn has_connected(&self) -> bool {
        self.connected_once
    }

    /// How the core last ended a session or refused one, once.
    pub(crate) fn take_disconnect(&mut self) -> Option<Disconnect> {
        self.disconnect.take()
    }

    /// Keeps `why` for the next [`take_disconnect`](Self::take_disconnect).
    pub(crate) fn put_disconnect(&mut self, why: Disconnect) {
        self.disconnect = Some(why);
    }

    /// The endpoint's counters.
    pub(crate) fn stats(&self) -> Stats {
        self.engine.stats()
    }

    /// Whether a call that expects the peer to serve schema `expected` may start: an
    /// error once the handshake announced another one; fine before any handshake (the call
    /// cannot start yet anyway, and is checked again when it can).
    pub(crate) fn check_schema(&self, expected: Option<u32>) -> Result<(), ClientError> {
        match (expected, self.peer) {
            (Some(expected), Some(peer)) if peer.schema != expected => {
                Err(ClientError::IncompatibleSchema {
                    expected,
                    peer: peer.schema,
                })
            }
            _ => Ok(()),
        }
    }

    /// What the handshake learned about the peer, while a session is up.
    pub(crate) fn peer(&self) -> Option<PeerInfo> {
        self.peer
    }

    /// Asks the peer for its manifest from `offset`; pieces go to `slot`.
    pub(crate) fn request_manifest(
        &mut self,
        offset: u32,
        slot: &Arc<StreamSlot>,
    ) -> Result<(), CallError> {
        self.engine.request_manifest(offset)?;
        self.manifest = Some((slot.clone(), offset));
        Ok(())
    }

    /// Stops taking manifest pieces.
    pub(crate) fn forget_manifest(&mut self) {
        self.manifest = None;
    }

    /// The endpoint's settings.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// Drains the endpoint's events into `sink`; returns how many, and whether the sink
    /// asked to stop.
    fn drain(&mut self, sink: &mut impl Sink<W>) -> (usize, bool) {
        let mut count = 0;
        while let Some(ev) = self.engine.poll_event() {
            count += 1;
            let (mut requested, mut stop) = (None, false);
            // A request that ended or a method call refused, acted on once `ev` is done.
            let (mut settle, mut refuse) = (None, None);
            match ev {
                Event::Connected(peer) => {
                    self.connected_once = true;
                    self.peer = Some(peer);
                }
                Event::ManifestPiece {
                    total,
                    offset,
                    bytes,
                } => {
                    if let Some((slot, _)) = self.manifest.take_if(|(_, at)| *at == offset) {
                        let mut piece = Vec::with_capacity(8 + bytes.len());
                        piece.extend_from_slice(&total.to_le_bytes());
                        piece.extend_from_slice(&offset.to_le_bytes());
                        piece.extend_from_slice(bytes);
                        slot.push(&piece);
                    }
                }
                Event::Disconnected(why) => {
                    self.peer = None;
                    if let Some((slot, _)) = self.manifest.take() {
                        slot.end();
                    }
                    // Requests of the ended session were ended by the core; answers still
                    // being worked on must not reach the next one.
                    self.disconnect = Some(why);
                    self.generation += 1;
                    self.requests.fill(0);
                    end_all(&mut self.request_streams);
                    // Handles held died with the session (the core frees this side's
                    // exports and reports each).
                    self.held.end_session();
                }
                Event::Released { handle, .. } => self.exported.released(handle),
                Event::Revoked {
                    handle,
                    code,
                    reason,
                } => self.held.revoke(handle, code, reason),
                Event::Invoke {
                    id,
                    on,
                    method,
                    args,
                    ..
                } => {
                    let ticket =
                        hand_out(&mut self.next_seq, &mut self.requests, self.generation, id);
                    if matches!(on, Resolved::Pending(_)) && !self.serves_handles {
                        refuse = Some(ticket);
                    } else {
                        self.exported.invoked(id.index(), on);
                        stop = sink.request(ticket, method, args);
                    }
                }
                Event::Reply { id, payload } => {
                    end_one(&mut self.call_streams, id.index());
                    if let Some(w) = take_call(&mut self.calls, id) {
                        sink.completed(w, Ok(payload.to_vec()));
                    }
                }
                Event::CallFailed { id, reason, detail } => {
                    let err = match reason {
                        // A deadline is a deadline, whichever side noticed it first (both
                        // sides' timers fire at about the same moment).
                        CallFailure::Remote(WireError::DeadlineExceeded)
                        | CallFailure::DeadlineExceeded => ClientError::Timeout,
                        CallFailure::Remote(WireError::ItemLost) | CallFailure::ItemLost => {
                            ClientError::ItemLost
                        }
                        CallFailure::Remote(WireError::FlowControl) | CallFailure::FlowControl => {
                            ClientError::FlowControl
                        }
                        CallFailure::Idle => ClientError::Timeout,
                        CallFailure::Remote(e) => {
                            ClientError::Remote(e, String::from_utf8_lossy(detail).into_owned())
                        }
                        _ => ClientError::ConnectionLost,
                    };
                    end_one(&mut self.call_streams, id.index());
                    if let Some(w) = take_call(&mut self.calls, id) {
                        sink.completed(w, Err(err));
                    }
                }
                Event::Request {
                    id,
                    procedure,
                    args,
                    mode,
                    ..
                } => {
                    let ticket =
                        hand_out(&mut self.next_seq, &mut self.requests, self.generation, id);
                    stop = sink.request(ticket, procedure, args);
                    if mode != StreamMode::Call {
                        requested = Some((ticket, mode));
                    }
                }
                Event::RequestEnded { id, .. } => {
                    if let Some(s) = self.requests.get_mut(id.index()) {
                        *s = 0;
                    }
                    end_one(&mut self.request_streams, id.index());
                    self.exported.ended(id.index());
                    settle = Some(id.wire());
                }
                Event::Item { stream, item } => {
                    if let Some(slot) = slot_of(&self.call_streams, &self.request_streams, stream) {
                        slot.push(item);
                    }
                }
                Event::Credit { stream } => {
                    if let Some(slot) = slot_of(&self.call_streams, &self.request_streams, stream) {
                        slot.credit();
                    }
                }
                Event::ItemsEnded { id } => {
                    let stream = StreamId::Request(id);
                    if let Some(slot) = slot_of(&self.call_streams, &self.request_streams, stream) {
                        slot.items_ended();
                    }
                }
                _ => {}
            }
            if let Some(request) = settle {
                self.settled |= self.exported.settle(request, self.engine.as_ref());
            }
            if let Some(ticket) = refuse {
                let detail = "this side exports no objects";
                let _ = self
                    .engine
                    .respond_error(ticket.id, WireError::StaleHandle, detail);
                if let Some(s) = self.requests.get_mut(ticket.id.index()) {
                    *s = 0;
                }
            }
            // A stream request's slot, now that its arguments are no longer borrowed.
            if let Some((ticket, mode)) = requested {
                let slot = Arc::new(StreamSlot::default());
                if let Some(s) = self.request_streams.get_mut(ticket.id.index()) {
                    *s = Some(slot.clone());
                }
                sink.stream(ticket, mode, slot);
            }
            if stop {
                return (count, true);
            }
        }
        (count, false)
    }
}

/// The ticket of request `id`, handed out now: the next sequence number, recorded as the
/// request's (fields passed apart, as an event borrows the engine).
fn hand_out(next_seq: &mut u64, requests: &mut [u64], generation: u64, id: RequestId) -> Ticket {
    let seq = *next_seq;
    *next_seq += 1;
    if let Some(s) = requests.get_mut(id.index()) {
        *s = seq;
    }
    Ticket {
        generation,
        seq,
        id,
    }
}

/// The waiter of call `id`, taken out of its slot.
fn take_call<W>(calls: &mut [Option<(CallTicket, W)>], id: CallId) -> Option<W> {
    let slot = calls.get_mut(id.index())?;
    if slot.as_ref().is_some_and(|(c, _)| c.id == id) {
        slot.take().map(|(_, w)| w)
    } else {
        None
    }
}

/// Ends the stream in slot `index`, if any, and frees the slot.
fn end_one(slots: &mut [Option<Arc<StreamSlot>>], index: usize) {
    if let Some(slot) = slots.get_mut(index).and_then(Option::take) {
        slot.end();
    }
}

/// Ends every stream of a table.
fn end_all(slots: &mut [Option<Arc<StreamSlot>>]) {
    for index in 0..slots.len() {
        end_one(slots, index);
    }
}

/// The slot of a stream (the tables are passed apart so an event may borrow the engine).
fn slot_of<'a>(
    calls: &'a [Option<Arc<StreamSlot>>],
    requests: &'a [Option<Arc<StreamSlot>>],
    stream: StreamId,
) -> Option<&'a Arc<StreamSlot>> {
    match stream {
        StreamId::Call(id) => calls.get(id.index())?.as_ref(),
        StreamId::Request(id) => requests.get(id.index())?.as_ref(),
    }
}
