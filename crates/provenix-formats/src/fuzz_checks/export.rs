//! Fuzz body for [`crate::export`]: the reader never panics, memory stays
//! bounded (each NAR is validated as it streams; the copies kept here are
//! never larger than the input), and every accepted stream is canonical:
//! writing the parsed entries back gives the same bytes.

use crate::export::{ExportReader, ExportWriter};
use crate::store_path::StoreDir;

/// Parses `data` as an export stream into `/nix/store`, re-renders it, and
/// checks the rendering equals `data` when the parse succeeds.
pub fn export(data: &[u8]) {
    let store_dir = StoreDir::default();
    let mut reader = ExportReader::new(data, &store_dir);
    let mut parsed = Vec::new();
    loop {
        let mut nar = Vec::new();
        match reader.next_path(&mut nar) {
            Ok(Some(entry)) => parsed.push((entry, nar)),
            Ok(None) => break,
            Err(e) => {
                // Rendering the error (and its sources) must not panic either.
                let mut source: Option<&dyn std::error::Error> = Some(&e);
                while let Some(s) = source {
                    let _ = s.to_string();
                    source = s.source();
                }
                return;
            }
        }
    }
    let mut writer = ExportWriter::new(Vec::with_capacity(data.len()), &store_dir);
    for (entry, nar) in &parsed {
        let summary = writer
            .write_path_nar(&entry.path, &entry.references, entry.deriver.as_ref(), &nar[..])
            .expect("writer refused what the reader accepted");
        assert_eq!(summary.hash, entry.nar_hash);
        assert_eq!(summary.size, entry.nar_size);
    }
    let rendered = writer.finish().expect("finishing the stream");
    assert_eq!(rendered, data, "accepted export stream is not canonical");
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn seeds_are_accepted_and_canonical() {
        let seeds = super::super::seed_files("export", "export");
        assert!(!seeds.is_empty());
        for seed in seeds {
            let data = std::fs::read(&seed).unwrap();
            crate::export::read_entries(&data[..], &StoreDir::default())
                .unwrap_or_else(|e| panic!("{}: {e}", seed.display()));
            export(&data);
        }
    }

    #[test]
    fn every_prefix_and_single_byte_change_of_a_seed_passes_the_body() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/export/two-paths.export");
        let data = std::fs::read(path).unwrap();
        for cut in 0..data.len() {
            export(&data[..cut]);
        }
        for at in 0..data.len() {
            let mut d = data.clone();
            d[at] ^= 0x41;
            export(&d);
        }
    }
}
