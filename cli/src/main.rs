//! `wirecall`: the command-line tool.
//!
//! * `wirecall demo`: a demo device and a host in one process over a simulated 115200-baud
//!   serial line, showing calls, replies, timings and the link's statistics.
//! * `wirecall serve`: serves the demo service on TCP, a Unix socket, stdio or a serial port.
//! * `wirecall call`: calls a procedure by name over TCP, a Unix socket, a serial port or a
//!   child process; JSON in, JSON out.
//! * `wirecall stream`: opens a server stream by name over the same links; one JSON line
//!   per item.
//!
//! Links are named by the project's link URLs (`--link tcp://HOST:PORT`, ...; see
//! `wirecall_adapters::host::LinkUrl`) or by `--tcp`, `--unix`, `--serial`, `--exec`. The
//! exit codes are in `failure.rs`, and in `wirecall --help`.

mod call;
mod demo;
mod duration;
mod failure;
mod links;
mod procs;
mod serve;
mod stream;

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
    /// Run a demo device and host over a simulated 115200-baud serial line.
    Demo {
        /// Seed of the simulated line's noise.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Serve the demo service (add, echo, fail, huge, sleep, and the stream count).
    #[command(after_help = failure::SERVE_EXIT_CODES)]
    Serve {
        #[command(flatten)]
        link: ServeLink,
        /// Baud rate of --serial (a --link URL gives its own: ?baud=N).
        #[arg(long, default_value_t = 115_200, value_parser = baud(), conflicts_with = "link")]
        baud: u32,
        /// Connections served at once (--tcp, --unix); more are refused with `busy`.
        #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
        max_connections: u32,
        #[command(flatten)]
        capacity: CapacityArgs,
    },
    /// Call a procedure by name: `wirecall call --tcp 127.0.0.1:7000 add '[1, 2]'`.
    #[command(after_help = failure::EXIT_CODES)]
    Call {
        #[command(flatten)]
        link: CallLink,
        /// Baud rate of --serial (a --link URL gives its own: ?baud=N).
        #[arg(long, default_value_t = 115_200, value_parser = baud(), conflicts_with = "link")]
        baud: u32,
        /// Deadline of the call, including the connection and handshake: `500ms`, `2s`,
        /// `1.5` (seconds), `5m`, `1h`; at most a year.
        #[arg(long, default_value = "5s", value_parser = duration::parse)]
        timeout: std::time::Duration,
        /// The procedure's name (`add`, `echo`, `fail`, `huge`, `sleep`).
        procedure: String,
        /// The arguments as one JSON value: `[1, 2]`, `{"a": 1, "b": 2}`, or a bare value for
        /// a single parameter. Default: no arguments.
        #[arg(default_value = "[]")]
        args: String,
        #[command(flatten)]
        capacity: CapacityArgs,
    },
    /// Open a server stream by name and print one JSON line per item:
    /// `wirecall stream --tcp 127.0.0.1:7000 count '[1000]'`.
    #[command(after_help = failure::EXIT_CODES)]
    Stream {
        #[command(flatten)]
        link: CallLink,
        /// Baud rate of --serial (a --link URL gives its own: ?baud=N).
        #[arg(long, default_value_t = 115_200, value_parser = baud(), conflicts_with = "link")]
        baud: u32,
        /// How long to wait for the connection and handshake: `500ms`, `2s`, `1.5`
        /// (seconds), `5m`, `1h`. The stream itself has no deadline; it ends when the device
        /// ends it, or when nothing moves on it for 30 s.
        #[arg(long, default_value = "5s", value_parser = duration::parse)]
        timeout: std::time::Duration,
        /// The stream's name (`count`).
        procedure: String,
        /// The arguments as one JSON value: `[1, 2]`, `{"a": 1, "b": 2}`, or a bare value for
        /// a single parameter. Default: no arguments.
        #[arg(default_value = "[]")]
        args: String,
        #[command(flatten)]
        capacity: CapacityArgs,
    },
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
        Command::Demo { seed } => {
            demo::run(seed);
            0
        }
        Command::Serve {
            link,
            baud,
            max_connections,
            capacity,
        } => serve::run(link, baud, max_connections as usize, capacity.capacity()),
        Command::Call {
            link,
            baud,
            timeout,
            procedure,
            args,
            capacity,
        } => call::run(link, baud, timeout, &procedure, &args, capacity.capacity()),
        Command::Stream {
            link,
            baud,
            timeout,
            procedure,
            args,
            capacity,
        } => stream::run(link, baud, timeout, &procedure, &args, capacity.capacity()),
    };
    std::process::exit(code);
}
