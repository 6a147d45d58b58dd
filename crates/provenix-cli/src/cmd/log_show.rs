//! `provenix log show DRV|PATH --server URL`: what a rebuild transparency log
//! says about an output path or a `.drv`: each output's verdict, the NAR hashes
//! reported with their builders, and every report.

use std::io::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use provenix_core::log::check::{LogClient, Lookup};

use crate::cli::{Ctx, Outcome, after_printing, print_json};
use crate::cmd::escape_controls;

/// How long one request to the log server may stall.
pub(crate) const LOG_TIMEOUT: Duration = Duration::from_secs(30);

/// `provenix log` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Print the reports and the verdict of an output path or a `.drv` from a log server.
    ///
    /// Per output path: the verdict (`reproduced`: two or more builders, one NAR hash; `disputed`:
    /// more than one hash; `single`: one builder; `unknown`: no report), each NAR hash with the
    /// builders that reported it, and every report with its log index.
    Show(Args),
    /// Check the log's latest checkpoint: its signature, and that it extends the last one seen.
    ///
    /// The checkpoint must be signed by --trust-log-key. The last checkpoint this client accepted
    /// for that log is kept in the state directory (--state-dir, default $XDG_STATE_HOME/provenix
    /// or ~/.local/state/provenix); the new one must be the same tree or prove, by the server's
    /// consistency proof, that it only appended to it. The first run records the checkpoint
    /// (trust on first use). --full also fetches every entry, recomputes the root and checks
    /// every entry's signature with its builder's registered key. Exit 0 when consistent, 1 when
    /// the history was rewritten or the checkpoint does not verify, 2 on usage or network errors.
    Verify(super::log_verify::Args),
}

/// `provenix log show` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// An output path or a `.drv` path (under --store-dir).
    #[arg(value_name = "DRV|PATH")]
    path: String,
    /// The log server's URL.
    #[arg(long, value_name = "URL")]
    server: String,
}

pub(crate) fn run(cmd: &Command, ctx: &Ctx) -> anyhow::Result<Outcome> {
    match cmd {
        Command::Show(a) => show(a, ctx),
        Command::Verify(a) => super::log_verify::run(a, ctx),
    }
}

fn show(args: &Args, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let dir = ctx.store.dir();
    dir.parse_path(&args.path).with_context(|| format!("`{}` is not a store path under {dir}", args.path))?;
    let client = LogClient::new(&args.server, LOG_TIMEOUT).context("--server")?;
    let lookup = client.lookup(&args.path)?;
    let printed = if ctx.json { print_json(&lookup) } else { print_text(&lookup) };
    after_printing(Outcome::Ok, printed)
}

fn print_text(l: &Lookup) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}: {}", escape_controls(&l.query), l.verdict)?;
    if l.outputs.is_empty() {
        writeln!(out, "  no builder has reported it")?;
    }
    for o in &l.outputs {
        writeln!(
            out,
            "  {} {}: {}",
            escape_controls(&o.output),
            escape_controls(&o.path),
            escape_controls(&o.verdict)
        )?;
        if o.path != l.query && o.drv != l.query {
            writeln!(out, "    drv {}", escape_controls(&o.drv))?;
        }
        for h in &o.hashes {
            let builders: Vec<String> = h.builders.iter().map(|b| escape_controls(b)).collect();
            writeln!(out, "    {} from {}", escape_controls(&h.nar_hash), builders.join(", "))?;
        }
        for r in &o.reports {
            writeln!(
                out,
                "      #{} {} {} {}",
                r.index,
                escape_controls(&r.builder),
                escape_controls(&r.nar_hash),
                escape_controls(&r.time)
            )?;
        }
    }
    out.flush()?;
    Ok(())
}
