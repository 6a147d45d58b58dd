//! Where command output files go: one helper for every `-o`, `--sarif` and
//! key file.
//!
//! - `-` means stdout (as it means stdin for readers). The command's own
//!   report then goes to stderr, and `--json` is refused, since both would
//!   share stdout ([`ensure_stdout_free`]).
//! - Any other target is written atomically (temp file, fsync, rename), and
//!   only ever replaces a regular file: a symlink, FIFO, device or directory
//!   there is refused with its kind named, never turned into a regular file
//!   (`/dev/stdout` is a symlink: the message says to give `-`).

use std::io::{self, Write as _};
use std::path::Path;

use provenix_store::fs::{WriteError, write_atomic};

use crate::cli::Ctx;

/// True if `path` is `-`, i.e. stdout.
pub(crate) fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Fails when `flag` sends a document to stdout and `--json` would print the
/// report there too.
pub(crate) fn ensure_stdout_free(ctx: &Ctx, flag: &str, path: Option<&Path>) -> anyhow::Result<()> {
    if ctx.json && path.is_some_and(is_stdout) {
        anyhow::bail!(
            "`{flag} -` writes to stdout, where --json prints the report: give {flag} a file, or drop --json"
        );
    }
    Ok(())
}

/// Writes `bytes` to `path` (`-` for stdout) as described in the module docs;
/// `mode` is the new file's permissions.
pub(crate) fn write_output(flag: &str, path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    if is_stdout(path) {
        let mut out = io::stdout().lock();
        out.write_all(bytes)?;
        out.flush()?;
        return Ok(());
    }
    write_atomic(path, bytes, mode, true).map_err(|e| explain_for(flag, e, true))
}

/// The error of writing the file of `flag`, with what to do about it.
pub(crate) fn explain(flag: &str, err: WriteError) -> anyhow::Error {
    explain_for(flag, err, false)
}

fn explain_for(flag: &str, err: WriteError, stdout_ok: bool) -> anyhow::Error {
    match err {
        WriteError::NotRegular { .. } => {
            let or_stdout = if stdout_ok { ", or `-` for stdout" } else { "" };
            anyhow::Error::new(err).context(format!("{flag}: name a regular file{or_stdout}"))
        }
        WriteError::Exists { ref path } => {
            let path = path.display().to_string();
            anyhow::Error::new(err).context(format!("{flag} {path}: pass --force to replace it"))
        }
        err => anyhow::Error::new(err).context(flag.to_owned()),
    }
}

/// Stdout, or stderr when the document went to stdout: where the human report goes.
pub(crate) fn report_stream(document_on_stdout: bool) -> Box<dyn io::Write> {
    if document_on_stdout {
        Box::new(io::BufWriter::new(io::stderr().lock()))
    } else {
        Box::new(io::BufWriter::new(io::stdout().lock()))
    }
}
