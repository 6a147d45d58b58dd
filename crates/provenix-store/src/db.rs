//! Read-only access to a Nix store's SQLite database, `nix/var/nix/db/db.sqlite`.
//!
//! # What Nix 2.8 keeps there (schema version 10)
//!
//! - `ValidPaths(id, path, hash, registrationTime, deriver, narSize,
//!   ultimate, sigs, ca)`: one row per valid path. `path` and `deriver` are
//!   full logical paths; `hash` is the NAR hash as `sha256:<base16>`; `sigs`
//!   is space-separated; `narSize`, `ultimate`, `sigs`, `ca` and `deriver`
//!   may be NULL.
//! - `Refs(referrer, reference)`: `ValidPaths` ids, primary key on both.
//! - `DerivationOutputs(drv, id, path)`: `drv` is the `ValidPaths` id of a
//!   `.drv`, `id` the output name, `path` the output's full path (which need
//!   not be valid).
//!
//! Values are read the way Nix reads them: a NULL `narSize` is 0, empty
//! `sigs` tokens are dropped and the rest sorted and deduplicated (Nix keeps
//! them in a set), an empty `ca` is none. Anything Nix would not have written
//! (a path that does not parse, a bad hash, a negative size, a value of the
//! wrong type) is a [`DbError::BadRow`] naming the database, table, row,
//! column and path.
//!
//! # Opening without writing
//!
//! Nix leaves its database in WAL mode. SQLite opens a WAL database by
//! creating `db.sqlite-wal` and `db.sqlite-shm` next to it, even for a
//! read-only connection, and leaves them behind when that connection closes
//! (checked: as root the files are made and chowned to the database's
//! owner; as a user who cannot write the directory, as on a multi-user
//! install whose daemon is idle, the sqlite3 3.40 shell's read-only open
//! fails with "attempt to write a readonly database"). So:
//!
//! - If `db.sqlite-wal` (or a rollback `db.sqlite-journal`) exists, some Nix
//!   process has the database open, or one stopped without cleaning up: the
//!   newest transactions may be in that log, so the database is opened
//!   read-only the normal way (`mode=ro`), which reads the log and the
//!   existing `-shm` index. Nothing new is created, unless `-shm` is missing.
//!   SQLite cannot checkpoint from a read-only connection, so if the last
//!   Nix process exits while we read, its `-wal` and `-shm` stay behind
//!   (owned by Nix's user); Nix's next open reuses and removes them.
//! - Otherwise no process has the database open and every committed
//!   transaction is in the main file: it is opened `immutable=1`, which
//!   creates no file and takes no lock, so Nix is never blocked. A Nix
//!   process may start meanwhile, and when it closes it checkpoints into the
//!   main file. So every call ends by checking that the main file's inode,
//!   size, mtime and ctime are still those seen before opening and that no
//!   `-wal` appeared; if not, it reopens and runs again (at most
//!   [`MAX_READ_ATTEMPTS`] times). A result is thus never served from a file
//!   that changed under it.
//!
//! Each call reads inside one read transaction, so a [`PathInfo`] and its
//! references come from the same snapshot.
//!
//! # Threads
//!
//! [`NixDb`] is `Send` but not `Sync` (it owns one SQLite connection). For
//! parallel lookups, give each thread its own handle with
//! [`NixDb::try_clone`].
//!
//! # Cost
//!
//! A lookup is two indexed queries through cached prepared statements.
//! [`NixDb::path_infos`] switches to one scan of `ValidPaths` and `Refs`
//! when the batch is a large part of the database (see
//! [`SCAN_BATCH_DIVISOR`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use foldhash::fast::RandomState;
use provenix_formats::hash::{Hash, HashError};
use provenix_formats::store_path::{StoreDir, StorePath, StorePathError};
use rusqlite::types::{FromSqlError, ValueRef};
use rusqlite::{Connection, OpenFlags};
use thiserror::Error;

use crate::store::Store;

/// Where a store's database lives, relative to its root (or to `/`).
pub const DB_RELATIVE_PATH: &str = "nix/var/nix/db/db.sqlite";

/// How often a call reopens and retries when the database changed under an
/// immutable read before giving up with [`DbError::KeptChanging`].
pub const MAX_READ_ATTEMPTS: u32 = 5;

/// [`NixDb::path_infos`] scans whole tables instead of looking paths up one
/// by one when the batch has more than `rows / SCAN_BATCH_DIVISOR` paths.
/// Measured on 100,000 paths: the two cost the same at about 10,000.
pub const SCAN_BATCH_DIVISOR: usize = 10;

/// Page cache per connection, in KiB (SQLite's default is 2,000): a
/// bigger one made 50,000 lookups in a 100,000-path database 1.6 times faster.
/// It fills only as pages are read.
const PAGE_CACHE_KIB: i64 = 64 * 1024;

/// How long SQLite waits for a lock held by a Nix process (only in WAL mode,
/// e.g. while Nix recovers the log).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors from reading a Nix database.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DbError {
    /// The database file (or its log) could not be inspected.
    #[error("reading Nix database {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// SQLite could not open or read the file: not SQLite, damaged, locked.
    #[error("reading Nix database {}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// An SQLite database without Nix's tables.
    #[error("{} is not a Nix database: it has no table `{table}`", path.display())]
    NotNixDb {
        /// The database file.
        path: PathBuf,
        /// The table that is missing.
        table: &'static str,
    },
    /// A row holds a value Nix would not have written.
    #[error(
        "Nix database {}: table {table}, row {row}{}, column `{column}`",
        db.display(),
        path.as_deref().map(|p| format!(" ({p})")).unwrap_or_default()
    )]
    BadRow {
        /// The database file.
        db: PathBuf,
        /// The table.
        table: &'static str,
        /// The row's rowid (`id` in `ValidPaths`).
        row: i64,
        /// The row's store path, when the row has a readable one.
        path: Option<String>,
        /// The column.
        column: &'static str,
        /// What is wrong with the value (boxed: it is big and rare).
        #[source]
        source: Box<RowProblem>,
    },
    /// The file changed under every attempt to read it.
    #[error("Nix database {} changed while being read, {attempts} times in a row", path.display())]
    KeptChanging {
        /// The database file.
        path: PathBuf,
        /// How many attempts were made.
        attempts: u32,
    },
}

/// What is wrong with a value in a [`DbError::BadRow`].
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RowProblem {
    /// Not a store path of the store directory the database was opened with.
    #[error("`{value}` is not a store path")]
    StorePath {
        /// The value as stored.
        value: String,
        /// Why it does not parse.
        #[source]
        source: StorePathError,
    },
    /// Not a hash.
    #[error("not a hash")] // the source names the text
    Hash(#[source] HashError),
    /// NULL where Nix always writes a value, a number where text belongs,
    /// text that is not UTF-8.
    #[error("unexpected value")]
    Type(#[source] FromSqlError),
    /// A negative NAR size.
    #[error("negative NAR size {0}")]
    NegativeSize(i64),
}

/// What the database records about one valid store path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PathInfo {
    /// Hash of the path's NAR serialisation (`nix-store -q --hash`).
    pub nar_hash: Hash,
    /// Size of the NAR in bytes (`nix-store -q --size`); 0 if not recorded.
    pub nar_size: u64,
    /// The derivation that produced the path (`nix-store -q --deriver`).
    pub deriver: Option<StorePath>,
    /// Paths this one refers to, sorted (`nix-store -q --references`).
    pub references: Vec<StorePath>,
    /// Content-address assertion as Nix writes it (`text:sha256:…`,
    /// `fixed:r:sha256:…`), if any.
    pub ca: Option<String>,
    /// Signatures (`name:base64`), sorted and deduplicated.
    pub signatures: Vec<String>,
    /// When the path became valid, in seconds since the Unix epoch.
    pub registration_time: i64,
    /// True if the path was built locally (Nix's "ultimately trusted").
    pub ultimate: bool,
}

/// A read-only handle on a Nix database. See the [module docs](self) for how
/// it avoids writing and stays consistent while Nix runs.
#[derive(Debug)]
pub struct NixDb {
    path: PathBuf,
    dir: StoreDir,
    // Replaced when an immutable read turns out stale. Methods never call
    // each other while holding a borrow, so `borrow`/`borrow_mut` cannot
    // conflict; the type is not `Sync`, so no other thread can either.
    inner: RefCell<Connected>,
}

/// An open connection and how it was opened.
#[derive(Debug)]
struct Connected {
    conn: Connection,
    mode: Mode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Opened the normal way, reading the WAL; always current.
    Shared,
    /// Opened `immutable=1`; valid while the main file matches this stamp
    /// and no log exists.
    Immutable(FileStamp),
}

/// What changes when a file is written or replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    fn of(path: &Path) -> Result<FileStamp, DbError> {
        let m = std::fs::metadata(path).map_err(|source| DbError::Io { path: path.to_owned(), source })?;
        Ok(FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

impl NixDb {
    /// The database of `store`: `ROOT/nix/var/nix/db/db.sqlite` with a root,
    /// else `/nix/var/nix/db/db.sqlite` (Nix's `NIX_STATE_DIR` is not read).
    pub fn default_path(store: &Store) -> PathBuf {
        store.root().unwrap_or_else(|| Path::new("/")).join(DB_RELATIVE_PATH)
    }

    /// Opens the database at `path`, whose paths live in `dir`. The file must
    /// exist and be a Nix database; nothing is created or written.
    pub fn open(path: &Path, dir: StoreDir) -> Result<NixDb, DbError> {
        let db = NixDb { path: path.to_owned(), dir, inner: RefCell::new(Connected::open(path)?) };
        db.read(|conn| check_schema(conn, path))?;
        Ok(db)
    }

    /// Opens the database of `store`, or `None` if it has none (a store
    /// copied without its `nix/var`).
    pub fn open_for(store: &Store) -> Result<Option<NixDb>, DbError> {
        let path = NixDb::default_path(store);
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(DbError::Io { path, source }),
            Ok(_) => NixDb::open(&path, store.dir().clone()).map(Some),
        }
    }

    /// Another handle on the same file, e.g. one per thread.
    pub fn try_clone(&self) -> Result<NixDb, DbError> {
        NixDb::open(&self.path, self.dir.clone())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The store directory its paths are in.
    pub fn store_dir(&self) -> &StoreDir {
        &self.dir
    }

    /// True if `path` is valid (registered) in this database.
    pub fn is_valid(&self, path: &StorePath) -> Result<bool, DbError> {
        let full = self.dir.display(path);
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT 1 FROM ValidPaths WHERE path = ?1").map_err(self.sqlite())?;
            stmt.exists([&full]).map_err(self.sqlite())
        })
    }

    /// The deriver of `path`, or `None` if it has none or is not valid
    /// (where `nix-store -q --deriver` prints `unknown-deriver`).
    pub fn deriver(&self, path: &StorePath) -> Result<Option<StorePath>, DbError> {
        let full = self.dir.display(path);
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT id, deriver FROM ValidPaths WHERE path = ?1").map_err(self.sqlite())?;
            let mut rows = stmt.query([&full]).map_err(self.sqlite())?;
            let Some(row) = rows.next().map_err(self.sqlite())? else { return Ok(None) };
            let ctx = RowCtx { db: self, table: "ValidPaths", row: column_i64(row, 0, self)?, path: Some(&full) };
            ctx.optional_path(value(row, 1, self)?, "deriver")
        })
    }

    /// What the database records about `path`, or `None` if it is not valid.
    pub fn path_info(&self, path: &StorePath) -> Result<Option<PathInfo>, DbError> {
        let mut full = String::new();
        self.read(|conn| self.lookup(conn, path, &mut full))
    }

    /// [`NixDb::path_info`] for many paths at once, in the order given, all
    /// from one snapshot of the database.
    pub fn path_infos(&self, paths: &[StorePath]) -> Result<Vec<Option<PathInfo>>, DbError> {
        self.read(|conn| {
            let rows: i64 = conn
                .query_row("SELECT coalesce(max(id), 0) FROM ValidPaths", [], |r| r.get(0))
                .map_err(self.sqlite())?;
            if paths.len() > usize::try_from(rows).unwrap_or(0) / SCAN_BATCH_DIVISOR && paths.len() > 64 {
                self.scan(conn, paths)
            } else {
                let mut full = String::new();
                paths.iter().map(|p| self.lookup(conn, p, &mut full)).collect()
            }
        })
    }

    /// The outputs Nix recorded for derivation `drv` (table
    /// `DerivationOutputs`), sorted by name; empty if `drv` is not valid.
    /// The output paths need not be valid.
    pub fn derivation_outputs(&self, drv: &StorePath) -> Result<Vec<(String, StorePath)>, DbError> {
        let full = self.dir.display(drv);
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT o.rowid, o.id, o.path FROM DerivationOutputs o JOIN ValidPaths v ON v.id = o.drv \
                     WHERE v.path = ?1 ORDER BY o.id",
                )
                .map_err(self.sqlite())?;
            let mut rows = stmt.query([&full]).map_err(self.sqlite())?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(self.sqlite())? {
                let ctx =
                    RowCtx { db: self, table: "DerivationOutputs", row: column_i64(row, 0, self)?, path: Some(&full) };
                let name = ctx.text(value(row, 1, self)?, "id")?;
                let path = ctx.store_path(value(row, 2, self)?, "path")?;
                out.push((name.to_owned(), path));
            }
            Ok(out)
        })
    }

    /// Runs `f` in a read transaction; reopens and reruns it if an immutable
    /// snapshot turned out stale (see the module docs).
    fn read<T>(&self, mut f: impl FnMut(&Connection) -> Result<T, DbError>) -> Result<T, DbError> {
        for _ in 0..MAX_READ_ATTEMPTS {
            let (result, mode) = {
                let inner = self.inner.borrow();
                let tx = inner.conn.unchecked_transaction().map_err(self.sqlite())?;
                let result = f(&inner.conn);
                // Read-only: ending the transaction either way changes nothing.
                drop(tx);
                (result, inner.mode)
            };
            let current = match mode {
                Mode::Shared => true,
                Mode::Immutable(stamp) => FileStamp::of(&self.path)? == stamp && !log_exists(&self.path)?,
            };
            if current {
                return result;
            }
            tracing::debug!(db = %self.path.display(), "Nix database changed while being read; reopening");
            *self.inner.borrow_mut() = Connected::open(&self.path)?;
        }
        Err(DbError::KeptChanging { path: self.path.clone(), attempts: MAX_READ_ATTEMPTS })
    }

    /// One path through the cached statements; `full` is a reused buffer.
    fn lookup(&self, conn: &Connection, path: &StorePath, full: &mut String) -> Result<Option<PathInfo>, DbError> {
        full.clear();
        // Writing into a String cannot fail.
        let _ = write!(full, "{}/{}", self.dir, path);
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, hash, registrationTime, deriver, narSize, ultimate, sigs, ca \
                 FROM ValidPaths WHERE path = ?1",
            )
            .map_err(self.sqlite())?;
        let mut rows = stmt.query([&*full]).map_err(self.sqlite())?;
        let Some(row) = rows.next().map_err(self.sqlite())? else { return Ok(None) };
        let id = column_i64(row, 0, self)?;
        let ctx = RowCtx { db: self, table: "ValidPaths", row: id, path: Some(full) };
        let mut info = ctx.info(row, 1)?;
        let mut refs = conn
            .prepare_cached(
                "SELECT v.id, v.path FROM Refs r JOIN ValidPaths v ON v.id = r.reference WHERE r.referrer = ?1",
            )
            .map_err(self.sqlite())?;
        let mut rows = refs.query([id]).map_err(self.sqlite())?;
        while let Some(row) = rows.next().map_err(self.sqlite())? {
            let ctx = RowCtx { db: self, table: "ValidPaths", row: column_i64(row, 0, self)?, path: None };
            let text = ctx.text(value(row, 1, self)?, "path")?;
            info.references
                .push(RowCtx { path: Some(text), ..ctx }.store_path(ValueRef::Text(text.as_bytes()), "path")?);
        }
        info.references.sort_unstable();
        Ok(Some(info))
    }

    /// Many paths by scanning `ValidPaths` and `Refs` once each.
    fn scan(&self, conn: &Connection, paths: &[StorePath]) -> Result<Vec<Option<PathInfo>>, DbError> {
        // Full text of each wanted path -> its positions in `paths`.
        let mut wanted: HashMap<String, Vec<usize>, RandomState> =
            HashMap::with_capacity_and_hasher(paths.len(), RandomState::default());
        for (i, p) in paths.iter().enumerate() {
            wanted.entry(self.dir.display(p)).or_default().push(i);
        }
        // Every row's path text, in one arena: references may point anywhere.
        let mut arena = String::new();
        let mut spans: HashMap<i64, (usize, usize), RandomState> = HashMap::default();
        // Found rows: id -> (info, positions).
        let mut found: HashMap<i64, (PathInfo, &[usize]), RandomState> = HashMap::default();
        let mut stmt = conn
            .prepare("SELECT id, path, hash, registrationTime, deriver, narSize, ultimate, sigs, ca FROM ValidPaths")
            .map_err(self.sqlite())?;
        let mut rows = stmt.query([]).map_err(self.sqlite())?;
        while let Some(row) = rows.next().map_err(self.sqlite())? {
            let id = column_i64(row, 0, self)?;
            let ctx = RowCtx { db: self, table: "ValidPaths", row: id, path: None };
            let text = ctx.text(value(row, 1, self)?, "path")?;
            spans.insert(id, (arena.len(), text.len()));
            arena.push_str(text);
            if let Some(positions) = wanted.get(text) {
                let ctx = RowCtx { path: Some(text), ..ctx };
                found.insert(id, (ctx.info(row, 2)?, positions.as_slice()));
            }
        }
        let mut parsed: HashMap<i64, StorePath, RandomState> = HashMap::default();
        let mut stmt = conn.prepare("SELECT referrer, reference FROM Refs").map_err(self.sqlite())?;
        let mut rows = stmt.query([]).map_err(self.sqlite())?;
        while let Some(row) = rows.next().map_err(self.sqlite())? {
            let Some((info, _)) = found.get_mut(&column_i64(row, 0, self)?) else { continue };
            let reference = column_i64(row, 1, self)?;
            if let Some(p) = parsed.get(&reference) {
                info.references.push(p.clone());
                continue;
            }
            // Refs without a ValidPaths row cannot exist (foreign key); Nix's
            // own lookups join and would skip one, and so does this.
            let Some(text) = spans.get(&reference).and_then(|&(start, len)| arena.get(start..start + len)) else {
                continue;
            };
            let p = RowCtx { db: self, table: "ValidPaths", row: reference, path: Some(text) }
                .store_path(ValueRef::Text(text.as_bytes()), "path")?;
            info.references.push(p.clone());
            parsed.insert(reference, p);
        }
        let mut out = vec![None; paths.len()];
        for (mut info, positions) in found.into_values() {
            info.references.sort_unstable();
            let Some((&last, repeats)) = positions.split_last() else { continue };
            for &i in repeats {
                if let Some(slot) = out.get_mut(i) {
                    *slot = Some(info.clone());
                }
            }
            if let Some(slot) = out.get_mut(last) {
                *slot = Some(info);
            }
        }
        Ok(out)
    }

    fn sqlite(&self) -> impl Fn(rusqlite::Error) -> DbError + '_ {
        |source| DbError::Sqlite { path: self.path.clone(), source }
    }
}

impl Connected {
    fn open(path: &Path) -> Result<Connected, DbError> {
        // SQLite would block opening a FIFO until something writes to it.
        crate::fs::ensure_regular(path).map_err(|source| DbError::Io { path: path.to_owned(), source })?;
        // Stamp first: a change after it, even during the open, is caught.
        let stamp = FileStamp::of(path)?;
        let mode = if log_exists(path)? { Mode::Shared } else { Mode::Immutable(stamp) };
        let uri = uri(path, mode);
        let sqlite = |source| DbError::Sqlite { path: path.to_owned(), source };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&uri, flags).map_err(sqlite)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        conn.set_prepared_statement_cache_capacity(8);
        conn.pragma_update(None, "cache_size", -PAGE_CACHE_KIB).map_err(sqlite)?;
        Ok(Connected { conn, mode })
    }
}

/// True if a `-wal` or `-journal` file sits next to the database.
fn log_exists(path: &Path) -> Result<bool, DbError> {
    for suffix in ["-wal", "-journal"] {
        let mut log = path.as_os_str().to_owned();
        log.push(suffix);
        match std::fs::symlink_metadata(&log) {
            Ok(_) => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(DbError::Io { path: log.into(), source }),
        }
    }
    Ok(false)
}

/// An SQLite `file:` URI for `path`; every byte outside a safe set is
/// percent-encoded, so `?`, `#` and `%` in names cannot become parameters.
fn uri(path: &Path, mode: Mode) -> String {
    let mut uri = String::from("file:");
    for &b in path.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'-' | b'_' | b'~') {
            uri.push(char::from(b));
        } else {
            let _ = write!(uri, "%{b:02X}");
        }
    }
    uri.push_str(match mode {
        Mode::Shared => "?mode=ro",
        Mode::Immutable(_) => "?mode=ro&immutable=1",
    });
    uri
}

fn check_schema(conn: &Connection, path: &Path) -> Result<(), DbError> {
    let sqlite = |source| DbError::Sqlite { path: path.to_owned(), source };
    let mut stmt = conn.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1").map_err(sqlite)?;
    for table in ["ValidPaths", "Refs", "DerivationOutputs"] {
        if !stmt.exists([table]).map_err(sqlite)? {
            return Err(DbError::NotNixDb { path: path.to_owned(), table });
        }
    }
    Ok(())
}

fn value<'r>(row: &'r rusqlite::Row<'_>, i: usize, db: &NixDb) -> Result<ValueRef<'r>, DbError> {
    row.get_ref(i).map_err(db.sqlite())
}

fn column_i64(row: &rusqlite::Row<'_>, i: usize, db: &NixDb) -> Result<i64, DbError> {
    row.get(i).map_err(db.sqlite())
}

/// Where a value came from, for [`DbError::BadRow`].
#[derive(Clone, Copy)]
struct RowCtx<'a> {
    db: &'a NixDb,
    table: &'static str,
    row: i64,
    path: Option<&'a str>,
}

impl RowCtx<'_> {
    fn bad(&self, column: &'static str, source: RowProblem) -> DbError {
        DbError::BadRow {
            db: self.db.path.clone(),
            table: self.table,
            row: self.row,
            path: self.path.map(str::to_owned),
            column,
            source: Box::new(source),
        }
    }

    fn text<'v>(&self, v: ValueRef<'v>, column: &'static str) -> Result<&'v str, DbError> {
        v.as_str().map_err(|e| self.bad(column, RowProblem::Type(e)))
    }

    fn optional_text<'v>(&self, v: ValueRef<'v>, column: &'static str) -> Result<Option<&'v str>, DbError> {
        v.as_str_or_null().map_err(|e| self.bad(column, RowProblem::Type(e)))
    }

    fn optional_i64(&self, v: ValueRef<'_>, column: &'static str) -> Result<Option<i64>, DbError> {
        v.as_i64_or_null().map_err(|e| self.bad(column, RowProblem::Type(e)))
    }

    fn store_path(&self, v: ValueRef<'_>, column: &'static str) -> Result<StorePath, DbError> {
        let text = self.text(v, column)?;
        self.db
            .dir
            .parse_path(text)
            .map_err(|source| self.bad(column, RowProblem::StorePath { value: text.to_owned(), source }))
    }

    fn optional_path(&self, v: ValueRef<'_>, column: &'static str) -> Result<Option<StorePath>, DbError> {
        match v {
            ValueRef::Null => Ok(None),
            v => self.store_path(v, column).map(Some),
        }
    }

    /// A [`PathInfo`] without references from the columns `hash,
    /// registrationTime, deriver, narSize, ultimate, sigs, ca` starting at `first`.
    fn info(&self, row: &rusqlite::Row<'_>, first: usize) -> Result<PathInfo, DbError> {
        let col = |i: usize| value(row, first + i, self.db);
        let hash = self.text(col(0)?, "hash")?;
        let nar_hash = Hash::parse(hash, None).map_err(|e| self.bad("hash", RowProblem::Hash(e)))?;
        let registration_time = col(1)?.as_i64().map_err(|e| self.bad("registrationTime", RowProblem::Type(e)))?;
        let deriver = self.optional_path(col(2)?, "deriver")?;
        // Nix reads a NULL size as 0.
        let nar_size = self.optional_i64(col(3)?, "narSize")?.unwrap_or(0);
        let nar_size = u64::try_from(nar_size).map_err(|_| self.bad("narSize", RowProblem::NegativeSize(nar_size)))?;
        let ultimate = self.optional_i64(col(4)?, "ultimate")? == Some(1);
        let mut signatures: Vec<String> = self
            .optional_text(col(5)?, "sigs")?
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        signatures.sort_unstable();
        signatures.dedup();
        let ca = self.optional_text(col(6)?, "ca")?.filter(|s| !s.is_empty()).map(str::to_owned);
        Ok(PathInfo {
            nar_hash,
            nar_size,
            deriver,
            references: Vec::new(),
            ca,
            signatures,
            registration_time,
            ultimate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encodes_every_byte_that_could_end_the_path_in_a_uri() {
        let stamp = FileStamp { dev: 0, ino: 0, len: 0, mtime: (0, 0), ctime: (0, 0) };
        assert_eq!(
            uri(Path::new("/a b/c?d#e%f/db.sqlite"), Mode::Shared),
            "file:/a%20b/c%3Fd%23e%25f/db.sqlite?mode=ro"
        );
        assert_eq!(uri(Path::new("/x/ä"), Mode::Immutable(stamp)), "file:/x/%C3%A4?mode=ro&immutable=1");
    }

    #[test]
    fn places_the_database_under_the_root_or_at_nix_var() {
        let rooted = Store::new(StoreDir::default(), Some(PathBuf::from("/tmp/r")));
        assert_eq!(NixDb::default_path(&rooted), PathBuf::from("/tmp/r/nix/var/nix/db/db.sqlite"));
        assert_eq!(NixDb::default_path(&Store::default()), PathBuf::from("/nix/var/nix/db/db.sqlite"));
    }

    #[test]
    fn nix_db_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<NixDb>();
    }
}
