//! Reading a rebuild transparency log's answers about outputs
//! (`GET /api/v1/outputs?path=P`, docs/log.md): the reports and verdicts
//! behind `provenix log show`, and what `challenge` and `verify --log`
//! compare local NAR hashes with.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Longest answer read from a log server, in bytes.
pub const MAX_ANSWER_LEN: u64 = 16 << 20;

/// Errors talking to a log server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogCheckError {
    /// The URL is not `http://` or `https://`.
    #[error("log server `{0}`: expected an http:// or https:// URL")]
    Url(String),
    /// The request failed.
    #[error("asking {url}")]
    Http {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: ureq::Error,
    },
    /// The server answered with an error status.
    #[error("{url}: the server answered {status}: {message}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The server's error message, or its body.
        message: String,
    },
    /// The answer is not the documented JSON.
    #[error("{url}: the answer is not the log's JSON")]
    Json {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// One report as the log lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedReport {
    /// Its index in the log.
    pub index: u64,
    /// The builder's key name.
    pub builder: String,
    /// `sha256:<nixbase32>`.
    pub nar_hash: String,
    /// When it was built.
    pub time: String,
}

/// One NAR hash reported for an output, and who reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HashGroup {
    /// `sha256:<nixbase32>`.
    pub nar_hash: String,
    /// Builders that reported it.
    pub builders: Vec<String>,
}

/// What the log says about one output path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedOutput {
    /// The output path.
    pub path: String,
    /// Its `.drv`.
    pub drv: String,
    /// The output name.
    pub output: String,
    /// `reproduced`, `disputed`, `single` or `unknown`.
    pub verdict: String,
    /// The NAR hashes reported.
    pub hashes: Vec<HashGroup>,
    /// Every report, oldest first.
    pub reports: Vec<LoggedReport>,
}

/// The log's answer about an output path or a `.drv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lookup {
    /// What was asked.
    pub query: String,
    /// The verdict over all outputs.
    pub verdict: String,
    /// Per output path.
    pub outputs: Vec<LoggedOutput>,
}

/// A client of one log server.
pub struct LogClient {
    base: String,
    agent: ureq::Agent,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: String,
}

impl LogClient {
    /// A client of the server at `base` (`http://host:port`, a trailing `/` allowed).
    pub fn new(base: &str, timeout: Duration) -> Result<LogClient, LogCheckError> {
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(LogCheckError::Url(base.to_owned()));
        }
        let t = Some(timeout);
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_connect(t)
            .timeout_per_read(t)
            .timeout_per_write(t)
            .build()
            .new_agent();
        Ok(LogClient { base: base.trim_end_matches('/').to_owned(), agent })
    }

    /// The reports and verdicts about an output path or a `.drv`.
    pub fn lookup(&self, path: &str) -> Result<Lookup, LogCheckError> {
        let url = format!("{}/api/v1/outputs", self.base);
        let http = |source| LogCheckError::Http { url: url.clone(), source };
        let mut resp = self.agent.get(&url).query("path", path).call().map_err(http)?;
        let status = resp.status().as_u16();
        let body = resp.body_mut().with_config().limit(MAX_ANSWER_LEN).read_to_vec().map_err(http)?;
        if status != 200 {
            let message = serde_json::from_slice::<ErrorBody>(&body)
                .map(|e| e.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).chars().take(200).collect());
            return Err(LogCheckError::Status { url, status, message });
        }
        serde_json::from_slice(&body).map_err(|source| LogCheckError::Json { url, source })
    }
}
