//! A peer's manifest put together from its pieces, the same way in both flavours: which
//! offset to ask for next, which pieces to take, and the checks that make the whole
//! trustworthy (a length that never changes and stays under a limit, no empty piece before
//! the end, one schema throughout, and a hash equal to the handshake's).
//!
//! A request is a control frame without an id or a deadline, so a piece lost on a noisy
//! link is asked for again after [`ASK_AGAIN`]; pieces are matched by their offset, so a
//! late duplicate is dropped.

use std::time::Duration;

use super::session::ClientError;

/// The largest manifest a host accepts: far above any real service's (a few hundred bytes
/// to a few KiB), far below what would hurt a host.
pub(crate) const MAX_MANIFEST: u32 = 1 << 20;

/// How long a piece may take before it is asked for again. Pieces are at most a frame,
/// which takes 0.4 s at 115200 baud for 4 KiB.
pub(crate) const ASK_AGAIN: Duration = Duration::from_secs(1);

/// The pieces taken so far.
#[derive(Default)]
pub(crate) struct Assembly {
    out: Vec<u8>,
    total: Option<u32>,
    schema: Option<u32>,
}

impl Assembly {
    /// True once every byte is there.
    pub(crate) fn is_done(&self) -> bool {
        self.total.is_some_and(|t| self.out.len() as u32 >= t)
    }

    /// The offset to ask for next.
    pub(crate) fn offset(&self) -> u32 {
        self.out.len() as u32
    }

    /// A session serving `schema` is up; the pieces so far must be of its manifest.
    pub(crate) fn session(&mut self, schema: u32) -> Result<(), ClientError> {
        match self.schema {
            // A new session with another schema (the device was re-flashed meanwhile).
            Some(s) if s != schema => Err(ClientError::BadManifest(format!(
                "the device changed its schema from 0x{s:08X} to 0x{schema:08X} while it was fetched"
            ))),
            _ => {
                self.schema = Some(schema);
                Ok(())
            }
        }
    }

    /// Takes `piece` (as the session queues it: total and offset, u32 little-endian, then
    /// the bytes) if it is the one asked for; returns whether it was.
    pub(crate) fn take(&mut self, piece: &[u8]) -> Result<bool, ClientError> {
        let Some((total, at, bytes)) = split(piece) else {
            return Ok(false);
        };
        let offset = self.offset();
        if at != offset {
            return Ok(false); // a duplicate of an earlier request's answer
        }
        if total > MAX_MANIFEST {
            return Err(ClientError::BadManifest(format!(
                "{total} bytes, more than the {MAX_MANIFEST} a host accepts"
            )));
        }
        if let Some(t) = self.total.filter(|&t| t != total) {
            return Err(ClientError::BadManifest(format!(
                "its length changed from {t} to {total} bytes between pieces"
            )));
        }
        self.total = Some(total);
        if bytes.is_empty() && offset < total {
            return Err(ClientError::BadManifest(format!(
                "an empty piece at byte {offset} of {total}"
            )));
        }
        let take = bytes.len().min(total.saturating_sub(offset) as usize);
        self.out
            .extend_from_slice(bytes.get(..take).unwrap_or_default());
        Ok(true)
    }

    /// The whole, if it hashes to the schema of the handshake.
    pub(crate) fn finish(self) -> Result<Vec<u8>, ClientError> {
        let schema = self.schema.unwrap_or(0);
        let hash = wirecall::manifest_hash(&self.out);
        if self.out.is_empty() || hash != schema {
            return Err(ClientError::BadManifest(format!(
                "its hash is 0x{hash:08X}, the handshake said 0x{schema:08X}"
            )));
        }
        Ok(self.out)
    }
}

/// A piece as the session queued it: total, offset, bytes.
fn split(piece: &[u8]) -> Option<(u32, u32, &[u8])> {
    let total = u32::from_le_bytes(piece.get(..4)?.try_into().ok()?);
    let offset = u32::from_le_bytes(piece.get(4..8)?.try_into().ok()?);
    Some((total, offset, piece.get(8..)?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn piece(total: u32, offset: u32, bytes: &[u8]) -> Vec<u8> {
        [&total.to_le_bytes()[..], &offset.to_le_bytes(), bytes].concat()
    }

    #[test]
    fn pieces_are_taken_in_order_and_checked() {
        let whole = b"\x01\x04demo\x00";
        let hash = wirecall::manifest_hash(whole);
        let mut a = Assembly::default();
        a.session(hash).unwrap();
        assert!(
            !a.take(&piece(7, 3, b"mo\x00")).unwrap(),
            "not the offset asked"
        );
        assert!(a.take(&piece(7, 0, b"\x01\x04de")).unwrap());
        assert!(!a.take(&piece(7, 0, b"\x01\x04de")).unwrap(), "a duplicate");
        assert!(matches!(
            a.take(&piece(8, 4, b"mo\x00")),
            Err(ClientError::BadManifest(_))
        ));
        assert!(a.take(&piece(7, 4, b"mo\x00extra")).unwrap());
        assert!(a.is_done());
        assert_eq!(a.finish().unwrap(), whole);

        let mut a = Assembly::default();
        a.session(hash ^ 1).unwrap();
        a.take(&piece(7, 0, whole)).unwrap();
        assert!(
            matches!(a.finish(), Err(ClientError::BadManifest(_))),
            "wrong hash"
        );
        let mut a = Assembly::default();
        assert!(matches!(
            a.take(&piece(7, 0, b"")),
            Err(ClientError::BadManifest(_))
        ));
        assert!(matches!(
            a.take(&piece(MAX_MANIFEST + 1, 0, b"x")),
            Err(ClientError::BadManifest(_))
        ));
        assert!(matches!(
            a.session(1).and_then(|()| a.session(2)),
            Err(ClientError::BadManifest(_))
        ));
    }
}
