//! The bridge of `wirecall web --to URL`: each WebSocket connection gets a link of its own
//! to URL, and the bytes are copied both ways, unchanged (the wirecall session is between
//! the page and the device; the bridge holds no protocol).
//!
//! Two threads, each reading one side and writing the other through a fixed buffer of
//! [`PIECE`] bytes: a side that stops reading stops the copy towards it, and so the reads
//! from the other (backpressure reaches both sockets). When either side ends or fails,
//! the other thread stops within a tick, the link is released (a child process is killed
//! and reaped) and the WebSocket closed, saying why.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wirecall_adapters::host::LinkUrl;

use crate::http::is_transient;
use crate::links;
use crate::ws::{code, WsLink};

/// The copy buffer of each direction.
const PIECE: usize = 16 * 1024;

/// A write that makes no progress for this long means its side stopped reading.
const WRITE_STALL: Duration = Duration::from_secs(5);

/// How a direction of the copy ended.
enum End {
    /// Its source ended (end of stream, or the WebSocket's close).
    Ended,
    /// Its source failed.
    ReadFailed(io::Error),
    /// Its destination failed, or stopped reading.
    WriteFailed(io::Error),
    /// The other direction ended first.
    Stopped,
}

/// Bridges `ws` to a new link to `url` until either ends. A link that cannot be opened
/// closes the WebSocket with a reason that says why.
pub(crate) fn run(ws: WsLink, url: &LinkUrl) {
    let WsLink {
        reader: ws_reader,
        writer: ws_writer,
        closer,
        ..
    } = ws;
    let target = match links::open_url(url) {
        Ok(link) => link,
        Err(e) => {
            // The message's first line; its hint would not fit a close frame's 123 bytes.
            let text = e.to_string();
            let why = text.lines().next().unwrap_or_default();
            return closer.close(code::SERVER_ERROR, why);
        }
    };
    let (link_reader, link_writer, guard) = target.split();
    let done = Arc::new(AtomicBool::new(false));
    let stop = done.clone();
    let towards_link = std::thread::Builder::new()
        .name("wirecall-bridge".into())
        .spawn(move || {
            let end = copy(ws_reader, link_writer, &stop);
            stop.store(true, Ordering::SeqCst);
            end
        });
    let Ok(towards_link) = towards_link else {
        drop(guard);
        return closer.close(code::SERVER_ERROR, "the server could not start a thread");
    };
    let towards_page = copy(link_reader, ws_writer, &done);
    done.store(true, Ordering::SeqCst);
    let from_page = towards_link.join().unwrap_or(End::Stopped);
    drop(guard); // the link is released: a socket shut down, a child killed and reaped
    let why = match (towards_page, from_page) {
        (End::Ended, _) => format!("the link to {url} ended"),
        (End::ReadFailed(e), _) => format!("the link to {url} failed: {e}"),
        (_, End::WriteFailed(e)) => format!("writing to {url} failed: {e}"),
        // The page's side ended or broke (its close, if any, is answered already).
        _ => "the bridge ended".to_string(),
    };
    closer.close(code::SERVER_ERROR, &why);
}

/// Copies from `from` to `to` until `from` ends, either fails, or `stop` is set.
fn copy(mut from: impl Read, mut to: impl Write, stop: &AtomicBool) -> End {
    let mut piece = vec![0u8; PIECE];
    while !stop.load(Ordering::SeqCst) {
        match from.read(&mut piece) {
            Ok(0) => return End::Ended,
            Ok(n) => {
                if let Err(e) = write_all(&mut to, piece.get(..n).unwrap_or_default(), stop) {
                    return e;
                }
            }
            Err(e) if is_transient(&e) => {}
            Err(e) => return End::ReadFailed(e),
        }
    }
    End::Stopped
}

/// Writes all of `bytes` to `to`, whose writes return within a tick: gives up when `stop`
/// is set or after [`WRITE_STALL`] without progress.
fn write_all(to: &mut impl Write, mut bytes: &[u8], stop: &AtomicBool) -> Result<(), End> {
    let mut since = Instant::now();
    while !bytes.is_empty() {
        match to.write(bytes) {
            Ok(0) => return Err(End::WriteFailed(io::ErrorKind::WriteZero.into())),
            Ok(n) => {
                bytes = bytes.get(n..).unwrap_or_default();
                since = Instant::now();
            }
            Err(e) if is_transient(&e) => {
                if stop.load(Ordering::SeqCst) {
                    return Err(End::Stopped);
                }
                if since.elapsed() >= WRITE_STALL {
                    let stalled = io::Error::new(io::ErrorKind::TimedOut, "it stopped reading");
                    return Err(End::WriteFailed(stalled));
                }
            }
            Err(e) => return Err(End::WriteFailed(e)),
        }
    }
    match to.flush() {
        Err(e) if !is_transient(&e) => Err(End::WriteFailed(e)),
        _ => Ok(()),
    }
}
