//! CVE JSON 5 records (`"dataType": "CVE_RECORD"`).
//!
//! Fields read: `cveMetadata.{cveId, state, datePublished, dateUpdated}`
//! (state `REJECTED` is skipped), and from `containers.cna` then each of
//! `containers.adp[]`: `affected[].{vendor, product, defaultStatus,
//! cpes[], versions[].{version, status, lessThan, lessThanOrEqual,
//! versionType, changes[]}}`, `metrics[].{cvssV3_1, cvssV3_0, cvssV4_0,
//! cvssV2_0}`, `descriptions` (English first, else `title`) and
//! `references[].url`. Other fields are ignored.
//!
//! Skipped and counted: vendor or product `n/a` (or missing) when the
//! entry has no usable `cpes[]`; `cpes[]` that do not parse (CPE 2.2 URIs,
//! `cpe:/a:vendor:product:version`, are read as 2.3 names); versions with
//! `versionType: git`, an unknown `status` or no usable `version`; records
//! with no usable `affected` entry.

use serde::Deserialize;

use super::cpe::{Cpe, Value};
use super::nvd::{CvssData, LangString, Reference, from_cvss};
use super::parse::{FileOutcome, Parsed, record_id, summary};
use super::rules::{Cve5Affected, Cve5Version, RuleSet, Status, normalize_name};
use super::{Advisory, MAX_REFERENCES, Severity, Source, VulnDbError};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    cve_metadata: Metadata,
    #[serde(default)]
    containers: Containers,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    cve_id: String,
    state: String,
    date_published: Option<String>,
    date_updated: Option<String>,
}

#[derive(Deserialize, Default)]
struct Containers {
    cna: Option<Container>,
    #[serde(default)]
    adp: Vec<Container>,
}

#[derive(Deserialize)]
struct Container {
    #[serde(default)]
    affected: Vec<Affected>,
    #[serde(default)]
    metrics: Vec<Metric>,
    #[serde(default)]
    descriptions: Vec<LangString>,
    title: Option<String>,
    #[serde(default)]
    references: Vec<Reference>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Affected {
    vendor: Option<String>,
    product: Option<String>,
    #[serde(default)]
    versions: Vec<Version5>,
    default_status: Option<String>,
    #[serde(default)]
    cpes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Version5 {
    version: String,
    status: String,
    less_than: Option<String>,
    less_than_or_equal: Option<String>,
    version_type: Option<String>,
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    at: String,
    status: String,
}

#[derive(Deserialize)]
struct Metric {
    #[serde(rename = "cvssV4_0")]
    v40: Option<Cvss>,
    #[serde(rename = "cvssV3_1")]
    v31: Option<Cvss>,
    #[serde(rename = "cvssV3_0")]
    v30: Option<Cvss>,
    #[serde(rename = "cvssV2_0")]
    v20: Option<Cvss>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cvss {
    version: Option<String>,
    vector_string: String,
    base_score: f64,
    base_severity: Option<String>,
}

fn status(s: &str) -> Option<Status> {
    match s {
        "affected" => Some(Status::Affected),
        "unaffected" => Some(Status::Unaffected),
        "unknown" => Some(Status::Unknown),
        _ => None,
    }
}

/// Parses one CVE 5 record (record `index` of `file`).
pub(crate) fn parse_record(file: &str, index: usize, text: &str, out: &mut FileOutcome) -> Result<(), VulnDbError> {
    let record: Record = serde_json::from_str(text).map_err(|source| VulnDbError::Record {
        file: file.to_owned(),
        index,
        id: record_id(text),
        kind: "CVE 5 record",
        source,
    })?;
    let meta = &record.cve_metadata;
    if meta.state.eq_ignore_ascii_case("REJECTED") {
        out.rejected += 1;
        return Ok(());
    }
    let containers: Vec<&Container> = record.containers.cna.iter().chain(&record.containers.adp).collect();
    let mut entries = Vec::new();
    for affected in containers.iter().flat_map(|c| &c.affected) {
        if let Some(entry) = entry(&meta.cve_id, affected, out) {
            entries.push(entry);
        }
    }
    if entries.is_empty() {
        out.skip("no usable affected entry", &meta.cve_id, "no vendor/product or CPE to match");
        return Ok(());
    }
    let description = containers
        .iter()
        .flat_map(|c| &c.descriptions)
        .find(|d| d.lang.starts_with("en"))
        .or_else(|| containers.iter().flat_map(|c| &c.descriptions).next())
        .map(|d| d.value.as_str())
        .or_else(|| containers.iter().find_map(|c| c.title.as_deref()));
    let advisory = Advisory {
        id: meta.cve_id.clone(),
        aliases: Vec::new(),
        source: Source::Cve5,
        summary: summary(description),
        severity: severity(&containers),
        published: meta.date_published.clone(),
        modified: meta.date_updated.clone(),
        references: containers.iter().flat_map(|c| &c.references).take(MAX_REFERENCES).map(|r| r.url.clone()).collect(),
        file: file.to_owned(),
    };
    let modified = meta.date_updated.clone().unwrap_or_default();
    out.records.push(Parsed { advisory, modified, rules: RuleSet::Cve5(entries) });
    Ok(())
}

fn usable_name(name: Option<&str>) -> Option<String> {
    let n = normalize_name(name?);
    (!n.is_empty() && !matches!(n.as_str(), "n/a" | "unknown" | "unspecified" | "*" | "-")).then_some(n)
}

/// A CPE 2.2 URI as a 2.3 formatted string (no percent-decoding).
fn cpe22_to_23(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("cpe:/")?;
    let mut fields: Vec<&str> = rest.split(':').collect();
    fields.resize(11.max(fields.len()), "*");
    let fields: Vec<&str> = fields.into_iter().map(|f| if f.is_empty() { "*" } else { f }).collect();
    Some(format!("cpe:2.3:{}", fields.join(":")))
}

fn entry(id: &str, affected: &Affected, out: &mut FileOutcome) -> Option<Cve5Affected> {
    let vendor = affected.vendor.clone().unwrap_or_default();
    let product = affected.product.clone().unwrap_or_default();
    let key = usable_name(affected.vendor.as_deref()).zip(usable_name(affected.product.as_deref()));
    let mut cpes = Vec::with_capacity(affected.cpes.len());
    for name in &affected.cpes {
        let as23 = cpe22_to_23(name);
        match Cpe::parse(as23.as_deref().unwrap_or(name)) {
            Ok(cpe) if cpe.is_software() && cpe.product != "*" => cpes.push((name.clone(), cpe)),
            Ok(_) => out.skip("unusable CPE", id, format!("`{name}` names no software product")),
            Err(e) => out.skip("unparseable CPE", id, e),
        }
    }
    if key.is_none() && cpes.is_empty() {
        out.skip("no usable vendor/product", id, format!("vendor `{vendor}`, product `{product}`"));
        return None;
    }
    let mut versions = Vec::with_capacity(affected.versions.len());
    for v in &affected.versions {
        let Some(s) = status(&v.status) else {
            out.skip("unknown status", id, format!("`{}` of version `{}`", v.status, v.version));
            continue;
        };
        if v.version_type.as_deref() == Some("git") {
            out.skip("git version", id, format!("`{}` is a commit, not a version", v.version));
            continue;
        }
        let open = matches!(v.version.as_str(), "0" | "*" | "" | "unspecified" | "n/a" | "-");
        if open && v.less_than.is_none() && v.less_than_or_equal.is_none() {
            out.skip("no usable version", id, format!("`{}` is not a version", v.version));
            continue;
        }
        let mut changes: Vec<(String, Status)> =
            v.changes.iter().filter_map(|c| status(&c.status).map(|s| (c.at.clone(), s))).collect();
        changes.sort_by(|a, b| super::version::compare(&a.0, &b.0));
        versions.push(Cve5Version {
            version: v.version.clone(),
            status: s,
            less_than: v.less_than.clone(),
            less_than_or_equal: v.less_than_or_equal.clone(),
            changes,
        });
    }
    let default = affected.default_status.as_deref().and_then(status).unwrap_or(Status::Unknown);
    let versioned_cpe = cpes.iter().any(|(_, c)| matches!(c.version, Value::Exact(_) | Value::Pattern(_)));
    if versions.is_empty() && default != Status::Affected && !versioned_cpe {
        out.skip("no usable version", id, format!("{vendor}/{product}: no version is affected"));
        return None;
    }
    Some(Cve5Affected { vendor, product, key, cpes, versions, default })
}

fn severity(containers: &[&Container]) -> Option<Severity> {
    let metrics: Vec<&Metric> = containers.iter().flat_map(|c| &c.metrics).collect();
    type Pick = fn(&Metric) -> Option<&Cvss>;
    let pick: [(Pick, &str); 4] = [
        (|m| m.v31.as_ref(), "3.1"),
        (|m| m.v30.as_ref(), "3.0"),
        (|m| m.v40.as_ref(), "4.0"),
        (|m| m.v20.as_ref(), "2.0"),
    ];
    pick.into_iter().find_map(|(get, version)| {
        let c = metrics.iter().find_map(|m| get(m))?;
        let data = CvssData {
            version: c.version.clone(),
            vector_string: c.vector_string.clone(),
            base_score: c.base_score,
            base_severity: c.base_severity.clone(),
        };
        Some(from_cvss(&data, version, None))
    })
}
