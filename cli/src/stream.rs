//! `wirecall stream`: opens a stream by name and prints one JSON line per item the device
//! sends; a stream that takes items from the caller reads them from stdin, one JSON value
//! per line, and ends them at the end of stdin.
//!
//! Exit codes as `wirecall call`'s. Items already printed stay printed: every line on
//! stdout is one whole item, in order. A client stream prints its one answer at the end.

use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};
use wirecall_adapters::host::json_printable;

use wirecall::StreamMode;
use wirecall_adapters::host::CallStream;
use wirecall_schema::{
    decode_item, decode_output, encode_args, encode_in_item, signature, Mode, Procedure,
};

use crate::device::Device;
use crate::failure::{fail, fail_with, Exit};
use crate::Target;

const COMMAND: &str = "wirecall stream";

/// A stream that runs longer than this gets a progress line on a terminal's stderr.
const PROGRESS_AFTER: Duration = Duration::from_secs(1);

pub(crate) fn run(target: &Target, name: &str, args: &str) -> i32 {
    // Arguments from stdin are read once the device has said whether the stream takes
    // stdin for its items; any others before the link is opened.
    let (device, json) = if args == "-" {
        match Device::open(target, COMMAND) {
            Ok(d) => (d, serde_json::Value::Null),
            Err(code) => return code,
        }
    } else {
        match Device::bind(target, args, COMMAND) {
            Ok(b) => b,
            Err(code) => return code,
        }
    };
    let p = match device.procedure(name, COMMAND) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let mode = match p.mode {
        Mode::Call => {
            return fail(
                COMMAND,
                Exit::Usage,
                format!("`{name}` is not a stream: use `wirecall call ... {name} ARGS`"),
            )
        }
        Mode::ClientStream { .. } => StreamMode::ClientStream,
        Mode::ServerStream { .. } => StreamMode::ServerStream,
        Mode::Bidi { .. } => StreamMode::Bidi,
    };
    let json = match args {
        "-" if mode.caller_sends() => {
            return fail(
                COMMAND,
                Exit::Usage,
                format!("`{name}` reads its items from stdin: give its arguments on the command line or with @FILE"),
            )
        }
        "-" => match crate::args::json(args, "one JSON value") {
            Ok(v) => v,
            Err(e) => return fail(COMMAND, Exit::Usage, e),
        },
        _ => json,
    };
    let bytes = match encode_args(p, &json) {
        Ok(b) => b,
        Err(e) => {
            return fail(
                COMMAND,
                Exit::Usage,
                format!("{e}; expected {}", signature(p)),
            )
        }
    };
    let mut stream = match device.client.open_stream(p.id, &bytes, mode, None) {
        Ok(s) => s,
        Err(e) => return fail_with(e, target.timeout, COMMAND),
    };
    let count = if mode.caller_sends() {
        match send_stdin(&mut stream, p) {
            Ok(n) => n,
            Err(code) => return code,
        }
    } else {
        match print_items(&mut stream, p) {
            Ok(n) => n,
            Err(code) => return code,
        }
    };
    match stream.finish() {
        Ok(out) if mode == StreamMode::ClientStream => match decode_output(p, &out) {
            Ok(v) => {
                // Strings in it are the device's text: escaped for the terminal.
                println!("{}", json_printable(&v.to_string()));
                0
            }
            Err(e) => fail(
                COMMAND,
                Exit::Device,
                format!("the answer did not decode: {e}"),
            ),
        },
        Ok(_) => 0,
        Err(e) => {
            eprintln!("{COMMAND}: ended after {count} items");
            fail_with(e, target.timeout, COMMAND)
        }
    }
}

/// Prints item number `n` as a JSON line. `Err` is the exit code to leave with now: the item
/// did not decode, or 0 once stdout is closed (`| head`: done; the stream is cancelled when
/// it is dropped).
fn print_item(out: &mut impl Write, p: &Procedure, item: &[u8], n: u64) -> Result<(), i32> {
    let value = decode_item(p, item).map_err(|e| {
        fail(
            COMMAND,
            Exit::Device,
            format!("item {n} did not decode: {e}"),
        )
    })?;
    writeln!(out, "{value}").map_err(|_| 0)
}

/// Prints each item the device sends as a JSON line; returns how many. `Err` is the exit
/// code to leave with now: an item that did not decode, or 0 once stdout is closed.
fn print_items(stream: &mut CallStream, p: &Procedure) -> Result<u64, i32> {
    let mut out = std::io::stdout().lock();
    let progress = std::io::stderr().is_terminal();
    let (start, mut shown, mut count) = (Instant::now(), Instant::now(), 0u64);
    while let Some(item) = stream.next_item() {
        print_item(&mut out, p, &item, count)?;
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
    Ok(count)
}

/// Sends each line of stdin as an item, then ends the items. A line that is not an item
/// of the stream's type cancels the stream (exit 2): what was sent before it stays sent.
/// On a two-way stream the device's items are printed as they come back, between sends
/// (so that they never fill the window while this side waits for credit), and the rest
/// after the end of stdin; returns how many. A stream that ends while items are still being
/// sent is reported by its outcome (`finish`), which says why.
fn send_stdin(stream: &mut CallStream, p: &Procedure) -> Result<u64, i32> {
    let two_way = stream.mode() == StreamMode::Bidi;
    let mut out = std::io::stdout().lock();
    let mut count = 0u64;
    let mut print_ready = |stream: &mut CallStream, count: &mut u64| -> Result<(), i32> {
        while let Some(item) = stream.try_next_item() {
            print_item(&mut out, p, &item, *count)?;
            let _ = out.flush(); // shown as it comes, between the sends
            *count += 1;
        }
        Ok(())
    };
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line =
            line.map_err(|e| fail(COMMAND, Exit::Usage, format!("cannot read stdin: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let item = serde_json::from_str(&line)
            .map_err(|e| format!("line {} is not JSON ({e})", n + 1))
            .and_then(|v| encode_in_item(p, &v).map_err(|e| format!("line {}: {e}", n + 1)))
            .map_err(|e| {
                fail(
                    COMMAND,
                    Exit::Usage,
                    format!("{e}; the stream was cancelled"),
                )
            })?;
        if two_way {
            print_ready(stream, &mut count)?;
        }
        if stream.send(&item).is_err() {
            return Ok(count); // the stream is over: its outcome says why
        }
    }
    if stream.end_items().is_err() {
        return Ok(count);
    }
    if two_way {
        print_ready(stream, &mut count)?;
        drop(out);
        count += print_items(stream, p)?;
    }
    Ok(count)
}
