//! The ATerm reader: a byte cursor over the input, memchr for scanning.

use memchr::{memchr, memchr2, memchr3};

use super::strings::{RawSpan, Span, Strings, unescaped_bytes};
use super::{
    BString, Derivation, DerivationError, MAX_DRV_LEN, Output, OutputName, SortedMap, SortedSet, check_output, classify,
};
use crate::hash::{Hash, HashAlgo};
use crate::store_path::{ContentAddressMethod, StoreDir, StorePath};

type Result<T> = std::result::Result<T, DerivationError>;

/// A position in the input; every error carries its offset.
struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(input: &'a [u8]) -> Cursor<'a> {
        Cursor { input, pos: 0 }
    }

    fn offset(&self) -> usize {
        self.pos
    }

    fn rest(&self) -> &'a [u8] {
        self.input.get(self.pos..).unwrap_or_default()
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn end(&self, expected: &'static str) -> DerivationError {
        DerivationError::UnexpectedEnd { offset: self.input.len(), expected }
    }

    /// Consumes `tag`, reporting the first byte that differs.
    fn tag(&mut self, tag: &'static [u8], expected: &'static str) -> Result<()> {
        for (i, &want) in tag.iter().enumerate() {
            match self.input.get(self.pos + i) {
                None => return Err(self.end(expected)),
                Some(&found) if found != want => {
                    return Err(DerivationError::Expected { offset: self.pos + i, expected, found });
                }
                Some(_) => {}
            }
        }
        self.pos += tag.len();
        Ok(())
    }

    /// A string Nix writes without escaping: the bytes up to the next `"`.
    fn raw(&mut self, field: &'static str) -> Result<&'a [u8]> {
        self.tag(b"\"", "`\"`")?;
        let rest = self.rest();
        let end = memchr(b'"', rest).ok_or_else(|| self.end("closing `\"`"))?;
        let text = rest.get(..end).unwrap_or_default();
        if let Some(i) = memchr(b'\\', text) {
            return Err(DerivationError::BackslashInRawField { offset: self.pos + i, field });
        }
        self.pos += end + 1;
        Ok(text)
    }

    /// An escaped string; only the escapes Nix writes are accepted.
    fn string(&mut self) -> Result<RawSpan> {
        self.tag(b"\"", "`\"`")?;
        let start = self.pos;
        let mut escaped = false;
        loop {
            let rest = self.rest();
            let stop = memchr2(b'"', b'\\', rest).ok_or_else(|| self.end("closing `\"`"))?;
            let chunk = rest.get(..stop).unwrap_or_default();
            if let Some(i) = memchr3(b'\n', b'\r', b'\t', chunk) {
                let found = chunk.get(i).copied().unwrap_or_default();
                return Err(DerivationError::UnescapedControl { offset: self.pos + i, found });
            }
            self.pos += stop;
            if rest.get(stop) == Some(&b'"') {
                let span = Span::new(start, self.pos);
                self.pos += 1;
                return Ok(RawSpan { span, escaped });
            }
            match rest.get(stop + 1) {
                None => return Err(self.end("an escaped byte")),
                Some(b'n' | b'r' | b't' | b'"' | b'\\') => {}
                Some(&found) => return Err(DerivationError::BadEscape { offset: self.pos, found }),
            }
            escaped = true;
            self.pos += 2;
        }
    }

    /// The bytes of a string found by [`Cursor::string`], still escaped.
    fn slice(&self, span: RawSpan) -> &'a [u8] {
        self.input.get(span.span.start()..span.span.end()).unwrap_or_default()
    }

    /// `[` elem *(`,` elem) `]`, or `[]`.
    fn list(&mut self, mut elem: impl FnMut(&mut Self) -> Result<()>) -> Result<()> {
        self.tag(b"[", "`[`")?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            elem(self)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(found) => {
                    return Err(DerivationError::Expected { offset: self.pos, expected: "`,` or `]`", found });
                }
                None => return Err(self.end("`,` or `]`")),
            }
        }
    }

    fn expect_end(&self) -> Result<()> {
        if self.pos < self.input.len() {
            return Err(DerivationError::TrailingBytes { offset: self.pos });
        }
        Ok(())
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Keys that can be named in errors.
trait ShowKey {
    fn show(&self) -> String;
}

impl ShowKey for OutputName {
    fn show(&self) -> String {
        self.to_string()
    }
}

impl ShowKey for StorePath {
    fn show(&self) -> String {
        self.to_string()
    }
}

impl ShowKey for BString {
    fn show(&self) -> String {
        self.to_string()
    }
}

/// Parses a list of entries whose keys must be strictly increasing, as Nix
/// writes its maps and sets. The result is sorted, so it becomes a
/// [`SortedMap`] or [`SortedSet`] as it is.
fn sorted_list<K: Ord + ShowKey, V>(
    cur: &mut Cursor<'_>,
    field: &'static str,
    mut entry: impl FnMut(&mut Cursor<'_>) -> Result<(K, V)>,
) -> Result<Vec<(K, V)>> {
    let mut entries: Vec<(K, V)> = Vec::new();
    cur.list(|cur| {
        let at = cur.offset();
        let (key, value) = entry(cur)?;
        check_order(entries.last().map(|(k, _)| k), &key, at, field, ShowKey::show)?;
        entries.push((key, value));
        Ok(())
    })?;
    Ok(entries)
}

/// Checks that `key` sorts strictly after the last key so far.
fn check_order<K: Ord>(
    last: Option<&K>,
    key: &K,
    offset: usize,
    field: &'static str,
    show: impl Fn(&K) -> String,
) -> Result<()> {
    match last.map(|last| key.cmp(last)) {
        Some(std::cmp::Ordering::Equal) => Err(DerivationError::Duplicate { offset, field, key: show(key) }),
        Some(std::cmp::Ordering::Less) => Err(DerivationError::Unsorted { offset, field, key: show(key) }),
        _ => Ok(()),
    }
}

fn store_path(store_dir: &StoreDir, text: &[u8], offset: usize, field: &'static str) -> Result<StorePath> {
    // Store paths are ASCII; the lossy decoding is only for the error message.
    let parsed = match std::str::from_utf8(text) {
        Ok(text) => store_dir.parse_path(text),
        Err(_) => store_dir.parse_path(&String::from_utf8_lossy(text)),
    };
    parsed.map_err(|source| DerivationError::StorePath { offset, field, source })
}

/// True if `text` is the lowercase base16 form of an `algo` digest, the only form Nix writes.
fn is_canonical_base16(text: &[u8], algo: HashAlgo) -> bool {
    text.len() == algo.base16_len() && text.iter().all(|&c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

fn output_name(text: &[u8], offset: usize) -> Result<OutputName> {
    OutputName::from_bytes(text).ok_or_else(|| DerivationError::OutputName { offset, name: lossy(text) })
}

/// Parses `(name,path,hashAlgo,hash)` after its `(`.
fn output(cur: &mut Cursor<'_>, store_dir: &StoreDir) -> Result<(OutputName, Output)> {
    let start = cur.offset();
    let name = output_name(cur.raw("an output name")?, start + 1)?;
    cur.tag(b",", "`,`")?;
    let path_at = cur.offset();
    let path = cur.raw("an output path")?;
    cur.tag(b",", "`,`")?;
    let algo_at = cur.offset();
    let algo = cur.raw("a hashAlgo field")?;
    cur.tag(b",", "`,`")?;
    let hash_at = cur.offset();
    let hash = cur.raw("a hash field")?;
    cur.tag(b")", "`)`")?;

    let bad = |offset, problem| DerivationError::BadOutput { offset, output: name.to_string(), problem };
    let output = if algo.is_empty() {
        if !hash.is_empty() {
            return Err(bad(hash_at, "a hash needs a hashAlgo"));
        }
        if path.is_empty() {
            Output::Deferred
        } else {
            Output::InputAddressed { path: store_path(store_dir, path, path_at, "an output path")? }
        }
    } else {
        let (method, algo_name) = if let Some(rest) = algo.strip_prefix(b"r:") {
            (ContentAddressMethod::Recursive, rest)
        } else if let Some(rest) = algo.strip_prefix(b"text:") {
            (ContentAddressMethod::Text, rest)
        } else {
            (ContentAddressMethod::Flat, algo)
        };
        let algo = std::str::from_utf8(algo_name)
            .ok()
            .and_then(HashAlgo::from_name)
            .ok_or_else(|| DerivationError::UnknownHashAlgo { offset: algo_at, algo: lossy(algo) })?;
        match hash {
            b"" | b"impure" if !path.is_empty() => {
                return Err(bad(path_at, "a floating or impure output cannot have a path"));
            }
            b"" => Output::Floating { method, algo },
            b"impure" => Output::Impure { method, algo },
            _ => {
                if path.is_empty() {
                    return Err(bad(path_at, "a fixed output needs a path"));
                }
                let text = String::from_utf8_lossy(hash);
                let parsed = Hash::parse_unprefixed(&text, algo).map_err(|source| DerivationError::Hash {
                    offset: hash_at,
                    output: name.to_string(),
                    source,
                })?;
                if !is_canonical_base16(hash, algo) {
                    return Err(DerivationError::NonCanonicalHash { offset: hash_at, output: name.to_string() });
                }
                let path = store_path(store_dir, path, path_at, "an output path")?;
                Output::Fixed { method, hash: parsed, path }
            }
        }
    };
    check_output(&output).map_err(|problem| bad(algo_at, problem))?;
    Ok((name, output))
}

/// Parses `(drvPath,[outputs...])` after its `(`.
fn input_drv(cur: &mut Cursor<'_>, store_dir: &StoreDir) -> Result<(StorePath, SortedSet<OutputName>)> {
    let at = cur.offset();
    let path = store_path(store_dir, cur.raw("an input derivation path")?, at, "an input derivation")?;
    if !path.is_derivation() {
        return Err(DerivationError::NotDrvPath { offset: at, path });
    }
    cur.tag(b",", "`,`")?;
    let outputs = sorted_list(cur, "input derivation output", |cur| {
        let at = cur.offset();
        Ok((output_name(cur.raw("an output name")?, at + 1)?, ()))
    })?;
    cur.tag(b")", "`)`")?;
    Ok((path, SortedSet::from_sorted(outputs.into_iter().map(|(name, ())| name).collect())))
}

/// Compares two strings as they read once unescaped.
fn cmp_unescaped(a: &[u8], a_escaped: bool, b: &[u8], b_escaped: bool) -> std::cmp::Ordering {
    if a_escaped || b_escaped { unescaped_bytes(a).cmp(unescaped_bytes(b)) } else { a.cmp(b) }
}

impl Derivation {
    /// Parses an ATerm `Derive(...)` as Nix 2.8 writes it (see the module
    /// docs for what is rejected). Offsets in errors count bytes from the
    /// start of `input`. Copies `input` once; see [`Derivation::parse_owned`].
    pub fn parse(input: &[u8], store_dir: &StoreDir) -> Result<Derivation> {
        if input.len() > MAX_DRV_LEN {
            return Err(DerivationError::TooLarge { len: input.len() });
        }
        Self::parse_owned(input.to_vec(), store_dir)
    }

    /// Like [`Derivation::parse`], keeping `input` as the buffer its strings
    /// live in (no copy).
    pub fn parse_owned(input: Vec<u8>, store_dir: &StoreDir) -> Result<Derivation> {
        if input.len() > MAX_DRV_LEN {
            return Err(DerivationError::TooLarge { len: input.len() });
        }
        let mut cur = Cursor::new(&input);
        cur.tag(b"Derive(", "`Derive(`")?;

        let outputs_at = cur.offset();
        let outputs = SortedMap::from_sorted(sorted_list(&mut cur, "output", |cur| {
            cur.tag(b"(", "`(`")?;
            output(cur, store_dir)
        })?);
        let kind = classify(&outputs).map_err(|problem| DerivationError::Shape { offset: outputs_at, problem })?;

        cur.tag(b",", "`,`")?;
        let input_drvs = SortedMap::from_sorted(sorted_list(&mut cur, "input derivation", |cur| {
            cur.tag(b"(", "`(`")?;
            input_drv(cur, store_dir)
        })?);

        cur.tag(b",", "`,`")?;
        let input_srcs = sorted_list(&mut cur, "input source", |cur| {
            let at = cur.offset();
            Ok((store_path(store_dir, cur.raw("an input source")?, at, "an input source")?, ()))
        })?;
        let input_srcs = SortedSet::from_sorted(input_srcs.into_iter().map(|(path, ())| path).collect());

        cur.tag(b",", "`,`")?;
        let platform_at = cur.offset() + 1;
        let platform = cur.raw("the platform")?;
        let platform = Span::new(platform_at, platform_at + platform.len());
        cur.tag(b",", "`,`")?;
        let builder = cur.string()?;

        cur.tag(b",", "`,`")?;
        let mut args = Vec::new();
        cur.list(|cur| {
            args.push(cur.string()?);
            Ok(())
        })?;

        cur.tag(b",", "`,`")?;
        let mut env: Vec<(RawSpan, RawSpan)> = Vec::new();
        cur.list(|cur| {
            let at = cur.offset();
            cur.tag(b"(", "`(`")?;
            let key = cur.string()?;
            cur.tag(b",", "`,`")?;
            let value = cur.string()?;
            cur.tag(b")", "`)`")?;
            if let Some((last, _)) = env.last() {
                let order = cmp_unescaped(cur.slice(key), key.escaped, cur.slice(*last), last.escaped);
                let show = || BString::new(unescaped_bytes(cur.slice(key)).collect()).to_string();
                match order {
                    std::cmp::Ordering::Equal => {
                        return Err(DerivationError::Duplicate { offset: at, field: "env", key: show() });
                    }
                    std::cmp::Ordering::Less => {
                        return Err(DerivationError::Unsorted { offset: at, field: "env", key: show() });
                    }
                    std::cmp::Ordering::Greater => {}
                }
            }
            env.push((key, value));
            Ok(())
        })?;
        cur.tag(b")", "`)`")?;
        cur.expect_end()?;

        let strings = Strings::from_parsed(input, platform, builder, &args, &env);
        Ok(Derivation { outputs, input_drvs, input_srcs, strings, kind })
    }
}
