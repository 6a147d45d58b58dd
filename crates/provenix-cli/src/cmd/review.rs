//! `provenix review sign|list`: signed reviews of sources.

use std::collections::HashMap;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use provenix_core::fod::SourceKind;
use provenix_core::identity::{parse_drv_name, urls::strip_archive};
use provenix_core::review::record::{Level, LoadedRecord, Review, Scope, SourceRef, content_digest, load_dirs};
use provenix_core::sources::{Source, SourcesOptions, sources};
use provenix_store::db::NixDb;
use provenix_store::fs::write_atomic;
use serde::Serialize;

use super::escape_controls;
use super::key::{load_secret_key, load_trusted_keys};
use super::roots::{RootArgs, open_db};
use crate::cli::{Ctx, Outcome, after_printing, print_json};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Sign a review of a source: an in-toto statement in a DSSE envelope (docs/review.md).
    ///
    /// SOURCE is a fixed-output derivation (its `.drv`, its output path, or a Nix file with -A). The
    /// review is bound to the source's content: its declared hash (sha256 of the file for a flat
    /// source, of the NAR for a recursive one), with name, version and URLs.
    Sign(SignArgs),
    /// Show the reviews (from --reviews directories) that apply to each source of the roots' closure.
    List(ListArgs),
}

fn level(s: &str) -> Result<Level, String> {
    Level::from_name(s).ok_or_else(|| "one of none, low, medium, high".to_owned())
}

#[derive(Debug, clap::Args)]
pub(crate) struct SignArgs {
    /// The reviewed source.
    #[command(flatten)]
    source: RootArgs,
    /// The reviewer's secret key (a file, or the `name:base64` string).
    #[arg(long, value_name = "KEY")]
    key: String,
    /// How thoroughly you reviewed it.
    #[arg(long, value_parser = level, value_name = "none|low|medium|high")]
    level: Level,
    /// How well you understood it.
    #[arg(long, value_parser = level, value_name = "none|low|medium|high")]
    understanding: Level,
    /// Free text.
    #[arg(long, value_name = "TEXT")]
    comment: Option<String>,
    /// Only these files were reviewed (globs, repeatable).
    #[arg(long, value_name = "GLOB", num_args = 1.., conflicts_with = "diff_from")]
    files: Vec<String>,
    /// Only the change from this older source was reviewed (a delta review).
    #[arg(long, value_name = "OLD_SOURCE")]
    diff_from: Option<String>,
    /// Write the record here (default: stdout).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    roots: RootArgs,
    /// A directory of review files (`*.json`, searched recursively; repeatable).
    #[arg(long, value_name = "DIR", required = true)]
    reviews: Vec<PathBuf>,
    /// Check signatures with these public keys (repeatable); without, signers are shown unverified.
    #[arg(long, value_name = "PUB")]
    trust_key: Vec<String>,
}

pub(crate) fn run(cmd: &Command, ctx: &Ctx) -> anyhow::Result<Outcome> {
    match cmd {
        Command::Sign(a) => sign(a, ctx),
        Command::List(a) => list(a, ctx),
    }
}

/// A source's version as `identity` reads it: none for a patch, else from the name without
/// its archive extension.
fn version_of(s: &Source) -> Option<String> {
    (s.kind != SourceKind::Patch).then(|| parse_drv_name(strip_archive(&s.name)).1.map(str::to_owned)).flatten()
}

/// The source a root argument names: the fixed-output derivation itself.
fn resolve_source(ctx: &Ctx, db: Option<&NixDb>, roots: &RootArgs, arg: &str) -> anyhow::Result<SourceRef> {
    let one = roots.only(arg);
    let drvs = one.resolve(ctx, db)?;
    let [drv] = drvs.as_slice() else {
        anyhow::bail!("source `{arg}` stands for {} derivations; name one fixed-output derivation", drvs.len());
    };
    let options = SourcesOptions { mirrors: roots.mirror_table()?, why: false, top: 0 };
    let report = sources(&ctx.store, db, std::slice::from_ref(drv), &options)?;
    let path = ctx.store.dir().display(drv);
    let Some(s) = report.sources.into_iter().find(|s| s.drv_path == path) else {
        anyhow::bail!(
            "`{arg}` ({path}) is not a fixed-output derivation (a source); `provenix sources {arg}` lists the sources of its closure"
        );
    };
    let version = version_of(&s);
    let source = SourceRef {
        name: s.name,
        version,
        kind: s.kind.as_str().to_owned(),
        urls: s.urls,
        mode: s.mode.to_owned(),
        hash: s.hash,
    };
    source.content_digest().with_context(|| format!("source `{arg}`"))?;
    Ok(source)
}

fn sign(args: &SignArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let [arg] = args.source.roots.as_slice() else {
        anyhow::bail!("review sign takes one SOURCE; {} given", args.source.roots.len());
    };
    let key = load_secret_key(&args.key)?;
    let db = open_db(ctx)?;
    let source = resolve_source(ctx, db.as_ref(), &args.source, arg)?;
    let scope = match (&args.diff_from, args.files.is_empty()) {
        (Some(old), _) => Scope::Delta(resolve_source(ctx, db.as_ref(), &args.source, old)?),
        (None, false) => Scope::Files(args.files.clone()),
        (None, true) => Scope::Whole,
    };
    let review =
        Review { source, scope, level: args.level, understanding: args.understanding, comment: args.comment.clone() };
    let bytes = review.sign(&key).context("making the review record")?;
    match &args.output {
        Some(path) => {
            write_atomic(path, &bytes, 0o644, false).with_context(|| format!("writing review {}", path.display()))?;
            if !ctx.quiet {
                eprintln!(
                    "review of {} ({}) by {} written to {}",
                    review.source.name,
                    review.scope.as_str(),
                    key.name(),
                    path.display()
                );
            }
        }
        None => {
            let mut out = io::stdout().lock();
            let printed = out.write_all(&bytes).and_then(|()| out.flush());
            return after_printing(Outcome::Ok, printed.map_err(Into::into));
        }
    }
    Ok(Outcome::Ok)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListedReview<'a> {
    file: String,
    key_ids: Vec<String>,
    /// With --trust-key: the trusted keys whose signatures verify.
    #[serde(skip_serializing_if = "Option::is_none")]
    verified_by: Option<Vec<String>>,
    scope: &'static str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    files: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<&'a SourceRef>,
    level: Level,
    understanding: Level,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListedSource<'a> {
    drv_path: &'a str,
    name: &'a str,
    kind: SourceKind,
    hash: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unreviewable: Option<String>,
    reviews: Vec<ListedReview<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListReport<'a> {
    records: usize,
    /// Records about bytes that are not in this closure.
    unmatched_records: usize,
    sources: Vec<ListedSource<'a>>,
}

fn list(args: &ListArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let db = open_db(ctx)?;
    let trusted = if args.trust_key.is_empty() { None } else { Some(load_trusted_keys(&args.trust_key)?) };
    let records = load_dirs(&args.reviews)?;
    let roots = args.roots.resolve(ctx, db.as_ref())?;
    let options = SourcesOptions { mirrors: args.roots.mirror_table()?, why: false, top: 0 };
    let report = sources(&ctx.store, db.as_ref(), &roots, &options)?;
    let mut by_digest: HashMap<String, Vec<&LoadedRecord>> = HashMap::new();
    for r in &records {
        by_digest.entry(r.record.digest.to_string()).or_default().push(r);
    }
    let mut matched = std::collections::HashSet::new();
    let mut listed = Vec::with_capacity(report.sources.len());
    for s in &report.sources {
        let digest = content_digest(s.mode, &s.hash);
        let key = digest.as_ref().ok().map(ToString::to_string);
        let found = key.as_ref().and_then(|d| by_digest.get(d)).cloned().unwrap_or_default();
        if let Some(key) = key.filter(|_| !found.is_empty()) {
            matched.insert(key);
        }
        let mut reviews = Vec::with_capacity(found.len());
        for r in found {
            let verified_by = match &trusted {
                Some(keys) => {
                    Some(r.record.signers(keys).with_context(|| format!("review file {}", r.path.display()))?)
                }
                None => None,
            };
            let review = &r.record.review;
            reviews.push(ListedReview {
                file: r.path.display().to_string(),
                key_ids: r.record.key_ids(),
                verified_by,
                scope: review.scope.as_str(),
                files: match &review.scope {
                    Scope::Files(f) => f,
                    _ => &[],
                },
                from: match &review.scope {
                    Scope::Delta(f) => Some(f),
                    _ => None,
                },
                level: review.level,
                understanding: review.understanding,
                comment: review.comment.as_deref(),
            });
        }
        listed.push(ListedSource {
            drv_path: &s.drv_path,
            name: &s.name,
            kind: s.kind,
            hash: &s.hash,
            digest: digest.as_ref().ok().map(ToString::to_string),
            unreviewable: digest.err(),
            reviews,
        });
    }
    let matched: usize = matched.iter().filter_map(|d| by_digest.get(d)).map(Vec::len).sum();
    let out = ListReport { records: records.len(), unmatched_records: records.len() - matched, sources: listed };
    let printed = if ctx.json {
        print_json(&out)
    } else {
        write_list(&out, &mut BufWriter::new(io::stdout().lock())).map_err(Into::into)
    };
    after_printing(Outcome::Ok, printed)
}

fn write_list(report: &ListReport<'_>, out: &mut impl Write) -> io::Result<()> {
    for s in &report.sources {
        let count =
            if s.reviews.is_empty() { "no reviews".to_owned() } else { format!("{} review(s)", s.reviews.len()) };
        writeln!(out, "{:<9} {}  {}  {count}", s.kind.as_str(), escape_controls(s.name), s.hash)?;
        if let Some(why) = &s.unreviewable {
            writeln!(out, "    cannot be reviewed: {why}")?;
        }
        for r in &s.reviews {
            let who = match &r.verified_by {
                Some(v) if v.is_empty() => format!("{} (not a trusted key)", r.key_ids.join(",")),
                Some(v) => format!("{} (verified)", v.join(",")),
                None => format!("{} (unverified)", r.key_ids.join(",")),
            };
            let scope = match (r.scope, r.from, r.files.is_empty()) {
                ("delta", Some(from), _) => format!("delta from {}", escape_controls(&from.name)),
                ("files", _, false) => format!("files {}", escape_controls(&r.files.join(" "))),
                (s, _, _) => s.to_owned(),
            };
            writeln!(
                out,
                "    {who}: {scope}, level {}, understanding {}  [{}]",
                r.level,
                r.understanding,
                escape_controls(&r.file)
            )?;
            if let Some(c) = r.comment {
                writeln!(out, "      \"{}\"", escape_controls(c))?;
            }
        }
    }
    let reviewed = report.sources.iter().filter(|s| !s.reviews.is_empty()).count();
    writeln!(
        out,
        "\n{} sources, {} with reviews; {} review records, {} about bytes not in this closure",
        report.sources.len(),
        reviewed,
        report.records,
        report.unmatched_records
    )?;
    out.flush()
}
