//! The blocking runner: one I/O thread owns a [`Session`]; a reader thread per link turns
//! blocking reads into messages on the same channel as client commands, so the I/O thread
//! waits on one thing: the next message or the session's next deadline.

use std::io::{Read, Write};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use wirecall::Disconnect;

use super::link::{is_transient, Link, LinkGuard};
use super::session::{Completion, Handler, ServeRequest, Session};

/// What the I/O thread is told. Link messages carry the generation of the link they came
/// from, so a reader of a link already replaced cannot feed the new session.
pub(crate) enum Msg {
    Bytes(u64, Vec<u8>),
    Eof(u64),
    Call {
        procedure: u32,
        args: Vec<u8>,
        timeout: Option<Duration>,
        done: Completion,
    },
    Stats(Box<dyn FnOnce(wirecall::Stats, bool) + Send>),
    /// A worker's answer to a request.
    Answer(ServeRequest, Result<Vec<u8>, (wirecall::WireError, String)>),
    Close,
}

/// Starts the thread that runs `handler`: the I/O thread feeds it requests, it answers
/// through the I/O thread's channel. It ends when its request channel closes (after the
/// request in hand).
pub(crate) fn spawn_worker(
    mut handler: Box<dyn Handler>,
    answers: Sender<Msg>,
) -> std::io::Result<Sender<ServeRequest>> {
    let (tx, rx) = std::sync::mpsc::channel::<ServeRequest>();
    std::thread::Builder::new()
        .name("wirecall-handler".into())
        .spawn(move || {
            for request in rx {
                let answer = handler.handle(request.procedure, &request.args);
                if answers.send(Msg::Answer(request, answer)).is_err() {
                    return;
                }
            }
        })?;
    Ok(tx)
}

/// Why a session on a link ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The link dropped, or the core declared it dead or closed by the peer.
    LinkDown,
    /// The application closed (or every client handle was dropped).
    Closed,
}

/// A link being driven: its writer, its guard, its generation.
pub(crate) struct Active {
    writer: Box<dyn Write + Send>,
    guard: Option<LinkGuard>,
    /// The reader thread, joined on release when the link's closer can wake it: the link is
    /// then fully released (a serial port unlocked, a socket closed) when `Active` is gone.
    reader: Option<std::thread::JoinHandle<()>>,
    generation: u64,
}

impl Drop for Active {
    fn drop(&mut self) {
        drop(self.guard.take()); // wakes the reader: shutdown, kill, or the serial stop flag
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// Starts the reader thread of `link` and returns the rest; fails only if no thread can be
/// started (the link is then released).
pub(crate) fn attach(link: Link, generation: u64, tx: Sender<Msg>) -> std::io::Result<Active> {
    let wakes_reader = link.wakes_reader;
    let (mut reader, writer, guard) = link.split();
    let thread = std::thread::Builder::new()
        .name("wirecall-reader".into())
        .spawn(move || {
            let mut buf = vec![0u8; 4096];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if tx.send(Msg::Bytes(generation, buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                    Err(e) if is_transient(&e) => continue,
                    Err(_) => break,
                }
            }
            let _ = tx.send(Msg::Eof(generation));
        })?;
    Ok(Active {
        writer,
        guard: Some(guard),
        reader: wakes_reader.then_some(thread),
        generation,
    })
}

/// Runs `session` over the `active` link until the link goes down or the application
/// closes. Without a link (`None`, while reconnecting) it still takes calls and runs
/// deadlines, and returns `LinkDown` at `until`, when the next connection attempt is due.
///
/// With `end_on_disconnect`, a session the core ends (idle link, peer closed) also ends the
/// run, so the link is released; without it (a serial line, which has no connection to
/// drop) the core simply waits for the next handshake on the same link.
pub(crate) fn run(
    session: &mut Session,
    active: &mut Option<Active>,
    rx: &Receiver<Msg>,
    until: Option<std::time::Instant>,
    end_on_disconnect: bool,
    worker: Option<&Sender<ServeRequest>>,
) -> Ended {
    let mut out = Vec::new();
    // A fresh session's Hello goes out now, not at its first timer.
    session.timeout(super::now(), &mut out);
    if !write_out(active, &mut out) {
        return Ended::LinkDown;
    }
    // A peer that never completes the handshake is given up on like a silent one: after
    // three keepalive intervals (a listener's connection closes; a client reconnects).
    let keepalive = Duration::from_micros(session.endpoint().config().keepalive.as_micros());
    let handshake_by = std::time::Instant::now() + keepalive * 3;
    loop {
        if end_on_disconnect
            && active.is_some()
            && !session.endpoint().is_connected()
            && !session.has_connected()
            && std::time::Instant::now() >= handshake_by
        {
            return Ended::LinkDown;
        }
        let left = until.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        if left == Some(Duration::ZERO) {
            return Ended::LinkDown;
        }
        let now = super::now();
        let next = session
            .next_timeout()
            .map(|t| Duration::from_micros(t.saturating_since(now).as_micros()));
        let wait = match (next, left) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let wait = if end_on_disconnect && active.is_some() && !session.has_connected() {
            Some(
                wait.unwrap_or(Duration::MAX)
                    .min(handshake_by.saturating_duration_since(std::time::Instant::now())),
            )
        } else {
            wait
        };
        let msg = match wait {
            Some(w) => rx.recv_timeout(w),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        let now = super::now();
        let generation = active.as_ref().map(|a| a.generation);
        match msg {
            Ok(Msg::Bytes(g, bytes)) if Some(g) == generation => {
                session.input(now, &bytes, &mut out)
            }
            Ok(Msg::Eof(g)) if Some(g) == generation => return Ended::LinkDown,
            Ok(Msg::Bytes(..) | Msg::Eof(_)) => {} // from a link already replaced
            Ok(Msg::Call {
                procedure,
                args,
                timeout,
                done,
            }) => session.call(now, procedure, args, timeout, done, &mut out),
            Ok(Msg::Stats(reply)) => reply(
                *session.endpoint().stats(),
                session.endpoint().is_connected(),
            ),
            Ok(Msg::Answer(request, answer)) => {
                session.answer_request(now, &request, answer, &mut out)
            }
            Ok(Msg::Close) | Err(RecvTimeoutError::Disconnected) => {
                session.close(now, &mut out);
                write_out(active, &mut out);
                return Ended::Closed;
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        // Deadlines run whenever they are due, even while messages keep arriving.
        if session.next_timeout().is_some_and(|t| t <= now) {
            session.timeout(now, &mut out);
        }
        if let Some(worker) = worker {
            for request in session.take_requests() {
                let _ = worker.send(request);
            }
        }
        if !write_out(active, &mut out) {
            return Ended::LinkDown;
        }
        if let Some(why) = session.take_disconnect() {
            // The core ended the session; a restarted peer is already reconnected by it.
            if end_on_disconnect && active.is_some() && !matches!(why, Disconnect::PeerRestarted) {
                return Ended::LinkDown;
            }
        }
    }
}

/// Writes what the session produced; false if the link failed. Without a link, the bytes
/// (handshake retries) have nowhere to go and are dropped.
fn write_out(active: &mut Option<Active>, out: &mut Vec<u8>) -> bool {
    if out.is_empty() {
        return true;
    }
    let ok = match active {
        Some(a) => a
            .writer
            .write_all(out)
            .and_then(|()| a.writer.flush())
            .is_ok(),
        None => true,
    };
    out.clear();
    ok
}
