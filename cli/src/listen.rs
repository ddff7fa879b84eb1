//! The accept loop of the command's HTTP servers (`serve --ws`, `web`): a thread per
//! connection, at most a given number at once; one over the cap is answered
//! `503 Service Unavailable` with the reason, and closed.

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::http;

/// Releases a connection's place when its thread ends, however it ends.
struct Place(Arc<AtomicUsize>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Accepts connections on `listener` forever, each served by `serve` on a thread of its
/// own, with reads that time out within a tick. Past `max_connections` served at once, a
/// connection is refused with 503.
pub(crate) fn accept_loop(
    listener: TcpListener,
    max_connections: usize,
    serve: impl Fn(TcpStream) + Send + Sync + 'static,
) -> ! {
    let serve = Arc::new(serve);
    let live = Arc::new(AtomicUsize::new(0));
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of descriptors, or a connection reset before it was taken: pause a
                // little instead of spinning.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if stream.set_read_timeout(Some(crate::ws::TICK)).is_err()
            || stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
        {
            continue;
        }
        if live.fetch_add(1, Ordering::SeqCst) >= max_connections {
            live.fetch_sub(1, Ordering::SeqCst);
            refuse(stream, max_connections);
            continue;
        }
        let place = Place(live.clone());
        let serve = serve.clone();
        let spawned = std::thread::Builder::new()
            .name("wirecall-http".into())
            .spawn(move || {
                let _place = place;
                serve(stream);
            });
        // Without a thread the connection (moved into the closure) is simply closed, and
        // its place given back with it.
        drop(spawned);
    }
}

/// How long a write of an HTTP answer may stall before the connection is dropped.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Tells a connection over the cap why it is closed. Its request head is read first (for
/// a moment at most, on the accept thread): closing with unread input sends a reset,
/// which can destroy the answer on its way.
fn refuse(mut stream: TcpStream, max_connections: usize) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let _ = stream.set_write_timeout(Some(Duration::from_millis(50)));
    let mut head = [0u8; http::HEAD_LIMIT];
    let mut seen = 0;
    for _ in 0..4 {
        match std::io::Read::read(&mut stream, head.get_mut(seen..).unwrap_or_default()) {
            Ok(n) if n > 0 => seen += n,
            _ => break,
        }
        if head
            .get(..seen)
            .is_some_and(|h| h.windows(4).any(|w| w == b"\r\n\r\n"))
        {
            break;
        }
    }
    let text = format!(
        "wirecall: this server is at its connection limit ({max_connections} at once); \
         try again later\n"
    );
    http::respond_text(&mut stream, 503, &text, &[("Retry-After", "1")]);
    http::finish(&mut stream);
}
