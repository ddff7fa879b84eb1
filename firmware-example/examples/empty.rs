//! The baseline for footprint.py: a firmware that does nothing (vector table, runtime,
//! panic handler).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use lm3s6965 as _; // the interrupt vector table, as in the firmware
use panic_halt as _;

#[entry]
fn main() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}
