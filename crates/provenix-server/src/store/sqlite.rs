//! The SQLite backend: one file, created on first start.
//!
//! Every connection sets WAL, `synchronous = FULL` (a batch is on disk before
//! anyone hears it was accepted), `busy_timeout` and `foreign_keys`. One
//! writer connection (the sequencer's), and a small pool of readers that WAL
//! lets run beside it. Migrations are numbered SQL files embedded in the
//! binary and applied in order, tracked by `PRAGMA user_version`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use provenix_formats::store_path::StoreDir;

use super::{
    Agreement, Batch, LogStore, OutputHit, ReportRow, StoreError, Summary, base_and_name, search_needle, to_i64,
};
use crate::verdict::Verdict;

/// The migrations, in order; the schema version is their count.
const MIGRATIONS: &[&str] = &[include_str!("migrations/0001_init.sql"), include_str!("migrations/0002_outputs.sql")];

/// The writer connection's page cache, in KiB (readers keep SQLite's default 2 MiB).
const WRITER_CACHE_KIB: i64 = 64 * 1024;

/// Readers kept open for reuse.
const MAX_IDLE_READERS: usize = 8;

/// A log in one SQLite file.
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let supported = MIGRATIONS.len() as i64;
    if version > supported {
        return Err(StoreError::NewerSchema { found: version, supported });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(version).unwrap_or(0)) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

fn row_to_report(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReportRow> {
    let hash: Vec<u8> = r.get(4)?;
    Ok(ReportRow {
        index: r.get::<_, i64>(0)? as u64,
        drv: r.get(1)?,
        output: r.get(2)?,
        path: r.get(3)?,
        nar_hash: <[u8; 32]>::try_from(hash.as_slice()).unwrap_or_default(),
        builder: r.get(5)?,
        time: r.get(6)?,
    })
}

/// Changes to the `stats` row over a batch.
#[derive(Default)]
struct Counts {
    outputs: i64,
    reproduced: i64,
    disputed: i64,
}

impl Counts {
    /// An output path's state went from `prev` (-1: new path) to `state`.
    fn change(&mut self, prev: i64, state: i64) {
        let class = |s: i64| {
            let v = verdict_of(s);
            (i64::from(v == Verdict::Reproduced), i64::from(v == Verdict::Disputed))
        };
        if prev < 0 {
            self.outputs += 1;
        }
        let (r0, d0) = if prev < 0 { (0, 0) } else { class(prev) };
        let (r1, d1) = class(state);
        self.reproduced += r1 - r0;
        self.disputed += d1 - d0;
    }
}

/// The verdict of an output path from its `state` in `outputs` (migration 0002): bit 1 set
/// once another hash was reported, bit 0 once another builder reported.
fn verdict_of(state: i64) -> Verdict {
    if state & 2 != 0 {
        Verdict::Disputed
    } else if state & 1 != 0 {
        Verdict::Reproduced
    } else {
        Verdict::Single
    }
}

/// Upper bound of the strings that start with `prefix` (store paths are ASCII).
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

const REPORT_COLUMNS: &str = "idx, drv, output, path, nar_hash, builder, time";

impl SqliteStore {
    /// Opens the log at `path`, creating the file and schema if missing.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let mut writer = open(path)?;
        // The writer's page cache holds the indexes' hot pages across batches (bounded).
        writer.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
        migrate(&mut writer)?;
        Ok(SqliteStore { path: path.to_owned(), writer: Mutex::new(writer), readers: Mutex::new(Vec::new()) })
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let pooled = self.readers.lock().map_or(None, |mut p| p.pop());
        let conn = match pooled {
            Some(c) => c,
            None => open(&self.path)?,
        };
        let out = f(&conn);
        if let Ok(mut pool) = self.readers.lock() {
            if pool.len() < MAX_IDLE_READERS {
                pool.push(conn);
            }
        }
        out
    }

    fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut conn = self.writer.lock().map_err(|_| StoreError::Corrupt("writer lock poisoned".into()))?;
        f(&mut conn)
    }
}

impl LogStore for SqliteStore {
    fn latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.read(|c| {
            Ok(c.query_row("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1", [], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
            })
            .optional()?)
        })
    }

    fn tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let index = to_i64(index)?;
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT data FROM tiles WHERE level = ?1 AND idx = ?2")?;
            Ok(st.query_row(params![level, index], |r| r.get(0)).optional()?)
        })
    }

    fn append_batch(&self, batch: &Batch) -> Result<(), StoreError> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            let stored: i64 = tx.query_row("SELECT COALESCE(MAX(size), 0) FROM checkpoints", [], |r| r.get(0))?;
            if stored as u64 != batch.first_index {
                return Err(StoreError::Corrupt(format!(
                    "batch starts at {} but the log has {stored} entries",
                    batch.first_index
                )));
            }
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO entries (idx, data, drv, output, path, nar_hash, builder, time)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                // One upsert per entry keeps the path's verdict state: no read of earlier entries.
                let mut output = tx.prepare_cached(
                    "INSERT INTO outputs (path, drv, output, name_lc, nar_hash, builder, state, prev, reports)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, -1, 1)
                     ON CONFLICT (path) DO UPDATE SET
                        prev = state,
                        state = state | ((nar_hash != excluded.nar_hash) << 1) | (builder != excluded.builder),
                        reports = reports + 1
                     RETURNING prev, state",
                )?;
                let mut dispute = tx.prepare_cached(
                    "INSERT INTO disputes (path, last_idx) VALUES (?1, ?2)
                     ON CONFLICT (path) DO UPDATE SET last_idx = excluded.last_idx",
                )?;
                let mut counts = Counts::default();
                for (i, e) in batch.entries.iter().enumerate() {
                    let idx = to_i64(batch.first_index + i as u64)?;
                    let r = &e.report;
                    let hash = r.nar_hash.as_slice();
                    insert.execute(params![idx, e.data, r.drv, r.output, r.path, hash, r.builder, r.time])?;
                    let name_lc = base_and_name(&r.path).1.to_ascii_lowercase();
                    let (prev, state): (i64, i64) = output
                        .query_row(params![r.path, r.drv, r.output, name_lc, hash, r.builder], |row| {
                            Ok((row.get(0)?, row.get(1)?))
                        })?;
                    counts.change(prev, state);
                    if state >= 2 {
                        dispute.execute(params![r.path, idx])?;
                    }
                }
                tx.prepare_cached(
                    "UPDATE stats SET outputs = outputs + ?1, reproduced = reproduced + ?2, disputed = disputed + ?3",
                )?
                .execute(params![counts.outputs, counts.reproduced, counts.disputed])?;
                let mut tile = tx.prepare_cached(
                    "INSERT INTO tiles (level, idx, data) VALUES (?1, ?2, ?3)
                     ON CONFLICT (level, idx) DO UPDATE SET data = excluded.data",
                )?;
                for t in &batch.tiles {
                    tile.execute(params![t.level, to_i64(t.index)?, t.to_bytes()])?;
                }
                tx.execute(
                    "INSERT INTO checkpoints (size, note) VALUES (?1, ?2)",
                    params![to_i64(batch.size)?, batch.checkpoint],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn entries(&self, start: u64, count: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let (start, end) = (to_i64(start)?, to_i64(start.saturating_add(count))?);
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT idx, data FROM entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx")?;
            let rows = st.query_map(params![start, end], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn reports_for(&self, path_or_drv: &str) -> Result<Vec<ReportRow>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {REPORT_COLUMNS} FROM entries WHERE path = ?1
                 UNION SELECT {REPORT_COLUMNS} FROM entries WHERE drv = ?1 ORDER BY idx"
            ))?;
            let rows = st.query_map(params![path_or_drv], row_to_report)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn builder_history(&self, builder: &str, limit: u64) -> Result<Vec<ReportRow>, StoreError> {
        let limit = to_i64(limit)?;
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {REPORT_COLUMNS} FROM entries WHERE builder = ?1 ORDER BY idx DESC LIMIT ?2"
            ))?;
            let rows = st.query_map(params![builder, limit], row_to_report)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn agreement(&self, builder: &str) -> Result<Agreement, StoreError> {
        self.read(|c| {
            let reports: i64 = c.query_row("SELECT COUNT(*) FROM entries WHERE builder = ?1", params![builder], |r| r.get(0))?;
            // Per output path this builder reported: does anyone differ, does another builder exist?
            let (agreed, disagreed): (i64, i64) = c.query_row(
                "WITH mine AS (SELECT DISTINCT path FROM entries WHERE builder = ?1),
                      per AS (SELECT m.path,
                                     (SELECT COUNT(DISTINCT nar_hash) FROM entries e WHERE e.path = m.path) AS hashes,
                                     EXISTS (SELECT 1 FROM entries e WHERE e.path = m.path AND e.builder != ?1) AS others
                              FROM mine m)
                 SELECT COALESCE(SUM(hashes = 1 AND others), 0), COALESCE(SUM(hashes > 1), 0) FROM per",
                params![builder],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok(Agreement { reports: reports as u64, agreed: agreed as u64, disagreed: disagreed as u64 })
        })
    }

    fn disputed_paths(&self, limit: u64) -> Result<Vec<String>, StoreError> {
        let limit = to_i64(limit)?;
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT path FROM disputes ORDER BY last_idx DESC LIMIT ?1")?;
            let rows = st.query_map(params![limit], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn builders(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT name, public_key FROM builders ORDER BY name")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn add_builder(&self, name: &str, public_key: &str) -> Result<(), StoreError> {
        self.write(|c| {
            let tx = c.transaction()?;
            let existing: Option<String> = tx
                .query_row("SELECT public_key FROM builders WHERE name = ?1", params![name], |r| r.get(0))
                .optional()?;
            match existing {
                Some(k) if k == public_key => {}
                Some(_) => return Err(StoreError::BuilderConflict { name: name.to_owned() }),
                None => {
                    tx.execute("INSERT INTO builders (name, public_key) VALUES (?1, ?2)", params![name, public_key])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn remove_builder(&self, name: &str) -> Result<bool, StoreError> {
        self.write(|c| Ok(c.execute("DELETE FROM builders WHERE name = ?1", params![name])? > 0))
    }

    fn summary(&self, _store_dir: &StoreDir) -> Result<Summary, StoreError> {
        self.read(|c| {
            let reports: i64 = c.query_row("SELECT COALESCE(MAX(size), 0) FROM checkpoints", [], |r| r.get(0))?;
            let (outputs, reproduced, disputed): (i64, i64, i64) =
                c.query_row("SELECT outputs, reproduced, disputed FROM stats", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
            Ok(Summary {
                reports: reports as u64,
                outputs: outputs as u64,
                reproduced: reproduced as u64,
                disputed: disputed as u64,
            })
        })
    }

    fn search(&self, store_dir: &StoreDir, needle: &str, limit: u64) -> Result<(Vec<OutputHit>, bool), StoreError> {
        let needle = search_needle(store_dir, needle);
        if needle.is_empty() {
            return Ok((Vec::new(), false));
        }
        let name = needle.to_ascii_lowercase();
        let full = format!("{}/{needle}", store_dir.as_str());
        let take = to_i64(limit.saturating_add(1))?;
        self.read(|c| {
            // Each index gives at most limit + 1 paths; their union, in path order, is cut to `limit`.
            let mut paths = std::collections::BTreeSet::<String>::new();
            for (sql, prefix) in [
                ("SELECT path FROM outputs WHERE name_lc >= ?1 AND name_lc < ?2 LIMIT ?3", &name),
                ("SELECT path FROM outputs WHERE path >= ?1 AND path < ?2 LIMIT ?3", &full),
                ("SELECT DISTINCT path FROM entries WHERE drv >= ?1 AND drv < ?2 LIMIT ?3", &full),
            ] {
                let mut st = c.prepare_cached(sql)?;
                let rows = st.query_map(params![prefix, prefix_end(prefix), take], |r| r.get::<_, String>(0))?;
                for row in rows {
                    paths.insert(row?);
                }
            }
            let more = paths.len() as u64 > limit;
            let mut st = c.prepare_cached("SELECT drv, output, state, reports FROM outputs WHERE path = ?1")?;
            let mut hits = Vec::new();
            for path in paths.into_iter().take(usize::try_from(limit).unwrap_or(usize::MAX)) {
                let (drv, output, state, reports): (String, String, i64, i64) =
                    st.query_row(params![path], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
                let verdict = verdict_of(state);
                hits.push(OutputHit { path, drv, output, reports: reports as u64, verdict });
            }
            Ok((hits, more))
        })
    }
}
