//! File-system helpers shared by commands: atomic writes that never replace
//! anything but a regular file, and the check that a file to read is one.

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
    /// The target exists and is not a regular file (a symlink, FIFO, device,
    /// directory or socket): an atomic write would replace it with one.
    #[error("{} is a {kind}, not a regular file: refusing to replace it", path.display())]
    NotRegular {
        /// The target.
        path: PathBuf,
        /// What it is, e.g. `FIFO`.
        kind: &'static str,
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
/// A target that exists must be a regular file ([`check_target`]).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32, overwrite: bool) -> Result<(), WriteError> {
    if !overwrite && path.symlink_metadata().is_ok() {
        return Err(WriteError::Exists { path: path.to_owned() });
    }
    stage(path, bytes, mode)?.commit(overwrite)
}

/// What a file is, for messages: `regular file`, `directory`, `symlink`,
/// `FIFO`, `character device`, `block device`, `socket`.
pub fn kind_name(file_type: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if file_type.is_fifo() {
            return "FIFO";
        } else if file_type.is_char_device() {
            return "character device";
        } else if file_type.is_block_device() {
            return "block device";
        } else if file_type.is_socket() {
            return "socket";
        }
    }
    if file_type.is_symlink() {
        "symlink"
    } else if file_type.is_dir() {
        "directory"
    } else if file_type.is_file() {
        "regular file"
    } else {
        "special file"
    }
}

/// Fails unless `path` is absent or a regular file (not followed if it is a
/// symlink): renaming a temp file into place would turn a symlink, a FIFO or
/// `/dev/stdout` into a regular file.
pub fn check_target(path: &Path) -> Result<(), WriteError> {
    match path.symlink_metadata() {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(meta) => Err(WriteError::NotRegular { path: path.to_owned(), kind: kind_name(meta.file_type()) }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(WriteError::Io { path: path.to_owned(), source }),
    }
}

/// Fails with `InvalidInput` unless `path` (followed if a symlink) is a
/// regular file. For inputs that need one, such as a SQLite database: opening
/// a FIFO would block until something writes to it. Checked with `stat`,
/// which never blocks.
pub fn ensure_regular(path: &Path) -> std::io::Result<()> {
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        return Ok(());
    }
    let kind = kind_name(meta.file_type());
    Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("a {kind}, not a regular file")))
}

/// A file written and synced next to its target, not yet in place: commit
/// several of them only once all were written. Dropping it removes it.
#[derive(Debug)]
pub struct Staged {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
    // Dropped after `tmp` is renamed or removed.
    _cleanup: crate::cleanup::Guard,
}

/// Writes `bytes` (with `mode`) to a temp file in `path`'s directory, synced,
/// ready to be renamed into place by [`Staged::commit`]. The temp file is
/// registered with [`crate::cleanup`] meanwhile, and `path` must pass
/// [`check_target`].
pub fn stage(path: &Path, bytes: &[u8], mode: u32) -> Result<Staged, WriteError> {
    check_target(path)?;
    let io = |source| WriteError::Io { path: path.to_owned(), source };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new().prefix(".provenix-tmp-").tempfile_in(dir).map_err(io)?;
    let cleanup = crate::cleanup::register(tmp.path(), crate::cleanup::Kind::File);
    set_mode(tmp.as_file(), mode).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    Ok(Staged { tmp, path: path.to_owned(), _cleanup: cleanup })
}

impl Staged {
    /// Renames the file into place; without `overwrite`, fails if the target
    /// exists (even if it appeared since [`stage`]) rather than replacing it.
    pub fn commit(self, overwrite: bool) -> Result<(), WriteError> {
        let Staged { tmp, path, _cleanup } = self;
        check_target(&path)?;
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
    fn refuses_to_replace_symlinks_fifos_devices_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("link");
        let real = dir.path().join("real");
        std::fs::write(&real, b"keep").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        for (target, kind) in [
            (&link, "symlink"),
            (&fifo, "FIFO"),
            (&dir.path().to_owned(), "directory"),
            (&"/dev/null".into(), "character device"),
        ] {
            let err = write_atomic(target, b"x", 0o644, true).unwrap_err();
            assert!(matches!(err, WriteError::NotRegular { kind: k, .. } if k == kind), "{}: {err}", target.display());
            assert!(err.to_string().contains(&target.display().to_string()), "{err}");
        }
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"keep");
        // Only the two files and the FIFO: no temp file was left.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
        write_atomic(&real, b"new", 0o644, true).unwrap();
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
    }

    #[test]
    fn ensure_regular_refuses_a_fifo_without_opening_it() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let err = ensure_regular(&fifo).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("FIFO"), "{err}");
        assert!(ensure_regular(dir.path()).is_err());
        std::fs::write(dir.path().join("f"), b"").unwrap();
        ensure_regular(&dir.path().join("f")).unwrap();
    }

    #[test]
    fn fails_cleanly_in_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("missing/k.sec");
        assert!(matches!(write_atomic(&p, b"x", 0o600, false), Err(WriteError::Io { .. })));
    }
}
