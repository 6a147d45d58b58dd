//! DSSE v1 (Dead Simple Signing Envelope) with ed25519 keys in Nix's format.
//!
//! A DSSE signature covers the payload *and* its type, joined by the
//! pre-authentication encoding ([`pae`]), so neither can be swapped without
//! breaking the signature:
//!
//! ```text
//! PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
//! LEN(s)          = byte length of s in ASCII decimal, no leading zeros
//! SP              = one space (0x20)
//! ```
//!
//! The JSON envelope, as [`Envelope::to_json`] writes it:
//!
//! ```text
//! {
//!   "payloadType": "application/vnd.in-toto+json",
//!   "payload": "<base64 of the body>",
//!   "signatures": [ { "keyid": "<Nix key name>", "sig": "<base64 of 64 bytes>" } ]
//! }
//! ```
//!
//! Keys are the ed25519 keys of [`crate::signature`]; `keyid` is the Nix key
//! name. DSSE calls the keyid an unauthenticated hint, and that is how it is
//! used here: it only picks which trusted key to try, exactly as Nix picks a
//! key for a narinfo signature by its name. A signature whose keyid is not
//! the name of a trusted key is ignored. `sig` is the raw 64-byte ed25519
//! signature over the PAE bytes, checked with `verify_strict`.
//!
//! Verification policy ([`Envelope::verify`]), fail closed:
//!
//! - at least one signature must verify under the trusted key its keyid
//!   names (signers are counted by distinct key);
//! - any signature whose keyid names a trusted key but does not verify
//!   rejects the whole envelope, because the payload, its type or the
//!   signature was altered, or a different key uses a trusted name;
//! - signatures naming untrusted keys (or no key) are ignored, so one
//!   envelope can carry signatures for several audiences.
//!
//! Parsing ([`Envelope::parse`]) is strict where it matters and lenient where
//! DSSE asks for it:
//!
//! - the input is at most [`MAX_ENVELOPE_LEN`] bytes of JSON, a single
//!   object with nothing after it; `payload`, `payloadType`, `signatures`
//!   and each `sig` must be present and be strings (an array for
//!   `signatures`); a known field given twice is an error; unknown fields
//!   are ignored, as the DSSE spec requires;
//! - `keyid` may be missing or `null` (read as the empty string);
//! - base64 may use the standard or the URL-safe alphabet (DSSE says
//!   verifiers must accept either), with or without `=` padding, but not a
//!   mix of both alphabets, whitespace, or non-zero leftover bits. We always
//!   write standard padded base64. Since signatures cover the decoded bytes,
//!   the spelling of the base64 does not affect what is verified;
//! - there is at least one and at most [`MAX_SIGNATURES`] signatures, each
//!   exactly 64 bytes. Signatures past the limit are counted, not stored.

use std::collections::HashSet;
use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::signature::{
    CheckId, SIGNATURE_LEN, SecretKey, Signature, SignatureFinding, SignatureStatus, TrustedKeys, Verified, vouch,
};

/// Largest envelope [`Envelope::parse`] reads, in bytes (64 MiB).
pub const MAX_ENVELOPE_LEN: usize = 64 << 20;
/// Most signatures one envelope may carry.
pub const MAX_SIGNATURES: usize = 64;

/// Errors from parsing or verifying an envelope.
///
/// [`DsseError::is_verification_failure`] tells a well-formed envelope that
/// failed verification apart from malformed input.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DsseError {
    /// The input is over [`MAX_ENVELOPE_LEN`].
    #[error("envelope is {len} bytes, more than the limit of {MAX_ENVELOPE_LEN}")]
    TooLarge {
        /// The input's length.
        len: usize,
    },
    /// Not JSON, or not an object of the envelope's shape (the source names
    /// the field and position).
    #[error("not a DSSE JSON envelope")]
    Json(#[source] serde_json::Error),
    /// A base64 field does not decode.
    #[error("`{field}` is not valid base64")]
    Base64 {
        /// The field, e.g. `payload` or `signatures[1].sig`.
        field: String,
        /// The decoder's complaint.
        #[source]
        source: base64::DecodeError,
    },
    /// A signature is not 64 bytes, so it is no ed25519 signature.
    #[error("`signatures[{index}].sig` has {len} bytes, expected {SIGNATURE_LEN} (ed25519)")]
    SignatureLength {
        /// Position in `signatures`.
        index: usize,
        /// Bytes found.
        len: usize,
    },
    /// More than [`MAX_SIGNATURES`] signatures.
    #[error("envelope has {count} signatures, more than the limit of {MAX_SIGNATURES}")]
    TooManySignatures {
        /// How many there were.
        count: usize,
    },
    /// `signatures` is empty: the envelope is not signed.
    #[error("envelope has no signatures")]
    NoSignatures,
    /// A signature names a trusted key but does not verify under it.
    #[error(
        "the signature by trusted key `{key_name}` does not verify: the payload, its type or the \
         signature was altered, or another key uses that name"
    )]
    InvalidSignature {
        /// The trusted key's name.
        key_name: String,
        /// Every signature and what checking it found, in envelope order.
        findings: Vec<SignatureFinding>,
    },
    /// No signature names a trusted key.
    #[error("no signature by a trusted key (signed by: {})", KeyIds(.findings))]
    NoTrustedSignature {
        /// Every signature and what checking it found, in envelope order.
        findings: Vec<SignatureFinding>,
    },
}

impl DsseError {
    /// True if the envelope is well formed but verification failed (no
    /// signature at all, none by a trusted key, or an invalid one); false
    /// if the input is malformed.
    pub fn is_verification_failure(&self) -> bool {
        matches!(
            self,
            DsseError::NoSignatures | DsseError::InvalidSignature { .. } | DsseError::NoTrustedSignature { .. }
        )
    }
}

/// Lists the keyids of findings for an error message.
struct KeyIds<'a>(&'a [SignatureFinding]);

impl fmt::Display for KeyIds<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, finding) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            // A keyid is not bounded by the spec; show at most 80 characters of it.
            let name = &finding.key_name;
            match name.char_indices().nth(80) {
                _ if name.is_empty() => f.write_str("(no keyid)")?,
                None => write!(f, "`{}`", name.escape_debug())?,
                Some((end, _)) => write!(f, "`{}...`", name.get(..end).unwrap_or_default().escape_debug())?,
            }
        }
        Ok(())
    }
}

/// The pre-authentication encoding of `payload_type` and `payload`: the
/// bytes a DSSE signature is made over.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let type_len = payload_type.len().to_string();
    let body_len = payload.len().to_string();
    let mut out = Vec::with_capacity(10 + type_len.len() + payload_type.len() + body_len.len() + payload.len());
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(type_len.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(body_len.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// A DSSE envelope: a typed payload and signatures over its PAE.
///
/// Holding an `Envelope` says nothing about its signatures; only
/// [`Envelope::verify`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// What the payload is, e.g. `application/vnd.in-toto+json`.
    pub payload_type: String,
    /// The payload bytes (decoded from base64).
    pub payload: Vec<u8>,
    /// The signatures, in envelope order.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeSignature {
    /// The Nix name of the key that claims to have signed; empty if unset.
    pub keyid: String,
    /// The ed25519 signature over the PAE.
    pub sig: [u8; SIGNATURE_LEN],
}

/// The authenticated part of an envelope: what [`Envelope::verify`] vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// The payload type, covered by the signature.
    pub payload_type: String,
    /// The payload bytes (DSSE's SERIALIZED_BODY).
    pub body: Vec<u8>,
}

impl Envelope {
    /// Signs `payload` as `payload_type` with each key, in order; each
    /// signature's keyid is its key's name. With no keys the envelope has no
    /// signatures, which [`Envelope::parse`] refuses.
    pub fn sign(payload_type: &str, payload: Vec<u8>, keys: &[&SecretKey]) -> Envelope {
        let message = pae(payload_type, &payload);
        let signatures = keys
            .iter()
            .map(|key| {
                let sig = key.sign(&message);
                EnvelopeSignature { keyid: sig.key_name().to_owned(), sig: *sig.bytes() }
            })
            .collect();
        Envelope { payload_type: payload_type.to_owned(), payload, signatures }
    }

    /// Parses a JSON envelope (the rules are in the module docs).
    pub fn parse(json: &[u8]) -> Result<Envelope, DsseError> {
        if json.len() > MAX_ENVELOPE_LEN {
            return Err(DsseError::TooLarge { len: json.len() });
        }
        let raw: RawEnvelope = serde_json::from_slice(json).map_err(DsseError::Json)?;
        if raw.signatures.count > MAX_SIGNATURES {
            return Err(DsseError::TooManySignatures { count: raw.signatures.count });
        }
        let payload =
            decode_base64(&raw.payload).map_err(|source| DsseError::Base64 { field: "payload".to_owned(), source })?;
        if raw.signatures.kept.is_empty() {
            return Err(DsseError::NoSignatures);
        }
        let mut signatures = Vec::with_capacity(raw.signatures.kept.len());
        for (index, raw_sig) in raw.signatures.kept.into_iter().enumerate() {
            let bytes = decode_base64(&raw_sig.sig)
                .map_err(|source| DsseError::Base64 { field: format!("signatures[{index}].sig"), source })?;
            let sig: [u8; SIGNATURE_LEN] =
                bytes.as_slice().try_into().map_err(|_| DsseError::SignatureLength { index, len: bytes.len() })?;
            signatures.push(EnvelopeSignature { keyid: raw_sig.keyid.unwrap_or_default(), sig });
        }
        Ok(Envelope { payload_type: raw.payload_type, payload, signatures })
    }

    /// The JSON envelope: pretty-printed, standard padded base64, a
    /// trailing newline. The same envelope always gives the same bytes.
    pub fn to_json(&self) -> Vec<u8> {
        let out = OutEnvelope {
            payload_type: &self.payload_type,
            payload: STANDARD.encode(&self.payload),
            signatures: self
                .signatures
                .iter()
                .map(|s| OutSignature { keyid: &s.keyid, sig: STANDARD.encode(s.sig) })
                .collect(),
        };
        // Serialising strings into a Vec cannot fail: there is no I/O, and
        // no map key or number that JSON cannot represent.
        #[allow(clippy::expect_used)]
        let mut json = serde_json::to_vec_pretty(&out).expect("an envelope of strings serialises");
        json.push(b'\n');
        json
    }

    /// Verifies the signatures against `trusted` (the policy is in the
    /// module docs) and vouches for the payload and its type. The signers
    /// are the trusted keys with a valid signature, sorted, never empty.
    /// Each signature is checked once.
    pub fn verify(&self, trusted: &TrustedKeys) -> Result<Verified<Payload>, DsseError> {
        self.verify_with(trusted, None).map(|(v, _)| v)
    }

    /// Like [`Envelope::verify`], but a signature whose [`CheckId`] is in `known` (a check
    /// that succeeded before) counts as valid without running ed25519 again; also returns
    /// the ids of every signature that verified, to remember for next time.
    pub fn verify_remembering(
        &self,
        trusted: &TrustedKeys,
        known: &HashSet<CheckId>,
    ) -> Result<(Verified<Payload>, Vec<CheckId>), DsseError> {
        self.verify_with(trusted, Some(known))
    }

    fn verify_with(
        &self,
        trusted: &TrustedKeys,
        known: Option<&HashSet<CheckId>>,
    ) -> Result<(Verified<Payload>, Vec<CheckId>), DsseError> {
        if self.signatures.is_empty() {
            return Err(DsseError::NoSignatures);
        }
        let message = pae(&self.payload_type, &self.payload);
        // A keyid that is not a valid key name cannot name a trusted key.
        let mut named = Vec::with_capacity(self.signatures.len());
        let mut position = Vec::with_capacity(self.signatures.len());
        for s in &self.signatures {
            match Signature::new(&s.keyid, s.sig) {
                Ok(sig) => {
                    position.push(Some(named.len()));
                    named.push(sig);
                }
                Err(_) => position.push(None),
            }
        }
        let (checked, ids) = match known {
            Some(known) => trusted.check_remembering(&message, &named, known),
            None => (trusted.check(&message, &named), Vec::new()),
        };
        let findings: Vec<SignatureFinding> = position
            .iter()
            .zip(&self.signatures)
            .map(|(p, s)| {
                p.and_then(|i| checked.get(i).cloned()).unwrap_or_else(|| SignatureFinding {
                    key_name: s.keyid.clone(),
                    status: SignatureStatus::UntrustedKey,
                })
            })
            .collect();
        if let Some(bad) = findings.iter().find(|f| f.status == SignatureStatus::Invalid) {
            return Err(DsseError::InvalidSignature { key_name: bad.key_name.clone(), findings: findings.clone() });
        }
        let payload = Payload { payload_type: self.payload_type.clone(), body: self.payload.clone() };
        // The findings of the one check above decide; the signatures are not checked again.
        match vouch(payload, checked, 1) {
            Ok(v) => Ok((v, ids)),
            Err(_) => Err(DsseError::NoTrustedSignature { findings }),
        }
    }
}

/// Standard or URL-safe alphabet, padding optional, leftover bits zero.
fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    const CONFIG: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STANDARD_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, CONFIG);
    const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, CONFIG);
    // The alphabets differ only in `+/` versus `-_`; a mix fails either way.
    if text.bytes().any(|b| b == b'-' || b == b'_') {
        URL_SAFE_ANY_PADDING.decode(text)
    } else {
        STANDARD_ANY_PADDING.decode(text)
    }
}

// The envelope and its signatures are read with hand-written map visitors
// rather than derived ones, because a derived struct also accepts a JSON
// array of its field values (`["aGk=", "t", []]`), which is not an envelope.

struct RawEnvelope {
    payload: String,
    payload_type: String,
    signatures: RawSignatures,
}

impl<'de> Deserialize<'de> for RawEnvelope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = RawEnvelope;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a DSSE envelope (a JSON object)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEnvelope, A::Error> {
                let (mut payload, mut payload_type, mut signatures) = (None, None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_ref() {
                        "payload" => set_once(&mut payload, "payload", map.next_value()?)?,
                        "payloadType" => set_once(&mut payload_type, "payloadType", map.next_value()?)?,
                        "signatures" => set_once(&mut signatures, "signatures", map.next_value()?)?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(RawEnvelope {
                    payload: payload.ok_or_else(|| de::Error::missing_field("payload"))?,
                    payload_type: payload_type.ok_or_else(|| de::Error::missing_field("payloadType"))?,
                    signatures: signatures.ok_or_else(|| de::Error::missing_field("signatures"))?,
                })
            }
        }
        deserializer.deserialize_map(MapVisitor)
    }
}

struct RawSignature {
    keyid: Option<String>,
    sig: String,
}

impl<'de> Deserialize<'de> for RawSignature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = RawSignature;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a DSSE signature (a JSON object)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawSignature, A::Error> {
                // `keyid` may be absent or null: both read as unset.
                let (mut keyid, mut sig) = (None::<Option<String>>, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_ref() {
                        "keyid" => set_once(&mut keyid, "keyid", map.next_value()?)?,
                        "sig" => set_once(&mut sig, "sig", map.next_value()?)?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(RawSignature { keyid: keyid.flatten(), sig: sig.ok_or_else(|| de::Error::missing_field("sig"))? })
            }
        }
        deserializer.deserialize_map(MapVisitor)
    }
}

/// Stores a field's value, refusing a second one.
fn set_once<T, E: de::Error>(slot: &mut Option<T>, field: &'static str, value: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(field));
    }
    *slot = Some(value);
    Ok(())
}

/// The first [`MAX_SIGNATURES`] signatures, and how many there were.
struct RawSignatures {
    kept: Vec<RawSignature>,
    count: usize,
}

impl<'de> Deserialize<'de> for RawSignatures {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SeqVisitor;
        impl<'de> Visitor<'de> for SeqVisitor {
            type Value = RawSignatures;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of signatures")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawSignatures, A::Error> {
                let mut kept = Vec::new();
                let mut count = 0usize;
                while count < MAX_SIGNATURES {
                    match seq.next_element::<RawSignature>()? {
                        Some(sig) => kept.push(sig),
                        None => return Ok(RawSignatures { kept, count }),
                    }
                    count += 1;
                }
                // Past the limit: count the rest without keeping them.
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    count += 1;
                }
                Ok(RawSignatures { kept, count })
            }
        }
        deserializer.deserialize_seq(SeqVisitor)
    }
}

#[derive(Serialize)]
struct OutEnvelope<'a> {
    #[serde(rename = "payloadType")]
    payload_type: &'a str,
    payload: String,
    signatures: Vec<OutSignature<'a>>,
}

#[derive(Serialize)]
struct OutSignature<'a> {
    keyid: &'a str,
    sig: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::PublicKey;
    use proptest::prelude::*;
    use rstest::rstest;

    fn key(name: &str, seed: u8) -> SecretKey {
        SecretKey::from_seed(name, [seed; 32]).unwrap()
    }

    fn trusting(keys: &[&SecretKey]) -> TrustedKeys {
        keys.iter().map(|k| k.to_public()).collect()
    }

    fn signed() -> (Envelope, SecretKey) {
        let k = key("builder-1", 1);
        (Envelope::sign("application/vnd.in-toto+json", br#"{"_type":"x"}"#.to_vec(), &[&k]), k)
    }

    #[test]
    fn pae_matches_the_example_of_the_dsse_spec() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn pae_of_empty_type_and_body_keeps_every_separator() {
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }

    #[test]
    fn pae_counts_bytes_not_characters() {
        assert_eq!(pae("é", b"\xff"), b"DSSEv1 2 \xc3\xa9 1 \xff");
    }

    #[test]
    fn signed_envelope_round_trips_through_json_and_verifies() {
        let (env, k) = signed();
        let json = env.to_json();
        assert!(json.ends_with(b"}\n"));
        let parsed = Envelope::parse(&json).unwrap();
        assert_eq!(parsed, env);
        assert_eq!(parsed.to_json(), json);
        let verified = parsed.verify(&trusting(&[&k])).unwrap();
        assert_eq!(verified.signers(), ["builder-1"]);
        assert_eq!(verified.payload_type, "application/vnd.in-toto+json");
        assert_eq!(verified.body, br#"{"_type":"x"}"#);
    }

    #[test]
    fn json_has_the_field_names_and_base64_of_the_spec() {
        let (env, _) = signed();
        let value: serde_json::Value = serde_json::from_slice(&env.to_json()).unwrap();
        assert_eq!(value["payloadType"], "application/vnd.in-toto+json");
        assert_eq!(value["payload"], "eyJfdHlwZSI6IngifQ==");
        assert_eq!(value["signatures"][0]["keyid"], "builder-1");
        assert_eq!(STANDARD.decode(value["signatures"][0]["sig"].as_str().unwrap()).unwrap(), env.signatures[0].sig);
    }

    #[test]
    fn signature_is_ed25519_over_the_pae() {
        let (env, k) = signed();
        let direct = k.sign(&pae(&env.payload_type, &env.payload));
        assert_eq!(direct.bytes(), &env.signatures[0].sig);
        let public = PublicKey::parse(&k.to_public().to_string()).unwrap();
        let keys: TrustedKeys = [public].into_iter().collect();
        assert!(keys.verify((), &pae(&env.payload_type, &env.payload), [&direct], 1).is_ok());
    }

    #[test]
    fn a_remembered_check_is_not_run_again() {
        // The trust model of the cache: an id in `known` vouches without ed25519. A forged
        // signature is refused until its id is remembered, so a cache that is never consulted
        // would fail this test.
        let (mut env, k) = signed();
        env.signatures[0].sig = [7; 64];
        let trusted = trusting(&[&k]);
        assert!(matches!(env.verify_remembering(&trusted, &HashSet::new()), Err(DsseError::InvalidSignature { .. })));
        let forged = Signature::new("builder-1", [7; 64]).unwrap();
        let id = CheckId::compute(&k.to_public(), &forged, &pae(&env.payload_type, &env.payload));
        let known: HashSet<CheckId> = [id].into_iter().collect();
        let (verified, ids) = env.verify_remembering(&trusted, &known).unwrap();
        assert_eq!((verified.signers(), ids), (["builder-1".to_owned()].as_slice(), vec![id]));
    }

    #[test]
    fn remembered_checks_give_the_same_verdict_and_bind_the_bytes() {
        let (env, k) = signed();
        let trusted = trusting(&[&k]);
        let (first, ids) = env.verify_remembering(&trusted, &HashSet::new()).unwrap();
        assert_eq!(first.signers(), ["builder-1"]);
        assert_eq!(ids.len(), 1);
        let known: HashSet<CheckId> = ids.iter().copied().collect();
        let (again, ids_again) = env.verify_remembering(&trusted, &known).unwrap();
        assert_eq!(again, first);
        assert_eq!(ids_again, ids);
        // A remembered check is for these bytes only: altered bytes are checked, and fail.
        let mut altered = env.clone();
        altered.payload[3] ^= 0x01;
        assert!(matches!(altered.verify_remembering(&trusted, &known), Err(DsseError::InvalidSignature { .. })));
        // And for this key only: another key of the same name does not match the id.
        let impostor = key("builder-1", 9);
        assert!(matches!(
            env.verify_remembering(&trusting(&[&impostor]), &known),
            Err(DsseError::InvalidSignature { .. })
        ));
    }

    #[test]
    fn flipped_payload_byte_is_an_invalid_signature() {
        let (mut env, k) = signed();
        env.payload[3] ^= 0x01;
        let err = env.verify(&trusting(&[&k])).unwrap_err();
        assert!(matches!(&err, DsseError::InvalidSignature { key_name, .. } if key_name == "builder-1"), "{err}");
        assert!(err.is_verification_failure());
    }

    #[test]
    fn changed_payload_type_is_an_invalid_signature() {
        let (mut env, k) = signed();
        env.payload_type = "application/vnd.in-toto.provenance+json".into();
        let err = env.verify(&trusting(&[&k])).unwrap_err();
        assert!(matches!(err, DsseError::InvalidSignature { .. }), "{err}");
    }

    #[test]
    fn flipped_signature_byte_is_an_invalid_signature() {
        let (mut env, k) = signed();
        env.signatures[0].sig[0] ^= 0x80;
        assert!(matches!(env.verify(&trusting(&[&k])), Err(DsseError::InvalidSignature { .. })));
    }

    #[test]
    fn signature_by_an_untrusted_key_is_not_enough() {
        let (env, _) = signed();
        let other = key("other-1", 2);
        let err = env.verify(&trusting(&[&other])).unwrap_err();
        assert!(
            matches!(&err, DsseError::NoTrustedSignature { findings }
            if findings[0].status == SignatureStatus::UntrustedKey),
            "{err}"
        );
        assert_eq!(err.to_string(), "no signature by a trusted key (signed by: `builder-1`)");
        assert!(err.is_verification_failure());
    }

    #[test]
    fn long_and_odd_keyids_are_shortened_and_escaped_in_messages() {
        let mut env = Envelope::sign("t", b"body".to_vec(), &[]);
        env.signatures.push(EnvelopeSignature { keyid: "x".repeat(1000), sig: [0; 64] });
        env.signatures.push(EnvelopeSignature { keyid: "\u{1b}[31m".into(), sig: [0; 64] });
        let err = env.verify(&trusting(&[&key("a", 1)])).unwrap_err().to_string();
        assert_eq!(err, format!("no signature by a trusted key (signed by: `{}...`, `\\u{{1b}}[31m`)", "x".repeat(80)));
    }

    #[test]
    fn another_key_using_the_trusted_name_is_an_invalid_signature() {
        let (env, _) = signed();
        let impostor = key("builder-1", 9);
        assert!(matches!(env.verify(&trusting(&[&impostor])), Err(DsseError::InvalidSignature { .. })));
    }

    #[test]
    fn no_trusted_keys_verifies_nothing() {
        let (env, _) = signed();
        assert!(matches!(env.verify(&TrustedKeys::new()), Err(DsseError::NoTrustedSignature { .. })));
    }

    #[test]
    fn untrusted_and_keyless_signatures_are_ignored_next_to_a_valid_one() {
        let a = key("a", 1);
        let b = key("b", 2);
        let mut env = Envelope::sign("t", b"body".to_vec(), &[&b, &a]);
        env.signatures.push(EnvelopeSignature { keyid: String::new(), sig: [7; 64] });
        env.signatures.push(EnvelopeSignature { keyid: "has space".into(), sig: [7; 64] });
        let verified = env.verify(&trusting(&[&a])).unwrap();
        assert_eq!(verified.signers(), ["a"]);
    }

    #[test]
    fn an_invalid_trusted_signature_rejects_the_envelope_even_beside_a_valid_one() {
        let a = key("a", 1);
        let b = key("b", 2);
        let mut env = Envelope::sign("t", b"body".to_vec(), &[&a, &b]);
        env.signatures[1].sig[5] ^= 1;
        let err = env.verify(&trusting(&[&a, &b])).unwrap_err();
        assert!(
            matches!(&err, DsseError::InvalidSignature { key_name, findings }
            if key_name == "b" && findings[0].status == SignatureStatus::Valid),
            "{err}"
        );
    }

    #[test]
    fn two_trusted_signers_are_both_reported() {
        let a = key("a", 1);
        let b = key("b", 2);
        let env = Envelope::sign("t", b"body".to_vec(), &[&b, &a, &a]);
        assert_eq!(env.verify(&trusting(&[&a, &b])).unwrap().signers(), ["a", "b"]);
    }

    #[test]
    fn envelope_without_signatures_does_not_verify() {
        let env = Envelope::sign("t", b"body".to_vec(), &[]);
        let err = env.verify(&trusting(&[&key("a", 1)])).unwrap_err();
        assert!(matches!(err, DsseError::NoSignatures));
        assert!(err.is_verification_failure());
        assert!(matches!(Envelope::parse(&env.to_json()), Err(DsseError::NoSignatures)));
    }

    #[test]
    fn the_envelope_of_the_dsse_spec_parses() {
        // The spec's example (an ECDSA P-256 signature, r || s: also 64 bytes), without a keyid.
        let json = br#"{"payload": "aGVsbG8gd29ybGQ=",
 "payloadType": "http://example.com/HelloWorld",
 "signatures": [{"sig": "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA=="}]}"#;
        let env = Envelope::parse(json).unwrap();
        assert_eq!(env.payload, b"hello world");
        assert_eq!(env.payload_type, "http://example.com/HelloWorld");
        assert_eq!(env.signatures[0].keyid, "");
        let err = env.verify(&trusting(&[&key("a", 1)])).unwrap_err();
        assert_eq!(err.to_string(), "no signature by a trusted key (signed by: (no keyid))");
    }

    fn envelope_json(payload: &str, sig: &str) -> String {
        format!(r#"{{"payloadType":"t","payload":"{payload}","signatures":[{{"keyid":"a","sig":"{sig}"}}]}}"#)
    }

    #[test]
    fn url_safe_and_unpadded_base64_are_accepted() {
        let k = key("a", 1);
        let env = Envelope::sign("t", vec![0xfb, 0xff, 0xbf, 0x01], &[&k]);
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let json = envelope_json(&url_safe.encode(&env.payload), &url_safe.encode(env.signatures[0].sig));
        assert!(json.contains('_') || json.contains('-'), "{json}");
        let parsed = Envelope::parse(json.as_bytes()).unwrap();
        assert_eq!(parsed, env);
        assert!(parsed.verify(&trusting(&[&k])).is_ok());
    }

    #[test]
    fn keyid_may_be_missing_or_null_and_unknown_fields_are_ignored() {
        let sig = STANDARD.encode([1u8; 64]);
        let json = format!(
            r#"{{"payloadType":"t","payload":"","extra":{{"x":[1]}},"signatures":[{{"sig":"{sig}"}},{{"keyid":null,"sig":"{sig}","ext":1}}]}}"#
        );
        let env = Envelope::parse(json.as_bytes()).unwrap();
        assert_eq!(env.signatures.len(), 2);
        assert!(env.signatures.iter().all(|s| s.keyid.is_empty()));
        assert!(env.payload.is_empty());
    }

    fn sig64() -> String {
        STANDARD.encode([1u8; 64])
    }

    #[rstest]
    #[case::not_json("{", "not a DSSE JSON envelope")]
    #[case::array("[]", "expected a DSSE envelope")]
    #[case::string(r#""x""#, "expected a DSSE envelope")]
    #[case::missing_payload(r#"{"payloadType":"t","signatures":[]}"#, "missing field `payload`")]
    #[case::missing_type(r#"{"payload":"","signatures":[]}"#, "missing field `payloadType`")]
    #[case::missing_signatures(r#"{"payload":"","payloadType":"t"}"#, "missing field `signatures`")]
    #[case::payload_number(r#"{"payload":5,"payloadType":"t","signatures":[]}"#, "invalid type: integer `5`")]
    #[case::null_type(r#"{"payload":"","payloadType":null,"signatures":[]}"#, "invalid type: null")]
    #[case::signatures_object(r#"{"payload":"","payloadType":"t","signatures":{}}"#, "expected an array of signatures")]
    #[case::array_of_field_values(r#"["aGk=","t",[]]"#, "expected a DSSE envelope")]
    #[case::signature_array(
        r#"{"payload":"","payloadType":"t","signatures":[["a","AAAA"]]}"#,
        "expected a DSSE signature"
    )]
    #[case::duplicate_sig(
        r#"{"payload":"","payloadType":"t","signatures":[{"sig":"","sig":""}]}"#,
        "duplicate field `sig`"
    )]
    #[case::keyid_number(
        r#"{"payload":"","payloadType":"t","signatures":[{"keyid":1,"sig":""}]}"#,
        "invalid type: integer `1`"
    )]
    #[case::signature_string(r#"{"payload":"","payloadType":"t","signatures":["x"]}"#, "expected a DSSE signature")]
    #[case::missing_sig(r#"{"payload":"","payloadType":"t","signatures":[{"keyid":"a"}]}"#, "missing field `sig`")]
    #[case::duplicate_payload(
        r#"{"payload":"","payload":"","payloadType":"t","signatures":[]}"#,
        "duplicate field `payload`"
    )]
    #[case::trailing_garbage(r#"{"payload":"","payloadType":"t","signatures":[]} x"#, "trailing characters")]
    #[case::no_signatures(r#"{"payload":"","payloadType":"t","signatures":[]}"#, "envelope has no signatures")]
    #[case::bad_payload_base64(&envelope_json("a!!a", &sig64()), "`payload` is not valid base64")]
    #[case::mixed_alphabets(&envelope_json("+_==", &sig64()), "`payload` is not valid base64")]
    #[case::space_in_base64(&envelope_json("YWJj ZA==", &sig64()), "`payload` is not valid base64")]
    #[case::leftover_bits(&envelope_json("YR==", &sig64()), "`payload` is not valid base64")]
    #[case::bad_sig_base64(&envelope_json("", "%%%%"), "`signatures[0].sig` is not valid base64")]
    #[case::short_sig(&envelope_json("", &STANDARD.encode([1u8; 63])), "`signatures[0].sig` has 63 bytes, expected 64")]
    #[case::empty_sig(&envelope_json("", ""), "`signatures[0].sig` has 0 bytes")]
    fn rejects_malformed_envelopes(#[case] json: &str, #[case] expected: &str) {
        let err = Envelope::parse(json.as_bytes()).unwrap_err();
        let chain = format!("{err}: {}", std::error::Error::source(&err).map(|s| s.to_string()).unwrap_or_default());
        assert!(chain.contains(expected), "{chain}");
        assert_eq!(err.is_verification_failure(), matches!(err, DsseError::NoSignatures));
    }

    #[test]
    fn too_many_signatures_are_counted_and_refused() {
        let one = format!(r#"{{"keyid":"a","sig":"{}"}}"#, sig64());
        let json = format!(r#"{{"payload":"","payloadType":"t","signatures":[{}]}}"#, vec![one; 70].join(","));
        assert!(matches!(Envelope::parse(json.as_bytes()), Err(DsseError::TooManySignatures { count: 70 })));
        let one = format!(r#"{{"keyid":"a","sig":"{}"}}"#, sig64());
        let json = format!(r#"{{"payload":"","payloadType":"t","signatures":[{}]}}"#, vec![one; 64].join(","));
        assert_eq!(Envelope::parse(json.as_bytes()).unwrap().signatures.len(), 64);
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let json = vec![b' '; MAX_ENVELOPE_LEN + 1];
        assert!(matches!(Envelope::parse(&json), Err(DsseError::TooLarge { len }) if len == MAX_ENVELOPE_LEN + 1));
    }

    proptest! {
        #[test]
        fn any_signed_envelope_round_trips_and_verifies(
            payload_type in "\\PC{0,40}",
            payload in proptest::collection::vec(any::<u8>(), 0..300),
            seeds in proptest::collection::vec(any::<[u8; 32]>(), 1..4),
        ) {
            let keys: Vec<SecretKey> =
                seeds.iter().enumerate().map(|(i, s)| SecretKey::from_seed(&format!("k{i}"), *s).unwrap()).collect();
            let refs: Vec<&SecretKey> = keys.iter().collect();
            let env = Envelope::sign(&payload_type, payload, &refs);
            let json = env.to_json();
            let parsed = Envelope::parse(&json).unwrap();
            prop_assert_eq!(&parsed, &env);
            prop_assert_eq!(parsed.to_json(), json);
            let verified = parsed.verify(&trusting(&refs)).unwrap();
            prop_assert_eq!(verified.signers().len(), keys.len());
        }
    }
}
