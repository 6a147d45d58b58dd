//! The vulnerability database behind `provenix vulns`: advisories as users
//! download them (NVD CVE API 2.0 pages, CVE JSON 5 records, OSV records,
//! any mix in one directory), indexed once into a SQLite file, and matched
//! against the components of a closure.
//!
//! # Inputs
//!
//! Every `*.json`, `*.json.gz` and `*.zip` file under the directory, walked
//! recursively in sorted order (symbolic links are followed, each directory
//! is read once, hidden directories are not entered), at most
//! [`MAX_FILE_BYTES`] per document (`input.rs`: a `.json.gz` is one
//! document, each `*.json` member of a `.zip` is one, and a compressed file
//! expands to at most [`MAX_EXPANSION`] times its size or
//! [`EXPANSION_FLOOR`]). Other files, `.zip` members and hidden directories
//! are skipped and listed in [`IndexStats::skipped_files`]. A document is one of:
//!
//! - an NVD CVE API 2.0 page (`"format": "NVD_CVE"` or `vulnerabilities[]`
//!   of `{"cve": ...}`), or one NVD 2.0 `cve` object, bare or as
//!   `{"cve": ...}` (`nvd.rs`);
//! - a CVE JSON 5 record (`"dataType": "CVE_RECORD"` or `cveMetadata`) (`cve5.rs`);
//! - an OSV record (`id` and `modified`) (`osv.rs`);
//! - a JSON array of CVE 5 or OSV records (mixed is fine).
//!
//! Anything else is an error naming the file; a malformed record is an error
//! naming the file, the record's index and its id when known. Data that is
//! valid but unusable (no configurations, a CPE that does not parse, a
//! version entry without a version, a GIT range without a repository) is
//! skipped and counted in [`IndexStats::skipped`], with the first few
//! described in [`IndexStats::examples`]. Rejected CVEs (NVD `vulnStatus`
//! `Rejected`, CVE 5 state `REJECTED`) and withdrawn OSV records are not
//! indexed and are counted. When two files hold the same advisory (same
//! source and id), the one modified last is kept (ties: the later file in
//! path order) and the other is counted in [`IndexStats::duplicates`].
//!
//! # Matching
//!
//! [`VulnDb::scan`] looks each [`Target`] up by its keys (CPE product, OSV
//! package, upstream repository) and evaluates the candidate advisories'
//! rules; it reports one [`Hit`] per target and advisory, for the first rule
//! that matched in file order. The rules:
//!
//! - versions are ordered by [`version::compare`];
//! - CPE names and `cpeMatch` entries by [`cpe`];
//! - NVD configurations: an `AND` configuration holds when every node does,
//!   otherwise when one does; a node holds when its entries do (`OR`: one,
//!   `AND`: all), negated when `negate` is set (so `NOT windows` holds on
//!   Linux). An entry holds when it names the target at its version, or
//!   when it is not `vulnerable` and describes the platform: the Linux
//!   kernel (`o:linux:linux_kernel`, any version), ANY vendor and product, or
//!   a `(vendor, product)` in the closure (`present`, any version). A hit
//!   needs a `vulnerable` entry naming the target in a holding node of a
//!   holding configuration. A negated configuration never hits;
//! - CVE 5 `affected` entries (CNA, then every ADP) by vendor and product
//!   (lowercase, spaces as `_`) or by `cpes[]`; the target's version is
//!   unaffected when an `unaffected` entry covers it, else affected when an
//!   `affected` entry covers it, else `defaultStatus`. An entry covers the
//!   exact `version` or the range from `version` (`0`, `*`, `unspecified`:
//!   from the start) to `lessThan` (exclusive) or `lessThanOrEqual`
//!   (inclusive; `*` unbounded, `6.1.*` every `6.1` version); `changes[]`
//!   apply within the range. A `cpes[]` entry with a concrete version makes
//!   that version affected. Entries with `versionType: git` are skipped
//!   (counted);
//! - OSV `affected` by package (ecosystem compared case-insensitively, the
//!   name exactly, PyPI names per PEP 503): in `versions[]` by version
//!   equality, or within a `SEMVER`/`ECOSYSTEM` range, whose events are
//!   sorted by version and swept as the OSV schema describes (`introduced`
//!   `0` first; `limit` bounds the range). Every ecosystem uses
//!   [`version::compare`];
//! - OSV `affected` by upstream repository, through `GIT` ranges whose
//!   `repo` equals a [`RepoRef::url`] (both normalised: no `git+`, `https`,
//!   lowercase host without `www.`, no trailing `/` or `.git`): the
//!   target's version or the tag (without `v`, `release-`, `<repo name>-`,
//!   `<repo name>_`, `_` as `.`) listed in `versions[]` normalised the same
//!   way; or the rev equal to an `introduced`/`last_affected` commit; or,
//!   when the events are versions rather than commit ids, the version
//!   within the range; or, for an entry without a `package` (curl's own
//!   feed: a `SEMVER` range beside a `GIT` range on its repository), the
//!   version within the entry's `SEMVER`/`ECOSYSTEM` ranges, which are then
//!   ranges of that repository's versions (they also give the fixed version
//!   of a hit by `versions[]`).
//!
//! A target whose version is unknown matches only rules that hold for
//! every version. The fixed version reported is `versionEndExcluding`, the
//! OSV `fixed` event above the version, CVE 5 `lessThan`, or the lowest
//! CVE 5 `unaffected` version above it.
//!
//! # Index
//!
//! One SQLite file ([`SCHEMA_VERSION`] 2), by default `DIR/.provenix-index.sqlite` or,
//! for a read-only directory, a file in the user's cache directory ([`default_index`]):
//!
//! ```sql
//! CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
//!   -- schema: the schema version; fingerprint: sha256 of the sorted
//!   -- (relative path, size, mtime ns) of the input files and the names of the
//!   -- skipped ones; stats: IndexStats JSON
//! CREATE TABLE advisories(id INTEGER PRIMARY KEY, source TEXT NOT NULL,
//!   name TEXT NOT NULL, modified TEXT NOT NULL, advisory TEXT NOT NULL);
//!   -- advisory: the Advisory as JSON
//! CREATE TABLE rules(advisory INTEGER PRIMARY KEY, body TEXT NOT NULL);
//!   -- body: the advisory's rules as compact JSON
//! CREATE TABLE keys(key TEXT NOT NULL, vendor TEXT NOT NULL, advisory INTEGER NOT NULL,
//!   filter TEXT NOT NULL, PRIMARY KEY(key, vendor, advisory)) WITHOUT ROWID;
//!   -- filter: the versions the advisory's rules for this key can match
//!   -- (`*`, or inclusive/exclusive ranges; see filter.rs)
//! ```
//!
//! Keys are `c:<product>` with the CPE vendor in `vendor` (`*` for ANY;
//! entries with ANY product are not indexed), `p:<ecosystem lowercase>\n<name normalised>` and
//! `g:<repository URL normalised>`, with `vendor` empty for the last two.
//! Only rows of advisories that can match are written.
//!
//! [`VulnDb::open`] reuses the index when its schema version and
//! fingerprint match the directory; otherwise it parses the files in
//! parallel (rayon, in batches), writes a new index to a temporary file in
//! the index's directory and renames it into place, so a failed run leaves
//! the old index (or none) and nothing half-written.
//!
//! A scan collects the distinct keys of all targets and joins them against
//! `keys` in one query (`json_each`); a row is a candidate for a target
//! when its vendor and version filter admit the target (NVD and CVE 5 rows
//! carry version ranges, OSV rows `*`). Then it reads and decodes each
//! candidate advisory's rules once, evaluates the candidates in parallel
//! and decodes the [`Advisory`] of each advisory that hit once. Cost: one
//! index probe per distinct key, one filter check per key row and target,
//! one decode per candidate advisory.

mod cve5;
mod cvss;
pub(crate) mod filter;
mod index;
mod input;
mod nvd;
mod osv;
pub(crate) mod parse;
pub(crate) mod rules;

pub mod cpe;
pub mod version;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use self::rules::{Event, MatchRule};

/// The version of the index schema; an index of another version is rebuilt.
pub const SCHEMA_VERSION: u32 = 2;

/// The largest input document read: a `.json` file, or what one `.json.gz` file or one `.zip`
/// member expands to.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// A compressed file (`.json.gz`, `.zip`) may expand to at most this many times its size on
/// disk (JSON feeds compress 10 to 30 times), or [`EXPANSION_FLOOR`] bytes when that is more.
pub const MAX_EXPANSION: u64 = 100;

/// What any compressed file may expand to, whatever its size.
pub const EXPANSION_FLOOR: u64 = 64 << 20;

/// How many skipped items [`IndexStats::examples`] describes.
pub const MAX_EXAMPLES: usize = 20;

/// What went wrong opening, building or querying the database.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum VulnDbError {
    /// A file or directory could not be read or written.
    #[error("{}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An input file is larger than [`MAX_FILE_BYTES`].
    #[error("{}: {size} bytes, more than the limit of {MAX_FILE_BYTES}", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// A compressed input expands past [`MAX_EXPANSION`] times its size (or [`EXPANSION_FLOOR`]).
    #[error(
        "{file}: expands past {limit} bytes from {compressed} compressed: refusing it as a decompression bomb \
         (the limit is {MAX_EXPANSION} times the compressed size, at least {EXPANSION_FLOOR} bytes)"
    )]
    Bomb {
        /// The file (a `.zip` member as `archive.zip/member.json`), relative to the database directory.
        file: String,
        /// The size of the compressed file on disk.
        compressed: u64,
        /// What it may expand to.
        limit: u64,
    },
    /// A compressed input file could not be decompressed (corrupt gzip or deflate data).
    #[error("{file}: cannot decompress")]
    Decompress {
        /// The file (a `.zip` member as `archive.zip/member.json`), relative to the database directory.
        file: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A `.zip` input file is not a readable zip archive.
    #[error("{file}: not a readable zip archive")]
    Archive {
        /// The file, relative to the database directory.
        file: String,
        /// The cause.
        #[source]
        source: zip::result::ZipError,
    },
    /// An input file is not JSON, or JSON of the wrong shape at the top.
    #[error("{file}: malformed JSON")]
    Json {
        /// The file, relative to the database directory.
        file: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// An input file is JSON of another kind.
    #[error("{file}: not an NVD 2.0 page, CVE 5 record or OSV record{hint}")]
    UnknownFormat {
        /// The file, relative to the database directory.
        file: String,
        /// What it looks like instead, when known (starts with `; `).
        hint: String,
    },
    /// A record of an input file does not have the shape of its format.
    #[error("{file}: record {index}{}: malformed {kind}", id.as_deref().map(|i| format!(" ({i})")).unwrap_or_default())]
    Record {
        /// The file, relative to the database directory.
        file: String,
        /// The record's index in the file (0 for a file of one record).
        index: usize,
        /// The record's id, when it could be read.
        id: Option<String>,
        /// `NVD 2.0 CVE`, `CVE 5 record` or `OSV record`.
        kind: &'static str,
        /// The cause (names the field).
        #[source]
        source: serde_json::Error,
    },
    /// The index file could not be built, opened or queried.
    #[error("index {}", path.display())]
    Index {
        /// The index file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The index path holds a file that is not a provenix vulnerability index.
    #[error("{}: not a provenix vulnerability index; not overwriting it", path.display())]
    NotAnIndex {
        /// The file.
        path: PathBuf,
    },
    /// The index holds data this version cannot read.
    #[error("index {}: advisory row {row}: corrupt {what}", path.display())]
    Corrupt {
        /// The index file.
        path: PathBuf,
        /// The advisory's row id.
        row: i64,
        /// `rules` or `advisory`.
        what: &'static str,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

/// Where an advisory comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// An NVD CVE API 2.0 record.
    Nvd,
    /// A CVE JSON 5 record.
    Cve5,
    /// An OSV record.
    Osv,
}

impl Source {
    /// `nvd`, `cve5` or `osv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Nvd => "nvd",
            Source::Cve5 => "cve5",
            Source::Osv => "osv",
        }
    }
}

/// A CVSS score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Severity {
    /// The base score, 0.0 to 10.0.
    pub score: f64,
    /// The CVSS version: `4.0`, `3.1`, `3.0` or `2.0`.
    pub version: String,
    /// The vector string.
    pub vector: String,
    /// `CRITICAL`, `HIGH`, `MEDIUM`, `LOW` or `NONE`.
    pub level: String,
}

/// One advisory, as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Advisory {
    /// `CVE-2024-3094`, `GHSA-...`, `PYSEC-...`.
    pub id: String,
    /// Other ids of the same vulnerability (OSV `aliases`), sorted.
    pub aliases: Vec<String>,
    /// Where it comes from.
    pub source: Source,
    /// The English description or OSV summary (details when there is no
    /// summary), at most [`MAX_SUMMARY_CHARS`] characters.
    pub summary: Option<String>,
    /// The preferred CVSS score: v3.1, then v3.0, then v4.0, then v2.0
    /// (NVD: the primary source's first). OSV vectors are scored here (v3.x);
    /// an OSV record with only a v4 vector has none.
    pub severity: Option<Severity>,
    /// When it was published, as written.
    pub published: Option<String>,
    /// When it was last modified, as written.
    pub modified: Option<String>,
    /// The first [`MAX_REFERENCES`] reference URLs.
    pub references: Vec<String>,
    /// The source file, relative to the database directory, `/`-separated.
    pub file: String,
}

/// The longest [`Advisory::summary`] kept, in characters.
pub const MAX_SUMMARY_CHARS: usize = 1000;
/// How many [`Advisory::references`] are kept.
pub const MAX_REFERENCES: usize = 5;

/// What indexing found. A reused index reports the figures of the run that built it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexStats {
    /// Input files.
    pub files: usize,
    /// Advisories indexed (that can match something).
    pub advisories: usize,
    /// Rejected CVEs skipped.
    pub rejected: usize,
    /// Withdrawn OSV records skipped.
    pub withdrawn: usize,
    /// True when the index was up to date and reused.
    pub reused: bool,
    /// Advisories indexed from NVD pages.
    pub nvd: usize,
    /// Advisories indexed from CVE 5 records.
    pub cve5: usize,
    /// Advisories indexed from OSV records.
    pub osv: usize,
    /// Records replaced by another copy of the same advisory.
    pub duplicates: usize,
    /// Unusable data skipped, by reason (`unparseable CPE`, `no configurations`...).
    pub skipped: BTreeMap<String, usize>,
    /// The first [`MAX_EXAMPLES`] skipped items, `file: id: reason: detail`.
    pub examples: Vec<String>,
    /// Files that are not vulnerability data and were not read (not `*.json`, `*.json.gz` or
    /// `*.zip`, hidden directories such as `.git/`, `.zip` members that are not `*.json`), by
    /// path relative to the database directory; a directory ends in `/`.
    #[serde(default)]
    pub skipped_files: Vec<String>,
    /// The newest last-modified time of the advisories indexed (NVD `lastModified`, CVE 5
    /// `dateUpdated`, OSV `modified`), as written; `None` when none has one.
    #[serde(default)]
    pub newest: Option<String>,
}

/// One component of the closure, as matched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// Its version (`5.6.0`, `2.0-rc1`), when known.
    pub version: Option<String>,
    /// Its CPE identities; empty when unknown.
    pub cpes: Vec<CpeId>,
    /// Its OSV packages.
    pub packages: Vec<Package>,
    /// Its upstream repositories (from FOD source URLs).
    pub repos: Vec<RepoRef>,
}

/// A CPE identity, unescaped; compared lowercase with spaces as `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CpeId {
    /// `tukaani`.
    pub vendor: String,
    /// `xz`.
    pub product: String,
}

/// An OSV package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The OSV ecosystem: `PyPI`, `crates.io`, `npm`... (compared case-insensitively).
    pub ecosystem: String,
    /// The package name in that ecosystem.
    pub name: String,
    /// The package's version; the target's version when `None`.
    pub version: Option<String>,
}

/// An upstream repository a component's source comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRef {
    /// The repository URL (`https://github.com/tukaani-project/xz`).
    pub url: String,
    /// The tag checked out, when known (`v5.6.0`).
    pub tag: Option<String>,
    /// The commit checked out, when known.
    pub rev: Option<String>,
}

/// One target affected by one advisory.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The index of the target in the slice given to [`VulnDb::scan`].
    pub target: usize,
    /// The advisory (shared between the hits of one scan).
    pub advisory: Arc<Advisory>,
    /// The rule that matched.
    pub rule: MatchRule,
    /// The first fixed version, when known.
    pub fixed: Option<String>,
    /// The commit that fixes it, when the rule is an OSV GIT range whose
    /// `fixed` event is a commit.
    pub fixed_commit: Option<String>,
}

/// The file name of the index kept in a writable data directory.
pub const INDEX_FILE_NAME: &str = ".provenix-index.sqlite";

/// Where the index of the data directory `dir` lives when the user names none:
/// `dir/.provenix-index.sqlite` when provenix may write into `dir`, else, for a read-only
/// directory (`read_only`, e.g. a store path, or one this process may not write), a file under
/// `cache` named after the hash of `dir`'s canonical path, so two data directories never share
/// an index. `None` when the directory is read-only and there is no cache directory.
pub fn default_index(dir: &Path, read_only: bool, cache: Option<&Path>) -> Result<Option<PathBuf>, VulnDbError> {
    let writable = rustix::fs::access(dir, rustix::fs::Access::WRITE_OK).is_ok();
    if writable && !read_only {
        return Ok(Some(dir.join(INDEX_FILE_NAME)));
    }
    let Some(cache) = cache else { return Ok(None) };
    let canonical = std::fs::canonicalize(dir).map_err(|source| VulnDbError::Io { path: dir.to_owned(), source })?;
    let mut hasher = provenix_formats::hash::Hasher::new(provenix_formats::hash::HashAlgo::Sha256);
    hasher.update(canonical.as_os_str().as_encoded_bytes());
    let key = hasher.finish().to_base16();
    Ok(Some(cache.join(format!("vulndb-{}.sqlite", key.get(..32).unwrap_or(&key)))))
}

/// An open index.
pub struct VulnDb {
    path: PathBuf,
    conn: Mutex<rusqlite::Connection>,
}

impl std::fmt::Debug for VulnDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VulnDb").field("path", &self.path).finish_non_exhaustive()
    }
}

impl VulnDb {
    /// Indexes every data file under `dir` into the SQLite file `index` when
    /// it is missing or stale (the set of (relative path, size, mtime ns) of
    /// the files changed, or the schema version did), then opens it.
    /// Indexing parses files in parallel and writes the index atomically
    /// (temporary file in the same directory, then rename).
    pub fn open(
        dir: &Path,
        index: &Path,
        progress: &dyn crate::verify::Progress,
    ) -> Result<(VulnDb, IndexStats), VulnDbError> {
        let (conn, stats) = index::open_or_build(dir, index, progress)?;
        Ok((VulnDb { path: index.to_owned(), conn: Mutex::new(conn) }, stats))
    }

    /// Every hit of every target, sorted by target, then advisory id and
    /// source. `present` holds the `(vendor, product)` CPE pairs of the
    /// scanned closure, for platform entries of NVD configurations.
    pub fn scan(&self, targets: &[Target], present: &HashSet<(String, String)>) -> Result<Vec<Hit>, VulnDbError> {
        let conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        index::scan(&conn, &self.path, targets, present)
    }
}
