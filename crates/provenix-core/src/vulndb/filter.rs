//! Version prefilters stored with each index key: the versions an
//! advisory's rules for that key can possibly match, so a scan decodes and
//! evaluates only the advisories a target's version falls within. A
//! filter is a superset: passing it means "evaluate", never "hit".
//!
//! Encoding (the `keys.filter` column): `*` for every version; otherwise
//! ranges separated by U+001E, each `<lower>` U+001F `<upper>`, where
//! `<lower>` is empty (unbounded), `[v` (inclusive) or `(v` (exclusive)
//! and `<upper>` is empty, `v]` or `v)`. No ranges (`""`) means no known
//! version can match. A target whose version is unknown always passes.

use std::cmp::Ordering;

use super::cpe::Value;
use super::rules::{CpeMatch, Cve5Affected, Status};
use super::version::Version;

const RANGES: char = '\u{1e}';
const BOUNDS: char = '\u{1f}';

/// One range of versions; `None` bounds are unbounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Range {
    lower: Option<(String, bool)>,
    upper: Option<(String, bool)>,
}

/// The versions a key's rules can match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Filter {
    /// Any version.
    All,
    /// Only these.
    Ranges(Vec<Range>),
}

impl Filter {
    pub(crate) fn none() -> Filter {
        Filter::Ranges(Vec::new())
    }

    fn exact(v: &str) -> Filter {
        Filter::Ranges(vec![Range { lower: Some((v.to_owned(), true)), upper: Some((v.to_owned(), true)) }])
    }

    /// Adds the versions of `other`.
    pub(crate) fn add(&mut self, other: Filter) {
        match (&mut *self, other) {
            (Filter::All, _) => {}
            (_, Filter::All) => *self = Filter::All,
            (Filter::Ranges(mine), Filter::Ranges(theirs)) => mine.extend(theirs),
        }
    }

    /// The text stored in the index.
    pub(crate) fn encode(&self) -> String {
        let Filter::Ranges(ranges) = self else { return "*".to_owned() };
        let bad = |v: &str| v.contains([RANGES, BOUNDS]) || v.is_empty();
        if ranges.iter().flat_map(|r| r.lower.iter().chain(&r.upper)).any(|(v, _)| bad(v)) {
            return "*".to_owned();
        }
        let mut out = String::new();
        for (i, r) in ranges.iter().enumerate() {
            if i > 0 {
                out.push(RANGES);
            }
            if let Some((v, inclusive)) = &r.lower {
                out.push(if *inclusive { '[' } else { '(' });
                out.push_str(v);
            }
            out.push(BOUNDS);
            if let Some((v, inclusive)) = &r.upper {
                out.push_str(v);
                out.push(if *inclusive { ']' } else { ')' });
            }
        }
        out
    }
}

/// True when a target at `version` can match a key stored with `encoded`.
pub(crate) fn passes(encoded: &str, version: Option<&Version<'_>>) -> bool {
    let Some(version) = version else { return true };
    if encoded == "*" {
        return true;
    }
    encoded.split(RANGES).filter(|r| !r.is_empty()).any(|range| {
        let (lower, upper) = range.split_once(BOUNDS).unwrap_or((range, ""));
        let lower_ok = match lower.chars().next() {
            None => true,
            Some(c) => {
                let ord = version.cmp(&Version::parse(lower.get(1..).unwrap_or_default()));
                ord == Ordering::Greater || (c == '[' && ord == Ordering::Equal)
            }
        };
        let upper_ok = match upper.chars().last() {
            None => true,
            Some(c) => {
                let bound = upper.get(..upper.len() - 1).unwrap_or_default();
                let ord = version.cmp(&Version::parse(bound));
                ord == Ordering::Less || (c == ']' && ord == Ordering::Equal)
            }
        };
        lower_ok && upper_ok
    })
}

/// The versions one vulnerable `cpeMatch` entry can match.
pub(crate) fn cpe_match(m: &CpeMatch) -> Filter {
    match &m.cpe.version {
        Value::Pattern(_) => return Filter::All,
        Value::Na => return Filter::none(),
        Value::Exact(v) if matches!(m.cpe.update, Value::Any | Value::Na) => return Filter::exact(v.as_str()),
        Value::Exact(_) => return Filter::All,
        Value::Any => {}
    }
    let b = &m.bounds;
    let lower = b.start_including.clone().map(|v| (v, true)).or_else(|| b.start_excluding.clone().map(|v| (v, false)));
    let upper = b.end_including.clone().map(|v| (v, true)).or_else(|| b.end_excluding.clone().map(|v| (v, false)));
    if lower.is_none() && upper.is_none() {
        return Filter::All;
    }
    Filter::Ranges(vec![Range { lower, upper }])
}

/// The versions one CVE 5 `affected` entry can make affected.
pub(crate) fn cve5_entry(entry: &Cve5Affected) -> Filter {
    if entry.default == Status::Affected {
        return Filter::All;
    }
    let mut filter = Filter::none();
    for (_, cpe) in &entry.cpes {
        match &cpe.version {
            Value::Exact(v) if matches!(cpe.update, Value::Any | Value::Na) => filter.add(Filter::exact(v.as_str())),
            Value::Exact(_) | Value::Pattern(_) => filter.add(Filter::All),
            Value::Any | Value::Na => {}
        }
    }
    for v in &entry.versions {
        let can_affect = v.status == Status::Affected || v.changes.iter().any(|(_, s)| *s == Status::Affected);
        if !can_affect {
            continue;
        }
        let open = matches!(v.version.as_str(), "0" | "*" | "" | "unspecified" | "n/a" | "-");
        let lower = (!open).then(|| (v.version.clone(), true));
        let upper = match (&v.less_than, &v.less_than_or_equal) {
            (Some(l), _) if l != "*" => Some((l.clone(), false)),
            (None, Some(l)) if l != "*" && !l.ends_with('*') => Some((l.clone(), true)),
            (None, None) => Some((v.version.clone(), true)),
            _ => None,
        };
        if lower.is_none() && upper.is_none() {
            return Filter::All;
        }
        filter.add(Filter::Ranges(vec![Range { lower, upper }]));
    }
    filter
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::{Filter, Range, passes};
    use crate::vulndb::version::Version;

    fn range(lower: Option<(&str, bool)>, upper: Option<(&str, bool)>) -> Range {
        Range { lower: lower.map(|(v, i)| (v.to_owned(), i)), upper: upper.map(|(v, i)| (v.to_owned(), i)) }
    }

    #[rstest]
    #[case::inclusive_lower_edge("5.6.0", true)]
    #[case::below("5.5", false)]
    #[case::exclusive_upper_edge("5.6.2", false)]
    #[case::inside("5.6.1", true)]
    #[case::second_range_inclusive_edge("7.0", true)]
    #[case::second_range_exclusive_lower("6.0", false)]
    #[case::past_all("7.0.1", false)]
    fn ranges_are_checked_like_the_rules(#[case] version: &str, #[case] pass: bool) {
        let filter = Filter::Ranges(vec![
            range(Some(("5.6.0", true)), Some(("5.6.2", false))),
            range(Some(("6.0", false)), Some(("7.0", true))),
        ]);
        assert_eq!(passes(&filter.encode(), Some(&Version::parse(version))), pass);
    }

    #[test]
    fn all_none_unknown_and_unbounded() {
        let v = Version::parse("1.0");
        assert!(passes("*", Some(&v)));
        assert!(!passes(&Filter::none().encode(), Some(&v)));
        assert!(passes(&Filter::none().encode(), None));
        assert!(passes(&Filter::Ranges(vec![range(None, Some(("2", false)))]).encode(), Some(&v)));
        assert!(passes(&Filter::Ranges(vec![range(Some(("0.5", false)), None)]).encode(), Some(&v)));
        let mut f = Filter::none();
        f.add(Filter::All);
        assert_eq!(f.encode(), "*");
    }

    #[test]
    fn separators_in_versions_fall_back_to_all() {
        let f = Filter::Ranges(vec![range(Some(("1\u{1e}2", true)), None)]);
        assert_eq!(f.encode(), "*");
    }
}
