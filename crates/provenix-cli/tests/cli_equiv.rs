//! `provenix equiv` end to end, and the pairing inside `verify`: git
//! repositories made by the test, release tarballs made from them by `git
//! archive` plus what a release adds, sources served over HTTP on 127.0.0.1
//! and fetched by Nix's `builtin:fetchurl` in a throwaway store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use provenix_formats::hash::{Hash, HashAlgo};
use provenix_testkit::{HttpServer, NixHarness};
use serde_json::Value;

fn provenix(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_provenix")).args(args).output().expect("run provenix")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", String::from_utf8_lossy(&o.stdout), stderr(o)))
}

fn git(dir: &Path, args: &[&str]) -> Vec<u8> {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .expect("run git");
    assert!(o.status.success(), "git {args:?}: {}", stderr(&o));
    o.stdout
}

/// A git repository of a small autotools project with the tag `v1.0`.
fn repo(tmp: &Path) -> PathBuf {
    let dir = tmp.join("demo");
    for (path, body) in [
        ("configure.ac", "AC_INIT([demo], [1.0])\nAC_CONFIG_MACRO_DIR([m4])\nAC_OUTPUT\n"),
        ("Makefile.am", "SUBDIRS = src\n"),
        ("src/demo.c", "int main(void) { return 0; }\n"),
        ("tests/files/bad-3-corrupt_lzma2.xz", "\u{fd}7zXZ not really a payload\n"),
        (".gitignore", "*.o\n"),
    ] {
        let p = dir.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "demo 1.0"]);
    git(&dir, &["tag", "v1.0"]);
    dir
}

/// `git archive` of the tag, as a forge serves it (`.tar.gz`, top directory `demo-1.0/`).
fn snapshot(repo: &Path) -> Vec<u8> {
    git(repo, &["archive", "--format=tar.gz", "--prefix=demo-1.0/", "v1.0"])
}

/// A release tarball: the tag's tree minus `.gitignore`, plus `extra` files, made by GNU tar.
fn release(repo: &Path, tmp: &Path, extra: &[(&str, &str)]) -> Vec<u8> {
    let work = tmp.join("release-work");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).unwrap();
    let tar = tmp.join("snap.tar");
    fs::write(&tar, git(repo, &["archive", "--format=tar", "--prefix=demo-1.0/", "v1.0"])).unwrap();
    assert!(Command::new("tar").arg("-xf").arg(&tar).arg("-C").arg(&work).status().unwrap().success());
    fs::remove_file(work.join("demo-1.0/.gitignore")).unwrap();
    for (path, body) in extra {
        let p = work.join("demo-1.0").join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }
    let out = tmp.join("release.tar.xz");
    let ok = Command::new("tar")
        .arg("-cJf")
        .arg(&out)
        .arg("--sort=name")
        .arg("-C")
        .arg(&work)
        .arg("demo-1.0")
        .status()
        .unwrap();
    assert!(ok.success());
    fs::read(out).unwrap()
}

const TRIGGER: &str = "# build-to-host.m4 serial 30\nAC_DEFUN([gl_BUILD_TO_HOST], [eval $gl_[$1]_prefix])\n";

fn findings(report: &Value) -> Vec<(String, String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or_default().to_owned();
            (s("kind"), s("file"), s("class"))
        })
        .collect()
}

#[test]
fn the_xz_case_is_a_tarball_only_unknown_build_file() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = repo(tmp.path());
    let archive = tmp.path().join("demo-1.0.tar.xz");
    fs::write(&archive, release(&repo, tmp.path(), &[("m4/build-to-host.m4", TRIGGER)])).unwrap();
    let snap = tmp.path().join("v1.0.tar.gz");
    fs::write(&snap, snapshot(&repo)).unwrap();
    let (a, s) = (archive.to_str().unwrap(), snap.to_str().unwrap());

    let o = provenix(&["equiv", a, s, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = json(&o);
    assert_eq!(
        findings(&report),
        vec![
            ("tarball-only-file".into(), "m4/build-to-host.m4".into(), "unknown-build-file".into()),
            ("vcs-only-file".into(), ".gitignore".into(), String::new()),
        ]
    );
    let f = &report["findings"][0];
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["archive"]["size"], TRIGGER.len());
    assert_eq!(f["archive"]["sha256"], Hash::compute(HashAlgo::Sha256, TRIGGER.as_bytes()).to_base16());
    assert_eq!(report["archive"]["format"], "tar-xz");
    assert_eq!(report["archive"]["stripped"], "demo-1.0");
    assert_eq!(report["identical"], 4);

    // A warning fails with --fail-on warning; the human table names the file and its class.
    let o = provenix(&["equiv", a, s, "--fail-on", "warning"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("tarball-only-file     m4/build-to-host.m4 [unknown-build-file]"), "{text}");
    assert!(text.contains("FAILED"), "{text}");

    // The VCS side as the checkout itself (its .git is not part of the tree).
    let o = provenix(&["equiv", a, repo.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(findings(&json(&o)).len(), 2);
}

#[test]
fn a_modified_file_fails_and_generated_files_do_not() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = repo(tmp.path());
    let snap = tmp.path().join("v1.0.tar.gz");
    fs::write(&snap, snapshot(&repo)).unwrap();
    let s = snap.to_str().unwrap();

    let generated = tmp.path().join("gen.tar.xz");
    let extra = [
        ("configure", "#! /bin/sh\n# Generated by GNU Autoconf 2.71 for demo 1.0.\n"),
        ("Makefile.in", "# Makefile.in generated by automake 1.16.5 from Makefile.am.\n"),
        ("src/Makefile.in", "# Makefile.in generated by automake 1.16.5 from Makefile.am.\n"),
        ("aclocal.m4", "# generated automatically by aclocal 1.16.5 -*- Autoconf -*-\n"),
        ("config.h.in", "/* config.h.in.  Generated from configure.ac by autoheader.  */\n"),
        ("po/demo.pot", "msgid \"\"\n"),
        (".tarball-version", "1.0\n"),
    ];
    fs::write(&generated, release(&repo, tmp.path(), &extra)).unwrap();
    let o = provenix(&["equiv", generated.to_str().unwrap(), s, "--json", "--fail-on", "warning"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = json(&o);
    let classes: Vec<_> = findings(&report).into_iter().filter(|f| f.0 == "tarball-only-file").collect();
    assert_eq!(classes.len(), extra.len(), "{classes:?}");
    assert!(classes.iter().all(|f| f.2 == "generated"), "{classes:?}");
    assert_eq!(report["classes"]["generated"], extra.len());

    let modified = tmp.path().join("mod.tar.xz");
    fs::write(&modified, release(&repo, tmp.path(), &[("src/demo.c", "int main(void) { return 1; }\n")])).unwrap();
    let o = provenix(&["equiv", modified.to_str().unwrap(), s]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("error   tarball-modified-file src/demo.c"), "{text}");
    assert!(text.contains("archive  29 bytes sha256:"), "{text}");
}

#[test]
fn sides_can_be_urls() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = repo(tmp.path());
    let server = HttpServer::start();
    server.put("/releases/demo-1.0.tar.xz", release(&repo, tmp.path(), &[("m4/build-to-host.m4", TRIGGER)]));
    server.put("/demo/archive/v1.0.tar.gz", snapshot(&repo));
    let o = provenix(&[
        "equiv",
        &server.url("/releases/demo-1.0.tar.xz"),
        &server.url("/demo/archive/v1.0.tar.gz"),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = json(&o);
    assert_eq!(findings(&report)[0].1, "m4/build-to-host.m4");
    assert_eq!(report["archive"]["input"], server.url("/releases/demo-1.0.tar.xz"));
    let o = provenix(&["equiv", &server.url("/missing.tar.gz"), &server.url("/demo/archive/v1.0.tar.gz")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/missing.tar.gz"), "{}", stderr(&o));
}

#[test]
fn hostile_or_broken_archives_exit_2_and_extract_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = repo(tmp.path());
    let snap = tmp.path().join("v1.0.tar.gz");
    let bytes = snapshot(&repo);
    fs::write(&snap, &bytes).unwrap();
    let cut = tmp.path().join("cut.tar.gz");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    // A symlink out of the tree, made by GNU tar itself.
    let evil_dir = tmp.path().join("evil");
    fs::create_dir_all(evil_dir.join("demo-1.0")).unwrap();
    std::os::unix::fs::symlink("../../../etc/passwd", evil_dir.join("demo-1.0/configure")).unwrap();
    let evil = tmp.path().join("evil.tar");
    assert!(
        Command::new("tar").arg("-cf").arg(&evil).arg("-C").arg(&evil_dir).arg("demo-1.0").status().unwrap().success()
    );
    let work = tmp.path().join("cwd");
    fs::create_dir(&work).unwrap();
    for (bad, message) in [(&cut, "truncated or corrupt"), (&evil, "escapes the archive")] {
        let o = Command::new(env!("CARGO_BIN_EXE_provenix"))
            .current_dir(&work)
            .args(["equiv", bad.to_str().unwrap(), snap.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(bad.to_str().unwrap()), "{}", stderr(&o));
        assert!(stderr(&o).contains(message), "{}", stderr(&o));
        assert!(o.stdout.is_empty());
    }
    assert_eq!(fs::read_dir(&work).unwrap().count(), 0, "something was written");
    let o = provenix(&["equiv", "/nonexistent/a.tar", snap.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/a.tar"), "{}", stderr(&o));
}

fn sha256_hex(bytes: &[u8]) -> String {
    Hash::compute(HashAlgo::Sha256, bytes).to_base16()
}

/// A source fetched by Nix's `builtin:fetchurl`.
fn fetch(name: &str, url: &str, content: &[u8]) -> String {
    format!(r#"(import <nix/fetchurl.nix> {{ name = "{name}"; url = "{url}"; sha256 = "{}"; }})"#, sha256_hex(content))
}

fn nix_findings(report: &Value) -> Vec<(String, String, String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["equiv"].is_object())
        .map(|f| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (s(&f["kind"]), s(&f["path"]), s(&f["equiv"]["finding"]["file"]), s(&f["equiv"]["finding"]["class"]))
        })
        .collect()
}

/// The xz case through plain `verify`: the package's closure holds the release tarball (with an
/// added m4 file) and a forge snapshot of the tag, both fetched by Nix from 127.0.0.1.
#[test]
fn plain_verify_reports_the_xz_case_and_unpaired_archives() {
    let Some(h) = NixHarness::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let repo = repo(tmp.path());
    let server = HttpServer::start();
    let tarball = release(&repo, tmp.path(), &[("m4/build-to-host.m4", TRIGGER)]);
    let snap = snapshot(&repo);
    server.put("/releases/demo-1.0.tar.xz", tarball.clone());
    server.put("/demo/archive/v1.0.tar.gz", snap.clone());
    let other = release(&repo, tmp.path(), &[]);
    server.put("/releases/other-2.0.tar.xz", other.clone());
    let src = fetch("demo-1.0.tar.xz", &server.url("/releases/demo-1.0.tar.xz"), &tarball);
    let vcs = fetch("v1.0.tar.gz", &server.url("/demo/archive/v1.0.tar.gz"), &snap);
    let other_src = fetch("other-2.0.tar.xz", &server.url("/releases/other-2.0.tar.xz"), &other);
    let expr = format!(
        r#"let
  demo = derivation {{
    name = "demo-1.0"; system = builtins.currentSystem; builder = "/bin/sh";
    src = {src}; vcsSrc = {vcs};
    args = [ "-c" "cat $src > $out" ];
  }};
  other = derivation {{
    name = "other-2.0"; system = builtins.currentSystem; builder = "/bin/sh";
    src = {other_src};
    args = [ "-c" "cat $src > $out" ];
  }};
in derivation {{
  name = "app"; system = builtins.currentSystem; builder = "/bin/sh";
  inherit demo other;
  args = [ "-c" "echo $demo $other > $out" ];
}}"#
    );
    h.build(&expr);
    let drv = h.instantiate(&expr).remove(0);
    let closure = h.run_text("nix-store", ["-qR", &drv]);
    let find = |suffix: &str| closure.lines().find(|l| l.ends_with(suffix)).unwrap().to_owned();
    let (src_drv, other_drv) = (find("-demo-1.0.tar.xz.drv"), find("-other-2.0.tar.xz.drv"));

    let run = |extra: &[&str]| {
        let mut args = vec!["--store", h.root().to_str().unwrap(), "--json", "verify", &drv];
        args.extend_from_slice(extra);
        provenix(&args)
    };
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = json(&o);
    let got = nix_findings(&report);
    assert!(
        got.contains(&(
            "tarball-only-file".into(),
            src_drv.clone(),
            "m4/build-to-host.m4".into(),
            "unknown-build-file".into()
        )),
        "{got:?}"
    );
    assert!(got.contains(&("vcs-unpaired".into(), other_drv.clone(), String::new(), String::new())), "{got:?}");
    let trigger = report["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "tarball-only-file").unwrap();
    assert_eq!(trigger["severity"], "warning");
    assert_eq!(trigger["equiv"]["pair"]["pairedBy"], "same-derivation");
    assert!(trigger["equiv"]["pair"]["package"].as_str().unwrap().ends_with("-demo-1.0.drv"));
    assert!(trigger["equiv"]["pair"]["vcs"].as_str().unwrap().ends_with("-v1.0.tar.gz.drv"));
    assert_eq!(trigger["equiv"]["finding"]["archive"]["size"], TRIGGER.len());
    assert_eq!(report["counts"]["tarball-only-file"], 1);
    // A warning: exit 1 with --fail-on warning.
    assert_eq!(run(&["--fail-on", "warning"]).status.code(), Some(1));

    // The unpaired one, paired by --vcs-map with the checkout: identical but for .gitignore.
    let map = tmp.path().join("vcs-map");
    fs::write(&map, format!("other {}\n", repo.display())).unwrap();
    let report = json(&run(&["--vcs-map", map.to_str().unwrap()]));
    let got = nix_findings(&report);
    assert!(got.contains(&("vcs-only-file".into(), other_drv.clone(), ".gitignore".into(), String::new())), "{got:?}");
    assert!(!got.iter().any(|f| f.0 == "vcs-unpaired"), "{got:?}");
    let bad = tmp.path().join("bad-map");
    fs::write(&bad, "just-one-field\n").unwrap();
    let o = run(&["--vcs-map", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("bad-map") && stderr(&o).contains("line 1"), "{}", stderr(&o));
}

/// The git source is not in the closure: `--vcs-fetch` fetches the repository (a `file://` URL
/// from `--vcs-map`) at the version's tag; an unreachable repository and a missing tag are
/// warnings naming the URL and the tags; nothing is left in the temp dir.
#[test]
fn vcs_fetch_finds_the_xz_case_and_warns_on_unreachable_repositories() {
    let Some(h) = NixHarness::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let repo = repo(tmp.path());
    let server = HttpServer::start();
    let tarball = release(&repo, tmp.path(), &[("m4/build-to-host.m4", TRIGGER)]);
    server.put("/releases/demo-1.0.tar.xz", tarball.clone());
    let other = release(&repo, tmp.path(), &[]);
    server.put("/releases/other-2.0.tar.xz", other.clone());
    let src = fetch("demo-1.0.tar.xz", &server.url("/releases/demo-1.0.tar.xz"), &tarball);
    let other_src = fetch("other-2.0.tar.xz", &server.url("/releases/other-2.0.tar.xz"), &other);
    let expr = format!(
        r#"derivation {{
  name = "demo-1.0"; system = builtins.currentSystem; builder = "/bin/sh";
  src = {src}; other = {other_src};
  args = [ "-c" "cat $src $other > $out" ];
}}"#
    );
    h.build(&expr);
    let drv = h.instantiate(&expr).remove(0);
    let map = tmp.path().join("vcs-map");
    let repo_url = format!("file://{}", repo.display());
    // `other` has no tag 2.0 in this repository; `dead` is unreachable.
    fs::write(&map, format!("demo {repo_url}\nother {repo_url}\n")).unwrap();
    let temp = tmp.path().join("temp");
    fs::create_dir(&temp).unwrap();
    let run = |map: &Path, fetch: bool| {
        let mut args = vec!["--store", h.root().to_str().unwrap(), "--json", "verify", &drv];
        args.extend(["--vcs-map", map.to_str().unwrap(), "--temp-dir", temp.to_str().unwrap()]);
        if fetch {
            args.push("--vcs-fetch");
        }
        provenix(&args)
    };
    // Without --vcs-fetch nothing is fetched: both are unpaired, naming the repository.
    let report = json(&run(&map, false));
    let unpaired: Vec<_> =
        report["findings"].as_array().unwrap().iter().filter(|f| f["kind"] == "vcs-unpaired").collect();
    assert_eq!(unpaired.len(), 2, "{report:#}");
    assert!(unpaired[0]["detail"].as_str().unwrap().contains("--vcs-fetch"), "{report:#}");

    let o = run(&map, true);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = json(&o);
    let got = nix_findings(&report);
    assert!(
        got.iter().any(|f| f.0 == "tarball-only-file" && f.2 == "m4/build-to-host.m4" && f.3 == "unknown-build-file"),
        "{got:?}"
    );
    let trigger = report["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "tarball-only-file").unwrap();
    assert_eq!(trigger["equiv"]["pair"]["vcs"], format!("{repo_url} at v1.0"));
    let failed: Vec<_> =
        report["findings"].as_array().unwrap().iter().filter(|f| f["kind"] == "vcs-fetch-failed").collect();
    assert_eq!(failed.len(), 1, "{report:#}");
    assert_eq!(failed[0]["severity"], "warning");
    let detail = failed[0]["detail"].as_str().unwrap();
    assert!(detail.contains(&repo_url) && detail.contains("v2.0, 2.0, other-2.0, OTHER_2_0"), "{detail}");
    assert_eq!(fs::read_dir(&temp).unwrap().count(), 0, "the fetch left files behind");

    let dead = tmp.path().join("dead-map");
    let dead_url = format!("http://{}/nothing-here.git", server.addr());
    fs::write(&dead, format!("demo {dead_url}\n")).unwrap();
    let o = run(&dead, true);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = json(&o);
    let failed: Vec<_> =
        report["findings"].as_array().unwrap().iter().filter(|f| f["kind"] == "vcs-fetch-failed").collect();
    assert_eq!(failed.len(), 1, "{report:#}");
    assert_eq!(failed[0]["url"], dead_url);
    let detail = failed[0]["detail"].as_str().unwrap();
    assert!(detail.contains(&dead_url) && detail.contains("v1.0, 1.0, demo-1.0, DEMO_1_0"), "{detail}");
    assert_eq!(fs::read_dir(&temp).unwrap().count(), 0, "the fetch left files behind");
}

/// A bare copy of the test repository under `served/demo.git`, for the smart HTTP server.
fn served_repo(repo: &Path, tmp: &Path) -> PathBuf {
    let served = tmp.join("served");
    fs::create_dir_all(&served).unwrap();
    git(tmp, &["clone", "-q", "--bare", repo.to_str().unwrap(), served.join("demo.git").to_str().unwrap()]);
    served
}

/// `--vcs-fetch` takes the repository from the identity table (here an `--identities` entry
/// pointing at a git repository served over smart HTTP by `git http-backend` on 127.0.0.1) when
/// the source URL names none; a missing tag there is a warning naming the URL and the tags; and
/// the built-in table's repository (zlib's) is named without fetching when `--vcs-fetch` is off.
#[test]
fn vcs_fetch_takes_the_identity_table_repository_over_smart_http() {
    let Some(h) = NixHarness::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let repo = repo(tmp.path());
    let git_server = provenix_testkit::GitHttpServer::start(&served_repo(&repo, tmp.path()));
    let repo_url = git_server.url("/demo.git");
    let server = HttpServer::start();
    let tarball = release(&repo, tmp.path(), &[("m4/build-to-host.m4", TRIGGER)]);
    server.put("/dl/demo-1.0.tar.xz", tarball.clone());
    let other = release(&repo, tmp.path(), &[]);
    server.put("/dl/other-2.0.tar.xz", other.clone());
    let src = fetch("demo-1.0.tar.xz", &server.url("/dl/demo-1.0.tar.xz"), &tarball);
    let other_src = fetch("other-2.0.tar.xz", &server.url("/dl/other-2.0.tar.xz"), &other);
    let expr = format!(
        r#"let
  other = derivation {{
    name = "other-2.0"; system = builtins.currentSystem; builder = "/bin/sh";
    src = {other_src};
    args = [ "-c" "cat $src > $out" ];
  }};
in derivation {{
  name = "demo-1.0"; pname = "demo"; system = builtins.currentSystem; builder = "/bin/sh";
  src = {src}; inherit other;
  args = [ "-c" "cat $src > $out" ];
}}"#
    );
    h.build(&expr);
    let drv = h.instantiate(&expr).remove(0);
    let identities = tmp.path().join("identities.toml");
    fs::write(&identities, format!("[demo]\nrepo = \"{repo_url}\"\n\n[other]\nrepo = \"{repo_url}\"\n")).unwrap();
    let temp = tmp.path().join("temp");
    fs::create_dir(&temp).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["--store", h.root().to_str().unwrap(), "--json", "verify", &drv, "--vcs-fetch"];
        args.extend(["--temp-dir", temp.to_str().unwrap()]);
        args.extend_from_slice(extra);
        provenix(&args)
    };
    // The built-in table knows neither, and the URLs name no forge: nothing to fetch.
    let report = json(&run(&[]));
    let kinds: Vec<&str> = report["findings"].as_array().unwrap().iter().filter_map(|f| f["kind"].as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "vcs-unpaired").count(), 2, "{report:#}");
    assert!(git_server.requests().is_empty());

    let o = run(&["--identities", identities.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = json(&o);
    let got = nix_findings(&report);
    assert!(
        got.iter().any(|f| f.0 == "tarball-only-file" && f.2 == "m4/build-to-host.m4" && f.3 == "unknown-build-file"),
        "{got:?}"
    );
    let trigger = report["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "tarball-only-file").unwrap();
    assert_eq!(trigger["equiv"]["pair"]["vcs"], format!("{repo_url} at v1.0"));
    assert_eq!(trigger["equiv"]["pair"]["pairedBy"], "vcs-fetch");
    assert_eq!(trigger["equiv"]["pair"]["repoFrom"], "identity-table");
    let requests = git_server.requests();
    assert!(requests.contains(&"POST /demo.git/git-upload-pack".to_owned()), "not smart HTTP: {requests:?}");
    // other-2.0: the repository has no tag for 2.0.
    let failed: Vec<_> =
        report["findings"].as_array().unwrap().iter().filter(|f| f["kind"] == "vcs-fetch-failed").collect();
    assert_eq!(failed.len(), 1, "{report:#}");
    assert_eq!(failed[0]["url"], repo_url);
    let detail = failed[0]["detail"].as_str().unwrap();
    assert!(detail.contains(&repo_url) && detail.contains("v2.0, 2.0, other-2.0, OTHER_2_0"), "{detail}");
    assert_eq!(fs::read_dir(&temp).unwrap().count(), 0, "the fetch left files behind");

    // zlib's repository comes from the built-in table; without --vcs-fetch it is only named.
    let zlib = release(&repo, tmp.path(), &[]);
    server.put("/dl/zlib-1.3.1.tar.xz", zlib.clone());
    let zlib_src = fetch("zlib-1.3.1.tar.xz", &server.url("/dl/zlib-1.3.1.tar.xz"), &zlib);
    let expr = format!(
        r#"derivation {{
  name = "zlib-1.3.1"; system = builtins.currentSystem; builder = "/bin/sh";
  src = {zlib_src};
  args = [ "-c" "cat $src > $out" ];
}}"#
    );
    h.build(&expr);
    let zlib_drv = h.instantiate(&expr).remove(0);
    let o = provenix(&["--store", h.root().to_str().unwrap(), "--json", "verify", &zlib_drv]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = json(&o);
    let unpaired = report["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "vcs-unpaired").unwrap();
    assert_eq!(unpaired["url"], "https://github.com/madler/zlib");
    assert_eq!(unpaired["equiv"]["pair"]["repoFrom"], "identity-table");
    assert!(unpaired["detail"].as_str().unwrap().contains("--vcs-fetch"), "{unpaired:#}");
}

/// A paired archive that cannot be read (a truncated VCS snapshot, a release archive that is no
/// archive) is an error-level finding naming it and why; the other pairs and checks still report.
#[test]
fn an_unreadable_paired_archive_is_a_finding_and_verify_goes_on() {
    let Some(h) = NixHarness::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let repo = repo(tmp.path());
    let server = HttpServer::start();
    let tarball = release(&repo, tmp.path(), &[]);
    let snap = snapshot(&repo);
    let cut = snap[..snap.len() / 2].to_vec();
    let junk = b"this is not an archive at all, but the name says .tar.xz\n".repeat(20);
    let third = release(&repo, tmp.path(), &[]);
    for (path, body) in [
        ("/releases/demo-1.0.tar.xz", &tarball),
        ("/demo/archive/v1.0.tar.gz", &cut),
        ("/releases/other-2.0.tar.xz", &junk),
        ("/other/archive/v2.0.tar.gz", &snap),
        ("/releases/third-3.0.tar.xz", &third),
    ] {
        server.put(path, body.clone());
    }
    let f = |name: &str, path: &str, body: &[u8]| fetch(name, &server.url(path), body);
    let (demo_src, demo_vcs) = (
        f("demo-1.0.tar.xz", "/releases/demo-1.0.tar.xz", &tarball),
        f("v1.0.tar.gz", "/demo/archive/v1.0.tar.gz", &cut),
    );
    let (other_src, other_vcs) = (
        f("other-2.0.tar.xz", "/releases/other-2.0.tar.xz", &junk),
        f("v2.0.tar.gz", "/other/archive/v2.0.tar.gz", &snap),
    );
    let third_src = f("third-3.0.tar.xz", "/releases/third-3.0.tar.xz", &third);
    let expr = format!(
        r#"let
  pkg = name: src: vcsSrc: derivation {{
    inherit name src vcsSrc; system = builtins.currentSystem; builder = "/bin/sh";
    args = [ "-c" "cat $src > $out" ];
  }};
in derivation {{
  name = "app"; system = builtins.currentSystem; builder = "/bin/sh";
  demo = pkg "demo-1.0" {demo_src} {demo_vcs};
  other = pkg "other-2.0" {other_src} {other_vcs};
  third = pkg "third-3.0" {third_src} "";
  args = [ "-c" "echo $demo $other $third > $out" ];
}}"#
    );
    h.build(&expr);
    let drv = h.instantiate(&expr).remove(0);
    let o = provenix(&["--store", h.root().to_str().unwrap(), "--json", "verify", &drv]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report = json(&o);
    let all = report["findings"].as_array().unwrap();
    let unreadable: Vec<&Value> = all.iter().filter(|f| f["kind"] == "equiv-unreadable").collect();
    assert_eq!(unreadable.len(), 2, "{report:#}");
    for f in &unreadable {
        assert_eq!(f["severity"], "error");
        let out = f["equiv"]["pair"]["archiveOut"].as_str().unwrap();
        let detail = f["detail"].as_str().unwrap();
        assert!(detail.contains(out), "{detail}");
        assert!(detail.contains("truncated or corrupt"), "{detail}");
    }
    let demo = unreadable.iter().find(|f| f["path"].as_str().unwrap().ends_with("-demo-1.0.tar.xz.drv")).unwrap();
    assert!(demo["detail"].as_str().unwrap().contains("reading the VCS tree"), "{demo:#}");
    let other = unreadable.iter().find(|f| f["path"].as_str().unwrap().ends_with("-other-2.0.tar.xz.drv")).unwrap();
    assert!(other["detail"].as_str().unwrap().contains("reading the archive"), "{other:#}");
    // The rest of the report is there.
    assert!(
        all.iter()
            .any(|f| f["kind"] == "vcs-unpaired" && f["path"].as_str().unwrap().ends_with("-third-3.0.tar.xz.drv")),
        "{report:#}"
    );
    assert_eq!(report["counts"]["equiv-unreadable"], 2, "{report:#}");
    // The human report says the same.
    let o = provenix(&["--store", h.root().to_str().unwrap(), "verify", &drv]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("equiv-unreadable") && text.contains("vcs-unpaired"), "{text}");
}

/// `sources --bootstrap`: a closure built from a known seed (busybox in a NAR unpacked by
/// `builtin:fetchurl` and run as the builder, as stdenv's own seed is) plus a bootstrap-tools
/// tarball; an ordinary source is not part of the seed; sizes are Nix's NAR sizes.
#[test]
fn sources_bootstrap_lists_the_binary_seed_with_sizes() {
    let Some(h) = NixHarness::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    fs::create_dir_all(seed_dir.join("bin")).unwrap();
    fs::copy("/bin/busybox", seed_dir.join("bin/busybox")).unwrap();
    let mut nar = Vec::new();
    provenix_store::nar::dump_path(&seed_dir, &mut nar).unwrap();
    let server = HttpServer::start();
    server.put("/seeds/busybox.nar", nar.clone());
    let tools = b"not really bootstrap tools\n".to_vec();
    server.put("/stdenv/bootstrap-tools.tar.xz", tools.clone());
    let src = b"an ordinary source\n".to_vec();
    server.put("/dist/hello-1.0.tar.gz", src.clone());
    let expr = format!(
        r#"let
  seed = import <nix/fetchurl.nix> {{ name = "busybox-seed"; url = "{}"; sha256 = "{}"; unpack = true; }};
  tools = {};
  src = {};
in derivation {{
  name = "stage1"; system = builtins.currentSystem; builder = "${{seed}}/bin/busybox";
  inherit tools src;
  args = [ "sh" "-c" "echo $tools $src > $out" ];
}}"#,
        server.url("/seeds/busybox.nar"),
        sha256_hex(&nar),
        fetch("bootstrap-tools.tar.xz", &server.url("/stdenv/bootstrap-tools.tar.xz"), &tools),
        fetch("hello-1.0.tar.gz", &server.url("/dist/hello-1.0.tar.gz"), &src),
    );
    h.build(&expr);
    let drv = h.instantiate(&expr).remove(0);
    let closure = h.run_text("nix-store", ["-qR", &drv]);
    let find = |suffix: &str| closure.lines().find(|l| l.ends_with(suffix)).unwrap().to_owned();
    let (seed_drv, tools_drv) = (find("-busybox-seed.drv"), find("-bootstrap-tools.tar.xz.drv"));
    let size = |drv: &str| -> u64 {
        let out = h.run_text("nix-store", ["-q", "--outputs", drv]);
        h.run_text("nix-store", ["-q", "--size", out.trim()]).trim().parse().unwrap()
    };

    let o = provenix(&["--store", h.root().to_str().unwrap(), "--json", "sources", "--bootstrap", &drv]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = json(&o);
    let seeds = report["seeds"].as_array().unwrap();
    let mut got: Vec<&str> = seeds.iter().map(|s| s["drvPath"].as_str().unwrap()).collect();
    got.sort_unstable();
    let mut want = vec![seed_drv.as_str(), tools_drv.as_str()];
    want.sort_unstable();
    assert_eq!(got, want);
    let seed = seeds.iter().find(|s| s["drvPath"] == seed_drv.as_str()).unwrap();
    assert_eq!(seed["reason"]["builderOf"], serde_json::json!([drv]));
    assert_eq!(seed["reason"]["bootstrapKind"], true);
    assert_eq!(seed["why"], serde_json::json!([drv, seed_drv]));
    assert_eq!(seed["narSize"], size(&seed_drv));
    assert_eq!(report["totalBytes"], size(&seed_drv) + size(&tools_drv));

    let o = provenix(&["--store", h.root().to_str().unwrap(), "sources", "--bootstrap", &drv]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains(&format!("runs as the builder of {drv}")), "{text}");
    assert!(text.contains("binary seed: 2 sources, "), "{text}");

    // The SBOM marks the seed's components, and only them.
    let o = provenix(&["--store", h.root().to_str().unwrap(), "sbom", &drv, "--format", "cyclonedx"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let bom = json(&o);
    let mut marked: Vec<String> = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["properties"].as_array().unwrap().iter().any(|p| p["name"] == "nix:bootstrap_seed"))
        .map(|c| {
            let props = c["properties"].as_array().unwrap();
            props.iter().find(|p| p["name"] == "nix:drv_path").unwrap()["value"].as_str().unwrap().to_owned()
        })
        .collect();
    marked.sort_unstable();
    assert_eq!(marked, want);
}
