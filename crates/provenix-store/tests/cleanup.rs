//! `provenix_store::cleanup` with the process-wide registry, in a test
//! binary of its own: `remove_all` removes every registered path, so no
//! other test may run beside it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use provenix_store::{cleanup, fs};

#[test]
fn staged_output_files_are_removed_by_remove_all_and_forgotten_once_committed() {
    let dir = tempfile::tempdir().unwrap();
    let committed = dir.path().join("done.json");
    fs::stage(&committed, b"kept", 0o644).unwrap().commit(true).unwrap();
    let pending = fs::stage(&dir.path().join("half.json"), b"half", 0o644).unwrap();
    let names = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names().len(), 2, "{:?}", names());
    // What a signal handler does: the staged temp file goes, the committed file stays.
    assert_eq!(cleanup::remove_all(), 1);
    assert_eq!(names(), ["done.json"]);
    assert_eq!(std::fs::read(&committed).unwrap(), b"kept");
    drop(pending);
}
