//! Nix derivations: the `.drv` ATerm, byte-exact, and Nix's hash modulo.
//!
//! A `.drv` file is one ATerm term, written by Nix 2.8's `Derivation::unparse`:
//!
//! ```text
//! drv       = "Derive(" "[" outputs "]" "," "[" inputDrvs "]" "," "[" inputSrcs "]" ","
//!             raw "," str "," "[" args "]" "," "[" env "]" ")"
//! outputs   = output *("," output)                  ; sorted by name, at least one
//! output    = "(" raw "," raw "," raw "," raw ")"   ; name, path, hashAlgo, hash
//! inputDrvs = [ inputDrv *("," inputDrv) ]          ; sorted by path
//! inputDrv  = "(" raw "," "[" [ raw *("," raw) ] "]" ")"  ; drv path, sorted output names
//! inputSrcs = [ raw *("," raw) ]                    ; sorted store paths
//! args      = [ str *("," str) ]                    ; in order
//! env       = [ "(" str "," str ")" *("," ...) ]     ; sorted by key
//! str       = DQUOTE *( escape / byte ) DQUOTE      ; escape = "\" ( DQUOTE / "\" / "n" / "r" / "t" )
//! raw       = DQUOTE *byte DQUOTE                   ; no escaping at all
//! ```
//!
//! Lists have no spaces and no trailing comma. Env keys and values, args, the
//! builder and the platform are **bytes**, not UTF-8 (`builtins.readFile` of
//! a latin-1 file puts raw bytes there): accessors give `&[u8]` ([`Env`],
//! [`Args`]), and [`DerivationParts`] holds [`BString`]s. A parsed derivation
//! keeps its file's bytes as the one buffer these strings live in (escapes
//! resolved in place), so parsing allocates little; maps are sorted vectors
//! ([`SortedMap`], [`SortedSet`]).
//!
//! Outputs, by their `hashAlgo` and `hash` fields ([`Output`]):
//!
//! | path | hashAlgo | hash | kind |
//! |---|---|---|---|
//! | store path | `""` | `""` | input-addressed |
//! | `""` | `""` | `""` | deferred (depends on a floating CA derivation) |
//! | store path | `[r:\|text:]algo` | base16 | fixed-output (FOD) |
//! | `""` | `[r:\|text:]algo` | `""` | floating content-addressed (`__contentAddressed`) |
//! | `""` | `[r:\|text:]algo` | `impure` | impure (`__impure`) |
//!
//! # We accept exactly what Nix writes
//!
//! [`Derivation::parse`] accepts only the canonical bytes Nix 2.8 writes, so
//! that for every accepted input `parse(b).to_bytes() == b`. What Nix's own
//! (lenient) reader would also take, we reject, with the byte offset:
//!
//! - **Escapes.** Nix's reader maps any `\X` to `X`, but its writer only ever
//!   emits `\"`, `\\`, `\n`, `\r` and `\t`. Any other escape is rejected
//!   ([`DerivationError::BadEscape`]), and so is a raw LF, CR or TAB inside an
//!   escaped string, since Nix would have written it as an escape.
//! - **Unquoted fields.** Nix writes output names, paths, hash fields, input
//!   paths and the *platform* without any escaping. A platform like
//!   `"x\ny"` therefore appears with a raw newline (Nix 2.8 really writes
//!   this), which we keep; a `\` there is rejected because Nix itself would
//!   read it back as an escape and get another derivation (Nix 2.8 then
//!   refuses the file as having "incorrect output").
//! - **Order.** Nix writes `std::map`s and `std::set`s: outputs, input
//!   derivations (by base name), their output names, input sources and env
//!   keys are strictly increasing by bytes. Unsorted or duplicate entries are
//!   rejected ([`DerivationError::Unsorted`], [`DerivationError::Duplicate`]).
//! - **Hashes.** Fixed-output hashes must be lowercase base16, the only form
//!   Nix writes (its reader would also take nixbase32 or base64).
//! - **Separators.** Nix's reader accepts a missing `,` between list
//!   elements and a leading `,`; we do not.
//! - **Shape.** The same checks Nix applies when it uses a derivation
//!   (`BasicDerivation::type`): at least one output, no mixing of output
//!   kinds, a fixed-output derivation has exactly one output named `out`,
//!   floating outputs share one hash algorithm. Output names are 1 to 211
//!   store-path-name bytes.
//! - **Text hashing.** `text:sha256` is accepted for fixed and floating
//!   outputs (later Nix writes it for dynamic derivations); Nix 2.8 itself
//!   rejects it as an unknown hash type. Text hashing requires sha256.
//!
//! The fixed output's recorded path is kept as written; Nix 2.8 ignores it and
//! recomputes it from the hash and the name, which
//! [`Derivation::compute_output_paths`] does too so a verifier can compare.
//!
//! # Limits
//!
//! Input is at most [`MAX_DRV_LEN`] bytes (checked before anything is
//! allocated; parsed data is never larger than the input). The grammar has a
//! fixed depth, so there is no nesting to bound.
//!
//! # Hash modulo (`hash.rs`)
//!
//! [`Derivation::hash_modulo`] is Nix's `hashDerivationModulo`; output paths
//! of input-addressed derivations come from it with outputs masked, and the
//! `.drv` path is the text path of the bytes (see [`Derivation::compute_drv_path`]).
//!
//! # `nix show-derivation` (`show.rs`)
//!
//! [`write_show_json`] writes the exact bytes of Nix 2.8's `nix
//! show-derivation` (and [`render_show_json_entries`] lets a caller render
//! batches in parallel; [`render_show_json_member`] renders one derivation
//! and [`write_show_json_members`] joins such members). Nix 2.8 escapes `"`, `\`, LF, CR, TAB and other bytes
//! below 0x20 (as `\u00XX`) and copies every other byte, so non-UTF-8 bytes
//! appear **raw** and its output is then not valid UTF-8 JSON. With the
//! `serde` feature, [`ShowDerivation`] serialises the same shape into any serde
//! format, with non-UTF-8 bytes replaced by U+FFFD per invalid sequence (what
//! `String::from_utf8_lossy` does to Nix's output).

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::ops::Deref;

use thiserror::Error;

use crate::hash::{Hash, HashAlgo, HashError};
use crate::store_path::{ContentAddressMethod, MAX_NAME_LEN, StorePath, StorePathError, is_name_char};

mod hash;
mod parse;
mod show;
mod sorted;
mod strings;
mod write;

#[cfg(test)]
mod tests;

pub use hash::{HashModulo, drv_path_of};
pub use show::{
    SHOW_JSON_OPEN, SHOW_JSON_SEPARATOR, render_show_json_entries, render_show_json_member, show_json_close,
    write_show_json, write_show_json_members,
};
#[cfg(feature = "serde")]
pub use show::{ShowDerivation, ShowDerivations};
pub use sorted::{SortedMap, SortedSet};
pub use strings::{Args, Env};

/// Largest `.drv` file accepted, in bytes (256 MiB). Nix has no limit; the
/// largest real `.drv` files are a few MiB.
pub const MAX_DRV_LEN: usize = 256 * 1024 * 1024;

/// Errors from parsing, building and hashing derivations. Offsets count bytes
/// from the start of the input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DerivationError {
    /// The input is longer than [`MAX_DRV_LEN`].
    #[error("derivation is {len} bytes, more than the limit of {MAX_DRV_LEN}")]
    TooLarge {
        /// Input length.
        len: usize,
    },
    /// The input ends too early.
    #[error("byte {offset}: expected {expected}, found end of input")]
    UnexpectedEnd {
        /// Where the input ends.
        offset: usize,
        /// What the grammar wants next.
        expected: &'static str,
    },
    /// A byte the grammar does not allow here.
    #[error("byte {offset}: expected {expected}, found {}", show_byte(*found))]
    Expected {
        /// Offset of the byte.
        offset: usize,
        /// What the grammar wants.
        expected: &'static str,
        /// The byte found.
        found: u8,
    },
    /// An escape other than `\"`, `\\`, `\n`, `\r`, `\t`.
    #[error("byte {offset}: unsupported escape {} (Nix only writes \\\" \\\\ \\n \\r \\t)", show_escape(*found))]
    BadEscape {
        /// Offset of the backslash.
        offset: usize,
        /// The escaped byte.
        found: u8,
    },
    /// A raw LF, CR or TAB in an escaped string, which Nix writes as an escape.
    #[error("byte {offset}: unescaped {} in a quoted string (Nix escapes it)", show_byte(*found))]
    UnescapedControl {
        /// Offset of the byte.
        offset: usize,
        /// The byte.
        found: u8,
    },
    /// A `\` in a field Nix writes without escaping.
    #[error("byte {offset}: backslash in {field}, which Nix writes unescaped")]
    BackslashInRawField {
        /// Offset of the backslash.
        offset: usize,
        /// The field.
        field: &'static str,
    },
    /// A field that should be a store path is not one.
    #[error("byte {offset}: invalid store path in {field}")]
    StorePath {
        /// Offset of the field.
        offset: usize,
        /// The field (`output path`, `input derivation`, `input source`).
        field: &'static str,
        /// Why.
        #[source]
        source: StorePathError,
    },
    /// An input derivation path that does not end in `.drv`.
    #[error("byte {offset}: input derivation `{path}` is not a `.drv` path")]
    NotDrvPath {
        /// Offset of the path.
        offset: usize,
        /// The path.
        path: StorePath,
    },
    /// An output name with bytes outside the store path name set, or empty.
    #[error("byte {offset}: invalid output name `{name}`")]
    OutputName {
        /// Offset of the name.
        offset: usize,
        /// The name, lossily decoded.
        name: String,
    },
    /// A `hashAlgo` field naming no known algorithm.
    #[error("byte {offset}: unknown hash algorithm `{algo}`")]
    UnknownHashAlgo {
        /// Offset of the field.
        offset: usize,
        /// The field, lossily decoded.
        algo: String,
    },
    /// A fixed output's hash does not parse for its algorithm.
    #[error("byte {offset}: invalid hash for output `{output}`")]
    Hash {
        /// Offset of the hash field.
        offset: usize,
        /// The output.
        output: String,
        /// Why.
        #[source]
        source: HashError,
    },
    /// A fixed output's hash is valid but not lowercase base16.
    #[error("byte {offset}: hash of output `{output}` is not lowercase base16 (the only form Nix writes)")]
    NonCanonicalHash {
        /// Offset of the hash field.
        offset: usize,
        /// The output.
        output: String,
    },
    /// An output whose fields fit none of the output kinds.
    #[error("byte {offset}: output `{output}`: {problem}")]
    BadOutput {
        /// Offset of the output.
        offset: usize,
        /// The output.
        output: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// A sorted list or map is out of order.
    #[error("byte {offset}: {field} entry `{key}` is out of order (Nix writes them sorted)")]
    Unsorted {
        /// Offset of the entry.
        offset: usize,
        /// The list.
        field: &'static str,
        /// The entry, lossily decoded.
        key: String,
    },
    /// A sorted list or map has an entry twice.
    #[error("byte {offset}: {field} entry `{key}` appears twice")]
    Duplicate {
        /// Offset of the second entry.
        offset: usize,
        /// The list.
        field: &'static str,
        /// The entry, lossily decoded.
        key: String,
    },
    /// The outputs together are not a derivation Nix can use.
    #[error("byte {offset}: {problem}")]
    Shape {
        /// Offset of the output list.
        offset: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// Bytes after the closing `)`.
    #[error("byte {offset}: trailing bytes after the derivation")]
    TrailingBytes {
        /// Offset of the first trailing byte.
        offset: usize,
    },
    /// [`Derivation::new`] was given parts that do not form a derivation.
    #[error("invalid derivation: {problem}")]
    Invalid {
        /// What is wrong.
        problem: &'static str,
    },
    /// Hash modulo needs an input derivation that was not supplied.
    #[error("input derivation `{path}` is not available")]
    MissingInput {
        /// The input's `.drv` path.
        path: StorePath,
    },
    /// An input derivation lacks an output this derivation uses.
    #[error("input derivation `{path}` has no output `{output}`")]
    MissingInputOutput {
        /// The input's `.drv` path.
        path: StorePath,
        /// The output used.
        output: OutputName,
    },
    /// An output or `.drv` path cannot be computed (e.g. the name is too long).
    #[error("cannot compute the path of {what}")]
    ComputePath {
        /// `output <name>` or `the .drv file`.
        what: String,
        /// Why.
        #[source]
        source: StorePathError,
    },
}

/// Renders a byte for error messages: printable ASCII as `` `c` ``, others as hex.
fn show_byte(b: u8) -> String {
    if b.is_ascii_graphic() { format!("`{}`", char::from(b)) } else { format!("byte 0x{b:02x}") }
}

/// Renders an escape sequence for error messages.
fn show_escape(b: u8) -> String {
    if b.is_ascii_graphic() { format!("`\\{}`", char::from(b)) } else { format!("`\\` followed by byte 0x{b:02x}") }
}

/// A byte string: env values, args, builder and platform are bytes in Nix.
///
/// `Debug` shows it like a Rust byte string; `Display` decodes lossily.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BString(Vec<u8>);

impl BString {
    /// Wraps bytes.
    pub fn new(bytes: Vec<u8>) -> BString {
        BString(bytes)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes, consuming.
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }

    /// The text, if it is UTF-8.
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The text, with invalid UTF-8 sequences replaced by U+FFFD.
    pub fn to_str_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }
}

impl Deref for BString {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for BString {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Borrow<[u8]> for BString {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for BString {
    fn from(v: Vec<u8>) -> BString {
        BString(v)
    }
}

impl From<&[u8]> for BString {
    fn from(v: &[u8]) -> BString {
        BString(v.to_vec())
    }
}

impl From<&str> for BString {
    fn from(v: &str) -> BString {
        BString(v.as_bytes().to_vec())
    }
}

impl From<String> for BString {
    fn from(v: String) -> BString {
        BString(v.into_bytes())
    }
}

impl fmt::Debug for BString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

impl fmt::Display for BString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_str_lossy())
    }
}

/// An output name: 1 to 211 bytes from the store path name set (`out`, `dev`).
///
/// Nix 2.8 writes output names without escaping and puts them into output
/// path names, so nothing else can appear in a usable derivation.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutputName(String);

impl OutputName {
    /// Validates an output name.
    pub fn new(name: &str) -> Option<OutputName> {
        Self::from_bytes(name.as_bytes())
    }

    /// Validates an output name given as bytes.
    pub fn from_bytes(name: &[u8]) -> Option<OutputName> {
        let ok = !name.is_empty() && name.len() <= MAX_NAME_LEN && name.iter().all(|&c| is_name_char(c));
        // Only ASCII passes `is_name_char`, so the conversion cannot fail.
        ok.then(|| std::str::from_utf8(name).ok().map(|s| OutputName(s.to_owned()))).flatten()
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for OutputName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OutputName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for OutputName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// One output of a derivation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Path computed from the derivation's hash modulo (`("out","/nix/store/…","","")`).
    InputAddressed {
        /// The output path as recorded.
        path: StorePath,
    },
    /// Fixed-output: content hash known in advance (`("out","/nix/store/…","r:sha256","<hex>")`).
    Fixed {
        /// Flat (`sha256`), recursive (`r:sha256`) or text (`text:sha256`).
        method: ContentAddressMethod,
        /// The expected content hash.
        hash: Hash,
        /// The output path as recorded (Nix 2.8 recomputes it rather than trusting it).
        path: StorePath,
    },
    /// Floating content-addressed (`__contentAddressed = true`): path known after the build.
    Floating {
        /// How the output will be hashed.
        method: ContentAddressMethod,
        /// With which algorithm.
        algo: HashAlgo,
    },
    /// Input-addressed, but depending on a floating derivation: all fields empty.
    Deferred,
    /// Impure (`__impure = true`): hash field `impure`.
    Impure {
        /// How the output will be hashed.
        method: ContentAddressMethod,
        /// With which algorithm.
        algo: HashAlgo,
    },
}

impl Output {
    /// The path recorded in the `.drv`, if any.
    pub fn path(&self) -> Option<&StorePath> {
        match self {
            Output::InputAddressed { path } | Output::Fixed { path, .. } => Some(path),
            Output::Floating { .. } | Output::Deferred | Output::Impure { .. } => None,
        }
    }

    /// The kind of derivation an output of this kind belongs to.
    pub fn kind(&self) -> DerivationKind {
        match self {
            Output::InputAddressed { .. } => DerivationKind::InputAddressed,
            Output::Fixed { .. } => DerivationKind::Fixed,
            Output::Floating { .. } => DerivationKind::Floating,
            Output::Deferred => DerivationKind::Deferred,
            Output::Impure { .. } => DerivationKind::Impure,
        }
    }

    /// The `hashAlgo` field: `[r:|text:]algo`, or `None` when empty.
    pub fn method_algo(&self) -> Option<(ContentAddressMethod, HashAlgo)> {
        match self {
            Output::Fixed { method, hash, .. } => Some((*method, hash.algo())),
            Output::Floating { method, algo } | Output::Impure { method, algo } => Some((*method, *algo)),
            Output::InputAddressed { .. } | Output::Deferred => None,
        }
    }
}

/// Nix's prefix for a content-address method in `hashAlgo` fields.
pub fn method_prefix(method: ContentAddressMethod) -> &'static str {
    match method {
        ContentAddressMethod::Flat => "",
        ContentAddressMethod::Recursive => "r:",
        ContentAddressMethod::Text => "text:",
    }
}

/// What kind of derivation this is, from its outputs (Nix's `DerivationType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DerivationKind {
    /// All outputs input-addressed.
    InputAddressed,
    /// One fixed output named `out`.
    Fixed,
    /// All outputs floating content-addressed.
    Floating,
    /// All outputs deferred.
    Deferred,
    /// All outputs impure.
    Impure,
}

/// The parts of a derivation, unchecked; [`Derivation::new`] checks them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DerivationParts {
    /// Outputs by name.
    pub outputs: SortedMap<OutputName, Output>,
    /// Input derivations and the outputs used from each.
    pub input_drvs: SortedMap<StorePath, SortedSet<OutputName>>,
    /// Input sources.
    pub input_srcs: SortedSet<StorePath>,
    /// The `system` (`x86_64-linux`).
    pub platform: BString,
    /// The builder program.
    pub builder: BString,
    /// The builder's arguments.
    pub args: Vec<BString>,
    /// The builder's environment.
    pub env: SortedMap<BString, BString>,
}

/// A valid derivation. Maps keep Nix's order; all fields are checked.
///
/// The byte strings (platform, builder, args, env) live in one buffer, for a
/// parsed derivation the `.drv` file's own bytes; see [`Env`] and [`Args`].
#[derive(Clone, PartialEq, Eq)]
pub struct Derivation {
    outputs: SortedMap<OutputName, Output>,
    input_drvs: SortedMap<StorePath, SortedSet<OutputName>>,
    input_srcs: SortedSet<StorePath>,
    strings: strings::Strings,
    kind: DerivationKind,
}

impl fmt::Debug for Derivation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Derivation")
            .field("outputs", &self.outputs)
            .field("input_drvs", &self.input_drvs)
            .field("input_srcs", &self.input_srcs)
            .field("platform", &strings::ByteStr(self.platform()))
            .field("builder", &strings::ByteStr(self.builder()))
            .field("args", &self.args())
            .field("env", &self.env())
            .finish()
    }
}

/// Checks the outputs together, like Nix's `BasicDerivation::type`.
fn classify(outputs: &SortedMap<OutputName, Output>) -> Result<DerivationKind, &'static str> {
    let mut iter = outputs.iter();
    let Some((first_name, first)) = iter.next() else {
        return Err("a derivation must have at least one output");
    };
    let kind = first.kind();
    if kind == DerivationKind::Fixed {
        if outputs.len() > 1 {
            return Err("a fixed-output derivation must have exactly one output");
        }
        if first_name.as_str() != "out" {
            return Err("the fixed output must be named `out`");
        }
    }
    let floating_algo = match first {
        Output::Floating { algo, .. } => Some(*algo),
        _ => None,
    };
    for (_, output) in iter {
        if output.kind() != kind {
            return Err("a derivation cannot mix output kinds");
        }
        if let (Output::Floating { algo, .. }, Some(first_algo)) = (output, floating_algo) {
            if *algo != first_algo {
                return Err("all floating outputs must use the same hash algorithm");
            }
        }
    }
    Ok(kind)
}

/// Checks one output's own fields.
fn check_output(output: &Output) -> Result<(), &'static str> {
    match output.method_algo() {
        Some((ContentAddressMethod::Text, algo)) if algo != HashAlgo::Sha256 => Err("text hashing requires sha256"),
        _ => Ok(()),
    }
}

/// Checks the platform: Nix writes it unescaped, so `"` and `\` cannot round-trip.
fn check_platform(platform: &[u8]) -> Result<(), &'static str> {
    if platform.contains(&b'"') || platform.contains(&b'\\') {
        return Err("the platform cannot contain `\"` or `\\` (Nix writes it unescaped)");
    }
    Ok(())
}

impl Derivation {
    /// Checks `parts` and makes a derivation of them.
    pub fn new(parts: DerivationParts) -> Result<Derivation, DerivationError> {
        let invalid = |problem| DerivationError::Invalid { problem };
        check_platform(&parts.platform).map_err(invalid)?;
        for output in parts.outputs.values() {
            check_output(output).map_err(invalid)?;
        }
        let kind = classify(&parts.outputs).map_err(invalid)?;
        let strings = strings::Strings::from_values(
            &parts.platform,
            &parts.builder,
            parts.args.iter().map(BString::as_bytes),
            parts.env.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())),
        );
        Ok(Derivation {
            outputs: parts.outputs,
            input_drvs: parts.input_drvs,
            input_srcs: parts.input_srcs,
            strings,
            kind,
        })
    }

    /// The parts, for modification and [`Derivation::new`].
    pub fn into_parts(self) -> DerivationParts {
        DerivationParts {
            platform: BString::from(self.platform()),
            builder: BString::from(self.builder()),
            args: self.args().iter().map(BString::from).collect(),
            env: self.env().iter().map(|(k, v)| (BString::from(k), BString::from(v))).collect(),
            outputs: self.outputs,
            input_drvs: self.input_drvs,
            input_srcs: self.input_srcs,
        }
    }

    /// Outputs by name.
    pub fn outputs(&self) -> &SortedMap<OutputName, Output> {
        &self.outputs
    }

    /// Input derivations and the outputs used from each.
    pub fn input_drvs(&self) -> &SortedMap<StorePath, SortedSet<OutputName>> {
        &self.input_drvs
    }

    /// Input sources.
    pub fn input_srcs(&self) -> &SortedSet<StorePath> {
        &self.input_srcs
    }

    /// The `system`, as bytes.
    pub fn platform(&self) -> &[u8] {
        self.strings.platform()
    }

    /// The builder, as bytes.
    pub fn builder(&self) -> &[u8] {
        self.strings.builder()
    }

    /// The builder's arguments.
    pub fn args(&self) -> Args<'_> {
        self.strings.args()
    }

    /// The environment.
    pub fn env(&self) -> Env<'_> {
        self.strings.env()
    }

    /// One environment variable.
    pub fn env_var(&self, key: &[u8]) -> Option<&[u8]> {
        self.env().get(key)
    }

    /// The kind, from the outputs.
    pub fn kind(&self) -> DerivationKind {
        self.kind
    }

    /// True for a fixed-output derivation (FOD).
    pub fn is_fixed_output(&self) -> bool {
        self.kind == DerivationKind::Fixed
    }

    /// The FOD's method, hash and recorded path, if this is one.
    pub fn fixed_output(&self) -> Option<(ContentAddressMethod, &Hash, &StorePath)> {
        self.outputs.values().find_map(|o| match o {
            Output::Fixed { method, hash, path } => Some((*method, hash, path)),
            _ => None,
        })
    }

    /// The `name` env var, which Nix sets from the `name` attribute. For the
    /// name that goes into paths, use [`drv_name`] on the `.drv` path.
    pub fn name(&self) -> Option<&[u8]> {
        self.env_var(b"name")
    }

    /// True if built with `__structuredAttrs = true` (a `__json` env var).
    pub fn has_structured_attrs(&self) -> bool {
        self.env().contains_key(b"__json")
    }

    /// The structured attributes: the JSON text of the `__json` env var.
    /// Nix 2.8 copies string bytes into it unchanged, so it can be non-UTF-8.
    pub fn structured_attrs(&self) -> Option<&[u8]> {
        self.env_var(b"__json")
    }

    /// Store paths this `.drv` file refers to: input sources and input derivations.
    pub fn references(&self) -> impl Iterator<Item = &StorePath> {
        self.input_srcs.iter().chain(self.input_drvs.keys())
    }
}

/// The derivation name of a `.drv` path: its name without `.drv`
/// (Nix's `nameFromPath`). `None` if the path is not a `.drv`.
pub fn drv_name(drv_path: &StorePath) -> Option<&str> {
    drv_path.name().strip_suffix(".drv").filter(|n| !n.is_empty())
}
