//! Command-line definition, global options and dispatch.
//!
//! Exit codes (DESIGN.md): 0 ok, 1 a verification ran and failed, 2 usage or
//! I/O error. Errors print as `error: <context>: <cause>` on stderr and name
//! the file or path at fault. A closed stdout (e.g. `| head`) exits quietly.

use std::io::{self, IsTerminal as _, Write};
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

/// The help heading of the options every command takes, listed apart from the command's own.
const GLOBAL: &str = "Global options";

/// Options every command takes.
#[derive(Debug, clap::Args)]
pub(crate) struct GlobalArgs {
    /// Print results as JSON (stable, documented fields).
    #[arg(long, global = true, help_heading = GLOBAL)]
    json: bool,
    /// Read the store under ROOT/nix/store (a copied, mounted or chroot store).
    #[arg(long, global = true, value_name = "ROOT", help_heading = GLOBAL)]
    store: Option<PathBuf>,
    /// The logical store directory, part of every hash.
    #[arg(long, global = true, value_name = "DIR", default_value = "/nix/store", help_heading = GLOBAL)]
    store_dir: String,
    /// The Nix database (default: ROOT/nix/var/nix/db/db.sqlite with --store, else /nix/var/nix/db/db.sqlite).
    #[arg(long, global = true, value_name = "FILE", help_heading = GLOBAL)]
    db: Option<PathBuf>,
    /// Colour in human output: `auto` colours only a terminal, and not when NO_COLOR is set.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto, help_heading = GLOBAL)]
    color: ColorWhen,
    /// More log output on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL)]
    verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL)]
    quiet: bool,
}

/// When human output is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorWhen {
    /// On a terminal, unless NO_COLOR is set to a non-empty value.
    Auto,
    /// Always, even piped and with NO_COLOR.
    Always,
    /// Never.
    Never,
}

impl ColorWhen {
    /// Whether stdout gets colour, given whether it is a terminal and the value of NO_COLOR
    /// (no-color.org: set and not empty disables colour; an explicit flag wins).
    pub(crate) fn resolve(self, terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
        match self {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => terminal && no_color.is_none_or(|v| v.is_empty()),
        }
    }
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
    /// `--vuln-db DIR` is the directory of vulnerability data (.json, .json.gz, .zip; indexed once into
    /// DIR/.provenix-index.sqlite, or the cache directory for a read-only DIR); `--db` is the Nix database,
    /// as for every command. Data with no advisories is an error. Patches whose file name holds a
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
    /// Check this machine for what provenix's commands need, and say what to fix; exit 1 if something is missing.
    ///
    /// Checks the Nix version, sandbox support (namespaces), build users (or an explicit choice to run
    /// without them), the sandbox's /bin/sh, `unshare --net`, the store and database, `git`, the
    /// clock, and (for development only) the SBOM/SARIF/in-toto validators. Nix's settings are read
    /// as `rebuild` uses them: with its forced options and any --nix-option.
    Doctor(cmd::doctor::Args),
    /// Print a shell completion script for bash, zsh, fish, elvish or powershell on stdout.
    ///
    /// For example `provenix completions bash > /etc/bash_completion.d/provenix`, or
    /// `provenix completions zsh > ~/.zfunc/_provenix`.
    Completions(cmd::completions::Args),
    /// Print the manual page (roff) on stdout, or write one page per command into a directory.
    ///
    /// `provenix man | man -l -` reads it; `provenix man --dir DIR` writes provenix.1,
    /// provenix-sources.1, provenix-nar-dump.1 and so on.
    Man(cmd::man::Args),
    /// What changed between the sources of two closures: OLD NEW, two roots of any kind.
    ///
    /// Pairs sources by package and name and reports sources added and removed; version, URL, hash
    /// and fetcher changes; the stale-hash pattern (URLs changed, hash did not); patches added,
    /// removed and changed with the CVE ids they name; build-time dependencies added and removed.
    /// Exit 0 when nothing differs, 1 when something does. Fields: docs/review.md.
    Diff(cmd::diff::Args),
    /// Signed reviews of sources: sign one, list those that apply to a closure.
    #[command(subcommand)]
    Review(cmd::review::Command),
    /// The review gate: enough independent, trusted reviewers for every source?
    #[command(subcommand)]
    Policy(cmd::policy::Command),
    /// Compare a release archive with the VCS tree of the same version, file by file.
    ///
    /// Both sides are streamed, never extracted (tar, tar.gz, tar.xz, tar.bz2, tar.zst, zip, NAR or a
    /// directory; a single top directory is stripped). Files only in the archive are
    /// `tarball-only-file`, classed `known-copy` (same bytes as an upstream m4 macro or helper script:
    /// a built-in table, the system's /usr/share/aclocal and friends, --known-copies), `generated`
    /// (`make dist` output: configure, Makefile.in, .gmo, ...; info), `unknown-build-file` (looks like
    /// one but matches no known copy: the xz case; warning) or `other` (warning). Files in both with
    /// other bytes are `tarball-modified-file` (error, unless make dist rewrites them); `vcs-only-file`
    /// is info; `mode-difference` a warning and `symlink-difference` an error. Exit 1 on a finding
    /// at --fail-on or worse, 2 on unreadable or hostile input (path traversal, symlink escapes,
    /// truncation, decompression bombs). See docs/equiv.md.
    Equiv(cmd::equiv::Args),
    /// Run the rebuild transparency log server (`--db sqlite:FILE`; API in docs/log.md).
    ///
    /// Builders registered by public key (--builders FILE, or the admin API with --admin-token-file)
    /// submit signed build reports or rebuild attestations; each accepted one is appended to an
    /// RFC 9162 Merkle log, batched, under checkpoints signed with --log-key (C2SP tlog-checkpoint;
    /// tiles at C2SP tlog-tiles paths). Submitters get a receipt: their index and an inclusion proof.
    /// Binds 127.0.0.1:8080 unless --listen says otherwise; stops on ctrl-c or SIGTERM.
    Serve(cmd::serve::Args),
    /// Ask a rebuild transparency log about outputs (`log show`), or check its history (`log verify`).
    #[command(subcommand)]
    Log(cmd::log_show::Command),
    /// Compare the local outputs of the roots' closure with a rebuild transparency log, as `guix challenge`.
    ///
    /// Every realised output of the build closure (fixed-output derivations aside: their declared
    /// hash pins them) is hashed here (NAR sha256) and looked up on --server: `matches N builders`,
    /// `DIFFERS from` the builders that reported another hash (with the `diff-output` command to
    /// compare their build), or `not in log`. Exit 1 if any local output differs from the log.
    Challenge(cmd::challenge::Args),
    /// Submit build reports to a rebuild transparency log; check the receipts; compare with other builders.
    ///
    /// Reports local outputs (--path), rebuild attestations, or, as Nix's post-build-hook
    /// (--post-build-hook), every build this machine makes. Each report is signed with --key, the log's
    /// receipt (inclusion proof, checkpoint) is checked, and the build is compared with the other
    /// builders' reports of the same output: "matches N builders", or "DIFFERS from N builders" with
    /// both hashes and the `diff-output` command to run. Exit 0 when everything was logged (a
    /// difference is reported, not a failure), 1 when a receipt does not verify, 2 on errors (bad
    /// key, unreachable or refusing server). The hook always exits 0. See docs/log.md.
    Report(cmd::report::Args),
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
    /// Whether human output on stdout is coloured (`--color`, NO_COLOR, a terminal).
    pub(crate) color: bool,
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
    crate::signals::install();
    use clap::FromArgMatches as _;
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    init_logging(&cli.global);
    match run(cli) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) if err.downcast_ref::<VerificationFailed>().is_some() => {
            let _ = writeln!(io::stderr(), "error: {}", error_text(&err));
            ExitCode::from(1)
        }
        Err(err) => {
            let _ = writeln!(io::stderr(), "error: {}", error_text(&err));
            ExitCode::from(2)
        }
    }
}

/// The error chain as `{:#}` prints it, each part shortened and with its
/// control characters escaped: causes quote untrusted input (a URL from a
/// `.drv`, a 50 MB CPE), which must neither drive the terminal nor flood it.
pub(crate) fn error_text(err: &anyhow::Error) -> String {
    let parts: Vec<String> =
        err.chain().map(|cause| provenix_core::text::shorten_message(&cause.to_string())).collect();
    parts.join(": ")
}

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let g = &cli.global;
    let dir = StoreDir::new(&g.store_dir).context("--store-dir")?;
    let root = match &g.store {
        Some(root) => {
            anyhow::ensure!(root.is_dir(), "--store {}: not a directory", root.display());
            check_store_root(root)?;
            // Absolute, because Nix commands given `--store local?root=` need it.
            Some(std::path::absolute(root).with_context(|| format!("--store {}", root.display()))?)
        }
        None => None,
    };
    let color = g.color.resolve(io::stdout().is_terminal(), std::env::var_os("NO_COLOR").as_deref());
    let mut ctx = Ctx { json: g.json, quiet: g.quiet, store: Store::new(dir, root), db: g.db.clone(), color };
    let mut command = cli.command;
    // A bundle as the root of the closure commands: read its .drv files instead of the store.
    let nix_db = ctx.db.as_deref().map(|db| format!("--db {}", db.display()));
    let nix_db = nix_db.as_deref();
    let _bundle = match &mut command {
        Command::Sources(a) => cmd::roots::bundle_root(&mut a.roots, nix_db)?,
        Command::Sbom(a) => cmd::roots::bundle_root(&mut a.roots, nix_db)?,
        Command::Vulns(a) => cmd::roots::bundle_root(&mut a.roots, nix_db)?,
        _ => None,
    };
    if let Some(bundle) = &_bundle {
        ctx.store = bundle.store.clone();
    }
    match &command {
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
        Command::Doctor(a) => cmd::doctor::run(a, &ctx),
        Command::Completions(a) => cmd::completions::run(a),
        Command::Man(a) => cmd::man::run(a, &ctx),
        Command::Diff(a) => cmd::diff::run(a, &ctx),
        Command::Review(c) => cmd::review::run(c, &ctx),
        Command::Policy(c) => cmd::policy::run(c, &ctx),
        Command::Equiv(a) => cmd::equiv::run(a, &ctx),
        Command::Serve(a) => cmd::serve::run(a, &ctx),
        Command::Log(c) => cmd::log_show::run(c, &ctx),
        Command::Challenge(a) => cmd::challenge::run(a, &ctx),
        Command::Report(a) => cmd::report::run(a, &ctx),
    }
}

/// Refuses a `--store` that names the store directory itself (`ROOT/nix/store`) or `ROOT/nix`
/// instead of the root above it, saying which root to give.
fn check_store_root(root: &std::path::Path) -> anyhow::Result<()> {
    if root.join("nix/store").is_dir() {
        return Ok(());
    }
    let absolute = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let above = if absolute.ends_with("nix/store") {
        absolute.parent().and_then(std::path::Path::parent)
    } else if absolute.ends_with("nix") && absolute.join("store").is_dir() {
        absolute.parent()
    } else {
        None
    };
    match above {
        Some(above) => anyhow::bail!(
            "--store {}: give the root above the store, `--store {}` (the store is read under ROOT/nix/store)",
            root.display(),
            above.display()
        ),
        None => Ok(()),
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
///
/// Every document gets a top-level `schemaVersion` ([`SCHEMA_VERSION`]), so a consumer can tell
/// which contract of docs/json.md it reads.
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let value = &Versioned { schema_version: SCHEMA_VERSION, document: value };
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

/// The version of the JSON contracts in docs/json.md: raised when a field changes meaning or
/// goes away (new fields do not raise it).
pub(crate) const SCHEMA_VERSION: u32 = 1;

#[derive(serde::Serialize)]
struct Versioned<'a, T> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(flatten)]
    document: &'a T,
}

/// Global options that mean nothing for a command, per command path: hidden from its help, man
/// page and completions (still accepted, so a shell alias with `--store` keeps working).
const NOT_OFFERED: &[(&[&str], &[&str])] = &[
    (&["key", "generate"], &["store", "store_dir", "db"]),
    (&["key", "public"], &["store", "store_dir", "db"]),
    (&["attest", "verify"], &["store", "store_dir", "db"]),
    (&["nar", "check"], &["store", "store_dir", "db"]),
    (&["nar", "unpack"], &["store", "store_dir", "db"]),
    (&["nar", "dump"], &["db", "json", "color"]),
    (&["nar", "hash"], &["db", "color"]),
    (&["rebuild"], &["db"]),
    (&["completions"], &["store", "store_dir", "db", "json", "color"]),
    (&["man"], &["store", "store_dir", "db", "color"]),
];

/// `cmd` with `args` added to the subcommand at `path`.
fn hide_in(cmd: clap::Command, path: &[&str], args: &[clap::Arg]) -> clap::Command {
    match path.split_first() {
        None => cmd.args(args.iter().cloned()),
        Some((name, rest)) => cmd.mut_subcommand(*name, |sub| hide_in(sub, rest, args)),
    }
}

/// The clap definition, built: what parsing, `docs/cli.md`, the man pages and the completions
/// all come from.
pub(crate) fn command() -> clap::Command {
    use clap::CommandFactory as _;
    let mut cmd = Cli::command();
    // A subcommand that already has an argument of a global's id keeps its own when clap
    // propagates the globals: give those commands a hidden copy.
    for (path, ids) in NOT_OFFERED {
        let hidden: Vec<clap::Arg> =
            cmd.get_arguments().filter(|a| ids.contains(&a.get_id().as_str())).map(|a| a.clone().hide(true)).collect();
        cmd = hide_in(cmd, path, &hidden);
    }
    cmd.build();
    cmd
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
    fn colour_follows_the_flag_then_no_color_then_the_terminal() {
        use std::ffi::OsStr;
        let set = Some(OsStr::new("1"));
        assert!(ColorWhen::Auto.resolve(true, None));
        assert!(ColorWhen::Auto.resolve(true, Some(OsStr::new(""))), "an empty NO_COLOR is unset");
        assert!(!ColorWhen::Auto.resolve(true, set));
        assert!(!ColorWhen::Auto.resolve(false, None), "no colour into a pipe");
        assert!(ColorWhen::Always.resolve(false, set), "an explicit flag wins over NO_COLOR");
        assert!(!ColorWhen::Never.resolve(true, None));
    }

    #[test]
    fn global_options_are_listed_apart_from_the_commands_own() {
        let mut cmd = command();
        let sources = cmd.find_subcommand_mut("sources").unwrap();
        let help = sources.render_help().to_string();
        let (own, global) = help.split_once("Global options:").expect("a Global options heading");
        assert!(own.contains("--why") && !own.contains("--store <ROOT>"), "{help}");
        assert!(global.contains("--store <ROOT>") && global.contains("--json") && !global.contains("--why"), "{help}");
    }

    #[test]
    fn options_that_mean_nothing_for_a_command_are_not_offered() {
        let mut cmd = command();
        let key = cmd.find_subcommand_mut("key").unwrap().find_subcommand_mut("generate").unwrap();
        let help = key.render_long_help().to_string();
        assert!(!help.contains("--store") && !help.contains("--db") && help.contains("--json"), "{help}");
        let sources = cmd.find_subcommand_mut("sources").unwrap().render_long_help().to_string();
        assert!(sources.contains("--store <ROOT>") && sources.contains("--db <FILE>"), "{sources}");
        for (path, ids) in NOT_OFFERED {
            let mut at = Some(&mut cmd);
            for name in *path {
                at = at.and_then(|c| c.find_subcommand_mut(name));
            }
            let sub = at.unwrap_or_else(|| panic!("no command {path:?}"));
            for id in *ids {
                let arg = sub.get_arguments().find(|a| a.get_id() == id);
                assert!(arg.is_some_and(clap::Arg::is_hide_set), "{path:?} offers {id}");
            }
        }
        // Still accepted where hidden.
        let parsed = command().try_get_matches_from(["provenix", "--store", "/tmp", "key", "public", "k"]);
        assert!(parsed.is_ok(), "{parsed:?}");
    }

    #[test]
    fn a_store_directory_given_as_the_root_is_refused_with_the_root_to_give() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("nix/store")).unwrap();
        assert!(check_store_root(root.path()).is_ok());
        let err = check_store_root(&root.path().join("nix/store")).unwrap_err().to_string();
        assert!(err.contains(&format!("`--store {}`", root.path().display())), "{err}");
        let err = check_store_root(&root.path().join("nix")).unwrap_err().to_string();
        assert!(err.contains(&format!("`--store {}`", root.path().display())), "{err}");
        let empty = tempfile::tempdir().unwrap();
        assert!(check_store_root(empty.path()).is_ok(), "a fresh root is not a mistake");
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
