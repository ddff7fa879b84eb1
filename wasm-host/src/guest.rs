//! One guest: its store (memory limit, CPU budget), the ABI's imports, the thread that runs
//! `wirecall_main`, and the handle that stops it and says why it ended.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wasmtime::{
    Caller, Engine, Linker, Memory, Module, ResourceLimiter, Store, StoreLimits,
    StoreLimitsBuilder, UpdateDeadline,
};

use crate::pipe::Pipe;
use crate::{Exit, GuestError, Limits};

/// The least timeout a `read` that took no input must have asked for to count as waiting
/// (and re-arm the CPU budget): it blocked that long unless input came.
const MIN_WAIT: Duration = Duration::from_millis(1);

/// Longest a guest's `write` waits for room before answering 0: a guest that spins on a
/// full channel then costs a wake-up per few milliseconds, not a core.
const WRITE_WAIT: Duration = Duration::from_millis(5);

/// What the guest's thread and the handle share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Guest -> host.
    pub(crate) out: Arc<Pipe>,
    /// Host -> guest.
    pub(crate) input: Arc<Pipe>,
    /// Set by `stop` or the link's release: the guest's `read` answers -1 and, if it
    /// computes instead, the next epoch tick traps it.
    stop: AtomicBool,
    /// The first reason the guest ended for, other than returning or a plain trap.
    cause: Mutex<Option<Exit>>,
    exit: Mutex<Option<Exit>>,
}

impl Shared {
    pub(crate) fn new(limits: &Limits) -> Arc<Shared> {
        Arc::new(Shared {
            out: Pipe::new(limits.channel_bytes),
            input: Pipe::new(limits.channel_bytes),
            stop: AtomicBool::new(false),
            cause: Mutex::new(None),
            exit: Mutex::new(None),
        })
    }

    /// Records why the guest is being ended (the first reason wins) and ends it.
    pub(crate) fn end(&self, cause: Exit) {
        self.note(cause);
        self.stop.store(true, Ordering::SeqCst);
        self.input.close();
    }

    fn note(&self, cause: Exit) {
        let mut slot = self.cause.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(cause);
    }

    fn cause(&self) -> Option<Exit> {
        self.cause.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn exit(&self) -> Option<Exit> {
        self.exit.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The store's data: what the imports and the limits need.
struct State {
    shared: Arc<Shared>,
    limits: GuestLimiter,
    memory: Option<Memory>,
    /// When the guest last called `read`: the CPU budget runs from here.
    last_wait: Instant,
    budget: Duration,
    epoch: Instant,
}

/// wasmtime's `StoreLimits`, noting when the memory limit is what refused a growth (so
/// the guest's end can say so rather than show a bare trap).
struct GuestLimiter {
    inner: StoreLimits,
    memory_bytes: usize,
    shared: Arc<Shared>,
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum);
        if matches!(allowed, Ok(false) | Err(_)) && desired > self.memory_bytes {
            self.shared.note(Exit::MemoryLimit {
                limit: self.memory_bytes,
            });
        }
        allowed
    }
    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }
    fn instances(&self) -> usize {
        self.inner.instances()
    }
    fn tables(&self) -> usize {
        self.inner.tables()
    }
    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// A guest being run: stop it, wait for it, ask why it ended. Dropping the handle neither
/// stops nor detaches the guest's end: it ends with its link (or `stop`).
#[derive(Debug)]
pub struct Guest {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Guest {
    /// Ends the guest: its `read` answers -1 and a guest that computes instead is trapped
    /// at the next epoch tick. Its link closes either way. Returns at once; [`wait`](Self::wait)
    /// for the end.
    pub fn stop(&self) {
        self.shared.end(Exit::Stopped);
        self.shared.out.close();
    }

    /// Waits until the guest has ended and says why.
    pub fn wait(&self) -> Exit {
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        self.shared
            .exit()
            .unwrap_or_else(|| Exit::Trapped("the guest's thread panicked".into()))
    }

    /// Waits up to `timeout` for the guest's end: why it ended, or `None` if it still runs.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Exit> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(exit) = self.exit() {
                return Some(exit);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Why the guest ended, or `None` while it runs.
    pub fn exit(&self) -> Option<Exit> {
        self.shared.exit()
    }
}

/// Instantiates `module` in a store of its own with `limits` and starts `wirecall_main` on
/// a thread of its own.
pub(crate) fn start(
    engine: &Engine,
    module: &Module,
    name: &str,
    limits: &Limits,
    shared: Arc<Shared>,
) -> Result<Guest, GuestError> {
    let store_limits = StoreLimitsBuilder::new()
        .memory_size(limits.memory_bytes)
        .table_elements(limits.table_elements)
        .instances(1)
        .memories(1)
        .tables(4)
        .build();
    let now = Instant::now();
    let mut store = Store::new(
        engine,
        State {
            shared: shared.clone(),
            limits: GuestLimiter {
                inner: store_limits,
                memory_bytes: limits.memory_bytes,
                shared: shared.clone(),
            },
            memory: None,
            last_wait: now,
            budget: limits.cpu_budget,
            epoch: now,
        },
    );
    store.limiter(|s| &mut s.limits);
    // Checked once a tick: the guest is trapped once it has computed for longer than its
    // budget since it last called `read`, or once it was told to stop.
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|ctx| {
        let state = ctx.data();
        if state.shared.stop.load(Ordering::SeqCst) {
            return Err(wasmtime::format_err!("stopped"));
        }
        if state.last_wait.elapsed() > state.budget {
            let budget = state.budget;
            state.shared.note(Exit::CpuBudget { budget });
            return Err(wasmtime::format_err!("ran {budget:?} without calling read"));
        }
        Ok(UpdateDeadline::Continue(1))
    });
    let linker = imports(engine)?;
    let instance = linker
        .instantiate(&mut store, module)
        .map_err(|e| GuestError::Instantiate(format!("{e:#}")))?;
    let memory = instance
        .get_memory(&mut store, "memory")
        .ok_or_else(|| GuestError::Instantiate("the module exports no `memory`".into()))?;
    store.data_mut().memory = Some(memory);
    let main = instance
        .get_typed_func::<(), ()>(&mut store, "wirecall_main")
        .map_err(|e| GuestError::Instantiate(format!("`wirecall_main`: {e:#}")))?;
    let thread_shared = shared.clone();
    let thread = std::thread::Builder::new()
        .name(format!("guest {name}"))
        .spawn(move || {
            let result = main.call(&mut store, ());
            let exit = match (thread_shared.cause(), result) {
                (Some(cause), _) => cause,
                (None, Ok(())) => Exit::Returned,
                (None, Err(e)) => Exit::Trapped(format!("{e:#}")),
            };
            // The host sees the end of the guest's bytes, and the guest's pipe refuses more.
            thread_shared.out.close();
            thread_shared.input.close();
            *thread_shared.exit.lock().unwrap_or_else(|e| e.into_inner()) = Some(exit);
            // The store (and the guest's memory) goes now, not with the handle.
            drop(store);
        })
        .map_err(|e| GuestError::Instantiate(format!("no thread for the guest: {e}")))?;
    Ok(Guest {
        shared,
        thread: Mutex::new(Some(thread)),
    })
}

/// The guest's memory as a byte range `[ptr, ptr + len)`, or a trap if it lies outside.
fn range(ptr: i32, len: i32) -> wasmtime::Result<std::ops::Range<usize>> {
    let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
    ptr.checked_add(len)
        .map(|end| ptr..end)
        .ok_or_else(|| wasmtime::format_err!("pointer range overflows"))
}

fn memory(caller: &Caller<'_, State>) -> wasmtime::Result<Memory> {
    caller
        .data()
        .memory
        .ok_or_else(|| wasmtime::format_err!("no memory"))
}

/// The ABI (module `wirecall`): see the guest crate's docs.
fn imports(engine: &Engine) -> Result<Linker<State>, GuestError> {
    let mut linker = Linker::new(engine);
    let err = |e: wasmtime::Error| GuestError::Instantiate(format!("{e:#}"));
    linker
        .func_wrap(
            "wirecall",
            "write",
            |caller: Caller<'_, State>, ptr: i32, len: i32| -> wasmtime::Result<i32> {
                let mem = memory(&caller)?;
                let bytes = mem
                    .data(&caller)
                    .get(range(ptr, len)?)
                    .ok_or_else(|| wasmtime::format_err!("write outside the guest's memory"))?;
                let taken = caller.data().shared.out.push(bytes, WRITE_WAIT);
                // A closed channel takes nothing; the guest learns of the end from `read`.
                Ok(taken.unwrap_or(0) as i32)
            },
        )
        .map_err(err)?;
    linker
        .func_wrap(
            "wirecall",
            "read",
            |mut caller: Caller<'_, State>,
             ptr: i32,
             cap: i32,
             timeout_ms: i32|
             -> wasmtime::Result<i32> {
                let mem = memory(&caller)?;
                let dst = range(ptr, cap)?;
                if dst.end > mem.data_size(&caller) {
                    return Err(wasmtime::format_err!(
                        "read into outside the guest's memory"
                    ));
                }
                let shared = caller.data().shared.clone();
                let timeout = Duration::from_millis(timeout_ms.max(0) as u64);
                let got = if shared.stop.load(Ordering::SeqCst) {
                    None
                } else if dst.is_empty() {
                    shared.input.wait_readable(timeout);
                    (!shared.input.is_closed()).then_some(0)
                } else {
                    let buf = mem.data_mut(&mut caller).get_mut(dst).unwrap_or_default();
                    shared.input.pop(buf.len(), timeout, |a, b| {
                        let (head, tail) = buf.split_at_mut(a.len());
                        head.copy_from_slice(a);
                        if let Some(t) = tail.get_mut(..b.len()) {
                            t.copy_from_slice(b);
                        }
                        a.len() + b.len()
                    })
                };
                // Waiting, or taking input, is not computing: the budget starts again. A read
                // with no timeout that took nothing is not (a guest polling with timeout 0 in
                // a loop would otherwise spin a core forever). Whether it waited is what it
                // asked for, not the time it took: a read preempted on a loaded machine
                // takes long without having yielded anything.
                if timeout >= MIN_WAIT || got.is_none_or(|n| n > 0) {
                    caller.data_mut().last_wait = Instant::now();
                }
                Ok(got.map_or(-1, |n| n as i32))
            },
        )
        .map_err(err)?;
    linker
        .func_wrap("wirecall", "now_ms", |caller: Caller<'_, State>| -> i64 {
            caller.data().epoch.elapsed().as_millis() as i64
        })
        .map_err(err)?;
    Ok(linker)
}

/// Refuses a module that lacks the ABI's exports, before anything is instantiated.
pub(crate) fn check_exports(module: &Module) -> Result<(), GuestError> {
    let has = |name: &str| module.exports().any(|e| e.name() == name);
    if !has("wirecall_main") || !has("memory") {
        return Err(GuestError::Instantiate(
            "a guest exports `wirecall_main` and `memory`".into(),
        ));
    }
    Ok(())
}
