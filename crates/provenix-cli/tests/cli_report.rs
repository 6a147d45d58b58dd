//! `provenix report` end to end: two builders with Nix-format keys build
//! the same derivations with real Nix in throwaway stores, with
//! `provenix report --post-build-hook` set through `--option
//! post-build-hook`, against a real `provenix serve` on 127.0.0.1. A
//! reproducible derivation ends `reproduced`; one that writes random bytes
//! ends `disputed`, and the second builder's build log names both hashes. The
//! hook spools when the log is down and flushes when it is back, and every bad
//! input is refused with a clear error and the documented exit code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use provenix_formats::hash::Hash;
use provenix_testkit::{NixHarness, ServeProcess, current_system};
use serde_json::Value;

/// Starts `provenix serve` with the log key `log.sec` and the public keys in `builders`.
fn serve(dir: &Path, builders: &[&Path]) -> ServeProcess {
    let list: Vec<String> = builders.iter().map(|p| std::fs::read_to_string(p).unwrap().trim().to_owned()).collect();
    std::fs::write(dir.join("builders"), list.join("\n")).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_provenix"));
    command
        .arg("--db")
        .arg(format!("sqlite:{}", dir.join("log.sqlite").display()))
        .args(["serve", "--listen", "127.0.0.1:0", "--batch-interval-ms", "5", "--log-key"])
        .arg(dir.join("log.sec"))
        .arg("--builders")
        .arg(dir.join("builders"));
    ServeProcess::start(command)
}

/// A URL where nothing listens.
fn dead_url() -> String {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    url
}

fn provenix(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_provenix")).args(args).env_remove("PROVENIX_REPORT_SERVER").output().unwrap()
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// One builder: a throwaway store, a Nix key, and a hook wrapper script as an
/// operator would write it (Nix runs the hook with no arguments).
struct Builder {
    nix: NixHarness,
    sec: PathBuf,
    public: PathBuf,
    hook: PathBuf,
    spool: PathBuf,
}

impl Builder {
    fn new(name: &str) -> Option<Builder> {
        let nix = NixHarness::new()?;
        let (sec, public) = nix.generate_key(name);
        let hook = nix.scratch().join("provenix-hook");
        let spool = nix.scratch().join("spool");
        Some(Builder { nix, sec, public, hook, spool })
    }

    /// Points the hook at `url`: `env` sets the server and key through the
    /// environment, otherwise they are arguments. The store comes from Nix's
    /// `NIX_CONFIG`, so the wrapper does not name it.
    fn set_hook(&self, url: &str, log_pub: &Path, env: bool) {
        let bin = env!("CARGO_BIN_EXE_provenix");
        let (sec, spool, log) = (self.sec.display(), self.spool.display(), log_pub.display());
        let script = if env {
            format!(
                "#!/bin/sh\nexport PROVENIX_REPORT_SERVER={url} PROVENIX_REPORT_KEY={sec} \
                 PROVENIX_REPORT_SPOOL={spool} PROVENIX_REPORT_LOG_KEY={log}\nexec {bin} report --post-build-hook\n"
            )
        } else {
            format!(
                "#!/bin/sh\nexec {bin} report --post-build-hook --server {url} --key {sec} --spool {spool} \
                 --trust-log-key {log}\n"
            )
        };
        std::fs::write(&self.hook, script).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&self.hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// `nix-build` of `expr` with the hook; returns the output path and Nix's stderr (the build log).
    fn build(&self, name: &str, expr: &str) -> (String, String) {
        let file = self.nix.scratch().join(format!("{name}.nix"));
        std::fs::write(&file, expr).unwrap();
        let out = self
            .nix
            .command("nix-build")
            .arg("--option")
            .arg("post-build-hook")
            .arg(&self.hook)
            .arg("--no-out-link")
            .arg(&file)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "nix-build {name} failed:\n{stderr}");
        (stdout.trim().to_owned(), stderr)
    }

    /// `nix-store --query --hash` of a path, as SRI.
    fn nar_sri(&self, path: &str) -> String {
        let h = self.nix.run_text("nix-store", ["--query", "--hash", path]);
        Hash::parse(&h, None).unwrap().to_sri()
    }

    fn spooled(&self) -> usize {
        std::fs::read_dir(&self.spool)
            .map(|d| d.filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".entry")).count())
            .unwrap_or(0)
    }
}

/// A derivation; `random` makes its output differ on every build.
fn expr(name: &str, random: bool) -> String {
    let script = if random { "head -c 32 /dev/urandom > $out" } else { "echo same bytes > $out" };
    format!(
        r#"derivation {{ name = "{name}"; system = "{}"; builder = "/bin/sh"; args = ["-c" "{script}"]; }}"#,
        current_system()
    )
}

/// The log's key pair in `dir` (`log.sec`, `log.pub`), written by `provenix key generate`.
fn log_key(dir: &Path) -> PathBuf {
    let (sec, public) = (dir.join("log.sec"), dir.join("log.pub"));
    let out = Command::new(env!("CARGO_BIN_EXE_provenix"))
        .args(["key", "generate", "log.test", "--secret-out"])
        .arg(&sec)
        .arg("--public-out")
        .arg(&public)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    public
}

fn log_show(server: &ServeProcess, path: &str) -> Value {
    let out = provenix(&["--json", "log", "show", path, "--server", server.url()]);
    assert!(out.status.success(), "{}", text(&out).1);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_hook_reports_every_build_and_two_builders_reproduce_or_dispute() {
    let (Some(a), Some(b)) = (Builder::new("builder-a"), Builder::new("builder-b")) else { return };
    let dir = tempfile::tempdir().unwrap();
    let log_pub = log_key(dir.path());
    let server = serve(dir.path(), &[&a.public, &b.public]);
    a.set_hook(server.url(), &log_pub, true);
    b.set_hook(server.url(), &log_pub, false);

    // Reproducible: both builders get the same bytes.
    let (out_a, log_a) = a.build("same", &expr("same", false));
    assert!(log_a.contains("running post-build-hook"), "{log_a}");
    assert!(
        log_a.contains(&format!(
            "provenix report: {out_a} (out): logged as #0 of 1, receipt verified, checkpoint signed by the log key"
        )),
        "{log_a}"
    );
    assert!(log_a.contains("no other builder has reported this output yet"), "{log_a}");
    let (out_b, log_b) = b.build("same", &expr("same", false));
    assert_eq!(out_a, out_b);
    assert!(log_b.contains("provenix report:   matches 1 builder: builder-a"), "{log_b}");
    let shown = log_show(&server, &out_a);
    assert_eq!(shown["verdict"], "reproduced", "{shown}");
    assert_eq!(shown["outputs"][0]["hashes"][0]["builders"], serde_json::json!(["builder-a", "builder-b"]));

    // Not reproducible: random bytes.
    let (nr_a, _) = a.build("random", &expr("random", true));
    let (nr_b, log_b) = b.build("random", &expr("random", true));
    assert_eq!(nr_a, nr_b);
    let (hash_a, hash_b) = (a.nar_sri(&nr_a), b.nar_sri(&nr_b));
    assert_ne!(hash_a, hash_b);
    assert!(
        log_b.contains(&format!("DIFFERS from 1 builder: {hash_b} (this build) vs {hash_a} (builder-a)")),
        "{log_b}"
    );
    let command = format!("provenix --store {} diff-output {nr_b} builder-a.nar", b.nix.root().display());
    assert!(log_b.contains(&command), "{log_b}");
    let shown = log_show(&server, &nr_b);
    assert_eq!(shown["verdict"], "disputed", "{shown}");
    assert_eq!(shown["outputs"][0]["hashes"].as_array().unwrap().len(), 2);

    // The suggested command works once builder-a's NAR is at hand.
    let nar = b.nix.scratch().join("builder-a.nar");
    let dump = provenix(&["--store", a.nix.root().to_str().unwrap(), "nar", "dump", &nr_a]);
    assert!(dump.status.success(), "{}", text(&dump).1);
    std::fs::write(&nar, dump.stdout).unwrap();
    let diff = Command::new(env!("CARGO_BIN_EXE_provenix"))
        .args(["--store", b.nix.root().to_str().unwrap(), "diff-output", "--no-diffoscope", &nr_b])
        .arg(&nar)
        .output()
        .unwrap();
    assert_eq!(diff.status.code(), Some(1), "{}", text(&diff).1);

    // By hand, as JSON: builder-b's report of the reproducible output again.
    let out = provenix(&[
        "--store",
        b.nix.root().to_str().unwrap(),
        "--json",
        "report",
        "--server",
        server.url(),
        "--key",
        b.sec.to_str().unwrap(),
        "--trust-log-key",
        log_pub.to_str().unwrap(),
        "--path",
        &out_b,
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let j: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(j["schemaVersion"], 1);
    assert_eq!(j["logKey"], "log.test");
    assert_eq!(j["warnings"], serde_json::json!([]));
    let r = &j["reports"][0];
    assert_eq!((r["status"].as_str(), r["receipt"].as_str()), (Some("logged"), Some("verified")), "{r}");
    assert_eq!(r["checkpointAuthenticated"], true);
    assert_eq!(r["drv"], a.nix.run_text("nix-store", ["--query", "--deriver", &out_a]));
    assert_eq!(r["comparison"]["agreement"], "matches");
    assert_eq!(r["comparison"]["matching"], serde_json::json!(["builder-a"]));
    assert_eq!(r["comparison"]["differing"], serde_json::json!([]));
    assert_eq!(r["narHash"], b.nix.run_text("nix-store", ["--query", "--hash", &out_b]));
}

#[test]
fn the_hook_spools_while_the_log_is_down_and_flushes_when_it_is_back() {
    let Some(a) = Builder::new("builder-a") else { return };
    let dir = tempfile::tempdir().unwrap();
    let log_pub = log_key(dir.path());
    a.set_hook(&dead_url(), &log_pub, true);
    let (first, log) = a.build("first", &expr("first", false));
    assert!(log.contains(&format!("provenix report: {first} (out): log unreachable, report spooled to")), "{log}");
    assert!(log.contains("warning: log unreachable"), "{log}");
    assert_eq!(a.spooled(), 1);

    // The log is back: the next build's hook reports its own output and flushes the spool.
    let server = serve(dir.path(), &[&a.public]);
    a.set_hook(server.url(), &log_pub, true);
    let (second, log) = a.build("second", &expr("second", false));
    assert!(log.contains(&format!("provenix report: {second} (out): logged as #0")), "{log}");
    assert!(log.contains(&format!("provenix report: {first} (out): logged as #1")), "{log}");
    assert_eq!(a.spooled(), 0);
    assert_eq!(log_show(&server, &first)["verdict"], "single");

    // Down again, then `report --flush` by hand.
    a.set_hook(&dead_url(), &log_pub, false);
    let (third, _) = a.build("third", &expr("third", false));
    assert_eq!(a.spooled(), 1);
    // Flushing into a dead log keeps the entry.
    let out = provenix(&["report", "--flush", "--server", &dead_url(), "--spool", a.spool.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(a.spooled(), 1);
    let out =
        provenix(&["--json", "report", "--flush", "--server", server.url(), "--spool", a.spool.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let j: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(j["reports"][0]["source"], "spool");
    assert_eq!(j["reports"][0]["path"], third);
    assert_eq!(j["reports"][0]["checkpointAuthenticated"], false, "no --trust-log-key given");
    assert_eq!(j["spoolLeft"], 0);
    assert_eq!(a.spooled(), 0);
    assert_eq!(log_show(&server, &third)["verdict"], "single");

    // A file that is not a report is set aside in rejected/, before anything is sent.
    std::fs::write(a.spool.join("00000000000000000001-x.entry"), b"not a report\n").unwrap();
    let out = provenix(&["report", "--flush", "--server", &dead_url(), "--spool", a.spool.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert!(text(&out).1.contains("not a report"), "{}", text(&out).1);
    assert!(a.spool.join("rejected/00000000000000000001-x.entry").exists());
}

#[test]
fn an_attestation_is_reported_per_subject_and_compared() {
    let Some(a) = Builder::new("builder-a") else { return };
    let dir = tempfile::tempdir().unwrap();
    let log_pub = log_key(dir.path());
    let server = serve(dir.path(), &[&a.public]);
    let out_path = a.nix.build(&expr("attested", false)).remove(0);
    let drv = a.nix.run_text("nix-store", ["--query", "--deriver", &out_path]);
    let nar = Hash::parse(&a.nix.run_text("nix-store", ["--query", "--hash", &out_path]), None).unwrap();
    let envelope = dir.path().join("rebuild.dsse.json");
    let key = provenix_formats::signature::SecretKey::parse(std::fs::read_to_string(&a.sec).unwrap().trim()).unwrap();
    std::fs::write(&envelope, attestation(&key, &out_path, &drv, &nar.to_base16())).unwrap();
    let out = provenix(&[
        "report",
        envelope.to_str().unwrap(),
        "--server",
        server.url(),
        "--key",
        a.public.to_str().unwrap(),
        "--trust-log-key",
        log_pub.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.starts_with(&format!(
            "{out_path} (out): logged as #0 of 1, receipt verified, checkpoint signed by the log key\n"
        )),
        "{stdout}"
    );
    // The same output reported from the store by the same builder: one builder, so `single`.
    let out = provenix(&[
        "--store",
        a.nix.root().to_str().unwrap(),
        "report",
        "--server",
        server.url(),
        "--key",
        a.sec.to_str().unwrap(),
        "--path",
        &out_path,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert!(text(&out).0.contains("no other builder has reported this output yet"), "{}", text(&out).0);
    assert_eq!(log_show(&server, &out_path)["outputs"][0]["reports"].as_array().unwrap().len(), 2);
}

/// A rebuild attestation as `provenix rebuild --attest-key` shapes it, for one output.
fn attestation(key: &provenix_formats::signature::SecretKey, path: &str, drv: &str, hex: &str) -> Vec<u8> {
    use provenix_core::attest::{
        BuildDefinition, BuildMetadata, Builder, Provenance, ResourceDescriptor, RunDetails, Statement,
    };
    let digest = || [("sha256".to_owned(), hex.to_owned())].into_iter().collect();
    let subject = vec![ResourceDescriptor { name: Some(path.to_owned()), digest: digest(), ..Default::default() }];
    let provenance = Provenance {
        build_definition: BuildDefinition {
            build_type: provenix_core::rebuild::BUILD_TYPE.to_owned(),
            external_parameters: serde_json::json!({}),
            internal_parameters: None,
            resolved_dependencies: vec![],
        },
        run_details: RunDetails {
            builder: Builder {
                id: "test".to_owned(),
                version: [("nix".to_owned(), "2.8.0".to_owned())].into_iter().collect(),
                builder_dependencies: vec![],
            },
            metadata: Some(BuildMetadata {
                finished_on: Some("2026-12-07T09:00:00Z".to_owned()),
                ..Default::default()
            }),
            byproducts: vec![ResourceDescriptor {
                name: Some(path.to_owned()),
                digest: digest(),
                annotations: serde_json::json!({"drv": drv, "output": "out"}).as_object().cloned(),
                ..Default::default()
            }],
        },
    };
    provenix_core::attest::sign(&Statement::provenance(subject, &provenance), &[key]).to_json()
}

#[test]
fn bad_keys_urls_and_paths_are_refused_with_exit_2_and_a_bad_receipt_with_exit_1() {
    let Some(a) = Builder::new("builder-a") else { return };
    let dir = tempfile::tempdir().unwrap();
    log_key(dir.path()); // the server's key, `log.sec`
    let stranger = a.nix.generate_key("stranger");
    let server = serve(dir.path(), &[&a.public]);
    let out_path = a.nix.build(&expr("bad-input", false)).remove(0);
    let root = a.nix.root().to_str().unwrap().to_owned();
    let dead = dead_url();
    let (sec, public) = (a.sec.to_str().unwrap(), a.public.to_str().unwrap());
    let report = |key: &str, url: &str, path: &str| {
        vec!["--store", &root, "report", "--server", url, "--key", key, "--path", path]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<String>>()
    };
    let missing = out_path.replace("-bad-input", "-not-built");
    let sending = format!("sending to {dead}/api/v1/reports");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            report(stranger.0.to_str().unwrap(), server.url(), &out_path),
            "403 unknown-builder: builder key `stranger` is not registered",
        ),
        (report(public, server.url(), &out_path), "this is a public key; pass the secret key"),
        (report(sec, &dead, &out_path), &sending),
        (report(sec, "ftp://x", &out_path), "expected an http:// or https:// URL"),
        (report(sec, server.url(), &missing), "does not exist (not built, or another --store?)"),
        (report(sec, server.url(), "/tmp/x"), "--path /tmp/x"),
        (
            vec!["report".into(), "--key".into(), sec.into(), "--path".into(), out_path.clone()],
            "no log server: give --server URL",
        ),
    ];
    for (args, says) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = provenix(&args);
        let err = text(&out).1;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: expected {says:?} in {err}");
    }
    // Nothing was logged by the refused submissions.
    assert_eq!(log_show(&server, &out_path)["verdict"], "unknown");

    // A checkpoint not signed by the trusted log key: the receipt fails, exit 1.
    let mut args = report(sec, server.url(), &out_path);
    args.extend(["--trust-log-key".to_owned(), stranger.1.to_str().unwrap().to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = provenix(&args);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stdout.contains("RECEIPT FAILED"), "{stdout}");
    assert!(stderr.contains("a receipt from the log does not verify"), "{stderr}");

    // The hook never fails a build: a refused key, a bad config, no DRV_PATH all exit 0 with a warning.
    for (env, says) in [
        (vec![("PROVENIX_REPORT_KEY", stranger.0.to_str().unwrap())], "REFUSED"),
        (vec![("PROVENIX_REPORT_KEY", public)], "warning: --key"),
        (vec![("PROVENIX_REPORT_KEY", sec), ("DRV_PATH", "")], "warning: DRV_PATH is not set"),
    ] {
        let drv = a.nix.run_text("nix-store", ["--query", "--deriver", &out_path]);
        let out = Command::new(env!("CARGO_BIN_EXE_provenix"))
            .args(["--store", &root, "report", "--post-build-hook", "--spool"])
            .arg(a.spool.as_os_str())
            .env("PROVENIX_REPORT_SERVER", server.url())
            .env("DRV_PATH", &drv)
            .env("OUT_PATHS", &out_path)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let err = text(&out).1;
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(err.contains(says), "expected {says:?} in {err}");
    }
    assert_eq!(a.spooled(), 0, "refusals are not spooled");

    // A server that accepts connections and never answers: the hook gives up at --timeout and spools.
    let stalled = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stalled_url = format!("http://{}", stalled.local_addr().unwrap());
    let drv = a.nix.run_text("nix-store", ["--query", "--deriver", &out_path]);
    let out = Command::new(env!("CARGO_BIN_EXE_provenix"))
        .args(["--store", &root, "report", "--post-build-hook", "--timeout", "1", "--spool"])
        .arg(a.spool.as_os_str())
        .env("PROVENIX_REPORT_SERVER", &stalled_url)
        .env("PROVENIX_REPORT_KEY", sec)
        .env("DRV_PATH", &drv)
        .env("OUT_PATHS", "")
        .output()
        .unwrap();
    let err = text(&out).1;
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&format!("{out_path} (out): log unreachable, report spooled")), "{err}");
    assert_eq!(a.spooled(), 1);
    drop(stalled);
}
