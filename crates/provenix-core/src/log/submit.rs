//! Submitting build reports to a rebuild transparency log (`provenix report`)
//! and checking what comes back (docs/log.md, "Client").
//!
//! 1. [`report_for_output`] describes a local output: its deriver and output
//!    name from the Nix database (or the `.drv` a post-build hook names), its
//!    NAR sha256 and size computed from the files, the `.drv`'s system and
//!    the time Nix registered it. The caller signs it with the builder key.
//! 2. [`Submitter`] POSTs a signed entry (`/api/v1/reports`) or a rebuild
//!    attestation (`/api/v1/attestations`) within a deadline and returns the
//!    receipts; a refusal keeps the server's error code (`unknown-builder`, ...).
//! 3. [`check_receipt`] checks the receipt's inclusion proof against the
//!    entry's own bytes and, given the log's public key, the checkpoint's
//!    signature and origin. Without a key the proof is checked against the
//!    checkpoint's root as written, and the result says it is not authenticated.
//! 4. [`compare`] says how this build's NAR hash compares with what the
//!    other builders reported for the same output (`check::LogClient::lookup`).
//!
//! Cost: one NAR serialisation of the output (streamed), one signature, two
//! HTTP requests per report.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use provenix_formats::hash::HashAlgo;
use provenix_formats::log::checkpoint::{Checkpoint, CheckpointError};
use provenix_formats::log::note::Note;
use provenix_formats::log::proof::{ProofJsonError, Receipt};
use provenix_formats::log::report::Report;
use provenix_formats::signature::PublicKey;
use provenix_formats::store_path::StorePath;
use provenix_store::Store;
use provenix_store::db::{DbError, NixDb};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::log::check::{LoggedOutput, MAX_ANSWER_LEN};

/// Errors describing a local output or talking to the log.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The URL is not `http://` or `https://`.
    #[error("log server `{0}`: expected an http:// or https:// URL")]
    Url(String),
    /// The request failed: refused connection, timeout, broken answer.
    #[error("sending to {url}")]
    Http {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: ureq::Error,
    },
    /// No time was left before the deadline.
    #[error("sending to {url}: out of time (deadline reached)")]
    Deadline {
        /// The URL.
        url: String,
    },
    /// The server refused the submission (4xx) or failed (5xx).
    #[error("{url}: the server answered {status} {code}: {message}")]
    Refused {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The documented error code (`unknown-builder`, `bad-signature`, ...), or `""`.
        code: String,
        /// The server's message, or the start of its body.
        message: String,
    },
    /// The answer is not the documented JSON.
    #[error("{url}: the answer is not the log's JSON")]
    Json {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The receipt in the answer does not parse.
    #[error("{url}: the receipt does not parse")]
    Receipt {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: ProofJsonError,
    },
    /// The Nix database could not be read.
    #[error("the Nix database")]
    Db(#[from] DbError),
    /// The output is not a valid path of the store.
    #[error("{path} is not a valid path in the Nix database {}", db.display())]
    NotValid {
        /// The output.
        path: String,
        /// The database.
        db: PathBuf,
    },
    /// The output has no known deriver.
    #[error("{path} has no deriver in the Nix database (was it built here, or added with nix-store --add?)")]
    NoDeriver {
        /// The output.
        path: String,
    },
    /// The derivation does not list the output.
    #[error("{drv} has no output {path}")]
    NotAnOutput {
        /// The derivation.
        drv: String,
        /// The output.
        path: String,
    },
    /// The `.drv` file could not be read.
    #[error("reading the derivation")]
    Drv(#[from] provenix_store::drv::DrvError),
    /// The output's files could not be serialised.
    #[error("hashing {path}")]
    Nar {
        /// The output.
        path: String,
        /// Why.
        #[source]
        source: provenix_store::nar::NarFsError,
    },
}

impl SubmitError {
    /// True when the server could not be reached or failed on its side
    /// (connection, timeout, 5xx): the report is worth keeping and resending.
    /// A 4xx refusal is final: the same bytes would be refused again.
    pub fn is_transient(&self) -> bool {
        match self {
            SubmitError::Http { .. } | SubmitError::Deadline { .. } => true,
            SubmitError::Refused { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            _ => false,
        }
    }
}

/// What the server answers for one sequenced entry.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The entry's index in the log.
    pub index: u64,
    /// The receipt: inclusion proof under a signed checkpoint.
    pub receipt: Receipt,
}

/// A client that submits to one log server.
pub struct Submitter {
    base: String,
    agent: ureq::Agent,
    connect: Duration,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    error: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct SubmittedAnswer {
    index: u64,
    receipt: serde_json::Value,
}

#[derive(Deserialize)]
struct AttestationAnswer {
    entries: Vec<SubmittedAnswer>,
}

impl Submitter {
    /// A client of the server at `base` (`http://host:port`, a trailing `/`
    /// allowed). `connect` bounds each connection attempt; each request is
    /// also bounded by the deadline given to it.
    pub fn new(base: &str, connect: Duration) -> Result<Submitter, SubmitError> {
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(SubmitError::Url(base.to_owned()));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_connect(Some(connect))
            .build()
            .new_agent();
        Ok(Submitter { base: base.trim_end_matches('/').to_owned(), agent, connect })
    }

    /// The server's base URL, without a trailing `/`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// POSTs one signed entry (its canonical bytes) and returns its receipt.
    pub fn submit_entry(&self, entry: &[u8], deadline: Instant) -> Result<Submitted, SubmitError> {
        let url = format!("{}/api/v1/reports", self.base);
        let body = self.post(&url, "text/plain; charset=utf-8", entry, deadline)?;
        let answer: SubmittedAnswer =
            serde_json::from_slice(&body).map_err(|source| SubmitError::Json { url: url.clone(), source })?;
        submitted(&url, answer)
    }

    /// POSTs a DSSE rebuild attestation and returns one receipt per subject, in the server's order.
    pub fn submit_attestation(&self, envelope: &[u8], deadline: Instant) -> Result<Vec<Submitted>, SubmitError> {
        let url = format!("{}/api/v1/attestations", self.base);
        let body = self.post(&url, "application/json", envelope, deadline)?;
        let answer: AttestationAnswer =
            serde_json::from_slice(&body).map_err(|source| SubmitError::Json { url: url.clone(), source })?;
        answer.entries.into_iter().map(|a| submitted(&url, a)).collect()
    }

    fn post(&self, url: &str, content_type: &str, body: &[u8], deadline: Instant) -> Result<Vec<u8>, SubmitError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(SubmitError::Deadline { url: url.to_owned() });
        }
        let http = |source| SubmitError::Http { url: url.to_owned(), source };
        let mut resp = self
            .agent
            .post(url)
            .config()
            .timeout_global(Some(left))
            .timeout_connect(Some(self.connect.min(left)))
            .build()
            .header("content-type", content_type)
            .send(body)
            .map_err(http)?;
        let status = resp.status().as_u16();
        let bytes = resp.body_mut().with_config().limit(MAX_ANSWER_LEN).read_to_vec().map_err(http)?;
        if status != 201 && status != 200 {
            let (code, message) = match serde_json::from_slice::<ErrorAnswer>(&bytes) {
                Ok(e) => (e.error, e.message),
                Err(_) => (String::new(), String::from_utf8_lossy(&bytes).chars().take(200).collect()),
            };
            return Err(SubmitError::Refused { url: url.to_owned(), status, code, message });
        }
        Ok(bytes)
    }
}

fn submitted(url: &str, answer: SubmittedAnswer) -> Result<Submitted, SubmitError> {
    let json = serde_json::to_vec(&answer.receipt).unwrap_or_default();
    let receipt = Receipt::parse(&json).map_err(|source| SubmitError::Receipt { url: url.to_owned(), source })?;
    Ok(Submitted { index: answer.index, receipt })
}

/// What [`check_receipt`] established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptCheck {
    /// The entry's index.
    pub index: u64,
    /// The size of the tree the proof is for.
    pub tree_size: u64,
    /// The checkpoint's origin line.
    pub origin: String,
    /// True if the checkpoint's signature was checked with the log's key.
    pub authenticated: bool,
}

/// Checks that `entry` is at the receipt's index in the checkpoint's tree
/// and, with `log_key`, that the log signed the checkpoint (origin = the key's
/// name). Without a key only the proof against the checkpoint's root is
/// checked: anyone could have written that checkpoint.
pub fn check_receipt(
    entry: &[u8],
    receipt: &Receipt,
    log_key: Option<&PublicKey>,
) -> Result<ReceiptCheck, ProofJsonError> {
    let (checkpoint, authenticated) = match log_key {
        Some(key) => (receipt.verify(entry, key, key.name())?, true),
        None => {
            let note = Note::parse(receipt.checkpoint.as_bytes()).map_err(CheckpointError::from)?;
            let checkpoint = Checkpoint::parse_text(&note.text)?;
            if receipt.inclusion.leaf_index != receipt.index || receipt.inclusion.tree_size != checkpoint.size {
                return Err(ProofJsonError::Mismatch {
                    index: receipt.inclusion.leaf_index,
                    size: receipt.inclusion.tree_size,
                    claimed: receipt.index,
                    checkpoint: checkpoint.size,
                });
            }
            receipt.inclusion.verify(entry, &checkpoint.root)?;
            (checkpoint, false)
        }
    };
    Ok(ReceiptCheck { index: receipt.index, tree_size: checkpoint.size, origin: checkpoint.origin, authenticated })
}

/// How a build compares with the other builders' reports of the same output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Agreement {
    /// Every other builder that reported the output got the same NAR hash.
    Matches,
    /// Some report of the output has another NAR hash.
    Differs,
    /// No other builder has reported the output yet.
    First,
}

/// The comparison of one build with the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// The outcome.
    pub agreement: Agreement,
    /// The log's verdict for the output (`reproduced`, `disputed`, `single`, `unknown`).
    pub verdict: String,
    /// Other builders that reported this build's NAR hash, sorted.
    pub matching: Vec<String>,
    /// Every other NAR hash reported for the output, with who reported it
    /// (this builder too, if it disagreed with itself before).
    pub differing: Vec<OtherHash>,
}

/// Another NAR hash of the same output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OtherHash {
    /// `sha256:<nixbase32>`.
    pub nar_hash: String,
    /// Builders that reported it, sorted.
    pub builders: Vec<String>,
}

impl Comparison {
    /// The builders that reported another hash, each once, sorted.
    pub fn differing_builders(&self) -> Vec<String> {
        let mut all: Vec<String> = self.differing.iter().flat_map(|h| h.builders.iter().cloned()).collect();
        all.sort();
        all.dedup();
        all
    }
}

/// Compares `nar_hash` (`sha256:<nixbase32>`) reported by `builder` with the
/// log's answer about the same output (`None`: the log knows nothing of it).
pub fn compare(output: Option<&LoggedOutput>, builder: &str, nar_hash: &str) -> Comparison {
    let Some(output) = output else {
        return Comparison {
            agreement: Agreement::First,
            verdict: "unknown".to_owned(),
            matching: Vec::new(),
            differing: Vec::new(),
        };
    };
    let mut matching = Vec::new();
    let mut differing = Vec::new();
    for group in &output.hashes {
        if group.nar_hash == nar_hash {
            matching.extend(group.builders.iter().filter(|b| *b != builder).cloned());
        } else {
            let mut builders = group.builders.clone();
            builders.sort();
            builders.dedup();
            differing.push(OtherHash { nar_hash: group.nar_hash.clone(), builders });
        }
    }
    matching.sort();
    matching.dedup();
    let agreement = if !differing.is_empty() {
        Agreement::Differs
    } else if matching.is_empty() {
        Agreement::First
    } else {
        Agreement::Matches
    };
    Comparison { agreement, verdict: output.verdict.clone(), matching, differing }
}

/// The build report of a local output, unsigned, for `builder`.
///
/// `drv` is the derivation that built it when the caller knows it (a
/// post-build hook's `DRV_PATH`); otherwise the database's deriver. The
/// output name comes from the database's `DerivationOutputs`, or from the
/// `.drv` file's outputs. `time` is when Nix registered the path.
pub fn report_for_output(
    store: &Store,
    db: &NixDb,
    path: &StorePath,
    drv: Option<&StorePath>,
    builder: &str,
    nix_version: &str,
) -> Result<Report, SubmitError> {
    let dir = store.dir();
    let shown = dir.display(path);
    let info =
        db.path_info(path)?.ok_or_else(|| SubmitError::NotValid { path: shown.clone(), db: db.path().into() })?;
    let drv = match drv {
        Some(d) => d.clone(),
        None => info.deriver.clone().ok_or_else(|| SubmitError::NoDeriver { path: shown.clone() })?,
    };
    let derivation = provenix_store::drv::read_derivation(store, &drv)?;
    let from_db = db.derivation_outputs(&drv)?.into_iter().find(|(_, p)| p == path).map(|(name, _)| name);
    let output = from_db.or_else(|| {
        derivation.outputs().iter().find(|(_, o)| o.path() == Some(path)).map(|(name, _)| name.as_str().to_owned())
    });
    let output = output.ok_or_else(|| SubmitError::NotAnOutput { drv: dir.display(&drv), path: shown.clone() })?;
    let (nar_hash, nar_size) = provenix_store::nar::hash_path(&store.physical(path), HashAlgo::Sha256)
        .map_err(|source| SubmitError::Nar { path: shown.clone(), source })?;
    let nar_hash = <[u8; 32]>::try_from(nar_hash.digest()).unwrap_or([0; 32]);
    let system = std::str::from_utf8(derivation.platform()).ok().filter(|s| !s.is_empty()).map(str::to_owned);
    let registered = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(info.registration_time).unwrap_or(0));
    Ok(Report {
        drv: dir.display(&drv),
        output,
        path: shown,
        nar_hash,
        nar_size: Some(nar_size),
        builder: builder.to_owned(),
        system,
        nix_version: nix_version.to_owned(),
        time: crate::rebuild::rfc3339(registered),
        attestation: None,
    })
}

/// The outputs of `drv` that are valid in the database, for a post-build hook
/// whose `OUT_PATHS` is empty (Nix 2.8 leaves it so): the `.drv`'s output
/// paths, else the database's `DerivationOutputs`.
pub fn valid_outputs(store: &Store, db: &NixDb, drv: &StorePath) -> Result<Vec<StorePath>, SubmitError> {
    let derivation = provenix_store::drv::read_derivation(store, drv)?;
    let mut paths: Vec<StorePath> = derivation.outputs().values().filter_map(|o| o.path().cloned()).collect();
    if paths.is_empty() {
        paths = db.derivation_outputs(drv)?.into_iter().map(|(_, p)| p).collect();
    }
    let mut valid = Vec::with_capacity(paths.len());
    for p in paths {
        if db.is_valid(&p)? {
            valid.push(p);
        }
    }
    Ok(valid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::check::HashGroup;

    fn output(groups: &[(&str, &[&str])]) -> LoggedOutput {
        LoggedOutput {
            path: "/nix/store/x".into(),
            drv: "/nix/store/x.drv".into(),
            output: "out".into(),
            verdict: "v".into(),
            hashes: groups
                .iter()
                .map(|(h, b)| HashGroup { nar_hash: (*h).into(), builders: b.iter().map(|s| (*s).into()).collect() })
                .collect(),
            reports: Vec::new(),
        }
    }

    #[test]
    fn a_build_matches_differs_or_comes_first() {
        let c = compare(Some(&output(&[("h1", &["me", "b", "a"])])), "me", "h1");
        assert_eq!((c.agreement, c.matching.clone()), (Agreement::Matches, vec!["a".to_owned(), "b".to_owned()]));
        let c = compare(Some(&output(&[("h1", &["me"]), ("h2", &["c", "b", "c"])])), "me", "h1");
        assert_eq!(c.agreement, Agreement::Differs);
        assert_eq!(c.differing, vec![OtherHash { nar_hash: "h2".into(), builders: vec!["b".into(), "c".into()] }]);
        // A builder that disagrees with itself differs.
        let c = compare(Some(&output(&[("h1", &["me"]), ("h2", &["me"])])), "me", "h1");
        assert_eq!((c.agreement, c.differing_builders()), (Agreement::Differs, vec!["me".to_owned()]));
        assert_eq!(compare(Some(&output(&[("h1", &["me", "me"])])), "me", "h1").agreement, Agreement::First);
        assert_eq!(compare(None, "me", "h1").agreement, Agreement::First);
    }

    #[test]
    fn transient_errors_are_told_from_refusals() {
        let refused =
            |status| SubmitError::Refused { url: "u".into(), status, code: "x".into(), message: String::new() };
        assert!(refused(503).is_transient());
        assert!(!refused(403).is_transient());
        assert!(SubmitError::Deadline { url: "u".into() }.is_transient());
        assert!(!SubmitError::Url("ftp://x".into()).is_transient());
    }
}
