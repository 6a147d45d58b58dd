//! The HTTP API in process (`router(state).oneshot(req)`): submissions and
//! receipts, every refusal (and that it writes nothing), verdicts, builders,
//! proofs, tiles, the admin API, and a history edit caught by a client check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{call, get_json, key, post, signed, state};
use provenix_formats::log::checkpoint::verify_checkpoint;
use provenix_formats::log::merkle::{leaf_hash, verify_consistency};
use provenix_formats::log::proof::{ConsistencyProof, InclusionProof, Receipt};
use serde_json::Value;

async fn size(state: &provenix_server::AppState) -> u64 {
    get_json(state, "/api/v1/checkpoint").await.1["size"].as_u64().unwrap()
}

#[tokio::test]
async fn a_submission_gets_a_receipt_that_verifies_against_the_log_key() {
    let dir = tempfile::tempdir().unwrap();
    let a = key("builder-a");
    let st = state(&dir.path().join("log.sqlite"), &[&a], None).await;
    let entry = signed(&a, 1, 7);
    let (status, body) = post(&st, "/api/v1/reports", entry.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["index"], 0);
    let receipt = Receipt::parse(&serde_json::to_vec(&body["receipt"]).unwrap()).unwrap();
    let cp = receipt.verify(&entry, &key("log.test").to_public(), "log.test").unwrap();
    assert_eq!(cp.size, 1);
    // A receipt does not vouch for other bytes.
    assert!(receipt.verify(&signed(&a, 1, 8), &key("log.test").to_public(), "log.test").is_err());
    // The C2SP checkpoint endpoint serves the signed note.
    let (s, note) = call(&st, Request::get("/checkpoint").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(verify_checkpoint(&note, &key("log.test").to_public(), "log.test").unwrap().size, 1);
}

#[tokio::test]
async fn every_refusal_is_a_4xx_naming_the_fault_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = key("builder-a");
    let st = state(&dir.path().join("log.sqlite"), &[&a], None).await;
    let stranger = key("stranger");
    let good = String::from_utf8(signed(&a, 1, 7)).unwrap();
    let bad_sig = good.replace("nar-size: 1001", "nar-size: 1002");
    // builder field says stranger, signature by builder-a
    let contradicts = good.replacen("builder: builder-a", "builder: stranger", 1);
    // A valid signature by the right name but another key (impostor).
    let impostor = signed(&provenix_formats::signature::SecretKey::from_seed("builder-a", [42; 32]).unwrap(), 1, 7);
    let cases: Vec<(Vec<u8>, StatusCode, &str)> = vec![
        (signed(&stranger, 1, 7), StatusCode::FORBIDDEN, "unknown-builder"),
        (bad_sig.into_bytes(), StatusCode::FORBIDDEN, "bad-signature"),
        (impostor, StatusCode::FORBIDDEN, "bad-signature"),
        (b"hello".to_vec(), StatusCode::BAD_REQUEST, "malformed-report"),
        (vec![b'x'; 70_000], StatusCode::PAYLOAD_TOO_LARGE, "too-large"),
        (contradicts.into_bytes(), StatusCode::UNPROCESSABLE_ENTITY, "contradicts-signature"),
    ];
    for (body, status, code) in cases {
        let (s, json) = post(&st, "/api/v1/reports", body).await;
        assert_eq!((s, json["error"].as_str().unwrap()), (status, code), "{json}");
        assert!(!json["message"].as_str().unwrap().is_empty());
    }
    let (s, json) = post(&st, "/api/v1/attestations", b"{}".to_vec()).await;
    assert_eq!((s, json["error"].as_str().unwrap()), (StatusCode::BAD_REQUEST, "malformed-attestation"));
    assert_eq!(size(&st).await, 0, "nothing was written");
    assert_eq!(get_json(&st, "/api/v1/entries").await.1["entries"].as_array().unwrap().len(), 0);
    let (s, json) = get_json(&st, "/api/v1/nope").await;
    assert_eq!((s, json["error"].as_str().unwrap()), (StatusCode::NOT_FOUND, "not-found"));
}

#[tokio::test]
async fn verdicts_builders_and_disagreements_follow_the_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (key("builder-a"), key("builder-b"), key("builder-c"));
    let st = state(&dir.path().join("log.sqlite"), &[&a, &b, &c], None).await;
    // pkg 1: a and b agree; pkg 2: a and b agree, c differs; pkg 3: a alone (twice, the same).
    for (k, n, h) in [(&a, 1, 1), (&b, 1, 1), (&a, 2, 1), (&b, 2, 1), (&c, 2, 9), (&a, 3, 5), (&a, 3, 5)] {
        assert_eq!(post(&st, "/api/v1/reports", signed(k, n, h)).await.0, StatusCode::CREATED);
    }
    let path = |n| common::report("x", n, 0).path;
    let drv = |n| common::report("x", n, 0).drv;
    let verdict = |j: &Value| j["verdict"].as_str().unwrap().to_owned();
    let (_, j) = get_json(&st, &format!("/api/v1/outputs?path={}", path(1))).await;
    assert_eq!(verdict(&j), "reproduced");
    assert_eq!(j["outputs"][0]["reports"].as_array().unwrap().len(), 2);
    let (_, j) = get_json(&st, &format!("/api/v1/outputs?path={}", drv(2))).await;
    assert_eq!(verdict(&j), "disputed");
    assert_eq!(j["outputs"][0]["hashes"].as_array().unwrap().len(), 2);
    let (_, j) = get_json(&st, &format!("/api/v1/outputs?path={}", path(3))).await;
    assert_eq!(verdict(&j), "single");
    assert_eq!(j["outputs"][0]["reports"].as_array().unwrap().len(), 2, "a resubmission is logged too");
    let (_, j) = get_json(&st, &format!("/api/v1/outputs?path={}", path(4))).await;
    assert_eq!(verdict(&j), "unknown");
    let (_, j) = get_json(&st, "/api/v1/disagreements").await;
    let list = j["disagreements"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["path"], path(2));
    let (_, j) = get_json(&st, "/api/v1/builders/builder-c").await;
    assert_eq!(j["stats"]["disagreed"], 1);
    assert_eq!(j["stats"]["agreementRate"], 0.0);
    let (_, j) = get_json(&st, "/api/v1/builders/builder-a").await;
    assert_eq!((j["stats"]["reports"].as_u64(), j["stats"]["agreed"].as_u64()), (Some(4), Some(1)));
    assert_eq!(j["history"].as_array().unwrap().len(), 4);
    assert_eq!(get_json(&st, "/api/v1/builders").await.1["builders"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn proofs_and_tiles_agree_with_the_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let a = key("builder-a");
    let st = state(&dir.path().join("log.sqlite"), &[&a], None).await;
    let log_key = key("log.test").to_public();
    let mut entries = Vec::new();
    let mut notes = Vec::new();
    for n in 0..300u32 {
        let e = signed(&a, n, (n % 7) as u8);
        let (s, j) = post(&st, "/api/v1/reports", e.clone()).await;
        assert_eq!(s, StatusCode::CREATED);
        entries.push(e);
        if n % 50 == 0 {
            notes.push(get_json(&st, "/api/v1/checkpoint").await.1["note"].as_str().unwrap().to_owned());
        }
        let _ = j;
    }
    let latest = verify_checkpoint(
        get_json(&st, "/api/v1/checkpoint").await.1["note"].as_str().unwrap().as_bytes(),
        &log_key,
        "log.test",
    )
    .unwrap();
    assert_eq!(latest.size, 300);
    for index in [0u64, 1, 255, 256, 299] {
        let (_, j) = get_json(&st, &format!("/api/v1/proofs/inclusion?index={index}")).await;
        let proof = InclusionProof::parse(&serde_json::to_vec(&j).unwrap()).unwrap();
        proof.verify(&entries[index as usize], &latest.root).unwrap();
    }
    for note in &notes {
        let old = verify_checkpoint(note.as_bytes(), &log_key, "log.test").unwrap();
        let (_, j) = get_json(&st, &format!("/api/v1/proofs/consistency?old={}", old.size)).await;
        let p = ConsistencyProof::parse(&serde_json::to_vec(&j).unwrap()).unwrap();
        verify_consistency(old.size, latest.size, &old.root, &latest.root, &p.hashes).unwrap();
    }
    // Tile 0/000 is full (256 leaf hashes), tile 0/001 partial with 44.
    let (s, tile) = call(&st, Request::get("/tile/0/000").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(&tile[..32], &leaf_hash(&entries[0]));
    assert_eq!(tile.len(), 256 * 32);
    let (s, tile) = call(&st, Request::get("/tile/0/001.p/44").body(Body::empty()).unwrap()).await;
    assert_eq!((s, tile.len()), (StatusCode::OK, 44 * 32));
    assert_eq!(&tile[43 * 32..], &leaf_hash(&entries[299]));
    assert_eq!(call(&st, Request::get("/tile/0/001").body(Body::empty()).unwrap()).await.0, StatusCode::NOT_FOUND);
    assert_eq!(call(&st, Request::get("/tile/0/1").body(Body::empty()).unwrap()).await.0, StatusCode::BAD_REQUEST);
    let (s, bundle) = call(&st, Request::get("/tile/entries/001.p/2").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    let len = usize::from(u16::from_be_bytes([bundle[0], bundle[1]]));
    assert_eq!(&bundle[2..2 + len], &entries[256][..]);
    let (s, j) = get_json(&st, "/api/v1/proofs/inclusion?index=300").await;
    assert_eq!((s, j["error"].as_str().unwrap()), (StatusCode::BAD_REQUEST, "out-of-range"));
}

#[tokio::test]
async fn the_admin_api_registers_builders_behind_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(&dir.path().join("log.sqlite"), &[], Some("s3cret")).await;
    let b = key("builder-b");
    let body = serde_json::json!({ "publicKey": b.to_public().to_string() }).to_string();
    let req = |token: Option<&str>| {
        let mut r = Request::post("/api/v1/admin/builders");
        if let Some(t) = token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        r.body(Body::from(body.clone())).unwrap()
    };
    assert_eq!(call(&st, req(None)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&st, req(Some("wrong"))).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(post(&st, "/api/v1/reports", signed(&b, 1, 1)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(call(&st, req(Some("s3cret"))).await.0, StatusCode::CREATED);
    assert_eq!(post(&st, "/api/v1/reports", signed(&b, 1, 1)).await.0, StatusCode::CREATED);
    // Another key under a registered name is a conflict.
    let other = serde_json::json!({ "publicKey": provenix_formats::signature::SecretKey::from_seed("builder-b", [1; 32]).unwrap().to_public().to_string() });
    let r = Request::post("/api/v1/admin/builders")
        .header("authorization", "Bearer s3cret")
        .body(Body::from(other.to_string()))
        .unwrap();
    assert_eq!(call(&st, r).await.0, StatusCode::CONFLICT);
    let r = Request::delete("/api/v1/admin/builders/builder-b")
        .header("authorization", "Bearer s3cret")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&st, r).await.0, StatusCode::OK);
    assert_eq!(post(&st, "/api/v1/reports", signed(&b, 2, 1)).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_record_edited_in_the_database_is_caught_by_the_client_check() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite");
    let a = key("builder-a");
    let st = state(&db, &[&a], None).await;
    for n in 0..5 {
        post(&st, "/api/v1/reports", signed(&a, n, 1)).await;
    }
    let (_, cp) = get_json(&st, "/api/v1/checkpoint").await;
    let log_key = key("log.test").to_public();
    let checkpoint = verify_checkpoint(cp["note"].as_str().unwrap().as_bytes(), &log_key, "log.test").unwrap();
    let check = |entry: &Value, proof: &Value| -> bool {
        let data = entry["entry"].as_str().unwrap().as_bytes().to_vec();
        let proof = InclusionProof::parse(&serde_json::to_vec(proof).unwrap()).unwrap();
        proof.verify(&data, &checkpoint.root).is_ok()
    };
    let e = get_json(&st, "/api/v1/entries/2").await.1;
    let p = get_json(&st, "/api/v1/proofs/inclusion?index=2").await.1;
    assert!(check(&e, &p));
    // Rewrite history: entry 2 claims another NAR hash (and its leaf hash in the tile, to match).
    let conn = rusqlite::Connection::open(&db).unwrap();
    let data: Vec<u8> = conn.query_row("SELECT data FROM entries WHERE idx = 2", [], |r| r.get(0)).unwrap();
    let edited = String::from_utf8(data).unwrap().replace("nar-size: 1002", "nar-size: 9999").into_bytes();
    conn.execute("UPDATE entries SET data = ?1 WHERE idx = 2", [&edited]).unwrap();
    let mut tile: Vec<u8> =
        conn.query_row("SELECT data FROM tiles WHERE level = 0 AND idx = 0", [], |r| r.get(0)).unwrap();
    tile[64..96].copy_from_slice(&leaf_hash(&edited));
    conn.execute("UPDATE tiles SET data = ?1 WHERE level = 0 AND idx = 0", [&tile]).unwrap();
    let e = get_json(&st, "/api/v1/entries/2").await.1;
    let p = get_json(&st, "/api/v1/proofs/inclusion?index=2").await.1;
    assert!(e["entry"].as_str().unwrap().contains("nar-size: 9999"), "the server serves the edit");
    assert!(!check(&e, &p), "the edited entry does not lead to the signed root");
}

fn attestation(key: &provenix_formats::signature::SecretKey, hash: &str) -> Vec<u8> {
    use provenix_core::attest::{
        BuildDefinition, BuildMetadata, Builder, Provenance, ResourceDescriptor, RunDetails, Statement,
    };
    let out = common::report("x", 1, 0).path;
    let drv = common::report("x", 1, 0).drv;
    let subject = vec![ResourceDescriptor {
        name: Some(out.clone()),
        digest: [("sha256".to_owned(), hash.repeat(32))].into_iter().collect(),
        ..Default::default()
    }];
    let provenance = Provenance {
        build_definition: BuildDefinition {
            build_type: "https://provenix.dev/rebuild/v1".to_owned(),
            external_parameters: serde_json::json!({}),
            internal_parameters: None,
            resolved_dependencies: vec![],
        },
        run_details: RunDetails {
            builder: Builder {
                id: "x".to_owned(),
                version: [("nix".to_owned(), "2.8.0".to_owned())].into_iter().collect(),
                builder_dependencies: vec![],
            },
            metadata: Some(BuildMetadata {
                finished_on: Some("2026-12-07T09:00:00Z".to_owned()),
                ..Default::default()
            }),
            // As `rebuild` writes it: the rebuilt output's digest beside its record.
            byproducts: vec![ResourceDescriptor {
                name: Some(out),
                digest: [("sha256".to_owned(), hash.repeat(32))].into_iter().collect(),
                annotations: serde_json::json!({"drv": drv, "output": "out"}).as_object().cloned(),
                ..Default::default()
            }],
        },
    };
    provenix_core::attest::sign(&Statement::provenance(subject, &provenance), &[key]).to_json()
}

#[tokio::test]
async fn a_rebuild_attestation_is_one_report_per_subject_and_joins_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let (a, r) = (key("builder-a"), key("rebuilder"));
    let st = state(&dir.path().join("log.sqlite"), &[&a, &r], None).await;
    // builder-a reported pkg 1 with NAR hash 0xab..; the rebuilder attests the same hash.
    assert_eq!(post(&st, "/api/v1/reports", signed(&a, 1, 0xab)).await.0, StatusCode::CREATED);
    let env = attestation(&r, "ab");
    let (s, j) = post(&st, "/api/v1/attestations", env.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{j}");
    let answers = j["entries"].as_array().unwrap();
    assert_eq!(answers.len(), 1);
    let entry = get_json(&st, "/api/v1/entries/1").await.1;
    let data = entry["entry"].as_str().unwrap().as_bytes().to_vec();
    let receipt = Receipt::parse(&serde_json::to_vec(&answers[0]["receipt"]).unwrap()).unwrap();
    receipt.verify(&data, &key("log.test").to_public(), "log.test").unwrap();
    // Anyone can re-check the entry from its envelope.
    let parsed = provenix_formats::log::report::Entry::parse(&data, &Default::default()).unwrap();
    let trusted: provenix_formats::signature::TrustedKeys = [r.to_public()].into_iter().collect();
    provenix_core::log::report::check_entry(parsed, &trusted, &Default::default()).unwrap();
    let path = common::report("x", 1, 0).path;
    let (_, v) = get_json(&st, &format!("/api/v1/outputs?path={path}")).await;
    assert_eq!(v["verdict"], "reproduced");
    // An attestation by an unregistered key, or with a broken signature, is refused.
    let (s, j) = post(&st, "/api/v1/attestations", attestation(&key("stranger"), "ab")).await;
    assert_eq!((s, j["error"].as_str().unwrap()), (StatusCode::FORBIDDEN, "unknown-builder"));
    let mut forged: Value = serde_json::from_slice(&attestation(&r, "ab")).unwrap();
    let sig = forged["signatures"][0]["sig"].as_str().unwrap().to_owned();
    let flipped = match sig.strip_prefix('A') {
        Some(rest) => format!("B{rest}"),
        None => format!("A{}", &sig[1..]),
    };
    forged["signatures"][0]["sig"] = Value::String(flipped);
    let forged = serde_json::to_vec(&forged).unwrap();
    let (s, j) = post(&st, "/api/v1/attestations", forged).await;
    assert_eq!((s, j["error"].as_str().unwrap()), (StatusCode::FORBIDDEN, "bad-signature"), "{j}");
    // A report lifted from the envelope but changed is a contradiction.
    let lifted = String::from_utf8(data).unwrap().replace("output: out", "output: dev");
    let (s, j) = post(&st, "/api/v1/reports", lifted.into_bytes()).await;
    assert_eq!((s, j["error"].as_str().unwrap()), (StatusCode::UNPROCESSABLE_ENTITY, "contradicts-signature"), "{j}");
    assert_eq!(size(&st).await, 2, "refusals wrote nothing");
}
