//! `wirecall call`: one call by name, JSON in and out.
//!
//! Exit codes: 0 success (result on stdout), 1 the device answered with an error, 2 the
//! command line was wrong (unknown procedure, arguments of the wrong shape), 3 timeout,
//! 4 the link could not be opened, was refused or was lost.

use std::time::Duration;

use wirecall::{Config, WireError};
use wirecall_adapters::host::{Capacity, Client, ClientError, ClientOptions, Link};
use wirecall_tests::demo::demo;

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
    let client = match connect(&link, baud, capacity) {
        Ok(c) => c,
        Err(e) => return fail(4, &e),
    };
    match client.call(proc_.info.id, &bytes, Some(timeout)) {
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

/// A client over the link the command line names, expecting the demo service.
pub(crate) fn connect(link: &CallLink, baud: u32, capacity: Capacity) -> Result<Client, String> {
    let link = open(link, baud).map_err(|e| format!("cannot open the link: {e}"))?;
    let options = ClientOptions {
        config: Config::default()
            .expecting_schema(demo::SCHEMA_HASH)
            .with_stream_window(64),
        capacity,
        ..ClientOptions::default()
    };
    Client::over(link, options).map_err(|e| format!("cannot start the I/O thread: {e}"))
}

/// Reports a failed call on stderr as `command`; returns the exit code.
pub(crate) fn fail_with(e: ClientError, timeout: Duration, command: &str) -> i32 {
    let code = |code: i32, message: &str| {
        eprintln!("{command}: {message}");
        code
    };
    match e {
        ClientError::Remote(WireError::Busy, _) => code(
            1,
            "the device is busy (all its call slots are taken); try again",
        ),
        ClientError::Remote(WireError::BadArguments, d) => {
            code(1, &format!("the device rejected the arguments: {d}"))
        }
        e @ ClientError::Remote(..) => code(1, &e.to_string()),
        ClientError::Timeout => code(
            3,
            &format!("timed out after {timeout:?} (no answer, or no handshake, from the device)"),
        ),
        ClientError::ConnectionLost => code(4, "the link was lost before an answer"),
        e @ ClientError::Refused(_) => code(4, &e.to_string()),
        e => code(1, &e.to_string()),
    }
}

fn open(link: &CallLink, baud: u32) -> std::io::Result<Link> {
    if let Some(addr) = &link.tcp {
        Link::tcp(addr.as_str())
    } else if let Some(path) = &link.unix {
        Link::unix(path)
    } else if let Some(port) = &link.serial {
        Link::serial(port, baud)
    } else if let Some(cmd) = &link.exec {
        let mut c = std::process::Command::new("sh");
        c.arg("-c").arg(format!("exec {cmd}"));
        Link::spawn(c)
    } else {
        Err(std::io::Error::other("no link given"))
    }
}

fn fail(code: i32, message: &str) -> i32 {
    eprintln!("wirecall call: {message}");
    code
}
