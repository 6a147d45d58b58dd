//! Binary-cache `.narinfo` files: what a cache says about one store path,
//! and the fingerprint its signatures cover.
//!
//! ```text
//! narinfo = *( key ": " value "\n" )          ; every line ends in "\n", no blank lines
//! key     = 1*( %x21-39 / %x3B-7E )           ; printable ASCII without ":"
//! value   = *( any UTF-8 but "\n" )
//! ```
//!
//! Known keys, in the order Nix 2.8 writes them (`nix copy --to file://...`):
//!
//! | key | value | required |
//! |---|---|---|
//! | `StorePath` | full store path, in the given store directory | yes |
//! | `URL` | where the (compressed) NAR is, relative to the cache; non-empty | yes |
//! | `Compression` | `xz`, `none`, `bzip2`, `zstd`, ...; missing or empty means `bzip2` | no |
//! | `FileHash` | `algo:hash` of the compressed file, any form [`Hash::parse`] takes | no |
//! | `FileSize` | decimal size of the compressed file | no |
//! | `NarHash` | `sha256:hash` of the NAR | yes |
//! | `NarSize` | decimal NAR size, not 0 | yes |
//! | `References` | space-separated base names `<hash>-<name>`, possibly none | no |
//! | `Deriver` | base name of the `.drv`, or `unknown-deriver` | no |
//! | `System` | platform of the deriver, e.g. `x86_64-linux` | no |
//! | `Sig` | a [`Signature`], one per line, repeatable | no |
//! | `CA` | `text:sha256:...` or `fixed:[r:]algo:...` | no |
//!
//! The fingerprint signatures cover is
//! `1;<store path>;sha256:<narHash in nixbase32>;<narSize>;<references>`,
//! with references as full store paths, sorted, without duplicates, joined
//! by `,` (Nix's `ValidPathInfo::fingerprint`). The narHash is rendered in
//! nixbase32 whatever form the file used.
//!
//! Limits: at most [`MAX_SIGNATURES`] `Sig` lines, [`MAX_REFERENCES`]
//! references and [`MAX_UNKNOWN_FIELDS`] unknown fields. Other memory is the
//! parsed store paths, linear in the input; values borrow from the input.
//!
//! Rendering ([`fmt::Display`], [`NarInfo::write_to`]) writes the known
//! fields in Nix's order, each with the exact text it was parsed from, then
//! the unknown fields in input order. So a file written by Nix re-renders
//! byte for byte, and any accepted file re-parses to an equal value.
//!
//! Quirks of Nix 2.8 and how we treat them:
//!
//! - Nix writes `References: ` with a trailing space when there are none. Kept.
//! - Nix ignores unknown keys. We keep them ([`NarInfo::unknown_fields`]) and
//!   write them after the known ones.
//! - Nix takes the value two bytes after the first `:` without checking the
//!   space, and reads a line without `:` into the next one. We require `": "`.
//! - A repeated field: Nix keeps the last one, except that a second
//!   non-empty `References` or second `CA` is an error. We refuse every
//!   repeated field but `Sig`, naming both lines. (Both laxities are shown
//!   against Nix in `tests/nix_narinfo.rs`.)
//! - Nix parses `NarHash` with any algorithm, but can only import a path
//!   whose NAR hash is sha256. We refuse other algorithms.
//! - `Deriver: unknown-deriver` means none; Nix then omits the line when it
//!   rewrites the file. We keep the line.
//! - Nix keeps signatures in a set, sorted and deduplicated. We keep them
//!   in input order; [`TrustedKeys::verify`] counts distinct trusted keys.
//! - Nix trusts a content-addressed path (`CA` that matches the path)
//!   without any signature when copying (shown in `tests/nix_narinfo.rs`).
//!   This module only checks signatures; that policy belongs to the caller.
//! - `nix copy` in 2.8 writes no `System` line (Hydra-made caches do); we
//!   keep it when present.

use std::fmt;

use thiserror::Error;

use crate::hash::{Hash, HashAlgo, HashError};
use crate::signature::SecretKey;
use crate::signature::{Signature, SignatureError, SignatureFinding, SignatureRejection, TrustedKeys, Verified};
use crate::store_path::{ContentAddressMethod, StoreDir, StorePath, StorePathError};

/// Most `Sig` lines in one narinfo.
pub const MAX_SIGNATURES: usize = 64;
/// Most references in one narinfo.
pub const MAX_REFERENCES: usize = 65_536;
/// Most fields with keys this module does not know.
pub const MAX_UNKNOWN_FIELDS: usize = 64;

/// Longest value quoted in an error message.
const QUOTE_LEN: usize = 64;

/// Errors from parsing a narinfo. Lines count from 1.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NarInfoError {
    /// The last line has no `\n`.
    #[error("line {line}: missing newline at end of file")]
    MissingNewline {
        /// The unterminated line.
        line: usize,
    },
    /// A line is not valid UTF-8.
    #[error("line {line}: not valid UTF-8")]
    NotUtf8 {
        /// The line.
        line: usize,
    },
    /// A line is not `Key: value`.
    #[error("line {line}: expected `Key: value`")]
    BadLine {
        /// The line.
        line: usize,
    },
    /// A field other than `Sig` appears twice.
    #[error("line {line}: field `{field}` appears twice (first on line {first})")]
    DuplicateField {
        /// The second occurrence.
        line: usize,
        /// The first occurrence.
        first: usize,
        /// The field's key.
        field: &'static str,
    },
    /// A required field is absent.
    #[error("required field `{field}` is missing")]
    MissingField {
        /// The field's key.
        field: &'static str,
    },
    /// `StorePath` is not a store path in the expected store directory.
    #[error("line {line}: invalid StorePath")]
    StorePath {
        /// The line.
        line: usize,
        /// Why.
        #[source]
        source: StorePathError,
    },
    /// An entry of `References` is not a store path base name.
    #[error("line {line}: invalid reference")]
    Reference {
        /// The line.
        line: usize,
        /// Why.
        #[source]
        source: StorePathError,
    },
    /// `Deriver` is not a store path base name.
    #[error("line {line}: invalid Deriver")]
    Deriver {
        /// The line.
        line: usize,
        /// Why.
        #[source]
        source: StorePathError,
    },
    /// A hash field does not parse.
    #[error("line {line}: invalid {field}")]
    Hash {
        /// The line.
        line: usize,
        /// The field's key.
        field: &'static str,
        /// Why.
        #[source]
        source: HashError,
    },
    /// `NarHash` uses another algorithm than sha256.
    #[error("line {line}: NarHash must be sha256, found {algo}")]
    NarHashAlgo {
        /// The line.
        line: usize,
        /// The algorithm found.
        algo: HashAlgo,
    },
    /// A size is not a decimal 64-bit number.
    #[error("line {line}: {field} `{found}` is not a decimal number below 2^64")]
    Size {
        /// The line.
        line: usize,
        /// The field's key.
        field: &'static str,
        /// The value (at most 64 bytes of it).
        found: String,
    },
    /// `NarSize` is 0, which Nix refuses.
    #[error("line {line}: NarSize must not be 0")]
    ZeroNarSize {
        /// The line.
        line: usize,
    },
    /// `URL` is empty.
    #[error("line {line}: URL is empty")]
    EmptyUrl {
        /// The line.
        line: usize,
    },
    /// A `Sig` line does not parse.
    #[error("line {line}: invalid Sig")]
    Signature {
        /// The line.
        line: usize,
        /// Why.
        #[source]
        source: SignatureError,
    },
    /// `CA` is not `text:<hash>` or `fixed:[r:]<hash>`.
    #[error("line {line}: invalid CA `{found}`")]
    ContentAddress {
        /// The line.
        line: usize,
        /// The value (at most 64 bytes of it).
        found: String,
    },
    /// More than a limit allows.
    #[error("line {line}: more than {max} {what}")]
    TooMany {
        /// The line where the limit was passed (0 when adding a signature).
        line: usize,
        /// What is counted.
        what: &'static str,
        /// The limit.
        max: usize,
    },
}

/// A content address (`CA:` field): how the path's hash was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentAddress {
    /// `text`, `fixed` flat, or `fixed` recursive (`r:`).
    pub method: ContentAddressMethod,
    /// The content hash.
    pub hash: Hash,
}

impl ContentAddress {
    /// Parses `text:sha256:<hash>` or `fixed:[r:]<algo>:<hash>` (any hash form
    /// with an algorithm prefix, as Nix 2.8's `parseContentAddress`).
    pub fn parse(text: &str) -> Option<ContentAddress> {
        let (method, hash) = if let Some(rest) = text.strip_prefix("text:") {
            (ContentAddressMethod::Text, rest)
        } else if let Some(rest) = text.strip_prefix("fixed:r:") {
            (ContentAddressMethod::Recursive, rest)
        } else {
            (ContentAddressMethod::Flat, text.strip_prefix("fixed:")?)
        };
        let hash = Hash::parse(hash, None).ok()?;
        if method == ContentAddressMethod::Text && hash.algo() != HashAlgo::Sha256 {
            return None;
        }
        Some(ContentAddress { method, hash })
    }
}

impl fmt::Display for ContentAddress {
    /// Nix's rendering: the hash as `algo:nixbase32`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match self.method {
            ContentAddressMethod::Text => "text:",
            ContentAddressMethod::Flat => "fixed:",
            ContentAddressMethod::Recursive => "fixed:r:",
        };
        write!(f, "{prefix}{}", self.hash.to_prefixed_nixbase32())
    }
}

/// A parsed value with the text it came from, so rendering is faithful.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Raw<'a, T> {
    text: &'a str,
    value: T,
}

/// A narinfo file, borrowing its text values from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NarInfo<'a> {
    store_path: Raw<'a, StorePath>,
    url: &'a str,
    compression: Option<&'a str>,
    file_hash: Option<Raw<'a, Hash>>,
    file_size: Option<Raw<'a, u64>>,
    nar_hash: Raw<'a, Hash>,
    nar_size: Raw<'a, u64>,
    references: Option<Raw<'a, Vec<StorePath>>>,
    deriver: Option<Raw<'a, Option<StorePath>>>,
    system: Option<&'a str>,
    signatures: Vec<Signature>,
    ca: Option<Raw<'a, ContentAddress>>,
    unknown: Vec<(&'a str, &'a str)>,
}

/// The known keys, in Nix's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    StorePath,
    Url,
    Compression,
    FileHash,
    FileSize,
    NarHash,
    NarSize,
    References,
    Deriver,
    System,
    Sig,
    Ca,
}

impl Key {
    const ALL: [Key; 12] = [
        Key::StorePath,
        Key::Url,
        Key::Compression,
        Key::FileHash,
        Key::FileSize,
        Key::NarHash,
        Key::NarSize,
        Key::References,
        Key::Deriver,
        Key::System,
        Key::Sig,
        Key::Ca,
    ];

    const fn name(self) -> &'static str {
        match self {
            Key::StorePath => "StorePath",
            Key::Url => "URL",
            Key::Compression => "Compression",
            Key::FileHash => "FileHash",
            Key::FileSize => "FileSize",
            Key::NarHash => "NarHash",
            Key::NarSize => "NarSize",
            Key::References => "References",
            Key::Deriver => "Deriver",
            Key::System => "System",
            Key::Sig => "Sig",
            Key::Ca => "CA",
        }
    }

    fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Fields seen so far, with the line of their first occurrence.
#[derive(Default)]
struct Draft<'a> {
    seen: [usize; Key::ALL.len()],
    store_path: Option<Raw<'a, StorePath>>,
    url: Option<&'a str>,
    compression: Option<&'a str>,
    file_hash: Option<Raw<'a, Hash>>,
    file_size: Option<Raw<'a, u64>>,
    nar_hash: Option<Raw<'a, Hash>>,
    nar_size: Option<Raw<'a, u64>>,
    references: Option<Raw<'a, Vec<StorePath>>>,
    deriver: Option<Raw<'a, Option<StorePath>>>,
    system: Option<&'a str>,
    signatures: Vec<Signature>,
    ca: Option<Raw<'a, ContentAddress>>,
    unknown: Vec<(&'a str, &'a str)>,
}

fn quote(text: &str) -> String {
    let mut end = text.len().min(QUOTE_LEN);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default().to_owned()
}

fn parse_size(text: &str, line: usize, key: Key) -> Result<u64, NarInfoError> {
    let bad = || NarInfoError::Size { line, field: key.name(), found: quote(text) };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    text.parse().map_err(|_| bad())
}

fn parse_hash(text: &str, line: usize, key: Key) -> Result<Hash, NarInfoError> {
    Hash::parse(text, None).map_err(|source| NarInfoError::Hash { line, field: key.name(), source })
}

impl<'a> Draft<'a> {
    fn field(&mut self, line: usize, key: Key, value: &'a str, store: &StoreDir) -> Result<(), NarInfoError> {
        if key == Key::Sig {
            if self.signatures.len() >= MAX_SIGNATURES {
                return Err(NarInfoError::TooMany { line, what: "signatures", max: MAX_SIGNATURES });
            }
            let sig = Signature::parse(value).map_err(|source| NarInfoError::Signature { line, source })?;
            self.signatures.push(sig);
            return Ok(());
        }
        let index = key as usize;
        if let Some(&first) = self.seen.get(index).filter(|&&first| first != 0) {
            return Err(NarInfoError::DuplicateField { line, first, field: key.name() });
        }
        if let Some(slot) = self.seen.get_mut(index) {
            *slot = line;
        }
        match key {
            Key::StorePath => {
                let path = store.parse_path(value).map_err(|source| NarInfoError::StorePath { line, source })?;
                self.store_path = Some(Raw { text: value, value: path });
            }
            Key::Url if value.is_empty() => return Err(NarInfoError::EmptyUrl { line }),
            Key::Url => self.url = Some(value),
            Key::Compression => self.compression = Some(value),
            Key::FileHash => self.file_hash = Some(Raw { text: value, value: parse_hash(value, line, key)? }),
            Key::FileSize => self.file_size = Some(Raw { text: value, value: parse_size(value, line, key)? }),
            Key::NarHash => {
                let hash = parse_hash(value, line, key)?;
                if hash.algo() != HashAlgo::Sha256 {
                    return Err(NarInfoError::NarHashAlgo { line, algo: hash.algo() });
                }
                self.nar_hash = Some(Raw { text: value, value: hash });
            }
            Key::NarSize => {
                let size = parse_size(value, line, key)?;
                if size == 0 {
                    return Err(NarInfoError::ZeroNarSize { line });
                }
                self.nar_size = Some(Raw { text: value, value: size });
            }
            Key::References => self.references = Some(Raw { text: value, value: parse_references(value, line)? }),
            Key::Deriver => {
                let deriver = if value == "unknown-deriver" {
                    None
                } else {
                    Some(StorePath::from_base_name(value).map_err(|source| NarInfoError::Deriver { line, source })?)
                };
                self.deriver = Some(Raw { text: value, value: deriver });
            }
            Key::System => self.system = Some(value),
            Key::Ca => {
                let ca = ContentAddress::parse(value)
                    .ok_or_else(|| NarInfoError::ContentAddress { line, found: quote(value) })?;
                self.ca = Some(Raw { text: value, value: ca });
            }
            Key::Sig => {}
        }
        Ok(())
    }

    fn finish(self) -> Result<NarInfo<'a>, NarInfoError> {
        let missing = |key: Key| NarInfoError::MissingField { field: key.name() };
        Ok(NarInfo {
            store_path: self.store_path.ok_or_else(|| missing(Key::StorePath))?,
            url: self.url.ok_or_else(|| missing(Key::Url))?,
            compression: self.compression,
            file_hash: self.file_hash,
            file_size: self.file_size,
            nar_hash: self.nar_hash.ok_or_else(|| missing(Key::NarHash))?,
            nar_size: self.nar_size.ok_or_else(|| missing(Key::NarSize))?,
            references: self.references,
            deriver: self.deriver,
            system: self.system,
            signatures: self.signatures,
            ca: self.ca,
            unknown: self.unknown,
        })
    }
}

/// The text Nix signs for a store path (its `ValidPathInfo::fingerprint`):
/// `1;<path>;<algo>:<nar hash in nixbase32>;<nar size>;<references>`, with
/// the references as full paths, sorted, deduplicated and joined by `,`.
/// For store-path metadata from elsewhere than a narinfo, such as
/// `nix path-info --json` or the Nix database.
pub fn fingerprint<'r>(
    store: &StoreDir,
    path: &StorePath,
    nar_hash: &Hash,
    nar_size: u64,
    references: impl IntoIterator<Item = &'r StorePath>,
) -> String {
    let mut refs: Vec<&StorePath> = references.into_iter().collect();
    refs.sort();
    refs.dedup();
    let mut out = format!("1;{};{};{nar_size};", store.display(path), nar_hash.to_prefixed_nixbase32());
    for (i, r) in refs.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&store.display(r));
    }
    out
}

/// Space-separated base names; runs of spaces are allowed, as Nix's tokenizer skips empty tokens.
fn parse_references(value: &str, line: usize) -> Result<Vec<StorePath>, NarInfoError> {
    let mut refs = Vec::new();
    for base in value.split(' ').filter(|s| !s.is_empty()) {
        if refs.len() >= MAX_REFERENCES {
            return Err(NarInfoError::TooMany { line, what: "references", max: MAX_REFERENCES });
        }
        refs.push(StorePath::from_base_name(base).map_err(|source| NarInfoError::Reference { line, source })?);
    }
    Ok(refs)
}

fn is_key(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

impl<'a> NarInfo<'a> {
    /// Parses a narinfo whose store paths lie in `store`.
    pub fn parse(input: &'a [u8], store: &StoreDir) -> Result<NarInfo<'a>, NarInfoError> {
        let mut draft = Draft::default();
        let mut rest = input;
        let mut line = 0;
        while !rest.is_empty() {
            line += 1;
            let end = memchr::memchr(b'\n', rest).ok_or(NarInfoError::MissingNewline { line })?;
            let (text, tail) = rest.split_at(end);
            rest = tail.get(1..).unwrap_or_default();
            let text = std::str::from_utf8(text).map_err(|_| NarInfoError::NotUtf8 { line })?;
            let (key, value) = text.split_once(": ").ok_or(NarInfoError::BadLine { line })?;
            if !is_key(key) {
                return Err(NarInfoError::BadLine { line });
            }
            match Key::from_name(key) {
                Some(known) => draft.field(line, known, value, store)?,
                None if draft.unknown.len() >= MAX_UNKNOWN_FIELDS => {
                    return Err(NarInfoError::TooMany { line, what: "unknown fields", max: MAX_UNKNOWN_FIELDS });
                }
                None => draft.unknown.push((key, value)),
            }
        }
        draft.finish()
    }

    /// The store path described.
    pub fn store_path(&self) -> &StorePath {
        &self.store_path.value
    }

    /// Where the NAR file is, relative to the cache root.
    pub fn url(&self) -> &'a str {
        self.url
    }

    /// The compression of the NAR file; `bzip2` when absent or empty, as in Nix.
    pub fn compression(&self) -> &'a str {
        self.compression.filter(|c| !c.is_empty()).unwrap_or("bzip2")
    }

    /// Hash of the (compressed) NAR file.
    pub fn file_hash(&self) -> Option<&Hash> {
        self.file_hash.as_ref().map(|r| &r.value)
    }

    /// Size of the (compressed) NAR file.
    pub fn file_size(&self) -> Option<u64> {
        self.file_size.as_ref().map(|r| r.value)
    }

    /// The sha256 hash of the NAR.
    pub fn nar_hash(&self) -> &Hash {
        &self.nar_hash.value
    }

    /// The NAR's size in bytes, never 0.
    pub fn nar_size(&self) -> u64 {
        self.nar_size.value
    }

    /// References in file order (possibly with duplicates; see [`NarInfo::fingerprint`]).
    pub fn references(&self) -> &[StorePath] {
        self.references.as_ref().map_or(&[], |r| &r.value)
    }

    /// The deriver; `None` when absent or `unknown-deriver`.
    pub fn deriver(&self) -> Option<&StorePath> {
        self.deriver.as_ref().and_then(|r| r.value.as_ref())
    }

    /// The `System` field.
    pub fn system(&self) -> Option<&'a str> {
        self.system
    }

    /// Signatures in file order.
    pub fn signatures(&self) -> &[Signature] {
        &self.signatures
    }

    /// The content address, for content-addressed paths.
    pub fn ca(&self) -> Option<&ContentAddress> {
        self.ca.as_ref().map(|r| &r.value)
    }

    /// Fields with keys this module does not know, in file order.
    pub fn unknown_fields(&self) -> &[(&'a str, &'a str)] {
        &self.unknown
    }

    /// The text signatures cover:
    /// `1;<path>;sha256:<nixbase32>;<narSize>;<sorted refs, comma-joined>`.
    pub fn fingerprint(&self, store: &StoreDir) -> String {
        fingerprint(store, self.store_path(), self.nar_hash(), self.nar_size(), self.references())
    }

    /// Adds a signature line unless an identical one is present.
    pub fn add_signature(&mut self, signature: Signature) -> Result<(), NarInfoError> {
        if self.signatures.contains(&signature) {
            return Ok(());
        }
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(NarInfoError::TooMany { line: 0, what: "signatures", max: MAX_SIGNATURES });
        }
        self.signatures.push(signature);
        Ok(())
    }

    /// Signs the fingerprint with `key` and adds the signature.
    pub fn sign(&mut self, store: &StoreDir, key: &SecretKey) -> Result<(), NarInfoError> {
        let signature = key.sign(self.fingerprint(store).as_bytes());
        self.add_signature(signature)
    }

    /// Checks each signature against `keys`.
    pub fn check_signatures(&self, store: &StoreDir, keys: &TrustedKeys) -> Vec<SignatureFinding> {
        keys.check(self.fingerprint(store).as_bytes(), &self.signatures)
    }

    /// Vouches for this narinfo if at least `needed` distinct trusted keys
    /// signed its fingerprint (0 counts as 1).
    pub fn verify_signatures(
        self,
        store: &StoreDir,
        keys: &TrustedKeys,
        needed: usize,
    ) -> Result<Verified<NarInfo<'a>>, SignatureRejection> {
        let fingerprint = self.fingerprint(store);
        let signatures = self.signatures.clone();
        keys.verify(self, fingerprint.as_bytes(), &signatures, needed)
    }

    /// Writes the canonical text (see the module docs).
    pub fn write_to(&self, mut out: impl std::io::Write) -> std::io::Result<()> {
        write!(out, "{self}")
    }
}

impl fmt::Display for NarInfo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = |key: Key, value: &dyn fmt::Display| writeln!(f, "{}: {}", key.name(), value);
        line(Key::StorePath, &self.store_path.text)?;
        line(Key::Url, &self.url)?;
        if let Some(c) = self.compression {
            line(Key::Compression, &c)?;
        }
        if let Some(h) = &self.file_hash {
            line(Key::FileHash, &h.text)?;
        }
        if let Some(s) = &self.file_size {
            line(Key::FileSize, &s.text)?;
        }
        line(Key::NarHash, &self.nar_hash.text)?;
        line(Key::NarSize, &self.nar_size.text)?;
        if let Some(r) = &self.references {
            line(Key::References, &r.text)?;
        }
        if let Some(d) = &self.deriver {
            line(Key::Deriver, &d.text)?;
        }
        if let Some(s) = self.system {
            line(Key::System, &s)?;
        }
        for sig in &self.signatures {
            line(Key::Sig, sig)?;
        }
        if let Some(ca) = &self.ca {
            line(Key::Ca, &ca.text)?;
        }
        for (key, value) in &self.unknown {
            writeln!(f, "{key}: {value}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::{PublicKey, SignatureStatus};
    use proptest::prelude::*;
    use rstest::rstest;

    /// Written by `nix copy --to file://...` (Nix 2.8) after `nix store sign -k`
    /// with the `test-1` key below.
    const TOP: &str = "StorePath: /nix/store/0r2v93mqaf9d2zyqi8pgmyzmf879753y-top
URL: nar/1lk2fx87ggsw1qwm1fp333bwbm3gm32ggxvfz3z2h6pglnxswym0.nar.xz
Compression: xz
FileHash: sha256:1lk2fx87ggsw1qwm1fp333bwbm3gm32ggxvfz3z2h6pglnxswym0
FileSize: 172
NarHash: sha256:0q6yj9sbg7xi8kks5cmqc38xcpprb64a18cq9d67pds7sw04di7k
NarSize: 160
References: z4asv3j07d89ywjf8fxkn7sg6mf5s9q5-dep
Deriver: 13ymk1q4wh30z4fq5lf3a5d15fvb07f9-top.drv
Sig: test-1:siXj5fX2+w9D3iYFD+kOzBbKFWM9/neAgf58mrVe+BsS7VT4T5WA4MVAjD4Oo7QtFByjn2CaWm1bTeM7rYM4AQ==
";
    /// The same `nix copy` for a `nix-store --add`ed file: no references, a CA.
    const ADDED: &str = "StorePath: /nix/store/ab3li50xq0nl4q5lxdyinb8w8y13my9s-f
URL: nar/09kxyd68d2nylk7ims23pj3i09s4nnv9p3dv6iij1q9canv42w6d.nar.xz
Compression: xz
FileHash: sha256:09kxyd68d2nylk7ims23pj3i09s4nnv9p3dv6iij1q9canv42w6d
FileSize: 124
NarHash: sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h
NarSize: 120
References: 
CA: fixed:r:sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h
";
    const NIX_PUBLIC: &str = "test-1:2UwHQpEpqMmSZGxFcwUbaEq5vwzWMEo6gK1qcIkrp+I=";

    fn parse(text: &str) -> Result<NarInfo<'_>, NarInfoError> {
        NarInfo::parse(text.as_bytes(), &StoreDir::default())
    }

    fn keys() -> TrustedKeys {
        [PublicKey::parse(NIX_PUBLIC).unwrap()].into_iter().collect()
    }

    #[rstest]
    #[case::signed_with_references(TOP)]
    #[case::content_addressed_without_references(ADDED)]
    fn nix_written_narinfo_re_renders_byte_identical(#[case] text: &str) {
        assert_eq!(parse(text).unwrap().to_string(), text);
    }

    #[test]
    fn fields_of_nix_written_narinfo_are_exposed() {
        let info = parse(TOP).unwrap();
        assert_eq!(info.store_path().to_string(), "0r2v93mqaf9d2zyqi8pgmyzmf879753y-top");
        assert_eq!(info.compression(), "xz");
        assert_eq!(info.file_size(), Some(172));
        assert_eq!(info.nar_size(), 160);
        assert_eq!(info.references().len(), 1);
        assert_eq!(info.deriver().map(|d| d.name()), Some("top.drv"));
        assert_eq!(info.signatures().len(), 1);
        let added = parse(ADDED).unwrap();
        assert!(added.references().is_empty());
        assert_eq!(added.ca().map(|c| c.method), Some(ContentAddressMethod::Recursive));
        assert_eq!(added.ca().map(ToString::to_string).as_deref(), added.ca.as_ref().map(|r| r.text));
    }

    #[test]
    fn fingerprint_matches_what_nix_signed() {
        let info = parse(TOP).unwrap();
        let store = StoreDir::default();
        assert_eq!(
            info.fingerprint(&store),
            "1;/nix/store/0r2v93mqaf9d2zyqi8pgmyzmf879753y-top;\
             sha256:0q6yj9sbg7xi8kks5cmqc38xcpprb64a18cq9d67pds7sw04di7k;160;\
             /nix/store/z4asv3j07d89ywjf8fxkn7sg6mf5s9q5-dep"
        );
        let verified = info.verify_signatures(&store, &keys(), 1).unwrap();
        assert_eq!(verified.signers(), ["test-1"]);
    }

    #[test]
    fn fingerprint_uses_nixbase32_for_a_base16_nar_hash() {
        let hex = Hash::parse("sha256:0q6yj9sbg7xi8kks5cmqc38xcpprb64a18cq9d67pds7sw04di7k", None).unwrap().to_base16();
        let text = TOP.replace("sha256:0q6yj9sbg7xi8kks5cmqc38xcpprb64a18cq9d67pds7sw04di7k", &format!("sha256:{hex}"));
        let info = parse(&text).unwrap();
        assert_eq!(info.to_string(), text);
        assert!(info.verify_signatures(&StoreDir::default(), &keys(), 1).is_ok());
    }

    #[test]
    fn fingerprint_sorts_and_dedups_references() {
        let a = "00000000000000000000000000000000-a";
        let b = "11111111111111111111111111111111-b";
        let text =
            TOP.replace("References: z4asv3j07d89ywjf8fxkn7sg6mf5s9q5-dep", &format!("References: {b}  {a} {b}"));
        let info = parse(&text).unwrap();
        assert!(info.fingerprint(&StoreDir::default()).ends_with(&format!(";/nix/store/{a},/nix/store/{b}")));
    }

    #[test]
    fn tampered_fields_break_the_signature() {
        for (from, to) in [
            ("NarSize: 160", "NarSize: 161"),
            ("-dep\n", "-deq\n"),
            ("0r2v93mqaf9d2zyqi8pgmyzmf879753y-top\nURL", "0r2v93mqaf9d2zyqi8pgmyzmf879753y-toq\nURL"),
        ] {
            let text = TOP.replace(from, to);
            let err = parse(&text).unwrap().verify_signatures(&StoreDir::default(), &keys(), 1).unwrap_err();
            assert_eq!(err.findings[0].status, SignatureStatus::Invalid, "{from}");
        }
    }

    #[test]
    fn fields_outside_the_fingerprint_can_change_without_breaking_the_signature() {
        let text = TOP.replace("Compression: xz", "Compression: none").replace("FileSize: 172", "FileSize: 1");
        assert!(parse(&text).unwrap().verify_signatures(&StoreDir::default(), &keys(), 1).is_ok());
    }

    #[test]
    fn unknown_fields_are_kept_and_written_last() {
        let text = TOP.replacen("URL:", "X-Mirror: somewhere\nURL:", 1);
        let info = parse(&text).unwrap();
        assert_eq!(info.unknown_fields(), [("X-Mirror", "somewhere")]);
        assert_eq!(info.to_string(), format!("{TOP}X-Mirror: somewhere\n"));
        assert_eq!(parse(&info.to_string()).unwrap(), info);
    }

    #[test]
    fn fields_in_another_order_re_render_in_nix_order() {
        let mut lines: Vec<&str> = TOP.lines().collect();
        lines.reverse();
        let text = lines.join("\n") + "\n";
        assert_eq!(parse(&text).unwrap().to_string(), TOP);
    }

    #[test]
    fn missing_compression_means_bzip2_and_stays_missing() {
        let text = TOP.replace("Compression: xz\n", "");
        let info = parse(&text).unwrap();
        assert_eq!(info.compression(), "bzip2");
        assert_eq!(info.to_string(), text);
    }

    #[test]
    fn unknown_deriver_means_none_and_is_kept() {
        let text = TOP.replace("13ymk1q4wh30z4fq5lf3a5d15fvb07f9-top.drv", "unknown-deriver");
        let info = parse(&text).unwrap();
        assert_eq!(info.deriver(), None);
        assert_eq!(info.to_string(), text);
    }

    #[test]
    fn signing_adds_a_signature_once() {
        let key = SecretKey::from_seed("ours-1", [9; 32]).unwrap();
        let store = StoreDir::default();
        let mut info = parse(ADDED).unwrap();
        info.sign(&store, &key).unwrap();
        info.sign(&store, &key).unwrap();
        assert_eq!(info.signatures().len(), 1);
        let text = info.to_string();
        assert!(text.contains("References: \nSig: ours-1:"), "{text}");
        let keys: TrustedKeys = [key.to_public()].into_iter().collect();
        assert!(parse(&text).unwrap().verify_signatures(&store, &keys, 1).is_ok());
    }

    #[test]
    fn paths_in_another_store_directory_are_refused() {
        let err = NarInfo::parse(TOP.as_bytes(), &StoreDir::new("/gnu/store").unwrap()).unwrap_err();
        assert!(matches!(err, NarInfoError::StorePath { line: 1, .. }), "{err}");
        let other = TOP.replace("/nix/store/", "/gnu/store/");
        let info = NarInfo::parse(other.as_bytes(), &StoreDir::new("/gnu/store").unwrap()).unwrap();
        assert!(info.fingerprint(&StoreDir::new("/gnu/store").unwrap()).starts_with("1;/gnu/store/0r2v"));
    }

    #[rstest]
    #[case::duplicate(
        "NarSize: 160\n",
        "NarSize: 160\nNarSize: 160\n",
        "line 8: field `NarSize` appears twice (first on line 7)"
    )]
    #[case::no_space("NarSize: 160", "NarSize:160", "line 7: expected `Key: value`")]
    #[case::blank_line("NarSize: 160\n", "NarSize: 160\n\n", "line 8: expected `Key: value`")]
    #[case::zero_size("NarSize: 160", "NarSize: 0", "line 7: NarSize must not be 0")]
    #[case::signed_size("NarSize: 160", "NarSize: +160", "line 7: NarSize `+160` is not")]
    #[case::overflow("NarSize: 160", "NarSize: 18446744073709551616", "line 7: NarSize")]
    #[case::missing("NarSize: 160\n", "", "required field `NarSize` is missing")]
    #[case::empty_url(
        "URL: nar/1lk2fx87ggsw1qwm1fp333bwbm3gm32ggxvfz3z2h6pglnxswym0.nar.xz",
        "URL: ",
        "line 2: URL is empty"
    )]
    #[case::sha1_nar_hash(
        "sha256:0q6yj9sbg7xi8kks5cmqc38xcpprb64a18cq9d67pds7sw04di7k",
        "sha1:2jmj7l5rSw0yVb/vlWAYkK/YBwk=",
        "line 6: NarHash must be sha256"
    )]
    #[case::bad_sig("Sig: test-1:", "Sig: test-1", "line 10: invalid Sig")]
    #[case::no_final_newline("==\n", "==", "line 10: missing newline")]
    #[case::bad_ref("References: z4", "References: Z4", "line 8: invalid reference")]
    fn rejects_malformed_narinfo(#[case] from: &str, #[case] to: &str, #[case] expected: &str) {
        let text = TOP.replacen(from, to, 1);
        assert_ne!(text, TOP);
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
    }

    #[test]
    fn more_than_max_signatures_is_refused() {
        let sig = "Sig: k:".to_owned() + &"A".repeat(86) + "==\n";
        let text = format!("{ADDED}{}", sig.repeat(MAX_SIGNATURES + 1));
        assert!(matches!(parse(&text), Err(NarInfoError::TooMany { what: "signatures", .. })));
    }

    fn hash_text() -> impl Strategy<Value = String> {
        (any::<[u8; 32]>(), 0..3u8).prop_map(|(d, form)| {
            let h = Hash::from_digest(HashAlgo::Sha256, &d).unwrap();
            match form {
                0 => h.to_prefixed_nixbase32(),
                1 => format!("sha256:{}", h.to_base16()),
                _ => h.to_sri(),
            }
        })
    }

    fn base_name() -> impl Strategy<Value = String> {
        (any::<[u8; 20]>(), "[a-zA-Z0-9+_?=-][a-zA-Z0-9+._?=-]{0,20}")
            .prop_map(|(d, n)| StorePath::from_digest(&d, &n).unwrap().to_string())
    }

    prop_compose! {
        fn narinfo_text()(
            path in base_name(),
            url in "[ -~]{1,40}",
            compression in proptest::option::of("[a-z0-9]{0,6}"),
            file_hash in proptest::option::of(hash_text()),
            file_size in proptest::option::of(any::<u64>()),
            nar_hash in hash_text(),
            nar_size in 1..u64::MAX,
            refs in proptest::option::of(proptest::collection::vec(base_name(), 0..5)),
            deriver in proptest::option::of(base_name()),
            system in proptest::option::of("[a-z0-9_-]{0,12}"),
            sigs in proptest::collection::vec(("[!-9;-~]{1,12}", any::<[u8; 32]>()), 0..4),
            ca in proptest::option::of(hash_text()),
            unknown in proptest::collection::vec(("X-[A-Za-z]{1,8}", "[ -~]{0,20}"), 0..3),
        ) -> String {
            let mut s = format!("StorePath: /nix/store/{path}\nURL: {url}\n");
            if let Some(c) = compression { s += &format!("Compression: {c}\n"); }
            if let Some(h) = file_hash { s += &format!("FileHash: {h}\n"); }
            if let Some(n) = file_size { s += &format!("FileSize: {n}\n"); }
            s += &format!("NarHash: {nar_hash}\nNarSize: {nar_size}\n");
            if let Some(r) = refs { s += &format!("References: {}\n", r.join(" ")); }
            if let Some(d) = deriver { s += &format!("Deriver: {d}\n"); }
            if let Some(y) = system { s += &format!("System: {y}\n"); }
            for (name, seed) in sigs {
                let key = SecretKey::from_seed(&name, seed).unwrap();
                s += &format!("Sig: {}\n", key.sign(path.as_bytes()));
            }
            if let Some(h) = ca { s += &format!("CA: fixed:r:{h}\n"); }
            for (k, v) in unknown { s += &format!("{k}: {v}\n"); }
            s
        }
    }

    proptest! {
        #[test]
        fn narinfo_renders_back_to_its_canonical_input(text in narinfo_text()) {
            let info = parse(&text).unwrap();
            let rendered = info.to_string();
            prop_assert_eq!(&rendered, &text);
            prop_assert_eq!(parse(&rendered).unwrap(), info);
        }

        #[test]
        fn signing_then_verifying_any_narinfo_succeeds(text in narinfo_text(), seed in any::<[u8; 32]>()) {
            let store = StoreDir::default();
            let key = SecretKey::from_seed("prop-1", seed).unwrap();
            let mut info = parse(&text).unwrap();
            info.sign(&store, &key).unwrap();
            let rendered = info.to_string();
            let keys: TrustedKeys = [key.to_public()].into_iter().collect();
            prop_assert!(parse(&rendered).unwrap().verify_signatures(&store, &keys, 1).is_ok());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = NarInfo::parse(&bytes, &StoreDir::default());
        }
    }
}
