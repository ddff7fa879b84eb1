//! The bounded tables of calls in flight, one per direction.
//!
//! A slot is taken while the call or its aftermath still needs memory, and freed as soon as
//! nothing more can happen to it. The life of an outbound slot:
//!
//! ```text
//!   call() ──► waiting ──reply/error──► (event) ──► free
//!                 │
//!                 ├─deadline──► ended, cancel due, failure to report ─┐
//!                 ├─cancel()──► ended, cancel due ────────────────────┤
//!                 │                                                   ▼
//!                 │                   held until the peer answers the cancel (always the last
//!                 │                   frame for the id) or the grace period ends, so a late
//!                 │                   reply can never match a newer call ─► free
//!                 └─link lost──► failure to report ─► (event) ─► free
//! ```

use crate::event::{CallFailure, RequestEnd};
use crate::stream::Flow;
use crate::time::Instant;
use crate::wire::WireError;

/// A call this endpoint made.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OutCall {
    pub(crate) id: u32,
    /// While waiting: the deadline. Once ended: when the slot stops waiting for the peer's
    /// final frame (one field serves both, as a call is never in both states).
    pub(crate) until: Instant,
    /// The application has been (or will be) told the call ended; it no longer waits.
    pub(crate) ended: bool,
    /// The peer may still send a final frame for this id.
    pub(crate) live: bool,
    /// A cancel frame must still be queued.
    pub(crate) cancel_due: bool,
    /// A failure not yet reported through `poll_event`.
    pub(crate) report: Option<CallFailure>,
    /// Its items and credit, if it is a stream.
    pub(crate) flow: Flow,
}

impl OutCall {
    pub(crate) fn new(id: u32, deadline: Instant, flow: Flow) -> Self {
        OutCall {
            id,
            until: deadline,
            ended: false,
            live: true,
            cancel_due: false,
            report: None,
            flow,
        }
    }

    /// Ends the call locally (deadline or cancel): tell the peer, and hold the id a while.
    /// Returns true if a cancel became due (it was not already).
    pub(crate) fn abandon(&mut self, now: Instant, grace: crate::time::Duration) -> bool {
        self.ended = true;
        self.until = now + grace;
        !core::mem::replace(&mut self.cancel_due, true)
    }

    /// Nothing more can happen to this slot.
    pub(crate) fn is_done(&self) -> bool {
        !self.live && !self.cancel_due && self.report.is_none()
    }
}

/// What became of a call the peer made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InState {
    /// Waiting for `respond`.
    Active,
    /// Ended without a response; `error_due` must still be sent, `reported` tells whether
    /// the application has seen `RequestEnded`.
    Ended {
        reason: RequestEnd,
        error_due: Option<WireError>,
        reported: bool,
    },
}

/// A call the peer made.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InCall {
    pub(crate) id: u32,
    pub(crate) deadline: Instant,
    pub(crate) state: InState,
    /// Calls nested above it (0: the caller made it of its own accord).
    pub(crate) depth: u8,
    /// Its items and credit, if it is a stream.
    pub(crate) flow: Flow,
}

impl InCall {
    pub(crate) fn is_active(&self) -> bool {
        self.state == InState::Active
    }

    pub(crate) fn is_done(&self) -> bool {
        matches!(
            self.state,
            InState::Ended {
                error_due: None,
                reported: true,
                ..
            }
        )
    }

    /// Ends an active call; returns true if it was active (and so is now ended).
    pub(crate) fn end(&mut self, reason: RequestEnd, error_due: Option<WireError>) -> bool {
        if !self.is_active() {
            return false;
        }
        self.state = InState::Ended {
            reason,
            error_due,
            reported: false,
        };
        true
    }

    /// The error still owed to the peer, if any.
    pub(crate) fn error_due(&self) -> Option<WireError> {
        match self.state {
            InState::Ended { error_due, .. } => error_due,
            InState::Active => None,
        }
    }

    /// Forgets the error owed to the peer; returns true if there was one.
    pub(crate) fn drop_error(&mut self) -> bool {
        match &mut self.state {
            InState::Ended { error_due, .. } => error_due.take().is_some(),
            InState::Active => false,
        }
    }
}
