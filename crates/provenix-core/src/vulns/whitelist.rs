//! The whitelist: findings a team has looked at and accepted, each with a
//! reason and, usually, an expiry date.
//!
//! # Format
//!
//! TOML, one `[[ignore]]` table per entry:
//!
//! ```toml
//! [[ignore]]
//! id = "CVE-2024-1234"        # required: a CVE, GHSA or OSV id (matches a finding's id or an alias)
//! pname = "openssl"           # optional: only this package
//! version = "3.0.1"           # optional: only this version (needs pname)
//! reason = "the TLS server is not built"   # required, not empty
//! until = 2026-06-30          # optional: a TOML date or "YYYY-MM-DD"
//! ```
//!
//! An entry applies through the end of its `until` day. After that it is
//! expired: it no longer hides anything and the scan warns about it, so an
//! accepted risk comes back for review instead of staying hidden forever.
//! Unknown keys are an error, so a typo (`expires`, `package`) cannot
//! silently widen or narrow an entry.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Errors from reading a whitelist.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WhitelistError {
    /// The file could not be read.
    #[error("reading whitelist {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not TOML of the documented shape.
    #[error("whitelist {}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// An entry breaks a rule.
    #[error("whitelist {}: entry {index} ({id}): {problem}", path.display())]
    Entry {
        /// The file.
        path: PathBuf,
        /// 1-based position of the entry.
        index: usize,
        /// Its id.
        id: String,
        /// What is wrong.
        problem: &'static str,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    ignore: Vec<RawEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    id: String,
    pname: Option<String>,
    version: Option<String>,
    reason: String,
    until: Option<Until>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Until {
    Date(toml::value::Datetime),
    Text(String),
}

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// Year.
    pub year: u16,
    /// Month, 1–12.
    pub month: u8,
    /// Day, 1–31.
    pub day: u8,
}

impl Date {
    /// The date, when it is one on the Gregorian calendar (`2026-02-31` is not).
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (1..=days).contains(&day).then_some(Date { year, month, day })
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Date> {
        let mut parts = s.split('-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One accepted finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WhitelistEntry {
    /// The id it accepts.
    pub id: String,
    /// Only this package.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pname: Option<String>,
    /// Only this version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why it is accepted.
    pub reason: String,
    /// Last day it applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Date>,
}

impl WhitelistEntry {
    /// True if the entry is past its `until` day on `today`.
    pub fn expired(&self, today: Date) -> bool {
        self.until.is_some_and(|until| until < today)
    }

    /// True if the entry covers a finding with these ids in this package.
    pub fn covers(&self, ids: &[&str], pname: &str, version: Option<&str>) -> bool {
        ids.iter().any(|id| id.eq_ignore_ascii_case(&self.id))
            && self.pname.as_deref().is_none_or(|p| p == pname)
            && self.version.as_deref().is_none_or(|v| Some(v) == version)
    }
}

/// Every entry of a whitelist file.
#[derive(Debug, Clone, Default)]
pub struct Whitelist {
    /// The entries, in file order.
    pub entries: Vec<WhitelistEntry>,
}

impl Whitelist {
    /// Reads a whitelist file.
    pub fn load(path: &Path) -> Result<Whitelist, WhitelistError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| WhitelistError::Io { path: path.to_owned(), source })?;
        Whitelist::parse(&text, path)
    }

    /// Parses a whitelist; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Whitelist, WhitelistError> {
        let raw: RawFile = toml::from_str(text)
            .map_err(|e| WhitelistError::Syntax { path: path.to_owned(), message: e.to_string().trim().to_owned() })?;
        let mut entries = Vec::with_capacity(raw.ignore.len());
        for (k, e) in raw.ignore.into_iter().enumerate() {
            let bad =
                |problem| WhitelistError::Entry { path: path.to_owned(), index: k + 1, id: e.id.clone(), problem };
            if e.id.trim().is_empty() {
                return Err(bad("the id is empty"));
            }
            if e.reason.trim().is_empty() {
                return Err(bad("the reason is empty; say why the finding is accepted"));
            }
            if e.version.is_some() && e.pname.is_none() {
                return Err(bad("a version needs a pname"));
            }
            let until = match &e.until {
                None => None,
                Some(Until::Date(dt)) => match (dt.date, dt.time) {
                    (Some(d), None) => {
                        Some(Date::new(d.year, d.month, d.day).ok_or_else(|| bad("until is not a date (YYYY-MM-DD)"))?)
                    }
                    _ => return Err(bad("until is not a date (YYYY-MM-DD)")),
                },
                Some(Until::Text(s)) => Some(Date::parse(s).ok_or_else(|| bad("until is not a date (YYYY-MM-DD)"))?),
            };
            entries.push(WhitelistEntry { id: e.id, pname: e.pname, version: e.version, reason: e.reason, until });
        }
        Ok(Whitelist { entries })
    }

    /// The first entry that covers the finding and has not expired on `today`.
    pub fn find(&self, ids: &[&str], pname: &str, version: Option<&str>, today: Date) -> Option<&WhitelistEntry> {
        self.entries.iter().find(|e| !e.expired(today) && e.covers(ids, pname, version))
    }

    /// The entries expired on `today`.
    pub fn expired(&self, today: Date) -> impl Iterator<Item = &WhitelistEntry> {
        self.entries.iter().filter(move |e| e.expired(today))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[[ignore]]
id = "CVE-2024-1"
reason = "not reachable"
until = 2026-06-30

[[ignore]]
id = "GHSA-xxxx-yyyy-zzzz"
pname = "requests"
version = "2.31.0"
reason = "vendored copy unused"
until = "2030-01-01"

[[ignore]]
id = "CVE-2024-3"
reason = "forever"
"#;

    fn date(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn dates_are_calendar_dates() {
        for ok in ["2024-02-29", "2000-02-29", "2026-12-31", "2026-04-30"] {
            assert_eq!(Date::parse(ok).map(|d| d.to_string()).as_deref(), Some(ok));
        }
        for bad in ["2026-02-29", "1900-02-29", "2026-02-31", "2026-06-31", "2026-00-10", "2026-01-00", "2026-1-01"] {
            assert_eq!(Date::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn entries_apply_through_their_last_day() {
        let list = Whitelist::parse(FILE, Path::new("w.toml")).unwrap();
        assert_eq!(list.entries.len(), 3);
        assert!(list.find(&["CVE-2024-1"], "x", None, date("2026-06-30")).is_some());
        assert!(list.find(&["CVE-2024-1"], "x", None, date("2026-07-01")).is_none(), "expired the day after");
        assert_eq!(list.expired(date("2026-07-01")).map(|e| e.id.as_str()).collect::<Vec<_>>(), ["CVE-2024-1"]);
        assert!(list.find(&["CVE-2024-3"], "x", None, date("2999-01-01")).is_some(), "no until: never expires");
    }

    #[test]
    fn entries_match_aliases_and_narrow_by_package() {
        let list = Whitelist::parse(FILE, Path::new("w.toml")).unwrap();
        let today = date("2026-01-01");
        assert!(list.find(&["CVE-2023-9", "GHSA-xxxx-yyyy-zzzz"], "requests", Some("2.31.0"), today).is_some());
        assert!(list.find(&["GHSA-xxxx-yyyy-zzzz"], "requests", Some("2.32.0"), today).is_none());
        assert!(list.find(&["GHSA-xxxx-yyyy-zzzz"], "urllib3", Some("2.31.0"), today).is_none());
        assert!(list.find(&["CVE-2024-10"], "x", None, today).is_none(), "ids match whole, never by prefix");
    }

    #[test]
    fn errors_name_the_file_and_the_entry() {
        let cases = [
            ("[[ignore]]\nid = \"CVE-1\"\nreason = \"\"\n", "whitelist w.toml: entry 1 (CVE-1): the reason is empty"),
            (
                "[[ignore]]\nid = \"CVE-1\"\nreason = \"r\"\nuntil = \"2026-13-01\"\n",
                "entry 1 (CVE-1): until is not a date",
            ),
            ("[[ignore]]\nid = \"CVE-1\"\nreason = \"r\"\nuntil = 2026-01-01T10:00:00Z\n", "until is not a date"),
            ("[[ignore]]\nid = \"CVE-1\"\nreason = \"r\"\nuntil = \"2026-02-29\"\n", "until is not a date"),
            ("[[ignore]]\nid = \"CVE-1\"\nreason = \"r\"\nuntil = \"2026-04-31\"\n", "until is not a date"),
            ("[[ignore]]\nid = \"CVE-1\"\nreason = \"r\"\nuntil = 2100-02-29\n", "invalid date"),
            ("[[ignore]]\nid = \"CVE-1\"\nreason = \"r\"\nversion = \"1\"\n", "a version needs a pname"),
            ("[[ignore]]\nid = \"CVE-1\"\nreason = \"r\"\nexpires = 2026-01-01\n", "expires"),
            ("[[ignore]]\nid = \"CVE-1\"\n", "reason"),
        ];
        for (text, want) in cases {
            let err = Whitelist::parse(text, Path::new("w.toml")).unwrap_err().to_string();
            assert!(err.contains(want) && err.starts_with("whitelist w.toml"), "{err:?} lacks {want:?}");
        }
    }
}
