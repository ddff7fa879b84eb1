//! The byte channel between a guest and its host `Link`: two bounded pipes, one each way.
//! Neither grows past its capacity: a writer takes what fits and waits for the rest.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a host read or write waits when nothing moves: the runtime's tick
/// (`Link::from_parts` asks for about 50 ms).
const TICK: Duration = Duration::from_millis(50);

/// One direction: at most `cap` bytes waiting, and whether either end closed it.
#[derive(Debug)]
pub(crate) struct Pipe {
    state: Mutex<PipeState>,
    /// Notified on every change (bytes in, bytes out, closed): one reader and one writer
    /// wait on it.
    changed: Condvar,
    cap: usize,
}

#[derive(Debug)]
struct PipeState {
    bytes: VecDeque<u8>,
    closed: bool,
}

impl Pipe {
    pub(crate) fn new(cap: usize) -> Arc<Pipe> {
        Arc::new(Pipe {
            state: Mutex::new(PipeState {
                bytes: VecDeque::with_capacity(cap),
                closed: false,
            }),
            changed: Condvar::new(),
            cap,
        })
    }

    fn lock(&self) -> MutexGuard<'_, PipeState> {
        // A panic while holding it leaves only bytes behind: still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `ready(state)` or `timeout`; returns the guard either way.
    fn wait_for(
        &self,
        timeout: Duration,
        ready: impl Fn(&PipeState) -> bool,
    ) -> MutexGuard<'_, PipeState> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while !ready(&state) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = match self.changed.wait_timeout(state, left) {
                Ok((s, _)) => s,
                Err(e) => e.into_inner().0,
            };
        }
        state
    }

    /// Closes the pipe: readers see the end once it is empty, writers an error at once.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Appends what fits of `bytes`, waiting up to `timeout` for room if there is none.
    /// `None` if the pipe is closed.
    pub(crate) fn push(&self, bytes: &[u8], timeout: Duration) -> Option<usize> {
        let mut state = self.wait_for(timeout, |s| s.closed || s.bytes.len() < self.cap);
        if state.closed {
            return None;
        }
        let n = bytes.len().min(self.cap - state.bytes.len());
        state.bytes.extend(bytes.get(..n).unwrap_or_default());
        drop(state);
        if n > 0 {
            self.changed.notify_all();
        }
        Some(n)
    }

    /// Waits up to `timeout` for bytes, then hands what there is (at most `max`) to
    /// `take`, which returns how many it used. `None` once the pipe is closed and empty.
    pub(crate) fn pop(
        &self,
        max: usize,
        timeout: Duration,
        take: impl FnOnce(&[u8], &[u8]) -> usize,
    ) -> Option<usize> {
        let mut state = self.wait_for(timeout, |s| s.closed || !s.bytes.is_empty());
        if state.bytes.is_empty() {
            return if state.closed { None } else { Some(0) };
        }
        let (a, b) = state.bytes.as_slices();
        let a = a.get(..max.min(a.len())).unwrap_or_default();
        let b = b.get(..(max - a.len()).min(b.len())).unwrap_or_default();
        let n = take(a, b).min(a.len() + b.len());
        state.bytes.drain(..n);
        drop(state);
        if n > 0 {
            self.changed.notify_all();
        }
        Some(n)
    }

    /// True once bytes are waiting or the pipe closed, waiting up to `timeout`.
    pub(crate) fn wait_readable(&self, timeout: Duration) -> bool {
        let state = self.wait_for(timeout, |s| s.closed || !s.bytes.is_empty());
        state.closed || !state.bytes.is_empty()
    }
}

/// The host's read half: what the guest wrote.
pub(crate) struct HostReader(pub(crate) Arc<Pipe>);

impl io::Read for HostReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let max = buf.len();
        let copy = |a: &[u8], b: &[u8]| {
            let (head, tail) = buf.split_at_mut(a.len());
            head.copy_from_slice(a);
            tail.get_mut(..b.len()).map_or(0, |t| {
                t.copy_from_slice(b);
                b.len()
            }) + a.len()
        };
        match self.0.pop(max, TICK, copy) {
            None => Ok(0), // the guest ended: end of stream
            Some(0) if max > 0 => Err(io::ErrorKind::TimedOut.into()),
            Some(n) => Ok(n),
        }
    }
}

/// The host's write half: what the guest will read.
pub(crate) struct HostWriter(pub(crate) Arc<Pipe>);

impl io::Write for HostWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.0.push(buf, TICK) {
            None => Err(io::ErrorKind::BrokenPipe.into()),
            Some(0) if !buf.is_empty() => Err(io::ErrorKind::TimedOut.into()),
            Some(n) => Ok(n),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn a_pipe_holds_at_most_its_capacity_and_ends_after_its_bytes() {
        let pipe = Pipe::new(4);
        let mut w = HostWriter(pipe.clone());
        assert_eq!(w.write(b"abcdef").ok(), Some(4));
        let full = w.write(b"ef").map_err(|e| e.kind());
        assert_eq!(full, Err(io::ErrorKind::TimedOut));
        pipe.close();
        let mut r = HostReader(pipe);
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).ok(), Some(4));
        assert_eq!(&buf[..4], b"abcd");
        assert_eq!(r.read(&mut buf).ok(), Some(0));
        assert_eq!(
            w.write(b"x").map_err(|e| e.kind()),
            Err(io::ErrorKind::BrokenPipe)
        );
    }
}
