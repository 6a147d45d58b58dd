//! What changed between the sources of two closures (`provenix diff OLD NEW`).
//!
//! Both closures are read as one [`Inventory`] of all their roots (one
//! parallel pass over the union of their `.drv` files, so the derivations
//! they share, most of them after a bump, are read once); each side is the
//! closure of its own roots in it. Then, in time linear in the two closures:
//!
//! 1. **Packages** (derivations that are not fixed-output) are paired by
//!    `pname`; where one name has several versions on a side, equal versions
//!    pair first, the rest in sorted order. Unpaired ones are added/removed.
//!    For each pair: the version, the `patches` list (by file name: added,
//!    removed, or changed when the same name is another store path, with the
//!    CVE ids each name holds) and the build-time dependencies (the `pname`s
//!    of its non-source inputs: added, removed).
//! 2. **Sources** (fixed-output derivations) are paired by a key of
//!    *package* and *name*: the package is the sorted-first `pname` of the
//!    packages that take the source as an input (the source's own name when
//!    none does), the name is the source's `pname` (its name without archive
//!    extension and version, `xz` for `xz-5.6.0.tar.gz`; a patch keeps its
//!    whole file name). Within one key, sources with the same declared hash
//!    pair first, then those with the same URLs, then in sorted order. A pair
//!    is *changed* when its version, URLs, declared hash (algorithm, mode or
//!    value) or fetcher (the source kind and hash mode, e.g. `tarball/flat`
//!    for `fetchurl`, `tarball/recursive` for `fetchzip`, `git/recursive`)
//!    differ.
//! 3. **Stale hash**: a pair whose URLs changed while its declared hash did
//!    not. Nix finds a fixed output by name and hash only, so when the name
//!    stays the same (`source`, as `fetchFromGitHub` names it) such a bump
//!    silently keeps the old bytes; when the name changes, the build fails
//!    on a hash mismatch or, worse, the new URL serves the old bytes. Either
//!    way a reviewer must look.
//!
//! Everything comes out sorted, so the same two closures give the same report.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::fod::SourceKind;
use provenix_store::drv::NodeId;

use crate::identity::{Component, Inventory, Patch};

/// One source on one side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceSide {
    /// The `.drv` path.
    pub drv_path: String,
    /// The output path, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_path: Option<String>,
    /// The derivation name (`xz-5.6.0.tar.gz`).
    pub name: String,
    /// The version from the name, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The kind of source.
    pub kind: SourceKind,
    /// URLs as declared.
    pub urls: Vec<String>,
    /// The declared hash, SRI.
    pub hash: String,
    /// `flat`, `recursive` or `text`.
    pub mode: &'static str,
    /// `pname`s of the packages that take it as an input, sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub used_by: Vec<String>,
}

impl SourceSide {
    /// The fetcher as compared: kind and hash mode (`tarball/flat`).
    pub fn fetcher(&self) -> String {
        format!("{}/{}", self.kind, self.mode)
    }
}

/// A source present on both sides with something changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceChange {
    /// The package of the pairing key.
    pub package: String,
    /// The source name of the pairing key.
    pub source: String,
    /// What changed: any of `version`, `urls`, `hash`, `fetcher`, in that order.
    pub changed: Vec<&'static str>,
    /// URLs changed but the declared hash did not (module docs).
    pub stale_hash: bool,
    /// The old side.
    pub old: SourceSide,
    /// The new side.
    pub new: SourceSide,
}

/// A patch that stayed by name but is other bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchChange {
    /// The file name.
    pub name: String,
    /// The old store path.
    pub old_path: String,
    /// The new store path.
    pub new_path: String,
    /// CVE ids in the name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cves: Vec<String>,
}

/// A package on one side only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageRef {
    /// The `pname`.
    pub pname: String,
    /// The version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The `.drv` path.
    pub drv_path: String,
}

/// A package present on both sides whose version, patches or dependencies changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageChange {
    /// The `pname`.
    pub pname: String,
    /// The old version.
    pub old_version: Option<String>,
    /// The new version.
    pub new_version: Option<String>,
    /// The old `.drv` path.
    pub old_drv_path: String,
    /// The new `.drv` path.
    pub new_drv_path: String,
    /// Patches only the new side applies.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub patches_added: Vec<Patch>,
    /// Patches only the old side applies.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub patches_removed: Vec<Patch>,
    /// Patches of the same name with other bytes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub patches_changed: Vec<PatchChange>,
    /// Build-time dependencies (`pname`s) only the new side has.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependencies_added: Vec<String>,
    /// Build-time dependencies (`pname`s) only the old side has.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependencies_removed: Vec<String>,
}

/// Counts for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffSummary {
    /// Derivations in the old closure.
    pub old_derivations: usize,
    /// Derivations in the new closure.
    pub new_derivations: usize,
    /// Sources on the old side.
    pub old_sources: usize,
    /// Sources on the new side.
    pub new_sources: usize,
    /// Sources only on the new side.
    pub sources_added: usize,
    /// Sources only on the old side.
    pub sources_removed: usize,
    /// Paired sources with a change.
    pub sources_changed: usize,
    /// Of which with the stale-hash pattern.
    pub stale_hashes: usize,
    /// Packages whose version changed.
    pub version_changes: usize,
    /// Packages only on the new side.
    pub packages_added: usize,
    /// Packages only on the old side.
    pub packages_removed: usize,
    /// Patches added, over all packages.
    pub patches_added: usize,
    /// Patches removed.
    pub patches_removed: usize,
    /// Patches changed.
    pub patches_changed: usize,
    /// Dependencies added, over all packages.
    pub dependencies_added: usize,
    /// Dependencies removed.
    pub dependencies_removed: usize,
    /// CVE ids named by added or changed patches, sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cves_patched: Vec<String>,
    /// CVE ids named by removed patches, sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cves_unpatched: Vec<String>,
    /// Sources with new bytes a reviewer has to read: added ones, and changed ones whose hash changed.
    pub to_review: usize,
}

/// What changed between two closures' sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClosureDiff {
    /// The old root `.drv` paths.
    pub old_roots: Vec<String>,
    /// The new root `.drv` paths.
    pub new_roots: Vec<String>,
    /// Counts.
    pub summary: DiffSummary,
    /// Sources only on the new side, sorted by package, name and `.drv` path.
    pub sources_added: Vec<SourceSide>,
    /// Sources only on the old side.
    pub sources_removed: Vec<SourceSide>,
    /// Paired sources with a change, sorted by package and name.
    pub sources_changed: Vec<SourceChange>,
    /// Packages only on the new side, sorted by pname.
    pub packages_added: Vec<PackageRef>,
    /// Packages only on the old side.
    pub packages_removed: Vec<PackageRef>,
    /// Paired packages with a change, sorted by pname.
    pub packages_changed: Vec<PackageChange>,
}

/// One side, indexed: the nodes of one inventory reachable from some of its roots.
struct Side<'a> {
    inv: &'a Inventory,
    /// The side's roots.
    roots: Vec<NodeId>,
    /// The side's nodes, in index order.
    members: Vec<NodeId>,
    /// Per node of the inventory: the pnames of this side's packages taking it as an input
    /// (sources only), sorted.
    used_by: Vec<Vec<&'a str>>,
}

impl<'a> Side<'a> {
    fn new(inv: &'a Inventory, roots: &[NodeId]) -> Side<'a> {
        let graph = &inv.graph;
        // The closure of the roots: an iterative DFS with a visited bitmap, O(V+E).
        let mut seen = vec![false; inv.components.len()];
        let mut stack: Vec<NodeId> = roots.to_vec();
        while let Some(id) = stack.pop() {
            match seen.get_mut(id.index()) {
                Some(s) if !*s => *s = true,
                _ => continue,
            }
            stack.extend(graph.inputs(id).iter().copied());
        }
        let members: Vec<NodeId> = graph.nodes().filter(|id| seen.get(id.index()).copied().unwrap_or(false)).collect();
        let mut used_by: Vec<Vec<&str>> = vec![Vec::new(); inv.components.len()];
        for &id in &members {
            let Some(c) = inv.component(id) else { continue };
            if c.source.is_some() {
                continue;
            }
            for input in graph.inputs(id) {
                if let Some(list) = used_by.get_mut(input.index()) {
                    list.push(c.pname.as_str());
                }
            }
        }
        for list in &mut used_by {
            list.sort_unstable();
            list.dedup();
        }
        Side { inv, roots: roots.to_vec(), members, used_by }
    }

    fn source(&self, n: usize) -> Option<SourceSide> {
        let c = self.inv.components.get(n)?;
        let s = c.source.as_ref()?;
        Some(SourceSide {
            drv_path: c.drv_path.clone(),
            output_path: c.outputs.first().and_then(|o| o.path.clone()),
            name: c.name.clone(),
            version: c.version.clone(),
            kind: s.kind,
            urls: s.urls.clone(),
            hash: s.hash.clone(),
            mode: s.mode,
            used_by: self.used_by.get(n).map(|l| l.iter().map(|p| (*p).to_owned()).collect()).unwrap_or_default(),
        })
    }

    /// Sources by key (package, name), each list sorted by `.drv` path.
    fn sources_by_key(&self) -> BTreeMap<(&'a str, &'a str), Vec<usize>> {
        let mut map: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
        for &id in &self.members {
            let n = id.index();
            let Some(c) = self.inv.components.get(n) else { continue };
            if c.source.is_none() {
                continue;
            }
            let package = self.used_by.get(n).and_then(|l| l.first().copied()).unwrap_or(c.pname.as_str());
            map.entry((package, c.pname.as_str())).or_default().push(n);
        }
        for list in map.values_mut() {
            list.sort_by_key(|n| self.inv.components.get(*n).map(|c| c.drv_path.as_str()));
        }
        map
    }

    /// Packages (not sources) by pname, each list sorted by version then `.drv` path.
    fn packages_by_name(&self) -> BTreeMap<&'a str, Vec<NodeId>> {
        let mut map: BTreeMap<&str, Vec<NodeId>> = BTreeMap::new();
        for &id in &self.members {
            let Some(c) = self.inv.component(id) else { continue };
            if c.source.is_none() {
                map.entry(c.pname.as_str()).or_default().push(id);
            }
        }
        for list in map.values_mut() {
            let key = |id: &NodeId| self.inv.component(*id).map(|c| (c.version.as_deref(), c.drv_path.as_str()));
            list.sort_by_key(key);
        }
        map
    }

    /// The pnames of a package's non-source inputs.
    fn dependencies(&self, id: NodeId) -> BTreeSet<&'a str> {
        self.inv
            .graph
            .inputs(id)
            .iter()
            .filter_map(|i| self.inv.component(*i))
            .filter(|c| c.source.is_none())
            .map(|c| c.pname.as_str())
            .collect()
    }

    fn roots(&self) -> Vec<String> {
        self.roots.iter().filter_map(|r| self.inv.component(*r)).map(|c| c.drv_path.clone()).collect()
    }

    fn count_sources(&self) -> usize {
        self.members.iter().filter(|id| self.inv.component(**id).is_some_and(|c| c.source.is_some())).count()
    }
}

/// A test whether two items pair.
type PairRule<'r, T> = &'r dyn Fn(&T, &T) -> bool;

/// Pairs two lists: by each rule in turn, then the rest in order. Returns the pairs and what is
/// left on each side.
fn pair<T: Clone>(old: &[T], new: &[T], rules: &[PairRule<'_, T>]) -> (Vec<(T, T)>, Vec<T>, Vec<T>) {
    let mut old_left: Vec<Option<&T>> = old.iter().map(Some).collect();
    let mut new_left: Vec<Option<&T>> = new.iter().map(Some).collect();
    let mut pairs = Vec::new();
    for rule in rules {
        for o in old_left.iter_mut() {
            let Some(ov) = *o else { continue };
            if let Some(n) = new_left.iter_mut().find(|n| n.is_some_and(|nv| rule(ov, nv))) {
                if let Some(nv) = n.take() {
                    pairs.push((ov.clone(), nv.clone()));
                    *o = None;
                }
            }
        }
    }
    let mut old_rest: Vec<T> = Vec::new();
    let mut new_rest: Vec<T> = Vec::new();
    let mut news = new_left.into_iter().flatten();
    for ov in old_left.into_iter().flatten() {
        match news.next() {
            Some(nv) => pairs.push((ov.clone(), nv.clone())),
            None => old_rest.push(ov.clone()),
        }
    }
    new_rest.extend(news.cloned());
    (pairs, old_rest, new_rest)
}

fn source_change(package: &str, source: &str, old: SourceSide, new: SourceSide) -> Option<SourceChange> {
    let mut changed = Vec::new();
    if old.version != new.version {
        changed.push("version");
    }
    let urls = old.urls != new.urls;
    if urls {
        changed.push("urls");
    }
    let hash = old.hash != new.hash || old.mode != new.mode;
    if hash {
        changed.push("hash");
    }
    if old.fetcher() != new.fetcher() {
        changed.push("fetcher");
    }
    if changed.is_empty() {
        return None;
    }
    Some(SourceChange {
        package: package.to_owned(),
        source: source.to_owned(),
        changed,
        stale_hash: urls && !hash,
        old,
        new,
    })
}

fn package_ref(c: &Component) -> PackageRef {
    PackageRef { pname: c.pname.clone(), version: c.version.clone(), drv_path: c.drv_path.clone() }
}

fn package_change(old: &Side<'_>, new: &Side<'_>, o: NodeId, n: NodeId) -> Option<PackageChange> {
    let (oc, nc) = (old.inv.component(o)?, new.inv.component(n)?);
    let old_patches: BTreeMap<&str, &Patch> = oc.patches.iter().map(|p| (p.name.as_str(), p)).collect();
    let new_patches: BTreeMap<&str, &Patch> = nc.patches.iter().map(|p| (p.name.as_str(), p)).collect();
    let patches_added: Vec<Patch> =
        new_patches.iter().filter(|(k, _)| !old_patches.contains_key(*k)).map(|(_, p)| (*p).clone()).collect();
    let patches_removed: Vec<Patch> =
        old_patches.iter().filter(|(k, _)| !new_patches.contains_key(*k)).map(|(_, p)| (*p).clone()).collect();
    let patches_changed: Vec<PatchChange> = old_patches
        .iter()
        .filter_map(|(k, op)| {
            let np = new_patches.get(k)?;
            (op.path != np.path).then(|| PatchChange {
                name: (*k).to_owned(),
                old_path: op.path.clone(),
                new_path: np.path.clone(),
                cves: np.cves.clone(),
            })
        })
        .collect();
    let (od, nd) = (old.dependencies(o), new.dependencies(n));
    let dependencies_added: Vec<String> = nd.difference(&od).map(|s| (*s).to_owned()).collect();
    let dependencies_removed: Vec<String> = od.difference(&nd).map(|s| (*s).to_owned()).collect();
    let unchanged = oc.version == nc.version
        && patches_added.is_empty()
        && patches_removed.is_empty()
        && patches_changed.is_empty()
        && dependencies_added.is_empty()
        && dependencies_removed.is_empty();
    if unchanged {
        return None;
    }
    Some(PackageChange {
        pname: nc.pname.clone(),
        old_version: oc.version.clone(),
        new_version: nc.version.clone(),
        old_drv_path: oc.drv_path.clone(),
        new_drv_path: nc.drv_path.clone(),
        patches_added,
        patches_removed,
        patches_changed,
        dependencies_added,
        dependencies_removed,
    })
}

/// Compares the sources and packages of two closures in one inventory, the closure of
/// `old_roots` and that of `new_roots` (module docs). A derivation both closures share is read
/// once and pairs with itself, unchanged.
pub fn diff_closures(inv: &Inventory, old_roots: &[NodeId], new_roots: &[NodeId]) -> ClosureDiff {
    let (old_side, new_side) = (Side::new(inv, old_roots), Side::new(inv, new_roots));
    // Sources.
    let mut old_sources = old_side.sources_by_key();
    let new_sources = new_side.sources_by_key();
    let info = |n: usize| inv.components.get(n).and_then(|c| c.source.as_ref());
    let same_hash = |a: &usize, b: &usize| match (info(*a), info(*b)) {
        (Some(x), Some(y)) => x.hash == y.hash && x.mode == y.mode,
        _ => false,
    };
    let same_urls = |a: &usize, b: &usize| match (info(*a), info(*b)) {
        (Some(x), Some(y)) => x.urls == y.urls,
        _ => false,
    };
    let (mut added, mut removed, mut changed) = (Vec::new(), Vec::new(), Vec::new());
    for ((package, name), new_list) in new_sources {
        let old_list = old_sources.remove(&(package, name)).unwrap_or_default();
        let (pairs, old_rest, new_rest) = pair(&old_list, &new_list, &[&same_hash, &same_urls]);
        for (o, n) in pairs {
            if o == n {
                continue; // one derivation on both sides
            }
            if let (Some(os), Some(ns)) = (old_side.source(o), new_side.source(n)) {
                changed.extend(source_change(package, name, os, ns));
            }
        }
        removed.extend(old_rest.into_iter().filter_map(|o| old_side.source(o)));
        added.extend(new_rest.into_iter().filter_map(|n| new_side.source(n)));
    }
    removed.extend(old_sources.into_values().flatten().filter_map(|o| old_side.source(o)));
    let sort_key =
        |s: &SourceSide| (s.used_by.first().cloned().unwrap_or_default(), s.name.clone(), s.drv_path.clone());
    added.sort_by_key(sort_key);
    removed.sort_by_key(sort_key);
    // Packages.
    let mut old_packages = old_side.packages_by_name();
    let new_packages = new_side.packages_by_name();
    let version_of = |id: NodeId| inv.component(id).and_then(|c| c.version.as_deref());
    let same_version = |a: &NodeId, b: &NodeId| version_of(*a) == version_of(*b);
    let (mut packages_added, mut packages_removed, mut packages_changed) = (Vec::new(), Vec::new(), Vec::new());
    for (pname, new_list) in new_packages {
        let old_list = old_packages.remove(pname).unwrap_or_default();
        let (pairs, old_rest, new_rest) = pair(&old_list, &new_list, &[&same_version]);
        for (o, n) in pairs {
            if o != n {
                packages_changed.extend(package_change(&old_side, &new_side, o, n));
            }
        }
        packages_removed.extend(old_rest.iter().filter_map(|&o| inv.component(o)).map(package_ref));
        packages_added.extend(new_rest.iter().filter_map(|&n| inv.component(n)).map(package_ref));
    }
    for list in old_packages.into_values() {
        packages_removed.extend(list.iter().filter_map(|&o| inv.component(o)).map(package_ref));
    }
    packages_removed.sort_by(|a, b| (&a.pname, &a.drv_path).cmp(&(&b.pname, &b.drv_path)));
    let summary = summarise(
        (&old_side, &new_side),
        &added,
        &removed,
        &changed,
        &packages_added,
        &packages_removed,
        &packages_changed,
    );
    ClosureDiff {
        old_roots: old_side.roots(),
        new_roots: new_side.roots(),
        summary,
        sources_added: added,
        sources_removed: removed,
        sources_changed: changed,
        packages_added,
        packages_removed,
        packages_changed,
    }
}

#[allow(clippy::too_many_arguments)]
fn summarise(
    (old, new): (&Side<'_>, &Side<'_>),
    added: &[SourceSide],
    removed: &[SourceSide],
    changed: &[SourceChange],
    packages_added: &[PackageRef],
    packages_removed: &[PackageRef],
    packages_changed: &[PackageChange],
) -> DiffSummary {
    let mut patched: BTreeSet<String> = BTreeSet::new();
    let mut unpatched: BTreeSet<String> = BTreeSet::new();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for p in packages_changed {
        *counts.entry("pa").or_default() += p.patches_added.len();
        *counts.entry("pr").or_default() += p.patches_removed.len();
        *counts.entry("pc").or_default() += p.patches_changed.len();
        *counts.entry("da").or_default() += p.dependencies_added.len();
        *counts.entry("dr").or_default() += p.dependencies_removed.len();
        *counts.entry("v").or_default() += usize::from(p.old_version != p.new_version);
        patched.extend(p.patches_added.iter().flat_map(|x| x.cves.iter().cloned()));
        patched.extend(p.patches_changed.iter().flat_map(|x| x.cves.iter().cloned()));
        unpatched.extend(p.patches_removed.iter().flat_map(|x| x.cves.iter().cloned()));
    }
    let count = |k: &str| counts.get(k).copied().unwrap_or(0);
    DiffSummary {
        old_derivations: old.members.len(),
        new_derivations: new.members.len(),
        old_sources: old.count_sources(),
        new_sources: new.count_sources(),
        sources_added: added.len(),
        sources_removed: removed.len(),
        sources_changed: changed.len(),
        stale_hashes: changed.iter().filter(|c| c.stale_hash).count(),
        version_changes: count("v"),
        packages_added: packages_added.len(),
        packages_removed: packages_removed.len(),
        patches_added: count("pa"),
        patches_removed: count("pr"),
        patches_changed: count("pc"),
        dependencies_added: count("da"),
        dependencies_removed: count("dr"),
        cves_unpatched: unpatched.difference(&patched).cloned().collect(),
        cves_patched: patched.into_iter().collect(),
        to_review: added.len() + changed.iter().filter(|c| c.changed.contains(&"hash")).count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_by_rule_first_then_in_order() {
        let old = [1, 2, 3];
        let new = [3, 7];
        let (pairs, old_rest, new_rest) = pair(&old, &new, &[&|a: &i32, b: &i32| a == b]);
        assert_eq!(pairs, vec![(3, 3), (1, 7)]);
        assert_eq!(old_rest, vec![2]);
        assert!(new_rest.is_empty());
    }

    #[test]
    fn stale_hash_is_a_url_change_without_a_hash_change() {
        let side = |url: &str, hash: &str| SourceSide {
            drv_path: "/nix/store/x-a.drv".into(),
            output_path: None,
            name: "source".into(),
            version: None,
            kind: SourceKind::Tarball,
            urls: vec![url.into()],
            hash: hash.into(),
            mode: "recursive",
            used_by: vec![],
        };
        let c = source_change("p", "source", side("https://a/1", "sha256-A"), side("https://a/2", "sha256-A")).unwrap();
        assert!(c.stale_hash);
        assert_eq!(c.changed, vec!["urls"]);
        let c = source_change("p", "source", side("https://a/1", "sha256-A"), side("https://a/2", "sha256-B")).unwrap();
        assert!(!c.stale_hash);
        assert_eq!(c.changed, vec!["urls", "hash"]);
        assert!(
            source_change("p", "source", side("https://a/1", "sha256-A"), side("https://a/1", "sha256-A")).is_none()
        );
    }
}
