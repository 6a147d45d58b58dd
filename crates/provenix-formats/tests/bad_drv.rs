//! The malformed `.drv` corpus: every file in `tests/data/bad/drv/` is
//! rejected, without panicking, with an error naming the problem.
//!
//! `REASONS.txt` has one line per file: `<file>\t<substring of the error>\t<why>`.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

use provenix_formats::derivation::Derivation;
use provenix_formats::store_path::StoreDir;

/// The error and its sources, as binaries print them with `{:#}`.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[test]
fn every_malformed_drv_is_rejected_with_its_reason() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bad/drv");
    let reasons = std::fs::read_to_string(dir.join("REASONS.txt")).unwrap();
    let mut listed = BTreeSet::new();
    for (n, line) in reasons.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let mut fields = line.split('\t');
        let (Some(file), Some(expected), Some(why)) = (fields.next(), fields.next(), fields.next()) else {
            panic!("REASONS.txt line {}: want `file<TAB>substring<TAB>why`", n + 1);
        };
        assert!(!why.trim().is_empty(), "{file}: no reason given");
        let data = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let result = std::panic::catch_unwind(|| Derivation::parse(&data, &StoreDir::default()));
        let err = match result {
            Err(_) => panic!("{file}: the parser panicked"),
            Ok(Ok(drv)) => panic!("{file}: accepted ({why}): {drv:?}"),
            Ok(Err(err)) => err,
        };
        let text = error_chain(&err);
        assert!(text.contains(expected), "{file}: error `{text}` lacks `{expected}`");
        listed.insert(file.to_owned());
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "REASONS.txt")
        .collect();
    assert_eq!(on_disk, listed, "every file in the corpus has exactly one line in REASONS.txt");
    assert!(listed.len() >= 15, "the corpus has {} files", listed.len());
}
