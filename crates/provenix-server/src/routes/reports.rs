//! `POST /api/v1/reports` (one entry, text) and `POST /api/v1/attestations`
//! (a DSSE rebuild attestation, one entry per subject).
//!
//! Checks run in a blocking thread (signature verification is CPU work);
//! nothing is written for a refused request. The answer comes once the
//! entry is sequenced and stored: its index and a receipt (an inclusion
//! proof under the signed checkpoint that first covers it).

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
use provenix_formats::log::report::{Entry, MAX_ENTRY_LEN, ReportError};
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

/// Sequences checked entries one after the other and builds each one's answer.
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
    let mut out = Vec::with_capacity(waiting.len());
    for (data, report) in waiting {
        let leaf = leaf_hash(&data);
        let seq = state.sequence(data, report).await?;
        let (index, size) = (seq.index, seq.size);
        let inclusion =
            super::blocking(state, move |s| crate::inclusion_proof(s, index, size).map_err(|e| AppError::internal(&e)))
                .await?;
        let receipt = Receipt { index, checkpoint: String::from_utf8_lossy(&seq.checkpoint).into_owned(), inclusion };
        out.push(json!({
            "index": index,
            "leafHash": base64::engine::general_purpose::STANDARD.encode(leaf),
            "receipt": receipt.to_json(),
        }));
    }
    Ok(out)
}

pub(super) async fn submit_report(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let bytes = read_body(&headers, body, MAX_ENTRY_LEN).await?;
    let keys = state.builder_keys();
    let store_dir = state.store_dir().clone();
    let checked = tokio::task::spawn_blocking(move || -> Result<CheckedEntry, AppError> {
        let entry = Entry::parse(&bytes, &store_dir).map_err(|e| refusal(&LogReportError::Report(e)))?;
        let signer = match &entry.vouch {
            provenix_formats::log::report::Vouch::Signature(s) => s.key_name().to_owned(),
            provenix_formats::log::report::Vouch::Envelope(_) => entry.report.builder.clone(),
        };
        if keys.get(&signer).is_none() {
            return Err(AppError::client(
                StatusCode::FORBIDDEN,
                "unknown-builder",
                format!("builder key `{signer}` is not registered with this log"),
            ));
        }
        check_entry(entry, &keys, &store_dir).map_err(|e| refusal(&e))
    })
    .await??;
    let mut answers = sequence_all(&state, vec![checked]).await?;
    Ok((StatusCode::CREATED, Json(answers.pop().unwrap_or_default())))
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
