//! `provenix doctor`: on this machine as it is, and on a Nix configured like
//! Debian's stock nix-bin (no nix.conf: `NIX_CONF_DIR` at an empty directory),
//! where it names what is missing, then passes once the fixes it gives are applied.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn doctor(conf: Option<&Path>, nix_config: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_provenix"));
    cmd.arg("doctor").args(args);
    if let Some(conf) = conf {
        cmd.env("NIX_CONF_DIR", conf);
    }
    match nix_config {
        Some(c) => cmd.env("NIX_CONFIG", c),
        None => cmd.env_remove("NIX_CONFIG"),
    };
    cmd.output().expect("run provenix")
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    })
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name}: {report}"))
}

fn nix_present() -> bool {
    provenix_testkit::NixHarness::new().is_some()
}

fn empty_conf() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn nixbld_exists() -> bool {
    Command::new("getent").args(["group", "nixbld"]).status().is_ok_and(|s| s.success())
}

#[test]
fn on_this_machine_every_check_reports_and_the_exit_code_follows_the_failures() {
    if !nix_present() {
        return;
    }
    let o = doctor(None, None, &["--json"]);
    let report = json(&o);
    let names: Vec<&str> = report["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    for expected in [
        "nix",
        "sandbox",
        "build-users",
        "sandbox-shell",
        "network-isolation",
        "store",
        "database",
        "git",
        "clock",
        "validators",
    ] {
        assert!(names.contains(&expected), "{expected} missing: {report}");
    }
    assert_eq!(check(&report, "nix")["status"], "ok");
    assert!(check(&report, "nix")["summary"].as_str().unwrap().contains("Nix"), "{report}");
    assert_eq!(check(&report, "clock")["status"], "ok");
    assert_eq!(check(&report, "validators")["status"], "info", "development tools never fail the check");
    let failed = report["checks"].as_array().unwrap().iter().any(|c| c["status"] == "fail");
    assert_eq!(report["ok"], !failed);
    assert_eq!(o.status.code(), Some(if failed { 1 } else { 0 }), "{report}");
    // Every failure says what to do.
    for c in report["checks"].as_array().unwrap().iter().filter(|c| c["status"] == "fail") {
        assert!(c["fix"].as_str().is_some_and(|f| !f.is_empty()), "{c}");
    }
    assert_eq!(report["nixSettings"]["sandbox"], true, "rebuild's forced options apply: {report}");
}

#[test]
fn a_stock_nix_fails_naming_the_build_users_and_the_sandbox_shell() {
    if !nix_present() {
        return;
    }
    let conf = empty_conf();
    let o = doctor(Some(conf.path()), None, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stdout));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("FAIL sandbox-shell") && text.contains("sandbox-paths = /bin/sh=/bin/busybox"), "{text}");
    assert!(text.contains("missing or broken:"), "{text}");
    let report = json(&doctor(Some(conf.path()), None, &["--json"]));
    assert_eq!(report["ok"], false);
    assert_eq!(report["nixSettings"]["sandbox-paths"], serde_json::json!([]));
    assert_eq!(report["nixSettings"]["build-users-group"], "nixbld");
    if !nixbld_exists() {
        let users = check(&report, "build-users");
        assert_eq!(users["status"], "fail", "{report}");
        let fix = users["fix"].as_str().unwrap();
        assert!(
            fix.contains("groupadd -r nixbld")
                && fix.contains("build-users-group =")
                && fix.contains("can write to its inputs"),
            "{fix}"
        );
    }
}

#[test]
fn the_fixes_it_gives_make_it_pass_whatever_their_source() {
    if !nix_present() {
        return;
    }
    let conf = empty_conf();
    // As --nix-option, as the fix says.
    let o = doctor(
        Some(conf.path()),
        None,
        &["--json", "--nix-option", "sandbox-paths", "/bin/sh=/bin/busybox", "--nix-option", "build-users-group", ""],
    );
    let report = json(&o);
    assert_eq!(check(&report, "sandbox-shell")["status"], "ok", "{report}");
    let users = check(&report, "build-users");
    assert_eq!(users["status"], "warn", "no build users is a choice with a cost: {report}");
    assert!(users["summary"].as_str().unwrap().contains("can write to its inputs"));
    let env_ok = ["sandbox", "network-isolation"].iter().all(|n| check(&report, n)["status"] == "ok");
    if env_ok {
        assert_eq!(o.status.code(), Some(0), "{report}");
    }
    // In nix.conf and in NIX_CONFIG: the same effective settings.
    std::fs::write(conf.path().join("nix.conf"), "sandbox-paths = /bin/sh=/bin/busybox\n").unwrap();
    let report = json(&doctor(Some(conf.path()), Some("build-users-group ="), &["--json"]));
    assert_eq!(check(&report, "sandbox-shell")["status"], "ok", "{report}");
    assert_eq!(check(&report, "build-users")["status"], "warn", "{report}");
    assert_eq!(report["nixSettings"]["sandbox-paths"], serde_json::json!(["/bin/sh=/bin/busybox"]));
}
