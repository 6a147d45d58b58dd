//! `provenix verify`: tamper checks of the roots' whole build closure.

use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use provenix_core::fetch::Fetcher;
use provenix_core::review::equiv::Limits;
use provenix_core::review::equiv::pairing::{VcsMap, VcsOptions};
use provenix_core::review::equiv::vcs_fetch::FetchOptions;
use provenix_core::verify::{Severity, VerifyOptions, VerifyReport, verify};

use super::roots::{Bar, RootArgs, human_bytes, open_db};
use crate::cli::{Ctx, Outcome, after_printing, print_json};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    roots: RootArgs,
    /// Download every URL of every source and compare it with the declared hash.
    #[arg(long)]
    refetch: bool,
    /// Downloads at a time (with --refetch).
    #[arg(long, short = 'j', value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: u16,
    /// Seconds to wait to connect, and between bytes of a download.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    timeout: u64,
    /// Where downloads are kept while they are hashed (removed afterwards; default: the system temp dir).
    #[arg(long, value_name = "DIR")]
    temp_dir: Option<PathBuf>,
    /// Hash each flat source once: when its bytes match its sha256/sha512, skip recomputing its NAR
    /// hash for the database comparison (only its size is checked). Faster; a tampered database hash
    /// record of such a source then goes unnoticed.
    #[arg(long)]
    once: bool,
    /// The lowest severity that makes the exit code 1.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    fail_on: FailOn,
    /// Pair release archives with VCS trees from this file: lines of `NAME PATH` (a source name
    /// or its name without version, and a local directory or archive of the VCS tree).
    #[arg(long, value_name = "FILE")]
    vcs_map: Option<PathBuf>,
    /// Fetch the upstream git repository (from --vcs-map or a forge source URL) of each release
    /// archive nothing in the closure pairs, at the tag of its version (v1.2.3, 1.2.3, name-1.2.3,
    /// NAME_1_2_3): shallow, with the system git, into a temp dir removed afterwards, at most 120 s
    /// and 2 GiB per repository.
    #[arg(long)]
    vcs_fetch: bool,
    /// A tree of known upstream copies of build files for the archive-against-VCS check; repeatable.
    #[arg(long, value_name = "DIR")]
    known_copies: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FailOn {
    /// Integrity findings only.
    Error,
    /// Hygiene findings too.
    Warning,
}

pub(crate) fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let temp_dir = args.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
    if args.refetch {
        anyhow::ensure!(temp_dir.is_dir(), "--temp-dir {}: not a directory", temp_dir.display());
    }
    let vcs = vcs_options(args, &temp_dir)?;
    let db = open_db(ctx)?;
    let roots = args.roots.resolve(ctx, db.as_ref())?;
    let bar = Bar::new(ctx);
    let mut fetcher = Fetcher::default();
    fetcher.timeout = Duration::from_secs(args.timeout.max(1));
    let options = VerifyOptions {
        mirrors: args.roots.mirror_table()?,
        refetch: args.refetch,
        jobs: usize::from(args.jobs),
        fetcher,
        temp_dir,
        progress: &bar,
        once: args.once,
        vcs: Some(vcs),
    };
    let report = verify(&ctx.store, db.as_ref(), &roots, &options)?;
    let level = match args.fail_on {
        FailOn::Error => Severity::Error,
        FailOn::Warning => Severity::Warning,
    };
    let printed = if ctx.json {
        print_json(&report)
    } else {
        write_human(&report, level, &mut BufWriter::new(io::stdout().lock())).map_err(Into::into)
    };
    after_printing(if report.fails_at(level) { Outcome::Failed } else { Outcome::Ok }, printed)
}

/// The release-archive-against-VCS options: known copies and the `--vcs-map` file.
fn vcs_options(args: &Args, temp_dir: &std::path::Path) -> anyhow::Result<VcsOptions> {
    let limits = Limits::default();
    let map = match &args.vcs_map {
        Some(file) => {
            let text = std::fs::read_to_string(file).with_context(|| format!("--vcs-map {}", file.display()))?;
            let base = file.parent().unwrap_or(std::path::Path::new("."));
            VcsMap::parse(&text, base).with_context(|| format!("--vcs-map {}", file.display()))?
        }
        None => VcsMap::default(),
    };
    let fetch = args.vcs_fetch.then(|| FetchOptions { temp_dir: temp_dir.to_path_buf(), ..FetchOptions::default() });
    Ok(VcsOptions { known: super::equiv::known_copies(&args.known_copies, &limits)?, map, limits, fetch })
}

fn write_human(report: &VerifyReport, level: Severity, out: &mut impl io::Write) -> io::Result<()> {
    for f in &report.findings {
        writeln!(out, "{:<7} {:<23} {}", f.severity.as_str(), f.kind.as_str(), f.path)?;
        writeln!(out, "        {}", f.detail)?;
        if let Some(url) = &f.url {
            writeln!(out, "        url      {url}")?;
        }
        if let (Some(expected), Some(actual)) = (&f.expected, &f.actual) {
            writeln!(out, "        expected {expected}")?;
            writeln!(out, "        found    {actual}")?;
        }
    }
    if !report.findings.is_empty() {
        writeln!(out)?;
    }
    let c = &report.checked;
    writeln!(
        out,
        "checked {} derivations (.drv paths) and {} output paths of {} root(s); {} fixed-output sources",
        c.derivations,
        c.output_paths,
        report.roots.len(),
        c.fods
    )?;
    if c.database {
        writeln!(
            out,
            "rehashed {} realised outputs against the Nix database and {} sources against their declared hash \
             ({} of them flat files pinned by it alone; {} read)",
            c.outputs_rehashed,
            c.fods_rehashed,
            c.outputs_pinned,
            human_bytes(c.bytes_hashed)
        )?;
    } else {
        writeln!(
            out,
            "rehashed {} sources against their declared hash ({}); no Nix database, so other outputs were not compared",
            c.fods_rehashed,
            human_bytes(c.bytes_hashed)
        )?;
    }
    if c.refetch {
        writeln!(
            out,
            "refetched {} sources: {} URLs downloaded ({}), {} failed",
            c.fods_refetched,
            c.urls_fetched,
            human_bytes(c.bytes_downloaded),
            c.urls_failed
        )?;
    }
    let nonzero: Vec<String> =
        report.counts.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{k}: {n}")).collect();
    let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    writeln!(
        out,
        "{}: {} errors, {} warnings, {} info{}",
        if report.fails_at(level) { "FAILED" } else { "OK" },
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info),
        if nonzero.is_empty() { String::new() } else { format!(" ({})", nonzero.join(", ")) }
    )?;
    out.flush()
}
