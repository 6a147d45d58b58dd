//! Matching tests on data in the real NVD 2.0, CVE 5 and OSV formats,
//! written to a temporary directory, indexed and scanned like `provenix vulns` does.

use std::collections::HashSet;
use std::path::Path;

use serde_json::{Value, json};
use tempfile::TempDir;

use super::{CpeId, Hit, IndexStats, Package, RepoRef, Target, VulnDb};
use crate::verify::NoProgress;

mod bench;
mod cve5;
mod index;
mod nvd;
mod osv;

/// Writes `files` (relative path, JSON) under a new directory.
fn write_dir(files: &[(&str, Value)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, value) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    }
    dir
}

/// Indexes `dir` into `dir/../index.sqlite`-like file inside a second temp dir.
fn open(dir: &Path) -> (TempDir, VulnDb, IndexStats) {
    let cache = tempfile::tempdir().unwrap();
    let (db, stats) = VulnDb::open(dir, &cache.path().join("vulns.sqlite"), &NoProgress).unwrap();
    (cache, db, stats)
}

/// A database of `files`; keep the returned directories alive while using it.
fn db(files: &[(&str, Value)]) -> (TempDir, TempDir, VulnDb, IndexStats) {
    let dir = write_dir(files);
    let (cache, db, stats) = open(dir.path());
    (dir, cache, db, stats)
}

fn cpe_target(vendor: &str, product: &str, version: Option<&str>) -> Target {
    Target {
        version: version.map(Into::into),
        cpes: vec![CpeId { vendor: vendor.into(), product: product.into() }],
        ..Target::default()
    }
}

fn package_target(ecosystem: &str, name: &str, version: &str) -> Target {
    Target {
        version: Some(version.into()),
        packages: vec![Package { ecosystem: ecosystem.into(), name: name.into(), version: None }],
        ..Target::default()
    }
}

fn repo_target(url: &str, version: Option<&str>, tag: Option<&str>, rev: Option<&str>) -> Target {
    Target {
        version: version.map(Into::into),
        repos: vec![RepoRef { url: url.into(), tag: tag.map(Into::into), rev: rev.map(Into::into) }],
        ..Target::default()
    }
}

fn linux() -> HashSet<(String, String)> {
    HashSet::new()
}

/// `(target, advisory id, rule as text, fixed)` of each hit.
fn summary(hits: &[Hit]) -> Vec<(usize, String, String, Option<String>)> {
    hits.iter().map(|h| (h.target, h.advisory.id.clone(), h.rule.to_string(), h.fixed.clone())).collect()
}

/// The ids hit by one target.
fn ids(db: &VulnDb, target: Target, present: &HashSet<(String, String)>) -> Vec<String> {
    db.scan(&[target], present).unwrap().iter().map(|h| h.advisory.id.clone()).collect()
}

/// An NVD CVE API 2.0 page of `cves`.
fn nvd_page(cves: Vec<Value>) -> Value {
    let n = cves.len();
    json!({
        "resultsPerPage": n,
        "startIndex": 0,
        "totalResults": n,
        "format": "NVD_CVE",
        "version": "2.0",
        "timestamp": "2024-04-01T12:00:00.000",
        "vulnerabilities": cves.into_iter().map(|c| json!({ "cve": c })).collect::<Vec<_>>(),
    })
}

/// An NVD 2.0 `cve` object with `configurations`.
fn nvd_cve(id: &str, configurations: Value) -> Value {
    json!({
        "id": id,
        "sourceIdentifier": "cve@mitre.org",
        "published": "2024-03-29T17:15:21.150",
        "lastModified": "2024-04-01T10:00:00.000",
        "vulnStatus": "Analyzed",
        "descriptions": [
            { "lang": "es", "value": "Descripción" },
            { "lang": "en", "value": format!("{id}: malicious code in the upstream tarballs") }
        ],
        "metrics": {
            "cvssMetricV31": [
                {
                    "source": "secalert@redhat.com", "type": "Secondary",
                    "cvssData": { "version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
                                  "baseScore": 10.0, "baseSeverity": "CRITICAL" },
                    "exploitabilityScore": 3.9, "impactScore": 6.0
                },
                {
                    "source": "nvd@nist.gov", "type": "Primary",
                    "cvssData": { "version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                                  "baseScore": 9.8, "baseSeverity": "CRITICAL" },
                    "exploitabilityScore": 3.9, "impactScore": 5.9
                }
            ]
        },
        "weaknesses": [ { "source": "nvd@nist.gov", "type": "Primary", "description": [ { "lang": "en", "value": "CWE-506" } ] } ],
        "configurations": configurations,
        "references": [ { "url": "https://www.openwall.com/lists/oss-security/2024/03/29/4", "source": "cve@mitre.org" } ]
    })
}

/// One `cpeMatch` entry with the bounds given as `(name, value)`.
fn cpe_match(vulnerable: bool, criteria: &str, bounds: &[(&str, &str)]) -> Value {
    let mut m = json!({
        "vulnerable": vulnerable,
        "criteria": criteria,
        "matchCriteriaId": "8D5C3F8E-3A5B-4D5C-9E8A-1F2B3C4D5E6F"
    });
    for (name, value) in bounds {
        m[*name] = json!(value);
    }
    m
}

/// A configuration of one OR node.
fn or_config(matches: Vec<Value>) -> Value {
    json!({ "nodes": [ { "operator": "OR", "negate": false, "cpeMatch": matches } ] })
}

/// A CVE JSON 5 record with a CNA container holding `affected`.
fn cve5_record(id: &str, affected: Value) -> Value {
    json!({
        "dataType": "CVE_RECORD",
        "dataVersion": "5.1",
        "cveMetadata": {
            "cveId": id,
            "assignerOrgId": "8254265b-2729-46b6-b9e3-3dfca2d5bfca",
            "assignerShortName": "mitre",
            "state": "PUBLISHED",
            "datePublished": "2024-03-29T00:00:00.000Z",
            "dateUpdated": "2024-04-02T00:00:00.000Z"
        },
        "containers": {
            "cna": {
                "providerMetadata": { "orgId": "8254265b-2729-46b6-b9e3-3dfca2d5bfca", "shortName": "mitre" },
                "title": "a title",
                "descriptions": [ { "lang": "en", "value": format!("{id} description") } ],
                "affected": affected,
                "metrics": [ { "format": "CVSS", "cvssV3_1": {
                    "version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                    "baseScore": 9.8, "baseSeverity": "CRITICAL" } } ],
                "references": [ { "url": "https://example.org/advisory" } ]
            }
        }
    })
}

/// An OSV record with `affected`.
fn osv_record(id: &str, affected: Value) -> Value {
    json!({
        "schema_version": "1.6.0",
        "id": id,
        "modified": "2024-05-01T00:00:00Z",
        "published": "2024-04-01T00:00:00Z",
        "aliases": ["CVE-2024-35195"],
        "summary": "Requests `Session` object does not verify requests after making first request with verify=False",
        "details": "long details",
        "severity": [ { "type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:H/I:H/A:N" } ],
        "affected": affected,
        "references": [ { "type": "ADVISORY", "url": "https://github.com/psf/requests/security/advisories/GHSA-9wx4-h78v-vm56" } ],
        "database_specific": { "severity": "MODERATE" }
    })
}
