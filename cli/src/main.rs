//! `wirecall`: the command-line tool.
//!
//! `wirecall demo` runs a demo device and a host in one process, both real wirecall
//! endpoints, over a simulated 115200-baud serial line, and shows calls, replies, timings
//! and the link's statistics. No hardware, no setup.

mod demo;

use clap::{Parser, Subcommand};

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
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo { seed } => demo::run(seed),
    }
}
