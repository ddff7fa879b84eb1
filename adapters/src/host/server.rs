//! Servers: one link, or every connection of a TCP or Unix listener, each connection with
//! its own thread, endpoint and budgets, so one misbehaving peer cannot slow the others.

use std::io;
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use wirecall::Config;

use super::driver::{self, Msg};
use super::link::Link;
use super::session::{Handler, Session};

/// Serves `handler` on `link` until the link drops, the peer goes silent past its keepalive,
/// or the peer closes. Blocks the calling thread.
pub fn serve_link(link: Link, handler: Box<dyn Handler>, config: Config) {
    let (tx, rx) = mpsc::channel();
    serve_with(link, handler, config, &tx, &rx);
}

fn serve_with(
    link: Link,
    handler: Box<dyn Handler>,
    config: Config,
    tx: &Sender<Msg>,
    rx: &mpsc::Receiver<Msg>,
) {
    // The handler runs on a worker thread: however long it takes, this link keeps moving.
    let Ok(worker) = driver::spawn_worker(handler, tx.clone()) else {
        return;
    };
    let mut session = Session::deferred(super::now(), config);
    let Ok(attached) = driver::attach(link, 1, tx.clone()) else {
        return;
    };
    let mut active = Some(attached);
    driver::run(&mut session, &mut active, rx, None, true, Some(&worker));
    session.fail_all();
}

/// Serves `handler` on a link without connections, such as a serial port, for as long as
/// the link exists: when a host goes away (closes, or falls silent past its keepalive), the
/// endpoint waits for the next host's handshake on the same link. Blocks the calling thread.
pub fn serve_port(link: Link, handler: Box<dyn Handler>, config: Config) {
    let (tx, rx) = mpsc::channel();
    // The handler runs on a worker thread: however long it takes, this link keeps moving.
    let Ok(worker) = driver::spawn_worker(handler, tx.clone()) else {
        return;
    };
    let mut session = Session::deferred(super::now(), config);
    let Ok(attached) = driver::attach(link, 1, tx.clone()) else {
        return;
    };
    let mut active = Some(attached);
    driver::run(&mut session, &mut active, &rx, None, false, Some(&worker));
    session.fail_all();
}

/// Every connection thread of a listener, with the channel that tells it to close.
type Connections = Arc<Mutex<Vec<(Sender<Msg>, JoinHandle<()>)>>>;

/// A running listener; [`stop`](ServerHandle::stop) (or dropping it) closes every
/// connection and joins its accept and connection threads. A handler still working on a
/// request finishes on its own worker thread; its answer is dropped.
pub struct ServerHandle {
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    connections: Connections,
}

impl ServerHandle {
    /// Stops accepting, closes every connection (their peers are told) and waits for the
    /// connection threads; handler threads finish the request in hand on their own.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Connections served so far that are still open.
    pub fn open_connections(&self) -> usize {
        self.connections
            .lock()
            .map(|c| c.iter().filter(|(_, t)| !t.is_finished()).count())
            .unwrap_or(0)
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        let conns = self
            .connections
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default();
        for (tx, _) in &conns {
            let _ = tx.send(Msg::Close);
        }
        for (_, t) in conns {
            let _ = t.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Serves every connection of a TCP listener with a handler from `make_handler`.
pub fn serve_tcp(
    listener: TcpListener,
    make_handler: impl Fn() -> Box<dyn Handler> + Send + 'static,
    config: Config,
) -> io::Result<ServerHandle> {
    serve_listener(listener, make_handler, config)
}

/// Serves every connection of a Unix listener with a handler from `make_handler`.
pub fn serve_unix(
    listener: UnixListener,
    make_handler: impl Fn() -> Box<dyn Handler> + Send + 'static,
    config: Config,
) -> io::Result<ServerHandle> {
    serve_listener(listener, make_handler, config)
}

/// What differs between listeners: how an accepted connection becomes a (blocking) link.
trait Listener: Send + 'static {
    fn set_nonblocking(&self, on: bool) -> io::Result<()>;
    fn accept_link(&self) -> io::Result<Link>;
}

impl Listener for TcpListener {
    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        TcpListener::set_nonblocking(self, on)
    }
    fn accept_link(&self) -> io::Result<Link> {
        let (stream, _) = self.accept()?;
        stream.set_nonblocking(false)?; // accepted sockets inherit the listener's mode
        Link::from_tcp(stream)
    }
}

impl Listener for UnixListener {
    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        UnixListener::set_nonblocking(self, on)
    }
    fn accept_link(&self) -> io::Result<Link> {
        let (stream, _) = self.accept()?;
        stream.set_nonblocking(false)?;
        Link::from_unix(stream)
    }
}

fn serve_listener(
    listener: impl Listener,
    make_handler: impl Fn() -> Box<dyn Handler> + Send + 'static,
    config: Config,
) -> io::Result<ServerHandle> {
    // Non-blocking so the accept loop can notice `stop`.
    listener.set_nonblocking(true)?;
    serve_accepting(move || listener.accept_link(), make_handler, config)
}

fn serve_accepting(
    mut accept: impl FnMut() -> io::Result<Link> + Send + 'static,
    make_handler: impl Fn() -> Box<dyn Handler> + Send + 'static,
    config: Config,
) -> io::Result<ServerHandle> {
    let stop = Arc::new(AtomicBool::new(false));
    let connections: Connections = Arc::default();
    let (stop2, conns2) = (stop.clone(), connections.clone());
    let accept_thread = std::thread::Builder::new()
        .name("wirecall-accept".into())
        .spawn(move || {
            // The listener is non-blocking so this loop can see `stop`; 10 ms between polls.
            while !stop2.load(Ordering::SeqCst) {
                match accept() {
                    Ok(link) => {
                        let (tx, rx) = mpsc::channel();
                        let handler = make_handler();
                        let tx2 = tx.clone();
                        let thread = std::thread::Builder::new()
                            .name("wirecall-conn".into())
                            .spawn(move || serve_with(link, handler, config, &tx2, &rx));
                        if let (Ok(thread), Ok(mut c)) = (thread, conns2.lock()) {
                            c.retain(|(_, t)| !t.is_finished());
                            c.push((tx, thread));
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        })?;
    Ok(ServerHandle {
        stop,
        accept: Some(accept_thread),
        connections,
    })
}
