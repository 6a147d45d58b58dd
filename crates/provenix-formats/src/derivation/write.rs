//! The ATerm writer, byte for byte like Nix 2.8's `Derivation::unparse`.
//!
//! One writer serves three uses: the canonical bytes, the masked form whose
//! hash gives input-addressed output paths, and the form with input
//! derivations replaced by their hash modulo. It writes into a [`Sink`], so
//! hashing streams straight into the hasher without building the text.

use std::collections::{BTreeMap, BTreeSet};
use std::io;

use super::{Derivation, Output, method_prefix};
use crate::hash::Hasher;
use crate::store_path::{StoreDir, StorePath};

/// Where serialised bytes go.
pub(super) trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for Hasher {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

/// How to write the input derivations.
pub(super) enum Inputs<'a> {
    /// As they are: `.drv` paths.
    Paths,
    /// Replaced by lowercase base16 hash modulo, sorted by it (Nix's `inputs2`).
    Replaced(&'a BTreeMap<String, BTreeSet<&'a str>>),
}

/// Writes `"<bytes>"` without escaping, as Nix does for names, paths and the platform.
fn put_raw(sink: &mut impl Sink, s: &[u8]) {
    sink.put(b"\"");
    sink.put(s);
    sink.put(b"\"");
}

/// Writes a quoted store path.
fn put_path(sink: &mut impl Sink, store_dir: &StoreDir, path: &StorePath) {
    sink.put(b"\"");
    sink.put(store_dir.as_str().as_bytes());
    sink.put(b"/");
    sink.put(path.hash_part().as_bytes());
    sink.put(b"-");
    sink.put(path.name().as_bytes());
    sink.put(b"\"");
}

/// Writes `"<bytes>"` escaping `"`, `\`, LF, CR and TAB.
pub(super) fn put_escaped(sink: &mut impl Sink, s: &[u8]) {
    sink.put(b"\"");
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => continue,
        };
        sink.put(s.get(start..i).unwrap_or_default());
        sink.put(escape);
        start = i + 1;
    }
    sink.put(s.get(start..).unwrap_or_default());
    sink.put(b"\"");
}

/// Writes `[elem,elem,...]`.
fn put_list<S: Sink, T>(sink: &mut S, items: impl IntoIterator<Item = T>, mut put: impl FnMut(&mut S, T)) {
    sink.put(b"[");
    let mut first = true;
    for item in items {
        if !first {
            sink.put(b",");
        }
        first = false;
        put(sink, item);
    }
    sink.put(b"]");
}

/// Serialises `drv`. With `mask`, output paths and the env vars named after
/// outputs are written empty, as Nix does when computing output paths.
pub(super) fn write_aterm(
    sink: &mut impl Sink,
    drv: &Derivation,
    store_dir: &StoreDir,
    mask: bool,
    inputs: Inputs<'_>,
) {
    sink.put(b"Derive(");
    put_list(sink, drv.outputs(), |s, (name, output)| {
        s.put(b"(");
        put_raw(s, name.as_str().as_bytes());
        s.put(b",");
        match output.path() {
            Some(path) if !mask => put_path(s, store_dir, path),
            _ => put_raw(s, b""),
        }
        s.put(b",\"");
        if let Some((method, algo)) = output.method_algo() {
            s.put(method_prefix(method).as_bytes());
            s.put(algo.name().as_bytes());
        }
        s.put(b"\",\"");
        match output {
            Output::Fixed { hash, .. } => s.put(hash.to_base16().as_bytes()),
            Output::Impure { .. } => s.put(b"impure"),
            Output::InputAddressed { .. } | Output::Floating { .. } | Output::Deferred => {}
        }
        s.put(b"\")");
    });
    sink.put(b",");
    match inputs {
        Inputs::Paths => put_list(sink, drv.input_drvs(), |s, (path, outputs)| {
            s.put(b"(");
            put_path(s, store_dir, path);
            s.put(b",");
            put_list(s, outputs, |s, name| put_raw(s, name.as_str().as_bytes()));
            s.put(b")");
        }),
        Inputs::Replaced(replaced) => put_list(sink, replaced, |s, (hash, outputs)| {
            s.put(b"(");
            put_raw(s, hash.as_bytes());
            s.put(b",");
            put_list(s, outputs, |s, name| put_raw(s, name.as_bytes()));
            s.put(b")");
        }),
    }
    sink.put(b",");
    put_list(sink, drv.input_srcs(), |s, path| put_path(s, store_dir, path));
    sink.put(b",");
    put_raw(sink, drv.platform());
    sink.put(b",");
    put_escaped(sink, drv.builder());
    sink.put(b",");
    put_list(sink, drv.args().iter(), |s, arg| put_escaped(s, arg));
    sink.put(b",");
    put_list(sink, drv.env().iter(), |s, (key, value)| {
        s.put(b"(");
        put_escaped(s, key);
        s.put(b",");
        let masked = mask && std::str::from_utf8(key).is_ok_and(|k| drv.outputs().contains_key(k));
        put_escaped(s, if masked { b"" } else { value });
        s.put(b")");
    });
    sink.put(b")");
}

impl Derivation {
    /// The `.drv` bytes, exactly as Nix 2.8 writes them.
    pub fn to_bytes(&self, store_dir: &StoreDir) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.estimated_len());
        write_aterm(&mut out, self, store_dir, false, Inputs::Paths);
        out
    }

    /// Writes the `.drv` bytes to `w`.
    pub fn write_to(&self, store_dir: &StoreDir, mut w: impl io::Write) -> io::Result<()> {
        w.write_all(&self.to_bytes(store_dir))
    }

    /// A lower bound on the serialised length, to size buffers once.
    fn estimated_len(&self) -> usize {
        let strings: usize = self.env().iter().map(|(k, v)| k.len() + v.len() + 6).sum::<usize>()
            + self.args().iter().map(|a| a.len() + 3).sum::<usize>();
        let paths = (self.outputs().len() + self.input_drvs().len() + self.input_srcs().len()) * 80;
        64 + strings + paths + self.builder().len() + self.platform().len()
    }
}
