//! Merkle proofs checked by an independent implementation written here from
//! the recursive definitions of RFC 9162 section 2.1 (MTH, PATH, PROOF and
//! SUBPROOF over the list of entries itself), on the RFC 6962 reference
//! leaves of the certificate-transparency test vectors, and on larger trees.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use provenix_formats::log::merkle::{
    MemoryTree, consistency_proof, inclusion_proof, leaf_hash, root, verify_consistency, verify_inclusion,
};
use sha2::{Digest, Sha256};

fn h(parts: &[&[u8]]) -> [u8; 32] {
    let mut s = Sha256::new();
    for p in parts {
        s.update(p);
    }
    s.finalize().into()
}

/// k: the largest power of two smaller than n (n > 1).
fn k_of(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn mth(d: &[Vec<u8>]) -> [u8; 32] {
    match d.len() {
        0 => h(&[]),
        1 => h(&[&[0], &d[0]]),
        n => {
            let k = k_of(n);
            h(&[&[1], &mth(&d[..k]), &mth(&d[k..])])
        }
    }
}

fn path(m: usize, d: &[Vec<u8>]) -> Vec<[u8; 32]> {
    let n = d.len();
    if n == 1 {
        return vec![];
    }
    let k = k_of(n);
    if m < k {
        let mut p = path(m, &d[..k]);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = path(m - k, &d[k..]);
        p.push(mth(&d[..k]));
        p
    }
}

fn subproof(m: usize, d: &[Vec<u8>], b: bool) -> Vec<[u8; 32]> {
    let n = d.len();
    if m == n {
        return if b { vec![] } else { vec![mth(d)] };
    }
    let k = k_of(n);
    if m <= k {
        let mut p = subproof(m, &d[..k], b);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = subproof(m - k, &d[k..], false);
        p.push(mth(&d[..k]));
        p
    }
}

fn proof(m: usize, d: &[Vec<u8>]) -> Vec<[u8; 32]> {
    if m == 0 || m == d.len() { vec![] } else { subproof(m, d, true) }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// The eight leaves of the RFC 6962 reference vectors (certificate-transparency's merkle tree tests).
fn reference_leaves() -> Vec<Vec<u8>> {
    ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
        .iter()
        .map(|s| hex(s))
        .collect()
}

fn tree_of(d: &[Vec<u8>]) -> MemoryTree {
    let mut t = MemoryTree::new();
    for e in d {
        t.push(leaf_hash(e));
    }
    t
}

#[test]
fn roots_of_the_reference_leaves_match_the_published_vectors() {
    let expected = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let leaves = reference_leaves();
    let mut tree = tree_of(&leaves);
    for (i, want) in expected.iter().enumerate() {
        let n = i + 1;
        assert_eq!(mth(&leaves[..n]).to_vec(), hex(want), "independent MTH of {n} leaves");
        assert_eq!(root(&mut tree, n as u64).unwrap().to_vec(), hex(want), "provenix root of {n} leaves");
    }
}

#[test]
fn proofs_equal_the_rfc_definitions_and_verify_both_ways() {
    let leaves: Vec<Vec<u8>> = (0..40u32).map(|i| i.to_be_bytes().repeat((i % 3) as usize)).collect();
    let mut tree = tree_of(&leaves);
    for n in 1..=leaves.len() {
        let d = &leaves[..n];
        let r = mth(d);
        for m in 0..n {
            let ours = inclusion_proof(&mut tree, m as u64, n as u64).unwrap();
            assert_eq!(ours, path(m, d), "PATH({m}, D[{n}])");
            verify_inclusion(&leaf_hash(&d[m]), m as u64, n as u64, &path(m, d), &r).unwrap();
        }
        for m in 0..=n {
            let ours = consistency_proof(&mut tree, m as u64, n as u64).unwrap();
            assert_eq!(ours, proof(m, d), "PROOF({m}, D[{n}])");
            verify_consistency(m as u64, n as u64, &mth(&d[..m]), &r, &proof(m, d)).unwrap();
            // A corrupted proof or a wrong old root is refused.
            if let Some(first) = proof(m, d).first() {
                let mut bad = proof(m, d);
                bad[0] = h(&[first]);
                assert!(verify_consistency(m as u64, n as u64, &mth(&d[..m]), &r, &bad).is_err());
                assert!(verify_consistency(m as u64, n as u64, &h(&[b"x"]), &r, &proof(m, d)).is_err());
            }
        }
    }
}
