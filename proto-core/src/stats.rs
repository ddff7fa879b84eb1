//! Counters of everything the link and the peer did, good and bad.
//!
//! Faults caused by the peer or the link never come out of `handle_*` as errors: they are
//! counted here (and, where a call is affected, reported as an event). Counters saturate.

/// Link and peer statistics of one endpoint, since it was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Stats {
    /// Bytes taken by `handle_input`.
    pub bytes_in: u32,
    /// Bytes handed out by `poll_transmit`.
    pub bytes_out: u32,
    /// Frames with a valid CRC received.
    pub frames_in: u32,
    /// Frames queued for sending.
    pub frames_out: u32,
    /// Frames dropped for a CRC mismatch.
    pub crc_errors: u32,
    /// Frames dropped for broken COBS or being shorter than header and CRC.
    pub framing_errors: u32,
    /// Frames dropped for exceeding the receive buffer.
    pub oversized_frames: u32,
    /// Partial frames dropped because they took longer than `frame_timeout`.
    pub frame_timeouts: u32,
    /// Valid-CRC frames that broke the protocol (malformed, unknown must-understand kind,
    /// duplicate call id).
    pub protocol_errors: u32,
    /// Frames of unknown kinds without the must-understand bit, ignored.
    pub ignored_frames: u32,
    /// Calls started with `call`.
    pub calls_sent: u32,
    /// Requests received and admitted.
    pub requests_received: u32,
    /// `Busy` replies sent because every inbound slot was taken.
    pub busy_sent: u32,
    /// Replies and errors that arrived for calls no longer waiting (late or unknown).
    pub late_replies: u32,
    /// Outbound calls that hit their deadline.
    pub calls_timed_out: u32,
    /// Inbound calls that hit their deadline before a response.
    pub requests_timed_out: u32,
    /// Cancels sent to the peer.
    pub cancels_sent: u32,
    /// Cancels received from the peer.
    pub cancels_received: u32,
    /// Pings sent.
    pub pings_sent: u32,
    /// Pings received (answered by at most one pending pong).
    pub pings_received: u32,
    /// Handshakes completed.
    pub handshakes: u32,
    /// Times an established link was lost (idle, peer restart, reset, close).
    pub link_losses: u32,
    /// Times `handle_input` stopped early because the transmit queue was full.
    pub backpressure_stalls: u32,
    /// Stream items sent.
    pub items_sent: u32,
    /// Stream items received and reported.
    pub items_received: u32,
    /// Stream items that arrived beyond the credit granted (each ends its stream with
    /// `FlowControl`), or for a stream already over (counted and dropped).
    pub items_refused: u32,
    /// Objects exported (handles sent in answers).
    pub handles_exported: u32,
    /// Exported objects freed by the peer's release.
    pub handles_released: u32,
    /// Method calls and releases naming no live object (each call answered
    /// `StaleHandle`).
    pub stale_handles: u32,
}

pub(crate) fn bump(counter: &mut u32) {
    *counter = counter.saturating_add(1);
}
