//! Drives the malformed key and signature corpora `tests/data/bad/key/`
//! (files named `sec-*` are secret keys, `pub-*` public keys) and
//! `tests/data/bad/signature/`: every file must be refused, with an error
//! chain containing the substring its line in `REASONS.txt` names
//! (`<file>\t<substring>\t<why>`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::error::Error;
use std::path::Path;

use provenix_formats::signature::{PublicKey, SecretKey, Signature, SignatureError};

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

/// Runs `parse` on every case in `dir`; returns how many there were.
fn refuses_all(dir: &str, parse: impl Fn(&str, &str) -> Result<String, SignatureError>) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bad").join(dir);
    let cases = reasons(&dir);
    for (file, expected) in &cases {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        match parse(file, &text) {
            Ok(value) => panic!("{file} parsed: {value}"),
            Err(err) => {
                let message = chain(&err);
                assert!(message.contains(expected.as_str()), "{file}: error {message:?} lacks {expected:?}");
            }
        }
    }
    cases.len()
}

#[test]
fn every_malformed_key_is_refused_with_its_reason() {
    let n = refuses_all("key", |file, text| {
        if file.starts_with("sec-") {
            SecretKey::parse(text).map(|k| format!("{k:?}"))
        } else {
            assert!(file.starts_with("pub-"), "{file} must start with sec- or pub-");
            PublicKey::parse(text).map(|k| k.to_string())
        }
    });
    assert!(n >= 8);
}

#[test]
fn every_malformed_signature_is_refused_with_its_reason() {
    let n = refuses_all("signature", |_, text| Signature::parse(text).map(|s| s.to_string()));
    assert!(n >= 5);
}
