//! What differs between two build outputs, file by file: the comparison a
//! rebuilder makes when a rebuilt output's NAR hash differs from the
//! reference (`provenix diff-output`).
//!
//! # Inputs
//!
//! An [`Input`] is a file-system tree (a directory, regular file or symlink;
//! symlinks are never followed, at the top or inside) or a NAR file.
//! [`Input::detect`] takes a regular file whose first bytes are the NAR magic
//! for a NAR, and anything else for a tree.
//!
//! # Algorithm and cost
//!
//! Both sides are read as NAR event streams, which hold exactly what Nix
//! hashes (type, executable bit, symlink target, bytes) and nothing it does
//! not (times, owners, other mode bits). A tree is serialised by
//! [`provenix_store::nar::dump_path`] on a helper thread into a bounded
//! channel; a NAR file is read with the strict [`NarReader`]. The two streams
//! list entries in the same order, depth first with names sorted bytewise, so
//! one merge pass pairs them up, like merging two sorted lists:
//!
//! - a path on one side only is added ([`Change::Added`]) or removed
//!   ([`Change::Removed`]); a directory that exists on one side is listed
//!   with every entry below it;
//! - a path on both sides with different node types is a type change
//!   ([`Change::Type`]), followed by the entries below it as added/removed;
//! - two regular files are compared by streaming both in lockstep through
//!   64 KiB buffers ([`Change::Modified`]), and their executable bits
//!   ([`Change::Mode`]); two symlinks by target ([`Change::Target`]).
//!
//! Reading is O(size of both NARs); memory is bounded by the channel
//! buffers, the text limit (files of at most [`DiffOptions::text_limit`]
//! bytes on both sides are kept for a text diff) and the report, which
//! lists at most [`DiffOptions::max_entries`] entries and
//! [`MAX_LISTED_BYTES`] of paths (the summary counts them all). Both
//! NARs are hashed (sha256) on the way, so the report also gives each side's
//! NAR hash and size; the outputs are identical exactly when those agree.
//!
//! A changed file is *text* when both sides are valid UTF-8 without NUL and
//! within the text limit; it gets a unified diff (the `similar` crate, Myers,
//! with a deadline so a pathological pair cannot take unbounded time: past
//! it the diff is still correct but may be longer than minimal). Unified
//! diffs are cut at [`DiffOptions::max_diff_bytes`] each and
//! [`DiffOptions::max_total_diff_bytes`] in all. Any other changed file gets
//! the differing byte ranges over the bytes both sides have, up to
//! [`DiffOptions::max_ranges`].
//!
//! Paths in the report are relative to the top of each input, components
//! joined with `/`; the top itself is `""`. Entries are in the streams'
//! order: sorted by path, component by component. Names that are not UTF-8
//! are shown with `\xNN` escapes.
//!
//! # diffoscope
//!
//! When [`DiffOptions::diffoscope`] is set and the outputs differ,
//! `diffoscope` runs on the two inputs (a NAR is first unpacked safely into
//! a temporary directory, removed afterwards) with its text report written
//! to a temporary file, in its own process group that is killed at the
//! timeout; at most [`DiffoscopeOptions::max_output`] bytes of the report
//! are kept. A missing program is a status in the report, not an error.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use provenix_formats::hash::HashAlgo;
use provenix_formats::nar::{NAR_MAGIC, NarError, NarEvent, NarReader, Tee};
use provenix_store::nar::{NarFsError, dump_path};
use serde::Serialize;
use thiserror::Error;

mod diffoscope;
#[cfg(test)]
mod tests;

/// Default for [`DiffOptions::text_limit`]: 1 MiB per side.
pub const DEFAULT_TEXT_LIMIT: u64 = 1 << 20;
/// Default for [`DiffOptions::max_diff_bytes`]: 64 KiB of unified diff per file.
pub const DEFAULT_MAX_DIFF_BYTES: usize = 64 << 10;
/// Default for [`DiffOptions::max_total_diff_bytes`]: 4 MiB of unified diffs in all.
pub const DEFAULT_MAX_TOTAL_DIFF_BYTES: usize = 4 << 20;
/// Default for [`DiffOptions::max_entries`].
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;
/// Bytes of entry paths and symlink targets listed in a report, at most:
/// a path can be 1024 names deep, so a small hostile NAR could otherwise
/// make a huge report.
pub const MAX_LISTED_BYTES: usize = 64 << 20;
/// Default for [`DiffOptions::max_ranges`].
pub const DEFAULT_MAX_RANGES: usize = 16;
/// Default for [`DiffOptions::context`], as `diff -u`.
pub const DEFAULT_CONTEXT: usize = 3;
/// Largest [`DiffOptions::context`] used: more lines than a text within
/// the text limit can have; larger values are clamped to it.
pub const MAX_CONTEXT: usize = 1 << 20;
/// Default for [`DiffOptions::text_diff_timeout`].
pub const DEFAULT_TEXT_DIFF_TIMEOUT: Duration = Duration::from_secs(5);
/// Default for [`DiffoscopeOptions::timeout`].
pub const DEFAULT_DIFFOSCOPE_TIMEOUT: Duration = Duration::from_secs(300);
/// Default for [`DiffoscopeOptions::max_output`]: 1 MiB.
pub const DEFAULT_DIFFOSCOPE_MAX_OUTPUT: usize = 1 << 20;

/// Bytes of each file compared per step.
const CHUNK: usize = 64 * 1024;
/// Buffer for reading NAR files.
const READ_BUF: usize = 256 * 1024;
/// Chunks a tree's dump thread may run ahead of the comparison.
const DUMP_CHANNEL_DEPTH: usize = 4;

/// Errors that stop a comparison (differences are results, not errors).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DiffError {
    /// A file-system operation on an input or a temporary file failed.
    #[error("{op} {}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file at fault.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A NAR input is malformed or truncated, or reading it failed.
    #[error("reading NAR {}", path.display())]
    Nar {
        /// The NAR file (or tree whose serialisation failed).
        path: PathBuf,
        /// What is wrong, with its byte offset.
        #[source]
        source: NarError,
    },
    /// Serialising a tree input failed (an unsupported file type, a file
    /// that changed while read, an I/O error); the source names the file.
    #[error("reading tree {}", path.display())]
    Tree {
        /// The input.
        path: PathBuf,
        /// Why, naming the file at fault.
        #[source]
        source: NarFsError,
    },
    /// Unpacking a NAR for diffoscope failed.
    #[error("unpacking NAR {} for diffoscope", path.display())]
    Unpack {
        /// The NAR file.
        path: PathBuf,
        /// Why.
        #[source]
        source: NarFsError,
    },
    /// The helper thread reading a tree stopped unexpectedly.
    #[error("the thread reading {} stopped unexpectedly", path.display())]
    Thread {
        /// The input it was reading.
        path: PathBuf,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> DiffError + 'a {
    move |source| DiffError::Io { op, path: path.to_path_buf(), source }
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A file-system tree: directory, regular file or symlink (not followed).
    Tree(PathBuf),
    /// A NAR file.
    Nar(PathBuf),
}

impl Input {
    /// A NAR if `path` is a regular file (not a symlink) starting with the
    /// NAR magic (`nix-archive-1` as a NAR string), else a tree.
    pub fn detect(path: &Path) -> Result<Input, DiffError> {
        let meta = std::fs::symlink_metadata(path).map_err(io_err("reading metadata of", path))?;
        if !meta.is_file() {
            return Ok(Input::Tree(path.to_path_buf()));
        }
        let mut head = [0u8; 8 + NAR_MAGIC.len()];
        let mut file = open_nofollow(path)?;
        let mut got = 0;
        while got < head.len() {
            let rest = head.get_mut(got..).unwrap_or_default();
            match file.read(rest) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err("reading", path)(e)),
            }
        }
        let (len, magic) = head.split_at(8);
        let is_nar = got == head.len() && len == (NAR_MAGIC.len() as u64).to_le_bytes() && magic == NAR_MAGIC;
        Ok(if is_nar { Input::Nar(path.to_path_buf()) } else { Input::Tree(path.to_path_buf()) })
    }

    /// The path of the input.
    pub fn path(&self) -> &Path {
        match self {
            Input::Tree(p) | Input::Nar(p) => p,
        }
    }

    /// Whether it is a tree or a NAR.
    pub fn kind(&self) -> InputKind {
        match self {
            Input::Tree(_) => InputKind::Tree,
            Input::Nar(_) => InputKind::Nar,
        }
    }
}

/// Opens a file for reading without following a final symlink or blocking
/// on a FIFO swapped in after it was checked.
fn open_nofollow(path: &Path) -> Result<File, DiffError> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    std::fs::OpenOptions::new().read(true).custom_flags(flags.bits() as i32).open(path).map_err(io_err("opening", path))
}

/// What an [`Input`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    /// A file-system tree.
    Tree,
    /// A NAR file.
    Nar,
}

/// How much to compare and report.
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// Lines of context in unified diffs (at most [`MAX_CONTEXT`]).
    pub context: usize,
    /// Files larger than this on either side get byte ranges, not a text diff.
    pub text_limit: u64,
    /// Longest unified diff of one file, in bytes; longer ones are cut at a line end.
    pub max_diff_bytes: usize,
    /// Unified diffs of all files together, in bytes; later diffs are left out.
    pub max_total_diff_bytes: usize,
    /// Differing byte ranges listed per file; comparing stops after that many.
    pub max_ranges: usize,
    /// Entries listed in the report; the summary still counts every change.
    pub max_entries: usize,
    /// Time after which a text diff settles for a correct but possibly longer result.
    pub text_diff_timeout: Duration,
    /// Run diffoscope when the outputs differ; `None` disables it.
    pub diffoscope: Option<DiffoscopeOptions>,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            context: DEFAULT_CONTEXT,
            text_limit: DEFAULT_TEXT_LIMIT,
            max_diff_bytes: DEFAULT_MAX_DIFF_BYTES,
            max_total_diff_bytes: DEFAULT_MAX_TOTAL_DIFF_BYTES,
            max_ranges: DEFAULT_MAX_RANGES,
            max_entries: DEFAULT_MAX_ENTRIES,
            text_diff_timeout: DEFAULT_TEXT_DIFF_TIMEOUT,
            diffoscope: None,
        }
    }
}

/// How to run diffoscope.
#[derive(Debug, Clone)]
pub struct DiffoscopeOptions {
    /// The program, looked up on `PATH` unless it contains a `/`.
    pub program: OsString,
    /// Wall-clock limit; past it diffoscope and its children are killed.
    pub timeout: Duration,
    /// Bytes of its text report kept (it is also told to stop there).
    pub max_output: usize,
}

impl Default for DiffoscopeOptions {
    fn default() -> Self {
        DiffoscopeOptions {
            program: OsString::from("diffoscope"),
            timeout: DEFAULT_DIFFOSCOPE_TIMEOUT,
            max_output: DEFAULT_DIFFOSCOPE_MAX_OUTPUT,
        }
    }
}

/// The result of comparing two outputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffReport {
    /// The first input.
    pub a: InputInfo,
    /// The second input.
    pub b: InputInfo,
    /// Whether the two NARs are byte for byte the same (no entries).
    pub identical: bool,
    /// Entries per kind of change.
    pub summary: Summary,
    /// Every changed path, in path order (up to [`DiffOptions::max_entries`]
    /// or [`MAX_LISTED_BYTES`] of paths).
    pub entries: Vec<Entry>,
    /// Whether changed paths were left out of `entries` (the summary counts them).
    pub entries_truncated: bool,
    /// What diffoscope said, or why it did not run.
    pub diffoscope: DiffoscopeReport,
}

/// One input as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InputInfo {
    /// The path given.
    pub path: String,
    /// Tree or NAR.
    pub kind: InputKind,
    /// Size of its NAR serialisation.
    pub nar_size: u64,
    /// sha256 of its NAR serialisation, `sha256:nixbase32`.
    pub nar_hash: String,
}

/// Counts of entries by change (an entry both modified and with a new
/// mode counts in both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Changed entries.
    pub entries: usize,
    /// Regular files with different contents.
    pub modified: usize,
    /// Paths only in the second input.
    pub added: usize,
    /// Paths only in the first input.
    pub removed: usize,
    /// Paths whose type differs.
    pub type_changed: usize,
    /// Regular files whose executable bit differs.
    pub mode_changed: usize,
    /// Symlinks whose target differs.
    pub target_changed: usize,
}

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Relative path (`""` for the top).
    pub path: String,
    /// What changed; `modified` and `mode` may come together.
    pub changes: Vec<Change>,
    /// The node in the first input (absent when added).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub a: Option<Node>,
    /// The node in the second input (absent when removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b: Option<Node>,
    /// How the contents differ (modified regular files only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentDiff>,
}

/// A kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// A regular file's contents differ.
    Modified,
    /// Only in the second input.
    Added,
    /// Only in the first input.
    Removed,
    /// The node type differs (regular, directory, symlink).
    Type,
    /// A regular file's executable bit differs.
    Mode,
    /// A symlink's target differs.
    Target,
}

impl Change {
    /// The letter of the human output: `M`, `A`, `D`, `T`, `X`, `L`.
    pub fn letter(self) -> char {
        match self {
            Change::Modified => 'M',
            Change::Added => 'A',
            Change::Removed => 'D',
            Change::Type => 'T',
            Change::Mode => 'X',
            Change::Target => 'L',
        }
    }
}

/// A node as the NAR holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Node {
    /// A regular file.
    Regular {
        /// Size in bytes.
        size: u64,
        /// Whether it is executable.
        executable: bool,
    },
    /// A symbolic link.
    Symlink {
        /// Its target (`\xNN` escapes if not UTF-8).
        target: String,
    },
    /// A directory.
    Directory,
}

impl Node {
    /// `regular`, `symlink` or `directory`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Node::Regular { .. } => "regular",
            Node::Symlink { .. } => "symlink",
            Node::Directory => "directory",
        }
    }
}

/// How a modified regular file's contents differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentDiff {
    /// Text, binary, or too large for a text diff.
    pub kind: ContentKind,
    /// Offset of the first differing byte (the smaller size when one side
    /// is a prefix of the other).
    pub first_difference: u64,
    /// Differing byte ranges within the bytes both sides have.
    pub ranges: Vec<ByteRange>,
    /// Whether more ranges differ than are listed.
    pub ranges_truncated: bool,
    /// The unified diff (text only; absent when the total limit was reached).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unified: Option<String>,
    /// Whether the unified diff was cut short or left out (text only).
    pub unified_truncated: bool,
}

/// What kind of contents a modified file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContentKind {
    /// Both sides are UTF-8 without NUL, within the text limit.
    Text,
    /// At least one side is not text.
    Binary,
    /// At least one side is larger than the text limit.
    TooLarge,
}

/// A run of differing bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ByteRange {
    /// Offset of the first differing byte.
    pub offset: u64,
    /// Number of consecutive differing bytes.
    pub len: u64,
}

/// What diffoscope said, or why it did not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffoscopeReport {
    /// What happened.
    pub status: DiffoscopeStatus,
    /// Its exit code, when it exited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Its text report (status `ran`; possibly empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Whether the text report was cut at the size limit.
    pub truncated: bool,
    /// The start of its stderr, or why it could not start (status `failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl DiffoscopeReport {
    fn status(status: DiffoscopeStatus) -> Self {
        DiffoscopeReport { status, exit_code: None, output: None, truncated: false, error: None }
    }
}

/// What happened to diffoscope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiffoscopeStatus {
    /// Not asked for.
    Disabled,
    /// Not run: the outputs are identical.
    Identical,
    /// The program was not found.
    NotFound,
    /// It ran and exited 0 (no differences) or 1 (differences).
    Ran,
    /// It could not start, exited with another code or was killed.
    Failed,
    /// It ran past the timeout and was killed.
    TimedOut,
}

/// Compares `a` with `b`. Differences are the report's entries; errors are
/// unreadable or malformed inputs (naming the file and, for a NAR, the byte
/// offset) and failed temporary files.
pub fn diff_outputs(a: &Input, b: &Input, opts: &DiffOptions) -> Result<DiffReport, DiffError> {
    let (side_a, dump_a) = open_side(a)?;
    let (side_b, dump_b) = match open_side(b) {
        Ok(side) => side,
        Err(e) => {
            drop(side_a);
            let _ = join_dump(a, dump_a);
            return Err(e);
        }
    };
    let merged = merge(side_a, side_b, opts);
    // The sides are dropped by now, so a dump thread blocked on a full
    // channel has seen its receiver go and stopped.
    let (done_a, done_b) = (join_dump(a, dump_a), join_dump(b, dump_b));
    let merged = match merged {
        Ok(merged) => merged,
        Err((which, source)) => {
            let (input, done) = if which == Which::A { (a, done_a) } else { (b, done_b) };
            // A tree that failed to serialise shows up as a truncated
            // stream; the dump's own error names the file at fault.
            done?;
            return Err(DiffError::Nar { path: input.path().to_path_buf(), source });
        }
    };
    done_a?;
    done_b?;

    let Merged { entries: Entries { list: entries, summary, truncated: entries_truncated, .. }, summary_a, summary_b } =
        merged;
    let identical = summary.entries == 0;
    let diffoscope = match &opts.diffoscope {
        None => DiffoscopeReport::status(DiffoscopeStatus::Disabled),
        Some(_) if identical => DiffoscopeReport::status(DiffoscopeStatus::Identical),
        Some(d) => diffoscope::run(a, b, opts.context.min(MAX_CONTEXT), d)?,
    };
    let info = |input: &Input, s: provenix_formats::nar::NarSummary| InputInfo {
        path: input.path().display().to_string(),
        kind: input.kind(),
        nar_size: s.size,
        nar_hash: s.hash.to_prefixed_nixbase32(),
    };
    Ok(DiffReport {
        a: info(a, summary_a),
        b: info(b, summary_b),
        identical,
        summary,
        entries,
        entries_truncated,
        diffoscope,
    })
}

/// The entries found so far, and the count of all.
struct Entries {
    list: Vec<Entry>,
    summary: Summary,
    /// Bytes of paths and targets in `list`.
    listed_bytes: usize,
    max: usize,
    truncated: bool,
}

impl Entries {
    fn add(&mut self, entry: Entry) {
        let s = &mut self.summary;
        s.entries += 1;
        for change in &entry.changes {
            match change {
                Change::Modified => s.modified += 1,
                Change::Added => s.added += 1,
                Change::Removed => s.removed += 1,
                Change::Type => s.type_changed += 1,
                Change::Mode => s.mode_changed += 1,
                Change::Target => s.target_changed += 1,
            }
        }
        let target_len = |n: &Option<Node>| match n {
            Some(Node::Symlink { target }) => target.len(),
            _ => 0,
        };
        let bytes = entry.path.len() + target_len(&entry.a) + target_len(&entry.b);
        if self.truncated || self.list.len() >= self.max || self.listed_bytes + bytes > MAX_LISTED_BYTES {
            self.truncated = true;
            return;
        }
        self.listed_bytes += bytes;
        self.list.push(entry);
    }
}

/// Which input an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    A,
    B,
}

type DumpThread = Option<thread::JoinHandle<Result<u64, NarFsError>>>;

/// Opens an input as a NAR stream: the file itself, or a dump of the tree
/// made by a helper thread.
fn open_side(input: &Input) -> Result<(Side, DumpThread), DiffError> {
    let (stream, dump): (Box<dyn BufRead>, DumpThread) = match input {
        Input::Nar(path) => (Box::new(BufReader::with_capacity(READ_BUF, open_nofollow(path)?)), None),
        Input::Tree(path) => {
            let (writer, reader) = pipe(DUMP_CHANNEL_DEPTH);
            let root = path.clone();
            let handle = thread::Builder::new()
                .name("diff-dump".to_owned())
                .spawn(move || dump_path(&root, writer))
                .map_err(io_err("starting a thread to read", path))?;
            (Box::new(reader), Some(handle))
        }
    };
    let reader = NarReader::new(Tee::new(stream, io::sink(), HashAlgo::Sha256));
    Ok((Side { reader, names: Vec::new(), dirs: 0 }, dump))
}

fn join_dump(input: &Input, dump: DumpThread) -> Result<(), DiffError> {
    let Some(handle) = dump else { return Ok(()) };
    match handle.join() {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(source)) => Err(DiffError::Tree { path: input.path().to_path_buf(), source }),
        Err(_) => Err(DiffError::Thread { path: input.path().to_path_buf() }),
    }
}

/// A bounded pipe between threads: what the writer writes, the reader reads, in order; the
/// reader ends when the writer is dropped, and the writer fails with BrokenPipe once the reader
/// is gone. `depth` chunks (one per write) can wait in between.
pub(crate) fn pipe(depth: usize) -> (ChannelWriter, ChannelReader) {
    let (tx, rx) = mpsc::sync_channel(depth);
    (ChannelWriter { tx }, ChannelReader { rx, chunk: Vec::new(), pos: 0 })
}

/// The writing end of a [`pipe`]: hands each write to the reader as a chunk.
pub(crate) struct ChannelWriter {
    tx: mpsc::SyncSender<Vec<u8>>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The comparison stopped (an error on the other side): stop dumping.
        self.tx.send(buf.to_vec()).map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The reading end of a [`pipe`]; ends when the writer is dropped.
pub(crate) struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), avail.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ChannelReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos >= self.chunk.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                // The dump ended (done or failed; its result says which).
                Err(mpsc::RecvError) => return Ok(&[]),
            }
        }
        Ok(self.chunk.get(self.pos..).unwrap_or_default())
    }

    fn consume(&mut self, amt: usize) {
        self.pos = self.pos.saturating_add(amt).min(self.chunk.len());
    }
}

/// One input being read: NAR events turned into nodes with their paths.
struct Side {
    reader: NarReader<Tee<Box<dyn BufRead>, io::Sink>>,
    /// Names from the top to the current entry.
    names: Vec<Vec<u8>>,
    /// Directories open around the current event.
    dirs: usize,
}

/// A node as read, before rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RawNode {
    Regular { size: u64, executable: bool },
    Symlink(Vec<u8>),
    Directory,
}

impl RawNode {
    fn render(&self) -> Node {
        match self {
            RawNode::Regular { size, executable } => Node::Regular { size: *size, executable: *executable },
            RawNode::Symlink(target) => Node::Symlink { target: show_bytes(target) },
            RawNode::Directory => Node::Directory,
        }
    }
}

/// A node and its path (names from the top).
type NodeAt = (Vec<Vec<u8>>, RawNode);

impl Side {
    /// The next node and its path (names from the top), in NAR order.
    fn next_node(&mut self) -> Result<Option<NodeAt>, NarError> {
        loop {
            let Some(event) = self.reader.next()? else { return Ok(None) };
            let node = match event {
                NarEvent::Entry { name } => {
                    // An entry of the innermost directory, whose path has
                    // `dirs - 1` names.
                    self.names.truncate(self.dirs.saturating_sub(1));
                    self.names.push(name.to_vec());
                    continue;
                }
                NarEvent::DirectoryEnd => {
                    self.dirs = self.dirs.saturating_sub(1);
                    continue;
                }
                NarEvent::DirectoryStart => {
                    self.dirs += 1;
                    RawNode::Directory
                }
                NarEvent::Regular { executable, size } => RawNode::Regular { size, executable },
                NarEvent::Symlink { target } => RawNode::Symlink(target.to_vec()),
            };
            return Ok(Some((self.names.clone(), node)));
        }
    }

    /// Reads the current file's contents until `buf` is full or they end.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, NarError> {
        let mut got = 0;
        while let Some(rest) = buf.get_mut(got..).filter(|r| !r.is_empty()) {
            match self.reader.read_contents(rest)? {
                0 => break,
                n => got += n,
            }
        }
        Ok(got)
    }

    /// Checks that nothing follows the NAR, and returns its size and hash.
    fn finish(self) -> Result<provenix_formats::nar::NarSummary, NarError> {
        let tee = self.reader.finish()?;
        let (_, _, summary) = tee.finish().map_err(|source| NarError::Io { offset: 0, source })?;
        Ok(summary)
    }
}

struct Merged {
    entries: Entries,
    summary_a: provenix_formats::nar::NarSummary,
    summary_b: provenix_formats::nar::NarSummary,
}

type SideResult<T> = Result<T, (Which, NarError)>;

fn side_a<T>(r: Result<T, NarError>) -> SideResult<T> {
    r.map_err(|e| (Which::A, e))
}

fn side_b<T>(r: Result<T, NarError>) -> SideResult<T> {
    r.map_err(|e| (Which::B, e))
}

/// Pairs up the nodes of both streams in one pass (see the module docs).
fn merge(mut a: Side, mut b: Side, opts: &DiffOptions) -> SideResult<Merged> {
    let mut entries = Entries {
        list: Vec::new(),
        summary: Summary::default(),
        listed_bytes: 0,
        max: opts.max_entries,
        truncated: false,
    };
    let mut budget = opts.max_total_diff_bytes;
    let mut next_a = side_a(a.next_node())?;
    let mut next_b = side_b(b.next_node())?;
    loop {
        let order = match (&next_a, &next_b) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((pa, _)), Some((pb, _))) => pa.cmp(pb),
        };
        match order {
            std::cmp::Ordering::Less => {
                if let Some((path, node)) = next_a.take() {
                    entries.add(one_sided(&path, Change::Removed, node.render()));
                }
                next_a = side_a(a.next_node())?;
            }
            std::cmp::Ordering::Greater => {
                if let Some((path, node)) = next_b.take() {
                    entries.add(one_sided(&path, Change::Added, node.render()));
                }
                next_b = side_b(b.next_node())?;
            }
            std::cmp::Ordering::Equal => {
                if let (Some((path, na)), Some((_, nb))) = (next_a.take(), next_b.take()) {
                    if let Some(entry) = compare_nodes(&path, &na, &nb, &mut a, &mut b, opts, &mut budget)? {
                        entries.add(entry);
                    }
                }
                next_a = side_a(a.next_node())?;
                next_b = side_b(b.next_node())?;
            }
        }
    }
    let summary_a = side_a(a.finish())?;
    let summary_b = side_b(b.finish())?;
    Ok(Merged { entries, summary_a, summary_b })
}

fn one_sided(path: &[Vec<u8>], change: Change, node: Node) -> Entry {
    let (a, b) = if change == Change::Removed { (Some(node), None) } else { (None, Some(node)) };
    Entry { path: show_path(path), changes: vec![change], a, b, content: None }
}

/// Compares two nodes at the same path; for two regular files, reads both
/// contents.
fn compare_nodes(
    path: &[Vec<u8>],
    na: &RawNode,
    nb: &RawNode,
    a: &mut Side,
    b: &mut Side,
    opts: &DiffOptions,
    budget: &mut usize,
) -> SideResult<Option<Entry>> {
    let mut changes = Vec::new();
    let mut content = None;
    match (na, nb) {
        (RawNode::Directory, RawNode::Directory) => {}
        (RawNode::Symlink(ta), RawNode::Symlink(tb)) => {
            if ta != tb {
                changes.push(Change::Target);
            }
        }
        (RawNode::Regular { size: sa, executable: xa }, RawNode::Regular { size: sb, executable: xb }) => {
            let label = show_path(path);
            content = compare_contents(&label, a, *sa, b, *sb, opts, budget)?;
            if content.is_some() {
                changes.push(Change::Modified);
            }
            if xa != xb {
                changes.push(Change::Mode);
            }
        }
        _ => changes.push(Change::Type),
    }
    if changes.is_empty() {
        return Ok(None);
    }
    Ok(Some(Entry { path: show_path(path), changes, a: Some(na.render()), b: Some(nb.render()), content }))
}

/// Differing byte ranges, found chunk by chunk.
struct Ranges {
    list: Vec<ByteRange>,
    max: usize,
    truncated: bool,
    /// A range still running at the end of the last chunk.
    open: Option<ByteRange>,
}

impl Ranges {
    /// Records the differences between `a` and `b` (same length), which
    /// start at `offset` in both files.
    fn add_chunk(&mut self, offset: u64, a: &[u8], b: &[u8]) {
        if a == b {
            self.close();
            return;
        }
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            if x != y {
                match &mut self.open {
                    Some(range) => range.len += 1,
                    None => self.open = Some(ByteRange { offset: offset + i as u64, len: 1 }),
                }
            } else {
                self.close();
            }
            if self.truncated {
                return;
            }
        }
    }

    fn close(&mut self) {
        if let Some(range) = self.open.take() {
            if self.list.len() < self.max {
                self.list.push(range);
            } else {
                self.truncated = true;
            }
        }
    }

    fn full(&self) -> bool {
        self.truncated
    }
}

/// Streams both files' contents in lockstep; `None` when they are equal.
fn compare_contents(
    label: &str,
    a: &mut Side,
    size_a: u64,
    b: &mut Side,
    size_b: u64,
    opts: &DiffOptions,
    budget: &mut usize,
) -> SideResult<Option<ContentDiff>> {
    let keep_text = size_a <= opts.text_limit && size_b <= opts.text_limit;
    // The declared sizes come from the input: reserve no more than the
    // default text limit up front, whatever the options say.
    let capacity = |size: u64| if keep_text { usize::try_from(size.min(DEFAULT_TEXT_LIMIT)).unwrap_or(0) } else { 0 };
    let (mut text_a, mut text_b) = (Vec::with_capacity(capacity(size_a)), Vec::with_capacity(capacity(size_b)));
    let (mut buf_a, mut buf_b) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    let mut ranges = Ranges { list: Vec::new(), max: opts.max_ranges, truncated: false, open: None };
    let mut offset = 0u64;
    loop {
        let n_a = side_a(a.fill(&mut buf_a))?;
        let n_b = side_b(b.fill(&mut buf_b))?;
        if n_a == 0 && n_b == 0 {
            break;
        }
        let (chunk_a, chunk_b) = (buf_a.get(..n_a).unwrap_or_default(), buf_b.get(..n_b).unwrap_or_default());
        if keep_text {
            text_a.extend_from_slice(chunk_a);
            text_b.extend_from_slice(chunk_b);
        }
        let common = n_a.min(n_b);
        if !ranges.full() {
            ranges.add_chunk(
                offset,
                chunk_a.get(..common).unwrap_or_default(),
                chunk_b.get(..common).unwrap_or_default(),
            );
        }
        offset += common as u64;
        // Both chunks are full until a file ends, so once one side is
        // shorter the common bytes are all compared.
        if n_a != n_b {
            ranges.close();
            if !keep_text {
                break;
            }
        }
        if ranges.full() && !keep_text {
            // Enough said; the reader skips (and still checks) the rest.
            break;
        }
    }
    ranges.close();
    if size_a == size_b && ranges.list.is_empty() && !ranges.truncated {
        return Ok(None);
    }
    let first_difference = ranges.list.first().map_or(size_a.min(size_b), |r| r.offset);
    let as_text = |bytes: &[u8]| -> Option<String> {
        if bytes.contains(&0) { None } else { String::from_utf8(bytes.to_vec()).ok() }
    };
    let (kind, unified, unified_truncated) = if !keep_text {
        (ContentKind::TooLarge, None, false)
    } else {
        match (as_text(&text_a), as_text(&text_b)) {
            (Some(ta), Some(tb)) => {
                let (unified, truncated) = unified_diff(label, &ta, &tb, opts, budget);
                (ContentKind::Text, unified, truncated)
            }
            _ => (ContentKind::Binary, None, false),
        }
    };
    Ok(Some(ContentDiff {
        kind,
        first_difference,
        ranges: ranges.list,
        ranges_truncated: ranges.truncated,
        unified,
        unified_truncated,
    }))
}

/// The unified diff of two texts with `a/PATH` and `b/PATH` headers, cut
/// at the per-file and remaining total limits; whether it was cut.
fn unified_diff(label: &str, a: &str, b: &str, opts: &DiffOptions, budget: &mut usize) -> (Option<String>, bool) {
    if *budget == 0 {
        return (None, true);
    }
    // A file name may hold a newline, which would forge header lines.
    let label = crate::text::escape_controls(label);
    let (head_a, head_b) =
        if label.is_empty() { ("a".to_owned(), "b".to_owned()) } else { (format!("a/{label}"), format!("b/{label}")) };
    let mut config = similar::TextDiff::configure();
    config.algorithm(similar::Algorithm::Myers);
    // A timeout too large to add to the clock means none.
    if let Some(deadline) = Instant::now().checked_add(opts.text_diff_timeout) {
        config.deadline(deadline);
    }
    let diff = config.diff_lines(a, b);
    let context = opts.context.min(MAX_CONTEXT);
    let mut text = diff.unified_diff().context_radius(context).header(&head_a, &head_b).to_string();
    let limit = opts.max_diff_bytes.min(*budget);
    let truncated = text.len() > limit;
    if truncated {
        let mut cut = limit;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        // End at a line end when one is within the limit. Without one, a
        // line longer than the per-file limit is cut inside; but what is
        // left of the total does not buy a fragment of a header.
        match text.get(..cut).and_then(|t| t.rfind('\n')) {
            Some(newline) => cut = newline + 1,
            None if limit < opts.max_diff_bytes => return (None, true),
            None => {}
        }
        text.truncate(cut);
    }
    *budget = budget.saturating_sub(text.len());
    (Some(text), truncated)
}

/// A path as names joined with `/`, escaped if not UTF-8.
fn show_path(names: &[Vec<u8>]) -> String {
    show_bytes(&names.join(&b'/'))
}

/// Bytes as a string: as they are if UTF-8, else ASCII with `\xNN` escapes.
fn show_bytes(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.escape_ascii().to_string(),
    }
}
