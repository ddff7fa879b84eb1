// Every input, command and output of one endpoint at the microcontroller defaults, fed
// and drained through volatile memory so the optimiser cannot remove any of it. Included by
// `core_only.rs` (footprint) and `no_panic.rs` (the core links without a panic path).

use core::ptr::{read_volatile, write_volatile};

use cortex_m_rt::entry;
use lm3s6965 as _; // the interrupt vector table, as in the firmware
use wirecall::{
    CallId, Config, Endpoint, Event, Handle, Instant, Open, Resolved, StreamMode, Target, WireError,
};

/// An address in RAM the optimiser must treat as I/O.
const PORT: usize = 0x2000_8000;

fn input() -> u8 {
    // SAFETY: PORT is in the LM3S6965's SRAM, unused by this program's statics and stack.
    unsafe { read_volatile(PORT as *const u8) }
}

fn output(b: u8) {
    // SAFETY: as in `input`.
    unsafe { write_volatile((PORT + 1) as *mut u8, b) }
}

#[entry]
fn main() -> ! {
    let Some(ep) =
        cortex_m::singleton!(: Endpoint = Endpoint::new(Instant::ZERO, Config::default().with_handles()))
    else {
        // Not a panic: `no_panic` proves the core has none, and this program adds none.
        loop {
            cortex_m::asm::wfi();
        }
    };
    let mut t = 0u64;
    let mut last: Option<CallId> = None;
    loop {
        t += 1;
        let now = Instant::from_micros(t);
        let b = input();
        let _ = ep.handle_input(now, &[b]); // a byte refused is a byte lost: fine for a size probe
        match b {
            1 => {
                let _ = ep.call(now, 0, &[b][..]);
            }
            2 => ep.close(),
            3 => {
                last = ep
                    .open(now, 1, &[b][..], Open::stream(StreamMode::Bidi))
                    .ok()
            }
            4 => {
                if let Some(id) = last {
                    let _ = ep.end_items(id);
                }
            }
            // Remote handles: a method call on a peer's handle, and on the answer of a
            // call in flight (pipelining); a release.
            5 => {
                let _ = ep.invoke(now, Target::Handle(Handle::new(0, 1)), 0, &[b][..]);
            }
            6 => {
                if let Some(id) = last {
                    let _ = ep.invoke(now, Target::Promise(id.wire()), 1, &[b][..]);
                }
            }
            7 => {
                let _ = ep.release(Handle::new(u32::from(b), 1));
            }
            _ => {}
        }
        while let Some(event) = ep.poll_event() {
            match event {
                Event::Request { id, args, .. } if args.len() > 3 => {
                    let _ = ep.respond_error(id, WireError::BadArguments, "");
                }
                Event::Request { id, mode, .. } if mode != StreamMode::Call => {
                    let _ = ep.send_item(id, &[b][..]);
                }
                Event::Item { stream, item } if item.len() > 1 => {
                    let _ = ep.consume(stream, 1);
                    let _ = ep.send_items(stream, &[&[b][..], &[b, b][..]]);
                }
                Event::Item { stream, .. } => {
                    let _ = ep.consume(stream, 1);
                    let _ = ep.send_item(stream, &[b][..]);
                }
                Event::Request {
                    id,
                    export: Some(handle),
                    ..
                } if handle.slot() == 1 => {
                    let _ = ep.respond_export(id, b);
                }
                Event::Request { id, .. } => {
                    let _ = ep.respond(id, b"ok");
                }
                Event::Invoke { id, on, .. } => match on {
                    Resolved::Object { handle, .. } if b == 8 => {
                        let _ = ep.revoke(handle, WireError::Revoked, "gone");
                    }
                    Resolved::Pending(request) if ep.resolve_promise(request).is_err() => {
                        let _ = ep.respond_error(id, WireError::StaleHandle, "");
                    }
                    _ => {
                        let _ = ep.respond(id, b"ok");
                    }
                },
                Event::Reply { id, .. } => {
                    let _ = ep.cancel(id);
                }
                _ => {}
            }
        }
        if ep.poll_timeout().is_some_and(|d| d <= now) {
            ep.handle_timeout(now);
        }
        let mut buf = [0u8; 8];
        let n = ep.poll_transmit(&mut buf);
        buf.iter().take(n).for_each(|&b| output(b));
    }
}
