//! `provenix drv`: show derivations as `nix show-derivation` does, and
//! recompute their `.drv` and output paths from the bytes.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write as _};

use anyhow::Context as _;
use provenix_core::verify::path_findings;
use provenix_formats::derivation::{render_show_json_member, write_show_json, write_show_json_members};
use provenix_formats::store_path::StorePath;
use provenix_store::drv::{DrvClosure, read_derivation};
use serde::Serialize;

use super::count;
use crate::cli::{Ctx, Outcome, after_printing, print_json};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Print derivations as JSON of the same shape and bytes as `nix show-derivation`.
    Show(ShowArgs),
    /// Recompute a derivation's `.drv` path and output paths from its bytes and inputs.
    Paths(PathsArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct ShowArgs {
    /// `.drv` store paths (logical `/nix/store/…`, or physical under `--store`).
    #[arg(required = true)]
    drvs: Vec<String>,
    /// Include every derivation in the build closure of the given ones.
    #[arg(short, long)]
    recursive: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct PathsArgs {
    /// A `.drv` store path.
    drv: String,
}

pub(crate) fn run(cmd: &Command, ctx: &Ctx) -> anyhow::Result<Outcome> {
    match cmd {
        Command::Show(args) => show(args, ctx),
        Command::Paths(args) => paths(args, ctx),
    }
}

fn parse_drvs(ctx: &Ctx, args: &[String]) -> anyhow::Result<Vec<StorePath>> {
    args.iter().map(|a| ctx.store.parse_user_path(a).map_err(anyhow::Error::from)).collect()
}

thread_local! {
    /// Where each worker renders a derivation before copying it out at its exact size.
    static MEMBER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn show(args: &ShowArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let roots = parse_drvs(ctx, &args.drvs)?;
    let dir = ctx.store.dir();
    if args.recursive {
        // Each derivation is rendered by the worker that parsed it and then
        // dropped, so only the JSON is kept until it is written in path order.
        let members = DrvClosure::load_mapped(&ctx.store, &roots, |path, drv| {
            MEMBER.with_borrow_mut(|member| {
                member.clear();
                render_show_json_member(path, &drv, dir, member);
                member.to_vec()
            })
        })?;
        // Large vectored writes, so no `BufWriter` that would copy them.
        let mut out = io::stdout().lock();
        write_show_json_members(members.iter().map(|(_, m)| m.as_slice()), &mut out)?;
        out.flush()?;
        // The process is about to exit: freeing every member is wasted work.
        std::mem::forget(members);
    } else {
        let mut drvs = BTreeMap::new();
        for root in roots {
            let drv = read_derivation(&ctx.store, &root)?;
            drvs.insert(root, drv);
        }
        let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
        write_show_json(&drvs, dir, &mut out)?;
        out.flush()?;
    }
    Ok(Outcome::Ok)
}

/// One disagreement between what a `.drv` claims and what follows from it.
#[derive(Debug, Serialize)]
pub(crate) struct Finding {
    /// Stable kind: `drv-path-mismatch` or `output-path-mismatch`.
    kind: &'static str,
    /// The `.drv` at fault.
    path: String,
    /// What disagrees.
    detail: String,
    /// The path the file or its name claims.
    claimed: String,
    /// The path recomputed from the bytes.
    computed: String,
}

#[derive(Debug, Serialize)]
struct PathsReport {
    #[serde(rename = "drvPath")]
    drv_path: String,
    outputs: BTreeMap<String, Option<String>>,
    /// Derivations read (the `.drv` closure of the argument).
    #[serde(rename = "closureSize")]
    closure_size: usize,
    findings: Vec<Finding>,
}

fn paths(args: &PathsArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let root = ctx.store.parse_user_path(&args.drv)?;
    let closure = DrvClosure::load(&ctx.store, std::slice::from_ref(&root))?;
    let computed = closure.compute_paths().with_context(|| format!("recomputing paths of {}", args.drv))?;
    let dir = ctx.store.dir();
    // The same check `verify` makes; here shown as claimed against computed.
    let (found, _) = path_findings(&closure, &computed);
    let findings = found
        .into_iter()
        .map(|f| Finding {
            kind: f.kind.as_str(),
            path: f.path,
            detail: f.detail,
            claimed: f.actual.unwrap_or_default(),
            computed: f.expected.unwrap_or_default(),
        })
        .collect();
    let root_paths = computed.get(&root).with_context(|| format!("{} missing from its own closure", args.drv))?;
    let report = PathsReport {
        drv_path: dir.display(&root_paths.drv_path),
        outputs: root_paths
            .outputs
            .iter()
            .map(|(name, path)| (name.as_str().to_owned(), path.as_ref().map(|p| dir.display(p))))
            .collect(),
        closure_size: closure.len(),
        findings,
    };
    let printed = if ctx.json { print_json(&report) } else { print_paths(&report) };
    after_printing(if report.findings.is_empty() { Outcome::Ok } else { Outcome::Failed }, printed)
}

fn print_paths(report: &PathsReport) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "drvPath  {}", report.drv_path)?;
    for (name, path) in &report.outputs {
        writeln!(out, "{name:<8} {}", path.as_deref().unwrap_or("(deferred: content-addressed)"))?;
    }
    if report.findings.is_empty() {
        writeln!(
            out,
            "ok: {} checked, every path follows from the bytes",
            count(report.closure_size, "derivation", "derivations")
        )?;
    } else {
        for f in &report.findings {
            writeln!(out, "{}: {}: {}\n  claimed  {}\n  computed {}", f.kind, f.path, f.detail, f.claimed, f.computed)?;
        }
        writeln!(
            out,
            "{} in {}",
            count(report.findings.len(), "finding", "findings"),
            count(report.closure_size, "derivation", "derivations")
        )?;
    }
    Ok(())
}
