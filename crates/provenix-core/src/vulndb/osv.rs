//! OSV records (<https://ossf.github.io/osv-schema/>).
//!
//! Fields read: `id`, `modified`, `published`, `withdrawn` (set: skipped),
//! `aliases`, `summary` (else `details`), `severity[]` (`CVSS_V3` vectors
//! are scored; others are ignored), `references[].url` and
//! `affected[].{package.{ecosystem, name}, ranges[].{type, repo, events},
//! versions[]}`. Other fields are ignored.
//!
//! An entry without a `package` is identified by the repositories of its
//! `GIT` ranges (curl's own feed, `CURL-CVE-…`, is written so): its
//! `SEMVER`/`ECOSYSTEM` ranges and `versions[]` are kept and apply to a
//! component of that repository.
//!
//! Skipped and counted: ranges of an unknown `type`, `GIT` ranges without
//! `repo`, `SEMVER`/`ECOSYSTEM` ranges of an entry with neither a package
//! nor a `GIT` range with a `repo`, entries with nothing left, and records
//! with no usable entry.

use serde::Deserialize;

use super::cvss::base_score;
use super::nvd::Reference;
use super::parse::{FileOutcome, Parsed, level, record_id, summary};
use super::rules::{Event, OsvAffected, OsvRange, RuleSet, normalize_repo, normalize_tag, repo_name};
use super::{Advisory, MAX_REFERENCES, Severity, Source, VulnDbError};

#[derive(Deserialize)]
struct Record {
    id: String,
    modified: Option<String>,
    published: Option<String>,
    withdrawn: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    summary: Option<String>,
    details: Option<String>,
    #[serde(default)]
    severity: Vec<OsvSeverity>,
    #[serde(default)]
    affected: Vec<Affected>,
    #[serde(default)]
    references: Vec<Reference>,
}

#[derive(Deserialize)]
struct OsvSeverity {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Deserialize)]
struct Affected {
    package: Option<PackageField>,
    #[serde(default)]
    ranges: Vec<Range>,
    #[serde(default)]
    versions: Vec<String>,
}

#[derive(Deserialize)]
struct PackageField {
    ecosystem: String,
    name: String,
}

#[derive(Deserialize)]
struct Range {
    #[serde(rename = "type")]
    kind: String,
    repo: Option<String>,
    #[serde(default)]
    events: Vec<Event>,
}

/// Parses one OSV record (record `index` of `file`).
pub(crate) fn parse_record(file: &str, index: usize, text: &str, out: &mut FileOutcome) -> Result<(), VulnDbError> {
    let record: Record = serde_json::from_str(text).map_err(|source| VulnDbError::Record {
        file: file.to_owned(),
        index,
        id: record_id(text),
        kind: "OSV record",
        source,
    })?;
    if record.withdrawn.is_some() {
        out.withdrawn += 1;
        return Ok(());
    }
    let entries: Vec<OsvAffected> = record.affected.iter().filter_map(|a| entry(&record.id, a, out)).collect();
    if entries.is_empty() {
        out.skip("no usable affected entry", &record.id, "no package or GIT repository to match");
        return Ok(());
    }
    let mut aliases = record.aliases.clone();
    aliases.sort();
    aliases.dedup();
    let advisory = Advisory {
        id: record.id.clone(),
        aliases,
        source: Source::Osv,
        summary: summary(record.summary.as_deref().filter(|s| !s.trim().is_empty()).or(record.details.as_deref())),
        // CVSS v3 first, as for NVD entries, then v4.
        severity: ["CVSS_V3", "CVSS_V4"].iter().find_map(|kind| {
            let s = record.severity.iter().find(|s| s.kind == *kind)?;
            let (score, version) = base_score(&s.score)?;
            Some(Severity {
                score,
                version: version.to_owned(),
                vector: s.score.clone(),
                level: level(score).to_owned(),
            })
        }),
        published: record.published.clone(),
        modified: record.modified.clone(),
        references: record.references.iter().take(MAX_REFERENCES).map(|r| r.url.clone()).collect(),
        file: file.to_owned(),
    };
    out.records.push(Parsed { advisory, modified: record.modified.unwrap_or_default(), rules: RuleSet::Osv(entries) });
    Ok(())
}

fn entry(id: &str, affected: &Affected, out: &mut FileOutcome) -> Option<OsvAffected> {
    let package = affected.package.as_ref().map(|p| (p.ecosystem.clone(), p.name.clone()));
    // Without a package, the entry's repositories say what its versions are versions of.
    let has_repo = affected.ranges.iter().any(|r| r.kind == "GIT" && r.repo.is_some());
    let mut ranges = Vec::with_capacity(affected.ranges.len());
    for range in &affected.ranges {
        match range.kind.as_str() {
            "GIT" => match &range.repo {
                Some(repo) => ranges.push(OsvRange {
                    kind: range.kind.clone(),
                    repo: Some(normalize_repo(repo)),
                    events: range.events.clone(),
                }),
                None => out.skip("GIT range without repo", id, "no repository to match"),
            },
            "SEMVER" | "ECOSYSTEM" if package.is_some() || has_repo => {
                ranges.push(OsvRange { kind: range.kind.clone(), repo: None, events: range.events.clone() });
            }
            "SEMVER" | "ECOSYSTEM" => out.skip("range without package", id, format!("{} range", range.kind)),
            other => out.skip("unknown range type", id, format!("`{other}`")),
        }
    }
    let repos: Vec<String> = ranges.iter().filter_map(|r| r.repo.clone()).collect();
    let mut names: Vec<&str> = repos.iter().map(|r| repo_name(r)).collect();
    if let Some((_, name)) = &package {
        names.push(name.rsplit('/').next().unwrap_or(name));
    }
    let tags = if repos.is_empty() {
        Vec::new()
    } else {
        affected.versions.iter().map(|v| normalize_tag(v, &names)).collect()
    };
    if package.is_none() && repos.is_empty() {
        out.skip("no usable affected entry", id, "an entry without package or GIT range");
        return None;
    }
    if ranges.is_empty() && affected.versions.is_empty() {
        out.skip("no usable affected entry", id, "an entry without ranges or versions");
        return None;
    }
    Some(OsvAffected { package, ranges, versions: affected.versions.clone(), tags })
}
