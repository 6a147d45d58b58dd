//! Reading Nix 2.8's SQLite database, checked against what Nix itself
//! reports for the same throwaway store: `nix-store -q --hash`, `--size`,
//! `--deriver`, `--references`, `--outputs` and `nix path-info --json`.
//! Also: the file is left as it was, a live Nix process (`nix-store --serve`
//! holding the database open in WAL mode) and a Nix write between two reads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use provenix_formats::hash::Hash;
use provenix_formats::store_path::{StoreDir, StorePath};
use provenix_store::Store;
use provenix_store::db::{DbError, NixDb, PathInfo, RowProblem};
use provenix_testkit::{NixHarness, current_system, error_chain};

/// Two leaves, a multi-output derivation and a top referring to all of them.
fn expr() -> String {
    format!(
        r#"let mk = name: script: derivation {{ inherit name; system = "{}"; builder = "/bin/sh"; args = ["-c" script]; }};
               a = mk "leaf-a" "echo a > $out";
               b = mk "leaf-b" "echo b > $out";
               multi = derivation {{ name = "multi"; system = "{0}"; builder = "/bin/sh"; outputs = ["out" "dev"];
                                     args = ["-c" "echo ${{a}} > $out; echo $out > $dev"]; }};
           in mk "top" "echo ${{b}} ${{multi.dev}} > $out""#,
        current_system()
    )
}

fn store(h: &NixHarness) -> Store {
    Store::new(StoreDir::default(), Some(h.root().to_owned()))
}

fn open(h: &NixHarness) -> NixDb {
    NixDb::open_for(&store(h)).unwrap().expect("the harness store has a database")
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

/// Builds the closure and signs its top; returns every valid path: the
/// `.drv` closure, all outputs, and a path added with `nix-store --add`.
fn populate(h: &NixHarness) -> Vec<String> {
    let top = h.build(&expr());
    let drv = h.run_text("nix-store", ["-q", "--deriver", &top[0]]);
    let file = h.scratch().join("added.txt");
    std::fs::write(&file, "added\n").unwrap();
    let added = h.add(&file);
    let (secret, _) = h.generate_key("test-key-1");
    h.nix(["store", "sign", "--key-file", secret.to_str().unwrap(), &top[0], &added]);
    let mut all: BTreeSet<String> =
        lines(&h.run_text("nix-store", ["-q", "--requisites", "--include-outputs", &drv])).into_iter().collect();
    all.insert(added);
    all.into_iter().collect()
}

fn db_dir(h: &NixHarness) -> PathBuf {
    h.root().join("nix/var/nix/db")
}

fn listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

#[test]
fn path_info_equals_what_nix_store_query_prints_for_every_valid_path() {
    let Some(h) = NixHarness::new() else { return };
    let paths = populate(&h);
    let dir = StoreDir::default();
    let db = open(&h);
    // `-q --hash/--size/--deriver` print one line per path, in order.
    let query =
        |flag: &str| lines(&h.run_text("nix-store", ["-q", flag].into_iter().chain(paths.iter().map(String::as_str))));
    let (hashes, sizes, derivers) = (query("--hash"), query("--size"), query("--deriver"));
    assert_eq!(hashes.len(), paths.len());
    for (i, text) in paths.iter().enumerate() {
        let path = dir.parse_path(text).unwrap();
        let info = db.path_info(&path).unwrap().unwrap_or_else(|| panic!("{text} is valid in Nix's view"));
        assert_eq!(info.nar_hash, Hash::parse(&hashes[i], None).unwrap(), "{text}");
        assert_eq!(info.nar_size, sizes[i].parse::<u64>().unwrap(), "{text}");
        let deriver = info.deriver.as_ref().map_or("unknown-deriver".to_owned(), |d| dir.display(d));
        assert_eq!(deriver, derivers[i], "{text}");
        // `--references` of several paths prints their union, so one at a time.
        let mut theirs = lines(&h.run_text("nix-store", ["-q", "--references", text]));
        theirs.sort(); // one store dir and fixed-length hashes: text order is base-name order
        let ours: Vec<String> = info.references.iter().map(|r| dir.display(r)).collect();
        assert_eq!(ours, theirs, "{text}");
        assert!(db.is_valid(&path).unwrap());
        assert_eq!(db.deriver(&path).unwrap(), info.deriver);
    }
    // The closure has outputs with a deriver, `.drv` files with references
    // and a `text:` ca, and a path without deriver: every branch was taken.
    let infos: Vec<PathInfo> =
        paths.iter().map(|p| db.path_info(&dir.parse_path(p).unwrap()).unwrap().unwrap()).collect();
    assert!(infos.iter().any(|i| i.deriver.is_some()) && infos.iter().any(|i| i.deriver.is_none()));
    assert!(infos.iter().any(|i| !i.references.is_empty()));
}

#[test]
fn ca_signatures_time_and_ultimate_equal_nix_path_info_json() {
    let Some(h) = NixHarness::new() else { return };
    let paths = populate(&h);
    let dir = StoreDir::default();
    let db = open(&h);
    // An output path names itself; a `.drv` needs `--derivation` to not mean its outputs.
    let (drvs, others): (Vec<&String>, Vec<&String>) = paths.iter().partition(|p| p.ends_with(".drv"));
    let mut entries = Vec::new();
    for (extra, group) in [(Some("--derivation"), drvs), (None, others)] {
        let args = ["path-info", "--json"].into_iter().chain(extra).chain(group.iter().map(|p| p.as_str()));
        let out = h.nix(args);
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        entries.extend(value.as_array().unwrap().iter().cloned());
    }
    assert_eq!(entries.len(), paths.len());
    let (mut signed, mut with_ca) = (0, 0);
    for entry in &entries {
        let text = entry["path"].as_str().unwrap();
        let info = db.path_info(&dir.parse_path(text).unwrap()).unwrap().unwrap();
        assert_eq!(info.nar_hash.to_sri(), entry["narHash"].as_str().unwrap(), "{text}");
        assert_eq!(info.registration_time, entry["registrationTime"].as_i64().unwrap(), "{text}");
        assert_eq!(info.ultimate, entry["ultimate"].as_bool().unwrap_or(false), "{text}");
        assert_eq!(info.ca.as_deref(), entry["ca"].as_str(), "{text}");
        let mut signatures: Vec<String> = entry["signatures"]
            .as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        signatures.sort();
        assert_eq!(info.signatures, signatures, "{text}");
        signed += usize::from(!info.signatures.is_empty());
        with_ca += usize::from(info.ca.is_some());
    }
    assert_eq!(signed, 2, "the top output and the added path are signed");
    assert!(with_ca >= 2, "`.drv` files (text:) and the added path (fixed:r:) have a ca");
}

#[test]
fn path_infos_equals_path_info_in_order_for_small_and_large_batches() {
    let Some(h) = NixHarness::new() else { return };
    let dir = StoreDir::default();
    let valid: Vec<StorePath> = populate(&h).iter().map(|p| dir.parse_path(p).unwrap()).collect();
    let unknown = dir.parse_path("/nix/store/00000000000000000000000000000000-not-there").unwrap();
    let db = open(&h);
    let one_by_one =
        |batch: &[StorePath]| -> Vec<Option<PathInfo>> { batch.iter().map(|p| db.path_info(p).unwrap()).collect() };
    // Small: looked up one by one. Large (> 64 paths, repeats allowed): one scan.
    let small: Vec<StorePath> = valid.iter().rev().cloned().chain([unknown.clone()]).collect();
    let large: Vec<StorePath> = (0..10).flat_map(|_| valid.iter().cloned().chain([unknown.clone()])).collect();
    assert!(large.len() > 64);
    for batch in [&small, &large] {
        let infos = db.path_infos(batch).unwrap();
        assert_eq!(infos, one_by_one(batch));
        assert_eq!(infos.iter().filter(|i| i.is_none()).count(), batch.iter().filter(|p| **p == unknown).count());
    }
    assert_eq!(db.path_infos(&[]).unwrap(), Vec::new());
}

#[test]
fn derivation_outputs_equal_nix_store_query_outputs() {
    let Some(h) = NixHarness::new() else { return };
    // Recorded when the `.drv` is registered, before anything is built.
    let drvs = h.instantiate(&expr());
    let dir = StoreDir::default();
    let db = open(&h);
    let closure = lines(&h.run_text("nix-store", ["-q", "--requisites", &drvs[0]]));
    let mut multi_seen = false;
    for drv in closure.iter().filter(|p| p.ends_with(".drv")) {
        let ours = db.derivation_outputs(&dir.parse_path(drv).unwrap()).unwrap();
        let mut theirs = lines(&h.run_text("nix-store", ["-q", "--outputs", drv]));
        theirs.sort();
        let mut our_paths: Vec<String> = ours.iter().map(|(_, p)| dir.display(p)).collect();
        our_paths.sort();
        assert_eq!(our_paths, theirs, "{drv}");
        let names: Vec<&str> = ours.iter().map(|(n, _)| n.as_str()).collect();
        if drv.ends_with("-multi.drv") {
            multi_seen = true;
            assert_eq!(names, ["dev", "out"]);
            assert!(dir.display(&ours[0].1).ends_with("-multi-dev"));
        } else {
            assert_eq!(names, ["out"]);
        }
        // Not built yet: the outputs are recorded but not valid.
        assert!(!db.is_valid(&ours[0].1).unwrap());
    }
    assert!(multi_seen);
}

#[test]
fn an_unknown_path_is_not_valid_and_has_no_info_deriver_or_outputs() {
    let Some(h) = NixHarness::new() else { return };
    h.build_two_leaf_closure();
    let db = open(&h);
    let unknown = StoreDir::default().parse_path("/nix/store/00000000000000000000000000000000-x.drv").unwrap();
    assert_eq!(db.path_info(&unknown).unwrap(), None);
    assert!(!db.is_valid(&unknown).unwrap());
    assert_eq!(db.deriver(&unknown).unwrap(), None);
    assert_eq!(db.derivation_outputs(&unknown).unwrap(), Vec::new());
}

#[test]
fn reading_changes_no_byte_and_creates_no_file_when_no_nix_process_is_running() {
    let Some(h) = NixHarness::new() else { return };
    let paths = populate(&h);
    let dir = db_dir(&h);
    let db_file = dir.join("db.sqlite");
    // Nix removes its -wal and -shm when its last connection closes.
    let before = listing(&dir);
    assert!(!before.iter().any(|n| n.ends_with("-wal") || n.ends_with("-shm")), "{before:?}");
    let bytes = std::fs::read(&db_file).unwrap();
    let modified = std::fs::metadata(&db_file).unwrap().modified().unwrap();
    {
        let db = open(&h);
        let parsed: Vec<StorePath> = paths.iter().map(|p| StoreDir::default().parse_path(p).unwrap()).collect();
        assert!(db.path_infos(&parsed).unwrap().iter().all(Option::is_some));
        let clone = db.try_clone().unwrap();
        assert!(clone.is_valid(&parsed[0]).unwrap());
        assert_eq!(listing(&dir), before, "nothing is created while reading");
    }
    assert_eq!(listing(&dir), before, "nothing is left after closing");
    assert_eq!(std::fs::read(&db_file).unwrap(), bytes);
    assert_eq!(std::fs::metadata(&db_file).unwrap().modified().unwrap(), modified);
}

#[test]
fn a_path_nix_registers_after_opening_is_seen_by_the_next_read() {
    let Some(h) = NixHarness::new() else { return };
    h.build_two_leaf_closure();
    let db = open(&h);
    let file = h.scratch().join("later.txt");
    std::fs::write(&file, "later\n").unwrap();
    // The path Nix will give it: the same file added to another store.
    let expected = NixHarness::new().unwrap().add(&file);
    let path = StoreDir::default().parse_path(&expected).unwrap();
    assert_eq!(db.path_info(&path).unwrap(), None);
    // Nix opens the database, writes, and checkpoints into the main file on exit.
    assert_eq!(h.add(&file), expected);
    let info = db.path_info(&path).unwrap().expect("the new path is seen");
    assert_eq!(info.nar_hash, Hash::parse(&h.run_text("nix-store", ["-q", "--hash", &expected]), None).unwrap());
}

/// `nix-store --serve` keeps the database open (WAL mode) until its stdin closes.
struct LiveNix(Child);

impl LiveNix {
    fn start(h: &NixHarness) -> LiveNix {
        let child = h
            .command("nix-store")
            .arg("--serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let wal = db_dir(h).join("db.sqlite-wal");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !wal.exists() {
            assert!(Instant::now() < deadline, "nix-store --serve did not open the database");
            std::thread::sleep(Duration::from_millis(20));
        }
        LiveNix(child)
    }

    fn stop(mut self) {
        drop(self.0.stdin.take());
        self.0.wait().unwrap();
    }
}

#[test]
fn reads_transactions_that_are_still_only_in_the_write_ahead_log_of_a_running_nix() {
    let Some(h) = NixHarness::new() else { return };
    h.build_two_leaf_closure();
    // Opened while no Nix runs (immutable), then Nix starts: the next read reopens.
    let early = open(&h);
    let live = LiveNix::start(&h);
    let db = open(&h);
    // While `--serve` is connected, this write stays in the -wal: nothing checkpoints it.
    let file = h.scratch().join("in-wal.txt");
    std::fs::write(&file, "in the log\n").unwrap();
    let added = h.add(&file);
    let path = StoreDir::default().parse_path(&added).unwrap();
    let info = db.path_info(&path).unwrap().expect("a path committed to the WAL is seen");
    assert_eq!(info.nar_hash, Hash::parse(&h.run_text("nix-store", ["-q", "--hash", &added]), None).unwrap());
    assert_eq!(early.path_info(&path).unwrap(), Some(info.clone()));
    drop(early);
    // A fresh handle, opened while Nix is live, sees it too.
    assert!(db.try_clone().unwrap().is_valid(&path).unwrap());
    live.stop();
    drop(db);
    // Our read-only connection kept Nix's exit from checkpointing, and it
    // cannot checkpoint itself: Nix's -wal and -shm stay for Nix's next open.
    let left = listing(&db_dir(&h));
    assert!(left.contains("db.sqlite-wal") && left.contains("db.sqlite-shm"), "{left:?}");
    // Nix's next command reads them, and cleans up when it exits.
    assert_eq!(h.run_text("nix-store", ["-q", "--hash", &added]), info.nar_hash.to_prefixed_nixbase32());
    let after = listing(&db_dir(&h));
    assert!(!after.contains("db.sqlite-wal") && !after.contains("db.sqlite-shm"), "{after:?}");
    assert!(open(&h).is_valid(&path).unwrap());
}

#[test]
fn handles_on_other_threads_read_the_same() {
    let Some(h) = NixHarness::new() else { return };
    let dir = StoreDir::default();
    let paths: Vec<StorePath> = populate(&h).iter().map(|p| dir.parse_path(p).unwrap()).collect();
    let db = open(&h);
    let expected = db.path_infos(&paths).unwrap();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let mine = db.try_clone().unwrap();
                let paths = &paths;
                s.spawn(move || paths.iter().map(|p| mine.path_info(p).unwrap()).collect::<Vec<_>>())
            })
            .collect();
        for handle in handles {
            assert_eq!(handle.join().unwrap(), expected);
        }
    });
    // And a handle itself moves to another thread.
    let moved = std::thread::spawn(move || db.path_infos(&paths).unwrap()).join().unwrap();
    assert_eq!(moved, expected);
}

#[test]
fn open_for_a_store_without_database_gives_none() {
    let Some(h) = NixHarness::new() else { return };
    let copied = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(copied.path().join("nix/store")).unwrap();
    let store = Store::new(StoreDir::default(), Some(copied.path().to_owned()));
    assert!(NixDb::open_for(&store).unwrap().is_none());
    // `open` of a missing file is an error naming it.
    let missing = NixDb::default_path(&store);
    let err = NixDb::open(&missing, StoreDir::default()).unwrap_err();
    assert!(error_chain(&err).contains(&missing.display().to_string()), "{}", error_chain(&err));
    drop(h);
}

#[test]
fn a_file_that_is_not_a_nix_database_is_an_error_naming_it() {
    let Some(h) = NixHarness::new() else { return };
    let dir = h.scratch();
    let garbage = dir.join("garbage.sqlite");
    std::fs::write(&garbage, b"this is not an SQLite database, not even close, but long enough to have a header\n")
        .unwrap();
    let empty = dir.join("empty.sqlite");
    std::fs::write(&empty, b"").unwrap();
    let other = dir.join("other.sqlite");
    rusqlite::Connection::open(&other).unwrap().execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap();
    for (file, is_sqlite) in [(&garbage, false), (&empty, true), (&other, true)] {
        let bytes = std::fs::read(file).unwrap();
        let err = NixDb::open(file, StoreDir::default()).unwrap_err();
        let text = error_chain(&err);
        assert!(text.contains(&file.display().to_string()), "{text}");
        if is_sqlite {
            assert!(matches!(err, DbError::NotNixDb { table: "ValidPaths", .. }), "{text}");
        } else {
            assert!(matches!(err, DbError::Sqlite { .. }), "{text}");
        }
        assert_eq!(std::fs::read(file).unwrap(), bytes, "{text}");
    }
    // `open_for` on a root whose database is garbage fails the same way.
    let root = tempfile::tempdir().unwrap();
    let db_file = root.path().join("nix/var/nix/db/db.sqlite");
    std::fs::create_dir_all(db_file.parent().unwrap()).unwrap();
    std::fs::copy(&garbage, &db_file).unwrap();
    let err = NixDb::open_for(&Store::new(StoreDir::default(), Some(root.path().to_owned()))).unwrap_err();
    assert!(error_chain(&err).contains(&db_file.display().to_string()));
}

/// A copy of the harness's database with `sql` applied (none: as is), for
/// the corruption tests. Closing the last connection folds the log back into
/// the file, so the copy is a single file as Nix leaves it.
fn corrupted_copy(h: &NixHarness, sql: Option<&str>) -> PathBuf {
    static COPIES: AtomicUsize = AtomicUsize::new(0);
    let copy = h.scratch().join(format!("copy-{}.sqlite", COPIES.fetch_add(1, Ordering::Relaxed)));
    std::fs::copy(db_dir(h).join("db.sqlite"), &copy).unwrap();
    if let Some(sql) = sql {
        rusqlite::Connection::open(&copy).unwrap().execute_batch(sql).unwrap();
    }
    assert!(!Path::new(&format!("{}-wal", copy.display())).exists());
    copy
}

#[test]
fn a_corrupt_row_is_an_error_naming_the_database_row_column_and_path() {
    let Some(h) = NixHarness::new() else { return };
    let top = h.build_two_leaf_closure();
    let dir = StoreDir::default();
    let top_path = dir.parse_path(&top).unwrap();
    let db = open(&h);
    let top_id = rusqlite::Connection::open(corrupted_copy(&h, None))
        .unwrap()
        .query_row("SELECT id FROM ValidPaths WHERE path = ?1", [&top], |r| r.get::<_, i64>(0))
        .unwrap();
    let leaf = db.path_info(&top_path).unwrap().unwrap().references[0].clone();
    let leaf_text = dir.display(&leaf);
    let cases: Vec<(String, &StorePath, &str, &str)> = vec![
        (format!("UPDATE ValidPaths SET hash = 'sha256:nothex' WHERE id = {top_id}"), &top_path, "hash", "nothex"),
        (format!("UPDATE ValidPaths SET hash = 'md6:00' WHERE id = {top_id}"), &top_path, "hash", "md6"),
        (format!("UPDATE ValidPaths SET narSize = -5 WHERE id = {top_id}"), &top_path, "narSize", "-5"),
        (
            format!("UPDATE ValidPaths SET deriver = '/nix/store/bad' WHERE id = {top_id}"),
            &top_path,
            "deriver",
            "/nix/store/bad",
        ),
        (
            format!("UPDATE ValidPaths SET deriver = '/gnu/store/{}' WHERE id = {top_id}", leaf),
            &top_path,
            "deriver",
            "/gnu/store",
        ),
        (
            format!("UPDATE ValidPaths SET registrationTime = 'soon' WHERE id = {top_id}"),
            &top_path,
            "registrationTime",
            "registrationTime",
        ),
        (format!("UPDATE ValidPaths SET sigs = x'ff00' WHERE id = {top_id}"), &top_path, "sigs", "sigs"),
        // A reference whose row holds a broken path: the error names that row.
        (
            format!("UPDATE ValidPaths SET path = '/nix/store/!!' WHERE path = '{leaf_text}'"),
            &top_path,
            "path",
            "/nix/store/!!",
        ),
    ];
    for (sql, path, column, culprit) in &cases {
        let copy = corrupted_copy(&h, Some(sql));
        let db = NixDb::open(&copy, dir.clone()).unwrap();
        let err = db.path_info(path).unwrap_err();
        let text = error_chain(&err);
        let DbError::BadRow { db: file, table, column: col, .. } = &err else { panic!("{sql}: {text}") };
        assert_eq!((file, *table, *col), (&copy, "ValidPaths", *column), "{sql}: {text}");
        assert!(text.contains(culprit), "{sql}: {text}");
        if *column != "path" {
            assert!(text.contains(&format!("row {top_id} ({top})")), "{sql}: {text}");
        }
        // The batch scan reports the same row.
        let batch: Vec<StorePath> = std::iter::repeat_n((*path).clone(), 100).collect();
        let err = db.path_infos(&batch).unwrap_err();
        assert!(matches!(&err, DbError::BadRow { column: col, .. } if col == column), "{sql}: {}", error_chain(&err));
    }
    // A bad output path in DerivationOutputs.
    let drv = db.deriver(&top_path).unwrap().unwrap();
    let copy = corrupted_copy(&h, Some("UPDATE DerivationOutputs SET path = 'nowhere'"));
    let err = NixDb::open(&copy, dir.clone()).unwrap().derivation_outputs(&drv).unwrap_err();
    assert!(matches!(
        &err,
        DbError::BadRow { table: "DerivationOutputs", column: "path", source, .. } if matches!(**source, RowProblem::StorePath { .. })
    ));
    assert!(error_chain(&err).contains("nowhere"));
}

/// Registers `n` made-up paths (no files: `nix-store --load-db`) with real
/// Nix, each referring to up to 8 earlier ones, and times our lookups.
/// `PROVENIX_DB_PATHS` sets `n` (default 100,000).
/// Run with `cargo test --release -p provenix-store --test nix_db -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn measure_lookup_speed_on_a_large_database() {
    let Some(h) = NixHarness::new() else { return };
    let n: usize = std::env::var("PROVENIX_DB_PATHS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let dir = StoreDir::default();
    let chars = b"0123456789abcdfghijklmnpqrsvwxyz";
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut paths = Vec::with_capacity(n);
    let mut input = String::new();
    for i in 0..n {
        let hash: String = (0..32).map(|_| char::from(chars[(next() % 32) as usize])).collect();
        let path = format!("/nix/store/{hash}-package-{i}");
        let refs: Vec<&String> =
            if i == 0 { Vec::new() } else { (0..next() % 9).map(|_| &paths[(next() as usize) % i]).collect() };
        let refs: BTreeSet<&String> = refs.into_iter().collect();
        let deriver = format!("/nix/store/{}-package-{i}.drv", &hash[..]);
        let nar: String = (0..64).map(|_| char::from(b"0123456789abcdef"[(next() % 16) as usize])).collect();
        input.push_str(&format!("{path}\n{nar}\n{}\n{deriver}\n{}\n", 1000 + i, refs.len()));
        for r in refs {
            input.push_str(r);
            input.push('\n');
        }
        paths.push(path);
    }
    let start = Instant::now();
    let mut child = h.command("nix-store").arg("--load-db").stdin(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
    eprintln!("registered {n} paths with nix-store --load-db in {:?}", start.elapsed());
    let parsed: Vec<StorePath> = paths.iter().map(|p| dir.parse_path(p).unwrap()).collect();
    let half: Vec<StorePath> = parsed.iter().step_by(2).cloned().collect();
    let small: Vec<StorePath> = parsed.iter().step_by((n / 1000).max(1)).cloned().collect();
    let db = open(&h);
    for round in 0..2 {
        let t = Instant::now();
        let infos = db.path_infos(&half).unwrap();
        let batch = t.elapsed();
        assert!(infos.iter().all(Option::is_some));
        let t = Instant::now();
        let singles: Vec<Option<PathInfo>> = half.iter().map(|p| db.path_info(p).unwrap()).collect();
        let single = t.elapsed();
        assert_eq!(singles, infos);
        let t = Instant::now();
        let few = db.path_infos(&small).unwrap();
        let few_time = t.elapsed();
        assert!(few.iter().all(Option::is_some));
        let refs: usize = infos.iter().flatten().map(|i| i.references.len()).sum();
        eprintln!(
            "round {round}: {} of {n} paths ({refs} references): path_infos {batch:?}, path_info one by one {single:?}; \
             path_infos of {}: {few_time:?}",
            half.len(),
            small.len(),
        );
    }
}
