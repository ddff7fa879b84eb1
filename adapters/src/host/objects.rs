//! A session's remote handles, both ways: the objects this side exported (by slot of the
//! core's export table) and what the method calls it serves are made on; and the handles
//! it holds of the peer's (their revocations, and releases queued by drops).
//!
//! Every table here is bounded by the core's: objects by the export table's slots,
//! invocations by the inbound call table, held handles by the handles the application
//! keeps (each from a reply it asked for), queued releases by [`MAX_QUEUED_RELEASES`].

use std::any::Any;
use std::sync::{Arc, Condvar, Mutex, Weak};

use wirecall::{Handle, Resolved, WireError};

use super::engine::HostEngine;

/// An object this side exported, as the runtime keeps it.
pub(crate) type Object = Arc<dyn Any + Send + Sync>;

/// What a method call being served is made on.
#[derive(Clone)]
pub(crate) enum Invocation {
    /// A live object, of this interface, with this handle.
    Object(Object, u8, Handle),
    /// The answer of the peer's request with this wire id, still being served.
    Waiting(u32),
    /// Nothing live (the promised request exported nothing, or the object went).
    Stale,
}

/// The exporting side's bookkeeping.
pub(crate) struct Exported {
    /// Objects by slot of the export table.
    objects: Vec<Option<Object>>,
    /// What each request being served is made on, by request index (`None`: a request,
    /// not a method call).
    invoked: Vec<Option<Invocation>>,
}

impl Exported {
    pub(crate) fn new(slots: usize, inbound: usize) -> Exported {
        Exported {
            objects: vec![None; slots],
            invoked: vec![None; inbound],
        }
    }

    /// A method call arrived at request `index`, made on `on`.
    pub(crate) fn invoked(&mut self, index: usize, on: Resolved) {
        let invocation = match on {
            Resolved::Object { handle, interface } => {
                match self.objects.get(handle.slot()).cloned().flatten() {
                    Some(o) => Invocation::Object(o, interface, handle),
                    None => Invocation::Stale,
                }
            }
            Resolved::Pending(request) => Invocation::Waiting(request),
        };
        if let Some(s) = self.invoked.get_mut(index) {
            *s = Some(invocation);
        }
    }

    /// What request `index` is made on (`None`: a plain request).
    pub(crate) fn invocation(&self, index: usize) -> Option<Invocation> {
        self.invoked.get(index).cloned().flatten()
    }

    /// Request `index` is over.
    pub(crate) fn ended(&mut self, index: usize) {
        if let Some(s) = self.invoked.get_mut(index) {
            *s = None;
        }
    }

    /// `object` now has `handle`.
    pub(crate) fn exported(&mut self, handle: Handle, object: Object) {
        if let Some(s) = self.objects.get_mut(handle.slot()) {
            *s = Some(object);
        }
    }

    /// The core freed `handle`'s object (released, cancelled, session over, revoked).
    pub(crate) fn released(&mut self, handle: Handle) {
        if let Some(s) = self.objects.get_mut(handle.slot()) {
            *s = None;
        }
    }

    /// The peer's request `request` was answered or ended: method calls waiting for its
    /// handle are now made on it, or on nothing. True if any was waiting.
    pub(crate) fn settle(&mut self, request: u32, engine: &dyn HostEngine) -> bool {
        let mut any = false;
        for s in self.invoked.iter_mut() {
            if !matches!(s, Some(Invocation::Waiting(r)) if *r == request) {
                continue;
            }
            any = true;
            *s = Some(match engine.resolve_promise(request) {
                Ok(Resolved::Object { handle, interface }) => {
                    match self.objects.get(handle.slot()).cloned().flatten() {
                        Some(o) => Invocation::Object(o, interface, handle),
                        None => Invocation::Stale,
                    }
                }
                Ok(Resolved::Pending(r)) => Invocation::Waiting(r),
                Err(_) => Invocation::Stale,
            });
        }
        any
    }

    /// A new endpoint: nothing is exported.
    pub(crate) fn clear(&mut self) {
        self.objects.fill(None);
        self.invoked.fill(None);
    }
}

/// How a handle this side holds stands: revoked or not; held by every copy of it.
#[derive(Default)]
pub(crate) struct HeldState {
    revoked: Mutex<Option<(WireError, String)>>,
    changed: Condvar,
}

impl HeldState {
    /// Why the peer withdrew the handle, if it did.
    pub(crate) fn revoked(&self) -> Option<(WireError, String)> {
        self.revoked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits up to `timeout` for the peer to withdraw the handle.
    pub(crate) fn wait_revoked(&self, timeout: std::time::Duration) -> Option<(WireError, String)> {
        let guard = self.revoked.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, timeout, |r| r.is_none())
            .unwrap_or_else(|e| e.into_inner());
        guard.clone()
    }

    fn revoke(&self, code: WireError, reason: String) {
        let mut r = self.revoked.lock().unwrap_or_else(|e| e.into_inner());
        if r.is_none() {
            *r = Some((code, reason));
        }
        self.changed.notify_all();
    }
}

/// The most releases that wait to be written: as many handles as an export table can
/// have out (a peer refuses to export more).
pub(crate) const MAX_QUEUED_RELEASES: usize = 65536;

/// Releases queued by handles dropped on any thread, with the session each belongs to.
/// Its own lock, never held while anything else is: a drop never waits for the link.
pub(crate) type ReleaseQueue = Arc<Releases>;

/// The queue behind [`ReleaseQueue`], with its length kept apart so that a call, which
/// looks before it starts, takes no lock while nothing is queued.
#[derive(Default)]
pub(crate) struct Releases {
    queue: Mutex<Vec<(u64, Handle)>>,
    queued: std::sync::atomic::AtomicUsize,
}

/// The holding side's bookkeeping: the handles held in the current session.
#[derive(Default)]
pub(crate) struct Held {
    held: Vec<(Handle, Weak<HeldState>)>,
    releases: ReleaseQueue,
}

impl Held {
    /// A handle received in the current session: its state (shared with other holders of
    /// the same handle).
    pub(crate) fn register(&mut self, handle: Handle) -> Arc<HeldState> {
        self.held.retain(|(_, w)| w.strong_count() > 0);
        if let Some(state) = self
            .held
            .iter()
            .find(|(h, _)| *h == handle)
            .and_then(|(_, w)| w.upgrade())
        {
            return state;
        }
        let state = Arc::new(HeldState::default());
        self.held.push((handle, Arc::downgrade(&state)));
        state
    }

    /// The peer withdrew `handle`.
    pub(crate) fn revoke(&mut self, handle: Handle, code: WireError, reason: &[u8]) {
        let reason = String::from_utf8_lossy(reason).into_owned();
        for (h, w) in &self.held {
            if *h == handle {
                if let Some(s) = w.upgrade() {
                    s.revoke(code, reason.clone());
                }
            }
        }
    }

    /// The session ended: what was held went with it (and needs no release).
    pub(crate) fn end_session(&mut self) {
        self.held.clear();
    }

    /// Where dropped handles queue their release.
    pub(crate) fn releases(&self) -> ReleaseQueue {
        self.releases.clone()
    }

    /// Hands the releases queued for session `generation` to the endpoint, as far as the
    /// transmit queue takes them; those of ended sessions are dropped (their objects went
    /// with the session).
    pub(crate) fn flush_releases(&mut self, generation: u64, engine: &mut dyn HostEngine) {
        use std::sync::atomic::Ordering;
        if self.releases.queued.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut queue = self
            .releases
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut sent = 0;
        for &(g, h) in queue.iter() {
            if g == generation && engine.release(h) == Err(wirecall::HandleError::WouldBlock) {
                break;
            }
            sent += 1;
        }
        queue.drain(..sent);
        self.releases.queued.store(queue.len(), Ordering::Release);
    }
}

/// Queues the release of `handle` of session `generation`; false if the queue is full
/// (the object then goes with its session).
pub(crate) fn queue_release(queue: &ReleaseQueue, generation: u64, handle: Handle) -> bool {
    let mut q = queue.queue.lock().unwrap_or_else(|e| e.into_inner());
    if q.len() >= MAX_QUEUED_RELEASES {
        return false;
    }
    q.push((generation, handle));
    queue
        .queued
        .store(q.len(), std::sync::atomic::Ordering::Release);
    true
}
