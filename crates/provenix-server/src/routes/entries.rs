//! `GET /api/v1/entries/{index}` and `GET /api/v1/entries?start=&limit=`.

use axum::Json;
use axum::extract::{Path, Query, State};
use base64::Engine as _;
use provenix_formats::log::merkle::leaf_hash;
use serde::Deserialize;
use serde_json::{Value, json};

use super::blocking;
use crate::AppState;
use crate::error::AppError;

/// Most entries in one page.
const MAX_PAGE: u64 = 1000;

fn entry_json(index: u64, data: &[u8]) -> Value {
    json!({
        "index": index,
        "entry": String::from_utf8_lossy(data),
        "leafHash": base64::engine::general_purpose::STANDARD.encode(leaf_hash(data)),
    })
}

pub(super) async fn one(State(state): State<AppState>, Path(index): Path<u64>) -> Result<Json<Value>, AppError> {
    let found = blocking(&state, move |s| Ok(s.entries(index, 1)?.into_iter().next())).await?;
    let (i, data) = found.ok_or_else(|| AppError::not_found(format!("no entry {index}")))?;
    Ok(Json(entry_json(i, &data)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Page {
    #[serde(default)]
    start: u64,
    limit: Option<u64>,
}

pub(super) async fn list(State(state): State<AppState>, Query(page): Query<Page>) -> Result<Json<Value>, AppError> {
    let limit = page.limit.unwrap_or(100).min(MAX_PAGE);
    let rows = blocking(&state, move |s| Ok(s.entries(page.start, limit)?)).await?;
    Ok(Json(json!({ "entries": rows.iter().map(|(i, d)| entry_json(*i, d)).collect::<Vec<_>>() })))
}
