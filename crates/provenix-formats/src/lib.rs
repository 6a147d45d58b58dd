//! Nix's data formats, implemented to match Nix 2.8 byte for byte.
//!
//! This crate is pure: bytes in, values out. It does no file-system or network
//! I/O, starts no threads and reads no environment variables; the store
//! directory is always a parameter ([`store_path::StoreDir`]).
//!
//! | module | format |
//! |---|---|
//! | [`nixbase32`] | Nix's base-32 alphabet and bit order |
//! | [`hash`] | md5/sha1/sha256/sha512 digests in every textual form Nix accepts |
//! | [`store_path`] | store path names and their computation (input-addressed, fixed-output, text) |
//! | [`derivation`] | `.drv` ATerm parse/serialise, hash modulo, output paths |
//! | [`nar`] | Nix ARchive streaming writer, validating reader, wire format |
//! | [`export`] | `nix-store --export` / `--import` streams |
//! | [`narinfo`] | binary-cache `.narinfo` files and their fingerprint |
//! | [`signature`] | ed25519 keys and signatures in Nix's `name:base64` form |
//! | [`dsse`] | DSSE v1 signing envelopes (in-toto attestations), signed with those keys |
//! | [`log`] | the rebuild log: build reports, RFC 9162 Merkle proofs, C2SP checkpoints, notes and tiles |
#![warn(missing_docs)]
#![deny(clippy::indexing_slicing)]

pub mod derivation;
pub mod dsse;
pub mod export;
pub mod hash;
pub mod log;
pub mod nar;
pub mod narinfo;
pub mod nixbase32;
pub mod signature;
pub mod store_path;

#[cfg(feature = "fuzzing")]
pub mod fuzz_checks;
