//! Component identity: what each derivation of a closure is, upstream.
//!
//! One [`Component`] per derivation of the build closure, built from what
//! the `.drv` declares plus the tables the user gives:
//!
//! - **name and version**: the env's `pname` and `version` when both are
//!   set (nixpkgs' `mkDerivation` sets them), else Nix's own split of the
//!   derivation name ([`parse_drv_name`], as `builtins.parseDrvName`: the
//!   version starts after the first `-` that is followed by a character
//!   other than a letter). A fixed-output derivation's name loses its archive
//!   extension first (`xz-5.6.0.tar.gz` gives `xz` `5.6.0`).
//! - **purl** `pkg:nix/<pname>@<version>` (percent-encoded as the purl spec
//!   says); registry packages (PyPI, crates.io, npm, RubyGems, Go, Hackage)
//!   found from source URLs get their own purls ([`urls::package_of_url`]).
//! - **CPE candidates**: `meta.identifiers.cpe`/`possibleCPEs` from
//!   `--meta` when given, then the identity table ([`table`]) by `pname`.
//!   A package with neither stays [`IdentityFrom::Unknown`]: it is never
//!   given a guessed vendor, and reports list it.
//! - **sources**: the fixed-output derivations among its inputs, with URLs
//!   and declared hashes; **upstream repositories** from their URLs and the
//!   table ([`urls::repo_of_url`]).
//! - **patches**: the env's `patches` list, by file name, with the CVE ids
//!   each name contains ([`cve_ids`]).
//! - **dependencies**: build-time edges are the `.drv` inputs; runtime edges
//!   come from the Nix database's references of realised outputs, walked
//!   from the roots' outputs ([`Runtime`]).
//!
//! Cost: one parallel pass over the `.drv` files (each parsed once and
//! reduced to what is kept here), a `stat` per output, and one database
//! lookup per output that exists on disk.

pub mod meta;
pub mod prefix;
pub mod table;
pub mod urls;

#[cfg(test)]
mod coverage_tests;

use std::collections::{HashMap, VecDeque};

use provenix_formats::derivation::{Derivation, drv_name};
use provenix_formats::store_path::{StoreDir, StorePath};
use provenix_store::Store;
use provenix_store::db::NixDb;
use provenix_store::drv::{DrvClosure, DrvError, DrvGraph, NodeId};
use rayon::prelude::*;
use serde::Serialize;
use thiserror::Error;

use crate::fod::{Attrs, FodInfo, SourceKind};
use crate::mirrors::MirrorTable;
use crate::sources::method_name;
pub use meta::{License, Meta, MetaTable};
pub use table::{CpeId, IdentityTable};
pub use urls::{EcosystemPackage, RepoRef};

/// Errors from building the inventory.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// Reading the `.drv` closure failed.
    #[error("reading the build closure")]
    Closure(#[from] DrvError),
    /// Reading the Nix database failed.
    #[error("reading the Nix database")]
    Db(#[from] provenix_store::db::DbError),
    /// Runtime dependencies were asked for without a Nix database.
    #[error("runtime dependencies need the Nix database (none found; give --db or --store)")]
    NoDatabase,
}

/// Where a version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum VersionFrom {
    /// The env's `pname` and `version`.
    Env,
    /// Nix's split of the derivation name.
    Name,
}

/// Where a package's CPE identity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum IdentityFrom {
    /// `meta.identifiers` from `--meta`.
    Meta,
    /// The identity table.
    Table,
    /// Neither: the package has no known CPE identity.
    Unknown,
    /// A fixed-output derivation: a source, identified by its hash.
    Source,
}

/// One output of a component.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentOutput {
    /// The output name (`out`, `dev`, ...).
    pub name: String,
    /// The store path, when known before building.
    pub path: Option<String>,
    /// NAR hash (SRI) from the Nix database, when the output is realised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nar_hash: Option<String>,
    /// NAR size from the Nix database, when the output is realised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nar_size: Option<u64>,
}

/// What a fixed-output derivation fetches.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceInfo {
    /// URLs as declared.
    pub urls: Vec<String>,
    /// URLs with `mirror://` expanded.
    pub resolved_urls: Vec<String>,
    /// The declared hash, SRI.
    pub hash: String,
    /// `flat`, `recursive` or `text`.
    pub mode: &'static str,
    /// The kind of source.
    pub kind: SourceKind,
}

/// A patch the derivation applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Patch {
    /// The file name (store path name without the hash).
    pub name: String,
    /// The store path.
    pub path: String,
    /// CVE ids in the name, upper case.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cves: Vec<String>,
}

/// One derivation seen as a component.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    /// The `.drv` path.
    pub drv_path: String,
    /// The derivation name.
    pub name: String,
    /// The package name.
    pub pname: String,
    /// The version, when there is one.
    pub version: Option<String>,
    /// Where name and version came from.
    pub version_from: VersionFrom,
    /// The outputs.
    pub outputs: Vec<ComponentOutput>,
    /// `pkg:nix/<pname>@<version>`.
    pub purl: String,
    /// Where the CPE identity came from.
    pub identity: IdentityFrom,
    /// CPE vendor/product pairs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpe_ids: Vec<CpeId>,
    /// Full CPE 2.3 names with the version.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpes: Vec<String>,
    /// Upstream repositories, from the identity table and source URLs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repos: Vec<RepoRef>,
    /// Registry packages its sources are.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<EcosystemPackage>,
    /// When the derivation is a fixed-output derivation: what it fetches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceInfo>,
    /// The `.drv` paths of the fixed-output derivations among its inputs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// Patches applied (the `patches` attribute).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<Patch>,
    /// Licenses, from `--meta`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<License>,
    /// Homepage, from `--meta`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    /// Description, from `--meta`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// True when an output is in the runtime closure of the roots' outputs
    /// (only known when runtime dependencies were computed).
    pub runtime: bool,
}

/// Per root `.drv`: the output paths that stand for it (see [`InventoryOptions::root_outputs`]).
pub type RootOutputs = HashMap<StorePath, Vec<StorePath>>;

/// What to read besides the `.drv` files.
#[derive(Debug, Clone, Default)]
pub struct InventoryOptions {
    /// How to expand `mirror://` URLs.
    pub mirrors: MirrorTable,
    /// `pname` → identity.
    pub identities: IdentityTable,
    /// Metadata from Nix evaluation.
    pub meta: Option<MetaTable>,
    /// Compute runtime dependencies from the Nix database (an error without one).
    pub runtime: bool,
    /// Do not look up which outputs are realised (no stat per output, no database query):
    /// every output's NAR hash and size stay unknown. For callers that need only the build
    /// graph (`diff`). Runtime dependencies, when asked for, still come from the database.
    pub skip_realisation: bool,
    /// Per root `.drv`: the outputs the user named (an output path or `result` link), whose
    /// runtime closure is the root's. A root not here stands for all its outputs.
    pub root_outputs: RootOutputs,
}

/// Runtime dependencies, from the Nix database's references.
#[derive(Debug, Clone, Default)]
pub struct Runtime {
    /// Per node: the nodes an output of it refers to, sorted, itself excluded.
    pub edges: Vec<Vec<NodeId>>,
    /// Per node: whether an output of it is in the runtime closure.
    pub in_closure: Vec<bool>,
    /// Root outputs that are not realised, as `drv!output`.
    pub unrealised_roots: Vec<String>,
    /// Paths in the runtime closure that no derivation of the closure
    /// produces (`builtins.path`, `toFile` texts, paths added by hand).
    pub unattributed: Vec<String>,
}

/// Every component of the closure of some roots, with the graph.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// The build graph; a component's index is its node's index.
    pub graph: DrvGraph,
    /// One component per node.
    pub components: Vec<Component>,
    /// Runtime dependencies, when asked for.
    pub runtime: Option<Runtime>,
    /// Whether hashes and realisation came from the Nix database.
    pub database: bool,
}

impl Inventory {
    /// The component of a node.
    pub fn component(&self, id: NodeId) -> Option<&Component> {
        self.components.get(id.index())
    }

    /// The `.drv` paths of the shortest chain from a root to `id`, for every node at once.
    pub fn why_chains(&self) -> provenix_store::graph::WhyChains {
        self.graph.why()
    }
}

/// What one parse keeps of a derivation.
struct Raw {
    name: String,
    pname: String,
    version: Option<String>,
    version_from: VersionFrom,
    outputs: Vec<(String, Option<StorePath>)>,
    fod: Option<FodInfo>,
    rev: Option<String>,
    patches: Vec<String>,
    /// `packageName`, which node2nix sets to the npm name.
    package_name: Option<String>,
}

fn raw(path: &StorePath, drv: &Derivation, mirrors: &MirrorTable) -> Raw {
    let name = drv_name(path).unwrap_or(path.name()).to_owned();
    let fod = FodInfo::from_derivation(&name, drv, mirrors);
    let attrs = Attrs::of(drv);
    let env_pname = attrs.text("pname").map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let env_version = attrs.text("version").map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let (pname, version, version_from) = match (env_pname, env_version) {
        (Some(p), Some(v)) => (p, Some(v), VersionFrom::Env),
        // A patch's file name is not a package name and version (`fix-CVE-2024-1.patch`).
        _ if fod.as_ref().is_some_and(|f| f.kind == SourceKind::Patch) => (name.clone(), None, VersionFrom::Name),
        _ => {
            let base = if fod.is_some() { urls::strip_archive(&name) } else { name.as_str() };
            // After an interpreter prefix, so `ghc-9.4.8-aeson-2.1` is `aeson` 2.1 of GHC 9.4.8.
            let (p, v) = match prefix::split(base).filter(|_| fod.is_none()) {
                Some(prefixed) => {
                    let (p, v) = parse_drv_name(prefixed.rest);
                    (format!("{}{p}", prefixed.prefix), v)
                }
                None => {
                    let (p, v) = parse_drv_name(base);
                    (p.to_owned(), v)
                }
            };
            (p, v.map(str::to_owned), VersionFrom::Name)
        }
    };
    let outputs = drv.outputs().iter().map(|(o, out)| (o.as_str().to_owned(), out.path().cloned())).collect();
    let rev = fod.as_ref().and_then(|_| attrs.text("rev")).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let patches = attrs.list("patches");
    let package_name = attrs.text("packageName").map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    Raw { name, pname, version, version_from, outputs, fod, rev, patches, package_name }
}

/// Nix's split of a derivation name into name and version
/// (`builtins.parseDrvName`): the version starts after the first `-` that is
/// followed by a character other than an ASCII letter.
pub fn parse_drv_name(name: &str) -> (&str, Option<&str>) {
    let bytes = name.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'-' && bytes.get(i + 1).is_some_and(|n| !n.is_ascii_alphabetic()) {
            return (name.get(..i).unwrap_or(name), name.get(i + 1..));
        }
    }
    (name, None)
}

/// The CVE ids a file name contains, upper case, each once, in order.
///
/// An id is `CVE`, a separator (`-` or `_`), four digits, a separator and
/// four or more digits, in any case, neither preceded nor followed by a
/// letter or digit: `fix-CVE-2024-12345.patch` names `CVE-2024-12345` and
/// never `CVE-2024-1234`, and `CVE-2024-1234y.patch` names nothing.
pub fn cve_ids(name: &str) -> Vec<String> {
    let bytes = name.as_bytes();
    let mut ids: Vec<String> = Vec::new();
    let mut i = 0;
    while i + 3 <= bytes.len() {
        let starts = bytes.get(i..i + 3).is_some_and(|w| w.eq_ignore_ascii_case(b"cve"))
            && (i == 0 || bytes.get(i - 1).is_some_and(|b| !b.is_ascii_alphanumeric()));
        if starts && let Some((id, end)) = cve_at(bytes, i + 3) {
            if !ids.contains(&id) {
                ids.push(id);
            }
            i = end;
            continue;
        }
        i += 1;
    }
    ids
}

/// Parses `-YYYY-NNNN…` at `at`; the id and where it ends.
fn cve_at(bytes: &[u8], at: usize) -> Option<(String, usize)> {
    let digits = |from: usize| bytes.get(from..).map_or(0, |s| s.iter().take_while(|b| b.is_ascii_digit()).count());
    let sep = |at: usize| bytes.get(at).is_some_and(|b| *b == b'-' || *b == b'_');
    if !sep(at) || digits(at + 1) != 4 || !sep(at + 5) {
        return None;
    }
    let n = digits(at + 6);
    if n < 4 || bytes.get(at + 6 + n).is_some_and(u8::is_ascii_alphanumeric) {
        return None;
    }
    let year = std::str::from_utf8(bytes.get(at + 1..at + 5)?).ok()?;
    let number = std::str::from_utf8(bytes.get(at + 6..at + 6 + n)?).ok()?;
    Some((format!("CVE-{year}-{number}"), at + 6 + n))
}

/// The name part of a store path (`/nix/store/<hash>-name.drv` gives `name`).
pub fn short_name(path: &str) -> &str {
    let base = path.rsplit('/').next().unwrap_or(path);
    let name = base.split_once('-').map_or(base, |(_, n)| n);
    name.strip_suffix(".drv").unwrap_or(name)
}

/// Percent-encodes a purl name or version: everything but ASCII letters,
/// digits and `.-_~`.
pub fn purl_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Escapes a CPE 2.3 formatted-string field: a backslash before everything
/// but ASCII letters, digits, `.`, `-` and `_`; empty becomes `*`.
pub fn cpe_escape(s: &str) -> String {
    if s.is_empty() {
        return "*".to_owned();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `cpe:2.3:a:<vendor>:<product>:<version>:*:*:*:*:*:*:*`.
pub fn cpe_name(id: &CpeId, version: Option<&str>) -> String {
    format!(
        "cpe:2.3:a:{}:{}:{}:*:*:*:*:*:*:*",
        cpe_escape(&id.vendor),
        cpe_escape(&id.product),
        version.map_or_else(|| "*".to_owned(), cpe_escape)
    )
}

/// The registry package of a package of an interpreter's set, from its
/// derivation name and `pname` ([`prefix::interpreted`]): PyPI for Python,
/// RubyGems for Ruby, Hackage for Haskell, npm for node2nix packages.
fn interpreter_package(name: &str, pname: &str, package_name: Option<&str>) -> Option<(&'static str, String)> {
    let interpreted = prefix::interpreted(name, pname, package_name)?;
    Some((interpreted.family.ecosystem()?, interpreted.name))
}

/// Builds the inventory of the closure of `roots` (`.drv` paths).
pub fn inventory(
    store: &Store,
    db: Option<&NixDb>,
    roots: &[StorePath],
    options: &InventoryOptions,
) -> Result<Inventory, IdentityError> {
    if options.runtime && db.is_none() {
        return Err(IdentityError::NoDatabase);
    }
    let mirrors = &options.mirrors;
    let (graph, raws) = DrvClosure::load_graph_mapped(store, roots, |path, drv| raw(path, &drv, mirrors))?;
    let dir = store.dir();
    // Realised outputs: a stat each (in parallel), then the database for those on disk.
    let present: Vec<(usize, usize, &StorePath)> = if options.skip_realisation {
        Vec::new()
    } else {
        let all_outputs: Vec<(usize, usize, &StorePath)> = raws
            .iter()
            .enumerate()
            .flat_map(|(n, r)| r.outputs.iter().enumerate().filter_map(move |(k, (_, p))| Some((n, k, p.as_ref()?))))
            .collect();
        all_outputs.into_par_iter().filter(|(_, _, p)| std::fs::symlink_metadata(store.physical(p)).is_ok()).collect()
    };
    let mut infos: HashMap<(usize, usize), (String, u64)> = HashMap::new();
    if let Some(db) = db
        && !present.is_empty()
    {
        let paths: Vec<StorePath> = present.iter().map(|(_, _, p)| (*p).clone()).collect();
        for ((n, k, _), info) in present.iter().zip(db.path_infos(&paths)?) {
            if let Some(info) = info {
                infos.insert((*n, *k), (info.nar_hash.to_sri(), info.nar_size));
            }
        }
    }
    let runtime = if options.runtime {
        match db {
            Some(db) => Some(runtime_graph(&graph, &raws, db, dir, &options.root_outputs)?),
            None => None,
        }
    } else {
        None
    };
    let in_runtime: Vec<bool> = runtime.as_ref().map(|rt| rt.in_closure.clone()).unwrap_or_default();
    let shared = Shared { raws: &raws, graph: &graph, dir, infos, options };
    let components = graph
        .nodes()
        .zip(&raws)
        .map(|(id, r)| {
            let n = id.index();
            let fod_inputs: Vec<usize> = graph
                .inputs(id)
                .iter()
                .map(|i| i.index())
                .filter(|&i| raws.get(i).is_some_and(|r| r.fod.is_some()))
                .collect();
            component(&shared, n, r, &fod_inputs, in_runtime.get(n).copied().unwrap_or(false))
        })
        .collect();
    Ok(Inventory { graph, components, runtime, database: db.is_some() })
}

/// What every component is built from.
struct Shared<'a> {
    raws: &'a [Raw],
    graph: &'a DrvGraph,
    dir: &'a StoreDir,
    /// NAR hash (SRI) and size of realised outputs, by (node, output index).
    infos: HashMap<(usize, usize), (String, u64)>,
    options: &'a InventoryOptions,
}

fn component(shared: &Shared<'_>, n: usize, r: &Raw, fod_inputs: &[usize], runtime: bool) -> Component {
    let Shared { raws, graph, dir, infos, options } = shared;
    let dir_path = |i: usize| graph.paths().get(i).map(|p| dir.display(p)).unwrap_or_default();
    let outputs: Vec<ComponentOutput> = r
        .outputs
        .iter()
        .enumerate()
        .map(|(k, (name, path))| {
            let info = infos.get(&(n, k));
            ComponentOutput {
                name: name.clone(),
                path: path.as_ref().map(|p| dir.display(p)),
                nar_hash: info.map(|i| i.0.clone()),
                nar_size: info.map(|i| i.1),
            }
        })
        .collect();
    let version = r.version.as_deref();
    let purl = match version {
        Some(v) => format!("pkg:nix/{}@{}", purl_escape(&r.pname), purl_escape(v)),
        None => format!("pkg:nix/{}", purl_escape(&r.pname)),
    };
    // Sources are identified by their hash; CPEs on them would match the
    // package they build twice.
    let meta = options.meta.as_ref().and_then(|m| m.lookup(&r.name, outputs.iter().filter_map(|o| o.path.as_deref())));
    let entry =
        if r.fod.is_some() { None } else { options.identities.lookup(&r.name, &r.pname, r.package_name.as_deref()) };
    let cpe_meta = meta.filter(|_| r.fod.is_none());
    let mut cpes: Vec<String> = cpe_meta.map(|m| m.cpes.clone()).unwrap_or_default();
    let mut cpe_ids: Vec<CpeId> = cpe_meta.map(Meta::cpe_ids).unwrap_or_default();
    let mut identity = if cpe_ids.is_empty() { IdentityFrom::Unknown } else { IdentityFrom::Meta };
    if let Some(entry) = entry {
        for id in &entry.cpe {
            if !cpe_ids.contains(id) {
                cpes.push(cpe_name(id, version));
                cpe_ids.push(id.clone());
                if identity == IdentityFrom::Unknown {
                    identity = IdentityFrom::Table;
                }
            }
        }
    }
    if r.fod.is_some() && identity == IdentityFrom::Unknown {
        identity = IdentityFrom::Source;
    }
    let mut repos: Vec<RepoRef> = Vec::new();
    let mut packages: Vec<EcosystemPackage> = Vec::new();
    let mut add_source_urls = |raw: &Raw| {
        let Some(fod) = &raw.fod else { return };
        if fod.kind == SourceKind::Patch {
            return;
        }
        for url in fod.resolved_urls.iter().chain(&fod.urls) {
            if let Some(repo) = urls::repo_of_url(url, raw.rev.as_deref())
                && !repos.contains(&repo)
            {
                repos.push(repo);
            }
            if let Some(p) = urls::package_of_url(url)
                && !packages.contains(&p)
            {
                packages.push(p);
            }
        }
    };
    add_source_urls(r);
    for &i in fod_inputs {
        if let Some(input) = raws.get(i) {
            add_source_urls(input);
        }
    }
    if let Some(repo) = entry.and_then(|e| e.repo.as_deref()) {
        let url = repo.trim_end_matches('/').trim_end_matches(".git").to_owned();
        if !repos.iter().any(|r| r.url.eq_ignore_ascii_case(&url)) {
            repos.push(RepoRef { url, tag: None, rev: None });
        }
    }
    if let (Some((ecosystem, name)), Some(v), None) =
        (interpreter_package(&r.name, &r.pname, r.package_name.as_deref()), version, &r.fod)
        && !packages.iter().any(|p| p.ecosystem == ecosystem)
    {
        packages.push(EcosystemPackage { ecosystem, name, version: v.to_owned() });
    }
    let patches = r
        .patches
        .iter()
        .map(|p| {
            let base = p.rsplit('/').next().unwrap_or(p);
            let name = match base.split_once('-') {
                Some((hash, rest)) if hash.len() == 32 && p.contains('/') => rest,
                _ => base,
            };
            Patch { name: name.to_owned(), path: p.clone(), cves: cve_ids(name) }
        })
        .collect();
    let source = r.fod.as_ref().map(|f| SourceInfo {
        urls: f.urls.clone(),
        resolved_urls: f.resolved_urls.clone(),
        hash: f.hash.to_sri(),
        mode: method_name(f.method),
        kind: f.kind,
    });
    Component {
        drv_path: dir_path(n),
        name: r.name.clone(),
        pname: r.pname.clone(),
        version: r.version.clone(),
        version_from: r.version_from,
        outputs,
        purl,
        identity,
        cpe_ids,
        cpes,
        repos,
        packages,
        source,
        sources: fod_inputs.iter().map(|&i| dir_path(i)).collect(),
        patches,
        licenses: meta.map(|m| m.licenses.clone()).unwrap_or_default(),
        homepage: meta.and_then(|m| m.homepages.first().cloned()),
        description: meta.and_then(|m| m.description.clone()),
        runtime,
    }
}

/// Walks the database's references from the roots' realised outputs (the named ones where
/// `named` has the root, else all of them).
fn runtime_graph(
    graph: &DrvGraph,
    raws: &[Raw],
    db: &NixDb,
    dir: &StoreDir,
    named: &RootOutputs,
) -> Result<Runtime, IdentityError> {
    let mut owner: HashMap<StorePath, usize> = HashMap::new();
    for (n, r) in raws.iter().enumerate() {
        for (_, p) in &r.outputs {
            if let Some(p) = p {
                owner.insert(p.clone(), n);
            }
        }
    }
    // Outputs not known before building (content-addressed): from the database.
    for (n, r) in raws.iter().enumerate() {
        if r.outputs.iter().any(|(_, p)| p.is_none())
            && let Some(path) = graph.paths().get(n)
        {
            for (_, p) in db.derivation_outputs(path)? {
                owner.insert(p, n);
            }
        }
    }
    let ids: Vec<NodeId> = graph.nodes().collect();
    let mut rt =
        Runtime { edges: vec![Vec::new(); raws.len()], in_closure: vec![false; raws.len()], ..Runtime::default() };
    let mut seen: std::collections::HashSet<StorePath> = Default::default();
    let mut queue: VecDeque<StorePath> = VecDeque::new();
    for &root in graph.roots() {
        let Some(r) = raws.get(root.index()) else { continue };
        let drv = graph.path(root).map(|p| dir.display(p)).unwrap_or_default();
        let mut outputs: Vec<(String, Option<StorePath>)> = r.outputs.clone();
        if outputs.iter().any(|(_, p)| p.is_none())
            && let Some(path) = graph.path(root)
        {
            let known = db.derivation_outputs(path)?;
            for (name, p) in &mut outputs {
                if p.is_none() {
                    *p = known.iter().find(|(n, _)| n == name).map(|(_, p)| p.clone());
                }
            }
        }
        if let Some(wanted) = graph.path(root).and_then(|p| named.get(p)) {
            outputs.retain(|(_, p)| p.as_ref().is_some_and(|p| wanted.contains(p)));
            // A named path that the derivation does not list (a stale link, a floating output the
            // database does not know yet) still starts the walk, under its own path.
            for p in wanted {
                if !outputs.iter().any(|(_, o)| o.as_ref() == Some(p)) {
                    outputs.push((dir.display(p), Some(p.clone())));
                }
            }
        }
        for (name, path) in outputs {
            match path {
                Some(p) if db.is_valid(&p)? => {
                    if seen.insert(p.clone()) {
                        queue.push_back(p);
                    }
                }
                _ => rt.unrealised_roots.push(format!("{drv}!{name}")),
            }
        }
    }
    while !queue.is_empty() {
        let batch: Vec<StorePath> = queue.drain(..).collect();
        for (path, info) in batch.iter().zip(db.path_infos(&batch)?) {
            let Some(info) = info else { continue };
            let from = owner.get(path).copied();
            match from.and_then(|n| rt.in_closure.get_mut(n)) {
                Some(flag) => *flag = true,
                None => rt.unattributed.push(dir.display(path)),
            }
            for reference in info.references {
                if let (Some(a), Some(&b)) = (from, owner.get(&reference))
                    && a != b
                    && let (Some(edges), Some(&to)) = (rt.edges.get_mut(a), ids.get(b))
                {
                    edges.push(to);
                }
                if seen.insert(reference.clone()) {
                    queue.push_back(reference);
                }
            }
        }
    }
    for edges in &mut rt.edges {
        edges.sort();
        edges.dedup();
    }
    rt.unattributed.sort();
    Ok(rt)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::simple("hello-2.12", "hello", Some("2.12"))]
    #[case::letter_after_dash("nix-prefetch-git-1.0", "nix-prefetch-git", Some("1.0"))]
    #[case::no_version("source", "source", None)]
    #[case::rc("foo-2.0-rc1", "foo", Some("2.0-rc1"))]
    #[case::unstable("bar-unstable-2024-01-01", "bar-unstable", Some("2024-01-01"))]
    #[case::trailing_dash("x-", "x-", None)]
    fn names_split_like_parse_drv_name(#[case] name: &str, #[case] pname: &str, #[case] version: Option<&str>) {
        assert_eq!(parse_drv_name(name), (pname, version));
    }

    #[rstest]
    #[case::plain("CVE-2024-12345.patch", &["CVE-2024-12345"])]
    #[case::prefixed("fix-cve-2021-3156_heap.patch", &["CVE-2021-3156"])]
    #[case::underscores("CVE_2023_0001-and-CVE-2023-0002.diff", &["CVE-2023-0001", "CVE-2023-0002"])]
    #[case::twice("CVE-2024-1234-CVE-2024-1234.patch", &["CVE-2024-1234"])]
    #[case::three_digits("CVE-2024-123.patch", &[])]
    #[case::glued_to_a_word("xCVE-2024-1234.patch", &[])]
    #[case::five_digit_year("CVE-20245-1234", &[])]
    #[case::glued_to_a_letter_after("CVE-2024-1234y.patch", &[])]
    #[case::glued_after_then_a_real_one("CVE-2024-1234y-CVE-2024-5678.patch", &["CVE-2024-5678"])]
    #[case::at_the_end("fix-for-CVE-2024-1234", &["CVE-2024-1234"])]
    #[case::none("fix-build.patch", &[])]
    fn cve_ids_are_whole_tokens(#[case] name: &str, #[case] want: &[&str]) {
        assert_eq!(cve_ids(name), want);
    }

    #[test]
    fn cve_ids_never_see_a_shorter_id_in_a_longer_one() {
        assert_eq!(cve_ids("CVE-2024-12345.patch"), ["CVE-2024-12345"]);
        assert!(!cve_ids("CVE-2024-12345.patch").contains(&"CVE-2024-1234".to_owned()));
    }

    /// A fetched file's derivation: `builtin:fetchurl`, flat sha256.
    fn fod(name: &str, url: &str) -> (StorePath, Derivation) {
        let out = format!("/nix/store/1z64zrf8b84zyk3sc5h08if9na3ln0j4-{name}");
        let hex = "0".repeat(64);
        let text = format!(
            r#"Derive([("out","{out}","sha256","{hex}")],[],[],"x86_64-linux","builtin:fetchurl",[],[("name","{name}"),("out","{out}"),("outputHash","{hex}"),("outputHashAlgo","sha256"),("outputHashMode","flat"),("url","{url}")])"#
        );
        let drv = Derivation::parse(text.as_bytes(), &StoreDir::default()).unwrap();
        (StorePath::from_base_name(&format!("0c4mmb8yd8f9d3w4nkkjnbl6l8yvpxxk-{name}.drv")).unwrap(), drv)
    }

    #[test]
    fn sources_split_without_their_archive_extension_and_patches_get_no_version() {
        let mirrors = MirrorTable::builtin();
        let (path, drv) = fod("xz-5.6.0.tar.gz", "https://example.org/xz-5.6.0.tar.gz");
        let r = raw(&path, &drv, &mirrors);
        assert_eq!((r.pname.as_str(), r.version.as_deref()), ("xz", Some("5.6.0")));
        let (path, drv) = fod("fix-CVE-2024-10685.patch", "https://example.org/fix-CVE-2024-10685.patch");
        let r = raw(&path, &drv, &mirrors);
        assert_eq!((r.pname.as_str(), r.version.as_deref()), ("fix-CVE-2024-10685.patch", None));
    }

    #[test]
    fn purls_and_cpes_are_escaped() {
        assert_eq!(purl_escape("gtk+3"), "gtk%2B3");
        let id = CpeId { vendor: "nodejs".into(), product: "node.js".into() };
        assert_eq!(cpe_name(&id, Some("20.1.0")), "cpe:2.3:a:nodejs:node.js:20.1.0:*:*:*:*:*:*:*");
        assert_eq!(cpe_name(&id, Some("1:2")), "cpe:2.3:a:nodejs:node.js:1\\:2:*:*:*:*:*:*:*");
        assert_eq!(cpe_name(&id, None), "cpe:2.3:a:nodejs:node.js:*:*:*:*:*:*:*:*");
    }

    #[test]
    fn python_packages_are_recognised_by_pname() {
        let pypi = |name: &str, pname: &str| interpreter_package(name, pname, None);
        assert_eq!(pypi("python3.12-requests-2.31.0", "python3.12-requests"), Some(("PyPI", "requests".into())));
        assert_eq!(pypi("python3-six-1.16.0", "python3-six"), Some(("PyPI", "six".into())));
        assert_eq!(pypi("python3.12-urllib3-2.0.7", "urllib3"), Some(("PyPI", "urllib3".into())));
        assert_eq!(pypi("python313-urllib3-2.0.7", "urllib3"), Some(("PyPI", "urllib3".into())));
        assert_eq!(pypi("pythonfoo-bar-1", "pythonfoo-bar"), None);
        assert_eq!(pypi("python3-3.12.1", "python3"), None);
        assert_eq!(pypi("ruby3.1-nokogiri-1.15.4", "ruby3.1-nokogiri"), Some(("RubyGems", "nokogiri".into())));
        assert_eq!(pypi("ghc-9.4.8-aeson-2.1", "aeson"), Some(("Hackage", "aeson".into())));
        assert_eq!(
            interpreter_package("node__at_types_slash_node-18.7.15", "node__at_types_slash_node", Some("@types/node")),
            Some(("npm", "@types/node".into()))
        );
        assert_eq!(pypi("node_exporter-1.8.2", "node_exporter"), None, "not node2nix's");
        assert_eq!(pypi("perl5.38.2-URI-5.21", "perl5.38.2-URI"), None, "no CPAN ecosystem in OSV");
    }
}
