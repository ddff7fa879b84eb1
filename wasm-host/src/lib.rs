//! Runs wirecall guests, WebAssembly modules built with `wirecall-guest`, on wasmtime. Each
//! guest gets a [`Link`], so everything that takes a link reaches it: `Client::over` to
//! call it, `serve_link` or a client's handler to serve its calls, a bridge.
//!
//! * [`Runner`]: one wasmtime engine and its epoch ticker; [`Runner::compile`] a module
//!   once, [`Runner::start`] it as many times as needed.
//! * [`Guest`]: a running guest; [`Guest::stop`], [`Guest::wait`], and its [`Exit`].
//! * [`Limits`]: per guest, its memory, CPU budget and channel size.
//!
//! The ABI (three imports in module `wirecall`, exports `wirecall_main` and `memory`) is
//! documented in the `wirecall-guest` crate.
//!
//! # Containment
//!
//! A guest ends, and its link closes (the host's calls in flight end with
//! `ConnectionLost`, its reads see the end), when it traps ([`Exit::Trapped`]), when its
//! memory would grow past [`Limits::memory_bytes`] ([`Exit::MemoryLimit`]), when it
//! computes for longer than [`Limits::cpu_budget`] without calling `read`
//! ([`Exit::CpuBudget`]: epoch interruption, checked every 10 ms), when it returns, or
//! when it is stopped. A guest flooding output fills its channel ([`Limits::channel_bytes`])
//! and its `write` answers 0; if it does not read, the CPU budget ends it. Other guests,
//! each on its own thread and store, carry on.
//!
//! # Memory per guest
//!
//! Its linear memory (at most [`Limits::memory_bytes`], 16 MiB by default; wasmtime
//! reserves address space beyond it, not memory), two channels of
//! [`Limits::channel_bytes`] (64 KiB each by default), a thread (its stack is where the
//! guest's calls run; wasmtime caps wasm's use of it at 512 KiB), and the store's
//! bookkeeping. Nothing else grows: there is no queue between the link and the guest.
//!
//! ```no_run
//! use wirecall_adapters::host::{Client, ClientOptions};
//! use wirecall_wasm_host::{Limits, Runner};
//!
//! let runner = Runner::new()?;
//! let module = runner.compile(&std::fs::read("guest.wasm")?)?;
//! let (link, guest) = runner.start(&module, "guest", Limits::default())?;
//! let client = Client::over(link, ClientOptions::default())?;
//! let sum = client.call(0, &[2, 40], None); // procedure 0 of the guest
//! drop(client); // the link closes: the guest's `read` answers -1 and it returns
//! println!("{sum:?}, the guest ended: {}", guest.wait());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod guest;
mod pipe;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use guest::Guest;
use wirecall_adapters::host::Link;

/// How often the epoch ticks: the CPU budget and `stop` act within this.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// A guest's limits. Start from the default and change what you need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of linear memory (default 16 MiB): a growth past it traps the guest.
    pub memory_bytes: usize,
    /// Most elements of a table (default 10,000).
    pub table_elements: usize,
    /// Longest the guest may compute without calling `read` (default 1 s): waiting in
    /// `read` re-arms it, and a guest past it is trapped.
    pub cpu_budget: Duration,
    /// Bytes each direction of the channel holds (default 64 KiB).
    pub channel_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 16 << 20,
            table_elements: 10_000,
            cpu_budget: Duration::from_secs(1),
            channel_bytes: 64 << 10,
        }
    }
}

/// Why a guest ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exit {
    /// `wirecall_main` returned (after its link closed, or of its own accord).
    Returned,
    /// [`Guest::stop`] was called.
    Stopped,
    /// The host released the guest's link (the last `Client` dropped, the server's
    /// session ended).
    LinkReleased,
    /// It trapped: `unreachable` (a Rust panic), a bad memory access, a call outside the
    /// ABI's ranges. The text is wasmtime's.
    Trapped(String),
    /// Its memory would have grown past this many bytes.
    MemoryLimit {
        /// [`Limits::memory_bytes`].
        limit: usize,
    },
    /// It computed for longer than this without calling `read`.
    CpuBudget {
        /// [`Limits::cpu_budget`].
        budget: Duration,
    },
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Returned => f.write_str("returned"),
            Exit::Stopped => f.write_str("stopped"),
            Exit::LinkReleased => f.write_str("its link was released"),
            Exit::Trapped(why) => write!(f, "trapped: {why}"),
            Exit::MemoryLimit { limit } => write!(f, "memory limit of {limit} bytes reached"),
            Exit::CpuBudget { budget } => {
                write!(f, "computed for more than {budget:?} without reading")
            }
        }
    }
}

/// Why a guest could not be compiled or started.
#[derive(Debug)]
#[non_exhaustive]
pub enum GuestError {
    /// The engine could not be made.
    Engine(String),
    /// The bytes are not a valid module for this engine.
    Compile(String),
    /// The module does not fit the ABI (a missing export, an unknown import) or could not
    /// be instantiated within its limits.
    Instantiate(String),
}

impl std::fmt::Display for GuestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuestError::Engine(e) => write!(f, "wasmtime: {e}"),
            GuestError::Compile(e) => write!(f, "not a guest module: {e}"),
            GuestError::Instantiate(e) => write!(f, "cannot start the guest: {e}"),
        }
    }
}

impl std::error::Error for GuestError {}

/// A compiled guest module, started with [`Runner::start`] (cheap to clone).
#[derive(Clone, Debug)]
pub struct GuestModule(wasmtime::Module);

/// A wasmtime engine with epoch interruption, and the thread that ticks its epoch every
/// 10 ms. Guests started from it keep running after it is dropped, but no longer have a
/// CPU budget enforced or stop at `stop` while they compute; drop it after them.
pub struct Runner {
    engine: wasmtime::Engine,
    ticking: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").finish_non_exhaustive()
    }
}

impl Runner {
    /// The engine (Cranelift) and its ticker.
    pub fn new() -> Result<Runner, GuestError> {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let engine =
            wasmtime::Engine::new(&config).map_err(|e| GuestError::Engine(format!("{e:#}")))?;
        let ticking = Arc::new(AtomicBool::new(true));
        let (tick_engine, on) = (engine.clone(), ticking.clone());
        let ticker = std::thread::Builder::new()
            .name("guest epoch".into())
            .spawn(move || {
                while on.load(Ordering::SeqCst) {
                    std::thread::sleep(EPOCH_TICK);
                    tick_engine.increment_epoch();
                }
            })
            .map_err(|e| GuestError::Engine(format!("no ticker thread: {e}")))?;
        Ok(Runner {
            engine,
            ticking,
            ticker: Some(ticker),
        })
    }

    /// Compiles a module (its bytes: a `.wasm` file) and checks that it exports
    /// `wirecall_main` and `memory`.
    pub fn compile(&self, wasm: &[u8]) -> Result<GuestModule, GuestError> {
        let module = wasmtime::Module::new(&self.engine, wasm)
            .map_err(|e| GuestError::Compile(format!("{e:#}")))?;
        guest::check_exports(&module)?;
        Ok(GuestModule(module))
    }

    /// Starts a guest of `module` on a thread of its own, with `limits`, and gives back the
    /// host's link to it and its handle. Releasing the link (dropping the client or server
    /// that owns it) ends the guest ([`Exit::LinkReleased`]).
    pub fn start(
        &self,
        module: &GuestModule,
        name: &str,
        limits: Limits,
    ) -> Result<(Link, Guest), GuestError> {
        let shared = guest::Shared::new(&limits);
        let guest = guest::start(&self.engine, &module.0, name, &limits, shared.clone())?;
        let (out, input) = (shared.out.clone(), shared.input.clone());
        let closer = move || {
            shared.end(Exit::LinkReleased);
            shared.out.close();
        };
        let link = Link::from_parts(
            format!("guest:{name}"),
            pipe::HostReader(out),
            pipe::HostWriter(input),
            closer,
        );
        Ok((link, guest))
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.ticking.store(false, Ordering::SeqCst);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
    }
}
