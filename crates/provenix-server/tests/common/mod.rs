//! Helpers shared by the server's tests: keys, reports, requests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use provenix_formats::log::report::Report;
use provenix_formats::signature::SecretKey;
use provenix_formats::store_path::StoreDir;
use provenix_server::store::sqlite::SqliteStore;
use provenix_server::{AppState, Config};
use serde_json::Value;
use tower::ServiceExt as _;

pub(crate) fn key(name: &str) -> SecretKey {
    let mut seed = [0u8; 32];
    for (d, s) in seed.iter_mut().zip(name.bytes().cycle()) {
        *d = s;
    }
    SecretKey::from_seed(name, seed).unwrap()
}

/// A store path `/nix/store/<32 chars>-<name>` whose hash part comes from `n`.
pub(crate) fn store_path(n: u32, name: &str) -> String {
    let alphabet = b"0123456789abcdfghijklmnpqrsvwxyz";
    let mut hash = String::new();
    let mut v = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for _ in 0..32 {
        hash.push(alphabet[(v % 32) as usize] as char);
        v = v.rotate_left(5) ^ u64::from(n);
    }
    format!("/nix/store/{hash}-{name}")
}

pub(crate) fn report(builder: &str, n: u32, nar: u8) -> Report {
    Report {
        drv: store_path(n, &format!("pkg-{n}.drv")),
        output: "out".to_owned(),
        path: store_path(n + 1_000_000, &format!("pkg-{n}")),
        nar_hash: [nar; 32],
        nar_size: Some(1000 + u64::from(n)),
        builder: builder.to_owned(),
        system: Some("x86_64-linux".to_owned()),
        nix_version: "2.8.0".to_owned(),
        time: "2026-12-07T09:00:00Z".to_owned(),
        attestation: None,
    }
}

pub(crate) fn signed(builder: &SecretKey, n: u32, nar: u8) -> Vec<u8> {
    report(builder.name(), n, nar).sign(builder).unwrap().to_bytes()
}

pub(crate) async fn state(db: &std::path::Path, builders: &[&SecretKey], token: Option<&str>) -> AppState {
    let store = Arc::new(SqliteStore::open(db).unwrap());
    let config = Config {
        log_key: key("log.test"),
        builders: builders.iter().map(|k| k.to_public()).collect(),
        admin_token: token.map(str::to_owned),
        batch_interval: Duration::from_millis(5),
        store_dir: StoreDir::default(),
    };
    provenix_server::start(config, store).await.unwrap()
}

pub(crate) async fn call(state: &AppState, req: Request<Body>) -> (StatusCode, Vec<u8>) {
    let resp = provenix_server::router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, body)
}

pub(crate) async fn get_json(state: &AppState, uri: &str) -> (StatusCode, Value) {
    let (s, b) = call(state, Request::get(uri).body(Body::empty()).unwrap()).await;
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

pub(crate) async fn post(state: &AppState, uri: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let (s, b) = call(state, Request::post(uri).body(Body::from(body)).unwrap()).await;
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}
