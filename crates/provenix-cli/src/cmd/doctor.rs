//! `provenix doctor`: is this machine set up for provenix's commands, and if
//! not, what to change. Exit 0 when everything a command needs is there
//! (warnings allowed), 1 when something is missing.

use std::io::{self, BufWriter, Write as _};
use std::path::PathBuf;
use std::time::SystemTime;

use provenix_core::nixenv::{self, Check, NixSettings, Status};
use provenix_core::rebuild::forced_options;
use serde::Serialize;

use super::escape_controls;
use crate::cli::{Ctx, Outcome, after_printing, print_json};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A Nix option the check applies as `rebuild --nix-option` would, to try a fix before making
    /// it permanent, e.g. `--nix-option sandbox-paths /bin/sh=/bin/busybox` (repeatable).
    #[arg(long = "nix-option", value_names = ["NAME", "VALUE"], num_args = 2)]
    nix_options: Vec<String>,
}

/// The `--json` report; fields documented in `docs/json.md`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    /// True when no check failed.
    ok: bool,
    checks: Vec<Check>,
    /// Nix's effective sandbox settings with the rebuild's options applied.
    nix_settings: std::collections::BTreeMap<String, serde_json::Value>,
}

pub(crate) fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let mut options: Vec<(String, String)> =
        forced_options().iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
    options.extend(args.nix_options.chunks(2).filter_map(|c| Some((c.first()?.clone(), c.get(1)?.clone()))));
    let mut checks = vec![nixenv::nix_check()];
    let settings = NixSettings::load(&options);
    match &settings {
        Ok(settings) => {
            checks.push(nixenv::sandbox_check(settings));
            checks.push(nixenv::build_users_check(settings));
            checks.push(nixenv::host_builders_check(settings, &["/bin/sh".to_owned()]));
        }
        Err(e) => checks.push(Check {
            name: "nix-settings",
            status: Status::Fail,
            summary: e.clone(),
            fix: Some("install Nix (Debian: apt-get install nix-bin), or fix the nix.conf it names".to_owned()),
        }),
    }
    checks.push(nixenv::network_check());
    checks.extend(nixenv::store_checks(&ctx.store, ctx.db.as_deref()));
    checks.push(nixenv::git_check());
    let installed = std::env::current_exe().and_then(std::fs::metadata).and_then(|m| m.modified());
    checks.push(nixenv::clock_check(SystemTime::now(), installed.unwrap_or(SystemTime::UNIX_EPOCH)));
    checks.push(validators_check());
    let report = Report {
        ok: checks.iter().all(|c| c.status != Status::Fail),
        checks,
        nix_settings: settings.map(|s| s.sandbox_settings()).unwrap_or_default(),
    };
    let printed = if ctx.json { print_json(&report) } else { write_human(&report).map_err(Into::into) };
    after_printing(if report.ok { Outcome::Ok } else { Outcome::Failed }, printed)
}

/// The SBOM, SARIF and in-toto validators the test suite runs (development only: never a failure).
fn validators_check() -> Check {
    let venv = PathBuf::from("/opt/provenix/venv");
    let python = venv.join("bin/python");
    let modules = ["cyclonedx", "spdx_tools", "jsonschema", "in_toto_attestation"];
    let probe = std::process::Command::new(&python)
        .arg("-c")
        .arg(format!("import importlib.util as u; print(' '.join(m for m in {modules:?} if u.find_spec(m) is None))"))
        .stdin(std::process::Stdio::null())
        .output();
    let multitool = PathBuf::from("/opt/provenix/sarif-multitool/Sarif.Multitool").exists();
    let missing = match probe {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        _ => format!("the venv {}", venv.display()),
    };
    let fix = Some("run scripts/install-deps.sh (needed only to run provenix's own tests)".to_owned());
    match (missing.is_empty(), multitool) {
        (true, true) => Check {
            name: "validators",
            status: Status::Info,
            summary: format!("SBOM, SARIF and in-toto validators in {} (development only)", venv.display()),
            fix: None,
        },
        (true, false) => Check {
            name: "validators",
            status: Status::Info,
            summary: "no SARIF Multitool in /opt/provenix/sarif-multitool (development only)".to_owned(),
            fix,
        },
        (false, _) => Check {
            name: "validators",
            status: Status::Info,
            summary: format!("missing: {missing} (development only)"),
            fix,
        },
    }
}

fn write_human(r: &Report) -> io::Result<()> {
    let mut out = BufWriter::new(io::stdout().lock());
    for c in &r.checks {
        let mark = match c.status {
            Status::Ok => "ok  ",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Info => "info",
        };
        writeln!(out, "{mark} {:17} {}", c.name, escape_controls(&c.summary))?;
        if let (Some(fix), true) = (&c.fix, c.status != Status::Ok) {
            writeln!(out, "     {:17} fix: {}", "", escape_controls(fix))?;
        }
    }
    if r.ok {
        writeln!(out, "everything provenix's commands need is here")?;
    } else {
        let failed: Vec<&str> = r.checks.iter().filter(|c| c.status == Status::Fail).map(|c| c.name).collect();
        writeln!(out, "missing or broken: {} (see the fixes above)", failed.join(", "))?;
    }
    out.flush()
}
