//! Build reports: what one builder says it got when it built one output.
//!
//! A report is canonical text, one `key: value` line per field in a fixed
//! order, so the bytes a builder signs are the bytes the log stores and
//! anyone can re-check:
//!
//! ```text
//! provenix-build-report/1
//! drv: /nix/store/<hash>-<name>.drv
//! output: out
//! path: /nix/store/<hash>-<name>
//! nar-hash: sha256:<nixbase32>
//! nar-size: 1234                      ; optional (a rebuild attestation has no size)
//! builder: <key name>
//! system: x86_64-linux                ; optional
//! nix-version: 2.8.0
//! time: 2026-12-07T09:00:00Z          ; UTC, seconds
//! attestation: sha256:<hex>           ; optional: the DSSE envelope it came from
//! ```
//!
//! A log entry ([`Entry`]) is a report followed by what vouches for it:
//! either `signature: <name>:<base64>`, an ed25519 signature in Nix's key
//! format over the report's bytes (everything before that line), made by
//! the key named in `builder`; or `envelope: <base64>`, the DSSE rebuild
//! attestation the report was derived from (checked by
//! `provenix_core::log`, which knows the statement format), whose sha256
//! is the `attestation` line.
//!
//! Limits: an entry is at most [`MAX_ENTRY_LEN`] bytes; every value is at
//! most [`MAX_FIELD_LEN`] bytes of printable ASCII (no spaces except in
//! `nix-version`); paths are store paths under the given store directory.
//! Parsing is strict: unknown, missing, repeated or out-of-order lines, a
//! missing final newline and trailing bytes are errors, so parse -> render
//! gives back the input.

use std::fmt::{self, Write as _};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use thiserror::Error;

use crate::hash::{Hash, HashAlgo};
use crate::signature::{SecretKey, Signature, SignatureError, SignatureRejection, TrustedKeys, Verified};
use crate::store_path::{StoreDir, StorePathError};

/// First line of every report.
pub const REPORT_HEADER: &str = "provenix-build-report/1";
/// Largest entry accepted, in bytes: what the u16 length prefix of a C2SP
/// entry bundle can carry (an attestation of a small closure fits).
pub const MAX_ENTRY_LEN: usize = u16::MAX as usize;
/// Longest value of one field, in bytes.
pub const MAX_FIELD_LEN: usize = 1024;

/// Errors from parsing or checking a report or entry. Lines count from 1.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ReportError {
    /// Longer than [`MAX_ENTRY_LEN`].
    #[error("entry of {len} bytes is longer than {MAX_ENTRY_LEN}")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// Not UTF-8 text.
    #[error("entry is not UTF-8 text")]
    NotText,
    /// The first line is not [`REPORT_HEADER`].
    #[error("line 1: expected `{REPORT_HEADER}`")]
    BadHeader,
    /// The last line has no newline.
    #[error("line {line}: missing final newline")]
    MissingNewline {
        /// The line.
        line: usize,
    },
    /// A line is not the field expected there.
    #[error("line {line}: expected field `{expected}`")]
    ExpectedField {
        /// The line.
        line: usize,
        /// The field name expected.
        expected: &'static str,
    },
    /// A value is empty, too long or has a character not allowed.
    #[error("line {line}: invalid value of `{field}`")]
    BadValue {
        /// The line.
        line: usize,
        /// The field.
        field: &'static str,
    },
    /// A path is not a store path under the store directory.
    #[error("line {line}: `{field}` is not a store path")]
    BadPath {
        /// The line.
        line: usize,
        /// The field.
        field: &'static str,
        /// Why.
        #[source]
        source: StorePathError,
    },
    /// `drv` does not name a `.drv` file.
    #[error("line {line}: `drv` does not end in .drv")]
    NotDrv {
        /// The line.
        line: usize,
    },
    /// The signature line does not parse.
    #[error("line {line}: invalid signature")]
    BadSignature {
        /// The line.
        line: usize,
        /// Why.
        #[source]
        source: SignatureError,
    },
    /// Bytes after the last line.
    #[error("line {line}: unexpected trailing data")]
    Trailing {
        /// The line.
        line: usize,
    },
    /// The signature is by another key than the report's `builder`.
    #[error("report names builder `{builder}` but is signed by `{signer}`")]
    BuilderMismatch {
        /// The builder the report names.
        builder: String,
        /// The key name of the signature.
        signer: String,
    },
    /// The envelope's sha256 is not the report's `attestation`.
    #[error("the envelope's sha256 is not the report's `attestation`")]
    AttestationMismatch,
    /// The signature does not verify with the trusted key of that name (or none is trusted).
    #[error("signature by `{signer}` does not verify")]
    Unverified {
        /// The key name of the signature.
        signer: String,
        /// What the check found.
        #[source]
        source: SignatureRejection,
    },
}

/// What one builder says it got for one output of one derivation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Report {
    /// The `.drv` path, with the store directory.
    pub drv: String,
    /// The output name (`out`, `dev`, ...).
    pub output: String,
    /// The output path, with the store directory.
    pub path: String,
    /// The sha256 of the output's NAR serialisation.
    pub nar_hash: [u8; 32],
    /// The NAR's size in bytes, when known.
    pub nar_size: Option<u64>,
    /// The name of the builder's key.
    pub builder: String,
    /// The Nix system type, when known.
    pub system: Option<String>,
    /// The Nix version that built it.
    pub nix_version: String,
    /// When it was built, `YYYY-MM-DDTHH:MM:SSZ`.
    pub time: String,
    /// sha256 of the DSSE rebuild attestation this report came from.
    pub attestation: Option<[u8; 32]>,
}

/// What vouches for a report in the log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Vouch {
    /// The builder's signature over the report's bytes.
    Signature(Signature),
    /// The DSSE envelope the report was derived from, as submitted.
    Envelope(Vec<u8>),
}

/// One log entry: a report and what vouches for it. Its canonical bytes are the Merkle leaf.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The report.
    pub report: Report,
    /// Its signature or envelope.
    pub vouch: Vouch,
}

fn value_ok(value: &str, allow_space: bool) -> bool {
    !value.is_empty()
        && value.len() <= MAX_FIELD_LEN
        && value.bytes().all(|b| b.is_ascii_graphic() || (allow_space && b == b' '))
        && !value.starts_with(' ')
        && !value.ends_with(' ')
}

fn is_utc_second(time: &str) -> bool {
    let b = time.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    b.len() == 20
        && digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && b.get(10) == Some(&b'T')
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19)
        && b.get(19) == Some(&b'Z')
}

impl Report {
    /// Checks every field as [`Entry::parse`] would, for reports built in code.
    pub fn validate(&self, store: &StoreDir) -> Result<(), ReportError> {
        let text = self.to_string();
        let mut lines = Lines { rest: &text, line: 1 };
        lines.header()?;
        let parsed = parse_report_fields(&mut lines, store)?;
        if parsed != *self || !lines.rest.is_empty() {
            return Err(ReportError::Trailing { line: lines.line });
        }
        Ok(())
    }

    /// The bytes a builder signs: the canonical text.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// Signs the report with the builder's key. The key's name must be `builder`.
    pub fn sign(self, key: &SecretKey) -> Result<Entry, ReportError> {
        if key.name() != self.builder {
            return Err(ReportError::BuilderMismatch { builder: self.builder, signer: key.name().to_owned() });
        }
        let signature = key.sign(&self.to_bytes());
        Ok(Entry { report: self, vouch: Vouch::Signature(signature) })
    }

    /// The NAR hash as a Nix [`Hash`].
    pub fn nar_hash(&self) -> Hash {
        // A 32-byte digest is always a valid sha256.
        Hash::from_digest(HashAlgo::Sha256, &self.nar_hash).unwrap_or_else(|| Hash::compute(HashAlgo::Sha256, b""))
    }
}

impl fmt::Display for Report {
    /// The canonical text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{REPORT_HEADER}")?;
        writeln!(f, "drv: {}", self.drv)?;
        writeln!(f, "output: {}", self.output)?;
        writeln!(f, "path: {}", self.path)?;
        writeln!(f, "nar-hash: {}", self.nar_hash().to_prefixed_nixbase32())?;
        if let Some(size) = self.nar_size {
            writeln!(f, "nar-size: {size}")?;
        }
        writeln!(f, "builder: {}", self.builder)?;
        if let Some(system) = &self.system {
            writeln!(f, "system: {system}")?;
        }
        writeln!(f, "nix-version: {}", self.nix_version)?;
        writeln!(f, "time: {}", self.time)?;
        if let Some(digest) = &self.attestation {
            f.write_str("attestation: sha256:")?;
            for b in digest {
                write!(f, "{b:02x}")?;
            }
            f.write_char('\n')?;
        }
        Ok(())
    }
}

struct Lines<'a> {
    rest: &'a str,
    line: usize,
}

impl<'a> Lines<'a> {
    fn header(&mut self) -> Result<(), ReportError> {
        match self.rest.strip_prefix(REPORT_HEADER).and_then(|r| r.strip_prefix('\n')) {
            Some(rest) => {
                self.rest = rest;
                self.line += 1;
                Ok(())
            }
            None => Err(ReportError::BadHeader),
        }
    }

    /// The value of the next line if it is field `name`.
    fn field(&mut self, name: &'static str) -> Result<Option<&'a str>, ReportError> {
        let Some(after) = self.rest.strip_prefix(name).and_then(|r| r.strip_prefix(": ")) else {
            return Ok(None);
        };
        let Some((value, rest)) = after.split_once('\n') else {
            return Err(ReportError::MissingNewline { line: self.line });
        };
        self.rest = rest;
        self.line += 1;
        Ok(Some(value))
    }

    fn required(&mut self, name: &'static str) -> Result<&'a str, ReportError> {
        let line = self.line;
        self.field(name)?.ok_or(ReportError::ExpectedField { line, expected: name })
    }

    fn value(&mut self, name: &'static str, allow_space: bool) -> Result<Option<&'a str>, ReportError> {
        let line = self.line;
        match self.field(name)? {
            Some(v) if value_ok(v, allow_space) => Ok(Some(v)),
            Some(_) => Err(ReportError::BadValue { line, field: name }),
            None => Ok(None),
        }
    }

    fn required_value(&mut self, name: &'static str, allow_space: bool) -> Result<&'a str, ReportError> {
        let line = self.line;
        self.value(name, allow_space)?.ok_or(ReportError::ExpectedField { line, expected: name })
    }
}

fn parse_store_path(lines: &mut Lines<'_>, store: &StoreDir, field: &'static str) -> Result<String, ReportError> {
    let line = lines.line;
    let value = lines.required(field)?;
    let path = store.parse_path(value).map_err(|source| ReportError::BadPath { line, field, source })?;
    if field == "drv" && !path.is_derivation() {
        return Err(ReportError::NotDrv { line });
    }
    Ok(value.to_owned())
}

fn parse_report_fields(lines: &mut Lines<'_>, store: &StoreDir) -> Result<Report, ReportError> {
    let drv = parse_store_path(lines, store, "drv")?;
    let line = lines.line;
    let output = lines.required_value("output", false)?;
    if crate::store_path::validate_name(output.as_bytes(), output).is_err() {
        return Err(ReportError::BadValue { line, field: "output" });
    }
    let path = parse_store_path(lines, store, "path")?;
    let line = lines.line;
    let nar_hash = lines.required("nar-hash")?;
    let nar_hash = nar_hash
        .strip_prefix("sha256:")
        .and_then(|h| Hash::parse_unprefixed(h, HashAlgo::Sha256).ok())
        .filter(|h| h.to_prefixed_nixbase32() == nar_hash)
        .and_then(|h| <[u8; 32]>::try_from(h.digest()).ok())
        .ok_or(ReportError::BadValue { line, field: "nar-hash" })?;
    let line = lines.line;
    let nar_size = match lines.value("nar-size", false)? {
        Some(v) => Some(parse_decimal(v).ok_or(ReportError::BadValue { line, field: "nar-size" })?),
        None => None,
    };
    let line = lines.line;
    let builder = lines.required_value("builder", false)?;
    if crate::signature::validate_key_name(builder, crate::signature::Kind::Signature).is_err() {
        return Err(ReportError::BadValue { line, field: "builder" });
    }
    let system = lines.value("system", false)?.map(str::to_owned);
    let nix_version = lines.required_value("nix-version", true)?.to_owned();
    let line = lines.line;
    let time = lines.required("time")?;
    if !is_utc_second(time) {
        return Err(ReportError::BadValue { line, field: "time" });
    }
    let line = lines.line;
    let attestation = match lines.field("attestation")? {
        Some(v) => Some(
            v.strip_prefix("sha256:")
                .and_then(parse_lower_hex32)
                .ok_or(ReportError::BadValue { line, field: "attestation" })?,
        ),
        None => None,
    };
    Ok(Report {
        drv,
        output: output.to_owned(),
        path,
        nar_hash,
        nar_size,
        builder: builder.to_owned(),
        system,
        nix_version,
        time: time.to_owned(),
        attestation,
    })
}

/// A decimal without leading zeros that fits in u64.
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// 64 lowercase hex digits.
pub(crate) fn parse_lower_hex32(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (dst, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        *dst = nibble(*hi)? << 4 | nibble(*lo)?;
    }
    Some(out)
}

impl Entry {
    /// Parses an entry: a report, then its `signature:` or `envelope:` line.
    pub fn parse(input: &[u8], store: &StoreDir) -> Result<Entry, ReportError> {
        if input.len() > MAX_ENTRY_LEN {
            return Err(ReportError::TooLong { len: input.len() });
        }
        let text = std::str::from_utf8(input).map_err(|_| ReportError::NotText)?;
        let mut lines = Lines { rest: text, line: 1 };
        lines.header()?;
        let report = parse_report_fields(&mut lines, store)?;
        let line = lines.line;
        let vouch = if let Some(sig) = lines.field("signature")? {
            let signature = Signature::parse(sig).map_err(|source| ReportError::BadSignature { line, source })?;
            if signature.key_name() != report.builder {
                return Err(ReportError::BuilderMismatch {
                    builder: report.builder,
                    signer: signature.key_name().to_owned(),
                });
            }
            Vouch::Signature(signature)
        } else if let Some(envelope) = lines.field("envelope")? {
            let bytes = STANDARD.decode(envelope).map_err(|_| ReportError::BadValue { line, field: "envelope" })?;
            if report.attestation != Some(crate::hash::sha256(&bytes)) {
                return Err(ReportError::AttestationMismatch);
            }
            Vouch::Envelope(bytes)
        } else {
            return Err(ReportError::ExpectedField { line, expected: "signature" });
        };
        if !lines.rest.is_empty() {
            return Err(ReportError::Trailing { line: lines.line });
        }
        Ok(Entry { report, vouch })
    }

    /// An entry for a report derived from a DSSE envelope; `attestation` is set to the envelope's sha256.
    pub fn from_envelope(mut report: Report, envelope: Vec<u8>) -> Entry {
        report.attestation = Some(crate::hash::sha256(&envelope));
        Entry { report, vouch: Vouch::Envelope(envelope) }
    }

    /// The canonical bytes: the Merkle leaf.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.report.to_string();
        match &self.vouch {
            Vouch::Signature(sig) => {
                let _ = writeln!(out, "signature: {sig}");
            }
            Vouch::Envelope(bytes) => {
                out.push_str("envelope: ");
                STANDARD.encode_string(bytes, &mut out);
                out.push('\n');
            }
        }
        out.into_bytes()
    }

    /// Checks a signed entry's signature against the trusted builder keys. An
    /// envelope entry is refused here ([`ReportError::ExpectedField`]); core checks those.
    pub fn verify_signature(self, keys: &TrustedKeys) -> Result<Verified<Entry>, ReportError> {
        let Vouch::Signature(sig) = &self.vouch else {
            return Err(ReportError::ExpectedField { line: 0, expected: "signature" });
        };
        let sig = sig.clone();
        let message = self.report.to_bytes();
        keys.verify(self, &message, [&sig], 1)
            .map_err(|source| ReportError::Unverified { signer: sig.key_name().to_owned(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Report {
        Report {
            drv: "/nix/store/0r2v93mqaf9d2zyqi8pgmyzmf879753y-hello-1.0.drv".to_owned(),
            output: "out".to_owned(),
            path: "/nix/store/z4asv3j07d89ywjf8fxkn7sg6mf5s9q5-hello-1.0".to_owned(),
            nar_hash: [7; 32],
            nar_size: Some(1234),
            builder: "builder-a".to_owned(),
            system: Some("x86_64-linux".to_owned()),
            nix_version: "nix-env (Nix) 2.8.0".to_owned(),
            time: "2026-12-07T09:00:00Z".to_owned(),
            attestation: None,
        }
    }

    fn key(name: &str) -> SecretKey {
        SecretKey::from_seed(name, [name.len() as u8; 32]).unwrap()
    }

    #[test]
    fn signed_entry_round_trips_and_verifies() {
        let k = key("builder-a");
        let entry = sample().sign(&k).unwrap();
        let bytes = entry.to_bytes();
        let parsed = Entry::parse(&bytes, &StoreDir::default()).unwrap();
        assert_eq!(parsed, entry);
        assert_eq!(parsed.to_bytes(), bytes);
        let keys: TrustedKeys = [k.to_public()].into_iter().collect();
        assert!(parsed.verify_signature(&keys).is_ok());
    }

    #[test]
    fn optional_fields_may_be_absent() {
        let mut r = sample();
        r.nar_size = None;
        r.system = None;
        let e = Entry::from_envelope(r, b"{}".to_vec());
        let parsed = Entry::parse(&e.to_bytes(), &StoreDir::default()).unwrap();
        assert_eq!(parsed, e);
        assert!(parsed.report.attestation.is_some());
    }

    #[test]
    fn an_edited_report_no_longer_verifies() {
        let k = key("builder-a");
        let text = String::from_utf8(sample().sign(&k).unwrap().to_bytes()).unwrap();
        let edited = text.replace("nar-size: 1234", "nar-size: 1235");
        let parsed = Entry::parse(edited.as_bytes(), &StoreDir::default()).unwrap();
        let keys: TrustedKeys = [k.to_public()].into_iter().collect();
        assert!(matches!(parsed.verify_signature(&keys), Err(ReportError::Unverified { .. })));
    }

    #[test]
    fn refuses_a_signature_by_another_key_than_the_builder() {
        let mut r = sample();
        assert!(matches!(r.clone().sign(&key("other")), Err(ReportError::BuilderMismatch { .. })));
        let text = String::from_utf8(r.clone().sign(&key("builder-a")).unwrap().to_bytes()).unwrap();
        r.builder = "other".to_owned();
        let sig = key("other").sign(&r.to_bytes());
        let forged = text
            .replacen("builder: builder-a", "builder: other", 1)
            .replace(text.lines().last().unwrap(), &format!("signature: {}", key("builder-a").sign(&r.to_bytes())));
        assert!(matches!(
            Entry::parse(forged.as_bytes(), &StoreDir::default()),
            Err(ReportError::BuilderMismatch { .. })
        ));
        let _ = sig;
    }

    #[test]
    fn refuses_malformed_lines_naming_them() {
        let text = String::from_utf8(sample().sign(&key("builder-a")).unwrap().to_bytes()).unwrap();
        let cases = [
            (text.replace("provenix-build-report/1", "x"), "line 1"),
            (text.replace("output: out\n", ""), "line 3"),
            (text.replace("nar-size: 1234", "nar-size: 01234"), "line 6"),
            (text.replace("time: 2026-12-07T09:00:00Z", "time: yesterday"), "line 10"),
            (text.replace(".drv\n", "\n"), "line 2"),
            (format!("{text}x"), "line 12"),
            (text.trim_end().to_owned(), "line 11"),
        ];
        for (input, line) in cases {
            let err = Entry::parse(input.as_bytes(), &StoreDir::default()).unwrap_err();
            assert!(err.to_string().starts_with(line), "{input:?}: {err}");
        }
        let too_long = vec![b'a'; MAX_ENTRY_LEN + 1];
        assert!(matches!(Entry::parse(&too_long, &StoreDir::default()), Err(ReportError::TooLong { .. })));
    }
}
