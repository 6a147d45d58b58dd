//! Every file in `tests/data/bad/export/` is rejected by the export reader with an
//! error containing the substring listed for it in `REASONS.txt`, and
//! without panicking. `REASONS.txt` lines: `<file>\t<expected substring>\t<why>`.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;

use provenix_formats::export;
use provenix_formats::store_path::StoreDir;

/// The error and its sources, joined as a chain printer would.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn reasons(dir: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(dir.join("REASONS.txt")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut parts = l.splitn(3, '\t');
            let (file, expected, why) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
            assert!(!why.trim().is_empty(), "{file} has no reason");
            (file.to_owned(), expected.to_owned())
        })
        .collect()
}

#[test]
fn every_bad_export_stream_is_rejected_with_its_listed_reason() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bad/export");
    let reasons = reasons(&dir);
    assert!(reasons.len() >= 6, "corpus too small: {}", reasons.len());
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "REASONS.txt")
        .collect();
    on_disk.sort();
    assert_eq!(on_disk, reasons.keys().cloned().collect::<Vec<_>>(), "files and REASONS.txt disagree");
    for (file, expected) in &reasons {
        let data = std::fs::read(dir.join(file)).unwrap();
        assert!(data.len() <= 4096, "{file} is not small");
        let err = match export::read_entries(&data[..], &StoreDir::default()) {
            Ok(e) => panic!("{file} was accepted ({e:?})"),
            Err(e) => chain(&e),
        };
        assert!(err.contains(expected.as_str()), "{file}: error `{err}` lacks `{expected}`");
    }
}
