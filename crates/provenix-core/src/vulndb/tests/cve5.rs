//! CVE JSON 5: affected entries by vendor and product, version ranges,
//! default status, CPEs and ADP containers.

use rstest::rstest;
use serde_json::{Value, json};

use super::{cpe_target, cve5_record, db, ids, linux, summary};

fn xz(versions: Value, default_status: Option<&str>) -> Vec<(&'static str, Value)> {
    let mut affected = json!({ "vendor": "Tukaani", "product": "xz", "versions": versions });
    if let Some(d) = default_status {
        affected["defaultStatus"] = json!(d);
    }
    vec![("cves/2024/3xxx/CVE-2024-3094.json", cve5_record("CVE-2024-3094", json!([affected])))]
}

#[rstest]
#[case::less_than_start_edge(json!([{"version": "5.6.0", "lessThan": "5.6.2", "status": "affected", "versionType": "semver"}]), "5.6.0", true)]
#[case::less_than_below_start(json!([{"version": "5.6.0", "lessThan": "5.6.2", "status": "affected"}]), "5.5.9", false)]
#[case::less_than_inside(json!([{"version": "5.6.0", "lessThan": "5.6.2", "status": "affected"}]), "5.6.1", true)]
#[case::less_than_edge(json!([{"version": "5.6.0", "lessThan": "5.6.2", "status": "affected"}]), "5.6.2", false)]
#[case::less_than_rc(json!([{"version": "5.6.0", "lessThan": "5.6.2", "status": "affected"}]), "5.6.2-rc1", true)]
#[case::less_than_or_equal_edge(json!([{"version": "5.6.0", "lessThanOrEqual": "5.6.1", "status": "affected"}]), "5.6.1", true)]
#[case::less_than_or_equal_one_past(json!([{"version": "5.6.0", "lessThanOrEqual": "5.6.1", "status": "affected"}]), "5.6.2", false)]
#[case::exact(json!([{"version": "5.6.0", "status": "affected"}]), "5.6.0", true)]
#[case::exact_other(json!([{"version": "5.6.0", "status": "affected"}]), "5.6.1", false)]
#[case::from_zero(json!([{"version": "0", "lessThan": "5.6.2", "status": "affected"}]), "1.0", true)]
#[case::from_star(json!([{"version": "*", "lessThanOrEqual": "5.6.1", "status": "affected"}]), "4.2", true)]
#[case::less_than_star(json!([{"version": "5.6.0", "lessThan": "*", "status": "affected"}]), "9.9", true)]
#[case::unaffected_only(json!([{"version": "5.6.0", "status": "unaffected"}]), "5.6.0", false)]
#[case::unaffected_wins(json!([
    {"version": "5.0", "lessThan": "6.0", "status": "affected"},
    {"version": "5.6.1", "status": "unaffected"}]), "5.6.1", false)]
#[case::changes(json!([{"version": "5.0", "lessThan": "6.0", "status": "unaffected",
    "changes": [{"at": "5.6.0", "status": "affected"}, {"at": "5.6.2", "status": "unaffected"}]}]), "5.6.1", true)]
#[case::changes_after(json!([{"version": "5.0", "lessThan": "6.0", "status": "unaffected",
    "changes": [{"at": "5.6.0", "status": "affected"}, {"at": "5.6.2", "status": "unaffected"}]}]), "5.6.2", false)]
fn versions_decide(#[case] versions: Value, #[case] version: &str, #[case] hit: bool) {
    let (_d, _c, db, _) = db(&xz(versions.clone(), Some("unaffected")));
    assert_eq!(
        ids(&db, cpe_target("tukaani", "xz", Some(version)), &linux()).len(),
        usize::from(hit),
        "{version} {versions}"
    );
}

/// The Linux kernel's CNA writes affected-by-default records with unaffected ranges.
fn kernel() -> Vec<(&'static str, Value)> {
    let affected = json!([{
        "vendor": "Linux", "product": "Linux", "defaultStatus": "affected",
        "repo": "https://git.kernel.org/pub/scm/linux/kernel/git/stable/linux.git",
        "versions": [
            {"version": "5.4", "status": "affected"},
            {"version": "0", "lessThan": "5.4", "status": "unaffected", "versionType": "semver"},
            {"version": "6.1.80", "lessThanOrEqual": "6.1.*", "status": "unaffected", "versionType": "semver"},
            {"version": "6.6.19", "lessThanOrEqual": "6.6.*", "status": "unaffected", "versionType": "semver"},
            {"version": "6.8", "lessThanOrEqual": "*", "status": "unaffected", "versionType": "original_commit_for_fix"},
            {"version": "0123456789abcdef0123456789abcdef01234567", "lessThan": "89abcdef0123456789abcdef0123456789abcdef",
             "status": "affected", "versionType": "git"}
        ]
    }]);
    vec![("kernel.json", cve5_record("CVE-2024-26581", affected))]
}

#[rstest]
#[case::before_introduction("5.3.18", false, None)]
#[case::introduced("5.4", true, None)]
#[case::branch_without_fix("5.15.150", true, Some("6.1.80"))]
#[case::branch_before_fix("6.1.79", true, Some("6.1.80"))]
#[case::branch_fix_edge("6.1.80", false, None)]
#[case::branch_after_fix("6.1.200", false, None)]
#[case::other_branch_before_fix("6.6.18", true, Some("6.6.19"))]
#[case::mainline_fix("6.8", false, None)]
#[case::later_mainline("6.9.1", false, None)]
fn default_affected_with_unaffected_ranges(#[case] version: &str, #[case] hit: bool, #[case] fixed: Option<&str>) {
    let (_d, _c, db, stats) = db(&kernel());
    assert_eq!(stats.skipped.get("git version"), Some(&1));
    let hits = db.scan(&[cpe_target("linux", "linux", Some(version))], &linux()).unwrap();
    assert_eq!(hits.len(), usize::from(hit), "{version}");
    if hit {
        assert_eq!(hits[0].fixed.as_deref(), fixed, "{version}");
    }
}

/// A stable branch whose number ends in zero (`6.0.*`) covers only that
/// branch: the zeros of a wildcard are kept, so 6.1 and later stay affected.
#[rstest]
#[case::zero_branch_before_fix("6.0.4", true, Some("6.0.5"))]
#[case::zero_branch_fix_edge("6.0.5", false, None)]
#[case::zero_branch_after_fix("6.0.19", false, None)]
#[case::bare_major_is_the_zero_branch("6", true, Some("6.0.5"))]
#[case::next_branch_not_covered("6.1.79", true, None)]
#[case::next_major_not_covered("7.0.1", true, None)]
fn wildcard_of_a_zero_branch_keeps_its_zeros(#[case] version: &str, #[case] hit: bool, #[case] fixed: Option<&str>) {
    let affected = json!([{
        "vendor": "Linux", "product": "Linux", "defaultStatus": "affected",
        "versions": [{"version": "6.0.5", "lessThanOrEqual": "6.0.*", "status": "unaffected", "versionType": "semver"}]
    }]);
    let (_d, _c, db, _) = db(&[("kernel.json", cve5_record("CVE-2024-26582", affected))]);
    let hits = db.scan(&[cpe_target("linux", "linux", Some(version))], &linux()).unwrap();
    assert_eq!(hits.len(), usize::from(hit), "{version}");
    if hit {
        assert_eq!(hits[0].fixed.as_deref(), fixed, "{version}");
    }
}

#[test]
fn reports_rule_and_fixed_version() {
    let (_d, _c, db, _) = db(&xz(json!([{"version": "5.6.0", "lessThan": "5.6.2", "status": "affected"}]), None));
    let hits = db.scan(&[cpe_target("tukaani", "xz", Some("5.6.1"))], &linux()).unwrap();
    assert_eq!(
        summary(&hits),
        [(
            0,
            "CVE-2024-3094".to_owned(),
            "CVE5 Tukaani/xz version 5.6.0 lessThan 5.6.2".to_owned(),
            Some("5.6.2".to_owned())
        )]
    );
    let a = &hits[0].advisory;
    assert_eq!((a.source.as_str(), a.summary.as_deref()), ("cve5", Some("CVE-2024-3094 description")));
    assert_eq!(a.severity.as_ref().map(|s| s.score), Some(9.8));
    assert_eq!(serde_json::to_value(&hits[0].rule).unwrap()["kind"], "cve5");
}

#[rstest]
#[case::spaces_as_underscores("Tukaani Project", "XZ Utils", "tukaani_project", "xz_utils", true)]
#[case::vendor_mismatch("Tukaani Project", "XZ Utils", "other", "xz_utils", false)]
#[case::product_mismatch("Tukaani Project", "XZ Utils", "tukaani_project", "xz", false)]
fn names_are_normalised(
    #[case] vendor: &str,
    #[case] product: &str,
    #[case] target_vendor: &str,
    #[case] target_product: &str,
    #[case] hit: bool,
) {
    let affected = json!([{ "vendor": vendor, "product": product, "defaultStatus": "affected" }]);
    let (_d, _c, db, _) = db(&[("r.json", cve5_record("CVE-2024-3094", affected))]);
    assert_eq!(ids(&db, cpe_target(target_vendor, target_product, Some("5.6.0")), &linux()).len(), usize::from(hit));
}

#[test]
fn default_status_without_versions_is_every_version_and_unknown_versions() {
    let affected = json!([{ "vendor": "Tukaani", "product": "xz", "defaultStatus": "affected" }]);
    let (_d, _c, db, _) = db(&[("r.json", cve5_record("CVE-2024-3094", affected))]);
    assert_eq!(ids(&db, cpe_target("tukaani", "xz", None), &linux()).len(), 1);
    let hits = db.scan(&[cpe_target("tukaani", "xz", Some("1"))], &linux()).unwrap();
    assert_eq!(hits[0].rule.to_string(), "CVE5 Tukaani/xz defaultStatus affected");
}

#[test]
fn cpes_name_the_product_when_vendor_is_not_applicable() {
    let affected = json!([{
        "vendor": "n/a", "product": "n/a",
        "cpes": ["cpe:2.3:a:tukaani:xz:*:*:*:*:*:*:*:*", "cpe:/a:tukaani:xz_utils"],
        "versions": [{"version": "5.6.0", "lessThan": "5.6.2", "status": "affected"}]
    }]);
    let (_d, _c, db, _) = db(&[("r.json", cve5_record("CVE-2024-3094", affected))]);
    assert_eq!(ids(&db, cpe_target("tukaani", "xz", Some("5.6.1")), &linux()).len(), 1);
    assert_eq!(ids(&db, cpe_target("tukaani", "xz_utils", Some("5.6.1")), &linux()).len(), 1, "CPE 2.2 URI");
    assert!(ids(&db, cpe_target("tukaani", "xz", Some("5.6.2")), &linux()).is_empty());
    assert!(ids(&db, cpe_target("other", "xz", Some("5.6.1")), &linux()).is_empty());
}

#[test]
fn a_cpe_with_a_version_names_that_version() {
    let affected = json!([{ "vendor": "n/a", "product": "n/a", "cpes": ["cpe:2.3:a:tukaani:xz:5.6.0:*:*:*:*:*:*:*"] }]);
    let (_d, _c, db, stats) = db(&[("r.json", cve5_record("CVE-2024-3094", affected))]);
    assert_eq!(stats.cve5, 1, "{stats:?}");
    let hits = db.scan(&[cpe_target("tukaani", "xz", Some("5.6.0"))], &linux()).unwrap();
    assert_eq!(hits[0].rule.to_string(), "cpe:2.3:a:tukaani:xz:5.6.0:*:*:*:*:*:*:*");
    assert!(ids(&db, cpe_target("tukaani", "xz", Some("5.6.1")), &linux()).is_empty());
}

#[test]
fn adp_containers_add_affected_entries_and_metrics() {
    let mut record = cve5_record(
        "CVE-2024-3094",
        json!([{ "vendor": "n/a", "product": "n/a", "versions": [{"version": "n/a", "status": "affected"}] }]),
    );
    record["containers"]["cna"]["metrics"] = json!([]);
    record["containers"]["adp"] = json!([{
        "providerMetadata": { "orgId": "134c704f-9b21-4f2e-91b3-4a467353bcc0", "shortName": "CISA-ADP" },
        "title": "CISA ADP Vulnrichment",
        "affected": [{ "vendor": "tukaani", "product": "xz", "cpes": ["cpe:2.3:a:tukaani:xz:*:*:*:*:*:*:*:*"],
                       "defaultStatus": "unknown", "versions": [{"version": "5.6.0", "status": "affected", "lessThanOrEqual": "5.6.1", "versionType": "custom"}] }],
        "metrics": [{ "cvssV3_1": { "version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", "baseScore": 10.0, "baseSeverity": "CRITICAL" } }]
    }]);
    let (_d, _c, db, stats) = db(&[("r.json", record)]);
    assert_eq!(stats.skipped.get("no usable vendor/product"), Some(&1), "{stats:?}");
    let hits = db.scan(&[cpe_target("tukaani", "xz", Some("5.6.1"))], &linux()).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].advisory.severity.as_ref().map(|s| s.score), Some(10.0));
}

#[test]
fn rejected_records_are_counted_not_indexed() {
    let mut record =
        cve5_record("CVE-2024-0001", json!([{ "vendor": "Tukaani", "product": "xz", "defaultStatus": "affected" }]));
    record["cveMetadata"]["state"] = json!("REJECTED");
    record["containers"]["cna"]["rejectedReasons"] = json!([{ "lang": "en", "value": "duplicate" }]);
    let live =
        cve5_record("CVE-2024-0002", json!([{ "vendor": "Tukaani", "product": "xz", "defaultStatus": "affected" }]));
    let (_d, _c, db, stats) = db(&[("a.json", record), ("b.json", live)]);
    assert_eq!((stats.rejected, stats.cve5, stats.advisories), (1, 1, 1));
    assert_eq!(ids(&db, cpe_target("tukaani", "xz", Some("1")), &linux()), ["CVE-2024-0002"]);
}

#[test]
fn a_plain_array_of_records_is_read() {
    let a =
        cve5_record("CVE-2024-0001", json!([{ "vendor": "Tukaani", "product": "xz", "defaultStatus": "affected" }]));
    let b =
        cve5_record("CVE-2024-0002", json!([{ "vendor": "Tukaani", "product": "xz", "defaultStatus": "affected" }]));
    let (_d, _c, db, stats) = db(&[("cves.json", json!([a, b]))]);
    assert_eq!(stats.cve5, 2);
    assert_eq!(ids(&db, cpe_target("tukaani", "xz", Some("1")), &linux()), ["CVE-2024-0001", "CVE-2024-0002"]);
}
