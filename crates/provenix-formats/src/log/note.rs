//! C2SP signed notes, with Ed25519 keys in Nix's `name:base64` form.
//!
//! ```text
//! note       = text "\n" 1*signature
//! text       = 1*line                       ; every line ends in "\n"; no blank line
//! signature  = "— " key-name " " base64(key-id[4] || ed25519-signature[64]) "\n"
//! key-id     = SHA-256(key-name || "\n" || 0x01 || public-key[32])[0:4]
//! ```
//!
//! The signature covers the text bytes, final newline included. A note key
//! name is a Nix key name without `+` (the vkey separator). Verifiers look a
//! signature up by name and key id; signatures of other keys are skipped, as
//! the spec asks, so a witness may add cosignatures.
//!
//! Limits: a note is at most [`MAX_NOTE_LEN`] bytes with at most
//! [`MAX_SIGNATURES`] signature lines.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};
use thiserror::Error;

use crate::signature::{PublicKey, SecretKey, Signature, TrustedKeys};

/// Largest note, in bytes.
pub const MAX_NOTE_LEN: usize = 64 * 1024;
/// Most signature lines in a note.
pub const MAX_SIGNATURES: usize = 100;
/// The signature type byte of Ed25519 note keys.
const ED25519_TYPE: u8 = 0x01;

/// Errors from parsing, signing or verifying a note.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NoteError {
    /// Longer than [`MAX_NOTE_LEN`].
    #[error("note of {len} bytes is longer than {MAX_NOTE_LEN}")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// Not UTF-8, no blank line before the signatures, or text not ending in a newline.
    #[error("note is malformed: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// A signature line does not parse.
    #[error("signature line {line} is malformed")]
    BadSignatureLine {
        /// Its number among the signature lines, from 1.
        line: usize,
    },
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// The key name cannot name a note key.
    #[error("key name `{name}` cannot sign notes (it contains `+`)")]
    BadKeyName {
        /// The name.
        name: String,
    },
    /// No valid signature by the trusted key.
    #[error("no valid signature by `{name}`")]
    Unverified {
        /// The key name.
        name: String,
    },
}

/// One signature line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key id.
    pub key_id: [u8; 4],
    /// The signature bytes (64 for Ed25519, other lengths kept for other key types).
    pub signature: Vec<u8>,
}

/// A signed note: its text and signature lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The text, ending in a newline.
    pub text: String,
    /// The signatures, in order.
    pub signatures: Vec<NoteSignature>,
}

/// The key id of an Ed25519 note key.
pub fn key_id(key: &PublicKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(key.name().as_bytes());
    h.update([b'\n', ED25519_TYPE]);
    h.update(key.as_bytes());
    let d: [u8; 32] = h.finalize().into();
    let [a, b, c, e, ..] = d;
    [a, b, c, e]
}

/// The key in the C2SP verifier-key form `name+hex(id)+base64(0x01 || key)`, for other tools.
pub fn verifier_key(key: &PublicKey) -> String {
    let id = key_id(key);
    let mut raw = vec![ED25519_TYPE];
    raw.extend_from_slice(key.as_bytes());
    format!("{}+{:02x}{:02x}{:02x}{:02x}+{}", key.name(), id[0], id[1], id[2], id[3], STANDARD.encode(raw))
}

impl Note {
    /// Signs `text` (which must end in a newline and have no blank line) with `key`.
    pub fn sign(text: String, key: &SecretKey) -> Result<Note, NoteError> {
        check_text(&text)?;
        if key.name().contains('+') {
            return Err(NoteError::BadKeyName { name: key.name().to_owned() });
        }
        let sig = key.sign(text.as_bytes());
        let signature = NoteSignature {
            name: key.name().to_owned(),
            key_id: key_id(&key.to_public()),
            signature: sig.bytes().to_vec(),
        };
        Ok(Note { text, signatures: vec![signature] })
    }

    /// Parses a note. Signatures are not checked here.
    pub fn parse(input: &[u8]) -> Result<Note, NoteError> {
        if input.len() > MAX_NOTE_LEN {
            return Err(NoteError::TooLong { len: input.len() });
        }
        let all = std::str::from_utf8(input).map_err(|_| NoteError::Malformed { reason: "not UTF-8" })?;
        let split = all.rfind("\n\n").ok_or(NoteError::Malformed { reason: "no blank line before the signatures" })?;
        let (text, sigs) = all.split_at(split + 1);
        let sigs = sigs.strip_prefix('\n').unwrap_or(sigs);
        check_text(text)?;
        if !sigs.ends_with('\n') {
            return Err(NoteError::Malformed { reason: "the last signature line has no newline" });
        }
        let mut signatures = Vec::new();
        for (i, line) in sigs.split_terminator('\n').enumerate() {
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
            let bad = NoteError::BadSignatureLine { line: i + 1 };
            let rest = line.strip_prefix("\u{2014} ").ok_or(bad.clone())?;
            let (name, b64) = rest.split_once(' ').ok_or(bad.clone())?;
            if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
                return Err(bad);
            }
            let raw = STANDARD.decode(b64).map_err(|_| bad.clone())?;
            if raw.len() < 5 || STANDARD.encode(&raw) != b64 {
                return Err(bad);
            }
            let (id, sig) = raw.split_at(4);
            let key_id = <[u8; 4]>::try_from(id).map_err(|_| bad.clone())?;
            signatures.push(NoteSignature { name: name.to_owned(), key_id, signature: sig.to_vec() });
        }
        if signatures.is_empty() {
            return Err(NoteError::Malformed { reason: "no signature lines" });
        }
        Ok(Note { text: text.to_owned(), signatures })
    }

    /// The note's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.text.clone();
        out.push('\n');
        for s in &self.signatures {
            let mut raw = s.key_id.to_vec();
            raw.extend_from_slice(&s.signature);
            out.push_str("\u{2014} ");
            out.push_str(&s.name);
            out.push(' ');
            STANDARD.encode_string(raw, &mut out);
            out.push('\n');
        }
        out.into_bytes()
    }

    /// Checks that `key` signed the text; returns the text.
    pub fn verify(&self, key: &PublicKey) -> Result<&str, NoteError> {
        let id = key_id(key);
        let keys: TrustedKeys = [key.clone()].into_iter().collect();
        let ok = self.signatures.iter().filter(|s| s.name == key.name() && s.key_id == id).any(|s| {
            let Ok(bytes) = <[u8; 64]>::try_from(s.signature.as_slice()) else { return false };
            Signature::new(&s.name, bytes).is_ok_and(|sig| keys.verify((), self.text.as_bytes(), [&sig], 1).is_ok())
        });
        if ok { Ok(&self.text) } else { Err(NoteError::Unverified { name: key.name().to_owned() }) }
    }
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(NoteError::Malformed { reason: "the text does not end in a newline" });
    }
    if text.contains("\n\n") || text.starts_with('\n') {
        return Err(NoteError::Malformed { reason: "the text has a blank line" });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_note_round_trips_and_verifies_only_with_its_key() {
        let key = SecretKey::from_seed("log.example", [3; 32]).unwrap();
        let note = Note::sign("hello\nworld\n".to_owned(), &key).unwrap();
        let bytes = note.to_bytes();
        let parsed = Note::parse(&bytes).unwrap();
        assert_eq!(parsed, note);
        assert_eq!(parsed.verify(&key.to_public()).unwrap(), "hello\nworld\n");
        let other = SecretKey::from_seed("log.example", [4; 32]).unwrap();
        assert!(parsed.verify(&other.to_public()).is_err());
        let tampered = String::from_utf8(bytes).unwrap().replace("world", "w0rld");
        assert!(Note::parse(tampered.as_bytes()).unwrap().verify(&key.to_public()).is_err());
        assert!(verifier_key(&key.to_public()).starts_with("log.example+"));
    }

    #[test]
    fn refuses_malformed_notes() {
        for bad in [
            "",
            "text\n",
            "text\n\n",
            "text\n\n\u{2014} k AAAA\n",
            "text\n\n- k AAAAAAA=\n",
            "text\n\n\u{2014} k AAAAAAA=",
        ] {
            assert!(Note::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
