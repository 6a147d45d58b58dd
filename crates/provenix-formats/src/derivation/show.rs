//! The JSON of `nix show-derivation` (Nix 2.8), byte for byte.
//!
//! ```text
//! { "<drv path>": { "outputs": { "<name>": { "path"?, "hashAlgo"?, "hash"?, "impure"? } },
//!                   "inputSrcs": [...], "inputDrvs": { "<drv path>": [outputs] },
//!                   "system": ..., "builder": ..., "args": [...], "env": { ... } } }
//! ```
//!
//! Nix 2.8 indents by two spaces, writes `": "` after keys, `{}`/`[]` for empty
//! containers, ends with a newline, and lists derivations sorted by store
//! path. Its string escaping is its own: `"` `\` LF CR TAB as two-byte
//! escapes, other bytes below 0x20 as `\u00xx`, every other byte (DEL,
//! non-UTF-8) copied raw. A fixed output's `path` is the one recorded in the
//! file (Nix recomputes it; they differ only for a tampered file).

use std::io;

use super::{Derivation, Output, method_prefix};
use crate::store_path::{StoreDir, StorePath};

/// Nix 2.8's pretty JSON writer: one `first` flag suffices because a
/// container closes back into a parent that already has an element.
struct Pretty<'o> {
    out: &'o mut Vec<u8>,
    depth: usize,
    first: bool,
}

impl Pretty<'_> {
    fn open(&mut self, c: u8) {
        self.out.push(c);
        self.depth += 1;
        self.first = true;
    }

    fn close(&mut self, c: u8) {
        self.depth = self.depth.saturating_sub(1);
        if !self.first {
            self.newline();
        }
        self.out.push(c);
        self.first = false;
    }

    fn newline(&mut self) {
        self.out.push(b'\n');
        self.out.resize(self.out.len() + 2 * self.depth, b' ');
    }

    fn comma(&mut self) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.newline();
    }

    fn key(&mut self, key: &[u8]) {
        self.comma();
        json_string(self.out, key);
        self.out.extend_from_slice(b": ");
    }

    fn key_path(&mut self, store_dir: &StoreDir, path: &StorePath) {
        self.comma();
        json_path(self.out, store_dir, path);
        self.out.extend_from_slice(b": ");
    }

    fn attr(&mut self, key: &[u8], value: &[u8]) {
        self.key(key);
        json_string(self.out, value);
    }

    fn attr_path(&mut self, key: &[u8], store_dir: &StoreDir, path: &StorePath) {
        self.key(key);
        json_path(self.out, store_dir, path);
    }

    fn elem(&mut self, value: &[u8]) {
        self.comma();
        json_string(self.out, value);
    }

    fn elem_path(&mut self, store_dir: &StoreDir, path: &StorePath) {
        self.comma();
        json_path(self.out, store_dir, path);
    }
}

/// True for bytes Nix 2.8's `toJSON` escapes: `"`, `\` and everything below 0x20.
const fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Nix 2.8's `toJSON` escaping, without the quotes; clean runs are copied whole.
fn json_escape_into(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Most strings need no escaping; a non-short-circuiting fold vectorises.
    if !s.iter().fold(false, |any, &b| any | needs_escape(b)) {
        out.extend_from_slice(s);
        return;
    }
    let mut rest = s;
    while let Some(i) = rest.iter().position(|&b| needs_escape(b)) {
        let (clean, tail) = rest.split_at(i);
        out.extend_from_slice(clean);
        let Some((&b, tail)) = tail.split_first() else { break };
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                let hi = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
                let lo = HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0');
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', hi, lo]);
            }
        }
        rest = tail;
    }
    out.extend_from_slice(rest);
}

/// A JSON string as Nix 2.8 writes it.
fn json_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    json_escape_into(out, s);
    out.push(b'"');
}

/// A store path as a JSON string, written in place (only the directory can need escaping).
fn json_path(out: &mut Vec<u8>, store_dir: &StoreDir, path: &StorePath) {
    out.push(b'"');
    json_escape_into(out, store_dir.as_str().as_bytes());
    out.push(b'/');
    out.extend_from_slice(path.hash_part().as_bytes());
    out.push(b'-');
    out.extend_from_slice(path.name().as_bytes());
    out.push(b'"');
}

fn write_one(p: &mut Pretty<'_>, store_dir: &StoreDir, drv_path: &StorePath, drv: &Derivation) {
    p.key_path(store_dir, drv_path);
    p.open(b'{');
    p.key(b"outputs");
    p.open(b'{');
    for (name, output) in drv.outputs() {
        p.key(name.as_str().as_bytes());
        p.open(b'{');
        if let Some(path) = output.path() {
            p.attr_path(b"path", store_dir, path);
        }
        if let Some((method, algo)) = output.method_algo() {
            p.key(b"hashAlgo");
            p.out.push(b'"');
            p.out.extend_from_slice(method_prefix(method).as_bytes());
            p.out.extend_from_slice(algo.name().as_bytes());
            p.out.push(b'"');
        }
        match output {
            Output::Fixed { hash, .. } => p.attr(b"hash", hash.to_base16().as_bytes()),
            Output::Impure { .. } => {
                p.key(b"impure");
                p.out.extend_from_slice(b"true");
            }
            Output::InputAddressed { .. } | Output::Floating { .. } | Output::Deferred => {}
        }
        p.close(b'}');
    }
    p.close(b'}');
    p.key(b"inputSrcs");
    p.open(b'[');
    for src in drv.input_srcs() {
        p.elem_path(store_dir, src);
    }
    p.close(b']');
    p.key(b"inputDrvs");
    p.open(b'{');
    for (input, outputs) in drv.input_drvs() {
        p.key_path(store_dir, input);
        p.open(b'[');
        for output in outputs {
            p.elem(output.as_str().as_bytes());
        }
        p.close(b']');
    }
    p.close(b'}');
    p.attr(b"system", drv.platform());
    p.attr(b"builder", drv.builder());
    p.key(b"args");
    p.open(b'[');
    for arg in drv.args().iter() {
        p.elem(arg);
    }
    p.close(b']');
    p.key(b"env");
    p.open(b'{');
    for (key, value) in drv.env().iter() {
        p.attr(key, value);
    }
    p.close(b'}');
    p.close(b'}');
}

/// Appends the members of the top-level object for `drvs`, with separators.
/// `starts_document` is true if the first of them is the document's first
/// member. [`SHOW_JSON_OPEN`], batches rendered separately (in parallel, say)
/// in order, and [`show_json_close`] give the same bytes as [`write_show_json`].
pub fn render_show_json_entries<'a>(
    drvs: impl IntoIterator<Item = (&'a StorePath, &'a Derivation)>,
    store_dir: &StoreDir,
    starts_document: bool,
    out: &mut Vec<u8>,
) {
    let mut p = Pretty { out, depth: 1, first: starts_document };
    for (path, drv) in drvs {
        write_one(&mut p, store_dir, path, drv);
    }
}

/// Appends one member of the top-level object for `drv`, without the
/// separator that goes before every member but the first
/// ([`SHOW_JSON_SEPARATOR`]). See [`write_show_json_members`].
pub fn render_show_json_member(path: &StorePath, drv: &Derivation, store_dir: &StoreDir, out: &mut Vec<u8>) {
    let mut p = Pretty { out, depth: 1, first: true };
    write_one(&mut p, store_dir, path, drv);
}

/// Writes the document of members rendered by [`render_show_json_member`],
/// in order: the same bytes as [`write_show_json`]. Writes are vectored,
/// so the members are not copied again.
pub fn write_show_json_members<'m>(
    members: impl IntoIterator<Item = &'m [u8]>,
    mut w: impl io::Write,
) -> io::Result<()> {
    /// Slices per write (Linux's `IOV_MAX` is 1024).
    const SLICES: usize = 1024;
    let mut slices: Vec<io::IoSlice<'m>> = Vec::with_capacity(SLICES);
    slices.push(io::IoSlice::new(SHOW_JSON_OPEN));
    let mut empty = true;
    for member in members {
        if slices.len() + 2 > SLICES {
            write_all_vectored(&mut w, &mut slices)?;
            slices.clear();
        }
        if !empty {
            slices.push(io::IoSlice::new(SHOW_JSON_SEPARATOR));
        }
        slices.push(io::IoSlice::new(member));
        empty = false;
    }
    slices.push(io::IoSlice::new(show_json_close(empty)));
    write_all_vectored(&mut w, &mut slices)
}

/// `write_all` for vectored writes.
fn write_all_vectored(w: &mut impl io::Write, slices: &mut [io::IoSlice<'_>]) -> io::Result<()> {
    let mut rest = slices;
    io::IoSlice::advance_slices(&mut rest, 0);
    while !rest.is_empty() {
        match w.write_vectored(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => io::IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The bytes that open the document, before the members from
/// [`render_show_json_entries`].
pub const SHOW_JSON_OPEN: &[u8] = b"{";

/// The bytes between two members from [`render_show_json_member`].
pub const SHOW_JSON_SEPARATOR: &[u8] = b",";

/// The bytes that close the document; `empty` if it has no members.
pub fn show_json_close(empty: bool) -> &'static [u8] {
    if empty { b"}\n" } else { b"\n}\n" }
}

/// Writes what `nix show-derivation` (Nix 2.8) prints for these derivations,
/// byte for byte, including raw non-UTF-8 bytes. Pass the derivations sorted
/// by path, as Nix prints them (a map's order).
pub fn write_show_json<'a>(
    drvs: impl IntoIterator<Item = (&'a StorePath, &'a Derivation)>,
    store_dir: &StoreDir,
    mut w: impl io::Write,
) -> io::Result<()> {
    const BATCH: usize = 64 * 1024;
    w.write_all(SHOW_JSON_OPEN)?;
    let mut buf = Vec::with_capacity(2 * BATCH);
    let mut empty = true;
    for (path, drv) in drvs {
        render_show_json_entries([(path, drv)], store_dir, empty, &mut buf);
        empty = false;
        if buf.len() >= BATCH {
            w.write_all(&buf)?;
            buf.clear();
        }
    }
    w.write_all(&buf)?;
    w.write_all(show_json_close(empty))
}

#[cfg(feature = "serde")]
mod serde_impl {
    use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

    use super::super::{Derivation, Output, method_prefix};
    use crate::store_path::{StoreDir, StorePath};

    /// One derivation in the shape of `nix show-derivation`'s value
    /// (`{outputs, inputSrcs, inputDrvs, system, builder, args, env}`).
    /// Non-UTF-8 bytes become U+FFFD, as if Nix's output were decoded lossily.
    #[derive(Debug, Clone, Copy)]
    pub struct ShowDerivation<'a> {
        drv: &'a Derivation,
        store_dir: &'a StoreDir,
    }

    impl<'a> ShowDerivation<'a> {
        /// Views `drv` for serialisation.
        pub fn new(drv: &'a Derivation, store_dir: &'a StoreDir) -> ShowDerivation<'a> {
            ShowDerivation { drv, store_dir }
        }
    }

    /// Several derivations keyed by `.drv` path: the whole `nix show-derivation` object.
    #[derive(Debug, Clone)]
    pub struct ShowDerivations<'a> {
        drvs: Vec<(&'a StorePath, &'a Derivation)>,
        store_dir: &'a StoreDir,
    }

    impl<'a> ShowDerivations<'a> {
        /// Views these derivations for serialisation, in the order given.
        pub fn new(
            drvs: impl IntoIterator<Item = (&'a StorePath, &'a Derivation)>,
            store_dir: &'a StoreDir,
        ) -> ShowDerivations<'a> {
            ShowDerivations { drvs: drvs.into_iter().collect(), store_dir }
        }
    }

    struct Lossy<'a>(&'a [u8]);

    impl Serialize for Lossy<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&String::from_utf8_lossy(self.0))
        }
    }

    /// Serialises an iterator as a JSON array.
    struct Seq<I>(I);

    impl<I, T> Serialize for Seq<I>
    where
        I: Iterator<Item = T> + Clone,
        T: Serialize,
    {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(None)?;
            for item in self.0.clone() {
                seq.serialize_element(&item)?;
            }
            seq.end()
        }
    }

    /// Serialises an iterator of pairs as a JSON object.
    struct Map<I>(I);

    impl<I, K, V> Serialize for Map<I>
    where
        I: Iterator<Item = (K, V)> + Clone,
        K: Serialize,
        V: Serialize,
    {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(None)?;
            for (k, v) in self.0.clone() {
                map.serialize_entry(&k, &v)?;
            }
            map.end()
        }
    }

    struct ShowOutput<'a>(&'a Output, &'a StoreDir);

    impl Serialize for ShowOutput<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let ShowOutput(output, store_dir) = self;
            let mut map = s.serialize_map(None)?;
            if let Some(path) = output.path() {
                map.serialize_entry("path", &store_dir.display(path))?;
            }
            if let Some((method, algo)) = output.method_algo() {
                map.serialize_entry("hashAlgo", &format!("{}{}", method_prefix(method), algo.name()))?;
            }
            match output {
                Output::Fixed { hash, .. } => map.serialize_entry("hash", &hash.to_base16())?,
                Output::Impure { .. } => map.serialize_entry("impure", &true)?,
                Output::InputAddressed { .. } | Output::Floating { .. } | Output::Deferred => {}
            }
            map.end()
        }
    }

    fn lossy(b: &[u8]) -> Lossy<'_> {
        Lossy(b)
    }

    impl Serialize for ShowDerivation<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let (drv, dir) = (self.drv, self.store_dir);
            let mut map = s.serialize_map(Some(7))?;
            map.serialize_entry("outputs", &Map(drv.outputs().iter().map(|(n, o)| (n.as_str(), ShowOutput(o, dir)))))?;
            map.serialize_entry("inputSrcs", &Seq(drv.input_srcs().iter().map(|p| dir.display(p))))?;
            map.serialize_entry(
                "inputDrvs",
                &Map(drv.input_drvs().iter().map(|(p, outs)| (dir.display(p), Seq(outs.iter().map(|o| o.as_str()))))),
            )?;
            map.serialize_entry("system", &lossy(drv.platform()))?;
            map.serialize_entry("builder", &lossy(drv.builder()))?;
            map.serialize_entry("args", &Seq(drv.args().iter().map(lossy)))?;
            map.serialize_entry("env", &Map(drv.env().iter().map(|(k, v)| (lossy(k), lossy(v)))))?;
            map.end()
        }
    }

    impl Serialize for ShowDerivations<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(Some(self.drvs.len()))?;
            for (path, drv) in &self.drvs {
                map.serialize_entry(&self.store_dir.display(path), &ShowDerivation::new(drv, self.store_dir))?;
            }
            map.end()
        }
    }
}

#[cfg(feature = "serde")]
pub use serde_impl::{ShowDerivation, ShowDerivations};
