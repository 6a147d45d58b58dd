//! `provenix diff-output`: what differs between two build outputs, file by
//! file, for a rebuilder whose output's NAR hash differs from the reference.
//! Exit 0 identical, 1 differs, 2 unreadable or malformed input.

use std::io::{self, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use provenix_core::diff::{
    Change, ContentDiff, ContentKind, DiffOptions, DiffReport, DiffoscopeOptions, DiffoscopeStatus, Entry, Input, Node,
    diff_outputs,
};

use super::{count, escape_controls};
use crate::cli::{Ctx, Outcome, after_printing, print_json};

/// Longest `--diffoscope-timeout`: a day.
const MAX_DIFFOSCOPE_TIMEOUT_SECS: u64 = 24 * 60 * 60;

/// Arguments of `diff-output` (its help text is on `Command::DiffOutput`).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The first output (e.g. the reference).
    a: PathBuf,
    /// The second output (e.g. the rebuild).
    b: PathBuf,
    /// Do not run diffoscope, even when it is on PATH.
    #[arg(long)]
    no_diffoscope: bool,
    /// Lines of context in unified diffs (passed on to diffoscope).
    #[arg(
        long,
        value_name = "N",
        default_value_t = provenix_core::diff::DEFAULT_CONTEXT,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=provenix_core::diff::MAX_CONTEXT as u64),
    )]
    context: usize,
    /// Stop diffoscope (and what it started) after this many seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = provenix_core::diff::DEFAULT_DIFFOSCOPE_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..=MAX_DIFFOSCOPE_TIMEOUT_SECS),
    )]
    diffoscope_timeout: u64,
}

pub(crate) fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let a = input(ctx, &args.a)?;
    let b = input(ctx, &args.b)?;
    let opts = DiffOptions {
        context: args.context,
        diffoscope: (!args.no_diffoscope).then(|| DiffoscopeOptions {
            timeout: Duration::from_secs(args.diffoscope_timeout),
            ..DiffoscopeOptions::default()
        }),
        ..DiffOptions::default()
    };
    let mut report = diff_outputs(&a, &b, &opts)?;
    // Name the inputs as the user did (a store path, not where it lives under --store).
    report.a.path = args.a.display().to_string();
    report.b.path = args.b.display().to_string();
    let printed = if ctx.json { print_json(&report) } else { render(&report) };
    after_printing(if report.identical { Outcome::Ok } else { Outcome::Failed }, printed)
}

/// The input for an argument: a store path is read where `--store` keeps it.
fn input(ctx: &Ctx, arg: &Path) -> anyhow::Result<Input> {
    let physical = physical(ctx, arg)?;
    let detected = Input::detect(&physical);
    if physical == arg {
        return Ok(detected?);
    }
    detected.with_context(|| format!("{}", arg.display()))
}

/// Where the files of `arg` are: a path in the logical store directory maps
/// to the physical store under `--store`; a symlink outside the store whose
/// target is in the store (a `result` link) stands for that store path;
/// anything else is read as it is.
pub(crate) fn physical(ctx: &Ctx, arg: &Path) -> anyhow::Result<PathBuf> {
    let Some(text) = arg.to_str() else { return Ok(arg.to_path_buf()) };
    if let Some(mapped) = super::roots::map_store_path(ctx, text)? {
        return Ok(mapped);
    }
    let in_store = ctx.store.parse_user_path_prefix(text).is_some();
    let is_link = std::fs::symlink_metadata(arg).is_ok_and(|m| m.file_type().is_symlink());
    if !in_store && is_link {
        let target = std::fs::read_link(arg).with_context(|| format!("reading symlink {}", arg.display()))?;
        if let Some(target) = target.to_str().filter(|t| t.starts_with('/')) {
            if let Some(mapped) = super::roots::map_store_path(ctx, target)? {
                return Ok(mapped);
            }
            if ctx.store.parse_user_path_prefix(target).is_some() {
                return Ok(PathBuf::from(target));
            }
        }
    }
    Ok(arg.to_path_buf())
}

fn render(report: &DiffReport) -> anyhow::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    for entry in &report.entries {
        let letters: String = entry.changes.iter().map(|c| c.letter()).collect();
        writeln!(out, "{letters} {}", shown(&entry.path))?;
    }
    if report.entries_truncated {
        let more = report.summary.entries.saturating_sub(report.entries.len());
        writeln!(out, "... and {}, not listed", super::count(more, "more changed entry", "more changed entries"))?;
    }
    let mut details = report.entries.iter().flat_map(details).peekable();
    if details.peek().is_some() {
        writeln!(out)?;
    }
    for block in details {
        out.write_all(block.as_bytes())?;
    }
    render_diffoscope(report, &mut out)?;
    writeln!(out, "{}", summary_line(report))?;
    out.flush()?;
    Ok(())
}

/// The details of one entry, each block ending in a newline.
fn details(entry: &Entry) -> Vec<String> {
    let path = shown(&entry.path);
    let mut blocks = Vec::new();
    for change in &entry.changes {
        match change {
            Change::Modified => {
                if let Some(content) = &entry.content {
                    blocks.push(content_block(&path, entry, content));
                }
            }
            Change::Type => {
                let (a, b) = (describe(entry.a.as_ref()), describe(entry.b.as_ref()));
                blocks.push(format!("{path}: type {a} -> {b}\n"));
            }
            Change::Mode => {
                let exec = |n: Option<&Node>| match n {
                    Some(Node::Regular { executable: true, .. }) => "executable",
                    _ => "not executable",
                };
                blocks.push(format!("{path}: {} -> {}\n", exec(entry.a.as_ref()), exec(entry.b.as_ref())));
            }
            Change::Target => {
                let target = |n: Option<&Node>| match n {
                    Some(Node::Symlink { target }) => sanitize(target),
                    _ => String::new(),
                };
                blocks.push(format!(
                    "{path}: symlink to {} -> {}\n",
                    target(entry.a.as_ref()),
                    target(entry.b.as_ref())
                ));
            }
            Change::Added | Change::Removed => {}
        }
    }
    blocks
}

fn describe(node: Option<&Node>) -> String {
    match node {
        Some(Node::Regular { size, executable: true }) => {
            format!("executable file ({})", count(*size, "byte", "bytes"))
        }
        Some(Node::Regular { size, executable: false }) => format!("regular file ({})", count(*size, "byte", "bytes")),
        Some(Node::Symlink { target }) => format!("symlink to {}", sanitize(target)),
        Some(Node::Directory) => "directory".to_owned(),
        None => "nothing".to_owned(),
    }
}

fn content_block(path: &str, entry: &Entry, content: &ContentDiff) -> String {
    let size = |n: Option<&Node>| match n {
        Some(Node::Regular { size, .. }) => *size,
        _ => 0,
    };
    let (size_a, size_b) = (size(entry.a.as_ref()), size(entry.b.as_ref()));
    if let (ContentKind::Text, Some(unified)) = (content.kind, &content.unified) {
        let mut block = sanitize(unified);
        if !block.ends_with('\n') {
            block.push('\n');
        }
        if content.unified_truncated {
            block.push_str(&format!("[{path}: diff truncated]\n"));
        }
        return block;
    }
    let kind = match content.kind {
        ContentKind::Text => "text, diff left out (size limit of all diffs reached)",
        ContentKind::Binary => "binary",
        ContentKind::TooLarge => "too large for a text diff",
    };
    let first = content.first_difference;
    let mut line = format!("{path}: {kind}, {size_a} -> {size_b} bytes, first difference at byte {first} ({first:#x})");
    if !content.ranges.is_empty() {
        let ranges: Vec<String> =
            content.ranges.iter().map(|r| format!("{} at {}", count(r.len, "byte", "bytes"), r.offset)).collect();
        line.push_str(&format!("; differing: {}", ranges.join(", ")));
        if content.ranges_truncated {
            line.push_str(", ...");
        }
    }
    line.push('\n');
    line
}

fn render_diffoscope(report: &DiffReport, out: &mut impl io::Write) -> io::Result<()> {
    let d = &report.diffoscope;
    match d.status {
        DiffoscopeStatus::Disabled | DiffoscopeStatus::Identical => Ok(()),
        DiffoscopeStatus::NotFound => writeln!(
            out,
            "\ndiffoscope: not found on PATH (install it, e.g. Debian's diffoscope-minimal, for a deeper comparison)"
        ),
        DiffoscopeStatus::TimedOut => writeln!(out, "\ndiffoscope: stopped at the timeout (see --diffoscope-timeout)"),
        DiffoscopeStatus::Failed => {
            writeln!(out, "\ndiffoscope failed: {}", sanitize(d.error.as_deref().unwrap_or_default()))
        }
        DiffoscopeStatus::Ran => {
            let text = d.output.as_deref().unwrap_or_default();
            if text.is_empty() {
                return writeln!(out, "\ndiffoscope: no differences in its view");
            }
            writeln!(out, "\ndiffoscope:")?;
            out.write_all(sanitize(text).as_bytes())?;
            if !text.ends_with('\n') {
                writeln!(out)?;
            }
            if d.truncated {
                writeln!(out, "[diffoscope output truncated]")?;
            }
            Ok(())
        }
    }
}

fn summary_line(report: &DiffReport) -> String {
    if report.identical {
        return format!("identical: NAR {} ({})", report.a.nar_hash, count(report.a.nar_size, "byte", "bytes"));
    }
    let s = &report.summary;
    let counts: Vec<String> = [
        (s.modified, "modified"),
        (s.added, "added"),
        (s.removed, "removed"),
        (s.type_changed, "type changed"),
        (s.mode_changed, "mode changed"),
        (s.target_changed, "symlink target changed"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    format!("differs: {} (NAR {} vs {})", counts.join(", "), report.a.nar_hash, report.b.nar_hash)
}

/// A report path for the terminal: `.` for the top, control characters escaped.
fn shown(path: &str) -> String {
    if path.is_empty() { ".".to_owned() } else { escape_controls(path) }
}

/// Text for the terminal: control characters other than newline and tab
/// escaped, so file contents cannot drive the terminal.
fn sanitize(text: &str) -> String {
    provenix_core::text::escape_controls_keep_lines(text)
}
