//! `wirecall-bench stream-tcp`: a server stream's payload throughput over loopback TCP, as
//! a share of a raw socket moving the same payload bytes in the same round.
//!
//! Each round runs both, interleaved: a raw TCP server that writes `items` length-prefixed
//! payloads of `size` bytes (a `u32` length, then the bytes) and a client that reads them
//! all; then a wirecall server (`serve_tcp`) whose handler streams the same items to a
//! `Client` iterating over `open_stream`. Both servers run in this process on their own
//! threads, on 127.0.0.1. Each round first runs both briefly to warm up. Prints one
//! `STREAM` line per round and a median of the ratios.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use wirecall::{Config, StreamMode, WireError};
use wirecall_adapters::host::{self, Client, ClientOptions, Handler, Link, Request};

/// Options of `stream-tcp`.
pub(crate) struct StreamOpts {
    pub(crate) rounds: usize,
    pub(crate) items: usize,
    pub(crate) size: usize,
    pub(crate) window: u32,
}

/// Streams `items` items of `size` bytes on any request.
struct Producer {
    items: usize,
    size: usize,
}

impl Handler for Producer {
    fn handle(&self, _: u32, _: &[u8]) -> Result<Vec<u8>, (WireError, String)> {
        Err((WireError::UnknownProcedure, String::new()))
    }
    fn serve(&self, r: &mut Request<'_>) -> Result<Vec<u8>, (WireError, String)> {
        let item = vec![0x5a; self.size];
        for _ in 0..self.items {
            r.feed(&item)
                .map_err(|e| (WireError::Cancelled, e.to_string()))?;
        }
        Ok(Vec::new())
    }
}

fn raw_round(items: usize, size: usize) -> std::io::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        let mut buf = Vec::with_capacity(4 + size);
        buf.extend_from_slice(&(size as u32).to_le_bytes());
        buf.resize(4 + size, 0x5a);
        for _ in 0..items {
            s.write_all(&buf)?;
        }
        Ok(())
    });
    let mut c = TcpStream::connect(addr)?;
    c.set_nodelay(true)?;
    let start = Instant::now();
    let mut item = vec![0u8; size];
    let mut len = [0u8; 4];
    for _ in 0..items {
        c.read_exact(&mut len)?;
        c.read_exact(&mut item)?;
    }
    let secs = start.elapsed().as_secs_f64();
    server
        .join()
        .map_err(|_| std::io::Error::other("raw server panicked"))??;
    Ok((items * size) as f64 / secs)
}

fn wirecall_round(items: usize, size: usize, window: u32) -> std::io::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let config = Config::default().with_stream_window(window);
    let server = host::serve_tcp(
        listener,
        move || Box::new(Producer { items, size }) as Box<dyn Handler>,
        config,
    )?;
    let client = Client::connect(
        move || Link::tcp(addr),
        ClientOptions {
            config,
            ..ClientOptions::default()
        },
    )?;
    if !client.wait_connected(std::time::Duration::from_secs(5)) {
        return Err(std::io::Error::other("no handshake"));
    }
    let start = Instant::now();
    let mut stream = client
        .open_stream(1, &[], StreamMode::ServerStream, None)
        .map_err(std::io::Error::other)?;
    let mut got = 0usize;
    while let Some(item) = stream.next_item() {
        got += item.len();
    }
    let secs = start.elapsed().as_secs_f64();
    stream.finish().map_err(std::io::Error::other)?;
    if got != items * size {
        return Err(std::io::Error::other(format!(
            "got {got} bytes, not {}",
            items * size
        )));
    }
    drop(client);
    server.stop();
    Ok(got as f64 / secs)
}

/// Runs the rounds and prints them.
pub(crate) fn run(o: &StreamOpts) -> std::io::Result<()> {
    let mut ratios = Vec::new();
    println!("#\tround\titems\tsize\twindow\traw_MBps\twirecall_MBps\tratio");
    for round in 0..o.rounds {
        // A short run of each first (thread start-up, socket buffers, the CPU's clock
        // coming up), then the measured runs, alternating which goes first.
        raw_round(o.items / 10 + 1, o.size)?;
        wirecall_round(o.items / 10 + 1, o.size, o.window)?;
        let (raw, wc) = if round % 2 == 0 {
            let raw = raw_round(o.items, o.size)?;
            (raw, wirecall_round(o.items, o.size, o.window)?)
        } else {
            let wc = wirecall_round(o.items, o.size, o.window)?;
            (raw_round(o.items, o.size)?, wc)
        };
        ratios.push(wc / raw);
        println!(
            "STREAM\t{round}\t{}\t{}\t{}\t{:.1}\t{:.1}\t{:.2}",
            o.items,
            o.size,
            o.window,
            raw / 1e6,
            wc / 1e6,
            wc / raw
        );
    }
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    println!(
        "MEDIAN\titems {} size {} window {}\tx raw {median:.2} [{:.2}-{:.2}]",
        o.items,
        o.size,
        o.window,
        ratios[0],
        ratios[ratios.len() - 1]
    );
    Ok(())
}
