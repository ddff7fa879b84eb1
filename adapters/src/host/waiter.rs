//! Where a blocked calling thread waits: for its call's outcome, or to be asked to read the
//! link for everyone (the "promotion" of the leader/follower pattern).

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use super::session::CallOutcome;

/// One call's meeting point between the thread that waits and the thread that delivers.
#[derive(Default)]
pub(crate) struct Waiter {
    state: Mutex<State>,
    cv: Condvar,
}

#[derive(Default)]
struct State {
    outcome: Option<CallOutcome>,
    /// The outcome was delivered (it may have been taken since).
    answered: bool,
    promoted: bool,
    /// A thread sleeps on the condition variable: only then is waking it worth a system
    /// call (a caller that reads the link itself finds its outcome without sleeping).
    sleeping: bool,
}

/// Why [`Waiter::wait_until`] returned.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Woken {
    /// The outcome is there ([`Waiter::take`] it).
    Outcome,
    /// Nobody reads the link: the waiter should.
    Promoted,
    /// The deadline passed.
    Deadline,
}

impl Waiter {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands over the outcome and wakes the waiting thread.
    pub(crate) fn deliver(&self, outcome: CallOutcome) {
        let mut st = self.lock();
        st.outcome = Some(outcome);
        st.answered = true;
        if st.sleeping {
            self.cv.notify_one();
        }
    }

    /// Asks the waiting thread to read the link.
    pub(crate) fn promote(&self) {
        let mut st = self.lock();
        st.promoted = true;
        if st.sleeping {
            self.cv.notify_one();
        }
    }

    /// The outcome, if it arrived.
    pub(crate) fn take(&self) -> Option<CallOutcome> {
        self.lock().outcome.take()
    }

    /// Marks the call finished for good (its outcome taken, or given up on), so that nobody
    /// promotes this waiter any more; true if a promotion reached it unused.
    pub(crate) fn retire(&self) -> bool {
        let mut st = self.lock();
        st.answered = true;
        std::mem::take(&mut st.promoted)
    }

    /// True once the outcome was delivered (taken or not).
    pub(crate) fn is_answered(&self) -> bool {
        self.lock().answered
    }

    /// Waits for an outcome, a promotion or the deadline.
    pub(crate) fn wait_until(&self, deadline: Instant) -> Woken {
        let mut st = self.lock();
        loop {
            if st.outcome.is_some() {
                return Woken::Outcome;
            }
            if std::mem::take(&mut st.promoted) {
                return Woken::Promoted;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Woken::Deadline;
            }
            st.sleeping = true;
            st = self
                .cv
                .wait_timeout(st, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
            st.sleeping = false;
        }
    }
}
