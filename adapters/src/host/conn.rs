//! The blocking runner: one link driven by whichever threads need it, with no thread of
//! its own in the path of a call.
//!
//! Two roles exist per link, each held by at most one thread at a time:
//!
//! * **the reader** reads the link, feeds the session, hands each outcome straight to the
//!   thread waiting for it and serves requests. A client's calling thread becomes the
//!   reader while it waits for its own reply (and passes the role to another waiting
//!   caller when it has it: the leader/follower pattern), so one call in flight costs no
//!   thread hand-off at all. A server connection's own thread reads otherwise.
//! * **the writer** moves what the session has queued to the link, all of it in one write.
//!   Whoever queued something becomes the writer if nobody is; otherwise the writer of the
//!   moment takes it along in its next write, which is how calls made meanwhile are
//!   batched.
//!
//! A request is served on the thread that read it. Before running the handler that thread
//! gives up the read role; if the handler is still running a couple of milliseconds later
//! and nobody reads, the runtime's watchdog lends the link another thread (see
//! `runtime.rs`). Quick handlers therefore cost nothing, and slow ones never stop the link.
//!
//! Nothing is queued without bound: the read buffer, the write buffer and the endpoint are
//! fixed; when the endpoint stops taking input (its transmit queue is full), the reader
//! writes or waits for room instead of reading on; a call that cannot start makes its own
//! thread wait.

use std::io::{Read, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant as StdInstant};

use wirecall::{Disconnect, Open, StreamMode, WireError};

use super::link::{is_transient, Link, LinkGuard, WRITE_STALL};
use super::runtime::Runtime;
use super::session::{Answered, CallOutcome, ClientError, Handler, Session, Sink, Start, Ticket};
use super::slot::StreamSlot;
use super::waiter::{Waiter, Woken};

mod manifest;
mod streams;

pub(crate) use streams::Target;

/// Bytes read from the link at once (and so the most that waits in the read buffer).
const READ_BUF: usize = 16 * 1024;

/// Bytes written to the link at once (and so the most taken out of the endpoint's
/// transmit queue and not yet written).
const WRITE_BUF: usize = 16 * 1024;

/// How long a request a stream's handler read and left for another thread waits for one
/// when the runtime has none to lend, before it is answered `Busy` (see
/// [`Conn::refuse_deferred`]). Long next to a quick handler, so that a busy pool serves
/// it late rather than refuse it, and next to a server's read tick (250 ms), so that a lent
/// thread reading a quiet link can move over; short next to a stream that waits for its
/// peer. Three times as long while a lent thread is only reading (it may be on its way).
pub(crate) const DEFERRED_PATIENCE: Duration = Duration::from_millis(300);

/// After a call, the client's I/O thread leaves the reading to callers this long, so that
/// back-to-back calls each read their own reply instead of being handed it.
pub(crate) const LINGER: Duration = Duration::from_millis(20);

type Guard<'a> = MutexGuard<'a, State>;

/// One link and the session on it, shared by every thread that uses them.
pub(crate) struct Conn {
    st: Mutex<State>,
    /// Signalled when the read or write role frees, when transmit room appears, when a
    /// session starts, when the link goes and on close.
    changed: Condvar,
    /// Held while a thread fetches the peer's manifest: the session takes the pieces of one
    /// fetch at a time, so a second waits for the first.
    fetching: Mutex<()>,
    handler: Option<Arc<dyn Handler>>,
    runtime: Arc<Runtime>,
    /// End the link when the core ends the session (sockets, pipes); a serial line stays
    /// and waits for the next host's handshake instead.
    end_on_disconnect: bool,
}

/// What the lock protects. Fields are private to this module: threads change them only
/// through `Conn`'s methods.
pub(crate) struct State {
    session: Session<Arc<Waiter>>,
    link: Option<Attached>,
    /// Counts links, so that a role holder of a link already replaced drops its half.
    gen: u64,
    reading: bool,
    writing: bool,
    /// Callers waiting for their reply who are not reading: candidates to take the role.
    followers: Vec<Arc<Waiter>>,
    /// Callers waiting to start a call (for a session, a slot, or room to send).
    starting: usize,
    /// Threads consuming or producing a stream this side opened: while there are any,
    /// they read the link themselves and the client's I/O thread leaves it to them.
    streaming: usize,
    /// Batches open (`Client::batch`): idle ticks leave their requests unwritten.
    open_batches: usize,
    /// A reader waiting for transmit room (the endpoint stopped taking input).
    reader_waits_room: bool,
    /// Since when nobody reads because the reader went to serve a request.
    unread_since: Option<StdInstant>,
    /// A request read by a handler that was waiting on its own stream, left for another
    /// thread to serve (the connection's own, or a lent one). Nobody reads while it waits.
    deferred: Option<Deferred>,
    /// The connection's own thread waits to read again.
    home_waiting: bool,
    /// When a caller last started a call (the client's I/O thread leaves reading to
    /// callers for [`LINGER`] after it).
    last_call: StdInstant,
    /// When the link came, for the handshake deadline.
    attached_at: StdInstant,
    closed: bool,
    /// Why calls that cannot start will never start (a client that will not reconnect).
    terminal: Option<ClientError>,
    /// The last connection attempt was refused with this code (a call that times out
    /// waiting for a session says so).
    refused: Option<WireError>,
    /// How the core ended the last link that ended before a handshake completed on it.
    handshake_failure: Option<Disconnect>,
}

/// A link in use; its halves are out while a thread holds the matching role.
struct Attached {
    reader: Option<Box<dyn Read + Send>>,
    writer: Option<Box<dyn Write + Send>>,
    rbuf: Option<ReadBuf>,
    /// Bytes taken from the endpoint and not yet written (a writer that gave up left them).
    pending: WriteBuf,
    /// Writes have made no progress since.
    stalled_since: Option<StdInstant>,
    down: bool,
    _guard: LinkGuard,
}

/// Bytes read and not yet taken by the endpoint.
struct ReadBuf {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

/// Bytes taken from the endpoint, waiting to be written: `buf[start..end]`.
#[derive(Default)]
struct WriteBuf {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl WriteBuf {
    fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// A request to be served by another thread than the one that read it.
struct Deferred {
    /// When it was read (it is refused with `Busy` once it has waited and no thread can
    /// take it; see [`Conn::refuse_deferred`]).
    at: StdInstant,
    ticket: Ticket,
    procedure: u32,
    args: Vec<u8>,
    stream: Option<(StreamMode, Arc<StreamSlot>)>,
}

/// The read role, out of the lock.
pub(crate) struct ReadRole {
    reader: Box<dyn Read + Send>,
    buf: ReadBuf,
    gen: u64,
}

/// When a reader gives the role up.
pub(crate) enum Until<'a> {
    /// A calling thread: at its own outcome or deadline.
    Outcome(&'a Waiter, StdInstant),
    /// The client's I/O thread: as soon as callers are active, or at `StdInstant`.
    Idle(StdInstant),
    /// A server connection's own thread: never (until the link goes).
    LinkDown,
    /// A thread lent by the watchdog: when the connection's own thread wants the role back,
    /// or another link needs the thread more.
    Lent,
    /// A thread that waits on a stream: when it is ready (an item or its end; with a credit
    /// count, new credit or the end), or at `StdInstant`. With `defer` (a handler, which
    /// must not serve another request on its stack) a request it reads is left to another
    /// thread, and it stops.
    Stream {
        slot: &'a StreamSlot,
        credits: Option<u64>,
        until: StdInstant,
        defer: bool,
    },
}

/// A call that was started and whose outcome is still to be collected.
pub(crate) struct Started {
    pub(crate) id: super::session::CallTicket,
    /// The session the call was started in.
    pub(crate) generation: u64,
    waiter: Arc<Waiter>,
    deadline: StdInstant,
}

impl Started {
    /// What a [`CallCanceller`](super::CallCanceller) needs of the call.
    pub(crate) fn cancel_parts(&self) -> (super::session::CallTicket, Arc<Waiter>) {
        (self.id, self.waiter.clone())
    }

    /// True once the call's outcome was delivered.
    pub(crate) fn is_answered(&self) -> bool {
        self.waiter.is_answered()
    }

    /// When the caller gives up on it.
    pub(crate) fn deadline(&self) -> StdInstant {
        self.deadline
    }
}

/// Collects what one step of input produced.
#[derive(Default)]
struct Collected {
    done: Vec<(Arc<Waiter>, CallOutcome)>,
    request: Option<(Ticket, u32)>,
    args: Vec<u8>,
    /// The request is a stream: its mode and slot.
    stream: Option<(StreamMode, Arc<StreamSlot>)>,
}

impl Sink<Arc<Waiter>> for Collected {
    fn completed(&mut self, waiter: Arc<Waiter>, outcome: CallOutcome) {
        self.done.push((waiter, outcome));
    }
    fn request(&mut self, ticket: Ticket, procedure: u32, args: &[u8]) -> bool {
        self.args.clear();
        self.args.extend_from_slice(args);
        self.request = Some((ticket, procedure));
        self.stream = None;
        true
    }
    fn stream(&mut self, _: Ticket, mode: StreamMode, slot: Arc<StreamSlot>) {
        self.stream = Some((mode, slot));
    }
}

impl Collected {
    /// Hands the outcomes over (outside the lock: waking a thread is a system call).
    fn deliver(&mut self) {
        for (w, o) in self.done.drain(..) {
            w.deliver(o);
        }
    }
}

impl Conn {
    pub(crate) fn new(
        mut session: Session<Arc<Waiter>>,
        handler: Option<Arc<dyn Handler>>,
        runtime: Arc<Runtime>,
        end_on_disconnect: bool,
    ) -> Arc<Conn> {
        let now = StdInstant::now();
        session.set_serves_handles(handler.as_ref().is_some_and(|h| h.exports()));
        Arc::new(Conn {
            st: Mutex::new(State {
                session,
                link: None,
                gen: 0,
                reading: false,
                writing: false,
                followers: Vec::new(),
                starting: 0,
                streaming: 0,
                open_batches: 0,
                reader_waits_room: false,
                unread_since: None,
                deferred: None,
                home_waiting: false,
                last_call: now,
                attached_at: now,
                closed: false,
                terminal: None,
                refused: None,
                handshake_failure: None,
            }),
            changed: Condvar::new(),
            fetching: Mutex::new(()),
            handler,
            runtime,
            end_on_disconnect,
        })
    }

    pub(crate) fn lock(&self) -> Guard<'_> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, st: Guard<'a>, until: Option<StdInstant>) -> Guard<'a> {
        match until {
            None => self.changed.wait(st).unwrap_or_else(|e| e.into_inner()),
            Some(t) => {
                let left = t.saturating_duration_since(StdInstant::now());
                self.changed
                    .wait_timeout(st, left)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0)
            }
        }
    }

    /// Puts `link` in use with a fresh session (the previous one, if any, ends: its calls
    /// fail with `ConnectionLost`).
    pub(crate) fn attach(&self, link: Link, fresh: bool) {
        let (reader, writer, guard) = link.split();
        let mut st = self.lock();
        let mut sink = Collected::default();
        if fresh {
            st.session.restart(super::now(), &mut sink);
        }
        st.gen += 1;
        st.reading = false;
        st.deferred = None; // a request of the last link's session
        st.writing = false;
        st.attached_at = StdInstant::now();
        st.link = Some(Attached {
            reader: Some(reader),
            writer: Some(writer),
            rbuf: Some(ReadBuf {
                buf: vec![0; READ_BUF].into_boxed_slice(),
                start: 0,
                end: 0,
            }),
            pending: WriteBuf {
                buf: vec![0; WRITE_BUF].into_boxed_slice(),
                start: 0,
                end: 0,
            },
            stalled_since: None,
            down: false,
            _guard: guard,
        });
        // The first Hello goes out now, not at the first timer.
        st.session.timeout(super::now(), &mut sink);
        let st = self.flush(st, Some(StdInstant::now() + super::link::TICK));
        drop(st);
        sink.deliver();
        self.changed.notify_all();
        self.runtime.wake();
    }

    /// Releases the link (if any): it is shut down, and threads holding its halves let go
    /// of them within a tick. Calls in flight fail with `ConnectionLost` unless the session
    /// goes on (a serial line keeps its session until the core ends it).
    pub(crate) fn detach(&self, fail_calls: bool) {
        let mut st = self.lock();
        let mut sink = Collected::default();
        st.link = None;
        st.gen += 1;
        st.reading = false;
        st.writing = false;
        st.deferred = None; // its ticket is for a session that is over
        st.followers.clear();
        if fail_calls {
            st.session.fail_all(&mut sink, ClientError::ConnectionLost);
        }
        drop(st);
        sink.deliver();
        self.changed.notify_all();
    }

    /// Closes the session with `code` (the peer is told, as far as it can be written
    /// within a tick), fails every call and releases the link. Later calls fail at once.
    pub(crate) fn close(&self, code: WireError) {
        let mut st = self.lock();
        let mut sink = Collected::default();
        st.deferred = None;
        if !st.closed {
            st.closed = true;
            st.session.close(code, &mut sink);
            st = self.flush(st, Some(StdInstant::now() + super::link::TICK));
        }
        st.terminal = Some(ClientError::ConnectionLost);
        st.link = None;
        st.gen += 1;
        st.followers.clear();
        drop(st);
        sink.deliver();
        self.changed.notify_all();
    }

    /// From now on, calls that cannot start fail with `error` instead of waiting.
    pub(crate) fn set_terminal(&self, error: ClientError) {
        self.lock().terminal = Some(error);
        self.changed.notify_all();
    }

    /// Records whether the last connection attempt was refused.
    pub(crate) fn note_refusal(&self, code: Option<WireError>) {
        self.lock().refused = code;
    }

    /// Records how the core ended the last link (`None` if it did not, or if a session
    /// was established on the link).
    pub(crate) fn note_handshake_failure(&self, why: Option<Disconnect>) {
        self.lock().handshake_failure = why;
    }

    /// How the core ended the last link that ended without a session, if it said.
    pub(crate) fn handshake_failure(&self) -> Option<Disconnect> {
        self.lock().handshake_failure
    }

    /// True once calls that cannot start fail at once: the client was closed, or will
    /// not reconnect and its link is gone.
    pub(crate) fn is_over(&self) -> bool {
        self.lock().terminal.is_some()
    }

    /// Waits until the connection is closed, or `until`.
    pub(crate) fn wait_closed(&self, until: StdInstant) {
        let mut st = self.lock();
        while !st.closed && StdInstant::now() < until {
            st = self.wait(st, Some(until));
        }
    }

    /// True while a link is attached and not known to be down.
    pub(crate) fn link_up(&self) -> bool {
        self.lock().link.as_ref().is_some_and(|a| !a.down)
    }

    /// True once closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// The endpoint's counters, and whether a session is established now.
    /// The configured default deadline of a call.
    pub(crate) fn call_timeout(&self) -> wirecall::Duration {
        self.lock().session.config().call_timeout
    }

    pub(crate) fn stats(&self) -> (wirecall::Stats, bool) {
        let st = self.lock();
        (st.session.stats(), Self::session_up(&st))
    }

    /// True while a session is established on a link that is still up. The endpoint alone
    /// cannot say: a link that ends without a Disconnect frame (a killed peer, an unplugged
    /// cable) leaves it believing in the session until the next link restarts it.
    fn session_up(st: &State) -> bool {
        st.link.as_ref().is_some_and(|a| !a.down) && st.session.is_connected()
    }

    /// True once a handshake completed on the current link.
    pub(crate) fn has_connected(&self) -> bool {
        self.lock().session.has_connected()
    }

    /// Takes how the core last ended (or refused) a session.
    pub(crate) fn take_disconnect(&self) -> Option<Disconnect> {
        self.lock().session.take_disconnect()
    }

    // ---- calls -------------------------------------------------------------------------

    /// Calls `procedure` and waits for the outcome, reading the link itself while it waits
    /// if nobody else does.
    pub(crate) fn call(&self, procedure: u32, args: &[u8], timeout: Duration) -> CallOutcome {
        let started = self.start(None, procedure, args, timeout, true)?;
        self.finish(&started)
    }

    /// Starts a call: waits (up to its deadline) only for a session, a free slot or room to
    /// send, and returns. With `send`, the request is written now if no other thread is
    /// writing; without, it waits in the endpoint for the next write (see
    /// [`close_batch`](Self::close_batch)), so that several go out in one. With `schema`,
    /// the call starts only in a session whose peer announced that schema hash.
    pub(crate) fn start(
        &self,
        schema: Option<u32>,
        procedure: u32,
        args: &[u8],
        timeout: Duration,
        send: bool,
    ) -> Result<Started, ClientError> {
        let deadline = StdInstant::now() + super::capped(timeout);
        self.start_open(
            schema,
            procedure,
            args,
            Open::call(),
            None,
            deadline,
            Some(deadline),
            send,
            None,
        )
    }

    /// Starts a method call on `target`, a handle of session `generation`: it fails with
    /// `StaleHandle` (without being sent) once that session is over.
    pub(crate) fn start_on(
        &self,
        target: wirecall::Target,
        generation: u64,
        method: u32,
        args: &[u8],
        timeout: Duration,
        send: bool,
    ) -> Result<Started, ClientError> {
        let deadline = StdInstant::now() + super::capped(timeout);
        self.start_open(
            None,
            method,
            args,
            Open::call().on(target),
            None,
            deadline,
            Some(deadline),
            send,
            Some(generation),
        )
    }

    /// Starts a call made as `how` says, its stream meeting the application at `slot`:
    /// waits up to `start_by` for a session, a slot or room; the call's deadline is
    /// `deadline` (none: a stream without one, see [`Open::timeout`]). With `schema`, it
    /// starts only in a session whose peer announced that schema hash, and fails with
    /// `IncompatibleSchema` in one whose peer announced another.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_open(
        &self,
        schema: Option<u32>,
        procedure: u32,
        args: &[u8],
        how: Open,
        slot: Option<Arc<StreamSlot>>,
        start_by: StdInstant,
        deadline: Option<StdInstant>,
        send: bool,
        on_generation: Option<u64>,
    ) -> Result<Started, ClientError> {
        let waiter = Arc::new(Waiter::default());
        let mut st = self.lock();
        let mut flushed = false;
        let id = loop {
            if st.closed {
                return Err(ClientError::ConnectionLost);
            }
            if on_generation.is_some_and(|g| g != st.session.generation()) {
                return Err(ClientError::Remote(
                    WireError::StaleHandle,
                    "the handle belongs to a session that has ended".into(),
                ));
            }
            let left = start_by.saturating_duration_since(StdInstant::now());
            // A link known to be down is about to be replaced with a fresh session: a call
            // sent now would be lost with it, so it waits for the next one.
            let link_down = st.link.as_ref().is_none_or(|a| a.down);
            if !link_down {
                st.session.check_schema(schema)?;
            }
            let start = match deadline {
                _ if link_down => Start::Wait(waiter.clone()),
                Some(d) if d <= StdInstant::now() => {
                    Start::Failed(waiter.clone(), ClientError::Timeout)
                }
                Some(d) => {
                    let left = d.saturating_duration_since(StdInstant::now());
                    st.session.open(
                        super::now(),
                        procedure,
                        args,
                        how.with_timeout(super::to_core(left)),
                        waiter.clone(),
                        slot.clone(),
                    )
                }
                None => st.session.open(
                    super::now(),
                    procedure,
                    args,
                    how,
                    waiter.clone(),
                    slot.clone(),
                ),
            };
            match start {
                Start::Started(id) => break id,
                Start::Failed(_, e) => return Err(e),
                Start::Wait(_) => {
                    if let Some(e) = st.terminal.clone() {
                        return Err(e);
                    }
                    if left.is_zero() {
                        return Err(st
                            .refused
                            .map_or(ClientError::Timeout, ClientError::Refused));
                    }
                    if !flushed {
                        // Requests held back in a batch (this thread's or another's) may be
                        // what fills the transmit queue, and their replies are what frees
                        // slots: out with them, and try again at once.
                        st = self.flush(st, Some(start_by));
                        flushed = true;
                        continue;
                    }
                    flushed = false;
                    st.starting += 1;
                    if st.starting == 1 && !st.reading {
                        // The replies that free a slot need a reader: the I/O thread.
                        self.changed.notify_all();
                    }
                    st = self.wait(st, Some(start_by));
                    st.starting -= 1;
                }
            }
        };
        st.last_call = StdInstant::now();
        let generation = st.session.generation();
        if send {
            drop(self.flush(
                st,
                Some(start_by.max(StdInstant::now() + super::link::TICK)),
            ));
        }
        Ok(Started {
            id,
            generation,
            waiter,
            // A stream without a deadline waits for its end however long it takes (the
            // core's idle timeout bounds a silent one).
            deadline: deadline.unwrap_or_else(far_future),
        })
    }

    /// A batch opens: until it closes, requests started without `send` are written only
    /// when something else has to be (a call, an answer, a timer, a full queue).
    pub(crate) fn open_batch(&self) {
        self.lock().open_batches += 1;
    }

    /// A batch closes: what waits in the endpoint is written (unless another thread is
    /// writing and so takes it along), within `deadline` if given.
    pub(crate) fn close_batch(&self, deadline: Option<StdInstant>) {
        let mut st = self.lock();
        st.open_batches = st.open_batches.saturating_sub(1);
        let deadline = deadline.unwrap_or_else(|| StdInstant::now() + super::link::TICK);
        drop(self.flush(st, Some(deadline)));
    }

    /// Cancels a started call from any thread (the peer is told) and hands its waiter
    /// `Cancelled`, so that a thread blocked on it returns at once; false if it had ended.
    pub(crate) fn cancel_started(&self, id: super::session::CallTicket, waiter: &Waiter) -> bool {
        let mut st = self.lock();
        if !st.session.cancel_call(id) {
            return false;
        }
        // Under the lock, so that no outcome can be delivered between the two: the call is
        // no longer live, so its answer, should one arrive, goes nowhere.
        waiter.deliver(Err(ClientError::Cancelled));
        drop(self.flush(st, Some(StdInstant::now() + super::link::TICK)));
        self.changed.notify_all();
        true
    }

    /// Gives up on a started call without waiting for it: the peer is told to stop.
    /// Returns false if the call had already ended.
    pub(crate) fn abandon(&self, started: &Started) -> bool {
        let mut st = self.lock();
        if st.session.cancel_call(started.id) {
            drop(self.flush(st, Some(StdInstant::now() + super::link::TICK)));
            return true;
        }
        false
    }

    /// Registers `handle`, received now, for revocations; and where its release goes.
    pub(crate) fn hold(
        &self,
        handle: wirecall::Handle,
    ) -> (Arc<super::objects::HeldState>, super::objects::ReleaseQueue) {
        let mut st = self.lock();
        (st.session.hold(handle), st.session.releases())
    }

    /// `Err` with the answer to give if the export table is full now.
    pub(crate) fn export_room(&self) -> Result<(), (WireError, String)> {
        let st = self.lock();
        if st.session.can_export() {
            Ok(())
        } else {
            Err((WireError::TooManyHandles, st.session.table_full_detail()))
        }
    }

    /// Where dropped handles queue their release.
    pub(crate) fn releases(&self) -> super::objects::ReleaseQueue {
        self.lock().session.releases()
    }

    /// Writes what the session has queued if nobody holds the connection now (a dropped
    /// handle's release); otherwise whoever holds it writes it along with its own.
    pub(crate) fn poke(&self) {
        let st = match self.st.try_lock() {
            Ok(st) => st,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return,
        };
        drop(self.flush(st, Some(StdInstant::now() + super::link::TICK)));
    }

    /// Waits for a started call's outcome, reading the link itself while nobody else does.
    pub(crate) fn finish(&self, started: &Started) -> CallOutcome {
        let (id, waiter, deadline) = (started.id, &started.waiter, started.deadline);
        loop {
            if let Some(o) = waiter.take() {
                return self.leave(waiter, o);
            }
            let mut st = self.lock();
            if let Some(o) = waiter.take() {
                drop(st);
                return self.leave(waiter, o);
            }
            // Requests started without being sent (this call's among them) go out before
            // anyone waits for their replies.
            st = self.flush(st, Some(deadline));
            if let Some(o) = waiter.take() {
                drop(st);
                return self.leave(waiter, o);
            }
            if StdInstant::now() >= deadline {
                // The endpoint's deadline for the call is this same instant: let it end
                // the call (the peer is told), or end it here if the clocks' rounding left
                // it a microsecond to go.
                let mut sink = Collected::default();
                st.session.timeout(super::now(), &mut sink);
                st.session.cancel_call(id);
                let st = self.flush(st, Some(StdInstant::now() + super::link::TICK));
                drop(st);
                sink.deliver();
                let o = waiter.take().unwrap_or(Err(ClientError::Timeout));
                return self.leave(waiter, o);
            }
            if st.deferred.is_some() && !st.reading {
                // A caller serves requests it reads; it serves the one a
                // handler left, too, rather than wait for another thread to.
                drop(st);
                self.serve_deferred();
                continue;
            }
            if self.can_read(&st) {
                let role = Self::take_read_role(&mut st);
                drop(st);
                if let Some(role) = role {
                    self.lead(role, Until::Outcome(waiter, deadline));
                }
                continue;
            }
            if st.link.is_none() && st.terminal.is_some() {
                // No link and none coming: nothing can answer.
                let _ = st.session.cancel_call(id);
                let o = waiter.take().unwrap_or_else(|| {
                    Err(st.terminal.clone().unwrap_or(ClientError::ConnectionLost))
                });
                drop(st);
                return self.leave(waiter, o);
            }
            // Followers that got their outcome are dropped lazily (here, and when one is
            // promoted), so a woken caller does not take the lock again to leave the list.
            if st.followers.len() >= 64 {
                st.followers.retain(|w| !w.is_answered());
            }
            st.followers.push(waiter.clone());
            drop(st);
            if waiter.wait_until(deadline) == Woken::Promoted {
                continue; // take the read role at the top of the loop
            }
        }
    }

    /// Returns `outcome` from [`finish`](Self::finish). The waiter is retired first, so
    /// that nobody promotes it or counts it as a caller waiting; a promotion that reached
    /// it together with its outcome (or after its deadline) goes to the next follower.
    fn leave(&self, waiter: &Waiter, outcome: CallOutcome) -> CallOutcome {
        if waiter.retire() {
            let mut st = self.lock();
            if !st.reading && !Self::promote_next(&mut st) {
                drop(st);
                self.changed.notify_all(); // the I/O thread or a server's thread may read
            }
        }
        outcome
    }

    /// Asks the most recent follower still waiting to take the read role; false if none.
    fn promote_next(st: &mut State) -> bool {
        while let Some(next) = st.followers.pop() {
            if !next.is_answered() {
                next.promote();
                return true;
            }
        }
        false
    }

    fn can_read(&self, st: &State) -> bool {
        !st.reading
            && st.deferred.is_none()
            && !st.closed
            && st
                .link
                .as_ref()
                .is_some_and(|a| !a.down && a.reader.is_some())
    }

    /// Takes the read role (the caller checked [`can_read`](Self::can_read)).
    fn take_read_role(st: &mut State) -> Option<ReadRole> {
        let gen = st.gen;
        let a = st.link.as_mut()?;
        let reader = a.reader.take()?;
        let Some(buf) = a.rbuf.take() else {
            a.reader = Some(reader);
            return None;
        };
        st.reading = true;
        st.unread_since = None;
        Some(ReadRole { reader, buf, gen })
    }

    /// Gives the read role back, and if calls wait for replies, asks one of their threads to
    /// read next.
    fn release_read_role(&self, st: &mut State, role: ReadRole) {
        if role.gen != st.gen {
            return; // that link is gone
        }
        if let Some(a) = st.link.as_mut() {
            a.reader = Some(role.reader);
            a.rbuf = Some(role.buf);
        }
        st.reading = false;
        Self::promote_next(st);
        if st.home_waiting {
            self.changed.notify_all();
        }
    }

    // ---- reading -------------------------------------------------------------------------

    /// Reads the link and acts on what arrives until `until` says stop or the link goes.
    pub(crate) fn lead(&self, mut role: ReadRole, until: Until<'_>) {
        let mut got = Collected::default();
        loop {
            // Bytes a previous reader left (the endpoint had stopped taking them) come first.
            let mut down = false;
            if role.buf.start == role.buf.end {
                role.buf.start = 0;
                role.buf.end = 0;
                match role.reader.read(&mut role.buf.buf) {
                    Ok(0) => down = true,
                    Ok(n) => role.buf.end = n,
                    Err(e) if is_transient(&e) => {}
                    Err(_) => down = true,
                }
            }
            let mut st = self.lock();
            if role.gen != st.gen || st.closed {
                if role.gen == st.gen {
                    st.reading = false;
                }
                return; // the link was replaced or closed meanwhile: drop this half
            }
            if down {
                self.mark_down(&mut st);
                st.reading = false;
                return;
            }
            let now = super::now();
            let was_connected = st.session.is_connected();
            let taken = st.session.input(
                now,
                role.buf
                    .buf
                    .get(role.buf.start..role.buf.end)
                    .unwrap_or(&[]),
                &mut got,
            );
            role.buf.start += taken;
            let events = !got.done.is_empty() || got.request.is_some();
            if self.end_on_disconnect && Self::session_ended(&mut st) {
                // What the core said last (a Close, the answers before it) goes out first.
                st = self.flush(st, Some(StdInstant::now() + super::link::TICK));
                self.mark_down(&mut st);
            }
            // Slots freed, or a session came up: calls waiting to start may start now. A
            // peer that answers this side's Hello with a reply alone (one that kept its
            // session) leaves nothing to write, so no write would wake them either.
            let connected = !was_connected && st.session.is_connected();
            if (!got.done.is_empty() || connected) && st.starting > 0 {
                self.changed.notify_all();
            }
            // What the input produced (pongs, Busy, answers) goes out now, unless more
            // input waits in the buffer: then it goes out with the answers to that, in one
            // write (a batch of requests gets a batch of replies).
            // A read that brought nothing (a tick) writes only what is not held back in an
            // open batch.
            let more = role.buf.start < role.buf.end;
            let nothing = taken == 0 && !events && !more;
            if (!more || (taken == 0 && !events)) && !(nothing && st.open_batches > 0) {
                st = self.flush(st, None);
            }
            if st.link.as_ref().is_some_and(|a| a.down) {
                // The link's owner (the I/O thread, the connection's thread) releases it.
                st.reading = false;
                drop(st);
                got.deliver();
                return;
            }
            if let (Some((ticket, procedure)), Until::Stream { defer: true, .. }) =
                (got.request, &until)
            {
                // Left for the connection's own thread or a lent one; nobody reads until
                // it is taken (see `can_read`).
                got.request = None;
                st.deferred = Some(Deferred {
                    at: StdInstant::now(),
                    ticket,
                    procedure,
                    args: std::mem::take(&mut got.args),
                    stream: got.stream.take(),
                });
                self.release_read_role(&mut st, role);
                st.unread_since = Some(StdInstant::now());
                drop(st);
                got.deliver();
                self.changed.notify_all();
                self.runtime.wake();
                return;
            }
            if got.request.is_some() {
                self.release_read_role(&mut st, role);
                st.unread_since = Some(StdInstant::now());
                drop(st);
                got.deliver();
                self.runtime.note_inline();
                let (ticket, procedure) = got.request.take().unwrap_or_else(|| unreachable!());
                let stream = got.stream.take();
                let mut st = self.serve(&ticket, procedure, &got.args, stream);
                // Read on if nobody took over (the answer then leaves with the next batch,
                // or at once if nothing more is buffered); the connection's own thread
                // waits for the role otherwise, any other thread leaves.
                let stay = !self.should_stop(&st, &until) && self.can_read(&st);
                let buffered = st
                    .link
                    .as_ref()
                    .and_then(|a| a.rbuf.as_ref())
                    .is_some_and(|b| b.start < b.end);
                if !(stay && buffered) {
                    st = self.flush(st, None);
                }
                if self.should_stop(&st, &until) {
                    return;
                }
                loop {
                    if self.can_read(&st) {
                        break;
                    }
                    if !matches!(until, Until::LinkDown) || st.closed || st.link.is_none() {
                        return;
                    }
                    if st.deferred.is_some() {
                        // The connection's own thread serves what a handler left.
                        drop(st);
                        self.serve_deferred();
                        st = self.lock();
                        continue;
                    }
                    if st.link.as_ref().is_some_and(|a| a.down) {
                        return;
                    }
                    st.home_waiting = true;
                    st = self.wait(st, None);
                    st.home_waiting = false;
                }
                match Self::take_read_role(&mut st) {
                    Some(r) => role = r,
                    None => return,
                }
                continue;
            }
            // The endpoint stopped taking input: its transmit queue is full and someone else
            // is writing. Wait for room rather than read on (backpressure reaches the link).
            if taken == 0 && !events && role.buf.start < role.buf.end {
                st.reader_waits_room = true;
                let limit = match until {
                    Until::Outcome(_, d) => Some(d.min(StdInstant::now() + super::link::TICK)),
                    _ => Some(StdInstant::now() + super::link::TICK),
                };
                st = self.wait(st, limit);
                st.reader_waits_room = false;
            }
            // Outcomes are handed over before deciding whether to stop: one of them may be
            // this thread's own.
            got.deliver();
            if self.should_stop(&st, &until) {
                self.release_read_role(&mut st, role);
                return;
            }
        }
    }

    /// True while the client's I/O thread should leave the reading to calling threads: one
    /// waits for its reply without reading (it would rather read itself than be handed the
    /// reply), or a call started lately (its thread is about to wait). Calls started and
    /// not waited for (see `PendingCall::is_ready`), and threads waiting to start a call
    /// for a free slot, leave the reading to the I/O thread.
    fn callers_read(st: &State) -> bool {
        st.followers.iter().any(|w| !w.is_answered())
            || st.streaming > 0
            || (st.last_call.elapsed() < LINGER && st.starting == 0)
    }

    fn should_stop(&self, st: &State, until: &Until<'_>) -> bool {
        match until {
            Until::Outcome(w, deadline) => w.is_answered() || StdInstant::now() >= *deadline,
            Until::Idle(at) => Self::callers_read(st) || StdInstant::now() >= *at,
            Until::LinkDown => false,
            // A lent thread gives the link back to its own thread, and moves on when another
            // link waits for a thread while this one has a stream's thread that can read it
            // (otherwise it would sit on a quiet link while requests elsewhere get `Busy`).
            Until::Lent => st.home_waiting || (st.streaming > 0 && self.runtime.links_waiting()),
            Until::Stream {
                slot,
                credits,
                until,
                ..
            } => slot.ready(*credits) || StdInstant::now() >= *until,
        }
    }

    /// Runs the handler for one request and queues its answer (written when the
    /// endpoint's queue is full, otherwise left for the caller to write).
    fn serve(
        &self,
        ticket: &Ticket,
        procedure: u32,
        args: &[u8],
        stream: Option<(StreamMode, Arc<StreamSlot>)>,
    ) -> Guard<'_> {
        // A method call made on the handle that another request returns waits for that
        // request's answer (which settles it), within the call's deadline.
        let target = match self.invocation(ticket) {
            Ok(t) => t,
            Err(answer) => {
                let mut st = self.lock();
                let _ = st.session.answer(ticket, &answer);
                st = self.flush(st, Some(StdInstant::now() + super::link::TICK));
                return st;
            }
        };
        let (mut exported, mut revoke) = (None, None);
        let on = target.as_ref().map(|(_, _, h)| *h);
        let answer = match &self.handler {
            Some(h) => {
                let target = target.map(|(o, i, _)| (o, i));
                let mut request =
                    super::Request::new(self, *ticket, procedure, args, stream).on(target);
                let answer = h.serve(&mut request);
                exported = request.exported.take();
                revoke = request.revoke.take();
                answer
            }
            None => Err((WireError::UnknownProcedure, String::new())),
        };
        let mut st = self.lock();
        loop {
            let answered = match (&exported, &answer) {
                (Some((object, interface)), Ok(_)) => {
                    st.session.answer_export(ticket, object, *interface)
                }
                _ => st.session.answer(ticket, &answer),
            };
            if st.session.take_settled() {
                self.changed.notify_all(); // method calls waiting for this answer's handle
            }
            match answered {
                Answered::NoRoom if !st.closed && st.link.is_some() => {
                    st = self.flush(st, Some(StdInstant::now() + WRITE_STALL));
                    if st.writing {
                        st = self.wait(st, Some(StdInstant::now() + super::link::TICK));
                    }
                }
                _ => break,
            }
        }
        if let (Some(handle), Some((code, reason))) = (on, revoke) {
            // After the answer: the caller gets it, then the revocation.
            st.session.revoke_after_answer(handle, code, reason);
        }
        st
    }

    /// What the method call of `ticket` is made on, once it is known: `None` for a plain
    /// request; `Err` is the answer for a call on nothing live.
    #[allow(clippy::type_complexity)]
    fn invocation(
        &self,
        ticket: &Ticket,
    ) -> Result<
        Option<(super::objects::Object, u8, wirecall::Handle)>,
        Result<Vec<u8>, (WireError, String)>,
    > {
        use super::objects::Invocation;
        let mut st = self.lock();
        loop {
            if st.session.current_request(ticket).is_none() {
                // Over (cancelled, expired, the session ended): nothing is answered.
                return Err(Err((WireError::Cancelled, String::new())));
            }
            match st.session.invocation(ticket) {
                None => return Ok(None),
                Some(Invocation::Object(o, i, h)) => return Ok(Some((o, i, h))),
                Some(Invocation::Stale) => {
                    return Err(Err((
                        WireError::StaleHandle,
                        "the call it was made on returned no handle".into(),
                    )))
                }
                // The request's answer notifies; the tick bounds a missed wake-up, and the
                // core's deadline ends the call (the ticket then goes stale).
                Some(Invocation::Waiting(_)) => {
                    st = self.wait(st, Some(StdInstant::now() + super::link::TICK));
                }
            }
        }
    }

    /// True if the core ended the session in a way that ends the link: a peer that
    /// restarted is already talking to this side again on the same link.
    fn session_ended(st: &mut State) -> bool {
        match st.session.take_disconnect() {
            Some(Disconnect::PeerRestarted) | None => false,
            Some(why) => {
                // Put it back for the link's owner (a client reports refusals).
                st.session.put_disconnect(why);
                true
            }
        }
    }

    fn mark_down(&self, st: &mut State) {
        if let Some(a) = st.link.as_mut() {
            a.down = true;
        }
        self.changed.notify_all();
        self.runtime.wake();
    }

    // ---- writing -------------------------------------------------------------------------

    /// Writes what the session has to send if nobody else is writing (whoever is will take
    /// it along). Gives up the role, leaving the rest for the next writer, at `deadline`.
    pub(crate) fn flush<'a>(
        &'a self,
        mut st: Guard<'a>,
        deadline: Option<StdInstant>,
    ) -> Guard<'a> {
        if st.writing {
            return st;
        }
        let gen = st.gen;
        let Some(a) = st.link.as_mut().filter(|a| !a.down) else {
            return st;
        };
        let Some(mut writer) = a.writer.take() else {
            return st;
        };
        let mut buf = std::mem::take(&mut a.pending);
        st.writing = true;
        let mut moved = false;
        loop {
            // Top up from the endpoint: everything queued goes in one write.
            if buf.is_empty() {
                (buf.start, buf.end) = (0, 0);
            }
            if buf.end < buf.buf.len() {
                let n = st
                    .session
                    .transmit(buf.buf.get_mut(buf.end..).unwrap_or(&mut []));
                buf.end += n;
                moved |= n > 0;
                if n > 0 && (st.starting > 0 || st.reader_waits_room) {
                    self.changed.notify_all(); // room in the transmit queue
                }
            }
            if buf.is_empty() {
                break;
            }
            drop(st);
            let bytes = buf.buf.get(buf.start..buf.end).unwrap_or(&[]);
            let result = writer.write(bytes).and_then(|n| writer.flush().map(|()| n));
            st = self.lock();
            if st.gen != gen {
                return st; // the link went meanwhile
            }
            let now = StdInstant::now();
            let Some(a) = st.link.as_mut() else {
                return st;
            };
            match result {
                Ok(0) => {
                    a.down = true;
                    break;
                }
                Ok(n) => {
                    buf.start = (buf.start + n).min(buf.end);
                    a.stalled_since = None;
                    moved = true;
                }
                Err(e) if is_transient(&e) => {
                    let since = *a.stalled_since.get_or_insert(now);
                    if now.duration_since(since) >= WRITE_STALL {
                        a.down = true; // the peer stopped reading
                        break;
                    }
                }
                Err(_) => {
                    a.down = true;
                    break;
                }
            }
            if deadline.is_some_and(|d| now >= d) && !buf.is_empty() {
                break; // the rest waits for the next writer
            }
        }
        st.writing = false;
        let down = st.link.as_ref().is_some_and(|a| a.down);
        if let Some(a) = st.link.as_mut() {
            a.writer = Some(writer);
            a.pending = buf;
        }
        if down {
            self.mark_down(&mut st);
        }
        // Threads waiting for room, or to write what this writer left, look again; a
        // flush that found nothing to write wakes nobody (two threads waiting to start
        // calls would otherwise wake each other in turn).
        let left = st.link.as_ref().is_some_and(|a| !a.pending.is_empty());
        if (moved || down || left) && (st.starting > 0 || st.reader_waits_room) {
            self.changed.notify_all();
        }
        st
    }

    // ---- the runtime's rounds ----------------------------------------------------------------

    /// Runs due timers, retries pending writes for a tick, and says when this link next
    /// needs the runtime, and whether it needs another reader now (a handler has held the
    /// link for `promote_after` with nobody reading).
    pub(crate) fn tick(&self, promote_after: Duration) -> (Option<StdInstant>, bool) {
        let mut st = self.lock();
        if st.closed || st.link.is_none() {
            return (None, false);
        }
        let now = super::now();
        let mut sink = Collected::default();
        let fired = st.session.next_timeout().is_some_and(|t| t <= now);
        if fired {
            st.session.timeout(now, &mut sink);
        }
        if self.end_on_disconnect && Self::session_ended(&mut st) {
            st = self.flush(st, Some(StdInstant::now() + super::link::TICK));
            self.mark_down(&mut st);
        }
        // A peer that never completes the handshake is given up on like a silent one.
        let keepalive = super::from_core(st.session.config().keepalive);
        let handshake_by = st.attached_at + keepalive * 3;
        if self.end_on_disconnect
            && !st.session.has_connected()
            && StdInstant::now() >= handshake_by
        {
            self.mark_down(&mut st);
        }
        if !sink.done.is_empty() && st.starting > 0 {
            self.changed.notify_all();
        }
        // What a timer queued goes out (with anything held back in a batch); otherwise
        // an open batch keeps its requests.
        let left = st.link.as_ref().is_some_and(|a| !a.pending.is_empty());
        if fired || left || st.open_batches == 0 || st.starting > 0 {
            st = self.flush(st, Some(StdInstant::now() + super::link::TICK));
        }
        let pending = st.link.as_ref().is_some_and(|a| !a.pending.is_empty());
        // A link whose peer does not read gets no more readers: they would only serve more
        // requests whose answers cannot be sent.
        let lend = self.handler.is_some()
            && !st.reading
            && st
                .link
                .as_ref()
                .is_some_and(|a| !a.down && a.stalled_since.is_none())
            && (st.deferred.is_some()
                || st
                    .unread_since
                    .is_some_and(|t| t.elapsed() >= promote_after));
        let mut next = st.session.next_timeout().map(super::from_core_instant);
        if pending {
            next = Some(StdInstant::now() + super::link::TICK);
        }
        if let Some(d) = &st.deferred {
            // Served by then, or refused if no thread can take it (`refuse_deferred`); the
            // runtime lends a thread at once if it has one.
            let waited = d.at.elapsed();
            let by = if waited < DEFERRED_PATIENCE {
                d.at + DEFERRED_PATIENCE
            } else if waited < DEFERRED_PATIENCE * 3 {
                d.at + DEFERRED_PATIENCE * 3
            } else {
                StdInstant::now() + super::link::TICK // the transmit queue was full
            };
            next = Some(next.map_or(by, |n| n.min(by)));
        }
        if self.end_on_disconnect && !st.session.has_connected() {
            next = Some(next.map_or(handshake_by, |n| n.min(handshake_by)));
        }
        drop(st);
        sink.deliver();
        (next, lend)
    }

    /// Serves the deferred request, if any, on this thread; true if there was one.
    fn serve_deferred(&self) -> bool {
        let mut st = self.lock();
        let Some(d) = st.deferred.take() else {
            return false;
        };
        if st.closed {
            return false;
        }
        // Reading may go on now: a follower promoted while the request waited
        // found nothing to take.
        if !st.reading {
            Self::promote_next(&mut st);
        }
        drop(st);
        self.runtime.note_inline();
        let st = self.serve(&d.ticket, d.procedure, &d.args, d.stream);
        drop(self.flush(st, None));
        self.changed.notify_all(); // reading may go on
        true
    }

    /// Answers the deferred request with `Busy` if it has waited [`DEFERRED_PATIENCE`]
    /// while the connection's own thread was busy, and the runtime has no thread to lend:
    /// every thread that could serve it is running a handler, maybe one waiting for this
    /// very peer's stream items or credit, which nobody reads while the request waits.
    /// Refusing it lets reading go on (a handler waiting on its stream takes the role
    /// again), so the peer's items, pings and further requests are heard.
    ///
    /// With `lent_reading` (a lent thread is only reading some link, and moves over when
    /// that link has a stream's thread to read it), it waits three times as long.
    pub(crate) fn refuse_deferred(&self, lent_reading: bool) {
        let mut st = self.lock();
        if st.home_waiting || st.closed || st.link.is_none() {
            return; // the connection's own thread takes it
        }
        let patience = if lent_reading {
            DEFERRED_PATIENCE * 3
        } else {
            DEFERRED_PATIENCE
        };
        let Some(d) = st.deferred.take_if(|d| d.at.elapsed() >= patience) else {
            return;
        };
        let busy = Err((
            WireError::Busy,
            "every thread of the server is serving another request".to_owned(),
        ));
        if st.session.answer(&d.ticket, &busy) == Answered::NoRoom {
            st.deferred = Some(d); // the transmit queue is full: the next round tries again
            return;
        }
        if !st.reading {
            Self::promote_next(&mut st);
        }
        drop(self.flush(st, Some(StdInstant::now() + super::link::TICK)));
        self.changed.notify_all();
    }

    /// Reads for the connection while its own thread is busy (a lent thread).
    pub(crate) fn lend_reader(&self) {
        self.serve_deferred();
        let mut st = self.lock();
        if !self.can_read(&st) {
            return;
        }
        let role = Self::take_read_role(&mut st);
        drop(st);
        if let Some(role) = role {
            self.runtime.reading(true);
            self.lead(role, Until::Lent);
            self.runtime.reading(false);
        }
    }

    /// The connection's own thread: reads until the link goes or the connection closes.
    pub(crate) fn serve_home(&self) {
        loop {
            if self.serve_deferred() {
                continue;
            }
            let mut st = self.lock();
            if st.closed || st.link.as_ref().is_none_or(|a| a.down) {
                return;
            }
            if self.can_read(&st) {
                let role = Self::take_read_role(&mut st);
                drop(st);
                if let Some(role) = role {
                    self.lead(role, Until::LinkDown);
                }
                continue;
            }
            st.home_waiting = true;
            st = self.wait(st, Some(StdInstant::now() + super::link::TICK));
            st.home_waiting = false;
        }
    }

    /// The client's I/O thread between calls: reads while no caller does (keepalive,
    /// requests from the peer, replies nobody waits for yet), leaving the reading to
    /// callers while one waits for its reply or has just started a call.
    pub(crate) fn idle_read(&self, until: StdInstant) {
        self.serve_deferred();
        let mut st = self.lock();
        let quiet = !Self::callers_read(&st);
        if quiet && self.can_read(&st) {
            let role = Self::take_read_role(&mut st);
            drop(st);
            if let Some(role) = role {
                self.lead(role, Until::Idle(until));
            }
            return;
        }
        let wake = until.min(StdInstant::now() + LINGER);
        drop(self.wait(st, Some(wake)));
    }
}

/// A deadline that never comes (for streams without one).
fn far_future() -> StdInstant {
    StdInstant::now() + super::FAR_FUTURE
}
