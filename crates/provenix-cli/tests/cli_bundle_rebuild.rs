//! `provenix bundle` and `provenix rebuild` end to end: a project whose
//! sources Nix fetches with `builtin:fetchurl` from 127.0.0.1, built
//! sandboxed in a throwaway store, bundled, then rebuilt offline in a fresh
//! store; and every way a bundle can be wrong, done for real.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use provenix_formats::hash::{Hash, HashAlgo};
use provenix_testkit::{HttpServer, NixHarness};
use serde_json::Value;

/// The options the harness builds with, for the rebuild's own Nix calls.
const NIX_OPTS: [&str; 6] =
    ["--nix-option", "sandbox-paths", "/bin/sh=/bin/busybox", "--nix-option", "build-users-group", ""];

fn provenix(store: Option<&Path>, args: &[&str]) -> Output {
    provenix_env(store, args, &[])
}

/// `provenix` with extra environment variables.
fn provenix_env(store: Option<&Path>, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_provenix"));
    if let Some(store) = store {
        cmd.arg("--store").arg(store);
    }
    cmd.envs(env.iter().map(|(k, v)| (*k, *v)));
    cmd.args(args).output().expect("run provenix")
}

/// Runs in-toto's own validator (PyPI `in-toto-attestation`) on an envelope; panics with its
/// messages when the statement is invalid. Skipped loudly without the venv (fails in CI).
fn in_toto_validate(envelope: &Path) {
    let Some(python) = provenix_testkit::validator_python("in-toto attestation validation") else { return };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/in_toto_validate.py");
    let out = Command::new(python).arg(script).arg(envelope).output().unwrap();
    assert!(
        out.status.success(),
        "in-toto validator refused {}:\n{}{}",
        envelope.display(),
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
}

/// The `build-settings` byproduct's annotations in an attestation.
fn build_settings(attestation: &Path) -> Value {
    let envelope = provenix_formats::dsse::Envelope::parse(&std::fs::read(attestation).unwrap()).unwrap();
    let statement: Value = serde_json::from_slice(&envelope.payload).unwrap();
    let byproducts = statement["predicate"]["runDetails"]["byproducts"].as_array().unwrap();
    let settings = byproducts.iter().find(|b| b["name"] == "build-settings").unwrap();
    assert!(settings["content"].is_string() && settings["digest"]["sha256"].is_string(), "{settings}");
    settings["annotations"].clone()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", String::from_utf8_lossy(&o.stdout), stderr(o)))
}

const SRC: &[u8] = b"upstream source of libfoo, release 1.0, not a real tarball\n";
const PATCH: &str = "--- a/foo.c\n+++ b/foo.c\n@@ -1 +1 @@\n-bug\n+fix\n";

/// A fetched source, a patch (an input source), a library, and an app on top;
/// `noise` adds a package whose output differs on every build.
fn project(server: &HttpServer, noise: bool) -> String {
    server.put("/dist/libfoo-1.0.tar.gz", SRC.to_vec());
    let url = server.url("/dist/libfoo-1.0.tar.gz");
    let sha = Hash::compute(HashAlgo::Sha256, SRC).to_base16();
    // With noise the app copies the build id, so the root output itself differs.
    let app_extra = if noise { "; mkdir -p $out/share; cat ${noisy}/share/build-id > $out/share/build-id" } else { "" };
    let noisy = if noise {
        r#"noisy = mk "noisy-1.0" "mkdir -p $out/share; echo stable > $out/share/README; cat /proc/sys/kernel/random/uuid > $out/share/build-id";"#
    } else {
        r#"noisy = mk "quiet-1.0" "mkdir -p $out/share; echo stable > $out/share/README";"#
    };
    format!(
        r#"let
  mk = name: script: derivation {{ inherit name; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-e" "-c" script ]; }};
  src = import <nix/fetchurl.nix> {{ name = "libfoo-1.0.tar.gz"; url = "{url}"; sha256 = "{sha}"; }};
  patch = builtins.toFile "fix-CVE-2024-0001.patch" "{patch}";
  libfoo = mk "libfoo-1.0" "mkdir -p $out/lib; cat ${{src}} ${{patch}} > $out/lib/libfoo.txt";
  {noisy}
in mk "app-1.0" "mkdir -p $out/bin; echo '#!/bin/sh' > $out/bin/app; echo cat ${{libfoo}}/lib/libfoo.txt ${{noisy}}/share/README >> $out/bin/app; chmod +x $out/bin/app{app_extra}"
"#,
        patch = PATCH.replace('\n', "\\n"),
    )
}

struct Setup {
    h: NixHarness,
    _server: HttpServer,
    drv: String,
    out: String,
    keys: (PathBuf, PathBuf),
}

fn setup(noise: bool) -> Option<Setup> {
    let h = NixHarness::new()?;
    let server = HttpServer::start();
    let expr = project(&server, noise);
    let out = h.build(&expr).remove(0);
    let drv = h.instantiate(&expr).remove(0);
    let keys = h.generate_key("release-1");
    Some(Setup { h, _server: server, drv, out, keys })
}

fn bundle(s: &Setup, file: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["--json", "bundle", &s.drv, "-o", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    provenix(Some(s.h.root()), &args)
}

fn rebuild(bundle: &Path, work: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["--json", "rebuild", bundle.to_str().unwrap(), "--work-dir", work.to_str().unwrap()];
    args.extend_from_slice(&NIX_OPTS);
    args.extend_from_slice(extra);
    provenix(None, &args)
}

fn tar_entry(bundle: &Path, entry: &str) -> Vec<u8> {
    let out = Command::new("tar").arg("-xOf").arg(bundle).arg(entry).output().unwrap();
    assert!(out.status.success(), "tar -xOf {entry}: {}", stderr(&out));
    out.stdout
}

fn manifest(bundle: &Path) -> Value {
    serde_json::from_slice(&tar_entry(bundle, "manifest.json")).unwrap()
}

/// Replaces the only occurrence of `from` in the file by `to` (same length).
fn patch_file(file: &Path, from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let mut bytes = std::fs::read(file).unwrap();
    let at: Vec<usize> = bytes.windows(from.len()).enumerate().filter(|(_, w)| *w == from).map(|(i, _)| i).collect();
    assert_eq!(at.len(), 1, "{} occurrences of {:?}", at.len(), String::from_utf8_lossy(from));
    bytes[at[0]..at[0] + from.len()].copy_from_slice(to);
    std::fs::write(file, bytes).unwrap();
}

#[test]
fn bundle_then_offline_rebuild_is_identical_and_plain_nix_imports_the_bundle() {
    let Some(s) = setup(false) else { return };
    let file = s.h.scratch().join("app.bundle.tar");
    let sec = s.keys.0.to_str().unwrap();
    let o = bundle(&s, &file, &["--sign-key", sec]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = json(&o);
    assert_eq!(report["signedBy"], serde_json::json!(["release-1"]));
    assert_eq!(report["sources"], 1, "{report}");
    assert_eq!(report["size"].as_u64().unwrap(), std::fs::metadata(&file).unwrap().len());
    let m = manifest(&file);
    let paths: Vec<String> =
        m["paths"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap().to_owned()).collect();
    // Exactly the .drv closure, the fetched source and the patch.
    let mut expected: Vec<String> = s.h.run_text("nix-store", ["-qR", &s.drv]).lines().map(str::to_owned).collect();
    let src_drv = expected.iter().find(|p| p.ends_with("libfoo-1.0.tar.gz.drv")).unwrap().clone();
    expected.push(s.h.run_text("nix-store", ["-q", "--outputs", &src_drv]));
    expected.sort();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(sorted, expected);
    // The reference is what Nix recorded for the built output.
    let root = &m["roots"][0]["outputs"][0];
    assert_eq!(root["path"], s.out.as_str());
    let nix_hash = s.h.run_text("nix-store", ["-q", "--hash", &s.out]);
    let nix_hash = Hash::parse(&nix_hash, None).unwrap().to_sri();
    assert_eq!(root["narHash"], nix_hash.as_str());
    // The human summary counts in agreement with its nouns.
    let again = s.h.scratch().join("again.bundle.tar");
    let o = provenix(Some(s.h.root()), &["bundle", &s.drv, "-o", again.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains(&format!("\n  {} paths: 4 derivations, 1 source, 1 input source; ", paths.len())), "{text}");

    // The stream is byte for byte what `nix-store --export` writes for those paths,
    // and plain Nix imports it into a fresh store.
    let ours = tar_entry(&file, "store.export");
    let theirs = s.h.run("nix-store", std::iter::once("--export".to_owned()).chain(paths.clone())).stdout;
    assert!(ours == theirs, "store.export differs from nix-store --export of the same paths");
    let fresh = NixHarness::new().unwrap();
    let plain = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "tar -xOf {} store.export | nix-store --store {} --import",
            file.display(),
            fresh.root().display()
        ))
        .output()
        .unwrap();
    assert!(plain.status.success(), "{}", stderr(&plain));
    let imported: Vec<&str> = std::str::from_utf8(&plain.stdout).unwrap().lines().collect();
    assert_eq!(imported, paths.iter().map(String::as_str).collect::<Vec<_>>());

    // Rebuild offline in a fresh store: identical, attested by the rebuilder.
    let work = s.h.scratch().join("rebuild");
    let (rebuilder_sec, rebuilder_pub) = s.h.generate_key("rebuilder-a");
    let attestation = s.h.scratch().join("a.dsse.json");
    let o = rebuild(
        &file,
        &work,
        &[
            "--trust-key",
            s.keys.1.to_str().unwrap(),
            "--attest-key",
            rebuilder_sec.to_str().unwrap(),
            "-o",
            attestation.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stderr(&o), String::from_utf8_lossy(&o.stdout));
    let r = json(&o);
    assert_eq!(r["signature"]["status"], "verified");
    assert_eq!(r["signature"]["signers"], serde_json::json!(["release-1"]));
    assert_eq!(r["checked"]["paths"].as_u64().unwrap() as usize, paths.len());
    assert_eq!(r["checked"]["sources"], 1);
    assert_eq!(r["checked"]["inputsContentAddressed"], 1, "the patch is a text path: {r}");
    assert_eq!(r["buildSucceeded"], true);
    let outputs = r["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 1);
    assert_eq!(outputs[0]["verdict"], "identical", "{r}");
    assert_eq!(outputs[0]["rebuilt"], nix_hash.as_str());
    // Built in the fresh store, never the original one, with its log kept.
    assert!(work.join("store").join(s.out.trim_start_matches('/')).exists());
    let log = std::fs::read_to_string(work.join("build.log")).unwrap();
    assert!(log.contains("building '") && log.contains("unshare --net"), "{log}");
    // The attestation verifies with the rebuilder's key, and says what was rebuilt from what.
    let trusted =
        provenix_formats::signature::TrustedKeys::parse_list(&std::fs::read_to_string(&rebuilder_pub).unwrap())
            .unwrap();
    let verified = provenix_core::attest::verify(&std::fs::read(&attestation).unwrap(), &trusted).unwrap();
    assert_eq!(verified.signers, ["rebuilder-a"]);
    // In-toto's own validator accepts it: every ResourceDescriptor has a digest or content.
    in_toto_validate(&attestation);
    // The effective sandbox settings are recorded, here from --nix-option.
    let settings = build_settings(&attestation);
    let effective = &settings["effectiveNixSettings"];
    assert_eq!(effective["sandbox-paths"], serde_json::json!(["/bin/sh=/bin/busybox"]), "{settings}");
    assert_eq!(effective["build-users-group"], "", "{settings}");
    assert_eq!(effective["sandbox"], true, "{settings}");
    assert_eq!(effective["sandbox-fallback"], false, "{settings}");
    let st = &verified.statement;
    assert_eq!(st.subject.len(), 1);
    assert_eq!(st.subject[0].name.as_deref(), Some(s.out.as_str()));
    let nar_hex = Hash::parse_sri(&nix_hash).unwrap().to_base16();
    assert_eq!(st.subject[0].digest["sha256"], nar_hex);
    let p = st.provenance_predicate().unwrap();
    let deps = &p.build_definition.resolved_dependencies;
    assert_eq!(deps.len(), 2, "the source and the patch");
    let src_dep = deps.iter().find(|d| d.uri.is_some()).unwrap();
    assert!(src_dep.uri.as_deref().unwrap().ends_with("/dist/libfoo-1.0.tar.gz"));
    let verdicts: Vec<&str> =
        p.run_details.byproducts.iter().filter_map(|b| b.annotations.as_ref()?.get("verdict")?.as_str()).collect();
    assert_eq!(verdicts, ["identical"]);
    // Attestations from another key are not trusted.
    let (_, stranger) = s.h.generate_key("rebuilder-b");
    let stranger =
        provenix_formats::signature::TrustedKeys::parse_list(&std::fs::read_to_string(&stranger).unwrap()).unwrap();
    assert!(provenix_core::attest::verify(&std::fs::read(&attestation).unwrap(), &stranger).is_err());
    // A second rebuilder of the same bundle states the same build definition. It configures
    // Nix through nix.conf and NIX_CONFIG instead of --nix-option, which the attestation records
    // too, and without --work-dir its temporary directory is removed once everything matched.
    let (sec_b, _) = s.h.generate_key("rebuilder-b");
    let tmp = s.h.scratch().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    // nix.conf sets the sandbox shell and NIX_CONFIG the build users: both recorded.
    let conf = s.h.scratch().join("nix-config-b");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(conf.join("nix.conf"), "sandbox-paths = /bin/sh=/bin/busybox\n").unwrap();
    let second_file = s.h.scratch().join("b.dsse.json");
    let o = provenix_env(
        None,
        &[
            "--json",
            "rebuild",
            file.to_str().unwrap(),
            "--attest-key",
            sec_b.to_str().unwrap(),
            "-o",
            second_file.to_str().unwrap(),
        ],
        &[("TMPDIR", &tmp), ("NIX_CONF_DIR", &conf), ("NIX_CONFIG", Path::new("build-users-group ="))],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["workDirTemporary"], true);
    assert_eq!(r["workDirRemoved"], true, "{r}");
    assert!(r["workDir"].as_str().unwrap().starts_with(tmp.to_str().unwrap()), "{r}");
    assert!(!Path::new(r["workDir"].as_str().unwrap()).exists(), "the temporary work directory is left: {r}");
    assert!(
        stderr(&o).contains("warning: build-users") && stderr(&o).contains("can write to its inputs"),
        "{}",
        stderr(&o)
    );
    let effective_b = &build_settings(&second_file)["effectiveNixSettings"];
    assert_eq!(effective_b["sandbox-paths"], serde_json::json!(["/bin/sh=/bin/busybox"]), "from nix.conf");
    assert_eq!(effective_b["build-users-group"], "", "from NIX_CONFIG");
    in_toto_validate(&second_file);
    let second = std::fs::read(&second_file).unwrap();
    let envelope = provenix_formats::dsse::Envelope::parse(&second).unwrap();
    let st_b = provenix_core::attest::Statement::parse(&envelope.payload).unwrap();
    assert_eq!(st_b.provenance_predicate().unwrap().build_definition, p.build_definition);
    assert_eq!(st_b.subject, st.subject);

    // With --keep the temporary directory stays, and the report says where. `-o -` puts the
    // attestation on stdout, so the human report goes to stderr, in lines of at most 80
    // columns (a path longer than the room stands alone on its line).
    let o = provenix_env(
        None,
        &[
            "rebuild",
            file.to_str().unwrap(),
            "--keep",
            "--attest-key",
            rebuilder_sec.to_str().unwrap(),
            "-o",
            "-",
            NIX_OPTS[0],
            NIX_OPTS[1],
            NIX_OPTS[2],
            NIX_OPTS[3],
            NIX_OPTS[4],
            NIX_OPTS[5],
        ],
        &[("TMPDIR", &tmp)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let on_stdout = provenix_core::attest::verify(&o.stdout, &trusted).unwrap();
    assert_eq!(on_stdout.statement.subject, st.subject, "the attestation on stdout");
    assert!(!Path::new("-").exists() && !tmp.join("-").exists(), "no file named -");
    let text = stderr(&o);
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let kept = words.split_once("work directory kept: ").and_then(|(_, rest)| rest.split(' ').next());
    assert!(Path::new(kept.unwrap_or_else(|| panic!("{text}"))).join("build.log").exists(), "{text}");
    assert!(text.contains("attestation (in-toto SLSA provenance, DSSE): -"), "{text}");
    assert!(text.contains("\n1 of 1 output identical to the reference\n"), "{text}");
    assert!(words.contains("; 1 source matches its declared hash "), "counts agree in number: {text}");
    for line in text.lines() {
        assert!(line.chars().count() <= 80 || !line.trim().contains(' '), "over 80 columns: {line:?}\n{text}");
    }

    // A second rebuild into the same, now used, directory is refused.
    let o = rebuild(&file, &work, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not empty"), "{}", stderr(&o));

    // An attestation target that cannot be written is refused before anything is imported.
    let fresh_work = s.h.scratch().join("never");
    let missing = s.h.scratch().join("no-such-dir/a.dsse.json");
    let o = rebuild(
        &file,
        &fresh_work,
        &["--attest-key", rebuilder_sec.to_str().unwrap(), "-o", missing.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("-o ") && stderr(&o).contains("no-such-dir"), "{}", stderr(&o));
    assert!(!fresh_work.exists(), "the work directory was created");
}

/// Nix as Debian's nix-bin ships it, as root, with no nix.conf: no `nixbld` group for the
/// default build-users-group, no /bin/sh in the sandbox.
fn stock_rebuild(bundle: &Path, work: &Path, conf: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["rebuild", bundle.to_str().unwrap(), "--work-dir", work.to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_provenix"));
    cmd.args(&args).env("NIX_CONF_DIR", conf).env_remove("NIX_CONFIG");
    cmd.output().unwrap()
}

#[test]
fn a_stock_nix_is_refused_before_import_naming_each_setting_to_change() {
    let Some(s) = setup(false) else { return };
    let file = s.h.scratch().join("app.bundle.tar");
    assert_eq!(bundle(&s, &file, &[]).status.code(), Some(0));
    let conf = s.h.scratch().join("empty-nix-conf");
    std::fs::create_dir_all(&conf).unwrap();
    let nixbld_exists = Command::new("getent").args(["group", "nixbld"]).status().unwrap().success();

    let work = s.h.scratch().join("stock");
    let o = stock_rebuild(&file, &work, &conf, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("nothing was imported"), "{err}");
    assert!(
        err.contains("/bin/sh is not in the sandbox") && err.contains("sandbox-paths = /bin/sh=/bin/busybox"),
        "{err}"
    );
    assert!(err.contains("--nix-option sandbox-paths /bin/sh=/bin/busybox"), "{err}");
    if !nixbld_exists {
        assert!(err.contains("there is no group `nixbld`") && err.contains("groupadd -r nixbld"), "{err}");
        assert!(err.contains("--nix-option build-users-group ''") && err.contains("can write to its inputs"), "{err}");
    }
    assert!(!work.exists(), "the work directory was created");

    // A dynamically linked shell does not run in the sandbox: refused too, naming its loader.
    if Path::new("/bin/dash").exists() {
        let o = stock_rebuild(
            &file,
            &work,
            &conf,
            &["--nix-option", "build-users-group", "", "--nix-option", "sandbox-paths", "/bin/sh=/bin/dash"],
        );
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("dynamically linked"), "{}", stderr(&o));
        assert!(!work.exists());
    }

    // With the two settings given (here in a nix.conf), the same stock Nix rebuilds.
    std::fs::write(conf.join("nix.conf"), "sandbox-paths = /bin/sh=/bin/busybox\nbuild-users-group =\n").unwrap();
    let o = stock_rebuild(&file, &work, &conf, &["--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json(&o)["outputs"][0]["verdict"], "identical");
}

#[test]
fn bundle_refuses_a_drv_edited_in_place_in_the_store() {
    let Some(s) = setup(false) else { return };
    let drv =
        s.h.run_text("nix-store", ["-qR", &s.drv]).lines().find(|p| p.ends_with("-libfoo-1.0.drv")).unwrap().to_owned();
    let physical = s.h.physical(&drv);
    let mut perms = std::fs::metadata(&physical).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
    std::fs::set_permissions(&physical, perms).unwrap();
    patch_file(&physical, b"mkdir -p $out/lib", b"mkdir -p $out/liB");
    let file = s.h.scratch().join("tampered.tar");
    let o = bundle(&s, &file, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains(&drv) && err.contains("the store path was modified"), "{err}");
    assert!(!file.exists());
}

#[test]
fn bundle_refuses_a_drv_over_the_64_mib_limit_rebuild_enforces() {
    let Some(h) = NixHarness::new() else { return };
    let big = h.scratch().join("big.txt");
    std::fs::write(&big, vec![b'x'; (64 << 20) + 1]).unwrap();
    let expr = format!(
        r#"derivation {{ name = "big"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; blob = builtins.readFile {}; }}"#,
        big.display()
    );
    let drv = h.instantiate(&expr).remove(0);
    let file = h.scratch().join("big.tar");
    let o = provenix(Some(h.root()), &["bundle", &drv, "-o", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains(&drv) && err.contains(&format!("more than the {}-byte limit", 64 << 20)), "{err}");
    assert_eq!(provenix_core::rebuild::MAX_DRV_LEN, provenix_core::bundle::MAX_DRV_LEN);
    assert!(!file.exists());
}

#[test]
fn a_flipped_byte_anywhere_is_refused_before_import_naming_the_path() {
    let Some(s) = setup(false) else { return };
    let file = s.h.scratch().join("app.bundle.tar");
    let o = bundle(&s, &file, &["--sign-key", s.keys.0.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let m = manifest(&file);
    let path_of = |suffix: &str| -> String {
        m["paths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["path"].as_str().unwrap())
            .find(|p| p.ends_with(suffix))
            .unwrap()
            .to_owned()
    };
    let cases: [(&str, &[u8], &[u8], String); 3] = [
        ("source", b"release 1.0", b"release 1.1", path_of("-libfoo-1.0.tar.gz")),
        ("patch", b"+fix", b"+fiX", path_of("-fix-CVE-2024-0001.patch")),
        ("drv", b"mkdir -p $out/lib", b"mkdir -p $out/liB", path_of("-libfoo-1.0.drv")),
    ];
    for (what, from, to, path) in cases {
        let bad = s.h.scratch().join(format!("flipped-{what}.tar"));
        std::fs::copy(&file, &bad).unwrap();
        patch_file(&bad, from, to);
        let work = s.h.scratch().join(format!("work-{what}"));
        let o = rebuild(&bad, &work, &["--trust-key", s.keys.1.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(&path) && err.contains("nothing was imported"), "{what}: {err}");
        assert!(!work.join("store").exists(), "{what}: a store was created");
    }

    // Without a signature, an attacker who also fixes up the manifest's hash is
    // still caught: the source no longer has the hash its .drv declares.
    let unsigned = s.h.scratch().join("unsigned.tar");
    assert_eq!(bundle(&s, &unsigned, &[]).status.code(), Some(0));
    let src_path = path_of("-libfoo-1.0.tar.gz");
    let entry = m["paths"].as_array().unwrap().iter().find(|p| p["path"] == src_path.as_str()).unwrap();
    let old_hash = entry["narHash"].as_str().unwrap().to_owned();
    patch_file(&unsigned, b"release 1.0", b"release 6.6");
    // The NAR hash of the changed source, as the attacker would compute it.
    let tree = s.h.scratch().join("evil-src");
    std::fs::write(&tree, String::from_utf8_lossy(SRC).replace("release 1.0", "release 6.6")).unwrap();
    let o = provenix(None, &["nar", "hash", "--sri", tree.to_str().unwrap()]);
    let new_hash = String::from_utf8(o.stdout).unwrap().trim().to_owned();
    patch_file(&unsigned, old_hash.as_bytes(), new_hash.as_bytes());
    let o = rebuild(&unsigned, &s.h.scratch().join("work-evil"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains(&src_path) && err.contains("does not match its declared hash"), "{err}");
}

#[test]
fn untrusted_or_missing_signatures_are_refused() {
    let Some(s) = setup(false) else { return };
    let file = s.h.scratch().join("app.bundle.tar");
    assert_eq!(bundle(&s, &file, &["--sign-key", s.keys.0.to_str().unwrap()]).status.code(), Some(0));
    let (_, other_pub) = s.h.generate_key("someone-else");
    let work = s.h.scratch().join("w1");
    let o = rebuild(&file, &work, &["--trust-key", other_pub.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("untrusted key"), "{}", stderr(&o));
    assert!(!work.join("store").exists());
    // A key with the trusted name but other bytes: the signature does not verify.
    let (_, impostor) = s.h.generate_key("release-1");
    let o = rebuild(&file, &s.h.scratch().join("w2"), &["--trust-key", impostor.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("INVALID"), "{}", stderr(&o));
    // An unsigned bundle when a key is required.
    let unsigned = s.h.scratch().join("unsigned.tar");
    assert_eq!(bundle(&s, &unsigned, &[]).status.code(), Some(0));
    let o = rebuild(&unsigned, &s.h.scratch().join("w3"), &["--trust-key", s.keys.1.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not signed"), "{}", stderr(&o));
    // A manifest changed after signing.
    let changed = s.h.scratch().join("changed.tar");
    std::fs::copy(&file, &changed).unwrap();
    patch_file(&changed, b"\"tool\": \"provenix ", b"\"tool\": \"provenaX ");
    let o = rebuild(&changed, &s.h.scratch().join("w4"), &["--trust-key", s.keys.1.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("INVALID"), "{}", stderr(&o));
}

#[test]
fn a_missing_source_is_a_clear_error_and_leaves_no_file() {
    let Some(h) = NixHarness::new() else { return };
    let server = HttpServer::start();
    let drv = h.instantiate(&project(&server, false)).remove(0);
    let file = h.scratch().join("never.tar");
    let o = provenix(Some(h.root()), &["bundle", &drv, "-o", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    let realise = format!("nix-store --store {} --realise", h.root().display());
    assert!(err.contains("-libfoo-1.0.tar.gz is not in the store") && err.contains(&realise), "{err}");
    let left: Vec<_> = std::fs::read_dir(h.scratch()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.iter().all(|n| !n.to_string_lossy().contains("bundle") && n != "never.tar"), "{left:?}");
}

#[test]
fn malformed_bundles_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.tar");
    std::fs::write(&garbage, b"this is not a tar file at all, just some words that go on and on").unwrap();
    let o = rebuild(&garbage, &dir.path().join("w"), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("garbage.tar"), "{}", stderr(&o));
    let o = rebuild(&dir.path().join("missing.tar"), &dir.path().join("w"), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("missing.tar"), "{}", stderr(&o));
    // A tar without the manifest.
    let other = dir.path().join("other.tar");
    std::fs::write(dir.path().join("store.export"), b"x").unwrap();
    let st = Command::new("tar").arg("-cf").arg(&other).arg("-C").arg(dir.path()).arg("store.export").status().unwrap();
    assert!(st.success());
    let o = rebuild(&other, &dir.path().join("w"), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no manifest.json entry"), "{}", stderr(&o));
}

#[test]
fn a_truncated_bundle_is_refused() {
    let Some(s) = setup(false) else { return };
    let file = s.h.scratch().join("app.bundle.tar");
    assert_eq!(bundle(&s, &file, &[]).status.code(), Some(0));
    let bytes = std::fs::read(&file).unwrap();
    let cut = s.h.scratch().join("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let o = rebuild(&cut, &s.h.scratch().join("w"), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("cut.tar"), "{}", stderr(&o));
}

#[test]
fn a_build_that_reaches_for_the_network_fails_inside_the_rebuild() {
    let Some(h) = NixHarness::new() else { return };
    let server = HttpServer::start();
    server.put("/ping", b"pong\n".to_vec());
    // An impure derivation gets the network in Nix's sandbox, like a FOD;
    // it is the one kind of build a rebuild cannot pin by content.
    let expr = format!(
        r#"derivation {{ name = "phone-home"; system = builtins.currentSystem; builder = "/bin/sh"; __impure = true;
             args = [ "-c" "wget -O $out {}" ]; }}"#,
        server.url("/ping")
    );
    let features = ["--extra-experimental-features", "impure-derivations ca-derivations"];
    let file = h.scratch().join("phone-home.nix");
    std::fs::write(&file, &expr).unwrap();
    let mut inst = h.command("nix-instantiate");
    inst.args(features).arg(&file);
    let out = inst.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let drv = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    // Control: built normally, it reaches the server.
    let mut build = h.command("nix");
    build.args([
        "--extra-experimental-features",
        "nix-command impure-derivations ca-derivations",
        "build",
        "--no-link",
        &drv,
    ]);
    let out = build.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.requests("/ping"), 1);

    let bundle_file = h.scratch().join("phone-home.tar");
    let o = provenix(Some(h.root()), &["bundle", &drv, "-o", bundle_file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let work = h.scratch().join("rebuild");
    let o = rebuild(
        &bundle_file,
        &work,
        &["--nix-option", "extra-experimental-features", "impure-derivations ca-derivations"],
    );
    // A failed build is an error (exit 2), not a finding, and it shows Nix's error.
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("the build failed") && err.contains("error: builder for") && err.contains("phone-home"),
        "{err}"
    );
    let r = json(&o);
    assert_eq!(r["buildSucceeded"], false);
    assert_eq!(r["outputs"][0]["verdict"], "not-built", "{r}");
    assert!(r["buildErrors"][0].as_str().unwrap().contains("error:"), "{r}");
    // The human report shows them with the verdict, and keeps the work directory.
    let mut args = vec!["rebuild", bundle_file.to_str().unwrap(), "--work-dir"];
    let human_work = h.scratch().join("rebuild-human");
    args.push(human_work.to_str().unwrap());
    args.extend_from_slice(&NIX_OPTS);
    args.extend_from_slice(&["--nix-option", "extra-experimental-features", "impure-derivations ca-derivations"]);
    let o = provenix(None, &args);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    let failed = text.find("the build FAILED:").unwrap_or_else(|| panic!("{text}"));
    assert!(text[failed..].contains("error: builder for") && text.contains("NOT BUILT"), "{text}");
    assert!(human_work.join("build.log").exists());
    let log = std::fs::read_to_string(work.join("build.log")).unwrap();
    assert!(log.contains("Network is unreachable"), "{log}");
    assert_eq!(server.requests("/ping"), 1, "the rebuild reached the server");
}

#[test]
fn a_non_reproducible_package_differs_and_diff_output_names_the_file() {
    let Some(s) = setup(true) else { return };
    let file = s.h.scratch().join("noisy.tar");
    assert_eq!(bundle(&s, &file, &[]).status.code(), Some(0));
    // The app refers to the noisy package, so the app differs too.
    let work = s.h.scratch().join("rebuild");
    let (sec, public) = s.h.generate_key("rebuilder-a");
    let attestation = s.h.scratch().join("differs.dsse.json");
    let o = rebuild(&file, &work, &["--attest-key", sec.to_str().unwrap(), "-o", attestation.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["buildSucceeded"], true);
    let out = &r["outputs"][0];
    assert_eq!(out["verdict"], "differs", "{r}");
    in_toto_validate(&attestation);
    // The attestation is genuine, but a gate that requires `identical` refuses it.
    let verify = |extra: &[&str]| {
        let mut args = vec!["attest", "verify", attestation.to_str().unwrap(), "--trust-key", public.to_str().unwrap()];
        args.extend_from_slice(extra);
        provenix(Some(s.h.root()), &args)
    };
    assert_eq!(verify(&[]).status.code(), Some(0));
    let o = verify(&["--require-verdict", "identical"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("policy: FAILED") && text.contains(&format!("{} is differs", s.out)), "{text}");
    assert_eq!(verify(&["--require-verdict", "differs"]).status.code(), Some(0));
    // --artifact: the rebuilt output is the subject; the original output (it differs) is not.
    let rebuilt_at = out["rebuiltAt"].as_str().unwrap();
    assert_eq!(verify(&["--artifact", rebuilt_at]).status.code(), Some(0));
    let o = verify(&["--json", "--artifact", &s.out]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report = json(&o);
    assert_eq!(report["policy"]["passed"], false);
    assert!(report["policy"]["failures"][0].as_str().unwrap().contains("no subject's digest"), "{report}");
    assert_ne!(out["rebuilt"], out["reference"]);
    let rebuilt = out["rebuiltAt"].as_str().unwrap();
    let o = provenix(Some(s.h.root()), &["--json", "diff-output", "--no-diffoscope", &s.out, rebuilt]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let d = json(&o);
    let changed: Vec<&str> = d["entries"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(changed, ["share/build-id"], "{d}");
    // The human report under --store prints the diff-output advice on a line of its own,
    // carrying that --store, and the advice runs as printed.
    let mut args = vec!["rebuild", file.to_str().unwrap(), "--work-dir"];
    let human_work = s.h.scratch().join("rebuild-human");
    args.push(human_work.to_str().unwrap());
    args.extend_from_slice(&NIX_OPTS);
    let o = provenix(Some(s.h.root()), &args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    // The two hashes stand in one column, as printed (a line that fits is not re-wrapped).
    assert!(text.lines().any(|l| l.starts_with("      reference ")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("      rebuilt   ")), "{text}");
    let advice = text
        .lines()
        .skip_while(|l| l.trim() != "see what differs with:")
        .nth(1)
        .unwrap_or_else(|| panic!("{text}"))
        .trim();
    let prefix = format!("provenix --store {} diff-output {} ", s.h.root().display(), s.out);
    assert!(advice.starts_with(&prefix), "{advice}");
    let words: Vec<&str> = advice.split(' ').skip(1).collect();
    let o = Command::new(env!("CARGO_BIN_EXE_provenix")).args(&words).arg("--no-diffoscope").output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{advice}: {}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("share/build-id"), "{}", String::from_utf8_lossy(&o.stdout));
}
