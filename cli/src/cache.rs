//! Manifests kept between runs, under their hash, so that a call by name costs no fetch
//! when the device still serves what it served last time.
//!
//! The handshake carries the hash of the manifest a device serves: a copy stored under that
//! hash is current, by construction; any other hash means the device changed (re-flashed,
//! another device on the port) and its manifest is fetched again. Each link also remembers
//! the hash it last saw, so that the command can say when a device changed.
//!
//! Where: `$WIRECALL_CACHE_DIR`, else `$XDG_CACHE_HOME/wirecall`, else `~/.cache/wirecall`
//! (empty or relative values are ignored).
//! Nothing here is needed for correctness: a cache that cannot be read or written is
//! skipped, and every copy read is checked against its hash before use.

use std::path::{Path, PathBuf};

/// The cache directory, or none (caching off).
pub(crate) struct Cache {
    dir: Option<PathBuf>,
}

impl Cache {
    /// The cache the environment names, or none when `off` (`--no-cache`) or no directory
    /// can be found.
    pub(crate) fn from_env(off: bool) -> Cache {
        // As the XDG rules say, an empty or relative value is ignored (it would put the
        // cache in whatever directory the command runs in).
        let var = |name: &str| {
            std::env::var_os(name)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        };
        let dir = if off {
            None
        } else if let Some(d) = var("WIRECALL_CACHE_DIR") {
            Some(d)
        } else if let Some(d) = var("XDG_CACHE_HOME") {
            Some(d.join("wirecall"))
        } else {
            var("HOME").map(|h| h.join(".cache/wirecall"))
        };
        Cache { dir }
    }

    fn manifest_path(&self, hash: u32) -> Option<PathBuf> {
        Some(self.dir.as_ref()?.join(format!("manifests/{hash:08x}.bin")))
    }

    fn link_path(&self, link: &str) -> Option<PathBuf> {
        // One file per link, named by a hash of its description: any text is a safe name.
        let key = wirecall::manifest_hash(link.as_bytes());
        Some(self.dir.as_ref()?.join(format!("links/{key:08x}")))
    }

    /// The manifest stored under `hash`, if it is there and hashes to it.
    pub(crate) fn get(&self, hash: u32) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.manifest_path(hash)?).ok()?;
        (wirecall::manifest_hash(&bytes) == hash).then_some(bytes)
    }

    /// Stores `manifest` under its hash (best effort).
    pub(crate) fn put(&self, manifest: &[u8]) {
        if let Some(path) = self.manifest_path(wirecall::manifest_hash(manifest)) {
            write_atomically(&path, manifest);
        }
    }

    /// The hash `link` served when it was last used, if known.
    pub(crate) fn last_seen(&self, link: &str) -> Option<u32> {
        let text = std::fs::read_to_string(self.link_path(link)?).ok()?;
        u32::from_str_radix(text.trim(), 16).ok()
    }

    /// Remembers that `link` serves `hash` (best effort).
    pub(crate) fn remember(&self, link: &str, hash: u32) {
        if let Some(path) = self.link_path(link) {
            write_atomically(&path, format!("{hash:08x}\n").as_bytes());
        }
    }
}

/// Writes `bytes` to a temporary file beside `path` and renames it over `path`, so that a
/// concurrent reader sees the old file or the new one, never half of one.
fn write_atomically(path: &Path, bytes: &[u8]) {
    let Some(dir) = path.parent() else {
        return;
    };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let tmp = dir.join(format!(".tmp-{}", std::process::id()));
    if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_found_under_its_hash_and_only_if_it_still_hashes_to_it() {
        let dir = std::env::temp_dir().join(format!("wirecall-cache-test-{}", std::process::id()));
        let cache = Cache {
            dir: Some(dir.clone()),
        };
        let manifest = b"\x01\x04demo\x00".to_vec();
        let hash = wirecall::manifest_hash(&manifest);
        assert_eq!(cache.get(hash), None);
        cache.put(&manifest);
        assert_eq!(cache.get(hash), Some(manifest.clone()));
        // A damaged copy is not used.
        std::fs::write(cache.manifest_path(hash).unwrap(), b"\x01\x04demX\x00").unwrap();
        assert_eq!(cache.get(hash), None);
        assert_eq!(cache.last_seen("tcp://127.0.0.1:7000"), None);
        cache.remember("tcp://127.0.0.1:7000", hash);
        assert_eq!(cache.last_seen("tcp://127.0.0.1:7000"), Some(hash));
        assert_eq!(cache.last_seen("tcp://127.0.0.1:7001"), None);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(Cache::from_env(true).get(hash), None);
    }
}
