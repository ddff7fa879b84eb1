//! The Morse physical layer on the microcontroller: every byte value keyed by `Keyer`, each
//! edge moved by up to 30 % of a unit (a fixed pseudo-random sequence), and decoded by
//! `Decoder`, on the Cortex-M3 that QEMU emulates. It prints the verdict through
//! semihosting and exits QEMU with it (`./ci.sh` runs it):
//!
//! `qemu-system-arm -M lm3s6965evb -cpu cortex-m3 -display none -semihosting-config
//! enable=on,target=native -kernel target/thumbv7m-none-eabi/release/examples/morse_loopback`
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use lm3s6965 as _;
use panic_halt as _;
use wirecall::{Duration, Instant};
use wirecall_adapters::morse::{Decoder, Edge, Keyer};

/// 20 words per minute.
const UNIT_US: u64 = 60_000;

#[entry]
fn main() -> ! {
    let unit = Duration::from_micros(UNIT_US);
    let mut keyer = Keyer::<4>::new(unit);
    let mut decoder = Decoder::new(unit);
    // xorshift32: the jitter, the same on every run.
    let mut rng = 0x2545_f491u32;
    let mut jitter = move || {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        // -0.3 to +0.3 units, in microseconds.
        (u64::from(rng % 1001) * UNIT_US * 6 / 10_000) as i64 - (UNIT_US * 3 / 10) as i64
    };
    let (mut next, mut expected, mut wrong) = (0u16, 0u16, 0u16);
    let mut now = Instant::ZERO;
    let check = |decoder: &mut Decoder, expected: &mut u16, wrong: &mut u16| {
        while let Some(b) = decoder.poll_byte() {
            if u16::from(b) != *expected {
                *wrong += 1;
            }
            *expected += 1;
        }
    };
    loop {
        while next < 256 && keyer.has_room() {
            // Each byte fits: `has_room` said so.
            let _ = keyer.push(now, next as u8);
            next += 1;
        }
        let Some(at) = keyer.poll_timeout() else {
            break;
        };
        now = at;
        if let Some(edge) = keyer.handle_timeout(at) {
            let t = (edge.at.as_micros() as i64 + jitter()).max(0) as u64;
            let moved = Edge {
                at: Instant::from_micros(t),
                down: edge.down,
            };
            if let Some(end) = decoder.poll_timeout().filter(|&e| e < moved.at) {
                decoder.handle_timeout(end);
                check(&mut decoder, &mut expected, &mut wrong);
            }
            decoder.edge(moved);
            check(&mut decoder, &mut expected, &mut wrong);
        }
    }
    decoder.handle_timeout(Instant::from_micros(u64::MAX));
    check(&mut decoder, &mut expected, &mut wrong);
    let stats = decoder.stats();
    hprintln!(
        "morse loopback on the MCU: {} bytes decoded, {} wrong, {} unreadable words, {} s of Morse at 20 wpm",
        expected,
        wrong,
        stats.bad_words,
        now.as_micros() / 1_000_000
    );
    if expected == 256 && wrong == 0 && stats.bad_words == 0 {
        debug::exit(debug::EXIT_SUCCESS);
    } else {
        debug::exit(debug::EXIT_FAILURE);
    }
    loop {
        cortex_m::asm::wfi();
    }
}
