//! The binary seed of a closure (`sources --bootstrap`): the sources whose
//! bytes run without having been built from source, and how big they are.
//!
//! A source (FOD) is a seed when
//! - it is classified `bootstrap` ([`crate::fod`]: stdenv's bootstrap
//!   tools, their busybox and unpack seeds, stage0 seeds), or
//! - its output is executed as a builder: some derivation's `builder` is
//!   the output path or a path below it. A FOD's bytes come from the
//!   network, so such a builder was never built from source in this
//!   closure.
//!
//! Cost: one parallel walk of the `.drv` closure keeping the FOD
//! descriptions and each derivation's builder store path, O(V + E); one
//! database lookup per seed for its NAR size (without a database, the NAR
//! size is computed from the files on disk); one breadth-first search for
//! the why-chains. Seeds come out sorted by `.drv` path.

use std::collections::BTreeMap;

use provenix_formats::store_path::StorePath;
use provenix_store::Store;
use provenix_store::db::NixDb;
use provenix_store::drv::{DrvClosure, NodeId};
use serde::Serialize;

use crate::fod::{FodInfo, SourceKind};
use crate::mirrors::MirrorTable;
use crate::sources::SourcesError;

/// Why a source is part of the binary seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedReason {
    /// Classified `bootstrap` by name, URL or fetch mode.
    pub bootstrap_kind: bool,
    /// The derivations it is the builder of.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub builder_of: Vec<String>,
}

/// One seed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Seed {
    /// The FOD's `.drv`.
    pub drv_path: String,
    /// Its output path.
    pub output_path: String,
    /// Its name.
    pub name: String,
    /// The URLs it fetches.
    pub urls: Vec<String>,
    /// Whether the output is in the store.
    pub realised: bool,
    /// NAR size in bytes, when realised.
    pub nar_size: Option<u64>,
    /// Why it is a seed.
    pub reason: SeedReason,
    /// The shortest chain of derivations from a root to it.
    pub why: Vec<String>,
}

/// The binary seed of some roots.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapReport {
    /// The root `.drv` paths.
    pub roots: Vec<String>,
    /// Derivations in the closure.
    pub derivations: usize,
    /// The seeds.
    pub seeds: Vec<Seed>,
    /// Bytes of all realised seeds (NAR sizes).
    pub total_bytes: u64,
}

/// What the walk keeps of each derivation.
struct Kept {
    fod: Option<(FodInfo, StorePath)>,
    builder: Option<StorePath>,
}

/// The seeds of the build closure of `roots`.
pub fn bootstrap_seeds(
    store: &Store,
    db: Option<&NixDb>,
    roots: &[StorePath],
    mirrors: &MirrorTable,
) -> Result<BootstrapReport, SourcesError> {
    let dir = store.dir();
    let (graph, kept) = DrvClosure::load_graph_mapped(store, roots, |path, drv| {
        let builder =
            std::str::from_utf8(drv.builder()).ok().and_then(|b| dir.parse_path_prefix(b).ok()).map(|(p, _)| p);
        let fod = FodInfo::from_derivation(path.name(), &drv, mirrors)
            .and_then(|info| drv.fixed_output().map(|(_, _, p)| (info, p.clone())));
        Kept { fod, builder }
    })?;
    // Output path -> the derivations that run it as their builder.
    let mut builders: BTreeMap<&StorePath, Vec<String>> = BTreeMap::new();
    for (id, k) in graph.nodes().zip(&kept) {
        if let (Some(b), Some(path)) = (&k.builder, graph.path(id)) {
            builders.entry(b).or_default().push(dir.display(path));
        }
    }
    let why = graph.why();
    let mut seeds = Vec::new();
    for (id, k) in graph.nodes().zip(&kept) {
        let Some((info, output)) = &k.fod else { continue };
        let builder_of = builders.get(output).cloned().unwrap_or_default();
        let bootstrap_kind = info.kind == SourceKind::Bootstrap;
        if !bootstrap_kind && builder_of.is_empty() {
            continue;
        }
        let physical = store.physical(output);
        let on_disk = std::fs::symlink_metadata(&physical).is_ok();
        let nar_size = match (on_disk, db) {
            (false, _) => None,
            (true, Some(db)) => {
                db.path_infos(std::slice::from_ref(output))?.into_iter().next().flatten().map(|i| i.nar_size)
            }
            (true, None) => provenix_store::nar::nar_size(&physical).ok(),
        };
        seeds.push(Seed {
            drv_path: graph.path(id).map(|p| dir.display(p)).unwrap_or_default(),
            output_path: dir.display(output),
            name: info.name.clone(),
            urls: info.urls.clone(),
            realised: nar_size.is_some(),
            nar_size,
            reason: SeedReason { bootstrap_kind, builder_of },
            why: chain(&why, &graph, id, store),
        });
    }
    seeds.sort_by(|a, b| a.drv_path.cmp(&b.drv_path));
    Ok(BootstrapReport {
        roots: graph.roots().iter().filter_map(|&r| graph.path(r)).map(|p| dir.display(p)).collect(),
        derivations: graph.len(),
        total_bytes: seeds.iter().filter_map(|s| s.nar_size).sum(),
        seeds,
    })
}

fn chain(
    why: &provenix_store::graph::WhyChains,
    graph: &provenix_store::drv::DrvGraph,
    id: NodeId,
    store: &Store,
) -> Vec<String> {
    why.chain(id)
        .map(|c| c.into_iter().filter_map(|n| graph.path(n)).map(|p| store.dir().display(p)).collect())
        .unwrap_or_default()
}
