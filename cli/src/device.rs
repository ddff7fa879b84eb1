//! A device a command talks to: a session on the link the command line names, and the
//! device's description (its manifest), from the cache when the handshake says the cached
//! copy is current, fetched otherwise.

use std::time::{Duration, Instant};

use wirecall::Config;
use wirecall_adapters::host::{Client, ClientError, ClientOptions};
use wirecall_schema::{Manifest, Procedure};

use crate::cache::Cache;
use crate::failure::{fail, Exit};
use crate::links;
use crate::Target;

/// A connected device and what it serves.
pub(crate) struct Device {
    pub(crate) client: Client,
    pub(crate) manifest: Manifest,
    /// Its schema hash (from the handshake; the manifest hashes to it).
    pub(crate) schema: u32,
    /// When the command's deadline falls.
    pub(crate) deadline: Instant,
}

impl Device {
    /// Connects and learns what the device serves, within the target's timeout. On failure
    /// the reason is printed as `command` and the exit code returned.
    pub(crate) fn open(target: &Target, command: &str) -> Result<Device, i32> {
        let deadline = Instant::now() + target.timeout;
        let mut config = Config::default().with_stream_window(64);
        if let Some(hash) = target.schema {
            config = config.expecting_schema(hash);
        }
        let options = ClientOptions {
            config,
            capacity: target.capacity.capacity(),
            ..ClientOptions::default()
        };
        let client = links::connect(&target.link, target.baud, options, target.timeout)
            .map_err(|e| fail(command, e.exit(), &e))?;
        let Some(peer) = client.peer() else {
            return Err(fail(
                command,
                Exit::Link,
                "the link was lost after the handshake",
            ));
        };
        let url = links::call_url(&target.link, target.baud).to_string();
        let cache = Cache::from_env(target.no_cache);
        let bytes = match cache.get(peer.schema) {
            Some(bytes) => bytes,
            None => {
                if let Some(old) = cache.last_seen(&url).filter(|&h| h != peer.schema) {
                    eprintln!(
                        "{command}: the device now serves schema 0x{:08X} (0x{old:08X} when \
                         last seen): fetching its description",
                        peer.schema
                    );
                }
                let left = deadline.saturating_duration_since(Instant::now());
                let bytes = client
                    .manifest(Some(left.max(Duration::from_millis(1))))
                    .map_err(|e| manifest_failure(command, e, target.timeout))?;
                cache.put(&bytes);
                bytes
            }
        };
        cache.remember(&url, peer.schema);
        let manifest = Manifest::parse(&bytes).map_err(|e| {
            fail(
                command,
                Exit::Device,
                format!("the device's description does not parse: {e}"),
            )
        })?;
        Ok(Device {
            client,
            manifest,
            schema: peer.schema,
            deadline,
        })
    }

    /// The JSON arguments `args` names (read and parsed before the link is opened), and
    /// the device. The arguments are checked against the procedure's types once the
    /// device has said what they are, before any call is made.
    pub(crate) fn bind(
        target: &Target,
        args: &str,
        command: &str,
    ) -> Result<(Device, serde_json::Value), i32> {
        let json =
            crate::args::json(args, "one JSON value").map_err(|e| fail(command, Exit::Usage, e))?;
        Ok((Device::open(target, command)?, json))
    }

    /// The procedure called `name`, or (printed) an error listing those there are.
    pub(crate) fn procedure(&self, name: &str, command: &str) -> Result<&Procedure, i32> {
        self.manifest.procedure(name).ok_or_else(|| {
            let names: Vec<&str> = self
                .manifest
                .procedures
                .iter()
                .map(|p| p.name.as_str())
                .collect();
            fail(
                command,
                Exit::Usage,
                format!(
                    "unknown procedure `{name}`; the device ({}) has: {}",
                    self.manifest.service,
                    names.join(", ")
                ),
            )
        })
    }

    /// What is left of the command's deadline.
    pub(crate) fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

fn manifest_failure(command: &str, e: ClientError, timeout: Duration) -> i32 {
    match e {
        // The device's answers, not the link: retrying would not help.
        ClientError::NoManifest => fail(
            command,
            Exit::Device,
            "the device does not describe itself (it serves no manifest: an older wirecall, \
             or a peer that serves no service); it cannot be called by name",
        ),
        ClientError::Timeout => fail(
            command,
            Exit::Timeout,
            format!("timed out after {timeout:?} fetching the device's description"),
        ),
        e @ ClientError::BadManifest(_) => fail(
            command,
            Exit::Device,
            format!("cannot use the device's description: {e}"),
        ),
        e => fail(
            command,
            Exit::Link,
            format!("cannot fetch the device's description: {e}"),
        ),
    }
}
