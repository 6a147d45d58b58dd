//! The index: reuse, rebuilding when stale, atomic writes, errors that
//! name the culprit, duplicates and deterministic output.

use std::time::{Duration, SystemTime};

use rstest::rstest;
use serde_json::{Value, json};

use super::{
    cpe_match, cpe_target, cve5_record, db, ids, linux, nvd_cve, nvd_page, open, or_config, osv_record, package_target,
    write_dir,
};
use crate::verify::NoProgress;
use crate::vulndb::{VulnDb, VulnDbError};

const XZ: &str = "cpe:2.3:a:tukaani:xz:*:*:*:*:*:*:*:*";

fn page(id: &str) -> Value {
    nvd_page(vec![nvd_cve(id, json!([or_config(vec![cpe_match(true, XZ, &[])])]))])
}

#[test]
fn an_up_to_date_index_is_reused_and_a_changed_directory_rebuilds_it() {
    let dir = write_dir(&[("a/page.json", page("CVE-2024-0001"))]);
    let cache = tempfile::tempdir().unwrap();
    let index = cache.path().join("sub/vulns.sqlite");
    let (_, first) = VulnDb::open(dir.path(), &index, &NoProgress).unwrap();
    assert!(!first.reused);
    let (db, second) = VulnDb::open(dir.path(), &index, &NoProgress).unwrap();
    assert!(second.reused);
    assert_eq!(super::super::IndexStats { reused: false, ..second }, first);
    assert_eq!(ids(&db, cpe_target("tukaani", "xz", Some("1")), &linux()), ["CVE-2024-0001"]);
    drop(db);

    // A new file, then a changed mtime, each rebuild it.
    std::fs::write(dir.path().join("b.json"), serde_json::to_vec(&page("CVE-2024-0002")).unwrap()).unwrap();
    let (db, third) = VulnDb::open(dir.path(), &index, &NoProgress).unwrap();
    assert!(!third.reused);
    assert_eq!((third.files, third.advisories), (2, 2));
    assert_eq!(ids(&db, cpe_target("tukaani", "xz", Some("1")), &linux()), ["CVE-2024-0001", "CVE-2024-0002"]);
    let file = std::fs::File::options().write(true).open(dir.path().join("b.json")).unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(5)).unwrap();
    let (_, fourth) = VulnDb::open(dir.path(), &index, &NoProgress).unwrap();
    assert!(!fourth.reused);
    // Only the index is left in its directory: no temporary files.
    let names: Vec<_> = std::fs::read_dir(index.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["vulns.sqlite"]);
}

#[test]
fn a_failed_rebuild_leaves_the_old_index_and_no_temporary_file() {
    let dir = write_dir(&[("page.json", page("CVE-2024-0001"))]);
    let cache = tempfile::tempdir().unwrap();
    let index = cache.path().join("vulns.sqlite");
    VulnDb::open(dir.path(), &index, &NoProgress).unwrap();
    let before = std::fs::read(&index).unwrap();
    std::fs::write(dir.path().join("broken.json"), b"{\"vulnerabilities\": [").unwrap();
    let err = VulnDb::open(dir.path(), &index, &NoProgress).unwrap_err();
    assert!(matches!(&err, VulnDbError::Json { file, .. } if file == "broken.json"), "{err:?}");
    assert_eq!(std::fs::read(&index).unwrap(), before);
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 1);
}

#[test]
fn a_file_that_is_not_an_index_is_not_overwritten() {
    let dir = write_dir(&[("page.json", page("CVE-2024-0001"))]);
    let cache = tempfile::tempdir().unwrap();
    let index = cache.path().join("precious.txt");
    std::fs::write(&index, "not sqlite, keep me").unwrap();
    let err = VulnDb::open(dir.path(), &index, &NoProgress).unwrap_err();
    assert!(matches!(err, VulnDbError::NotAnIndex { .. } | VulnDbError::Index { .. }), "{err:?}");
    assert_eq!(std::fs::read_to_string(&index).unwrap(), "not sqlite, keep me");
}

#[rstest]
#[case::unknown_shape(json!({ "hello": "world" }), "x.json: not an NVD 2.0 page, CVE 5 record or OSV record")]
#[case::nvd_1_1(json!({ "CVE_data_type": "CVE", "CVE_Items": [] }), "x.json: not an NVD 2.0 page, CVE 5 record or OSV record; it looks like an NVD 1.1 feed")]
#[case::number(json!(42), "x.json: malformed JSON")]
#[case::record_of_unknown_shape(json!([{ "hello": 1 }]), "x.json: not an NVD 2.0 page")]
#[case::nvd_field_type(
    nvd_page(vec![nvd_cve("CVE-2024-0001", json!([or_config(vec![json!({ "vulnerable": "yes", "criteria": XZ })])]))]),
    "x.json: record 0 (CVE-2024-0001): malformed NVD 2.0 CVE")]
#[case::cve5_missing_state(json!({ "dataType": "CVE_RECORD", "cveMetadata": { "cveId": "CVE-2024-0002" } }),
    "x.json: record 0 (CVE-2024-0002): malformed CVE 5 record")]
#[case::osv_in_array(json!([
    { "id": "GHSA-1", "modified": "2024-01-01T00:00:00Z" },
    { "id": "GHSA-2", "modified": "2024-01-01T00:00:00Z", "affected": "nope" }]),
    "x.json: record 1 (GHSA-2): malformed OSV record")]
fn bad_files_are_errors_naming_file_record_and_field(#[case] content: Value, #[case] message: &str) {
    let dir = write_dir(&[("x.json", content)]);
    let cache = tempfile::tempdir().unwrap();
    let err = VulnDb::open(dir.path(), &cache.path().join("i.sqlite"), &NoProgress).unwrap_err();
    assert!(err.to_string().starts_with(message), "{err}");
    assert!(!cache.path().join("i.sqlite").exists());
}

#[test]
fn the_culprit_field_is_in_the_source_chain() {
    let content = nvd_page(vec![nvd_cve(
        "CVE-2024-0001",
        json!([or_config(vec![json!({ "vulnerable": "yes", "criteria": XZ })])]),
    )]);
    let dir = write_dir(&[("x.json", content)]);
    let cache = tempfile::tempdir().unwrap();
    let err = VulnDb::open(dir.path(), &cache.path().join("i.sqlite"), &NoProgress).unwrap_err();
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert!(source.contains("expected a boolean"), "{source}");
}

#[test]
fn a_missing_directory_is_an_error_naming_it() {
    let cache = tempfile::tempdir().unwrap();
    let missing = cache.path().join("nope");
    let err = VulnDb::open(&missing, &cache.path().join("i.sqlite"), &NoProgress).unwrap_err();
    assert!(matches!(&err, VulnDbError::Io { path, .. } if *path == missing), "{err:?}");
}

#[test]
fn other_files_are_skipped_by_name_and_directories_walked() {
    let dir = write_dir(&[("deep/er/page.json", page("CVE-2024-0001"))]);
    std::fs::write(dir.path().join("README.md"), "not data").unwrap();
    std::fs::write(dir.path().join("deep/notes.txt"), "{").unwrap();
    std::fs::create_dir_all(dir.path().join(".git/objects")).unwrap();
    std::fs::write(dir.path().join(".git/objects/x.json"), "{").unwrap();
    std::fs::write(dir.path().join(".provenix-index.sqlite"), "ours").unwrap();
    let (_c, db, stats) = open(dir.path());
    assert_eq!((stats.files, stats.advisories), (1, 1));
    assert_eq!(stats.skipped_files, [".git/", "README.md", "deep/notes.txt"], "named, never silently dropped");
    let hits = db.scan(&[cpe_target("tukaani", "xz", Some("1"))], &linux()).unwrap();
    assert_eq!(hits[0].advisory.file, "deep/er/page.json");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write as _;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).large_file(false);
    for (name, bytes) in members {
        w.start_file(*name, options).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn gzipped_pages_and_zipped_osv_records_are_read_as_nvd_and_osv_ship_them() {
    let dir = tempfile::tempdir().unwrap();
    let page = serde_json::to_vec(&page("CVE-2024-0001")).unwrap();
    std::fs::write(dir.path().join("nvdcve-2.0-2024.json.gz"), gzip(&page)).unwrap();
    let record = |id: &str| {
        serde_json::to_vec(&osv_record(
            id,
            json!([{ "package": { "ecosystem": "PyPI", "name": "requests" }, "versions": ["2.31.0"] }]),
        ))
        .unwrap()
    };
    let (a, b) = (record("GHSA-aaaa-aaaa-aaaa"), record("PYSEC-2024-1"));
    let zip = zip_of(&[("GHSA-aaaa-aaaa-aaaa.json", &a), ("PYSEC-2024-1.json", &b), ("LICENSE", b"text")]);
    std::fs::write(dir.path().join("all.zip"), zip).unwrap();
    let (_c, db, stats) = open(dir.path());
    assert_eq!((stats.files, stats.nvd, stats.osv), (2, 1, 2), "{stats:?}");
    assert_eq!(stats.skipped_files, ["all.zip/LICENSE"]);
    let hits = db.scan(&[cpe_target("tukaani", "xz", Some("1"))], &linux()).unwrap();
    assert_eq!(hits[0].advisory.file, "nvdcve-2.0-2024.json.gz");
    let hits = db.scan(&[package_target("PyPI", "requests", "2.31.0")], &linux()).unwrap();
    let files: Vec<&str> = hits.iter().map(|h| h.advisory.file.as_str()).collect();
    assert_eq!(files, ["all.zip/GHSA-aaaa-aaaa-aaaa.json", "all.zip/PYSEC-2024-1.json"]);
}

#[test]
fn a_decompression_bomb_is_refused_naming_the_file() {
    // 80 MiB of spaces (valid JSON padding) compress to about 80 KiB: a thousandfold expansion.
    let mut padded = serde_json::to_vec(&page("CVE-2024-0001")).unwrap();
    padded.resize(padded.len() + (80 << 20), b' ');
    for (name, bytes) in [("bomb.json.gz", gzip(&padded)), ("bomb.zip", zip_of(&[("page.json", &padded)]))] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(name), &bytes).unwrap();
        let cache = tempfile::tempdir().unwrap();
        let err = VulnDb::open(dir.path(), &cache.path().join("i.sqlite"), &NoProgress).unwrap_err();
        let want = if name.ends_with(".zip") { "bomb.zip/page.json" } else { "bomb.json.gz" };
        assert!(matches!(&err, VulnDbError::Bomb { file, .. } if file == want), "{err:?}");
        assert!(err.to_string().contains("decompression bomb"), "{err}");
    }
}

#[test]
fn corrupt_compressed_files_are_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("feed.json.gz"), b"\x1f\x8bnot really gzip").unwrap();
    let cache = tempfile::tempdir().unwrap();
    let err = VulnDb::open(dir.path(), &cache.path().join("i.sqlite"), &NoProgress).unwrap_err();
    assert!(matches!(&err, VulnDbError::Decompress { file, .. } if file == "feed.json.gz"), "{err:?}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("all.zip"), b"PK\x03\x04 truncated").unwrap();
    let err = VulnDb::open(dir.path(), &cache.path().join("j.sqlite"), &NoProgress).unwrap_err();
    assert!(matches!(&err, VulnDbError::Archive { file, .. } if file == "all.zip"), "{err:?}");
}

#[test]
fn the_newest_modification_time_is_recorded() {
    let mut old = nvd_cve("CVE-2024-0001", json!([or_config(vec![cpe_match(true, XZ, &[])])]));
    old["lastModified"] = json!("2024-01-02T00:00:00.000");
    let mut new = nvd_cve("CVE-2024-0002", json!([or_config(vec![cpe_match(true, XZ, &[])])]));
    new["lastModified"] = json!("2024-11-30T10:00:00.500");
    let (_d, _c, _db, stats) = db(&[("p.json", nvd_page(vec![new, old]))]);
    assert_eq!(stats.newest.as_deref(), Some("2024-11-30T10:00:00.500"));
}

#[cfg(unix)]
#[test]
fn symlinked_directories_are_followed_once() {
    let data = write_dir(&[("page.json", page("CVE-2024-0001"))]);
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(data.path(), dir.path().join("feed")).unwrap();
    std::os::unix::fs::symlink(dir.path(), dir.path().join("loop")).unwrap();
    let (_c, _db, stats) = open(dir.path());
    assert_eq!((stats.files, stats.advisories), (1, 1));
}

#[test]
fn the_newest_copy_of_an_advisory_wins() {
    let mut old =
        nvd_cve("CVE-2024-0001", json!([or_config(vec![cpe_match(true, XZ, &[("versionEndExcluding", "2")])])]));
    old["lastModified"] = json!("2024-01-01T00:00:00.000");
    let mut new =
        nvd_cve("CVE-2024-0001", json!([or_config(vec![cpe_match(true, XZ, &[("versionEndExcluding", "3")])])]));
    new["lastModified"] = json!("2024-02-01T00:00:00.000");
    // The newer copy comes first in path order, so order alone would pick the wrong one.
    let (_d, _c, db, stats) = db(&[("a.json", nvd_page(vec![new])), ("b.json", nvd_page(vec![old]))]);
    assert_eq!((stats.advisories, stats.duplicates), (1, 1));
    let hits = db.scan(&[cpe_target("tukaani", "xz", Some("2.5"))], &linux()).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].advisory.file, "a.json");
}

/// Modification times are instants: `11:00+02:00` is before `10:00Z`, though it sorts after it
/// as text, fractions of a second count, and only an exact tie keeps the later file.
#[rstest]
#[case::offsets("2024-05-01T10:00:00Z", "2024-05-01T11:00:00+02:00", "a.json")]
#[case::fraction_is_later("2024-05-01T10:00:00Z", "2024-05-01T10:00:00.5Z", "b.json")]
#[case::fraction_earlier_in_the_later_file("2024-05-01T10:00:00.5Z", "2024-05-01T10:00:00.25Z", "a.json")]
#[case::fraction_earlier_than_none("2024-05-01T10:00:00.001Z", "2024-05-01T10:00:00Z", "a.json")]
#[case::fraction_across_offsets("2024-05-01T12:00:00.9+02:00", "2024-05-01T10:00:00.10Z", "a.json")]
#[case::trailing_zeros_are_a_tie("2024-05-01T10:00:00.50Z", "2024-05-01T10:00:00.5Z", "b.json")]
#[case::zero_fraction_is_a_tie("2024-05-01T10:00:00.000Z", "2024-05-01T10:00:00Z", "b.json")]
#[case::plain_order("2024-05-01T10:00:00Z", "2024-05-02T00:00:00Z", "b.json")]
#[case::nvd_form_without_offset("2024-05-01T10:00:00.000", "2024-05-01T09:00:00Z", "a.json")]
fn copies_are_ordered_by_instant(#[case] a: &str, #[case] b: &str, #[case] kept: &str) {
    let record = |bound: &str, modified: &str| {
        let mut r = osv_record(
            "GHSA-9wx4-h78v-vm56",
            json!([{ "package": { "ecosystem": "PyPI", "name": "requests" },
                     "ranges": [{ "type": "ECOSYSTEM", "events": [{ "introduced": "0" }, { "fixed": bound }] }] }]),
        );
        r["modified"] = json!(modified);
        r
    };
    let (_d, _c, db, stats) = db(&[("a.json", record("3.0", a)), ("b.json", record("3.0", b))]);
    assert_eq!((stats.advisories, stats.duplicates), (1, 1));
    let hits = db.scan(&[package_target("PyPI", "requests", "2.0")], &linux()).unwrap();
    assert_eq!(hits[0].advisory.file, kept, "{a} vs {b}");
}

#[test]
fn sources_are_kept_apart_and_hits_sorted() {
    let files = [
        ("nvd.json", page("CVE-2024-0002")),
        (
            "cve5.json",
            cve5_record(
                "CVE-2024-0002",
                json!([{ "vendor": "tukaani", "product": "xz", "defaultStatus": "affected" }]),
            ),
        ),
        ("z.json", page("CVE-2024-0001")),
    ];
    let (_d, _c, db, stats) = db(&files);
    assert_eq!((stats.nvd, stats.cve5, stats.advisories), (2, 1, 3));
    let targets = [
        cpe_target("tukaani", "xz", Some("2")),
        cpe_target("nobody", "nothing", Some("1")),
        cpe_target("tukaani", "xz", None),
    ];
    let hits = db.scan(&targets, &linux()).unwrap();
    let got: Vec<_> = hits.iter().map(|h| (h.target, h.advisory.id.as_str(), h.advisory.source.as_str())).collect();
    assert_eq!(
        got,
        [
            (0, "CVE-2024-0001", "nvd"),
            (0, "CVE-2024-0002", "nvd"),
            (0, "CVE-2024-0002", "cve5"),
            (2, "CVE-2024-0001", "nvd"),
            (2, "CVE-2024-0002", "nvd"),
            (2, "CVE-2024-0002", "cve5"),
        ]
    );
    // One advisory is decoded once per scan and shared.
    assert!(std::sync::Arc::ptr_eq(&hits[0].advisory, &hits[3].advisory));
    let again = db.scan(&targets, &linux()).unwrap();
    assert_eq!(again, hits);
}

#[test]
fn no_targets_no_hits() {
    let (_d, _c, db, _) = db(&[("p.json", page("CVE-2024-0001"))]);
    assert!(db.scan(&[], &linux()).unwrap().is_empty());
    assert!(db.scan(&[super::super::Target::default()], &linux()).unwrap().is_empty());
}
