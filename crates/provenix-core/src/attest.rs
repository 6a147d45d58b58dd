//! Attestations: in-toto Statements v1 carrying SLSA Provenance v1, signed
//! in DSSE envelopes with Nix-format ed25519 keys.
//!
//! Layers, outermost first:
//!
//! 1. the DSSE envelope ([`provenix_formats::dsse`]) with payload type
//!    [`PAYLOAD_TYPE`], whose signatures cover the payload bytes and type;
//! 2. the in-toto Statement ([`Statement`], `_type` [`STATEMENT_TYPE`]):
//!    subjects (artifacts named by digest) and a typed predicate;
//! 3. the predicate, here SLSA Provenance v1 ([`Provenance`],
//!    `predicateType` [`PROVENANCE_TYPE`]): how the subjects were built.
//!
//! [`sign`] serialises a statement as compact JSON (struct fields in spec
//! order, maps sorted by key, so the same statement always gives the same
//! bytes and signature) and signs it. [`verify`] is the reverse, in the order
//! DSSE prescribes: parse the envelope, check the signatures against trusted
//! keys, then check the payload type, then parse and check the statement
//! ([`Statement::validate`]): `_type`, at least one subject, every subject
//! with a non-empty digest set whose values for the standard algorithms are
//! lowercase hex of the right length, a predicate that is an object, and for
//! SLSA provenance a predicate of that shape whose every ResourceDescriptor
//! (`resolvedDependencies`, `byproducts`, `builderDependencies`) has at least
//! one of `uri`, `digest` and `content`, as the in-toto ResourceDescriptor
//! spec requires.
//!
//! Parsing follows the in-toto rules: unknown fields are ignored (and not
//! kept), optional fields may be absent or `null`. It is stricter in one way:
//! a JSON object with the same key twice anywhere in the payload is refused,
//! because two consumers could read two different statements from it.
//! `ResourceDescriptor.content` is kept as its base64 text. Timestamps in [`BuildMetadata`] are kept as given.
//!
//! Cost: two passes over the payload (the duplicate-key scan and the typed
//! parse), one ed25519 verification per signature naming a trusted key.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use provenix_formats::dsse::{DsseError, Envelope};
use provenix_formats::signature::{SecretKey, TrustedKeys};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// `predicateType` of SLSA Provenance v1.
pub const PROVENANCE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// DSSE `payloadType` of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// An in-toto Statement v1: the subjects an attestation is about, and what it says about them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    /// Always [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub type_: String,
    /// The artifacts the statement is about; each must have a digest.
    pub subject: Vec<ResourceDescriptor>,
    /// What kind of predicate follows, e.g. [`PROVENANCE_TYPE`].
    pub predicate_type: String,
    /// The predicate, a JSON object; `null` (absent) means empty.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub predicate: Value,
}

/// An in-toto ResourceDescriptor: an artifact or resource, by name, URI and/or digest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDescriptor {
    /// An identifier that tells descriptors apart, e.g. a store path name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A URI that identifies the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Algorithm (`sha256`, `sha512`, ...) to lowercase hex digest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    /// The resource itself, base64 (for small records such as settings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Where to download it, if not `uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_location: Option<String>,
    /// Its media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Anything else about it (provenix puts per-output rebuild verdicts under `verdict`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Map<String, Value>>,
}

impl ResourceDescriptor {
    /// True when it has at least one of `uri`, `digest` and `content`, as the spec requires.
    pub fn is_located(&self) -> bool {
        self.uri.as_deref().is_some_and(|u| !u.is_empty())
            || !self.digest.is_empty()
            || self.content.as_deref().is_some_and(|c| !c.is_empty())
    }

    /// A descriptor whose `content` is `bytes` (base64), with their sha256 as `digest`.
    pub fn with_content(name: &str, media_type: &str, bytes: &[u8]) -> ResourceDescriptor {
        use base64::Engine as _;
        let sha256 = provenix_formats::hash::Hash::compute(provenix_formats::hash::HashAlgo::Sha256, bytes);
        ResourceDescriptor {
            name: Some(name.to_owned()),
            digest: [("sha256".to_owned(), sha256.to_base16())].into(),
            content: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
            media_type: Some(media_type.to_owned()),
            ..ResourceDescriptor::default()
        }
    }
}

/// The SLSA Provenance v1 predicate: how the subjects were built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// The inputs of the build.
    pub build_definition: BuildDefinition,
    /// This particular run of the build.
    pub run_details: RunDetails,
}

/// What was built and from what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    /// A URI naming the template of the build (how to read the parameters).
    pub build_type: String,
    /// The parameters under the control of whoever asked for the build; a JSON object.
    pub external_parameters: Value,
    /// Parameters the build platform chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_parameters: Option<Value>,
    /// The artifacts the build read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

/// Who ran the build, when, and what else came out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunDetails {
    /// The build platform.
    pub builder: Builder,
    /// Times and an invocation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BuildMetadata>,
    /// Other outputs of the run (logs, per-output verdicts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub byproducts: Vec<ResourceDescriptor>,
}

/// The build platform's identity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Builder {
    /// A URI naming the builder; whoever trusts it trusts its provenance.
    pub id: String,
    /// Component name to version.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub version: BTreeMap<String, String>,
    /// The builder's own dependencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builder_dependencies: Vec<ResourceDescriptor>,
}

/// When the build ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildMetadata {
    /// An identifier of this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation_id: Option<String>,
    /// RFC 3339 start time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_on: Option<String>,
    /// RFC 3339 end time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_on: Option<String>,
}

/// Errors from checking an attestation.
///
/// [`AttestError::is_verification_failure`] separates "the signatures do not
/// vouch for this" (exit 1) from "this is not a well-formed attestation" (exit 2).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AttestError {
    /// The envelope is malformed or its signatures do not verify.
    #[error(transparent)]
    Envelope(#[from] DsseError),
    /// The (validly signed) payload is not declared as an in-toto statement.
    #[error("payloadType `{found}` is not an in-toto statement (expected `{PAYLOAD_TYPE}`)")]
    PayloadType {
        /// The payload type found.
        found: String,
    },
    /// The payload is not JSON of a Statement's shape.
    #[error("the payload is not an in-toto Statement")]
    Json(#[source] serde_json::Error),
    /// `_type` is not [`STATEMENT_TYPE`].
    #[error("`_type` is `{found}`, expected `{STATEMENT_TYPE}`")]
    StatementType {
        /// The `_type` found.
        found: String,
    },
    /// `subject` is empty.
    #[error("the statement has no subject")]
    NoSubject,
    /// A subject without digests.
    #[error("subject[{index}] has no digest")]
    NoDigest {
        /// Position in `subject`.
        index: usize,
    },
    /// A digest value that is not what its algorithm produces.
    #[error("subject[{index}].digest.{algo} is not {expected}")]
    BadDigest {
        /// Position in `subject`.
        index: usize,
        /// The algorithm key.
        algo: String,
        /// What the value should be, e.g. "64 lowercase hex digits".
        expected: String,
    },
    /// The predicate is not a JSON object.
    #[error("`predicate` is {found}, expected an object")]
    PredicateNotObject {
        /// The JSON kind found.
        found: JsonKind,
    },
    /// [`Statement::provenance_predicate`] on another predicate type.
    #[error("predicateType is `{found}`, not SLSA provenance `{PROVENANCE_TYPE}`")]
    NotProvenance {
        /// The predicate type found.
        found: String,
    },
    /// The predicate claims to be SLSA provenance but does not have its shape.
    #[error("the predicate is not SLSA Provenance v1")]
    Provenance(#[source] serde_json::Error),
    /// A ResourceDescriptor with none of `uri`, `digest`, `content`.
    #[error("{field} has none of `uri`, `digest`, `content` (a ResourceDescriptor needs one)")]
    NoLocator {
        /// Where it is, e.g. `runDetails.byproducts[2]`.
        field: String,
    },
    /// `buildDefinition.externalParameters` is not an object.
    #[error("`buildDefinition.externalParameters` is {found}, expected an object")]
    ExternalParameters {
        /// The JSON kind found.
        found: JsonKind,
    },
}

impl AttestError {
    /// True if the envelope is well formed but its signatures do not vouch
    /// for it (tampered, unsigned, or signed by no trusted key); false if
    /// the input is malformed.
    pub fn is_verification_failure(&self) -> bool {
        matches!(self, AttestError::Envelope(e) if e.is_verification_failure())
    }
}

/// The kind of a JSON value, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    /// `null`
    Null,
    /// `true` or `false`
    Bool,
    /// a number
    Number,
    /// a string
    String,
    /// an array
    Array,
    /// an object
    Object,
}

impl JsonKind {
    fn of(value: &Value) -> JsonKind {
        match value {
            Value::Null => JsonKind::Null,
            Value::Bool(_) => JsonKind::Bool,
            Value::Number(_) => JsonKind::Number,
            Value::String(_) => JsonKind::String,
            Value::Array(_) => JsonKind::Array,
            Value::Object(_) => JsonKind::Object,
        }
    }
}

impl fmt::Display for JsonKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JsonKind::Null => "null",
            JsonKind::Bool => "a boolean",
            JsonKind::Number => "a number",
            JsonKind::String => "a string",
            JsonKind::Array => "an array",
            JsonKind::Object => "an object",
        })
    }
}

impl Statement {
    /// A Statement with SLSA provenance `p` about `subject`.
    pub fn provenance(subject: Vec<ResourceDescriptor>, p: &Provenance) -> Statement {
        Statement {
            type_: STATEMENT_TYPE.to_owned(),
            subject,
            predicate_type: PROVENANCE_TYPE.to_owned(),
            predicate: to_value(p),
        }
    }

    /// The predicate as SLSA provenance, if `predicateType` says it is one.
    pub fn provenance_predicate(&self) -> Result<Provenance, AttestError> {
        if self.predicate_type != PROVENANCE_TYPE {
            return Err(AttestError::NotProvenance { found: self.predicate_type.clone() });
        }
        let provenance: Provenance = Provenance::deserialize(&self.predicate).map_err(AttestError::Provenance)?;
        let external = &provenance.build_definition.external_parameters;
        if !external.is_object() {
            return Err(AttestError::ExternalParameters { found: JsonKind::of(external) });
        }
        let lists = [
            ("buildDefinition.resolvedDependencies", &provenance.build_definition.resolved_dependencies),
            ("runDetails.byproducts", &provenance.run_details.byproducts),
            ("runDetails.builder.builderDependencies", &provenance.run_details.builder.builder_dependencies),
        ];
        for (list, descriptors) in lists {
            if let Some(index) = descriptors.iter().position(|d| !d.is_located()) {
                return Err(AttestError::NoLocator { field: format!("{list}[{index}]") });
            }
        }
        Ok(provenance)
    }

    /// The rebuild verdicts of a provenance statement: (byproduct name, verdict) for every
    /// byproduct whose `annotations.verdict` is a string. Empty for other predicates.
    pub fn verdicts(&self) -> Vec<(String, String)> {
        let Ok(provenance) = self.provenance_predicate() else { return Vec::new() };
        provenance
            .run_details
            .byproducts
            .iter()
            .filter_map(|b| {
                let verdict = b.annotations.as_ref()?.get("verdict")?.as_str()?.to_owned();
                Some((b.name.clone().or_else(|| b.uri.clone()).unwrap_or_default(), verdict))
            })
            .collect()
    }

    /// The subject whose `sha256` digest is `hex`, if any.
    pub fn subject_with_sha256(&self, hex: &str) -> Option<&ResourceDescriptor> {
        self.subject.iter().find(|s| s.digest.get("sha256").is_some_and(|d| d == hex))
    }

    /// Parses a statement payload and [validates](Statement::validate) it.
    /// An object with a repeated key anywhere is refused.
    pub fn parse(json: &[u8]) -> Result<Statement, AttestError> {
        serde_json::from_slice::<NoDuplicateKeys>(json).map_err(AttestError::Json)?;
        let statement: Statement = serde_json::from_slice(json).map_err(AttestError::Json)?;
        statement.validate()?;
        Ok(statement)
    }

    /// Checks what [`verify`] requires of a statement (module docs). [`sign`]
    /// does not call it; producers should, in their tests.
    pub fn validate(&self) -> Result<(), AttestError> {
        if self.type_ != STATEMENT_TYPE {
            return Err(AttestError::StatementType { found: self.type_.clone() });
        }
        if self.subject.is_empty() {
            return Err(AttestError::NoSubject);
        }
        for (index, subject) in self.subject.iter().enumerate() {
            if subject.digest.is_empty() {
                return Err(AttestError::NoDigest { index });
            }
            for (algo, value) in &subject.digest {
                check_digest(algo, value).map_err(|expected| AttestError::BadDigest {
                    index,
                    algo: algo.clone(),
                    expected,
                })?;
            }
        }
        if !(self.predicate.is_object() || self.predicate.is_null()) {
            return Err(AttestError::PredicateNotObject { found: JsonKind::of(&self.predicate) });
        }
        if self.predicate_type == PROVENANCE_TYPE {
            self.provenance_predicate()?;
        }
        Ok(())
    }

    /// The payload [`sign`] signs: compact JSON, deterministic.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising to a Vec cannot fail: no I/O, every map key is a
        // string, and a `Value` holds no number JSON cannot represent.
        #[allow(clippy::expect_used)]
        serde_json::to_vec(self).expect("a statement serialises")
    }
}

fn to_value(p: &Provenance) -> Value {
    // As in `Statement::to_json`: string keys and JSON values only.
    #[allow(clippy::expect_used)]
    serde_json::to_value(p).expect("provenance serialises")
}

/// The hex length of a digest algorithm's values, where the in-toto
/// DigestSet spec fixes one (`gitCommit` and friends: SHA-1 or SHA-256).
fn hex_lengths(algo: &str) -> Option<&'static [usize]> {
    Some(match algo {
        "md5" => &[32],
        "sha1" | "ripemd160" => &[40],
        "sha224" | "sha512_224" | "sha3_224" => &[56],
        "sha256" | "sha512_256" | "sha3_256" | "sm3" | "dirHash" => &[64],
        "sha384" | "sha3_384" => &[96],
        "sha512" | "sha3_512" => &[128],
        "gitCommit" | "gitTree" | "gitBlob" | "gitTag" => &[40, 64],
        _ => return None,
    })
}

/// Checks one digest; on failure says what the value should have been.
fn check_digest(algo: &str, value: &str) -> Result<(), String> {
    match hex_lengths(algo) {
        Some(lengths) => {
            let hex = value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if hex && lengths.contains(&value.len()) {
                Ok(())
            } else {
                let lengths: Vec<String> = lengths.iter().map(usize::to_string).collect();
                Err(format!("{} lowercase hex digits", lengths.join(" or ")))
            }
        }
        // Other algorithms define their own encodings; only require a value.
        None if value.is_empty() => Err("a non-empty string".to_owned()),
        None => Ok(()),
    }
}

/// A statement whose envelope verified against trusted keys.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedStatement {
    /// The statement, validated.
    pub statement: Statement,
    /// Names of the trusted keys with a valid signature, sorted, never empty.
    pub signers: Vec<String>,
}

/// Signs `statement` ([`Statement::to_json`]) as an in-toto DSSE envelope
/// ([`PAYLOAD_TYPE`]), once per key.
pub fn sign(statement: &Statement, keys: &[&SecretKey]) -> Envelope {
    Envelope::sign(PAYLOAD_TYPE, statement.to_json(), keys)
}

/// Parses a JSON envelope, verifies it against `trusted`, and parses and
/// validates the statement it carries (module docs).
pub fn verify(envelope_json: &[u8], trusted: &TrustedKeys) -> Result<VerifiedStatement, AttestError> {
    let envelope = Envelope::parse(envelope_json)?;
    let verified = envelope.verify(trusted)?;
    let signers = verified.signers().to_vec();
    let payload = verified.into_inner();
    if !is_in_toto_payload_type(&payload.payload_type) {
        return Err(AttestError::PayloadType { found: payload.payload_type });
    }
    let statement = Statement::parse(&payload.body)?;
    Ok(VerifiedStatement { statement, signers })
}

/// [`PAYLOAD_TYPE`], or the predicate-specific form the in-toto envelope
/// spec also allows, `application/vnd.in-toto.<predicate>+json`. Either way
/// the statement's `predicateType` is what counts.
fn is_in_toto_payload_type(payload_type: &str) -> bool {
    payload_type == PAYLOAD_TYPE
        || payload_type
            .strip_prefix("application/vnd.in-toto.")
            .and_then(|rest| rest.strip_suffix("+json"))
            .is_some_and(|name| {
                !name.is_empty()
                    && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            })
}

/// Any JSON value, refused if an object anywhere in it repeats a key.
/// Nesting is bounded by serde_json's recursion limit (128).
struct NoDuplicateKeys;

impl<'de> Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoDuplicateKeys)
    }
}

impl<'de> Visitor<'de> for NoDuplicateKeys {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut seen = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                let shown: String = key.chars().take(64).collect();
                return Err(de::Error::custom(format_args!("duplicate key `{}`", shown.escape_debug())));
            }
            map.next_value::<NoDuplicateKeys>()?;
            seen.insert(key);
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    const SHA256: &str = "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447";

    fn key(name: &str, seed: u8) -> SecretKey {
        SecretKey::from_seed(name, [seed; 32]).unwrap()
    }

    fn trusting(keys: &[&SecretKey]) -> TrustedKeys {
        keys.iter().map(|k| k.to_public()).collect()
    }

    fn subject(name: &str) -> ResourceDescriptor {
        ResourceDescriptor {
            name: Some(name.to_owned()),
            digest: [("sha256".to_owned(), SHA256.to_owned())].into(),
            ..ResourceDescriptor::default()
        }
    }

    fn provenance() -> Provenance {
        Provenance {
            build_definition: BuildDefinition {
                build_type: "https://provenix.invalid/nix-rebuild/v1".into(),
                external_parameters: json!({"drvPath": "/nix/store/aaaa-hello.drv"}),
                internal_parameters: None,
                resolved_dependencies: vec![subject("hello-2.12.tar.gz")],
            },
            run_details: RunDetails {
                builder: Builder { id: "https://provenix.invalid/rebuilder".into(), ..Builder::default() },
                metadata: None,
                byproducts: vec![ResourceDescriptor {
                    name: Some("out".into()),
                    digest: [("sha256".to_owned(), SHA256.to_owned())].into(),
                    annotations: Some(json!({"verdict": "identical"}).as_object().unwrap().clone()),
                    ..ResourceDescriptor::default()
                }],
            },
        }
    }

    fn statement() -> Statement {
        Statement::provenance(vec![subject("hello-2.12")], &provenance())
    }

    /// An envelope over arbitrary payload bytes, signed by `k`.
    fn envelope(payload_type: &str, payload: &[u8], k: &SecretKey) -> Vec<u8> {
        Envelope::sign(payload_type, payload.to_vec(), &[k]).to_json()
    }

    #[test]
    fn signed_statement_verifies_with_its_signers() {
        let k = key("rebuilder-1", 1);
        let env = sign(&statement(), &[&k]);
        assert_eq!(env.payload_type, PAYLOAD_TYPE);
        let verified = verify(&env.to_json(), &trusting(&[&k])).unwrap();
        assert_eq!(verified.signers, ["rebuilder-1"]);
        assert_eq!(verified.statement, statement());
        assert_eq!(verified.statement.provenance_predicate().unwrap(), provenance());
    }

    #[test]
    fn every_descriptor_of_a_provenance_needs_a_uri_a_digest_or_content() {
        let nameless = ResourceDescriptor { name: Some("settings".into()), ..ResourceDescriptor::default() };
        for (list, field) in [
            ("resolved", "buildDefinition.resolvedDependencies[1]"),
            ("byproducts", "runDetails.byproducts[1]"),
            ("builder", "runDetails.builder.builderDependencies[1]"),
        ] {
            let mut p = provenance();
            let target = match list {
                "resolved" => &mut p.build_definition.resolved_dependencies,
                "byproducts" => &mut p.run_details.byproducts,
                _ => &mut p.run_details.builder.builder_dependencies,
            };
            target.truncate(1);
            if target.is_empty() {
                target.push(subject("first"));
            }
            target.push(nameless.clone());
            let st = Statement::provenance(vec![subject("hello")], &p);
            match st.validate() {
                Err(AttestError::NoLocator { field: f }) => assert_eq!(f, field),
                other => panic!("{list}: {other:?}"),
            }
            for located in [
                ResourceDescriptor { uri: Some("https://example.invalid/x".into()), ..nameless.clone() },
                ResourceDescriptor::with_content("settings", "application/json", b"{}"),
            ] {
                let mut p = p.clone();
                let target = match list {
                    "resolved" => &mut p.build_definition.resolved_dependencies,
                    "byproducts" => &mut p.run_details.byproducts,
                    _ => &mut p.run_details.builder.builder_dependencies,
                };
                *target.last_mut().unwrap() = located;
                Statement::provenance(vec![subject("hello")], &p).validate().unwrap();
            }
        }
        let c = ResourceDescriptor::with_content("s", "application/json", b"{}");
        assert_eq!(c.content.as_deref(), Some("e30="));
        assert_eq!(c.digest["sha256"], "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    }

    #[test]
    fn signing_is_deterministic() {
        let k = key("rebuilder-1", 1);
        assert_eq!(sign(&statement(), &[&k]).to_json(), sign(&statement(), &[&k]).to_json());
    }

    #[test]
    fn json_uses_the_field_names_of_the_specs_and_omits_empty_fields() {
        let minimal = Statement::provenance(
            vec![subject("hello")],
            &Provenance {
                build_definition: BuildDefinition {
                    build_type: "bt".into(),
                    external_parameters: json!({}),
                    internal_parameters: None,
                    resolved_dependencies: vec![],
                },
                run_details: RunDetails {
                    builder: Builder { id: "b".into(), ..Builder::default() },
                    ..RunDetails::default()
                },
            },
        );
        let expected = format!(
            r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"hello","digest":{{"sha256":"{SHA256}"}}}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{{"buildDefinition":{{"buildType":"bt","externalParameters":{{}}}},"runDetails":{{"builder":{{"id":"b"}}}}}}}}"#
        );
        assert_eq!(String::from_utf8(minimal.to_json()).unwrap(), expected);
    }

    #[test]
    fn every_field_has_its_spec_name() {
        let full = Provenance {
            build_definition: BuildDefinition {
                build_type: "bt".into(),
                external_parameters: json!({"a": 1}),
                internal_parameters: Some(json!({"b": 2})),
                resolved_dependencies: vec![ResourceDescriptor {
                    name: Some("n".into()),
                    uri: Some("u".into()),
                    digest: [("sha512".to_owned(), "0".repeat(128))].into(),
                    content: Some("Yw==".into()),
                    download_location: Some("d".into()),
                    media_type: Some("m".into()),
                    annotations: Some(serde_json::Map::new()),
                }],
            },
            run_details: RunDetails {
                builder: Builder {
                    id: "b".into(),
                    version: [("nix".to_owned(), "2.8.0".to_owned())].into(),
                    builder_dependencies: vec![subject("bd")],
                },
                metadata: Some(BuildMetadata {
                    invocation_id: Some("i".into()),
                    started_on: Some("2024-01-01T00:00:00Z".into()),
                    finished_on: Some("2024-01-01T00:01:00Z".into()),
                }),
                byproducts: vec![subject("log")],
            },
        };
        let value = serde_json::to_value(&full).unwrap();
        let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
        assert_eq!(keys(&value), ["buildDefinition", "runDetails"]);
        let bd = &value["buildDefinition"];
        assert_eq!(keys(bd), ["buildType", "externalParameters", "internalParameters", "resolvedDependencies"]);
        assert_eq!(
            keys(&bd["resolvedDependencies"][0]),
            ["annotations", "content", "digest", "downloadLocation", "mediaType", "name", "uri"]
        );
        let rd = &value["runDetails"];
        assert_eq!(keys(rd), ["builder", "byproducts", "metadata"]);
        assert_eq!(keys(&rd["builder"]), ["builderDependencies", "id", "version"]);
        assert_eq!(keys(&rd["metadata"]), ["finishedOn", "invocationId", "startedOn"]);
        let back: Provenance = serde_json::from_value(value).unwrap();
        assert_eq!(back, full);
    }

    /// A statement written by hand in the shape of the SLSA v1 spec's
    /// documented example, with an extension field and explicit nulls, as
    /// another producer might write it.
    #[test]
    fn a_statement_shaped_like_the_spec_example_parses() {
        let text = json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "hello_1.0_amd64.deb", "digest": {"sha256": SHA256, "gitBlob": "0".repeat(40)}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {
                "buildDefinition": {
                    "buildType": "https://example.invalid/workflow/v1",
                    "externalParameters": {"workflow": {"ref": "refs/heads/main", "path": ".ci/build.yml"}},
                    "internalParameters": {"runner": "x86_64"},
                    "resolvedDependencies": [
                        {"uri": "git+https://example.invalid/hello@refs/heads/main", "digest": {"gitCommit": "1".repeat(40)}}
                    ]
                },
                "runDetails": {
                    "builder": {"id": "https://example.invalid/builder@v1", "version": {"runner": "2.1"}},
                    "metadata": {"invocationId": "run-17", "startedOn": "2023-01-01T12:34:56Z", "finishedOn": null},
                    "byproducts": [{"name": "build.log", "uri": "https://example.invalid/log/17", "annotations": {"lines": 42}}]
                }
            },
            "x-extension": {"ignored": true}
        });
        let statement = Statement::parse(text.to_string().as_bytes()).unwrap();
        let p = statement.provenance_predicate().unwrap();
        assert_eq!(p.run_details.builder.id, "https://example.invalid/builder@v1");
        assert_eq!(p.build_definition.resolved_dependencies[0].digest["gitCommit"], "1".repeat(40));
        assert_eq!(p.run_details.metadata.unwrap().finished_on, None);
        assert_eq!(p.run_details.byproducts[0].annotations.as_ref().unwrap()["lines"], 42);
    }

    #[test]
    fn tampered_or_untrusted_envelopes_are_verification_failures() {
        let k = key("rebuilder-1", 1);
        let mut env = sign(&statement(), &[&k]);
        let trusted = trusting(&[&k]);
        let other = trusting(&[&key("other", 2)]);
        let err = verify(&env.to_json(), &other).unwrap_err();
        assert!(err.is_verification_failure(), "{err}");
        let i = env.payload.iter().position(|&b| b == b'h').unwrap();
        env.payload[i] = b'j';
        let err = verify(&env.to_json(), &trusted).unwrap_err();
        assert!(matches!(err, AttestError::Envelope(DsseError::InvalidSignature { .. })), "{err}");
        assert!(err.is_verification_failure());
        env.signatures.clear();
        let err = verify(&env.to_json(), &trusted).unwrap_err();
        assert!(err.is_verification_failure(), "{err}");
        let err = verify(b"{", &trusted).unwrap_err();
        assert!(!err.is_verification_failure(), "{err}");
    }

    #[test]
    fn signed_payload_of_another_type_is_malformed_not_a_failed_signature() {
        let k = key("a", 1);
        let err = verify(&envelope("application/json", &statement().to_json(), &k), &trusting(&[&k])).unwrap_err();
        assert!(matches!(&err, AttestError::PayloadType { found } if found == "application/json"), "{err}");
        assert!(!err.is_verification_failure());
    }

    #[rstest]
    #[case::generic("application/vnd.in-toto+json", true)]
    #[case::predicate_specific("application/vnd.in-toto.provenance+json", true)]
    #[case::empty_predicate("application/vnd.in-toto.+json", false)]
    #[case::dsse_storage_type("application/vnd.in-toto.provenance+dsse", false)]
    #[case::upper_case("application/vnd.in-toto.Provenance+json", false)]
    #[case::generic_json("application/json", false)]
    fn payload_types(#[case] payload_type: &str, #[case] accepted: bool) {
        assert_eq!(is_in_toto_payload_type(payload_type), accepted);
    }

    fn with(f: impl FnOnce(&mut Value)) -> Vec<u8> {
        let mut value = serde_json::to_value(statement()).unwrap();
        f(&mut value);
        value.to_string().into_bytes()
    }

    #[rstest]
    #[case::not_json(b"{\"_type\"".to_vec(), "not an in-toto Statement")]
    #[case::not_an_object(b"[]".to_vec(), "not an in-toto Statement")]
    #[case::missing_subject(with(|v| { v.as_object_mut().unwrap().remove("subject"); }), "missing field `subject`")]
    #[case::missing_predicate_type(with(|v| { v.as_object_mut().unwrap().remove("predicateType"); }), "missing field `predicateType`")]
    #[case::statement_v01(with(|v| v["_type"] = json!("https://in-toto.io/Statement/v0.1")), "`_type` is `https://in-toto.io/Statement/v0.1`")]
    #[case::no_subject(with(|v| v["subject"] = json!([])), "the statement has no subject")]
    #[case::no_digest(with(|v| v["subject"][0]["digest"] = json!({})), "subject[0] has no digest")]
    #[case::digest_missing(with(|v| { v["subject"][0].as_object_mut().unwrap().remove("digest"); }), "subject[0] has no digest")]
    #[case::upper_case_hex(with(|v| v["subject"][0]["digest"]["sha256"] = json!(SHA256.to_uppercase())), "subject[0].digest.sha256 is not 64 lowercase hex digits")]
    #[case::short_sha256(with(|v| v["subject"][0]["digest"]["sha256"] = json!(&SHA256[1..])), "digest.sha256 is not 64 lowercase hex")]
    #[case::sha512_of_sha256_length(with(|v| v["subject"][0]["digest"]["sha512"] = json!(SHA256)), "digest.sha512 is not 128 lowercase hex")]
    #[case::git_commit_length(with(|v| v["subject"][0]["digest"]["gitCommit"] = json!("ab")), "digest.gitCommit is not 40 or 64 lowercase hex")]
    #[case::unknown_algo_empty(with(|v| v["subject"][0]["digest"]["nar"] = json!("")), "digest.nar is not a non-empty string")]
    #[case::digest_value_number(with(|v| v["subject"][0]["digest"]["sha256"] = json!(1)), "invalid type: integer `1`")]
    #[case::predicate_array(with(|v| v["predicate"] = json!([1])), "`predicate` is an array, expected an object")]
    #[case::provenance_without_run_details(with(|v| { v["predicate"].as_object_mut().unwrap().remove("runDetails"); }), "missing field `runDetails`")]
    #[case::provenance_null_predicate(with(|v| v["predicate"] = Value::Null), "the predicate is not SLSA Provenance v1: invalid type: null")]
    #[case::builder_without_id(with(|v| v["predicate"]["runDetails"]["builder"] = json!({})), "missing field `id`")]
    #[case::external_parameters_string(with(|v| v["predicate"]["buildDefinition"]["externalParameters"] = json!("x")), "`buildDefinition.externalParameters` is a string, expected an object")]
    #[case::external_parameters_missing(with(|v| { v["predicate"]["buildDefinition"].as_object_mut().unwrap().remove("externalParameters"); }), "missing field `externalParameters`")]
    #[case::duplicate_top_level_key(
        br#"{"_type":"https://in-toto.io/Statement/v1","subject":[],"subject":[],"predicateType":"p"}"#.to_vec(),
        "duplicate key `subject`"
    )]
    #[case::duplicate_nested_key(
        format!(r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"digest":{{"sha256":"{SHA256}","sha256":"{SHA256}"}}}}],"predicateType":"p"}}"#).into_bytes(),
        "duplicate key `sha256`"
    )]
    #[case::duplicate_deep_in_predicate(duplicate_in_external_parameters(), "duplicate key `k`")]
    fn signed_but_malformed_statements_are_refused_naming_the_problem(
        #[case] payload: Vec<u8>,
        #[case] expected: &str,
    ) {
        let k = key("a", 1);
        let err = verify(&envelope(PAYLOAD_TYPE, &payload, &k), &trusting(&[&k])).unwrap_err();
        let mut chain = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            chain = format!("{chain}: {s}");
            source = s.source();
        }
        assert!(chain.contains(expected), "{chain}");
        assert!(!err.is_verification_failure(), "{chain}");
    }

    /// The statement with `externalParameters` `{"k":1,"k":2}`.
    fn duplicate_in_external_parameters() -> Vec<u8> {
        let payload = with(|v| v["predicate"]["buildDefinition"]["externalParameters"] = json!({"k": 1}));
        let text = String::from_utf8(payload).unwrap();
        assert!(text.contains(r#"{"k":1}"#), "{text}");
        text.replace(r#"{"k":1}"#, r#"{"k":1,"k":2}"#).into_bytes()
    }

    #[test]
    fn other_predicate_types_are_kept_and_not_read_as_provenance() {
        let k = key("a", 1);
        let s = Statement {
            type_: STATEMENT_TYPE.into(),
            subject: vec![subject("x")],
            predicate_type: "https://example.invalid/vuln-scan/v1".into(),
            predicate: Value::Null,
        };
        let json = s.to_json();
        assert!(!String::from_utf8_lossy(&json).contains("\"predicate\""), "a null predicate is omitted");
        let verified = verify(&sign(&s, &[&k]).to_json(), &trusting(&[&k])).unwrap();
        assert_eq!(verified.statement, s);
        let err = verified.statement.provenance_predicate().unwrap_err();
        assert!(matches!(err, AttestError::NotProvenance { .. }), "{err}");
    }

    #[test]
    fn deeply_nested_predicates_are_refused_without_overflowing_the_stack() {
        let k = key("a", 1);
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let payload = format!(
            r#"{{"_type":"{STATEMENT_TYPE}","subject":[{{"digest":{{"sha256":"{SHA256}"}}}}],"predicateType":"p","predicate":{{"x":{deep}}}}}"#
        );
        let err = verify(&envelope(PAYLOAD_TYPE, payload.as_bytes(), &k), &trusting(&[&k])).unwrap_err();
        assert!(matches!(err, AttestError::Json(_)), "{err}");
    }
}
