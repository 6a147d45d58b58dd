//! `provenix attest`: in-toto attestations in DSSE envelopes.
//!
//! `attest verify` exits 0 when a trusted key signed the envelope and the
//! statement inside is well formed, 1 when the signatures do not vouch for
//! it (unsigned, signed by no trusted key, or altered after signing), and 2
//! when the file cannot be read or is not an attestation at all.

use std::io::{self, Read as _, Write as _};
use std::path::PathBuf;

use anyhow::Context as _;
use provenix_core::attest::{self, PROVENANCE_TYPE, ResourceDescriptor, Statement, VerifiedStatement};
use provenix_formats::dsse::MAX_ENVELOPE_LEN;
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
            if ctx.json {
                let report = Report {
                    file,
                    verified: true,
                    signers: &verified.signers,
                    statement: Some(&verified.statement),
                    error: None,
                };
                print_json(&report)?;
            } else {
                print_human(&file, &verified)?;
            }
            Ok(Outcome::Ok)
        }
        Err(err) if err.is_verification_failure() => {
            let why = crate::cli::error_text(&anyhow::Error::new(err));
            let printed = if ctx.json {
                print_json(&Report { file, verified: false, signers: &[], statement: None, error: Some(why) })
            } else {
                writeln!(io::stdout(), "{file}: NOT verified: {why}").map_err(Into::into)
            };
            after_printing(Outcome::Failed, printed)
        }
        Err(err) => Err(anyhow::Error::new(err).context(format!("{file} is not a valid attestation"))),
    }
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

fn print_human(file: &str, verified: &VerifiedStatement) -> anyhow::Result<()> {
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
