//! SARIF 2.1.0 output of a policy check, so the gate shows in code-scanning UIs.
//!
//! Two rules, `unreviewed` and `under-reviewed`, and one result per source
//! that does not pass (level `error`), located at its `.drv` file (one line
//! of ATerm, so the region is line 1) with the source name as the logical
//! location; the message says what is missing and who reviewed. Exempt
//! sources are results too, suppressed with the exemption's reason, so the
//! UI shows them as dismissed. `partialFingerprints` name the rule and the
//! source's content digest (or its hash), so an alert stays the same alert
//! across runs until the bytes change. The tests check the log against the
//! official schema and with Microsoft's SARIF Multitool.

use serde_json::{Value, json};

use super::policy::{PolicyReport, SourceVerdict, Status};
use crate::sarif::{ResultAt, suppressed};

fn rules() -> Value {
    json!([
        {
            "id": "unreviewed",
            "shortDescription": { "text": "A source no trusted reviewer has reviewed" },
            "fullDescription": { "text": "No review record of these bytes by a key the policy names." },
            "defaultConfiguration": { "level": "error" },
            "properties": { "tags": ["supply-chain", "review"] },
        },
        {
            "id": "under-reviewed",
            "shortDescription": { "text": "A source with too few independent trusted reviews" },
            "fullDescription": { "text": "Reviews of these bytes exist, but fewer independent reviewers than the policy requires count." },
            "defaultConfiguration": { "level": "error" },
            "properties": { "tags": ["supply-chain", "review"] },
        },
    ])
}

fn result(v: &SourceVerdict) -> Option<Value> {
    let (rule, index) = match (v.status, v.reviews.is_empty() && v.unknown_key_reviews.is_empty()) {
        (Status::Reviewed, _) => return None,
        (Status::Unreviewed, _) | (Status::Exempt, true) => ("unreviewed", 0),
        (Status::UnderReviewed, _) | (Status::Exempt, false) => ("under-reviewed", 1),
    };
    let mut text = format!("{} ({}) is {}", v.name, v.kind, v.status.as_str());
    if let Some(missing) = &v.missing {
        text.push_str(&format!(": needs {missing}"));
    }
    if !v.counted_reviewers.is_empty() {
        text.push_str(&format!("; counted: {}", v.counted_reviewers.join(", ")));
    }
    let mut result = crate::sarif::result(ResultAt {
        rule_id: rule,
        rule_index: index,
        level: "error",
        text,
        drv_path: &v.drv_path,
        logical: json!({ "name": v.name, "kind": "package" }),
        fingerprint: ("provenixReview/v1", format!("{rule}:{}", v.digest.as_deref().unwrap_or(&v.hash))),
        properties: json!({
            "hash": v.hash,
            "countedReviewers": v.counted_reviewers,
            "requiredReviewers": v.required.reviewers,
        }),
    });
    if let Some(e) = &v.exemption {
        let until = e.until.map(|d| format!(" (until {d})")).unwrap_or_default();
        result["suppressions"] = suppressed(format!("{}{until}", e.reason), true);
    }
    Some(result)
}

/// The check as one SARIF 2.1.0 log.
pub fn to_sarif(report: &PolicyReport, tool_version: &str) -> Value {
    let results: Vec<Value> = report.sources.iter().filter_map(result).collect();
    crate::sarif::log(tool_version, rules(), results)
}
