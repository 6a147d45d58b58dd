//! Remembered signature checks, so `policy check` does not run ed25519 again
//! over review records it verified before.
//!
//! What is remembered is a set of [`CheckId`]s, each naming one successful
//! check: *this* signature by *this* public key (name and bytes) over *these*
//! envelope bytes (`provenix_formats::signature::CheckId`). Nothing else is
//! kept: no verdict, no trust decision. Whether a key is trusted, revoked or
//! expired is decided from the policy on every run; an altered record has
//! other bytes, hence another id, and is checked (and refused) afresh; a key
//! replaced under the same name has other bytes too. Failed checks are never
//! remembered.
//!
//! The file (the CLI keeps it in the user's cache directory) is the header
//! [`HEADER`] followed by the ids, 32 bytes each, sorted. A missing, short or
//! otherwise malformed file reads as empty: it is a cache, and the next save
//! replaces it. Anyone who can write it can make a forged signature pass, the
//! same as anyone who can write the user's other files; it must not live
//! anywhere less private.
//!
//! Size: at most [`MAX_IDS`] ids (32 MiB). A save keeps the ids seen in this
//! run and, while there is room, the ones remembered before.

use std::collections::HashSet;
use std::path::Path;

use provenix_formats::signature::CheckId;
use provenix_store::fs::{WriteError, write_atomic};

/// The first bytes of the file.
pub const HEADER: &[u8] = b"provenix signature checks v1\n";
/// Most ids kept.
pub const MAX_IDS: usize = 1 << 20;

/// Signature checks remembered from earlier runs, and those of this run.
#[derive(Debug, Clone, Default)]
pub struct CheckCache {
    known: HashSet<CheckId>,
    /// Ids that verified (or were found known) in this run.
    seen: HashSet<CheckId>,
}

impl CheckCache {
    /// An empty cache: every signature is checked.
    pub fn new() -> CheckCache {
        CheckCache::default()
    }

    /// Reads the file at `path`; a missing or malformed file gives an empty cache.
    pub fn load(path: &Path) -> CheckCache {
        let mut cache = CheckCache::new();
        let Ok(meta) = std::fs::metadata(path) else { return cache };
        if !meta.is_file() || meta.len() > (HEADER.len() + MAX_IDS * 32) as u64 {
            return cache;
        }
        let Ok(bytes) = std::fs::read(path) else { return cache };
        let Some(body) = bytes.strip_prefix(HEADER) else { return cache };
        if body.len() % 32 != 0 {
            return cache;
        }
        cache.known =
            body.chunks_exact(32).filter_map(|c| <[u8; 32]>::try_from(c).ok()).map(CheckId::from_bytes).collect();
        cache
    }

    /// The ids remembered from earlier runs.
    pub fn known(&self) -> &HashSet<CheckId> {
        &self.known
    }

    /// True when nothing was remembered.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// Notes ids that verified in this run.
    pub fn remember(&mut self, ids: impl IntoIterator<Item = CheckId>) {
        self.seen.extend(ids);
    }

    /// Ids of this run that were not remembered before.
    pub fn new_ids(&self) -> usize {
        self.seen.iter().filter(|id| !self.known.contains(id)).count()
    }

    /// Writes the ids seen in this run and, up to [`MAX_IDS`], the earlier ones (atomically,
    /// mode 0600). Does nothing when this run added nothing.
    pub fn save(&self, path: &Path) -> Result<(), WriteError> {
        if self.new_ids() == 0 {
            return Ok(());
        }
        let mut ids: Vec<&CheckId> = self.seen.iter().take(MAX_IDS).collect();
        let room = MAX_IDS.saturating_sub(ids.len());
        ids.extend(self.known.iter().filter(|id| !self.seen.contains(id)).take(room));
        ids.sort();
        let mut bytes = Vec::with_capacity(HEADER.len() + ids.len() * 32);
        bytes.extend_from_slice(HEADER);
        for id in ids {
            bytes.extend_from_slice(id.as_bytes());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| WriteError::Io { path: dir.to_owned(), source })?;
        }
        write_atomic(path, &bytes, 0o600, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> CheckId {
        CheckId::from_bytes([n; 32])
    }

    #[test]
    fn saved_ids_load_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/checks");
        let mut cache = CheckCache::load(&path);
        assert!(cache.is_empty());
        cache.remember([id(1), id(2)]);
        cache.save(&path).unwrap();
        let again = CheckCache::load(&path);
        assert_eq!(again.known(), &[id(1), id(2)].into_iter().collect::<HashSet<_>>());
        assert_eq!(again.new_ids(), 0);
    }

    #[test]
    fn a_malformed_file_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checks");
        for bytes in [&b"junk"[..], b"provenix signature checks v1\nabc", b""] {
            std::fs::write(&path, bytes).unwrap();
            assert!(CheckCache::load(&path).is_empty());
        }
        assert!(CheckCache::load(dir.path()).is_empty());
    }
}
