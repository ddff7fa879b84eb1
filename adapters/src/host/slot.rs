//! What the two ends of a stream share on a host: the items that arrived and wait for the
//! application (a consumer thread or task), and whether credit arrived or the stream ended.
//!
//! The session fills it (under the link's lock) and the application empties it. It is
//! bounded by the core's credit: the peer may send no more than the window before the
//! application consumes, so the queue never holds more than `stream_window` items.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// One stream's meeting point. See the module docs.
#[derive(Default)]
pub(crate) struct StreamSlot {
    st: Mutex<SlotState>,
    cv: Condvar,
}

#[derive(Default)]
struct SlotState {
    items: VecDeque<Vec<u8>>,
    /// Counts the credit grants that arrived (a sender waiting for credit compares).
    credits: u64,
    /// The peer's items are over (its End arrived).
    items_ended: bool,
    /// The stream is over: answered, failed, cancelled, expired, or its session went.
    ended: bool,
    waker: Option<Waker>,
}

/// What [`StreamSlot::pop`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Popped {
    /// The next item.
    Item(Vec<u8>),
    /// No item now; more may come.
    Empty,
    /// No item, and none will come: the peer's items ended, or the stream did.
    Over,
}

impl StreamSlot {
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn changed(&self, mut st: MutexGuard<'_, SlotState>) {
        let waker = st.waker.take();
        drop(st);
        self.cv.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// An item arrived.
    pub(crate) fn push(&self, item: &[u8]) {
        let mut st = self.lock();
        st.items.push_back(item.to_vec());
        self.changed(st);
    }

    /// Credit arrived: a sender waiting for it may go on.
    pub(crate) fn credit(&self) {
        let mut st = self.lock();
        st.credits += 1;
        self.changed(st);
    }

    /// The peer's items are over.
    pub(crate) fn items_ended(&self) {
        let mut st = self.lock();
        st.items_ended = true;
        self.changed(st);
    }

    /// The stream is over.
    pub(crate) fn end(&self) {
        let mut st = self.lock();
        st.ended = true;
        self.changed(st);
    }

    /// True once the stream is over.
    pub(crate) fn is_ended(&self) -> bool {
        self.lock().ended
    }

    /// How many credit grants arrived so far.
    pub(crate) fn credits(&self) -> u64 {
        self.lock().credits
    }

    /// True when a waiter should look again: for a sender (`credits_seen`: the credit
    /// count it saw), once credit arrived or the stream ended; for a receiver, once
    /// [`pop`](Self::pop) would not find it [`Popped::Empty`].
    pub(crate) fn ready(&self, credits_seen: Option<u64>) -> bool {
        Self::is_ready(&self.lock(), credits_seen)
    }

    fn is_ready(st: &SlotState, credits_seen: Option<u64>) -> bool {
        match credits_seen {
            Some(c) => st.credits != c || st.ended,
            None => !st.items.is_empty() || st.items_ended || st.ended,
        }
    }

    /// True if the stream ended before the peer's End (a break: cancelled, failed,
    /// expired, link lost), so the items received may not be all.
    pub(crate) fn broken(&self) -> bool {
        let st = self.lock();
        st.ended && !st.items_ended
    }

    /// Takes the next item that arrived.
    pub(crate) fn pop(&self) -> Popped {
        let mut st = self.lock();
        match st.items.pop_front() {
            Some(item) => Popped::Item(item),
            None if st.items_ended || st.ended => Popped::Over,
            None => Popped::Empty,
        }
    }

    /// Waits until [`ready`](Self::ready) or `until`.
    pub(crate) fn wait(&self, until: Instant, credits_seen: Option<u64>) {
        let mut st = self.lock();
        loop {
            if Self::is_ready(&st, credits_seen) {
                return;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            st = self
                .cv
                .wait_timeout(st, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// The async [`wait`](Self::wait): pending (with the task's waker kept) until
    /// [`ready`](Self::ready).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // the tokio flavour's
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, credits_seen: Option<u64>) -> Poll<()> {
        let mut st = self.lock();
        if Self::is_ready(&st, credits_seen) {
            return Poll::Ready(());
        }
        st.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// The async [`pop`](Self::pop): pending (with the task's waker kept) while empty.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // the tokio flavour's
    pub(crate) fn poll_pop(&self, cx: &mut Context<'_>) -> Poll<Popped> {
        let mut st = self.lock();
        match st.items.pop_front() {
            Some(item) => Poll::Ready(Popped::Item(item)),
            None if st.items_ended || st.ended => Poll::Ready(Popped::Over),
            None => {
                st.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
