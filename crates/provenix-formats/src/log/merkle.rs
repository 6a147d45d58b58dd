//! RFC 9162 Merkle tree hashing (section 2.1), with inclusion and consistency
//! proofs: generation from a [`NodeSource`] and verification.
//!
//! ```text
//! MTH({})       = SHA-256()
//! MTH({d0})     = SHA-256(0x00 || d0)                       ; leaf hash
//! MTH(D[n])     = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])) ; k = largest power of 2 < n
//! ```
//!
//! Storage holds only hashes of *perfect* subtrees: node `(level, index)`
//! covers leaves `[index << level, (index + 1) << level)`. Every subtree a
//! proof needs is either perfect or the tree's right edge, whose hash is
//! folded from at most 64 perfect ones ([`range_hash`]), so a proof costs
//! O(log n) node reads (O(log² n) for the right edge's folds, each a hash).
//! Proof generation follows the RFC's recursive definitions (PATH and
//! SUBPROOF) with an explicit loop; verification is the RFC's
//! bit-manipulation algorithm (2.1.3.2, 2.1.4.2).
//!
//! Limits: proofs longer than [`MAX_PROOF_LEN`] hashes are refused (a tree
//! of 2^64 leaves needs at most 64).

use sha2::{Digest as _, Sha256};
use thiserror::Error;

/// A SHA-256 Merkle tree hash.
pub type NodeHash = [u8; 32];

/// Longest inclusion or consistency proof, in hashes.
pub const MAX_PROOF_LEN: usize = 64;

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> NodeHash {
    Sha256::digest(b"").into()
}

/// The leaf hash of an entry: SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> NodeHash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an interior node: SHA-256(0x01 || left || right).
pub fn node_hash(left: &NodeHash, right: &NodeHash) -> NodeHash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of a perfect tree over `hashes` (a power-of-two count, at least one).
pub fn perfect_root(hashes: &[NodeHash]) -> NodeHash {
    let mut level: Vec<NodeHash> = hashes.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| if let [l, r] = p { node_hash(l, r) } else { p.first().copied().unwrap_or_default() })
            .collect();
    }
    level.first().copied().unwrap_or_else(empty_root)
}

/// Where proofs read hashes of perfect subtrees from.
pub trait NodeSource {
    /// The storage's error.
    type Error;
    /// The hash of the perfect subtree over leaves `[index << level, (index + 1) << level)`.
    fn node(&mut self, level: u8, index: u64) -> Result<NodeHash, Self::Error>;
}

/// Errors of proof generation and verification.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProofError<E> {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange {
        /// The index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The old size is larger than the new one.
    #[error("tree size {old} is larger than {new}")]
    SizesOutOfOrder {
        /// The older size.
        old: u64,
        /// The newer size.
        new: u64,
    },
    /// The proof has the wrong number of hashes or longer than [`MAX_PROOF_LEN`].
    #[error("proof has {found} hashes, expected {expected}")]
    WrongLength {
        /// Hashes expected.
        expected: usize,
        /// Hashes found.
        found: usize,
    },
    /// The proof does not lead to the expected root.
    #[error("proof does not match the root hash")]
    RootMismatch,
    /// Reading a node failed.
    #[error("reading the tree failed")]
    Source(#[source] E),
}

/// Largest power of two strictly below `n` (n >= 2).
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// MTH of leaves `[start, end)`, where `start` is a multiple of the smallest
/// power of two >= `end - start` (true of every subtree of the RFC's tree).
pub fn range_hash<S: NodeSource>(src: &mut S, start: u64, end: u64) -> Result<NodeHash, S::Error> {
    if end <= start {
        return Ok(empty_root());
    }
    let mut parts: Vec<NodeHash> = Vec::with_capacity(64);
    let mut at = start;
    let count = end - start;
    for level in (0..64u8).rev() {
        if count >> level & 1 == 1 {
            parts.push(src.node(level, at >> level)?);
            at += 1 << level;
        }
    }
    let mut iter = parts.into_iter().rev();
    let mut acc = iter.next().unwrap_or_else(empty_root);
    for left in iter {
        acc = node_hash(&left, &acc);
    }
    Ok(acc)
}

/// The root hash of the tree of `size` leaves.
pub fn root<S: NodeSource>(src: &mut S, size: u64) -> Result<NodeHash, S::Error> {
    range_hash(src, 0, size)
}

/// The inclusion proof (audit path) of leaf `index` in the tree of `size` leaves, RFC 9162 2.1.3.1.
pub fn inclusion_proof<S: NodeSource>(
    src: &mut S,
    index: u64,
    size: u64,
) -> Result<Vec<NodeHash>, ProofError<S::Error>> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut lo, mut hi) = (0u64, size);
    let mut path = Vec::new();
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            path.push(range_hash(src, lo + k, hi).map_err(ProofError::Source)?);
            hi = lo + k;
        } else {
            path.push(range_hash(src, lo, lo + k).map_err(ProofError::Source)?);
            lo += k;
        }
    }
    path.reverse();
    Ok(path)
}

/// The consistency proof between tree sizes `old` and `new`, RFC 9162 2.1.4.1.
/// Empty when `old` is 0 or equal to `new`.
pub fn consistency_proof<S: NodeSource>(
    src: &mut S,
    old: u64,
    new: u64,
) -> Result<Vec<NodeHash>, ProofError<S::Error>> {
    if old > new {
        return Err(ProofError::SizesOutOfOrder { old, new });
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    let (mut lo, mut hi, mut complete) = (0u64, new, true);
    let mut path = Vec::new();
    // `old` stays absolute: the old tree covers leaves [0, old).
    while old != hi {
        let k = split_point(hi - lo);
        if old <= lo + k {
            path.push(range_hash(src, lo + k, hi).map_err(ProofError::Source)?);
            hi = lo + k;
        } else {
            path.push(range_hash(src, lo, lo + k).map_err(ProofError::Source)?);
            lo += k;
            complete = false;
        }
    }
    if !complete {
        path.push(range_hash(src, lo, hi).map_err(ProofError::Source)?);
    }
    path.reverse();
    Ok(path)
}

/// Checks an inclusion proof, RFC 9162 2.1.3.2.
pub fn verify_inclusion(
    leaf: &NodeHash,
    index: u64,
    size: u64,
    proof: &[NodeHash],
    root: &NodeHash,
) -> Result<(), ProofError<std::convert::Infallible>> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    if proof.len() > MAX_PROOF_LEN {
        return Err(ProofError::WrongLength { expected: MAX_PROOF_LEN, found: proof.len() });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(ProofError::RootMismatch);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode == 0 && r == *root { Ok(()) } else { Err(ProofError::RootMismatch) }
}

/// Checks a consistency proof between an old and a new tree, RFC 9162 2.1.4.2.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &NodeHash,
    new_root: &NodeHash,
    proof: &[NodeHash],
) -> Result<(), ProofError<std::convert::Infallible>> {
    if old_size > new_size {
        return Err(ProofError::SizesOutOfOrder { old: old_size, new: new_size });
    }
    if proof.len() > MAX_PROOF_LEN {
        return Err(ProofError::WrongLength { expected: MAX_PROOF_LEN, found: proof.len() });
    }
    if old_size == new_size || old_size == 0 {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength { expected: 0, found: proof.len() });
        }
        let ok = old_size == 0 && *old_root == empty_root() || old_size != 0 && old_root == new_root;
        return if ok { Ok(()) } else { Err(ProofError::RootMismatch) };
    }
    let Some((first, rest)) = proof.split_first() else {
        return Err(ProofError::WrongLength { expected: 1, found: 0 });
    };
    let mut path: Vec<&NodeHash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(old_root);
        path.push(first);
    } else {
        path.push(first);
    }
    path.extend(rest);
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let mut iter = path.into_iter();
    let start = *iter.next().unwrap_or(old_root);
    let (mut fr, mut sr) = (start, start);
    for c in iter {
        if snode == 0 {
            return Err(ProofError::RootMismatch);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if fr == *old_root && sr == *new_root && snode == 0 { Ok(()) } else { Err(ProofError::RootMismatch) }
}

/// Leaf hashes held in memory as a [`NodeSource`] (tests and small trees):
/// node hashes are computed on demand.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    /// Hashes per level; `levels[0]` are the leaf hashes.
    levels: Vec<Vec<NodeHash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> MemoryTree {
        MemoryTree { levels: vec![Vec::new()] }
    }

    /// Appends a leaf hash, completing every perfect subtree it closes.
    pub fn push(&mut self, leaf: NodeHash) {
        let mut hash = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            let Some(row) = self.levels.get_mut(level) else { return };
            row.push(hash);
            if row.len() % 2 == 1 {
                return;
            }
            let (Some(r), Some(l)) = (row.last(), row.iter().rev().nth(1)) else { return };
            hash = node_hash(l, r);
            level += 1;
        }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }
}

/// A node that the tree does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("no node at level {level} index {index}")]
pub struct MissingNode {
    /// The level.
    pub level: u8,
    /// The index.
    pub index: u64,
}

impl NodeSource for MemoryTree {
    type Error = MissingNode;
    fn node(&mut self, level: u8, index: u64) -> Result<NodeHash, MissingNode> {
        self.levels
            .get(usize::from(level))
            .and_then(|row| row.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(MissingNode { level, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_proof_of_small_trees_verifies_and_a_flipped_bit_does_not() {
        let mut tree = MemoryTree::new();
        let mut roots = vec![empty_root()];
        for i in 0..40u32 {
            tree.push(leaf_hash(&i.to_be_bytes()));
            let size = tree.size();
            roots.push(root(&mut tree, size).unwrap());
        }
        for size in 1..=40u64 {
            let r = roots[size as usize];
            for index in 0..size {
                let proof = inclusion_proof(&mut tree, index, size).unwrap();
                let leaf = leaf_hash(&(index as u32).to_be_bytes());
                verify_inclusion(&leaf, index, size, &proof, &r).unwrap();
                if let Some(first) = proof.first() {
                    let mut bad = proof.clone();
                    bad[0] = {
                        let mut h = *first;
                        h[0] ^= 1;
                        h
                    };
                    assert!(verify_inclusion(&leaf, index, size, &bad, &r).is_err());
                }
                let other = leaf_hash(&(index as u32 + 1).to_be_bytes());
                assert!(verify_inclusion(&other, index, size, &proof, &r).is_err());
                if size > 1 {
                    assert!(verify_inclusion(&leaf, index ^ 1, size.max((index ^ 1) + 1), &proof, &r).is_err());
                }
            }
            for old in 0..=size {
                let proof = consistency_proof(&mut tree, old, size).unwrap();
                verify_consistency(old, size, &roots[old as usize], &r, &proof).unwrap();
                if old > 0 && old < size {
                    assert!(verify_consistency(old, size, &roots[old as usize - 1], &r, &proof).is_err());
                    assert!(verify_consistency(old, size, &roots[old as usize], &r, &proof[1..]).is_err());
                }
            }
        }
        assert!(matches!(inclusion_proof(&mut tree, 40, 40), Err(ProofError::IndexOutOfRange { .. })));
        assert!(matches!(consistency_proof(&mut tree, 5, 4), Err(ProofError::SizesOutOfOrder { .. })));
    }
}
