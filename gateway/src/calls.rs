//! A request to a plain procedure: its arguments and deadline read, the call made on the
//! device (checked against the schema the gateway registered), its result in JSON.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wirecall_adapters::host::printable;
use wirecall_schema::{decode_output, encode_args, signature, Procedure};

use crate::device::Device;
use crate::failure::{failure_of, Failure};
use crate::inflight::Ticket;

/// The request header that carries the caller's timeout in milliseconds: NATS requests
/// carry no deadline of their own, so a caller that wants the device to give up when it
/// does says so here. Without it a call gets the device's default deadline.
pub(crate) const TIMEOUT_HEADER: &str = "Wirecall-Timeout-Ms";

/// What a request asks of the device: encoded arguments and a deadline, fixed when the
/// request arrived (so that waiting for a thread counts against it).
pub(crate) struct Asked {
    pub(crate) args: Vec<u8>,
    pub(crate) deadline: Instant,
}

/// Reads `message`'s arguments for `p` and its deadline.
pub(crate) fn asked(
    device: &Device,
    p: &Procedure,
    message: &async_nats::Message,
) -> Result<Asked, Failure> {
    let timeout = requested_timeout(message, device.max_timeout)?.unwrap_or(device.default_timeout);
    let deadline = Instant::now() + timeout;
    let json: serde_json::Value = if message.payload.is_empty() {
        // No payload: no arguments, as `wirecall call` without ARGS.
        serde_json::Value::Array(Vec::new())
    } else {
        serde_json::from_slice(&message.payload)
            .map_err(|e| Failure::new(400, format!("the arguments are not JSON: {e}")))?
    };
    let args = encode_args(p, &json)
        .map_err(|e| Failure::new(400, format!("{e}; expected {}", printable(&signature(p)))))?;
    Ok(Asked { args, deadline })
}

/// A device whose session is down is said so at once: the client would otherwise wait for
/// a session up to the deadline.
pub(crate) fn check_up(device: &Device) -> Result<(), Failure> {
    if device.is_up() {
        Ok(())
    } else {
        Err(Failure::new(
            503,
            format!("device {} is not connected", device.id),
        ))
    }
}

/// The device's side of a call the gateway answered before it ended (it was cancelled or
/// cut while waiting to start, or left to run past its cancel): awaited before the call's
/// slot is given back.
pub(crate) type Leftover = tokio::task::JoinHandle<Result<Vec<u8>, Failure>>;

/// Makes the call: the JSON result, or why not; answered at once when the gateway ends
/// the call (a cancel, a stop), with what is still running on the device as a
/// [`Leftover`].
pub(crate) async fn answer(
    device: &Arc<Device>,
    p: &Arc<Procedure>,
    asked: Asked,
    ticket: &Arc<Ticket>,
) -> (Result<Vec<u8>, Failure>, Option<Leftover>) {
    if let Err(f) = check_up(device) {
        return (Err(f), None);
    }
    let (d, t, id) = (device.clone(), ticket.clone(), p.id);
    // One blocking thread per call in flight (the device's permits bound them): the
    // host client's calls block, and its session is what reconnects serial links.
    let mut call = tokio::task::spawn_blocking(move || {
        t.check_not_ended(&d.id)?;
        let left = left_until(asked.deadline)?;
        let pending = d
            .client
            .start_checked(Some(d.schema), id, &asked.args, Some(left))
            .map_err(|e| failure_of(&d.id, &e, t.ended()))?;
        t.started(pending.canceller());
        pending.wait().map_err(|e| failure_of(&d.id, &e, t.ended()))
    });
    let outcome = tokio::select! {
        joined = &mut call => joined
            .map_err(|e| Failure::new(500, format!("the call's task failed: {e}")))
            .and_then(|r| r),
        why = ticket.until_ended() => return (Err(ticket.failure(&device.id, why)), Some(call)),
    };
    let result = outcome.and_then(|out| {
        decode_output(p, &out)
            .map(|value| value.to_string().into_bytes())
            .map_err(|e| Failure::new(502, format!("the device's result did not decode: {e}")))
    });
    (result, None)
}

/// What is left of the request's time; 504 if nothing.
pub(crate) fn left_until(deadline: Instant) -> Result<Duration, Failure> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(Failure::new(
            504,
            "the deadline passed before the call could start",
        ))
    } else {
        Ok(left)
    }
}

/// The caller's timeout from [`TIMEOUT_HEADER`], if it gave one.
fn requested_timeout(
    message: &async_nats::Message,
    max: Duration,
) -> Result<Option<Duration>, Failure> {
    let Some(value) = message.headers.as_ref().and_then(|h| h.get(TIMEOUT_HEADER)) else {
        return Ok(None);
    };
    match value.as_str().trim().parse::<u64>() {
        Ok(ms) if ms > 0 && u128::from(ms) <= max.as_millis() => {
            Ok(Some(Duration::from_millis(ms)))
        }
        _ => Err(Failure::new(
            400,
            format!(
                "{TIMEOUT_HEADER} must be a number of milliseconds from 1 to {} (this \
                 gateway's --max-timeout), not `{}`",
                max.as_millis(),
                printable(value.as_str())
            ),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn with_timeout(value: &str) -> async_nats::Message {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(TIMEOUT_HEADER, value);
        async_nats::Message {
            subject: "wirecall.d.add".into(),
            reply: Some("_INBOX.x".into()),
            payload: Default::default(),
            headers: Some(headers),
            status: None,
            description: None,
            length: 0,
        }
    }

    #[test]
    fn the_timeout_header_is_bounded() {
        let max = Duration::from_secs(300);
        assert_eq!(
            requested_timeout(&with_timeout("250"), max).unwrap(),
            Some(Duration::from_millis(250))
        );
        for bad in ["0", "-1", "soon", "300001"] {
            let e = requested_timeout(&with_timeout(bad), max).unwrap_err();
            assert_eq!(e.code, 400, "{bad}");
            assert!(e.message.contains("--max-timeout"), "{}", e.message);
        }
    }

    #[test]
    fn a_passed_deadline_is_a_timeout() {
        assert_eq!(left_until(Instant::now()).unwrap_err().code, 504);
        assert!(left_until(Instant::now() + Duration::from_secs(1)).is_ok());
    }
}
