//! Log entries from rebuild attestations, and checking any log entry.
//!
//! A DSSE rebuild attestation from `provenix rebuild --attest-key` becomes
//! one build report per subject ([`entries_from_attestation`]):
//!
//! | report field | from the statement |
//! |---|---|
//! | `path`, `nar-hash` | `subject[].name` and `subject[].digest.sha256` |
//! | `drv`, `output` | the byproduct of the same name (`annotations.drv`, `annotations.output`) |
//! | `builder` | the first (sorted) trusted key that signed the envelope |
//! | `nix-version` | `runDetails.builder.version.nix` |
//! | `time` | `runDetails.metadata.finishedOn` (must be `YYYY-MM-DDTHH:MM:SSZ`) |
//! | `attestation` | sha256 of the envelope bytes as submitted |
//!
//! `nar-size` and `system` stay absent: the statement does not carry them.
//! Each entry keeps the whole envelope, so anyone can re-derive the report
//! and re-check the signature ([`check_entry`]); a report that differs from
//! what its envelope says is refused ([`LogReportError::NotInAttestation`]).

use provenix_formats::log::report::{Entry, Report, ReportError, Vouch};
use provenix_formats::signature::TrustedKeys;
use provenix_formats::store_path::StoreDir;
use serde_json::Value;
use thiserror::Error;

use crate::attest::{self, AttestError};

/// Errors from turning an attestation into entries or checking an entry.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LogReportError {
    /// The envelope or statement is malformed or does not verify.
    #[error("attestation")]
    Attest(#[from] AttestError),
    /// The statement is not SLSA provenance of a provenix rebuild.
    #[error("attestation: {what}")]
    NotRebuild {
        /// What is missing.
        what: String,
    },
    /// A derived report is malformed, or a signed entry does not verify.
    #[error("report")]
    Report(#[from] ReportError),
    /// The entry's report is not one its envelope says.
    #[error("the report for {path} is not what its attestation says")]
    NotInAttestation {
        /// The report's output path.
        path: String,
    },
}

impl LogReportError {
    /// True if the input is well formed but no trusted key vouches for it.
    pub fn is_verification_failure(&self) -> bool {
        match self {
            LogReportError::Attest(e) => e.is_verification_failure(),
            LogReportError::Report(ReportError::Unverified { .. }) => true,
            _ => false,
        }
    }
}

/// An entry whose signature or envelope was checked against trusted builder keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedEntry {
    entry: Entry,
}

impl CheckedEntry {
    /// The checked entry.
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// The entry, giving up the proof.
    pub fn into_inner(self) -> Entry {
        self.entry
    }
}

/// Verifies a DSSE rebuild attestation against `trusted` and derives one entry per subject.
pub fn entries_from_attestation(
    envelope_json: &[u8],
    trusted: &TrustedKeys,
    store: &StoreDir,
) -> Result<Vec<CheckedEntry>, LogReportError> {
    let verified = attest::verify(envelope_json, trusted)?;
    let not = |what: &str| LogReportError::NotRebuild { what: what.to_owned() };
    let builder = verified.signers.first().ok_or_else(|| not("no signer"))?.clone();
    let provenance = verified.statement.provenance_predicate()?;
    let run = &provenance.run_details;
    let nix_version = run.builder.version.get("nix").filter(|v| !v.is_empty()).ok_or_else(|| not("no Nix version"))?;
    let time = run.metadata.as_ref().and_then(|m| m.finished_on.clone()).ok_or_else(|| not("no finishedOn"))?;
    let attestation = provenix_formats::hash::sha256(envelope_json);
    let mut out = Vec::with_capacity(verified.statement.subject.len());
    for (i, subject) in verified.statement.subject.iter().enumerate() {
        let path = subject.name.clone().ok_or_else(|| not(&format!("subject[{i}] has no name")))?;
        let nar_hash = subject
            .digest
            .get("sha256")
            .and_then(|h| {
                provenix_formats::hash::Hash::parse_unprefixed(h, provenix_formats::hash::HashAlgo::Sha256).ok()
            })
            .and_then(|h| <[u8; 32]>::try_from(h.digest()).ok())
            .ok_or_else(|| not(&format!("subject[{i}] has no sha256")))?;
        let by = run.byproducts.iter().find(|b| b.name.as_deref() == Some(path.as_str()));
        let field = |k: &str| -> Option<String> {
            by.and_then(|b| b.annotations.as_ref()).and_then(|a| a.get(k)).and_then(Value::as_str).map(str::to_owned)
        };
        let (Some(drv), Some(output)) = (field("drv"), field("output")) else {
            return Err(not(&format!("no drv and output for subject {path}")));
        };
        let report = Report {
            drv,
            output,
            path,
            nar_hash,
            nar_size: None,
            builder: builder.clone(),
            system: None,
            nix_version: nix_version.clone(),
            time: time.clone(),
            attestation: Some(attestation),
        };
        report.validate(store)?;
        out.push(CheckedEntry { entry: Entry::from_envelope(report, envelope_json.to_vec()) });
    }
    Ok(out)
}

/// Checks an entry against trusted builder keys: its signature, or that its
/// envelope verifies and says exactly this report.
pub fn check_entry(entry: Entry, trusted: &TrustedKeys, store: &StoreDir) -> Result<CheckedEntry, LogReportError> {
    match &entry.vouch {
        Vouch::Signature(_) => Ok(CheckedEntry { entry: entry.verify_signature(trusted)?.into_inner() }),
        Vouch::Envelope(envelope) => {
            let derived = entries_from_attestation(envelope, trusted, store)?;
            if derived.iter().any(|d| d.entry == entry) {
                Ok(CheckedEntry { entry })
            } else {
                Err(LogReportError::NotInAttestation { path: entry.report.path })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attest::{
        BuildDefinition, BuildMetadata, Builder, Provenance, ResourceDescriptor, RunDetails, Statement,
    };
    use provenix_formats::signature::SecretKey;
    use serde_json::json;

    const OUT: &str = "/nix/store/z4asv3j07d89ywjf8fxkn7sg6mf5s9q5-hello-1.0";
    const DRV: &str = "/nix/store/0r2v93mqaf9d2zyqi8pgmyzmf879753y-hello-1.0.drv";

    fn envelope(key: &SecretKey) -> Vec<u8> {
        let subject = vec![ResourceDescriptor {
            name: Some(OUT.to_owned()),
            digest: [("sha256".to_owned(), "ab".repeat(32))].into_iter().collect(),
            ..Default::default()
        }];
        let provenance = Provenance {
            build_definition: BuildDefinition {
                build_type: "https://provenix.dev/rebuild/v1".to_owned(),
                external_parameters: json!({}),
                internal_parameters: None,
                resolved_dependencies: vec![],
            },
            run_details: RunDetails {
                builder: Builder {
                    id: "x".to_owned(),
                    version: [("nix".to_owned(), "2.8.0".to_owned())].into_iter().collect(),
                    builder_dependencies: vec![],
                },
                metadata: Some(BuildMetadata {
                    finished_on: Some("2026-12-07T09:00:00Z".to_owned()),
                    ..Default::default()
                }),
                // As `rebuild` writes it: the rebuilt output's digest beside its record.
                byproducts: vec![ResourceDescriptor {
                    name: Some(OUT.to_owned()),
                    digest: [("sha256".to_owned(), "ab".repeat(32))].into_iter().collect(),
                    annotations: json!({"drv": DRV, "output": "out", "verdict": "identical"}).as_object().cloned(),
                    ..Default::default()
                }],
            },
        };
        attest::sign(&Statement::provenance(subject, &provenance), &[key]).to_json()
    }

    #[test]
    fn an_attestation_gives_one_checked_entry_per_subject_and_an_edit_is_refused() {
        let key = SecretKey::from_seed("rebuilder", [5; 32]).unwrap();
        let trusted: TrustedKeys = [key.to_public()].into_iter().collect();
        let env = envelope(&key);
        let entries = entries_from_attestation(&env, &trusted, &StoreDir::default()).unwrap();
        assert_eq!(entries.len(), 1);
        let entry = entries[0].entry().clone();
        assert_eq!(entry.report.builder, "rebuilder");
        assert_eq!(entry.report.nar_hash, [0xab; 32]);
        let bytes = entry.to_bytes();
        let parsed = Entry::parse(&bytes, &StoreDir::default()).unwrap();
        check_entry(parsed.clone(), &trusted, &StoreDir::default()).unwrap();
        let mut edited = parsed;
        edited.report.nar_hash = [0xac; 32];
        assert!(matches!(
            check_entry(edited, &trusted, &StoreDir::default()),
            Err(LogReportError::NotInAttestation { .. })
        ));
        let stranger = SecretKey::from_seed("rebuilder", [6; 32]).unwrap();
        let untrusted: TrustedKeys = [stranger.to_public()].into_iter().collect();
        let err = entries_from_attestation(&env, &untrusted, &StoreDir::default()).unwrap_err();
        assert!(err.is_verification_failure(), "{err:#?}");
    }
}
