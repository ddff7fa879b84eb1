//! `wirecall call --nats URL DEVICE PROCEDURE [ARGS]`: one request to
//! `wirecall.DEVICE.PROCEDURE` through whichever gateway NATS hands it to, its reply
//! printed as `wirecall call` prints a result, or a server stream's items one JSON line
//! each as `wirecall stream` prints them.
//!
//! The request goes out with an inbox of this command's as its reply subject, not as a
//! plain NATS request: a server stream answers with several messages on it (items, then
//! `Wirecall-End` or an error), a call with one, and the first message says which. On
//! Ctrl-C (or SIGTERM) the reply subject is published to `wirecall.DEVICE.PROCEDURE.cancel`
//! and flushed before the command exits, so the device's call is cancelled instead of
//! running on for nobody (docs/NATS.md, Cancellation).

use std::io::Write;
use std::time::Duration;

use async_nats::{Client, HeaderMap};
use futures_util::StreamExt;
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::{timeout_at, Instant};
use wirecall_adapters::host::{json_printable, printable};

use super::reply::{exit_of, Reply};
use super::{
    block_on, check_token, connect, discover, SERVICE_PREFIX, SUBJECT_ROOT, TIMEOUT_HEADER,
};
use crate::failure::{fail, Exit};

const COMMAND: &str = "wirecall call";

/// How long past the call's deadline this command still waits for the gateway's own
/// answer (504, or the result that just made it): the gateway's answer says more than
/// this command's silence would. Past it, no gateway is answering at all.
const MARGIN: Duration = Duration::from_secs(1);

/// How long the cancel may take to reach the server on Ctrl-C before the command leaves
/// anyway.
const CANCEL_FLUSH: Duration = Duration::from_secs(2);

/// No arguments.
const NO_ARGS: &str = "[]";

/// The exit code after Ctrl-C (SIGINT) or SIGTERM: what a shell reports for a command the
/// signal ended, as it would have ended this one had it not stayed to send the cancel.
fn signalled(signo: i32) -> i32 {
    128 + signo
}

/// `words` are what followed DEVICE on the command line: PROCEDURE, then ARGS if any.
pub(crate) fn run(url: &str, timeout: Duration, device: &str, words: &[String]) -> i32 {
    let (procedure, args) = match words {
        [] => {
            return fail(
                COMMAND,
                Exit::Usage,
                "--nats takes DEVICE PROCEDURE [ARGS]: the procedure is missing",
            )
        }
        [p] => (p.as_str(), NO_ARGS),
        [p, a] => (p.as_str(), a.as_str()),
        [_, _, word, ..] => {
            return fail(
                COMMAND,
                Exit::Usage,
                format!(
                    "--nats takes DEVICE PROCEDURE [ARGS], then nothing (got `{}`): the \
                     gateway serves no handles, so there is no `then`",
                    printable(word)
                ),
            )
        }
    };
    for (what, name) in [("device id", device), ("procedure name", procedure)] {
        if let Err(e) = check_token(what, name) {
            return fail(COMMAND, Exit::Usage, e);
        }
    }
    // Read and parsed before anything is sent, as for a direct call.
    let json = match crate::args::json(args, "one JSON value") {
        Ok(v) => v,
        Err(e) => return fail(COMMAND, Exit::Usage, e),
    };
    let call = Call {
        url,
        device,
        procedure,
        timeout,
    };
    block_on(COMMAND, call.run(json.to_string()))
}

/// One request and what it needs to report on it.
struct Call<'a> {
    url: &'a str,
    device: &'a str,
    procedure: &'a str,
    timeout: Duration,
}

impl Call<'_> {
    fn subject(&self) -> String {
        format!("{SUBJECT_ROOT}.{}.{}", self.device, self.procedure)
    }

    async fn run(self, payload: String) -> i32 {
        let start = Instant::now();
        let client = match connect(COMMAND, self.url, self.timeout).await {
            Ok(c) => c,
            Err(code) => return code,
        };
        let deadline = start + self.timeout;
        let inbox = client.new_inbox();
        let mut replies = match client.subscribe(inbox.clone()).await {
            Ok(s) => s,
            Err(e) => {
                return fail(
                    COMMAND,
                    Exit::Link,
                    format!("cannot subscribe to an inbox: {e}"),
                )
            }
        };
        // Registered just before the request goes out: a Ctrl-C from then on is this
        // command's to handle (it sends the cancel), one before it ends it as usual.
        let (Ok(mut interrupt), Ok(mut terminate)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return fail(COMMAND, Exit::Link, "cannot handle Ctrl-C");
        };
        // The device gets what is left of the command's deadline as its own.
        let left = deadline.saturating_duration_since(Instant::now());
        let mut headers = HeaderMap::new();
        headers.insert(
            TIMEOUT_HEADER,
            left.as_millis()
                .clamp(1, u128::from(u64::MAX))
                .to_string()
                .as_str(),
        );
        let subject = self.subject();
        if let Err(e) = client
            .publish_with_reply_and_headers(subject.clone(), inbox.clone(), headers, payload.into())
            .await
        {
            // Arguments over the server's largest message: too large, as a direct call's
            // arguments over the device's frames are, refused before they are sent.
            let exit = match e.kind() {
                async_nats::client::PublishErrorKind::MaxPayloadExceeded => Exit::Usage,
                _ => Exit::Link,
            };
            return fail(COMMAND, exit, format!("cannot publish {subject}: {e}"));
        }
        let mut out = std::io::stdout().lock();
        let mut items = 0u64;
        // The gateway applies the deadline to the whole exchange, a stream's items and end
        // included, and answers 504 when it passes; past it and the margin, no gateway is
        // answering at all.
        let until = deadline + MARGIN;
        loop {
            let m = tokio::select! {
                m = timeout_at(until, replies.next()) => m,
                _ = interrupt.recv() => return self.interrupted(&client, &inbox, 2).await,
                _ = terminate.recv() => return self.interrupted(&client, &inbox, 15).await,
            };
            let m = match m {
                Ok(Some(m)) => m,
                Ok(None) => return fail(COMMAND, Exit::Link, "the connection to NATS was closed"),
                Err(_) => {
                    // The gateway may be alive but stuck: it should stop the call too.
                    self.cancel(&client, &inbox).await;
                    let waited = until.duration_since(start);
                    return fail(
                        COMMAND,
                        Exit::Timeout,
                        format!(
                            "timed out after {waited:?} without an answer from a gateway on \
                             {subject}"
                        ),
                    );
                }
            };
            match Reply::of(&m) {
                Reply::Result(json) if items == 0 => return print_result(&mut out, &json),
                Reply::Result(_) => {
                    return fail(
                        COMMAND,
                        Exit::Device,
                        format!("after {items} items the gateway sent a message that is no item"),
                    )
                }
                Reply::Item(n, json) => {
                    items += 1;
                    if n != items {
                        // Core NATS drops messages for a subscriber that falls behind.
                        self.cancel(&client, &inbox).await;
                        return fail(
                            COMMAND,
                            Exit::Link,
                            format!("item {items} of the stream was lost on the bus (got item {n} next)"),
                        );
                    }
                    if let Err(code) = print_item(&mut out, &json, n) {
                        self.cancel(&client, &inbox).await;
                        return code;
                    }
                }
                Reply::End(n) if n == items => return 0,
                Reply::End(n) => {
                    return fail(
                        COMMAND,
                        Exit::Link,
                        format!(
                            "the stream sent {n} items, {} of them were lost on the bus",
                            n.saturating_sub(items)
                        ),
                    )
                }
                Reply::Failure { code, text } => {
                    if items > 0 {
                        eprintln!("{COMMAND}: ended after {items} items");
                    }
                    return fail(
                        COMMAND,
                        exit_of(code, &text),
                        format!("{} (error {code} from the gateway)", printable(&text)),
                    );
                }
                Reply::NoResponders => return self.no_responders(&client).await,
            }
        }
    }

    /// Publishes the request's reply subject on the cancel subject and flushes it, within
    /// [`CANCEL_FLUSH`]; whether it went out (if not, stderr says why).
    async fn cancel(&self, client: &Client, inbox: &str) -> bool {
        let cancel = format!("{}.cancel", self.subject());
        let sent = async {
            client
                .publish(cancel.clone(), inbox.to_string().into())
                .await
                .map_err(|e| e.to_string())?;
            client.flush().await.map_err(|e| e.to_string())
        };
        let why = match tokio::time::timeout(CANCEL_FLUSH, sent).await {
            Ok(Ok(())) => return true,
            Ok(Err(e)) => e,
            Err(_) => format!("not sent within {CANCEL_FLUSH:?}"),
        };
        eprintln!("{COMMAND}: cannot send the cancel on {cancel}: {why}");
        false
    }

    /// Ctrl-C or SIGTERM (`signo`) during the call: cancels it; returns the exit code.
    async fn interrupted(&self, client: &Client, inbox: &str, signo: i32) -> i32 {
        if self.cancel(client, inbox).await {
            eprintln!(
                "{COMMAND}: interrupted; the call was cancelled ({}.cancel)",
                self.subject()
            );
        }
        signalled(signo)
    }

    /// Nobody subscribes to the subject: no gateway serves the device, or the device has
    /// no such procedure (an endpoint per procedure). Discovery tells which.
    async fn no_responders(&self, client: &Client) -> i32 {
        let (device, procedure, url) = (self.device, self.procedure, self.url);
        let hint = format!(
            "\n  hint: `wirecall list --nats {url}` lists the devices served and their procedures"
        );
        let bound = self.timeout.min(Duration::from_secs(2));
        let infos = discover::wirecall_services(client, Some(device), bound)
            .await
            .unwrap_or_default();
        let mut names: Vec<&str> = infos
            .iter()
            .flat_map(|i| i.endpoints.iter().map(|e| e.name.as_str()))
            .collect();
        names.sort_unstable();
        names.dedup();
        if infos.is_empty() {
            fail(
                COMMAND,
                Exit::Link,
                format!(
                    "no gateway serves {}: no responders (service {SERVICE_PREFIX}{device} is \
                     not on NATS at {url}){hint}",
                    self.subject()
                ),
            )
        } else if !names.contains(&procedure) {
            // As an unknown procedure on a direct link: refused, nothing was called.
            fail(
                COMMAND,
                Exit::Usage,
                printable(&format!(
                    "unknown procedure `{procedure}`: device {device} serves on NATS: {}",
                    names.join(", ")
                )),
            )
        } else {
            fail(
                COMMAND,
                Exit::Link,
                format!(
                    "no gateway serves {} right now: no responders (its gateways may be \
                     stopping){hint}",
                    self.subject()
                ),
            )
        }
    }
}

/// Prints a call's JSON result as `wirecall call` does; returns the exit code.
fn print_result(out: &mut impl Write, json: &[u8]) -> i32 {
    match serde_json::from_slice::<serde_json::Value>(json) {
        Ok(v) => {
            // Strings in it are the device's text: escaped for the terminal.
            let _ = writeln!(out, "{}", json_printable(&v.to_string()));
            0
        }
        Err(e) => fail(
            COMMAND,
            Exit::Device,
            format!("the gateway's result is not JSON: {e}"),
        ),
    }
}

/// Prints item `n` as a JSON line, as `wirecall stream` does. `Err` is the exit code to
/// leave with (after cancelling): the item is not JSON, or 0 once stdout is closed
/// (`| head`: done).
fn print_item(out: &mut impl Write, json: &[u8], n: u64) -> Result<(), i32> {
    let v = serde_json::from_slice::<serde_json::Value>(json).map_err(|e| {
        fail(
            COMMAND,
            Exit::Device,
            format!("item {n} from the gateway is not JSON: {e}"),
        )
    })?;
    writeln!(out, "{}", json_printable(&v.to_string()))
        .and_then(|()| out.flush())
        .map_err(|_| 0)
}
