//! Byte streams as links: a reader, a writer, and a closer.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Longest wait for a TCP connection to one address.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A socket write blocked this long means the peer stopped reading: the link is treated as
/// lost rather than freezing the I/O thread (and every deadline with it).
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// A bidirectional byte stream, split so one thread can block in `read` while another
/// writes. Dropping a link releases it: sockets are shut down (which also wakes the reader),
/// a child process is killed and reaped.
pub struct Link {
    pub(crate) reader: Box<dyn Read + Send>,
    pub(crate) writer: Box<dyn Write + Send>,
    closer: Option<Box<dyn FnOnce() + Send>>,
    name: String,
    /// Whether the closer wakes a blocked reader, so releasing the link can wait for its
    /// reader thread (false only for stdin, which nothing can wake).
    pub(crate) wakes_reader: bool,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// A link from its parts: `closer` runs once when the link is dropped and must make a
    /// blocked `read` return.
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
            wakes_reader: true,
        }
    }

    /// Connects to a TCP address, giving up on each resolved address after 3 s (the
    /// connection attempt runs on the I/O thread, where nothing else moves meanwhile).
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
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
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
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let (reader, writer) = (stream.try_clone()?, stream.try_clone()?);
        Ok(Link::from_parts("unix", reader, writer, move || {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }))
    }

    /// Starts `command` and links to its stdin and stdout (its stderr stays this process's).
    /// Dropping the link kills the child and waits for it, so none is left behind.
    pub fn spawn(mut command: Command) -> io::Result<Link> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let missing = || io::Error::other("child stdio not piped");
        let writer = child.stdin.take().ok_or_else(missing)?;
        let reader = child.stdout.take().ok_or_else(missing)?;
        let name = format!("exec:{}", command.get_program().to_string_lossy());
        Ok(Link::from_parts(name, reader, writer, move || {
            let _ = child.kill();
            let _ = child.wait();
        }))
    }

    /// This process's stdin and stdout (for `wirecall serve --stdio`).
    pub fn stdio() -> Link {
        let mut link = Link::from_parts("stdio", io::stdin(), io::stdout(), || {});
        link.wakes_reader = false; // a read of stdin cannot be interrupted
        link
    }

    /// Opens a serial port at `baud`, 8N1, no flow control.
    ///
    /// The port is read with a short timeout; a read that times out means "no bytes yet",
    /// never a dead link (the core's keepalive decides when a silent link is dead).
    pub fn serial(path: &str, baud: u32) -> io::Result<Link> {
        let port = serialport::new(path, baud)
            .timeout(Duration::from_millis(50))
            .open()
            .map_err(|e| io::Error::other(format!("{path}: {e}")))?;
        let reader = port
            .try_clone()
            .map_err(|e| io::Error::other(e.to_string()))?;
        // A port cannot be shut down like a socket: the reader sees the flag at its next
        // read timeout (50 ms) and ends, so it never steals bytes from a later link.
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

    /// A human-readable name (`tcp:127.0.0.1:4000`, `exec:wirecall`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Splits into reader, writer and the guard that releases the link when dropped.
    pub(crate) fn split(mut self) -> (Box<dyn Read + Send>, Box<dyn Write + Send>, LinkGuard) {
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

/// Releases a split link when dropped.
pub(crate) struct LinkGuard(Option<Box<dyn FnOnce() + Send>>);

impl Drop for LinkGuard {
    fn drop(&mut self) {
        if let Some(close) = self.0.take() {
            close();
        }
    }
}

/// True for read errors that mean "nothing yet, try again", not "the link is gone".
pub(crate) fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
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
