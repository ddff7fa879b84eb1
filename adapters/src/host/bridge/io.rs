//! The bridge's threads and their hand-offs: one reader per link, a writer per front, a
//! timer. Every one of them runs the forwarder under one lock for the few microseconds of
//! a step, and never holds it while it reads or writes a socket.
//!
//! Who writes what: a thread writes its own link and the back (or upstream) itself; bytes
//! for another front go to that front's writer thread (one wake-up). So no thread that
//! reads the back (or the upstream, or runs the timer) ever writes a front, and a front
//! that stops reading stalls only its own writer (and its own reader, held back by its
//! full queue). The back's reader waits only for the back's and the upstream's room
//! (`Forwarder::may_take_input`): what it decodes for a full front waits in that front's
//! pairs. A front whose writer makes no progress for [`WRITE_STALL`] is closed, alone.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant as StdInstant};

use super::forward::Forwarder;
use super::pairs::Side;
use crate::host::link::{is_transient, LinkGuard, TICK, WRITE_STALL};

/// Bytes read from a link at once.
pub(crate) const READ_BUF: usize = 16 * 1024;
/// Bytes taken out of an endpoint's transmit queue and written at once.
pub(crate) const WRITE_BUF: usize = 16 * 1024;

/// The write half of one link.
pub(crate) struct Out {
    pub(crate) side: Side,
    writer: Mutex<(Box<dyn Write + Send>, Vec<u8>)>,
    /// A front's writer thread has something to write.
    wake: Mutex<bool>,
    cv: Condvar,
    /// Dropped to end the link (its reader then returns).
    pub(crate) guard: Mutex<Option<LinkGuard>>,
    pub(crate) gone: AtomicBool,
}

impl Out {
    pub(crate) fn new(side: Side, writer: Box<dyn Write + Send>, guard: LinkGuard) -> Arc<Out> {
        Arc::new(Out {
            side,
            writer: Mutex::new((writer, vec![0; WRITE_BUF])),
            wake: Mutex::new(false),
            cv: Condvar::new(),
            guard: Mutex::new(Some(guard)),
            gone: AtomicBool::new(false),
        })
    }

    /// Ends the link: its reader sees the end within a tick.
    pub(crate) fn close(&self) {
        self.gone.store(true, Ordering::SeqCst);
        drop(lock(&self.guard).take());
        *lock(&self.wake) = true;
        self.cv.notify_all();
    }
}

/// What the threads share.
pub(crate) struct Shared {
    pub(crate) fwd: Mutex<Forwarder>,
    pub(crate) outs: Mutex<HashMap<Side, Arc<Out>>>,
    pub(crate) stop: AtomicBool,
    /// Writers signal room after each write; readers held back by a full queue wait on it.
    room: (Mutex<u64>, Condvar),
    /// The timer's next wake-up (µs on the host clock), and its wake.
    next_timer: AtomicU64,
    timer: (Mutex<()>, Condvar),
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn new(fwd: Forwarder) -> Arc<Shared> {
        Arc::new(Shared {
            fwd: Mutex::new(fwd),
            outs: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            room: (Mutex::new(0), Condvar::new()),
            next_timer: AtomicU64::new(u64::MAX),
            timer: (Mutex::new(()), Condvar::new()),
        })
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Runs one step of the forwarder, then sends what it queued on its way (from
    /// `own`, the side whose thread this is).
    pub(crate) fn step<R>(&self, own: Option<Side>, f: impl FnOnce(&mut Forwarder) -> R) -> R {
        let (r, pending, next) = {
            let mut fwd = lock(&self.fwd);
            let r = f(&mut fwd);
            (r, fwd.pending_sides(), fwd.poll_timeout())
        };
        self.schedule(next);
        self.dispatch(own, &pending);
        r
    }

    /// Writes the back's and `own`'s bytes on this thread; wakes the writers of others.
    pub(crate) fn dispatch(&self, own: Option<Side>, pending: &[Side]) {
        for &side in pending {
            let Some(out) = lock(&self.outs).get(&side).cloned() else {
                continue;
            };
            match side {
                Side::Front(_) if Some(side) != own => {
                    *lock(&out.wake) = true;
                    out.cv.notify_one();
                }
                _ => self.flush(&out),
            }
        }
    }

    /// Moves the endpoint's queued bytes to the link until none is left.
    pub(crate) fn flush(&self, out: &Out) {
        let mut w = lock(&out.writer);
        let (writer, buf) = &mut *w;
        loop {
            let n = lock(&self.fwd).poll_transmit(out.side, buf);
            if n == 0 || out.gone.load(Ordering::SeqCst) {
                break;
            }
            if !write_all(writer.as_mut(), buf.get(..n).unwrap_or_default()) {
                drop(w);
                out.close(); // the peer stopped reading or the link broke
                break;
            }
            let (count, cv) = &self.room;
            *lock(count) += 1;
            cv.notify_all();
        }
    }

    /// A front's writer thread: writes whenever woken, until its link is gone.
    pub(crate) fn write_loop(&self, out: &Out) {
        while !out.gone.load(Ordering::SeqCst) && !self.stopping() {
            {
                let mut woken = lock(&out.wake);
                while !*woken && !self.stopping() {
                    woken = out
                        .cv
                        .wait_timeout(woken, TICK)
                        .map_or_else(|e| e.into_inner().0, |r| r.0);
                }
                *woken = false;
            }
            self.flush(out);
        }
    }

    /// Reads `side`'s link into the forwarder until it ends. Input waits while the
    /// endpoints it would command have no room: the socket is then not read (backpressure).
    pub(crate) fn read_loop(&self, side: Side, reader: &mut dyn Read, out: &Out) {
        let mut buf = vec![0u8; READ_BUF];
        while !self.stopping() && !out.gone.load(Ordering::SeqCst) {
            let n = match reader.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) if is_transient(&e) => continue,
                Err(_) => return,
            };
            let mut off = 0;
            while off < n {
                let Some(chunk) = buf.get(off..n) else { break };
                let taken = self.step(Some(side), |f| match f.may_take_input(side) {
                    true => f.handle_input(crate::host::now(), side, chunk),
                    false => 0,
                });
                off += taken;
                if taken == 0 {
                    if self.stopping() || out.gone.load(Ordering::SeqCst) {
                        return;
                    }
                    self.wait_room();
                }
            }
        }
    }

    /// Waits until a writer wrote something (or a tick).
    fn wait_room(&self) {
        let (count, cv) = &self.room;
        let seen = *lock(count);
        let g = lock(count);
        if *g == seen {
            let _ = cv.wait_timeout(g, Duration::from_millis(5));
        }
    }

    /// Sleeps `d`, or less if the bridge stops meanwhile (a reconnect's backoff).
    pub(crate) fn sleep(&self, d: Duration) {
        let until = StdInstant::now() + d;
        while !self.stopping() {
            let left = until.saturating_duration_since(StdInstant::now());
            if left.is_zero() {
                return;
            }
            let g = lock(&self.timer.0);
            let _ = self.timer.1.wait_timeout(g, left.min(TICK));
        }
    }

    /// Wakes the timer if `next` is earlier than it planned.
    fn schedule(&self, next: Option<wirecall::Instant>) {
        let at = next.map_or(u64::MAX, |t| t.as_micros());
        if self.next_timer.fetch_min(at, Ordering::SeqCst) > at {
            let _g = lock(&self.timer.0);
            self.timer.1.notify_all();
        }
    }

    /// The timer thread: runs the endpoints' deadlines, keepalives and retransmits.
    pub(crate) fn timer_loop(&self) {
        while !self.stopping() {
            let next = self.step(None, |f| {
                f.handle_timeout(crate::host::now());
                f.poll_timeout()
            });
            let at = next.map_or(u64::MAX, |t| t.as_micros());
            self.next_timer.store(at, Ordering::SeqCst);
            let wait = next.map_or(TICK, |t| {
                crate::host::from_core(t.saturating_since(crate::host::now())).min(TICK)
            });
            let g = lock(&self.timer.0);
            if self.next_timer.load(Ordering::SeqCst) >= at {
                let _ = self.timer.1.wait_timeout(g, wait);
            }
        }
    }
}

/// Writes all of `bytes`, retrying through the link's ticks; false when the link broke or
/// made no progress for [`WRITE_STALL`].
fn write_all(w: &mut dyn Write, mut bytes: &[u8]) -> bool {
    let mut stalled: Option<StdInstant> = None;
    while !bytes.is_empty() {
        match w.write(bytes) {
            Ok(0) => return false,
            Ok(n) => {
                bytes = bytes.get(n..).unwrap_or_default();
                stalled = None;
            }
            Err(e) if is_transient(&e) => {
                let since = *stalled.get_or_insert_with(StdInstant::now);
                if since.elapsed() >= WRITE_STALL {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    let _ = w.flush();
    true
}
