//! Wire primitives shared by NAR and `nix-store --export` streams.
//!
//! ```text
//! u64    = 8 bytes, little-endian
//! string = u64(len) len*byte pad
//! pad    = zero bytes up to the next multiple of 8 (0..=7 of them)
//! ```
//!
//! These are the primitives of Nix's serialiser (`serialise.hh`), shared by
//! NARs, export streams and the worker protocol. The reader is strict: padding must be zero, a length is checked against the caller's
//! limit before anything is allocated, and a short read is an error naming
//! what was being read. Every position is a byte offset counted from where
//! the [`WireReader`] was told it starts.

use std::io::{self, BufRead, Read, Write};

use thiserror::Error;

/// Strings are padded to a multiple of this many bytes.
pub const ALIGN: u64 = 8;

/// Number of zero bytes that follow a string of `len` bytes.
pub const fn padding_len(len: u64) -> u64 {
    (ALIGN - len % ALIGN) % ALIGN
}

/// Encoded size of a string of `len` bytes: length field, body and padding.
pub const fn string_len(len: u64) -> u64 {
    8 + len + padding_len(len)
}

const ZEROS: [u8; 8] = [0; 8];

/// Appends `n` as a little-endian u64.
pub fn put_u64(buf: &mut Vec<u8>, n: u64) {
    buf.extend_from_slice(&n.to_le_bytes());
}

/// Appends `s` as a padded string.
pub fn put_string(buf: &mut Vec<u8>, s: &[u8]) {
    put_u64(buf, s.len() as u64);
    buf.extend_from_slice(s);
    put_padding(buf, s.len() as u64);
}

/// Appends the zero padding after a string of `len` bytes.
pub fn put_padding(buf: &mut Vec<u8>, len: u64) {
    // padding_len is at most 7, so the slice is in bounds.
    buf.extend_from_slice(ZEROS.get(..padding_len(len) as usize).unwrap_or(&[]));
}

/// Writes the zero padding after a string of `len` bytes.
pub fn write_padding<W: Write>(out: &mut W, len: u64) -> io::Result<()> {
    out.write_all(ZEROS.get(..padding_len(len) as usize).unwrap_or(&[]))
}

/// What went wrong reading a primitive.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WireProblem {
    /// The input ended early.
    #[error("input ends inside {what}")]
    Truncated {
        /// What was being read.
        what: &'static str,
    },
    /// A padding byte was not zero.
    #[error("non-zero padding after {what}")]
    NonZeroPadding {
        /// What the padding follows.
        what: &'static str,
    },
    /// A length field is above the limit for its string.
    #[error("{what} of {len} bytes is longer than the limit of {max}")]
    TooLong {
        /// What the string is.
        what: &'static str,
        /// The length claimed.
        len: u64,
        /// The limit.
        max: u64,
    },
}

/// What went wrong reading a primitive: malformed bytes or I/O.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WireErrorKind {
    /// The bytes are malformed.
    #[error(transparent)]
    Problem(#[from] WireProblem),
    /// The underlying reader failed.
    #[error("I/O error")]
    Io(#[source] io::Error),
}

/// A failed read of a primitive, at a byte offset.
#[derive(Debug, Error)]
#[error("offset {offset}: {kind}")]
pub struct WireError {
    /// Where the problem is.
    pub offset: u64,
    /// What it is.
    pub kind: WireErrorKind,
}

/// A [`BufRead`] that counts the bytes consumed and reads wire primitives.
///
/// It is itself a [`BufRead`], so a nested format (a NAR inside an export
/// stream) can read through it and the offset keeps counting.
#[derive(Debug)]
pub struct WireReader<R> {
    inner: R,
    offset: u64,
}

impl<R: BufRead> WireReader<R> {
    /// Wraps `inner`; `offset` is the position of its first byte.
    pub fn new(inner: R, offset: u64) -> Self {
        WireReader { inner, offset }
    }

    /// Bytes consumed so far, plus the starting offset.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The wrapped reader, positioned after the last consumed byte.
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn err(&self, kind: WireErrorKind) -> WireError {
        WireError { offset: self.offset, kind }
    }

    /// The next buffered bytes (empty at end of input), retrying interrupts.
    pub fn peek(&mut self) -> Result<&[u8], WireError> {
        loop {
            match self.inner.fill_buf() {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(WireError { offset: self.offset, kind: WireErrorKind::Io(e) }),
            }
        }
        self.inner.fill_buf().map_err(|e| WireError { offset: self.offset, kind: WireErrorKind::Io(e) })
    }

    /// Marks `n` bytes of the last [`WireReader::peek`] as read.
    pub fn advance(&mut self, n: usize) {
        self.inner.consume(n);
        self.offset += n as u64;
    }

    /// True if no bytes are left.
    pub fn at_end(&mut self) -> Result<bool, WireError> {
        Ok(self.peek()?.is_empty())
    }

    /// Fills `buf` completely.
    pub fn read_exact(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), WireError> {
        let mut done = 0;
        while done < buf.len() {
            let avail = self.peek()?;
            if avail.is_empty() {
                return Err(self.err(WireErrorKind::Problem(WireProblem::Truncated { what })));
            }
            let rest = buf.get_mut(done..).unwrap_or_default();
            let n = rest.len().min(avail.len());
            if let (Some(dst), Some(src)) = (rest.get_mut(..n), avail.get(..n)) {
                dst.copy_from_slice(src);
            }
            self.advance(n);
            done += n;
        }
        Ok(())
    }

    /// Reads a little-endian u64.
    pub fn read_u64(&mut self, what: &'static str) -> Result<u64, WireError> {
        let mut b = [0u8; 8];
        self.read_exact(&mut b, what)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads and checks the zero padding after a string of `len` bytes.
    pub fn read_padding(&mut self, len: u64, what: &'static str) -> Result<(), WireError> {
        let mut pad = [0u8; 8];
        let pad = pad.get_mut(..padding_len(len) as usize).unwrap_or_default();
        let start = self.offset;
        self.read_exact(pad, what)?;
        if pad.iter().any(|&b| b != 0) {
            return Err(WireError {
                offset: start,
                kind: WireErrorKind::Problem(WireProblem::NonZeroPadding { what }),
            });
        }
        Ok(())
    }

    /// Reads a string of at most `buf.len()` bytes into `buf`; returns its
    /// bytes. A longer length is [`WireProblem::TooLong`], reported at the
    /// length field, before anything past it is read.
    pub fn read_string_into<'b>(&mut self, buf: &'b mut [u8], what: &'static str) -> Result<&'b [u8], WireError> {
        let start = self.offset;
        let len = self.read_u64(what)?;
        let max = buf.len() as u64;
        let Some(dst) = usize::try_from(len).ok().filter(|_| len <= max).and_then(|n| buf.get_mut(..n)) else {
            return Err(WireError {
                offset: start,
                kind: WireErrorKind::Problem(WireProblem::TooLong { what, len, max }),
            });
        };
        self.read_exact(dst, what)?;
        self.read_padding(len, what)?;
        Ok(dst)
    }

    /// Reads a string of at most `max` bytes into `out` (cleared first).
    /// The length is checked before `out` grows.
    pub fn read_string(&mut self, out: &mut Vec<u8>, max: usize, what: &'static str) -> Result<(), WireError> {
        let start = self.offset;
        let len = self.read_u64(what)?;
        let Some(n) = usize::try_from(len).ok().filter(|&n| n <= max) else {
            return Err(WireError {
                offset: start,
                kind: WireErrorKind::Problem(WireProblem::TooLong { what, len, max: max as u64 }),
            });
        };
        out.clear();
        out.resize(n, 0);
        self.read_exact(out, what)?;
        self.read_padding(len, what)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, mut n: u64, what: &'static str) -> Result<(), WireError> {
        while n > 0 {
            let avail = self.peek()?.len();
            if avail == 0 {
                return Err(self.err(WireErrorKind::Problem(WireProblem::Truncated { what })));
            }
            let step = usize::try_from(n).unwrap_or(usize::MAX).min(avail);
            self.advance(step);
            n -= step as u64;
        }
        Ok(())
    }
}

impl<R: BufRead> Read for WireReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.offset += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for WireReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.advance(amt);
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::empty(0, 0)]
    #[case::one(1, 7)]
    #[case::seven(7, 1)]
    #[case::eight(8, 0)]
    #[case::nine(9, 7)]
    fn padding_fills_to_a_multiple_of_eight(#[case] len: u64, #[case] pad: u64) {
        assert_eq!(padding_len(len), pad);
        assert_eq!(string_len(len) % 8, 0);
    }

    #[test]
    fn string_round_trips_with_offsets() {
        let mut buf = Vec::new();
        put_string(&mut buf, b"hello");
        put_u64(&mut buf, 42);
        assert_eq!(buf.len(), 24);
        let mut r = WireReader::new(&buf[..], 100);
        let mut out = Vec::new();
        r.read_string(&mut out, 5, "greeting").unwrap();
        assert_eq!(out, b"hello");
        assert_eq!(r.offset(), 116);
        assert_eq!(r.read_u64("n").unwrap(), 42);
        assert!(r.at_end().unwrap());
    }

    #[test]
    fn rejects_length_over_limit_before_reading_body() {
        let mut buf = Vec::new();
        put_u64(&mut buf, u64::MAX);
        let mut r = WireReader::new(&buf[..], 0);
        let err = r.read_string(&mut Vec::new(), 10, "name").unwrap_err();
        assert_eq!(err.offset, 0);
        assert!(
            matches!(err.kind, WireErrorKind::Problem(WireProblem::TooLong { len: u64::MAX, max: 10, .. })),
            "{err}"
        );
    }

    #[test]
    fn rejects_non_zero_padding_at_its_offset() {
        let buf = [1, 0, 0, 0, 0, 0, 0, 0, b'x', 0, 0, 1, 0, 0, 0, 0];
        let mut r = WireReader::new(&buf[..], 0);
        let err = r.read_string(&mut Vec::new(), 10, "name").unwrap_err();
        assert_eq!(err.offset, 9);
        assert!(matches!(err.kind, WireErrorKind::Problem(WireProblem::NonZeroPadding { .. })));
    }

    #[test]
    fn reports_truncation_where_input_ends() {
        let buf = [3, 0, 0, 0, 0, 0, 0, 0, b'a'];
        let mut r = WireReader::new(&buf[..], 0);
        let err = r.read_string(&mut Vec::new(), 10, "name").unwrap_err();
        assert_eq!(err.offset, 9);
        assert!(matches!(err.kind, WireErrorKind::Problem(WireProblem::Truncated { what: "name" })));
    }
}
