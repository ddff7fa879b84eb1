//! Handles to the peer's objects in the tokio flavour: the blocking
//! [`RemoteHandle`](crate::host::RemoteHandle)'s rules, with the waits as awaits.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant as TokioInstant;
use wirecall::{AsyncRemoteObject, Handle, Open, Procedure, Target, WireError};

use super::AsyncClient;
use crate::host::objects::{queue_release, HeldState, ReleaseQueue};
use crate::host::session::{CallOutcome, ClientError, Start};

/// A handle to an object the peer exported, held by an [`AsyncClient`]: method calls by
/// number ([`call`](Self::call)) or through an interface's generated `AsyncRemote`.
/// Dropping it releases the object (queued, written by the link's task); a handle of an
/// ended session fails with `StaleHandle` without being sent. No pipelining in this flavour.
pub struct AsyncRemoteHandle {
    client: AsyncClient,
    handle: Handle,
    /// The session the handle belongs to.
    generation: u64,
    state: Arc<HeldState>,
    releases: ReleaseQueue,
}

impl std::fmt::Debug for AsyncRemoteHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AsyncRemoteHandle({:?})", self.handle)
    }
}

impl AsyncRemoteHandle {
    /// The handle.
    pub fn handle(&self) -> Handle {
        self.handle
    }

    /// Calls method `method` (its number in the interface) with encoded `args`.
    pub async fn call(&self, method: u32, args: &[u8], timeout: Option<Duration>) -> CallOutcome {
        if let Some((code, reason)) = self.state.revoked() {
            return Err(ClientError::Remote(
                WireError::StaleHandle,
                format!("the peer revoked the handle ({}): {reason}", code.name()),
            ));
        }
        self.client
            .call_on(
                Target::Handle(self.handle),
                self.generation,
                method,
                args,
                timeout,
            )
            .await
    }

    /// Why the peer withdrew the object, if it did (known without a call).
    pub fn revoked(&self) -> Option<(WireError, String)> {
        self.state.revoked()
    }

    /// Releases the object now (what dropping the handle does).
    pub fn release(self) {}
}

impl Drop for AsyncRemoteHandle {
    fn drop(&mut self) {
        if self.state.revoked().is_none()
            && queue_release(&self.releases, self.generation, self.handle)
        {
            self.client.shared.io.notify_one(); // the link's task writes it
        }
    }
}

impl AsyncRemoteObject for AsyncRemoteHandle {
    type Error = ClientError;

    fn invoke<P: Procedure>(
        &self,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<P::Output, ClientError>> + Send {
        let bytes = postcard::to_allocvec(args).map_err(|_| ClientError::TooLarge);
        async move {
            let out = self.call(P::ID, &bytes?, timeout).await?;
            P::output(&out).map_err(|_| ClientError::Decode)
        }
    }
}

/// A call that returns a handle, started and not yet answered (or answered and not yet
/// taken): dropped before its answer is taken, it cancels the call (the peer frees what a
/// cancelled call exported), or, if the answer is in already, releases the handle it
/// carries.
struct PendingExport<'a> {
    client: &'a AsyncClient,
    id: crate::host::session::CallTicket,
    generation: u64,
    rx: tokio::sync::oneshot::Receiver<CallOutcome>,
    done: bool,
}

impl Drop for PendingExport<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let shared = &self.client.shared;
        let cancelled = shared.lock().session.cancel_call(self.id);
        if !cancelled {
            // Ended already: its outcome went to the channel (sent under the lock).
            if let Ok(Ok(bytes)) = self.rx.try_recv() {
                if let Ok(handle) = wirecall::decode_exact::<Handle>(&bytes) {
                    let releases = shared.lock().session.releases();
                    if !queue_release(&releases, self.generation, handle) {
                        return;
                    }
                } else {
                    return;
                }
            } else {
                return;
            }
        }
        shared.io.notify_one(); // the link's task writes the Cancel or the Release
    }
}

impl AsyncClient {
    /// Calls `procedure`, which returns a handle (`-> handle I`), and returns the handle.
    /// Sent only in a session whose peer serves `schema`, if given.
    pub async fn call_export(
        &self,
        schema: Option<u32>,
        procedure: u32,
        args: &[u8],
        timeout: Option<Duration>,
    ) -> Result<AsyncRemoteHandle, ClientError> {
        let timeout = timeout.unwrap_or(self.shared.default_timeout);
        let deadline = TokioInstant::now() + crate::host::capped(timeout);
        let mut generation = 0;
        let (rx, id) = self
            .begin(deadline, |session, tx| {
                if let Err(e) = session.check_schema(schema) {
                    return Start::Failed(tx, e);
                }
                generation = session.generation();
                let left = deadline.saturating_duration_since(TokioInstant::now());
                session.start_call(
                    crate::host::now(),
                    procedure,
                    args,
                    crate::host::to_core(left),
                    tx,
                )
            })
            .await?;
        // Until the answer is taken, a drop of this future (a timeout around it, a
        // `select!`, an aborted task) must not leave the object alive on the peer.
        let mut pending = PendingExport {
            client: self,
            id,
            generation,
            rx,
            done: false,
        };
        let outcome = match tokio::time::timeout_at(deadline, &mut pending.rx).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(ClientError::ConnectionLost),
            Err(_) => Err(ClientError::Timeout), // the drop below cancels the call
        };
        if outcome.is_ok() {
            pending.done = true;
        }
        drop(pending);
        let bytes = outcome?;
        let handle = wirecall::decode_exact::<Handle>(&bytes).map_err(|_| ClientError::Decode)?;
        let (state, releases) = {
            let mut st = self.shared.lock();
            (st.session.hold(handle), st.session.releases())
        };
        Ok(AsyncRemoteHandle {
            client: self.clone(),
            handle,
            generation,
            state,
            releases,
        })
    }

    /// Calls `method` on `target`, a handle of session `generation`.
    async fn call_on(
        &self,
        target: Target,
        generation: u64,
        method: u32,
        args: &[u8],
        timeout: Option<Duration>,
    ) -> CallOutcome {
        let timeout = timeout.unwrap_or(self.shared.default_timeout);
        let deadline = TokioInstant::now() + crate::host::capped(timeout);
        let (rx, id) = self
            .begin(deadline, |session, tx| {
                if session.generation() != generation {
                    return Start::Failed(
                        tx,
                        ClientError::Remote(
                            WireError::StaleHandle,
                            "the handle belongs to a session that has ended".into(),
                        ),
                    );
                }
                let left = deadline.saturating_duration_since(TokioInstant::now());
                let how = Open::call()
                    .with_timeout(crate::host::to_core(left))
                    .on(target);
                session.open(crate::host::now(), method, args, how, tx, None)
            })
            .await?;
        self.finish(rx, id, deadline).await
    }
}
