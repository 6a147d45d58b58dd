//! The `provenix` binary's `nar` and `key` commands: exit codes, stdout,
//! stderr naming the culprit, and agreement with the Nix CLI.

#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::path::Path;
use std::process::{Command, Output};

use provenix_testkit::NixHarness;

fn provenix(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_provenix")).args(args).output().expect("run provenix")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn sample_tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::write(dir.join("bin/tool"), b"#!/bin/sh\necho tool\n").unwrap();
    std::fs::write(dir.join("README"), b"readme\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("bin/tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("bin/tool", dir.join("link")).unwrap();
    }
}

#[test]
fn nar_dump_check_unpack_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    sample_tree(&tree);
    let dump = provenix(&["nar", "dump", tree.to_str().unwrap()]);
    assert!(dump.status.success(), "{}", stderr(&dump));
    let nar = tmp.path().join("tree.nar");
    std::fs::write(&nar, &dump.stdout).unwrap();

    let check = provenix(&["nar", "check", nar.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    assert!(stdout(&check).contains("valid NAR"), "{}", stdout(&check));

    let out = tmp.path().join("out");
    let unpack = provenix(&["nar", "unpack", nar.to_str().unwrap(), out.to_str().unwrap()]);
    assert_eq!(unpack.status.code(), Some(0), "{}", stderr(&unpack));
    let again = provenix(&["nar", "dump", out.to_str().unwrap()]);
    assert_eq!(again.stdout, dump.stdout);

    // Unpacking over a non-empty directory is refused and names it.
    let twice = provenix(&["nar", "unpack", nar.to_str().unwrap(), out.to_str().unwrap()]);
    assert_eq!(twice.status.code(), Some(2));
    assert!(stderr(&twice).contains(out.to_str().unwrap()), "{}", stderr(&twice));
}

#[test]
fn nar_check_reports_offset_of_corruption_with_exit_1() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    sample_tree(&tree);
    let mut nar = provenix(&["nar", "dump", tree.to_str().unwrap()]).stdout;
    // Byte 8 is inside the magic string `nix-archive-1`.
    nar[8] = b'X';
    let file = tmp.path().join("bad.nar");
    std::fs::write(&file, &nar).unwrap();
    let check = provenix(&["--json", "nar", "check", file.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
    let report: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert!(report["offset"].as_u64().is_some(), "{report}");
    assert!(report["error"].as_str().unwrap().contains("offset"), "{report}");

    // Truncated NARs are malformed too (exit 1), not I/O errors.
    std::fs::write(&file, &nar[..40]).unwrap();
    let check = provenix(&["nar", "check", file.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
}

#[test]
fn nar_unpack_of_a_truncated_nar_names_file_and_dir_once() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    sample_tree(&tree);
    let nar = provenix(&["nar", "dump", tree.to_str().unwrap()]).stdout;
    let file = tmp.path().join("cut.nar");
    std::fs::write(&file, &nar[..100]).unwrap();
    let out = tmp.path().join("out");
    let unpack = provenix(&["nar", "unpack", file.to_str().unwrap(), out.to_str().unwrap()]);
    assert_eq!(unpack.status.code(), Some(2), "{}", stderr(&unpack));
    let err = stderr(&unpack);
    assert_eq!(err.matches(file.to_str().unwrap()).count(), 1, "{err}");
    assert_eq!(err.matches(out.to_str().unwrap()).count(), 1, "{err}");
    assert_eq!(err.matches("unpacking").count(), 1, "{err}");
    assert!(err.contains("offset 100"), "{err}");
    assert!(std::fs::symlink_metadata(&out).is_err(), "half-unpacked output left behind");
}

#[test]
fn missing_inputs_exit_2_naming_the_path() {
    let check = provenix(&["nar", "check", "/nonexistent/x.nar"]);
    assert_eq!(check.status.code(), Some(2));
    assert!(stderr(&check).contains("/nonexistent/x.nar"), "{}", stderr(&check));
    let dump = provenix(&["nar", "dump", "/nonexistent/tree"]);
    assert_eq!(dump.status.code(), Some(2));
    assert!(stderr(&dump).contains("/nonexistent/tree"), "{}", stderr(&dump));
    let store = provenix(&["--store", "/nonexistent/root", "nar", "hash", "/tmp"]);
    assert_eq!(store.status.code(), Some(2));
    assert!(stderr(&store).contains("/nonexistent/root"), "{}", stderr(&store));
    let usage = provenix(&["nar", "frobnicate"]);
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn nar_hash_matches_nix_hash_in_every_encoding() {
    let Some(h) = NixHarness::new() else { return };
    let tree = h.scratch().join("tree");
    sample_tree(&tree);
    let t = tree.to_str().unwrap();
    for (algo, ours, theirs) in [
        ("sha256", "--base32", vec!["--type", "sha256", "--base32"]),
        ("sha256", "--base16", vec!["--type", "sha256"]),
        ("sha512", "--base32", vec!["--type", "sha512", "--base32"]),
        ("sha1", "--base16", vec!["--type", "sha1"]),
        ("md5", "--base32", vec!["--type", "md5", "--base32"]),
    ] {
        let o = provenix(&["nar", "hash", "--algo", algo, ours, t]);
        assert!(o.status.success(), "{}", stderr(&o));
        let mut args = theirs.clone();
        args.push(t);
        let nix = Command::new("nix-hash").args(&args).output().unwrap();
        assert_eq!(stdout(&o).trim(), stdout(&nix).trim(), "{algo} {ours}");
    }
    let sri = provenix(&["nar", "hash", "--sri", t]);
    let nix = Command::new("nix-hash").args(["--type", "sha256", "--sri", t]).output().unwrap();
    if nix.status.success() {
        assert_eq!(stdout(&sri).trim(), stdout(&nix).trim());
    }
    // Flat mode hashes the file's bytes, like `nix-hash --flat`.
    let file = tree.join("README");
    let f = file.to_str().unwrap();
    let o = provenix(&["nar", "hash", "--flat", "--base32", f]);
    let nix = Command::new("nix-hash").args(["--type", "sha256", "--flat", "--base32", f]).output().unwrap();
    assert_eq!(stdout(&o).trim(), stdout(&nix).trim());
}

#[test]
fn key_generate_writes_nix_format_pair_and_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    let sec = tmp.path().join("k.sec");
    let public = tmp.path().join("k.pub");
    let (s, p) = (sec.to_str().unwrap(), public.to_str().unwrap());
    let o = provenix(&["--json", "key", "generate", "test-1", "--secret-out", s, "--public-out", p]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let pub_text = std::fs::read_to_string(&public).unwrap();
    assert_eq!(report["publicKey"], pub_text.as_str());
    assert!(pub_text.starts_with("test-1:"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&sec).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // `key public` derives the same public key, from the file or the string.
    let derived = provenix(&["key", "public", s]);
    assert_eq!(stdout(&derived).trim(), pub_text);
    let inline = provenix(&["key", "public", std::fs::read_to_string(&sec).unwrap().trim()]);
    assert_eq!(stdout(&inline).trim(), pub_text);

    let before = std::fs::read(&sec).unwrap();
    let again = provenix(&["key", "generate", "test-1", "--secret-out", s, "--public-out", p]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("k.sec"), "{}", stderr(&again));
    assert_eq!(std::fs::read(&sec).unwrap(), before);

    let bad =
        provenix(&["key", "generate", "bad:name", "--secret-out", &format!("{s}2"), "--public-out", &format!("{p}2")]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(!Path::new(&format!("{s}2")).exists());
}

#[test]
fn key_generate_force_keeps_the_old_secret_when_the_public_key_cannot_be_written() {
    let tmp = tempfile::tempdir().unwrap();
    let sec = tmp.path().join("k.sec");
    std::fs::write(&sec, b"old:secret").unwrap();
    let public = tmp.path().join("missing-dir/k.pub");
    let (s, p) = (sec.to_str().unwrap(), public.to_str().unwrap());
    let o = provenix(&["key", "generate", "test-1", "--secret-out", s, "--public-out", p, "--force"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("missing-dir/k.pub"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&sec).unwrap(), b"old:secret", "the old secret key was lost");
    // No temp files left behind.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
}

#[test]
fn generated_keys_are_accepted_by_nix() {
    let Some(h) = NixHarness::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let sec = tmp.path().join("k.sec");
    let public = tmp.path().join("k.pub");
    let o = provenix(&[
        "key",
        "generate",
        "cli-test-1",
        "--secret-out",
        sec.to_str().unwrap(),
        "--public-out",
        public.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let file = h.scratch().join("payload");
    std::fs::write(&file, b"payload").unwrap();
    let path = h.add(&file);
    h.run(
        "nix",
        ["--extra-experimental-features", "nix-command", "store", "sign", "--key-file", sec.to_str().unwrap(), &path],
    );
    let pub_text = std::fs::read_to_string(&public).unwrap();
    h.run(
        "nix",
        [
            "--extra-experimental-features",
            "nix-command",
            "store",
            "verify",
            "--no-contents",
            "--trusted-public-keys",
            pub_text.trim(),
            "--sigs-needed",
            "1",
            &path,
        ],
    );
}
