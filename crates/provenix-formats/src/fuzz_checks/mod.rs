//! Bodies of the `cargo fuzz` targets, one module per parser.
//!
//! Each function takes arbitrary bytes and checks that parsing never panics,
//! that memory stays bounded, and that parse -> render -> parse gives the
//! same value. The `fuzz/` crate calls these; `cargo test` replays the
//! committed seeds and past crashes through them (see `tests/fuzz_seeds.rs`).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod derivation;
pub mod export;
pub mod hash;
pub mod nar;
pub mod narinfo;
pub mod signature;
pub mod store_path;
