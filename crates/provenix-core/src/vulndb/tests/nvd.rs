//! NVD CVE API 2.0: CPE matching, bounds, configurations and platforms.

use std::collections::HashSet;

use rstest::rstest;
use serde_json::{Value, json};

use super::{cpe_match, cpe_target, db, ids, linux, nvd_cve, nvd_page, or_config, summary};

const XZ: &str = "cpe:2.3:a:tukaani:xz:*:*:*:*:*:*:*:*";

fn one(configurations: Value) -> Vec<(&'static str, Value)> {
    vec![("nvd/page-0.json", nvd_page(vec![nvd_cve("CVE-2024-3094", configurations)]))]
}

#[rstest]
#[case::start_including_edge(&[("versionStartIncluding", "5.6.0")], "5.6.0", true)]
#[case::start_including_below(&[("versionStartIncluding", "5.6.0")], "5.5.2", false)]
#[case::start_including_rc_below(&[("versionStartIncluding", "5.6.0")], "5.6.0-rc1", false)]
#[case::start_excluding_edge(&[("versionStartExcluding", "5.6.0")], "5.6.0", false)]
#[case::start_excluding_above(&[("versionStartExcluding", "5.6.0")], "5.6.1", true)]
#[case::end_including_edge(&[("versionEndIncluding", "5.6.1")], "5.6.1", true)]
#[case::end_including_one_past(&[("versionEndIncluding", "5.6.1")], "5.6.2", false)]
#[case::end_including_trailing_zero(&[("versionEndIncluding", "5.6")], "5.6.0", true)]
#[case::end_excluding_edge(&[("versionEndExcluding", "5.6.2")], "5.6.2", false)]
#[case::end_excluding_below(&[("versionEndExcluding", "5.6.2")], "5.6.1", true)]
#[case::end_excluding_rc_before_release(&[("versionEndExcluding", "5.6.2")], "5.6.2-rc1", true)]
#[case::end_excluding_numeric_not_text(&[("versionEndExcluding", "5.10")], "5.9", true)]
#[case::both_inside(&[("versionStartIncluding", "5.6.0"), ("versionEndExcluding", "5.6.2")], "5.6.1", true)]
#[case::both_one_past(&[("versionStartIncluding", "5.6.0"), ("versionEndExcluding", "5.6.2")], "5.6.2", false)]
#[case::no_bounds_every_version(&[], "0.0.1", true)]
fn bounds_decide(#[case] bounds: &[(&str, &str)], #[case] version: &str, #[case] hit: bool) {
    let (_d, _c, db, _) = db(&one(json!([or_config(vec![cpe_match(true, XZ, bounds)])])));
    let found = ids(&db, cpe_target("tukaani", "xz", Some(version)), &linux());
    assert_eq!(found.len(), usize::from(hit), "{version} with {bounds:?}: {found:?}");
}

#[rstest]
#[case::same_version("5.6.0", "5.6.0", true)]
#[case::trailing_zeros("153.0", "153.0.0", true)]
#[case::other_version("5.6.0", "5.6.1", false)]
#[case::rc_is_not_release("2.0", "2.0-rc1", false)]
#[case::letter_suffix("1.1.1s", "1.1.1t", false)]
fn exact_versions(#[case] listed: &str, #[case] version: &str, #[case] hit: bool) {
    let criteria = format!("cpe:2.3:a:tukaani:xz:{listed}:*:*:*:*:*:*:*");
    let (_d, _c, db, _) = db(&one(json!([or_config(vec![cpe_match(true, &criteria, &[])])])));
    assert_eq!(ids(&db, cpe_target("tukaani", "xz", Some(version)), &linux()).len(), usize::from(hit));
}

#[rstest]
#[case::same("tukaani", "xz", true)]
#[case::vendor_mismatch("xz_project", "xz", false)]
#[case::product_mismatch("tukaani", "xz-utils", false)]
#[case::case_insensitive("Tukaani", "XZ", true)]
fn vendor_and_product_both_count(#[case] vendor: &str, #[case] product: &str, #[case] hit: bool) {
    let (_d, _c, db, _) = db(&one(json!([or_config(vec![cpe_match(true, XZ, &[])])])));
    assert_eq!(ids(&db, cpe_target(vendor, product, Some("5.6.0")), &linux()).len(), usize::from(hit));
}

#[test]
fn unbounded_wildcard_hits_every_version_and_unknown_versions() {
    let (_d, _c, db, _) = db(&one(json!([or_config(vec![cpe_match(true, XZ, &[])])])));
    for version in [Some("0.1"), Some("99"), None] {
        assert_eq!(ids(&db, cpe_target("tukaani", "xz", version), &linux()), ["CVE-2024-3094"], "{version:?}");
    }
}

#[test]
fn a_bounded_entry_does_not_hit_an_unknown_version() {
    let m = cpe_match(true, XZ, &[("versionEndExcluding", "5.6.2")]);
    let (_d, _c, db, _) = db(&one(json!([or_config(vec![m])])));
    assert!(ids(&db, cpe_target("tukaani", "xz", None), &linux()).is_empty());
}

/// A nixpkgs snapshot of unreleased code is an unknown version: only entries for every
/// version hit it. A snapshot after a release is ordered just after that release.
#[rstest]
#[case::snapshot_bounded("unstable-2024-01-01", &[("versionEndExcluding", "5.6.2")], false)]
#[case::zero_snapshot_bounded("0-unstable-2024-01-01", &[("versionEndExcluding", "5.6.2")], false)]
#[case::snapshot_start_bound("0-unstable-2024-01-01", &[("versionStartIncluding", "0")], false)]
#[case::snapshot_every_version("unstable-2024-01-01", &[], true)]
#[case::after_release_inside("5.6.1-unstable-2024-04-01", &[("versionEndExcluding", "5.6.2")], true)]
#[case::after_release_past_the_edge("5.6.2-unstable-2024-04-01", &[("versionEndExcluding", "5.6.2")], false)]
fn snapshots_without_a_release_are_unknown_versions(
    #[case] version: &str,
    #[case] bounds: &[(&str, &str)],
    #[case] hit: bool,
) {
    let (_d, _c, db, _) = db(&one(json!([or_config(vec![cpe_match(true, XZ, bounds)])])));
    let found = ids(&db, cpe_target("tukaani", "xz", Some(version)), &linux());
    assert_eq!(found.len(), usize::from(hit), "{version} with {bounds:?}: {found:?}");
}

#[test]
fn a_non_vulnerable_entry_never_hits_on_its_own() {
    let (_d, _c, db, stats) = db(&one(json!([or_config(vec![cpe_match(false, XZ, &[])])])));
    assert!(ids(&db, cpe_target("tukaani", "xz", Some("5.6.0")), &linux()).is_empty());
    assert_eq!(stats.skipped.get("no vulnerable software CPE"), Some(&1));
}

#[test]
fn reports_the_rule_fixed_version_and_advisory() {
    let m = cpe_match(true, XZ, &[("versionStartIncluding", "5.6.0"), ("versionEndExcluding", "5.6.2")]);
    let (_d, _c, db, _) = db(&one(json!([or_config(vec![m])])));
    let hits = db.scan(&[cpe_target("tukaani", "xz", Some("5.6.1"))], &linux()).unwrap();
    assert_eq!(
        summary(&hits),
        [(
            0,
            "CVE-2024-3094".to_owned(),
            format!("{XZ} versionStartIncluding 5.6.0 versionEndExcluding 5.6.2"),
            Some("5.6.2".to_owned())
        )]
    );
    let advisory = &hits[0].advisory;
    assert_eq!(advisory.summary.as_deref(), Some("CVE-2024-3094: malicious code in the upstream tarballs"));
    let severity = advisory.severity.as_ref().unwrap();
    assert_eq!((severity.score, severity.version.as_str(), severity.level.as_str()), (9.8, "3.1", "CRITICAL"));
    assert_eq!(advisory.file, "nvd/page-0.json");
    assert_eq!(advisory.references, ["https://www.openwall.com/lists/oss-security/2024/03/29/4"]);
    let rule = serde_json::to_value(&hits[0].rule).unwrap();
    assert_eq!(rule["kind"], "cpe");
    assert_eq!(rule["versionEndExcluding"], "5.6.2");
}

/// `a:vendor:app` running on `platform`, as NVD writes it.
fn on_platform(platform: &str, negate: bool) -> Value {
    json!([{
        "operator": "AND",
        "nodes": [
            { "operator": "OR", "negate": false, "cpeMatch": [
                cpe_match(true, "cpe:2.3:a:zoom:meetings:*:*:*:*:*:*:*:*", &[("versionEndExcluding", "5.0")]) ] },
            { "operator": "OR", "negate": negate, "cpeMatch": [ cpe_match(false, platform, &[]) ] }
        ]
    }])
}

#[rstest]
#[case::windows_only("cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*", false, &[], false)]
#[case::linux_kernel("cpe:2.3:o:linux:linux_kernel:-:*:*:*:*:*:*:*", false, &[], true)]
#[case::linux_kernel_any_version("cpe:2.3:o:linux:linux_kernel:5.10:*:*:*:*:*:*:*", false, &[], true)]
#[case::any_platform("cpe:2.3:o:*:*:*:*:*:*:*:*:*:*", false, &[], true)]
#[case::macos_only("cpe:2.3:o:apple:macos:*:*:*:*:*:*:*:*", false, &[], false)]
#[case::app_present("cpe:2.3:a:python:python:*:*:*:*:*:*:*:*", false, &[("python", "python")], true)]
#[case::app_absent("cpe:2.3:a:python:python:*:*:*:*:*:*:*:*", false, &[("gnu", "bash")], false)]
#[case::not_windows("cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*", true, &[], true)]
#[case::not_linux("cpe:2.3:o:linux:linux_kernel:-:*:*:*:*:*:*:*", true, &[], false)]
#[case::hardware_platform("cpe:2.3:h:cisco:router:-:*:*:*:*:*:*:*", false, &[], false)]
fn and_configurations_need_their_platform(
    #[case] platform: &str,
    #[case] negate: bool,
    #[case] present: &[(&str, &str)],
    #[case] hit: bool,
) {
    let (_d, _c, db, _) = db(&one(on_platform(platform, negate)));
    let present: HashSet<(String, String)> = present.iter().map(|(v, p)| ((*v).into(), (*p).into())).collect();
    let hits = db.scan(&[cpe_target("zoom", "meetings", Some("4.9"))], &present).unwrap();
    assert_eq!(hits.len(), usize::from(hit), "{platform} negate={negate}");
    if hit && !negate {
        assert!(hits[0].rule.to_string().ends_with(&format!(" on {platform}")), "{}", hits[0].rule);
    }
}

#[test]
fn and_configuration_still_checks_the_version() {
    let (_d, _c, db, _) = db(&one(on_platform("cpe:2.3:o:linux:linux_kernel:-:*:*:*:*:*:*:*", false)));
    assert!(ids(&db, cpe_target("zoom", "meetings", Some("5.0")), &linux()).is_empty());
}

#[rstest]
#[case::or_one_enough("OR", "5.0", true)]
#[case::and_needs_both("AND", "5.0", false)]
fn node_operators(#[case] operator: &str, #[case] version: &str, #[case] hit: bool) {
    // Two entries for the same product: under AND both must hold.
    let config = json!([{ "nodes": [ { "operator": operator, "negate": false, "cpeMatch": [
        cpe_match(true, XZ, &[("versionEndExcluding", "6")]),
        cpe_match(true, XZ, &[("versionEndExcluding", "5")]),
    ] } ] }]);
    let (_d, _c, db, _) = db(&one(config));
    assert_eq!(ids(&db, cpe_target("tukaani", "xz", Some(version)), &linux()).len(), usize::from(hit));
}

#[test]
fn unparseable_cpes_are_skipped_and_counted_the_rest_still_matches() {
    let config = json!([or_config(vec![
        cpe_match(true, "cpe:2.3:a:x::*:*:*:*:*:*:*:*", &[]),
        cpe_match(true, "not a cpe", &[]),
        cpe_match(true, XZ, &[]),
    ])]);
    let (_d, _c, db, stats) = db(&one(config));
    assert_eq!(stats.skipped.get("unparseable CPE"), Some(&2), "{stats:?}");
    assert_eq!(stats.examples.len(), 2);
    assert!(stats.examples[0].starts_with("nvd/page-0.json: CVE-2024-3094: "), "{:?}", stats.examples);
    assert_eq!(ids(&db, cpe_target("tukaani", "xz", Some("1")), &linux()), ["CVE-2024-3094"]);
}

#[test]
fn rejected_and_unconfigured_cves_are_counted_not_indexed() {
    let mut rejected = nvd_cve("CVE-2024-0001", json!([or_config(vec![cpe_match(true, XZ, &[])])]));
    rejected["vulnStatus"] = json!("Rejected");
    let mut awaiting = nvd_cve("CVE-2024-0002", json!([]));
    awaiting["vulnStatus"] = json!("Awaiting Analysis");
    let live = nvd_cve("CVE-2024-0003", json!([or_config(vec![cpe_match(true, XZ, &[])])]));
    let (_d, _c, db, stats) = db(&[("page.json", nvd_page(vec![rejected, awaiting, live]))]);
    assert_eq!((stats.advisories, stats.nvd, stats.rejected), (1, 1, 1));
    assert_eq!(stats.skipped.get("no configurations"), Some(&1));
    assert_eq!(ids(&db, cpe_target("tukaani", "xz", Some("1")), &linux()), ["CVE-2024-0003"]);
}

#[test]
fn a_single_cve_object_file_is_accepted_bare_or_wrapped() {
    let cve = nvd_cve("CVE-2024-3094", json!([or_config(vec![cpe_match(true, XZ, &[])])]));
    let mut other = cve.clone();
    other["id"] = json!("CVE-2024-9999");
    let (_d, _c, db, stats) = db(&[("bare.json", cve), ("wrapped.json", json!({ "cve": other }))]);
    assert_eq!(stats.nvd, 2);
    assert_eq!(ids(&db, cpe_target("tukaani", "xz", Some("1")), &linux()), ["CVE-2024-3094", "CVE-2024-9999"]);
}

#[test]
fn any_vendor_entries_match_by_product() {
    let config = json!([or_config(vec![cpe_match(true, "cpe:2.3:a:*:xz:*:*:*:*:*:*:*:*", &[])])]);
    let (_d, _c, db, _) = db(&one(config));
    assert_eq!(ids(&db, cpe_target("whoever", "xz", Some("1")), &linux()), ["CVE-2024-3094"]);
}

#[test]
fn cvss_v2_severity_is_used_when_nothing_newer_is_there() {
    let mut cve = nvd_cve("CVE-2010-0001", json!([or_config(vec![cpe_match(true, XZ, &[])])]));
    cve["metrics"] = json!({ "cvssMetricV2": [ {
        "source": "nvd@nist.gov", "type": "Primary",
        "cvssData": { "version": "2.0", "vectorString": "AV:N/AC:L/Au:N/C:P/I:P/A:P", "baseScore": 7.5 },
        "baseSeverity": "HIGH"
    } ] });
    let (_d, _c, db, _) = db(&[("p.json", nvd_page(vec![cve]))]);
    let hits = db.scan(&[cpe_target("tukaani", "xz", Some("1"))], &linux()).unwrap();
    let severity = hits[0].advisory.severity.clone().unwrap();
    assert_eq!((severity.score, severity.version.as_str(), severity.level.as_str()), (7.5, "2.0", "HIGH"));
}

#[test]
fn a_vulnerable_entry_without_product_is_skipped_not_a_hit_on_everything() {
    let config = json!([or_config(vec![
        cpe_match(true, "cpe:2.3:a:*:*:*:*:*:*:*:*:*:*", &[]),
        cpe_match(true, "cpe:2.3:a:tukaani:*:*:*:*:*:*:*:*:*", &[]),
    ])]);
    let (_d, _c, db, stats) = db(&one(config));
    assert_eq!(stats.skipped.get("unusable CPE"), Some(&2), "{stats:?}");
    assert!(ids(&db, cpe_target("tukaani", "xz", Some("1")), &linux()).is_empty());
}
