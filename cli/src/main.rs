//! `wirecall`: the command-line tool.
//!
//! * `wirecall demo`: a demo device and a host in one process over a simulated 115200-baud
//!   serial line, showing calls, replies, timings and the link's statistics.
//! * `wirecall serve`: serves the demo service on TCP, a Unix socket, stdio or a serial port.
//! * `wirecall call`: calls a procedure by name over TCP, a Unix socket, a serial port or a
//!   child process; JSON in, JSON out.

mod call;
mod demo;
mod procs;
mod serve;

use clap::{Args, Parser, Subcommand};

/// Typed remote procedure calls over any byte stream.
#[derive(Parser, Debug)]
#[command(name = "wirecall", version, about)]
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
    /// Serve the demo service (add, echo, fail, huge, sleep).
    Serve {
        #[command(flatten)]
        link: ServeLink,
        /// Baud rate of --serial.
        #[arg(long, default_value_t = 115_200)]
        baud: u32,
    },
    /// Call a procedure by name: `wirecall call --tcp 127.0.0.1:7000 add '[1, 2]'`.
    Call {
        #[command(flatten)]
        link: CallLink,
        /// Baud rate of --serial.
        #[arg(long, default_value_t = 115_200)]
        baud: u32,
        /// Deadline of the call, including the connection and handshake: `500ms`, `2s`, `1.5`.
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        timeout: std::time::Duration,
        /// The procedure's name (`add`, `echo`, `fail`, `huge`, `sleep`).
        procedure: String,
        /// The arguments as one JSON value: `[1, 2]`, `{"a": 1, "b": 2}`, or a bare value for
        /// a single parameter. Default: no arguments.
        #[arg(default_value = "[]")]
        args: String,
    },
}

/// Where `serve` listens.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
struct ServeLink {
    /// Listen on a TCP address, e.g. 127.0.0.1:7000.
    #[arg(long, value_name = "ADDR")]
    tcp: Option<String>,
    /// Listen on a Unix socket path.
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
    /// Connect to a TCP address.
    #[arg(long, value_name = "ADDR")]
    tcp: Option<String>,
    /// Connect to a Unix socket.
    #[arg(long, value_name = "PATH")]
    unix: Option<std::path::PathBuf>,
    /// Open a serial port (with --baud).
    #[arg(long, value_name = "PORT")]
    serial: Option<String>,
    /// Start this command (run by `sh -c`) and talk to it over its stdin and stdout.
    #[arg(long, value_name = "COMMAND")]
    exec: Option<String>,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (try 500ms, 2s or 1.5)"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("`{s}`: the timeout must be positive"));
    }
    Ok(std::time::Duration::from_secs_f64(v * scale))
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Demo { seed } => {
            demo::run(seed);
            0
        }
        Command::Serve { link, baud } => serve::run(link, baud),
        Command::Call {
            link,
            baud,
            timeout,
            procedure,
            args,
        } => call::run(link, baud, timeout, &procedure, &args),
    };
    std::process::exit(code);
}
