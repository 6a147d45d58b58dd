//! `GET /api/v1/proofs/inclusion?index=&size=` and `GET /api/v1/proofs/consistency?old=&new=`;
//! `size` and `new` default to the latest checkpoint's size. Tiles come
//! from the [`crate::tiles::TileCache`], storage only on a miss.

use axum::Json;
use axum::extract::{Query, State};
use provenix_formats::log::proof::ConsistencyProof;
use serde::Deserialize;
use serde_json::Value;

use super::{blocking, latest_size};
use crate::AppState;
use crate::error::AppError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InclusionQuery {
    index: u64,
    size: Option<u64>,
}

pub(super) async fn inclusion(
    State(state): State<AppState>,
    Query(q): Query<InclusionQuery>,
) -> Result<Json<Value>, AppError> {
    let tiles = state.tiles().clone();
    let proof = blocking(&state, move |s| {
        let latest = latest_size(s)?;
        let size = q.size.unwrap_or(latest);
        if size > latest || q.index >= size {
            return Err(AppError::bad_request(
                "out-of-range",
                format!("index {} is not in a tree of size {size} (the log has {latest})", q.index),
            ));
        }
        tiles.inclusion_proof(Some(s), q.index, size).map_err(|e| AppError::internal(&e))
    })
    .await?;
    Ok(Json(proof.to_json()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConsistencyQuery {
    old: u64,
    new: Option<u64>,
}

pub(super) async fn consistency(
    State(state): State<AppState>,
    Query(q): Query<ConsistencyQuery>,
) -> Result<Json<Value>, AppError> {
    let tiles = state.tiles().clone();
    let proof = blocking(&state, move |s| {
        let latest = latest_size(s)?;
        let new = q.new.unwrap_or(latest);
        if new > latest || q.old > new {
            return Err(AppError::bad_request(
                "out-of-range",
                format!("sizes {} and {new} are not in order within the log's {latest}", q.old),
            ));
        }
        let hashes = tiles.consistency_proof(s, q.old, new).map_err(|e| AppError::internal(&e))?;
        Ok(ConsistencyProof { old_size: q.old, new_size: new, hashes })
    })
    .await?;
    Ok(Json(proof.to_json()))
}
