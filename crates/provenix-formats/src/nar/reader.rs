//! The validating pull parser. See the module docs of [`crate::nar`] for the
//! grammar and the rules it enforces.

use std::io::{self, BufRead, Read, Write};

use super::wire::{WireProblem, WireReader};
use super::{
    MAX_DEPTH, MAX_TARGET_LEN, MAX_TOKEN_LEN, NAR_MAGIC, NarError, NarEvent, NarProblem, check_name, check_order,
    check_target, show_bytes,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the magic.
    Start,
    /// A node is next (the root, or an entry's node).
    Node,
    /// Inside a regular file's contents.
    Contents { remaining: u64, size: u64 },
    /// A node was complete; close the entry holding it, if any.
    EndNode,
    /// Inside a directory: `entry` or `)` next.
    Dir,
    /// The root node is complete.
    Done,
    /// An error occurred; the position in the input is unknown.
    Failed,
}

/// What [`NarReader::step`] produced; borrowed data stays in the reader.
enum Step {
    Regular { executable: bool, size: u64 },
    Symlink,
    DirectoryStart,
    Entry,
    DirectoryEnd,
}

/// A keyword as read: its bytes if short enough, else only its length.
struct Token {
    offset: u64,
    len: u64,
    buf: [u8; MAX_TOKEN_LEN],
}

impl Token {
    fn bytes(&self) -> &[u8] {
        usize::try_from(self.len).ok().and_then(|n| self.buf.get(..n)).unwrap_or_default()
    }

    fn is(&self, keyword: &[u8]) -> bool {
        self.len == keyword.len() as u64 && self.bytes() == keyword
    }

    fn describe(&self) -> String {
        if self.len > MAX_TOKEN_LEN as u64 {
            format!("a string of {} bytes", self.len)
        } else {
            format!("`{}`", show_bytes(self.bytes()))
        }
    }

    fn unexpected(&self, expected: &'static str) -> NarError {
        NarError::invalid(self.offset, NarProblem::UnexpectedToken { expected, found: self.describe() })
    }
}

/// A streaming, validating NAR parser over a [`BufRead`].
///
/// Call [`NarReader::next`] until it returns `None`. After a
/// [`NarEvent::Regular`], the file's contents may be read with
/// [`NarReader::copy_contents`], [`NarReader::read_contents`] or
/// [`NarReader::contents`]; whatever is not read is skipped (and still
/// validated) by the next call to `next`. Memory use is bounded by the limits
/// in the module docs, whatever the input.
///
/// ```no_run
/// use provenix_formats::nar::{NarEvent, NarReader};
/// # fn main() -> Result<(), provenix_formats::nar::NarError> {
/// let nar: &[u8] = &[]; // bytes of a NAR
/// let mut reader = NarReader::new(nar);
/// while let Some(event) = reader.next()? {
///     if let NarEvent::Regular { size, .. } = event {
///         let copied = reader.copy_contents(&mut std::io::sink())?;
///         assert_eq!(copied, size);
///     }
/// }
/// reader.finish()?; // rejects trailing bytes
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct NarReader<R> {
    input: WireReader<R>,
    state: State,
    /// One element per open directory: the last entry name seen (empty: none yet).
    stack: Vec<Vec<u8>>,
    target: Vec<u8>,
}

impl<R: BufRead> NarReader<R> {
    /// A reader for a NAR starting at the first byte of `input`.
    pub fn new(input: R) -> Self {
        Self::with_offset(input, 0)
    }

    /// A reader whose error offsets count from `offset` (the NAR's position
    /// in an enclosing stream).
    pub fn with_offset(input: R, offset: u64) -> Self {
        NarReader { input: WireReader::new(input, offset), state: State::Start, stack: Vec::new(), target: Vec::new() }
    }

    /// Offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.input.offset()
    }

    /// Current directory nesting (0 outside any directory).
    pub fn depth(&self) -> usize {
        self.stack.len()
    }

    /// The input, positioned wherever reading stopped (right after the NAR
    /// once `next` has returned `None`).
    pub fn into_inner(self) -> R {
        self.input.into_inner()
    }

    /// Reads and validates the rest of the NAR, then checks that the input
    /// ends there; returns the input.
    pub fn finish(mut self) -> Result<R, NarError> {
        while self.next()?.is_some() {}
        if !self.input.at_end()? {
            return Err(NarError::invalid(self.offset(), NarProblem::TrailingBytes));
        }
        Ok(self.input.into_inner())
    }

    /// The next event, or `None` once the root node is complete.
    #[allow(clippy::should_implement_trait)] // a lending iterator: events borrow the reader
    ///
    /// After an error, every further call fails with [`NarProblem::Poisoned`].
    pub fn next(&mut self) -> Result<Option<NarEvent<'_>>, NarError> {
        let step = self.step();
        Ok(match self.fail_on_error(step)? {
            None => None,
            Some(Step::Regular { executable, size }) => Some(NarEvent::Regular { executable, size }),
            Some(Step::Symlink) => Some(NarEvent::Symlink { target: &self.target }),
            Some(Step::DirectoryStart) => Some(NarEvent::DirectoryStart),
            Some(Step::Entry) => {
                Some(NarEvent::Entry { name: self.stack.last().map(Vec::as_slice).unwrap_or_default() })
            }
            Some(Step::DirectoryEnd) => Some(NarEvent::DirectoryEnd),
        })
    }

    fn step(&mut self) -> Result<Option<Step>, NarError> {
        loop {
            match self.state {
                State::Start => {
                    let magic = self.token("`nix-archive-1`")?;
                    if !magic.is(NAR_MAGIC) {
                        return Err(NarError::invalid(magic.offset, NarProblem::BadMagic { found: magic.describe() }));
                    }
                    self.state = State::Node;
                }
                State::Node => return self.node().map(Some),
                State::Contents { remaining, size } => {
                    self.input.skip(remaining, "file contents")?;
                    self.input.read_padding(size, "file contents")?;
                    self.expect(b")", "`)` closing the file")?;
                    self.state = State::EndNode;
                }
                State::EndNode => {
                    if self.stack.is_empty() {
                        self.state = State::Done;
                    } else {
                        self.expect(b")", "`)` closing the entry")?;
                        self.state = State::Dir;
                    }
                }
                State::Dir => return self.dir_item().map(Some),
                State::Done => return Ok(None),
                State::Failed => return Err(NarError::invalid(self.offset(), NarProblem::Poisoned)),
            }
        }
    }

    /// `"(" "type" kind ...` up to the first event of the node.
    fn node(&mut self) -> Result<Step, NarError> {
        self.expect(b"(", "`(` opening a node")?;
        self.expect(b"type", "`type`")?;
        let kind = self.token("node type")?;
        if kind.is(b"regular") {
            let mut tok = self.token("`executable` or `contents`")?;
            let executable = tok.is(b"executable");
            if executable {
                let start = self.offset();
                let len = self.input.read_u64("`executable` value")?;
                if len != 0 {
                    return Err(NarError::invalid(start, NarProblem::ExecutableValue { len }));
                }
                tok = self.token("`contents`")?;
                if !tok.is(b"contents") {
                    return Err(tok.unexpected("`contents`"));
                }
            } else if !tok.is(b"contents") {
                return Err(tok.unexpected("`executable` or `contents`"));
            }
            let size = self.input.read_u64("file size")?;
            self.state = State::Contents { remaining: size, size };
            Ok(Step::Regular { executable, size })
        } else if kind.is(b"symlink") {
            self.expect(b"target", "`target`")?;
            let start = self.offset();
            let mut target = std::mem::take(&mut self.target);
            let read = self.input.read_string(&mut target, MAX_TARGET_LEN, "symlink target");
            self.target = target;
            read?;
            check_target(&self.target).map_err(|p| NarError::invalid(start, p))?;
            self.expect(b")", "`)` closing the symlink")?;
            self.state = State::EndNode;
            Ok(Step::Symlink)
        } else if kind.is(b"directory") {
            if self.stack.len() >= MAX_DEPTH {
                return Err(NarError::invalid(kind.offset, NarProblem::TooDeep { max: MAX_DEPTH }));
            }
            self.stack.push(Vec::new());
            self.state = State::Dir;
            Ok(Step::DirectoryStart)
        } else {
            Err(kind.unexpected("`regular`, `symlink` or `directory`"))
        }
    }

    /// Inside a directory: an entry header or the directory's end.
    fn dir_item(&mut self) -> Result<Step, NarError> {
        let tok = self.token("`entry` or `)`")?;
        if tok.is(b")") {
            self.stack.pop();
            self.state = State::EndNode;
            return Ok(Step::DirectoryEnd);
        }
        if !tok.is(b"entry") {
            return Err(tok.unexpected("`entry` or `)`"));
        }
        self.expect(b"(", "`(` opening the entry")?;
        self.expect(b"name", "`name`")?;
        let start = self.offset();
        let mut name = [0u8; super::MAX_NAME_LEN];
        let name = self.input.read_string_into(&mut name, "entry name")?;
        check_name(name).map_err(|p| NarError::invalid(start, p))?;
        // State::Dir always has an open directory on the stack.
        if let Some(prev) = self.stack.last_mut() {
            check_order((!prev.is_empty()).then_some(prev.as_slice()), name)
                .map_err(|p| NarError::invalid(start, p))?;
            prev.clear();
            prev.extend_from_slice(name);
        }
        self.expect(b"node", "`node`")?;
        self.state = State::Node;
        Ok(Step::Entry)
    }

    fn fail_on_error<T>(&mut self, result: Result<T, NarError>) -> Result<T, NarError> {
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn token(&mut self, what: &'static str) -> Result<Token, NarError> {
        let offset = self.offset();
        let len = self.input.read_u64(what)?;
        let mut tok = Token { offset, len, buf: [0; MAX_TOKEN_LEN] };
        // A longer string is no keyword; the caller reports it without reading it.
        if let Some(dst) = usize::try_from(len).ok().and_then(|n| tok.buf.get_mut(..n)) {
            self.input.read_exact(dst, what)?;
            self.input.read_padding(len, what)?;
        }
        Ok(tok)
    }

    fn expect(&mut self, keyword: &'static [u8], what: &'static str) -> Result<(), NarError> {
        let tok = self.token(what)?;
        if tok.is(keyword) { Ok(()) } else { Err(tok.unexpected(what)) }
    }

    /// Bytes of the current file's contents not yet read (0 outside a file).
    pub fn remaining_contents(&self) -> u64 {
        match self.state {
            State::Contents { remaining, .. } => remaining,
            _ => 0,
        }
    }

    /// Reads up to `buf.len()` bytes of the current file's contents; 0 at
    /// their end (or outside a regular file).
    pub fn read_contents(&mut self, buf: &mut [u8]) -> Result<usize, NarError> {
        let result = self.read_contents_inner(buf);
        self.fail_on_error(result)
    }

    fn read_contents_inner(&mut self, buf: &mut [u8]) -> Result<usize, NarError> {
        let State::Contents { remaining, size } = self.state else { return Ok(0) };
        if remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let avail = self.input.peek()?;
        if avail.is_empty() {
            return Err(self.truncated_contents());
        }
        let n = avail.len().min(buf.len()).min(usize::try_from(remaining).unwrap_or(usize::MAX));
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), avail.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.input.advance(n);
        self.state = State::Contents { remaining: remaining - n as u64, size };
        Ok(n)
    }

    /// Copies the rest of the current file's contents to `out`, straight from
    /// the input's buffer; returns the bytes copied.
    pub fn copy_contents<W: Write + ?Sized>(&mut self, out: &mut W) -> Result<u64, NarError> {
        let result = self.copy_contents_inner(out);
        self.fail_on_error(result)
    }

    fn copy_contents_inner<W: Write + ?Sized>(&mut self, out: &mut W) -> Result<u64, NarError> {
        let State::Contents { mut remaining, size } = self.state else { return Ok(0) };
        let mut copied = 0u64;
        while remaining > 0 {
            let offset = self.offset();
            let avail = self.input.peek()?;
            if avail.is_empty() {
                return Err(self.truncated_contents());
            }
            let n = avail.len().min(usize::try_from(remaining).unwrap_or(usize::MAX));
            out.write_all(avail.get(..n).unwrap_or_default()).map_err(|source| NarError::Io { offset, source })?;
            self.input.advance(n);
            remaining -= n as u64;
            copied += n as u64;
            self.state = State::Contents { remaining, size };
        }
        Ok(copied)
    }

    /// The current file's contents as a [`Read`]; errors come back as
    /// [`io::Error`]s wrapping the [`NarError`].
    pub fn contents(&mut self) -> Contents<'_, R> {
        Contents { reader: self }
    }

    fn truncated_contents(&self) -> NarError {
        NarError::invalid(self.offset(), NarProblem::Wire(WireProblem::Truncated { what: "file contents" }))
    }
}

/// The contents of the current regular file, from [`NarReader::contents`].
#[derive(Debug)]
pub struct Contents<'a, R> {
    reader: &'a mut NarReader<R>,
}

impl<R: BufRead> Read for Contents<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read_contents(buf).map_err(io::Error::other)
    }
}
