//! `wirecall-gateway`: puts wirecall devices onto a NATS bus.
//!
//! Each `--device ID=LINK` is opened with the blocking host client (which reconnects on
//! its own), its manifest is read, and it is registered as a NATS service following the
//! NATS services API: service `wirecall-ID`, one endpoint per plain procedure on subject
//! `wirecall.ID.PROCEDURE`, the schema hash and each procedure's signature in the
//! metadata. A request's payload is the JSON arguments (as `wirecall call` takes them),
//! the reply the JSON result; failures answer at once with the services API's error
//! headers (`Nats-Service-Error`, `Nats-Service-Error-Code`).
//!
//! Server streams publish each item as a message; a caller cancels by publishing its
//! request's reply subject to `wirecall.ID.PROCEDURE.cancel`; a stopping gateway lets calls
//! finish for `--grace` seconds. docs/NATS.md is the contract on the bus.
//!
//! `--watch DIR` puts every serial port in DIR (such as `/dev/serial/by-id`) on the bus
//! while it is plugged in (`watch.rs`); every device, named or watched, is kept by
//! `fleet.rs`, which tries again while one fails to come up.

mod calls;
mod device;
mod failure;
mod fleet;
mod inflight;
mod serve;
mod streams;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use device::DeviceSpec;

/// The command line.
#[derive(Parser, Debug)]
#[command(
    name = "wirecall-gateway",
    about = "Registers wirecall devices as NATS services: one endpoint per procedure"
)]
// Devices named, watched for, or both; not neither.
#[command(group(
    clap::ArgGroup::new("some devices")
        .required(true)
        .multiple(true)
        .args(["devices", "watch"])
))]
struct Args {
    /// The NATS server, e.g. `nats://127.0.0.1:4222`.
    #[arg(long, value_name = "URL")]
    nats: String,
    /// A device: `ID=LINK_URL` (`tcp://HOST:PORT`, `unix:PATH`, `serial:///dev/X?baud=N`,
    /// `exec:COMMAND`). ID names its subjects (`wirecall.ID.PROCEDURE`): letters, digits,
    /// `-` and `_`. Repeat for more devices. One that cannot be reached is reported and
    /// tried again in the background (with a growing backoff) while the others serve.
    #[arg(long = "device", value_name = "ID=LINK")]
    devices: Vec<DeviceSpec>,
    /// Serves every serial port in DIR while it is there, e.g. `/dev/serial/by-id`:
    /// plugged in, an entry is opened at `--baud` and registered; unplugged, its service
    /// leaves the bus. Its id is the entry's name with each character other than letters,
    /// digits, `-` and `_` made `_` (and a leading `_` made `d`). Entries that are not
    /// character devices (or links to one) are ignored; a second entry with an id already
    /// taken is refused. DIR is looked at 4 times a second and may be missing for a while.
    /// Repeatable; with or without `--device`.
    #[arg(long, value_name = "DIR")]
    watch: Vec<PathBuf>,
    /// The baud rate of the serial ports found by `--watch`.
    #[arg(long, value_name = "N", default_value_t = 115_200,
          value_parser = clap::value_parser!(u32).range(1..))]
    baud: u32,
    /// How long each attempt to reach a device (its link, session and manifest) may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    connect_timeout: u64,
    /// The longest deadline a request may ask for (header `Wirecall-Timeout-Ms`); longer
    /// ones are refused (400).
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    max_timeout: u64,
    /// On SIGTERM or Ctrl-C, how long calls in flight may still finish before they are
    /// cancelled on the device and answered 503.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    grace: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Each call in flight waits on a blocking thread (the host client's calls block), at
    // most 32 per device: room for 128 devices' worth before calls queue for a thread
    // (their deadlines run from arrival all the same). Threads are made only when needed.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(4096)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wirecall-gateway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(args));
    // A blocking thread still waiting on a device (a call left to run past its cancel, an
    // open that hangs) must not hold the process: dropping the runtime would wait for it.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wirecall-gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    // Listening from the start: a stop that comes while devices are still being opened
    // must give the ones already serving their grace, not kill the process.
    let mut stop = std::pin::pin!(stop_signal());
    let nats = async_nats::connect(&args.nats)
        .await
        .map_err(|e| format!("cannot connect to NATS at {}: {e}", args.nats))?;
    let limits = device::Limits {
        connect_timeout: Duration::from_secs(args.connect_timeout),
        max_timeout: Duration::from_secs(args.max_timeout),
    };
    let fleet = fleet::Fleet::new(nats.clone(), limits);
    let mut keepers = Vec::with_capacity(args.devices.len());
    let mut firsts = Vec::new();
    for spec in args.devices {
        // Two `--device` with one id is a mistake in the command line: refused at once.
        let origin = format!("--device {}={}", spec.id, spec.link);
        let (keeper, first) = fleet.keep(spec, &origin)?;
        keepers.push(keeper);
        firsts.push(first);
    }
    let mut watcher = watch::Watcher::new(args.watch, args.baud, fleet.clone())?;
    firsts.extend(watcher.poll().await);
    // Every device present at start has had its first attempt (those that failed are
    // being tried again in the background). The tests and scripts wait for this line.
    let (stop_watching, watching) = tokio::sync::oneshot::channel();
    let starting = async {
        futures_util::future::join_all(firsts).await;
        fleet.synced().await
    };
    let stopped_early = tokio::select! {
        synced = starting => {
            synced?;
            false
        }
        () = &mut stop => true,
    };
    let watcher = tokio::spawn(watcher.run(watching));
    if !stopped_early {
        eprintln!("wirecall-gateway: ready");
        stop.await;
    }
    eprintln!("wirecall-gateway: stopping");
    // Every device at once, named or watched: each leaves the bus, then its calls have
    // the same grace.
    let grace = Duration::from_secs(args.grace);
    let _ = stop_watching.send(grace);
    let named = futures_util::future::join_all(keepers.into_iter().map(|k| k.stop(grace)));
    let _ = futures_util::future::join(watcher, named).await;
    // Buffered replies go out before the process ends; bounded, for a NATS server that is
    // gone (the client would try to reconnect for ever).
    let _ = tokio::time::timeout(Duration::from_secs(2), nats.flush()).await;
    eprintln!("wirecall-gateway: stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM, listened for from the call on (not from the first poll).
fn stop_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate()).ok();
    let int = signal(SignalKind::interrupt()).ok();
    async move {
        tokio::select! {
            () = received(term) => {}
            () = received(int) => {}
        }
    }
}

/// The next `signal`, or never if it could not be listened for.
async fn received(signal: Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(mut s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
