//! Reading derivations from a store (being written, #2).
