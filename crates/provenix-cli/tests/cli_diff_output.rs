#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `provenix diff-output` on outputs built by real Nix in a throwaway store
//! (`nix-build`, sandboxed) and their NARs from `nix-store --dump`: the
//! differing file is named, and the exit code says identical (0), differs
//! (1) or bad input (2), for store path, NAR and mixed pairs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use provenix_testkit::NixHarness;
use serde_json::Value;

fn provenix(root: &Path, args: &[&str]) -> Output {
    provenix_with_path(root, args, None)
}

/// Runs provenix with `--store ROOT`, and `PATH` replaced when given.
fn provenix_with_path(root: &Path, args: &[&str], path: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_provenix"));
    cmd.arg("--store").arg(root).args(args);
    if let Some(path) = path {
        cmd.env("PATH", path);
    }
    cmd.output().expect("run provenix")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// The lines of the human output that name changed entries (`M path`, ...).
fn entry_lines(o: &Output) -> Vec<String> {
    stdout(o)
        .lines()
        .take_while(|l| !l.is_empty() && !l.starts_with("differs:") && !l.starts_with("identical:"))
        .map(str::to_owned)
        .collect()
}

/// `(changes, path)` of every entry in a JSON report.
fn entries(report: &Value) -> Vec<(String, String)> {
    report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let changes: Vec<&str> = e["changes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
            (changes.join("+"), e["path"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// One output: a script, a text file, a binary, a symlink and a file that a
/// variant removes; the arguments change exactly what a test needs.
const EXPR: &str = r#"
let mk = { name, doc ? "one\ntwo\nthree\n", mode ? "755", link ? "../share/doc.txt", blob ? "\\000\\001\\002\\003", extra ? false, old ? true }:
  derivation {
    inherit name doc mode link blob;
    extra = if extra then "1" else "";
    old = if old then "1" else "";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" ''
      mkdir -p $out/bin $out/share $out/lib
      printf '#!/bin/sh\necho tool\n' > $out/bin/tool
      chmod "$mode" $out/bin/tool
      printf "$doc" > $out/share/doc.txt
      printf "$blob" > $out/lib/data.bin
      ln -s "$link" $out/link
      if [ -n "$old" ]; then echo old > $out/old.txt; fi
      if [ -n "$extra" ]; then echo new > $out/share/new.txt; fi
    '' ];
  };
in [
  (mk { name = "ref"; })
  (mk { name = "same"; })
  (mk { name = "one-file"; doc = "one\nTWO\nthree\n"; })
  (mk { name = "variant"; mode = "644"; link = "../lib/data.bin"; blob = "\\000\\001\\377\\003\\004"; extra = true; old = false; })
]
"#;

struct Built {
    h: NixHarness,
    /// Logical store paths.
    reference: String,
    same: String,
    one_file: String,
    variant: String,
    /// `nix-store --dump` of each, in the same order.
    nars: [PathBuf; 4],
}

fn build() -> Option<Built> {
    let h = NixHarness::new()?;
    let outs = h.build(EXPR);
    assert_eq!(outs.len(), 4, "{outs:?}");
    let scratch = h.scratch();
    let nars = [0, 1, 2, 3].map(|i| {
        let file = scratch.join(format!("out{i}.nar"));
        // Nix 2.8 dumps a file-system path, so the output's physical location.
        let dump = h.run("nix-store", [std::ffi::OsStr::new("--dump"), h.physical(&outs[i]).as_os_str()]);
        std::fs::write(&file, dump.stdout).unwrap();
        file
    });
    let [reference, same, one_file, variant] = <[String; 4]>::try_from(outs).unwrap();
    Some(Built { h, reference, same, one_file, variant, nars })
}

impl Built {
    fn root(&self) -> &Path {
        self.h.root()
    }
}

#[test]
fn one_changed_file_is_named_for_paths_nars_and_both() {
    let Some(b) = build() else { return };
    let nar = |i: usize| b.nars[i].to_str().unwrap().to_owned();
    let pairs = [
        ("path vs path", b.reference.clone(), b.one_file.clone()),
        ("NAR vs NAR", nar(0), nar(2)),
        ("path vs NAR", b.reference.clone(), nar(2)),
        ("NAR vs path", nar(0), b.one_file.clone()),
    ];
    for (what, x, y) in &pairs {
        let o = provenix(b.root(), &["diff-output", "--no-diffoscope", x, y]);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", stderr(&o));
        assert_eq!(entry_lines(&o), ["M share/doc.txt"], "{what}: {}", stdout(&o));
        let text = stdout(&o);
        assert!(text.contains("--- a/share/doc.txt\n+++ b/share/doc.txt\n"), "{what}: {text}");
        assert!(text.contains("\n-two\n+TWO\n"), "{what}: {text}");
        assert!(text.lines().last().unwrap().starts_with("differs: 1 modified"), "{what}: {text}");

        let o = provenix(b.root(), &["--json", "diff-output", "--no-diffoscope", x, y]);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", stderr(&o));
        let report = json(&o);
        assert_eq!(entries(&report), [("modified".to_owned(), "share/doc.txt".to_owned())], "{what}");
        assert_eq!(report["identical"], false);
        assert_eq!(report["a"]["path"], x.as_str());
        assert_eq!(report["entries"][0]["content"]["kind"], "text");
        assert_eq!(report["diffoscope"]["status"], "disabled");
    }
    // The NAR hashes in the report are Nix's.
    let o = provenix(b.root(), &["--json", "diff-output", "--no-diffoscope", &b.reference, &nar(2)]);
    let report = json(&o);
    let nix_hash = |p: &str| b.h.run_text("nix-store", ["--query", "--hash", p]);
    assert_eq!(report["a"]["narHash"], nix_hash(&b.reference));
    assert_eq!(report["b"]["narHash"], nix_hash(&b.one_file));
    assert_eq!(report["b"]["kind"], "nar");
}

#[test]
fn identical_outputs_exit_0() {
    let Some(b) = build() else { return };
    let (nar0, nar1) = (b.nars[0].to_str().unwrap(), b.nars[1].to_str().unwrap());
    for (x, y) in [(b.reference.as_str(), b.same.as_str()), (nar0, nar1), (b.reference.as_str(), nar1)] {
        let o = provenix(b.root(), &["diff-output", x, y]);
        assert_eq!(o.status.code(), Some(0), "{x} {y}: {}{}", stdout(&o), stderr(&o));
        assert!(stdout(&o).starts_with("identical: NAR sha256:"), "{}", stdout(&o));
        let o = provenix(b.root(), &["--json", "diff-output", x, y]);
        let report = json(&o);
        assert_eq!(report["identical"], true);
        assert_eq!(report["entries"], serde_json::json!([]));
        assert_eq!(report["diffoscope"]["status"], "identical");
    }
}

#[test]
fn mode_symlink_added_removed_and_binary_changes_are_each_named() {
    let Some(b) = build() else { return };
    let expected = ["M lib/data.bin", "X bin/tool", "L link", "D old.txt", "A share/new.txt"];
    for y in [b.variant.as_str(), b.nars[3].to_str().unwrap()] {
        let o = provenix(b.root(), &["diff-output", "--no-diffoscope", &b.reference, y]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let mut lines = entry_lines(&o);
        lines.sort();
        let mut want = expected.map(str::to_owned).to_vec();
        want.sort();
        assert_eq!(lines, want, "{}", stdout(&o));
        let text = stdout(&o);
        assert!(text.contains("lib/data.bin: binary, 4 -> 5 bytes, first difference at byte 2 (0x2)"), "{text}");
        assert!(text.contains("bin/tool: executable -> not executable"), "{text}");
        assert!(text.contains("link: symlink to ../share/doc.txt -> ../lib/data.bin"), "{text}");

        let report = json(&provenix(b.root(), &["--json", "diff-output", "--no-diffoscope", &b.reference, y]));
        let data = report["entries"].as_array().unwrap().iter().find(|e| e["path"] == "lib/data.bin").unwrap();
        assert_eq!(data["content"]["kind"], "binary");
        assert_eq!(data["content"]["firstDifference"], 2);
        assert_eq!((data["a"]["size"].as_u64(), data["b"]["size"].as_u64()), (Some(4), Some(5)));
        let summary = &report["summary"];
        assert_eq!(
            [&summary["modified"], &summary["modeChanged"], &summary["targetChanged"], &summary["added"]],
            [1, 1, 1, 1]
        );
        assert_eq!(summary["removed"], 1);
    }
}

#[test]
fn malformed_nars_and_missing_paths_exit_2_naming_them() {
    let Some(b) = build() else { return };
    let nar = std::fs::read(&b.nars[0]).unwrap();
    let cut = b.h.scratch().join("cut.nar");
    std::fs::write(&cut, &nar[..nar.len() / 2]).unwrap();
    let cut = cut.to_str().unwrap();
    for args in [[cut, b.reference.as_str()], [b.reference.as_str(), cut]] {
        let o = provenix(b.root(), &["diff-output", "--no-diffoscope", args[0], args[1]]);
        assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
        let err = stderr(&o);
        assert!(err.contains(cut) && err.contains("offset"), "{err}");
        assert!(o.stdout.is_empty(), "{}", stdout(&o));
    }

    // A store path that is not in this store, and a plain path that does not exist.
    let missing = format!("{}-gone", &b.reference[..b.reference.len() - "-ref".len()]);
    let o = provenix(b.root(), &["diff-output", &b.reference, &missing]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(&missing), "{}", stderr(&o));
    let o = provenix(b.root(), &["diff-output", "/nonexistent/output", &b.reference]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/output"), "{}", stderr(&o));
    // Usage errors are clap's exit 2.
    let o = provenix(b.root(), &["diff-output", &b.reference]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_result_link_stands_for_its_store_path() {
    let Some(b) = build() else { return };
    let link = b.h.scratch().join("result");
    // As nix-build makes it: the logical path, which lives under --store.
    std::os::unix::fs::symlink(&b.one_file, &link).unwrap();
    let o = provenix(b.root(), &["diff-output", "--no-diffoscope", &b.reference, link.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(entry_lines(&o), ["M share/doc.txt"], "{}", stdout(&o));
}

#[test]
fn diffoscope_runs_when_installed_and_says_when_it_is_not() {
    let Some(b) = build() else { return };
    let nar2 = b.nars[2].to_str().unwrap();

    // Not on PATH: stated, and the comparison is the same.
    let empty = tempfile::tempdir().unwrap();
    let o = provenix_with_path(b.root(), &["diff-output", &b.reference, nar2], Some(empty.path()));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("diffoscope: not found on PATH"), "{}", stdout(&o));
    let o = provenix_with_path(b.root(), &["--json", "diff-output", &b.reference, nar2], Some(empty.path()));
    assert_eq!(json(&o)["diffoscope"]["status"], "not-found");

    let installed = Command::new("diffoscope").arg("--version").output().is_ok_and(|o| o.status.success());
    if !installed {
        if provenix_testkit::nix_required() {
            panic!("diffoscope is not installed (scripts/install-deps.sh installs diffoscope-minimal)");
        }
        eprintln!("\n*** SKIPPING the real diffoscope part: diffoscope is not installed ***\n");
        return;
    }
    for y in [b.one_file.as_str(), nar2] {
        let o = provenix(b.root(), &["--json", "diff-output", &b.reference, y]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let d = &json(&o)["diffoscope"];
        assert_eq!(d["status"], "ran", "{d}");
        assert_eq!(d["exitCode"], 1, "{d}");
        let text = d["output"].as_str().unwrap();
        assert!(text.contains("share/doc.txt") && text.contains("+TWO"), "{text}");
        let o = provenix(b.root(), &["diff-output", &b.reference, y]);
        assert!(stdout(&o).contains("\ndiffoscope:\n"), "{}", stdout(&o));
    }
}
