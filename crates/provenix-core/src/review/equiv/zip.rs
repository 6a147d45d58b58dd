//! A small, strict zip reader for `equiv`: the central directory (zip64
//! included) lists the entries; each entry's data is read through its local
//! header, stored or deflated, and hashed. Nothing is written.
//!
//! Limits and refusals (PKWARE APPNOTE 6.3 terms): encrypted entries,
//! methods other than 0 (stored) and 8 (deflate), multi-disk archives, and
//! entries whose data ranges overlap (the overlapping-file zip bomb, where
//! many central records share one deflate stream) are errors; so is an
//! entry whose declared sizes give a ratio above the limit, before anything
//! is inflated, and one whose data inflates past its declared size.

use std::io::{self, Read, Seek, SeekFrom};

use thiserror::Error;

use super::archive::{ArchiveError, Builder, Node};

/// What is wrong with a zip file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ZipError {
    /// No end-of-central-directory record in the last 64 KiB.
    #[error("no end of central directory record (not a zip, or truncated)")]
    NoEnd,
    /// A record's signature is wrong.
    #[error("byte {offset}: expected a {what} signature")]
    Signature {
        /// Where.
        offset: u64,
        /// Which record.
        what: &'static str,
    },
    /// A record runs past the end of the file.
    #[error("byte {offset}: {what} runs past the end of the file")]
    Truncated {
        /// Where.
        offset: u64,
        /// Which record.
        what: &'static str,
    },
    /// Spanned or split archives.
    #[error("multi-disk archives are not supported")]
    MultiDisk,
    /// An entry this reader will not read.
    #[error("entry `{entry}`: {reason}")]
    Entry {
        /// The entry name.
        entry: String,
        /// Why.
        reason: String,
    },
}

const EOCD: u32 = 0x0605_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_EOCD: u32 = 0x0606_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const LOCAL: u32 = 0x0403_4b50;

fn u16_at(b: &[u8], at: usize) -> u16 {
    let mut x = [0u8; 2];
    if let Some(s) = b.get(at..at + 2) {
        x.copy_from_slice(s);
    }
    u16::from_le_bytes(x)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        x.copy_from_slice(s);
    }
    u32::from_le_bytes(x)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        x.copy_from_slice(s);
    }
    u64::from_le_bytes(x)
}

struct CentralEntry {
    name: Vec<u8>,
    flags: u16,
    method: u16,
    compressed: u64,
    size: u64,
    local: u64,
    unix_mode: Option<u32>,
}

fn read_at<R: Read + Seek>(r: &mut R, offset: u64, len: usize, what: &'static str) -> Result<Vec<u8>, ZipIo> {
    r.seek(SeekFrom::Start(offset)).map_err(ZipIo::Io)?;
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => ZipIo::Zip(ZipError::Truncated { offset, what }),
        _ => ZipIo::Io(e),
    })?;
    Ok(buf)
}

enum ZipIo {
    Io(io::Error),
    Zip(ZipError),
}

impl From<ZipError> for ZipIo {
    fn from(e: ZipError) -> Self {
        ZipIo::Zip(e)
    }
}

/// Walks a zip into `b`.
pub(super) fn walk<R: Read + Seek>(mut r: R, b: &mut Builder<'_>) -> Result<(), ArchiveError> {
    let to_archive = |b: &Builder<'_>, e: ZipIo| match e {
        ZipIo::Io(source) => ArchiveError::Io { path: b.path.to_path_buf(), op: "reading the zip", source },
        ZipIo::Zip(source) => ArchiveError::Zip { path: b.path.to_path_buf(), source },
    };
    let entries = central_directory(&mut r, b).map_err(|e| to_archive(b, e))?;
    // Data ranges (local header to end of data) must not overlap.
    let mut ranges: Vec<(u64, u64, usize)> = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let header = read_at(&mut r, entry.local, 30, "local header").map_err(|e| to_archive(b, e))?;
        if u32_at(&header, 0) != LOCAL {
            return Err(to_archive(b, ZipIo::Zip(ZipError::Signature { offset: entry.local, what: "local header" })));
        }
        let data = entry.local + 30 + u64::from(u16_at(&header, 26)) + u64::from(u16_at(&header, 28));
        ranges.push((entry.local, data.saturating_add(entry.compressed), i));
    }
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        if let [(_, end, _), (start, _, i)] = pair
            && start < end
        {
            let name = super::archive::show(entries.get(*i).map(|e| e.name.as_slice()).unwrap_or_default());
            let reason = "its data overlaps another entry's (an overlapping-file zip bomb)".to_owned();
            return Err(to_archive(b, ZipIo::Zip(ZipError::Entry { entry: name, reason })));
        }
    }
    for (_, end, i) in ranges {
        let Some(entry) = entries.get(i) else { continue };
        read_entry(&mut r, b, entry, end - entry.compressed).map_err(|e| match e {
            EntryErr::Archive(e) => e,
            EntryErr::Zip(e) => to_archive(b, e),
        })?;
    }
    Ok(())
}

enum EntryErr {
    Archive(ArchiveError),
    Zip(ZipIo),
}

fn read_entry<R: Read + Seek>(r: &mut R, b: &mut Builder<'_>, entry: &CentralEntry, data: u64) -> Result<(), EntryErr> {
    let shown = super::archive::show(&entry.name);
    let refuse = |reason: String| EntryErr::Zip(ZipIo::Zip(ZipError::Entry { entry: shown.clone(), reason }));
    let Some(path) = b.normalise(&entry.name).map_err(EntryErr::Archive)? else { return Ok(()) };
    let mode = entry.unix_mode.unwrap_or(0);
    let is_dir = entry.name.ends_with(b"/") || mode & 0o170000 == 0o040000;
    if is_dir {
        return b.insert(path, Node::Directory).map_err(EntryErr::Archive);
    }
    if entry.flags & 1 != 0 {
        return Err(refuse("encrypted".into()));
    }
    let limits = *b.limits();
    if entry.size > limits.ratio_floor && entry.size / entry.compressed.max(1) > limits.max_ratio {
        return Err(refuse(format!(
            "declares {} bytes from {} compressed: a decompression bomb (ratio over {}:1)",
            entry.size, entry.compressed, limits.max_ratio
        )));
    }
    r.seek(SeekFrom::Start(data)).map_err(|e| EntryErr::Zip(ZipIo::Io(e)))?;
    let raw = (&mut *r).take(entry.compressed);
    // One byte more than declared is read so an entry that inflates past its size is caught.
    let mut content: Box<dyn Read + '_> = match entry.method {
        0 => Box::new(raw),
        8 => Box::new(flate2::read::DeflateDecoder::new(raw).take(entry.size + 1)),
        m => return Err(refuse(format!("compression method {m} is not supported (only stored and deflate)"))),
    };
    if mode & 0o170000 == 0o120000 {
        let mut target = Vec::new();
        (&mut content).take(4096).read_to_end(&mut target).map_err(|e| EntryErr::Zip(ZipIo::Io(e)))?;
        let target = String::from_utf8(target).map_err(|_| refuse("symlink target is not UTF-8".into()))?;
        return b.insert(path, Node::Symlink { target }).map_err(EntryErr::Archive);
    }
    b.file(path, mode & 0o111 != 0, entry.size, &mut content, "zip").map_err(EntryErr::Archive)
}

fn central_directory<R: Read + Seek>(r: &mut R, b: &Builder<'_>) -> Result<Vec<CentralEntry>, ZipIo> {
    let len = r.seek(SeekFrom::End(0)).map_err(ZipIo::Io)?;
    let tail_len = len.min(22 + 65_535);
    let tail = read_at(r, len - tail_len, tail_len as usize, "end record")?;
    let eocd = (0..tail.len().saturating_sub(21)).rev().find(|&i| u32_at(&tail, i) == EOCD).ok_or(ZipError::NoEnd)?;
    let eocd_offset = len - tail_len + eocd as u64;
    if u16_at(&tail, eocd + 4) != 0 || u16_at(&tail, eocd + 6) != 0 {
        return Err(ZipError::MultiDisk.into());
    }
    let mut count = u64::from(u16_at(&tail, eocd + 10));
    let mut cd_size = u64::from(u32_at(&tail, eocd + 12));
    let mut cd_offset = u64::from(u32_at(&tail, eocd + 16));
    if (count == 0xffff || cd_size == 0xffff_ffff || cd_offset == 0xffff_ffff) && eocd_offset >= 20 {
        let locator = read_at(r, eocd_offset - 20, 20, "zip64 locator")?;
        if u32_at(&locator, 0) == ZIP64_LOCATOR {
            let at = u64_at(&locator, 8);
            let record = read_at(r, at, 56, "zip64 end record")?;
            if u32_at(&record, 0) != ZIP64_EOCD {
                return Err(ZipError::Signature { offset: at, what: "zip64 end record" }.into());
            }
            count = u64_at(&record, 32);
            cd_size = u64_at(&record, 40);
            cd_offset = u64_at(&record, 48);
        }
    }
    if cd_offset.saturating_add(cd_size) > len {
        return Err(ZipError::Truncated { offset: cd_offset, what: "central directory" }.into());
    }
    // Each record is at least 46 bytes, so the count is bounded by the file itself.
    if count > cd_size / 46 || count > b.limits().max_entries as u64 {
        return Err(ZipError::Entry { entry: String::new(), reason: format!("{count} entries declared") }.into());
    }
    let cd = read_at(r, cd_offset, cd_size as usize, "central directory")?;
    let mut entries = Vec::with_capacity(count as usize);
    let mut at = 0usize;
    for _ in 0..count {
        let offset = cd_offset + at as u64;
        if u32_at(&cd, at) != CENTRAL {
            return Err(ZipError::Signature { offset, what: "central directory" }.into());
        }
        let fixed = cd.get(at..at + 46).ok_or(ZipError::Truncated { offset, what: "central directory" })?;
        let made_by = u16_at(fixed, 4) >> 8;
        let (name_len, extra_len, comment_len) =
            (usize::from(u16_at(fixed, 28)), usize::from(u16_at(fixed, 30)), usize::from(u16_at(fixed, 32)));
        let name = cd.get(at + 46..at + 46 + name_len).ok_or(ZipError::Truncated { offset, what: "entry name" })?;
        let extra = cd
            .get(at + 46 + name_len..at + 46 + name_len + extra_len)
            .ok_or(ZipError::Truncated { offset, what: "extra field" })?;
        let mut entry = CentralEntry {
            name: name.to_vec(),
            flags: u16_at(fixed, 8),
            method: u16_at(fixed, 10),
            compressed: u64::from(u32_at(fixed, 20)),
            size: u64::from(u32_at(fixed, 24)),
            local: u64::from(u32_at(fixed, 42)),
            unix_mode: (made_by == 3).then(|| u32_at(fixed, 38) >> 16),
        };
        zip64_extra(extra, &mut entry);
        entries.push(entry);
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(entries)
}

/// Applies a zip64 extended-information extra field (id 1): the 64-bit values replace
/// those stored as 0xffffffff, in the order size, compressed size, local header offset.
fn zip64_extra(mut extra: &[u8], entry: &mut CentralEntry) {
    while extra.len() >= 4 {
        let (id, len) = (u16_at(extra, 0), usize::from(u16_at(extra, 2)));
        let Some(body) = extra.get(4..4 + len) else { return };
        if id == 1 {
            let mut at = 0;
            for field in [&mut entry.size, &mut entry.compressed, &mut entry.local] {
                if *field == 0xffff_ffff && at + 8 <= body.len() {
                    *field = u64_at(body, at);
                    at += 8;
                }
            }
        }
        extra = extra.get(4 + len..).unwrap_or_default();
    }
}
