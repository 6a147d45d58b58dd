//! CycloneDX 1.6 JSON.
//!
//! # Mapping
//!
//! | inventory | CycloneDX |
//! |---|---|
//! | one root | `metadata.component` (and not again in `components`) |
//! | several roots | `metadata.component` of type `application`, `bom-ref` [`ROOTS_REF`], depending on each root |
//! | derivation | `components[]`: `type` `application` for a root, `library` otherwise |
//! | fixed-output derivation | `components[]` of type `file`: the fetched file or tree, named as the derivation |
//! | `.drv` path | `bom-ref` and property `nix:drv_path` |
//! | pname, version | `name`, `version` (a source keeps its derivation name; a fetched patch has no version) |
//! | purl | `purl` (`pkg:nix/…`; a source gets `pkg:generic/<name>?checksum=…&download_url=…`) |
//! | CPE candidates | `cpe` (the first), properties `nix:cpe` (the others) |
//! | realised outputs | `hashes[]` `SHA-256` of each output's NAR (hex); properties `nix:output:<name>` (path) and `nix:nar_hash:<name>` (SRI) |
//! | a source's declared hash | `hashes[]` with its algorithm (`MD5`, `SHA-1`, `SHA-256`, `SHA-512`), hex; property `nix:source:hash` (SRI) |
//! | URLs | a source's: `externalReferences` `distribution`; a package's sources': `source-distribution` |
//! | homepage, repositories | `externalReferences` `website`, `vcs` (tag or commit in `comment`) |
//! | licenses | `licenses[]`: `license.id` for an SPDX id, `license.name` otherwise |
//! | patches | `pedigree.patches[]`: type `unofficial`, `diff.url` (the fetched URL, else the store path), `resolves[]` `security` issues for CVE ids in the file name |
//! | registry packages | properties `nix:package_purl` |
//! | runtime | `scope` `required` (in the runtime closure) or `excluded` (build-only), property `nix:runtime`; absent when unknown |
//! | binary seed (`sources --bootstrap`) | property `nix:bootstrap_seed` = `true` |
//! | edges | `dependencies[]` for every component, `dependsOn` sorted |
//!
//! `metadata.properties` has `nix:scope`; `metadata.timestamp` is written only when a time is given.

use std::borrow::Cow;

use provenix_formats::hash::HashAlgo;
use serde::Serialize;

use super::{Format, Sbom, SbomError, SbomOptions, TOOL_VERSION, View, hex_of_sri, render};
use crate::identity::{Component, purl_escape};

/// The `bom-ref` of the subject when there are several roots.
pub const ROOTS_REF: &str = "provenix:roots";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bom<'a> {
    bom_format: &'static str,
    spec_version: &'static str,
    serial_number: String,
    version: u32,
    metadata: Metadata<'a>,
    components: Vec<CdxComponent<'a>>,
    dependencies: Vec<Dependency<'a>>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<String>,
    tools: Tools,
    component: CdxComponent<'a>,
    properties: Vec<Property<'a>>,
}

#[derive(Serialize)]
struct Tools {
    components: Vec<Tool>,
}

#[derive(Serialize)]
struct Tool {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct CdxComponent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "bom-ref")]
    bom_ref: &'a str,
    name: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hashes: Vec<CdxHash>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    licenses: Vec<LicenseChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpe: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    purl: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pedigree: Option<Pedigree<'a>>,
    #[serde(rename = "externalReferences", skip_serializing_if = "Vec::is_empty")]
    external_references: Vec<ExternalReference<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    properties: Vec<Property<'a>>,
}

#[derive(Serialize)]
struct CdxHash {
    alg: &'static str,
    content: String,
}

#[derive(Serialize)]
struct LicenseChoice<'a> {
    license: CdxLicense<'a>,
}

#[derive(Serialize)]
struct CdxLicense<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

#[derive(Serialize)]
struct Pedigree<'a> {
    patches: Vec<CdxPatch<'a>>,
}

#[derive(Serialize)]
struct CdxPatch<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    diff: Diff<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resolves: Vec<Issue<'a>>,
}

#[derive(Serialize)]
struct Diff<'a> {
    url: &'a str,
}

#[derive(Serialize)]
struct Issue<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    source: IssueSource,
}

#[derive(Serialize)]
struct IssueSource {
    name: &'static str,
    url: String,
}

#[derive(Serialize)]
struct ExternalReference<'a> {
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Property<'a> {
    name: Cow<'a, str>,
    value: Cow<'a, str>,
}

impl<'a> Property<'a> {
    fn new(name: impl Into<Cow<'a, str>>, value: impl Into<Cow<'a, str>>) -> Property<'a> {
        Property { name: name.into(), value: value.into() }
    }
}

#[derive(Serialize)]
struct Dependency<'a> {
    #[serde(rename = "ref")]
    bom_ref: &'a str,
    #[serde(rename = "dependsOn")]
    depends_on: Vec<&'a str>,
}

/// CycloneDX's name of a hash algorithm.
fn alg_name(algo: HashAlgo) -> &'static str {
    match algo {
        HashAlgo::Md5 => "MD5",
        HashAlgo::Sha1 => "SHA-1",
        HashAlgo::Sha256 => "SHA-256",
        HashAlgo::Sha512 => "SHA-512",
    }
}

/// The purl of a fixed-output derivation: a generic package named as the
/// derivation, with its declared checksum and first URL as qualifiers
/// (sorted by key, as the purl spec says).
pub(crate) fn source_purl(c: &Component, urls: &[&str]) -> Option<String> {
    let source = c.source.as_ref()?;
    let mut purl = format!("pkg:generic/{}", purl_escape(&c.name));
    let mut sep = '?';
    if let Some(h) = hex_of_sri(&source.hash) {
        purl.push_str(&format!("{sep}checksum={}:{}", h.algo.name(), h.hex));
        sep = '&';
    }
    if let Some(url) = urls.first() {
        purl.push_str(&format!("{sep}download_url={}", purl_escape(url)));
    }
    Some(purl)
}

fn component<'a>(view: &View<'a>, id: provenix_store::drv::NodeId, c: &'a Component) -> CdxComponent<'a> {
    let is_root = view.roots.contains(&id);
    let urls = view.source_urls(c);
    let mut properties = vec![Property::new("nix:drv_path", c.drv_path.as_str())];
    let mut hashes = Vec::new();
    for o in &c.outputs {
        if let Some(path) = &o.path {
            properties.push(Property::new(format!("nix:output:{}", o.name), path.as_str()));
        }
        if let Some(sri) = &o.nar_hash {
            properties.push(Property::new(format!("nix:nar_hash:{}", o.name), sri.as_str()));
            // A source's hashes are its declared one: the bytes as fetched.
            if c.source.is_none()
                && let Some(h) = hex_of_sri(sri)
            {
                hashes.push(CdxHash { alg: alg_name(h.algo), content: h.hex });
            }
        }
    }
    properties.push(Property::new("nix:identity", identity_name(c)));
    if view.bootstrap_seeds.contains(&c.drv_path) {
        properties.push(Property::new("nix:bootstrap_seed", "true"));
    }
    let (kind, name, purl, cpe) = match &c.source {
        Some(source) => {
            if let Some(h) = hex_of_sri(&source.hash) {
                hashes.push(CdxHash { alg: alg_name(h.algo), content: h.hex });
            }
            properties.push(Property::new("nix:source:kind", source.kind.as_str()));
            properties.push(Property::new("nix:source:mode", source.mode));
            properties.push(Property::new("nix:source:hash", source.hash.as_str()));
            for url in source.urls.iter().filter(|u| u.starts_with("mirror://")) {
                properties.push(Property::new("nix:source:url", url.as_str()));
            }
            ("file", Cow::Borrowed(c.name.as_str()), source_purl(c, &urls), None)
        }
        None => {
            let kind = if is_root { "application" } else { "library" };
            (kind, Cow::Borrowed(c.pname.as_str()), Some(c.purl.clone()), c.cpes.first().map(String::as_str))
        }
    };
    if c.source.is_none() {
        for other in c.cpes.iter().skip(1) {
            properties.push(Property::new("nix:cpe", other.as_str()));
        }
    }
    for p in &c.packages {
        properties.push(Property::new("nix:package_purl", p.purl()));
    }
    let runtime = view.runtime(id);
    if let Some(r) = runtime {
        properties.push(Property::new("nix:runtime", if r { "true" } else { "false" }));
    }
    let link = if c.source.is_some() { "distribution" } else { "source-distribution" };
    let mut external_references: Vec<ExternalReference<'a>> =
        urls.iter().map(|url| ExternalReference { url, comment: None, kind: link }).collect();
    if let Some(home) = &c.homepage {
        external_references.push(ExternalReference { url: home, comment: None, kind: "website" });
    }
    for repo in &c.repos {
        let comment = match (&repo.tag, &repo.rev) {
            (_, Some(rev)) => Some(format!("commit {rev}")),
            (Some(tag), None) => Some(format!("tag {tag}")),
            (None, None) => None,
        };
        external_references.push(ExternalReference { url: &repo.url, comment, kind: "vcs" });
    }
    let patches: Vec<CdxPatch<'a>> = c
        .patches
        .iter()
        .map(|p| CdxPatch {
            kind: "unofficial",
            diff: Diff { url: view.patch_url(&p.path).unwrap_or(&p.path) },
            resolves: p
                .cves
                .iter()
                .map(|id| Issue {
                    kind: "security",
                    id,
                    source: IssueSource { name: "NVD", url: format!("https://nvd.nist.gov/vuln/detail/{id}") },
                })
                .collect(),
        })
        .collect();
    CdxComponent {
        kind,
        bom_ref: &c.drv_path,
        name,
        version: c.version.as_deref(),
        description: c.description.as_deref(),
        scope: runtime.map(|r| if r { "required" } else { "excluded" }),
        hashes,
        licenses: c
            .licenses
            .iter()
            .map(|l| LicenseChoice {
                license: match (&l.spdx_id, &l.name) {
                    (Some(id), _) => CdxLicense { id: Some(id), name: None },
                    (None, name) => CdxLicense { id: None, name: Some(name.as_deref().unwrap_or("unknown")) },
                },
            })
            .collect(),
        cpe,
        purl,
        pedigree: (!patches.is_empty()).then_some(Pedigree { patches }),
        external_references,
        properties,
    }
}

pub(crate) fn identity_name(c: &Component) -> &'static str {
    use crate::identity::IdentityFrom;
    match c.identity {
        IdentityFrom::Meta => "meta",
        IdentityFrom::Table => "table",
        IdentityFrom::Unknown => "unknown",
        IdentityFrom::Source => "source",
    }
}

/// Writes the view as CycloneDX 1.6 JSON.
pub(crate) fn write(view: &View<'_>, options: &SbomOptions) -> Result<Sbom, SbomError> {
    let mut components: Vec<CdxComponent<'_>> = Vec::new();
    let mut dependencies: Vec<Dependency<'_>> = Vec::new();
    let mut subject = None;
    let mut edges = 0;
    for (id, c) in view.components() {
        let mut depends_on: Vec<&str> =
            view.edges(id).filter_map(|to| view.component(to)).map(|d| d.drv_path.as_str()).collect();
        depends_on.sort_unstable();
        depends_on.dedup();
        edges += depends_on.len();
        dependencies.push(Dependency { bom_ref: &c.drv_path, depends_on });
        let component = component(view, id, c);
        if view.roots.len() == 1 && view.roots.contains(&id) {
            subject = Some(component);
        } else {
            components.push(component);
        }
    }
    let subject = match subject {
        Some(s) => s,
        None => {
            let roots: Vec<&str> =
                view.roots.iter().filter_map(|&r| view.component(r)).map(|c| c.name.as_str()).collect();
            let mut depends_on: Vec<&str> =
                view.roots.iter().filter_map(|&r| view.component(r)).map(|c| c.drv_path.as_str()).collect();
            depends_on.sort_unstable();
            dependencies.push(Dependency { bom_ref: ROOTS_REF, depends_on });
            CdxComponent {
                kind: "application",
                bom_ref: ROOTS_REF,
                name: Cow::Owned(roots.join(" + ")),
                version: None,
                description: Some("The roots given to provenix"),
                scope: None,
                hashes: Vec::new(),
                licenses: Vec::new(),
                cpe: None,
                purl: None,
                pedigree: None,
                external_references: Vec::new(),
                properties: Vec::new(),
            }
        }
    };
    components.sort_by(|a, b| a.bom_ref.cmp(b.bom_ref));
    dependencies.sort_by(|a, b| a.bom_ref.cmp(b.bom_ref));
    let bom = Bom {
        bom_format: "CycloneDX",
        spec_version: "1.6",
        serial_number: format!("urn:uuid:{}", super::NIL_UUID),
        version: 1,
        metadata: Metadata {
            timestamp: options.timestamp.map(|t| t.to_string()),
            tools: Tools { components: vec![Tool { kind: "application", name: "provenix", version: TOOL_VERSION }] },
            component: subject,
            properties: vec![Property::new("nix:scope", view.scope.as_str())],
        },
        components,
        dependencies,
    };
    let (bytes, uuid) = render(&bom, Format::CycloneDx, "\"serialNumber\": \"urn:uuid:")?;
    Ok(Sbom { bytes, summary: view.summary(Format::CycloneDx, format!("urn:uuid:{uuid}"), edges) })
}
