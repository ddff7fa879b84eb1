//! The runner's imports (module `wirecall`) behind safe functions: the only `unsafe` code
//! of the crate.
//!
//! Each import only reads or writes the guest's own linear memory inside the slice it is
//! given (the runner checks the range against the memory and traps if it is outside), so a
//! call with a pointer and length taken from a live Rust slice is sound: nothing aliases
//! the slice during the call (the guest is single-threaded and the runner copies before it
//! returns). On other targets than `wasm32` there is no runner: the functions are stubs
//! that report a closed link, so the crate builds and lints on the host.

/// What [`read`] got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// This many bytes, at the start of the buffer (at least one).
    Bytes(usize),
    /// Nothing arrived within the timeout.
    Nothing,
    /// The link is closed: the guest should return from `wirecall_main`.
    Closed,
}

#[cfg(target_arch = "wasm32")]
mod imports {
    #[link(wasm_import_module = "wirecall")]
    extern "C" {
        pub(super) fn write(ptr: *const u8, len: i32) -> i32;
        pub(super) fn read(ptr: *mut u8, cap: i32, timeout_ms: i32) -> i32;
        pub(super) fn now_ms() -> i64;
    }
}

/// Largest slice passed in one import call: the ABI's lengths are `i32`.
const MAX_CHUNK: usize = i32::MAX as usize;

/// Offers `bytes` to the host; returns how many it took (0 when its buffer is full).
pub fn write(bytes: &[u8]) -> usize {
    let len = bytes.len().min(MAX_CHUNK);
    #[cfg(target_arch = "wasm32")]
    #[allow(unsafe_code)]
    // SAFETY: see the module docs: `bytes` is a live slice of at least `len` bytes.
    let taken = unsafe { imports::write(bytes.as_ptr(), len as i32) };
    #[cfg(not(target_arch = "wasm32"))]
    let taken = 0;
    // A runner that answered out of range is not trusted beyond the slice.
    usize::try_from(taken).unwrap_or(0).min(len)
}

/// Waits up to `timeout_ms` for input and copies what there is into `buf`. An empty `buf`
/// only waits: it returns `Nothing` (or `Closed`) once input is waiting or the time is up,
/// taking nothing. Every call tells the runner that the guest is waiting, not computing,
/// which re-arms its CPU budget.
pub fn read(buf: &mut [u8], timeout_ms: u32) -> Input {
    let cap = buf.len().min(MAX_CHUNK);
    let timeout = timeout_ms.min(i32::MAX as u32);
    #[cfg(target_arch = "wasm32")]
    #[allow(unsafe_code)]
    // SAFETY: see the module docs: `buf` is a live, exclusively borrowed slice of at least
    // `cap` bytes.
    let got = unsafe { imports::read(buf.as_mut_ptr(), cap as i32, timeout as i32) };
    #[cfg(not(target_arch = "wasm32"))]
    let got = {
        let _ = (cap, timeout);
        -1
    };
    match usize::try_from(got) {
        Err(_) => Input::Closed,
        Ok(0) => Input::Nothing,
        Ok(n) => Input::Bytes(n.min(cap)),
    }
}

/// Milliseconds of the runner's monotonic clock.
pub fn now_ms() -> u64 {
    #[cfg(target_arch = "wasm32")]
    #[allow(unsafe_code)]
    // SAFETY: takes and returns plain integers.
    let now = unsafe { imports::now_ms() };
    #[cfg(not(target_arch = "wasm32"))]
    let now = 0i64;
    u64::try_from(now).unwrap_or(0)
}
