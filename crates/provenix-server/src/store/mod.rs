//! Storage of the log behind one trait, [`LogStore`], so that backends are
//! interchangeable and pass one test suite (`tests/storage.rs`).
//!
//! The trait is synchronous; the server calls it from `spawn_blocking`.
//! [`LogStore::append_batch`] is the only writer of the log: a batch's
//! entries, the tiles they change and the checkpoint over them commit in one
//! transaction, so a crash leaves either all of a batch or none of it, and
//! the stored tree size never goes backwards.

pub mod postgres;
mod scan;
pub mod sqlite;

use std::sync::Arc;

use provenix_formats::log::merkle::NodeHash;
use provenix_formats::log::report::Report;
use provenix_formats::log::tile::Tile;
use provenix_formats::store_path::StoreDir;
use thiserror::Error;

use crate::verdict::Verdict;

/// A storage failure.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database refused or failed.
    #[error("database")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL refused or failed.
    #[error("PostgreSQL")]
    Postgres(#[from] tokio_postgres::Error),
    /// The PostgreSQL client's runtime could not start or stopped.
    #[error("the PostgreSQL client's runtime")]
    Runtime(#[source] std::io::Error),
    /// Another server process sequences this PostgreSQL log.
    #[error("another server process holds this database's sequencer lock; this one serves reads only")]
    NotSequencer,
    /// The database URL names no backend.
    #[error("`{0}`: expected sqlite:FILE or postgres://USER@HOST:PORT/DB")]
    Url(String),
    /// The database holds something this server did not write.
    #[error("database is inconsistent: {0}")]
    Corrupt(String),
    /// The database was written by a newer server.
    #[error("database schema version {found} is newer than this server's {supported}")]
    NewerSchema {
        /// Found.
        found: i64,
        /// Supported.
        supported: i64,
    },
    /// A builder name is registered with another key.
    #[error("builder `{name}` is already registered with another key")]
    BuilderConflict {
        /// The name.
        name: String,
    },
}

/// Opens the log named by `url`: `sqlite:FILE` (created on first start) or
/// `postgres://…` / `postgresql://…` (the schema is created on first start).
pub fn open(url: &str) -> Result<Arc<dyn LogStore>, StoreError> {
    if let Some(file) = url.strip_prefix("sqlite:").filter(|f| !f.is_empty()) {
        return Ok(Arc::new(sqlite::SqliteStore::open(std::path::Path::new(file))?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(postgres::PostgresStore::open(url)?));
    }
    Err(StoreError::Url(url.to_owned()))
}

/// A count or index as the databases store it (signed 64-bit).
pub(crate) fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("value {v} out of range")))
}

/// One entry of a batch, with its report for the query columns.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// The entry's canonical bytes (the leaf).
    pub data: Vec<u8>,
    /// Its report.
    pub report: Report,
}

/// What one sequencing batch writes.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Index of the first entry (the tree size before the batch).
    pub first_index: u64,
    /// The entries, in order.
    pub entries: Vec<NewEntry>,
    /// Tiles whose content changed, with their new content.
    pub tiles: Vec<Tile>,
    /// The tree size after the batch.
    pub size: u64,
    /// The signed checkpoint note for that size.
    pub checkpoint: Vec<u8>,
}

/// One stored report, for queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    /// Its index in the log.
    pub index: u64,
    /// The `.drv` path.
    pub drv: String,
    /// The output name.
    pub output: String,
    /// The output path.
    pub path: String,
    /// NAR sha256.
    pub nar_hash: NodeHash,
    /// The builder's key name.
    pub builder: String,
    /// When it was built.
    pub time: String,
}

/// A builder's standing against the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Agreement {
    /// Reports by the builder.
    pub reports: u64,
    /// Output paths it reported that another builder also reported, all with its hash.
    pub agreed: u64,
    /// Output paths where another report (by anyone) has a different hash.
    pub disagreed: u64,
}

/// Counts over the whole log, for the UI's overview.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Reports (entries).
    pub reports: u64,
    /// Distinct output paths reported.
    pub outputs: u64,
    /// Of those, `reproduced` (one hash, two or more builders).
    pub reproduced: u64,
    /// Of those, `disputed` (more than one hash).
    pub disputed: u64,
}

/// One output path found by [`LogStore::search`], with its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputHit {
    /// The output path.
    pub path: String,
    /// The `.drv` of its first report.
    pub drv: String,
    /// The output name of its first report.
    pub output: String,
    /// Reports about it.
    pub reports: u64,
    /// Its verdict.
    pub verdict: Verdict,
}

/// The log's storage.
///
/// The methods with a default body (the UI's summary queries) are built on
/// the others and read the whole log; a backend overrides them with indexed
/// queries (SQLite does). Overrides must give the same answers: the
/// `store_queries` test compares them with the defaults.
pub trait LogStore: Send + Sync + 'static {
    /// The latest checkpoint: tree size and signed note. `None` for an empty log.
    fn latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError>;
    /// The stored tile `(level, index)`, any width.
    fn tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes one batch atomically (module docs). `first_index` must equal the stored size.
    fn append_batch(&self, batch: &Batch) -> Result<(), StoreError>;
    /// Entry bytes `[start, start + count)` that exist.
    fn entries(&self, start: u64, count: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;
    /// Every report about an output path or a `.drv` path, oldest first.
    fn reports_for(&self, path_or_drv: &str) -> Result<Vec<ReportRow>, StoreError>;
    /// A builder's most recent reports, newest first.
    fn builder_history(&self, builder: &str, limit: u64) -> Result<Vec<ReportRow>, StoreError>;
    /// A builder's agreement with the others.
    fn agreement(&self, builder: &str) -> Result<Agreement, StoreError>;
    /// Output paths with more than one NAR hash, most recently reported first.
    fn disputed_paths(&self, limit: u64) -> Result<Vec<String>, StoreError>;
    /// Registered builders: name and public key text.
    fn builders(&self) -> Result<Vec<(String, String)>, StoreError>;
    /// Registers a builder; the same key again is a no-op, another key under the name a conflict.
    fn add_builder(&self, name: &str, public_key: &str) -> Result<(), StoreError>;
    /// Removes a builder; its reports stay. Returns whether it was registered.
    fn remove_builder(&self, name: &str) -> Result<bool, StoreError>;

    /// Counts of reports, output paths and verdicts over the whole log.
    /// `store_dir` is the one entries were checked against (the default
    /// body parses every entry).
    fn summary(&self, store_dir: &StoreDir) -> Result<Summary, StoreError> {
        scan::summary(self, store_dir)
    }

    /// Output paths matching `needle` (the rule of [`search_matches`]), at
    /// most `limit` of them sorted by path, and whether more matched. Which
    /// ones are returned when more than `limit` match is up to the backend.
    fn search(&self, store_dir: &StoreDir, needle: &str, limit: u64) -> Result<(Vec<OutputHit>, bool), StoreError> {
        scan::search(self, store_dir, needle, limit)
    }
}

/// Whether an output path (with its `.drv`) matches a search: after dropping
/// a leading `<store dir>/` from `needle`, `needle` is a prefix of the
/// path's base name (`<hash>-<name>`, so a hash part or a whole path) or of
/// the `.drv`'s base name, or, ASCII case-insensitively, of the path's
/// `<name>`. An empty needle matches nothing.
pub fn search_matches(store_dir: &StoreDir, needle: &str, path: &str, drv: &str) -> bool {
    let needle = search_needle(store_dir, needle);
    if needle.is_empty() {
        return false;
    }
    let (base, name) = base_and_name(path);
    let (drv_base, _) = base_and_name(drv);
    base.starts_with(needle)
        || drv_base.starts_with(needle)
        || name.to_ascii_lowercase().starts_with(&needle.to_ascii_lowercase())
}

/// `needle` without a leading `<store dir>/` and surrounding white space.
pub(crate) fn search_needle<'a>(store_dir: &StoreDir, needle: &'a str) -> &'a str {
    let needle = needle.trim();
    needle.strip_prefix(store_dir.as_str()).and_then(|rest| rest.strip_prefix('/')).unwrap_or(needle)
}

/// A store path's base name (after the last `/`) and name (after the hash part's `-`).
pub(crate) fn base_and_name(path: &str) -> (&str, &str) {
    let base = path.rsplit('/').next().unwrap_or(path);
    let name = base.split_once('-').map_or("", |(_, n)| n);
    (base, name)
}
