//! `wirecall`: the command-line tool.
//!
//! * `wirecall demo`: a demo device and a host in one process over a simulated 115200-baud
//!   serial line, showing calls, replies, timings and the link's statistics.
//! * `wirecall serve`: serves the demo service on TCP, a Unix socket, stdio, a serial port
//!   or WebSocket (`--ws`, for browsers).
//! * `wirecall web`: the browser demo's HTTP server: its page and the built wasm package as
//!   static files, and `/ws`, a WebSocket to the demo service or bridged to a link (`--to`).
//! * `wirecall bridge`: forwards calls, streams and cancellations from clients on a TCP or
//!   Unix listener to one device link (`--to URL`), within the device's in-flight limit.
//! * `wirecall list`: what a device serves (it describes itself: its manifest), over TCP,
//!   a Unix socket, a serial port or a child process.
//! * `wirecall call`: calls a procedure of any device by name over the same links; JSON in,
//!   JSON out, converted by the device's manifest. A procedure that returns a handle prints
//!   it, and `then METHOD [ARGS]` calls methods on it in the same session.
//! * `wirecall stream`: opens a stream by name; one JSON line per item (items to send are
//!   read from stdin, one JSON value per line).
//! * `wirecall list --nats URL [DEVICE]` and `wirecall call --nats URL DEVICE PROCEDURE
//!   [ARGS]`: the same for devices that `wirecall-gateway` serves on a NATS bus
//!   (docs/NATS.md), found by the services API's discovery (`nats/`).
//!
//! Links are named by the project's link URLs (`--link tcp://HOST:PORT`, ...; see
//! `wirecall_adapters::host::LinkUrl`) or by `--tcp`, `--unix`, `--serial`, `--exec`. The
//! exit codes are in `failure.rs`, and in `wirecall --help`.

mod args;
mod bridge;
mod cache;
mod call;
mod demo;
mod device;
mod duration;
mod failure;
mod files;
mod frames;
mod guest;
mod http;
mod links;
mod list;
mod listen;
mod morse;
mod nats;
mod serve;
mod stream;
mod web;
mod ws;
mod ws_bridge;

use clap::{Args, Parser, Subcommand};
use wirecall_adapters::host::LinkUrl;

/// Typed remote procedure calls over any byte stream.
#[derive(Parser, Debug)]
#[command(name = "wirecall", version, about, after_help = failure::EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a demo device and host over a simulated 115200-baud serial line, or with
    /// `--link morse` over a Morse-code link (dits and dahs printed as they go).
    Demo {
        /// Seed of the simulated link's noise.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The simulated link: `serial` (115200 baud) or `morse`.
        #[arg(long, default_value = "serial", value_parser = ["serial", "morse"])]
        link: String,
        /// Morse speed in words per minute (a dit is 1200 ms / N): 120 is a machine's pace,
        /// 20 a practised operator's.
        #[arg(long, default_value_t = DEFAULT_WPM, value_parser = clap::value_parser!(u32).range(5..=2000))]
        wpm: u32,
        /// Write the Morse session as stereo audio: host to device on the left, device to
        /// host on the right.
        #[arg(long, value_name = "FILE.wav")]
        wav: Option<std::path::PathBuf>,
        /// A rough Morse channel: edges moved by up to 30 % of a dit, and marks lost.
        #[arg(long)]
        noisy: bool,
        /// Add white noise to the --wav audio: the tone's power over the noise's, in dB over
        /// the whole band (0 is as loud as the tone).
        #[arg(
            long,
            value_name = "DB",
            requires = "wav",
            allow_negative_numbers = true
        )]
        snr: Option<f64>,
    },
    /// The Morse-code link's tools.
    #[command(subcommand)]
    Morse(MorseCommand),
    /// Serve the demo service (add, echo, fail, huge, sleep, the stream count, and open,
    /// which returns a handle of a sensor Channel: read, configure, name), on TCP, a Unix
    /// socket, stdio, a serial port, or WebSocket for browsers (`--ws HOST:PORT`).
    #[command(after_help = failure::SERVE_EXIT_CODES)]
    Serve {
        #[command(flatten)]
        link: ServeLink,
        /// Baud rate of --serial (a --link URL gives its own: ?baud=N).
        #[arg(long, default_value_t = 115_200, value_parser = baud(), conflicts_with = "link")]
        baud: u32,
        /// Connections served at once (--tcp, --unix, --ws); more are refused with `busy`
        /// (--ws: HTTP 503).
        #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
        max_connections: u32,
        #[command(flatten)]
        capacity: CapacityArgs,
    },
    /// List what a device serves: its procedures with their signatures, its interfaces
    /// (the types of the handles procedures return) with their methods, and the types they
    /// use: `wirecall list --tcp 127.0.0.1:7000` (`--json` for a machine-readable form).
    /// With `--nats URL`, the devices gateways serve on a NATS bus instead: each one's id,
    /// service, schema hash, how many gateways serve it, and the procedures they serve.
    #[command(
        after_help = failure::EXIT_CODES,
        override_usage = "wirecall list [OPTIONS] <--link <URL>|--tcp <ADDR>|--unix <PATH>|--serial <PORT>|--exec <COMMAND>>
       wirecall list [OPTIONS] --nats <URL> [DEVICE]"
    )]
    List {
        #[command(flatten)]
        target: Target,
        /// A NATS server where `wirecall-gateway` serves devices: list every device found by
        /// services discovery (`$SRV.INFO`), or DEVICE only.
        #[arg(long, value_name = "URL", group = "CallLink", conflicts_with_all = NATS_CONFLICTS, display_order = 4)]
        nats: Option<String>,
        /// With --nats: only this device (its id on the bus, as in `wirecall.DEVICE.PROC`).
        #[arg(requires = "nats")]
        device: Option<String>,
        /// Print the manifest as JSON: the service, each procedure's number, name, kind,
        /// parameters and types, and each interface with its methods. With --nats: an array
        /// of the devices, each with its service, schema, gateways and endpoints.
        #[arg(long)]
        json: bool,
    },
    /// Call a procedure by name, on any wirecall device (it describes itself):
    /// `wirecall call --tcp 127.0.0.1:7000 add '[1, 2]'`. A procedure that returns a
    /// handle prints it, and `then METHOD [ARGS]` calls methods on it:
    /// `wirecall call --tcp 127.0.0.1:7000 open '["temp"]' then configure '[3]' then read`.
    /// With `--nats URL`, a device that `wirecall-gateway` serves on a NATS bus:
    /// `wirecall call --nats nats://127.0.0.1:4222 demo add '[1, 2]'`.
    #[command(
        after_help = CALL_HELP,
        override_usage = "wirecall call [OPTIONS] <--link <URL>|--tcp <ADDR>|--unix <PATH>|--serial <PORT>|--exec <COMMAND>> <PROCEDURE> [ARGS] [then METHOD [ARGS]]...
       wirecall call [OPTIONS] --nats <URL> <DEVICE> <PROCEDURE> [ARGS]"
    )]
    Call {
        #[command(flatten)]
        target: Target,
        /// Call through a NATS server where `wirecall-gateway` serves the device: the
        /// request goes to `wirecall.DEVICE.PROCEDURE`, and a server stream's items print
        /// one JSON line each. Ctrl-C cancels the call on the device.
        #[arg(long, value_name = "URL", group = "CallLink", conflicts_with_all = NATS_CONFLICTS, display_order = 4)]
        nats: Option<String>,
        /// Send the procedure and every `then` call at once, without waiting for each
        /// answer: the methods name "the handle the procedure's call returns" (pipelining,
        /// a round trip saved per call on a slow link). They may then run in any order on
        /// the device; the results print in the command line's order.
        #[arg(long, conflicts_with = "nats")]
        pipelined: bool,
        /// The procedure's name (`wirecall list` shows them). With --nats, the device's id
        /// comes first: DEVICE PROCEDURE (`wirecall list --nats URL` shows them).
        procedure: String,
        /// The arguments: one JSON value (`[1, 2]` by position, `{"a": 1, "b": 2}` by name,
        /// or a bare value for a single parameter), `@FILE` to read it from a file, or `-`
        /// from stdin. Default: no arguments. Then, if the procedure returns a handle, any
        /// number of `then METHOD [ARGS]`: a call of a method of the handle's interface on
        /// it, in the same session, with arguments as above (default: none).
        #[arg(value_name = "ARGS")]
        args: Vec<String>,
    },
    /// Serve the browser demo over HTTP: the page (`/` is demo/index.html under the root)
    /// and the built wasm package as static files, and `/ws`, a WebSocket carrying the
    /// wirecall byte stream in binary messages, to the demo service or, with `--to URL`,
    /// bridged to a link of its own to URL for each connection. The WebSocket takes only
    /// the pages this server serves (another site's `Origin` is refused with 403).
    #[command(after_help = failure::WEB_EXIT_CODES)]
    Web {
        /// The address to listen on (port 0: any free port, printed).
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Bridge each WebSocket to a link of its own to this URL (tcp://HOST:PORT,
        /// unix:///PATH, serial:///dev/ttyUSB0?baud=115200, exec:COMMAND LINE), copying the
        /// bytes both ways, instead of serving the demo service in this process. A link that
        /// cannot be opened closes the WebSocket with the reason.
        #[arg(long, value_name = "URL")]
        to: Option<LinkUrl>,
        /// The directory of the static files: it must hold demo/index.html and dist/ (the
        /// package `npm run build` makes in js/). Default: $WIRECALL_WEB_ROOT, else the js/
        /// directory of the source tree this command was built from.
        #[arg(long, value_name = "DIR")]
        root: Option<std::path::PathBuf>,
        /// Connections served at once, pages and WebSockets together; more are refused
        /// with HTTP 503.
        #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
        max_connections: u32,
        #[command(flatten)]
        capacity: CapacityArgs,
    },
    /// Forward calls between links: every client connecting to `--listen` reaches the
    /// device at `--to` (its manifest, its procedures, its streams), within the device's
    /// own in-flight limit (excess calls are answered Busy, never queued). Deadlines
    /// shrink on the way, a cancel or a lost link on either side reaches the other:
    /// `wirecall bridge --listen tcp://127.0.0.1:7100 --to serial:///dev/ttyUSB0?baud=115200`.
    Bridge {
        /// The device: tcp://HOST:PORT, unix:///PATH, serial:///dev/ttyUSB0?baud=115200 or
        /// exec:COMMAND LINE. Opened again whenever it drops.
        #[arg(long, value_name = "URL")]
        to: LinkUrl,
        #[command(flatten)]
        front: FrontArgs,
    },
    /// Run a WebAssembly guest (built with wirecall-guest) on wasmtime and serve it like a
    /// device: clients on --listen call its service through the bridge, and its own calls
    /// go to --upstream, a native service:
    /// `wirecall guest plugin.wasm --listen tcp://127.0.0.1:7200 --upstream unix:///run/kv.sock`.
    /// A guest that traps, loops, floods or outgrows its memory is stopped (its calls end
    /// with explicit errors, the reason is printed) and a fresh instance serves the next.
    Guest {
        /// The guest module (.wasm).
        module: std::path::PathBuf,
        /// The guest's memory limit, in MiB.
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=4096))]
        memory_mib: u32,
        /// The longest the guest may compute without waiting for input, in milliseconds.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..))]
        cpu_ms: u64,
        #[command(flatten)]
        front: FrontArgs,
    },
    /// Open a stream by name and print one JSON line per item it brings:
    /// `wirecall stream --tcp 127.0.0.1:7000 count '[1000]'`. A stream that takes items
    /// from the caller reads them from stdin, one JSON value per line.
    #[command(after_help = failure::EXIT_CODES)]
    Stream {
        #[command(flatten)]
        target: Target,
        /// The stream's name (`wirecall list` shows them).
        procedure: String,
        /// The arguments, as for `call` (`-` is not allowed when items come from stdin).
        #[arg(default_value = "[]")]
        args: String,
    },
}

/// The options of a link to a device that mean nothing on NATS (the gateway owns the
/// device's link): refused with `--nats` rather than ignored.
const NATS_CONFLICTS: [&str; 5] = ["baud", "schema", "no_cache", "max_frame", "max_calls"];

/// `wirecall call --help`'s words on handles and on NATS, then the exit codes.
const CALL_HELP: &str = concat!(
    "\
Handles: a procedure that returns a handle (`open(name: String<16>) -> handle Channel` in
`wirecall list`, which lists each interface's methods) prints it as `handle Channel #0.1`
(its interface, then its slot and generation in the device's table). Each
`then METHOD [ARGS]` after it calls a method of that interface on the handle, in the same
session, and prints the result on a line of its own:
  wirecall call --tcp 127.0.0.1:7000 open '[\"temp\"]' then configure '[3]' then read
  handle Channel #0.1
  1
  3
An unknown method or arguments that do not fit are refused before anything is sent; the
first call that fails stops the chain, with its exit code. The handle is released when the
command ends.

On NATS (--nats URL DEVICE PROCEDURE [ARGS]): --timeout is sent as the call's deadline
(header Wirecall-Timeout-Ms; for a server stream, the whole stream's), and the gateway's errors exit as the same failures on a link
do (400 and 413: 2; 504: 3; 409: 5; 503 Busy and the device's errors: 1; the device not
connected or no gateway serving it: 4). On Ctrl-C the call is cancelled on the device
(`wirecall.DEVICE.PROCEDURE.cancel`) and the command exits 130. A server stream's items
print one JSON line each, as `wirecall stream` prints them.

",
    failure::exit_codes!()
);

/// The Morse demo's default speed: a machine's pace.
const DEFAULT_WPM: u32 = 120;

/// A pitch for `morse decode --pitch`: 100 to 4000 Hz.
fn pitch_hz(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(hz) if (100.0..=4000.0).contains(&hz) => Ok(hz),
        _ => Err(format!("{s:?} is not a pitch from 100 to 4000 Hz")),
    }
}

/// `wirecall morse ...`.
#[derive(Subcommand, Debug)]
enum MorseCommand {
    /// Print the frames heard in a recording of a Morse link (a WAV file, such as `wirecall
    /// demo --link morse --wav FILE` writes): each channel's tone and speed, and every frame
    /// in hex with what it is.
    Decode {
        /// The recording.
        file: std::path::PathBuf,
        /// The tone's pitch in hertz, 100 to 4000 (default: found in the recording).
        #[arg(long, value_parser = pitch_hz)]
        pitch: Option<f64>,
        /// The speed in words per minute (default: found in the recording).
        #[arg(long, value_parser = clap::value_parser!(u32).range(5..=2000))]
        wpm: Option<u32>,
    },
}

/// The device a command talks to, and how.
#[derive(Args, Debug)]
struct Target {
    #[command(flatten)]
    link: CallLink,
    /// Baud rate of --serial (a --link URL gives its own: ?baud=N).
    #[arg(long, default_value_t = 115_200, value_parser = baud(), conflicts_with = "link")]
    baud: u32,
    /// Deadline of the whole command: connection, handshake, fetching the device's
    /// description and the call; for a stream, all but the stream itself (which ends when
    /// the device ends it, or when nothing moves on it for 30 s). `500ms`, `2s`, `1.5`
    /// (seconds), `5m`, `1h`; at most a year.
    #[arg(long, default_value = "5s", value_parser = duration::parse)]
    timeout: std::time::Duration,
    /// Fail (exit 5) unless the device serves this schema hash, e.g. 0x1BDF1C4B (`wirecall
    /// list` prints it).
    #[arg(long, value_name = "HASH", value_parser = parse_hash)]
    schema: Option<u32>,
    /// Do not read or write the cache of device descriptions (by default kept in
    /// $WIRECALL_CACHE_DIR, $XDG_CACHE_HOME/wirecall or ~/.cache/wirecall, by schema hash).
    #[arg(long)]
    no_cache: bool,
    #[command(flatten)]
    capacity: CapacityArgs,
}

/// A schema hash: `0x` and 8 hex digits, or decimal.
fn parse_hash(s: &str) -> Result<u32, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    match parsed {
        Ok(0) => Err("0 is no schema; give the hash `wirecall list` prints".into()),
        Ok(h) => Ok(h),
        Err(_) => Err(format!("`{s}` is not a schema hash (like 0x1BDF1C4B)")),
    }
}

/// The clients' side of a bridge (`bridge`, `guest`): where they connect, how many, the
/// endpoint they get, and the service that serves the device's own calls.
#[derive(Args, Debug)]
struct FrontArgs {
    /// Where clients connect: tcp://HOST:PORT (port 0: any free port, printed) or
    /// unix:///PATH.
    #[arg(long, value_name = "URL")]
    listen: LinkUrl,
    /// A service that serves the device's (or guest's) own calls, those not made back to a
    /// client while serving its call; without it, they are answered UnknownProcedure.
    #[arg(long, value_name = "URL")]
    upstream: Option<LinkUrl>,
    /// Clients served at once; more are refused with Close(Busy).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    #[command(flatten)]
    capacity: CapacityArgs,
}

impl FrontArgs {
    fn front(self) -> bridge::Front {
        bridge::Front {
            listen: self.listen,
            upstream: self.upstream,
            max_connections: self.max_connections as usize,
            capacity: self.capacity.capacity(),
        }
    }
}

/// The frame size and calls in flight of the endpoint.
#[derive(Args, Debug, Clone, Copy)]
struct CapacityArgs {
    /// Largest frame in bytes (48 to 65536), header and checksum included.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(48..=65536))]
    max_frame: u32,
    /// Calls in flight at once in each direction (1 to 256).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=256))]
    max_calls: u32,
}

impl CapacityArgs {
    fn capacity(self) -> wirecall_adapters::host::Capacity {
        wirecall_adapters::host::Capacity {
            max_frame: self.max_frame as usize,
            max_calls: self.max_calls as usize,
        }
    }
}

/// A baud rate: at least 1.
fn baud() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..)
}

/// Where `serve` listens.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
struct ServeLink {
    /// Listen on a link URL: tcp://HOST:PORT, unix:///PATH (or unix:relative/path),
    /// serial:///dev/ttyUSB0?baud=115200, or stdio:.
    #[arg(long, value_name = "URL")]
    link: Option<LinkUrl>,
    /// Listen on a TCP address, e.g. 127.0.0.1:7000.
    #[arg(long, value_name = "ADDR")]
    tcp: Option<String>,
    /// Listen on a Unix socket path. A socket left there by a server that stopped is
    /// replaced; anything else there (a file, a running server's socket) is an error.
    #[arg(long, value_name = "PATH")]
    unix: Option<std::path::PathBuf>,
    /// Serve on this process's stdin and stdout.
    #[arg(long)]
    stdio: bool,
    /// Serve on a serial port (with --baud).
    #[arg(long, value_name = "PORT")]
    serial: Option<String>,
    /// Listen for WebSocket connections on HOST:PORT (any path), each a session carrying
    /// the wirecall byte stream in binary messages: for web pages.
    #[arg(long, value_name = "HOST:PORT")]
    ws: Option<String>,
}

/// What `call` connects to.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
struct CallLink {
    /// Connect to a link URL: tcp://HOST:PORT, unix:///PATH (or unix:relative/path),
    /// serial:///dev/ttyUSB0?baud=115200, exec:COMMAND LINE.
    #[arg(long, value_name = "URL")]
    link: Option<LinkUrl>,
    /// Connect to a TCP address, HOST:PORT.
    #[arg(long, value_name = "ADDR")]
    tcp: Option<String>,
    /// Connect to a Unix socket.
    #[arg(long, value_name = "PATH")]
    unix: Option<std::path::PathBuf>,
    /// Open a serial port (with --baud).
    #[arg(long, value_name = "PORT")]
    serial: Option<String>,
    /// Start this command line as `sh -c` runs it (`cd dir && prog`, `VAR=1 prog`) and talk
    /// to it over its stdin and stdout; it and what it starts are stopped at the end.
    #[arg(long, value_name = "COMMAND")]
    exec: Option<String>,
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Demo {
            seed,
            link,
            wpm,
            wav,
            noisy,
            snr,
        } => {
            if link == "morse" {
                morse::demo(&morse::DemoOptions {
                    wpm,
                    wav,
                    noisy,
                    snr,
                    seed,
                })
            } else if wav.is_some() || noisy || wpm != DEFAULT_WPM {
                eprintln!("wirecall: --wpm, --wav, --snr and --noisy are for --link morse");
                2
            } else {
                demo::run(seed);
                0
            }
        }
        Command::Morse(MorseCommand::Decode { file, pitch, wpm }) => {
            morse::decode(&file, pitch, wpm)
        }
        Command::Serve {
            link,
            baud,
            max_connections,
            capacity,
        } => serve::run(link, baud, max_connections as usize, capacity.capacity()),
        Command::Web {
            listen,
            to,
            root,
            max_connections,
            capacity,
        } => web::run(web::WebOptions {
            listen,
            to,
            root,
            max_connections: max_connections as usize,
            capacity: capacity.capacity(),
        }),
        Command::Bridge { to, front } => bridge::run(to, front.front()),
        Command::Guest {
            module,
            memory_mib,
            cpu_ms,
            front,
        } => guest::run(guest::GuestArgs {
            module,
            front: front.front(),
            memory_mib: memory_mib as usize,
            cpu_ms,
        }),
        Command::List {
            target,
            nats: Some(url),
            device,
            json,
        } => nats::list(&url, device.as_deref(), target.timeout, json),
        Command::List { target, json, .. } => list::run(&target, json),
        Command::Call {
            target,
            nats: Some(url),
            procedure: device,
            args,
            ..
        } => nats::call(&url, target.timeout, &device, &args),
        Command::Call {
            target,
            pipelined,
            procedure,
            args,
            ..
        } => call::run(&target, &procedure, &args, pipelined),
        Command::Stream {
            target,
            procedure,
            args,
        } => stream::run(&target, &procedure, &args),
    };
    std::process::exit(code);
}
