//! The admin API, behind `Authorization: Bearer <token>`: register and
//! remove builder keys. Off (403) unless the server was given a token.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use provenix_formats::signature::{PublicKey, TrustedKeys};
use serde::Deserialize;
use serde_json::{Value, json};

use super::blocking;
use crate::AppState;
use crate::error::{AppError, chain};
use crate::store::StoreError;

fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), AppError> {
    let Some(token) = state.admin_token() else {
        return Err(AppError::client(StatusCode::FORBIDDEN, "admin-disabled", "this server has no admin token"));
    };
    let given =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    // Compare without stopping at the first differing byte.
    let ok = given.is_some_and(|g| {
        g.len() == token.len() && g.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    });
    if ok {
        Ok(())
    } else {
        Err(AppError::client(StatusCode::UNAUTHORIZED, "unauthorized", "missing or wrong admin token"))
    }
}

async fn reload_keys(state: &AppState) -> Result<(), AppError> {
    let keys = blocking(state, |s| {
        let mut keys = TrustedKeys::new();
        for (_, text) in s.builders()? {
            if let Ok(k) = PublicKey::parse(&text) {
                keys.insert(k);
            }
        }
        Ok(keys)
    })
    .await?;
    state.set_builder_keys(keys);
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct NewBuilder {
    public_key: String,
}

pub(super) async fn add_builder(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), AppError> {
    authorize(&state, &headers)?;
    let req: NewBuilder =
        serde_json::from_slice(&body).map_err(|e| AppError::bad_request("malformed-request", e.to_string()))?;
    let key = PublicKey::parse(&req.public_key).map_err(|e| AppError::bad_request("bad-public-key", chain(&e)))?;
    let (name, text) = (key.name().to_owned(), key.to_string());
    let n = name.clone();
    blocking(&state, move |s| match s.add_builder(&n, &text) {
        Err(e @ StoreError::BuilderConflict { .. }) => {
            Err(AppError::client(StatusCode::CONFLICT, "builder-conflict", e.to_string()))
        }
        other => Ok(other?),
    })
    .await?;
    reload_keys(&state).await?;
    Ok((StatusCode::CREATED, Json(json!({ "name": name, "publicKey": key.to_string() }))))
}

pub(super) async fn remove_builder(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<Value>, AppError> {
    authorize(&state, &headers)?;
    let n = name.clone();
    let removed = blocking(&state, move |s| Ok(s.remove_builder(&n)?)).await?;
    if !removed {
        return Err(AppError::not_found(format!("no builder `{name}`")));
    }
    reload_keys(&state).await?;
    Ok(Json(json!({ "removed": name })))
}
