//! Remote handles: objects one side exports and the other calls methods on.
//!
//! An exporting side keeps a fixed table of `HANDLES` slots (the endpoint's fifth const
//! parameter). A handle names a slot and the slot's generation at the time of the export;
//! every export of a slot takes a new generation, and the generation is never 0 (0 on the
//! wire means "the handle that call N returns": a promise, for pipelining). So a handle that
//! was released, revoked, or belongs to an ended session is refused as stale, and is never
//! taken for a newer object in the same slot.
//!
//! The life of a slot:
//!
//! ```text
//!   free ──respond_export──► live ──peer's Release, Cancel of its call, session end──► dropped
//!     ▲                        │                                                        │
//!     │                        └──revoke (the application knows) ──┐         Event::Released
//!     └────────────────────────────────────────────────────────────┴────────────────────┘
//! ```
//!
//! A dropped slot is not reused until [`Event::Released`](crate::Event::Released) told the
//! application, so that it can drop its object first: its own table never holds an old
//! object in a slot that the core has given to a new one.

use serde::{Deserialize, Serialize};

/// A handle to an object exported by one side of a link: a slot of the exporter's table
/// and the slot's generation. On the wire (and in a result) it is two varints, the slot
/// then the generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Handle {
    slot: u32,
    generation: u32,
}

impl Handle {
    /// The handle of `slot` at `generation` (as read from the wire; generation 0 is never a
    /// handle, see [`Target::Promise`]).
    pub const fn new(slot: u32, generation: u32) -> Self {
        Handle { slot, generation }
    }

    /// The slot in the exporter's table: index your own objects with it.
    pub const fn slot(self) -> usize {
        self.slot as usize
    }

    /// The slot's generation when the handle was made (never 0 for a real handle).
    pub const fn generation(self) -> u32 {
        self.generation
    }
}

impl crate::schema::Schema for Handle {
    const TYPE: &'static crate::schema::Type = &crate::schema::Type::Handle("");
}

/// What a method call is made on: a handle the caller holds, or the handle that one of its
/// calls still in flight will return (pipelining: no wait for the reply).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Target {
    /// A handle this side holds.
    Handle(Handle),
    /// The handle that the call with this wire id (see [`CallId::wire`](crate::CallId::wire))
    /// returns. If that call fails or returns no handle, the method call fails with
    /// [`StaleHandle`](crate::WireError::StaleHandle).
    Promise(u32),
}

impl Target {
    /// The two varints of the wire: a handle's slot and generation, or the call id and 0.
    pub(crate) const fn wire(self) -> (u32, u32) {
        match self {
            Target::Handle(h) => (h.slot, h.generation),
            Target::Promise(call) => (call, 0),
        }
    }
}

/// What an [`Event::Invoke`](crate::Event::Invoke) is made on, as the endpoint found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Resolved {
    /// A live object of this side: its handle, and the interface it was exported as.
    Object {
        /// The handle (its slot indexes your objects).
        handle: Handle,
        /// The interface number given to [`respond_export`](crate::Endpoint::respond_export).
        interface: u8,
    },
    /// The handle that the peer's request with this wire id will return: that request is
    /// still being served. Once it is answered, ask
    /// [`resolve_promise`](crate::Endpoint::resolve_promise).
    Pending(u32),
}

/// Why a handle command failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum HandleError {
    /// No live object has this handle (released, revoked, from another session, never
    /// made), or the promise's call returned none.
    Stale,
    /// Every slot of the export table is taken.
    TableFull,
    /// The peer does not speak handles, or this side was not configured to
    /// ([`Config::with_handles`](crate::Config::with_handles)).
    Unsupported,
    /// There is no session.
    NotConnected,
    /// The transmit queue lacks room; drain `poll_transmit` and retry.
    WouldBlock,
}

impl core::error::Error for HandleError {}

impl core::fmt::Display for HandleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            HandleError::Stale => "stale handle: no live object has it",
            HandleError::TableFull => "the export table is full",
            HandleError::Unsupported => "handles are not enabled on both sides",
            HandleError::NotConnected => "not connected: the handshake has not completed",
            HandleError::WouldBlock => "transmit queue full; drain poll_transmit and retry",
        })
    }
}

/// One slot of the export table: 12 bytes.
#[derive(Clone, Copy, Debug)]
struct Export {
    /// The generation of the slot's current (or last) object; 0 before the first.
    generation: u32,
    /// The wire id of the peer's request whose reply carried the handle, while nothing has
    /// reused that id (a promise resolves through it).
    origin: u32,
    interface: u8,
    state: State,
    has_origin: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Free,
    Live,
    /// Freed; the application has not been told yet (the slot is not reused until then).
    Dropped,
}

/// The export table: `H` slots, no allocation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Exports<const H: usize> {
    slots: [Export; H],
    /// Slots in state `Dropped`: while zero, `poll_event` does not look.
    dropped: u16,
    live: u16,
}

impl<const H: usize> Exports<H> {
    pub(crate) const fn new() -> Self {
        Exports {
            slots: [Export {
                generation: 0,
                origin: 0,
                interface: 0,
                state: State::Free,
                has_origin: false,
            }; H],
            dropped: 0,
            live: 0,
        }
    }

    /// Live objects.
    pub(crate) fn live(&self) -> usize {
        usize::from(self.live)
    }

    /// Some freed slot is not reported yet.
    pub(crate) fn has_dropped(&self) -> bool {
        self.dropped != 0
    }

    /// The handle the next export gets within `limit` slots: the lowest free slot, at its
    /// next generation.
    pub(crate) fn next(&self, limit: usize) -> Option<Handle> {
        let (i, e) = self
            .slots
            .iter()
            .take(limit)
            .enumerate()
            .find(|(_, e)| e.state == State::Free)?;
        Some(Handle::new(i as u32, next_generation(e.generation)))
    }

    /// True if `h` is what an export at its slot would get now: a free slot within
    /// `limit`, at its next generation.
    pub(crate) fn is_next(&self, limit: usize, h: Handle) -> bool {
        h.slot() < limit
            && matches!(self.slots.get(h.slot()), Some(e) if e.state == State::Free
                && next_generation(e.generation) == h.generation)
    }

    /// Exports an object as `interface` at `h` (checked with [`next`](Self::next) or
    /// [`is_next`](Self::is_next)) for the request with wire id `origin`.
    pub(crate) fn export_at(&mut self, h: Handle, origin: u32, interface: u8) {
        if let Some(e) = self.slots.get_mut(h.slot()) {
            *e = Export {
                generation: h.generation,
                origin,
                interface,
                state: State::Live,
                has_origin: true,
            };
            self.live = self.live.saturating_add(1);
        }
    }

    /// Exports an object as `interface` for the request with wire id `origin`, at the
    /// lowest free slot.
    #[cfg(test)]
    pub(crate) fn export(&mut self, limit: usize, origin: u32, interface: u8) -> Option<Handle> {
        let h = self.next(limit)?;
        self.export_at(h, origin, interface);
        Some(h)
    }

    /// The interface of live handle `h`.
    pub(crate) fn lookup(&self, h: Handle) -> Option<u8> {
        match self.slots.get(h.slot()) {
            Some(e) if e.state == State::Live && e.generation == h.generation => Some(e.interface),
            _ => None,
        }
    }

    /// The live object that the reply to request `origin` carried.
    pub(crate) fn promised(&self, origin: u32) -> Option<(Handle, u8)> {
        self.slots.iter().enumerate().find_map(|(i, e)| {
            (e.state == State::Live && e.has_origin && e.origin == origin)
                .then(|| (Handle::new(i as u32, e.generation), e.interface))
        })
    }

    /// A new request reuses wire id `origin`: promises now mean its result, not an older
    /// call's.
    pub(crate) fn forget_origin(&mut self, origin: u32) {
        if self.live == 0 {
            return;
        }
        for e in self.slots.iter_mut() {
            if e.has_origin && e.origin == origin {
                e.has_origin = false;
            }
        }
    }

    /// Frees live handle `h` (released by the peer); false if it is not live.
    pub(crate) fn drop_handle(&mut self, h: Handle) -> bool {
        if self.lookup(h).is_none() {
            return false;
        }
        self.drop_slot(h.slot());
        true
    }

    /// Frees live handle `h` without an event (the application revoked it, so it knows).
    pub(crate) fn revoke(&mut self, h: Handle) -> Option<u8> {
        let interface = self.lookup(h)?;
        if let Some(e) = self.slots.get_mut(h.slot()) {
            e.state = State::Free;
            e.has_origin = false;
            self.live = self.live.saturating_sub(1);
        }
        Some(interface)
    }

    /// The peer cancelled request `origin` after its reply left: the reply is one it will
    /// ignore, so the handles it carried are unknown to the peer and are freed.
    pub(crate) fn drop_origin(&mut self, origin: u32) {
        if self.live == 0 {
            return;
        }
        for i in 0..H {
            if matches!(self.slots.get(i), Some(e) if e.state == State::Live && e.has_origin && e.origin == origin)
            {
                self.drop_slot(i);
            }
        }
    }

    /// The session ended: every live object is freed.
    pub(crate) fn end_session(&mut self) {
        if self.live == 0 {
            return;
        }
        for i in 0..H {
            if matches!(self.slots.get(i), Some(e) if e.state == State::Live) {
                self.drop_slot(i);
            }
        }
    }

    fn drop_slot(&mut self, i: usize) {
        if let Some(e) = self.slots.get_mut(i) {
            e.state = State::Dropped;
            e.has_origin = false;
            self.live = self.live.saturating_sub(1);
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    /// A dropped slot to report, which becomes free.
    pub(crate) fn take_dropped(&mut self) -> Option<(Handle, u8)> {
        if self.dropped == 0 {
            return None;
        }
        let (i, e) = self
            .slots
            .iter_mut()
            .enumerate()
            .find(|(_, e)| e.state == State::Dropped)?;
        e.state = State::Free;
        self.dropped = self.dropped.saturating_sub(1);
        Some((Handle::new(i as u32, e.generation), e.interface))
    }
}

/// The generation after `g`: never 0, which the wire keeps for promises.
const fn next_generation(g: u32) -> u32 {
    match g.wrapping_add(1) {
        0 => 1,
        n => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_never_repeat_in_a_slot_and_never_are_zero() {
        let mut t = Exports::<2>::new();
        let a = t.export(2, 7, 0).unwrap();
        assert_eq!((a.slot(), a.generation()), (0, 1));
        assert!(t.drop_handle(a));
        assert!(!t.drop_handle(a), "a released handle is stale");
        // Not reused before the application was told.
        assert_eq!(t.next(2).unwrap().slot(), 1);
        assert_eq!(t.take_dropped(), Some((a, 0)));
        let b = t.export(2, 8, 1).unwrap();
        assert_eq!((b.slot(), b.generation()), (0, 2));
        assert_eq!(t.lookup(a), None);
        assert_eq!(t.lookup(b), Some(1));
        assert_eq!(next_generation(u32::MAX), 1);
    }

    #[test]
    fn promises_follow_the_latest_use_of_an_id() {
        let mut t = Exports::<4>::new();
        let a = t.export(4, 3, 0).unwrap();
        assert_eq!(t.promised(3), Some((a, 0)));
        t.forget_origin(3); // a new request 3 arrived
        assert_eq!(t.promised(3), None);
        assert_eq!(t.lookup(a), Some(0), "the object itself lives on");
        let b = t.export(4, 3, 0).unwrap();
        assert_eq!(t.promised(3), Some((b, 0)));
        t.drop_origin(3);
        assert_eq!(t.lookup(b), None);
        assert_eq!(t.lookup(a), Some(0));
        t.end_session();
        assert_eq!(t.live(), 0);
        assert!(t.take_dropped().is_some() && t.take_dropped().is_some());
        assert_eq!(t.take_dropped(), None);
    }

    #[test]
    fn a_full_table_and_a_zero_limit_export_nothing() {
        let mut t = Exports::<1>::new();
        assert!(t.export(0, 1, 0).is_none());
        assert!(t.export(1, 1, 0).is_some());
        assert!(t.export(1, 2, 0).is_none());
    }
}
