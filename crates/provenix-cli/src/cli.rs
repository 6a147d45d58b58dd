//! Command-line definition, global options and dispatch.
//!
//! Exit codes (DESIGN.md): 0 ok, 1 a verification ran and failed, 2 usage or
//! I/O error. Errors print as `error: <context>: <cause>` on stderr and name
//! the file or path at fault. A closed stdout (e.g. `| head`) exits quietly.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use provenix_formats::store_path::StoreDir;
use provenix_store::Store;

use crate::cmd;

/// Make the supply chain of Nix-built software demonstrable.
#[derive(Debug, Parser)]
#[command(name = "provenix", version, propagate_version = true, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(Debug, clap::Args)]
pub(crate) struct GlobalArgs {
    /// Print results as JSON (stable, documented fields).
    #[arg(long, global = true)]
    json: bool,
    /// Read the store under ROOT/nix/store (a copied, mounted or chroot store).
    #[arg(long, global = true, value_name = "ROOT")]
    store: Option<PathBuf>,
    /// The logical store directory, part of every hash.
    #[arg(long, global = true, value_name = "DIR", default_value = "/nix/store")]
    store_dir: String,
    /// The Nix database (default: ROOT/nix/var/nix/db/db.sqlite with --store, else /nix/var/nix/db/db.sqlite).
    #[arg(long, global = true, value_name = "FILE")]
    db: Option<PathBuf>,
    /// More log output on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Nix ARchives: dump, hash, check, unpack.
    #[command(subcommand)]
    Nar(cmd::nar::Command),
    /// Derivations: show, recompute paths.
    #[command(subcommand)]
    Drv(cmd::drv::Command),
    /// Signing keys in Nix's `name:base64` format.
    #[command(subcommand)]
    Key(cmd::key::Command),
    /// List every fixed-output derivation (source) in the build closure of the roots.
    Sources(cmd::sources::Args),
    /// Check the build closure of the roots for tampering, and source hygiene.
    Verify(cmd::verify::Args),
    /// Write the source-only closure of the roots (every .drv, source and input) as one signed archive.
    Bundle(cmd::bundle::Args),
    /// Check a bundle, import it into a fresh store and rebuild its roots offline; compare with the reference.
    Rebuild(cmd::rebuild::Args),
    /// Signed attestations: in-toto statements (SLSA provenance) in DSSE envelopes.
    #[command(subcommand)]
    Attest(cmd::attest::Command),
    /// Write a software bill of materials of the roots: CycloneDX 1.6 or SPDX 2.3 JSON.
    ///
    /// Every derivation of the build closure (or, with --runtime, of the roots' runtime closure) as a
    /// component: name and version, purl, CPEs, NAR hashes of realised outputs, sources with their
    /// declared hashes and URLs, patches with the CVE ids they resolve, licenses from --meta, and
    /// the dependency graph. The same closure gives the same bytes: no clock unless --timestamp, and
    /// a serial number derived from the document. See docs/sbom.md for the field mapping.
    Sbom(cmd::sbom::Args),
    /// Check the roots' components against vulnerability data (NVD 2.0, CVE 5, OSV): exit 1 if affected.
    ///
    /// `--db DIR` is the directory of vulnerability JSON files here (indexed once into
    /// DIR/.provenix-index.sqlite); the Nix database is `--nix-db FILE`. Patches whose file name holds a
    /// finding's id and whitelist entries move findings to `patched` and `whitelisted`, still reported.
    Vulns(cmd::vulns::Args),
    /// Compare two outputs (store paths, trees or NAR files) file by file.
    ///
    /// Lists which files were modified (M), added (A) or removed (D), or changed type (T), executable
    /// bit (X) or symlink target (L). Changed text files get a unified diff, other files the
    /// differing byte ranges; diffoscope, when it is on PATH, adds its own report.
    ///
    /// Each side is a store path (`/nix/store/…`, read under `--store ROOT`), a `result` symlink to
    /// one, any other file, directory or symlink (symlinks are compared, never followed), or a NAR
    /// file (recognised by its magic). Exit 0 when identical, 1 when they differ, 2 on unreadable or
    /// malformed input.
    DiffOutput(cmd::diff_output::Args),
    /// Run the rebuild transparency log server (`--db sqlite:FILE`; API in docs/log.md).
    ///
    /// Builders registered by public key (--builders FILE, or the admin API with --admin-token-file)
    /// submit signed build reports or rebuild attestations; each accepted one is appended to an
    /// RFC 9162 Merkle log, batched, under checkpoints signed with --log-key (C2SP tlog-checkpoint;
    /// tiles at C2SP tlog-tiles paths). Submitters get a receipt: their index and an inclusion proof.
    /// Binds 127.0.0.1:8080 unless --listen says otherwise; stops on ctrl-c or SIGTERM.
    Serve(cmd::serve::Args),
    /// Ask a rebuild transparency log about outputs (`log show`).
    #[command(subcommand)]
    Log(cmd::log_show::Command),
}

/// What every command gets: the checked global configuration.
pub(crate) struct Ctx {
    /// Render JSON instead of human text.
    pub(crate) json: bool,
    /// Suppress informational stderr output.
    pub(crate) quiet: bool,
    /// The store to read.
    pub(crate) store: Store,
    /// `--db`, if given.
    pub(crate) db: Option<PathBuf>,
}

/// Context marking an error as a failed verification (exit 1, not 2): the
/// input was read and checked, and refused.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VerificationFailed;

impl std::fmt::Display for VerificationFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("verification failed")
    }
}

/// How a command that ran to the end went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// All good: exit 0.
    Ok,
    /// The check ran and failed: exit 1.
    Failed,
}

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.global);
    match run(cli) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) if err.downcast_ref::<VerificationFailed>().is_some() => {
            let _ = writeln!(io::stderr(), "error: {err:#}");
            ExitCode::from(1)
        }
        Err(err) => {
            let _ = writeln!(io::stderr(), "error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let g = &cli.global;
    let dir = StoreDir::new(&g.store_dir).context("--store-dir")?;
    let root = match &g.store {
        Some(root) => {
            anyhow::ensure!(root.is_dir(), "--store {}: not a directory", root.display());
            // Absolute, because Nix commands given `--store local?root=` need it.
            Some(std::path::absolute(root).with_context(|| format!("--store {}", root.display()))?)
        }
        None => None,
    };
    let ctx = Ctx { json: g.json, quiet: g.quiet, store: Store::new(dir, root), db: g.db.clone() };
    match &cli.command {
        Command::Nar(c) => cmd::nar::run(c, &ctx),
        Command::Drv(c) => cmd::drv::run(c, &ctx),
        Command::Key(c) => cmd::key::run(c, &ctx),
        Command::Sources(a) => cmd::sources::run(a, &ctx),
        Command::Verify(a) => cmd::verify::run(a, &ctx),
        Command::Bundle(a) => cmd::bundle::run(a, &ctx),
        Command::Rebuild(a) => cmd::rebuild::run(a, &ctx),
        Command::Attest(c) => cmd::attest::run(c, &ctx),
        Command::Sbom(a) => cmd::sbom::run(a, &ctx),
        Command::Vulns(a) => cmd::vulns::run(a, &ctx),
        Command::DiffOutput(a) => cmd::diff_output::run(a, &ctx),
        Command::Serve(a) => cmd::serve::run(a, &ctx),
        Command::Log(c) => cmd::log_show::run(c, &ctx),
    }
}

fn init_logging(g: &GlobalArgs) {
    use tracing_subscriber::EnvFilter;
    let default = match (g.quiet, g.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("PROVENIX_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(io::stderr).without_time().try_init();
}

/// The outcome of a command once its report is printed. A reader that stopped early (a closed
/// pipe, as with `| head`) does not change it, so a failed check never exits 0 that way; any
/// other write error is an error.
pub(crate) fn after_printing(outcome: Outcome, printed: anyhow::Result<()>) -> anyhow::Result<Outcome> {
    match printed {
        Err(err) if is_broken_pipe(&err) => Ok(outcome),
        other => other.map(|()| outcome),
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe))
}

/// Writes `value` as JSON plus a newline to stdout: indented on a terminal,
/// compact otherwise (a pipe or file gets the smaller, faster form).
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    use std::io::IsTerminal as _;
    let terminal = io::stdout().is_terminal();
    // Buffered: stdout is line-buffered, and a large report has many lines.
    let mut out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    if terminal {
        serde_json::to_writer_pretty(&mut out, value).map_err(io::Error::from)?;
    } else {
        serde_json::to_writer(&mut out, value).map_err(io::Error::from)?;
    }
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Renders the help of every command as Markdown, for `docs/cli.md`.
#[cfg(test)]
fn render_cli_docs() -> String {
    use clap::CommandFactory;
    fn walk(cmd: &mut clap::Command, prefix: &str, out: &mut String) {
        let name = if prefix.is_empty() { cmd.get_name().to_owned() } else { format!("{prefix} {}", cmd.get_name()) };
        let help = cmd.render_long_help().to_string();
        out.push_str(&format!("## `{name}`\n\n```text\n{}\n```\n\n", help.trim_end()));
        let mut subs: Vec<clap::Command> = cmd.get_subcommands().cloned().collect();
        for sub in &mut subs {
            if sub.get_name() != "help" {
                walk(sub, &name, out);
            }
        }
    }
    let mut cmd = Cli::command().term_width(100);
    cmd.build();
    let mut out = String::from(
        "# provenix command line\n\nGenerated from the clap definitions by the test \
         `cli::tests::docs_cli_md_is_up_to_date`\n(run it with `UPDATE_DOCS=1` to refresh). \
         JSON fields are described in `json.md`.\n\n",
    );
    walk(&mut cmd, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn docs_cli_md_is_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli.md");
        let rendered = render_cli_docs();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(&path, &rendered).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(committed == rendered, "docs/cli.md is stale: run `UPDATE_DOCS=1 cargo test -p provenix-cli docs_cli`");
    }
}
