//! `provenix nar`: dump, hash, check and unpack Nix ARchives.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write as _};
use std::path::PathBuf;

use anyhow::Context as _;
use provenix_formats::hash::{HashAlgo, HashEncoding};
use provenix_formats::nar;
use provenix_store::nar as fsnar;
use serde::Serialize;

use super::roots::physical_arg;
use crate::cli::{Ctx, Outcome, after_printing, print_json};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Write the NAR serialisation of PATH to stdout (like `nix-store --dump`).
    Dump(DumpArgs),
    /// Print the hash of the NAR serialisation of PATH (like `nix-hash --type sha256`).
    Hash(HashArgs),
    /// Validate a NAR file strictly; exit 1 with byte offset and reason if malformed.
    Check(CheckArgs),
    /// Unpack a NAR file into DIR (which must not exist or be empty); never writes outside DIR.
    Unpack(UnpackArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct DumpArgs {
    /// File, directory or symlink to serialise; a store path (`/nix/store/…`) is read under `--store ROOT`.
    path: PathBuf,
}

#[derive(Debug, clap::Args)]
pub(crate) struct HashArgs {
    /// File, directory or symlink to hash; a store path (`/nix/store/…`) is read under `--store ROOT`.
    path: PathBuf,
    /// Hash algorithm.
    #[arg(long, default_value = "sha256", value_parser = parse_algo)]
    algo: HashAlgo,
    #[command(flatten)]
    encoding: EncodingArgs,
    /// Hash the file's bytes instead of its NAR (Nix's `flat` mode).
    #[arg(long)]
    flat: bool,
}

#[derive(Debug, clap::Args)]
#[group(multiple = false)]
struct EncodingArgs {
    /// Lowercase hexadecimal (the default).
    #[arg(long)]
    base16: bool,
    /// Nix's base-32.
    #[arg(long)]
    base32: bool,
    /// Standard base64.
    #[arg(long)]
    base64: bool,
    /// Subresource Integrity, `algo-base64`.
    #[arg(long)]
    sri: bool,
}

impl EncodingArgs {
    fn encoding(&self) -> HashEncoding {
        if self.base32 {
            HashEncoding::Nixbase32
        } else if self.base64 {
            HashEncoding::Base64
        } else if self.sri {
            HashEncoding::Sri
        } else {
            HashEncoding::Base16
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    /// The NAR file (`-` for stdin).
    file: PathBuf,
}

#[derive(Debug, clap::Args)]
pub(crate) struct UnpackArgs {
    /// The NAR file (`-` for stdin).
    file: PathBuf,
    /// Target directory; created, must not exist or be empty.
    dir: PathBuf,
}

fn parse_algo(s: &str) -> Result<HashAlgo, String> {
    s.parse::<HashAlgo>().map_err(|e| e.to_string())
}

pub(crate) fn run(cmd: &Command, ctx: &Ctx) -> anyhow::Result<Outcome> {
    match cmd {
        Command::Dump(args) => {
            let path = physical_arg(ctx, &args.path)?;
            let out = io::stdout().lock();
            let mut out = BufWriter::with_capacity(1 << 16, out);
            fsnar::dump_path(&path, &mut out)?;
            out.flush()?;
            Ok(Outcome::Ok)
        }
        Command::Hash(args) => hash(args, ctx),
        Command::Check(args) => check(args, ctx),
        Command::Unpack(args) => unpack(args, ctx),
    }
}

#[derive(Serialize)]
struct HashReport {
    path: String,
    algo: &'static str,
    mode: &'static str,
    hash: String,
    sri: String,
    #[serde(rename = "narSize", skip_serializing_if = "Option::is_none")]
    nar_size: Option<u64>,
    #[serde(rename = "fileSize", skip_serializing_if = "Option::is_none")]
    file_size: Option<u64>,
}

fn hash(args: &HashArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let path = physical_arg(ctx, &args.path)?;
    let (hash, size) =
        if args.flat { fsnar::hash_file_flat(&path, args.algo)? } else { fsnar::hash_path(&path, args.algo)? };
    let text = hash.encode(args.encoding.encoding());
    if ctx.json {
        print_json(&HashReport {
            path: args.path.display().to_string(),
            algo: args.algo.name(),
            mode: if args.flat { "flat" } else { "recursive" },
            hash: text,
            sri: hash.to_sri(),
            nar_size: (!args.flat).then_some(size),
            file_size: args.flat.then_some(size),
        })?;
    } else {
        writeln!(io::stdout(), "{text}")?;
    }
    Ok(Outcome::Ok)
}

fn open_input(file: &PathBuf) -> anyhow::Result<Box<dyn io::BufRead>> {
    if file.as_os_str() == "-" {
        return Ok(Box::new(BufReader::with_capacity(1 << 16, io::stdin())));
    }
    let f = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    Ok(Box::new(BufReader::with_capacity(1 << 16, f)))
}

#[derive(Serialize)]
struct CheckReport {
    file: String,
    valid: bool,
    #[serde(rename = "narSize", skip_serializing_if = "Option::is_none")]
    nar_size: Option<u64>,
    #[serde(rename = "narHash", skip_serializing_if = "Option::is_none")]
    nar_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn check(args: &CheckArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let input = open_input(&args.file)?;
    let file = args.file.display().to_string();
    let report = match nar::validate(input, HashAlgo::Sha256) {
        Ok(summary) => CheckReport {
            file,
            valid: true,
            nar_size: Some(summary.size),
            nar_hash: Some(summary.hash.to_prefixed_nixbase32()),
            offset: None,
            error: None,
        },
        // An I/O failure is not a verdict on the NAR: exit 2.
        Err(e) if e.problem().is_none() => {
            return Err(anyhow::Error::new(e).context(format!("reading {file}")));
        }
        Err(e) => CheckReport {
            file,
            valid: false,
            nar_size: None,
            nar_hash: None,
            offset: Some(e.offset()),
            error: Some(crate::cli::error_text(&anyhow::Error::new(e))),
        },
    };
    let printed = if ctx.json {
        print_json(&report)
    } else if report.valid {
        let size = report.nar_size.unwrap_or_default();
        let hash = report.nar_hash.as_deref().unwrap_or_default();
        writeln!(io::stdout(), "{}: valid NAR, {}, {hash}", report.file, super::count(size, "byte", "bytes"))
            .map_err(Into::into)
    } else {
        let err = report.error.as_deref().unwrap_or_default();
        writeln!(io::stdout(), "{}: invalid NAR: {err}", report.file).map_err(Into::into)
    };
    after_printing(if report.valid { Outcome::Ok } else { Outcome::Failed }, printed)
}

fn unpack(args: &UnpackArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let input = open_input(&args.file)?;
    let summary = fsnar::unpack(input, &args.dir)
        // The library's error names the target directory; add only the NAR.
        .with_context(|| format!("NAR {}", args.file.display()))?;
    if ctx.json {
        print_json(&serde_json::json!({
            "file": args.file.display().to_string(),
            "dir": args.dir.display().to_string(),
            "narSize": summary.size,
            "narHash": summary.hash.to_prefixed_nixbase32(),
        }))?;
    } else if !ctx.quiet {
        writeln!(
            io::stdout(),
            "unpacked {} of NAR into {}",
            super::count(summary.size, "byte", "bytes"),
            args.dir.display()
        )?;
    }
    Ok(Outcome::Ok)
}
