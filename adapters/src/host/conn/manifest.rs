//! Fetching the peer's manifest in the blocking flavour: Manifest requests, one piece at a
//! time, put together and checked by [`Assembly`].

use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use wirecall::CallError;

use super::Conn;
use crate::host::manifest::{Assembly, ASK_AGAIN};
use crate::host::session::ClientError;
use crate::host::slot::{Popped, StreamSlot};

impl Conn {
    /// What the handshake of the current session learned about the peer.
    pub(crate) fn peer(&self) -> Option<wirecall::PeerInfo> {
        let st = self.lock();
        st.session.peer().filter(|_| Self::session_up(&st))
    }

    /// Waits until a session is up, for at most until `deadline`; false if none came (or
    /// none can come any more: the client is over).
    fn wait_session(&self, deadline: StdInstant) -> bool {
        loop {
            if self.peer().is_some() {
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
        let _one_at_a_time = self.fetching.lock().unwrap_or_else(|e| e.into_inner());
        let result = self.fetch_into(deadline);
        self.lock().session.forget_manifest();
        result
    }

    fn fetch_into(&self, deadline: StdInstant) -> Result<Vec<u8>, ClientError> {
        // Pieces meet this thread here; a session that ends ends it, and the next session
        // gets a fresh one.
        let mut slot = Arc::new(StreamSlot::default());
        let mut pieces = Assembly::default();
        while !pieces.is_done() {
            let ask_until = deadline.min(StdInstant::now() + ASK_AGAIN);
            {
                let mut st = self.lock();
                if st.closed {
                    return Err(st.terminal.clone().unwrap_or(ClientError::ConnectionLost));
                }
                let Some(peer) = st.session.peer().filter(|_| Self::session_up(&st)) else {
                    // Between sessions (the peer restarted): wait for the next one.
                    drop(st);
                    if !self.wait_session(deadline) {
                        return Err(self.why_no_session());
                    }
                    continue;
                };
                pieces.session(peer.schema)?;
                match st.session.request_manifest(pieces.offset(), &slot) {
                    Ok(()) => {}
                    Err(CallError::Unsupported) => return Err(ClientError::NoManifest),
                    Err(CallError::WouldBlock) => {}
                    Err(_) => return Err(ClientError::ConnectionLost),
                }
                drop(self.flush(st, Some(ask_until)));
            }
            // Wait for the piece asked for; ask again at `ask_until`.
            loop {
                match slot.pop() {
                    Popped::Item(piece) => {
                        if pieces.take(&piece)? {
                            break;
                        }
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
        pieces.finish()
    }
}
