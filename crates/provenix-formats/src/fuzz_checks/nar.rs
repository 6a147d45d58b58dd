//! Fuzz body for [`crate::nar`]: the reader never panics, memory stays
//! bounded, and every accepted input is canonical (rendering the parsed
//! events with [`NarWriter`] gives back the same bytes).
//!
//! Memory: the reader holds at most one name per open directory (at most
//! [`crate::nar::MAX_DEPTH`] × [`crate::nar::MAX_NAME_LEN`] bytes) and one
//! symlink target; file contents pass through in chunks. The re-rendered copy
//! kept here is never larger than the input.

use std::io::Read;

use crate::hash::HashAlgo;
use crate::nar::{self, NarError, NarEvent, NarReader, NarWriter};

/// Parses `data` as a NAR, re-renders it event by event, and checks the
/// rendering equals `data` when the parse succeeds.
pub fn nar(data: &[u8]) {
    let rendered = render(data);
    let validated = nar::validate(data, HashAlgo::Sha256);
    match (rendered, validated) {
        (Ok(bytes), Ok(summary)) => {
            assert_eq!(bytes, data, "accepted NAR is not canonical");
            assert_eq!(summary.size, data.len() as u64);
            // And the rendering parses again.
            assert!(render(&bytes).is_ok());
        }
        (Err(e), Err(v)) => {
            assert_eq!(e.to_string(), v.to_string(), "pull parse and validate disagree");
            assert!(
                e.offset() <= data.len() as u64
                    || matches!(e.problem(), Some(nar::NarProblem::Wire(nar::wire::WireProblem::TooLong { .. })))
            );
        }
        (r, v) => panic!("render {:?} but validate {:?}", r.map(|b| b.len()), v),
    }
}

fn render(data: &[u8]) -> Result<Vec<u8>, NarError> {
    let mut reader = NarReader::new(data);
    let mut writer = NarWriter::new(Vec::with_capacity(data.len()));
    loop {
        // Copy what the event borrows so the reader is free for the contents.
        let event = match reader.next()? {
            None => break,
            Some(NarEvent::Regular { executable, size }) => {
                let mut body = Vec::new();
                reader.contents().take(size).read_to_end(&mut body).map_err(|e| match e.downcast::<NarError>() {
                    Ok(nar_error) => nar_error,
                    Err(other) => panic!("contents failed without a NarError: {other}"),
                })?;
                assert_eq!(body.len() as u64, size);
                writer.regular(executable, size, &body[..]).expect("writer refused what the reader accepted");
                continue;
            }
            Some(NarEvent::Symlink { target }) => Owned::Symlink(target.to_vec()),
            Some(NarEvent::Entry { name }) => Owned::Entry(name.to_vec()),
            Some(NarEvent::DirectoryStart) => Owned::DirectoryStart,
            Some(NarEvent::DirectoryEnd) => Owned::DirectoryEnd,
        };
        let written = match &event {
            Owned::Symlink(t) => writer.symlink(t),
            Owned::Entry(n) => writer.entry(n),
            Owned::DirectoryStart => writer.begin_directory(),
            Owned::DirectoryEnd => writer.end_directory(),
        };
        written.expect("writer refused what the reader accepted");
    }
    reader.finish()?;
    Ok(writer.finish().expect("writer incomplete after a complete NAR"))
}

enum Owned {
    Symlink(Vec<u8>),
    Entry(Vec<u8>),
    DirectoryStart,
    DirectoryEnd,
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn seeds_are_accepted_and_canonical() {
        let seeds = super::super::seed_files("nar", "nar");
        assert!(!seeds.is_empty());
        for seed in seeds {
            let data = std::fs::read(&seed).unwrap();
            assert!(render(&data).is_ok(), "{}", seed.display());
            nar(&data);
        }
    }

    #[test]
    fn every_prefix_and_single_byte_change_of_a_seed_passes_the_body() {
        let data = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/nar/tree.nar")).unwrap();
        for cut in 0..data.len() {
            nar(&data[..cut]);
        }
        for at in 0..data.len() {
            let mut d = data.clone();
            d[at] ^= 0x41;
            nar(&d);
        }
    }
}
