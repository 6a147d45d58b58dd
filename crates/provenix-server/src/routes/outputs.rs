//! `GET /api/v1/outputs?path=P` (an output path or a `.drv`): every report
//! with its builder and hash, and verdicts; `GET /api/v1/disagreements`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{blocking, nar_hash_text, report_json};
use crate::AppState;
use crate::error::AppError;
use crate::store::ReportRow;
use crate::verdict::{self, Verdict};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Lookup {
    path: String,
}

/// Reports grouped by output path, each group with its verdict and hashes.
pub(crate) fn outputs_json(rows: &[ReportRow]) -> (Verdict, Vec<Value>) {
    let mut by_path: BTreeMap<&str, Vec<&ReportRow>> = BTreeMap::new();
    for r in rows {
        by_path.entry(r.path.as_str()).or_default().push(r);
    }
    let mut verdicts = Vec::new();
    let outputs = by_path
        .into_iter()
        .map(|(path, reports)| {
            let v = verdict::of_output(reports.iter().copied());
            verdicts.push(v);
            let mut hashes: BTreeMap<String, Vec<&str>> = BTreeMap::new();
            for r in &reports {
                let builders = hashes.entry(nar_hash_text(&r.nar_hash)).or_default();
                if !builders.contains(&r.builder.as_str()) {
                    builders.push(r.builder.as_str());
                }
            }
            let first = reports.first();
            json!({
                "path": path,
                "drv": first.map(|r| r.drv.as_str()),
                "output": first.map(|r| r.output.as_str()),
                "verdict": v,
                "hashes": hashes.iter().map(|(h, b)| json!({ "narHash": h, "builders": b })).collect::<Vec<_>>(),
                "reports": reports.iter().map(|r| report_json(r)).collect::<Vec<_>>(),
            })
        })
        .collect();
    (verdict::of_outputs(&verdicts), outputs)
}

pub(super) async fn lookup(State(state): State<AppState>, Query(q): Query<Lookup>) -> Result<Json<Value>, AppError> {
    if q.path.len() > 4096 {
        return Err(AppError::bad_request("bad-path", "path is longer than 4096 bytes"));
    }
    let key = q.path.clone();
    let rows = blocking(&state, move |s| Ok(s.reports_for(&key)?)).await?;
    let (verdict, outputs) = outputs_json(&rows);
    Ok(Json(json!({ "query": q.path, "verdict": verdict, "outputs": outputs })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Limit {
    limit: Option<u64>,
}

pub(super) async fn disagreements(
    State(state): State<AppState>,
    Query(q): Query<Limit>,
) -> Result<Json<Value>, AppError> {
    let limit = q.limit.unwrap_or(50).min(500);
    let groups = blocking(&state, move |s| {
        let mut out = Vec::new();
        for path in s.disputed_paths(limit)? {
            out.push(s.reports_for(&path)?.into_iter().filter(|r| r.path == path).collect::<Vec<_>>());
        }
        Ok(out)
    })
    .await?;
    let list: Vec<Value> = groups.iter().flat_map(|rows| outputs_json(rows).1).collect();
    Ok(Json(json!({ "disagreements": list })))
}
