//! The source inventory: every fixed-output derivation (FOD) in the build
//! closure of the roots, the only doors through which bytes enter a Nix build.
//!
//! Algorithm and cost, for V derivations and E input edges:
//!
//! 1. walk the `.drv` closure ([`DrvClosure::load_graph_mapped`]): every file
//!    read and parsed once, in parallel; each worker keeps only the
//!    [`FodInfo`] of a FOD and drops the derivation, so memory is the graph
//!    plus the sources. O(V) parses, O(E) index lookups;
//! 2. why-chains: one breadth-first search from all roots ([`DrvGraph::why`]),
//!    O(V + E), then each chain asked for costs its length;
//! 3. realised or not, and the NAR size: a `stat` of each FOD output (in
//!    parallel), then one database lookup per output present on disk; a path
//!    is realised when it is on disk and valid in the database (without a
//!    database: on disk, size unknown).
//!
//! Local sources, the files a derivation takes from the evaluating machine
//! rather than from a URL (patches, builder scripts: its `inputSrcs`), are
//! listed beside the FODs, each once with the derivations that use it.
//!
//! Sources come out sorted by `.drv` path, local sources by store path, so the
//! report is deterministic.

use std::collections::BTreeMap;

use provenix_formats::store_path::{ContentAddressMethod, StorePath};
use provenix_store::Store;
use provenix_store::db::NixDb;
use provenix_store::drv::{DrvClosure, DrvError, NodeId};
use rayon::prelude::*;
use serde::Serialize;
use thiserror::Error;

use crate::fod::{FodInfo, SourceKind};
use crate::mirrors::MirrorTable;

/// Errors from building the inventory.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SourcesError {
    /// Reading the `.drv` closure failed.
    #[error("reading the build closure")]
    Closure(#[from] DrvError),
    /// Reading the Nix database failed.
    #[error("reading the Nix database")]
    Db(#[from] provenix_store::db::DbError),
}

/// What to compute.
#[derive(Debug, Clone, Default)]
pub struct SourcesOptions {
    /// How to expand `mirror://` URLs.
    pub mirrors: MirrorTable,
    /// Give every source its why-chain (otherwise only the `top` biggest).
    pub why: bool,
    /// How many of the biggest sources get a why-chain and show in the summary.
    pub top: usize,
}

/// Serialises a content-address method the way Nix names it in `outputHashMode`.
pub fn method_name(method: ContentAddressMethod) -> &'static str {
    match method {
        ContentAddressMethod::Flat => "flat",
        ContentAddressMethod::Recursive => "recursive",
        ContentAddressMethod::Text => "text",
    }
}

/// One source: a fixed-output derivation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// The `.drv` path.
    pub drv_path: String,
    /// The output path.
    pub output_path: String,
    /// The derivation's name.
    pub name: String,
    /// URLs as declared (`urls` or `url`).
    pub urls: Vec<String>,
    /// The URLs with `mirror://` expanded, in the order a fetcher tries them.
    pub resolved_urls: Vec<String>,
    /// `mirror://` names the mirror table does not know.
    pub unknown_mirrors: Vec<String>,
    /// The hash algorithm (`sha256`, ...).
    pub hash_algo: &'static str,
    /// `flat`, `recursive` or `text`.
    pub mode: &'static str,
    /// The declared hash in SRI form.
    pub hash: String,
    /// What kind of source it is.
    pub kind: SourceKind,
    /// Whether the output is in the store.
    pub realised: bool,
    /// The output's NAR size, when realised and known from the Nix database.
    pub nar_size: Option<u64>,
    /// `.drv` paths from a root down to this one, when asked for (JSON: `[]` when not).
    #[serde(serialize_with = "none_as_empty")]
    pub why: Option<Vec<String>>,
    #[serde(skip)]
    node: NodeId,
}

/// What a local source is, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LocalKind {
    /// A patch (`.patch`, `.diff`, compressed or not).
    Patch,
    /// A builder or setup script (`.sh`, or a name with `builder`).
    Script,
    /// Any other file or directory.
    Other,
}

impl LocalKind {
    /// Every kind, in declaration order.
    pub const ALL: [LocalKind; 3] = [LocalKind::Patch, LocalKind::Script, LocalKind::Other];

    /// The stable lowercase name: `patch`, `script`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            LocalKind::Patch => "patch",
            LocalKind::Script => "script",
            LocalKind::Other => "other",
        }
    }

    /// The kind of a local source named `name` (the store path's name part).
    pub fn of_name(name: &str) -> LocalKind {
        let lower = name.to_ascii_lowercase();
        let bare = [".gz", ".xz", ".bz2", ".zst"].iter().find_map(|z| lower.strip_suffix(z)).unwrap_or(&lower);
        if bare.ends_with(".patch") || bare.ends_with(".diff") {
            LocalKind::Patch
        } else if bare.ends_with(".sh") || bare.contains("builder") {
            LocalKind::Script
        } else {
            LocalKind::Other
        }
    }
}

/// A local source: a store path some derivation of the closure lists in its `inputSrcs`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalSource {
    /// The store path.
    pub path: String,
    /// Its name part (after the hash).
    pub name: String,
    /// What it is, from its name.
    pub kind: LocalKind,
    /// Whether it is in the store (on disk, and valid in the Nix database when there is one).
    pub realised: bool,
    /// Its NAR size, when known from the Nix database.
    pub nar_size: Option<u64>,
    /// The `.drv` paths that list it in their `inputSrcs`, sorted.
    pub used_by: Vec<String>,
}

/// An absent list as `[]`: JSON arrays are always present (docs/json.md).
fn none_as_empty<S: serde::Serializer>(list: &Option<Vec<String>>, s: S) -> Result<S::Ok, S::Error> {
    list.as_deref().unwrap_or_default().serialize(s)
}

/// The inventory of the roots' sources.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourcesReport {
    /// The root `.drv` paths.
    pub roots: Vec<String>,
    /// Derivations in the build closure.
    pub derivations: usize,
    /// Whether realisation and sizes came from the Nix database.
    pub database: bool,
    /// The sources, sorted by `.drv` path.
    pub sources: Vec<Source>,
    /// The local sources (`inputSrcs` that are not `.drv` files), sorted by store path.
    pub local_sources: Vec<LocalSource>,
}

/// Counts of one kind of source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KindCount {
    /// Sources of this kind.
    pub count: usize,
    /// Of which realised.
    pub realised: usize,
    /// Their total NAR size, where known.
    pub bytes: u64,
}

impl SourcesReport {
    /// Per kind: counts and bytes, in [`SourceKind`] order.
    pub fn by_kind(&self) -> Vec<(SourceKind, KindCount)> {
        let mut counts: std::collections::BTreeMap<SourceKind, KindCount> = Default::default();
        for s in &self.sources {
            let c = counts.entry(s.kind).or_default();
            c.count += 1;
            c.realised += usize::from(s.realised);
            c.bytes += s.nar_size.unwrap_or(0);
        }
        counts.into_iter().collect()
    }

    /// Total NAR size of the realised sources.
    pub fn total_bytes(&self) -> u64 {
        self.sources.iter().filter_map(|s| s.nar_size).sum()
    }

    /// The `n` biggest realised sources, biggest first (ties by `.drv` path).
    pub fn biggest(&self, n: usize) -> Vec<&Source> {
        biggest(&self.sources, n).into_iter().filter_map(|k| self.sources.get(k)).collect()
    }
}

/// Indices of the `n` biggest realised sources, biggest first (ties by `.drv` path).
fn biggest(sources: &[Source], n: usize) -> Vec<usize> {
    let mut sized: Vec<usize> = (0..sources.len()).filter(|&k| sources[k].nar_size.is_some()).collect();
    sized.sort_by(|&a, &b| {
        let (a, b) = (&sources[a], &sources[b]);
        b.nar_size.cmp(&a.nar_size).then_with(|| a.drv_path.cmp(&b.drv_path))
    });
    sized.truncate(n);
    sized
}

/// Lists the sources of the closure of `roots` (`.drv` paths).
pub fn sources(
    store: &Store,
    db: Option<&NixDb>,
    roots: &[StorePath],
    options: &SourcesOptions,
) -> Result<SourcesReport, SourcesError> {
    let mirrors = &options.mirrors;
    let started = std::time::Instant::now();
    let (graph, mapped) = DrvClosure::load_graph_mapped(store, roots, |path, drv| {
        let local: Vec<StorePath> = drv.input_srcs().iter().filter(|p| !p.is_derivation()).cloned().collect();
        let fod = FodInfo::from_derivation(path.name(), &drv, mirrors)
            .and_then(|info| Some((info, drv.fixed_output().map(|(_, _, p)| p.clone())?)));
        (fod, local)
    })?;
    let dir = store.dir();
    let mut used_by: BTreeMap<StorePath, Vec<NodeId>> = BTreeMap::new();
    let mut found: Vec<(NodeId, FodInfo, StorePath)> = Vec::new();
    for (id, (fod, local)) in graph.nodes().zip(mapped) {
        if let Some((info, output)) = fod {
            found.push((id, info, output));
        }
        for path in local {
            used_by.entry(path).or_default().push(id);
        }
    }
    tracing::debug!(ms = started.elapsed().as_millis(), fods = found.len(), "closure walked");
    // Present on disk first (one stat each, in parallel), then the database
    // for those only: unrealised sources cost no query, and the database's
    // pages are read only for what is there.
    let present: Vec<bool> =
        found.par_iter().map(|(_, _, o)| std::fs::symlink_metadata(store.physical(o)).is_ok()).collect();
    let on_disk: Vec<StorePath> =
        found.iter().zip(&present).filter(|(_, p)| **p).map(|((_, _, o), _)| o.clone()).collect();
    let mut sizes = match db {
        Some(db) => db.path_infos(&on_disk)?.into_iter().map(|i| i.map(|i| i.nar_size)).collect(),
        None => Vec::new(),
    }
    .into_iter();
    tracing::debug!(ms = started.elapsed().as_millis(), "database read");
    let mut sources: Vec<Source> = found
        .into_iter()
        .zip(present)
        .map(|((id, info, output), present)| {
            let (realised, nar_size) = match (present, db) {
                (false, _) => (false, None),
                (true, None) => (true, None),
                (true, Some(_)) => match sizes.next().flatten() {
                    Some(size) => (true, Some(size)),
                    None => (false, None),
                },
            };
            let FodInfo { name, urls, resolved_urls, unknown_mirrors, method, hash, kind, .. } = info;
            Source {
                drv_path: graph.path(id).map(|p| dir.display(p)).unwrap_or_default(),
                output_path: dir.display(&output),
                name,
                urls,
                resolved_urls,
                unknown_mirrors,
                hash_algo: hash.algo().name(),
                mode: method_name(method),
                hash: hash.to_sri(),
                kind,
                realised,
                nar_size,
                why: None,
                node: id,
            }
        })
        .collect();
    let why = graph.why();
    let chain = |id: NodeId| -> Option<Vec<String>> {
        why.chain(id).map(|c| c.into_iter().filter_map(|n| graph.path(n)).map(|p| dir.display(p)).collect())
    };
    let chained: Vec<usize> = if options.why { (0..sources.len()).collect() } else { biggest(&sources, options.top) };
    for k in chained {
        if let Some(s) = sources.get_mut(k) {
            s.why = chain(s.node);
        }
    }
    tracing::debug!(ms = started.elapsed().as_millis(), "why-chains");
    let local_sources = local_sources(store, db, &graph, used_by)?;
    Ok(SourcesReport {
        roots: graph.roots().iter().filter_map(|&r| graph.path(r)).map(|p| dir.display(p)).collect(),
        derivations: graph.len(),
        database: db.is_some(),
        sources,
        local_sources,
    })
}

/// The local sources, with the derivations that use each, sorted by store path.
fn local_sources(
    store: &Store,
    db: Option<&NixDb>,
    graph: &provenix_store::drv::DrvGraph,
    used_by: BTreeMap<StorePath, Vec<NodeId>>,
) -> Result<Vec<LocalSource>, SourcesError> {
    let dir = store.dir();
    let paths: Vec<StorePath> = used_by.keys().cloned().collect();
    let present: Vec<bool> = paths.par_iter().map(|p| std::fs::symlink_metadata(store.physical(p)).is_ok()).collect();
    let infos = match db {
        Some(db) => db.path_infos(&paths)?,
        None => Vec::new(),
    };
    Ok(used_by
        .into_iter()
        .enumerate()
        .map(|(k, (path, users))| {
            let on_disk = present.get(k).copied().unwrap_or(false);
            let info = infos.get(k).and_then(Option::as_ref);
            let realised = on_disk && (db.is_none() || info.is_some());
            let mut used_by: Vec<String> =
                users.into_iter().filter_map(|n| graph.path(n)).map(|p| dir.display(p)).collect();
            used_by.sort();
            LocalSource {
                name: path.name().to_owned(),
                kind: LocalKind::of_name(path.name()),
                path: dir.display(&path),
                realised,
                nar_size: if on_disk { info.map(|i| i.nar_size) } else { None },
                used_by,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_sources_are_classified_by_name() {
        assert_eq!(LocalKind::of_name("fix-CVE-2024-1.patch"), LocalKind::Patch);
        assert_eq!(LocalKind::of_name("musl.DIFF.gz"), LocalKind::Patch);
        assert_eq!(LocalKind::of_name("builder.sh"), LocalKind::Script);
        assert_eq!(LocalKind::of_name("default-builder"), LocalKind::Script);
        assert_eq!(LocalKind::of_name("source"), LocalKind::Other);
        assert_eq!(LocalKind::of_name("patches.nix"), LocalKind::Other);
    }
}
