//! Unit tests on a small hand-written store: an app built from a fetched
//! tarball with a patch, a library it keeps at runtime and a build-only tool.
//! Real Nix closures are tested end to end in `provenix-cli/tests/cli_sbom.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use provenix_formats::store_path::{StoreDir, StorePath};
use provenix_store::Store;
use rstest::rstest;
use serde_json::{Value, json};

use super::*;
use crate::identity::{IdentityTable, InventoryOptions, MetaTable, Runtime, inventory};

const SRC_HASH_HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const SRC_HASH_SRI: &str = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

fn p(hash: char, name: &str) -> String {
    format!("/nix/store/{}-{name}", hash.to_string().repeat(32))
}

/// An ATerm derivation: outputs `(name, path, algo, hash)`, input drvs, env.
fn aterm(outputs: &[(&str, &str, &str, &str)], inputs: &[&str], env: &[(&str, &str)]) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let outs: Vec<String> =
        outputs.iter().map(|(n, path, a, h)| format!("({},{},{},{})", q(n), q(path), q(a), q(h))).collect();
    let mut inputs = inputs.to_vec();
    inputs.sort();
    let ins: Vec<String> = inputs.iter().map(|i| format!("({},[\"out\"])", q(i))).collect();
    let mut env: Vec<(&str, &str)> = env.to_vec();
    env.sort();
    let env: Vec<String> = env.iter().map(|(k, v)| format!("({},{})", q(k), q(v))).collect();
    format!("Derive([{}],[{}],[],\"x86_64-linux\",\"/bin/sh\",[],[{}])", outs.join(","), ins.join(","), env.join(","))
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    app: String,
    lib: String,
    tool: String,
    src: String,
    app_out: String,
    patch: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("nix/store");
    std::fs::create_dir_all(&store_dir).unwrap();
    let write = |path: &str, text: &str| {
        std::fs::write(dir.path().join(path.trim_start_matches('/')), text).unwrap();
    };
    let (src, src_out) = (p('s', "hello-2.12.tar.gz.drv"), p('w', "hello-2.12.tar.gz"));
    let (tool, tool_out) = (p('b', "buildtool-1.0.drv"), p('c', "buildtool-1.0"));
    let (lib, lib_out) = (p('l', "libdep-3.1.drv"), p('m', "libdep-3.1"));
    let (app, app_out) = (p('a', "hello-2.12.drv"), p('d', "hello-2.12"));
    let patch = p('f', "fix-CVE-2024-0001.patch");
    write(
        &src,
        &aterm(
            &[("out", &src_out, "sha256", SRC_HASH_HEX)],
            &[],
            &[
                ("builder", "builtin:fetchurl"),
                ("name", "hello-2.12.tar.gz"),
                ("out", &src_out),
                ("outputHash", SRC_HASH_SRI),
                ("outputHashAlgo", "sha256"),
                ("outputHashMode", "flat"),
                ("url", "https://ftp.gnu.org/gnu/hello/hello-2.12.tar.gz"),
            ],
        ),
    );
    write(&tool, &aterm(&[("out", &tool_out, "", "")], &[], &[("name", "buildtool-1.0"), ("out", &tool_out)]));
    let lib_env = [("name", "libdep-3.1"), ("pname", "libdep"), ("version", "3.1"), ("out", lib_out.as_str())];
    write(&lib, &aterm(&[("out", &lib_out, "", "")], &[], &lib_env));
    let app_env = [
        ("name", "hello-2.12"),
        ("pname", "hello"),
        ("version", "2.12"),
        ("out", app_out.as_str()),
        ("patches", patch.as_str()),
        ("src", src_out.as_str()),
    ];
    write(&app, &aterm(&[("out", &app_out, "", "")], &[&lib, &src, &tool], &app_env));
    let store = Store::new(StoreDir::new("/nix/store").unwrap(), Some(dir.path().to_owned()));
    Fixture { _dir: dir, store, app, lib, tool, src, app_out, patch }
}

fn options(meta: Option<&str>) -> InventoryOptions {
    InventoryOptions {
        identities: IdentityTable::parse("[hello]\ncpe = [\"gnu:hello\", \"hello_project:hello\"]\n", Path::new("t"))
            .unwrap(),
        meta: meta.map(|m| MetaTable::parse(m.as_bytes(), Path::new("meta.json")).unwrap()),
        ..InventoryOptions::default()
    }
}

const NAR_APP: &str = "sha256-1B2M2Y8AsgTpgAmY7PhCfg1B2M2Y8AsgTpgAmY7PhCc=";

/// The inventory of the app, with NAR hashes and runtime edges filled in as the database would.
fn inventory_of(f: &Fixture, meta: Option<&str>, runtime: bool) -> Inventory {
    let root = StorePath::from_base_name(f.app.trim_start_matches("/nix/store/")).unwrap();
    let mut inv = inventory(&f.store, None, &[root], &options(meta)).unwrap();
    let node = |drv: &str| inv.components.iter().position(|c| c.drv_path == drv).unwrap();
    let (app, lib) = (node(&f.app), node(&f.lib));
    inv.components[app].outputs[0].nar_hash = Some(NAR_APP.to_owned());
    inv.components[lib].outputs[0].nar_hash = Some(SRC_HASH_SRI.to_owned());
    if runtime {
        let n = inv.components.len();
        let mut rt = Runtime { edges: vec![Vec::new(); n], in_closure: vec![false; n], ..Runtime::default() };
        rt.edges[app] = vec![inv.graph.nodes().nth(lib).unwrap()];
        rt.in_closure[app] = true;
        rt.in_closure[lib] = true;
        inv.components[app].runtime = true;
        inv.components[lib].runtime = true;
        inv.runtime = Some(rt);
    }
    inv
}

fn doc(inv: &Inventory, format: Format, scope: Scope) -> (Value, Sbom) {
    let sbom = write(inv, format, &SbomOptions { scope, timestamp: None, ..SbomOptions::default() }).unwrap();
    (serde_json::from_slice(&sbom.bytes).unwrap(), sbom)
}

fn by_ref<'a>(bom: &'a Value, r: &str) -> &'a Value {
    if bom["metadata"]["component"]["bom-ref"] == r {
        return &bom["metadata"]["component"];
    }
    bom["components"].as_array().unwrap().iter().find(|c| c["bom-ref"] == r).unwrap_or_else(|| panic!("{r}"))
}

fn props(c: &Value, name: &str) -> Vec<String> {
    c["properties"]
        .as_array()
        .map(|a| a.iter().filter(|p| p["name"] == name).map(|p| p["value"].as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn cyclonedx_maps_hashes_sources_patches_and_edges() {
    let f = fixture();
    let inv = inventory_of(&f, None, true);
    let (bom, sbom) = doc(&inv, Format::CycloneDx, Scope::Buildtime);
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.6");
    assert_eq!(bom["version"], 1);
    assert!(bom["metadata"].get("timestamp").is_none(), "no clock unless asked");
    assert_eq!(bom["metadata"]["tools"]["components"][0]["name"], "provenix");

    let app = by_ref(&bom, &f.app);
    assert_eq!(bom["metadata"]["component"]["bom-ref"], f.app.as_str(), "one root is the subject");
    assert_eq!(app["type"], "application");
    assert_eq!((app["name"].as_str(), app["version"].as_str()), (Some("hello"), Some("2.12")));
    assert_eq!(app["purl"], "pkg:nix/hello@2.12");
    assert_eq!(app["cpe"], "cpe:2.3:a:gnu:hello:2.12:*:*:*:*:*:*:*");
    assert_eq!(props(app, "nix:cpe"), ["cpe:2.3:a:hello_project:hello:2.12:*:*:*:*:*:*:*"]);
    let nar_hex = Hash::parse_sri(NAR_APP).unwrap().to_base16();
    assert_eq!(app["hashes"], json!([{ "alg": "SHA-256", "content": nar_hex }]));
    assert_eq!(props(app, "nix:output:out"), [f.app_out.as_str()]);
    assert_eq!(props(app, "nix:identity"), ["table"]);
    assert_eq!(app["scope"], "required");
    assert_eq!(
        app["externalReferences"],
        json!([{ "url": "https://ftp.gnu.org/gnu/hello/hello-2.12.tar.gz", "type": "source-distribution" }])
    );
    assert_eq!(
        app["pedigree"]["patches"],
        json!([{
            "type": "unofficial",
            "diff": { "url": f.patch },
            "resolves": [{ "type": "security", "id": "CVE-2024-0001",
                           "source": { "name": "NVD", "url": "https://nvd.nist.gov/vuln/detail/CVE-2024-0001" } }]
        }])
    );

    let src = by_ref(&bom, &f.src);
    assert_eq!(src["type"], "file");
    assert_eq!(src["name"], "hello-2.12.tar.gz");
    assert_eq!(src["hashes"], json!([{ "alg": "SHA-256", "content": SRC_HASH_HEX }]));
    assert_eq!(src["externalReferences"][0]["type"], "distribution");
    assert!(src.get("cpe").is_none(), "a source carries no CPE: its package does");
    assert_eq!(
        src["purl"],
        format!(
            "pkg:generic/hello-2.12.tar.gz?checksum=sha256:{SRC_HASH_HEX}&download_url=https%3A%2F%2Fftp.gnu.org%2Fgnu%2Fhello%2Fhello-2.12.tar.gz"
        )
    );
    assert_eq!(src["scope"], "excluded");
    let tool = by_ref(&bom, &f.tool);
    assert_eq!((tool["type"].as_str(), tool["scope"].as_str()), (Some("library"), Some("excluded")));
    assert_eq!(props(tool, "nix:identity"), ["unknown"]);
    assert!(tool.get("hashes").is_none(), "not realised: no hash");

    let deps = bom["dependencies"].as_array().unwrap();
    assert_eq!(deps.len(), 4, "every component has an entry");
    let app_deps = deps.iter().find(|d| d["ref"] == f.app.as_str()).unwrap();
    let mut want = vec![f.lib.clone(), f.src.clone(), f.tool.clone()];
    want.sort();
    assert_eq!(app_deps["dependsOn"], json!(want));
    assert_eq!(sbom.summary.components, 4);
    assert_eq!((sbom.summary.packages, sbom.summary.sources), (3, 1));
    assert_eq!(sbom.summary.unknown_identities, 2);
    assert_eq!(sbom.summary.runtime, Some(2));
    assert_eq!(sbom.summary.edges, 3);
    assert_eq!(sbom.summary.serial, bom["serialNumber"]);
}

#[test]
fn runtime_scope_keeps_the_runtime_closure_and_its_edges() {
    let f = fixture();
    let inv = inventory_of(&f, None, true);
    let (bom, sbom) = doc(&inv, Format::CycloneDx, Scope::Runtime);
    let refs: Vec<&str> =
        bom["components"].as_array().unwrap().iter().map(|c| c["bom-ref"].as_str().unwrap()).collect();
    assert_eq!(refs, [f.lib.as_str()]);
    assert_eq!(bom["dependencies"], json!([{ "ref": f.app, "dependsOn": [f.lib] }, { "ref": f.lib, "dependsOn": [] }]));
    assert_eq!(sbom.summary.runtime, Some(2));
    let (spdx, _) = doc(&inv, Format::Spdx, Scope::Runtime);
    assert_eq!(spdx["packages"].as_array().unwrap().len(), 2);
    assert_eq!(spdx["relationships"].as_array().unwrap().len(), 2);
    assert!(props(&bom["metadata"], "nix:scope") == ["runtime"]);
}

#[test]
fn runtime_scope_without_runtime_information_names_the_root() {
    let f = fixture();
    let inv = inventory_of(&f, None, false);
    let err =
        write(&inv, Format::Spdx, &SbomOptions { scope: Scope::Runtime, timestamp: None, ..SbomOptions::default() })
            .unwrap_err();
    assert!(err.to_string().contains(&f.app), "{err}");
    let mut inv = inventory_of(&f, None, true);
    inv.runtime.as_mut().unwrap().unrealised_roots = vec![format!("{}!out", f.app)];
    let err = write(
        &inv,
        Format::CycloneDx,
        &SbomOptions { scope: Scope::Runtime, timestamp: None, ..SbomOptions::default() },
    )
    .unwrap_err();
    assert!(err.to_string().contains(&format!("{}!out is not realised", f.app)), "{err}");
    // Buildtime with incomplete runtime information: no scope is claimed.
    let (bom, sbom) = doc(&inv, Format::CycloneDx, Scope::Buildtime);
    assert!(bom["metadata"]["component"].get("scope").is_none());
    assert_eq!(sbom.summary.runtime, None);
}

#[test]
fn spdx_maps_packages_licenses_and_relationships() {
    let f = fixture();
    let meta = r#"{ "hello": { "name": "hello-2.12", "meta": {
        "license": [ { "spdxId": "GPL-3.0-or-later" }, { "fullName": "Some Custom License (v2)" } ],
        "homepage": "https://www.gnu.org/software/hello/", "description": "A friendly greeting" } } }"#;
    let inv = inventory_of(&f, Some(meta), true);
    let (doc, sbom) = doc(&inv, Format::Spdx, Scope::Buildtime);
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["dataLicense"], "CC0-1.0");
    assert_eq!(doc["SPDXID"], "SPDXRef-DOCUMENT");
    assert_eq!(doc["creationInfo"]["created"], "1970-01-01T00:00:00Z");
    assert_eq!(doc["creationInfo"]["creators"], json!([format!("Tool: provenix-{TOOL_VERSION}")]));
    let ns = doc["documentNamespace"].as_str().unwrap();
    assert!(ns.starts_with(spdx::NAMESPACE_PREFIX) && !ns.ends_with(NIL_UUID), "{ns}");
    assert_eq!(sbom.summary.serial, ns);

    let app_id = format!("SPDXRef-hello-2.12-{}", "a".repeat(32));
    let pkgs = doc["packages"].as_array().unwrap();
    let app = pkgs.iter().find(|p| p["SPDXID"] == app_id.as_str()).unwrap();
    assert_eq!(app["primaryPackagePurpose"], "APPLICATION");
    assert_eq!(app["downloadLocation"], "https://ftp.gnu.org/gnu/hello/hello-2.12.tar.gz");
    assert_eq!(app["filesAnalyzed"], false);
    let nar_hex = Hash::parse_sri(NAR_APP).unwrap().to_base16();
    assert_eq!(app["checksums"], json!([{ "algorithm": "SHA256", "checksumValue": nar_hex }]));
    let license_ref = app["licenseDeclared"].as_str().unwrap().strip_prefix("GPL-3.0-or-later AND ").unwrap();
    assert!(license_ref.starts_with("LicenseRef-Some-Custom-License--v2--"), "{license_ref}");
    assert_eq!(app["licenseConcluded"], "NOASSERTION");
    assert_eq!(doc["hasExtractedLicensingInfos"][0]["licenseId"], license_ref);
    assert_eq!(doc["hasExtractedLicensingInfos"][0]["name"], "Some Custom License (v2)");
    assert_eq!(app["homepage"], "https://www.gnu.org/software/hello/");
    assert_eq!(app["summary"], "A friendly greeting");
    assert!(app["comment"].as_str().unwrap().contains("patch: fix-CVE-2024-0001.patch resolves CVE-2024-0001"));
    let refs = app["externalRefs"].as_array().unwrap();
    assert_eq!(
        refs[0],
        json!({ "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:nix/hello@2.12" })
    );
    assert_eq!(refs.iter().filter(|r| r["referenceType"] == "cpe23Type").count(), 2);
    let src = pkgs.iter().find(|p| p["primaryPackagePurpose"] == "SOURCE").unwrap();
    assert_eq!(src["checksums"], json!([{ "algorithm": "SHA256", "checksumValue": SRC_HASH_HEX }]));
    let tool = pkgs.iter().find(|p| p["name"] == "buildtool").unwrap();
    assert_eq!(tool["downloadLocation"], "NOASSERTION");
    assert_eq!(tool["licenseDeclared"], "NOASSERTION");

    let rels: Vec<(String, String, String)> = doc["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_owned();
            (s("spdxElementId"), s("relationshipType"), s("relatedSpdxElement"))
        })
        .collect();
    assert_eq!(rels[0], ("SPDXRef-DOCUMENT".into(), "DESCRIBES".into(), app_id.clone()));
    let depends: Vec<_> = rels.iter().skip(1).collect();
    assert_eq!(depends.len(), 3);
    assert!(depends.iter().all(|(a, t, _)| *a == app_id && t == "DEPENDS_ON"));
    assert!(depends.windows(2).all(|w| w[0] < w[1]), "sorted");
}

#[test]
fn same_inventory_same_bytes_and_any_change_changes_the_serial() {
    let f = fixture();
    let inv = inventory_of(&f, None, true);
    for format in [Format::CycloneDx, Format::Spdx] {
        let a = write(&inv, format, &SbomOptions::default()).unwrap();
        let b = write(&inventory_of(&f, None, true), format, &SbomOptions::default()).unwrap();
        assert_eq!(a.bytes, b.bytes, "{format}");
        let runtime =
            write(&inv, format, &SbomOptions { scope: Scope::Runtime, timestamp: None, ..SbomOptions::default() })
                .unwrap();
        let timed = SbomOptions {
            scope: Scope::Buildtime,
            timestamp: Some(Timestamp::from_unix(1_700_000_000)),
            ..SbomOptions::default()
        };
        let timed = write(&inv, format, &timed).unwrap();
        let meta = r#"[{ "name": "libdep-3.1", "meta": { "license": { "spdxId": "MIT" } } }]"#;
        let with_meta = write(&inventory_of(&f, Some(meta), true), format, &SbomOptions::default()).unwrap();
        let serials = [&a, &runtime, &timed, &with_meta].map(|s| s.summary.serial.clone());
        let unique: std::collections::BTreeSet<&String> = serials.iter().collect();
        assert_eq!(unique.len(), 4, "{format}: {serials:?}");
        assert!(String::from_utf8(timed.bytes).unwrap().contains("2023-11-14T22:13:20Z"));
    }
}

#[test]
fn several_roots_get_one_subject_that_depends_on_each() {
    let f = fixture();
    let roots: Vec<StorePath> = [&f.app, &f.tool]
        .iter()
        .map(|d| StorePath::from_base_name(d.trim_start_matches("/nix/store/")).unwrap())
        .collect();
    let inv = inventory(&f.store, None, &roots, &options(None)).unwrap();
    let (bom, _) = doc(&inv, Format::CycloneDx, Scope::Buildtime);
    assert_eq!(bom["metadata"]["component"]["bom-ref"], cyclonedx::ROOTS_REF);
    assert_eq!(bom["metadata"]["component"]["name"], "hello-2.12 + buildtool-1.0");
    assert_eq!(bom["components"].as_array().unwrap().len(), 4);
    let subject = bom["dependencies"].as_array().unwrap().iter().find(|d| d["ref"] == cyclonedx::ROOTS_REF).unwrap();
    let mut want = vec![f.app.clone(), f.tool.clone()];
    want.sort();
    assert_eq!(subject["dependsOn"], json!(want));
    let (spdx, _) = doc(&inv, Format::Spdx, Scope::Buildtime);
    let describes = spdx["relationships"].as_array().unwrap().iter().filter(|r| r["relationshipType"] == "DESCRIBES");
    assert_eq!(describes.count(), 2);
}

#[test]
fn spdx_ids_are_idstrings_and_unique_per_drv() {
    assert_eq!(
        spdx::spdx_id("/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-gtk+3-3.24.drv"),
        "SPDXRef-gtk-3-3.24-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    );
    assert_ne!(
        spdx::spdx_id("/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x_1.drv"),
        spdx::spdx_id("/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-x_1.drv")
    );
}

#[test]
fn uuids_are_version_8_rfc_9562() {
    let u = uuid_of(b"x");
    assert_eq!(u.len(), 36);
    assert_eq!(u.as_bytes()[14], b'8');
    assert!(matches!(u.as_bytes()[19], b'8' | b'9' | b'a' | b'b'), "{u}");
    assert_ne!(uuid_of(b"x"), uuid_of(b"y"));
}

#[rstest]
#[case::utc("2024-05-01T12:00:00Z", "2024-05-01T12:00:00Z")]
#[case::fraction("2024-05-01T12:00:00.123456Z", "2024-05-01T12:00:00Z")]
#[case::offset("2024-05-01T14:30:00+02:30", "2024-05-01T12:00:00Z")]
#[case::negative_offset_next_day("2024-12-31T23:00:00-01:00", "2025-01-01T00:00:00Z")]
#[case::leap_day("2024-02-29t00:00:00z", "2024-02-29T00:00:00Z")]
#[case::epoch("1970-01-01 00:00:00Z", "1970-01-01T00:00:00Z")]
#[case::before_epoch("1969-12-31T23:59:59Z", "1969-12-31T23:59:59Z")]
fn timestamps_parse_rfc3339_and_print_utc(#[case] text: &str, #[case] want: &str) {
    assert_eq!(Timestamp::parse(text).unwrap().to_string(), want);
}

#[rstest]
#[case::date_only("2024-05-01", "not an RFC 3339")]
#[case::no_zone("2024-05-01T12:00:00", "not an RFC 3339")]
#[case::not_leap("2023-02-29T00:00:00Z", "day is out of range")]
#[case::month("2024-13-01T00:00:00Z", "month is out of range")]
#[case::hour("2024-01-01T24:00:00Z", "time is out of range")]
#[case::junk_after("2024-01-01T00:00:00Zjunk", "not an RFC 3339")]
#[case::empty_fraction("2024-01-01T00:00:00.Z", "not an RFC 3339")]
fn bad_timestamps_name_the_text_and_the_problem(#[case] text: &str, #[case] want: &str) {
    let err = Timestamp::parse(text).unwrap_err().to_string();
    assert!(err.contains(text) && err.contains(want), "{err}");
}

#[test]
fn timestamps_round_trip_over_centuries() {
    for unix in [-62_135_596_800i64, -1, 0, 951_782_400, 4_102_444_800, 253_402_300_799] {
        let t = Timestamp::from_unix(unix);
        assert_eq!(Timestamp::parse(&t.to_string()).unwrap(), t, "{t}");
    }
}
