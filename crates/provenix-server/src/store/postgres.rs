//! The PostgreSQL backend: several server processes on one database, one
//! sequencer at a time.
//!
//! The trait is synchronous and the server calls it from `spawn_blocking`,
//! where a client with its own runtime (the `postgres` crate) would panic
//! when it is dropped or blocks inside tokio. So this store owns a small
//! tokio runtime of its own that drives `tokio-postgres` connections; each
//! call spawns its query there and waits on a plain channel, which works
//! from any thread, in or out of a runtime, and dropping the store shuts that
//! runtime down in the background.
//!
//! Connections: one writer (the sequencer's transactions) and at most
//! `MAX_READERS` readers, each caching its prepared statements; reads
//! beyond that wait for a free reader rather than exhaust the database's
//! `max_connections`. A batch is one
//! transaction: the stored size is checked against the batch's first index,
//! then entries (one `unnest` insert), disputes, changed tiles and the
//! checkpoint are written, so a crash or a failed statement leaves none of it.
//!
//! One sequencer per database: the process that sequences holds the
//! session-level advisory lock [`SEQUENCER_LOCK`] on its writer connection,
//! taken when the store opens or, if another process held it then, retried
//! at each batch. A process without the lock refuses batches with
//! [`StoreError::NotSequencer`] (the server answers its submitters 503) and
//! serves reads; when the sequencer's session ends, whichever process next
//! gets a batch takes over. Correctness does not rest on the lock: the size
//! check and the primary keys refuse a batch that would fork the log.
//!
//! Migrations are numbered SQL files (`migrations/postgres/`) applied in
//! order under a transaction-level advisory lock, tracked in the one-row
//! table `provenix_schema`; a newer version is refused.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

use super::{Agreement, Batch, LogStore, ReportRow, StoreError, to_i64};

/// The migrations, in order; the schema version is their count.
const MIGRATIONS: &[&str] = &[include_str!("migrations/postgres/0001_init.sql")];

/// Key of the session-level advisory lock the sequencing process holds ("provenix" in ASCII).
pub const SEQUENCER_LOCK: i64 = 0x7072_6f76_656e_6978;

/// Key of the transaction-level advisory lock that serialises migrations.
const MIGRATION_LOCK: i64 = SEQUENCER_LOCK + 1;

/// Reader connections of one process, in use or idle: with the writer, a
/// process never holds more than `MAX_READERS + 1` of the database's connections.
const MAX_READERS: usize = 8;

/// Threads of the store's own runtime (it only moves bytes between sockets and callers).
const RUNTIME_THREADS: usize = 2;

/// A log in a PostgreSQL database.
pub struct PostgresStore {
    runtime: Option<Runtime>,
    handle: Handle,
    shared: Arc<Shared>,
}

struct Shared {
    config: Config,
    writer: tokio::sync::Mutex<Option<Conn>>,
    readers: StdMutex<Vec<Conn>>,
    /// One permit per reader connection; a read waits for one.
    reader_slots: tokio::sync::Semaphore,
    sequencer: AtomicBool,
}

/// A connection and its prepared statements.
struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

impl Conn {
    async fn connect(config: &Config) -> Result<Conn, StoreError> {
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %crate::error::chain(&e), "PostgreSQL connection closed");
            }
        });
        Ok(Conn { client, statements: HashMap::new() })
    }

    async fn statement(&mut self, sql: &'static str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).await?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    async fn query(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, StoreError> {
        let st = self.statement(sql).await?;
        Ok(self.client.query(&st, params).await?)
    }
}

fn to_u64(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("stored value {v} is negative")))
}

const REPORTS_FOR: &str = "SELECT idx, drv, output, path, nar_hash, builder, time FROM entries WHERE path = $1
     UNION SELECT idx, drv, output, path, nar_hash, builder, time FROM entries WHERE drv = $1 ORDER BY idx";
const BUILDER_HISTORY: &str = "SELECT idx, drv, output, path, nar_hash, builder, time FROM entries
     WHERE builder = $1 ORDER BY idx DESC LIMIT $2";
const AGREEMENT: &str = "WITH mine AS (SELECT DISTINCT path FROM entries WHERE builder = $1),
          per AS (SELECT m.path,
                         (SELECT COUNT(DISTINCT nar_hash) FROM entries e WHERE e.path = m.path) AS hashes,
                         EXISTS (SELECT 1 FROM entries e WHERE e.path = m.path AND e.builder <> $1) AS others
                  FROM mine m)
     SELECT (SELECT COUNT(*) FROM entries WHERE builder = $1),
            COUNT(*) FILTER (WHERE hashes = 1 AND others),
            COUNT(*) FILTER (WHERE hashes > 1)
     FROM per";
const INSERT_ENTRIES: &str = "INSERT INTO entries (idx, data, drv, output, path, nar_hash, builder, time)
     SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::text[],
                          $8::text[])";
// A path of the batch is disputed once its entries hold two hashes; its last
// entry is then the dispute's latest (the rule SQLite applies entry by entry).
// The `<>` keeps the check a per-path index lookup (`entries_path`) rather
// than a hash join over the whole log.
const MARK_DISPUTES: &str = "INSERT INTO disputes (path, last_idx)
     SELECT b.path, b.last
     FROM (SELECT path, MAX(idx) AS last FROM entries WHERE idx >= $1 GROUP BY path) b
     JOIN entries l ON l.idx = b.last
     WHERE EXISTS (SELECT 1 FROM disputes d WHERE d.path = b.path)
        OR EXISTS (SELECT 1 FROM entries f WHERE f.path = b.path AND f.nar_hash <> l.nar_hash)
     ON CONFLICT (path) DO UPDATE SET last_idx = excluded.last_idx";
const UPSERT_TILES: &str = "INSERT INTO tiles (level, idx, data)
     SELECT * FROM unnest($1::integer[], $2::bigint[], $3::bytea[])
     ON CONFLICT (level, idx) DO UPDATE SET data = excluded.data";

fn row_to_report(r: &Row) -> Result<ReportRow, StoreError> {
    let index = to_u64(r.try_get(0)?)?;
    let hash: Vec<u8> = r.try_get(4)?;
    let nar_hash = <[u8; 32]>::try_from(hash.as_slice())
        .map_err(|_| StoreError::Corrupt(format!("entry {index}: the NAR hash is {} bytes, not 32", hash.len())))?;
    Ok(ReportRow {
        index,
        drv: r.try_get(1)?,
        output: r.try_get(2)?,
        path: r.try_get(3)?,
        nar_hash,
        builder: r.try_get(5)?,
        time: r.try_get(6)?,
    })
}

async fn migrate(conn: &mut Conn) -> Result<(), StoreError> {
    let tx = conn.client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS provenix_schema (version integer NOT NULL)").await?;
    let version: i32 = match tx.query_opt("SELECT version FROM provenix_schema", &[]).await? {
        Some(row) => row.try_get(0)?,
        None => {
            tx.execute("INSERT INTO provenix_schema (version) VALUES (0)", &[]).await?;
            0
        }
    };
    let supported = MIGRATIONS.len() as i32;
    if version > supported {
        return Err(StoreError::NewerSchema { found: version.into(), supported: supported.into() });
    }
    for sql in MIGRATIONS.iter().skip(usize::try_from(version).unwrap_or(0)) {
        tx.batch_execute(sql).await?;
    }
    tx.execute("UPDATE provenix_schema SET version = $1", &[&supported]).await?;
    tx.commit().await?;
    Ok(())
}

impl Shared {
    /// The writer connection, reconnected if it dropped (which also lost the lock).
    async fn writer<'a>(&self, slot: &'a mut Option<Conn>) -> Result<&'a mut Conn, StoreError> {
        let alive = slot.as_ref().is_some_and(|c| !c.client.is_closed());
        if !alive {
            if self.sequencer.swap(false, Ordering::SeqCst) {
                tracing::warn!("the PostgreSQL writer connection dropped; the sequencer lock went with it");
            }
            *slot = None;
            return Ok(slot.insert(Conn::connect(&self.config).await?));
        }
        slot.as_mut().ok_or(StoreError::Corrupt("writer connection missing".into()))
    }

    /// Takes the sequencer lock if this process does not hold it; returns whether it does now.
    async fn try_lock(&self, conn: &mut Conn) -> Result<bool, StoreError> {
        if self.sequencer.load(Ordering::SeqCst) {
            return Ok(true);
        }
        let got: bool =
            conn.client.query_one("SELECT pg_try_advisory_lock($1)", &[&SEQUENCER_LOCK]).await?.try_get(0)?;
        if got {
            self.sequencer.store(true, Ordering::SeqCst);
            tracing::info!("this process holds the sequencer lock of the PostgreSQL log");
        }
        Ok(got)
    }

    async fn reader(&self) -> Result<Conn, StoreError> {
        loop {
            let pooled = self.readers.lock().map_or(None, |mut p| p.pop());
            match pooled {
                Some(c) if c.client.is_closed() => continue,
                Some(c) => return Ok(c),
                None => return Conn::connect(&self.config).await,
            }
        }
    }

    fn give_back(&self, conn: Conn) {
        if conn.client.is_closed() {
            return;
        }
        if let Ok(mut pool) = self.readers.lock() {
            if pool.len() < MAX_READERS {
                pool.push(conn);
            }
        }
    }
}

/// Runs one read on a pooled reader connection.
macro_rules! read {
    ($self:ident, |$c:ident| $body:expr) => {
        $self.run(move |s| async move {
            let _slot = s
                .reader_slots
                .acquire()
                .await
                .map_err(|_| StoreError::Runtime(std::io::Error::other("the reader pool closed")))?;
            let mut $c = s.reader().await?;
            let out: Result<_, StoreError> = async { $body }.await;
            s.give_back($c);
            out
        })
    };
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`),
    /// creates or migrates the schema, and tries to take the sequencer lock.
    pub fn open(url: &str) -> Result<PostgresStore, StoreError> {
        let mut config: Config = url.parse()?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name("provenix serve");
        // JIT compilation costs more than these short queries ever take.
        if config.get_options().is_none() {
            config.options("-c jit=off");
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_THREADS)
            .thread_name("provenix-postgres")
            .enable_all()
            .build()
            .map_err(StoreError::Runtime)?;
        let handle = runtime.handle().clone();
        let shared = Arc::new(Shared {
            config,
            writer: tokio::sync::Mutex::new(None),
            readers: StdMutex::new(Vec::new()),
            reader_slots: tokio::sync::Semaphore::new(MAX_READERS),
            sequencer: AtomicBool::new(false),
        });
        let store = PostgresStore { runtime: Some(runtime), handle, shared };
        store.run(|s| async move {
            let mut slot = s.writer.lock().await;
            let conn = s.writer(&mut slot).await?;
            migrate(conn).await?;
            s.try_lock(conn).await?;
            Ok(())
        })?;
        Ok(store)
    }

    /// Whether this process holds the sequencer lock (as of its last try).
    pub fn is_sequencer(&self) -> bool {
        self.shared.sequencer.load(Ordering::SeqCst)
    }

    /// The database's size on disk, in bytes (`pg_database_size`).
    pub fn database_size(&self) -> Result<u64, StoreError> {
        read!(self, |c| {
            let rows = c.query("SELECT pg_database_size(current_database())", &[]).await?;
            let size: i64 = rows.first().ok_or(StoreError::Corrupt("no size".into()))?.try_get(0)?;
            to_u64(size)
        })
    }

    /// Spawns `f` on the store's runtime and waits for it on a plain channel.
    fn run<T, F>(&self, f: impl FnOnce(Arc<Shared>) -> F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let fut = f(self.shared.clone());
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().map_err(|_| StoreError::Runtime(std::io::Error::other("the PostgreSQL task stopped")))?
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Blocking shutdown panics inside another runtime; this one needs no draining.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl LogStore for PostgresStore {
    fn latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        read!(self, |c| {
            let rows = c.query("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1", &[]).await?;
            match rows.first() {
                Some(r) => Ok(Some((to_u64(r.try_get(0)?)?, r.try_get(1)?))),
                None => Ok(None),
            }
        })
    }

    fn tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let (level, index) = (i32::from(level), to_i64(index)?);
        read!(self, |c| {
            let rows = c.query("SELECT data FROM tiles WHERE level = $1 AND idx = $2", &[&level, &index]).await?;
            Ok(match rows.first() {
                Some(r) => Some(r.try_get(0)?),
                None => None,
            })
        })
    }

    fn append_batch(&self, batch: &Batch) -> Result<(), StoreError> {
        let first = to_i64(batch.first_index)?;
        let size = to_i64(batch.size)?;
        let n = batch.entries.len();
        let (mut idx, mut data, mut drv, mut output) =
            (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut path, mut hash, mut builder, mut time) =
            (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        for (i, e) in batch.entries.iter().enumerate() {
            let r = &e.report;
            idx.push(to_i64(batch.first_index + i as u64)?);
            data.push(e.data.clone());
            drv.push(r.drv.clone());
            output.push(r.output.clone());
            path.push(r.path.clone());
            hash.push(r.nar_hash.to_vec());
            builder.push(r.builder.clone());
            time.push(r.time.clone());
        }
        let tile_levels: Vec<i32> = batch.tiles.iter().map(|t| i32::from(t.level)).collect();
        let tile_idx = batch.tiles.iter().map(|t| to_i64(t.index)).collect::<Result<Vec<i64>, _>>()?;
        let tile_data: Vec<Vec<u8>> = batch.tiles.iter().map(|t| t.to_bytes()).collect();
        let checkpoint = batch.checkpoint.clone();
        // The empty log's first checkpoint, written at start: a process that
        // is not the sequencer leaves it to the one that is.
        let empty_start = n == 0 && first == 0 && size == 0;
        self.run(move |s| async move {
            let mut slot = s.writer.lock().await;
            let conn = s.writer(&mut slot).await?;
            if !s.try_lock(conn).await? {
                return if empty_start { Ok(()) } else { Err(StoreError::NotSequencer) };
            }
            let insert_entries = conn.statement(INSERT_ENTRIES).await?;
            let mark_disputes = conn.statement(MARK_DISPUTES).await?;
            let upsert_tiles = conn.statement(UPSERT_TILES).await?;
            let tx = conn.client.transaction().await?;
            let stored: i64 = tx.query_one("SELECT COALESCE(MAX(size), 0) FROM checkpoints", &[]).await?.try_get(0)?;
            if stored != first {
                return Err(StoreError::Corrupt(format!("batch starts at {first} but the log has {stored} entries")));
            }
            if n > 0 {
                tx.execute(&insert_entries, &[&idx, &data, &drv, &output, &path, &hash, &builder, &time]).await?;
                tx.execute(&mark_disputes, &[&first]).await?;
            }
            if !tile_idx.is_empty() {
                tx.execute(&upsert_tiles, &[&tile_levels, &tile_idx, &tile_data]).await?;
            }
            tx.execute("INSERT INTO checkpoints (size, note) VALUES ($1, $2)", &[&size, &checkpoint]).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn entries(&self, start: u64, count: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let (start, end) = (to_i64(start)?, to_i64(start.saturating_add(count))?);
        read!(self, |c| {
            let rows = c
                .query("SELECT idx, data FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx", &[&start, &end])
                .await?;
            rows.iter().map(|r| Ok((to_u64(r.try_get(0)?)?, r.try_get(1)?))).collect()
        })
    }

    fn reports_for(&self, path_or_drv: &str) -> Result<Vec<ReportRow>, StoreError> {
        let key = path_or_drv.to_owned();
        read!(self, |c| c.query(REPORTS_FOR, &[&key]).await?.iter().map(row_to_report).collect())
    }

    fn builder_history(&self, builder: &str, limit: u64) -> Result<Vec<ReportRow>, StoreError> {
        let (builder, limit) = (builder.to_owned(), to_i64(limit)?);
        read!(self, |c| c.query(BUILDER_HISTORY, &[&builder, &limit]).await?.iter().map(row_to_report).collect())
    }

    fn agreement(&self, builder: &str) -> Result<Agreement, StoreError> {
        let builder = builder.to_owned();
        read!(self, |c| {
            let rows = c.query(AGREEMENT, &[&builder]).await?;
            let r = rows.first().ok_or(StoreError::Corrupt("agreement query returned no row".into()))?;
            Ok(Agreement {
                reports: to_u64(r.try_get(0)?)?,
                agreed: to_u64(r.try_get(1)?)?,
                disagreed: to_u64(r.try_get(2)?)?,
            })
        })
    }

    fn disputed_paths(&self, limit: u64) -> Result<Vec<String>, StoreError> {
        let limit = to_i64(limit)?;
        read!(self, |c| {
            let rows = c.query("SELECT path FROM disputes ORDER BY last_idx DESC LIMIT $1", &[&limit]).await?;
            rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
        })
    }

    fn builders(&self) -> Result<Vec<(String, String)>, StoreError> {
        read!(self, |c| {
            // Byte order, as SQLite sorts, whatever the database's locale.
            let rows = c.query("SELECT name, public_key FROM builders ORDER BY name COLLATE \"C\"", &[]).await?;
            rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
        })
    }

    fn add_builder(&self, name: &str, public_key: &str) -> Result<(), StoreError> {
        let (name, key) = (name.to_owned(), public_key.to_owned());
        read!(self, |c| {
            // Whoever inserts first wins, also against another process; then compare.
            c.query(
                "INSERT INTO builders (name, public_key) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &key],
            )
            .await?;
            let rows = c.query("SELECT public_key FROM builders WHERE name = $1", &[&name]).await?;
            match rows.first() {
                Some(r) if r.try_get::<_, String>(0)? != key => Err(StoreError::BuilderConflict { name: name.clone() }),
                _ => Ok(()),
            }
        })
    }

    fn remove_builder(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        read!(self, |c| {
            let st = c.statement("DELETE FROM builders WHERE name = $1").await?;
            Ok(c.client.execute(&st, &[&name]).await? > 0)
        })
    }
}
