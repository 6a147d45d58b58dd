//! `provenix diff OLD NEW`: what changed between two closures' sources.

use std::io::{self, BufWriter, Write};

use provenix_core::diff::Change;
use provenix_core::identity::{InventoryOptions, Patch, inventory, short_name};
use provenix_core::review::closure_diff::{ClosureDiff, SourceChange, SourceSide, diff_closures};
use provenix_core::review::equiv::FileSide;
use provenix_core::review::equiv::Limits;
use provenix_core::review::source_files::{FilesStatus, MAX_FILE_CHANGES, SourceFiles, source_files};
use provenix_formats::store_path::StorePath;
use provenix_store::drv::NodeId;

use super::escape_controls;
use super::roots::{RootArgs, open_db};
use crate::cli::{Ctx, Outcome, after_printing, print_json};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Exactly two roots: OLD, then NEW.
    #[command(flatten)]
    roots: RootArgs,
    /// Also diff the files of each changed source: both archives (tar, zip, NAR or directory, as
    /// `equiv` reads them) are streamed from the store and compared path by path (added, removed,
    /// modified, mode, type, symlink target). Sources not fetched yet are listed as missing.
    #[arg(long)]
    files: bool,
}

/// The diff with, under `--files`, the file-level diff of each changed source.
#[derive(serde::Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    diff: &'a ClosureDiff,
    #[serde(rename = "sourceFiles", skip_serializing_if = "Option::is_none")]
    source_files: Option<&'a [SourceFiles]>,
}

pub(crate) fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let [old, new] = args.roots.roots.as_slice() else {
        anyhow::bail!("diff takes two roots, OLD and NEW; {} given", args.roots.roots.len());
    };
    let db = open_db(ctx)?;
    let old_drvs = args.roots.only(old).resolve(ctx, db.as_ref())?;
    let new_drvs = args.roots.only(new).resolve(ctx, db.as_ref())?;
    // One inventory of both sides: what they share is read once.
    let all: Vec<StorePath> = old_drvs.iter().chain(&new_drvs).cloned().collect();
    // Which outputs are realised does not change what differs (`--files` looks at the few
    // changed sources itself).
    let options =
        InventoryOptions { mirrors: args.roots.mirror_table()?, skip_realisation: true, ..InventoryOptions::default() };
    let inv = inventory(&ctx.store, db.as_ref(), &all, &options)?;
    let ids = |drvs: &[StorePath]| -> Vec<NodeId> { drvs.iter().filter_map(|d| inv.graph.node(d)).collect() };
    let diff = diff_closures(&inv, &ids(&old_drvs), &ids(&new_drvs));
    let files = args.files.then(|| source_files(&ctx.store, &diff.sources_changed, &Limits::default()));
    let s = &diff.summary;
    let same = diff.sources_added.is_empty()
        && diff.sources_removed.is_empty()
        && diff.sources_changed.is_empty()
        && diff.packages_added.is_empty()
        && diff.packages_removed.is_empty()
        && diff.packages_changed.is_empty();
    let outcome = if same { Outcome::Ok } else { Outcome::Failed };
    let printed = if ctx.json {
        print_json(&Report { diff: &diff, source_files: files.as_deref() })
    } else {
        write_human(&diff, files.as_deref(), &mut BufWriter::new(io::stdout().lock())).map_err(Into::into)
    };
    if !ctx.quiet {
        for f in files.iter().flatten().filter(|f| f.status != FilesStatus::Compared) {
            let reason = f.reason.as_deref().unwrap_or_default();
            eprintln!("warning: files of {} not compared: {}", escape_controls(&f.new_name), escape_controls(reason));
        }
    }
    if !ctx.quiet && s.stale_hashes > 0 {
        eprintln!("warning: {} source(s) changed URL but kept their hash (stale hash?)", s.stale_hashes);
    }
    std::mem::forget(inv);
    after_printing(outcome, printed)
}

fn patch_line(sign: char, p: &Patch) -> String {
    let cves = if p.cves.is_empty() { String::new() } else { format!(" ({})", p.cves.join(", ")) };
    format!("      {sign} patch {}{cves}", escape_controls(&p.name))
}

fn side_line(sign: char, s: &SourceSide) -> String {
    let url = s.urls.first().map_or("(no URL)", String::as_str);
    format!("  {sign} {:<9} {}  {}  {}", s.kind.as_str(), escape_controls(&s.name), s.hash, escape_controls(url))
}

fn change_lines(c: &SourceChange, out: &mut impl Write) -> io::Result<()> {
    let flag = if c.stale_hash { "  ** STALE HASH: URLs changed, hash did not **" } else { "" };
    writeln!(
        out,
        "  ~ {}/{}: {} changed{flag}",
        escape_controls(&c.package),
        escape_controls(&c.source),
        c.changed.join(", ")
    )?;
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    writeln!(out, "      name     {} -> {}", escape_controls(&c.old.name), escape_controls(&c.new.name))?;
    if c.changed.contains(&"version") {
        writeln!(out, "      version  {} -> {}", or_dash(&c.old.version), or_dash(&c.new.version))?;
    }
    if c.changed.contains(&"urls") {
        writeln!(
            out,
            "      urls     {} -> {}",
            escape_controls(&c.old.urls.join(" ")),
            escape_controls(&c.new.urls.join(" "))
        )?;
    }
    if c.changed.contains(&"hash") {
        writeln!(out, "      hash     {} {} -> {} {}", c.old.mode, c.old.hash, c.new.mode, c.new.hash)?;
    } else {
        writeln!(out, "      hash     {} (unchanged)", c.new.hash)?;
    }
    if c.changed.contains(&"fetcher") {
        writeln!(out, "      fetcher  {} -> {}", c.old.fetcher(), c.new.fetcher())?;
    }
    Ok(())
}

/// Most changed paths the human output lists per source (`--json` lists them all).
const HUMAN_FILES: usize = 200;

fn files_lines(f: &SourceFiles, out: &mut impl Write) -> io::Result<()> {
    let s = &f.summary;
    write!(
        out,
        "  {}/{}: {} -> {}",
        escape_controls(&f.package),
        escape_controls(&f.source),
        escape_controls(&f.old_name),
        escape_controls(&f.new_name)
    )?;
    if f.status != FilesStatus::Compared {
        return writeln!(out, ": {} ({})", f.status.as_str(), escape_controls(f.reason.as_deref().unwrap_or_default()));
    }
    writeln!(
        out,
        ": {} added, {} removed, {} modified, {} mode, {} type, {} symlink target; {} unchanged ({} -> {} files, {} -> {} bytes)",
        s.added,
        s.removed,
        s.modified,
        s.mode_changed,
        s.type_changed,
        s.target_changed,
        s.unchanged,
        s.old_files,
        s.new_files,
        s.old_bytes,
        s.new_bytes
    )?;
    let size = |n: &Option<FileSide>| match n {
        Some(FileSide { size: Some(size), .. }) => format!("{size} bytes"),
        Some(FileSide { target: Some(t), .. }) => format!("-> {}", escape_controls(t)),
        Some(n) => n.kind.to_owned(),
        None => "-".to_owned(),
    };
    for c in f.files.iter().take(HUMAN_FILES) {
        let letter = c.changes.first().map_or('T', |c| c.letter());
        let what = match (&c.old, &c.new) {
            (None, n) => size(n),
            (o, None) => size(o),
            (o, n) => format!("{} -> {}", size(o), size(n)),
        };
        let mode = if c.changes.contains(&Change::Mode) {
            let x = |n: &Option<FileSide>| {
                n.as_ref().and_then(|n| n.executable).map_or("-", |e| if e { "+x" } else { "-x" })
            };
            format!(", {} -> {}", x(&c.old), x(&c.new))
        } else {
            String::new()
        };
        writeln!(out, "      {letter} {}  ({what}{mode})", escape_controls(&c.path))?;
    }
    if f.files.len() > HUMAN_FILES || f.files_truncated {
        let more = f.files.len().saturating_sub(HUMAN_FILES);
        let plus = if f.files_truncated { "+" } else { "" };
        writeln!(out, "      ... {more}{plus} more changed paths (`--json` lists up to {MAX_FILE_CHANGES})")?;
    }
    Ok(())
}

fn write_human(d: &ClosureDiff, files: Option<&[SourceFiles]>, out: &mut impl Write) -> io::Result<()> {
    let s = &d.summary;
    let names = |roots: &[String]| roots.iter().map(|r| short_name(r).to_owned()).collect::<Vec<_>>().join(", ");
    writeln!(
        out,
        "{} ({} derivations, {} sources) -> {} ({} derivations, {} sources)",
        escape_controls(&names(&d.old_roots)),
        s.old_derivations,
        s.old_sources,
        escape_controls(&names(&d.new_roots)),
        s.new_derivations,
        s.new_sources
    )?;
    if !(d.packages_changed.is_empty() && d.packages_added.is_empty() && d.packages_removed.is_empty()) {
        writeln!(out, "\npackages:")?;
        let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
        for p in &d.packages_changed {
            let version = if p.old_version == p.new_version {
                or_dash(&p.new_version)
            } else {
                format!("{} -> {}", or_dash(&p.old_version), or_dash(&p.new_version))
            };
            writeln!(out, "  ~ {} {}", escape_controls(&p.pname), escape_controls(&version))?;
            for x in &p.patches_added {
                writeln!(out, "{}", patch_line('+', x))?;
            }
            for x in &p.patches_removed {
                writeln!(out, "{}", patch_line('-', x))?;
            }
            for x in &p.patches_changed {
                let cves = if x.cves.is_empty() { String::new() } else { format!(" ({})", x.cves.join(", ")) };
                writeln!(out, "      ~ patch {}{cves}: other bytes", escape_controls(&x.name))?;
            }
            for x in &p.dependencies_added {
                writeln!(out, "      + dependency {}", escape_controls(x))?;
            }
            for x in &p.dependencies_removed {
                writeln!(out, "      - dependency {}", escape_controls(x))?;
            }
        }
        for p in &d.packages_added {
            writeln!(out, "  + {} {}", escape_controls(&p.pname), or_dash(&p.version))?;
        }
        for p in &d.packages_removed {
            writeln!(out, "  - {} {}", escape_controls(&p.pname), or_dash(&p.version))?;
        }
    }
    if !(d.sources_changed.is_empty() && d.sources_added.is_empty() && d.sources_removed.is_empty()) {
        writeln!(out, "\nsources:")?;
        for c in &d.sources_changed {
            change_lines(c, out)?;
        }
        for x in &d.sources_added {
            writeln!(out, "{}", side_line('+', x))?;
        }
        for x in &d.sources_removed {
            writeln!(out, "{}", side_line('-', x))?;
        }
    }
    if let Some(files) = files {
        writeln!(out, "\nfiles of the sources with new bytes:")?;
        if files.is_empty() {
            writeln!(out, "  (none)")?;
        }
        for f in files {
            files_lines(f, out)?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "summary: sources {} changed ({} stale hash), {} added, {} removed; packages {} version change(s), {} added, {} removed",
        s.sources_changed,
        s.stale_hashes,
        s.sources_added,
        s.sources_removed,
        s.version_changes,
        s.packages_added,
        s.packages_removed
    )?;
    writeln!(
        out,
        "         patches {} added, {} removed, {} changed; build dependencies {} added, {} removed",
        s.patches_added, s.patches_removed, s.patches_changed, s.dependencies_added, s.dependencies_removed
    )?;
    if !s.cves_patched.is_empty() {
        writeln!(out, "         patches name {}", s.cves_patched.join(", "))?;
    }
    if !s.cves_unpatched.is_empty() {
        writeln!(out, "         no longer patched: {}", s.cves_unpatched.join(", "))?;
    }
    if s.to_review > 0 {
        writeln!(out, "\nto review: {} source(s) with new bytes", s.to_review)?;
        for c in d.sources_changed.iter().filter(|c| c.changed.contains(&"hash")) {
            writeln!(out, "  provenix review sign {} --diff-from {} --key KEY ...", c.new.drv_path, c.old.drv_path)?;
        }
        for x in &d.sources_added {
            writeln!(out, "  provenix review sign {} --key KEY ...", x.drv_path)?;
        }
    }
    if s.stale_hashes > 0 {
        writeln!(out, "\nstale hash: check these with `provenix verify --refetch NEW`:")?;
        for c in d.sources_changed.iter().filter(|c| c.stale_hash) {
            writeln!(out, "  {} ({})", escape_controls(&c.new.name), c.new.drv_path)?;
        }
    }
    out.flush()
}
