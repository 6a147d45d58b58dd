//! Local outputs against a rebuild transparency log: `provenix challenge`
//! (what the log says, as `guix challenge` does) and `verify --log` (what
//! trusted builders signed).
//!
//! 1. the realised outputs of the build closure: every output of a
//!    non-fixed-output derivation that the Nix database (or, without one, the
//!    store directory) has. Fixed-output derivations are left out: their
//!    content is pinned by the declared hash, which `verify` checks;
//! 2. their NAR sha256, computed natively and in parallel (streaming; O(bytes)),
//!    or taken from a hash `verify` has just computed;
//! 3. per output, one `GET /api/v1/outputs` ([`challenge`]); with trusted
//!    builder keys ([`reproduction_findings`]) also each listed entry under a
//!    trusted builder's name, whose signature (or envelope) is checked with
//!    the trusted key of that name,
//!    so only what a trusted key signed counts, never the server's summary.
//!    The server still chooses which reports it lists: a hidden report is
//!    not seen, a forged one is not counted.

use std::collections::{BTreeMap, BTreeSet};

use provenix_formats::hash::{Hash, HashAlgo};
use provenix_formats::log::report::Entry;
use provenix_formats::signature::TrustedKeys;
use provenix_formats::store_path::StorePath;
use provenix_store::Store;
use provenix_store::db::NixDb;
use provenix_store::drv::DrvClosure;
use provenix_store::nar::{NarFsError, hash_path};
use rayon::prelude::*;
use serde::Serialize;

use crate::log::check::{LogCheckError, LogClient};
use crate::log::report::check_entry;
use crate::verify::{Finding, FindingKind, Progress};

/// Errors that stop a comparison (as opposed to what it finds).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogCompareError {
    /// Reading the Nix database failed.
    #[error("reading the Nix database")]
    Db(#[from] provenix_store::db::DbError),
    /// A realised output could not be hashed.
    #[error("hashing {path}")]
    Read {
        /// The store path.
        path: String,
        /// Why.
        #[source]
        source: NarFsError,
    },
    /// Asking the log failed.
    #[error("asking the log")]
    Log(#[from] LogCheckError),
}

/// One realised output and its local NAR hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalOutput {
    /// Its `.drv`, as displayed (`/nix/store/…`).
    pub drv: String,
    /// The output name.
    pub output: String,
    /// The output path, as displayed.
    pub path: String,
    /// Its NAR sha256.
    pub nar_hash: Hash,
}

/// The realised outputs of a closure.
#[derive(Debug, Clone, Default)]
pub struct LocalOutputs {
    /// Sorted by path.
    pub outputs: Vec<LocalOutput>,
    /// Outputs of non-fixed-output derivations that are not realised.
    pub unrealised: usize,
}

/// The realised outputs of `closure`'s non-fixed-output derivations with their
/// NAR sha256: from `known` when it has the path, else hashed here (in parallel).
pub fn local_outputs(
    store: &Store,
    closure: &DrvClosure,
    db: Option<&NixDb>,
    known: &BTreeMap<StorePath, Hash>,
    progress: &dyn Progress,
) -> Result<LocalOutputs, LogCompareError> {
    let dir = store.dir();
    let mut wanted: BTreeMap<StorePath, (String, String)> = BTreeMap::new();
    for (drv_path, drv) in closure.iter() {
        if drv.is_fixed_output() {
            continue;
        }
        for (name, output) in drv.outputs().iter() {
            if let Some(path) = output.path() {
                wanted.entry(path.clone()).or_insert_with(|| (dir.display(drv_path), name.to_string()));
            }
        }
    }
    let paths: Vec<StorePath> = wanted.keys().cloned().collect();
    let realised: Vec<bool> = match db {
        Some(db) => db.path_infos(&paths)?.iter().map(Option::is_some).collect(),
        None => paths.iter().map(|p| std::fs::symlink_metadata(store.physical(p)).is_ok()).collect(),
    };
    let mut result = LocalOutputs::default();
    let mut todo: Vec<&StorePath> = Vec::new();
    for (path, realised) in paths.iter().zip(realised) {
        if !realised {
            result.unrealised += 1;
        } else if known.get(path).is_none_or(|h| h.algo() != HashAlgo::Sha256) {
            todo.push(path);
        }
    }
    progress.begin("hashing outputs", todo.len() as u64, false);
    let hashed: Vec<Result<(StorePath, Hash), LogCompareError>> = todo
        .par_iter()
        .map(|path| {
            let hash = hash_path(&store.physical(path), HashAlgo::Sha256)
                .map_err(|source| LogCompareError::Read { path: dir.display(path), source })?;
            progress.advance(1);
            Ok(((*path).clone(), hash.0))
        })
        .collect();
    progress.end();
    let mut hashes: BTreeMap<StorePath, Hash> = BTreeMap::new();
    for h in hashed {
        let (path, hash) = h?;
        hashes.insert(path, hash);
    }
    for (path, (drv, output)) in wanted {
        let Some(nar_hash) = hashes.get(&path).or_else(|| known.get(&path)).copied() else { continue };
        result.outputs.push(LocalOutput { drv, output, path: dir.display(&path), nar_hash });
    }
    Ok(result)
}

/// How one local output compares with the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChallengeStatus {
    /// Every report has the local hash.
    Matches,
    /// Some report has another hash.
    Differs,
    /// No report.
    NotInLog,
}

/// Another NAR hash the log has for an output, and who reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OtherHash {
    /// `sha256:<nixbase32>`.
    pub nar_hash: String,
    /// The builders, as the log names them.
    pub builders: Vec<String>,
}

/// One output of a challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengedOutput {
    /// The output path.
    pub path: String,
    /// Its `.drv`.
    pub drv: String,
    /// The output name.
    pub output: String,
    /// The local NAR hash, `sha256:<nixbase32>`.
    pub local_hash: String,
    /// How it compares.
    pub status: ChallengeStatus,
    /// Builders that reported the local hash.
    pub matching: Vec<String>,
    /// The other hashes reported.
    pub differing: Vec<OtherHash>,
}

/// Counts over a challenge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeSummary {
    /// Outputs compared.
    pub outputs: usize,
    /// Matching the log.
    pub matches: usize,
    /// Differing from some report.
    pub differs: usize,
    /// With no report.
    pub not_in_log: usize,
    /// Outputs of the closure not realised here (not compared).
    pub unrealised: usize,
}

/// What `provenix challenge` found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeReport {
    /// The log server.
    pub server: String,
    /// Per output, sorted by path.
    pub outputs: Vec<ChallengedOutput>,
    /// The counts.
    pub summary: ChallengeSummary,
}

impl ChallengeReport {
    /// True if some local output differs from what the log has.
    pub fn differs(&self) -> bool {
        self.summary.differs > 0
    }
}

/// Compares each local output with the log's reports about it.
pub fn challenge(
    client: &LogClient,
    local: &LocalOutputs,
    progress: &dyn Progress,
) -> Result<ChallengeReport, LogCompareError> {
    let mut summary = ChallengeSummary { unrealised: local.unrealised, ..ChallengeSummary::default() };
    let mut outputs = Vec::with_capacity(local.outputs.len());
    progress.begin("asking the log", local.outputs.len() as u64, false);
    for o in &local.outputs {
        let lookup = client.lookup(&o.path)?;
        let local_hash = o.nar_hash.to_prefixed_nixbase32();
        let mut matching: BTreeSet<String> = BTreeSet::new();
        let mut differing = Vec::new();
        for logged in lookup.outputs.iter().filter(|l| l.path == o.path) {
            for group in &logged.hashes {
                if group.nar_hash == local_hash {
                    matching.extend(group.builders.iter().cloned());
                } else {
                    differing.push(OtherHash { nar_hash: group.nar_hash.clone(), builders: group.builders.clone() });
                }
            }
        }
        let status = if !differing.is_empty() {
            summary.differs += 1;
            ChallengeStatus::Differs
        } else if matching.is_empty() {
            summary.not_in_log += 1;
            ChallengeStatus::NotInLog
        } else {
            summary.matches += 1;
            ChallengeStatus::Matches
        };
        outputs.push(ChallengedOutput {
            path: o.path.clone(),
            drv: o.drv.clone(),
            output: o.output.clone(),
            local_hash,
            status,
            matching: matching.into_iter().collect(),
            differing,
        });
        progress.advance(1);
    }
    progress.end();
    summary.outputs = outputs.len();
    Ok(ChallengeReport { server: client.base().to_owned(), outputs, summary })
}

/// What `verify --log` asks: the log and who must have reproduced each output.
pub struct LogRequirement {
    /// The log server.
    pub client: LogClient,
    /// The builders whose signed reports count.
    pub trusted: TrustedKeys,
    /// How many of them must have reported the local hash.
    pub required: usize,
}

/// What the log check of `verify` covered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogChecked {
    /// The log server.
    pub server: String,
    /// Trusted builders required per output.
    pub required_builders: usize,
    /// Realised outputs compared with the log.
    pub outputs: usize,
    /// Of those, reproduced by enough trusted builders and disputed by none.
    pub reproduced: usize,
    /// Reports whose signature verified with a trusted key.
    pub trusted_reports: usize,
    /// Reports not signed by a trusted key (not counted).
    pub untrusted_reports: usize,
}

/// The `not-reproduced` and `disputed` findings for `local`'s outputs.
pub fn reproduction_findings(
    store: &Store,
    local: &LocalOutputs,
    req: &LogRequirement,
    progress: &dyn Progress,
) -> Result<(Vec<Finding>, LogChecked), LogCompareError> {
    let mut checked = LogChecked {
        server: req.client.base().to_owned(),
        required_builders: req.required,
        outputs: local.outputs.len(),
        ..LogChecked::default()
    };
    let mut findings = Vec::new();
    progress.begin("checking the log's reports", local.outputs.len() as u64, false);
    for o in &local.outputs {
        let lookup = req.client.lookup(&o.path)?;
        let local_hash = o.nar_hash.to_prefixed_nixbase32();
        // Per trusted builder, every hash it signed for this output.
        let mut signed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut indices: BTreeSet<u64> = BTreeSet::new();
        for r in lookup.outputs.iter().filter(|l| l.path == o.path).flat_map(|l| &l.reports) {
            // Reports the server names as an untrusted builder's are not fetched: if that
            // name is a lie, the report is hidden, which the server could do anyway.
            if req.trusted.get(&r.builder).is_some() {
                indices.insert(r.index);
            } else {
                checked.untrusted_reports += 1;
            }
        }
        for index in indices {
            let bytes = req.client.entry(index)?;
            let verified = Entry::parse(&bytes, store.dir())
                .ok()
                .and_then(|e| check_entry(e, &req.trusted, store.dir()).ok())
                .map(|c| c.into_inner().report)
                .filter(|r| r.path == o.path);
            match verified {
                Some(r) => {
                    checked.trusted_reports += 1;
                    signed.entry(r.builder.clone()).or_default().insert(r.nar_hash().to_prefixed_nixbase32());
                }
                None => checked.untrusted_reports += 1,
            }
        }
        let agreeing: Vec<&str> =
            signed.iter().filter(|(_, hashes)| hashes.contains(&local_hash)).map(|(b, _)| b.as_str()).collect();
        let disputing: Vec<(&str, &str)> = signed
            .iter()
            .flat_map(|(b, hashes)| hashes.iter().filter(|h| **h != local_hash).map(move |h| (b.as_str(), h.as_str())))
            .collect();
        if let Some((_, hash)) = disputing.first() {
            let who: Vec<String> = disputing.iter().map(|(b, h)| format!("{b} ({h})")).collect();
            findings.push(
                Finding::new(
                    FindingKind::Disputed,
                    o.path.clone(),
                    format!(
                        "trusted builders report another NAR hash than the local one: {}; agreeing: {}",
                        who.join(", "),
                        if agreeing.is_empty() { "none".to_owned() } else { agreeing.join(", ") }
                    ),
                )
                .expected(local_hash.clone(), (*hash).to_owned()),
            );
        } else if agreeing.len() < req.required {
            findings.push(Finding::new(
                FindingKind::NotReproduced,
                o.path.clone(),
                format!(
                    "reproduced by {} of the {} trusted builders required{}",
                    agreeing.len(),
                    req.required,
                    if agreeing.is_empty() { String::new() } else { format!(": {}", agreeing.join(", ")) }
                ),
            ));
        } else {
            checked.reproduced += 1;
        }
        progress.advance(1);
    }
    progress.end();
    Ok((findings, checked))
}
