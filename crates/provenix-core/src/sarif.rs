//! SARIF 2.1.0, the parts every provenix log shares: the envelope (one run
//! whose tool is provenix), results located at a `.drv` file, and
//! suppressions. What a rule and a result say belongs to the caller
//! ([`crate::vulns::sarif`] for a scan, [`crate::review::sarif`] for a policy
//! check).
//!
//! A finding is about a whole `.drv` file, which Nix writes as one line of
//! ATerm (newlines inside strings are escaped), so the region of a result is
//! line 1, which satisfies the SARIF Multitool's rule that every result has
//! a region (SARIF2017). `columnKind` is `unicodeCodePoints`, as SARIF asks
//! a producer to say.

use serde_json::{Value, json};

/// The schema URI SARIF files name.
pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// A SARIF log of one provenix run: the tool, its `rules` and the `results`.
pub fn log(tool_version: &str, rules: Value, results: Vec<Value>) -> Value {
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "provenix",
                "version": tool_version,
                "informationUri": env!("CARGO_PKG_REPOSITORY"),
                "rules": rules,
            } },
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    })
}

/// What a result says and where it points.
pub(crate) struct ResultAt<'a> {
    /// `ruleId`.
    pub rule_id: &'a str,
    /// `ruleIndex`: the rule's place in the run's `rules`.
    pub rule_index: usize,
    /// `level`: `error`, `warning` or `note`.
    pub level: &'a str,
    /// The message.
    pub text: String,
    /// The `.drv` path (or, from an SBOM, a `bom-ref`) the result is about.
    pub drv_path: &'a str,
    /// The one `logicalLocations` entry.
    pub logical: Value,
    /// The `partialFingerprints` entry: its key and value.
    pub fingerprint: (&'a str, String),
    /// `properties`.
    pub properties: Value,
}

/// One result located at line 1 of its `.drv` file.
pub(crate) fn result(r: ResultAt<'_>) -> Value {
    let mut fingerprints = serde_json::Map::new();
    fingerprints.insert(r.fingerprint.0.to_owned(), Value::String(r.fingerprint.1));
    json!({
        "ruleId": r.rule_id,
        "ruleIndex": r.rule_index,
        "level": r.level,
        "message": { "text": r.text },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": file_uri(r.drv_path) },
                "region": { "startLine": 1, "endLine": 1 },
            },
            "logicalLocations": [r.logical],
        }],
        "partialFingerprints": fingerprints,
        "properties": r.properties,
    })
}

/// A `suppressions` value: dismissed outside the tool (a patch, a whitelist
/// entry, an exemption), `accepted` when someone decided to live with it.
pub(crate) fn suppressed(justification: String, accepted: bool) -> Value {
    if accepted {
        json!([{ "kind": "external", "status": "accepted", "justification": justification }])
    } else {
        json!([{ "kind": "external", "justification": justification }])
    }
}

/// A `.drv` path as a `file://` URI; anything else (an SBOM's `bom-ref`) as a relative URI.
pub(crate) fn file_uri(path: &str) -> String {
    let mut uri = String::from(if path.starts_with('/') { "file://" } else { "" });
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~+".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_escape_what_a_uri_cannot_hold() {
        assert_eq!(file_uri("/nix/store/abc-a b.drv"), "file:///nix/store/abc-a%20b.drv");
        assert_eq!(file_uri("pkg:pypi/requests@2.31.0"), "pkg%3Apypi/requests%402.31.0");
    }

    #[test]
    fn a_result_points_at_line_1_of_its_drv_file() {
        let r = result(ResultAt {
            rule_id: "CVE-1",
            rule_index: 0,
            level: "error",
            text: "x".into(),
            drv_path: "/nix/store/abc-x.drv",
            logical: json!({ "name": "x" }),
            fingerprint: ("provenixFinding/v1", "CVE-1:x.drv".into()),
            properties: json!({}),
        });
        assert_eq!(r["locations"][0]["physicalLocation"]["region"]["startLine"], 1);
        assert_eq!(r["partialFingerprints"]["provenixFinding/v1"], "CVE-1:x.drv");
        assert_eq!(log("1.0", json!([]), vec![r])["runs"][0]["results"][0]["ruleId"], "CVE-1");
    }
}
