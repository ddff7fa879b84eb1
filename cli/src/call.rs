//! `wirecall call`: one call by name on any device, JSON in and out, converted by the
//! device's own description (its manifest).
//!
//! Exit codes as `failure::EXIT_CODES` has them: the result on stdout and 0, or a message
//! on stderr and what failed. Arguments that do not fit the procedure are refused before
//! anything is sent.

use wirecall_adapters::host::json_printable;
use wirecall_schema::{decode_output, encode_args, signature};

use crate::device::Device;
use crate::failure::{fail, fail_with, Exit};
use crate::Target;

const COMMAND: &str = "wirecall call";

pub(crate) fn run(target: &Target, name: &str, args: &str) -> i32 {
    let (device, json) = match Device::bind(target, args, COMMAND) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let p = match device.procedure(name, COMMAND) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if p.mode.is_stream() {
        return fail(
            COMMAND,
            Exit::Usage,
            format!(
                "`{name}` is a {}: use `wirecall stream ... {name} ARGS`",
                p.mode.kind_name()
            ),
        );
    }
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
    match device.client.call(p.id, &bytes, Some(device.left())) {
        Ok(out) => match decode_output(p, &out) {
            Ok(v) => {
                // Strings in it are the device's text: escaped for the terminal.
                println!("{}", json_printable(&v.to_string()));
                0
            }
            Err(e) => fail(
                COMMAND,
                Exit::Device,
                format!("the result did not decode: {e}"),
            ),
        },
        Err(e) => fail_with(e, target.timeout, COMMAND),
    }
}
