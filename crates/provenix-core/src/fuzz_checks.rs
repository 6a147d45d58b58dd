//! Fuzz target bodies for the untrusted input core reads (feature
//! `fuzzing`): a user's mirror file, and a FOD's environment, whose
//! `__json` (structured attrs) comes from whoever wrote the `.drv`. Each body
//! must not panic; `fuzz/` drives them and `cargo test` replays the seeds.

#![allow(clippy::panic)] // a fuzz body reports a broken invariant by panicking, for the fuzzer to see

use provenix_formats::derivation::{BString, Derivation, DerivationParts, Output, OutputName};
use provenix_formats::hash::{Hash, HashAlgo};
use provenix_formats::store_path::{ContentAddressMethod, StorePath};

use crate::fod::FodInfo;
use crate::mirrors::{MirrorTable, Resolved};

/// A mirror file: parses, and every site it defines resolves to its URLs.
pub fn mirrors(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(table) = MirrorTable::parse(text) else { return };
    for name in table.names() {
        let url = format!("mirror://{name}/dir/file.tar.gz");
        match table.resolve(&url) {
            Resolved::Mirrored { urls, .. } => assert!(!urls.is_empty(), "{name} resolves to nothing"),
            other => panic!("{name} is in the table but resolves to {other:?}"),
        }
    }
}

/// A fixed-output derivation whose environment is `data`: the first line is
/// the `urls` value and the rest the `__json` document, so both the plain
/// and the structured-attrs paths see hostile bytes.
pub fn fod_env(data: &[u8]) {
    let (urls, json) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (data.get(..i).unwrap_or_default(), data.get(i + 1..).unwrap_or_default()),
        None => (data, &[][..]),
    };
    let (Some(out), Ok(path)) =
        (OutputName::new("out"), StorePath::from_base_name("0123456789abcdfghijklmnpqrsvwxyz-fuzz"))
    else {
        return;
    };
    let output = Output::Fixed { method: ContentAddressMethod::Flat, hash: Hash::compute(HashAlgo::Sha256, b""), path };
    let mut env = vec![(BString::new(b"urls".to_vec()), BString::new(urls.to_vec()))];
    if !json.is_empty() {
        env.push((BString::new(b"__json".to_vec()), BString::new(json.to_vec())));
    }
    let parts = DerivationParts {
        outputs: [(out, output)].into_iter().collect(),
        platform: BString::new(b"x86_64-linux".to_vec()),
        builder: BString::new(b"builtin:fetchurl".to_vec()),
        env: env.into_iter().collect(),
        ..DerivationParts::default()
    };
    let Ok(drv) = Derivation::new(parts) else { return };
    let Some(info) = FodInfo::from_derivation("fuzz", &drv, &MirrorTable::builtin()) else {
        panic!("a fixed-output derivation is not described as a source");
    };
    assert!(info.urls.iter().all(|u| !u.is_empty()), "empty URL kept");
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn seeds(target: &str) -> Vec<Vec<u8>> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds").join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        files.into_iter().map(|p| std::fs::read(p).unwrap()).collect()
    }

    #[test]
    fn the_committed_seeds_pass_the_fuzz_bodies() {
        let mirrors = seeds("mirrors");
        assert!(!mirrors.is_empty());
        for seed in mirrors {
            super::mirrors(&seed);
        }
        let envs = seeds("fod_env");
        assert!(!envs.is_empty());
        for seed in envs {
            super::fod_env(&seed);
        }
    }
}
