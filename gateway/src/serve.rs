//! A device as a NATS service: one endpoint per plain or server-stream procedure, each
//! request a call; a cancel subject; a stop that lets calls finish.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_nats::service::{self, Service, ServiceExt};
use futures_util::StreamExt;
use wirecall_adapters::host::printable;
use wirecall_schema::{signature, Mode, Procedure, Type};

use crate::calls;
use crate::device::{is_name_char, Device};
use crate::failure::{Ended, Failure};
use crate::streams::{self, Sink};

/// The subject prefix of every device's endpoints: `wirecall.ID.PROCEDURE`.
pub(crate) const SUBJECT_ROOT: &str = "wirecall";

/// A device being served: stop it with [`Served::stop`].
pub(crate) struct Served {
    service: Service,
    device: Arc<Device>,
    cancels: tokio::task::JoinHandle<()>,
    /// The endpoints' request loops: they end once their subscriptions are gone, having
    /// answered 503 to every request delivered after the stop began.
    endpoints: Vec<tokio::task::JoinHandle<()>>,
}

/// Registers `device` as service `wirecall-ID` and serves its requests until stopped.
/// Client-stream and bidirectional procedures and procedures that return handles are
/// left out, and so is a procedure whose name is no subject token, each with a warning.
pub(crate) async fn register(nats: &async_nats::Client, device: Device) -> Result<Served, String> {
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
        ("link".to_string(), device.link_kind().to_string()),
    ]);
    // Cancels first: a request must not be answerable before its cancel can be heard.
    let cancel_subject = format!("{SUBJECT_ROOT}.{id}.*.cancel");
    let mut cancel_sub = nats
        .subscribe(cancel_subject.clone())
        .await
        .map_err(|e| format!("device {id}: cannot subscribe to {cancel_subject}: {e}"))?;
    let service = nats
        .service_builder()
        .description(format!(
            "wirecall device {id} ({}), calls on {SUBJECT_ROOT}.{id}.PROCEDURE",
            device.manifest.service
        ))
        .metadata(metadata)
        .stats_handler({
            // Each endpoint's `data` in $SRV.STATS: the device's state now, for operators
            // (and for tests, which wait on it instead of on the clock).
            let device = device.clone();
            move |_endpoint, _stats| {
                serde_json::json!({
                    "connected": device.is_up(),
                    "in_flight": device.inflight.len(),
                })
            }
        })
        .start(format!("wirecall-{id}"), env!("CARGO_PKG_VERSION"))
        .await
        .map_err(|e| format!("device {id}: cannot register its NATS service: {e}"))?;
    let mut served = Vec::new();
    let mut endpoints = Vec::new();
    for p in &device.manifest.procedures {
        if let Some(why) = left_out(p) {
            eprintln!(
                "wirecall-gateway: device {id}: `{}` is not served: {why}",
                printable(&p.name)
            );
            continue;
        }
        let mode = if p.mode.is_stream() {
            "server_stream"
        } else {
            "call"
        };
        let added = service
            .endpoint_builder()
            .name(&p.name)
            .metadata(HashMap::from([
                ("signature".to_string(), signature(p)),
                ("procedure_id".to_string(), p.id.to_string()),
                ("mode".to_string(), mode.to_string()),
            ]))
            .add(format!("{SUBJECT_ROOT}.{id}.{}", p.name))
            .await;
        let endpoint = match added {
            Ok(endpoint) => endpoint,
            Err(e) => {
                // Half registered: the service (and its `$SRV` answers) must not outlive
                // the failure, nor the endpoints added so far.
                let _ = service.stop().await;
                endpoints.iter().for_each(tokio::task::JoinHandle::abort);
                return Err(format!("device {id}: cannot add endpoint {}: {e}", p.name));
            }
        };
        endpoints.push(tokio::spawn(serve_endpoint(
            endpoint,
            nats.clone(),
            device.clone(),
            Arc::new(p.clone()),
        )));
        served.push(p.name.as_str());
    }
    let inflight = device.inflight.clone();
    let cancels = tokio::spawn(async move {
        while let Some(m) = cancel_sub.next().await {
            if let Ok(reply) = std::str::from_utf8(&m.payload) {
                inflight.end(reply.trim(), Ended::ByCaller);
            }
        }
    });
    eprintln!(
        "wirecall-gateway: device {id} ({}, schema 0x{:08X}) on {SUBJECT_ROOT}.{id}.{{{}}}",
        printable(&device.manifest.service),
        device.schema,
        served.join(",")
    );
    Ok(Served {
        service,
        device,
        cancels,
        endpoints,
    })
}

impl Served {
    /// The device's client (a clone: the link stays open while either is held).
    pub(crate) fn client(&self) -> wirecall_adapters::host::Client {
        self.device.client.clone()
    }

    /// The schema the device's session serves now, if it is up and not the one this
    /// service was registered with.
    pub(crate) fn schema_changed(&self) -> Option<u32> {
        self.device
            .client
            .peer()
            .map(|p| p.schema)
            .filter(|now| *now != self.device.schema)
    }

    /// Stops serving: the endpoints leave the queue group at once (so NATS sends new
    /// requests to another gateway), requests already delivered here are answered 503,
    /// calls in flight may finish for `grace`, then those still running are cancelled on
    /// the device and answered 503. Returns how many were cut short.
    pub(crate) async fn stop(self, grace: Duration) -> usize {
        self.device.stopping.store(true, Ordering::SeqCst);
        // A stopped service leaves the bus's directory at once instead of timing out of it.
        let _ = self.service.stop().await;
        // Every request NATS delivered before the unsubscription is taken in (and each is
        // in flight, or answered 503) before the wait for calls in flight begins. Bounded:
        // a connection to NATS that is gone never confirms the unsubscription.
        let loops = futures_util::future::join_all(self.endpoints);
        let _ = tokio::time::timeout(Duration::from_secs(2), loops).await;
        let inflight = &self.device.inflight;
        let cut = match tokio::time::timeout(grace, inflight.drained()).await {
            Ok(()) => 0,
            Err(_) => inflight.end_all(Ended::ShuttingDown),
        };
        // Cancelled calls end at once; bounded all the same, a device may not answer.
        let _ = tokio::time::timeout(Duration::from_secs(5), inflight.drained()).await;
        self.cancels.abort();
        cut
    }
}

/// Whether the gateway may publish an answer (or stream items) to `reply`: not under `$`
/// (JetStream's and the system's APIs, where a message is a command) nor under the
/// gateway's own `wirecall.` (devices' requests and cancels).
pub(crate) fn is_answerable(reply: &str) -> bool {
    !reply.starts_with('$') && reply.split('.').next() != Some(SUBJECT_ROOT)
}

/// Why procedure `p` gets no endpoint, if it does not.
fn left_out(p: &Procedure) -> Option<&'static str> {
    if matches!(p.mode, Mode::ClientStream { .. } | Mode::Bidi { .. }) {
        Some("only server streams are served over NATS (a request carries no items)")
    } else if matches!(p.output, Type::Handle(_)) {
        Some("procedures that return handles are not served over NATS")
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
    nats: async_nats::Client,
    device: Arc<Device>,
    p: Arc<Procedure>,
) {
    while let Some(request) = endpoint.next().await {
        // Nobody could hear the answer of a request without a reply subject; and one
        // whose reply subject is a command (JetStream's API under `$JS.API`, the system's,
        // another device's requests) gets none: the gateway answers with its own NATS
        // permissions, and an answer there would act for the caller.
        let Some(reply) = request.message.reply.clone() else {
            continue;
        };
        if !is_answerable(&reply) {
            continue;
        }
        if device.stopping.load(Ordering::SeqCst) {
            let e = Failure::new(
                503,
                "the gateway is shutting down: call again (another gateway may serve it)",
            );
            let _ = request.respond(Err(e.into())).await;
            continue;
        }
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
        let Some(ticket) = device.inflight.enter(reply.as_str()) else {
            let e = Failure::new(
                400,
                "a call with this reply subject is in flight already: use a fresh inbox",
            );
            let _ = request.respond(Err(e.into())).await;
            continue;
        };
        if device.stopping.load(Ordering::SeqCst) {
            // The stop began between the check above and the entry: its wait for calls
            // in flight may have found none, so this one is not started.
            drop(ticket);
            let e = Failure::new(
                503,
                "the gateway is shutting down: call again (another gateway may serve it)",
            );
            let _ = request.respond(Err(e.into())).await;
            continue;
        }
        let ticket = Arc::new(ticket);
        let (nats, device, p) = (nats.clone(), device.clone(), p.clone());
        tokio::spawn(async move {
            let asked = calls::asked(&device, &p, &request.message);
            if p.mode.is_stream() {
                let sink = Sink::of(&nats, &request.message, &reply);
                match (asked, sink) {
                    (Ok(asked), Ok(sink)) => {
                        let stream = streams::Stream {
                            asked,
                            sink,
                            reply,
                            permit,
                        };
                        streams::serve(&nats, &device, &p, stream, &ticket).await;
                    }
                    (Err(f), _) | (_, Err(f)) => {
                        drop(permit);
                        let _ = request.respond(Err(f.into())).await;
                    }
                }
            } else {
                let (outcome, leftover) = match asked {
                    Ok(asked) => calls::answer(&device, &p, asked, &ticket).await,
                    Err(f) => (Err(f), None),
                };
                // The slot is free before the answer goes: a caller that calls again as
                // soon as it has the answer must not find it taken (Busy) on a device that
                // serves one call at a time. A call left running on the device keeps it.
                let permit = match leftover {
                    None => {
                        drop(permit);
                        None
                    }
                    Some(still) => Some((permit, still)),
                };
                let _ = request
                    .respond(outcome.map(Into::into).map_err(Into::into))
                    .await;
                if let Some((permit, still)) = permit {
                    let _ = still.await;
                    drop(permit);
                }
            }
            // The call leaves the calls in flight only once answered: a stop waits for it.
            drop(ticket);
        });
    }
}
