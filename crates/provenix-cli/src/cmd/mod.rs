//! One module per subcommand; each exports its clap arguments and `run`.

pub(crate) mod attest;
pub(crate) mod bundle;
pub(crate) mod diff_output;
pub(crate) mod drv;
pub(crate) mod key;
pub(crate) mod log_show;
pub(crate) mod nar;
pub(crate) mod rebuild;
pub(crate) mod roots;
pub(crate) mod sbom;
pub(crate) mod serve;
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
