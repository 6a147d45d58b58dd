//! The matching rules of one advisory as stored in the index ([`RuleSet`]),
//! and their evaluation against one component ([`Prepared`]), which gives
//! the [`MatchRule`] that matched and the fixed version when known.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::cpe::{self, Bounds, Cpe, Value};
use super::filter::{self, Filter};
use super::version::{Version, compare, in_wildcard};
use super::{Package, RepoRef, Target};

/// The rules of one advisory, by source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum RuleSet {
    /// NVD configurations.
    #[serde(rename = "n")]
    Nvd(Vec<Config>),
    /// CVE 5 `affected` entries (CNA and ADP).
    #[serde(rename = "c")]
    Cve5(Vec<Cve5Affected>),
    /// OSV `affected` entries.
    #[serde(rename = "o")]
    Osv(Vec<OsvAffected>),
}

/// One NVD configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Config {
    /// `operator: AND` over the nodes (otherwise OR).
    #[serde(rename = "a", default, skip_serializing_if = "is_false")]
    pub and: bool,
    /// `negate` of the configuration: a negated configuration never hits.
    #[serde(rename = "x", default, skip_serializing_if = "is_false")]
    pub negate: bool,
    /// The nodes.
    #[serde(rename = "n")]
    pub nodes: Vec<Node>,
}

/// One NVD node: `cpeMatch` entries combined by `operator`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Node {
    /// `operator: AND` over the entries (otherwise OR).
    #[serde(rename = "a", default, skip_serializing_if = "is_false")]
    pub and: bool,
    /// `negate`: the node holds when its entries do not.
    #[serde(rename = "x", default, skip_serializing_if = "is_false")]
    pub negate: bool,
    /// The entries whose CPE parsed.
    #[serde(rename = "m")]
    pub matches: Vec<CpeMatch>,
}

/// One `cpeMatch` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CpeMatch {
    /// `vulnerable`.
    #[serde(rename = "v", default, skip_serializing_if = "is_false")]
    pub vulnerable: bool,
    /// `criteria` as written.
    #[serde(rename = "c")]
    pub criteria: String,
    /// `criteria` parsed.
    #[serde(rename = "p")]
    pub cpe: Cpe,
    /// The version bounds.
    #[serde(rename = "b", default, skip_serializing_if = "Bounds::is_empty")]
    pub bounds: Bounds,
}

/// A CVE 5 status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Status {
    #[serde(rename = "a")]
    Affected,
    #[serde(rename = "u")]
    Unaffected,
    #[serde(rename = "?")]
    Unknown,
}

/// One CVE 5 `affected` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Cve5Affected {
    /// `vendor` as written.
    #[serde(rename = "v")]
    pub vendor: String,
    /// `product` as written.
    #[serde(rename = "p")]
    pub product: String,
    /// `(vendor, product)` lowercase with spaces as `_`, when both are usable.
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    pub key: Option<(String, String)>,
    /// `cpes[]` that parsed, as written and parsed.
    #[serde(rename = "c", default, skip_serializing_if = "Vec::is_empty")]
    pub cpes: Vec<(String, Cpe)>,
    /// `versions[]` that are usable.
    #[serde(rename = "r", default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<Cve5Version>,
    /// `defaultStatus`.
    #[serde(rename = "d")]
    pub default: Status,
}

/// One CVE 5 `versions[]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Cve5Version {
    /// `version`: the exact version, or the range's first version.
    #[serde(rename = "v")]
    pub version: String,
    /// `status`.
    #[serde(rename = "s")]
    pub status: Status,
    /// `lessThan` (`*` is unbounded).
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub less_than: Option<String>,
    /// `lessThanOrEqual` (`*` is unbounded, `6.1.*` is every `6.1` version).
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub less_than_or_equal: Option<String>,
    /// `changes[]`: status changes at versions within the range, sorted.
    #[serde(rename = "c", default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<(String, Status)>,
}

/// An OSV range event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// `introduced`: affected from this version (`0`: from the start).
    Introduced(String),
    /// `fixed`: not affected from this version.
    Fixed(String),
    /// `last_affected`: not affected after this version.
    LastAffected(String),
    /// `limit`: the range stops before this version.
    Limit(String),
}

impl Event {
    fn value(&self) -> &str {
        match self {
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => v,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Introduced(v) => write!(f, "introduced {v}"),
            Event::Fixed(v) => write!(f, "fixed {v}"),
            Event::LastAffected(v) => write!(f, "last_affected {v}"),
            Event::Limit(v) => write!(f, "limit {v}"),
        }
    }
}

/// One OSV range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OsvRange {
    /// `type`: `SEMVER`, `ECOSYSTEM` or `GIT`.
    #[serde(rename = "t")]
    pub kind: String,
    /// `repo` of a GIT range, normalised ([`normalize_repo`]).
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// `events`, in the file's order.
    #[serde(rename = "e")]
    pub events: Vec<Event>,
}

/// One OSV `affected` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OsvAffected {
    /// `package.ecosystem` and `package.name` as written.
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub package: Option<(String, String)>,
    /// `ranges[]`.
    #[serde(rename = "r", default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<OsvRange>,
    /// `versions[]` as written.
    #[serde(rename = "v", default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// `versions[]` as tags normalised for each GIT repository's name
    /// ([`normalize_tag`]), parallel to `versions`; empty without GIT ranges.
    #[serde(rename = "g", default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// How a component matched an advisory. `Display` gives one line for people;
/// JSON has a `kind` tag and camelCase fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
#[non_exhaustive]
pub enum MatchRule {
    /// An NVD `cpeMatch` entry (vulnerable), or a CVE 5 `cpes[]` entry.
    Cpe {
        /// The CPE name as written.
        criteria: String,
        /// `versionStartIncluding`.
        #[serde(skip_serializing_if = "Option::is_none")]
        version_start_including: Option<String>,
        /// `versionStartExcluding`.
        #[serde(skip_serializing_if = "Option::is_none")]
        version_start_excluding: Option<String>,
        /// `versionEndIncluding`.
        #[serde(skip_serializing_if = "Option::is_none")]
        version_end_including: Option<String>,
        /// `versionEndExcluding`.
        #[serde(skip_serializing_if = "Option::is_none")]
        version_end_excluding: Option<String>,
        /// The platform entry that an AND configuration also needed, when there was one.
        #[serde(skip_serializing_if = "Option::is_none")]
        platform: Option<String>,
    },
    /// A CVE 5 `affected` entry by vendor and product.
    Cve5 {
        /// `vendor` as written.
        vendor: String,
        /// `product` as written.
        product: String,
        /// The `versions[]` entry's `version`; none when `defaultStatus` decided.
        #[serde(skip_serializing_if = "Option::is_none")]
        version: Option<String>,
        /// Its `lessThan`.
        #[serde(skip_serializing_if = "Option::is_none")]
        less_than: Option<String>,
        /// Its `lessThanOrEqual`.
        #[serde(skip_serializing_if = "Option::is_none")]
        less_than_or_equal: Option<String>,
    },
    /// An OSV package's version listed in `versions[]`.
    OsvVersion {
        /// `package.ecosystem`.
        ecosystem: String,
        /// `package.name`.
        name: String,
        /// The listed version.
        version: String,
    },
    /// An OSV package's version within a SEMVER or ECOSYSTEM range.
    OsvRange {
        /// `package.ecosystem`.
        ecosystem: String,
        /// `package.name`.
        name: String,
        /// `SEMVER` or `ECOSYSTEM`.
        range_type: String,
        /// The range's events.
        events: Vec<Event>,
    },
    /// An upstream repository whose version or tag is listed in `versions[]`.
    GitVersion {
        /// The repository URL, normalised.
        repo: String,
        /// The listed entry as written.
        listed: String,
        /// The component's version or tag that equals it.
        version: String,
        /// True when it was the tag, false for the version.
        from_tag: bool,
    },
    /// An upstream repository checked out at the commit of an event.
    GitCommit {
        /// The repository URL, normalised.
        repo: String,
        /// The commit.
        rev: String,
        /// `introduced` or `last_affected`.
        event: String,
    },
    /// An upstream repository whose version is within a GIT range written with versions.
    GitRange {
        /// The repository URL, normalised.
        repo: String,
        /// The range's events.
        events: Vec<Event>,
    },
    /// An entry without a package (curl's own feed): the component is of the
    /// entry's GIT repository and its version is within the entry's SEMVER or
    /// ECOSYSTEM range.
    RepoRange {
        /// The repository URL, normalised.
        repo: String,
        /// `SEMVER` or `ECOSYSTEM`.
        range_type: String,
        /// The range's events.
        events: Vec<Event>,
    },
}

impl fmt::Display for MatchRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatchRule::Cpe {
                criteria,
                version_start_including,
                version_start_excluding,
                version_end_including,
                version_end_excluding,
                platform,
            } => {
                let bounds = Bounds {
                    start_including: version_start_including.clone(),
                    start_excluding: version_start_excluding.clone(),
                    end_including: version_end_including.clone(),
                    end_excluding: version_end_excluding.clone(),
                };
                write!(f, "{criteria}{bounds}")?;
                if let Some(p) = platform {
                    write!(f, " on {p}")?;
                }
                Ok(())
            }
            MatchRule::Cve5 { vendor, product, version, less_than, less_than_or_equal } => {
                write!(f, "CVE5 {vendor}/{product}")?;
                match (version, less_than, less_than_or_equal) {
                    (None, _, _) => write!(f, " defaultStatus affected"),
                    (Some(v), None, None) => write!(f, " version {v}"),
                    (Some(v), Some(l), _) => write!(f, " version {v} lessThan {l}"),
                    (Some(v), None, Some(l)) => write!(f, " version {v} lessThanOrEqual {l}"),
                }
            }
            MatchRule::OsvVersion { ecosystem, name, version } => {
                write!(f, "OSV {ecosystem}/{name} version {version} in versions[]")
            }
            MatchRule::OsvRange { ecosystem, name, range_type, events } => {
                write!(f, "OSV {ecosystem}/{name} {range_type} range")?;
                events.iter().try_for_each(|e| write!(f, " {e}"))
            }
            MatchRule::GitVersion { repo, listed, version, from_tag } => {
                let what = if *from_tag { "tag" } else { "version" };
                write!(f, "OSV GIT {repo} {what} {version} in versions[] as {listed}")
            }
            MatchRule::GitCommit { repo, rev, event } => write!(f, "OSV GIT {repo} rev {rev} is the {event} commit"),
            MatchRule::GitRange { repo, events } => {
                write!(f, "OSV GIT {repo} range")?;
                events.iter().try_for_each(|e| write!(f, " {e}"))
            }
            MatchRule::RepoRange { repo, range_type, events } => {
                write!(f, "OSV {repo} {range_type} range")?;
                events.iter().try_for_each(|e| write!(f, " {e}"))
            }
        }
    }
}

/// A version as given and parsed.
pub(crate) type Ver<'t> = (&'t str, Version<'t>);

/// A target's version, parsed; a snapshot that names no release
/// ([`Version::names_no_release`]) is an unknown version.
fn ver(v: Option<&str>) -> Option<Ver<'_>> {
    v.map(|s| (s, Version::parse(s))).filter(|(_, v)| !v.names_no_release())
}

/// `(normalised URL, (tag, tag normalised for it), rev)`.
type PreparedRepo<'t> = (String, Option<(&'t str, String)>, Option<&'t str>);

/// A [`Target`] with its names normalised and versions parsed, once per scan.
pub(crate) struct Prepared<'t> {
    version: Option<Ver<'t>>,
    /// `(vendor, product)`, lowercase with spaces as `_`.
    cpes: Vec<(String, String)>,
    /// `(ecosystem lowercase, normalised name, version)`.
    packages: Vec<(String, String, Option<Ver<'t>>)>,
    /// `(normalised URL, tag normalised for it, rev)`.
    repos: Vec<PreparedRepo<'t>>,
}

impl<'t> Prepared<'t> {
    pub(crate) fn new(target: &'t Target) -> Prepared<'t> {
        let version = ver(target.version.as_deref());
        let cpes = target.cpes.iter().map(|c| (normalize_name(&c.vendor), normalize_name(&c.product))).collect();
        let packages = target
            .packages
            .iter()
            .map(|p: &'t Package| {
                (
                    p.ecosystem.to_lowercase(),
                    normalize_package(&p.ecosystem, &p.name),
                    ver(p.version.as_deref().or(target.version.as_deref())),
                )
            })
            .collect();
        let repos = target
            .repos
            .iter()
            .map(|r: &'t RepoRef| {
                let url = normalize_repo(&r.url);
                let tag = r.tag.as_deref().map(|t| (t, normalize_tag(t, &[repo_name(&url)])));
                (url, tag, r.rev.as_deref())
            })
            .collect();
        Prepared { version, cpes, packages, repos }
    }

    /// True when an index row `(key, vendor)` can concern this target: a
    /// CPE row must name one of its (vendor, product) pairs.
    pub(crate) fn wants(&self, key: &str, vendor: &str) -> bool {
        match key.strip_prefix("c:") {
            Some(product) => {
                self.cpes.iter().any(|(v, p)| (product == "*" || p == product) && (vendor == "*" || v == vendor))
            }
            None => true,
        }
    }

    /// Its parsed version, for the index's version filters.
    pub(crate) fn version(&self) -> Option<&Version<'t>> {
        self.version.as_ref().map(|(_, v)| v)
    }

    /// The keys this target is looked up by (see the index schema).
    pub(crate) fn keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        for (_, product) in &self.cpes {
            keys.push(format!("c:{product}"));
        }
        for (eco, name, _) in &self.packages {
            keys.push(format!("p:{eco}\n{name}"));
        }
        for (url, _, _) in &self.repos {
            keys.push(format!("g:{url}"));
        }
        keys
    }
}

/// Lowercase, spaces as `_`: the form CPE and CVE 5 vendor and product names are compared in.
pub(crate) fn normalize_name(name: &str) -> String {
    name.trim().to_lowercase().replace(' ', "_")
}

/// A package name as compared within its ecosystem: PyPI names per PEP 503
/// (lowercase, runs of `-`, `_`, `.` as one `-`), others as written.
pub(crate) fn normalize_package(ecosystem: &str, name: &str) -> String {
    if !ecosystem.eq_ignore_ascii_case("pypi") {
        return name.to_owned();
    }
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.extend(c.to_lowercase());
            in_run = false;
        }
    }
    out
}

/// A repository URL as compared: no `git+`, `https` for `http` and `git`
/// (and `git@host:path`), lowercase host without `www.`, no user, no
/// trailing `/` or `.git`, no query or fragment; the path is lowercased too
/// on GitHub and GitLab, whose paths are case-insensitive.
pub(crate) fn normalize_repo(url: &str) -> String {
    fn strip_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
        s.get(..prefix.len()).filter(|p| p.eq_ignore_ascii_case(prefix)).and_then(|_| s.get(prefix.len()..))
    }
    let mut url = url.trim();
    while let Some(rest) = strip_ci(url, "git+") {
        url = rest;
    }
    let rest = match ["https://", "http://", "git://", "ssh://"].iter().find_map(|scheme| strip_ci(url, scheme)) {
        Some(r) => r.to_owned(),
        None => match url.strip_prefix("git@") {
            Some(r) => r.replacen(':', "/", 1),
            None => url.to_owned(),
        },
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default().trim();
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = host.rsplit('@').next().unwrap_or(host).trim().to_lowercase();
    let mut host = host.as_str();
    while let Some(h) = host.strip_prefix("www.") {
        host = h.trim();
    }
    // Lowercase first, so `.GIT` on GitHub goes with the suffix like `.git` does.
    let lowered = if matches!(host, "github.com" | "gitlab.com") { path.to_lowercase() } else { path.to_owned() };
    let mut path = lowered.as_str();
    loop {
        let before = path.len();
        path = path.trim_end_matches(|c: char| c == '/' || c.is_whitespace());
        path = path.strip_suffix(".git").unwrap_or(path);
        if path.len() == before {
            break;
        }
    }
    if path.is_empty() { format!("https://{host}") } else { format!("https://{host}/{path}") }
}

/// The last path component of a normalised repository URL (`xz` for
/// `https://github.com/tukaani-project/xz`).
pub(crate) fn repo_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// A tag as a version: without a `<name>-` or `<name>_` prefix (any of
/// `names`, case-insensitive), then without `release-`, then without a `v`
/// before a digit; `_` becomes `.` when the rest is digits and `_`
/// (`curl-8_4_0` is `8.4.0`, `v5.6.0` is `5.6.0`).
pub(crate) fn normalize_tag(tag: &str, names: &[&str]) -> String {
    let mut rest = tag.trim();
    for name in names.iter().filter(|n| !n.is_empty()) {
        for sep in ['-', '_'] {
            let prefix_len = name.len() + 1;
            if rest.len() > prefix_len
                && rest.get(..name.len()).is_some_and(|p| p.eq_ignore_ascii_case(name))
                && rest.get(name.len()..prefix_len) == Some(sep.encode_utf8(&mut [0; 4]))
            {
                rest = rest.get(prefix_len..).unwrap_or(rest);
            }
        }
    }
    for prefix in ["release-", "RELEASE-", "Release-"] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    if let Some(r) = rest.strip_prefix(['v', 'V']) {
        if r.starts_with(|c: char| c.is_ascii_digit()) {
            rest = r;
        }
    }
    if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        rest.replace('_', ".")
    } else {
        rest.to_owned()
    }
}

/// A 40-hex-digit git commit id (or 64 for SHA-256 repositories).
fn is_commit(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A hit of one rule: how, and the fixed version when known.
pub(crate) type RuleHit = (MatchRule, Option<String>);

impl RuleSet {
    /// The index keys of this advisory, `(key, vendor, version filter)`,
    /// sorted and without duplicates (see the index schema in the module
    /// documentation and [`super::filter`]).
    pub(crate) fn keys(&self) -> Vec<(String, String, String)> {
        let mut keys: BTreeMap<(String, String), Filter> = BTreeMap::new();
        let mut add = |key: String, vendor: &str, f: Filter| match keys.entry((key, vendor.to_owned())) {
            std::collections::btree_map::Entry::Occupied(mut o) => o.get_mut().add(f),
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(f);
            }
        };
        match self {
            RuleSet::Nvd(configs) => {
                let vulnerable =
                    configs.iter().flat_map(|c| &c.nodes).flat_map(|n| &n.matches).filter(|m| m.vulnerable);
                for m in vulnerable.filter(|m| m.cpe.is_software()) {
                    add(format!("c:{}", m.cpe.product), &m.cpe.vendor, filter::cpe_match(m));
                }
            }
            RuleSet::Cve5(entries) => {
                for entry in entries {
                    let versions = filter::cve5_entry(entry);
                    for (_, cpe) in entry.cpes.iter().filter(|(_, c)| c.is_software()) {
                        add(format!("c:{}", cpe.product), &cpe.vendor, versions.clone());
                    }
                    if let Some((vendor, product)) = &entry.key {
                        add(format!("c:{product}"), vendor, versions);
                    }
                }
            }
            RuleSet::Osv(entries) => {
                for entry in entries {
                    if let Some((ecosystem, name)) = &entry.package {
                        let name = normalize_package(ecosystem, name);
                        add(format!("p:{}\n{name}", ecosystem.to_lowercase()), "", Filter::All);
                    }
                    for repo in entry.ranges.iter().filter_map(|r| r.repo.as_ref()) {
                        add(format!("g:{repo}"), "", Filter::All);
                    }
                }
            }
        }
        keys.into_iter().map(|((key, vendor), f)| (key, vendor, f.encode())).collect()
    }

    /// The first rule of this advisory that `target` matches, in the order
    /// of the file, and the commit that fixes it when the matched rule is an
    /// OSV GIT range with a `fixed` commit. `present` holds the `(vendor,
    /// product)` pairs of the closure.
    pub(crate) fn evaluate(&self, target: &Prepared<'_>, present: &Present) -> Option<(RuleHit, Option<String>)> {
        match self {
            RuleSet::Nvd(configs) => configs.iter().find_map(|c| nvd_config(c, target, present)).map(|h| (h, None)),
            RuleSet::Cve5(entries) => entries.iter().find_map(|a| cve5_affected(a, target)).map(|h| (h, None)),
            RuleSet::Osv(entries) => {
                entries.iter().find_map(|a| osv_package(a, target).map(|h| (h, None)).or_else(|| osv_git(a, target)))
            }
        }
    }
}

fn cpe_rule(m: &CpeMatch, platform: Option<String>) -> RuleHit {
    let rule = MatchRule::Cpe {
        criteria: m.criteria.clone(),
        version_start_including: m.bounds.start_including.clone(),
        version_start_excluding: m.bounds.start_excluding.clone(),
        version_end_including: m.bounds.end_including.clone(),
        version_end_excluding: m.bounds.end_excluding.clone(),
        platform,
    };
    (rule, m.bounds.end_excluding.clone())
}

/// True when `m` names the target (vendor, product) at its version.
fn matches_target(m: &CpeMatch, target: &Prepared<'_>) -> bool {
    let cpe = &m.cpe;
    let version = target.version.as_ref().map(|(raw, v)| (*raw, v));
    target.cpes.iter().any(|(vendor, product)| {
        cpe.part != 'h'
            && (cpe.vendor == "*" || cpe.vendor == *vendor)
            && (cpe.product == "*" || cpe.product == *product)
            && cpe::version_matches(cpe, &m.bounds, version)
    })
}

/// The `(vendor, product)` pairs of the scanned closure, normalised once
/// per scan, for platform entries.
pub(crate) struct Present {
    pairs: HashSet<(String, String)>,
    vendors: HashSet<String>,
    products: HashSet<String>,
}

impl Present {
    pub(crate) fn new(present: &HashSet<(String, String)>) -> Present {
        let pairs: HashSet<(String, String)> =
            present.iter().map(|(v, p)| (normalize_name(v), normalize_name(p))).collect();
        let vendors = pairs.iter().map(|(v, _)| v.clone()).collect();
        let products = pairs.iter().map(|(_, p)| p.clone()).collect();
        Present { pairs, vendors, products }
    }

    fn contains(&self, vendor: &str, product: &str) -> bool {
        match (vendor == "*", product == "*") {
            (true, true) => !self.pairs.is_empty(),
            (true, false) => self.products.contains(product),
            (false, true) => self.vendors.contains(vendor),
            (false, false) => self.pairs.contains(&(vendor.to_owned(), product.to_owned())),
        }
    }
}

/// True when a non-vulnerable entry describes a platform the scan runs on:
/// the Linux kernel at any version, ANY vendor and product, or a
/// `(vendor, product)` present in the closure (at any version).
fn platform_holds(m: &CpeMatch, present: &Present) -> bool {
    let c = &m.cpe;
    c.part != 'h'
        && ((c.part == 'o' && c.vendor == "linux" && c.product == "linux_kernel")
            || (c.vendor == "*" && c.product == "*")
            || present.contains(&c.vendor, &c.product))
}

fn nvd_config(config: &Config, target: &Prepared<'_>, present: &Present) -> Option<RuleHit> {
    if config.negate {
        return None;
    }
    let mut hit: Option<&CpeMatch> = None;
    let mut platform: Option<&CpeMatch> = None;
    let mut any_node = false;
    let mut all_nodes = true;
    for node in &config.nodes {
        let mut node_hit = None;
        let mut node_platform = None;
        let results: Vec<bool> = node
            .matches
            .iter()
            .map(|m| {
                let own = matches_target(m, target);
                if own && m.vulnerable && node_hit.is_none() {
                    node_hit = Some(m);
                }
                let platform = !m.vulnerable && platform_holds(m, present);
                if platform && node_platform.is_none() {
                    node_platform = Some(m);
                }
                own || platform
            })
            .collect();
        // Every entry is evaluated (no short-circuit) so the node's hit and platform are found.
        let inner = if node.and { results.iter().all(|r| *r) } else { results.iter().any(|r| *r) };
        let inner = inner && !node.matches.is_empty();
        let holds = inner != node.negate;
        any_node |= holds;
        all_nodes &= holds;
        if holds && !node.negate {
            hit = hit.or(node_hit);
            platform = platform.or(node_platform);
        }
    }
    let holds = if config.and { all_nodes && !config.nodes.is_empty() } else { any_node };
    let m = hit.filter(|_| holds)?;
    Some(cpe_rule(m, platform.filter(|_| config.and || config.nodes.len() > 1).map(|p| p.criteria.clone())))
}

/// The state of `version` by one CVE 5 `versions[]` entry, when it covers it.
fn cve5_status(entry: &Cve5Version, (raw, version): &Ver<'_>) -> Option<Status> {
    let start_open = matches!(entry.version.as_str(), "0" | "*" | "" | "unspecified" | "n/a" | "-");
    let at_or_after_start = start_open || *version >= Version::parse(&entry.version);
    let covered = match (&entry.less_than, &entry.less_than_or_equal) {
        (Some(l), _) => at_or_after_start && (l == "*" || *version < Version::parse(l)),
        (None, Some(l)) => at_or_after_start && at_most((raw, version), l),
        (None, None) => !start_open && *version == Version::parse(&entry.version),
    };
    if !covered {
        return None;
    }
    let mut status = entry.status;
    for (at, change) in &entry.changes {
        if *version >= Version::parse(at) {
            status = *change;
        }
    }
    Some(status)
}

/// `version <= bound`, where `*` is unbounded and `6.1.*` is every `6.1` version.
fn at_most((raw, version): (&str, &Version<'_>), bound: &str) -> bool {
    if bound == "*" {
        return true;
    }
    if let Some(prefix) = bound.strip_suffix(".*").or_else(|| bound.strip_suffix('*')) {
        return *version <= Version::parse(prefix) || in_wildcard(raw, prefix);
    }
    *version <= Version::parse(bound)
}

fn cve5_affected(entry: &Cve5Affected, target: &Prepared<'_>) -> Option<RuleHit> {
    let by_name = entry.key.as_ref().is_some_and(|(v, p)| target.cpes.iter().any(|(tv, tp)| tv == v && tp == p));
    let cpe_hit = entry.cpes.iter().find(|(_, c)| target.cpes.iter().any(|(v, p)| cpe::names(c, v, p)));
    if !by_name && cpe_hit.is_none() {
        return None;
    }
    let rule = |version: Option<&Cve5Version>| MatchRule::Cve5 {
        vendor: entry.vendor.clone(),
        product: entry.product.clone(),
        version: version.map(|v| v.version.clone()),
        less_than: version.and_then(|v| v.less_than.clone()),
        less_than_or_equal: version.and_then(|v| v.less_than_or_equal.clone()),
    };
    let Some(ver) = &target.version else {
        return (entry.versions.is_empty() && entry.default == Status::Affected).then(|| (rule(None), None));
    };
    let version = &ver.1;
    // A cpes[] entry with a concrete version names that version as affected.
    if let Some((criteria, cpe)) = cpe_hit {
        if matches!(cpe.version, Value::Exact(_) | Value::Pattern(_))
            && cpe::version_matches(cpe, &Bounds::default(), Some((ver.0, version)))
        {
            let rule = MatchRule::Cpe {
                criteria: criteria.clone(),
                version_start_including: None,
                version_start_excluding: None,
                version_end_including: None,
                version_end_excluding: None,
                platform: None,
            };
            return Some((rule, None));
        }
    }
    let statuses: Vec<(&Cve5Version, Status)> =
        entry.versions.iter().filter_map(|e| cve5_status(e, ver).map(|s| (e, s))).collect();
    if statuses.iter().any(|(_, s)| *s == Status::Unaffected) {
        return None;
    }
    if let Some((e, _)) = statuses.iter().find(|(_, s)| *s == Status::Affected) {
        return Some((rule(Some(e)), e.less_than.clone()));
    }
    if entry.default != Status::Affected || !statuses.is_empty() {
        return None;
    }
    // Affected by default: the first unaffected version above it is the fix.
    let fixed = entry
        .versions
        .iter()
        .filter(|e| e.status == Status::Unaffected && Version::parse(&e.version) > *version)
        .min_by(|a, b| compare(&a.version, &b.version))
        .map(|e| e.version.clone());
    Some((rule(None), fixed))
}

/// Evaluates OSV range events against `version`; `Some(fixed)` when affected.
fn range_affected(events: &[Event], version: &Version<'_>) -> Option<Option<String>> {
    let mut sorted: Vec<&Event> = events.iter().collect();
    let zero = |e: &Event| matches!(e, Event::Introduced(v) if v == "0");
    sorted.sort_by(|a, b| match (zero(a), zero(b)) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => compare(a.value(), b.value()),
    });
    let mut affected = false;
    for event in &sorted {
        match event {
            Event::Introduced(v) => {
                if v == "0" || *version >= Version::parse(v) {
                    affected = true;
                }
            }
            Event::Fixed(v) => {
                if *version >= Version::parse(v) {
                    affected = false;
                }
            }
            Event::LastAffected(v) => {
                if *version > Version::parse(v) {
                    affected = false;
                }
            }
            Event::Limit(_) => {}
        }
    }
    let limits: Vec<&str> =
        sorted.iter().filter_map(|e| if let Event::Limit(v) = e { Some(v.as_str()) } else { None }).collect();
    if limits.iter().any(|l| *l != "*") && !limits.iter().any(|l| *l == "*" || *version < Version::parse(l)) {
        affected = false;
    }
    if !affected {
        return None;
    }
    let fixed = sorted.iter().find_map(|e| match e {
        Event::Fixed(v) if Version::parse(v) > *version => Some(v.clone()),
        _ => None,
    });
    Some(fixed)
}

fn osv_package(entry: &OsvAffected, target: &Prepared<'_>) -> Option<RuleHit> {
    let (ecosystem, name) = entry.package.as_ref()?;
    let eco = ecosystem.to_lowercase();
    let norm = normalize_package(ecosystem, name);
    target.packages.iter().filter(|(e, n, _)| *e == eco && *n == norm).find_map(|(_, _, version)| {
        let (_, version) = version.as_ref()?;
        if let Some(listed) = entry.versions.iter().find(|v| Version::parse(v) == *version) {
            let rule =
                MatchRule::OsvVersion { ecosystem: ecosystem.clone(), name: name.clone(), version: listed.clone() };
            let fixed =
                entry.ranges.iter().filter(|r| r.kind != "GIT").find_map(|r| range_affected(&r.events, version));
            return Some((rule, fixed.flatten()));
        }
        entry.ranges.iter().filter(|r| r.kind != "GIT").find_map(|r| {
            let fixed = range_affected(&r.events, version)?;
            let rule = MatchRule::OsvRange {
                ecosystem: ecosystem.clone(),
                name: name.clone(),
                range_type: r.kind.clone(),
                events: r.events.clone(),
            };
            Some((rule, fixed))
        })
    })
}

/// The SEMVER and ECOSYSTEM ranges of an entry without a package: they are
/// ranges of the versions of the entry's GIT repositories.
fn repo_version_ranges(entry: &OsvAffected) -> impl Iterator<Item = &OsvRange> {
    entry.ranges.iter().filter(|r| r.kind != "GIT" && entry.package.is_none())
}

/// A hit of a GIT range, with the range's `fixed` commit when it has one.
fn osv_git(entry: &OsvAffected, target: &Prepared<'_>) -> Option<(RuleHit, Option<String>)> {
    entry.ranges.iter().filter(|r| r.kind == "GIT").find_map(|range| {
        let hit = osv_git_range(entry, range, target)?;
        let fix_commit = range.events.iter().find_map(|e| match e {
            Event::Fixed(v) if is_commit(v) => Some(v.clone()),
            _ => None,
        });
        Some((hit, fix_commit))
    })
}

fn osv_git_range(entry: &OsvAffected, range: &OsvRange, target: &Prepared<'_>) -> Option<RuleHit> {
    let repo = range.repo.as_deref()?;
    target.repos.iter().filter(|(url, _, _)| url == repo).find_map(|(url, tag, rev)| {
        // The GIT range's fixed version when written as one, else (an entry without a
        // package) the first fix of its version ranges above the component's version.
        let version_fixed = || {
            range
                .events
                .iter()
                .find_map(|e| match e {
                    Event::Fixed(v) if !is_commit(v) => Some(v.clone()),
                    _ => None,
                })
                .or_else(|| {
                    let (_, version) = target.version.as_ref()?;
                    repo_version_ranges(entry).find_map(|r| range_affected(&r.events, version)).flatten()
                })
        };
        // 1. The version, then the tag, listed in versions[].
        let name = repo_name(url);
        let own_version = target.version.as_ref().map(|(raw, _)| (*raw, normalize_tag(raw, &[name]), false));
        let own_tag = tag.as_ref().map(|(raw, norm)| (*raw, norm.clone(), true));
        for (raw, norm, from_tag) in own_version.into_iter().chain(own_tag) {
            let wanted = Version::parse(&norm);
            if let Some(i) = entry.tags.iter().position(|t| Version::parse(t) == wanted) {
                let listed = entry.versions.get(i).cloned().unwrap_or_default();
                let rule = MatchRule::GitVersion { repo: url.clone(), listed, version: raw.to_owned(), from_tag };
                return Some((rule, version_fixed()));
            }
        }
        // 2. The commit of an introduced or last_affected event.
        if let Some(rev) = rev {
            for e in &range.events {
                let (value, event) = match e {
                    Event::Introduced(v) => (v, "introduced"),
                    Event::LastAffected(v) => (v, "last_affected"),
                    _ => continue,
                };
                if is_commit(value) && value.eq_ignore_ascii_case(rev) {
                    let rule = MatchRule::GitCommit { repo: url.clone(), rev: (*rev).to_owned(), event: event.into() };
                    return Some((rule, version_fixed()));
                }
            }
        }
        let own = target.version.as_ref().map(|(_, v)| v);
        let tag_version = tag.as_ref().map(|(_, norm)| Version::parse(norm));
        // 3. A range written with versions rather than commits.
        if range.events.iter().all(|e| !is_commit(e.value())) {
            for v in own.into_iter().chain(tag_version.as_ref()) {
                if let Some(fixed) = range_affected(&range.events, v) {
                    return Some((MatchRule::GitRange { repo: url.clone(), events: range.events.clone() }, fixed));
                }
            }
        }
        // 4. An entry without a package: its SEMVER/ECOSYSTEM ranges are of this repository.
        for v in own.into_iter().chain(tag_version.as_ref()) {
            for r in repo_version_ranges(entry) {
                if let Some(fixed) = range_affected(&r.events, v) {
                    let rule = MatchRule::RepoRange {
                        repo: url.clone(),
                        range_type: r.kind.clone(),
                        events: r.events.clone(),
                    };
                    return Some((rule, fixed));
                }
            }
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rstest::rstest;

    use super::{normalize_package, normalize_repo, normalize_tag};

    #[rstest]
    #[case::plain("https://github.com/tukaani-project/xz", "https://github.com/tukaani-project/xz")]
    #[case::git_plus_and_suffix(
        "git+https://github.com/Tukaani-Project/xz.git/",
        "https://github.com/tukaani-project/xz"
    )]
    #[case::http_www("HTTP://WWW.gitlab.com/a/b", "https://gitlab.com/a/b")]
    #[case::scp_like("git@github.com:curl/curl.git", "https://github.com/curl/curl")]
    #[case::git_scheme_user("git://user@git.savannah.gnu.org/bash.git", "https://git.savannah.gnu.org/bash")]
    #[case::case_kept_elsewhere("https://git.kernel.org/pub/scm/Linux", "https://git.kernel.org/pub/scm/Linux")]
    #[case::query("https://example.org/r?x=1#y", "https://example.org/r")]
    fn repository_urls(#[case] url: &str, #[case] expected: &str) {
        assert_eq!(normalize_repo(url), expected);
    }

    #[rstest]
    #[case::v("v5.6.0", "5.6.0")]
    #[case::name_dash("xz-5.6.0", "5.6.0")]
    #[case::name_underscores("curl-8_4_0", "8.4.0")]
    #[case::release("release-1_2_3", "1.2.3")]
    #[case::other_words_kept("OpenSSL_1_1_1w", "1_1_1w")]
    #[case::not_a_version("main", "main")]
    fn tags(#[case] tag: &str, #[case] expected: &str) {
        assert_eq!(normalize_tag(tag, &["xz", "curl", "openssl"]), expected);
    }

    #[test]
    fn pep503_names() {
        assert_eq!(normalize_package("PyPI", "Zope._-Interface"), "zope-interface");
        assert_eq!(normalize_package("npm", "Left_Pad"), "Left_Pad");
    }

    proptest! {
        // A stored repository is normalised once and a target's again, so normalising must be idempotent.
        #[test]
        fn repository_normalisation_is_idempotent(url in "(git\\+)?((https?|HTTPS|git|ssh)://|git@)?(www\\.)?(github.com/)?[ a-zA-Z.@:/?#_-]{0,30}(\\.git|\\.gIt)?[ /]{0,2}") {
            let once = normalize_repo(&url);
            prop_assert_eq!(normalize_repo(&once), once);
        }
    }
}
