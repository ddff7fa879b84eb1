//! Services discovery (`$SRV.INFO`): which gateways serve which devices.
//!
//! Discovery in the NATS services API is a scatter-gather: one request on `$SRV.INFO`
//! (or `$SRV.INFO.NAME`) reaches every instance of every service (or of that one), each
//! answers on the same reply subject, and nothing tells the caller how many will. So the
//! caller gathers replies until none has come for a short quiet window, within an overall
//! bound, which is how the services API's own tools (`nats micro info`) discover.

use std::time::Duration;

use async_nats::service::Info;
use futures_util::StreamExt;
use tokio::time::{timeout_at, Instant};

use super::reply::Reply;
use super::SERVICE_PREFIX;

/// Discovery stops once no reply has come for this long after the last one. Instances
/// answer from their own connections as soon as the request reaches them, so replies come
/// within a round trip or two of each other; this leaves room for a busy bus.
const QUIET: Duration = Duration::from_millis(300);

/// The info of every wirecall service instance that answers `$SRV.INFO` (or, for
/// `Some(id)`, `$SRV.INFO.wirecall-ID`), within `bound`.
pub(super) async fn wirecall_services(
    client: &async_nats::Client,
    device: Option<&str>,
    bound: Duration,
) -> Result<Vec<Info>, String> {
    let subject = match device {
        Some(id) => format!("$SRV.INFO.{SERVICE_PREFIX}{id}"),
        None => "$SRV.INFO".to_string(),
    };
    let inbox = client.new_inbox();
    let mut replies = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| format!("cannot subscribe to an inbox: {e}"))?;
    client
        .publish_with_reply(subject.clone(), inbox, "".into())
        .await
        .map_err(|e| format!("cannot publish {subject}: {e}"))?;
    let end = Instant::now() + bound;
    // Until the first reply, the whole bound: "no responders" (nothing answers `$SRV` at
    // all) ends the wait at once, and a slow first reply is still a reply.
    let mut until = end;
    let mut found = Vec::new();
    while let Ok(Some(m)) = timeout_at(until, replies.next()).await {
        if Reply::of(&m) == Reply::NoResponders {
            break;
        }
        match serde_json::from_slice::<Info>(&m.payload) {
            Ok(info) if info.name.starts_with(SERVICE_PREFIX) => found.push(info),
            // Another kind of service on the same bus, which is none of ours.
            Ok(_) => {}
            Err(e) => eprintln!("wirecall: ignoring a $SRV.INFO reply that does not read: {e}"),
        }
        until = end.min(Instant::now() + QUIET);
    }
    Ok(found)
}
