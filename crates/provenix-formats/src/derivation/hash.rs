//! Hash modulo, output paths and `.drv` paths, as Nix 2.8 computes them.
//!
//! Hash modulo (Nix's `hashDerivationModulo`) gives every derivation a
//! sha256 that ignores how fixed-output inputs were fetched:
//!
//! - fixed-output: `sha256("fixed:out:<prefix><algo>:<base16>:<out path>")`,
//!   with the path computed from the hash and the derivation's name (the
//!   recorded path is not trusted, as in Nix);
//! - impure: `sha256("impure")`, deferred;
//! - otherwise: sha256 of the ATerm with each input derivation replaced by the
//!   base16 of its own hash modulo. The replaced inputs are re-sorted by that
//!   string, and two inputs with the same hash modulo (two fetches of the same
//!   content) merge into one entry whose output names are the union; an input
//!   used with no outputs disappears. The result is deferred if the
//!   derivation is floating or any input is deferred.
//!
//! Output paths of an input-addressed derivation use the hash modulo of the
//! *masked* derivation: output paths and the env vars named after outputs
//! written empty, which is the form Nix hashes at instantiation time.
//!
//! Cost: one pass over the derivation's bytes per call, streamed into the
//! hasher; inputs come from a caller-supplied lookup, so a graph is hashed in
//! O(V + E) when the caller memoises in topological order.

use std::collections::{BTreeMap, BTreeSet};

use super::write::{Inputs, write_aterm};
use super::{Derivation, DerivationError, DerivationKind, Output, OutputName, method_prefix};
use crate::hash::{Hash, HashAlgo, Hasher};
use crate::store_path::{StoreDir, StorePath, output_path_name};

/// A derivation's hash modulo and whether it is deferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HashModulo {
    hash: Hash,
    deferred: bool,
}

impl HashModulo {
    /// The sha256 (the same for every output in Nix 2.8).
    pub fn hash(&self) -> &Hash {
        &self.hash
    }

    /// True if output paths depend on a floating or impure derivation
    /// (Nix's `DrvHash::Kind::Deferred`).
    pub fn is_deferred(&self) -> bool {
        self.deferred
    }
}

impl Derivation {
    /// Nix's `hashDerivationModulo`. `drv_name` is the derivation's name (see
    /// [`super::drv_name`]); `input` returns each input derivation with its
    /// own (unmasked) hash modulo. With `mask_outputs` the output paths and
    /// the env vars named after outputs are hashed empty.
    pub fn hash_modulo<'a>(
        &self,
        drv_name: &str,
        store_dir: &StoreDir,
        mask_outputs: bool,
        mut input: impl FnMut(&StorePath) -> Option<(&'a Derivation, HashModulo)>,
    ) -> Result<HashModulo, DerivationError> {
        match self.kind() {
            DerivationKind::Fixed => return self.fixed_hash_modulo(drv_name, store_dir),
            DerivationKind::Impure => {
                return Ok(HashModulo { hash: Hash::compute(HashAlgo::Sha256, b"impure"), deferred: true });
            }
            DerivationKind::InputAddressed | DerivationKind::Deferred | DerivationKind::Floating => {}
        }
        let mut deferred = self.kind() == DerivationKind::Floating;
        let mut replaced: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
        for (path, outputs) in self.input_drvs() {
            let (input_drv, modulo) =
                input(path).ok_or_else(|| DerivationError::MissingInput { path: path.clone() })?;
            deferred |= modulo.deferred;
            for output in outputs {
                if !input_drv.outputs().contains_key(output) {
                    return Err(DerivationError::MissingInputOutput { path: path.clone(), output: output.clone() });
                }
                replaced.entry(modulo.hash.to_base16()).or_default().insert(output.as_str());
            }
        }
        let mut hasher = Hasher::new(HashAlgo::Sha256);
        write_aterm(&mut hasher, self, store_dir, mask_outputs, Inputs::Replaced(&replaced));
        Ok(HashModulo { hash: hasher.finish(), deferred })
    }

    fn fixed_hash_modulo(&self, drv_name: &str, store_dir: &StoreDir) -> Result<HashModulo, DerivationError> {
        let mut hasher = Hasher::new(HashAlgo::Sha256);
        for (name, output) in self.outputs() {
            if let Output::Fixed { method, hash, .. } = output {
                let path = fixed_path(store_dir, drv_name, name, output)?;
                hasher.update(b"fixed:out:");
                hasher.update(method_prefix(*method).as_bytes());
                hasher.update(hash.algo().name().as_bytes());
                hasher.update(b":");
                hasher.update(hash.to_base16().as_bytes());
                hasher.update(b":");
                hasher.update(store_dir.display(&path).as_bytes());
            }
        }
        Ok(HashModulo { hash: hasher.finish(), deferred: false })
    }

    /// Recomputes every output path the way Nix does at instantiation time;
    /// `None` for outputs whose path is not known before building (floating,
    /// impure, deferred). `input` is as for [`Derivation::hash_modulo`].
    pub fn compute_output_paths<'a>(
        &self,
        drv_name: &str,
        store_dir: &StoreDir,
        input: impl FnMut(&StorePath) -> Option<(&'a Derivation, HashModulo)>,
    ) -> Result<BTreeMap<OutputName, Option<StorePath>>, DerivationError> {
        let masked = match self.kind() {
            DerivationKind::InputAddressed | DerivationKind::Deferred => {
                Some(self.hash_modulo(drv_name, store_dir, true, input)?).filter(|m| !m.deferred)
            }
            DerivationKind::Fixed | DerivationKind::Floating | DerivationKind::Impure => None,
        };
        let mut paths = BTreeMap::new();
        for (name, output) in self.outputs() {
            let path = match (output, &masked) {
                (Output::Fixed { .. }, _) => Some(fixed_path(store_dir, drv_name, name, output)?),
                (Output::InputAddressed { .. } | Output::Deferred, Some(m)) => Some(
                    store_dir
                        .make_output_path(name.as_str(), &m.hash, drv_name)
                        .map_err(|source| DerivationError::ComputePath { what: format!("output {name}"), source })?,
                ),
                _ => None,
            };
            paths.insert(name.clone(), path);
        }
        Ok(paths)
    }

    /// The `.drv` path Nix gives this derivation: the text path of its bytes
    /// named `<drv_name>.drv`, referring to its input sources and derivations.
    pub fn compute_drv_path(&self, drv_name: &str, store_dir: &StoreDir) -> Result<StorePath, DerivationError> {
        let mut hasher = Hasher::new(HashAlgo::Sha256);
        write_aterm(&mut hasher, self, store_dir, false, Inputs::Paths);
        drv_path_of(store_dir, drv_name, &hasher.finish(), self.references())
    }
}

/// The `.drv` path for a file with sha256 `content_hash` and these references
/// (Nix's `writeDerivation`, which calls `makeTextPath`).
pub fn drv_path_of<'a>(
    store_dir: &StoreDir,
    drv_name: &str,
    content_hash: &Hash,
    references: impl Iterator<Item = &'a StorePath>,
) -> Result<StorePath, DerivationError> {
    let references: Vec<StorePath> = references.cloned().collect();
    store_dir
        .make_text_path(&format!("{drv_name}.drv"), content_hash, &references)
        .map_err(|source| DerivationError::ComputePath { what: "the .drv file".to_owned(), source })
}

/// The path of a fixed output, from its hash and the derivation name.
fn fixed_path(
    store_dir: &StoreDir,
    drv_name: &str,
    name: &OutputName,
    output: &Output,
) -> Result<StorePath, DerivationError> {
    let Output::Fixed { method, hash, .. } = output else {
        return Err(DerivationError::Invalid { problem: "not a fixed output" });
    };
    store_dir
        .make_fixed_output_path(*method, hash, &output_path_name(drv_name, name.as_str()), &[], false)
        .map_err(|source| DerivationError::ComputePath { what: format!("output {name}"), source })
}
