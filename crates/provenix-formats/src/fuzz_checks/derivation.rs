//! Fuzz body for `derivation`: the `.drv` ATerm parser and everything fed
//! by a parsed derivation (writer, hash modulo, paths, show JSON).

use crate::derivation::{Derivation, write_show_json};
use crate::store_path::{StoreDir, StorePath};

/// Parses `data` as a `.drv`; for accepted input checks that the writer gives
/// the same bytes back and that they parse to the same value, then runs the
/// hashing and JSON code on it. Memory stays proportional to the input.
pub fn derivation(data: &[u8]) {
    let dir = StoreDir::default();
    let Ok(drv) = Derivation::parse(data, &dir) else {
        return;
    };
    let bytes = drv.to_bytes(&dir);
    assert_eq!(bytes, data, "accepted input must be exactly what the writer gives back");
    let again = Derivation::parse(&bytes, &dir).expect("the writer's bytes parse");
    assert_eq!(again, drv, "parse(write(x)) == x");

    // No panics on any accepted derivation; inputs are unknown here.
    let _ = drv.hash_modulo("fuzz", &dir, false, |_| None);
    let _ = drv.compute_output_paths("fuzz", &dir, |_| None);
    let _ = drv.compute_drv_path("fuzz", &dir);
    let drv_path = StorePath::from_digest(&[0; 20], "fuzz.drv").expect("valid name");
    let mut json = Vec::new();
    write_show_json([(&drv_path, &drv)], &dir, &mut json).expect("writing to a Vec");
    assert!(json.len() <= 8 * data.len() + 4096, "show JSON is {} bytes for {} input bytes", json.len(), data.len());
}
