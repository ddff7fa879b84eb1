//! Fetching the peer's manifest in the tokio flavour: the blocking flavour's steps
//! ([`Assembly`]), with the waits as awaits.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant as TokioInstant;
use wirecall::CallError;

use super::AsyncClient;
use crate::host::manifest::{Assembly, ASK_AGAIN};
use crate::host::session::ClientError;
use crate::host::slot::{Popped, StreamSlot};

impl AsyncClient {
    /// Fetches the peer's manifest (its self-description), waiting for a session first,
    /// all within `timeout` (default: the call timeout); as
    /// [`Client::manifest`](crate::host::Client::manifest): checked against the schema
    /// hash of the handshake, `NoManifest` if the peer serves none, `BadManifest` if its
    /// pieces do not add up.
    pub async fn manifest(&self, timeout: Option<Duration>) -> Result<Vec<u8>, ClientError> {
        let timeout = timeout.unwrap_or(self.shared.default_timeout);
        let deadline = TokioInstant::now() + crate::host::capped(timeout);
        let Ok(_one_at_a_time) =
            tokio::time::timeout_at(deadline, self.shared.fetching.lock()).await
        else {
            return Err(ClientError::Timeout);
        };
        let mut slot = Arc::new(StreamSlot::default());
        let mut pieces = Assembly::default();
        while !pieces.is_done() {
            self.ask(&mut pieces, &slot, deadline).await?;
            let ask_until = deadline.min(TokioInstant::now() + ASK_AGAIN);
            loop {
                let next = std::future::poll_fn(|cx| slot.poll_pop(cx));
                match tokio::time::timeout_at(ask_until, next).await {
                    Ok(Popped::Item(piece)) => {
                        if pieces.take(&piece)? {
                            break;
                        }
                    }
                    // The session ended: ask again on the next one, from where this one left.
                    Ok(Popped::Over) => {
                        slot = Arc::new(StreamSlot::default());
                        break;
                    }
                    Ok(Popped::Empty) => {}
                    Err(_) if TokioInstant::now() >= deadline => return Err(ClientError::Timeout),
                    Err(_) => break, // ask again
                }
            }
        }
        self.shared.lock().session.forget_manifest();
        pieces.finish()
    }

    /// Asks for the next piece once a session is up (waiting for one until `deadline`).
    async fn ask(
        &self,
        pieces: &mut Assembly,
        slot: &Arc<StreamSlot>,
        deadline: TokioInstant,
    ) -> Result<(), ClientError> {
        loop {
            let room = self.shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable(); // registered before looking: no wake-up is missed
                                    // The lock is held in this block only: never across an await.
            let refused = {
                let mut st = self.shared.lock();
                if st.closing {
                    return Err(ClientError::ConnectionLost);
                }
                match st.session.peer().filter(|_| st.link_up) {
                    Some(peer) => {
                        pieces.session(peer.schema)?;
                        match st.session.request_manifest(pieces.offset(), slot) {
                            // A full transmit queue: the piece is asked for again later.
                            Ok(()) | Err(CallError::WouldBlock) => {}
                            Err(CallError::Unsupported) => return Err(ClientError::NoManifest),
                            Err(_) => return Err(ClientError::ConnectionLost),
                        }
                        None
                    }
                    None => match st.terminal.clone() {
                        Some(e) => return Err(e),
                        None => Some(st.refused),
                    },
                }
            };
            let Some(refused) = refused else {
                self.shared.io.notify_one(); // the link's task writes the request
                return Ok(());
            };
            if tokio::time::timeout_at(deadline, room).await.is_err() {
                return Err(refused.map_or(ClientError::Timeout, ClientError::Refused));
            }
        }
    }
}
