//! Dev-only helpers for provenix tests: a harness that runs real Nix (Nix 2.8,
//! Debian's `nix-bin`) against throwaway stores, never the host store.
//!
//! Every store is `local?root=<tempdir>`: its files live under
//! `<tempdir>/nix/store` while paths and hashes use the logical `/nix/store`.
//! Builds run in Nix's sandbox with `/bin/sh` bound to busybox, no
//! substituters, and no network.
//!
//! When Nix is missing, [`NixHarness::new`] returns `None` after printing a
//! loud skip message, unless `PROVENIX_REQUIRE_NIX=1` (set by `.ci/run`), in
//! which case it panics so the test fails.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]
#![allow(missing_docs)]

pub mod git_http;
pub mod http;
pub mod postgres;
pub mod serve;
pub use git_http::GitHttpServer;
pub use http::HttpServer;
pub use serve::ServeProcess;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Options every Nix command gets: sandbox on with busybox as `/bin/sh`,
/// no substituters, nothing from the host's configuration.
pub const NIX_OPTIONS: &[&str] = &[
    "--option",
    "sandbox",
    "true",
    "--option",
    "sandbox-paths",
    "/bin/sh=/bin/busybox",
    "--option",
    "substituters",
    "",
    "--option",
    "build-users-group",
    "",
];

/// A throwaway Nix store under a temporary directory.
pub struct NixHarness {
    dir: tempfile::TempDir,
}

/// True if `PROVENIX_REQUIRE_NIX=1`.
pub fn nix_required() -> bool {
    std::env::var("PROVENIX_REQUIRE_NIX").is_ok_and(|v| v == "1")
}

/// True if the Nix CLI is on `PATH`.
pub fn nix_available() -> bool {
    Command::new("nix-store")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The Python of the validator venv that `scripts/install-deps.sh` makes (`/opt/provenix/venv`,
/// or `PROVENIX_SBOM_VENV`), with the official schemas and the independent SBOM and SARIF
/// validators, or `None` (with a loud message naming `what` is skipped) when it is missing;
/// with `PROVENIX_REQUIRE_NIX=1` (CI) a missing venv fails the test instead.
pub fn validator_python(what: &str) -> Option<PathBuf> {
    let venv =
        std::env::var_os("PROVENIX_SBOM_VENV").map_or_else(|| PathBuf::from("/opt/provenix/venv"), PathBuf::from);
    let python = venv.join("bin/python");
    if python.exists() {
        return Some(python);
    }
    if nix_required() {
        panic!(
            "PROVENIX_REQUIRE_NIX=1 but the validator venv {} is missing: run scripts/install-deps.sh",
            venv.display()
        );
    }
    eprintln!("\n*** SKIPPING {what}: no venv at {} (run scripts/install-deps.sh) ***\n", venv.display());
    None
}

impl NixHarness {
    /// A fresh store, or `None` (with a loud message) when Nix is missing.
    pub fn new() -> Option<NixHarness> {
        if !nix_available() {
            if nix_required() {
                panic!("PROVENIX_REQUIRE_NIX=1 but `nix-store` is not on PATH");
            }
            eprintln!(
                "\n*** SKIPPING Nix conformance test: Nix is not installed (run .ci/run to install nix-bin) ***\n"
            );
            return None;
        }
        let dir = tempfile::Builder::new().prefix("provenix-nix-").tempdir().expect("tempdir");
        Some(NixHarness { dir })
    }

    /// The store root (`ROOT`, files under `ROOT/nix/store`).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Physical directory of the logical `/nix/store`.
    pub fn store_dir(&self) -> PathBuf {
        self.root().join("nix/store")
    }

    /// A scratch directory inside the harness (for expressions, trees).
    pub fn scratch(&self) -> PathBuf {
        let p = self.root().join("scratch");
        std::fs::create_dir_all(&p).expect("scratch dir");
        p
    }

    /// Physical location of a logical store path (`/nix/store/...`).
    pub fn physical(&self, logical: &str) -> PathBuf {
        self.root().join(logical.trim_start_matches('/'))
    }

    /// A command for Nix tool `tool` bound to this store.
    pub fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(tool);
        cmd.arg("--store").arg(self.root());
        cmd.args(NIX_OPTIONS);
        cmd.env("NIX_CONF_DIR", self.root().join("etc"));
        cmd.env("XDG_CACHE_HOME", self.root().join("cache"));
        cmd.env("HOME", self.root().join("home"));
        cmd.env_remove("NIX_PATH");
        cmd
    }

    /// Runs `tool args...` in this store; panics with stderr if it fails.
    pub fn run<I, S>(&self, tool: &str, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command(tool);
        cmd.args(args);
        let out = cmd.output().unwrap_or_else(|e| panic!("running {tool}: {e}"));
        if !out.status.success() {
            panic!("{tool} failed ({:?}):\n{}", cmd, String::from_utf8_lossy(&out.stderr));
        }
        out
    }

    /// Like [`NixHarness::run`], returning trimmed stdout as a string.
    pub fn run_text<I, S>(&self, tool: &str, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        String::from_utf8(self.run(tool, args).stdout).expect("utf-8 output").trim().to_owned()
    }

    /// Writes `expr` to a file and instantiates it; returns the `.drv` paths
    /// (logical), one per top-level value, in order.
    pub fn instantiate(&self, expr: &str) -> Vec<String> {
        let file = self.scratch().join(format!("expr-{}.nix", unique()));
        std::fs::write(&file, expr).expect("write expr");
        let out = self.run_text("nix-instantiate", [file.as_os_str()]);
        out.lines().map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()).collect()
    }

    /// Builds `expr` (sandboxed); returns output paths (logical).
    pub fn build(&self, expr: &str) -> Vec<String> {
        let file = self.scratch().join(format!("build-{}.nix", unique()));
        std::fs::write(&file, expr).expect("write expr");
        let out = self.run_text("nix-build", [OsStr::new("--no-out-link"), file.as_os_str()]);
        out.lines().map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()).collect()
    }

    /// `nix-store --add PATH`: returns the logical store path.
    pub fn add(&self, path: &Path) -> String {
        self.run_text("nix-store", [OsStr::new("--add"), path.as_os_str()])
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A directory under the workspace's `target/` for fixtures Nix generates,
/// so they are made by tests and never committed.
pub fn fixture_cache(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("provenix-fixtures").join(name);
    std::fs::create_dir_all(&dir).expect("fixture dir");
    dir
}

/// The busybox binary the sandbox binds as `/bin/sh`.
pub const BUSYBOX: &str = "/bin/busybox";

/// `system` of derivations built here.
pub fn current_system() -> &'static str {
    if cfg!(target_arch = "aarch64") { "aarch64-linux" } else { "x86_64-linux" }
}

impl NixHarness {
    /// Runs `nix --extra-experimental-features nix-command ARGS...` in this
    /// store; panics with stderr if it fails.
    pub fn nix<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self.try_nix(args);
        if !out.status.success() {
            panic!("nix failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr));
        }
        out
    }

    /// Like [`NixHarness::nix`], but returns the output whatever the exit
    /// status, for tests that expect Nix to refuse something.
    pub fn try_nix<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command("nix");
        cmd.args(["--extra-experimental-features", "nix-command"]);
        cmd.args(args);
        cmd.output().unwrap_or_else(|e| panic!("running nix: {e}"))
    }
}

/// Copies the directory tree `from` to `to` (directories and regular files),
/// e.g. a `file://` binary cache before a test tampers with it.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy target");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy file");
        }
    }
}

impl NixHarness {
    /// Builds two leaves and a top that refers to both (input-addressed
    /// paths with a deriver); returns the top's output path.
    pub fn build_two_leaf_closure(&self) -> String {
        let expr = format!(
            r#"let mk = name: script: derivation {{ inherit name; system = "{}"; builder = "/bin/sh"; args = ["-c" script]; }};
                   a = mk "leaf-a" "echo a > $out";
                   b = mk "leaf-b" "echo b > $out";
               in mk "top" "echo ${{a}} ${{b}} > $out""#,
            current_system()
        );
        let out = self.build(&expr);
        assert_eq!(out.len(), 1, "one output expected: {out:?}");
        out.into_iter().next().expect("one output")
    }

    /// `nix-store --generate-binary-cache-key NAME`: the secret and public key files.
    pub fn generate_key(&self, name: &str) -> (PathBuf, PathBuf) {
        let dir = self.scratch();
        let (sec, public) = (dir.join(format!("{name}.sec")), dir.join(format!("{name}.pub")));
        self.run(
            "nix-store",
            ["--generate-binary-cache-key".as_ref(), name.as_ref(), sec.as_os_str(), public.as_os_str()],
        );
        (sec, public)
    }
}

/// The `.narinfo` files of a `file://` binary cache directory, sorted.
pub fn narinfo_files(cache: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(cache)
        .expect("read cache dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "narinfo"))
        .collect();
    files.sort();
    files
}

/// `nix copy --from file://CACHE PATH` into a fresh throwaway store with
/// `require-sigs` and only `trusted` as trusted key. Returns the fresh store
/// if Nix accepted the copy, else Nix's stderr.
pub fn copy_into_fresh_store(cache: &Path, trusted: &str, path: &str) -> Result<NixHarness, String> {
    let fresh = NixHarness::new().expect("Nix is installed (checked by the caller's harness)");
    let from = format!("file://{}", cache.display());
    let out = fresh.try_nix([
        "copy",
        "--option",
        "require-sigs",
        "true",
        "--option",
        "trusted-public-keys",
        trusted,
        "--from",
        &from,
        path,
    ]);
    if out.status.success() { Ok(fresh) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

/// An error and its sources joined with `: `, as binaries print them with `{:#}`.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
