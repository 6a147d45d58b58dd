//! The input files of a vulnerability data directory: which files are data
//! (`*.json`, `*.json.gz`, `*.zip`), which are skipped (named, never silently),
//! and reading each one's JSON documents, decompressing as it reads.
//!
//! Decompression is bounded: one document (a `.json`, the inside of a
//! `.json.gz`, one member of a `.zip`) is at most [`MAX_FILE_BYTES`], and what
//! a compressed file expands to in total is at most [`MAX_EXPANSION`] times
//! its size on disk (or [`EXPANSION_FLOOR`], whichever is larger). JSON
//! compresses about 10 to 30 times; a file that expands further is refused as
//! a decompression bomb once the limit is passed, before more is read.

use std::collections::HashSet;
use std::fs;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::{EXPANSION_FLOOR, MAX_EXPANSION, MAX_FILE_BYTES, VulnDbError};

/// How an input file holds its JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Packing {
    /// Plain `*.json`.
    Plain,
    /// `*.json.gz`: one gzip stream (or several, concatenated) of one JSON document.
    Gzip,
    /// `*.zip`: every `*.json` member is a document; other members are skipped and named.
    Zip,
}

/// One input file.
#[derive(Debug)]
pub(super) struct InputFile {
    pub path: PathBuf,
    /// Relative to the database directory, `/`-separated.
    pub rel: String,
    pub size: u64,
    pub mtime_ns: i128,
    pub packing: Packing,
}

/// What [`walk`] found.
#[derive(Debug, Default)]
pub(super) struct Listing {
    /// The data files, sorted by relative path.
    pub files: Vec<InputFile>,
    /// Files and hidden directories that are not data, by relative path (a directory ends in `/`).
    pub skipped: Vec<String>,
}

/// True for the files provenix itself keeps in a data directory: the default index and the
/// temporary files of an index being written.
fn is_own_file(name: &str) -> bool {
    name.starts_with(".provenix-index") || (name.starts_with(".vulndb-") && name.ends_with(".tmp"))
}

fn packing_of(name: &str) -> Option<Packing> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".json") {
        Some(Packing::Plain)
    } else if lower.ends_with(".json.gz") {
        Some(Packing::Gzip)
    } else if lower.ends_with(".zip") {
        Some(Packing::Zip)
    } else {
        None
    }
}

/// Every data file under `dir`, sorted by relative path, and what was skipped. Symbolic links
/// are followed; a directory reached twice is read once. Hidden directories (`.git`) are not
/// entered and are listed as skipped; `index`, when it lies in `dir`, is neither.
pub(super) fn walk(dir: &Path, index: &Path) -> Result<Listing, VulnDbError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| VulnDbError::Io { path, source }
    };
    let index = fs::canonicalize(index).ok();
    let mut out = Listing::default();
    let mut seen = HashSet::new();
    let mut stack = vec![(dir.to_owned(), String::new())];
    while let Some((path, rel)) = stack.pop() {
        let canonical = fs::canonicalize(&path).map_err(io(&path))?;
        if !seen.insert(canonical) {
            continue;
        }
        let mut entries: Vec<_> = fs::read_dir(&path)
            .map_err(io(&path))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(io(&path))?;
        entries.sort();
        for name in entries.into_iter().rev() {
            let child = path.join(&name);
            let name = name.to_string_lossy();
            let child_rel = format!("{rel}{name}");
            let meta = match fs::metadata(&child) {
                Ok(m) => m,
                // A dangling link is not data.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(VulnDbError::Io { path: child, source: e }),
            };
            if meta.is_dir() {
                if name.starts_with('.') {
                    out.skipped.push(format!("{child_rel}/"));
                } else {
                    stack.push((child, format!("{child_rel}/")));
                }
                continue;
            }
            if is_own_file(&name) || (index.is_some() && fs::canonicalize(&child).ok() == index) {
                continue;
            }
            match packing_of(&name) {
                Some(packing) if meta.is_file() => {
                    let mtime_ns = meta
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                        .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX));
                    out.files.push(InputFile { path: child, rel: child_rel, size: meta.len(), mtime_ns, packing });
                }
                _ => out.skipped.push(child_rel),
            }
        }
    }
    out.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    out.skipped.sort();
    Ok(out)
}

/// The most a compressed file of `size` bytes may expand to.
pub(super) fn expansion_limit(size: u64) -> u64 {
    size.saturating_mul(MAX_EXPANSION).max(EXPANSION_FLOOR)
}

/// Reads one document `file` from `reader`, a part of a compressed file of `disk_size`
/// bytes: at most [`MAX_FILE_BYTES`], and at most `budget`, what the whole compressed file may
/// still expand to (decreased by what is read). Past either limit it stops with
/// [`VulnDbError::TooLarge`] or [`VulnDbError::Bomb`] naming `file`.
fn read_bounded(reader: impl Read, file: &str, disk_size: u64, budget: &mut u64) -> Result<Vec<u8>, VulnDbError> {
    let cap = MAX_FILE_BYTES.min(*budget);
    let mut bytes = Vec::new();
    reader
        .take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| VulnDbError::Decompress { file: file.to_owned(), source })?;
    let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if read > cap {
        if cap == *budget {
            return Err(VulnDbError::Bomb {
                file: file.to_owned(),
                compressed: disk_size,
                limit: expansion_limit(disk_size),
            });
        }
        return Err(VulnDbError::TooLarge { path: PathBuf::from(file), size: read });
    }
    *budget -= read;
    Ok(bytes)
}

/// One document of an input file: its name (relative to the database directory) and bytes.
pub(super) type Document = (String, Vec<u8>);

/// Reads the documents of `file`, handing them to `each` in batches of about `batch_bytes`
/// (a zip archive can hold more than fits in memory at once); members that are not JSON are
/// added to `skipped`.
pub(super) fn read_documents(
    file: &InputFile,
    batch_bytes: u64,
    skipped: &mut Vec<String>,
    each: &mut dyn FnMut(Vec<Document>) -> Result<(), VulnDbError>,
) -> Result<(), VulnDbError> {
    let io = |source| VulnDbError::Io { path: file.path.clone(), source };
    match file.packing {
        Packing::Plain => {
            if file.size > MAX_FILE_BYTES {
                return Err(VulnDbError::TooLarge { path: file.path.clone(), size: file.size });
            }
            each(vec![(file.rel.clone(), fs::read(&file.path).map_err(io)?)])
        }
        Packing::Gzip => {
            let reader = flate2::read::MultiGzDecoder::new(BufReader::new(fs::File::open(&file.path).map_err(io)?));
            let mut budget = expansion_limit(file.size);
            let bytes = read_bounded(reader, &file.rel, file.size, &mut budget)?;
            each(vec![(file.rel.clone(), bytes)])
        }
        Packing::Zip => read_zip(file, batch_bytes, skipped, each),
    }
}

fn read_zip(
    file: &InputFile,
    batch_bytes: u64,
    skipped: &mut Vec<String>,
    each: &mut dyn FnMut(Vec<Document>) -> Result<(), VulnDbError>,
) -> Result<(), VulnDbError> {
    let zip_error = |source| VulnDbError::Archive { file: file.rel.clone(), source };
    let reader = BufReader::new(
        fs::File::open(&file.path).map_err(|source| VulnDbError::Io { path: file.path.clone(), source })?,
    );
    let mut archive = zip::ZipArchive::new(reader).map_err(zip_error)?;
    let mut names: Vec<(String, usize)> = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let member = archive.by_index_raw(i).map_err(zip_error)?;
        if !member.is_dir() {
            names.push((member.name().to_owned(), i));
        }
    }
    names.sort();
    let mut budget = expansion_limit(file.size);
    let mut batch = Vec::new();
    let mut batch_size = 0u64;
    for (name, i) in names {
        let rel = format!("{}/{name}", file.rel);
        if packing_of(&name) != Some(Packing::Plain) {
            skipped.push(rel);
            continue;
        }
        let member = archive.by_index(i).map_err(zip_error)?;
        let bytes = read_bounded(member, &rel, file.size, &mut budget)?;
        batch_size += u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        batch.push((rel, bytes));
        if batch_size >= batch_bytes {
            each(std::mem::take(&mut batch))?;
            batch_size = 0;
        }
    }
    if batch.is_empty() { Ok(()) } else { each(batch) }
}
