//! `wirecall bridge --listen URL --to URL [--upstream URL]`: the call-level bridge of the
//! host runtime (`wirecall_adapters::host::Bridge`) on a listener. Every client that
//! connects to `--listen` reaches the device at `--to` as if it were connected to it
//! directly (the device's manifest and schema), its calls counted against the device's
//! in-flight limit (excess calls are answered `Busy`, never queued). The device's own calls
//! go to `--upstream`, if given.

use std::net::TcpListener;
use std::os::unix::net::UnixListener;

use wirecall_adapters::host::{Bridge, BridgeOptions, Capacity, Link, LinkUrl};

use crate::failure::{fail, Exit};

const COMMAND: &str = "wirecall bridge";

/// The clients' side of a bridge, as `bridge` and `guest` are asked for it.
pub(crate) struct Front {
    pub(crate) listen: LinkUrl,
    pub(crate) upstream: Option<LinkUrl>,
    pub(crate) max_connections: usize,
    pub(crate) capacity: Capacity,
}

/// Runs the bridge to the device at `to` until the process is stopped; returns the exit
/// code if it cannot start.
pub(crate) fn run(to: LinkUrl, front: Front) -> i32 {
    for url in std::iter::once(&to).chain(&front.upstream) {
        if matches!(url, LinkUrl::Stdio) {
            let why =
                format!("cannot bridge to {url}: give a link (tcp://, unix://, serial://, exec:)");
            return fail(COMMAND, Exit::Usage, why);
        }
    }
    let device = Device {
        shown: to.to_string(),
        open: Box::new(move || to.open()),
    };
    serve(COMMAND, front, device)
}

/// What the bridge's back side is: how it is shown, and how it is opened (again after it
/// dropped).
pub(crate) struct Device {
    /// As the listening line names it (`serial:///dev/ttyUSB0?baud=115200`, `guest:NAME`).
    pub(crate) shown: String,
    /// Opens the device's link.
    pub(crate) open: Box<dyn FnMut() -> std::io::Result<Link> + Send>,
}

/// Listens on `front.listen` and bridges every client that connects to `device` (its own
/// calls to `front.upstream`), until the process is stopped; returns the exit code if it cannot start.
pub(crate) fn serve(command: &str, front: Front, device: Device) -> i32 {
    let Front {
        listen,
        upstream,
        max_connections,
        capacity,
    } = front;
    // Listen first: a port in use is reported before anything is opened.
    let (listener, shown) = match &listen {
        LinkUrl::Tcp(addr) => match TcpListener::bind(addr) {
            Ok(l) => {
                let shown = l.local_addr().map_or(addr.clone(), |a| a.to_string());
                (Listener::Tcp(l), format!("tcp {shown}"))
            }
            Err(e) => {
                let why = format!("cannot listen on tcp {addr}: {}", crate::links::cause(&e));
                return fail(command, Exit::Link, why);
            }
        },
        LinkUrl::Unix(path) => match UnixListener::bind(path) {
            Ok(l) => (Listener::Unix(l), format!("unix {}", path.display())),
            Err(e) => {
                let why = format!(
                    "cannot listen on unix {}: {}",
                    path.display(),
                    crate::links::cause(&e)
                );
                return fail(command, Exit::Link, why);
            }
        },
        other => {
            let why = format!("--listen takes tcp://HOST:PORT or unix:///PATH, not {other}");
            return fail(command, Exit::Usage, why);
        }
    };
    let options = BridgeOptions {
        max_connections,
        capacity,
        ..BridgeOptions::default()
    };
    let upstream_shown = upstream.as_ref().map(ToString::to_string);
    let upstream = upstream
        .map(|url| Box::new(move || url.open()) as Box<dyn FnMut() -> std::io::Result<_> + Send>);
    let Device { shown: to, open } = device;
    let bridge = match Bridge::start(open, upstream, options) {
        Ok(b) => b,
        Err(e) => return fail(command, Exit::Usage, e),
    };
    let served = match listener {
        Listener::Tcp(l) => bridge.serve_tcp(l),
        Listener::Unix(l) => bridge.serve_unix(l),
    };
    if let Err(e) = served {
        return fail(
            command,
            Exit::Link,
            format!("cannot accept on {shown}: {e}"),
        );
    }
    if !bridge.stats().back_connected {
        eprintln!(
            "wirecall: {to} is not answering yet; calls through the bridge fail with NoSession until it does"
        );
    }
    if let Some(up) = &upstream_shown {
        eprintln!("wirecall: the device's own calls go to {up}");
    }
    // The listening line last: a caller may stop reading this process's stderr after it.
    eprintln!("wirecall: bridging {shown} to {to}");
    loop {
        std::thread::park(); // the bridge's threads serve until the process is stopped
    }
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}
