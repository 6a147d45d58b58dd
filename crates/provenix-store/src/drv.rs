//! Reading derivations from a store, and whole `.drv` closures.
//!
//! [`DrvClosure::load`] reads the `.drv` closure of some roots: every input
//! derivation, and every input source that is itself a `.drv` (Nix adds those
//! for `drvPath` string context), transitively. Files are read and parsed in
//! parallel with rayon, each exactly once; each file's sha256 is taken from
//! the bytes read, so the recomputed `.drv` path reflects the file on disk.
//! The result is sorted by store path, so output never depends on scheduling.
//!
//! Algorithm and cost, for V derivations and E input edges:
//!
//! 1. load: a rayon task per file, a shared visited set; O(V) reads/parses;
//! 2. topological order (inputs first): Kahn's algorithm on `NodeId`s with
//!    a FIFO seeded in path order, iterative, O(V + E), detects cycles (which
//!    a tampered store can contain);
//! 3. hash modulo: once per node in that order, each input's value memoised;
//!    O(total bytes), lookups by binary search on the sorted paths;
//! 4. paths: per node in parallel, the masked hash modulo gives
//!    input-addressed output paths, the file's sha256 and references give
//!    the `.drv` path.
//!
//! Unlike `nix show-derivation -r`, which follows all references through the
//! Nix database, non-`.drv` input sources are not followed: their references
//! can only be other sources (Nix's `builtins.toFile` and path literals
//! cannot refer to derivations), so the `.drv` set is the same.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::Read as _;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use provenix_formats::derivation::{
    Derivation, DerivationError, HashModulo, MAX_DRV_LEN, OutputName, drv_name, drv_path_of,
};
use provenix_formats::hash::{Hash, HashAlgo};
use provenix_formats::store_path::StorePath;
use rayon::prelude::*;
use thiserror::Error;

use crate::store::{Store, StoreError};

/// Errors from reading derivations and computing their hashes.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DrvError {
    /// Reading the file failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The path does not name a `.drv` file.
    #[error("`{path}` is not a derivation (.drv) path")]
    NotDerivation {
        /// The path.
        path: StorePath,
    },
    /// The file is larger than [`MAX_DRV_LEN`].
    #[error("{} is {len} bytes, more than the limit of {MAX_DRV_LEN}", file.display())]
    TooLarge {
        /// The physical file.
        file: PathBuf,
        /// Its length.
        len: u64,
    },
    /// The file is not a valid derivation.
    #[error("parsing derivation `{path}`")]
    Parse {
        /// The `.drv` path.
        path: StorePath,
        /// Why.
        #[source]
        source: Box<DerivationError>,
    },
    /// The input derivations form a cycle (only possible in a tampered store).
    #[error("derivation `{path}` depends on itself through its inputs")]
    Cycle {
        /// A derivation on the cycle.
        path: StorePath,
    },
    /// A [`NodeId`] from another closure.
    #[error("node {} is not in this closure", id.0)]
    UnknownNode {
        /// The node.
        id: NodeId,
    },
    /// Hash modulo or a path could not be computed.
    #[error("computing hashes of derivation `{path}`")]
    Hash {
        /// The `.drv` path.
        path: StorePath,
        /// Why.
        #[source]
        source: Box<DerivationError>,
    },
}

/// Index of a derivation in a [`DrvClosure`] (its rank in path order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(u32);

impl NodeId {
    /// The index as a `usize`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Reads a whole `.drv` file, refusing files over [`MAX_DRV_LEN`] before reading.
fn read_bounded(store: &Store, path: &StorePath) -> Result<Vec<u8>, DrvError> {
    let file = store.physical(path);
    let io = |source| DrvError::Store(StoreError::Io { path: file.clone(), source });
    let handle = std::fs::File::open(&file).map_err(io)?;
    let len = handle.metadata().map_err(io)?.len();
    if len > MAX_DRV_LEN as u64 {
        return Err(DrvError::TooLarge { file, len });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // `take` bounds the read even if the file grows after `metadata`.
    handle.take(MAX_DRV_LEN as u64 + 1).read_to_end(&mut bytes).map_err(io)?;
    Ok(bytes)
}

/// Reads and parses one `.drv` file of `store`.
pub fn read_derivation(store: &Store, path: &StorePath) -> Result<Derivation, DrvError> {
    Ok(read_with_hash(store, path)?.0)
}

/// Reads and parses a `.drv`, also returning the sha256 of its bytes.
fn read_with_hash(store: &Store, path: &StorePath) -> Result<(Derivation, Hash), DrvError> {
    if !path.is_derivation() {
        return Err(DrvError::NotDerivation { path: path.clone() });
    }
    let bytes = read_bounded(store, path)?;
    let drv = Derivation::parse(&bytes, store.dir())
        .map_err(|source| DrvError::Parse { path: path.clone(), source: Box::new(source) })?;
    Ok((drv, Hash::compute(HashAlgo::Sha256, &bytes)))
}

/// Store paths a derivation's `.drv` closure continues to.
fn drv_inputs(drv: &Derivation) -> impl Iterator<Item = &StorePath> {
    drv.input_drvs().keys().chain(drv.input_srcs().iter().filter(|p| p.is_derivation()))
}

/// Shared state of the parallel loader.
struct Loader<'a> {
    store: &'a Store,
    seen: Mutex<HashSet<StorePath>>,
    loaded: Mutex<Vec<(StorePath, Derivation, Hash)>>,
    errors: Mutex<Vec<DrvError>>,
}

impl<'a> Loader<'a> {
    /// True the first time `path` is offered.
    fn first_visit(&self, path: &StorePath) -> bool {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).insert(path.clone())
    }

    fn failed(&self) -> bool {
        !self.errors.lock().unwrap_or_else(PoisonError::into_inner).is_empty()
    }

    fn visit<'s>(&'s self, scope: &rayon::Scope<'s>, path: StorePath) {
        if self.failed() {
            return;
        }
        match read_with_hash(self.store, &path) {
            Ok((drv, hash)) => {
                for input in drv_inputs(&drv) {
                    if self.first_visit(input) {
                        let input = input.clone();
                        scope.spawn(move |scope| self.visit(scope, input));
                    }
                }
                self.loaded.lock().unwrap_or_else(PoisonError::into_inner).push((path, drv, hash));
            }
            Err(err) => self.errors.lock().unwrap_or_else(PoisonError::into_inner).push(err),
        }
    }
}

/// The `.drv` closure of some roots, sorted by path, with a topological order.
#[derive(Debug, Clone)]
pub struct DrvClosure {
    store: Store,
    paths: Vec<StorePath>,
    drvs: Vec<Derivation>,
    content_hashes: Vec<Hash>,
    /// Per node, its inputs within the closure, sorted and deduplicated.
    inputs: Vec<Vec<NodeId>>,
    order: Vec<NodeId>,
}

/// Recomputed paths of one derivation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrvPaths {
    /// The `.drv` path from the file's bytes and references.
    pub drv_path: StorePath,
    /// Each output's path as Nix computes it; `None` where it is not known
    /// before building (floating, impure, deferred).
    pub outputs: BTreeMap<OutputName, Option<StorePath>>,
}

impl DrvClosure {
    /// Loads the `.drv` closure of `roots` from `store`, in parallel.
    pub fn load(store: &Store, roots: &[StorePath]) -> Result<DrvClosure, DrvError> {
        let loader = Loader {
            store,
            seen: Mutex::new(HashSet::new()),
            loaded: Mutex::new(Vec::new()),
            errors: Mutex::new(Vec::new()),
        };
        for root in roots {
            if !root.is_derivation() {
                return Err(DrvError::NotDerivation { path: root.clone() });
            }
        }
        rayon::scope(|scope| {
            for root in roots {
                if loader.first_visit(root) {
                    let root = root.clone();
                    let loader = &loader;
                    scope.spawn(move |scope| loader.visit(scope, root));
                }
            }
        });
        let mut errors = loader.errors.into_inner().unwrap_or_else(PoisonError::into_inner);
        // Report the same error whatever the scheduling: the first by path.
        errors.sort_by_key(error_path);
        if let Some(err) = errors.into_iter().next() {
            return Err(err);
        }
        let mut loaded = loader.loaded.into_inner().unwrap_or_else(PoisonError::into_inner);
        loaded.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut paths = Vec::with_capacity(loaded.len());
        let mut drvs = Vec::with_capacity(loaded.len());
        let mut content_hashes = Vec::with_capacity(loaded.len());
        for (path, drv, hash) in loaded {
            paths.push(path);
            drvs.push(drv);
            content_hashes.push(hash);
        }
        let inputs = drvs
            .iter()
            .map(|drv| {
                let mut ids: Vec<NodeId> = drv_inputs(drv).filter_map(|p| node_of(&paths, p)).collect();
                ids.sort_unstable();
                ids.dedup();
                ids
            })
            .collect();
        let mut closure = DrvClosure { store: store.clone(), paths, drvs, content_hashes, inputs, order: Vec::new() };
        closure.order = closure.topological_order()?;
        tracing::debug!(derivations = closure.len(), "loaded .drv closure");
        Ok(closure)
    }

    /// Number of derivations.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// The store the closure was read from.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The derivations, sorted by path.
    pub fn iter(&self) -> impl Iterator<Item = (&StorePath, &Derivation)> {
        self.paths.iter().zip(&self.drvs)
    }

    /// The derivation at `path`, if in the closure.
    pub fn get(&self, path: &StorePath) -> Option<&Derivation> {
        node_of(&self.paths, path).and_then(|id| self.drvs.get(id.index()))
    }

    /// The node of `path`, if in the closure.
    pub fn node(&self, path: &StorePath) -> Option<NodeId> {
        node_of(&self.paths, path)
    }

    /// The path of a node.
    pub fn path(&self, id: NodeId) -> Option<&StorePath> {
        self.paths.get(id.index())
    }

    /// The sha256 of the `.drv` file's bytes as read.
    pub fn content_hash(&self, id: NodeId) -> Option<&Hash> {
        self.content_hashes.get(id.index())
    }

    /// Nodes with every input before its dependents.
    pub fn order(&self) -> &[NodeId] {
        &self.order
    }

    /// The derivations as a sorted map.
    pub fn into_map(self) -> BTreeMap<StorePath, Derivation> {
        self.paths.into_iter().zip(self.drvs).collect()
    }

    /// Kahn's algorithm; an error names a derivation on a cycle.
    fn topological_order(&self) -> Result<Vec<NodeId>, DrvError> {
        let n = self.paths.len();
        let mut waiting: Vec<usize> = self.inputs.iter().map(Vec::len).collect();
        let mut dependents: Vec<Vec<NodeId>> = vec![Vec::new(); n];
        for (i, inputs) in self.inputs.iter().enumerate() {
            for input in inputs {
                if let Some(d) = dependents.get_mut(input.index()) {
                    d.push(node_id(i));
                }
            }
        }
        let mut ready: VecDeque<NodeId> = (0..n).filter(|&i| waiting.get(i) == Some(&0)).map(node_id).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(id) = ready.pop_front() {
            order.push(id);
            for &d in dependents.get(id.index()).map(Vec::as_slice).unwrap_or_default() {
                if let Some(w) = waiting.get_mut(d.index()) {
                    *w -= 1;
                    if *w == 0 {
                        ready.push_back(d);
                    }
                }
            }
        }
        if order.len() < n {
            let stuck = waiting.iter().position(|&w| w > 0).and_then(|i| self.paths.get(i));
            if let Some(path) = stuck {
                return Err(DrvError::Cycle { path: path.clone() });
            }
        }
        Ok(order)
    }

    fn name_of(&self, id: NodeId) -> Result<(&StorePath, &Derivation, &str), DrvError> {
        let (Some(path), Some(drv)) = (self.paths.get(id.index()), self.drvs.get(id.index())) else {
            return Err(DrvError::UnknownNode { id });
        };
        let name = drv_name(path).ok_or_else(|| DrvError::NotDerivation { path: path.clone() })?;
        Ok((path, drv, name))
    }

    /// Every node's hash modulo (Nix's `hashDerivationModulo`), indexed by
    /// [`NodeId`], computed once per node in topological order.
    pub fn hash_modulo_by_node(&self) -> Result<Vec<HashModulo>, DrvError> {
        let mut memo: Vec<Option<HashModulo>> = vec![None; self.len()];
        for &id in &self.order {
            let (path, drv, name) = self.name_of(id)?;
            let hash = drv
                .hash_modulo(name, self.store.dir(), false, |p| self.memoised(&memo, p))
                .map_err(|source| DrvError::Hash { path: path.clone(), source: Box::new(source) })?;
            if let Some(slot) = memo.get_mut(id.index()) {
                *slot = Some(hash);
            }
        }
        // Every node is in `order`, so every slot is filled.
        memo.into_iter().enumerate().map(|(i, h)| h.ok_or(DrvError::UnknownNode { id: node_id(i) })).collect()
    }

    /// Every derivation's hash modulo, by path.
    pub fn hash_modulo(&self) -> Result<BTreeMap<StorePath, HashModulo>, DrvError> {
        Ok(self.paths.iter().cloned().zip(self.hash_modulo_by_node()?).collect())
    }

    fn memoised<'s>(&'s self, memo: &[Option<HashModulo>], path: &StorePath) -> Option<(&'s Derivation, HashModulo)> {
        let id = node_of(&self.paths, path)?;
        Some((self.drvs.get(id.index())?, (*memo.get(id.index())?)?))
    }

    /// Recomputes every derivation's `.drv` path and output paths, in parallel
    /// once hash modulo is known.
    pub fn compute_paths(&self) -> Result<BTreeMap<StorePath, DrvPaths>, DrvError> {
        let memo: Vec<Option<HashModulo>> = self.hash_modulo_by_node()?.into_iter().map(Some).collect();
        let computed: Result<Vec<(StorePath, DrvPaths)>, DrvError> = (0..self.len())
            .into_par_iter()
            .map(|i| {
                let (path, drv, name) = self.name_of(node_id(i))?;
                let fail = |source| DrvError::Hash { path: path.clone(), source: Box::new(source) };
                let content_hash = self.content_hashes.get(i).ok_or(DrvError::UnknownNode { id: node_id(i) })?;
                let drv_path = drv_path_of(self.store.dir(), name, content_hash, drv.references()).map_err(fail)?;
                let outputs =
                    drv.compute_output_paths(name, self.store.dir(), |p| self.memoised(&memo, p)).map_err(fail)?;
                Ok((path.clone(), DrvPaths { drv_path, outputs }))
            })
            .collect();
        Ok(computed?.into_iter().collect())
    }

    /// Writes `nix show-derivation`'s JSON (Nix 2.8 bytes) for the whole closure.
    pub fn write_show_json(&self, w: impl std::io::Write) -> std::io::Result<()> {
        provenix_formats::derivation::write_show_json(self.iter(), self.store.dir(), w)
    }
}

fn node_id(i: usize) -> NodeId {
    // A closure never holds 2^32 derivations: each is a file read into memory.
    NodeId(u32::try_from(i).unwrap_or(u32::MAX))
}

fn node_of(paths: &[StorePath], path: &StorePath) -> Option<NodeId> {
    paths.binary_search(path).ok().map(node_id)
}

fn error_path(err: &DrvError) -> Option<String> {
    match err {
        DrvError::Store(StoreError::Io { path, .. }) => Some(path.display().to_string()),
        DrvError::Store(StoreError::NotStorePath { path, .. }) => Some(path.clone()),
        DrvError::TooLarge { file, .. } => Some(file.display().to_string()),
        DrvError::NotDerivation { path }
        | DrvError::Parse { path, .. }
        | DrvError::Cycle { path }
        | DrvError::Hash { path, .. } => Some(path.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provenix_formats::store_path::StoreDir;

    /// Writes `files` (base name, contents) into a fresh store root.
    fn store_with(files: &[(&str, String)]) -> (tempfile::TempDir, Store) {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("nix/store");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let store = Store::new(StoreDir::default(), Some(root.path().to_owned()));
        (root, store)
    }

    fn simple(inputs: &[&str]) -> String {
        let inputs: Vec<String> = inputs.iter().map(|p| format!("(\"/nix/store/{p}\",[\"out\"])")).collect();
        format!(
            "Derive([(\"out\",\"/nix/store/1z64zrf8b84zyk3sc5h08if9na3ln0j4-x\",\"\",\"\")],[{}],[],\"s\",\"b\",[],[])",
            inputs.join(",")
        )
    }

    const A: &str = "00000000000000000000000000000000-a.drv";
    const B: &str = "11111111111111111111111111111111-b.drv";
    const C: &str = "22222222222222222222222222222222-c.drv";
    const D: &str = "33333333333333333333333333333333-d.drv";

    fn sp(base: &str) -> StorePath {
        StorePath::from_base_name(base).unwrap()
    }

    #[test]
    fn loads_a_diamond_once_per_file_in_path_order_with_inputs_first() {
        let (_root, store) =
            store_with(&[(A, simple(&[B, C])), (B, simple(&[D])), (C, simple(&[D])), (D, simple(&[]))]);
        let closure = DrvClosure::load(&store, &[sp(A)]).unwrap();
        let names: Vec<String> = closure.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(names, [A, B, C, D]);
        let order: Vec<&StorePath> = closure.order().iter().map(|&id| closure.path(id).unwrap()).collect();
        assert_eq!(order, [&sp(D), &sp(B), &sp(C), &sp(A)]);
        assert_eq!(closure.hash_modulo().unwrap().len(), 4);
    }

    #[test]
    fn reports_a_cycle_in_a_tampered_store() {
        let (_root, store) = store_with(&[(A, simple(&[B])), (B, simple(&[A]))]);
        let err = DrvClosure::load(&store, &[sp(A)]).unwrap_err();
        assert!(matches!(err, DrvError::Cycle { .. }), "{err}");
    }

    #[test]
    fn names_the_missing_file() {
        let (_root, store) = store_with(&[(A, simple(&[B]))]);
        let err = DrvClosure::load(&store, &[sp(A)]).unwrap_err();
        assert!(err.to_string().contains(B), "{err}");
    }

    #[test]
    fn names_the_file_that_does_not_parse() {
        let (_root, store) = store_with(&[(A, simple(&[B])), (B, "Derive(".to_owned())]);
        let err = DrvClosure::load(&store, &[sp(A)]).unwrap_err();
        assert!(matches!(&err, DrvError::Parse { path, .. } if *path == sp(B)), "{err}");
    }

    #[test]
    fn refuses_roots_that_are_not_derivations() {
        let (_root, store) = store_with(&[]);
        let root = sp("00000000000000000000000000000000-a");
        assert!(matches!(DrvClosure::load(&store, &[root]), Err(DrvError::NotDerivation { .. })));
    }
}
