//! The runner's byte channel as an `embedded-io` UART, and its clock as the UART driver's
//! [`Clock`], so a guest runs [`UartDriver`](wirecall_adapters::uart::UartDriver) exactly
//! as firmware does.

use embedded_io::{ErrorKind, ErrorType, Read, ReadReady, Write};
use wirecall_adapters::uart::Clock;

use crate::sys::{self, Input};

/// The link to the host is closed: the runner stopped the guest or its peer went away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Closed;

impl embedded_io::Error for Closed {
    fn kind(&self) -> ErrorKind {
        ErrorKind::BrokenPipe
    }
}

impl core::fmt::Display for Closed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the link to the host is closed")
    }
}

impl core::error::Error for Closed {}

/// The byte channel to the host. `read_ready` asks the host without waiting and keeps what
/// came in a 256-byte buffer, which `read` hands out; `write` takes what the host's buffer
/// has room for, waiting (and telling the runner it waits) while it has none.
#[derive(Debug)]
pub struct Channel {
    buf: [u8; 256],
    start: usize,
    end: usize,
    closed: bool,
}

impl Channel {
    /// The channel; there is one per guest (more would share the same bytes).
    pub const fn new() -> Self {
        Channel {
            buf: [0; 256],
            start: 0,
            end: 0,
            closed: false,
        }
    }

    /// Takes what the host has, waiting up to `timeout_ms` for it, unless bytes are
    /// buffered already.
    fn fill(&mut self, timeout_ms: u32) -> Result<(), Closed> {
        if self.closed {
            return Err(Closed);
        }
        if self.start < self.end {
            return Ok(());
        }
        match sys::read(&mut self.buf, timeout_ms) {
            Input::Bytes(n) => (self.start, self.end) = (0, n),
            Input::Nothing => {}
            Input::Closed => {
                self.closed = true;
                return Err(Closed);
            }
        }
        Ok(())
    }
}

impl Default for Channel {
    fn default() -> Self {
        Channel::new()
    }
}

impl ErrorType for Channel {
    type Error = Closed;
}

impl ReadReady for Channel {
    fn read_ready(&mut self) -> Result<bool, Closed> {
        self.fill(0)?;
        Ok(self.start < self.end)
    }
}

impl Read for Channel {
    /// Blocks until at least one byte is there (embedded-io's contract); the driver only
    /// calls it after `read_ready`, so it never waits there.
    fn read(&mut self, out: &mut [u8]) -> Result<usize, Closed> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.start == self.end {
            self.fill(1000)?;
        }
        let ready = self.buf.get(self.start..self.end).unwrap_or_default();
        let n = ready.len().min(out.len());
        for (o, b) in out.iter_mut().zip(ready) {
            *o = *b;
        }
        self.start += n;
        Ok(n)
    }
}

impl Write for Channel {
    /// Blocks until the host takes at least one byte. While its buffer is full the guest
    /// waits for input with an empty buffer (1 ms at most), which takes nothing and tells
    /// the runner the guest is waiting, so a guest blocked on a slow reader is not taken
    /// for one that computes forever.
    fn write(&mut self, bytes: &[u8]) -> Result<usize, Closed> {
        if bytes.is_empty() {
            return Ok(0);
        }
        loop {
            if self.closed {
                return Err(Closed);
            }
            let n = sys::write(bytes);
            if n > 0 {
                return Ok(n);
            }
            if sys::read(&mut [], 1) == Input::Closed {
                self.closed = true;
            }
        }
    }

    fn flush(&mut self) -> Result<(), Closed> {
        Ok(())
    }
}

/// The runner's monotonic clock, in the driver's microseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct GuestClock;

impl Clock for GuestClock {
    fn now_micros(&mut self) -> u64 {
        sys::now_ms().saturating_mul(1000)
    }
}
