//! Nix's base-32 encoding ("nixbase32").
//!
//! Alphabet: `0123456789abcdfghijklmnpqrsvwxyz` (no `e`, `o`, `u`, `t`).
//! Unlike RFC 4648, Nix reads the input as one little-endian bit string and
//! emits its 5-bit groups from the most significant end: character `k` (counting
//! from the left) holds bits `5*(n-1-k) .. 5*(n-k)` where `n` is the encoded
//! length `ceil(8 * len / 5)`.
//!
//! Decoding is strict where Nix 2.8 is: every character must be in the
//! alphabet, and the top character may not carry bits beyond the decoded
//! length (Nix reports such strings as invalid base-32; we report
//! [`Nixbase32Error::Overflow`]).

use thiserror::Error;

/// The 32 characters, in digit order.
pub const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

const INVALID: u8 = 0xff;

/// Maps a byte to its digit value, or [`INVALID`].
#[allow(clippy::indexing_slicing)] // i < 32 and ALPHABET bytes < 256, checked at compile time
const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 32 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Errors from [`decode`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Nixbase32Error {
    /// A character outside the alphabet.
    #[error("invalid nixbase32 character {found:?} at offset {offset}")]
    InvalidChar {
        /// Offset of the character in the input.
        offset: usize,
        /// The character found.
        found: char,
    },
    /// The input cannot be the encoding of any byte string.
    #[error("nixbase32 string of length {0} is not a valid encoded length")]
    BadLength(usize),
    /// The first character carries bits past the end of the decoded bytes.
    #[error("nixbase32 string has non-zero bits beyond its decoded length")]
    Overflow,
}

/// Length of the encoding of `len` bytes.
pub const fn encoded_len(len: usize) -> usize {
    (len * 8).div_ceil(5)
}

/// Length of the bytes decoded from an `len`-character string, if `len` is a
/// length that [`encoded_len`] can produce.
pub const fn decoded_len(len: usize) -> Option<usize> {
    let bytes = len * 5 / 8;
    if encoded_len(bytes) == len { Some(bytes) } else { None }
}

/// Digit value of `c`, or [`INVALID`].
#[allow(clippy::indexing_slicing)] // a u8 always indexes a 256-entry table
const fn digit_of(c: u8) -> u8 {
    DECODE[c as usize]
}

/// Encodes `input` into a new string.
pub fn encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(encoded_len(input.len()));
    encode_into(input, &mut out);
    out
}

/// Appends the encoding of `input` to `out`.
pub fn encode_into(input: &[u8], out: &mut String) {
    let n = encoded_len(input.len());
    for k in (0..n).rev() {
        let bit = k * 5;
        let i = bit / 8;
        let j = bit % 8;
        let lo = input.get(i).map_or(0u16, |&b| u16::from(b) >> j);
        let hi = input.get(i + 1).map_or(0u16, |&b| u16::from(b) << (8 - j));
        let digit = usize::from((lo | hi) & 0x1f);
        // `digit` is masked to five bits, so the lookup is always in range.
        out.push(char::from(ALPHABET.get(digit).copied().unwrap_or(b'0')));
    }
}

/// Decodes a nixbase32 string.
pub fn decode(input: &[u8]) -> Result<Vec<u8>, Nixbase32Error> {
    let len = decoded_len(input.len()).ok_or(Nixbase32Error::BadLength(input.len()))?;
    let mut out = vec![0u8; len];
    decode_into(input, &mut out)?;
    Ok(out)
}

/// Decodes into a fixed-size array; the input length must match `N`.
pub fn decode_array<const N: usize>(input: &[u8]) -> Result<[u8; N], Nixbase32Error> {
    if input.len() != encoded_len(N) {
        return Err(Nixbase32Error::BadLength(input.len()));
    }
    let mut out = [0u8; N];
    decode_into(input, &mut out)?;
    Ok(out)
}

/// Decodes `input` into `out`, whose length must equal the decoded length.
fn decode_into(input: &[u8], out: &mut [u8]) -> Result<(), Nixbase32Error> {
    let n = input.len();
    for (offset, &c) in input.iter().enumerate() {
        let digit = digit_of(c);
        if digit == INVALID {
            return Err(Nixbase32Error::InvalidChar { offset, found: char::from(c) });
        }
        let bit = (n - 1 - offset) * 5;
        let i = bit / 8;
        let j = bit % 8;
        let value = u16::from(digit) << j;
        if let Some(b) = out.get_mut(i) {
            *b |= (value & 0xff) as u8;
        } else if value != 0 {
            return Err(Nixbase32Error::Overflow);
        }
        let carry = (value >> 8) as u8;
        if let Some(b) = out.get_mut(i + 1) {
            *b |= carry;
        } else if carry != 0 {
            return Err(Nixbase32Error::Overflow);
        }
    }
    Ok(())
}

/// True if `c` is a nixbase32 character.
pub const fn is_valid_char(c: u8) -> bool {
    digit_of(c) != INVALID
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    /// Straightforward bit-by-bit reference, written from the description in
    /// the module doc rather than from the optimised loop.
    fn naive_encode(input: &[u8]) -> String {
        let n = encoded_len(input.len());
        let bit = |k: usize| -> u8 {
            let byte = k / 8;
            input.get(byte).map_or(0, |b| (b >> (k % 8)) & 1)
        };
        (0..n)
            .rev()
            .map(|group| {
                let v = (0..5).fold(0u8, |acc, b| acc | (bit(group * 5 + b) << b));
                ALPHABET[v as usize] as char
            })
            .collect()
    }

    #[rstest]
    #[case::empty(&[], "")]
    #[case::one_zero(&[0], "00")]
    #[case::one_ff(&[0xff], "7z")]
    // sha256("") in nixbase32, as printed by `nix-hash --type sha256 --to-base32`.
    #[case::sha256_empty(
        &[0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
          0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55],
        "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
    )]
    fn encodes_known_vectors(#[case] bytes: &[u8], #[case] text: &str) {
        assert_eq!(encode(bytes), text);
        assert_eq!(decode(text.as_bytes()).unwrap(), bytes);
    }

    #[test]
    fn rejects_characters_outside_alphabet() {
        for bad in ["0e", "0o", "0u", "0t", "0A", "0-"] {
            assert!(matches!(decode(bad.as_bytes()), Err(Nixbase32Error::InvalidChar { offset: 1, .. })), "{bad}");
        }
    }

    #[test]
    fn rejects_overflowing_top_digit() {
        // Two characters encode one byte: 10 bits for 8, so the top digit may only use 3 bits.
        assert_eq!(decode(b"7z").unwrap(), vec![0xff]);
        assert_eq!(decode(b"8z"), Err(Nixbase32Error::Overflow));
        assert_eq!(decode(b"z0"), Err(Nixbase32Error::Overflow));
    }

    #[test]
    fn rejects_impossible_lengths() {
        // 3 characters = 15 bits: neither 1 byte (2 chars) nor 2 bytes (4 chars).
        assert_eq!(decode(b"000"), Err(Nixbase32Error::BadLength(3)));
        assert_eq!(decode_array::<20>(b"00"), Err(Nixbase32Error::BadLength(2)));
    }

    proptest! {
        #[test]
        fn matches_naive_reference(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            prop_assert_eq!(encode(&bytes), naive_encode(&bytes));
        }

        #[test]
        fn round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let text = encode(&bytes);
            prop_assert_eq!(text.len(), encoded_len(bytes.len()));
            prop_assert_eq!(decode(text.as_bytes()).unwrap(), bytes);
        }
    }
}
