//! Equivalence of a release archive and the VCS tree of the same version,
//! file by file: what the archive adds or changes (the xz lesson: the
//! backdoor's trigger, `m4/build-to-host.m4`, existed only in the release
//! tarball).
//!
//! # Algorithm and cost
//!
//! Both sides are read by [`archive`], streamed and hashed, never
//! extracted, on two threads at once, into a compact entry list sorted by
//! path (`manifest`); each side's single top directory is stripped. Then
//! one merge over the two sorted lists gives the findings:
//!
//! - a file only in the archive is a `tarball-only-file` with a
//!   [`FileClass`]: `known-copy` and `generated` are info,
//!   `unknown-build-file` and `other` are warnings;
//! - a file in both with different bytes is a `tarball-modified-file`,
//!   an error unless `make dist` rewrites it (translations, ChangeLog,
//!   version stamps), which is info;
//! - a file only in the VCS tree is a `vcs-only-file` (info);
//! - a differing executable bit is a `mode-difference` (warning), a
//!   symlink on one side only or with another target a
//!   `symlink-difference` (error).
//!
//! Directories are not findings of their own (a directory on one side only
//! shows as its files). Reading is O(bytes of both sides). Memory is the
//! decoders' state (bounded, see [`archive`]) plus 64 bytes and the path
//! per entry of each side, plus the findings: O(entries), never O(bytes).

pub mod archive;
pub mod known;
mod manifest;
pub mod pairing;
pub mod vcs_fetch;
mod zip;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use archive::{ArchiveError, Format, Limits, Node, Tree, read_tree};
pub use known::{FileClass, KnownCopies};

use crate::verify::Severity;

/// The stable kinds of an equivalence finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum EquivKind {
    /// A file in a different state: in both sides with different bytes.
    TarballModifiedFile,
    /// A symlink on one side only, or with another target.
    SymlinkDifference,
    /// In the archive, absent from the VCS tree.
    TarballOnlyFile,
    /// The executable bit differs.
    ModeDifference,
    /// In the VCS tree, absent from the archive.
    VcsOnlyFile,
}

impl EquivKind {
    /// Every kind, in order.
    pub const ALL: [EquivKind; 5] = [
        EquivKind::TarballModifiedFile,
        EquivKind::SymlinkDifference,
        EquivKind::TarballOnlyFile,
        EquivKind::ModeDifference,
        EquivKind::VcsOnlyFile,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            EquivKind::TarballModifiedFile => "tarball-modified-file",
            EquivKind::SymlinkDifference => "symlink-difference",
            EquivKind::TarballOnlyFile => "tarball-only-file",
            EquivKind::ModeDifference => "mode-difference",
            EquivKind::VcsOnlyFile => "vcs-only-file",
        }
    }
}

/// One side of a finding's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileSide {
    /// `file`, `symlink` or `directory`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Size in bytes (files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// sha256, hex (files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Whether the file is executable (files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executable: Option<bool>,
    /// The target (symlinks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl FileSide {
    pub(crate) fn of(node: &Node) -> FileSide {
        let mut side = FileSide { kind: node.type_name(), size: None, sha256: None, executable: None, target: None };
        match node {
            Node::File { executable, size, sha256 } => {
                side.size = Some(*size);
                side.sha256 = Some(hex(sha256));
                side.executable = Some(*executable);
            }
            Node::Symlink { target } => side.target = Some(target.clone()),
            Node::Directory => {}
        }
        side
    }
}

/// One difference between the archive and the VCS tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EquivFinding {
    /// The stable kind.
    pub kind: EquivKind,
    /// Its severity.
    pub severity: Severity,
    /// The file's path, relative to the stripped top directory.
    pub file: String,
    /// For tarball-only files: the class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<FileClass>,
    /// Why, in words (for a known copy: its origin).
    pub detail: String,
    /// The archive's side, if the file is there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<FileSide>,
    /// The VCS tree's side, if the file is there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vcs: Option<FileSide>,
}

/// One input, as read.
#[derive(Debug, Clone, Serialize)]
pub struct InputInfo {
    /// The path or URL given.
    pub input: String,
    /// What it was read as.
    pub format: Format,
    /// The single top directory stripped, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stripped: Option<String>,
    /// Files (regular files and symlinks).
    pub files: usize,
    /// Bytes of file contents.
    pub bytes: u64,
}

impl InputInfo {
    fn of_listing(input: &str, side: &archive::Listing) -> InputInfo {
        InputInfo {
            input: input.to_owned(),
            format: side.format,
            stripped: side.stripped.clone(),
            files: side.manifest.files(),
            bytes: side.bytes,
        }
    }
}

/// The result of comparing an archive with a VCS tree.
#[derive(Debug, Clone, Serialize)]
pub struct EquivReport {
    /// The release archive.
    pub archive: InputInfo,
    /// The VCS tree.
    pub vcs: InputInfo,
    /// Files with identical content on both sides.
    pub identical: usize,
    /// Findings per kind (every kind, zero included).
    pub counts: BTreeMap<&'static str, usize>,
    /// Tarball-only files per class (every class, zero included).
    pub classes: BTreeMap<&'static str, usize>,
    /// The findings, by severity, kind and file.
    pub findings: Vec<EquivFinding>,
}

impl EquivReport {
    /// Whether any finding is at least as bad as `level`.
    pub fn fails_at(&self, level: Severity) -> bool {
        self.findings.iter().any(|f| f.severity <= level)
    }
}

/// Why a comparison could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EquivError {
    /// The archive side could not be read.
    #[error("reading the archive")]
    Archive(#[source] ArchiveError),
    /// The VCS side could not be read.
    #[error("reading the VCS tree")]
    Vcs(#[source] ArchiveError),
}

/// Reads both sides (in parallel) and compares them.
pub fn equiv(
    archive: &Path,
    vcs: &Path,
    shown: (&str, &str),
    known: &KnownCopies,
    limits: &Limits,
) -> Result<EquivReport, EquivError> {
    let (a, v) = rayon::join(|| archive::read_listing(archive, limits), || archive::read_listing(vcs, limits));
    let a = a.map_err(EquivError::Archive)?;
    let v = v.map_err(EquivError::Vcs)?;
    let (findings, identical) = merge(a.manifest.iter(), v.manifest.iter(), known);
    Ok(report(InputInfo::of_listing(shown.0, &a), InputInfo::of_listing(shown.1, &v), findings, identical))
}

/// One merge of two sides' entries, each sorted by path: the findings and the count of
/// identical files.
fn merge<'a>(
    a: impl Iterator<Item = (&'a str, &'a Node)>,
    v: impl Iterator<Item = (&'a str, &'a Node)>,
    known: &KnownCopies,
) -> (Vec<EquivFinding>, usize) {
    let mut findings = Vec::new();
    let mut identical = 0;
    let finding = |kind, severity, file: &str, detail: String| EquivFinding {
        kind,
        severity,
        file: file.to_owned(),
        class: None,
        detail,
        archive: None,
        vcs: None,
    };
    let mut ai = a.peekable();
    let mut vi = v.peekable();
    loop {
        let order = match (ai.peek(), vi.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((pa, _)), Some((pv, _))) => pa.cmp(pv),
        };
        match order {
            std::cmp::Ordering::Less => {
                let Some((path, node)) = ai.next() else { break };
                if matches!(node, Node::Directory) {
                    continue;
                }
                let (class, detail) = known::classify(path, node, known);
                let severity = match class {
                    FileClass::KnownCopy | FileClass::Generated => Severity::Info,
                    FileClass::UnknownBuildFile | FileClass::Other => Severity::Warning,
                };
                let mut f = finding(EquivKind::TarballOnlyFile, severity, path, detail);
                f.class = Some(class);
                f.archive = Some(FileSide::of(node));
                findings.push(f);
            }
            std::cmp::Ordering::Greater => {
                let Some((path, node)) = vi.next() else { break };
                if matches!(node, Node::Directory) {
                    continue;
                }
                let mut f = finding(EquivKind::VcsOnlyFile, Severity::Info, path, "not in the archive".into());
                f.vcs = Some(FileSide::of(node));
                findings.push(f);
            }
            std::cmp::Ordering::Equal => {
                let (Some((path, an)), Some((_, vn))) = (ai.next(), vi.next()) else { break };
                let Some(mut f) = pair(path, an, vn) else {
                    identical += usize::from(!matches!(an, Node::Directory));
                    continue;
                };
                f.archive = Some(FileSide::of(an));
                f.vcs = Some(FileSide::of(vn));
                findings.push(f);
            }
        }
    }
    findings.sort_by(|x, y| (x.severity, x.kind, &x.file).cmp(&(y.severity, y.kind, &y.file)));
    (findings, identical)
}

/// The report of a merge.
fn report(archive: InputInfo, vcs: InputInfo, findings: Vec<EquivFinding>, identical: usize) -> EquivReport {
    let mut counts: BTreeMap<&'static str, usize> = EquivKind::ALL.iter().map(|k| (k.as_str(), 0)).collect();
    let mut classes: BTreeMap<&'static str, usize> = FileClass::ALL.iter().map(|c| (c.as_str(), 0)).collect();
    for f in &findings {
        *counts.entry(f.kind.as_str()).or_default() += 1;
        if let Some(class) = f.class {
            *classes.entry(class.as_str()).or_default() += 1;
        }
    }
    EquivReport { archive, vcs, identical, counts, classes, findings }
}

/// The finding for a path on both sides, if they differ.
fn pair(path: &str, a: &Node, v: &Node) -> Option<EquivFinding> {
    let make = |kind, severity, detail: String| EquivFinding {
        kind,
        severity,
        file: path.to_owned(),
        class: None,
        detail,
        archive: None,
        vcs: None,
    };
    match (a, v) {
        (Node::Directory, Node::Directory) => None,
        (Node::File { executable: ea, size: sa, sha256: ha }, Node::File { executable: ev, sha256: hv, size: sv }) => {
            if ha != hv {
                return Some(match known::rewritten_reason(path) {
                    Some(reason) => make(EquivKind::TarballModifiedFile, Severity::Info, reason.to_owned()),
                    None => make(
                        EquivKind::TarballModifiedFile,
                        Severity::Error,
                        format!("the archive's bytes differ from the VCS tree's ({sa} vs {sv} bytes)"),
                    ),
                });
            }
            (ea != ev).then(|| {
                let which = if *ea { "executable in the archive only" } else { "executable in the VCS tree only" };
                make(EquivKind::ModeDifference, Severity::Warning, which.to_owned())
            })
        }
        (Node::Symlink { target: ta }, Node::Symlink { target: tv }) => (ta != tv).then(|| {
            make(
                EquivKind::SymlinkDifference,
                Severity::Error,
                format!("points to `{ta}` in the archive, `{tv}` in the VCS tree"),
            )
        }),
        (Node::Symlink { .. }, other) | (other, Node::Symlink { .. }) => Some(make(
            EquivKind::SymlinkDifference,
            Severity::Error,
            format!("a symlink on one side, a {} on the other", other.type_name()),
        )),
        (a, v) => Some(make(
            EquivKind::TarballModifiedFile,
            Severity::Error,
            format!("a {} in the archive, a {} in the VCS tree", a.type_name(), v.type_name()),
        )),
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A local path for an input given as a path, or `None` for a URL (which the caller downloads).
pub fn local_input(input: &str) -> Option<PathBuf> {
    let is_url = ["http://", "https://", "file://"].iter().any(|s| input.starts_with(s));
    (!is_url).then(|| PathBuf::from(input))
}

#[cfg(test)]
mod tests;
