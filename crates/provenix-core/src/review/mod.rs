//! Review: what changed between two closures, signed reviews of sources, and
//! the policy gate that counts independent reviewers per source.
//!
//! - [`closure_diff`]: the sources, patches and dependencies two closures
//!   differ in (`provenix diff`);
//! - [`record`]: review records, in-toto statements in DSSE envelopes
//!   (`provenix review`);
//! - [`policy`]: a TOML policy and the check of a closure against it
//!   (`provenix policy check`), with SARIF output ([`sarif`]).

pub mod closure_diff;
pub mod policy;
pub mod record;
pub mod sarif;
