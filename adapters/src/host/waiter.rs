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
    promoted: bool,
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
        self.lock().outcome = Some(outcome);
        self.cv.notify_one();
    }

    /// Asks the waiting thread to read the link.
    pub(crate) fn promote(&self) {
        self.lock().promoted = true;
        self.cv.notify_one();
    }

    /// The outcome, if it arrived.
    pub(crate) fn take(&self) -> Option<CallOutcome> {
        self.lock().outcome.take()
    }

    /// True if the outcome arrived (it stays for [`take`](Self::take)).
    pub(crate) fn has_outcome(&self) -> bool {
        self.lock().outcome.is_some()
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
            st = self
                .cv
                .wait_timeout(st, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }
}
