//! `provenix verify`: tamper checks of the roots' whole build closure.

use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use provenix_core::fetch::Fetcher;
use provenix_core::identity::IdentityTable;
use provenix_core::log::check::LogClient;
use provenix_core::log::compare::LogRequirement;
use provenix_core::review::equiv::Limits;
use provenix_core::review::equiv::pairing::{VcsMap, VcsOptions};
use provenix_core::review::equiv::vcs_fetch::FetchOptions;
use provenix_core::verify::{Severity, VerifyOptions, VerifyReport, verify};
use provenix_formats::signature::TrustedKeys;

use super::roots::{Bar, RootArgs, human_bytes, open_db};
use super::{Paint, count, escape_controls, paint, wrap};
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
    /// Largest download accepted when the source's size in the store is unknown (bytes, or with a K,
    /// M or G suffix); a realised source is capped at its own size.
    #[arg(long, value_name = "SIZE", default_value = "4G", value_parser = parse_size)]
    max_download_size: u64,
    /// Longest one download may take, retries and mirrors' redirects included.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    download_deadline: u64,
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
    /// Fetch the upstream git repository (from --vcs-map, the identity table's `repo` for the
    /// package, or a forge source URL) of each release archive nothing in the closure pairs, at the
    /// tag of its version (v1.2.3, 1.2.3, name-1.2.3, NAME_1_2_3): shallow, with the system git,
    /// into a temp dir removed afterwards, at most 120 s and 2 GiB per repository.
    #[arg(long)]
    vcs_fetch: bool,
    /// More pname -> repository entries for --vcs-fetch, replacing built-in ones (identity table
    /// TOML, see docs/identities.md; repeatable).
    #[arg(long, value_name = "FILE")]
    identities: Vec<PathBuf>,
    /// A tree of known upstream copies of build files for the archive-against-VCS check; repeatable.
    #[arg(long, value_name = "DIR")]
    known_copies: Vec<PathBuf>,
    /// A rebuild transparency log: every realised output of the closure (fixed-output derivations
    /// aside) must have been reported with its local NAR hash by --require-builders of the
    /// --trust-builder keys (`not-reproduced`), and by none of them with another (`disputed`).
    /// Reports count only when their signature verifies with a trusted key.
    #[arg(long, value_name = "URL")]
    log: Option<String>,
    /// With --log: how many trusted builders must have reproduced each output.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "log", value_parser = clap::value_parser!(u16).range(1..))]
    require_builders: u16,
    /// With --log: a builder's public key (a file or `name:base64`) whose reports count; repeatable.
    #[arg(long, value_name = "PUB", requires = "log")]
    trust_builder: Vec<String>,
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
    let log = log_requirement(args)?;
    let db = open_db(ctx)?;
    let roots = args.roots.resolve(ctx, db.as_ref())?;
    // Evaluating a Nix-file root creates the database of a fresh store.
    let db = match db {
        Some(db) => Some(db),
        None => open_db(ctx)?,
    };
    let bar = Bar::new(ctx);
    let mut fetcher = Fetcher::default();
    fetcher.timeout = Duration::from_secs(args.timeout.max(1));
    fetcher.max_bytes = Some(args.max_download_size);
    fetcher.deadline = Some(Duration::from_secs(args.download_deadline.max(1)));
    let options = VerifyOptions {
        mirrors: args.roots.mirror_table()?,
        refetch: args.refetch,
        jobs: usize::from(args.jobs),
        fetcher,
        temp_dir,
        progress: &bar,
        once: args.once,
        vcs: Some(vcs),
        log,
    };
    let report = verify(&ctx.store, db.as_ref(), &roots, &options)?;
    let level = match args.fail_on {
        FailOn::Error => Severity::Error,
        FailOn::Warning => Severity::Warning,
    };
    let printed = if ctx.json {
        print_json(&report)
    } else {
        write_human(&report, level, ctx.color, &mut BufWriter::new(io::stdout().lock())).map_err(Into::into)
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
    let mut identities = IdentityTable::builtin();
    for file in &args.identities {
        identities.extend(IdentityTable::load(file)?);
    }
    Ok(VcsOptions {
        known: super::equiv::known_copies(&args.known_copies, &limits)?,
        map,
        limits,
        fetch,
        identities: Some(identities),
    })
}

/// The `--log` check: the client, the trusted builder keys and how many must agree.
fn log_requirement(args: &Args) -> anyhow::Result<Option<LogRequirement>> {
    let Some(url) = &args.log else { return Ok(None) };
    let mut trusted = TrustedKeys::new();
    for arg in &args.trust_builder {
        let key = super::key::load_public_key(arg).context("--trust-builder")?;
        let name = key.name().to_owned();
        anyhow::ensure!(trusted.insert(key).is_none(), "--trust-builder: two keys named {name}");
    }
    let required = usize::from(args.require_builders);
    anyhow::ensure!(!trusted.is_empty(), "--log needs at least one --trust-builder key");
    anyhow::ensure!(
        required <= trusted.len(),
        "--require-builders {required} cannot be met by {} --trust-builder keys",
        trusted.len()
    );
    let client = LogClient::new(url, super::log_show::LOG_TIMEOUT).context("--log")?;
    Ok(Some(LogRequirement { client, trusted, required }))
}

/// `1234`, `512K`, `64M`, `4G` (binary units; `KiB` and the like too).
fn parse_size(text: &str) -> Result<u64, String> {
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KIB" => 10,
        "M" | "MIB" => 20,
        "G" | "GIB" => 30,
        "T" | "TIB" => 40,
        _ => return Err(format!("`{unit}` is not a size unit (use K, M, G or T)")),
    };
    let number: u64 = number.parse().map_err(|_| "expected a number of bytes, e.g. 4G".to_owned())?;
    number.checked_mul(1 << shift).ok_or_else(|| "too large".to_owned())
}

fn write_human(report: &VerifyReport, level: Severity, color: bool, out: &mut impl io::Write) -> io::Result<()> {
    for f in &report.findings {
        let tone = match f.severity {
            Severity::Error => Paint::Red,
            Severity::Warning => Paint::Yellow,
            Severity::Info => Paint::Bold,
        };
        let label = paint(color, tone, &format!("{:<7}", f.severity.as_str()));
        let path = escape_controls(&f.path);
        // The path on the same line when it fits in 80 columns, else on its own.
        if 8 + 24 + path.chars().count() <= 80 {
            writeln!(out, "{label} {:<23} {path}", f.kind.as_str())?;
        } else {
            writeln!(out, "{label} {}", f.kind.as_str())?;
            writeln!(out, "        {path}")?;
        }
        for line in wrap(&escape_controls(&f.detail), 8, 80) {
            writeln!(out, "{line}")?;
        }
        if let Some(url) = &f.url {
            writeln!(out, "        url      {}", escape_controls(url))?;
        }
        if let (Some(expected), Some(actual)) = (&f.expected, &f.actual) {
            writeln!(out, "        expected {}", escape_controls(expected))?;
            writeln!(out, "        found    {}", escape_controls(actual))?;
        }
    }
    if !report.findings.is_empty() {
        writeln!(out)?;
    }
    let c = &report.checked;
    writeln!(
        out,
        "checked {} (.drv files) and {}",
        count(c.derivations, "derivation", "derivations"),
        count(c.output_paths, "output path", "output paths"),
    )?;
    writeln!(
        out,
        "  of {}, with {}",
        count(report.roots.len(), "root", "roots"),
        count(c.fods, "fixed-output source", "fixed-output sources"),
    )?;
    if c.database {
        writeln!(
            out,
            "rehashed {} against the Nix database",
            count(c.outputs_rehashed, "realised output", "realised outputs")
        )?;
        writeln!(out, "  and {} against their declared hash", count(c.fods_rehashed, "source", "sources"))?;
        writeln!(
            out,
            "  ({} pinned by the declared hash alone; {} read)",
            count(c.outputs_pinned, "flat file", "flat files"),
            human_bytes(c.bytes_hashed)
        )?;
    } else {
        writeln!(
            out,
            "rehashed {} against their declared hash ({} read)",
            count(c.fods_rehashed, "source", "sources"),
            human_bytes(c.bytes_hashed)
        )?;
        writeln!(out, "  no Nix database, so other outputs were not compared")?;
    }
    if c.refetch {
        writeln!(
            out,
            "refetched {}: {} downloaded ({}), {} failed",
            count(c.fods_refetched, "source", "sources"),
            count(c.urls_fetched, "URL", "URLs"),
            human_bytes(c.bytes_downloaded),
            c.urls_failed
        )?;
    }
    if let Some(l) = &c.log {
        writeln!(
            out,
            "compared {} with the log at {}: {} reproduced by at least {}",
            count(l.outputs, "realised output", "realised outputs"),
            escape_controls(&l.server),
            l.reproduced,
            count(l.required_builders, "trusted builder", "trusted builders"),
        )?;
        writeln!(
            out,
            "  ({} signed by a trusted key; {} not, so not counted)",
            count(l.trusted_reports, "report", "reports"),
            l.untrusted_reports
        )?;
    }
    let nonzero: Vec<String> =
        report.counts.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{k}: {n}")).collect();
    let of = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    let failed = report.fails_at(level);
    let verdict = paint(color, if failed { Paint::Red } else { Paint::Green }, if failed { "FAILED" } else { "OK" });
    writeln!(
        out,
        "{verdict}: {}, {}, {} info",
        count(of(Severity::Error), "error", "errors"),
        count(of(Severity::Warning), "warning", "warnings"),
        of(Severity::Info),
    )?;
    // One finding kind a line, so the counts fit any width.
    for kind in nonzero {
        writeln!(out, "  {kind}")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_unit_suffixes() {
        assert_eq!(parse_size("543"), Ok(543));
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert!(parse_size("4X").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("99999999999T").is_err());
    }
}
