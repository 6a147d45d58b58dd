//! `nix-store --export` / `--import` streams: store paths with their NARs and
//! metadata, one after another.
//!
//! # Grammar
//!
//! Integers are u64 little-endian and strings are padded wire strings, as in
//! [`crate::nar::wire`]:
//!
//! ```text
//! stream     = *( u64(1) path ) u64(0)
//! path       = nar                         ; see crate::nar
//!              u64(0x4558494e)             ; "NIXE" read little-endian
//!              str(store-path)
//!              u64(n) n*str(reference)     ; sorted, unique
//!              str(deriver)                ; "" if unknown
//!              u64(0)                      ; no legacy signature
//! ```
//!
//! Paths are full paths in the stream's store directory (a parameter,
//! [`StoreDir`]). The NAR hash is not in the stream: `nix-store --import`
//! computes it while reading, and so does [`ExportReader`] (sha256, Nix's
//! `narHash`).
//!
//! # Order
//!
//! `nix-store --export P...` (Nix 2.8) first collects its arguments into a
//! set, so argument order and duplicates do not matter, then writes the
//! paths in dependency order: a depth-first walk that starts from each path
//! in sorted order, visits the references (sorted, restricted to the
//! exported set, self-references ignored) before the path, and emits each
//! path after its references. [`dependency_order`] computes the same order,
//! so a stream we write for the same set is byte-identical to Nix's. Import
//! needs each path's references to be present already, which this order
//! guarantees within the set.
//!
//! # Limits and strictness
//!
//! - a store path string is at most the store directory's length plus
//!   `1 + 32 + 1 + 211` bytes, checked before allocating;
//! - at most [`MAX_REFERENCES`] references per path (Nix has no limit);
//! - the NAR is validated with the strict [`crate::nar`] reader;
//! - references must be sorted and unique. Nix 2.8 reads them into a set, so
//!   `nix-store --import` accepts any order and duplicates; every Nix writes
//!   them sorted, and requiring that keeps `render(parse(bytes)) == bytes`;
//! - the trailing flag must be 0. Nix 2.8 still reads a 1 followed by a
//!   legacy signature string (Nix 1.x exports) and ignores it; we reject it;
//! - bytes after the final `0` are an error (`nix-store --import` stops
//!   reading there and ignores them).
//!
//! All of these Nix 2.8 behaviours were observed with `nix-store --import`
//! on the files of `tests/data/bad/export/`.
//!
//! Export streams written by Nix 2.8 without signatures are deterministic:
//! the same paths give the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, Write};

use thiserror::Error;

use crate::hash::{Hash, HashAlgo, Hasher};
use crate::nar::wire::{WireError, WireErrorKind, WireProblem, WireReader, put_string, put_u64};
use crate::nar::{self, NarError, NarSummary, NarWriter};
use crate::store_path::{HASH_CHARS, MAX_NAME_LEN, StoreDir, StorePath, StorePathError};

/// The number after each NAR: `NIXE` as a little-endian u64.
pub const EXPORT_MAGIC: u64 = 0x4558_494e;

/// Most references one path may list.
pub const MAX_REFERENCES: u64 = 1 << 16;

/// One path of an export stream, with the size and sha256 of its NAR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportEntry {
    /// The store path.
    pub path: StorePath,
    /// Its references, sorted and unique (may include the path itself).
    pub references: Vec<StorePath>,
    /// The derivation that built it, if known.
    pub deriver: Option<StorePath>,
    /// sha256 of the NAR (Nix's `narHash`).
    pub nar_hash: Hash,
    /// Size of the NAR in bytes.
    pub nar_size: u64,
}

/// Why an export stream (or a writer call) is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ExportProblem {
    /// A malformed primitive: truncation, non-zero padding, over-long string.
    #[error(transparent)]
    Wire(#[from] WireProblem),
    /// The number before a path is neither 1 nor 0.
    #[error("expected 1 (a path follows) or 0 (end of stream), found {found}")]
    BadMarker {
        /// The number found.
        found: u64,
    },
    /// The number after a NAR is not [`EXPORT_MAGIC`].
    #[error("expected export magic 0x4558494e after the NAR, found {found:#x}")]
    BadMagic {
        /// The number found.
        found: u64,
    },
    /// A path string is not UTF-8.
    #[error("{what} is not UTF-8")]
    NotUtf8 {
        /// Which string.
        what: &'static str,
    },
    /// More references than [`MAX_REFERENCES`].
    #[error("{count} references, more than the limit of {max}")]
    TooManyReferences {
        /// The count claimed.
        count: u64,
        /// The limit.
        max: u64,
    },
    /// A reference is not greater than the previous one.
    #[error("reference `{reference}` after `{prev}` (references must be sorted and unique)")]
    UnsortedReferences {
        /// This reference.
        reference: String,
        /// The previous one.
        prev: String,
    },
    /// The flag after the deriver is not 0.
    #[error("signature flag {found}: only 0 (no legacy signature) is accepted")]
    Signature {
        /// The flag found.
        found: u64,
    },
    /// Bytes follow the end-of-stream marker.
    #[error("trailing bytes after the end of the stream")]
    TrailingBytes,
    /// The reader or writer was used again after an error, which left its
    /// position in the stream unknown (reader) or its output incomplete (writer).
    #[error("used again after an earlier error")]
    Poisoned,
}

/// An invalid export stream, a refused writer call, or an I/O failure.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The stream is invalid outside the NARs.
    #[error("offset {offset}: {problem}")]
    Invalid {
        /// Byte offset of the offending item.
        offset: u64,
        /// What is wrong.
        problem: ExportProblem,
    },
    /// A path string is not a valid store path of the store directory.
    #[error("offset {offset}: invalid {what}")]
    StorePath {
        /// Byte offset of the string.
        offset: u64,
        /// Which string (`store path`, `reference`, `deriver`).
        what: &'static str,
        /// Why.
        #[source]
        source: StorePathError,
    },
    /// The NAR of the `index`-th path (counting from 0) is invalid.
    #[error("NAR of entry {index}")]
    Nar {
        /// Position of the path in the stream.
        index: usize,
        /// The NAR error (its offset counts from the stream's start when reading).
        #[source]
        source: NarError,
    },
    /// Reading or writing the stream failed.
    #[error("offset {offset}: I/O error")]
    Io {
        /// Byte offset reached.
        offset: u64,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The paths given to [`dependency_order`] reference each other in a cycle.
    #[error("reference cycle: `{path}` is reachable from its own reference `{reference}`")]
    Cycle {
        /// A path on the cycle.
        path: String,
        /// The reference through which it was reached again.
        reference: String,
    },
}

impl From<WireError> for ExportError {
    fn from(e: WireError) -> ExportError {
        let offset = e.offset;
        let problem = match e.kind {
            WireErrorKind::Problem(problem) => ExportProblem::Wire(problem),
            WireErrorKind::Io(source) => return ExportError::Io { offset, source },
        };
        ExportError::Invalid { offset, problem }
    }
}

fn invalid(offset: u64, problem: ExportProblem) -> ExportError {
    ExportError::Invalid { offset, problem }
}

/// Reads an export stream path by path, streaming each NAR to a sink.
///
/// ```no_run
/// use provenix_formats::export::ExportReader;
/// use provenix_formats::store_path::StoreDir;
/// # fn main() -> Result<(), provenix_formats::export::ExportError> {
/// let stream: &[u8] = &[]; // bytes of `nix-store --export`
/// let mut reader = ExportReader::new(stream, &StoreDir::default());
/// while let Some(entry) = reader.next_path(std::io::sink())? {
///     println!("{} {}", entry.path, entry.nar_hash.to_prefixed_nixbase32());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ExportReader<R> {
    input: WireReader<R>,
    store_dir: StoreDir,
    index: usize,
    done: bool,
    failed: bool,
    buf: Vec<u8>,
}

impl<R: BufRead> ExportReader<R> {
    /// A reader for a stream whose paths are in `store_dir`.
    pub fn new(input: R, store_dir: &StoreDir) -> Self {
        ExportReader {
            input: WireReader::new(input, 0),
            store_dir: store_dir.clone(),
            index: 0,
            done: false,
            failed: false,
            buf: Vec::new(),
        }
    }

    /// Offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.input.offset()
    }

    /// The input, positioned wherever reading stopped.
    pub fn into_inner(self) -> R {
        self.input.into_inner()
    }

    /// Reads the next path, copying its NAR (validated) to `nar_out`.
    /// Returns `None` at the end of the stream, after checking that nothing
    /// follows it.
    /// After an error, every further call fails with [`ExportProblem::Poisoned`].
    pub fn next_path<W: Write>(&mut self, nar_out: W) -> Result<Option<ExportEntry>, ExportError> {
        if self.failed {
            return Err(invalid(self.offset(), ExportProblem::Poisoned));
        }
        let result = self.read_path_entry(nar_out);
        self.failed = result.is_err();
        result
    }

    fn read_path_entry<W: Write>(&mut self, nar_out: W) -> Result<Option<ExportEntry>, ExportError> {
        if self.done {
            return Ok(None);
        }
        let start = self.offset();
        match self.input.read_u64("path marker")? {
            0 => {
                if !self.input.at_end()? {
                    return Err(invalid(self.offset(), ExportProblem::TrailingBytes));
                }
                self.done = true;
                return Ok(None);
            }
            1 => {}
            found => return Err(invalid(start, ExportProblem::BadMarker { found })),
        }
        let nar_start = self.offset();
        let summary = nar::copy_embedded(&mut self.input, nar_out, HashAlgo::Sha256, nar_start)
            .map_err(|source| ExportError::Nar { index: self.index, source })?;
        let magic_at = self.offset();
        let magic = self.input.read_u64("export magic")?;
        if magic != EXPORT_MAGIC {
            return Err(invalid(magic_at, ExportProblem::BadMagic { found: magic }));
        }
        let path = self.read_path("store path")?;
        let count_at = self.offset();
        let count = self.input.read_u64("reference count")?;
        if count > MAX_REFERENCES {
            return Err(invalid(count_at, ExportProblem::TooManyReferences { count, max: MAX_REFERENCES }));
        }
        let mut references: Vec<StorePath> = Vec::new();
        for _ in 0..count {
            let at = self.offset();
            let reference = self.read_path("reference")?;
            if let Some(prev) = references.last().filter(|&p| *p >= reference) {
                let (reference, prev) = (self.store_dir.display(&reference), self.store_dir.display(prev));
                return Err(invalid(at, ExportProblem::UnsortedReferences { reference, prev }));
            }
            references.push(reference);
        }
        let deriver = self.read_optional_path("deriver")?;
        let flag_at = self.offset();
        match self.input.read_u64("signature flag")? {
            0 => {}
            found => return Err(invalid(flag_at, ExportProblem::Signature { found })),
        }
        self.index += 1;
        Ok(Some(ExportEntry { path, references, deriver, nar_hash: summary.hash, nar_size: summary.size }))
    }

    fn max_path_len(&self) -> usize {
        self.store_dir.as_str().len() + 1 + HASH_CHARS + 1 + MAX_NAME_LEN
    }

    fn read_optional_path(&mut self, what: &'static str) -> Result<Option<StorePath>, ExportError> {
        let at = self.offset();
        let max = self.max_path_len();
        let mut buf = std::mem::take(&mut self.buf);
        let read = self.input.read_string(&mut buf, max, what);
        let parsed = read.map_err(ExportError::from).and_then(|()| {
            if buf.is_empty() {
                return Ok(None);
            }
            let text = std::str::from_utf8(&buf).map_err(|_| invalid(at, ExportProblem::NotUtf8 { what }))?;
            let path = self.store_dir.parse_path(text).map_err(|source| ExportError::StorePath {
                offset: at,
                what,
                source,
            })?;
            Ok(Some(path))
        });
        self.buf = buf;
        parsed
    }

    fn read_path(&mut self, what: &'static str) -> Result<StorePath, ExportError> {
        let at = self.offset();
        self.read_optional_path(what)?.ok_or_else(|| ExportError::StorePath {
            offset: at,
            what,
            source: StorePathError::TooShort(String::new()),
        })
    }
}

/// Reads a whole stream, validating the NARs and keeping only the metadata.
pub fn read_entries<R: BufRead>(input: R, store_dir: &StoreDir) -> Result<Vec<ExportEntry>, ExportError> {
    let mut reader = ExportReader::new(input, store_dir);
    let mut entries = Vec::new();
    while let Some(entry) = reader.next_path(io::sink())? {
        entries.push(entry);
    }
    Ok(entries)
}

/// The [`Write`] a NAR goes through inside [`ExportWriter::write_path_with`]:
/// it copies to the stream, counting and hashing.
pub struct NarSink<'a, W> {
    out: &'a mut W,
    hasher: Hasher,
    size: u64,
}

impl<W: Write> Write for NarSink<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        let written = buf.get(..n).unwrap_or_default();
        self.hasher.update(written);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Writes an export stream, path by path in the order given (see
/// [`dependency_order`] for the order Nix uses), then [`ExportWriter::finish`].
///
/// Each path's NAR either comes from a NAR stream ([`ExportWriter::write_path_nar`],
/// validated while copied) or is produced through a [`NarWriter`]
/// ([`ExportWriter::write_path_with`], valid by construction). References
/// must be sorted and unique. After an error in the middle of a path the
/// stream is incomplete, and the writer refuses further calls.
#[derive(Debug)]
pub struct ExportWriter<W> {
    out: W,
    store_dir: StoreDir,
    offset: u64,
    index: usize,
    poisoned: bool,
    scratch: Vec<u8>,
}

impl<W: Write> ExportWriter<W> {
    /// A writer for paths of `store_dir`.
    pub fn new(out: W, store_dir: &StoreDir) -> Self {
        ExportWriter { out, store_dir: store_dir.clone(), offset: 0, index: 0, poisoned: false, scratch: Vec::new() }
    }

    /// Bytes written so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Writes one path whose NAR is all of `nar` (validated while copied).
    pub fn write_path_nar<R: BufRead>(
        &mut self,
        path: &StorePath,
        references: &[StorePath],
        deriver: Option<&StorePath>,
        nar: R,
    ) -> Result<NarSummary, ExportError> {
        self.write_path_inner(path, references, deriver, |mut sink, index| {
            // `nar::copy` also checks that nothing follows the NAR in `nar`.
            nar::copy(nar, &mut sink, HashAlgo::Sha256).map_err(|source| ExportError::Nar { index, source })?;
            Ok(sink)
        })
    }

    /// Writes one path whose NAR `dump` produces through the given
    /// [`NarWriter`]; the NAR must be complete when `dump` returns.
    pub fn write_path_with<F, E>(
        &mut self,
        path: &StorePath,
        references: &[StorePath],
        deriver: Option<&StorePath>,
        dump: F,
    ) -> Result<NarSummary, E>
    where
        F: FnOnce(&mut NarWriter<NarSink<'_, W>>) -> Result<(), E>,
        E: From<ExportError>,
    {
        self.write_path_inner(path, references, deriver, |sink, index| {
            let mut writer = NarWriter::new(sink);
            dump(&mut writer)?;
            Ok(writer.finish().map_err(|source| ExportError::Nar { index, source })?)
        })
    }

    fn write_path_inner<F, E>(
        &mut self,
        path: &StorePath,
        references: &[StorePath],
        deriver: Option<&StorePath>,
        produce: F,
    ) -> Result<NarSummary, E>
    where
        F: for<'a> FnOnce(NarSink<'a, W>, usize) -> Result<NarSink<'a, W>, E>,
        E: From<ExportError>,
    {
        self.check_usable()?;
        self.check_references(references)?;
        self.poisoned = true;
        self.put(|buf| put_u64(buf, 1))?;
        let sink = NarSink { out: &mut self.out, hasher: Hasher::new(HashAlgo::Sha256), size: 0 };
        let sink = produce(sink, self.index)?;
        let summary = NarSummary { size: sink.size, hash: sink.hasher.finish() };
        self.offset += summary.size;
        let dir = &self.store_dir;
        let mut trailer = std::mem::take(&mut self.scratch);
        trailer.clear();
        put_u64(&mut trailer, EXPORT_MAGIC);
        put_string(&mut trailer, dir.display(path).as_bytes());
        put_u64(&mut trailer, references.len() as u64);
        for r in references {
            put_string(&mut trailer, dir.display(r).as_bytes());
        }
        put_string(&mut trailer, deriver.map(|d| dir.display(d)).unwrap_or_default().as_bytes());
        put_u64(&mut trailer, 0);
        self.scratch = trailer;
        self.put(|_| ())?;
        self.index += 1;
        self.poisoned = false;
        Ok(summary)
    }

    /// Writes the end-of-stream marker, flushes and returns the output.
    pub fn finish(mut self) -> Result<W, ExportError> {
        self.check_usable()?;
        self.put(|buf| put_u64(buf, 0))?;
        let offset = self.offset;
        self.out.flush().map_err(|source| ExportError::Io { offset, source })?;
        Ok(self.out)
    }

    fn check_usable(&self) -> Result<(), ExportError> {
        if self.poisoned { Err(invalid(self.offset, ExportProblem::Poisoned)) } else { Ok(()) }
    }

    fn check_references(&self, references: &[StorePath]) -> Result<(), ExportError> {
        for pair in references.windows(2) {
            if let [prev, next] = pair {
                if prev >= next {
                    let (reference, prev) = (self.store_dir.display(next), self.store_dir.display(prev));
                    return Err(invalid(self.offset, ExportProblem::UnsortedReferences { reference, prev }));
                }
            }
        }
        Ok(())
    }

    /// Writes what `fill` appends to the scratch buffer (after what is there).
    fn put(&mut self, fill: impl FnOnce(&mut Vec<u8>)) -> Result<(), ExportError> {
        fill(&mut self.scratch);
        let offset = self.offset;
        self.out.write_all(&self.scratch).map_err(|source| ExportError::Io { offset, source })?;
        self.offset += self.scratch.len() as u64;
        self.scratch.clear();
        Ok(())
    }
}

/// Orders a set of paths as `nix-store --export` does: each path after the
/// references it has in the set (see the module docs).
///
/// `graph` maps each path to its references; references outside the map and
/// self-references are ignored. A cycle between distinct paths is an error
/// (no valid store has one). Cost: O(V + E log V), with an explicit stack.
pub fn dependency_order(graph: &BTreeMap<StorePath, BTreeSet<StorePath>>) -> Result<Vec<StorePath>, ExportError> {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Mark {
        Open,
        Done,
    }
    let mut marks: BTreeMap<&StorePath, Mark> = BTreeMap::new();
    let mut order = Vec::with_capacity(graph.len());
    for (root, root_refs) in graph {
        if marks.contains_key(root) {
            continue;
        }
        marks.insert(root, Mark::Open);
        let mut stack = vec![(root, root_refs.iter())];
        while let Some((node, children)) = stack.last_mut() {
            let node: &StorePath = node;
            match children.next() {
                None => {
                    marks.insert(node, Mark::Done);
                    order.push(node.clone());
                    stack.pop();
                }
                Some(child) if child == node => {}
                Some(child) => {
                    let Some((child, grandchildren)) = graph.get_key_value(child) else { continue };
                    match marks.get(child) {
                        Some(Mark::Done) => {}
                        Some(Mark::Open) => {
                            return Err(ExportError::Cycle { path: child.to_string(), reference: node.to_string() });
                        }
                        None => {
                            marks.insert(child, Mark::Open);
                            stack.push((child, grandchildren.iter()));
                        }
                    }
                }
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]

    use proptest::prelude::*;
    use rstest::rstest;

    use super::*;
    use crate::nar::wire::put_u64;

    /// Path, references, deriver, NAR.
    type Sample = (StorePath, Vec<StorePath>, Option<StorePath>, Vec<u8>);

    fn sp(base: &str) -> StorePath {
        StorePath::from_base_name(base).unwrap()
    }

    fn nar_of(contents: &[u8]) -> Vec<u8> {
        let mut w = NarWriter::new(Vec::new());
        w.regular(false, contents.len() as u64, contents).unwrap();
        w.finish().unwrap()
    }

    const DEP: &str = "h7jx3wrzn6m9vjl9604id854qx1xyqw6-dep";
    const MID: &str = "ir32dk7qlfg507ndrycjhx1n7a2d2sav-mid";
    const OTHER: &str = "w5gqsmqp4jp5niwh2k0vfykxszzfqsnb-other";
    const TOP: &str = "vfd3y4xlvvx6hqma71k1sv4z1fx1hfb1-top";
    const TOP_DRV: &str = "asv17cgvpdyyf2lhqc5784nbz726l893-top.drv";

    fn write_stream(entries: &[Sample]) -> Vec<u8> {
        let mut w = ExportWriter::new(Vec::new(), &StoreDir::default());
        for (path, refs, deriver, nar) in entries {
            w.write_path_nar(path, refs, deriver.as_ref(), &nar[..]).unwrap();
        }
        w.finish().unwrap()
    }

    fn sample() -> Vec<Sample> {
        vec![
            (sp(DEP), vec![], None, nar_of(b"hello\n")),
            (
                sp(TOP),
                vec![sp(DEP), sp(TOP)],
                Some(sp(TOP_DRV)),
                nar_of(b"/nix/store/h7jx3wrzn6m9vjl9604id854qx1xyqw6-dep"),
            ),
        ]
    }

    #[test]
    fn reads_back_what_the_writer_wrote() {
        let stream = write_stream(&sample());
        let mut r = ExportReader::new(&stream[..], &StoreDir::default());
        for (path, refs, deriver, nar) in sample() {
            let mut got = Vec::new();
            let e = r.next_path(&mut got).unwrap().unwrap();
            assert_eq!(got, nar);
            assert_eq!(
                e,
                ExportEntry {
                    path,
                    references: refs,
                    deriver,
                    nar_hash: Hash::compute(HashAlgo::Sha256, &nar),
                    nar_size: nar.len() as u64,
                }
            );
        }
        assert!(r.next_path(io::sink()).unwrap().is_none());
        assert!(r.next_path(io::sink()).unwrap().is_none());
        assert_eq!(r.offset(), stream.len() as u64);
    }

    #[test]
    fn writes_the_layout_nix_store_export_uses() {
        let nar = nar_of(b"x");
        let stream = write_stream(&[(sp(DEP), vec![sp(DEP)], None, nar.clone())]);
        let mut expected = Vec::new();
        put_u64(&mut expected, 1);
        expected.extend_from_slice(&nar);
        put_u64(&mut expected, 0x4558_494e);
        put_string(&mut expected, format!("/nix/store/{DEP}").as_bytes());
        put_u64(&mut expected, 1);
        put_string(&mut expected, format!("/nix/store/{DEP}").as_bytes());
        put_string(&mut expected, b"");
        put_u64(&mut expected, 0);
        put_u64(&mut expected, 0);
        assert_eq!(stream, expected);
    }

    #[test]
    fn writing_through_a_nar_writer_gives_the_same_bytes_as_copying_a_nar() {
        let direct = write_stream(&sample()[..1]);
        let mut w = ExportWriter::new(Vec::new(), &StoreDir::default());
        let s = w
            .write_path_with(&sp(DEP), &[], None, |nar| -> Result<(), ExportError> {
                nar.regular(false, 6, &b"hello\n"[..]).map_err(|source| ExportError::Nar { index: 0, source })
            })
            .unwrap();
        assert_eq!(s.size, nar_of(b"hello\n").len() as u64);
        assert_eq!(w.finish().unwrap(), direct);
    }

    #[test]
    fn writer_refuses_unsorted_references_before_writing_anything() {
        let mut w = ExportWriter::new(Vec::new(), &StoreDir::default());
        let err = w.write_path_nar(&sp(TOP), &[sp(TOP), sp(DEP)], None, &nar_of(b"")[..]).unwrap_err();
        assert!(err.to_string().contains("references must be sorted and unique"), "{err}");
        assert_eq!(w.offset(), 0);
        assert_eq!(w.finish().unwrap(), 0u64.to_le_bytes());
    }

    #[test]
    fn writer_refuses_an_invalid_nar_and_then_everything_else() {
        let mut w = ExportWriter::new(Vec::new(), &StoreDir::default());
        let err = w.write_path_nar(&sp(DEP), &[], None, &b"not a nar at all"[..]).unwrap_err();
        assert!(matches!(err, ExportError::Nar { index: 0, .. }), "{err}");
        let err = w.finish().unwrap_err();
        assert!(err.to_string().contains("after an earlier error"), "{err}");
    }

    #[test]
    fn writer_refuses_an_incomplete_nar_from_the_closure() {
        let mut w = ExportWriter::new(Vec::new(), &StoreDir::default());
        let err = w.write_path_with(&sp(DEP), &[], None, |nar| {
            nar.begin_directory().map_err(|source| ExportError::Nar { index: 0, source })
        });
        assert!(matches!(err, Err(ExportError::Nar { index: 0, .. })), "{err:?}");
    }

    fn stream_with(edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut s = write_stream(&sample()[..1]);
        edit(&mut s);
        s
    }

    fn error_chain(stream: &[u8]) -> String {
        provenix_testkit::error_chain(&read_entries(stream, &StoreDir::default()).unwrap_err())
    }

    #[rstest]
    #[case::bad_marker(|s: &mut Vec<u8>| s[0] = 2, "offset 0: expected 1 (a path follows) or 0 (end of stream), found 2")]
    #[case::trailing(|s: &mut Vec<u8>| s.push(0), "trailing bytes after the end of the stream")]
    #[case::no_end_marker(|s: &mut Vec<u8>| s.truncate(s.len() - 8), "input ends inside path marker")]
    #[case::signature(|s: &mut Vec<u8>| { let n = s.len(); s[n - 16] = 1 }, "signature flag 1")]
    #[case::bad_magic(|s: &mut Vec<u8>| { let at = 8 + nar_of(b"hello\n").len(); s[at] = 0 }, "expected export magic 0x4558494e after the NAR, found 0x45584900")]
    #[case::bad_nar(|s: &mut Vec<u8>| s[16] = b'X', "NAR of entry 0: offset 8: not a NAR")]
    fn reader_rejects_damaged_streams(#[case] edit: fn(&mut Vec<u8>), #[case] message: &str) {
        let text = error_chain(&stream_with(edit));
        assert!(text.contains(message), "{text}");
    }

    #[test]
    fn reader_refuses_to_continue_after_an_error() {
        let stream = stream_with(|s| s[0] = 2);
        let mut r = ExportReader::new(&stream[..], &StoreDir::default());
        assert!(matches!(
            r.next_path(io::sink()),
            Err(ExportError::Invalid { problem: ExportProblem::BadMarker { .. }, .. })
        ));
        assert!(matches!(r.next_path(io::sink()), Err(ExportError::Invalid { problem: ExportProblem::Poisoned, .. })));
    }

    #[test]
    fn reader_rejects_a_path_outside_the_store_dir() {
        let stream = write_stream(&sample()[..1]);
        let err = read_entries(&stream[..], &StoreDir::new("/gnu/store").unwrap()).unwrap_err();
        assert!(matches!(err, ExportError::StorePath { what: "store path", .. }), "{err}");
    }

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<StorePath, BTreeSet<StorePath>> {
        edges.iter().map(|(p, refs)| (sp(p), refs.iter().map(|r| sp(r)).collect())).collect()
    }

    #[test]
    fn orders_paths_like_nix_store_export() {
        // From `nix-store --export $(nix-store -qR top)` with Nix 2.8: sorted
        // order would put `top` (vfd3...) before `other` (w5gq...).
        let g = graph(&[(DEP, &[]), (MID, &[DEP]), (OTHER, &[DEP]), (TOP, &[MID, OTHER])]);
        let order = dependency_order(&g).unwrap();
        assert_eq!(order, [sp(DEP), sp(MID), sp(OTHER), sp(TOP)]);
    }

    #[test]
    fn ignores_self_references_and_paths_outside_the_set() {
        let g = graph(&[(TOP, &[TOP, DEP, OTHER]), (OTHER, &[OTHER])]);
        assert_eq!(dependency_order(&g).unwrap(), [sp(OTHER), sp(TOP)]);
    }

    #[test]
    fn reports_a_cycle() {
        let g = graph(&[(TOP, &[OTHER]), (OTHER, &[TOP])]);
        assert!(matches!(dependency_order(&g), Err(ExportError::Cycle { .. })));
    }

    /// The order as Nix computes it, recursively: reference implementation.
    fn naive_order(g: &BTreeMap<StorePath, BTreeSet<StorePath>>) -> Vec<StorePath> {
        fn visit(p: &StorePath, g: &BTreeMap<StorePath, BTreeSet<StorePath>>, out: &mut Vec<StorePath>) {
            if out.contains(p) {
                return;
            }
            for r in &g[p] {
                if r != p && g.contains_key(r) {
                    visit(r, g, out);
                }
            }
            out.push(p.clone());
        }
        let mut out = Vec::new();
        for p in g.keys() {
            visit(p, g, &mut out);
        }
        out
    }

    fn arb_dag() -> impl Strategy<Value = BTreeMap<StorePath, BTreeSet<StorePath>>> {
        (1usize..12)
            .prop_flat_map(|n| {
                let edges = proptest::collection::vec(proptest::collection::vec(any::<prop::sample::Index>(), 0..4), n);
                (Just(n), any::<u64>(), edges)
            })
            .prop_map(|(n, seed, edges)| {
                // Path i may only reference paths < i (a DAG), and hashes make the
                // sorted order unrelated to i.
                let paths: Vec<StorePath> = (0..n)
                    .map(|i| {
                        let digest = Hash::compute(HashAlgo::Sha256, format!("{seed}-{i}").as_bytes());
                        StorePath::from_digest(&crate::store_path::compress_hash(digest.digest()), &format!("p{i}"))
                            .unwrap()
                    })
                    .collect();
                paths
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let mut refs: BTreeSet<StorePath> = if i == 0 {
                            BTreeSet::new()
                        } else {
                            edges[i].iter().map(|x| paths[x.index(i)].clone()).collect()
                        };
                        if seed % 3 == 0 {
                            refs.insert(p.clone());
                        }
                        (p.clone(), refs)
                    })
                    .collect()
            })
    }

    proptest! {
        #[test]
        fn dependency_order_matches_the_recursive_reference(g in arb_dag()) {
            let order = dependency_order(&g).unwrap();
            prop_assert_eq!(&order, &naive_order(&g));
            for (i, p) in order.iter().enumerate() {
                for r in &g[p] {
                    if r != p {
                        prop_assert!(order[..i].contains(r), "{} before its reference {}", p, r);
                    }
                }
            }
        }

        #[test]
        fn streams_round_trip(contents in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 0..4)) {
            let entries: Vec<_> = contents.iter().enumerate().map(|(i, c)| {
                let digest = [i as u8; 20];
                (StorePath::from_digest(&digest, "x").unwrap(), vec![], None, nar_of(c))
            }).collect();
            let stream = write_stream(&entries);
            let read = read_entries(&stream[..], &StoreDir::default()).unwrap();
            prop_assert_eq!(read.len(), entries.len());
            for (e, (path, _, _, nar)) in read.iter().zip(&entries) {
                prop_assert_eq!(&e.path, path);
                prop_assert_eq!(e.nar_size, nar.len() as u64);
            }
        }
    }
}
