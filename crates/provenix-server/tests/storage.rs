//! The storage suite: every `LogStore` backend must pass it, SQLite and a
//! real PostgreSQL (testkit's `TempPostgres`: one cluster per test, one
//! database per check, so the tests run in parallel). Each check gets a
//! fresh, empty database it may open more than once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use provenix_formats::log::tile::Tile;
use std::sync::Arc;

use provenix_server::store::postgres::PostgresStore;
use provenix_server::store::{self, Batch, LogStore, NewEntry, StoreError};
use provenix_testkit::postgres::TempPostgres;

fn batch(first: u64, reports: &[(&str, u32, u8)]) -> Batch {
    let entries: Vec<NewEntry> = reports
        .iter()
        .map(|(b, n, h)| {
            let report = common::report(b, *n, *h);
            NewEntry { data: report.to_bytes(), report }
        })
        .collect();
    let size = first + entries.len() as u64;
    let tiles = vec![Tile { level: 0, index: 0, hashes: vec![[first as u8; 32]; size as usize] }];
    Batch { first_index: first, entries, tiles, size, checkpoint: format!("cp {size}").into_bytes() }
}

fn appends_in_order_and_refuses_a_gap(s: &dyn LogStore) {
    assert_eq!(s.latest_checkpoint().unwrap(), None);
    s.append_batch(&batch(0, &[("a", 1, 1), ("b", 1, 1)])).unwrap();
    assert_eq!(s.latest_checkpoint().unwrap(), Some((2, b"cp 2".to_vec())));
    let err = s.append_batch(&batch(5, &[("a", 2, 1)])).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    // The refused batch wrote nothing.
    assert_eq!(s.latest_checkpoint().unwrap().unwrap().0, 2);
    assert_eq!(s.entries(0, 10).unwrap().len(), 2);
    s.append_batch(&batch(2, &[("a", 2, 1)])).unwrap();
    assert_eq!(s.entries(1, 10).unwrap().iter().map(|e| e.0).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(s.tile(0, 0).unwrap().unwrap().len(), 3 * 32, "a partial tile grows in place");
    assert_eq!(s.tile(1, 0).unwrap(), None);
}

fn finds_reports_by_path_and_drv_and_tracks_disputes(s: &dyn LogStore) {
    s.append_batch(&batch(0, &[("a", 1, 1), ("b", 1, 1), ("a", 2, 1), ("b", 2, 2), ("a", 2, 1)])).unwrap();
    let r1 = common::report("a", 1, 1);
    assert_eq!(s.reports_for(&r1.path).unwrap().len(), 2);
    assert_eq!(s.reports_for(&r1.drv).unwrap().len(), 2);
    let r2 = common::report("a", 2, 1);
    let rows = s.reports_for(&r2.path).unwrap();
    assert_eq!(rows.iter().map(|r| r.index).collect::<Vec<_>>(), vec![2, 3, 4], "resubmissions are kept");
    assert_eq!(s.disputed_paths(10).unwrap(), vec![r2.path.clone()]);
    let a = s.agreement("a").unwrap();
    assert_eq!((a.reports, a.agreed, a.disagreed), (3, 1, 1));
    assert_eq!(s.builder_history("a", 2).unwrap().iter().map(|r| r.index).collect::<Vec<_>>(), vec![4, 2]);
}

fn registers_builders_once_per_name(s: &dyn LogStore) {
    s.add_builder("a", "a:key1").unwrap();
    s.add_builder("a", "a:key1").unwrap();
    assert!(matches!(s.add_builder("a", "a:key2"), Err(StoreError::BuilderConflict { .. })));
    s.add_builder("b", "b:key").unwrap();
    assert_eq!(s.builders().unwrap(), vec![("a".into(), "a:key1".into()), ("b".into(), "b:key".into())]);
    assert!(s.remove_builder("a").unwrap());
    assert!(!s.remove_builder("a").unwrap());
}

fn a_batch_that_fails_at_its_last_statement_leaves_nothing(s: &dyn LogStore) {
    s.append_batch(&batch(0, &[("a", 1, 1), ("b", 1, 2)])).unwrap();
    // Entries, disputes and tiles go in before the checkpoint, whose size
    // collides with a stored one: the whole batch must roll back.
    let mut bad = batch(2, &[("a", 3, 1), ("b", 3, 2)]);
    bad.size = 2;
    let err = s.append_batch(&bad).unwrap_err();
    assert!(!matches!(err, StoreError::Corrupt(_)), "refused by the database, not the size check: {err:?}");
    assert_eq!(s.latest_checkpoint().unwrap(), Some((2, b"cp 2".to_vec())));
    assert_eq!(s.entries(0, 10).unwrap().len(), 2);
    assert_eq!(s.tile(0, 0).unwrap().unwrap().len(), 2 * 32, "the tile is as before");
    assert!(s.reports_for(&common::report("a", 3, 1).path).unwrap().is_empty());
    s.append_batch(&batch(2, &[("a", 3, 1)])).unwrap();
    assert_eq!(s.latest_checkpoint().unwrap().unwrap().0, 3);
}

/// A fresh database of one backend; `open` may be called again to reopen it.
struct Db<'a> {
    backend: &'a dyn Backend,
    url: String,
}

impl Db<'_> {
    fn open(&self) -> Arc<dyn LogStore> {
        store::open(&self.url).unwrap()
    }
}

trait Backend {
    /// The URL of a new, empty database.
    fn new_db(&self, name: &str) -> String;
    /// Marks the schema of the database at `url` as written by a newer server.
    fn set_schema_version(&self, url: &str, version: i64);
}

struct Sqlite(tempfile::TempDir);

impl Backend for Sqlite {
    fn new_db(&self, name: &str) -> String {
        format!("sqlite:{}", self.0.path().join(format!("{name}.sqlite")).display())
    }
    fn set_schema_version(&self, url: &str, version: i64) {
        let conn = rusqlite::Connection::open(url.strip_prefix("sqlite:").unwrap()).unwrap();
        conn.pragma_update(None, "user_version", version).unwrap();
    }
}

struct Postgres(TempPostgres);

impl Backend for Postgres {
    fn new_db(&self, name: &str) -> String {
        self.0.create_database(name)
    }
    fn set_schema_version(&self, url: &str, version: i64) {
        let db = url.rsplit('/').next().unwrap();
        self.0.psql(db, &format!("UPDATE provenix_schema SET version = {version}"));
    }
}

fn keeps_everything_across_a_reopen(db: &Db<'_>) {
    db.open().append_batch(&batch(0, &[("a", 1, 1)])).unwrap();
    let s = db.open();
    assert_eq!(s.latest_checkpoint().unwrap().unwrap().0, 1);
    assert_eq!(s.entries(0, 1).unwrap().len(), 1);
    assert_eq!(s.reports_for(&common::report("a", 1, 1).path).unwrap().len(), 1);
}

fn refuses_a_newer_schema(db: &Db<'_>) {
    drop(db.open());
    db.backend.set_schema_version(&db.url, 99);
    let err = store::open(&db.url).err().expect("a newer schema is refused");
    assert!(matches!(err, StoreError::NewerSchema { found: 99, .. }), "{err:?}");
}

type Check = fn(&Db<'_>);

macro_rules! on_one_store {
    ($check:ident) => {
        (stringify!($check), |db: &Db<'_>| $check(&*db.open()))
    };
}

const SUITE: &[(&str, Check)] = &[
    on_one_store!(appends_in_order_and_refuses_a_gap),
    on_one_store!(finds_reports_by_path_and_drv_and_tracks_disputes),
    on_one_store!(registers_builders_once_per_name),
    on_one_store!(a_batch_that_fails_at_its_last_statement_leaves_nothing),
    ("keeps_everything_across_a_reopen", keeps_everything_across_a_reopen),
    ("refuses_a_newer_schema", refuses_a_newer_schema),
];

fn run_suite(backend: &dyn Backend, label: &str) {
    for (name, check) in SUITE {
        eprintln!("{label}: {name}");
        check(&Db { backend, url: backend.new_db(name) });
    }
}

#[test]
fn sqlite_passes_the_storage_suite() {
    run_suite(&Sqlite(tempfile::tempdir().unwrap()), "sqlite");
}

#[test]
fn postgres_passes_the_storage_suite() {
    run_suite(&Postgres(TempPostgres::start()), "postgres");
}

#[test]
fn two_postgres_stores_on_one_database_have_one_sequencer() {
    let pg = TempPostgres::start();
    let url = pg.create_database("shared");
    let first = PostgresStore::open(&url).unwrap();
    let second = PostgresStore::open(&url).unwrap();
    assert!(first.is_sequencer() && !second.is_sequencer());
    // The empty log's first checkpoint: the second leaves it to the sequencer.
    second.append_batch(&batch(0, &[])).unwrap();
    assert_eq!(second.latest_checkpoint().unwrap(), None);
    first.append_batch(&batch(0, &[])).unwrap();
    first.append_batch(&batch(0, &[("a", 1, 1)])).unwrap();
    let err = second.append_batch(&batch(1, &[("a", 2, 1)])).unwrap_err();
    assert!(matches!(err, StoreError::NotSequencer), "{err:?}");
    // The second serves what the first wrote.
    assert_eq!(second.latest_checkpoint().unwrap().unwrap().0, 1);
    assert_eq!(second.reports_for(&common::report("a", 1, 1).path).unwrap().len(), 1);
    // When the sequencer's session ends, the lock passes at the next batch.
    drop(first);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match second.append_batch(&batch(1, &[("a", 2, 1)])) {
            Ok(()) => break,
            Err(StoreError::NotSequencer) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(second.is_sequencer());
    assert_eq!(second.latest_checkpoint().unwrap().unwrap().0, 2);
}

#[test]
fn postgres_store_is_used_and_dropped_inside_tokio_without_panicking() {
    let pg = TempPostgres::start();
    let url = pg.create_database("in_tokio");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        // Opened on an async worker, used from spawn_blocking as the server does, dropped on a worker.
        let store: Arc<dyn LogStore> = Arc::new(PostgresStore::open(&url).unwrap());
        let s = store.clone();
        tokio::task::spawn_blocking(move || s.append_batch(&batch(0, &[("a", 1, 1)]))).await.unwrap().unwrap();
        let s = store.clone();
        let size = tokio::task::spawn_blocking(move || s.latest_checkpoint()).await.unwrap().unwrap().unwrap().0;
        assert_eq!(size, 1);
        drop(store);
    });
}
