//! `provenix completions SHELL`: a completion script generated from the clap definition, the
//! same one `docs/cli.md` and the man pages come from, so the three cannot drift apart.

use std::io::{self, Write as _};

use clap_complete::Shell;

use crate::cli::{Outcome, command};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum, value_name = "SHELL")]
    shell: Shell,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Outcome> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command(), "provenix", &mut script);
    let mut out = io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(Outcome::Ok)
}
