//! One endpoint with the host-side bookkeeping around it: who waits for which call, calls
//! queued until the link can take them, and the handler that serves requests.
//!
//! A `Session` is still sans-I/O: runners (a thread, a tokio task) feed it bytes, commands
//! and time, and write out what it returns. That is what lets the blocking and the async
//! flavours share everything but the waiting.

use std::collections::VecDeque;
use std::time::Duration;

use wirecall::{CallError, CallFailure, CallId, Config, Endpoint, Event, Instant, WireError};

/// The endpoint type of hosts: 4 KiB frames, 32 calls each way.
pub type HostEndpoint = Endpoint<4096, 32, 32, 8400>;

/// Why a call from a host did not produce a result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// The peer answered with this error and detail text.
    Remote(WireError, String),
    /// No answer before the deadline (noticed by this side, which told the peer to stop, or
    /// by the peer, which gave up at the same deadline).
    Timeout,
    /// The link dropped, the peer restarted, or the client was closed, before an answer.
    ConnectionLost,
    /// The arguments exceed the peer's frame limit.
    TooLarge,
    /// The result did not decode as the procedure's output type.
    Decode,
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Remote(e, d) if d.is_empty() => write!(f, "the device answered: {e}"),
            ClientError::Remote(e, d) => write!(f, "the device answered: {e}: {d}"),
            ClientError::Timeout => f.write_str("timed out waiting for the answer"),
            ClientError::ConnectionLost => f.write_str("the link was lost before an answer"),
            ClientError::TooLarge => f.write_str("the arguments exceed the device's frame limit"),
            ClientError::Decode => f.write_str("the answer did not decode as the expected type"),
        }
    }
}

impl std::error::Error for ClientError {}

/// The result of a call: the encoded output, or why there is none.
pub type CallOutcome = Result<Vec<u8>, ClientError>;

/// Who is told when a call ends (a channel sender wrapped in a closure, for any runtime).
pub(crate) type Completion = Box<dyn FnOnce(CallOutcome) + Send>;

/// Serves requests: procedure number and encoded arguments in, encoded result or wire error
/// (with a detail text) out.
///
/// The blocking runtime runs a handler on a worker thread of its own, so the link keeps
/// moving (keepalive included) while it works, however long it takes. In the tokio flavour
/// it runs inside the link's task: keep it well under three keepalive intervals (3 s by
/// default) there, or the peer declares the link dead.
pub trait Handler: Send {
    /// Answers one request.
    fn handle(&mut self, procedure: u32, args: &[u8]) -> Result<Vec<u8>, (WireError, String)>;
}

impl<F> Handler for F
where
    F: FnMut(u32, &[u8]) -> Result<Vec<u8>, (WireError, String)> + Send,
{
    fn handle(&mut self, procedure: u32, args: &[u8]) -> Result<Vec<u8>, (WireError, String)> {
        self(procedure, args)
    }
}

/// A request from the peer, handed out in deferred mode.
#[derive(Clone, Debug)]
pub struct ServeRequest {
    /// The session it belongs to.
    pub generation: u64,
    /// Unique per request handed out, so an answer cannot reach a later request that
    /// reuses the id.
    pub seq: u64,
    /// Its id, for the answer.
    pub id: wirecall::RequestId,
    /// The procedure number.
    pub procedure: u32,
    /// Encoded arguments.
    pub args: Vec<u8>,
}

/// A call waiting for room (before the handshake, or while the in-flight limit is reached).
struct Queued {
    procedure: u32,
    args: Vec<u8>,
    deadline: Instant,
    done: Completion,
}

/// An endpoint plus the host's bookkeeping. See the module docs.
pub struct Session {
    ep: Box<HostEndpoint>,
    /// Calls in flight, by id; a few dozen at most, so a vector beats a map.
    in_flight: Vec<(CallId, Completion)>,
    queued: VecDeque<Queued>,
    handler: Option<Box<dyn Handler>>,
    /// In deferred mode, requests waiting to be handed to a worker (see [`Session::deferred`]).
    deferred: Option<Vec<ServeRequest>>,
    /// Requests handed out and still active: id and the sequence number they were given.
    handed_out: Vec<(wirecall::RequestId, u64)>,
    next_seq: u64,
    /// Counts sessions (endpoints) so that a late answer never reaches a newer session.
    generation: u64,
    default_timeout: Duration,
    connected_once: bool,
    /// The last way the core ended the session, until a runner takes it.
    disconnect: Option<wirecall::Disconnect>,
}

impl Session {
    /// A session that starts its handshake at `now`; `handler` serves the peer's calls
    /// (without one, every request is answered `UnknownProcedure`).
    pub fn new(now: Instant, config: Config, handler: Option<Box<dyn Handler>>) -> Session {
        let default_timeout = Duration::from_micros(config.call_timeout.as_micros());
        Session {
            ep: Box::new(HostEndpoint::new(now, config)),
            in_flight: Vec::new(),
            queued: VecDeque::new(),
            handler,
            deferred: None,
            handed_out: Vec::new(),
            next_seq: 0,
            generation: 0,
            default_timeout,
            connected_once: false,
            disconnect: None,
        }
    }

    /// A session whose requests are not handled inline but handed out by
    /// [`take_requests`](Self::take_requests), to be answered later with
    /// [`answer_request`](Self::answer_request): the runner's I/O keeps moving (keepalive
    /// included) however long a handler takes.
    pub fn deferred(now: Instant, config: Config) -> Session {
        let mut session = Session::new(now, config, None);
        session.deferred = Some(Vec::new());
        session
    }

    /// Requests received since the last call, in deferred mode.
    pub fn take_requests(&mut self) -> Vec<ServeRequest> {
        self.deferred
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Answers a request handed out by [`take_requests`](Self::take_requests). An answer for
    /// an earlier session, or for a request that ended meanwhile (cancelled, expired), is
    /// dropped: nobody waits for it.
    pub fn answer_request(
        &mut self,
        now: Instant,
        request: &ServeRequest,
        answer: Result<Vec<u8>, (WireError, String)>,
        out: &mut Vec<u8>,
    ) {
        let current = self
            .handed_out
            .iter()
            .position(|&(id, seq)| id == request.id && seq == request.seq);
        if let (true, Some(i)) = (request.generation == self.generation, current) {
            self.handed_out.swap_remove(i);
            self.answer(request.id, answer, out);
            self.drain(now, out);
        }
    }

    /// The endpoint, for its statistics and state.
    pub fn endpoint(&self) -> &HostEndpoint {
        &self.ep
    }

    /// True once a handshake completed in this session (since `new` or `restart`).
    pub fn has_connected(&self) -> bool {
        self.connected_once
    }

    /// How the core last ended the session (idle link, peer closed, ...), once.
    pub fn take_disconnect(&mut self) -> Option<wirecall::Disconnect> {
        self.disconnect.take()
    }

    /// Starts a new session with a fresh endpoint at `now`. Calls in flight on the old
    /// endpoint end with `ConnectionLost`; calls still queued wait for the new handshake
    /// (a runner whose link dropped fails them first with [`fail_all`](Self::fail_all)).
    pub fn restart(&mut self, now: Instant, config: Config) {
        // Calls in flight belong to the old endpoint: nothing could ever complete them.
        for (_, done) in self.in_flight.drain(..) {
            done(Err(ClientError::ConnectionLost));
        }
        *self.ep = HostEndpoint::new(now, config);
        self.disconnect = None;
        self.connected_once = false;
        self.generation += 1;
        if let Some(waiting) = &mut self.deferred {
            waiting.clear();
        }
        self.handed_out.clear();
    }

    /// Starts a call; `done` is told its outcome, exactly once.
    pub(crate) fn call(
        &mut self,
        now: Instant,
        procedure: u32,
        args: Vec<u8>,
        timeout: Option<Duration>,
        done: Completion,
        out: &mut Vec<u8>,
    ) {
        let timeout = timeout.unwrap_or(self.default_timeout);
        let deadline = now + to_core(timeout);
        self.queued.push_back(Queued {
            procedure,
            args,
            deadline,
            done,
        });
        self.start_queued(now);
        self.drain(now, out);
    }

    /// Feeds bytes from the link; what to send goes to `out`.
    pub fn input(&mut self, now: Instant, mut bytes: &[u8], out: &mut Vec<u8>) {
        while !bytes.is_empty() {
            let n = self.ep.handle_input(now, bytes);
            bytes = &bytes[n..];
            self.drain(now, out);
        }
    }

    /// Processes deadlines due by `now`.
    pub fn timeout(&mut self, now: Instant, out: &mut Vec<u8>) {
        self.ep.handle_timeout(now);
        let (expired, kept): (Vec<_>, Vec<_>) =
            self.queued.drain(..).partition(|q| now >= q.deadline);
        self.queued = kept.into();
        for q in expired {
            (q.done)(Err(ClientError::Timeout));
        }
        self.drain(now, out);
    }

    /// When [`timeout`](Self::timeout) next has work.
    pub fn next_timeout(&self) -> Option<Instant> {
        let queued = self.queued.iter().map(|q| q.deadline).min();
        match (self.ep.poll_timeout(), queued) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Ends every call, in flight or queued, with `ConnectionLost` (the link is gone).
    pub fn fail_all(&mut self) {
        for (_, done) in self.in_flight.drain(..) {
            done(Err(ClientError::ConnectionLost));
        }
        for q in self.queued.drain(..) {
            (q.done)(Err(ClientError::ConnectionLost));
        }
    }

    /// Closes the endpoint (the peer is told); every call ends with `ConnectionLost`.
    pub fn close(&mut self, now: Instant, out: &mut Vec<u8>) {
        self.ep.close();
        self.drain(now, out);
        self.fail_all();
    }

    /// Moves queued calls into the endpoint while it takes them.
    fn start_queued(&mut self, now: Instant) {
        while let Some(q) = self.queued.pop_front() {
            // The peer gets what is left of the caller's deadline, so both give up together.
            let remaining = q.deadline.saturating_since(now);
            if remaining == wirecall::Duration::ZERO {
                (q.done)(Err(ClientError::Timeout));
                continue;
            }
            match self
                .ep
                .call_with_timeout(now, q.procedure, &q.args[..], remaining)
            {
                Ok(id) => self.in_flight.push((id, q.done)),
                Err(CallError::TooLarge) => (q.done)(Err(ClientError::TooLarge)),
                Err(CallError::Encode) => (q.done)(Err(ClientError::TooLarge)),
                Err(CallError::Closed) => (q.done)(Err(ClientError::ConnectionLost)),
                Err(_) => {
                    // Not connected yet, the in-flight limit, or a full transmit queue: wait.
                    self.queued.push_front(q);
                    return;
                }
            }
        }
    }

    /// Drains events and transmit after any input or command.
    fn drain(&mut self, now: Instant, out: &mut Vec<u8>) {
        loop {
            let mut progressed = false;
            while let Some(ev) = self.ep.poll_event() {
                progressed = true;
                match ev {
                    Event::Connected(_) => self.connected_once = true,
                    Event::Disconnected(why) => {
                        // The core ended the session (every request of it ended): answers
                        // still being worked on belong to it and must not reach the next.
                        self.disconnect = Some(why);
                        self.generation += 1;
                        if let Some(waiting) = &mut self.deferred {
                            waiting.clear();
                        }
                        self.handed_out.clear();
                    }
                    Event::Reply { id, payload } => {
                        let payload = payload.to_vec();
                        self.complete(id, Ok(payload));
                    }
                    Event::CallFailed { id, reason, detail } => {
                        let err = match reason {
                            // A deadline is a deadline, whichever side noticed it first (both
                            // sides' timers fire at about the same moment).
                            CallFailure::Remote(WireError::DeadlineExceeded) => {
                                ClientError::Timeout
                            }
                            CallFailure::Remote(e) => {
                                ClientError::Remote(e, String::from_utf8_lossy(detail).into_owned())
                            }
                            CallFailure::DeadlineExceeded => ClientError::Timeout,
                            _ => ClientError::ConnectionLost,
                        };
                        self.complete(id, Err(err));
                    }
                    Event::Request {
                        id,
                        procedure,
                        args,
                    } => {
                        if let Some(waiting) = &mut self.deferred {
                            let seq = self.next_seq;
                            self.next_seq += 1;
                            self.handed_out.push((id, seq));
                            waiting.push(ServeRequest {
                                generation: self.generation,
                                seq,
                                id,
                                procedure,
                                args: args.to_vec(),
                            });
                            continue;
                        }
                        let answer = match &mut self.handler {
                            Some(h) => h.handle(procedure, args),
                            None => Err((WireError::UnknownProcedure, String::new())),
                        };
                        self.answer(id, answer, out);
                    }
                    Event::RequestEnded { id, .. } => self.handed_out.retain(|&(r, _)| r != id),
                    _ => {}
                }
            }
            let mut buf = [0u8; 512];
            loop {
                let n = self.ep.poll_transmit(&mut buf);
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
                progressed = true;
            }
            let before = self.queued.len();
            self.start_queued(now);
            if !progressed && self.queued.len() == before {
                return;
            }
        }
    }

    fn complete(&mut self, id: CallId, outcome: CallOutcome) {
        if let Some(i) = self.in_flight.iter().position(|(c, _)| *c == id) {
            let (_, done) = self.in_flight.swap_remove(i);
            done(outcome);
        }
    }

    fn answer(
        &mut self,
        id: wirecall::RequestId,
        answer: Result<Vec<u8>, (WireError, String)>,
        out: &mut Vec<u8>,
    ) {
        // A full transmit queue is drained into `out` and the answer retried; any other
        // refusal is turned into the error the caller should see.
        loop {
            let r = match &answer {
                Ok(bytes) => match self.ep.respond(id, &bytes[..]) {
                    Err(wirecall::RespondError::TooLarge) => self.ep.respond_error(
                        id,
                        WireError::TooLarge,
                        "result exceeds the frame limit",
                    ),
                    other => other,
                },
                Err((code, detail)) => self.ep.respond_error(id, *code, detail),
            };
            match r {
                Err(wirecall::RespondError::WouldBlock) => {
                    let mut buf = [0u8; 512];
                    let n = self.ep.poll_transmit(&mut buf);
                    out.extend_from_slice(&buf[..n]);
                    if n == 0 {
                        return;
                    }
                }
                _ => return,
            }
        }
    }
}

fn to_core(d: Duration) -> wirecall::Duration {
    wirecall::Duration::from_micros(d.as_micros().min(u128::from(u64::MAX)) as u64)
}
