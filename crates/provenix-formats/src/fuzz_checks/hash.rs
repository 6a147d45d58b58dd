//! Fuzz body for `hash` (being written, #2).
