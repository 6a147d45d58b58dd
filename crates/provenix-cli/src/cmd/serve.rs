//! `provenix serve`: start the rebuild transparency log server
//! (`provenix-server`; the API is in docs/log.md).
//!
//! `--db sqlite:FILE` or `--db postgres://USER@HOST:PORT/DB` names the log's
//! database here (as `--db DIR` names the vulnerability data for `vulns`);
//! the SQLite file, or the PostgreSQL schema, is created on first start.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use provenix_formats::signature::PublicKey;

use crate::cli::{Ctx, Outcome};
use crate::cmd::key::load_secret_key;

/// `provenix serve` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log's signing key (file or `name:base64`); its name is the checkpoints' origin.
    #[arg(long, value_name = "KEY")]
    log_key: String,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Builder public keys to register: a file of Nix public keys separated by whitespace, `#` comments.
    #[arg(long, value_name = "FILE")]
    builders: Option<PathBuf>,
    /// A file holding the admin API's bearer token (the admin API is off without it).
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
    /// The longest a sequencing batch waits for more reports after its first, in milliseconds (at most 1000); it commits sooner once no report came for 1 ms.
    #[arg(long, value_name = "MS", default_value_t = 50)]
    batch_interval_ms: u64,
}

fn load_builders(path: &PathBuf) -> anyhow::Result<Vec<PublicKey>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("--builders {}", path.display()))?;
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default();
        for word in line.split_whitespace() {
            keys.push(
                PublicKey::parse(word)
                    .with_context(|| format!("--builders {} line {}: `{word}`", path.display(), n + 1))?,
            );
        }
    }
    Ok(keys)
}

/// `url` with its password, if any, replaced by `***`, for messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((user_info, host)) = rest.rsplit_once('@') else { return url.to_owned() };
    match user_info.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

pub(crate) fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let Some(db) = &ctx.db else { anyhow::bail!("serve needs --db sqlite:FILE or --db postgres://USER@HOST:PORT/DB") };
    let db = db.to_string_lossy();
    let shown = redact(&db);
    let postgres = db.starts_with("postgres://") || db.starts_with("postgresql://");
    if !postgres && db.strip_prefix("sqlite:").is_none_or(str::is_empty) {
        anyhow::bail!("--db {shown}: expected sqlite:FILE or postgres://USER@HOST:PORT/DB");
    }
    anyhow::ensure!(args.batch_interval_ms <= 1000, "--batch-interval-ms {}: at most 1000", args.batch_interval_ms);
    let log_key = load_secret_key(&args.log_key).context("--log-key")?;
    let builders = match &args.builders {
        Some(p) => load_builders(p)?,
        None => Vec::new(),
    };
    let admin_token = match &args.admin_token_file {
        Some(p) => {
            let t = std::fs::read_to_string(p).with_context(|| format!("--admin-token-file {}", p.display()))?;
            let t = t.trim().to_owned();
            anyhow::ensure!(
                t.len() >= 16,
                "--admin-token-file {}: the token needs at least 16 characters",
                p.display()
            );
            Some(t)
        }
        None => None,
    };
    let (store, sequencer) = if postgres {
        let store =
            provenix_server::store::postgres::PostgresStore::open(&db).with_context(|| format!("--db {shown}"))?;
        let sequencer = store.is_sequencer();
        (Arc::new(store) as Arc<dyn provenix_server::store::LogStore>, Some(sequencer))
    } else {
        (provenix_server::store::open(&db).with_context(|| format!("--db {shown}"))?, None)
    };
    let config = provenix_server::Config {
        log_key,
        builders,
        admin_token,
        batch_interval: Duration::from_millis(args.batch_interval_ms),
        store_dir: ctx.store.dir().clone(),
    };
    let quiet = ctx.quiet;
    provenix_server::run_blocking(config, store, args.listen, |addr| {
        if !quiet {
            eprintln!("provenix serve: listening on http://{addr}");
            match sequencer {
                Some(true) => eprintln!("provenix serve: this process sequences the PostgreSQL log"),
                Some(false) => eprintln!(
                    "provenix serve: another process sequences this PostgreSQL log; this one serves reads and \
                     answers submissions 503 until it takes the sequencer lock over"
                ),
                None => {}
            }
        }
    })
    .with_context(|| format!("serving the log in {shown}"))?;
    Ok(Outcome::Ok)
}
