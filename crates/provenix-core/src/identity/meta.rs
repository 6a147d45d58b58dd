//! Package metadata from Nix evaluation (`--meta FILE`): licenses, CPEs,
//! homepage and description, which a `.drv` does not carry.
//!
//! # Accepted input
//!
//! - `nix-env -qa --json --meta` (and `nix-env -q --json --meta`): an object
//!   of attribute paths to `{name, pname, version, outputs, meta}`;
//! - `nix eval --json` output of such package objects: one object, a list
//!   of them, or an object of them.
//!
//! A package object is recognised by a string `name` or a `meta` object.
//! Within `meta`: `license` (an object with `spdxId`/`fullName`/
//! `shortName`, a string, or a list of either), `identifiers.cpe` (a CPE
//! 2.3 string) and `identifiers.possibleCPEs` (a list of strings or of
//! objects with a `cpe` field), `homepage` (a string or a list), and
//! `description`. Other fields are ignored.
//!
//! # Matching to derivations
//!
//! An entry applies to a derivation when one of its `outputs` paths is an
//! output of the derivation, or else when its `name` equals the
//! derivation's name. Two entries for one name (two attribute paths to the
//! same package) are merged, the first attribute path in sorted order first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use super::table::CpeId;

/// Errors from reading a metadata file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MetaError {
    /// The file could not be read.
    #[error("reading metadata file {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("metadata file {} is not JSON", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// The JSON holds no package object.
    #[error(
        "metadata file {}: no package objects (expected `nix-env -qa --json --meta` or `nix eval --json` output)",
        path.display()
    )]
    NoPackages {
        /// The file.
        path: PathBuf,
    },
}

/// A license as `meta.license` gives it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct License {
    /// The SPDX license id, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spdx_id: Option<String>,
    /// The full or short name, when there is no SPDX id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The metadata of one package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// Licenses.
    pub licenses: Vec<License>,
    /// Full CPE 2.3 names (`identifiers.cpe` first, then `possibleCPEs`).
    pub cpes: Vec<String>,
    /// Homepage URLs.
    pub homepages: Vec<String>,
    /// One-line description.
    pub description: Option<String>,
}

impl Meta {
    /// The vendor and product of each CPE.
    pub fn cpe_ids(&self) -> Vec<CpeId> {
        let mut ids: Vec<CpeId> = self.cpes.iter().filter_map(|c| cpe_id(c)).collect();
        ids.dedup();
        ids
    }

    fn merge(&mut self, other: Meta) {
        for l in other.licenses {
            if !self.licenses.contains(&l) {
                self.licenses.push(l);
            }
        }
        for c in other.cpes {
            if !self.cpes.contains(&c) {
                self.cpes.push(c);
            }
        }
        for h in other.homepages {
            if !self.homepages.contains(&h) {
                self.homepages.push(h);
            }
        }
        self.description = self.description.take().or(other.description);
    }
}

/// Vendor and product of a CPE 2.3 formatted string (`cpe:2.3:a:gnu:hello:…`).
pub fn cpe_id(cpe: &str) -> Option<CpeId> {
    let rest = cpe.strip_prefix("cpe:2.3:")?;
    let mut fields = split_cpe(rest);
    let _part = fields.next()?;
    let vendor = fields.next()?;
    let product = fields.next()?;
    let usable = |s: &str| !s.is_empty() && s != "*" && s != "-";
    (usable(&vendor) && usable(&product)).then_some(CpeId { vendor, product })
}

/// Splits CPE fields on unescaped `:` and removes the escapes.
fn split_cpe(s: &str) -> impl Iterator<Item = String> + '_ {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => field.extend(chars.next()),
            ':' => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields.into_iter()
}

/// Metadata of many packages, by name and by output path.
#[derive(Debug, Clone, Default)]
pub struct MetaTable {
    by_name: BTreeMap<String, Meta>,
    by_output: BTreeMap<String, String>,
}

impl MetaTable {
    /// Reads a metadata file.
    pub fn load(path: &Path) -> Result<MetaTable, MetaError> {
        let bytes = std::fs::read(path).map_err(|source| MetaError::Io { path: path.to_owned(), source })?;
        MetaTable::parse(&bytes, path)
    }

    /// Parses metadata; `path` names it in errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<MetaTable, MetaError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|source| MetaError::Json { path: path.to_owned(), source })?;
        let mut table = MetaTable::default();
        let mut found = 0usize;
        let mut add = |pkg: &serde_json::Map<String, Value>| {
            let Some(name) = pkg.get("name").and_then(Value::as_str) else { return };
            found += 1;
            if let Some(Value::Object(outputs)) = pkg.get("outputs") {
                for path in outputs.values().filter_map(Value::as_str) {
                    table.by_output.entry(path.to_owned()).or_insert_with(|| name.to_owned());
                }
            }
            let meta = pkg.get("meta").map(read_meta).unwrap_or_default();
            match table.by_name.get_mut(name) {
                Some(old) => old.merge(meta),
                None => {
                    table.by_name.insert(name.to_owned(), meta);
                }
            }
        };
        match &value {
            Value::Object(map) if is_package(map) => add(map),
            Value::Object(map) => {
                map.values().filter_map(Value::as_object).filter(|m| is_package(m)).for_each(&mut add)
            }
            Value::Array(items) => {
                items.iter().filter_map(Value::as_object).filter(|m| is_package(m)).for_each(&mut add)
            }
            _ => {}
        }
        if found == 0 {
            return Err(MetaError::NoPackages { path: path.to_owned() });
        }
        Ok(table)
    }

    /// The metadata of a derivation with this name and these output paths.
    pub fn lookup<'a>(&self, name: &str, outputs: impl IntoIterator<Item = &'a str>) -> Option<&Meta> {
        outputs
            .into_iter()
            .find_map(|o| self.by_output.get(o))
            .and_then(|n| self.by_name.get(n))
            .or_else(|| self.by_name.get(name))
    }

    /// Number of packages.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

fn is_package(map: &serde_json::Map<String, Value>) -> bool {
    map.get("name").is_some_and(Value::is_string) && (map.contains_key("meta") || map.contains_key("version"))
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

fn license(value: &Value) -> Option<License> {
    match value {
        Value::String(s) if !s.is_empty() => Some(License { spdx_id: None, name: Some(s.clone()) }),
        Value::Object(m) => {
            let text = |k: &str| m.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
            let spdx_id = text("spdxId");
            let name = if spdx_id.is_some() { None } else { text("fullName").or_else(|| text("shortName")) };
            (spdx_id.is_some() || name.is_some()).then_some(License { spdx_id, name })
        }
        _ => None,
    }
}

fn read_meta(value: &Value) -> Meta {
    let Some(m) = value.as_object() else { return Meta::default() };
    let licenses = match m.get("license") {
        Some(Value::Array(items)) => items.iter().filter_map(license).collect(),
        Some(v) => license(v).into_iter().collect(),
        None => Vec::new(),
    };
    let mut cpes = Vec::new();
    if let Some(Value::Object(ids)) = m.get("identifiers") {
        cpes.extend(ids.get("cpe").and_then(Value::as_str).map(str::to_owned));
        if let Some(Value::Array(possible)) = ids.get("possibleCPEs") {
            for p in possible {
                let cpe = p.as_str().or_else(|| p.get("cpe").and_then(Value::as_str));
                if let Some(cpe) = cpe
                    && !cpes.iter().any(|c| c == cpe)
                {
                    cpes.push(cpe.to_owned());
                }
            }
        }
    }
    cpes.retain(|c| cpe_id(c).is_some());
    Meta {
        licenses,
        cpes,
        homepages: strings(m.get("homepage")),
        description: m.get("description").and_then(Value::as_str).map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NIX_ENV: &str = r#"{
      "nixpkgs.hello": {
        "name": "hello-2.12.1", "pname": "hello", "version": "2.12.1", "system": "x86_64-linux",
        "outputName": "out", "outputs": { "out": "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-2.12.1" },
        "meta": {
          "description": "A program that produces a familiar, friendly greeting",
          "homepage": "https://www.gnu.org/software/hello/manual/",
          "license": { "deprecated": false, "free": true, "fullName": "GNU General Public License v3.0 or later", "shortName": "gpl3Plus", "spdxId": "GPL-3.0-or-later" },
          "identifiers": { "cpe": "cpe:2.3:a:gnu:hello:2.12.1:*:*:*:*:*:*:*", "possibleCPEs": [ { "cpe": "cpe:2.3:a:gnu:hello:2.12.1:*:*:*:*:*:*:*" } ] }
        }
      },
      "nixpkgs.xz": { "name": "xz-5.6.0", "meta": { "license": [ { "spdxId": "0BSD" }, "publicDomain", { "fullName": "LGPL-ish" } ], "homepage": [ "https://tukaani.org/xz/" ] } }
    }"#;

    #[test]
    fn reads_nix_env_meta_output() {
        let table = MetaTable::parse(NIX_ENV.as_bytes(), Path::new("meta.json")).unwrap();
        assert_eq!(table.len(), 2);
        let hello = table.lookup("other-name", ["/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-2.12.1"]).unwrap();
        assert_eq!(hello.licenses, [License { spdx_id: Some("GPL-3.0-or-later".into()), name: None }]);
        assert_eq!(hello.cpes, ["cpe:2.3:a:gnu:hello:2.12.1:*:*:*:*:*:*:*"]);
        assert_eq!(hello.cpe_ids(), [CpeId { vendor: "gnu".into(), product: "hello".into() }]);
        let xz = table.lookup("xz-5.6.0", []).unwrap();
        assert_eq!(xz.licenses.len(), 3);
        assert_eq!(xz.licenses[1].name.as_deref(), Some("publicDomain"));
        assert_eq!(xz.homepages, ["https://tukaani.org/xz/"]);
        assert!(table.lookup("xz-5.6.1", []).is_none());
    }

    #[test]
    fn reads_nix_eval_output_of_one_package_or_a_list() {
        let one = r#"{ "name": "zlib-1.3", "version": "1.3", "meta": { "identifiers": { "cpe": "cpe:2.3:a:zlib:zlib:1.3:*:*:*:*:*:*:*" } } }"#;
        let table = MetaTable::parse(one.as_bytes(), Path::new("m")).unwrap();
        assert_eq!(table.lookup("zlib-1.3", []).unwrap().cpe_ids()[0].vendor, "zlib");
        let list = r#"[ { "name": "a-1", "meta": {} }, { "name": "b-2", "meta": { "description": "b" } } ]"#;
        let table = MetaTable::parse(list.as_bytes(), Path::new("m")).unwrap();
        assert_eq!(table.lookup("b-2", []).unwrap().description.as_deref(), Some("b"));
    }

    #[test]
    fn errors_name_the_file() {
        let err = MetaTable::parse(b"{ nope", Path::new("meta.json")).unwrap_err();
        assert_eq!(err.to_string(), "metadata file meta.json is not JSON");
        let err = MetaTable::parse(b"{\"a\": 1}", Path::new("meta.json")).unwrap_err();
        assert!(err.to_string().starts_with("metadata file meta.json: no package objects"), "{err}");
    }

    #[test]
    fn cpe_fields_honour_escapes() {
        assert_eq!(
            cpe_id("cpe:2.3:a:node\\:js:node.js:1:*:*:*:*:*:*:*"),
            Some(CpeId { vendor: "node:js".into(), product: "node.js".into() })
        );
        assert_eq!(cpe_id("cpe:2.3:a:*:x:1"), None);
        assert_eq!(cpe_id("cpe:/a:gnu:hello"), None);
    }
}
