//! What users expect of a command line (issues 16 and 20): completions and man pages, colour,
//! `sources --kind/--format` and local sources, `--store` for `nar`, hints for `--store`
//! mistakes, non-Nix files given as roots, `--arg`/`--argstr`, placeholder hashes, `sbom`
//! formats from the file name, `schemaVersion`. Real Nix in throwaway stores.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use provenix_testkit::NixHarness;
use serde_json::Value;

fn run(store: Option<&Path>, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_provenix"));
    if let Some(store) = store {
        cmd.arg("--store").arg(store);
    }
    cmd.env_remove("NO_COLOR");
    cmd.envs(env.iter().copied());
    cmd.args(args).output().expect("run provenix")
}

fn provenix(store: &Path, args: &[&str]) -> Output {
    run(Some(store), args, &[])
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(o), stderr(o)))
}

const PATCH: &str = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n";

/// A package with a local patch and a local builder script (its `inputSrcs`), and a fetched
/// source with the placeholder hash: `{ hash }` picks the declared hash.
fn project(h: &NixHarness) -> std::path::PathBuf {
    let dir = h.scratch().join("project");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("fix-overflow.patch"), PATCH).unwrap();
    std::fs::write(dir.join("builder.sh"), "cat $patch > $out\n").unwrap();
    std::fs::write(
        dir.join("default.nix"),
        r#"{ hash ? "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", flavour ? "plain" }:
let system = builtins.currentSystem; in
derivation {
  name = "zapp-${flavour}-1.0"; inherit system; builder = "/bin/sh"; args = [ ./builder.sh ];
  patch = ./fix-overflow.patch;
  src = derivation {
    name = "zapp-1.0.tar.gz"; inherit system; builder = "/bin/sh"; args = [ "-c" "exit 1" ];
    urls = [ "https://example.org/zapp-1.0.tar.gz" ];
    outputHashAlgo = "sha256"; outputHashMode = "flat"; outputHash = hash;
  };
  aardvark = derivation {
    name = "aardvark-2.0.tar.gz"; inherit system; builder = "/bin/sh"; args = [ "-c" "exit 1" ];
    urls = [ "https://example.org/aardvark-2.0.tar.gz" ];
    outputHashAlgo = "sha256"; outputHashMode = "flat";
    outputHash = "0000000000000000000000000000000000000000000000000001";
  };
}
"#,
    )
    .unwrap();
    dir
}

#[test]
fn sources_lists_local_inputs_filters_by_kind_and_takes_format() {
    let Some(h) = NixHarness::new() else { return };
    let dir = project(&h);
    let root = dir.to_str().unwrap();
    let o = provenix(h.root(), &["--json", "sources", root]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = json(&o);
    assert_eq!(report["schemaVersion"], 1);
    let local = report["localSources"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> =
        local.iter().map(|s| (s["name"].as_str().unwrap(), s["kind"].as_str().unwrap())).collect();
    assert_eq!(kinds, [("builder.sh", "script"), ("fix-overflow.patch", "patch")], "{report:#}");
    let patch = local.iter().find(|s| s["name"] == "fix-overflow.patch").unwrap();
    assert_eq!(patch["realised"], true);
    assert_eq!(patch["usedBy"].as_array().unwrap().len(), 1);
    assert!(patch["usedBy"][0].as_str().unwrap().ends_with("-zapp-plain-1.0.drv"), "{patch:#}");
    assert_eq!(report["summary"]["localSources"], 2);
    // Fields documented as arrays are there, empty, when there is nothing in them.
    for source in report["sources"].as_array().unwrap() {
        assert_eq!(source["why"], Value::Array(vec![]), "{source:#}");
        assert_eq!(source["unknownMirrors"], Value::Array(vec![]), "{source:#}");
    }

    // --kind patch: the local patch only (no FOD is a patch); --kind local: both local ones.
    let o = json(&provenix(h.root(), &["--json", "sources", "--kind", "patch", root]));
    assert_eq!(o["sources"].as_array().unwrap().len(), 0, "{o:#}");
    assert_eq!(o["localSources"].as_array().unwrap().len(), 1, "{o:#}");
    let o = json(&provenix(h.root(), &["--json", "sources", "--kind", "local", root]));
    assert_eq!((o["sources"].as_array().unwrap().len(), o["localSources"].as_array().unwrap().len()), (0, 2));
    let o = json(&provenix(h.root(), &["--json", "sources", "--kind", "tarball", root]));
    assert_eq!((o["sources"].as_array().unwrap().len(), o["localSources"].as_array().unwrap().len()), (2, 0));
    let o = provenix(h.root(), &["sources", "--kind", "tarbal", root]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("tarbal"), "{}", stderr(&o));

    // The human table: sorted by name, local sources marked, counts that say what they count.
    let human = stdout(&provenix(h.root(), &["sources", root]));
    let aardvark = human.find("aardvark-2.0.tar.gz").unwrap();
    let zapp = human.find("zapp-1.0.tar.gz").unwrap();
    assert!(aardvark < zapp, "sorted by name:\n{human}");
    let local_at = human.find("Local sources").unwrap();
    assert!(
        human[local_at..].contains("fix-overflow.patch") && human[local_at..].contains("zapp-plain-1.0"),
        "{human}"
    );
    assert!(human.contains("2 fixed-output sources (0 realised, 0 B) and 2 local sources"), "{human}");
    assert!(human.contains("in 3 derivations of 1 root\n"), "{human}");
    assert!(human.lines().all(|l| l.chars().count() <= 80), "fits 80 columns:\n{human}");
    assert!(!human.contains('\x1b'), "no colour into a pipe");
    let coloured = stdout(&run(Some(h.root()), &["--color", "always", "sources", root], &[]));
    assert!(coloured.starts_with("\x1b[1mKIND "), "{coloured}");

    // --format is an alias of the existing flags, and two formats at once are a usage error.
    let csv = stdout(&provenix(h.root(), &["sources", "--format", "csv", root]));
    assert_eq!(csv, stdout(&provenix(h.root(), &["sources", "--csv", root])));
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(csv.lines().next().unwrap().ends_with(",local,used_by"), "{csv}");
    assert!(csv.contains(",fix-overflow.patch,patch,"), "{csv}");
    let as_json = json(&provenix(h.root(), &["sources", "--format", "json", root]));
    assert_eq!(as_json, report);
    let table = stdout(&provenix(h.root(), &["sources", "--format", "table", root]));
    assert_eq!(table, human);
    for clash in [&["--json", "sources", "--csv", root][..], &["--json", "sources", "--format", "csv", root]] {
        let o = provenix(h.root(), clash);
        assert_eq!(o.status.code(), Some(2), "{clash:?}");
        assert!(stderr(&o).contains("give one output format") && o.stdout.is_empty(), "{}", stderr(&o));
    }
}

#[test]
fn nix_file_roots_take_arg_and_argstr_and_verify_flags_placeholder_hashes() {
    let Some(h) = NixHarness::new() else { return };
    let dir = project(&h);
    let root = dir.to_str().unwrap();
    let name_of = |args: &[&str]| -> String {
        let mut sources = vec!["--json", "sources"];
        sources.extend_from_slice(args);
        let o = provenix(h.root(), &sources);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        json(&o)["roots"][0].as_str().unwrap().to_owned()
    };
    assert!(name_of(&[root, "--argstr", "flavour", "spicy"]).ends_with("-zapp-spicy-1.0.drv"));
    assert!(name_of(&[root, "--arg", "flavour", "\"mild\""]).ends_with("-zapp-mild-1.0.drv"));

    let placeholder = |args: &[&str]| -> Vec<(String, String)> {
        let mut all = vec!["--json", "verify", root];
        all.extend_from_slice(args);
        let o = provenix(h.root(), &all);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        let report = json(&o);
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == "placeholder-hash")
            .map(|f| {
                assert_eq!(f["severity"], "error");
                let path = f["path"].as_str().unwrap();
                let name = path.rsplit_once('-').map_or(path, |(_, n)| n);
                (name.to_owned(), f["detail"].as_str().unwrap().to_owned())
            })
            .collect()
    };
    // lib.fakeHash (SRI zeros) by default; lib.fakeSha256 (nixbase32 zeros); an empty hash.
    let fake = placeholder(&[]);
    assert_eq!(fake.len(), 1, "{fake:?}");
    assert!(fake[0].0 == "1.0.tar.gz.drv" && fake[0].1.contains("placeholder"), "{fake:?}");
    let zeros = "0000000000000000000000000000000000000000000000000000";
    assert_eq!(placeholder(&["--argstr", "hash", zeros]).len(), 1);
    let empty = placeholder(&["--argstr", "hash", ""]);
    assert!(empty.len() == 1 && empty[0].1.contains("empty"), "{empty:?}");
    // A real hash is not a placeholder (the aardvark's ends in 1, not 0).
    let real = format!("sha256-{}", "A".repeat(42) + "E=");
    let o = provenix(h.root(), &["--json", "verify", root, "--argstr", "hash", &real]);
    assert_eq!(json(&o)["counts"]["placeholder-hash"], 0, "{}", stdout(&o));

    // Human output: colour only when asked (or on a terminal), whatever NO_COLOR says then.
    let plain = run(Some(h.root()), &["verify", root], &[]);
    assert!(!stdout(&plain).contains('\x1b'), "{}", stdout(&plain));
    assert!(stdout(&plain).contains("FAILED: 1 error, "), "{}", stdout(&plain));
    assert!(stdout(&plain).contains("\n  placeholder-hash: 1\n"), "{}", stdout(&plain));
    assert!(stdout(&plain).lines().all(|l| l.chars().count() <= 80), "fits 80 columns:\n{}", stdout(&plain));
    let always = run(Some(h.root()), &["--color", "always", "verify", root], &[("NO_COLOR", "1")]);
    assert!(stdout(&always).contains("\x1b[31mFAILED\x1b[0m"), "{}", stdout(&always));
    let never = run(Some(h.root()), &["--color", "never", "verify", root], &[]);
    assert_eq!(stdout(&never), stdout(&plain));
}

#[test]
fn nar_dump_and_hash_read_store_paths_under_the_store_root() {
    let Some(h) = NixHarness::new() else { return };
    let dir = project(&h);
    let path = h.add(&dir.join("fix-overflow.patch"));
    let o = provenix(h.root(), &["nar", "dump", &path]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Nix 2.8's `nix-store --dump` reads the host path whatever --store says: give it the file.
    let physical = h.physical(&path);
    let nix = Command::new("nix-store").arg("--dump").arg(&physical).output().unwrap();
    assert!(nix.status.success() && !nix.stdout.is_empty());
    assert_eq!(o.stdout, nix.stdout, "nix-store --dump");
    let o = provenix(h.root(), &["--json", "nar", "hash", "--base32", &path]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let expected = h.run_text("nix-store", ["-q", "--hash", &path]);
    assert_eq!(format!("sha256:{}", json(&o)["hash"].as_str().unwrap()), expected);
    // Without --store the logical path is not there (it is only in the throwaway store).
    let o = run(None, &["nar", "hash", &path], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(&path), "{}", stderr(&o));
}

#[test]
fn store_mistakes_get_hints_and_advice_carries_the_store() {
    let Some(h) = NixHarness::new() else { return };
    let dir = project(&h);
    let drv = h.run_text("nix-instantiate", [dir.to_str().unwrap(), "--argstr", "flavour", "hint"]);
    // The store directory given as the root.
    let store_dir = h.store_dir();
    let o = run(Some(&store_dir), &["sources", &drv], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(&format!("`--store {}`", h.root().display())), "{}", stderr(&o));
    // A physical path into a store with no --store.
    let physical = h.physical(&drv);
    let o = run(None, &["sources", physical.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(&format!("`--store {}`", h.root().display())), "{}", stderr(&o));
    // A logical path with no --store, run from inside a directory holding that store.
    let o =
        Command::new(env!("CARGO_BIN_EXE_provenix")).args(["sources", &drv]).current_dir(h.scratch()).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(&format!("read that store with `--store {}`", h.root().display())), "{}", stderr(&o));
    // bundle of an unbuilt closure: the `nix-store --realise` it advises reaches this store.
    let file = h.scratch().join("b.tar");
    let o = provenix(h.root(), &["bundle", &drv, "-o", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(&format!("nix-store --store {} --realise", h.root().display())), "{}", stderr(&o));
}

#[test]
fn bundles_sboms_and_binaries_given_as_roots_are_named_not_evaluated() {
    let Some(h) = NixHarness::new() else { return };
    let drv = h.instantiate(&format!(
        r#"derivation {{ name = "seed"; system = "{}"; builder = "/bin/sh";
  urls = [ "https://example.org/seed" ]; outputHashAlgo = "sha256"; outputHashMode = "flat";
  outputHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="; }}"#,
        provenix_testkit::current_system()
    ));
    let drv = drv[0].as_str();
    let sbom = h.scratch().join("seed.cdx.json");
    let o = provenix(h.root(), &["sbom", drv, "-o", sbom.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&sbom).unwrap();
    assert!(text.contains("\"bomFormat\": \"CycloneDX\"") || text.contains("\"bomFormat\":\"CycloneDX\""));
    let spdx = h.scratch().join("seed.SPDX.json");
    assert_eq!(provenix(h.root(), &["sbom", drv, "-o", spdx.to_str().unwrap()]).status.code(), Some(0));
    assert!(std::fs::read_to_string(&spdx).unwrap().contains("SPDX-2.3"));
    for format in ["CycloneDX", "CDX", "spdx", "SPDX"] {
        let o = provenix(h.root(), &["sbom", drv, "--format", format]);
        assert_eq!(o.status.code(), Some(0), "{format}: {}", stderr(&o));
    }
    let o = provenix(h.root(), &["sbom", drv, "-o", h.scratch().join("seed.json").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("seed.json") && stderr(&o).contains("--format"), "{}", stderr(&o));

    // A bundle: a real one needs its sources realised, so a tar made the way a bundle starts.
    let bundle = h.scratch().join("release.bundle");
    let mut header = vec![0u8; 1024];
    header[..12].copy_from_slice(b"store.export");
    header[257..262].copy_from_slice(b"ustar");
    std::fs::write(&bundle, &header).unwrap();
    let binary = h.scratch().join("tool");
    std::fs::write(&binary, b"\x7fELF\x02\x01\x01\0\0\0").unwrap();
    for (file, what) in [
        (&bundle, "a provenix bundle"),
        (&sbom, "a CycloneDX SBOM"),
        (&spdx, "an SPDX SBOM"),
        (&binary, "a binary file"),
    ] {
        for cmd in ["sources", "sbom", "verify"] {
            let o = provenix(
                h.root(),
                &[cmd, file.to_str().unwrap(), "--format", "cyclonedx"][..if cmd == "sbom" { 4 } else { 2 }],
            );
            assert_eq!(o.status.code(), Some(2), "{cmd} {}", file.display());
            let err = stderr(&o);
            // sources and sbom read a bundle, and this one is only a bundle's first header.
            let named = if what == "a provenix bundle" && cmd != "verify" {
                err.contains("not a valid provenix bundle")
            } else {
                err.contains(&format!("is {what}, not a Nix file"))
            };
            assert!(named, "{cmd}: {err}");
            assert!(!err.contains("nix-instantiate"), "never evaluated: {err}");
        }
    }
}

#[test]
fn a_bundle_is_a_root_for_sources_and_sbom() {
    let Some(h) = NixHarness::new() else { return };
    let dir = h.scratch().join("local");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("fix.patch"), PATCH).unwrap();
    std::fs::write(dir.join("builder.sh"), "cat $patch > $out\n").unwrap();
    let expr = format!(
        r#"derivation {{ name = "tool-1.0"; system = "{}"; builder = "/bin/sh"; args = [ {}/builder.sh ]; patch = {}/fix.patch; }}"#,
        provenix_testkit::current_system(),
        dir.display(),
        dir.display()
    );
    let drv = h.instantiate(&expr).remove(0);
    let bundle = h.scratch().join("tool.bundle");
    let o = provenix(h.root(), &["bundle", &drv, "-o", bundle.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let direct = json(&provenix(h.root(), &["--json", "sources", &drv]));
    // No --store: everything comes from the bundle.
    let o = run(None, &["--json", "sources", bundle.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let from_bundle = json(&o);
    assert_eq!(from_bundle["roots"], direct["roots"]);
    assert_eq!(from_bundle["derivations"], direct["derivations"]);
    let names = |r: &Value| -> Vec<String> {
        r["localSources"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names(&from_bundle), ["builder.sh", "fix.patch"]);
    assert_eq!(names(&from_bundle), names(&direct));
    let o = run(None, &["sbom", "--format", "cdx", bundle.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("tool"), "{}", stdout(&o));
    // vulns reads it too.
    let feeds = h.scratch().join("feeds");
    std::fs::create_dir_all(&feeds).unwrap();
    let osv = r#"{"id":"OSV-2024-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"unrelated"},"versions":["1.0"]}]}"#;
    std::fs::write(feeds.join("OSV-2024-1.json"), osv).unwrap();
    let o = run(None, &["--json", "vulns", bundle.to_str().unwrap(), "--vuln-db", feeds.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json(&o)["roots"], direct["roots"]);
    // Mixed with another root, with a Nix database, or where it cannot stand (verify): refused.
    let o = provenix(h.root(), &["--db", "/nonexistent/db.sqlite", "sources", bundle.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("has no Nix database: leave out --db"), "{}", stderr(&o));
    let o = provenix(h.root(), &["sources", bundle.to_str().unwrap(), &drv]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("give it as the only root"), "{}", stderr(&o));
    let o = provenix(h.root(), &["verify", bundle.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is a provenix bundle"), "{}", stderr(&o));
    // A bundle whose stream was altered is refused before anything is read from it.
    let mut bytes = std::fs::read(&bundle).unwrap();
    let at = bytes.windows(5).position(|w| w == b"+new\n").unwrap();
    bytes[at + 1] = b'N';
    let bad = h.scratch().join("bad.bundle");
    std::fs::write(&bad, &bytes).unwrap();
    let o = run(None, &["sources", bad.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("bad.bundle"), "{}", stderr(&o));
}

#[test]
fn help_wraps_to_the_terminal_and_lists_global_options_apart() {
    for (columns, command) in [("60", "sources"), ("72", "verify"), ("60", "nar")] {
        let o = run(None, &[command, "--help"], &[("COLUMNS", columns)]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let help = stdout(&o);
        let width: usize = columns.parse().unwrap();
        assert!(help.lines().all(|l| l.chars().count() <= width), "{command} at {columns} columns:\n{help}");
        assert!(help.contains("\nGlobal options:\n"), "{help}");
    }
    let o = run(None, &["key", "generate", "--help"], &[]);
    assert!(!stdout(&o).contains("--store"), "not offered where it means nothing:\n{}", stdout(&o));
}

#[test]
fn completions_and_man_pages_come_from_the_command_line_definition() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = run(None, &["completions", shell], &[]);
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", stderr(&o));
        assert!(stdout(&o).contains("sources") && stdout(&o).contains("diff-output"), "{shell}");
    }
    let o = run(None, &["completions", "tcsh"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(None, &["man"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains(".TH provenix 1"), "{}", stdout(&o));
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let o = run(None, &["--json", "man", "--dir", pages.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = json(&o);
    assert_eq!(report["schemaVersion"], 1);
    let listed: Vec<&str> = report["pages"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    for page in ["provenix.1", "provenix-sources.1", "provenix-nar-dump.1", "provenix-man.1"] {
        assert!(listed.contains(&page), "{listed:?}");
        let text = std::fs::read_to_string(pages.join(page)).unwrap();
        assert!(text.contains(".TH "), "{page}");
    }
    let sources = std::fs::read_to_string(pages.join("provenix-sources.1")).unwrap();
    assert!(sources.contains("\\-\\-kind") && sources.contains("\\-\\-format"), "{sources}");
    assert_eq!(std::fs::read_dir(&pages).unwrap().count(), listed.len(), "nothing but the pages");
}
