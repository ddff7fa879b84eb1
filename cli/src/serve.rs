//! `wirecall serve`: the demo service on a real link.

use wirecall::{Config, WireError};
use wirecall_adapters::host::{self, Handler, Link};
use wirecall_tests::demo::{demo, DemoDevice};

use crate::ServeLink;

/// The demo service as a host handler.
fn handler() -> Box<dyn Handler> {
    let mut device = DemoDevice::default();
    Box::new(move |procedure: u32, args: &[u8]| {
        let mut out = vec![0u8; 4096];
        match demo::dispatch(&mut device, procedure, args, &mut out) {
            Ok(n) => {
                out.truncate(n);
                Ok(out)
            }
            Err(e) => Err((e, detail(e, procedure))),
        }
    })
}

/// A detail text that helps the caller: what was wrong, and what is there.
fn detail(e: WireError, procedure: u32) -> String {
    let info = demo::PROCEDURES.iter().find(|p| p.id == procedure);
    match (e, info) {
        (WireError::UnknownProcedure, _) => {
            let names: Vec<_> = demo::PROCEDURES
                .iter()
                .map(|p| format!("{} = {}", p.id, p.name))
                .collect();
            format!(
                "no procedure {procedure}; this service has {}",
                names.join(", ")
            )
        }
        (WireError::BadArguments, Some(p)) => format!("{} expects ({})", p.name, p.params),
        _ => String::new(),
    }
}

fn config() -> Config {
    Config::default().with_schema(demo::SCHEMA_HASH)
}

pub(crate) fn run(link: ServeLink) -> i32 {
    let result = if let Some(addr) = link.tcp {
        std::net::TcpListener::bind(&addr).and_then(|l| {
            eprintln!(
                "wirecall: serving the demo service on tcp {}",
                l.local_addr()?
            );
            let server = host::serve_tcp(l, handler, config())?;
            park_forever(server)
        })
    } else if let Some(path) = link.unix {
        let _ = std::fs::remove_file(&path);
        std::os::unix::net::UnixListener::bind(&path).and_then(|l| {
            eprintln!(
                "wirecall: serving the demo service on unix {}",
                path.display()
            );
            let server = host::serve_unix(l, handler, config())?;
            park_forever(server)
        })
    } else if link.stdio {
        host::serve_link(Link::stdio(), handler(), config());
        Ok(())
    } else if let Some(port) = link.serial {
        eprintln!(
            "wirecall: serving the demo service on {port} at {} baud",
            link.baud
        );
        // A serial line has no connection: when a session ends (the host went away), serve
        // the next one on the same port.
        loop {
            match Link::serial(&port, link.baud) {
                Ok(l) => host::serve_link(l, handler(), config()),
                Err(e) => break Err(e),
            }
        }
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
