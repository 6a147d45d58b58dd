//! C2SP tlog-checkpoint: a log's size and root hash, as a signed note.
//!
//! ```text
//! <origin>\n                 ; the log's name, e.g. "rebuild.example.org/log"
//! <tree size>\n              ; decimal, no leading zeros
//! <base64(root hash)>\n      ; 32 bytes, standard base64
//! [<extension line>\n]...    ; opaque to us, kept
//! ```
//!
//! followed by the signed-note signatures ([`super::note`]). The origin must
//! be non-empty printable text; extension lines non-empty.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use thiserror::Error;

use super::merkle::NodeHash;
use super::note::{Note, NoteError};
use crate::signature::{PublicKey, SecretKey};

/// Errors from parsing or verifying a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The signed note is malformed or its signature does not verify.
    #[error("checkpoint note")]
    Note(#[from] NoteError),
    /// A line of the checkpoint body is missing or malformed.
    #[error("checkpoint line {line}: invalid {what}")]
    BadLine {
        /// The line, from 1.
        line: usize,
        /// Which field.
        what: &'static str,
    },
    /// The origin is not the one expected.
    #[error("checkpoint is for log `{found}`, expected `{expected}`")]
    WrongOrigin {
        /// Expected.
        expected: String,
        /// Found.
        found: String,
    },
}

/// A checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line.
    pub origin: String,
    /// Leaves in the tree.
    pub size: u64,
    /// The RFC 9162 root hash.
    pub root: NodeHash,
    /// Extension lines, without newlines.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text.
    pub fn to_text(&self) -> String {
        let mut s = format!("{}\n{}\n{}\n", self.origin, self.size, STANDARD.encode(self.root));
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses a note text as a checkpoint.
    pub fn parse_text(text: &str) -> Result<Checkpoint, CheckpointError> {
        let body = text.strip_suffix('\n').ok_or(CheckpointError::BadLine { line: 1, what: "text end" })?;
        let mut lines = body.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty() && !o.chars().any(char::is_control));
        let origin = origin.ok_or(CheckpointError::BadLine { line: 1, what: "origin" })?;
        let size_text = lines.next().unwrap_or_default();
        let size = size_text
            .parse::<u64>()
            .ok()
            .filter(|s| s.to_string() == size_text)
            .ok_or(CheckpointError::BadLine { line: 2, what: "tree size" })?;
        let root_text = lines.next().unwrap_or_default();
        let root = STANDARD
            .decode(root_text)
            .ok()
            .and_then(|r| <[u8; 32]>::try_from(r).ok())
            .filter(|r| STANDARD.encode(r) == root_text)
            .ok_or(CheckpointError::BadLine { line: 3, what: "root hash" })?;
        let mut extensions = Vec::new();
        for (i, line) in lines.enumerate() {
            if line.is_empty() {
                return Err(CheckpointError::BadLine { line: i + 4, what: "extension" });
            }
            extensions.push(line.to_owned());
        }
        Ok(Checkpoint { origin: origin.to_owned(), size, root, extensions })
    }

    /// Signs the checkpoint with the log key: the signed note's bytes.
    pub fn sign(&self, key: &SecretKey) -> Result<Vec<u8>, CheckpointError> {
        Ok(Note::sign(self.to_text(), key)?.to_bytes())
    }
}

/// Parses a signed checkpoint and checks the log key's signature and origin.
pub fn verify_checkpoint(note: &[u8], key: &PublicKey, origin: &str) -> Result<Checkpoint, CheckpointError> {
    let note = Note::parse(note)?;
    let text = note.verify(key)?;
    let checkpoint = Checkpoint::parse_text(text)?;
    if checkpoint.origin != origin {
        return Err(CheckpointError::WrongOrigin { expected: origin.to_owned(), found: checkpoint.origin });
    }
    Ok(checkpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_signs_parses_and_verifies() {
        let key = SecretKey::from_seed("log", [9; 32]).unwrap();
        let cp = Checkpoint { origin: "example/log".into(), size: 42, root: [5; 32], extensions: vec!["x".into()] };
        let bytes = cp.sign(&key).unwrap();
        assert_eq!(verify_checkpoint(&bytes, &key.to_public(), "example/log").unwrap(), cp);
        assert!(matches!(
            verify_checkpoint(&bytes, &key.to_public(), "other"),
            Err(CheckpointError::WrongOrigin { .. })
        ));
        for bad in ["o\n042\nBQUF\n", "o\n1\nBQ==\n", "\n1\n", "o\n1\nBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU=\n\n"]
        {
            assert!(Checkpoint::parse_text(bad).is_err(), "{bad:?}");
        }
    }
}
