//! Paths to remove if the process is stopped by a signal mid-write.
//!
//! Every half-written output (a temp file next to its target, a download, an
//! index being built, a NAR being unpacked) is [`register`]ed while it is
//! being written and unregistered when its [`Guard`] drops, which is when it
//! has been renamed into place or removed on error. A binary that catches
//! SIGINT and SIGTERM calls [`remove_all`] before exiting, so nothing is left
//! behind (the library never installs signal handlers itself).
//!
//! The registry is a map behind one mutex: registering costs one lock and one
//! insert, and [`remove_all`] keeps the lock, so no path is registered or
//! unregistered while it runs.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// What to remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A file (or symlink), removed itself.
    File,
    /// A directory made for the output: removed with all it holds.
    Tree,
    /// A directory that existed (empty) before: its contents are removed, it stays.
    Contents,
}

type Entries = BTreeMap<u64, (PathBuf, Kind)>;

/// A set of registered paths; the process has one, [`GLOBAL`].
struct Registry {
    next: AtomicU64,
    entries: Mutex<Entries>,
}

static GLOBAL: Registry = Registry::new();

impl Registry {
    const fn new() -> Registry {
        Registry { next: AtomicU64::new(0), entries: Mutex::new(BTreeMap::new()) }
    }

    fn entries(&self) -> MutexGuard<'_, Entries> {
        // Every change is one insert or remove, so a panic while the lock
        // was held cannot leave the map half changed.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn register(&'static self, path: &Path, kind: Kind) -> Guard {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.entries().insert(id, (path.to_owned(), kind));
        Guard { registry: self, id }
    }

    fn remove_all_then<T>(&self, then: impl FnOnce(usize) -> T) -> T {
        let entries = self.entries();
        for (path, kind) in entries.values() {
            remove(path, *kind);
        }
        then(entries.len())
    }
}

/// Keeps a path registered until dropped.
#[derive(Debug)]
#[must_use = "the path is unregistered when the guard drops"]
pub struct Guard {
    registry: &'static Registry,
    id: u64,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Registry")
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.registry.entries().remove(&self.id);
    }
}

/// Registers `path` for removal by [`remove_all`] until the guard drops.
pub fn register(path: &Path, kind: Kind) -> Guard {
    GLOBAL.register(path, kind)
}

/// Removes every registered path, best effort, then calls `then` with how
/// many there were, still holding the lock: if `then` never returns (it
/// exits the process, as a signal handler does), nothing is registered or
/// unregistered meanwhile, so no new half-written file can appear.
pub fn remove_all_then<T>(then: impl FnOnce(usize) -> T) -> T {
    GLOBAL.remove_all_then(then)
}

/// Removes every registered path (see [`remove_all_then`]); returns how many.
pub fn remove_all() -> usize {
    remove_all_then(|n| n)
}

/// Removes `path` as `kind` says, best effort, never following a symlink
/// out of the tree.
pub fn remove(path: &Path, kind: Kind) {
    fn remove_one(path: &Path) {
        let _ = match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(path),
            Ok(_) => fs::remove_file(path),
            Err(_) => Ok(()),
        };
    }
    match kind {
        Kind::File | Kind::Tree => remove_one(path),
        Kind::Contents => {
            if let Ok(entries) = fs::read_dir(path) {
                for entry in entries.flatten() {
                    remove_one(&entry.path());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_registered_paths_and_forgets_dropped_guards() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("half.tmp");
        let tree = dir.path().join("tree");
        let kept = dir.path().join("kept");
        let done = dir.path().join("done.tmp");
        fs::write(&file, b"x").unwrap();
        fs::create_dir_all(tree.join("a/b")).unwrap();
        fs::create_dir_all(kept.join("c")).unwrap();
        fs::write(&done, b"y").unwrap();
        // A registry of its own: the global one holds other tests' files.
        let registry: &'static Registry = Box::leak(Box::new(Registry::new()));
        let _file = registry.register(&file, Kind::File);
        let _tree = registry.register(&tree, Kind::Tree);
        let _kept = registry.register(&kept, Kind::Contents);
        drop(registry.register(&done, Kind::File));
        assert_eq!(registry.remove_all_then(|n| n), 3);
        assert!(!file.exists() && !tree.exists());
        assert!(kept.is_dir() && fs::read_dir(&kept).unwrap().next().is_none());
        assert!(done.exists(), "a dropped guard no longer removes its path");
    }
}
