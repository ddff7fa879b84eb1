//! Streams and nested calls on a blocking link: what a consumer, a producer and a handler
//! calling back do with the link while they wait.
//!
//! A thread that waits on a stream (for an item, or for credit to send one) reads the link
//! itself when nobody else does, as a caller waiting for its reply does, and otherwise
//! sleeps on the stream's slot until the reader of the moment fills it. It never joins the
//! followers: between two items it runs application code, and a promotion sent to it
//! then would leave the link unread.

use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use wirecall::Open;

use super::{Conn, Started, Until};
use crate::host::session::{CallOutcome, CallTicket, ClientError, Sent, Ticket};
use crate::host::slot::{Popped, StreamSlot};

/// Which side of a stream a thread sends on.
pub(crate) enum Target<'a> {
    /// A stream call this side made.
    Call(CallTicket),
    /// A stream request this side serves.
    Request(&'a Ticket),
}

/// The most items a stream consumer takes before it reports them to the endpoint (see
/// [`Conn::next_item`]): one lock and one look at the transmit queue per this many. Never
/// more than a quarter of the window, so that the endpoint's grant at half a window is not
/// held back.
const REPORT_EVERY: u32 = 16;

impl Conn {
    /// How many items a consumer of this link's streams reports at once.
    pub(crate) fn report_every(&self) -> u32 {
        (self.lock().session.config().stream_window / 4).clamp(1, REPORT_EVERY)
    }
}

/// How long a waiting thread sleeps before it looks at the link again (a reader may have
/// left meanwhile without anyone to promote).
const LOOK_AGAIN: Duration = Duration::from_millis(50);

impl Conn {
    /// Opens a call as `how` says, its items meeting this side at the returned slot; waits
    /// up to `start_within` to start it.
    pub(crate) fn open_stream(
        &self,
        schema: Option<u32>,
        procedure: u32,
        args: &[u8],
        how: Open,
        start_within: Duration,
    ) -> Result<(Started, Arc<StreamSlot>), ClientError> {
        let slot = Arc::new(StreamSlot::default());
        let now = StdInstant::now();
        let deadline = how
            .timeout
            .map(|t| now + crate::host::capped(crate::host::from_core(t)));
        let start_within = crate::host::capped(start_within);
        let mut how = how;
        how.timeout = None;
        let started = self.start_open(
            schema,
            procedure,
            args,
            how,
            Some(slot.clone()),
            deadline.map_or(now + start_within, |d| d.min(now + start_within)),
            deadline,
            true,
            None,
        )?;
        Ok((started, slot))
    }

    /// The next item of a stream call (consumed: the peer may send another), or `None`
    /// once no more will come (then collect the outcome with [`finish`](Conn::finish)).
    ///
    /// Items taken are reported to the endpoint (which grants credit for them) in batches:
    /// `unreported` counts those not reported yet, reported once there are
    /// `report_every` or before this thread waits for more. The slot never holds more
    /// than the window either way (an item taken is out of it).
    pub(crate) fn next_item(
        &self,
        started: &Started,
        slot: &StreamSlot,
        unreported: &mut u32,
        report_every: u32,
    ) -> Option<Vec<u8>> {
        loop {
            match slot.pop() {
                Popped::Item(item) => {
                    *unreported += 1;
                    if *unreported >= report_every {
                        self.report_consumed(started, unreported);
                    }
                    return Some(item);
                }
                Popped::Over => return None,
                Popped::Empty => {
                    self.report_consumed(started, unreported);
                    self.wait_on(slot, None, started.deadline, false);
                }
            }
        }
    }

    pub(crate) fn report_consumed(&self, started: &Started, unreported: &mut u32) {
        if *unreported == 0 {
            return;
        }
        let mut st = self.lock();
        st.session
            .consume_call_items(started.id, std::mem::take(unreported));
        drop(self.flush(st, Some(StdInstant::now() + crate::host::link::TICK)));
    }

    /// The next item the caller sent on a stream request (consumed), or `None` once its
    /// items ended or the stream is over.
    pub(crate) fn next_request_item(&self, ticket: &Ticket, slot: &StreamSlot) -> Option<Vec<u8>> {
        loop {
            match slot.pop() {
                Popped::Item(item) => {
                    let mut st = self.lock();
                    st.session.consume_request_item(ticket);
                    drop(self.flush(st, Some(StdInstant::now() + crate::host::link::TICK)));
                    return Some(item);
                }
                Popped::Over => return None,
                // A handler reads too, but leaves any request it reads to another thread:
                // served on its stack, it would hold this one up.
                Popped::Empty => self.wait_on(slot, None, super::far_future(), true),
            }
        }
    }

    /// Sends one item, waiting for credit (and transmit room) as long as the stream lasts
    /// or until `deadline`. With `write`, the item is written now; without, it waits in
    /// the transmit queue for the next write (when the queue is full, when this thread
    /// waits, or at [`flush_items`](Self::flush_items)), so that items share writes.
    pub(crate) fn send_item(
        &self,
        target: Target<'_>,
        slot: &StreamSlot,
        item: &[u8],
        deadline: StdInstant,
        write: bool,
    ) -> Result<(), ClientError> {
        loop {
            let credits = slot.credits();
            let mut st = self.lock();
            let sent = match &target {
                Target::Call(id) => st.session.send_call_item(*id, item)?,
                Target::Request(ticket) => st.session.send_request_item(ticket, item)?,
            };
            if write || sent != Sent::Queued {
                st = self.flush(st, Some(StdInstant::now() + crate::host::link::TICK));
            }
            match sent {
                Sent::Queued => return Ok(()),
                Sent::NoRoom => {
                    // Another thread is writing: its write makes the room (and, as for a
                    // call waiting to start, wakes the threads counted in `starting`).
                    if st.writing {
                        st.starting += 1;
                        st = self.wait(st, Some(StdInstant::now() + crate::host::link::TICK));
                        st.starting -= 1;
                    }
                    drop(st);
                    continue;
                }
                Sent::NoCredit => drop(st),
            }
            if slot.is_ended() {
                return Err(ClientError::StreamEnded);
            }
            if StdInstant::now() >= deadline {
                return Err(ClientError::Timeout);
            }
            // A handler (sending on a request) defers requests, as in `next_request_item`.
            let defer = matches!(target, Target::Request(_));
            self.wait_on(slot, Some(credits), deadline, defer);
        }
    }

    /// Writes the items queued without being written.
    pub(crate) fn flush_items(&self) {
        let st = self.lock();
        drop(self.flush(st, Some(StdInstant::now() + crate::host::link::TICK)));
    }

    /// Ends the items of a stream call this side made.
    pub(crate) fn end_items(&self, id: CallTicket) -> Result<(), ClientError> {
        loop {
            let mut st = self.lock();
            let done = st.session.end_call_items(id)?;
            st = self.flush(st, Some(StdInstant::now() + crate::host::link::TICK));
            if done {
                return Ok(());
            }
            drop(self.wait(st, Some(StdInstant::now() + crate::host::link::TICK)));
        }
    }

    /// A call made while serving the request of `ticket` (a callback into its caller):
    /// one level deeper.
    pub(crate) fn call_nested(
        &self,
        ticket: &Ticket,
        procedure: u32,
        args: &[u8],
        timeout: Duration,
    ) -> CallOutcome {
        let parent = self
            .lock()
            .session
            .current_request(ticket)
            .ok_or(ClientError::TooDeep)?;
        let deadline = StdInstant::now() + crate::host::capped(timeout);
        let started = self.start_open(
            None,
            procedure,
            args,
            Open::call().nested_in(parent),
            None,
            deadline,
            Some(deadline),
            true,
            None,
        )?;
        self.finish(&started)
    }

    /// Waits until `slot` is ready (an item or the end; with `credits`, new credit or the
    /// end), reading the link while nobody else does; with `defer` (a handler) a request
    /// read meanwhile is left to another thread.
    pub(super) fn wait_on(
        &self,
        slot: &StreamSlot,
        credits: Option<u64>,
        deadline: StdInstant,
        defer: bool,
    ) {
        let until = deadline.min(StdInstant::now() + LOOK_AGAIN);
        let mut st = self.lock();
        if slot.ready(credits) {
            return;
        }
        // Requests held back in a batch, or credit just queued, go out before waiting.
        st = self.flush(st, Some(StdInstant::now() + crate::host::link::TICK));
        // Counted while it waits, so that the client's I/O thread hands the reading over
        // (after its current read) instead of waking this thread for every item.
        st.streaming += 1;
        if !defer && st.deferred.is_some() && !st.reading {
            // A consumer or producer of its own call serves what it reads; it
            // serves what a handler left, too.
            drop(st);
            self.serve_deferred();
        } else if self.can_read(&st) {
            let role = Self::take_read_role(&mut st);
            drop(st);
            if let Some(role) = role {
                let until = Until::Stream {
                    slot,
                    credits,
                    until,
                    defer,
                };
                self.lead(role, until);
            }
        } else {
            drop(st);
            slot.wait(until, credits);
        }
        self.lock().streaming -= 1;
    }
}
