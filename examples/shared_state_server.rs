//! A server whose state every connection shares: the `tally` service's handler
//! ([`Tally`], in `src/lib.rs`) keeps its counters behind an `Arc`, and `serve_tcp` serves
//! that one handler to every connection, each with its own endpoint and reading thread.
//!
//! ```sh
//! # Stand-alone: starts, serves two clients on two threads, prints what they shared, stops.
//! cargo run -p wirecall-examples --example shared_state_server
//! # Serves until killed (port 0: any free port); the first line says where.
//! cargo run -p wirecall-examples --example shared_state_server -- --listen 127.0.0.1:7100
//! ```
//!
//! Call it with `host_client tcp://127.0.0.1:7100`, or with the command, which needs no
//! declaration: `wirecall list --tcp 127.0.0.1:7100`,
//! `wirecall call --tcp 127.0.0.1:7100 add '["apples", 3]'`.

use std::error::Error;
use std::net::TcpListener;
use std::process::ExitCode;

use wirecall_adapters::host::{serve_tcp, Client, ClientOptions, Link, ServeOptions};
use wirecall_examples::{tally, Tally};

/// Calls each demo client makes.
const ROUNDS: u64 = 100;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shared_state_server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Any error, from any thread.
type AnyError = Box<dyn Error + Send + Sync>;

fn run() -> Result<(), AnyError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let listen = match args.as_slice() {
        [] => None,
        [flag, addr] if flag == "--listen" => Some(addr.as_str()),
        _ => return Err("usage: shared_state_server [--listen HOST:PORT]".into()),
    };

    // The state lives in `tally`; `serve` gets a clone (a handle on the same counters),
    // so this program can still read them while the server runs.
    let tally = Tally::default();
    let listener = TcpListener::bind(listen.unwrap_or("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let options = ServeOptions {
        max_connections: 64, // the 65th connection is told Close(Busy) and closed
        ..ServeOptions::default()
    };
    let server = serve_tcp(listener, tally::serve(tally.clone()), options)?;
    // Only once it listens: a script that starts it may wait for this line.
    println!("listening on tcp://{addr}");

    if listen.is_some() {
        loop {
            std::thread::park(); // serves on its own threads until the process is killed
        }
    }

    // The demo: two clients on two threads, two connections, one set of counters.
    let workers: Vec<_> = ["alice", "bob"]
        .into_iter()
        .map(|who| {
            std::thread::spawn(move || -> Result<(), AnyError> {
                let raw = Client::connect(move || Link::tcp(addr), ClientOptions::default())?;
                let client = tally::Client::new(raw);
                for _ in 0..ROUNDS {
                    client.add("shared", 1)?; // both threads count here
                    client.add(who, 1)?; // and each one here
                }
                Ok(())
            })
        })
        .collect();
    for worker in workers {
        worker.join().map_err(|_| "a client thread panicked")??;
    }

    // What the server saw, read directly from the shared state...
    println!(
        "shared = {}, alice = {}, bob = {}, calls served = {}",
        tally.value("shared"),
        tally.value("alice"),
        tally.value("bob"),
        tally.calls()
    );
    // ...and through one more client.
    let client = tally::Client::new(Client::over(Link::tcp(addr)?, ClientOptions::default())?);
    let shared = client.get("shared")?;
    if shared != 2 * ROUNDS || tally.value("alice") != ROUNDS || tally.value("bob") != ROUNDS {
        return Err(format!("lost updates: shared = {shared}, expected {}", 2 * ROUNDS).into());
    }
    println!("every update of both connections counted once");
    drop(client);
    server.stop(); // closes every connection and joins the server's threads
    Ok(())
}
