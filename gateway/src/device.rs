//! One device behind the gateway: its link, its session and what it serves.

use std::str::FromStr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use wirecall_adapters::host::{Client, ClientOptions, Link, LinkUrl};
use wirecall_schema::Manifest;

use crate::inflight::Inflight;

/// `ID=LINK_URL` from the command line.
#[derive(Clone, Debug)]
pub(crate) struct DeviceSpec {
    pub(crate) id: String,
    pub(crate) link: LinkUrl,
}

impl FromStr for DeviceSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (id, link) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}` is not ID=LINK_URL"))?;
        check_id(id)?;
        let link = link.parse::<LinkUrl>().map_err(|e| e.to_string())?;
        Ok(DeviceSpec {
            id: id.to_string(),
            link,
        })
    }
}

/// A device id is one subject token and part of a service name, which the services API
/// limits to letters, digits, `-` and `_`; a leading `_` is kept for the gateway's own
/// subjects.
pub(crate) fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() || !id.chars().all(is_name_char) || id.starts_with('_') {
        return Err(format!(
            "bad device id `{id}`: use letters, digits, `-` and `_` only, not starting with `_`"
        ));
    }
    Ok(())
}

/// What a services API name (and so a subject token of ours) may contain.
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// A connected device. The client reconnects by itself when the link drops.
pub(crate) struct Device {
    pub(crate) id: String,
    pub(crate) link: LinkUrl,
    pub(crate) client: Client,
    pub(crate) manifest: Manifest,
    /// The schema hash its handshake announced (the manifest hashes to it). Every call is
    /// sent only in a session that announces it, so a device re-flashed behind the gateway
    /// is refused (409) rather than called with another service's procedure numbers.
    pub(crate) schema: u32,
    /// One permit per call the client can have in flight: a request that finds none is
    /// answered `Busy` at once, so requests never queue up without bound in the gateway.
    pub(crate) permits: Arc<Semaphore>,
    /// The call deadline when a request names none.
    pub(crate) default_timeout: Duration,
    /// The longest deadline a request may ask for.
    pub(crate) max_timeout: Duration,
    /// Its calls in flight, by reply subject.
    pub(crate) inflight: Arc<Inflight>,
    /// Set once the gateway stops serving it: requests still buffered are answered 503.
    pub(crate) stopping: AtomicBool,
}

/// How a device is opened: the bounds from the command line.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// For the first link, session and manifest.
    pub(crate) connect_timeout: Duration,
    /// The longest `Wirecall-Timeout-Ms` taken.
    pub(crate) max_timeout: Duration,
}

impl Device {
    /// Opens the link, waits for a session and reads the manifest, all within the connect
    /// timeout.
    pub(crate) async fn open(spec: DeviceSpec, limits: Limits) -> Result<Device, String> {
        // The blocking client and its first handshake: off the async threads.
        tokio::task::spawn_blocking(move || Device::open_blocking(spec, limits))
            .await
            .map_err(|e| format!("opening a device failed: {e}"))?
    }

    fn open_blocking(spec: DeviceSpec, limits: Limits) -> Result<Device, String> {
        let DeviceSpec { id, link } = spec;
        let timeout = limits.connect_timeout;
        // Opened once here, so that a wrong URL fails now with its own message; opened
        // again whenever the link drops.
        let first = open_within(&link, timeout).map_err(|e| format!("device {id}: {e}"))?;
        let mut first = Some(first);
        let reopen = link.clone();
        let options = ClientOptions::default();
        let client = Client::connect(
            move || first.take().map_or_else(|| reopen.open(), Ok),
            options,
        )
        .map_err(|e| format!("device {id}: {e}"))?;
        Device::describe(DeviceSpec { id, link }, client, limits)
    }

    /// The device behind `client`, a client of it already connected (or reconnecting),
    /// as it describes itself now: what registering it again after it changed schema
    /// uses, so that its link is not closed and opened again (a pty's other end may not
    /// survive that, and a device need not see the gap).
    pub(crate) async fn again(
        spec: DeviceSpec,
        client: Client,
        limits: Limits,
    ) -> Result<Device, String> {
        tokio::task::spawn_blocking(move || Device::describe(spec, client, limits))
            .await
            .map_err(|e| format!("describing a device failed: {e}"))?
    }

    fn describe(spec: DeviceSpec, client: Client, limits: Limits) -> Result<Device, String> {
        let DeviceSpec { id, link } = spec;
        let timeout = limits.connect_timeout;
        let options = ClientOptions::default();
        let max_calls = options.capacity.max_calls;
        let default_timeout = duration_of(options.config.call_timeout);
        let lost = || format!("device {id}: the link was lost after the handshake");
        if !client.wait_connected(timeout) {
            return Err(format!(
                "device {id}: no session within {} s",
                timeout.as_secs_f64()
            ));
        }
        let before = client.peer().ok_or_else(lost)?;
        let bytes = client
            .manifest(Some(timeout))
            .map_err(|e| format!("device {id}: cannot read its manifest: {e}"))?;
        let peer = client.peer().ok_or_else(lost)?;
        let schema = peer.schema;
        if before.schema != schema {
            // Re-flashed (or restarted into another schema) while its manifest was read:
            // which session's the manifest is cannot be told. The next attempt will know.
            return Err(format!(
                "device {id}: its schema changed while its manifest was read"
            ));
        }
        let manifest = Manifest::parse(&bytes)
            .map_err(|e| format!("device {id}: its manifest does not parse: {e}"))?;
        Ok(Device {
            id,
            link,
            client,
            manifest,
            schema,
            // The device's own limit when it is lower than the client's: a call past it
            // is answered Busy at once instead of waiting in the client for a slot.
            permits: Arc::new(Semaphore::new(
                max_calls.min(usize::try_from(peer.max_inbound).unwrap_or(usize::MAX)),
            )),
            default_timeout,
            max_timeout: limits.max_timeout,
            inflight: Arc::default(),
            stopping: AtomicBool::new(false),
        })
    }

    /// True while a session with the device is up (its link may still die unnoticed
    /// until the next read or keepalive).
    pub(crate) fn is_up(&self) -> bool {
        self.client.peer().is_some()
    }

    /// The kind of link, for the service's metadata: never an `exec:` command line, which
    /// may hold what the operator would not publish on a bus.
    pub(crate) fn link_kind(&self) -> &'static str {
        match self.link {
            LinkUrl::Tcp(_) => "tcp",
            LinkUrl::Unix(_) => "unix",
            LinkUrl::Serial { .. } => "serial",
            LinkUrl::Exec(_) => "exec",
            LinkUrl::Stdio => "stdio",
        }
    }
}

/// Opens `link` within `timeout`: a TCP connect to a host that drops packets, or a serial
/// port that blocks on open, would otherwise hold the gateway's start for minutes. The
/// opening thread is left to finish on its own if it overruns (what it opens is dropped).
fn open_within(link: &LinkUrl, timeout: Duration) -> Result<Link, String> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let link = link.clone();
    std::thread::Builder::new()
        .name("wirecall-open".into())
        .spawn(move || {
            let _ = tx.send(link.open());
        })
        .map_err(|e| format!("cannot start a thread to open the link: {e}"))?;
    match rx.recv_timeout(timeout) {
        Ok(opened) => opened.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "the link did not open within {} s",
            timeout.as_secs_f64()
        )),
    }
}

/// The core's duration (milliseconds) as a standard one.
fn duration_of(d: wirecall::Duration) -> Duration {
    Duration::from_micros(d.as_micros())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_an_id_and_a_link_url() {
        let d: DeviceSpec = "demo=tcp://127.0.0.1:7000".parse().unwrap();
        assert_eq!(d.id, "demo");
        assert_eq!(d.link, LinkUrl::Tcp("127.0.0.1:7000".into()));
        assert!("demo"
            .parse::<DeviceSpec>()
            .unwrap_err()
            .contains("ID=LINK_URL"));
        assert!("a.b=tcp://h:1"
            .parse::<DeviceSpec>()
            .unwrap_err()
            .contains("bad device id"));
        assert!("=tcp://h:1".parse::<DeviceSpec>().is_err());
        assert!("d=tcp://h"
            .parse::<DeviceSpec>()
            .unwrap_err()
            .contains("no port"));
    }
}
