//! `provenix key`: ed25519 signing keys in Nix's `name:base64` format, the
//! same files `nix-store --generate-binary-cache-key` writes.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use provenix_formats::signature::{PublicKey, SecretKey, TrustedKeys};
use provenix_store::fs::{WriteError, stage};
use serde::Serialize;

use crate::cli::{Ctx, Outcome, print_json};
use crate::output::explain;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Generate a key pair (like `nix-store --generate-binary-cache-key`).
    Generate(GenerateArgs),
    /// Print the public key of a secret key.
    Public(PublicArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct GenerateArgs {
    /// Key name, e.g. `rebuilder.example.org-1`.
    name: String,
    /// Where to write the secret key (created with mode 0600).
    #[arg(long, value_name = "FILE")]
    secret_out: PathBuf,
    /// Where to write the public key.
    #[arg(long, value_name = "FILE")]
    public_out: PathBuf,
    /// Replace existing files.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct PublicArgs {
    /// A secret key: a file, or the `name:base64` string itself.
    key: String,
}

#[derive(Serialize)]
struct Generated<'a> {
    name: &'a str,
    #[serde(rename = "publicKey")]
    public_key: String,
    #[serde(rename = "secretKeyFile")]
    secret_key_file: String,
    #[serde(rename = "publicKeyFile")]
    public_key_file: String,
}

pub(crate) fn run(cmd: &Command, ctx: &Ctx) -> anyhow::Result<Outcome> {
    match cmd {
        Command::Generate(args) => generate(args, ctx),
        Command::Public(args) => {
            let secret = load_secret_key(&args.key)?;
            let public = secret.to_public().to_string();
            if ctx.json {
                print_json(&serde_json::json!({ "name": secret.name(), "publicKey": public }))?;
            } else {
                writeln!(std::io::stdout(), "{public}")?;
            }
            Ok(Outcome::Ok)
        }
    }
}

fn generate(args: &GenerateArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    anyhow::ensure!(args.secret_out != args.public_out, "--secret-out and --public-out name the same file");
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).context("reading randomness from the operating system")?;
    let secret = SecretKey::from_seed(&args.name, seed).with_context(|| format!("key name `{}`", args.name))?;
    let public = secret.to_public().to_string();
    let outputs = [("--secret-out", &args.secret_out), ("--public-out", &args.public_out)];
    for (flag, path) in outputs {
        provenix_store::fs::check_target(path).map_err(|e| explain(flag, e))?;
        if !args.force && path.symlink_metadata().is_ok() {
            return Err(explain(flag, WriteError::Exists { path: path.clone() }));
        }
    }
    // Write both before either is put in place, so a failure (missing or
    // read-only directory) leaves existing keys untouched. Nix writes both
    // files without a trailing newline.
    let secret_file =
        stage(&args.secret_out, secret.to_string().as_bytes(), 0o600).map_err(|e| explain("--secret-out", e))?;
    let public_file = stage(&args.public_out, public.as_bytes(), 0o644).map_err(|e| explain("--public-out", e))?;
    secret_file.commit(args.force).map_err(|e| explain("--secret-out", e))?;
    if let Err(e) = public_file.commit(args.force) {
        // Do not leave half a key pair behind (a replaced secret is gone
        // anyway; this needs the rename of a staged file to fail).
        let _ = std::fs::remove_file(&args.secret_out);
        return Err(explain("--public-out", e));
    }
    if ctx.json {
        print_json(&Generated {
            name: &args.name,
            public_key: public,
            secret_key_file: args.secret_out.display().to_string(),
            public_key_file: args.public_out.display().to_string(),
        })?;
    } else {
        writeln!(std::io::stdout(), "{public}")?;
        if !ctx.quiet {
            eprintln!("secret key written to {} (mode 0600)", args.secret_out.display());
        }
    }
    Ok(Outcome::Ok)
}

/// Reads a secret key given as a file or as the `name:base64` string.
pub(crate) fn load_secret_key(arg: &str) -> anyhow::Result<SecretKey> {
    let text = key_text(arg)?;
    SecretKey::parse(text.trim()).with_context(|| format!("secret key {}", describe(arg)))
}

/// Reads a public key given as a file or as the `name:base64` string.
pub(crate) fn load_public_key(arg: &str) -> anyhow::Result<PublicKey> {
    let text = key_text(arg)?;
    PublicKey::parse(text.trim()).with_context(|| format!("public key {}", describe(arg)))
}

/// The `--trust-key` arguments as a key set; a second key with the same name is an error.
pub(crate) fn load_trusted_keys(args: &[String]) -> anyhow::Result<TrustedKeys> {
    let mut keys = TrustedKeys::new();
    for arg in args {
        let key = load_public_key(arg)?;
        let name = key.name().to_owned();
        anyhow::ensure!(keys.insert(key).is_none(), "--trust-key: two keys named {name}");
    }
    Ok(keys)
}

fn key_text(arg: &str) -> anyhow::Result<String> {
    let path = std::path::Path::new(arg);
    if path.exists() {
        std::fs::read_to_string(path).with_context(|| format!("reading key file {arg}"))
    } else if arg.split_once(':').is_some_and(|(name, _)| !name.contains('/')) {
        // `name:base64`: the base64 may contain `/`, the name may not.
        Ok(arg.to_owned())
    } else {
        anyhow::bail!("key file {arg} does not exist")
    }
}

fn describe(arg: &str) -> String {
    if std::path::Path::new(arg).exists() { arg.to_owned() } else { "given on the command line".to_owned() }
}
