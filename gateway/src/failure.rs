//! Why a request failed, as the services API's error headers carry it: an HTTP-like code
//! and one line of text (the codes are listed in docs/NATS.md).

use async_nats::service;
use wirecall::WireError;
use wirecall_adapters::host::ClientError;

/// A failed request: the services API's error code and text.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) code: usize,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(code: usize, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// The text as a header value: one line of visible text.
    pub(crate) fn status(&self) -> String {
        self.message
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    }
}

impl From<Failure> for service::error::Error {
    fn from(f: Failure) -> Self {
        service::error::Error {
            status: f.status(),
            code: f.code,
        }
    }
}

/// Why the gateway itself ended a call before the device answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The caller published the request's reply subject to the cancel subject.
    ByCaller,
    /// The gateway stops and its grace period is over.
    ShuttingDown,
    /// Items could not be kept: JetStream refused them.
    NotKept,
}

/// A failed call as the services API's error. `ended` says why the gateway cancelled the
/// call, if it did (the client then reports `Cancelled`).
pub(crate) fn failure_of(id: &str, e: &ClientError, ended: Option<Ended>) -> Failure {
    if let ClientError::Cancelled = e {
        return match ended {
            Some(Ended::ShuttingDown) => Failure::new(
                503,
                "the gateway is shutting down: call again (another gateway may serve it)",
            ),
            // The caller of a JetStream-kept stream is told why by the code that noticed.
            Some(Ended::NotKept) => Failure::new(503, "the stream's items could not be kept"),
            Some(Ended::ByCaller) | None => Failure::new(499, "cancelled by the caller"),
        };
    }
    let code = match e {
        ClientError::Remote(w, _) => match w {
            WireError::Busy
            | WireError::ShuttingDown
            | WireError::TooManyHandles
            | WireError::NoSession
            | WireError::Closed => 503,
            WireError::UnknownProcedure => 404,
            WireError::BadArguments => 400,
            WireError::TooLarge => 413,
            WireError::DeadlineExceeded => 504,
            WireError::Cancelled => 499,
            _ => 500,
        },
        ClientError::Timeout => 504,
        ClientError::ConnectionLost | ClientError::Refused(_) => 503,
        ClientError::IncompatibleSchema { .. } => 409,
        ClientError::TooLarge => 413,
        _ => 500,
    };
    let message = match e {
        ClientError::IncompatibleSchema { expected, peer } => format!(
            "device {id} now serves schema 0x{peer:08X}, not 0x{expected:08X} as when the \
             gateway registered it: it is being registered again, call again in a moment"
        ),
        _ => format!("device {id}: {e}"),
    };
    Failure::new(code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_errors_map_onto_service_error_codes() {
        let busy = ClientError::Remote(WireError::Busy, String::new());
        assert_eq!(failure_of("d", &busy, None).code, 503);
        assert_eq!(failure_of("d", &ClientError::Timeout, None).code, 504);
        assert_eq!(
            failure_of("d", &ClientError::ConnectionLost, None).code,
            503
        );
        let closed = ClientError::Remote(WireError::Closed, String::new());
        assert_eq!(failure_of("d", &closed, None).code, 503);
        let bad = ClientError::Remote(WireError::BadArguments, "add".into());
        let f = failure_of("d", &bad, None);
        assert_eq!(f.code, 400);
        assert!(
            f.message.starts_with("device d: the device answered"),
            "{}",
            f.message
        );
        let flashed = ClientError::IncompatibleSchema {
            expected: 1,
            peer: 2,
        };
        let f = failure_of("d", &flashed, None);
        assert_eq!(f.code, 409);
        assert!(f.message.contains("0x00000002"), "{}", f.message);
    }

    #[test]
    fn a_cancel_says_who_ended_the_call() {
        let c = ClientError::Cancelled;
        assert_eq!(failure_of("d", &c, Some(Ended::ByCaller)).code, 499);
        let f = failure_of("d", &c, Some(Ended::ShuttingDown));
        assert_eq!(f.code, 503);
        assert!(f.message.contains("shutting down"));
    }

    #[test]
    fn an_error_header_is_one_line() {
        let e: service::error::Error = Failure::new(500, "two\nlines").into();
        assert_eq!(e.status, "two lines");
        assert_eq!(e.code, 500);
    }
}
