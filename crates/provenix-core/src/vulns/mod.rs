//! The vulnerability scan: the components of a closure ([`crate::identity`])
//! against a vulnerability database ([`crate::vulndb`]).
//!
//! 1. Every package component (every derivation that is not a fixed-output
//!    source) becomes a [`Target`]: its version, its CPE identities, the
//!    registry packages and upstream repositories its sources are.
//!    Components with none of these are listed as unidentified: nothing could
//!    match them, and the report says so rather than staying silent.
//! 2. The database returns every hit; hits are grouped into findings by
//!    vulnerability: a CVE id when the advisory is one or names one as an
//!    alias, else the advisory's own id, so an NVD entry, a CVE 5 record and
//!    an OSV record of one CVE make one finding with the others as aliases.
//!    An advisory that names several CVEs is a hit of each; the other CVE
//!    ids are not aliases of any one of them. The severity is the highest
//!    CVSS score among the advisories.
//! 3. Each affected component gets the matched rule, the fixed version when
//!    known, and its why-chain: the shortest chain of derivations from a
//!    root down to it.
//! 4. A component whose `patches` name exactly the finding's id (or a
//!    non-CVE alias) as a whole token ([`crate::identity::cve_ids`]) moves to
//!    `patched`; one the whitelist accepts moves to `whitelisted`. Both stay
//!    in the report. Expired whitelist entries hide nothing and are listed.
//!
//! What is left in `findings` makes the scan fail (exit 1).

pub mod sarif;
pub mod sbom_input;
pub mod whitelist;

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use thiserror::Error;

use crate::identity::{Component, Inventory};
use crate::vulndb::{self, Advisory, Hit, IndexStats, Target, VulnDb};

pub use whitelist::{Date, Whitelist, WhitelistEntry};

/// Errors from a scan.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum VulnsError {
    /// The database query failed.
    #[error("querying the vulnerability index")]
    Db(#[from] vulndb::VulnDbError),
}

/// What to scan and how to judge.
#[derive(Debug, Clone)]
pub struct VulnsOptions {
    /// Only components in the runtime closure of the roots' outputs.
    pub runtime_only: bool,
    /// Accepted findings.
    pub whitelist: Whitelist,
    /// Today, for whitelist expiry.
    pub today: Date,
    /// Only these vulnerabilities (an id or alias, any case); all when empty.
    pub ids: Vec<String>,
}

/// The database as the scan used it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseSummary {
    /// Files indexed.
    pub files: usize,
    /// Advisories in the index.
    pub advisories: usize,
    /// Rejected CVEs skipped.
    pub rejected: usize,
    /// Withdrawn OSV records skipped.
    pub withdrawn: usize,
    /// True if the index was up to date and reused.
    pub reused: bool,
    /// Files of the data directory that were not read (see [`IndexStats::skipped_files`]).
    pub skipped_files: Vec<String>,
    /// Unusable data inside the files read, skipped, by reason (see [`IndexStats::skipped`]).
    pub skipped_data: BTreeMap<String, usize>,
    /// The first of those, `file: id: detail (reason)`.
    pub skipped_examples: Vec<String>,
    /// The newest last-modified time among the advisories, as written (`null` when none has one).
    pub newest: Option<String>,
    /// The index file used (set by the caller; `null` when not known).
    pub index: Option<String>,
    /// True when `newest` is older than the caller's limit (`vulns --max-data-age`).
    pub stale: bool,
}

impl From<&IndexStats> for DatabaseSummary {
    fn from(s: &IndexStats) -> DatabaseSummary {
        DatabaseSummary {
            files: s.files,
            advisories: s.advisories,
            rejected: s.rejected,
            withdrawn: s.withdrawn,
            reused: s.reused,
            skipped_files: s.skipped_files.clone(),
            skipped_data: s.skipped.clone(),
            skipped_examples: s.examples.clone(),
            newest: s.newest.clone(),
            index: None,
            stale: false,
        }
    }
}

/// One affected component of a finding.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Affected {
    /// The `.drv` path.
    pub drv_path: String,
    /// The derivation name.
    pub name: String,
    /// The package name.
    pub pname: String,
    /// The version.
    pub version: Option<String>,
    /// The output paths.
    pub outputs: Vec<String>,
    /// True when an output is in the runtime closure of the roots.
    pub runtime: bool,
    /// The matched rule, in words.
    pub rule: String,
    /// The matched rule, as data.
    pub matched: vulndb::MatchRule,
    /// The first fixed version, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    /// The commit that fixes it, when the data names one (an OSV GIT range).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_commit: Option<String>,
    /// `.drv` paths from a root down to the component.
    pub why: Vec<String>,
    /// The patch that names the finding (in `patched`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// The whitelist entry that accepts it (in `whitelisted`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whitelist: Option<WhitelistEntry>,
}

/// One vulnerability and the components it affects.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The CVE id, or the advisory id when it names no CVE.
    pub id: String,
    /// Other ids of the same vulnerability (GHSA, OSV, ...).
    pub aliases: Vec<String>,
    /// The highest CVSS severity among its advisories.
    pub severity: Option<vulndb::Severity>,
    /// One-line summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Reference URLs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    /// The database files it came from.
    pub files: Vec<String>,
    /// The affected components, by `.drv` path.
    pub components: Vec<Affected>,
}

/// A component nothing could match.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unidentified {
    /// The `.drv` path.
    pub drv_path: String,
    /// The package name.
    pub pname: String,
    /// The version.
    pub version: Option<String>,
}

/// The result of a scan.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VulnsReport {
    /// The root `.drv` paths.
    pub roots: Vec<String>,
    /// Derivations in the build closure.
    pub derivations: usize,
    /// Package components scanned.
    pub scanned: usize,
    /// Scanned packages without a CPE identity: NVD and CVE 5 `cpes` cannot
    /// match them (OSV still can, by registry package or repository); the
    /// ones with neither are also in `unidentified`.
    pub without_cpe: usize,
    /// True when runtime membership came from the Nix database.
    pub runtime_known: bool,
    /// The database.
    pub database: DatabaseSummary,
    /// Vulnerabilities that affect the closure: the scan fails when there are any.
    pub findings: Vec<Finding>,
    /// Vulnerabilities whose every hit is in a package that patches it, or
    /// the patched components of findings.
    pub patched: Vec<Finding>,
    /// Accepted by the whitelist.
    pub whitelisted: Vec<Finding>,
    /// Whitelist entries past their date (they hid nothing).
    pub expired_whitelist: Vec<WhitelistEntry>,
    /// Whitelist entries in force that accepted nothing in this scan (stale, or mistyped).
    pub unused_whitelist: Vec<WhitelistEntry>,
    /// Per root, the ids of the vulnerabilities that affect something in its closure.
    pub by_root: Vec<RootFindings>,
    /// Package components with no CPE identity, registry package or
    /// repository: not checked against anything.
    pub unidentified: Vec<Unidentified>,
}

/// The vulnerabilities that affect one root's closure, by id.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RootFindings {
    /// The root (a `.drv` path; for an SBOM, the `bom-ref` of the component described).
    pub root: String,
    /// Ids of `findings` with a component in this root's closure.
    pub findings: Vec<String>,
    /// Ids of `patched` with a component in this root's closure.
    pub patched: Vec<String>,
    /// Ids of `whitelisted` with a component in this root's closure.
    pub whitelisted: Vec<String>,
}

/// One package to scan, from a closure or an SBOM.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// The `.drv` path (for an SBOM, the component's `bom-ref`).
    pub drv_path: &'a str,
    /// The derivation (or component) name.
    pub name: &'a str,
    /// The package name.
    pub pname: &'a str,
    /// The version.
    pub version: Option<&'a str>,
    /// The output paths.
    pub outputs: Vec<String>,
    /// True when it is in the runtime closure of the roots.
    pub runtime: bool,
    /// Its patches, with the ids they name.
    pub patches: &'a [crate::identity::Patch],
    /// What is matched.
    pub target: Target,
}

/// What a scan covers: its subjects and how they hang together.
pub struct Scope<'a> {
    /// The subjects.
    pub subjects: Vec<Subject<'a>>,
    /// The roots (`.drv` paths, or the SBOM's `bom-ref`s).
    pub roots: Vec<String>,
    /// Derivations (or SBOM components) in all.
    pub derivations: usize,
    /// True when runtime membership is known.
    pub runtime_known: bool,
    /// The chain of `drv_path`s from a root down to a subject.
    pub why: &'a dyn Fn(usize) -> Vec<String>,
    /// The indices (into `roots`) of the roots whose closure holds a subject.
    pub roots_of: &'a dyn Fn(usize) -> Vec<usize>,
}

/// Makes the scan target of a package component, or `None` for a source.
pub fn target(c: &Component) -> Option<Target> {
    if c.source.is_some() {
        return None;
    }
    Some(Target {
        version: c.version.clone(),
        cpes: c
            .cpe_ids
            .iter()
            .map(|id| vulndb::CpeId { vendor: id.vendor.clone(), product: id.product.clone() })
            .collect(),
        packages: c
            .packages
            .iter()
            .map(|p| vulndb::Package {
                ecosystem: p.ecosystem.to_owned(),
                name: p.name.clone(),
                version: Some(p.version.clone()),
            })
            .collect(),
        repos: c
            .repos
            .iter()
            .map(|r| vulndb::RepoRef { url: r.url.clone(), tag: r.tag.clone(), rev: r.rev.clone() })
            .collect(),
    })
}

/// True for a CVE id (`CVE-2024-3094`, any case).
fn is_cve(id: &str) -> bool {
    id.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("CVE-"))
}

/// The findings an advisory belongs to: its own id when it is a CVE, else
/// every CVE it names as an alias (a GHSA of two CVEs is a hit of both), else
/// its own id.
fn finding_keys(a: &Advisory) -> Vec<String> {
    if is_cve(&a.id) {
        return vec![a.id.to_ascii_uppercase()];
    }
    let mut cves: Vec<String> = a.aliases.iter().filter(|x| is_cve(x)).map(|x| x.to_ascii_uppercase()).collect();
    cves.sort();
    cves.dedup();
    if cves.is_empty() { vec![a.id.clone()] } else { cves }
}

/// Scans the inventory's package components.
pub fn scan(
    inventory: &Inventory,
    db: &VulnDb,
    stats: &IndexStats,
    options: &VulnsOptions,
) -> Result<VulnsReport, VulnsError> {
    let mut subjects = Vec::new();
    let mut owners = Vec::new();
    for (n, c) in inventory.components.iter().enumerate() {
        if options.runtime_only && !c.runtime {
            continue;
        }
        let Some(target) = target(c) else { continue };
        subjects.push(Subject {
            drv_path: &c.drv_path,
            name: &c.name,
            pname: &c.pname,
            version: c.version.as_deref(),
            outputs: c.outputs.iter().filter_map(|o| o.path.clone()).collect(),
            runtime: c.runtime,
            patches: &c.patches,
            target,
        });
        owners.push(n);
    }
    let why = inventory.why_chains();
    let nodes: Vec<_> = inventory.graph.nodes().collect();
    let chain = |s: usize| -> Vec<String> {
        owners
            .get(s)
            .and_then(|&n| nodes.get(n))
            .and_then(|&id| why.chain(id))
            .map(|c| c.into_iter().filter_map(|id| inventory.component(id)).map(|c| c.drv_path.clone()).collect())
            .unwrap_or_default()
    };
    let reach = root_closures(inventory);
    let roots_of = |s: usize| -> Vec<usize> {
        let Some(&n) = owners.get(s) else { return Vec::new() };
        reach.iter().enumerate().filter(|(_, r)| r.get(n).copied().unwrap_or(false)).map(|(i, _)| i).collect()
    };
    let scope = Scope {
        subjects,
        roots: inventory
            .graph
            .roots()
            .iter()
            .filter_map(|&r| inventory.component(r))
            .map(|c| c.drv_path.clone())
            .collect(),
        derivations: inventory.graph.len(),
        runtime_known: inventory.runtime.is_some(),
        why: &chain,
        roots_of: &roots_of,
    };
    scan_scope(&scope, db, stats, options)
}

/// Scans the package components of a CycloneDX SBOM ([`sbom_input`]).
pub fn scan_sbom(
    sbom: &sbom_input::SbomInput,
    db: &VulnDb,
    stats: &IndexStats,
    options: &VulnsOptions,
) -> Result<VulnsReport, VulnsError> {
    let subjects = sbom
        .components
        .iter()
        .map(|c| Subject {
            drv_path: &c.bom_ref,
            name: &c.name,
            pname: &c.pname,
            version: c.version.as_deref(),
            outputs: Vec::new(),
            runtime: false,
            patches: &c.patches,
            target: c.target.clone(),
        })
        .collect();
    let closures = sbom.closures();
    let why = |s: usize| sbom.components.get(s).map(|c| sbom.why(&c.bom_ref)).unwrap_or_default();
    let roots_of = |s: usize| -> Vec<usize> {
        let Some(c) = sbom.components.get(s) else { return Vec::new() };
        closures.iter().enumerate().filter(|(_, set)| set.contains(&c.bom_ref)).map(|(i, _)| i).collect()
    };
    let scope = Scope {
        subjects,
        roots: sbom.roots.clone(),
        derivations: sbom.total,
        runtime_known: false,
        why: &why,
        roots_of: &roots_of,
    };
    scan_scope(&scope, db, stats, options)
}

/// Per root (in [`DrvGraph::roots`](provenix_store::graph::DrvGraph::roots) order), which nodes
/// its build closure holds, by node index: one walk per root.
fn root_closures(inventory: &Inventory) -> Vec<Vec<bool>> {
    let graph = &inventory.graph;
    graph
        .roots()
        .iter()
        .map(|&root| {
            let mut seen = vec![false; graph.len()];
            let mut stack = vec![root];
            while let Some(id) = stack.pop() {
                match seen.get_mut(id.index()) {
                    Some(s) if !*s => *s = true,
                    _ => continue,
                }
                stack.extend(graph.inputs(id).iter().copied());
            }
            seen
        })
        .collect()
}

/// True when `f` is the vulnerability `id`: its id or one of its aliases, any case.
fn is_named(f: &Finding, ids: &[String]) -> bool {
    ids.iter().any(|id| f.id.eq_ignore_ascii_case(id) || f.aliases.iter().any(|a| a.eq_ignore_ascii_case(id)))
}

/// Scans the subjects of `scope`.
pub fn scan_scope(
    scope: &Scope<'_>,
    db: &VulnDb,
    stats: &IndexStats,
    options: &VulnsOptions,
) -> Result<VulnsReport, VulnsError> {
    let started = std::time::Instant::now();
    let targets: Vec<Target> = scope.subjects.iter().map(|s| s.target.clone()).collect();
    let unidentified = scope
        .subjects
        .iter()
        .filter(|s| s.target.cpes.is_empty() && s.target.packages.is_empty() && s.target.repos.is_empty())
        .map(|s| Unidentified {
            drv_path: s.drv_path.to_owned(),
            pname: s.pname.to_owned(),
            version: s.version.map(str::to_owned),
        })
        .collect();
    let present: HashSet<(String, String)> =
        targets.iter().flat_map(|t| t.cpes.iter().map(|c| (c.vendor.clone(), c.product.clone()))).collect();
    let without_cpe = targets.iter().filter(|t| t.cpes.is_empty()).count();
    let hits = db.scan(&targets, &present)?;
    tracing::debug!(ms = started.elapsed().as_millis(), hits = hits.len(), targets = targets.len(), "matched");
    // Group by vulnerability, then by subject; the first hit of a pair wins.
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for hit in hits {
        let n = hit.target;
        for key in finding_keys(&hit.advisory) {
            let group = groups.entry(key.clone()).or_default();
            group.add_advisory(&key, &hit.advisory);
            let entry = group.hits.entry(n).or_insert_with(|| GroupHit { hit: hit.clone(), ids: Vec::new() });
            for id in advisory_ids(&hit.advisory) {
                if !entry.ids.iter().any(|i| i == id) {
                    entry.ids.push(id.clone());
                }
            }
        }
    }
    let mut report = VulnsReport {
        roots: scope.roots.clone(),
        derivations: scope.derivations,
        scanned: targets.len(),
        without_cpe,
        runtime_known: scope.runtime_known,
        database: DatabaseSummary::from(stats),
        findings: Vec::new(),
        patched: Vec::new(),
        whitelisted: Vec::new(),
        expired_whitelist: options.whitelist.expired(options.today).cloned().collect(),
        unused_whitelist: Vec::new(),
        by_root: Vec::new(),
        unidentified,
    };
    let mut used: Vec<&WhitelistEntry> = Vec::new();
    // Per finding list (findings, patched, whitelisted): per root, the ids.
    let mut per_root: Vec<[Vec<String>; 3]> = vec![Default::default(); scope.roots.len()];
    for (id, group) in groups {
        let (mut active, mut patched, mut accepted) = (Vec::new(), Vec::new(), Vec::new());
        let mut reached: [Vec<usize>; 3] = Default::default();
        for (&n, GroupHit { hit, ids: hit_ids }) in &group.hits {
            let Some(c) = scope.subjects.get(n) else { continue };
            // The vulnerability's id, and the other ids of the advisories that hit this component:
            // a GHSA that hit another package (or an NVD entry of the same CVE that hit this one)
            // says nothing of this component.
            let mut ids: Vec<&str> = vec![id.as_str()];
            ids.extend(hit_ids.iter().map(String::as_str));
            let mut affected = Affected {
                drv_path: c.drv_path.to_owned(),
                name: c.name.to_owned(),
                pname: c.pname.to_owned(),
                version: c.version.map(str::to_owned),
                outputs: c.outputs.clone(),
                runtime: c.runtime,
                rule: hit.rule.to_string(),
                matched: hit.rule.clone(),
                fixed: hit.fixed.clone(),
                fixed_commit: hit.fixed_commit.clone(),
                why: (scope.why)(n),
                patch: None,
                whitelist: None,
            };
            let list = if let Some(p) =
                c.patches.iter().find(|p| p.cves.iter().any(|cve| ids.iter().any(|i| i.eq_ignore_ascii_case(cve))))
            {
                affected.patch = Some(p.name.clone());
                patched.push(affected);
                1
            } else if let Some(entry) = options.whitelist.find(&ids, c.pname, c.version, options.today) {
                affected.whitelist = Some(entry.clone());
                if !used.iter().any(|u| std::ptr::eq(*u, entry)) {
                    used.push(entry);
                }
                accepted.push(affected);
                2
            } else {
                active.push(affected);
                0
            };
            if let Some(r) = reached.get_mut(list) {
                r.extend((scope.roots_of)(n));
            }
        }
        for (k, (list, components)) in
            [(&mut report.findings, active), (&mut report.patched, patched), (&mut report.whitelisted, accepted)]
                .into_iter()
                .enumerate()
        {
            if components.is_empty() {
                continue;
            }
            let finding = group.finding(&id, components);
            if !options.ids.is_empty() && !is_named(&finding, &options.ids) {
                continue;
            }
            let mut roots = reached.get(k).cloned().unwrap_or_default();
            roots.sort_unstable();
            roots.dedup();
            for r in roots {
                if let Some(lists) = per_root.get_mut(r)
                    && let Some(ids) = lists.get_mut(k)
                {
                    ids.push(finding.id.clone());
                }
            }
            list.push(finding);
        }
    }
    report.unused_whitelist = options
        .whitelist
        .entries
        .iter()
        .filter(|e| !e.expired(options.today) && !used.iter().any(|u| std::ptr::eq(*u, *e)))
        .cloned()
        .collect();
    for list in [&mut report.findings, &mut report.patched, &mut report.whitelisted] {
        list.sort_by(|a, b| {
            let score = |f: &Finding| f.severity.as_ref().map_or(-1.0, |s| s.score);
            score(b).total_cmp(&score(a)).then_with(|| a.id.cmp(&b.id))
        });
    }
    let rank: BTreeMap<&str, usize> = report.findings.iter().enumerate().map(|(i, f)| (f.id.as_str(), i)).collect();
    report.by_root = scope
        .roots
        .iter()
        .zip(per_root)
        .map(|(root, [mut findings, patched, whitelisted])| {
            // Most severe first, as in `findings`.
            findings.sort_by_key(|id| rank.get(id.as_str()).copied().unwrap_or(usize::MAX));
            RootFindings { root: root.clone(), findings, patched, whitelisted }
        })
        .collect();
    tracing::debug!(ms = started.elapsed().as_millis(), findings = report.findings.len(), "grouped");
    Ok(report)
}

/// The CVSS levels `--fail-on` takes, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// CVSS 0.1 to 3.9.
    Low,
    /// 4.0 to 6.9.
    Medium,
    /// 7.0 to 8.9.
    High,
    /// 9.0 to 10.0.
    Critical,
}

impl Level {
    /// The lowest base score of the level.
    pub fn min_score(self) -> f64 {
        match self {
            Level::Low => 0.1,
            Level::Medium => 4.0,
            Level::High => 7.0,
            Level::Critical => 9.0,
        }
    }
}

impl Affected {
    /// What fixes it, in words: `fixed in 5.6.2`, or `fixed in commit 2222222222aa`
    /// (shortened to 12 digits) when the data names only the commit of the fix.
    pub fn fix_text(&self) -> Option<String> {
        match (&self.fixed, &self.fixed_commit) {
            (Some(version), _) => Some(format!("fixed in {version}")),
            (None, Some(commit)) => Some(format!("fixed in commit {}", commit.get(..12).unwrap_or(commit))),
            (None, None) => None,
        }
    }
}

impl Finding {
    /// True when the finding is at `level` or above. A finding without a CVSS score counts
    /// as at every level: an unknown severity is no reason to pass a gate.
    pub fn at_least(&self, level: Level) -> bool {
        self.severity.as_ref().is_none_or(|s| s.score >= level.min_score())
    }
}

impl VulnsReport {
    /// The findings that fail the scan: those at `fail_on` or above (all when `None`).
    pub fn failing(&self, fail_on: Option<Level>) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| fail_on.is_none_or(|l| f.at_least(l)))
    }
}

/// The advisories and hits of one vulnerability.
#[derive(Default)]
struct Group {
    aliases: Vec<String>,
    severity: Option<vulndb::Severity>,
    summary: Option<String>,
    references: Vec<String>,
    files: Vec<String>,
    /// Component index → its first hit.
    hits: BTreeMap<usize, GroupHit>,
}

/// The hits of one vulnerability on one component.
struct GroupHit {
    /// The first hit.
    hit: Hit,
    /// The ids, other than CVE ids, of every advisory that hit it (the advisory's own and its
    /// aliases): a whitelist entry for one of them accepts this component.
    ids: Vec<String>,
}

/// An advisory's own id and aliases that are not CVE ids.
fn advisory_ids(a: &Advisory) -> impl Iterator<Item = &String> {
    std::iter::once(&a.id).chain(&a.aliases).filter(|id| !is_cve(id))
}

impl Group {
    /// Adds what `a` says of the vulnerability `key`. Other CVE ids the
    /// advisory names are other vulnerabilities (findings of their own), not
    /// aliases: a patch or a whitelist entry for one of them says nothing
    /// about `key`.
    fn add_advisory(&mut self, key: &str, a: &Advisory) {
        if self.files.contains(&a.file) && self.aliases.contains(&a.id) {
            return;
        }
        for id in std::iter::once(&a.id).chain(&a.aliases) {
            if is_cve(id) && !id.eq_ignore_ascii_case(key) {
                continue;
            }
            if !self.aliases.contains(id) {
                self.aliases.push(id.clone());
            }
        }
        if let Some(s) = &a.severity
            && self.severity.as_ref().is_none_or(|old| s.score > old.score)
        {
            self.severity = Some(s.clone());
        }
        if self.summary.is_none() {
            self.summary = a.summary.clone();
        }
        for r in &a.references {
            if !self.references.contains(r) {
                self.references.push(r.clone());
            }
        }
        if !self.files.contains(&a.file) {
            self.files.push(a.file.clone());
        }
    }

    fn finding(&self, id: &str, components: Vec<Affected>) -> Finding {
        let mut aliases: Vec<String> = self.aliases.iter().filter(|a| !a.eq_ignore_ascii_case(id)).cloned().collect();
        aliases.sort();
        let mut files = self.files.clone();
        files.sort();
        Finding {
            id: id.to_owned(),
            aliases,
            severity: self.severity.clone(),
            summary: self.summary.clone(),
            references: self.references.clone(),
            files,
            components,
        }
    }
}
