//! One device behind the gateway: its link, its session and what it serves.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use wirecall_adapters::host::{Client, ClientOptions, LinkUrl};
use wirecall_schema::Manifest;

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
/// limits to letters, digits, `-` and `_`.
pub(crate) fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() || !id.chars().all(is_name_char) {
        return Err(format!(
            "bad device id `{id}`: use letters, digits, `-` and `_` only"
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
    /// The schema hash its handshake announced (the manifest hashes to it).
    pub(crate) schema: u32,
    /// One permit per call the client can have in flight: a request that finds none is
    /// answered `Busy` at once, so requests never queue up without bound in the gateway.
    pub(crate) permits: Arc<Semaphore>,
    /// The call deadline when a request names none.
    pub(crate) default_timeout: Duration,
}

impl Device {
    /// Opens the link, waits for a session and reads the manifest, all within `timeout`.
    pub(crate) async fn open(spec: DeviceSpec, timeout: Duration) -> Result<Device, String> {
        // The blocking client and its first handshake: off the async threads.
        tokio::task::spawn_blocking(move || Device::open_blocking(spec, timeout))
            .await
            .map_err(|e| format!("opening a device failed: {e}"))?
    }

    fn open_blocking(spec: DeviceSpec, timeout: Duration) -> Result<Device, String> {
        let DeviceSpec { id, link } = spec;
        // Opened once here, so that a wrong URL fails now with its own message; opened
        // again whenever the link drops.
        let first = link.open().map_err(|e| format!("device {id}: {e}"))?;
        let mut first = Some(first);
        let reopen = link.clone();
        let options = ClientOptions::default();
        let max_calls = options.capacity.max_calls;
        let default_timeout = duration_of(options.config.call_timeout);
        let client = Client::connect(
            move || first.take().map_or_else(|| reopen.open(), Ok),
            options,
        )
        .map_err(|e| format!("device {id}: {e}"))?;
        let bytes = client
            .manifest(Some(timeout))
            .map_err(|e| format!("device {id}: cannot read its manifest: {e}"))?;
        let schema = client
            .peer()
            .map(|p| p.schema)
            .ok_or_else(|| format!("device {id}: the link was lost after the handshake"))?;
        let manifest = Manifest::parse(&bytes)
            .map_err(|e| format!("device {id}: its manifest does not parse: {e}"))?;
        Ok(Device {
            id,
            link,
            client,
            manifest,
            schema,
            permits: Arc::new(Semaphore::new(max_calls)),
            default_timeout,
        })
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
