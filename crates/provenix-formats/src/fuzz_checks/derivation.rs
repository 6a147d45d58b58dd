//! Fuzz body for `derivation` (being written, #2).
