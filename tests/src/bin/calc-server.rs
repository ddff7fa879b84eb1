//! Serves the `calc` test service on stdin and stdout: `calc-server` with the blocking
//! runtime, `calc-server tokio` with the async flavour (which serves plain calls only).
//! `calc-server tcp` serves it over loopback TCP with the blocking runtime at its default
//! capacity (at most 4 lent threads): it prints `listening ADDR` once it listens and serves
//! until its stdin closes, so it never outlives the test that started it; `calc-server tcp
//! demo` serves the demo service that way.

use std::io::{Read, Write};

use wirecall_adapters::host::{serve_link, serve_tcp, Link, ServeOptions};
use wirecall_tests::calc::{calc, Calc};
use wirecall_tests::demo::{demo, DemoHost};

fn main() -> std::io::Result<()> {
    let options = ServeOptions::default();
    match std::env::args().nth(1).as_deref() {
        Some("tokio") => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let stdio = tokio::io::join(tokio::io::stdin(), tokio::io::stdout());
                wirecall_adapters::host::tokio::serve(stdio, calc::serve(Calc::default()), options)
                    .await;
            });
        }
        Some("tcp") => {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            // Few lent threads: they are shared by every connection, and the memory test
            // that uses this server counts them as a fixed cost.
            let options = ServeOptions {
                max_lent_threads: 4,
                ..options
            };
            // `calc-server tcp demo`: the demo service (with its handles) instead.
            let server = if std::env::args().nth(2).as_deref() == Some("demo") {
                serve_tcp(listener, demo::serve(DemoHost), options)?
            } else {
                serve_tcp(listener, calc::serve(Calc::default()), options)?
            };
            let mut out = std::io::stdout();
            writeln!(out, "listening {addr}")?;
            out.flush()?;
            // Until the parent closes our stdin (or is gone).
            let mut sink = [0u8; 64];
            while std::io::stdin().read(&mut sink).is_ok_and(|n| n > 0) {}
            server.stop();
        }
        _ => serve_link(Link::stdio(), calc::serve(Calc::default()), options),
    }
    Ok(())
}
