//! OSV: packages by ecosystem and name, ranges, versions[], and upstream
//! repositories through GIT ranges.

use rstest::rstest;
use serde_json::{Value, json};

use super::{Target, VulnDb, db, linux, osv_record, package_target, repo_target, summary};

fn requests(ranges: Value, versions: Value) -> Vec<(&'static str, Value)> {
    let affected = json!([{
        "package": { "ecosystem": "PyPI", "name": "requests", "purl": "pkg:pypi/requests" },
        "ranges": ranges,
        "versions": versions,
        "database_specific": { "source": "https://github.com/github/advisory-database" }
    }]);
    vec![("osv/PyPI/GHSA-9wx4-h78v-vm56.json", osv_record("GHSA-9wx4-h78v-vm56", affected))]
}

fn ecosystem(events: Value) -> Value {
    json!([{ "type": "ECOSYSTEM", "events": events }])
}

#[rstest]
#[case::from_zero(json!([{"introduced": "0"}, {"fixed": "2.32.0"}]), "0.1", true)]
#[case::fixed_edge(json!([{"introduced": "0"}, {"fixed": "2.32.0"}]), "2.32.0", false)]
#[case::below_fixed(json!([{"introduced": "0"}, {"fixed": "2.32.0"}]), "2.31.0", true)]
#[case::rc_below_fixed(json!([{"introduced": "0"}, {"fixed": "2.32.0"}]), "2.32.0rc1", true)]
#[case::introduced_edge(json!([{"introduced": "2.3.0"}, {"fixed": "2.32.0"}]), "2.3.0", true)]
#[case::before_introduced(json!([{"introduced": "2.3.0"}, {"fixed": "2.32.0"}]), "2.2.9", false)]
#[case::last_affected_edge(json!([{"introduced": "0"}, {"last_affected": "2.31.0"}]), "2.31.0", true)]
#[case::last_affected_one_past(json!([{"introduced": "0"}, {"last_affected": "2.31.0"}]), "2.31.1", false)]
#[case::no_fix(json!([{"introduced": "2.0"}]), "99", true)]
#[case::second_pair(json!([{"introduced": "1.0"}, {"fixed": "1.5"}, {"introduced": "2.0"}, {"fixed": "2.5"}]), "2.1", true)]
#[case::between_pairs(json!([{"introduced": "1.0"}, {"fixed": "1.5"}, {"introduced": "2.0"}, {"fixed": "2.5"}]), "1.7", false)]
#[case::unsorted_events(json!([{"fixed": "2.5"}, {"introduced": "2.0"}]), "2.1", true)]
#[case::limit_below(json!([{"introduced": "0"}, {"limit": "3.0"}]), "2.9", true)]
#[case::limit_edge(json!([{"introduced": "0"}, {"limit": "3.0"}]), "3.0", false)]
fn ranges_decide(#[case] events: Value, #[case] version: &str, #[case] hit: bool) {
    let (_d, _c, db, _) = db(&requests(ecosystem(events.clone()), json!([])));
    assert_eq!(ids(&db, package_target("PyPI", "requests", version)).len(), usize::from(hit), "{version} {events}");
}

#[test]
fn semver_ranges_too() {
    let ranges = json!([{ "type": "SEMVER", "events": [{"introduced": "1.0.0-alpha.1"}, {"fixed": "1.2.0"}] }]);
    let (_d, _c, db, _) = db(&requests(ranges, json!([])));
    assert_eq!(ids(&db, package_target("PyPI", "requests", "1.0.0")).len(), 1);
    assert!(ids(&db, package_target("PyPI", "requests", "1.2.0")).is_empty());
}

/// The ids hit by one target (platforms play no part in OSV).
fn ids(db: &VulnDb, target: Target) -> Vec<String> {
    super::ids(db, target, &linux())
}

#[rstest]
#[case::listed("2.31.0", true)]
#[case::listed_trailing_zero("2.31", true)]
#[case::not_listed("2.31.1", false)]
fn versions_lists_are_exact(#[case] version: &str, #[case] hit: bool) {
    let (_d, _c, db, _) = db(&requests(json!([]), json!(["2.30.0", "2.31.0"])));
    assert_eq!(ids(&db, package_target("PyPI", "requests", version)).len(), usize::from(hit));
}

#[rstest]
#[case::pep503_case("PyPI", "Requests", true)]
#[case::pep503_separators("pypi", "requests", true)]
#[case::other_ecosystem("npm", "requests", false)]
#[case::other_name("PyPI", "requests-oauthlib", false)]
fn packages_by_ecosystem_and_name(#[case] ecosystem: &str, #[case] name: &str, #[case] hit: bool) {
    let (_d, _c, db, _) = db(&requests(ecosystem_events(), json!([])));
    assert_eq!(ids(&db, package_target(ecosystem, name, "2.0")).len(), usize::from(hit));
}

fn ecosystem_events() -> Value {
    ecosystem(json!([{"introduced": "0"}, {"fixed": "2.32.0"}]))
}

#[test]
fn pep503_runs_of_separators() {
    let affected = json!([{ "package": { "ecosystem": "PyPI", "name": "zope.interface" },
                            "ranges": ecosystem_events() }]);
    let (_d, _c, db, _) = db(&[("z.json", osv_record("PYSEC-2024-1", affected))]);
    assert_eq!(ids(&db, package_target("PyPI", "Zope__Interface", "1.0")).len(), 1);
    assert_eq!(ids(&db, package_target("PyPI", "zope-interface", "1.0")).len(), 1);
    assert!(ids(&db, package_target("PyPI", "zopeinterface", "1.0")).is_empty());
}

#[test]
fn reports_rule_fixed_and_computed_severity() {
    let (_d, _c, db, _) = db(&requests(ecosystem_events(), json!([])));
    let hits = db.scan(&[package_target("PyPI", "requests", "2.31.0")], &linux()).unwrap();
    assert_eq!(
        summary(&hits),
        [(
            0,
            "GHSA-9wx4-h78v-vm56".to_owned(),
            "OSV PyPI/requests ECOSYSTEM range introduced 0 fixed 2.32.0".to_owned(),
            Some("2.32.0".to_owned())
        )]
    );
    let a = &hits[0].advisory;
    assert_eq!(a.aliases, ["CVE-2024-35195"]);
    let s = a.severity.as_ref().unwrap();
    assert_eq!((s.score, s.version.as_str(), s.level.as_str()), (5.6, "3.1", "MEDIUM"));
    let rule = serde_json::to_value(&hits[0].rule).unwrap();
    assert_eq!(
        rule,
        json!({ "kind": "osvRange", "ecosystem": "PyPI", "name": "requests", "rangeType": "ECOSYSTEM",
                              "events": [{"introduced": "0"}, {"fixed": "2.32.0"}] })
    );
}

/// OSV severities are vectors: v3 is preferred, as for NVD, and a record with only a v4
/// vector gets its v4 score; an unknown type gives no severity rather than a guess.
#[rstest]
#[case::v4_only(json!([{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}]), Some((9.3, "4.0", "CRITICAL")))]
#[case::v3_before_v4(json!([
    {"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"},
    {"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:H/I:H/A:N"}]), Some((5.6, "3.1", "MEDIUM")))]
#[case::v4_local(json!([{"type": "CVSS_V4", "score": "CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}]), Some((8.5, "4.0", "HIGH")))]
#[case::v4_type_with_a_v3_vector(json!([{"type": "CVSS_V4", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]), Some((9.8, "3.1", "CRITICAL")))]
#[case::other_type(json!([{"type": "Ubuntu", "score": "high"}]), None)]
fn severity_from_the_vector(#[case] severity: Value, #[case] want: Option<(f64, &str, &str)>) {
    let mut files = requests(ecosystem_events(), json!([]));
    files[0].1["severity"] = severity;
    let (_d, _c, db, _) = db(&files);
    let hits = db.scan(&[package_target("PyPI", "requests", "2.31.0")], &linux()).unwrap();
    let got = hits[0].advisory.severity.as_ref().map(|s| (s.score, s.version.as_str(), s.level.as_str()));
    assert_eq!(got, want);
}

/// An OSS-Fuzz style record: a GIT range with commits and the tags in versions[].
fn xz_git(repo: &str, versions: Value) -> Vec<(&'static str, Value)> {
    let affected = json!([{
        "package": { "name": "xz", "ecosystem": "OSS-Fuzz" },
        "ranges": [{ "type": "GIT", "repo": repo, "events": [
            { "introduced": "2d7d862e3ffa8cec4fd3fdffcd84e984a17aa429" },
            { "fixed": "fd1b975b7851e081ed6e5cf63df946cd5cbdbb94" } ] }],
        "versions": versions
    }]);
    vec![("osv/OSV-2024-xz.json", osv_record("OSV-2024-0001", affected))]
}

#[rstest]
#[case::version_listed_as_v_tag("https://github.com/tukaani-project/xz", Some("5.6.0"), None, None, true)]
#[case::version_not_listed("https://github.com/tukaani-project/xz", Some("5.4.6"), None, None, false)]
#[case::tag_listed("https://github.com/tukaani-project/xz", None, Some("v5.6.1"), None, true)]
#[case::name_prefixed_tag("https://github.com/tukaani-project/xz", None, Some("xz-5.6.1"), None, true)]
#[case::rev_is_introduced_commit(
    "https://github.com/tukaani-project/xz",
    None,
    None,
    Some("2d7d862e3ffa8cec4fd3fdffcd84e984a17aa429"),
    true
)]
#[case::rev_is_fixed_commit(
    "https://github.com/tukaani-project/xz",
    None,
    None,
    Some("fd1b975b7851e081ed6e5cf63df946cd5cbdbb94"),
    false
)]
#[case::url_git_plus_and_suffix("git+https://github.com/tukaani-project/xz.git", Some("5.6.0"), None, None, true)]
#[case::url_http_www_slash("http://www.GitHub.com/Tukaani-Project/xz/", Some("5.6.0"), None, None, true)]
#[case::url_git_ssh("git@github.com:tukaani-project/xz.git", Some("5.6.0"), None, None, true)]
#[case::other_repo("https://github.com/tukaani-project/xz-java", Some("5.6.0"), None, None, false)]
fn upstream_repositories(
    #[case] url: &str,
    #[case] version: Option<&str>,
    #[case] tag: Option<&str>,
    #[case] rev: Option<&str>,
    #[case] hit: bool,
) {
    let (_d, _c, db, _) = db(&xz_git("https://github.com/tukaani-project/xz.git", json!(["v5.6.0", "v5.6.1"])));
    assert_eq!(
        ids(&db, repo_target(url, version, tag, rev)).len(),
        usize::from(hit),
        "{url} {version:?} {tag:?} {rev:?}"
    );
}

#[test]
fn git_rules_say_how_they_matched() {
    let (_d, _c, db, _) = db(&xz_git("https://github.com/tukaani-project/xz", json!(["v5.6.0", "v5.6.1"])));
    let targets = [
        repo_target("https://github.com/tukaani-project/xz", Some("5.6.0"), None, None),
        repo_target("https://github.com/tukaani-project/xz", None, Some("v5.6.1"), None),
        repo_target(
            "https://github.com/tukaani-project/xz",
            None,
            None,
            Some("2D7D862E3FFA8CEC4FD3FDFFCD84E984A17AA429"),
        ),
    ];
    let rules: Vec<String> = db.scan(&targets, &linux()).unwrap().iter().map(|h| h.rule.to_string()).collect();
    assert_eq!(
        rules,
        [
            "OSV GIT https://github.com/tukaani-project/xz version 5.6.0 in versions[] as v5.6.0",
            "OSV GIT https://github.com/tukaani-project/xz tag v5.6.1 in versions[] as v5.6.1",
            "OSV GIT https://github.com/tukaani-project/xz rev 2D7D862E3FFA8CEC4FD3FDFFCD84E984A17AA429 is the introduced commit",
        ]
    );
}

#[rstest]
#[case::curl_underscores("curl-8_4_0", "https://github.com/curl/curl", "8.4.0", true)]
#[case::release_prefix("release-1_2_3", "https://github.com/madler/zlib", "1.2.3", true)]
#[case::name_underscore("openssl_3_0_0", "https://github.com/openssl/openssl", "3.0.0", true)]
#[case::different("curl-8_4_0", "https://github.com/curl/curl", "8.4.1", false)]
fn listed_tags_are_normalised(#[case] listed: &str, #[case] repo: &str, #[case] version: &str, #[case] hit: bool) {
    let affected = json!([{ "ranges": [{ "type": "GIT", "repo": repo, "events": [
        { "introduced": "0" }, { "fixed": "1111111111111111111111111111111111111111" } ] }],
        "versions": [listed] }]);
    let (_d, _c, db, _) = db(&[("t.json", osv_record("OSV-2023-1", affected))]);
    assert_eq!(ids(&db, repo_target(repo, Some(version), None, None)).len(), usize::from(hit));
}

#[rstest]
#[case::inside("5.6.1", true, Some("5.6.2"))]
#[case::fixed_edge("5.6.2", false, None)]
#[case::before("5.5.0", false, None)]
fn git_ranges_written_with_versions(#[case] version: &str, #[case] hit: bool, #[case] fixed: Option<&str>) {
    let affected = json!([{ "ranges": [{ "type": "GIT", "repo": "https://github.com/tukaani-project/xz",
        "events": [{ "introduced": "5.6.0" }, { "fixed": "5.6.2" }] }] }]);
    let (_d, _c, db, _) = db(&[("t.json", osv_record("OSV-2024-2", affected))]);
    let hits =
        db.scan(&[repo_target("https://github.com/tukaani-project/xz", Some(version), None, None)], &linux()).unwrap();
    assert_eq!(hits.len(), usize::from(hit));
    if hit {
        assert_eq!(hits[0].fixed.as_deref(), fixed);
        assert_eq!(
            hits[0].rule.to_string(),
            "OSV GIT https://github.com/tukaani-project/xz range introduced 5.6.0 fixed 5.6.2"
        );
    }
}

#[test]
fn withdrawn_records_are_counted_not_indexed_and_arrays_are_read() {
    let mut withdrawn = osv_record(
        "GHSA-0000-0000-0000",
        json!([{ "package": { "ecosystem": "PyPI", "name": "requests" }, "ranges": ecosystem_events() }]),
    );
    withdrawn["withdrawn"] = json!("2024-06-01T00:00:00Z");
    let live = osv_record(
        "GHSA-1111-1111-1111",
        json!([{ "package": { "ecosystem": "PyPI", "name": "requests" }, "ranges": ecosystem_events() }]),
    );
    let (_d, _c, db, stats) = db(&[("all.json", json!([withdrawn, live]))]);
    assert_eq!((stats.withdrawn, stats.osv, stats.advisories), (1, 1, 1));
    assert_eq!(ids(&db, package_target("PyPI", "requests", "1.0")), ["GHSA-1111-1111-1111"]);
}

#[test]
fn unusable_entries_are_counted() {
    let affected = json!([
        { "ranges": [{ "type": "GIT", "events": [{ "introduced": "0" }] }] },
        { "ranges": [{ "type": "ECOSYSTEM", "events": [{ "introduced": "0" }] }] },
        { "package": { "ecosystem": "PyPI", "name": "requests" }, "ranges": [{ "type": "WEIRD", "events": [] }] }
    ]);
    let (_d, _c, _db, stats) = db(&[("u.json", osv_record("OSV-1", affected))]);
    assert_eq!(stats.osv, 0);
    assert_eq!(stats.skipped.get("GIT range without repo"), Some(&1), "{stats:?}");
    assert_eq!(stats.skipped.get("range without package"), Some(&1));
    assert_eq!(stats.skipped.get("unknown range type"), Some(&1));
    assert_eq!(stats.skipped.get("no usable affected entry"), Some(&4));
}

/// An entry shaped like curl's own OSV feed (`https://curl.se/docs/CVE-2023-38545.json`):
/// no `package`, a SEMVER range and a GIT range on the curl repository, and the
/// affected releases in `versions[]` when `with_versions`.
fn curl_record(with_versions: bool) -> Value {
    let mut affected = json!({
        "ranges": [
            { "type": "SEMVER", "events": [{ "introduced": "7.69.0" }, { "fixed": "8.4.0" }] },
            { "type": "GIT", "repo": "https://github.com/curl/curl.git", "events": [
                { "introduced": "4a4b63daaa01ef59b131d91e8e6e6dfe275c0f08" },
                { "fixed": "fb4415d8aee6c1045be932a34fe6107c2f5ed147" } ] }
        ]
    });
    if with_versions {
        affected["versions"] = json!([
            "8.3.0", "8.2.1", "8.2.0", "8.1.2", "8.1.1", "8.1.0", "8.0.1", "8.0.0", "7.88.1", "7.88.0", "7.87.0",
            "7.86.0", "7.85.0", "7.84.0", "7.83.1", "7.83.0", "7.82.0", "7.81.0", "7.80.0", "7.79.1", "7.79.0",
            "7.78.0", "7.77.0", "7.76.1", "7.76.0", "7.75.0", "7.74.0", "7.73.0", "7.72.0", "7.71.1", "7.71.0",
            "7.70.0", "7.69.1", "7.69.0"
        ]);
    }
    json!({
        "schema_version": "1.5.0",
        "id": "CURL-CVE-2023-38545",
        "aliases": ["CVE-2023-38545"],
        "summary": "SOCKS5 heap buffer overflow",
        "modified": "2024-07-02T09:06:58.00Z",
        "database_specific": {
            "package": "curl",
            "URL": "https://curl.se/docs/CVE-2023-38545.json",
            "www": "https://curl.se/docs/CVE-2023-38545.html",
            "issue": "https://hackerone.com/reports/2187833",
            "CWE": { "id": "CWE-122", "desc": "Heap-based Buffer Overflow" },
            "last_affected": "8.3.0",
            "severity": "High"
        },
        "published": "2023-10-11T08:00:00.00Z",
        "affected": [affected],
        "credits": [{ "name": "Jay Satiro", "type": "FINDER" }],
        "details": "This flaw makes curl overflow a heap based buffer in the SOCKS5 proxy handshake."
    })
}

/// A component of the curl repository (the identity table's `repo`, or one read from a
/// source URL), at `version`.
fn curl(version: &str) -> Target {
    repo_target("https://github.com/curl/curl", Some(version), None, None)
}

#[rstest]
#[case::introduced_edge("7.69.0", Some("8.4.0"))]
#[case::inside("8.0.0", Some("8.4.0"))]
#[case::last_affected("8.3.0", Some("8.4.0"))]
#[case::fixed_edge("8.4.0", None)]
#[case::before("7.68.0", None)]
#[case::later("8.5.0", None)]
fn an_entry_without_a_package_applies_its_semver_range_to_a_component_of_its_repository(
    #[case] version: &str,
    #[case] fixed: Option<&str>,
) {
    for with_versions in [false, true] {
        let (_d, _c, vulndb, stats) = db(&[("curl/CURL-CVE-2023-38545.json", curl_record(with_versions))]);
        assert_eq!((stats.osv, stats.skipped.get("range without package")), (1, None), "{stats:?}");
        let hits = vulndb.scan(&[curl(version)], &linux()).unwrap();
        assert_eq!(
            hits.first().map(|h| h.fixed.clone()),
            fixed.map(|f| Some(f.to_owned())),
            "{version} {with_versions}"
        );
        if let Some(hit) = hits.first() {
            assert_eq!(hit.advisory.aliases, ["CVE-2023-38545"]);
        }
    }
}

#[test]
fn the_semver_range_of_an_entry_without_a_package_says_how_it_matched() {
    let (_d, _c, db, _) = db(&[("c.json", curl_record(false))]);
    let hits = db.scan(&[curl("8.0.0")], &linux()).unwrap();
    assert_eq!(
        summary(&hits),
        [(
            0,
            "CURL-CVE-2023-38545".to_owned(),
            "OSV https://github.com/curl/curl SEMVER range introduced 7.69.0 fixed 8.4.0".to_owned(),
            Some("8.4.0".to_owned())
        )]
    );
    assert_eq!(
        serde_json::to_value(&hits[0].rule).unwrap(),
        json!({ "kind": "repoRange", "repo": "https://github.com/curl/curl", "rangeType": "SEMVER",
                "events": [{ "introduced": "7.69.0" }, { "fixed": "8.4.0" }] })
    );
    // With versions[], the listed release says it, and the fix still comes from the SEMVER range.
    let (_d2, _c2, listed, _) = super::db(&[("c.json", curl_record(true))]);
    let hits = listed.scan(&[curl("8.0.0")], &linux()).unwrap();
    assert_eq!(hits[0].rule.to_string(), "OSV GIT https://github.com/curl/curl version 8.0.0 in versions[] as 8.0.0");
    assert_eq!(hits[0].fixed.as_deref(), Some("8.4.0"));
}

#[test]
fn the_semver_range_of_an_entry_without_a_package_needs_the_repository() {
    let (_d, _c, db, _) = db(&[("c.json", curl_record(false))]);
    // Same version, another repository, or the repository's name as a package: no hit.
    assert!(ids(&db, repo_target("https://github.com/curl/curl-fork", Some("8.0.0"), None, None)).is_empty());
    assert!(ids(&db, package_target("OSS-Fuzz", "curl", "8.0.0")).is_empty());
    assert!(ids(&db, super::cpe_target("haxx", "curl", Some("8.0.0"))).is_empty());
    // A version known only from the tag checked out (`curl-8_0_0`).
    assert_eq!(ids(&db, repo_target("https://github.com/curl/curl", None, Some("curl-8_0_0"), None)).len(), 1);
    // Without any version only a rule for every version could hold.
    assert!(ids(&db, repo_target("https://github.com/curl/curl", None, None, None)).is_empty());
    // And the GIT range's commits still match a checkout at the introducing commit.
    let at_commit =
        repo_target("https://github.com/curl/curl", None, None, Some("4a4b63daaa01ef59b131d91e8e6e6dfe275c0f08"));
    assert_eq!(ids(&db, at_commit).len(), 1);
}

#[test]
fn an_entry_with_a_package_keeps_its_ranges_to_the_package() {
    // An OSS-Fuzz style entry with a package and a GIT range: its ECOSYSTEM range is of the
    // package's versions and does not apply to the repository's.
    let affected = json!([{
        "package": { "ecosystem": "OSS-Fuzz", "name": "curl" },
        "ranges": [
            { "type": "ECOSYSTEM", "events": [{ "introduced": "0" }, { "fixed": "9.0.0" }] },
            { "type": "GIT", "repo": "https://github.com/curl/curl", "events": [
                { "introduced": "1111111111111111111111111111111111111111" } ] }
        ]
    }]);
    let (_d, _c, db, _) = db(&[("o.json", osv_record("OSV-2024-9", affected))]);
    assert!(ids(&db, curl("8.0.0")).is_empty());
    assert_eq!(ids(&db, package_target("OSS-Fuzz", "curl", "8.0.0")).len(), 1);
}
