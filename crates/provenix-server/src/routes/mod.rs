//! The HTTP routes, one module per resource (`docs/log.md` has the API).

mod admin;
mod builders;
mod checkpoint;
mod entries;
mod outputs;
mod proofs;
mod reports;
mod tiles;
mod ui;

use axum::Router;
use axum::routing::{delete, get, post};
use provenix_formats::hash::{Hash, HashAlgo};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::AppError;
use crate::store::{LogStore, ReportRow};

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/checkpoint", get(checkpoint::note))
        .route("/tile/{*path}", get(tiles::tile))
        .route("/api/v1/checkpoint", get(checkpoint::json))
        .route("/api/v1/reports", post(reports::submit_report))
        .route("/api/v1/reports/batch", post(reports::submit_batch))
        .route("/api/v1/attestations", post(reports::submit_attestation))
        .route("/api/v1/entries", get(entries::list))
        .route("/api/v1/entries/{index}", get(entries::one))
        .route("/api/v1/proofs/inclusion", get(proofs::inclusion))
        .route("/api/v1/proofs/consistency", get(proofs::consistency))
        .route("/api/v1/outputs", get(outputs::lookup))
        .route("/api/v1/disagreements", get(outputs::disagreements))
        .route("/api/v1/builders", get(builders::list))
        .route("/api/v1/builders/{name}", get(builders::one))
        .route("/api/v1/admin/builders", post(admin::add_builder))
        .route("/api/v1/admin/builders/{name}", delete(admin::remove_builder))
        .merge(ui::routes())
        .fallback(|| async { AppError::not_found("no such endpoint") })
        .with_state(state)
}

/// Runs `f` on the store in a blocking thread.
pub(crate) async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&dyn LogStore) -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    let store = state.store().clone();
    tokio::task::spawn_blocking(move || f(&*store)).await?
}

/// `sha256:<nixbase32>`, the form reports use.
pub(crate) fn nar_hash_text(digest: &[u8; 32]) -> String {
    Hash::from_digest(HashAlgo::Sha256, digest).map(|h| h.to_prefixed_nixbase32()).unwrap_or_default()
}

pub(crate) fn report_json(r: &ReportRow) -> Value {
    json!({
        "index": r.index,
        "drv": r.drv,
        "output": r.output,
        "path": r.path,
        "narHash": nar_hash_text(&r.nar_hash),
        "builder": r.builder,
        "time": r.time,
    })
}

/// The latest checkpoint's size.
pub(crate) fn latest_size(store: &dyn LogStore) -> Result<u64, AppError> {
    Ok(store.latest_checkpoint()?.map_or(0, |(s, _)| s))
}
