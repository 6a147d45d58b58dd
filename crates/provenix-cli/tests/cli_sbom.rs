//! `provenix sbom` end to end: a real closure built by Nix in a throwaway
//! store (a package from a tarball that Nix's `builtin:fetchurl` downloads
//! from a server on 127.0.0.1, with a CVE patch, a library it keeps at
//! runtime and a tool it only builds with), written as CycloneDX 1.6 and
//! SPDX 2.3 and checked by the official JSON schemas and by the formats' own
//! validators (`sbom_validate.py`, in the venv `scripts/install-deps.sh` makes).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use provenix_formats::hash::{Hash, HashAlgo};
use provenix_testkit::{HttpServer, NixHarness};
use serde_json::{Value, json};

const TARBALL: &[u8] = b"hello, the source tarball of version 2.12\n";
const PATCH: &[u8] = b"--- a/hello.c\n+++ b/hello.c\n@@ -1 +1 @@\n-bug\n+fix\n";

fn provenix(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_provenix")).arg("--store").arg(store).args(args).output().expect("run provenix")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: Output) -> Output {
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    o
}

fn validator() -> Option<PathBuf> {
    provenix_testkit::validator_python("SBOM validation")
}

/// Runs `sbom_validate.py FORMAT FILE`: its exit code and output.
fn validate(python: &Path, format: &str, file: &Path) -> (i32, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sbom_validate.py");
    let o = Command::new(python).arg(script).arg(format).arg(file).output().expect("run the validator");
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    (o.status.code().unwrap_or(-1), text)
}

fn assert_valid(python: Option<&Path>, format: &str, file: &Path) {
    let Some(python) = python else { return };
    let (code, text) = validate(python, format, file);
    assert_eq!(code, 0, "{format} {} is invalid:\n{text}", file.display());
    let checks = text.lines().filter(|l| l.starts_with("ok: ")).count();
    assert_eq!(checks, if format == "cyclonedx" { 3 } else { 2 }, "{text}");
}

/// The closure: `hello-2.12` from a fetched tarball and a patch, keeping `libdep` at runtime,
/// built with `buildtool`.
struct Built {
    _server: HttpServer,
    url: String,
    drv: String,
    out: String,
    src_drv: String,
    lib_drv: String,
    tool_drv: String,
}

fn build(h: &NixHarness) -> Built {
    let server = HttpServer::start();
    server.put("/dist/hello-2.12.tar.gz", TARBALL.to_vec());
    // A name under `.localhost` (curl, and so Nix, resolves it to the loopback address): spdx-tools
    // rejects download locations whose host is an IP address.
    let url = format!("http://hello.localhost:{}/dist/hello-2.12.tar.gz", server.addr().port());
    std::fs::write(h.scratch().join("fix-CVE-2024-0001.patch"), PATCH).unwrap();
    let sha256 = Hash::compute(HashAlgo::Sha256, TARBALL).to_base16();
    let expr = format!(
        r#"let
  system = builtins.currentSystem;
  src = import <nix/fetchurl.nix> {{ name = "hello-2.12.tar.gz"; url = "{url}"; sha256 = "{sha256}"; }};
  tool = derivation {{ name = "buildtool-1.0"; inherit system; builder = "/bin/sh"; args = [ "-c" "echo tool > $out" ]; }};
  dep = derivation {{
    name = "libdep-3.1"; pname = "libdep"; version = "3.1"; inherit system; builder = "/bin/sh";
    args = [ "-c" "echo lib > $out" ];
  }};
in derivation {{
  name = "hello-2.12"; pname = "hello"; version = "2.12"; inherit system src tool dep; builder = "/bin/sh";
  patches = [ ./fix-CVE-2024-0001.patch ];
  args = [ "-c" "read t < $tool; cat $src $patches > $out; echo $dep >> $out" ];
}}"#
    );
    let out = h.build(&expr).remove(0);
    let drv = h.instantiate(&expr).remove(0);
    let closure = h.run_text("nix-store", ["-qR", &drv]);
    let find = |suffix: &str| closure.lines().find(|l| l.ends_with(suffix)).unwrap().to_owned();
    Built {
        _server: server,
        url,
        src_drv: find("-hello-2.12.tar.gz.drv"),
        lib_drv: find("-libdep-3.1.drv"),
        tool_drv: find("-buildtool-1.0.drv"),
        drv,
        out,
    }
}

fn read_json(file: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap()
}

/// Every component of a CycloneDX document, the subject included.
fn cdx_components(bom: &Value) -> Vec<&Value> {
    let mut all = vec![&bom["metadata"]["component"]];
    all.extend(bom["components"].as_array().unwrap());
    all
}

fn cdx_component<'a>(bom: &'a Value, bom_ref: &str) -> &'a Value {
    cdx_components(bom).into_iter().find(|c| c["bom-ref"] == bom_ref).unwrap_or_else(|| panic!("no {bom_ref}"))
}

fn cdx_refs(bom: &Value) -> BTreeSet<String> {
    cdx_components(bom).iter().map(|c| c["bom-ref"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn sboms_of_a_real_closure_validate_and_carry_hashes_sources_patches_and_edges() {
    let Some(h) = NixHarness::new() else { return };
    let python = validator();
    let b = build(&h);
    let dir = h.scratch();
    let store = h.root();

    // CycloneDX, build time.
    let cdx = dir.join("hello.cdx.json");
    let o = ok(provenix(store, &["sbom", "--format", "cyclonedx", &b.drv, "-o", cdx.to_str().unwrap()]));
    let human = String::from_utf8_lossy(&o.stdout);
    assert!(
        human.contains("4 components: 3 packages, 1 source;") && human.contains("2 components in the runtime closure"),
        "{human}"
    );
    assert_valid(python.as_deref(), "cyclonedx", &cdx);
    let bom = read_json(&cdx);
    assert_eq!(
        cdx_refs(&bom),
        BTreeSet::from([b.drv.clone(), b.src_drv.clone(), b.lib_drv.clone(), b.tool_drv.clone()])
    );
    let app = cdx_component(&bom, &b.drv);
    assert_eq!(bom["metadata"]["component"]["bom-ref"], b.drv.as_str());
    assert_eq!((app["name"].as_str(), app["version"].as_str()), (Some("hello"), Some("2.12")));
    // The NAR hash is the one Nix recorded (`nix-store -q --hash`), in hex.
    let nix_hash = h.run_text("nix-store", ["-q", "--hash", &b.out]);
    let nar_hex = Hash::parse(&nix_hash, None).unwrap().to_base16();
    assert_eq!(app["hashes"], json!([{ "alg": "SHA-256", "content": nar_hex }]));
    assert_eq!(app["scope"], "required");
    let resolves = &app["pedigree"]["patches"][0]["resolves"];
    assert_eq!(
        resolves,
        &json!([{ "type": "security", "id": "CVE-2024-0001",
        "source": { "name": "NVD", "url": "https://nvd.nist.gov/vuln/detail/CVE-2024-0001" } }])
    );
    assert!(app["pedigree"]["patches"][0]["diff"]["url"].as_str().unwrap().ends_with("-fix-CVE-2024-0001.patch"));
    assert_eq!(app["externalReferences"], json!([{ "url": b.url, "type": "source-distribution" }]));
    let src = cdx_component(&bom, &b.src_drv);
    assert_eq!(src["type"], "file");
    assert_eq!(
        src["hashes"],
        json!([{ "alg": "SHA-256", "content": Hash::compute(HashAlgo::Sha256, TARBALL).to_base16() }])
    );
    assert_eq!(src["externalReferences"], json!([{ "url": b.url, "type": "distribution" }]));
    assert_eq!(cdx_component(&bom, &b.tool_drv)["scope"], "excluded");
    assert_eq!(cdx_component(&bom, &b.lib_drv)["scope"], "required");
    let deps: Vec<&Value> = bom["dependencies"].as_array().unwrap().iter().collect();
    assert_eq!(deps.len(), 4);
    let app_deps = deps.iter().find(|d| d["ref"] == b.drv.as_str()).unwrap();
    let mut want = vec![b.src_drv.clone(), b.lib_drv.clone(), b.tool_drv.clone()];
    want.sort();
    assert_eq!(app_deps["dependsOn"], json!(want));

    // Runtime: the library is in, the build-only tool and the source are not.
    let runtime = dir.join("hello.runtime.cdx.json");
    ok(provenix(store, &["sbom", "--format", "cyclonedx", "--runtime", &b.drv, "-o", runtime.to_str().unwrap()]));
    assert_valid(python.as_deref(), "cyclonedx", &runtime);
    let rt = read_json(&runtime);
    assert_eq!(cdx_refs(&rt), BTreeSet::from([b.drv.clone(), b.lib_drv.clone()]));
    let rt_deps = rt["dependencies"].as_array().unwrap();
    assert_eq!(rt_deps.iter().find(|d| d["ref"] == b.drv.as_str()).unwrap()["dependsOn"], json!([b.lib_drv]));
    assert_ne!(rt["serialNumber"], bom["serialNumber"]);
    // --buildtime is the default, said explicitly.
    let o = ok(provenix(store, &["sbom", "--format", "cyclonedx", "--buildtime", &b.drv]));
    assert_eq!(o.stdout, std::fs::read(&cdx).unwrap(), "stdout and -o give the same bytes");

    // SPDX.
    let spdx = dir.join("hello.spdx.json");
    ok(provenix(store, &["sbom", "--format", "spdx", &b.drv, "-o", spdx.to_str().unwrap()]));
    assert_valid(python.as_deref(), "spdx", &spdx);
    let doc = read_json(&spdx);
    let id_of = |drv: &str| -> String {
        let base = drv.rsplit('/').next().unwrap().strip_suffix(".drv").unwrap();
        let (hash, name) = base.split_once('-').unwrap();
        format!("SPDXRef-{name}-{hash}")
    };
    let rels: BTreeSet<(String, String, String)> = doc["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_owned();
            (s("spdxElementId"), s("relationshipType"), s("relatedSpdxElement"))
        })
        .collect();
    let app_id = id_of(&b.drv);
    let want: BTreeSet<(String, String, String)> = [
        ("SPDXRef-DOCUMENT".to_owned(), "DESCRIBES", app_id.clone()),
        (app_id.clone(), "DEPENDS_ON", id_of(&b.src_drv)),
        (app_id.clone(), "DEPENDS_ON", id_of(&b.lib_drv)),
        (app_id.clone(), "DEPENDS_ON", id_of(&b.tool_drv)),
    ]
    .into_iter()
    .map(|(a, t, c)| (a, t.to_owned(), c))
    .collect();
    assert_eq!(rels, want);
    let pkg = doc["packages"].as_array().unwrap().iter().find(|p| p["SPDXID"] == app_id.as_str()).unwrap();
    assert_eq!(pkg["checksums"], json!([{ "algorithm": "SHA256", "checksumValue": nar_hex }]));
    assert_eq!(pkg["downloadLocation"], b.url.as_str());

    // Same input, same bytes; the runtime SPDX validates too.
    for format in ["cyclonedx", "spdx"] {
        let one = ok(provenix(store, &["sbom", "--format", format, &b.drv])).stdout;
        let two = ok(provenix(store, &["sbom", "--format", format, &b.drv])).stdout;
        assert_eq!(one, two, "{format}");
    }
    let rt_spdx = dir.join("hello.runtime.spdx.json");
    ok(provenix(store, &["sbom", "--format", "spdx", "--runtime", &b.drv, "-o", rt_spdx.to_str().unwrap()]));
    assert_valid(python.as_deref(), "spdx", &rt_spdx);
    assert_eq!(read_json(&rt_spdx)["packages"].as_array().unwrap().len(), 2);

    // A --meta file's license and CPE show up; the serial changes with them.
    let meta = dir.join("meta.json");
    std::fs::write(
        &meta,
        r#"{ "hello": { "name": "hello-2.12", "pname": "hello", "version": "2.12", "meta": {
            "license": { "spdxId": "GPL-3.0-or-later", "fullName": "GNU General Public License v3.0 or later" },
            "identifiers": { "cpe": "cpe:2.3:a:gnu:hello:2.12:*:*:*:*:*:*:*" },
            "homepage": "https://www.gnu.org/software/hello/" } } }"#,
    )
    .unwrap();
    let with_meta = dir.join("meta.cdx.json");
    let meta_arg = meta.to_str().unwrap();
    ok(provenix(
        store,
        &["sbom", "--format", "cyclonedx", "--meta", meta_arg, &b.drv, "-o", with_meta.to_str().unwrap()],
    ));
    assert_valid(python.as_deref(), "cyclonedx", &with_meta);
    let m = read_json(&with_meta);
    let app = cdx_component(&m, &b.drv);
    assert_eq!(app["licenses"], json!([{ "license": { "id": "GPL-3.0-or-later" } }]));
    assert_eq!(app["cpe"], "cpe:2.3:a:gnu:hello:2.12:*:*:*:*:*:*:*");
    assert!(app["properties"].as_array().unwrap().contains(&json!({ "name": "nix:identity", "value": "meta" })));
    assert_ne!(m["serialNumber"], bom["serialNumber"]);
    let meta_spdx = dir.join("meta.spdx.json");
    ok(provenix(store, &["sbom", "--format", "spdx", "--meta", meta_arg, &b.drv, "-o", meta_spdx.to_str().unwrap()]));
    assert_valid(python.as_deref(), "spdx", &meta_spdx);
    let pkg = read_json(&meta_spdx)["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["SPDXID"] == app_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(pkg["licenseDeclared"], "GPL-3.0-or-later");
    assert!(pkg["externalRefs"].as_array().unwrap().contains(&json!({
        "referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": "cpe:2.3:a:gnu:hello:2.12:*:*:*:*:*:*:*" })));

    // A timestamp only when asked; --json gives the summary.
    let o = ok(provenix(
        store,
        &[
            "--json",
            "sbom",
            "--format",
            "spdx",
            "--timestamp",
            "2024-05-01T14:00:00+02:00",
            &b.drv,
            "-o",
            spdx.to_str().unwrap(),
        ],
    ));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (report["components"].as_u64(), report["packages"].as_u64(), report["sources"].as_u64()),
        (Some(4), Some(3), Some(1))
    );
    assert_eq!((report["runtime"].as_u64(), report["scope"].as_str()), (Some(2), Some("buildtime")));
    assert_eq!(read_json(&spdx)["creationInfo"]["created"], "2024-05-01T12:00:00Z");
}

#[test]
fn errors_exit_2_and_name_the_culprit() {
    let Some(h) = NixHarness::new() else { return };
    let built = h.build_two_leaf_closure();
    let drv = h.run_text("nix-store", ["-qd", &built]);
    let store = h.root();
    let dir = h.scratch();
    let out_file = dir.join("never.json");
    let out = out_file.to_str().unwrap();
    let fails = |args: &[&str], culprit: &str| {
        let o = provenix(store, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(culprit), "{args:?}: stderr does not name {culprit}: {}", stderr(&o));
        assert!(!out_file.exists(), "{args:?}: nothing is written on error");
    };
    let missing = "/nix/store/00000000000000000000000000000000-missing.drv";
    fails(&["sbom", "--format", "spdx", missing, "-o", out], missing);
    fails(&["sbom", "--format", "spdx", "/definitely/not/a/store/path", "-o", out], "/definitely/not/a/store/path");
    let bad_meta = dir.join("bad-meta.json");
    std::fs::write(&bad_meta, "{ not json").unwrap();
    fails(&["sbom", "--format", "cyclonedx", "--meta", bad_meta.to_str().unwrap(), &drv, "-o", out], "bad-meta.json");
    let bad_table = dir.join("bad-identities.toml");
    std::fs::write(&bad_table, "[hello]\ncpe = [\"no-colon\"]\n").unwrap();
    fails(
        &["sbom", "--format", "cyclonedx", "--identities", bad_table.to_str().unwrap(), &drv, "-o", out],
        "bad-identities.toml",
    );
    fails(&["sbom", "--format", "cyclonedx", "--timestamp", "yesterday", &drv, "-o", out], "yesterday");
    // An unparsable .drv in the store.
    let bad_drv = "/nix/store/11111111111111111111111111111111-garbage.drv";
    std::fs::write(h.physical(bad_drv), "Derive([(\"out\"").unwrap();
    fails(&["sbom", "--format", "spdx", bad_drv, "-o", out], "11111111111111111111111111111111-garbage.drv");
    // --runtime of a root that was never built.
    let unbuilt = h.instantiate(&format!(
        r#"derivation {{ name = "unbuilt-1.0"; system = "{}"; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; }}"#,
        provenix_testkit::current_system()
    ));
    fails(&["sbom", "--format", "spdx", "--runtime", &unbuilt[0], "-o", out], &unbuilt[0]);
    ok(provenix(store, &["sbom", "--format", "spdx", &unbuilt[0]]));
    // --runtime and --buildtime together is a usage error.
    fails(&["sbom", "--format", "spdx", "--runtime", "--buildtime", &drv, "-o", out], "--buildtime");
    // A directory that does not exist for -o.
    let o = provenix(store, &["sbom", "--format", "spdx", &drv, "-o", "/nonexistent-dir/x.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent-dir/x.json"), "{}", stderr(&o));
}

#[test]
fn without_a_database_buildtime_works_and_runtime_names_the_root() {
    let Some(h) = NixHarness::new() else { return };
    let python = validator();
    let built = h.build_two_leaf_closure();
    let drv = h.run_text("nix-store", ["-qd", &built]);
    // A copy of the closure's .drv files alone, as on a machine with no Nix database.
    let bare = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(bare.path().join("nix/store")).unwrap();
    for path in h.run_text("nix-store", ["-qR", &drv]).lines() {
        std::fs::copy(h.physical(path), bare.path().join(path.trim_start_matches('/'))).unwrap();
    }
    let o = provenix(bare.path(), &["sbom", "--format", "cyclonedx", "--runtime", &drv]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains(&drv) && stderr(&o).contains("Nix database"), "{}", stderr(&o));
    for format in ["cyclonedx", "spdx"] {
        let file = h.scratch().join(format!("bare.{format}.json"));
        let o = ok(provenix(bare.path(), &["sbom", "--format", format, &drv, "-o", file.to_str().unwrap()]));
        assert!(String::from_utf8_lossy(&o.stdout).contains("runtime closure unknown"));
        assert_valid(python.as_deref(), format, &file);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("\"scope\"") && !text.contains("SHA256\""), "no runtime claims, no hashes: {text}");
    }
}

#[test]
fn the_validators_reject_a_broken_sbom() {
    let Some(h) = NixHarness::new() else { return };
    let Some(python) = validator() else { return };
    let built = h.build_two_leaf_closure();
    let drv = h.run_text("nix-store", ["-qd", &built]);
    let dir = h.scratch();
    for (format, field) in [("cyclonedx", "bomFormat"), ("spdx", "SPDXID")] {
        let file = dir.join(format!("good.{format}.json"));
        ok(provenix(h.root(), &["sbom", "--format", format, &drv, "-o", file.to_str().unwrap()]));
        assert_valid(Some(&python), format, &file);
        let mut doc = read_json(&file);
        doc.as_object_mut().unwrap().remove(field).unwrap();
        let broken = dir.join(format!("broken.{format}.json"));
        std::fs::write(&broken, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
        let (code, text) = validate(&python, format, &broken);
        assert_eq!(code, 1, "{format} without {field} must be rejected:\n{text}");
        assert!(text.contains(&format!("'{field}' is a required property")), "{text}");
    }
    // A dangling dependency ref passes the schema but not cyclonedx-python-lib's model.
    let file = dir.join("good.cyclonedx.json");
    let mut doc = read_json(&file);
    doc["dependencies"][0]["dependsOn"] = json!(["/nix/store/00000000000000000000000000000000-nowhere.drv"]);
    let broken = dir.join("dangling.cyclonedx.json");
    std::fs::write(&broken, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let (code, text) = validate(&python, "cyclonedx", &broken);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("INVALID: cyclonedx-python-lib model"), "{text}");
    // An SPDX relationship to a package that is not there: spdx-tools refuses it.
    let file = dir.join("good.spdx.json");
    let mut doc = read_json(&file);
    doc["relationships"][0]["relatedSpdxElement"] = json!("SPDXRef-nowhere");
    let broken = dir.join("dangling.spdx.json");
    std::fs::write(&broken, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let (code, text) = validate(&python, "spdx", &broken);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("INVALID: spdx-tools") && text.contains("SPDXRef-nowhere"), "{text}");
}
