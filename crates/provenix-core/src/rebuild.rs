//! `provenix rebuild`: rebuild a bundle's roots from its sources alone, in a
//! fresh store with the network cut off, and compare with the reference.
//!
//! # Steps
//!
//! 1. **Authenticate.** The manifest's signatures are checked against the
//!    trusted keys; with trusted keys given, a bundle none of them signed is
//!    refused. With none given the signature is reported `unchecked`.
//! 2. **Check every byte before import** ([`check_stream`]). The export
//!    stream is read once; each path must be the manifest's next path with
//!    the same references, deriver, NAR size and sha256. The bundle is also
//!    checked to be self-certifying, so even an unsigned bundle cannot
//!    smuggle in content its `.drv` files do not pin:
//!    - each `.drv` path is recomputed from its bytes and references, the
//!      `.drv` is parsed, and its output paths are recomputed through the
//!      closure (hash modulo), as `provenix verify` does;
//!    - each FOD output's content must match the hash its `.drv` declares
//!      (flat: the file's bytes; recursive: the NAR), the manifest's
//!      `sources` must agree with the `.drv` files, and every FOD output of
//!      the closure must be in the bundle;
//!    - each input source must be content-addressed by its bytes (a `source`
//!      path from its NAR, or a `text` path from its bytes), or it is
//!      counted as not self-certified (e.g. `builtins.storePath` inputs);
//!    - the roots' outputs listed in the manifest must be those of the root
//!      `.drv` files;
//!    - the `.drv` files' builders outside the store (`/bin/sh`) are
//!      collected for the next step.
//! 3. **Check the machine** ([`crate::nixenv`]): Nix's effective settings
//!    with the rebuild's options, the sandbox and its namespaces, the build
//!    users (or their explicit absence), every host builder bound into the
//!    sandbox, `unshare --net`. Anything missing stops the rebuild here with
//!    every setting to change at once.
//! 4. **Import** into a fresh store root of its own (`nix-store --store
//!    local?root=WORK/store --import`), never the host store.
//! 5. **Build offline**: `nix-store --realise` of the root `.drv` files, with
//!    `--option substituters ''`, `builders ''`, `sandbox true`, inside
//!    `unshare --net` (a new network namespace whose only interface, `lo`,
//!    is down), so fixed-output and impure builds cannot fetch anything.
//!    Its stdout and stderr go to `WORK/build.log`; when it fails, the
//!    first `error:` lines of its output are kept in the report.
//! 6. **Compare** each root output's NAR sha256 (computed here, not taken
//!    from Nix's database) with the manifest's reference: `identical`,
//!    `differs`, `no-reference`, or `not-built` when the build failed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use provenix_formats::derivation::{Derivation, DerivationKind, HashModulo, drv_name};
use provenix_formats::export::{ExportError, ExportReader};
use provenix_formats::hash::{Hash, HashAlgo, Hasher};
use provenix_formats::signature::TrustedKeys;
use provenix_formats::store_path::{ContentAddressMethod, StoreDir, StorePath};
use provenix_store::nar::hash_path;
use serde::Serialize;
use thiserror::Error;

pub use crate::bundle::MAX_DRV_LEN;
use crate::bundle::{BundleError, BundleReader, PathKind};
use crate::nixenv::{self, Check, NixSettings};
use crate::verify::Progress;

/// Most lines of Nix's error output a report keeps.
pub const MAX_ERROR_LINES: usize = 20;

/// Errors from [`rebuild`].
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RebuildError {
    /// Opening or reading the bundle failed.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The manifest is not signed by a trusted key.
    #[error("{bundle}: manifest refused: {detail}")]
    Untrusted {
        /// The bundle.
        bundle: String,
        /// Why.
        detail: String,
    },
    /// The bundle's contents do not match its manifest or its `.drv` files.
    #[error("{bundle}: {path}: {detail}; nothing was imported")]
    Tampered {
        /// The bundle.
        bundle: String,
        /// The path at fault.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// The export stream is malformed.
    #[error("{bundle}: malformed export stream; nothing was imported")]
    Stream {
        /// The bundle.
        bundle: String,
        /// Why.
        #[source]
        source: ExportError,
    },
    /// The work directory cannot be used.
    #[error("work directory {}: {detail}", path.display())]
    WorkDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// This machine's Nix cannot rebuild in a sandbox (see [`crate::nixenv`]).
    #[error("this Nix cannot rebuild in a sandbox; nothing was imported:\n{0}")]
    Environment(String),
    /// A Nix command failed to start or failed.
    #[error("{0}")]
    Nix(String),
    /// An I/O error on a named file.
    #[error("{op} {}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Hashing a rebuilt output failed.
    #[error(transparent)]
    Fs(#[from] provenix_store::nar::NarFsError),
}

impl RebuildError {
    /// True when the bundle was checked and refused (exit 1), rather than
    /// unreadable or the machine unfit (exit 2).
    pub fn is_verification_failure(&self) -> bool {
        matches!(self, RebuildError::Untrusted { .. } | RebuildError::Tampered { .. })
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> RebuildError + 'a {
    move |source| RebuildError::Io { op, path: path.to_path_buf(), source }
}

/// Options for [`rebuild`].
pub struct RebuildOptions<'a> {
    /// Keys the manifest must be signed by (one of them); empty: not checked.
    pub trusted: &'a TrustedKeys,
    /// Where the fresh store (`store/`) and the log (`build.log`) go; must
    /// not exist or be empty. `None`: a new directory in the temporary
    /// directory, kept afterwards.
    pub work_dir: Option<PathBuf>,
    /// Extra `--option NAME VALUE` for Nix (e.g. `sandbox-paths`).
    pub nix_options: Vec<(String, String)>,
    /// Byte progress of the check.
    pub progress: &'a dyn Progress,
}

impl RebuildOptions<'_> {
    /// Every `--option` the import and the build get: the forced ones, then the caller's.
    pub fn all_nix_options(&self) -> Vec<(String, String)> {
        forced_options()
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .chain(self.nix_options.iter().cloned())
            .collect()
    }
}

/// How the manifest's signature was checked.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureCheck {
    /// `verified` (a trusted key signed it) or `unchecked` (no trusted key given).
    pub status: &'static str,
    /// Trusted keys whose signatures verified.
    pub signers: Vec<String>,
    /// Key names of all signatures on the manifest.
    pub signatures: Vec<String>,
}

/// What [`check_stream`] found.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamCheck {
    /// Paths checked.
    pub paths: usize,
    /// NAR bytes checked.
    pub nar_bytes: u64,
    /// `.drv` files whose path and output paths were recomputed.
    pub derivations: usize,
    /// FOD outputs whose content matched the declared hash.
    pub sources: usize,
    /// Input sources whose path is their content's address.
    pub inputs_content_addressed: usize,
    /// Input sources that are not (their path does not pin their bytes).
    pub inputs_not_content_addressed: Vec<String>,
    /// Builders outside the store (`/bin/sh`) the derivations run, sorted.
    pub host_builders: Vec<String>,
}

/// A root output's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Same NAR hash as the reference.
    Identical,
    /// Built, with a different NAR hash.
    Differs,
    /// Built, but the bundle has no reference hash to compare with.
    NoReference,
    /// Not built (the build failed).
    NotBuilt,
}

impl Verdict {
    /// The stable name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Identical => "identical",
            Verdict::Differs => "differs",
            Verdict::NoReference => "no-reference",
            Verdict::NotBuilt => "not-built",
        }
    }
}

/// One root output after the rebuild.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputResult {
    /// The root `.drv`.
    pub drv: String,
    /// Output name.
    pub output: String,
    /// Store path.
    pub path: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Reference NAR hash (SRI), from the bundle.
    pub reference: Option<String>,
    /// NAR hash (SRI) of the rebuilt output.
    pub rebuilt: Option<String>,
    /// Where the rebuilt output is on disk.
    pub rebuilt_at: Option<String>,
}

/// What [`rebuild`] did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RebuildReport {
    /// The bundle file.
    pub bundle: String,
    /// sha256 of the manifest's bytes, hex (what the signature covers).
    pub manifest_sha256: String,
    /// The signature check.
    pub signature: SignatureCheck,
    /// The pre-import check.
    pub checked: StreamCheck,
    /// The work directory.
    pub work_dir: String,
    /// The fresh store's root (paths are under `STORE/nix/store`).
    pub store: String,
    /// The build log.
    pub log: String,
    /// `nix-store --version`.
    pub nix_version: String,
    /// The build command line.
    pub build_command: Vec<String>,
    /// Whether `nix-store --realise` succeeded.
    pub build_succeeded: bool,
    /// When it failed: the first lines of its output from the first `error:` on.
    pub build_errors: Vec<String>,
    /// The machine checks run before the import (all passed or warned).
    pub environment: Vec<Check>,
    /// Nix's effective sandbox settings for the build ([`nixenv::SANDBOX_SETTINGS`]),
    /// whatever their source (nix.conf, `NIX_CONFIG`, `--nix-option`).
    pub nix_settings: BTreeMap<String, serde_json::Value>,
    /// True when the work directory was made in the temporary directory (no `--work-dir`).
    pub work_dir_temporary: bool,
    /// True when the caller removed the work directory afterwards.
    pub work_dir_removed: bool,
    /// Per root output.
    pub outputs: Vec<OutputResult>,
    /// RFC 3339 start time.
    pub started_on: String,
    /// RFC 3339 end time.
    pub finished_on: String,
    /// The signed attestation written, if any (set by the caller that writes it).
    pub attestation: Option<String>,
}

impl RebuildReport {
    /// True when every root output is identical to its reference.
    pub fn all_identical(&self) -> bool {
        !self.outputs.is_empty() && self.outputs.iter().all(|o| o.verdict == Verdict::Identical)
    }
}

/// Checks, imports and rebuilds the bundle at `path`.
pub fn rebuild(path: &Path, options: &RebuildOptions<'_>) -> Result<RebuildReport, RebuildError> {
    let started_on = rfc3339(SystemTime::now());
    let reader = BundleReader::open(path)?;
    let bundle = path.display().to_string();
    let signature = check_signature(&reader, options.trusted)?;
    let all_options = options.all_nix_options();
    let settings = NixSettings::load(&all_options).map_err(RebuildError::Environment)?;
    // The stream check tells which host builders the sandbox needs; all
    // problems are reported together, before anything is imported.
    let checked = check_stream(&reader, options.progress)?;
    let environment = nixenv::rebuild_checks(&settings, &checked.host_builders);
    if let Some(failed) = nixenv::describe_failures(&environment) {
        return Err(RebuildError::Environment(failed));
    }

    let work = prepare_work_dir(options.work_dir.as_deref())?;
    let store_root = work.join("store");
    let log_path = work.join("build.log");
    // Append mode everywhere: the children's writes and ours interleave in order.
    let mut log =
        File::options().create_new(true).append(true).open(&log_path).map_err(io_err("creating", &log_path))?;
    let store_dir = reader.store_dir().clone();
    let store_arg = if store_dir.as_str() == "/nix/store" {
        format!("local?root={}", store_root.display())
    } else {
        format!("local?root={}&store={}", store_root.display(), store_dir.as_str())
    };
    let nix_version = environment.first().map(|c| c.summary.clone()).unwrap_or_default();

    // Import: the stream was checked above; it is read again from the same open file.
    let _ = writeln!(log, "== nix-store --store {store_arg} --import");
    import(&reader, &store_arg, &options.nix_options, &log, &log_path)?;

    let manifest = reader.manifest();
    let mut build_command: Vec<String> =
        ["unshare", "--net", "--", "nix-store", "--store", &store_arg, "--realise", "--keep-going"]
            .map(str::to_owned)
            .to_vec();
    build_command.extend(manifest.roots.iter().map(|r| r.drv.clone()));
    for (name, value) in all_options {
        build_command.extend(["--option".to_owned(), name, value]);
    }
    let _ = writeln!(log, "== {}", build_command.join(" "));
    let build_starts_at = log.metadata().map(|m| m.len()).unwrap_or(0);
    let clone = || log.try_clone().map_err(io_err("opening", &log_path));
    let status = Command::new("unshare")
        .args(build_command.iter().skip(1))
        .stdin(Stdio::null())
        .stdout(clone()?)
        .stderr(clone()?)
        .status()
        .map_err(|e| RebuildError::Nix(format!("cannot run `unshare`: {e}")))?;
    let build_succeeded = status.success();
    let build_errors = if build_succeeded { Vec::new() } else { error_lines(&log_path, build_starts_at) };
    let _ = writeln!(log, "== {status}");

    let mut outputs = Vec::new();
    for root in &manifest.roots {
        for o in &root.outputs {
            let rebuilt_at = (!o.path.is_empty()).then(|| format!("{}{}", store_root.display(), o.path));
            let present = rebuilt_at.as_ref().is_some_and(|p| std::fs::symlink_metadata(p).is_ok());
            let rebuilt = match (&rebuilt_at, present) {
                (Some(p), true) => Some(hash_path(Path::new(p), HashAlgo::Sha256)?.0.to_sri()),
                _ => None,
            };
            let verdict = match (&rebuilt, &o.nar_hash) {
                (None, _) => Verdict::NotBuilt,
                (Some(_), None) => Verdict::NoReference,
                (Some(r), Some(reference)) if r == reference => Verdict::Identical,
                (Some(_), Some(_)) => Verdict::Differs,
            };
            outputs.push(OutputResult {
                drv: root.drv.clone(),
                output: o.name.clone(),
                path: o.path.clone(),
                verdict,
                reference: o.nar_hash.clone(),
                rebuilt,
                rebuilt_at: rebuilt_at.filter(|_| present),
            });
        }
    }
    Ok(RebuildReport {
        bundle,
        manifest_sha256: Hash::compute(HashAlgo::Sha256, reader.manifest_bytes()).to_base16(),
        signature,
        checked,
        work_dir: work.display().to_string(),
        store: store_root.display().to_string(),
        log: log_path.display().to_string(),
        nix_version,
        build_command,
        build_succeeded,
        build_errors,
        environment,
        nix_settings: settings.sandbox_settings(),
        work_dir_temporary: options.work_dir.is_none(),
        work_dir_removed: false,
        outputs,
        started_on,
        finished_on: rfc3339(SystemTime::now()),
        attestation: None,
    })
}

/// Removes the report's work directory (store directories are read-only,
/// so they are made writable first) and records that in the report.
pub fn remove_work_dir(report: &mut RebuildReport) -> Result<(), RebuildError> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = PathBuf::from(&report.work_dir);
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        let meta = std::fs::symlink_metadata(&d).map_err(io_err("removing", &d))?;
        if meta.is_dir() {
            let writable = std::fs::Permissions::from_mode(meta.permissions().mode() | 0o700);
            std::fs::set_permissions(&d, writable).map_err(io_err("removing", &d))?;
            for entry in std::fs::read_dir(&d).map_err(io_err("removing", &d))? {
                let entry = entry.map_err(io_err("removing", &d))?;
                if entry.file_type().map_err(io_err("removing", &d))?.is_dir() {
                    stack.push(entry.path());
                }
            }
        }
    }
    std::fs::remove_dir_all(&dir).map_err(io_err("removing the work directory", &dir))?;
    report.work_dir_removed = true;
    Ok(())
}

/// Options every rebuild forces: no substitutes, no remote builders, the
/// sandbox on, and no silent fallback to building without it.
pub fn forced_options() -> [(&'static str, &'static str); 4] {
    [("substituters", ""), ("builders", ""), ("sandbox", "true"), ("sandbox-fallback", "false")]
}

/// The lines of the log from byte `from` on, starting at the first line
/// holding `error:`, at most [`MAX_ERROR_LINES`] of at most 500 characters.
fn error_lines(log: &Path, from: u64) -> Vec<String> {
    use std::io::{BufRead as _, Read as _, Seek as _};
    let Ok(mut file) = File::open(log) else { return Vec::new() };
    if file.seek(io::SeekFrom::Start(from)).is_err() {
        return Vec::new();
    }
    let lines = io::BufReader::new(file.take(16 << 20)).split(b'\n').map_while(Result::ok);
    lines
        .map(|l| String::from_utf8_lossy(&l).trim_end().chars().take(500).collect::<String>())
        .skip_while(|l| !l.contains("error:"))
        .filter(|l| !l.is_empty())
        .take(MAX_ERROR_LINES)
        .collect()
}

fn check_signature(reader: &BundleReader, trusted: &TrustedKeys) -> Result<SignatureCheck, RebuildError> {
    let signatures: Vec<String> = reader.signatures().iter().map(|s| s.key_name().to_owned()).collect();
    if trusted.is_empty() {
        return Ok(SignatureCheck { status: "unchecked", signers: Vec::new(), signatures });
    }
    let bundle = reader.path().display().to_string();
    if signatures.is_empty() {
        return Err(RebuildError::Untrusted { bundle, detail: "the manifest is not signed".to_owned() });
    }
    match reader.check_signatures(trusted) {
        Ok(signers) => Ok(SignatureCheck { status: "verified", signers, signatures }),
        Err(rejection) => {
            let detail = rejection
                .findings
                .iter()
                .map(|f| {
                    let status = match f.status {
                        provenix_formats::signature::SignatureStatus::Valid => "valid",
                        provenix_formats::signature::SignatureStatus::Invalid => {
                            "INVALID (manifest changed, or a different key)"
                        }
                        provenix_formats::signature::SignatureStatus::UntrustedKey => "by an untrusted key",
                    };
                    format!("signature by {}: {status}", f.key_name)
                })
                .collect::<Vec<_>>()
                .join("; ");
            Err(RebuildError::Untrusted { bundle, detail: format!("no valid signature by a trusted key ({detail})") })
        }
    }
}

/// What the check needs to see of one path's NAR besides its sha256.
#[derive(Default)]
struct NarProbe {
    /// Collect the bytes (a `.drv`), up to [`MAX_DRV_LEN`].
    collect: Option<Vec<u8>>,
    /// Hash the NAR with another algorithm (recursive FOD with md5/sha1/sha512).
    nar_hasher: Option<Hasher>,
    /// Hash the contents of a single regular file (flat FOD, text input).
    flat: Option<FlatHasher>,
}

impl Write for NarProbe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(c) = &mut self.collect {
            if c.len() as u64 + buf.len() as u64 > MAX_DRV_LEN {
                return Err(io::Error::other(format!(".drv file larger than {MAX_DRV_LEN} bytes")));
            }
            c.extend_from_slice(buf);
        }
        if let Some(h) = &mut self.nar_hasher {
            h.update(buf);
        }
        if let Some(f) = &mut self.flat {
            f.update(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Hashes the contents of a NAR that holds one non-executable regular file,
/// from the NAR stream: the 96 header bytes are fixed but for the length.
struct FlatHasher {
    header: Vec<u8>,
    remaining: u64,
    hasher: Hasher,
}

/// The NAR header of a non-executable regular file, up to its length field.
const FLAT_HEADER: &[u8] = b"\x0d\0\0\0\0\0\0\0nix-archive-1\0\0\0\x01\0\0\0\0\0\0\0(\0\0\0\0\0\0\0\x04\0\0\0\0\0\0\0type\0\0\0\0\x07\0\0\0\0\0\0\0regular\0\x08\0\0\0\0\0\0\0contents";

impl FlatHasher {
    fn new(algo: HashAlgo) -> FlatHasher {
        FlatHasher { header: Vec::with_capacity(96), remaining: 0, hasher: Hasher::new(algo) }
    }

    fn update(&mut self, mut buf: &[u8]) {
        if self.header.len() < 96 {
            let take = (96 - self.header.len()).min(buf.len());
            let (head, rest) = buf.split_at(take);
            self.header.extend_from_slice(head);
            buf = rest;
            if self.header.len() == 96 {
                let mut len = [0u8; 8];
                len.copy_from_slice(self.header.get(88..96).unwrap_or(&[0; 8]));
                self.remaining = u64::from_le_bytes(len);
            }
        }
        let take = (self.remaining.min(buf.len() as u64)) as usize;
        if let Some(body) = buf.get(..take) {
            self.hasher.update(body);
            self.remaining -= take as u64;
        }
    }

    /// The contents' hash, if the NAR was a non-executable regular file.
    fn finish(self) -> Option<Hash> {
        (self.header.len() == 96 && self.header.starts_with(FLAT_HEADER) && self.remaining == 0)
            .then(|| self.hasher.finish())
    }
}

/// Step 2 of the module docs: reads the whole export stream once.
pub fn check_stream(reader: &BundleReader, progress: &dyn Progress) -> Result<StreamCheck, RebuildError> {
    let bundle = reader.path().display().to_string();
    let manifest = reader.manifest();
    let dir = reader.store_dir();
    let tampered =
        |path: &str, detail: String| RebuildError::Tampered { bundle: bundle.clone(), path: path.to_owned(), detail };
    // Declared FOD hashes by output path, from the manifest (checked against the .drv files below).
    let mut declared: HashMap<&str, (ContentAddressMethod, Hash)> = HashMap::new();
    for s in &manifest.sources {
        let hash = Hash::parse_sri(&s.hash).map_err(|e| tampered(&s.path, format!("manifest hash {}: {e}", s.hash)))?;
        let method = match s.mode.as_str() {
            "flat" => ContentAddressMethod::Flat,
            "recursive" => ContentAddressMethod::Recursive,
            "text" => ContentAddressMethod::Text,
            other => return Err(tampered(&s.path, format!("manifest mode {other}"))),
        };
        declared.insert(s.path.as_str(), (method, hash));
    }
    let mut stream = ExportReader::new(reader.export_stream()?, dir);
    let mut expected = manifest.paths.iter();
    let mut drvs: BTreeMap<StorePath, (Derivation, HashModulo)> = BTreeMap::new();
    let mut seen_sources: BTreeSet<String> = BTreeSet::new();
    let mut check = StreamCheck::default();
    progress.begin("check", manifest.paths.iter().map(|p| p.nar_size).sum(), true);
    loop {
        let next = expected.next();
        let mut probe = NarProbe::default();
        let declared_here = next.and_then(|p| declared.get(p.path.as_str()));
        match (next.map(|p| p.kind), declared_here) {
            (Some(PathKind::Drv), _) => probe.collect = Some(Vec::new()),
            (Some(PathKind::Source), Some((ContentAddressMethod::Recursive, h))) if h.algo() != HashAlgo::Sha256 => {
                probe.nar_hasher = Some(Hasher::new(h.algo()));
            }
            (Some(PathKind::Source), Some((ContentAddressMethod::Flat | ContentAddressMethod::Text, h))) => {
                probe.flat = Some(FlatHasher::new(h.algo()));
            }
            (Some(PathKind::Input), _) => probe.flat = Some(FlatHasher::new(HashAlgo::Sha256)),
            _ => {}
        }
        let entry =
            stream.next_path(&mut probe).map_err(|source| RebuildError::Stream { bundle: bundle.clone(), source })?;
        let (entry, want) = match (entry, next) {
            (None, None) => break,
            (Some(e), None) => {
                return Err(tampered(&dir.display(&e.path), "in the stream but not in the manifest".to_owned()));
            }
            (None, Some(w)) => return Err(tampered(&w.path, "in the manifest but not in the stream".to_owned())),
            (Some(e), Some(w)) => (e, w),
        };
        let path = dir.display(&entry.path);
        if path != want.path {
            return Err(tampered(&path, format!("the manifest lists {} at this position", want.path)));
        }
        let refs: Vec<String> = entry.references.iter().map(|r| dir.display(r)).collect();
        if refs != want.references {
            return Err(tampered(&path, "references differ from the manifest's".to_owned()));
        }
        if entry.deriver.as_ref().map(|d| dir.display(d)) != want.deriver {
            return Err(tampered(&path, "deriver differs from the manifest's".to_owned()));
        }
        if entry.nar_size != want.nar_size || entry.nar_hash.to_sri() != want.nar_hash {
            return Err(tampered(
                &path,
                format!(
                    "content changed: NAR {} ({} bytes), the manifest says {} ({} bytes)",
                    entry.nar_hash.to_sri(),
                    entry.nar_size,
                    want.nar_hash,
                    want.nar_size
                ),
            ));
        }
        match want.kind {
            PathKind::Drv => {
                let bytes = probe.collect.unwrap_or_default();
                check_drv(dir, &entry.path, &entry.references, bytes, &mut drvs, &declared)
                    .map_err(|d| tampered(&path, d))?;
                check.derivations += 1;
            }
            PathKind::Source => {
                let Some((method, hash)) = declared.get(path.as_str()) else {
                    return Err(tampered(&path, "a source the manifest's `sources` does not declare".to_owned()));
                };
                let actual = match method {
                    ContentAddressMethod::Recursive if hash.algo() == HashAlgo::Sha256 => Some(entry.nar_hash),
                    ContentAddressMethod::Recursive => probe.nar_hasher.map(Hasher::finish),
                    ContentAddressMethod::Flat | ContentAddressMethod::Text => probe.flat.and_then(FlatHasher::finish),
                };
                match actual {
                    Some(a) if &a == hash => {}
                    Some(a) => {
                        return Err(tampered(
                            &path,
                            format!(
                                "content does not match its declared hash: {} declared, {} found",
                                hash.to_sri(),
                                a.to_sri()
                            ),
                        ));
                    }
                    None => {
                        return Err(tampered(
                            &path,
                            "a flat source that is not a single non-executable file".to_owned(),
                        ));
                    }
                }
                seen_sources.insert(path.clone());
                check.sources += 1;
            }
            PathKind::Input => {
                let others: Vec<StorePath> = entry.references.iter().filter(|r| **r != entry.path).cloned().collect();
                let self_ref = others.len() != entry.references.len();
                let name = entry.path.name();
                let as_source = dir.make_fixed_output_path(
                    ContentAddressMethod::Recursive,
                    &entry.nar_hash,
                    name,
                    &others,
                    self_ref,
                );
                let as_text =
                    probe.flat.and_then(FlatHasher::finish).map(|h| dir.make_text_path(name, &h, &entry.references));
                if as_source.as_ref().is_ok_and(|p| p == &entry.path)
                    || as_text.is_some_and(|p| p.is_ok_and(|p| p == entry.path))
                {
                    check.inputs_content_addressed += 1;
                } else {
                    check.inputs_not_content_addressed.push(path.clone());
                }
            }
        }
        check.paths += 1;
        check.nar_bytes += entry.nar_size;
        progress.advance(entry.nar_size);
    }
    progress.end();
    let store_prefix = format!("{}/", dir.as_str());
    let builders: BTreeSet<String> = drvs
        .values()
        .map(|(drv, _)| String::from_utf8_lossy(drv.builder()).into_owned())
        .filter(|b| !b.starts_with(&store_prefix) && !b.starts_with("builtin:"))
        .collect();
    check.host_builders = builders.into_iter().collect();
    // Every FOD of the closure is in the bundle, and the manifest's sources are exactly those.
    for (drv_path, (drv, _)) in &drvs {
        if let Some((_, _, out)) = drv.fixed_output() {
            let out = dir.display(out);
            if !seen_sources.contains(&out) {
                return Err(tampered(&dir.display(drv_path), format!("its output {out} is not in the bundle")));
            }
        }
    }
    for root in &manifest.roots {
        let root_path = dir.parse_path(&root.drv).map_err(|e| tampered(&root.drv, format!("root: {e}")))?;
        let Some((drv, _)) = drvs.get(&root_path) else {
            return Err(tampered(&root.drv, "a root not in the bundle".to_owned()));
        };
        for o in &root.outputs {
            let recorded =
                drv.outputs().iter().find(|(n, _)| n.as_str() == o.name).and_then(|(_, out)| out.path().cloned());
            if let Some(recorded) = recorded {
                if dir.display(&recorded) != o.path {
                    return Err(tampered(
                        &root.drv,
                        format!("output {} is {}, the manifest says {}", o.name, dir.display(&recorded), o.path),
                    ));
                }
            }
        }
    }
    Ok(check)
}

/// Checks one `.drv`: its path is its content's, its outputs are what its
/// inputs make them, and a FOD declares what the manifest says.
fn check_drv(
    dir: &StoreDir,
    path: &StorePath,
    references: &[StorePath],
    bytes: Vec<u8>,
    drvs: &mut BTreeMap<StorePath, (Derivation, HashModulo)>,
    declared: &HashMap<&str, (ContentAddressMethod, Hash)>,
) -> Result<(), String> {
    let Some(name) = drv_name(path) else { return Err("not a .drv path".to_owned()) };
    let contents = drv_contents(&bytes).ok_or_else(|| "not a single regular file".to_owned())?;
    let content_hash = Hash::compute(HashAlgo::Sha256, contents);
    let computed = dir.make_text_path(path.name(), &content_hash, references).map_err(|e| e.to_string())?;
    if &computed != path {
        return Err(format!("its bytes and references give path {}", dir.display(&computed)));
    }
    let drv = Derivation::parse(contents, dir).map_err(|e| format!("unparsable: {e}"))?;
    let refs: BTreeSet<&StorePath> = drv.references().collect();
    if refs != references.iter().collect() {
        return Err("its references are not its inputs".to_owned());
    }
    let lookup = |p: &StorePath| drvs.get(p).map(|(d, m)| (d, *m));
    let modulo = drv.hash_modulo(name, dir, false, lookup).map_err(|e| e.to_string())?;
    let computed = drv
        .compute_output_paths(name, dir, |p: &StorePath| drvs.get(p).map(|(d, m)| (d, *m)))
        .map_err(|e| e.to_string())?;
    for (output, recorded) in drv.outputs() {
        if let (Some(recorded), Some(Some(computed))) = (recorded.path(), computed.get(output)) {
            if recorded != computed {
                return Err(format!(
                    "output {output} is recorded as {}, but its inputs make it {}",
                    dir.display(recorded),
                    dir.display(computed)
                ));
            }
        }
    }
    if drv.kind() == DerivationKind::Fixed {
        if let Some((method, hash, out)) = drv.fixed_output() {
            match declared.get(dir.display(out).as_str()) {
                Some((m, h)) if m == &method && h == hash => {}
                _ => return Err(format!("the manifest's `sources` misstates its output {}", dir.display(out))),
            }
        }
    }
    drvs.insert(path.clone(), (drv, modulo));
    Ok(())
}

/// The contents of a NAR holding one non-executable regular file.
fn drv_contents(nar: &[u8]) -> Option<&[u8]> {
    if !nar.starts_with(FLAT_HEADER) {
        return None;
    }
    let len = u64::from_le_bytes(nar.get(88..96)?.try_into().ok()?);
    nar.get(96..96usize.checked_add(usize::try_from(len).ok()?)?)
}

fn prepare_work_dir(dir: Option<&Path>) -> Result<PathBuf, RebuildError> {
    let Some(dir) = dir else {
        let temp = std::env::temp_dir();
        let made = tempfile::Builder::new().prefix("provenix-rebuild-").tempdir_in(&temp);
        return Ok(made.map_err(io_err("creating a work directory in", &temp))?.keep());
    };
    let err = |detail: String| RebuildError::WorkDir { path: dir.to_path_buf(), detail };
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(err("exists and is not empty (a rebuild needs a fresh store)".to_owned()));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create it: {e}")))?;
        }
        Err(e) => return Err(err(e.to_string())),
    }
    std::path::absolute(dir).map_err(|e| err(e.to_string()))
}

fn import(
    reader: &BundleReader,
    store_arg: &str,
    nix_options: &[(String, String)],
    log: &File,
    log_path: &Path,
) -> Result<(), RebuildError> {
    let clone = || log.try_clone().map_err(io_err("opening", log_path));
    let mut child = Command::new("nix-store")
        .args(["--store", store_arg, "--import"])
        .args(nix_options.iter().flat_map(|(n, v)| ["--option", n, v]))
        .stdin(Stdio::piped())
        .stdout(clone()?)
        .stderr(clone()?)
        .spawn()
        .map_err(|e| RebuildError::Nix(format!("cannot run `nix-store --import`: {e}")))?;
    let copied = match child.stdin.take() {
        Some(mut stdin) => io::copy(&mut reader.export_stream()?, &mut stdin).map(|_| ()),
        None => Ok(()),
    };
    let status = child.wait().map_err(|e| RebuildError::Nix(format!("waiting for `nix-store --import`: {e}")))?;
    if !status.success() {
        return Err(RebuildError::Nix(format!("`nix-store --import` failed ({status}); see {}", log_path.display())));
    }
    copied.map_err(io_err("importing", reader.path()))
}

/// Compact JSON bytes of a value (maps sorted, so the same value gives the same bytes).
fn json_bytes(value: &serde_json::Value) -> Vec<u8> {
    // A `Value` always serialises.
    serde_json::to_vec(value).unwrap_or_default()
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a time (UTC), as [`crate::sbom::Timestamp`] prints it.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    crate::sbom::Timestamp::from_unix(i64::try_from(secs).unwrap_or(i64::MAX)).to_string()
}

/// The `buildType` of provenix rebuild attestations: how to read the
/// parameters below (documented in `docs/json.md`).
pub const BUILD_TYPE: &str = "https://provenix.dev/buildtypes/nix-bundle-rebuild/v1";

/// The SLSA provenance statement of a rebuild, signed or not yet.
///
/// - `subject`: every rebuilt root output, named by store path, with the
///   sha256 of its NAR (hex, as in-toto digests are);
/// - `buildDefinition`: only what the bundle determines, so every rebuilder
///   of the same bundle states the same: `externalParameters` name the
///   manifest (by sha256), the roots and the store directory;
///   `internalParameters` the isolation every rebuild forces;
///   `resolvedDependencies` every source and input source in the bundle,
///   with its NAR sha256, URL and declared hash;
/// - `runDetails`: the builder (`id` from the attesting key's name; provenix
///   and Nix versions), start and end times, and as byproducts one verdict
///   per root output (`annotations.verdict`) plus the build log's digest and
///   the extra Nix options this rebuilder used.
///
/// `None` when nothing was rebuilt (a statement needs a subject).
pub fn provenance(
    report: &RebuildReport,
    manifest: &crate::bundle::Manifest,
    builder_name: &str,
    extra_nix_options: &[(String, String)],
) -> Option<crate::attest::Statement> {
    use crate::attest::{
        BuildDefinition, BuildMetadata, Builder, Provenance, ResourceDescriptor, RunDetails, Statement,
    };
    use serde_json::{Map, Value, json};
    let hex = |sri: &str| Hash::parse_sri(sri).ok().map(|h| h.to_base16());
    let digest = |sri: &str| -> std::collections::BTreeMap<String, String> {
        hex(sri).map(|h| [("sha256".to_owned(), h)].into_iter().collect()).unwrap_or_default()
    };
    let annotations = |v: Value| -> Option<Map<String, Value>> { v.as_object().cloned() };
    let subject: Vec<ResourceDescriptor> = report
        .outputs
        .iter()
        .filter_map(|o| {
            let rebuilt = o.rebuilt.as_deref()?;
            Some(ResourceDescriptor { name: Some(o.path.clone()), digest: digest(rebuilt), ..Default::default() })
        })
        .collect();
    if subject.is_empty() {
        return None;
    }
    let sources: HashMap<&str, &crate::bundle::ManifestSource> =
        manifest.sources.iter().map(|s| (s.path.as_str(), s)).collect();
    let resolved_dependencies = manifest
        .paths
        .iter()
        .filter(|p| p.kind != PathKind::Drv)
        .map(|p| {
            let source = sources.get(p.path.as_str());
            let mut a = json!({ "kind": if p.kind == PathKind::Source { "source" } else { "input" } });
            if let Some(s) = source {
                a["sourceKind"] = json!(s.kind);
                a["drv"] = json!(s.drv);
                a["outputHash"] = json!(s.hash);
                a["outputHashMode"] = json!(s.mode);
                a["urls"] = json!(s.urls);
            }
            ResourceDescriptor {
                name: Some(p.path.clone()),
                uri: source.and_then(|s| s.urls.first().cloned()),
                digest: digest(&p.nar_hash),
                annotations: annotations(a),
                ..Default::default()
            }
        })
        .collect();
    let build_definition = BuildDefinition {
        build_type: BUILD_TYPE.to_owned(),
        external_parameters: json!({
            "bundle": { "manifest": { "sha256": report.manifest_sha256 }, "tool": manifest.tool },
            "roots": manifest.roots.iter().map(|r| &r.drv).collect::<Vec<_>>(),
            "storeDir": manifest.store_dir,
        }),
        internal_parameters: Some(json!({
            "network": "none (a new network namespace, loopback down)",
            "nixOptions": forced_options().iter().map(|(n, v)| json!({ "name": n, "value": v })).collect::<Vec<_>>(),
            "freshStore": true,
            "checkedBeforeImport": true,
        })),
        resolved_dependencies,
    };
    // Every descriptor carries a digest or its content, as the in-toto spec requires:
    // an output that was not built is described by its verdict record itself.
    let mut byproducts: Vec<ResourceDescriptor> = report
        .outputs
        .iter()
        .map(|o| {
            let record = json!({
                "verdict": o.verdict.as_str(),
                "drv": o.drv,
                "output": o.output,
                "reference": o.reference,
                "rebuilt": o.rebuilt,
            });
            let mut d = match o.rebuilt.as_deref() {
                Some(rebuilt) => ResourceDescriptor { digest: digest(rebuilt), ..Default::default() },
                None => ResourceDescriptor::with_content(&o.path, "application/json", &json_bytes(&record)),
            };
            d.name = Some(o.path.clone());
            d.annotations = annotations(record);
            d
        })
        .collect();
    if let Ok((log_hash, _)) = provenix_store::nar::hash_file_flat(Path::new(&report.log), HashAlgo::Sha256) {
        byproducts.push(ResourceDescriptor {
            name: Some("build.log".to_owned()),
            digest: [("sha256".to_owned(), log_hash.to_base16())].into_iter().collect(),
            media_type: Some("text/plain".to_owned()),
            ..Default::default()
        });
    }
    let settings = json!({
        "buildSucceeded": report.build_succeeded,
        "signature": report.signature,
        "extraNixOptions": extra_nix_options.iter().map(|(n, v)| json!({ "name": n, "value": v })).collect::<Vec<_>>(),
        "effectiveNixSettings": report.nix_settings,
    });
    let mut build_settings =
        ResourceDescriptor::with_content("build-settings", "application/json", &json_bytes(&settings));
    build_settings.annotations = annotations(settings);
    byproducts.push(build_settings);
    let mut version = std::collections::BTreeMap::new();
    version.insert("provenix".to_owned(), env!("CARGO_PKG_VERSION").to_owned());
    version.insert("nix".to_owned(), report.nix_version.rsplit(' ').next().unwrap_or_default().to_owned());
    let provenance = Provenance {
        build_definition,
        run_details: RunDetails {
            builder: Builder {
                id: format!("https://provenix.dev/rebuilders/{builder_name}"),
                version,
                builder_dependencies: Vec::new(),
            },
            metadata: Some(BuildMetadata {
                invocation_id: Path::new(&report.work_dir).file_name().map(|n| n.to_string_lossy().into_owned()),
                started_on: Some(report.started_on.clone()),
                finished_on: Some(report.finished_on.clone()),
            }),
            byproducts,
        },
    };
    Some(Statement::provenance(subject, &provenance))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_start_at_the_first_error_of_the_build() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("build.log");
        let before = "== import\nerror: an import error that is not the build's\n";
        let build = "building '/nix/store/x.drv'...\n\nerror: builder for '/nix/store/x.drv' failed with exit code 1;\n       last log lines:\n       > boom\n";
        std::fs::write(&log, format!("{before}{build}")).unwrap();
        let lines = error_lines(&log, before.len() as u64);
        assert_eq!(lines[0], "error: builder for '/nix/store/x.drv' failed with exit code 1;");
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[2], "       > boom");
        std::fs::write(&log, format!("{before}{}", "error: x\n".repeat(100))).unwrap();
        assert_eq!(error_lines(&log, 0).len(), MAX_ERROR_LINES);
        assert!(error_lines(&dir.path().join("missing"), 0).is_empty());
    }

    #[test]
    fn rfc3339_dates() {
        let at = |s| rfc3339(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_764_072_061), "2025-11-25T12:01:01Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
    }

    #[test]
    fn flat_hasher_reads_the_contents_of_a_file_nar() {
        for len in [0usize, 1, 95, 96, 97, 4096, 100_003] {
            let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut nar = provenix_formats::nar::NarWriter::new(Vec::new());
            nar.regular(false, len as u64, body.as_slice()).unwrap();
            let nar = nar.finish().unwrap();
            for chunk in [1, 7, 96, 1 << 20] {
                let mut f = FlatHasher::new(HashAlgo::Sha256);
                nar.chunks(chunk).for_each(|c| f.update(c));
                assert_eq!(f.finish(), Some(Hash::compute(HashAlgo::Sha256, &body)), "len {len} chunk {chunk}");
            }
            assert_eq!(drv_contents(&nar), Some(body.as_slice()));
            let mut exe = provenix_formats::nar::NarWriter::new(Vec::new());
            exe.regular(true, len as u64, body.as_slice()).unwrap();
            let exe = exe.finish().unwrap();
            let mut f = FlatHasher::new(HashAlgo::Sha256);
            f.update(&exe);
            assert_eq!(f.finish(), None, "an executable is not a flat file");
            assert_eq!(drv_contents(&exe), None);
        }
    }
}
