//! `wirecall-bench`: wirecall's benchmarks.
//!
//! * `wirecall-bench <case> --runs R --seconds S --warmup W --inflight K --size N` and
//!   `wirecall-bench <case> --wire-bytes --size N`: the EXTRA interface of
//!   `../shared/peerbench` (see its README), printing its `RESULT` and `WIRE` lines.
//! * `wirecall-bench core-cost <mcu|host> <add|echo|replies> <chunk> [bytes]`: the core's
//!   input path, to be counted by callgrind (see `corecost.rs` and `bench/corecost.sh`).

mod corecost;

fn usage() -> ! {
    eprintln!("usage: wirecall-bench core-cost <mcu|host> <add|echo|replies> <chunk> [bytes]");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
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
            match corecost::run(size, workload, chunk, bytes) {
                Ok(fed) => println!("FED\t{size}\t{workload}\t{chunk}\t{fed}"),
                Err(e) => {
                    eprintln!("wirecall-bench: {e}");
                    std::process::exit(2)
                }
            }
        }
        _ => usage(),
    }
}
