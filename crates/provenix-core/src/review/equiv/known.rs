//! What a tarball-only file is: a known copy of a shared build file (by
//! content), `make dist` output (by path), something that looks like a
//! shared build file but matches no known copy (the xz case), or other.
//!
//! # The known-copy table
//!
//! `known-copies.txt` (next to this file) lists the first 16 bytes of the
//! sha256 of every m4 macro and helper script shipped by Debian's
//! autoconf-archive, automake, libtool, gettext, autopoint, autoconf and
//! gnulib packages, with its origin; `scripts/known-copies.sh` regenerates
//! it. It is compiled in, so the check works offline on any machine. The
//! system's own copies (`/usr/share/aclocal`, `/usr/share/automake*`,
//! `/usr/share/libtool`, `/usr/share/gettext*`) and `--known-copies DIR`
//! trees are added at run time. 128 bits of sha256 are far beyond what a
//! second-preimage search can reach, so a match means the same bytes.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use super::archive::{ArchiveError, Limits, Node, read_tree};

const TABLE: &str = include_str!("known-copies.txt");

/// Directories of the system whose files are known copies when present.
pub const SYSTEM_DIRS: &[&str] = &["/usr/share/aclocal", "/usr/share/libtool"];
/// Prefixes under `/usr/share` whose directories are known copies when present.
pub const SYSTEM_PREFIXES: &[&str] = &["automake", "gettext", "aclocal-"];

/// Content hashes of known upstream copies of shared build files.
#[derive(Debug, Clone, Default)]
pub struct KnownCopies {
    by_hash: HashMap<[u8; 16], String>,
}

impl KnownCopies {
    /// The table compiled into provenix.
    pub fn builtin() -> KnownCopies {
        let mut table = KnownCopies::default();
        for line in TABLE.lines().filter(|l| !l.starts_with('#')) {
            let mut parts = line.splitn(3, ' ');
            let (Some(hex), Some(package), Some(path)) = (parts.next(), parts.next(), parts.next()) else { continue };
            if let Some(key) = parse_hex16(hex) {
                table.by_hash.entry(key).or_insert_with(|| format!("{package} {path}"));
            }
        }
        table
    }

    /// How many distinct contents are known.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Adds every regular file of the tree or archive at `dir` (e.g. a gnulib checkout), with
    /// origin `<label> <path>`; returns how many files were read.
    pub fn add_tree(&mut self, dir: &Path, label: &str, limits: &Limits) -> Result<usize, ArchiveError> {
        let tree = read_tree(dir, limits)?;
        let mut n = 0;
        for (path, node) in &tree.entries {
            if let Node::File { sha256, .. } = node {
                n += 1;
                self.by_hash.entry(key(sha256)).or_insert_with(|| format!("{label} {path}"));
            }
        }
        Ok(n)
    }

    /// Adds the system's copies ([`SYSTEM_DIRS`], and `/usr/share/<prefix>*` for
    /// [`SYSTEM_PREFIXES`]) that exist; unreadable ones are skipped. Returns the directories read.
    pub fn add_system(&mut self, limits: &Limits) -> Vec<String> {
        let mut dirs: Vec<String> = SYSTEM_DIRS.iter().map(|d| (*d).to_owned()).collect();
        if let Ok(share) = std::fs::read_dir("/usr/share") {
            let mut found: Vec<String> = share
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| SYSTEM_PREFIXES.iter().any(|p| name.starts_with(p)))
                .map(|name| format!("/usr/share/{name}"))
                .collect();
            found.sort();
            dirs.extend(found);
        }
        dirs.retain(|d| Path::new(d).is_dir());
        dirs.dedup();
        dirs.retain(|d| self.add_tree(Path::new(d), &format!("system {d}"), limits).is_ok());
        dirs
    }

    /// The origin of a known copy with this content.
    pub fn origin(&self, sha256: &[u8; 32]) -> Option<&str> {
        self.by_hash.get(&key(sha256)).map(String::as_str)
    }
}

fn key(sha256: &[u8; 32]) -> [u8; 16] {
    let mut k = [0u8; 16];
    k.copy_from_slice(sha256.get(..16).unwrap_or(&[0; 16]));
    k
}

fn parse_hex16(hex: &str) -> Option<[u8; 16]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        let pair = std::str::from_utf8(bytes.get(2 * i..2 * i + 2)?).ok()?;
        *b = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

/// The class of a file found only in the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileClass {
    /// Same bytes as a known upstream copy of a shared build file.
    KnownCopy,
    /// `make dist` output.
    Generated,
    /// Looks like a shared build file (m4, build-aux) but matches no known copy.
    UnknownBuildFile,
    /// Anything else.
    Other,
}

impl FileClass {
    /// Every class, in order.
    pub const ALL: [FileClass; 4] =
        [FileClass::KnownCopy, FileClass::Generated, FileClass::UnknownBuildFile, FileClass::Other];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            FileClass::KnownCopy => "known-copy",
            FileClass::Generated => "generated",
            FileClass::UnknownBuildFile => "unknown-build-file",
            FileClass::Other => "other",
        }
    }
}

/// Helper scripts automake, libtool and gettext copy into a package (`build-aux/`).
const BUILD_SCRIPTS: &[&str] = &[
    "config.guess",
    "config.sub",
    "ltmain.sh",
    "install-sh",
    "depcomp",
    "missing",
    "compile",
    "ar-lib",
    "test-driver",
    "tap-driver.sh",
    "mkinstalldirs",
    "ylwrap",
    "py-compile",
    "config.rpath",
    "texinfo.tex",
    "mdate-sh",
    "gitlog-to-changelog",
    "git-version-gen",
];

/// gettext's `po/` infrastructure, copied by autopoint or gettextize.
const PO_INFRASTRUCTURE: &[&str] = &[
    "Makefile.in.in",
    "Rules-quot",
    "Makevars.template",
    "boldquot.sed",
    "quot.sed",
    "en@quot.header",
    "en@boldquot.header",
    "insert-header.sin",
    "remove-potcdate.sin",
    "stamp-po",
];

/// Whether `path` looks like a shared build file (an m4 macro or a helper script).
pub fn looks_like_build_file(path: &str) -> bool {
    let (dir, name) = split(path);
    name.ends_with(".m4")
        || BUILD_SCRIPTS.contains(&name)
        || dir.split('/').any(|c| c == "build-aux")
        || (dir.rsplit('/').next() == Some("po") && PO_INFRASTRUCTURE.contains(&name))
}

/// Why `path`, found only in the archive, is `make dist` output, if it is.
pub fn generated_reason(path: &str) -> Option<&'static str> {
    let (dir, name) = split(path);
    let in_po = dir.rsplit('/').next() == Some("po");
    let in_man = dir.split('/').any(|c| c == "man" || c == "doc");
    Some(match name {
        "configure" => "generated by autoconf",
        "Makefile.in" | "GNUmakefile.in" => "generated by automake",
        "aclocal.m4" => "generated by aclocal",
        "config.h.in" | "config.hin" => "generated by autoheader",
        ".tarball-version" | ".version" | "version.texi" | "stamp-vti" => "version stamp written by make dist",
        "ChangeLog" => "ChangeLog made from the git log at make dist",
        "INSTALL" | "ABOUT-NLS" => "copied by automake or gettextize",
        _ if name.ends_with(".gmo") => "compiled translation (msgfmt)",
        _ if name.ends_with(".pot") => "translation template (xgettext, po4a)",
        _ if in_po && name.ends_with(".po") => "translation added or refreshed for the release (msgmerge)",
        _ if in_po && PO_INFRASTRUCTURE.contains(&name) => "gettext's po/ infrastructure (autopoint)",
        _ if name.ends_with(".info") || name.contains(".info-") => "generated by makeinfo",
        _ if in_man && is_man_page(name) => "man page generated by help2man or po4a",
        _ => return None,
    })
}

/// Why a file in both trees with different content is one `make dist` rewrites, if it is.
pub fn rewritten_reason(path: &str) -> Option<&'static str> {
    let (dir, name) = split(path);
    let in_po = dir.rsplit('/').next() == Some("po");
    Some(match name {
        "ChangeLog" => "ChangeLog made from the git log at make dist",
        ".tarball-version" | ".version" | "version.texi" | "stamp-vti" => "version stamp written by make dist",
        _ if in_po && (name.ends_with(".po") || name.ends_with(".pot")) => "translation refreshed by msgmerge",
        _ => return None,
    })
}

fn is_man_page(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && ext.len() == 1 && ext.as_bytes().first().is_some_and(|c| (b'1'..=b'9').contains(c))
    })
}

fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

/// Classifies a tarball-only file: the class and why (the origin for a known copy).
pub fn classify(path: &str, node: &Node, known: &KnownCopies) -> (FileClass, String) {
    if let Node::File { sha256, .. } = node
        && let Some(origin) = known.origin(sha256)
    {
        return (FileClass::KnownCopy, origin.to_owned());
    }
    if let Some(reason) = generated_reason(path) {
        return (FileClass::Generated, reason.to_owned());
    }
    if looks_like_build_file(path) {
        return (
            FileClass::UnknownBuildFile,
            "looks like a shared build file but matches no known upstream copy (as xz's build-to-host.m4 did)".into(),
        );
    }
    (FileClass::Other, "not in the VCS tree".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::configure("configure", Some(FileClass::Generated))]
    #[case::nested_makefile_in("src/Makefile.in", Some(FileClass::Generated))]
    #[case::gmo("po/de.gmo", Some(FileClass::Generated))]
    #[case::po("po/de.po", Some(FileClass::Generated))]
    #[case::man("doc/xz.1", Some(FileClass::Generated))]
    #[case::m4("m4/build-to-host.m4", Some(FileClass::UnknownBuildFile))]
    #[case::build_aux("build-aux/config.guess", Some(FileClass::UnknownBuildFile))]
    #[case::source("src/liblzma/check.c", Some(FileClass::Other))]
    #[case::po_outside_po("tests/x.po", Some(FileClass::Other))]
    fn classifies_by_path(#[case] path: &str, #[case] class: Option<FileClass>) {
        let node = Node::File { executable: false, size: 1, sha256: [7; 32] };
        assert_eq!(Some(classify(path, &node, &KnownCopies::default()).0), class);
    }

    #[test]
    fn builtin_table_knows_automakes_install_sh() {
        let table = KnownCopies::builtin();
        assert!(table.len() > 1000, "{} known copies", table.len());
        let origins: Vec<&String> = table.by_hash.values().filter(|o| o.ends_with("/install-sh")).collect();
        assert!(origins.iter().any(|o| o.starts_with("automake_")), "{origins:?}");
    }

    #[test]
    fn a_known_copy_wins_over_the_path_rules() {
        let mut table = KnownCopies::default();
        table.by_hash.insert([7; 16], "gnulib_x usr/share/gnulib/m4/a.m4".into());
        let node = Node::File { executable: false, size: 1, sha256: [7; 32] };
        let (class, origin) = classify("m4/a.m4", &node, &table);
        assert_eq!(class, FileClass::KnownCopy);
        assert!(origin.starts_with("gnulib_x"));
    }
}
