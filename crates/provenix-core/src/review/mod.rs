//! Review of sources: release archives against their VCS trees, what changed
//! between two closures, signed reviews, and the policy gate that counts
//! independent reviewers per source.
//!
//! - [`equiv`]: a release archive against the VCS tree of the same version,
//!   file by file (`provenix equiv`, and inside `verify`);
//! - [`closure_diff`]: the sources, patches and dependencies two closures
//!   differ in (`provenix diff`);
//! - [`source_files`]: the file-level diff of each changed source (`diff --files`);
//! - [`record`]: review records, in-toto statements in DSSE envelopes
//!   (`provenix review`);
//! - [`policy`]: a TOML policy and the check of a closure against it
//!   (`provenix policy check`), with SARIF output ([`sarif`]);
//! - [`check_cache`]: signature checks remembered between runs of the gate.

pub mod check_cache;
pub mod closure_diff;
pub mod equiv;
pub mod policy;
pub mod record;
pub mod sarif;
pub mod source_files;
