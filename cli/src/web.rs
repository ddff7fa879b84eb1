//! `wirecall web`: one HTTP/1.1 server for the browser demo. `GET /ws` is a WebSocket
//! carrying the wirecall byte stream, to the demo service in this process or, with
//! `--to URL`, bridged to a link of its own to URL (`ws_bridge.rs`); every other `GET` is a
//! static file from the web root (`files.rs`): `/` is its `demo/index.html`.
//!
//! The "demo page is at" line comes only once the server listens; a root without the page
//! or the built package fails before (exit 2), as does an address it cannot listen on
//! (exit 4). One request per connection; connections are capped like `serve`'s (503).
//! The WebSocket takes pages of this server only: a request whose `Origin` is another
//! site's is refused (403), so that a page from elsewhere cannot reach the link.

use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;

use wirecall_adapters::host::{Capacity, LinkUrl, ServeOptions};

use crate::failure::{fail, Exit};
use crate::http::{self, Head};
use crate::{files, listen, serve, ws, ws_bridge};

const COMMAND: &str = "wirecall web";

/// The root when neither `--root` nor `WIRECALL_WEB_ROOT` gives one: `js/` of the source
/// tree this command was built from.
const DEFAULT_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../js");

/// The path of the WebSocket.
const WS_PATH: &str = "/ws";

/// What `wirecall web` was asked for.
pub(crate) struct WebOptions {
    /// HOST:PORT to listen on.
    pub(crate) listen: String,
    /// The link each WebSocket is bridged to; the demo service if none.
    pub(crate) to: Option<LinkUrl>,
    /// The web root, if given on the command line.
    pub(crate) root: Option<PathBuf>,
    /// Connections served at once.
    pub(crate) max_connections: usize,
    /// The demo service's frame size and calls in flight.
    pub(crate) capacity: Capacity,
}

/// What every connection needs.
struct Site {
    root: PathBuf,
    to: Option<LinkUrl>,
    options: ServeOptions,
}

/// Runs `wirecall web`; returns the exit code if it cannot start (it serves until stopped).
pub(crate) fn run(web: WebOptions) -> i32 {
    let root = web
        .root
        .or_else(|| std::env::var_os("WIRECALL_WEB_ROOT").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT));
    let root = match files::check_root(&root) {
        Ok(root) => root,
        Err(why) => return fail(COMMAND, Exit::Usage, why),
    };
    if let Some(url @ LinkUrl::Stdio) = &web.to {
        let why = format!(
            "cannot bridge to {url}: give a link to a device (tcp://, unix://, serial://, exec:)"
        );
        return fail(COMMAND, Exit::Usage, why);
    }
    let listener = match std::net::TcpListener::bind(&web.listen) {
        Ok(l) => l,
        Err(e) => {
            let why = format!(
                "cannot listen on tcp {}: {}",
                web.listen,
                crate::links::cause(&e)
            );
            return fail(COMMAND, Exit::Link, why);
        }
    };
    let local = listener
        .local_addr()
        .map_or(web.listen.clone(), |a| a.to_string());
    // The page's line last: a caller may stop reading this process's stderr after it.
    match &web.to {
        Some(url) => eprintln!("wirecall: each WebSocket on {WS_PATH} is bridged to {url}"),
        None => eprintln!("wirecall: each WebSocket on {WS_PATH} is a session of the demo service"),
    }
    eprintln!("wirecall: the demo page is at http://{local}/");
    let site = Arc::new(Site {
        root,
        to: web.to,
        options: serve::options(web.max_connections, web.capacity),
    });
    listen::accept_loop(listener, web.max_connections, move |stream| {
        site.connection(stream)
    })
}

impl Site {
    /// Serves one connection: its one request.
    fn connection(&self, mut stream: TcpStream) {
        let (head, early) = match http::read_head(&mut stream) {
            Ok(read) => read,
            Err(e) => {
                http::answer_bad_head(&mut stream, &e);
                return http::finish(&mut stream);
            }
        };
        if head.path() != WS_PATH {
            files::answer(&mut stream, &head, &self.root);
            return http::finish(&mut stream);
        }
        if let Some(why) = foreign_origin(&head) {
            http::respond_text(&mut stream, 403, &why, &[]);
            return http::finish(&mut stream);
        }
        let Some(ws) = ws::accept(stream, &head, &early) else {
            return;
        };
        match &self.to {
            None => serve::ws_session(ws, self.options),
            Some(url) => ws_bridge::run(ws, url),
        }
    }
}

/// Why a WebSocket request comes from another site's page, if it does: its `Origin` (a
/// browser always sends one) is not this server's own `http://HOST`, or `HOST` is a name
/// other than `localhost` (an address literal is required: a page of `attacker.example`
/// whose name an attacker re-points at 127.0.0.1, DNS rebinding, sends a matching Host and
/// Origin of its own name). Programs that send no `Origin` are let in.
fn foreign_origin(head: &Head) -> Option<String> {
    let origin = head.header("Origin")?;
    let host = head.header("Host");
    let own = host.map(|host| format!("http://{host}"));
    if own
        .as_deref()
        .is_some_and(|own| origin.eq_ignore_ascii_case(own))
        && host.is_some_and(addressed_by_literal)
    {
        return None;
    }
    Some(format!(
        "a page from {origin} may not use this server's WebSocket: only the pages it serves \
         may, opened by address or as localhost (use `wirecall serve --ws` for a WebSocket \
         that any page may reach)\n"
    ))
}

/// Whether a `Host` header names the server by an IP address or as `localhost`, a name no
/// DNS answer can re-point, with or without a port.
fn addressed_by_literal(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        // [v6]:port or [v6]
        Some(rest) => {
            return rest
                .split(']')
                .next()
                .is_some_and(|v6| v6.parse::<std::net::Ipv6Addr>().is_ok())
        }
        None => host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                name
            } else {
                host
            }
        }),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::Ipv4Addr>().is_ok()
}
