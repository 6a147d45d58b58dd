//! Fuzz body for `signature` (being written, #2).
