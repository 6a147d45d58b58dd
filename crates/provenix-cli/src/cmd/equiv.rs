//! `provenix equiv`: a release archive against the VCS tree of the same
//! version, file by file. Exit 0 when nothing reaches `--fail-on`, 1 when a
//! finding does, 2 on unreadable or hostile input.

use std::io::{self, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use provenix_core::fetch::{Fetched, Fetcher};
use provenix_core::review::equiv::{EquivFinding, EquivReport, KnownCopies, Limits, equiv, local_input};
use provenix_core::verify::Severity;

use super::diff_output::physical;
use super::escape_controls;
use crate::cli::{Ctx, Outcome, after_printing, print_json};

/// Arguments of `equiv` (its help text is on `Command::Equiv`).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The release archive: a store path, file, directory or http(s)/file URL.
    archive: String,
    /// The VCS tree of the same version: a store path, directory, archive or URL.
    vcs: String,
    /// The lowest severity that makes the exit code 1.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    fail_on: FailOn,
    /// A tree or archive of known upstream copies of build files (e.g. a gnulib or
    /// autoconf-archive checkout), added to the built-in table; repeatable.
    #[arg(long, value_name = "DIR")]
    known_copies: Vec<PathBuf>,
    /// Seconds to wait to connect, and between bytes, when a side is a URL.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    timeout: u64,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FailOn {
    /// Modified files and symlink differences.
    Error,
    /// Unknown build files and other tarball-only files too.
    Warning,
}

pub(crate) fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let limits = Limits::default();
    let known = known_copies(&args.known_copies, &limits)?;
    let temp = std::env::temp_dir();
    let mut fetcher = Fetcher::default();
    fetcher.timeout = Duration::from_secs(args.timeout.max(1));
    let (archive, _a) = side(ctx, &args.archive, &fetcher, &temp)?;
    let (vcs, _v) = side(ctx, &args.vcs, &fetcher, &temp)?;
    let report = equiv(&archive, &vcs, (&args.archive, &args.vcs), &known, &limits)?;
    let level = match args.fail_on {
        FailOn::Error => Severity::Error,
        FailOn::Warning => Severity::Warning,
    };
    let printed = if ctx.json { print_json(&report) } else { render(&report, level) };
    after_printing(if report.fails_at(level) { Outcome::Failed } else { Outcome::Ok }, printed)
}

/// The built-in table, the system's copies and each `--known-copies` tree.
pub(crate) fn known_copies(dirs: &[PathBuf], limits: &Limits) -> anyhow::Result<KnownCopies> {
    let mut known = KnownCopies::builtin();
    known.add_system(limits);
    for dir in dirs {
        let label = dir.display().to_string();
        known.add_tree(dir, &label, limits).with_context(|| format!("--known-copies {label}"))?;
    }
    Ok(known)
}

/// Where a side's bytes are: a local path (a store path under `--store` mapped), or a download
/// kept in a temp file for as long as the returned guard lives.
fn side(ctx: &Ctx, arg: &str, fetcher: &Fetcher, temp: &Path) -> anyhow::Result<(PathBuf, Option<Fetched>)> {
    match local_input(arg) {
        Some(path) => Ok((physical(ctx, &path)?, None)),
        None => {
            let fetched = fetcher.fetch(arg, temp, &|_| {}).with_context(|| format!("downloading {arg}"))?;
            Ok((fetched.path().to_path_buf(), Some(fetched)))
        }
    }
}

fn render(report: &EquivReport, level: Severity) -> anyhow::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    for f in &report.findings {
        write_finding(&mut out, f)?;
    }
    if !report.findings.is_empty() {
        writeln!(out)?;
    }
    for (what, info) in [("archive", &report.archive), ("vcs", &report.vcs)] {
        writeln!(
            out,
            "{what:<8} {} ({}, {} files, {} bytes{})",
            escape_controls(&info.input),
            info.format.as_str(),
            info.files,
            info.bytes,
            info.stripped
                .as_ref()
                .map(|t| format!(", top directory {} stripped", escape_controls(t)))
                .unwrap_or_default()
        )?;
    }
    let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    let nonzero: Vec<String> =
        report.counts.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{k}: {n}")).collect();
    let classes: Vec<String> =
        report.classes.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{k}: {n}")).collect();
    writeln!(
        out,
        "{}: {} identical files; {} errors, {} warnings, {} info{}{}",
        if report.fails_at(level) { "FAILED" } else { "OK" },
        report.identical,
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info),
        if nonzero.is_empty() { String::new() } else { format!(" ({})", nonzero.join(", ")) },
        if classes.is_empty() { String::new() } else { format!("; tarball-only: {}", classes.join(", ")) },
    )?;
    out.flush()?;
    Ok(())
}

/// One finding as the human table shows it (also used by `verify`).
pub(crate) fn write_finding(out: &mut impl io::Write, f: &EquivFinding) -> io::Result<()> {
    let class = f.class.map(|c| format!(" [{}]", c.as_str())).unwrap_or_default();
    writeln!(out, "{:<7} {:<21} {}{class}", f.severity.as_str(), f.kind.as_str(), escape_controls(&f.file))?;
    writeln!(out, "        {}", escape_controls(&f.detail))?;
    for (what, side) in [("archive", &f.archive), ("vcs", &f.vcs)] {
        let Some(side) = side else { continue };
        let body = match (&side.sha256, &side.target) {
            (Some(sha), _) => format!("{} bytes sha256:{sha}", side.size.unwrap_or(0)),
            (None, Some(target)) => format!("symlink -> {}", escape_controls(target)),
            (None, None) => side.kind.to_owned(),
        };
        writeln!(out, "        {what:<8} {body}")?;
    }
    Ok(())
}
