//! A derivation's byte strings (platform, builder, args, env) in one buffer.
//!
//! The parser keeps the `.drv` file's own bytes as the buffer and records
//! where each string is; the few strings with escapes are unescaped in place
//! (an unescaped string is never longer than its escaped form). So a parsed
//! derivation costs one allocation for all its text instead of one per
//! string, which is what makes loading large closures fast.

use std::fmt;

use memchr::memchr;

/// Where a string lives in the buffer. Offsets fit `u32` because inputs are
/// at most [`super::MAX_DRV_LEN`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Span {
    start: u32,
    len: u32,
}

impl Span {
    pub(super) fn new(start: usize, end: usize) -> Span {
        let start32 = u32::try_from(start).unwrap_or(u32::MAX);
        let len = u32::try_from(end.saturating_sub(start)).unwrap_or(0);
        Span { start: start32, len }
    }

    pub(super) fn start(self) -> usize {
        self.start as usize
    }

    pub(super) fn end(self) -> usize {
        self.start as usize + self.len as usize
    }

    fn range(self) -> std::ops::Range<usize> {
        let start = self.start as usize;
        start..start + self.len as usize
    }
}

/// A string as found by the parser: its bytes between the quotes, and
/// whether they contain escapes still to be resolved.
#[derive(Debug, Clone, Copy)]
pub(super) struct RawSpan {
    pub(super) span: Span,
    pub(super) escaped: bool,
}

/// The byte strings of one derivation.
#[derive(Clone, Default)]
pub(super) struct Strings {
    buf: Vec<u8>,
    platform: Span,
    builder: Span,
    args: Vec<Span>,
    /// Sorted by key bytes, keys unique.
    env: Vec<(Span, Span)>,
}

/// Resolves the escapes of `span` in place; returns the span of the result.
fn unescape_in_place(buf: &mut [u8], raw: RawSpan) -> Span {
    let range = raw.span.range();
    if !raw.escaped {
        return raw.span;
    }
    let (mut read, mut write) = (range.start, range.start);
    while read < range.end {
        let rest = buf.get(read..range.end).unwrap_or_default();
        let Some(i) = memchr(b'\\', rest) else {
            buf.copy_within(read..range.end, write);
            write += range.end - read;
            break;
        };
        buf.copy_within(read..read + i, write);
        write += i;
        // The parser accepted only these escapes, so the next byte exists.
        let unescaped = match buf.get(read + i + 1) {
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b't') => b'\t',
            Some(&c) => c,
            None => break,
        };
        if let Some(slot) = buf.get_mut(write) {
            *slot = unescaped;
        }
        write += 1;
        read += i + 2;
    }
    Span::new(range.start, write)
}

/// The bytes an escaped string stands for, one by one (for ordering checks
/// before the strings are unescaped).
pub(super) fn unescaped_bytes(escaped: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut iter = escaped.iter().copied();
    std::iter::from_fn(move || {
        let b = iter.next()?;
        if b != b'\\' {
            return Some(b);
        }
        Some(match iter.next()? {
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            c => c,
        })
    })
}

impl Strings {
    /// Takes the parser's buffer and resolves escapes in place.
    pub(super) fn from_parsed(
        mut buf: Vec<u8>,
        platform: Span,
        builder: RawSpan,
        args: &[RawSpan],
        env: &[(RawSpan, RawSpan)],
    ) -> Strings {
        let builder = unescape_in_place(&mut buf, builder);
        let args = args.iter().map(|&a| unescape_in_place(&mut buf, a)).collect();
        let env = env.iter().map(|&(k, v)| (unescape_in_place(&mut buf, k), unescape_in_place(&mut buf, v))).collect();
        Strings { buf, platform, builder, args, env }
    }

    /// Packs strings given one by one; `env` must be sorted with unique keys.
    pub(super) fn from_values<'a>(
        platform: &[u8],
        builder: &[u8],
        args: impl ExactSizeIterator<Item = &'a [u8]> + Clone,
        env: impl ExactSizeIterator<Item = (&'a [u8], &'a [u8])> + Clone,
    ) -> Strings {
        let total = platform.len()
            + builder.len()
            + args.clone().map(<[u8]>::len).sum::<usize>()
            + env.clone().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        let mut buf = Vec::with_capacity(total);
        let mut push = |bytes: &[u8]| {
            let start = buf.len();
            buf.extend_from_slice(bytes);
            Span::new(start, buf.len())
        };
        let platform = push(platform);
        let builder = push(builder);
        let args = args.map(&mut push).collect();
        let env = env.map(|(k, v)| (push(k), push(v))).collect();
        Strings { buf, platform, builder, args, env }
    }

    fn get(&self, span: Span) -> &[u8] {
        self.buf.get(span.range()).unwrap_or_default()
    }

    pub(super) fn platform(&self) -> &[u8] {
        self.get(self.platform)
    }

    pub(super) fn builder(&self) -> &[u8] {
        self.get(self.builder)
    }

    pub(super) fn args(&self) -> Args<'_> {
        Args { strings: self }
    }

    pub(super) fn env(&self) -> Env<'_> {
        Env { strings: self }
    }
}

impl PartialEq for Strings {
    /// Equal if the strings are equal, wherever they sit in the buffers.
    fn eq(&self, other: &Strings) -> bool {
        self.platform() == other.platform()
            && self.builder() == other.builder()
            && self.args().iter().eq(other.args().iter())
            && self.env().iter().eq(other.env().iter())
    }
}

impl Eq for Strings {}

/// The builder's arguments, in order.
#[derive(Clone, Copy)]
pub struct Args<'a> {
    strings: &'a Strings,
}

impl<'a> Args<'a> {
    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.strings.args.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.strings.args.is_empty()
    }

    /// Argument `i`.
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        let strings = self.strings;
        strings.args.get(i).map(|&s| strings.get(s))
    }

    /// The arguments as bytes.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &'a [u8]> + ExactSizeIterator + Clone + 'a {
        let strings = self.strings;
        strings.args.iter().map(move |&s| strings.get(s))
    }
}

impl fmt::Debug for Args<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter().map(ByteStr)).finish()
    }
}

/// The builder's environment, sorted by key like Nix's `std::map`.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    strings: &'a Strings,
}

impl<'a> Env<'a> {
    /// Number of variables.
    pub fn len(&self) -> usize {
        self.strings.env.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.strings.env.is_empty()
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&'a [u8]> {
        let strings = self.strings;
        let i = strings.env.binary_search_by(|&(k, _)| strings.get(k).cmp(key)).ok()?;
        strings.env.get(i).map(|&(_, v)| strings.get(v))
    }

    /// True if `key` is set.
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// `(key, value)` pairs in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&'a [u8], &'a [u8])> + ExactSizeIterator + Clone + 'a {
        let strings = self.strings;
        strings.env.iter().map(move |&(k, v)| (strings.get(k), strings.get(v)))
    }

    /// Keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &'a [u8]> + ExactSizeIterator + Clone + 'a {
        self.iter().map(|(k, _)| k)
    }
}

impl fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter().map(|(k, v)| (ByteStr(k), ByteStr(v)))).finish()
    }
}

/// Debug-prints bytes like a Rust byte string.
pub(super) struct ByteStr<'a>(pub(super) &'a [u8]);

impl fmt::Debug for ByteStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}
