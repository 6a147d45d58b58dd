//! The identity table against the real matching code, on closures written by
//! hand into a store directory (no Nix needed): `.drv` files read by
//! [`inventory`], components turned into targets and matched by
//! [`vulns::scan`] against advisories indexed by [`VulnDb`].
//!
//! - Coverage: for every entry with a `repo`, an OSV record on that
//!   repository (OSS-Fuzz style: a GIT range of commits and the tag in
//!   `versions[]`) hits a closure holding that package, and only the
//!   packages of that repository.
//! - Interpreter prefixes: an NVD CVE on `python:urllib3` finds urllib3
//!   whatever its prefix and `pname`, and the PyPI package is found too.
//! - curl's own feed: a `CURL-CVE-…` record without a package hits curl by
//!   its repository and version, and a patch named after the CVE alias moves
//!   it to `patched`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use provenix_formats::store_path::{StoreDir, StorePath};
use provenix_store::Store;
use serde_json::{Value, json};

use super::prefix::Family;
use super::{IdentityTable, Inventory, InventoryOptions, inventory};
use crate::verify::NoProgress;
use crate::vulndb::VulnDb;
use crate::vulns::{self, Date, VulnsOptions, VulnsReport, Whitelist};

/// One package of a hand-written closure.
struct Pkg {
    /// The derivation name (`python3.12-urllib3-1.0`).
    name: String,
    /// The env's `pname`, when set.
    pname: Option<String>,
    /// The env's `version`, when set.
    version: Option<String>,
    /// Patch file names (store paths are made up).
    patches: Vec<String>,
    /// The env's `packageName` (node2nix's npm name), when set.
    package_name: Option<String>,
}

impl Pkg {
    fn new(name: &str, pname: Option<&str>, version: Option<&str>) -> Pkg {
        Pkg {
            name: name.into(),
            pname: pname.map(Into::into),
            version: version.map(Into::into),
            patches: Vec::new(),
            package_name: None,
        }
    }
}

/// A 32-character nixbase32 hash part made from `n`.
fn hash_part(n: usize, salt: char) -> String {
    const CHARS: &[u8] = b"0123456789abcdfghijklmnpqrsvwxyz";
    let mut out = String::with_capacity(32);
    let mut x = n;
    for _ in 0..31 {
        out.push(char::from(CHARS[x % 32]));
        x /= 32;
    }
    out.push(salt);
    out
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// An input-addressed `.drv` of one output with `env` (sorted here) and input derivations.
fn aterm(out: &str, inputs: &[String], env: &[(String, String)]) -> String {
    let mut inputs: Vec<&String> = inputs.iter().collect();
    inputs.sort();
    let ins: Vec<String> = inputs.iter().map(|i| format!("({},[\"out\"])", quote(i))).collect();
    let mut env: Vec<&(String, String)> = env.iter().collect();
    env.sort();
    let env: Vec<String> = env.iter().map(|(k, v)| format!("({},{})", quote(k), quote(v))).collect();
    format!(
        "Derive([(\"out\",{},\"\",\"\")],[{}],[],\"x86_64-linux\",\"/bin/sh\",[],[{}])",
        quote(out),
        ins.join(","),
        env.join(",")
    )
}

/// A closure of `pkgs` under one root, in a new store directory; its inventory.
fn closure(pkgs: &[Pkg], table: IdentityTable) -> (tempfile::TempDir, Inventory) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("nix/store")).unwrap();
    let write = |path: &str, text: &str| std::fs::write(dir.path().join(path.trim_start_matches('/')), text).unwrap();
    let mut drvs = Vec::new();
    for (n, p) in pkgs.iter().enumerate() {
        let drv = format!("/nix/store/{}-{}.drv", hash_part(n, 'a'), p.name);
        let out = format!("/nix/store/{}-{}", hash_part(n, 'b'), p.name);
        let mut env = vec![("name".to_owned(), p.name.clone()), ("out".to_owned(), out.clone())];
        env.extend(p.pname.iter().map(|v| ("pname".to_owned(), v.clone())));
        env.extend(p.version.iter().map(|v| ("version".to_owned(), v.clone())));
        env.extend(p.package_name.iter().map(|v| ("packageName".to_owned(), v.clone())));
        if !p.patches.is_empty() {
            let paths: Vec<String> =
                p.patches.iter().enumerate().map(|(k, f)| format!("/nix/store/{}-{f}", hash_part(k, 'c'))).collect();
            env.push(("patches".to_owned(), paths.join(" ")));
        }
        write(&drv, &aterm(&out, &[], &env));
        drvs.push(drv);
    }
    let root = format!("/nix/store/{}-root-1.0.drv", hash_part(0, 'r'));
    let root_out = format!("/nix/store/{}-root-1.0", hash_part(0, 's'));
    write(&root, &aterm(&root_out, &drvs, &[("name".into(), "root-1.0".into()), ("out".into(), root_out.clone())]));
    let store = Store::new(StoreDir::default(), Some(dir.path().to_owned()));
    let root = StorePath::from_base_name(root.trim_start_matches("/nix/store/")).unwrap();
    let options = InventoryOptions { identities: table, ..InventoryOptions::default() };
    let inv = inventory(&store, None, &[root], &options).unwrap();
    (dir, inv)
}

/// Scans `inv` against a database of `records` (relative path, JSON).
fn scan(inv: &Inventory, records: &[(String, Value)]) -> VulnsReport {
    let data = tempfile::tempdir().unwrap();
    for (rel, value) in records {
        let path = data.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, serde_json::to_vec(value).unwrap()).unwrap();
    }
    let cache = tempfile::tempdir().unwrap();
    let (db, stats) = VulnDb::open(data.path(), &cache.path().join("index.sqlite"), &NoProgress).unwrap();
    let options = VulnsOptions {
        runtime_only: false,
        whitelist: Whitelist::default(),
        today: Date::new(2024, 6, 1).unwrap(),
        ids: Vec::new(),
    };
    vulns::scan(inv, &db, &stats, &options).unwrap()
}

/// `finding id -> {derivation name}` of a report list.
fn hits(list: &[vulns::Finding]) -> BTreeMap<String, BTreeSet<String>> {
    list.iter().map(|f| (f.id.clone(), f.components.iter().map(|c| c.name.clone()).collect())).collect()
}

/// The derivation name a package of table key `key` gets in nixpkgs, at `version`: the
/// `pname` itself, or a name with the family's interpreter prefix.
fn nixpkgs_pkg(key: &str, version: &str) -> Pkg {
    let (name, pname) = nixpkgs_name(key, version);
    let mut pkg = Pkg::new(&name, pname.as_deref(), pname.as_ref().map(|_| version));
    if let Some(("node", npm)) = key.split_once(':') {
        pkg.package_name = Some(npm.to_owned());
    }
    pkg
}

fn nixpkgs_name(key: &str, version: &str) -> (String, Option<String>) {
    match key.split_once(':') {
        None => (format!("{key}-{version}"), Some(key.to_owned())),
        Some((family, name)) => match Family::from_name(family).unwrap() {
            // buildPythonPackage: the prefix in the name, not in `pname`.
            Family::Python => (format!("python3.12-{name}-{version}"), Some(name.to_owned())),
            // buildPerlPackage: the prefix in `pname` too.
            Family::Perl => (format!("perl5.38.2-{name}-{version}"), Some(format!("perl5.38.2-{name}"))),
            Family::Ruby => (format!("ruby3.3-{name}-{version}"), Some(name.to_owned())),
            Family::Lua => (format!("lua5.4-{name}-{version}"), Some(name.to_owned())),
            Family::Ocaml => (format!("ocaml5.1.1-{name}-{version}"), Some(name.to_owned())),
            Family::Haskell => (format!("ghc-9.6.3-{name}-{version}"), Some(name.to_owned())),
            // node2nix: a name only, `@scope/name` written as `_at_scope_slash_name`.
            Family::Node => (format!("node_{}-{version}", name.replace('@', "_at_").replace('/', "_slash_")), None),
        },
    }
}

#[test]
fn every_table_repository_is_matched_by_an_osv_record_on_it() {
    let table = IdentityTable::builtin();
    let with_repo: Vec<(&str, String)> = table
        .iter()
        .filter_map(|(k, e)| e.repo.as_deref().map(|r| (k, crate::vulndb::rules::normalize_repo(r))))
        .collect();
    assert!(with_repo.len() >= 300, "{} entries with a repo", with_repo.len());
    let mut pkgs = Vec::new();
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut ids: BTreeMap<&str, String> = BTreeMap::new();
    for (key, repo) in &with_repo {
        let pkg = nixpkgs_pkg(key, "1.0");
        let name = pkg.name.clone();
        pkgs.push(pkg);
        let next = format!("OSV-2024-{}", ids.len() + 1);
        let id = ids.entry(repo.as_str()).or_insert(next).clone();
        expected.entry(id).or_default().insert(name);
    }
    // One record per repository, as OSS-Fuzz writes them: a GIT range of commits and the
    // affected tags; the URL as the project spells it, half of them with `.git`.
    let table_repos: BTreeMap<String, &str> = table
        .iter()
        .filter_map(|(_, e)| e.repo.as_deref())
        .map(|r| (crate::vulndb::rules::normalize_repo(r), r))
        .collect();
    let records: Vec<(String, Value)> = ids
        .iter()
        .enumerate()
        .map(|(n, (repo, id))| {
            let spelled = table_repos[*repo];
            let url =
                if n % 2 == 0 && !spelled.ends_with(".git") { format!("{spelled}.git") } else { spelled.to_owned() };
            let record = json!({
                "schema_version": "1.6.0", "id": id, "modified": "2024-05-01T00:00:00Z",
                "published": "2024-05-01T00:00:00Z", "summary": format!("heap overflow in {repo}"),
                "affected": [{
                    "package": { "ecosystem": "OSS-Fuzz", "name": crate::vulndb::rules::repo_name(repo) },
                    "ranges": [{ "type": "GIT", "repo": url, "events": [
                        { "introduced": "1111111111111111111111111111111111111111" },
                        { "fixed": "2222222222222222222222222222222222222222" } ] }],
                    "versions": ["v0.9", "v1.0"]
                }]
            });
            (format!("osv/{id}.json"), record)
        })
        .collect();
    let (_store, inv) = closure(&pkgs, table);
    let report = scan(&inv, &records);
    let got = hits(&report.findings);
    for (id, names) in &expected {
        assert_eq!(got.get(id), Some(names), "{id}");
    }
    assert_eq!(got.len(), expected.len(), "no other findings");
    // Every package's component was identified; only the root is not.
    let unidentified: Vec<&str> = report.unidentified.iter().map(|u| u.pname.as_str()).collect();
    assert_eq!(unidentified, ["root"]);
}

/// An NVD CVE on `python:urllib3` (as NVD files urllib3), every nixpkgs spelling of the
/// package, and a native package of the same name that is not the Python one.
#[test]
fn an_nvd_cve_on_python_urllib3_finds_urllib3_whatever_its_prefix() {
    let pkgs = [
        Pkg::new("python3.12-urllib3-2.0.7", Some("urllib3"), Some("2.0.7")),
        Pkg::new("python3.11-urllib3-2.0.7", Some("python3.11-urllib3"), Some("2.0.7")),
        Pkg::new("python311-urllib3-2.0.7", None, None),
        Pkg::new("python313-urllib3-2.0.7", Some("urllib3"), Some("2.0.7")),
        Pkg::new("pypy3.10-urllib3-2.0.7", Some("urllib3"), Some("2.0.7")),
        // Fixed already: not affected.
        Pkg::new("python3.12-urllib3-2.2.2", Some("urllib3"), Some("2.2.2")),
        // No interpreter prefix: not the Python package.
        Pkg::new("urllib3-2.0.7", Some("urllib3"), Some("2.0.7")),
    ];
    let nvd = json!({
        "resultsPerPage": 1, "startIndex": 0, "totalResults": 1, "format": "NVD_CVE", "version": "2.0",
        "timestamp": "2024-06-01T00:00:00.000",
        "vulnerabilities": [{ "cve": {
            "id": "CVE-2024-37891", "sourceIdentifier": "security-advisories@github.com",
            "published": "2024-06-17T20:15:13.203", "lastModified": "2024-06-20T12:44:01.637",
            "vulnStatus": "Analyzed",
            "descriptions": [{ "lang": "en", "value": "urllib3 does not strip Proxy-Authorization on cross-origin redirects" }],
            "metrics": { "cvssMetricV31": [{ "source": "nvd@nist.gov", "type": "Primary",
                "cvssData": { "version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:H/PR:H/UI:N/S:U/C:H/I:N/A:N",
                              "baseScore": 4.4, "baseSeverity": "MEDIUM" },
                "exploitabilityScore": 0.7, "impactScore": 3.6 }] },
            "configurations": [{ "nodes": [{ "operator": "OR", "negate": false, "cpeMatch": [{
                "vulnerable": true, "criteria": "cpe:2.3:a:python:urllib3:*:*:*:*:*:python:*:*",
                "versionEndExcluding": "1.26.19", "matchCriteriaId": "00000000-0000-0000-0000-000000000001" }, {
                "vulnerable": true, "criteria": "cpe:2.3:a:python:urllib3:*:*:*:*:*:python:*:*",
                "versionStartIncluding": "2.0.0", "versionEndExcluding": "2.2.2",
                "matchCriteriaId": "00000000-0000-0000-0000-000000000002" }] }] }],
            "references": [{ "url": "https://github.com/urllib3/urllib3/security/advisories/GHSA-34jh-p97f-mpxf",
                             "source": "security-advisories@github.com" }]
        } }]
    });
    let (_store, inv) = closure(&pkgs, IdentityTable::builtin());
    let report = scan(&inv, &[("nvd/page.json".into(), nvd)]);
    let want: BTreeSet<String> = pkgs[..5].iter().map(|p| p.name.clone()).collect();
    assert_eq!(hits(&report.findings), BTreeMap::from([("CVE-2024-37891".to_owned(), want)]));
    // And the registry package and CPE are the same whatever the prefix.
    for c in inv.components.iter().filter(|c| c.name.contains("-urllib3-2.0.7")) {
        assert_eq!(c.cpes, ["cpe:2.3:a:python:urllib3:2.0.7:*:*:*:*:*:*:*"], "{}", c.name);
        let pypi: Vec<(&str, &str)> = c.packages.iter().map(|p| (p.ecosystem, p.name.as_str())).collect();
        assert_eq!(pypi, [("PyPI", "urllib3")], "{}", c.name);
        assert_eq!(c.repos.first().map(|r| r.url.as_str()), Some("https://github.com/urllib3/urllib3"));
    }
    let native = inv.components.iter().find(|c| c.name == "urllib3-2.0.7").unwrap();
    assert!(native.cpes.is_empty() && native.packages.is_empty(), "{native:?}");
}

/// One package of each other interpreter family, with the prefix in the name, in `pname`,
/// or both, resolves to its table entry and registry package.
#[test]
fn other_interpreter_families_resolve_to_their_table_entry_and_registry() {
    let table = IdentityTable::parse(
        r#"
["perl:URI"]
cpe = ["uri_project:uri"]
["ruby:nokogiri"]
cpe = ["nokogiri:nokogiri"]
["lua:lpeg"]
cpe = ["lpeg_project:lpeg"]
["ocaml:yojson"]
cpe = ["yojson_project:yojson"]
["haskell:aeson"]
cpe = ["aeson_project:aeson"]
["node:@types/node"]
cpe = ["types_project:node"]
"#,
        std::path::Path::new("t.toml"),
    )
    .unwrap();
    let pkgs = [
        Pkg::new("perl5.38.2-URI-5.21", Some("perl5.38.2-URI"), Some("5.21")),
        Pkg::new("perl5.36.0-URI-5.21", Some("perl5.36.0-URI"), Some("5.21")),
        Pkg::new("ruby3.1-nokogiri-1.15.4", Some("nokogiri"), Some("1.15.4")),
        Pkg::new("ruby2.7.6-nokogiri-1.15.4", None, None),
        Pkg::new("lua5.4-lpeg-1.1.0", Some("lpeg"), Some("1.1.0")),
        Pkg::new("luajit2.1-lpeg-1.1.0", Some("lpeg"), Some("1.1.0")),
        Pkg::new("ocaml4.14.1-yojson-2.1.0", Some("yojson"), Some("2.1.0")),
        Pkg::new("ocaml5.1.1-yojson-2.1.0", None, None),
        Pkg::new("ghc-9.6.3-aeson-2.1.2.1", Some("aeson"), Some("2.1.2.1")),
        Pkg::new("ghc-9.4.8-aeson-2.1.2.1", None, None),
        nixpkgs_pkg("node:@types/node", "18.7.15"),
        // Prometheus' node_exporter is no npm package.
        Pkg::new("node_exporter-1.8.2", Some("node_exporter"), Some("1.8.2")),
    ];
    let (_store, inv) = closure(&pkgs, table);
    let by_name = |name: &str| inv.components.iter().find(|c| c.name == name).unwrap();
    for (name, cpe, registry, version) in [
        ("perl5.38.2-URI-5.21", "uri_project:uri", None, "5.21"),
        ("perl5.36.0-URI-5.21", "uri_project:uri", None, "5.21"),
        ("ruby3.1-nokogiri-1.15.4", "nokogiri:nokogiri", Some(("RubyGems", "nokogiri")), "1.15.4"),
        ("ruby2.7.6-nokogiri-1.15.4", "nokogiri:nokogiri", Some(("RubyGems", "nokogiri")), "1.15.4"),
        ("lua5.4-lpeg-1.1.0", "lpeg_project:lpeg", None, "1.1.0"),
        ("luajit2.1-lpeg-1.1.0", "lpeg_project:lpeg", None, "1.1.0"),
        ("ocaml4.14.1-yojson-2.1.0", "yojson_project:yojson", None, "2.1.0"),
        ("ocaml5.1.1-yojson-2.1.0", "yojson_project:yojson", None, "2.1.0"),
        ("ghc-9.6.3-aeson-2.1.2.1", "aeson_project:aeson", Some(("Hackage", "aeson")), "2.1.2.1"),
        ("ghc-9.4.8-aeson-2.1.2.1", "aeson_project:aeson", Some(("Hackage", "aeson")), "2.1.2.1"),
        ("node__at_types_slash_node-18.7.15", "types_project:node", Some(("npm", "@types/node")), "18.7.15"),
    ] {
        let c = by_name(name);
        let ids: Vec<String> = c.cpe_ids.iter().map(|i| format!("{}:{}", i.vendor, i.product)).collect();
        assert_eq!(ids, [cpe], "{name}");
        assert_eq!(c.version.as_deref(), Some(version), "{name}");
        let packages: Vec<(&str, &str)> = c.packages.iter().map(|p| (p.ecosystem, p.name.as_str())).collect();
        assert_eq!(packages, registry.into_iter().collect::<Vec<_>>(), "{name}");
    }
    let exporter = by_name("node_exporter-1.8.2");
    assert!(exporter.cpe_ids.is_empty() && exporter.packages.is_empty(), "{exporter:?}");
}

/// curl's own OSV record (no package; SEMVER and GIT ranges on its repository), a curl of
/// the table's repository at an affected version, one patched by a file named after the
/// CVE alias, and one already fixed.
#[test]
fn curl_feed_records_match_by_repository_and_a_patch_named_after_the_alias_suppresses() {
    let mut patched = Pkg::new("curl-8.3.0", Some("curl"), Some("8.3.0"));
    patched.name = "curl-patched-8.3.0".into();
    patched.patches = vec!["CVE-2023-38545.patch".into()];
    let pkgs = [
        Pkg::new("curl-8.3.0", Some("curl"), Some("8.3.0")),
        patched,
        Pkg::new("curl-8.4.0", Some("curl"), Some("8.4.0")),
    ];
    let record = json!({
        "schema_version": "1.5.0", "id": "CURL-CVE-2023-38545", "aliases": ["CVE-2023-38545"],
        "summary": "SOCKS5 heap buffer overflow", "modified": "2024-07-02T09:06:58.00Z",
        "published": "2023-10-11T08:00:00.00Z",
        "database_specific": { "package": "curl", "URL": "https://curl.se/docs/CVE-2023-38545.json",
                               "last_affected": "8.3.0", "severity": "High" },
        "affected": [{ "ranges": [
            { "type": "SEMVER", "events": [{ "introduced": "7.69.0" }, { "fixed": "8.4.0" }] },
            { "type": "GIT", "repo": "https://github.com/curl/curl.git", "events": [
                { "introduced": "4a4b63daaa01ef59b131d91e8e6e6dfe275c0f08" },
                { "fixed": "fb4415d8aee6c1045be932a34fe6107c2f5ed147" } ] } ] }]
    });
    let (_store, inv) = closure(&pkgs, IdentityTable::builtin());
    let report = scan(&inv, &[("curl/CURL-CVE-2023-38545.json".into(), record)]);
    assert_eq!(
        hits(&report.findings),
        BTreeMap::from([("CVE-2023-38545".to_owned(), BTreeSet::from(["curl-8.3.0".to_owned()]))])
    );
    assert_eq!(
        hits(&report.patched),
        BTreeMap::from([("CVE-2023-38545".to_owned(), BTreeSet::from(["curl-patched-8.3.0".to_owned()]))])
    );
    let finding = &report.findings[0];
    assert_eq!(finding.aliases, ["CURL-CVE-2023-38545"]);
    let c = &finding.components[0];
    assert_eq!(c.fixed.as_deref(), Some("8.4.0"));
    assert_eq!(c.rule, "OSV https://github.com/curl/curl SEMVER range introduced 7.69.0 fixed 8.4.0");
    assert_eq!(report.patched[0].components[0].patch.as_deref(), Some("CVE-2023-38545.patch"));
}
