//! C2SP tlog-tiles: the log's hashes cut into tiles of 256, their paths, and
//! the right edge a sequencer appends to.
//!
//! A tile at tile level `L`, index `N` holds up to 256 consecutive hashes of
//! tree level `8 L` (level-0 tiles hold leaf hashes), starting at hash
//! `256 N`; a partial tile (the tree's right edge) holds `W < 256`. Paths:
//!
//! ```text
//! tile/<L>/<N>[.p/<W>]            ; hashes, 32 bytes each
//! tile/entries/<N>[.p/<W>]        ; entry bundles: per entry, u16 big-endian length, then the bytes
//! <N> = index in groups of three digits, each but the last prefixed "x": 1234067 -> x001/x234/067
//! ```
//!
//! A tile only ever grows, so any prefix of a stored tile is the partial
//! tile of that width. [`TileNodes`] answers [`NodeSource`] queries from
//! tiles (a node at level `8 L + r` is the perfect root of `2^r` hashes of
//! one level-`L` tile); [`RightEdge`] is the sequencer's in-memory state:
//! one partial tile per level, so its memory does not grow with the log.
//!
//! Limits: tile levels 0..=7 and indices below 2^56 in paths (enough for
//! 2^64 leaves); widths 1..=256.

use std::collections::HashMap;
use std::fmt;

use thiserror::Error;

use super::merkle::{NodeHash, NodeSource, perfect_root};

/// Tree levels per tile.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile.
pub const TILE_WIDTH: u64 = 256;
/// Highest tile level a path may name.
pub const MAX_TILE_LEVEL: u8 = 7;

/// Which tile: hashes at a tile level, or an entry bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TilePath {
    /// Tile level, `None` for an entry bundle.
    pub level: Option<u8>,
    /// Tile index.
    pub index: u64,
    /// Hashes (or entries) in it: 256 for a full tile.
    pub width: u16,
}

/// A tile path that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("`{path}` is not a tlog-tiles path")]
pub struct TilePathError {
    /// The path, cut to 100 bytes.
    pub path: String,
}

impl TilePath {
    /// Parses `tile/L/N[.p/W]` or `tile/entries/N[.p/W]`.
    pub fn parse(path: &str) -> Result<TilePath, TilePathError> {
        let err = || TilePathError { path: path.chars().take(100).collect() };
        let rest = path.strip_prefix("tile/").ok_or_else(err)?;
        let (level, rest) = rest.split_once('/').ok_or_else(err)?;
        let level = match level {
            "entries" => None,
            l if l.len() == 1 => Some(l.parse::<u8>().ok().filter(|l| *l <= MAX_TILE_LEVEL).ok_or_else(err)?),
            _ => return Err(err()),
        };
        let (index_text, width) = match rest.split_once(".p/") {
            Some((i, w)) => {
                let ok = !w.is_empty() && w.len() <= 3 && !w.starts_with('0') && w.bytes().all(|b| b.is_ascii_digit());
                let w: u16 = w.parse().ok().filter(|w| ok && *w >= 1 && u64::from(*w) < TILE_WIDTH).ok_or_else(err)?;
                (i, w)
            }
            None => (rest, TILE_WIDTH as u16),
        };
        let groups: Vec<&str> = index_text.split('/').collect();
        if groups.len() > 6 {
            return Err(err());
        }
        let mut index: u64 = 0;
        let last = groups.len() - 1;
        for (i, group) in groups.iter().enumerate() {
            let digits = if i == last { *group } else { group.strip_prefix('x').ok_or_else(err)? };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            let value: u64 = digits.parse().map_err(|_| err())?;
            index = index.checked_mul(1000).and_then(|v| v.checked_add(value)).ok_or_else(err)?;
        }
        let parsed = TilePath { level, index, width };
        // Only the canonical spelling is a path (no `x000/` in front).
        if parsed.to_string() != path {
            return Err(err());
        }
        Ok(parsed)
    }
}

impl fmt::Display for TilePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tile/")?;
        match self.level {
            Some(l) => write!(f, "{l}/")?,
            None => f.write_str("entries/")?,
        }
        let mut groups = Vec::new();
        let mut n = self.index;
        loop {
            groups.push(n % 1000);
            n /= 1000;
            if n == 0 {
                break;
            }
        }
        for (i, g) in groups.iter().rev().enumerate() {
            if i + 1 == groups.len() {
                write!(f, "{g:03}")?;
            } else {
                write!(f, "x{g:03}/")?;
            }
        }
        if u64::from(self.width) < TILE_WIDTH {
            write!(f, ".p/{}", self.width)?;
        }
        Ok(())
    }
}

/// Hashes at tree level `8 * tile_level` that a tree of `size` leaves has.
pub fn hashes_at(tile_level: u8, size: u64) -> u64 {
    size.checked_shr(u32::from(tile_level) * u32::from(TILE_HEIGHT)).unwrap_or(0)
}

/// [`NodeSource`] over tiles read by `fetch(level, index)`, which returns the
/// tile's bytes (any width that covers what is asked). Tiles are cached for
/// the life of the value, so one proof reads each tile once.
pub struct TileNodes<F> {
    fetch: F,
    cache: HashMap<(u8, u64), Vec<u8>>,
}

/// A tile that is missing or too short for the node asked.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TileNodesError<E> {
    /// The tile is shorter than the node needs.
    #[error("tile {level}/{index} has {found} bytes, the node needs {needed}")]
    Short {
        /// Tile level.
        level: u8,
        /// Tile index.
        index: u64,
        /// Bytes found.
        found: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// Fetching failed.
    #[error("reading tile failed")]
    Fetch(#[source] E),
}

impl<F, E> TileNodes<F>
where
    F: FnMut(u8, u64) -> Result<Vec<u8>, E>,
{
    /// Reads tiles through `fetch`.
    pub fn new(fetch: F) -> TileNodes<F> {
        TileNodes { fetch, cache: HashMap::new() }
    }
}

impl<F, E> NodeSource for TileNodes<F>
where
    F: FnMut(u8, u64) -> Result<Vec<u8>, E>,
{
    type Error = TileNodesError<E>;

    fn node(&mut self, level: u8, index: u64) -> Result<NodeHash, Self::Error> {
        let tile_level = level / TILE_HEIGHT;
        let r = level % TILE_HEIGHT;
        let first = index << r;
        let tile_index = first / TILE_WIDTH;
        let offset = (first % TILE_WIDTH) as usize;
        let count = 1usize << r;
        let key = (tile_level, tile_index);
        if !self.cache.contains_key(&key) {
            let bytes = (self.fetch)(tile_level, tile_index).map_err(TileNodesError::Fetch)?;
            self.cache.insert(key, bytes);
        }
        let bytes = self.cache.get(&key).map(Vec::as_slice).unwrap_or_default();
        let needed = (offset + count) * 32;
        let slice = bytes.get(offset * 32..needed).ok_or(TileNodesError::Short {
            level: tile_level,
            index: tile_index,
            found: bytes.len(),
            needed,
        })?;
        let hashes: Vec<NodeHash> =
            slice.chunks_exact(32).map(|c| <[u8; 32]>::try_from(c).unwrap_or_default()).collect();
        Ok(perfect_root(&hashes))
    }
}

/// One tile's new content, as a sequencer writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tile {
    /// Tile level.
    pub level: u8,
    /// Tile index.
    pub index: u64,
    /// Its hashes, 1..=256 of them.
    pub hashes: Vec<NodeHash>,
}

impl Tile {
    /// The tile's bytes (the hashes concatenated).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.hashes.concat()
    }
}

/// The right edge of a tiled tree: per tile level, the hashes of its last,
/// unfinished tile. This is all a sequencer needs in memory to append and
/// to compute the root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RightEdge {
    size: u64,
    partial: Vec<Vec<NodeHash>>,
}

/// A right edge that does not fit its size.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("right-edge tile at level {level} has {found} hashes, a tree of size {size} needs {expected}")]
pub struct RightEdgeError {
    /// Tile level.
    pub level: u8,
    /// The tree size.
    pub size: u64,
    /// Hashes expected.
    pub expected: u64,
    /// Hashes found.
    pub found: u64,
}

impl RightEdge {
    /// The edge of a tree of `size` leaves from its partial tiles (level 0 first),
    /// each a prefix of the stored tile. Checks each has the width the size implies.
    pub fn from_tiles(size: u64, partial: Vec<Vec<NodeHash>>) -> Result<RightEdge, RightEdgeError> {
        for level in 0..=MAX_TILE_LEVEL {
            let expected = hashes_at(level, size) % TILE_WIDTH;
            let found = partial.get(usize::from(level)).map_or(0, |p| p.len() as u64);
            if expected != found {
                return Err(RightEdgeError { level, size, expected, found });
            }
        }
        Ok(RightEdge { size, partial })
    }

    /// How many hashes of `level`'s partial tile a tree of `size` has; what
    /// [`RightEdge::from_tiles`] needs to be given.
    pub fn partial_width(level: u8, size: u64) -> u64 {
        hashes_at(level, size) % TILE_WIDTH
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends leaf hashes; returns every tile whose content changed, with its
    /// final content (full tiles once, then the partial ones), sorted by level and index.
    pub fn append(&mut self, leaves: impl IntoIterator<Item = NodeHash>) -> Vec<Tile> {
        let mut changed: std::collections::BTreeMap<(u8, u64), Vec<NodeHash>> = Default::default();
        for leaf in leaves {
            let mut hash = leaf;
            let mut level: u8 = 0;
            loop {
                let width_before = hashes_at(level, self.size);
                if self.partial.len() <= usize::from(level) {
                    self.partial.resize(usize::from(level) + 1, Vec::new());
                }
                let Some(row) = self.partial.get_mut(usize::from(level)) else { break };
                row.push(hash);
                let index = width_before / TILE_WIDTH;
                changed.insert((level, index), row.clone());
                if (row.len() as u64) < TILE_WIDTH {
                    break;
                }
                hash = perfect_root(row);
                row.clear();
                level += 1;
            }
            self.size += 1;
        }
        changed.into_iter().map(|((level, index), hashes)| Tile { level, index, hashes }).collect()
    }
}

impl NodeSource for RightEdge {
    type Error = super::merkle::MissingNode;

    /// Nodes inside the partial tiles only: enough for the root.
    fn node(&mut self, level: u8, index: u64) -> Result<NodeHash, Self::Error> {
        let missing = super::merkle::MissingNode { level, index };
        let tile_level = level / TILE_HEIGHT;
        let r = level % TILE_HEIGHT;
        let first = index << r;
        if first / TILE_WIDTH != hashes_at(tile_level, self.size) / TILE_WIDTH {
            return Err(missing);
        }
        let offset = (first % TILE_WIDTH) as usize;
        let row = self.partial.get(usize::from(tile_level)).ok_or(missing)?;
        let hashes = row.get(offset..offset + (1usize << r)).ok_or(missing)?;
        Ok(perfect_root(hashes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::merkle::{MemoryTree, inclusion_proof, leaf_hash, root};

    #[test]
    fn paths_match_the_spec_examples() {
        let p = |level, index, width| TilePath { level, index, width };
        assert_eq!(p(Some(0), 1_234_067, 256).to_string(), "tile/0/x001/x234/067");
        assert_eq!(p(Some(1), 5, 7).to_string(), "tile/1/005.p/7");
        assert_eq!(p(None, 0, 256).to_string(), "tile/entries/000");
        for text in ["tile/0/x001/x234/067", "tile/1/005.p/7", "tile/entries/x001/000.p/255"] {
            assert_eq!(TilePath::parse(text).unwrap().to_string(), text);
        }
        for bad in [
            "tile/0/1",
            "tile/8/000",
            "tile/0/x000/001",
            "tile/0/001.p/0",
            "tile/0/001.p/256",
            "tile/0/001.p/07",
            "tile/0/001/002",
            "x",
        ] {
            assert!(TilePath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tiles_from_the_right_edge_give_the_same_proofs_as_the_whole_tree() {
        let mut edge = RightEdge::default();
        let mut tiles: HashMap<(u8, u64), Vec<u8>> = HashMap::new();
        let mut tree = MemoryTree::new();
        let mut batch = Vec::new();
        for i in 0..70_000u32 {
            let h = leaf_hash(&i.to_le_bytes());
            tree.push(h);
            batch.push(h);
            if batch.len() == 997 || i == 69_999 {
                for t in edge.append(batch.drain(..)) {
                    tiles.insert((t.level, t.index), t.to_bytes());
                }
                let size = tree.size();
                assert_eq!(root(&mut edge, size).unwrap(), root(&mut tree, size).unwrap());
            }
        }
        let size = tree.size();
        let mut nodes = TileNodes::new(|l, i| tiles.get(&(l, i)).cloned().ok_or(()));
        for index in [0, 1, 255, 256, 65_535, 65_536, 69_999] {
            assert_eq!(
                inclusion_proof(&mut nodes, index, size).unwrap(),
                inclusion_proof(&mut tree, index, size).unwrap()
            );
        }
        let partial: Vec<Vec<NodeHash>> = (0..=MAX_TILE_LEVEL)
            .map(|l| {
                let w = RightEdge::partial_width(l, size) as usize;
                let idx = hashes_at(l, size) / TILE_WIDTH;
                tiles
                    .get(&(l, idx))
                    .map(|b| b[..w * 32].chunks(32).map(|c| c.try_into().unwrap()).collect())
                    .unwrap_or_default()
            })
            .filter(|v: &Vec<NodeHash>| !v.is_empty())
            .collect();
        let mut reloaded = RightEdge::from_tiles(size, partial).unwrap();
        assert_eq!(root(&mut reloaded, size).unwrap(), root(&mut tree, size).unwrap());
        assert!(RightEdge::from_tiles(size + 1, Vec::new()).is_err());
    }
}
