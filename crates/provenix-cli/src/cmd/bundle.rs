//! `provenix bundle`: the source-only closure of the roots as one signed archive.

use std::io;
use std::path::PathBuf;

use provenix_core::bundle::{BundleOptions, BundleReport, bundle};
use provenix_formats::signature::SecretKey;

use super::count;
use super::key::load_secret_key;
use super::roots::{Bar, RootArgs, chain_names, human_bytes, open_db};
use crate::cli::{Ctx, Outcome, print_json};
use crate::output::{ensure_stdout_free, is_stdout, report_stream};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    roots: RootArgs,
    /// The bundle file to write (atomically: nothing is left behind on failure; `-`: stdout, the
    /// report then to stderr).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,
    /// Sign the manifest with this secret key (a file or `name:base64`; repeatable).
    #[arg(long = "sign-key", value_name = "KEY")]
    sign_keys: Vec<String>,
    /// How many of the biggest sources to list, with why-chains.
    #[arg(long, value_name = "N", default_value_t = 5)]
    top: usize,
}

pub(crate) fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<Outcome> {
    ensure_stdout_free(ctx, "--output", Some(&args.output))?;
    let keys: Vec<SecretKey> = args.sign_keys.iter().map(|k| load_secret_key(k)).collect::<anyhow::Result<_>>()?;
    let db = open_db(ctx)?;
    let roots = args.roots.resolve_roots(ctx, db.as_ref())?;
    let mirrors = args.roots.mirror_table()?;
    let bar = Bar::new(ctx);
    let options = BundleOptions {
        mirrors: &mirrors,
        sign_keys: &keys,
        tool: format!("provenix {}", env!("CARGO_PKG_VERSION")),
        top: args.top,
        progress: &bar,
    };
    let to_stdout = is_stdout(&args.output);
    let report = if to_stdout {
        // Written whole first (the archive is assembled with seeks), then copied.
        let temp = tempfile::Builder::new().prefix("provenix-bundle-").tempdir()?;
        let _cleanup = provenix_store::cleanup::register(temp.path(), provenix_store::cleanup::Kind::Tree);
        let file = temp.path().join("bundle");
        let mut report = bundle(&ctx.store, db.as_ref(), &roots, &file, &options)?;
        let mut out = io::stdout().lock();
        io::copy(&mut std::fs::File::open(&file)?, &mut out)?;
        io::Write::flush(&mut out)?;
        report.file = "-".to_owned();
        report
    } else {
        bundle(&ctx.store, db.as_ref(), &roots, &args.output, &options)?
    };
    if ctx.json {
        print_json(&report)?;
    } else if !(to_stdout && ctx.quiet) {
        write_human(&report, &mut report_stream(to_stdout))?;
    }
    Ok(Outcome::Ok)
}

fn write_human(r: &BundleReport, out: &mut impl io::Write) -> io::Result<()> {
    writeln!(out, "wrote {} ({})", r.file, human_bytes(r.size))?;
    writeln!(
        out,
        "  {}: {}, {}, {}; {} of NARs",
        count(r.paths, "path", "paths"),
        count(r.derivations, "derivation", "derivations"),
        count(r.sources, "source", "sources"),
        count(r.inputs, "input source", "input sources"),
        human_bytes(r.nar_bytes)
    )?;
    match r.signed_by.as_slice() {
        [] => writeln!(out, "  manifest NOT signed (use --sign-key KEY)")?,
        keys => writeln!(out, "  manifest signed by {}", keys.join(", "))?,
    }
    for root in &r.roots {
        writeln!(out, "root {} ({})", root.arg, root.drv)?;
        for o in &root.outputs {
            match &o.nar_hash {
                Some(h) => writeln!(out, "  {:8} {} reference {h}", o.name, o.path)?,
                None => writeln!(out, "  {:8} {} no reference (not realised here)", o.name, o.path)?,
            }
        }
    }
    if !r.biggest.is_empty() {
        writeln!(out, "biggest sources:")?;
        for s in &r.biggest {
            writeln!(out, "  {:>10}  {}", human_bytes(s.nar_size), s.path)?;
            if !s.why.is_empty() {
                writeln!(out, "              why: {}", chain_names(&s.why))?;
            }
        }
    }
    writeln!(out, "import with plain Nix: tar -xOf {} store.export | nix-store --import", r.file)?;
    out.flush()
}
