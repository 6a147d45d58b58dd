//! Replays the committed fuzz seeds (`fuzz/seeds/<target>/`), past crashes
//! (`fuzz/regressions/<target>/`) and the malformed corpus
//! (`tests/data/bad/<format>/`) through the fuzz target bodies, so
//! `cargo test` catches any regression a fuzzer once found.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use provenix_formats::fuzz_checks as checks;

type Body = fn(&[u8]);

const TARGETS: &[(&str, &[&str], Body)] = &[
    ("store_path", &[], checks::store_path::store_path),
    ("hash", &[], checks::hash::hash),
    ("derivation", &["drv"], checks::derivation::derivation),
    ("nar", &["nar"], checks::nar::nar),
    ("export", &["export"], checks::export::export),
    ("narinfo", &["narinfo"], checks::narinfo::narinfo),
    ("key", &["key"], checks::signature::key),
    ("signature", &["signature"], checks::signature::signature),
    ("dsse", &["dsse"], checks::dsse::dsse),
    ("log_report", &["log_report"], checks::log::report),
    ("log_checkpoint", &["log_checkpoint"], checks::log::checkpoint),
    ("log_proof", &["log_proof"], checks::log::proof),
];

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

#[test]
fn every_seed_and_bad_input_passes_its_fuzz_body() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (target, bad_dirs, body) in TARGETS {
        let mut inputs = files_in(&root.join("../../fuzz/seeds").join(target));
        assert!(!inputs.is_empty(), "fuzz target {target} has no committed seeds");
        inputs.extend(files_in(&root.join("../../fuzz/regressions").join(target)));
        for bad in *bad_dirs {
            inputs.extend(files_in(&root.join("tests/data/bad").join(bad)));
        }
        for input in &inputs {
            let data = std::fs::read(input).unwrap();
            body(&data);
        }
    }
}
