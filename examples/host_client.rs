//! A host program that calls a `tally` server through the client `service!` generated.
//!
//! ```sh
//! # Stand-alone: it starts a server of its own in this process, then calls it.
//! cargo run -p wirecall-examples --example host_client
//! # Against a server named by a link URL (tcp://HOST:PORT, unix:///path, serial:///dev/ttyUSB0?baud=115200, ...):
//! cargo run -p wirecall-examples --example shared_state_server -- --listen 127.0.0.1:7100 &
//! cargo run -p wirecall-examples --example host_client -- tcp://127.0.0.1:7100
//! ```
//!
//! It exits 1 with a message if the link cannot be opened or a call fails, for example
//! when the server serves another service: a typed client checks the server's schema hash
//! and sends nothing to a server of another service.

use std::error::Error;
use std::net::TcpListener;
use std::process::ExitCode;

use wirecall_adapters::host::{serve_tcp, Client, ClientOptions, LinkUrl, ServeOptions};
use wirecall_examples::{tally, Tally};

fn main() -> ExitCode {
    // Errors printed with `Display` (a sentence for a user), not `Debug`.
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("host_client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    // The server to call: the URL given, or one started here.
    let (url, own_server) = match std::env::args().nth(1) {
        Some(arg) => (arg.parse::<LinkUrl>()?, None),
        None => {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let url = LinkUrl::Tcp(listener.local_addr()?.to_string());
            let server = serve_tcp(
                listener,
                tally::serve(Tally::default()),
                ServeOptions::default(),
            )?;
            (url, Some(server))
        }
    };

    // Opening the link here reports a bad URL or a server that is not there at once, with
    // what was tried ("cannot connect to tcp 127.0.0.1:7100: connection refused").
    // `Client::over` is for a short-lived program: one link, no reconnection;
    // `Client::connect` reconnects with backoff for a long-lived one.
    let raw = Client::over(url.open()?, ClientOptions::default())?;
    // The typed client: one method per procedure, arguments and results as declared.
    let client = tally::Client::new(raw);
    println!("connected to {url}");

    println!("add(apples, 3) = {}", client.add("apples", 3)?);
    println!("add(pears, 5) = {}", client.add("pears", 5)?);
    println!("add(apples, 2) = {}", client.add("apples", 2)?);
    println!("get(plums) = {}", client.get("plums")?);
    // The server's error comes back as a `ClientError` (here: an empty name).
    match client.add("", 1) {
        Err(e) => println!("add(\"\", 1) failed as it should: {e}"),
        Ok(v) => return Err(format!("add(\"\", 1) was accepted: {v}").into()),
    }

    // A server stream is an iterator; each item taken grants the server credit for one
    // more, so a slow client is never flooded.
    println!("list():");
    for entry in client.list()? {
        let (name, value) = entry?;
        println!("  {name} = {value}");
    }
    println!("calls() = {}", client.calls()?);

    drop(client); // closes the link (the server is told)
    if let Some(server) = own_server {
        server.stop();
    }
    Ok(())
}
