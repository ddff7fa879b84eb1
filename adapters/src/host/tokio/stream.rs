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
