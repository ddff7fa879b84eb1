//! The bridge's table of forwarded calls: each pairs a request one side made (answered
//! here) with the call made on its behalf on another side.

use std::collections::{HashMap, VecDeque};

use wirecall::{CallId, RequestId, WireError};

/// One endpoint of the forwarder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Side {
    /// The device (or whatever serves the calls of the fronts).
    Back,
    /// The native service that serves the back's own calls.
    Upstream,
    /// A client of the bridge, by slot.
    Front(usize),
}

/// How a forwarded call ended, held until the items before it have been passed on.
pub(crate) type Outcome = Result<Vec<u8>, (WireError, String)>;

/// A request on `req_side` and the call made for it on `call_side`.
#[derive(Debug)]
pub(crate) struct Pair {
    pub(crate) req_side: Side,
    pub(crate) req: RequestId,
    pub(crate) call_side: Side,
    pub(crate) call: CallId,
    /// The server's items, waiting for the caller's credit: at most the window this side
    /// granted on the call, because one is consumed only once it is passed on.
    pub(crate) up: VecDeque<Vec<u8>>,
    /// The caller's items, waiting for the server's credit (same bound, the other way).
    pub(crate) down: VecDeque<Vec<u8>>,
    /// The caller ended its items; passed on once `down` is empty.
    pub(crate) caller_ended: bool,
    pub(crate) end_sent: bool,
    /// The call's end, passed on once `up` is empty.
    pub(crate) outcome: Option<Outcome>,
    /// The call's side was lost (or replaced) while the request still waited for room or
    /// credit to take what the pair holds: the pair is no longer found by its call, whose
    /// id a new endpoint on that side may give to another call, and nothing is sent there.
    pub(crate) call_gone: bool,
}

/// The pairs in flight, found by either end. Bounded by the call tables of the
/// endpoints: a pair exists only while both its request and its call are pending.
#[derive(Debug, Default)]
pub(crate) struct Pairs {
    slots: Vec<Option<Pair>>,
    free: Vec<usize>,
    by_req: HashMap<(Side, RequestId), usize>,
    by_call: HashMap<(Side, CallId), usize>,
}

impl Pairs {
    pub(crate) fn insert(&mut self, pair: Pair) {
        let (rk, ck) = ((pair.req_side, pair.req), (pair.call_side, pair.call));
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = Some(pair);
        }
        self.by_req.insert(rk, i);
        self.by_call.insert(ck, i);
    }

    pub(crate) fn by_req(&self, side: Side, id: RequestId) -> Option<usize> {
        self.by_req.get(&(side, id)).copied()
    }

    pub(crate) fn by_call(&self, side: Side, id: CallId) -> Option<usize> {
        self.by_call.get(&(side, id)).copied()
    }

    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut Pair> {
        self.slots.get_mut(i).and_then(Option::as_mut)
    }

    pub(crate) fn remove(&mut self, i: usize) -> Option<Pair> {
        let pair = self.slots.get_mut(i)?.take()?;
        self.by_req.remove(&(pair.req_side, pair.req));
        if !pair.call_gone {
            self.by_call.remove(&(pair.call_side, pair.call));
        }
        self.free.push(i);
        Some(pair)
    }

    /// The call of pair `i` is gone with its side; the pair stays, found by its request
    /// only, until the request has what it holds (see [`Pair::call_gone`]).
    pub(crate) fn detach_call(&mut self, i: usize) {
        let Some(p) = self.slots.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        if !p.call_gone {
            p.call_gone = true;
            self.by_call.remove(&(p.call_side, p.call));
        }
    }

    /// Indexes of the pairs in flight.
    pub(crate) fn live(&self) -> Vec<usize> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|_| i))
            .collect()
    }

    /// Pairs whose call was made on `side`, newest slot last.
    pub(crate) fn calls_on(&self, side: Side) -> impl Iterator<Item = &Pair> {
        self.slots
            .iter()
            .flatten()
            .filter(move |p| p.call_side == side && !p.call_gone)
    }

    /// Stream items held, all pairs together.
    pub(crate) fn buffered(&self) -> usize {
        self.slots
            .iter()
            .flatten()
            .map(|p| p.up.len() + p.down.len())
            .sum()
    }

    pub(crate) fn len(&self) -> usize {
        self.by_req.len()
    }
}
