//! Servers: one link, or every connection of a TCP or Unix listener. Each connection has
//! its own endpoint and budgets and one thread that reads it; a listener refuses
//! connections over its limit with an explicit `Close(Busy)`.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use wirecall::{Config, WireError};

use super::conn::Conn;
use super::engine::Capacity;
use super::link::{Link, SERVER_READ_TICK};
use super::runtime::{Runtime, RuntimeOwner};
use super::session::{Handler, Session};
use super::typed::{HandlerFactory, IntoHandler, IntoHandlers};

/// How a server runs. `From<Config>` gives the defaults with that config.
///
/// A server at its connection limit turns a new connection away with `Close(Busy)`, and
/// its client learns why:
///
/// ```
/// use std::net::TcpListener;
/// use wirecall::{Config, WireError};
/// use wirecall_adapters::host::{serve_tcp, Client, ClientError, ClientOptions, Link, ServeOptions};
///
/// let echo = |_: u32, args: &[u8]| Ok::<_, (WireError, String)>(args.to_vec());
/// let options = ServeOptions {
///     max_connections: 1,
///     ..ServeOptions::from(Config::default())
/// };
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = serve_tcp(listener, move || Box::new(echo), options)?;
///
/// let first = Client::connect(move || Link::tcp(addr), ClientOptions::default())?;
/// assert_eq!(first.call(0, b"hi", None)?, b"hi");
/// // One connection too many (`over`: no reconnection, so the refusal is final).
/// let second = Client::over(Link::tcp(addr)?, ClientOptions::default())?;
/// assert_eq!(second.call(0, b"hi", None), Err(ClientError::Refused(WireError::Busy)));
/// assert_eq!(server.refused_connections(), 1);
/// drop((first, second));
/// server.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    /// Settings of each connection's endpoint.
    pub config: Config,
    /// Largest frame and calls served at once per connection (default 4 KiB, 32).
    pub capacity: Capacity,
    /// Connections served at once (default 256). A connection over the limit is accepted,
    /// told `Close(Busy)` and closed.
    pub max_connections: usize,
    /// Threads the server may lend, all connections together, to connections whose reader
    /// is busy serving a long request (default 64). With every lent thread busy, a
    /// connection whose handler is slow reads on when one of its handlers returns. A
    /// stream's handler runs for as long as its stream: each one open holds a thread (the
    /// connection's own, or a lent one), and a request it reads meanwhile is served by
    /// another, so a connection serving streams needs lent threads to serve anything else.
    /// A request read while a stream's handler waits, for which no thread is free within
    /// 300 ms, is answered `Busy` (the busy threads may all be waiting for this peer's
    /// items, which nobody would read while the request waited).
    pub max_lent_threads: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions::from(Config::default())
    }
}

impl From<Config> for ServeOptions {
    fn from(config: Config) -> Self {
        ServeOptions {
            config,
            capacity: Capacity::default(),
            max_connections: 256,
            max_lent_threads: 64,
        }
    }
}

/// Serves `handler` on `link` until the link drops, the peer goes silent past its keepalive,
/// or the peer closes. Blocks the calling thread, which reads the link.
///
/// `handler` is a [`Handler`] in a box, or a typed service from a `service!`'s generated
/// `serve` (see [`IntoHandler`]):
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use wirecall::WireError;
/// use wirecall_adapters::host::{serve_link, Client, ClientOptions, Link, ServeOptions};
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
/// // A socket pair stands in for any link (a pipe, a child's stdio, a serial line).
/// let (here, there) = UnixStream::pair()?;
/// let link = Link::from_unix(there)?;
/// let server = std::thread::spawn(move || serve_link(link, calc::serve(Calc), ServeOptions::default()));
///
/// let client = calc::Client::new(Client::over(Link::from_unix(here)?, ClientOptions::default())?);
/// assert_eq!(client.add(40, 2)?, 42);
/// drop(client); // the link closes, and serve_link returns
/// server.join().expect("the server ran");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn serve_link(link: Link, handler: impl IntoHandler, options: impl Into<ServeOptions>) {
    serve_one(link, handler, options.into(), true);
}

/// Serves `handler` on a link without connections, such as a serial port, for as long as
/// the link exists: when a host goes away (closes, or falls silent past its keepalive), the
/// endpoint waits for the next host's handshake on the same link. Blocks the calling thread.
/// It returns when the link itself ends (a read returns end of file).
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
/// use wirecall::WireError;
/// use wirecall_adapters::host::{serve_port, Client, ClientOptions, Link, ServeOptions};
///
/// // One end of a socket pair plays a serial port (`Link::serial(path, baud)` on a device).
/// let (host_end, port) = UnixStream::pair()?;
/// let echo = |_: u32, args: &[u8]| Ok::<_, (WireError, String)>(args.to_vec());
/// let device = std::thread::spawn(move || {
///     serve_port(Link::from_unix(port).unwrap(), Box::new(echo), ServeOptions::default())
/// });
///
/// // Hosts come and go on the other end, one after another, like programs that open a
/// // serial port in turn: each gets a session of its own. Each host's link leaves the
/// // socket open when it is released.
/// let host_link = |socket: &UnixStream| -> std::io::Result<Link> {
///     let (reader, writer) = (socket.try_clone()?, socket.try_clone()?);
///     reader.set_read_timeout(Some(Duration::from_millis(50)))?;
///     Ok(Link::from_parts("host", reader, writer, || {}))
/// };
/// for text in [&b"first host"[..], b"second host"] {
///     let host = Client::over(host_link(&host_end)?, ClientOptions::default())?;
///     assert_eq!(host.call(0, text, None)?, text);
/// } // dropped: the host says goodbye, and the device waits for the next
///
/// // The port itself goes away: serve_port returns.
/// host_end.shutdown(std::net::Shutdown::Both)?;
/// device.join().expect("the device ran");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn serve_port(link: Link, handler: impl IntoHandler, options: impl Into<ServeOptions>) {
    serve_one(link, handler, options.into(), false);
}

fn serve_one(
    link: Link,
    handler: impl IntoHandler,
    mut options: ServeOptions,
    end_on_disconnect: bool,
) {
    let handler = handler.into_handler(&mut options.config, &options.capacity);
    let Ok(runtime) = Runtime::start("wirecall-serve", options.max_lent_threads) else {
        return;
    };
    let session = Session::new(super::now(), options.config, options.capacity);
    let conn = Conn::new(
        session,
        Some(Arc::from(handler)),
        runtime.runtime.clone(),
        end_on_disconnect,
    );
    runtime.runtime.register(&conn);
    conn.attach(link, false);
    conn.serve_home();
    conn.detach(true);
}

/// A running listener. [`stop`](ServerHandle::stop) (or dropping it) stops accepting,
/// closes every connection (their peers are told `ShuttingDown`) and joins every thread it
/// started; a handler still running finishes first.
///
/// ```
/// use std::net::TcpListener;
/// use wirecall::WireError;
/// use wirecall_adapters::host::{serve_tcp, Client, ClientOptions, Link};
///
/// let echo = |_: u32, args: &[u8]| Ok::<_, (WireError, String)>(args.to_vec());
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = serve_tcp(listener, move || Box::new(echo), wirecall::Config::default())?;
/// assert_eq!(server.open_connections(), 0);
///
/// let a = Client::over(Link::tcp(addr)?, ClientOptions::default())?;
/// let b = Client::over(Link::tcp(addr)?, ClientOptions::default())?;
/// assert_eq!(a.call(0, b"a", None)?, b"a");
/// assert_eq!(b.call(0, b"b", None)?, b"b");
/// assert_eq!(server.open_connections(), 2);
/// assert_eq!(server.refused_connections(), 0); // the limit is 256 by default
///
/// server.stop(); // both connections are closed: their clients' calls end
/// assert!(a.call(0, b"a", None).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping the handle stops the server at once"]
pub struct ServerHandle {
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
    /// A second handle on the listening socket, to wake a blocked `accept` on stop.
    listener: OwnedFd,
    runtime: Option<RuntimeOwner>,
}

struct Shared {
    stop: AtomicBool,
    conns: Mutex<Vec<(Arc<Conn>, JoinHandle<()>)>>,
    refused: AtomicU64,
}

impl ServerHandle {
    /// Stops the server; see the type's docs.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.shared
            .conns
            .lock()
            .map(|c| c.iter().filter(|(_, t)| !t.is_finished()).count())
            .unwrap_or(0)
    }

    /// Connections refused so far because the server was at its connection limit.
    pub fn refused_connections(&self) -> u64 {
        self.shared.refused.load(Ordering::SeqCst)
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // A blocked accept returns once its socket is shut down.
        let _ = rustix::net::shutdown(&self.listener, rustix::net::Shutdown::Read);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        let conns = self
            .shared
            .conns
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default();
        for (conn, _) in &conns {
            conn.close(WireError::ShuttingDown);
        }
        for (_, t) in conns {
            let _ = t.join();
        }
        drop(self.runtime.take());
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Serves every connection of a TCP listener with a handler from `make_handler` (one per
/// connection). `options` is a [`ServeOptions`] or just a `Config`.
///
/// State shared by every connection lives behind an `Arc` that the factory clones into
/// each handler (handlers run on several threads at once: use atomics or a lock):
///
/// ```
/// use std::net::TcpListener;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use wirecall::WireError;
/// use wirecall_adapters::host::{serve_tcp, Client, ClientOptions, Handler, Link};
///
/// // Procedure 0 counts the calls made on every connection together.
/// let calls = Arc::new(AtomicU32::new(0));
/// let shared = calls.clone();
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = serve_tcp(
///     listener,
///     move || -> Box<dyn Handler> {
///         let calls = shared.clone();
///         Box::new(move |procedure: u32, _: &[u8]| match procedure {
///             0 => Ok(vec![calls.fetch_add(1, Ordering::SeqCst) as u8 + 1]),
///             _ => Err((WireError::UnknownProcedure, String::new())),
///         })
///     },
///     wirecall::Config::default(),
/// )?;
///
/// // Two clients, two connections, one count.
/// let a = Client::connect(move || Link::tcp(addr), ClientOptions::default())?;
/// let b = Client::connect(move || Link::tcp(addr), ClientOptions::default())?;
/// assert_eq!(a.call(0, &[], None), Ok(vec![1]));
/// assert_eq!(b.call(0, &[], None), Ok(vec![2]));
/// assert_eq!(a.call(0, &[], None), Ok(vec![3]));
/// assert_eq!(calls.load(Ordering::SeqCst), 3);
/// drop((a, b));
/// server.stop();
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn serve_tcp(
    listener: TcpListener,
    make_handler: impl IntoHandlers,
    options: impl Into<ServeOptions>,
) -> io::Result<ServerHandle> {
    let mut options = options.into();
    let factory = make_handler.into_handlers(&mut options.config, &options.capacity);
    serve_listener(listener, factory, options)
}

/// Serves every connection of a Unix listener with a handler from `make_handler`, as
/// [`serve_tcp`] does.
///
/// ```
/// use std::os::unix::net::UnixListener;
/// use wirecall::WireError;
/// use wirecall_adapters::host::{serve_unix, Client, ClientOptions, Link, ServeOptions};
///
/// wirecall::service! {
///     pub mod greeter {
///         0 => Greet: fn greet(name: &str) -> String;
///     }
/// }
/// struct Greeter;
/// impl greeter::HostHandler for Greeter {
///     fn greet(&self, name: &str) -> Result<String, WireError> {
///         Ok(format!("hello, {name}"))
///     }
/// }
///
/// let path = std::env::temp_dir().join(format!("wirecall-doc-{}.sock", std::process::id()));
/// let _ = std::fs::remove_file(&path); // a stale socket from an earlier run
/// let server = serve_unix(UnixListener::bind(&path)?, greeter::serve(Greeter), ServeOptions::default())?;
///
/// let socket = path.clone();
/// let client = Client::connect(move || Link::unix(&socket), ClientOptions::default())?;
/// let client = greeter::Client::new(client);
/// assert_eq!(client.greet("unix")?, "hello, unix");
/// drop(client);
/// server.stop();
/// std::fs::remove_file(&path)?; // the listener leaves its socket file behind
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn serve_unix(
    listener: UnixListener,
    make_handler: impl IntoHandlers,
    options: impl Into<ServeOptions>,
) -> io::Result<ServerHandle> {
    let mut options = options.into();
    let factory = make_handler.into_handlers(&mut options.config, &options.capacity);
    serve_listener(listener, factory, options)
}

/// What differs between listeners: their sockets, and how one becomes a link.
pub(crate) trait Listener: AsFd + Send + 'static {
    type Stream: Socket;
    fn accept_stream(&self) -> io::Result<Self::Stream>;
    fn into_link(stream: Self::Stream) -> io::Result<Link>;
}

/// An accepted socket, as far as a refusal needs it.
pub(crate) trait Socket: Read + Write + Send {
    fn shut_write(&self);
    fn set_timeouts(&self, d: Duration);
}

impl Listener for TcpListener {
    type Stream = TcpStream;
    fn accept_stream(&self) -> io::Result<TcpStream> {
        Ok(self.accept()?.0)
    }
    fn into_link(stream: TcpStream) -> io::Result<Link> {
        Link::from_tcp_ticking(stream, SERVER_READ_TICK)
    }
}

impl Socket for TcpStream {
    fn shut_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
    fn set_timeouts(&self, d: Duration) {
        let _ = self.set_read_timeout(Some(d));
        let _ = self.set_write_timeout(Some(d));
    }
}

impl Listener for UnixListener {
    type Stream = UnixStream;
    fn accept_stream(&self) -> io::Result<UnixStream> {
        Ok(self.accept()?.0)
    }
    fn into_link(stream: UnixStream) -> io::Result<Link> {
        Link::from_unix_ticking(stream, SERVER_READ_TICK)
    }
}

impl Socket for UnixStream {
    fn shut_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
    fn set_timeouts(&self, d: Duration) {
        let _ = self.set_read_timeout(Some(d));
        let _ = self.set_write_timeout(Some(d));
    }
}

fn serve_listener<L: Listener>(
    listener: L,
    make_handler: HandlerFactory,
    options: ServeOptions,
) -> io::Result<ServerHandle> {
    options.capacity.validate().map_err(io::Error::other)?;
    let waker = listener.as_fd().try_clone_to_owned()?;
    rustix::io::ioctl_fionbio(&listener, false)?; // accept blocks (stop wakes it)
    let runtime = Runtime::start("wirecall-server", options.max_lent_threads)?;
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        conns: Mutex::new(Vec::new()),
        refused: AtomicU64::new(0),
    });
    let (sh, rt) = (shared.clone(), runtime.runtime.clone());
    let refusal = refusal_bytes();
    let accept = std::thread::Builder::new()
        .name("wirecall-accept".into())
        .spawn(move || {
            while !sh.stop.load(Ordering::SeqCst) {
                let stream = match listener.accept_stream() {
                    Ok(stream) => stream,
                    Err(_) if sh.stop.load(Ordering::SeqCst) => return,
                    Err(_) => {
                        // Out of descriptors, or a connection reset before it was taken:
                        // pause a little instead of spinning.
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                };
                let mut conns = match sh.conns.lock() {
                    Ok(c) => c,
                    Err(e) => e.into_inner(),
                };
                conns.retain(|(_, t)| !t.is_finished());
                if conns.len() >= options.max_connections {
                    drop(conns);
                    sh.refused.fetch_add(1, Ordering::SeqCst);
                    refuse(stream, &refusal);
                    continue;
                }
                let Ok(link) = L::into_link(stream) else {
                    continue;
                };
                let session = Session::new(super::now(), options.config, options.capacity);
                let handler: Arc<dyn Handler> = Arc::from(make_handler());
                let conn = Conn::new(session, Some(handler), rt.clone(), true);
                rt.register(&conn);
                conn.attach(link, false);
                let c = conn.clone();
                let thread = std::thread::Builder::new()
                    .name("wirecall-conn".into())
                    .spawn(move || {
                        c.serve_home();
                        c.detach(true);
                    });
                match thread {
                    Ok(t) => conns.push((conn, t)),
                    Err(_) => conn.close(WireError::Busy),
                }
            }
        })?;
    Ok(ServerHandle {
        shared,
        accept: Some(accept),
        listener: waker,
        runtime: Some(runtime),
    })
}

/// The bytes of a `Close(Busy)` frame, made by an endpoint (adapters hold no protocol).
pub(crate) fn refusal_bytes() -> Vec<u8> {
    let mut ep =
        wirecall::Endpoint::<64, 1, 1, 128>::new(wirecall::Instant::ZERO, Config::default());
    ep.close_with(WireError::Busy);
    let mut out = vec![0u8; 128];
    let n = ep.poll_transmit(&mut out);
    out.truncate(n);
    out
}

/// Tells a connection over the limit why it is closed, then closes it. What the peer had
/// already sent (its Hello) is read first, for a few tens of milliseconds at most: closing
/// a socket with unread input sends a reset, which can destroy the refusal on its way.
pub(crate) fn refuse(mut stream: impl Socket, refusal: &[u8]) {
    stream.set_timeouts(Duration::from_millis(20));
    let _ = stream.write_all(refusal);
    stream.shut_write();
    let mut sink = [0u8; 512];
    for _ in 0..4 {
        match stream.read(&mut sink) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}
