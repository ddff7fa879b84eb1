//! Streams in the async flavour: [`AsyncStream`], a server's items as a
//! [`Stream`](futures_core::Stream).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use tokio::sync::oneshot;
use tokio::time::Instant as TokioInstant;
use wirecall::{Open, StreamMode, StreamProcedure};

use super::{AsyncClient, Shared};
use crate::host::session::{CallOutcome, ClientError, Sent, Start};
use crate::host::slot::{Popped, StreamSlot};

impl AsyncClient {
    /// Opens a server stream on `procedure` (the async [`Client::open_stream`]): its items
    /// arrive through the returned [`Stream`], each one taken granting the server credit
    /// for another. Without `timeout` the stream lasts until it ends, is dropped (the
    /// server is told) or idles past the configured idle timeout; `timeout` also bounds
    /// the wait for a session.
    ///
    /// [`Client::open_stream`]: crate::host::Client::open_stream
    pub async fn open_stream(
        &self,
        procedure: u32,
        args: &[u8],
        timeout: Option<Duration>,
    ) -> Result<AsyncStream, ClientError> {
        self.open_stream_as(None, procedure, args, StreamMode::ServerStream, timeout)
            .await
    }

    /// Opens a stream of any `mode` on `procedure`: a client or bidirectional stream sends
    /// the caller's items with [`AsyncStream::send`]. With `schema`, only in a session
    /// whose peer serves that schema hash.
    pub async fn open_stream_as(
        &self,
        schema: Option<u32>,
        procedure: u32,
        args: &[u8],
        mode: StreamMode,
        timeout: Option<Duration>,
    ) -> Result<AsyncStream, ClientError> {
        let start_by = TokioInstant::now()
            + crate::host::capped(timeout.unwrap_or(self.shared.default_timeout));
        let slot = Arc::new(StreamSlot::default());
        let mut how = Open::stream(mode);
        how.timeout = timeout.map(crate::host::to_core);
        let (rx, id) = self
            .begin(start_by, |session, tx| {
                if let Err(e) = session.check_schema(schema) {
                    return Start::Failed(tx, e);
                }
                let now = crate::host::now();
                session.open(now, procedure, args, how, tx, Some(slot.clone()))
            })
            .await?;
        Ok(AsyncStream {
            shared: self.shared.clone(),
            _owner: self._owner.clone(),
            id,
            slot,
            rx: Some(rx),
            reply: None,
        })
    }

    /// Opens server-stream procedure `P` with typed arguments; decode its items with
    /// `P::decode_item`.
    pub async fn stream_typed<P: StreamProcedure>(
        &self,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
    ) -> Result<AsyncStream, ClientError> {
        let bytes = postcard::to_allocvec(args).map_err(|_| ClientError::TooLarge)?;
        self.open_stream(P::ID, &bytes, timeout).await
    }
}

/// A server stream opened with [`AsyncClient::open_stream`]: the server's items in order,
/// then, if the stream failed, one `Err`. Dropping it before the end cancels the stream.
///
/// It is a [`Stream`]: take items with `StreamExt::next` from `futures` or `tokio-stream`,
/// or with `poll_next` as below. The async flavour serves no streams itself, so the server
/// here is the blocking runtime's.
///
/// ```
/// use std::pin::Pin;
/// use futures_core::Stream;
/// use wirecall::{StreamItems, StreamMode, WireError};
/// use wirecall_adapters::host::tokio::AsyncClient;
/// use wirecall_adapters::host::{serve_tcp, ServeOptions};
///
/// wirecall::service! {
///     pub mod ticks {
///         /// `0..n`.
///         0 => Upto: fn upto(n: u32) -> stream u32;
///         /// Adds up what it is sent.
///         1 => Total: fn total(stream u32) -> u64;
///     }
/// }
/// struct Ticks;
/// impl ticks::HostHandler for Ticks {
///     fn upto(&self, out: &mut dyn StreamItems<(), u32>, n: u32) -> Result<(), WireError> {
///         (0..n).try_for_each(|i| out.send(&i))
///     }
///     fn total(&self, items: &mut dyn StreamItems<u32, ()>) -> Result<u64, WireError> {
///         let mut sum = 0;
///         while let Some(i) = items.recv() {
///             sum += u64::from(i?);
///         }
///         Ok(sum)
///     }
/// }
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = serve_tcp(listener, ticks::serve(Ticks), ServeOptions::default())?;
///
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// runtime.block_on(async move {
///     let client = AsyncClient::connect(move || tokio::net::TcpStream::connect(addr), wirecall::Config::default());
///     // A server stream: encoded items, in order.
///     let args = postcard::to_allocvec(&(5u32,))?;
///     let mut upto = client.open_stream(0, &args, None).await?;
///     let mut items = Vec::new();
///     while let Some(item) = std::future::poll_fn(|cx| Pin::new(&mut upto).poll_next(cx)).await {
///         items.push(postcard::from_bytes::<u32>(&item?)?);
///     }
///     assert_eq!(items, [0, 1, 2, 3, 4]);
///     assert_eq!(upto.reply(), Some(&[][..])); // the end: a `()` answer
///
///     // A client stream: send, end, then the answer.
///     let mut total = client.open_stream_as(None, 1, &[], StreamMode::ClientStream, None).await?;
///     for i in [10u32, 20, 30] {
///         total.send(&postcard::to_allocvec(&i)?).await?;
///     }
///     total.end_items().await?;
///     assert_eq!(postcard::from_bytes::<u64>(&total.finish().await?)?, 60);
///     Ok::<_, Box<dyn std::error::Error>>(())
/// })?;
/// server.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping a stream cancels it"]
pub struct AsyncStream {
    shared: Arc<Shared>,
    _owner: Arc<super::Owner>,
    id: crate::host::session::CallTicket,
    slot: Arc<StreamSlot>,
    /// The call's outcome, until it arrives.
    rx: Option<oneshot::Receiver<CallOutcome>>,
    /// The server's final answer, once in.
    reply: Option<Vec<u8>>,
}

impl AsyncStream {
    /// The server's final answer (the encoded result; `()` is empty), once the stream
    /// ended well.
    pub fn reply(&self) -> Option<&[u8]> {
        self.reply.as_deref()
    }

    /// The server's next item (what the [`Stream`] yields, without a stream-extension
    /// crate): `None` once the stream ended well, one `Err` if it failed.
    pub async fn next(&mut self) -> Option<Result<Vec<u8>, ClientError>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Sends one of the caller's items (a client or bidirectional stream), waiting for
    /// credit while the server has not consumed enough. `Err(StreamEnded)` once the
    /// stream is over.
    pub async fn send(&mut self, item: &[u8]) -> Result<(), ClientError> {
        loop {
            let room = self.shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable(); // registered before trying: no wake-up is missed
            let credits = self.slot.credits();
            let sent = self.shared.lock().session.send_call_item(self.id, item)?;
            match sent {
                Sent::Queued => {
                    self.shared.io.notify_one(); // the link's task writes it
                    return Ok(());
                }
                Sent::NoRoom => {
                    self.shared.io.notify_one();
                    room.await;
                }
                Sent::NoCredit => {
                    std::future::poll_fn(|cx| self.slot.poll_ready(cx, Some(credits))).await;
                    if self.slot.is_ended() {
                        return Err(ClientError::StreamEnded);
                    }
                }
            }
        }
    }

    /// Tells the server the caller's items are over (it then answers).
    pub async fn end_items(&mut self) -> Result<(), ClientError> {
        loop {
            let room = self.shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            let ended = self.shared.lock().session.end_call_items(self.id)?;
            self.shared.io.notify_one();
            if ended {
                return Ok(());
            }
            room.await; // the transmit queue was full
        }
    }

    /// Waits for the server's answer, dropping items still coming: the encoded result,
    /// or why the stream failed.
    pub async fn finish(mut self) -> CallOutcome {
        loop {
            let next = std::future::poll_fn(|cx| Pin::new(&mut self).poll_next(cx)).await;
            match next {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return self.reply.take().ok_or(ClientError::StreamEnded),
            }
        }
    }
}

impl Stream for AsyncStream {
    type Item = Result<Vec<u8>, ClientError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let Some(rx) = this.rx.as_mut() else {
            return Poll::Ready(None);
        };
        match this.slot.poll_pop(cx) {
            Poll::Ready(Popped::Item(item)) => {
                this.shared.lock().session.consume_call_item(this.id);
                this.shared.io.notify_one(); // credit to write, perhaps
                Poll::Ready(Some(Ok(item)))
            }
            Poll::Ready(Popped::Over) => match Pin::new(rx).poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(outcome) => {
                    this.rx = None;
                    match outcome.unwrap_or(Err(ClientError::ConnectionLost)) {
                        Ok(reply) => {
                            this.reply = Some(reply);
                            Poll::Ready(None)
                        }
                        Err(e) => Poll::Ready(Some(Err(e))),
                    }
                }
            },
            Poll::Ready(Popped::Empty) | Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for AsyncStream {
    fn drop(&mut self) {
        if self.rx.is_some() {
            let cancelled = self.shared.lock().session.cancel_call(self.id);
            if cancelled {
                self.shared.io.notify_one(); // the link's task writes the Cancel
            }
        }
    }
}
