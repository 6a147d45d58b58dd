//! `provenix challenge ROOT... --server URL`: the local outputs of the roots'
//! closure against a rebuild transparency log, as `guix challenge` does.

use std::collections::BTreeMap;
use std::io::{self, BufWriter};

use anyhow::Context as _;
use provenix_core::log::check::LogClient;
use provenix_core::log::compare::{ChallengeReport, ChallengeStatus, challenge, local_outputs};
use provenix_store::drv::DrvClosure;

use super::roots::{Bar, RootArgs, open_db, store_flag};
use super::{Paint, count, escape_controls, paint};
use crate::cli::{Ctx, Outcome, after_printing, print_json};

/// `provenix challenge` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    roots: RootArgs,
    /// The log server's URL.
    #[arg(long, value_name = "URL")]
    server: String,
}

pub(crate) fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let client = LogClient::new(&args.server, super::log_show::LOG_TIMEOUT).context("--server")?;
    let db = open_db(ctx)?;
    let roots = args.roots.resolve(ctx, db.as_ref())?;
    // Evaluating a Nix-file root creates the database of a fresh store.
    let db = match db {
        Some(db) => Some(db),
        None => open_db(ctx)?,
    };
    let closure = DrvClosure::load(&ctx.store, &roots).context("reading the build closure")?;
    let bar = Bar::new(ctx);
    let local = local_outputs(&ctx.store, &closure, db.as_ref(), &BTreeMap::new(), &bar)?;
    let report = challenge(&client, &local, &bar)?;
    let printed = if ctx.json {
        print_json(&report)
    } else {
        write_human(&report, &store_flag(ctx), ctx.color, &mut BufWriter::new(io::stdout().lock())).map_err(Into::into)
    };
    after_printing(if report.differs() { Outcome::Failed } else { Outcome::Ok }, printed)
}

fn write_human(r: &ChallengeReport, store_flag: &str, color: bool, out: &mut impl io::Write) -> io::Result<()> {
    for o in &r.outputs {
        let path = escape_controls(&o.path);
        let builders = |names: &[String]| names.iter().map(|b| escape_controls(b)).collect::<Vec<_>>().join(", ");
        match o.status {
            ChallengeStatus::Matches => writeln!(
                out,
                "{path}: matches {} ({})",
                count(o.matching.len(), "builder", "builders"),
                builders(&o.matching)
            )?,
            ChallengeStatus::NotInLog => writeln!(out, "{path}: not in log")?,
            ChallengeStatus::Differs => {
                let others: Vec<String> = o.differing.iter().flat_map(|d| d.builders.iter().cloned()).collect();
                writeln!(
                    out,
                    "{path}: {} from {} ({})",
                    paint(color, Paint::Red, "DIFFERS"),
                    count(others.len(), "builder", "builders"),
                    builders(&others)
                )?;
                writeln!(out, "    local    {}", escape_controls(&o.local_hash))?;
                for d in &o.differing {
                    writeln!(out, "    {} from {}", escape_controls(&d.nar_hash), builders(&d.builders))?;
                }
                if !o.matching.is_empty() {
                    writeln!(out, "    the local hash from {}", builders(&o.matching))?;
                }
                writeln!(out, "    see: provenix{store_flag} diff-output {path} THEIRS")?;
                writeln!(out, "         (THEIRS: their build of it, as a store path, tree or NAR file)")?;
            }
        }
    }
    let s = &r.summary;
    writeln!(
        out,
        "{}: {} match the log, {} differ, {} not in log",
        count(s.outputs, "output", "outputs"),
        s.matches,
        s.differs,
        s.not_in_log
    )?;
    if s.unrealised > 0 {
        writeln!(out, "  {} not realised here, not compared", count(s.unrealised, "output", "outputs"))?;
    }
    out.flush()
}
