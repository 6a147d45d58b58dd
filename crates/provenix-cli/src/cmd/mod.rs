//! One module per subcommand; each exports its clap arguments and `run`.

pub(crate) mod attest;
pub(crate) mod bundle;
pub(crate) mod completions;
pub(crate) mod diff_output;
pub(crate) mod drv;
pub(crate) mod key;
pub(crate) mod man;
pub(crate) mod nar;
pub(crate) mod rebuild;
pub(crate) mod roots;
pub(crate) mod sbom;
pub(crate) mod sources;
pub(crate) mod verify;
pub(crate) mod vulns;

/// The text with every control character (newlines and tabs too) escaped, so
/// strings from attestations or output trees cannot drive the terminal.
pub(crate) fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

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

/// `n` and the noun, in the singular for one (`1 source`, `2 sources`); `plural` is the noun's
/// plural form.
pub(crate) fn count(n: usize, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
