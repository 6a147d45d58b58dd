//! The server's error answer: 4xx with a JSON body naming the fault, or a
//! generic 500 whose cause is logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answered to a client.
#[derive(Debug)]
pub struct AppError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl AppError {
    /// A client error: `code` is a stable kebab-case name, `message` the details.
    pub fn client(status: StatusCode, code: &'static str, message: impl Into<String>) -> AppError {
        AppError { status, code, message: message.into() }
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::client(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> AppError {
        AppError::client(StatusCode::NOT_FOUND, "not-found", message)
    }

    /// An internal failure: logged here with its cause chain, answered with a generic 500.
    pub fn internal(err: &(dyn std::error::Error + 'static)) -> AppError {
        let mut chain = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        tracing::error!(error = %chain, "internal error");
        AppError { status: StatusCode::INTERNAL_SERVER_ERROR, code: "internal", message: "internal error".into() }
    }

    /// The same answer about entry `i` of a batch request: the message starts `entry i: `.
    pub(crate) fn in_entry(self, i: usize) -> AppError {
        AppError { message: format!("entry {i}: {}", self.message), ..self }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable error code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

/// Message and causes of an error, joined, for client-facing details.
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.code, "message": self.message }))).into_response()
    }
}

impl From<crate::store::StoreError> for AppError {
    fn from(e: crate::store::StoreError) -> AppError {
        AppError::internal(&e)
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(e: tokio::task::JoinError) -> AppError {
        AppError::internal(&e)
    }
}
