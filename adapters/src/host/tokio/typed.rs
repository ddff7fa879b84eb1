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
    type Remote = super::AsyncRemoteHandle;

    fn call_export<P: Procedure<Output = wirecall::Handle>>(
        &self,
        schema: u32,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<super::AsyncRemoteHandle, ClientError>> + Send {
        let bytes = postcard::to_allocvec(args).map_err(|_| ClientError::TooLarge);
        async move { AsyncClient::call_export(self, Some(schema), P::ID, &bytes?, timeout).await }
    }

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
/// Dropping it before the end cancels the stream. A generated `AsyncClient`'s stream
/// methods return one.
///
/// ```
/// use std::pin::Pin;
/// use futures_core::Stream;
/// use wirecall::{StreamItems, WireError};
/// use wirecall_adapters::host::tokio::AsyncClient;
/// use wirecall_adapters::host::{serve_tcp, ServeOptions};
///
/// wirecall::service! {
///     pub mod echo {
///         /// Sends each line back reversed (both ways).
///         0 => Reverse: fn reverse(stream String) -> stream String;
///     }
/// }
/// struct Echo;
/// impl echo::HostHandler for Echo {
///     fn reverse(&self, lines: &mut dyn StreamItems<String, String>) -> Result<(), WireError> {
///         while let Some(line) = lines.recv() {
///             lines.send(&line?.chars().rev().collect())?;
///         }
///         Ok(())
///     }
/// }
/// // The next item of any stream (what `StreamExt::next` of futures does).
/// async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
///     std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
/// }
///
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = serve_tcp(listener, echo::serve(Echo), ServeOptions::default())?;
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// runtime.block_on(async move {
///     let raw = AsyncClient::connect(move || tokio::net::TcpStream::connect(addr), wirecall::Config::default());
///     let client = echo::AsyncClient::new(raw);
///     let mut lines = client.reverse().await?;
///     for line in ["abc", "wirecall"] {
///         lines.send(&line.to_string()).await?;
///         let back: String = next(&mut lines).await.ok_or("ended")??;
///         assert_eq!(back, line.chars().rev().collect::<String>());
///     }
///     lines.end_items().await?;
///     lines.finish().await?;
///     Ok::<_, Box<dyn std::error::Error>>(())
/// })?;
/// server.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping a stream cancels it"]
pub struct TypedAsyncStream<P: StreamProcedure> {
    inner: AsyncStream,
    _p: PhantomData<fn() -> P>,
}

impl<P: StreamProcedure> TypedAsyncStream<P> {
    /// The server's next item, decoded (what the [`Stream`] yields): `None` once the stream
    /// ended well, one `Err` if it failed.
    pub async fn next(&mut self) -> Option<Result<P::Item, ClientError>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

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
///
/// ```
/// use wirecall::WireError;
/// use wirecall_adapters::host::tokio::{serve, AsyncClient, IntoAsyncHandler};
/// use wirecall_adapters::host::ServeOptions;
///
/// wirecall::service! {
///     pub mod calc {
///         0 => Add: fn add(a: i32, b: i32) -> i32;
///     }
/// }
/// struct Calc;
/// impl calc::HostHandler for Calc {
///     fn add(&self, a: i32, b: i32) -> Result<i32, WireError> {
///         a.checked_add(b).ok_or(WireError::BadArguments)
///     }
/// }
///
/// /// Serves `handler` on an in-memory stream and calls procedure 0 once.
/// async fn call_once(handler: impl IntoAsyncHandler + Send + 'static, args: &[u8]) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
///     let (client_end, server_end) = tokio::io::duplex(4096);
///     tokio::spawn(serve(server_end, handler, ServeOptions::default()));
///     Ok(AsyncClient::over(client_end, wirecall::Config::default()).call(0, args, None).await?)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Any AsyncHandler (here a closure returning a future)...
/// let upper = |_: u32, args: Vec<u8>| async move { Ok::<_, (WireError, String)>(args.to_ascii_uppercase()) };
/// assert_eq!(call_once(upper, b"abc").await?, b"ABC");
/// // ...or a typed service (its methods run on tokio's blocking threads).
/// let args = postcard::to_allocvec(&(40, 2))?;
/// assert_eq!(call_once(calc::serve(Calc), &args).await?, postcard::to_allocvec(&42)?);
/// # Ok(())
/// # }
/// ```
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
