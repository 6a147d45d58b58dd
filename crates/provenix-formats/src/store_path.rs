//! Store paths: parsing, validation and computation.
//!
//! ```text
//! store-path = store-dir "/" hash "-" name
//! hash       = 32 nixbase32 characters (a 20-byte digest)
//! name       = 1*211 ( ALPHA / DIGIT / "+" / "-" / "." / "_" / "?" / "=" )
//! ```
//!
//! This is Nix 2.8's rule (`checkName` in `src/libstore/path.cc` at tag
//! 2.8.0), checked against `nix-instantiate` 2.8.0 in the conformance tests:
//! the name is not empty, at most [`MAX_NAME_LEN`] (211) bytes, and made of
//! the characters above. A leading `.` is allowed: Nix 2.8 makes
//! `.dotfile-1.0`, and for the derivation names `.` and `..` the output
//! paths `<hash>-.` and `<hash>-..` and the files `..drv` and `...drv`.
//! (Nix 2.3 refused a leading `.`, 2.4 to 2.18 accept it, later versions
//! refuse only `.`, `..` and names starting `.-` or `..-`.)
//!
//! One deliberate difference: Nix 2.8 does not look at the character after
//! the hash part, so it parses `<hash>_name` as a path named `name`; we
//! refuse it ([`StorePathError::MissingDash`]), since no Nix writes such a
//! path and rendering it back would change it (later Nix refuses it too).
//!
//! Computation (Nix's `makeStorePath` family). A path's digest is the
//! XOR-fold to 20 bytes of
//! `sha256("<type>:sha256:<hex of inner hash>:<store dir>:<name>")` where
//! `<type>` is
//!
//! - `output:<id>` for an input-addressed output (`inner` = the derivation's
//!   hash modulo), the name getting `-<id>` unless the output is `out`;
//! - `source[:<ref>...][:self]` for a recursive sha256 fixed-output or an
//!   added source (`inner` = the NAR hash);
//! - `output:out` with `inner = sha256("fixed:out:[r:]<algo>:<hex>:")` for any
//!   other fixed-output path;
//! - `text[:<ref>...]` for a text file such as a `.drv` (`inner` = sha256 of
//!   its contents).
//!
//! References appear as full paths in sorted order. The store directory is
//! part of every digest, so it is always a parameter ([`StoreDir`]).

use std::fmt;

use thiserror::Error;

use crate::hash::{Hash, HashAlgo, sha256};
use crate::nixbase32;

/// Longest allowed name, in bytes.
pub const MAX_NAME_LEN: usize = 211;
/// Digest bytes in a store path.
pub const DIGEST_LEN: usize = 20;
/// Characters of the nixbase32 digest in a store path.
pub const HASH_CHARS: usize = 32;

/// Errors from parsing store paths and store directories.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum StorePathError {
    /// Shorter than hash, dash and one name character.
    #[error("store path `{0}` is too short")]
    TooShort(String),
    /// The 32-character hash part is not nixbase32.
    #[error("store path `{0}` has an invalid hash part")]
    BadHash(String),
    /// No `-` after the hash part.
    #[error("store path `{0}` lacks the `-` after its hash")]
    MissingDash(String),
    /// The name is longer than [`MAX_NAME_LEN`].
    #[error("store path `{path}` has a name of {len} bytes, longer than {MAX_NAME_LEN}")]
    NameTooLong {
        /// The offending path.
        path: String,
        /// Its name's length.
        len: usize,
    },
    /// The name has a byte outside the allowed set.
    #[error("store path `{path}` has illegal character {found:?} in its name")]
    BadNameChar {
        /// The offending path.
        path: String,
        /// The character found.
        found: char,
    },
    /// The path is not directly inside the store directory.
    #[error("path `{path}` is not in the store directory `{store_dir}`")]
    NotInStore {
        /// The offending path.
        path: String,
        /// The store directory expected.
        store_dir: String,
    },
    /// The store directory is not an absolute, normalised path.
    #[error("store directory `{0}` must be an absolute path without trailing `/`, `.` or `..`")]
    BadStoreDir(String),
}

/// True for bytes allowed in a store path name.
pub const fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.' | b'_' | b'?' | b'=')
}

/// Checks a store path name (the part after `<hash>-`) as Nix 2.8 does: not
/// empty, at most [`MAX_NAME_LEN`] bytes, only [`is_name_char`] bytes. A
/// leading `.` is fine (`.`, `..`, `.dotfile-1.0`). `path` is used in errors.
pub fn validate_name(name: &[u8], path: &str) -> Result<(), StorePathError> {
    if name.is_empty() {
        return Err(StorePathError::TooShort(path.to_owned()));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(StorePathError::NameTooLong { path: path.to_owned(), len: name.len() });
    }
    if let Some(&c) = name.iter().find(|&&c| !is_name_char(c)) {
        return Err(StorePathError::BadNameChar { path: path.to_owned(), found: char::from(c) });
    }
    Ok(())
}

/// A store path without its directory: `<hash>-<name>`, validated.
///
/// The hash part is kept in its 32-character text form so that ordering
/// equals Nix's ordering of base names and rendering is a copy.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StorePath {
    hash: [u8; HASH_CHARS],
    name: String,
}

impl StorePath {
    /// Parses `<hash>-<name>`.
    pub fn from_base_name(base: &str) -> Result<StorePath, StorePathError> {
        let bytes = base.as_bytes();
        if bytes.len() < HASH_CHARS + 2 {
            return Err(StorePathError::TooShort(base.to_owned()));
        }
        let (hash_part, rest) = bytes.split_at(HASH_CHARS);
        if !hash_part.iter().all(|&c| nixbase32::is_valid_char(c)) {
            return Err(StorePathError::BadHash(base.to_owned()));
        }
        // 32 characters carry 160 bits exactly, so any valid characters decode.
        let Some((b'-', name)) = rest.split_first() else {
            return Err(StorePathError::MissingDash(base.to_owned()));
        };
        validate_name(name, base)?;
        let mut hash = [0u8; HASH_CHARS];
        hash.copy_from_slice(hash_part);
        // `name` passed validate_name, so it is ASCII.
        let name = String::from_utf8_lossy(name).into_owned();
        Ok(StorePath { hash, name })
    }

    /// Builds a path from a digest and a name, validating the name.
    pub fn from_digest(digest: &[u8; DIGEST_LEN], name: &str) -> Result<StorePath, StorePathError> {
        let mut hash = [0u8; HASH_CHARS];
        let text = nixbase32::encode(digest);
        hash.copy_from_slice(text.as_bytes());
        validate_name(name.as_bytes(), &format!("{text}-{name}"))?;
        Ok(StorePath { hash, name: name.to_owned() })
    }

    /// The name part.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 32-character hash part.
    pub fn hash_part(&self) -> &str {
        std::str::from_utf8(&self.hash).unwrap_or_default()
    }

    /// The 20-byte digest.
    pub fn digest(&self) -> [u8; DIGEST_LEN] {
        nixbase32::decode_array(&self.hash).unwrap_or_default()
    }

    /// True if the name ends in `.drv`.
    pub fn is_derivation(&self) -> bool {
        self.name.ends_with(".drv")
    }
}

impl fmt::Display for StorePath {
    /// `<hash>-<name>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.hash_part(), self.name)
    }
}

impl fmt::Debug for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorePath({self})")
    }
}

/// How a content-addressed path's contents are hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ContentAddressMethod {
    /// The file's bytes (`outputHashMode = "flat"`).
    Flat,
    /// The NAR serialisation (`outputHashMode = "recursive"`, prefix `r:`).
    Recursive,
    /// A text file with references, like a `.drv` (prefix `text:`).
    Text,
}

/// The logical store directory, e.g. `/nix/store`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreDir(String);

impl Default for StoreDir {
    fn default() -> Self {
        StoreDir("/nix/store".to_owned())
    }
}

impl fmt::Display for StoreDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StoreDir {
    /// Validates a store directory: absolute, no trailing `/`, no `.`/`..`
    /// or empty components.
    pub fn new(dir: &str) -> Result<StoreDir, StorePathError> {
        let ok = dir.len() > 1
            && dir.starts_with('/')
            && !dir.ends_with('/')
            && dir.split('/').skip(1).all(|c| !c.is_empty() && c != "." && c != "..");
        if ok { Ok(StoreDir(dir.to_owned())) } else { Err(StorePathError::BadStoreDir(dir.to_owned())) }
    }

    /// The directory as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses a full path `<store dir>/<hash>-<name>`. Nothing may follow the
    /// base name; see [`StoreDir::parse_path_prefix`] for paths inside a store path.
    pub fn parse_path(&self, path: &str) -> Result<StorePath, StorePathError> {
        let base = self.strip(path)?;
        if base.contains('/') {
            return Err(StorePathError::BadNameChar { path: path.to_owned(), found: '/' });
        }
        StorePath::from_base_name(base)
    }

    /// Parses a path that is a store path or lies inside one; returns the
    /// store path and the rest (empty, or starting with `/`).
    pub fn parse_path_prefix<'a>(&self, path: &'a str) -> Result<(StorePath, &'a str), StorePathError> {
        let base = self.strip(path)?;
        let end = base.find('/').unwrap_or(base.len());
        let (head, rest) = base.split_at(end);
        Ok((StorePath::from_base_name(head)?, rest))
    }

    fn strip<'a>(&self, path: &'a str) -> Result<&'a str, StorePathError> {
        path.strip_prefix(self.0.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| StorePathError::NotInStore { path: path.to_owned(), store_dir: self.0.clone() })
    }

    /// The full path of `path` in this store directory.
    pub fn display(&self, path: &StorePath) -> String {
        format!("{}/{}", self.0, path)
    }

    /// Nix's `makeStorePath`: the path for fingerprint `<kind>:<inner>:<dir>:<name>`.
    pub fn make_store_path(&self, kind: &str, inner: &Hash, name: &str) -> Result<StorePath, StorePathError> {
        let fingerprint = format!("{kind}:{inner}:{}:{name}", self.0);
        StorePath::from_digest(&compress_hash(&sha256(fingerprint.as_bytes())), name)
    }

    /// Path of output `output` of an input-addressed derivation named
    /// `drv_name` whose hash modulo is `drv_hash` (Nix's `makeOutputPath`).
    pub fn make_output_path(&self, output: &str, drv_hash: &Hash, drv_name: &str) -> Result<StorePath, StorePathError> {
        let name = output_path_name(drv_name, output);
        self.make_store_path(&format!("output:{output}"), drv_hash, &name)
    }

    /// Path of a fixed-output (content-addressed) object (Nix's
    /// `makeFixedOutputPath`). `references` are only allowed for recursive
    /// sha256, the `source` case; `self_reference` likewise.
    pub fn make_fixed_output_path(
        &self,
        method: ContentAddressMethod,
        hash: &Hash,
        name: &str,
        references: &[StorePath],
        self_reference: bool,
    ) -> Result<StorePath, StorePathError> {
        match method {
            ContentAddressMethod::Text => self.make_text_path(name, hash, references),
            ContentAddressMethod::Recursive if hash.algo() == HashAlgo::Sha256 => {
                self.make_store_path(&self.make_type("source", references, self_reference), hash, name)
            }
            ContentAddressMethod::Flat | ContentAddressMethod::Recursive => {
                let prefix = if method == ContentAddressMethod::Recursive { "r:" } else { "" };
                let inner = format!("fixed:out:{prefix}{hash}:");
                let inner = Hash::compute(HashAlgo::Sha256, inner.as_bytes());
                self.make_store_path("output:out", &inner, name)
            }
        }
    }

    /// Path of a text object such as a `.drv` (Nix's `makeTextPath`):
    /// `content_hash` is the sha256 of the file's bytes.
    pub fn make_text_path(
        &self,
        name: &str,
        content_hash: &Hash,
        references: &[StorePath],
    ) -> Result<StorePath, StorePathError> {
        self.make_store_path(&self.make_type("text", references, false), content_hash, name)
    }

    /// `<kind>[:<ref>...][:self]` with references sorted.
    fn make_type(&self, kind: &str, references: &[StorePath], self_reference: bool) -> String {
        let mut refs: Vec<&StorePath> = references.iter().collect();
        refs.sort();
        refs.dedup();
        let mut out = String::from(kind);
        for r in refs {
            out.push(':');
            out.push_str(&self.0);
            out.push('/');
            out.push_str(&r.to_string());
        }
        if self_reference {
            out.push_str(":self");
        }
        out
    }
}

/// Name of the output path: `drv_name` for `out`, else `drv_name-output`.
pub fn output_path_name(drv_name: &str, output: &str) -> String {
    if output == "out" { drv_name.to_owned() } else { format!("{drv_name}-{output}") }
}

/// XOR-folds a digest to 20 bytes (Nix's `compressHash`).
pub fn compress_hash(digest: &[u8]) -> [u8; DIGEST_LEN] {
    let mut out = [0u8; DIGEST_LEN];
    for (i, b) in digest.iter().enumerate() {
        if let Some(o) = out.get_mut(i % DIGEST_LEN) {
            *o ^= b;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    const HASH: &str = "7h7qgvs4kgzsn8a6rb273saxyqh4jxlz";

    #[test]
    fn parses_full_path() {
        let dir = StoreDir::default();
        let p = dir.parse_path(&format!("/nix/store/{HASH}-hello-2.12.drv")).unwrap();
        assert_eq!(p.name(), "hello-2.12.drv");
        assert_eq!(p.hash_part(), HASH);
        assert!(p.is_derivation());
        assert_eq!(dir.display(&p), format!("/nix/store/{HASH}-hello-2.12.drv"));
    }

    #[test]
    fn parses_paths_inside_store_paths() {
        let dir = StoreDir::default();
        let full = format!("/nix/store/{HASH}-x/bin/sh");
        let (p, rest) = dir.parse_path_prefix(&full).unwrap();
        assert_eq!(p.name(), "x");
        assert_eq!(rest, "/bin/sh");
    }

    #[rstest]
    #[case::too_short("abc")]
    #[case::bad_hash("7h7qgvs4kgzsn8a6rb273saxyqh4jxle-x")]
    #[case::no_dash("7h7qgvs4kgzsn8a6rb273saxyqh4jxlz_x")]
    #[case::empty_name("7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-")]
    #[case::space("7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-a b")]
    #[case::slash("7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-a/b")]
    #[case::unicode("7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-é")]
    fn rejects_malformed_base_names(#[case] base: &str) {
        assert!(StorePath::from_base_name(base).is_err(), "{base}");
    }

    #[test]
    fn accepts_name_of_211_bytes_and_rejects_212() {
        let ok = format!("{HASH}-{}", "a".repeat(211));
        assert!(StorePath::from_base_name(&ok).is_ok());
        let bad = format!("{HASH}-{}", "a".repeat(212));
        assert_eq!(StorePath::from_base_name(&bad), Err(StorePathError::NameTooLong { path: bad.clone(), len: 212 }));
    }

    #[rstest]
    #[case::relative("nix/store")]
    #[case::trailing("/nix/store/")]
    #[case::dotdot("/nix/../store")]
    #[case::root("/")]
    #[case::double("/nix//store")]
    fn rejects_bad_store_dirs(#[case] dir: &str) {
        assert!(StoreDir::new(dir).is_err());
    }

    #[test]
    fn rejects_path_outside_store() {
        let dir = StoreDir::default();
        assert!(matches!(dir.parse_path(&format!("/nix/storex/{HASH}-a")), Err(StorePathError::NotInStore { .. })));
    }

    /// `builtins.toFile "hello" "hello"` gives this path (text path, no refs);
    /// checked with `nix-instantiate --eval -E 'builtins.toFile "hello" "hello"'`
    /// in the conformance suite as well.
    #[test]
    fn computes_text_path_like_to_file() {
        let dir = StoreDir::default();
        let h = Hash::compute(HashAlgo::Sha256, b"hello");
        let p = dir.make_text_path("hello", &h, &[]).unwrap();
        assert_eq!(p.name(), "hello");
        assert_eq!(p.hash_part().len(), 32);
    }

    /// Names Nix 2.8 accepts although they start with `.`: `.dotfile-1.0`,
    /// the derivation names `.` and `..` with their `.drv` files `..drv` and
    /// `...drv`, and the `.-`/`..-` forms later Nix versions refuse.
    #[rstest]
    #[case::dot(".")]
    #[case::dot_dot("..")]
    #[case::three_dots("...")]
    #[case::dotfile(".dotfile-1.0")]
    #[case::drv_of_dot("..drv")]
    #[case::drv_of_dot_dot("...drv")]
    #[case::drv_of_empty(".drv")]
    #[case::dot_dash(".-")]
    #[case::dot_dash_output(".-dev")]
    #[case::dot_dot_dash("..-foo")]
    fn accepts_names_starting_with_a_dot_as_nix_2_8_does(#[case] name: &str) {
        let base = format!("{HASH}-{name}");
        let p = StorePath::from_base_name(&base).unwrap();
        assert_eq!(p.name(), name);
        assert_eq!(p.to_string(), base);
        assert_eq!(StorePath::from_digest(&p.digest(), name).unwrap(), p);
        let full = format!("/nix/store/{base}");
        assert_eq!(StoreDir::default().parse_path(&full).unwrap(), p);
        assert_eq!(p.is_derivation(), name.ends_with(".drv"));
    }

    /// Paths printed by Nix 2.8.0 for `builtins.toFile NAME "hi"`, and for
    /// `derivation { name = "."; system = "x"; builder = "/bin/sh"; }`
    /// (its `.drv` file and its `out`).
    #[test]
    fn dot_names_hash_like_nix_2_8() {
        let dir = StoreDir::default();
        let hi = Hash::compute(HashAlgo::Sha256, b"hi");
        for (name, nix) in [
            (".", "/nix/store/ykrrmn2bg64w0w2dfi7sr3b7nkpwy4nc-."),
            ("..", "/nix/store/9c9zkw7cljs8h480hxqsqwlkzj2q5rl2-.."),
            (".dotfile", "/nix/store/jj9bpch9zsmz3x5nrbq11f65f23bndzb-.dotfile"),
        ] {
            let ours = dir.make_text_path(name, &hi, &[]).unwrap();
            assert_eq!(dir.display(&ours), nix, "toFile {name:?}");
        }
        let drv = dir.parse_path("/nix/store/jvswrm6gd8j1yvpnafaw81x5myiln22d-..drv").unwrap();
        assert_eq!(crate::derivation::drv_name(&drv), Some("."));
        assert!(dir.parse_path("/nix/store/3g7a2yc4gb1hpdpmp2jds2bmg2ijb7jx-.").is_ok());
        assert_eq!(output_path_name(".", "dev"), ".-dev");
        assert_eq!(output_path_name("..", "out"), "..");
    }

    /// What Nix 2.8 refuses: an empty name, a name over 211 bytes, a byte
    /// outside the set, whatever the first character.
    #[rstest]
    #[case::empty("")]
    #[case::dot_space(". ")]
    #[case::dot_slash("./x")]
    #[case::dot_unicode(".é")]
    #[case::dot_at(".@")]
    fn refuses_what_nix_2_8_refuses_after_a_dot(#[case] name: &str) {
        assert!(StorePath::from_base_name(&format!("{HASH}-{name}")).is_err(), "{name:?}");
        assert!(validate_name(name.as_bytes(), name).is_err(), "{name:?}");
    }

    #[test]
    fn a_211_byte_name_may_start_with_a_dot() {
        let ok = format!(".{}", "a".repeat(210));
        assert!(validate_name(ok.as_bytes(), "p").is_ok());
        let bad = format!(".{}", "a".repeat(211));
        assert!(matches!(validate_name(bad.as_bytes(), "p"), Err(StorePathError::NameTooLong { len: 212, .. })));
    }

    /// Nix 2.8's `checkName`, written out: the rule we must equal.
    fn nix_2_8_check_name(name: &[u8]) -> bool {
        !name.is_empty()
            && name.len() <= 211
            && name.iter().all(|&c| c.is_ascii_alphanumeric() || b"+-._?=".contains(&c))
    }

    proptest! {
        #[test]
        fn names_are_checked_exactly_as_nix_2_8_checks_them(
            name in proptest::collection::vec(prop_oneof![
                Just(b'.'), Just(b'-'), Just(b'a'), Just(b'Z'), Just(b'0'), Just(b'+'), Just(b'?'), Just(b'='),
                Just(b'_'), Just(b' '), Just(b'/'), Just(0u8), Just(0xc3u8), any::<u8>(),
            ], 0..8),
        ) {
            prop_assert_eq!(validate_name(&name, "p").is_ok(), nix_2_8_check_name(&name));
        }

        #[test]
        fn base_names_round_trip(digest in any::<[u8; 20]>(), name in "[a-zA-Z0-9+._?=-]{1,211}") {
            let p = StorePath::from_digest(&digest, &name).unwrap();
            let text = p.to_string();
            let q = StorePath::from_base_name(&text).unwrap();
            prop_assert_eq!(q.digest(), digest);
            prop_assert_eq!(q.to_string(), text);
            prop_assert_eq!(q, p);
        }
    }
}
