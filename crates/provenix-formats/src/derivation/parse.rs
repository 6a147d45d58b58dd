//! The ATerm reader: a byte cursor over the input, memchr for scanning.

use std::collections::{BTreeMap, BTreeSet};

use memchr::{memchr, memchr2, memchr3};

use super::{
    BString, Derivation, DerivationError, DerivationParts, MAX_DRV_LEN, Output, OutputName, check_output, classify,
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
    fn string(&mut self) -> Result<BString> {
        self.tag(b"\"", "`\"`")?;
        let mut out = Vec::new();
        loop {
            let rest = self.rest();
            let stop = memchr2(b'"', b'\\', rest).ok_or_else(|| self.end("closing `\"`"))?;
            let chunk = rest.get(..stop).unwrap_or_default();
            if let Some(i) = memchr3(b'\n', b'\r', b'\t', chunk) {
                let found = chunk.get(i).copied().unwrap_or_default();
                return Err(DerivationError::UnescapedControl { offset: self.pos + i, found });
            }
            out.extend_from_slice(chunk);
            self.pos += stop;
            if rest.get(stop) == Some(&b'"') {
                self.pos += 1;
                return Ok(BString::new(out));
            }
            let unescaped = match rest.get(stop + 1) {
                None => return Err(self.end("an escaped byte")),
                Some(b'n') => b'\n',
                Some(b'r') => b'\r',
                Some(b't') => b'\t',
                Some(&c @ (b'"' | b'\\')) => c,
                Some(&found) => return Err(DerivationError::BadEscape { offset: self.pos, found }),
            };
            out.push(unescaped);
            self.pos += 2;
        }
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
    store_dir.parse_path(&String::from_utf8_lossy(text)).map_err(|source| DerivationError::StorePath {
        offset,
        field,
        source,
    })
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
                if parsed.to_base16().as_bytes() != hash {
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
fn input_drv(cur: &mut Cursor<'_>, store_dir: &StoreDir) -> Result<(StorePath, BTreeSet<OutputName>)> {
    let at = cur.offset();
    let path = store_path(store_dir, cur.raw("an input derivation path")?, at, "an input derivation")?;
    if !path.is_derivation() {
        return Err(DerivationError::NotDrvPath { offset: at, path });
    }
    cur.tag(b",", "`,`")?;
    let mut outputs = BTreeSet::new();
    cur.list(|cur| {
        let at = cur.offset();
        let name = output_name(cur.raw("an output name")?, at + 1)?;
        check_order(outputs.last(), &name, at, "input derivation output", |n| n.to_string())?;
        outputs.insert(name);
        Ok(())
    })?;
    cur.tag(b")", "`)`")?;
    Ok((path, outputs))
}

impl Derivation {
    /// Parses an ATerm `Derive(...)` as Nix 2.8 writes it (see the module
    /// docs for what is rejected). Offsets in errors count bytes from the
    /// start of `input`.
    pub fn parse(input: &[u8], store_dir: &StoreDir) -> Result<Derivation> {
        if input.len() > MAX_DRV_LEN {
            return Err(DerivationError::TooLarge { len: input.len() });
        }
        let mut cur = Cursor::new(input);
        cur.tag(b"Derive(", "`Derive(`")?;

        let outputs_at = cur.offset();
        let mut outputs = BTreeMap::new();
        cur.list(|cur| {
            let at = cur.offset();
            cur.tag(b"(", "`(`")?;
            let (name, output) = output(cur, store_dir)?;
            check_order(outputs.last_key_value().map(|(k, _)| k), &name, at, "output", |n| n.to_string())?;
            outputs.insert(name, output);
            Ok(())
        })?;
        let kind = classify(&outputs).map_err(|problem| DerivationError::Shape { offset: outputs_at, problem })?;

        cur.tag(b",", "`,`")?;
        let mut input_drvs = BTreeMap::new();
        cur.list(|cur| {
            let at = cur.offset();
            cur.tag(b"(", "`(`")?;
            let (path, used) = input_drv(cur, store_dir)?;
            check_order(input_drvs.last_key_value().map(|(k, _)| k), &path, at, "input derivation", |p| p.to_string())?;
            input_drvs.insert(path, used);
            Ok(())
        })?;

        cur.tag(b",", "`,`")?;
        let mut input_srcs = BTreeSet::new();
        cur.list(|cur| {
            let at = cur.offset();
            let path = store_path(store_dir, cur.raw("an input source")?, at, "an input source")?;
            check_order(input_srcs.last(), &path, at, "input source", |p| p.to_string())?;
            input_srcs.insert(path);
            Ok(())
        })?;

        cur.tag(b",", "`,`")?;
        let platform = BString::from(cur.raw("the platform")?);
        cur.tag(b",", "`,`")?;
        let builder = cur.string()?;

        cur.tag(b",", "`,`")?;
        let mut args = Vec::new();
        cur.list(|cur| {
            args.push(cur.string()?);
            Ok(())
        })?;

        cur.tag(b",", "`,`")?;
        let mut env = BTreeMap::new();
        cur.list(|cur| {
            let at = cur.offset();
            cur.tag(b"(", "`(`")?;
            let key = cur.string()?;
            cur.tag(b",", "`,`")?;
            let value = cur.string()?;
            cur.tag(b")", "`)`")?;
            check_order(env.last_key_value().map(|(k, _)| k), &key, at, "env", |k| k.to_string())?;
            env.insert(key, value);
            Ok(())
        })?;
        cur.tag(b")", "`)`")?;
        cur.expect_end()?;

        let parts = DerivationParts { outputs, input_drvs, input_srcs, platform, builder, args, env };
        Ok(Derivation::from_checked(parts, kind))
    }
}
