//! The endpoint's counters as a JavaScript object.

use js_sys::{Object, Reflect};
use wasm_bindgen::JsValue;
use wirecall::Stats;

/// Every counter of `stats`, named as in Rust (`crc_errors`, `calls_sent`, ...).
pub(crate) fn to_js(stats: &Stats) -> JsValue {
    let s = stats;
    let fields: [(&str, u32); 29] = [
        ("bytes_in", s.bytes_in),
        ("bytes_out", s.bytes_out),
        ("frames_in", s.frames_in),
        ("frames_out", s.frames_out),
        ("crc_errors", s.crc_errors),
        ("framing_errors", s.framing_errors),
        ("oversized_frames", s.oversized_frames),
        ("frame_timeouts", s.frame_timeouts),
        ("protocol_errors", s.protocol_errors),
        ("ignored_frames", s.ignored_frames),
        ("calls_sent", s.calls_sent),
        ("requests_received", s.requests_received),
        ("busy_sent", s.busy_sent),
        ("late_replies", s.late_replies),
        ("calls_timed_out", s.calls_timed_out),
        ("requests_timed_out", s.requests_timed_out),
        ("cancels_sent", s.cancels_sent),
        ("cancels_received", s.cancels_received),
        ("pings_sent", s.pings_sent),
        ("pings_received", s.pings_received),
        ("handshakes", s.handshakes),
        ("link_losses", s.link_losses),
        ("backpressure_stalls", s.backpressure_stalls),
        ("items_sent", s.items_sent),
        ("items_received", s.items_received),
        ("items_refused", s.items_refused),
        ("handles_exported", s.handles_exported),
        ("handles_released", s.handles_released),
        ("stale_handles", s.stale_handles),
    ];
    let out = Object::new();
    for (name, value) in fields {
        let _ = Reflect::set(&out, &name.into(), &value.into());
    }
    out.into()
}
