//! The spool of signed build reports a post-build hook could not deliver
//! (the log server was down or slow), flushed on the hook's next run or by
//! `provenix report --flush`.
//!
//! One file per entry, `<nanoseconds since 1970, 20 digits>-<leaf hash, 16 hex>.entry`,
//! holding the entry's canonical bytes (report plus signature), so a flush
//! resends exactly what was signed, in the order it was spooled. Files are
//! written atomically (temp file in the directory, fsync, rename): a crash
//! leaves either the whole entry or only a `.provenix-tmp-*` file, which
//! listing ignores. An entry the server refuses for good (4xx) moves to
//! `rejected/` rather than being lost or resent forever.
//!
//! Limits: at most [`MAX_SPOOLED`] entries wait; a file larger than
//! [`MAX_ENTRY_LEN`] is refused when read.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use provenix_formats::log::merkle::leaf_hash;
use provenix_formats::log::report::MAX_ENTRY_LEN;
use thiserror::Error;

/// Most entries a spool holds; pushing more is an error (the disk stays bounded).
pub const MAX_SPOOLED: usize = 100_000;

/// The subdirectory for entries the server refused.
pub const REJECTED_DIR: &str = "rejected";

/// Errors of the spool directory.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SpoolError {
    /// A file-system step failed.
    #[error("spool {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Writing an entry failed.
    #[error("spooling")]
    Write(#[from] provenix_store::fs::WriteError),
    /// The spool holds [`MAX_SPOOLED`] entries already.
    #[error("spool {} is full ({MAX_SPOOLED} entries wait): run `provenix report --flush`", dir.display())]
    Full {
        /// The directory.
        dir: PathBuf,
    },
    /// A spooled file is larger than any entry.
    #[error("spool {}: larger than {MAX_ENTRY_LEN} bytes, not an entry", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
}

/// The flush lock of a spool, removed when dropped.
#[derive(Debug)]
pub struct FlushLock {
    path: PathBuf,
}

impl Drop for FlushLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A spool directory.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    /// The spool in `dir`, created (mode 0700) if missing.
    pub fn open(dir: &Path) -> Result<Spool, SpoolError> {
        let io = |source| SpoolError::Io { path: dir.to_owned(), source };
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(io)?;
        if !std::fs::metadata(dir).map_err(io)?.is_dir() {
            return Err(io(std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory")));
        }
        Ok(Spool { dir: dir.to_owned() })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Spools one entry's bytes; returns the file written.
    pub fn push(&self, entry: &[u8]) -> Result<PathBuf, SpoolError> {
        if self.pending()?.len() >= MAX_SPOOLED {
            return Err(SpoolError::Full { dir: self.dir.clone() });
        }
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let leaf = leaf_hash(entry);
        let hex: String = leaf.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let mut n = 0u32;
        loop {
            let name = if n == 0 { format!("{nanos:020}-{hex}.entry") } else { format!("{nanos:020}-{hex}-{n}.entry") };
            let path = self.dir.join(name);
            match provenix_store::fs::write_atomic(&path, entry, 0o600, false) {
                Ok(()) => return Ok(path),
                Err(provenix_store::fs::WriteError::Exists { .. }) if n < 100 => n += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The spooled entries, oldest first.
    pub fn pending(&self) -> Result<Vec<PathBuf>, SpoolError> {
        let io = |source| SpoolError::Io { path: self.dir.clone(), source };
        let mut out = Vec::new();
        for item in std::fs::read_dir(&self.dir).map_err(io)? {
            let item = item.map_err(io)?;
            let name = item.file_name();
            let is_entry = name.to_str().is_some_and(|n| n.ends_with(".entry") && !n.starts_with('.'));
            if is_entry && item.file_type().map_err(io)?.is_file() {
                out.push(item.path());
            }
        }
        out.sort();
        Ok(out)
    }

    /// Reads one spooled entry.
    pub fn read(&self, path: &Path) -> Result<Vec<u8>, SpoolError> {
        let io = |source| SpoolError::Io { path: path.to_owned(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut bytes = Vec::new();
        file.take(MAX_ENTRY_LEN as u64 + 1).read_to_end(&mut bytes).map_err(io)?;
        if bytes.len() > MAX_ENTRY_LEN {
            return Err(SpoolError::TooLarge { path: path.to_owned() });
        }
        Ok(bytes)
    }

    /// Takes the spool's flush lock, or `None` when another live process
    /// holds it: two hooks of parallel builds must not send the same entries
    /// twice. The lock is `.flush.lock`, created exclusively with the holder's
    /// PID; one whose process is gone (no `/proc/PID`) is stale and taken
    /// over. Released when the guard is dropped.
    pub fn try_lock_flush(&self) -> Result<Option<FlushLock>, SpoolError> {
        let path = self.dir.join(".flush.lock");
        let io = |source| SpoolError::Io { path: path.clone(), source };
        for _ in 0..2 {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    std::io::Write::write_all(&mut file, std::process::id().to_string().as_bytes()).map_err(io)?;
                    return Ok(Some(FlushLock { path }));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    let alive =
                        holder.trim().parse::<u32>().is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
                    if alive {
                        return Ok(None);
                    }
                    // Stale: its process died (or it is being written this instant, and the retry sees it).
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => return Err(io(e)),
            }
        }
        Ok(None)
    }

    /// Removes a delivered entry.
    pub fn remove(&self, path: &Path) -> Result<(), SpoolError> {
        std::fs::remove_file(path).map_err(|source| SpoolError::Io { path: path.to_owned(), source })
    }

    /// Moves a refused entry to `rejected/`; returns where it went.
    pub fn reject(&self, path: &Path) -> Result<PathBuf, SpoolError> {
        let dir = self.dir.join(REJECTED_DIR);
        std::fs::create_dir_all(&dir).map_err(|source| SpoolError::Io { path: dir.clone(), source })?;
        let to = dir.join(path.file_name().unwrap_or_default());
        std::fs::rename(path, &to).map_err(|source| SpoolError::Io { path: path.to_owned(), source })?;
        Ok(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_spooled_whole_listed_in_order_and_rejected_apart() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(&tmp.path().join("a/b")).unwrap();
        let first = spool.push(b"one\n").unwrap();
        let second = spool.push(b"two\n").unwrap();
        // A temp file a crash left behind is not an entry.
        std::fs::write(spool.dir().join(".provenix-tmp-x.entry"), b"half").unwrap();
        assert_eq!(spool.pending().unwrap(), vec![first.clone(), second.clone()]);
        assert_eq!(spool.read(&first).unwrap(), b"one\n");
        let moved = spool.reject(&first).unwrap();
        assert!(moved.starts_with(spool.dir().join(REJECTED_DIR)) && moved.exists());
        spool.remove(&second).unwrap();
        assert!(spool.pending().unwrap().is_empty());
        std::fs::write(spool.dir().join("big.entry"), vec![b'x'; MAX_ENTRY_LEN + 1]).unwrap();
        assert!(matches!(spool.read(&spool.dir().join("big.entry")), Err(SpoolError::TooLarge { .. })));
    }

    #[test]
    fn one_flush_at_a_time() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(tmp.path()).unwrap();
        let held = spool.try_lock_flush().unwrap();
        assert!(held.is_some());
        assert!(Spool::open(tmp.path()).unwrap().try_lock_flush().unwrap().is_none(), "held by the first");
        drop(held);
        assert!(spool.try_lock_flush().unwrap().is_some(), "free again");
        // A lock whose process is gone is taken over.
        std::fs::write(spool.dir().join(".flush.lock"), u32::MAX.to_string()).unwrap();
        assert!(spool.try_lock_flush().unwrap().is_some(), "stale lock");
    }

    #[test]
    fn a_file_where_the_spool_should_be_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, b"").unwrap();
        let err = Spool::open(&file).unwrap_err().to_string();
        assert!(err.contains(&file.display().to_string()), "{err}");
    }
}
