//! Endpoint types and constructors shared by the tests.

use wirecall::{Config, Endpoint, Instant};
use wirecall_tests::demo::demo;
use wirecall_tests::pair::{Pair, Serve, Side};

/// A microcontroller at the defaults.
pub type Mcu = Endpoint<256, 4, 4, 576>;
/// A host with room for more.
pub type Host = Endpoint<1024, 16, 16, 2100>;

pub fn device_config() -> Config {
    Config::default().with_manifest(&demo::MANIFEST)
}

pub fn host_config() -> Config {
    Config::default().expecting_schema(demo::SCHEMA_HASH)
}

/// A host (A, holding requests: it only calls) and a device (B) serving as `serve`, at
/// the start of their handshake.
pub fn host_and_device(serve: Serve) -> Pair {
    Pair::new(
        Side::new(Host::new(Instant::ZERO, host_config()), Serve::Hold),
        Side::new(Mcu::new(Instant::ZERO, device_config()), serve),
    )
}

/// A host and a serving device, connected, their event logs empty.
pub fn connected_pair() -> Pair {
    let mut p = host_and_device(Serve::Dispatch);
    p.connect();
    p.a.take_events();
    p.b.take_events();
    p
}

/// postcard bytes of `v`.
pub fn enc<T: serde::Serialize>(v: &T) -> Vec<u8> {
    postcard::to_allocvec(v).unwrap()
}

/// The host runtime's server settings for the demo service.
pub fn host_server_config() -> Config {
    Config::default().with_manifest(&demo::MANIFEST)
}

/// A host client that expects the demo service.
pub fn host_client_options() -> wirecall_adapters::host::ClientOptions {
    wirecall_adapters::host::ClientOptions {
        config: Config::default().expecting_schema(demo::SCHEMA_HASH),
        ..wirecall_adapters::host::ClientOptions::default()
    }
}
