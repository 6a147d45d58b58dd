//! The UI's summary queries (`LogStore::summary`, `LogStore::search`): the
//! SQLite backend's indexed SQL gives the same answers as the trait's
//! default bodies (which read every entry, and which other backends may
//! keep), on logs written batch by batch and on a log written before the
//! `outputs` table existed (the migration fills it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use provenix_formats::store_path::StoreDir;
use provenix_server::store::sqlite::SqliteStore;
use provenix_server::store::{Agreement, Batch, LogStore, NewEntry, ReportRow, StoreError, Summary};
use provenix_server::verdict::Verdict;

/// A real SQLite store that keeps the trait's default bodies for the summary queries.
struct Defaults(SqliteStore);

impl LogStore for Defaults {
    fn latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.0.latest_checkpoint()
    }
    fn tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.tile(level, index)
    }
    fn append_batch(&self, batch: &Batch) -> Result<(), StoreError> {
        self.0.append_batch(batch)
    }
    fn entries(&self, start: u64, count: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.0.entries(start, count)
    }
    fn reports_for(&self, path_or_drv: &str) -> Result<Vec<ReportRow>, StoreError> {
        self.0.reports_for(path_or_drv)
    }
    fn builder_history(&self, builder: &str, limit: u64) -> Result<Vec<ReportRow>, StoreError> {
        self.0.builder_history(builder, limit)
    }
    fn agreement(&self, builder: &str) -> Result<Agreement, StoreError> {
        self.0.agreement(builder)
    }
    fn disputed_paths(&self, limit: u64) -> Result<Vec<String>, StoreError> {
        self.0.disputed_paths(limit)
    }
    fn builders(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.0.builders()
    }
    fn add_builder(&self, name: &str, public_key: &str) -> Result<(), StoreError> {
        self.0.add_builder(name, public_key)
    }
    fn remove_builder(&self, name: &str) -> Result<bool, StoreError> {
        self.0.remove_builder(name)
    }
}

/// Signed entries `(builder, package, nar byte)` as a batch starting at `first`.
fn batch(first: u64, reports: &[(&str, u32, u8)]) -> Batch {
    let entries: Vec<NewEntry> = reports
        .iter()
        .map(|(b, n, h)| NewEntry { data: common::signed(&common::key(b), *n, *h), report: common::report(b, *n, *h) })
        .collect();
    let size = first + entries.len() as u64;
    Batch { first_index: first, entries, tiles: vec![], size, checkpoint: format!("cp {size}").into_bytes() }
}

/// pkg 1: a and b agree (reproduced); pkg 2: a, b agree then c differs (disputed);
/// pkg 3: a alone, twice (single); pkg 4: a disagrees with itself (disputed);
/// pkg 10..13: b alone. Over three batches, so verdicts change between batches.
fn fill(s: &dyn LogStore) {
    let batches: [&[(&str, u32, u8)]; 3] = [
        &[("a", 1, 1), ("a", 2, 1), ("b", 2, 1), ("a", 3, 5)],
        &[("b", 1, 1), ("a", 3, 5), ("a", 4, 1), ("b", 10, 1), ("b", 11, 1)],
        &[("c", 2, 9), ("a", 4, 2), ("b", 12, 1), ("b", 13, 1)],
    ];
    let mut at = 0;
    for b in batches {
        s.append_batch(&batch(at, b)).unwrap();
        at += b.len() as u64;
    }
}

fn verdicts(hits: &[provenix_server::store::OutputHit]) -> Vec<(String, u64, Verdict)> {
    hits.iter().map(|h| (h.path.clone(), h.reports, h.verdict)).collect()
}

fn assert_same_answers(fast: &dyn LogStore, slow: &dyn LogStore) {
    let dir = StoreDir::default();
    let summary = fast.summary(&dir).unwrap();
    assert_eq!(summary, Summary { reports: 13, outputs: 8, reproduced: 1, disputed: 2 });
    assert_eq!(summary, slow.summary(&dir).unwrap());
    let p = |n| common::report("x", n, 0).path;
    let d = |n| common::report("x", n, 0).drv;
    let cases: Vec<(String, u64, Vec<String>, bool)> = vec![
        // Name prefixes, ASCII case-insensitive.
        ("PKG-1".into(), 10, vec![p(1), p(10), p(11), p(12), p(13)], false),
        ("pkg-".into(), 3, vec![], true),
        ("pkg-".into(), 8, vec![], false),
        // A hash part, a whole path, a path without the store directory, a `.drv`.
        (p(3)[11..20].to_owned(), 10, vec![p(3)], false),
        (p(4), 10, vec![p(4)], false),
        (p(4)[11..].to_owned(), 10, vec![p(4)], false),
        (d(2), 10, vec![p(2)], false),
        (format!("  {}  ", &d(2)[11..25]), 10, vec![p(2)], false),
        // Nothing, and an empty needle.
        ("nothing-like-it".into(), 10, vec![], false),
        ("   ".into(), 10, vec![], false),
        // The middle of a name is not a prefix.
        ("kg-1".into(), 10, vec![], false),
    ];
    for (needle, limit, want, want_more) in cases {
        let (hits, more) = fast.search(&dir, &needle, limit).unwrap();
        let (slow_hits, slow_more) = slow.search(&dir, &needle, limit).unwrap();
        assert_eq!(more, want_more, "{needle:?}");
        assert_eq!(more, slow_more, "{needle:?}");
        assert_eq!(hits.len() as u64, limit.min(if needle == "pkg-" { 8 } else { want.len() as u64 }), "{needle:?}");
        if needle != "pkg-" {
            let mut want = want;
            want.sort();
            assert_eq!(hits.iter().map(|h| h.path.clone()).collect::<Vec<_>>(), want, "{needle:?}");
        }
        if !more {
            assert_eq!(hits, slow_hits, "{needle:?}");
        }
        assert!(hits.windows(2).all(|w| w[0].path < w[1].path), "sorted by path");
    }
    let (all, _) = fast.search(&dir, "pkg-", 100).unwrap();
    let by_path = |n: u32| all.iter().find(|h| h.path == p(n)).map(|h| (h.reports, h.verdict, h.drv.clone()));
    assert_eq!(by_path(1), Some((2, Verdict::Reproduced, d(1))));
    assert_eq!(by_path(2), Some((3, Verdict::Disputed, d(2))));
    assert_eq!(by_path(3), Some((2, Verdict::Single, d(3))));
    assert_eq!(by_path(4), Some((2, Verdict::Disputed, d(4))));
    assert_eq!(verdicts(&all), verdicts(&slow.search(&dir, "pkg-", 100).unwrap().0));
}

#[test]
fn sqlite_summary_and_search_give_the_default_bodies_answers() {
    let dir = tempfile::tempdir().unwrap();
    let fast = SqliteStore::open(&dir.path().join("fast.sqlite")).unwrap();
    let slow = Defaults(SqliteStore::open(&dir.path().join("slow.sqlite")).unwrap());
    assert_eq!(fast.summary(&StoreDir::default()).unwrap(), Summary::default());
    assert_eq!(slow.summary(&StoreDir::default()).unwrap(), Summary::default());
    fill(&fast);
    fill(&slow);
    assert_same_answers(&fast, &slow);
    assert_eq!(fast.disputed_paths(10).unwrap(), slow.disputed_paths(10).unwrap());
    assert_eq!(
        fast.disputed_paths(10).unwrap(),
        vec![common::report("x", 4, 0).path, common::report("x", 2, 0).path],
        "most recently reported first"
    );
}

#[test]
fn a_log_written_before_the_outputs_table_is_migrated_with_its_counts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.sqlite");
    {
        // Schema version 1, as the first release wrote it, with the same entries.
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(include_str!("../src/store/migrations/0001_init.sql")).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        let mut idx = 0i64;
        for b in [
            &[("a", 1, 1), ("a", 2, 1), ("b", 2, 1), ("a", 3, 5)][..],
            &[("b", 1, 1), ("a", 3, 5), ("a", 4, 1), ("b", 10, 1), ("b", 11, 1)],
            &[("c", 2, 9), ("a", 4, 2), ("b", 12, 1), ("b", 13, 1)],
        ] {
            for e in batch(0, b).entries {
                let r = &e.report;
                conn.execute(
                    "INSERT INTO entries (idx, data, drv, output, path, nar_hash, builder, time)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    rusqlite::params![idx, e.data, r.drv, r.output, r.path, r.nar_hash.as_slice(), r.builder, r.time],
                )
                .unwrap();
                idx += 1;
            }
        }
        conn.execute("INSERT INTO checkpoints (size, note) VALUES (?1, 'cp')", [idx]).unwrap();
    }
    let migrated = SqliteStore::open(&db).unwrap();
    let slow = Defaults(SqliteStore::open(&dir.path().join("slow.sqlite")).unwrap());
    fill(&slow);
    assert_same_answers(&migrated, &slow);
    // And the migrated counts keep following new batches.
    let more = [("c", 1, 1), ("c", 3, 6), ("b", 20, 1)];
    migrated.append_batch(&batch(13, &more)).unwrap();
    slow.append_batch(&batch(13, &more)).unwrap();
    let s = migrated.summary(&StoreDir::default()).unwrap();
    assert_eq!(s, Summary { reports: 16, outputs: 9, reproduced: 1, disputed: 3 });
    assert_eq!(s, slow.summary(&StoreDir::default()).unwrap());
}
