//! Typed stream handles: a stream of a [`StreamProcedure`] with its item types, for code
//! that drives an [`Endpoint`] itself (firmware, no allocator). A handle is a typed id: it
//! holds no buffer, and every operation takes the endpoint.
//!
//! Items arrive as [`Event::Item`]s like any other event; a handle decodes the ones that
//! belong to it, and the application reports them consumed once it no longer holds them
//! (after the event, whose bytes borrow the endpoint, is dropped), which grants the peer
//! credit for more.

use core::marker::PhantomData;

use crate::endpoint::Endpoint;
use crate::error::{CallError, CancelError, RespondError, StreamError};
use crate::event::{CallId, Event, RequestId};
use crate::payload::Postcard;
use crate::stream::{Open, StreamId};
use crate::time::{Duration, Instant};
use crate::typed::{DecodeError, Procedure, StreamProcedure};
use crate::wire::WireError;

/// A stream of procedure `P` that this side opened: it sends `P::InItem`s (if the caller
/// sends), receives `P::Item`s (if the server sends), and ends with the server's
/// `P::Output`, which arrives as the call's [`Event::Reply`].
///
/// ```
/// use wirecall::{CallerStream, Config, Endpoint, Instant};
/// wirecall::service! {
///     pub mod sensor {
///         0 => Sample: fn sample(hz: u32) -> stream i32;
///     }
/// }
/// let mut ep: Endpoint = Endpoint::new(Instant::ZERO, Config::default());
/// // Before a session there is nobody to open it with.
/// assert!(CallerStream::<sensor::Sample>::open(&mut ep, Instant::ZERO, &(10,), None).is_err());
/// ```
#[derive(Debug)]
pub struct CallerStream<P> {
    id: CallId,
    _p: PhantomData<fn() -> P>,
}

impl<P: StreamProcedure> CallerStream<P> {
    /// Opens the stream with its arguments; `timeout` is its deadline (none: it lasts until
    /// it ends, is cancelled, or idles).
    pub fn open<const F: usize, const I: usize, const O: usize, const T: usize, const H: usize>(
        ep: &mut Endpoint<F, I, O, T, H>,
        now: Instant,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
    ) -> Result<Self, CallError> {
        let mut how = Open::stream(P::MODE);
        how.timeout = timeout;
        let id = ep.open(now, P::ID, Postcard(args), how)?;
        Ok(CallerStream {
            id,
            _p: PhantomData,
        })
    }

    /// The call's id (its [`Event::Reply`] or [`Event::CallFailed`] ends the stream).
    pub fn id(&self) -> CallId {
        self.id
    }

    /// Sends one of the caller's items (one credit; `NoCredit` until the server grants
    /// more, announced by [`Event::Credit`]).
    pub fn send<const F: usize, const I: usize, const O: usize, const T: usize, const H: usize>(
        &self,
        ep: &mut Endpoint<F, I, O, T, H>,
        item: &P::InItem,
    ) -> Result<(), StreamError> {
        ep.send_item(self.id, Postcard(item))
    }

    /// Ends the caller's items; the server then answers.
    pub fn end<const F: usize, const I: usize, const O: usize, const T: usize, const H: usize>(
        &self,
        ep: &mut Endpoint<F, I, O, T, H>,
    ) -> Result<(), StreamError> {
        ep.end_items(self.id)
    }

    /// The server's item carried by `event`, if it is one of this stream's.
    pub fn item(&self, event: &Event<'_>) -> Option<Result<P::Item, DecodeError>> {
        match event {
            Event::Item { stream, item } if *stream == StreamId::Call(self.id) => {
                Some(P::decode_item(item))
            }
            _ => None,
        }
    }

    /// The server's answer carried by `event`, if it ends this stream: `Ok` with the
    /// decoded output for a Reply, `Err(None)` for a failure (see the event for why), or
    /// `Err(Some(..))` for an output that does not decode.
    pub fn end_of(&self, event: &Event<'_>) -> Option<Result<P::Output, Option<DecodeError>>> {
        match event {
            Event::Reply { id, payload } if *id == self.id => {
                Some(P::output(payload).map_err(Some))
            }
            Event::CallFailed { id, .. } if *id == self.id => Some(Err(None)),
            _ => None,
        }
    }

    /// Reports `items` of the server's items consumed: the server may send as many more.
    pub fn consumed<
        const F: usize,
        const I: usize,
        const O: usize,
        const T: usize,
        const H: usize,
    >(
        &self,
        ep: &mut Endpoint<F, I, O, T, H>,
        items: u32,
    ) -> Result<(), StreamError> {
        ep.consume(self.id, items)
    }

    /// Cancels the stream (the server is told).
    pub fn cancel<
        const F: usize,
        const I: usize,
        const O: usize,
        const T: usize,
        const H: usize,
    >(
        self,
        ep: &mut Endpoint<F, I, O, T, H>,
    ) -> Result<(), CancelError> {
        ep.cancel(self.id)
    }
}

/// A stream of procedure `P` that this side serves: it sends `P::Item`s (if the server
/// sends), receives `P::InItem`s (if the caller sends), and ends it with `P::Output` or an
/// error. Made from the request id when the generated `dispatch_request` returned
/// [`Dispatched::Stream`](crate::Dispatched::Stream).
#[derive(Debug)]
pub struct ServedStream<P> {
    id: RequestId,
    _p: PhantomData<fn() -> P>,
}

impl<P: StreamProcedure> ServedStream<P> {
    /// The handle of request `id`, a stream of `P`.
    pub fn new(id: RequestId) -> Self {
        ServedStream {
            id,
            _p: PhantomData,
        }
    }

    /// The request's id.
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// Items this side may send now (0 once the stream is over).
    pub fn credit<
        const F: usize,
        const I: usize,
        const O: usize,
        const T: usize,
        const H: usize,
    >(
        &self,
        ep: &Endpoint<F, I, O, T, H>,
    ) -> u32 {
        ep.credit(self.id)
    }

    /// Sends one item (one credit; `NoCredit` until the caller grants more).
    pub fn send<const F: usize, const I: usize, const O: usize, const T: usize, const H: usize>(
        &self,
        ep: &mut Endpoint<F, I, O, T, H>,
        item: &P::Item,
    ) -> Result<(), StreamError> {
        ep.send_item(self.id, Postcard(item))
    }

    /// The caller's item carried by `event`, if it is one of this stream's.
    pub fn item(&self, event: &Event<'_>) -> Option<Result<P::InItem, DecodeError>> {
        match event {
            Event::Item { stream, item } if *stream == StreamId::Request(self.id) => {
                Some(P::decode_in_item(item))
            }
            _ => None,
        }
    }

    /// Reports `items` of the caller's items consumed.
    pub fn consumed<
        const F: usize,
        const I: usize,
        const O: usize,
        const T: usize,
        const H: usize,
    >(
        &self,
        ep: &mut Endpoint<F, I, O, T, H>,
        items: u32,
    ) -> Result<(), StreamError> {
        ep.consume(self.id, items)
    }

    /// Ends the stream with its output (after this side's last item).
    pub fn finish<
        const F: usize,
        const I: usize,
        const O: usize,
        const T: usize,
        const H: usize,
    >(
        self,
        ep: &mut Endpoint<F, I, O, T, H>,
        output: &P::Output,
    ) -> Result<(), (Self, RespondError)> {
        ep.respond(self.id, Postcard(output)).map_err(|e| (self, e))
    }

    /// Ends the stream with an error.
    pub fn fail<const F: usize, const I: usize, const O: usize, const T: usize, const H: usize>(
        self,
        ep: &mut Endpoint<F, I, O, T, H>,
        error: WireError,
    ) -> Result<(), (Self, RespondError)> {
        ep.respond_error(self.id, error, "").map_err(|e| (self, e))
    }
}

// `Procedure` is a supertrait of `StreamProcedure`; named here so the docs link resolves.
#[allow(unused_imports)]
use Procedure as _;
