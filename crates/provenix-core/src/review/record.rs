//! Signed review records: "I read this source", as an in-toto Statement v1
//! in a DSSE envelope, signed with a Nix-format ed25519 key.
//!
//! # The record
//!
//! The envelope is what [`crate::attest::sign`] writes (payload type
//! `application/vnd.in-toto+json`). Its statement has exactly one subject,
//! the reviewed source, named by its derivation name and identified by its
//! content ([`SourceRef::content_digest`]):
//!
//! - a `flat` source (`fetchurl`): `sha256` (or `sha512`), the digest of the
//!   file's bytes, as Nix declares it in `outputHash`;
//! - a `recursive` source (`fetchzip`, `fetchgit`): `narSha256` (or
//!   `narSha512`), the digest of the output's NAR serialisation.
//!
//! Either determines the bytes of the fixed output, and Nix checks it when
//! it fetches, so a review is bound to content: a review of
//! `foo-1.2.tar.gz` with hash H never applies to other bytes of that name.
//! Sources declared with md5 or sha1 cannot be reviewed (a weak hash binds
//! nothing), nor can `text`-mode outputs (no fetcher makes them).
//!
//! The predicate, `predicateType` [`REVIEW_PREDICATE_TYPE`] (`docs/review.md`
//! has an example):
//!
//! - `source`: `name`, `version` (optional), `kind`, `urls`, `mode`, `hash`
//!   (SRI) of the reviewed source; the subject must agree with it;
//! - `scope`: `whole` (the whole source), `files` (only the globs in
//!   `files`, non-empty) or `delta` (the change from the source in `from`,
//!   a `source`-shaped object, to this one);
//! - `level` (how thoroughly) and `understanding` (how well the reviewer
//!   understood it): `none`, `low`, `medium` or `high`, as in cargo-crev;
//! - `comment`: optional free text.
//!
//! Unknown predicate fields are refused, so a typo cannot widen a review.
//! No clock goes into the record: the same review signed with the same key
//! gives the same bytes.
//!
//! # Reading
//!
//! [`ReviewRecord::parse`] checks the envelope's form, the statement
//! ([`crate::attest::Statement::parse`]) and the predicate, without looking
//! at the signatures; [`ReviewRecord::signers`] then says which trusted keys
//! signed it. [`load_dirs`] reads every `*.json` file under some directories
//! (`.git` skipped), in parallel, and fails naming the first bad file.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use provenix_formats::dsse::{DsseError, Envelope, Payload};
use provenix_formats::hash::{Hash, HashAlgo};
use provenix_formats::signature::{CheckId, SecretKey, TrustedKeys, Verified};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::attest::{AttestError, PAYLOAD_TYPE, ResourceDescriptor, STATEMENT_TYPE, Statement};

/// `predicateType` of a review.
pub const REVIEW_PREDICATE_TYPE: &str = "https://provenix.dev/review/v1";
/// Largest review file read, in bytes.
pub const MAX_RECORD_LEN: u64 = 1 << 20;
/// Most globs a `files` review lists.
pub const MAX_FILES: usize = 10_000;

/// Errors from making or reading a review record.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReviewError {
    /// Not a DSSE envelope.
    #[error("not a DSSE envelope")]
    Envelope(#[source] DsseError),
    /// The envelope does not carry an in-toto statement.
    #[error("payload type is `{found}`, not {PAYLOAD_TYPE}")]
    PayloadType {
        /// What it says.
        found: String,
    },
    /// The statement is malformed.
    #[error("malformed in-toto statement")]
    Statement(#[source] AttestError),
    /// Another kind of statement.
    #[error("predicate type is `{found}`, not {REVIEW_PREDICATE_TYPE}")]
    PredicateType {
        /// What it says.
        found: String,
    },
    /// The predicate is malformed.
    #[error("malformed review predicate")]
    Predicate(#[source] serde_json::Error),
    /// The record breaks a rule of the format.
    #[error("{0}")]
    Invalid(String),
    /// A source that cannot be reviewed.
    #[error("source {name}: {problem}")]
    Unreviewable {
        /// The source's name.
        name: String,
        /// Why.
        problem: String,
    },
    /// A signature names a trusted key but does not verify: the record was altered.
    #[error("the signature by `{key}` does not verify: the record was altered or signed by another key of that name")]
    Tampered {
        /// The key name.
        key: String,
    },
    /// Reading a file or directory failed.
    #[error("reading {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A review file is bad.
    #[error("review file {}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: Box<ReviewError>,
    },
}

/// How thoroughly, or how well: `none` < `low` < `medium` < `high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Not at all.
    None,
    /// A skim.
    Low,
    /// A normal read.
    Medium,
    /// Line by line.
    High,
}

impl Level {
    /// Every level, lowest first.
    pub const ALL: [Level; 4] = [Level::None, Level::Low, Level::Medium, Level::High];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
        }
    }

    /// The level of this name.
    pub fn from_name(name: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_str() == name)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A source as a review names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceRef {
    /// The derivation name (`foo-1.2.tar.gz`).
    pub name: String,
    /// The version, when the name has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The source kind (`tarball`, `patch`, ...).
    pub kind: String,
    /// The URLs as declared.
    #[serde(default)]
    pub urls: Vec<String>,
    /// `flat` or `recursive`.
    pub mode: String,
    /// The declared hash, SRI.
    pub hash: String,
}

/// A source's content identity: an in-toto digest name and lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ContentDigest {
    /// `sha256`, `sha512`, `narSha256` or `narSha512`.
    pub algo: String,
    /// Lowercase hex.
    pub hex: String,
}

impl fmt::Display for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algo, self.hex)
    }
}

/// The content digest of a source with this mode and declared SRI hash (module docs).
pub fn content_digest(mode: &str, sri: &str) -> Result<ContentDigest, String> {
    let hash = Hash::parse_sri(sri).map_err(|e| format!("hash `{sri}` is not SRI: {e}"))?;
    let algo = match (mode, hash.algo()) {
        (_, algo @ (HashAlgo::Md5 | HashAlgo::Sha1)) => {
            return Err(format!("its declared hash is {}, too weak to bind a review to content", algo.name()));
        }
        ("flat", HashAlgo::Sha256) => "sha256",
        ("flat", HashAlgo::Sha512) => "sha512",
        ("recursive", HashAlgo::Sha256) => "narSha256",
        ("recursive", HashAlgo::Sha512) => "narSha512",
        (other, _) => return Err(format!("hash mode `{other}` cannot be reviewed (only flat and recursive)")),
    }
    .to_owned();
    Ok(ContentDigest { algo, hex: hash.to_base16() })
}

impl SourceRef {
    /// Its content identity.
    pub fn content_digest(&self) -> Result<ContentDigest, ReviewError> {
        content_digest(&self.mode, &self.hash)
            .map_err(|problem| ReviewError::Unreviewable { name: self.name.clone(), problem })
    }
}

/// What a review covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The whole source.
    Whole,
    /// Only these files (globs).
    Files(Vec<String>),
    /// The change from that older source to this one.
    Delta(SourceRef),
}

impl Scope {
    /// `whole`, `files` or `delta`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::Whole => "whole",
            Scope::Files(_) => "files",
            Scope::Delta(_) => "delta",
        }
    }
}

/// The review predicate (module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// The reviewed source.
    pub source: SourceRef,
    /// What was reviewed.
    pub scope: Scope,
    /// How thoroughly.
    pub level: Level,
    /// How well understood.
    pub understanding: Level,
    /// Free text.
    pub comment: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawReview {
    source: SourceRef,
    scope: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    files: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<SourceRef>,
    level: Level,
    understanding: Level,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
}

impl Review {
    /// The in-toto statement of this review (checked: the source must be reviewable).
    pub fn to_statement(&self) -> Result<Statement, ReviewError> {
        self.check()?;
        let digest = self.source.content_digest()?;
        let (files, from) = match &self.scope {
            Scope::Whole => (Vec::new(), None),
            Scope::Files(f) => (f.clone(), None),
            Scope::Delta(from) => (Vec::new(), Some(from.clone())),
        };
        let raw = RawReview {
            source: self.source.clone(),
            scope: self.scope.as_str().to_owned(),
            files,
            from,
            level: self.level,
            understanding: self.understanding,
            comment: self.comment.clone(),
        };
        let predicate = serde_json::to_value(&raw).map_err(ReviewError::Predicate)?;
        Ok(Statement {
            type_: STATEMENT_TYPE.to_owned(),
            subject: vec![ResourceDescriptor {
                name: Some(self.source.name.clone()),
                digest: [(digest.algo, digest.hex)].into_iter().collect(),
                ..ResourceDescriptor::default()
            }],
            predicate_type: REVIEW_PREDICATE_TYPE.to_owned(),
            predicate,
        })
    }

    /// Signs the review with `key`: the envelope's JSON bytes.
    pub fn sign(&self, key: &SecretKey) -> Result<Vec<u8>, ReviewError> {
        Ok(crate::attest::sign(&self.to_statement()?, &[key]).to_json())
    }

    fn check(&self) -> Result<(), ReviewError> {
        let invalid = |m: &str| Err(ReviewError::Invalid(m.to_owned()));
        if self.source.name.is_empty() {
            return invalid("the source has no name");
        }
        self.source.content_digest()?;
        match &self.scope {
            Scope::Whole => {}
            Scope::Files(files) => {
                if files.is_empty() {
                    return invalid("scope `files` lists no files");
                }
                if files.len() > MAX_FILES {
                    return invalid("scope `files` lists too many files");
                }
                if files.iter().any(|f| f.trim().is_empty()) {
                    return invalid("scope `files` has an empty glob");
                }
            }
            Scope::Delta(from) => {
                if from.content_digest()? == self.source.content_digest()? {
                    return invalid("a delta review from a source to the same bytes");
                }
            }
        }
        Ok(())
    }

    fn from_statement(statement: &Statement) -> Result<Review, ReviewError> {
        if statement.predicate_type != REVIEW_PREDICATE_TYPE {
            return Err(ReviewError::PredicateType { found: statement.predicate_type.clone() });
        }
        let raw = RawReview::deserialize(&statement.predicate).map_err(ReviewError::Predicate)?;
        let scope = match (raw.scope.as_str(), raw.files.is_empty(), &raw.from) {
            ("whole", true, None) => Scope::Whole,
            ("files", false, None) => Scope::Files(raw.files),
            ("delta", true, Some(from)) => Scope::Delta(from.clone()),
            ("whole" | "files" | "delta", _, _) => {
                return Err(ReviewError::Invalid(format!(
                    "scope `{}` needs {}",
                    raw.scope,
                    match raw.scope.as_str() {
                        "whole" => "neither `files` nor `from`",
                        "files" => "a non-empty `files` and no `from`",
                        _ => "`from` and no `files`",
                    }
                )));
            }
            (other, _, _) => return Err(ReviewError::Invalid(format!("unknown scope `{other}`"))),
        };
        let review = Review {
            source: raw.source,
            scope,
            level: raw.level,
            understanding: raw.understanding,
            comment: raw.comment,
        };
        review.check()?;
        let [subject] = statement.subject.as_slice() else {
            return Err(ReviewError::Invalid("a review has exactly one subject".to_owned()));
        };
        let digest = review.source.content_digest()?;
        let expected = [(digest.algo.clone(), digest.hex.clone())].into_iter().collect();
        if subject.digest != expected || subject.name.as_deref() != Some(review.source.name.as_str()) {
            return Err(ReviewError::Invalid(format!(
                "the subject is not the reviewed source (expected name `{}` and digest {digest})",
                review.source.name
            )));
        }
        Ok(review)
    }
}

/// A parsed review record; its signatures are not checked yet.
#[derive(Debug, Clone)]
pub struct ReviewRecord {
    /// The envelope as read.
    pub envelope: Envelope,
    /// The review.
    pub review: Review,
    /// The reviewed content.
    pub digest: ContentDigest,
    /// The content the delta starts from, for a delta review.
    pub from_digest: Option<ContentDigest>,
}

impl ReviewRecord {
    /// Parses a review file's bytes (module docs); signatures are not checked.
    pub fn parse(json: &[u8]) -> Result<ReviewRecord, ReviewError> {
        let envelope = Envelope::parse(json).map_err(ReviewError::Envelope)?;
        if envelope.payload_type != PAYLOAD_TYPE {
            return Err(ReviewError::PayloadType { found: envelope.payload_type });
        }
        let statement = Statement::parse(&envelope.payload).map_err(ReviewError::Statement)?;
        let review = Review::from_statement(&statement)?;
        let digest = review.source.content_digest()?;
        let from_digest = match &review.scope {
            Scope::Delta(from) => Some(from.content_digest()?),
            _ => None,
        };
        Ok(ReviewRecord { envelope, review, digest, from_digest })
    }

    /// The key names the signatures claim, each once, sorted.
    pub fn key_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.envelope.signatures.iter().map(|s| s.keyid.clone()).collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// The trusted keys (by name) whose signatures verify; empty when no signature names a
    /// trusted key. A signature that names a trusted key and does not verify is an error.
    pub fn signers(&self, trusted: &TrustedKeys) -> Result<Vec<String>, ReviewError> {
        signers_of(self.envelope.verify(trusted).map(|v| (v, Vec::new()))).map(|(s, _)| s)
    }

    /// Like [`ReviewRecord::signers`], where signature checks in `known` (remembered from
    /// earlier runs, [`super::check_cache`]) need no ed25519; also returns the ids of the
    /// signatures that verified.
    pub fn signers_remembering(
        &self,
        trusted: &TrustedKeys,
        known: &HashSet<CheckId>,
    ) -> Result<(Vec<String>, Vec<CheckId>), ReviewError> {
        signers_of(self.envelope.verify_remembering(trusted, known))
    }
}

fn signers_of(
    verified: Result<(Verified<Payload>, Vec<CheckId>), DsseError>,
) -> Result<(Vec<String>, Vec<CheckId>), ReviewError> {
    match verified {
        Ok((v, ids)) => Ok((v.signers().to_vec(), ids)),
        Err(DsseError::InvalidSignature { key_name, .. }) => Err(ReviewError::Tampered { key: key_name }),
        Err(DsseError::NoTrustedSignature { .. }) => Ok((Vec::new(), Vec::new())),
        Err(e) => Err(ReviewError::Envelope(e)),
    }
}

/// A review record and the file it came from.
#[derive(Debug, Clone)]
pub struct LoadedRecord {
    /// The file.
    pub path: PathBuf,
    /// The record.
    pub record: ReviewRecord,
}

/// Reads every `*.json` file under `dirs` (recursively, `.git` skipped) as a review record,
/// in parallel; records come out sorted by path. Fails naming the first bad file.
pub fn load_dirs(dirs: &[PathBuf]) -> Result<Vec<LoadedRecord>, ReviewError> {
    let mut files = Vec::new();
    for dir in dirs {
        walk(dir, &mut files)?;
    }
    files.sort();
    files.dedup();
    let results: Vec<Result<LoadedRecord, ReviewError>> = files.par_iter().map(|path| load_file(path)).collect();
    results.into_iter().collect()
}

/// Reads one review file.
pub fn load_file(path: &Path) -> Result<LoadedRecord, ReviewError> {
    let file_error = |source: ReviewError| ReviewError::File { path: path.to_owned(), source: Box::new(source) };
    let io = |source| ReviewError::Io { path: path.to_owned(), source };
    // One open: the size check and the read look at the same file.
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len > MAX_RECORD_LEN {
        return Err(file_error(ReviewError::Invalid(format!("{len} bytes, more than {MAX_RECORD_LEN}"))));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // A file that grows after the check is still read no further than the limit.
    std::io::Read::read_to_end(&mut std::io::Read::take(&mut file, MAX_RECORD_LEN + 1), &mut bytes).map_err(io)?;
    if bytes.len() as u64 > MAX_RECORD_LEN {
        return Err(file_error(ReviewError::Invalid(format!("more than {MAX_RECORD_LEN} bytes"))));
    }
    let record = ReviewRecord::parse(&bytes).map_err(file_error)?;
    Ok(LoadedRecord { path: path.to_owned(), record })
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), ReviewError> {
    let io = |source| ReviewError::Io { path: dir.to_owned(), source };
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| ReviewError::Io { path: d.clone(), source })?;
        for entry in entries {
            let entry = entry.map_err(io)?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|source| ReviewError::Io { path: path.clone(), source })?;
            if kind.is_dir() {
                if entry.file_name() != ".git" {
                    stack.push(path);
                }
            } else if kind.is_file() && path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(name: &str, hash_of: &str) -> SourceRef {
        SourceRef {
            name: name.to_owned(),
            version: Some("1.2".to_owned()),
            kind: "tarball".to_owned(),
            urls: vec![format!("https://example.org/{name}")],
            mode: "flat".to_owned(),
            hash: Hash::compute(HashAlgo::Sha256, hash_of.as_bytes()).to_sri(),
        }
    }

    fn key() -> SecretKey {
        SecretKey::from_seed("alice-1", [7; 32]).unwrap()
    }

    #[test]
    fn a_signed_review_reads_back_with_its_signer() {
        let review = Review {
            source: source("foo-1.2.tar.gz", "a"),
            scope: Scope::Delta(source("foo-1.1.tar.gz", "b")),
            level: Level::High,
            understanding: Level::Medium,
            comment: Some("looked at the diff".to_owned()),
        };
        let bytes = review.sign(&key()).unwrap();
        let record = ReviewRecord::parse(&bytes).unwrap();
        assert_eq!(record.review, review);
        assert_eq!(record.digest.algo, "sha256");
        let trusted: TrustedKeys = [key().to_public()].into_iter().collect();
        assert_eq!(record.signers(&trusted).unwrap(), vec!["alice-1".to_owned()]);
        assert!(record.signers(&TrustedKeys::new()).unwrap().is_empty());
        // Same review, same key: same bytes.
        assert_eq!(review.sign(&key()).unwrap(), bytes);
    }

    #[test]
    fn recursive_sources_are_named_by_nar_digest() {
        let mut s = source("source", "x");
        s.mode = "recursive".to_owned();
        assert_eq!(s.content_digest().unwrap().algo, "narSha256");
    }

    #[test]
    fn weak_hashes_cannot_be_reviewed() {
        let mut s = source("old.tar.gz", "x");
        s.hash = Hash::compute(HashAlgo::Sha1, b"x").to_sri();
        let err = s.content_digest().unwrap_err().to_string();
        assert!(err.contains("sha1"), "{err}");
    }

    #[test]
    fn a_tampered_payload_is_refused_by_the_trusted_key() {
        let review = Review {
            source: source("foo-1.2.tar.gz", "a"),
            scope: Scope::Whole,
            level: Level::Low,
            understanding: Level::Low,
            comment: None,
        };
        let bytes = review.sign(&key()).unwrap();
        let mut envelope = Envelope::parse(&bytes).unwrap();
        let text = String::from_utf8(envelope.payload.clone()).unwrap().replace("\"low\"", "\"high\"");
        envelope.payload = text.into_bytes();
        let record = ReviewRecord::parse(&envelope.to_json()).unwrap();
        let trusted: TrustedKeys = [key().to_public()].into_iter().collect();
        assert!(matches!(record.signers(&trusted), Err(ReviewError::Tampered { .. })));
    }

    #[test]
    fn a_subject_other_than_the_source_is_refused() {
        let review = Review {
            source: source("foo-1.2.tar.gz", "a"),
            scope: Scope::Whole,
            level: Level::Low,
            understanding: Level::Low,
            comment: None,
        };
        let mut statement = review.to_statement().unwrap();
        statement.subject[0].digest.insert("sha256".into(), "0".repeat(64));
        let bytes = crate::attest::sign(&statement, &[&key()]).to_json();
        let err = ReviewRecord::parse(&bytes).unwrap_err().to_string();
        assert!(err.contains("subject"), "{err}");
    }
}
