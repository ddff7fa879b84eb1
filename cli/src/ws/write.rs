//! The sending side of a WebSocket connection, shared by its writer (binary frames of the
//! wirecall byte stream) and its reader (pongs, and the close that answers the peer's).
//!
//! One mutex guards the socket's sending side so that frames never interleave. A frame is
//! formed whole in a fixed buffer and then sent as the socket takes it: a write returns
//! within a tick even when the peer reads nothing, and the rest of a frame begun goes out
//! with the next write, flush or read (the reader drains it on every read: some thread
//! always reads a link, so nothing waits on a write that never comes).

use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use crate::http::is_transient;

/// The largest payload of a frame this side sends: a write of more is sent in part (as
/// `Write` allows), so the buffer a frame is formed in has a fixed size.
pub(crate) const MAX_SEND: usize = 16 * 1024;

/// The longest frame header: 2 bytes, 8 of length, 4 of mask (never sent by a server).
const MAX_HEADER: usize = 14;

/// The largest payload of a control frame (RFC 6455 section 5.5).
pub(crate) const MAX_CONTROL: usize = 125;

/// A control frame owed to the peer, waiting for its turn after the frame being sent.
#[derive(Clone, Copy)]
pub(crate) struct ControlFrame {
    close: bool,
    payload: [u8; MAX_CONTROL],
    len: usize,
}

impl ControlFrame {
    /// A pong with the ping's payload.
    pub(crate) fn pong(payload: &[u8]) -> ControlFrame {
        ControlFrame::new(false, payload)
    }

    /// A close with a status code and a reason (cut to fit, at a character's boundary).
    pub(crate) fn close(code: u16, reason: &str) -> ControlFrame {
        let mut end = reason.len().min(MAX_CONTROL - 2);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.get(..end).unwrap_or_default().as_bytes());
        ControlFrame::new(true, &payload)
    }

    fn new(close: bool, bytes: &[u8]) -> ControlFrame {
        let mut payload = [0u8; MAX_CONTROL];
        let len = bytes.len().min(MAX_CONTROL);
        payload
            .get_mut(..len)
            .unwrap_or_default()
            .copy_from_slice(bytes.get(..len).unwrap_or_default());
        ControlFrame {
            close,
            payload,
            len,
        }
    }
}

/// The sending side: the socket, the frame being sent, the control frame owed next.
pub(crate) struct Outgoing {
    socket: TcpStream,
    frame: Box<[u8]>,
    start: usize,
    end: usize,
    owed: Option<ControlFrame>,
    /// A close has been formed: nothing may follow it.
    closed: bool,
}

/// The sending side of one connection, shared.
#[derive(Clone)]
pub(crate) struct Sender(Arc<Mutex<Outgoing>>);

impl Sender {
    /// The sending side of `socket` (whose writes time out within a tick).
    pub(crate) fn new(socket: TcpStream) -> Sender {
        Sender(Arc::new(Mutex::new(Outgoing {
            socket,
            frame: vec![0u8; MAX_HEADER + MAX_SEND].into_boxed_slice(),
            start: 0,
            end: 0,
            owed: None,
            closed: false,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Outgoing> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends what is waiting if the sending side is free; never waits for it (the reader
    /// calls this on each read).
    pub(crate) fn try_drain(&self) {
        if let Ok(mut out) = self.0.try_lock() {
            let _ = out.drain();
        }
    }

    /// Owes the peer `frame` (a later pong replaces an earlier one; nothing replaces a
    /// close) and sends it, trying for at most `wait`. True once it is out.
    pub(crate) fn send_control(&self, frame: ControlFrame, wait: Duration) -> bool {
        let until = Instant::now() + wait;
        let mut out = self.lock();
        if out.closed {
            if !frame.close {
                return false; // nothing follows a close
            }
            // The close formed before is this one's: see it out.
        } else if frame.close || !out.owed.is_some_and(|o| o.close) {
            out.owed = Some(frame);
        }
        loop {
            match out.drain() {
                Ok(true) => return true,
                Ok(false) if Instant::now() < until => {}
                _ => return false,
            }
        }
    }

    /// True once a close has been sent or formed.
    pub(crate) fn closed(&self) -> bool {
        self.lock().closed
    }

    /// The socket, for shutting it down.
    pub(crate) fn shutdown(&self, how: std::net::Shutdown) {
        let _ = self.lock().socket.shutdown(how);
    }
}

impl Outgoing {
    /// Sends the rest of the frame being sent, then the control frame owed, as far as the
    /// socket takes them. `Ok(true)` once all is out, `Ok(false)` if the socket took no
    /// more within a tick.
    fn drain(&mut self) -> io::Result<bool> {
        loop {
            if self.start < self.end {
                let bytes = self.frame.get(self.start..self.end).unwrap_or_default();
                match self.socket.write(bytes) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => self.start += n,
                    Err(e) if is_transient(&e) => return Ok(false),
                    Err(e) => return Err(e),
                }
            } else if let Some(control) = self.owed.take() {
                let opcode = match control.close {
                    true => Control::Close,
                    false => Control::Pong,
                };
                self.closed |= control.close;
                let payload = control.payload.get(..control.len).unwrap_or_default();
                self.form(OpCode::Control(opcode), payload)?;
            } else {
                return Ok(true);
            }
        }
    }

    /// Forms a final, unmasked frame of `payload` (at most [`MAX_SEND`] bytes) in the
    /// buffer, which must be empty.
    fn form(&mut self, opcode: OpCode, payload: &[u8]) -> io::Result<()> {
        let header = FrameHeader {
            opcode,
            ..FrameHeader::default()
        };
        let len = payload.len() as u64;
        let mut at = io::Cursor::new(&mut self.frame[..]);
        header
            .format(len, &mut at)
            .map_err(|e| io::Error::other(e.to_string()))?;
        at.write_all(payload)?;
        (self.start, self.end) = (0, at.position() as usize);
        Ok(())
    }
}

/// The writer half of a WebSocket link: each write is one binary frame.
pub(crate) struct WsWriter(pub(crate) Sender);

impl Write for WsWriter {
    /// Sends `buf` (its first [`MAX_SEND`] bytes) as one binary frame. Returns `TimedOut`,
    /// taking nothing, while the frame before it is still going out; once taken, the bytes
    /// go out with later writes, flushes or reads.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut out = self.0.lock();
        let closed = || io::Error::new(io::ErrorKind::BrokenPipe, "the WebSocket is closed");
        if out.closed {
            return Err(closed());
        }
        if !out.drain()? {
            return Err(io::ErrorKind::TimedOut.into());
        }
        if out.closed {
            return Err(closed()); // the close the reader owed went out just now
        }
        let n = buf.len().min(MAX_SEND);
        out.form(OpCode::Data(Data::Binary), buf.get(..n).unwrap_or_default())?;
        out.drain()?;
        Ok(n)
    }

    /// Sends what the socket takes of the frame being sent; the rest goes later (a flush
    /// that failed with bytes already taken would make the runtime send them twice).
    fn flush(&mut self) -> io::Result<()> {
        self.0.lock().drain().map(|_| ())
    }
}
