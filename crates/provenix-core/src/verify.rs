//! Tamper verification of a whole build closure.
//!
//! Each problem is a [`Finding`] with a stable kind (see [`FindingKind`]),
//! the store path at fault and a detail. The steps and their cost, for V
//! derivations, E input edges, O outputs and B bytes of realised outputs:
//!
//! 1. load the `.drv` closure in parallel; O(V) parses;
//! 2. recompute every `.drv` path from its bytes and every output path from
//!    its derivation, hash modulo memoised in topological order; O(total
//!    `.drv` bytes). Disagreements are `drv-path-mismatch` and
//!    `output-path-mismatch`;
//! 3. hygiene per derivation: weak hashes, plain-http URLs, `__impure`,
//!    `__noChroot`, FODs without URLs; O(V);
//! 4. rehash every realised output, in parallel over paths (biggest first),
//!    streaming: the NAR sha256 against the Nix database
//!    (`output-content-mismatch`), and for FODs the declared hash, flat or NAR
//!    as the mode says (`fod-content-mismatch`); a flat source's two hashes
//!    come from one read, and with [`VerifyOptions::once`] a flat source
//!    whose bytes match a strong declared hash is hashed once (see
//!    [`Checked::outputs_pinned`]). O(B) reads, split over every core;
//! 5. with refetch, download every URL of every FOD (`--jobs` at a time,
//!    `mirror://` tried mirror by mirror) into temporary files that are
//!    removed afterwards, and hash them like the store would
//!    (`refetch-mismatch`, `refetch-failed`). A recursive-mode FOD is only
//!    checked when it is a single downloaded file; one that unpacks an
//!    archive, runs `postFetch` or checks out a repository cannot be
//!    reproduced from the download alone and is reported `refetch-skipped`.
//!
//! Findings are sorted by severity, kind and path, so the report is
//! deterministic whatever the scheduling.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use provenix_formats::derivation::{Derivation, Output};
use provenix_formats::hash::{Hash, HashAlgo};
use provenix_formats::nar::regular_file_nar_size;
use provenix_formats::store_path::{ContentAddressMethod, StorePath};
use provenix_store::Store;
use provenix_store::db::{NixDb, PathInfo};
use provenix_store::drv::{DrvClosure, DrvError, DrvPaths, NodeId};
use provenix_store::nar::{NarFsError, hash_file_flat, hash_path, hash_path_and_flat};
use rayon::prelude::*;
use serde::Serialize;
use thiserror::Error;

use crate::fetch::{FetchError, Fetcher};
use crate::fod::{FodInfo, SourceKind};
use crate::mirrors::MirrorTable;

/// Errors that stop verification (as opposed to findings).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Reading the `.drv` closure failed.
    #[error("reading the build closure")]
    Closure(#[from] DrvError),
    /// Reading the Nix database failed.
    #[error("reading the Nix database")]
    Db(#[from] provenix_store::db::DbError),
    /// A realised path could not be read (other than being absent).
    #[error("reading {path}")]
    Read {
        /// The store path.
        path: String,
        /// Why.
        #[source]
        source: NarFsError,
    },
    /// A download could not be written to the temporary directory.
    #[error("downloading a source")]
    Download(#[source] Box<FetchError>),
    /// Comparing the outputs with the log failed (`--log`).
    #[error("checking the outputs against the log")]
    Log(#[from] crate::log::compare::LogCompareError),
    /// The download thread pool could not be started.
    #[error("starting {jobs} download threads")]
    Pool {
        /// Threads asked for.
        jobs: usize,
        /// Why.
        #[source]
        source: rayon::ThreadPoolBuildError,
    },
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Integrity is broken: exit 1.
    Error,
    /// Hygiene or availability: reported, exit 0 unless asked to fail on it.
    Warning,
    /// Worth knowing.
    Info,
}

impl Severity {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

macro_rules! finding_kinds {
    ($($(#[$doc:meta])* $variant:ident = $name:literal, $severity:ident;)*) => {
        /// The stable kinds of finding.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum FindingKind {
            $($(#[$doc])* $variant,)*
        }

        impl FindingKind {
            /// Every kind, in order.
            pub const ALL: &'static [FindingKind] = &[$(FindingKind::$variant,)*];

            /// The stable name used in JSON and tables.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(FindingKind::$variant => $name,)*
                }
            }

            /// How bad it is.
            pub fn severity(self) -> Severity {
                match self {
                    $(FindingKind::$variant => Severity::$severity,)*
                }
            }
        }
    };
}

finding_kinds! {
    /// A `.drv` whose bytes do not hash to its own name.
    DrvPathMismatch = "drv-path-mismatch", Error;
    /// An output path that does not follow from its derivation.
    OutputPathMismatch = "output-path-mismatch", Error;
    /// A realised FOD output whose content does not hash to the declared hash.
    FodContentMismatch = "fod-content-mismatch", Error;
    /// A realised output whose NAR hash differs from the Nix database's.
    OutputContentMismatch = "output-content-mismatch", Error;
    /// What a URL serves now differs from the declared hash.
    RefetchMismatch = "refetch-mismatch", Error;
    /// No URL of the FOD could be downloaded.
    RefetchFailed = "refetch-failed", Warning;
    /// A declared hash that pins nothing: the all-zero placeholder (`lib.fakeHash`,
    /// `sha256-AAAA…`, `0000…`) or an empty `outputHash`, which Nix 2.8 records as all zeros.
    PlaceholderHash = "placeholder-hash", Error;
    /// md5 or sha1.
    WeakHash = "weak-hash", Warning;
    /// http or ftp without TLS.
    InsecureUrl = "insecure-url", Warning;
    /// `__impure`.
    Impure = "impure", Warning;
    /// `__noChroot`: builds outside the sandbox.
    NoChroot = "no-chroot", Warning;
    /// A FOD that declares no URL: bytes of unknown origin.
    FodWithoutUrls = "fod-without-urls", Warning;
    /// A `mirror://` URL whose mirror the table does not know.
    UnknownMirror = "unknown-mirror", Warning;
    /// A source that is not in the store.
    UnrealisedSource = "unrealised-source", Info;
    /// A source the refetch cannot reproduce from its download alone.
    RefetchSkipped = "refetch-skipped", Info;
    /// A release archive file whose bytes differ from its VCS tree's ([`crate::review::equiv`]).
    TarballModifiedFile = "tarball-modified-file", Error;
    /// A symlink in a release archive that its VCS tree lacks or points elsewhere.
    SymlinkDifference = "symlink-difference", Error;
    /// A file only in a release archive, not in its VCS tree (warning or info by class).
    TarballOnlyFile = "tarball-only-file", Warning;
    /// A file whose executable bit differs between a release archive and its VCS tree.
    ModeDifference = "mode-difference", Warning;
    /// A file of the VCS tree that the release archive lacks.
    VcsOnlyFile = "vcs-only-file", Info;
    /// A release archive with no VCS tree to compare it with.
    VcsUnpaired = "vcs-unpaired", Info;
    /// The upstream repository of a release archive could not be fetched at its tag (`--vcs-fetch`).
    VcsFetchFailed = "vcs-fetch-failed", Warning;
    /// A realised output fewer trusted builders than required reported with its local NAR hash (`--log`).
    NotReproduced = "not-reproduced", Error;
    /// A trusted builder reported another NAR hash for a realised output than the local one (`--log`).
    Disputed = "disputed", Error;
    /// A release archive or its VCS tree that cannot be read for the comparison (truncated,
    /// corrupt or hostile): the rest of the report goes on.
    EquivUnreadable = "equiv-unreadable", Error;
}

impl Serialize for FindingKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The stable kind.
    pub kind: FindingKind,
    /// Its severity.
    pub severity: Severity,
    /// The store path at fault (a `.drv` or an output).
    pub path: String,
    /// What is wrong, in words.
    pub detail: String,
    /// The URL concerned, for URL findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// What was expected (a path or an SRI hash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// For release archive against VCS findings: the pair and the file (see `docs/equiv.md`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equiv: Option<Box<crate::review::equiv::pairing::VerifyEquiv>>,
}

impl Finding {
    pub(crate) fn new(kind: FindingKind, path: String, detail: String) -> Finding {
        Finding { kind, severity: kind.severity(), path, detail, url: None, expected: None, actual: None, equiv: None }
    }

    pub(crate) fn expected(mut self, expected: String, actual: String) -> Finding {
        self.expected = Some(expected);
        self.actual = Some(actual);
        self
    }

    fn url(mut self, url: &str) -> Finding {
        self.url = Some(url.to_owned());
        self
    }
}

/// What was checked, with counts.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Checked {
    /// Derivations in the closure, each `.drv` path recomputed.
    pub derivations: usize,
    /// Output paths recomputed (those known before building).
    pub output_paths: usize,
    /// Fixed-output derivations.
    pub fods: usize,
    /// Whether the Nix database was read (realisation, NAR hashes).
    pub database: bool,
    /// Distinct output paths realised in the store.
    pub realised_outputs: usize,
    /// Realised outputs whose NAR hash was compared with the database.
    pub outputs_rehashed: usize,
    /// Realised FOD outputs rehashed against their declared hash.
    pub fods_rehashed: usize,
    /// Realised flat sources whose bytes matched a strong declared hash, so
    /// their NAR (a non-executable file of those bytes, size checked against
    /// the database) was not hashed a second time.
    pub outputs_pinned: usize,
    /// Bytes read while rehashing.
    pub bytes_hashed: u64,
    /// Whether refetching was asked for.
    pub refetch: bool,
    /// FODs whose URLs were downloaded.
    pub fods_refetched: usize,
    /// URLs downloaded successfully.
    pub urls_fetched: usize,
    /// URLs that could not be downloaded.
    pub urls_failed: usize,
    /// Bytes downloaded.
    pub bytes_downloaded: u64,
    /// With a log to check against (`--log`): what that covered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<crate::log::compare::LogChecked>,
}

/// The result of [`verify`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// The root `.drv` paths.
    pub roots: Vec<String>,
    /// What was checked.
    pub checked: Checked,
    /// Findings per kind (every kind, zero included).
    pub counts: BTreeMap<&'static str, usize>,
    /// The findings, by severity, kind and path.
    pub findings: Vec<Finding>,
}

impl VerifyReport {
    /// Whether any finding is at least as bad as `level`.
    pub fn fails_at(&self, level: Severity) -> bool {
        self.findings.iter().any(|f| f.severity <= level)
    }
}

/// Progress of long phases, for a progress bar; calls come from many threads.
pub trait Progress: Sync {
    /// A phase starts with `total` units (bytes, or items when `bytes` is false).
    fn begin(&self, phase: &str, total: u64, bytes: bool);
    /// `n` more units done.
    fn advance(&self, n: u64);
    /// The phase is over.
    fn end(&self);
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: &str, _: u64, _: bool) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}

/// What to check.
pub struct VerifyOptions<'a> {
    /// How to expand `mirror://` URLs.
    pub mirrors: MirrorTable,
    /// Download every FOD's URLs and compare.
    pub refetch: bool,
    /// Downloads at a time.
    pub jobs: usize,
    /// The downloader.
    pub fetcher: Fetcher,
    /// Where downloads are written while they are hashed.
    pub temp_dir: PathBuf,
    /// Progress reports.
    pub progress: &'a dyn Progress,
    /// Hash a flat source once: when its bytes match a strong declared hash,
    /// do not also recompute its NAR hash for the database comparison (its
    /// NAR follows from those bytes; only its size is checked). Faster, but a
    /// tampered database hash record of such a source goes unnoticed.
    pub once: bool,
    /// Compare each release archive with a VCS tree of it found offline (`None`: do not).
    pub vcs: Option<crate::review::equiv::pairing::VcsOptions>,
    /// Require each realised output to be reproduced by trusted builders in this log.
    pub log: Option<crate::log::compare::LogRequirement>,
}

/// One distinct output path of the closure, and what its content must hash to.
struct Target {
    path: StorePath,
    /// The FOD's declared method and hash.
    fod: Option<(ContentAddressMethod, Hash)>,
}

/// Verifies the closure of `roots` (`.drv` paths).
pub fn verify(
    store: &Store,
    db: Option<&NixDb>,
    roots: &[StorePath],
    options: &VerifyOptions<'_>,
) -> Result<VerifyReport, VerifyError> {
    let dir = store.dir();
    let closure = DrvClosure::load(store, roots)?;
    let graph = closure.graph();
    let mut findings = Vec::new();
    let mut checked =
        Checked { derivations: closure.len(), database: db.is_some(), refetch: options.refetch, ..Checked::default() };

    // Paths.
    let (path_findings, output_paths) = path_findings(&closure, &closure.compute_paths()?);
    checked.output_paths = output_paths;
    findings.extend(path_findings);

    // Hygiene, and the FODs.
    let mut fods: Vec<(NodeId, FodInfo)> = Vec::new();
    for id in graph.nodes() {
        let (Some(path), Some(drv)) = (graph.path(id), closure.derivation(id)) else { continue };
        hygiene(dir.display(path), drv, &mut findings);
        if let Some(info) = FodInfo::from_derivation(path.name(), drv, &options.mirrors) {
            fod_hygiene(dir.display(path), drv, &info, &mut findings);
            fods.push((id, info));
        }
    }
    checked.fods = fods.len();

    // Content.
    // Each distinct output path once; a FOD's declared hash wins.
    let mut targets: BTreeMap<StorePath, Option<(ContentAddressMethod, Hash)>> = BTreeMap::new();
    for (_, drv) in closure.iter() {
        for (_, output) in drv.outputs().iter() {
            let Some(path) = output.path() else { continue };
            let fod = targets.entry(path.clone()).or_default();
            if let Output::Fixed { method, hash, .. } = output {
                *fod = Some((*method, *hash));
            }
        }
    }
    let targets: Vec<Target> = targets.into_iter().map(|(path, fod)| Target { path, fod }).collect();
    let infos: Vec<Option<PathInfo>> = match db {
        Some(db) => db.path_infos(&targets.iter().map(|t| t.path.clone()).collect::<Vec<_>>())?,
        None => targets.iter().map(|_| None).collect(),
    };
    // The size of each realised source, to cap its download at (an
    // upper bound: a file's NAR is its bytes plus framing).
    let mut source_sizes: BTreeMap<&StorePath, u64> = BTreeMap::new();
    let mut work: Vec<(&Target, Option<&PathInfo>)> = Vec::new();
    for (target, info) in targets.iter().zip(&infos) {
        if target.fod.is_some() {
            let on_disk = || std::fs::symlink_metadata(store.physical(&target.path)).ok().filter(|m| m.is_file());
            if let Some(size) = info.as_ref().map(|i| i.nar_size).or_else(|| on_disk().map(|m| m.len())) {
                source_sizes.insert(&target.path, size);
            }
        }
        let realised = match db {
            Some(_) => info.is_some(),
            None => std::fs::symlink_metadata(store.physical(&target.path)).is_ok(),
        };
        if realised {
            work.push((target, info.as_ref()));
        } else if target.fod.is_some() {
            findings.push(Finding::new(
                FindingKind::UnrealisedSource,
                dir.display(&target.path),
                "not in the store: its content was not checked".into(),
            ));
        }
    }
    checked.realised_outputs = work.len();
    // Biggest first, so one large source does not start last and leave the
    // other cores idle while it is hashed.
    work.sort_by_key(|(_, info)| std::cmp::Reverse(info.map_or(0, |i| i.nar_size)));
    let total: u64 = work.iter().filter_map(|(_, i)| i.map(|i| i.nar_size)).sum();
    options.progress.begin("rehashing outputs", if total > 0 { total } else { work.len() as u64 }, total > 0);
    let results: Vec<Result<ContentCheck, VerifyError>> = work
        .par_iter()
        .map(|(target, info)| check_content(store, target, *info, options.progress, total > 0, options.once))
        .collect();
    options.progress.end();
    // The NAR sha256 of every output hashed here, for the log check.
    let mut rehashed: BTreeMap<StorePath, Hash> = BTreeMap::new();
    for ((target, _), result) in work.iter().zip(results) {
        let check = result?;
        if let Some(hash) = check.nar {
            rehashed.insert(target.path.clone(), hash);
        }
        checked.bytes_hashed += check.bytes;
        checked.outputs_rehashed += usize::from(check.nar.is_some());
        checked.fods_rehashed += usize::from(check.fod_compared);
        checked.outputs_pinned += usize::from(check.pinned);
        findings.extend(check.findings);
    }

    if let Some(log) = &options.log {
        let local = crate::log::compare::local_outputs(store, &closure, db, &rehashed, options.progress)?;
        let (log_findings, log_checked) =
            crate::log::compare::reproduction_findings(store, &local, log, options.progress)?;
        findings.extend(log_findings);
        checked.log = Some(log_checked);
    }

    if let Some(vcs) = &options.vcs {
        findings.extend(crate::review::equiv::pairing::verify_findings(store, &closure, &fods, vcs)?);
    }

    if options.refetch {
        refetch_all(store, closure_fods(&closure, &fods, &source_sizes), options, &mut checked, &mut findings)?;
    }

    findings.sort_by(|a, b| (a.severity, a.kind, &a.path, &a.url).cmp(&(b.severity, b.kind, &b.path, &b.url)));
    findings.dedup();
    let mut counts: BTreeMap<&'static str, usize> = FindingKind::ALL.iter().map(|k| (k.as_str(), 0)).collect();
    for f in &findings {
        *counts.entry(f.kind.as_str()).or_default() += 1;
    }
    Ok(VerifyReport {
        roots: graph.roots().iter().filter_map(|&r| graph.path(r)).map(|p| dir.display(p)).collect(),
        checked,
        counts,
        findings,
    })
}

/// Compares each `.drv` path and recorded output path of `closure` with
/// what `computed` ([`DrvClosure::compute_paths`]) gives: the
/// `drv-path-mismatch` and `output-path-mismatch` findings, and how many
/// output paths were compared.
pub fn path_findings(closure: &DrvClosure, computed: &BTreeMap<StorePath, DrvPaths>) -> (Vec<Finding>, usize) {
    let dir = closure.store().dir();
    let mut findings = Vec::new();
    let mut compared = 0;
    for (path, paths) in computed {
        let shown = dir.display(path);
        if &paths.drv_path != path {
            findings.push(
                Finding::new(
                    FindingKind::DrvPathMismatch,
                    shown.clone(),
                    "the file's contents hash to another .drv path".into(),
                )
                .expected(dir.display(&paths.drv_path), shown.clone()),
            );
        }
        let Some(drv) = closure.get(path) else { continue };
        for (name, output) in drv.outputs().iter() {
            let (Some(recorded), Some(Some(computed))) = (output.path(), paths.outputs.get(name)) else { continue };
            compared += 1;
            if recorded != computed {
                findings.push(
                    Finding::new(
                        FindingKind::OutputPathMismatch,
                        shown.clone(),
                        format!(
                            "output `{name}` is recorded as {} but the derivation gives {}",
                            dir.display(recorded),
                            dir.display(computed)
                        ),
                    )
                    .expected(dir.display(computed), dir.display(recorded)),
                );
            }
        }
    }
    (findings, compared)
}

fn env_is_true(drv: &Derivation, key: &[u8]) -> bool {
    drv.env_var(key) == Some(b"1")
}

fn hygiene(shown: String, drv: &Derivation, findings: &mut Vec<Finding>) {
    let impure_output = drv.outputs().iter().any(|(_, o)| matches!(o, Output::Impure { .. }));
    if impure_output || env_is_true(drv, b"__impure") {
        findings.push(Finding::new(
            FindingKind::Impure,
            shown.clone(),
            "`__impure`: the output may differ on every build and is not content-checked".into(),
        ));
    }
    if env_is_true(drv, b"__noChroot") {
        findings.push(Finding::new(
            FindingKind::NoChroot,
            shown,
            "`__noChroot`: builds outside the sandbox, seeing the host file system and network".into(),
        ));
    }
}

fn fod_hygiene(shown: String, drv: &Derivation, info: &FodInfo, findings: &mut Vec<Finding>) {
    let algo = info.hash.algo();
    if info.hash.digest().iter().all(|&b| b == 0) {
        let detail = if drv.env_var(b"outputHash").is_some_and(<[u8]>::is_empty) {
            "the declared hash is empty (Nix records it as all zeros): it pins no content; put the real hash in"
        } else {
            "the declared hash is the all-zero placeholder (`lib.fakeHash`): it pins no content; put the real hash in"
        };
        findings.push(Finding::new(FindingKind::PlaceholderHash, shown.clone(), detail.into()));
    }
    if matches!(algo, HashAlgo::Md5 | HashAlgo::Sha1) {
        findings.push(Finding::new(
            FindingKind::WeakHash,
            shown.clone(),
            format!("declared hash uses {}, which is broken for collision resistance", algo.name()),
        ));
    }
    if info.urls.is_empty() {
        findings.push(Finding::new(
            FindingKind::FodWithoutUrls,
            shown.clone(),
            "declares no url or urls: where its bytes came from is unknown".into(),
        ));
    }
    for url in &info.urls {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("ftp://") {
            findings.push(Finding::new(FindingKind::InsecureUrl, shown.clone(), "fetched without TLS".into()).url(url));
        }
    }
    for mirror in &info.unknown_mirrors {
        findings.push(Finding::new(
            FindingKind::UnknownMirror,
            shown.clone(),
            format!("mirror://{mirror}/ is not in the mirror table: add it with --mirrors"),
        ));
    }
}

/// What rehashing one output found.
struct ContentCheck {
    bytes: u64,
    fod_compared: bool,
    /// A flat source checked by its declared hash alone.
    pinned: bool,
    findings: Vec<Finding>,
    /// The NAR hash computed and compared with the database's, if any.
    nar: Option<Hash>,
}

/// Whether a read failure means the content is wrong (a finding) rather
/// than the check being unable to run (an error).
fn content_problem(err: &NarFsError) -> bool {
    use provenix_formats::nar::NarError;
    match err {
        NarFsError::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        // Reading a file's body failed part way: the disk, not the content.
        NarFsError::Dump { source: NarError::Io { .. } | NarError::Body { .. }, .. } => false,
        _ => true,
    }
}

fn check_content(
    store: &Store,
    target: &Target,
    info: Option<&PathInfo>,
    progress: &dyn Progress,
    by_bytes: bool,
    once: bool,
) -> Result<ContentCheck, VerifyError> {
    let dir = store.dir();
    let shown = dir.display(&target.path);
    let physical = store.physical(&target.path);
    let mut check = ContentCheck { bytes: 0, fod_compared: false, pinned: false, findings: Vec::new(), nar: None };
    let unreadable = |err: NarFsError, check: &mut ContentCheck, kind: FindingKind| {
        if content_problem(&err) {
            check.findings.push(Finding::new(kind, shown.clone(), format!("cannot be hashed: {}", chain(&err))));
            Ok(())
        } else {
            Err(VerifyError::Read { path: shown.clone(), source: err })
        }
    };
    if once
        && let (Some(info), Some((ContentAddressMethod::Flat | ContentAddressMethod::Text, expected))) =
            (info, &target.fod)
        && pinned_by_declared_hash(&physical, expected, info)
    {
        check.fod_compared = true;
        check.pinned = true;
        check.bytes += info.nar_size;
        progress.advance(if by_bytes { info.nar_size } else { 1 });
        return Ok(check);
    }
    // A flat source's file hash comes from the same read as its NAR hash.
    let mut flat: Option<(Hash, u64)> = None;
    if let Some(info) = info {
        let hashed = match &target.fod {
            Some((ContentAddressMethod::Flat | ContentAddressMethod::Text, expected)) => {
                hash_path_and_flat(&physical, info.nar_hash.algo(), expected.algo()).map(|both| {
                    flat = both.flat;
                    (both.nar_hash, both.nar_size)
                })
            }
            _ => hash_path(&physical, info.nar_hash.algo()),
        };
        match hashed {
            Ok((hash, size)) => {
                check.bytes += size;
                if hash != info.nar_hash {
                    check.findings.push(
                        Finding::new(
                            FindingKind::OutputContentMismatch,
                            shown.clone(),
                            format!("NAR hash differs from the one the Nix database recorded ({size} bytes now, {} recorded)", info.nar_size),
                        )
                        .expected(info.nar_hash.to_sri(), hash.to_sri()),
                    );
                }
                check.nar = Some(hash);
            }
            Err(err) => unreadable(err, &mut check, FindingKind::OutputContentMismatch)?,
        }
    }
    if let Some((method, expected)) = &target.fod {
        let computed = match method {
            ContentAddressMethod::Recursive => match &check.nar {
                Some(hash) if hash.algo() == expected.algo() => Ok((*hash, 0)),
                _ => hash_path(&physical, expected.algo()),
            },
            ContentAddressMethod::Flat | ContentAddressMethod::Text => match flat {
                // Counted with the NAR already.
                Some((hash, _)) => Ok((hash, 0)),
                None => hash_file_flat(&physical, expected.algo()),
            },
        };
        match computed {
            Ok((hash, size)) => {
                check.fod_compared = true;
                check.bytes += size;
                if &hash != expected {
                    let how = match method {
                        ContentAddressMethod::Recursive => "NAR serialisation",
                        _ => "file contents",
                    };
                    check.findings.push(
                        Finding::new(
                            FindingKind::FodContentMismatch,
                            shown.clone(),
                            format!("the {how} do not hash to the declared {}", expected.algo().name()),
                        )
                        .expected(expected.to_sri(), hash.to_sri()),
                    );
                }
            }
            Err(err) => unreadable(err, &mut check, FindingKind::FodContentMismatch)?,
        }
    }
    progress.advance(if by_bytes { info.map_or(0, |i| i.nar_size) } else { 1 });
    Ok(check)
}

/// Whether a realised flat source is fully checked by its declared hash
/// alone: the hash is strong (sha256 or sha512), the file's bytes match it,
/// and it is a non-executable regular file whose NAR size, which follows
/// from its length, is the database's. Its NAR is then exactly determined by
/// those bytes, so hashing it again against the database would only repeat
/// the work. Anything else (a mismatch, md5 or sha1, an executable bit, a
/// size the database disagrees with) takes the full path, both hashes.
fn pinned_by_declared_hash(physical: &Path, expected: &Hash, info: &PathInfo) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    if !matches!(expected.algo(), HashAlgo::Sha256 | HashAlgo::Sha512) {
        return false;
    }
    let Ok((hash, size)) = hash_file_flat(physical, expected.algo()) else { return false };
    let Ok(meta) = std::fs::symlink_metadata(physical) else { return false };
    hash == *expected
        && meta.is_file()
        && meta.permissions().mode() & 0o100 == 0
        && meta.len() == size
        && regular_file_nar_size(size, false) == info.nar_size
}

/// An error and its sources as one line, each part shortened.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    // Each part shortened: a URL from a `.drv` can be megabytes long.
    let mut out = crate::text::shorten_message(&err.to_string());
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&crate::text::shorten_message(&s.to_string()));
        source = s.source();
    }
    out
}

/// A FOD to refetch: its `.drv`, output and description.
struct RefetchItem<'a> {
    drv: String,
    info: &'a FodInfo,
    unpack: bool,
    /// The size of its output in the store (NAR size from the database, or
    /// the file's), when realised: no download of it can be larger.
    size: Option<u64>,
}

fn closure_fods<'a>(
    closure: &DrvClosure,
    fods: &'a [(NodeId, FodInfo)],
    sizes: &BTreeMap<&StorePath, u64>,
) -> Vec<RefetchItem<'a>> {
    let graph = closure.graph();
    let dir = closure.store().dir();
    fods.iter()
        .filter_map(|(id, info)| {
            let drv = closure.derivation(*id)?;
            let size = drv.fixed_output().and_then(|(_, _, out)| sizes.get(out).copied());
            Some(RefetchItem { drv: dir.display(graph.path(*id)?), info, unpack: env_is_true(drv, b"unpack"), size })
        })
        .collect()
}

/// Why a FOD cannot be checked from its download alone, if it cannot.
fn skip_reason(item: &RefetchItem<'_>) -> Option<&'static str> {
    let info = item.info;
    if info.urls.is_empty() {
        return Some("declares no URL");
    }
    // Flat or not: fetchpatch, for one, is flat and normalises the download.
    if info.flags.has_post_fetch {
        return Some("its postFetch step changes the download; rebuild it instead");
    }
    if info.method != ContentAddressMethod::Recursive {
        return None;
    }
    if item.unpack {
        return Some("it unpacks the download; rebuild it instead");
    }
    match info.kind {
        _ if info.flags.executable || info.flags.builtin_fetchurl => None,
        SourceKind::Tarball => Some("a recursive hash over an unpacked archive; rebuild it instead"),
        SourceKind::Patch | SourceKind::Bootstrap | SourceKind::Other => None,
        _ => Some("a checkout or vendored dependency set is not a single download; rebuild it instead"),
    }
}

/// Per FOD (its index in the work list): each declared URL and its outcome.
type FodOutcomes = (usize, Vec<(String, UrlOutcome)>);

/// The outcome of downloading one declared URL (trying its mirrors in turn).
enum UrlOutcome {
    Matches,
    Differs { served_by: String, actual: Hash },
    Failed(String),
}

fn refetch_all(
    store: &Store,
    items: Vec<RefetchItem<'_>>,
    options: &VerifyOptions<'_>,
    checked: &mut Checked,
    findings: &mut Vec<Finding>,
) -> Result<(), VerifyError> {
    let mut todo = Vec::new();
    for item in items {
        match skip_reason(&item) {
            Some(reason) if !item.info.urls.is_empty() => {
                // The advice names the same store the check read.
                let flag = store.root().map(|r| format!(" --store {}", r.display())).unwrap_or_default();
                let advice = format!("`nix-store{flag} --realise --check {}`", item.drv);
                findings.push(Finding::new(
                    FindingKind::RefetchSkipped,
                    item.drv.clone(),
                    format!("not refetched: {reason}: {advice}"),
                ))
            }
            Some(_) => {}
            None => todo.push(item),
        }
    }
    let jobs = options.jobs.max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("provenix-fetch-{i}"))
        .build()
        .map_err(|source| VerifyError::Pool { jobs, source })?;
    let total_urls: usize = todo.iter().map(|i| i.info.urls.len()).sum();
    options.progress.begin("refetching sources", total_urls as u64, false);
    let downloaded = Mutex::new(0u64);
    let results: Result<Vec<FodOutcomes>, VerifyError> = pool.install(|| {
        todo.par_iter()
            .enumerate()
            .map(|(k, item)| {
                let outcomes = item
                    .info
                    .urls
                    .iter()
                    .map(|url| {
                        let outcome = refetch_url(url, item, options, &downloaded);
                        options.progress.advance(1);
                        outcome.map(|o| (url.clone(), o))
                    })
                    .collect::<Result<Vec<_>, VerifyError>>()?;
                Ok((k, outcomes))
            })
            .collect()
    });
    options.progress.end();
    let results = results?;
    checked.bytes_downloaded = downloaded.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    for (k, outcomes) in results {
        let Some(item) = todo.get(k) else { continue };
        checked.fods_refetched += 1;
        let mut failures = Vec::new();
        let mut served = 0;
        for (url, outcome) in outcomes {
            match outcome {
                UrlOutcome::Matches => {
                    served += 1;
                    checked.urls_fetched += 1;
                }
                UrlOutcome::Differs { served_by, actual } => {
                    served += 1;
                    checked.urls_fetched += 1;
                    let via = if served_by == url { String::new() } else { format!(" (via {served_by})") };
                    findings.push(
                        Finding::new(
                            FindingKind::RefetchMismatch,
                            item.drv.clone(),
                            format!(
                                "{url}{via} now serves content that does not hash to the declared {}",
                                item.info.hash.algo().name()
                            ),
                        )
                        .url(&url)
                        .expected(item.info.hash.to_sri(), actual.to_sri()),
                    );
                }
                UrlOutcome::Failed(why) => {
                    checked.urls_failed += 1;
                    failures.push(format!("{url}: {why}"));
                }
            }
        }
        if served == 0 {
            let mut finding = Finding::new(
                FindingKind::RefetchFailed,
                item.drv.clone(),
                format!("no URL could be downloaded: {}", failures.join("; ")),
            );
            finding.url = item.info.urls.first().cloned();
            findings.push(finding);
        }
    }
    Ok(())
}

/// Downloads one declared URL, trying each mirror it expands to until one
/// serves, and hashes what it served the way the FOD's mode says.
///
/// A download is capped at the source's size in the store when that is
/// known (and at the fetcher's own limit otherwise, or if smaller).
fn refetch_url(
    url: &str,
    item: &RefetchItem<'_>,
    options: &VerifyOptions<'_>,
    downloaded: &Mutex<u64>,
) -> Result<UrlOutcome, VerifyError> {
    let info = item.info;
    let candidates = options.mirrors.resolve(url).into_urls();
    if candidates.is_empty() {
        return Ok(UrlOutcome::Failed("unknown mirror".into()));
    }
    let mut fetcher = options.fetcher.clone();
    if let Some(size) = item.size {
        fetcher.max_bytes = Some(fetcher.max_bytes.map_or(size, |limit| limit.min(size)));
    }
    let capped_by_size = item.size.is_some() && fetcher.max_bytes == item.size;
    let mut errors = Vec::new();
    let mut differs: Option<(String, Hash)> = None;
    for candidate in &candidates {
        let fetched = match fetcher.fetch(candidate, &options.temp_dir, &|_| {}) {
            Ok(f) => f,
            // The temp file could not be written: this machine's problem, not the URL's.
            Err(err @ FetchError::Write { .. }) => return Err(VerifyError::Download(Box::new(err))),
            Err(err @ FetchError::TooLarge { .. }) if capped_by_size => {
                errors.push(format!("{} (the size of the source in the store)", chain(&err)));
                continue;
            }
            Err(err) => {
                errors.push(chain(&err));
                continue;
            }
        };
        if let Ok(mut total) = downloaded.lock() {
            *total += fetched.size();
        }
        let actual = hash_download(fetched.path(), info)
            .map_err(|source| VerifyError::Read { path: fetched.path().display().to_string(), source })?;
        if actual == info.hash {
            return Ok(UrlOutcome::Matches);
        }
        // Another mirror may still serve the right bytes; report the first
        // that differed only if none does.
        differs.get_or_insert((candidate.clone(), actual));
    }
    Ok(match differs {
        Some((served_by, actual)) => UrlOutcome::Differs { served_by, actual },
        None => UrlOutcome::Failed(errors.join("; ")),
    })
}

/// Hashes a downloaded file as the store would hash the FOD's output.
fn hash_download(file: &Path, info: &FodInfo) -> Result<Hash, NarFsError> {
    let algo = info.hash.algo();
    match info.method {
        ContentAddressMethod::Flat | ContentAddressMethod::Text => hash_file_flat(file, algo).map(|(h, _)| h),
        ContentAddressMethod::Recursive => {
            // A single file: its NAR records only whether it is executable.
            use std::os::unix::fs::PermissionsExt as _;
            let mode = if info.flags.executable { 0o755 } else { 0o644 };
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode)).map_err(|source| NarFsError::Io {
                op: "setting the mode of",
                path: file.to_path_buf(),
                source,
            })?;
            hash_path(file, algo).map(|(h, _)| h)
        }
    }
}
