//! Drives one endpoint with an arbitrary script of peer bytes, time steps and local commands,
//! and checks what must hold after every step: no panic, tables within their capacities, and
//! no deadline left in the past after `handle_timeout` (which would make a driver spin).

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wirecall::{Config, Duration, Endpoint, Event, Instant, WireError};

#[derive(Arbitrary, Debug)]
enum Op {
    /// Bytes from the peer, in one `handle_input` call.
    Bytes(Vec<u8>),
    /// A complete valid frame from the peer with this body (framed here, so the fuzzer
    /// reaches the frame layer without having to guess CRCs).
    Frame(Vec<u8>),
    /// Time passes.
    Wait(u16),
    /// A local call.
    Call { procedure: u8, args: Vec<u8>, timeout_ms: Option<u16> },
    /// Answer the oldest held request.
    Respond(Vec<u8>),
    /// Refuse the oldest held request.
    Refuse(u8),
    /// Cancel the oldest call.
    Cancel,
    /// Close the endpoint.
    Close,
}

type Ep = Endpoint<256, 4, 4, 576>;

fn crc32c(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ if crc & 1 != 0 { 0x82F6_3B78 } else { 0 };
        }
    }
    !crc
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut data = body.to_vec();
    data.extend_from_slice(&crc32c(body).to_le_bytes());
    let mut out = vec![0u8, 0];
    let mut code_at = 1;
    let mut code = 1u8;
    for &b in &data {
        if b == 0 {
            out[code_at] = code;
            code_at = out.len();
            out.push(0);
            code = 1;
        } else {
            out.push(b);
            code += 1;
            if code == 0xff {
                out[code_at] = code;
                code_at = out.len();
                out.push(0);
                code = 1;
            }
        }
    }
    out[code_at] = code;
    out.push(0);
    out
}

struct Driver {
    ep: Ep,
    now: Instant,
    held: Vec<wirecall::RequestId>,
    calls: Vec<wirecall::CallId>,
}

impl Driver {
    fn drain(&mut self) {
        while let Some(ev) = self.ep.poll_event() {
            match ev {
                Event::Request { id, .. } => self.held.push(id),
                Event::RequestEnded { id, .. } => self.held.retain(|h| *h != id),
                Event::Reply { id, .. } | Event::CallFailed { id, .. } => self.calls.retain(|c| *c != id),
                _ => {}
            }
        }
        let mut buf = [0u8; 64];
        while self.ep.poll_transmit(&mut buf) > 0 {}
    }

    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let n = self.ep.handle_input(self.now, bytes);
            bytes = &bytes[n..];
            self.drain();
        }
    }

    fn check(&self) {
        let (out, inn) = self.ep.slots_in_use();
        assert!(out <= 4 && inn <= 4);
        assert!(self.ep.transmit_pending() <= 576);
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let mut d = Driver { ep: Ep::new(Instant::ZERO, Config::default()), now: Instant::ZERO, held: vec![], calls: vec![] };
    d.drain();
    // Start connected so the fuzzer reaches calls quickly (a Hello reply from a host).
    d.feed(&frame(&[0x21, 1, 1, 0, 0x80, 0x08, 0x10, 0x10, 0xe8, 0x07, 0, 0, 0, 0]));
    for op in ops {
        match op {
            Op::Bytes(b) => d.feed(&b),
            Op::Frame(body) => d.feed(&frame(&body)),
            Op::Wait(ms) => {
                d.now = d.now + Duration::from_millis(u64::from(ms));
                d.ep.handle_timeout(d.now);
                d.drain();
                if let Some(t) = d.ep.poll_timeout() {
                    assert!(t > d.now, "deadline {t:?} not after now {:?} right after handle_timeout", d.now);
                }
            }
            Op::Call { procedure, args, timeout_ms } => {
                let r = match timeout_ms {
                    Some(ms) => d.ep.call_with_timeout(d.now, procedure.into(), &args[..], Duration::from_millis(ms.into())),
                    None => d.ep.call(d.now, procedure.into(), &args[..]),
                };
                if let Ok(id) = r {
                    d.calls.push(id);
                }
                d.drain();
            }
            Op::Respond(payload) => {
                if let Some(id) = d.held.first().copied() {
                    if d.ep.respond(id, &payload[..]).is_ok() {
                        d.held.remove(0);
                    }
                    d.drain();
                }
            }
            Op::Refuse(code) => {
                if let Some(id) = d.held.first().copied() {
                    if d.ep.respond_error(id, WireError::from_u8(code), "fuzz").is_ok() {
                        d.held.remove(0);
                    }
                    d.drain();
                }
            }
            Op::Cancel => {
                if let Some(id) = d.calls.first().copied() {
                    let _ = d.ep.cancel(id);
                    d.calls.remove(0);
                    d.drain();
                }
            }
            Op::Close => {
                d.ep.close();
                d.drain();
            }
        }
        d.check();
    }
});
