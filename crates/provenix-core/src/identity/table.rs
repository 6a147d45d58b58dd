//! The identity table: Nix `pname` → CPE vendor and product, upstream
//! repository.
//!
//! # Format
//!
//! TOML, one table per `pname` as nixpkgs spells it (quote names with dots
//! or other special characters):
//!
//! ```toml
//! [xz]
//! cpe = ["tukaani:xz"]                          # CPE 2.3 "vendor:product" pairs, one or more
//! repo = "https://github.com/tukaani-project/xz" # optional upstream repository
//!
//! ["python3.12-requests"]
//! cpe = ["python:requests"]
//! ```
//!
//! `cpe` names every NVD identity the package goes by (NVD sometimes files
//! one product under two vendors over the years, e.g. nginx). A product is
//! written as NVD writes it: lowercase, spaces as `_`. Unknown keys are an
//! error, so a typo (`cpes`, `repository`) is caught rather than ignored.
//!
//! The built-in table ships in the binary (`table.toml` next to this file);
//! `--identities FILE` adds entries and replaces built-in ones with the same
//! `pname`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

/// The curated table built into provenix.
const BUILTIN: &str = include_str!("table.toml");

/// Errors from reading an identity table.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum IdentityTableError {
    /// The file could not be read.
    #[error("reading identity table {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML of the documented shape.
    #[error("identity table {}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message, with line and column.
        message: String,
    },
    /// A `cpe` entry is not `vendor:product`.
    #[error("identity table {}: [{pname}]: cpe entry {entry:?} is not \"vendor:product\"", path.display())]
    BadCpe {
        /// The file.
        path: PathBuf,
        /// The table.
        pname: String,
        /// The entry.
        entry: String,
    },
    /// A `repo` is not an http(s) URL.
    #[error("identity table {}: [{pname}]: repo {repo:?} is not an https:// URL", path.display())]
    BadRepo {
        /// The file.
        path: PathBuf,
        /// The table.
        pname: String,
        /// The value.
        repo: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    #[serde(default)]
    cpe: Vec<String>,
    repo: Option<String>,
}

/// A CPE vendor and product.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct CpeId {
    /// The vendor, as NVD writes it.
    pub vendor: String,
    /// The product, as NVD writes it.
    pub product: String,
}

/// What the table says about one `pname`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableEntry {
    /// CPE identities.
    pub cpe: Vec<CpeId>,
    /// Upstream repository URL.
    pub repo: Option<String>,
}

/// `pname` → identity.
#[derive(Debug, Clone, Default)]
pub struct IdentityTable {
    entries: BTreeMap<String, TableEntry>,
}

impl IdentityTable {
    /// The curated table shipped with provenix.
    pub fn builtin() -> IdentityTable {
        // The built-in table is checked by a unit test, so this cannot fail
        // in a released binary; an empty table is the safe fallback anyway.
        IdentityTable::parse(BUILTIN, Path::new("<built-in identity table>")).unwrap_or_default()
    }

    /// Reads a table file.
    pub fn load(path: &Path) -> Result<IdentityTable, IdentityTableError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| IdentityTableError::Io { path: path.to_owned(), source })?;
        IdentityTable::parse(&text, path)
    }

    /// Parses a table; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<IdentityTable, IdentityTableError> {
        let raw: BTreeMap<String, RawEntry> = toml::from_str(text).map_err(|e| IdentityTableError::Syntax {
            path: path.to_owned(),
            message: e.to_string().trim().to_owned(),
        })?;
        let mut entries = BTreeMap::new();
        for (pname, entry) in raw {
            let mut cpe = Vec::with_capacity(entry.cpe.len());
            for item in entry.cpe {
                match item.split_once(':') {
                    Some((vendor, product)) if !vendor.is_empty() && !product.is_empty() && !product.contains(':') => {
                        cpe.push(CpeId { vendor: vendor.to_owned(), product: product.to_owned() })
                    }
                    _ => return Err(IdentityTableError::BadCpe { path: path.to_owned(), pname, entry: item }),
                }
            }
            if let Some(repo) = &entry.repo
                && !(repo.starts_with("https://") || repo.starts_with("http://"))
            {
                return Err(IdentityTableError::BadRepo { path: path.to_owned(), pname, repo: repo.clone() });
            }
            entries.insert(pname, TableEntry { cpe, repo: entry.repo });
        }
        Ok(IdentityTable { entries })
    }

    /// Adds `other`'s entries, replacing entries of the same `pname`.
    pub fn extend(&mut self, other: IdentityTable) {
        self.entries.extend(other.entries);
    }

    /// The entry of `pname`.
    pub fn get(&self, pname: &str) -> Option<&TableEntry> {
        self.entries.get(pname)
    }

    /// Every entry, by `pname`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &TableEntry)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_table_parses_and_knows_xz() {
        let table = IdentityTable::parse(BUILTIN, Path::new("table.toml")).unwrap();
        assert!(table.len() > 100, "{} entries", table.len());
        let xz = table.get("xz").unwrap();
        assert_eq!(xz.cpe, [CpeId { vendor: "tukaani".into(), product: "xz".into() }]);
        assert_eq!(xz.repo.as_deref(), Some("https://github.com/tukaani-project/xz"));
    }

    #[test]
    fn user_entries_replace_builtin_ones() {
        let mut table = IdentityTable::builtin();
        table.extend(IdentityTable::parse("[xz]\ncpe = [\"other:xz\"]\n", Path::new("mine.toml")).unwrap());
        assert_eq!(table.get("xz").unwrap().cpe[0].vendor, "other");
        assert_eq!(table.get("xz").unwrap().repo, None);
    }

    #[test]
    fn errors_name_the_file_and_the_entry() {
        let err = IdentityTable::parse("[foo]\ncpe = [\"justproduct\"]\n", Path::new("mine.toml")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "identity table mine.toml: [foo]: cpe entry \"justproduct\" is not \"vendor:product\""
        );
        let err = IdentityTable::parse("[foo]\ncpes = [\"a:b\"]\n", Path::new("mine.toml")).unwrap_err();
        assert!(err.to_string().contains("mine.toml") && err.to_string().contains("cpes"), "{err}");
        let err = IdentityTable::parse("[foo]\nrepo = \"ftp://x\"\n", Path::new("mine.toml")).unwrap_err();
        assert!(err.to_string().contains("[foo]: repo \"ftp://x\""), "{err}");
        let err = IdentityTable::parse("[foo\n", Path::new("mine.toml")).unwrap_err();
        assert!(err.to_string().starts_with("identity table mine.toml: "), "{err}");
    }
}
