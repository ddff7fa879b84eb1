//! `wirecall serve`: the demo service on a real link.

use wirecall::Config;
use wirecall_adapters::host::{self, Capacity, Handler, Link, ServeOptions};
use wirecall_tests::demo::demo;

use crate::ServeLink;

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
    let options = ServeOptions {
        max_connections,
        capacity,
        ..ServeOptions::from(config())
    };
    let result = if let Some(addr) = link.tcp {
        std::net::TcpListener::bind(&addr).and_then(|l| {
            eprintln!(
                "wirecall: serving the demo service on tcp {}",
                l.local_addr()?
            );
            let server = host::serve_tcp(l, handler, options)?;
            park_forever(server)
        })
    } else if let Some(path) = link.unix {
        let _ = std::fs::remove_file(&path);
        std::os::unix::net::UnixListener::bind(&path).and_then(|l| {
            eprintln!(
                "wirecall: serving the demo service on unix {}",
                path.display()
            );
            let server = host::serve_unix(l, handler, options)?;
            park_forever(server)
        })
    } else if link.stdio {
        host::serve_link(Link::stdio(), handler(), options);
        Ok(())
    } else if let Some(port) = link.serial {
        eprintln!(
            "wirecall: serving the demo service on {port} at {} baud",
            baud
        );
        // A serial line has no connection: one session after another on the same port.
        Link::serial(&port, baud).map(|l| host::serve_port(l, handler(), options))
    } else {
        Ok(())
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("wirecall serve: {e}");
            4
        }
    }
}

/// Serves until the process is stopped (the server lives as long as the process).
fn park_forever(server: host::ServerHandle) -> std::io::Result<()> {
    let _server = server;
    loop {
        std::thread::park();
    }
}
