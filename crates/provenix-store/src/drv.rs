//! Reading derivations from a store, and whole `.drv` closures.
//!
//! [`DrvClosure::load`] reads the `.drv` closure of some roots: every input
//! derivation, and every input source that is itself a `.drv` (Nix adds those
//! for `drvPath` string context), transitively. Files are read and parsed in
//! parallel with rayon, each exactly once, level by level (breadth-first), and
//! merged in order, so neither the result nor the first error reported
//! depends on scheduling. The result is sorted by store path. The parser only
//! accepts bytes that its writer gives back exactly, so the `.drv` path
//! recomputed from the parsed value is the one of the file on disk.
//!
//! Algorithm and cost, for V derivations and E input edges:
//!
//! 1. load: breadth-first levels, each read and parsed with a rayon parallel
//!    iterator, a visited set merged between levels; O(V) reads and parses;
//! 2. topological order (inputs first): Kahn's algorithm on `NodeId`s with
//!    a FIFO seeded in path order, iterative, O(V + E), detects cycles (which
//!    a tampered store can contain);
//! 3. hash modulo: once per node in that order, each input's value memoised;
//!    O(total bytes), nodes found by a hash map from path;
//! 4. paths: per node in parallel, the masked hash modulo gives
//!    input-addressed output paths; the sha256 of the re-serialised bytes
//!    (equal to the file's) and the references give the `.drv` path.
//!
//! Unlike `nix show-derivation -r`, which follows all references through the
//! Nix database, non-`.drv` input sources are not followed: their references
//! can only be other sources (Nix's `builtins.toFile` and path literals
//! cannot refer to derivations), so the `.drv` set is the same.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::Read as _;
use std::path::PathBuf;

use provenix_formats::derivation::{
    Derivation, DerivationError, HashModulo, MAX_DRV_LEN, OutputName, SHOW_JSON_OPEN, drv_name,
    render_show_json_entries, show_json_close,
};
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
    if !path.is_derivation() {
        return Err(DrvError::NotDerivation { path: path.clone() });
    }
    let bytes = read_bounded(store, path)?;
    Derivation::parse_owned(bytes, store.dir())
        .map_err(|source| DrvError::Parse { path: path.clone(), source: Box::new(source) })
}

/// Store paths a derivation's `.drv` closure continues to.
fn drv_inputs(drv: &Derivation) -> impl Iterator<Item = &StorePath> {
    drv.input_drvs().keys().chain(drv.input_srcs().iter().filter(|p| p.is_derivation()))
}

/// The `.drv` closure of some roots, sorted by path, with a topological order.
#[derive(Debug, Clone)]
pub struct DrvClosure {
    store: Store,
    paths: Vec<StorePath>,
    drvs: Vec<Derivation>,
    /// Node of each path (a hash lookup; the closure's hot path).
    index: HashMap<StorePath, NodeId>,
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
        if let Some(root) = roots.iter().find(|r| !r.is_derivation()) {
            return Err(DrvError::NotDerivation { path: root.clone() });
        }
        // Breadth-first by levels: each level is read and parsed in parallel,
        // then merged in order, so no locks are shared and the first error
        // reported does not depend on scheduling.
        let mut seen: HashSet<StorePath> = HashSet::with_capacity(roots.len());
        let mut frontier: Vec<StorePath> = roots.iter().filter(|r| seen.insert((*r).clone())).cloned().collect();
        let mut loaded: Vec<(StorePath, Derivation)> = Vec::new();
        while !frontier.is_empty() {
            let level: Vec<Result<(StorePath, Derivation), DrvError>> =
                frontier.into_par_iter().map(|path| read_derivation(store, &path).map(|drv| (path, drv))).collect();
            let mut next = Vec::new();
            for result in level {
                let (path, drv) = result?;
                next.extend(drv_inputs(&drv).filter(|input| seen.insert((*input).clone())).cloned());
                loaded.push((path, drv));
            }
            frontier = next;
        }
        loaded.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let (paths, drvs): (Vec<StorePath>, Vec<Derivation>) = loaded.into_iter().unzip();
        let index: HashMap<StorePath, NodeId> =
            paths.iter().enumerate().map(|(i, p)| (p.clone(), node_id(i))).collect();
        let inputs = drvs
            .iter()
            .map(|drv| {
                let mut ids: Vec<NodeId> = drv_inputs(drv).filter_map(|p| index.get(p).copied()).collect();
                ids.sort_unstable();
                ids.dedup();
                ids
            })
            .collect();
        let mut closure = DrvClosure { store: store.clone(), paths, drvs, index, inputs, order: Vec::new() };
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
        self.node(path).and_then(|id| self.drvs.get(id.index()))
    }

    /// The node of `path`, if in the closure.
    pub fn node(&self, path: &StorePath) -> Option<NodeId> {
        self.index.get(path).copied()
    }

    /// The path of a node.
    pub fn path(&self, id: NodeId) -> Option<&StorePath> {
        self.paths.get(id.index())
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
        let id = self.node(path)?;
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
                // Accepted bytes are exactly what the writer gives back, so this is
                // the sha256 of the file as read.
                let drv_path = drv.compute_drv_path(name, self.store.dir()).map_err(fail)?;
                let outputs =
                    drv.compute_output_paths(name, self.store.dir(), |p| self.memoised(&memo, p)).map_err(fail)?;
                Ok((path.clone(), DrvPaths { drv_path, outputs }))
            })
            .collect();
        Ok(computed?.into_iter().collect())
    }

    /// Writes `nix show-derivation`'s JSON (Nix 2.8 bytes) for the whole
    /// closure. Batches of derivations are rendered in parallel, a window of
    /// batches at a time into reused buffers, and written in order.
    pub fn write_show_json(&self, mut w: impl std::io::Write) -> std::io::Result<()> {
        const BATCH: usize = 128;
        let dir = self.store.dir();
        let window = 4 * rayon::current_num_threads().max(1);
        let mut buffers: Vec<Vec<u8>> = vec![Vec::new(); window];
        w.write_all(SHOW_JSON_OPEN)?;
        let batches: Vec<(&[StorePath], &[Derivation])> =
            self.paths.chunks(BATCH).zip(self.drvs.chunks(BATCH)).collect();
        for (w_index, group) in batches.chunks(window).enumerate() {
            buffers.par_iter_mut().zip(group.par_iter()).enumerate().for_each(|(i, (buf, (paths, drvs)))| {
                buf.clear();
                let first = w_index == 0 && i == 0;
                render_show_json_entries(paths.iter().zip(drvs.iter()), dir, first, buf);
            });
            for buf in buffers.iter().take(group.len()) {
                w.write_all(buf)?;
            }
        }
        w.write_all(show_json_close(self.is_empty()))
    }
}

fn node_id(i: usize) -> NodeId {
    // A closure never holds 2^32 derivations: each is a file read into memory.
    NodeId(u32::try_from(i).unwrap_or(u32::MAX))
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
