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
    let json: serde_json::Value = match serde_json::from_str(args) {
        Ok(v) => v,
        Err(e) => {
            return fail(
                2,
                &format!(
                    "the arguments are not JSON ({e}); expected {}",
                    proc_.shape()
                ),
            )
        }
    };
    let bytes = match proc_.encode(json) {
        Ok(b) => b,
        Err(e) => return fail(2, &e),
    };
    let link = match open(&link, baud) {
        Ok(l) => l,
        Err(e) => return fail(4, &format!("cannot open the link: {e}")),
    };
    let options = ClientOptions {
        config: Config::default().expecting_schema(demo::SCHEMA_HASH),
        capacity,
        ..ClientOptions::default()
    };
    let client = match Client::over(link, options) {
        Ok(c) => c,
        Err(e) => return fail(4, &format!("cannot start the I/O thread: {e}")),
    };
    match client.call(proc_.info.id, &bytes, Some(timeout)) {
        Ok(out) => match proc_.decode(&out) {
            Ok(v) => {
                println!("{v}");
                0
            }
            Err(e) => fail(1, &format!("the result did not decode: {e}")),
        },
        Err(ClientError::Remote(WireError::Busy, _)) => fail(
            1,
            "the device is busy (all its call slots are taken); try again",
        ),
        Err(ClientError::Remote(WireError::BadArguments, d)) => {
            fail(1, &format!("the device rejected the arguments: {d}"))
        }
        Err(e @ ClientError::Remote(..)) => fail(1, &e.to_string()),
        Err(ClientError::Timeout) => fail(
            3,
            &format!("timed out after {timeout:?} (no answer, or no handshake, from the device)"),
        ),
        Err(ClientError::ConnectionLost) => fail(4, "the link was lost before an answer"),
        Err(e @ ClientError::Refused(_)) => fail(4, &e.to_string()),
        Err(e) => fail(1, &e.to_string()),
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
