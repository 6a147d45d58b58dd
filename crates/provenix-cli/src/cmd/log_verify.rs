//! `provenix log verify --server URL --trust-log-key PUB`: the log's latest
//! checkpoint against the last one this client accepted (docs/log.md).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use provenix_core::log::audit::{AuditOptions, AuditReport, Relation, TreeHead, audit};
use provenix_core::log::check::LogClient;

use super::key::load_public_key;
use super::log_show::LOG_TIMEOUT;
use super::roots::Bar;
use crate::cli::{Ctx, Outcome, after_printing, print_json};
use crate::cmd::escape_controls;

/// `provenix log verify` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log server's URL.
    #[arg(long, value_name = "URL")]
    server: String,
    /// The log's public key (a file or `name:base64`); its name is the checkpoints' origin.
    #[arg(long, value_name = "PUB")]
    trust_log_key: String,
    /// Where the last accepted checkpoint of each log is kept (default: $XDG_STATE_HOME/provenix,
    /// else ~/.local/state/provenix).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Also fetch every entry, recompute the root from them and check every entry's signature.
    #[arg(long, visible_alias = "entries")]
    full: bool,
}

pub(crate) fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let key = load_public_key(&args.trust_log_key).context("--trust-log-key")?;
    let state_dir = match &args.state_dir {
        Some(dir) => dir.clone(),
        None => default_state_dir()?,
    };
    let client = LogClient::new(&args.server, LOG_TIMEOUT).context("--server")?;
    let bar = Bar::new(ctx);
    let options = AuditOptions { state_dir, full: args.full, store_dir: ctx.store.dir().clone(), progress: &bar };
    let report = audit(&client, &key, &options)?;
    let printed = if ctx.json { print_json(&report) } else { print_text(&report) };
    after_printing(if report.ok() { Outcome::Ok } else { Outcome::Failed }, printed)
}

/// [`super::state_dir`], or an error saying to pass `--state-dir`.
fn default_state_dir() -> anyhow::Result<PathBuf> {
    super::state_dir().context("neither XDG_STATE_HOME nor HOME is an absolute directory: pass --state-dir")
}

fn head(h: &TreeHead) -> String {
    format!("size {} root {}", h.size, h.root_hash)
}

fn print_text(r: &AuditReport) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let origin = escape_controls(&r.origin);
    match &r.checkpoint {
        Some(c) => writeln!(out, "log {origin} at {}: {}", escape_controls(&r.server), head(c))?,
        None => writeln!(out, "log {origin} at {}: no verified checkpoint", escape_controls(&r.server))?,
    }
    let previous = r.previous.as_ref().map(head).unwrap_or_default();
    match r.relation {
        Relation::FirstContact => {
            writeln!(out, "  first contact: nothing recorded to compare with (trust on first use)")?
        }
        Relation::Same => writeln!(out, "  the same tree as last seen")?,
        Relation::Extended => writeln!(out, "  consistent with the last seen ({previous}): only appended to")?,
        Relation::Inconsistent => writeln!(out, "  NOT consistent with the last seen ({previous})")?,
        Relation::Unverified => {}
    }
    if let Some(f) = &r.full {
        writeln!(
            out,
            "  {} entries re-hashed: the root {}; {} signatures verified{}",
            f.entries,
            if f.root_matches { "matches" } else { "DOES NOT match" },
            f.signatures_verified,
            if f.unregistered_builders > 0 {
                format!(", {} by builders no longer registered (not checked)", f.unregistered_builders)
            } else {
                String::new()
            }
        )?;
    }
    for p in &r.problems {
        writeln!(out, "  problem: {}", escape_controls(p))?;
    }
    if r.more_problems > 0 {
        writeln!(out, "  and {} more problems", r.more_problems)?;
    }
    let state = escape_controls(&r.state_file);
    if r.recorded {
        writeln!(out, "  recorded in {state}")?;
    } else if !r.ok() {
        writeln!(out, "  FAILED: {state} keeps the last good checkpoint")?;
    }
    out.flush()?;
    Ok(())
}
