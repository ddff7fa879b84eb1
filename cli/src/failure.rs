//! How a command fails: its exit code and the message it leaves on stderr.
//!
//! The codes are one contract for every command that talks to a device (`call`, `stream`),
//! written once in [`EXIT_CODES`] and shown by `--help`. A code says what failed, never how
//! long anyone waited: a handshake that never completes is 4 whatever `--timeout` is.

use std::fmt::Display;
use std::time::Duration;
use wirecall_adapters::host::printable;

use wirecall::WireError;
use wirecall_adapters::host::ClientError;

/// The exit codes' text, as a literal (for `concat!` in help texts that add to it).
macro_rules! exit_codes {
    () => {
        "\
Exit codes (call, stream):
  0  success
  1  the device answered with an error, or an answer that did not decode (a result, an
     item, or its description: none, or unusable)
  2  the command line or the arguments were wrong; nothing was sent (a stream that reads
     its items from stdin stops at a line that is no item; the lines before it were sent)
  3  the call timed out after the session was established (or a stream went idle)
  4  the link could not be opened, or no session was established on it (refused, not a
     wirecall device, incompatible protocol version, no handshake in time), or it was
     lost before the answer; with --nats: the NATS server cannot be reached, or no
     gateway serves the device
  5  the device serves an incompatible schema"
    };
}
pub(crate) use exit_codes;

/// The exit codes, for `--help` and the README.
pub(crate) const EXIT_CODES: &str = exit_codes!();

/// The exit codes of `serve`, for its `--help`.
pub(crate) const SERVE_EXIT_CODES: &str = "\
Exit codes: 2 the command line was wrong; 4 it cannot listen on the address or open the
port (the error says why, instead of the \"serving\" line). Once serving, it runs until
stopped.";

/// The exit codes of `web`, for its `--help`.
pub(crate) const WEB_EXIT_CODES: &str = "\
Exit codes: 2 the command line was wrong, or the web root lacks demo/index.html or dist/
(build the package with `npm run build` in js/); 4 it cannot listen on the address. Once
serving, it runs until stopped.";

/// What failed; the discriminant is the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// The device answered with an error.
    Device = 1,
    /// The command line was wrong; nothing was sent.
    Usage = 2,
    /// No answer in time, on an established session.
    Timeout = 3,
    /// No link, no session, or the link was lost.
    Link = 4,
    /// The device serves another schema than the one expected.
    Schema = 5,
}

/// Prints `command: message` on stderr; returns the exit code.
pub(crate) fn fail(command: &str, exit: Exit, message: impl Display) -> i32 {
    eprintln!("{command}: {message}");
    exit as i32
}

/// Reports a call (or stream) that failed on an established session, as `command`;
/// returns the exit code. `timeout` is the call's, for the message.
pub(crate) fn fail_with(e: ClientError, timeout: Duration, command: &str) -> i32 {
    let (exit, message) = match e {
        ClientError::Remote(WireError::Busy, _) => (
            Exit::Device,
            "the device is busy (all its call slots are taken); try again".to_string(),
        ),
        ClientError::Remote(WireError::BadArguments, d) if d.is_empty() => (
            Exit::Device,
            "the device rejected the arguments".to_string(),
        ),
        ClientError::Remote(WireError::BadArguments, d) => (
            Exit::Device,
            format!("the device rejected the arguments: {}", printable(&d)),
        ),
        e @ (ClientError::Remote(..)
        | ClientError::Decode
        | ClientError::Unsupported
        | ClientError::TooDeep
        | ClientError::StreamEnded) => (Exit::Device, e.to_string()),
        ClientError::Timeout => (
            Exit::Timeout,
            format!("timed out after {timeout:?} without an answer from the device"),
        ),
        // Arguments too large for the device's frames are refused before anything is sent.
        e @ ClientError::TooLarge => (Exit::Usage, e.to_string()),
        // The link or the peer failed the session, not the procedure.
        e @ (ClientError::ConnectionLost
        | ClientError::Refused(_)
        | ClientError::ItemLost
        | ClientError::FlowControl) => (Exit::Link, e.to_string()),
        // A kind added to the runtime later: the device's side of things until known.
        e => (Exit::Device, e.to_string()),
    };
    fail(command, exit, message)
}
