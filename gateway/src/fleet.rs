//! The devices the gateway keeps on the bus, whether named by `--device` or found in a
//! watched directory: which ids are taken, and a keeper task per device that opens it,
//! registers its service, tries again with a growing backoff while that fails, and stops
//! the service when the device goes (or the gateway does).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::device::{Device, DeviceSpec, Limits};
use crate::serve;

/// The first wait after a failed attempt; it doubles on each failure up to
/// [`BACKOFF_MAX`]. Short enough that a device plugged in a moment too early (its port
/// there, its firmware still booting) is on the bus soon after.
const BACKOFF_MIN: Duration = Duration::from_millis(500);

/// The longest wait between attempts: a device that stays broken is tried a few times a
/// minute, which costs nothing and floods no log.
const BACKOFF_MAX: Duration = Duration::from_secs(15);

/// The devices of one gateway: its NATS connection, and which ids are taken by whom.
pub(crate) struct Fleet {
    nats: async_nats::Client,
    limits: Limits,
    /// Each id in use, with where it came from (`--device ID` or the watched entry's
    /// path), so that a collision names both sides.
    ids: Mutex<HashMap<String, String>>,
}

/// A device being kept on the bus. [`stop`](Keeper::stop) it to take it off; dropping it
/// takes it off too, without waiting.
pub(crate) struct Keeper {
    id: String,
    fleet: Arc<Fleet>,
    /// Says how long calls in flight may still finish.
    stop: Option<oneshot::Sender<Duration>>,
    task: Option<JoinHandle<()>>,
}

impl Fleet {
    /// A fleet whose devices register on `nats`; each attempt to open a device and read its
    /// manifest may take `limits.connect_timeout`.
    pub(crate) fn new(nats: async_nats::Client, limits: Limits) -> Arc<Fleet> {
        Arc::new(Fleet {
            nats,
            limits,
            ids: Mutex::new(HashMap::new()),
        })
    }

    /// Starts keeping `spec` on the bus. `origin` says where it came from, for messages.
    /// Refused if another device holds its id. The receiver fires when the first attempt
    /// to register it has ended, well or not (so the gateway can say it is ready once
    /// every device it started with has had its chance).
    pub(crate) fn keep(
        self: &Arc<Fleet>,
        spec: DeviceSpec,
        origin: &str,
    ) -> Result<(Keeper, oneshot::Receiver<()>), String> {
        {
            let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(holder) = ids.get(&spec.id) {
                return Err(format!(
                    "{origin} is refused: device id `{}` is already taken by {holder}",
                    spec.id
                ));
            }
            ids.insert(spec.id.clone(), origin.to_string());
        }
        let (stop, stopped) = oneshot::channel();
        let (tried, first) = oneshot::channel();
        let id = spec.id.clone();
        let task = tokio::spawn(keep(self.clone(), spec, stopped, tried));
        let keeper = Keeper {
            id,
            fleet: self.clone(),
            stop: Some(stop),
            task: Some(task),
        };
        Ok((keeper, first))
    }

    /// Returns once the NATS server has taken in everything this gateway sent so far (its
    /// services' subscriptions above all): a message to ourselves comes back only after
    /// the server has read what was sent before it. So a client that acts on "ready" finds
    /// every service, even one that asks `$SRV.INFO` once and counts the answers.
    pub(crate) async fn synced(&self) -> Result<(), String> {
        let failed = |e: &dyn std::fmt::Display| format!("the NATS server does not answer: {e}");
        let inbox = self.nats.new_inbox();
        let mut echo = self
            .nats
            .subscribe(inbox.clone())
            .await
            .map_err(|e| failed(&e))?;
        self.nats
            .publish(inbox, "".into())
            .await
            .map_err(|e| failed(&e))?;
        match tokio::time::timeout(self.limits.connect_timeout, echo.next()).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(failed(&"the connection closed")),
            Err(e) => Err(failed(&e)),
        }
    }

    fn release(&self, id: &str) {
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }
}

impl Keeper {
    /// Takes the device off the bus: its service stops (it leaves `$SRV.INFO` and its
    /// subjects lose their responders), calls in flight may finish for `grace` and are then
    /// cut short (503), then its id is free again. An open under way is left to end on
    /// its own (within the connect timeout); a registration under way is finished first.
    pub(crate) async fn stop(mut self, grace: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(grace);
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.fleet.release(&self.id);
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        // Not stopped by `stop`: the task sees its stop sender gone and stops the service
        // on its own; the id is free at once, as nobody will wait for it.
        if self.task.is_some() {
            self.fleet.release(&self.id);
        }
    }
}

/// The keeper task: registers the device (again and again until that works or it is
/// told to stop), then holds its service until told to stop.
async fn keep(
    fleet: Arc<Fleet>,
    spec: DeviceSpec,
    mut stop: oneshot::Receiver<Duration>,
    tried: oneshot::Sender<()>,
) {
    let mut tried = Some(tried);
    // After a change of schema: the device's client, still connected, to describe again.
    let mut connected = None;
    loop {
        let again = match connected.take() {
            Some(client) => {
                let described = Device::again(spec.clone(), client, fleet.limits).await;
                match described {
                    Ok(device) => serve::register(&fleet.nats, device).await.map_err(|e| {
                        eprintln!("wirecall-gateway: {e}; opening it afresh");
                    }),
                    Err(e) => {
                        eprintln!("wirecall-gateway: {e}; opening it afresh");
                        Err(())
                    }
                }
            }
            None => Err(()),
        };
        let service = match again {
            Ok(service) => service,
            Err(()) => match register(&fleet, &spec, &mut stop, &mut tried).await {
                Some(service) => service,
                None => return, // told to stop before it was on the bus
            },
        };
        // On the bus until told to stop, or until the device on the other end of the link
        // serves another schema: re-flashed behind a `--device`, or another board plugged
        // in under the same name between two looks at a watched directory (its device
        // number reused). Its calls would all be refused 409: it is registered again,
        // with its new manifest, instead.
        let mut looks = tokio::time::interval(SCHEMA_LOOK);
        let grace = loop {
            tokio::select! {
                grace = &mut stop => break Some(grace.unwrap_or(Duration::ZERO)),
                _ = looks.tick() => {
                    if let Some(now) = service.schema_changed() {
                        eprintln!(
                            "wirecall-gateway: device {} now serves schema 0x{now:08X}: \
                             registering it again",
                            spec.id
                        );
                        break None;
                    }
                }
            }
        };
        if grace.is_none() {
            // Described again over the same client: its link stays open meanwhile.
            connected = Some(service.client());
        }
        // Its endpoints and `$SRV` answers leave the bus; calls in flight get their grace
        // (a device that went away has failed them already: "connection lost", 503).
        let cut = service.stop(grace.unwrap_or(Duration::ZERO)).await;
        if cut > 0 {
            eprintln!(
                "wirecall-gateway: device {}: {cut} calls cut short by the stop",
                spec.id
            );
        }
        if grace.is_some() {
            eprintln!("wirecall-gateway: device {} is off the bus", spec.id);
            return;
        }
    }
}

/// How often a registered device's session is looked at for a changed schema.
const SCHEMA_LOOK: Duration = Duration::from_millis(250);

/// Opens and registers the device, again and again with a growing backoff until that
/// works; `None` if told to stop first (the stop's grace is moot: nothing was served).
async fn register(
    fleet: &Fleet,
    spec: &DeviceSpec,
    stop: &mut oneshot::Receiver<Duration>,
    tried: &mut Option<oneshot::Sender<()>>,
) -> Option<serve::Served> {
    let mut backoff = BACKOFF_MIN;
    loop {
        let opened = tokio::select! {
            opened = Device::open(spec.clone(), fleet.limits) => opened,
            // Told to stop mid-open: the device being opened is dropped when the blocking
            // open returns (within the connect timeout).
            _ = &mut *stop => return None,
        };
        // Registering is not given up half way (a service started and then dropped would
        // keep answering `$SRV` requests); a stop that came meanwhile is seen next.
        let outcome = match opened {
            Ok(device) => serve::register(&fleet.nats, device).await,
            Err(e) => Err(e),
        };
        if let Some(tried) = tried.take() {
            let _ = tried.send(());
        }
        match outcome {
            Ok(service) => return Some(service),
            Err(e) => eprintln!(
                "wirecall-gateway: {e} (from {}); trying again in {} ms",
                spec.link,
                backoff.as_millis()
            ),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = &mut *stop => return None,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_taken_id_is_refused_naming_its_holder_until_released() {
        // A NATS client that never reaches a server: enough for the registry, and the
        // keeper's attempts fail on the device (nothing listens at port 1) anyway.
        let nats = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect("nats://127.0.0.1:1")
            .await
            .unwrap();
        let limits = Limits {
            connect_timeout: Duration::from_millis(100),
            max_timeout: Duration::from_secs(1),
        };
        let fleet = Fleet::new(nats, limits);
        let spec: DeviceSpec = "a=tcp://127.0.0.1:1".parse().unwrap();
        let (first, _) = fleet.keep(spec.clone(), "--device a").unwrap();
        let e = fleet
            .keep(spec.clone(), "/dev/serial/by-id/a")
            .err()
            .unwrap();
        assert_eq!(
            e,
            "/dev/serial/by-id/a is refused: device id `a` is already taken by --device a"
        );
        first.stop(Duration::ZERO).await;
        let (again, _) = fleet.keep(spec, "/dev/serial/by-id/a").unwrap();
        drop(again);
        assert!(fleet.ids.lock().unwrap().is_empty());
    }
}
