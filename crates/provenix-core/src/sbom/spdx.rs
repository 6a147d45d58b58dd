//! SPDX 2.3 JSON.
//!
//! # Mapping
//!
//! | inventory | SPDX |
//! |---|---|
//! | derivation | `packages[]`, `SPDXID` `SPDXRef-<name>-<drv hash>` (the `.drv` file name, other characters as `-`) |
//! | pname, version | `name`, `versionInfo` (a source keeps its derivation name; a fetched patch has no version) |
//! | kind | `primaryPackagePurpose`: `APPLICATION` for a root, `SOURCE` for a fixed-output derivation, `LIBRARY` otherwise |
//! | URLs | `downloadLocation`: the first http(s)/ftp/git URL of the source (a package: of its sources), else `NOASSERTION` |
//! | realised outputs | `checksums[]` `SHA256` of each output's NAR (hex) |
//! | a source's declared hash | `checksums[]` with its algorithm (`MD5`, `SHA1`, `SHA256`, `SHA512`), hex |
//! | purl, registry packages | `externalRefs[]` `PACKAGE-MANAGER` `purl` (a source: `pkg:generic/…`, as in CycloneDX) |
//! | CPE candidates | `externalRefs[]` `SECURITY` `cpe23Type`, each one |
//! | licenses | `licenseDeclared`: the ids joined with `AND` when all are SPDX ids; a license known only by name becomes `LicenseRef-<name>` with an entry in `hasExtractedLicensingInfos`; none: `NOASSERTION`. `licenseConcluded` is `NOASSERTION`: provenix reports what the package metadata declares and concludes nothing |
//! | homepage, description | `homepage`, `summary` |
//! | `.drv` path, outputs, identity, runtime, source, patches with CVE ids | `comment`, one `key: value` line each |
//! | roots | `relationships[]` `SPDXRef-DOCUMENT DESCRIBES <root>` |
//! | edges | `relationships[]` `<a> DEPENDS_ON <b>`, build or runtime edges as the scope says |
//!
//! Every edge is `DEPENDS_ON`, in both scopes: it is the relationship the
//! issue asks for and the one consumers follow to walk a dependency graph;
//! the direction-reversed `BUILD_DEPENDENCY_OF` would split one graph into
//! two kinds of edges that point opposite ways. Which kind of edge a
//! document holds is said once, in `creationInfo.comment` (`scope: …`), and
//! each package's `comment` says whether it is in the runtime closure.
//!
//! SPDX requires `creationInfo.created`: it is the time given, else the fixed
//! `1970-01-01T00:00:00Z`, so the document stays deterministic.

use std::collections::BTreeMap;

use provenix_formats::hash::{HashAlgo, sha256};
use serde::Serialize;

use super::cyclonedx::source_purl;
use super::{Format, Sbom, SbomError, SbomOptions, TOOL_VERSION, Timestamp, View, hex_of_sri, is_spdx_id, render};
use crate::identity::Component;

/// Where document namespaces live; the UUID follows.
pub const NAMESPACE_PREFIX: &str = "https://spdx.org/spdxdocs/provenix-";

#[derive(Serialize)]
struct Document<'a> {
    #[serde(rename = "spdxVersion")]
    spdx_version: &'static str,
    #[serde(rename = "dataLicense")]
    data_license: &'static str,
    #[serde(rename = "SPDXID")]
    spdx_id: &'static str,
    #[serde(rename = "documentNamespace")]
    document_namespace: String,
    name: String,
    #[serde(rename = "creationInfo")]
    creation_info: CreationInfo,
    packages: Vec<Package<'a>>,
    #[serde(rename = "hasExtractedLicensingInfos", skip_serializing_if = "Vec::is_empty")]
    extracted: Vec<Extracted>,
    relationships: Vec<Relationship>,
}

#[derive(Serialize)]
struct CreationInfo {
    comment: String,
    created: String,
    creators: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Package<'a> {
    name: &'a str,
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_info: Option<&'a str>,
    primary_package_purpose: &'static str,
    download_location: &'a str,
    files_analyzed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checksums: Vec<Checksum>,
    #[serde(skip_serializing_if = "Option::is_none")]
    homepage: Option<&'a str>,
    license_concluded: &'static str,
    license_declared: String,
    copyright_text: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<&'a str>,
    comment: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    external_refs: Vec<ExternalRef>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Checksum {
    algorithm: &'static str,
    checksum_value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    reference_category: &'static str,
    reference_type: &'static str,
    reference_locator: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Extracted {
    license_id: String,
    extracted_text: String,
    name: String,
}

#[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
struct Relationship {
    spdx_element_id: String,
    relationship_type: &'static str,
    related_spdx_element: String,
}

/// SPDX's name of a checksum algorithm.
fn algorithm(algo: HashAlgo) -> &'static str {
    match algo {
        HashAlgo::Md5 => "MD5",
        HashAlgo::Sha1 => "SHA1",
        HashAlgo::Sha256 => "SHA256",
        HashAlgo::Sha512 => "SHA512",
    }
}

/// Letters, digits, `.` and `-` kept; anything else becomes `-`.
fn idstring(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' }).collect()
}

/// `SPDXRef-<name>-<hash>` of a `.drv` path: unique, because the hash part is.
pub fn spdx_id(drv_path: &str) -> String {
    let base = drv_path.rsplit('/').next().unwrap_or(drv_path);
    let base = base.strip_suffix(".drv").unwrap_or(base);
    match base.split_once('-') {
        Some((hash, name)) => format!("SPDXRef-{}-{}", idstring(name), idstring(hash)),
        None => format!("SPDXRef-{}", idstring(base)),
    }
}

/// A `LicenseRef-` id for a license known by name: the name as an idstring,
/// with a digest of the name when characters had to be replaced (so two
/// names never share an id).
fn license_ref(name: &str) -> String {
    let id = idstring(name);
    if id == name {
        format!("LicenseRef-{id}")
    } else {
        let digest = sha256(name.as_bytes());
        let short: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        format!("LicenseRef-{id}-{short}")
    }
}

/// `licenseDeclared` of a component, collecting `LicenseRef-` entries.
fn declared(c: &Component, extracted: &mut BTreeMap<String, String>) -> String {
    if c.licenses.is_empty() {
        return "NOASSERTION".to_owned();
    }
    let mut terms: Vec<String> = Vec::new();
    for l in &c.licenses {
        let term = match (&l.spdx_id, &l.name) {
            (Some(id), _) if is_spdx_id(id) && !id.starts_with("LicenseRef-") => id.clone(),
            (id, name) => {
                let name = name.as_deref().or(id.as_deref()).unwrap_or("unknown");
                let r = license_ref(name);
                extracted.entry(r.clone()).or_insert_with(|| name.to_owned());
                r
            }
        };
        if !terms.contains(&term) {
            terms.push(term);
        }
    }
    // Nixpkgs lists every license that applies to part of a package: all of them hold.
    terms.join(" AND ")
}

/// A URL SPDX accepts as a download location (its grammar names these transports).
fn download_url(url: &str) -> bool {
    ["http://", "https://", "ftp://", "sftp://", "git://", "ssh://", "git+", "hg+", "svn+", "bzr+"]
        .iter()
        .any(|p| url.starts_with(p))
}

fn comment(view: &View<'_>, id: provenix_store::drv::NodeId, c: &Component) -> String {
    let mut lines = vec![format!("nix drv: {}", c.drv_path)];
    for o in &c.outputs {
        if let Some(path) = &o.path {
            match &o.nar_hash {
                Some(h) => lines.push(format!("nix output {}: {path} (NAR {h})", o.name)),
                None => lines.push(format!("nix output {}: {path}", o.name)),
            }
        }
    }
    lines.push(format!("identity: {}", super::cyclonedx::identity_name(c)));
    if let Some(r) = view.runtime(id) {
        lines.push(format!("runtime: {r}"));
    }
    if let Some(s) = &c.source {
        lines.push(format!("source: {} {} {}", s.kind.as_str(), s.mode, s.hash));
    }
    if view.bootstrap_seeds.contains(&c.drv_path) {
        lines.push("bootstrap seed: yes (binary, not built from source in this closure)".to_owned());
    }
    for p in &c.patches {
        match p.cves.as_slice() {
            [] => lines.push(format!("patch: {}", p.name)),
            cves => lines.push(format!("patch: {} resolves {}", p.name, cves.join(", "))),
        }
    }
    lines.join("\n")
}

fn package<'a>(
    view: &View<'a>,
    id: provenix_store::drv::NodeId,
    c: &'a Component,
    extracted: &mut BTreeMap<String, String>,
) -> Package<'a> {
    let urls = view.source_urls(c);
    let mut checksums = Vec::new();
    let mut external_refs = Vec::new();
    let purpose = match &c.source {
        Some(source) => {
            if let Some(h) = hex_of_sri(&source.hash) {
                checksums.push(Checksum { algorithm: algorithm(h.algo), checksum_value: h.hex });
            }
            if let Some(purl) = source_purl(c, &urls) {
                external_refs.push(ExternalRef {
                    reference_category: "PACKAGE-MANAGER",
                    reference_type: "purl",
                    reference_locator: purl,
                });
            }
            "SOURCE"
        }
        None => {
            for h in c.outputs.iter().filter_map(|o| o.nar_hash.as_deref()).filter_map(hex_of_sri) {
                checksums.push(Checksum { algorithm: algorithm(h.algo), checksum_value: h.hex });
            }
            external_refs.push(ExternalRef {
                reference_category: "PACKAGE-MANAGER",
                reference_type: "purl",
                reference_locator: c.purl.clone(),
            });
            for p in &c.packages {
                external_refs.push(ExternalRef {
                    reference_category: "PACKAGE-MANAGER",
                    reference_type: "purl",
                    reference_locator: p.purl(),
                });
            }
            for cpe in &c.cpes {
                external_refs.push(ExternalRef {
                    reference_category: "SECURITY",
                    reference_type: "cpe23Type",
                    reference_locator: cpe.clone(),
                });
            }
            if view.roots.contains(&id) { "APPLICATION" } else { "LIBRARY" }
        }
    };
    Package {
        name: if c.source.is_some() { &c.name } else { &c.pname },
        spdx_id: spdx_id(&c.drv_path),
        version_info: c.version.as_deref(),
        primary_package_purpose: purpose,
        download_location: urls.iter().copied().find(|u| download_url(u)).unwrap_or("NOASSERTION"),
        files_analyzed: false,
        checksums,
        homepage: c.homepage.as_deref(),
        license_concluded: "NOASSERTION",
        license_declared: declared(c, extracted),
        copyright_text: "NOASSERTION",
        summary: c.description.as_deref(),
        comment: comment(view, id, c),
        external_refs,
    }
}

/// Writes the view as SPDX 2.3 JSON.
pub(crate) fn write(view: &View<'_>, options: &SbomOptions) -> Result<Sbom, SbomError> {
    let mut extracted = BTreeMap::new();
    let mut packages = Vec::new();
    let mut relationships = Vec::new();
    for (id, c) in view.components() {
        let from = spdx_id(&c.drv_path);
        for to in view.edges(id).filter_map(|to| view.component(to)) {
            relationships.push(Relationship {
                spdx_element_id: from.clone(),
                relationship_type: "DEPENDS_ON",
                related_spdx_element: spdx_id(&to.drv_path),
            });
        }
        packages.push(package(view, id, c, &mut extracted));
    }
    relationships.sort();
    relationships.dedup();
    let edges = relationships.len();
    let mut describes: Vec<Relationship> = view
        .roots
        .iter()
        .filter_map(|&r| view.component(r))
        .map(|c| Relationship {
            spdx_element_id: "SPDXRef-DOCUMENT".to_owned(),
            relationship_type: "DESCRIBES",
            related_spdx_element: spdx_id(&c.drv_path),
        })
        .collect();
    describes.sort();
    describes.append(&mut relationships);
    packages.sort_by(|a, b| a.spdx_id.cmp(&b.spdx_id));
    let names: Vec<&str> = view.roots.iter().filter_map(|&r| view.component(r)).map(|c| c.name.as_str()).collect();
    let created = options.timestamp.unwrap_or(Timestamp::EPOCH);
    let doc = Document {
        spdx_version: "SPDX-2.3",
        data_license: "CC0-1.0",
        spdx_id: "SPDXRef-DOCUMENT",
        document_namespace: format!("{NAMESPACE_PREFIX}{}", super::NIL_UUID),
        name: names.join(" + "),
        creation_info: CreationInfo {
            comment: format!(
                "scope: {}; written by provenix from Nix derivations; every DEPENDS_ON is a {} edge{}",
                view.scope.as_str(),
                match view.scope {
                    super::Scope::Buildtime => "build-time (.drv input)",
                    super::Scope::Runtime => "runtime (Nix database reference)",
                },
                if options.timestamp.is_none() { "; created is a fixed time, not the time of writing" } else { "" }
            ),
            created: created.to_string(),
            creators: vec![format!("Tool: provenix-{TOOL_VERSION}")],
        },
        packages,
        extracted: extracted
            .into_iter()
            .map(|(license_id, name)| Extracted {
                license_id,
                extracted_text: format!(
                    "The license named \"{name}\" in the package metadata; its text is not known to provenix."
                ),
                name,
            })
            .collect(),
        relationships: describes,
    };
    let (bytes, uuid) = render(&doc, Format::Spdx, &format!("\"documentNamespace\": \"{NAMESPACE_PREFIX}"))?;
    Ok(Sbom { bytes, summary: view.summary(Format::Spdx, format!("{NAMESPACE_PREFIX}{uuid}"), edges) })
}
