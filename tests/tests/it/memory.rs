//! The memory an endpoint can ever use is its size: it owns every buffer.

use crate::common::{Host, Mcu};

#[test]
fn worst_case_ram_at_the_microcontroller_defaults() {
    let ram = Mcu::WORST_CASE_RAM;
    println!("Endpoint<256, 4, 4, 576>: {ram} bytes");
    assert_eq!(
        ram,
        std::mem::size_of::<wirecall::Endpoint>(),
        "the defaults are the MCU defaults"
    );
    // Buffers: 256 receive + 256 assembly + 576 transmit = 1088; tables (with each call's
    // stream state), the export table (4 slots of 12 bytes), timers, counters and settings
    // take the rest of the documented 2,112 bytes (64-bit; 32-bit builds check their own
    // 2,064 at compile time).
    assert!(ram >= 1088, "{ram}");
    assert!(ram <= 2112, "{ram} bytes: over the documented 2,112");
}

#[test]
fn worst_case_ram_grows_with_the_capacities_only() {
    let host = Host::WORST_CASE_RAM;
    println!("Endpoint<1024, 16, 16, 2100>: {host} bytes");
    assert!(
        (1024 * 2 + 2100..=1024 * 2 + 2100 + 2000).contains(&host),
        "{host}"
    );
}

#[test]
fn a_host_connection_holds_the_documented_bytes() {
    use wirecall_adapters::host::Capacity;
    let default = Capacity::default().endpoint_bytes();
    println!("host endpoint, default capacity: {default} bytes");
    // The figure the host module docs and ARCHITECTURE.md state (plus 16 KiB read and
    // 16 KiB write buffers per connection).
    assert_eq!(default, 20_496);
    // The largest capacity costs what its buffers say, and no more than a few KiB besides.
    let largest = Capacity {
        max_frame: 65536,
        max_calls: 256,
    };
    let bytes = largest.endpoint_bytes();
    let buffers = 2 * 65536 + 2 * wirecall::max_encoded_len(65536) + 64;
    assert!((buffers..buffers + 32 * 1024).contains(&bytes), "{bytes}");
}
