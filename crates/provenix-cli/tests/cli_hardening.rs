//! Regressions from the bad-input sweep of issue 16 (and issue 20's `-` for
//! stdout and key mix-ups), end to end on the built binary: special files
//! as outputs and inputs, terminal escapes in untrusted text, attacker-sized
//! values in errors, `.drv` symlinks, download limits against a real HTTP
//! server on 127.0.0.1, and real SIGINT/SIGTERM sent mid-write.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use provenix_formats::hash::{Hash, HashAlgo};
use provenix_testkit::{HttpServer, NixHarness};
use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_provenix"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run provenix")
}

fn in_store(root: &Path, args: &[&str]) -> Output {
    bin().arg("--store").arg(root).args(args).output().expect("run provenix")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// Waits for `child` at most `limit`; kills it and fails if it is still running.
fn wait_bounded(mut child: Child, limit: Duration, what: &str) -> Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?} (it hangs)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Polls until `ready` holds, at most 60 s.
fn wait_for(what: &str, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < Duration::from_secs(60), "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn send(child: &Child, signal: &str) {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
}

fn killed_by(o: &Output, signal: i32) {
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(o.status.signal(), Some(signal), "{:?}: {}", o.status, stderr(o));
}

/// An unbuilt package, a source fetched by Nix's `builtin:fetchurl`.
fn package_expr() -> &'static str {
    r#"derivation { name = "hello-1.0"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "echo hi > $out" ]; }"#
}

fn fetchurl(name: &str, url: &str, content: &[u8]) -> String {
    let sha256 = Hash::compute(HashAlgo::Sha256, content).to_base16();
    format!(r#"(import <nix/fetchurl.nix> {{ name = "{name}"; url = "{url}"; sha256 = "{sha256}"; }})"#)
}

#[test]
fn regress_issue_16_outputs_never_replace_fifos_symlinks_or_devices() {
    let dir = tempfile::tempdir().unwrap();
    let public = dir.path().join("k.pub");
    let public = public.to_str().unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let real = dir.path().join("real.sec");
    std::fs::write(&real, b"keep me").unwrap();
    // As /dev/stdout is: a symlink to the process's descriptor.
    let stdout_link = dir.path().join("stdout");
    std::os::unix::fs::symlink("/proc/self/fd/1", &stdout_link).unwrap();
    let to_real = dir.path().join("to-real");
    std::os::unix::fs::symlink(&real, &to_real).unwrap();
    let device = dir.path().join("null");
    let have_device = Command::new("mknod").arg(&device).args(["c", "1", "3"]).status().is_ok_and(|s| s.success());
    let mut cases = vec![(fifo.clone(), "FIFO"), (stdout_link.clone(), "symlink"), (to_real.clone(), "symlink")];
    if have_device {
        cases.push((device.clone(), "character device"));
    }
    for (target, kind) in &cases {
        let o = run(&[
            "key",
            "generate",
            "k-1",
            "--secret-out",
            target.to_str().unwrap(),
            "--public-out",
            public,
            "--force",
        ]);
        assert_eq!(o.status.code(), Some(2), "{}: {}", target.display(), stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(&format!("{} is a {kind}, not a regular file", target.display())), "{err}");
        assert!(err.contains("--secret-out: name a regular file"), "{err}");
    }
    let kinds = |p: &Path| std::fs::symlink_metadata(p).unwrap().file_type();
    use std::os::unix::fs::FileTypeExt as _;
    assert!(kinds(&fifo).is_fifo());
    assert!(kinds(&stdout_link).is_symlink() && kinds(&to_real).is_symlink());
    if have_device {
        assert!(kinds(&device).is_char_device());
    }
    assert_eq!(std::fs::read(&real).unwrap(), b"keep me");
    assert!(!Path::new(public).exists(), "nothing written when one target is refused");
}

#[test]
fn regress_issue_20_key_mix_ups_and_overwrites_say_what_to_pass() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = (dir.path().join("k.sec"), dir.path().join("k.pub"));
    let (s, p) = (secret.to_str().unwrap(), public.to_str().unwrap());
    assert!(run(&["key", "generate", "k-1", "--secret-out", s, "--public-out", p]).status.success());
    let o = run(&["key", "public", p]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("this is a public key; pass the secret key (the `.sec` file)"), "{}", stderr(&o));
    let envelope = dir.path().join("e.json");
    std::fs::write(&envelope, "{}").unwrap();
    let o = run(&["attest", "verify", envelope.to_str().unwrap(), "--trust-key", s]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("this is a secret key; pass its public key (the `.pub` file"), "{}", stderr(&o));
    let o = run(&["key", "generate", "k-1", "--secret-out", s, "--public-out", p]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("pass --force to replace it"), "{}", stderr(&o));
}

#[test]
fn regress_issue_16_a_fifo_given_as_a_database_or_bundle_is_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("db.sqlite");
    mkfifo(&fifo);
    let drv = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x.drv";
    let child = bin()
        .arg("--db")
        .arg(&fifo)
        .args(["verify", drv])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let o = wait_bounded(child, Duration::from_secs(30), "verify --db FIFO");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("--db {}", fifo.display())) && stderr(&o).contains("FIFO"), "{}", stderr(&o));
    let child = bin().arg("rebuild").arg(&fifo).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let o = wait_bounded(child, Duration::from_secs(30), "rebuild FIFO");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("FIFO"), "{}", stderr(&o));
}

#[test]
fn regress_issue_16_errors_shorten_attacker_sized_values() {
    let huge = format!("/nix/store/{}.drv", "a".repeat(100_000));
    let o = run(&["drv", "show", &huge]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.len() < 4096, "{} bytes of error", err.len());
    assert!(err.contains("bytes left out"), "{err}");
}

#[test]
fn regress_issue_16_a_newline_in_a_file_name_cannot_forge_diff_headers() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for (side, text) in [(&a, "one\n"), (&b, "two\n")] {
        std::fs::create_dir(side).unwrap();
        std::fs::write(side.join("x\n+++ forged\u{1b}[2J"), text).unwrap();
    }
    // Without diffoscope, whose own report quotes names as they are.
    let o = run(&["diff-output", "--no-diffoscope", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(!out.contains('\u{1b}'), "{out}");
    assert!(out.contains("--- a/x\\n+++ forged\\u{1b}[2J\n"), "{out}");
    assert!(!out.lines().any(|l| l.starts_with("+++ forged")), "{out}");
}

#[test]
fn regress_issue_16_untrusted_text_from_drv_files_and_feeds_is_escaped() {
    let Some(h) = NixHarness::new() else { return };
    // Nix strings cannot spell ESC, but fromJSON can.
    let url = r#"builtins.fromJSON "\"http://example.invalid/src\\u001b]0;pwned\\u0007.tar\"""#;
    let expr = format!(
        r#"derivation {{ name = "openssl-1.1.1s"; pname = "openssl"; version = "1.1.1s"; system = builtins.currentSystem;
  builder = "/bin/sh"; args = [ "-c" "exit 1" ];
  src = derivation {{ name = "src.tar"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "exit 1" ];
    urls = [ ({url}) ]; outputHashMode = "flat"; outputHashAlgo = "sha256";
    outputHash = "0000000000000000000000000000000000000000000000000000000000000000"; }}; }}"#
    );
    let drv = h.instantiate(&expr).remove(0);
    for args in [vec!["sources", &drv], vec!["sources", "--csv", &drv], vec!["verify", &drv]] {
        let o = in_store(h.root(), &args);
        let out = stdout(&o);
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{args:?}: {out}");
        assert!(out.contains("src\\u{1b}]0;pwned\\u{7}.tar"), "{args:?}: {out}\n{}", stderr(&o));
    }
    // A feed's id with a terminal escape, on a component it matches.
    let feed = h.scratch().join("feed");
    std::fs::create_dir_all(&feed).unwrap();
    let cve = serde_json::json!({ "vulnerabilities": [{ "cve": {
        "id": "CVE-2024-0001\u{1b}]0;pwned\u{7}", "published": "2024-01-01T00:00:00.000", "lastModified": "2024-01-01T00:00:00.000",
        "vulnStatus": "Analyzed", "descriptions": [{ "lang": "en", "value": "x" }],
        "configurations": [{ "nodes": [{ "operator": "OR", "negate": false, "cpeMatch": [{ "vulnerable": true,
            "criteria": "cpe:2.3:a:openssl:openssl:1.1.1s:*:*:*:*:*:*:*", "matchCriteriaId": "A" }] }] }] } }] });
    std::fs::write(feed.join("nvd.json"), serde_json::to_vec(&cve).unwrap()).unwrap();
    let o = in_store(h.root(), &["vulns", &drv, "--vuln-db", feed.to_str().unwrap()]);
    let out = stdout(&o);
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out}");
    // (Ids are shown upper-cased.)
    assert!(out.contains("CVE-2024-0001\\u{1b}]0;PWNED\\u{7}"), "{out}\n{}", stderr(&o));
}

#[test]
fn regress_issue_16_a_drv_symlink_out_of_the_store_root_is_refused() {
    let Some(h) = NixHarness::new() else { return };
    let drv = h.instantiate(package_expr()).remove(0);
    let file = h.physical(&drv);
    let outside = h.scratch().join("elsewhere.drv");
    std::fs::copy(&file, &outside).unwrap();
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(&outside, &file).unwrap();
    let o = in_store(h.root(), &["verify", &drv]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(err.contains("a symlink, not a .drv file (refusing to follow it)"), "{err}");
    assert!(err.contains(&file.display().to_string()), "{err}");
}

#[test]
fn regress_issue_20_dash_is_stdout_for_sbom_bundle_and_sarif() {
    let Some(h) = NixHarness::new() else { return };
    let drv = h.instantiate(package_expr()).remove(0);
    let cwd = h.scratch();
    let at = |args: &[&str]| bin().current_dir(&cwd).arg("--store").arg(h.root()).args(args).output().unwrap();
    let o = at(&["sbom", "--format", "cyclonedx", &drv, "-o", "-"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["bomFormat"], "CycloneDX");

    let o = at(&["bundle", &drv, "-o", "-"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout.get(257..262), Some(&b"ustar"[..]), "a tar archive on stdout");
    assert!(stderr(&o).contains("wrote -"), "the report goes to stderr: {}", stderr(&o));
    let bundle = h.scratch().join("b.bundle");
    std::fs::write(&bundle, &o.stdout).unwrap();
    let listing = Command::new("tar").arg("-tf").arg(&bundle).output().unwrap();
    assert!(String::from_utf8_lossy(&listing.stdout).contains("manifest.json"));

    let feed = h.scratch().join("feed");
    std::fs::create_dir_all(&feed).unwrap();
    let osv = serde_json::json!({ "id": "OSV-TEST-1", "modified": "2024-01-01T00:00:00Z",
        "affected": [{ "package": { "ecosystem": "PyPI", "name": "nothing-here" }, "versions": ["1.0"] }] });
    std::fs::write(feed.join("osv.json"), serde_json::to_vec(&osv).unwrap()).unwrap();
    let o = at(&["vulns", &drv, "--vuln-db", feed.to_str().unwrap(), "--sarif", "-"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let sarif: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert!(stderr(&o).contains("vulnerabilities"), "the report goes to stderr: {}", stderr(&o));

    let o = at(&["--json", "sbom", "--format", "spdx", &drv, "-o", "-"]);
    assert!(o.status.success(), "sbom's --json without a file is the document: {}", stderr(&o));
    let o = at(&["--json", "bundle", &drv, "-o", "-"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("`--output -` writes to stdout, where --json prints the report"), "{}", stderr(&o));
    assert_eq!(entries(&cwd).iter().filter(|n| *n == "-").count(), 0, "no file named `-`: {:?}", entries(&cwd));

    // `-o /dev/stdout`, here a symlink like it: refused, with `-` offered.
    let link = h.scratch().join("stdout");
    std::os::unix::fs::symlink("/proc/self/fd/1", &link).unwrap();
    let o = at(&["sbom", "--format", "cyclonedx", &drv, "-o", link.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--output: name a regular file, or `-` for stdout"), "{}", stderr(&o));
    assert!(stderr(&o).contains("is a symlink, not a regular file"), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());

    // A bundle target that is a FIFO is refused before any work.
    let fifo = h.scratch().join("fifo");
    mkfifo(&fifo);
    let o = at(&["bundle", &drv, "-o", fifo.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is a FIFO, not a regular file"), "{}", stderr(&o));
}

/// A built source served by `server` at `/src.tar.gz`, and the root `.drv` that needs it.
fn built_source(h: &NixHarness, server: &HttpServer, content: &[u8]) -> String {
    server.put("/src.tar.gz", content.to_vec());
    let src = fetchurl("src.tar.gz", &server.url("/src.tar.gz"), content);
    let expr = format!(
        r#"derivation {{ name = "app-1.0"; system = builtins.currentSystem; builder = "/bin/sh"; src = {src}; args = [ "-c" "cat $src > $out" ]; }}"#
    );
    h.build(&expr);
    h.instantiate(&expr).remove(0)
}

fn refetch_failure(o: &Output) -> String {
    let report: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(o)));
    let failed = report["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "refetch-failed");
    failed.unwrap_or_else(|| panic!("no refetch-failed: {report:#}"))["detail"].as_str().unwrap().to_owned()
}

#[test]
fn regress_issue_16_refetch_stops_endless_and_dripping_downloads() {
    let Some(h) = NixHarness::new() else { return };
    let server = HttpServer::start();
    let content = vec![b'x'; 543];
    let drv = built_source(&h, &server, &content);
    let url = server.url("/src.tar.gz");
    let temp = h.scratch().join("downloads");
    std::fs::create_dir_all(&temp).unwrap();
    let temp_arg = temp.to_str().unwrap();

    server.endless("/src.tar.gz");
    let o = in_store(h.root(), &["--json", "verify", "--refetch", "--temp-dir", temp_arg, &drv]);
    let detail = refetch_failure(&o);
    // Capped at the source's NAR size (its 543 bytes plus framing).
    let nar_size = provenix_formats::nar::regular_file_nar_size(543, false);
    let expected = format!("{url}: larger than the limit of {nar_size} bytes (the size of the source in the store)");
    assert!(detail.contains(&expected), "{detail}");

    server.put("/src.tar.gz", content.clone());
    server.drip("/src.tar.gz", Duration::from_millis(100));
    let o = in_store(
        h.root(),
        &["--json", "verify", "--refetch", "--temp-dir", temp_arg, "--download-deadline", "1", &drv],
    );
    let detail = refetch_failure(&o);
    assert!(detail.contains(&format!("{url}: not finished after 1 s")), "{detail}");
    assert!(entries(&temp).is_empty(), "{:?}", entries(&temp));

    // SIGINT mid-download: the partial download is removed.
    let child = bin()
        .arg("--store")
        .arg(h.root())
        .args(["verify", "--refetch", "--temp-dir", temp_arg, &drv])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the download to start", || !entries(&temp).is_empty());
    send(&child, "INT");
    let o = wait_bounded(child, Duration::from_secs(30), "verify after SIGINT");
    killed_by(&o, 2);
    assert!(entries(&temp).is_empty(), "{:?}", entries(&temp));
}

#[test]
fn regress_issue_16_sigterm_mid_unpack_removes_the_partial_tree() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("a"), b"first").unwrap();
    std::fs::write(tree.join("sub/b"), vec![7u8; 1 << 20]).unwrap();
    let nar = run(&["nar", "dump", tree.to_str().unwrap()]).stdout;
    let target = dir.path().join("out");
    let mut child =
        bin().args(["nar", "unpack", "-"]).arg(&target).stdin(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Everything up to the middle of the big file; the pipe stays open.
    stdin.write_all(&nar[..nar.len() / 2]).unwrap();
    stdin.flush().unwrap();
    wait_for("the unpack to create files", || target.join("a").exists());
    send(&child, "TERM");
    let o = wait_bounded(child, Duration::from_secs(30), "unpack after SIGTERM");
    drop(stdin);
    killed_by(&o, 15);
    assert!(!target.exists(), "left behind: {:?}", entries(&target));
}

#[test]
fn regress_issue_16_sigterm_while_indexing_leaves_no_temp_index() {
    let Some(h) = NixHarness::new() else { return };
    let drv = h.instantiate(package_expr()).remove(0);
    let feed = h.scratch().join("feed");
    std::fs::create_dir_all(&feed).unwrap();
    // Enough records that indexing them takes a while.
    let mut page = String::from(r#"{"vulnerabilities":["#);
    for i in 0..40_000 {
        if i > 0 {
            page.push(',');
        }
        page.push_str(&format!(
            r#"{{"cve":{{"id":"CVE-2099-{i:06}","published":"2024-01-01T00:00:00.000","lastModified":"2024-01-01T00:00:00.000","vulnStatus":"Analyzed","descriptions":[{{"lang":"en","value":"generated {i}"}}],"configurations":[{{"nodes":[{{"operator":"OR","negate":false,"cpeMatch":[{{"vulnerable":true,"criteria":"cpe:2.3:a:gen:pkg-{i}:*:*:*:*:*:*:*:*","versionEndExcluding":"2.0","matchCriteriaId":"A"}}]}}]}}]}}}}"#
        ));
    }
    page.push_str("]}");
    std::fs::write(feed.join("nvd.json"), page).unwrap();
    let cache = h.scratch().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let index = cache.join("index.sqlite");
    let child = bin()
        .arg("--store")
        .arg(h.root())
        .args(["vulns", &drv, "--vuln-db", feed.to_str().unwrap(), "--index", index.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the index to be started", || !entries(&cache).is_empty());
    send(&child, "TERM");
    let o = wait_bounded(child, Duration::from_secs(60), "vulns after SIGTERM");
    killed_by(&o, 15);
    assert!(entries(&cache).is_empty(), "{:?}", entries(&cache));
}

#[test]
fn regress_issue_16_sigterm_while_a_bundle_goes_to_stdout_leaves_no_temp_files() {
    let Some(h) = NixHarness::new() else { return };
    // An input source bigger than a pipe's buffer, so the copy to stdout blocks.
    let big = h.scratch().join("big-input");
    std::fs::write(&big, vec![b'y'; 1 << 20]).unwrap();
    let expr = format!(
        r#"derivation {{ name = "app-1.0"; system = builtins.currentSystem; builder = "/bin/sh"; src = {}; args = [ "-c" "cat $src > $out" ]; }}"#,
        big.display()
    );
    let drv = h.instantiate(&expr).remove(0);
    let tmp = h.scratch().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut child = bin()
        .env("TMPDIR", &tmp)
        .arg("--store")
        .arg(h.root())
        .args(["bundle", &drv, "-o", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Nobody reads stdout: the command stops mid-copy with its temp files there.
    let stdout_pipe = child.stdout.take().unwrap();
    wait_for("the bundle to be written", || entries(&tmp).iter().any(|d| tmp.join(d).join("bundle").exists()));
    send(&child, "TERM");
    let o = wait_bounded(child, Duration::from_secs(30), "bundle after SIGTERM");
    drop(stdout_pipe);
    killed_by(&o, 15);
    assert!(entries(&tmp).is_empty(), "{:?}", entries(&tmp));
}
