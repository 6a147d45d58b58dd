//! One side of an `equiv` comparison read as a [`Tree`]: every entry's
//! normalised path with its type, executable bit, size and sha256 (files)
//! or target (symlinks), streamed from the input and never extracted.
//!
//! # Inputs
//!
//! [`read_tree`] takes a directory (walked without following symlinks; a
//! top-level `.git` is skipped), a NAR file (by its magic), a zip file (by
//! `PK\x03\x04` or an empty zip's `PK\x05\x06`), or a tar file, bare or
//! compressed with gzip, xz, bzip2 or zstd (told by magic, not name). Each
//! decoder is a read adapter under the tar reader; xz is the system
//! liblzma's threaded decoder, with its memory capped ([`XZ_MEMORY_STOP`]).
//!
//! # Hostile archives
//!
//! Every check is an error naming the input and the entry, and nothing is
//! written anywhere:
//! - a path that is absolute, has a `..` component, is empty, longer than
//!   [`Limits::max_path`], or appears twice with different content;
//! - a symlink whose target, resolved from the link's own directory, leaves
//!   the tree (absolute targets included), and an entry below a symlink
//!   (the classic extraction escape);
//! - a tar hard link to an entry not seen before it;
//! - a truncated stream (a decoder's unexpected end, a file shorter than its
//!   header says) or a malformed header;
//! - more than [`Limits::max_entries`] entries or [`Limits::max_bytes`]
//!   unpacked bytes, and a decompression bomb: past
//!   [`Limits::ratio_floor`] unpacked bytes, more than [`Limits::max_ratio`]
//!   unpacked bytes per compressed byte.
//!
//! # Cost
//!
//! One pass over the input, hashing each file's bytes through a 64 KiB
//! buffer: O(bytes) time; memory is the decoder's state (for xz at most
//! [`XZ_MEMORY_THREADS`] with threads, a dictionary without) plus the
//! entry list ([`super::manifest`]: 64 bytes plus the path per entry),
//! never O(bytes).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use provenix_formats::hash::{HashAlgo, Hasher};
use provenix_formats::nar::{NAR_MAGIC, NarEvent, NarReader};
use serde::Serialize;
use thiserror::Error;

use super::manifest::{Collecting, Manifest, ManifestError};
use super::zip;

/// Bounds on what one input may unpack to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most entries (files, directories, symlinks).
    pub max_entries: usize,
    /// Most unpacked bytes, all files together.
    pub max_bytes: u64,
    /// Most unpacked bytes per compressed byte, checked past [`Limits::ratio_floor`].
    pub max_ratio: u64,
    /// Unpacked bytes below which the ratio is not checked (small files compress well).
    pub ratio_floor: u64,
    /// Longest path, in bytes.
    pub max_path: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 2_000_000,
            max_bytes: 64 << 30,
            // Text compresses up to about 20:1 with xz; 1000:1 needs long runs of one byte.
            max_ratio: 1000,
            ratio_floor: 64 << 20,
            max_path: 4096,
        }
    }
}

/// What a side was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// A directory tree.
    Directory,
    /// A NAR file.
    Nar,
    /// An uncompressed tar file.
    Tar,
    /// tar + gzip.
    TarGz,
    /// tar + xz.
    TarXz,
    /// tar + bzip2.
    TarBz2,
    /// tar + zstd.
    TarZst,
    /// A zip file.
    Zip,
}

impl Format {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Directory => "directory",
            Format::Nar => "nar",
            Format::Tar => "tar",
            Format::TarGz => "tar-gz",
            Format::TarXz => "tar-xz",
            Format::TarBz2 => "tar-bz2",
            Format::TarZst => "tar-zst",
            Format::Zip => "zip",
        }
    }
}

/// One entry of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A regular file.
    File {
        /// The executable bit (any x bit for tar, zip and directories).
        executable: bool,
        /// Size in bytes.
        size: u64,
        /// sha256 of the bytes.
        sha256: [u8; 32],
    },
    /// A symbolic link (never followed).
    Symlink {
        /// The target as stored.
        target: String,
    },
    /// A directory.
    Directory,
}

impl Node {
    /// `file`, `symlink` or `directory`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Node::File { .. } => "file",
            Node::Symlink { .. } => "symlink",
            Node::Directory => "directory",
        }
    }
}

/// A side, read.
#[derive(Debug, Clone)]
pub struct Tree {
    /// What it was read from.
    pub format: Format,
    /// The single top directory that was stripped, if any.
    pub stripped: Option<String>,
    /// Entries by path (components joined by `/`, relative to the top).
    pub entries: BTreeMap<String, Node>,
    /// Bytes of file contents.
    pub bytes: u64,
}

/// Why a side could not be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The input could not be opened or read.
    #[error("{}: {op}", path.display())]
    Io {
        /// The input.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The stream ended early or is corrupt (tar, decoder or NAR).
    #[error("{}: truncated or corrupt {format} at {at}", path.display())]
    Corrupt {
        /// The input.
        path: PathBuf,
        /// The format being read.
        format: &'static str,
        /// Where: an entry path or a byte offset.
        at: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// An entry whose path is unsafe or unusable.
    #[error("{}: entry `{entry}`: {reason}", path.display())]
    UnsafePath {
        /// The input.
        path: PathBuf,
        /// The entry path as stored (control characters escaped).
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A symlink that points out of the tree, or an entry below a symlink.
    #[error("{}: symlink `{entry}` -> `{target}` escapes the archive", path.display())]
    SymlinkEscape {
        /// The input.
        path: PathBuf,
        /// The link.
        entry: String,
        /// Its target.
        target: String,
    },
    /// Past a limit: too many entries or bytes, or a decompression bomb.
    #[error("{}: {what} (limit {limit})", path.display())]
    Limit {
        /// The input.
        path: PathBuf,
        /// Which limit, in words.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// An entry type the comparison cannot represent (device, fifo).
    #[error("{}: entry `{entry}`: unsupported entry type {kind}", path.display())]
    Unsupported {
        /// The input.
        path: PathBuf,
        /// The entry.
        entry: String,
        /// The type, in words.
        kind: String,
    },
    /// A zip file's structure is wrong.
    #[error("{}: malformed zip", path.display())]
    Zip {
        /// The input.
        path: PathBuf,
        /// Why.
        #[source]
        source: zip::ZipError,
    },
}

const BUF: usize = 64 * 1024;

/// Reads `path` (a directory, NAR, zip or tar file, see the module docs)
/// into a [`Tree`] with its single top directory stripped.
pub fn read_tree(path: &Path, limits: &Limits) -> Result<Tree, ArchiveError> {
    read_listing(path, limits).map(Listing::into_tree)
}

/// A side in the compact form the comparison merges ([`super::manifest`]).
#[derive(Debug)]
pub(super) struct Listing {
    pub(super) format: Format,
    pub(super) stripped: Option<String>,
    pub(super) manifest: Manifest,
    pub(super) bytes: u64,
}

impl Listing {
    fn into_tree(self) -> Tree {
        Tree { format: self.format, stripped: self.stripped, entries: self.manifest.to_map(), bytes: self.bytes }
    }
}

/// [`read_tree`], without building the map.
pub(super) fn read_listing(path: &Path, limits: &Limits) -> Result<Listing, ArchiveError> {
    let io_err = |op| move |source| ArchiveError::Io { path: path.to_path_buf(), op, source };
    let meta = std::fs::metadata(path).map_err(io_err("reading"))?;
    if meta.is_dir() {
        let mut b = Builder::new(path, limits, Format::Directory);
        walk_directory(path, &mut b)?;
        return b.finish();
    }
    let file = File::open(path).map_err(io_err("opening"))?;
    let compressed = Arc::new(AtomicU64::new(0));
    let counted = Counted { inner: file, count: compressed.clone() };
    read_stream(path, BufReader::with_capacity(BUF, counted), compressed, limits)
}

/// [`read_tree`] of an archive held in memory (the fuzz target's entry point).
pub fn read_bytes(name: &Path, data: &[u8], limits: &Limits) -> Result<Tree, ArchiveError> {
    let compressed = Arc::new(AtomicU64::new(0));
    let counted = Counted { inner: io::Cursor::new(data.to_vec()), count: compressed.clone() };
    read_stream(name, BufReader::new(counted), compressed, limits).map(Listing::into_tree)
}

fn read_stream<R: Read + Seek + Send + 'static>(
    path: &Path,
    mut input: BufReader<Counted<R>>,
    compressed: Arc<AtomicU64>,
    limits: &Limits,
) -> Result<Listing, ArchiveError> {
    let head = input
        .fill_buf()
        .map_err(|source| ArchiveError::Io { path: path.to_path_buf(), op: "reading", source })?
        .to_vec();
    let starts = |magic: &[u8]| head.starts_with(magic);
    let format = if head.get(8..8 + NAR_MAGIC.len()) == Some(NAR_MAGIC) {
        Format::Nar
    } else if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") {
        Format::Zip
    } else if starts(&[0x1f, 0x8b]) {
        Format::TarGz
    } else if starts(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Format::TarXz
    } else if starts(b"BZh") {
        Format::TarBz2
    } else if starts(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Format::TarZst
    } else {
        Format::Tar
    };
    let mut b = Builder::new(path, limits, format);
    b.compressed = Some(compressed);
    match format {
        Format::Nar => walk_nar(input, &mut b)?,
        Format::Zip => {
            let file = input.into_inner();
            zip::walk(file, &mut b)?;
        }
        Format::Tar => walk_tar(input, &mut b, "tar")?,
        Format::TarGz => walk_tar(flate2::bufread::MultiGzDecoder::new(input), &mut b, "tar.gz")?,
        Format::TarBz2 => walk_tar(bzip2::bufread::MultiBzDecoder::new(input), &mut b, "tar.bz2")?,
        Format::TarZst => {
            let decoder = ruzstd::decoding::StreamingDecoder::new(input).map_err(|e| {
                b.corrupt("zstd", "the frame header", io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
            })?;
            walk_tar(decoder, &mut b, "tar.zst")?;
        }
        Format::TarXz => walk_xz(input, &mut b)?,
        Format::Directory => {}
    }
    b.finish()
}

/// A reader that counts the bytes read through it (the compressed size, for the bomb check).
struct Counted<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: Seek> Seek for Counted<R> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Collects entries, enforcing the limits and the path rules.
pub(super) struct Builder<'a> {
    pub(super) path: &'a Path,
    limits: &'a Limits,
    format: Format,
    entries: Collecting,
    bytes: u64,
    compressed: Option<Arc<AtomicU64>>,
}

impl<'a> Builder<'a> {
    fn new(path: &'a Path, limits: &'a Limits, format: Format) -> Self {
        Builder { path, limits, format, entries: Collecting::default(), bytes: 0, compressed: None }
    }

    pub(super) fn corrupt(&self, format: &'static str, at: &str, source: impl Into<io::Error>) -> ArchiveError {
        ArchiveError::Corrupt { path: self.path.to_path_buf(), format, at: at.to_owned(), source: source.into() }
    }

    pub(super) fn limit(&self, what: String, limit: u64) -> ArchiveError {
        ArchiveError::Limit { path: self.path.to_path_buf(), what, limit }
    }

    /// Normalises a stored path: `./` and empty components dropped, a trailing `/` ignored.
    pub(super) fn normalise(&self, raw: &[u8]) -> Result<Option<String>, ArchiveError> {
        let shown = || show(raw);
        let unsafe_path = |reason| ArchiveError::UnsafePath { path: self.path.to_path_buf(), entry: shown(), reason };
        if raw.len() > self.limits.max_path {
            return Err(unsafe_path("path too long"));
        }
        let text = std::str::from_utf8(raw).map_err(|_| unsafe_path("path is not UTF-8"))?;
        if text.contains('\0') {
            return Err(unsafe_path("path holds a NUL byte"));
        }
        if text.starts_with('/') {
            return Err(unsafe_path("absolute path"));
        }
        let mut parts = Vec::new();
        for part in text.split('/') {
            match part {
                "" | "." => {}
                ".." => return Err(unsafe_path("path has a `..` component")),
                other => parts.push(other),
            }
        }
        if parts.is_empty() {
            return Ok(None); // the top itself (`./`)
        }
        Ok(Some(parts.join("/")))
    }

    /// Counts `n` more unpacked bytes against the byte and ratio limits.
    pub(super) fn count_bytes(&mut self, n: u64) -> Result<(), ArchiveError> {
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > self.limits.max_bytes {
            return Err(self.limit("more unpacked bytes than allowed".into(), self.limits.max_bytes));
        }
        if let Some(compressed) = &self.compressed
            && self.bytes > self.limits.ratio_floor
        {
            let read = compressed.load(Ordering::Relaxed).max(1);
            if self.bytes / read > self.limits.max_ratio {
                return Err(self.limit(
                    format!(
                        "{} bytes unpacked from {read} compressed: a decompression bomb (ratio over {}:1)",
                        self.bytes, self.limits.max_ratio
                    ),
                    self.limits.max_ratio,
                ));
            }
        }
        Ok(())
    }

    /// Hashes a file's `size` bytes from `content`, checking that exactly that many arrive.
    pub(super) fn file(
        &mut self,
        path: String,
        executable: bool,
        size: u64,
        content: &mut dyn Read,
        format: &'static str,
    ) -> Result<(), ArchiveError> {
        let mut hasher = Hasher::new(HashAlgo::Sha256);
        let mut buf = vec![0u8; BUF];
        let mut seen = 0u64;
        loop {
            let n = match content.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.corrupt(format, &path, e)),
            };
            seen += n as u64;
            if seen > size {
                return Err(self.corrupt(format, &path, io::Error::other("more bytes than the header says")));
            }
            hasher.update(buf.get(..n).unwrap_or_default());
            self.count_bytes(n as u64)?;
        }
        if seen != size {
            let e = io::Error::new(io::ErrorKind::UnexpectedEof, format!("{seen} of {size} bytes"));
            return Err(self.corrupt(format, &path, e));
        }
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(hasher.finish().digest().get(..32).unwrap_or(&[0; 32]));
        self.insert(path, Node::File { executable, size, sha256 })
    }

    pub(super) fn insert(&mut self, path: String, node: Node) -> Result<(), ArchiveError> {
        self.count_entry()?;
        self.entries.push(&path, node);
        Ok(())
    }

    /// A tar hard link: the same node as `target`, a file earlier in the archive (checked when
    /// every entry is known).
    pub(super) fn hard_link(&mut self, path: String, target: String) -> Result<(), ArchiveError> {
        self.count_entry()?;
        self.entries.push_link(path, target);
        Ok(())
    }

    fn count_entry(&self) -> Result<(), ArchiveError> {
        if self.entries.len() >= self.limits.max_entries {
            return Err(self.limit("more entries than allowed".into(), self.limits.max_entries as u64));
        }
        Ok(())
    }

    pub(super) fn limits(&self) -> &Limits {
        self.limits
    }

    /// Sorts the entries, checks duplicates, hard links and symlinks, and strips the single top
    /// directory.
    fn finish(self) -> Result<Listing, ArchiveError> {
        let unsafe_path =
            |entry: String, reason| ArchiveError::UnsafePath { path: self.path.to_path_buf(), entry, reason };
        let mut manifest = self.entries.finish().map_err(|e| match e {
            // Tar allows a directory twice, and a later copy of a file to replace an earlier one;
            // with different content that is an ambiguity an attacker can use against extractors.
            ManifestError::Twice(entry) => unsafe_path(entry, "entry appears twice with different content"),
            ManifestError::BadLink(entry, target) => unsafe_path(
                format!("{entry} (hard link to `{target}`)"),
                "hard link to a file not earlier in the archive",
            ),
        })?;
        if manifest.has_symlinks() {
            for (entry, node) in manifest.iter() {
                if let Node::Symlink { target } = node
                    && escapes(entry, target)
                {
                    return Err(ArchiveError::SymlinkEscape {
                        path: self.path.to_path_buf(),
                        entry: entry.to_owned(),
                        target: target.clone(),
                    });
                }
                // An entry below a symlink: walk its ancestors (depth is bounded by max_path).
                let mut at = entry;
                while let Some((parent, _)) = at.rsplit_once('/') {
                    if let Some(Node::Symlink { target }) = manifest.get(parent) {
                        return Err(ArchiveError::SymlinkEscape {
                            path: self.path.to_path_buf(),
                            entry: parent.to_owned(),
                            target: format!("{target} (with `{entry}` below it)"),
                        });
                    }
                    at = parent;
                }
            }
        }
        // Directories and NARs (store paths) are trees already: a checkout, or fetchzip's output
        // with its top directory stripped by Nix. Only archives carry a release's `name-version/` top.
        let stripped = match self.format {
            Format::Directory | Format::Nar => None,
            _ => manifest.single_top().map(str::to_owned),
        };
        if let Some(top) = &stripped {
            manifest.strip(top);
        }
        Ok(Listing { format: self.format, stripped, manifest, bytes: self.bytes })
    }
}

/// Whether `target`, resolved from the directory of `entry`, leaves the tree.
fn escapes(entry: &str, target: &str) -> bool {
    if target.starts_with('/') || target.is_empty() {
        return true;
    }
    let mut depth: usize = entry.matches('/').count();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return true,
            },
            _ => depth += 1,
        }
    }
    false
}

/// Shows raw bytes with control characters and invalid UTF-8 escaped.
pub(super) fn show(raw: &[u8]) -> String {
    let mut out = String::new();
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Walks a tar stream; `format` (`tar`, `tar.gz`, ...) names it in errors.
fn walk_tar<R: Read>(input: R, b: &mut Builder<'_>, format: &'static str) -> Result<(), ArchiveError> {
    let mut archive = tar::Archive::new(input);
    let entries = archive.entries().map_err(|e| b.corrupt(format, "the start", e))?;
    let mut last = String::from("the start");
    for entry in entries {
        let mut entry = entry.map_err(|e| b.corrupt(format, &format!("the entry after `{last}`"), e))?;
        let raw = entry.path_bytes().into_owned();
        let Some(path) = b.normalise(&raw)? else { continue };
        last.clone_from(&path);
        let header = entry.header();
        let kind = header.entry_type();
        let mode = header.mode().map_err(|e| b.corrupt(format, &path, e))?;
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.size();
                b.file(path, mode & 0o111 != 0, size, &mut entry, format)?;
            }
            tar::EntryType::Directory => b.insert(path, Node::Directory)?,
            tar::EntryType::Symlink => {
                let target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
                let target = String::from_utf8(target).map_err(|e| ArchiveError::UnsafePath {
                    path: b.path.to_path_buf(),
                    entry: format!("{path} -> {}", show(e.as_bytes())),
                    reason: "symlink target is not UTF-8",
                })?;
                b.insert(path, Node::Symlink { target })?;
            }
            tar::EntryType::Link => {
                let target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
                let target = b.normalise(&target)?.unwrap_or_default();
                b.hard_link(path, target)?;
            }
            // Metadata entries (pax headers, GNU long names) are consumed by the tar crate; any
            // left are not files.
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => {}
            other => {
                return Err(ArchiveError::Unsupported {
                    path: b.path.to_path_buf(),
                    entry: path,
                    kind: format!("{other:?}"),
                });
            }
        }
    }
    Ok(())
}

/// The most memory the xz decoder may use: liblzma refuses a stream whose headers ask for more
/// (a crafted 4 GiB dictionary), so a hostile archive cannot make it allocate past this.
pub const XZ_MEMORY_STOP: u64 = 1 << 30;
/// The memory the threaded xz decoder may use for its threads; past it liblzma runs fewer threads,
/// down to one (which needs the dictionary and its buffers only: about 9 MiB for `xz -6`).
pub const XZ_MEMORY_THREADS: u64 = 128 << 20;
/// The most threads the xz decoder starts (each decodes one block; single-block streams, as plain
/// `xz` writes them, decode on one thread whatever this is).
const XZ_THREADS: usize = 4;

/// xz through the system liblzma's threaded decoder (blocks of a stream written by `xz -T0` are
/// decoded in parallel), as a read adapter with bounded memory.
fn walk_xz<R: BufRead>(input: R, b: &mut Builder<'_>) -> Result<(), ArchiveError> {
    let threads = thread::available_parallelism().map_or(1, |n| n.get()).min(XZ_THREADS);
    let stream = liblzma::stream::MtStreamBuilder::new()
        .threads(u32::try_from(threads).unwrap_or(1))
        .memlimit_threading(XZ_MEMORY_THREADS)
        .memlimit_stop(XZ_MEMORY_STOP)
        .decoder()
        .map_err(|e| b.corrupt("tar.xz", "the start", io::Error::other(e)))?;
    walk_tar(liblzma::bufread::XzDecoder::new_stream(input, stream), b, "tar.xz")
}

fn walk_nar<R: BufRead>(input: R, b: &mut Builder<'_>) -> Result<(), ArchiveError> {
    let mut reader = NarReader::new(input);
    // Open directories, by path ("" for the root); the reader checks the nesting.
    let mut dirs: Vec<String> = Vec::new();
    // The path of the node the next event describes (None: the root).
    let mut pending: Option<String> = None;
    let not_a_tree = |b: &Builder<'_>| ArchiveError::UnsafePath {
        path: b.path.to_path_buf(),
        entry: String::new(),
        reason: "the NAR is a single file or symlink, not a tree",
    };
    loop {
        let event = match reader.next() {
            Ok(Some(event)) => event,
            Ok(None) => break,
            Err(e) => {
                let at = format!("byte {}", e.offset());
                return Err(b.corrupt("NAR", &at, io::Error::new(io::ErrorKind::InvalidData, e)));
            }
        };
        match event {
            NarEvent::Entry { name } => {
                let name = std::str::from_utf8(name).map_err(|_| ArchiveError::UnsafePath {
                    path: b.path.to_path_buf(),
                    entry: show(name),
                    reason: "path is not UTF-8",
                })?;
                pending = Some(match dirs.last().map(String::as_str) {
                    Some("") | None => name.to_owned(),
                    Some(parent) => format!("{parent}/{name}"),
                });
            }
            NarEvent::Regular { executable, size } => {
                let path = pending.take().ok_or_else(|| not_a_tree(b))?;
                let mut contents = reader.contents();
                b.file(path, executable, size, &mut contents, "NAR")?;
            }
            NarEvent::Symlink { target } => {
                let target = String::from_utf8(target.to_vec()).map_err(|_| ArchiveError::UnsafePath {
                    path: b.path.to_path_buf(),
                    entry: pending.clone().unwrap_or_default(),
                    reason: "symlink target is not UTF-8",
                })?;
                let path = pending.take().ok_or_else(|| not_a_tree(b))?;
                b.insert(path, Node::Symlink { target })?;
            }
            NarEvent::DirectoryStart => match pending.take() {
                Some(path) => {
                    b.insert(path.clone(), Node::Directory)?;
                    dirs.push(path);
                }
                None => dirs.push(String::new()),
            },
            NarEvent::DirectoryEnd => {
                dirs.pop();
            }
        }
    }
    reader.finish().map_err(|e| {
        let at = format!("byte {}", e.offset());
        b.corrupt("NAR", &at, io::Error::new(io::ErrorKind::InvalidData, e))
    })?;
    Ok(())
}

/// Walks a directory without following symlinks, with an explicit stack.
fn walk_directory(root: &Path, b: &mut Builder<'_>) -> Result<(), ArchiveError> {
    use std::os::unix::fs::PermissionsExt as _;
    let io_err = |p: &Path, op| {
        let p = p.to_path_buf();
        move |source| ArchiveError::Io { path: p, op, source }
    };
    let mut stack: Vec<(PathBuf, String)> = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let mut children: Vec<_> = std::fs::read_dir(&dir)
            .map_err(io_err(&dir, "reading the directory"))?
            .collect::<Result<_, _>>()
            .map_err(io_err(&dir, "reading the directory"))?;
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let name = child.file_name();
            let name = name.to_str().ok_or_else(|| ArchiveError::UnsafePath {
                path: dir.clone(),
                entry: show(name.as_encoded_bytes()),
                reason: "path is not UTF-8",
            })?;
            if rel.is_empty() && name == ".git" {
                continue;
            }
            let path = if rel.is_empty() { name.to_owned() } else { format!("{rel}/{name}") };
            let full = child.path();
            let meta = std::fs::symlink_metadata(&full).map_err(io_err(&full, "reading"))?;
            let kind = meta.file_type();
            if kind.is_dir() {
                b.insert(path.clone(), Node::Directory)?;
                stack.push((full, path));
            } else if kind.is_symlink() {
                let target = std::fs::read_link(&full).map_err(io_err(&full, "reading the symlink"))?;
                let target = target.into_os_string().into_string().map_err(|t| ArchiveError::UnsafePath {
                    path: full.clone(),
                    entry: show(t.as_encoded_bytes()),
                    reason: "symlink target is not UTF-8",
                })?;
                b.insert(path, Node::Symlink { target })?;
            } else if kind.is_file() {
                let mut file = File::open(&full).map_err(io_err(&full, "opening"))?;
                b.file(path, meta.permissions().mode() & 0o111 != 0, meta.len(), &mut file, "file")?;
            } else {
                return Err(ArchiveError::Unsupported {
                    path: root.to_path_buf(),
                    entry: path,
                    kind: "special file".into(),
                });
            }
        }
    }
    Ok(())
}
