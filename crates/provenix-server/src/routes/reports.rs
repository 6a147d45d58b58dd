//! `POST /api/v1/reports` (one entry, text), `POST /api/v1/reports/batch`
//! (many entries, all or nothing) and `POST /api/v1/attestations` (a DSSE
//! rebuild attestation, one entry per subject).
//!
//! Checks run in a blocking thread (signature verification is CPU work);
//! nothing is written for a refused request. The answer comes once the
//! entry is sequenced and stored: its index and a receipt (an inclusion
//! proof under the signed checkpoint that first covers it). A request's
//! entries are queued as one group, so they get consecutive indices in one
//! batch, and their receipts are proved from the tiles the sequencer left in
//! memory.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine as _;
use provenix_core::attest::AttestError;
use provenix_core::log_report::{CheckedEntry, LogReportError, check_entry, entries_from_attestation};
use provenix_formats::dsse::DsseError;
use provenix_formats::log::merkle::leaf_hash;
use provenix_formats::log::proof::Receipt;
use provenix_formats::log::report::{Entry, MAX_ENTRY_LEN, ReportError, Vouch};
use provenix_formats::signature::TrustedKeys;
use provenix_formats::store_path::StoreDir;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{AppError, chain};
use crate::{AppState, MAX_BODY_LEN};

async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, AppError> {
    let too_large = || {
        AppError::client(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            format!("request body is larger than {limit} bytes"),
        )
    };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match axum::body::to_bytes(body, limit).await {
        Ok(b) => Ok(b.to_vec()),
        Err(e) => {
            let inner = e.into_inner();
            if inner.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                Err(too_large())
            } else {
                Err(AppError::bad_request("bad-body", "reading the request body failed"))
            }
        }
    }
}

/// Maps a refusal of an entry to its 4xx answer.
fn refusal(e: &LogReportError) -> AppError {
    let message = chain(e);
    match e {
        LogReportError::Report(ReportError::Unverified { .. }) => {
            AppError::client(StatusCode::FORBIDDEN, "bad-signature", message)
        }
        LogReportError::Report(ReportError::BuilderMismatch { .. } | ReportError::AttestationMismatch)
        | LogReportError::NotInAttestation { .. } => {
            AppError::client(StatusCode::UNPROCESSABLE_ENTITY, "contradicts-signature", message)
        }
        LogReportError::Attest(AttestError::Envelope(DsseError::NoTrustedSignature { .. })) => {
            AppError::client(StatusCode::FORBIDDEN, "unknown-builder", message)
        }
        LogReportError::Attest(AttestError::Envelope(DsseError::InvalidSignature { .. })) => {
            AppError::client(StatusCode::FORBIDDEN, "bad-signature", message)
        }
        LogReportError::Attest(_) | LogReportError::NotRebuild { .. } => {
            AppError::bad_request("malformed-attestation", message)
        }
        _ => AppError::bad_request("malformed-report", message),
    }
}

/// Most entries in one `POST /api/v1/reports/batch`.
pub(crate) const MAX_BATCH_ENTRIES: usize = 1024;

/// Entries checked per blocking task of a batch request (the tasks run in parallel).
const CHECK_CHUNK: usize = 64;

/// Sequences checked entries together (consecutive indices) and builds each one's answer.
async fn sequence_all(state: &AppState, entries: Vec<CheckedEntry>) -> Result<Vec<Value>, AppError> {
    let mut waiting = Vec::with_capacity(entries.len());
    for checked in entries {
        let entry = checked.into_inner();
        let data = entry.to_bytes();
        if data.len() > MAX_ENTRY_LEN {
            return Err(AppError::client(
                StatusCode::PAYLOAD_TOO_LARGE,
                "entry-too-large",
                format!("the entry for {} is {} bytes, more than {MAX_ENTRY_LEN}", entry.report.path, data.len()),
            ));
        }
        waiting.push((data, entry.report));
    }
    if waiting.is_empty() {
        return Ok(Vec::new());
    }
    let leaves: Vec<_> = waiting.iter().map(|(data, _)| leaf_hash(data)).collect();
    let seq = state.sequence(waiting).await?;
    let (first, size) = (seq.index, seq.size);
    let count = leaves.len() as u64;
    // The sequencer left every tile these proofs need in memory; storage is the fallback.
    let proofs: Result<Vec<_>, _> =
        (first..first + count).map(|i| state.tiles().inclusion_proof(None, i, size)).collect();
    let proofs = match proofs {
        Ok(p) => p,
        Err(_) => {
            let tiles = state.tiles().clone();
            super::blocking(state, move |s| {
                (first..first + count)
                    .map(|i| tiles.inclusion_proof(Some(s), i, size).map_err(|e| AppError::internal(&e)))
                    .collect()
            })
            .await?
        }
    };
    let checkpoint = String::from_utf8_lossy(&seq.checkpoint).into_owned();
    let out = proofs
        .into_iter()
        .zip(leaves)
        .map(|(inclusion, leaf)| {
            let index = inclusion.leaf_index;
            let receipt = Receipt { index, checkpoint: checkpoint.clone(), inclusion };
            json!({
                "index": index,
                "leafHash": base64::engine::general_purpose::STANDARD.encode(leaf),
                "receipt": receipt.to_json(),
            })
        })
        .collect();
    Ok(out)
}

/// Parses and checks one entry against the registered builders.
fn check_one(bytes: &[u8], keys: &TrustedKeys, store_dir: &StoreDir) -> Result<CheckedEntry, AppError> {
    let entry = Entry::parse(bytes, store_dir).map_err(|e| refusal(&LogReportError::Report(e)))?;
    let signer = match &entry.vouch {
        Vouch::Signature(s) => s.key_name().to_owned(),
        Vouch::Envelope(_) => entry.report.builder.clone(),
    };
    if keys.get(&signer).is_none() {
        return Err(AppError::client(
            StatusCode::FORBIDDEN,
            "unknown-builder",
            format!("builder key `{signer}` is not registered with this log"),
        ));
    }
    check_entry(entry, keys, store_dir).map_err(|e| refusal(&e))
}

pub(super) async fn submit_report(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let bytes = read_body(&headers, body, MAX_ENTRY_LEN).await?;
    let keys = state.builder_keys();
    let store_dir = state.store_dir().clone();
    let checked = tokio::task::spawn_blocking(move || check_one(&bytes, &keys, &store_dir)).await??;
    let mut answers = sequence_all(&state, vec![checked]).await?;
    Ok((StatusCode::CREATED, Json(answers.pop().unwrap_or_default())))
}

/// The body of `POST /api/v1/reports/batch`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    entries: Vec<String>,
}

/// `POST /api/v1/reports/batch`: many entries, all or nothing. Every entry
/// is checked (in parallel blocking tasks) before any is queued; one refusal
/// refuses the request with that entry's answer, its position in the
/// message, and nothing is written.
pub(super) async fn submit_batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let bytes = read_body(&headers, body, MAX_BODY_LEN).await?;
    let batch: BatchBody = serde_json::from_slice(&bytes).map_err(|e| {
        AppError::bad_request("malformed-batch", format!("the body is not {{\"entries\": [text...]}}: {e}"))
    })?;
    if batch.entries.is_empty() || batch.entries.len() > MAX_BATCH_ENTRIES {
        return Err(AppError::bad_request(
            "malformed-batch",
            format!("a batch holds 1 to {MAX_BATCH_ENTRIES} entries, this one {}", batch.entries.len()),
        ));
    }
    let keys = state.builder_keys();
    let store_dir = state.store_dir().clone();
    let mut tasks = Vec::new();
    let mut rest = batch.entries;
    let mut start = 0;
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(CHECK_CHUNK));
        let chunk = std::mem::replace(&mut rest, tail);
        let (keys, store_dir) = (keys.clone(), store_dir.clone());
        let first = start;
        start += chunk.len();
        tasks.push(tokio::task::spawn_blocking(move || {
            chunk
                .iter()
                .enumerate()
                .map(|(i, text)| {
                    if text.len() > MAX_ENTRY_LEN {
                        return Err(AppError::client(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "entry-too-large",
                            format!("entry {}: {} bytes, more than {MAX_ENTRY_LEN}", first + i, text.len()),
                        ));
                    }
                    check_one(text.as_bytes(), &keys, &store_dir).map_err(|e| e.in_entry(first + i))
                })
                .collect::<Result<Vec<_>, AppError>>()
        }));
    }
    let mut checked = Vec::with_capacity(start);
    for t in tasks {
        checked.extend(t.await??);
    }
    let answers = sequence_all(&state, checked).await?;
    Ok((StatusCode::CREATED, Json(json!({ "entries": answers }))))
}
pub(super) async fn submit_attestation(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let bytes = read_body(&headers, body, MAX_BODY_LEN).await?;
    let keys = state.builder_keys();
    let store_dir = state.store_dir().clone();
    let entries = tokio::task::spawn_blocking(move || entries_from_attestation(&bytes, &keys, &store_dir))
        .await?
        .map_err(|e| refusal(&e))?;
    let answers = sequence_all(&state, entries).await?;
    Ok((StatusCode::CREATED, Json(json!({ "entries": answers }))))
}
