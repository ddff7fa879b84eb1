//! The NATS side of `nats-tcp`/`nats-unix`: K tasks of one async-nats client requesting
//! `add` in JSON (as any NATS client of the gateway does, docs/NATS.md), and the plain
//! responder that measures what the bus itself costs.

use std::time::{Duration, Instant};

use async_nats::service::ServiceExt;
use async_nats::HeaderMap;
use futures_util::StreamExt;
use tokio::task::JoinSet;

use crate::rpc::add_args;
use crate::stats::Window;

/// The gateway's request header for the call's deadline (docs/NATS.md).
const TIMEOUT_HEADER: &str = "Wirecall-Timeout-Ms";

/// The deadline every request names, and the client's own request timeout above it: a
/// benchmark call never comes near either, so one that does is a failure of the run.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The subject of the responder that answers `add` itself (the bus's own cost).
pub(crate) const FLOOR_SUBJECT: &str = "bench.floor.add";

/// A current-thread runtime, as the tokio flavour's client runs.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// One timed run: `inflight` tasks on one NATS connection, each requesting `add` on
/// `subject` in a loop and checking the sum. Returns the window's latencies (ns).
pub(crate) async fn measure(
    url: &str,
    subject: &str,
    inflight: usize,
    win: Window,
) -> Result<Vec<u32>, String> {
    let client = async_nats::ConnectOptions::new()
        .request_timeout(Some(CALL_TIMEOUT + Duration::from_secs(1)))
        .connect(url)
        .await
        .map_err(|e| format!("cannot connect to NATS at {url}: {e}"))?;
    let mut tasks = JoinSet::new();
    for k in 0..inflight {
        let (client, subject) = (client.clone(), subject.to_string());
        let mut headers = HeaderMap::new();
        headers.insert(
            TIMEOUT_HEADER,
            CALL_TIMEOUT.as_millis().to_string().as_str(),
        );
        tasks.spawn(async move {
            let mut lats = Vec::with_capacity(1 << 16);
            let mut i = k as u64;
            loop {
                let (a, b) = add_args(i);
                let t0 = Instant::now();
                let reply = client
                    .request_with_headers(
                        subject.clone(),
                        headers.clone(),
                        format!("[{a}, {b}]").into(),
                    )
                    .await
                    .map_err(|e| format!("request {i} on {subject}: {e}"))?;
                let t1 = Instant::now();
                check_reply(i, &reply)?;
                if !win.record(&mut lats, t0, t1) {
                    return Ok::<_, String>(lats);
                }
                i += inflight as u64;
            }
        });
    }
    let mut all = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        all.extend(joined.map_err(|e| format!("a requesting task failed: {e}"))??);
    }
    // What is buffered goes out before the connection is dropped.
    let _ = client.flush().await;
    Ok(all)
}

/// The reply to request `i` is its sum, with no error headers.
fn check_reply(i: u64, reply: &async_nats::Message) -> Result<(), String> {
    if let Some(h) = reply.headers.as_ref() {
        if let Some(text) = h.get("Nats-Service-Error") {
            let code = h.get("Nats-Service-Error-Code").map(|c| c.as_str());
            return Err(format!(
                "request {i}: error {} {}",
                code.unwrap_or("?"),
                text.as_str()
            ));
        }
    }
    let (a, b) = add_args(i);
    let got = std::str::from_utf8(&reply.payload)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok());
    if got != Some(a + b) {
        return Err(format!(
            "request {i}: expected {}, got {:?}",
            a + b,
            String::from_utf8_lossy(&reply.payload)
        ));
    }
    Ok(())
}

/// The responder process (`wirecall-bench serve nats-floor URL`): a services API endpoint
/// on [`FLOOR_SUBJECT`] that parses the JSON arguments and answers the sum itself, a task
/// per request on a multi-thread runtime as the gateway's endpoints do, but with no device
/// behind it. Against the gateway it shows what the bus and JSON cost on their own.
pub(crate) fn serve_floor(url: &str, announce: impl Fn(&str)) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let client = async_nats::connect(url)
            .await
            .map_err(|e| format!("cannot connect to NATS at {url}: {e}"))?;
        let service = client
            .service_builder()
            .start("bench-floor", "0.1.0")
            .await
            .map_err(|e| e.to_string())?;
        let mut endpoint = service
            .endpoint_builder()
            .name("add")
            .add(FLOOR_SUBJECT)
            .await
            .map_err(|e| e.to_string())?;
        announce(FLOOR_SUBJECT);
        while let Some(request) = endpoint.next().await {
            tokio::spawn(async move {
                let sum = serde_json::from_slice::<(i32, i32)>(&request.message.payload)
                    .map(|(a, b)| a.wrapping_add(b).to_string().into())
                    .map_err(|e| async_nats::service::error::Error {
                        status: format!("the arguments are not [a, b]: {e}"),
                        code: 400,
                    });
                let _ = request.respond(sum).await;
            });
        }
        Ok(())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn reply(payload: &str, headers: Option<HeaderMap>) -> async_nats::Message {
        async_nats::Message {
            subject: "_INBOX.x".into(),
            reply: None,
            payload: payload.to_string().into(),
            headers,
            status: None,
            description: None,
            length: payload.len(),
        }
    }

    #[test]
    fn a_reply_is_checked_against_its_sum() {
        // add_args(3) = (1003, 5678)
        assert_eq!(check_reply(3, &reply("6681", None)), Ok(()));
        let wrong = check_reply(3, &reply("6680", None)).unwrap_err();
        assert!(wrong.contains("expected 6681"), "{wrong}");
        assert!(check_reply(3, &reply("", None)).is_err());
        let mut h = HeaderMap::new();
        h.insert("Nats-Service-Error", "Busy: device bench has as many calls");
        h.insert("Nats-Service-Error-Code", "503");
        let busy = check_reply(3, &reply("", Some(h))).unwrap_err();
        assert!(busy.contains("error 503 Busy"), "{busy}");
    }
}
