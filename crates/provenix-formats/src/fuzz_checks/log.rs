//! Fuzz bodies for the log's formats (`fuzz/fuzz_targets/log_{report,checkpoint,proof}.rs`).

use crate::log::checkpoint::Checkpoint;
use crate::log::note::Note;
use crate::log::proof::{ConsistencyProof, InclusionProof, Receipt};
use crate::log::report::{Entry, MAX_ENTRY_LEN};
use crate::log::tile::TilePath;
use crate::store_path::StoreDir;

/// Parses `data` as a log entry; checks parse -> render gives the input and parses again.
pub fn report(data: &[u8]) {
    let Ok(entry) = Entry::parse(data, &StoreDir::default()) else { return };
    assert!(data.len() <= MAX_ENTRY_LEN);
    let bytes = entry.to_bytes();
    assert_eq!(bytes, data, "a parsed entry renders to its input");
    assert_eq!(Entry::parse(&bytes, &StoreDir::default()).unwrap(), entry);
    entry.report.validate(&StoreDir::default()).unwrap();
}

/// Parses `data` as a signed note and its text as a checkpoint; checks both round-trip.
pub fn checkpoint(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(cp) = Checkpoint::parse_text(text) {
            assert_eq!(cp.to_text(), text, "a parsed checkpoint renders to its input");
        }
    }
    let Ok(note) = Note::parse(data) else { return };
    assert_eq!(note.to_bytes(), data, "a parsed note renders to its input");
    assert_eq!(Note::parse(&note.to_bytes()).unwrap(), note);
    if let Ok(cp) = Checkpoint::parse_text(&note.text) {
        assert_eq!(Checkpoint::parse_text(&cp.to_text()).unwrap(), cp);
    }
}

/// Parses `data` as an inclusion proof, a consistency proof, a receipt and a tile path;
/// checks each round-trips through its rendering.
pub fn proof(data: &[u8]) {
    if let Ok(p) = InclusionProof::parse(data) {
        let json = serde_json::to_vec(&p.to_json()).unwrap();
        assert_eq!(InclusionProof::parse(&json).unwrap(), p);
    }
    if let Ok(p) = ConsistencyProof::parse(data) {
        let json = serde_json::to_vec(&p.to_json()).unwrap();
        assert_eq!(ConsistencyProof::parse(&json).unwrap(), p);
    }
    if let Ok(r) = Receipt::parse(data) {
        let json = serde_json::to_vec(&r.to_json()).unwrap();
        assert_eq!(Receipt::parse(&json).unwrap(), r);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(path) = TilePath::parse(text) {
            assert_eq!(path.to_string(), text, "a parsed tile path renders to its input");
        }
    }
}
