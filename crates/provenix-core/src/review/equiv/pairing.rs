//! Pairing each release archive of a closure with a VCS tree of the same
//! version, offline, and comparing them (inside `verify`).
//!
//! A *release archive* is a FOD of kind tarball that is not itself a forge
//! snapshot. A *VCS source* is a git, hg, svn, cvs or bzr checkout FOD, or a
//! forge snapshot archive of a ref (a URL with `/archive/` in its path, as
//! GitHub, GitLab (`/-/archive/`), Codeberg and SourceHut serve
//! `git archive` of a tag or commit; or `codeload.github.com`). In order:
//!
//! 1. a `--vcs-map` entry naming the archive's FOD (its name, or its name
//!    without version) → a local directory or archive;
//! 2. a VCS source among the inputs of a derivation that also has the
//!    archive as an input (the package's `src` and, say, a `vcsSrc`);
//! 3. a VCS source of the same name and version anywhere in the closure
//!    (names compared without archive extensions and `-src`/`-source`).
//!
//! 4. with `--vcs-fetch`: the upstream repository of the package, from the
//!    identity table's `repo` ([`crate::identity::IdentityTable`], looked up
//!    by the using derivation's `pname`, then by the source's name), else
//!    one read from a forge source URL ([`repo_from_url`]).
//!
//! An archive none finds is `vcs-unpaired` (info). Unrealised sides are
//! skipped (verify reports them as `unrealised-source` already). The cost
//! is the reading of both sides per pair, O(bytes), plus O(V + E) for the
//! pairing itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use provenix_store::Store;
use provenix_store::drv::{DrvClosure, NodeId};
use serde::Serialize;

use super::vcs_fetch::{FetchOptions, fetch_tag, repo_from_url};
use super::{EquivError, EquivFinding, KnownCopies, Limits, equiv};
use crate::fod::{FodInfo, SourceKind};
use crate::identity::IdentityTable;
use crate::verify::{Finding, FindingKind, VerifyError};

/// What `verify` needs to compare release archives with VCS trees.
#[derive(Debug, Clone, Default)]
pub struct VcsOptions {
    /// Known upstream copies of shared build files.
    pub known: KnownCopies,
    /// User pairings (`--vcs-map`).
    pub map: VcsMap,
    /// Bounds on what each side may unpack to.
    pub limits: Limits,
    /// Fetch the upstream repository of archives nothing else pairs (`--vcs-fetch`).
    pub fetch: Option<FetchOptions>,
    /// Where upstream repositories come from before source URLs; `None` is the built-in table.
    pub identities: Option<IdentityTable>,
}

/// A user pairing file: lines of `NAME PATH` or `NAME URL [REF]`, `#` comments. NAME is a
/// source's name (`xz-5.6.1.tar.gz`), or its name without extension and version (`xz`); PATH a
/// local directory or archive holding the VCS tree of that version; URL a git repository
/// (fetched with `--vcs-fetch`) at REF, or at the tag matching the version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VcsMap {
    entries: BTreeMap<String, MapTarget>,
}

/// What a `--vcs-map` line pairs a source with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapTarget {
    /// A local directory or archive.
    Path(PathBuf),
    /// A git repository, at a ref or at the version's tag.
    Repo {
        /// The URL.
        url: String,
        /// The ref, if given.
        git_ref: Option<String>,
    },
}

/// A malformed `--vcs-map` line.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: expected `NAME PATH` or `NAME URL [REF]`")]
pub struct VcsMapError {
    /// 1-based line number.
    pub line: usize,
}

impl VcsMap {
    /// Parses the file's text; relative paths are taken from `base`.
    pub fn parse(text: &str, base: &Path) -> Result<VcsMap, VcsMapError> {
        let mut entries = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (Some(name), Some(target), git_ref, None) = (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(VcsMapError { line: i + 1 });
            };
            let target = if target.contains("://") {
                MapTarget::Repo { url: target.to_owned(), git_ref: git_ref.map(str::to_owned) }
            } else if git_ref.is_some() {
                return Err(VcsMapError { line: i + 1 });
            } else {
                MapTarget::Path(base.join(target))
            };
            entries.insert(name.to_owned(), target);
        }
        Ok(VcsMap { entries })
    }

    fn lookup(&self, fod_name: &str) -> Option<&MapTarget> {
        let (name, _) = name_version(fod_name);
        self.entries
            .get(fod_name)
            .or_else(|| self.entries.get(strip_archive_ext(fod_name)))
            .or_else(|| self.entries.get(name))
    }
}

/// Whether a FOD is a forge snapshot archive of a ref.
pub fn is_forge_snapshot(info: &FodInfo) -> bool {
    info.resolved_urls.iter().chain(&info.urls).any(|url| {
        let path = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
        path.starts_with("codeload.github.com/") || path.contains("/archive/")
    })
}

fn is_vcs(info: &FodInfo) -> bool {
    matches!(info.kind, SourceKind::Git | SourceKind::Hg | SourceKind::Svn | SourceKind::Cvs | SourceKind::Bzr)
        || (info.kind == SourceKind::Tarball && is_forge_snapshot(info))
}

fn is_release_archive(info: &FodInfo) -> bool {
    info.kind == SourceKind::Tarball && !is_forge_snapshot(info)
}

fn strip_archive_ext(name: &str) -> &str {
    for ext in [".tar.gz", ".tar.xz", ".tar.bz2", ".tar.zst", ".tgz", ".txz", ".tbz2", ".tar", ".zip"] {
        if let Some(stem) = name.strip_suffix(ext) {
            return stem;
        }
    }
    name
}

/// `(name, version)` of a source name: `xz-5.6.1.tar.gz` → (`xz`, `5.6.1`); `-src` and
/// `-source` suffixes and a `v` before the version are dropped.
pub fn name_version(fod_name: &str) -> (&str, &str) {
    let stem = strip_archive_ext(fod_name);
    let stem = stem.strip_suffix("-src").or_else(|| stem.strip_suffix("-source")).unwrap_or(stem);
    let split = stem.match_indices('-').map(|(i, _)| i).find(|&i| {
        let rest = stem.get(i + 1..).unwrap_or_default();
        let rest = rest.strip_prefix('v').unwrap_or(rest);
        rest.starts_with(|c: char| c.is_ascii_digit())
    });
    match split {
        Some(i) => {
            let version = stem.get(i + 1..).unwrap_or_default();
            (stem.get(..i).unwrap_or_default(), version.strip_prefix('v').unwrap_or(version))
        }
        None => (stem, ""),
    }
}

/// Where a pairing came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PairedBy {
    /// A `--vcs-map` entry.
    VcsMap,
    /// A VCS source among the inputs of a derivation that uses the archive.
    SameDerivation,
    /// A VCS source with the same name and version.
    SameNameVersion,
    /// The upstream repository, fetched at the version's tag (`--vcs-fetch`).
    VcsFetch,
}

/// The VCS side of a pair.
#[derive(Debug, Clone)]
pub enum VcsSide {
    /// A VCS source FOD of the closure.
    Source(NodeId),
    /// A local path from `--vcs-map`.
    Path(PathBuf),
    /// A repository to fetch, from `--vcs-map`, the identity table or the source URL.
    Repo {
        /// The URL.
        url: String,
        /// The ref, if given.
        git_ref: Option<String>,
        /// Where the URL came from.
        from: RepoFrom,
    },
}

/// Where a repository to fetch was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RepoFrom {
    /// A `--vcs-map` line.
    VcsMap,
    /// The identity table's `repo` for the package.
    IdentityTable,
    /// A forge source URL.
    SourceUrl,
}

impl RepoFrom {
    /// Where the URL came from, in words.
    pub fn describe(self) -> &'static str {
        match self {
            RepoFrom::VcsMap => "from --vcs-map",
            RepoFrom::IdentityTable => "the identity table's repository for the package",
            RepoFrom::SourceUrl => "read from the source URL",
        }
    }
}

/// A release archive and what it is paired with.
#[derive(Debug, Clone)]
pub struct Pairing {
    /// The archive's FOD.
    pub archive: NodeId,
    /// A derivation that uses it (the package), if any.
    pub user: Option<NodeId>,
    /// The VCS side, if found.
    pub vcs: Option<(VcsSide, PairedBy)>,
}

/// Pairs every release archive among `fods` (see the module docs), with the built-in identity
/// table.
pub fn pair_sources(closure: &DrvClosure, fods: &[(NodeId, FodInfo)], map: &VcsMap) -> Vec<Pairing> {
    pair_sources_with(closure, fods, map, &IdentityTable::builtin())
}

/// The identity table's repository for a release archive: by the `pname` (else the name) of a
/// derivation that uses it, then by the archive's own name without version.
fn table_repo(closure: &DrvClosure, users: &[NodeId], fod_name: &str, table: &IdentityTable) -> Option<String> {
    let graph = closure.graph();
    let from_users = users.iter().find_map(|&u| {
        let drv = closure.derivation(u)?;
        let name = graph.path(u).and_then(provenix_formats::derivation::drv_name)?;
        let pname = drv.env_var(b"pname").and_then(|p| std::str::from_utf8(p).ok());
        let pname = pname.unwrap_or_else(|| name_version(name).0);
        table.lookup(name, pname, None)?.repo.clone()
    });
    from_users.or_else(|| table.get(name_version(fod_name).0)?.repo.clone())
}

/// [`pair_sources`] with `table` for upstream repositories.
pub fn pair_sources_with(
    closure: &DrvClosure,
    fods: &[(NodeId, FodInfo)],
    map: &VcsMap,
    table: &IdentityTable,
) -> Vec<Pairing> {
    let graph = closure.graph();
    let info: BTreeMap<NodeId, &FodInfo> = fods.iter().map(|(id, i)| (*id, i)).collect();
    // Users of each FOD, and the VCS sources each user has.
    let mut users: BTreeMap<NodeId, Vec<NodeId>> = BTreeMap::new();
    for id in graph.nodes() {
        if info.contains_key(&id) {
            continue;
        }
        for &input in graph.inputs(id) {
            if info.contains_key(&input) {
                users.entry(input).or_default().push(id);
            }
        }
    }
    let vcs_of_user = |user: NodeId| -> Vec<NodeId> {
        graph.inputs(user).iter().copied().filter(|i| info.get(i).is_some_and(|f| is_vcs(f))).collect()
    };
    let by_name: BTreeMap<(&str, &str), NodeId> = fods
        .iter()
        .filter(|(_, f)| is_vcs(f))
        .map(|(id, f)| (name_version(&f.name), *id))
        .filter(|((_, v), _)| !v.is_empty())
        .collect();
    let mut out = Vec::new();
    for (id, f) in fods {
        if !is_release_archive(f) {
            continue;
        }
        let user_list = users.get(id).cloned().unwrap_or_default();
        let user = user_list.first().copied();
        let vcs = if let Some(target) = map.lookup(&f.name) {
            Some(match target {
                MapTarget::Path(path) => (VcsSide::Path(path.clone()), PairedBy::VcsMap),
                MapTarget::Repo { url, git_ref } => (
                    VcsSide::Repo { url: url.clone(), git_ref: git_ref.clone(), from: RepoFrom::VcsMap },
                    PairedBy::VcsMap,
                ),
            })
        } else if let Some(v) = user_list.iter().find_map(|&u| {
            let candidates = vcs_of_user(u);
            // Several: prefer the one of the same name and version.
            let want = name_version(&f.name);
            candidates
                .iter()
                .copied()
                .find(|c| info.get(c).is_some_and(|i| name_version(&i.name) == want))
                .or(candidates.first().copied())
        }) {
            Some((VcsSide::Source(v), PairedBy::SameDerivation))
        } else if let Some(&v) = by_name.get(&name_version(&f.name)) {
            Some((VcsSide::Source(v), PairedBy::SameNameVersion))
        } else if let Some(url) = table_repo(closure, &user_list, &f.name, table) {
            Some((VcsSide::Repo { url, git_ref: None, from: RepoFrom::IdentityTable }, PairedBy::VcsFetch))
        } else {
            f.resolved_urls
                .iter()
                .find_map(|u| repo_from_url(u))
                .map(|url| (VcsSide::Repo { url, git_ref: None, from: RepoFrom::SourceUrl }, PairedBy::VcsFetch))
        };
        out.push(Pairing { archive: *id, user, vcs });
    }
    out
}

/// One pair compared: the findings, for `verify` to report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PairContext {
    /// The archive's `.drv`.
    pub archive_drv: String,
    /// The archive's output path.
    pub archive_out: String,
    /// The derivation that uses the archive (the package).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// The VCS side: a `.drv` of the closure, or a local path.
    pub vcs: String,
    /// The VCS side's output path (for a source of the closure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vcs_out: Option<String>,
    /// How the pair was found.
    pub paired_by: PairedBy,
    /// For a fetched repository: where its URL came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo_from: Option<RepoFrom>,
}

/// Compares one pair; `archive` and `vcs` are physical paths.
pub fn compare_pair(
    archive: &Path,
    vcs: &Path,
    shown: (&str, &str),
    options: &VcsOptions,
) -> Result<Vec<EquivFinding>, EquivError> {
    Ok(equiv(archive, vcs, shown, &options.known, &options.limits)?.findings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::tarball("xz-5.6.1.tar.gz", ("xz", "5.6.1"))]
    #[case::src_suffix("xz-5.6.1-src", ("xz", "5.6.1"))]
    #[case::v_prefix("demo-v1.0.tar.gz", ("demo", "1.0"))]
    #[case::dashed_name("gnu-config-2024-01-01", ("gnu-config", "2024-01-01"))]
    #[case::no_version("source", ("source", ""))]
    fn splits_name_and_version(#[case] name: &str, #[case] want: (&str, &str)) {
        assert_eq!(name_version(name), want);
    }

    #[test]
    fn a_vcs_map_names_sources_and_refuses_bad_lines() {
        let text = "# comment\nxz /src/xz\ndemo-1.0.tar.gz rel/demo\nzlib https://github.com/madler/zlib v1.3\n";
        let map = VcsMap::parse(text, Path::new("/base")).unwrap();
        assert_eq!(map.lookup("xz-5.6.1.tar.gz"), Some(&MapTarget::Path("/src/xz".into())));
        assert_eq!(map.lookup("demo-1.0.tar.gz"), Some(&MapTarget::Path("/base/rel/demo".into())));
        assert_eq!(
            map.lookup("zlib-1.3.tar.gz"),
            Some(&MapTarget::Repo { url: "https://github.com/madler/zlib".into(), git_ref: Some("v1.3".into()) })
        );
        assert_eq!(map.lookup("other-1.tar.gz"), None);
        assert_eq!(VcsMap::parse("a b c\n", Path::new("/")).unwrap_err().line, 1);
        assert_eq!(VcsMap::parse("ok /x\na\n", Path::new("/")).unwrap_err().line, 2);
    }
}

/// A `verify` finding's equivalence details: the pair and the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyEquiv {
    /// The archive, its package and the VCS side.
    pub pair: PairContext,
    /// The file-level finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding: Option<EquivFinding>,
}

fn kind_of(kind: super::EquivKind) -> FindingKind {
    use super::EquivKind as E;
    match kind {
        E::TarballModifiedFile => FindingKind::TarballModifiedFile,
        E::SymlinkDifference => FindingKind::SymlinkDifference,
        E::TarballOnlyFile => FindingKind::TarballOnlyFile,
        E::ModeDifference => FindingKind::ModeDifference,
        E::VcsOnlyFile => FindingKind::VcsOnlyFile,
    }
}

/// The `out` output path of a FOD's derivation.
fn out_path(closure: &DrvClosure, id: NodeId) -> Option<provenix_formats::store_path::StorePath> {
    let drv = closure.derivation(id)?;
    drv.outputs().iter().find_map(|(_, o)| o.path().cloned())
}

/// Pairs and compares every release archive of the closure (see the module docs): one
/// `verify` finding per file-level difference, and `vcs-unpaired` for each archive with no
/// VCS tree. Pairs with an unrealised side are skipped.
pub fn verify_findings(
    store: &Store,
    closure: &DrvClosure,
    fods: &[(NodeId, FodInfo)],
    options: &VcsOptions,
) -> Result<Vec<Finding>, VerifyError> {
    let dir = store.dir();
    let graph = closure.graph();
    let shown = |id: NodeId| graph.path(id).map(|p| dir.display(p)).unwrap_or_default();
    let mut findings = Vec::new();
    let builtin;
    let table = match &options.identities {
        Some(table) => table,
        None => {
            builtin = IdentityTable::builtin();
            &builtin
        }
    };
    for pairing in pair_sources_with(closure, fods, &options.map, table) {
        let archive_drv = shown(pairing.archive);
        let Some(archive_out) = out_path(closure, pairing.archive) else { continue };
        let archive_physical = store.physical(&archive_out);
        if std::fs::symlink_metadata(&archive_physical).is_err() {
            continue;
        }
        let package = pairing.user.map(shown);
        let Some((side, paired_by)) = pairing.vcs else {
            let mut f = Finding::new(
                FindingKind::VcsUnpaired,
                archive_drv.clone(),
                "a release archive with no VCS tree in the closure to compare it with (try --vcs-map)".into(),
            );
            f.equiv = Some(Box::new(VerifyEquiv {
                pair: PairContext {
                    archive_drv,
                    archive_out: dir.display(&archive_out),
                    package,
                    vcs: String::new(),
                    vcs_out: None,
                    paired_by: PairedBy::SameDerivation,
                    repo_from: None,
                },
                finding: None,
            }));
            findings.push(f);
            continue;
        };
        let mut _fetched = None;
        let mut repo_from = None;
        let (vcs, vcs_out, vcs_physical) = match side {
            VcsSide::Path(path) => (path.display().to_string(), None, path),
            VcsSide::Repo { url, git_ref, from } => {
                repo_from = Some(from);
                let Some(fetch) = &options.fetch else {
                    let mut f = Finding::new(
                        FindingKind::VcsUnpaired,
                        archive_drv.clone(),
                        format!(
                            "a release archive with no VCS tree in the closure; run with --vcs-fetch to fetch {url} ({})",
                            from.describe()
                        ),
                    );
                    f.equiv = Some(Box::new(VerifyEquiv {
                        pair: PairContext {
                            archive_drv: archive_drv.clone(),
                            archive_out: dir.display(&archive_out),
                            package: package.clone(),
                            vcs: url.clone(),
                            vcs_out: None,
                            paired_by,
                            repo_from,
                        },
                        finding: None,
                    }));
                    f.url = Some(url);
                    findings.push(f);
                    continue;
                };
                let fod_name = fods.iter().find(|(id, _)| *id == pairing.archive).map(|(_, i)| i.name.as_str());
                let (name, version) = name_version(fod_name.unwrap_or_default());
                match fetch_tag(&url, name, version, git_ref.as_deref(), fetch) {
                    Ok(tree) => {
                        let shown = format!("{url} at {}", tree.tag);
                        let path = tree.archive();
                        _fetched = Some(tree);
                        (shown, None, path)
                    }
                    Err(failure) => {
                        let mut f = Finding::new(
                            FindingKind::VcsFetchFailed,
                            archive_drv.clone(),
                            format!("the VCS tree could not be fetched: {failure}"),
                        );
                        f.url = Some(url);
                        findings.push(f);
                        continue;
                    }
                }
            }
            VcsSide::Source(id) => {
                let Some(out) = out_path(closure, id) else { continue };
                let physical = store.physical(&out);
                if std::fs::symlink_metadata(&physical).is_err() {
                    continue;
                }
                (shown(id), Some(dir.display(&out)), physical)
            }
        };
        let archive_shown = dir.display(&archive_out);
        let vcs_shown = vcs_out.clone().unwrap_or_else(|| vcs.clone());
        let pair = PairContext {
            archive_drv: archive_drv.clone(),
            archive_out: archive_shown.clone(),
            package: package.clone(),
            vcs: vcs.clone(),
            vcs_out: vcs_out.clone(),
            paired_by,
            repo_from,
        };
        let file_findings = match compare_pair(&archive_physical, &vcs_physical, (&archive_shown, &vcs_shown), options)
        {
            Ok(found) => found,
            // One bad archive is a finding on it; the other pairs and checks still report.
            Err(e) => {
                let mut f = Finding::new(
                    FindingKind::EquivUnreadable,
                    archive_drv.clone(),
                    format!("{archive_shown} could not be compared with {vcs_shown}: {}", crate::verify::chain(&e)),
                );
                f.equiv = Some(Box::new(VerifyEquiv { pair, finding: None }));
                findings.push(f);
                continue;
            }
        };
        for ef in file_findings {
            let class = ef.class.map(|c| format!(" [{}]", c.as_str())).unwrap_or_default();
            let mut f = Finding::new(
                kind_of(ef.kind),
                archive_drv.clone(),
                format!("`{}`{class}: {} (against {vcs_shown})", ef.file, ef.detail),
            );
            f.severity = ef.severity;
            f.equiv = Some(Box::new(VerifyEquiv { pair: pair.clone(), finding: Some(ef) }));
            findings.push(f);
        }
    }
    Ok(findings)
}
