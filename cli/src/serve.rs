//! `wirecall serve`: the demo service on a real link.
//!
//! The "serving ..." line comes only once the service is really up (listening, or the port
//! open); any failure before that is reported instead of it, and exits 4. `--ws` serves
//! WebSocket connections (`ws.rs`), each a session of its own.

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

use wirecall::Config;
use wirecall_adapters::host::{self, Capacity, Handler, Link, LinkUrl, ServeOptions};
use wirecall_tests::demo::demo;

use crate::failure::{fail, Exit};
use crate::links::{self, cause};
use crate::{http, listen, ws, ServeLink};

const COMMAND: &str = "wirecall serve";

fn handler() -> Box<dyn Handler> {
    wirecall_tests::demo::host_handler()
}

fn config() -> Config {
    // A host's stream window: 64 items in flight keep a fast link busy (Config docs).
    Config::default()
        .with_manifest(&demo::MANIFEST)
        .with_stream_window(64)
}

pub(crate) fn run(link: ServeLink, baud: u32, max_connections: usize, capacity: Capacity) -> i32 {
    let options = options(max_connections, capacity);
    if let Some(addr) = &link.ws {
        return serve_ws(addr, options);
    }
    match links::serve_url(&link, baud) {
        LinkUrl::Tcp(addr) => {
            let listener = match std::net::TcpListener::bind(&addr) {
                Ok(l) => l,
                Err(e) => return cannot_listen(&format!("tcp {addr}"), &e),
            };
            let local = listener.local_addr().map_or(addr, |a| a.to_string());
            match host::serve_tcp(listener, handler, options) {
                Ok(server) => {
                    eprintln!("wirecall: serving the demo service on tcp {local}");
                    park_forever(server)
                }
                Err(e) => cannot_listen(&format!("tcp {local}"), &e),
            }
        }
        LinkUrl::Unix(path) => {
            let what = format!("unix socket {}", path.display());
            if let Err(e) = make_way(&path) {
                return fail(COMMAND, Exit::Link, format!("cannot listen on {what}: {e}"));
            }
            let served =
                UnixListener::bind(&path).and_then(|l| host::serve_unix(l, handler, options));
            match served {
                Ok(server) => {
                    eprintln!(
                        "wirecall: serving the demo service on unix {}",
                        path.display()
                    );
                    park_forever(server)
                }
                Err(e) => cannot_listen(&what, &e),
            }
        }
        LinkUrl::Stdio => {
            host::serve_link(Link::stdio(), handler(), options);
            0
        }
        url @ LinkUrl::Serial { .. } => match links::open_url(&url) {
            Ok(port) => {
                if let LinkUrl::Serial { path, baud } = &url {
                    eprintln!("wirecall: serving the demo service on {path} at {baud} baud");
                }
                // A serial line has no connection: one session after another on the port.
                host::serve_port(port, handler(), options);
                0
            }
            Err(e) => fail(COMMAND, e.exit(), e),
        },
        url @ LinkUrl::Exec(_) => fail(
            COMMAND,
            Exit::Usage,
            format!("cannot serve on {url}: a command is something to call, not to listen on"),
        ),
    }
}

/// Threads each WebSocket session may lend to handlers that take long. Each is a
/// `serve_link` with a runtime of its own, so this is per connection, where the TCP and
/// Unix servers' 64 is for all their connections together.
const WS_LENT_THREADS: usize = 8;

/// `serve --ws ADDR`: every WebSocket connection, on any path, a session of the demo
/// service; at most `options.max_connections` at once (503 past that).
fn serve_ws(addr: &str, options: ServeOptions) -> i32 {
    let listener = match std::net::TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => return cannot_listen(&format!("tcp {addr}"), &e),
    };
    let local = listener
        .local_addr()
        .map_or(addr.to_string(), |a| a.to_string());
    eprintln!("wirecall: serving the demo service on ws://{local}/");
    listen::accept_loop(
        listener,
        options.max_connections,
        move |mut stream| match http::read_head(&mut stream) {
            Ok((head, early)) => {
                if let Some(ws) = ws::accept(stream, &head, &early) {
                    ws_session(ws, options);
                }
            }
            Err(e) => {
                http::answer_bad_head(&mut stream, &e);
                http::finish(&mut stream);
            }
        },
    )
}

/// A WebSocket connection as a session of the demo service, until it ends.
pub(crate) fn ws_session(ws: ws::WsLink, options: ServeOptions) {
    let options = ServeOptions {
        max_lent_threads: WS_LENT_THREADS,
        ..options
    };
    host::serve_link(ws.into_link(), handler(), options);
}

/// The options of the demo service's sessions, with `capacity`.
pub(crate) fn options(max_connections: usize, capacity: Capacity) -> ServeOptions {
    ServeOptions {
        max_connections,
        capacity,
        ..ServeOptions::from(config())
    }
}

fn cannot_listen(what: &str, e: &io::Error) -> i32 {
    fail(
        COMMAND,
        Exit::Link,
        format!("cannot listen on {what}: {}", cause(e)),
    )
}

/// Makes way for a new socket at `path`: nothing there is fine, and a socket nobody
/// listens on (left behind by a server that stopped) is removed. Anything else stays and
/// is an error: a file or directory, a running server's socket, a socket that cannot be
/// checked.
fn make_way(path: &Path) -> Result<(), String> {
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(cause(&e)),
        Ok(meta) => meta,
    };
    if !meta.file_type().is_socket() {
        return Err(format!(
            "{} exists and is not a socket (it is left alone)",
            path.display()
        ));
    }
    // Connecting is how to tell: a live socket accepts, a stale one refuses.
    match UnixStream::connect(path) {
        Ok(_) => Err("another server is listening on it".to_string()),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path)
            .map_err(|e| format!("cannot remove the stale socket there: {}", cause(&e))),
        Err(e) => Err(format!(
            "a socket is there and cannot be checked ({}); it is left alone",
            cause(&e)
        )),
    }
}

/// Serves until the process is stopped (the server lives as long as the process).
fn park_forever(server: host::ServerHandle) -> i32 {
    let _server = server;
    loop {
        std::thread::park();
    }
}
