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

mod calls;
mod device;
mod failure;
mod inflight;
mod serve;
mod streams;

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
struct Args {
    /// The NATS server, e.g. `nats://127.0.0.1:4222`.
    #[arg(long, value_name = "URL")]
    nats: String,
    /// A device: `ID=LINK_URL` (`tcp://HOST:PORT`, `unix:PATH`, `serial:///dev/X?baud=N`,
    /// `exec:COMMAND`). ID names its subjects (`wirecall.ID.PROCEDURE`): letters, digits,
    /// `-` and `_`. Repeat for more devices.
    #[arg(long = "device", value_name = "ID=LINK", required = true)]
    devices: Vec<DeviceSpec>,
    /// How long to wait for each device's first link, session and manifest at start.
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
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wirecall-gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let nats = async_nats::connect(&args.nats)
        .await
        .map_err(|e| format!("cannot connect to NATS at {}: {e}", args.nats))?;
    let limits = device::Limits {
        connect_timeout: Duration::from_secs(args.connect_timeout),
        max_timeout: Duration::from_secs(args.max_timeout),
    };
    let mut services = Vec::with_capacity(args.devices.len());
    for spec in args.devices {
        let device = device::Device::open(spec, limits).await?;
        let service = serve::register(&nats, device).await?;
        services.push(service);
    }
    // The test and scripts wait for this line: every service is registered by now.
    eprintln!("wirecall-gateway: ready");
    wait_for_stop().await;
    eprintln!("wirecall-gateway: stopping");
    let grace = Duration::from_secs(args.grace);
    let stops = services.into_iter().map(|s| async move {
        let id = s.id().to_string();
        let cut = s.stop(grace).await;
        if cut > 0 {
            eprintln!("wirecall-gateway: device {id}: {cut} calls cut short by the stop");
        }
    });
    futures_util::future::join_all(stops).await;
    // Buffered replies go out before the process ends.
    let _ = nats.flush().await;
    eprintln!("wirecall-gateway: stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn wait_for_stop() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
