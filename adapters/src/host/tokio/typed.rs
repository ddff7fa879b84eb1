//! The typed layer of the async flavour: [`AsyncClient`] is an [`AsyncCaller`] (what a
//! `service!`'s generated `AsyncClient` calls through), and [`serve`](super::serve) takes a
//! typed service from a generated `serve(handler)`.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use wirecall::{AsyncCaller, Config, Dispatch, Procedure, Served, StreamProcedure};

use super::{AsyncClient, AsyncHandler, AsyncStream, OnBlockingThreads};
use crate::host::engine::Capacity;
use crate::host::session::ClientError;
use crate::host::typed::TypedHandler;

impl AsyncCaller for AsyncClient {
    type Error = ClientError;
    type Stream<P: StreamProcedure> = TypedAsyncStream<P>;

    fn call_procedure<P: Procedure>(
        &self,
        schema: u32,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<P::Output, ClientError>> + Send {
        // Encoded now, so the future does not hold the arguments (nor need them `Sync`).
        let bytes = postcard::to_allocvec(args).map_err(|_| ClientError::TooLarge);
        async move {
            let out = self
                .call_checked(Some(schema), P::ID, &bytes?, timeout)
                .await?;
            P::output(&out).map_err(|_| ClientError::Decode)
        }
    }

    fn open_procedure<P: StreamProcedure>(
        &self,
        schema: u32,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<TypedAsyncStream<P>, ClientError>> + Send {
        let bytes = postcard::to_allocvec(args).map_err(|_| ClientError::TooLarge);
        async move {
            let inner = self
                .open_stream_as(Some(schema), P::ID, &bytes?, P::MODE, timeout)
                .await?;
            Ok(TypedAsyncStream {
                inner,
                _p: PhantomData,
            })
        }
    }
}

/// An [`AsyncStream`] of stream procedure `P`: the server's items decoded as `P::Item`
/// (a [`Stream`]), the caller's sent as `P::InItem`, the answer decoded as `P::Output`.
/// Dropping it before the end cancels the stream.
#[must_use = "dropping a stream cancels it"]
pub struct TypedAsyncStream<P: StreamProcedure> {
    inner: AsyncStream,
    _p: PhantomData<fn() -> P>,
}

impl<P: StreamProcedure> TypedAsyncStream<P> {
    /// Sends one of the caller's items, waiting for credit.
    pub async fn send(&mut self, item: &P::InItem) -> Result<(), ClientError> {
        let bytes = postcard::to_allocvec(item).map_err(|_| ClientError::TooLarge)?;
        self.inner.send(&bytes).await
    }

    /// Tells the server the caller's items are over.
    pub async fn end_items(&mut self) -> Result<(), ClientError> {
        self.inner.end_items().await
    }

    /// Waits for the server's answer (dropping items still coming).
    pub async fn finish(self) -> Result<P::Output, ClientError> {
        let out = self.inner.finish().await?;
        P::output(&out).map_err(|_| ClientError::Decode)
    }
}

impl<P: StreamProcedure> Stream for TypedAsyncStream<P> {
    type Item = Result<P::Item, ClientError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        Pin::new(&mut this.inner).poll_next(cx).map(|item| {
            item.map(|r| r.and_then(|b| P::decode_item(&b).map_err(|_| ClientError::Decode)))
        })
    }
}

/// What the async flavour's [`serve`](super::serve) serves: an [`AsyncHandler`], or a
/// typed service from a `service!`'s `serve(handler)`, whose methods run on tokio's
/// blocking threads (the async flavour serves plain calls; it refuses streams).
pub trait IntoAsyncHandler {
    /// The handler, and the settings it needs (a typed service adds its manifest).
    fn into_async_handler(self, config: &mut Config, capacity: &Capacity) -> Arc<dyn AsyncHandler>;
}

impl<H: AsyncHandler> IntoAsyncHandler for H {
    fn into_async_handler(self, _: &mut Config, _: &Capacity) -> Arc<dyn AsyncHandler> {
        Arc::new(self)
    }
}

impl<D: Dispatch> IntoAsyncHandler for Served<D> {
    fn into_async_handler(self, config: &mut Config, capacity: &Capacity) -> Arc<dyn AsyncHandler> {
        let typed = TypedHandler::new(Arc::new(self.0), config, capacity);
        Arc::new(OnBlockingThreads(Arc::new(typed)))
    }
}
