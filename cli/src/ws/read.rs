//! The reading side of a WebSocket connection: the payload bytes of binary messages, in
//! order, whatever their split into messages and frames; pings answered, a close answered
//! and ended on, and anything else ends the link with a close that says why.
//!
//! Bounded: frames are read through a fixed buffer of [`READ_BUF`] bytes, a payload is
//! handed on in pieces as it arrives (never held whole), and a frame announcing more than
//! [`MAX_FRAME`] bytes ends the link before any of it is read.

use std::io::{self, Cursor, Read};
use std::net::TcpStream;
use std::time::Duration;

use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use super::write::{ControlFrame, Sender, MAX_CONTROL};

/// The largest frame payload taken from a peer. Message boundaries mean nothing here, so
/// no peer needs large frames; the limit keeps one frame from holding the link for long.
pub(crate) const MAX_FRAME: u64 = 1 << 20;

/// The read buffer: frame headers and control frames are parsed from it. At least the
/// HTTP head's limit, so bytes that came with the head fit in it.
pub(crate) const READ_BUF: usize = crate::http::HEAD_LIMIT;

/// How long a close this side sends may take to go out before the link ends anyway.
pub(crate) const CLOSE_WAIT: Duration = Duration::from_millis(500);

/// Status codes of the closes this side sends (RFC 6455 section 7.4.1).
pub(crate) mod code {
    /// The session ended normally.
    pub(crate) const NORMAL: u16 = 1000;
    /// The peer broke the protocol.
    pub(crate) const PROTOCOL: u16 = 1002;
    /// A kind of data this endpoint does not take (text).
    pub(crate) const UNSUPPORTED: u16 = 1003;
    /// A frame too large.
    pub(crate) const TOO_BIG: u16 = 1009;
    /// The server could not do what the connection is for (its link failed).
    pub(crate) const SERVER_ERROR: u16 = 1011;
}

/// Where the reader is in the peer's stream of frames.
#[derive(Clone, Copy)]
enum State {
    /// Between frames.
    Header,
    /// In a data frame's payload: `left` bytes to come, the mask's position `at`.
    Data { left: u64, mask: [u8; 4], at: usize },
    /// In a control frame's payload of `len` bytes, `got` of them read.
    Control {
        kind: Control,
        len: usize,
        got: usize,
        mask: [u8; 4],
    },
    /// The peer closed, or broke the protocol: nothing more is read.
    Ended,
}

/// The reader half of a WebSocket link.
pub(crate) struct WsReader {
    socket: TcpStream,
    sender: Sender,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    state: State,
    control: [u8; MAX_CONTROL],
    /// A binary message's last frame has not come yet: continuation frames are due.
    in_message: bool,
    /// Why this side ended the link, repeated to every later read.
    failure: Option<String>,
}

impl WsReader {
    /// Reads frames from `socket` (reads time out within a tick), starting with `early`
    /// (bytes that came with the HTTP head, at most [`READ_BUF`]); answers through `sender`.
    pub(crate) fn new(socket: TcpStream, sender: Sender, early: &[u8]) -> WsReader {
        let mut buf = vec![0u8; READ_BUF].into_boxed_slice();
        let end = early.len().min(READ_BUF);
        if let (Some(to), Some(from)) = (buf.get_mut(..end), early.get(..end)) {
            to.copy_from_slice(from);
        }
        WsReader {
            socket,
            sender,
            buf,
            start: 0,
            end,
            state: State::Header,
            control: [0; MAX_CONTROL],
            in_message: false,
            failure: None,
        }
    }

    /// Reads more into the buffer: `Ok(false)` at the end of the stream.
    fn fill(&mut self) -> io::Result<bool> {
        self.buf.copy_within(self.start..self.end, 0);
        (self.start, self.end) = (0, self.end - self.start);
        let n = self
            .socket
            .read(self.buf.get_mut(self.end..).unwrap_or_default())?;
        self.end += n;
        Ok(n > 0)
    }

    /// Ends the link: a close with `code` and `why` to the peer, and `why` as the error of
    /// this and every later read.
    fn fail(&mut self, code: u16, why: String) -> io::Error {
        self.sender
            .send_control(ControlFrame::close(code, &why), CLOSE_WAIT);
        self.state = State::Ended;
        self.failure = Some(why.clone());
        io::Error::new(io::ErrorKind::InvalidData, why)
    }

    /// Takes a frame's header: checks it and starts reading its payload.
    fn begin(&mut self, header: &FrameHeader, len: u64) -> Result<(), io::Error> {
        if header.rsv1 || header.rsv2 || header.rsv3 {
            let why = "a frame with reserved bits set (no extension was agreed)";
            return Err(self.fail(code::PROTOCOL, why.into()));
        }
        let Some(mask) = header.mask else {
            let why = "an unmasked frame (a client masks every frame: RFC 6455 section 5.1)";
            return Err(self.fail(code::PROTOCOL, why.into()));
        };
        let continues = match header.opcode {
            OpCode::Data(Data::Binary) => false,
            OpCode::Data(Data::Continue) => true,
            OpCode::Data(Data::Text) => {
                let why = "a text message: wirecall's bytes travel in binary messages";
                return Err(self.fail(code::UNSUPPORTED, why.into()));
            }
            OpCode::Control(kind @ (Control::Ping | Control::Pong | Control::Close))
                if header.is_final && len <= MAX_CONTROL as u64 =>
            {
                let len = len as usize;
                self.state = State::Control {
                    kind,
                    len,
                    got: 0,
                    mask,
                };
                return Ok(());
            }
            OpCode::Control(Control::Ping | Control::Pong | Control::Close) => {
                let why = "a control frame in pieces or over 125 bytes";
                return Err(self.fail(code::PROTOCOL, why.into()));
            }
            other => {
                let why = format!("a frame of unknown kind {other}");
                return Err(self.fail(code::PROTOCOL, why));
            }
        };
        if continues != self.in_message {
            let why = match continues {
                true => "a continuation frame with no message to continue",
                false => "a new message before the last one ended",
            };
            return Err(self.fail(code::PROTOCOL, why.into()));
        }
        if len > MAX_FRAME {
            let why = format!(
                "a frame of {len} bytes: this server takes frames of at most {MAX_FRAME} bytes"
            );
            return Err(self.fail(code::TOO_BIG, why));
        }
        self.in_message = !header.is_final;
        self.state = State::Data {
            left: len,
            mask,
            at: 0,
        };
        Ok(())
    }

    /// Acts on a whole control frame. `Ok(true)` when it ends the link (a close).
    fn act(&mut self, kind: Control, len: usize) -> io::Result<bool> {
        let payload = self.control.get(..len).unwrap_or_default();
        match kind {
            Control::Ping => {
                // Sent now if the sending side is free, else with the next thing sent.
                self.sender
                    .send_control(ControlFrame::pong(payload), Duration::ZERO);
                Ok(false)
            }
            Control::Close if len == 1 => {
                let why = "a close frame of one byte (a status code has two)";
                Err(self.fail(code::PROTOCOL, why.into()))
            }
            Control::Close => {
                self.sender
                    .send_control(ControlFrame::close(code::NORMAL, ""), CLOSE_WAIT);
                self.state = State::Ended;
                Ok(true)
            }
            _ => Ok(false), // a pong: this side sends no pings, so nothing to match
        }
    }
}

/// XORs `bytes` with `mask`, starting at the mask's byte `at`.
fn unmask(bytes: &mut [u8], mask: [u8; 4], at: usize) {
    for (i, b) in bytes.iter_mut().enumerate() {
        *b ^= mask[(at + i) % 4];
    }
}

impl Read for WsReader {
    /// The next payload bytes of the peer's binary messages. At most one read of the
    /// socket per call, so a call returns within its tick even under a flood of pings:
    /// `WouldBlock` or `TimedOut` then mean "nothing yet". `Ok(0)` once the peer closed.
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        // What is owed to the peer (the rest of a frame, a pong) goes out on every read.
        self.sender.try_drain();
        if let Some(why) = &self.failure {
            return Err(io::Error::new(io::ErrorKind::InvalidData, why.clone()));
        }
        let mut socket_read = false;
        loop {
            let buffered = self.end - self.start;
            match self.state {
                State::Ended => return Ok(0),
                State::Header => {
                    let mut cursor =
                        Cursor::new(self.buf.get(self.start..self.end).unwrap_or_default());
                    match FrameHeader::parse(&mut cursor) {
                        Ok(Some((header, len))) => {
                            self.start += cursor.position() as usize;
                            self.begin(&header, len)?;
                        }
                        Ok(None) if socket_read => return Err(io::ErrorKind::WouldBlock.into()),
                        Ok(None) => {
                            socket_read = true;
                            if !self.fill()? {
                                self.state = State::Ended; // gone without a close
                            }
                        }
                        Err(e) => {
                            return Err(self.fail(code::PROTOCOL, format!("a malformed frame: {e}")))
                        }
                    }
                }
                State::Data { left: 0, .. } => self.state = State::Header,
                State::Data { left, mask, at } => {
                    let want = out.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = if buffered > 0 {
                        let n = want.min(buffered);
                        let from = self.buf.get(self.start..self.start + n).unwrap_or_default();
                        out.get_mut(..n).unwrap_or_default().copy_from_slice(from);
                        self.start += n;
                        n
                    } else if socket_read {
                        return Err(io::ErrorKind::WouldBlock.into());
                    } else {
                        // Straight into the caller's buffer: no copy for the bulk of a frame.
                        match self.socket.read(out.get_mut(..want).unwrap_or_default())? {
                            0 => {
                                self.state = State::Ended; // gone mid-frame
                                return Ok(0);
                            }
                            n => n,
                        }
                    };
                    unmask(out.get_mut(..n).unwrap_or_default(), mask, at);
                    self.state = State::Data {
                        left: left - n as u64,
                        mask,
                        at: (at + n) % 4,
                    };
                    return Ok(n);
                }
                State::Control {
                    kind,
                    len,
                    got,
                    mask,
                } if got == len => {
                    unmask(self.control.get_mut(..len).unwrap_or_default(), mask, 0);
                    self.state = State::Header;
                    if self.act(kind, len)? {
                        return Ok(0);
                    }
                }
                State::Control {
                    kind,
                    len,
                    got,
                    mask,
                } => {
                    if buffered == 0 {
                        if socket_read {
                            return Err(io::ErrorKind::WouldBlock.into());
                        }
                        socket_read = true;
                        if !self.fill()? {
                            self.state = State::Ended;
                        }
                        continue;
                    }
                    let n = (len - got).min(buffered);
                    let from = self.buf.get(self.start..self.start + n).unwrap_or_default();
                    self.control
                        .get_mut(got..got + n)
                        .unwrap_or_default()
                        .copy_from_slice(from);
                    self.start += n;
                    self.state = State::Control {
                        kind,
                        len,
                        got: got + n,
                        mask,
                    };
                }
            }
        }
    }
}
