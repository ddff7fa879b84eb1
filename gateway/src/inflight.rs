//! The calls one device has in flight through this gateway, by the reply subject of their
//! request: what a cancel message names, and what a stopping gateway cancels once its
//! grace period is over.
//!
//! Ending a call here answers its caller at once (the answering task waits for
//! [`Ticket::until_ended`] beside the device). Whether the device is told too depends on
//! the device's cancel budget: see [`DEVICE_CANCELS`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use wirecall_adapters::host::{CallCanceller, ClientError};

use crate::failure::{failure_of, Ended, Failure};

/// Cancels passed on to one device per [`DEVICE_CANCEL_WINDOW`]. A device resets a link on
/// which more than 32 requests per 10 s are cancelled while being served (its
/// `abandon_budget`, the guard against the rapid-reset pattern), which would fail every
/// caller's calls to hold off one caller's cancels. So the gateway passes on half that;
/// past it, a cancelled call is answered 499 at once all the same and left to run to its
/// end (or deadline) on the device, its slot held until then.
pub(crate) const DEVICE_CANCELS: usize = 16;
/// The window of [`DEVICE_CANCELS`].
pub(crate) const DEVICE_CANCEL_WINDOW: Duration = Duration::from_secs(10);

/// How many cancels of requests not (yet) seen are remembered, and for how long: a cancel
/// can overtake its request inside the gateway (different tasks read them), while a
/// cancel that came after its call ended (a caller's timeout racing the answer), or one
/// for a request another gateway took, must not linger to end a later request.
const EARLY_CANCELS: usize = 256;
const EARLY_CANCEL_LIFE: Duration = Duration::from_secs(2);

/// One call's state: how to cancel it once it started, and why the gateway ended it.
#[derive(Default)]
struct State {
    canceller: Option<CallCanceller>,
    ended: Option<Ended>,
}

/// One call's entry.
#[derive(Default)]
struct Entry {
    state: Mutex<State>,
    /// Woken when the call is ended.
    ended: Notify,
}

/// A device's calls in flight.
#[derive(Default)]
pub(crate) struct Inflight {
    calls: Mutex<HashMap<String, Arc<Entry>>>,
    /// Reply subjects cancelled before their request was entered, oldest first.
    early: Mutex<VecDeque<(String, Instant)>>,
    /// When cancels were last passed on to the device, oldest first.
    sent: Mutex<VecDeque<Instant>>,
    /// Woken whenever a call leaves, for a stop that waits for the last one.
    left: Notify,
}

/// A call's place in [`Inflight`]: it leaves when this is dropped.
pub(crate) struct Ticket {
    inflight: Arc<Inflight>,
    reply: String,
    entry: Arc<Entry>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inflight {
    /// Enters the call answered on `reply`; `None` if a call with that reply subject is in
    /// flight already (a caller reusing a reply subject could not tell the answers apart).
    pub(crate) fn enter(self: &Arc<Self>, reply: &str) -> Option<Ticket> {
        let mut calls = lock(&self.calls);
        if calls.contains_key(reply) {
            return None;
        }
        let mut early = lock(&self.early);
        let now = Instant::now();
        early.retain(|(_, at)| now.duration_since(*at) < EARLY_CANCEL_LIFE);
        let ended = early.iter().position(|(r, _)| r == reply).map(|at| {
            early.remove(at);
            Ended::ByCaller
        });
        drop(early);
        let entry = Arc::new(Entry {
            state: Mutex::new(State {
                canceller: None,
                ended,
            }),
            ended: Notify::new(),
        });
        calls.insert(reply.to_string(), entry.clone());
        Some(Ticket {
            inflight: self.clone(),
            reply: reply.to_string(),
            entry,
        })
    }

    /// Ends the call answered on `reply`, if it is here (true); if not, remembers it for a
    /// moment in case its request is still on its way.
    pub(crate) fn end(&self, reply: &str, why: Ended) -> bool {
        let calls = lock(&self.calls);
        let Some(entry) = calls.get(reply).cloned() else {
            let mut early = lock(&self.early);
            if early.len() == EARLY_CANCELS {
                early.pop_front();
            }
            early.push_back((reply.to_string(), Instant::now()));
            return false;
        };
        drop(calls);
        self.end_entry(&entry, why)
    }

    /// Ends every call in flight (a stop past its grace period); how many.
    pub(crate) fn end_all(&self, why: Ended) -> usize {
        let entries: Vec<_> = lock(&self.calls).values().cloned().collect();
        entries.iter().filter(|e| self.end_entry(e, why)).count()
    }

    /// How many calls are in flight.
    pub(crate) fn len(&self) -> usize {
        lock(&self.calls).len()
    }

    /// Waits until no call is in flight.
    pub(crate) async fn drained(&self) {
        loop {
            let left = self.left.notified();
            if self.len() == 0 {
                return;
            }
            left.await;
        }
    }

    /// Marks the entry ended, wakes its answering task, and cancels its call on the device
    /// if it started and the budget allows; true unless it was ended already.
    fn end_entry(&self, entry: &Entry, why: Ended) -> bool {
        let mut state = lock(&entry.state);
        if state.ended.is_some() {
            return false;
        }
        state.ended = Some(why);
        if let Some(c) = state.canceller.clone() {
            self.cancel_on_device(c);
        }
        drop(state);
        entry.ended.notify_waiters();
        true
    }

    /// Tells the device, within its cancel budget ([`DEVICE_CANCELS`]). Off the async
    /// threads when on one: a cancel writes to the link, which may take a serial tick.
    fn cancel_on_device(&self, canceller: CallCanceller) {
        {
            let mut sent = lock(&self.sent);
            let now = Instant::now();
            while sent
                .front()
                .is_some_and(|at| now.duration_since(*at) >= DEVICE_CANCEL_WINDOW)
            {
                sent.pop_front();
            }
            if sent.len() >= DEVICE_CANCELS {
                return; // left to run to its end: see DEVICE_CANCELS
            }
            sent.push_back(now);
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(move || canceller.cancel());
            }
            Err(_) => {
                canceller.cancel();
            }
        }
    }
}

impl Ticket {
    /// Records how to cancel the call, now that it started: at once if it was ended
    /// meanwhile (the cancel message came before the call was sent).
    pub(crate) fn started(&self, canceller: CallCanceller) {
        let mut state = lock(&self.entry.state);
        if state.ended.is_some() {
            self.inflight.cancel_on_device(canceller.clone());
        }
        state.canceller = Some(canceller);
    }

    /// Why the gateway ended the call, if it did.
    pub(crate) fn ended(&self) -> Option<Ended> {
        lock(&self.entry.state).ended
    }

    /// Returns once the gateway ended the call (at once if it had).
    pub(crate) async fn until_ended(&self) -> Ended {
        loop {
            let woken = self.entry.ended.notified();
            if let Some(why) = self.ended() {
                return why;
            }
            woken.await;
        }
    }

    /// The answer for a call the gateway ended.
    pub(crate) fn failure(&self, device: &str, why: Ended) -> Failure {
        failure_of(device, &ClientError::Cancelled, Some(why))
    }

    /// The answer for a call ended before it could start (its cancel came first).
    pub(crate) fn check_not_ended(&self, device: &str) -> Result<(), Failure> {
        match self.ended() {
            Some(why) => Err(self.failure(device, why)),
            None => Ok(()),
        }
    }

    /// Ends the call (for a reason found by its own task).
    pub(crate) fn end(&self, why: Ended) {
        self.inflight.end_entry(&self.entry, why);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        lock(&self.inflight.calls).remove(&self.reply);
        self.inflight.left.notify_waiters();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_subject_is_in_flight_once_and_leaves_with_its_ticket() {
        let inflight = Arc::new(Inflight::default());
        let t = inflight.enter("_INBOX.a").unwrap();
        assert!(inflight.enter("_INBOX.a").is_none());
        assert_eq!(inflight.len(), 1);
        assert!(inflight.end("_INBOX.a", Ended::ByCaller));
        assert!(!inflight.end("_INBOX.a", Ended::ShuttingDown), "ended once");
        assert_eq!(t.ended(), Some(Ended::ByCaller));
        drop(t);
        assert_eq!(inflight.len(), 0);
        assert!(inflight.enter("_INBOX.a").is_some());
    }

    #[test]
    fn a_cancel_that_overtakes_its_request_still_ends_it() {
        let inflight = Arc::new(Inflight::default());
        assert!(!inflight.end("_INBOX.b", Ended::ByCaller));
        let t = inflight.enter("_INBOX.b").unwrap();
        assert_eq!(t.ended(), Some(Ended::ByCaller));
        drop(t);
        // Remembered once, and only the latest EARLY_CANCELS of them.
        assert_eq!(inflight.enter("_INBOX.b").unwrap().ended(), None);
        for i in 0..=EARLY_CANCELS {
            inflight.end(&format!("r{i}"), Ended::ByCaller);
        }
        assert_eq!(inflight.enter("r0").unwrap().ended(), None);
        assert_eq!(
            inflight
                .enter(&format!("r{EARLY_CANCELS}"))
                .unwrap()
                .ended(),
            Some(Ended::ByCaller)
        );
    }

    #[test]
    fn an_early_cancel_is_forgotten_after_a_moment() {
        let inflight = Arc::new(Inflight::default());
        let long_ago = Instant::now()
            .checked_sub(EARLY_CANCEL_LIFE)
            .expect("the clock is past EARLY_CANCEL_LIFE");
        lock(&inflight.early).push_back(("_INBOX.late".to_string(), long_ago));
        assert_eq!(inflight.enter("_INBOX.late").unwrap().ended(), None);
    }

    #[tokio::test]
    async fn drained_waits_for_the_last_call_and_until_ended_for_the_end() {
        let inflight = Arc::new(Inflight::default());
        let t = Arc::new(inflight.enter("r").unwrap());
        let waiting = tokio::spawn({
            let inflight = inflight.clone();
            async move { inflight.drained().await }
        });
        let ending = tokio::spawn({
            let t = t.clone();
            async move { t.until_ended().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        assert!(!ending.is_finished());
        assert_eq!(inflight.end_all(Ended::ShuttingDown), 1);
        assert_eq!(ending.await.unwrap(), Ended::ShuttingDown);
        drop(t);
        waiting.await.unwrap();
        assert_eq!(inflight.end_all(Ended::ShuttingDown), 0);
    }
}
