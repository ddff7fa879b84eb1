//! UART0 of the LM3S6965 (a PL011 in QEMU), by its registers: an `embedded-io` UART whose
//! receive side is a queue filled by the RX interrupt.
//!
//! This is the only `unsafe` in the example: volatile reads and writes of the UART's
//! memory-mapped registers, each at an address from the datasheet.

use core::convert::Infallible;
use core::ptr::{read_volatile, write_volatile};

use heapless::spsc::Consumer;

const BASE: usize = 0x4000_C000;
const DR: usize = 0x000;
const FR: usize = 0x018;
const IBRD: usize = 0x024;
const FBRD: usize = 0x028;
const LCRH: usize = 0x02C;
const CTL: usize = 0x030;
const IM: usize = 0x038;
const ICR: usize = 0x044;
/// RCGC1, the clock gate of UART0 (bit 0), in the system control block.
const SYSCTL_RCGC1: usize = 0x400F_E104;

const FR_RXFE: u32 = 1 << 4;
const FR_TXFF: u32 = 1 << 5;
const INT_RX: u32 = 1 << 4;
const INT_RT: u32 = 1 << 6;

fn read(offset: usize) -> u32 {
    // SAFETY: BASE + offset is one of UART0's registers listed above; reading it has no
    // effect beyond the documented ones (DR pops the received byte, which we want).
    unsafe { read_volatile((BASE + offset) as *const u32) }
}

fn write(offset: usize, value: u32) {
    // SAFETY: as in `read`; these registers take any 32-bit value written here.
    unsafe { write_volatile((BASE + offset) as *mut u32, value) }
}

/// Clocks and configures UART0 for 115200 8N1 at a 12 MHz system clock, FIFOs off (one
/// interrupt per byte), receive interrupts on.
pub fn init() {
    // SAFETY: RCGC1 is a read-modify-write clock-gate register; setting bit 0 only
    // enables UART0's clock.
    unsafe {
        let rcgc1 = SYSCTL_RCGC1 as *mut u32;
        write_volatile(rcgc1, read_volatile(rcgc1) | 1);
    }
    write(CTL, 0);
    write(IBRD, 6); // 12 MHz / (16 * 115200) = 6.51
    write(FBRD, 33);
    write(LCRH, 0x60); // 8 data bits, no parity, one stop bit, FIFOs off
    write(IM, INT_RX | INT_RT);
    write(CTL, 0x301); // UART, transmitter and receiver enabled
}

/// Moves every received byte into the queue (called by the UART0 interrupt); returns how
/// many bytes were lost because the queue was full.
pub fn on_interrupt(queue: &mut heapless::spsc::Producer<'static, u8>) -> u32 {
    // Clear first, then drain: a byte that arrives after the last read raises the
    // interrupt again. (Clearing after draining could swallow that byte's interrupt and leave
    // it in DR, with no further interrupt ever coming.)
    write(ICR, INT_RX | INT_RT);
    let mut lost = 0;
    while read(FR) & FR_RXFE == 0 {
        let byte = read(DR) as u8;
        if queue.enqueue(byte).is_err() {
            lost += 1;
        }
    }
    lost
}

/// UART0 as `embedded-io`: reads from the interrupt's queue, writes to the data register.
pub struct Uart0 {
    pub rx: Consumer<'static, u8>,
}

impl embedded_io::ErrorType for Uart0 {
    type Error = Infallible;
}

impl embedded_io::ReadReady for Uart0 {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(self.rx.ready())
    }
}

impl embedded_io::Read for Uart0 {
    /// Blocks until at least one byte is queued (the driver only reads when `read_ready`).
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let mut n = 0;
            for slot in buf.iter_mut() {
                match self.rx.dequeue() {
                    Some(b) => {
                        *slot = b;
                        n += 1;
                    }
                    None => break,
                }
            }
            if n > 0 {
                return Ok(n);
            }
        }
    }
}

impl embedded_io::Write for Uart0 {
    /// Blocks while the transmitter is full.
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        for &b in buf {
            while read(FR) & FR_TXFF != 0 {}
            write(DR, u32::from(b));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}
