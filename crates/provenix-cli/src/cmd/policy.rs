//! `provenix policy check`: enough independent, trusted reviewers per source?

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use provenix_core::review::check_cache::CheckCache;
use provenix_core::review::policy::{Policy, PolicyReport, Status, check, check_remembering};
use provenix_core::review::record::load_dirs;
use provenix_core::review::sarif::to_sarif;
use provenix_core::sources::{SourcesOptions, sources};
use provenix_store::fs::write_atomic;

use super::cache_dir;
use super::escape_controls;
use super::roots::{RootArgs, open_db};
use super::vulns::today;
use crate::cli::{Ctx, Outcome, after_printing, print_json};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Check every source of the roots' closure against a review policy: exit 1 when it is not met.
    ///
    /// The policy (TOML, docs/review.md) names the trusted reviewers with their keys and groups, how
    /// many independent reviewers each kind of source needs and at what level, and exemptions with a
    /// reason and expiry. Each source is `reviewed`, `under-reviewed` (who reviewed, what is missing),
    /// `unreviewed` or `exempt`. Records signed by keys the policy does not name are reported, never
    /// counted; a record whose signature by a policy key does not verify is an error naming the file.
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    #[command(flatten)]
    roots: RootArgs,
    /// The policy file (TOML).
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// A directory of review files (`*.json`, searched recursively; repeatable).
    #[arg(long, value_name = "DIR")]
    reviews: Vec<PathBuf>,
    /// Also write the verdicts as SARIF 2.1.0.
    #[arg(long, value_name = "FILE")]
    sarif: Option<PathBuf>,
    /// Check every signature afresh: neither read nor update the cache of signature checks
    /// that succeeded before (`$XDG_CACHE_HOME/provenix/review-checks`, else
    /// `~/.cache/provenix/review-checks`; docs/review.md).
    #[arg(long)]
    no_cache: bool,
}

pub(crate) fn run(cmd: &Command, ctx: &Ctx) -> anyhow::Result<Outcome> {
    match cmd {
        Command::Check(a) => run_check(a, ctx),
    }
}

/// The file of remembered signature checks in the user's cache directory.
const CHECK_CACHE_FILE: &str = "review-checks";

fn run_check(args: &CheckArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let policy = Policy::load(&args.policy)?;
    let records = load_dirs(&args.reviews)?;
    let db = open_db(ctx)?;
    let roots = args.roots.resolve(ctx, db.as_ref())?;
    let options = SourcesOptions { mirrors: args.roots.mirror_table()?, why: false, top: 0 };
    let inventory = sources(&ctx.store, db.as_ref(), &roots, &options)?;
    let cache_path = if args.no_cache { None } else { cache_dir().map(|d| d.join(CHECK_CACHE_FILE)) };
    let mut cache = cache_path.as_deref().map(CheckCache::load).unwrap_or_default();
    let report = if args.no_cache {
        check(&policy, &inventory.sources, &records, today())?
    } else {
        check_remembering(&policy, &inventory.sources, &records, today(), &mut cache)?
    };
    if let Some(path) = &cache_path
        && let Err(e) = cache.save(path)
        && !ctx.quiet
    {
        // A cache that cannot be written only costs time next run.
        eprintln!("warning: not caching signature checks: {:#}", anyhow::Error::new(e));
    }
    if let Some(path) = &args.sarif {
        let mut bytes = serde_json::to_vec_pretty(&to_sarif(&report, env!("CARGO_PKG_VERSION")))?;
        bytes.push(b'\n');
        write_atomic(path, &bytes, 0o644, true).with_context(|| format!("writing SARIF {}", path.display()))?;
    }
    if !ctx.quiet {
        for u in &report.unknown_key_records {
            eprintln!(
                "warning: {} is signed by {}, which the policy does not name; not counted",
                u.file,
                if u.key_ids.is_empty() { "no named key".to_owned() } else { u.key_ids.join(", ") }
            );
        }
    }
    let outcome = if report.passed { Outcome::Ok } else { Outcome::Failed };
    let printed = if ctx.json {
        print_json(&report)
    } else {
        write_human(&report, &mut BufWriter::new(io::stdout().lock())).map_err(Into::into)
    };
    std::mem::forget((inventory, records));
    after_printing(outcome, printed)
}

fn write_human(report: &PolicyReport, out: &mut impl Write) -> io::Result<()> {
    for v in &report.sources {
        writeln!(out, "{:<15} {:<9} {}", v.status.as_str(), v.kind.as_str(), escape_controls(&v.name))?;
        if !v.counted_reviewers.is_empty() {
            writeln!(
                out,
                "    counted: {} (groups: {}; {} needed)",
                v.counted_reviewers.join(", "),
                v.counted_groups.join(", "),
                v.required.reviewers
            )?;
        }
        if v.status == Status::Reviewed {
            continue;
        }
        for r in v.reviews.iter().filter(|r| !r.counted) {
            let why = r.why_not.as_deref().unwrap_or("");
            writeln!(
                out,
                "    not counted: {} ({}) {}: {why}  [{}]",
                r.reviewer,
                r.group,
                r.scope,
                escape_controls(&r.file)
            )?;
        }
        for f in &v.unknown_key_reviews {
            writeln!(out, "    not counted: signed by a key the policy does not name  [{}]", escape_controls(f))?;
        }
        for e in &v.expired_exemptions {
            let until = e.until.map(|d| d.to_string()).unwrap_or_default();
            writeln!(out, "    exemption expired on {until}: {}", escape_controls(&e.reason))?;
        }
        if let Some(e) = &v.exemption {
            writeln!(out, "    exempt: {}", escape_controls(&e.reason))?;
        }
        if let Some(m) = &v.missing {
            writeln!(out, "    missing: {m}")?;
        }
    }
    let s = &report.summary;
    writeln!(
        out,
        "\n{}: {} sources, {} reviewed, {} exempt, {} under-reviewed, {} unreviewed ({} review records, {} by unknown keys)",
        if report.passed { "policy met" } else { "policy NOT met" },
        s.sources,
        s.reviewed,
        s.exempt,
        s.under_reviewed,
        s.unreviewed,
        s.records,
        s.unknown_key_records
    )?;
    out.flush()
}
