//! WebSocket links, server side (RFC 6455): the wirecall byte stream in binary messages
//! over an accepted TCP connection, as a host [`Link`] or as halves for a bridge.
//!
//! Message boundaries carry no meaning: the reader yields the payload bytes of binary
//! messages in order, however the peer split them into messages and frames, and the
//! writer sends each write as one binary frame. Pings are answered with pongs, a close
//! with a close; a text message or a broken frame ends the link with a close that says why.
//!
//! `tungstenite` does the handshake's accept key and the frame headers. Its `WebSocket`
//! itself is not used: it is one object that cannot be read on one thread while another
//! writes, and the host runtime reads and writes a link from different threads. So the
//! halves are ours: a reader (`read.rs`) and a sending side (`write.rs`) shared behind a
//! mutex by the writer and the reader (for pongs and closes), so frames never interleave.
//!
//! Memory per connection, whatever the peer sends: an 8 KiB read buffer, a 16 KiB frame
//! being sent, a 125-byte control frame owed and one being read.

mod read;
mod write;

use std::io;
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use wirecall_adapters::host::Link;

use crate::http::{self, Head};
use read::CLOSE_WAIT;
pub(crate) use read::{code, WsReader};
pub(crate) use write::WsWriter;
use write::{ControlFrame, Sender};

/// How long one read or write may block when nothing moves, as for the runtime's links.
pub(crate) const TICK: Duration = Duration::from_millis(50);

/// The subprotocol a client may ask for; the server agrees to it and to none other.
const SUBPROTOCOL: &str = "wirecall";

/// A WebSocket connection after its handshake, in halves.
pub(crate) struct WsLink {
    /// The payload bytes of the peer's binary messages.
    pub(crate) reader: WsReader,
    /// Each write one binary frame.
    pub(crate) writer: WsWriter,
    /// Ends the connection with a close.
    pub(crate) closer: WsCloser,
    /// `ws:PEER`, for messages.
    pub(crate) name: String,
}

impl WsLink {
    /// A host link: releasing it sends a normal close (unless a close went already).
    pub(crate) fn into_link(self) -> Link {
        let WsLink {
            reader,
            writer,
            closer,
            name,
        } = self;
        Link::from_parts(name, reader, writer, move || {
            closer.close(code::NORMAL, "the wirecall session ended");
        })
    }
}

/// Ends a WebSocket connection: a close frame, then the TCP connection.
pub(crate) struct WsCloser {
    socket: TcpStream,
    sender: Sender,
}

impl WsCloser {
    /// Sends a close with `code` and `reason` (cut to 123 bytes) unless one went already,
    /// then ends the connection. Blocked reads of the link return.
    pub(crate) fn close(mut self, code: u16, reason: &str) {
        if !self.sender.closed() {
            self.sender
                .send_control(ControlFrame::close(code, reason), CLOSE_WAIT);
        }
        // The peer answers the close and then closes; reading that, briefly, keeps a
        // reset (from closing with unread input) from overtaking the close.
        http::finish(&mut self.socket);
        self.sender.shutdown(Shutdown::Both);
    }
}

/// Answers `head` (read from `stream`, with `early` the bytes after it) with the
/// WebSocket handshake and returns the connection, or answers why not (426 to a request
/// that is no WebSocket upgrade) and returns `None`.
pub(crate) fn accept(mut stream: TcpStream, head: &Head, early: &[u8]) -> Option<WsLink> {
    let upgrade = head.has_token("Upgrade", "websocket") && head.has_token("Connection", "upgrade");
    if head.method != "GET" || !upgrade {
        let text = "this address speaks WebSocket: binary messages carrying the wirecall byte \
                    stream; connect with a WebSocket client\n";
        http::respond_text(&mut stream, 426, text, &[("Upgrade", "websocket")]);
        http::finish(&mut stream);
        return None;
    }
    if head.header("Sec-WebSocket-Version") != Some("13") {
        let text = "only WebSocket version 13 (RFC 6455) is spoken here\n";
        http::respond_text(&mut stream, 426, text, &[("Sec-WebSocket-Version", "13")]);
        http::finish(&mut stream);
        return None;
    }
    let Some(key) = head.header("Sec-WebSocket-Key").filter(|k| !k.is_empty()) else {
        http::respond_text(&mut stream, 400, "no Sec-WebSocket-Key\n", &[]);
        http::finish(&mut stream);
        return None;
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut headers = vec![
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept.as_str()),
    ];
    if head.has_token("Sec-WebSocket-Protocol", SUBPROTOCOL) {
        headers.push(("Sec-WebSocket-Protocol", SUBPROTOCOL));
    }
    http::write_head(&mut stream, 101, &headers).ok()?;
    halves(stream, early).ok()
}

/// The halves of a connection whose handshake is done.
fn halves(stream: TcpStream, early: &[u8]) -> io::Result<WsLink> {
    // Frames are small and latency matters; every read and write returns within a tick.
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(TICK))?;
    stream.set_write_timeout(Some(TICK))?;
    let name = format!(
        "ws:{}",
        stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default()
    );
    let sender = Sender::new(stream.try_clone()?);
    Ok(WsLink {
        reader: WsReader::new(stream.try_clone()?, sender.clone(), early),
        writer: WsWriter(sender.clone()),
        closer: WsCloser {
            socket: stream,
            sender,
        },
        name,
    })
}
