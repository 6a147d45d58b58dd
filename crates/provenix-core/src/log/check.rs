//! Reading a rebuild transparency log's answers about outputs
//! (`GET /api/v1/outputs?path=P`, docs/log.md): the reports and verdicts
//! behind `provenix log show`, and what `challenge` and `verify --log`
//! compare local NAR hashes with; and the log's own data for `log verify`:
//! the checkpoint, consistency proofs, tiles, entry bundles, entries and builders.
//! Nothing here trusts what it fetches: callers check it.

use std::time::Duration;

use provenix_formats::log::merkle::NodeHash;
use provenix_formats::log::proof::{ConsistencyProof, ProofJsonError};
use provenix_formats::log::tile::{TILE_WIDTH, TilePath};
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
    /// A proof in the answer does not parse.
    #[error("{url}: the answer is not a proof")]
    Proof {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: ProofJsonError,
    },
    /// An entry bundle or entry answer does not hold what was asked.
    #[error("{url}: the answer does not hold the entries asked for")]
    Bundle {
        /// The URL.
        url: String,
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
        self.get_json("/api/v1/outputs", &[("path", path)])
    }

    /// The server's base URL, without a trailing `/`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The latest signed checkpoint note (`GET /checkpoint`), unchecked.
    pub fn checkpoint_note(&self) -> Result<Vec<u8>, LogCheckError> {
        self.get("/checkpoint", &[])
    }

    /// The consistency proof between tree sizes `old` and `new`, parsed but unchecked.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<ConsistencyProof, LogCheckError> {
        let (old, new) = (old.to_string(), new.to_string());
        let query = [("old", old.as_str()), ("new", new.as_str())];
        let body = self.get("/api/v1/proofs/consistency", &query)?;
        ConsistencyProof::parse(&body)
            .map_err(|source| LogCheckError::Proof { url: self.url("/api/v1/proofs/consistency"), source })
    }

    /// The entries of entry bundle `index` (C2SP `tile/entries/<N>[.p/<W>]`), `width` of them.
    pub fn entry_bundle(&self, index: u64, width: u16) -> Result<Vec<Vec<u8>>, LogCheckError> {
        let path = TilePath { level: None, index, width };
        let url = format!("/{path}");
        let bytes = self.get(&url, &[])?;
        split_bundle(&bytes, usize::from(width)).ok_or_else(|| LogCheckError::Bundle { url: self.url(&url) })
    }

    /// The hashes of tile `level`/`index` (C2SP `tile/<L>/<N>[.p/<W>]`), `width` of them.
    pub fn tile(&self, level: u8, index: u64, width: u16) -> Result<Vec<NodeHash>, LogCheckError> {
        let path = TilePath { level: Some(level), index, width };
        let url = format!("/{path}");
        let bytes = self.get(&url, &[])?;
        if bytes.len() != usize::from(width) * 32 {
            return Err(LogCheckError::Bundle { url: self.url(&url) });
        }
        Ok(bytes.chunks_exact(32).filter_map(|c| <NodeHash>::try_from(c).ok()).collect())
    }

    /// One entry's bytes (`GET /api/v1/entries/{index}`).
    pub fn entry(&self, index: u64) -> Result<Vec<u8>, LogCheckError> {
        #[derive(Deserialize)]
        struct One {
            index: u64,
            entry: String,
        }
        let path = format!("/api/v1/entries/{index}");
        let one: One = self.get_json(&path, &[])?;
        if one.index != index {
            return Err(LogCheckError::Bundle { url: self.url(&path) });
        }
        Ok(one.entry.into_bytes())
    }

    /// The builders the server has registered: `name:base64` public keys, as the server says.
    pub fn builders(&self) -> Result<Vec<String>, LogCheckError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Builder {
            public_key: String,
        }
        #[derive(Deserialize)]
        struct Builders {
            builders: Vec<Builder>,
        }
        let list: Builders = self.get_json("/api/v1/builders", &[])?;
        Ok(list.builders.into_iter().map(|b| b.public_key).collect())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<T, LogCheckError> {
        let body = self.get(path, query)?;
        serde_json::from_slice(&body).map_err(|source| LogCheckError::Json { url: self.url(path), source })
    }

    /// GETs `path`; any status but 200 is an error carrying the server's message.
    fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Vec<u8>, LogCheckError> {
        let url = self.url(path);
        let http = |source| LogCheckError::Http { url: url.clone(), source };
        let mut request = self.agent.get(&url);
        for (k, v) in query {
            request = request.query(*k, *v);
        }
        let mut resp = request.call().map_err(http)?;
        let status = resp.status().as_u16();
        let body = resp.body_mut().with_config().limit(MAX_ANSWER_LEN).read_to_vec().map_err(http)?;
        if status != 200 {
            let message = serde_json::from_slice::<ErrorBody>(&body)
                .map(|e| e.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).chars().take(200).collect());
            return Err(LogCheckError::Status { url, status, message });
        }
        Ok(body)
    }
}

/// Splits a C2SP entry bundle (per entry a big-endian u16 length, then the
/// bytes) into exactly `count` entries; `None` if it is not that.
pub fn split_bundle(mut bytes: &[u8], count: usize) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::with_capacity(count.min(TILE_WIDTH as usize));
    while let [a, b, rest @ ..] = bytes {
        let len = usize::from(u16::from_be_bytes([*a, *b]));
        let entry = rest.get(..len)?;
        out.push(entry.to_vec());
        bytes = rest.get(len..)?;
    }
    (bytes.is_empty() && out.len() == count).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_bundles_split_into_exactly_their_entries() {
        let bundle = [&[0u8, 2, b'h', b'i'][..], &[0, 0], &[0, 1, b'x']].concat();
        assert_eq!(split_bundle(&bundle, 3), Some(vec![b"hi".to_vec(), vec![], b"x".to_vec()]));
        assert_eq!(split_bundle(&bundle, 2), None, "a count the bundle does not have");
        assert_eq!(split_bundle(&bundle[..bundle.len() - 1], 3), None, "a truncated entry");
        assert_eq!(split_bundle(&[0], 0), None, "a half length");
        assert_eq!(split_bundle(&[], 0), Some(vec![]));
    }
}
