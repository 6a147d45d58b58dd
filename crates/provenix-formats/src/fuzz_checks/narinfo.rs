//! Fuzz body for narinfo (`fuzz/fuzz_targets/narinfo.rs`).
//!
//! A narinfo renders every field from the text it was parsed from, so an
//! accepted input renders to exactly as many bytes as it has (fields may
//! move into Nix's order), and the rendering parses to an equal value.

use crate::narinfo::NarInfo;
use crate::signature::TrustedKeys;
use crate::store_path::StoreDir;

/// Parses `data` as a narinfo in `/nix/store`; checks parse -> render -> parse.
pub fn narinfo(data: &[u8]) {
    let store = StoreDir::default();
    let Ok(info) = NarInfo::parse(data, &store) else { return };
    let rendered = info.to_string();
    assert_eq!(rendered.len(), data.len(), "rendering keeps every byte of the fields");
    let again = NarInfo::parse(rendered.as_bytes(), &store).unwrap();
    assert_eq!(again, info);
    assert_eq!(again.to_string(), rendered);
    let fingerprint = info.fingerprint(&store);
    assert!(fingerprint.starts_with("1;/nix/store/"));
    let findings = info.check_signatures(&store, &TrustedKeys::new());
    assert_eq!(findings.len(), info.signatures().len());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narinfo_seeds_and_bad_narinfo_pass_the_narinfo_body() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut accepted = 0;
        for dir in ["../../fuzz/seeds/narinfo", "tests/data/bad/narinfo"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let data = std::fs::read(entry.unwrap().path()).unwrap();
                narinfo(&data);
                accepted += usize::from(NarInfo::parse(&data, &StoreDir::default()).is_ok());
            }
        }
        assert_eq!(accepted, 3, "the three seeds parse, no bad file does");
    }

    #[test]
    fn a_reordered_narinfo_passes_the_narinfo_body() {
        narinfo(b"NarSize: 1\nNarHash: sha256:0q6yj9sbg7xi8kks5cmqc38xcpprb64a18cq9d67pds7sw04di7k\nURL: u\nX: y\nStorePath: /nix/store/0r2v93mqaf9d2zyqi8pgmyzmf879753y-top\n");
    }
}
