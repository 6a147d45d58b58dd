//! `GET /api/v1/builders` and `GET /api/v1/builders/{name}`: history and agreement rate.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{blocking, report_json};
use crate::AppState;
use crate::error::AppError;
use crate::store::Agreement;

fn agreement_json(a: &Agreement) -> Value {
    let compared = a.agreed + a.disagreed;
    json!({
        "reports": a.reports,
        "agreed": a.agreed,
        "disagreed": a.disagreed,
        "agreementRate": if compared == 0 { Value::Null } else { json!(a.agreed as f64 / compared as f64) },
    })
}

pub(super) async fn list(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let rows = blocking(&state, |s| {
        let mut out = Vec::new();
        for (name, key) in s.builders()? {
            let a = s.agreement(&name)?;
            out.push(json!({ "name": name, "publicKey": key, "stats": agreement_json(&a) }));
        }
        Ok(out)
    })
    .await?;
    Ok(Json(json!({ "builders": rows })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct History {
    limit: Option<u64>,
}

pub(super) async fn one(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<History>,
) -> Result<Json<Value>, AppError> {
    let limit = q.limit.unwrap_or(100).min(1000);
    let body = blocking(&state, move |s| {
        let key = s.builders()?.into_iter().find(|(n, _)| *n == name).map(|(_, k)| k);
        let history = s.builder_history(&name, limit)?;
        if key.is_none() && history.is_empty() {
            return Err(AppError::not_found(format!("no builder `{name}`")));
        }
        let a = s.agreement(&name)?;
        Ok(json!({
            "name": name,
            "publicKey": key,
            "stats": agreement_json(&a),
            "history": history.iter().map(report_json).collect::<Vec<_>>(),
        }))
    })
    .await?;
    Ok(Json(body))
}
