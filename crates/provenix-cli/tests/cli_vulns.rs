//! `provenix vulns` end to end: closures instantiated (and one built) by
//! real Nix in throwaway stores, against vulnerability data the tests write
//! in the real NVD CVE API 2.0, CVE JSON 5 and OSV formats, with a case for
//! every matching rule and its edge.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use provenix_testkit::NixHarness;
use serde_json::{Value, json};

fn provenix(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_provenix")).arg("--store").arg(store).args(args).output().expect("run provenix")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", String::from_utf8_lossy(&o.stdout), stderr(o)))
}

/// A fixed-output derivation that is only instantiated, never built.
const PRELUDE: &str = r#"
let
  sys = builtins.currentSystem;
  fod = name: url: derivation {
    inherit name; system = sys; builder = "/bin/sh"; args = [ "-c" "exit 1" ];
    urls = [ url ]; outputHashMode = "flat"; outputHashAlgo = "sha256";
    outputHash = builtins.hashString "sha256" url;
  };
  pkg = pname: version: extra: derivation ({
    name = "${pname}-${version}"; inherit pname version; system = sys; builder = "/bin/sh";
    args = [ "-c" "echo $buildInputs > $out" ];
  } // extra);
"#;

/// Every package a rule is tested on, under one root `app`.
fn closure_expr() -> String {
    format!(
        r#"{PRELUDE}
  xz = pkg "xz" "5.6.0" {{ src = fod "xz-5.6.0.tar.gz" "https://github.com/tukaani-project/xz/releases/download/v5.6.0/xz-5.6.0.tar.gz"; }};
  openssl = pkg "openssl" "1.1.1s" {{ patches = [ (builtins.toFile "fix-CVE-2024-12345.patch" "--- a\n+++ b\n") ]; }};
  foo = pkg "foo" "2.0-rc1" {{ }};
  bar = pkg "bar" "2.0" {{ }};
  firefox = pkg "firefox" "153.0" {{ }};
  curl = pkg "curl" "8.0.0" {{ }};
  zlib = pkg "zlib" "1.3" {{ }};
  sqlite = pkg "sqlite" "3.40.0" {{ }};
  requests = pkg "python3.12-requests" "2.31.0" {{ src = fod "requests-2.31.0.tar.gz" "https://files.pythonhosted.org/packages/source/r/requests/requests-2.31.0.tar.gz"; }};
  libfoo = pkg "libfoo" "1.2.3" {{ src = fod "source" "https://github.com/example/libfoo/archive/v1.2.3.tar.gz"; }};
  mystery = pkg "mystery" "0.1" {{ }};
  lib = pkg "lib" "1.0" {{ buildInputs = [ xz ]; }};
in
  pkg "app" "1.0" {{ buildInputs = [ lib openssl foo bar firefox curl zlib sqlite requests libfoo mystery ]; }}
"#
    )
}

/// `foo` and `bar` are not in the built-in table; a user file names them.
const IDENTITIES: &str = "[foo]\ncpe = [\"foo_project:foo\"]\n\n[bar]\ncpe = [\"foo_project:bar\"]\n";

fn cpe(vendor: &str, product: &str, version: &str) -> String {
    format!("cpe:2.3:a:{vendor}:{product}:{version}:*:*:*:*:*:*:*")
}

/// One cpeMatch entry; `bounds` are versionStart/End… keys.
fn cpe_match(criteria: &str, vulnerable: bool, bounds: &[(&str, &str)]) -> Value {
    let mut m = json!({ "vulnerable": vulnerable, "criteria": criteria, "matchCriteriaId": "00000000-0000-0000-0000-000000000000" });
    for (k, v) in bounds {
        m[*k] = json!(v);
    }
    m
}

/// An NVD 2.0 `cve` object with one OR node of `matches`.
fn nvd(id: &str, score: f64, matches: Vec<Value>) -> Value {
    nvd_config(id, score, json!([{ "nodes": [{ "operator": "OR", "negate": false, "cpeMatch": matches }] }]))
}

fn nvd_config(id: &str, score: f64, configurations: Value) -> Value {
    json!({ "cve": {
        "id": id, "sourceIdentifier": "cve@mitre.org", "published": "2024-03-29T17:15:21.150", "lastModified": "2024-04-01T00:00:00.000",
        "vulnStatus": "Analyzed",
        "descriptions": [{ "lang": "en", "value": format!("test entry {id}") }],
        "metrics": { "cvssMetricV31": [{ "source": "nvd@nist.gov", "type": "Primary",
            "cvssData": { "version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "baseScore": score,
                          "baseSeverity": if score >= 9.0 { "CRITICAL" } else if score >= 7.0 { "HIGH" } else { "MEDIUM" } },
            "exploitabilityScore": 3.9, "impactScore": 5.9 }] },
        "configurations": configurations,
        "references": [{ "url": format!("https://example.org/{id}"), "source": "cve@mitre.org" }],
    } })
}

fn nvd_page(entries: Vec<Value>) -> Value {
    json!({ "resultsPerPage": entries.len(), "startIndex": 0, "totalResults": entries.len(), "format": "NVD_CVE",
            "version": "2.0", "timestamp": "2024-04-01T00:00:00.000", "vulnerabilities": entries })
}

/// The NVD page: one entry per rule and edge (ids say what they test).
fn nvd_entries() -> Vec<Value> {
    let start_incl = [("versionStartIncluding", "5.6.0"), ("versionEndExcluding", "5.6.2")];
    let mut rejected = nvd("CVE-2024-9001", 9.8, vec![cpe_match(&cpe("zlib", "zlib", "*"), true, &[])]);
    rejected["cve"]["vulnStatus"] = json!("Rejected");
    vec![
        // Inclusive start bound exactly at the version: a hit.
        nvd("CVE-2024-3094", 10.0, vec![cpe_match(&cpe("tukaani", "xz", "*"), true, &start_incl)]),
        // Exclusive start bound at the version: one past the edge, no hit.
        nvd(
            "CVE-2024-0101",
            7.5,
            vec![cpe_match(&cpe("tukaani", "xz", "*"), true, &[("versionStartExcluding", "5.6.0")])],
        ),
        // Letter suffix: 1.1.1s < 1.1.1t, a hit.
        nvd(
            "CVE-2023-0286",
            7.4,
            vec![cpe_match(&cpe("openssl", "openssl", "*"), true, &[("versionEndExcluding", "1.1.1t")])],
        ),
        // Inclusive end bound one below: 1.1.1s > 1.1.1r, no hit.
        nvd(
            "CVE-2022-0778",
            7.5,
            vec![cpe_match(&cpe("openssl", "openssl", "*"), true, &[("versionEndIncluding", "1.1.1r")])],
        ),
        // Same product, other vendor: no hit.
        nvd("CVE-2024-0202", 9.8, vec![cpe_match(&cpe("othervendor", "openssl", "1.1.1s"), true, &[])]),
        // Patched by fix-CVE-2024-12345.patch: suppressed, reported.
        nvd("CVE-2024-12345", 8.1, vec![cpe_match(&cpe("openssl", "openssl", "1.1.1s"), true, &[])]),
        // A prefix of the patched id: not suppressed.
        nvd("CVE-2024-1234", 6.5, vec![cpe_match(&cpe("openssl", "openssl", "1.1.1s"), true, &[])]),
        // rc ordering: 2.0-rc1 < 2.0, a hit for foo; bar is 2.0, no hit.
        nvd(
            "CVE-2024-0303",
            7.0,
            vec![cpe_match(&cpe("foo_project", "foo", "*"), true, &[("versionEndExcluding", "2.0")])],
        ),
        nvd(
            "CVE-2024-0304",
            7.0,
            vec![cpe_match(&cpe("foo_project", "bar", "*"), true, &[("versionEndExcluding", "2.0")])],
        ),
        // Missing trailing zeros: 153.0 == 153.0.0, a hit.
        nvd("CVE-2024-0405", 8.8, vec![cpe_match(&cpe("mozilla", "firefox", "153.0.0"), true, &[])]),
        // Windows-only AND configuration: no hit on a Linux store.
        nvd_config(
            "CVE-2024-0506",
            9.0,
            json!([{ "operator": "AND", "nodes": [
                { "operator": "OR", "negate": false, "cpeMatch": [cpe_match(&cpe("haxx", "curl", "8.0.0"), true, &[])] },
                { "operator": "OR", "negate": false, "cpeMatch": [cpe_match("cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*", false, &[])] },
            ] }]),
        ),
        // The same with a Linux platform: a hit.
        nvd_config(
            "CVE-2024-0507",
            5.3,
            json!([{ "operator": "AND", "nodes": [
                { "operator": "OR", "negate": false, "cpeMatch": [cpe_match(&cpe("haxx", "curl", "*"), true, &[("versionEndIncluding", "8.0.0")])] },
                { "operator": "OR", "negate": false, "cpeMatch": [cpe_match("cpe:2.3:o:linux:linux_kernel:-:*:*:*:*:*:*:*", false, &[])] },
            ] }]),
        ),
        // Unbounded wildcard: every version, a hit (whitelisted below).
        nvd("CVE-2024-0608", 5.0, vec![cpe_match(&cpe("zlib", "zlib", "*"), true, &[])]),
        rejected,
    ]
}

fn cve5(id: &str, vendor: &str, product: &str, versions: Value) -> Value {
    json!({
        "dataType": "CVE_RECORD", "dataVersion": "5.1",
        "cveMetadata": { "cveId": id, "assignerOrgId": "00000000-0000-0000-0000-000000000000", "state": "PUBLISHED",
                         "datePublished": "2024-01-01T00:00:00.000Z" },
        "containers": { "cna": {
            "providerMetadata": { "orgId": "00000000-0000-0000-0000-000000000000" },
            "descriptions": [{ "lang": "en", "value": format!("test record {id}") }],
            "affected": [{ "vendor": vendor, "product": product, "defaultStatus": "unaffected", "versions": versions }],
            "metrics": [{ "cvssV3_1": { "version": "3.1", "baseScore": 6.1, "baseSeverity": "MEDIUM",
                                         "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N" } }],
            "references": [{ "url": format!("https://example.org/{id}") }],
        } },
    })
}

fn osv(id: &str, aliases: &[&str], affected: Value) -> Value {
    json!({ "schema_version": "1.6.0", "id": id, "modified": "2024-05-01T00:00:00Z", "published": "2024-05-01T00:00:00Z",
            "aliases": aliases, "summary": format!("test advisory {id}"),
            "severity": [{ "type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:H/UI:R/S:U/C:H/I:N/A:N" }],
            "affected": affected, "references": [{ "type": "ADVISORY", "url": format!("https://example.org/{id}") }] })
}

/// Writes the database directory: one NVD page, CVE 5 records, OSV records.
fn write_db(dir: &Path) {
    std::fs::create_dir_all(dir.join("nvd")).unwrap();
    std::fs::create_dir_all(dir.join("cve5/2024")).unwrap();
    std::fs::create_dir_all(dir.join("osv")).unwrap();
    let write = |rel: &str, v: &Value| std::fs::write(dir.join(rel), serde_json::to_vec_pretty(v).unwrap()).unwrap();
    write("nvd/page-0.json", &nvd_page(nvd_entries()));
    // The same CVE as the NVD entry: one finding, from two files.
    write(
        "cve5/2024/CVE-2024-3094.json",
        &cve5(
            "CVE-2024-3094",
            "tukaani",
            "xz",
            json!([{ "version": "5.6.0", "lessThan": "5.6.2", "status": "affected", "versionType": "semver" }]),
        ),
    );
    // Inclusive upper bound exactly at the version: a hit.
    write(
        "cve5/2024/CVE-2024-0709.json",
        &cve5(
            "CVE-2024-0709",
            "sqlite",
            "sqlite",
            json!([{ "version": "0", "lessThanOrEqual": "3.40.0", "status": "affected", "versionType": "custom" }]),
        ),
    );
    // Exclusive upper bound exactly at the version: no hit.
    write(
        "cve5/2024/CVE-2024-0710.json",
        &cve5(
            "CVE-2024-0710",
            "sqlite",
            "sqlite",
            json!([{ "version": "0", "lessThan": "3.40.0", "status": "affected", "versionType": "custom" }]),
        ),
    );
    let mut rejected =
        cve5("CVE-2024-0711", "sqlite", "sqlite", json!([{ "version": "3.40.0", "status": "affected" }]));
    rejected["cveMetadata"]["state"] = json!("REJECTED");
    write("cve5/2024/CVE-2024-0711.json", &rejected);
    // By PyPI package, through the nixpkgs pname and the pythonhosted URL.
    write(
        "osv/GHSA-9wx4-h78v-vm56.json",
        &osv(
            "GHSA-9wx4-h78v-vm56",
            &["CVE-2024-35195"],
            json!([{ "package": { "ecosystem": "PyPI", "name": "requests", "purl": "pkg:pypi/requests" },
            "ranges": [{ "type": "ECOSYSTEM", "events": [{ "introduced": "0" }, { "fixed": "2.32.0" }] }] }]),
        ),
    );
    // By upstream repository: a GIT range with the tag in `versions`.
    write(
        "osv/OSV-2024-1.json",
        &osv(
            "OSV-2024-1",
            &[],
            json!([{ "ranges": [{ "type": "GIT", "repo": "https://github.com/example/libfoo",
            "events": [{ "introduced": "1111111111111111111111111111111111111111" }, { "fixed": "2222222222222222222222222222222222222222" }] }],
            "versions": ["v1.2.2", "v1.2.3"] }]),
        ),
    );
    let mut withdrawn = osv(
        "OSV-2024-2",
        &[],
        json!([{ "package": { "ecosystem": "PyPI", "name": "requests" }, "versions": ["2.31.0"] }]),
    );
    withdrawn["withdrawn"] = json!("2024-06-01T00:00:00Z");
    write("osv/OSV-2024-2.json", &withdrawn);
}

const WHITELIST: &str = r#"
[[ignore]]
id = "CVE-2024-0608"
pname = "zlib"
reason = "the affected function is not built"
until = 2999-12-31

[[ignore]]
id = "CVE-2024-0405"
reason = "an old decision that ran out"
until = 2020-01-01
"#;

struct Setup {
    h: NixHarness,
    drv: String,
    db: PathBuf,
    identities: PathBuf,
    whitelist: PathBuf,
}

fn setup() -> Option<Setup> {
    let h = NixHarness::new()?;
    let drv = h.instantiate(&closure_expr()).remove(0);
    let db = h.scratch().join("vulndb");
    write_db(&db);
    let identities = h.scratch().join("identities.toml");
    std::fs::write(&identities, IDENTITIES).unwrap();
    let whitelist = h.scratch().join("whitelist.toml");
    std::fs::write(&whitelist, WHITELIST).unwrap();
    Some(Setup { h, drv, db, identities, whitelist })
}

impl Setup {
    fn vulns(&self, extra: &[&str]) -> Output {
        let mut args = vec![
            "vulns",
            &self.drv,
            "--vuln-db",
            self.db.to_str().unwrap(),
            "--identities",
            self.identities.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        provenix(self.h.root(), &args)
    }
}

/// `id -> {pname version}` of a report list.
fn hits(report: &Value, list: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in report[list].as_array().unwrap() {
        for c in f["components"].as_array().unwrap() {
            let name = format!("{} {}", c["pname"].as_str().unwrap(), c["version"].as_str().unwrap_or("-"));
            out.entry(f["id"].as_str().unwrap().to_owned()).or_default().insert(name);
        }
    }
    out
}

fn one(s: &str) -> BTreeSet<String> {
    BTreeSet::from([s.to_owned()])
}

#[test]
fn every_rule_and_its_edge_gives_the_expected_findings() {
    let Some(s) = setup() else { return };
    let out = s.vulns(&["--json", "--whitelist", s.whitelist.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "vulnerable closure exits 1: {}", stderr(&out));
    let report = json_of(&out);
    let findings = hits(&report, "findings");
    let expected: BTreeMap<String, BTreeSet<String>> = [
        ("CVE-2024-3094", "xz 5.6.0"),
        ("CVE-2023-0286", "openssl 1.1.1s"),
        ("CVE-2024-1234", "openssl 1.1.1s"),
        ("CVE-2024-0303", "foo 2.0-rc1"),
        ("CVE-2024-0405", "firefox 153.0"),
        ("CVE-2024-0507", "curl 8.0.0"),
        ("CVE-2024-0709", "sqlite 3.40.0"),
        ("CVE-2024-35195", "python3.12-requests 2.31.0"),
        ("OSV-2024-1", "libfoo 1.2.3"),
    ]
    .into_iter()
    .map(|(id, c)| (id.to_owned(), one(c)))
    .collect();
    assert_eq!(findings, expected, "{}", serde_json::to_string_pretty(&report["findings"]).unwrap());
    // Suppressed by the patch whose name holds exactly that id, and reported.
    assert_eq!(hits(&report, "patched"), BTreeMap::from([("CVE-2024-12345".to_owned(), one("openssl 1.1.1s"))]));
    let patched = &report["patched"][0]["components"][0];
    assert_eq!(patched["patch"], "fix-CVE-2024-12345.patch");
    // Whitelisted with its reason; the expired entry hid nothing and is listed.
    assert_eq!(hits(&report, "whitelisted"), BTreeMap::from([("CVE-2024-0608".to_owned(), one("zlib 1.3"))]));
    assert_eq!(report["whitelisted"][0]["components"][0]["whitelist"]["reason"], "the affected function is not built");
    assert_eq!(report["expiredWhitelist"][0]["id"], "CVE-2024-0405");
    assert!(stderr(&out).contains("whitelist entry CVE-2024-0405 expired on 2020-01-01"), "{}", stderr(&out));
    // Rejected CVEs and withdrawn OSV records were skipped and counted.
    assert_eq!(report["database"]["rejected"], 2);
    assert_eq!(report["database"]["withdrawn"], 1);
    // The unknown package stays visible.
    let unidentified: Vec<&str> =
        report["unidentified"].as_array().unwrap().iter().map(|u| u["pname"].as_str().unwrap()).collect();
    assert_eq!(unidentified, ["app", "lib", "mystery"], "nothing names them");
    // libfoo (its GitHub repository) has no CPE but is matched by OSV: counted, not listed.
    // (requests has the built-in table's python:requests whatever its interpreter prefix.)
    assert_eq!(report["withoutCpe"], 4, "{}", report["unidentified"]);
    // Counts agree in number and say what they count (issue 20 item 17).
    let text = String::from_utf8(s.vulns(&[]).stdout).unwrap();
    assert!(
        text.contains("\n1 package has no CPE identity: only OSV (by registry package or repository) could match it\n"),
        "{text}"
    );
    assert!(
        text.contains("\n3 packages have no CPE identity, registry package or repository and were not checked: "),
        "{text}"
    );
    assert!(
        text.contains("\n10 vulnerabilities in 10 components; 1 component patched, 0 components whitelisted\n"),
        "{text}"
    );
    assert!(
        text.contains(" advisories from 8 files (skipped 2 rejected CVEs and 1 withdrawn record; index "),
        "{text}"
    );
    assert!(!text.contains(" 1 packages") && !text.contains(" 1 components"), "{text}");
}

#[test]
fn findings_carry_aliases_severity_fixed_version_rule_and_why_chain() {
    let Some(s) = setup() else { return };
    let report = json_of(&s.vulns(&["--json"]));
    let find = |id: &str| report["findings"].as_array().unwrap().iter().find(|f| f["id"] == id).unwrap().clone();
    let xz = find("CVE-2024-3094");
    assert_eq!(xz["severity"]["score"], 10.0);
    let files: Vec<&str> = xz["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert_eq!(files.len(), 2, "NVD and CVE 5 records of one CVE make one finding: {files:?}");
    let c = &xz["components"][0];
    assert_eq!(c["fixed"], "5.6.2");
    assert!(c["rule"].as_str().unwrap().contains("tukaani:xz"), "{}", c["rule"]);
    let why: Vec<&str> = c["why"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(why.len(), 3, "app -> lib -> xz: {why:?}");
    assert!(why[0].ends_with("-app-1.0.drv") && why[1].ends_with("-lib-1.0.drv") && why[2].ends_with("-xz-5.6.0.drv"));
    // An OSV GIT range fixed by a commit: the commit, never passed off as a version.
    let libfoo = &find("OSV-2024-1")["components"][0];
    assert_eq!(libfoo["fixed"], Value::Null, "{libfoo}");
    assert_eq!(libfoo["fixedCommit"], "2222222222222222222222222222222222222222", "{libfoo}");
    let text = String::from_utf8(s.vulns(&[]).stdout).unwrap();
    let line = text.lines().find(|l| l.trim_start().starts_with("OSV-2024-1 ")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.ends_with("libfoo 1.2.3  fixed in commit 222222222222"), "{line}");
    assert!(text.contains("xz 5.6.0  fixed in 5.6.2"), "{text}");
    let requests = find("CVE-2024-35195");
    assert_eq!(requests["aliases"], json!(["GHSA-9wx4-h78v-vm56"]));
    assert_eq!(requests["components"][0]["fixed"], "2.32.0");
    // Findings come most severe first.
    let scores: Vec<f64> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["severity"]["score"].as_f64().unwrap_or(-1.0))
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
}

#[test]
fn sarif_output_lists_every_result_with_rules() {
    let Some(s) = setup() else { return };
    let sarif = s.h.scratch().join("out.sarif");
    let out = s.vulns(&["--sarif", sarif.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let log: Value = serde_json::from_slice(&std::fs::read(&sarif).unwrap()).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    // 9 findings + 1 patched + 1 whitelisted, one component each.
    assert_eq!(results.len(), 11);
    assert_eq!(rules.len(), 11);
    for r in results {
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], r["ruleId"]);
        assert!(
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .starts_with("file:///nix/store/")
        );
    }
    let xz = results.iter().find(|r| r["ruleId"] == "CVE-2024-3094").unwrap();
    assert_eq!(xz["level"], "error");
    let patched = results.iter().find(|r| r["ruleId"] == "CVE-2024-12345").unwrap();
    assert_eq!(patched["suppressions"][0]["kind"], "external");
    let libfoo = results.iter().find(|r| r["ruleId"] == "OSV-2024-1").unwrap();
    let message = libfoo["message"]["text"].as_str().unwrap();
    assert!(message.contains("; fixed in commit 222222222222"), "{message}");
    assert_eq!(libfoo["properties"]["fixedCommit"], "2222222222222222222222222222222222222222");
    // The human output names the finding, the package and the chain.
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("CVE-2024-3094") && text.contains("why: app-1.0 -> lib-1.0 -> xz-5.6.0"), "{text}");
}

/// Runs `sarif_validate.py FILE` (the official OASIS schema, then Microsoft's SARIF Multitool):
/// its exit code and output.
fn validate_sarif(python: &Path, file: &Path) -> (i32, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sarif_validate.py");
    let o = Command::new(python).arg(script).arg(file).output().expect("run the SARIF validator");
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    (o.status.code().unwrap_or(-1), text)
}

#[test]
fn sarif_passes_the_official_schema_and_the_sarif_multitool_which_can_fail() {
    let Some(s) = setup() else { return };
    let Some(python) = provenix_testkit::validator_python("SARIF validation") else { return };
    let sarif = s.h.scratch().join("scan.sarif");
    // With the whitelist: findings, a patched and a whitelisted result (suppressions of both kinds).
    let out = s.vulns(&["--sarif", sarif.to_str().unwrap(), "--whitelist", s.whitelist.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let (code, text) = validate_sarif(&python, &sarif);
    assert_eq!(code, 0, "{} is invalid:\n{text}", sarif.display());
    assert_eq!(text.lines().filter(|l| l.starts_with("ok: ")).count(), 2, "{text}");
    // Each check refuses what it should: a result without a message breaks the schema, a
    // ruleIndex pointing past the rules passes the schema but not the Multitool.
    let log: Value = serde_json::from_slice(&std::fs::read(&sarif).unwrap()).unwrap();
    let mut no_message = log.clone();
    no_message["runs"][0]["results"][0].as_object_mut().unwrap().remove("message").unwrap();
    let broken = s.h.scratch().join("no-message.sarif");
    std::fs::write(&broken, serde_json::to_vec_pretty(&no_message).unwrap()).unwrap();
    let (code, text) = validate_sarif(&python, &broken);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("INVALID: official SARIF 2.1.0 schema") && text.contains("'message' is a required property"),
        "{text}"
    );
    let mut bad_index = log;
    bad_index["runs"][0]["results"][0]["ruleIndex"] = json!(999);
    let broken = s.h.scratch().join("bad-index.sarif");
    std::fs::write(&broken, serde_json::to_vec_pretty(&bad_index).unwrap()).unwrap();
    let (code, text) = validate_sarif(&python, &broken);
    assert_eq!(code, 1, "{text}");
    assert!(!text.contains("INVALID: official") && text.contains("INVALID: SARIF Multitool: error"), "{text}");
}

#[test]
fn one_id_patched_in_one_package_and_open_in_another_is_one_sarif_rule() {
    let Some(h) = NixHarness::new() else { return };
    let expr = format!(
        r#"{PRELUDE}
  fixed = pkg "openssl" "1.1.1s" {{ patches = [ (builtins.toFile "fix-CVE-2024-12345.patch" "--- a\n+++ b\n") ]; }};
  open = pkg "openssl" "1.1.1s" {{ name = "openssl-1.1.1s-static"; }};
  twin = pkg "openssl" "1.1.1s" {{ configureFlags = "no-asm"; }};
in pkg "app" "1.0" {{ buildInputs = [ fixed open twin ]; }}"#
    );
    let drv = h.instantiate(&expr).remove(0);
    let db = h.scratch().join("vulndb");
    write_db(&db);
    let sarif = h.scratch().join("out.sarif");
    let out =
        provenix(h.root(), &["vulns", &drv, "--vuln-db", db.to_str().unwrap(), "--sarif", sarif.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let log: Value = serde_json::from_slice(&std::fs::read(&sarif).unwrap()).unwrap();
    let run = &log["runs"][0];
    let rules: Vec<&str> =
        run["tool"]["driver"]["rules"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(rules.iter().filter(|id| **id == "CVE-2024-12345").count(), 1, "{rules:?}");
    let results: Vec<&Value> =
        run["results"].as_array().unwrap().iter().filter(|r| r["ruleId"] == "CVE-2024-12345").collect();
    assert_eq!(results.len(), 3, "two open, one patched: {results:?}");
    assert!(results.iter().all(|r| r["ruleIndex"] == results[0]["ruleIndex"]));
    assert_eq!(results.iter().filter(|r| r.get("suppressions").is_some()).count(), 1, "{results:?}");
    // Fingerprints: the name alone when it is unique, the whole .drv file name for the two
    // components that share `openssl-1.1.1s`; never one fingerprint for two results.
    let prints: BTreeSet<&str> =
        results.iter().map(|r| r["partialFingerprints"]["provenixFinding/v1"].as_str().unwrap()).collect();
    assert_eq!(prints.len(), 3, "{prints:?}");
    assert!(prints.contains("CVE-2024-12345:openssl-1.1.1s-static.drv"), "{prints:?}");
    let hashed: Vec<&&str> = prints.iter().filter(|p| p.ends_with("-openssl-1.1.1s.drv")).collect();
    assert_eq!(hashed.len(), 2, "{prints:?}");
    let home = run["tool"]["driver"]["informationUri"].as_str().unwrap();
    assert!(home.starts_with("https://") && home.len() > 8, "the workspace repository field: {home:?}");
}

#[test]
fn an_advisory_of_two_cves_is_two_findings_and_a_patch_of_one_hides_only_that_one() {
    let Some(h) = NixHarness::new() else { return };
    let expr = format!(
        r#"{PRELUDE}
in pkg "python3.12-baz" "1.0" {{
  src = fod "baz-1.0.tar.gz" "https://files.pythonhosted.org/packages/source/b/baz/baz-1.0.tar.gz";
  patches = [ (builtins.toFile "CVE-2024-2001.patch" "--- a\n+++ b\n") ];
}}"#
    );
    let drv = h.instantiate(&expr).remove(0);
    let db = h.scratch().join("vulndb");
    std::fs::create_dir_all(&db).unwrap();
    let advisory = osv(
        "GHSA-2000-2001-abcd",
        &["CVE-2024-2000", "CVE-2024-2001"],
        json!([{ "package": { "ecosystem": "PyPI", "name": "baz" },
        "ranges": [{ "type": "ECOSYSTEM", "events": [{ "introduced": "0" }, { "fixed": "2.0" }] }] }]),
    );
    std::fs::write(db.join("GHSA-2000-2001-abcd.json"), serde_json::to_vec(&advisory).unwrap()).unwrap();
    let whitelist = h.scratch().join("whitelist.toml");
    std::fs::write(&whitelist, "[[ignore]]\nid = \"CVE-2024-2001\"\nreason = \"patched\"\nuntil = 2999-12-31\n")
        .unwrap();
    let args = ["vulns", &drv, "--vuln-db", db.to_str().unwrap(), "--json", "--whitelist", whitelist.to_str().unwrap()];
    let out = provenix(h.root(), &args);
    assert_eq!(out.status.code(), Some(1), "CVE-2024-2000 stays open: {}", stderr(&out));
    let report = json_of(&out);
    let baz = || one("python3.12-baz 1.0");
    assert_eq!(hits(&report, "findings"), BTreeMap::from([("CVE-2024-2000".to_owned(), baz())]));
    assert_eq!(hits(&report, "patched"), BTreeMap::from([("CVE-2024-2001".to_owned(), baz())]));
    assert_eq!(hits(&report, "whitelisted"), BTreeMap::new(), "the entry for CVE-2024-2001 accepts nothing else");
    for list in ["findings", "patched"] {
        assert_eq!(report[list][0]["aliases"], json!(["GHSA-2000-2001-abcd"]), "{list}: the other CVE is no alias");
    }
}

#[test]
fn a_whitelisted_ghsa_accepts_only_the_components_its_advisory_hit() {
    let Some(h) = NixHarness::new() else { return };
    // baz is hit by the GHSA (PyPI); xz by the NVD entry of one of the GHSA's CVEs (CPE).
    let expr = format!(
        r#"{PRELUDE}
  baz = pkg "python3.12-baz" "1.0" {{
    src = fod "baz-1.0.tar.gz" "https://files.pythonhosted.org/packages/source/b/baz/baz-1.0.tar.gz";
  }};
  xz = pkg "xz" "5.6.0" {{ }};
in pkg "app" "1.0" {{ buildInputs = [ baz xz ]; }}"#
    );
    let drv = h.instantiate(&expr).remove(0);
    let db = h.scratch().join("vulndb");
    std::fs::create_dir_all(&db).unwrap();
    let advisory = osv(
        "GHSA-2000-2001-abcd",
        &["CVE-2024-2000", "CVE-2024-2001"],
        json!([{ "package": { "ecosystem": "PyPI", "name": "baz" },
        "ranges": [{ "type": "ECOSYSTEM", "events": [{ "introduced": "0" }, { "fixed": "2.0" }] }] }]),
    );
    std::fs::write(db.join("GHSA-2000-2001-abcd.json"), serde_json::to_vec(&advisory).unwrap()).unwrap();
    let page = nvd_page(vec![nvd("CVE-2024-2000", 9.8, vec![cpe_match(&cpe("tukaani", "xz", "5.6.0"), true, &[])])]);
    std::fs::write(db.join("nvd.json"), serde_json::to_vec(&page).unwrap()).unwrap();
    let whitelist = h.scratch().join("whitelist.toml");
    std::fs::write(&whitelist, "[[ignore]]\nid = \"GHSA-2000-2001-abcd\"\nreason = \"baz: code path unused\"\n")
        .unwrap();
    let args = ["vulns", &drv, "--vuln-db", db.to_str().unwrap(), "--json", "--whitelist", whitelist.to_str().unwrap()];
    let out = provenix(h.root(), &args);
    assert_eq!(out.status.code(), Some(1), "the NVD hit on xz stays open: {}", stderr(&out));
    let report = json_of(&out);
    assert_eq!(hits(&report, "findings"), BTreeMap::from([("CVE-2024-2000".to_owned(), one("xz 5.6.0"))]));
    let baz = || one("python3.12-baz 1.0");
    assert_eq!(
        hits(&report, "whitelisted"),
        BTreeMap::from([("CVE-2024-2000".to_owned(), baz()), ("CVE-2024-2001".to_owned(), baz())])
    );
}

#[test]
fn a_lower_case_cve_alias_joins_the_finding_of_that_cve() {
    let Some(h) = NixHarness::new() else { return };
    let expr = format!(
        r#"{PRELUDE}
in pkg "python3.12-baz" "1.0" {{
  src = fod "baz-1.0.tar.gz" "https://files.pythonhosted.org/packages/source/b/baz/baz-1.0.tar.gz";
}}"#
    );
    let drv = h.instantiate(&expr).remove(0);
    let db = h.scratch().join("vulndb");
    std::fs::create_dir_all(&db).unwrap();
    let affected = json!([{ "package": { "ecosystem": "PyPI", "name": "baz" },
        "ranges": [{ "type": "ECOSYSTEM", "events": [{ "introduced": "0" }, { "fixed": "2.0" }] }] }]);
    for (id, alias) in [("GHSA-aaaa-aaaa-aaaa", "cve-2024-2000"), ("PYSEC-2024-1", "CVE-2024-2000")] {
        let record = osv(id, &[alias], affected.clone());
        std::fs::write(db.join(format!("{id}.json")), serde_json::to_vec(&record).unwrap()).unwrap();
    }
    let report = json_of(&provenix(h.root(), &["vulns", &drv, "--vuln-db", db.to_str().unwrap(), "--json"]));
    let ids: Vec<&str> = report["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["CVE-2024-2000"], "one vulnerability, one finding");
    assert_eq!(report["findings"][0]["aliases"], json!(["GHSA-aaaa-aaaa-aaaa", "PYSEC-2024-1"]));
}

#[test]
fn the_index_is_built_once_and_rebuilt_when_the_data_changes() {
    let Some(s) = setup() else { return };
    let first = json_of(&s.vulns(&["--json"]));
    assert_eq!(first["database"]["reused"], false);
    let second = json_of(&s.vulns(&["--json"]));
    assert_eq!(second["database"]["reused"], true);
    assert_eq!(first["findings"], second["findings"]);
    // A new record: the index is rebuilt and the new finding appears.
    let extra =
        nvd_page(vec![nvd("CVE-2025-0001", 4.0, vec![cpe_match(&cpe("foo_project", "bar", "2.0"), true, &[])])]);
    std::fs::write(s.db.join("nvd/page-1.json"), serde_json::to_vec(&extra).unwrap()).unwrap();
    let third = json_of(&s.vulns(&["--json"]));
    assert_eq!(third["database"]["reused"], false);
    assert!(hits(&third, "findings").contains_key("CVE-2025-0001"));
}

#[test]
fn a_clean_closure_exits_0() {
    let Some(h) = NixHarness::new() else { return };
    let drv = h.instantiate(&format!("{PRELUDE} in pkg \"zstd\" \"1.5.6\" {{ }}")).remove(0);
    let db = h.scratch().join("vulndb");
    write_db(&db);
    let out = provenix(h.root(), &["vulns", &drv, "--vuln-db", db.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 vulnerabilities"));
}

#[test]
fn bad_input_exits_2_naming_the_culprit() {
    let Some(s) = setup() else { return };
    let db = s.db.to_str().unwrap();
    let check = |args: &[&str], want: &str| {
        let out = provenix(s.h.root(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{args:?}: {} lacks {want}", stderr(&out));
    };
    check(&["vulns", &s.drv], "--vuln-db <DIR>");
    check(&["vulns", &s.drv, "--vuln-db", "/nonexistent/vulndb"], "/nonexistent/vulndb");
    check(&["vulns", "/nix/store/00000000000000000000000000000000-missing.drv", "--vuln-db", db], "missing.drv");
    let bad_whitelist = s.h.scratch().join("bad-whitelist.toml");
    std::fs::write(&bad_whitelist, "[[ignore]]\nid = \"CVE-1\"\nreason = \"\"\n").unwrap();
    check(&["vulns", &s.drv, "--vuln-db", db, "--whitelist", bad_whitelist.to_str().unwrap()], "bad-whitelist.toml");
    let bad_identities = s.h.scratch().join("bad-identities.toml");
    std::fs::write(&bad_identities, "[foo]\ncpe = [\"nocolon\"]\n").unwrap();
    check(&["vulns", &s.drv, "--vuln-db", db, "--identities", bad_identities.to_str().unwrap()], "bad-identities.toml");
    let garbage = s.h.scratch().join("garbage.sqlite");
    std::fs::write(&garbage, b"not sqlite at all").unwrap();
    let garbage = garbage.to_str().unwrap();
    check(
        &["vulns", &s.drv, "--vuln-db", db, "--index", garbage],
        "garbage.sqlite: not a provenix vulnerability index",
    );
    assert_eq!(std::fs::read(garbage).unwrap(), b"not sqlite at all", "a foreign file at --index is never overwritten");
    check(&["vulns", &s.drv, "--vuln-db", db, "--nix-db", garbage], "--nix-db");
    // The global --db is the Nix database here too.
    check(&["vulns", &s.drv, "--vuln-db", db, "--db", garbage], "--db");
    check(&["vulns", &s.drv, "--vuln-db", garbage], "not a directory of vulnerability data");
    // A malformed data file names the file; the previous index is left as it was.
    std::fs::write(s.db.join("osv/broken.json"), b"{ \"id\": ").unwrap();
    check(&["vulns", &s.drv, "--vuln-db", db], "broken.json");
}

#[test]
fn runtime_scope_comes_from_the_database_references() {
    let Some(h) = NixHarness::new() else { return };
    // The app's output refers to xz's output (runtime); zlib is used while
    // building only.
    let expr = format!(
        r#"{PRELUDE}
  xz = pkg "xz" "5.6.0" {{ }};
  zlib = pkg "zlib" "1.3" {{ }};
in derivation {{
  name = "app-1.0"; pname = "app"; version = "1.0"; system = sys; builder = "/bin/sh";
  inherit xz zlib;
  args = [ "-c" "test -e $zlib && echo $xz > $out" ];
}}"#
    );
    h.build(&expr);
    let drv = h.instantiate(&expr).remove(0);
    let db = h.scratch().join("vulndb");
    write_db(&db);
    let db = db.to_str().unwrap();
    let all = json_of(&provenix(h.root(), &["vulns", &drv, "--vuln-db", db, "--json"]));
    let runtime_of = |report: &Value, id: &str| -> Option<bool> {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == id)
            .map(|f| f["components"][0]["runtime"].as_bool().unwrap())
    };
    assert_eq!(all["runtimeKnown"], true);
    assert_eq!(runtime_of(&all, "CVE-2024-3094"), Some(true));
    assert_eq!(runtime_of(&all, "CVE-2024-0608"), Some(false), "zlib is build-time only");
    let runtime = json_of(&provenix(h.root(), &["vulns", &drv, "--vuln-db", db, "--json", "--runtime"]));
    assert_eq!(runtime_of(&runtime, "CVE-2024-3094"), Some(true));
    assert_eq!(runtime_of(&runtime, "CVE-2024-0608"), None, "--runtime leaves build-only packages out");
    // An unbuilt root has no known runtime closure: --runtime refuses it by name instead of
    // reporting it clean; without --runtime it is scanned as a build-time closure.
    let unbuilt_expr = format!("{PRELUDE}\nin pkg \"xz\" \"5.6.1\" {{ }}");
    let unbuilt = h.instantiate(&unbuilt_expr).remove(0);
    let out = provenix(h.root(), &["vulns", &unbuilt, "--vuln-db", db, "--runtime"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("root `{unbuilt}` is not built")), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "no report for an unknown runtime closure");
    let out = provenix(h.root(), &["vulns", &unbuilt, "--vuln-db", db, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(hits(&json_of(&out), "findings").contains_key("CVE-2024-3094"));
}

#[test]
fn runtime_scope_is_the_outputs_named_and_an_unbuilt_other_output_does_not_block_them() {
    let Some(h) = NixHarness::new() else { return };
    // `out` refers to xz, `doc` to zlib.
    let expr = format!(
        r#"{PRELUDE}
  xz = pkg "xz" "5.6.0" {{ }};
  zlib = pkg "zlib" "1.3" {{ }};
in derivation {{
  name = "app-1.0"; pname = "app"; version = "1.0"; system = sys; builder = "/bin/sh";
  outputs = [ "out" "doc" ]; inherit xz zlib;
  args = [ "-c" "echo $xz > $out; echo $zlib > $doc" ];
}}"#
    );
    let drv = h.instantiate(&expr).remove(0);
    let built: Vec<String> = h.run_text("nix-store", ["--realise", drv.as_str()]).lines().map(str::to_owned).collect();
    let out_path = built.iter().find(|p| p.ends_with("-app-1.0")).expect("out built");
    let doc_path = built.iter().find(|p| p.ends_with("-app-1.0-doc")).expect("doc built");
    let db = h.scratch().join("vulndb");
    write_db(&db);
    let db = db.to_str().unwrap();
    let scan = |roots: &[&str]| {
        let mut args = vec!["vulns", "--vuln-db", db, "--json", "--runtime"];
        args.extend(roots);
        provenix(h.root(), &args)
    };
    let ids = |o: &Output| hits(&json_of(o), "findings").into_keys().collect::<BTreeSet<_>>();
    let both = scan(&[&drv]);
    assert_eq!(both.status.code(), Some(1), "{}", stderr(&both));
    assert!(ids(&both).contains("CVE-2024-3094") && ids(&both).contains("CVE-2024-0608"), "{:?}", ids(&both));
    // Naming the `out` output scopes the runtime closure to it: zlib is reached through `doc` only.
    let out_only = scan(&[out_path]);
    assert_eq!(out_only.status.code(), Some(1), "{}", stderr(&out_only));
    assert!(ids(&out_only).contains("CVE-2024-3094"), "{:?}", ids(&out_only));
    assert!(!ids(&out_only).contains("CVE-2024-0608"), "doc's zlib is not in out's runtime closure");
    // Naming both outputs is the whole root again.
    assert_eq!(ids(&scan(&[out_path, doc_path])), ids(&both));
    // `doc` is gone: the `.drv` (all outputs) is refused naming the missing output, with a hint
    // that fits the command, and blaming the `.drv` argument, not the built `out` given beside it
    // in either order; the built `out` alone is still scanned.
    h.run("nix-store", ["--delete", doc_path.as_str()]);
    assert!(!h.physical(doc_path).exists());
    for (roots, cmd_hint) in [
        (vec![drv.as_str()], "drop --runtime"),
        (vec![out_path.as_str(), drv.as_str()], "drop --runtime"),
        (vec![drv.as_str(), out_path.as_str()], "drop --runtime"),
    ] {
        let o = scan(&roots);
        assert_eq!(o.status.code(), Some(2), "{roots:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(&format!("{drv}!doc")) && err.contains(cmd_hint) && !err.contains("--buildtime"), "{err}");
        assert!(err.contains(&format!("root `{drv}` is not built")), "{roots:?}: {err}");
        assert!(!err.contains(&format!("`{out_path}`")), "the built out is not the root to blame: {err}");
        assert!(o.stdout.is_empty(), "no report for an unknown runtime closure");
    }
    let o = scan(&[out_path]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(ids(&o), ids(&out_only));
    // sbom --runtime follows the same rule, with its own hint.
    let o = provenix(h.root(), &["sbom", "--format", "cyclonedx", "--runtime", &drv]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("{drv}!doc")) && stderr(&o).contains("--buildtime"), "{}", stderr(&o));
    let o = provenix(h.root(), &["sbom", "--format", "cyclonedx", "--runtime", out_path]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let bom: Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: BTreeSet<&str> =
        bom["components"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
    assert!(names.contains("xz") && !names.contains("zlib"), "{names:?}");
}

#[test]
fn a_reader_that_stops_early_never_turns_a_finding_into_exit_0() {
    let Some(s) = setup() else { return };
    for json in [false, true] {
        // The read end is closed before provenix starts: every write to stdout fails with EPIPE.
        let (reader, writer) = rustix::pipe::pipe().unwrap();
        drop(reader);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_provenix"));
        cmd.arg("--store").arg(s.h.root()).args(["vulns", &s.drv, "--vuln-db", s.db.to_str().unwrap()]);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.stdout(std::process::Stdio::from(writer)).stderr(std::process::Stdio::piped()).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "json {json}: {}", stderr(&out));
        assert!(!stderr(&out).contains("error"), "a closed pipe is not an error: {}", stderr(&out));
    }
}

#[test]
fn a_copied_store_without_its_database_is_still_scanned() {
    let Some(s) = setup() else { return };
    let with = json_of(&s.vulns(&["--json"]));
    let db = s.h.root().join("nix/var/nix/db");
    std::fs::rename(&db, s.h.root().join("nix/var/nix/db.away")).unwrap();
    let out = s.vulns(&["--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let without = json_of(&out);
    assert_eq!(without["runtimeKnown"], false);
    assert_eq!(hits(&without, "findings"), hits(&with, "findings"));
    let out = s.vulns(&["--runtime"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--runtime needs the Nix database"), "{}", stderr(&out));
}

/// Runs provenix with extra environment variables.
fn provenix_env(store: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_provenix"));
    cmd.arg("--store").arg(store).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run provenix")
}

/// Runs python3 with a script and arguments (for gzip and zip files as the feeds ship them).
fn python(script: &str, args: &[&Path]) {
    let o = Command::new("python3").arg("-c").arg(script).args(args).output().expect("run python3");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn no_advisories_is_exit_2_whatever_the_directory_holds() {
    let Some(s) = setup() else { return };
    let run = |dir: &Path| provenix(s.h.root(), &["vulns", &s.drv, "--vuln-db", dir.to_str().unwrap()]);
    // Empty.
    let empty = s.h.scratch().join("empty-db");
    std::fs::create_dir_all(&empty).unwrap();
    let out = run(&empty);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no advisories to match against (0 data files read"), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "no report for a scan against nothing");
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0, "the failed scan left no index behind");
    // Only files that are not data: named.
    let other = s.h.scratch().join("other-db");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("feed.json.xz"), b"\xfd7zXZ").unwrap();
    std::fs::write(other.join("README.md"), b"notes").unwrap();
    let out = run(&other);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("skipped: README.md, feed.json.xz"), "{}", stderr(&out));
    // Only rejected CVEs.
    let rejected = s.h.scratch().join("rejected-db");
    std::fs::create_dir_all(&rejected).unwrap();
    let mut entry = nvd("CVE-2024-9001", 9.8, vec![cpe_match(&cpe("zlib", "zlib", "*"), true, &[])]);
    entry["cve"]["vulnStatus"] = json!("Rejected");
    std::fs::write(rejected.join("page.json"), serde_json::to_vec(&nvd_page(vec![entry])).unwrap()).unwrap();
    let out = run(&rejected);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 data file read, 1 rejected"), "{}", stderr(&out));
}

#[test]
fn gzipped_nvd_feeds_and_zipped_osv_records_are_scanned_and_other_files_named() {
    let Some(s) = setup() else { return };
    let db = s.h.scratch().join("packed-db");
    std::fs::create_dir_all(&db).unwrap();
    // NVD's yearly feed file, gzipped; OSV's all.zip of one record per file.
    let page = s.h.scratch().join("page.json");
    std::fs::write(&page, serde_json::to_vec(&nvd_page(nvd_entries())).unwrap()).unwrap();
    python(
        "import gzip,shutil,sys; shutil.copyfileobj(open(sys.argv[1],'rb'), gzip.open(sys.argv[2],'wb'))",
        &[&page, &db.join("nvdcve-2.0-2024.json.gz")],
    );
    let record = s.h.scratch().join("GHSA-9wx4-h78v-vm56.json");
    std::fs::write(&record, std::fs::read(s.db.join("osv/GHSA-9wx4-h78v-vm56.json")).unwrap()).unwrap();
    python(
        "import zipfile,sys; z=zipfile.ZipFile(sys.argv[2],'w',zipfile.ZIP_DEFLATED); \
         z.write(sys.argv[1],'GHSA-9wx4-h78v-vm56.json'); z.writestr('README','not data'); z.close()",
        &[&record, &db.join("all.zip")],
    );
    std::fs::write(db.join("notes.txt"), b"not data").unwrap();
    // Unusable data inside a file read is counted by reason, with examples.
    let mut unanalysed = nvd("CVE-2024-7777", 5.0, vec![]);
    unanalysed["cve"].as_object_mut().unwrap().remove("configurations");
    std::fs::write(db.join("recent.json"), serde_json::to_vec(&nvd_page(vec![unanalysed])).unwrap()).unwrap();
    let out = provenix(
        s.h.root(),
        &["vulns", &s.drv, "--vuln-db", db.to_str().unwrap(), "--identities", s.identities.to_str().unwrap(), "--json"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json_of(&out);
    let found = hits(&report, "findings");
    assert!(found.contains_key("CVE-2024-3094") && found.contains_key("CVE-2024-35195"), "{found:?}");
    assert_eq!(report["database"]["files"], 3);
    assert_eq!(report["database"]["skippedData"], json!({ "no configurations": 1 }));
    assert!(report["database"]["skippedExamples"][0].as_str().unwrap().starts_with("recent.json: CVE-2024-7777: "));
    assert_eq!(report["database"]["skippedFiles"], json!(["all.zip/README", "notes.txt"]));
    let xz = report["findings"].as_array().unwrap().iter().find(|f| f["id"] == "CVE-2024-3094").unwrap();
    assert_eq!(xz["files"], json!(["nvdcve-2.0-2024.json.gz"]));
    assert!(stderr(&out).contains("skipped 2 files that are not vulnerability data"), "{}", stderr(&out));
    assert!(stderr(&out).contains("all.zip/README, notes.txt"), "{}", stderr(&out));
    // A gzip bomb (80 MiB of JSON padding from about 80 KiB) is refused by name, exit 2.
    let bomb = s.h.scratch().join("bomb-db");
    std::fs::create_dir_all(&bomb).unwrap();
    python(
        "import gzip,sys; f=gzip.open(sys.argv[1],'wb'); f.write(b'{\"vulnerabilities\": ['); \
         [f.write(b' ' * (1 << 20)) for _ in range(80)]; f.write(b']}'); f.close()",
        &[&bomb.join("nvdcve-2.0-2025.json.gz")],
    );
    let out = provenix(s.h.root(), &["vulns", &s.drv, "--vuln-db", bomb.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nvdcve-2.0-2025.json.gz: expands past") && stderr(&out).contains("decompression bomb"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn help_names_the_vulnerability_data_flag_as_required_and_db_as_the_nix_database() {
    let out = Command::new(env!("CARGO_BIN_EXE_provenix")).args(["vulns", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let usage = help.lines().find(|l| l.starts_with("Usage:")).unwrap();
    assert!(usage.contains(" --vuln-db <DIR>") && !usage.contains("[--vuln-db"), "{usage}");
    let db = help.lines().position(|l| l.trim_start().starts_with("--db <FILE>")).expect("--db listed");
    let text: String = help.lines().skip(db).take(3).collect();
    assert!(text.contains("Nix database"), "{text}");
    assert!(!help.contains("--nix-db"), "the old name is hidden");
}

#[test]
fn the_global_db_is_the_nix_database_for_vulns_too() {
    let Some(s) = setup() else { return };
    let moved = s.h.root().join("nix/var/nix/db.away");
    std::fs::rename(s.h.root().join("nix/var/nix/db"), &moved).unwrap();
    let nix_db = moved.join("db.sqlite");
    for flag in ["--db", "--nix-db"] {
        let out = s.vulns(&["--json", flag, nix_db.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{flag}: {}", stderr(&out));
        assert_eq!(json_of(&out)["runtimeKnown"], true, "{flag} opened the Nix database");
    }
}

#[test]
fn stale_data_is_warned_about_and_unidentified_packages_can_fail_the_scan() {
    let Some(s) = setup() else { return };
    let out = s.vulns(&["--json"]);
    let report = json_of(&out);
    // The newest modification time in the data: the OSV records' 2024-05-01.
    assert_eq!(report["database"]["newest"], "2024-05-01T00:00:00Z");
    assert_eq!(report["database"]["stale"], true);
    assert!(stderr(&out).contains("the newest advisory was modified 2024-05-01T00:00:00Z"), "{}", stderr(&out));
    assert!(stderr(&out).contains("more than --max-data-age 7"), "{}", stderr(&out));
    let out = s.vulns(&["--json", "--max-data-age", "0"]);
    assert!(!stderr(&out).contains("max-data-age"), "{}", stderr(&out));
    assert_eq!(json_of(&out)["database"]["stale"], false);
    let days = s.vulns(&["--max-data-age", "100000"]);
    assert!(!stderr(&days).contains("max-data-age"), "{}", stderr(&days));
    // A closure of one package nothing identifies: clean, unless unidentified packages fail the scan.
    let drv = s.h.instantiate(&format!("{PRELUDE} in pkg \"mystery\" \"0.1\" {{ }}")).remove(0);
    let args = ["vulns", &drv, "--vuln-db", s.db.to_str().unwrap()];
    let out = provenix(s.h.root(), &args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = provenix(s.h.root(), &[&args[..], &["--fail-on-unidentified"]].concat());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not checked: mystery-0.1"));
}

#[test]
fn a_read_only_data_directory_keeps_its_index_in_the_cache_directory_one_per_directory() {
    let Some(s) = setup() else { return };
    // Two data directories in the store (read-only, as store paths are), with different data.
    let other = s.h.scratch().join("vulndb-2");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::copy(s.db.join("nvd/page-0.json"), other.join("page.json")).unwrap();
    let first = s.h.physical(&s.h.add(&s.db));
    let second = s.h.physical(&s.h.add(&other));
    let cache = s.h.scratch().join("xdg-cache");
    let scan = |dir: &Path| {
        let args = ["vulns", &s.drv, "--vuln-db", dir.to_str().unwrap(), "--json"];
        let out = provenix_env(s.h.root(), &args, &[("XDG_CACHE_HOME", &cache)]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        json_of(&out)
    };
    let a = scan(&first);
    let b = scan(&second);
    let index_a = a["database"]["index"].as_str().unwrap().to_owned();
    let index_b = b["database"]["index"].as_str().unwrap().to_owned();
    assert!(index_a.starts_with(cache.join("provenix/vulndb-").to_str().unwrap()), "{index_a}");
    assert_ne!(index_a, index_b, "two data directories never share an index");
    assert!(!first.join(".provenix-index.sqlite").exists() && !second.join(".provenix-index.sqlite").exists());
    let mut files: Vec<_> =
        std::fs::read_dir(cache.join("provenix")).unwrap().map(|e| e.unwrap().file_name()).collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    // Each is reused by its own directory, with its own findings.
    let again = scan(&first);
    assert_eq!(again["database"]["reused"], true);
    assert_eq!(hits(&again, "findings"), hits(&a, "findings"));
    assert_ne!(hits(&a, "findings"), hits(&b, "findings"));
    // HOME is the fallback; a writable directory keeps its index inside.
    let home = s.h.scratch().join("home");
    let args = ["vulns", &s.drv, "--vuln-db", first.to_str().unwrap(), "--json"];
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_provenix"));
    let out =
        cmd.arg("--store").arg(s.h.root()).args(args).env_remove("XDG_CACHE_HOME").env("HOME", &home).output().unwrap();
    let index = json_of(&out)["database"]["index"].as_str().unwrap().to_owned();
    assert!(index.starts_with(home.join(".cache/provenix/vulndb-").to_str().unwrap()), "{index}");
    let out = provenix_env(
        s.h.root(),
        &["vulns", &s.drv, "--vuln-db", s.db.to_str().unwrap(), "--json"],
        &[("XDG_CACHE_HOME", &cache)],
    );
    assert_eq!(json_of(&out)["database"]["index"], s.db.join(".provenix-index.sqlite").to_str().unwrap());
}

#[test]
fn id_filter_fail_on_threshold_unused_whitelist_entries_and_csv() {
    let Some(s) = setup() else { return };
    // --id keeps the named vulnerabilities, by id or alias, in any case.
    let out = s.vulns(&["--json", "--id", "cve-2024-3094", "--id", "GHSA-9wx4-h78v-vm56"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let ids: BTreeSet<String> = hits(&json_of(&out), "findings").into_keys().collect();
    assert_eq!(ids, BTreeSet::from(["CVE-2024-3094".to_owned(), "CVE-2024-35195".to_owned()]));
    let out = s.vulns(&["--id", "CVE-2024-0101"]);
    assert_eq!(out.status.code(), Some(0), "an id that hits nothing passes: {}", stderr(&out));
    assert!(
        stderr(&out).contains("--id CVE-2024-0101: nothing in the scanned closure is affected"),
        "{}",
        stderr(&out)
    );
    // --fail-on: the findings (scores 10.0 down to 5.3, and the OSV one at 4.4) are reported either way.
    let out = s.vulns(&["--json", "--id", "CVE-2024-0507", "--fail-on", "high"]);
    assert_eq!(out.status.code(), Some(0), "5.3 is below high: {}", stderr(&out));
    assert_eq!(hits(&json_of(&out), "findings").len(), 1, "still reported");
    let out = s.vulns(&["--id", "CVE-2024-0507", "--fail-on", "medium"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = s.vulns(&["--fail-on", "critical"]);
    assert_eq!(out.status.code(), Some(1), "the 10.0 xz finding is critical");
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 of 10 vulnerabilities at or above --fail-on critical"));
    // A whitelist entry that accepts nothing is reported.
    let whitelist = s.h.scratch().join("unused.toml");
    std::fs::write(
        &whitelist,
        format!("{WHITELIST}\n[[ignore]]\nid = \"CVE-2019-0001\"\npname = \"zlib\"\nreason = \"long fixed\"\n"),
    )
    .unwrap();
    let out = s.vulns(&["--json", "--whitelist", whitelist.to_str().unwrap()]);
    let report = json_of(&out);
    let unused: Vec<&str> =
        report["unusedWhitelist"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(unused, ["CVE-2019-0001"], "the used entry and the expired one are not unused");
    assert!(stderr(&out).contains("whitelist entry CVE-2019-0001 (zlib) accepted nothing"), "{}", stderr(&out));
    // CSV: a header, then one row per affected component of each list.
    let out = s.vulns(&["--csv", "--whitelist", s.whitelist.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let csv = String::from_utf8(out.stdout).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("status,id,aliases,severity,score,pname,version,fixed,fixed_commit,runtime,drv_path,rule,note")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 11, "{csv}");
    assert!(
        rows.iter().any(|r| r.starts_with("vulnerable,CVE-2024-3094,,CRITICAL,10.0,xz,5.6.0,5.6.2,,false,/nix/store/"))
    );
    assert!(rows.iter().any(|r| r.contains(",libfoo,1.2.3,,2222222222222222222222222222222222222222,false,")), "{csv}");
    assert!(
        rows.iter()
            .any(|r| r.starts_with("patched,CVE-2024-12345,") && r.ends_with(",patched by fix-CVE-2024-12345.patch"))
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("whitelisted,CVE-2024-0608,") && r.ends_with(",the affected function is not built"))
    );
    let out = s.vulns(&["--csv", "--json"]);
    assert_eq!(out.status.code(), Some(2), "--csv with --json is a usage error");
}

#[test]
fn findings_are_grouped_per_root() {
    let Some(h) = NixHarness::new() else { return };
    let expr = format!(
        r#"{PRELUDE}
  xz = pkg "xz" "5.6.0" {{ }};
  zlib = pkg "zlib" "1.3" {{ }};
in [ (pkg "app" "1.0" {{ buildInputs = [ xz zlib ]; }}) (pkg "tool" "1.0" {{ buildInputs = [ zlib ]; }}) ]"#
    );
    let drvs = h.instantiate(&expr);
    let db = h.scratch().join("vulndb");
    write_db(&db);
    let db = db.to_str().unwrap();
    let out = provenix(h.root(), &["vulns", &drvs[0], &drvs[1], "--vuln-db", db, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json_of(&out);
    let by_root = report["byRoot"].as_array().unwrap();
    assert_eq!(by_root.len(), 2);
    assert_eq!(by_root[0]["root"], drvs[0].as_str());
    assert_eq!(by_root[0]["findings"], json!(["CVE-2024-3094", "CVE-2024-0608"]), "most severe first");
    assert_eq!(by_root[1]["root"], drvs[1].as_str());
    assert_eq!(by_root[1]["findings"], json!(["CVE-2024-0608"]));
    let text = String::from_utf8(provenix(h.root(), &["vulns", &drvs[0], &drvs[1], "--vuln-db", db]).stdout).unwrap();
    assert!(text.contains("by root:\n  app-1.0: 2 vulnerabilities (CVE-2024-3094, CVE-2024-0608)"), "{text}");
    assert!(text.contains("  tool-1.0: 1 vulnerability (CVE-2024-0608)"), "{text}");
}

#[test]
fn a_cyclonedx_sbom_is_scanned_like_the_closure_it_describes() {
    let Some(s) = setup() else { return };
    let bom = s.h.scratch().join("app.cdx.json");
    let ids = s.identities.to_str().unwrap();
    let out = provenix(
        s.h.root(),
        &["sbom", &s.drv, "--format", "cyclonedx", "--identities", ids, "-o", bom.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let closure = json_of(&s.vulns(&["--json"]));
    let out = provenix(
        s.h.root(),
        &["vulns", "--sbom", bom.to_str().unwrap(), "--vuln-db", s.db.to_str().unwrap(), "--json"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json_of(&out);
    // The same engine on the same components: CPEs, registry purls, repositories, patches.
    for list in ["findings", "patched", "whitelisted"] {
        assert_eq!(hits(&report, list), hits(&closure, list), "{list}");
    }
    assert_eq!(report["patched"][0]["components"][0]["patch"], "fix-CVE-2024-12345.patch", "named as in the closure");
    let xz = report["findings"].as_array().unwrap().iter().find(|f| f["id"] == "CVE-2024-3094").unwrap();
    let why: Vec<&str> = xz["components"][0]["why"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(why.len(), 3, "app -> lib -> xz along the SBOM's dependencies: {why:?}");
    assert_eq!(report["byRoot"][0]["root"], s.drv.as_str());
    assert_eq!(
        report["byRoot"][0]["findings"].as_array().unwrap().len(),
        closure["findings"].as_array().unwrap().len()
    );
}

#[test]
fn a_hand_written_minimal_sbom_is_matched_by_cpe_and_purl() {
    let Some(s) = setup() else { return };
    let bom = s.h.scratch().join("minimal.cdx.json");
    let doc = json!({ "bomFormat": "CycloneDX", "specVersion": "1.5", "components": [
        { "type": "library", "name": "xz", "version": "5.6.0", "cpe": "cpe:2.3:a:tukaani:xz:5.6.0:*:*:*:*:*:*:*" },
        { "type": "library", "name": "requests", "version": "2.31.0", "purl": "pkg:pypi/requests@2.31.0" },
        { "type": "library", "name": "unknown-thing", "version": "1.0" },
    ] });
    std::fs::write(&bom, serde_json::to_vec(&doc).unwrap()).unwrap();
    let db = s.db.to_str().unwrap();
    let out = provenix(s.h.root(), &["vulns", "--sbom", bom.to_str().unwrap(), "--vuln-db", db, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json_of(&out);
    let expected: BTreeMap<String, BTreeSet<String>> =
        [("CVE-2024-3094", "xz 5.6.0"), ("CVE-2024-35195", "requests 2.31.0")]
            .into_iter()
            .map(|(id, c)| (id.to_owned(), one(c)))
            .collect();
    assert_eq!(hits(&report, "findings"), expected);
    assert_eq!(report["scanned"], 3);
    assert_eq!(report["unidentified"][0]["pname"], "unknown-thing");
    // SARIF names a component without a store path by its bom-ref, as a relative URI.
    let sarif = s.h.scratch().join("sbom.sarif");
    let out = provenix(
        s.h.root(),
        &["vulns", "--sbom", bom.to_str().unwrap(), "--vuln-db", db, "--sarif", sarif.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let log: Value = serde_json::from_slice(&std::fs::read(&sarif).unwrap()).unwrap();
    let uris: BTreeSet<&str> = log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].as_str().unwrap())
        .collect();
    assert_eq!(uris, BTreeSet::from(["requests-2.31.0", "xz-5.6.0"]));
    if let Some(python) = provenix_testkit::validator_python("SARIF validation") {
        let (code, text) = validate_sarif(&python, &sarif);
        assert_eq!(code, 0, "{text}");
    }
    // Bad SBOM input: exit 2 naming the file.
    let spdx = s.h.scratch().join("app.spdx.json");
    std::fs::write(&spdx, br#"{"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "packages": []}"#).unwrap();
    let garbage = s.h.scratch().join("garbage.cdx.json");
    std::fs::write(&garbage, b"{\"bomFormat\": \"CycloneDX\", \"components\": [").unwrap();
    let missing = s.h.scratch().join("missing.cdx.json");
    for (file, want) in [
        (&spdx, "app.spdx.json: not a CycloneDX JSON document; it is an SPDX document"),
        (&garbage, "garbage.cdx.json: not a CycloneDX JSON document"),
        (&missing, "reading SBOM"),
    ] {
        let out = provenix(s.h.root(), &["vulns", "--sbom", file.to_str().unwrap(), "--vuln-db", db]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains(want) && stderr(&out).contains(file.file_name().unwrap().to_str().unwrap()),
            "{}",
            stderr(&out)
        );
    }
    let out = provenix(s.h.root(), &["vulns", &s.drv, "--sbom", bom.to_str().unwrap(), "--vuln-db", db]);
    assert_eq!(out.status.code(), Some(2), "roots and --sbom are one or the other: {}", stderr(&out));
}
