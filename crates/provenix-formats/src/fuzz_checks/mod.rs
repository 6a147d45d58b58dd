//! Bodies of the `cargo fuzz` targets, one module per parser.
//!
//! Each function takes arbitrary bytes and checks that parsing never panics,
//! that memory stays bounded, and that parse -> render -> parse gives the
//! same value. The `fuzz/` crate calls these; `cargo test` replays the
//! committed seeds and past crashes through them (see `tests/fuzz_seeds.rs`).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod derivation;
pub mod dsse;
pub mod export;
pub mod hash;
pub mod log;
pub mod nar;
pub mod narinfo;
pub mod signature;
pub mod store_path;

/// The committed seeds of fuzz target `target` whose names end in `.ext`, sorted.
#[cfg(test)]
fn seed_files(target: &str, ext: &str) -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds").join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    out.sort();
    out
}
