//! The event-driven NAR writer. It produces the bytes of `nix-store --dump`
//! and refuses any event sequence whose output would not be a canonical NAR.

use std::io::{self, Read, Write};

use super::wire::{put_string, put_u64, write_padding};
use super::{MAX_DEPTH, NAR_MAGIC, NarError, NarProblem, check_name, check_order, check_target};

/// Size of the buffer file bodies are copied through.
const BODY_BUF_LEN: usize = 128 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing written yet; the root node is next.
    Start,
    /// An entry's node is next.
    Node,
    /// Inside a directory: an entry or its end is next.
    Dir,
    /// The root node is complete.
    Done,
}

impl State {
    fn expecting(self) -> &'static str {
        match self {
            State::Start | State::Node => "expecting a node (regular file, symlink or directory)",
            State::Dir => "expecting an entry or the end of the directory",
            State::Done => "the NAR is already complete",
        }
    }
}

/// Writes a NAR from events: [`NarWriter::regular`], [`NarWriter::symlink`],
/// [`NarWriter::begin_directory`], [`NarWriter::entry`],
/// [`NarWriter::end_directory`], then [`NarWriter::finish`].
///
/// Every event is checked before anything is written: names must be valid and
/// strictly increasing within a directory, targets valid, nesting within
/// [`MAX_DEPTH`], and each event allowed where it comes. A refused event
/// leaves the output unchanged, and the writer usable. An I/O error, or a
/// body shorter than its declared size, leaves a partial NAR behind; the
/// writer then refuses all further events ([`NarProblem::Poisoned`]).
///
/// Writes go straight to `out` in small pieces per event, plus the file
/// bodies in chunks of up to 128 KiB; wrap `out` in a [`io::BufWriter`] if it
/// is unbuffered.
///
/// ```
/// use provenix_formats::nar::NarWriter;
/// # fn main() -> Result<(), provenix_formats::nar::NarError> {
/// let mut nar = NarWriter::new(Vec::new());
/// nar.begin_directory()?;
/// nar.entry(b"bin")?;
/// nar.begin_directory()?;
/// nar.entry(b"hello")?;
/// nar.regular(true, 5, &b"hello"[..])?;
/// nar.end_directory()?;
/// nar.entry(b"lib")?;
/// nar.symlink(b"bin")?;
/// nar.end_directory()?;
/// let bytes: Vec<u8> = nar.finish()?;
/// # assert_eq!(bytes.len() % 8, 0);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct NarWriter<W> {
    out: W,
    offset: u64,
    state: State,
    /// One element per open directory: the last entry name (empty: none yet).
    stack: Vec<Vec<u8>>,
    /// Tokens of the current event, written in one call.
    scratch: Vec<u8>,
    body: Vec<u8>,
    poisoned: bool,
}

impl<W: Write> NarWriter<W> {
    /// A writer whose first node is the root.
    pub fn new(out: W) -> Self {
        NarWriter {
            out,
            offset: 0,
            state: State::Start,
            stack: Vec::new(),
            scratch: Vec::with_capacity(128),
            body: Vec::new(),
            poisoned: false,
        }
    }

    /// Bytes written so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Current directory nesting (0 outside any directory).
    pub fn depth(&self) -> usize {
        self.stack.len()
    }

    /// The output.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// A regular file of `size` bytes whose contents are the first `size`
    /// bytes of `body` (streamed; bytes after them are not read).
    pub fn regular<B: Read>(&mut self, executable: bool, size: u64, mut body: B) -> Result<(), NarError> {
        self.begin_node("a regular file")?;
        put_string(&mut self.scratch, b"(");
        put_string(&mut self.scratch, b"type");
        put_string(&mut self.scratch, b"regular");
        if executable {
            put_string(&mut self.scratch, b"executable");
            put_string(&mut self.scratch, b"");
        }
        put_string(&mut self.scratch, b"contents");
        put_u64(&mut self.scratch, size);
        self.poisoned = true;
        self.flush_scratch()?;
        self.copy_body(size, &mut body)?;
        let offset = self.offset;
        write_padding(&mut self.out, size).map_err(|source| NarError::Io { offset, source })?;
        self.offset += super::wire::padding_len(size);
        put_string(&mut self.scratch, b")");
        self.end_node()
    }

    /// A symbolic link to `target` (not interpreted).
    pub fn symlink(&mut self, target: &[u8]) -> Result<(), NarError> {
        check_target(target).map_err(|p| NarError::invalid(self.offset, p))?;
        self.begin_node("a symlink")?;
        put_string(&mut self.scratch, b"(");
        put_string(&mut self.scratch, b"type");
        put_string(&mut self.scratch, b"symlink");
        put_string(&mut self.scratch, b"target");
        put_string(&mut self.scratch, target);
        put_string(&mut self.scratch, b")");
        self.poisoned = true;
        self.end_node()
    }

    /// Opens a directory; its entries follow.
    pub fn begin_directory(&mut self) -> Result<(), NarError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(NarError::invalid(self.offset, NarProblem::TooDeep { max: MAX_DEPTH }));
        }
        self.begin_node("a directory")?;
        put_string(&mut self.scratch, b"(");
        put_string(&mut self.scratch, b"type");
        put_string(&mut self.scratch, b"directory");
        self.poisoned = true;
        self.flush_scratch()?;
        self.stack.push(Vec::new());
        self.state = State::Dir;
        self.poisoned = false;
        Ok(())
    }

    /// Starts the entry `name` of the current directory; its node is next.
    pub fn entry(&mut self, name: &[u8]) -> Result<(), NarError> {
        self.check_event("an entry", State::Dir)?;
        check_name(name).map_err(|p| NarError::invalid(self.offset, p))?;
        let prev = self.stack.last().filter(|p| !p.is_empty()).map(Vec::as_slice);
        check_order(prev, name).map_err(|p| NarError::invalid(self.offset, p))?;
        put_string(&mut self.scratch, b"entry");
        put_string(&mut self.scratch, b"(");
        put_string(&mut self.scratch, b"name");
        put_string(&mut self.scratch, name);
        put_string(&mut self.scratch, b"node");
        self.poisoned = true;
        self.flush_scratch()?;
        if let Some(prev) = self.stack.last_mut() {
            prev.clear();
            prev.extend_from_slice(name);
        }
        self.state = State::Node;
        self.poisoned = false;
        Ok(())
    }

    /// Closes the current directory.
    pub fn end_directory(&mut self) -> Result<(), NarError> {
        self.check_event("the end of a directory", State::Dir)?;
        self.stack.pop();
        put_string(&mut self.scratch, b")");
        self.poisoned = true;
        self.end_node()
    }

    /// Checks that the NAR is complete, flushes and returns the output.
    pub fn finish(mut self) -> Result<W, NarError> {
        self.check_event("finishing", State::Done)?;
        let offset = self.offset;
        self.out.flush().map_err(|source| NarError::Io { offset, source })?;
        Ok(self.out)
    }

    fn check_event(&self, event: &'static str, allowed: State) -> Result<(), NarError> {
        if self.poisoned {
            return Err(NarError::invalid(self.offset, NarProblem::Poisoned));
        }
        if self.state != allowed {
            return Err(NarError::invalid(self.offset, NarProblem::Misuse { event, state: self.state.expecting() }));
        }
        Ok(())
    }

    /// Checks that a node may come now; queues the magic before the root.
    fn begin_node(&mut self, event: &'static str) -> Result<(), NarError> {
        let allowed = if self.state == State::Start { State::Start } else { State::Node };
        self.check_event(event, allowed)?;
        self.scratch.clear();
        if self.state == State::Start {
            put_string(&mut self.scratch, NAR_MAGIC);
        }
        Ok(())
    }

    /// Closes the entry holding the node just queued, writes the queue.
    fn end_node(&mut self) -> Result<(), NarError> {
        if self.stack.is_empty() {
            self.state = State::Done;
        } else {
            put_string(&mut self.scratch, b")");
            self.state = State::Dir;
        }
        self.flush_scratch()?;
        self.poisoned = false;
        Ok(())
    }

    fn flush_scratch(&mut self) -> Result<(), NarError> {
        let offset = self.offset;
        self.out.write_all(&self.scratch).map_err(|source| NarError::Io { offset, source })?;
        self.offset += self.scratch.len() as u64;
        self.scratch.clear();
        Ok(())
    }

    fn copy_body<B: Read>(&mut self, size: u64, body: &mut B) -> Result<(), NarError> {
        if size > 0 && self.body.is_empty() {
            self.body = vec![0; BODY_BUF_LEN];
        }
        let mut remaining = size;
        while remaining > 0 {
            let want = usize::try_from(remaining).unwrap_or(usize::MAX).min(self.body.len());
            let chunk = self.body.get_mut(..want).unwrap_or_default();
            let n = match body.read(chunk) {
                Ok(0) => {
                    let problem = NarProblem::SizeMismatch { expected: size, found: size - remaining };
                    return Err(NarError::invalid(self.offset, problem));
                }
                Ok(n) => n.min(want),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(NarError::Body { offset: self.offset, source }),
            };
            let offset = self.offset;
            let data = self.body.get(..n).unwrap_or_default();
            self.out.write_all(data).map_err(|source| NarError::Io { offset, source })?;
            self.offset += n as u64;
            remaining -= n as u64;
        }
        Ok(())
    }
}
