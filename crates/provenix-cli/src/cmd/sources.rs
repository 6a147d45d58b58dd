//! `provenix sources`: every fixed-output derivation of the roots' build closure.

use std::io::{self, BufWriter};

use provenix_core::bootstrap::{BootstrapReport, bootstrap_seeds};
use provenix_core::fod::SourceKind;
use provenix_core::sources::{KindCount, LocalKind, LocalSource, Source, SourcesOptions, SourcesReport, sources};
use serde::Serialize;

use super::roots::{RootArgs, chain_names, human_bytes, open_db, short_name};
use super::{Paint, count, escape_controls, paint};
use crate::cli::{Ctx, Outcome, print_json};

/// The width human output is laid out for.
const WIDTH: usize = 80;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) roots: RootArgs,
    /// Give every source the shortest chain of derivations from a root that needs it.
    #[arg(long)]
    why: bool,
    /// How many of the biggest sources get a why-chain in the summary (without --why).
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    /// Only sources of this kind (repeatable): a source kind, `script` (local builder scripts), or
    /// `local` (every local source).
    #[arg(long, value_name = "KIND", value_parser = kind_names())]
    kind: Vec<String>,
    /// Print CSV (one row per source, with a header) instead of a table.
    #[arg(long)]
    csv: bool,
    /// List only the binary seed: bootstrap sources and every source whose output runs as a
    /// builder without being built from source, with sizes, why-chains and the total in bytes.
    #[arg(long, conflicts_with = "csv")]
    bootstrap: bool,
    /// The output format: `table` (the default), `csv` (as --csv) or `json` (as --json).
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with = "csv")]
    format: Option<OutputFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OutputFormat {
    /// A table for people.
    Table,
    /// One row per source.
    Csv,
    /// The documented JSON report.
    Json,
}

/// The values `--kind` takes.
fn kind_names() -> clap::builder::PossibleValuesParser {
    let mut names: Vec<&'static str> = SourceKind::ALL.iter().map(|k| k.as_str()).collect();
    for local in LocalKind::ALL.map(LocalKind::as_str) {
        if !names.contains(&local) {
            names.push(local);
        }
    }
    names.push("local");
    clap::builder::PossibleValuesParser::new(names)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    sources: usize,
    realised: usize,
    total_bytes: u64,
    by_kind: std::collections::BTreeMap<&'static str, KindCount>,
    biggest: Vec<String>,
    local_sources: usize,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    #[serde(flatten)]
    report: &'a SourcesReport,
    summary: Summary,
}

/// Keeps the sources `--kind` asks for (all without it).
fn filter(report: &mut SourcesReport, kinds: &[String]) {
    if kinds.is_empty() {
        return;
    }
    let wants = |k: &str| kinds.iter().any(|w| w == k);
    report.sources.retain(|s| wants(s.kind.as_str()));
    report.local_sources.retain(|s| wants("local") || wants(s.kind.as_str()));
}

pub(crate) fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<Outcome> {
    // clap cannot see a conflict with the global --json, so it is checked here (exit 2, as usage).
    anyhow::ensure!(!(ctx.json && args.csv), "--json and --csv: give one output format");
    let format = match (ctx.json, args.format) {
        (true, Some(f)) if f != OutputFormat::Json => {
            let name = if f == OutputFormat::Csv { "csv" } else { "table" };
            anyhow::bail!("--json and --format {name}: give one output format")
        }
        (true, _) | (false, Some(OutputFormat::Json)) => OutputFormat::Json,
        (false, Some(f)) => f,
        (false, None) if args.csv => OutputFormat::Csv,
        (false, None) => OutputFormat::Table,
    };
    let db = open_db(ctx)?;
    let roots = args.roots.resolve(ctx, db.as_ref())?;
    // Evaluating a Nix-file root creates the database of a fresh store.
    let db = match db {
        Some(db) => Some(db),
        None => open_db(ctx)?,
    };
    if args.bootstrap {
        let report = bootstrap_seeds(&ctx.store, db.as_ref(), &roots, &args.roots.mirror_table()?)?;
        return if ctx.json { print_json(&report) } else { write_bootstrap(&report) }.map(|()| Outcome::Ok);
    }
    let options = SourcesOptions { mirrors: args.roots.mirror_table()?, why: args.why, top: args.top };
    let mut report = sources(&ctx.store, db.as_ref(), &roots, &options)?;
    filter(&mut report, &args.kind);
    match format {
        OutputFormat::Json => {
            let summary = Summary {
                sources: report.sources.len(),
                realised: report.sources.iter().filter(|s| s.realised).count(),
                total_bytes: report.total_bytes(),
                by_kind: report.by_kind().into_iter().map(|(k, c)| (k.as_str(), c)).collect(),
                biggest: report.biggest(args.top).iter().map(|s| s.drv_path.clone()).collect(),
                local_sources: report.local_sources.len(),
            };
            print_json(&JsonReport { report: &report, summary })?;
        }
        OutputFormat::Csv => write_csv(&report, &mut BufWriter::new(io::stdout().lock()))?,
        OutputFormat::Table => write_human(&report, args, ctx.color, &mut BufWriter::new(io::stdout().lock()))?,
    }
    // The process is about to exit: freeing every source is wasted work.
    std::mem::forget(report);
    Ok(Outcome::Ok)
}

fn write_bootstrap(report: &BootstrapReport) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = BufWriter::new(io::stdout().lock());
    for s in &report.seeds {
        let size = s.nar_size.map_or_else(|| "unrealised".to_owned(), human_bytes);
        writeln!(out, "{:>10}  {}", size, s.drv_path)?;
        if s.reason.bootstrap_kind {
            writeln!(out, "            bootstrap source (nixpkgs bootstrap tools or stage0 seed)")?;
        }
        for b in &s.reason.builder_of {
            writeln!(out, "            runs as the builder of {b}")?;
        }
        if !s.why.is_empty() {
            writeln!(out, "            why: {}", chain_names(&s.why))?;
        }
    }
    writeln!(
        out,
        "binary seed: {}, {} ({}) of {}",
        count(report.seeds.len(), "source", "sources"),
        human_bytes(report.total_bytes),
        count(report.total_bytes, "byte", "bytes"),
        count(report.derivations, "derivation", "derivations")
    )?;
    out.flush()?;
    Ok(())
}

/// One CSV field, quoted when it needs to be (RFC 4180), control characters escaped.
pub(crate) fn csv_field(s: &str) -> String {
    let s = escape_controls(s);
    if s.contains([',', '"']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

/// The sources sorted by name (then `.drv` path), as people look them up.
fn by_name(report: &SourcesReport) -> Vec<&Source> {
    let mut sorted: Vec<&Source> = report.sources.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.drv_path.cmp(&b.drv_path)));
    sorted
}

fn local_by_name(report: &SourcesReport) -> Vec<&LocalSource> {
    let mut sorted: Vec<&LocalSource> = report.local_sources.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.path.cmp(&b.path)));
    sorted
}

fn write_csv(report: &SourcesReport, out: &mut impl io::Write) -> io::Result<()> {
    writeln!(
        out,
        "drv_path,output_path,name,kind,hash_algo,mode,hash,realised,nar_size,urls,resolved_urls,why,local,used_by"
    )?;
    let mut row = |fields: [&str; 14]| {
        let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        writeln!(out, "{}", row.join(","))
    };
    for s in by_name(report) {
        let size = s.nar_size.map(|n| n.to_string()).unwrap_or_default();
        let why = s.why.as_ref().map(|w| w.join(" ")).unwrap_or_default();
        row([
            &s.drv_path,
            &s.output_path,
            &s.name,
            s.kind.as_str(),
            s.hash_algo,
            s.mode,
            &s.hash,
            if s.realised { "true" } else { "false" },
            &size,
            &s.urls.join(" "),
            &s.resolved_urls.join(" "),
            &why,
            "false",
            "",
        ])?;
    }
    for s in local_by_name(report) {
        let size = s.nar_size.map(|n| n.to_string()).unwrap_or_default();
        row([
            "",
            &s.path,
            &s.name,
            s.kind.as_str(),
            "",
            "",
            "",
            if s.realised { "true" } else { "false" },
            &size,
            "",
            "",
            "",
            "true",
            &s.used_by.join(" "),
        ])?;
    }
    out.flush()
}

fn size_of(realised: bool, nar_size: Option<u64>) -> String {
    match (realised, nar_size) {
        (_, Some(n)) => human_bytes(n),
        (true, None) => "realised".to_owned(),
        (false, None) => "-".to_owned(),
    }
}

/// One table row: `KIND SIZE NAME WHERE`, with WHERE on the next line, indented, when the row
/// would not fit in [`WIDTH`] columns.
fn row(out: &mut impl io::Write, kind: &str, size: &str, name: &str, name_width: usize, at: &str) -> io::Result<()> {
    let head = format!("{kind:<9} {size:>10}  {name:<name_width$}");
    if head.chars().count() + 2 + at.chars().count() <= WIDTH {
        writeln!(out, "{head}  {at}")
    } else {
        writeln!(out, "{}", head.trim_end())?;
        writeln!(out, "{:>22}{at}", "")
    }
}

fn write_human(report: &SourcesReport, args: &Args, color: bool, out: &mut impl io::Write) -> io::Result<()> {
    let heading = |text: String| paint(color, Paint::Bold, &text);
    let names = report.sources.iter().map(|s| s.name.chars().count());
    let local_names = report.local_sources.iter().map(|s| s.name.chars().count());
    let name_width = names.chain(local_names).max().unwrap_or(4).clamp(4, 32);
    if !report.sources.is_empty() {
        writeln!(out, "{}", heading(format!("{:<9} {:>10}  {:<name_width$}  URL", "KIND", "SIZE", "NAME")))?;
    }
    for s in by_name(report) {
        let url = s.urls.first().map_or("(no URL)", String::as_str);
        let more = if s.urls.len() > 1 { format!(" (+{} more)", s.urls.len() - 1) } else { String::new() };
        let at = format!("{}{more}", escape_controls(url));
        row(out, s.kind.as_str(), &size_of(s.realised, s.nar_size), &escape_controls(&s.name), name_width, &at)?;
        if args.why
            && let Some(why) = &s.why
        {
            writeln!(out, "    why: {}", escape_controls(&chain_names(why)))?;
        }
    }
    if !report.local_sources.is_empty() {
        if !report.sources.is_empty() {
            writeln!(out)?;
        }
        writeln!(out, "Local sources (files from the machine that evaluated, in inputSrcs):")?;
        writeln!(out, "{}", heading(format!("{:<9} {:>10}  {:<name_width$}  USED BY", "KIND", "SIZE", "NAME")))?;
        for s in local_by_name(report) {
            let first = s.used_by.first().map_or("-", |p| short_name(p));
            let more = if s.used_by.len() > 1 { format!(" (+{} more)", s.used_by.len() - 1) } else { String::new() };
            let at = format!("{}{more}", escape_controls(first));
            row(out, s.kind.as_str(), &size_of(s.realised, s.nar_size), &escape_controls(&s.name), name_width, &at)?;
        }
    }
    let realised = report.sources.iter().filter(|s| s.realised).count();
    writeln!(out)?;
    writeln!(
        out,
        "{} ({} realised, {}) and {}",
        count(report.sources.len(), "fixed-output source", "fixed-output sources"),
        realised,
        human_bytes(report.total_bytes()),
        count(report.local_sources.len(), "local source", "local sources"),
    )?;
    writeln!(
        out,
        "in {} of {}{}",
        count(report.derivations, "derivation", "derivations"),
        count(report.roots.len(), "root", "roots"),
        if report.database { "" } else { " (no Nix database: sizes unknown)" }
    )?;
    let kinds = report.by_kind();
    if !kinds.is_empty() {
        writeln!(out, "{:<9} {:>7} {:>9} {:>10}", "kind", "sources", "realised", "size")?;
        for (kind, c) in kinds {
            writeln!(out, "{:<9} {:>7} {:>9} {:>10}", kind.as_str(), c.count, c.realised, human_bytes(c.bytes))?;
        }
    }
    // With --why every row has its chain already; without, say why the biggest are needed.
    let biggest = report.biggest(args.top);
    if !args.why && !biggest.is_empty() {
        writeln!(out, "\nWhy the {} needed:", count(biggest.len(), "biggest source is", "biggest sources are"))?;
        for s in biggest {
            let why = s.why.as_ref().map_or_else(|| short_name(&s.drv_path).to_owned(), |w| chain_names(w));
            writeln!(out, "  {:>10}  {}", size_of(s.realised, s.nar_size), escape_controls(&why))?;
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("a\nb\x1b[2J"), "a\\nb\\u{1b}[2J");
    }
}
