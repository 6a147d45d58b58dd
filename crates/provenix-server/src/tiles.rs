//! Hash tiles in memory, so receipts and proofs do not re-read storage.
//!
//! A tile is kept *expanded*: besides its up to 256 hashes, every complete
//! node above them inside the tile (levels 1..=7 of the tile, 254 hashes for
//! a full tile), so any node a proof needs is one lookup instead of hashing
//! up to 128 leaves.
//!
//! [`TileCache`] holds two kinds:
//! - full tiles (256 hashes), which never change, in a bounded cache of at
//!   most [`TileCache::capacity`] tiles (two generations: a lookup in the old
//!   one moves the tile to the new one; when the new one is full the old one
//!   is dropped, so the least recently used tiles go first and memory stays
//!   at most `capacity` × 16 KiB whatever the log's size);
//! - the partial tiles of the right edge (one per tile level), published by
//!   the sequencer after each commit.
//!
//! The sequencer puts the full tiles a batch completes into the cache and
//! publishes its new edge, so a receipt (a proof for an entry of the batch
//! just written) finds every node in memory. Anything missing, or a partial
//! tile narrower than a proof needs (another process wrote, or the cache
//! evicted it), is read from storage; a full tile read is cached. Cost of a
//! proof from memory: about 30 lookups, no hashing beyond joining them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use provenix_formats::log::merkle::{self, NodeHash, NodeSource};
use provenix_formats::log::proof::InclusionProof;
use provenix_formats::log::tile::{TILE_HEIGHT, TILE_WIDTH, Tile, hashes_at};

use crate::store::{LogStore, StoreError};

/// Full tiles kept by default: 1,024 × 16 KiB = 16 MiB. At 1M entries the
/// tree has 3,907 full tiles, so the upper levels and the recent tiles stay
/// and a proof of a random old entry reads at most its level-0 tile.
pub const DEFAULT_TILE_CACHE: usize = 1024;

/// One tile with the nodes above its hashes: `levels[r]` holds the nodes
/// over `2^r` consecutive hashes that the tile has completely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandedTile {
    levels: Vec<Vec<NodeHash>>,
}

impl ExpandedTile {
    /// Expands tile hashes (at most 256).
    pub fn new(hashes: Vec<NodeHash>) -> ExpandedTile {
        let mut levels = Vec::with_capacity(usize::from(TILE_HEIGHT));
        levels.push(hashes);
        for _ in 1..TILE_HEIGHT {
            let below = levels.last().map(Vec::as_slice).unwrap_or_default();
            let up: Vec<NodeHash> = below.chunks_exact(2).map(|p| merkle::node_hash(&p[0], &p[1])).collect();
            levels.push(up);
        }
        ExpandedTile { levels }
    }

    /// Expands a stored tile's bytes (32 per hash; a trailing partial hash is ignored).
    pub fn from_bytes(bytes: &[u8]) -> ExpandedTile {
        ExpandedTile::new(bytes.chunks_exact(32).map(|c| <[u8; 32]>::try_from(c).unwrap_or_default()).collect())
    }

    /// Hashes at the tile's bottom level.
    pub fn width(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// The node over hashes `[offset << r, (offset + 1) << r)` of the tile, if complete.
    pub fn node(&self, r: u8, offset: u64) -> Option<NodeHash> {
        self.levels.get(usize::from(r))?.get(usize::try_from(offset).ok()?).copied()
    }
}

type Key = (u8, u64);

#[derive(Default)]
struct Generations {
    new: HashMap<Key, Arc<ExpandedTile>>,
    old: HashMap<Key, Arc<ExpandedTile>>,
}

/// The right edge's partial tiles as of one tree size.
#[derive(Default)]
struct Edge {
    size: u64,
    tiles: Vec<(Key, Arc<ExpandedTile>)>,
}

/// Tiles in memory (module docs).
pub struct TileCache {
    capacity: usize,
    full: Mutex<Generations>,
    edge: RwLock<Arc<Edge>>,
}

impl TileCache {
    /// A cache of at most `capacity` full tiles (at least 2).
    pub fn new(capacity: usize) -> TileCache {
        TileCache { capacity: capacity.max(2), full: Mutex::default(), edge: RwLock::default() }
    }

    /// Most full tiles kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Full tiles held now (never more than [`TileCache::capacity`]).
    pub fn len(&self) -> usize {
        self.full.lock().map_or(0, |g| g.new.len() + g.old.len())
    }

    /// Whether no full tile is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get_full(&self, key: Key) -> Option<Arc<ExpandedTile>> {
        let mut g = self.full.lock().ok()?;
        if let Some(t) = g.new.get(&key) {
            return Some(t.clone());
        }
        let t = g.old.remove(&key)?;
        self.insert_locked(&mut g, key, t.clone());
        Some(t)
    }

    fn insert_locked(&self, g: &mut Generations, key: Key, tile: Arc<ExpandedTile>) {
        if g.new.len() >= self.capacity / 2 && !g.new.contains_key(&key) {
            g.old = std::mem::take(&mut g.new);
        }
        g.new.insert(key, tile);
    }

    fn put_full(&self, key: Key, tile: Arc<ExpandedTile>) {
        if let Ok(mut g) = self.full.lock() {
            g.old.remove(&key);
            self.insert_locked(&mut g, key, tile);
        }
    }

    /// After a batch commit: caches the full tiles among `tiles` (a batch's
    /// changed tiles) and makes the partial ones the edge of tree `size`.
    pub fn publish(&self, tiles: &[Tile], size: u64) {
        let old = self.edge.read().map(|e| e.clone()).unwrap_or_default();
        if old.size > size {
            return;
        }
        let mut edge: Vec<(Key, Arc<ExpandedTile>)> = old.tiles.clone();
        for t in tiles {
            let key = (t.level, t.index);
            let expanded = Arc::new(ExpandedTile::new(t.hashes.clone()));
            edge.retain(|(k, _)| k.0 != t.level);
            if t.hashes.len() as u64 == TILE_WIDTH {
                self.put_full(key, expanded);
            } else {
                edge.push((key, expanded));
            }
        }
        if let Ok(mut e) = self.edge.write() {
            *e = Arc::new(Edge { size, tiles: edge });
        }
    }

    /// Tile `key` with at least `width` hashes, from memory only.
    fn cached(&self, key: Key, width: u64) -> Option<Arc<ExpandedTile>> {
        if width < TILE_WIDTH {
            let edge = self.edge.read().ok()?.clone();
            if let Some((_, t)) = edge.tiles.iter().find(|(k, t)| *k == key && t.width() >= width) {
                return Some(t.clone());
            }
        }
        // A full tile also serves a proof in an older tree, where it was partial.
        self.get_full(key)
    }

    /// Inclusion proof of `index` in the tree of `size`, from memory where
    /// possible and from `store` otherwise (`None`: memory only, and a miss is
    /// [`ProofSourceError::Miss`]).
    pub fn inclusion_proof(
        &self,
        store: Option<&dyn LogStore>,
        index: u64,
        size: u64,
    ) -> Result<InclusionProof, merkle::ProofError<ProofSourceError>> {
        let mut nodes = CachedNodes { cache: self, store, size, seen: Vec::new() };
        let hashes = merkle::inclusion_proof(&mut nodes, index, size)?;
        Ok(InclusionProof { leaf_index: index, tree_size: size, hashes })
    }

    /// Consistency proof between tree sizes, read like [`TileCache::inclusion_proof`].
    pub fn consistency_proof(
        &self,
        store: &dyn LogStore,
        old: u64,
        new: u64,
    ) -> Result<Vec<NodeHash>, merkle::ProofError<ProofSourceError>> {
        let mut nodes = CachedNodes { cache: self, store: Some(store), size: new, seen: Vec::new() };
        merkle::consistency_proof(&mut nodes, old, new)
    }
}

/// Why a node could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProofSourceError {
    /// Not in memory, and no storage to read from.
    #[error("tile {0}/{1} is not in memory")]
    Miss(u8, u64),
    /// The stored tile is shorter than the tree needs.
    #[error("tile {level}/{index} has {found} hashes, the tree needs {needed}")]
    Short {
        /// Tile level.
        level: u8,
        /// Tile index.
        index: u64,
        /// Hashes stored.
        found: u64,
        /// Hashes needed.
        needed: u64,
    },
    /// Storage failed.
    #[error("reading a tile")]
    Store(#[from] StoreError),
}

/// A [`NodeSource`] over the cache for one proof, remembering the few tiles it touched.
struct CachedNodes<'a> {
    cache: &'a TileCache,
    store: Option<&'a dyn LogStore>,
    size: u64,
    seen: Vec<(Key, Arc<ExpandedTile>)>,
}

impl CachedNodes<'_> {
    fn tile(&mut self, key: Key) -> Result<Arc<ExpandedTile>, ProofSourceError> {
        if let Some((_, t)) = self.seen.iter().find(|(k, _)| *k == key) {
            return Ok(t.clone());
        }
        let width = hashes_at(key.0, self.size).saturating_sub(key.1 * TILE_WIDTH).min(TILE_WIDTH);
        let tile = match self.cache.cached(key, width) {
            Some(t) => t,
            None => {
                let store = self.store.ok_or(ProofSourceError::Miss(key.0, key.1))?;
                let bytes = store.tile(key.0, key.1)?.unwrap_or_default();
                let t = Arc::new(ExpandedTile::from_bytes(&bytes));
                if t.width() < width {
                    return Err(ProofSourceError::Short {
                        level: key.0,
                        index: key.1,
                        found: t.width(),
                        needed: width,
                    });
                }
                if t.width() == TILE_WIDTH {
                    self.cache.put_full(key, t.clone());
                }
                t
            }
        };
        self.seen.push((key, tile.clone()));
        Ok(tile)
    }
}

impl NodeSource for CachedNodes<'_> {
    type Error = ProofSourceError;

    fn node(&mut self, level: u8, index: u64) -> Result<NodeHash, ProofSourceError> {
        let (tile_level, r) = (level / TILE_HEIGHT, level % TILE_HEIGHT);
        let first = index << r;
        let key = (tile_level, first / TILE_WIDTH);
        let tile = self.tile(key)?;
        let offset = (first % TILE_WIDTH) >> r;
        tile.node(r, offset).ok_or(ProofSourceError::Short {
            level: key.0,
            index: key.1,
            found: tile.width(),
            needed: (offset + 1) << r,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use provenix_formats::log::merkle::{MemoryTree, inclusion_proof, leaf_hash};
    use provenix_formats::log::tile::RightEdge;

    use super::*;

    fn leaves(n: u64) -> Vec<NodeHash> {
        (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect()
    }

    #[test]
    fn expanded_nodes_are_the_perfect_subtree_roots() {
        let hashes = leaves(200);
        let t = ExpandedTile::new(hashes.clone());
        assert_eq!(t.width(), 200);
        assert_eq!(t.node(0, 199), Some(hashes[199]));
        assert_eq!(t.node(3, 24), Some(merkle::perfect_root(&hashes[192..200])));
        assert_eq!(t.node(3, 25), None, "hashes 200..208 are not all there");
        assert_eq!(t.node(7, 0), Some(merkle::perfect_root(&hashes[..128])));
        assert_eq!(t.node(7, 1), None);
    }

    /// Proofs from a cache the sequencer fed match proofs over the whole tree, with no storage at all.
    #[test]
    fn receipts_of_each_batch_come_from_memory_and_are_right() {
        let cache = TileCache::new(1024);
        let mut edge = RightEdge::default();
        let mut tree = MemoryTree::new();
        let all = leaves(70_000);
        let mut at = 0usize;
        for batch in [1usize, 255, 1, 300, 65_000, 3, 4_440] {
            let tiles = edge.append(all[at..at + batch].iter().copied());
            for l in &all[at..at + batch] {
                tree.push(*l);
            }
            let size = edge.size();
            cache.publish(&tiles, size);
            for index in [at, at + batch / 2, at + batch - 1] {
                let got = cache.inclusion_proof(None, index as u64, size).unwrap();
                assert_eq!(got.hashes, inclusion_proof(&mut tree, index as u64, size).unwrap(), "{index} in {size}");
            }
            at += batch;
        }
    }

    #[test]
    fn the_cache_never_holds_more_full_tiles_than_its_capacity() {
        let cache = TileCache::new(8);
        let mut edge = RightEdge::default();
        let all = leaves(256 * 40);
        for chunk in all.chunks(256) {
            cache.publish(&edge.append(chunk.iter().copied()), edge.size());
            assert!(cache.len() <= 8, "{}", cache.len());
        }
        assert!(cache.len() >= 4, "the newest generation stays");
        // Recent tiles are in memory; old ones are gone (a proof of them needs storage).
        let size = edge.size();
        assert!(cache.inclusion_proof(None, size - 1, size).is_ok());
        assert!(matches!(
            cache.inclusion_proof(None, 0, size),
            Err(merkle::ProofError::Source(ProofSourceError::Miss(0, 0)))
        ));
        // A lookup keeps a tile: touched every round, tile 38 survives 20 more tiles.
        let full = ExpandedTile::new(all[..256].to_vec());
        for i in 100..120 {
            assert!(cache.get_full((0, 38)).is_some(), "round {i}");
            cache.put_full((0, i), Arc::new(full.clone()));
            assert!(cache.len() <= 8);
        }
    }
}
