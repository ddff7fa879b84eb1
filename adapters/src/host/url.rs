//! Link URLs: the one way the project names a link, on command lines, in configuration and
//! in messages. The forms are on [`LinkUrl`].

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::link::Link;

/// A link named by a URL, the one way the project names links everywhere:
///
/// | URL | Link |
/// |---|---|
/// | `tcp://HOST:PORT` | a TCP connection (`HOST` a name, an IPv4 address or `[IPv6]`) |
/// | `unix:///abs/path`, `unix:relative/path` | a Unix socket |
/// | `serial:///dev/ttyUSB0?baud=115200` | a serial port, 8N1; `baud` defaults to 115200 |
/// | `exec:COMMAND LINE` | a child process started as `sh -c 'COMMAND LINE'`, over its stdin and stdout |
/// | `stdio:` | this process's stdin and stdout |
///
/// Everything after `exec:` is the command line, verbatim. Paths are taken verbatim too
/// (no percent-decoding); a serial port's path ends at the first `?`. Printing a `LinkUrl`
/// gives the canonical form, which parses back to the same value.
///
/// ```
/// use wirecall_adapters::host::LinkUrl;
///
/// let url: LinkUrl = "serial:///dev/ttyUSB0?baud=9600".parse()?;
/// assert_eq!(url, LinkUrl::Serial { path: "/dev/ttyUSB0".into(), baud: 9600 });
/// assert_eq!(url.to_string(), "serial:///dev/ttyUSB0?baud=9600");
/// assert_eq!("unix:run/dev.sock".parse::<LinkUrl>()?, LinkUrl::Unix("run/dev.sock".into()));
///
/// // Errors say what is wrong.
/// let e = "tcp://127.0.0.1".parse::<LinkUrl>().unwrap_err();
/// assert!(e.to_string().contains("no port"), "{e}");
///
/// // Opening one: an error names what was tried, and keeps its kind.
/// let e = "tcp://127.0.0.1:1".parse::<LinkUrl>()?.open().unwrap_err();
/// assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
/// assert_eq!(e.to_string(), "cannot connect to tcp 127.0.0.1:1: connection refused");
/// # Ok::<(), wirecall_adapters::host::LinkUrlError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkUrl {
    /// `tcp://HOST:PORT`: the address as `HOST:PORT`.
    Tcp(String),
    /// `unix:///abs/path` or `unix:relative/path`.
    Unix(PathBuf),
    /// `serial:///dev/ttyUSB0?baud=115200`.
    Serial {
        /// The port's path.
        path: String,
        /// Its baud rate (at least 1).
        baud: u32,
    },
    /// `exec:COMMAND LINE`: run by `sh -c`.
    Exec(String),
    /// `stdio:`: this process's stdin and stdout.
    Stdio,
}

/// Why a string is not a [`LinkUrl`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkUrlError {
    url: String,
    reason: String,
}

impl fmt::Display for LinkUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad link URL `{}`: {}", self.url, self.reason)
    }
}

impl std::error::Error for LinkUrlError {}

impl LinkUrl {
    /// The baud rate of a `serial:` URL that names none.
    pub const DEFAULT_BAUD: u32 = 115_200;

    /// Opens the link: connects, opens the port or starts the command. An error names
    /// what was tried (`cannot connect to tcp 127.0.0.1:1: connection refused`) and keeps
    /// the kind of the error underneath (`ConnectionRefused`, `NotFound`,
    /// `PermissionDenied`, ...).
    ///
    /// The child of `exec:` runs in a process group of its own, killed with the link (see
    /// [`Link::spawn`]), so a command line that forks leaves nothing behind either.
    ///
    /// A client whose link is named on its command line or in its configuration:
    ///
    /// ```
    /// use wirecall::WireError;
    /// use wirecall_adapters::host::{serve_tcp, Client, ClientOptions, LinkUrl};
    ///
    /// let echo = |_: u32, args: &[u8]| Ok::<_, (WireError, String)>(args.to_vec());
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let named = format!("tcp://{}", listener.local_addr()?); // as a user would write it
    /// let server = serve_tcp(listener, move || Box::new(echo), wirecall::Config::default())?;
    ///
    /// let url: LinkUrl = named.parse()?;
    /// // Opened once now, so that a wrong URL fails here with a clear message; opened
    /// // again whenever the link drops.
    /// let mut first = Some(url.open()?);
    /// let client = Client::connect(move || first.take().map_or_else(|| url.open(), Ok), ClientOptions::default())?;
    /// assert_eq!(client.call(0, b"hi", None)?, b"hi");
    /// drop(client);
    /// server.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(&self) -> io::Result<Link> {
        let opened = match self {
            LinkUrl::Tcp(addr) => Link::tcp(addr.as_str()),
            LinkUrl::Unix(path) => Link::unix(path),
            LinkUrl::Serial { path, baud } => Link::serial(path, *baud),
            LinkUrl::Exec(command) => {
                let mut c = std::process::Command::new("sh");
                c.arg("-c").arg(command);
                Link::spawn(c)
            }
            LinkUrl::Stdio => Ok(Link::stdio()),
        };
        opened.map_err(|e| {
            io::Error::new(e.kind(), format!("{}: {}", self.attempt(), self.cause(&e)))
        })
    }

    /// What opening it does, for messages: `cannot connect to tcp 127.0.0.1:7000`.
    pub fn attempt(&self) -> String {
        match self {
            LinkUrl::Tcp(addr) => format!("cannot connect to tcp {addr}"),
            LinkUrl::Unix(path) => format!("cannot connect to unix socket {}", path.display()),
            LinkUrl::Serial { path, .. } => format!("cannot open serial port {path}"),
            LinkUrl::Exec(command) => format!("cannot start `{command}`"),
            LinkUrl::Stdio => "cannot use stdio".to_string(),
        }
    }

    /// The cause of a failed open in a few lowercase words, without the path the message
    /// already names or the OS error number.
    fn cause(&self, e: &io::Error) -> String {
        match e.kind() {
            io::ErrorKind::ConnectionRefused => return "connection refused".into(),
            io::ErrorKind::PermissionDenied => return "permission denied".into(),
            // A serial port that is busy also comes as NotFound: say so only when it is.
            io::ErrorKind::NotFound if !self.path().is_some_and(Path::exists) => {
                return match self {
                    LinkUrl::Serial { .. } => "no such file or device".into(),
                    _ => "no such file".into(),
                };
            }
            _ => {}
        }
        let text = e.to_string();
        let text = match self {
            LinkUrl::Serial { path, .. } => text
                .strip_prefix(&format!("{path}: "))
                .unwrap_or(&text)
                .to_string(),
            _ => text,
        };
        // "Connection timed out (os error 110)" -> "connection timed out"
        let text = match text.find(" (os error ") {
            Some(at) => text.get(..at).unwrap_or(&text).to_string(),
            None => text,
        };
        let mut chars = text.chars();
        match chars.next() {
            Some(first) => first.to_lowercase().chain(chars).collect(),
            None => text,
        }
    }

    /// The file the link is at, for a Unix socket or a serial port.
    pub fn path(&self) -> Option<&Path> {
        match self {
            LinkUrl::Unix(path) => Some(path),
            LinkUrl::Serial { path, .. } => Some(Path::new(path)),
            _ => None,
        }
    }
}

impl fmt::Display for LinkUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An absolute path after `//` makes the three slashes of `unix:///run/x.sock`.
        let path = |f: &mut fmt::Formatter<'_>, p: &str| {
            if p.starts_with('/') {
                write!(f, "//{p}")
            } else {
                f.write_str(p)
            }
        };
        match self {
            LinkUrl::Tcp(addr) => write!(f, "tcp://{addr}"),
            LinkUrl::Unix(p) => {
                f.write_str("unix:")?;
                path(f, &p.to_string_lossy())
            }
            LinkUrl::Serial { path: p, baud } => {
                f.write_str("serial:")?;
                path(f, p)?;
                write!(f, "?baud={baud}")
            }
            LinkUrl::Exec(command) => write!(f, "exec:{command}"),
            LinkUrl::Stdio => f.write_str("stdio:"),
        }
    }
}

impl FromStr for LinkUrl {
    type Err = LinkUrlError;

    fn from_str(url: &str) -> Result<LinkUrl, LinkUrlError> {
        let bad = |reason: &str| LinkUrlError {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let Some((scheme, rest)) = url.split_once(':') else {
            return Err(bad(&if url.starts_with('/') {
                format!("no scheme: a Unix socket is unix://{url}, a serial port serial://{url}")
            } else {
                "no scheme: links are tcp://HOST:PORT, unix:///PATH, \
                 serial:///dev/PORT?baud=N, exec:COMMAND or stdio:"
                    .to_string()
            }));
        };
        if rest.parse::<u16>().is_ok() {
            return Err(bad(&format!("no scheme: a TCP address is tcp://{url}")));
        }
        match scheme {
            "tcp" => parse_tcp(rest).map_err(|r| bad(&r)),
            "unix" => path_of(rest)
                .map(|p| LinkUrl::Unix(PathBuf::from(p)))
                .map_err(|r| bad(&r)),
            "serial" => parse_serial(rest).map_err(|r| bad(&r)),
            "exec" if rest.trim().is_empty() => Err(bad("no command after `exec:`")),
            "exec" => Ok(LinkUrl::Exec(rest.to_string())),
            "stdio" if rest.is_empty() || rest == "//" => Ok(LinkUrl::Stdio),
            "stdio" => Err(bad("`stdio:` takes nothing after it")),
            _ => Err(bad(&format!(
                "unknown scheme `{scheme}:` (known: tcp, unix, serial, exec, stdio)"
            ))),
        }
    }
}

/// `//HOST:PORT` to `HOST:PORT`.
fn parse_tcp(rest: &str) -> Result<LinkUrl, String> {
    let addr = rest
        .strip_prefix("//")
        .ok_or("a TCP link is tcp://HOST:PORT")?;
    let addr = addr.strip_suffix('/').unwrap_or(addr);
    if addr.contains(['/', '?', '#']) {
        return Err("a TCP URL is tcp://HOST:PORT, with no path or query".into());
    }
    // `[::1]:7000`: the port follows the bracket; a bare `::1` has no port to find.
    let (host, port) = match addr.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.ends_with(']') => (host, port),
        _ => return Err("no port (tcp://HOST:PORT)".into()),
    };
    if host.is_empty() || host == "[]" {
        return Err("no host (tcp://HOST:PORT)".into());
    }
    match port.parse::<u16>() {
        Ok(_) => Ok(LinkUrl::Tcp(addr.to_string())),
        Err(_) if port.is_empty() => Err("no port (tcp://HOST:PORT)".into()),
        Err(_) => Err(format!("`{port}` is not a port number (0 to 65535)")),
    }
}

/// `///abs/path` or `/abs/path` to `/abs/path`, `relative/path` as it is.
fn path_of(rest: &str) -> Result<&str, String> {
    let path = match rest.strip_prefix("//") {
        Some(p) if p.starts_with('/') => p,
        Some("") => "",
        Some(_) => {
            return Err(
                "after `//` comes an absolute path (three slashes: unix:///run/x.sock), \
                 or leave the slashes out for a relative one (unix:run/x.sock)"
                    .into(),
            )
        }
        None => rest,
    };
    if path.is_empty() {
        return Err("no path".into());
    }
    Ok(path)
}

/// `///dev/ttyUSB0?baud=115200` to the port and its baud rate.
fn parse_serial(rest: &str) -> Result<LinkUrl, String> {
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let path = path_of(path)?.to_string();
    let mut baud = LinkUrl::DEFAULT_BAUD;
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        match pair.split_once('=') {
            Some(("baud", v)) => {
                baud = match v.parse::<u32>() {
                    Ok(0) => return Err("the baud rate must be at least 1".into()),
                    Ok(b) => b,
                    Err(_) => return Err(format!("`{v}` is not a baud rate")),
                }
            }
            _ => return Err(format!("unknown parameter `{pair}` (only baud=N)")),
        }
    }
    Ok(LinkUrl::Serial { path, baud })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<LinkUrl, String> {
        s.parse::<LinkUrl>().map_err(|e| e.to_string())
    }

    #[test]
    fn every_form_parses_and_prints_back() {
        let cases = [
            (
                "tcp://127.0.0.1:7000",
                LinkUrl::Tcp("127.0.0.1:7000".into()),
            ),
            ("tcp://[::1]:7000", LinkUrl::Tcp("[::1]:7000".into())),
            ("tcp://localhost:1", LinkUrl::Tcp("localhost:1".into())),
            ("unix:///run/x.sock", LinkUrl::Unix("/run/x.sock".into())),
            ("unix:run/x.sock", LinkUrl::Unix("run/x.sock".into())),
            (
                "serial:///dev/ttyUSB0?baud=9600",
                LinkUrl::Serial {
                    path: "/dev/ttyUSB0".into(),
                    baud: 9600,
                },
            ),
            (
                "serial:ttyS0?baud=1",
                LinkUrl::Serial {
                    path: "ttyS0".into(),
                    baud: 1,
                },
            ),
            (
                "exec:cd /tmp && FOO=1 wirecall serve --stdio",
                LinkUrl::Exec("cd /tmp && FOO=1 wirecall serve --stdio".into()),
            ),
            ("stdio:", LinkUrl::Stdio),
        ];
        for (text, url) in cases {
            assert_eq!(parse(text), Ok(url.clone()), "{text}");
            assert_eq!(url.to_string(), text);
            assert_eq!(parse(&url.to_string()), Ok(url));
        }
    }

    #[test]
    fn lenient_forms_mean_the_same() {
        assert_eq!(
            parse("tcp://127.0.0.1:7000/"),
            parse("tcp://127.0.0.1:7000")
        );
        assert_eq!(parse("unix:/run/x.sock"), parse("unix:///run/x.sock"));
        assert_eq!(
            parse("serial:///dev/ttyUSB0"),
            Ok(LinkUrl::Serial {
                path: "/dev/ttyUSB0".into(),
                baud: LinkUrl::DEFAULT_BAUD
            })
        );
        assert_eq!(parse("stdio://"), Ok(LinkUrl::Stdio));
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let cases = [
            ("127.0.0.1:7000", "a TCP address is tcp://127.0.0.1:7000"),
            ("/dev/ttyUSB0", "a serial port serial:///dev/ttyUSB0"),
            ("localhost", "no scheme"),
            ("http://x:1", "unknown scheme `http:`"),
            ("tcp://127.0.0.1", "no port"),
            ("tcp://127.0.0.1:", "no port"),
            ("tcp://::1", "no port"),
            ("tcp://:7000", "no host"),
            ("tcp://h:70000", "`70000` is not a port number"),
            ("tcp:127.0.0.1:7000", "tcp://HOST:PORT"),
            ("tcp://h:1/x", "no path"),
            ("unix:", "no path"),
            ("unix://", "no path"),
            ("unix://run/x.sock", "three slashes"),
            ("serial:///dev/ttyUSB0?baud=0", "at least 1"),
            (
                "serial:///dev/ttyUSB0?baud=fast",
                "`fast` is not a baud rate",
            ),
            (
                "serial:///dev/ttyUSB0?parity=odd",
                "unknown parameter `parity=odd`",
            ),
            ("serial:?baud=9600", "no path"),
            ("exec:", "no command"),
            ("exec:  ", "no command"),
            ("stdio:x", "nothing after"),
        ];
        for (text, want) in cases {
            let e = parse(text).unwrap_err();
            assert!(e.contains(want) && e.contains(text), "{text}: {e}");
        }
    }

    /// True while `pid` runs (a zombie has stopped: it only waits to be collected).
    fn running(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
    }

    #[test]
    fn an_exec_link_takes_what_its_command_started_with_it() {
        use std::io::Read;
        use std::time::{Duration, Instant};
        // The shell starts a helper in the background and tells its pid on the link.
        let url = parse("exec:sleep 600 </dev/null >/dev/null 2>&1 & echo $!; exec cat").unwrap();
        let mut link = url.open().unwrap();
        let mut said = Vec::new();
        let until = Instant::now() + Duration::from_secs(10);
        while !said.ends_with(b"\n") {
            assert!(Instant::now() < until, "no pid from the shell");
            let mut buf = [0u8; 32];
            match link.reader.read(&mut buf) {
                Ok(n) => said.extend_from_slice(&buf[..n]),
                Err(e) => assert!(super::super::link::is_transient(&e), "{e}"),
            }
        }
        let helper: u32 = String::from_utf8(said).unwrap().trim().parse().unwrap();
        assert!(running(helper));
        drop(link);
        // SIGKILL went to the whole group before the drop returned; it lands at once.
        let until = Instant::now() + Duration::from_secs(5);
        while running(helper) {
            assert!(
                Instant::now() < until,
                "the helper {helper} outlived its link"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn open_errors_name_the_link_and_keep_the_kind() {
        let dir = std::env::temp_dir().join(format!("wirecall-url-{}", std::process::id()));
        let sock = dir.join("none.sock");
        let e = LinkUrl::Unix(sock.clone()).open().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            format!(
                "cannot connect to unix socket {}: no such file",
                sock.display()
            )
        );
        let e = parse("serial:///dev/wirecall-no-such-port")
            .unwrap()
            .open()
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            "cannot open serial port /dev/wirecall-no-such-port: no such file or device"
        );
    }
}
