//! Opening the link a command names and starting a session on it; when either fails,
//! saying what went wrong: the address, the cause, a hint where one helps, and the exit
//! code ([`LinkError`]).
//!
//! A link that opens but brings no session is diagnosed from what the client saw: the
//! handshake's verdict ([`Client::handshake_failure`]: refused, incompatible version or
//! schema), the decoder's counters ([`Client::stats`]: bytes that are not frames), and
//! the first bytes the peer sent (its `Hello`, for the versions it speaks).

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wirecall::{Disconnect, WireError, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION};
use wirecall_adapters::host::{Client, ClientOptions, Link, LinkUrl};

use crate::failure::Exit;
use crate::{CallLink, ServeLink};

/// How many of the peer's first bytes are kept for a diagnosis (a `Hello` is under 64).
const KEEP: usize = 4096;

/// A link that could not be opened, or brought no session: the message names the link and
/// the cause; the hint says what to try.
#[derive(Debug)]
pub(crate) struct LinkError {
    message: String,
    hint: Option<String>,
    exit: Exit,
}

impl LinkError {
    fn new(message: String, hint: Option<String>, exit: Exit) -> LinkError {
        LinkError {
            message,
            hint,
            exit,
        }
    }

    /// What failed, as an exit code.
    pub(crate) fn exit(&self) -> Exit {
        self.exit
    }
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match &self.hint {
            Some(hint) => write!(f, "\n  hint: {hint}"),
            None => Ok(()),
        }
    }
}

/// The link `call` or `stream` was given, as a URL (`--baud` goes with `--serial`).
pub(crate) fn call_url(link: &CallLink, baud: u32) -> LinkUrl {
    if let Some(url) = &link.link {
        url.clone()
    } else if let Some(addr) = &link.tcp {
        LinkUrl::Tcp(addr.clone())
    } else if let Some(path) = &link.unix {
        LinkUrl::Unix(path.clone())
    } else if let Some(path) = &link.serial {
        LinkUrl::Serial {
            path: path.clone(),
            baud,
        }
    } else {
        // clap requires exactly one of the group, so this is `--exec`.
        LinkUrl::Exec(link.exec.clone().unwrap_or_default())
    }
}

/// Where `serve` was told to listen, as a URL.
pub(crate) fn serve_url(link: &ServeLink, baud: u32) -> LinkUrl {
    if let Some(url) = &link.link {
        url.clone()
    } else if let Some(addr) = &link.tcp {
        LinkUrl::Tcp(addr.clone())
    } else if let Some(path) = &link.unix {
        LinkUrl::Unix(path.clone())
    } else if let Some(path) = &link.serial {
        LinkUrl::Serial {
            path: path.clone(),
            baud,
        }
    } else {
        LinkUrl::Stdio
    }
}

/// Opens `url`; an error names it, with a hint for the usual causes.
pub(crate) fn open_url(url: &LinkUrl) -> Result<Link, LinkError> {
    url.open().map_err(|e| {
        let hint = match (e.kind(), url) {
            (io::ErrorKind::ConnectionRefused, LinkUrl::Unix(_)) => Some(
                "the socket is there but nothing listens on it: the server that made it has \
                 stopped"
                    .to_string(),
            ),
            (io::ErrorKind::ConnectionRefused, _) => {
                Some("nothing listens there: is the server running, on this port?".to_string())
            }
            (io::ErrorKind::NotFound, LinkUrl::Unix(_)) => {
                Some("is the server running, and is this the path it listens on?".to_string())
            }
            (io::ErrorKind::NotFound, LinkUrl::Serial { .. }) => Some(
                "is the device plugged in? Its port is usually /dev/ttyUSB* or /dev/ttyACM*"
                    .to_string(),
            ),
            (io::ErrorKind::PermissionDenied, LinkUrl::Serial { path, .. }) => {
                let group = owning_group(Path::new(path)).unwrap_or_else(|| "dialout".into());
                Some(format!(
                    "add yourself to the {group} group: sudo usermod -aG {group} $USER, then \
                     log in again"
                ))
            }
            (io::ErrorKind::PermissionDenied, LinkUrl::Unix(path)) => Some(format!(
                "the socket's permissions do not let you connect (see ls -l {})",
                path.display()
            )),
            _ => None,
        };
        LinkError::new(e.to_string(), hint, Exit::Link)
    })
}

/// The name of the group that owns `path` (a serial port's is who may open it).
fn owning_group(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let gid = std::fs::metadata(path).ok()?.gid().to_string();
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == gid).then(|| name.to_string())
    })
}

/// What arrived on a link before its session: the first bytes, and whether it ended.
#[derive(Default)]
struct Seen {
    first: Vec<u8>,
    ended: bool,
}

/// A client over the link `link` names, once a session is established on it, within
/// `timeout`; otherwise why none was. The error's exit code is [`Exit::Link`], or
/// [`Exit::Schema`] for a device that serves another schema than `options` expects.
pub(crate) fn connect(
    link: &CallLink,
    baud: u32,
    options: ClientOptions,
    timeout: Duration,
) -> Result<Client, LinkError> {
    let started = Instant::now();
    let url = call_url(link, baud);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let keep = seen.clone();
    let link = open_url(&url)?.observe_reads(move |chunk| {
        if let Ok(mut seen) = keep.lock() {
            let room = KEEP.saturating_sub(seen.first.len());
            seen.first.extend(chunk.iter().take(room));
            seen.ended |= chunk.is_empty();
        }
    });
    let expected = options.config.expect_schema;
    // The client gives up on a silent link after three keepalive intervals, never sooner.
    let handshake_limit =
        Duration::from_micros(options.config.keepalive.as_micros()).saturating_mul(3);
    let client = Client::over(link, options)
        .map_err(|e| LinkError::new(format!("cannot start the client: {e}"), None, Exit::Link))?;
    if client.wait_connected(timeout) {
        return Ok(client);
    }
    let waited = started.elapsed();
    let seen = seen.lock().map(|s| (s.first.clone(), s.ended));
    let (first, ended) = seen.unwrap_or_default();
    // Given up on before either deadline: the link itself ended (an end of stream seen,
    // or a write that failed, which is how a child that exited at once shows).
    let ended = ended || (waited < timeout && waited < handshake_limit);
    Err(no_session(&client, &url, &first, ended, expected, waited))
}

/// Why `client` over `url` has no session.
fn no_session(
    client: &Client,
    url: &LinkUrl,
    first: &[u8],
    ended: bool,
    expected: Option<u32>,
    waited: Duration,
) -> LinkError {
    let with = name(url);
    let hello = peer_hello(first);
    if let Some(why) = client.handshake_failure() {
        return refused(&with, why, hello, expected);
    }
    let stats = client.stats().map(|(s, _)| s).unwrap_or_default();
    if stats.handshakes > 0 && stats.protocol_errors > 0 {
        // Sessions began and were reset: the peer broke the protocol (malformed frames, or
        // a flood of frames that do no work, past this side's budgets).
        let message = format!(
            "no session with {with} lasted: {} began and each was reset because the device              broke the protocol ({} violations: malformed frames, or floods of frames that              do no work, such as pings or replies to calls never made)",
            stats.handshakes, stats.protocol_errors,
        );
        let hint = "the device misbehaves; its firmware or the link needs a look".to_string();
        return LinkError::new(message, Some(hint), Exit::Link);
    }
    if stats.bytes_in > 0 {
        let hint = match url {
            LinkUrl::Serial { baud, .. } => format!(
                "check the baud rate: both ends must use the same, and this side used {baud} \
                 (--baud, or ?baud= in the URL); a wrong rate turns frames into noise"
            ),
            LinkUrl::Exec(_) => "does the command serve wirecall on its stdout? Anything \
                                 else it prints belongs on stderr"
                .to_string(),
            _ => "is a wirecall device at the other end?".to_string(),
        };
        let message = format!(
            "no session with {with}: it sent {} bytes but no wirecall handshake \
             ({} frames with a bad CRC, {} framing errors, {} too long, {} cut short, \
             {} good frames); its first bytes: \"{}\"",
            stats.bytes_in,
            stats.crc_errors,
            stats.framing_errors,
            stats.oversized_frames,
            stats.frame_timeouts,
            stats.frames_in,
            preview(first),
        );
        return LinkError::new(message, Some(hint), Exit::Link);
    }
    let (message, hint) = match (ended, url) {
        (true, LinkUrl::Exec(_)) => (
            format!(
                "no session with {with}: it ended, or closed its stdin or stdout, without a word"
            ),
            "its own errors, if any, are above".to_string(),
        ),
        (true, _) => (
            format!("no session with {with}: it closed the link without a word"),
            "is a wirecall server at the other end?".to_string(),
        ),
        (false, LinkUrl::Serial { .. }) => (
            format!("no session with {with}: no answer in {waited:.1?}; it sent nothing"),
            "is a wirecall device on this port, and running?".to_string(),
        ),
        (false, _) => (
            format!("no session with {with}: no answer in {waited:.1?}; it sent nothing"),
            "is a wirecall device at the other end, and running?".to_string(),
        ),
    };
    LinkError::new(message, Some(hint), Exit::Link)
}

/// A handshake that ended with a verdict.
fn refused(
    with: &str,
    why: Disconnect,
    hello: Option<PeerHello>,
    expected: Option<u32>,
) -> LinkError {
    let code = match why {
        Disconnect::Incompatible(code) | Disconnect::PeerClosed(code) => code,
        other => {
            let message =
                format!("no session with {with}: it ended during the handshake ({other:?})");
            return LinkError::new(message, None, Exit::Link);
        }
    };
    match code {
        WireError::IncompatibleVersion => {
            let ours = format!(
                "this side speaks version {PROTOCOL_VERSION} (and accepts {MIN_PROTOCOL_VERSION} at the oldest)"
            );
            let message = match hello {
                Some(h) => format!(
                    "no session with {with}: no protocol version in common: the device speaks \
                     version {} (and accepts {} at the oldest); {ours}",
                    h.version, h.min_version
                ),
                None => format!(
                    "no session with {with}: the device refused this side's protocol version: \
                     {ours}"
                ),
            };
            let hint = "use a wirecall command of the same release as the device".to_string();
            LinkError::new(message, Some(hint), Exit::Link)
        }
        WireError::IncompatibleSchema => {
            let theirs = hello
                .and_then(|h| h.schema)
                .map_or("another schema".to_string(), |s| {
                    format!("schema {s:#010x}")
                });
            let ours = expected.map_or("another".to_string(), |s| format!("{s:#010x}"));
            let message = format!(
                "no session with {with}: the device serves {theirs}; this command expects {ours}"
            );
            LinkError::new(message, None, Exit::Schema)
        }
        WireError::Busy => LinkError::new(
            format!(
                "no session with {with}: the server refused the connection: it is at its \
                 connection limit"
            ),
            Some("try again later, or give its serve a higher --max-connections".to_string()),
            Exit::Link,
        ),
        code => LinkError::new(
            format!("no session with {with}: the device refused the session: {code}"),
            None,
            Exit::Link,
        ),
    }
}

/// How messages name a link: `tcp 127.0.0.1:7000`, `serial port /dev/ttyUSB0 at 115200
/// baud`, ...
fn name(url: &LinkUrl) -> String {
    match url {
        LinkUrl::Tcp(addr) => format!("tcp {addr}"),
        LinkUrl::Unix(path) => format!("unix socket {}", path.display()),
        LinkUrl::Serial { path, baud } => format!("serial port {path} at {baud} baud"),
        LinkUrl::Exec(command) => format!("`{command}`"),
        LinkUrl::Stdio => "stdio".to_string(),
    }
}

/// The first bytes, printable, cut short.
fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes.get(..24).unwrap_or(bytes))
        .escape_debug()
        .to_string();
    if bytes.len() > 24 {
        text + "..."
    } else {
        text
    }
}

/// What a peer's `Hello` says of it.
#[derive(Clone, Copy, Debug)]
struct PeerHello {
    version: u8,
    min_version: u8,
    schema: Option<u32>,
}

/// The first `Hello` among the frames in `bytes`. Frames as docs/PROTOCOL.md has them: a
/// header byte whose low five bits are the kind (1: Hello), then version, oldest version,
/// five varints (features, max frame, max inbound, max outbound, keepalive) and the schema
/// (u32, little-endian).
fn peer_hello(bytes: &[u8]) -> Option<PeerHello> {
    wirecall_tests::raw::unframe(bytes)
        .into_iter()
        .flatten()
        .find_map(|body| {
            let (&header, rest) = body.split_first()?;
            if header & 0x1f != 1 {
                return None;
            }
            let (&version, rest) = rest.split_first()?;
            let (&min_version, mut rest) = rest.split_first()?;
            for _ in 0..5 {
                let len = rest.iter().position(|b| b & 0x80 == 0)? + 1;
                rest = rest.get(len..)?;
            }
            let schema = rest
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes);
            Some(PeerHello {
                version,
                min_version,
                schema,
            })
        })
}

/// An I/O error's cause in a few lowercase words, without the OS error number:
/// `address already in use`.
pub(crate) fn cause(e: &io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error ").next().unwrap_or(&text);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use wirecall_tests::raw::{frame, hello};

    #[test]
    fn the_peers_hello_is_found_among_noise() {
        let mut bytes = b"noise\n".to_vec();
        bytes.extend(frame(&hello(false, 9, 7, 4096, 32, 32, 1000, 0xdead_beef)));
        let h = peer_hello(&bytes).unwrap();
        assert_eq!(
            (h.version, h.min_version, h.schema),
            (9, 7, Some(0xdead_beef))
        );
        assert!(peer_hello(b"garbage\ngarbage\n").is_none());
    }

    #[test]
    fn causes_are_short() {
        let e = io::Error::from_raw_os_error(98); // EADDRINUSE
        assert_eq!(cause(&e), "address already in use");
    }
}
