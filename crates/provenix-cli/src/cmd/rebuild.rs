//! `provenix rebuild`: check a bundle, import it into a fresh store, build
//! its roots with the network cut off, and compare with the reference.

use std::io;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use provenix_core::bundle::BundleReader;
use provenix_core::nixenv::Status;
use provenix_core::rebuild::{RebuildOptions, RebuildReport, Verdict, provenance, rebuild, remove_work_dir};

use super::key::load_trusted_keys;
use super::roots::{Bar, human_bytes};
use super::{count, escape_controls, number, wrap};
use crate::cli::{Ctx, Outcome, VerificationFailed, after_printing, print_json};
use crate::output::{ensure_stdout_free, is_stdout, report_stream, write_output};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The bundle written by `provenix bundle`.
    #[arg(value_name = "BUNDLE")]
    bundle: PathBuf,
    /// A public key the manifest must be signed by (a file or `name:base64`; repeatable).
    /// Without one the signature is not checked, and the report says so.
    #[arg(long = "trust-key", value_name = "PUB")]
    trust_keys: Vec<String>,
    /// Sign an in-toto/SLSA provenance attestation of the rebuild with this secret key.
    #[arg(long = "attest-key", value_name = "KEY")]
    attest_key: Option<String>,
    /// Where the attestation goes (default: WORK_DIR/rebuild.dsse.json; `-`: stdout, the report then to stderr).
    #[arg(short = 'o', long = "output", value_name = "FILE", requires = "attest_key")]
    output: Option<PathBuf>,
    /// Directory for the fresh store (WORK_DIR/store) and the build log; must not exist or be
    /// empty, and is kept [default: a new directory under the temporary directory, removed when
    /// every output is identical unless --keep or it holds the attestation].
    #[arg(long = "work-dir", value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Keep the temporary work directory even when the rebuild matched.
    #[arg(long)]
    keep: bool,
    /// Extra Nix option for the import and the build, e.g. `--nix-option sandbox-paths /bin/sh=/bin/busybox`
    /// (repeatable). Substituters, remote builders and the sandbox are forced off, off and on, with
    /// no fallback. Before importing, the rebuild checks this Nix can build in its sandbox (as
    /// `provenix doctor` does) and exits 2 naming the setting to change if not.
    #[arg(long = "nix-option", value_names = ["NAME", "VALUE"], num_args = 2)]
    nix_options: Vec<String>,
}

pub(crate) fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<Outcome> {
    ensure_stdout_free(ctx, "--output", args.output.as_deref())?;
    let trusted = load_trusted_keys(&args.trust_keys)?;
    let attest_key = args.attest_key.as_deref().map(super::key::load_secret_key).transpose()?;
    let work_dir = args.work_dir.clone();
    let nix_options =
        args.nix_options.chunks(2).filter_map(|c| Some((c.first()?.clone(), c.get(1)?.clone()))).collect();
    if let Some(target) = &args.output {
        check_output_target(target)?;
    }
    let bar = Bar::new(ctx);
    let options = RebuildOptions { trusted: &trusted, work_dir, nix_options, progress: &bar };
    let mut report = match rebuild(&args.bundle, &options) {
        Ok(report) => report,
        Err(e) if e.is_verification_failure() => return Err(anyhow::Error::new(e).context(VerificationFailed)),
        Err(e) => return Err(e.into()),
    };
    if !ctx.quiet {
        let mut err = io::stderr().lock();
        for c in report.environment.iter().filter(|c| c.status == Status::Warn) {
            para(&mut err, 0, &format!("warning: {}: {}", c.name, escape_controls(&c.summary)))?;
        }
    }
    let attest_key = attest_key.filter(|_| report.build_succeeded);
    let in_work_dir = args.output.is_none() && attest_key.is_some();
    if let Some(key) = &attest_key {
        let target = args.output.clone().unwrap_or_else(|| PathBuf::from(&report.work_dir).join("rebuild.dsse.json"));
        let manifest = BundleReader::open(&args.bundle)?.manifest().clone();
        match provenance(&report, &manifest, key.name(), &options.nix_options) {
            Some(statement) => {
                let envelope = provenix_core::attest::sign(&statement, &[key]);
                write_output("--output", &target, &envelope.to_json(), 0o644)
                    .with_context(|| format!("writing the attestation {}", target.display()))?;
                report.attestation = Some(target.display().to_string());
            }
            None => eprintln!("warning: nothing was rebuilt, so there is no attestation to write"),
        }
    }
    let removable = report.work_dir_temporary && !args.keep && !in_work_dir && report.all_identical();
    if removable {
        remove_work_dir(&mut report)?;
    }
    let printed = if ctx.json {
        print_json(&report)
    } else {
        write_human(
            &report,
            &super::roots::store_flag(ctx),
            &mut report_stream(args.output.as_deref().is_some_and(is_stdout)),
        )
        .map_err(Into::into)
    };
    if !report.build_succeeded {
        after_printing(Outcome::Ok, printed)?;
        let errors: Vec<String> = report.build_errors.iter().map(|l| format!("  {}", escape_controls(l))).collect();
        let errors = if errors.is_empty() { "  (no `error:` line; see the log)".to_owned() } else { errors.join("\n") };
        anyhow::bail!(
            "the build failed (the rebuild could not say whether the outputs reproduce):\n{errors}\nlog: {}; work directory kept: {}",
            report.log,
            report.work_dir
        );
    }
    after_printing(if report.all_identical() { Outcome::Ok } else { Outcome::Failed }, printed)
}

/// Refuses an attestation target that cannot be written, before anything is imported or built:
/// its directory must exist and take a new file, and it must not be a directory.
fn check_output_target(target: &Path) -> anyhow::Result<()> {
    if target.as_os_str() == "-" {
        return Ok(());
    }
    if target.is_dir() {
        anyhow::bail!("-o {}: is a directory; name the attestation file to write", target.display());
    }
    let parent = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let probe = parent.join(format!(".provenix-check-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .with_context(|| format!("-o {}: cannot write in {}", target.display(), parent.display()))?;
    std::fs::remove_file(&probe).with_context(|| format!("removing {}", probe.display()))?;
    Ok(())
}

/// Writes `text` after `indent` spaces, as it is when it fits in 80 columns (runs of spaces that
/// align columns kept), else broken at spaces into lines of at most 80 columns, the others two
/// further in. A word longer than the room (a store path, a command) stands alone on its line.
fn para(out: &mut impl io::Write, indent: usize, text: &str) -> io::Result<()> {
    if indent + text.chars().count() <= 80 {
        return writeln!(out, "{:indent$}{text}", "");
    }
    let lines = wrap(text, indent + 2, 80);
    for (i, line) in lines.iter().enumerate() {
        let line = if i == 0 { line.get(2..).unwrap_or(line) } else { line };
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// `store_flag` is the `--store` the printed `diff-output` advice needs to read the reference.
fn write_human(r: &RebuildReport, store_flag: &str, out: &mut impl io::Write) -> io::Result<()> {
    match r.signature.status {
        "verified" => para(out, 0, &format!("manifest signed by {} (trusted)", r.signature.signers.join(", ")))?,
        _ => writeln!(out, "manifest signature NOT checked (no --trust-key given)")?,
    }
    let c = &r.checked;
    para(
        out,
        0,
        &format!(
            "checked before import: {} ({} of NARs); the paths of {} recomputed from their bytes; {} {} declared {}",
            count(c.paths, "path", "paths"),
            human_bytes(c.nar_bytes),
            count(c.derivations, ".drv file", ".drv files"),
            count(c.sources, "source", "sources"),
            number(c.sources, "matches its", "match their"),
            number(c.sources, "hash", "hashes"),
        ),
    )?;
    if !c.inputs_not_content_addressed.is_empty() {
        let n = c.inputs_not_content_addressed.len();
        para(
            out,
            2,
            &format!(
                "{} not content-addressed (the path does not pin the bytes): {}",
                count(n, "input source is", "input sources are"),
                c.inputs_not_content_addressed.join(", ")
            ),
        )?;
    }
    para(out, 0, &format!("rebuilt offline with {} in {}", r.nix_version, r.store))?;
    if r.work_dir_removed {
        para(out, 2, &format!("work directory {} removed (--keep keeps it)", r.work_dir))?;
    } else {
        para(out, 2, &format!("log: {}", r.log))?;
        if r.work_dir_temporary {
            para(out, 2, &format!("work directory kept: {}", r.work_dir))?;
        }
    }
    if !r.build_succeeded {
        writeln!(out, "  the build FAILED:")?;
        for line in &r.build_errors {
            para(out, 4, &escape_controls(line))?;
        }
    }
    for o in &r.outputs {
        let mark = match o.verdict {
            Verdict::Identical => "identical   ",
            Verdict::Differs => "DIFFERS     ",
            Verdict::NoReference => "no-reference",
            Verdict::NotBuilt => "NOT BUILT   ",
        };
        para(out, 2, &format!("{mark} {} ({})", o.path, o.output))?;
        if o.verdict == Verdict::Differs {
            para(out, 6, &format!("reference {}", o.reference.as_deref().unwrap_or("-")))?;
            para(out, 6, &format!("rebuilt   {}", o.rebuilt.as_deref().unwrap_or("-")))?;
            if let Some(at) = &o.rebuilt_at {
                // The command on a line of its own, unbroken, so it can be copied.
                writeln!(out, "      see what differs with:")?;
                writeln!(out, "        provenix{store_flag} diff-output {} {at}", o.path)?;
            }
        }
    }
    if let Some(a) = &r.attestation {
        para(out, 0, &format!("attestation (in-toto SLSA provenance, DSSE): {a}"))?;
    }
    let identical = r.outputs.iter().filter(|o| o.verdict == Verdict::Identical).count();
    writeln!(out, "{identical} of {} identical to the reference", count(r.outputs.len(), "output", "outputs"))?;
    out.flush()
}
