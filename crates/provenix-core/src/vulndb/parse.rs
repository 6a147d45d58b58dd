//! One input file: which format it is, and its records parsed into
//! advisories with their rules.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use super::rules::RuleSet;
use super::{Advisory, MAX_SUMMARY_CHARS, VulnDbError, cve5, nvd, osv};

/// The formats a record can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// NVD CVE API 2.0 (a page, or one `cve`).
    Nvd,
    /// CVE JSON 5.
    Cve5,
    /// OSV.
    Osv,
}

/// One advisory that can match something.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    pub advisory: Advisory,
    /// The last-modified time as written (`""` when absent), to pick between copies.
    pub modified: String,
    pub rules: RuleSet,
}

/// What one file holds.
#[derive(Debug, Default)]
pub(crate) struct FileOutcome {
    pub records: Vec<Parsed>,
    pub rejected: usize,
    pub withdrawn: usize,
    /// `(reason, "id: detail")` of each unusable item skipped.
    pub skipped: Vec<(&'static str, String)>,
}

impl FileOutcome {
    pub(crate) fn skip(&mut self, reason: &'static str, id: &str, detail: impl std::fmt::Display) {
        self.skipped.push((reason, format!("{id}: {detail}")));
    }
}

/// The top-level keys that tell the formats apart.
#[derive(Deserialize)]
struct Sniff<'a> {
    #[serde(borrow)]
    vulnerabilities: Option<Vec<&'a RawValue>>,
    #[serde(rename = "CVE_Items")]
    cve_items: Option<IgnoredAny>,
    #[serde(rename = "dataType")]
    data_type: Option<IgnoredAny>,
    #[serde(rename = "cveMetadata")]
    cve_metadata: Option<IgnoredAny>,
    cve: Option<IgnoredAny>,
    id: Option<IgnoredAny>,
    modified: Option<IgnoredAny>,
    #[serde(rename = "vulnStatus")]
    vuln_status: Option<IgnoredAny>,
    #[serde(rename = "sourceIdentifier")]
    source_identifier: Option<IgnoredAny>,
    descriptions: Option<IgnoredAny>,
}

/// Parses one file's bytes. `file` names it in errors and advisories;
/// `only` restricts the formats accepted (the fuzz targets use it).
pub(crate) fn parse_file(file: &str, bytes: &[u8], only: Option<Kind>) -> Result<FileOutcome, VulnDbError> {
    let json_error = |source| VulnDbError::Json { file: file.to_owned(), source };
    let mut out = FileOutcome::default();
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        let records: Vec<&RawValue> = serde_json::from_slice(bytes).map_err(json_error)?;
        for (index, record) in records.into_iter().enumerate() {
            let sniff: Sniff<'_> = serde_json::from_str(record.get()).map_err(|source| VulnDbError::Record {
                file: file.to_owned(),
                index,
                id: None,
                kind: "record",
                source,
            })?;
            dispatch(file, index, record.get(), &sniff, only, &mut out)?;
        }
        return Ok(out);
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| VulnDbError::UnknownFormat { file: file.to_owned(), hint: "; it is not UTF-8".to_owned() })?;
    let sniff: Sniff<'_> = serde_json::from_str(text).map_err(json_error)?;
    dispatch(file, 0, text, &sniff, only, &mut out)?;
    Ok(out)
}

fn dispatch(
    file: &str,
    index: usize,
    text: &str,
    sniff: &Sniff<'_>,
    only: Option<Kind>,
    out: &mut FileOutcome,
) -> Result<(), VulnDbError> {
    let unknown = |hint: &str| VulnDbError::UnknownFormat { file: file.to_owned(), hint: hint.to_owned() };
    let kind = if sniff.vulnerabilities.is_some() {
        Kind::Nvd
    } else if sniff.cve_items.is_some() {
        return Err(unknown("; it looks like an NVD 1.1 feed (CVE_Items), which NVD retired: use API 2.0 pages"));
    } else if sniff.data_type.is_some() || sniff.cve_metadata.is_some() {
        Kind::Cve5
    } else if sniff.cve.is_some() {
        Kind::Nvd
    } else if sniff.id.is_some() && sniff.modified.is_some() {
        Kind::Osv
    } else if sniff.id.is_some()
        && (sniff.vuln_status.is_some() || sniff.source_identifier.is_some() || sniff.descriptions.is_some())
    {
        Kind::Nvd
    } else {
        return Err(unknown(""));
    };
    if only.is_some_and(|o| o != kind) {
        return Err(unknown("; not the format asked for"));
    }
    match kind {
        Kind::Nvd => match &sniff.vulnerabilities {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    nvd::parse_item(file, i, item.get(), true, out)?;
                }
                Ok(())
            }
            None => nvd::parse_item(file, index, text, sniff.cve.is_some(), out),
        },
        Kind::Cve5 => cve5::parse_record(file, index, text, out),
        Kind::Osv => osv::parse_record(file, index, text, out),
    }
}

/// The id of a record that failed to parse, when it has one where its format puts it.
pub(crate) fn record_id(text: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let id = value
        .pointer("/cve/id")
        .or_else(|| value.pointer("/cveMetadata/cveId"))
        .or_else(|| value.get("id"))?
        .as_str()?;
    Some(id.chars().take(100).collect())
}

/// A summary cut to [`MAX_SUMMARY_CHARS`] characters, trimmed; `None` when empty.
pub(crate) fn summary(text: Option<&str>) -> Option<String> {
    let text = text?.trim();
    if text.is_empty() {
        return None;
    }
    let mut out: String = text.chars().take(MAX_SUMMARY_CHARS).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    Some(out)
}

/// The CVSS level of a score, by the CVSS v3 table.
pub(crate) fn level(score: f64) -> &'static str {
    if score >= 9.0 {
        "CRITICAL"
    } else if score >= 7.0 {
        "HIGH"
    } else if score >= 4.0 {
        "MEDIUM"
    } else if score > 0.0 {
        "LOW"
    } else {
        "NONE"
    }
}
