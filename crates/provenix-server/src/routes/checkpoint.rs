//! `GET /checkpoint` (C2SP signed note) and `GET /api/v1/checkpoint` (JSON).

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use base64::Engine as _;
use provenix_formats::log::checkpoint::Checkpoint;
use provenix_formats::log::note::{Note, verifier_key};
use serde_json::{Value, json};

use super::blocking;
use crate::AppState;
use crate::error::AppError;

async fn latest(state: &AppState) -> Result<Vec<u8>, AppError> {
    blocking(state, |s| s.latest_checkpoint()?.map(|(_, n)| n).ok_or_else(|| AppError::not_found("no checkpoint yet")))
        .await
}

pub(super) async fn note(State(state): State<AppState>) -> Result<impl IntoResponse, AppError> {
    let note = latest(&state).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], note))
}

pub(super) async fn json(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let note = latest(&state).await?;
    let cp = Note::parse(&note).ok().and_then(|n| Checkpoint::parse_text(&n.text).ok()).ok_or_else(|| {
        AppError::internal(&crate::store::StoreError::Corrupt("stored checkpoint does not parse".into()))
    })?;
    Ok(Json(json!({
        "origin": cp.origin,
        "size": cp.size,
        "rootHash": base64::engine::general_purpose::STANDARD.encode(cp.root),
        "note": String::from_utf8_lossy(&note),
        "logKey": state.log_public_key().to_string(),
        "verifierKey": verifier_key(state.log_public_key()),
    })))
}
