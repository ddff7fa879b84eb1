//! `wirecall-bench serve nats-relay NATS_URL tcp|unix ADDR`: what a gateway without a
//! blocking thread per call could do. A services API endpoint on [`RELAY_SUBJECT`] that
//! calls `add` on the demo server with the tokio `AsyncClient` from the request's own task
//! (the timeout header as the call's deadline, as the gateway does), where
//! `wirecall-gateway` hands each request to `spawn_blocking` and the blocking `Client`.
//! It is typed (no manifest, no schema codec: those stay under 1 % of the gateway's
//! profile), so against the gateway it shows the cost of the hand-off alone.

use std::time::Duration;

use async_nats::service::{error::Error as ServiceError, ServiceExt};
use futures_util::StreamExt;

use crate::rpc::{bench_service as svc, Case};

/// The relay's subject.
pub(crate) const RELAY_SUBJECT: &str = "bench.relay.add";

/// Serves [`RELAY_SUBJECT`] on the bus at `url`, calling the demo server at `addr`.
pub(crate) fn serve(
    url: &str,
    unix: bool,
    addr: &str,
    announce: impl Fn(&str),
) -> Result<(), String> {
    let case = Case::parse(if unix {
        "wirecall-unix-add"
    } else {
        "wirecall-tcp-add"
    })
    .ok_or("case")?;
    // A multi-thread runtime with a worker per core, as the gateway's.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let device = crate::rpc_tokio::connect(case, addr).await?;
        let client = async_nats::connect(url)
            .await
            .map_err(|e| format!("cannot connect to NATS at {url}: {e}"))?;
        let service = client
            .service_builder()
            .start("bench-relay", "0.1.0")
            .await
            .map_err(|e| e.to_string())?;
        let mut endpoint = service
            .endpoint_builder()
            .name("add")
            .add(RELAY_SUBJECT)
            .await
            .map_err(|e| e.to_string())?;
        announce(RELAY_SUBJECT);
        while let Some(request) = endpoint.next().await {
            let device = device.clone();
            tokio::spawn(async move {
                let failure = |code, status| ServiceError { status, code };
                let timeout = request
                    .message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Wirecall-Timeout-Ms"))
                    .and_then(|v| v.as_str().parse().ok())
                    .map(Duration::from_millis);
                let reply = match serde_json::from_slice::<(i32, i32)>(&request.message.payload) {
                    Ok(args) => device
                        .call_typed::<svc::Add>(&args, timeout)
                        .await
                        .map(|sum| sum.to_string().into())
                        .map_err(|e| failure(500, format!("the call failed: {e}"))),
                    Err(e) => Err(failure(400, format!("the arguments are not [a, b]: {e}"))),
                };
                let _ = request.respond(reply).await;
            });
        }
        Ok(())
    })
}
