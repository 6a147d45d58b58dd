//! Fuzz body for `narinfo` (being written, #2).
