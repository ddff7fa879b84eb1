//! Proof that the core cannot panic: the program of `core_only` (every input, command and
//! output of an endpoint reachable) with a panic handler that calls a function that does
//! not exist. If any panic remains reachable after optimisation (an index out of bounds, an
//! `unwrap`, an overflow check, a `panic!`), the handler is kept and the link fails with an
//! undefined symbol `wirecall_core_can_panic`; `./ci.sh` builds it in release.
#![no_std]
#![no_main]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    extern "C" {
        // Deliberately defined nowhere: see the module docs.
        fn wirecall_core_can_panic() -> !;
    }
    // SAFETY: never runs: the link only succeeds if this function is unreachable.
    unsafe { wirecall_core_can_panic() }
}

include!("shared/exercise.rs");
