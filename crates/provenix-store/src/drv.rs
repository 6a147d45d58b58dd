//! Reading derivations from a store, and whole `.drv` closures.
//!
//! [`DrvClosure::load`] reads the `.drv` closure of some roots: every input
//! derivation, and every input source that is itself a `.drv` (Nix adds those
//! for `drvPath` string context), transitively, each file exactly once. The
//! result is sorted by store path, and neither it nor the error reported
//! depends on scheduling. The parser only accepts bytes that its writer gives
//! back exactly, so the `.drv` path recomputed from the parsed value is the
//! one of the file on disk. [`DrvClosure::load_mapped`] walks the same way but
//! keeps only a value computed from each derivation (its JSON, say).
//!
//! Algorithm and cost, for V derivations and E input edges:
//!
//! 1. walk: the calling thread opens each file relative to the store
//!    directory (`openat`, one path component to resolve) and reads it into a
//!    reused buffer; batches of files go to rayon workers, which parse them
//!    and number their inputs in a sharded hash index. Only one thread opens
//!    files because the kernel's per-process file table is shared: two
//!    readers spend much of their time contending for it, while parsing
//!    scales. O(V) reads and parses, O(E) index lookups. The walk goes on
//!    past a failure and reports the failing file with the smallest path;
//! 2. assemble: sort by path, renumber, inputs as one flat array; O(V log V + E);
//! 3. topological order (inputs first): Kahn's algorithm on `NodeId`s with
//!    a FIFO seeded in path order, iterative, O(V + E), detects cycles (which
//!    a tampered store can contain);
//! 4. hash modulo: once per node in that order, each input's value memoised;
//!    O(total bytes), nodes found by a hash map from path;
//! 5. paths: per node in parallel, the masked hash modulo gives
//!    input-addressed output paths; the sha256 of the re-serialised bytes
//!    (equal to the file's) and the references give the `.drv` path.
//!
//! Unlike `nix show-derivation -r`, which follows all references through the
//! Nix database, non-`.drv` input sources are not followed: their references
//! can only be other sources (Nix's `builtins.toFile` and path literals
//! cannot refer to derivations), so the `.drv` set is the same.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::BuildHasher as _;
use std::io::Read as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError, mpsc};

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

/// Reads `.drv` files of one store. On Unix the store directory is opened
/// once and files are opened relative to it (`openat`), so the kernel
/// resolves one path component per file instead of the whole physical path.
struct DrvFiles<'s> {
    store: &'s Store,
    #[cfg(unix)]
    dir: Option<rustix::fd::OwnedFd>,
}

impl<'s> DrvFiles<'s> {
    fn new(store: &'s Store) -> DrvFiles<'s> {
        #[cfg(unix)]
        {
            use rustix::fs::{Mode, OFlags};
            // Without it (no read permission on the directory, say), files
            // are opened by their full path, with the same errors as before.
            let dir = rustix::fs::open(
                store.physical_dir(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ok();
            DrvFiles { store, dir }
        }
        #[cfg(not(unix))]
        DrvFiles { store }
    }

    fn open(&self, path: &StorePath, name: &mut String) -> std::io::Result<std::fs::File> {
        #[cfg(unix)]
        if let Some(dir) = &self.dir {
            use rustix::fs::{Mode, OFlags};
            name.clear();
            name.push_str(path.hash_part());
            name.push('-');
            name.push_str(path.name());
            // NONBLOCK: a FIFO in place of the file must not hang the open
            // (it then reads as empty, a parse error naming the path).
            // NOFOLLOW: Nix writes a `.drv` as a regular file, so a symlink
            // (perhaps out of the store root) is refused, never followed.
            let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOFOLLOW;
            let fd = rustix::fs::openat(dir, name.as_str(), flags, Mode::empty()).map_err(symlink_refused)?;
            return Ok(std::fs::File::from(fd));
        }
        let _ = name;
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Bit pattern of a C `int` flag; no truncation.
            #[allow(clippy::cast_possible_wrap)]
            options.custom_flags((rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOFOLLOW).bits() as i32);
        }
        options.open(self.store.physical(path)).map_err(|e| match e.raw_os_error() {
            #[cfg(unix)]
            Some(code) => symlink_refused(rustix::io::Errno::from_raw_os_error(code)),
            _ => e,
        })
    }

    /// Appends the whole file of `path` to `data`, refusing files over
    /// [`MAX_DRV_LEN`] (and then leaving `data` as it was).
    fn read_into(&self, path: &StorePath, name: &mut String, data: &mut Vec<u8>) -> Result<(), DrvError> {
        let io = |source| DrvError::Store(StoreError::Io { path: self.store.physical(path), source });
        let start = data.len();
        let file = self.open(path, name).map_err(io)?;
        // `take` bounds the read whatever the file's size.
        let read = (&file).take(MAX_DRV_LEN as u64 + 1).read_to_end(data);
        let len = data.len() - start;
        if read.is_err() || len > MAX_DRV_LEN {
            data.truncate(start);
        }
        read.map_err(io)?;
        if len > MAX_DRV_LEN {
            let len = file.metadata().map_or(len as u64, |m| m.len());
            return Err(DrvError::TooLarge { file: self.store.physical(path), len });
        }
        Ok(())
    }

    /// Parses the bytes of the `.drv` file of `path`.
    fn parse(&self, path: &StorePath, bytes: Vec<u8>) -> Result<Derivation, DrvError> {
        Derivation::parse_owned(bytes, self.store.dir())
            .map_err(|source| DrvError::Parse { path: path.clone(), source: Box::new(source) })
    }

    /// Reads and parses the `.drv` file of `path`.
    fn derivation(&self, path: &StorePath) -> Result<Derivation, DrvError> {
        if !path.is_derivation() {
            return Err(DrvError::NotDerivation { path: path.clone() });
        }
        let mut bytes = Vec::new();
        self.read_into(path, &mut String::new(), &mut bytes)?;
        self.parse(path, bytes)
    }
}

/// The error of an `open` with `O_NOFOLLOW`: `ELOOP` means the file is a
/// symlink, said plainly.
#[cfg(unix)]
fn symlink_refused(errno: rustix::io::Errno) -> std::io::Error {
    if errno == rustix::io::Errno::LOOP {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "a symlink, not a .drv file (refusing to follow it)")
    } else {
        errno.into()
    }
}

/// Reads and parses one `.drv` file of `store`.
pub fn read_derivation(store: &Store, path: &StorePath) -> Result<Derivation, DrvError> {
    DrvFiles::new(store).derivation(path)
}

/// Store paths a derivation's `.drv` closure continues to.
fn drv_inputs(drv: &Derivation) -> impl Iterator<Item = &StorePath> {
    drv.input_drvs().keys().chain(drv.input_srcs().iter().filter(|p| p.is_derivation()))
}

/// Maps keyed by store path: hashed with a fast hasher seeded per process,
/// since a closure's hot path is looking up every input edge.
type PathMap<V> = HashMap<StorePath, V, foldhash::fast::RandomState>;

/// Shards of the path index, so that parse workers number the inputs they
/// find without waiting for each other.
const SHARDS: usize = 16;

/// Store path to number, sharded by hash.
#[derive(Debug, Clone)]
pub(crate) struct PathIndex {
    hasher: foldhash::fast::RandomState,
    shards: Vec<PathMap<u32>>,
}

impl PathIndex {
    fn shard_of(hasher: &foldhash::fast::RandomState, path: &StorePath) -> usize {
        // The low bits of a 64-bit hash; the remainder fits `usize`.
        (hasher.hash_one(path) % SHARDS as u64) as usize
    }

    pub(crate) fn get(&self, path: &StorePath) -> Option<u32> {
        self.shards.get(Self::shard_of(&self.hasher, path))?.get(path).copied()
    }
}

/// The path index while the walk runs: paths get numbers in the order the
/// workers first see them.
struct SharedIndex {
    hasher: foldhash::fast::RandomState,
    shards: Vec<Mutex<PathMap<u32>>>,
    next: AtomicU32,
}

impl SharedIndex {
    fn new() -> SharedIndex {
        SharedIndex {
            hasher: foldhash::fast::RandomState::default(),
            shards: (0..SHARDS).map(|_| Mutex::new(PathMap::default())).collect(),
            next: AtomicU32::new(0),
        }
    }

    /// The number of `path`; a new one is also pushed to `discovered`.
    fn number(&self, path: &StorePath, discovered: &mut Vec<(u32, StorePath)>) -> u32 {
        let Some(shard) = self.shards.get(PathIndex::shard_of(&self.hasher, path)) else { return u32::MAX };
        // A worker that panicked while holding the lock fails the whole walk
        // anyway (the scope re-raises it), so the map is never used after.
        let mut map = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&k) = map.get(path) {
            return k;
        }
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        map.insert(path.clone(), k);
        discovered.push((k, path.clone()));
        k
    }

    fn into_index(self) -> PathIndex {
        let shards = self.shards.into_iter().map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner)).collect();
        PathIndex { hasher: self.hasher, shards }
    }
}

/// The `.drv` closure's graph: paths sorted, inputs, topological order, the
/// roots it was loaded from. Queries and why-chains are in [`crate::graph`].
#[derive(Debug, Clone)]
pub struct DrvGraph {
    pub(crate) paths: Vec<StorePath>,
    /// Node (rank) of each path.
    pub(crate) index: PathIndex,
    /// Inputs of node `i` within the closure, sorted and deduplicated:
    /// `input_ids[input_start[i]..input_start[i + 1]]`.
    pub(crate) input_start: Vec<usize>,
    pub(crate) input_ids: Vec<NodeId>,
    pub(crate) order: Vec<NodeId>,
    /// The roots, in the order given, each once.
    pub(crate) roots: Vec<NodeId>,
}

/// What a parse task sends back for its batch of files.
struct Parsed<W> {
    /// Per file: its number, path, and the value kept or the error.
    items: Vec<(u32, StorePath, Result<W, DrvError>)>,
    /// Per file, the range of its input numbers in `targets`.
    ranges: Vec<(usize, usize)>,
    targets: Vec<u32>,
    /// Inputs numbered for the first time.
    discovered: Vec<(u32, StorePath)>,
    /// The batch's buffer, emptied, for the reader to fill again.
    buffer: Vec<u8>,
}

/// Files read for one parse task: their bytes back to back in one buffer.
struct Batch {
    data: Vec<u8>,
    /// Per file: its number, path, and the range of its bytes in `data`.
    files: Vec<(u32, StorePath, usize, usize)>,
}

/// Parses a batch of files, keeps values and numbers their inputs.
fn parse_batch<W: Send>(
    files: &DrvFiles<'_>,
    index: &SharedIndex,
    keep: impl Fn(&StorePath, Derivation) -> W,
    batch: Batch,
) -> Parsed<W> {
    let Batch { mut data, files: batch } = batch;
    let mut parsed = Parsed {
        items: Vec::with_capacity(batch.len()),
        ranges: Vec::with_capacity(batch.len()),
        targets: Vec::new(),
        discovered: Vec::new(),
        buffer: Vec::new(),
    };
    for (k, path, from, to) in batch {
        // Copied out by the worker that parses and later frees it, so the
        // allocation is reused on this thread instead of crossing threads.
        let bytes = data.get(from..to).unwrap_or_default().to_vec();
        let start = parsed.targets.len();
        let result = files.parse(&path, bytes).map(|drv| {
            for input in drv_inputs(&drv) {
                let to = index.number(input, &mut parsed.discovered);
                parsed.targets.push(to);
            }
            keep(&path, drv)
        });
        parsed.ranges.push((start, parsed.targets.len()));
        parsed.items.push((k, path, result));
    }
    data.clear();
    parsed.buffer = data;
    parsed
}

/// Reads the `.drv` closure of `roots` and keeps `keep(path, drv)` of each
/// derivation, computed in the worker that parsed it. Returns the graph and
/// the kept values sorted by path.
///
/// The calling thread reads every file and hands batches of bytes to rayon
/// workers, which parse them, keep values and number new inputs in a
/// sharded index. A single reader keeps open/read/close off the workers,
/// where they would contend in the kernel for the shared file table.
/// Paths are read about breadth-first, but numbers and results come in any
/// order, so everything is indexed by number, then sorted by path. The walk
/// goes on past failures and reports the one with the smallest path, so the
/// error does not depend on scheduling.
fn walk<W: Send>(
    store: &Store,
    roots: &[StorePath],
    keep: impl Fn(&StorePath, Derivation) -> W + Sync,
) -> Result<(DrvGraph, Vec<W>), DrvError> {
    /// Files read per parse task: enough to amortise spawning, few enough
    /// to start the workers early.
    const BATCH: usize = 32;
    /// Files read but not yet parsed, at most: the reader waits for the
    /// parsers beyond this, so memory stays bounded when reading outruns
    /// parsing instead of holding every file's bytes at once.
    const MAX_OUTSTANDING: usize = 64 * BATCH;
    if let Some(root) = roots.iter().find(|r| !r.is_derivation()) {
        return Err(DrvError::NotDerivation { path: root.clone() });
    }
    let shared = SharedIndex::new();
    let index = &shared;
    let mut state: WalkState<W> = WalkState::default();
    let mut discovered = Vec::new();
    for root in roots {
        index.number(root, &mut discovered);
    }
    state.discovered(discovered);
    let files = &DrvFiles::new(store);
    let keep = &keep;
    let mut name = String::with_capacity(256);
    // Batch buffers come back with the results and are filled again.
    let mut pool: Vec<Vec<u8>> = Vec::new();
    let (done_tx, done_rx) = mpsc::channel::<Parsed<W>>();
    rayon::in_place_scope(|scope| {
        let mut outstanding = 0usize;
        let finish =
            |mut parsed: Parsed<W>, outstanding: &mut usize, state: &mut WalkState<W>, pool: &mut Vec<Vec<u8>>| {
                *outstanding -= parsed.items.len();
                pool.push(std::mem::take(&mut parsed.buffer));
                state.merge(parsed);
            };
        loop {
            while let Ok(parsed) = done_rx.try_recv() {
                finish(parsed, &mut outstanding, &mut state, &mut pool);
            }
            if !state.queue.is_empty() && outstanding < MAX_OUTSTANDING {
                let take = state.queue.len().min(BATCH);
                let data = pool.pop().unwrap_or_else(|| Vec::with_capacity(BATCH * 8 * 1024));
                let mut batch = Batch { data, files: Vec::with_capacity(take) };
                for (k, path) in state.queue.drain(..take) {
                    let start = batch.data.len();
                    match files.read_into(&path, &mut name, &mut batch.data) {
                        Ok(()) => batch.files.push((k, path, start, batch.data.len())),
                        Err(err) => state.failures.push((path, err)),
                    }
                }
                outstanding += batch.files.len();
                let done_tx = done_tx.clone();
                scope.spawn(move |_| {
                    // The receiver lives until the scope has ended.
                    let _ = done_tx.send(parse_batch(files, index, keep, batch));
                });
            } else if outstanding == 0 {
                break;
            } else if let Ok(parsed) = done_rx.recv() {
                finish(parsed, &mut outstanding, &mut state, &mut pool);
            }
        }
    });
    let n = shared.next.load(Ordering::Relaxed) as usize;
    let (graph, values) = state.assemble(n, shared.into_index(), roots)?;
    tracing::debug!(derivations = graph.paths.len(), "loaded .drv closure");
    Ok((graph, values))
}

/// The bookkeeping of [`walk`], indexed by the number each path got when
/// first seen.
struct WalkState<W> {
    paths: Vec<Option<StorePath>>,
    values: Vec<Option<W>>,
    /// Inputs of path `k`: `targets[edges[k].0..edges[k].1]`.
    edges: Vec<(usize, usize)>,
    targets: Vec<u32>,
    /// Seen but not read yet.
    queue: VecDeque<(u32, StorePath)>,
    failures: Vec<(StorePath, DrvError)>,
}

impl<W> Default for WalkState<W> {
    fn default() -> Self {
        WalkState {
            paths: Vec::new(),
            values: Vec::new(),
            edges: Vec::new(),
            targets: Vec::new(),
            queue: VecDeque::new(),
            failures: Vec::new(),
        }
    }
}

impl<W> WalkState<W> {
    fn discovered(&mut self, discovered: Vec<(u32, StorePath)>) {
        self.queue.extend(discovered);
    }

    fn merge(&mut self, parsed: Parsed<W>) {
        let base = self.targets.len();
        self.targets.extend_from_slice(&parsed.targets);
        for ((k, path, result), (start, end)) in parsed.items.into_iter().zip(parsed.ranges) {
            let k = k as usize;
            if self.paths.len() <= k {
                self.paths.resize_with(k + 1, || None);
                self.values.resize_with(k + 1, || None);
                self.edges.resize(k + 1, (0, 0));
            }
            match result {
                Ok(value) => {
                    if let (Some(p), Some(v), Some(e)) =
                        (self.paths.get_mut(k), self.values.get_mut(k), self.edges.get_mut(k))
                    {
                        *p = Some(path);
                        *v = Some(value);
                        *e = (base + start, base + end);
                    }
                }
                Err(err) => self.failures.push((path, err)),
            }
        }
        self.discovered(parsed.discovered);
    }

    /// Sorts by path, renumbers paths and edges by rank and computes the
    /// topological order; or reports the failure with the smallest path.
    fn assemble(self, n: usize, mut index: PathIndex, roots: &[StorePath]) -> Result<(DrvGraph, Vec<W>), DrvError> {
        let WalkState { paths, values, edges, targets, failures, .. } = self;
        if let Some((_, err)) = failures.into_iter().min_by(|a, b| a.0.cmp(&b.0)) {
            return Err(err);
        }
        // Without failures every path numbered was read and parsed.
        if let Some(k) = (0..n).find(|&k| !matches!(values.get(k), Some(Some(_)))) {
            return Err(DrvError::UnknownNode { id: node_id(k) });
        }
        let path_of = |k: u32| paths.get(k as usize).and_then(Option::as_ref);
        let mut by_path: Vec<u32> = (0..n).map(seq).collect();
        by_path.sort_unstable_by(|&a, &b| path_of(a).cmp(&path_of(b)));
        let mut rank = vec![u32::MAX; n];
        for (r, &k) in by_path.iter().enumerate() {
            if let Some(slot) = rank.get_mut(k as usize) {
                *slot = seq(r);
            }
        }
        let rank_of = |k: u32| rank.get(k as usize).copied().unwrap_or(u32::MAX);

        let mut input_start = Vec::with_capacity(n + 1);
        let mut input_ids = Vec::with_capacity(targets.len());
        let mut scratch: Vec<NodeId> = Vec::new();
        input_start.push(0);
        for &k in &by_path {
            let (start, end) = edges.get(k as usize).copied().unwrap_or((0, 0));
            scratch.clear();
            scratch.extend(targets.get(start..end).unwrap_or_default().iter().map(|&t| NodeId(rank_of(t))));
            // A `.drv` can be both an input derivation and an input source.
            scratch.sort_unstable();
            scratch.dedup();
            input_ids.extend_from_slice(&scratch);
            input_start.push(input_ids.len());
        }
        for shard in &mut index.shards {
            for k in shard.values_mut() {
                *k = rank_of(*k);
            }
        }
        let mut slots: Vec<Option<(StorePath, W)>> = paths.into_iter().zip(values).map(|(p, v)| p.zip(v)).collect();
        let (mut sorted_paths, mut sorted_values) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for &k in &by_path {
            if let Some((path, value)) = slots.get_mut(k as usize).and_then(Option::take) {
                sorted_paths.push(path);
                sorted_values.push(value);
            }
        }
        let mut root_ids: Vec<NodeId> = Vec::with_capacity(roots.len());
        let mut is_root = vec![false; n];
        for root in roots {
            if let Some(k) = index.get(root)
                && let Some(seen) = is_root.get_mut(k as usize)
                && !*seen
            {
                *seen = true;
                root_ids.push(NodeId(k));
            }
        }
        let mut graph =
            DrvGraph { paths: sorted_paths, index, input_start, input_ids, order: Vec::new(), roots: root_ids };
        graph.order = graph.topological_order()?;
        Ok((graph, sorted_values))
    }
}

impl DrvGraph {
    /// The inputs of node `i`.
    pub(crate) fn inputs_of(&self, i: usize) -> &[NodeId] {
        let start = self.input_start.get(i).copied().unwrap_or(0);
        let end = self.input_start.get(i + 1).copied().unwrap_or(start);
        self.input_ids.get(start..end).unwrap_or_default()
    }

    /// Kahn's algorithm; an error names a derivation on a cycle.
    fn topological_order(&self) -> Result<Vec<NodeId>, DrvError> {
        let n = self.paths.len();
        let mut waiting: Vec<usize> = (0..n).map(|i| self.inputs_of(i).len()).collect();
        // Dependents of each node, in the same flat layout as the inputs.
        let mut dependent_start = vec![0usize; n + 1];
        for input in &self.input_ids {
            if let Some(c) = dependent_start.get_mut(input.index() + 1) {
                *c += 1;
            }
        }
        for i in 0..n {
            let before = dependent_start.get(i).copied().unwrap_or(0);
            if let Some(c) = dependent_start.get_mut(i + 1) {
                *c += before;
            }
        }
        let mut fill = dependent_start.clone();
        let mut dependents = vec![NodeId(0); self.input_ids.len()];
        for i in 0..n {
            for input in self.inputs_of(i) {
                let Some(at) = fill.get_mut(input.index()) else { continue };
                if let Some(slot) = dependents.get_mut(*at) {
                    *slot = node_id(i);
                }
                *at += 1;
            }
        }
        let mut ready: VecDeque<NodeId> = (0..n).filter(|&i| waiting.get(i) == Some(&0)).map(node_id).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(id) = ready.pop_front() {
            order.push(id);
            let start = dependent_start.get(id.index()).copied().unwrap_or(0);
            let end = dependent_start.get(id.index() + 1).copied().unwrap_or(start);
            for &d in dependents.get(start..end).unwrap_or_default() {
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
}

/// The `.drv` closure of some roots, sorted by path, with a topological order.
#[derive(Debug, Clone)]
pub struct DrvClosure {
    store: Store,
    graph: DrvGraph,
    drvs: Vec<Derivation>,
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
        let (graph, drvs) = walk(store, roots, |_, drv| drv)?;
        Ok(DrvClosure { store: store.clone(), graph, drvs })
    }

    /// Walks the `.drv` closure of `roots` like [`DrvClosure::load`] (same
    /// derivations, same errors), but keeps only `f(path, drv)` of each
    /// derivation, computed in parallel right after parsing it. Returns the
    /// values sorted by path. Memory stays small when the values are: each
    /// derivation is dropped while the next is parsed.
    pub fn load_mapped<T: Send>(
        store: &Store,
        roots: &[StorePath],
        f: impl Fn(&StorePath, Derivation) -> T + Sync,
    ) -> Result<Vec<(StorePath, T)>, DrvError> {
        let (graph, values) = walk(store, roots, f)?;
        Ok(graph.paths.into_iter().zip(values).collect())
    }

    /// Like [`DrvClosure::load_mapped`], but returns the graph too, with the
    /// values indexed by [`NodeId`].
    pub fn load_graph_mapped<T: Send>(
        store: &Store,
        roots: &[StorePath],
        f: impl Fn(&StorePath, Derivation) -> T + Sync,
    ) -> Result<(DrvGraph, Vec<T>), DrvError> {
        walk(store, roots, f)
    }

    /// The graph: inputs, order, roots and why-chains.
    pub fn graph(&self) -> &DrvGraph {
        &self.graph
    }

    /// The derivation of a node.
    pub fn derivation(&self, id: NodeId) -> Option<&Derivation> {
        self.drvs.get(id.index())
    }

    /// Number of derivations.
    pub fn len(&self) -> usize {
        self.graph.paths.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.graph.paths.is_empty()
    }

    /// The store the closure was read from.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The derivations, sorted by path.
    pub fn iter(&self) -> impl Iterator<Item = (&StorePath, &Derivation)> {
        self.graph.paths.iter().zip(&self.drvs)
    }

    /// The derivation at `path`, if in the closure.
    pub fn get(&self, path: &StorePath) -> Option<&Derivation> {
        self.node(path).and_then(|id| self.drvs.get(id.index()))
    }

    /// The node of `path`, if in the closure.
    pub fn node(&self, path: &StorePath) -> Option<NodeId> {
        self.graph.index.get(path).map(NodeId)
    }

    /// The path of a node.
    pub fn path(&self, id: NodeId) -> Option<&StorePath> {
        self.graph.paths.get(id.index())
    }

    /// Nodes with every input before its dependents.
    pub fn order(&self) -> &[NodeId] {
        &self.graph.order
    }

    /// The derivations as a sorted map.
    pub fn into_map(self) -> BTreeMap<StorePath, Derivation> {
        self.graph.paths.into_iter().zip(self.drvs).collect()
    }

    fn name_of(&self, id: NodeId) -> Result<(&StorePath, &Derivation, &str), DrvError> {
        let (Some(path), Some(drv)) = (self.graph.paths.get(id.index()), self.drvs.get(id.index())) else {
            return Err(DrvError::UnknownNode { id });
        };
        let name = drv_name(path).ok_or_else(|| DrvError::NotDerivation { path: path.clone() })?;
        Ok((path, drv, name))
    }

    /// Every node's hash modulo (Nix's `hashDerivationModulo`), indexed by
    /// [`NodeId`], computed once per node in topological order.
    pub fn hash_modulo_by_node(&self) -> Result<Vec<HashModulo>, DrvError> {
        let mut memo: Vec<Option<HashModulo>> = vec![None; self.len()];
        for &id in &self.graph.order {
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
        Ok(self.graph.paths.iter().cloned().zip(self.hash_modulo_by_node()?).collect())
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
            self.graph.paths.chunks(BATCH).zip(self.drvs.chunks(BATCH)).collect();
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

pub(crate) fn node_id(i: usize) -> NodeId {
    NodeId(seq(i))
}

fn seq(i: usize) -> u32 {
    // A closure never holds 2^32 derivations: each is a file read into memory.
    u32::try_from(i).unwrap_or(u32::MAX)
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
    fn a_fifo_in_place_of_a_drv_file_fails_instead_of_hanging() {
        let (root, store) = store_with(&[(A, simple(&[B]))]);
        let fifo = root.path().join("nix/store").join(B);
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(DrvClosure::load(&store, &[sp(A)]).map(|c| c.len()).map_err(|e| e.to_string()));
        });
        let result = rx.recv_timeout(std::time::Duration::from_secs(20)).expect("loading hangs on a FIFO");
        let err = result.unwrap_err();
        assert!(err.contains(B), "{err}");
        drop(root);
    }

    #[test]
    fn names_the_file_that_does_not_parse() {
        let (_root, store) = store_with(&[(A, simple(&[B])), (B, "Derive(".to_owned())]);
        let err = DrvClosure::load(&store, &[sp(A)]).unwrap_err();
        assert!(matches!(&err, DrvError::Parse { path, .. } if *path == sp(B)), "{err}");
    }

    #[test]
    fn load_mapped_walks_the_same_closure_in_the_same_order() {
        let (_root, store) =
            store_with(&[(A, simple(&[B, C])), (B, simple(&[D])), (C, simple(&[D])), (D, simple(&[]))]);
        let closure = DrvClosure::load(&store, &[sp(A)]).unwrap();
        let mapped =
            DrvClosure::load_mapped(&store, &[sp(A)], |path, drv| (path.clone(), drv.input_drvs().len())).unwrap();
        let expected: Vec<(StorePath, (StorePath, usize))> =
            closure.iter().map(|(p, d)| (p.clone(), (p.clone(), d.input_drvs().len()))).collect();
        assert_eq!(mapped, expected);
    }

    #[test]
    fn reports_the_failure_with_the_smallest_path() {
        // B is missing and C does not parse: B's path sorts first.
        let (_root, store) = store_with(&[(A, simple(&[B, C])), (C, "Derive(".to_owned())]);
        for _ in 0..20 {
            let err = DrvClosure::load(&store, &[sp(A)]).unwrap_err();
            assert!(err.to_string().contains(B), "{err}");
        }
    }

    #[test]
    fn numbers_a_root_given_twice_once() {
        let (_root, store) = store_with(&[(A, simple(&[B])), (B, simple(&[]))]);
        let closure = DrvClosure::load(&store, &[sp(A), sp(A), sp(B)]).unwrap();
        assert_eq!(closure.len(), 2);
        assert_eq!(closure.node(&sp(B)).map(NodeId::index), Some(1));
        assert_eq!(closure.node(&sp(C)), None);
    }

    #[test]
    fn refuses_roots_that_are_not_derivations() {
        let (_root, store) = store_with(&[]);
        let root = sp("00000000000000000000000000000000-a");
        assert!(matches!(DrvClosure::load(&store, &[root]), Err(DrvError::NotDerivation { .. })));
    }
}
