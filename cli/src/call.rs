//! `wirecall call`: one call by name, JSON in and out.
//!
//! Exit codes as `failure::EXIT_CODES` has them: the result on stdout and 0, or a message
//! on stderr and what failed.

use std::time::{Duration, Instant};

use wirecall::Config;
use wirecall_adapters::host::{Capacity, Client, ClientOptions};
use wirecall_tests::demo::demo;

use crate::failure::fail_with;
use crate::links::{self, LinkError};
use crate::{procs, CallLink};

pub(crate) fn run(
    link: CallLink,
    baud: u32,
    timeout: Duration,
    name: &str,
    args: &str,
    capacity: Capacity,
) -> i32 {
    let proc_ = match procs::find(name) {
        Ok(p) => p,
        Err(e) => return fail(2, &e),
    };
    if proc_.info.mode != wirecall::StreamMode::Call {
        return fail(
            2,
            &format!("`{name}` is a stream: use `wirecall stream ... {name} ARGS`"),
        );
    }
    let bytes = match encode_args(&proc_, args) {
        Ok(b) => b,
        Err(e) => return fail(2, &e),
    };
    // The deadline covers the handshake too; the call gets what the handshake left of it.
    let deadline = Instant::now() + timeout;
    let client = match connect(&link, baud, capacity, timeout) {
        Ok(c) => c,
        Err(e) => return fail(e.exit() as i32, &e.to_string()),
    };
    let left = deadline.saturating_duration_since(Instant::now());
    match client.call(proc_.info.id, &bytes, Some(left)) {
        Ok(out) => match proc_.decode(&out) {
            Ok(v) => {
                println!("{v}");
                0
            }
            Err(e) => fail(1, &format!("the result did not decode: {e}")),
        },
        Err(e) => fail_with(e, timeout, "wirecall call"),
    }
}

/// The JSON arguments of `proc_`, encoded; the error names the expected shape.
pub(crate) fn encode_args(proc_: &procs::Proc, args: &str) -> Result<Vec<u8>, String> {
    let json: serde_json::Value = serde_json::from_str(args).map_err(|e| {
        format!(
            "the arguments are not JSON ({e}); expected {}",
            proc_.shape()
        )
    })?;
    proc_.encode(json)
}

/// A client over the link the command line names, expecting the demo service, once a
/// session is established (within `timeout`).
pub(crate) fn connect(
    link: &CallLink,
    baud: u32,
    capacity: Capacity,
    timeout: Duration,
) -> Result<Client, LinkError> {
    let options = ClientOptions {
        config: Config::default()
            .expecting_schema(demo::SCHEMA_HASH)
            .with_stream_window(64),
        capacity,
        ..ClientOptions::default()
    };
    links::connect(link, baud, options, timeout)
}

fn fail(code: i32, message: &str) -> i32 {
    eprintln!("wirecall call: {message}");
    code
}
