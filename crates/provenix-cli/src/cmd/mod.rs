//! One module per subcommand; each exports its clap arguments and `run`.

pub(crate) mod attest;
pub(crate) mod bundle;
pub(crate) mod diff_output;
pub(crate) mod drv;
pub(crate) mod key;
pub(crate) mod nar;
pub(crate) mod rebuild;
pub(crate) mod roots;
pub(crate) mod sbom;
pub(crate) mod sources;
pub(crate) mod verify;
pub(crate) mod vulns;

/// Every command escapes untrusted text it prints with this.
pub(crate) use provenix_core::text::escape_controls;
