//! NVD CVE API 2.0 records: one `vulnerabilities[]` item (`{"cve": {...}}`)
//! or a bare `cve` object.
//!
//! Fields read: `id`, `vulnStatus` (`Rejected` is skipped), `published`,
//! `lastModified`, `descriptions` (English first), `metrics`
//! (`cvssMetricV31`, `V30`, `V40`, `V2`: the `Primary` entry first),
//! `configurations[].{operator, negate, nodes[].{operator, negate,
//! cpeMatch[].{vulnerable, criteria, versionStart/End Including/Excluding}}}`
//! and `references[].url`. Other fields are ignored; a field of the wrong
//! type makes the record malformed. Any `operator` other than `AND` is `OR`.
//! A `cpeMatch` whose `criteria` does not parse, or a vulnerable one whose
//! product is ANY (it would name every component of a vendor, or every
//! component), is skipped and counted; an `AND` node that lost an entry
//! that way never holds.

use serde::Deserialize;

use super::cpe::{Bounds, Cpe};
use super::parse::{FileOutcome, Parsed, level, record_id, summary};
use super::rules::{Config, CpeMatch, Node, RuleSet};
use super::{Advisory, MAX_REFERENCES, Severity, Source, VulnDbError};

#[derive(Deserialize)]
struct Item {
    cve: Cve,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cve {
    id: String,
    vuln_status: Option<String>,
    published: Option<String>,
    last_modified: Option<String>,
    #[serde(default)]
    descriptions: Vec<LangString>,
    #[serde(default)]
    metrics: Metrics,
    #[serde(default)]
    configurations: Vec<NvdConfig>,
    #[serde(default)]
    references: Vec<Reference>,
}

#[derive(Deserialize)]
pub(crate) struct LangString {
    #[serde(default)]
    pub lang: String,
    pub value: String,
}

#[derive(Deserialize)]
pub(crate) struct Reference {
    pub url: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Metrics {
    #[serde(default)]
    cvss_metric_v40: Vec<Metric>,
    #[serde(default)]
    cvss_metric_v31: Vec<Metric>,
    #[serde(default)]
    cvss_metric_v30: Vec<Metric>,
    #[serde(default)]
    cvss_metric_v2: Vec<Metric>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metric {
    #[serde(rename = "type")]
    kind: Option<String>,
    cvss_data: CvssData,
    base_severity: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CvssData {
    pub version: Option<String>,
    pub vector_string: String,
    pub base_score: f64,
    pub base_severity: Option<String>,
}

#[derive(Deserialize)]
struct NvdConfig {
    operator: Option<String>,
    #[serde(default)]
    negate: bool,
    #[serde(default)]
    nodes: Vec<NvdNode>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NvdNode {
    operator: Option<String>,
    #[serde(default)]
    negate: bool,
    #[serde(default)]
    cpe_match: Vec<NvdCpeMatch>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NvdCpeMatch {
    vulnerable: bool,
    criteria: String,
    version_start_including: Option<String>,
    version_start_excluding: Option<String>,
    version_end_including: Option<String>,
    version_end_excluding: Option<String>,
}

/// Parses one record: `{"cve": {...}}` when `wrapped`, else the `cve` object.
pub(crate) fn parse_item(
    file: &str,
    index: usize,
    text: &str,
    wrapped: bool,
    out: &mut FileOutcome,
) -> Result<(), VulnDbError> {
    let parsed = if wrapped { serde_json::from_str::<Item>(text).map(|i| i.cve) } else { serde_json::from_str(text) };
    let cve = parsed.map_err(|source| VulnDbError::Record {
        file: file.to_owned(),
        index,
        id: record_id(text),
        kind: "NVD 2.0 CVE",
        source,
    })?;
    if cve.vuln_status.as_deref() == Some("Rejected") {
        out.rejected += 1;
        return Ok(());
    }
    let Some(rules) = rules(&cve, out) else { return Ok(()) };
    let description = cve.descriptions.iter().find(|d| d.lang == "en").or(cve.descriptions.first());
    let advisory = Advisory {
        id: cve.id.clone(),
        aliases: Vec::new(),
        source: Source::Nvd,
        summary: summary(description.map(|d| d.value.as_str())),
        severity: severity(&cve.metrics),
        published: cve.published.clone(),
        modified: cve.last_modified.clone(),
        references: cve.references.iter().take(MAX_REFERENCES).map(|r| r.url.clone()).collect(),
        file: file.to_owned(),
    };
    out.records.push(Parsed { advisory, modified: cve.last_modified.unwrap_or_default(), rules });
    Ok(())
}

fn rules(cve: &Cve, out: &mut FileOutcome) -> Option<RuleSet> {
    if cve.configurations.is_empty() {
        out.skip("no configurations", &cve.id, cve.vuln_status.as_deref().unwrap_or("no vulnStatus"));
        return None;
    }
    let mut configs = Vec::with_capacity(cve.configurations.len());
    for config in &cve.configurations {
        let mut nodes = Vec::with_capacity(config.nodes.len());
        for node in &config.nodes {
            let and = node.operator.as_deref() == Some("AND");
            let mut matches = Vec::with_capacity(node.cpe_match.len());
            let mut lost = false;
            for m in &node.cpe_match {
                match Cpe::parse(&m.criteria) {
                    Ok(cpe) if m.vulnerable && cpe.product == "*" => {
                        out.skip("unusable CPE", &cve.id, format!("vulnerable `{}` names no product", m.criteria));
                        lost = true;
                    }
                    Ok(cpe) => matches.push(CpeMatch {
                        vulnerable: m.vulnerable,
                        criteria: m.criteria.clone(),
                        cpe,
                        bounds: Bounds {
                            start_including: m.version_start_including.clone(),
                            start_excluding: m.version_start_excluding.clone(),
                            end_including: m.version_end_including.clone(),
                            end_excluding: m.version_end_excluding.clone(),
                        },
                    }),
                    Err(e) => {
                        out.skip("unparseable CPE", &cve.id, e);
                        lost = true;
                    }
                }
            }
            if and && lost {
                matches.clear();
            }
            nodes.push(Node { and, negate: node.negate, matches });
        }
        configs.push(Config { and: config.operator.as_deref() == Some("AND"), negate: config.negate, nodes });
    }
    let usable =
        configs.iter().flat_map(|c| &c.nodes).flat_map(|n| &n.matches).any(|m| m.vulnerable && m.cpe.is_software());
    if !usable {
        out.skip("no vulnerable software CPE", &cve.id, "every cpeMatch is a platform or hardware");
        return None;
    }
    Some(RuleSet::Nvd(configs))
}

fn severity(metrics: &Metrics) -> Option<Severity> {
    let lists = [
        (&metrics.cvss_metric_v31, "3.1"),
        (&metrics.cvss_metric_v30, "3.0"),
        (&metrics.cvss_metric_v40, "4.0"),
        (&metrics.cvss_metric_v2, "2.0"),
    ];
    lists.into_iter().find_map(|(list, version)| {
        let m = list.iter().find(|m| m.kind.as_deref() == Some("Primary")).or(list.first())?;
        Some(from_cvss(&m.cvss_data, version, m.base_severity.as_deref()))
    })
}

/// A [`Severity`] from a CVSS data object (NVD and CVE 5 share its shape).
pub(crate) fn from_cvss(data: &CvssData, version: &str, outer_level: Option<&str>) -> Severity {
    let level = data
        .base_severity
        .as_deref()
        .or(outer_level)
        .map_or_else(|| level(data.base_score).to_owned(), str::to_uppercase);
    Severity {
        score: data.base_score,
        version: data.version.clone().unwrap_or_else(|| version.to_owned()),
        vector: data.vector_string.clone(),
        level,
    }
}
