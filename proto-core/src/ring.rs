//! Fixed-capacity queues that know their length without computing it.
//!
//! Written here rather than taken from `heapless::Deque` because the input path asks "how
//! much room is left?" before every frame and, fed one byte at a time, once per byte: a
//! stored length makes that one load. The byte ring also hands out its contents as at most
//! two `memcpy`s instead of one pop per byte.

/// A ring of `N` bytes.
#[derive(Debug)]
pub(crate) struct ByteRing<const N: usize> {
    buf: [u8; N],
    /// Index of the oldest byte.
    head: usize,
    len: usize,
}

impl<const N: usize> ByteRing<N> {
    pub(crate) const fn new() -> Self {
        ByteRing {
            buf: [0; N],
            head: 0,
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn free(&self) -> usize {
        N - self.len
    }

    /// Appends a byte; a full ring drops it (callers check [`free`](Self::free) first).
    pub(crate) fn push(&mut self, byte: u8) {
        if self.len == N {
            return;
        }
        let mut at = self.head + self.len;
        if at >= N {
            at -= N;
        }
        if let Some(slot) = self.buf.get_mut(at) {
            *slot = byte;
            self.len += 1;
        }
    }

    /// Appends bytes (as many as fit: callers check [`free`](Self::free) first).
    pub(crate) fn push_slice(&mut self, bytes: &[u8]) {
        let bytes = bytes.get(..bytes.len().min(self.free())).unwrap_or(&[]);
        let mut at = self.head + self.len;
        if at >= N {
            at -= N;
        }
        // At most two pieces: up to the end of the buffer, then from its start.
        let first = bytes.len().min(N - at);
        let (a, b) = bytes.split_at_checked(first).unwrap_or((bytes, &[]));
        if let Some(dst) = self.buf.get_mut(at..at + first) {
            crate::bytes::copy_prefix(dst, a);
        }
        if let Some(dst) = self.buf.get_mut(..b.len()) {
            crate::bytes::copy_prefix(dst, b);
        }
        self.len += bytes.len();
    }

    /// Sets the byte at `pos` places from the oldest (a byte appended earlier).
    pub(crate) fn set(&mut self, pos: usize, byte: u8) {
        if pos < self.len {
            let mut at = self.head + pos;
            if at >= N {
                at -= N;
            }
            if let Some(slot) = self.buf.get_mut(at) {
                *slot = byte;
            }
        }
    }

    /// Moves the oldest bytes into `out`; returns how many.
    pub(crate) fn pop_into(&mut self, out: &mut [u8]) -> usize {
        let mut done = 0;
        // At most two contiguous pieces: head..end of buffer, then the wrapped start.
        for _ in 0..2 {
            let take = self.len.min(N - self.head).min(out.len() - done);
            if take == 0 {
                break;
            }
            if let (Some(dst), Some(src)) = (
                out.get_mut(done..done + take),
                self.buf.get(self.head..self.head + take),
            ) {
                crate::bytes::copy_prefix(dst, src);
            }
            done += take;
            self.len -= take;
            self.head += take;
            if self.head == N {
                self.head = 0;
            }
        }
        if self.len == 0 {
            self.head = 0; // keep the next frames contiguous
        }
        done
    }
}

/// A first-in first-out queue of at most `N` (≤ 255) small `Copy` values.
#[derive(Debug)]
pub(crate) struct Fifo<T: Copy, const N: usize> {
    items: [Option<T>; N],
    head: u8,
    len: u8,
}

impl<T: Copy, const N: usize> Fifo<T, N> {
    pub(crate) const fn new() -> Self {
        Fifo {
            items: [None; N],
            head: 0,
            len: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `item`; returns false (and drops it) when full.
    pub(crate) fn push(&mut self, item: T) -> bool {
        let at = (usize::from(self.head) + usize::from(self.len)) % N;
        match self.items.get_mut(at) {
            Some(slot) if usize::from(self.len) < N => {
                *slot = Some(item);
                self.len += 1;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let item = self.items.get_mut(usize::from(self.head))?.take();
        self.head = ((usize::from(self.head) + 1) % N) as u8;
        self.len -= 1;
        item
    }
}

impl<const N: usize> crate::framing::FrameSink for ByteRing<N> {
    fn put(&mut self, bytes: &[u8]) {
        self.push_slice(bytes);
    }
    fn reserve(&mut self) -> usize {
        self.push(0);
        self.len - 1
    }
    fn fill(&mut self, at: usize, byte: u8) {
        self.set(at, byte);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_wrap_and_reserved_bytes_are_filled() {
        use crate::framing::FrameSink;
        let mut r = ByteRing::<8>::new();
        let mut out = [0u8; 8];
        r.push_slice(&[1, 2, 3, 4, 5]);
        assert_eq!(r.pop_into(&mut out[..4]), 4);
        // head is at 4 now: this wraps.
        r.push_slice(&[6, 7]);
        let at = r.reserve();
        r.push_slice(&[9, 10, 11]);
        r.fill(at, 8);
        assert_eq!(r.len(), 7);
        assert_eq!(r.pop_into(&mut out), 7);
        assert_eq!(out[..7], [5, 6, 7, 8, 9, 10, 11]);
    }

    #[test]
    fn the_byte_ring_wraps_and_keeps_order() {
        let mut r = ByteRing::<8>::new();
        let mut out = [0u8; 8];
        for round in 0..20u8 {
            for k in 0..5 {
                r.push(round.wrapping_mul(5).wrapping_add(k));
            }
            assert_eq!(r.len(), 5);
            assert_eq!(r.pop_into(&mut out[..3]), 3);
            assert_eq!(r.pop_into(&mut out[3..]), 2);
            let want: [u8; 5] =
                core::array::from_fn(|k| round.wrapping_mul(5).wrapping_add(k as u8));
            assert_eq!(out[..5], want);
            r.push(1);
            r.push(2);
            assert_eq!(r.pop_into(&mut out), 2);
        }
        for b in 0..10 {
            r.push(b);
        }
        assert_eq!(
            (r.len(), r.free()),
            (8, 0),
            "a full ring drops what does not fit"
        );
    }

    #[test]
    fn the_fifo_keeps_order_and_refuses_when_full() {
        let mut f = Fifo::<u8, 3>::new();
        for round in 0..5u8 {
            assert!(f.push(round) && f.push(round + 1) && f.push(round + 2));
            assert!(!f.push(9));
            assert_eq!((f.pop(), f.pop()), (Some(round), Some(round + 1)));
            assert_eq!(f.pop(), Some(round + 2));
            assert!(f.is_empty() && f.pop().is_none());
        }
    }
}
