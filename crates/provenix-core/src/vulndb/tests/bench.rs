//! Figures, not a test: indexes generated NVD 2.0 pages and scans generated
//! targets, printing the times. Run with
//! `cargo test --release -p provenix-core --lib vulndb::tests::bench -- --ignored --nocapture`
//! (`VULNDB_BENCH_CVES`, default 200000; `VULNDB_BENCH_TARGETS`, default 26000).

use std::collections::HashSet;
use std::io::Write;
use std::time::Instant;

use super::{CpeId, Target, VulnDb};
use crate::verify::NoProgress;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
#[ignore = "prints figures; run in release"]
fn generated_index_and_scan_figures() {
    let cves = env("VULNDB_BENCH_CVES", 200_000);
    let target_count = env("VULNDB_BENCH_TARGETS", 26_000);
    let products = 40_000;
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let per_page = 2000;
    let mut bytes = 0usize;
    for page in 0..cves.div_ceil(per_page) {
        let mut out = Vec::with_capacity(per_page * 900);
        write!(out, r#"{{"resultsPerPage":{per_page},"startIndex":{},"totalResults":{cves},"format":"NVD_CVE","version":"2.0","timestamp":"2024-04-01T00:00:00.000","vulnerabilities":["#, page * per_page).unwrap();
        for i in page * per_page..((page + 1) * per_page).min(cves) {
            if i % per_page != 0 {
                out.push(b',');
            }
            // Spread over `products`, a few versions each; some rejected, some AND-with-platform.
            let product = (i * 7919) % products;
            let (major, minor) = (i % 5, i % 13);
            let status = if i % 97 == 0 { "Rejected" } else { "Analyzed" };
            let platform = if i % 10 == 0 {
                r#",{"operator":"OR","negate":false,"cpeMatch":[{"vulnerable":false,"criteria":"cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*","matchCriteriaId":"B"}]}"#
            } else {
                ""
            };
            let operator = if platform.is_empty() { "" } else { r#""operator":"AND","# };
            write!(
                out,
                r#"{{"cve":{{"id":"CVE-2099-{i:06}","sourceIdentifier":"gen","published":"2024-01-01T00:00:00.000","lastModified":"2024-01-02T00:00:00.000","vulnStatus":"{status}","descriptions":[{{"lang":"en","value":"Generated vulnerability {i} in pkg-{product}."}}],"metrics":{{"cvssMetricV31":[{{"source":"nvd@nist.gov","type":"Primary","cvssData":{{"version":"3.1","vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H","baseScore":9.8,"baseSeverity":"CRITICAL"}}}}]}},"configurations":[{{{operator}"nodes":[{{"operator":"OR","negate":false,"cpeMatch":[{{"vulnerable":true,"criteria":"cpe:2.3:a:gen:pkg-{product}:*:*:*:*:*:*:*:*","versionStartIncluding":"{major}.0","versionEndExcluding":"{major}.{minor}.1","matchCriteriaId":"A"}}]}}{platform}]}}],"references":[{{"url":"https://example.invalid/{i}"}}]}}}}"#
            )
            .unwrap();
        }
        out.extend_from_slice(b"]}");
        bytes += out.len();
        std::fs::write(dir.path().join(format!("nvd-{page:04}.json")), out).unwrap();
    }
    println!("generated {cves} CVEs, {} MB, in {:.2?}", bytes >> 20, start.elapsed());

    let cache = tempfile::tempdir().unwrap();
    let index = cache.path().join("vulns.sqlite");
    let start = Instant::now();
    let (db, stats) = VulnDb::open(dir.path(), &index, &NoProgress).unwrap();
    let size = std::fs::metadata(&index).unwrap().len();
    println!(
        "indexed in {:.2?}: {} advisories, {} rejected, {} skipped kinds, index {} MB",
        start.elapsed(),
        stats.advisories,
        stats.rejected,
        stats.skipped.len(),
        size >> 20
    );
    drop(db);
    let start = Instant::now();
    let (db, stats) = VulnDb::open(dir.path(), &index, &NoProgress).unwrap();
    assert!(stats.reused);
    println!("reopened (up to date) in {:.2?}", start.elapsed());

    let targets: Vec<Target> = (0..target_count)
        .map(|i| Target {
            version: Some(format!("{}.{}.{}", i % 5, i % 11, i % 3)),
            cpes: vec![CpeId { vendor: "gen".into(), product: format!("pkg-{i}") }],
            ..Target::default()
        })
        .collect();
    let present: HashSet<(String, String)> =
        targets.iter().flat_map(|t| &t.cpes).map(|c| (c.vendor.clone(), c.product.clone())).collect();
    for round in 0..3 {
        let start = Instant::now();
        let hits = db.scan(&targets, &present).unwrap();
        let distinct: HashSet<&str> = hits.iter().map(|h| h.advisory.id.as_str()).collect();
        println!(
            "scan {round}: {} targets, {} hits ({} advisories) in {:.2?}",
            targets.len(),
            hits.len(),
            distinct.len(),
            start.elapsed()
        );
    }
}
