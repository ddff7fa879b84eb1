//! A device as a NATS service: one endpoint per plain procedure, each request a call.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::service::{self, Service, ServiceExt};
use futures_util::StreamExt;
use wirecall::WireError;
use wirecall_adapters::host::{printable, ClientError};
use wirecall_schema::{decode_output, encode_args, signature, Procedure, Type};

use crate::device::{is_name_char, Device};

/// The request header that carries the caller's timeout in milliseconds: NATS requests
/// carry no deadline of their own, so a caller that wants the device to give up when it
/// does says so here. Without it a call gets the device's default deadline.
pub(crate) const TIMEOUT_HEADER: &str = "Wirecall-Timeout-Ms";

/// The subject prefix of every device's endpoints: `wirecall.ID.PROCEDURE`.
const SUBJECT_ROOT: &str = "wirecall";

/// Registers `device` as service `wirecall-ID` and serves its requests until the service
/// stops. Streams and procedures that return handles are left out (not in this slice);
/// a procedure whose name is no subject token is left out too, with a warning.
pub(crate) async fn register(nats: &async_nats::Client, device: Device) -> Result<Service, String> {
    let device = Arc::new(device);
    let id = device.id.clone();
    let metadata = HashMap::from([
        (
            "schema_hash".to_string(),
            format!("0x{:08X}", device.schema),
        ),
        (
            "wirecall_service".to_string(),
            device.manifest.service.clone(),
        ),
        ("link".to_string(), device.link.to_string()),
    ]);
    let service = nats
        .service_builder()
        .description(format!(
            "wirecall device {id} ({}), calls on {SUBJECT_ROOT}.{id}.PROCEDURE",
            device.manifest.service
        ))
        .metadata(metadata)
        .start(format!("wirecall-{id}"), env!("CARGO_PKG_VERSION"))
        .await
        .map_err(|e| format!("device {id}: cannot register its NATS service: {e}"))?;
    let mut served = Vec::new();
    for p in &device.manifest.procedures {
        if let Some(why) = left_out(p) {
            eprintln!(
                "wirecall-gateway: device {id}: `{}` is not served: {why}",
                printable(&p.name)
            );
            continue;
        }
        let endpoint = service
            .endpoint_builder()
            .name(&p.name)
            .metadata(HashMap::from([
                ("signature".to_string(), signature(p)),
                ("procedure_id".to_string(), p.id.to_string()),
            ]))
            .add(format!("{SUBJECT_ROOT}.{id}.{}", p.name))
            .await
            .map_err(|e| format!("device {id}: cannot add endpoint {}: {e}", p.name))?;
        tokio::spawn(serve_endpoint(endpoint, device.clone(), p.clone()));
        served.push(p.name.as_str());
    }
    eprintln!(
        "wirecall-gateway: device {id} ({}, schema 0x{:08X}) on {SUBJECT_ROOT}.{id}.{{{}}}",
        printable(&device.manifest.service),
        device.schema,
        served.join(",")
    );
    Ok(service)
}

/// Why procedure `p` gets no endpoint in this slice, if it does not.
fn left_out(p: &Procedure) -> Option<&'static str> {
    if p.mode.is_stream() {
        Some("streams are not served over NATS yet")
    } else if matches!(p.output, Type::Handle(_)) {
        Some("procedures that return handles are not served over NATS yet")
    } else if p.name.is_empty() || !p.name.chars().all(is_name_char) {
        Some("its name is not a NATS subject token")
    } else {
        None
    }
}

/// Takes the endpoint's requests one at a time and starts each as its own task, so that
/// the endpoint keeps reading while calls are in flight; the device's permits bound how
/// many run at once.
async fn serve_endpoint(
    mut endpoint: service::endpoint::Endpoint,
    device: Arc<Device>,
    p: Procedure,
) {
    let p = Arc::new(p);
    while let Some(request) = endpoint.next().await {
        let Ok(permit) = device.permits.clone().try_acquire_owned() else {
            let e = Failure::new(
                503,
                format!(
                    "Busy: device {} has as many calls in flight as it takes",
                    device.id
                ),
            );
            let _ = request.respond(Err(e.into())).await;
            continue;
        };
        let device = device.clone();
        let p = p.clone();
        tokio::spawn(async move {
            let outcome = answer(&device, &p, &request.message).await;
            drop(permit);
            let _ = request
                .respond(outcome.map(Into::into).map_err(Into::into))
                .await;
        });
    }
}

/// A failed request: the services API's error code and text.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) code: usize,
    pub(crate) message: String,
}

impl Failure {
    fn new(code: usize, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl From<Failure> for service::error::Error {
    fn from(f: Failure) -> Self {
        // A header value is one line of visible text.
        let status = f
            .message
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        service::error::Error {
            status,
            code: f.code,
        }
    }
}

/// Makes the call a request asks for: the JSON result, or why not.
async fn answer(
    device: &Arc<Device>,
    p: &Arc<Procedure>,
    message: &async_nats::Message,
) -> Result<Vec<u8>, Failure> {
    let timeout = requested_timeout(message)?.unwrap_or(device.default_timeout);
    let json: serde_json::Value = if message.payload.is_empty() {
        // No payload: no arguments, as `wirecall call` without ARGS.
        serde_json::Value::Array(Vec::new())
    } else {
        serde_json::from_slice(&message.payload)
            .map_err(|e| Failure::new(400, format!("the arguments are not JSON: {e}")))?
    };
    let args = encode_args(p, &json)
        .map_err(|e| Failure::new(400, format!("{e}; expected {}", printable(&signature(p)))))?;
    // The client would wait for a session up to the deadline; a device whose session is
    // known to be down is said so at once instead. (A link that died without the client
    // noticing yet still waits out the deadline: see the README's list of what is missing.)
    match device.client.peer() {
        None => {
            return Err(Failure::new(
                503,
                format!("device {} is not connected", device.id),
            ))
        }
        Some(peer) if peer.schema != device.schema => {
            return Err(Failure::new(
                503,
                format!(
                    "device {} now serves schema 0x{:08X}, not 0x{:08X}: restart the gateway \
                     to serve it",
                    device.id, peer.schema, device.schema
                ),
            ))
        }
        Some(_) => {}
    }
    let client = device.client.clone();
    let id = p.id;
    let outcome = tokio::task::spawn_blocking(move || client.call(id, &args, Some(timeout)))
        .await
        .map_err(|e| Failure::new(500, format!("the call's task failed: {e}")))?;
    let out = outcome.map_err(|e| failure_of(&device.id, &e))?;
    let value = decode_output(p, &out)
        .map_err(|e| Failure::new(502, format!("the device's result did not decode: {e}")))?;
    Ok(value.to_string().into_bytes())
}

/// The caller's timeout from [`TIMEOUT_HEADER`], if it gave one.
fn requested_timeout(message: &async_nats::Message) -> Result<Option<Duration>, Failure> {
    let Some(value) = message.headers.as_ref().and_then(|h| h.get(TIMEOUT_HEADER)) else {
        return Ok(None);
    };
    match value.as_str().trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Some(Duration::from_millis(ms))),
        _ => Err(Failure::new(
            400,
            format!(
                "{TIMEOUT_HEADER} must be a number of milliseconds above 0, not `{}`",
                value.as_str()
            ),
        )),
    }
}

/// A failed call as the services API's error: HTTP-like codes, as its examples use.
pub(crate) fn failure_of(id: &str, e: &ClientError) -> Failure {
    let code = match e {
        ClientError::Remote(w, _) => match w {
            WireError::Busy | WireError::ShuttingDown | WireError::TooManyHandles => 503,
            WireError::UnknownProcedure => 404,
            WireError::BadArguments => 400,
            WireError::TooLarge => 413,
            WireError::DeadlineExceeded => 504,
            WireError::Cancelled => 499,
            _ => 500,
        },
        ClientError::Timeout => 504,
        ClientError::ConnectionLost | ClientError::Refused(_) => 503,
        ClientError::TooLarge => 413,
        _ => 500,
    };
    Failure::new(code, format!("device {id}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_errors_map_onto_service_error_codes() {
        let busy = ClientError::Remote(WireError::Busy, String::new());
        assert_eq!(failure_of("d", &busy).code, 503);
        assert_eq!(failure_of("d", &ClientError::Timeout).code, 504);
        assert_eq!(failure_of("d", &ClientError::ConnectionLost).code, 503);
        let bad = ClientError::Remote(WireError::BadArguments, "add".into());
        let f = failure_of("d", &bad);
        assert_eq!(f.code, 400);
        assert!(
            f.message.starts_with("device d: the device answered"),
            "{}",
            f.message
        );
    }

    #[test]
    fn an_error_header_is_one_line() {
        let e: service::error::Error = Failure::new(500, "two\nlines").into();
        assert_eq!(e.status, "two lines");
        assert_eq!(e.code, 500);
    }
}
