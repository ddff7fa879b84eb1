//! The little HTTP/1.1 that `wirecall web` and `wirecall serve --ws` speak: one request per
//! connection, its head read into a fixed buffer and parsed by `httparse`, and plain
//! responses that close the connection.
//!
//! Bounded: a head is at most [`HEAD_LIMIT`] bytes and [`MAX_HEADERS`] header lines, and
//! must arrive within [`HEAD_TIME`]; a client that sends more, or too slowly, is answered
//! 431 or dropped, never buffered further.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The largest request head read, request line and headers together.
pub(crate) const HEAD_LIMIT: usize = 8 * 1024;

/// The most header lines a request may have.
const MAX_HEADERS: usize = 32;

/// How long a client has to send its whole head: a connection that trickles it holds a
/// thread, and the server has few of those.
pub(crate) const HEAD_TIME: Duration = Duration::from_secs(10);

/// A request's head: what the server looks at to answer it.
#[derive(Debug)]
pub(crate) struct Head {
    /// `GET`, `HEAD`, ...
    pub(crate) method: String,
    /// The request target as sent: `/demo/index.html?x=1`.
    pub(crate) target: String,
    /// The header lines, names as sent; values that are not UTF-8 are left out.
    headers: Vec<(String, String)>,
}

impl Head {
    /// The value of header `name` (case-insensitive), if present.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }

    /// True if header `name` is a comma-separated list with `token` in it
    /// (`Connection: keep-alive, Upgrade` has `upgrade`).
    pub(crate) fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// The path of the target, without its query.
    pub(crate) fn path(&self) -> &str {
        self.target.split(['?', '#']).next().unwrap_or_default()
    }
}

/// Why no head came.
#[derive(Debug)]
pub(crate) enum HeadError {
    /// The client closed, or sent nothing in time: nothing to answer.
    Gone,
    /// More than [`HEAD_LIMIT`] bytes or [`MAX_HEADERS`] headers: 431.
    TooLarge,
    /// Not HTTP/1.x: 400, with what was wrong.
    Malformed(String),
}

/// Reads a request head from `stream` (whose reads time out within a tick), within
/// [`HEAD_TIME`]. Returns it with the bytes that came after it (the start of a WebSocket's
/// frames, if the client did not wait for the handshake's answer).
pub(crate) fn read_head(stream: &mut TcpStream) -> Result<(Head, Vec<u8>), HeadError> {
    let deadline = Instant::now() + HEAD_TIME;
    let mut buf = vec![0u8; HEAD_LIMIT];
    let mut end = 0;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let seen = buf.get(..end).unwrap_or_default();
        match request.parse(seen) {
            Ok(httparse::Status::Complete(len)) => {
                let head = Head {
                    method: request.method.unwrap_or_default().to_string(),
                    target: request.path.unwrap_or_default().to_string(),
                    headers: request
                        .headers
                        .iter()
                        .filter_map(|h| {
                            let value = std::str::from_utf8(h.value).ok()?;
                            Some((h.name.to_string(), value.to_string()))
                        })
                        .collect(),
                };
                let rest = seen.get(len..).unwrap_or_default().to_vec();
                return Ok((head, rest));
            }
            Ok(httparse::Status::Partial) if end == buf.len() => return Err(HeadError::TooLarge),
            Ok(httparse::Status::Partial) => {}
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
            Err(e) => return Err(HeadError::Malformed(e.to_string())),
        }
        if Instant::now() >= deadline {
            return Err(HeadError::Gone);
        }
        match stream.read(buf.get_mut(end..).unwrap_or_default()) {
            Ok(0) => return Err(HeadError::Gone),
            Ok(n) => end += n,
            Err(e) if is_transient(&e) => {}
            Err(_) => return Err(HeadError::Gone),
        }
    }
}

/// True for read and write errors that mean "nothing yet" on a socket with timeouts.
pub(crate) fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// Answers a head that could not be read, if there is anyone to answer.
pub(crate) fn answer_bad_head(stream: &mut TcpStream, e: &HeadError) {
    match e {
        HeadError::Gone => {}
        HeadError::TooLarge => {
            let text = format!(
                "the request head is larger than {HEAD_LIMIT} bytes or has more than \
                 {MAX_HEADERS} headers\n"
            );
            respond_text(stream, 431, &text, &[]);
        }
        HeadError::Malformed(why) => {
            respond_text(
                stream,
                400,
                &format!("not an HTTP/1.1 request: {why}\n"),
                &[],
            );
        }
    }
}

/// The reason phrase of the statuses used here.
fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// A response head: status line, `headers`, and `Connection: close` unless the status
/// switches protocols.
fn head_text(status: u16, headers: &[(&str, &str)]) -> String {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if status != 101 {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    head
}

/// Writes a response head (see [`head_text`]).
pub(crate) fn write_head(
    stream: &mut impl Write,
    status: u16,
    headers: &[(&str, &str)],
) -> io::Result<()> {
    stream.write_all(head_text(status, headers).as_bytes())
}

/// Answers with `text` as a plain-text body (errors say why in words) and `headers`, in
/// one write (a client that reads only what came with the head still gets the reason).
/// Failures to write are ignored: the connection ends either way.
pub(crate) fn respond_text(
    stream: &mut impl Write,
    status: u16,
    text: &str,
    headers: &[(&str, &str)],
) {
    let length = text.len().to_string();
    let mut all = vec![
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", length.as_str()),
        ("Cache-Control", "no-store"),
    ];
    all.extend_from_slice(headers);
    let answer = head_text(status, &all) + text;
    let _ = stream.write_all(answer.as_bytes());
    let _ = stream.flush();
}

/// Ends a connection after its answer: the write side is shut (the client sees the end)
/// and what the client still sends is read and dropped for a moment, since closing a
/// socket with unread input sends a reset that can destroy the answer on its way.
pub(crate) fn finish(stream: &mut TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(20)));
    let mut sink = [0u8; 512];
    for _ in 0..8 {
        match stream.read(&mut sink) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        request.parse(text.as_bytes()).unwrap();
        Head {
            method: request.method.unwrap().into(),
            target: request.path.unwrap().into(),
            headers: request
                .headers
                .iter()
                .map(|h| (h.name.into(), String::from_utf8_lossy(h.value).into()))
                .collect(),
        }
    }

    #[test]
    fn headers_and_tokens_are_found_whatever_their_case() {
        let h = head("GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\nconnection: keep-alive, Upgrade\r\n\r\n");
        assert_eq!(h.path(), "/a/b");
        assert_eq!(h.header("HOST"), Some("h"));
        assert!(h.has_token("Connection", "upgrade"));
        assert!(!h.has_token("Connection", "close"));
    }
}
