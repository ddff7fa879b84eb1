//! A WebSocket client for the tests: `tungstenite`'s, an implementation independent of the
//! server's, made into a host `Link` so that the Rust client speaks wirecall through it;
//! and the raw frames a hostile peer sends.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};
use wirecall::Config;
use wirecall_adapters::host::{Client, ClientOptions, Link};
use wirecall_tests::demo::demo;

/// A client's WebSocket to `url` (`ws://HOST:PORT/PATH`), its handshake done.
pub(crate) fn connect(url: &str) -> WebSocket<TcpStream> {
    let addr = url.trim_start_matches("ws://").split('/').next().unwrap();
    let stream = TcpStream::connect(addr).unwrap();
    // As browsers do: with Nagle's algorithm, one-byte messages would wait for acks.
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (ws, response) = tungstenite::client(url, stream).unwrap();
    assert_eq!(response.status(), 101);
    ws
}

/// How the test client splits what it sends.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Split {
    /// Each write one binary message.
    Whole,
    /// Each byte a binary message of its own.
    BytePerMessage,
    /// Each write one message, in one-byte frames (a binary frame, then continuations),
    /// with a ping between the first two.
    Fragments,
}

/// The typed demo client over `ws`, sending as `split` says.
pub(crate) fn demo_client(ws: WebSocket<TcpStream>, split: Split) -> demo::Client<Client> {
    let options = ClientOptions {
        config: Config::default().expecting_schema(demo::SCHEMA_HASH),
        ..ClientOptions::default()
    };
    let raw = Client::over(link(ws, split), options).unwrap();
    demo::Client::new(raw).with_timeout(Duration::from_secs(10))
}

/// `ws` as a host link. `tungstenite`'s `WebSocket` is one object for both directions, so
/// the halves share it behind a mutex, each read giving it up within a tick.
pub(crate) fn link(ws: WebSocket<TcpStream>, split: Split) -> Link {
    let socket = ws.get_ref();
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    socket
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let ws = Arc::new(Mutex::new(ws));
    let closer = ws.clone();
    Link::from_parts(
        "test websocket",
        Reader {
            ws: ws.clone(),
            pending: Vec::new(),
            at: 0,
        },
        Writer { ws, split },
        move || {
            let mut ws = closer.lock().unwrap();
            let _ = ws.close(None);
            let _ = ws.flush();
            let _ = ws.get_ref().shutdown(Shutdown::Both);
        },
    )
}

struct Reader {
    ws: Arc<Mutex<WebSocket<TcpStream>>>,
    pending: Vec<u8>,
    at: usize,
}

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.pending.len() {
            let message = self.ws.lock().unwrap().read();
            match message {
                Ok(Message::Binary(bytes)) => (self.pending, self.at) = (bytes.to_vec(), 0),
                Ok(Message::Close(_)) => return Ok(0),
                Ok(Message::Text(t)) => return Err(io::Error::other(format!("text: {t}"))),
                Ok(_) => return Err(io::ErrorKind::WouldBlock.into()), // a ping or pong
                Err(tungstenite::Error::Io(e)) => return Err(e),
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Ok(0)
                }
                Err(e) => return Err(io::Error::other(e.to_string())),
            }
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

struct Writer {
    ws: Arc<Mutex<WebSocket<TcpStream>>>,
    split: Split,
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut ws = self.ws.lock().unwrap();
        let binary = |bytes: &[u8], first: bool, last: bool| {
            let kind = if first { Data::Binary } else { Data::Continue };
            Message::Frame(Frame::message(bytes.to_vec(), OpCode::Data(kind), last))
        };
        let messages: Vec<Message> = match self.split {
            Split::Whole => vec![Message::binary(buf.to_vec())],
            Split::BytePerMessage => buf.iter().map(|b| Message::binary(vec![*b])).collect(),
            Split::Fragments => {
                let last = buf.len() - 1;
                let mut frames: Vec<Message> = buf
                    .iter()
                    .enumerate()
                    .map(|(i, b)| binary(&[*b], i == 0, i == last))
                    .collect();
                if frames.len() > 1 {
                    frames.insert(1, Message::Ping(b"between fragments".to_vec().into()));
                }
                frames
            }
        };
        for message in messages {
            // The test's messages are small: the socket takes each at once.
            ws.send(message)
                .map_err(|e| io::Error::other(e.to_string()))?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads messages from `ws` until its close; returns the close frame (`None` for a close
/// without a status, or a connection that ended without a close).
pub(crate) fn close_of(ws: &mut WebSocket<TcpStream>) -> Option<CloseFrame> {
    loop {
        match ws.read() {
            Ok(Message::Close(frame)) => return frame,
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}
