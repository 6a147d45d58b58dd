//! Drives the malformed narinfo corpus `tests/data/bad/narinfo/`: every file
//! must be refused, with an error chain containing the substring its line in
//! `REASONS.txt` names (`<file>\t<substring>\t<why>`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::error::Error;
use std::path::Path;

use provenix_formats::narinfo::NarInfo;
use provenix_formats::store_path::StoreDir;

/// The error and its sources, joined with `: ` as the CLI prints them.
fn chain(err: &dyn Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `(file, expected substring)` for each line of `REASONS.txt`; panics on a
/// malformed line or on a file without a line.
fn reasons(dir: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dir.join("REASONS.txt")).unwrap();
    let cases: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let fields: Vec<&str> = l.split('\t').collect();
            assert_eq!(fields.len(), 3, "REASONS.txt line needs file, substring and why: {l:?}");
            assert!(!fields[2].is_empty(), "{l:?} gives no reason");
            (fields[0].to_owned(), fields[1].to_owned())
        })
        .collect();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(name == "REASONS.txt" || cases.iter().any(|(f, _)| *f == name), "{name} has no line in REASONS.txt");
    }
    cases
}

#[test]
fn every_malformed_narinfo_is_refused_with_its_reason() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bad/narinfo");
    let cases = reasons(&dir);
    assert!(cases.len() >= 8);
    for (file, expected) in cases {
        let data = std::fs::read(dir.join(&file)).unwrap();
        match NarInfo::parse(&data, &StoreDir::default()) {
            Ok(info) => panic!("{file} parsed: {info:?}"),
            Err(err) => {
                let text = chain(&err);
                assert!(text.contains(&expected), "{file}: error {text:?} lacks {expected:?}");
            }
        }
    }
}
