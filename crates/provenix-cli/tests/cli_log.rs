//! `provenix log show` and `log verify` against a real `provenix serve` on
//! 127.0.0.1, with signed reports submitted over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use provenix_formats::log::report::Report;
use provenix_formats::signature::SecretKey;
use provenix_testkit::ServeProcess;

fn key(name: &str, byte: u8) -> SecretKey {
    SecretKey::from_seed(name, [byte; 32]).unwrap()
}

fn serve(dir: &Path, builders: &[&SecretKey]) -> ServeProcess {
    serve_db(dir, &dir.join("log.sqlite"), builders)
}

fn serve_db(dir: &Path, db: &Path, builders: &[&SecretKey]) -> ServeProcess {
    let list: Vec<String> = builders.iter().map(|k| k.to_public().to_string()).collect();
    std::fs::write(dir.join("builders"), list.join("\n")).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_provenix"));
    command
        .arg("--db")
        .arg(format!("sqlite:{}", db.display()))
        .args(["serve", "--listen", "127.0.0.1:0", "--batch-interval-ms", "5", "--log-key"])
        .arg(key("log.test", 7).to_string())
        .arg("--builders")
        .arg(dir.join("builders"));
    ServeProcess::start(command)
}

fn path(n: u32, name: &str) -> String {
    format!("/nix/store/{}-{name}", format!("{n:0>32}").replace(['0', 'e', 'o', 't', 'u'], "a"))
}

fn submit(server: &ServeProcess, k: &SecretKey, n: u32, nar: u8) {
    let report = Report {
        drv: path(n, &format!("pkg-{n}.drv")),
        output: "out".to_owned(),
        path: path(n + 100, &format!("pkg-{n}")),
        nar_hash: [nar; 32],
        nar_size: Some(1000),
        builder: k.name().to_owned(),
        system: Some("x86_64-linux".to_owned()),
        nix_version: "2.8.0".to_owned(),
        time: "2026-12-07T09:00:00Z".to_owned(),
        attestation: None,
    };
    let body = report.sign(k).unwrap().to_bytes();
    let resp = ureq::post(&format!("{}/api/v1/reports", server.url())).send(&body[..]).unwrap();
    assert_eq!(resp.status().as_u16(), 201);
}

fn provenix(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_provenix")).args(args).output().unwrap()
}

fn nar(h: u8) -> String {
    provenix_formats::hash::Hash::from_digest(provenix_formats::hash::HashAlgo::Sha256, &[h; 32])
        .unwrap()
        .to_prefixed_nixbase32()
}

#[test]
fn log_show_prints_the_reports_and_verdicts_of_a_running_log() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (key("builder-a", 1), key("builder-b", 2), key("builder-c", 3));
    let server = serve(dir.path(), &[&a, &b, &c]);
    for (k, n, h) in [(&a, 1, 1), (&b, 1, 1), (&a, 2, 1), (&c, 2, 9)] {
        submit(&server, k, n, h);
    }
    let out = provenix(&["log", "show", &path(1, "pkg-1.drv"), "--server", server.url()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with(&format!("{}: reproduced\n", path(1, "pkg-1.drv"))), "{text}");
    assert!(text.contains(&format!("  out {}: reproduced\n", path(101, "pkg-1"))), "{text}");
    assert!(text.contains(&format!("    {} from builder-a, builder-b\n", nar(1))), "{text}");

    let out = provenix(&["--json", "log", "show", &path(102, "pkg-2"), "--server", server.url()]);
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["verdict"], "disputed");
    assert_eq!(j["outputs"][0]["drv"], path(2, "pkg-2.drv"));
    assert_eq!(j["outputs"][0]["hashes"].as_array().unwrap().len(), 2);
    assert_eq!(j["outputs"][0]["reports"][1]["builder"], "builder-c");
    assert_eq!(j["outputs"][0]["reports"][1]["narHash"], nar(9));

    let out = provenix(&["log", "show", &path(3, "pkg-3"), "--server", server.url()]);
    assert!(String::from_utf8(out.stdout).unwrap().contains(": unknown\n  no builder has reported it"));
}

#[test]
fn log_show_refuses_a_bad_path_a_bad_url_and_a_dead_server_with_exit_2() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    for (args, says) in [
        (vec!["log", "show", "/tmp/x", "--server", &url], "`/tmp/x` is not a store path under /nix/store"),
        (
            vec!["log", "show", "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x", "--server", "ftp://x"],
            "expected an http:// or https:// URL",
        ),
        (
            vec!["log", "show", "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x", "--server", &url],
            "asking http://127.0.0.1:",
        ),
    ] {
        let out = provenix(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

fn log_key_pub() -> String {
    key("log.test", 7).to_public().to_string()
}

/// `provenix --json log verify` with the state in `state`: exit code, JSON, stderr.
fn log_verify(server: &ServeProcess, state: &Path, extra: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let mut args = vec!["--json", "log", "verify", "--server", server.url(), "--trust-log-key"];
    let pubkey = log_key_pub();
    args.push(&pubkey);
    let state_arg = state.display().to_string();
    args.extend(["--state-dir", &state_arg]);
    args.extend(extra);
    let out = provenix(&args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code(), json, err)
}

#[test]
fn log_verify_trusts_on_first_use_accepts_appends_and_catches_an_edited_record_with_full() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (a, b) = (key("builder-a", 1), key("builder-b", 2));
    let server = serve(dir.path(), &[&a, &b]);
    for n in 1..=3 {
        submit(&server, &a, n, 1);
    }
    let (code, j, err) = log_verify(&server, &state, &[]);
    assert_eq!(code, Some(0), "{err} {j}");
    assert_eq!(j["relation"], "first-contact");
    assert_eq!(j["checkpoint"]["size"], 3);
    assert_eq!(j["recorded"], true);
    let file = std::path::PathBuf::from(j["stateFile"].as_str().unwrap());
    assert!(file.starts_with(&state), "{file:?}");
    assert!(std::fs::read_to_string(&file).unwrap().starts_with("log.test\n3\n"));

    for n in 4..=5 {
        submit(&server, &b, n, 2);
    }
    let (code, j, _) = log_verify(&server, &state, &[]);
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(j["relation"], "extended");
    assert_eq!(j["previous"]["size"], 3);
    assert_eq!(j["checkpoint"]["size"], 5);
    let (code, j, _) = log_verify(&server, &state, &["--full"]);
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(j["relation"], "same");
    assert_eq!(j["full"]["entries"], 5);
    assert_eq!(j["full"]["signaturesVerified"], 5);
    assert_eq!(j["full"]["rootMatches"], true);

    // Rewrite history in the database: entry 2 claims another size, and its
    // leaf hash in the level-0 tile is edited to match, so proofs still agree.
    let conn = rusqlite::Connection::open(dir.path().join("log.sqlite")).unwrap();
    let data: Vec<u8> = conn.query_row("SELECT data FROM entries WHERE idx = 2", [], |r| r.get(0)).unwrap();
    let edited = String::from_utf8(data).unwrap().replace("nar-size: 1000", "nar-size: 9999").into_bytes();
    conn.execute("UPDATE entries SET data = ?1 WHERE idx = 2", [&edited]).unwrap();
    // Only the entry: the full re-check names it by its tile.
    let (code, j, _) = log_verify(&server, &state, &["--full"]);
    assert_eq!(code, Some(1), "{j}");
    let problems = j["problems"].to_string();
    assert!(problems.contains("entry 2 does not hash to its leaf hash in tile/0/000.p/5"), "{problems}");
    let mut tile: Vec<u8> =
        conn.query_row("SELECT data FROM tiles WHERE level = 0 AND idx = 0", [], |r| r.get(0)).unwrap();
    tile[64..96].copy_from_slice(&provenix_formats::log::merkle::leaf_hash(&edited));
    conn.execute("UPDATE tiles SET data = ?1 WHERE level = 0 AND idx = 0", [&tile]).unwrap();
    drop(conn);

    // The signed checkpoint is untouched, so only the full re-check sees it.
    assert_eq!(log_verify(&server, &state, &[]).0, Some(0));
    let (code, j, _) = log_verify(&server, &state, &["--full"]);
    assert_eq!(code, Some(1), "{j}");
    assert_eq!(j["full"]["rootMatches"], false);
    let problems = j["problems"].to_string();
    assert!(problems.contains("the entries do not hash to the signed root: 5 entries give root"), "{problems}");
    assert!(problems.contains("entry 2 by `builder-a` does not verify with its registered key"), "{problems}");
    assert!(!problems.contains("its leaf hash in"), "the tile was edited to match: {problems}");
    assert_eq!(j["recorded"], false);

    // Human output names the failure too.
    let pubkey = log_key_pub();
    let state_arg = state.display().to_string();
    let out = provenix(&[
        "log",
        "verify",
        "--server",
        server.url(),
        "--trust-log-key",
        &pubkey,
        "--state-dir",
        &state_arg,
        "--entries",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(text.contains("5 entries re-hashed: the root DOES NOT match"), "{text}");
}

#[test]
fn log_verify_catches_a_server_restarted_on_an_older_copy_of_its_database() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let a = key("builder-a", 1);
    let db = dir.path().join("log.sqlite");
    let old = dir.path().join("old.sqlite");
    let server = serve_db(dir.path(), &db, &[&a]);
    for n in 1..=3 {
        submit(&server, &a, n, 1);
    }
    assert_eq!(log_verify(&server, &state, &[]).0, Some(0));
    drop(server);
    // The copy an operator might restore: the database and its WAL.
    for suffix in ["", "-wal"] {
        let from = format!("{}{suffix}", db.display());
        if Path::new(&from).exists() {
            std::fs::copy(&from, format!("{}{suffix}", old.display())).unwrap();
        }
    }
    let server = serve_db(dir.path(), &db, &[&a]);
    for n in 4..=5 {
        submit(&server, &a, n, 1);
    }
    let (code, j, _) = log_verify(&server, &state, &[]);
    assert_eq!((code, j["relation"].as_str()), (Some(0), Some("extended")), "{j}");
    let seen_root = j["checkpoint"]["rootHash"].as_str().unwrap().to_owned();
    drop(server);

    // Restarted on the older copy: the tree went from 5 back to 3.
    let server = serve_db(dir.path(), &old, &[&a]);
    let (code, j, err) = log_verify(&server, &state, &[]);
    assert_eq!(code, Some(1), "{err} {j}");
    assert_eq!(j["relation"], "inconsistent");
    let problem = j["problems"][0].as_str().unwrap();
    assert!(
        problem.starts_with(&format!(
            "the tree size went backwards: this client saw size 5 (root {seen_root}), the server now says 3"
        )),
        "{problem}"
    );
    // It grows again with other reports: another root at the size seen...
    for n in 6..=7 {
        submit(&server, &a, n, 9);
    }
    let (code, j, _) = log_verify(&server, &state, &[]);
    assert_eq!(code, Some(1), "{j}");
    let problem = j["problems"][0].as_str().unwrap();
    assert!(problem.starts_with(&format!("another root at the same size 5: this client saw root {seen_root}")));
    // ...and past it, with no consistency proof from the history seen.
    submit(&server, &a, 8, 9);
    let (code, j, _) = log_verify(&server, &state, &[]);
    assert_eq!(code, Some(1), "{j}");
    let problem = j["problems"][0].as_str().unwrap();
    assert!(problem.contains("is not a prefix of size 6"), "{problem}");
    assert!(problem.ends_with("the consistency proof does not verify"), "{problem}");
    // The state still holds the history seen.
    assert_eq!(j["previous"]["size"], 5);
    assert_eq!(j["recorded"], false);
}

#[test]
fn log_verify_refuses_a_secret_key_a_wrong_log_key_and_a_dead_server() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let a = key("builder-a", 1);
    let server = serve(dir.path(), &[&a]);
    submit(&server, &a, 1, 1);
    let state_arg = state.display().to_string();
    let secret = key("log.test", 7).to_string();
    let out =
        provenix(&["log", "verify", "--server", server.url(), "--trust-log-key", &secret, "--state-dir", &state_arg]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--trust-log-key: public key given on the command line: public key `log.test` has 64 bytes, the length of a secret key: this is a secret key; pass its public key"),
        "{err}"
    );

    // Another key of the same name: the checkpoint is not signed by it (exit 1), nothing recorded.
    let impostor = key("log.test", 8).to_public().to_string();
    let out =
        provenix(&["log", "verify", "--server", server.url(), "--trust-log-key", &impostor, "--state-dir", &state_arg]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("problem: the checkpoint is not signed by the trusted key `log.test`"), "{text}");
    assert!(!state.join("logs").exists() || std::fs::read_dir(state.join("logs")).unwrap().next().is_none());

    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let pubkey = log_key_pub();
    let out = provenix(&["log", "verify", "--server", &url, "--trust-log-key", &pubkey, "--state-dir", &state_arg]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("asking http://127.0.0.1:"), "{err}");
}

/// A realised output of a throwaway store: its path, `.drv` and NAR sha256 as Nix records them.
struct Built {
    path: String,
    drv: String,
    nar: [u8; 32],
}

fn built(h: &provenix_testkit::NixHarness, path: &str) -> Built {
    let drv = h.run_text("nix-store", ["--query", "--deriver", path]);
    // `nix-store --query --hash` prints `sha256:<nixbase32>`.
    let hash = h.run_text("nix-store", ["--query", "--hash", path]);
    let hash = provenix_formats::hash::Hash::parse(&hash, None).unwrap();
    Built { path: path.to_owned(), drv, nar: hash.digest().try_into().unwrap() }
}

/// The two-leaf closure of the testkit: leaf-a, leaf-b and top, sorted as named.
fn two_leaf_outputs(h: &provenix_testkit::NixHarness) -> (Built, Built, Built) {
    let top = h.build_two_leaf_closure();
    let refs = h.run_text("nix-store", ["--query", "--references", &top]);
    let leaf = |name: &str| refs.lines().find(|l| l.ends_with(name)).unwrap().to_owned();
    (built(h, &leaf("-leaf-a")), built(h, &leaf("-leaf-b")), built(h, &top))
}

/// Submits a report of `out` by `k` with NAR hash `nar` (the local one unless given).
fn report_output(server: &ServeProcess, k: &SecretKey, out: &Built, nar: Option<[u8; 32]>) {
    let report = Report {
        drv: out.drv.clone(),
        output: "out".to_owned(),
        path: out.path.clone(),
        nar_hash: nar.unwrap_or(out.nar),
        nar_size: None,
        builder: k.name().to_owned(),
        system: None,
        nix_version: "2.8.0".to_owned(),
        time: "2026-12-07T09:00:00Z".to_owned(),
        attestation: None,
    };
    let resp = ureq::post(&format!("{}/api/v1/reports", server.url())).send(&report.sign(k).unwrap().to_bytes()[..]);
    assert_eq!(resp.unwrap().status().as_u16(), 201);
}

fn in_store(h: &provenix_testkit::NixHarness, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_provenix")).arg("--store").arg(h.root()).args(args).output().unwrap()
}

#[test]
fn challenge_compares_a_real_closure_with_the_log_and_fails_on_a_difference() {
    let Some(h) = provenix_testkit::NixHarness::new() else { return };
    let (leaf_a, leaf_b, top) = two_leaf_outputs(&h);
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (key("builder-a", 1), key("builder-b", 2));
    let server = serve(dir.path(), &[&a, &b]);
    report_output(&server, &a, &leaf_a, None);
    report_output(&server, &b, &leaf_a, None);
    report_output(&server, &a, &leaf_b, None);
    report_output(&server, &b, &leaf_b, Some([9; 32]));

    let out = in_store(&h, &["challenge", &top.path, "--server", server.url()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(&format!("{}: matches 2 builders (builder-a, builder-b)\n", leaf_a.path)), "{text}");
    assert!(text.contains(&format!("{}: DIFFERS from 1 builder (builder-b)\n", leaf_b.path)), "{text}");
    assert!(text.contains(&format!("    {} from builder-b\n", nar(9))), "{text}");
    assert!(text.contains("    the local hash from builder-a\n"), "{text}");
    let advice = format!("    see: provenix --store {} diff-output {} THEIRS\n", h.root().display(), leaf_b.path);
    assert!(text.contains(&advice), "{text}");
    assert!(text.contains(&format!("{}: not in log\n", top.path)), "{text}");
    assert!(text.contains("3 outputs: 1 match the log, 1 differ, 1 not in log\n"), "{text}");

    let out = in_store(&h, &["--json", "challenge", &top.path, "--server", server.url()]);
    assert_eq!(out.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        j["summary"],
        serde_json::json!({"outputs": 3, "matches": 1, "differs": 1, "notInLog": 1, "unrealised": 0})
    );
    let b_out = j["outputs"].as_array().unwrap().iter().find(|o| o["path"] == leaf_b.path.as_str()).unwrap();
    assert_eq!(b_out["status"], "differs");
    assert_eq!(b_out["drv"], leaf_b.drv.as_str());
    let local = provenix_formats::hash::Hash::from_digest(provenix_formats::hash::HashAlgo::Sha256, &leaf_b.nar);
    assert_eq!(b_out["localHash"], local.unwrap().to_prefixed_nixbase32());
    assert_eq!(b_out["differing"][0]["narHash"], nar(9));

    // The closure of leaf-a alone agrees with the log: exit 0. Its `.drv` is a root too.
    let out = in_store(&h, &["challenge", &leaf_a.drv, "--server", server.url()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.ends_with("1 output: 1 match the log, 0 differ, 0 not in log\n"), "{text}");
}

#[test]
fn verify_log_requires_n_trusted_builders_by_key_and_finds_not_reproduced_and_disputed() {
    let Some(h) = provenix_testkit::NixHarness::new() else { return };
    let (leaf_a, leaf_b, top) = two_leaf_outputs(&h);
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (key("builder-a", 1), key("builder-b", 2), key("builder-c", 3));
    let server = serve(dir.path(), &[&a, &b, &c]);
    let (pub_a, pub_b) = (a.to_public().to_string(), b.to_public().to_string());
    let verify = |url: &str| {
        let out = in_store(
            &h,
            &[
                "--json",
                "verify",
                &top.path,
                "--log",
                url,
                "--require-builders",
                "2",
                "--trust-builder",
                &pub_a,
                "--trust-builder",
                &pub_b,
            ],
        );
        let j: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
        let log_findings: Vec<serde_json::Value> = j["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == "not-reproduced" || f["kind"] == "disputed")
            .cloned()
            .collect();
        (out.status.code(), j, log_findings)
    };
    // Both trusted builders for leaf-a and top; for leaf-b one of them and an untrusted one.
    for o in [&leaf_a, &top] {
        report_output(&server, &a, o, None);
        report_output(&server, &b, o, None);
    }
    report_output(&server, &a, &leaf_b, None);
    report_output(&server, &c, &leaf_b, None);
    let (code, j, found) = verify(server.url());
    assert_eq!(code, Some(1), "{j}");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["kind"], "not-reproduced");
    assert_eq!(found[0]["severity"], "error");
    assert_eq!(found[0]["path"], leaf_b.path.as_str());
    assert_eq!(found[0]["detail"], "reproduced by 1 of the 2 trusted builders required: builder-a");
    assert_eq!(j["checked"]["log"]["outputs"], 3);
    assert_eq!(j["checked"]["log"]["reproduced"], 2);
    assert_eq!(j["checked"]["log"]["untrustedReports"], 1);

    // The second trusted builder reproduces leaf-b: everything passes.
    report_output(&server, &b, &leaf_b, None);
    let (code, j, found) = verify(server.url());
    assert_eq!(code, Some(0), "{j}");
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(j["checked"]["log"]["reproduced"], 3);
    assert_eq!(j["checked"]["log"]["trustedReports"], 6);

    // A trusted builder reports another hash for top: disputed.
    report_output(&server, &b, &top, Some([9; 32]));
    let (code, _, found) = verify(server.url());
    assert_eq!(code, Some(1));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["kind"], "disputed");
    assert_eq!(found[0]["path"], top.path.as_str());
    assert_eq!(found[0]["actual"], nar(9));
    let detail = found[0]["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("builder-b ({})", nar(9))), "{detail}");
    assert!(detail.ends_with("agreeing: builder-a, builder-b"), "{detail}");

    // Human output: the finding and the log line.
    let out = in_store(
        &h,
        &[
            "verify",
            &top.path,
            "--log",
            server.url(),
            "--require-builders",
            "2",
            "--trust-builder",
            &pub_a,
            "--trust-builder",
            &pub_b,
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("error   disputed"), "{text}");
    assert!(
        text.contains(&format!(
            "compared 3 realised outputs with the log at {}: 2 reproduced by at least 2 trusted builders",
            server.url()
        )),
        "{text}"
    );

    // A log whose `builder-b` is another key: its reports are not builder-b's.
    let dir2 = tempfile::tempdir().unwrap();
    let impostor = key("builder-b", 5);
    let server2 = serve(dir2.path(), &[&a, &impostor]);
    for o in [&leaf_a, &leaf_b, &top] {
        report_output(&server2, &a, o, None);
        report_output(&server2, &impostor, o, None);
    }
    let (code, j, found) = verify(server2.url());
    assert_eq!(code, Some(1), "{j}");
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found.iter().all(|f| f["detail"] == "reproduced by 1 of the 2 trusted builders required: builder-a"));
    assert_eq!(j["checked"]["log"]["untrustedReports"], 3);
}

#[test]
fn verify_log_refuses_impossible_requirements_with_exit_2() {
    let pub_a = key("builder-a", 1).to_public().to_string();
    let secret = key("builder-b", 2).to_string();
    let d = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x.drv";
    for (args, says) in [
        (
            vec!["verify", d, "--log", "http://127.0.0.1:1", "--require-builders", "2", "--trust-builder", &pub_a],
            "--require-builders 2 cannot be met by 1 --trust-builder keys",
        ),
        (vec!["verify", d, "--log", "http://127.0.0.1:1"], "--log needs at least one --trust-builder key"),
        (vec!["verify", d, "--trust-builder", &pub_a], "--log <URL>"),
        (
            vec!["verify", d, "--log", "http://127.0.0.1:1", "--trust-builder", &secret],
            "this is a secret key; pass its public key",
        ),
        (vec!["verify", d, "--log", "ftp://x", "--trust-builder", &pub_a], "expected an http:// or https:// URL"),
    ] {
        let out = provenix(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
