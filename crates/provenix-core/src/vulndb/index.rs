//! The SQLite index: deciding whether it is up to date, building it, and
//! the scan query. The schema is in the module documentation of
//! [`super`].

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use provenix_formats::hash::{HashAlgo, Hasher};
use rayon::prelude::*;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::filter;
use super::input::{InputFile, Listing, read_documents, walk};
use super::parse::{FileOutcome, parse_file};
use super::rules::{Prepared, Present, RuleSet};
use super::{Advisory, Hit, IndexStats, MAX_EXAMPLES, SCHEMA_VERSION, Source, Target, VulnDbError};
use crate::verify::Progress;

/// Files parsed in parallel at a time: at most this many bytes...
const BATCH_BYTES: u64 = 256 << 20;
/// ...and this many files.
const BATCH_FILES: usize = 256;

const SCHEMA: &str = "
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE advisories(id INTEGER PRIMARY KEY, source TEXT NOT NULL, name TEXT NOT NULL,
  modified TEXT NOT NULL, advisory TEXT NOT NULL);
CREATE TABLE rules(advisory INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE keys(key TEXT NOT NULL, vendor TEXT NOT NULL, advisory INTEGER NOT NULL,
  filter TEXT NOT NULL, PRIMARY KEY(key, vendor, advisory)) WITHOUT ROWID;
";

fn io(path: &Path) -> impl Fn(std::io::Error) -> VulnDbError + '_ {
    move |source| VulnDbError::Io { path: path.to_owned(), source }
}

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> VulnDbError + '_ {
    move |source| VulnDbError::Index { path: path.to_owned(), source }
}

/// The hash of what the index was built from: the data files (path, size, modification time)
/// and the names of the files skipped, which the index's statistics list.
fn fingerprint(listing: &Listing) -> String {
    let mut hasher = Hasher::new(HashAlgo::Sha256);
    hasher.update(format!("provenix vulndb {SCHEMA_VERSION}\n").as_bytes());
    for f in &listing.files {
        hasher.update(format!("{}\0{}\0{}\n", f.rel, f.size, f.mtime_ns).as_bytes());
    }
    for rel in &listing.skipped {
        hasher.update(format!("skipped\0{rel}\n").as_bytes());
    }
    hasher.finish().to_base16()
}

fn meta_value(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()
}

fn open_read_only(index: &Path) -> Result<Connection, VulnDbError> {
    // SQLite would block opening a FIFO until something writes to it.
    provenix_store::fs::ensure_regular(index).map_err(io(index))?;
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    Connection::open_with_flags(index, flags).map_err(sql(index))
}

/// The existing index when it is a current one for `fingerprint`; `None`
/// when it is missing or stale. A file there that is not an index is an
/// error rather than something to overwrite.
fn reuse(index: &Path, fingerprint: &str) -> Result<Option<(Connection, IndexStats)>, VulnDbError> {
    if !index.exists() {
        return Ok(None);
    }
    let conn = open_read_only(index)?;
    let schema = match meta_value(&conn, "schema") {
        Ok(Some(s)) => s,
        Ok(None) | Err(_) => {
            return Err(VulnDbError::NotAnIndex { path: index.to_owned() });
        }
    };
    if schema != SCHEMA_VERSION.to_string()
        || meta_value(&conn, "fingerprint").map_err(sql(index))?.as_deref() != Some(fingerprint)
    {
        return Ok(None);
    }
    let stats = meta_value(&conn, "stats").map_err(sql(index))?.unwrap_or_default();
    let stats: IndexStats = serde_json::from_str(&stats).map_err(|source| VulnDbError::Corrupt {
        path: index.to_owned(),
        row: 0,
        what: "stats",
        source,
    })?;
    Ok(Some((conn, stats)))
}

/// Opens the index of `dir`, building it first when it is missing or stale.
pub(super) fn open_or_build(
    dir: &Path,
    index: &Path,
    progress: &dyn Progress,
) -> Result<(Connection, IndexStats), VulnDbError> {
    let listing = walk(dir, index)?;
    let fingerprint = fingerprint(&listing);
    if let Some((conn, mut stats)) = reuse(index, &fingerprint)? {
        stats.reused = true;
        return Ok((conn, stats));
    }
    let stats = build(index, &listing, &fingerprint, progress)?;
    Ok((open_read_only(index)?, stats))
}

/// The advisory kept for one (source, id) so far.
struct Kept {
    modified: String,
    row: i64,
}

/// The state of one build.
struct Builder<'c> {
    stats: IndexStats,
    kept: HashMap<(Source, String), Kept>,
    keys: Vec<(String, String, i64, String)>,
    dead: HashSet<i64>,
    next_row: i64,
    insert_advisory: rusqlite::Statement<'c>,
    insert_rules: rusqlite::Statement<'c>,
}

impl Builder<'_> {
    fn add(&mut self, file: &str, outcome: FileOutcome) -> Result<(), rusqlite::Error> {
        self.stats.rejected += outcome.rejected;
        self.stats.withdrawn += outcome.withdrawn;
        for (reason, detail) in outcome.skipped {
            *self.stats.skipped.entry(reason.to_owned()).or_default() += 1;
            if self.stats.examples.len() < MAX_EXAMPLES {
                self.stats.examples.push(format!("{file}: {detail} ({reason})"));
            }
        }
        for parsed in outcome.records {
            if !parsed.modified.is_empty()
                && self.stats.newest.as_deref().is_none_or(|newest| is_older(newest, &parsed.modified))
            {
                self.stats.newest = Some(parsed.modified.clone());
            }
            let id = (parsed.advisory.source, parsed.advisory.id.clone());
            if let Some(old) = self.kept.get(&id) {
                self.stats.duplicates += 1;
                if is_older(&parsed.modified, &old.modified) {
                    continue;
                }
                self.dead.insert(old.row);
            }
            let row = self.next_row;
            self.next_row += 1;
            let advisory = serde_json::to_string(&parsed.advisory).map_err(to_sql)?;
            let rules = serde_json::to_string(&parsed.rules).map_err(to_sql)?;
            self.insert_advisory.execute(params![
                row,
                parsed.advisory.source.as_str(),
                parsed.advisory.id,
                parsed.modified,
                advisory
            ])?;
            self.insert_rules.execute(params![row, rules])?;
            for (key, vendor, filter) in parsed.rules.keys() {
                self.keys.push((key, vendor, row, filter));
            }
            self.kept.insert(id, Kept { modified: parsed.modified, row });
        }
        Ok(())
    }
}

/// True when the modification time `a` is before `b`, compared as instants
/// (RFC 3339 with any offset; NVD writes none and means UTC) with their
/// fractions of a second, so only an exact tie keeps the later file. Text
/// that is no timestamp compares as text.
fn is_older(a: &str, b: &str) -> bool {
    use crate::sbom::Timestamp;
    fn instant(s: &str) -> Option<(Timestamp, String)> {
        let utc;
        let parsed = match Timestamp::parse_precise(s) {
            Ok(parsed) => parsed,
            Err(_) => {
                utc = format!("{s}Z");
                Timestamp::parse_precise(&utc).ok()?
            }
        };
        Some((parsed.0, parsed.1.to_owned()))
    }
    match (instant(a), instant(b)) {
        (Some(x), Some(y)) => x < y,
        _ => a < b,
    }
}

fn to_sql(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

fn build(
    index: &Path,
    listing: &Listing,
    fingerprint: &str,
    progress: &dyn Progress,
) -> Result<IndexStats, VulnDbError> {
    let parent = match index.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io(&parent))?;
    let temp = tempfile::Builder::new().prefix(".vulndb-").suffix(".tmp").tempfile_in(&parent).map_err(io(&parent))?;
    let temp_path = temp.path().to_owned();
    let _cleanup = provenix_store::cleanup::register(&temp_path, provenix_store::cleanup::Kind::File);
    let stats = {
        let mut conn = Connection::open(&temp_path).map_err(sql(&temp_path))?;
        let stats = write(&mut conn, listing, fingerprint, progress, &temp_path)?;
        conn.close().map_err(|(_, e)| sql(&temp_path)(e))?;
        stats
    };
    temp.as_file().sync_all().map_err(io(&temp_path))?;
    temp.persist(index).map_err(|e| VulnDbError::Io { path: index.to_owned(), source: e.error })?;
    Ok(stats)
}

fn write(
    conn: &mut Connection,
    listing: &Listing,
    fingerprint: &str,
    progress: &dyn Progress,
    path: &Path,
) -> Result<IndexStats, VulnDbError> {
    conn.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -65536;")
        .map_err(sql(path))?;
    conn.execute_batch(SCHEMA).map_err(sql(path))?;
    let tx = conn.transaction().map_err(sql(path))?;
    let total: u64 = listing.files.iter().map(|f| f.size).sum();
    progress.begin("indexing vulnerability data", total, true);
    let result = write_files(&tx, &listing.files, progress, path);
    progress.end();
    let mut stats = result?;
    stats.files = listing.files.len();
    stats.skipped_files.extend(listing.skipped.iter().cloned());
    stats.skipped_files.sort();
    stats.reused = false;
    let stats_json = serde_json::to_string(&stats).map_err(|e| sql(path)(to_sql(e)))?;
    {
        let mut meta = tx.prepare("INSERT INTO meta(key, value) VALUES (?1, ?2)").map_err(sql(path))?;
        for (key, value) in
            [("schema", SCHEMA_VERSION.to_string()), ("fingerprint", fingerprint.to_owned()), ("stats", stats_json)]
        {
            meta.execute(params![key, value]).map_err(sql(path))?;
        }
    }
    tx.commit().map_err(sql(path))?;
    Ok(stats)
}

fn write_files(
    tx: &rusqlite::Transaction<'_>,
    files: &[InputFile],
    progress: &dyn Progress,
    path: &Path,
) -> Result<IndexStats, VulnDbError> {
    let mut builder = Builder {
        stats: IndexStats::default(),
        kept: HashMap::new(),
        keys: Vec::new(),
        dead: HashSet::new(),
        next_row: 1,
        insert_advisory: tx
            .prepare("INSERT INTO advisories(id, source, name, modified, advisory) VALUES (?1, ?2, ?3, ?4, ?5)")
            .map_err(sql(path))?,
        insert_rules: tx.prepare("INSERT INTO rules(advisory, body) VALUES (?1, ?2)").map_err(sql(path))?,
    };
    let mut skipped = Vec::new();
    let mut start = 0;
    while start < files.len() {
        let mut end = start;
        let mut bytes = 0u64;
        while end < files.len() && end - start < BATCH_FILES && (end == start || bytes < BATCH_BYTES) {
            bytes += files.get(end).map_or(0, |f| f.size);
            end += 1;
        }
        let batch = files.get(start..end).unwrap_or_default();
        // Plain and gzipped files are read and parsed in parallel, one per task; a zip archive
        // is read in order by one task and its members parsed in parallel, batch by batch.
        type Parsed = Result<(Vec<(String, FileOutcome)>, Vec<String>), VulnDbError>;
        let outcomes: Vec<Parsed> = batch
            .par_iter()
            .map(|f| {
                let mut parsed = Vec::new();
                let mut skipped = Vec::new();
                read_documents(f, BATCH_BYTES, &mut skipped, &mut |docs| {
                    let outcomes: Vec<Result<(String, FileOutcome), VulnDbError>> = docs
                        .into_par_iter()
                        .map(|(rel, bytes)| parse_file(&rel, &bytes, None).map(|o| (rel, o)))
                        .collect();
                    for outcome in outcomes {
                        parsed.push(outcome?);
                    }
                    Ok(())
                })?;
                progress.advance(f.size);
                Ok((parsed, skipped))
            })
            .collect();
        for outcome in outcomes {
            let (parsed, mut names) = outcome?;
            for (rel, outcome) in parsed {
                builder.add(&rel, outcome).map_err(sql(path))?;
            }
            skipped.append(&mut names);
        }
        start = end;
    }
    let Builder { mut stats, mut keys, dead, kept, .. } = builder;
    drop(kept);
    stats.skipped_files = skipped;
    keys.retain(|(_, _, row, _)| !dead.contains(row));
    keys.sort();
    keys.dedup_by(|a, b| (&a.0, &a.1, a.2) == (&b.0, &b.1, b.2));
    {
        let mut insert =
            tx.prepare("INSERT INTO keys(key, vendor, advisory, filter) VALUES (?1, ?2, ?3, ?4)").map_err(sql(path))?;
        for (key, vendor, row, filter) in &keys {
            insert.execute(params![key, vendor, row, filter]).map_err(sql(path))?;
        }
    }
    for row in &dead {
        tx.execute("DELETE FROM advisories WHERE id = ?1", [row]).map_err(sql(path))?;
        tx.execute("DELETE FROM rules WHERE advisory = ?1", [row]).map_err(sql(path))?;
    }
    let mut count = tx.prepare("SELECT source, count(*) FROM advisories GROUP BY source").map_err(sql(path))?;
    let rows = count
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .map_err(sql(path))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql(path))?;
    for (source, n) in rows {
        let n = usize::try_from(n).unwrap_or_default();
        match source.as_str() {
            "nvd" => stats.nvd = n,
            "cve5" => stats.cve5 = n,
            _ => stats.osv = n,
        }
        stats.advisories += n;
    }
    Ok(stats)
}

/// A hit before its advisory is read: advisory row, target, rule, fixed version, fixing commit.
type Found = (i64, u32, super::MatchRule, Option<String>, Option<String>);

/// See [`super::VulnDb::scan`].
pub(super) fn scan(
    conn: &Connection,
    path: &Path,
    targets: &[Target],
    present: &HashSet<(String, String)>,
) -> Result<Vec<Hit>, VulnDbError> {
    let prepared: Vec<Prepared<'_>> = targets.par_iter().map(Prepared::new).collect();
    let present = Present::new(present);
    let mut by_key: HashMap<String, Vec<u32>> = HashMap::new();
    for (i, p) in prepared.iter().enumerate() {
        let Ok(i) = u32::try_from(i) else { break };
        for key in p.keys() {
            let list = by_key.entry(key).or_default();
            if list.last() != Some(&i) {
                list.push(i);
            }
        }
    }
    if by_key.is_empty() {
        return Ok(Vec::new());
    }
    let mut keys: Vec<(String, Vec<u32>)> = by_key.into_iter().collect();
    keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let keys_json =
        serde_json::to_string(&keys.iter().map(|(k, _)| k).collect::<Vec<_>>()).map_err(|e| sql(path)(to_sql(e)))?;

    // 1. Key rows whose vendor and version filter admit a target: (advisory, target).
    let mut pairs: Vec<(i64, u32)> = Vec::new();
    {
        let mut stmt = conn
            .prepare_cached(
                "SELECT q.key, k.vendor, k.advisory, k.filter FROM json_each(?1) AS q \
                 CROSS JOIN keys AS k ON k.key = q.value",
            )
            .map_err(sql(path))?;
        let mut rows = stmt.query([keys_json]).map_err(sql(path))?;
        while let Some(row) = rows.next().map_err(sql(path))? {
            let index: i64 = row.get(0).map_err(sql(path))?;
            let Some((key, wanting)) = usize::try_from(index).ok().and_then(|i| keys.get(i)) else { continue };
            let vendor = row.get_ref(1).and_then(|v| Ok(v.as_str()?)).map_err(sql(path))?;
            let advisory: i64 = row.get(2).map_err(sql(path))?;
            let filter = row.get_ref(3).and_then(|v| Ok(v.as_str()?)).map_err(sql(path))?;
            for &t in wanting {
                let Some(target) = prepared.get(t as usize) else { continue };
                if target.wants(key, vendor) && filter::passes(filter, target.version()) {
                    pairs.push((advisory, t));
                }
            }
        }
    }
    pairs.sort_unstable();
    pairs.dedup();

    // 2. The rules of each candidate advisory, decoded once, evaluated in parallel.
    let mut groups: Vec<(i64, Vec<u32>)> = Vec::new();
    for (advisory, target) in pairs {
        match groups.last_mut() {
            Some((a, list)) if *a == advisory => list.push(target),
            _ => groups.push((advisory, vec![target])),
        }
    }
    let rows_json =
        serde_json::to_string(&groups.iter().map(|(a, _)| a).collect::<Vec<_>>()).map_err(|e| sql(path)(to_sql(e)))?;
    let mut bodies: HashMap<i64, String> = HashMap::with_capacity(groups.len());
    {
        let mut stmt = conn
            .prepare_cached(
                "SELECT r.advisory, r.body FROM json_each(?1) AS q CROSS JOIN rules AS r ON r.advisory = q.value",
            )
            .map_err(sql(path))?;
        let mut rows = stmt.query([rows_json]).map_err(sql(path))?;
        while let Some(row) = rows.next().map_err(sql(path))? {
            bodies.insert(row.get(0).map_err(sql(path))?, row.get(1).map_err(sql(path))?);
        }
    }
    let evaluated: Vec<Result<Vec<Found>, VulnDbError>> = groups
        .par_iter()
        .map(|(row, wanting)| {
            let body = bodies.get(row).map_or("", String::as_str);
            let rules: RuleSet = serde_json::from_str(body).map_err(|source| VulnDbError::Corrupt {
                path: path.to_owned(),
                row: *row,
                what: "rules",
                source,
            })?;
            Ok(wanting
                .iter()
                .filter_map(|&t| {
                    let target = prepared.get(t as usize)?;
                    let ((rule, fixed), fixed_commit) = rules.evaluate(target, &present)?;
                    Some((*row, t, rule, fixed, fixed_commit))
                })
                .collect())
        })
        .collect();

    // 3. The advisory of each hit, decoded once.
    let mut advisories: HashMap<i64, Arc<Advisory>> = HashMap::new();
    let mut hits = Vec::new();
    let mut stmt = conn.prepare_cached("SELECT advisory FROM advisories WHERE id = ?1").map_err(sql(path))?;
    for found in evaluated {
        for (row, target, rule, fixed, fixed_commit) in found? {
            let advisory =
                match advisories.get(&row) {
                    Some(a) => Arc::clone(a),
                    None => {
                        let json: String = stmt.query_row([row], |r| r.get(0)).map_err(sql(path))?;
                        let advisory: Advisory = serde_json::from_str(&json).map_err(|source| {
                            VulnDbError::Corrupt { path: path.to_owned(), row, what: "advisory", source }
                        })?;
                        let advisory = Arc::new(advisory);
                        advisories.insert(row, Arc::clone(&advisory));
                        advisory
                    }
                };
            hits.push(Hit { target: target as usize, advisory, rule, fixed, fixed_commit });
        }
    }
    hits.sort_by(|a, b| {
        (a.target, &a.advisory.id, a.advisory.source).cmp(&(b.target, &b.advisory.id, b.advisory.source))
    });
    Ok(hits)
}
