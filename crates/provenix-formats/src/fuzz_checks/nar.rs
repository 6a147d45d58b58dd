//! Fuzz body for `nar` (being written, #2).
