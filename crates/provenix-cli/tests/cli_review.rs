//! `provenix diff`, `review sign|list` and `policy check` end to end, on closures instantiated by
//! real Nix in throwaway stores, with keys made by `provenix key generate` and records signed by
//! `provenix review sign`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use provenix_testkit::NixHarness;
use serde_json::Value;

/// Runs provenix on the throwaway store, with the user's cache directory inside it.
fn provenix(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_provenix"))
        .env("XDG_CACHE_HOME", cache_home(store))
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .expect("run provenix")
}

fn cache_home(store: &Path) -> PathBuf {
    store.join("cache-home")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", String::from_utf8_lossy(&o.stdout), stderr(o)))
}

/// Fixed-output derivations that are instantiated only: `fod name url seed mode`, whose hash is
/// the sha256 of `seed`, and packages `pkg pname version extra`.
const PRELUDE: &str = r#"
let
  sys = builtins.currentSystem;
  fod = name: url: seed: mode: derivation {
    inherit name; system = sys; builder = "/bin/sh"; args = [ "-c" "exit 1" ];
    urls = [ url ]; outputHashMode = mode; outputHashAlgo = "sha256";
    outputHash = builtins.hashString "sha256" seed;
  };
  pkg = pname: version: extra: derivation ({
    name = "${pname}-${version}"; inherit pname version; system = sys; builder = "/bin/sh";
    args = [ "-c" "echo $buildInputs > $out" ];
  } // extra);
"#;

// ---------------------------------------------------------------------------------------------
// diff

fn release(version: &str, bar_url: &str, patch: &str, extra_dep: bool) -> String {
    let new_dep = if extra_dep { r#"(pkg "baz" "1.0" { })"# } else { "" };
    format!(
        r#"{PRELUDE}
  foo = pkg "foo" "{version}" {{
    src = fod "foo-{version}.tar.gz" "https://example.org/foo/foo-{version}.tar.gz" "foo-{version}" "flat";
    patches = [ (builtins.toFile "{patch}" "--- a\n+++ b\n") ];
  }};
  bar = pkg "bar" "2.0" {{ src = fod "source" "{bar_url}" "bar-2.0" "recursive"; }};
  keep = pkg "keep" "1.0" {{ src = fod "keep-1.0.tar.gz" "https://example.org/keep-1.0.tar.gz" "keep" "flat"; }};
in
  pkg "app" "1.0" {{ buildInputs = [ foo bar keep {new_dep} ]; }}
"#
    )
}

#[test]
fn diff_reports_a_bump_a_stale_hash_patches_and_a_new_dependency() {
    let Some(h) = NixHarness::new() else { return };
    let old = h.instantiate(&release(
        "1.0",
        "https://github.com/ex/bar/archive/v2.0.tar.gz",
        "fix-CVE-2024-1111.patch",
        false,
    ))[0]
        .clone();
    let new = h.instantiate(&release(
        "1.1",
        "https://github.com/ex/bar/archive/v2.1.tar.gz",
        "fix-CVE-2024-2222.patch",
        true,
    ))[0]
        .clone();
    let o = provenix(h.root(), &["--json", "diff", &old, &new]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let d = json_of(&o);
    let changed = d["sourcesChanged"].as_array().unwrap();
    assert_eq!(changed.len(), 2, "{d:#}");
    // The bumped tarball: paired by package and name across versions.
    let foo = changed.iter().find(|c| c["package"] == "foo").unwrap();
    assert_eq!(foo["source"], "foo");
    assert_eq!(foo["changed"], serde_json::json!(["version", "urls", "hash"]));
    assert_eq!(foo["old"]["version"], "1.0");
    assert_eq!(foo["new"]["version"], "1.1");
    assert_eq!(foo["staleHash"], false);
    // The stale hash: the URL moved to v2.1, the hash stayed.
    let bar = changed.iter().find(|c| c["package"] == "bar").unwrap();
    assert_eq!(bar["changed"], serde_json::json!(["urls"]));
    assert_eq!(bar["staleHash"], true);
    assert_eq!(d["summary"]["staleHashes"], 1);
    // Patches: one added, one removed, with their CVE ids.
    let pkgs = d["packagesChanged"].as_array().unwrap();
    let foo_pkg = pkgs.iter().find(|p| p["pname"] == "foo").unwrap();
    assert_eq!(foo_pkg["oldVersion"], "1.0");
    assert_eq!(foo_pkg["newVersion"], "1.1");
    assert_eq!(foo_pkg["patchesAdded"][0]["name"], "fix-CVE-2024-2222.patch");
    assert_eq!(foo_pkg["patchesAdded"][0]["cves"], serde_json::json!(["CVE-2024-2222"]));
    assert_eq!(foo_pkg["patchesRemoved"][0]["cves"], serde_json::json!(["CVE-2024-1111"]));
    assert_eq!(d["summary"]["cvesPatched"], serde_json::json!(["CVE-2024-2222"]));
    assert_eq!(d["summary"]["cvesUnpatched"], serde_json::json!(["CVE-2024-1111"]));
    // The new dependency.
    let app = pkgs.iter().find(|p| p["pname"] == "app").unwrap();
    assert_eq!(app["dependenciesAdded"], serde_json::json!(["baz"]));
    assert_eq!(d["packagesAdded"][0]["pname"], "baz");
    // Unchanged sources are not reported; nothing was added or removed among sources.
    assert!(changed.iter().all(|c| c["package"] != "keep"));
    assert_eq!(d["sourcesAdded"].as_array().unwrap().len(), 0);
    assert_eq!(d["summary"]["toReview"], 1);
    // The human summary names the stale hash and what to review.
    let o = provenix(h.root(), &["diff", &old, &new]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("STALE HASH"), "{text}");
    assert!(text.contains("provenix review sign"), "{text}");
    assert!(stderr(&o).contains("stale hash"), "{}", stderr(&o));
    // A closure against itself: nothing differs, exit 0.
    let o = provenix(h.root(), &["--json", "diff", &old, &old]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json_of(&o)["summary"]["sourcesChanged"], 0);
    // Anything but two roots is a usage error.
    let o = provenix(h.root(), &["diff", &old]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("two roots"), "{}", stderr(&o));
}

/// Writes `files` (path, contents, executable) under `dir/top/` and packs them with GNU tar into
/// `dir/NAME` (gzip).
fn tarball(dir: &Path, top: &str, name: &str, files: &[(&str, &str, bool)]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let root = dir.join(format!("tree-{name}"));
    for (path, text, executable) in files {
        let p = root.join(top).join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(if *executable { 0o755 } else { 0o644 })).unwrap();
    }
    let out = dir.join(name);
    let o = Command::new("tar").arg("-czf").arg(&out).arg("-C").arg(&root).arg(top).output().unwrap();
    assert!(o.status.success(), "tar: {}", String::from_utf8_lossy(&o.stderr));
    out
}

/// `nix-hash --type sha256 --flat FILE` (base16).
fn flat_sha256(file: &Path) -> String {
    let o = Command::new("nix-hash").args(["--type", "sha256", "--flat"]).arg(file).output().unwrap();
    assert!(o.status.success(), "nix-hash: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().trim().to_owned()
}

/// `app` built from the tarball `src` and the patch `patch` (both added to the store with
/// `nix-store --add-fixed`, so the fixed outputs are realised), and a source `extra` that is not.
fn realised_release(h: &NixHarness, src: &Path, patch: &Path, extra_seed: &str) -> String {
    for f in [src, patch] {
        h.run_text("nix-store", [std::ffi::OsStr::new("--add-fixed"), "sha256".as_ref(), f.as_os_str()]);
    }
    let name = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_owned();
    let (src_name, patch_name) = (name(src), name(patch));
    let version = src_name.trim_start_matches("foo-").trim_end_matches(".tar.gz").to_owned();
    let expr = format!(
        r#"{PRELUDE}
  real = name: hash: derivation {{
    inherit name; system = sys; builder = "/bin/sh"; args = [ "-c" "exit 1" ];
    urls = [ "https://example.org/${{name}}" ]; outputHashMode = "flat"; outputHashAlgo = "sha256";
    outputHash = hash;
  }};
  foo = pkg "foo" "{version}" {{
    src = real "{src_name}" "{}";
    patches = [ (real "{patch_name}" "{}") ];
    extra = fod "extra-{extra_seed}.tar.gz" "https://example.org/extra-{extra_seed}.tar.gz" "{extra_seed}" "flat";
  }};
in
  pkg "app" "1.0" {{ buildInputs = [ foo ]; }}
"#,
        flat_sha256(src),
        flat_sha256(patch),
    );
    h.instantiate(&expr)[0].clone()
}

#[test]
fn diff_files_lists_what_a_bumped_tarball_changed() {
    let Some(h) = NixHarness::new() else { return };
    let dir = h.scratch();
    let old_tar = tarball(
        &dir,
        "foo-1.0",
        "foo-1.0.tar.gz",
        &[
            ("README", "foo 1.0\n", false),
            ("configure", "#!/bin/sh\necho configuring\n", false),
            ("src/main.c", "int main(void) { return 0; }\n", false),
            ("src/old.c", "/* going away */\n", false),
        ],
    );
    let new_tar = tarball(
        &dir,
        "foo-1.1",
        "foo-1.1.tar.gz",
        &[
            ("README", "foo 1.1, now with more\n", false),
            ("configure", "#!/bin/sh\necho configuring\n", true),
            ("src/main.c", "int main(void) { return 0; }\n", false),
            ("src/new.c", "int added(void) { return 1; }\n", false),
        ],
    );
    std::fs::create_dir_all(dir.join("p1")).unwrap();
    std::fs::create_dir_all(dir.join("p2")).unwrap();
    let (p1, p2) = (dir.join("p1/fix-build.patch"), dir.join("p2/fix-build.patch"));
    std::fs::write(&p1, "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n").unwrap();
    std::fs::write(&p2, "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+c and more\n").unwrap();
    let old = realised_release(&h, &old_tar, &p1, "1.0");
    let new = realised_release(&h, &new_tar, &p2, "2.0");
    let o = provenix(h.root(), &["--json", "diff", "--files", &old, &new]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let d = json_of(&o);
    let files = d["sourceFiles"].as_array().unwrap();
    assert_eq!(files.len(), 3, "{d:#}");
    let by_name = |n: &str| files.iter().find(|f| f["newName"] == n).unwrap_or_else(|| panic!("{n}: {d:#}"));
    // The bumped tarball, both sides streamed from the store.
    let foo = by_name("foo-1.1.tar.gz");
    assert_eq!(foo["status"], "compared", "{foo:#}");
    assert_eq!(foo["oldFormat"], "tar-gz");
    assert_eq!(foo["oldName"], "foo-1.0.tar.gz");
    let changes: Vec<(String, Value)> = foo["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_owned(), f["changes"].clone()))
        .collect();
    assert_eq!(
        changes,
        vec![
            ("README".to_owned(), serde_json::json!(["modified"])),
            ("configure".to_owned(), serde_json::json!(["mode"])),
            ("src/new.c".to_owned(), serde_json::json!(["added"])),
            ("src/old.c".to_owned(), serde_json::json!(["removed"])),
        ]
    );
    let readme = &foo["files"][0];
    assert_eq!(readme["old"]["size"], 8);
    assert_eq!(readme["new"]["size"], 23);
    assert_eq!(readme["new"]["type"], "file");
    let s = &foo["summary"];
    assert_eq!((s["added"].as_u64(), s["removed"].as_u64(), s["modified"].as_u64()), (Some(1), Some(1), Some(1)));
    assert_eq!(s["modeChanged"], 1);
    assert_eq!(s["unchanged"], 1);
    assert_eq!(s["bytesAdded"], 30);
    assert_eq!(foo["filesTruncated"], false);
    // The patch: one file with other bytes.
    let patch = by_name("fix-build.patch");
    assert_eq!(patch["status"], "compared", "{patch:#}");
    assert_eq!(patch["newFormat"], "file");
    assert_eq!(patch["files"][0]["changes"], serde_json::json!(["modified"]));
    // A source never fetched: listed as missing, with what to run, and a warning.
    let extra = by_name("extra-2.0.tar.gz");
    assert_eq!(extra["status"], "missing");
    assert!(extra["reason"].as_str().unwrap().contains("nix-store --realise"), "{extra:#}");
    assert_eq!(extra["files"], serde_json::json!([]));
    assert!(stderr(&o).contains("files of extra-2.0.tar.gz not compared"), "{}", stderr(&o));
    // The human form lists the paths with their sizes.
    let o = provenix(h.root(), &["diff", "--files", &old, &new]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("foo/foo: foo-1.0.tar.gz -> foo-1.1.tar.gz: 1 added, 1 removed, 1 modified"), "{text}");
    assert!(text.contains("M README  (8 bytes -> 23 bytes)"), "{text}");
    assert!(text.contains("A src/new.c  (30 bytes)"), "{text}");
    assert!(text.contains("X configure  (27 bytes -> 27 bytes, -x -> +x)"), "{text}");
    // Without --files there is no sourceFiles.
    let o = provenix(h.root(), &["--json", "diff", &old, &new]);
    assert!(json_of(&o).get("sourceFiles").is_none());
}

// ---------------------------------------------------------------------------------------------
// reviews and policy

/// `app` needs `lib` (tarball, given name and seed) and a patch.
fn closure(lib_name: &str, lib_seed: &str) -> String {
    format!(
        r#"{PRELUDE}
  lib = pkg "lib" "1" {{
    src = fod "{lib_name}" "https://example.org/{lib_name}" "{lib_seed}" "flat";
    patches = [ (fod "fix-CVE-2024-7777.patch" "https://example.org/fix.patch" "patch" "flat") ];
  }};
in
  pkg "app" "1.0" {{ buildInputs = [ lib ]; }}
"#
    )
}

struct Setup {
    h: NixHarness,
    /// app with lib-1.0.tar.gz (seed "one").
    app: String,
    /// The same name, other bytes (seed "other").
    app_other: String,
    /// app with lib-1.1.tar.gz.
    app_next: String,
    dir: PathBuf,
}

impl Setup {
    fn new() -> Option<Setup> {
        let h = NixHarness::new()?;
        let app = h.instantiate(&closure("lib-1.0.tar.gz", "one"))[0].clone();
        let app_other = h.instantiate(&closure("lib-1.0.tar.gz", "other"))[0].clone();
        let app_next = h.instantiate(&closure("lib-1.1.tar.gz", "next"))[0].clone();
        let dir = h.scratch();
        let s = Setup { h, app, app_other, app_next, dir };
        for name in ["alice", "bob", "carol"] {
            let o = s.run(&[
                "key",
                "generate",
                &format!("{name}-1"),
                "--secret-out",
                s.path(&format!("{name}.sec")).to_str().unwrap(),
                "--public-out",
                s.path(&format!("{name}.pub")).to_str().unwrap(),
            ]);
            assert!(o.status.success(), "{}", stderr(&o));
        }
        Some(s)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        provenix(self.h.root(), args)
    }

    fn public(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(&format!("{name}.pub"))).unwrap().trim().to_owned()
    }

    /// The `.drv` path of the source named `name` in the closure of `root`.
    fn source(&self, root: &str, name: &str) -> String {
        let o = self.run(&["--json", "sources", root]);
        let s = json_of(&o);
        let found = s["sources"].as_array().unwrap().iter().find(|x| x["name"] == name);
        found.unwrap_or_else(|| panic!("no source {name} in {s:#}"))["drvPath"].as_str().unwrap().to_owned()
    }

    /// Signs a review into `dir/file`; extra arguments after the defaults.
    fn sign(&self, who: &str, source: &str, dir: &str, file: &str, extra: &[&str]) -> PathBuf {
        let out_dir = self.path(dir);
        std::fs::create_dir_all(&out_dir).unwrap();
        let out = out_dir.join(file);
        let key = self.path(&format!("{who}.sec"));
        let mut args = vec![
            "review",
            "sign",
            source,
            "--key",
            key.to_str().unwrap(),
            "--level",
            "high",
            "--understanding",
            "high",
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = self.run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        out
    }

    /// Both sources of `root` reviewed by `who` into `dir`.
    fn review_all(&self, who: &str, root: &str, dir: &str, tag: &str) {
        for name in ["lib-1.0.tar.gz", "lib-1.1.tar.gz", "fix-CVE-2024-7777.patch"] {
            let o = self.run(&["--json", "sources", root]);
            let s = json_of(&o);
            if s["sources"].as_array().unwrap().iter().any(|x| x["name"] == name) {
                let drv = self.source(root, name);
                self.sign(who, &drv, dir, &format!("{who}-{tag}-{name}.json"), &[]);
            }
        }
    }

    /// A policy with alice (acme), bob (globex) and, when `dave`, dave also in acme; `extra`
    /// appended.
    fn policy(&self, name: &str, require: &str, extra: &str) -> PathBuf {
        let text = format!(
            "[require]\n{require}\n\n[[reviewer]]\nname = \"alice\"\ngroup = \"acme\"\nkeys = [\"{}\"]\n\n\
             [[reviewer]]\nname = \"bob\"\ngroup = \"globex\"\nkeys = [\"{}\"]\n\n{extra}\n",
            self.public("alice"),
            self.public("bob")
        );
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn check(&self, root: &str, policy: &Path, dirs: &[&str]) -> Output {
        let mut args = vec!["--json".to_owned(), "policy".into(), "check".into(), root.to_owned()];
        args.extend(["--policy".to_owned(), policy.display().to_string()]);
        for d in dirs {
            args.extend(["--reviews".to_owned(), self.path(d).display().to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&args)
    }
}

fn verdict<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["sources"].as_array().unwrap().iter().find(|v| v["name"] == name).unwrap()
}

const TWO: &str = "reviewers = 2\nlevel = \"medium\"";

#[test]
fn policy_passes_with_two_independent_reviewers_and_fails_with_one() {
    let Some(s) = Setup::new() else { return };
    s.review_all("alice", &s.app, "one", "a");
    s.review_all("alice", &s.app, "two", "a");
    s.review_all("bob", &s.app, "two", "b");
    let policy = s.policy("two.toml", TWO, "");
    let o = s.check(&s.app, &policy, &["two"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = json_of(&o);
    assert_eq!(r["passed"], true);
    assert_eq!(verdict(&r, "lib-1.0.tar.gz")["countedGroups"], serde_json::json!(["acme", "globex"]));
    let o = s.check(&s.app, &policy, &["one"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r = json_of(&o);
    let v = verdict(&r, "lib-1.0.tar.gz");
    assert_eq!(v["status"], "under-reviewed");
    assert_eq!(v["countedReviewers"], serde_json::json!(["alice"]));
    assert!(v["missing"].as_str().unwrap().starts_with("1 more independent reviewer (of 2)"), "{v:#}");
    // No review directory at all: unreviewed.
    let o = s.check(&s.app, &policy, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(verdict(&json_of(&o), "lib-1.0.tar.gz")["status"], "unreviewed");
    // The list shows who reviewed each source, verified with the trusted keys.
    let (alice, bob) = (s.public("alice"), s.public("bob"));
    let o = s.run(&[
        "--json",
        "review",
        "list",
        &s.app,
        "--reviews",
        s.path("two").to_str().unwrap(),
        "--trust-key",
        &alice,
        "--trust-key",
        &bob,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let l = json_of(&o);
    let lib = l["sources"].as_array().unwrap().iter().find(|x| x["name"] == "lib-1.0.tar.gz").unwrap();
    let mut signers: Vec<String> =
        lib["reviews"].as_array().unwrap().iter().map(|r| r["verifiedBy"][0].as_str().unwrap().to_owned()).collect();
    signers.sort();
    assert_eq!(signers, ["alice-1", "bob-1"]);
}

#[test]
fn the_same_reviewer_twice_and_one_group_twice_count_once() {
    let Some(s) = Setup::new() else { return };
    s.review_all("alice", &s.app, "same", "a");
    s.review_all("alice", &s.app, "same", "again");
    let policy = s.policy("two.toml", TWO, "");
    let o = s.check(&s.app, &policy, &["same"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r = json_of(&o);
    let v = verdict(&r, "lib-1.0.tar.gz");
    assert_eq!(v["reviews"].as_array().unwrap().len(), 2);
    assert_eq!(v["countedReviewers"], serde_json::json!(["alice"]));
    // Carol in alice's group: two reviewers, one organisation.
    s.review_all("carol", &s.app, "same", "c");
    let carol = format!("[[reviewer]]\nname = \"carol\"\ngroup = \"acme\"\nkeys = [\"{}\"]\n", s.public("carol"));
    let policy = s.policy("group.toml", TWO, &carol);
    let o = s.check(&s.app, &policy, &["same"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r = json_of(&o);
    assert_eq!(verdict(&r, "lib-1.0.tar.gz")["countedGroups"], serde_json::json!(["acme"]));
}

#[test]
fn a_review_of_other_bytes_with_the_same_name_never_counts() {
    let Some(s) = Setup::new() else { return };
    s.review_all("alice", &s.app, "mixed", "a");
    // Bob reviewed a lib-1.0.tar.gz with other bytes.
    s.review_all("bob", &s.app_other, "mixed", "b");
    let policy = s.policy("two.toml", TWO, "");
    let o = s.check(&s.app, &policy, &["mixed"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r = json_of(&o);
    let v = verdict(&r, "lib-1.0.tar.gz");
    assert_eq!(v["countedReviewers"], serde_json::json!(["alice"]));
    assert_eq!(v["reviews"].as_array().unwrap().len(), 1, "{v:#}");
    // The patch is the same bytes in both closures: there bob's review counts.
    assert_eq!(verdict(&r, "fix-CVE-2024-7777.patch")["status"], "reviewed");
}

#[test]
fn untrusted_revoked_and_expired_keys_count_for_nothing() {
    let Some(s) = Setup::new() else { return };
    s.review_all("alice", &s.app, "k", "a");
    s.review_all("carol", &s.app, "k", "c");
    let policy = s.policy("two.toml", TWO, "");
    let o = s.check(&s.app, &policy, &["k"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r = json_of(&o);
    let v = verdict(&r, "lib-1.0.tar.gz");
    assert_eq!(v["countedReviewers"], serde_json::json!(["alice"]));
    assert_eq!(v["unknownKeyReviews"].as_array().unwrap().len(), 1);
    assert_eq!(r["unknownKeyRecords"][0]["keyIds"], serde_json::json!(["carol-1"]));
    assert!(stderr(&o).contains("carol-1, which the policy does not name"), "{}", stderr(&o));
    // Carol named with her key revoked: verified, listed, not counted.
    let revoked = format!(
        "[[reviewer]]\nname = \"carol\"\nkeys = [\"{}\"]\nrevoked = [\"{}\"]\n",
        s.public("bob").replace("bob-1", "bob-x"),
        s.public("carol")
    );
    let policy = s.policy("revoked.toml", TWO, &revoked);
    let o = s.check(&s.app, &policy, &["k"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r = json_of(&o);
    let seen = &verdict(&r, "lib-1.0.tar.gz")["reviews"];
    let carol = seen.as_array().unwrap().iter().find(|x| x["reviewer"] == "carol").unwrap();
    assert_eq!(carol["counted"], false);
    assert!(carol["whyNot"].as_str().unwrap().contains("revoked"), "{carol}");
    // Carol's key past its reviewer's `until`.
    let expired = format!("[[reviewer]]\nname = \"carol\"\nkeys = [\"{}\"]\nuntil = 2020-01-01\n", s.public("carol"));
    let policy = s.policy("expired.toml", TWO, &expired);
    let o = s.check(&s.app, &policy, &["k"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r = json_of(&o);
    let seen = &verdict(&r, "lib-1.0.tar.gz")["reviews"];
    let carol = seen.as_array().unwrap().iter().find(|x| x["reviewer"] == "carol").unwrap();
    assert!(carol["whyNot"].as_str().unwrap().contains("expired on 2020-01-01"), "{carol}");
    // And with a key valid until far ahead, carol counts: the policy passes.
    let valid = format!("[[reviewer]]\nname = \"carol\"\nkeys = [\"{}\"]\nuntil = 2999-12-31\n", s.public("carol"));
    let policy = s.policy("valid.toml", TWO, &valid);
    let o = s.check(&s.app, &policy, &["k"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn an_expired_exemption_no_longer_exempts() {
    let Some(s) = Setup::new() else { return };
    let exempt = |until: &str| {
        format!(
            "[[exempt]]\nname = \"lib-1.0.tar.gz\"\nreason = \"vendored data\"\nuntil = {until}\n\n[[exempt]]\nname = \"fix-CVE-2024-7777.patch\"\nreason = \"tiny\"\n"
        )
    };
    let policy = s.policy("live.toml", TWO, &exempt("2999-01-01"));
    let o = s.check(&s.app, &policy, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = json_of(&o);
    assert_eq!(verdict(&r, "lib-1.0.tar.gz")["status"], "exempt");
    let policy = s.policy("dead.toml", TWO, &exempt("2020-01-01"));
    let o = s.check(&s.app, &policy, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r = json_of(&o);
    let v = verdict(&r, "lib-1.0.tar.gz");
    assert_eq!(v["status"], "unreviewed");
    assert_eq!(v["expiredExemptions"][0]["until"], "2020-01-01");
}

#[test]
fn a_delta_review_chained_to_a_full_review_of_the_old_version_counts() {
    let Some(s) = Setup::new() else { return };
    // Alice and bob reviewed lib 1.0 in full; then only the change to 1.1.
    s.review_all("alice", &s.app, "chain", "a");
    s.review_all("bob", &s.app, "chain", "b");
    let old = s.source(&s.app, "lib-1.0.tar.gz");
    let new = s.source(&s.app_next, "lib-1.1.tar.gz");
    for who in ["alice", "bob"] {
        s.sign(who, &new, "chain", &format!("{who}-delta.json"), &["--diff-from", &old]);
    }
    let policy = s.policy("delta.toml", &format!("{TWO}\ndelta = true"), "");
    let o = s.check(&s.app_next, &policy, &["chain"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = json_of(&o);
    let v = verdict(&r, "lib-1.1.tar.gz");
    assert_eq!(v["status"], "reviewed");
    assert!(v["reviews"].as_array().unwrap().iter().all(|x| x["scope"] == "delta"));
    // Without `delta = true` the same records do not count.
    let strict = s.policy("strict.toml", TWO, "");
    let o = s.check(&s.app_next, &strict, &["chain"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // A delta from a version only one reviewer read does not count either.
    std::fs::remove_file(s.path("chain/bob-b-lib-1.0.tar.gz.json")).unwrap();
    let o = s.check(&s.app_next, &policy, &["chain"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r = json_of(&o);
    let why = verdict(&r, "lib-1.1.tar.gz")["reviews"][0]["whyNot"].as_str().unwrap().to_owned();
    assert!(why.contains("a delta from lib-1.0.tar.gz") && why.contains("1 of 2"), "{why}");
    // Deltas that only lead to each other (1.0 from 1.1 and 1.1 from 1.0) count for nothing.
    for who in ["alice", "bob"] {
        s.sign(who, &new, "cycle", &format!("{who}-up.json"), &["--diff-from", &old]);
        s.sign(who, &old, "cycle", &format!("{who}-down.json"), &["--diff-from", &new]);
    }
    for (root, name) in [(&s.app, "lib-1.0.tar.gz"), (&s.app_next, "lib-1.1.tar.gz")] {
        let o = s.check(root, &policy, &["cycle"]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let r = json_of(&o);
        let v = verdict(&r, name);
        assert_eq!(v["status"], "under-reviewed", "{v:#}");
        assert_eq!(v["reviews"].as_array().unwrap().len(), 2, "{v:#}");
        assert!(v["countedReviewers"].as_array().unwrap().is_empty(), "{v:#}");
    }
}

#[test]
fn rules_by_kind_ask_more_of_patches() {
    let Some(s) = Setup::new() else { return };
    let lib = s.source(&s.app, "lib-1.0.tar.gz");
    let patch = s.source(&s.app, "fix-CVE-2024-7777.patch");
    for who in ["alice", "bob"] {
        s.sign(who, &lib, "kinds", &format!("{who}-lib.json"), &[]);
        let out = s.path("kinds").join(format!("{who}-patch.json"));
        let key = s.path(&format!("{who}.sec"));
        let o = s.run(&[
            "review",
            "sign",
            &patch,
            "--key",
            key.to_str().unwrap(),
            "--level",
            "medium",
            "--understanding",
            "low",
            "--files",
            "src/*.c",
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let policy = s.policy("kinds.toml", TWO, "[[rule]]\nkinds = [\"patch\"]\nlevel = \"high\"\n");
    let o = s.check(&s.app, &policy, &["kinds"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r = json_of(&o);
    assert_eq!(verdict(&r, "lib-1.0.tar.gz")["status"], "reviewed");
    let v = verdict(&r, "fix-CVE-2024-7777.patch");
    assert_eq!(v["status"], "under-reviewed");
    assert_eq!(v["required"]["level"], "high");
    assert!(v["reviews"][0]["whyNot"].as_str().unwrap().contains("only some files"), "{v:#}");
    // SARIF: both checks of the official validators pass.
    let sarif = s.path("gate.sarif");
    let mut args: Vec<String> = ["policy", "check", &s.app, "--policy"].iter().map(|x| x.to_string()).collect();
    args.extend([policy.display().to_string(), "--reviews".into(), s.path("kinds").display().to_string()]);
    args.extend(["--sarif".into(), sarif.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = s.run(&args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let log: Value = serde_json::from_slice(&std::fs::read(&sarif).unwrap()).unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["ruleId"], "under-reviewed");
    let Some(python) = provenix_testkit::validator_python("SARIF validation") else { return };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sarif_validate.py");
    let v = Command::new(python).arg(script).arg(&sarif).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&v.stdout), String::from_utf8_lossy(&v.stderr));
    assert_eq!(v.status.code(), Some(0), "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("ok: ")).count(), 2, "{text}");
}

#[test]
fn signature_checks_are_remembered_and_an_altered_record_is_still_refused() {
    let Some(s) = Setup::new() else { return };
    s.review_all("alice", &s.app, "cached", "a");
    s.review_all("bob", &s.app, "cached", "b");
    let policy = s.policy("two.toml", TWO, "");
    let cache = cache_home(s.h.root()).join("provenix/review-checks");
    // --no-cache neither reads nor writes the cache.
    let mut args: Vec<String> =
        ["--json", "policy", "check", &s.app, "--policy"].iter().map(|x| x.to_string()).collect();
    args.extend([policy.display().to_string(), "--reviews".into(), s.path("cached").display().to_string()]);
    args.push("--no-cache".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = s.run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let uncached = json_of(&o);
    assert!(!cache.exists());
    // The first run remembers one check per signature (4 records, one signature each).
    let o = s.check(&s.app, &policy, &["cached"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json_of(&o), uncached);
    let bytes = std::fs::read(&cache).unwrap();
    let header = b"provenix signature checks v1\n";
    assert!(bytes.starts_with(header));
    assert_eq!(bytes.len(), header.len() + 4 * 32);
    // The second run gives the same verdicts from the remembered checks.
    let o = s.check(&s.app, &policy, &["cached"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json_of(&o), uncached);
    // A record altered after its check was remembered is other bytes: checked again, refused.
    let file = s.path("cached/alice-a-lib-1.0.tar.gz.json");
    let mut envelope: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = String::from_utf8(b64.decode(envelope["payload"].as_str().unwrap()).unwrap()).unwrap();
    envelope["payload"] = Value::String(b64.encode(payload.replace("\"level\":\"high\"", "\"level\":\"medium\"")));
    std::fs::write(&file, serde_json::to_vec(&envelope).unwrap()).unwrap();
    let o = s.check(&s.app, &policy, &["cached"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains(&file.display().to_string()), "{}", stderr(&o));
    assert!(stderr(&o).contains("does not verify"), "{}", stderr(&o));
    // A cache file of junk is ignored and replaced.
    std::fs::write(&cache, b"junk").unwrap();
    std::fs::remove_file(&file).unwrap();
    let o = s.check(&s.app, &policy, &["cached"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(std::fs::read(&cache).unwrap().len(), header.len() + 3 * 32);
}

#[test]
fn malformed_or_tampered_reviews_and_policies_are_refused_naming_the_file() {
    let Some(s) = Setup::new() else { return };
    let lib = s.source(&s.app, "lib-1.0.tar.gz");
    let good = s.sign("alice", &lib, "bad", "alice.json", &[]);
    let policy = s.policy("two.toml", TWO, "");
    // Tampered: the level raised after signing.
    let mut envelope: Value = serde_json::from_slice(&std::fs::read(&good).unwrap()).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = String::from_utf8(b64.decode(envelope["payload"].as_str().unwrap()).unwrap()).unwrap();
    let forged = payload.replace("\"level\":\"high\"", "\"level\":\"medium\"");
    assert_ne!(forged, payload);
    envelope["payload"] = Value::String(b64.encode(forged));
    std::fs::create_dir_all(s.path("tampered")).unwrap();
    let tampered = s.path("tampered/forged.json");
    std::fs::write(&tampered, serde_json::to_vec(&envelope).unwrap()).unwrap();
    let o = s.check(&s.app, &policy, &["tampered"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains(&tampered.display().to_string()), "{}", stderr(&o));
    assert!(stderr(&o).contains("does not verify"), "{}", stderr(&o));
    // Malformed: not JSON, and JSON of the wrong shape.
    for (name, bytes) in
        [("junk.json", &b"{ not json"[..]), ("shape.json", &br#"{"payload":"","payloadType":"x","signatures":[]}"#[..])]
    {
        let dir = s.path(&format!("malformed-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
        let o = s.check(&s.app, &policy, &[&format!("malformed-{name}")]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(&dir.join(name).display().to_string()), "{}", stderr(&o));
        let o = s.run(&["review", "list", &s.app, "--reviews", dir.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(name), "{}", stderr(&o));
    }
    // Policies: an unknown key, a bad level, a bad public key, an exemption without reason.
    for (name, text) in [
        ("typo.toml", "[require]\nreviewerz = 2\n".to_owned()),
        ("level.toml", "[require]\nlevel = \"extreme\"\n".to_owned()),
        ("key.toml", "[[reviewer]]\nname = \"x\"\nkeys = [\"x:notbase64\"]\n".to_owned()),
        ("reason.toml", "[[exempt]]\nname = \"a\"\nreason = \"  \"\n".to_owned()),
    ] {
        let p = s.path(name);
        std::fs::write(&p, text).unwrap();
        let o = s.check(&s.app, &p, &[]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(&p.display().to_string()), "{name}: {}", stderr(&o));
    }
    // Signing what is not a source is refused.
    let key = s.path("alice.sec");
    let o =
        s.run(&["review", "sign", &s.app, "--key", key.to_str().unwrap(), "--level", "low", "--understanding", "low"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not a fixed-output derivation"), "{}", stderr(&o));
}
