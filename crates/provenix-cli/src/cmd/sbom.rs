//! `provenix sbom`: the roots' closure as a CycloneDX 1.6 or SPDX 2.3 document.

use std::io::{self, Write as _};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use provenix_core::identity::inventory;
use provenix_core::sbom::{self, Format, SbomOptions, SbomSummary, Scope, Timestamp};
use serde::Serialize;

use super::count;
use super::roots::{IdentityArgs, RootArgs, ensure_roots_built, open_db};
use crate::cli::{Ctx, Outcome, print_json};
use crate::output::{is_stdout, write_output};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    /// CycloneDX 1.6 JSON (also `cdx`).
    #[value(alias = "cdx")]
    Cyclonedx,
    /// SPDX 2.3 JSON.
    Spdx,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) roots: RootArgs,
    #[command(flatten)]
    identity: IdentityArgs,
    /// The document format, in any case. Without it, the format follows the `-o` file's name:
    /// `.cdx.json`, `.cyclonedx.json` or `.bom.json` for CycloneDX, `.spdx.json` for SPDX.
    #[arg(long, value_enum, ignore_case = true)]
    format: Option<FormatArg>,
    /// Only what the roots' realised outputs refer to at runtime (Nix database references), with
    /// runtime edges. Needs the roots built and the Nix database.
    #[arg(long, conflicts_with = "buildtime")]
    runtime: bool,
    /// Every derivation of the build closure, with build edges (the default). Components are
    /// marked as runtime or build-only when the Nix database knows the roots' outputs.
    #[arg(long)]
    buildtime: bool,
    /// Write the document to FILE (atomically) and print a summary, instead of the document on
    /// stdout (`-`: stdout, as without it).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// The document's time (RFC 3339, or `now`). Without it the document has none (CycloneDX) or
    /// the fixed 1970-01-01T00:00:00Z (SPDX requires one), so the same closure gives the same bytes.
    #[arg(long, value_name = "TIME")]
    timestamp: Option<String>,
}

/// The `--json` report when the document goes to a file.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    file: String,
    bytes: usize,
    #[serde(flatten)]
    summary: &'a SbomSummary,
}

/// The format an `-o` file's name asks for.
fn format_of_file(file: &std::path::Path) -> anyhow::Result<Format> {
    let name = file.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    if [".cdx.json", ".cyclonedx.json", ".bom.json"].iter().any(|ext| name.ends_with(ext)) {
        Ok(Format::CycloneDx)
    } else if name.ends_with(".spdx.json") {
        Ok(Format::Spdx)
    } else {
        anyhow::bail!(
            "-o {}: the name does not say the format (*.cdx.json or *.spdx.json); give --format cyclonedx|spdx",
            file.display()
        )
    }
}

fn timestamp(arg: &str) -> anyhow::Result<Timestamp> {
    if arg == "now" {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .context("--timestamp now: the system clock is before 1970")?;
        return Ok(Timestamp::from_unix(i64::try_from(now.as_secs()).unwrap_or(i64::MAX)));
    }
    Timestamp::parse(arg).context("--timestamp")
}

pub(crate) fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let format = match (args.format, &args.output) {
        (Some(FormatArg::Cyclonedx), _) => Format::CycloneDx,
        (Some(FormatArg::Spdx), _) => Format::Spdx,
        (None, Some(file)) => format_of_file(file)?,
        (None, None) => anyhow::bail!("give --format cyclonedx|spdx, or an -o file named *.cdx.json or *.spdx.json"),
    };
    let scope = if args.runtime { Scope::Runtime } else { Scope::Buildtime };
    let time = args.timestamp.as_deref().map(timestamp).transpose()?;
    let db = open_db(ctx)?;
    if scope == Scope::Runtime && db.is_none() {
        anyhow::bail!(
            "--runtime: what {} refers to at runtime comes from the Nix database, and there is none (give --db or --store)",
            args.roots.roots.join(", ")
        );
    }
    let (roots, root_outputs) = args.roots.resolve_scoped(ctx, db.as_ref())?;
    // Runtime membership is computed whenever the database is there, so buildtime documents can
    // mark build-only components.
    let options = args.identity.options(&args.roots, db.is_some(), root_outputs)?;
    let drvs: Vec<_> = roots.iter().map(|r| r.drv.clone()).collect();
    let resolved = started.elapsed();
    let inv = inventory(&ctx.store, db.as_ref(), &drvs, &options)?;
    let inventoried = started.elapsed();
    if scope == Scope::Runtime {
        ensure_roots_built(ctx, &roots, &inv, "use --buildtime")?;
    }
    let seeds = provenix_core::bootstrap::bootstrap_seeds(&ctx.store, db.as_ref(), &drvs, &args.roots.mirror_table()?)?;
    let bootstrap_seeds = seeds.seeds.into_iter().map(|s| s.drv_path).collect();
    let sbom = sbom::write(&inv, format, &SbomOptions { scope, timestamp: time, bootstrap_seeds })?;
    let written = started.elapsed();
    match args.output.as_deref().filter(|file| !is_stdout(file)) {
        None => {
            let mut out = io::stdout().lock();
            out.write_all(&sbom.bytes)?;
            out.flush()?;
        }
        Some(file) => {
            write_output("--output", file, &sbom.bytes, 0o644)?;
            if ctx.json {
                print_json(&Report {
                    file: file.display().to_string(),
                    bytes: sbom.bytes.len(),
                    summary: &sbom.summary,
                })?;
            } else {
                write_human(&sbom.summary, file, &mut io::stdout().lock())?;
            }
        }
    }
    tracing::debug!(
        components = sbom.summary.components,
        resolve_ms = resolved.as_millis() as u64,
        inventory_ms = (inventoried - resolved).as_millis() as u64,
        render_ms = (written - inventoried).as_millis() as u64,
        write_ms = (started.elapsed() - written).as_millis() as u64,
        "sbom timings"
    );
    // The process is about to exit: freeing the inventory is wasted work.
    std::mem::forget(inv);
    Ok(Outcome::Ok)
}

fn write_human(s: &SbomSummary, file: &std::path::Path, out: &mut impl io::Write) -> io::Result<()> {
    let format = if s.format == "spdx" { Format::Spdx } else { Format::CycloneDx };
    writeln!(out, "wrote {} ({format}, {} scope)", file.display(), s.scope.as_str())?;
    writeln!(out, "  serial    {}", s.serial)?;
    writeln!(
        out,
        "  {}: {}, {}; {} with output NAR hashes",
        count(s.components, "component", "components"),
        count(s.packages, "package", "packages"),
        count(s.sources, "source", "sources"),
        s.hashed
    )?;
    writeln!(out, "  {}", count(s.edges, "dependency edge", "dependency edges"))?;
    match s.runtime {
        Some(n) => writeln!(out, "  {} in the runtime closure", count(n, "component", "components"))?,
        None => writeln!(out, "  runtime closure unknown (no Nix database, or a root not built)")?,
    }
    if s.unknown_identities > 0 {
        writeln!(
            out,
            "  {} with no known CPE identity (add them with --identities or --meta)",
            count(s.unknown_identities, "package", "packages")
        )?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_output_name_gives_the_format() {
        assert_eq!(format_of_file(Path::new("out/app.cdx.json")).unwrap(), Format::CycloneDx);
        assert_eq!(format_of_file(Path::new("APP.CycloneDX.JSON")).unwrap(), Format::CycloneDx);
        assert_eq!(format_of_file(Path::new("app.bom.json")).unwrap(), Format::CycloneDx);
        assert_eq!(format_of_file(Path::new("app.spdx.json")).unwrap(), Format::Spdx);
        let err = format_of_file(Path::new("app.json")).unwrap_err().to_string();
        assert!(err.contains("app.json") && err.contains("--format"), "{err}");
    }
}
