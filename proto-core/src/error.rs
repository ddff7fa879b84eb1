//! Errors of commands: misuse or local capacity, returned as `Result`s.
//!
//! Each command has its own small `Copy` enum. Nothing about the peer or the link ever
//! appears here: those are events and [`Stats`](crate::Stats).

/// Why [`Endpoint::call`](crate::Endpoint::call) did not start a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CallError {
    /// The handshake has not completed (wait for `Event::Connected`).
    NotConnected,
    /// As many calls are in flight as this side's table or the peer's limit allows.
    TooManyCalls,
    /// The encoded arguments would exceed the peer's or this side's frame limit.
    TooLarge,
    /// The arguments could not be encoded.
    Encode,
    /// The transmit queue has no room now; drain `poll_transmit` and retry.
    WouldBlock,
    /// The endpoint was closed.
    Closed,
}

/// Why a response was not sent. The request stays pending: respond again or send an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RespondError {
    /// No request with that id is waiting for an answer (answered, cancelled, expired).
    NotPending,
    /// The encoded result would exceed the peer's frame limit (answer `TooLarge` instead).
    TooLarge,
    /// The result could not be encoded.
    Encode,
    /// The transmit queue has no room now; drain `poll_transmit` and retry.
    WouldBlock,
}

/// Why [`Endpoint::cancel`](crate::Endpoint::cancel) did nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CancelError {
    /// No call with that id is in flight (it already ended).
    NotPending,
}

macro_rules! display {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl core::fmt::Display for $t {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(match self { $(Self::$v => $s),* })
            }
        }
    };
}

display!(CallError {
    NotConnected => "not connected: the handshake has not completed",
    TooManyCalls => "too many calls in flight",
    TooLarge => "arguments exceed the frame limit",
    Encode => "arguments could not be encoded",
    WouldBlock => "transmit queue full; drain poll_transmit and retry",
    Closed => "endpoint closed",
});
display!(RespondError {
    NotPending => "no such request is waiting for an answer",
    TooLarge => "result exceeds the peer's frame limit",
    Encode => "result could not be encoded",
    WouldBlock => "transmit queue full; drain poll_transmit and retry",
});
display!(CancelError { NotPending => "no such call is in flight" });
