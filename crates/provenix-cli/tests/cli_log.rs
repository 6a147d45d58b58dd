//! `provenix log show` against a real `provenix serve` on 127.0.0.1, with
//! signed reports submitted over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use provenix_formats::log::report::Report;
use provenix_formats::signature::SecretKey;

fn key(name: &str, byte: u8) -> SecretKey {
    SecretKey::from_seed(name, [byte; 32]).unwrap()
}

/// A running `provenix serve`, stopped (by its PID) when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, builders: &[&SecretKey]) -> Server {
    let list: Vec<String> = builders.iter().map(|k| k.to_public().to_string()).collect();
    std::fs::write(dir.join("builders"), list.join("\n")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_provenix"))
        .arg("--db")
        .arg(format!("sqlite:{}", dir.join("log.sqlite").display()))
        .args(["serve", "--listen", "127.0.0.1:0", "--batch-interval-ms", "5", "--log-key"])
        .arg(key("log.test", 7).to_string())
        .arg("--builders")
        .arg(dir.join("builders"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    Server { child, url }
}

fn path(n: u32, name: &str) -> String {
    format!("/nix/store/{}-{name}", format!("{n:0>32}").replace(['0', 'e', 'o', 't', 'u'], "a"))
}

fn submit(server: &Server, k: &SecretKey, n: u32, nar: u8) {
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
    let resp = ureq::post(&format!("{}/api/v1/reports", server.url)).send(&body[..]).unwrap();
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
    let out = provenix(&["log", "show", &path(1, "pkg-1.drv"), "--server", &server.url]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with(&format!("{}: reproduced\n", path(1, "pkg-1.drv"))), "{text}");
    assert!(text.contains(&format!("  out {}: reproduced\n", path(101, "pkg-1"))), "{text}");
    assert!(text.contains(&format!("    {} from builder-a, builder-b\n", nar(1))), "{text}");

    let out = provenix(&["--json", "log", "show", &path(102, "pkg-2"), "--server", &server.url]);
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["verdict"], "disputed");
    assert_eq!(j["outputs"][0]["drv"], path(2, "pkg-2.drv"));
    assert_eq!(j["outputs"][0]["hashes"].as_array().unwrap().len(), 2);
    assert_eq!(j["outputs"][0]["reports"][1]["builder"], "builder-c");
    assert_eq!(j["outputs"][0]["reports"][1]["narHash"], nar(9));

    let out = provenix(&["log", "show", &path(3, "pkg-3"), "--server", &server.url]);
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
