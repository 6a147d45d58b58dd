//! Fuzz body for DSSE envelopes (`fuzz/fuzz_targets/dsse.rs`).
//!
//! Whatever parses re-renders to JSON that parses to the same envelope and
//! renders to the same bytes again (base64 spelling and whitespace may
//! differ from the input, the decoded values may not). Verification never
//! panics, and the payload re-signed with a known key verifies.

use crate::dsse::{DsseError, Envelope, MAX_ENVELOPE_LEN, MAX_SIGNATURES};
use crate::signature::{SecretKey, TrustedKeys};

/// Parses `data` as a JSON envelope; checks parse -> render -> parse and verification.
pub fn dsse(data: &[u8]) {
    let Ok(envelope) = Envelope::parse(data) else { return };
    assert!(data.len() <= MAX_ENVELOPE_LEN);
    assert!(!envelope.signatures.is_empty() && envelope.signatures.len() <= MAX_SIGNATURES);
    assert!(envelope.payload.len() <= data.len(), "the payload decodes from the input");

    let json = envelope.to_json();
    let again = Envelope::parse(&json).unwrap();
    assert_eq!(again, envelope, "parse -> render -> parse changed the envelope");
    assert_eq!(again.to_json(), json, "rendering is not canonical");

    let key = SecretKey::from_seed("fuzz-1", [5; 32]).unwrap();
    let trusted: TrustedKeys = [key.to_public()].into_iter().collect();
    match envelope.verify(&trusted) {
        // Only a signature by `fuzz-1` (a committed seed has one) can verify.
        Ok(verified) => assert_eq!(verified.signers(), ["fuzz-1"]),
        Err(err) => assert!(err.is_verification_failure(), "a parsed envelope failed as malformed: {err}"),
    }
    let resigned = Envelope::sign(&envelope.payload_type, envelope.payload.clone(), &[&key]);
    let verified = resigned.verify(&trusted).unwrap();
    assert_eq!(verified.body, envelope.payload);
    let mut tampered = resigned;
    tampered.payload.push(b' ');
    assert!(matches!(tampered.verify(&trusted), Err(DsseError::InvalidSignature { .. })));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_seeds_pass_the_dsse_body() {
        let seeds = super::super::seed_files("dsse", "json");
        assert!(seeds.len() >= 3, "{seeds:?}");
        for seed in seeds {
            dsse(&std::fs::read(seed).unwrap());
        }
    }

    #[test]
    fn a_seed_signed_by_the_fuzz_key_verifies() {
        let key = SecretKey::from_seed("fuzz-1", [5; 32]).unwrap();
        let envelope = Envelope::sign("application/vnd.in-toto+json", b"{}".to_vec(), &[&key]);
        let trusted: TrustedKeys = [key.to_public()].into_iter().collect();
        assert!(envelope.verify(&trusted).is_ok());
        dsse(&envelope.to_json());
    }
}
