//! File-system helpers shared by commands: atomic writes.

use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Errors from writing output files.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The target exists and overwriting was not asked for.
    #[error("{} already exists (refusing to overwrite)", path.display())]
    Exists {
        /// The target.
        path: PathBuf,
    },
    /// An I/O step failed.
    #[error("writing {}", path.display())]
    Io {
        /// The target.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Writes `bytes` to `path` atomically: a temp file in the same directory,
/// fsync, then rename into place, so a failure never leaves a partial file.
/// `mode` sets Unix permissions (e.g. `0o600` for secret keys) before any
/// byte is written.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32, overwrite: bool) -> Result<(), WriteError> {
    if !overwrite && path.symlink_metadata().is_ok() {
        return Err(WriteError::Exists { path: path.to_owned() });
    }
    stage(path, bytes, mode)?.commit(overwrite)
}

/// A file written and synced next to its target, not yet in place: commit
/// several of them only once all were written. Dropping it removes it.
#[derive(Debug)]
pub struct Staged {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
}

/// Writes `bytes` (with `mode`) to a temp file in `path`'s directory, synced,
/// ready to be renamed into place by [`Staged::commit`].
pub fn stage(path: &Path, bytes: &[u8], mode: u32) -> Result<Staged, WriteError> {
    let io = |source| WriteError::Io { path: path.to_owned(), source };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new().prefix(".provenix-tmp-").tempfile_in(dir).map_err(io)?;
    set_mode(tmp.as_file(), mode).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    Ok(Staged { tmp, path: path.to_owned() })
}

impl Staged {
    /// Renames the file into place; without `overwrite`, fails if the target
    /// exists (even if it appeared since [`stage`]) rather than replacing it.
    pub fn commit(self, overwrite: bool) -> Result<(), WriteError> {
        let Staged { tmp, path } = self;
        let io = |source| WriteError::Io { path: path.clone(), source };
        if overwrite {
            tmp.persist(&path).map_err(|e| io(e.error))?;
        } else if let Err(e) = tmp.persist_noclobber(&path) {
            return Err(if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                WriteError::Exists { path: path.clone() }
            } else {
                io(e.error)
            });
        }
        Ok(())
    }
}

#[cfg(unix)]
fn set_mode(file: &std::fs::File, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &std::fs::File, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_with_mode_and_refuses_to_clobber() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.sec");
        write_atomic(&p, b"secret", 0o600, false).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(matches!(write_atomic(&p, b"other", 0o600, false), Err(WriteError::Exists { .. })));
        assert_eq!(std::fs::read(&p).unwrap(), b"secret");
        write_atomic(&p, b"other", 0o600, true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"other");
        // No temp files left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn fails_cleanly_in_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("missing/k.sec");
        assert!(matches!(write_atomic(&p, b"x", 0o600, false), Err(WriteError::Io { .. })));
    }
}
