//! The service the host examples share: declared once with `service!`, it gives every
//! program here the same procedure numbers and types, a typed client
//! (`tally::Client`, `tally::AsyncClient`) and a server side (`tally::HostHandler`), which
//! [`Tally`] implements.
//!
//! Run the programs with `cargo run -p wirecall-examples --example NAME`; `examples/README.md`
//! lists them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use wirecall::{StreamItems, WireError};

wirecall::service! {
    /// Named counters kept by a server, shared by everyone who connects.
    pub mod tally {
        /// Adds `by` to the counter `name` (a new one starts at 0); returns its new value.
        /// `BadArguments` for an empty name or an overflow.
        0 => Add: fn add(name: &str, by: u64) -> u64;
        /// The value of the counter `name`: 0 if nobody added to it.
        1 => Get: fn get(name: &str) -> u64;
        /// Every counter and its value, in name order (a server stream).
        2 => List: fn list() -> stream (String, u64);
        /// The calls served so far, every connection together.
        3 => Calls: fn calls() -> u64;
    }
}

/// The server side of [`tally`]. Its state sits behind an `Arc`: a clone is a handle on the
/// same counters, so the program that serves it keeps one to look at them, and every
/// connection (the blocking server shares one handler; the tokio flavour takes a clone per
/// connection) updates the same ones.
///
/// Methods take `&self` and run on any thread, several at once: the counters are behind a
/// lock, the count of calls is an atomic.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    state: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    counters: Mutex<BTreeMap<String, u64>>,
    calls: AtomicU64,
}

impl Tally {
    /// The value of counter `name`, read directly (not through a call).
    pub fn value(&self, name: &str) -> u64 {
        self.counters().get(name).copied().unwrap_or(0)
    }

    /// The calls served so far.
    pub fn calls(&self) -> u64 {
        self.state.calls.load(Ordering::Relaxed)
    }

    /// The counters, locked. A handler that panicked while holding the lock left them
    /// consistent (every update is one `insert`), so a poisoned lock is still used.
    fn counters(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u64>> {
        self.state
            .counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn count_call(&self) {
        self.state.calls.fetch_add(1, Ordering::Relaxed);
    }
}

impl tally::HostHandler for Tally {
    fn add(&self, name: &str, by: u64) -> Result<u64, WireError> {
        self.count_call();
        if name.is_empty() {
            return Err(WireError::BadArguments);
        }
        let mut counters = self.counters();
        let value = counters
            .get(name)
            .copied()
            .unwrap_or(0)
            .checked_add(by)
            .ok_or(WireError::BadArguments)?;
        counters.insert(name.to_string(), value);
        Ok(value)
    }

    fn get(&self, name: &str) -> Result<u64, WireError> {
        self.count_call();
        Ok(self.value(name))
    }

    fn list(&self, stream: &mut dyn StreamItems<(), (String, u64)>) -> Result<(), WireError> {
        self.count_call();
        // A snapshot, so the lock is not held while sending: a send waits for the
        // caller's credit, and a slow caller must not hold up every other connection.
        let snapshot: Vec<(String, u64)> = self
            .counters()
            .iter()
            .map(|(name, value)| (name.clone(), *value))
            .collect();
        for entry in &snapshot {
            // `feed`: the items go out together in as few writes as the window allows.
            stream.feed(entry)?;
        }
        Ok(())
    }

    fn calls(&self) -> Result<u64, WireError> {
        self.count_call();
        Ok(Tally::calls(self))
    }
}
