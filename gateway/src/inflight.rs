//! The calls one device has in flight through this gateway, by the reply subject of their
//! request: what a cancel message names, and what a stopping gateway cancels once its
//! grace period is over.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use wirecall_adapters::host::{CallCanceller, ClientError};

use crate::failure::{failure_of, Ended, Failure};

/// One call's entry: how to cancel it once it started, and why the gateway ended it.
#[derive(Default)]
struct Entry {
    canceller: Option<CallCanceller>,
    ended: Option<Ended>,
}

/// How many cancels of requests not (yet) seen are remembered: a cancel can overtake its
/// request inside the gateway (they are read by different tasks), and every gateway of a
/// queue group hears every cancel, most of them for requests another gateway took.
const EARLY_CANCELS: usize = 256;

/// A device's calls in flight.
#[derive(Default)]
pub(crate) struct Inflight {
    calls: Mutex<HashMap<String, Arc<Mutex<Entry>>>>,
    /// Reply subjects cancelled before their request was entered, oldest first.
    early: Mutex<VecDeque<String>>,
    /// Woken whenever a call leaves, for a stop that waits for the last one.
    left: Notify,
}

/// A call's place in [`Inflight`]: it leaves when this is dropped.
pub(crate) struct Ticket {
    inflight: Arc<Inflight>,
    reply: String,
    entry: Arc<Mutex<Entry>>,
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
        let ended = early.iter().position(|r| r == reply).map(|at| {
            early.remove(at);
            Ended::ByCaller
        });
        drop(early);
        let entry = Arc::new(Mutex::new(Entry {
            canceller: None,
            ended,
        }));
        calls.insert(reply.to_string(), entry.clone());
        Some(Ticket {
            inflight: self.clone(),
            reply: reply.to_string(),
            entry,
        })
    }

    /// Ends the call answered on `reply`, if it is here (true); if not, remembers it for a
    /// while in case its request is still on its way.
    pub(crate) fn end(&self, reply: &str, why: Ended) -> bool {
        let calls = lock(&self.calls);
        let Some(entry) = calls.get(reply).cloned() else {
            let mut early = lock(&self.early);
            if early.len() == EARLY_CANCELS {
                early.pop_front();
            }
            early.push_back(reply.to_string());
            return false;
        };
        drop(calls);
        end_entry(&entry, why)
    }

    /// Ends every call in flight (a stop past its grace period); how many.
    pub(crate) fn end_all(&self, why: Ended) -> usize {
        let entries: Vec<_> = lock(&self.calls).values().cloned().collect();
        entries.iter().filter(|e| end_entry(e, why)).count()
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
}

/// Marks the entry ended and cancels its call if it started; true unless it was ended
/// already.
fn end_entry(entry: &Mutex<Entry>, why: Ended) -> bool {
    let mut e = lock(entry);
    if e.ended.is_some() {
        return false;
    }
    e.ended = Some(why);
    if let Some(c) = &e.canceller {
        c.cancel();
    }
    true
}

impl Ticket {
    /// Records how to cancel the call, now that it started: at once if it was ended
    /// meanwhile (the cancel message came before the call was sent).
    pub(crate) fn started(&self, canceller: CallCanceller) {
        let mut e = lock(&self.entry);
        if e.ended.is_some() {
            canceller.cancel();
        }
        e.canceller = Some(canceller);
    }

    /// Why the gateway ended the call, if it did.
    pub(crate) fn ended(&self) -> Option<Ended> {
        lock(&self.entry).ended
    }

    /// The answer for a call ended before it could start (its cancel came first).
    pub(crate) fn check_not_ended(&self, device: &str) -> Result<(), Failure> {
        match self.ended() {
            Some(why) => Err(failure_of(device, &ClientError::Cancelled, Some(why))),
            None => Ok(()),
        }
    }

    /// Ends the call (for a reason found by its own task).
    pub(crate) fn end(&self, why: Ended) {
        end_entry(&self.entry, why);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        lock(&self.inflight.calls).remove(&self.reply);
        self.inflight.left.notify_waiters();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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

    #[tokio::test]
    async fn drained_waits_for_the_last_call() {
        let inflight = Arc::new(Inflight::default());
        let t = inflight.enter("r").unwrap();
        let waiting = tokio::spawn({
            let inflight = inflight.clone();
            async move { inflight.drained().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(t);
        waiting.await.unwrap();
        assert_eq!(inflight.end_all(Ended::ShuttingDown), 0);
    }
}
