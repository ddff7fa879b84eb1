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
    /// The peer lacks the feature (streams and nested calls, or a manifest): its `Hello`
    /// does not set it.
    Unsupported,
    /// The call would be nested deeper than [`Config::max_call_depth`](crate::Config::max_call_depth),
    /// or its parent request is no longer pending.
    TooDeep,
}

/// Why a stream operation ([`send_item`](crate::Endpoint::send_item),
/// [`end_items`](crate::Endpoint::end_items), [`consume`](crate::Endpoint::consume)) did
/// nothing. The stream is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum StreamError {
    /// No such stream is open (it ended, or the id is not a stream).
    NotOpen,
    /// This side sends no items on it (its mode, or its items already ended).
    NotSending,
    /// No credit: wait for `Event::Credit`.
    NoCredit,
    /// The encoded item would exceed the peer's frame limit.
    TooLarge,
    /// The item could not be encoded.
    Encode,
    /// The transmit queue has no room now; drain `poll_transmit` and retry.
    WouldBlock,
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

        // So that `?` carries it into `Box<dyn Error>` and error-reporting crates.
        impl core::error::Error for $t {}
    };
}

display!(CallError {
    NotConnected => "not connected: the handshake has not completed",
    TooManyCalls => "too many calls in flight",
    TooLarge => "arguments exceed the frame limit",
    Encode => "arguments could not be encoded",
    WouldBlock => "transmit queue full; drain poll_transmit and retry",
    Closed => "endpoint closed",
    Unsupported => "the peer does not support streams or nested calls",
    TooDeep => "calls nested too deep (or the parent request ended)",
});
display!(StreamError {
    NotOpen => "no such stream is open",
    NotSending => "this side sends no (more) items on this stream",
    NoCredit => "no credit; wait for Event::Credit",
    TooLarge => "item exceeds the frame limit",
    Encode => "item could not be encoded",
    WouldBlock => "transmit queue full; drain poll_transmit and retry",
});
display!(RespondError {
    NotPending => "no such request is waiting for an answer",
    TooLarge => "result exceeds the peer's frame limit",
    Encode => "result could not be encoded",
    WouldBlock => "transmit queue full; drain poll_transmit and retry",
});
display!(CancelError { NotPending => "no such call is in flight" });
