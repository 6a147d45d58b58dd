//! Fuzz body for hashes (`fuzz/fuzz_targets/hash.rs`).

use crate::hash::{Hash, HashAlgo};

/// Parses `data` as a hash in every way Nix allows; checks that each
/// rendering of a parsed hash parses back to the same hash.
pub fn hash(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parsed = Vec::new();
    if let Ok(h) = Hash::parse(text, None) {
        parsed.push(h);
    }
    if let Ok(h) = Hash::parse_sri(text) {
        parsed.push(h);
    }
    for algo in HashAlgo::ALL {
        if let Ok(h) = Hash::parse(text, Some(algo)) {
            assert_eq!(h.algo(), algo);
            parsed.push(h);
        }
        if let Ok(h) = Hash::parse_unprefixed(text, algo) {
            parsed.push(h);
        }
    }
    for h in parsed {
        assert_eq!(h.digest().len(), h.algo().digest_len());
        let algo = Some(h.algo());
        for form in [h.to_string(), h.to_prefixed_nixbase32(), h.to_sri()] {
            assert_eq!(Hash::parse(&form, None).unwrap(), h, "{form}");
        }
        for form in [h.to_base16(), h.to_nixbase32(), h.to_base64()] {
            assert_eq!(Hash::parse(&form, algo).unwrap(), h, "{form}");
        }
    }
}
