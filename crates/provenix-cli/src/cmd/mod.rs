//! One module per subcommand; each exports its clap arguments and `run`.

pub(crate) mod attest;
pub(crate) mod bundle;
pub(crate) mod challenge;
pub(crate) mod completions;
pub(crate) mod diff;
pub(crate) mod diff_output;
pub(crate) mod doctor;
pub(crate) mod drv;
pub(crate) mod equiv;
pub(crate) mod key;
pub(crate) mod log_show;
pub(crate) mod log_verify;
pub(crate) mod man;
pub(crate) mod nar;
pub(crate) mod policy;
pub(crate) mod rebuild;
pub(crate) mod report;
pub(crate) mod review;
pub(crate) mod roots;
pub(crate) mod sbom;
pub(crate) mod serve;
pub(crate) mod sources;
pub(crate) mod verify;
pub(crate) mod vulns;

/// Every command escapes untrusted text it prints with this.
pub(crate) use provenix_core::text::escape_controls;

/// An SGR colour for human output.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Paint {
    /// Errors, failures.
    Red,
    /// Warnings.
    Yellow,
    /// Success.
    Green,
    /// Headings.
    Bold,
}

/// `text` in `paint` when `on` (the context's `color`), else `text` as is. Pad before painting,
/// so columns line up either way.
pub(crate) fn paint(on: bool, paint: Paint, text: &str) -> String {
    if !on {
        return text.to_owned();
    }
    let code = match paint {
        Paint::Red => "31",
        Paint::Yellow => "33",
        Paint::Green => "32",
        Paint::Bold => "1",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// The user's cache directory for provenix (XDG base directories): `$XDG_CACHE_HOME/provenix`,
/// else `$HOME/.cache/provenix`; only absolute values count.
pub(crate) fn cache_dir() -> Option<std::path::PathBuf> {
    user_dir("XDG_CACHE_HOME", ".cache")
}

/// The user's state directory for provenix (XDG base directories): `$XDG_STATE_HOME/provenix`,
/// else `$HOME/.local/state/provenix`; only absolute values count, and a `HOME` of `/` (a
/// daemon's) does not.
pub(crate) fn state_dir() -> Option<std::path::PathBuf> {
    user_dir("XDG_STATE_HOME", ".local/state")
}

fn user_dir(xdg: &str, under_home: &str) -> Option<std::path::PathBuf> {
    let absolute = |v: std::ffi::OsString| Some(std::path::PathBuf::from(v)).filter(|p| p.is_absolute());
    if let Some(dir) = std::env::var_os(xdg).and_then(absolute) {
        return Some(dir.join("provenix"));
    }
    let home = std::env::var_os("HOME").and_then(absolute).filter(|h| h != std::path::Path::new("/"))?;
    Some(home.join(under_home).join("provenix"))
}

/// `n` and the noun, in the singular for one (`1 source`, `2 sources`); `plural` is the noun's
/// plural form.
pub(crate) fn count<N: Copy + PartialEq + From<u8> + std::fmt::Display>(n: N, singular: &str, plural: &str) -> String {
    format!("{n} {}", number(n, singular, plural))
}

/// `singular` for one, else `plural`: a verb or noun that agrees with a count (`1 package has`,
/// `2 packages have`).
pub(crate) fn number<'a, N: PartialEq + From<u8>>(n: N, singular: &'a str, plural: &'a str) -> &'a str {
    if n == N::from(1) { singular } else { plural }
}

/// `text` broken at spaces into lines of at most `width` columns, each after `indent` spaces. A
/// word longer than the room (a URL, a path) gets a line of its own, unbroken.
pub(crate) fn wrap(text: &str, indent: usize, width: usize) -> Vec<String> {
    let room = width.saturating_sub(indent).max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > room {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines.into_iter().map(|l| format!("{:indent$}{l}", "")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_wraps_at_spaces_and_long_words_stand_alone() {
        assert_eq!(wrap("one two three", 2, 10), ["  one two", "  three"]);
        let url = "https://example.org/a/very/long/path";
        assert_eq!(
            wrap(&format!("see {url} now"), 4, 20),
            ["    see".to_owned(), format!("    {url}"), "    now".to_owned()]
        );
        assert_eq!(wrap("", 3, 80), ["   "]);
    }

    #[test]
    fn paint_adds_escapes_only_when_on() {
        assert_eq!(paint(false, Paint::Red, "error"), "error");
        assert_eq!(paint(true, Paint::Red, "error"), "\x1b[31merror\x1b[0m");
    }

    #[test]
    fn counts_agree_in_number() {
        assert_eq!(count(1, "source", "sources"), "1 source");
        assert_eq!(count(0, "source", "sources"), "0 sources");
        assert_eq!(count(2, "derivation", "derivations"), "2 derivations");
        assert_eq!(count(1u64, "byte", "bytes"), "1 byte");
        assert_eq!(number(1, "has", "have"), "has");
        assert_eq!(number(3, "has", "have"), "have");
    }
}
