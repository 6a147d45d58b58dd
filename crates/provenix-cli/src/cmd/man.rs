//! `provenix man`: manual pages (roff) generated from the clap definition, the same one
//! `docs/cli.md` and the completions come from.
//!
//! Without `--dir` the top page goes to stdout; with it, one page per command and subcommand is
//! written into the directory (`provenix.1`, `provenix-sources.1`, `provenix-nar-dump.1`, …),
//! each atomically.

use std::io::{self, Write as _};
use std::path::PathBuf;

use anyhow::Context as _;
use provenix_store::fs::write_atomic;
use serde::Serialize;

use crate::cli::{Ctx, Outcome, command, print_json};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Write one page per command into DIR (created if missing; existing pages are replaced)
    /// instead of the top page on stdout.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Every page: its file name and its roff text, the top command first.
pub(crate) fn pages() -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    fn walk(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> io::Result<()> {
        let man = clap_mangen::Man::new(cmd.clone());
        let mut text = Vec::new();
        man.render(&mut text)?;
        out.push((man.get_filename(), text));
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help" && !s.is_hide_set()) {
            walk(sub, out)?;
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(&command(), &mut out).context("rendering the manual pages")?;
    Ok(out)
}

#[derive(Serialize)]
struct Written {
    dir: String,
    pages: Vec<String>,
}

pub(crate) fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let pages = pages()?;
    let Some(dir) = &args.dir else {
        let (_, top) = pages.first().context("no manual page")?;
        let mut out = io::stdout().lock();
        out.write_all(top)?;
        out.flush()?;
        return Ok(Outcome::Ok);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("--dir {}", dir.display()))?;
    for (name, text) in &pages {
        write_atomic(&dir.join(name), text, 0o644, true).with_context(|| format!("--dir {}", dir.display()))?;
    }
    let names: Vec<String> = pages.into_iter().map(|(name, _)| name).collect();
    if ctx.json {
        print_json(&Written { dir: dir.display().to_string(), pages: names })?;
    } else if !ctx.quiet {
        let n = names.len();
        writeln!(io::stdout(), "wrote {} into {}", super::count(n, "manual page", "manual pages"), dir.display())?;
    }
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::completions::tests::commands_and_flags;

    #[test]
    fn there_is_a_page_per_command_listing_its_flags() {
        let pages = pages().unwrap();
        let all = commands_and_flags();
        assert_eq!(pages.len(), all.len());
        for (name, flags) in &all {
            let file = format!("{}.1", name.replace(' ', "-"));
            let (_, text) = pages.iter().find(|(f, _)| *f == file).unwrap_or_else(|| panic!("no page {file}"));
            let text = String::from_utf8(text.clone()).unwrap();
            assert!(text.starts_with(".ie") || text.contains(".TH"), "{file} is not roff");
            for flag in flags {
                let roff = format!("\\-\\-{}", flag.replace('-', "\\-"));
                assert!(text.contains(&roff), "{file} lacks --{flag}");
            }
        }
    }

    /// groff, when installed (man-db's groff-base), reads every page without a warning (`-k`: the
    /// UTF-8 of the help text goes through preconv, as `man` does).
    #[test]
    fn every_page_formats_with_groff_without_warnings() {
        use std::io::Write as _;
        let probe = std::process::Command::new("groff").arg("--version").output();
        if !probe.is_ok_and(|o| o.status.success()) {
            eprintln!("SKIP: groff is not installed; the pages are checked for their flags only");
            return;
        }
        for (file, text) in pages().unwrap() {
            let mut child = std::process::Command::new("groff")
                .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
                .stdin(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(&text).unwrap();
            let out = child.wait_with_output().unwrap();
            let warnings = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success() && warnings.trim().is_empty(), "{file}: {warnings}");
        }
    }
}
