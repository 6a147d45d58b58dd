//! SARIF 2.1.0 output of a scan, for code-scanning UIs.
//!
//! One rule per finding (`ruleId` = the CVE or advisory id, with the
//! summary, a help URI and `security-severity` = the CVSS base score, which
//! GitHub code scanning reads), and one result per affected component: the
//! `.drv` path is the artifact location (its one line the region), the
//! why-chain the logical location and the message says version, matched
//! rule and fixed version. The level
//! follows the CVSS score: `error` from 7.0, `warning` from 4.0 or without a
//! score, `note` below. Patched and whitelisted components are results too,
//! with a `suppressions` entry (`external` for a patch, `external` with the
//! reason for the whitelist), so the UI shows them as dismissed.
//! `partialFingerprints` identify a result across runs by id and `.drv` name
//! without its hash, so a rebuild with new inputs keeps the alert; when two
//! components of one id share a name (a static and a shared variant), theirs
//! carry the whole `.drv` file name, hash included, so no two results of a
//! run ever share a fingerprint.
//! The tests check the log against the official OASIS schema and with
//! Microsoft's SARIF Multitool, which must report no error or warning.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Affected, Finding, VulnsReport};
use crate::sarif::{ResultAt, suppressed};

fn level(f: &Finding) -> &'static str {
    match f.severity.as_ref().map(|s| s.score) {
        Some(s) if s >= 7.0 => "error",
        Some(s) if s < 4.0 => "note",
        _ => "warning",
    }
}

fn rule(f: &Finding) -> Value {
    let text = f.summary.clone().unwrap_or_else(|| f.id.clone());
    let short: String = text.chars().take(120).collect();
    let mut properties = json!({ "tags": ["security", "vulnerability"] });
    if let Some(s) = &f.severity {
        properties["security-severity"] = json!(format!("{:.1}", s.score));
        properties["cvss"] = json!({ "version": s.version, "vector": s.vector, "score": s.score });
    }
    if !f.aliases.is_empty() {
        properties["aliases"] = json!(f.aliases);
    }
    // No `name`: SARIF wants it to differ from `id` (Multitool rule SARIF1001), and the id is
    // the only name a vulnerability has.
    let mut rule = json!({
        "id": f.id,
        "shortDescription": { "text": short },
        "fullDescription": { "text": text },
        "defaultConfiguration": { "level": level(f) },
        "properties": properties,
    });
    let help = f
        .references
        .first()
        .cloned()
        .or_else(|| f.id.starts_with("CVE-").then(|| format!("https://nvd.nist.gov/vuln/detail/{}", f.id)));
    if let Some(uri) = help {
        rule["helpUri"] = json!(uri);
    }
    rule
}

fn result(f: &Finding, index: usize, a: &Affected, fingerprint: String) -> Value {
    let version = a.version.as_deref().unwrap_or("(no version)");
    let mut text = format!("{} {} ({}) is affected by {}: {}", a.pname, version, a.drv_path, f.id, a.rule);
    if let Some(fix) = a.fix_text() {
        text.push_str(&format!("; {fix}"));
    }
    let chain: Vec<&str> = a.why.iter().map(|p| crate::identity::short_name(p)).collect();
    if chain.len() > 1 {
        text.push_str(&format!(". Why: {}", chain.join(" -> ")));
    }
    let mut result = crate::sarif::result(ResultAt {
        rule_id: &f.id,
        rule_index: index,
        level: level(f),
        text,
        drv_path: &a.drv_path,
        logical: json!({ "name": a.pname, "fullyQualifiedName": chain.join(" -> "), "kind": "package" }),
        fingerprint: ("provenixFinding/v1", fingerprint),
        properties: json!({ "version": a.version, "fixed": a.fixed, "fixedCommit": a.fixed_commit, "runtime": a.runtime, "outputs": a.outputs }),
    });
    if let Some(patch) = &a.patch {
        result["suppressions"] = suppressed(format!("patched by {patch}"), false);
    } else if let Some(w) = &a.whitelist {
        let until = w.until.map(|d| format!(" (until {d})")).unwrap_or_default();
        result["suppressions"] = suppressed(format!("{}{until}", w.reason), true);
    }
    result
}

/// The scan as one SARIF 2.1.0 log.
pub fn to_sarif(report: &VulnsReport, tool_version: &str) -> Value {
    let mut rules = Vec::new();
    // An id can be in more than one list (one component patched, another not): one rule each.
    let mut rule_index: HashMap<&str, usize> = HashMap::new();
    let lists = [&report.findings, &report.patched, &report.whitelisted];
    let mut names: HashMap<(&str, &str), usize> = HashMap::new();
    for f in lists.iter().flat_map(|l| l.iter()) {
        for a in &f.components {
            *names.entry((f.id.as_str(), crate::identity::short_name(&a.drv_path))).or_default() += 1;
        }
    }
    let mut results = Vec::new();
    for f in lists.iter().flat_map(|l| l.iter()) {
        let index = *rule_index.entry(f.id.as_str()).or_insert_with(|| {
            rules.push(rule(f));
            rules.len() - 1
        });
        for a in &f.components {
            let name = crate::identity::short_name(&a.drv_path);
            let fingerprint = if names.get(&(f.id.as_str(), name)).is_some_and(|&n| n > 1) {
                let file = a.drv_path.rsplit('/').next().unwrap_or(&a.drv_path);
                format!("{}:{file}", f.id)
            } else {
                format!("{}:{name}.drv", f.id)
            };
            results.push(result(f, index, a, fingerprint));
        }
    }
    crate::sarif::log(tool_version, Value::Array(rules), results)
}
