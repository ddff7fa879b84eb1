//! `wirecall call --nats` and `wirecall list --nats`: a device behind `wirecall-gateway`,
//! reached over a NATS bus as docs/NATS.md says (service `wirecall-ID`, subjects
//! `wirecall.ID.PROCEDURE`, JSON payloads, the services API's error headers).
//!
//! Everything else in this command is blocking; only these two commands start a tokio
//! runtime (async-nats needs one), a single-threaded one, for the command's lifetime.

mod call;
mod discover;
mod list;
mod reply;

use std::time::Duration;

use crate::failure::{fail, Exit};

pub(crate) use call::run as call;
pub(crate) use list::run as list;

/// The root of every device's subjects: `wirecall.ID.PROCEDURE`.
const SUBJECT_ROOT: &str = "wirecall";

/// The prefix of every device's service name: `wirecall-ID`.
const SERVICE_PREFIX: &str = "wirecall-";

/// The request header that carries the call's deadline in milliseconds (NATS requests
/// have none of their own).
const TIMEOUT_HEADER: &str = "Wirecall-Timeout-Ms";

/// Runs `work` on a runtime of its own; returns its exit code.
fn block_on<F: std::future::Future<Output = i32>>(command: &str, work: F) -> i32 {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => {
            let code = runtime.block_on(work);
            // A blocking task still running (a name lookup of the NATS server that hangs)
            // must not keep the command past its answer.
            runtime.shutdown_timeout(std::time::Duration::from_millis(100));
            code
        }
        Err(e) => fail(
            command,
            Exit::Link,
            format!("cannot start the runtime: {e}"),
        ),
    }
}

/// Connects to the NATS server at `url` within `timeout`. A server that cannot be reached
/// is the link that could not be opened (exit 4), as for a device named directly.
async fn connect(command: &str, url: &str, timeout: Duration) -> Result<async_nats::Client, i32> {
    let options = async_nats::ConnectOptions::new()
        .name("wirecall")
        .connection_timeout(timeout);
    // Bounded twice: the option bounds each attempt's TCP connect and handshake, this the
    // whole (a server that accepts and then says nothing).
    match tokio::time::timeout(timeout, options.connect(url)).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(fail(
            command,
            Exit::Link,
            format!("cannot connect to NATS at {url}: {e}"),
        )),
        Err(_) => Err(fail(
            command,
            Exit::Link,
            format!("cannot connect to NATS at {url}: no answer within {timeout:?}"),
        )),
    }
}

/// Checks that `name` (a device id or a procedure name) is one subject token of the kind
/// the gateway serves: letters, digits, `-` and `_`. Anything else could never be served,
/// and `.`, `*` or `>` would turn the subject into another one or a wildcard.
fn check_token(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "bad {what} `{}`: the gateway's {what}s are letters, digits, `-` and `_`",
            wirecall_adapters::host::printable(name)
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_subject_tokens_are_names() {
        assert!(check_token("device id", "demo").is_ok());
        assert!(check_token("device id", "dev_1-a").is_ok());
        for bad in ["", "a.b", "*", ">", "a b", "é"] {
            let e = check_token("device id", bad).unwrap_err();
            assert!(e.contains("bad device id"), "{bad}: {e}");
        }
    }
}
