//! What runs beside the links of a client or a server: one timer thread, and threads lent to
//! links whose reader is busy serving a request.
//!
//! The timer thread runs every link's deadlines (keepalive, request deadlines, handshake
//! retries), retries writes left pending, and is the watchdog: a link nobody has read for
//! [`PROMOTE_AFTER`] because its reader is serving a request gets a lent thread that reads
//! on. It sleeps until the next deadline, at most a second, and ticks every
//! [`PROMOTE_AFTER`] only while handlers have run recently. Lent threads are created on
//! demand up to a bound, and end after idling for [`LENT_IDLE`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant as StdInstant};

use super::conn::Conn;

/// A link whose reader has served one request for this long gets another reader.
pub(crate) const PROMOTE_AFTER: Duration = Duration::from_millis(2);

/// A lent thread with nothing to do for this long ends.
const LENT_IDLE: Duration = Duration::from_secs(10);

/// The timer thread's longest sleep.
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// How long after a handler last ran the watchdog keeps ticking.
const ACTIVE_WINDOW: Duration = Duration::from_secs(1);

/// The timer, the watchdog and the lent threads of one client or server.
pub(crate) struct Runtime {
    inner: Mutex<Inner>,
    /// Wakes the timer thread.
    timer_cv: Condvar,
    /// Wakes idle lent threads.
    lent_cv: Condvar,
    /// Microseconds (host clock) when a reader last went to serve a request.
    last_inline: AtomicU64,
    /// The timer thread sleeps without ticking for the watchdog.
    sleeping_long: AtomicBool,
    /// Links in the lend queue (read without the lock by lent threads deciding to move on).
    queued: AtomicUsize,
    /// Lent threads reading a link rather than serving a request (a request no thread can
    /// take waits longer while there are any: one may move over).
    lent_reading: AtomicUsize,
    max_lent: usize,
}

struct Inner {
    conns: Vec<Weak<Conn>>,
    /// Links waiting for a lent thread (each at most once).
    lend_queue: VecDeque<Arc<Conn>>,
    lent_threads: usize,
    lent_idle: usize,
    stop: bool,
}

/// Keeps the timer thread; stops and joins it when dropped.
pub(crate) struct RuntimeOwner {
    pub(crate) runtime: Arc<Runtime>,
    timer: Option<JoinHandle<()>>,
}

impl Drop for RuntimeOwner {
    fn drop(&mut self) {
        self.runtime.lock().stop = true;
        self.runtime.timer_cv.notify_all();
        self.runtime.lent_cv.notify_all();
        if let Some(t) = self.timer.take() {
            let _ = t.join();
        }
        // A link still queued for a lent thread holds its `Conn`, which holds this runtime:
        // a cycle that would leak both (the endpoint and the buffers of the connection; found
        // by the `host` fuzz target). Only the timer thread queues links, and it has ended;
        // the queue is emptied outside the lock, because dropping a `Conn` may take it.
        let queued = std::mem::take(&mut self.runtime.lock().lend_queue);
        drop(queued);
    }
}

impl Runtime {
    /// Starts the timer thread; at most `max_lent` threads are ever lent at once.
    pub(crate) fn start(name: &str, max_lent: usize) -> std::io::Result<RuntimeOwner> {
        let runtime = Arc::new(Runtime {
            inner: Mutex::new(Inner {
                conns: Vec::new(),
                lend_queue: VecDeque::new(),
                lent_threads: 0,
                lent_idle: 0,
                stop: false,
            }),
            timer_cv: Condvar::new(),
            lent_cv: Condvar::new(),
            last_inline: AtomicU64::new(0),
            sleeping_long: AtomicBool::new(false),
            queued: AtomicUsize::new(0),
            lent_reading: AtomicUsize::new(0),
            max_lent,
        });
        let rt = runtime.clone();
        let timer = std::thread::Builder::new()
            .name(format!("{name}-timer"))
            .spawn(move || rt.run_timer())?;
        Ok(RuntimeOwner {
            runtime,
            timer: Some(timer),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts a link under the timer.
    pub(crate) fn register(&self, conn: &Arc<Conn>) {
        self.lock().conns.push(Arc::downgrade(conn));
        self.timer_cv.notify_all();
    }

    /// Makes the timer thread look at every link now.
    pub(crate) fn wake(&self) {
        let _g = self.lock();
        self.timer_cv.notify_all();
    }

    /// A reader went to serve a request: the watchdog must tick. Costs an atomic store,
    /// plus a wake-up only when the timer thread was sleeping long.
    pub(crate) fn note_inline(&self) {
        let now = super::now().as_micros();
        self.last_inline.store(now, Ordering::SeqCst);
        if self.sleeping_long.load(Ordering::SeqCst) {
            self.wake();
        }
    }

    fn recently_inline(&self) -> bool {
        let last = self.last_inline.load(Ordering::SeqCst);
        last != 0
            && super::now().as_micros().saturating_sub(last) < ACTIVE_WINDOW.as_micros() as u64
    }

    fn run_timer(self: Arc<Self>) {
        loop {
            let conns: Vec<Arc<Conn>> = {
                let mut inner = self.lock();
                if inner.stop {
                    return;
                }
                inner.conns.retain(|c| c.strong_count() > 0);
                inner.conns.iter().filter_map(Weak::upgrade).collect()
            };
            let now = StdInstant::now();
            let mut next = now + MAX_SLEEP;
            for conn in conns {
                let (due, lend) = conn.tick(PROMOTE_AFTER);
                if let Some(due) = due {
                    next = next.min(due);
                }
                if lend && !self.lend(conn.clone()) {
                    // No thread for it: a request the link's handlers left waiting is
                    // answered `Busy` rather than held with nobody reading the link.
                    conn.refuse_deferred(self.lent_reading.load(Ordering::SeqCst) > 0);
                }
            }
            let mut inner = self.lock();
            if inner.stop {
                return;
            }
            // Announce a long sleep first, then look again (a reader stores, then loads;
            // this thread stores, then loads: one of them sees the other).
            self.sleeping_long.store(true, Ordering::SeqCst);
            if self.recently_inline() {
                self.sleeping_long.store(false, Ordering::SeqCst);
                next = next.min(StdInstant::now() + PROMOTE_AFTER);
            }
            let left = next.saturating_duration_since(StdInstant::now());
            if !left.is_zero() {
                inner = self
                    .timer_cv
                    .wait_timeout(inner, left)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
            self.sleeping_long.store(false, Ordering::SeqCst);
            drop(inner);
        }
    }

    /// Lends a thread to read `conn`: an idle lent thread, or a new one within the bound.
    /// False if there is none (every lent thread is serving): the link stays queued for the
    /// next one that frees.
    fn lend(self: &Arc<Self>, conn: Arc<Conn>) -> bool {
        let mut inner = self.lock();
        if !inner.lend_queue.iter().any(|c| Arc::ptr_eq(c, &conn)) {
            inner.lend_queue.push_back(conn);
            self.queued.store(inner.lend_queue.len(), Ordering::SeqCst);
        }
        // Each idle thread takes one queued link: with fewer idle threads than links
        // queued, some link gets none unless a thread is started for it (counting the idle
        // ones alone would promise the same thread to two links).
        if inner.lent_idle >= inner.lend_queue.len() {
            self.lent_cv.notify_all();
            return true;
        }
        if inner.lent_idle > 0 {
            self.lent_cv.notify_all();
        }
        if inner.lent_threads >= self.max_lent {
            return false; // every lent thread is serving; the link waits for one
        }
        inner.lent_threads += 1;
        drop(inner);
        let rt = self.clone();
        let spawned = std::thread::Builder::new()
            .name("wirecall-lent".into())
            .spawn(move || rt.run_lent());
        if spawned.is_err() {
            self.lock().lent_threads -= 1;
            return false;
        }
        true
    }

    /// A lent thread starts (`true`) or stops reading a link.
    pub(crate) fn reading(&self, started: bool) {
        if started {
            self.lent_reading.fetch_add(1, Ordering::SeqCst);
        } else {
            self.lent_reading.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// True while links wait in the lend queue: a lent thread reading a link that does not
    /// need it any more moves on (see `Conn::lead`).
    pub(crate) fn links_waiting(&self) -> bool {
        self.queued.load(Ordering::SeqCst) > 0
    }

    fn run_lent(self: Arc<Self>) {
        let mut inner = self.lock();
        loop {
            if inner.stop {
                break;
            }
            if let Some(conn) = inner.lend_queue.pop_front() {
                self.queued.store(inner.lend_queue.len(), Ordering::SeqCst);
                drop(inner);
                conn.lend_reader();
                inner = self.lock();
                continue;
            }
            inner.lent_idle += 1;
            let (g, timeout) = self
                .lent_cv
                .wait_timeout(inner, LENT_IDLE)
                .unwrap_or_else(|e| e.into_inner());
            inner = g;
            inner.lent_idle -= 1;
            if timeout.timed_out() && inner.lend_queue.is_empty() {
                break;
            }
        }
        inner.lent_threads -= 1;
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use crate::host::session::Session;
    use crate::host::Capacity;

    /// Regression (found by the `host` fuzz target under LeakSanitizer): a runtime stopped
    /// while a link waited in its lend queue leaked that connection and itself, since the
    /// queue holds the `Conn` and the `Conn` holds the runtime.
    #[test]
    fn a_link_queued_for_a_lent_thread_is_freed_with_its_runtime() {
        let owner = Runtime::start("wirecall-test", 0).expect("a timer thread");
        let session = Session::new(
            wirecall::Instant::ZERO,
            wirecall::Config::default(),
            Capacity::default(),
        );
        let conn = Conn::new(session, None, owner.runtime.clone(), true);
        let weak = Arc::downgrade(&conn);
        // With no lent thread allowed, the link stays queued (what a runtime stopping while
        // a lent thread starts sees).
        owner.runtime.lend(conn);
        assert_eq!(owner.runtime.lock().lend_queue.len(), 1);
        let runtime = Arc::downgrade(&owner.runtime);
        drop(owner);
        assert!(
            weak.upgrade().is_none(),
            "the connection outlives its runtime"
        );
        assert!(
            runtime.upgrade().is_none(),
            "the runtime outlives its owner"
        );
    }

    /// Regression (found in review): two links queued in one round with one idle lent thread
    /// were both told a thread was coming; the one the idle thread did not take waited with
    /// nobody reading it and was never refused either. The second link now gets a thread
    /// of its own.
    #[test]
    fn two_links_queued_with_one_idle_thread_get_two_threads() {
        let owner = Runtime::start("wirecall-test", 2).expect("a timer thread");
        let rt = owner.runtime.clone();
        let conn = || {
            let session = Session::new(
                wirecall::Instant::ZERO,
                wirecall::Config::default(),
                Capacity::default(),
            );
            Conn::new(session, None, rt.clone(), true)
        };
        // A first link without a link to read: its lent thread has nothing to do and idles.
        assert!(rt.lend(conn()));
        let deadline = StdInstant::now() + Duration::from_secs(30);
        while rt.lock().lent_idle == 0 {
            assert!(StdInstant::now() < deadline, "the lent thread never idled");
            std::thread::yield_now();
        }
        let (a, b) = (conn(), conn());
        // Held, so that the thread that takes `a` stays with it.
        let (_ga, _gb) = (a.lock(), b.lock());
        assert!(rt.lend(a.clone()));
        assert!(rt.lend(b.clone()));
        assert_eq!(rt.lock().lent_threads, 2, "the second link got no thread");
        drop((_ga, _gb));
        drop(owner);
    }
}
