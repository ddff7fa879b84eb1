//! `wirecall guest GUEST.wasm --listen URL [--upstream URL]`: a WebAssembly guest (built
//! with `wirecall-guest`) run on wasmtime with its limits, and served like any device: every
//! client that connects to `--listen` calls the guest's service through the call-level
//! bridge, and the guest's own calls go to `--upstream`, a native service (a key-value
//! store, a database client) that the sandboxed guest could never link itself.
//!
//! A guest that traps, computes past its CPU budget, floods or outgrows its memory is
//! stopped: the calls it had end with explicit errors, the reason is printed, and the
//! bridge starts a fresh instance (with the bridge's backoff) for the calls that follow.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wirecall_wasm_host::{Limits, Runner};

use crate::bridge::{self, Device, Front};
use crate::failure::{fail, Exit};

const COMMAND: &str = "wirecall guest";

/// What `wirecall guest` was asked for.
pub(crate) struct GuestArgs {
    pub(crate) module: PathBuf,
    pub(crate) front: Front,
    pub(crate) memory_mib: usize,
    pub(crate) cpu_ms: u64,
}

/// Runs the guest behind a bridge until the process is stopped; returns the exit code if it
/// cannot start.
pub(crate) fn run(args: GuestArgs) -> i32 {
    let shown = args.module.display().to_string();
    let bytes = match std::fs::read(&args.module) {
        Ok(b) => b,
        Err(e) => {
            let why = format!("cannot read {shown}: {}", crate::links::cause(&e));
            return fail(COMMAND, Exit::Usage, why);
        }
    };
    let runner = match Runner::new() {
        Ok(r) => Arc::new(r),
        Err(e) => return fail(COMMAND, Exit::Usage, e),
    };
    let module = match runner.compile(&bytes) {
        Ok(m) => m,
        Err(e) => return fail(COMMAND, Exit::Usage, format!("{shown}: {e}")),
    };
    let limits = Limits {
        memory_bytes: args.memory_mib << 20,
        cpu_budget: Duration::from_millis(args.cpu_ms),
        ..Limits::default()
    };
    let name = args
        .module
        .file_stem()
        .map_or_else(|| "guest".to_string(), |s| s.to_string_lossy().into_owned());
    let mut started = 0u64;
    let open = {
        let name = name.clone();
        move || {
            started += 1;
            let (link, guest) = runner
                .start(&module, &name, limits.clone())
                .map_err(std::io::Error::other)?;
            // Why each instance ended, for the operator; the bridge opens the next one.
            let (label, instance) = (name.clone(), started);
            std::thread::Builder::new()
                .name(format!("guest {label} watch"))
                .spawn(move || {
                    let exit = guest.wait();
                    eprintln!("wirecall: guest {label} (instance {instance}) stopped: {exit}");
                })?;
            Ok(link)
        }
    };
    let device = Device {
        shown: format!("guest {shown}"),
        open: Box::new(open),
    };
    bridge::serve(COMMAND, args.front, device)
}
