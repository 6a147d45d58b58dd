//! Version order as upstreams use it, for every version comparison in
//! vulnerability matching (CPE ranges, CVE 5 ranges, OSV events).
//!
//! # Rules
//!
//! A version string is read as a sequence of tokens:
//!
//! - a leading `v` or `V` before a digit is ignored (`v1.2` = `1.2`);
//! - everything from the first `+` on is build metadata and ignored
//!   (`1.2.3+build5` = `1.2.3`);
//! - runs of ASCII digits are numbers, compared as numbers of any length
//!   (`1.10` > `1.9`, `1.01` = `1.1`);
//! - runs of ASCII letters are words, compared case-insensitively;
//! - everything else (`.`, `-`, `_`, `~`, and any other byte) separates tokens
//!   and is not itself compared (`1-2` = `1.2` = `1_2`);
//! - the words `dev`, `alpha`, `beta`, `pre`/`preview`, `rc` are pre-releases, in
//!   that order, and so are the single letters `a`, `b`, `c` (as alpha, beta,
//!   rc) when a digit comes right before and right after them (`1.0a1`, the
//!   PEP 440 short forms). Every other word is a suffix that comes after the
//!   number it follows (`1.1.1` < `1.1.1a` < `1.1.1s` < `1.1.1t`);
//! - a run of zeros directly before a word or at the end is dropped, so missing
//!   trailing zeros are equal (`153.0` = `153.0.0`, `2.0-rc1` = `2.0.0rc1`).
//!
//! Two versions compare token by token; the shorter one is padded with an
//! end marker. The tokens order as
//! pre-release (by rank, then its number) < end < suffix word (alphabetically)
//! < number, which gives `2.0-rc1` < `2.0` < `2.0a` < `2.0.1`,
//! `2.0-alpha` < `2.0-beta.2` < `2.0~rc1` < `2.0rc.2` < `2.0`.
//!
//! Because the comparison is lexicographic over canonical token sequences
//! with one fixed total order on tokens, it is a total order, and
//! `compare(a, b) == Equal` exactly when both canonical sequences are equal.
//!
//! Known differences from ecosystem-specific orders: any other word after a
//! `-` (semver's `1.0.0-foo`) sorts after the release, not before, and
//! Debian epochs and `~` are not special beyond the words above.

use std::cmp::Ordering;

/// One token of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    /// A pre-release word, by rank: dev 0, alpha 1, beta 2, pre 3, rc 4.
    Pre(u8),
    /// A word that sorts after the release it follows, in ASCII lowercase order.
    Word(&'a str),
    /// A number's digits without leading zeros (`""` is zero).
    Num(&'a str),
}

/// A parsed version: compare parsed versions when one is compared many times.
#[derive(Debug, Clone)]
pub struct Version<'a> {
    /// The canonical tokens, with the zero runs the rules drop removed.
    tokens: Vec<Token<'a>>,
}

impl<'a> Version<'a> {
    /// Reads `text` by the rules in the module documentation. Never fails.
    pub fn parse(text: &'a str) -> Version<'a> {
        Version { tokens: drop_zero_runs(raw_tokens(text), true) }
    }

    /// True when the version has no tokens at all (`""`, `"-"`, `"v"`...).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// True when the version names no release: it starts with a snapshot word
    /// (`unstable`, `git`, `snapshot`, `nightly`, `svn`, `hg`) or a pre-release
    /// word before a date, as in nixpkgs' snapshots of unreleased code, `unstable-2024-01-01` and
    /// `0-unstable-2024-01-01` (the zero is dropped before the word). Such a
    /// version sorts below every release, which says nothing about where the
    /// code stands, so matching treats it as unknown. A snapshot after a
    /// release (`1.2-unstable-2024-01-01`) names that release and is ordered
    /// just after it.
    pub fn names_no_release(&self) -> bool {
        match self.tokens.first() {
            Some(Token::Word(w)) => {
                ["unstable", "git", "snapshot", "nightly", "svn", "hg"].iter().any(|s| w.eq_ignore_ascii_case(s))
            }
            // `dev-2024-01-01`, `pre-2024`: a pre-release of nothing.
            Some(Token::Pre(_)) => self.tokens.get(1).is_some_and(|t| matches!(t, Token::Num(n) if n.len() >= 4)),
            _ => false,
        }
    }
}

/// True when `version` lies under the wildcard `prefix.*`: its tokens, as
/// written and with zeros kept, start with those of `prefix` (`6.1.5` is
/// under `6.1`, `6.10` is not, `6.1.79` is not under `6.0`). Where equality
/// drops zeros, they stand for any number of zeros here too: a version that
/// ends early counts as padded with zeros (`6` is under `6.0`, as `6` equals
/// `6.0`), and so does one where a word comes early (`1.0a` is under `1.0.0`,
/// as `1.0a` equals `1.0.0a`; `6-rc1` is under `6.0`).
pub fn in_wildcard(version: &str, prefix: &str) -> bool {
    let prefix = drop_zero_runs(raw_tokens(prefix), false);
    let own = drop_zero_runs(raw_tokens(version), false);
    let mut have = own.iter().peekable();
    for want in &prefix {
        match have.peek() {
            Some(&t) if token_cmp(Some(t), Some(want)) == Ordering::Equal => {
                have.next();
            }
            Some(Token::Word(_) | Token::Pre(_)) | None if *want == Token::Num("") => {}
            _ => return false,
        }
    }
    true
}

/// `raw` without the runs of zeros that come right before a word, and at the end when `at_end`.
fn drop_zero_runs(raw: Vec<Token<'_>>, at_end: bool) -> Vec<Token<'_>> {
    let mut tokens = Vec::with_capacity(raw.len());
    let mut zeros = 0usize;
    for token in raw {
        match token {
            Token::Num("") => zeros += 1,
            Token::Num(_) => {
                tokens.extend(std::iter::repeat_n(Token::Num(""), zeros));
                zeros = 0;
                tokens.push(token);
            }
            _ => {
                zeros = 0;
                tokens.push(token);
            }
        }
    }
    if !at_end {
        tokens.extend(std::iter::repeat_n(Token::Num(""), zeros));
    }
    tokens
}

/// The tokens of `text` as written: numbers without leading zeros, words
/// classified, separators and build metadata gone, no zero run dropped.
fn raw_tokens(text: &str) -> Vec<Token<'_>> {
    let text = text.split('+').next().unwrap_or_default();
    let bytes = text.as_bytes();
    let mut start = 0;
    if matches!(bytes.first(), Some(b'v' | b'V')) && bytes.get(1).is_some_and(u8::is_ascii_digit) {
        start = 1;
    }
    let mut raw: Vec<Token<'_>> = Vec::with_capacity(8);
    let mut i = start;
    while i < bytes.len() {
        let b = bytes.get(i).copied().unwrap_or_default();
        if b.is_ascii_digit() {
            let end = run_end(bytes, i, u8::is_ascii_digit);
            let digits = text.get(i..end).unwrap_or_default();
            raw.push(Token::Num(digits.trim_start_matches('0')));
            i = end;
        } else if b.is_ascii_alphabetic() {
            let end = run_end(bytes, i, u8::is_ascii_alphabetic);
            let word = text.get(i..end).unwrap_or_default();
            let between_digits = i > 0
                && bytes.get(i - 1).is_some_and(u8::is_ascii_digit)
                && bytes.get(end).is_some_and(u8::is_ascii_digit);
            raw.push(classify(word, between_digits));
            i = end;
        } else {
            i += 1;
        }
    }
    raw
}

impl Ord for Version<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        let n = self.tokens.len().max(other.tokens.len());
        for i in 0..n {
            let ord = token_cmp(self.tokens.get(i), other.tokens.get(i));
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for Version<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version<'_> {}

/// Compares two version strings by the rules in the module documentation.
pub fn compare(a: &str, b: &str) -> Ordering {
    Version::parse(a).cmp(&Version::parse(b))
}

fn run_end(bytes: &[u8], from: usize, class: fn(&u8) -> bool) -> usize {
    let mut end = from;
    while bytes.get(end).is_some_and(class) {
        end += 1;
    }
    end
}

fn classify(word: &str, between_digits: bool) -> Token<'_> {
    let rank = |w: &str| -> Option<u8> {
        let lower = w.to_ascii_lowercase();
        match lower.as_str() {
            "dev" => Some(0),
            "alpha" => Some(1),
            "beta" => Some(2),
            "pre" | "preview" => Some(3),
            "rc" => Some(4),
            "a" if between_digits => Some(1),
            "b" if between_digits => Some(2),
            "c" if between_digits => Some(4),
            _ => None,
        }
    };
    match rank(word) {
        Some(r) => Token::Pre(r),
        None => Token::Word(word),
    }
}

/// The class order: pre-release < end < word < number.
fn class(token: Option<&Token<'_>>) -> u8 {
    match token {
        Some(Token::Pre(_)) => 0,
        None => 1,
        Some(Token::Word(_)) => 2,
        Some(Token::Num(_)) => 3,
    }
}

fn token_cmp(a: Option<&Token<'_>>, b: Option<&Token<'_>>) -> Ordering {
    match (a, b) {
        (Some(Token::Pre(x)), Some(Token::Pre(y))) => x.cmp(y),
        (Some(Token::Num(x)), Some(Token::Num(y))) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
        (Some(Token::Word(x)), Some(Token::Word(y))) => {
            let x = x.bytes().map(|c| c.to_ascii_lowercase());
            let y = y.bytes().map(|c| c.to_ascii_lowercase());
            x.cmp(y)
        }
        _ => class(a).cmp(&class(b)),
    }
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering::{self, Equal, Greater, Less};

    use proptest::prelude::*;
    use rstest::rstest;

    use super::{Version, compare, in_wildcard};

    #[rstest]
    #[case::numeric_segments("1.10", "1.9", Greater)]
    #[case::numeric_long("1.100000000000000000000000000001", "1.99", Greater)]
    #[case::leading_zeros("1.01", "1.1", Equal)]
    #[case::trailing_zero("153.0", "153.0.0", Equal)]
    #[case::trailing_zeros_many("2", "2.0.0.0", Equal)]
    #[case::zero_in_the_middle("1.0.1", "1.1", Less)]
    #[case::one_past_trailing_zero("153.0.1", "153.0", Greater)]
    #[case::rc_dash("2.0-rc1", "2.0", Less)]
    #[case::rc_dot(".rc1", "", Less)]
    #[case::rc_dotted("2.0.rc1", "2.0", Less)]
    #[case::rc_dot_number("2.0rc.1", "2.0-rc1", Equal)]
    #[case::rc_attached("2.0rc1", "2.0-rc1", Equal)]
    #[case::rc_tilde("2.0~rc1", "2.0", Less)]
    #[case::rc_zero_padding("2.0.0-rc1", "2.0-rc1", Equal)]
    #[case::rc_numbers("2.0-rc2", "2.0-rc10", Less)]
    #[case::alpha_beta("2.0-alpha", "2.0-beta", Less)]
    #[case::beta_pre("2.0-beta3", "2.0-pre1", Less)]
    #[case::pre_preview("2.0-pre1", "2.0-preview1", Equal)]
    #[case::preview_rc("2.0-preview9", "2.0-rc1", Less)]
    #[case::dev_alpha("2.0.dev1", "2.0a1", Less)]
    #[case::pep440_alpha("1.0a1", "1.0", Less)]
    #[case::pep440_beta_rc("1.0b2", "1.0c1", Less)]
    #[case::rc_before_next_patch("2.0.1", "2.0-rc1", Greater)]
    #[case::rc_after_previous("1.9.9", "2.0-rc1", Less)]
    #[case::letter_suffix("1.1.1s", "1.1.1t", Less)]
    #[case::letter_after_release("1.1.1", "1.1.1a", Less)]
    #[case::letter_before_next_number("1.1.1z", "1.1.2", Less)]
    #[case::letter_before_extra_segment("1.1.1a", "1.1.1.1", Less)]
    #[case::letter_vs_trailing_zero("1.1.1a", "1.1.1.0", Greater)]
    #[case::letter_case("1.1.1S", "1.1.1s", Equal)]
    #[case::leading_v("v1.2.3", "1.2.3", Equal)]
    #[case::leading_capital_v("V2", "2.0", Equal)]
    #[case::separators("1_2-3", "1.2.3", Equal)]
    #[case::build_metadata("1.2.3+build.5", "1.2.3", Equal)]
    #[case::build_metadata_not_a_suffix("1.2.3+zzz", "1.2.3a", Less)]
    #[case::empty("", "0", Equal)]
    #[case::empty_before_any("", "0.0.1", Less)]
    #[case::dates("20240101", "20231231", Greater)]
    fn compares_like_upstreams(#[case] a: &str, #[case] b: &str, #[case] expected: Ordering) {
        assert_eq!(compare(a, b), expected, "{a} vs {b}");
        assert_eq!(compare(b, a), expected.reverse(), "{b} vs {a}");
    }

    #[rstest]
    #[case::inside("6.1.5", "6.1", true)]
    #[case::the_prefix_itself("6.1", "6.1", true)]
    #[case::leading_v("6.1", "v6.1", true)]
    #[case::longer_segment("6.10", "6.1", false)]
    #[case::zero_kept("6.1.79", "6.0", false)]
    #[case::zero_kept_inside("6.0.79", "6.0", true)]
    #[case::zero_padded("6", "6.0", true)]
    // Equality drops the zeros before a word, so the wildcard does too: `6a` = `6.0a`,
    // `1.0a` = `1.0.0a`, `6-rc1` = `6.0-rc1`.
    #[case::zeros_dropped_before_a_word("6a", "6.0", true)]
    #[case::zeros_dropped_before_a_word_written("6.0a", "6.0", true)]
    #[case::fewer_zeros_before_a_word("1.0a", "1.0.0", true)]
    #[case::all_zeros_before_a_word("1.0.0a", "1.0.0", true)]
    #[case::pre_release_fewer_zeros("6-rc1", "6.0", true)]
    #[case::word_then_other_number("6a", "6.0.1", false)]
    #[case::word_in_prefix("1.0.0a.5", "1.0a", true)]
    #[case::word_in_prefix_other_word("1.0.0b", "1.0a", false)]
    #[case::leading_zero_is_no_zero_run("6.05", "6.0", false)]
    #[case::next_major("7.0.1", "6.0", false)]
    #[case::pre_release_inside("6.0-rc1", "6.0", true)]
    #[case::two_zeros("1.0.0.5", "1.0.0", true)]
    #[case::two_zeros_one_off("1.0.1", "1.0.0", false)]
    fn wildcards_keep_their_zeros(#[case] version: &str, #[case] prefix: &str, #[case] inside: bool) {
        assert_eq!(in_wildcard(version, prefix), inside, "{version} under {prefix}.*");
    }

    /// Every string of up to five pieces over zeros, a number, separators and words: versions
    /// that compare equal lie under the same wildcards.
    #[test]
    fn equal_versions_lie_under_the_same_wildcards() {
        const PIECES: [&str; 6] = ["0", "1", ".", "a", "-rc", "00"];
        let mut texts = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..5 {
            frontier = frontier.iter().flat_map(|t| PIECES.iter().map(move |p| format!("{t}{p}"))).collect();
            texts.extend(frontier.iter().cloned());
        }
        texts.sort_by(|a, b| compare(a, b));
        let prefixes = ["0", "1", "0.0", "1.0", "0.1", "1.0.0", "1.0.1", "1.1", "0.0.0", "1.0.0.0", "1a", "1.0a"];
        let mut checked = 0;
        for run in texts.chunk_by(|a, b| compare(a, b) == Equal) {
            let Some((first, rest)) = run.split_first() else { continue };
            for prefix in prefixes {
                let want = in_wildcard(first, prefix);
                for other in rest {
                    assert_eq!(in_wildcard(other, prefix), want, "{first:?} = {other:?}, under {prefix}.*");
                    checked += 1;
                }
            }
        }
        assert!(checked > 10_000, "{checked} equal pairs checked");
    }

    #[rstest]
    #[case::old_snapshot("unstable-2024-01-01", true)]
    #[case::zero_snapshot("0-unstable-2024-01-01", true)]
    #[case::zeros_snapshot("0.0-unstable-2024-01-01", true)]
    #[case::git_snapshot("git-2023-05-01", true)]
    #[case::after_a_release("1.2-unstable-2024-01-01", false)]
    #[case::zero_release("0.9", false)]
    #[case::plain("5.6.1", false)]
    #[case::leading_v("v1.2", false)]
    #[case::date("2024-01-01", false)]
    #[case::pre_release_only("rc1", false)]
    #[case::dev_snapshot("dev-2024-01-01", true)]
    #[case::word_then_release("release-5.6.1", false)]
    #[case::jdk("jdk-21", false)]
    #[case::empty("", false)]
    fn snapshots_name_no_release(#[case] text: &str, #[case] none: bool) {
        assert_eq!(Version::parse(text).names_no_release(), none, "{text}");
    }

    fn version() -> impl Strategy<Value = String> {
        "v?([0-9]{1,3}|rc|alpha|beta|pre|dev|a|b|s|t|[.~_+-]){0,8}"
    }

    proptest! {
        #[test]
        fn is_reflexive(a in version()) {
            prop_assert_eq!(compare(&a, &a), Equal);
        }

        #[test]
        fn is_antisymmetric(a in version(), b in version()) {
            prop_assert_eq!(compare(&a, &b), compare(&b, &a).reverse());
        }

        #[test]
        fn is_transitive(a in version(), b in version(), c in version()) {
            let mut v = [a, b, c];
            v.sort_by(|x, y| compare(x, y));
            prop_assert_ne!(compare(&v[0], &v[1]), Greater);
            prop_assert_ne!(compare(&v[1], &v[2]), Greater);
            prop_assert_ne!(compare(&v[0], &v[2]), Greater);
            if compare(&v[0], &v[1]) == Equal && compare(&v[1], &v[2]) == Equal {
                prop_assert_eq!(compare(&v[0], &v[2]), Equal);
            }
            if compare(&v[0], &v[1]) == Less || compare(&v[1], &v[2]) == Less {
                prop_assert_eq!(compare(&v[0], &v[2]), Less);
            }
        }

        #[test]
        fn never_panics_on_any_text(a in "\\PC{0,20}", b in "\\PC{0,20}") {
            let _ = compare(&a, &b);
        }
    }
}
