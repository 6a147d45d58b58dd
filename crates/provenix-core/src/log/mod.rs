//! Clients of a rebuild transparency log (`provenix serve`, docs/log.md). The
//! log's formats (reports, Merkle tree, checkpoints, tiles, proofs) live in
//! `provenix_formats::log`; this module talks to a server and judges its answers.
//!
//! - [`report`]: rebuild attestations as log entries, and checking any entry;
//! - [`submit`]: submitting reports, checking receipts, comparing with other
//!   builders (`provenix report`), with [`spool`] for what a post-build hook
//!   could not deliver;
//! - [`check`]: the HTTP client: outputs, checkpoint, proofs, tiles, entries
//!   (`log show`);
//! - [`compare`]: local outputs against the log (`challenge`, `verify --log`);
//! - [`audit`]: a log's checkpoints against the last one seen (`log verify`).

pub mod audit;
pub mod check;
pub mod compare;
pub mod report;
pub mod spool;
pub mod submit;
