//! Copying bytes without a panic path.
//!
//! `copy_from_slice` panics when the lengths differ, and at `opt-level = "z"` its length
//! check stays in the firmware image even where the lengths are equal by construction
//! (`firmware-example/examples/no_panic.rs` proves the core links without any panic path).
//! This copy cannot fail; at the host's optimisation level it becomes a `memcpy`.

/// Copies `src` into the start of `dst`, as much of it as fits; returns the bytes copied.
#[inline]
pub(crate) fn copy_prefix(dst: &mut [u8], src: &[u8]) -> usize {
    let mut n = 0;
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
        n += 1;
    }
    n
}
