//! The I/O layer: a Nix store as data.
//!
//! A [`Store`] has a logical directory (part of every hash, default
//! `/nix/store`) and a physical root where its files live: `--store ROOT`
//! reads `ROOT/nix/store`, like Nix's `local?root=`.
#![warn(missing_docs)]

pub mod cleanup;
pub mod db;
pub mod drv;
pub mod fs;
pub mod graph;
pub mod nar;
pub mod nix;
pub mod roots;
pub mod store;

pub use store::{Store, StoreError};
