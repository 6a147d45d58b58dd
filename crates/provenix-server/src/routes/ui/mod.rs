//! The web UI, server-rendered HTML from the same process as the API:
//!
//! | page | shows |
//! |---|---|
//! | `GET /` | counts (reports, builders, outputs, reproducibility rate), the latest checkpoint, recent reports |
//! | `GET /ui/derivation?path=P` | per output of a `.drv` (or one output path): verdict, hashes and their builders, every report |
//! | `GET /ui/disagreements` | output paths with more than one NAR hash, most recent first |
//! | `GET /ui/builders`, `GET /ui/builders/{name}` | builders with agreement rates; one builder's key, rate and history |
//! | `GET /ui/search?q=TEXT` | output paths the text is a prefix of: a store path, a hash part or a name ([`crate::store::search_matches`]) |
//!
//! No JavaScript and no external assets; every submitted string is escaped.
//! Bad queries get the API's 4xx JSON error.

mod html;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use base64::Engine as _;
use provenix_formats::log::checkpoint::Checkpoint;
use provenix_formats::log::note::Note;
use serde::Deserialize;

use super::{blocking, nar_hash_text};
use crate::AppState;
use crate::error::AppError;
use crate::store::ReportRow;
use crate::verdict::{self, Verdict};
use html::{badge, builder_link, esc, page, path_link, percent};

/// Longest path or search text accepted.
const MAX_QUERY_LEN: usize = 4096;
/// Recent reports on the overview.
const RECENT: u64 = 20;
/// Output paths on the disagreements page.
const DISAGREEMENTS: u64 = 100;
/// Reports on a builder's page.
const HISTORY: u64 = 200;
/// Search hits shown.
const HITS: u64 = 200;

/// The UI's routes, merged into the API's router.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(overview))
        .route("/ui/derivation", get(derivation))
        .route("/ui/disagreements", get(disagreements))
        .route("/ui/builders", get(builders))
        .route("/ui/builders/{name}", get(builder))
        .route("/ui/search", get(search))
}

/// The query string, or the API's 400 naming what is wrong with it.
fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, AppError> {
    q.map(|Query(q)| q).map_err(|e| AppError::bad_request("bad-query", e.body_text()))
}

fn check_len(what: &str, s: &str) -> Result<(), AppError> {
    if s.len() > MAX_QUERY_LEN {
        return Err(AppError::bad_request("bad-query", format!("{what} is longer than {MAX_QUERY_LEN} bytes")));
    }
    Ok(())
}

/// A table of reports: index, builder, NAR hash, time (and path when `with_path`).
fn reports_table(rows: &[ReportRow], with_path: bool) -> String {
    let mut t = String::from("<table class=\"reports\"><tr><th>entry</th>");
    if with_path {
        t.push_str("<th>output path</th>");
    }
    t.push_str("<th>builder</th><th>NAR hash</th><th>built</th></tr>");
    for r in rows {
        let _ = write!(t, "<tr><td>{}</td>", r.index);
        if with_path {
            let _ = write!(t, "<td>{}</td>", path_link(&r.path));
        }
        let _ = write!(
            t,
            "<td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            builder_link(&r.builder),
            esc(&nar_hash_text(&r.nar_hash)),
            esc(&r.time)
        );
    }
    t.push_str("</table>");
    t
}

/// One output path's section: verdict, each hash with its builders, every report.
fn output_section(path: &str, rows: &[&ReportRow]) -> (Verdict, String) {
    let v = verdict::of_output(rows.iter().copied());
    let mut hashes: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for r in rows {
        let b = hashes.entry(nar_hash_text(&r.nar_hash)).or_default();
        if !b.contains(&r.builder.as_str()) {
            b.push(&r.builder);
        }
    }
    let output = rows.first().map_or("", |r| r.output.as_str());
    let mut s = format!(
        "<section class=\"output\"><h2>output <code>{}</code> {}</h2><p>{}</p>\
<table class=\"hashes\"><tr><th>NAR hash</th><th>builders</th></tr>",
        esc(output),
        badge(v),
        path_link(path)
    );
    for (hash, builders) in &hashes {
        let names: Vec<String> = builders.iter().map(|b| builder_link(b)).collect();
        let _ = write!(s, "<tr><td><code>{}</code></td><td>{}</td></tr>", esc(hash), names.join(", "));
    }
    s.push_str("</table>");
    let owned: Vec<ReportRow> = rows.iter().map(|r| (*r).clone()).collect();
    s.push_str(&reports_table(&owned, false));
    s.push_str("</section>");
    (v, s)
}

fn group_by_path(rows: &[ReportRow]) -> BTreeMap<&str, Vec<&ReportRow>> {
    let mut by_path: BTreeMap<&str, Vec<&ReportRow>> = BTreeMap::new();
    for r in rows {
        by_path.entry(r.path.as_str()).or_default().push(r);
    }
    by_path
}

async fn overview(State(state): State<AppState>) -> Result<Response, AppError> {
    let dir = state.store_dir().clone();
    let (summary, builders, checkpoint, recent) = blocking(&state, move |s| {
        let latest = s.latest_checkpoint()?;
        let size = latest.as_ref().map_or(0, |(n, _)| *n);
        let summary = s.summary(&dir)?;
        let builders = s.builders()?.len();
        let first = size.saturating_sub(RECENT);
        let mut recent = Vec::new();
        for (index, data) in s.entries(first, size - first)? {
            if let Ok(e) = provenix_formats::log::report::Entry::parse(&data, &dir) {
                recent.push(ReportRow {
                    index,
                    drv: e.report.drv,
                    output: e.report.output,
                    path: e.report.path,
                    nar_hash: e.report.nar_hash,
                    builder: e.report.builder,
                    time: e.report.time,
                });
            }
        }
        recent.reverse();
        Ok((summary, builders, latest.map(|(_, n)| n), recent))
    })
    .await?;
    let mut b = String::from("<div class=\"stats\">");
    let compared = summary.reproduced + summary.disputed;
    for (label, value) in [
        ("reports", summary.reports.to_string()),
        ("builders", builders.to_string()),
        ("output paths", summary.outputs.to_string()),
        ("reproduced", summary.reproduced.to_string()),
        ("disputed", summary.disputed.to_string()),
        ("reproducibility rate", percent(summary.reproduced, compared)),
    ] {
        let _ = write!(
            b,
            "<div class=\"stat\" id=\"stat-{}\"><b>{}</b>{}</div>",
            label.replace(' ', "-"),
            esc(&value),
            label
        );
    }
    b.push_str(
        "</div><p>The reproducibility rate counts output paths reported by two or more builders: \
reproduced among reproduced and disputed.</p><h2>Latest checkpoint</h2>",
    );
    match checkpoint.as_deref().map(|n| (n, Note::parse(n).ok().and_then(|n| Checkpoint::parse_text(&n.text).ok()))) {
        Some((note, Some(cp))) => {
            let _ = write!(
                b,
                "<table><tr><th>origin</th><td><code>{}</code></td></tr><tr><th>tree size</th><td id=\"tree-size\">{}</td></tr>\
<tr><th>root hash</th><td><code>{}</code></td></tr></table><pre>{}</pre>",
                esc(&cp.origin),
                cp.size,
                base64::engine::general_purpose::STANDARD.encode(cp.root),
                esc(&String::from_utf8_lossy(note))
            );
        }
        _ => b.push_str("<p>No checkpoint yet.</p>"),
    }
    b.push_str("<h2>Recent reports</h2>");
    if recent.is_empty() {
        b.push_str("<p>No reports yet.</p>");
    } else {
        b.push_str(&reports_table(&recent, true));
    }
    Ok(page("Overview", &b))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PathQuery {
    path: String,
}

async fn derivation(
    State(state): State<AppState>,
    q: Result<Query<PathQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let q = query(q)?;
    check_len("path", &q.path)?;
    let key = q.path.clone();
    let rows = blocking(&state, move |s| Ok(s.reports_for(&key)?)).await?;
    let groups = group_by_path(&rows);
    let mut verdicts = Vec::new();
    let mut sections = String::new();
    for (path, rows) in &groups {
        let (v, s) = output_section(path, rows);
        verdicts.push(v);
        sections.push_str(&s);
    }
    let v = verdict::of_outputs(&verdicts);
    let drvs: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.drv.as_str()).collect();
    let mut b = format!("<p class=\"query\"><code>{}</code></p><p>verdict: {}</p>", esc(&q.path), badge(v));
    if rows.is_empty() {
        b.push_str("<p>No builder has reported this path.</p>");
    } else {
        let links: Vec<String> = drvs.iter().filter(|d| **d != q.path).map(|d| path_link(d)).collect();
        if !links.is_empty() {
            let _ = write!(b, "<p>derivation: {}</p>", links.join(", "));
        }
        b.push_str(&sections);
    }
    Ok(page("Derivation", &b))
}

async fn disagreements(State(state): State<AppState>) -> Result<Response, AppError> {
    let groups = blocking(&state, |s| {
        let mut out = Vec::new();
        for path in s.disputed_paths(DISAGREEMENTS)? {
            let rows: Vec<ReportRow> = s.reports_for(&path)?.into_iter().filter(|r| r.path == path).collect();
            out.push((path, rows));
        }
        Ok(out)
    })
    .await?;
    let mut b = String::new();
    if groups.is_empty() {
        b.push_str("<p>No disagreements: every output path reported has one NAR hash.</p>");
    } else {
        let _ = write!(b, "<p>{} output paths with more than one NAR hash, most recent first.</p>", groups.len());
        for (path, rows) in &groups {
            if let Some(first) = rows.first() {
                let _ = write!(b, "<p>derivation: {}</p>", path_link(&first.drv));
            }
            let refs: Vec<&ReportRow> = rows.iter().collect();
            b.push_str(&output_section(path, &refs).1);
        }
    }
    Ok(page("Disagreements", &b))
}

fn agreement_cells(a: &crate::store::Agreement) -> String {
    format!(
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
        a.reports,
        a.agreed,
        a.disagreed,
        percent(a.agreed, a.agreed + a.disagreed)
    )
}

async fn builders(State(state): State<AppState>) -> Result<Response, AppError> {
    let rows = blocking(&state, |s| {
        let mut out = Vec::new();
        for (name, key) in s.builders()? {
            let a = s.agreement(&name)?;
            out.push((name, key, a));
        }
        Ok(out)
    })
    .await?;
    let mut b = String::from(
        "<table><tr><th>builder</th><th>public key</th><th>reports</th><th>agreed</th><th>disagreed</th>\
<th>agreement rate</th></tr>",
    );
    for (name, key, a) in &rows {
        let _ = write!(
            b,
            "<tr><td>{}</td><td><code>{}</code></td>{}</tr>",
            builder_link(name),
            esc(key),
            agreement_cells(a)
        );
    }
    b.push_str("</table>");
    Ok(page("Builders", &b))
}

async fn builder(State(state): State<AppState>, Path(name): Path<String>) -> Result<Response, AppError> {
    check_len("builder name", &name)?;
    let n = name.clone();
    let (key, a, history) = blocking(&state, move |s| {
        let key = s.builders()?.into_iter().find(|(k, _)| *k == n).map(|(_, k)| k);
        let history = s.builder_history(&n, HISTORY)?;
        if key.is_none() && history.is_empty() {
            return Err(AppError::not_found(format!("no builder `{n}`")));
        }
        Ok((key, s.agreement(&n)?, history))
    })
    .await?;
    let mut b = format!(
        "<p>builder <strong>{}</strong></p><table><tr><th>public key</th><th>reports</th><th>agreed</th>\
<th>disagreed</th><th>agreement rate</th></tr><tr><td><code>{}</code></td>{}</tr></table>\
<p>Agreed: output paths another builder also reported, all with this builder's hash. \
Disagreed: output paths where some report has another hash.</p><h2>History</h2>",
        esc(&name),
        key.as_deref().map_or_else(|| "(no longer registered)".to_owned(), esc),
        agreement_cells(&a)
    );
    b.push_str(&reports_table(&history, true));
    Ok(page(&format!("Builder {name}"), &b))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

async fn search(
    State(state): State<AppState>,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let q = query(q)?;
    check_len("search text", &q.q)?;
    let needle = q.q.trim().to_owned();
    let mut b = format!(
        "<form action=\"/ui/search\" method=\"get\"><input type=\"search\" name=\"q\" value=\"{}\" \
aria-label=\"search text\"> <button type=\"submit\">Search</button></form>",
        esc(&needle)
    );
    if needle.is_empty() {
        b.push_str("<p>Give a store path, a hash part or a package name.</p>");
        return Ok(page("Search", &b));
    }
    let dir = state.store_dir().clone();
    let n = needle.clone();
    let (hits, more) = blocking(&state, move |s| Ok(s.search(&dir, &n, HITS)?)).await?;
    if hits.is_empty() {
        let _ = write!(b, "<p>No output path or derivation matches <code>{}</code>.</p>", esc(&needle));
    } else {
        let _ = write!(
            b,
            "<p>{}{} output paths match <code>{}</code>.</p><table><tr><th>output path</th><th>derivation</th>\
<th>output</th><th>reports</th><th>verdict</th></tr>",
            if more { "The first " } else { "" },
            hits.len(),
            esc(&needle)
        );
        for h in &hits {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                path_link(&h.path),
                path_link(&h.drv),
                esc(&h.output),
                h.reports,
                badge(h.verdict)
            );
        }
        b.push_str("</table>");
    }
    Ok(page("Search", &b))
}
