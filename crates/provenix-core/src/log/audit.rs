//! `provenix log verify`: is the log a server shows today the log it showed
//! before, grown only by appending?
//!
//! 1. fetch the latest checkpoint and check its signature with the trusted
//!    log key (the origin line must be the key's name);
//! 2. compare it with the last checkpoint this client accepted for that log
//!    (a signed note kept in the state directory, one file per origin and key
//!    id, re-checked when read): a smaller size, or another root at the same
//!    size, is a rewritten history; a larger size must come with a
//!    consistency proof (RFC 9162 2.1.4) from the old tree to the new one;
//! 3. with `full`, fetch every entry bundle and level-0 tile, recompute the
//!    root from the entries' leaf hashes (memory: the tree's right edge only),
//!    compare each leaf hash with the tile's, and check each entry's signature
//!    or envelope with the key the server registers for its builder. Catches
//!    an entry edited in the server's database (named by index when its tile
//!    was left alone), even when its leaf hash in the tiles was edited to match;
//! 4. record the new checkpoint (atomically) only when every check passed.
//!
//! First contact has nothing to compare with: the checkpoint is recorded
//! and trusted from then on (trust on first use). Cost: two requests, plus
//! with `full` two per 256 entries and one signature check per entry.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use provenix_formats::log::checkpoint::{Checkpoint, verify_checkpoint};
use provenix_formats::log::merkle::{leaf_hash, root, verify_consistency};
use provenix_formats::log::note::key_id;
use provenix_formats::log::report::Entry;
use provenix_formats::log::tile::{RightEdge, TILE_WIDTH, TilePath};
use provenix_formats::signature::{PublicKey, TrustedKeys};
use provenix_formats::store_path::StoreDir;
use serde::Serialize;

use crate::log::check::{LogCheckError, LogClient};
use crate::log::report::check_entry;
use crate::verify::{Progress, chain};

/// Most problems listed one by one; the rest are counted.
pub const MAX_LISTED_PROBLEMS: usize = 20;

/// Errors that stop the audit before it could decide (exit 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogAuditError {
    /// Talking to the server failed.
    #[error("log server")]
    Server(#[from] LogCheckError),
    /// The state file cannot be read or written.
    #[error("state file {}", path.display())]
    State {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The state file is not a checkpoint the trusted key signed.
    #[error(
        "state file {} is not a checkpoint signed by `{key}` (remove it to trust the log anew)",
        path.display()
    )]
    BadState {
        /// The file.
        path: PathBuf,
        /// The key's name.
        key: String,
        /// Why.
        #[source]
        source: provenix_formats::log::checkpoint::CheckpointError,
    },
    /// Writing the state file failed.
    #[error("recording the checkpoint")]
    Write(#[from] provenix_store::fs::WriteError),
}

/// A checkpoint's size and root, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TreeHead {
    /// Leaves in the tree.
    pub size: u64,
    /// The root hash, base64.
    pub root_hash: String,
}

impl TreeHead {
    fn of(c: &Checkpoint) -> TreeHead {
        TreeHead { size: c.size, root_hash: STANDARD.encode(c.root) }
    }
}

/// How the latest checkpoint relates to the last one seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Relation {
    /// Nothing was recorded for this log: trusted on first use.
    FirstContact,
    /// The same tree as last time.
    Same,
    /// Grown by appending, proven by a consistency proof.
    Extended,
    /// Not the history seen before (see the problems).
    Inconsistent,
    /// The checkpoint itself does not verify, so nothing was compared.
    Unverified,
}

/// The full re-check's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FullCheck {
    /// Entries fetched and hashed.
    pub entries: u64,
    /// Entries whose signature or envelope verified with their builder's registered key.
    pub signatures_verified: u64,
    /// Entries of builders the server no longer registers (removed): not checked.
    pub unregistered_builders: u64,
    /// Whether the root recomputed from the entries is the checkpoint's.
    pub root_matches: bool,
}

/// What `log verify` found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditReport {
    /// The server asked.
    pub server: String,
    /// The log's origin (the trusted key's name).
    pub origin: String,
    /// The latest checkpoint, if it verified.
    pub checkpoint: Option<TreeHead>,
    /// The last checkpoint accepted before this run.
    pub previous: Option<TreeHead>,
    /// How they relate.
    pub relation: Relation,
    /// The full re-check, when asked for.
    pub full: Option<FullCheck>,
    /// Everything wrong, worst first; empty when the log checks out.
    pub problems: Vec<String>,
    /// Problems beyond [`MAX_LISTED_PROBLEMS`], not listed.
    pub more_problems: u64,
    /// Where the last accepted checkpoint is kept.
    pub state_file: String,
    /// Whether this run recorded the checkpoint there.
    pub recorded: bool,
}

impl AuditReport {
    /// Whether the log checked out.
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.more_problems == 0
    }

    fn problem(&mut self, text: String) {
        if self.problems.len() < MAX_LISTED_PROBLEMS {
            self.problems.push(text);
        } else {
            self.more_problems += 1;
        }
    }
}

/// What to check.
pub struct AuditOptions<'a> {
    /// The directory holding the last checkpoint seen per log.
    pub state_dir: PathBuf,
    /// Re-fetch every entry, recompute the root and check every signature.
    pub full: bool,
    /// The store directory entries' paths are under.
    pub store_dir: StoreDir,
    /// Progress over the entries, with `full`.
    pub progress: &'a dyn Progress,
}

/// The state file of the log signed by `key`: `<state>/logs/<origin>+<key id>.checkpoint`,
/// the origin with anything but `[A-Za-z0-9._-]` replaced by `_`.
pub fn state_file(state_dir: &Path, key: &PublicKey) -> PathBuf {
    let name: String = key
        .name()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .collect();
    let id: String = key_id(key).iter().map(|b| format!("{b:02x}")).collect();
    state_dir.join("logs").join(format!("{name}+{id}.checkpoint"))
}

/// Runs the audit of the log at `client` signed by `key`.
pub fn audit(client: &LogClient, key: &PublicKey, options: &AuditOptions<'_>) -> Result<AuditReport, LogAuditError> {
    let origin = key.name().to_owned();
    let file = state_file(&options.state_dir, key);
    let previous = read_state(&file, key)?;
    let mut report = AuditReport {
        server: client.base().to_owned(),
        origin: origin.clone(),
        checkpoint: None,
        previous: previous.as_ref().map(|(c, _)| TreeHead::of(c)),
        relation: Relation::Unverified,
        full: None,
        problems: Vec::new(),
        more_problems: 0,
        state_file: file.display().to_string(),
        recorded: false,
    };
    let note = client.checkpoint_note()?;
    let latest = match verify_checkpoint(&note, key, &origin) {
        Ok(c) => c,
        Err(e) => {
            report.problem(format!("the checkpoint is not signed by the trusted key `{origin}`: {}", chain(&e)));
            return Ok(report);
        }
    };
    report.checkpoint = Some(TreeHead::of(&latest));
    report.relation = match &previous {
        None => Relation::FirstContact,
        Some((old, _)) => compare(client, old, &latest, &mut report)?,
    };
    if options.full {
        report.full = Some(full_check(client, &latest, options, &mut report)?);
    }
    let grew = previous.as_ref().is_none_or(|(old, _)| latest.size > old.size);
    if report.ok() && grew {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(|source| LogAuditError::State { path: dir.to_owned(), source })?;
        }
        provenix_store::fs::write_atomic(&file, &note, 0o644, true)?;
        report.recorded = true;
    }
    Ok(report)
}

fn read_state(file: &Path, key: &PublicKey) -> Result<Option<(Checkpoint, Vec<u8>)>, LogAuditError> {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(LogAuditError::State { path: file.to_owned(), source }),
    };
    let checkpoint = verify_checkpoint(&bytes, key, key.name()).map_err(|source| LogAuditError::BadState {
        path: file.to_owned(),
        key: key.name().to_owned(),
        source,
    })?;
    Ok(Some((checkpoint, bytes)))
}

fn compare(
    client: &LogClient,
    old: &Checkpoint,
    new: &Checkpoint,
    report: &mut AuditReport,
) -> Result<Relation, LogAuditError> {
    let (o, n) = (TreeHead::of(old), TreeHead::of(new));
    if new.size < old.size {
        report.problem(format!(
            "the tree size went backwards: this client saw size {} (root {}), the server now says {} (root {})",
            o.size, o.root_hash, n.size, n.root_hash
        ));
        return Ok(Relation::Inconsistent);
    }
    if new.size == old.size {
        if new.root == old.root {
            return Ok(Relation::Same);
        }
        report.problem(format!(
            "another root at the same size {}: this client saw root {}, the server now says {}",
            o.size, o.root_hash, n.root_hash
        ));
        return Ok(Relation::Inconsistent);
    }
    let proof = match client.consistency_proof(old.size, new.size) {
        Ok(p) => p,
        Err(LogCheckError::Proof { url, source }) => {
            report.problem(format!("{url}: the consistency proof does not parse: {}", chain(&source)));
            return Ok(Relation::Inconsistent);
        }
        Err(e) => return Err(e.into()),
    };
    let sizes_ok = proof.old_size == old.size && proof.new_size == new.size;
    if sizes_ok && verify_consistency(old.size, new.size, &old.root, &new.root, &proof.hashes).is_ok() {
        return Ok(Relation::Extended);
    }
    report.problem(format!(
        "size {} (root {}) is not a prefix of size {} (root {}): the consistency proof does not verify",
        o.size, o.root_hash, n.size, n.root_hash
    ));
    Ok(Relation::Inconsistent)
}

fn full_check(
    client: &LogClient,
    checkpoint: &Checkpoint,
    options: &AuditOptions<'_>,
    report: &mut AuditReport,
) -> Result<FullCheck, LogAuditError> {
    let mut keys = TrustedKeys::new();
    for text in client.builders()? {
        match PublicKey::parse(&text) {
            Ok(k) => {
                keys.insert(k);
            }
            Err(e) => report.problem(format!("the server lists a builder key that does not parse: {}", chain(&e))),
        }
    }
    let mut check = FullCheck::default();
    let mut edge = RightEdge::default();
    let size = checkpoint.size;
    options.progress.begin("checking entries", size, false);
    let mut index = 0u64;
    while index < size {
        let bundle = index / TILE_WIDTH;
        // At most 256, so the cast cannot truncate.
        let width = (size - index).min(TILE_WIDTH) as u16;
        let entries = client.entry_bundle(bundle, width)?;
        // The level-0 tile holds the leaf hashes proofs are made of: each must be its entry's.
        let tile = client.tile(0, bundle, width)?;
        let mut leaves = Vec::with_capacity(entries.len());
        for (offset, (bytes, in_tile)) in entries.into_iter().zip(tile).enumerate() {
            let at = index + offset as u64;
            let leaf = leaf_hash(&bytes);
            if leaf != in_tile {
                let path = TilePath { level: Some(0), index: bundle, width };
                report.problem(format!("entry {at} does not hash to its leaf hash in {path}"));
            }
            leaves.push(leaf);
            check.entries += 1;
            check_one(at, &bytes, &keys, options, &mut check, report);
        }
        edge.append(leaves);
        index += u64::from(width);
        options.progress.advance(u64::from(width));
    }
    options.progress.end();
    let computed = root(&mut edge, size);
    check.root_matches = computed.as_ref().is_ok_and(|r| *r == checkpoint.root);
    if !check.root_matches {
        let shown = computed.map_or_else(|e| e.to_string(), |r| STANDARD.encode(r));
        // First: the decisive problem.
        report.problems.insert(
            0,
            format!(
                "the entries do not hash to the signed root: {size} entries give root {shown}, the checkpoint says {}",
                STANDARD.encode(checkpoint.root)
            ),
        );
    }
    Ok(check)
}

fn check_one(
    at: u64,
    bytes: &[u8],
    keys: &TrustedKeys,
    options: &AuditOptions<'_>,
    check: &mut FullCheck,
    report: &mut AuditReport,
) {
    let entry = match Entry::parse(bytes, &options.store_dir) {
        Ok(e) => e,
        Err(e) => {
            report.problem(format!("entry {at} does not parse: {}", chain(&e)));
            return;
        }
    };
    let builder = entry.report.builder.clone();
    if keys.get(&builder).is_none() {
        check.unregistered_builders += 1;
        return;
    }
    match check_entry(entry, keys, &options.store_dir) {
        Ok(_) => check.signatures_verified += 1,
        Err(e) => {
            report.problem(format!("entry {at} by `{builder}` does not verify with its registered key: {}", chain(&e)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provenix_formats::signature::SecretKey;

    #[test]
    fn state_files_are_named_by_origin_and_key_id_with_unsafe_characters_replaced() {
        let key = SecretKey::from_seed("rebuild.example.org/log", [1; 32]).unwrap().to_public();
        let other = SecretKey::from_seed("rebuild.example.org/log", [2; 32]).unwrap().to_public();
        let file = state_file(Path::new("/state"), &key);
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(file.starts_with("/state/logs"), "{file:?}");
        assert!(name.starts_with("rebuild.example.org_log+") && name.ends_with(".checkpoint"), "{name}");
        assert_eq!(name.len(), "rebuild.example.org_log+".len() + 8 + ".checkpoint".len());
        assert_ne!(state_file(Path::new("/state"), &other), file, "another key of the same name");
    }
}
