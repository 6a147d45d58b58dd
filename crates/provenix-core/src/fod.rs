//! Fixed-output derivations (FODs) seen as sources: where they fetch from and
//! what kind of source they are.
//!
//! A FOD is the only kind of derivation allowed to use the network, so the
//! FODs in a closure are its sources. This module reads what a `.drv`
//! declares; it fetches nothing and runs nothing.
//!
//! # Attributes
//!
//! Fetchers pass their arguments as derivation attributes. Without
//! `__structuredAttrs` Nix turns each into an env var: lists become their
//! elements joined by spaces, `true` becomes `"1"` and `false` `""`. With
//! `__structuredAttrs = true` (nixpkgs' `fetchgit` uses it today) Nix puts
//! them all into one JSON document, the `__json` env var, with real lists and
//! booleans, and sets no other env vars from them. Every rule below reads an
//! attribute the same way from either place: a flag is set when it is `true`
//! or `"1"`, a list is a JSON array of strings or a space-separated string.
//!
//! Env values are bytes and need not be UTF-8 (`builtins.readFile` of a
//! latin-1 file puts raw bytes there). They are decoded lossily: each invalid
//! sequence becomes U+FFFD, so a URL with such bytes is reported, just not
//! byte for byte. The `__json` text is decoded the same way before parsing,
//! since Nix 2.8 copies string bytes into it unchanged. A `__json` that is
//! not a JSON object (which Nix never writes) reads as having no attributes;
//! so does one nested deeper than serde_json's limit of 128, which keeps a
//! hostile document from exhausting the stack.
//!
//! # URLs ([`fod_urls`])
//!
//! The attribute `urls` (nixpkgs' `fetchurl`, Nix's `<nix/fetchurl.nix>`),
//! split on spaces; if that gives none, the attribute `url` as one URL
//! (`builtin:fetchurl`, `fetchgit`, `fetchhg`, `fetchsvn`, `fetchbzr`).
//! Empty entries are dropped and a URL that appears twice is kept at its
//! first place. `fetchcvs` declares a CVS root and module rather than a URL,
//! so it has none.
//!
//! # Kinds ([`classify`])
//!
//! The rules run in this order and the first that matches wins. "Name" is
//! the derivation name, "file" the last path segment of a declared URL (query
//! and fragment removed); both are compared in ASCII lowercase. "Tools" are
//! the package names (store path names without hash and version) in
//! `nativeBuildInputs` and `buildInputs`.
//!
//! 1. **bootstrap**: the builder is `builtin:fetchurl` and the fetch is
//!    `executable` or `unpack` (stdenv's busybox and `unpack.nar.xz` seeds:
//!    Nix's built-in fetcher runs no code, so stdenv uses it only for seeds
//!    that need no tools); or the name or a file starts with
//!    `bootstrap-tools` or `bootstrap-seeds`, or the name is
//!    `stage0-posix-*-source` (minimal-bootstrap's seed); or a URL lies under
//!    `tarballs.nixos.org/stdenv` (where nixpkgs uploads its bootstrap files).
//! 2. **vendor**: the name ends with `-vendor` or contains `-vendor.tar`,
//!    `-vendor-staging`, `cargo-deps`, `go-modules`, `npm-deps`, `yarn-deps`,
//!    `pnpm-deps`, `maven-deps`, `gradle-deps`, `mix-deps`, `node_modules` or
//!    `node-modules`; or a tool is `fetch-cargo-vendor-util`,
//!    `prefetch-npm-deps` or `prefetch-yarn-deps`. This runs before the VCS
//!    rules because vendoring FODs carry `git` as a tool (Go modules, Cargo
//!    git dependencies), and before the archive rule because of names like
//!    `foo-vendor.tar.gz`.
//! 3. **git**, by `fetchgit`'s own attributes: `fetcher` names
//!    `nix-prefetch-git`, or any of `leaveDotGit`, `fetchSubmodules`,
//!    `deepClone`, `fetchLFS`, `branchName`, `sparseCheckout`, `nonConeMode`,
//!    `fetchTags`, `gitConfigFile` is present (set or not).
//! 4. **cvs**: a `cvsRoot` attribute, the tool `cvs`, or the name
//!    `cvs-export`.
//! 5. **svn**: an `ignoreExternals` or `ignoreKeywords` attribute, the tool
//!    `subversion`, or a `svn://` / `svn+ssh://` URL.
//! 6. **hg**: a `subrepoClause` attribute, the tool `mercurial`, or a name
//!    starting with `hg-archive`.
//! 7. **bzr**: the tool `breezy` or `bazaar`, the name `bzr-export`, or a
//!    `bzr://`, `bzr+ssh://` or `lp:` URL.
//! 8. **git**, by weaker evidence: a URL with scheme `git://` or `git+...`
//!    or whose path ends in `.git`; or a `rev` attribute together with the
//!    tool `git` or `git-minimal`.
//! 9. **patch**: the name or a file ends in `.patch`, `.diff`, `.patch.gz`
//!    or `.diff.gz`, or `postFetch` runs `lsdiff` or `filterdiff` (how
//!    `fetchpatch` normalises a patch).
//! 10. **tarball**: the name or a file ends in an archive extension (`.tar`,
//!     `.tar.gz`, `.tgz`, `.tar.xz`, `.txz`, `.tar.bz2`, `.tbz`, `.tbz2`,
//!     `.tar.zst`, `.tzst`, `.tar.lz`, `.tar.lzma`, `.tlz`, `.tar.lz4`,
//!     `.tar.z`, `.zip`, `.7z`, `.gem`, `.crate`, `.whl`, `.egg`, `.jar`,
//!     `.nupkg`, `.deb`, `.rpm`, `.xpi`, `.vsix`); or `postFetch` runs
//!     `unpackFile` or there is a `stripRoot` attribute (`fetchzip`, hence
//!     `fetchFromGitHub` and friends, whose name is just `source`).
//! 11. **other**: everything else, e.g. a single data file.
//!
//! # Cost
//!
//! Linear in the size of the env (and of `__json`, parsed once per call).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use provenix_formats::derivation::Derivation;
use provenix_formats::hash::Hash;
use provenix_formats::store_path::ContentAddressMethod;
use serde_json::{Map, Value};

use crate::mirrors::{MirrorTable, Resolved};

/// The builder of Nix's built-in fetcher.
pub const BUILTIN_FETCHURL: &str = "builtin:fetchurl";

/// What kind of source a FOD provides. [`SourceKind::as_str`] is a stable
/// lowercase name, fit for reports and JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum SourceKind {
    /// An archive or packaged file (`.tar.gz`, `.zip`, `.crate`, `.whl`, ...),
    /// fetched as is or unpacked (`fetchzip`, `fetchFromGitHub`).
    Tarball,
    /// A git checkout (`fetchgit`, `fetchFromGitHub` with submodules).
    Git,
    /// A Mercurial checkout (`fetchhg`).
    Hg,
    /// A Subversion checkout (`fetchsvn`).
    Svn,
    /// A CVS checkout (`fetchcvs`).
    Cvs,
    /// A Bazaar/Breezy checkout (`fetchbzr`).
    Bzr,
    /// A patch (`fetchpatch`, `.patch` and `.diff` files).
    Patch,
    /// A vendored dependency set (Cargo, Go modules, npm, yarn, pnpm, Maven, ...).
    Vendor,
    /// A bootstrap seed: stdenv's bootstrap tools and the binaries that unpack them.
    Bootstrap,
    /// Anything else.
    Other,
}

impl SourceKind {
    /// Every kind, in declaration order.
    pub const ALL: [SourceKind; 10] = [
        SourceKind::Tarball,
        SourceKind::Git,
        SourceKind::Hg,
        SourceKind::Svn,
        SourceKind::Cvs,
        SourceKind::Bzr,
        SourceKind::Patch,
        SourceKind::Vendor,
        SourceKind::Bootstrap,
        SourceKind::Other,
    ];

    /// The stable lowercase name: `tarball`, `git`, `hg`, `svn`, `cvs`,
    /// `bzr`, `patch`, `vendor`, `bootstrap`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Tarball => "tarball",
            SourceKind::Git => "git",
            SourceKind::Hg => "hg",
            SourceKind::Svn => "svn",
            SourceKind::Cvs => "cvs",
            SourceKind::Bzr => "bzr",
            SourceKind::Patch => "patch",
            SourceKind::Vendor => "vendor",
            SourceKind::Bootstrap => "bootstrap",
            SourceKind::Other => "other",
        }
    }

    /// The kind with this [`as_str`](SourceKind::as_str) name.
    pub fn from_name(name: &str) -> Option<SourceKind> {
        SourceKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// True for a version-control checkout (git, hg, svn, cvs, bzr).
    pub fn is_vcs(self) -> bool {
        matches!(self, SourceKind::Git | SourceKind::Hg | SourceKind::Svn | SourceKind::Cvs | SourceKind::Bzr)
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for SourceKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Attributes worth a hygiene check, from the derivation's attributes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FodFlags {
    /// `__impure` is set.
    pub impure: bool,
    /// `__noChroot` is set: the build asks to run outside the sandbox.
    pub no_chroot: bool,
    /// `executable` is set: the fetched file is made executable.
    pub executable: bool,
    /// `postFetch` is non-empty (not only whitespace): code runs on the fetched bytes.
    pub has_post_fetch: bool,
    /// The builder is `builtin:fetchurl`.
    pub builtin_fetchurl: bool,
}

/// A FOD described as a source. Built by [`FodInfo::from_derivation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FodInfo {
    /// The derivation name.
    pub name: String,
    /// The URLs as declared ([`fod_urls`]).
    pub urls: Vec<String>,
    /// The declared URLs with `mirror://` expanded, in order, each once.
    pub resolved_urls: Vec<String>,
    /// Mirror sites used by a `mirror://` URL that the table lacks, each once.
    pub unknown_mirrors: Vec<String>,
    /// How the output is hashed.
    pub method: ContentAddressMethod,
    /// The expected hash of the output.
    pub hash: Hash,
    /// What kind of source this is ([`classify`]).
    pub kind: SourceKind,
    /// Attributes worth a hygiene check.
    pub flags: FodFlags,
}

impl FodInfo {
    /// Describes `drv` as a source, or `None` if it is not a FOD.
    ///
    /// `drv_path_name` is the derivation name taken from its `.drv` path, as
    /// [`drv_name`] gives it (`hello-2.12.tar.gz`); a trailing `.drv` is
    /// removed, so the store path's name works too. It is used rather than
    /// the `name` attribute, which structured attrs keep inside `__json`.
    ///
    /// [`drv_name`]: provenix_formats::derivation::drv_name
    pub fn from_derivation(drv_path_name: &str, drv: &Derivation, mirrors: &MirrorTable) -> Option<FodInfo> {
        let (method, hash, _) = drv.fixed_output()?;
        let name = drv_path_name.strip_suffix(".drv").unwrap_or(drv_path_name);
        let attrs = Attrs::of(drv);
        let urls = urls_from(&attrs);
        let mut resolved = Unique::default();
        let mut unknown = Unique::default();
        for url in &urls {
            match mirrors.resolve(url) {
                Resolved::Plain(url) => resolved.push(url),
                Resolved::Mirrored { urls, .. } => urls.into_iter().for_each(|u| resolved.push(u)),
                Resolved::UnknownMirror { mirror } => unknown.push(mirror),
            }
        }
        let builtin_fetchurl = drv.builder() == BUILTIN_FETCHURL.as_bytes();
        let kind = classify_attrs(name, &attrs, builtin_fetchurl, &urls);
        let flags = FodFlags {
            impure: attrs.flag("__impure"),
            no_chroot: attrs.flag("__noChroot"),
            executable: attrs.flag("executable"),
            has_post_fetch: attrs.text("postFetch").is_some_and(|s| !s.trim().is_empty()),
            builtin_fetchurl,
        };
        Some(FodInfo {
            name: name.to_owned(),
            urls,
            resolved_urls: resolved.items,
            unknown_mirrors: unknown.items,
            method,
            hash: *hash,
            kind,
            flags,
        })
    }
}

/// The URLs `drv` declares (rules in the [module docs](self)). It does not
/// check that `drv` is a FOD.
pub fn fod_urls(drv: &Derivation) -> Vec<String> {
    urls_from(&Attrs::of(drv))
}

/// The kind of source `drv` provides, given its name and its declared URLs
/// (as [`fod_urls`] returns them). Rules and their order are in the
/// [module docs](self); the first that matches wins.
pub fn classify(name: &str, drv: &Derivation, urls: &[String]) -> SourceKind {
    classify_attrs(name, &Attrs::of(drv), drv.builder() == BUILTIN_FETCHURL.as_bytes(), urls)
}

/// A derivation's attributes: its env, or its structured attributes.
pub(crate) enum Attrs<'a> {
    /// Plain env vars.
    Env(&'a Derivation),
    /// The `__json` object (empty if it does not parse as an object).
    Structured(Map<String, Value>),
}

impl<'a> Attrs<'a> {
    pub(crate) fn of(drv: &'a Derivation) -> Attrs<'a> {
        match drv.structured_attrs() {
            None => Attrs::Env(drv),
            Some(json) => {
                let text = String::from_utf8_lossy(json);
                match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(map)) => Attrs::Structured(map),
                    _ => Attrs::Structured(Map::new()),
                }
            }
        }
    }

    fn has(&self, key: &str) -> bool {
        match self {
            Attrs::Env(drv) => drv.env_var(key.as_bytes()).is_some(),
            Attrs::Structured(map) => map.contains_key(key),
        }
    }

    /// A string attribute; JSON booleans read as Nix writes them in env
    /// vars (`"1"`, `""`), numbers as their JSON text.
    pub(crate) fn text(&self, key: &str) -> Option<Cow<'_, str>> {
        match self {
            Attrs::Env(drv) => drv.env_var(key.as_bytes()).map(String::from_utf8_lossy),
            Attrs::Structured(map) => match map.get(key)? {
                Value::String(s) => Some(Cow::Borrowed(s.as_str())),
                Value::Bool(b) => Some(Cow::Borrowed(if *b { "1" } else { "" })),
                Value::Number(n) => Some(Cow::Owned(n.to_string())),
                Value::Null | Value::Array(_) | Value::Object(_) => None,
            },
        }
    }

    /// True if the attribute is `true` or `"1"`.
    fn flag(&self, key: &str) -> bool {
        self.text(key).is_some_and(|v| v == "1")
    }

    /// A list attribute: a JSON array's strings, or a string split on spaces.
    pub(crate) fn list(&self, key: &str) -> Vec<String> {
        if let Attrs::Structured(map) = self {
            if let Some(Value::Array(items)) = map.get(key) {
                return items
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|s| !s.trim().is_empty())
                    .map(str::to_owned)
                    .collect();
            }
        }
        self.text(key).map(|v| v.split_ascii_whitespace().map(str::to_owned).collect()).unwrap_or_default()
    }
}

/// Strings in first-seen order, each once.
#[derive(Default)]
struct Unique {
    items: Vec<String>,
    seen: HashSet<String>,
}

impl Unique {
    fn push(&mut self, item: String) {
        if self.seen.insert(item.clone()) {
            self.items.push(item);
        }
    }
}

fn urls_from(attrs: &Attrs<'_>) -> Vec<String> {
    let mut urls = Unique::default();
    for url in attrs.list("urls") {
        urls.push(url);
    }
    if urls.items.is_empty() {
        if let Some(url) = attrs.text("url").map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()) {
            urls.push(url);
        }
    }
    urls.items
}

/// What the rules look at, computed once.
struct Evidence<'a> {
    attrs: &'a Attrs<'a>,
    builtin_fetchurl: bool,
    /// The derivation name, lowercase.
    name: String,
    /// The declared URLs.
    urls: &'a [String],
    /// The last path segment of each URL, lowercase.
    files: Vec<String>,
    /// Package names of the build inputs.
    tools: Vec<String>,
    /// `postFetch`, or empty.
    post_fetch: String,
}

impl Evidence<'_> {
    fn name_or_file(&self, test: impl Fn(&str) -> bool) -> bool {
        test(&self.name) || self.files.iter().any(|f| test(f))
    }

    fn has_tool(&self, wanted: &[&str]) -> bool {
        self.tools.iter().any(|t| wanted.contains(&t.as_str()))
    }

    fn any_url(&self, test: impl Fn(&str) -> bool) -> bool {
        self.urls.iter().any(|u| test(u))
    }
}

fn classify_attrs(name: &str, attrs: &Attrs<'_>, builtin_fetchurl: bool, urls: &[String]) -> SourceKind {
    let tools = ["nativeBuildInputs", "buildInputs"]
        .into_iter()
        .flat_map(|key| attrs.list(key))
        .filter_map(|path| package_name(&path).map(str::to_owned))
        .collect();
    let ev = Evidence {
        attrs,
        builtin_fetchurl,
        name: name.to_ascii_lowercase(),
        urls,
        files: urls.iter().map(|u| last_segment(url_path(u)).to_ascii_lowercase()).collect(),
        tools,
        post_fetch: attrs.text("postFetch").map(Cow::into_owned).unwrap_or_default(),
    };
    if is_bootstrap(&ev) {
        SourceKind::Bootstrap
    } else if is_vendor(&ev) {
        SourceKind::Vendor
    } else if let Some(vcs) = vcs_kind(&ev) {
        vcs
    } else if is_patch(&ev) {
        SourceKind::Patch
    } else if is_archive(&ev) {
        SourceKind::Tarball
    } else {
        SourceKind::Other
    }
}

fn is_bootstrap(ev: &Evidence<'_>) -> bool {
    let seed_fetch = ev.builtin_fetchurl && (ev.attrs.flag("executable") || ev.attrs.flag("unpack"));
    let seed_name = ev.name_or_file(|n| n.starts_with("bootstrap-tools") || n.starts_with("bootstrap-seeds"))
        || (ev.name.starts_with("stage0-posix-") && ev.name.ends_with("-source"));
    seed_fetch || seed_name || ev.any_url(|u| host_and_path(u).starts_with("tarballs.nixos.org/stdenv"))
}

/// Name markers of vendoring FODs (rule 2).
const VENDOR_MARKERS: &[&str] = &[
    "-vendor.tar",
    "-vendor-staging",
    "cargo-deps",
    "go-modules",
    "npm-deps",
    "yarn-deps",
    "pnpm-deps",
    "maven-deps",
    "gradle-deps",
    "mix-deps",
    "node_modules",
    "node-modules",
];

fn is_vendor(ev: &Evidence<'_>) -> bool {
    ev.name.ends_with("-vendor")
        || VENDOR_MARKERS.iter().any(|m| ev.name.contains(m))
        || ev.has_tool(&["fetch-cargo-vendor-util", "prefetch-npm-deps", "prefetch-yarn-deps"])
}

/// Attributes only `fetchgit` sets (rule 3).
const GIT_ATTRS: &[&str] = &[
    "leaveDotGit",
    "fetchSubmodules",
    "deepClone",
    "fetchLFS",
    "branchName",
    "sparseCheckout",
    "nonConeMode",
    "fetchTags",
    "gitConfigFile",
];

fn vcs_kind(ev: &Evidence<'_>) -> Option<SourceKind> {
    let attrs = ev.attrs;
    let git_fetcher = attrs.text("fetcher").is_some_and(|f| f.contains("nix-prefetch-git"));
    if git_fetcher || GIT_ATTRS.iter().any(|k| attrs.has(k)) {
        return Some(SourceKind::Git);
    }
    if attrs.has("cvsRoot") || ev.has_tool(&["cvs"]) || ev.name == "cvs-export" {
        return Some(SourceKind::Cvs);
    }
    if attrs.has("ignoreExternals")
        || attrs.has("ignoreKeywords")
        || ev.has_tool(&["subversion"])
        || ev.any_url(|u| u.starts_with("svn://") || u.starts_with("svn+ssh://"))
    {
        return Some(SourceKind::Svn);
    }
    if attrs.has("subrepoClause") || ev.has_tool(&["mercurial"]) || ev.name.starts_with("hg-archive") {
        return Some(SourceKind::Hg);
    }
    if ev.has_tool(&["breezy", "bazaar"])
        || ev.name == "bzr-export"
        || ev.any_url(|u| u.starts_with("bzr://") || u.starts_with("bzr+ssh://") || u.starts_with("lp:"))
    {
        return Some(SourceKind::Bzr);
    }
    let git_url = |u: &str| u.starts_with("git://") || u.starts_with("git+") || url_path(u).ends_with(".git");
    if ev.any_url(git_url) || (attrs.has("rev") && ev.has_tool(&["git", "git-minimal"])) {
        return Some(SourceKind::Git);
    }
    None
}

fn is_patch(ev: &Evidence<'_>) -> bool {
    const PATCH_EXTENSIONS: &[&str] = &[".patch", ".diff", ".patch.gz", ".diff.gz"];
    ev.name_or_file(|n| PATCH_EXTENSIONS.iter().any(|e| n.ends_with(e)))
        || ev.post_fetch.contains("lsdiff")
        || ev.post_fetch.contains("filterdiff")
}

/// Archive extensions (rule 10), lowercase.
const ARCHIVE_EXTENSIONS: &[&str] = &[
    ".tar",
    ".tar.gz",
    ".tgz",
    ".tar.xz",
    ".txz",
    ".tar.bz2",
    ".tbz",
    ".tbz2",
    ".tar.zst",
    ".tzst",
    ".tar.lz",
    ".tar.lzma",
    ".tlz",
    ".tar.lz4",
    ".tar.z",
    ".zip",
    ".7z",
    ".gem",
    ".crate",
    ".whl",
    ".egg",
    ".jar",
    ".nupkg",
    ".deb",
    ".rpm",
    ".xpi",
    ".vsix",
];

fn is_archive(ev: &Evidence<'_>) -> bool {
    ev.name_or_file(|n| ARCHIVE_EXTENSIONS.iter().any(|e| n.ends_with(e)))
        || ev.post_fetch.contains("unpackFile")
        || ev.attrs.has("stripRoot")
}

/// The URL without its query and fragment.
pub(crate) fn url_path(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    url.get(..end).unwrap_or(url)
}

/// The last non-empty `/`-separated segment (a trailing `/` is ignored).
pub(crate) fn last_segment(path: &str) -> &str {
    let path = path.trim_end_matches('/');
    path.rsplit('/').next().unwrap_or(path)
}

/// `host/path` of `scheme://host/path`, or the URL itself without a scheme.
fn host_and_path(url: &str) -> &str {
    url.split_once("://").map_or(url, |(_, rest)| rest)
}

/// The package name of a store path: `/nix/store/<hash>-git-2.44.0` gives
/// `git`. Version-like parts (from the first `-` followed by a digit) are
/// dropped; `None` if nothing is left or the name starts with a digit.
fn package_name(path: &str) -> Option<&str> {
    let base = last_segment(path);
    // A store path's base name is a 32-character hash, `-`, then the name.
    let name = match base.split_once('-') {
        Some((hash, rest)) if hash.len() == 32 => rest,
        _ => base,
    };
    let end = name
        .match_indices('-')
        .find(|(i, _)| name.get(i + 1..).is_some_and(|after| after.starts_with(|c: char| c.is_ascii_digit())))
        .map_or(name.len(), |(i, _)| i);
    name.get(..end).filter(|n| n.starts_with(|c: char| !c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use provenix_formats::derivation::{BString, DerivationParts, Output, OutputName};
    use provenix_formats::hash::HashAlgo;
    use provenix_formats::store_path::StorePath;
    use rstest::rstest;

    use super::*;

    /// A 32-character store hash; `@/` in test strings stands for `/nix/store/<HASH>-`.
    const HASH: &str = "0123456789abcdfghijklmnpqrsvwxyz";

    fn expand(s: &[u8]) -> Vec<u8> {
        let prefix = format!("/nix/store/{HASH}-");
        let mut out = Vec::with_capacity(s.len());
        let mut rest = s;
        while let Some(pos) = rest.windows(2).position(|w| w == b"@/") {
            out.extend_from_slice(&rest[..pos]);
            out.extend_from_slice(prefix.as_bytes());
            rest = &rest[pos + 2..];
        }
        out.extend_from_slice(rest);
        out
    }

    fn drv_with_output(output: Output, builder: &str, env: &[(&[u8], &[u8])]) -> Derivation {
        let parts = DerivationParts {
            outputs: [(OutputName::new("out").unwrap(), output)].into_iter().collect(),
            platform: "x86_64-linux".into(),
            builder: BString::new(expand(builder.as_bytes())),
            env: env.iter().map(|(k, v)| (BString::from(*k), BString::new(expand(v)))).collect(),
            ..DerivationParts::default()
        };
        Derivation::new(parts).unwrap()
    }

    fn out_path() -> StorePath {
        StorePath::from_base_name(&format!("{HASH}-fod")).unwrap()
    }

    fn empty_sha256() -> Hash {
        Hash::compute(HashAlgo::Sha256, b"")
    }

    /// A FOD with byte env values.
    fn fod_bytes(builder: &str, env: &[(&[u8], &[u8])]) -> Derivation {
        let output = Output::Fixed { method: ContentAddressMethod::Recursive, hash: empty_sha256(), path: out_path() };
        drv_with_output(output, builder, env)
    }

    /// A FOD; `@/` in the builder and values is a store path prefix.
    fn fod(builder: &str, env: &[(&str, &str)]) -> Derivation {
        let env: Vec<(&[u8], &[u8])> = env.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())).collect();
        fod_bytes(builder, &env)
    }

    /// A FOD with structured attrs: only `__json` in the env.
    fn structured(builder: &str, json: &str) -> Derivation {
        fod(builder, &[("__json", json)])
    }

    const BASH: &str = "@/bash-5.2p37/bin/bash";

    /// A realistic fetcher: builder and env as `nix-instantiate` writes them.
    type Fetcher = (&'static str, &'static [(&'static str, &'static str)]);

    /// nixpkgs `fetchurl { url = "mirror://gnu/..."; }`.
    const FETCHURL: Fetcher = (
        BASH,
        &[
            ("builder", BASH),
            ("curlOpts", ""),
            ("curlOptsList", ""),
            ("downloadToTemp", ""),
            ("executable", ""),
            ("impureEnvVars", "http_proxy https_proxy ftp_proxy all_proxy no_proxy NIX_CURL_FLAGS NIX_MIRRORS_gnu"),
            ("mirrorsFile", "@/mirrors-list"),
            ("name", "hello-2.12.1.tar.gz"),
            ("nativeBuildInputs", "@/curl-8.7.1-dev"),
            ("outputHashMode", "flat"),
            ("postFetch", ""),
            ("preferLocalBuild", "1"),
            ("showURLs", ""),
            ("urls", "mirror://gnu/hello/hello-2.12.1.tar.gz"),
        ],
    );

    const FETCHZIP_POST_FETCH: &str = concat!(
        "unpackDir=\"$TMPDIR/unpack\"\nmkdir \"$unpackDir\"\ncd \"$unpackDir\"\n\n",
        "renamed=\"$TMPDIR/14.1.0.tar.gz\"\nmv \"$downloadedFile\" \"$renamed\"\n",
        "unpackFile \"$renamed\"\nchmod -R +w \"$unpackDir\"\n",
        "fn=$(cd \"$unpackDir\" && ls -A)\nmv \"$unpackDir/$fn\" \"$out\"\n\nchmod 755 \"$out\"\n",
    );

    /// `fetchFromGitHub` (through `fetchzip`): name `source`, an archive URL.
    const FETCH_FROM_GITHUB: Fetcher = (
        BASH,
        &[
            ("downloadToTemp", "1"),
            ("name", "source"),
            ("nativeBuildInputs", "@/unzip-6.0 @/glibc-locales-2.39-52 @/curl-8.7.1-dev"),
            ("outputHashMode", "recursive"),
            ("postFetch", FETCHZIP_POST_FETCH),
            ("recursiveHash", "1"),
            ("stripRoot", "1"),
            ("urls", "https://github.com/BurntSushi/ripgrep/archive/14.1.0.tar.gz"),
        ],
    );

    /// `fetchzip` of a URL with no extension: only `postFetch` says it is an archive.
    const FETCHZIP_API_TARBALL: Fetcher = (
        BASH,
        &[
            ("downloadToTemp", "1"),
            ("name", "source"),
            ("postFetch", FETCHZIP_POST_FETCH),
            ("urls", "https://api.github.com/repos/o/r/tarball/v1.0"),
        ],
    );

    /// `fetchgit` before it switched to structured attrs.
    const FETCHGIT: Fetcher = (
        BASH,
        &[
            ("branchName", ""),
            ("deepClone", ""),
            ("fetchLFS", ""),
            ("fetchSubmodules", "1"),
            ("fetcher", "@/nix-prefetch-git"),
            ("leaveDotGit", ""),
            ("name", "source"),
            ("nativeBuildInputs", "@/git-2.44.0 @/cacert-3.98"),
            ("nonConeMode", ""),
            ("outputHashMode", "recursive"),
            ("postFetch", ""),
            ("rev", "9e212e0ca8e1f5d4ca1e3c3a58c34f5c6a6fe3a8"),
            ("sparseCheckout", ""),
            ("url", "https://github.com/NixOS/nix.git"),
        ],
    );

    /// Current `fetchgit`: everything in `__json`.
    const FETCHGIT_STRUCTURED: Fetcher = (
        BASH,
        &[(
            "__json",
            concat!(
                r#"{"builder":"@/bash-5.2p37/bin/bash","fetchSubmodules":false,"fetcher":"@/nix-prefetch-git","#,
                r#""leaveDotGit":false,"name":"source","nativeBuildInputs":["@/git-2.47.0","@/cacert-3.104"],"#,
                r#""outputHash":"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=","outputHashMode":"recursive","#,
                r#""postFetch":"","rev":"refs/tags/v1.0","url":"https://codeberg.org/forgejo/forgejo.git"}"#,
            ),
        )],
    );

    /// A hand-made git fetch: only the `git://` URL says so.
    const GIT_URL_ONLY: Fetcher = ("/bin/sh", &[("name", "foo"), ("rev", "abc"), ("url", "git://git.example.org/foo")]);

    /// A hand-made git fetch: `rev` and the `git-minimal` tool.
    const GIT_REV_AND_TOOL: Fetcher = (
        BASH,
        &[
            ("name", "foo"),
            ("nativeBuildInputs", "@/git-minimal-2.44.0"),
            ("rev", "abc"),
            ("url", "https://example.org/foo"),
        ],
    );

    const FETCHHG: Fetcher = (
        BASH,
        &[
            ("name", "hg-archive"),
            ("nativeBuildInputs", "@/mercurial-6.7.2"),
            ("outputHashMode", "recursive"),
            ("rev", "4b8e3a0c2f1d"),
            ("subrepoClause", ""),
            ("url", "https://hg.mozilla.org/projects/nspr"),
        ],
    );

    /// Only the `mercurial` tool tells this one apart.
    const HG_TOOL_ONLY: Fetcher =
        (BASH, &[("name", "source"), ("nativeBuildInputs", "@/mercurial-6.7.2"), ("url", "https://hg.example.org/r")]);

    const FETCHSVN: Fetcher = (
        BASH,
        &[
            ("ignoreExternals", ""),
            ("ignoreKeywords", ""),
            ("name", "foo-r1234"),
            ("nativeBuildInputs", "@/subversion-1.14.3 @/glibc-locales-2.39-52"),
            ("outputHashMode", "recursive"),
            ("rev", "1234"),
            ("sshSupport", ""),
            ("url", "https://svn.code.sf.net/p/foo/code/trunk"),
        ],
    );

    const SVN_URL_ONLY: Fetcher =
        ("/bin/sh", &[("name", "foo"), ("rev", "1"), ("url", "svn://svn.example.org/repo/trunk")]);

    const FETCHCVS: Fetcher = (
        BASH,
        &[
            ("cvsRoot", ":pserver:anonymous@cvs.savannah.gnu.org:/sources/foo"),
            ("date", ""),
            ("module", "foo"),
            ("name", "cvs-export"),
            ("nativeBuildInputs", "@/cvs-1.12.13 @/openssh-9.7p1"),
            ("tag", "release-1"),
        ],
    );

    const FETCHBZR: Fetcher = (
        BASH,
        &[
            ("name", "bzr-export"),
            ("nativeBuildInputs", "@/breezy-3.3.4"),
            ("rev", "42"),
            ("url", "https://code.launchpad.net/~foo/bar/trunk"),
        ],
    );

    const BZR_LAUNCHPAD_URL: Fetcher = ("/bin/sh", &[("name", "bar"), ("rev", "42"), ("url", "lp:bar")]);

    const FETCHPATCH_POST_FETCH: &str = concat!(
        "tmpfile=\"$TMPDIR/sha256-AAAA\"\n",
        "\"@/patchutils-0.3.3/bin/lsdiff\" \"$out\" \\\n",
        "  | sort -u | sed -e 's/[*?]/\\\\&/g' \\\n",
        "  | xargs -I{} \\\n",
        "    \"@/patchutils-0.3.3/bin/filterdiff\" \\\n",
        "    --include={} \\\n    --strip=0 \\\n    --clean \"$out\" > \"$tmpfile\"\n",
        "mv \"$tmpfile\" \"$out\"\n",
    );

    const FETCHPATCH: Fetcher = (
        BASH,
        &[
            ("name", "CVE-2023-1234.patch"),
            ("nativeBuildInputs", "@/curl-8.7.1-dev"),
            ("outputHashMode", "flat"),
            ("postFetch", FETCHPATCH_POST_FETCH),
            ("urls", "https://github.com/o/r/commit/0123abcd.patch"),
        ],
    );

    /// A cgit patch URL has `.git` inside its path and no extension at the end.
    const FETCHPATCH_CGIT: Fetcher = (
        BASH,
        &[
            ("name", "fix-build"),
            ("postFetch", FETCHPATCH_POST_FETCH),
            ("urls", "https://git.savannah.gnu.org/cgit/foo.git/patch/?id=0123abcd"),
        ],
    );

    const DIFF_URL: Fetcher = (BASH, &[("name", "pr-123"), ("urls", "https://github.com/o/r/pull/123.diff")]);

    /// `fetchCargoTarball`: a `.tar.gz` name and `git` as a tool, yet a vendor set.
    const CARGO_TARBALL: Fetcher = (
        BASH,
        &[
            ("cargoUpdateHook", ""),
            ("name", "ripgrep-14.1.0-vendor.tar.gz"),
            ("nativeBuildInputs", "@/cacert-3.98 @/git-2.44.0 @/cargo-1.77.2"),
            ("outputHashMode", "flat"),
        ],
    );

    const CARGO_VENDOR_STAGING: Fetcher = (
        BASH,
        &[
            ("name", "ripgrep-14.1.0-vendor-staging"),
            ("nativeBuildInputs", "@/fetch-cargo-vendor-util @/cacert-3.98"),
            ("outputHashMode", "recursive"),
        ],
    );

    const CARGO_TOOL_ONLY: Fetcher = (BASH, &[("name", "deps"), ("nativeBuildInputs", "@/fetch-cargo-vendor-util")]);

    const GO_MODULES: Fetcher = (
        BASH,
        &[
            ("impureEnvVars", "http_proxy https_proxy GIT_PROXY_COMMAND SOCKS_SERVER GOPROXY"),
            ("name", "hugo-0.125.4-go-modules"),
            ("nativeBuildInputs", "@/go-1.22.2 @/git-2.44.0 @/cacert-3.98"),
            ("outputHashMode", "recursive"),
        ],
    );

    const NPM_DEPS: Fetcher = (BASH, &[("name", "foo-1.0.0-npm-deps"), ("nativeBuildInputs", "@/prefetch-npm-deps")]);

    /// `fetchYarnDeps` keeps its default name `offline`: only the tool says what it is.
    const YARN_OFFLINE: Fetcher = (BASH, &[("name", "offline"), ("nativeBuildInputs", "@/prefetch-yarn-deps")]);

    const PNPM_DEPS: Fetcher = (BASH, &[("name", "foo-1.0-pnpm-deps")]);
    const MAVEN_DEPS: Fetcher = (BASH, &[("name", "foo-1.0-maven-deps")]);
    const NODE_MODULES: Fetcher = (BASH, &[("name", "foo-node_modules")]);
    const GO_VENDOR_SUFFIX: Fetcher = (BASH, &[("name", "foo-1.2-vendor")]);

    /// stdenv's busybox seed, as Nix 2.8 writes `import <nix/fetchurl.nix> { executable = true; }`.
    const BUSYBOX_SEED: Fetcher = (
        "builtin:fetchurl",
        &[
            ("builder", "builtin:fetchurl"),
            ("executable", "1"),
            ("impureEnvVars", "http_proxy https_proxy ftp_proxy all_proxy no_proxy"),
            ("name", "busybox"),
            ("outputHashMode", "recursive"),
            ("preferLocalBuild", "1"),
            ("system", "builtin"),
            ("unpack", ""),
            ("url", "http://tarballs.nixos.org/stdenv/x86_64-unknown-linux-gnu/82b583ba/busybox"),
            ("urls", "http://tarballs.nixos.org/stdenv/x86_64-unknown-linux-gnu/82b583ba/busybox"),
        ],
    );

    /// stdenv's bootstrap tools: a `.tar.xz`, yet a seed.
    const BOOTSTRAP_TOOLS: Fetcher = (
        "builtin:fetchurl",
        &[
            ("executable", ""),
            ("name", "bootstrap-tools.tar.xz"),
            ("unpack", ""),
            ("url", "http://tarballs.nixos.org/stdenv/x86_64-unknown-linux-gnu/82b583ba/bootstrap-tools.tar.xz"),
        ],
    );

    /// Darwin's and FreeBSD's unpacker seed, fetched as a NAR and unpacked, from anywhere.
    const UNPACK_SEED: Fetcher = (
        "builtin:fetchurl",
        &[("executable", ""), ("name", "unpack"), ("unpack", "1"), ("url", "https://example.org/unpack.nar.xz")],
    );

    /// An old-style seed: only its place on tarballs.nixos.org says so.
    const SEED_BY_URL: Fetcher = (
        "builtin:fetchurl",
        &[("executable", ""), ("name", "mkdir"), ("url", "http://tarballs.nixos.org/stdenv-linux/i686/r1/mkdir")],
    );

    /// minimal-bootstrap's source seed: no URL, a builder that only prints a message.
    const STAGE0_POSIX: Fetcher = (
        "\n#\n# Neither your store nor your substituters seems to have the sources.\n#\n",
        &[("name", "stage0-posix-1.6.0-source"), ("outputHashMode", "recursive")],
    );

    /// `<nix/fetchurl.nix>` of an ordinary tarball: builtin, but no seed.
    const BUILTIN_TARBALL: Fetcher = (
        "builtin:fetchurl",
        &[
            ("executable", ""),
            ("name", "hello-2.12.tar.gz"),
            ("unpack", ""),
            ("url", "mirror://gnu/hello/hello-2.12.tar.gz"),
            ("urls", "mirror://gnu/hello/hello-2.12.tar.gz"),
        ],
    );

    const CRATE: Fetcher = (
        BASH,
        &[("name", "crate-serde-1.0.197.tar.gz"), ("urls", "https://crates.io/api/v1/crates/serde/1.0.197/download")],
    );
    const WHEEL: Fetcher = (
        BASH,
        &[
            ("name", "six-1.16.0-py2.py3-none-any.whl"),
            ("urls", "https://files.pythonhosted.org/packages/py2.py3/s/six/six-1.16.0-py2.py3-none-any.whl"),
        ],
    );
    const JAR: Fetcher = (BASH, &[("name", "x"), ("urls", "https://repo1.maven.org/maven2/org/x/x/1.0/x-1.0.jar")]);
    const GEM: Fetcher = (BASH, &[("name", "rake-13.1.0.gem"), ("urls", "https://rubygems.org/gems/rake-13.1.0.gem")]);
    const UPPERCASE_ZIP: Fetcher = (BASH, &[("name", "FONTS.ZIP"), ("urls", "https://example.org/FONTS.ZIP")]);
    const TAR_ZST: Fetcher = (BASH, &[("name", "download"), ("urls", "https://example.org/foo-1.0.tar.zst?raw=true")]);

    const SINGLE_FILE: Fetcher = (BASH, &[("name", "LICENSE"), ("urls", "https://example.org/raw/LICENSE")]);
    const GZIPPED_FILE: Fetcher = (BASH, &[("name", "foo.1.gz"), ("urls", "https://example.org/foo.1.gz")]);
    const NO_URL: Fetcher = ("/bin/sh", &[("name", "empty")]);

    /// Signals of two rules at once, to pin down the order of the rules.
    const VENDOR_WITH_GIT_REV: Fetcher =
        (BASH, &[("name", "foo-1.0-go-modules"), ("nativeBuildInputs", "@/git-2.44.0"), ("rev", "abc")]);
    const SVN_WITH_GIT_REV: Fetcher =
        (BASH, &[("ignoreExternals", ""), ("name", "foo"), ("nativeBuildInputs", "@/git-2.44.0"), ("rev", "1")]);
    const GIT_URL_WITH_ARCHIVE_NAME: Fetcher =
        (BASH, &[("name", "r-1.0.tar.gz"), ("rev", "abc"), ("url", "https://example.org/r.git")]);
    const PATCH_WITH_ARCHIVE_NAME: Fetcher =
        (BASH, &[("name", "fix.tar.gz"), ("postFetch", FETCHPATCH_POST_FETCH), ("urls", "https://example.org/fix")]);

    #[rstest]
    #[case::fetchurl_mirror(FETCHURL, SourceKind::Tarball)]
    #[case::fetch_from_github(FETCH_FROM_GITHUB, SourceKind::Tarball)]
    #[case::fetchzip_url_without_extension(FETCHZIP_API_TARBALL, SourceKind::Tarball)]
    #[case::fetchgit(FETCHGIT, SourceKind::Git)]
    #[case::fetchgit_structured_attrs(FETCHGIT_STRUCTURED, SourceKind::Git)]
    #[case::git_url_only(GIT_URL_ONLY, SourceKind::Git)]
    #[case::git_rev_and_tool(GIT_REV_AND_TOOL, SourceKind::Git)]
    #[case::fetchhg(FETCHHG, SourceKind::Hg)]
    #[case::hg_tool_only(HG_TOOL_ONLY, SourceKind::Hg)]
    #[case::fetchsvn(FETCHSVN, SourceKind::Svn)]
    #[case::svn_url_only(SVN_URL_ONLY, SourceKind::Svn)]
    #[case::fetchcvs(FETCHCVS, SourceKind::Cvs)]
    #[case::fetchbzr(FETCHBZR, SourceKind::Bzr)]
    #[case::bzr_launchpad_url(BZR_LAUNCHPAD_URL, SourceKind::Bzr)]
    #[case::fetchpatch(FETCHPATCH, SourceKind::Patch)]
    #[case::fetchpatch_cgit_url_with_dot_git_inside(FETCHPATCH_CGIT, SourceKind::Patch)]
    #[case::diff_url(DIFF_URL, SourceKind::Patch)]
    #[case::cargo_tarball_with_git_tool(CARGO_TARBALL, SourceKind::Vendor)]
    #[case::cargo_vendor_staging(CARGO_VENDOR_STAGING, SourceKind::Vendor)]
    #[case::cargo_vendor_tool_only(CARGO_TOOL_ONLY, SourceKind::Vendor)]
    #[case::go_modules_with_git_tool(GO_MODULES, SourceKind::Vendor)]
    #[case::npm_deps(NPM_DEPS, SourceKind::Vendor)]
    #[case::yarn_offline_by_tool(YARN_OFFLINE, SourceKind::Vendor)]
    #[case::pnpm_deps(PNPM_DEPS, SourceKind::Vendor)]
    #[case::maven_deps(MAVEN_DEPS, SourceKind::Vendor)]
    #[case::node_modules(NODE_MODULES, SourceKind::Vendor)]
    #[case::vendor_suffix(GO_VENDOR_SUFFIX, SourceKind::Vendor)]
    #[case::busybox_seed(BUSYBOX_SEED, SourceKind::Bootstrap)]
    #[case::bootstrap_tools_tarball(BOOTSTRAP_TOOLS, SourceKind::Bootstrap)]
    #[case::unpack_seed(UNPACK_SEED, SourceKind::Bootstrap)]
    #[case::seed_by_url(SEED_BY_URL, SourceKind::Bootstrap)]
    #[case::stage0_posix_sources(STAGE0_POSIX, SourceKind::Bootstrap)]
    #[case::builtin_fetchurl_of_a_plain_tarball(BUILTIN_TARBALL, SourceKind::Tarball)]
    #[case::crate_by_name(CRATE, SourceKind::Tarball)]
    #[case::wheel(WHEEL, SourceKind::Tarball)]
    #[case::jar_by_url(JAR, SourceKind::Tarball)]
    #[case::gem(GEM, SourceKind::Tarball)]
    #[case::uppercase_zip(UPPERCASE_ZIP, SourceKind::Tarball)]
    #[case::tar_zst_url_with_query(TAR_ZST, SourceKind::Tarball)]
    #[case::single_file(SINGLE_FILE, SourceKind::Other)]
    #[case::gzipped_single_file(GZIPPED_FILE, SourceKind::Other)]
    #[case::no_url_and_no_signal(NO_URL, SourceKind::Other)]
    #[case::order_vendor_before_git(VENDOR_WITH_GIT_REV, SourceKind::Vendor)]
    #[case::order_svn_before_weak_git(SVN_WITH_GIT_REV, SourceKind::Svn)]
    #[case::order_git_before_archive(GIT_URL_WITH_ARCHIVE_NAME, SourceKind::Git)]
    #[case::order_patch_before_archive(PATCH_WITH_ARCHIVE_NAME, SourceKind::Patch)]
    fn classifies_each_nixpkgs_fetcher_by_its_drv_shape(#[case] (builder, env): Fetcher, #[case] expected: SourceKind) {
        let drv = fod(builder, env);
        let name = match drv.structured_attrs() {
            Some(_) => "source".to_owned(),
            None => String::from_utf8(drv.name().unwrap().to_vec()).unwrap(),
        };
        let urls = fod_urls(&drv);
        assert_eq!(classify(&name, &drv, &urls), expected, "{name}: urls {urls:?}");
        let info = FodInfo::from_derivation(&name, &drv, &MirrorTable::builtin()).unwrap();
        assert_eq!(info.kind, expected);
    }

    #[rstest]
    #[case::urls_list(
        &[("urls", "https://a.example/x https://b.example/x")],
        &["https://a.example/x", "https://b.example/x"]
    )]
    #[case::url_only(&[("url", "https://a.example/x")], &["https://a.example/x"])]
    #[case::urls_wins_over_url(
        &[("url", "https://u.example/x"), ("urls", "https://a.example/x")],
        &["https://a.example/x"]
    )]
    #[case::empty_urls_falls_back_to_url(&[("url", "https://u.example/x"), ("urls", "  ")], &["https://u.example/x"])]
    #[case::duplicates_kept_once_in_first_order(&[("urls", "b a  b\ta c")], &["b", "a", "c"])]
    #[case::url_is_trimmed(&[("url", " https://u.example/x\n")], &["https://u.example/x"])]
    #[case::empty_url_dropped(&[("url", "")], &[])]
    #[case::neither(&[("name", "x")], &[])]
    fn reads_declared_urls_from_env(#[case] env: &[(&str, &str)], #[case] expected: &[&str]) {
        assert_eq!(fod_urls(&fod("/bin/sh", env)), expected);
    }

    #[rstest]
    #[case::urls_array(
        r#"{"urls":["https://a.example/x","","https://b.example/x","https://a.example/x"]}"#,
        &["https://a.example/x", "https://b.example/x"]
    )]
    #[case::non_strings_skipped(r#"{"urls":[1,null,"https://a.example/x",["nested"]]}"#, &["https://a.example/x"])]
    #[case::urls_as_a_string(
        r#"{"urls":"https://a.example/x https://b.example/x"}"#,
        &["https://a.example/x", "https://b.example/x"]
    )]
    #[case::url_string(r#"{"url":"https://u.example/x"}"#, &["https://u.example/x"])]
    #[case::empty_array_falls_back_to_url(r#"{"url":"https://u.example/x","urls":[]}"#, &["https://u.example/x"])]
    #[case::url_not_a_string(r#"{"url":["https://u.example/x"]}"#, &[])]
    #[case::not_json(r#"{"urls":["#, &[])]
    #[case::not_an_object(r#"["https://a.example/x"]"#, &[])]
    fn reads_declared_urls_from_structured_attrs(#[case] json: &str, #[case] expected: &[&str]) {
        assert_eq!(fod_urls(&structured("/bin/sh", json)), expected);
    }

    #[test]
    fn nesting_past_the_json_depth_limit_reads_as_no_attributes() {
        let json = format!(r#"{{"url":"https://a.example/x","deep":{}{}}}"#, "[".repeat(200), "]".repeat(200));
        assert!(fod_urls(&structured("/bin/sh", &json)).is_empty());
        let json = format!(r#"{{"url":"https://a.example/x","deep":{}{}}}"#, "[".repeat(100), "]".repeat(100));
        assert_eq!(fod_urls(&structured("/bin/sh", &json)), ["https://a.example/x"]);
    }

    #[test]
    fn structured_attrs_ignore_env_vars_outside_the_json() {
        let drv = fod("/bin/sh", &[("__json", r#"{"name":"x"}"#), ("url", "https://env.example/x")]);
        assert!(fod_urls(&drv).is_empty());
    }

    #[test]
    fn decodes_non_utf8_urls_lossily() {
        let drv = fod_bytes("/bin/sh", &[(b"urls", b"https://a.example/caf\xe9.tar.gz https://b.example/\xff")]);
        assert_eq!(fod_urls(&drv), ["https://a.example/caf\u{fffd}.tar.gz", "https://b.example/\u{fffd}"]);
        assert_eq!(classify("x", &drv, &fod_urls(&drv)), SourceKind::Tarball);
    }

    #[test]
    fn decodes_non_utf8_structured_attrs_lossily() {
        let drv =
            fod_bytes("/bin/sh", &[(b"__json", b"{\"url\":\"https://a.example/caf\xe9.zip\",\"executable\":true}")]);
        assert_eq!(fod_urls(&drv), ["https://a.example/caf\u{fffd}.zip"]);
        let info = FodInfo::from_derivation("x", &drv, &MirrorTable::new()).unwrap();
        assert!(info.flags.executable);
    }

    #[test]
    fn describes_a_nixpkgs_fetchurl_with_its_mirror_expanded() {
        let drv = fod(FETCHURL.0, FETCHURL.1);
        let info = FodInfo::from_derivation("hello-2.12.1.tar.gz.drv", &drv, &MirrorTable::builtin()).unwrap();
        assert_eq!(
            info,
            FodInfo {
                name: "hello-2.12.1.tar.gz".into(),
                urls: vec!["mirror://gnu/hello/hello-2.12.1.tar.gz".into()],
                resolved_urls: vec![
                    "https://ftp.gnu.org/pub/gnu/hello/hello-2.12.1.tar.gz".into(),
                    "https://ftpmirror.gnu.org/hello/hello-2.12.1.tar.gz".into(),
                    "https://mirrors.kernel.org/gnu/hello/hello-2.12.1.tar.gz".into(),
                ],
                unknown_mirrors: vec![],
                method: ContentAddressMethod::Recursive,
                hash: empty_sha256(),
                kind: SourceKind::Tarball,
                flags: FodFlags::default(),
            }
        );
    }

    #[test]
    fn reports_unknown_mirrors_once_and_keeps_resolved_urls_unique() {
        let urls = [
            "mirror://nosuch/a.tar.gz",
            "https://ftp.gnu.org/pub/gnu/x.tar.gz",
            "mirror://gnu/x.tar.gz",
            "mirror://nosuch/b.tar.gz",
            "mirror:///c",
        ]
        .join(" ");
        let drv = fod("/bin/sh", &[("urls", &urls)]);
        let info = FodInfo::from_derivation("x", &drv, &MirrorTable::builtin()).unwrap();
        assert_eq!(info.unknown_mirrors, ["nosuch", ""]);
        assert_eq!(
            info.resolved_urls,
            [
                "https://ftp.gnu.org/pub/gnu/x.tar.gz",
                "https://ftpmirror.gnu.org/x.tar.gz",
                "https://mirrors.kernel.org/gnu/x.tar.gz",
            ]
        );
        assert_eq!(info.urls.len(), 5, "declared URLs stay as declared");
    }

    #[rstest]
    #[case::none(&[("postFetch", "")], FodFlags::default())]
    #[case::whitespace_post_fetch(&[("postFetch", " \n\t")], FodFlags::default())]
    #[case::post_fetch(&[("postFetch", "chmod +x $out")], FodFlags { has_post_fetch: true, ..FodFlags::default() })]
    #[case::impure(&[("__impure", "1")], FodFlags { impure: true, ..FodFlags::default() })]
    #[case::no_chroot(&[("__noChroot", "1")], FodFlags { no_chroot: true, ..FodFlags::default() })]
    #[case::executable(&[("executable", "1")], FodFlags { executable: true, ..FodFlags::default() })]
    #[case::false_is_empty(&[("__noChroot", ""), ("executable", "")], FodFlags::default())]
    #[case::only_one_counts_as_true(&[("__noChroot", "true")], FodFlags::default())]
    fn sets_hygiene_flags_from_env(#[case] env: &[(&str, &str)], #[case] expected: FodFlags) {
        let info = FodInfo::from_derivation("x", &fod("/bin/sh", env), &MirrorTable::new()).unwrap();
        assert_eq!(info.flags, expected);
    }

    #[rstest]
    #[case::booleans(
        r#"{"__noChroot":true,"__impure":true,"executable":true}"#,
        FodFlags { impure: true, no_chroot: true, executable: true, ..FodFlags::default() }
    )]
    #[case::false_booleans(r#"{"__noChroot":false,"executable":false}"#, FodFlags::default())]
    #[case::post_fetch(r#"{"postFetch":"rm -rf $out/.git"}"#, FodFlags { has_post_fetch: true, ..FodFlags::default() })]
    #[case::blank_post_fetch(r#"{"postFetch":"  \n"}"#, FodFlags::default())]
    fn sets_hygiene_flags_from_structured_attrs(#[case] json: &str, #[case] expected: FodFlags) {
        let info = FodInfo::from_derivation("x", &structured("/bin/sh", json), &MirrorTable::new()).unwrap();
        assert_eq!(info.flags, expected);
    }

    #[test]
    fn flags_the_builtin_fetcher() {
        let drv = fod(BUSYBOX_SEED.0, BUSYBOX_SEED.1);
        let info = FodInfo::from_derivation("busybox", &drv, &MirrorTable::builtin()).unwrap();
        let expected = FodFlags { executable: true, builtin_fetchurl: true, ..FodFlags::default() };
        assert_eq!(info.flags, expected);
        assert_eq!(info.resolved_urls, info.urls);
    }

    #[test]
    fn describes_only_fixed_output_derivations() {
        let path = StorePath::from_base_name(&format!("{HASH}-plain")).unwrap();
        let drv = drv_with_output(Output::InputAddressed { path }, "/bin/sh", &[(b"url", b"https://a.example/x")]);
        assert_eq!(FodInfo::from_derivation("plain", &drv, &MirrorTable::builtin()), None);
    }

    #[rstest]
    #[case::git(&format!("/nix/store/{HASH}-git-2.44.0"), Some("git"))]
    #[case::git_minimal(&format!("/nix/store/{HASH}-git-minimal-2.44.0"), Some("git-minimal"))]
    #[case::two_version_parts(&format!("/nix/store/{HASH}-glibc-locales-2.39-52"), Some("glibc-locales"))]
    #[case::output_suffix(&format!("/nix/store/{HASH}-curl-8.7.1-dev"), Some("curl"))]
    #[case::no_version(&format!("/nix/store/{HASH}-prefetch-npm-deps"), Some("prefetch-npm-deps"))]
    #[case::letters_in_version(&format!("/nix/store/{HASH}-openssh-9.7p1"), Some("openssh"))]
    #[case::not_a_store_path("curl", Some("curl"))]
    #[case::only_a_version(&format!("/nix/store/{HASH}-1.0"), None)]
    fn takes_package_names_from_store_paths(#[case] path: &str, #[case] expected: Option<&str>) {
        assert_eq!(package_name(path), expected);
    }

    #[test]
    fn source_kind_names_are_stable_lowercase_and_round_trip() {
        let names: Vec<&str> = SourceKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names, ["tarball", "git", "hg", "svn", "cvs", "bzr", "patch", "vendor", "bootstrap", "other"]);
        for kind in SourceKind::ALL {
            assert_eq!(SourceKind::from_name(kind.as_str()), Some(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert_eq!(SourceKind::from_name("Git"), None);
        let vcs: Vec<SourceKind> = SourceKind::ALL.into_iter().filter(|k| k.is_vcs()).collect();
        assert_eq!(vcs, [SourceKind::Git, SourceKind::Hg, SourceKind::Svn, SourceKind::Cvs, SourceKind::Bzr]);
    }
}
