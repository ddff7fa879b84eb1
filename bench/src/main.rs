//! `wirecall-bench`: wirecall's benchmarks.
//!
//! * `wirecall-bench <case> --runs R --seconds S --warmup W --inflight K --size N` and
//!   `wirecall-bench <case> --wire-bytes --size N`: the EXTRA interface of
//!   `../shared/peerbench` (see its README), printing its `RESULT` and `WIRE` lines. Cases:
//!   `wirecall-tcp-add`, `wirecall-unix-add`, `wirecall-tokio-tcp-add`,
//!   `wirecall-tokio-unix-add`, and the same with `-echo`; `wirecall-pipelined-...` has one
//!   thread keep the K calls in flight with `Client::start` instead of K threads.
//! * `wirecall-bench core-cost <mcu|host> <add|echo|replies> <chunk> [bytes]`: the core's
//!   input path, to be counted by callgrind (see `corecost.rs` and `bench/corecost.sh`).
//! * `wirecall-bench bridge-tcp [--runs R] [--seconds S] [--warmup W]`: `add` direct and
//!   through a call-level `Bridge`, at 1 and 32 in flight, in the same run (`bridge.rs`).
//! * `wirecall-bench stream-tcp [--rounds R] [--items N] [--size S] [--window W]`: a server
//!   stream's payload throughput over loopback TCP against a raw socket (`streams.rs`).
//! * `wirecall-bench nats-tcp|nats-unix [--runs R] [--seconds S] [--warmup W] [--inflight
//!   K,..] [--gateway PATH]`: `add` through NATS (`nats-server` and the `wirecall-gateway`
//!   binary) against direct calls to the same server, at 1 and 32 in flight, in the same
//!   run (`nats.rs`).

mod bridge;
mod corecost;
mod nats;
mod nats_client;
mod nats_relay;
mod processes;
mod proxy;
mod rpc;
mod rpc_tokio;
mod stats;
mod streams;

fn usage() -> ! {
    eprintln!(
        "usage: wirecall-bench <case> [--runs R] [--seconds S] [--warmup W] [--inflight K] [--size N]\n\
         \x20      wirecall-bench <case> --wire-bytes [--size N] [--byte-calls N]\n\
         \x20      wirecall-bench core-cost <mcu|host> <add|echo|replies> <chunk> [bytes]\n\
         \x20      wirecall-bench bridge-tcp [--runs R] [--seconds S] [--warmup W]\n\
         \x20      wirecall-bench stream-tcp [--rounds R] [--items N] [--size S] [--window W]\n\
         \x20      wirecall-bench nats-tcp|nats-unix [--runs R] [--seconds S] [--warmup W] [--inflight K,..] [--gateway PATH]\n\
         \x20      wirecall-bench list\n\
         cases: wirecall-[tokio-|pipelined-]{{tcp,unix}}-{{add,echo}}"
    );
    std::process::exit(2)
}

fn parse(args: &[String]) -> rpc::Opts {
    let mut o = rpc::Opts {
        runs: 5,
        seconds: 3.0,
        warmup: 0.5,
        inflight: 1,
        size: 1024,
        wire_bytes: false,
        byte_calls: 1000,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().unwrap_or_else(|| usage());
        match a.as_str() {
            "--runs" => o.runs = val().parse().unwrap_or_else(|_| usage()),
            "--seconds" => o.seconds = val().parse().unwrap_or_else(|_| usage()),
            "--warmup" => o.warmup = val().parse().unwrap_or_else(|_| usage()),
            "--inflight" => o.inflight = val().parse().unwrap_or_else(|_| usage()),
            "--size" => o.size = val().parse().unwrap_or_else(|_| usage()),
            "--byte-calls" => o.byte_calls = val().parse().unwrap_or_else(|_| usage()),
            "--wire-bytes" => o.wire_bytes = true,
            _ => usage(),
        }
    }
    if o.inflight == 0 || o.runs == 0 || o.seconds <= 0.0 || o.byte_calls == 0 {
        usage();
    }
    o
}

fn parse_stream(args: &[String]) -> streams::StreamOpts {
    let mut o = streams::StreamOpts {
        rounds: 5,
        items: 100_000,
        size: 1024,
        window: 64,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let val = it.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--rounds" => o.rounds = val.parse().unwrap_or_else(|_| usage()),
            "--items" => o.items = val.parse().unwrap_or_else(|_| usage()),
            "--size" => o.size = val.parse().unwrap_or_else(|_| usage()),
            "--window" => o.window = val.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if o.rounds == 0 || o.items == 0 || o.window == 0 || o.size > 4000 {
        usage();
    }
    o
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("core-cost") => {
            let (Some(size), Some(workload), Some(chunk)) = (args.get(1), args.get(2), args.get(3))
            else {
                usage()
            };
            let chunk: usize = chunk.parse().unwrap_or_else(|_| usage());
            let bytes: u64 = args
                .get(4)
                .map(|b| b.parse().unwrap_or_else(|_| usage()))
                .unwrap_or(1 << 20);
            corecost::run(size, workload, chunk, bytes)
                .map(|fed| println!("FED\t{size}\t{workload}\t{chunk}\t{fed}"))
        }
        Some("serve") => match args.get(1) {
            Some(kind) => rpc::serve(kind, &args[2..]),
            None => usage(),
        },
        Some("bridge-tcp") => bridge::run(&parse(&args[1..])),
        Some(mode @ ("nats-tcp" | "nats-unix")) => {
            nats::parse(&args[1..]).and_then(|o| nats::run(mode == "nats-unix", &o))
        }
        Some("stream-tcp") => streams::run(&parse_stream(&args[1..])).map_err(|e| e.to_string()),
        Some("list") => {
            for t in ["", "tokio-", "pipelined-"] {
                for l in ["tcp", "unix"] {
                    for op in ["add", "echo"] {
                        println!("wirecall-{t}{l}-{op}");
                    }
                }
            }
            Ok(())
        }
        Some(case) if rpc::Case::parse(case).is_some() => rpc::run(case, &parse(&args[1..])),
        _ => usage(),
    };
    if let Err(e) = result {
        eprintln!("wirecall-bench: {e}");
        std::process::exit(1);
    }
}
