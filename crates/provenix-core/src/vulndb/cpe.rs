//! CPE 2.3 formatted-string names (`cpe:2.3:part:vendor:product:version:update:...`)
//! and the NVD `cpeMatch` test of one component against one entry.
//!
//! # Grammar
//!
//! `cpe:2.3:` then eleven attributes separated by unescaped `:`: part,
//! vendor, product, version, update, edition, language, sw_edition,
//! target_sw, target_hw, other. A `\` escapes the next character
//! (`node\.js`, `notepad\+\+`, `a\:b`). `*` alone is ANY and `-` alone is NA;
//! an unescaped `*` or `?` inside a value is a wildcard (`1.2.*`). Names with
//! fewer attributes are padded with ANY (NVD always writes all thirteen
//! fields); more than thirteen fields, an empty value or a bad part is an error.
//! Vendor and product are kept unescaped, lowercase, trimmed and with
//! spaces as `_`, the form they are compared in; a [`super::CpeId`] is
//! compared the same way.
//!
//! # Matching a component
//!
//! A component matches an entry when:
//! - the part is `a` or `o` (hardware, `h`, is never in a store);
//! - vendor and product are equal, or ANY;
//! - the version holds: the entry's version attribute (with its update
//!   attribute appended as a pre-release or suffix, `2.0` + `rc1` = `2.0-rc1`)
//!   equals the component's version by [`super::version::compare`], or
//!   matches it as a wildcard pattern, or is ANY; and every
//!   `versionStart/End Including/Excluding` bound that is present holds.
//!   ANY with no bounds is every version. NA matches only a component
//!   whose version is unknown, and a component whose version is unknown
//!   matches nothing else.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::version::{Version, compare};

/// What is wrong with a CPE name.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CpeError {
    /// It does not start with `cpe:2.3:`.
    #[error("`{name}` does not start with `cpe:2.3:`")]
    Prefix {
        /// The name, shortened.
        name: String,
    },
    /// Too many attributes, an empty attribute or a trailing `\`.
    #[error("`{name}` is not 13 `:`-separated non-empty fields")]
    Fields {
        /// The name, shortened.
        name: String,
    },
    /// The part is not `a`, `o`, `h` or ANY.
    #[error("`{name}`: part is not a, o or h")]
    Part {
        /// The name, shortened.
        name: String,
    },
}

/// One attribute value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    /// `*`: any value.
    #[serde(rename = "*")]
    Any,
    /// `-`: not applicable.
    #[serde(rename = "-")]
    Na,
    /// A plain value, unescaped.
    #[serde(rename = "v")]
    Exact(String),
    /// A value with unescaped `*`/`?` wildcards, kept escaped (`\` before literals).
    #[serde(rename = "w")]
    Pattern(String),
}

/// The attributes of a CPE name that matching uses (serialised with short
/// names: this is how the index stores them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cpe {
    /// `a`, `o`, `h`, or `*`.
    #[serde(rename = "p")]
    pub part: char,
    /// Lowercase, unescaped; `*` for ANY.
    #[serde(rename = "v")]
    pub vendor: String,
    /// Lowercase, unescaped; `*` for ANY.
    #[serde(rename = "n")]
    pub product: String,
    /// The version attribute.
    #[serde(rename = "r")]
    pub version: Value,
    /// The update attribute.
    #[serde(rename = "u")]
    pub update: Value,
}

const FIELDS: usize = 13;

fn short(name: &str) -> String {
    name.chars().take(120).collect()
}

impl Cpe {
    /// Parses a CPE 2.3 formatted string.
    pub fn parse(name: &str) -> Result<Cpe, CpeError> {
        let rest = name.strip_prefix("cpe:2.3:").ok_or_else(|| CpeError::Prefix { name: short(name) })?;
        let fields = split_fields(rest).ok_or_else(|| CpeError::Fields { name: short(name) })?;
        if fields.len() > FIELDS - 2 || fields.iter().any(String::is_empty) {
            return Err(CpeError::Fields { name: short(name) });
        }
        let field = |i: usize| fields.get(i).map_or("*", String::as_str);
        let part = match field(0) {
            "a" => 'a',
            "o" => 'o',
            "h" => 'h',
            "*" => '*',
            _ => return Err(CpeError::Part { name: short(name) }),
        };
        let name_value = |i: usize| match value(field(i)) {
            Value::Any => "*".to_owned(),
            Value::Na => "-".to_owned(),
            Value::Exact(v) | Value::Pattern(v) => super::rules::normalize_name(&v),
        };
        Ok(Cpe {
            part,
            vendor: name_value(1),
            product: name_value(2),
            version: value(field(3)),
            update: value(field(4)),
        })
    }

    /// True for a part that can describe something in a store (`a`, `o`, ANY).
    pub fn is_software(&self) -> bool {
        self.part != 'h'
    }

    /// The version attribute with the update appended, or `None` for ANY/NA versions.
    fn full_version(&self) -> Option<(String, bool)> {
        let (base, pattern) = match &self.version {
            Value::Exact(v) => (v.clone(), false),
            Value::Pattern(v) => (v.clone(), true),
            Value::Any | Value::Na => return None,
        };
        Some(match &self.update {
            Value::Exact(u) => (format!("{base}-{u}"), pattern),
            Value::Pattern(u) => (format!("{base}-{u}"), true),
            Value::Any | Value::Na => (base, pattern),
        })
    }
}

/// Splits on unescaped `:`, keeping escapes (`\x` stays two characters).
fn split_fields(rest: &str) -> Option<Vec<String>> {
    let mut fields = Vec::with_capacity(FIELDS);
    let mut current = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push('\\');
                current.push(chars.next()?);
            }
            ':' => {
                fields.push(std::mem::take(&mut current));
                if fields.len() > FIELDS {
                    return None;
                }
            }
            _ => current.push(c),
        }
    }
    fields.push(current);
    Some(fields)
}

/// Reads one escaped attribute value.
fn value(raw: &str) -> Value {
    match raw {
        "*" => return Value::Any,
        "-" => return Value::Na,
        _ => {}
    }
    let mut out = String::with_capacity(raw.len());
    let mut wildcard = false;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '*' | '?' => wildcard = true,
            _ => out.push(c),
        }
    }
    if wildcard { Value::Pattern(raw.to_owned()) } else { Value::Exact(out) }
}

/// Matches `text` against an escaped pattern with `*` (any run) and `?` (one character).
fn pattern_matches(pattern: &str, text: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum P {
        Lit(char),
        One,
        Many,
    }
    let mut pat = Vec::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        pat.push(match c {
            '\\' => P::Lit(chars.next().unwrap_or('\\')),
            '*' => P::Many,
            '?' => P::One,
            _ => P::Lit(c.to_ascii_lowercase()),
        });
    }
    let text: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    // Classic glob matching with one backtrack point: linear for one `*`, O(n·m) at worst.
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pat.get(p) {
            Some(P::Many) => {
                star = Some((p, t));
                p += 1;
            }
            Some(P::One) => {
                p += 1;
                t += 1;
            }
            Some(P::Lit(c)) if Some(c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pat.get(p..).is_some_and(|rest| rest.iter().all(|x| *x == P::Many))
}

/// The four optional bounds of a `cpeMatch` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bounds {
    /// `versionStartIncluding`.
    #[serde(rename = "si", default, skip_serializing_if = "Option::is_none")]
    pub start_including: Option<String>,
    /// `versionStartExcluding`.
    #[serde(rename = "se", default, skip_serializing_if = "Option::is_none")]
    pub start_excluding: Option<String>,
    /// `versionEndIncluding`.
    #[serde(rename = "ei", default, skip_serializing_if = "Option::is_none")]
    pub end_including: Option<String>,
    /// `versionEndExcluding`.
    #[serde(rename = "ee", default, skip_serializing_if = "Option::is_none")]
    pub end_excluding: Option<String>,
}

impl Bounds {
    /// True when no bound is present.
    pub fn is_empty(&self) -> bool {
        self.start_including.is_none()
            && self.start_excluding.is_none()
            && self.end_including.is_none()
            && self.end_excluding.is_none()
    }

    /// True when `version` is within every bound present.
    pub fn contain(&self, version: &Version<'_>) -> bool {
        let cmp = |bound: &Option<String>| bound.as_deref().map(|b| version.cmp(&Version::parse(b)));
        !matches!(cmp(&self.start_including), Some(Ordering::Less))
            && !matches!(cmp(&self.start_excluding), Some(Ordering::Less | Ordering::Equal))
            && !matches!(cmp(&self.end_including), Some(Ordering::Greater))
            && !matches!(cmp(&self.end_excluding), Some(Ordering::Greater | Ordering::Equal))
    }
}

impl fmt::Display for Bounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let all = [
            ("versionStartIncluding", &self.start_including),
            ("versionStartExcluding", &self.start_excluding),
            ("versionEndIncluding", &self.end_including),
            ("versionEndExcluding", &self.end_excluding),
        ];
        for (name, bound) in all {
            if let Some(b) = bound {
                write!(f, " {name} {b}")?;
            }
        }
        Ok(())
    }
}

/// True when a component with `version` (raw and parsed) is within the CPE's
/// version attribute and the bounds, by the rules in the module documentation.
pub fn version_matches(cpe: &Cpe, bounds: &Bounds, version: Option<(&str, &Version<'_>)>) -> bool {
    let Some((raw, parsed)) = version else {
        return matches!(cpe.version, Value::Na) || (matches!(cpe.version, Value::Any) && bounds.is_empty());
    };
    if matches!(cpe.version, Value::Na) {
        return false;
    }
    let attribute_holds = match cpe.full_version() {
        None => true,
        Some((pattern, true)) => pattern_matches(&pattern, raw),
        Some((exact, false)) => compare(&exact, raw) == Ordering::Equal,
    };
    attribute_holds && bounds.contain(parsed)
}

/// True when the entry's vendor and product name the component `(vendor, product)`,
/// both already lowercase.
pub fn names(cpe: &Cpe, vendor: &str, product: &str) -> bool {
    cpe.is_software() && (cpe.vendor == "*" || cpe.vendor == vendor) && (cpe.product == "*" || cpe.product == product)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::{Bounds, Cpe, CpeError, Value, names, pattern_matches, version_matches};
    use crate::vulndb::version::Version;

    #[test]
    fn parses_escapes_any_and_na() {
        let cpe = Cpe::parse(r"cpe:2.3:a:nodejs:node\.js:1.2\:3:-:*:*:*:*:*:*").unwrap();
        assert_eq!(cpe.part, 'a');
        assert_eq!(cpe.vendor, "nodejs");
        assert_eq!(cpe.product, "node.js");
        assert_eq!(cpe.version, Value::Exact("1.2:3".into()));
        assert_eq!(cpe.update, Value::Na);
        let cpe = Cpe::parse(r"cpe:2.3:a:Notepad-Plus-Plus:notepad\+\+:8.*").unwrap();
        assert_eq!(cpe.vendor, "notepad-plus-plus");
        assert_eq!(cpe.product, "notepad++");
        assert_eq!(cpe.version, Value::Pattern("8.*".into()));
        assert_eq!(cpe.update, Value::Any);
    }

    #[rstest]
    #[case::not_cpe("cpe:/a:x:y")]
    #[case::empty_field("cpe:2.3:a::y:*:*:*:*:*:*:*:*:*")]
    #[case::too_many("cpe:2.3:a:x:y:*:*:*:*:*:*:*:*:*:*")]
    #[case::bad_part("cpe:2.3:q:x:y:*:*:*:*:*:*:*:*")]
    #[case::trailing_escape("cpe:2.3:a:x:y\\")]
    fn rejects_malformed_names(#[case] name: &str) {
        assert!(matches!(
            Cpe::parse(name),
            Err(CpeError::Prefix { .. } | CpeError::Fields { .. } | CpeError::Part { .. })
        ));
    }

    fn bounds(si: Option<&str>, se: Option<&str>, ei: Option<&str>, ee: Option<&str>) -> Bounds {
        Bounds {
            start_including: si.map(Into::into),
            start_excluding: se.map(Into::into),
            end_including: ei.map(Into::into),
            end_excluding: ee.map(Into::into),
        }
    }

    #[rstest]
    #[case::any_unbounded("*", None, None, None, None, Some("1.0"), true)]
    #[case::any_unbounded_unknown_version("*", None, None, None, None, None, true)]
    #[case::bounded_unknown_version("*", Some("1"), None, None, None, None, false)]
    #[case::exact("5.6.0", None, None, None, None, Some("5.6.0"), true)]
    #[case::exact_trailing_zero("153.0", None, None, None, None, Some("153.0.0"), true)]
    #[case::exact_other("5.6.0", None, None, None, None, Some("5.6.1"), false)]
    #[case::na_with_version("-", None, None, None, None, Some("1"), false)]
    #[case::na_unknown_version("-", None, None, None, None, None, true)]
    #[case::pattern("8.*", None, None, None, None, Some("8.4.1"), true)]
    #[case::pattern_other("8.*", None, None, None, None, Some("9.0"), false)]
    #[case::start_including_edge("*", Some("5.6.0"), None, None, None, Some("5.6.0"), true)]
    #[case::start_including_below("*", Some("5.6.0"), None, None, None, Some("5.5.99"), false)]
    #[case::start_excluding_edge("*", None, Some("5.6.0"), None, None, Some("5.6.0"), false)]
    #[case::start_excluding_above("*", None, Some("5.6.0"), None, None, Some("5.6.0.1"), true)]
    #[case::end_including_edge("*", None, None, Some("5.6.1"), None, Some("5.6.1"), true)]
    #[case::end_including_one_past("*", None, None, Some("5.6.1"), None, Some("5.6.2"), false)]
    #[case::end_excluding_edge("*", None, None, None, Some("5.6.2"), Some("5.6.2"), false)]
    #[case::end_excluding_below("*", None, None, None, Some("5.6.2"), Some("5.6.1"), true)]
    #[case::end_excluding_rc("*", None, None, None, Some("2.0"), Some("2.0-rc1"), true)]
    #[case::both_inside("*", Some("5.6.0"), None, None, Some("5.6.2"), Some("5.6.1"), true)]
    #[case::both_past("*", Some("5.6.0"), None, None, Some("5.6.2"), Some("5.6.2"), false)]
    fn versions_match_the_attribute_and_bounds(
        #[case] version_attribute: &str,
        #[case] si: Option<&str>,
        #[case] se: Option<&str>,
        #[case] ei: Option<&str>,
        #[case] ee: Option<&str>,
        #[case] component: Option<&str>,
        #[case] expected: bool,
    ) {
        let cpe = Cpe::parse(&format!("cpe:2.3:a:tukaani:xz:{version_attribute}:*:*:*:*:*:*:*")).unwrap();
        let parsed = component.map(Version::parse);
        let version = component.zip(parsed.as_ref());
        assert_eq!(version_matches(&cpe, &bounds(si, se, ei, ee), version), expected);
    }

    #[test]
    fn update_attribute_is_a_pre_release() {
        let cpe = Cpe::parse("cpe:2.3:a:x:y:2.0:rc1:*:*:*:*:*:*").unwrap();
        let v = Version::parse("2.0-rc1");
        assert!(version_matches(&cpe, &Bounds::default(), Some(("2.0-rc1", &v))));
        let v = Version::parse("2.0");
        assert!(!version_matches(&cpe, &Bounds::default(), Some(("2.0", &v))));
    }

    #[rstest]
    #[case::same("cpe:2.3:a:tukaani:xz:*:*:*:*:*:*:*:*", true)]
    #[case::other_vendor("cpe:2.3:a:other:xz:*:*:*:*:*:*:*:*", false)]
    #[case::other_product("cpe:2.3:a:tukaani:xz_utils:*:*:*:*:*:*:*:*", false)]
    #[case::any_vendor("cpe:2.3:a:*:xz:*:*:*:*:*:*:*:*", true)]
    #[case::os_part("cpe:2.3:o:tukaani:xz:*:*:*:*:*:*:*:*", true)]
    #[case::hardware_part("cpe:2.3:h:tukaani:xz:*:*:*:*:*:*:*:*", false)]
    fn names_need_vendor_and_product(#[case] name: &str, #[case] expected: bool) {
        assert_eq!(names(&Cpe::parse(name).unwrap(), "tukaani", "xz"), expected);
    }

    #[rstest]
    #[case("1.*", "1.2.3", true)]
    #[case("1.?.3", "1.2.3", true)]
    #[case("1.?.3", "1.22.3", false)]
    #[case("*", "", true)]
    #[case(r"1\*", "1*", true)]
    #[case(r"1\*", "12", false)]
    #[case("*.3", "1.2.3", true)]
    #[case("*.4", "1.2.3", false)]
    fn wildcard_patterns(#[case] pattern: &str, #[case] text: &str, #[case] expected: bool) {
        assert_eq!(pattern_matches(pattern, text), expected);
    }
}
