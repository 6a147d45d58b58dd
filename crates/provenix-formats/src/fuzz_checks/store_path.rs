//! Fuzz body for `store_path` (being written, #2).
