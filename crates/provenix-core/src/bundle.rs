//! `provenix bundle`: the source-only closure of some roots as one archive.
//!
//! # What is in it
//!
//! Every `.drv` of the roots' build closure, every fixed-output (FOD) output,
//! every input source (`inputSrcs`: builder scripts, patches, `toFile`
//! texts) and the reference closure of those sources. Nothing built: a
//! rebuild from a bundle builds everything else from these alone.
//!
//! # Format
//!
//! A tar archive (GNU headers, so entries may exceed 8 GiB; every entry mode
//! 0644, owner 0, mtime 0) with three regular files, in this order:
//!
//! | entry | content |
//! |---|---|
//! | [`EXPORT_ENTRY`] `store.export` | a `nix-store --export` stream of all the paths, references first |
//! | [`MANIFEST_ENTRY`] `manifest.json` | the [`Manifest`] |
//! | [`SIGNATURES_ENTRY`] `manifest.json.sig` | one Nix signature (`name:base64`) per line, ed25519 over the exact bytes of `manifest.json`; empty when unsigned |
//!
//! Plain Nix imports it with
//! `tar -xOf BUNDLE store.export | nix-store --import`.
//!
//! The manifest comes after the stream so that a bundle is written in one
//! pass: the stream's size (needed for its tar header) is known beforehand
//! from metadata alone ([`provenix_store::nar::nar_size`]), the NAR hashes
//! are computed while the stream is written. A reader seeks to the manifest
//! first ([`BundleReader::open`]).
//!
//! The same closure gives the same bytes: paths are in
//! [`dependency_order`], nothing records a time.
//!
//! # Checks while writing
//!
//! A path that is missing, or not valid in the Nix database, is an error
//! naming it (and the derivation that needs it), before anything is
//! written; so is a `.drv` file larger than [`MAX_DRV_LEN`], the limit
//! `provenix rebuild` enforces too. Each path's NAR (`.drv` files included) is hashed as it is written and compared with the
//! database's `narHash`, like `nix-store --export` does: a modified store
//! path fails the bundle. On any error the output file is not created (the
//! archive is written to a temporary file beside it and renamed at the end).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use provenix_formats::derivation::Output;
use provenix_formats::export::{ExportError, ExportWriter, dependency_order};
use provenix_formats::hash::{Hash, HashAlgo};
use provenix_formats::nar::regular_file_nar_size;
use provenix_formats::signature::{SecretKey, Signature, SignatureError, SignatureRejection, TrustedKeys};
use provenix_formats::store_path::{StoreDir, StorePath};
use provenix_store::db::{DbError, NixDb};
use provenix_store::drv::{DrvClosure, DrvError};
use provenix_store::nar::{NarFsError, dump_into, nar_size};
use provenix_store::roots::Root;
use provenix_store::store::Store;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::fod::FodInfo;
use crate::mirrors::MirrorTable;
use crate::sources::method_name;
use crate::verify::Progress;

/// The tar entry holding the `nix-store --export` stream.
pub const EXPORT_ENTRY: &str = "store.export";
/// The tar entry holding the manifest.
pub const MANIFEST_ENTRY: &str = "manifest.json";
/// The tar entry holding the manifest's signatures.
pub const SIGNATURES_ENTRY: &str = "manifest.json.sig";
/// [`Manifest::format`].
pub const FORMAT: &str = "provenix-bundle";
/// [`Manifest::version`] written and read by this version.
pub const VERSION: u32 = 1;
/// Largest manifest a reader accepts (a 100,000-path closure's is about 60 MB).
pub const MAX_MANIFEST_LEN: u64 = 512 << 20;
/// Largest signatures entry a reader accepts.
pub const MAX_SIGNATURES_LEN: u64 = 64 << 10;
/// Largest `.drv` file a bundle holds and a rebuild reads into memory (64 MiB;
/// real ones are kilobytes, the biggest in nixpkgs a few megabytes).
pub const MAX_DRV_LEN: u64 = 64 << 20;

/// Errors from writing or reading a bundle.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BundleError {
    /// Loading the `.drv` closure failed.
    #[error(transparent)]
    Drv(#[from] DrvError),
    /// Reading the Nix database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A path the bundle needs is not in the store.
    #[error("{path} is not in the store ({why}); realise it first, e.g. `nix-store{store_flag} --realise {needed_by}`")]
    Missing {
        /// The missing path.
        path: String,
        /// What it is.
        why: String,
        /// The `.drv` whose build needs it.
        needed_by: String,
        /// ` --store ROOT` when the store is not the host's, so the advice reaches the same store.
        store_flag: String,
    },
    /// A `.drv` file is larger than [`MAX_DRV_LEN`].
    #[error("{path} is {len} bytes, more than the {MAX_DRV_LEN}-byte limit for a .drv file in a bundle")]
    DrvTooLarge {
        /// The `.drv`.
        path: String,
        /// Its size.
        len: u64,
    },
    /// A path is on disk but the Nix database does not list it as valid.
    #[error("{path} is on disk but not valid in the Nix database {db} (an interrupted build?)")]
    NotValid {
        /// The path.
        path: String,
        /// The database.
        db: String,
    },
    /// Dumping or sizing a store path failed.
    #[error(transparent)]
    Fs(#[from] NarFsError),
    /// The output names something other than a regular file.
    #[error(transparent)]
    Target(#[from] provenix_store::fs::WriteError),
    /// A path's NAR differs from what the database records.
    #[error(
        "{path}: NAR hash {actual}, but the Nix database says {expected}: the store path was modified (see `provenix verify`)"
    )]
    Modified {
        /// The path.
        path: String,
        /// The database's hash.
        expected: String,
        /// The hash of what is on disk.
        actual: String,
    },
    /// A path changed size between sizing and writing.
    #[error("{path} changed while the bundle was written ({expected} NAR bytes planned, {actual} written)")]
    Changed {
        /// The path.
        path: String,
        /// Bytes planned.
        expected: u64,
        /// Bytes written.
        actual: u64,
    },
    /// Writing the export stream failed.
    #[error("writing the export stream")]
    Export(#[from] ExportError),
    /// An I/O error on a named file.
    #[error("{op} {}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file is not a well-formed bundle.
    #[error("{}: not a valid provenix bundle: {detail}", file.display())]
    Malformed {
        /// The bundle.
        file: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A signature line is malformed.
    #[error("{}: {SIGNATURES_ENTRY} line {line}", file.display())]
    BadSignature {
        /// The bundle.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// Why.
        #[source]
        source: SignatureError,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> BundleError + 'a {
    move |source| BundleError::Io { op, path: path.to_path_buf(), source }
}

/// The bundle's table of contents, `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// The tool that wrote it, e.g. `provenix 0.1.0`.
    pub tool: String,
    /// The logical store directory of every path.
    pub store_dir: String,
    /// The roots, with the reference hashes of their outputs.
    pub roots: Vec<ManifestRoot>,
    /// Every path in the export stream, in stream order.
    pub paths: Vec<ManifestPath>,
    /// The fixed-output derivations, with their URLs and declared hashes.
    pub sources: Vec<ManifestSource>,
}

/// A root of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManifestRoot {
    /// The argument as given to `provenix bundle`.
    pub arg: String,
    /// Its `.drv`.
    pub drv: String,
    /// Its outputs, with reference hashes when they were realised.
    pub outputs: Vec<RootOutput>,
}

/// An output of a root: what a rebuild is compared against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RootOutput {
    /// Output name (`out`, `doc`, ...).
    pub name: String,
    /// Its store path.
    pub path: String,
    /// Its NAR hash (SRI) when it was realised where the bundle was made.
    pub nar_hash: Option<String>,
    /// Its NAR size, likewise.
    pub nar_size: Option<u64>,
}

/// What a path in the bundle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PathKind {
    /// A `.drv` file.
    Drv,
    /// The output of a fixed-output derivation.
    Source,
    /// An input source of a derivation, or a path one refers to.
    Input,
}

/// One path in the export stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManifestPath {
    /// The store path.
    pub path: String,
    /// What it is.
    pub kind: PathKind,
    /// sha256 of its NAR, SRI form.
    pub nar_hash: String,
    /// Size of its NAR.
    pub nar_size: u64,
    /// Its references, sorted.
    pub references: Vec<String>,
    /// The derivation that produced it, if known.
    pub deriver: Option<String>,
}

/// A fixed-output derivation of the closure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManifestSource {
    /// Its `.drv`.
    pub drv: String,
    /// Its output path (in `paths`).
    pub path: String,
    /// The derivation name.
    pub name: String,
    /// Declared URLs.
    pub urls: Vec<String>,
    /// Declared hash, SRI form.
    pub hash: String,
    /// `flat`, `recursive` or `text`.
    pub mode: String,
    /// What kind of source (see `provenix sources`).
    pub kind: String,
}

/// Options for [`bundle`].
pub struct BundleOptions<'a> {
    /// Mirror table for the sources' URLs (only the manifest's `urls` use it: they are as declared).
    pub mirrors: &'a MirrorTable,
    /// Keys that sign the manifest.
    pub sign_keys: &'a [SecretKey],
    /// `tool` field of the manifest.
    pub tool: String,
    /// How many of the biggest sources the report lists with why-chains.
    pub top: usize,
    /// Byte progress while writing.
    pub progress: &'a dyn Progress,
}

/// What [`bundle`] wrote.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleReport {
    /// The bundle file.
    pub file: String,
    /// Its size in bytes.
    pub size: u64,
    /// Paths in the export stream.
    pub paths: usize,
    /// Of which `.drv` files.
    pub derivations: usize,
    /// Of which FOD outputs.
    pub sources: usize,
    /// Of which input sources.
    pub inputs: usize,
    /// Sum of the NAR sizes.
    pub nar_bytes: u64,
    /// Names of the keys that signed the manifest.
    pub signed_by: Vec<String>,
    /// The roots and their reference outputs.
    pub roots: Vec<ManifestRoot>,
    /// Root outputs without a reference hash (not realised here).
    pub unreferenced_outputs: usize,
    /// The biggest sources, with why-chains.
    pub biggest: Vec<BigSource>,
}

/// One of the biggest sources of a bundle.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BigSource {
    /// Output path.
    pub path: String,
    /// NAR size.
    pub nar_size: u64,
    /// Shortest chain of `.drv` paths from a root to the FOD's `.drv`.
    pub why: Vec<String>,
}

/// A path to export, before its NAR is written.
struct Planned {
    path: StorePath,
    kind: PathKind,
    references: Vec<StorePath>,
    deriver: Option<StorePath>,
    /// From the database, to compare with what is written (every path when there is a database).
    db_hash: Option<Hash>,
    nar_size: u64,
}

/// Writes the bundle of `roots` to `out` and describes it.
pub fn bundle(
    store: &Store,
    db: Option<&NixDb>,
    roots: &[Root],
    out: &Path,
    options: &BundleOptions<'_>,
) -> Result<BundleReport, BundleError> {
    provenix_store::fs::check_target(out)?;
    let dir = store.dir();
    let root_drvs: Vec<StorePath> = roots.iter().map(|r| r.drv.clone()).collect();
    let closure = DrvClosure::load(store, &root_drvs)?;
    let mut plan: BTreeMap<StorePath, Planned> = BTreeMap::new();
    // Who needs each non-drv path first (for error messages).
    let mut needed_by: BTreeMap<StorePath, StorePath> = BTreeMap::new();
    let mut sources = Vec::new();
    let mut fod_nodes = Vec::new();
    // FOD output -> its .drv.
    let mut fod_outputs: BTreeMap<StorePath, StorePath> = BTreeMap::new();
    for (drv_path, drv) in closure.iter() {
        let mut references: Vec<StorePath> = drv.references().cloned().collect();
        references.sort();
        references.dedup();
        let len =
            std::fs::metadata(store.physical(drv_path)).map_err(io_err("reading", &store.physical(drv_path)))?.len();
        if len > MAX_DRV_LEN {
            return Err(BundleError::DrvTooLarge { path: dir.display(drv_path), len });
        }
        plan.insert(
            drv_path.clone(),
            Planned {
                path: drv_path.clone(),
                kind: PathKind::Drv,
                references,
                deriver: None,
                db_hash: None,
                nar_size: regular_file_nar_size(len, false),
            },
        );
        for src in drv.input_srcs() {
            needed_by.entry(src.clone()).or_insert_with(|| drv_path.clone());
        }
        if let (Some(info), Some((_, _, output))) =
            (FodInfo::from_derivation(drv_path.name(), drv, options.mirrors), drv.fixed_output())
        {
            needed_by.insert(output.clone(), drv_path.clone());
            fod_outputs.insert(output.clone(), drv_path.clone());
            sources.push(ManifestSource {
                drv: dir.display(drv_path),
                path: dir.display(output),
                name: info.name.clone(),
                urls: info.urls.clone(),
                hash: info.hash.to_sri(),
                mode: method_name(info.method).to_owned(),
                kind: info.kind.as_str().to_owned(),
            });
            fod_nodes.push((closure.node(drv_path), output.clone()));
        }
    }
    let fod_outputs: BTreeMap<StorePath, StorePath> =
        closure.iter().filter_map(|(p, d)| d.fixed_output().map(|(_, _, o)| (o.clone(), p.clone()))).collect();
    let inputs: BTreeSet<StorePath> = closure.iter().flat_map(|(_, d)| d.input_srcs().iter().cloned()).collect();
    if let Some(db) = db {
        // A `.drv` edited in place is caught like any other path: its NAR is
        // compared with the database's while it is written.
        let drvs: Vec<StorePath> = plan.keys().cloned().collect();
        for (path, info) in drvs.iter().zip(db.path_infos(&drvs)?) {
            let Some(info) = info else {
                return Err(BundleError::NotValid { path: dir.display(path), db: db.path().display().to_string() });
            };
            if let Some(p) = plan.get_mut(path) {
                p.db_hash = Some(info.nar_hash);
            }
        }
    }
    plan_non_drv(store, db, &fod_outputs, inputs, &needed_by, &mut plan)?;

    let graph: BTreeMap<StorePath, BTreeSet<StorePath>> =
        plan.values().map(|p| (p.path.clone(), p.references.iter().cloned().collect())).collect();
    let order = dependency_order(&graph)?;
    let mut ordered: Vec<Planned> = Vec::with_capacity(order.len());
    for path in order {
        if let Some(p) = plan.remove(&path) {
            ordered.push(p);
        }
    }

    let root_outputs = root_outputs(store, db, roots, &closure)?;
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let temp = tempfile::Builder::new()
        .prefix(".provenix-bundle-")
        .tempfile_in(parent)
        .map_err(io_err("creating a temporary file in", parent))?;
    let cleanup = provenix_store::cleanup::register(temp.path(), provenix_store::cleanup::Kind::File);
    let hashes = write_archive(store, temp.as_file(), &ordered, options.progress)?;
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        version: VERSION,
        tool: options.tool.clone(),
        store_dir: dir.as_str().to_owned(),
        roots: root_outputs.clone(),
        paths: ordered
            .iter()
            .zip(&hashes)
            .map(|(p, hash)| ManifestPath {
                path: dir.display(&p.path),
                kind: p.kind,
                nar_hash: hash.to_sri(),
                nar_size: p.nar_size,
                references: p.references.iter().map(|r| dir.display(r)).collect(),
                deriver: p.deriver.as_ref().map(|d| dir.display(d)),
            })
            .collect(),
        sources,
    };
    let manifest_bytes = manifest_json(&manifest);
    let signatures: String =
        options.sign_keys.iter().map(|k| format!("{}\n", k.sign(&manifest_bytes))).collect::<String>();
    {
        let mut w = BufWriter::new(temp.as_file());
        append_entry(&mut w, MANIFEST_ENTRY, &manifest_bytes).map_err(io_err("writing", temp.path()))?;
        append_entry(&mut w, SIGNATURES_ENTRY, signatures.as_bytes()).map_err(io_err("writing", temp.path()))?;
        w.write_all(&[0u8; 1024]).map_err(io_err("writing", temp.path()))?;
        w.flush().map_err(io_err("writing", temp.path()))?;
    }
    temp.as_file().sync_all().map_err(io_err("writing", temp.path()))?;
    let size = temp.as_file().metadata().map_err(io_err("writing", temp.path()))?.len();
    provenix_store::fs::check_target(out)?;
    temp.persist(out).map_err(|e| BundleError::Io {
        op: "renaming the bundle to",
        path: out.to_path_buf(),
        source: e.error,
    })?;
    drop(cleanup);

    let why = closure.graph().why();
    let sizes: BTreeMap<&StorePath, u64> = ordered.iter().map(|p| (&p.path, p.nar_size)).collect();
    let mut big: Vec<(u64, &Option<provenix_store::drv::NodeId>, &StorePath)> =
        fod_nodes.iter().map(|(node, o)| (sizes.get(o).copied().unwrap_or(0), node, o)).collect();
    big.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.2.cmp(b.2)));
    let biggest = big
        .into_iter()
        .take(options.top)
        .map(|(nar_size, node, o)| BigSource {
            path: dir.display(o),
            nar_size,
            why: node
                .and_then(|n| why.chain(n))
                .map(|c| c.into_iter().filter_map(|n| closure.path(n)).map(|p| dir.display(p)).collect())
                .unwrap_or_default(),
        })
        .collect();
    let count = |kind| ordered.iter().filter(|p| p.kind == kind).count();
    Ok(BundleReport {
        file: out.display().to_string(),
        size,
        paths: ordered.len(),
        derivations: count(PathKind::Drv),
        sources: count(PathKind::Source),
        inputs: count(PathKind::Input),
        nar_bytes: ordered.iter().map(|p| p.nar_size).sum(),
        signed_by: options.sign_keys.iter().map(|k| k.name().to_owned()).collect(),
        unreferenced_outputs: root_outputs.iter().flat_map(|r| &r.outputs).filter(|o| o.nar_hash.is_none()).count(),
        roots: root_outputs,
        biggest,
    })
}

/// Adds the FOD outputs, the input sources and the reference closure of the
/// latter to `plan`, checking each is present (and valid in the database).
fn plan_non_drv(
    store: &Store,
    db: Option<&NixDb>,
    fod_outputs: &BTreeMap<StorePath, StorePath>,
    inputs: BTreeSet<StorePath>,
    needed_by: &BTreeMap<StorePath, StorePath>,
    plan: &mut BTreeMap<StorePath, Planned>,
) -> Result<(), BundleError> {
    let dir = store.dir();
    let mut queue: Vec<(StorePath, PathKind)> = fod_outputs.keys().map(|p| (p.clone(), PathKind::Source)).collect();
    queue.extend(inputs.into_iter().filter(|p| !p.is_derivation()).map(|p| (p, PathKind::Input)));
    let mut seen: HashSet<StorePath> = queue.iter().map(|(p, _)| p.clone()).collect();
    // Breadth-first by batches, so the database answers many paths per query.
    let mut planned: Vec<(StorePath, PathKind, Option<provenix_store::db::PathInfo>)> = Vec::new();
    while !queue.is_empty() {
        let batch = std::mem::take(&mut queue);
        let present: Vec<bool> =
            batch.par_iter().map(|(p, _)| std::fs::symlink_metadata(store.physical(p)).is_ok()).collect();
        for ((path, kind), present) in batch.iter().zip(&present) {
            if !present {
                let needer = needed_by.get(path).map(|d| dir.display(d)).unwrap_or_else(|| "the roots".to_owned());
                let why = match kind {
                    PathKind::Source => "output of a fixed-output derivation".to_owned(),
                    _ => format!("input source of {needer}"),
                };
                let store_flag = store.root().map(|r| format!(" --store {}", r.display())).unwrap_or_default();
                return Err(BundleError::Missing { path: dir.display(path), why, needed_by: needer, store_flag });
            }
        }
        let paths: Vec<StorePath> = batch.iter().map(|(p, _)| p.clone()).collect();
        let infos = match db {
            Some(db) => db.path_infos(&paths)?,
            None => vec![None; paths.len()],
        };
        for ((path, kind), info) in batch.into_iter().zip(infos) {
            if let (Some(db), None) = (db, &info) {
                return Err(BundleError::NotValid { path: dir.display(&path), db: db.path().display().to_string() });
            }
            let references = info.as_ref().map(|i| i.references.as_slice()).unwrap_or_default();
            for r in references {
                if r != &path && !plan.contains_key(r) && seen.insert(r.clone()) {
                    queue.push((r.clone(), PathKind::Input));
                }
            }
            planned.push((path, kind, info));
        }
    }
    let sizes: Vec<Result<u64, NarFsError>> =
        planned.par_iter().map(|(p, _, _)| nar_size(&store.physical(p))).collect();
    for ((path, kind, info), size) in planned.into_iter().zip(sizes) {
        // The database's deriver, as `nix-store --export` writes it (a source
        // added with `nix-store --add-fixed` has none); without a database, the
        // FOD's `.drv` for a source.
        let deriver = match (&info, kind) {
            (Some(i), _) => i.deriver.clone(),
            (None, PathKind::Source) => fod_outputs.get(&path).cloned(),
            (None, _) => None,
        };
        let (references, db_hash) = match info {
            Some(i) => (i.references, Some(i.nar_hash)),
            None => (Vec::new(), None),
        };
        plan.insert(path.clone(), Planned { path, kind, references, deriver, db_hash, nar_size: size? });
    }
    Ok(())
}

/// The roots' outputs with their reference hashes: from the database when the
/// output is valid there, else hashed from disk when present.
fn root_outputs(
    store: &Store,
    db: Option<&NixDb>,
    roots: &[Root],
    closure: &DrvClosure,
) -> Result<Vec<ManifestRoot>, BundleError> {
    let dir = store.dir();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for root in roots {
        if !seen.insert(root.drv.clone()) {
            continue;
        }
        let Some(drv) = closure.get(&root.drv) else { continue };
        let mut outputs = Vec::new();
        let recorded = match db {
            Some(db) => db.derivation_outputs(&root.drv)?,
            None => Vec::new(),
        };
        for (name, output) in drv.outputs() {
            let path = match output {
                Output::InputAddressed { path } | Output::Fixed { path, .. } => Some(path.clone()),
                _ => recorded.iter().find(|(n, _)| n == name.as_str()).map(|(_, p)| p.clone()),
            };
            let Some(path) = path else {
                outputs.push(RootOutput {
                    name: name.to_string(),
                    path: String::new(),
                    nar_hash: None,
                    nar_size: None,
                });
                continue;
            };
            let info = match db {
                Some(db) => db.path_info(&path)?.map(|i| (i.nar_hash, i.nar_size)),
                None => {
                    let physical = store.physical(&path);
                    if std::fs::symlink_metadata(&physical).is_ok() {
                        Some(provenix_store::nar::hash_path(&physical, HashAlgo::Sha256)?)
                    } else {
                        None
                    }
                }
            };
            outputs.push(RootOutput {
                name: name.to_string(),
                path: dir.display(&path),
                nar_hash: info.as_ref().map(|(h, _)| h.to_sri()),
                nar_size: info.map(|(_, s)| s),
            });
        }
        out.push(ManifestRoot { arg: root.arg.clone(), drv: dir.display(&root.drv), outputs });
    }
    Ok(out)
}

/// Bytes a wire string of `len` bytes takes.
fn wire_len(len: usize) -> u64 {
    8 + (len as u64).div_ceil(8) * 8
}

/// Writes the tar header and the export stream of `paths`; returns each path's NAR sha256.
fn write_archive(
    store: &Store,
    file: &File,
    paths: &[Planned],
    progress: &dyn Progress,
) -> Result<Vec<Hash>, BundleError> {
    let dir = store.dir();
    let display_len = |p: &StorePath| dir.as_str().len() + 1 + p.to_string().len();
    let mut export_len = 8u64;
    for p in paths {
        export_len += 8 + p.nar_size + 8 + wire_len(display_len(&p.path)) + 8;
        export_len += p.references.iter().map(|r| wire_len(display_len(r))).sum::<u64>();
        export_len += wire_len(p.deriver.as_ref().map(display_len).unwrap_or(0)) + 8;
    }
    let temp_path = PathBuf::from("(temporary bundle file)");
    let mut w = BufWriter::with_capacity(1 << 20, file);
    w.write_all(tar_header(EXPORT_ENTRY, export_len).as_bytes()).map_err(io_err("writing", &temp_path))?;
    progress.begin("bundle", paths.iter().map(|p| p.nar_size).sum(), true);
    let mut export = ExportWriter::new(&mut w, dir);
    let mut hashes = Vec::with_capacity(paths.len());
    for p in paths {
        let physical = store.physical(&p.path);
        let summary = export.write_path_with(&p.path, &p.references, p.deriver.as_ref(), |nar| {
            dump_into(&physical, nar).map_err(BundleError::from)
        })?;
        if summary.size != p.nar_size {
            return Err(BundleError::Changed {
                path: dir.display(&p.path),
                expected: p.nar_size,
                actual: summary.size,
            });
        }
        if let Some(expected) = &p.db_hash {
            if expected != &summary.hash {
                return Err(BundleError::Modified {
                    path: dir.display(&p.path),
                    expected: expected.to_sri(),
                    actual: summary.hash.to_sri(),
                });
            }
        }
        progress.advance(summary.size);
        hashes.push(summary.hash);
    }
    let offset = export.offset();
    export.finish()?;
    progress.end();
    if offset + 8 != export_len {
        return Err(BundleError::Malformed {
            file: temp_path,
            detail: format!("export stream is {} bytes, {export_len} planned", offset + 8),
        });
    }
    w.write_all(&vec![0u8; padding(export_len)]).map_err(io_err("writing", &temp_path))?;
    w.flush().map_err(io_err("writing", &temp_path))?;
    Ok(hashes)
}

fn padding(len: u64) -> usize {
    ((512 - len % 512) % 512) as usize
}

fn tar_header(name: &str, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    // Names are short constants: set_path cannot fail on them.
    let _ = h.set_path(name);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    h
}

fn append_entry(w: &mut impl Write, name: &str, bytes: &[u8]) -> io::Result<()> {
    w.write_all(tar_header(name, bytes.len() as u64).as_bytes())?;
    w.write_all(bytes)?;
    w.write_all(&vec![0u8; padding(bytes.len() as u64)])
}

/// The manifest as written: indented JSON and a newline.
pub fn manifest_json(manifest: &Manifest) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(manifest).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// An opened bundle: its manifest parsed, its entries located.
#[derive(Debug)]
pub struct BundleReader {
    path: PathBuf,
    file: File,
    export: (u64, u64),
    manifest_bytes: Vec<u8>,
    manifest: Manifest,
    signatures: Vec<Signature>,
    store_dir: StoreDir,
}

impl BundleReader {
    /// Opens `path`, finds its three entries and parses the manifest and
    /// signatures (nothing is verified yet).
    pub fn open(path: &Path) -> Result<BundleReader, BundleError> {
        let malformed = |detail: String| BundleError::Malformed { file: path.to_path_buf(), detail };
        // A bundle is read with seeks; a FIFO would block the open.
        provenix_store::fs::ensure_regular(path).map_err(io_err("opening", path))?;
        let file = File::open(path).map_err(io_err("opening", path))?;
        let file_len = file.metadata().map_err(io_err("reading", path))?.len();
        let mut entries: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        {
            let mut archive = tar::Archive::new(&file);
            let iter = archive.entries_with_seek().map_err(|e| malformed(format!("reading tar headers: {e}")))?;
            for entry in iter {
                let entry = entry.map_err(|e| malformed(format!("reading tar headers: {e}")))?;
                let name = entry.path().map_err(|e| malformed(format!("entry name: {e}")))?.display().to_string();
                if entry.header().entry_type() != tar::EntryType::Regular {
                    return Err(malformed(format!("entry {name} is not a regular file")));
                }
                if ![EXPORT_ENTRY, MANIFEST_ENTRY, SIGNATURES_ENTRY].contains(&name.as_str()) {
                    return Err(malformed(format!("unexpected entry {name}")));
                }
                let (start, size) = (entry.raw_file_position(), entry.size());
                if start.checked_add(size).is_none_or(|end| end > file_len) {
                    return Err(malformed(format!("entry {name} runs past the end of the file")));
                }
                if entries.insert(name.clone(), (start, size)).is_some() {
                    return Err(malformed(format!("entry {name} appears twice")));
                }
            }
        }
        let get = |name: &str| entries.get(name).copied().ok_or_else(|| malformed(format!("no {name} entry")));
        let export = get(EXPORT_ENTRY)?;
        let manifest_at = get(MANIFEST_ENTRY)?;
        let sigs_at = get(SIGNATURES_ENTRY)?;
        if manifest_at.1 > MAX_MANIFEST_LEN {
            return Err(malformed(format!(
                "{MANIFEST_ENTRY} is {} bytes, more than {MAX_MANIFEST_LEN}",
                manifest_at.1
            )));
        }
        if sigs_at.1 > MAX_SIGNATURES_LEN {
            return Err(malformed(format!(
                "{SIGNATURES_ENTRY} is {} bytes, more than {MAX_SIGNATURES_LEN}",
                sigs_at.1
            )));
        }
        let read_at = |(start, len): (u64, u64)| -> Result<Vec<u8>, BundleError> {
            let mut f = &file;
            f.seek(SeekFrom::Start(start)).map_err(io_err("reading", path))?;
            let mut buf = Vec::with_capacity(len as usize);
            f.take(len).read_to_end(&mut buf).map_err(io_err("reading", path))?;
            Ok(buf)
        };
        let manifest_bytes = read_at(manifest_at)?;
        let manifest: Manifest =
            serde_json::from_slice(&manifest_bytes).map_err(|e| malformed(format!("{MANIFEST_ENTRY}: {e}")))?;
        if manifest.format != FORMAT || manifest.version != VERSION {
            return Err(malformed(format!(
                "{MANIFEST_ENTRY} is format {} version {}; this provenix reads {FORMAT} version {VERSION}",
                manifest.format, manifest.version
            )));
        }
        let store_dir = StoreDir::new(&manifest.store_dir).map_err(|e| malformed(format!("storeDir: {e}")))?;
        let sig_text =
            String::from_utf8(read_at(sigs_at)?).map_err(|_| malformed(format!("{SIGNATURES_ENTRY} is not UTF-8")))?;
        let mut signatures = Vec::new();
        for (i, line) in sig_text.lines().enumerate() {
            if line.is_empty() {
                continue;
            }
            let sig = Signature::parse(line).map_err(|source| BundleError::BadSignature {
                file: path.to_path_buf(),
                line: i + 1,
                source,
            })?;
            signatures.push(sig);
        }
        Ok(BundleReader { path: path.to_path_buf(), file, export, manifest_bytes, manifest, signatures, store_dir })
    }

    /// The bundle file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The parsed manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The manifest's exact bytes (what is signed).
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest_bytes
    }

    /// The logical store directory of the bundle.
    pub fn store_dir(&self) -> &StoreDir {
        &self.store_dir
    }

    /// The signatures on the manifest.
    pub fn signatures(&self) -> &[Signature] {
        &self.signatures
    }

    /// Names of the trusted keys whose signatures on the manifest verify;
    /// an error when none does (or when a trusted key's signature is bad).
    pub fn check_signatures(&self, trusted: &TrustedKeys) -> Result<Vec<String>, SignatureRejection> {
        let verified = trusted.verify((), &self.manifest_bytes, self.signatures.iter(), 1)?;
        Ok(verified.signers().to_vec())
    }

    /// The export stream, positioned at its start and limited to its length.
    pub fn export_stream(&self) -> Result<BufReader<io::Take<&File>>, BundleError> {
        let mut f = &self.file;
        f.seek(SeekFrom::Start(self.export.0)).map_err(io_err("reading", &self.path))?;
        Ok(BufReader::with_capacity(1 << 20, f.take(self.export.1)))
    }

    /// Length of the export stream.
    pub fn export_len(&self) -> u64 {
        self.export.1
    }
}
