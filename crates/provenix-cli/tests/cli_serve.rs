//! `provenix serve` as a process, on SQLite and on a real PostgreSQL: a
//! `kill -9` during a burst of submissions loses no acknowledged report and
//! never shrinks the tree; two processes on one PostgreSQL database have one
//! sequencer; bad arguments exit 2 naming the culprit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use provenix_formats::log::checkpoint::verify_checkpoint;
use provenix_formats::log::merkle::verify_consistency;
use provenix_formats::log::proof::{ConsistencyProof, Receipt};
use provenix_formats::log::report::Report;
use provenix_formats::signature::SecretKey;

use provenix_testkit::ServeProcess;
use provenix_testkit::postgres::TempPostgres;

fn sqlite_db(dir: &Path) -> String {
    format!("sqlite:{}", dir.join("log.sqlite").display())
}

/// The `provenix serve` command on `db`, with `log.sec` and `builders` from `dir`.
fn serve(dir: &Path, db: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_provenix"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--batch-interval-ms", "20"])
        .arg("--db")
        .arg(db)
        .arg("--log-key")
        .arg(dir.join("log.sec"))
        .arg("--builders")
        .arg(dir.join("builders"));
    command
}

fn report(key: &SecretKey, n: u32) -> Vec<u8> {
    Report {
        drv: format!("/nix/store/{:0>32}-p{n}.drv", n % 10),
        output: "out".into(),
        path: format!("/nix/store/{:0>32}-p{n}", n % 10),
        nar_hash: [n as u8; 32],
        nar_size: Some(u64::from(n)),
        builder: key.name().into(),
        system: None,
        nix_version: "2.8.0".into(),
        time: "2026-12-07T09:00:00Z".into(),
        attestation: None,
    }
    .sign(key)
    .unwrap()
    .to_bytes()
}

/// Index, entry bytes and the checkpoint of an acknowledged submission.
type Acked = (u64, Vec<u8>, String);

fn get(url: &str) -> String {
    ureq::get(url).call().unwrap().body_mut().read_to_string().unwrap()
}

#[test]
fn kill_9_during_a_burst_loses_no_acknowledged_report() {
    let dir = tempfile::tempdir().unwrap();
    kill_9_during_a_burst(dir.path(), &sqlite_db(dir.path()));
}

#[test]
fn kill_9_during_a_burst_loses_no_acknowledged_report_on_postgres() {
    let pg = TempPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    kill_9_during_a_burst(dir.path(), &pg.create_database("crash"));
}

fn kill_9_during_a_burst(dir: &Path, db: &str) {
    let log_key = SecretKey::from_seed("log.crash", [1; 32]).unwrap();
    let builder = SecretKey::from_seed("builder-a", [2; 32]).unwrap();
    std::fs::write(dir.join("log.sec"), log_key.to_string()).unwrap();
    std::fs::write(dir.join("builders"), format!("# the one builder\n{}\n", builder.to_public())).unwrap();
    let mut server = ServeProcess::start(serve(dir, db));
    let url = server.url().to_owned();
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4u32)
        .map(|w| {
            let (acked, stop, url, builder) = (acked.clone(), stop.clone(), url.clone(), builder.clone());
            let log_public = log_key.to_public();
            std::thread::spawn(move || {
                let mut n = w;
                while !stop.load(Ordering::Relaxed) {
                    let entry = report(&builder, n);
                    n += 4;
                    let Ok(mut resp) = ureq::post(format!("{url}/api/v1/reports")).send(&entry[..]) else { break };
                    let Ok(body) = resp.body_mut().read_to_string() else { break };
                    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
                    let receipt = Receipt::parse(&serde_json::to_vec(&json["receipt"]).unwrap()).unwrap();
                    receipt.verify(&entry, &log_public, "log.crash").unwrap();
                    acked.lock().unwrap().push((receipt.index, entry, receipt.checkpoint));
                }
            })
        })
        .collect();
    while acked.lock().unwrap().len() < 150 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    server.kill(); // SIGKILL, while the workers are still submitting
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let server = ServeProcess::start(serve(dir, db));
    let url = server.url();
    let note = get(&format!("{url}/checkpoint"));
    let now = verify_checkpoint(note.as_bytes(), &log_key.to_public(), "log.crash").unwrap();
    for (index, entry, _) in &acked {
        let json: serde_json::Value = serde_json::from_str(&get(&format!("{url}/api/v1/entries/{index}"))).unwrap();
        assert_eq!(json["entry"].as_str().unwrap().as_bytes(), &entry[..], "entry {index}");
    }
    // Every checkpoint a submitter saw is a prefix of the tree after the restart.
    let mut seen: Vec<&String> = acked.iter().map(|a| &a.2).collect();
    seen.sort();
    seen.dedup();
    for old in seen {
        let old = verify_checkpoint(old.as_bytes(), &log_key.to_public(), "log.crash").unwrap();
        assert!(old.size <= now.size, "tree size went back from {} to {}", old.size, now.size);
        let proof = get(&format!("{url}/api/v1/proofs/consistency?old={}", old.size));
        let proof = ConsistencyProof::parse(proof.as_bytes()).unwrap();
        verify_consistency(old.size, now.size, &old.root, &now.root, &proof.hashes).unwrap();
    }
    // The restarted log goes on accepting from where it stopped.
    let mut resp = ureq::post(format!("{url}/api/v1/reports")).send(&report(&builder, 1_000_000)[..]).unwrap();
    let json: serde_json::Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(json["index"].as_u64().unwrap(), now.size);
}

#[test]
fn serve_refuses_bad_arguments_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.sec"), "nope").unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_provenix"))
            .arg("serve")
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let key = SecretKey::from_seed("log", [1; 32]).unwrap().to_string();
    let (code, err) = run(&["--db", "mysql:x", "--log-key", &key]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--db mysql:x"), "{err}");
    // A PostgreSQL URL that cannot connect is named, without its password.
    let (code, err) = run(&["--db", "postgres://me:hunter2@127.0.0.1:1/log", "--log-key", &key]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--db postgres://me:***@127.0.0.1:1/log: PostgreSQL"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let (code, err) = run(&["--db", "sqlite:log.sqlite", "--log-key", "bad.sec"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--log-key"), "{err}");
    std::fs::write(dir.path().join("builders"), "builder:notbase64\n").unwrap();
    let (code, err) = run(&["--db", "sqlite:log.sqlite", "--log-key", &key, "--builders", "builders"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("builders line 1"), "{err}");
    assert!(!dir.path().join("log.sqlite").exists(), "nothing created for a refused start");
}

/// POSTs `entry`; returns the status and the JSON answer, 4xx and 5xx included.
fn post(url: &str, entry: &[u8]) -> (u16, serde_json::Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut resp = agent.post(format!("{url}/api/v1/reports")).send(entry).unwrap();
    let status = resp.status().as_u16();
    (status, serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap())
}

fn checkpoint_size(url: &str, log_key: &SecretKey) -> u64 {
    verify_checkpoint(get(&format!("{url}/checkpoint")).as_bytes(), &log_key.to_public(), log_key.name()).unwrap().size
}

#[test]
fn two_processes_on_one_postgres_database_have_one_sequencer() {
    let pg = TempPostgres::start();
    let db = pg.create_database("shared");
    let dir = tempfile::tempdir().unwrap();
    let log_key = SecretKey::from_seed("log.shared", [3; 32]).unwrap();
    let builder = SecretKey::from_seed("builder-a", [2; 32]).unwrap();
    std::fs::write(dir.path().join("log.sec"), log_key.to_string()).unwrap();
    std::fs::write(dir.path().join("builders"), format!("{}\n", builder.to_public())).unwrap();
    let role = |stderr: &mut BufReader<std::process::ChildStderr>| {
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        line
    };
    let (mut first, mut first_err) = ServeProcess::start_reading(serve(dir.path(), &db));
    assert!(role(&mut first_err).contains("this process sequences"));
    ServeProcess::drain(first_err);
    let (second, mut second_err) = ServeProcess::start_reading(serve(dir.path(), &db));
    assert!(role(&mut second_err).contains("another process sequences"));
    ServeProcess::drain(second_err);
    let (first_url, second_url) = (first.url().to_owned(), second.url().to_owned());

    let (status, json) = post(&first_url, &report(&builder, 1));
    assert_eq!((status, json["index"].as_u64()), (201, Some(0)), "{json}");
    // The second serves what the first sequenced ...
    assert_eq!(checkpoint_size(&second_url, &log_key), 1);
    let entry: serde_json::Value = serde_json::from_str(&get(&format!("{second_url}/api/v1/entries/0"))).unwrap();
    assert_eq!(entry["entry"].as_str().unwrap().as_bytes(), &report(&builder, 1)[..]);
    // ... and refuses submissions with a JSON 503, writing nothing.
    let (status, json) = post(&second_url, &report(&builder, 2));
    assert_eq!((status, json["error"].as_str()), (503, Some("unavailable")), "{json}");
    assert_eq!(checkpoint_size(&first_url, &log_key), 1);

    // The sequencer dies: its session, and the lock, end; the second takes over.
    first.kill();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let index = loop {
        let (status, json) = post(&second_url, &report(&builder, 2));
        if status == 201 {
            break json["index"].as_u64().unwrap();
        }
        assert!(status == 503 && std::time::Instant::now() < deadline, "{status} {json}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(index, 1, "the new sequencer continues the same tree");
    assert_eq!(checkpoint_size(&second_url, &log_key), 2);
}
