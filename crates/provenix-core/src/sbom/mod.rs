//! Software bills of materials: an [`Inventory`] written as CycloneDX 1.6
//! JSON ([`cyclonedx`]) or SPDX 2.3 JSON ([`spdx`]).
//!
//! # Scope
//!
//! - [`Scope::Buildtime`] (the default): every derivation of the build
//!   closure, with the build edges (`.drv` inputs). When the inventory has
//!   complete runtime information (a Nix database and every root output
//!   realised), each component also says whether it is in the runtime
//!   closure.
//! - [`Scope::Runtime`]: only the derivations with an output in the runtime
//!   closure of the roots' realised outputs, with the runtime edges (the Nix
//!   database's references). An error when the inventory has no runtime
//!   information or a root output is not realised, naming it.
//!
//! # Determinism
//!
//! The same inventory and options give the same bytes: components come in
//! `.drv` path order, edges and lists are sorted, keys are written in a fixed
//! order (serde structs), and no clock is read: a time appears only when the
//! caller passes a [`Timestamp`] (SPDX requires `created`, so without one it
//! is the fixed [`Timestamp::EPOCH`]). The CycloneDX serial number and the
//! SPDX document namespace are a UUID (version 8, RFC 9562) made from the
//! SHA-256 of the document itself, written with an all-zero UUID in its
//! place: equal documents get equal serials, and any change to what the
//! document says (roots, scope, format, metadata, tool version, time)
//! changes it.
//!
//! Cost: one pass over the components and edges, then one serialisation
//! and one SHA-256 of the output; linear in the closure size.

pub mod cyclonedx;
pub mod spdx;

use std::collections::HashMap;
use std::fmt;

use provenix_formats::hash::{Hash, HashAlgo, sha256};
use provenix_store::drv::NodeId;
use serde::Serialize;
use thiserror::Error;

use crate::fod::SourceKind;
use crate::identity::{Component, IdentityFrom, Inventory};

/// The version written into documents as the creating tool's.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Errors from writing an SBOM.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SbomError {
    /// A runtime SBOM was asked for an inventory without runtime dependencies.
    #[error(
        "a runtime SBOM of {roots} needs runtime dependencies from the Nix database (none found; give --db or --store)"
    )]
    NoRuntime {
        /// The roots, comma-separated.
        roots: String,
    },
    /// A runtime SBOM was asked but root outputs are not realised.
    #[error("a runtime SBOM needs the roots built, but {outputs} is not realised (build it, or use --buildtime)")]
    Unrealised {
        /// The outputs, as `drv!output`, comma-separated.
        outputs: String,
    },
    /// The inventory has no root.
    #[error("the inventory has no root")]
    NoRoot,
    /// Serialising failed.
    #[error("serialising the {format} document")]
    Json {
        /// The format.
        format: Format,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

/// Errors from parsing a timestamp.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// The text is not an RFC 3339 date and time.
    #[error("timestamp {text:?} is not an RFC 3339 date and time (like 2024-05-01T12:00:00Z)")]
    Syntax {
        /// The text.
        text: String,
    },
    /// A field is out of range.
    #[error("timestamp {text:?}: {field} is out of range")]
    Range {
        /// The text.
        text: String,
        /// The field.
        field: &'static str,
    },
}

/// The document format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// CycloneDX 1.6 JSON.
    CycloneDx,
    /// SPDX 2.3 JSON.
    Spdx,
}

impl Format {
    /// The name used on the command line and in summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::CycloneDx => "cyclonedx",
            Format::Spdx => "spdx",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::CycloneDx => "CycloneDX 1.6",
            Format::Spdx => "SPDX 2.3",
        })
    }
}

/// Which components and edges a document holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The build closure and its build edges.
    #[default]
    Buildtime,
    /// The runtime closure of the roots' outputs and its runtime edges.
    Runtime,
}

impl Scope {
    /// The name used on the command line and in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Buildtime => "buildtime",
            Scope::Runtime => "runtime",
        }
    }
}

/// A point in time, UTC, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    unix: i64,
}

impl Timestamp {
    /// 1970-01-01T00:00:00Z: SPDX's `created` when no time is given.
    pub const EPOCH: Timestamp = Timestamp { unix: 0 };

    /// The time `unix` seconds after the epoch.
    pub fn from_unix(unix: i64) -> Timestamp {
        Timestamp { unix }
    }

    /// Seconds since the epoch.
    pub fn unix(self) -> i64 {
        self.unix
    }

    /// Parses RFC 3339 (`2024-05-01T12:00:00Z`, `2024-05-01T14:00:00.5+02:00`,
    /// `t` and `z` or a space also accepted); fractions of a second are dropped.
    pub fn parse(text: &str) -> Result<Timestamp, TimestampError> {
        Timestamp::parse_precise(text).map(|(t, _)| t)
    }

    /// Like [`Timestamp::parse`], with the fraction of a second: its digits without trailing
    /// zeros (`""` for none), so that fractions compare as text (`"25"` < `"5"`, as 0.25 < 0.5).
    pub fn parse_precise(text: &str) -> Result<(Timestamp, &str), TimestampError> {
        let syntax = || TimestampError::Syntax { text: text.to_owned() };
        let range = |field| TimestampError::Range { text: text.to_owned(), field };
        let b = text.as_bytes();
        let num = |from: usize, len: usize| -> Result<i64, TimestampError> {
            let s = b.get(from..from + len).ok_or_else(syntax)?;
            if !s.iter().all(u8::is_ascii_digit) {
                return Err(syntax());
            }
            Ok(s.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
        };
        let at = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
        if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt ") && at(13, b":") && at(16, b":")) {
            return Err(syntax());
        }
        let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
        let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
        let mut i = 19;
        let mut fraction = "";
        if at(i, b".") {
            i += 1;
            let start = i;
            while at(i, b"0123456789") {
                i += 1;
            }
            if i == start {
                return Err(syntax());
            }
            fraction = text.get(start..i).unwrap_or_default().trim_end_matches('0');
        }
        let offset = match b.get(i) {
            Some(b'Z' | b'z') if i + 1 == b.len() => 0,
            Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && at(i + 3, b":") => {
                let (h, m) = (num(i + 1, 2)?, num(i + 4, 2)?);
                if h > 23 || m > 59 {
                    return Err(range("offset"));
                }
                let minutes = h * 60 + m;
                if *sign == b'+' { minutes } else { -minutes }
            }
            _ => return Err(syntax()),
        };
        if !(1..=12).contains(&month) {
            return Err(range("month"));
        }
        if day < 1 || day > days_in_month(year, month) {
            return Err(range("day"));
        }
        // 60 is a leap second; it counts as the next second's start.
        if hour > 23 || minute > 59 || second > 60 {
            return Err(range("time"));
        }
        let days = days_from_civil(year, month, day);
        Ok((Timestamp { unix: days * 86_400 + hour * 3600 + minute * 60 + second - offset * 60 }, fraction))
    }
}

impl fmt::Display for Timestamp {
    /// `YYYY-MM-DDThh:mm:ssZ`, the form SPDX requires for `created`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.unix.div_euclid(86_400);
        let secs = self.unix.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(f, "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (if month <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, month, day)
}

/// What to write.
#[derive(Debug, Clone, Default)]
pub struct SbomOptions {
    /// Buildtime or runtime.
    pub scope: Scope,
    /// The document's time, when the caller wants one.
    pub timestamp: Option<Timestamp>,
    /// `.drv` paths of the binary seed ([`crate::bootstrap`]): their components are marked
    /// (`nix:bootstrap_seed` in CycloneDX, a `bootstrap seed` comment line in SPDX).
    pub bootstrap_seeds: std::collections::BTreeSet<String>,
}

/// What a written document holds, for reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SbomSummary {
    /// `cyclonedx` or `spdx`.
    pub format: &'static str,
    /// `buildtime` or `runtime`.
    pub scope: Scope,
    /// The CycloneDX serial number or the SPDX document namespace.
    pub serial: String,
    /// The roots' `.drv` paths.
    pub roots: Vec<String>,
    /// Components (CycloneDX components plus the subject; SPDX packages).
    pub components: usize,
    /// Of these, derivations that are not fixed-output.
    pub packages: usize,
    /// Of these, fixed-output derivations (sources).
    pub sources: usize,
    /// Packages with no known CPE identity.
    pub unknown_identities: usize,
    /// Components in the runtime closure, when known.
    pub runtime: Option<usize>,
    /// Dependency edges written.
    pub edges: usize,
    /// Components with a NAR hash of an output.
    pub hashed: usize,
}

/// A written document: its bytes and what it holds.
#[derive(Debug, Clone)]
pub struct Sbom {
    /// The JSON document, pretty-printed, ending in a newline.
    pub bytes: Vec<u8>,
    /// The summary.
    pub summary: SbomSummary,
}

/// Writes the inventory as a document of `format`.
pub fn write(inventory: &Inventory, format: Format, options: &SbomOptions) -> Result<Sbom, SbomError> {
    let mut view = View::new(inventory, options.scope)?;
    view.bootstrap_seeds = &options.bootstrap_seeds;
    match format {
        Format::CycloneDx => cyclonedx::write(&view, options),
        Format::Spdx => spdx::write(&view, options),
    }
}

/// The inventory seen through a scope: which components, which edges.
pub(crate) struct View<'a> {
    pub(crate) inventory: &'a Inventory,
    pub(crate) scope: Scope,
    /// Per node: in the document.
    included: Vec<bool>,
    /// Per node: in the runtime closure, when that is completely known.
    runtime: Option<&'a [bool]>,
    /// Root nodes, in the order given.
    pub(crate) roots: Vec<NodeId>,
    /// Output path → the fixed-output component that makes it (for patches).
    fod_outputs: HashMap<&'a str, usize>,
    /// `.drv` path → the fixed-output component.
    fod_drvs: HashMap<&'a str, usize>,
    /// `.drv` paths of the binary seed ([`SbomOptions::bootstrap_seeds`]).
    pub(crate) bootstrap_seeds: &'a std::collections::BTreeSet<String>,
}

/// No seeds, for a view made without options.
static NO_SEEDS: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();

impl<'a> View<'a> {
    fn new(inventory: &'a Inventory, scope: Scope) -> Result<View<'a>, SbomError> {
        let roots: Vec<NodeId> = inventory.graph.roots().to_vec();
        if roots.is_empty() {
            return Err(SbomError::NoRoot);
        }
        let complete = inventory.runtime.as_ref().filter(|rt| rt.unrealised_roots.is_empty());
        let included = match scope {
            Scope::Buildtime => vec![true; inventory.components.len()],
            Scope::Runtime => {
                let Some(rt) = &inventory.runtime else {
                    let roots = roots.iter().filter_map(|&r| inventory.component(r)).map(|c| c.drv_path.as_str());
                    return Err(SbomError::NoRuntime { roots: roots.collect::<Vec<_>>().join(", ") });
                };
                if !rt.unrealised_roots.is_empty() {
                    return Err(SbomError::Unrealised { outputs: rt.unrealised_roots.join(", ") });
                }
                rt.in_closure.clone()
            }
        };
        let mut fod_outputs = HashMap::new();
        let mut fod_drvs = HashMap::new();
        for (n, c) in inventory.components.iter().enumerate() {
            if c.source.is_some() {
                fod_drvs.insert(c.drv_path.as_str(), n);
                for path in c.outputs.iter().filter_map(|o| o.path.as_deref()) {
                    fod_outputs.insert(path, n);
                }
            }
        }
        let runtime = complete.map(|rt| rt.in_closure.as_slice());
        Ok(View { inventory, scope, included, runtime, roots, fod_outputs, fod_drvs, bootstrap_seeds: &NO_SEEDS })
    }

    /// The components in the document, in `.drv` path order.
    pub(crate) fn components(&self) -> impl Iterator<Item = (NodeId, &'a Component)> + '_ {
        self.inventory
            .graph
            .nodes()
            .zip(&self.inventory.components)
            .filter(|(id, _)| self.included.get(id.index()).copied().unwrap_or(false))
    }

    /// The component of a node.
    pub(crate) fn component(&self, id: NodeId) -> Option<&'a Component> {
        self.inventory.component(id)
    }

    /// What `id` depends on in this scope, in `.drv` path order.
    pub(crate) fn edges(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        let edges: &[NodeId] = match (self.scope, &self.inventory.runtime) {
            (Scope::Runtime, Some(rt)) => rt.edges.get(id.index()).map_or(&[], Vec::as_slice),
            _ => self.inventory.graph.inputs(id),
        };
        edges.iter().copied().filter(|to| self.included.get(to.index()).copied().unwrap_or(false))
    }

    /// Whether a node is in the runtime closure, when that is completely known.
    pub(crate) fn runtime(&self, id: NodeId) -> Option<bool> {
        match self.scope {
            Scope::Runtime => Some(true),
            Scope::Buildtime => self.runtime.map(|r| r.get(id.index()).copied().unwrap_or(false)),
        }
    }

    /// The fetched URL of a patch's store path, when a fixed-output derivation of the closure makes it.
    pub(crate) fn patch_url(&self, path: &str) -> Option<&'a str> {
        let c = self.inventory.components.get(*self.fod_outputs.get(path)?)?;
        let source = c.source.as_ref()?;
        source.resolved_urls.first().or(source.urls.first()).map(String::as_str)
    }

    /// The source URLs of a component: its own when it is fixed-output, else its fixed-output
    /// inputs' (not patches), each once, in order.
    pub(crate) fn source_urls(&self, c: &'a Component) -> Vec<&'a str> {
        let mut urls: Vec<&str> = Vec::new();
        let mut add = |c: &'a Component| {
            if let Some(s) = &c.source {
                let list = if s.resolved_urls.is_empty() { &s.urls } else { &s.resolved_urls };
                for u in list {
                    if !urls.contains(&u.as_str()) {
                        urls.push(u);
                    }
                }
            }
        };
        if c.source.is_some() {
            add(c);
            return urls;
        }
        for drv in &c.sources {
            if let Some(input) = self.fod_drvs.get(drv.as_str()).and_then(|&n| self.inventory.components.get(n))
                && input.source.as_ref().is_some_and(|s| s.kind != SourceKind::Patch)
            {
                add(input);
            }
        }
        urls
    }

    /// The summary of this view, given the document's counts.
    pub(crate) fn summary(&self, format: Format, serial: String, edges: usize) -> SbomSummary {
        let (mut components, mut packages, mut sources, mut unknown, mut runtime, mut hashed) = (0, 0, 0, 0, 0, 0);
        for (id, c) in self.components() {
            components += 1;
            if c.source.is_some() {
                sources += 1;
            } else {
                packages += 1;
                if c.identity == IdentityFrom::Unknown {
                    unknown += 1;
                }
            }
            if self.runtime(id) == Some(true) {
                runtime += 1;
            }
            if c.outputs.iter().any(|o| o.nar_hash.is_some()) {
                hashed += 1;
            }
        }
        let known = self.scope == Scope::Runtime || self.runtime.is_some();
        SbomSummary {
            format: format.as_str(),
            scope: self.scope,
            serial,
            roots: self.roots.iter().filter_map(|&r| self.component(r)).map(|c| c.drv_path.clone()).collect(),
            components,
            packages,
            sources,
            unknown_identities: unknown,
            runtime: known.then_some(runtime),
            edges,
            hashed,
        }
    }
}

/// A digest as a document gives it: algorithm and lowercase hex.
pub(crate) struct HexHash {
    pub(crate) algo: HashAlgo,
    pub(crate) hex: String,
}

/// An SRI hash (`sha256-…`) as algorithm and hex, or `None` if it does not parse.
pub(crate) fn hex_of_sri(sri: &str) -> Option<HexHash> {
    let hash = Hash::parse_sri(sri).ok()?;
    Some(HexHash { algo: hash.algo(), hex: hash.to_base16() })
}

/// True for a string that can be an SPDX license id (`idstring` in the SPDX grammar).
pub(crate) fn is_spdx_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'+')
}

/// A UUID (version 8, RFC 9562 variant) made from the SHA-256 of `bytes`.
pub(crate) fn uuid_of(bytes: &[u8]) -> String {
    let digest = sha256(bytes);
    let mut u = [0u8; 16];
    u.copy_from_slice(digest.get(..16).unwrap_or(&[0; 16]));
    u[6] = (u[6] & 0x0f) | 0x80;
    u[8] = (u[8] & 0x3f) | 0x80;
    let hex: String = u.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// The all-zero UUID written in place of the serial before the document is hashed.
pub(crate) const NIL_UUID: &str = "00000000-0000-0000-0000-000000000000";

/// Serialises `doc` pretty-printed with the nil UUID where the serial goes, then replaces the
/// first `key_prefix` + nil UUID (the serial: written before any data from the inventory) by
/// the UUID of the bytes. Returns the bytes and the UUID.
pub(crate) fn render<T: Serialize>(doc: &T, format: Format, key_prefix: &str) -> Result<(Vec<u8>, String), SbomError> {
    let mut bytes = serde_json::to_vec_pretty(doc).map_err(|source| SbomError::Json { format, source })?;
    bytes.push(b'\n');
    let uuid = uuid_of(&bytes);
    let needle = format!("{key_prefix}{NIL_UUID}");
    let start = bytes.windows(needle.len()).position(|w| w == needle.as_bytes()).map(|at| at + key_prefix.len());
    match start.and_then(|start| bytes.get_mut(start..start + NIL_UUID.len())) {
        Some(slot) => slot.copy_from_slice(uuid.as_bytes()),
        // Every document writes the key first thing; were it missing, say what the bytes hold.
        None => return Ok((bytes, NIL_UUID.to_owned())),
    }
    Ok((bytes, uuid))
}

#[cfg(test)]
mod tests;
