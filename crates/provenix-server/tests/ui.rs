//! The web UI, in process: every page renders the reports submitted through
//! the API, escapes what builders sent, and refuses bad queries with the
//! API's JSON error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{call, key, post, signed, state};
use tower::ServiceExt as _;

async fn page(st: &provenix_server::AppState, uri: &str) -> (StatusCode, String) {
    let (s, b) = call(st, Request::get(uri).body(Body::empty()).unwrap()).await;
    (s, String::from_utf8(b).unwrap())
}

/// pkg 1: a and b agree; pkg 2: a and b agree, c differs; pkg 3: a alone.
async fn populated(dir: &std::path::Path) -> provenix_server::AppState {
    let (a, b, c) = (key("builder-a"), key("builder-b"), key("builder-c"));
    let st = state(&dir.join("log.sqlite"), &[&a, &b, &c], None).await;
    for (k, n, h) in [(&a, 1, 1), (&b, 1, 1), (&a, 2, 1), (&b, 2, 1), (&c, 2, 9), (&a, 3, 5)] {
        assert_eq!(post(&st, "/api/v1/reports", signed(k, n, h)).await.0, StatusCode::CREATED);
    }
    st
}

fn hash(h: u8) -> String {
    provenix_formats::hash::Hash::from_digest(provenix_formats::hash::HashAlgo::Sha256, &[h; 32])
        .unwrap()
        .to_prefixed_nixbase32()
}

#[tokio::test]
async fn the_overview_counts_reports_builders_and_the_reproducibility_rate() {
    let dir = tempfile::tempdir().unwrap();
    let st = populated(dir.path()).await;
    let resp =
        provenix_server::router(st.clone()).oneshot(Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert!(resp.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("default-src 'none'"));
    let (s, html) = page(&st, "/").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("id=\"stat-reports\"><b>6</b>"), "{html}");
    assert!(html.contains("id=\"stat-builders\"><b>3</b>"));
    assert!(html.contains("id=\"stat-output-paths\"><b>3</b>"));
    assert!(html.contains("id=\"stat-reproduced\"><b>1</b>"));
    assert!(html.contains("id=\"stat-disputed\"><b>1</b>"));
    // One reproduced of the two paths two builders reported.
    assert!(html.contains("<b>50.0%</b>reproducibility rate"));
    assert!(html.contains("<td id=\"tree-size\">6</td>"));
    assert!(html.contains("<code>log.test</code>"));
    assert!(!html.contains("<script"), "no JavaScript");
    assert!(!html.contains("http://") && !html.contains("https://"), "no external assets");
}

#[tokio::test]
async fn a_derivation_page_shows_each_hash_with_its_builders_and_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let st = populated(dir.path()).await;
    let drv = common::report("x", 2, 0).drv;
    let (s, html) = page(&st, &format!("/ui/derivation?path={drv}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("verdict: <span class=\"verdict disputed\">disputed</span>"), "{html}");
    assert!(html.contains(&format!(
        "<tr><td><code>{}</code></td><td><a href=\"/ui/builders/builder-a\">builder-a</a>, \
<a href=\"/ui/builders/builder-b\">builder-b</a></td></tr>",
        hash(1)
    )));
    assert!(html.contains(&format!(
        "<tr><td><code>{}</code></td><td><a href=\"/ui/builders/builder-c\">builder-c</a></td></tr>",
        hash(9)
    )));
    let path = common::report("x", 1, 0).path;
    let (_, html) = page(&st, &format!("/ui/derivation?path={path}")).await;
    assert!(html.contains("verdict: <span class=\"verdict reproduced\">reproduced</span>"));
    assert!(html.contains(&common::report("x", 1, 0).drv), "links the output's derivation");
    let (_, html) = page(&st, &format!("/ui/derivation?path={}", common::report("x", 7, 0).path)).await;
    assert!(html.contains("verdict: <span class=\"verdict unknown\">unknown</span>"));
    assert!(html.contains("No builder has reported this path."));
}

#[tokio::test]
async fn disagreements_builders_and_search_pages_follow_the_reports() {
    let dir = tempfile::tempdir().unwrap();
    let st = populated(dir.path()).await;
    let (_, html) = page(&st, "/ui/disagreements").await;
    assert!(html.contains("1 output paths with more than one NAR hash"), "{html}");
    assert!(html.contains(&common::report("x", 2, 0).path));
    assert!(!html.contains(&common::report("x", 1, 0).path));
    let (_, html) = page(&st, "/ui/builders").await;
    // builder-a: 3 reports, agreed on pkg 1 only, pkg 2 disputed: 50%.
    assert!(html.contains("<td>3</td><td>1</td><td>1</td><td>50.0%</td>"), "{html}");
    let (s, html) = page(&st, "/ui/builders/builder-c").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("<td>1</td><td>0</td><td>1</td><td>0.0%</td>"), "{html}");
    assert!(html.contains(&hash(9)));
    let (s, body) = page(&st, "/ui/builders/nobody").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(body.contains("\"error\":\"not-found\""));
    // By name, case-insensitive: pkg-1 matches pkg-1 only; by the hash part of a path.
    let (_, html) = page(&st, "/ui/search?q=PKG-1").await;
    assert!(html.contains("1 output paths match"), "{html}");
    assert!(html.contains(&common::report("x", 1, 0).path));
    let p3 = common::report("x", 3, 0).path;
    let (_, html) = page(&st, &format!("/ui/search?q={}", &p3[11..20])).await;
    assert!(html.contains(&p3) && html.contains("verdict single"), "{html}");
    let (_, html) = page(&st, "/ui/search?q=pkg-").await;
    assert!(html.contains("3 output paths match"));
    let (_, html) = page(&st, "/ui/search?q=nothing-like-it").await;
    assert!(html.contains("No output path or derivation matches"));
}

#[tokio::test]
async fn text_from_builders_is_escaped_and_bad_queries_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let st = populated(dir.path()).await;
    let (s, html) = page(&st, "/ui/search?q=%3Cscript%3Ealert(1)%3C/script%3E%22").await;
    assert_eq!(s, StatusCode::OK);
    assert!(!html.contains("<script>"));
    assert!(html.contains("value=\"&lt;script&gt;alert(1)&lt;/script&gt;&quot;\""), "{html}");
    let (_, html) = page(&st, "/ui/derivation?path=%3Cb%3E").await;
    assert!(html.contains("<code>&lt;b&gt;</code>") && !html.contains("<b>&"));
    // An unknown builder is a 404 in JSON, never HTML.
    let resp = provenix_server::router(st.clone())
        .oneshot(Request::get("/ui/builders/%3Ci%3E").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        (resp.status(), &resp.headers()[header::CONTENT_TYPE]),
        (StatusCode::NOT_FOUND, &"application/json".parse::<header::HeaderValue>().unwrap())
    );
    let long = "a".repeat(5000);
    for uri in [format!("/ui/search?q={long}"), format!("/ui/derivation?path={long}")] {
        let (s, body) = page(&st, &uri).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}");
        assert!(body.contains("\"error\":\"bad-query\""), "{body}");
    }
    for uri in ["/ui/derivation", "/ui/search?q=x&extra=1"] {
        let (s, body) = page(&st, uri).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}");
        assert!(body.contains("\"error\":\"bad-query\""), "{body}");
    }
}
