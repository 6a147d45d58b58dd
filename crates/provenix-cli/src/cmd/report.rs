//! `provenix report`: submit build reports to a rebuild transparency log,
//! check the receipts, and say how each build compares with the other
//! builders'. Four modes: rebuild attestations (positional), local outputs
//! (`--path`), Nix's post-build hook (`--post-build-hook`, from `DRV_PATH` and
//! `OUT_PATHS`; never fails the build, spools when the log is down), and
//! `--flush` of the spool. docs/log.md ("Client") has the details.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use provenix_core::log::check::LogClient;
use provenix_core::log::report::entries_from_attestation;
use provenix_core::log::spool::Spool;
use provenix_core::log::submit::{
    Agreement, Comparison, Submitted, Submitter, check_receipt, compare, report_for_output, valid_outputs,
};
use provenix_formats::hash::Hash;
use provenix_formats::log::report::{Entry, Report};
use provenix_formats::signature::{PublicKey, SecretKey, TrustedKeys};
use provenix_store::Store;
use serde::Serialize;

use super::escape_controls;
use crate::cli::{Ctx, Outcome, after_printing, error_text, print_json};

/// Longest `--timeout`.
const MAX_TIMEOUT_SECS: u64 = 3600;
/// The whole run's time limit without `--timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The hook's time limit without `--timeout`: a build waits for it.
const HOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for one TCP connection (the hook: a dead server must not hold a build).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const HOOK_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// `provenix report` arguments.
#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("what").required(true).args(["attestations", "path", "post_build_hook", "flush"])
))]
pub(crate) struct Args {
    /// Rebuild attestations (DSSE, from `provenix rebuild --attest-key`) to submit, one report per
    /// subject. --key is then the key that signed them (secret or public).
    #[arg(value_name = "ATTESTATION")]
    attestations: Vec<PathBuf>,
    /// Report local outputs (store paths, or `result` links): deriver and output name from the Nix
    /// database, NAR sha256 and size computed from the files under --store.
    #[arg(long, value_name = "OUTPUT", num_args = 1.., conflicts_with = "attestations")]
    path: Vec<String>,
    /// Run as Nix's post-build-hook: report the outputs of $DRV_PATH ($OUT_PATHS). Always exits 0;
    /// within --timeout (5 s); spools the signed reports when the log cannot be reached, and
    /// flushes the spool when it can. The store is --store, else the `store` of $NIX_CONFIG.
    #[arg(long, conflicts_with_all = ["attestations", "path", "flush"])]
    post_build_hook: bool,
    /// Send the reports spooled by the hook (oldest first, within --timeout).
    #[arg(long, conflicts_with_all = ["attestations", "path"])]
    flush: bool,
    /// The log server's URL.
    #[arg(long, value_name = "URL", env = "PROVENIX_REPORT_SERVER", hide_env_values = true)]
    server: Option<String>,
    /// The builder's secret key (Nix format, a file or `name:base64`); the report names its key name.
    #[arg(long, value_name = "KEY", env = "PROVENIX_REPORT_KEY", hide_env_values = true)]
    key: Option<String>,
    /// The log's public key: checkpoints must be signed by it, with its name as origin. Without it
    /// the inclusion proof is checked but the checkpoint is not authenticated (said in the output).
    #[arg(long, value_name = "PUB", env = "PROVENIX_REPORT_LOG_KEY", hide_env_values = true)]
    trust_log_key: Option<String>,
    /// Where undelivered reports wait (default $XDG_STATE_HOME/provenix/report-spool, else
    /// ~/.local/state/provenix/report-spool, else /var/lib/provenix/report-spool).
    #[arg(long, value_name = "DIR", env = "PROVENIX_REPORT_SPOOL", hide_env_values = true)]
    spool: Option<PathBuf>,
    /// Time limit for the whole run, in seconds (default 30; with --post-build-hook 5).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    timeout: Option<u64>,
    /// Space-separated output paths (Nix sets it for the hook).
    #[arg(long, env = "OUT_PATHS", hide = true)]
    out_paths: Option<String>,
    /// The derivation built (Nix sets it for the hook).
    #[arg(long, env = "DRV_PATH", hide = true)]
    drv_path: Option<String>,
    /// Nix's settings as `key = value` lines (Nix sets it for the hook).
    #[arg(long, env = "NIX_CONFIG", hide = true)]
    nix_config: Option<String>,
}

/// What `report` did, as printed.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportDoc {
    server: String,
    /// The log key's name when checkpoints were authenticated with --trust-log-key.
    log_key: Option<String>,
    reports: Vec<Reported>,
    /// Spooled entries still waiting after this run.
    spool_left: usize,
    warnings: Vec<String>,
}

/// One report and what became of it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Reported {
    /// `build` (--path or the hook), `attestation`, or `spool` (sent by a flush).
    source: &'static str,
    path: String,
    drv: String,
    output: String,
    /// `sha256:<nixbase32>`.
    nar_hash: String,
    nar_size: Option<u64>,
    builder: String,
    /// `logged`, `spooled` (kept for later) or `refused` (by the server; see `error`).
    status: &'static str,
    index: Option<u64>,
    tree_size: Option<u64>,
    /// `verified` (inclusion proof and, with --trust-log-key, checkpoint signature), `failed`, or null.
    receipt: Option<&'static str>,
    /// True when the checkpoint's signature was checked with --trust-log-key.
    checkpoint_authenticated: bool,
    comparison: Option<Comparison>,
    /// The `provenix diff-output` command to see what differs, when something does.
    diff_output: Option<String>,
    error: Option<String>,
    spool_file: Option<String>,
}

impl Reported {
    fn new(source: &'static str, report: &Report) -> Reported {
        Reported {
            source,
            path: report.path.clone(),
            drv: report.drv.clone(),
            output: report.output.clone(),
            nar_hash: report.nar_hash().to_prefixed_nixbase32(),
            nar_size: report.nar_size,
            builder: report.builder.clone(),
            status: "logged",
            index: None,
            tree_size: None,
            receipt: None,
            checkpoint_authenticated: false,
            comparison: None,
            diff_output: None,
            error: None,
            spool_file: None,
        }
    }
}

/// The checked settings of one run.
struct Run<'a> {
    ctx: &'a Ctx,
    submitter: Submitter,
    lookup: LogClient,
    log_key: Option<PublicKey>,
    deadline: Instant,
    doc: ReportDoc,
}

pub(crate) fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<Outcome> {
    if args.post_build_hook {
        let started = Instant::now();
        if let Err(err) = hook(args, ctx, started) {
            eprintln!("provenix report: warning: {} (the build is not affected)", error_text(&err));
        }
        return Ok(Outcome::Ok);
    }
    let timeout = args.timeout.map_or(DEFAULT_TIMEOUT, Duration::from_secs);
    let mut run = Run::new(args, ctx, timeout, CONNECT_TIMEOUT)?;
    if args.flush {
        let spool = Spool::open(&spool_dir(args)?)?;
        run.flush(&spool)?;
    } else if !args.path.is_empty() {
        let key = builder_key(args)?;
        let db = super::roots::open_db(ctx)?.context("no Nix database for the store (give --db FILE)")?;
        let nix_version = nix_version();
        for arg in &args.path {
            let path = output_path(ctx, arg)?;
            let report = report_for_output(&ctx.store, &db, &path, None, key.name(), &nix_version)
                .with_context(|| format!("--path {arg}"))?;
            let entry = report.sign(&key).context("signing the report")?;
            let bytes = entry.to_bytes();
            let submitted = run.submitter.submit_entry(&bytes, run.deadline)?;
            run.logged(Reported::new("build", &entry.report), &bytes, &submitted);
        }
    } else {
        let trusted = attestation_key(args)?;
        for file in &args.attestations {
            run.attestation(file, &trusted)?;
        }
    }
    let failed = run.doc.reports.iter().any(|r| r.receipt == Some("failed"));
    let printed = if ctx.json { print_json(&run.doc) } else { print_text(&run.doc, ctx) };
    if failed {
        eprintln!("error: a receipt from the log does not verify: the log did not prove it holds the report");
    }
    after_printing(if failed { Outcome::Failed } else { Outcome::Ok }, printed)
}

impl<'a> Run<'a> {
    fn new(args: &Args, ctx: &'a Ctx, timeout: Duration, connect: Duration) -> anyhow::Result<Run<'a>> {
        let server =
            args.server.as_deref().context("no log server: give --server URL (or set PROVENIX_REPORT_SERVER)")?;
        let log_key =
            args.trust_log_key.as_deref().map(super::key::load_public_key).transpose().context("--trust-log-key")?;
        let submitter = Submitter::new(server, connect).context("--server")?;
        let lookup = LogClient::new(server, connect.min(timeout)).context("--server")?;
        let doc = ReportDoc {
            server: submitter.base().to_owned(),
            log_key: log_key.as_ref().map(|k| k.name().to_owned()),
            ..ReportDoc::default()
        };
        Ok(Run { ctx, submitter, lookup, log_key, deadline: Instant::now() + timeout, doc })
    }

    /// Checks a receipt for `entry`, compares with the log, and records the result.
    fn logged(&mut self, mut r: Reported, entry: &[u8], submitted: &Submitted) {
        r.index = Some(submitted.index);
        match check_receipt(entry, &submitted.receipt, self.log_key.as_ref()) {
            Ok(check) => {
                r.tree_size = Some(check.tree_size);
                r.receipt = Some("verified");
                r.checkpoint_authenticated = check.authenticated;
            }
            Err(e) => {
                r.receipt = Some("failed");
                r.error = Some(format!("the receipt does not verify: {}", error_text(&anyhow::Error::new(e))));
            }
        }
        if Instant::now() < self.deadline {
            match self.lookup.lookup(&r.path) {
                Ok(lookup) => {
                    let output = lookup.outputs.iter().find(|o| o.path == r.path);
                    let comparison = compare(output, &r.builder, &r.nar_hash);
                    if comparison.agreement == Agreement::Differs {
                        r.diff_output = Some(diff_output_command(self.ctx, &r.path, &comparison));
                    }
                    r.comparison = Some(comparison);
                }
                Err(e) => self.doc.warnings.push(format!(
                    "{}: could not compare with the log: {}",
                    r.path,
                    error_text(&anyhow::Error::new(e))
                )),
            }
        }
        self.doc.reports.push(r);
    }

    fn attestation(&mut self, file: &Path, trusted: &TrustedKeys) -> anyhow::Result<()> {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let entries = entries_from_attestation(&bytes, trusted, self.ctx.store.dir())
            .with_context(|| format!("{}", file.display()))?;
        let submitted = self
            .submitter
            .submit_attestation(&bytes, self.deadline)
            .with_context(|| format!("submitting {}", file.display()))?;
        anyhow::ensure!(
            submitted.len() == entries.len(),
            "{}: the log answered {} receipts for {} subjects",
            file.display(),
            submitted.len(),
            entries.len()
        );
        for (checked, s) in entries.iter().zip(&submitted) {
            let entry = checked.entry();
            self.logged(Reported::new("attestation", &entry.report), &entry.to_bytes(), s);
        }
        Ok(())
    }

    /// Sends spooled entries oldest first until the spool is empty, the log
    /// is unreachable, or the deadline passes. Refused entries go to `rejected/`.
    fn flush(&mut self, spool: &Spool) -> anyhow::Result<()> {
        let Some(_lock) = spool.try_lock_flush()? else {
            self.doc.warnings.push(format!("{}: another run is flushing it", spool.dir().display()));
            self.doc.spool_left = spool.pending()?.len();
            return Ok(());
        };
        let pending = spool.pending()?;
        let mut left = pending.len();
        for file in &pending {
            if Instant::now() >= self.deadline {
                break;
            }
            let bytes = spool.read(file)?;
            let entry = match Entry::parse(&bytes, self.ctx.store.dir()) {
                Ok(e) => e,
                Err(e) => {
                    let to = spool.reject(file)?;
                    left -= 1;
                    self.doc.warnings.push(format!(
                        "{}: not a report ({}); moved to {}",
                        file.display(),
                        error_text(&anyhow::Error::new(e)),
                        to.display()
                    ));
                    continue;
                }
            };
            match self.submitter.submit_entry(&bytes, self.deadline) {
                Ok(s) => {
                    spool.remove(file)?;
                    left -= 1;
                    self.logged(Reported::new("spool", &entry.report), &bytes, &s);
                }
                Err(e) if e.is_transient() => {
                    self.doc
                        .warnings
                        .push(format!("flushing the spool stopped: {}", error_text(&anyhow::Error::new(e))));
                    break;
                }
                Err(e) => {
                    let to = spool.reject(file)?;
                    left -= 1;
                    let mut r = Reported::new("spool", &entry.report);
                    r.status = "refused";
                    r.error = Some(format!("{}; moved to {}", error_text(&anyhow::Error::new(e)), to.display()));
                    self.doc.reports.push(r);
                }
            }
        }
        self.doc.spool_left = left;
        Ok(())
    }
}

/// The post-build hook. Any error is the caller's one-line warning; the build goes on.
fn hook(args: &Args, ctx: &Ctx, started: Instant) -> anyhow::Result<()> {
    let timeout = args.timeout.map_or(HOOK_TIMEOUT, Duration::from_secs);
    // `nix-store --version` takes tens of milliseconds: ask while the rest is set up.
    let version = std::thread::spawn(nix_version);
    let drv_arg = args
        .drv_path
        .as_deref()
        .filter(|d| !d.is_empty())
        .context("DRV_PATH is not set: --post-build-hook is meant to be Nix's post-build-hook (see docs/log.md)")?;
    let store = hook_store(ctx, args.nix_config.as_deref());
    let ctx = Ctx { json: ctx.json, quiet: ctx.quiet, store, db: ctx.db.clone(), color: false };
    let mut run = Run::new(args, &ctx, timeout, HOOK_CONNECT_TIMEOUT)?;
    let key = builder_key(args)?;
    let spool = Spool::open(&spool_dir(args)?)?;
    let db = super::roots::open_db(&ctx)?.context("no Nix database for the store (give --db FILE)")?;
    let drv = ctx.store.parse_user_path(drv_arg).with_context(|| format!("DRV_PATH {drv_arg}"))?;
    let listed: Vec<&str> = args.out_paths.as_deref().unwrap_or_default().split_whitespace().collect();
    let outputs = if listed.is_empty() {
        valid_outputs(&ctx.store, &db, &drv)?
    } else {
        let parse = |p: &&str| ctx.store.parse_user_path(p).with_context(|| format!("OUT_PATHS {p}"));
        listed.iter().map(parse).collect::<anyhow::Result<Vec<_>>>()?
    };
    let nix_version = version.join().unwrap_or_else(|_| "unknown".to_owned());
    let mut reachable = true;
    for path in &outputs {
        let report = report_for_output(&ctx.store, &db, path, Some(&drv), key.name(), &nix_version)?;
        let entry = report.sign(&key).context("signing the report")?;
        let bytes = entry.to_bytes();
        let sent = if reachable { Some(run.submitter.submit_entry(&bytes, run.deadline)) } else { None };
        match sent {
            Some(Ok(s)) => run.logged(Reported::new("build", &entry.report), &bytes, &s),
            Some(Err(e)) if !e.is_transient() => {
                let mut r = Reported::new("build", &entry.report);
                r.status = "refused";
                r.error = Some(error_text(&anyhow::Error::new(e)));
                run.doc.reports.push(r);
            }
            other => {
                if let Some(Err(e)) = other {
                    run.doc.warnings.push(format!("log unreachable: {}", error_text(&anyhow::Error::new(e))));
                    reachable = false;
                }
                let file = spool.push(&bytes)?;
                let mut r = Reported::new("build", &entry.report);
                r.status = "spooled";
                r.spool_file = Some(file.display().to_string());
                run.doc.reports.push(r);
            }
        }
    }
    if reachable {
        // This build's reports are out; a broken spool only costs a warning.
        if let Err(e) = run.flush(&spool) {
            run.doc.warnings.push(format!("flushing the spool: {}", error_text(&e)));
        }
    } else {
        run.doc.spool_left = spool.pending()?.len();
    }
    print_hook(&run.doc, started.elapsed())
}

/// The store a hook reads: --store, else the `store` setting Nix passes in
/// `NIX_CONFIG` when it is a local store with a root (`/path` or `local?root=/path`).
fn hook_store(ctx: &Ctx, nix_config: Option<&str>) -> Store {
    if ctx.store.root().is_some() {
        return ctx.store.clone();
    }
    let setting = nix_config
        .into_iter()
        .flat_map(str::lines)
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == "store")
        .map(|(_, v)| v.trim());
    let root = setting.and_then(|s| {
        if s.starts_with('/') {
            Some(s)
        } else {
            let params = s.strip_prefix("local?")?;
            params.split('&').find_map(|p| p.strip_prefix("root="))
        }
    });
    match root.map(PathBuf::from).filter(|r| r.join("nix/store").is_dir()) {
        Some(root) => Store::new(ctx.store.dir().clone(), Some(root)),
        None => ctx.store.clone(),
    }
}

fn builder_key(args: &Args) -> anyhow::Result<SecretKey> {
    let arg = args.key.as_deref().context("no builder key: give --key KEY (or set PROVENIX_REPORT_KEY)")?;
    super::key::load_secret_key(arg).context("--key (the builder's secret key, as `key generate` writes it)")
}

/// The key that signed the attestations, for deriving their entries: a secret key's public half,
/// or a public key.
fn attestation_key(args: &Args) -> anyhow::Result<TrustedKeys> {
    let arg = args.key.as_deref().context("no builder key: give --key KEY (the key that signed the attestations)")?;
    let key = match super::key::load_secret_key(arg) {
        Ok(secret) => secret.to_public(),
        Err(_) => super::key::load_public_key(arg).context("--key")?,
    };
    let mut trusted = TrustedKeys::new();
    trusted.insert(key);
    Ok(trusted)
}

fn spool_dir(args: &Args) -> anyhow::Result<PathBuf> {
    if let Some(dir) = &args.spool {
        return Ok(dir.clone());
    }
    Ok(super::state_dir().unwrap_or_else(|| PathBuf::from("/var/lib/provenix")).join("report-spool"))
}

/// A `--path` argument as a store path: a logical or physical store path, or a link to one.
fn output_path(ctx: &Ctx, arg: &str) -> anyhow::Result<provenix_formats::store_path::StorePath> {
    let p = Path::new(arg);
    let is_link = std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink());
    let text = if is_link && ctx.store.parse_user_path_prefix(arg).is_none() {
        let target = std::fs::read_link(p).with_context(|| format!("--path {arg}: reading the link"))?;
        target.to_string_lossy().into_owned()
    } else {
        arg.to_owned()
    };
    let path = ctx.store.parse_user_path(&text).with_context(|| format!("--path {arg}"))?;
    let physical = ctx.store.physical(&path);
    anyhow::ensure!(
        physical.symlink_metadata().is_ok(),
        "--path {arg}: {} does not exist (not built, or another --store?)",
        physical.display()
    );
    Ok(path)
}

/// `nix-store --version`'s version number, or `unknown` when Nix cannot be run.
fn nix_version() -> String {
    let out = std::process::Command::new("nix-store").arg("--version").stdin(std::process::Stdio::null()).output();
    let text = out.ok().filter(|o| o.status.success()).map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    text.as_deref()
        .and_then(|t| t.split_whitespace().last())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("unknown")
        .to_owned()
}

/// `sha256:<nixbase32>` as SRI (`sha256-<base64>`), the form `nix path-info` prints.
fn sri(nar_hash: &str) -> String {
    Hash::parse(nar_hash, None).map(|h| h.to_sri()).unwrap_or_else(|_| nar_hash.to_owned())
}

/// The file name suggested for the NAR of the first builder that differs.
fn other_nar(c: &Comparison) -> (String, String) {
    let other = c.differing_builders().into_iter().next().unwrap_or_default();
    let nar = format!("{}.nar", other.replace(|ch: char| !ch.is_ascii_alphanumeric() && ch != '-', "_"));
    (other, nar)
}

fn diff_output_command(ctx: &Ctx, path: &str, c: &Comparison) -> String {
    let (_, nar) = other_nar(c);
    format!("provenix{} diff-output {path} {nar}", super::roots::store_flag(ctx))
}

fn builders(list: &[String]) -> String {
    list.iter().map(|b| escape_controls(b)).collect::<Vec<_>>().join(", ")
}

/// The lines about one report.
fn describe(r: &Reported) -> Vec<String> {
    let mut lines = Vec::new();
    let head = format!("{} ({})", escape_controls(&r.path), escape_controls(&r.output));
    match r.status {
        "spooled" => lines.push(format!(
            "{head}: log unreachable, report spooled to {}",
            escape_controls(r.spool_file.as_deref().unwrap_or(""))
        )),
        "refused" => lines.push(format!("{head}: REFUSED: {}", escape_controls(r.error.as_deref().unwrap_or("")))),
        _ => {
            let receipt = match (r.receipt, r.checkpoint_authenticated) {
                (Some("verified"), true) => "receipt verified, checkpoint signed by the log key".to_owned(),
                (Some("verified"), false) => {
                    "inclusion proof verified; checkpoint NOT authenticated (no --trust-log-key)".to_owned()
                }
                _ => format!("RECEIPT FAILED: {}", escape_controls(r.error.as_deref().unwrap_or(""))),
            };
            let at = match (r.index, r.tree_size) {
                (Some(i), Some(size)) => format!("logged as #{i} of {size}"),
                (Some(i), None) => format!("logged as #{i}"),
                _ => "logged".to_owned(),
            };
            lines.push(format!("{head}: {at}, {receipt}"));
            if let Some(c) = &r.comparison {
                lines.extend(describe_comparison(r, c));
            }
        }
    }
    lines
}

fn describe_comparison(r: &Reported, c: &Comparison) -> Vec<String> {
    let n = |k: usize| super::count(k, "builder", "builders");
    match c.agreement {
        Agreement::First => vec!["  no other builder has reported this output yet".to_owned()],
        Agreement::Matches => vec![format!("  matches {}: {}", n(c.matching.len()), builders(&c.matching))],
        Agreement::Differs => {
            let others: Vec<String> = c
                .differing
                .iter()
                .map(|h| format!("{} ({})", escape_controls(&sri(&h.nar_hash)), builders(&h.builders)))
                .collect();
            let mut lines = vec![format!(
                "  DIFFERS from {}: {} (this build) vs {}",
                n(c.differing_builders().len()),
                sri(&r.nar_hash),
                others.join(", ")
            )];
            if !c.matching.is_empty() {
                lines.push(format!("  (matches {}: {})", n(c.matching.len()), builders(&c.matching)));
            }
            if let Some(cmd) = &r.diff_output {
                let (other, nar) = other_nar(c);
                lines.push(format!(
                    "  to see what differs, get {}'s output as a NAR (there: nix-store --dump {} > {}) and run:",
                    escape_controls(&other),
                    escape_controls(&r.path),
                    escape_controls(&nar)
                ));
                lines.push(format!("    {}", escape_controls(cmd)));
            }
            lines
        }
    }
}

fn print_text(doc: &ReportDoc, ctx: &Ctx) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for r in &doc.reports {
        for line in describe(r) {
            writeln!(out, "{line}")?;
        }
    }
    if doc.reports.is_empty() {
        writeln!(out, "nothing to send")?;
    }
    if doc.spool_left > 0 {
        writeln!(out, "{} still spooled", super::count(doc.spool_left, "report", "reports"))?;
    }
    out.flush()?;
    if !ctx.quiet {
        for w in &doc.warnings {
            eprintln!("warning: {}", escape_controls(w));
        }
    }
    Ok(())
}

/// The hook's output: every line prefixed, so it reads clearly in a build log.
fn print_hook(doc: &ReportDoc, took: Duration) -> anyhow::Result<()> {
    let mut err = std::io::stderr().lock();
    for r in &doc.reports {
        for line in describe(r) {
            writeln!(err, "provenix report: {line}")?;
        }
    }
    for w in &doc.warnings {
        writeln!(err, "provenix report: warning: {}", escape_controls(w))?;
    }
    if doc.spool_left > 0 {
        writeln!(err, "provenix report: {} spooled for later", super::count(doc.spool_left, "report", "reports"))?;
    }
    writeln!(err, "provenix report: done in {} ms", took.as_millis())?;
    Ok(())
}
