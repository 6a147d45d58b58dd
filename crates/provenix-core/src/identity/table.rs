//! The identity table: Nix `pname` → CPE vendor and product, upstream
//! repository.
//!
//! # Format
//!
//! TOML, one table per `pname` as nixpkgs spells it (quote names with dots
//! or other special characters), or per package of an interpreter's set as
//! `<family>:<name>` ([`super::prefix`]):
//!
//! ```toml
//! [xz]
//! cpe = ["tukaani:xz"]                          # CPE 2.3 "vendor:product" pairs, one or more
//! repo = "https://github.com/tukaani-project/xz" # optional upstream repository
//! source = "cpe: NVD CPE dictionary; repo: upstream homepage" # optional: where the facts come from
//!
//! ["python:requests"]                           # python3.12-requests, python311-requests, ...
//! cpe = ["python:requests"]
//! ```
//!
//! A key with an interpreter prefix (`python3.12-requests`) means the same
//! as its `<family>:<name>` form (`python:requests`), so it applies whatever
//! the interpreter's version; two keys of one file that mean the same
//! package are an error, as is a `<family>:` that is not one of `python`,
//! `perl`, `ruby`, `lua`, `ocaml`, `haskell`, `node`.
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
    /// A key is `<family>:<name>` of an unknown family, or has no name.
    #[error(
        "identity table {}: [{key}]: not a pname, nor <family>:<name> with a family of python, perl, ruby, lua, ocaml, haskell, node",
        path.display()
    )]
    BadKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// Two keys name one package (`python3.11-requests` and `python:requests`).
    #[error("identity table {}: [{first}] and [{second}] both name {key}", path.display())]
    SameKey {
        /// The file.
        path: PathBuf,
        /// The first key.
        first: String,
        /// The second key.
        second: String,
        /// The package both name.
        key: String,
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
    source: Option<String>,
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
    /// Where the facts come from (`cpe: NVD CPE dictionary; repo: upstream homepage`).
    pub source: Option<String>,
}

/// `pname` (or `<family>:<name>`) → identity.
#[derive(Debug, Clone, Default)]
pub struct IdentityTable {
    /// By canonical key ([`canonical_key`]).
    entries: BTreeMap<String, TableEntry>,
}

/// The key a table entry or lookup goes by: `<family>:<name>` for a package
/// of an interpreter's set (the name normalised as its registry does), the
/// `pname` as written otherwise. `None` for a `:` key of an unknown family.
pub fn canonical_key(key: &str) -> Option<String> {
    match super::prefix::table_key(key) {
        Ok(Some(interpreted)) => Some(interpreted.key()),
        Ok(None) => Some(key.to_owned()),
        Err(()) => None,
    }
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
        let mut written: BTreeMap<String, String> = BTreeMap::new();
        for (pname, entry) in raw {
            let Some(key) = canonical_key(&pname) else {
                return Err(IdentityTableError::BadKey { path: path.to_owned(), key: pname });
            };
            if let Some(first) = written.insert(key.clone(), pname.clone()) {
                return Err(IdentityTableError::SameKey { path: path.to_owned(), first, second: pname, key });
            }
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
            entries.insert(key, TableEntry { cpe, repo: entry.repo, source: entry.source });
        }
        Ok(IdentityTable { entries })
    }

    /// Adds `other`'s entries, replacing entries of the same `pname`.
    pub fn extend(&mut self, other: IdentityTable) {
        self.entries.extend(other.entries);
    }

    /// The entry of a key as the table is written: a `pname`, a
    /// `<family>:<name>`, or a prefixed `pname` (`python3.12-requests`, the
    /// same entry as `python:requests`).
    pub fn get(&self, key: &str) -> Option<&TableEntry> {
        self.entries.get(&canonical_key(key)?)
    }

    /// The entry of a component with derivation name `name`, `pname` and
    /// `packageName` (node2nix's npm name): `<family>:<name>` for a package
    /// of an interpreter's set (whatever the prefix, and whether `pname`
    /// carries it or not), else the `pname`.
    pub fn lookup(&self, name: &str, pname: &str, package_name: Option<&str>) -> Option<&TableEntry> {
        match super::prefix::interpreted(name, pname, package_name) {
            Some(interpreted) => self.entries.get(&interpreted.key()),
            None => self.entries.get(pname),
        }
    }

    /// Every entry, by canonical key (`pname` or `<family>:<name>`).
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
        assert!(table.len() >= 300, "{} entries", table.len());
        let xz = table.get("xz").unwrap();
        assert_eq!(xz.cpe, [CpeId { vendor: "tukaani".into(), product: "xz".into() }]);
        assert_eq!(xz.repo.as_deref(), Some("https://github.com/tukaani-project/xz"));
    }

    /// Every built-in entry names an identity and says where its facts come from, for the
    /// facts it has; repositories are https URLs without a trailing `/`.
    #[test]
    fn every_builtin_entry_says_where_its_facts_come_from() {
        let table = IdentityTable::builtin();
        for (key, entry) in table.iter() {
            assert!(!entry.cpe.is_empty() || entry.repo.is_some(), "[{key}] names nothing");
            let source = entry.source.as_deref().unwrap_or_else(|| panic!("[{key}] has no source"));
            assert_eq!(source.contains("cpe: "), !entry.cpe.is_empty(), "[{key}] {source}");
            assert_eq!(source.contains("repo: "), entry.repo.is_some(), "[{key}] {source}");
            if let Some(repo) = &entry.repo {
                assert!(repo.starts_with("https://") && !repo.ends_with('/'), "[{key}] {repo}");
            }
            for id in &entry.cpe {
                let lowercase = |s: &str| s.chars().all(|c| !c.is_ascii_uppercase() && !c.is_whitespace());
                assert!(lowercase(&id.vendor) && lowercase(&id.product), "[{key}] {id:?} is not as NVD writes it");
            }
        }
        // Well-known upstreams, googlesource.com and self-hosted ones among them.
        for (key, repo) in [
            ("libvpx", "https://chromium.googlesource.com/webm/libvpx"),
            ("libaom", "https://aomedia.googlesource.com/aom"),
            ("glibc", "https://sourceware.org/git/glibc.git"),
            ("ffmpeg", "https://git.ffmpeg.org/ffmpeg.git"),
            ("linux", "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git"),
        ] {
            assert_eq!(table.get(key).and_then(|e| e.repo.as_deref()), Some(repo), "{key}");
        }
        assert_eq!(
            table.get("python3.12-urllib3").unwrap().cpe[0],
            CpeId { vendor: "python".into(), product: "urllib3".into() }
        );
    }

    #[test]
    fn user_entries_replace_builtin_ones() {
        let mut table = IdentityTable::builtin();
        table.extend(IdentityTable::parse("[xz]\ncpe = [\"other:xz\"]\n", Path::new("mine.toml")).unwrap());
        assert_eq!(table.get("xz").unwrap().cpe[0].vendor, "other");
        assert_eq!(table.get("xz").unwrap().repo, None);
    }

    #[test]
    fn interpreter_keys_apply_whatever_the_prefix() {
        let table = IdentityTable::parse(
            "[\"python:URLlib3\"]\ncpe = [\"python:urllib3\"]\n\n[\"perl5.36.0-URI\"]\ncpe = [\"uri_project:uri\"]\n",
            Path::new("t"),
        )
        .unwrap();
        let urllib3 = table.get("python:urllib3");
        assert!(urllib3.is_some());
        for (name, pname) in [
            ("python3.12-urllib3-2.0.7", "urllib3"),
            ("python3.12-urllib3-2.0.7", "python3.12-urllib3"),
            ("python311-urllib3-2.0.7", "python311-urllib3"),
            ("python313-urllib3-2.0.7", "urllib3"),
            ("pypy3.10-urllib3-2.0.7", "urllib3"),
        ] {
            assert_eq!(table.lookup(name, pname, None), urllib3, "{name} {pname}");
        }
        assert_eq!(table.get("python3.11-urllib3"), urllib3);
        assert!(table.lookup("urllib3-2.0.7", "urllib3", None).is_none(), "no prefix: not the Python package");
        assert!(table.lookup("perl5.38.2-URI-5.21", "perl5.38.2-URI", None).is_some());
        assert_eq!(table.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["perl:URI", "python:urllib3"]);
    }

    #[test]
    fn two_keys_of_one_package_and_unknown_families_are_errors() {
        let err = IdentityTable::parse(
            "[\"python3.11-requests\"]\ncpe = [\"a:b\"]\n[\"python:requests\"]\ncpe = [\"a:c\"]\n",
            Path::new("mine.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("both name python:requests"), "{err}");
        let err = IdentityTable::parse("[\"pyton:requests\"]\ncpe = [\"a:b\"]\n", Path::new("mine.toml")).unwrap_err();
        assert!(err.to_string().contains("[pyton:requests]"), "{err}");
        // A user entry under another prefix replaces the built-in one.
        let mut table = IdentityTable::builtin();
        table.extend(
            IdentityTable::parse("[\"python3.11-urllib3\"]\ncpe = [\"me:urllib3\"]\n", Path::new("m")).unwrap(),
        );
        assert_eq!(table.lookup("python3.12-urllib3-2.0.7", "urllib3", None).unwrap().cpe[0].vendor, "me");
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
