//! A request to a server-stream procedure: each item the device sends is published as its
//! own message (to the reply subject, or to the subject the caller names, through
//! JetStream when asked), then one final message says how the stream ended.

use std::sync::Arc;

use async_nats::{HeaderMap, Subject};
use tokio::sync::mpsc;
use wirecall::StreamMode;
use wirecall_adapters::host::ClientError;
use wirecall_schema::{decode_item, decode_output, Procedure};

use crate::calls::{check_up, left_until, Asked};
use crate::device::Device;
use crate::failure::{failure_of, Ended, Failure};
use crate::inflight::Ticket;

/// How many items the device's side may take ahead of what NATS has taken.
const ITEMS_AHEAD: usize = 16;

/// Header of each item's message: its number, from 1.
pub(crate) const ITEM_HEADER: &str = "Wirecall-Item";
/// Header of the final message of a stream that ended well: how many items it had.
pub(crate) const END_HEADER: &str = "Wirecall-End";
/// Request header: publish the items to this subject instead of the reply subject.
pub(crate) const SUBJECT_HEADER: &str = "Wirecall-Stream-Subject";
/// Request header: `true` publishes the items through JetStream, each acknowledged.
pub(crate) const JETSTREAM_HEADER: &str = "Wirecall-JetStream";

/// A stream request taken by the gateway: its arguments and deadline, where its items go,
/// where its end goes, and its slot on the device.
pub(crate) struct Stream {
    pub(crate) asked: Asked,
    pub(crate) sink: Sink,
    pub(crate) reply: Subject,
    pub(crate) permit: tokio::sync::OwnedSemaphorePermit,
}

/// Where a stream's items go.
pub(crate) struct Sink {
    subject: Subject,
    jetstream: Option<async_nats::jetstream::Context>,
}

impl Sink {
    /// From the request's headers: its reply subject by default.
    pub(crate) fn of(
        nats: &async_nats::Client,
        message: &async_nats::Message,
        reply: &Subject,
    ) -> Result<Sink, Failure> {
        let header = |name| {
            message
                .headers
                .as_ref()
                .and_then(|h| h.get(name))
                .map(|v| v.as_str().trim().to_string())
        };
        let subject = match header(SUBJECT_HEADER) {
            None => reply.clone(),
            Some(s) if is_publish_subject(&s) => Subject::from(s),
            Some(s) => {
                return Err(Failure::new(
                    400,
                    format!(
                        "{SUBJECT_HEADER} `{s}` is not a subject items may go to (no \
                         wildcards, nothing under `$` or `wirecall.`)"
                    ),
                ))
            }
        };
        let jetstream = match header(JETSTREAM_HEADER).as_deref() {
            None | Some("false") => None,
            Some("true") if header(SUBJECT_HEADER).is_some() => {
                Some(async_nats::jetstream::new(nats.clone()))
            }
            Some("true") => {
                return Err(Failure::new(
                    400,
                    format!("{JETSTREAM_HEADER} needs {SUBJECT_HEADER}: the subject a JetStream stream captures"),
                ))
            }
            Some(other) => {
                return Err(Failure::new(
                    400,
                    format!("{JETSTREAM_HEADER} is `true` or `false`, not `{other}`"),
                ))
            }
        };
        Ok(Sink { subject, jetstream })
    }

    /// Publishes item `n`; with JetStream, once it is acknowledged.
    async fn publish(
        &self,
        nats: &async_nats::Client,
        n: u64,
        json: String,
    ) -> Result<(), Failure> {
        let mut headers = HeaderMap::new();
        headers.insert(ITEM_HEADER, n.to_string().as_str());
        match &self.jetstream {
            None => nats
                .publish_with_headers(self.subject.clone(), headers, json.into())
                .await
                .map_err(|e| Failure::new(503, format!("cannot publish item {n}: {e}"))),
            Some(js) => {
                let kept = js
                    .publish_with_headers(self.subject.clone(), headers, json.into())
                    .await
                    .map_err(|e| e.to_string());
                let kept = match kept {
                    Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
                kept.map_err(|e| {
                    Failure::new(
                        503,
                        format!(
                            "JetStream did not keep item {n} on `{}` (does a stream capture \
                             it?): {e}",
                            self.subject
                        ),
                    )
                })
            }
        }
    }
}

/// A subject a caller may have items published to: no wildcards or empty tokens, and
/// none of the subjects where a message is itself a command. The gateway publishes with
/// its own NATS permissions, so a caller must not make it send to `$JS.API.>` (JetStream's
/// administration), `$SYS`/`$SRV` or `wirecall.>` (other devices' requests). An operator
/// narrows this further with the gateway's publish permissions on the NATS server.
fn is_publish_subject(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('$')
        && s.split('.').next() != Some(crate::serve::SUBJECT_ROOT)
        && s.split('.')
            .all(|t| !t.is_empty() && t != "*" && t != ">" && !t.chars().any(char::is_whitespace))
}

/// What the device's side of a stream hands to the publishing side.
enum FromDevice {
    Item(Vec<u8>),
    Over(Result<Vec<u8>, ClientError>),
}

/// Runs the stream and sends its final message to `reply`: `Wirecall-End: N` with the
/// procedure's result in JSON as payload (`null` for none), or the error headers.
pub(crate) async fn serve(
    nats: &async_nats::Client,
    device: &Arc<Device>,
    p: &Arc<Procedure>,
    stream: Stream,
    ticket: &Arc<Ticket>,
) {
    let Stream {
        asked,
        sink,
        reply,
        permit,
    } = stream;
    let mut headers = HeaderMap::new();
    let outcome = run(nats, device, p, asked, &sink, ticket).await;
    // The slot is free before the end goes out (see the plain calls in serve.rs).
    drop(permit);
    let payload = match outcome {
        Ok((n, result)) => {
            headers.insert(END_HEADER, n.to_string().as_str());
            result.into_bytes()
        }
        Err(f) => {
            headers.insert("Nats-Service-Error", f.status().as_str());
            headers.insert("Nats-Service-Error-Code", f.code.to_string().as_str());
            Vec::new()
        }
    };
    let _ = nats
        .publish_with_headers(reply, headers, payload.into())
        .await;
}

/// The items, published in order: how many, and the result's JSON.
async fn run(
    nats: &async_nats::Client,
    device: &Arc<Device>,
    p: &Arc<Procedure>,
    asked: Asked,
    sink: &Sink,
    ticket: &Arc<Ticket>,
) -> Result<(u64, String), Failure> {
    check_up(device)?;
    // A short queue between the two sides: the device's thread takes items (and so
    // returns credit to the device) at most ITEMS_AHEAD ahead of what NATS has taken, so
    // that a stream is never buffered without bound here, while the two threads do not
    // hand over every single item (one wake-up per item halved the rate).
    let (tx, mut rx) = mpsc::channel(ITEMS_AHEAD);
    let (d, t, id) = (device.clone(), ticket.clone(), p.id);
    let reader = tokio::task::spawn_blocking(move || -> Result<(), Failure> {
        t.check_not_ended(&d.id)?;
        let left = left_until(asked.deadline)?;
        let mut stream = d
            .client
            .open_checked(
                Some(d.schema),
                id,
                &asked.args,
                StreamMode::ServerStream,
                Some(left),
            )
            .map_err(|e| failure_of(&d.id, &e, t.ended()))?;
        t.started(stream.canceller());
        while let Some(item) = stream.next_item() {
            if tx.blocking_send(FromDevice::Item(item)).is_err() {
                // The publishing side gave up: dropping the stream cancels it on the device.
                return Ok(());
            }
        }
        let over = stream.finish();
        let _ = tx.blocking_send(FromDevice::Over(over));
        Ok(())
    });
    let mut n = 0u64;
    let mut outcome = None;
    loop {
        let got = tokio::select! {
            got = rx.recv() => got,
            why = ticket.until_ended() => {
                // A cancel or a stop: answered now, and nothing more is published. The
                // device's thread ends at its next item or its deadline (dropping the
                // stream cancels it on the device, if that was not done already).
                return Err(ticket.failure(&device.id, why));
            }
        };
        let Some(got) = got else { break };
        match got {
            FromDevice::Item(bytes) => {
                n += 1;
                let json = decode_item(p, &bytes)
                    .map_err(|e| Failure::new(502, format!("item {n} did not decode: {e}")));
                let sent = match json {
                    Ok(v) => sink.publish(nats, n, v.to_string()).await,
                    Err(f) => Err(f),
                };
                if let Err(f) = sent {
                    // As for a cancel: the device's side ends on its own.
                    ticket.end(Ended::NotKept);
                    return Err(f);
                }
            }
            FromDevice::Over(over) => {
                outcome = Some(over.map_err(|e| failure_of(&device.id, &e, ticket.ended())));
                break;
            }
        }
    }
    drop(rx);
    let started = reader
        .await
        .map_err(|e| Failure::new(500, format!("the stream's task failed: {e}")))?;
    started?;
    let result =
        outcome.unwrap_or_else(|| Err(Failure::new(500, "the stream ended without an outcome")))?;
    let value = decode_output(p, &result)
        .map_err(|e| Failure::new(502, format!("the stream's result did not decode: {e}")))?;
    Ok((n, value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_go_to_plain_subjects_only() {
        assert!(is_publish_subject("sensors.dev1.temp"));
        for bad in [
            "",
            "a..b",
            "a.*",
            "a.>",
            "a b",
            ".a",
            "$JS.API.STREAM.DELETE.KEPT",
            "wirecall.other.reset",
        ] {
            assert!(!is_publish_subject(bad), "{bad}");
        }
    }
}
