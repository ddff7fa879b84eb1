//! The async flavour on tokio: the same [`Session`] (and so the same core), driven by a task
//! instead of a thread. Any `AsyncRead + AsyncWrite` stream is a link: a `TcpStream`, a
//! `UnixStream`, a child's stdio, a serial port crate's async stream.
//!
//! This flavour serves one stream per client (no reconnection: make a new client on a new
//! stream); the blocking [`Client`](super::Client) reconnects by itself. Handlers run
//! inside the task, and a write waits for the stream before the task reads again: fine for
//! sockets and pipes with kernel buffers, but two peers joined by a tiny in-memory duplex
//! that both write more than its buffer at once would wait on each other.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use wirecall::{Config, Disconnect, Procedure};

use super::session::{CallOutcome, ClientError, Completion, Handler, Session};

enum Cmd {
    Call {
        procedure: u32,
        args: Vec<u8>,
        timeout: Option<Duration>,
        done: Completion,
    },
    Close,
}

/// Calls procedures on the peer of one async stream. Cheap to clone; the stream's task ends
/// when the last clone is dropped (the peer is told) or the stream ends.
#[derive(Clone)]
pub struct AsyncClient {
    tx: mpsc::UnboundedSender<Cmd>,
}

impl AsyncClient {
    /// Starts the client's task on `stream` (on the current tokio runtime). `handler`, if
    /// any, serves the calls the peer makes to this side.
    pub fn new<S>(stream: S, config: Config, handler: Option<Box<dyn Handler>>) -> AsyncClient
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(drive(
            stream,
            Session::new(super::now(), config, handler),
            rx,
        ));
        AsyncClient { tx }
    }

    /// Calls `procedure` with encoded `args`; `timeout` defaults to the configured one.
    pub async fn call(
        &self,
        procedure: u32,
        args: &[u8],
        timeout: Option<Duration>,
    ) -> CallOutcome {
        let (done_tx, done_rx) = oneshot::channel();
        let done: Completion = Box::new(move |outcome| {
            let _ = done_tx.send(outcome);
        });
        let cmd = Cmd::Call {
            procedure,
            args: args.to_vec(),
            timeout,
            done,
        };
        if self.tx.send(cmd).is_err() {
            return Err(ClientError::ConnectionLost);
        }
        done_rx.await.unwrap_or(Err(ClientError::ConnectionLost))
    }

    /// Calls procedure `P` with typed arguments and decodes its typed result.
    pub async fn call_typed<P: Procedure>(
        &self,
        args: &P::Args,
        timeout: Option<Duration>,
    ) -> Result<P::Output, ClientError> {
        let bytes = postcard::to_allocvec(args).map_err(|_| ClientError::TooLarge)?;
        let out = self.call(P::ID, &bytes, timeout).await?;
        P::output(&out).map_err(|_| ClientError::Decode)
    }

    /// Closes the session now (the peer is told); pending calls end with `ConnectionLost`.
    pub fn close(&self) {
        let _ = self.tx.send(Cmd::Close);
    }
}

/// Serves `handler` on `stream` until the stream ends, the peer goes silent past its
/// keepalive, or the peer closes.
pub async fn serve<S>(stream: S, handler: Box<dyn Handler>, config: Config)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    // No client: the command channel stays open (and empty) for the life of the session.
    let (_tx, rx) = mpsc::unbounded_channel();
    drive(
        stream,
        Session::new(super::now(), config, Some(handler)),
        rx,
    )
    .await;
}

/// The task: wait for bytes, a command or the next deadline; feed the session; write out.
async fn drive<S>(stream: S, mut session: Session, mut rx: mpsc::UnboundedReceiver<Cmd>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut buf = vec![0u8; 4096];
    let mut out = Vec::new();
    loop {
        let wait = session
            .next_timeout()
            .map(|t| Duration::from_micros(t.saturating_since(super::now()).as_micros()))
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            read = reader.read(&mut buf) => match read {
                Ok(n) if n > 0 => session.input(super::now(), &buf[..n], &mut out),
                _ => break, // end of stream, or a read error: the link is gone
            },
            cmd = rx.recv() => match cmd {
                Some(Cmd::Call { procedure, args, timeout, done }) => {
                    session.call(super::now(), procedure, args, timeout, done, &mut out);
                }
                Some(Cmd::Close) | None => {
                    session.close(super::now(), &mut out);
                    let _ = writer.write_all(&out).await;
                    let _ = writer.shutdown().await;
                    return;
                }
            },
            () = tokio::time::sleep(wait) => session.timeout(super::now(), &mut out),
        }
        if !out.is_empty() {
            if writer.write_all(&out).await.is_err() || writer.flush().await.is_err() {
                break;
            }
            out.clear();
        }
        if session
            .take_disconnect()
            .is_some_and(|why| !matches!(why, Disconnect::PeerRestarted))
        {
            break;
        }
    }
    session.fail_all();
    // Answer calls that arrive after the end, until every client handle is gone.
    rx.close();
    while let Some(cmd) = rx.recv().await {
        if let Cmd::Call { done, .. } = cmd {
            done(Err(ClientError::ConnectionLost));
        }
    }
}
