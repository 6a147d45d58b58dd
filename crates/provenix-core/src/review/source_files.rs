//! The file-level diff of each changed source of a closure diff
//! (`provenix diff --files`): what a version bump changed inside the archive.
//!
//! For every source pair of [`super::closure_diff`] whose bytes changed (its
//! declared hash differs), both realised outputs are read with the `equiv`
//! reader ([`super::equiv::read_tree`]): tar (plain, gzip, xz, bzip2, zstd),
//! zip, NAR or a directory, streamed and hashed, never extracted, each
//! side's single top directory stripped (so `foo-1.0/` and `foo-1.1/` line
//! up). A flat source of kind `patch` is compared as one file, named by
//! the pairing key's source name. Then one merge over the two sorted path maps gives, per path,
//! the changes `diff-output` also uses: `modified` (other bytes), `added`,
//! `removed`, `type` (file, directory and symlink differ), `mode` (the
//! executable bit), `target` (a symlink's target); only `modified` and
//! `mode` come together. Directories are not entries of their own, as in
//! `equiv`: an added directory shows as its files.
//!
//! A side that is not in the store, or cannot be read, makes that source
//! `missing` or `unreadable` with the reason; the others are still compared.
//!
//! Cost: O(bytes of both archives) per source, sources in parallel; memory
//! O(entries).

use std::path::{Path, PathBuf};

use provenix_store::store::Store;
use rayon::prelude::*;
use serde::Serialize;

use super::closure_diff::SourceChange;
use super::equiv::{FileSide, Limits, Node, Tree, read_tree};
use crate::diff::Change;
use crate::fod::SourceKind;

/// Most changed paths listed per source; the summary counts them all.
pub const MAX_FILE_CHANGES: usize = 100_000;

/// A path that differs between the two versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileChange {
    /// Relative to the top of the source (its single top directory stripped).
    pub path: String,
    /// Any of `modified`, `added`, `removed`, `type`, `mode`, `target` (module docs).
    pub changes: Vec<Change>,
    /// The old side, absent for `added`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<FileSide>,
    /// The new side, absent for `removed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<FileSide>,
}

/// Counts over one source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FilesSummary {
    /// Files and symlinks on the old side.
    pub old_files: usize,
    /// On the new side.
    pub new_files: usize,
    /// Bytes of the old side's files.
    pub old_bytes: u64,
    /// Bytes of the new side's files.
    pub new_bytes: u64,
    /// Paths only on the new side.
    pub added: usize,
    /// Paths only on the old side.
    pub removed: usize,
    /// Files with other bytes.
    pub modified: usize,
    /// Paths whose type changed.
    pub type_changed: usize,
    /// Files whose executable bit changed.
    pub mode_changed: usize,
    /// Symlinks with another target.
    pub target_changed: usize,
    /// Files and symlinks the same on both sides.
    pub unchanged: usize,
    /// Bytes of the added files.
    pub bytes_added: u64,
    /// Bytes of the removed files.
    pub bytes_removed: u64,
}

/// Whether both sides of a source could be compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FilesStatus {
    /// Both sides were read and compared.
    Compared,
    /// A side is not in the store (not fetched yet).
    Missing,
    /// A side could not be read (corrupt, over a limit, not an archive).
    Unreadable,
}

impl FilesStatus {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            FilesStatus::Compared => "compared",
            FilesStatus::Missing => "missing",
            FilesStatus::Unreadable => "unreadable",
        }
    }
}

/// The file-level diff of one changed source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceFiles {
    /// The package of the pairing key.
    pub package: String,
    /// The source name of the pairing key.
    pub source: String,
    /// The old side's derivation name.
    pub old_name: String,
    /// The new side's.
    pub new_name: String,
    /// The old output path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    /// The new output path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_path: Option<String>,
    /// Compared, or why not.
    pub status: FilesStatus,
    /// Why not, when not compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What each side was read as (`tar-gz`, `directory`, `file`, ...), when compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_format: Option<&'static str>,
    /// The new side's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_format: Option<&'static str>,
    /// Counts (zero when not compared).
    pub summary: FilesSummary,
    /// The changed paths, sorted; at most [`MAX_FILE_CHANGES`].
    pub files: Vec<FileChange>,
    /// More paths changed than are listed.
    pub files_truncated: bool,
}

/// The changes of one path on both sides, if any.
fn changes_of(old: &Node, new: &Node) -> Vec<Change> {
    match (old, new) {
        (Node::File { executable: eo, sha256: ho, .. }, Node::File { executable: en, sha256: hn, .. }) => {
            let mut c = Vec::new();
            if ho != hn {
                c.push(Change::Modified);
            }
            if eo != en {
                c.push(Change::Mode);
            }
            c
        }
        (Node::Symlink { target: to }, Node::Symlink { target: tn }) if to != tn => vec![Change::Target],
        (Node::Symlink { .. }, Node::Symlink { .. }) | (Node::Directory, Node::Directory) => Vec::new(),
        _ => vec![Change::Type],
    }
}

/// Compares two trees: counts, and the changed paths in path order.
pub fn compare_trees(old: &Tree, new: &Tree) -> (FilesSummary, Vec<FileChange>, bool) {
    let mut s = FilesSummary::default();
    let mut files = Vec::new();
    let mut truncated = false;
    let is_dir = |n: &Node| matches!(n, Node::Directory);
    for n in old.entries.values().filter(|n| !is_dir(n)) {
        s.old_files += 1;
        s.old_bytes += size_of(n);
    }
    for n in new.entries.values().filter(|n| !is_dir(n)) {
        s.new_files += 1;
        s.new_bytes += size_of(n);
    }
    let mut push = |files: &mut Vec<FileChange>, change: FileChange| {
        if files.len() < MAX_FILE_CHANGES {
            files.push(change);
        } else {
            truncated = true;
        }
    };
    let (mut oi, mut ni) = (old.entries.iter().peekable(), new.entries.iter().peekable());
    loop {
        let order = match (oi.peek(), ni.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((po, _)), Some((pn, _))) => po.cmp(pn),
        };
        match order {
            std::cmp::Ordering::Less => {
                let Some((path, node)) = oi.next() else { break };
                if is_dir(node) {
                    continue;
                }
                s.removed += 1;
                s.bytes_removed += size_of(node);
                let change = FileChange {
                    path: path.clone(),
                    changes: vec![Change::Removed],
                    old: Some(FileSide::of(node)),
                    new: None,
                };
                push(&mut files, change);
            }
            std::cmp::Ordering::Greater => {
                let Some((path, node)) = ni.next() else { break };
                if is_dir(node) {
                    continue;
                }
                s.added += 1;
                s.bytes_added += size_of(node);
                let change = FileChange {
                    path: path.clone(),
                    changes: vec![Change::Added],
                    old: None,
                    new: Some(FileSide::of(node)),
                };
                push(&mut files, change);
            }
            std::cmp::Ordering::Equal => {
                let (Some((path, o)), Some((_, n))) = (oi.next(), ni.next()) else { break };
                let changes = changes_of(o, n);
                if changes.is_empty() {
                    s.unchanged += usize::from(!is_dir(o));
                    continue;
                }
                for c in &changes {
                    match c {
                        Change::Modified => s.modified += 1,
                        Change::Mode => s.mode_changed += 1,
                        Change::Target => s.target_changed += 1,
                        Change::Type | Change::Added | Change::Removed => s.type_changed += 1,
                    }
                }
                let change =
                    FileChange { path: path.clone(), changes, old: Some(FileSide::of(o)), new: Some(FileSide::of(n)) };
                push(&mut files, change);
            }
        }
    }
    (s, files, truncated)
}

fn size_of(n: &Node) -> u64 {
    match n {
        Node::File { size, .. } => *size,
        _ => 0,
    }
}

/// Reads one side: an archive or directory as a tree, a flat patch as one file named `as_file`
/// (the source name, the same on both sides where the store paths differ).
fn read_side(path: &Path, as_file: Option<&str>, limits: &Limits) -> Result<(Tree, &'static str), String> {
    if let Some(name) = as_file {
        let len = std::fs::metadata(path).map_err(|e| format!("reading {}: {e}", path.display()))?.len();
        if len > limits.max_bytes {
            return Err(format!("{}: {len} bytes, more than the limit of {}", path.display(), limits.max_bytes));
        }
        let (hash, size) = provenix_store::nar::hash_file_flat(path, provenix_formats::hash::HashAlgo::Sha256)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let sha256 = <[u8; 32]>::try_from(hash.digest()).map_err(|_| format!("{}: not a sha256", path.display()))?;
        let node = Node::File { executable: false, size, sha256 };
        let tree = Tree {
            format: super::equiv::Format::Directory,
            stripped: None,
            entries: [(name.to_owned(), node)].into_iter().collect(),
            bytes: size,
        };
        return Ok((tree, "file"));
    }
    let tree = read_tree(path, limits).map_err(|e| format!("{:#}", crate::verify::chain(&e)))?;
    let format = tree.format.as_str();
    Ok((tree, format))
}

/// The file-level diff of each change whose declared hash changed, in the order given
/// (module docs). Sides are found in `store` by their output paths.
pub fn source_files(store: &Store, changes: &[SourceChange], limits: &Limits) -> Vec<SourceFiles> {
    changes.par_iter().filter(|c| c.changed.contains(&"hash")).map(|c| one(store, c, limits)).collect()
}

fn one(store: &Store, c: &SourceChange, limits: &Limits) -> SourceFiles {
    let mut out = SourceFiles {
        package: c.package.clone(),
        source: c.source.clone(),
        old_name: c.old.name.clone(),
        new_name: c.new.name.clone(),
        old_path: c.old.output_path.clone(),
        new_path: c.new.output_path.clone(),
        status: FilesStatus::Compared,
        reason: None,
        old_format: None,
        new_format: None,
        summary: FilesSummary::default(),
        files: Vec::new(),
        files_truncated: false,
    };
    let physical = |side: &super::closure_diff::SourceSide| -> Result<PathBuf, (FilesStatus, String)> {
        let Some(out) = &side.output_path else {
            return Err((FilesStatus::Missing, format!("{} has no known output path", side.drv_path)));
        };
        let path = store.parse_user_path(out).map_err(|e| (FilesStatus::Unreadable, crate::verify::chain(&e)))?;
        let physical = store.physical(&path);
        if physical.symlink_metadata().is_err() {
            return Err((
                FilesStatus::Missing,
                format!("{out} is not in the store; fetch it with `nix-store --realise {}`", side.drv_path),
            ));
        }
        Ok(physical)
    };
    let sides = physical(&c.old).and_then(|o| Ok((o, physical(&c.new)?)));
    let (old_path, new_path) = match sides {
        Ok(p) => p,
        Err((status, reason)) => {
            out.status = status;
            out.reason = Some(reason);
            return out;
        }
    };
    let as_file = |s: &super::closure_diff::SourceSide| {
        (s.mode == "flat" && s.kind == SourceKind::Patch).then_some(c.source.as_str())
    };
    let (old, new) =
        rayon::join(|| read_side(&old_path, as_file(&c.old), limits), || read_side(&new_path, as_file(&c.new), limits));
    match (old, new) {
        (Ok((old, of)), Ok((new, nf))) => {
            let (summary, files, truncated) = compare_trees(&old, &new);
            out.old_format = Some(of);
            out.new_format = Some(nf);
            out.summary = summary;
            out.files = files;
            out.files_truncated = truncated;
        }
        (Err(reason), _) | (_, Err(reason)) => {
            out.status = FilesStatus::Unreadable;
            out.reason = Some(reason);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::review::equiv::Format;

    fn file(byte: u8, size: u64, executable: bool) -> Node {
        Node::File { executable, size, sha256: [byte; 32] }
    }

    fn tree(entries: &[(&str, Node)]) -> Tree {
        let entries: BTreeMap<String, Node> = entries.iter().map(|(p, n)| ((*p).to_owned(), n.clone())).collect();
        Tree { format: Format::Directory, stripped: None, entries, bytes: 0 }
    }

    #[test]
    fn every_kind_of_change_is_found_in_path_order() {
        let link = |t: &str| Node::Symlink { target: t.to_owned() };
        let old = tree(&[
            ("README", file(1, 10, false)),
            ("configure", file(2, 20, false)),
            ("gone.c", file(3, 30, false)),
            ("lib", Node::Directory),
            ("lib/a.c", file(4, 40, false)),
            ("link", link("README")),
            ("same.c", file(5, 50, false)),
            ("x", file(6, 60, false)),
        ]);
        let new = tree(&[
            ("README", file(9, 11, false)),
            ("configure", file(2, 20, true)),
            ("lib", Node::Directory),
            ("lib/a.c", file(4, 40, false)),
            ("lib/new.c", file(7, 70, false)),
            ("link", link("lib/a.c")),
            ("same.c", file(5, 50, false)),
            ("x", Node::Directory),
        ]);
        let (s, files, truncated) = compare_trees(&old, &new);
        assert!(!truncated);
        let got: Vec<(&str, Vec<Change>)> = files.iter().map(|f| (f.path.as_str(), f.changes.clone())).collect();
        assert_eq!(
            got,
            vec![
                ("README", vec![Change::Modified]),
                ("configure", vec![Change::Mode]),
                ("gone.c", vec![Change::Removed]),
                ("lib/new.c", vec![Change::Added]),
                ("link", vec![Change::Target]),
                ("x", vec![Change::Type]),
            ]
        );
        assert_eq!(
            (s.added, s.removed, s.modified, s.mode_changed, s.target_changed, s.type_changed),
            (1, 1, 1, 1, 1, 1)
        );
        assert_eq!((s.unchanged, s.bytes_added, s.bytes_removed), (2, 70, 30));
        assert_eq!((s.old_files, s.new_files, s.old_bytes, s.new_bytes), (7, 6, 210, 191));
        assert_eq!(files[0].old.as_ref().unwrap().size, Some(10));
        assert_eq!(files[0].new.as_ref().unwrap().size, Some(11));
    }
}
