//! NAR, the Nix ARchive: the canonical serialisation of a file tree that Nix
//! hashes (`narHash`, recursive fixed outputs) and ships (`nix-store --dump`,
//! `--export`, binary caches).
//!
//! # Grammar
//!
//! Every token below is a wire string: a u64 little-endian length, the bytes,
//! and zero padding to a multiple of 8 ([`wire`]). `str(x)` is the string `x`.
//!
//! ```text
//! nar       = str("nix-archive-1") node
//! node      = str("(") str("type") kind str(")")
//! kind      = str("regular") [ str("executable") str("") ] str("contents") contents
//!           | str("symlink") str("target") target
//!           | str("directory") *entry
//! entry     = str("entry") str("(") str("name") name str("node") node str(")")
//! contents  = u64(n) n*byte pad          ; the file's bytes, a string too
//! ```
//!
//! A NAR is therefore a pre-order walk of the tree. Nothing else is in it: no
//! times, owners, or permission bits other than "executable". Entries of a
//! directory appear in strictly increasing bytewise order of their names,
//! which is what makes the serialisation canonical: a tree has exactly one NAR.
//!
//! # Limits
//!
//! | what | limit | why |
//! |---|---|---|
//! | entry name | [`MAX_NAME_LEN`] = 255 bytes | Linux `NAME_MAX`; no tree Nix can dump has longer names |
//! | symlink target | [`MAX_TARGET_LEN`] = 4095 bytes | Linux `PATH_MAX` minus the NUL |
//! | directory nesting | [`MAX_DEPTH`] = 1024 | bounds the reader's stack; walked with an explicit stack |
//! | token | [`MAX_TOKEN_LEN`] = 16 bytes | the longest keyword is 13; longer is rejected unread |
//! | file contents | none (u64) | streamed, never held in memory |
//!
//! Every length is checked against its limit before anything is allocated, so
//! memory use is bounded by these constants whatever the input claims.
//!
//! # Strictness, and Nix 2.8's quirks
//!
//! Nix 2.8's parser (`parseDump`, behind `nix-store --restore` and
//! `--import`) reads a node as a loop over keyword/value pairs and trusts the
//! file system to catch the rest, so it accepts NARs no Nix ever writes. We
//! accept exactly the canonical form, so that `render(parse(bytes)) == bytes`
//! for every accepted input, and validation needs no file system. Observed
//! with `nix-store --restore` (2.8.0) on the files of `tests/data/bad/nar/`:
//!
//! | input | Nix 2.8 | here |
//! |---|---|---|
//! | entries out of order | accepted, restored as given | rejected |
//! | the same entry name twice | fails only when the file exists ("File exists") | rejected |
//! | name empty, `.`, `..`, with `/` or NUL | rejected ("invalid file name") | rejected |
//! | `executable` after `contents`, or twice | accepted | rejected |
//! | `executable` with a non-empty value | rejected | rejected |
//! | regular file without `contents` | accepted (empty file) | rejected |
//! | symlink target with NUL | accepted, target cut at the NUL | rejected |
//! | empty symlink target | fails only when creating the link | rejected |
//! | name longer than 255 bytes | fails only when creating the file | rejected |
//! | huge length fields | tries to allocate them (`basic_string::_M_create`) | rejected before allocating |
//! | non-zero padding, truncation, unknown keywords or types | rejected | rejected |
//! | bytes after the root node | ignored | rejected by [`NarReader::finish`] and [`copy`] |
//!
//! [`copy_embedded`] is the variant for a NAR inside a larger stream (an
//! export), which stops right after the root node. Nix's optional case hack
//! (`~nix~case~hack~N` name suffixes, off on Linux) is not special here: such
//! names are ordinary bytes, as for Linux Nix.
//!
//! Errors carry the byte offset of the offending item (its length field for
//! strings) counted from the start of the NAR, or of the enclosing stream
//! when a start offset is given.
//!
//! # Use
//!
//! [`NarWriter`] produces a NAR from events and refuses any sequence that would
//! not be canonical; [`NarReader`] is a pull parser over a [`BufRead`] that
//! yields the same events and streams file contents; [`copy`], [`validate`]
//! and [`copy_embedded`] validate while copying and hashing.

use std::fmt;
use std::io::{self, BufRead, Write};

use thiserror::Error;

use crate::hash::{Hash, HashAlgo, Hasher};

mod reader;
#[cfg(test)]
mod tests;
pub mod wire;
mod writer;

pub use reader::{Contents, NarReader};
use wire::{WireError, WireErrorKind, WireProblem};
pub use writer::NarWriter;

/// Longest entry name, in bytes (Linux `NAME_MAX`).
pub const MAX_NAME_LEN: usize = 255;
/// Longest symlink target, in bytes (Linux `PATH_MAX` without its NUL).
pub const MAX_TARGET_LEN: usize = 4095;
/// Deepest nesting of directories (the root directory is depth 1).
pub const MAX_DEPTH: usize = 1024;
/// Longest keyword string read before giving up on it.
pub const MAX_TOKEN_LEN: usize = 16;

/// The magic string a NAR starts with.
pub const NAR_MAGIC: &[u8] = b"nix-archive-1";

/// The size of the NAR of a single regular file of `len` bytes, without
/// writing it: the magic, `(`, `type`, `regular`, optionally `executable`
/// and an empty string, `contents`, the length-prefixed padded bytes, `)`.
pub const fn regular_file_nar_size(len: u64, executable: bool) -> u64 {
    // Each token is an 8-byte length plus its bytes padded to 8.
    const FRAMING: u64 = 24 + 16 + 16 + 16 + 16 + 8 + 16;
    const EXECUTABLE: u64 = 24 + 8;
    let padded = len.saturating_add(7) / 8 * 8;
    FRAMING.saturating_add(padded).saturating_add(if executable { EXECUTABLE } else { 0 })
}

/// One step of a NAR, in the order the format stores them.
///
/// A regular file's bytes are not in the event; read them from the reader
/// ([`NarReader::copy_contents`]) or give them to the writer
/// ([`NarWriter::regular`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NarEvent<'a> {
    /// A regular file of `size` bytes; its contents follow.
    Regular {
        /// Whether the file is executable.
        executable: bool,
        /// Size of the contents in bytes.
        size: u64,
    },
    /// A symbolic link.
    Symlink {
        /// The link target, as stored (never followed).
        target: &'a [u8],
    },
    /// A directory begins; [`NarEvent::Entry`]s follow, then [`NarEvent::DirectoryEnd`].
    DirectoryStart,
    /// The next node is the directory entry `name`.
    Entry {
        /// The entry name (validated: see the module docs).
        name: &'a [u8],
    },
    /// The innermost open directory ends.
    DirectoryEnd,
}

/// Why a NAR (or a writer's event sequence) is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NarProblem {
    /// A malformed primitive: truncation, non-zero padding, over-long string.
    #[error(transparent)]
    Wire(#[from] WireProblem),
    /// The first string is not `nix-archive-1`.
    #[error("not a NAR: expected `nix-archive-1`, found {found}")]
    BadMagic {
        /// What was there.
        found: String,
    },
    /// A keyword other than the one the grammar requires here.
    #[error("expected {expected}, found {found}")]
    UnexpectedToken {
        /// The keyword(s) allowed.
        expected: &'static str,
        /// What was there.
        found: String,
    },
    /// The `executable` marker has a value other than the empty string.
    #[error("`executable` marker has a non-empty value of {len} bytes")]
    ExecutableValue {
        /// Length of the value.
        len: u64,
    },
    /// An entry name is empty, `.`, `..`, or contains `/` or NUL.
    #[error("invalid entry name `{name}`: {reason}")]
    InvalidName {
        /// The name, escaped.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An entry name is not greater than the previous one.
    #[error("directory entry `{name}` after `{prev}` (entries must be sorted)")]
    Unsorted {
        /// This name.
        name: String,
        /// The previous name.
        prev: String,
    },
    /// An entry name equals the previous one.
    #[error("duplicate directory entry `{name}`")]
    Duplicate {
        /// The name.
        name: String,
    },
    /// A symlink target is empty.
    #[error("empty symlink target")]
    EmptyTarget,
    /// A symlink target contains a NUL byte.
    #[error("symlink target contains NUL")]
    TargetNul,
    /// Directories nest deeper than [`MAX_DEPTH`].
    #[error("directories nested deeper than {max}")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// Bytes follow the root node.
    #[error("trailing bytes after the end of the NAR")]
    TrailingBytes,
    /// A writer event that the grammar does not allow at this point.
    #[error("{event} is not allowed here: {state}")]
    Misuse {
        /// The event.
        event: &'static str,
        /// What the writer expected.
        state: &'static str,
    },
    /// A regular file's body gave fewer bytes than its declared size.
    #[error("file body ended after {found} of {expected} bytes")]
    SizeMismatch {
        /// The declared size.
        expected: u64,
        /// The bytes the body gave.
        found: u64,
    },
    /// The reader or writer was used again after an error, which left its
    /// position in the input unknown (reader) or its output incomplete (writer).
    #[error("used again after an earlier error")]
    Poisoned,
}

/// An invalid NAR, a refused writer event, or an I/O failure, at a byte offset.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NarError {
    /// The NAR (or the event sequence) is invalid.
    #[error("offset {offset}: {problem}")]
    Invalid {
        /// Byte offset of the offending item.
        offset: u64,
        /// What is wrong.
        problem: NarProblem,
    },
    /// Reading the NAR, or writing it out, failed.
    #[error("offset {offset}: I/O error")]
    Io {
        /// Byte offset reached.
        offset: u64,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Reading a regular file's body (given to [`NarWriter::regular`]) failed.
    #[error("offset {offset}: reading the file body")]
    Body {
        /// Byte offset reached in the output.
        offset: u64,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

impl NarError {
    /// The byte offset the error refers to.
    pub fn offset(&self) -> u64 {
        match self {
            NarError::Invalid { offset, .. } | NarError::Io { offset, .. } | NarError::Body { offset, .. } => *offset,
        }
    }

    /// The problem, if the NAR or event sequence is invalid (not I/O).
    pub fn problem(&self) -> Option<&NarProblem> {
        match self {
            NarError::Invalid { problem, .. } => Some(problem),
            _ => None,
        }
    }

    pub(crate) fn invalid(offset: u64, problem: NarProblem) -> NarError {
        NarError::Invalid { offset, problem }
    }
}

impl From<WireError> for NarError {
    fn from(e: WireError) -> NarError {
        let offset = e.offset;
        let problem = match e.kind {
            WireErrorKind::Problem(problem) => NarProblem::Wire(problem),
            WireErrorKind::Io(source) => return NarError::Io { offset, source },
        };
        NarError::Invalid { offset, problem }
    }
}

/// Renders bytes for an error message: UTF-8 escaped for the terminal, or
/// ASCII with `\xNN` escapes when not UTF-8.
pub(crate) fn show_bytes(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.escape_debug().to_string(),
        Err(_) => bytes.escape_ascii().to_string(),
    }
}

/// Checks an entry name against the rules in the module docs.
pub fn check_name(name: &[u8]) -> Result<(), NarProblem> {
    let reason = if name.is_empty() {
        "empty"
    } else if name == b"." || name == b".." {
        "`.` and `..` are not allowed"
    } else if name.contains(&b'/') {
        "contains `/`"
    } else if name.contains(&0) {
        "contains NUL"
    } else if name.len() > MAX_NAME_LEN {
        return Err(NarProblem::Wire(WireProblem::TooLong {
            what: "entry name",
            len: name.len() as u64,
            max: MAX_NAME_LEN as u64,
        }));
    } else {
        return Ok(());
    };
    Err(NarProblem::InvalidName { name: show_bytes(name), reason })
}

/// Checks that `name` may follow `prev` in a directory.
pub(crate) fn check_order(prev: Option<&[u8]>, name: &[u8]) -> Result<(), NarProblem> {
    match prev.map(|p| p.cmp(name)) {
        Some(std::cmp::Ordering::Equal) => Err(NarProblem::Duplicate { name: show_bytes(name) }),
        Some(std::cmp::Ordering::Greater) => {
            Err(NarProblem::Unsorted { name: show_bytes(name), prev: show_bytes(prev.unwrap_or_default()) })
        }
        _ => Ok(()),
    }
}

/// Checks a symlink target against the rules in the module docs.
pub fn check_target(target: &[u8]) -> Result<(), NarProblem> {
    if target.is_empty() {
        Err(NarProblem::EmptyTarget)
    } else if target.len() > MAX_TARGET_LEN {
        Err(NarProblem::Wire(WireProblem::TooLong {
            what: "symlink target",
            len: target.len() as u64,
            max: MAX_TARGET_LEN as u64,
        }))
    } else if target.contains(&0) {
        Err(NarProblem::TargetNul)
    } else {
        Ok(())
    }
}

/// Size and hash of a NAR, as computed while copying or validating it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NarSummary {
    /// Bytes in the NAR.
    pub size: u64,
    /// Hash of those bytes (Nix's `narHash` when sha256).
    pub hash: Hash,
}

impl fmt::Display for NarSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes, {}", self.size, self.hash.to_prefixed_nixbase32())
    }
}

/// A [`BufRead`] adapter that hashes every byte its reader consumes and
/// copies it to a [`Write`].
///
/// Copy errors surface on the next read, or from [`Tee::finish`].
pub struct Tee<R, W> {
    inner: R,
    out: W,
    hasher: Hasher,
    size: u64,
    error: Option<io::Error>,
}

impl<R: BufRead, W: Write> Tee<R, W> {
    /// Tees `inner` into `out`, hashing with `algo`.
    pub fn new(inner: R, out: W, algo: HashAlgo) -> Self {
        Tee { inner, out, hasher: Hasher::new(algo), size: 0, error: None }
    }

    /// Bytes consumed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Flushes the copy and returns the inner reader, the writer and the
    /// summary of everything consumed.
    pub fn finish(mut self) -> io::Result<(R, W, NarSummary)> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok((self.inner, self.out, NarSummary { size: self.size, hash: self.hasher.finish() }))
    }
}

impl<R: BufRead, W: Write> io::Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = {
            let avail = self.fill_buf()?;
            let n = avail.len().min(buf.len());
            if let (Some(dst), Some(src)) = (buf.get_mut(..n), avail.get(..n)) {
                dst.copy_from_slice(src);
            }
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead, W: Write> BufRead for Tee<R, W> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if amt == 0 {
            return;
        }
        // The caller consumes bytes it has just seen from fill_buf, which are
        // still buffered, so fill_buf returns them again without reading.
        if let Ok(buf) = self.inner.fill_buf() {
            let chunk = buf.get(..amt.min(buf.len())).unwrap_or_default();
            self.hasher.update(chunk);
            self.size += chunk.len() as u64;
            if self.error.is_none() {
                if let Err(e) = self.out.write_all(chunk) {
                    self.error = Some(e);
                }
            }
        }
        self.inner.consume(amt);
    }
}

/// Validates one NAR that is the whole of `input`, copying its bytes to `out`
/// and hashing them with `algo`. Trailing bytes are an error.
pub fn copy<R: BufRead, W: Write>(input: R, out: W, algo: HashAlgo) -> Result<NarSummary, NarError> {
    let (input, out, summary) = copy_inner(input, out, algo, 0)?;
    let mut rest = wire::WireReader::new(input, summary.size);
    if !rest.at_end()? {
        return Err(NarError::invalid(summary.size, NarProblem::TrailingBytes));
    }
    drop(out);
    Ok(summary)
}

/// Validates one NAR that is the whole of `input` and hashes it.
pub fn validate<R: BufRead>(input: R, algo: HashAlgo) -> Result<NarSummary, NarError> {
    copy(input, io::sink(), algo)
}

/// Validates one NAR at the start of `input`, copying and hashing it, and
/// leaves `input` positioned right after it (for NARs inside a stream, such
/// as `nix-store --export`). `start_offset` is the NAR's position in the
/// stream, so error offsets count from the stream's start.
pub fn copy_embedded<R: BufRead, W: Write>(
    input: R,
    out: W,
    algo: HashAlgo,
    start_offset: u64,
) -> Result<NarSummary, NarError> {
    copy_inner(input, out, algo, start_offset).map(|(_, _, summary)| summary)
}

fn copy_inner<R: BufRead, W: Write>(
    input: R,
    out: W,
    algo: HashAlgo,
    start_offset: u64,
) -> Result<(R, W, NarSummary), NarError> {
    let mut reader = NarReader::with_offset(Tee::new(input, out, algo), start_offset);
    while reader.next()?.is_some() {}
    let end = reader.offset();
    reader.into_inner().finish().map_err(|source| NarError::Io { offset: end, source })
}
