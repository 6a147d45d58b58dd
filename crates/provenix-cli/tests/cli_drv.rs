//! The `provenix drv` commands against real Nix in throwaway stores:
//! `drv show` bytes equal `nix show-derivation`, `drv paths` recomputes what
//! Nix computed and reports tampering with exit 1, bad input exits 2.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use provenix_testkit::NixHarness;

fn provenix(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_provenix")).arg("--store").arg(store).args(args).output().expect("run provenix")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A FOD, a two-output package built from it, and an app on top.
const EXPR: &str = r#"
let
  system = builtins.currentSystem;
  src = derivation {
    name = "src-1.0.tar.gz"; inherit system; builder = "/bin/sh";
    args = [ "-c" "echo src > $out" ];
    urls = [ "https://example.org/src-1.0.tar.gz" ];
    outputHashMode = "flat"; outputHashAlgo = "sha256";
    outputHash = "sha256-1w6LBydLBDwoCTbrbVxrBGPVaWQHhc/2N6SqxjnvqFo=";
  };
  lib = derivation {
    name = "lib-2.0"; inherit system; builder = "/bin/sh"; outputs = [ "out" "dev" ];
    inherit src; args = [ "-c" "cp $src $out; echo dev > $dev" ];
  };
in derivation {
  name = "app-0.1"; inherit system; builder = "/bin/sh";
  lib = lib; libdev = lib.dev; args = [ "-c" "echo $lib > $out" ];
}
"#;

fn show_nix(h: &NixHarness, drv: &str) -> Vec<u8> {
    h.run("nix", ["--extra-experimental-features", "nix-command", "show-derivation", "-r", drv]).stdout
}

#[test]
fn drv_show_recursive_is_byte_identical_to_nix() {
    let Some(h) = NixHarness::new() else { return };
    let drv = h.instantiate(EXPR).remove(0);
    let ours = provenix(h.root(), &["drv", "show", "--recursive", &drv]);
    assert!(ours.status.success(), "{}", stderr(&ours));
    assert_eq!(String::from_utf8_lossy(&ours.stdout), String::from_utf8_lossy(&show_nix(&h, &drv)));
    let json: serde_json::Value = serde_json::from_slice(&ours.stdout).unwrap();
    assert_eq!(json.as_object().unwrap().len(), 3);

    // Without --recursive only the named derivation, again as Nix prints it.
    let one = provenix(h.root(), &["drv", "show", &drv]);
    let nix_one = h.run("nix", ["--extra-experimental-features", "nix-command", "show-derivation", &drv]).stdout;
    assert_eq!(one.stdout, nix_one);
    // A physical path under --store names the same derivation.
    let physical = h.physical(&drv);
    let by_physical = provenix(h.root(), &["drv", "show", physical.to_str().unwrap()]);
    assert_eq!(by_physical.stdout, nix_one);
}

#[test]
fn drv_paths_recomputes_what_nix_computed() {
    let Some(h) = NixHarness::new() else { return };
    let drv = h.instantiate(EXPR).remove(0);
    let o = provenix(h.root(), &["--json", "drv", "paths", &drv]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["drvPath"], drv.as_str());
    let nix_out = h.run_text("nix-store", ["-q", "--outputs", &drv]);
    assert_eq!(report["outputs"]["out"], nix_out.as_str());
    assert_eq!(report["closureSize"], 3);
    assert_eq!(report["findings"], serde_json::json!([]));
    let human = String::from_utf8(provenix(h.root(), &["drv", "paths", &drv]).stdout).unwrap();
    assert!(human.ends_with("\nok: 3 derivations checked, every path follows from the bytes\n"), "{human}");
}

/// Replaces `from` by `to` (same length) inside a store file, as an attacker
/// with write access to the store would.
fn tamper(h: &NixHarness, logical: &str, from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let file = h.physical(logical);
    let bytes = std::fs::read(&file).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains(from), "{from} not in {logical}");
    let mut perms = std::fs::metadata(&file).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&file, perms).unwrap();
    std::fs::write(&file, text.replace(from, to)).unwrap();
}

#[test]
fn drv_paths_reports_a_tampered_input_with_exit_1() {
    let Some(h) = NixHarness::new() else { return };
    let drv = h.instantiate(EXPR).remove(0);
    let closure = h.run_text("nix-store", ["-qR", &drv]);
    let lib = closure.lines().find(|l| l.ends_with("-lib-2.0.drv")).unwrap().to_owned();
    // Same length, still valid ATerm: only hashes can tell.
    tamper(&h, &lib, "echo dev", "echo pwn");
    let o = provenix(h.root(), &["--json", "drv", "paths", &drv]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let has = |kind: &str, path: &str| findings.iter().any(|f| f["kind"] == kind && f["path"] == path);
    assert!(has("drv-path-mismatch", &lib), "{report:#}");
    assert!(has("output-path-mismatch", &lib), "{report:#}");
    // The root's own outputs follow from the tampered input's new hash, so
    // they no longer match what the root file records.
    assert!(has("output-path-mismatch", &drv), "{report:#}");
    // The source was not touched.
    assert!(!findings.iter().any(|f| f["path"].as_str().unwrap().contains("src-1.0")), "{report:#}");

    let human = provenix(h.root(), &["drv", "paths", &drv]);
    assert_eq!(human.status.code(), Some(1));
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("drv-path-mismatch"), "{text}");
    let last = text.lines().last().unwrap_or_default();
    assert_eq!(last, format!("{} findings in 3 derivations", findings.len()), "{text}");
}

#[test]
fn other_store_dirs_hash_with_the_logical_directory() {
    let Some(h) = NixHarness::new() else { return };
    // Nix keeps the files of `store=/gnu/store` under ROOT/nix/store.
    let file = h.scratch().join("e.nix");
    std::fs::write(&file, EXPR).unwrap();
    let store_url = format!("local?root={}&store=/gnu/store", h.root().display());
    let out = Command::new("nix-instantiate")
        .args(["--store", &store_url])
        .args(provenix_testkit::NIX_OPTIONS)
        .arg(&file)
        .env("NIX_CONF_DIR", h.root().join("etc"))
        .env("HOME", h.root().join("home"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let drv = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(drv.starts_with("/gnu/store/"), "{drv}");
    let o = provenix(h.root(), &["--store-dir", "/gnu/store", "--json", "drv", "paths", &drv]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["drvPath"], drv.as_str());
    // With the wrong logical directory the path is not even in the store.
    let wrong = provenix(h.root(), &["drv", "paths", &drv]);
    assert_eq!(wrong.status.code(), Some(2));
}

#[test]
fn bad_derivations_exit_2_naming_the_file() {
    let Some(h) = NixHarness::new() else { return };
    let drv = h.instantiate(EXPR).remove(0);
    let missing = drv.replace("-app-0.1.drv", "-gone-0.1.drv");
    let o = provenix(h.root(), &["drv", "show", &missing]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("gone-0.1.drv"), "{}", stderr(&o));

    let closure = h.run_text("nix-store", ["-qR", &drv]);
    let lib = closure.lines().find(|l| l.ends_with("-lib-2.0.drv")).unwrap().to_owned();
    tamper(&h, &lib, "Derive(", "Derivx(");
    let o = provenix(h.root(), &["drv", "show", "-r", &drv]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("lib-2.0.drv"), "{}", stderr(&o));
    assert!(stderr(&o).contains("byte 5"), "{}", stderr(&o));

    let o = provenix(h.root(), &["drv", "show", "/etc/passwd"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/etc/passwd"), "{}", stderr(&o));
}

/// Names starting with `.`, which Nix 2.8 accepts: a FOD `.dotfile-1.0`, a
/// two-output `.` (file `..drv`, outputs `<hash>-.` and `<hash>-.-dev`) and
/// `..` on top (file `...drv`).
const DOT_EXPR: &str = r#"
let
  system = builtins.currentSystem;
  dotfile = derivation {
    name = ".dotfile-1.0"; inherit system; builder = "/bin/sh";
    args = [ "-c" "echo src > $out" ];
    outputHashMode = "flat"; outputHashAlgo = "sha256";
    outputHash = "sha256-1w6LBydLBDwoCTbrbVxrBGPVaWQHhc/2N6SqxjnvqFo=";
  };
  dot = derivation {
    name = "."; inherit system; builder = "/bin/sh"; outputs = [ "out" "dev" ];
    inherit dotfile; args = [ "-c" "cp $dotfile $out; echo dev > $dev" ];
  };
in [
  (derivation { name = ".."; inherit system; builder = "/bin/sh"; dot = dot; dotdev = dot.dev;
    args = [ "-c" "echo $dot > $out" ]; })
  dot
  dotfile
]
"#;

#[test]
fn names_starting_with_a_dot_work_as_in_nix_2_8() {
    let Some(h) = NixHarness::new() else { return };
    let drvs = h.instantiate(DOT_EXPR);
    assert_eq!(drvs.len(), 3, "{drvs:?}");
    for (drv, suffix) in drvs.iter().zip(["-...drv", "-..drv", "-.dotfile-1.0.drv"]) {
        assert!(drv.ends_with(suffix), "{drv} should end with {suffix}");
    }
    let top = &drvs[0];

    // `drv show`, one and recursive, byte for byte what Nix prints.
    for drv in &drvs {
        let ours = provenix(h.root(), &["drv", "show", drv]);
        assert!(ours.status.success(), "drv show {drv}: {}", stderr(&ours));
        let nix = h.run("nix", ["--extra-experimental-features", "nix-command", "show-derivation", drv]).stdout;
        assert_eq!(String::from_utf8_lossy(&ours.stdout), String::from_utf8_lossy(&nix), "{drv}");
    }
    let ours = provenix(h.root(), &["drv", "show", "--recursive", top]);
    assert!(ours.status.success(), "{}", stderr(&ours));
    assert_eq!(String::from_utf8_lossy(&ours.stdout), String::from_utf8_lossy(&show_nix(&h, top)));

    // `drv paths` recomputes every `.drv` and output path Nix computed.
    for drv in &drvs {
        let o = provenix(h.root(), &["--json", "drv", "paths", drv]);
        assert_eq!(o.status.code(), Some(0), "drv paths {drv}: {}", stderr(&o));
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(report["drvPath"], drv.as_str());
        assert_eq!(report["findings"], serde_json::json!([]), "{report:#}");
        let nix_outs = h.run_text("nix-store", ["-q", "--outputs", drv]);
        let ours: Vec<&str> = report["outputs"].as_object().unwrap().values().map(|v| v.as_str().unwrap()).collect();
        let mut nix_outs: Vec<&str> = nix_outs.lines().collect();
        let mut ours = ours;
        ours.sort_unstable();
        nix_outs.sort_unstable();
        assert_eq!(ours, nix_outs, "{drv}");
    }
    let o = provenix(h.root(), &["--json", "drv", "paths", top]);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["closureSize"], 3);
    let dot_outs = h.run_text("nix-store", ["-q", "--outputs", &drvs[1]]);
    assert!(dot_outs.lines().any(|l| l.ends_with("-.")), "{dot_outs}");
    assert!(dot_outs.lines().any(|l| l.ends_with("-.-dev")), "{dot_outs}");

    // Tampering is still found in a closure of dot names.
    tamper(&h, &drvs[1], "echo dev", "echo pwn");
    let o = provenix(h.root(), &["--json", "drv", "paths", top]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    assert!(findings.iter().any(|f| f["kind"] == "drv-path-mismatch" && f["path"] == drvs[1].as_str()), "{report:#}");
}

/// What Nix 2.8 refuses as a name it refuses whatever the first character,
/// and so do we, in the `.drv` files we read.
#[test]
fn dot_names_nix_2_8_refuses_are_refused_by_nix_and_by_us() {
    let Some(h) = NixHarness::new() else { return };
    for name in [". x", ".é", ""] {
        let expr = format!("derivation {{ name = \"{name}\"; system = \"x\"; builder = \"/bin/sh\"; }}");
        let file = h.scratch().join("bad.nix");
        std::fs::write(&file, &expr).unwrap();
        let out = h.command("nix-instantiate").arg(&file).output().unwrap();
        assert!(!out.status.success(), "Nix 2.8 accepted {name:?}");
    }
    // An input path of a `.drv` named with a refused byte after the dot:
    // same length as a valid name, so only the name check can tell.
    let drv = h.instantiate(DOT_EXPR).remove(0);
    let closure = h.run_text("nix-store", ["-qR", &drv]);
    let dot = closure.lines().find(|l| l.ends_with("-..drv")).unwrap().to_owned();
    let hash = &dot["/nix/store/".len().."/nix/store/".len() + 32];
    tamper(&h, &drv, &format!("{hash}-..drv"), &format!("{hash}-. drv"));
    let o = provenix(h.root(), &["drv", "show", &drv]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("illegal character"), "{}", stderr(&o));
}
