//! Fuzz body for `export` (being written, #2).
