//! Command-line definition and dispatch.

use std::process::ExitCode;

use clap::Parser;

/// Make the supply chain of Nix-built software demonstrable.
#[derive(Debug, Parser)]
#[command(name = "provenix", version)]
pub(crate) struct Cli {
    /// Print results as JSON.
    #[arg(long, global = true)]
    json: bool,
}

pub(crate) fn main() -> ExitCode {
    let _cli = Cli::parse();
    ExitCode::SUCCESS
}
