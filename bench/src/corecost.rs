//! The core's cost per byte of input, for callgrind.
//!
//! `wirecall-bench core-cost <mcu|host> <add|echo|replies> <chunk>` feeds an endpoint a
//! stream of frames from its peer, `chunk` bytes per `handle_input` call (1: byte at a
//! time), answering what needs an answer between calls. Only [`measured_handle_input`] is measured:
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect='*measured_handle_input*' \
//!     target/release/wirecall-bench core-cost host add 4096
//! ```
//!
//! prints the instructions inside `feed` (callgrind's total) and the bytes fed, so their
//! ratio is the instructions per byte of `handle_input`, whatever else the program does.
//! `bench/corecost.sh` runs every combination and prints the table of docs/BENCHMARKS.md.

use wirecall::{Config, Endpoint, Event, Instant};

/// The microcontroller defaults.
type Mcu = Endpoint<256, 4, 4, 576>;
/// The host runtime's default endpoint.
type Host = wirecall_adapters::host::HostEndpoint;

/// The measured function: one `handle_input` call. Not inlined, so callgrind can toggle
/// collection on it alone.
#[inline(never)]
fn measured_handle_input<
    const F: usize,
    const I: usize,
    const O: usize,
    const T: usize,
    const H: usize,
>(
    ep: &mut Endpoint<F, I, O, T, H>,
    now: Instant,
    bytes: &[u8],
) -> usize {
    ep.handle_input(now, bytes)
}

/// Runs one combination until at least `bytes` were fed; returns the bytes fed.
pub(crate) fn run(size: &str, workload: &str, chunk: usize, bytes: u64) -> Result<u64, String> {
    // `echo:N` is an echo request of N argument bytes.
    let (workload, echo_len) = match workload.split_once(':') {
        Some(("echo", n)) => ("echo", n.parse::<usize>().ok()),
        _ => (workload, None),
    };
    if !["add", "echo", "replies"].contains(&workload) {
        return Err(format!(
            "unknown workload {workload:?} (add, echo, echo:N or replies)"
        ));
    }
    let chunk = chunk.max(1);
    match size {
        "mcu" => Ok(drive(
            Box::new(Mcu::new(Instant::ZERO, config())),
            workload,
            chunk,
            bytes,
            echo_len.unwrap_or(200).min(200),
        )),
        "host" => Ok(drive(
            Box::new(Host::new(Instant::ZERO, config())),
            workload,
            chunk,
            bytes,
            echo_len.unwrap_or(1024).min(4000),
        )),
        other => Err(format!("unknown size {other:?} (mcu or host)")),
    }
}

fn config() -> Config {
    Config::default()
}

/// One frame on the wire: delimiter, COBS(body ‖ CRC-32C), delimiter, written out plainly
/// (this makes the input; it is not the measured path).
fn frame(body: &[u8]) -> Vec<u8> {
    // CRC-32C, bitwise (this is test input, not the measured path).
    let mut crc = 0xFFFF_FFFFu32;
    for &b in body {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ if crc & 1 != 0 { 0x82F6_3B78 } else { 0 };
        }
    }
    let mut data = body.to_vec();
    data.extend_from_slice(&(crc ^ 0xFFFF_FFFF).to_le_bytes());
    let mut out = vec![0u8];
    let mut block = Vec::new();
    for (i, &b) in data.iter().enumerate() {
        if b == 0 {
            out.push(block.len() as u8 + 1);
            out.append(&mut block);
        } else {
            block.push(b);
            if block.len() == 254 {
                out.push(0xff);
                out.append(&mut block);
                if i == data.len() - 1 {
                    out.push(0);
                    return out;
                }
            }
        }
    }
    out.push(block.len() as u8 + 1);
    out.append(&mut block);
    out.push(0);
    out
}

/// The object-safe face of an endpoint this measurement needs.
trait Fed {
    fn feed(&mut self, now: Instant, bytes: &[u8]) -> usize;
    fn ep_poll_transmit(&mut self, buf: &mut [u8]) -> usize;
    /// Answers requests, collects replies; returns the number of events.
    fn drain_events(&mut self) -> usize;
    fn call(&mut self, now: Instant) -> Option<u32>;
    fn handle_timeout(&mut self, now: Instant);
}

impl<const F: usize, const I: usize, const O: usize, const T: usize, const H: usize> Fed
    for Endpoint<F, I, O, T, H>
{
    fn feed(&mut self, now: Instant, bytes: &[u8]) -> usize {
        measured_handle_input(self, now, bytes)
    }
    fn ep_poll_transmit(&mut self, buf: &mut [u8]) -> usize {
        self.poll_transmit(buf)
    }
    fn drain_events(&mut self) -> usize {
        let mut n = 0;
        while let Some(ev) = self.poll_event() {
            n += 1;
            if let Event::Request { id, args, .. } = ev {
                let len = args.len().min(8);
                let mut echo = [0u8; 8];
                echo[..len].copy_from_slice(&args[..len]);
                let _ = self.respond(id, &echo[..len]);
            }
        }
        n
    }
    fn call(&mut self, now: Instant) -> Option<u32> {
        self.call(now, 0, &[2u8, 4][..]).ok().map(|id| id.wire())
    }
    fn handle_timeout(&mut self, now: Instant) {
        Endpoint::handle_timeout(self, now)
    }
}

fn drive(mut ep: Box<dyn Fed>, workload: &str, chunk: usize, target: u64, echo: usize) -> u64 {
    let now = Instant::ZERO;
    let mut sink = [0u8; 16384];
    // Handshake: the peer's Hello (features 0, max_frame 4096, 32 in, 32 out, keepalive 1 s).
    let mut hello = vec![0x01, 1, 1, 0];
    for v in [4096u32, 32, 32, 1000] {
        push_varint(&mut hello, v);
    }
    hello.extend_from_slice(&0u32.to_le_bytes());
    let mut rest = &frame(&hello)[..];
    while !rest.is_empty() {
        let n = ep.feed(now, rest);
        rest = &rest[n..];
        ep.drain_events();
    }
    while ep.ep_poll_transmit(&mut sink) > 0 {}
    let mut fed = 0u64;
    let mut round = 0u32;
    while fed < target {
        // One batch of frames from the peer, as one byte stream.
        let mut stream = Vec::new();
        let mut ids = Vec::new();
        match workload {
            "replies" => {
                while let Some(id) = ep.call(now) {
                    ids.push(id);
                }
                while ep.ep_poll_transmit(&mut sink) > 0 {}
                for id in &ids {
                    let mut body = vec![0x03];
                    push_varint(&mut body, *id);
                    body.extend_from_slice(&[0xd4, 0x68]); // zigzag(6678): a 2-byte result
                    stream.extend(frame(&body));
                }
            }
            _ => {
                for k in 0..4u32 {
                    let mut body = vec![0x02];
                    push_varint(&mut body, (round * 4 + k) % 128);
                    body.push(if workload == "echo" { 1 } else { 0 });
                    if workload == "echo" {
                        push_varint(&mut body, echo as u32);
                        body.extend((0..echo).map(|i| (i % 251) as u8));
                    } else {
                        body.extend_from_slice(&[0xd0, 0x0f, 0xb8, 0x58]); // (1000, 5678)
                    }
                    stream.extend(frame(&body));
                }
            }
        }
        let mut rest = &stream[..];
        while !rest.is_empty() {
            let take = rest.len().min(chunk);
            let n = ep.feed(now, &rest[..take]);
            fed += n as u64;
            rest = &rest[n..];
            ep.drain_events();
            while ep.ep_poll_transmit(&mut sink) > 0 {}
        }
        ep.handle_timeout(now);
        round = round.wrapping_add(1);
    }
    fed
}

fn push_varint(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}
