//! Digests in every textual form Nix accepts.
//!
//! Algorithms: md5 (16 bytes), sha1 (20), sha256 (32), sha512 (64).
//!
//! Forms, as Nix 2.8's `Hash::parseAny` accepts them (`outputHash`, `--hash`):
//!
//! ```text
//! hash      = [algo ":"] body          ; body's form is chosen by its length
//!           | algo "-" base64          ; SRI (Subresource Integrity)
//! body      = base16   (2 * size chars, either case)
//!           | nixbase32 (ceil(8 * size / 5) chars)
//!           | base64   (padded, 4 * ceil(size / 3) chars)
//! ```
//!
//! Without a prefix the algorithm must be known from elsewhere (for a `.drv`
//! output it comes from the `r:sha256` field). A prefix that disagrees with a
//! known algorithm is an error, as in Nix. SRI bodies may omit `=` padding.
//!
//! Rendering: [`Hash::to_base16`] (lowercase), [`Hash::to_nixbase32`],
//! [`Hash::to_base64`], [`Hash::to_sri`]; `Display` gives `algo:base16`, the form
//! Nix puts in store path fingerprints.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use thiserror::Error;

use crate::nixbase32;

/// A hash algorithm Nix knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HashAlgo {
    /// MD5, 16 bytes. Weak; accepted for old fixed-output derivations.
    Md5,
    /// SHA-1, 20 bytes. Weak; accepted for old fixed-output derivations.
    Sha1,
    /// SHA-256, 32 bytes.
    Sha256,
    /// SHA-512, 64 bytes.
    Sha512,
}

impl HashAlgo {
    /// All algorithms, weakest first.
    pub const ALL: [HashAlgo; 4] = [HashAlgo::Md5, HashAlgo::Sha1, HashAlgo::Sha256, HashAlgo::Sha512];

    /// Nix's name for the algorithm (`sha256`).
    pub const fn name(self) -> &'static str {
        match self {
            HashAlgo::Md5 => "md5",
            HashAlgo::Sha1 => "sha1",
            HashAlgo::Sha256 => "sha256",
            HashAlgo::Sha512 => "sha512",
        }
    }

    /// Digest size in bytes.
    pub const fn digest_len(self) -> usize {
        match self {
            HashAlgo::Md5 => 16,
            HashAlgo::Sha1 => 20,
            HashAlgo::Sha256 => 32,
            HashAlgo::Sha512 => 64,
        }
    }

    /// Parses Nix's name for an algorithm.
    pub fn from_name(name: &str) -> Option<HashAlgo> {
        HashAlgo::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Length of the base16 form.
    pub const fn base16_len(self) -> usize {
        self.digest_len() * 2
    }

    /// Length of the nixbase32 form.
    pub const fn nixbase32_len(self) -> usize {
        nixbase32::encoded_len(self.digest_len())
    }

    /// Length of the padded base64 form.
    pub const fn base64_len(self) -> usize {
        self.digest_len().div_ceil(3) * 4
    }
}

impl fmt::Display for HashAlgo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HashAlgo {
    type Err = HashError;
    fn from_str(s: &str) -> Result<Self, HashError> {
        HashAlgo::from_name(s).ok_or_else(|| HashError::UnknownAlgo(s.to_owned()))
    }
}

/// Errors from parsing a hash.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HashError {
    /// The algorithm name is not one Nix knows.
    #[error("unknown hash algorithm `{0}`")]
    UnknownAlgo(String),
    /// No `algo:`/`algo-` prefix and no algorithm given by context.
    #[error("hash `{0}` does not say its algorithm")]
    MissingAlgo(String),
    /// The prefix names another algorithm than the one expected.
    #[error("hash `{hash}` should have algorithm `{expected}`")]
    AlgoMismatch {
        /// The hash as given.
        hash: String,
        /// The algorithm the context requires.
        expected: HashAlgo,
    },
    /// The body's length fits none of the forms for the algorithm.
    #[error("hash `{hash}` has wrong length for algorithm `{algo}`")]
    WrongLength {
        /// The hash as given.
        hash: String,
        /// The algorithm.
        algo: HashAlgo,
    },
    /// The body is not valid in the form its length selects.
    #[error("hash `{hash}` is not valid {form}")]
    BadEncoding {
        /// The hash as given.
        hash: String,
        /// `base16`, `nixbase32` or `base64`.
        form: &'static str,
    },
}

/// A digest together with its algorithm.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash {
    algo: HashAlgo,
    bytes: [u8; 64],
}

/// The textual form of a hash, as in `nix hash to-*` and `nix-hash --base32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashEncoding {
    /// Lowercase hexadecimal.
    Base16,
    /// Nix's base-32.
    Nixbase32,
    /// Standard padded base64.
    Base64,
    /// `algo-base64`.
    Sri,
}

const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl Hash {
    /// Builds a hash from raw digest bytes; `None` if the length is wrong.
    pub fn from_digest(algo: HashAlgo, digest: &[u8]) -> Option<Hash> {
        if digest.len() != algo.digest_len() {
            return None;
        }
        let mut bytes = [0u8; 64];
        bytes.get_mut(..digest.len())?.copy_from_slice(digest);
        Some(Hash { algo, bytes })
    }

    /// The algorithm.
    pub fn algo(&self) -> HashAlgo {
        self.algo
    }

    /// The digest bytes (`algo().digest_len()` of them).
    pub fn digest(&self) -> &[u8] {
        self.bytes.get(..self.algo.digest_len()).unwrap_or(&[])
    }

    /// Hashes `data` in one go.
    pub fn compute(algo: HashAlgo, data: &[u8]) -> Hash {
        let mut h = Hasher::new(algo);
        h.update(data);
        h.finish()
    }

    /// Parses any form Nix accepts; `algo` is the algorithm known from context.
    pub fn parse(text: &str, algo: Option<HashAlgo>) -> Result<Hash, HashError> {
        let (found, body, sri) = split_prefix(text)?;
        let algo = match (found, algo) {
            (Some(f), Some(e)) if f != e => {
                return Err(HashError::AlgoMismatch { hash: text.to_owned(), expected: e });
            }
            (Some(a), _) | (None, Some(a)) => a,
            (None, None) => return Err(HashError::MissingAlgo(text.to_owned())),
        };
        if sri {
            return decode_base64(text, body, algo, &BASE64_LENIENT);
        }
        Self::parse_body(text, body, algo)
    }

    /// Parses a hash without prefix whose algorithm is known (the `.drv` form).
    pub fn parse_unprefixed(text: &str, algo: HashAlgo) -> Result<Hash, HashError> {
        Self::parse_body(text, text, algo)
    }

    /// Parses an SRI hash (`sha256-...`) only.
    pub fn parse_sri(text: &str) -> Result<Hash, HashError> {
        match split_prefix(text)? {
            (Some(algo), body, true) => decode_base64(text, body, algo, &BASE64_LENIENT),
            _ => Err(HashError::MissingAlgo(text.to_owned())),
        }
    }

    fn parse_body(text: &str, body: &str, algo: HashAlgo) -> Result<Hash, HashError> {
        let len = body.len();
        if len == algo.base16_len() {
            let mut bytes = [0u8; 64];
            for (i, pair) in body.as_bytes().chunks_exact(2).enumerate() {
                let (Some(hi), Some(lo)) =
                    (pair.first().and_then(|&c| hex_digit(c)), pair.get(1).and_then(|&c| hex_digit(c)))
                else {
                    return Err(HashError::BadEncoding { hash: text.to_owned(), form: "base16" });
                };
                if let Some(b) = bytes.get_mut(i) {
                    *b = hi << 4 | lo;
                }
            }
            Ok(Hash { algo, bytes })
        } else if len == algo.nixbase32_len() {
            let digest = nixbase32::decode(body.as_bytes())
                .map_err(|_| HashError::BadEncoding { hash: text.to_owned(), form: "nixbase32" })?;
            Hash::from_digest(algo, &digest).ok_or_else(|| HashError::WrongLength { hash: text.to_owned(), algo })
        } else if len == algo.base64_len() {
            decode_base64(text, body, algo, &STANDARD)
        } else {
            Err(HashError::WrongLength { hash: text.to_owned(), algo })
        }
    }

    /// Renders in the given form, without prefix except for SRI.
    pub fn encode(&self, encoding: HashEncoding) -> String {
        match encoding {
            HashEncoding::Base16 => self.to_base16(),
            HashEncoding::Nixbase32 => self.to_nixbase32(),
            HashEncoding::Base64 => self.to_base64(),
            HashEncoding::Sri => self.to_sri(),
        }
    }

    /// Lowercase hex, no prefix.
    pub fn to_base16(&self) -> String {
        let mut s = String::with_capacity(self.algo.base16_len());
        for b in self.digest() {
            s.push(hex_char(b >> 4));
            s.push(hex_char(b & 0xf));
        }
        s
    }

    /// nixbase32, no prefix.
    pub fn to_nixbase32(&self) -> String {
        nixbase32::encode(self.digest())
    }

    /// Padded base64, no prefix.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.digest())
    }

    /// `algo-base64`.
    pub fn to_sri(&self) -> String {
        format!("{}-{}", self.algo, self.to_base64())
    }

    /// `algo:nixbase32`, the form of narinfo `NarHash` and `nix-store -q --hash`.
    pub fn to_prefixed_nixbase32(&self) -> String {
        format!("{}:{}", self.algo, self.to_nixbase32())
    }
}

const HEX: [u8; 16] = *b"0123456789abcdef";

#[allow(clippy::indexing_slicing)] // callers pass a nibble, always < 16
fn hex_char(nibble: u8) -> char {
    char::from(HEX[usize::from(nibble & 0xf)])
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Splits `algo:` or `algo-` off; returns (algo, body, is_sri).
fn split_prefix(text: &str) -> Result<(Option<HashAlgo>, &str, bool), HashError> {
    if let Some((name, body)) = text.split_once(':') {
        return Ok((Some(name.parse()?), body, false));
    }
    if let Some((name, body)) = text.split_once('-') {
        if let Some(algo) = HashAlgo::from_name(name) {
            return Ok((Some(algo), body, true));
        }
    }
    Ok((None, text, false))
}

fn decode_base64(text: &str, body: &str, algo: HashAlgo, engine: &GeneralPurpose) -> Result<Hash, HashError> {
    // Decode into a buffer big enough for any digest; longer input cannot be a digest.
    if body.len() > HashAlgo::Sha512.base64_len() {
        return Err(HashError::WrongLength { hash: text.to_owned(), algo });
    }
    let digest = engine.decode(body).map_err(|_| HashError::BadEncoding { hash: text.to_owned(), form: "base64" })?;
    Hash::from_digest(algo, &digest).ok_or_else(|| HashError::WrongLength { hash: text.to_owned(), algo })
}

impl fmt::Display for Hash {
    /// `algo:base16`, the form in store path fingerprints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algo, self.to_base16())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

/// An incremental hasher for any [`HashAlgo`]; also an [`std::io::Write`] sink.
#[derive(Clone)]
pub enum Hasher {
    /// MD5 state.
    Md5(md5::Md5),
    /// SHA-1 state.
    Sha1(sha1::Sha1),
    /// SHA-256 state.
    Sha256(sha2::Sha256),
    /// SHA-512 state.
    Sha512(sha2::Sha512),
}

impl Hasher {
    /// A fresh hasher.
    pub fn new(algo: HashAlgo) -> Hasher {
        use sha2::Digest as _;
        match algo {
            HashAlgo::Md5 => Hasher::Md5(md5::Md5::new()),
            HashAlgo::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            HashAlgo::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlgo::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        use sha2::Digest as _;
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Hash {
        use sha2::Digest as _;
        let (algo, out): (HashAlgo, Vec<u8>) = match self {
            Hasher::Md5(h) => (HashAlgo::Md5, h.finalize().to_vec()),
            Hasher::Sha1(h) => (HashAlgo::Sha1, h.finalize().to_vec()),
            Hasher::Sha256(h) => (HashAlgo::Sha256, h.finalize().to_vec()),
            Hasher::Sha512(h) => (HashAlgo::Sha512, h.finalize().to_vec()),
        };
        let mut bytes = [0u8; 64];
        for (dst, src) in bytes.iter_mut().zip(&out) {
            *dst = *src;
        }
        Hash { algo, bytes }
    }
}

impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// SHA-256 of `data`, as raw bytes.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    const EMPTY_SHA256_HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[rstest]
    #[case::base16(EMPTY_SHA256_HEX)]
    #[case::base16_upper("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")]
    #[case::prefixed_base16("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    #[case::nixbase32("0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73")]
    #[case::prefixed_nixbase32("sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73")]
    #[case::base64("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")]
    #[case::sri("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")]
    #[case::sri_unpadded("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU")]
    fn parses_every_form_of_sha256_of_empty(#[case] text: &str) {
        let h = Hash::parse(text, Some(HashAlgo::Sha256)).unwrap();
        assert_eq!(h, Hash::compute(HashAlgo::Sha256, b""));
        assert_eq!(h.to_base16(), EMPTY_SHA256_HEX);
    }

    #[test]
    fn parses_prefixed_forms_without_context() {
        let h = Hash::parse("md5:d41d8cd98f00b204e9800998ecf8427e", None).unwrap();
        assert_eq!(h, Hash::compute(HashAlgo::Md5, b""));
        let h = Hash::parse("sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk=", None).unwrap();
        assert_eq!(h, Hash::compute(HashAlgo::Sha1, b""));
    }

    #[rstest]
    #[case::no_algo("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", None)]
    #[case::unknown_algo("sha3:00", None)]
    #[case::mismatch("sha1:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Some(HashAlgo::Sha256))]
    #[case::wrong_length("sha256:abcd", None)]
    #[case::bad_hex("sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", None)]
    #[case::bad_base32("sha256:emdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73", None)]
    #[case::overflowing_base32("sha256:zmdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73", None)]
    #[case::bad_base64("sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuF!=", None)]
    #[case::sri_too_short("sha256-47DEQpj8", None)]
    fn rejects_malformed_hashes(#[case] text: &str, #[case] algo: Option<HashAlgo>) {
        assert!(Hash::parse(text, algo).is_err(), "{text}");
    }

    proptest! {
        #[test]
        fn every_encoding_round_trips(algo in proptest::sample::select(HashAlgo::ALL.to_vec()),
                                      data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let h = Hash::compute(algo, &data);
            for enc in [HashEncoding::Base16, HashEncoding::Nixbase32, HashEncoding::Base64] {
                prop_assert_eq!(Hash::parse(&h.encode(enc), Some(algo)).unwrap(), h);
                prop_assert_eq!(Hash::parse(&format!("{algo}:{}", h.encode(enc)), None).unwrap(), h);
            }
            prop_assert_eq!(Hash::parse(&h.to_sri(), None).unwrap(), h);
            prop_assert_eq!(Hash::parse(&h.to_string(), None).unwrap(), h);
        }
    }
}
