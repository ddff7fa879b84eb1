//! Run-time settings of an endpoint. Capacities are const generics of
//! [`Endpoint`](crate::Endpoint), not settings, so that its size is known at compile time.

use crate::time::Duration;

/// A limit on how often a peer may cause some kind of work: at most `max` in any `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Budget {
    /// Events allowed per window.
    pub max: u16,
    /// Length of the window.
    pub window: Duration,
}

/// Run-time settings. Start from [`Config::default`], the microcontroller defaults, and
/// change what your link needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Config {
    /// Deadline of a call made with [`Endpoint::call`](crate::Endpoint::call), and the
    /// longest a served call may run when its caller sent no timeout. Default 5 s.
    pub call_timeout: Duration,
    /// After this long without a valid frame from the peer, send a ping; after three times
    /// the longer of ours and the peer's, declare the link dead. Also the interval between
    /// `Hello`s while the handshake is unanswered. Default 1 s.
    pub keepalive: Duration,
    /// Longest time from a frame's first byte to its last before the partial frame is
    /// dropped. Scale it to the link ([`Config::for_link`] does): at 115200 baud a 256-byte
    /// frame takes 23 ms, at 9600 baud 275 ms. Default 500 ms, enough for 256-byte frames
    /// down to 9600 baud.
    pub frame_timeout: Duration,
    /// After a call is cancelled or times out, how long its slot stays reserved waiting for
    /// the peer's final word, so that a late reply can never be taken for a newer call.
    /// Default 1 s.
    pub late_reply_grace: Duration,
    /// Hash of the service schema this endpoint serves (0: it serves nothing by schema).
    pub schema: u32,
    /// The manifest this side serves to a peer that asks (`MANIFEST` of a
    /// [`service!`](crate::service)); empty: none. Set it with
    /// [`with_manifest`](Config::with_manifest), which also sets `schema` to its hash.
    pub manifest: &'static [u8],
    /// If set, the schema hash the peer must serve; any other ends the handshake with
    /// `IncompatibleSchema`.
    pub expect_schema: Option<u32>,
    /// Malformed frames and other protocol violations allowed before the link is reset.
    /// Default 8 per second.
    pub protocol_error_budget: Budget,
    /// Cancels from the peer allowed before the link is reset. Default 64 per second.
    pub cancel_budget: Budget,
    /// Frames that do no work, allowed before the link is reset: a reply or error for a
    /// call this side never made (or one already settled), items for a call that has no
    /// slot, a Ping while the Pong to the last one is still unsent, a frame of an optional
    /// kind this side does not know. Each is cheap, but a peer that sends them without end
    /// is broken or hostile. Default 64 per second.
    pub stray_budget: Budget,
    /// Requests the peer cancels while they are still being served (their work thrown
    /// away), allowed before the link is reset: a peer that opens and cancels requests in
    /// pairs (the rapid-reset pattern of HTTP/2) would otherwise keep handlers running
    /// while staying under the cancel budget. Default 32 per 10 s, far above what deadlines
    /// firing on a slow server cause.
    pub abandon_budget: Budget,
    /// Restarts of the peer (initial `Hello`s on an established link) honoured in a window;
    /// one more is a protocol violation and is not honoured. Default 4 per 10 s.
    pub restart_budget: Budget,
    /// The longest this side waits for a frame before declaring the link dead, whatever
    /// keepalive the peer advertises. The idle limit is three of the longer of the two
    /// keepalive intervals, capped at this (but never below three of this side's own).
    /// Default 30 s.
    pub max_idle_limit: Duration,
    /// The longest deadline this side gives a call it serves, whatever timeout the caller
    /// sends or advertises: past it the caller is answered `DeadlineExceeded`. Default 60 s.
    pub max_request_timeout: Duration,
    /// Largest decoded frame this side accepts and advertises (header and CRC included),
    /// at most the endpoint's `FRAME` and at least [`MIN_MAX_FRAME`](crate::MIN_MAX_FRAME).
    /// Default: `FRAME`.
    pub max_frame: u32,
    /// Calls from the peer served at once (more get `Busy`), at most the endpoint's `IN`.
    /// Default: `IN`.
    pub max_inbound: u32,
    /// Calls to the peer in flight at once, at most the endpoint's `OUT`. Default: `OUT`.
    pub max_outbound: u32,
    /// Items the peer may send on each stream before this side grants more (advertised in
    /// the `Hello`; 1 to 65535). What the application holds of a stream's items is never
    /// more than this. Default 8, for a microcontroller whose application may hold items;
    /// a host over a fast link wants more in flight: over loopback TCP a stream of 1 KiB
    /// items moves about 0.1 of a raw socket's bytes at 8, 0.95 at 64 and 1.05 at 256
    /// (docs/BENCHMARKS.md), and holds at most window x item size per stream.
    pub stream_window: u32,
    /// A stream on which no item, credit or end has moved either way for this long ends:
    /// the peer is told (`Cancel` from a caller, `DeadlineExceeded` from a server) and the
    /// application gets `CallFailure::Idle` or `RequestEnd::Idle`. It bounds streams made
    /// without a deadline. Default 30 s.
    pub stream_idle_timeout: crate::time::Duration,
    /// Calls nested in calls (callbacks calling back) this side serves: a request made more
    /// than this many levels deep is answered `TooDeep`, and this side makes none deeper.
    /// Default 4.
    pub max_call_depth: u8,
    /// Speak remote handles (feature bit 3 of the `Hello`): take method calls on the
    /// handles this side exports and releases of them, send revokes, and hold the peer's
    /// handles. Off by default, so that an endpoint that uses none sends the same `Hello`
    /// as before handles existed; [`with_handles`](Config::with_handles) turns it on.
    pub handles: bool,
    /// Slots of the export table this side advertises and uses, at most the endpoint's
    /// `HANDLES`. Default: `HANDLES`.
    pub max_handles: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            call_timeout: Duration::from_secs(5),
            keepalive: Duration::from_secs(1),
            frame_timeout: Duration::from_millis(500),
            late_reply_grace: Duration::from_secs(1),
            schema: 0,
            manifest: &[],
            expect_schema: None,
            protocol_error_budget: Budget {
                max: 8,
                window: Duration::from_secs(1),
            },
            cancel_budget: Budget {
                max: 64,
                window: Duration::from_secs(1),
            },
            stray_budget: Budget {
                max: 64,
                window: Duration::from_secs(1),
            },
            abandon_budget: Budget {
                max: 32,
                window: Duration::from_secs(10),
            },
            restart_budget: Budget {
                max: 4,
                window: Duration::from_secs(10),
            },
            max_idle_limit: Duration::from_secs(30),
            max_request_timeout: Duration::from_secs(60),
            max_frame: u32::MAX,
            max_inbound: u32::MAX,
            max_outbound: u32::MAX,
            stream_window: 8,
            stream_idle_timeout: Duration::from_secs(30),
            max_call_depth: 4,
            handles: false,
            max_handles: u32::MAX,
        }
    }
}

impl Config {
    /// Sets [`Config::schema`] (builder style, since the struct is `non_exhaustive`).
    #[must_use = "a builder returns the changed Config; the original is unchanged"]
    pub const fn with_schema(mut self, schema: u32) -> Self {
        self.schema = schema;
        self
    }
    /// Serves `manifest` (a service's `MANIFEST`) to peers that ask, and sets
    /// [`Config::schema`] to its hash ([`manifest_hash`](crate::manifest_hash)).
    #[must_use = "a builder returns the changed Config; the original is unchanged"]
    pub const fn with_manifest(mut self, manifest: &'static [u8]) -> Self {
        self.manifest = manifest;
        self.schema = match manifest.is_empty() {
            true => 0,
            false => crate::manifest::manifest_hash(manifest),
        };
        self
    }

    /// Sets [`Config::expect_schema`].
    #[must_use = "a builder returns the changed Config; the original is unchanged"]
    pub const fn expecting_schema(mut self, schema: u32) -> Self {
        self.expect_schema = Some(schema);
        self
    }
    /// Sets [`Config::call_timeout`].
    #[must_use = "a builder returns the changed Config; the original is unchanged"]
    pub const fn with_call_timeout(mut self, d: Duration) -> Self {
        self.call_timeout = d;
        self
    }
    /// Sets [`Config::keepalive`].
    #[must_use = "a builder returns the changed Config; the original is unchanged"]
    pub const fn with_keepalive(mut self, d: Duration) -> Self {
        self.keepalive = d;
        self
    }
    /// Scales the timers to a serial link of `baud` bits per second (10 bit times per byte:
    /// 8N1) carrying frames of up to `max_frame` decoded bytes: see
    /// [`for_byte_time`](Config::for_byte_time). At 9600 baud and above, with frames of up
    /// to about 900 bytes, only [`frame_timeout`](Config::frame_timeout) changes (the
    /// defaults of the others are longer than what the link needs).
    #[must_use = "a builder returns the changed Config; the original is unchanged"]
    pub const fn for_link(self, baud: u32, max_frame: usize) -> Self {
        let baud = if baud == 0 { 1 } else { baud as u64 };
        // Rounded up: a timer a microsecond long per byte is safe, a short one is not.
        let byte_micros = 10_000_000_u64.div_ceil(baud);
        self.for_byte_time(Duration::from_micros(byte_micros), max_frame)
    }

    /// Scales the timers to a link on which one byte takes up to `byte_time` and frames
    /// hold up to `max_frame` decoded bytes, so that no frame, call, keepalive or stream
    /// times out only because the link is slow. With `F` the time the largest encoded frame
    /// takes on the link:
    ///
    /// * [`frame_timeout`](Config::frame_timeout) = 2`F` + 20 ms (scheduling jitter), set
    ///   whatever it was (on a fast link this lowers it);
    /// * [`keepalive`](Config::keepalive) at least `F`: while the peer sends one frame
    ///   nothing valid arrives, so the idle limit (three keepalives) is at least 3`F`;
    /// * [`call_timeout`](Config::call_timeout) at least 4`F`: the request and its answer at
    ///   full size, and one full frame queued ahead of each. Calls made while others are in
    ///   flight queue behind them: with `n` at once, give each a timeout of about
    ///   (2 + 2`n`)`F` (a call's own timeout, or [`with_call_timeout`](Config::with_call_timeout)
    ///   after this);
    /// * [`late_reply_grace`](Config::late_reply_grace) at least 2`F`,
    ///   [`stream_idle_timeout`](Config::stream_idle_timeout) at least 4`F` (an item one
    ///   way, its credit the other, with a frame ahead of each);
    /// * [`max_idle_limit`](Config::max_idle_limit) and
    ///   [`max_request_timeout`](Config::max_request_timeout) never below what the above
    ///   need.
    ///
    /// All but `frame_timeout` are only ever raised from their current value. A link of a
    /// few bytes per second (the Morse link of `wirecall-adapters`) gets minutes.
    #[must_use = "a builder returns the changed Config; the original is unchanged"]
    pub const fn for_byte_time(mut self, byte_time: Duration, max_frame: usize) -> Self {
        let bytes = crate::framing::max_encoded_len(max_frame) as u64;
        let frame = byte_time.saturating_mul(bytes);
        self.frame_timeout =
            Duration::from_micros(frame.saturating_mul(2).as_micros().saturating_add(20_000));
        self.keepalive = longer(self.keepalive, frame);
        self.call_timeout = longer(self.call_timeout, frame.saturating_mul(4));
        self.late_reply_grace = longer(self.late_reply_grace, frame.saturating_mul(2));
        self.stream_idle_timeout = longer(self.stream_idle_timeout, frame.saturating_mul(4));
        self.max_idle_limit = longer(self.max_idle_limit, self.keepalive.saturating_mul(3));
        self.max_request_timeout = longer(self.max_request_timeout, self.call_timeout);
        self
    }

    /// Sets [`Config::frame_timeout`].
    #[must_use = "a builder returns the changed Config; the original is unchanged"]
    pub const fn with_frame_timeout(mut self, d: Duration) -> Self {
        self.frame_timeout = d;
        self
    }
    /// Sets [`Config::late_reply_grace`].
    #[must_use = "a builder returns the changed Config; the original is unchanged"]
    pub const fn with_late_reply_grace(mut self, d: Duration) -> Self {
        self.late_reply_grace = d;
        self
    }
    /// Sets [`Config::protocol_error_budget`].
    #[must_use = "a builder returns the changed Config; the original is unchanged"]
    pub const fn with_protocol_error_budget(mut self, b: Budget) -> Self {
        self.protocol_error_budget = b;
        self
    }
    /// Sets [`Config::cancel_budget`].
    #[must_use = "a builder returns the changed Config; the original is unchanged"]
    pub const fn with_cancel_budget(mut self, b: Budget) -> Self {
        self.cancel_budget = b;
        self
    }
    /// Sets [`Config::stray_budget`].
    #[must_use]
    pub const fn with_stray_budget(mut self, b: Budget) -> Self {
        self.stray_budget = b;
        self
    }

    /// Sets [`Config::abandon_budget`].
    #[must_use]
    pub const fn with_abandon_budget(mut self, b: Budget) -> Self {
        self.abandon_budget = b;
        self
    }

    /// Sets [`Config::restart_budget`].
    #[must_use = "a builder returns the changed Config; the original is unchanged"]
    pub const fn with_restart_budget(mut self, b: Budget) -> Self {
        self.restart_budget = b;
        self
    }
    /// Sets [`Config::max_idle_limit`].
    #[must_use = "a builder returns the changed Config; the original is unchanged"]
    pub const fn with_max_idle_limit(mut self, d: Duration) -> Self {
        self.max_idle_limit = d;
        self
    }
    /// Sets [`Config::max_request_timeout`].
    #[must_use = "a builder returns the changed Config; the original is unchanged"]
    pub const fn with_max_request_timeout(mut self, d: Duration) -> Self {
        self.max_request_timeout = d;
        self
    }
    /// Sets [`Config::max_frame`] (clamped to the endpoint's capacity when it is used).
    #[must_use = "a builder returns the changed Config; the original is unchanged"]
    pub const fn with_max_frame(mut self, bytes: u32) -> Self {
        self.max_frame = bytes;
        self
    }
    /// Sets [`Config::max_inbound`] (clamped to the endpoint's capacity when it is used).
    #[must_use = "a builder returns the changed Config; the original is unchanged"]
    pub const fn with_max_inbound(mut self, calls: u32) -> Self {
        self.max_inbound = calls;
        self
    }
    /// Sets [`Config::max_outbound`] (clamped to the endpoint's capacity when it is used).
    #[must_use = "a builder returns the changed Config; the original is unchanged"]
    pub const fn with_max_outbound(mut self, calls: u32) -> Self {
        self.max_outbound = calls;
        self
    }
    /// Sets [`Config::stream_window`] (clamped to 1..=65535 when it is used).
    #[must_use = "a builder returns the changed Config; the original is unchanged"]
    pub const fn with_stream_window(mut self, items: u32) -> Self {
        self.stream_window = items;
        self
    }
    /// Sets [`Config::stream_idle_timeout`].
    #[must_use = "a builder returns the changed Config; the original is unchanged"]
    pub const fn with_stream_idle_timeout(mut self, d: Duration) -> Self {
        self.stream_idle_timeout = d;
        self
    }
    /// Sets [`Config::max_call_depth`].
    #[must_use = "a builder returns the changed Config; the original is unchanged"]
    pub const fn with_max_call_depth(mut self, depth: u8) -> Self {
        self.max_call_depth = depth;
        self
    }
    /// Turns on remote handles ([`Config::handles`]).
    #[must_use = "a builder returns the changed Config; the original is unchanged"]
    pub const fn with_handles(mut self) -> Self {
        self.handles = true;
        self
    }
    /// Sets [`Config::max_handles`] (clamped to the endpoint's `HANDLES` when it is used)
    /// and turns handles on.
    #[must_use = "a builder returns the changed Config; the original is unchanged"]
    pub const fn with_max_handles(mut self, handles: u32) -> Self {
        self.max_handles = handles;
        self.handles = true;
        self
    }
}

/// The longer of two spans (`const`, unlike `Ord::max`).
const fn longer(a: Duration, b: Duration) -> Duration {
    if a.as_micros() >= b.as_micros() {
        a
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_timeout_scales_with_the_link() {
        // 256-byte frames encode to at most 260 bytes: 22.6 ms at 115200 baud, doubled, + 20 ms.
        let fast = Config::default().for_link(115_200, 256).frame_timeout;
        assert_eq!(fast.as_millis(), 65);
        let slow = Config::default().for_link(9600, 256).frame_timeout;
        assert_eq!(slow.as_millis(), 561);
        assert!(Config::default().for_link(0, 256).frame_timeout >= slow);
    }

    #[test]
    fn a_fast_link_keeps_every_default_but_the_frame_timeout() {
        for baud in [9600, 115_200] {
            let scaled = Config::default().for_link(baud, 256);
            let expected = Config::default().with_frame_timeout(scaled.frame_timeout);
            assert_eq!(scaled, expected, "{baud} baud");
        }
    }

    #[test]
    fn a_slow_link_raises_every_timer_past_a_frames_time() {
        // Two bytes a second, 64-byte frames (67 encoded): a frame takes 33.5 s.
        let c = Config::default().for_byte_time(Duration::from_millis(500), 64);
        let frame = Duration::from_millis(33_500);
        assert_eq!(c.frame_timeout.as_millis(), 67_020);
        assert_eq!(c.keepalive, frame);
        assert_eq!(c.call_timeout, frame.saturating_mul(4));
        assert_eq!(c.late_reply_grace, frame.saturating_mul(2));
        assert_eq!(c.stream_idle_timeout, frame.saturating_mul(4));
        assert_eq!(c.max_idle_limit, frame.saturating_mul(3));
        assert_eq!(c.max_request_timeout, c.call_timeout);
        // Never lowered: a longer setting made before stays.
        let long = Config::default()
            .with_call_timeout(Duration::from_secs(3600))
            .for_byte_time(Duration::from_millis(500), 64);
        assert_eq!(long.call_timeout, Duration::from_secs(3600));
    }
}
