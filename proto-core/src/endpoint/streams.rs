//! Streams: the commands that move items and credit, and what arrives for them.
//!
//! The credit rules (docs/PROTOCOL.md, section 6.6): each side of a stream that receives
//! items starts by allowing the peer its `stream_window`; every item spends one; the
//! application reports what it consumed, and once half a window (at least one) is consumed
//! the endpoint grants that much back in one `Credit` frame. So the items a receiver holds
//! unconsumed never exceed its window, and a sender that keeps up never waits for credit.

use super::receive::encode_head;
use super::{Endpoint, Pending};
use crate::error::StreamError;
use crate::event::{CallFailure, CallId, RequestEnd, RequestId};
use crate::framing::CRC_LEN;
use crate::payload::{Payload, PayloadError};
use crate::stats::bump;
use crate::stream::{Flow, StreamId, StreamMode};
use crate::time::Instant;
use crate::wire::{Kind, WireError};

impl<
        const FRAME: usize,
        const IN: usize,
        const OUT: usize,
        const TX: usize,
        const HANDLES: usize,
    > Endpoint<FRAME, IN, OUT, TX, HANDLES>
{
    /// Sends one item on a stream this side sends on: a client or bidirectional stream it
    /// opened, or a server or bidirectional stream it serves. It spends one credit; with
    /// none left it returns [`StreamError::NoCredit`] (wait for
    /// [`Event::Credit`](crate::Event::Credit)).
    pub fn send_item(
        &mut self,
        stream: impl Into<StreamId>,
        item: impl Payload,
    ) -> Result<(), StreamError> {
        let stream = stream.into();
        let flow = self.sending_flow(stream)?;
        if flow.credit == 0 {
            return Err(StreamError::NoCredit);
        }
        let (wire, mine) = match stream {
            StreamId::Call(id) => (id.wire, false),
            StreamId::Request(id) => (id.wire, true),
        };
        let seq = flow.seq_out;
        let limit = self.send_limit().saturating_sub(CRC_LEN);
        let mut n = encode_head(&mut self.scratch, Kind::Item.header(mine), wire);
        if let Some(b) = self.scratch.get_mut(n) {
            *b = seq;
            n += 1;
        }
        let room = self
            .scratch
            .get_mut(n..limit)
            .ok_or(StreamError::TooLarge)?;
        let len = item.write_to(room).map_err(|e| match e {
            PayloadError::TooLarge => StreamError::TooLarge,
            PayloadError::Encode => StreamError::Encode,
        })?;
        if !self.queue_scratch(n + len) {
            return Err(StreamError::WouldBlock);
        }
        let now = self.now;
        if let Ok(flow) = self.sending_flow(stream) {
            flow.credit -= 1;
            flow.seq_out = seq.wrapping_add(1);
            flow.active_at = now;
        }
        bump(&mut self.stats.items_sent);
        Ok(())
    }

    /// Sends several items in one frame (an Items frame: the header, id, sequence and CRC
    /// paid once, and a length byte or two per item), as many of `items`, in order, as the
    /// credit and the peer's frame limit allow; returns how many went. Worth it for small
    /// items: three 64-byte items in one frame take 205 bytes on the wire, in three frames
    /// 222. `NoCredit` and `WouldBlock` as for [`send_item`](Self::send_item); `TooLarge`
    /// if not even the first fits a frame. A single item (or one that only fits alone) goes
    /// as an ordinary Item frame; no items is `Ok(0)`.
    pub fn send_items(
        &mut self,
        stream: impl Into<StreamId>,
        items: &[&[u8]],
    ) -> Result<usize, StreamError> {
        let stream = stream.into();
        let flow = self.sending_flow(stream)?;
        let credit = usize::from(flow.credit);
        let seq = flow.seq_out;
        if credit == 0 {
            return Err(StreamError::NoCredit);
        }
        match items {
            [] => return Ok(0),
            // One item alone goes as an Item frame (no length byte).
            [one] => return self.send_item(stream, *one).map(|()| 1),
            _ => {}
        }
        let (wire, mine) = match stream {
            StreamId::Call(id) => (id.wire, false),
            StreamId::Request(id) => (id.wire, true),
        };
        let limit = self.send_limit().saturating_sub(CRC_LEN);
        let mut n = encode_head(&mut self.scratch, Kind::Items.header(mine), wire);
        if let Some(b) = self.scratch.get_mut(n) {
            *b = seq;
            n += 1;
        }
        let mut sent = 0usize;
        for item in items.iter().take(credit) {
            let mut len = [0u8; crate::varint::MAX_LEN];
            let l = crate::varint::encode(item.len() as u32, &mut len).unwrap_or(0);
            let end = n + l + item.len();
            if end > limit {
                break;
            }
            match self.scratch.get_mut(n..end) {
                Some(dst) => {
                    let copied = crate::bytes::copy_prefix(dst, len.get(..l).unwrap_or(&[]));
                    crate::bytes::copy_prefix(dst.get_mut(copied..).unwrap_or(&mut []), item);
                }
                None => break,
            }
            n = end;
            sent += 1;
        }
        if sent <= 1 {
            // Only the first fits (or not even that packed, with its length byte): it goes
            // alone as an Item frame, which holds a few bytes more.
            return items
                .first()
                .map_or(Ok(0), |one| self.send_item(stream, *one).map(|()| 1));
        }
        if !self.queue_scratch(n) {
            return Err(StreamError::WouldBlock);
        }
        let now = self.now;
        if let Ok(flow) = self.sending_flow(stream) {
            flow.credit -= sent as u16;
            flow.seq_out = seq.wrapping_add(sent as u8);
            flow.active_at = now;
        }
        self.stats.items_sent = self.stats.items_sent.saturating_add(sent as u32);
        Ok(sent)
    }

    /// Ends the items of a client or bidirectional stream this side opened (the call
    /// itself goes on until the server answers).
    pub fn end_items(&mut self, id: CallId) -> Result<(), StreamError> {
        let seq = self.sending_flow(StreamId::Call(id))?.seq_out;
        if !self.queue_end(id.wire, false, seq) {
            return Err(StreamError::WouldBlock);
        }
        let now = self.now;
        if let Ok(flow) = self.sending_flow(StreamId::Call(id)) {
            flow.items_ended = true;
            flow.active_at = now;
        }
        Ok(())
    }

    /// Reports that the application consumed `items` of the stream's received items (it
    /// no longer holds them), so the peer may send as many more. Credit goes back in
    /// batches of half the window. More than the items received and not yet consumed
    /// counts as that many.
    pub fn consume(&mut self, stream: impl Into<StreamId>, items: u32) -> Result<(), StreamError> {
        let window = self.limits.stream_window;
        let flow = self.receiving_flow(stream.into())?;
        let held = window.saturating_sub(flow.allowed.saturating_add(flow.consumed));
        flow.consumed += super::commands::window16(items).min(held);
        if flow.consumed >= (window / 2).max(1) && !flow.credit_due {
            flow.credit_due = true;
            self.due.credits = true;
            self.flush_due();
        }
        Ok(())
    }

    /// Items this side may send on the stream now (0 if it sends none on it, or it ended).
    pub fn credit(&self, stream: impl Into<StreamId>) -> u32 {
        match stream.into() {
            StreamId::Call(id) => match self.outbound.get(id.index()) {
                Some(Some(c))
                    if c.id == id.wire
                        && !c.ended
                        && c.flow.mode.caller_sends()
                        && !c.flow.items_ended =>
                {
                    u32::from(c.flow.credit)
                }
                _ => 0,
            },
            StreamId::Request(id) => match self.inbound.get(id.index()) {
                Some(Some(c))
                    if c.id == id.wire
                        && c.is_active()
                        && c.flow.mode.server_sends()
                        && !c.flow.server_ended =>
                {
                    u32::from(c.flow.credit)
                }
                _ => 0,
            },
        }
    }

    /// True while items may still arrive for the application on `stream`.
    pub(super) fn still_receives(&self, stream: StreamId) -> bool {
        match stream {
            StreamId::Call(id) => matches!(
                self.outbound.get(id.index()),
                Some(Some(c)) if c.id == id.wire && !c.ended
            ),
            StreamId::Request(id) => self.pending_request(id).is_some(),
        }
    }

    /// The stream mode of a request this side serves, while it is pending (a plain call
    /// is [`StreamMode::Call`]).
    pub fn request_mode(&self, id: RequestId) -> Option<StreamMode> {
        self.pending_request(id).map(|c| c.flow.mode)
    }

    /// How deeply a pending request is nested in calls (0: the caller made it of its own
    /// accord; 1: made while the caller served one of this side's calls; ...).
    pub fn request_depth(&self, id: RequestId) -> Option<u8> {
        self.pending_request(id).map(|c| c.depth)
    }

    /// The deadline of a pending request: when this side answers `DeadlineExceeded` on its
    /// own (a stream opened without a timeout has none: `None`). A forwarder gives the call
    /// it makes on the request's behalf what is left of it.
    pub fn request_deadline(&self, id: RequestId) -> Option<Instant> {
        self.pending_request(id)
            .map(|c| c.deadline)
            .filter(|&d| d != super::NEVER)
    }

    fn pending_request(&self, id: RequestId) -> Option<&crate::calls::InCall> {
        match self.inbound.get(id.index()) {
            Some(Some(c)) if c.id == id.wire && c.is_active() => Some(c),
            _ => None,
        }
    }

    /// The flow of an open stream on which this side sends items now.
    fn sending_flow(&mut self, stream: StreamId) -> Result<&mut Flow, StreamError> {
        let flow = self.open_flow(stream)?;
        let sends = match stream {
            StreamId::Call(_) => flow.mode.caller_sends() && !flow.items_ended,
            StreamId::Request(_) => flow.mode.server_sends() && !flow.server_ended,
        };
        if sends {
            Ok(flow)
        } else {
            Err(StreamError::NotSending)
        }
    }

    /// The flow of an open stream on which this side receives items.
    fn receiving_flow(&mut self, stream: StreamId) -> Result<&mut Flow, StreamError> {
        let flow = self.open_flow(stream)?;
        let receives = match stream {
            StreamId::Call(_) => flow.mode.server_sends(),
            StreamId::Request(_) => flow.mode.caller_sends(),
        };
        if receives {
            Ok(flow)
        } else {
            Err(StreamError::NotOpen)
        }
    }

    fn open_flow(&mut self, stream: StreamId) -> Result<&mut Flow, StreamError> {
        let flow = match stream {
            StreamId::Call(id) => match self.outbound.get_mut(id.index()) {
                Some(Some(c)) if c.id == id.wire && !c.ended => &mut c.flow,
                _ => return Err(StreamError::NotOpen),
            },
            StreamId::Request(id) => match self.inbound.get_mut(id.index()) {
                Some(Some(c)) if c.id == id.wire && c.is_active() => &mut c.flow,
                _ => return Err(StreamError::NotOpen),
            },
        };
        if flow.is_stream() {
            Ok(flow)
        } else {
            Err(StreamError::NotOpen)
        }
    }

    // ---- input ---------------------------------------------------------------------------

    /// An Item or Items frame of `count` items: `mine` if it belongs to a call this side
    /// made (the server sent it).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_item(
        &mut self,
        now: Instant,
        id: u32,
        mine: bool,
        seq: u8,
        count: u16,
        packed: bool,
        at: usize,
        len: usize,
    ) {
        let pending = |stream| {
            if packed {
                Pending::Items { stream, at, len }
            } else {
                Pending::Item { stream, at, len }
            }
        };
        if mine {
            let index = Self::out_slot(id);
            let Some(Some(call)) = self.outbound.get_mut(index) else {
                add(&mut self.stats.items_refused, count);
                return self.stray(now); // no call has this id, not even an ended one
            };
            if call.id != id {
                add(&mut self.stats.items_refused, count);
                return self.stray(now);
            }
            if call.ended {
                add(&mut self.stats.items_refused, count); // after our cancel or deadline
                return;
            }
            if !call.flow.mode.server_sends() {
                return self.protocol_error(now);
            }
            if call.flow.allowed < count || call.flow.server_ended {
                // Beyond its credit: end the call, and tell the server why.
                self.break_call(now, index, WireError::FlowControl);
                return self.protocol_error(now);
            }
            if seq != call.flow.seq_in {
                return self.break_call(now, index, WireError::ItemLost);
            }
            call.flow.seq_in = seq.wrapping_add(count as u8);
            call.flow.allowed -= count;
            call.flow.active_at = now;
            add(&mut self.stats.items_received, count);
            let stream = StreamId::Call(CallId {
                wire: id,
                index: index as u32,
            });
            self.pending = Some(pending(stream));
        } else {
            let Some(i) = self.find_active_in(id) else {
                add(&mut self.stats.items_refused, count); // after its answer, cancel or deadline
                return;
            };
            let Some(Some(call)) = self.inbound.get_mut(i) else {
                return;
            };
            if !call.flow.mode.caller_sends() || call.flow.items_ended {
                return self.protocol_error(now);
            }
            if call.flow.allowed < count {
                self.break_request(i, WireError::FlowControl);
                return self.protocol_error(now);
            }
            if seq != call.flow.seq_in {
                return self.break_request(i, WireError::ItemLost);
            }
            call.flow.seq_in = seq.wrapping_add(count as u8);
            call.flow.allowed -= count;
            call.flow.active_at = now;
            add(&mut self.stats.items_received, count);
            let stream = StreamId::Request(RequestId {
                wire: id,
                index: i as u32,
            });
            self.pending = Some(pending(stream));
        }
    }

    /// A Credit frame: `mine` if it belongs to a call this side made (the server grants).
    pub(super) fn on_credit(&mut self, now: Instant, id: u32, mine: bool, items: u32) {
        let (flow, stream) = if mine {
            let index = Self::out_slot(id);
            match self.outbound.get_mut(index) {
                Some(Some(c)) if c.id == id && !c.ended => (
                    &mut c.flow,
                    StreamId::Call(CallId {
                        wire: id,
                        index: index as u32,
                    }),
                ),
                _ => return, // the call is over: nothing to send any more
            }
        } else {
            let Some(i) = self.find_active_in(id) else {
                return;
            };
            match self.inbound.get_mut(i) {
                Some(Some(c)) => (
                    &mut c.flow,
                    StreamId::Request(RequestId {
                        wire: id,
                        index: i as u32,
                    }),
                ),
                None | Some(None) => return,
            }
        };
        let sends = if mine {
            flow.mode.caller_sends()
        } else {
            flow.mode.server_sends()
        };
        if !sends {
            return self.protocol_error(now);
        }
        let was_out = flow.credit == 0;
        flow.credit = flow.credit.saturating_add(super::commands::window16(items));
        flow.active_at = now;
        if was_out && items > 0 {
            self.pending = Some(Pending::Credit { stream });
        }
    }

    /// An End frame: the sender's items on call `id` are over, `seq` of them (mod 256).
    /// `mine`: the call is this side's (the server ended its items).
    pub(super) fn on_end(&mut self, now: Instant, id: u32, mine: bool, seq: u8) {
        if mine {
            let index = Self::out_slot(id);
            let Some(Some(call)) = self.outbound.get_mut(index) else {
                return;
            };
            if call.id != id || call.ended {
                return; // after our cancel or deadline
            }
            if !call.flow.mode.server_sends() || call.flow.server_ended {
                return self.protocol_error(now);
            }
            if seq != call.flow.seq_in {
                return self.break_call(now, index, WireError::ItemLost);
            }
            call.flow.server_ended = true;
            call.flow.active_at = now;
            return;
        }
        let Some(i) = self.find_active_in(id) else {
            return; // answered, cancelled or expired meanwhile
        };
        let Some(Some(call)) = self.inbound.get_mut(i) else {
            return;
        };
        if !call.flow.mode.caller_sends() || call.flow.items_ended {
            return self.protocol_error(now);
        }
        if seq != call.flow.seq_in {
            return self.break_request(i, WireError::ItemLost);
        }
        call.flow.items_ended = true;
        call.flow.active_at = now;
        let id = RequestId {
            wire: id,
            index: i as u32,
        };
        self.pending = Some(Pending::ItemsEnded { id });
    }

    /// True if a Reply to call `id` would end a server stream whose End did not arrive.
    pub(super) fn reply_lost_items(&self, id: u32) -> bool {
        match self.outbound.get(Self::out_slot(id)) {
            Some(Some(c)) if c.id == id && !c.ended => {
                c.flow.mode.server_sends() && !c.flow.server_ended
            }
            _ => false,
        }
    }

    /// The server broke the items of call `index` (`FlowControl` or `ItemLost`): the call
    /// ends with that reason and the server is sent a Cancel saying why.
    fn break_call(&mut self, now: Instant, index: usize, code: WireError) {
        let Some(Some(call)) = self.outbound.get_mut(index) else {
            return;
        };
        call.flow.broken = Some(code);
        if call.abandon(now, self.config.late_reply_grace) {
            self.due.cancels += 1;
        }
        call.report = Some(if code == WireError::FlowControl {
            CallFailure::FlowControl
        } else {
            CallFailure::ItemLost
        });
        self.due.reports = true;
        bump(&mut self.stats.items_refused);
    }

    /// The caller broke the items of request slot `i`: it ends, and the caller gets `code`.
    fn break_request(&mut self, i: usize, code: WireError) {
        let Some(Some(call)) = self.inbound.get_mut(i) else {
            return;
        };
        let reason = if code == WireError::FlowControl {
            RequestEnd::FlowControl
        } else {
            RequestEnd::ItemLost
        };
        if call.end(reason, Some(code)) {
            self.due.errors += 1;
            self.due.reports = true;
        }
        bump(&mut self.stats.items_refused);
    }

    /// Before the Reply to a server or bidirectional stream: the server's End, once, if
    /// the transmit queue has room for it and for the reply of `reply` decoded bytes after
    /// it. False if not (then neither goes out).
    pub(super) fn end_server_items(&mut self, slot: usize, reply: usize) -> bool {
        let Some(Some(call)) = self.inbound.get(slot) else {
            return true;
        };
        if !call.flow.mode.server_sends() || call.flow.server_ended {
            return true;
        }
        let (id, seq) = (call.id, call.flow.seq_out);
        let end = crate::framing::max_encoded_len(2 + crate::varint::MAX_LEN + CRC_LEN);
        let then = crate::framing::max_encoded_len(reply + CRC_LEN);
        if self.tx.free() < end + then || !self.queue_end(id, true, seq) {
            return false;
        }
        if let Some(Some(call)) = self.inbound.get_mut(slot) {
            call.flow.server_ended = true;
        }
        true
    }

    fn queue_end(&mut self, id: u32, mine: bool, seq: u8) -> bool {
        let mut head = [0u8; 2 + crate::varint::MAX_LEN];
        let n = encode_head(&mut head, Kind::End.header(mine), id);
        if let Some(b) = head.get_mut(n) {
            *b = seq;
        }
        self.queue_frame(&[head.get(..n + 1).unwrap_or(&[])])
    }

    // ---- output --------------------------------------------------------------------------

    /// Queues the Credit frames owed, while they fit. False if one did not.
    pub(super) fn flush_credits(&mut self) -> bool {
        for i in 0..OUT {
            let Some(Some(call)) = self.outbound.get(i) else {
                continue;
            };
            // A call that ended needs no more items (its id stays reserved meanwhile).
            let (owed, id, items) = (
                call.flow.credit_due && !call.ended,
                call.id,
                call.flow.consumed,
            );
            if owed && !self.queue_credit(id, false, u32::from(items)) {
                return false;
            }
            if let Some(Some(call)) = self.outbound.get_mut(i) {
                grant(&mut call.flow);
            }
        }
        for i in 0..IN {
            let Some(Some(call)) = self.inbound.get(i) else {
                continue;
            };
            let owed = call.flow.credit_due && call.is_active() && !call.flow.items_ended;
            let (id, items) = (call.id, call.flow.consumed);
            if owed && !self.queue_credit(id, true, u32::from(items)) {
                return false;
            }
            if let Some(Some(call)) = self.inbound.get_mut(i) {
                grant(&mut call.flow);
            }
        }
        self.due.credits = false;
        true
    }

    fn queue_credit(&mut self, id: u32, mine: bool, items: u32) -> bool {
        let mut frame = [0u8; 1 + 2 * crate::varint::MAX_LEN];
        let n = encode_head(&mut frame, Kind::Credit.header(mine), id);
        let m = crate::varint::encode(items, frame.get_mut(n..).unwrap_or(&mut [])).unwrap_or(0);
        self.queue_frame(&[frame.get(..n + m).unwrap_or(&[])])
    }
}

/// The Credit frame for a flow was queued: what was consumed is allowed again.
fn grant(flow: &mut Flow) {
    if flow.credit_due {
        flow.allowed = flow.allowed.saturating_add(flow.consumed);
        flow.consumed = 0;
        flow.credit_due = false;
    }
}

/// The number of items packed in an Items frame's tail (each a length varint and its
/// bytes, ending exactly at the frame's end), or `None` if it is malformed or empty.
pub(crate) fn count_packed(tail: Option<&[u8]>) -> Option<u16> {
    let mut rest = tail?;
    let mut count: u16 = 0;
    while !rest.is_empty() {
        let (n, used) = crate::varint::decode(rest)?;
        rest = rest.get(used..)?.get(n as usize..)?;
        count = count.checked_add(1)?;
    }
    (count > 0).then_some(count)
}

/// The next item of an Items frame whose tail starts at `at` in `frame`: its byte range,
/// and where the one after it starts.
pub(crate) fn packed_item(frame: &[u8], at: usize) -> (usize, usize) {
    let tail = frame.get(at..).unwrap_or(&[]);
    match crate::varint::decode(tail) {
        Some((n, used)) => {
            let start = at + used;
            let end = start.saturating_add(n as usize).min(frame.len());
            (start, end)
        }
        None => (frame.len(), frame.len()),
    }
}

/// Adds `n` to a counter, saturating.
fn add(counter: &mut u32, n: u16) {
    *counter = counter.saturating_add(u32::from(n));
}
