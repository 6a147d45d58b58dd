//! The review gate: does every source of a closure have enough independent,
//! trusted reviews?
//!
//! # Policy file
//!
//! TOML; unknown keys are an error, so a typo cannot silently loosen the gate.
//!
//! ```toml
//! [require]                  # what every source needs (all keys optional)
//! reviewers = 2              # independent reviewers: distinct groups (default 1)
//! level = "medium"           # lowest thoroughness that counts (default "low")
//! understanding = "low"      # lowest understanding that counts (default "none")
//! delta = true               # a delta review counts when its old source meets the policy (default false)
//!
//! [[rule]]                   # stricter (or looser) needs for some kinds of source
//! kinds = ["patch"]          # source kinds, as `sources` names them
//! reviewers = 3              # keys not given are taken from [require]
//! level = "high"
//!
//! [[reviewer]]
//! name = "alice"             # required, unique
//! group = "acme"             # optional (default: the name); one group counts once
//! keys = ["alice-1:BASE64"]  # required: public keys, Nix format
//! revoked = ["alice-0:BASE64"]   # optional: keys whose reviews count for nothing
//! until = 2027-06-30         # optional: after this day all of alice's keys count for nothing
//!
//! [[exempt]]
//! name = "blob-1.0.tar.gz"   # the source's derivation name, and/or
//! hash = "sha256-…"          # its declared hash (SRI)
//! reason = "generated data"  # required, not empty
//! until = 2026-06-30         # optional
//! ```
//!
//! # The check
//!
//! For each source of the closure: its content digest (as reviews name it,
//! [`super::record::content_digest`]), then the requirement of the first
//! `[[rule]]` whose kinds hold its kind (else `[require]`). A non-expired
//! exemption matching the source's name and hash (each where given) makes
//! it `exempt`. Otherwise the reviews of that digest are weighed:
//!
//! - a review counts when it is signed by a reviewer's key that is neither
//!   revoked nor past the reviewer's `until`, covers the whole source, and
//!   meets the level and understanding; with `delta = true` a delta review
//!   counts as well when its old source meets the same requirement
//!   (recursively, so a chain of deltas back to a fully reviewed version
//!   counts; a cycle counts for nothing);
//! - reviewers count once per source however many records they signed, and
//!   reviewers of one group count once;
//! - the source is `reviewed` when the groups that count reach `reviewers`,
//!   `under-reviewed` when some review of its bytes exists but too few count
//!   (each review is listed with why it does not count), `unreviewed` when
//!   none exists.
//!
//! A record signed only by keys the policy does not name is reported, never
//! counted. A signature by a policy key that does not verify makes the check
//! fail with an error naming the file: the record was altered.
//!
//! Cost: one ed25519 check per signature by a policy key (in parallel),
//! none for a check [`super::check_cache`] remembers from an earlier run;
//! then hash-map lookups per source and review.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use provenix_formats::signature::{CheckId, PublicKey, TrustedKeys};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::check_cache::CheckCache;
use super::record::{ContentDigest, Level, LoadedRecord, ReviewError, Scope, content_digest};
use crate::fod::SourceKind;
use crate::sources::Source;
use crate::vulns::Date;

/// Errors from reading a policy or checking against it.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file could not be read.
    #[error("reading policy {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not TOML of the documented shape.
    #[error("policy {}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A part of the policy breaks a rule.
    #[error("policy {}: {what}: {problem}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Which part (`reviewer 2 (bob)`).
        what: String,
        /// What is wrong.
        problem: String,
    },
    /// A review record signed by a policy key does not verify.
    #[error("review file {}", path.display())]
    Record {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: ReviewError,
    },
}

/// What a source needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Requirement {
    /// Independent reviewers (distinct groups).
    pub reviewers: usize,
    /// Lowest level that counts.
    pub level: Level,
    /// Lowest understanding that counts.
    pub understanding: Level,
    /// Delta reviews count when their old source meets the requirement.
    pub delta: bool,
}

/// A trusted reviewer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reviewer {
    /// The name.
    pub name: String,
    /// The group (an organisation); reviewers of one group count once.
    pub group: String,
    /// Last day the keys count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Date>,
}

/// An accepted unreviewed source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Exemption {
    /// Only sources of this name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only sources with this declared hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Why.
    pub reason: String,
    /// Last day it applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Date>,
}

impl Exemption {
    fn covers(&self, s: &Source) -> bool {
        self.name.as_deref().is_none_or(|n| n == s.name) && self.hash.as_deref().is_none_or(|h| h == s.hash)
    }

    fn expired(&self, today: Date) -> bool {
        self.until.is_some_and(|u| u < today)
    }
}

/// A parsed, checked policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The default requirement.
    pub require: Requirement,
    /// Per kind rules, in file order.
    pub rules: Vec<(Vec<SourceKind>, Requirement)>,
    /// The reviewers.
    pub reviewers: Vec<Reviewer>,
    /// Exemptions, in file order.
    pub exemptions: Vec<Exemption>,
    /// Every key (current and revoked), by name.
    keys: TrustedKeys,
    /// Key name -> (reviewer index, revoked).
    key_owner: HashMap<String, (usize, bool)>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    require: RawRequire,
    #[serde(default)]
    rule: Vec<RawRule>,
    #[serde(default)]
    reviewer: Vec<RawReviewer>,
    #[serde(default)]
    exempt: Vec<RawExempt>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequire {
    reviewers: Option<i64>,
    level: Option<String>,
    understanding: Option<String>,
    delta: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    kinds: Vec<String>,
    reviewers: Option<i64>,
    level: Option<String>,
    understanding: Option<String>,
    delta: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReviewer {
    name: String,
    group: Option<String>,
    keys: Vec<String>,
    #[serde(default)]
    revoked: Vec<String>,
    until: Option<toml::value::Datetime>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExempt {
    name: Option<String>,
    hash: Option<String>,
    reason: String,
    until: Option<toml::value::Datetime>,
}

/// Most reviewers (and most keys per reviewer) a policy may name.
pub const MAX_REVIEWERS: usize = 10_000;

fn date(dt: &toml::value::Datetime) -> Option<Date> {
    match (dt.date, dt.time, dt.offset) {
        (Some(d), None, None) => Date::new(d.year, d.month, d.day),
        _ => None,
    }
}

impl Policy {
    /// Reads a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io { path: path.to_owned(), source })?;
        Policy::parse(&text, path)
    }

    /// Parses a policy; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Policy, PolicyError> {
        let raw: RawPolicy = toml::from_str(text)
            .map_err(|e| PolicyError::Syntax { path: path.to_owned(), message: e.to_string().trim().to_owned() })?;
        let bad = |what: String, problem: &str| PolicyError::Invalid {
            path: path.to_owned(),
            what,
            problem: problem.to_owned(),
        };
        let level = |what: &str, text: &Option<String>, default: Level| match text {
            None => Ok(default),
            Some(t) => Level::from_name(t).ok_or_else(|| bad(what.to_owned(), "a level is none, low, medium or high")),
        };
        let count = |what: &str, n: Option<i64>, default: usize| match n {
            None => Ok(default),
            Some(n) if (1..=MAX_REVIEWERS as i64).contains(&n) => Ok(n as usize),
            Some(_) => Err(bad(what.to_owned(), "reviewers is a whole number from 1")),
        };
        let r = &raw.require;
        let require = Requirement {
            reviewers: count("[require]", r.reviewers, 1)?,
            level: level("[require] level", &r.level, Level::Low)?,
            understanding: level("[require] understanding", &r.understanding, Level::None)?,
            delta: r.delta.unwrap_or(false),
        };
        let mut rules = Vec::with_capacity(raw.rule.len());
        for (k, rule) in raw.rule.iter().enumerate() {
            let what = format!("rule {}", k + 1);
            if rule.kinds.is_empty() {
                return Err(bad(what, "kinds is empty"));
            }
            let kinds = rule
                .kinds
                .iter()
                .map(|n| SourceKind::from_name(n).ok_or_else(|| bad(what.clone(), "unknown source kind in kinds")))
                .collect::<Result<Vec<_>, _>>()?;
            let req = Requirement {
                reviewers: count(&what, rule.reviewers, require.reviewers)?,
                level: level(&what, &rule.level, require.level)?,
                understanding: level(&what, &rule.understanding, require.understanding)?,
                delta: rule.delta.unwrap_or(require.delta),
            };
            rules.push((kinds, req));
        }
        if raw.reviewer.len() > MAX_REVIEWERS {
            return Err(bad("[[reviewer]]".to_owned(), "too many reviewers"));
        }
        let mut reviewers = Vec::with_capacity(raw.reviewer.len());
        let mut keys = TrustedKeys::new();
        let mut key_owner = HashMap::new();
        let mut names = BTreeSet::new();
        for (k, rv) in raw.reviewer.iter().enumerate() {
            let what = format!("reviewer {} ({})", k + 1, rv.name);
            if rv.name.trim().is_empty() {
                return Err(bad(what, "the name is empty"));
            }
            if !names.insert(rv.name.as_str()) {
                return Err(bad(what, "another reviewer has this name"));
            }
            if rv.keys.is_empty() {
                return Err(bad(what, "keys is empty"));
            }
            if rv.keys.len() + rv.revoked.len() > MAX_REVIEWERS {
                return Err(bad(what, "too many keys"));
            }
            let until = match &rv.until {
                None => None,
                Some(dt) => Some(date(dt).ok_or_else(|| bad(what.clone(), "until is not a date (YYYY-MM-DD)"))?),
            };
            for (text, revoked) in rv.keys.iter().map(|t| (t, false)).chain(rv.revoked.iter().map(|t| (t, true))) {
                let key = PublicKey::parse(text.trim())
                    .map_err(|e| bad(what.clone(), &format!("key `{text}` is not a Nix public key: {e}")))?;
                if key_owner.insert(key.name().to_owned(), (k, revoked)).is_some() {
                    return Err(bad(what, &format!("the key name `{}` appears twice in the policy", key.name())));
                }
                keys.insert(key);
            }
            let group = rv.group.clone().filter(|g| !g.trim().is_empty()).unwrap_or_else(|| rv.name.clone());
            reviewers.push(Reviewer { name: rv.name.clone(), group, until });
        }
        let mut exemptions = Vec::with_capacity(raw.exempt.len());
        for (k, e) in raw.exempt.iter().enumerate() {
            let what = format!("exemption {}", k + 1);
            if e.name.is_none() && e.hash.is_none() {
                return Err(bad(what, "give the source's name, hash or both"));
            }
            if e.reason.trim().is_empty() {
                return Err(bad(what, "the reason is empty; say why the source needs no review"));
            }
            let until = match &e.until {
                None => None,
                Some(dt) => Some(date(dt).ok_or_else(|| bad(what.clone(), "until is not a date (YYYY-MM-DD)"))?),
            };
            exemptions.push(Exemption { name: e.name.clone(), hash: e.hash.clone(), reason: e.reason.clone(), until });
        }
        Ok(Policy { require, rules, reviewers, exemptions, keys, key_owner })
    }

    /// The requirement for a source of this kind.
    pub fn requirement(&self, kind: SourceKind) -> Requirement {
        self.rules.iter().find(|(kinds, _)| kinds.contains(&kind)).map_or(self.require, |(_, r)| *r)
    }
}

/// `reviewed`, `under-reviewed`, `unreviewed` or `exempt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Enough independent reviewers.
    Reviewed,
    /// An exemption applies.
    Exempt,
    /// Some reviews, too few count.
    UnderReviewed,
    /// No review of these bytes.
    Unreviewed,
}

impl Status {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Reviewed => "reviewed",
            Status::Exempt => "exempt",
            Status::UnderReviewed => "under-reviewed",
            Status::Unreviewed => "unreviewed",
        }
    }
}

/// One review seen for a source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewSeen {
    /// The review file.
    pub file: String,
    /// The reviewer.
    pub reviewer: String,
    /// Their group.
    pub group: String,
    /// The key that signed.
    pub key: String,
    /// `whole`, `files` or `delta`.
    pub scope: &'static str,
    /// Thoroughness.
    pub level: Level,
    /// Understanding.
    pub understanding: Level,
    /// Whether it counts.
    pub counted: bool,
    /// Why not, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why_not: Option<String>,
}

/// A record no policy key signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnknownRecord {
    /// The file.
    pub file: String,
    /// The key names it claims.
    pub key_ids: Vec<String>,
    /// The reviewed source's name.
    pub source: String,
    /// Its content digest.
    pub digest: String,
}

/// The verdict on one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceVerdict {
    /// The `.drv` path.
    pub drv_path: String,
    /// The derivation name.
    pub name: String,
    /// The source kind.
    pub kind: SourceKind,
    /// The declared hash, SRI.
    pub hash: String,
    /// The content digest reviews name, when it can be reviewed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The verdict.
    pub status: Status,
    /// What it needs.
    pub required: Requirement,
    /// Reviewers whose reviews count, sorted.
    pub counted_reviewers: Vec<String>,
    /// Their distinct groups, sorted.
    pub counted_groups: Vec<String>,
    /// Every review of its bytes by a policy key.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reviews: Vec<ReviewSeen>,
    /// Records of its bytes signed by keys the policy does not name (never counted).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown_key_reviews: Vec<String>,
    /// What is missing, when not reviewed or exempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
    /// The exemption that applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exemption: Option<Exemption>,
    /// Expired exemptions that match it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expired_exemptions: Vec<Exemption>,
}

/// Counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySummary {
    /// Sources checked.
    pub sources: usize,
    /// Reviewed.
    pub reviewed: usize,
    /// Exempt.
    pub exempt: usize,
    /// Under-reviewed.
    pub under_reviewed: usize,
    /// Unreviewed.
    pub unreviewed: usize,
    /// Review records read.
    pub records: usize,
    /// Records signed by keys the policy does not name.
    pub unknown_key_records: usize,
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyReport {
    /// True when every source is reviewed or exempt.
    pub passed: bool,
    /// Counts.
    pub summary: PolicySummary,
    /// One verdict per source, in the order given.
    pub sources: Vec<SourceVerdict>,
    /// Records no policy key signed, sorted by file.
    pub unknown_key_records: Vec<UnknownRecord>,
}

/// A verified signature of a record by a policy key.
#[derive(Debug, Clone)]
struct Signed {
    record: usize,
    reviewer: usize,
    key: String,
    /// Why it counts for nothing whatever it says (revoked, expired).
    void: Option<String>,
}

struct Checker<'a> {
    policy: &'a Policy,
    records: &'a [LoadedRecord],
    /// Digest -> signatures of records about it.
    by_digest: HashMap<&'a ContentDigest, Vec<Signed>>,
    /// (digest, requirement) -> counted groups; `None` while being computed (a cycle).
    memo: HashMap<(&'a ContentDigest, Req), Option<BTreeSet<usize>>>,
}

type Req = (usize, Level, Level, bool);

fn key_of(r: &Requirement) -> Req {
    (r.reviewers, r.level, r.understanding, r.delta)
}

impl<'a> Checker<'a> {
    /// Why a signature does not count toward `req` (for the record alone; a delta's old
    /// source is checked by the caller).
    fn why_not(&self, s: &Signed, req: &Requirement) -> Option<String> {
        if let Some(v) = &s.void {
            return Some(v.clone());
        }
        let review = &self.records.get(s.record)?.record.review;
        match &review.scope {
            Scope::Files(_) => return Some("covers only some files".to_owned()),
            Scope::Delta(_) if !req.delta => {
                return Some("a delta review; the policy counts only whole ones".to_owned());
            }
            _ => {}
        }
        if review.level < req.level {
            return Some(format!("level {} is below {}", review.level, req.level));
        }
        if review.understanding < req.understanding {
            return Some(format!("understanding {} is below {}", review.understanding, req.understanding));
        }
        None
    }

    /// The groups of reviewers whose reviews of `digest` count toward `req`.
    fn groups(&mut self, digest: &'a ContentDigest, req: &Requirement) -> BTreeSet<usize> {
        let key = (digest, key_of(req));
        if let Some(done) = self.memo.get(&key) {
            return done.clone().unwrap_or_default();
        }
        self.memo.insert(key, None);
        let mut groups = BTreeSet::new();
        let signed = self.by_digest.get(digest).cloned().unwrap_or_default();
        for s in &signed {
            if self.counts(s, req) {
                groups.insert(s.reviewer);
            }
        }
        let groups: BTreeSet<usize> = groups.into_iter().filter_map(|r| self.group_index(r)).collect();
        self.memo.insert(key, Some(groups.clone()));
        groups
    }

    fn counts(&mut self, s: &Signed, req: &Requirement) -> bool {
        if self.why_not(s, req).is_some() {
            return false;
        }
        let Some(record) = self.records.get(s.record).map(|r| &r.record) else { return false };
        match &record.from_digest {
            None => true,
            Some(from) => self.groups(from, req).len() >= req.reviewers,
        }
    }

    /// A stable index for a reviewer's group: the index of the first reviewer of that group.
    fn group_index(&self, reviewer: usize) -> Option<usize> {
        let group = &self.policy.reviewers.get(reviewer)?.group;
        self.policy.reviewers.iter().position(|r| &r.group == group)
    }
}

/// Checks `sources` against `policy` with the review `records` (module docs), on `today`.
pub fn check(
    policy: &Policy,
    sources: &[Source],
    records: &[LoadedRecord],
    today: Date,
) -> Result<PolicyReport, PolicyError> {
    let verified = records
        .par_iter()
        .map(|r| r.record.signers(&policy.keys).map_err(|source| PolicyError::Record { path: r.path.clone(), source }))
        .collect();
    judge(policy, sources, records, today, verified)
}

/// A record's verified signers and the ids of the checks that succeeded.
type SignersAndChecks = (Vec<String>, Vec<CheckId>);

/// [`check`], where signature checks `cache` remembers need no ed25519; the checks that
/// succeed are noted in `cache` (the caller saves it).
pub fn check_remembering(
    policy: &Policy,
    sources: &[Source],
    records: &[LoadedRecord],
    today: Date,
    cache: &mut CheckCache,
) -> Result<PolicyReport, PolicyError> {
    // Verify every record once, in parallel.
    let known = cache.known();
    let verified: Vec<Result<SignersAndChecks, PolicyError>> = records
        .par_iter()
        .map(|r| {
            r.record
                .signers_remembering(&policy.keys, known)
                .map_err(|source| PolicyError::Record { path: r.path.clone(), source })
        })
        .collect();
    let verified: Vec<Result<Vec<String>, PolicyError>> = verified
        .into_iter()
        .map(|v| {
            v.map(|(signers, ids)| {
                cache.remember(ids);
                signers
            })
        })
        .collect();
    judge(policy, sources, records, today, verified)
}

/// The check, once every record's signers are known (`verified`, in the order of `records`).
fn judge(
    policy: &Policy,
    sources: &[Source],
    records: &[LoadedRecord],
    today: Date,
    verified: Vec<Result<Vec<String>, PolicyError>>,
) -> Result<PolicyReport, PolicyError> {
    let mut by_digest: HashMap<&ContentDigest, Vec<Signed>> = HashMap::new();
    let mut unknown: Vec<UnknownRecord> = Vec::new();
    let mut unknown_by_digest: HashMap<&ContentDigest, Vec<String>> = HashMap::new();
    for (i, (r, signers)) in records.iter().zip(verified).enumerate() {
        let signers = signers?;
        if signers.is_empty() {
            let file = r.path.display().to_string();
            unknown_by_digest.entry(&r.record.digest).or_default().push(file.clone());
            unknown.push(UnknownRecord {
                file,
                key_ids: r.record.key_ids(),
                source: r.record.review.source.name.clone(),
                digest: r.record.digest.to_string(),
            });
            continue;
        }
        for key in signers {
            let Some(&(reviewer, revoked)) = policy.key_owner.get(&key) else { continue };
            let until = policy.reviewers.get(reviewer).and_then(|rv| rv.until);
            let void = if revoked {
                Some(format!("key {key} is revoked"))
            } else {
                until.filter(|u| *u < today).map(|u| format!("key {key} expired on {u}"))
            };
            by_digest.entry(&r.record.digest).or_default().push(Signed { record: i, reviewer, key, void });
        }
    }
    let mut checker = Checker { policy, records, by_digest, memo: HashMap::new() };
    let mut verdicts = Vec::with_capacity(sources.len());
    for s in sources {
        verdicts.push(verdict(&mut checker, s, today, &unknown_by_digest));
    }
    unknown.sort_by(|a, b| a.file.cmp(&b.file));
    let count = |st: Status| verdicts.iter().filter(|v| v.status == st).count();
    let summary = PolicySummary {
        sources: verdicts.len(),
        reviewed: count(Status::Reviewed),
        exempt: count(Status::Exempt),
        under_reviewed: count(Status::UnderReviewed),
        unreviewed: count(Status::Unreviewed),
        records: records.len(),
        unknown_key_records: unknown.len(),
    };
    let passed = summary.under_reviewed == 0 && summary.unreviewed == 0;
    Ok(PolicyReport { passed, summary, sources: verdicts, unknown_key_records: unknown })
}

fn verdict<'a>(
    checker: &mut Checker<'a>,
    s: &Source,
    today: Date,
    unknown_by_digest: &HashMap<&ContentDigest, Vec<String>>,
) -> SourceVerdict {
    let policy = checker.policy;
    let required = policy.requirement(s.kind);
    let digest = content_digest(s.mode, &s.hash);
    let exemption = policy.exemptions.iter().find(|e| !e.expired(today) && e.covers(s)).cloned();
    let expired_exemptions: Vec<Exemption> =
        policy.exemptions.iter().filter(|e| e.expired(today) && e.covers(s)).cloned().collect();
    let mut v = SourceVerdict {
        drv_path: s.drv_path.clone(),
        name: s.name.clone(),
        kind: s.kind,
        hash: s.hash.clone(),
        digest: digest.as_ref().ok().map(ToString::to_string),
        status: Status::Unreviewed,
        required,
        counted_reviewers: Vec::new(),
        counted_groups: Vec::new(),
        reviews: Vec::new(),
        unknown_key_reviews: Vec::new(),
        missing: None,
        exemption,
        expired_exemptions,
    };
    let digest = match digest {
        Ok(d) => d,
        Err(problem) => {
            v.missing = Some(format!("cannot be reviewed: {problem}"));
            if v.exemption.is_some() {
                v.status = Status::Exempt;
                v.missing = None;
            }
            return v;
        }
    };
    let records: &'a [LoadedRecord] = checker.records;
    let signed = checker.by_digest.get(&digest).cloned().unwrap_or_default();
    let mut counted: BTreeSet<usize> = BTreeSet::new();
    for sig in &signed {
        let Some(loaded) = records.get(sig.record) else { continue };
        let review = &loaded.record.review;
        let mut why_not = checker.why_not(sig, &required);
        if why_not.is_none()
            && let Some(from) = &loaded.record.from_digest
        {
            let have = checker.groups(from, &required).len();
            if have < required.reviewers {
                let name = match &review.scope {
                    Scope::Delta(f) => f.name.clone(),
                    _ => String::new(),
                };
                why_not = Some(format!(
                    "a delta from {name} ({from}), which has {have} of {} independent reviewers",
                    required.reviewers
                ));
            }
        }
        if why_not.is_none() {
            counted.insert(sig.reviewer);
        }
        let rv = policy.reviewers.get(sig.reviewer);
        v.reviews.push(ReviewSeen {
            file: loaded.path.display().to_string(),
            reviewer: rv.map(|r| r.name.clone()).unwrap_or_default(),
            group: rv.map(|r| r.group.clone()).unwrap_or_default(),
            key: sig.key.clone(),
            scope: review.scope.as_str(),
            level: review.level,
            understanding: review.understanding,
            counted: why_not.is_none(),
            why_not,
        });
    }
    let names: BTreeSet<&str> =
        counted.iter().filter_map(|&r| policy.reviewers.get(r)).map(|r| r.name.as_str()).collect();
    let groups: BTreeSet<&str> =
        counted.iter().filter_map(|&r| policy.reviewers.get(r)).map(|r| r.group.as_str()).collect();
    v.counted_reviewers = names.into_iter().map(str::to_owned).collect();
    v.counted_groups = groups.into_iter().map(str::to_owned).collect();
    v.unknown_key_reviews = unknown_by_digest.get(&digest).cloned().unwrap_or_default();
    finish(&mut v);
    v
}

/// Sets the status and what is missing from the counted groups.
fn finish(v: &mut SourceVerdict) {
    let have = v.counted_groups.len();
    let need = v.required.reviewers;
    v.status = if have >= need {
        Status::Reviewed
    } else if v.exemption.is_some() {
        Status::Exempt
    } else if v.reviews.is_empty() && v.unknown_key_reviews.is_empty() {
        Status::Unreviewed
    } else {
        Status::UnderReviewed
    };
    if matches!(v.status, Status::UnderReviewed | Status::Unreviewed) {
        let more = need - have;
        let delta = if v.required.delta { ", whole or delta from a reviewed version" } else { ", whole source" };
        v.missing = Some(format!(
            "{more} more independent reviewer{} (of {need}) at level {} or higher, understanding {} or higher{delta}",
            if more == 1 { "" } else { "s" },
            v.required.level,
            v.required.understanding,
        ));
    }
}
