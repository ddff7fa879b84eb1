//! `wirecall call`: one call by name on any device, JSON in and out, converted by the
//! device's own description (its manifest); and, for a procedure that returns a handle,
//! calls of its methods in the same session (`open '["log"]' then read`).
//!
//! Exit codes as `failure::EXIT_CODES` has them: the result on stdout and 0, or a message
//! on stderr and what failed. Arguments that do not fit the procedure (or a method of the
//! chain) are refused before anything is sent, and so is an unknown method.
//!
//! A returned handle prints as `handle Channel #0.1` (its interface, then its slot and
//! generation in the device's table); each `then` call's result follows on a line of its
//! own. The first call that fails stops the chain. The handle is released when the
//! command ends (and dies with the session anyway).

use wirecall::Handle;
use wirecall_adapters::host::{json_printable, printable, ClientError, PendingCall, RemoteHandle};
use wirecall_schema::{decode_output, encode_args, signature, Interface, Procedure, Type};

use crate::device::Device;
use crate::failure::{fail, fail_with, Exit};
use crate::Target;

const COMMAND: &str = "wirecall call";

/// The word that starts a method call on the handle the call before returned.
const THEN: &str = "then";

/// What follows the procedure's name on the command line: its arguments, then any
/// `then METHOD [ARGS]`.
#[derive(Debug, PartialEq, Eq)]
struct Chain {
    args: String,
    then: Vec<Then>,
}

/// One `then METHOD [ARGS]`.
#[derive(Debug, PartialEq, Eq)]
struct Then {
    method: String,
    args: String,
}

/// No arguments.
const NO_ARGS: &str = "[]";

impl Chain {
    /// Reads `[ARGS] (then METHOD [ARGS])*`: arguments default to none, and a word that
    /// is not `then` where a `then` must come is an error. (`then` is no JSON, so it is
    /// never taken for arguments.)
    fn parse(words: &[String]) -> Result<Chain, String> {
        let mut words = words.iter().peekable();
        // The arguments, if the next word is not `then`.
        let args_at = |words: &mut std::iter::Peekable<std::slice::Iter<'_, String>>| {
            words
                .next_if(|w| *w != THEN)
                .cloned()
                .unwrap_or_else(|| NO_ARGS.to_string())
        };
        let args = args_at(&mut words);
        let mut then = Vec::new();
        while let Some(word) = words.next() {
            if word != THEN {
                return Err(format!(
                    "expected `then METHOD [ARGS]` after the arguments, got `{word}` (the \
                     arguments are one JSON value: quote it as one word)"
                ));
            }
            let Some(method) = words.next() else {
                return Err("`then` needs the name of a method of the handle".to_string());
            };
            let args = args_at(&mut words);
            then.push(Then {
                method: method.clone(),
                args,
            });
        }
        let stdin_uses = std::iter::once(&args)
            .chain(then.iter().map(|t| &t.args))
            .filter(|a| *a == "-")
            .count();
        if stdin_uses > 1 {
            return Err("only one of the calls can read its arguments from stdin (`-`)".into());
        }
        Ok(Chain { args, then })
    }
}

pub(crate) fn run(target: &Target, name: &str, words: &[String], pipelined: bool) -> i32 {
    let chain = match Chain::parse(words) {
        Ok(c) => c,
        Err(e) => return fail(COMMAND, Exit::Usage, e),
    };
    // Every argument is read and parsed before the link is opened.
    let mut then_json = Vec::with_capacity(chain.then.len());
    for t in &chain.then {
        match crate::args::json(&t.args, "one JSON value") {
            Ok(v) => then_json.push(v),
            Err(e) => return fail(COMMAND, Exit::Usage, format!("{}: {e}", t.method)),
        }
    }
    let (device, json) = match Device::bind(target, &chain.args, COMMAND) {
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
    let bytes = match encode(p, &json) {
        Ok(b) => b,
        Err(code) => return code,
    };
    if let Type::Handle(interface) = &p.output {
        let methods = match methods(&device, p, interface, &chain.then, &then_json) {
            Ok(m) => m,
            Err(code) => return code,
        };
        return call_handle(target, &device, p, interface, &bytes, &methods, pipelined);
    }
    if !chain.then.is_empty() {
        return fail(
            COMMAND,
            Exit::Usage,
            format!(
                "`{name}` returns {}, not a handle: `then` calls a method of the handle a \
                 procedure returns (`wirecall list` shows them as `-> handle NAME`)",
                printable(&p.output.to_string())
            ),
        );
    }
    match device.client.call(p.id, &bytes, Some(device.left())) {
        Ok(out) => print_output(p, &out),
        Err(e) => fail_with(e, target.timeout, COMMAND),
    }
}

/// The arguments' bytes, or (printed) why they do not fit.
fn encode(p: &Procedure, json: &serde_json::Value) -> Result<Vec<u8>, i32> {
    encode_args(p, json).map_err(|e| {
        fail(
            COMMAND,
            Exit::Usage,
            format!("{e}; expected {}", printable(&signature(p))),
        )
    })
}

/// Prints a result decoded by `p`'s output type; returns the exit code.
fn print_output(p: &Procedure, out: &[u8]) -> i32 {
    match decode_output(p, out) {
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
    }
}

/// The methods the `then`s name, with their arguments encoded; or (printed) why not: the
/// interface or a method is unknown, a method is a stream, arguments do not fit.
fn methods<'a>(
    device: &'a Device,
    p: &Procedure,
    interface: &str,
    then: &[Then],
    json: &[serde_json::Value],
) -> Result<Vec<(&'a Procedure, Vec<u8>)>, i32> {
    if then.is_empty() {
        return Ok(Vec::new());
    }
    let Some(found) = device.manifest.interface(interface) else {
        // A handle of any interface (the parser refuses a name it does not declare).
        return Err(fail(
            COMMAND,
            Exit::Usage,
            format!(
                "`{}` returns a handle of no named interface: its methods cannot be called \
                 by name",
                printable(&p.name)
            ),
        ));
    };
    let mut out = Vec::with_capacity(then.len());
    for (t, json) in then.iter().zip(json) {
        let Some(m) = found.method(&t.method) else {
            return Err(fail(COMMAND, Exit::Usage, unknown_method(&t.method, found)));
        };
        if m.mode.is_stream() {
            return Err(fail(
                COMMAND,
                Exit::Usage,
                format!(
                    "`{}` of {} is a {}: only plain methods can be called with `then`",
                    t.method,
                    printable(&found.name),
                    m.mode.kind_name()
                ),
            ));
        }
        out.push((m, encode(m, json)?));
    }
    Ok(out)
}

fn unknown_method(method: &str, interface: &Interface) -> String {
    let names: Vec<&str> = interface.methods.iter().map(|m| m.name.as_str()).collect();
    let has = if names.is_empty() {
        "no methods".to_string()
    } else {
        names.join(", ")
    };
    printable(&format!(
        "unknown method `{method}` of interface {}; it has: {has}",
        interface.name
    ))
    .into_owned()
}

/// Calls `p`, which returns a handle of `interface`, prints the handle, then calls each
/// method on it and prints its result, stopping at the first failure. `pipelined`: every
/// call goes out at once, the methods naming "the handle `p`'s call returns".
fn call_handle(
    target: &Target,
    device: &Device,
    p: &Procedure,
    interface: &str,
    args: &[u8],
    methods: &[(&Procedure, Vec<u8>)],
    pipelined: bool,
) -> i32 {
    let handle = match device.client.call_export(
        Some(device.schema),
        p.id,
        args,
        Some(device.left()),
        pipelined,
    ) {
        Ok(h) => h,
        Err(e) => return fail_with(e, target.timeout, COMMAND),
    };
    if pipelined {
        // Start every call before waiting for any; after one that cannot start, none.
        let mut started: Vec<Result<PendingCall, ClientError>> = Vec::new();
        for (m, bytes) in methods {
            let call = handle.start(m.id, bytes, Some(device.left()));
            let failed = call.is_err();
            started.push(call);
            if failed {
                break;
            }
        }
        if let Err(code) = print_handle(target, &handle, interface) {
            return code;
        }
        for ((m, _), call) in methods.iter().zip(started) {
            let code = match call.and_then(PendingCall::wait) {
                Ok(out) => print_output(m, &out),
                Err(e) => fail_with(e, target.timeout, &method_command(m)),
            };
            if code != 0 {
                return code;
            }
        }
        return 0;
    }
    if let Err(code) = print_handle(target, &handle, interface) {
        return code;
    }
    for (m, bytes) in methods {
        let code = match handle.call(m.id, bytes, Some(device.left())) {
            Ok(out) => print_output(m, &out),
            Err(e) => fail_with(e, target.timeout, &method_command(m)),
        };
        if code != 0 {
            return code;
        }
    }
    0
}

/// What a failure of method `m` is reported as: `wirecall call: read`.
fn method_command(m: &Procedure) -> String {
    format!("{COMMAND}: {}", printable(&m.name))
}

/// Prints `handle Channel #0.1`, waiting for it if its call is still under way.
fn print_handle(target: &Target, handle: &RemoteHandle, interface: &str) -> Result<(), i32> {
    let h = handle
        .handle()
        .map_err(|e| fail_with(e, target.timeout, COMMAND))?;
    println!("{}", printable(&handle_text(interface, h)));
    Ok(())
}

/// `handle Channel #0.1`: the interface (none for a handle of any), then the slot and the
/// generation.
fn handle_text(interface: &str, h: Handle) -> String {
    let space = if interface.is_empty() { "" } else { " " };
    format!("handle{space}{interface} #{}.{}", h.slot(), h.generation())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Result<Chain, String> {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        Chain::parse(&words)
    }

    fn then(method: &str, args: &str) -> Then {
        Then {
            method: method.into(),
            args: args.into(),
        }
    }

    #[test]
    fn a_chain_is_args_then_methods_with_optional_args() {
        assert_eq!(
            parse(&[]).unwrap(),
            Chain {
                args: "[]".into(),
                then: vec![]
            }
        );
        assert_eq!(parse(&["[1, 2]"]).unwrap().args, "[1, 2]");
        assert_eq!(
            parse(&["[\"log\"]", "then", "read"]).unwrap(),
            Chain {
                args: "[\"log\"]".into(),
                then: vec![then("read", "[]")]
            }
        );
        assert_eq!(
            parse(&["then", "configure", "[3]", "then", "read", "then", "then"]).unwrap(),
            Chain {
                args: "[]".into(),
                then: vec![
                    then("configure", "[3]"),
                    then("read", "[]"),
                    then("then", "[]")
                ]
            }
        );
    }

    #[test]
    fn a_chain_that_does_not_read_so_is_refused() {
        assert!(parse(&["[1]", "[2]"])
            .unwrap_err()
            .contains("expected `then METHOD [ARGS]` after the arguments, got `[2]`"));
        assert!(parse(&["[1]", "then"])
            .unwrap_err()
            .contains("`then` needs the name of a method"));
        assert!(parse(&["then", "read", "[]", "[]"]).is_err());
        assert!(parse(&["-", "then", "read", "-"])
            .unwrap_err()
            .contains("only one"));
        assert!(parse(&["then", "read", "-"]).is_ok());
    }

    #[test]
    fn handles_print_with_their_interface_slot_and_generation() {
        assert_eq!(
            handle_text("Channel", Handle::new(0, 1)),
            "handle Channel #0.1"
        );
        assert_eq!(handle_text("", Handle::new(3, 70)), "handle #3.70");
    }
}
