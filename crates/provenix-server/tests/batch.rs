//! `POST /api/v1/reports/batch`: many entries in one request, each with its
//! own receipt, all or nothing; and proofs served after a restart, when no
//! tile is in memory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use axum::http::StatusCode;
use common::{get_json, key, post, signed, state};
use provenix_formats::log::checkpoint::verify_checkpoint;
use provenix_formats::log::proof::{InclusionProof, Receipt};
use serde_json::{Value, json};

fn batch_body(entries: &[Vec<u8>]) -> Vec<u8> {
    let texts: Vec<String> = entries.iter().map(|e| String::from_utf8(e.clone()).unwrap()).collect();
    serde_json::to_vec(&json!({ "entries": texts })).unwrap()
}

async fn size(st: &provenix_server::AppState) -> u64 {
    get_json(st, "/api/v1/checkpoint").await.1["size"].as_u64().unwrap()
}

fn check_receipts(answers: &Value, entries: &[Vec<u8>]) -> Vec<u64> {
    let log_key = key("log.test").to_public();
    let list = answers["entries"].as_array().unwrap();
    assert_eq!(list.len(), entries.len());
    let mut indices = Vec::new();
    for (a, e) in list.iter().zip(entries) {
        let receipt = Receipt::parse(&serde_json::to_vec(&a["receipt"]).unwrap()).unwrap();
        assert_eq!(a["index"].as_u64(), Some(receipt.index));
        let cp = receipt.verify(e, &log_key, "log.test").unwrap();
        assert!(cp.size > receipt.index);
        indices.push(receipt.index);
    }
    assert!(indices.windows(2).all(|w| w[1] == w[0] + 1), "a batch's entries are consecutive: {indices:?}");
    indices
}

#[tokio::test]
async fn a_batch_gets_one_receipt_per_entry_and_proofs_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite");
    let (a, b) = (key("builder-a"), key("builder-b"));
    let st = state(&db, &[&a, &b], None).await;
    let first: Vec<Vec<u8>> = (0..300u32).map(|n| signed(&a, n, 1)).collect();
    let second: Vec<Vec<u8>> = (0..300u32).map(|n| signed(&b, n, 1)).collect();
    // Two batches and a single report at once: each batch stays in one piece.
    let single = signed(&a, 9999, 3);
    let ((s1, j1), (s2, j2), (s3, j3)) = tokio::join!(
        post(&st, "/api/v1/reports/batch", batch_body(&first)),
        post(&st, "/api/v1/reports/batch", batch_body(&second)),
        post(&st, "/api/v1/reports", single.clone()),
    );
    assert_eq!((s1, s2, s3), (StatusCode::CREATED, StatusCode::CREATED, StatusCode::CREATED), "{j1} {j2} {j3}");
    let mut all = check_receipts(&j1, &first);
    all.extend(check_receipts(&j2, &second));
    all.push(j3["index"].as_u64().unwrap());
    all.sort_unstable();
    assert_eq!(all, (0..601).collect::<Vec<_>>());
    assert_eq!(size(&st).await, 601);
    // The two builders agree on every package.
    let (_, j) = get_json(&st, &format!("/api/v1/outputs?path={}", common::report("x", 7, 0).path)).await;
    assert_eq!(j["verdict"], "reproduced");

    // A new server on the same file starts with no tile in memory: proofs read storage.
    drop(st);
    let st = state(&db, &[&a, &b], None).await;
    assert!(st.tiles().is_empty());
    let note = get_json(&st, "/api/v1/checkpoint").await.1["note"].as_str().unwrap().to_owned();
    let cp = verify_checkpoint(note.as_bytes(), &key("log.test").to_public(), "log.test").unwrap();
    let index_of = |j: &Value, i: usize| j["entries"][i]["index"].as_u64().unwrap();
    let asked = [(&first[0], index_of(&j1, 0)), (&second[299], index_of(&j2, 299))];
    let mut full_tiles: Vec<u64> = asked.iter().map(|(_, i)| i / 256).filter(|t| (t + 1) * 256 <= 601).collect();
    full_tiles.dedup();
    for (entry, index) in asked {
        let (s, j) = get_json(&st, &format!("/api/v1/proofs/inclusion?index={index}")).await;
        assert_eq!(s, StatusCode::OK, "{j}");
        InclusionProof::parse(&serde_json::to_vec(&j).unwrap()).unwrap().verify(entry, &cp.root).unwrap();
    }
    assert!(st.tiles().len() <= st.tiles().capacity());
    assert_eq!(st.tiles().len(), full_tiles.len(), "the full level-0 tiles read were cached, not the partial one");
}

#[tokio::test]
async fn a_batch_with_one_bad_entry_is_refused_whole_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = key("builder-a");
    let st = state(&dir.path().join("log.sqlite"), &[&a], None).await;
    let good: Vec<Vec<u8>> = (0..100u32).map(|n| signed(&a, n, 1)).collect();
    let with = |i: usize, bad: Vec<u8>| {
        let mut e = good.clone();
        e[i] = bad;
        batch_body(&e)
    };
    let bad_sig = String::from_utf8(signed(&a, 5, 1)).unwrap().replace("nar-size: 1005", "nar-size: 1006").into_bytes();
    let too_many: Vec<Vec<u8>> = (0..1025u32).map(|n| signed(&a, n % 3, 1)).collect();
    let cases: Vec<(Vec<u8>, StatusCode, &str, &str)> = vec![
        (with(70, bad_sig), StatusCode::FORBIDDEN, "bad-signature", "entry 70: "),
        (with(0, signed(&key("stranger"), 1, 1)), StatusCode::FORBIDDEN, "unknown-builder", "entry 0: "),
        (with(99, b"hello".to_vec()), StatusCode::BAD_REQUEST, "malformed-report", "entry 99: "),
        (with(3, vec![b'x'; 70_000]), StatusCode::PAYLOAD_TOO_LARGE, "entry-too-large", "entry 3: "),
        (b"not json".to_vec(), StatusCode::BAD_REQUEST, "malformed-batch", ""),
        (br#"{"entries": []}"#.to_vec(), StatusCode::BAD_REQUEST, "malformed-batch", ""),
        (br#"{"entries": ["x"], "more": 1}"#.to_vec(), StatusCode::BAD_REQUEST, "malformed-batch", ""),
        (batch_body(&too_many), StatusCode::BAD_REQUEST, "malformed-batch", ""),
        (vec![b' '; (1 << 20) + 1], StatusCode::PAYLOAD_TOO_LARGE, "too-large", ""),
    ];
    for (body, status, code, prefix) in cases {
        let (s, j) = post(&st, "/api/v1/reports/batch", body).await;
        assert_eq!((s, j["error"].as_str().unwrap()), (status, code), "{j}");
        assert!(j["message"].as_str().unwrap().starts_with(prefix), "{j}");
    }
    assert_eq!(size(&st).await, 0, "nothing was written");
    assert_eq!(get_json(&st, "/api/v1/entries").await.1["entries"].as_array().unwrap().len(), 0);
    // The same entries, all good, are accepted.
    let (s, j) = post(&st, "/api/v1/reports/batch", batch_body(&good)).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(check_receipts(&j, &good), (0..100).collect::<Vec<_>>());
}
