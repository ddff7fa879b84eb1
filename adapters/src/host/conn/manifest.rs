//! Fetching the peer's manifest: Manifest requests, one piece at a time, until the whole.
//!
//! A request is a control frame without an id or a deadline, so a piece lost on a noisy
//! link is asked for again after a while; pieces are matched by their offset, so a late
//! duplicate is dropped. The whole must hash to the schema hash of the handshake: what a
//! host decodes with is what the device said it serves.

use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use wirecall::CallError;

use super::Conn;
use crate::host::session::ClientError;
use crate::host::slot::{Popped, StreamSlot};

/// The largest manifest a host accepts: far above any real service's (a few hundred bytes
/// to a few KiB), far below what would hurt a host.
pub(crate) const MAX_MANIFEST: u32 = 1 << 20;

/// How long a piece may take before it is asked for again. Pieces are at most a frame,
/// which takes 0.4 s at 115200 baud for 4 KiB.
const ASK_AGAIN: Duration = Duration::from_secs(1);

impl Conn {
    /// What the handshake of the current session learned about the peer.
    pub(crate) fn peer(&self) -> Option<wirecall::PeerInfo> {
        self.lock().session.peer()
    }

    /// Waits until a session is up, for at most until `deadline`; false if none came (or
    /// none can come any more: the client is over).
    fn wait_session(&self, deadline: StdInstant) -> bool {
        loop {
            if self.lock().session.peer().is_some() {
                return true;
            }
            if self.is_over() || StdInstant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Why no session came: the client's end, a refusal, or (none known) a timeout.
    pub(crate) fn why_no_session(&self) -> ClientError {
        let st = self.lock();
        match (&st.terminal, st.refused) {
            (Some(e), _) => e.clone(),
            (None, Some(code)) => ClientError::Refused(code),
            (None, None) => ClientError::Timeout,
        }
    }

    /// The peer's manifest, fetched piece by piece by `deadline`, checked against the
    /// schema hash of the handshake.
    pub(crate) fn fetch_manifest(&self, deadline: StdInstant) -> Result<Vec<u8>, ClientError> {
        let result = self.fetch_into(deadline);
        self.lock().session.forget_manifest();
        result
    }

    fn fetch_into(&self, deadline: StdInstant) -> Result<Vec<u8>, ClientError> {
        // Pieces meet this thread here; a session that ends ends it, and the next session
        // gets a fresh one.
        let mut slot = Arc::new(StreamSlot::default());
        let mut out: Vec<u8> = Vec::new();
        let mut total: Option<u32> = None;
        let mut schema = None;
        loop {
            if total.is_some_and(|t| out.len() as u32 >= t) {
                break;
            }
            let offset = out.len() as u32;
            let ask_until = deadline.min(StdInstant::now() + ASK_AGAIN);
            {
                let mut st = self.lock();
                if st.closed {
                    return Err(st.terminal.clone().unwrap_or(ClientError::ConnectionLost));
                }
                let Some(peer) = st.session.peer() else {
                    // Between sessions (the peer restarted): wait for the next one.
                    drop(st);
                    if !self.wait_session(deadline) {
                        return Err(self.why_no_session());
                    }
                    continue;
                };
                if schema.is_some_and(|s| s != peer.schema) {
                    // A new session with another schema (the device was re-flashed
                    // meanwhile): the pieces so far are of another manifest.
                    return Err(ClientError::BadManifest(format!(
                        "the device changed its schema from 0x{:08X} to 0x{:08X} while it was fetched",
                        schema.unwrap_or(0),
                        peer.schema
                    )));
                }
                schema = Some(peer.schema);
                match st.session.request_manifest(offset, &slot) {
                    Ok(()) => {}
                    Err(CallError::Unsupported) => return Err(ClientError::NoManifest),
                    Err(CallError::WouldBlock) => {}
                    Err(_) => return Err(ClientError::ConnectionLost),
                }
                drop(self.flush(st, Some(ask_until)));
            }
            // Wait for the piece at `offset`; ask again at `ask_until`.
            loop {
                match slot.pop() {
                    Popped::Item(piece) => {
                        let Some((t, at, bytes)) = split(&piece) else {
                            continue;
                        };
                        if at != offset {
                            continue; // a duplicate of an earlier request's answer
                        }
                        check_total(total, t)?;
                        total = Some(t);
                        if bytes.is_empty() && offset < t {
                            return Err(ClientError::BadManifest(format!(
                                "an empty piece at byte {offset} of {t}"
                            )));
                        }
                        let take = bytes.len().min((t - offset) as usize);
                        out.extend_from_slice(&bytes[..take]);
                        break;
                    }
                    // The session ended (the peer restarted, or the link went): ask again
                    // on the next session, if one comes in time, from where this one left.
                    Popped::Over => {
                        if !self.wait_session(deadline) {
                            return Err(self.why_no_session());
                        }
                        slot = Arc::new(StreamSlot::default());
                        break;
                    }
                    Popped::Empty => {
                        let now = StdInstant::now();
                        if now >= deadline {
                            return Err(ClientError::Timeout);
                        }
                        if now >= ask_until {
                            break;
                        }
                        self.wait_on(&slot, None, ask_until, false);
                    }
                }
            }
        }
        let schema = schema.unwrap_or(0);
        let hash = wirecall::manifest_hash(&out);
        if out.is_empty() || hash != schema {
            return Err(ClientError::BadManifest(format!(
                "its hash is 0x{hash:08X}, the handshake said 0x{schema:08X}"
            )));
        }
        Ok(out)
    }
}

/// A piece as the session queued it: total, offset, bytes.
fn split(piece: &[u8]) -> Option<(u32, u32, &[u8])> {
    let total = u32::from_le_bytes(piece.get(..4)?.try_into().ok()?);
    let offset = u32::from_le_bytes(piece.get(4..8)?.try_into().ok()?);
    Some((total, offset, piece.get(8..)?))
}

fn check_total(seen: Option<u32>, total: u32) -> Result<(), ClientError> {
    if total > MAX_MANIFEST {
        return Err(ClientError::BadManifest(format!(
            "{total} bytes, more than the {MAX_MANIFEST} a host accepts"
        )));
    }
    match seen {
        Some(t) if t != total => Err(ClientError::BadManifest(format!(
            "its length changed from {t} to {total} bytes between pieces"
        ))),
        _ => Ok(()),
    }
}
