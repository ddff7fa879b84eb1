//! Byte streams as links: a read half, a write half and a closer, each of whose reads and
//! writes returns within a short tick even when nothing moves.
//!
//! The tick is what lets the runtime keep its promises without a thread per purpose: a
//! thread reading a socket on behalf of a caller notices that caller's deadline within a
//! tick, a writer blocked by a peer that stopped reading gives up after
//! [`WRITE_STALL`], and a link being released is let go within a tick. Sockets get it from
//! `SO_RCVTIMEO`/`SO_SNDTIMEO` (free per call); pipes and stdio from `poll(2)` before each
//! read or write; serial ports from their own timeout.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Longest wait for a TCP connection to one address.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long one read or write may block when nothing moves, on the links this module makes.
pub(crate) const TICK: Duration = Duration::from_millis(50);

/// The read tick of a server's accepted sockets: longer, since no caller's deadline waits
/// on those reads, so that many idle connections cost few wake-ups.
pub(crate) const SERVER_READ_TICK: Duration = Duration::from_millis(250);

/// A write that makes no progress for this long means the peer stopped reading: the link is
/// treated as lost rather than holding the writer (and the transmit queue) forever.
pub(crate) const WRITE_STALL: Duration = Duration::from_secs(5);

/// A bidirectional byte stream, split so one thread can read while another writes.
/// Dropping a link releases it: sockets are shut down, a child process is killed and
/// reaped, a serial port is closed.
///
/// The links made here return from every read and write within about 50 ms when nothing
/// moves (an error of kind `TimedOut` or `WouldBlock` then means "nothing yet"). A link
/// made with [`Link::from_parts`] should do the same: the runtime reads and writes on the
/// threads of its callers, which notice their deadlines only between reads and writes.
///
/// ```
/// use wirecall_adapters::host::{serve_link, Client, ClientOptions, Link};
/// use wirecall::WireError;
///
/// // A Unix socket pair stands in for any link: TCP (`Link::tcp`), a Unix socket
/// // (`Link::unix`), a child process (`Link::spawn`), stdio, a serial port.
/// let (a, b) = std::os::unix::net::UnixStream::pair()?;
/// let echo = |_: u32, args: &[u8]| -> Result<Vec<u8>, (WireError, String)> { Ok(args.to_vec()) };
/// let server = std::thread::spawn(move || {
///     serve_link(Link::from_unix(b).unwrap(), Box::new(echo), wirecall::Config::default())
/// });
/// let client = Client::over(Link::from_unix(a)?, ClientOptions::default())?;
/// assert_eq!(client.call(7, b"hi", None), Ok(b"hi".to_vec()));
/// drop(client); // the link closes, and the server's session with it
/// server.join().unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Link {
    pub(crate) reader: Box<dyn Read + Send>,
    pub(crate) writer: Box<dyn Write + Send>,
    closer: Option<Box<dyn FnOnce() + Send>>,
    name: String,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// A link from its parts. `closer` runs once when the link is released and must make a
    /// blocked `read` return. Reads and writes should return within about 50 ms when
    /// nothing moves (see the type's docs); if they block longer, a caller reading or
    /// writing on the link reports its deadline that much later.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use wirecall_adapters::host::Link;
    ///
    /// // A link over an in-process pipe pair from std (any Read + Write pair works).
    /// let (reader, writer) = std::io::pipe().unwrap();
    /// let link = Link::from_parts("loopback pipe", reader, writer, || {});
    /// assert_eq!(link.name(), "loopback pipe");
    /// ```
    pub fn from_parts(
        name: impl Into<String>,
        reader: impl Read + Send + 'static,
        writer: impl Write + Send + 'static,
        closer: impl FnOnce() + Send + 'static,
    ) -> Link {
        Link {
            reader: Box::new(reader),
            writer: Box::new(writer),
            closer: Some(Box::new(closer)),
            name: name.into(),
        }
    }

    /// Connects to a TCP address, giving up on each resolved address after 3 s.
    pub fn tcp(addr: impl ToSocketAddrs) -> io::Result<Link> {
        let mut last = io::Error::other("the address resolved to nothing");
        for a in addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
                Ok(stream) => return Link::from_tcp(stream),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// A link over a connected TCP stream (Nagle off: frames are small and latency matters).
    pub fn from_tcp(stream: TcpStream) -> io::Result<Link> {
        Link::from_tcp_ticking(stream, TICK)
    }

    pub(crate) fn from_tcp_ticking(stream: TcpStream, read_tick: Duration) -> io::Result<Link> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(read_tick))?;
        stream.set_write_timeout(Some(TICK))?;
        let name = format!(
            "tcp:{}",
            stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default()
        );
        let (reader, writer) = (stream.try_clone()?, stream.try_clone()?);
        Ok(Link::from_parts(name, reader, writer, move || {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }))
    }

    /// Connects to a Unix socket.
    pub fn unix(path: impl AsRef<Path>) -> io::Result<Link> {
        Link::from_unix(UnixStream::connect(path)?)
    }

    /// A link over a connected Unix stream.
    pub fn from_unix(stream: UnixStream) -> io::Result<Link> {
        Link::from_unix_ticking(stream, TICK)
    }

    pub(crate) fn from_unix_ticking(stream: UnixStream, read_tick: Duration) -> io::Result<Link> {
        stream.set_read_timeout(Some(read_tick))?;
        stream.set_write_timeout(Some(TICK))?;
        let (reader, writer) = (stream.try_clone()?, stream.try_clone()?);
        Ok(Link::from_parts("unix", reader, writer, move || {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }))
    }

    /// Starts `command` and links to its stdin and stdout (its stderr stays this process's).
    ///
    /// The child runs in a process group of its own, and releasing the link kills that
    /// whole group and waits for the child, so none is left behind: not the child, and not
    /// what it started either (a `sh -c "cd dir && prog"` whose shell forks `prog` instead
    /// of becoming it, a background helper), unless they moved to another group. Being in
    /// its own group, the child does not get the terminal's Ctrl-C; if this process dies
    /// without releasing the link, the child sees its stdin close instead.
    pub fn spawn(mut command: Command) -> io::Result<Link> {
        use std::os::unix::process::CommandExt;
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()?;
        // The child leads its group, and stays unreaped (its pid reserved) until after the
        // group is killed below, so the group id cannot name anyone else's processes.
        let group = rustix::process::Pid::from_child(&child);
        let missing = || io::Error::other("child stdio not piped");
        let writer = File::from(OwnedFd::from(child.stdin.take().ok_or_else(missing)?));
        let reader = File::from(OwnedFd::from(child.stdout.take().ok_or_else(missing)?));
        // Our ends of the pipes are ours alone, so they can be non-blocking: a write then
        // never blocks past its `poll`.
        rustix::io::ioctl_fionbio(&writer, true)?;
        let name = format!("exec:{}", command.get_program().to_string_lossy());
        Ok(Link::from_parts(
            name,
            Polled(reader),
            Polled(writer),
            move || {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
                let _ = child.kill(); // in case the group could not be signalled
                let _ = child.wait();
            },
        ))
    }

    /// This process's stdin and stdout (for `wirecall serve --stdio`).
    pub fn stdio() -> Link {
        Link::from_parts("stdio", Polled(io::stdin()), Polled(io::stdout()), || {})
    }

    /// Opens a serial port at `baud`, 8N1, no flow control.
    ///
    /// The port is read with a short timeout; a read that times out means "no bytes yet",
    /// never a dead link (the core's keepalive decides when a silent link is dead).
    pub fn serial(path: &str, baud: u32) -> io::Result<Link> {
        let port = serialport::new(path, baud)
            .timeout(TICK)
            .open()
            // The kind stays (not found, permission denied, ...) so callers can tell why.
            .map_err(|e| {
                io::Error::new(io::Error::from(e.clone()).kind(), format!("{path}: {e}"))
            })?;
        // Bytes the device sent while nobody had the port open (its Hellos, repeated every
        // keepalive while unanswered) are stale: a host that read them would take each for a
        // restart of the device. What the device sends from now on is kept.
        let _ = port.clear(serialport::ClearBuffer::Input);
        let reader = port
            .try_clone()
            .map_err(|e| io::Error::other(e.to_string()))?;
        // A port cannot be shut down like a socket: the reader sees the flag at its next
        // read timeout and ends, so it never steals bytes from a later link.
        let stop = Arc::new(AtomicBool::new(false));
        let reader = StoppableReader {
            inner: reader,
            stop: stop.clone(),
        };
        Ok(Link::from_parts(
            format!("serial:{path}@{baud}"),
            reader,
            port,
            move || stop.store(true, Ordering::SeqCst),
        ))
    }

    /// This link, with every chunk of bytes read from it shown to `observe` as it arrives,
    /// before the runtime sees it; an empty chunk means the peer ended the stream. For
    /// traces and diagnoses (what a peer that never completed a handshake sent). `observe`
    /// runs on the thread reading the link: it should be quick.
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use std::sync::{Arc, Mutex};
    /// use wirecall::{Config, WireError};
    /// use wirecall_adapters::host::{serve_tcp, Client, ClientOptions, Link};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let echo = |_: u32, args: &[u8]| Ok::<_, (WireError, String)>(args.to_vec());
    /// let server = serve_tcp(listener, move || Box::new(echo), Config::default())?;
    ///
    /// // Counts the bytes the server sends.
    /// let received = Arc::new(Mutex::new(0usize));
    /// let count = received.clone();
    /// let link = Link::tcp(addr)?.observe_reads(move |chunk| *count.lock().unwrap() += chunk.len());
    /// let client = Client::over(link, ClientOptions::default())?;
    /// assert_eq!(client.call(0, b"hi", None), Ok(b"hi".to_vec()));
    /// assert!(*received.lock().unwrap() > 0); // its Hello and the reply, at least
    /// drop(client);
    /// server.stop();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn observe_reads(mut self, observe: impl FnMut(&[u8]) + Send + 'static) -> Link {
        let inner = std::mem::replace(&mut self.reader, Box::new(io::empty()));
        self.reader = Box::new(Observed { inner, observe });
        self
    }

    /// A human-readable name (`tcp:127.0.0.1:4000`, `exec:wirecall`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Splits into reader, writer and the guard that releases the link when dropped: for
    /// code that moves the bytes itself, such as a bridge copying between two links on two
    /// threads. The halves keep the link's ticks; the guard's drop runs the closer (a blocked
    /// read returns, a child is killed and reaped), so drop it once both halves are done.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use wirecall_adapters::host::Link;
    ///
    /// let (a, b) = std::os::unix::net::UnixStream::pair()?;
    /// let (mut reader, _writer, guard) = Link::from_unix(a)?.split();
    /// (&b).write_all(b"hi")?;
    /// let mut buf = [0u8; 2];
    /// reader.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"hi");
    /// drop(guard); // the socket is shut down: the other end reads its end
    /// assert_eq!((&b).read(&mut buf)?, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn split(mut self) -> (Box<dyn Read + Send>, Box<dyn Write + Send>, LinkGuard) {
        let guard = LinkGuard(self.closer.take());
        let reader = std::mem::replace(&mut self.reader, Box::new(io::empty()));
        let writer = std::mem::replace(&mut self.writer, Box::new(io::sink()));
        (reader, writer, guard)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(close) = self.closer.take() {
            close();
        }
    }
}

/// Releases a split link ([`Link::split`]) when dropped: runs its closer once.
pub struct LinkGuard(Option<Box<dyn FnOnce() + Send>>);

impl std::fmt::Debug for LinkGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkGuard").finish_non_exhaustive()
    }
}

impl Drop for LinkGuard {
    fn drop(&mut self) {
        if let Some(close) = self.0.take() {
            close();
        }
    }
}

/// True for errors that mean "nothing yet, try again", not "the link is gone".
pub(crate) fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// A pipe or stdio end read and written after a `poll` of at most [`TICK`]: "nothing yet"
/// comes back as `TimedOut` instead of blocking.
struct Polled<F>(F);

impl<F: AsFd> Polled<F> {
    fn ready(&self, flags: rustix::event::PollFlags) -> io::Result<()> {
        let timeout = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: TICK.as_nanos() as _,
        };
        let mut fds = [rustix::event::PollFd::new(&self.0, flags)];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) => Err(io::ErrorKind::TimedOut.into()),
            Ok(_) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

impl<F: AsFd + Read> Read for Polled<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Readable, or hung up: either way the read below returns at once.
        self.ready(rustix::event::PollFlags::IN)?;
        self.0.read(buf)
    }
}

impl<F: AsFd + Write> Write for Polled<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.ready(rustix::event::PollFlags::OUT)?;
        // At most PIPE_BUF bytes: a pipe that polled writable takes them without blocking
        // even on a blocking descriptor (stdout is shared, so it stays blocking).
        self.0.write(buf.get(..buf.len().min(4096)).unwrap_or(buf))
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// A reader that reports end of stream once `stop` is set.
struct StoppableReader<R> {
    inner: R,
    stop: Arc<AtomicBool>,
}

impl<R: Read> Read for StoppableReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stop.load(Ordering::SeqCst) {
            return Ok(0);
        }
        match self.inner.read(buf) {
            Err(e) if is_transient(&e) && self.stop.load(Ordering::SeqCst) => Ok(0),
            other => other,
        }
    }
}

/// A reader that shows what it reads to an observer (see [`Link::observe_reads`]).
struct Observed<F> {
    inner: Box<dyn Read + Send>,
    observe: F,
}

impl<F: FnMut(&[u8])> Read for Observed<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.observe)(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}
