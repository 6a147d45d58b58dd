//! `provenix vulns`: the roots' components against NVD, CVE 5 and OSV data.
//!
//! `--vuln-db DIR` (required) names the vulnerability data; the global `--db` is the Nix
//! database, as for every command (`--nix-db FILE` is kept as a hidden alias of it).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use provenix_core::identity::inventory;
use provenix_core::vulndb::{IndexStats, VulnDb, default_index};
use provenix_core::vulns::{
    Date, Finding, Level, VulnsOptions, VulnsReport, Whitelist, sarif, sbom_input, scan, scan_sbom,
};
use provenix_store::db::NixDb;

use super::roots::{Bar, IdentityArgs, RootArgs, ensure_roots_built, open_db, short_name};
use super::sources::csv_field;
use super::{count, escape_controls, number};
use crate::cli::{Ctx, Outcome, after_printing, print_json};
use crate::output::{ensure_stdout_free, is_stdout, report_stream, write_output};

#[derive(Debug, clap::Args)]
#[command(mut_arg("roots", |a| a.required(false).required_unless_present("sbom")))]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) roots: RootArgs,
    /// Scan the components of this CycloneDX JSON SBOM (as `provenix sbom` or another tool writes it)
    /// instead of roots: their CPEs, purls and versions, matched the same way.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["roots", "attrs", "mirrors", "runtime", "identities", "meta"])]
    sbom: Option<PathBuf>,
    #[command(flatten)]
    identity: IdentityArgs,
    /// The vulnerability data: a directory of NVD 2.0 pages, CVE 5 and OSV records, as `.json`,
    /// `.json.gz` or `.zip` files in any layout (docs/vulns.md).
    #[arg(long = "vuln-db", value_name = "DIR", required = true)]
    vuln_db: PathBuf,
    /// The index of the vulnerability data (rebuilt when the data changes). Default:
    /// DIR/.provenix-index.sqlite, or for a read-only DIR (a store path) a file under
    /// $XDG_CACHE_HOME/provenix (~/.cache/provenix) named after DIR.
    #[arg(long, value_name = "FILE")]
    index: Option<PathBuf>,
    /// The old name of the global --db (the Nix database) for this command.
    #[arg(long, value_name = "FILE", hide = true)]
    nix_db: Option<PathBuf>,
    /// Accepted findings: TOML `[[ignore]]` entries with id, reason and until (docs/vulns.md).
    #[arg(long, value_name = "FILE")]
    whitelist: Option<PathBuf>,
    /// Also write the findings as SARIF 2.1.0 (`-`: to stdout, the report then to stderr).
    #[arg(long, value_name = "FILE")]
    sarif: Option<PathBuf>,
    /// Only components in the runtime closure of the roots' realised outputs (needs the Nix database).
    #[arg(long)]
    runtime: bool,
    /// Only this vulnerability: a CVE, GHSA or OSV id, matching a finding's id or an alias (repeatable).
    #[arg(long = "id", value_name = "ID")]
    ids: Vec<String>,
    /// Exit 1 only for findings of this CVSS severity or above (a finding without a score counts
    /// as every severity); lower ones are still reported.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    fail_on: Option<FailOn>,
    /// Exit 1 also when a package has no CPE identity, registry package or repository (nothing
    /// could match it).
    #[arg(long)]
    fail_on_unidentified: bool,
    /// Warn when the newest advisory in the data was modified more than DAYS days ago (0: never).
    #[arg(long, value_name = "DAYS", default_value_t = 7)]
    max_data_age: u64,
    /// Print one CSV row per affected component (vulnerable, patched, whitelisted) instead of the table.
    #[arg(long, conflicts_with = "json")]
    csv: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FailOn {
    Low,
    Medium,
    High,
    Critical,
}

impl From<FailOn> for Level {
    fn from(f: FailOn) -> Level {
        match f {
            FailOn::Low => Level::Low,
            FailOn::Medium => Level::Medium,
            FailOn::High => Level::High,
            FailOn::Critical => Level::Critical,
        }
    }
}

/// Today's date (UTC), for whitelist expiry.
pub(crate) fn today() -> Date {
    let stamp = provenix_core::rebuild::rfc3339(std::time::SystemTime::now());
    Date::parse(stamp.get(..10).unwrap_or_default()).unwrap_or(Date { year: 1970, month: 1, day: 1 })
}

/// The index to use for the data directory `dir`: `--index`, else [`default_index`], where a
/// directory inside the store counts as read-only whatever its permissions say.
fn index_path(args: &Args, ctx: &Ctx, dir: &Path) -> anyhow::Result<PathBuf> {
    if let Some(index) = &args.index {
        return Ok(index.clone());
    }
    let canonical = std::fs::canonicalize(dir).with_context(|| format!("--vuln-db {}", dir.display()))?;
    let in_store = std::fs::canonicalize(ctx.store.physical_dir()).is_ok_and(|store| canonical.starts_with(store))
        || canonical.starts_with(ctx.store.dir().as_str());
    let cache = super::cache_dir();
    default_index(dir, in_store, cache.as_deref())
        .with_context(|| format!("--vuln-db {}", dir.display()))?
        .with_context(|| {
            format!(
                "--vuln-db {} is read-only and there is no cache directory (neither XDG_CACHE_HOME nor HOME is set): \
                 give --index FILE",
                dir.display()
            )
        })
}

/// Days since the newest modification time in the data, when it has one.
fn data_age_days(stats: &IndexStats) -> Option<i64> {
    use provenix_core::sbom::Timestamp;
    let newest = stats.newest.as_deref()?;
    // NVD writes its times without an offset and means UTC.
    let t = Timestamp::parse(newest).or_else(|_| Timestamp::parse(&format!("{newest}Z"))).ok()?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some((i64::try_from(now).ok()? - t.unix()).div_euclid(86_400))
}

/// Warnings about the data itself: files skipped, stale data.
fn warn_about_data(args: &Args, dir: &Path, stats: &IndexStats) {
    if !stats.skipped_files.is_empty() {
        let shown: Vec<String> = stats.skipped_files.iter().take(10).map(|f| escape_controls(f)).collect();
        let more = stats.skipped_files.len() - shown.len();
        eprintln!(
            "warning: --vuln-db {}: skipped {} that {} not vulnerability data (*.json, *.json.gz, *.zip): {}{}",
            dir.display(),
            count(stats.skipped_files.len(), "file", "files"),
            number(stats.skipped_files.len(), "is", "are"),
            shown.join(", "),
            if more > 0 { format!(" (+{more}; --json lists all)") } else { String::new() }
        );
    }
    if args.max_data_age > 0
        && let Some(age) = data_age_days(stats)
        && age > i64::try_from(args.max_data_age).unwrap_or(i64::MAX)
    {
        eprintln!(
            "warning: --vuln-db {}: the newest advisory was modified {} ({age} days ago, more than --max-data-age {}): \
             update the data, or a scan can pass on vulnerabilities published since",
            dir.display(),
            escape_controls(stats.newest.as_deref().unwrap_or_default()),
            args.max_data_age
        );
    }
}

/// Refuses data that cannot find anything: no advisory at all.
fn ensure_advisories(dir: &Path, stats: &IndexStats) -> anyhow::Result<()> {
    if stats.advisories > 0 {
        return Ok(());
    }
    let skipped = if stats.skipped_files.is_empty() {
        String::new()
    } else {
        let shown: Vec<String> = stats.skipped_files.iter().take(5).map(|f| escape_controls(f)).collect();
        format!("; skipped: {}{}", shown.join(", "), if stats.skipped_files.len() > 5 { ", ..." } else { "" })
    };
    anyhow::bail!(
        "--vuln-db {}: no advisories to match against ({} read, {} rejected and {} withdrawn skipped{skipped}); \
         a scan against no data proves nothing. Give a directory of NVD 2.0, CVE 5 or OSV files (.json, .json.gz, .zip)",
        dir.display(),
        count(stats.files, "data file", "data files"),
        stats.rejected,
        stats.withdrawn
    )
}

/// Opens the vulnerability data: its index built or reused, refused when it holds no advisory.
fn open_data(args: &Args, ctx: &Ctx) -> anyhow::Result<(VulnDb, IndexStats, PathBuf)> {
    let dir = &args.vuln_db;
    let index = index_path(args, ctx, dir)?;
    let bar = Bar::new(ctx);
    let existed = index.exists();
    let (db, stats) = VulnDb::open(dir, &index, &bar)
        .with_context(|| format!("reading vulnerability data {} (index {})", dir.display(), index.display()))?;
    if let Err(e) = ensure_advisories(dir, &stats) {
        // A failed command leaves nothing behind: not even the index of no data it just wrote.
        drop(db);
        if !existed {
            let _ = std::fs::remove_file(&index);
        }
        return Err(e);
    }
    if !ctx.quiet {
        warn_about_data(args, dir, &stats);
    }
    Ok((db, stats, index))
}

fn scan_options(args: &Args, whitelist: Whitelist) -> VulnsOptions {
    VulnsOptions { runtime_only: args.runtime, whitelist, today: today(), ids: args.ids.clone() }
}

/// Notes in the report where the data came from and whether it is stale.
fn describe_data(args: &Args, report: &mut VulnsReport, stats: &IndexStats, index: &Path) {
    report.database.index = Some(index.display().to_string());
    report.database.stale = args.max_data_age > 0
        && data_age_days(stats).is_some_and(|age| age > i64::try_from(args.max_data_age).unwrap_or(i64::MAX));
}

pub(crate) fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let dir = &args.vuln_db;
    anyhow::ensure!(dir.is_dir(), "--vuln-db {}: not a directory of vulnerability data", dir.display());
    ensure_stdout_free(ctx, "--sarif", args.sarif.as_deref())?;
    if let Some(path) = &args.sbom {
        let whitelist = args.whitelist.as_deref().map(Whitelist::load).transpose()?.unwrap_or_default();
        let sbom = sbom_input::load(path)?;
        let (db, stats, index) = open_data(args, ctx)?;
        let mut report = scan_sbom(&sbom, &db, &stats, &scan_options(args, whitelist))?;
        describe_data(args, &mut report, &stats, &index);
        return finish(args, ctx, &report);
    }
    let nix_db = match &args.nix_db {
        Some(path) => {
            Some(NixDb::open(path, ctx.store.dir().clone()).with_context(|| format!("--nix-db {}", path.display()))?)
        }
        None => open_db(ctx)?,
    };
    let whitelist = match &args.whitelist {
        Some(path) => Whitelist::load(path)?,
        None => Whitelist::default(),
    };
    let (roots, root_outputs) = args.roots.resolve_scoped(ctx, nix_db.as_ref())?;
    anyhow::ensure!(!args.runtime || nix_db.is_some(), "--runtime needs the Nix database (give --db or --store)");
    let options = args.identity.options(&args.roots, nix_db.is_some(), root_outputs)?;
    let drvs: Vec<_> = roots.iter().map(|r| r.drv.clone()).collect();
    let inventory = inventory(&ctx.store, nix_db.as_ref(), &drvs, &options)?;
    if args.runtime {
        ensure_roots_built(ctx, &roots, &inventory, "drop --runtime")?;
    }
    let (db, stats, index) = open_data(args, ctx)?;
    let mut report = scan(&inventory, &db, &stats, &scan_options(args, whitelist))?;
    describe_data(args, &mut report, &stats, &index);
    finish(args, ctx, &report)
}

/// Writes SARIF, warnings and the report; the exit code.
fn finish(args: &Args, ctx: &Ctx, report: &VulnsReport) -> anyhow::Result<Outcome> {
    if let Some(path) = &args.sarif {
        let log = sarif::to_sarif(report, env!("CARGO_PKG_VERSION"));
        let mut bytes = serde_json::to_vec_pretty(&log)?;
        bytes.push(b'\n');
        write_output("--sarif", path, &bytes, 0o644).with_context(|| format!("writing SARIF {}", path.display()))?;
    }
    if !ctx.quiet {
        for e in &report.expired_whitelist {
            let until = e.until.map(|d| d.to_string()).unwrap_or_default();
            eprintln!(
                "warning: whitelist entry {} expired on {until}; it no longer hides anything",
                escape_controls(&e.id)
            );
        }
        for e in &report.unused_whitelist {
            let scope = e.pname.as_deref().map(|p| format!(" ({})", escape_controls(p))).unwrap_or_default();
            eprintln!(
                "warning: whitelist entry {}{scope} accepted nothing in this scan; remove it if the finding is gone",
                escape_controls(&e.id)
            );
        }
        for id in &args.ids {
            let known = [&report.findings, &report.patched, &report.whitelisted].iter().any(|l| {
                l.iter().any(|f| f.id.eq_ignore_ascii_case(id) || f.aliases.iter().any(|a| a.eq_ignore_ascii_case(id)))
            });
            if !known {
                eprintln!("note: --id {}: nothing in the scanned closure is affected", escape_controls(id));
            }
        }
    }
    let fail_on = args.fail_on.map(Level::from);
    let failing = report.failing(fail_on).count();
    let printed = if ctx.json {
        print_json(report)
    } else if args.csv {
        write_csv(report, &mut report_stream(args.sarif.as_deref().is_some_and(is_stdout))).map_err(Into::into)
    } else {
        write_human(report, fail_on, &mut report_stream(args.sarif.as_deref().is_some_and(is_stdout)))
            .map_err(Into::into)
    };
    let failed = failing > 0 || (args.fail_on_unidentified && !report.unidentified.is_empty());
    after_printing(if failed { Outcome::Failed } else { Outcome::Ok }, printed)
}

/// A `.drv` path as its name (`xz-5.6.0`); an SBOM's `bom-ref` as it is.
fn display_ref(r: &str) -> &str {
    if r.starts_with('/') { short_name(r) } else { r }
}

/// A why-chain as names joined by arrows.
fn ref_chain(chain: &[String]) -> String {
    chain.iter().map(|p| display_ref(p)).collect::<Vec<_>>().join(" -> ")
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
            let fixed = a.fix_text().map(|t| format!("  {}", escape_controls(&t))).unwrap_or_default();
            let runtime = if a.runtime { "  runtime" } else { "" };
            writeln!(
                out,
                "  {:<18} {}  {} {}{fixed}{runtime}",
                escape_controls(&f.id),
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
                writeln!(out, "      why: {}", escape_controls(&ref_chain(&a.why)))?;
            }
        }
    }
    writeln!(out)
}

/// One CSV row per affected component of every list (RFC 4180 quoting).
fn write_csv(report: &VulnsReport, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "status,id,aliases,severity,score,pname,version,fixed,fixed_commit,runtime,drv_path,rule,note")?;
    for (status, list) in
        [("vulnerable", &report.findings), ("patched", &report.patched), ("whitelisted", &report.whitelisted)]
    {
        for f in list {
            for a in &f.components {
                let note = match (&a.patch, &a.whitelist) {
                    (Some(p), _) => format!("patched by {p}"),
                    (None, Some(w)) => w.reason.clone(),
                    (None, None) => String::new(),
                };
                let fields = [
                    status.to_owned(),
                    f.id.clone(),
                    f.aliases.join(" "),
                    f.severity.as_ref().map(|s| s.level.clone()).unwrap_or_default(),
                    f.severity.as_ref().map(|s| format!("{:.1}", s.score)).unwrap_or_default(),
                    a.pname.clone(),
                    a.version.clone().unwrap_or_default(),
                    a.fixed.clone().unwrap_or_default(),
                    a.fixed_commit.clone().unwrap_or_default(),
                    a.runtime.to_string(),
                    a.drv_path.clone(),
                    a.rule.clone(),
                    note,
                ];
                let row: Vec<String> = fields.iter().map(|f| csv_field(&escape_controls(f))).collect();
                writeln!(out, "{}", row.join(","))?;
            }
        }
    }
    out.flush()
}

/// The per-root section: which vulnerabilities reach each root, when there are several.
fn write_by_root(report: &VulnsReport, out: &mut impl Write) -> io::Result<()> {
    if report.by_root.len() < 2 {
        return Ok(());
    }
    writeln!(out, "by root:")?;
    for r in &report.by_root {
        let ids = if r.findings.is_empty() { "none".to_owned() } else { escape_controls(&r.findings.join(", ")) };
        writeln!(
            out,
            "  {}: {} ({ids}); {} patched, {} whitelisted",
            escape_controls(display_ref(&r.root)),
            count(r.findings.len(), "vulnerability", "vulnerabilities"),
            r.patched.len(),
            r.whitelisted.len()
        )?;
    }
    writeln!(out)
}

/// `1 package has`, `2 packages have`.
fn count_has(n: usize) -> String {
    format!("{} {}", count(n, "package", "packages"), number(n, "has", "have"))
}

fn write_human(report: &VulnsReport, fail_on: Option<Level>, out: &mut impl Write) -> io::Result<()> {
    write_list("vulnerable", &report.findings, out)?;
    write_list("patched (a patch names the id)", &report.patched, out)?;
    write_list("whitelisted", &report.whitelisted, out)?;
    write_by_root(report, out)?;
    if let Some(level) = fail_on {
        let failing = report.failing(Some(level)).count();
        writeln!(
            out,
            "{failing} of {} at or above --fail-on {} (the others do not fail the scan)",
            count(report.findings.len(), "vulnerability", "vulnerabilities"),
            format!("{level:?}").to_lowercase()
        )?;
    }
    let components = |l: &[Finding]| {
        let n = l.iter().map(|f| f.components.len()).sum::<usize>();
        count(n, "component", "components")
    };
    writeln!(
        out,
        "{} in {}; {} patched, {} whitelisted",
        count(report.findings.len(), "vulnerability", "vulnerabilities"),
        components(&report.findings),
        components(&report.patched),
        components(&report.whitelisted)
    )?;
    let db = &report.database;
    writeln!(
        out,
        "scanned {} of {} against {} from {} (skipped {} and {}; index {})",
        count(report.scanned, "package", "packages"),
        count(report.derivations, "derivation", "derivations"),
        count(db.advisories, "advisory", "advisories"),
        count(db.files, "file", "files"),
        count(db.rejected, "rejected CVE", "rejected CVEs"),
        count(db.withdrawn, "withdrawn record", "withdrawn records"),
        if db.reused { "reused" } else { "rebuilt" }
    )?;
    let osv_only = report.without_cpe.saturating_sub(report.unidentified.len());
    if osv_only > 0 {
        writeln!(
            out,
            "{} no CPE identity: only OSV (by registry package or repository) could match {}",
            count_has(osv_only),
            number(osv_only, "it", "them")
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
            "{} no CPE identity, registry package or repository and {} not checked: {}{}",
            count_has(report.unidentified.len()),
            number(report.unidentified.len(), "was", "were"),
            names.join(", "),
            if more > 0 { format!(" (+{more}; --json lists all, --identities adds them)") } else { String::new() }
        )?;
    }
    out.flush()
}
