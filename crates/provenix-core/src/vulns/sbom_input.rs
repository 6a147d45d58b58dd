//! A CycloneDX SBOM as the input of a scan (`vulns --sbom FILE`), as grype's
//! `sbom:` source: its components matched with the same engine as a closure's.
//!
//! Read from a CycloneDX JSON document (`bomFormat` `CycloneDX`, any 1.x
//! `specVersion`), at most [`MAX_SBOM_BYTES`] and [`MAX_COMPONENTS`]:
//!
//! - every component of `components[]`, nested `components[]` included
//!   (walked with an explicit stack), and `metadata.component`; those of
//!   type `file` (sources, as `provenix sbom` writes them) are not packages
//!   and are skipped;
//! - the version is `version`; CPE identities come from `cpe` and the
//!   `nix:cpe` properties (CPE 2.3 names; vendor and product are used);
//! - registry packages come from `purl` and the `nix:package_purl`
//!   properties, when the purl type is a registry OSV knows (`pypi`, `cargo`,
//!   `npm`, `gem`, `golang`, `hackage`, `maven`, `nuget`, `composer`, `hex`,
//!   `pub`, `cran`); the purl's version wins over the component's;
//! - upstream repositories come from `externalReferences` of type `vcs`;
//! - patches from `pedigree.patches[]`: the ids in `resolves[].id` move a
//!   finding of that id to `patched`, as a patch file name does for a closure;
//! - the roots are `metadata.component`, or, when that is provenix's
//!   synthetic subject of several roots, what it depends on; why-chains and
//!   the per-root section follow `dependencies[]`.
//!
//! A document that is not CycloneDX JSON (an SPDX document, a provenix
//! bundle, anything else) or breaks these shapes is an error naming the file.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::identity::Patch;
use crate::vulndb::{CpeId, Package, RepoRef, Target, cpe::Cpe};

/// The largest SBOM read.
pub const MAX_SBOM_BYTES: u64 = 512 << 20;
/// The most components an SBOM may hold.
pub const MAX_COMPONENTS: usize = 2_000_000;

/// Errors from reading an SBOM.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SbomInputError {
    /// The file could not be read.
    #[error("reading SBOM {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_SBOM_BYTES`] or holds more than [`MAX_COMPONENTS`].
    #[error("SBOM {}: {what}, more than the limit of {limit}", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// What is too large (`N bytes`, `N components`).
        what: String,
        /// The limit.
        limit: u64,
    },
    /// Not JSON, or not of CycloneDX's shape.
    #[error("SBOM {}: not a CycloneDX JSON document{hint}", path.display())]
    NotCycloneDx {
        /// The file.
        path: PathBuf,
        /// What it looks like instead, when known (starts with `; `).
        hint: String,
        /// The parser's error, when JSON parsing failed.
        #[source]
        source: Option<serde_json::Error>,
    },
}

#[derive(Deserialize)]
struct Bom {
    #[serde(rename = "bomFormat")]
    bom_format: Option<String>,
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    components: Vec<RawComponent>,
    #[serde(default)]
    dependencies: Vec<RawDependency>,
}

#[derive(Deserialize)]
struct Metadata {
    component: Option<RawComponent>,
}

#[derive(Deserialize)]
struct RawComponent {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(rename = "bom-ref")]
    bom_ref: Option<String>,
    #[serde(default)]
    name: String,
    version: Option<String>,
    cpe: Option<String>,
    purl: Option<String>,
    #[serde(default)]
    properties: Vec<Property>,
    #[serde(rename = "externalReferences", default)]
    external_references: Vec<ExternalReference>,
    pedigree: Option<Pedigree>,
    #[serde(default)]
    components: Vec<RawComponent>,
}

#[derive(Deserialize)]
struct Property {
    name: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
struct ExternalReference {
    #[serde(rename = "type")]
    kind: String,
    url: String,
}

#[derive(Deserialize)]
struct Pedigree {
    #[serde(default)]
    patches: Vec<RawPatch>,
}

#[derive(Deserialize)]
struct RawPatch {
    diff: Option<Diff>,
    #[serde(default)]
    resolves: Vec<Issue>,
}

#[derive(Deserialize)]
struct Diff {
    url: Option<String>,
}

#[derive(Deserialize)]
struct Issue {
    id: Option<String>,
}

#[derive(Deserialize)]
struct RawDependency {
    #[serde(rename = "ref")]
    bom_ref: String,
    #[serde(rename = "dependsOn", default)]
    depends_on: Vec<String>,
}

/// One package component of an SBOM.
#[derive(Debug, Clone)]
pub struct SbomComponent {
    /// Its `bom-ref` (its name and version when it has none).
    pub bom_ref: String,
    /// `name-version`.
    pub name: String,
    /// Its `name`.
    pub pname: String,
    /// Its `version`.
    pub version: Option<String>,
    /// Patches, with the ids they resolve.
    pub patches: Vec<Patch>,
    /// What is matched.
    pub target: Target,
}

/// The package components of an SBOM and how they depend on each other.
#[derive(Debug, Clone)]
pub struct SbomInput {
    /// The package components, in document order.
    pub components: Vec<SbomComponent>,
    /// Every component in the document (files included).
    pub total: usize,
    /// The roots' `bom-ref`s.
    pub roots: Vec<String>,
    /// `bom-ref` → what it depends on.
    dependencies: HashMap<String, Vec<String>>,
}

/// The OSV ecosystem of a purl type.
fn ecosystem(purl_type: &str) -> Option<&'static str> {
    Some(match purl_type {
        "pypi" => "PyPI",
        "cargo" => "crates.io",
        "npm" => "npm",
        "gem" => "RubyGems",
        "golang" => "Go",
        "hackage" => "Hackage",
        "maven" => "Maven",
        "nuget" => "NuGet",
        "composer" => "Packagist",
        "hex" => "Hex",
        "pub" => "Pub",
        "cran" => "CRAN",
        _ => return None,
    })
}

/// `%XX` decoded; `None` for a bad escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// The registry package a purl names (`pkg:pypi/requests@2.31.0`), when OSV knows its type.
pub fn purl_package(purl: &str) -> Option<Package> {
    let rest = purl.strip_prefix("pkg:")?;
    let rest = rest.split(['?', '#']).next()?;
    let (kind, path) = rest.split_once('/')?;
    let ecosystem = ecosystem(&kind.to_ascii_lowercase())?;
    let (path, version) = match path.rsplit_once('@') {
        Some((p, v)) => (p, Some(percent_decode(v)?)),
        None => (path, None),
    };
    let parts: Vec<String> = path.split('/').filter(|p| !p.is_empty()).map(percent_decode).collect::<Option<_>>()?;
    let name = match ecosystem {
        "Maven" => parts.join(":"),
        _ => parts.join("/"),
    };
    if name.is_empty() {
        return None;
    }
    Some(Package { ecosystem: ecosystem.to_owned(), name, version })
}

/// Reads a CycloneDX SBOM file.
pub fn load(path: &Path) -> Result<SbomInput, SbomInputError> {
    let io = |source| SbomInputError::Io { path: path.to_owned(), source };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_SBOM_BYTES {
        return Err(SbomInputError::TooLarge {
            path: path.to_owned(),
            what: format!("{size} bytes"),
            limit: MAX_SBOM_BYTES,
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    parse(&bytes, path)
}

/// What a document that is not CycloneDX looks like, for the error.
fn hint(bytes: &[u8]) -> String {
    let value: Option<serde_json::Value> = serde_json::from_slice(bytes).ok();
    let has = |key: &str| value.as_ref().is_some_and(|v| v.get(key).is_some());
    if bytes.starts_with(b"\x1f\x8b") {
        "; it is gzip-compressed".to_owned()
    } else if bytes.get(257..262) == Some(b"ustar") {
        "; it is a tar archive (a provenix bundle? scan its roots instead)".to_owned()
    } else if has("spdxVersion") {
        "; it is an SPDX document: vulns reads CycloneDX (`provenix sbom --format cyclonedx`)".to_owned()
    } else if value.is_none() {
        String::new()
    } else {
        "; `bomFormat` is not \"CycloneDX\"".to_owned()
    }
}

/// Parses a CycloneDX JSON document; `path` names it in errors.
pub fn parse(bytes: &[u8], path: &Path) -> Result<SbomInput, SbomInputError> {
    let not_cdx = |source| SbomInputError::NotCycloneDx { path: path.to_owned(), hint: hint(bytes), source };
    let bom: Bom = serde_json::from_slice(bytes).map_err(|e| not_cdx(Some(e)))?;
    if bom.bom_format.as_deref() != Some("CycloneDX") {
        return Err(not_cdx(None));
    }
    let metadata_ref = bom.metadata.as_ref().and_then(|m| m.component.as_ref()).and_then(|c| c.bom_ref.clone());
    let mut stack: Vec<(RawComponent, bool)> = bom.components.into_iter().rev().map(|c| (c, false)).collect();
    if let Some(subject) = bom.metadata.and_then(|m| m.component) {
        stack.push((subject, true));
    }
    let mut components = Vec::new();
    let mut total = 0usize;
    while let Some((mut raw, is_subject)) = stack.pop() {
        total += 1;
        if total > MAX_COMPONENTS {
            return Err(SbomInputError::TooLarge {
                path: path.to_owned(),
                what: format!("more than {MAX_COMPONENTS} components"),
                limit: MAX_COMPONENTS as u64,
            });
        }
        let nested = std::mem::take(&mut raw.components);
        stack.extend(nested.into_iter().rev().map(|c| (c, false)));
        let synthetic = is_subject && raw.purl.is_none() && raw.cpe.is_none() && raw.version.is_none();
        if raw.kind == "file" || synthetic {
            // Sources, and a subject that only stands for several roots, are not packages.
            continue;
        }
        components.push(component(raw));
    }
    let dependencies: HashMap<String, Vec<String>> =
        bom.dependencies.into_iter().map(|d| (d.bom_ref, d.depends_on)).collect();
    let roots = match metadata_ref {
        Some(r) if components.iter().any(|c| c.bom_ref == r) => vec![r],
        Some(r) => dependencies.get(&r).cloned().unwrap_or_default(),
        None => Vec::new(),
    };
    Ok(SbomInput { components, total, roots, dependencies })
}

/// A store path's base name without its hash (`<32 nixbase32 chars>-fix.patch` → `fix.patch`),
/// as a closure scan names patches; other names as they are.
fn without_store_hash(name: &str) -> &str {
    let Some((hash, rest)) = name.split_at_checked(32) else { return name };
    match rest.strip_prefix('-') {
        Some(base) if !base.is_empty() && hash.bytes().all(|b| provenix_formats::nixbase32::ALPHABET.contains(&b)) => {
            base
        }
        _ => name,
    }
}

fn component(raw: RawComponent) -> SbomComponent {
    let mut target = Target { version: raw.version.clone(), ..Target::default() };
    let cpes = raw.cpe.iter().chain(raw.properties.iter().filter(|p| p.name == "nix:cpe").map(|p| &p.value));
    for name in cpes {
        if let Ok(cpe) = Cpe::parse(name)
            && cpe.is_software()
            && cpe.vendor != "*"
            && cpe.product != "*"
        {
            let id = CpeId { vendor: cpe.vendor, product: cpe.product };
            if !target.cpes.contains(&id) {
                target.cpes.push(id);
            }
        }
    }
    let purls = raw.purl.iter().chain(raw.properties.iter().filter(|p| p.name == "nix:package_purl").map(|p| &p.value));
    for purl in purls {
        if let Some(mut p) = purl_package(purl) {
            if p.version.is_none() {
                p.version.clone_from(&raw.version);
            }
            if !target.packages.contains(&p) {
                target.packages.push(p);
            }
        }
    }
    for r in raw.external_references.iter().filter(|r| r.kind == "vcs") {
        target.repos.push(RepoRef { url: r.url.clone(), tag: None, rev: None });
    }
    let patches = raw
        .pedigree
        .map(|p| p.patches)
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let url = p.diff.and_then(|d| d.url).unwrap_or_default();
            let name = without_store_hash(url.rsplit('/').next().unwrap_or_default()).to_owned();
            let cves = p.resolves.into_iter().filter_map(|i| i.id).map(|id| id.to_ascii_uppercase()).collect();
            Patch { name: if name.is_empty() { "a pedigree patch".to_owned() } else { name }, path: url, cves }
        })
        .collect();
    let name = match &raw.version {
        Some(v) => format!("{}-{v}", raw.name),
        None => raw.name.clone(),
    };
    SbomComponent {
        bom_ref: raw.bom_ref.unwrap_or_else(|| name.clone()),
        name,
        pname: raw.name,
        version: raw.version,
        patches,
        target,
    }
}

impl SbomInput {
    /// The shortest chain of `bom-ref`s from a root down to `bom_ref` along `dependencies`
    /// (just the component when no root reaches it).
    pub fn why(&self, bom_ref: &str) -> Vec<String> {
        let mut parent: HashMap<&str, &str> = HashMap::new();
        let mut queue: VecDeque<&str> = VecDeque::new();
        for r in &self.roots {
            if parent.insert(r, "").is_none() {
                queue.push_back(r);
            }
        }
        while let Some(at) = queue.pop_front() {
            if at == bom_ref {
                let mut chain = vec![at.to_owned()];
                let mut cur = at;
                while let Some(&p) = parent.get(cur).filter(|p| !p.is_empty()) {
                    chain.push(p.to_owned());
                    cur = p;
                }
                chain.reverse();
                return chain;
            }
            for next in self.dependencies.get(at).into_iter().flatten() {
                if !parent.contains_key(next.as_str()) {
                    parent.insert(next, at);
                    queue.push_back(next);
                }
            }
        }
        vec![bom_ref.to_owned()]
    }

    /// Per root (in [`SbomInput::roots`] order), the `bom-ref`s its dependency closure holds.
    pub fn closures(&self) -> Vec<std::collections::HashSet<String>> {
        self.roots
            .iter()
            .map(|root| {
                let mut seen = std::collections::HashSet::new();
                let mut stack = vec![root.clone()];
                while let Some(at) = stack.pop() {
                    if seen.insert(at.clone()) {
                        stack.extend(self.dependencies.get(&at).into_iter().flatten().cloned());
                    }
                }
                seen
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_name_registry_packages() {
        let p = purl_package("pkg:pypi/requests@2.31.0").unwrap();
        assert_eq!((p.ecosystem.as_str(), p.name.as_str(), p.version.as_deref()), ("PyPI", "requests", Some("2.31.0")));
        let p = purl_package("pkg:npm/%40babel/core@7.0.0?x=1").unwrap();
        assert_eq!(p.name, "@babel/core");
        let p = purl_package("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1").unwrap();
        assert_eq!((p.ecosystem.as_str(), p.name.as_str()), ("Maven", "org.apache.logging.log4j:log4j-core"));
        assert!(purl_package("pkg:nix/xz@5.6.0").is_none(), "not a registry OSV knows");
        assert!(purl_package("pkg:pypi/bad%zz@1").is_none());
        assert!(purl_package("not a purl").is_none());
    }

    #[test]
    fn patch_names_lose_their_store_hash() {
        assert_eq!(without_store_hash("3q1zilqanygpzm8lh5zrrzwf7jahc3yv-fix-CVE-2024-1.patch"), "fix-CVE-2024-1.patch");
        assert_eq!(without_store_hash("fix-CVE-2024-1.patch"), "fix-CVE-2024-1.patch");
        assert_eq!(without_store_hash("eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-"), "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-");
    }

    #[test]
    fn documents_that_are_not_cyclonedx_are_named_with_a_hint() {
        let path = Path::new("x.json");
        let spdx = br#"{"spdxVersion": "SPDX-2.3", "packages": []}"#;
        let err = parse(spdx, path).unwrap_err();
        assert!(err.to_string().contains("x.json: not a CycloneDX JSON document; it is an SPDX document"), "{err}");
        let err = parse(b"{", path).unwrap_err();
        assert!(err.to_string().contains("x.json: not a CycloneDX JSON document"), "{err}");
        let err = parse(br#"{"bomFormat": "CycloneDX", "components": [{"name": 1}]}"#, path).unwrap_err();
        assert!(matches!(err, SbomInputError::NotCycloneDx { source: Some(_), .. }), "{err:?}");
    }

    #[test]
    fn nested_components_and_why_chains_follow_the_document() {
        let doc = br#"{"bomFormat": "CycloneDX", "specVersion": "1.6",
          "metadata": {"component": {"type": "application", "bom-ref": "app", "name": "app", "version": "1"}},
          "components": [
            {"type": "library", "bom-ref": "lib", "name": "lib", "version": "2",
             "components": [{"type": "library", "bom-ref": "xz", "name": "xz", "version": "5.6.0",
                             "cpe": "cpe:2.3:a:tukaani:xz:5.6.0:*:*:*:*:*:*:*"}]},
            {"type": "file", "bom-ref": "src", "name": "xz.tar.gz"}],
          "dependencies": [{"ref": "app", "dependsOn": ["lib"]}, {"ref": "lib", "dependsOn": ["xz"]}]}"#;
        let sbom = parse(doc, Path::new("s.json")).unwrap();
        let refs: Vec<&str> = sbom.components.iter().map(|c| c.bom_ref.as_str()).collect();
        assert_eq!(refs, ["app", "lib", "xz"]);
        assert_eq!(sbom.total, 4);
        assert_eq!(sbom.roots, ["app"]);
        assert_eq!(sbom.why("xz"), ["app", "lib", "xz"]);
        assert_eq!(sbom.components[2].target.cpes, [CpeId { vendor: "tukaani".into(), product: "xz".into() }]);
    }
}
