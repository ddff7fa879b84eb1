//! The service of the example firmware, declared once for the device and its hosts.

#![no_std]
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

/// What `info` reports about the device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, wirecall::Schema)]
pub struct DeviceInfo {
    /// Firmware name and version.
    pub firmware: heapless::String<24>,
    /// Milliseconds since boot, by the SysTick clock.
    pub uptime_ms: u64,
    /// Valid frames received.
    pub frames_in: u32,
    /// Frames sent.
    pub frames_out: u32,
    /// Frames dropped for a bad CRC.
    pub crc_errors: u32,
    /// Frames dropped for broken framing, or too short.
    pub framing_errors: u32,
    /// `Busy` answers sent.
    pub busy_sent: u32,
    /// Requests served.
    pub requests: u32,
    /// Bytes lost because the UART receive queue was full.
    pub rx_overruns: u32,
}

/// One sample of the device's sensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, wirecall::Schema)]
pub struct Reading {
    /// The sample's number in its stream, from 0.
    pub seq: u32,
    /// When it was taken, in milliseconds since boot.
    pub at_ms: u32,
    /// The value: milli-degrees Celsius of a simulated temperature (QEMU has no sensor).
    pub milli_celsius: i32,
}

wirecall::service! {
    /// The example device.
    pub mod device {
        /// `a + b`; `BadArguments` on overflow.
        0 => Add: fn add(a: i32, b: i32) -> i32;
        /// Returns its bytes.
        1 => Echo: fn echo(data: heapless::Vec<u8, 64>) -> heapless::Vec<u8, 64>;
        /// Firmware version, uptime and the link's statistics.
        2 => Info: fn info() -> DeviceInfo;
        /// Sets the device's level; returns the previous one.
        3 => SetLevel: fn set_level(level: u32) -> u32;
        /// The device's level.
        4 => GetLevel: fn get_level() -> u32;
        /// Answers after `ms` milliseconds without blocking the device: the call stays in
        /// flight meanwhile (for deadlines, the in-flight limit and resets).
        5 => Sleep: fn sleep(ms: u32) -> ();
        /// Samples the sensor `hz` times a second (1 to 1000), `count` samples (0: until
        /// cancelled). A caller that consumes slower than that slows the sampling down:
        /// the device buffers nothing beyond the stream's credit.
        6 => Sample: fn sample(hz: u32, count: u32) -> stream Reading;
        /// Calls back into the caller while serving: asks the caller's procedure 0 (`add`)
        /// for `a + b` and answers with what it said.
        7 => AskHost: fn ask_host(a: i32, b: i32) -> i32;
        /// Opens a channel of sensor `kind`: 0 the temperature in milli-degrees Celsius, 1
        /// the supply voltage in millivolts (`BadArguments` otherwise). A handle: at most
        /// four channels are open at once (`TooManyHandles`), and dropping it closes it.
        8 => OpenChannel: fn open_channel(kind: u8) -> handle Channel;
        /// Powers sensor `kind` down: the device revokes every open channel of it (their
        /// holders are told at once, `Revoked`, "powered down"), then answers how many.
        9 => PowerDown: fn power_down(kind: u8) -> u32;
        /// A channel of the device's sensor, opened by `open_channel`.
        interface Channel {
            /// The sensor's value: the mean of the channel's window of samples, 1 ms
            /// apart, up to now.
            0 => Read: fn read() -> i32;
            /// Sets the window, 1 to 64 samples (`BadArguments` otherwise); returns the
            /// previous one (initially 1).
            1 => Configure: fn configure(samples: u32) -> u32;
        }
    }
}
