//! `provenix vulns`: the roots' components against NVD, CVE 5 and OSV data.
//!
//! `--db DIR` names the vulnerability data here (DESIGN's contract), so the
//! global `--db` cannot also name the Nix database for this command: that
//! one is `--nix-db FILE` (default: found from the store, as everywhere).

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use provenix_core::identity::inventory;
use provenix_core::vulndb::VulnDb;
use provenix_core::vulns::{Date, Finding, VulnsOptions, VulnsReport, Whitelist, sarif, scan};
use provenix_store::db::NixDb;
use provenix_store::fs::write_atomic;

use super::escape_controls;
use super::roots::{Bar, IdentityArgs, RootArgs, chain_names, ensure_roots_built};
use crate::cli::{Ctx, Outcome, after_printing, print_json};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    roots: RootArgs,
    #[command(flatten)]
    identity: IdentityArgs,
    /// The index of the vulnerability data (default: DIR/.provenix-index.sqlite; rebuilt when the data
    /// changes). `--db DIR` (required) is the directory of NVD 2.0, CVE 5 and OSV JSON files.
    #[arg(long, value_name = "FILE")]
    index: Option<PathBuf>,
    /// The Nix database (for this command `--db` is the vulnerability data).
    #[arg(long, value_name = "FILE")]
    nix_db: Option<PathBuf>,
    /// Accepted findings: TOML `[[ignore]]` entries with id, reason and until (docs/vulns.md).
    #[arg(long, value_name = "FILE")]
    whitelist: Option<PathBuf>,
    /// Also write the findings as SARIF 2.1.0.
    #[arg(long, value_name = "FILE")]
    sarif: Option<PathBuf>,
    /// Only components in the runtime closure of the roots' realised outputs (needs the Nix database).
    #[arg(long)]
    runtime: bool,
}

/// Today's date (UTC), for whitelist expiry.
pub(crate) fn today() -> Date {
    let stamp = provenix_core::rebuild::rfc3339(std::time::SystemTime::now());
    Date::parse(stamp.get(..10).unwrap_or_default()).unwrap_or(Date { year: 1970, month: 1, day: 1 })
}

pub(crate) fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let Some(dir) = &ctx.db else {
        anyhow::bail!("vulns needs --db DIR: a directory of NVD 2.0, CVE 5 or OSV JSON files");
    };
    anyhow::ensure!(dir.is_dir(), "--db {}: not a directory of vulnerability data", dir.display());
    let nix_db = match &args.nix_db {
        Some(path) => {
            Some(NixDb::open(path, ctx.store.dir().clone()).with_context(|| format!("--nix-db {}", path.display()))?)
        }
        None => NixDb::open_for(&ctx.store)?,
    };
    let whitelist = match &args.whitelist {
        Some(path) => Whitelist::load(path)?,
        None => Whitelist::default(),
    };
    let (roots, root_outputs) = args.roots.resolve_scoped(ctx, nix_db.as_ref())?;
    anyhow::ensure!(!args.runtime || nix_db.is_some(), "--runtime needs the Nix database (give --nix-db or --store)");
    let options = args.identity.options(&args.roots, nix_db.is_some(), root_outputs)?;
    let drvs: Vec<_> = roots.iter().map(|r| r.drv.clone()).collect();
    let inventory = inventory(&ctx.store, nix_db.as_ref(), &drvs, &options)?;
    if args.runtime {
        ensure_roots_built(ctx, &roots, &inventory, "drop --runtime")?;
    }
    let index = args.index.clone().unwrap_or_else(|| dir.join(".provenix-index.sqlite"));
    let bar = Bar::new(ctx);
    let (db, stats) = VulnDb::open(dir, &index, &bar)
        .with_context(|| format!("reading vulnerability data {} (index {})", dir.display(), index.display()))?;
    let options = VulnsOptions { runtime_only: args.runtime, whitelist, today: today() };
    let report = scan(&inventory, &db, &stats, &options)?;
    if let Some(path) = &args.sarif {
        let log = sarif::to_sarif(&report, env!("CARGO_PKG_VERSION"));
        let mut bytes = serde_json::to_vec_pretty(&log)?;
        bytes.push(b'\n');
        write_atomic(path, &bytes, 0o644, true).with_context(|| format!("writing SARIF {}", path.display()))?;
    }
    if !ctx.quiet {
        for e in &report.expired_whitelist {
            let until = e.until.map(|d| d.to_string()).unwrap_or_default();
            eprintln!("warning: whitelist entry {} expired on {until}; it no longer hides anything", e.id);
        }
    }
    let printed = if ctx.json {
        print_json(&report)
    } else {
        write_human(&report, &mut BufWriter::new(io::stdout().lock())).map_err(Into::into)
    };
    after_printing(if report.findings.is_empty() { Outcome::Ok } else { Outcome::Failed }, printed)
}

fn severity(f: &Finding) -> String {
    match &f.severity {
        Some(s) => format!("{:<8} {:>4.1}", s.level, s.score),
        None => format!("{:<8} {:>4}", "-", "-"),
    }
}

fn write_list(title: &str, list: &[Finding], out: &mut impl Write) -> io::Result<()> {
    if list.is_empty() {
        return Ok(());
    }
    writeln!(out, "{title}:")?;
    for f in list {
        for a in &f.components {
            let version = a.version.as_deref().unwrap_or("-");
            let fixed = a.fixed.as_deref().map(|v| format!("  fixed in {v}")).unwrap_or_default();
            let runtime = if a.runtime { "  runtime" } else { "" };
            writeln!(
                out,
                "  {:<18} {}  {} {}{fixed}{runtime}",
                f.id,
                severity(f),
                escape_controls(&a.pname),
                escape_controls(version)
            )?;
            writeln!(out, "      rule: {}", escape_controls(&a.rule))?;
            if let Some(p) = &a.patch {
                writeln!(out, "      patched by: {}", escape_controls(p))?;
            }
            if let Some(w) = &a.whitelist {
                let until = w.until.map(|d| format!(" (until {d})")).unwrap_or_default();
                writeln!(out, "      accepted: {}{until}", escape_controls(&w.reason))?;
            }
            if a.why.len() > 1 {
                writeln!(out, "      why: {}", escape_controls(&chain_names(&a.why)))?;
            }
        }
    }
    writeln!(out)
}

fn write_human(report: &VulnsReport, out: &mut impl Write) -> io::Result<()> {
    write_list("vulnerable", &report.findings, out)?;
    write_list("patched (a patch names the id)", &report.patched, out)?;
    write_list("whitelisted", &report.whitelisted, out)?;
    let count = |l: &[Finding]| l.iter().map(|f| f.components.len()).sum::<usize>();
    writeln!(
        out,
        "{} vulnerabilities in {} components; {} patched, {} whitelisted",
        report.findings.len(),
        count(&report.findings),
        count(&report.patched),
        count(&report.whitelisted)
    )?;
    let db = &report.database;
    writeln!(
        out,
        "scanned {} packages of {} derivations against {} advisories from {} files ({} rejected, {} withdrawn skipped{})",
        report.scanned,
        report.derivations,
        db.advisories,
        db.files,
        db.rejected,
        db.withdrawn,
        if db.reused { "; index reused" } else { "; index rebuilt" }
    )?;
    if report.without_cpe > report.unidentified.len() {
        writeln!(
            out,
            "{} packages have no CPE identity: only OSV (by registry package or repository) could match them",
            report.without_cpe - report.unidentified.len()
        )?;
    }
    if !report.unidentified.is_empty() {
        let names: Vec<String> = report
            .unidentified
            .iter()
            .take(12)
            .map(|u| {
                escape_controls(&format!(
                    "{}{}",
                    u.pname,
                    u.version.as_deref().map(|v| format!("-{v}")).unwrap_or_default()
                ))
            })
            .collect();
        let more = report.unidentified.len().saturating_sub(names.len());
        writeln!(
            out,
            "{} packages have no CPE identity, registry package or repository and were not checked: {}{}",
            report.unidentified.len(),
            names.join(", "),
            if more > 0 { format!(" (+{more}; --json lists all, --identities adds them)") } else { String::new() }
        )?;
    }
    out.flush()
}
