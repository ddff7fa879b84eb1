//! The client handle: `Clone + Send`, used from any number of threads at once, driven by
//! one I/O thread per link that reconnects with backoff.

use std::io;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wirecall::{Config, Procedure, Stats};

use super::driver::{self, Ended, Msg};
use super::link::Link;
use super::session::{CallOutcome, ClientError, Handler, Session};

/// How a [`Client`] runs.
pub struct ClientOptions {
    /// Settings of the endpoint (deadline default, keepalive, expected schema, ...).
    pub config: Config,
    /// Reconnect when the link drops (default). Without it the client ends with its link.
    pub reconnect: bool,
    /// First wait before reconnecting; it doubles on each failure up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest wait between reconnection attempts.
    pub backoff_max: Duration,
    /// Serves calls the peer makes to this side, if any.
    pub handler: Option<Box<dyn Handler>>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            config: Config::default(),
            reconnect: true,
            backoff_min: Duration::from_millis(20),
            backoff_max: Duration::from_secs(2),
            handler: None,
        }
    }
}

/// Calls procedures on the peer of one link. Cheap to clone; every clone shares the link.
/// The link (and a child process behind it) is released when the last clone is dropped.
#[derive(Clone)]
pub struct Client {
    tx: Sender<Msg>,
    _owner: Arc<Owner>,
}

/// Closes the I/O thread and waits for it when the last clone goes.
struct Owner {
    tx: Sender<Msg>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Close);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Client {
    /// A client over links made by `connect`, called again (with backoff) whenever the link
    /// drops, until the client is dropped. Calls made while disconnected wait for the next
    /// handshake, up to their deadline. Fails only if the I/O thread cannot be started.
    pub fn connect(
        connect: impl FnMut() -> io::Result<Link> + Send + 'static,
        options: ClientOptions,
    ) -> io::Result<Client> {
        let (tx, rx) = mpsc::channel();
        let reader_tx = tx.clone();
        let thread = std::thread::Builder::new()
            .name("wirecall-io".into())
            .spawn(move || drive(connect, options, &rx, &reader_tx))?;
        Ok(Client {
            tx: tx.clone(),
            _owner: Arc::new(Owner {
                tx,
                thread: Some(thread),
            }),
        })
    }

    /// A client over one link, without reconnection.
    pub fn over(link: Link, mut options: ClientOptions) -> io::Result<Client> {
        options.reconnect = false;
        let mut link = Some(link);
        Client::connect(
            move || {
                link.take()
                    .ok_or_else(|| io::Error::other("the link is gone"))
            },
            options,
        )
    }

    /// Calls `procedure` with encoded `args` and waits for the outcome. `timeout` defaults
    /// to the configured call timeout; it includes any wait for a connection.
    pub fn call(&self, procedure: u32, args: &[u8], timeout: Option<Duration>) -> CallOutcome {
        let (done_tx, done_rx) = mpsc::channel();
        let done = Box::new(move |outcome: CallOutcome| {
            let _ = done_tx.send(outcome);
        });
        let msg = Msg::Call {
            procedure,
            args: args.to_vec(),
            timeout,
            done,
        };
        if self.tx.send(msg).is_err() {
            return Err(ClientError::ConnectionLost);
        }
        done_rx.recv().unwrap_or(Err(ClientError::ConnectionLost))
    }

    /// Calls procedure `P` with typed arguments and decodes its typed result.
    pub fn call_typed<P: Procedure>(
        &self,
        args: &P::Args,
        timeout: Option<Duration>,
    ) -> Result<P::Output, ClientError> {
        let bytes = postcard::to_allocvec(args).map_err(|_| ClientError::TooLarge)?;
        let out = self.call(P::ID, &bytes, timeout)?;
        P::output(&out).map_err(|_| ClientError::Decode)
    }

    /// The endpoint's statistics, and whether the link is up now.
    pub fn stats(&self) -> Option<(Stats, bool)> {
        let (tx, rx) = mpsc::channel();
        let reply = Box::new(move |s: Stats, up: bool| {
            let _ = tx.send((s, up));
        });
        self.tx.send(Msg::Stats(reply)).ok()?;
        rx.recv().ok()
    }

    /// Waits until the link is up (handshake done), for at most `timeout`.
    pub fn wait_connected(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.stats().is_some_and(|(_, up)| up) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }
}

/// The I/O thread: connect, run the session until the link drops, fail what was pending,
/// back off, reconnect.
fn drive(
    mut connect: impl FnMut() -> io::Result<Link>,
    mut options: ClientOptions,
    rx: &mpsc::Receiver<Msg>,
    tx: &Sender<Msg>,
) {
    let handler = options.handler.take();
    // With a handler, requests from the peer go to a worker thread, so a slow handler never
    // stalls this thread (and with it, keepalive).
    let worker = handler.and_then(|h| driver::spawn_worker(h, tx.clone()).ok());
    let mut session = match worker {
        Some(_) => Session::deferred(super::now(), options.config),
        None => Session::new(super::now(), options.config, None),
    };
    let worker = worker.as_ref();
    let mut backoff = options.backoff_min;
    let mut generation = 0u64;
    loop {
        match connect() {
            Ok(link) => {
                generation += 1;
                session.restart(super::now(), options.config);
                let Ok(attached) = driver::attach(link, generation, tx.clone()) else {
                    continue; // no thread for the reader: treat it as a failed connection
                };
                let mut active = Some(attached);
                let ended = driver::run(&mut session, &mut active, rx, None, true, worker);
                drop(active); // release the link (shutdown, or kill the child) before waiting
                if session.has_connected() {
                    backoff = options.backoff_min;
                }
                session.fail_all();
                // Until the next link, calls must wait for a handshake, not be sent into a
                // session whose link is gone: start a fresh endpoint now.
                session.restart(super::now(), options.config);
                if ended == Ended::Closed {
                    return; // the application closed: the Close message is consumed
                }
                if !options.reconnect {
                    return finish(&mut session, rx);
                }
            }
            Err(_) if !options.reconnect => return finish(&mut session, rx),
            Err(_) => {}
        }
        // Disconnected: keep taking calls (they wait) until the next attempt.
        let mut none = None;
        if driver::run(
            &mut session,
            &mut none,
            rx,
            Some(Instant::now() + backoff),
            true,
            worker,
        ) == Ended::Closed
        {
            return;
        }
        backoff = (backoff * 2).min(options.backoff_max);
    }
}

/// After the last link: answer every later call with `ConnectionLost` until closed.
fn finish(session: &mut Session, rx: &mpsc::Receiver<Msg>) {
    session.fail_all();
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Call { done, .. } => done(Err(ClientError::ConnectionLost)),
            Msg::Stats(reply) => reply(*session.endpoint().stats(), false),
            Msg::Close => return,
            Msg::Bytes(..) | Msg::Eof(_) | Msg::Answer(..) => {}
        }
    }
}
