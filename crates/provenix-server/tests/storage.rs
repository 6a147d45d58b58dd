//! The storage suite: every `LogStore` backend must pass it. Each check
//! takes a fresh, empty store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use provenix_formats::log::tile::Tile;
use provenix_server::store::sqlite::SqliteStore;
use provenix_server::store::{Batch, LogStore, NewEntry, StoreError};

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

type Check = fn(&dyn LogStore);

const SUITE: &[(&str, Check)] = &[
    ("appends_in_order_and_refuses_a_gap", appends_in_order_and_refuses_a_gap),
    ("finds_reports_by_path_and_drv_and_tracks_disputes", finds_reports_by_path_and_drv_and_tracks_disputes),
    ("registers_builders_once_per_name", registers_builders_once_per_name),
];

#[test]
fn sqlite_passes_the_storage_suite() {
    for (name, check) in SUITE {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("log.sqlite")).unwrap();
        eprintln!("sqlite: {name}");
        check(&store);
    }
}

#[test]
fn sqlite_keeps_everything_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite");
    SqliteStore::open(&db).unwrap().append_batch(&batch(0, &[("a", 1, 1)])).unwrap();
    let s = SqliteStore::open(&db).unwrap();
    assert_eq!(s.latest_checkpoint().unwrap().unwrap().0, 1);
    assert_eq!(s.entries(0, 1).unwrap().len(), 1);
}
