//! The committed corpus of malformed inputs, `tests/data/bad/<format>/`:
//! every file is rejected by its parser, without panicking, with an error
//! chain that contains the substring its line in `REASONS.txt` names.
//!
//! `REASONS.txt` has one line per file: `<file>\t<expected substring>\t<why>`,
//! and every file in the directory must have exactly one line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::error::Error;
use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use provenix_formats::derivation::Derivation;
use provenix_formats::dsse::Envelope;
use provenix_formats::export;
use provenix_formats::hash::HashAlgo;
use provenix_formats::nar;
use provenix_formats::narinfo::NarInfo;
use provenix_formats::signature::{PublicKey, SecretKey, Signature};
use provenix_formats::store_path::StoreDir;
use provenix_testkit::error_chain;

/// Runs `parse` on every file of `tests/data/bad/<format>`.
fn check_corpus<T: Debug, E: Error>(format: &str, min: usize, parse: impl Fn(&str, &[u8]) -> Result<T, E>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bad").join(format);
    let reasons = std::fs::read_to_string(dir.join("REASONS.txt")).unwrap();
    let mut listed = BTreeSet::new();
    for (n, line) in reasons.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let mut fields = line.splitn(3, '\t');
        let (Some(file), Some(expected), Some(why)) = (fields.next(), fields.next(), fields.next()) else {
            panic!("{format}/REASONS.txt line {}: want `file<TAB>substring<TAB>why`", n + 1);
        };
        assert!(!why.trim().is_empty(), "{format}/{file}: no reason given");
        assert!(listed.insert(file.to_owned()), "{format}/{file} is listed twice");
        let data = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{format}/{file}: {e}"));
        assert!(data.len() <= 16 * 1024, "{format}/{file} is not small");
        let err = match catch_unwind(AssertUnwindSafe(|| parse(file, &data))) {
            Err(_) => panic!("{format}/{file}: the parser panicked"),
            Ok(Ok(value)) => panic!("{format}/{file}: accepted ({why}): {value:?}"),
            Ok(Err(err)) => error_chain(&err),
        };
        assert!(err.contains(expected), "{format}/{file}: error `{err}` lacks `{expected}`");
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "REASONS.txt")
        .collect();
    assert_eq!(on_disk, listed, "{format}: files and REASONS.txt disagree");
    assert!(listed.len() >= min, "{format}: the corpus has {} files, want {min}", listed.len());
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

#[test]
fn every_malformed_nar_is_rejected_with_its_reason() {
    check_corpus("nar", 15, |_, data| nar::validate(data, HashAlgo::Sha256));
}

#[test]
fn every_malformed_export_stream_is_rejected_with_its_reason() {
    check_corpus("export", 6, |_, data| export::read_entries(data, &StoreDir::default()));
}

#[test]
fn every_malformed_drv_is_rejected_with_its_reason() {
    check_corpus("drv", 15, |_, data| Derivation::parse(data, &StoreDir::default()));
}

#[test]
fn every_malformed_narinfo_is_rejected_with_its_reason() {
    check_corpus("narinfo", 8, |_, data| NarInfo::parse(data, &StoreDir::default()).map(|i| format!("{i:?}")));
}

#[test]
fn every_malformed_key_is_rejected_with_its_reason() {
    // Files named `sec-*` are secret keys, `pub-*` public keys.
    check_corpus("key", 8, |file, data| {
        if file.starts_with("sec-") {
            SecretKey::parse(&text(data)).map(|k| format!("{k:?}"))
        } else {
            assert!(file.starts_with("pub-"), "{file} must start with sec- or pub-");
            PublicKey::parse(&text(data)).map(|k| k.to_string())
        }
    });
}

#[test]
fn every_malformed_signature_is_rejected_with_its_reason() {
    check_corpus("signature", 5, |_, data| Signature::parse(&text(data)).map(|s| s.to_string()));
}

#[test]
fn every_malformed_dsse_envelope_is_rejected_with_its_reason() {
    check_corpus("dsse", 10, |_, data| Envelope::parse(data));
}

#[test]
fn malformed_log_reports_are_rejected_with_their_reason() {
    check_corpus("log_report", 6, |_, data| provenix_formats::log::report::Entry::parse(data, &StoreDir::default()));
}
