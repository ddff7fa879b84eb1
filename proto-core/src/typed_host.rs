//! What the typed clients and the host glue that [`service!`](crate::service) generates are
//! generic over. The core implements none of these traits: a host runtime does
//! (`wirecall-adapters` implements [`Caller`] for its blocking `Client`, [`AsyncCaller`] for
//! its tokio `AsyncClient`, and serves any [`Dispatch`] wrapped in [`Served`]). Keeping the
//! traits here lets the macro, which lives in this `no_std` crate, write code for a runtime
//! it cannot name; nothing here is compiled into firmware unless it is used.

use core::future::Future;
use core::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::stream::StreamMode;
use crate::typed::{Procedure, ProcedureInfo, StreamProcedure};
use crate::wire::WireError;

/// Makes calls and opens streams, blocking: what a service's generated `Client` calls
/// through. Every call carries the schema hash of the service it was declared in, and an
/// implementation refuses it (without sending it) unless the peer's handshake announced the
/// same hash: a typed client never reaches another service's procedure of the same number.
pub trait Caller {
    /// Why a call failed.
    type Error;
    /// An open stream of procedure `P`: its items, then its result.
    type Stream<P: StreamProcedure>;
    /// A handle to an object of the peer, as this runtime holds it (released on drop).
    type Remote: RemoteObject<Error = Self::Error>;

    /// Calls `P`, a procedure that returns a handle, on a peer that serves schema
    /// `schema`, and returns the handle. `pipelined`: return at once, before the answer,
    /// so that calls on the handle leave at once too (see the generated client's
    /// `pipelined`).
    fn call_export<P: Procedure<Output = crate::Handle>>(
        &self,
        schema: u32,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
        pipelined: bool,
    ) -> Result<Self::Remote, Self::Error>;

    /// Calls `P` on a peer that serves schema `schema`, waiting at most `timeout` (none:
    /// the implementation's default).
    fn call_procedure<P: Procedure>(
        &self,
        schema: u32,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
    ) -> Result<P::Output, Self::Error>;

    /// Opens stream procedure `P` on a peer that serves schema `schema`; `timeout` bounds
    /// the wait for a session and, if given, the whole stream.
    fn open_procedure<P: StreamProcedure>(
        &self,
        schema: u32,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
    ) -> Result<Self::Stream<P>, Self::Error>;
}

/// A handle to an object the peer exported, as a host runtime holds it: what an
/// interface's generated `Remote` calls through.
pub trait RemoteObject {
    /// Why a call failed.
    type Error;

    /// Calls method `P` on the object, waiting at most `timeout` (none: the runtime's
    /// default).
    fn invoke<P: Procedure>(
        &self,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
    ) -> Result<P::Output, Self::Error>;
}

/// [`RemoteObject`], asynchronous: what an interface's generated `AsyncRemote` calls
/// through.
pub trait AsyncRemoteObject {
    /// Why a call failed.
    type Error;

    /// Calls method `P` on the object (see [`RemoteObject::invoke`]).
    fn invoke<P: Procedure>(
        &self,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<P::Output, Self::Error>> + Send;
}

/// [`Caller`], asynchronous: what a service's generated `AsyncClient` calls through.
pub trait AsyncCaller {
    /// Why a call failed.
    type Error;
    /// An open stream of procedure `P`.
    type Stream<P: StreamProcedure>;
    /// A handle to an object of the peer, as this runtime holds it (released on drop).
    type Remote: AsyncRemoteObject<Error = Self::Error>;

    /// Calls `P`, a procedure that returns a handle, and returns the handle (see
    /// [`Caller::call_export`]; no pipelining here).
    fn call_export<P: Procedure<Output = crate::Handle>>(
        &self,
        schema: u32,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<Self::Remote, Self::Error>> + Send;

    /// Calls `P` on a peer that serves schema `schema` (see [`Caller::call_procedure`]).
    fn call_procedure<P: Procedure>(
        &self,
        schema: u32,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<P::Output, Self::Error>> + Send;

    /// Opens stream procedure `P` (see [`Caller::open_procedure`]).
    fn open_procedure<P: StreamProcedure>(
        &self,
        schema: u32,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<Self::Stream<P>, Self::Error>> + Send;
}

/// The items of a stream being served, as a host runtime moves them: encoded and decoded
/// by the runtime, blocking until the peer grants credit or sends an item. A handler sees
/// it as [`StreamItems`].
pub trait StreamIo {
    /// Sends one item to the caller, waiting for credit. An `Err` means the stream is over
    /// (the caller cancelled it, it timed out, the link went): stop and return the error.
    fn send_item<T: Serialize>(&mut self, item: &T) -> Result<(), WireError>;

    /// [`send_item`](Self::send_item) without writing it at once: it goes out with the
    /// next write (a full queue, a wait for credit or input,
    /// [`flush_items`](Self::flush_items), the handler's return), so that a fast
    /// producer's items share writes.
    fn feed_item<T: Serialize>(&mut self, item: &T) -> Result<(), WireError>;

    /// Writes the items fed and not yet written.
    fn flush_items(&mut self);

    /// The caller's next item, waiting for it; `None` once the caller has ended its items,
    /// `Some(Err)` if the stream failed (`BadArguments`: an item did not decode).
    fn recv_item<T: DeserializeOwned>(&mut self) -> Option<Result<T, WireError>>;
}

/// A stream as a host handler sees it: it receives the caller's `In` items and sends `Out`
/// items to the caller. A server stream is `StreamItems<(), T>`, a client stream
/// `StreamItems<U, ()>`, a bidirectional one `StreamItems<U, T>`.
pub trait StreamItems<In, Out> {
    /// Sends one item to the caller, waiting for credit; `Err` once the stream is over
    /// (return it: `items.send(&x)?`).
    fn send(&mut self, item: &Out) -> Result<(), WireError>;

    /// Sends one item without writing it at once: it goes out with the next write (a full
    /// queue, a wait for credit or input, [`flush`](Self::flush), the return of the
    /// handler). A producer of many items in a row feeds them, so that they share writes;
    /// one that produces now and then sends.
    fn feed(&mut self, item: &Out) -> Result<(), WireError>;

    /// Writes the items fed and not yet written.
    fn flush(&mut self);

    /// The caller's next item; `None` once the caller has ended its items.
    fn recv(&mut self) -> Option<Result<In, WireError>>;
}

impl<X: StreamIo, In: DeserializeOwned, Out: Serialize> StreamItems<In, Out> for X {
    fn send(&mut self, item: &Out) -> Result<(), WireError> {
        self.send_item(item)
    }

    fn feed(&mut self, item: &Out) -> Result<(), WireError> {
        self.feed_item(item)
    }

    fn flush(&mut self) {
        self.flush_items();
    }

    fn recv(&mut self) -> Option<Result<In, WireError>> {
        self.recv_item()
    }
}

/// A typed service ready for a threaded host runtime: decodes a request's arguments, runs
/// the handler, and encodes its result. [`service!`](crate::service) implements it for its
/// generated `Dispatcher<H>` around your `HostHandler`.
pub trait Dispatch: Send + Sync + 'static {
    /// An object the service exports (of any of its interfaces).
    type Object: Send + Sync + 'static;

    /// The service's manifest (serve it so that any host can call the service by name).
    fn manifest(&self) -> &'static [u8];

    /// The service's schema hash (the manifest's).
    fn schema_hash(&self) -> u32;

    /// The service's procedures (for a runtime's detail texts: what a caller got wrong).
    fn procedures(&self) -> &'static [ProcedureInfo];

    /// The longest encoded result of `procedure`, from its declared type (`usize::MAX` if
    /// the type has no bound, 0 for an unknown procedure): the size of the buffer `serve`
    /// needs at most.
    fn max_reply_len(&self, procedure: u32) -> usize;

    /// The longest encoded result of `method` of interface `interface` (as
    /// [`max_reply_len`](Self::max_reply_len) for a procedure).
    fn max_invoke_len(&self, interface: u8, method: u32) -> usize;

    /// True if `procedure` returns a handle (it makes an object to export): a runtime
    /// with a full export table answers `TooManyHandles` without making it.
    fn returns_handle(&self, procedure: u32) -> bool;

    /// Serves one request of `procedure`, opened as `mode`, whose arguments are `args`;
    /// a stream's items move through `io`. The result is encoded into `out` (its length
    /// is returned), or is a new object to export.
    fn serve<X: StreamIo>(
        &self,
        procedure: u32,
        mode: StreamMode,
        args: &[u8],
        io: &mut X,
        out: &mut [u8],
    ) -> Result<Answer<Self::Object>, DispatchError>;

    /// Serves a call of `method` on `object`, whose arguments are `args`; the result is
    /// encoded into `out` and its length returned.
    fn invoke(
        &self,
        object: &Self::Object,
        method: u32,
        args: &[u8],
        out: &mut [u8],
    ) -> Result<usize, DispatchError>;

    /// The name of interface number `interface` ("" if there is none).
    fn interface_name(&self, interface: u8) -> &'static str;
}

/// What [`Dispatch::serve`] answered.
#[derive(Debug)]
pub enum Answer<O> {
    /// A result of this many bytes, at the start of `out`.
    Reply(usize),
    /// A new object, of interface number `interface`, to export: the caller gets its
    /// handle.
    Export {
        /// The interface's number (its module's `INTERFACE`).
        interface: u8,
        /// The object.
        object: O,
    },
}

/// Why [`Dispatch::serve`] produced no result: the caller's mistake, the result's size, or
/// the handler's own answer. [`code`](Self::code) is the wire error to answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DispatchError {
    /// No procedure has the number (`UnknownProcedure`).
    UnknownProcedure,
    /// The arguments do not decode as the procedure's parameters (`BadArguments`).
    BadArguments,
    /// The request was opened as another stream mode than the procedure's
    /// (`BadArguments`).
    WrongMode {
        /// The procedure's mode, as declared.
        declared: StreamMode,
    },
    /// The handler's result did not encode into the buffer (`TooLarge`, or `Internal` if
    /// it failed to encode at all).
    Encode(WireError),
    /// The handler answered with this error.
    Handler(WireError),
}

impl DispatchError {
    /// The wire error to answer with.
    pub fn code(self) -> WireError {
        match self {
            DispatchError::UnknownProcedure => WireError::UnknownProcedure,
            DispatchError::BadArguments | DispatchError::WrongMode { .. } => {
                WireError::BadArguments
            }
            DispatchError::Encode(e) | DispatchError::Handler(e) => e,
        }
    }
}

/// A [`Dispatch`] handed to a host runtime's server (what a service's generated `serve`
/// returns): `serve_tcp(listener, calc::serve(MyHandler), options)`. The runtime serves it
/// on every connection, shares the one handler between them, and serves its manifest.
#[derive(Clone, Copy, Debug)]
pub struct Served<D>(pub D);
