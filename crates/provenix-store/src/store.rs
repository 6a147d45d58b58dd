//! Where a store's files are: logical store directory plus physical root.

use std::path::{Path, PathBuf};

use provenix_formats::store_path::{StoreDir, StorePath, StorePathError};
use thiserror::Error;

/// Errors from locating and reading store files.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A path that is not a valid store path of this store.
    #[error("not a store path")] // the source names the path
    NotStorePath {
        /// The path as given.
        path: String,
        /// Why.
        #[source]
        source: StorePathError,
    },
    /// Reading a file failed.
    #[error("reading {}", path.display())]
    Io {
        /// The physical file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// A store: logical directory and the physical root its files live under.
#[derive(Debug, Clone, Default)]
pub struct Store {
    dir: StoreDir,
    root: Option<PathBuf>,
}

impl Store {
    /// A store whose files are under `root` (`None`: the logical directory itself).
    pub fn new(dir: StoreDir, root: Option<PathBuf>) -> Store {
        Store { dir, root }
    }

    /// The logical store directory (part of every hash).
    pub fn dir(&self) -> &StoreDir {
        &self.dir
    }

    /// The physical root, if the store is not at its logical location.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// Physical location of the logical store directory: `ROOT/nix/store`
    /// whatever the logical directory is, as Nix's `local?root=ROOT` lays
    /// it out (Nix 2.8 puts `store=/gnu/store` files under `ROOT/nix/store`
    /// too), or the logical directory itself without a root.
    pub fn physical_dir(&self) -> PathBuf {
        match &self.root {
            Some(root) => root.join("nix/store"),
            None => PathBuf::from(self.dir.as_str()),
        }
    }

    /// Physical location of a store path's files.
    pub fn physical(&self, path: &StorePath) -> PathBuf {
        self.physical_dir().join(path.to_string())
    }

    /// Parses a path given by a user: a logical store path (`/nix/store/…`), or
    /// a physical one under the root (`ROOT/nix/store/…`).
    pub fn parse_user_path(&self, path: &str) -> Result<StorePath, StoreError> {
        let logical = self.to_logical(path);
        let logical = logical.trim_end_matches('/');
        self.dir.parse_path(logical).map_err(|source| StoreError::NotStorePath { path: path.to_owned(), source })
    }

    /// The store path that `path` (logical, or physical under the root) is
    /// or is inside of, such as a file within an output.
    pub fn parse_user_path_prefix(&self, path: &str) -> Option<StorePath> {
        self.dir.parse_path_prefix(&self.to_logical(path)).ok().map(|(p, _)| p)
    }

    /// `path` with the physical store directory replaced by the logical one.
    fn to_logical(&self, path: &str) -> String {
        let physical = self.physical_dir();
        match path.strip_prefix(physical.to_string_lossy().as_ref()) {
            Some(rest) if self.root.is_some() => format!("{}{rest}", self.dir),
            _ => path.to_owned(),
        }
    }

    /// Reads a whole (small) store file such as a `.drv`.
    pub fn read(&self, path: &StorePath) -> Result<Vec<u8>, StoreError> {
        let physical = self.physical(path);
        std::fs::read(&physical).map_err(|source| StoreError::Io { path: physical, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-hello.drv";

    #[test]
    fn maps_logical_paths_under_root() {
        let store = Store::new(StoreDir::default(), Some(PathBuf::from("/tmp/r")));
        let p = StorePath::from_base_name(BASE).unwrap();
        assert_eq!(store.physical(&p), PathBuf::from(format!("/tmp/r/nix/store/{BASE}")));
        assert_eq!(store.parse_user_path(&format!("/tmp/r/nix/store/{BASE}")).unwrap(), p);
        assert_eq!(store.parse_user_path(&format!("/nix/store/{BASE}")).unwrap(), p);
    }

    #[test]
    fn keeps_files_under_root_nix_store_for_other_store_dirs() {
        let store = Store::new(StoreDir::new("/gnu/store").unwrap(), Some(PathBuf::from("/tmp/r")));
        let p = StorePath::from_base_name(BASE).unwrap();
        assert_eq!(store.physical(&p), PathBuf::from(format!("/tmp/r/nix/store/{BASE}")));
        assert_eq!(store.parse_user_path(&format!("/tmp/r/nix/store/{BASE}")).unwrap(), p);
        assert_eq!(store.parse_user_path(&format!("/gnu/store/{BASE}")).unwrap(), p);
    }

    #[test]
    fn rejects_paths_outside_the_store() {
        let store = Store::default();
        assert!(store.parse_user_path("/etc/passwd").is_err());
    }
}
