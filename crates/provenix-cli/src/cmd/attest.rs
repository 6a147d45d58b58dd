//! `provenix attest`: in-toto attestations in DSSE envelopes.
//!
//! `attest verify` exits 0 when a trusted key signed the envelope and the
//! statement inside is well formed, 1 when the signatures do not vouch for
//! it (unsigned, signed by no trusted key, or altered after signing) or it
//! fails a policy flag (`--require-verdict`, `--artifact`), and 2 when the
//! file cannot be read or is not an attestation at all.

use std::io::{self, Read as _, Write as _};
use std::path::PathBuf;

use anyhow::Context as _;
use provenix_core::attest::{self, PROVENANCE_TYPE, ResourceDescriptor, Statement, VerifiedStatement};
use provenix_formats::dsse::MAX_ENVELOPE_LEN;
use provenix_formats::hash::HashAlgo;
use serde::Serialize;
use serde_json::Value;

use super::escape_controls;
use crate::cli::{Ctx, Outcome, after_printing, print_json};
use crate::cmd::key::load_trusted_keys;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Verify a DSSE-signed in-toto attestation against trusted keys; exit 1 if no trusted key vouches for it.
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The DSSE envelope, a JSON file (`-` for stdin).
    file: PathBuf,
    /// A trusted public key: a file as written by `key generate`, or the `name:base64` string.
    /// Repeat for several; signatures are matched to keys by key name (the envelope's `keyid`).
    #[arg(long = "trust-key", value_name = "PUB", required = true)]
    trust_key: Vec<String>,
    /// Require every rebuild verdict in the attestation to be this one (exit 1 otherwise, and
    /// when it holds no verdict), e.g. `identical` for a gate on reproducibility.
    #[arg(long = "require-verdict", value_name = "VERDICT",
          value_parser = ["identical", "differs", "no-reference", "not-built"])]
    require_verdict: Option<String>,
    /// A local artifact whose NAR sha256 must be a subject's digest (exit 1 otherwise): a store
    /// path (read under --store), a `result` link, any file or directory, or a NAR file. Repeatable.
    #[arg(long = "artifact", value_name = "PATH")]
    artifacts: Vec<PathBuf>,
}

/// The `--json` report; the fields are documented in `docs/json.md`.
#[derive(Serialize)]
struct Report<'a> {
    file: String,
    verified: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    signers: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    statement: Option<&'a Statement>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Present when a policy flag was given: whether the statement satisfies it, and why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<Policy>,
}

/// The outcome of `--require-verdict` and `--artifact`.
#[derive(Serialize)]
struct Policy {
    passed: bool,
    failures: Vec<String>,
}

pub(crate) fn run(cmd: &Command, ctx: &Ctx) -> anyhow::Result<Outcome> {
    match cmd {
        Command::Verify(args) => verify(args, ctx),
    }
}

fn verify(args: &VerifyArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let trusted = load_trusted_keys(&args.trust_key)?;
    let file = args.file.display().to_string();
    let json = read_envelope(&args.file).with_context(|| format!("reading {file}"))?;
    match attest::verify(&json, &trusted) {
        Ok(verified) => {
            let policy = check_policy(args, ctx, &verified.statement)?;
            let outcome = match &policy {
                Some(p) if !p.passed => Outcome::Failed,
                _ => Outcome::Ok,
            };
            let printed = if ctx.json {
                let report = Report {
                    file,
                    verified: true,
                    signers: &verified.signers,
                    statement: Some(&verified.statement),
                    error: None,
                    policy,
                };
                print_json(&report)
            } else {
                print_human(&file, &verified, policy.as_ref())
            };
            after_printing(outcome, printed)
        }
        Err(err) if err.is_verification_failure() => {
            let why = crate::cli::error_text(&anyhow::Error::new(err));
            let printed = if ctx.json {
                print_json(&Report {
                    file,
                    verified: false,
                    signers: &[],
                    statement: None,
                    error: Some(why),
                    policy: None,
                })
            } else {
                writeln!(io::stdout(), "{file}: NOT verified: {why}").map_err(Into::into)
            };
            after_printing(Outcome::Failed, printed)
        }
        Err(err) => Err(anyhow::Error::new(err).context(format!("{file} is not a valid attestation"))),
    }
}

/// Checks `--require-verdict` and `--artifact`; `None` when neither was given.
fn check_policy(args: &VerifyArgs, ctx: &Ctx, statement: &Statement) -> anyhow::Result<Option<Policy>> {
    if args.require_verdict.is_none() && args.artifacts.is_empty() {
        return Ok(None);
    }
    let mut failures = Vec::new();
    if let Some(required) = &args.require_verdict {
        let verdicts = statement.verdicts();
        if verdicts.is_empty() {
            failures.push(format!("--require-verdict {required}: the attestation holds no rebuild verdict"));
        }
        for (name, verdict) in verdicts.iter().filter(|(_, v)| v != required) {
            failures.push(format!(
                "--require-verdict {required}: {} is {}",
                escape_controls(name),
                escape_controls(verdict)
            ));
        }
    }
    for artifact in &args.artifacts {
        let physical = super::diff_output::physical(ctx, artifact)?;
        let hash = match provenix_core::diff::Input::detect(&physical)
            .with_context(|| format!("--artifact {}", artifact.display()))?
        {
            provenix_core::diff::Input::Nar(file) => provenix_store::nar::hash_file_flat(&file, HashAlgo::Sha256),
            provenix_core::diff::Input::Tree(tree) => provenix_store::nar::hash_path(&tree, HashAlgo::Sha256),
        }
        .with_context(|| format!("--artifact {}: hashing it", artifact.display()))?
        .0
        .to_base16();
        if statement.subject_with_sha256(&hash).is_none() {
            failures.push(format!(
                "--artifact {}: its NAR sha256 {hash} is no subject's digest",
                escape_controls(&artifact.display().to_string())
            ));
        }
    }
    Ok(Some(Policy { passed: failures.is_empty(), failures }))
}

/// Reads at most [`MAX_ENVELOPE_LEN`] bytes, so a huge file fails fast.
fn read_envelope(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let limit = MAX_ENVELOPE_LEN as u64 + 1;
    let mut data = Vec::new();
    if path.as_os_str() == "-" {
        io::stdin().lock().take(limit).read_to_end(&mut data)?;
    } else {
        std::fs::File::open(path)?.take(limit).read_to_end(&mut data)?;
    }
    anyhow::ensure!(data.len() <= MAX_ENVELOPE_LEN, "larger than the envelope size limit of {MAX_ENVELOPE_LEN} bytes");
    Ok(data)
}

fn print_human(file: &str, verified: &VerifiedStatement, policy: Option<&Policy>) -> anyhow::Result<()> {
    let statement = &verified.statement;
    let mut out = io::BufWriter::new(io::stdout().lock());
    writeln!(out, "{file}: verified, signed by {}", verified.signers.join(", "))?;
    writeln!(out, "predicate: {}", escape_controls(&statement.predicate_type))?;
    writeln!(out, "subjects ({}):", statement.subject.len())?;
    for subject in &statement.subject {
        writeln!(out, "  {}  {}", label(subject), digest(subject))?;
    }
    if statement.predicate_type == PROVENANCE_TYPE {
        // `attest::verify` already checked that the predicate has this shape.
        let provenance = statement.provenance_predicate()?;
        writeln!(out, "builder: {}", escape_controls(&provenance.run_details.builder.id))?;
        writeln!(out, "resolved dependencies: {}", provenance.build_definition.resolved_dependencies.len())?;
        let verdicts: Vec<(String, String)> = provenance
            .run_details
            .byproducts
            .iter()
            .filter_map(|b| {
                let verdict = b.annotations.as_ref()?.get("verdict")?;
                let text = match verdict {
                    Value::String(s) => escape_controls(s),
                    other => escape_controls(&other.to_string()),
                };
                Some((label(b), text))
            })
            .collect();
        if !verdicts.is_empty() {
            writeln!(out, "verdicts:")?;
            let width = verdicts.iter().map(|(name, _)| name.chars().count()).max().unwrap_or(0);
            for (name, verdict) in verdicts {
                writeln!(out, "  {name:width$}  {verdict}")?;
            }
        }
    }
    match policy {
        Some(p) if p.passed => writeln!(out, "policy: passed")?,
        Some(p) => {
            writeln!(out, "policy: FAILED")?;
            for f in &p.failures {
                writeln!(out, "  {f}")?;
            }
        }
        None => {}
    }
    out.flush()?;
    Ok(())
}

/// A descriptor's name, else its URI, else `(unnamed)`.
fn label(d: &ResourceDescriptor) -> String {
    d.name.as_deref().or(d.uri.as_deref()).map_or_else(|| "(unnamed)".to_owned(), escape_controls)
}

/// `sha256:<hex>` if there is one, else the first digest in algorithm order.
fn digest(d: &ResourceDescriptor) -> String {
    let chosen = d.digest.get_key_value("sha256").or_else(|| d.digest.iter().next());
    chosen.map_or_else(String::new, |(algo, value)| escape_controls(&format!("{algo}:{value}")))
}
