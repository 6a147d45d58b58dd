//! provenix's jobs. Each returns a report struct and prints nothing.
//!
//! The foundation issue provides the formats and store layers; the jobs
//! (sources, verify, bundle, rebuild, sbom, vulns, attest) land here next.
#![warn(missing_docs)]

pub mod fod;
pub mod mirrors;

pub use provenix_formats as formats;
pub use provenix_store as store;
