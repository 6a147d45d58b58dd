//! Fuzz body for store paths (`fuzz/fuzz_targets/store_path.rs`).

use crate::store_path::{StoreDir, StorePath};

/// Parses `data` as a base name, a full path, a path inside a store path and
/// a store directory; checks parse -> render -> parse for each.
pub fn store_path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(path) = StorePath::from_base_name(text) {
        assert_eq!(path.to_string(), text);
        let again = StorePath::from_base_name(&path.to_string()).unwrap();
        assert_eq!(again, path);
        assert_eq!(StorePath::from_digest(&path.digest(), path.name()).unwrap(), path);
    }
    let store = StoreDir::default();
    if let Ok(path) = store.parse_path(text) {
        assert_eq!(store.display(&path), text);
    }
    if let Ok((path, rest)) = store.parse_path_prefix(text) {
        assert_eq!(format!("{}{rest}", store.display(&path)), text);
    }
    if let Ok(dir) = StoreDir::new(text) {
        assert_eq!(dir.as_str(), text);
        assert_eq!(StoreDir::new(&dir.to_string()).unwrap(), dir);
    }
}
