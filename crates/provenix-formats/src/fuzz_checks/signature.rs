//! Fuzz bodies for keys and signatures (`fuzz/fuzz_targets/{key,signature}.rs`).
//!
//! Parsing is strict (canonical base64, at most [`crate::signature::MAX_BASE64_LEN`] characters
//! decoded into a stack buffer), so whatever parses must render back to the
//! exact input, minus the one trailing newline key files may have.

use crate::signature::{PublicKey, SecretKey, Signature, TrustedKeys};

/// Parses `data` as a signature; checks parse -> render -> parse.
pub fn signature(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(sig) = Signature::parse(text) else { return };
    let rendered = sig.to_string();
    assert_eq!(rendered, text, "a parsed signature renders to its input");
    assert_eq!(Signature::parse(&rendered).unwrap(), sig);
}

/// Parses `data` as a secret key, a public key and a list of trusted keys;
/// checks parse -> render -> parse and that a parsed secret key signs what
/// its public key verifies.
pub fn key(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let canonical = text.strip_suffix('\n').unwrap_or(text);
    if let Ok(secret) = SecretKey::parse(text) {
        let rendered = secret.to_string();
        assert_eq!(rendered, canonical, "a parsed secret key renders to its input");
        assert_eq!(SecretKey::parse(&rendered).unwrap(), secret);
        let public = secret.to_public();
        let sig = secret.sign(data);
        let keys: TrustedKeys = [public].into_iter().collect();
        assert!(keys.verify((), data, [&sig], 1).is_ok(), "own signature verifies");
    }
    if let Ok(public) = PublicKey::parse(text) {
        let rendered = public.to_string();
        assert_eq!(rendered, canonical, "a parsed public key renders to its input");
        assert_eq!(PublicKey::parse(&rendered).unwrap(), public);
    }
    if let Ok(keys) = TrustedKeys::parse_list(text) {
        assert!(keys.len() <= text.split_ascii_whitespace().count());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_seed_is_accepted_by_the_key_body() {
        let secret = SecretKey::from_seed("fuzz-1", [5; 32]).unwrap();
        key(secret.to_string().as_bytes());
        key(format!("{}\n", secret.to_public()).as_bytes());
        signature(secret.sign(b"x").to_string().as_bytes());
    }
}
