//! A service served by host programs through the generated glue (`calc::serve`), called
//! through the generated clients: every shape of procedure, borrowed parameters, and
//! state shared by every connection. `calc-server` serves it on stdio.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use wirecall::{StreamItems, WireError};

wirecall::service! {
    /// A calculator for host programs.
    pub mod calc {
        /// `a + b`; `BadArguments` on overflow.
        0 => Add: fn add(a: i32, b: i32) -> i32;
        /// The characters of a text (borrowed from the request).
        1 => Chars: fn chars(text: &str) -> u32;
        /// The sum of some bytes (borrowed from the request).
        2 => Checksum: fn checksum(data: &[u8]) -> u32;
        /// The calls served so far by this server, every connection together.
        3 => Hits: fn hits() -> u64;
        /// Yields `0..n` (a server stream).
        4 => Upto: fn upto(n: u32) -> stream u32;
        /// Adds up the numbers it is sent (a client stream).
        5 => Total: fn total(stream u32) -> u64;
        /// Sends back each number times `factor` (bidirectional).
        6 => Scale: fn scale(factor: u32, stream u32) -> stream u32;
        /// Sets the count of calls back to zero.
        7 => Reset: fn reset();
    }
}

wirecall::service! {
    /// Another service with a procedure 0 of another type: a client of one must never
    /// reach the other.
    pub mod other {
        /// `a + b` in 64 bits.
        0 => Add: fn add(a: i64, b: i64) -> i64;
    }
}

/// The host handler of [`calc`]: one for every connection, its count shared.
#[derive(Clone, Debug, Default)]
pub struct Calc {
    /// Calls served, every connection together.
    pub hits: Arc<AtomicU64>,
}

impl Calc {
    fn hit(&self) {
        self.hits.fetch_add(1, Ordering::SeqCst);
    }
}

impl calc::HostHandler for Calc {
    fn add(&self, a: i32, b: i32) -> Result<i32, WireError> {
        self.hit();
        a.checked_add(b).ok_or(WireError::BadArguments)
    }

    fn chars(&self, text: &str) -> Result<u32, WireError> {
        self.hit();
        Ok(text.chars().count() as u32)
    }

    fn checksum(&self, data: &[u8]) -> Result<u32, WireError> {
        self.hit();
        Ok(data.iter().map(|&b| u32::from(b)).sum())
    }

    fn hits(&self) -> Result<u64, WireError> {
        Ok(self.hits.load(Ordering::SeqCst))
    }

    fn upto(&self, stream: &mut dyn StreamItems<(), u32>, n: u32) -> Result<(), WireError> {
        self.hit();
        for i in 0..n {
            stream.send(&i)?;
        }
        Ok(())
    }

    fn total(&self, stream: &mut dyn StreamItems<u32, ()>) -> Result<u64, WireError> {
        self.hit();
        let mut sum = 0u64;
        while let Some(item) = stream.recv() {
            sum += u64::from(item?);
        }
        Ok(sum)
    }

    fn scale(&self, stream: &mut dyn StreamItems<u32, u32>, factor: u32) -> Result<(), WireError> {
        self.hit();
        while let Some(item) = stream.recv() {
            let scaled = item?.checked_mul(factor).ok_or(WireError::BadArguments)?;
            stream.send(&scaled)?;
        }
        Ok(())
    }

    fn reset(&self) -> Result<(), WireError> {
        self.hits.store(0, Ordering::SeqCst);
        Ok(())
    }
}
