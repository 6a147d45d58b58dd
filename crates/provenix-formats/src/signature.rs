//! Ed25519 keys and detached signatures in Nix's `name:base64` form.
//!
//! These are the keys `nix-store --generate-binary-cache-key NAME SEC PUB`
//! writes and the signatures `nix store sign` attaches to store paths (the
//! `Sig:` lines of a narinfo, `signatures` in `nix path-info --json`).
//!
//! ```text
//! secret-key = key-name ":" base64(seed[32] || public[32])   ; libsodium's 64-byte secret key
//! public-key = key-name ":" base64(public[32])
//! signature  = key-name ":" base64(ed25519-signature[64])
//! key-name   = 1*255 ( %x21-39 / %x3B-7E )                   ; printable ASCII except ":"
//! base64     = RFC 4648 standard alphabet, padded, canonical
//! ```
//!
//! A signature is made over a message, for store paths the fingerprint
//! `1;<path>;<narHash>;<narSize>;<refs>` ([`crate::narinfo::NarInfo::fingerprint`]).
//! It is checked against the trusted public key *with the same name*; keys
//! are looked up by name only, as in Nix, so the name is not a secret and
//! not an identity by itself.
//!
//! Verification is [`TrustedKeys::verify`], the only constructor of
//! [`Verified`]. It uses ed25519-dalek's `verify_strict`, which like
//! libsodium's `crypto_sign_verify_detached` (what Nix uses) rejects
//! non-canonical `S` values and small-order `R` and public keys.
//!
//! Limits: a key name is at most [`MAX_KEY_NAME_LEN`] bytes; the base64 part
//! of any value is at most [`MAX_BASE64_LEN`] characters, checked before
//! decoding.
//!
//! Quirks of Nix 2.8 and how we treat them:
//!
//! - Nix splits at the first `:` and accepts any non-empty name; we accept
//!   printable ASCII only, because names with spaces cannot be listed in
//!   `trusted-public-keys` (a whitespace-separated list) anyway.
//! - Nix's base64 decoder stops at the first `=`, skips newlines and ignores
//!   leftover bits, so `name:AAAA...==junk` verifies there. We accept only
//!   canonical padded base64, so that parse -> render gives back the input
//!   (`nix_accepts_lax_narinfo_that_we_refuse` in `tests/nix_narinfo.rs`).
//! - Key files written by Nix have no trailing newline, but Nix reads a file
//!   with one (its decoder skips `\n`). [`SecretKey::parse`] and
//!   [`PublicKey::parse`] accept one trailing `\n`; signatures do not.
//! - Nix never checks that the public half of a secret key belongs to its
//!   seed (libsodium copies it). We refuse a secret key whose halves differ,
//!   since it would sign with one key and claim another.
//! - A secret key's name is copied into each signature; the public key must
//!   carry the same name to verify it.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signer as _;
use thiserror::Error;

/// Longest key name, in bytes.
pub const MAX_KEY_NAME_LEN: usize = 255;
/// Longest base64 text after the colon we try to decode (far above the 88
/// characters of a secret key or signature), so errors on huge input stay cheap.
pub const MAX_BASE64_LEN: usize = 1024;
/// Bytes in a secret key as Nix stores it: seed, then public key.
pub const SECRET_KEY_LEN: usize = 64;
/// Bytes in a public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Bytes in a signature.
pub const SIGNATURE_LEN: usize = 64;

/// Which kind of value an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A secret (signing) key.
    SecretKey,
    /// A public (verifying) key.
    PublicKey,
    /// A detached signature.
    Signature,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::SecretKey => "secret key",
            Kind::PublicKey => "public key",
            Kind::Signature => "signature",
        })
    }
}

impl Kind {
    /// What a key of this kind given the other kind's bytes is, and what to
    /// pass instead.
    fn swapped_name(self) -> &'static str {
        match self {
            Kind::SecretKey => "public key: this is a public key; pass the secret key (the `.sec` file) instead",
            Kind::PublicKey | Kind::Signature => {
                "secret key: this is a secret key; pass its public key (the `.pub` file, or `provenix key public KEY`)"
            }
        }
    }
}

/// Errors from parsing keys and signatures.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// No `:` between name and base64.
    #[error("{kind} is missing the `:` between name and base64")]
    MissingColon {
        /// What was being parsed.
        kind: Kind,
    },
    /// Nothing before the `:`.
    #[error("{kind} has an empty key name")]
    EmptyName {
        /// What was being parsed.
        kind: Kind,
    },
    /// The name is longer than [`MAX_KEY_NAME_LEN`].
    #[error("{kind} has a key name of {len} bytes, longer than {MAX_KEY_NAME_LEN}")]
    NameTooLong {
        /// What was being parsed.
        kind: Kind,
        /// The name's length.
        len: usize,
    },
    /// The name has a character outside printable ASCII.
    #[error("{kind} has a key name with illegal character {found:?}")]
    BadNameChar {
        /// What was being parsed.
        kind: Kind,
        /// The character found.
        found: char,
    },
    /// The part after the colon is not canonical padded base64.
    #[error("{kind} `{name}` has invalid base64")]
    BadBase64 {
        /// What was being parsed.
        kind: Kind,
        /// The key name.
        name: String,
        /// The decoder's complaint.
        #[source]
        source: base64::DecodeError,
    },
    /// The base64 decodes to the wrong number of bytes.
    #[error("{kind} `{name}` has {found} bytes, expected {expected}")]
    WrongLength {
        /// What was being parsed.
        kind: Kind,
        /// The key name.
        name: String,
        /// Bytes required.
        expected: usize,
        /// Bytes found (for text over [`MAX_BASE64_LEN`], an estimate from its length).
        found: usize,
    },
    /// A public key where a secret key belongs, or the reverse: the bytes
    /// have the other kind's length.
    #[error("{kind} `{name}` has {found} bytes, the length of a {}", kind.swapped_name())]
    SwappedKey {
        /// What was being parsed: [`Kind::SecretKey`] or [`Kind::PublicKey`].
        kind: Kind,
        /// The key name.
        name: String,
        /// Bytes found.
        found: usize,
    },
    /// The public half of a secret key is not the public key of its seed.
    #[error("secret key `{name}`: its public half does not belong to its seed")]
    PublicHalfMismatch {
        /// The key name.
        name: String,
    },
    /// The public key bytes are not a point on the curve.
    #[error("public key `{name}` is not a valid ed25519 point")]
    BadPoint {
        /// The key name.
        name: String,
    },
}

/// Checks a key name. `kind` is used in errors.
pub fn validate_key_name(name: &str, kind: Kind) -> Result<(), SignatureError> {
    if name.is_empty() {
        return Err(SignatureError::EmptyName { kind });
    }
    if name.len() > MAX_KEY_NAME_LEN {
        return Err(SignatureError::NameTooLong { kind, len: name.len() });
    }
    if let Some(found) = name.chars().find(|&c| !c.is_ascii_graphic() || c == ':') {
        return Err(SignatureError::BadNameChar { kind, found });
    }
    Ok(())
}

/// Splits `name:base64` and decodes the base64 into exactly `N` bytes.
fn split_decode<const N: usize>(text: &str, kind: Kind) -> Result<(&str, [u8; N]), SignatureError> {
    let (name, body) = text.split_once(':').ok_or(SignatureError::MissingColon { kind })?;
    validate_key_name(name, kind)?;
    let wrong_length = |found| SignatureError::WrongLength { kind, name: name.to_owned(), expected: N, found };
    if body.len() > MAX_BASE64_LEN {
        return Err(wrong_length(body.len() / 4 * 3));
    }
    let mut out = [0u8; N];
    // Decode into a buffer with room to spare, so that too-long input is
    // told apart from bad base64.
    let mut buf = [0u8; MAX_BASE64_LEN];
    let decoded = STANDARD.decode_slice(body, &mut buf);
    let result = match decoded {
        Ok(len) if len == N => {
            for (dst, src) in out.iter_mut().zip(buf.iter()) {
                *dst = *src;
            }
            Ok((name, out))
        }
        Ok(len)
            if (kind, len) == (Kind::SecretKey, PUBLIC_KEY_LEN) || (kind, len) == (Kind::PublicKey, SECRET_KEY_LEN) =>
        {
            Err(SignatureError::SwappedKey { kind, name: name.to_owned(), found: len })
        }
        Ok(len) => Err(wrong_length(len)),
        Err(base64::DecodeSliceError::DecodeError(source)) => {
            Err(SignatureError::BadBase64 { kind, name: name.to_owned(), source })
        }
        // `buf` holds the decoding of MAX_BASE64_LEN characters, so it cannot overflow.
        Err(base64::DecodeSliceError::OutputSliceTooSmall) => Err(wrong_length(body.len() / 4 * 3)),
    };
    // The buffer may hold secret key bytes; clear it before it goes out of scope.
    buf.fill(0);
    std::hint::black_box(&buf);
    result
}

fn strip_one_newline(text: &str) -> &str {
    text.strip_suffix('\n').unwrap_or(text)
}

/// An ed25519 signing key with its name, as `nix-store --generate-binary-cache-key` writes it.
///
/// `Debug` does not show the key; `Display` does (it is the key file's content).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey {
    name: String,
    key: ed25519_dalek::SigningKey,
}

impl SecretKey {
    /// Parses `name:base64(seed || public)`, allowing one trailing newline.
    pub fn parse(text: &str) -> Result<SecretKey, SignatureError> {
        let (name, mut bytes) = split_decode::<SECRET_KEY_LEN>(strip_one_newline(text), Kind::SecretKey)?;
        let (seed, public) = bytes.split_at(32);
        let mut seed_array = [0u8; 32];
        seed_array.copy_from_slice(seed);
        let key = ed25519_dalek::SigningKey::from_bytes(&seed_array);
        let matches = key.verifying_key().as_bytes().as_slice() == public;
        seed_array.fill(0);
        bytes.fill(0);
        std::hint::black_box((&seed_array, &bytes));
        if !matches {
            return Err(SignatureError::PublicHalfMismatch { name: name.to_owned() });
        }
        Ok(SecretKey { name: name.to_owned(), key })
    }

    /// The key for a 32-byte seed; the caller supplies the randomness.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<SecretKey, SignatureError> {
        validate_key_name(name, Kind::SecretKey)?;
        Ok(SecretKey { name: name.to_owned(), key: ed25519_dalek::SigningKey::from_bytes(&seed) })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The matching public key, with the same name.
    pub fn to_public(&self) -> PublicKey {
        PublicKey { name: self.name.clone(), key: self.key.verifying_key() }
    }

    /// Signs `message` (for a store path, its fingerprint).
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature { key_name: self.name.clone(), bytes: self.key.sign(message).to_bytes() }
    }
}

impl fmt::Display for SecretKey {
    /// `name:base64(seed || public)`, the content of Nix's secret key file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = self.key.to_keypair_bytes();
        let text = STANDARD.encode(bytes);
        bytes.fill(0);
        std::hint::black_box(&bytes);
        write!(f, "{}:{}", self.name, text)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({}:<redacted>)", self.name)
    }
}

/// An ed25519 verifying key with its name.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    name: String,
    key: ed25519_dalek::VerifyingKey,
}

impl PublicKey {
    /// Parses `name:base64(public)`, allowing one trailing newline.
    pub fn parse(text: &str) -> Result<PublicKey, SignatureError> {
        let (name, bytes) = split_decode::<PUBLIC_KEY_LEN>(strip_one_newline(text), Kind::PublicKey)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|_| SignatureError::BadPoint { name: name.to_owned() })?;
        Ok(PublicKey { name: name.to_owned(), key })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 32 key bytes.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        self.key.as_bytes()
    }

    /// Whether `signature` is a valid signature of `message` by this key.
    /// A signature naming another key is invalid.
    fn accepts(&self, message: &[u8], signature: &Signature) -> bool {
        signature.key_name == self.name
            && self.key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&signature.bytes)).is_ok()
    }
}

impl fmt::Display for PublicKey {
    /// `name:base64(public)`, the content of Nix's public key file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, STANDARD.encode(self.key.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// A detached signature: the signing key's name and 64 signature bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Signature {
    key_name: String,
    bytes: [u8; SIGNATURE_LEN],
}

impl Signature {
    /// Parses `name:base64(signature)`. No surrounding whitespace is allowed.
    pub fn parse(text: &str) -> Result<Signature, SignatureError> {
        let (name, bytes) = split_decode::<SIGNATURE_LEN>(text, Kind::Signature)?;
        Ok(Signature { key_name: name.to_owned(), bytes })
    }

    /// A signature from its parts, checking the name.
    pub fn new(key_name: &str, bytes: [u8; SIGNATURE_LEN]) -> Result<Signature, SignatureError> {
        validate_key_name(key_name, Kind::Signature)?;
        Ok(Signature { key_name: key_name.to_owned(), bytes })
    }

    /// The name of the key that claims to have made it.
    pub fn key_name(&self) -> &str {
        &self.key_name
    }

    /// The signature bytes.
    pub fn bytes(&self) -> &[u8; SIGNATURE_LEN] {
        &self.bytes
    }
}

impl fmt::Display for Signature {
    /// `name:base64(signature)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.key_name, STANDARD.encode(self.bytes))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({self})")
    }
}

/// What checking one signature found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureStatus {
    /// Made by the trusted key of that name over this message.
    Valid,
    /// A trusted key has that name, but the signature does not verify.
    Invalid,
    /// No trusted key has that name; the signature is ignored, as in Nix.
    UntrustedKey,
}

/// One signature's key name and what checking it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureFinding {
    /// The key name the signature claims.
    pub key_name: String,
    /// The outcome.
    pub status: SignatureStatus,
}

/// Too few valid signatures from trusted keys. A verification outcome, not
/// a malformed input; it implements `Error` so callers can propagate it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{valid} valid signature(s) from distinct trusted keys, {needed} needed")]
pub struct SignatureRejection {
    /// Per signature, in the order given.
    pub findings: Vec<SignatureFinding>,
    /// Distinct trusted keys with a valid signature.
    pub valid: usize,
    /// How many were needed.
    pub needed: usize,
}

/// A value whose signatures were checked against trusted keys and passed.
///
/// Only [`TrustedKeys::verify`] builds one, so holding a `Verified<T>` means
/// the check ran and succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified<T> {
    value: T,
    signers: Vec<String>,
}

impl<T> Verified<T> {
    /// The verified value.
    pub fn get(&self) -> &T {
        &self.value
    }

    /// The verified value, giving up the proof.
    pub fn into_inner(self) -> T {
        self.value
    }

    /// Names of the trusted keys with a valid signature, sorted; never empty.
    pub fn signers(&self) -> &[String] {
        &self.signers
    }
}

impl<T> std::ops::Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// The public keys a verifier trusts, by name (Nix's `trusted-public-keys`).
/// A later key with the same name replaces an earlier one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedKeys {
    keys: BTreeMap<String, PublicKey>,
}

impl TrustedKeys {
    /// No trusted keys.
    pub fn new() -> TrustedKeys {
        TrustedKeys::default()
    }

    /// Parses a whitespace-separated list of public keys, the form of
    /// Nix's `trusted-public-keys` setting.
    pub fn parse_list(text: &str) -> Result<TrustedKeys, SignatureError> {
        text.split_ascii_whitespace().map(PublicKey::parse).collect()
    }

    /// Adds a key; returns the key it replaces, if one had the same name.
    pub fn insert(&mut self, key: PublicKey) -> Option<PublicKey> {
        self.keys.insert(key.name.clone(), key)
    }

    /// The key with this name.
    pub fn get(&self, name: &str) -> Option<&PublicKey> {
        self.keys.get(name)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True if no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks each signature of `message`, in order.
    pub fn check<'s>(
        &self,
        message: &[u8],
        signatures: impl IntoIterator<Item = &'s Signature>,
    ) -> Vec<SignatureFinding> {
        self.check_with(message, signatures, None).0
    }

    /// Like [`TrustedKeys::check`], but a signature whose [`CheckId`] is in `known` (checks that
    /// succeeded before, e.g. a cache) counts as valid without running ed25519 again. Also
    /// returns the [`CheckId`]s of the signatures found valid, known or not, to remember them.
    pub fn check_remembering<'s>(
        &self,
        message: &[u8],
        signatures: impl IntoIterator<Item = &'s Signature>,
        known: &HashSet<CheckId>,
    ) -> (Vec<SignatureFinding>, Vec<CheckId>) {
        self.check_with(message, signatures, Some(known))
    }

    fn check_with<'s>(
        &self,
        message: &[u8],
        signatures: impl IntoIterator<Item = &'s Signature>,
        known: Option<&HashSet<CheckId>>,
    ) -> (Vec<SignatureFinding>, Vec<CheckId>) {
        let mut valid = Vec::new();
        let findings = signatures
            .into_iter()
            .map(|sig| {
                let status = match self.keys.get(&sig.key_name) {
                    None => SignatureStatus::UntrustedKey,
                    Some(key) => match known {
                        None if key.accepts(message, sig) => SignatureStatus::Valid,
                        None => SignatureStatus::Invalid,
                        Some(known) => {
                            let id = CheckId::compute(key, sig, message);
                            if known.contains(&id) || key.accepts(message, sig) {
                                valid.push(id);
                                SignatureStatus::Valid
                            } else {
                                SignatureStatus::Invalid
                            }
                        }
                    },
                };
                SignatureFinding { key_name: sig.key_name.clone(), status }
            })
            .collect();
        (findings, valid)
    }

    /// Verifies that at least `needed` distinct trusted keys signed
    /// `message`, and if so vouches for `value`. `needed` of 0 counts as 1:
    /// a `Verified` value always has a trusted signer. Signatures from
    /// untrusted keys are ignored, invalid ones are not counted (Nix's
    /// `--sigs-needed` rule, counted by key rather than by signature text).
    pub fn verify<'s, T>(
        &self,
        value: T,
        message: &[u8],
        signatures: impl IntoIterator<Item = &'s Signature>,
        needed: usize,
    ) -> Result<Verified<T>, SignatureRejection> {
        vouch(value, self.check(message, signatures), needed)
    }
}

/// Vouches for `value` when the findings of [`TrustedKeys::check`] (or
/// [`TrustedKeys::check_remembering`]) over it hold at least `needed` distinct valid
/// trusted keys: the rule of [`TrustedKeys::verify`]. Crate-private, so a `Verified` still
/// always comes from a check that ran.
pub(crate) fn vouch<T>(
    value: T,
    findings: Vec<SignatureFinding>,
    needed: usize,
) -> Result<Verified<T>, SignatureRejection> {
    let signers: BTreeSet<&str> =
        findings.iter().filter(|f| f.status == SignatureStatus::Valid).map(|f| f.key_name.as_str()).collect();
    let needed = needed.max(1);
    if signers.len() >= needed {
        let signers = signers.into_iter().map(str::to_owned).collect();
        Ok(Verified { value, signers })
    } else {
        Err(SignatureRejection { valid: signers.len(), findings, needed })
    }
}

/// Names one successful signature check: SHA-256 over a domain tag, the key's
/// name and 32 bytes, the 64 signature bytes and the message. Two checks with
/// the same id checked the same signature by the same key over the same bytes,
/// so a set of ids remembered from earlier runs can stand in for running
/// ed25519 again; the id says nothing about whether the key is trusted now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckId([u8; 32]);

impl CheckId {
    /// Domain separation, so the digest means nothing else.
    const TAG: &'static [u8] = b"provenix signature check v1\0";

    /// The id of checking `sig` of `message` by `key`.
    pub fn compute(key: &PublicKey, sig: &Signature, message: &[u8]) -> CheckId {
        let mut h = crate::hash::Hasher::new(crate::hash::HashAlgo::Sha256);
        h.update(CheckId::TAG);
        h.update(&(key.name.len() as u64).to_le_bytes());
        h.update(key.name.as_bytes());
        h.update(key.as_bytes());
        h.update(&sig.bytes);
        h.update(&(message.len() as u64).to_le_bytes());
        h.update(message);
        let mut id = [0u8; 32];
        let digest = h.finish();
        if let Some(d) = digest.digest().get(..32) {
            id.copy_from_slice(d);
        }
        CheckId(id)
    }

    /// An id read back from where it was remembered.
    pub fn from_bytes(bytes: [u8; 32]) -> CheckId {
        CheckId(bytes)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl FromIterator<PublicKey> for TrustedKeys {
    fn from_iter<I: IntoIterator<Item = PublicKey>>(iter: I) -> TrustedKeys {
        let mut keys = TrustedKeys::new();
        for key in iter {
            keys.insert(key);
        }
        keys
    }
}

impl Extend<PublicKey> for TrustedKeys {
    fn extend<I: IntoIterator<Item = PublicKey>>(&mut self, iter: I) {
        for key in iter {
            self.insert(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    /// Made by `nix-store --generate-binary-cache-key test-1 sec pub` (Nix 2.8).
    const NIX_SECRET: &str =
        "test-1:1Li6buY4mOUGVCf9MbV/UTXbbtk3tt76f9C2Cn/u80fZTAdCkSmoyZJkbEVzBRtoSrm/DNYwSjqArWpwiSun4g==";
    const NIX_PUBLIC: &str = "test-1:2UwHQpEpqMmSZGxFcwUbaEq5vwzWMEo6gK1qcIkrp+I=";
    /// `nix store sign -k sec` of a path with this fingerprint, from `nix path-info --json --sigs`.
    const NIX_FINGERPRINT: &str = "1;/nix/store/0r2v93mqaf9d2zyqi8pgmyzmf879753y-top;\
        sha256:0q6yj9sbg7xi8kks5cmqc38xcpprb64a18cq9d67pds7sw04di7k;160;\
        /nix/store/z4asv3j07d89ywjf8fxkn7sg6mf5s9q5-dep";
    const NIX_SIG: &str =
        "test-1:siXj5fX2+w9D3iYFD+kOzBbKFWM9/neAgf58mrVe+BsS7VT4T5WA4MVAjD4Oo7QtFByjn2CaWm1bTeM7rYM4AQ==";

    fn trusted(keys: &[&str]) -> TrustedKeys {
        keys.iter().map(|k| PublicKey::parse(k).unwrap()).collect()
    }

    #[test]
    fn public_half_of_nix_secret_key_equals_nix_public_key() {
        let secret = SecretKey::parse(NIX_SECRET).unwrap();
        assert_eq!(secret.to_public().to_string(), NIX_PUBLIC);
        assert_eq!(secret.to_string(), NIX_SECRET);
    }

    #[test]
    fn signature_made_by_nix_verifies_and_ours_is_byte_identical() {
        let keys = trusted(&[NIX_PUBLIC]);
        let sig = Signature::parse(NIX_SIG).unwrap();
        let verified = keys.verify("top", NIX_FINGERPRINT.as_bytes(), [&sig], 1).unwrap();
        assert_eq!(verified.signers(), ["test-1"]);
        // ed25519 is deterministic, so our signature equals Nix's.
        let ours = SecretKey::parse(NIX_SECRET).unwrap().sign(NIX_FINGERPRINT.as_bytes());
        assert_eq!(ours.to_string(), NIX_SIG);
    }

    #[rstest]
    #[case::missing_colon("test-1", "missing the `:`")]
    #[case::empty_name(":2UwHQpEpqMmSZGxFcwUbaEq5vwzWMEo6gK1qcIkrp+I=", "empty key name")]
    #[case::space_in_name("a b:2UwHQpEpqMmSZGxFcwUbaEq5vwzWMEo6gK1qcIkrp+I=", "illegal character ' '")]
    #[case::bad_base64("test-1:2UwHQpEpqMmSZGxFcwUbaEq5vwzWMEo6gK1qcIkrp+I!", "invalid base64")]
    #[case::unpadded("test-1:2UwHQpEpqMmSZGxFcwUbaEq5vwzWMEo6gK1qcIkrp+I", "invalid base64")]
    #[case::non_canonical_bits("test-1:2UwHQpEpqMmSZGxFcwUbaEq5vwzWMEo6gK1qcIkrp+J=", "invalid base64")]
    #[case::too_short("test-1:2UwHQpEpqMmSZGxFcwUbaEq5vwzWMEo6gK1q", "has 27 bytes, expected 32")]
    #[case::secret_given(
        "test-1:1Li6buY4mOUGVCf9MbV/UTXbbtk3tt76f9C2Cn/u80fZTAdCkSmoyZJkbEVzBRtoSrm/DNYwSjqArWpwiSun4g==",
        "has 64 bytes, the length of a secret key: this is a secret key; pass its public key (the `.pub` file"
    )]
    #[case::two_newlines("test-1:2UwHQpEpqMmSZGxFcwUbaEq5vwzWMEo6gK1qcIkrp+I=\n\n", "invalid base64")]
    fn rejects_malformed_public_keys(#[case] text: &str, #[case] expected: &str) {
        let err = PublicKey::parse(text).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
    }

    #[test]
    fn rejects_secret_key_whose_public_half_belongs_to_another_seed() {
        let a = SecretKey::from_seed("k", [1; 32]).unwrap();
        let b = SecretKey::from_seed("k", [2; 32]).unwrap();
        let mut bytes = a.key.to_keypair_bytes();
        bytes[32..].copy_from_slice(b.to_public().as_bytes());
        let text = format!("k:{}", STANDARD.encode(bytes));
        assert_eq!(SecretKey::parse(&text), Err(SignatureError::PublicHalfMismatch { name: "k".into() }));
    }

    #[test]
    fn accepts_key_name_of_255_bytes_and_rejects_256() {
        assert!(SecretKey::from_seed(&"n".repeat(255), [0; 32]).is_ok());
        assert_eq!(
            SecretKey::from_seed(&"n".repeat(256), [0; 32]),
            Err(SignatureError::NameTooLong { kind: Kind::SecretKey, len: 256 })
        );
    }

    #[test]
    fn huge_base64_is_rejected_without_decoding() {
        let text = format!("k:{}", "A".repeat(1 << 20));
        assert!(matches!(Signature::parse(&text), Err(SignatureError::WrongLength { .. })));
    }

    #[test]
    fn key_files_with_one_trailing_newline_parse() {
        assert_eq!(PublicKey::parse(&format!("{NIX_PUBLIC}\n")).unwrap().to_string(), NIX_PUBLIC);
        assert_eq!(SecretKey::parse(&format!("{NIX_SECRET}\n")).unwrap().to_string(), NIX_SECRET);
        assert!(Signature::parse(&format!("{NIX_SIG}\n")).is_err());
    }

    #[test]
    fn debug_of_secret_key_hides_the_key() {
        let key = SecretKey::parse(NIX_SECRET).unwrap();
        assert_eq!(format!("{key:?}"), "SecretKey(test-1:<redacted>)");
    }

    #[rstest]
    #[case::flipped_byte(|s: &mut Signature| s.bytes[10] ^= 1, SignatureStatus::Invalid)]
    #[case::renamed(|s: &mut Signature| s.key_name = "other".into(), SignatureStatus::UntrustedKey)]
    #[case::non_canonical_s(|s: &mut Signature| s.bytes[63] |= 0xf0, SignatureStatus::Invalid)]
    fn tampered_signatures_are_refused(#[case] tamper: fn(&mut Signature), #[case] status: SignatureStatus) {
        let keys = trusted(&[NIX_PUBLIC]);
        let mut sig = Signature::parse(NIX_SIG).unwrap();
        tamper(&mut sig);
        let err = keys.verify((), NIX_FINGERPRINT.as_bytes(), [&sig], 1).unwrap_err();
        assert_eq!(err.valid, 0);
        assert_eq!(err.findings[0].status, status);
    }

    #[test]
    fn signature_by_another_key_with_the_trusted_name_is_invalid() {
        let impostor = SecretKey::from_seed("test-1", [7; 32]).unwrap();
        let sig = impostor.sign(NIX_FINGERPRINT.as_bytes());
        let err = trusted(&[NIX_PUBLIC]).verify((), NIX_FINGERPRINT.as_bytes(), [&sig], 1).unwrap_err();
        assert_eq!(err.findings, [SignatureFinding { key_name: "test-1".into(), status: SignatureStatus::Invalid }]);
    }

    #[test]
    fn two_signatures_by_one_key_count_once() {
        let key = SecretKey::from_seed("a", [3; 32]).unwrap();
        let keys: TrustedKeys = [key.to_public()].into_iter().collect();
        let sig = key.sign(b"m");
        assert!(keys.verify((), b"m", [&sig, &sig], 2).is_err());
        let other = SecretKey::from_seed("b", [4; 32]).unwrap();
        let keys: TrustedKeys = [key.to_public(), other.to_public()].into_iter().collect();
        let verified = keys.verify((), b"m", [&sig, &other.sign(b"m")], 2).unwrap();
        assert_eq!(verified.signers(), ["a", "b"]);
    }

    #[test]
    fn zero_needed_still_requires_one_signature() {
        let keys = trusted(&[NIX_PUBLIC]);
        let none: [&Signature; 0] = [];
        assert_eq!(keys.verify((), b"m", none, 0).unwrap_err().needed, 1);
    }

    #[test]
    fn trusted_key_list_splits_on_whitespace() {
        let other = SecretKey::from_seed("b", [4; 32]).unwrap().to_public();
        let keys = TrustedKeys::parse_list(&format!("  {NIX_PUBLIC}\n\t{other} ")).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys.get("b"), Some(&other));
    }

    proptest! {
        #[test]
        fn keys_and_signatures_round_trip(
            name in "[!-9;-~]{1,255}",
            seed in any::<[u8; 32]>(),
            message in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let secret = SecretKey::from_seed(&name, seed).unwrap();
            let text = secret.to_string();
            prop_assert_eq!(SecretKey::parse(&text).unwrap(), secret.clone());
            let public = secret.to_public();
            let text = public.to_string();
            let reparsed = PublicKey::parse(&text).unwrap();
            prop_assert_eq!(&reparsed, &public);
            prop_assert_eq!(reparsed.to_string(), text);
            let sig = secret.sign(&message);
            let text = sig.to_string();
            prop_assert_eq!(Signature::parse(&text).unwrap(), sig.clone());
            let keys: TrustedKeys = [public].into_iter().collect();
            prop_assert!(keys.verify((), &message, [&sig], 1).is_ok());
        }

        #[test]
        fn arbitrary_signature_bytes_round_trip(name in "[!-9;-~]{1,40}", bytes in any::<[u8; 32]>(), more in any::<[u8; 32]>()) {
            let mut all = [0u8; 64];
            all[..32].copy_from_slice(&bytes);
            all[32..].copy_from_slice(&more);
            let sig = Signature::new(&name, all).unwrap();
            prop_assert_eq!(Signature::parse(&sig.to_string()).unwrap(), sig);
        }
    }
}
