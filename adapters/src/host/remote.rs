//! Handles to the peer's objects, as a blocking [`Client`] holds them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wirecall::{Handle, Procedure, RemoteObject, Target, WireError};

use super::client::{Client, PendingCall};
use super::objects::{queue_release, HeldState, ReleaseQueue};
use super::session::{CallOutcome, ClientError, PROMISE_SETTLED};

/// A handle to an object the peer exported (what a procedure declared `-> handle I`
/// returns), with the methods of its interface callable on it: [`call`](Self::call) by
/// number, or typed through the interface's generated `Remote`.
///
/// One owner, one release: dropping it releases the object on the peer. The release is
/// queued (its own lock, never the connection's) and written with the next write, so a
/// drop never waits for the link. A handle dies with its session: after the link dropped
/// or the peer restarted, calls on it fail with `StaleHandle` without being sent, and no
/// release is sent (the object went with the session). If the peer withdraws the object,
/// [`revoked`](Self::revoked) says so at once, without a call.
///
/// ```
/// use wirecall::WireError;
/// use wirecall_adapters::host::{serve_tcp, Client, ClientOptions, Link, ServeOptions};
///
/// wirecall::service! {
///     pub mod files {
///         0 => Open: fn open(name: heapless::String<16>) -> handle File;
///         interface File {
///             0 => Size: fn size() -> u32;
///         }
///     }
/// }
/// struct Files;
/// struct File(u32);
/// impl files::HostHandler for Files {
///     type File = File;
///     fn open(&self, name: heapless::String<16>) -> Result<File, WireError> {
///         Ok(File(name.len() as u32))
///     }
/// }
/// impl files::File::HostMethods for File {
///     fn size(&self) -> Result<u32, WireError> {
///         Ok(self.0)
///     }
/// }
///
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = serve_tcp(listener, files::serve(Files), ServeOptions::default())?;
/// let client = files::Client::new(Client::connect(move || Link::tcp(addr), ClientOptions::default())?);
/// let file = client.open("hello.txt".try_into().unwrap())?;
/// assert_eq!(file.size()?, 9);
/// drop(file); // released on the server
/// # drop(client);
/// # server.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RemoteHandle {
    client: Client,
    /// The session the handle belongs to.
    generation: u64,
    inner: Mutex<Inner>,
}

enum Inner {
    /// The handle, known.
    Held {
        handle: Handle,
        state: Arc<HeldState>,
        releases: ReleaseQueue,
    },
    /// The answer of the call with this wire id, still awaited (pipelining).
    Promised { call: u32, pending: PendingCall },
    /// The call that was to return it failed.
    Failed(ClientError),
    /// Moved out (released explicitly).
    Gone,
}

impl std::fmt::Debug for RemoteHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match &*inner {
            Inner::Held { handle, .. } => write!(f, "RemoteHandle({handle:?})"),
            Inner::Promised { call, .. } => write!(f, "RemoteHandle(answer of call {call})"),
            Inner::Failed(e) => write!(f, "RemoteHandle(failed: {e})"),
            Inner::Gone => write!(f, "RemoteHandle(released)"),
        }
    }
}

impl RemoteHandle {
    /// The handle `bytes` (a reply) carries, received in session `generation`.
    pub(crate) fn from_reply(
        client: &Client,
        generation: u64,
        bytes: &[u8],
    ) -> Result<RemoteHandle, ClientError> {
        let handle = wirecall::decode_exact::<Handle>(bytes).map_err(|_| ClientError::Decode)?;
        Ok(RemoteHandle {
            client: client.clone(),
            generation,
            inner: Mutex::new(held(client, generation, handle)),
        })
    }

    /// The handle that call `call` (wire id), started in session `generation`, returns.
    pub(crate) fn promised(
        client: &Client,
        generation: u64,
        call: u32,
        pending: PendingCall,
    ) -> RemoteHandle {
        RemoteHandle {
            client: client.clone(),
            generation,
            inner: Mutex::new(Inner::Promised { call, pending }),
        }
    }

    /// The handle, waiting for the answer that carries it if it is still awaited. An
    /// error if that call failed.
    pub fn handle(&self) -> Result<Handle, ClientError> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        self.resolve(&mut inner)
    }

    fn resolve(&self, inner: &mut Inner) -> Result<Handle, ClientError> {
        if let Inner::Promised { .. } = inner {
            let Inner::Promised { pending, .. } = std::mem::replace(inner, Inner::Gone) else {
                unreachable!("matched above")
            };
            *inner = match pending.wait().and_then(|bytes| {
                wirecall::decode_exact::<Handle>(&bytes).map_err(|_| ClientError::Decode)
            }) {
                Ok(handle) => held(&self.client, self.generation, handle),
                Err(e) => Inner::Failed(e),
            };
        }
        match inner {
            Inner::Held { handle, .. } => Ok(*handle),
            Inner::Failed(e) => Err(e.clone()),
            _ => Err(ClientError::Remote(
                WireError::StaleHandle,
                "the handle was released".into(),
            )),
        }
    }

    /// Calls method `method` (its number in the interface) with encoded `args` and waits
    /// for the outcome. On a handle still awaited, the call leaves at once, naming "the
    /// handle that call returns" (pipelining).
    pub fn call(&self, method: u32, args: &[u8], timeout: Option<Duration>) -> CallOutcome {
        self.start(method, args, timeout)?.wait()
    }

    /// Starts a method call and returns without waiting for it (see [`Client::start`]):
    /// several calls on a handle still awaited all leave at once.
    pub fn start(
        &self,
        method: u32,
        args: &[u8],
        timeout: Option<Duration>,
    ) -> Result<PendingCall, ClientError> {
        match self.start_once(method, args, timeout) {
            // The promise settled meanwhile: its answer carries the handle; call on that.
            Err(ClientError::Remote(WireError::StaleHandle, detail))
                if detail == PROMISE_SETTLED =>
            {
                self.handle()?;
                self.start_once(method, args, timeout)
            }
            other => other,
        }
    }

    fn start_once(
        &self,
        method: u32,
        args: &[u8],
        timeout: Option<Duration>,
    ) -> Result<PendingCall, ClientError> {
        let target = {
            let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            match &*inner {
                Inner::Held { handle, state, .. } => {
                    if let Some((code, reason)) = state.revoked() {
                        return Err(revoked_error(code, &reason));
                    }
                    Target::Handle(*handle)
                }
                Inner::Promised { call, .. } => Target::Promise(*call),
                Inner::Failed(e) => return Err(e.clone()),
                Inner::Gone => {
                    return Err(ClientError::Remote(
                        WireError::StaleHandle,
                        "the handle was released".into(),
                    ))
                }
            }
        };
        self.client
            .start_on(target, self.generation, method, args, timeout)
    }

    /// Why the peer withdrew the object, if it did (its code, `Revoked` for instance, and
    /// its reason). Known as soon as the peer says so, without a call.
    pub fn revoked(&self) -> Option<(WireError, String)> {
        match &*self.inner.lock().unwrap_or_else(|e| e.into_inner()) {
            Inner::Held { state, .. } => state.revoked(),
            _ => None,
        }
    }

    /// Waits up to `timeout` for the peer to withdraw the object; `None` if it did not.
    pub fn wait_revoked(&self, timeout: Duration) -> Option<(WireError, String)> {
        let state = match &*self.inner.lock().unwrap_or_else(|e| e.into_inner()) {
            Inner::Held { state, .. } => state.clone(),
            _ => return None,
        };
        state.wait_revoked(timeout)
    }

    /// Releases the object now (what dropping the handle does).
    pub fn release(self) {}
}

impl Drop for RemoteHandle {
    fn drop(&mut self) {
        let inner = std::mem::replace(
            self.inner.get_mut().unwrap_or_else(|e| e.into_inner()),
            Inner::Gone,
        );
        match inner {
            Inner::Held {
                handle,
                state,
                releases,
            } => {
                // A revoked object is already gone on the peer.
                if state.revoked().is_none() && queue_release(&releases, self.generation, handle) {
                    self.client.poke();
                }
            }
            // Still awaited: cancelled, so the peer frees what its answer carries; or
            // answered already, so that handle is released.
            Inner::Promised { pending, .. } => {
                if let Some(Ok(bytes)) = pending.cancel_or_take() {
                    if let Ok(handle) = wirecall::decode_exact::<Handle>(&bytes) {
                        let releases = self.client.releases();
                        if queue_release(&releases, self.generation, handle) {
                            self.client.poke();
                        }
                    }
                }
            }
            Inner::Failed(_) | Inner::Gone => {}
        }
    }
}

impl RemoteObject for RemoteHandle {
    type Error = ClientError;

    fn invoke<P: Procedure>(
        &self,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
    ) -> Result<P::Output, ClientError> {
        let bytes = postcard::to_allocvec(args).map_err(|_| ClientError::TooLarge)?;
        let out = self.call(P::ID, &bytes, timeout)?;
        P::output(&out).map_err(|_| ClientError::Decode)
    }
}

/// A handle received in session `_generation`, registered for revocations (a handle of
/// an ended session is refused by its generation before anything is sent).
fn held(client: &Client, _generation: u64, handle: Handle) -> Inner {
    let (state, releases) = client.hold(handle);
    Inner::Held {
        handle,
        state,
        releases,
    }
}

fn revoked_error(code: WireError, reason: &str) -> ClientError {
    ClientError::Remote(
        WireError::StaleHandle,
        format!("the peer revoked the handle ({}): {reason}", code.name()),
    )
}
