//! The core alone, for footprint.py: one endpoint at the microcontroller defaults, with
//! every input, command and output reachable, fed and drained through volatile memory so
//! the optimiser cannot remove any of it. Its size minus `empty`'s is the core's cost.
#![no_std]
#![no_main]

use panic_halt as _;

include!("shared/exercise.rs");
