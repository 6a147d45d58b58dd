//! `provenix vulns` end to end on identities that need more than a `pname`:
//! Python packages under every interpreter prefix nixpkgs uses (NVD files
//! urllib3 under `python:urllib3`), and curl's own OSV feed (no package, a
//! SEMVER range beside a GIT range on the curl repository) with a patch
//! named after the CVE alias. Closures are instantiated by real Nix in a
//! throwaway store; the data is written in the real NVD 2.0 and OSV formats.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

use provenix_testkit::NixHarness;
use serde_json::{Value, json};

fn provenix(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_provenix")).arg("--store").arg(store).args(args).output().expect("run provenix")
}

const CLOSURE: &str = r#"
let
  sys = builtins.currentSystem;
  pkg = name: attrs: derivation ({
    inherit name; system = sys; builder = "/bin/sh"; args = [ "-c" "echo $buildInputs > $out" ];
  } // attrs);
  # buildPythonPackage: the interpreter in the name, not in pname.
  urllib3-312 = pkg "python3.12-urllib3-2.0.7" { pname = "urllib3"; version = "2.0.7"; };
  # The prefix in pname too, without a dot.
  urllib3-311 = pkg "python311-urllib3-2.0.7" { pname = "python311-urllib3"; version = "2.0.7"; };
  # No pname at all: Nix's split of the name.
  urllib3-313 = pkg "python313-urllib3-2.0.7" { };
  # Fixed.
  urllib3-new = pkg "python3.12-urllib3-2.2.2" { pname = "urllib3"; version = "2.2.2"; };
  curl = pkg "curl-8.3.0" { pname = "curl"; version = "8.3.0"; };
  curl-patched = pkg "curl-8.3.0" {
    pname = "curl"; version = "8.3.0";
    patches = [ (builtins.toFile "CVE-2023-38545.patch" "--- a/lib/socks.c\n+++ b/lib/socks.c\n") ];
  };
  curl-fixed = pkg "curl-8.4.0" { pname = "curl"; version = "8.4.0"; };
in
  pkg "app-1.0" { pname = "app"; version = "1.0";
    buildInputs = [ urllib3-312 urllib3-311 urllib3-313 urllib3-new curl curl-patched curl-fixed ]; }
"#;

/// NVD's entry for CVE-2024-37891: urllib3 under `python:urllib3`.
fn nvd_page() -> Value {
    let m = |extra: Value| {
        let mut m = json!({ "vulnerable": true, "criteria": "cpe:2.3:a:python:urllib3:*:*:*:*:*:python:*:*",
                            "matchCriteriaId": "00000000-0000-0000-0000-000000000001" });
        m.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        m
    };
    json!({
        "resultsPerPage": 1, "startIndex": 0, "totalResults": 1, "format": "NVD_CVE", "version": "2.0",
        "timestamp": "2024-06-21T00:00:00.000",
        "vulnerabilities": [{ "cve": {
            "id": "CVE-2024-37891", "sourceIdentifier": "security-advisories@github.com",
            "published": "2024-06-17T20:15:13.203", "lastModified": "2024-06-20T12:44:01.637", "vulnStatus": "Analyzed",
            "descriptions": [{ "lang": "en", "value": "urllib3's Proxy-Authorization request header isn't stripped during cross-origin redirects" }],
            "metrics": { "cvssMetricV31": [{ "source": "nvd@nist.gov", "type": "Primary",
                "cvssData": { "version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:H/PR:H/UI:N/S:U/C:H/I:N/A:N",
                              "baseScore": 4.4, "baseSeverity": "MEDIUM" },
                "exploitabilityScore": 0.7, "impactScore": 3.6 }] },
            "configurations": [{ "nodes": [{ "operator": "OR", "negate": false, "cpeMatch": [
                m(json!({ "versionEndExcluding": "1.26.19" })),
                m(json!({ "versionStartIncluding": "2.0.0", "versionEndExcluding": "2.2.2" })) ] }] }],
            "references": [{ "url": "https://github.com/urllib3/urllib3/security/advisories/GHSA-34jh-p97f-mpxf",
                             "source": "security-advisories@github.com" }]
        } }]
    })
}

/// curl's own OSV record for CVE-2023-38545, as `https://curl.se/docs/CVE-2023-38545.json` has it.
fn curl_record() -> Value {
    json!({
        "schema_version": "1.5.0", "id": "CURL-CVE-2023-38545", "aliases": ["CVE-2023-38545"],
        "summary": "SOCKS5 heap buffer overflow", "modified": "2024-07-02T09:06:58.00Z",
        "published": "2023-10-11T08:00:00.00Z",
        "database_specific": { "package": "curl", "URL": "https://curl.se/docs/CVE-2023-38545.json",
            "www": "https://curl.se/docs/CVE-2023-38545.html", "CWE": { "id": "CWE-122", "desc": "Heap-based Buffer Overflow" },
            "last_affected": "8.3.0", "severity": "High" },
        "affected": [{ "ranges": [
            { "type": "SEMVER", "events": [{ "introduced": "7.69.0" }, { "fixed": "8.4.0" }] },
            { "type": "GIT", "repo": "https://github.com/curl/curl.git", "events": [
                { "introduced": "4a4b63daaa01ef59b131d91e8e6e6dfe275c0f08" },
                { "fixed": "fb4415d8aee6c1045be932a34fe6107c2f5ed147" } ] } ] }],
        "details": "This flaw makes curl overflow a heap based buffer in the SOCKS5 proxy handshake."
    })
}

/// `id -> {name pname version}` of a report list.
fn hits(report: &Value, list: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in report[list].as_array().unwrap() {
        for c in f["components"].as_array().unwrap() {
            let what = format!("{} {}", c["name"].as_str().unwrap(), c["pname"].as_str().unwrap());
            out.entry(f["id"].as_str().unwrap().to_owned()).or_default().insert(what);
        }
    }
    out
}

#[test]
fn python_prefixes_and_curls_own_feed_are_found_and_an_alias_patch_suppresses() {
    let Some(h) = NixHarness::new() else { return };
    let drv = h.instantiate(CLOSURE).remove(0);
    let db = h.scratch().join("vulndb");
    std::fs::create_dir_all(db.join("nvd")).unwrap();
    std::fs::create_dir_all(db.join("curl")).unwrap();
    std::fs::write(db.join("nvd/page-0.json"), serde_json::to_vec(&nvd_page()).unwrap()).unwrap();
    std::fs::write(db.join("curl/CVE-2023-38545.json"), serde_json::to_vec(&curl_record()).unwrap()).unwrap();

    let out = provenix(h.root(), &["vulns", &drv, "--vuln-db", db.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let set = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<String>>();
    assert_eq!(
        hits(&report, "findings"),
        BTreeMap::from([
            (
                "CVE-2024-37891".to_owned(),
                set(&[
                    "python3.12-urllib3-2.0.7 urllib3",
                    "python311-urllib3-2.0.7 python311-urllib3",
                    "python313-urllib3-2.0.7 python313-urllib3",
                ])
            ),
            ("CVE-2023-38545".to_owned(), set(&["curl-8.3.0 curl"])),
        ]),
        "{report:#}"
    );
    assert_eq!(hits(&report, "patched"), BTreeMap::from([("CVE-2023-38545".to_owned(), set(&["curl-8.3.0 curl"]))]));
    let patched = &report["patched"][0]["components"][0];
    assert_eq!(patched["patch"], "CVE-2023-38545.patch");
    let curl = report["findings"].as_array().unwrap().iter().find(|f| f["id"] == "CVE-2023-38545").unwrap();
    assert_eq!(curl["aliases"], json!(["CURL-CVE-2023-38545"]));
    assert_eq!(curl["components"][0]["fixed"], "8.4.0");
    assert_eq!(curl["components"][0]["matched"]["kind"], "repoRange");

    // The SBOM gives every spelling of urllib3 the same CPE and PyPI package.
    let sbom = provenix(h.root(), &["sbom", &drv, "--format", "cyclonedx"]);
    assert!(sbom.status.success(), "{}", String::from_utf8_lossy(&sbom.stderr));
    let bom: Value = serde_json::from_slice(&sbom.stdout).unwrap();
    let text = bom.to_string();
    for version in ["2.0.7", "2.2.2"] {
        assert!(text.contains(&format!("cpe:2.3:a:python:urllib3:{version}:")), "{version}");
        assert!(text.contains(&format!("pkg:pypi/urllib3@{version}")), "{version}");
    }
}
