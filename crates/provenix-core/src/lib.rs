//! provenix's jobs. Each returns a report struct and prints nothing.
//!
//! - [`attest`]: in-toto statements with SLSA provenance, signed and
//!   verified as DSSE envelopes;
//! - [`bundle`]: the source-only closure of some roots as one signed archive;
//!   [`rebuild`]: checked, imported and rebuilt offline in a fresh store;
//! - [`bootstrap`]: the binary seed of a closure (`sources --bootstrap`);
//! - [`sources`]: the inventory of fixed-output derivations (FODs) in a build
//!   closure, described by [`fod`] with URLs expanded by [`mirrors`];
//! - [`verify`]: tamper checks of the closure's paths and contents, hygiene,
//!   and refetching sources with [`fetch`];
//! - [`diff`]: what differs between two build outputs, file by file;
//! - [`identity`]: each derivation of a closure as a component (name,
//!   version, purl, CPEs, sources, patches, runtime and build edges);
//! - [`sbom`]: an inventory as a CycloneDX 1.6 or SPDX 2.3 document;
//! - [`vulndb`]: vulnerability data (NVD 2.0, CVE 5, OSV) indexed in SQLite
//!   and matched against a closure's components; [`vulns`]: the scan, with
//!   patches, whitelist and SARIF;
//! - [`review`]: release archives against their VCS trees ([`review::equiv`]),
//!   what changed between two closures' sources, signed reviews of sources,
//!   and the policy gate that counts independent reviewers.
//! - [`log`]: clients of a rebuild transparency log: submitting reports
//!   (`report`, the post-build hook's spool), reading what it says (`log show`,
//!   `challenge`, `verify --log`) and checking its history (`log verify`).
#![warn(missing_docs)]

pub mod attest;
pub mod bootstrap;
pub mod bundle;
pub mod diff;
pub mod fetch;
pub mod fod;
#[cfg(feature = "fuzzing")]
pub mod fuzz_checks;
pub mod identity;
pub mod log;
pub mod mirrors;
pub mod nixenv;
pub mod rebuild;
pub mod review;
pub mod sarif;
pub mod sbom;
pub mod sources;
pub mod text;
pub mod verify;
pub mod vulndb;
pub mod vulns;

pub use provenix_formats as formats;
pub use provenix_store as store;
