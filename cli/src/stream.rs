//! `wirecall stream`: opens a server stream by name and prints one JSON line per item.
//!
//! Exit codes as `failure::EXIT_CODES` has them: 0 the stream ended well, 1 the device
//! ended it with an error (or an item did not decode), 3 the stream went idle, 4 no link,
//! no session, or the link was lost. Items already printed stay printed: every line on
//! stdout is one whole item, in order.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use wirecall::StreamMode;
use wirecall_adapters::host::Capacity;

use crate::call::{connect, encode_args};
use crate::failure::fail_with;
use crate::{procs, CallLink};

/// A stream that runs longer than this gets a progress line on a terminal's stderr.
const PROGRESS_AFTER: Duration = Duration::from_secs(1);

pub(crate) fn run(
    link: CallLink,
    baud: u32,
    timeout: Duration,
    name: &str,
    args: &str,
    capacity: Capacity,
) -> i32 {
    let fail = |code: i32, message: &str| {
        eprintln!("wirecall stream: {message}");
        code
    };
    let proc_ = match procs::find(name) {
        Ok(p) => p,
        Err(e) => return fail(2, &e),
    };
    if proc_.info.mode != StreamMode::ServerStream {
        return fail(
            2,
            &format!("`{name}` is not a server stream: use `wirecall call ... {name} ARGS`"),
        );
    }
    let bytes = match encode_args(&proc_, args) {
        Ok(b) => b,
        Err(e) => return fail(2, &e),
    };
    let client = match connect(&link, baud, capacity, timeout) {
        Ok(c) => c,
        Err(e) => return fail(e.exit() as i32, &e.to_string()),
    };
    let mut stream = match client.open_stream(proc_.info.id, &bytes, StreamMode::ServerStream, None)
    {
        Ok(s) => s,
        Err(e) => return fail_with(e, timeout, "wirecall stream"),
    };
    let mut out = std::io::stdout().lock();
    let progress = std::io::stderr().is_terminal();
    let (start, mut shown, mut count) = (Instant::now(), Instant::now(), 0u64);
    while let Some(item) = stream.next_item() {
        let value = match proc_.decode_item(&item) {
            Some(Ok(v)) => v,
            Some(Err(e)) => return fail(1, &format!("item {count} did not decode: {e}")),
            None => return fail(1, "not a stream"),
        };
        if writeln!(out, "{value}").is_err() {
            return 0; // stdout closed (`| head`): the stream is cancelled on drop
        }
        count += 1;
        if progress && start.elapsed() >= PROGRESS_AFTER && shown.elapsed() >= PROGRESS_AFTER / 4 {
            let rate = count as f64 / start.elapsed().as_secs_f64();
            eprint!("\r{count} items, {rate:.0}/s ");
            shown = Instant::now();
        }
    }
    let _ = out.flush();
    if progress && start.elapsed() >= PROGRESS_AFTER {
        eprintln!("\r{count} items in {:.1?}      ", start.elapsed());
    }
    match stream.finish() {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("wirecall stream: ended after {count} items");
            fail_with(e, timeout, "wirecall stream")
        }
    }
}
