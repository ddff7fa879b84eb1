//! What a message from the gateway says (docs/NATS.md): a result, a stream's item or its
//! end, a failure with the services API's error headers, or NATS's own "no responders";
//! and which exit code a failure's code becomes.

use async_nats::{HeaderMap, Message, StatusCode};

use crate::failure::Exit;

/// The services API's error headers.
const ERROR: &str = "Nats-Service-Error";
const ERROR_CODE: &str = "Nats-Service-Error-Code";
/// A stream's item number, and the end of a stream with its count of items.
const ITEM: &str = "Wirecall-Item";
const END: &str = "Wirecall-End";

/// One message on a request's reply subject.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Reply {
    /// A call's result: its JSON.
    Result(Vec<u8>),
    /// Item `n` (from 1) of a server stream: its JSON.
    Item(u64, Vec<u8>),
    /// A stream that ended well, after this many items.
    End(u64),
    /// The request failed: the services API's code and text.
    Failure { code: u16, text: String },
    /// Nobody subscribes to the subject (NATS answers so at once).
    NoResponders,
}

impl Reply {
    /// Reads `m`.
    pub(super) fn of(m: &Message) -> Reply {
        if m.status == Some(StatusCode::NO_RESPONDERS) {
            return Reply::NoResponders;
        }
        let headers = m.headers.as_ref();
        let get = |name: &str| {
            headers
                .and_then(|h: &HeaderMap| h.get(name))
                .map(|v| v.as_str())
        };
        if let Some(text) = get(ERROR) {
            // A missing or unreadable code is still a failure: the gateway's catch-all.
            let code = get(ERROR_CODE)
                .and_then(|c| c.trim().parse().ok())
                .unwrap_or(500);
            return Reply::Failure {
                code,
                text: text.to_string(),
            };
        }
        if let Some(n) = get(END) {
            return match n.trim().parse() {
                Ok(n) => Reply::End(n),
                Err(_) => bad_header(END, n),
            };
        }
        if let Some(n) = get(ITEM) {
            return match n.trim().parse() {
                Ok(n) => Reply::Item(n, m.payload.to_vec()),
                Err(_) => bad_header(ITEM, n),
            };
        }
        if let Some(status) = m.status.filter(|s| *s != StatusCode::OK) {
            // Another status from the server itself (none is expected on a reply subject).
            return Reply::Failure {
                code: 500,
                text: format!(
                    "the NATS server answered status {status}{}",
                    m.description
                        .as_deref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                ),
            };
        }
        Reply::Result(m.payload.to_vec())
    }
}

fn bad_header(name: &str, value: &str) -> Reply {
    Reply::Failure {
        code: 502,
        text: format!("the gateway sent header {name}: `{value}`, which is not a count"),
    }
}

/// The exit code of a failure the gateway answered with `code` (docs/NATS.md's table),
/// chosen as the same failure would exit on a direct link (`failure::EXIT_CODES`).
pub(super) fn exit_of(code: u16, text: &str) -> Exit {
    match code {
        // Arguments that do not fit the signature, or are not JSON: on a direct link they
        // are refused before anything is sent. (The gateway answers a device's own refusal
        // of the arguments with 400 too, which a direct call reports as 1.)
        400 => Exit::Usage,
        // Too large for the device: a direct call refuses it before sending.
        413 => Exit::Usage,
        // The device was re-flashed with another schema than the gateway registered.
        409 => Exit::Schema,
        504 => Exit::Timeout,
        // 503 is three things (docs/NATS.md): the device's `Busy` is its answer (1 on a
        // direct link); a device not connected or a gateway shutting down is the link (4).
        // The gateway's text for Busy starts with it; a device id may contain the word.
        503 if text.starts_with("Busy") => Exit::Device,
        503 => Exit::Link,
        // 404 (the device does not know it), 499 (cancelled), 500, 502 and anything
        // else: the device's side answered with an error.
        _ => Exit::Device,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn busy_is_told_by_the_start_of_the_text_not_a_device_id() {
        assert!(matches!(
            exit_of(
                503,
                "Busy: device d has as many calls in flight as it takes"
            ),
            Exit::Device
        ));
        assert!(matches!(
            exit_of(503, "device Busybox is not connected"),
            Exit::Link
        ));
    }

    fn message(headers: &[(&str, &str)], payload: &str) -> Message {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, *v);
        }
        Message {
            subject: "_INBOX.x".into(),
            reply: None,
            payload: payload.to_string().into(),
            headers: (!headers.is_empty()).then_some(map),
            status: None,
            description: None,
            length: 0,
        }
    }

    #[test]
    fn messages_read_as_the_contract_says() {
        assert_eq!(
            Reply::of(&message(&[], "42")),
            Reply::Result(b"42".to_vec())
        );
        assert_eq!(
            Reply::of(&message(&[("Wirecall-Item", "3")], "2")),
            Reply::Item(3, b"2".to_vec())
        );
        assert_eq!(
            Reply::of(&message(&[("Wirecall-End", "5")], "")),
            Reply::End(5)
        );
        assert_eq!(
            Reply::of(&message(
                &[
                    ("Nats-Service-Error", "device d: Busy"),
                    ("Nats-Service-Error-Code", "503")
                ],
                ""
            )),
            Reply::Failure {
                code: 503,
                text: "device d: Busy".into()
            }
        );
        // An error without a readable code is still an error.
        assert!(matches!(
            Reply::of(&message(&[("Nats-Service-Error", "x")], "")),
            Reply::Failure { code: 500, .. }
        ));
        assert!(matches!(
            Reply::of(&message(&[("Wirecall-End", "many")], "")),
            Reply::Failure { code: 502, .. }
        ));
        let mut none = message(&[], "");
        none.status = Some(StatusCode::NO_RESPONDERS);
        assert_eq!(Reply::of(&none), Reply::NoResponders);
    }

    #[test]
    fn codes_exit_as_the_same_failure_on_a_direct_link() {
        assert_eq!(exit_of(400, "add(a: i32, b: i32) -> i32"), Exit::Usage);
        assert_eq!(exit_of(413, ""), Exit::Usage);
        assert_eq!(exit_of(409, ""), Exit::Schema);
        assert_eq!(exit_of(504, ""), Exit::Timeout);
        assert_eq!(exit_of(503, "Busy: device d has ..."), Exit::Device);
        assert_eq!(exit_of(503, "device d is not connected"), Exit::Link);
        assert_eq!(exit_of(499, ""), Exit::Device);
        assert_eq!(exit_of(500, ""), Exit::Device);
        assert_eq!(exit_of(404, ""), Exit::Device);
    }
}
