//! The rebuild transparency log's formats: what builders submit, how the
//! log hashes and cuts it, and what it signs.
//!
//! | module | format |
//! |---|---|
//! | [`report`] | build reports and log entries (canonical text, signed with Nix-format keys) |
//! | [`merkle`] | RFC 9162 tree hashing, inclusion and consistency proofs |
//! | [`proof`] | the JSON form of proofs the server hands out |
//! | [`note`] | C2SP signed notes |
//! | [`checkpoint`] | C2SP tlog-checkpoint bodies |
//! | [`tile`] | C2SP tlog-tiles paths, tiles as a node source, the sequencer's right edge |
//!
//! We write these ourselves rather than use crates.io `tlog_tiles` /
//! `signed_note` (see the comment in this crate's Cargo.toml).

pub mod checkpoint;
pub mod merkle;
pub mod note;
pub mod proof;
pub mod report;
pub mod tile;
