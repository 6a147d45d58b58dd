//! `provenix sources`: every fixed-output derivation of the roots' build closure.

use std::io::{self, BufWriter};

use provenix_core::bootstrap::{BootstrapReport, bootstrap_seeds};
use provenix_core::sources::{KindCount, Source, SourcesOptions, SourcesReport, sources};
use serde::Serialize;

use super::roots::{RootArgs, chain_names, human_bytes, open_db};
use crate::cli::{Ctx, Outcome, print_json};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    roots: RootArgs,
    /// Give every source the shortest chain of derivations from a root that needs it.
    #[arg(long)]
    why: bool,
    /// How many of the biggest sources the summary shows, with why-chains.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    /// Print CSV (one row per source, with a header) instead of a table.
    #[arg(long, conflicts_with = "json")]
    csv: bool,
    /// List only the binary seed: bootstrap sources and every source whose output runs as a
    /// builder without being built from source, with sizes, why-chains and the total in bytes.
    #[arg(long, conflicts_with = "csv")]
    bootstrap: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    sources: usize,
    realised: usize,
    total_bytes: u64,
    by_kind: std::collections::BTreeMap<&'static str, KindCount>,
    biggest: Vec<String>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    #[serde(flatten)]
    report: &'a SourcesReport,
    summary: Summary,
}

pub(crate) fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let db = open_db(ctx)?;
    let roots = args.roots.resolve(ctx, db.as_ref())?;
    if args.bootstrap {
        let report = bootstrap_seeds(&ctx.store, db.as_ref(), &roots, &args.roots.mirror_table()?)?;
        return if ctx.json { print_json(&report) } else { write_bootstrap(&report) }.map(|()| Outcome::Ok);
    }
    let options = SourcesOptions { mirrors: args.roots.mirror_table()?, why: args.why, top: args.top };
    let report = sources(&ctx.store, db.as_ref(), &roots, &options)?;
    if ctx.json {
        let summary = Summary {
            sources: report.sources.len(),
            realised: report.sources.iter().filter(|s| s.realised).count(),
            total_bytes: report.total_bytes(),
            by_kind: report.by_kind().into_iter().map(|(k, c)| (k.as_str(), c)).collect(),
            biggest: report.biggest(args.top).iter().map(|s| s.drv_path.clone()).collect(),
        };
        print_json(&JsonReport { report: &report, summary })?;
    } else if args.csv {
        write_csv(&report, &mut BufWriter::new(io::stdout().lock()))?;
    } else {
        write_human(&report, args, &mut BufWriter::new(io::stdout().lock()))?;
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
        "binary seed: {} sources, {} ({} bytes) of {} derivations",
        report.seeds.len(),
        human_bytes(report.total_bytes),
        report.total_bytes,
        report.derivations
    )?;
    out.flush()?;
    Ok(())
}

/// One CSV field, quoted when it needs to be (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
}

fn write_csv(report: &SourcesReport, out: &mut impl io::Write) -> io::Result<()> {
    writeln!(out, "drv_path,output_path,name,kind,hash_algo,mode,hash,realised,nar_size,urls,resolved_urls,why")?;
    for s in &report.sources {
        let fields = [
            s.drv_path.clone(),
            s.output_path.clone(),
            s.name.clone(),
            s.kind.as_str().to_owned(),
            s.hash_algo.to_owned(),
            s.mode.to_owned(),
            s.hash.clone(),
            s.realised.to_string(),
            s.nar_size.map(|n| n.to_string()).unwrap_or_default(),
            s.urls.join(" "),
            s.resolved_urls.join(" "),
            s.why.as_ref().map(|w| w.join(" ")).unwrap_or_default(),
        ];
        let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        writeln!(out, "{}", row.join(","))?;
    }
    out.flush()
}

fn size_of(s: &Source) -> String {
    match (s.realised, s.nar_size) {
        (_, Some(n)) => human_bytes(n),
        (true, None) => "realised".to_owned(),
        (false, None) => "-".to_owned(),
    }
}

fn write_human(report: &SourcesReport, args: &Args, out: &mut impl io::Write) -> io::Result<()> {
    let name_width = report.sources.iter().map(|s| s.name.len()).max().unwrap_or(4).clamp(4, 48);
    writeln!(out, "{:<9} {:>10}  {:<name_width$}  URL", "KIND", "SIZE", "NAME")?;
    for s in &report.sources {
        let url = s.urls.first().map_or("(no URL)", String::as_str);
        let more = if s.urls.len() > 1 { format!(" (+{})", s.urls.len() - 1) } else { String::new() };
        writeln!(out, "{:<9} {:>10}  {:<name_width$}  {url}{more}", s.kind.as_str(), size_of(s), s.name)?;
        if args.why
            && let Some(why) = &s.why
        {
            writeln!(out, "    why: {}", chain_names(why))?;
        }
    }
    let realised = report.sources.iter().filter(|s| s.realised).count();
    writeln!(out)?;
    writeln!(
        out,
        "{} sources in {} derivations of {} root(s); {} realised, {}{}",
        report.sources.len(),
        report.derivations,
        report.roots.len(),
        realised,
        human_bytes(report.total_bytes()),
        if report.database { "" } else { " (no Nix database: sizes unknown)" }
    )?;
    writeln!(out, "{:<9} {:>7} {:>9} {:>10}", "kind", "count", "realised", "size")?;
    for (kind, c) in report.by_kind() {
        writeln!(out, "{:<9} {:>7} {:>9} {:>10}", kind.as_str(), c.count, c.realised, human_bytes(c.bytes))?;
    }
    let biggest = report.biggest(args.top);
    if !biggest.is_empty() {
        writeln!(out, "\nbiggest {} sources:", biggest.len())?;
        for s in biggest {
            writeln!(out, "  {:>10}  {}  {}", size_of(s), s.name, s.output_path)?;
            if let Some(why) = &s.why {
                writeln!(out, "              why: {}", chain_names(why))?;
            }
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
    }
}
