//! What a source URL says about its upstream: the repository it comes from
//! (with the tag or commit), or the language-registry package it is.
//!
//! Only well-known, unambiguous URL shapes are read; anything else gives
//! `None` rather than a guess.

use serde::Serialize;

/// An upstream repository, as a source URL names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RepoRef {
    /// `https://host/owner/name`, lowercase host, no `.git`, no trailing `/`.
    pub url: String,
    /// The tag or branch the URL names, when it is not a commit id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The commit id (40 hex digits) the URL names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
}

/// A package of a language registry, named the way OSV names ecosystems.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct EcosystemPackage {
    /// `PyPI`, `crates.io`, `npm`, `RubyGems`, `Go` or `Hackage`.
    pub ecosystem: &'static str,
    /// The package name as the registry spells it.
    pub name: String,
    /// The version.
    pub version: String,
}

impl EcosystemPackage {
    /// The package URL (`pkg:pypi/requests@2.31.0`).
    pub fn purl(&self) -> String {
        let kind = match self.ecosystem {
            "PyPI" => "pypi",
            "crates.io" => "cargo",
            "npm" => "npm",
            "RubyGems" => "gem",
            "Go" => "golang",
            _ => "hackage",
        };
        let name = match kind {
            // npm scopes and Go module paths keep their `/` as namespace separators.
            "npm" | "golang" => self.name.split('/').map(super::purl_escape).collect::<Vec<_>>().join("/"),
            "pypi" => super::purl_escape(&pep503(&self.name)),
            _ => super::purl_escape(&self.name),
        };
        format!("pkg:{kind}/{name}@{}", super::purl_escape(&self.version))
    }
}

/// A PyPI name normalised as PEP 503 says: lowercase, runs of `-`, `_`, `.` as one `-`.
pub fn pep503(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// True for a full commit id.
pub fn is_commit(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `scheme://host/path` split into a lowercase host (no `www.`, no port, no
/// user) and the path segments, query and fragment dropped.
fn split_url(url: &str) -> Option<(String, Vec<&str>)> {
    let url = url.strip_prefix("git+").unwrap_or(url);
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "http" | "https" | "git" | "ssh") {
        return None;
    }
    let rest = crate::fod::url_path(rest);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    let host = host.strip_prefix("www.").map(str::to_owned).unwrap_or(host);
    Some((host, path.split('/').filter(|s| !s.is_empty()).collect()))
}

/// Strips an archive extension from a file name (`v1.2.tar.gz` gives `v1.2`).
pub fn strip_archive(name: &str) -> &str {
    const EXTENSIONS: [&str; 12] = [
        ".tar.gz", ".tar.xz", ".tar.bz2", ".tar.zst", ".tar.lz", ".tgz", ".tbz2", ".txz", ".tar", ".zip", ".tbz", ".gz",
    ];
    EXTENSIONS.iter().find_map(|ext| name.strip_suffix(ext)).unwrap_or(name)
}

fn reference(raw: &str) -> (Option<String>, Option<String>) {
    let raw = raw.strip_prefix("refs/tags/").or_else(|| raw.strip_prefix("refs/heads/")).unwrap_or(raw);
    if raw.is_empty() {
        (None, None)
    } else if is_commit(raw) {
        (None, Some(raw.to_ascii_lowercase()))
    } else {
        (Some(raw.to_owned()), None)
    }
}

fn repo(host: &str, owner_and_name: &[&str], raw_ref: Option<&str>) -> Option<RepoRef> {
    if owner_and_name.len() < 2 || owner_and_name.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
        return None;
    }
    let joined = owner_and_name.join("/");
    let joined = joined.strip_suffix(".git").unwrap_or(&joined);
    let (tag, rev) = raw_ref.map(reference).unwrap_or((None, None));
    Some(RepoRef { url: format!("https://{host}/{joined}"), tag, rev })
}

/// The repository a source URL comes from, with the tag or commit it names.
///
/// Reads GitHub (`archive/REF.tar.gz`, `archive/refs/tags/REF.tar.gz`,
/// `releases/download/TAG/…`, `codeload`, and the repository URL itself as
/// `fetchgit` declares it), GitLab (`/-/archive/REF/…`, nested groups),
/// Codeberg and Gitea (`archive/REF.tar.gz`), SourceHut
/// (`~owner/name/archive/REF.tar.gz`) and Bitbucket (`get/REF.tar.gz`).
/// `rev` is the `rev` attribute of a `fetchgit` source, used when the URL
/// names no reference.
pub fn repo_of_url(url: &str, rev: Option<&str>) -> Option<RepoRef> {
    let (host, seg) = split_url(url)?;
    match host.as_str() {
        "github.com" | "codeberg.org" | "gitea.com" | "git.sr.ht" | "bitbucket.org" => {
            let rest = seg.get(2..).unwrap_or_default();
            let base = seg.get(..2)?;
            match rest {
                ["archive", "refs", "tags", file] => repo(&host, base, Some(strip_archive(file))),
                ["archive", file] => repo(&host, base, Some(strip_archive(file))),
                ["releases", "download", tag, ..] => repo(&host, base, Some(tag)),
                ["get", file] if host == "bitbucket.org" => repo(&host, base, Some(strip_archive(file))),
                [] => repo(&host, base, rev),
                _ => None,
            }
        }
        "codeload.github.com" => match seg.as_slice() {
            [owner, name, "tar.gz" | "zip" | "legacy.tar.gz", reference] => {
                repo("github.com", &[owner, name], Some(reference))
            }
            _ => None,
        },
        "gitlab.com" | "gitlab.gnome.org" | "gitlab.freedesktop.org" | "invent.kde.org" | "salsa.debian.org" => {
            match seg.iter().position(|s| *s == "-") {
                Some(dash) => match seg.get(dash + 1..).unwrap_or_default() {
                    ["archive", reference, ..] => repo(&host, seg.get(..dash)?, Some(reference)),
                    _ => None,
                },
                None => repo(&host, &seg, rev),
            }
        }
        _ => None,
    }
}

/// The registry package a source URL downloads, if it is one.
pub fn package_of_url(url: &str) -> Option<EcosystemPackage> {
    let (host, seg) = split_url(url)?;
    let file = *seg.last()?;
    let package = |ecosystem, name: &str, version: &str| {
        (!name.is_empty() && !version.is_empty()).then(|| EcosystemPackage {
            ecosystem,
            name: name.to_owned(),
            version: version.to_owned(),
        })
    };
    match host.as_str() {
        "files.pythonhosted.org" | "pypi.io" | "pypi.org" | "pypi.python.org" => {
            if let Some(stem) = file.strip_suffix(".whl") {
                let mut parts = stem.split('-');
                return package("PyPI", parts.next()?, parts.next()?);
            }
            let stem = strip_archive(file);
            // `packages/source/<letter>/<name>/<name>-<version>.tar.gz`, or a
            // hashed path: the name is what the file starts with, up to the
            // `-` before the version.
            let name = match seg.as_slice() {
                ["packages", "source", _, name, _] => (*name).to_owned(),
                _ => stem.rsplit_once('-')?.0.to_owned(),
            };
            let version = stem.get(name.len()..)?.strip_prefix('-')?;
            if pep503(stem.get(..name.len())?) != pep503(&name) {
                return None;
            }
            package("PyPI", &name, version)
        }
        "crates.io" | "static.crates.io" => match seg.as_slice() {
            ["api", "v1", "crates", name, version, "download"] => package("crates.io", name, version),
            ["crates", name, file] => {
                package("crates.io", name, file.strip_suffix(".crate")?.strip_prefix(name)?.strip_prefix('-')?)
            }
            _ => None,
        },
        "registry.npmjs.org" | "registry.yarnpkg.com" => {
            let dash = seg.iter().position(|s| *s == "-")?;
            let name = seg.get(..dash)?.join("/");
            let short = name.rsplit('/').next()?;
            let version = strip_archive(file).strip_prefix(short)?.strip_prefix('-')?;
            package("npm", &name, version)
        }
        "rubygems.org" => {
            let (name, version) = file.strip_suffix(".gem")?.rsplit_once('-')?;
            package("RubyGems", name, version)
        }
        "proxy.golang.org" => {
            let at = seg.iter().position(|s| *s == "@v")?;
            let module = seg.get(..at)?.join("/");
            let version = file.strip_suffix(".zip").or_else(|| file.strip_suffix(".mod"))?;
            package("Go", &go_unescape(&module), version)
        }
        "hackage.haskell.org" => match seg.as_slice() {
            ["package", dir, ..] => {
                let (name, version) = dir.rsplit_once('-')?;
                package("Hackage", name, version)
            }
            _ => None,
        },
        _ => None,
    }
}

/// Undoes the Go module proxy's case encoding (`!a` stands for `A`).
fn go_unescape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut bang = false;
    for c in path.chars() {
        match (bang, c) {
            (false, '!') => bang = true,
            (true, c) => {
                out.push(c.to_ascii_uppercase());
                bang = false;
            }
            (false, c) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::github_archive("https://github.com/tukaani-project/xz/archive/v5.6.0.tar.gz", None, Some(("https://github.com/tukaani-project/xz", Some("v5.6.0"), None)))]
    #[case::github_tag_ref("https://github.com/Owner/Repo/archive/refs/tags/release-1_2.zip", None, Some(("https://github.com/Owner/Repo", Some("release-1_2"), None)))]
    #[case::github_commit("https://github.com/o/r/archive/0123456789abcdef0123456789ABCDEF01234567.tar.gz", None, Some(("https://github.com/o/r", None, Some("0123456789abcdef0123456789abcdef01234567"))))]
    #[case::github_release("https://github.com/o/r/releases/download/v2.0/r-2.0.tar.xz", None, Some(("https://github.com/o/r", Some("v2.0"), None)))]
    #[case::fetchgit_rev("https://www.GitHub.com/o/r.git", Some("refs/tags/v1"), Some(("https://github.com/o/r", Some("v1"), None)))]
    #[case::fetchgit_plain("git+https://github.com/o/r", None, Some(("https://github.com/o/r", None, None)))]
    #[case::gitlab_nested("https://gitlab.com/group/sub/proj/-/archive/v3/proj-v3.tar.gz", None, Some(("https://gitlab.com/group/sub/proj", Some("v3"), None)))]
    #[case::codeload("https://codeload.github.com/o/r/tar.gz/v9", None, Some(("https://github.com/o/r", Some("v9"), None)))]
    #[case::other_github_page("https://github.com/o/r/blob/main/x.patch", None, None)]
    #[case::unknown_host("https://example.org/dist/x-1.0.tar.gz", None, None)]
    #[case::not_a_url("/nix/store/x", None, None)]
    fn repositories_come_from_well_known_url_shapes(
        #[case] url: &str,
        #[case] rev: Option<&str>,
        #[case] want: Option<(&str, Option<&str>, Option<&str>)>,
    ) {
        let got = repo_of_url(url, rev);
        let got = got.as_ref().map(|r| (r.url.as_str(), r.tag.as_deref(), r.rev.as_deref()));
        assert_eq!(got, want);
    }

    #[rstest]
    #[case::pypi_source("https://files.pythonhosted.org/packages/source/r/requests/requests-2.31.0.tar.gz", Some(("PyPI", "requests", "2.31.0")))]
    #[case::pypi_hashed("https://files.pythonhosted.org/packages/aa/bb/cc/Jinja2-3.1.2.tar.gz", Some(("PyPI", "Jinja2", "3.1.2")))]
    #[case::pypi_wheel("https://files.pythonhosted.org/packages/py3/s/six/six-1.16.0-py2.py3-none-any.whl", Some(("PyPI", "six", "1.16.0")))]
    #[case::crate_api("https://crates.io/api/v1/crates/serde/1.0.190/download", Some(("crates.io", "serde", "1.0.190")))]
    #[case::crate_static("https://static.crates.io/crates/rand-core/rand-core-0.6.4.crate", Some(("crates.io", "rand-core", "0.6.4")))]
    #[case::npm_scoped("https://registry.npmjs.org/@babel/core/-/core-7.23.0.tgz", Some(("npm", "@babel/core", "7.23.0")))]
    #[case::npm("https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz", Some(("npm", "left-pad", "1.3.0")))]
    #[case::gem("https://rubygems.org/gems/rack-test-2.1.0.gem", Some(("RubyGems", "rack-test", "2.1.0")))]
    #[case::go("https://proxy.golang.org/github.com/!burnt!sushi/toml/@v/v1.3.2.zip", Some(("Go", "github.com/BurntSushi/toml", "v1.3.2")))]
    #[case::hackage("https://hackage.haskell.org/package/aeson-2.1.0.0/aeson-2.1.0.0.tar.gz", Some(("Hackage", "aeson", "2.1.0.0")))]
    #[case::plain("https://example.org/requests-2.31.0.tar.gz", None)]
    fn registry_packages_come_from_registry_urls(#[case] url: &str, #[case] want: Option<(&str, &str, &str)>) {
        let got = package_of_url(url);
        assert_eq!(got.as_ref().map(|p| (p.ecosystem, p.name.as_str(), p.version.as_str())), want);
    }

    #[test]
    fn purls_follow_the_package_url_types() {
        let p = EcosystemPackage { ecosystem: "PyPI", name: "Jinja2".into(), version: "3.1.2".into() };
        assert_eq!(p.purl(), "pkg:pypi/jinja2@3.1.2");
        let p = EcosystemPackage { ecosystem: "npm", name: "@babel/core".into(), version: "7.23.0".into() };
        assert_eq!(p.purl(), "pkg:npm/%40babel/core@7.23.0");
        let p = EcosystemPackage { ecosystem: "crates.io", name: "serde".into(), version: "1.0.0+x".into() };
        assert_eq!(p.purl(), "pkg:cargo/serde@1.0.0%2Bx");
    }

    #[test]
    fn pep503_folds_case_and_separators() {
        assert_eq!(pep503("Foo__Bar.baz-Qux"), "foo-bar-baz-qux");
    }
}
