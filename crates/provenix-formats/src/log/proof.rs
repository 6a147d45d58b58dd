//! The JSON form of the log's proofs and receipts, as the server sends them.
//!
//! ```json
//! {"leafIndex": 3, "treeSize": 8, "hashes": ["<base64 32 bytes>", ...]}          // inclusion
//! {"oldSize": 4, "newSize": 8, "hashes": ["<base64>", ...]}                     // consistency
//! {"index": 3, "checkpoint": "<signed note>", "inclusion": {inclusion proof}}    // receipt
//! ```
//!
//! Unknown fields are refused; at most [`MAX_PROOF_LEN`] hashes, each
//! canonical base64 of 32 bytes. A [`Receipt`] is what a builder keeps: with
//! the entry's bytes and the log's public key, [`Receipt::verify`] shows the
//! entry is in the log at that index, under a checkpoint the log signed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::checkpoint::{Checkpoint, CheckpointError, verify_checkpoint};
use super::merkle::{MAX_PROOF_LEN, NodeHash, ProofError, leaf_hash, verify_inclusion};
use crate::signature::PublicKey;

/// Largest proof or receipt JSON accepted, in bytes.
pub const MAX_PROOF_JSON_LEN: usize = 128 * 1024;

/// Errors from parsing or checking a proof or receipt.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ProofJsonError {
    /// Longer than [`MAX_PROOF_JSON_LEN`].
    #[error("proof JSON of {len} bytes is longer than {MAX_PROOF_JSON_LEN}")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// Not the JSON shape of a proof.
    #[error("invalid proof JSON")]
    Json(#[source] serde_json::Error),
    /// A hash is not base64 of 32 bytes, or too many.
    #[error("hash {position} of the proof is not base64 of 32 bytes")]
    BadHash {
        /// Its position, from 0.
        position: usize,
    },
    /// More than [`MAX_PROOF_LEN`] hashes.
    #[error("proof has {len} hashes, at most {MAX_PROOF_LEN} allowed")]
    TooManyHashes {
        /// How many.
        len: usize,
    },
    /// The checkpoint does not verify.
    #[error("receipt checkpoint")]
    Checkpoint(#[from] CheckpointError),
    /// The proof's tree size or index disagrees with the receipt.
    #[error(
        "receipt proof is for index {index} in size {size}, receipt says index {claimed} under checkpoint size {checkpoint}"
    )]
    Mismatch {
        /// Proof index.
        index: u64,
        /// Proof tree size.
        size: u64,
        /// Receipt index.
        claimed: u64,
        /// Checkpoint size.
        checkpoint: u64,
    },
    /// The inclusion proof does not lead to the checkpoint's root.
    #[error("inclusion proof")]
    Proof(#[source] ProofError<std::convert::Infallible>),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct InclusionJson {
    leaf_index: u64,
    tree_size: u64,
    hashes: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConsistencyJson {
    old_size: u64,
    new_size: u64,
    hashes: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ReceiptJson {
    index: u64,
    checkpoint: String,
    inclusion: InclusionJson,
}

/// An inclusion proof of one leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The leaf's index.
    pub leaf_index: u64,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// The audit path, bottom up.
    pub hashes: Vec<NodeHash>,
}

/// A consistency proof between two tree sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// The older size.
    pub old_size: u64,
    /// The newer size.
    pub new_size: u64,
    /// The proof hashes.
    pub hashes: Vec<NodeHash>,
}

/// What a submitter gets back: its index and a proof under a signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The entry's index.
    pub index: u64,
    /// The signed checkpoint note.
    pub checkpoint: String,
    /// The entry's inclusion proof in the checkpoint's tree.
    pub inclusion: InclusionProof,
}

fn check_len(json: &[u8]) -> Result<(), ProofJsonError> {
    if json.len() > MAX_PROOF_JSON_LEN {
        return Err(ProofJsonError::TooLong { len: json.len() });
    }
    Ok(())
}

fn decode_hashes(hashes: &[String]) -> Result<Vec<NodeHash>, ProofJsonError> {
    if hashes.len() > MAX_PROOF_LEN {
        return Err(ProofJsonError::TooManyHashes { len: hashes.len() });
    }
    hashes
        .iter()
        .enumerate()
        .map(|(position, h)| {
            STANDARD
                .decode(h)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .filter(|b| STANDARD.encode(b) == *h)
                .ok_or(ProofJsonError::BadHash { position })
        })
        .collect()
}

fn encode_hashes(hashes: &[NodeHash]) -> Vec<String> {
    hashes.iter().map(|h| STANDARD.encode(h)).collect()
}

impl InclusionProof {
    fn to_json_value(&self) -> InclusionJson {
        InclusionJson { leaf_index: self.leaf_index, tree_size: self.tree_size, hashes: encode_hashes(&self.hashes) }
    }

    fn from_json_value(j: InclusionJson) -> Result<InclusionProof, ProofJsonError> {
        Ok(InclusionProof { leaf_index: j.leaf_index, tree_size: j.tree_size, hashes: decode_hashes(&j.hashes)? })
    }

    /// Parses the JSON form.
    pub fn parse(json: &[u8]) -> Result<InclusionProof, ProofJsonError> {
        check_len(json)?;
        Self::from_json_value(serde_json::from_slice(json).map_err(ProofJsonError::Json)?)
    }

    /// The JSON form.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.to_json_value()).unwrap_or_default()
    }

    /// Checks that the leaf `entry` is in the tree with `root`.
    pub fn verify(&self, entry: &[u8], root: &NodeHash) -> Result<(), ProofJsonError> {
        verify_inclusion(&leaf_hash(entry), self.leaf_index, self.tree_size, &self.hashes, root)
            .map_err(ProofJsonError::Proof)
    }
}

impl ConsistencyProof {
    /// Parses the JSON form.
    pub fn parse(json: &[u8]) -> Result<ConsistencyProof, ProofJsonError> {
        check_len(json)?;
        let j: ConsistencyJson = serde_json::from_slice(json).map_err(ProofJsonError::Json)?;
        Ok(ConsistencyProof { old_size: j.old_size, new_size: j.new_size, hashes: decode_hashes(&j.hashes)? })
    }

    /// The JSON form.
    pub fn to_json(&self) -> serde_json::Value {
        let j =
            ConsistencyJson { old_size: self.old_size, new_size: self.new_size, hashes: encode_hashes(&self.hashes) };
        serde_json::to_value(j).unwrap_or_default()
    }
}

impl Receipt {
    /// Parses the JSON form.
    pub fn parse(json: &[u8]) -> Result<Receipt, ProofJsonError> {
        check_len(json)?;
        let j: ReceiptJson = serde_json::from_slice(json).map_err(ProofJsonError::Json)?;
        Ok(Receipt {
            index: j.index,
            checkpoint: j.checkpoint,
            inclusion: InclusionProof::from_json_value(j.inclusion)?,
        })
    }

    /// The JSON form.
    pub fn to_json(&self) -> serde_json::Value {
        let j = ReceiptJson {
            index: self.index,
            checkpoint: self.checkpoint.clone(),
            inclusion: self.inclusion.to_json_value(),
        };
        serde_json::to_value(j).unwrap_or_default()
    }

    /// Checks the checkpoint's signature by the log key and origin, and that
    /// `entry` is at `index` in its tree. Returns the checkpoint.
    pub fn verify(&self, entry: &[u8], log_key: &PublicKey, origin: &str) -> Result<Checkpoint, ProofJsonError> {
        let checkpoint = verify_checkpoint(self.checkpoint.as_bytes(), log_key, origin)?;
        if self.inclusion.leaf_index != self.index || self.inclusion.tree_size != checkpoint.size {
            return Err(ProofJsonError::Mismatch {
                index: self.inclusion.leaf_index,
                size: self.inclusion.tree_size,
                claimed: self.index,
                checkpoint: checkpoint.size,
            });
        }
        self.inclusion.verify(entry, &checkpoint.root)?;
        Ok(checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::merkle::{MemoryTree, inclusion_proof, root};
    use crate::signature::SecretKey;

    #[test]
    fn a_receipt_round_trips_and_verifies_and_names_a_wrong_entry() {
        let key = SecretKey::from_seed("log", [1; 32]).unwrap();
        let mut tree = MemoryTree::new();
        for i in 0..5u8 {
            tree.push(leaf_hash(&[i]));
        }
        let cp = Checkpoint { origin: "log".into(), size: 5, root: root(&mut tree, 5).unwrap(), extensions: vec![] };
        let receipt = Receipt {
            index: 3,
            checkpoint: String::from_utf8(cp.sign(&key).unwrap()).unwrap(),
            inclusion: InclusionProof {
                leaf_index: 3,
                tree_size: 5,
                hashes: inclusion_proof(&mut tree, 3, 5).unwrap(),
            },
        };
        let json = serde_json::to_vec(&receipt.to_json()).unwrap();
        let parsed = Receipt::parse(&json).unwrap();
        assert_eq!(parsed, receipt);
        parsed.verify(&[3], &key.to_public(), "log").unwrap();
        assert!(matches!(parsed.verify(&[4], &key.to_public(), "log"), Err(ProofJsonError::Proof(_))));
        assert!(InclusionProof::parse(br#"{"leafIndex":0,"treeSize":1,"hashes":["AA=="]}"#).is_err());
        assert!(InclusionProof::parse(br#"{"leafIndex":0,"treeSize":1,"hashes":[],"x":1}"#).is_err());
    }
}
