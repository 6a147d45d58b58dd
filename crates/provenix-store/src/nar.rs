//! NAR on the file system: dump a file tree as `nix-store --dump` does, hash
//! it as `nix-hash` does, unpack a NAR safely, and hash a regular file flat.
//!
//! # How Nix 2.8 serialises a tree (and so do we)
//!
//! - The tree is walked without following symlinks: a symlink is stored as
//!   its target bytes (`readlink`), whatever it points to, dangling or not.
//!   Entries are opened relative to their parent's descriptor with
//!   `O_NOFOLLOW`, so an entry or a parent swapped for a symlink while the
//!   tree is dumped is reported as changed, never followed.
//! - Directory entries are sorted bytewise by name (Nix sorts them as byte
//!   strings), so `A` < `_` < `a` < `a-b` < `a.b` < `a0` < `ab` < `ä`;
//!   non-UTF-8 names are plain bytes.
//! - A regular file is executable in the NAR if its owner execute bit
//!   (`S_IXUSR`, 0o100) is set; group and other bits do not count (checked:
//!   mode 0o654 dumps as non-executable, 0o100 as executable).
//! - Sockets, FIFOs and device nodes cannot be stored: Nix fails with
//!   "file ... has an unsupported type", we with [`NarFsError::UnsupportedType`]
//!   naming the file. Both have written part of the NAR by then; callers
//!   discard the output on error.
//! - A file that shrinks while it is read is an error naming it (Nix fails
//!   too); bytes appended after its size was taken are not read, as Nix
//!   reads exactly the size it saw.
//!
//! Names longer than 255 bytes or symlink targets longer than 4095 bytes
//! cannot exist on Linux; [`provenix_formats::nar`]'s limits match those, so a
//! tree Linux can hold can be dumped, except one nested deeper than
//! [`provenix_formats::nar::MAX_DEPTH`] directories.
//!
//! # Cost
//!
//! One pass over the tree; `readdir` gives the file types, so only regular
//! files cost an `openat` + `fstat`. File bodies stream through a 128 KiB
//! buffer; nothing holds more than one directory listing per level.
//!
//! # Unpacking safely
//!
//! [`unpack`] reads a NAR with the strict reader, whose names can never be
//! empty, `.`, `..` or contain `/`, and whose entries are unique, so every
//! created path is a fresh child of a directory this call created. Files are
//! created with `O_CREAT | O_EXCL` (which also refuses an existing symlink),
//! directories with `mkdir`, links with `symlink`, each relative to its
//! parent's descriptor (`openat` and friends), held open since the parent
//! was made: nothing already on disk is opened, followed or overwritten, even
//! if a directory is swapped for a symlink meanwhile. The target must not
//! exist, or be an empty directory (not a symlink to one). On any error,
//! everything created is removed again (by path: a concurrent writer inside
//! the target can still confuse the cleanup; unpack into a directory only you
//! can write).

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::cleanup;
use provenix_formats::hash::{Hash, HashAlgo, Hasher};
use provenix_formats::nar::{NarError, NarEvent, NarReader, NarSummary, NarWriter, Tee};
use thiserror::Error;

/// Buffer for reading files (flat hashing) and writing dumps.
const BUF_LEN: usize = 128 * 1024;

/// Errors from dumping, hashing and unpacking file trees.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NarFsError {
    /// A file-system operation failed.
    #[error("{op} {}", path.display())]
    Io {
        /// What was being done (`reading`, `creating`, ...).
        op: &'static str,
        /// The file at fault.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A file that a NAR cannot hold.
    #[error("{}: {kind} cannot be stored in a NAR", path.display())]
    UnsupportedType {
        /// The file.
        path: PathBuf,
        /// `socket`, `FIFO`, `character device`, `block device`.
        kind: &'static str,
    },
    /// A file was replaced while being dumped.
    #[error("{}: changed while being dumped", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// Serialising a file failed: a name or target the NAR format refuses,
    /// a body that ended early, or the output failing.
    #[error("dumping {}", path.display())]
    Dump {
        /// The file being written.
        path: PathBuf,
        /// Why.
        #[source]
        source: NarError,
    },
    /// The NAR being unpacked is invalid (or reading it failed).
    #[error("unpacking into {}", path.display())]
    Unpack {
        /// The target directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: NarError,
    },
    /// The unpack target exists and is not an empty directory.
    #[error("{} already exists and is not an empty directory", path.display())]
    TargetExists {
        /// The target.
        path: PathBuf,
    },
    /// Flat hashing needs a regular file.
    #[error("{} is not a regular file", path.display())]
    NotRegularFile {
        /// The path.
        path: PathBuf,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> NarFsError + 'a {
    move |source| NarFsError::Io { op, path: path.to_path_buf(), source }
}

fn dump_err(path: &Path) -> impl FnOnce(NarError) -> NarFsError + '_ {
    move |source| NarFsError::Dump { path: path.to_path_buf(), source }
}

/// Writes the NAR of the tree at `path` to `out` (buffered here), byte for
/// byte what `nix-store --dump` writes. Returns the NAR's size.
pub fn dump_path<W: Write>(path: &Path, out: W) -> Result<u64, NarFsError> {
    let mut nar = NarWriter::new(BufWriter::with_capacity(BUF_LEN, out));
    dump_into(path, &mut nar)?;
    let size = nar.offset();
    nar.finish().map_err(dump_err(path))?;
    Ok(size)
}

/// Hashes the NAR of the tree at `path` without building it: what
/// `nix-hash --type <algo> PATH` prints. Returns the hash and the NAR size.
pub fn hash_path(path: &Path, algo: HashAlgo) -> Result<(Hash, u64), NarFsError> {
    let mut nar = NarWriter::new(HashingSink { hasher: Hasher::new(algo), size: 0 });
    dump_into(path, &mut nar)?;
    let sink = nar.finish().map_err(dump_err(path))?;
    Ok((sink.hasher.finish(), sink.size))
}

/// The size of the NAR of the tree at `path`, from metadata alone: no file
/// body is read, so it costs one `lstat` per entry (and a `readlink` per
/// symlink). Equal to what [`dump_path`] writes if the tree does not change
/// in between; a caller that then dumps the tree compares the two.
pub fn nar_size(path: &Path) -> Result<u64, NarFsError> {
    /// An 8-byte length plus the bytes padded to 8.
    const fn token(len: u64) -> u64 {
        8 + len.div_ceil(8) * 8
    }
    // "(" "type" <type of up to 8 bytes> and the closing ")": the frame every node has.
    const NODE: u64 = 16 + 16 + 16 + 16;
    fn node(path: &Path, meta: &fs::Metadata) -> Result<u64, NarFsError> {
        let ft = meta.file_type();
        if ft.is_symlink() {
            let target = fs::read_link(path).map_err(io_err("reading symlink", path))?;
            // "(" "type" "symlink" "target" <target> ")".
            Ok(NODE + 16 + token(target.as_os_str().len() as u64))
        } else if ft.is_file() {
            let executable = meta.mode() & 0o100 != 0;
            // regular_file_nar_size counts the archive magic (24 bytes) too.
            Ok(provenix_formats::nar::regular_file_nar_size(meta.len(), executable) - 24)
        } else if ft.is_dir() {
            // "(" "type" "directory" ... ")": "directory" is 9 bytes, a 24-byte token.
            let mut size = NODE + 8;
            for entry in fs::read_dir(path).map_err(io_err("reading directory", path))? {
                let entry = entry.map_err(io_err("reading directory", path))?;
                let child = entry.path();
                let meta = fs::symlink_metadata(&child).map_err(io_err("reading metadata of", &child))?;
                // "entry" "(" "name" <name> "node" <node> ")".
                size += 16 + 16 + 16 + token(entry.file_name().len() as u64) + 16 + node(&child, &meta)? + 16;
            }
            Ok(size)
        } else {
            Err(NarFsError::UnsupportedType { path: path.to_path_buf(), kind: Kind::of(ft).unsupported_name() })
        }
    }
    let meta = fs::symlink_metadata(path).map_err(io_err("reading metadata of", path))?;
    Ok(24 + node(path, &meta)?)
}

/// Opens the regular file at `path` without following a symlink or
/// blocking on a FIFO, and checks that what was opened is what was listed.
fn open_regular(path: &Path) -> Result<(fs::File, fs::Metadata), NarFsError> {
    let meta = fs::symlink_metadata(path).map_err(io_err("reading metadata of", path))?;
    if !meta.is_file() {
        return Err(NarFsError::NotRegularFile { path: path.to_path_buf() });
    }
    // NOFOLLOW and NONBLOCK: a symlink or FIFO swapped in after the check
    // must neither be followed nor hang the open; the inode check below
    // then refuses it.
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
        fs::OpenOptions::new().read(true).custom_flags(flags.bits() as i32).open(path)
    }
    .map_err(io_err("opening", path))?;
    let opened = file.metadata().map_err(io_err("reading metadata of", path))?;
    if !opened.is_file() || (opened.dev(), opened.ino()) != (meta.dev(), meta.ino()) {
        return Err(NarFsError::Changed { path: path.to_path_buf() });
    }
    Ok((file, opened))
}

/// Hashes the bytes of the regular file at `path` (a `flat` fixed-output
/// hash, `nix-hash --flat`). Symlinks are not followed. Returns the hash and
/// the file size.
pub fn hash_file_flat(path: &Path, algo: HashAlgo) -> Result<(Hash, u64), NarFsError> {
    let (mut file, _) = open_regular(path)?;
    let mut hasher = Hasher::new(algo);
    let mut buf = vec![0u8; BUF_LEN];
    let mut size = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err("reading", path)(e)),
        };
        hasher.update(buf.get(..n).unwrap_or_default());
        size += n as u64;
    }
    Ok((hasher.finish(), size))
}

/// Both hashes of a regular file in one read: its NAR hash with `nar_algo`
/// (and the NAR size) and its flat hash with `flat_algo`. For anything else
/// (a directory, a symlink) only the NAR hash, and `None` for the flat one.
pub fn hash_path_and_flat(path: &Path, nar_algo: HashAlgo, flat_algo: HashAlgo) -> Result<NarAndFlat, NarFsError> {
    let is_file = fs::symlink_metadata(path).map_err(io_err("reading metadata of", path))?.is_file();
    if !is_file {
        let (nar_hash, nar_size) = hash_path(path, nar_algo)?;
        return Ok(NarAndFlat { nar_hash, nar_size, flat: None });
    }
    let (file, meta) = open_regular(path)?;
    let executable = meta.permissions().mode() & 0o100 != 0;
    let mut body = HashingReader { inner: file, hasher: Hasher::new(flat_algo), size: 0 };
    let mut nar = NarWriter::new(HashingSink { hasher: Hasher::new(nar_algo), size: 0 });
    nar.regular(executable, meta.len(), &mut body).map_err(dump_err(path))?;
    let sink = nar.finish().map_err(dump_err(path))?;
    let flat = (body.hasher.finish(), body.size);
    Ok(NarAndFlat { nar_hash: sink.hasher.finish(), nar_size: sink.size, flat: Some(flat) })
}

/// What [`hash_path_and_flat`] computes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NarAndFlat {
    /// The NAR hash.
    pub nar_hash: Hash,
    /// The NAR size.
    pub nar_size: u64,
    /// For a regular file: its flat hash and size.
    pub flat: Option<(Hash, u64)>,
}

/// Hashes what is read through it.
struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    size: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        self.size += n as u64;
        Ok(n)
    }
}

/// Counts and hashes what a [`NarWriter`] writes.
struct HashingSink {
    hasher: Hasher,
    size: u64,
}

impl Write for HashingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        self.size += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What a directory entry is, as listed (it may change before it is opened).
#[derive(Debug, Clone, Copy)]
enum Kind {
    Regular,
    Directory,
    Symlink,
    /// `socket`, `FIFO`, ...: cannot be stored.
    Unsupported(&'static str),
}

impl Kind {
    fn unsupported_name(self) -> &'static str {
        match self {
            Kind::Unsupported(name) => name,
            Kind::Regular | Kind::Directory | Kind::Symlink => "file of unknown type",
        }
    }

    fn of(file_type: fs::FileType) -> Kind {
        if file_type.is_symlink() {
            Kind::Symlink
        } else if file_type.is_file() {
            Kind::Regular
        } else if file_type.is_dir() {
            Kind::Directory
        } else if file_type.is_fifo() {
            Kind::Unsupported("FIFO")
        } else if file_type.is_socket() {
            Kind::Unsupported("socket")
        } else if file_type.is_char_device() {
            Kind::Unsupported("character device")
        } else if file_type.is_block_device() {
            Kind::Unsupported("block device")
        } else {
            Kind::Unsupported("file of unknown type")
        }
    }

    fn of_raw(file_type: rustix::fs::FileType) -> Kind {
        use rustix::fs::FileType as T;
        match file_type {
            T::Symlink => Kind::Symlink,
            T::RegularFile => Kind::Regular,
            T::Directory => Kind::Directory,
            T::Fifo => Kind::Unsupported("FIFO"),
            T::Socket => Kind::Unsupported("socket"),
            T::CharacterDevice => Kind::Unsupported("character device"),
            T::BlockDevice => Kind::Unsupported("block device"),
            _ => Kind::Unsupported("file of unknown type"),
        }
    }
}

/// An open directory being dumped: its path (for errors), its descriptor
/// (children are opened relative to it, so a parent swapped for a symlink
/// meanwhile is never followed) and the entries still to write.
struct Frame {
    path: PathBuf,
    dir: OwnedFd,
    entries: std::vec::IntoIter<(std::ffi::OsString, Kind)>,
}

/// Emits the tree at `path` as the next node of `nar` (the root, or the node
/// of an entry just started). Walks with an explicit stack.
pub fn dump_into<W: Write>(path: &Path, nar: &mut NarWriter<W>) -> Result<(), NarFsError> {
    let file_type = fs::symlink_metadata(path).map_err(io_err("reading metadata of", path))?.file_type();
    let mut stack: Vec<Frame> = Vec::new();
    if let Some(frame) = dump_node(rustix::fs::CWD, path.as_os_str(), path, Kind::of(file_type), nar)? {
        stack.push(frame);
    }
    while let Some(frame) = stack.last_mut() {
        match frame.entries.next() {
            Some((name, kind)) => {
                let child = frame.path.join(&name);
                nar.entry(name.as_bytes()).map_err(dump_err(&child))?;
                if let Some(next) = dump_node(frame.dir.as_fd(), &name, &child, kind, nar)? {
                    stack.push(next);
                }
            }
            None => {
                nar.end_directory().map_err(dump_err(&frame.path))?;
                stack.pop();
            }
        }
    }
    Ok(())
}

/// Maps the error of opening `path` without following a final symlink: a
/// symlink (or a non-directory) where the listing said otherwise means the
/// tree changed.
fn open_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(rustix::io::Errno) -> NarFsError + 'a {
    move |errno| match errno {
        rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => NarFsError::Changed { path: path.to_path_buf() },
        other => io_err(op, path)(other.into()),
    }
}

/// Writes the node `name` (relative to `at`, whose path is `path`'s parent)
/// that was listed as `kind`; for a directory, writes its start and returns
/// its frame. Never follows a symlink, even one swapped in after listing.
fn dump_node<W: Write>(
    at: BorrowedFd<'_>,
    name: &OsStr,
    path: &Path,
    kind: Kind,
    nar: &mut NarWriter<W>,
) -> Result<Option<Frame>, NarFsError> {
    use rustix::fs::{Mode, OFlags, openat};
    match kind {
        Kind::Symlink => {
            let target = rustix::fs::readlinkat(at, name, Vec::new()).map_err(|errno| match errno {
                rustix::io::Errno::INVAL => NarFsError::Changed { path: path.to_path_buf() },
                other => io_err("reading symlink", path)(other.into()),
            })?;
            nar.symlink(target.as_bytes()).map_err(dump_err(path))?;
            Ok(None)
        }
        Kind::Regular => {
            // NONBLOCK: a FIFO swapped in must not hang the open.
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
            let file = File::from(openat(at, name, flags, Mode::empty()).map_err(open_err("opening", path))?);
            let meta = file.metadata().map_err(io_err("reading metadata of", path))?;
            if !meta.is_file() {
                return Err(NarFsError::Changed { path: path.to_path_buf() });
            }
            let executable = meta.mode() & 0o100 != 0;
            nar.regular(executable, meta.len(), file).map_err(dump_err(path))?;
            Ok(None)
        }
        Kind::Directory => {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let dir = openat(at, name, flags, Mode::empty()).map_err(open_err("reading directory", path))?;
            let mut entries = Vec::new();
            let listing = rustix::fs::Dir::read_from(&dir).map_err(|e| io_err("reading directory", path)(e.into()))?;
            for entry in listing {
                let entry = entry.map_err(|e| io_err("reading directory", path)(e.into()))?;
                let child = OsStr::from_bytes(entry.file_name().to_bytes());
                if child == "." || child == ".." {
                    continue;
                }
                let kind = match entry.file_type() {
                    rustix::fs::FileType::Unknown => {
                        // Some file systems leave `d_type` unset.
                        let stat = rustix::fs::statat(&dir, child, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
                            .map_err(|e| io_err("reading metadata of", &path.join(child))(e.into()))?;
                        Kind::of_raw(rustix::fs::FileType::from_raw_mode(stat.st_mode))
                    }
                    known => Kind::of_raw(known),
                };
                entries.push((child.to_os_string(), kind));
            }
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            nar.begin_directory().map_err(dump_err(path))?;
            Ok(Some(Frame { path: path.to_path_buf(), dir, entries: entries.into_iter() }))
        }
        Kind::Unsupported(kind) => Err(NarFsError::UnsupportedType { path: path.to_path_buf(), kind }),
    }
}

/// Unpacks the NAR that is all of `input` at `dir` (see the module docs for
/// the safety rules). Returns the NAR's size and sha256. On error, nothing
/// created by this call remains.
///
/// Pass a [`io::BufReader`] with a large buffer (e.g. 256 KiB) for speed:
/// file contents are written in chunks of the input's buffer.
pub fn unpack<R: BufRead>(input: R, dir: &Path) -> Result<NarSummary, NarFsError> {
    // Drop trailing `/` and `.`: `lstat("link/")` follows the link, and so
    // would every path built from it.
    let dir: PathBuf = dir.components().collect();
    let dir = dir.as_path();
    let preexisting = match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(io_err("reading metadata of", dir)(e)),
        Ok(meta) if meta.is_dir() && is_empty_dir(dir)? => true,
        Ok(_) => return Err(NarFsError::TargetExists { path: dir.to_path_buf() }),
    };
    let mut created_root = false;
    // Registered before anything is created: a signal mid-unpack removes
    // what was made (a file the target names that appeared meanwhile
    // makes the unpack fail anyway).
    let kind = if preexisting { cleanup::Kind::Contents } else { cleanup::Kind::Tree };
    let guard = cleanup::register(dir, kind);
    let result = unpack_into(input, dir, preexisting, &mut created_root);
    if result.is_err() && (preexisting || created_root) {
        cleanup::remove(dir, kind);
    }
    drop(guard);
    result
}

fn is_empty_dir(dir: &Path) -> Result<bool, NarFsError> {
    Ok(fs::read_dir(dir).map_err(io_err("reading directory", dir))?.next().is_none())
}

/// The unpack proper; sets `created_root` once `dir` itself was created.
///
/// Every node is created relative to its parent directory's descriptor,
/// held open since that directory was made, so a directory swapped for a
/// symlink meanwhile is never written through.
fn unpack_into<R: BufRead>(
    input: R,
    dir: &Path,
    preexisting: bool,
    created_root: &mut bool,
) -> Result<NarSummary, NarFsError> {
    use rustix::fs::{Mode, OFlags, mkdirat, openat, symlinkat};
    let bad_nar = |source| NarFsError::Unpack { path: dir.to_path_buf(), source };
    let errno = |op, path: &Path| {
        let path = path.to_path_buf();
        move |e: rustix::io::Errno| NarFsError::Io { op, path, source: e.into() }
    };
    let open_dir = |at: BorrowedFd<'_>, name: &OsStr, path: &Path| {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        openat(at, name, flags, Mode::empty()).map_err(errno("opening directory", path))
    };
    let mut reader = NarReader::new(Tee::new(input, io::sink(), HashAlgo::Sha256));
    // Open directories: their path (for errors) and descriptor.
    let mut dirs: Vec<(PathBuf, OwnedFd)> = Vec::new();
    // The node to create next: its name in the innermost open directory
    // (the whole path, relative to the working directory, for the root).
    let mut name = dir.as_os_str().to_os_string();
    let mut next = dir.to_path_buf();
    while let Some(event) = reader.next().map_err(bad_nar)? {
        let at_root = dirs.is_empty();
        if at_root && preexisting && !matches!(event, NarEvent::DirectoryStart) {
            // An empty directory is there, but the NAR's root is no directory.
            return Err(NarFsError::TargetExists { path: dir.to_path_buf() });
        }
        let at = dirs.last().map_or(rustix::fs::CWD, |(_, fd)| fd.as_fd());
        match event {
            NarEvent::Regular { executable, .. } => {
                // EXCL also refuses an existing symlink.
                let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                let fd = openat(at, &name, flags, Mode::from_raw_mode(0o666)).map_err(errno("creating", &next))?;
                let mut file = File::from(fd);
                *created_root |= at_root;
                reader.copy_contents(&mut file).map_err(|source| match source {
                    NarError::Io { source, .. } => io_err("writing", &next)(source),
                    other => bad_nar(other),
                })?;
                if executable {
                    let mode = file.metadata().map_err(io_err("reading metadata of", &next))?.permissions().mode();
                    file.set_permissions(fs::Permissions::from_mode(mode | 0o111))
                        .map_err(io_err("setting permissions of", &next))?;
                }
            }
            NarEvent::Symlink { target } => {
                symlinkat(OsStr::from_bytes(target), at, &name).map_err(errno("creating symlink", &next))?;
                *created_root |= at_root;
            }
            NarEvent::DirectoryStart => {
                if !(preexisting && at_root) {
                    mkdirat(at, &name, Mode::from_raw_mode(0o777)).map_err(errno("creating directory", &next))?;
                    *created_root |= at_root;
                }
                let fd = open_dir(at, &name, &next)?;
                dirs.push((next.clone(), fd));
            }
            NarEvent::Entry { name: entry } => {
                // Names are validated by the reader: no `/`, `.`, `..` or NUL.
                name = OsStr::from_bytes(entry).to_os_string();
                next = dirs.last().map(|(d, _)| d.join(&name)).unwrap_or_default();
            }
            NarEvent::DirectoryEnd => {
                dirs.pop();
            }
        }
    }
    let tee = reader.finish().map_err(bad_nar)?;
    let (_, _, summary) = tee.finish().map_err(io_err("reading NAR for", dir))?;
    Ok(summary)
}

/// Best-effort removal of what an unpack created (errors are ignored: the
/// unpack error is the one to report).
#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use provenix_formats::nar::wire::WireProblem;
    use provenix_formats::nar::{self, NarProblem};
    use rstest::rstest;

    use super::*;

    #[test]
    fn one_read_gives_both_hashes_as_two_reads_do() {
        let dir = tempfile::tempdir().unwrap();
        for (name, mode) in [("plain", 0o644), ("tool", 0o755)] {
            let file = dir.path().join(name);
            fs::write(&file, vec![7u8; 300_001]).unwrap();
            fs::set_permissions(&file, fs::Permissions::from_mode(mode)).unwrap();
            let both = hash_path_and_flat(&file, HashAlgo::Sha256, HashAlgo::Sha512).unwrap();
            let (nar_hash, nar_size) = hash_path(&file, HashAlgo::Sha256).unwrap();
            assert_eq!((both.nar_hash, both.nar_size), (nar_hash, nar_size), "{name}");
            assert_eq!(both.flat, Some(hash_file_flat(&file, HashAlgo::Sha512).unwrap()), "{name}");
        }
        let both = hash_path_and_flat(dir.path(), HashAlgo::Sha256, HashAlgo::Sha256).unwrap();
        assert_eq!(both.nar_hash, hash_path(dir.path(), HashAlgo::Sha256).unwrap().0);
        assert_eq!(both.flat, None);
    }

    #[test]
    fn nar_size_from_metadata_is_the_dumped_size() {
        let dir = tmp();
        let root = dir.path().join("tree");
        fs::create_dir_all(root.join("a/deeper/still")).unwrap();
        fs::create_dir(root.join("empty")).unwrap();
        for (name, len, mode) in
            [("x", 0, 0o644), ("exe", 9, 0o755), ("a/eight888", 8, 0o644), ("a/deeper/f", 100_001, 0o600)]
        {
            write_mode(&root.join(name), &vec![b'z'; len], mode);
        }
        symlink("../x", root.join("a/link")).unwrap();
        symlink("a-target-of-17-by", root.join("l")).unwrap();
        for path in [root.clone(), root.join("x"), root.join("exe"), root.join("l"), root.join("empty")] {
            assert_eq!(nar_size(&path).unwrap(), dump(&path).len() as u64, "{}", path.display());
        }
        assert!(matches!(nar_size(&dir.path().join("missing")), Err(NarFsError::Io { .. })));
    }

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    fn dump(path: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        let size = dump_path(path, &mut out).unwrap();
        assert_eq!(size, out.len() as u64);
        out
    }

    fn write_mode(path: &Path, contents: &[u8], mode: u32) {
        fs::write(path, contents).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn is_executable_in_nar(nar: &[u8]) -> bool {
        nar.windows(10).any(|w| w == b"executable")
    }

    #[rstest]
    #[case::owner_only(0o100, true)]
    #[case::owner_rwx(0o744, true)]
    #[case::group_and_other_only(0o655, false)]
    #[case::group_only(0o610, false)]
    #[case::none(0o644, false)]
    fn executable_means_the_owner_execute_bit(#[case] mode: u32, #[case] executable: bool) {
        let t = tmp();
        let f = t.path().join("f");
        write_mode(&f, b"x", mode);
        assert_eq!(is_executable_in_nar(&dump(&f)), executable);
    }

    #[test]
    fn symlinks_are_stored_not_followed() {
        let t = tmp();
        let target = t.path().join("big");
        fs::write(&target, vec![b'x'; 1000]).unwrap();
        let link = t.path().join("link");
        symlink(&target, &link).unwrap();
        let nar = dump(&link);
        assert!(nar.len() < 200);
        let mut r = NarReader::new(&nar[..]);
        assert_eq!(r.next().unwrap(), Some(NarEvent::Symlink { target: target.as_os_str().as_bytes() }));
    }

    /// A directory entry listed as `kind` that is a symlink by the time it
    /// is opened (swapped meanwhile): dumping it must not follow the link.
    fn dump_swapped(kind: &str) -> Result<Option<Frame>, NarFsError> {
        let t = tmp();
        fs::create_dir(t.path().join("secret")).unwrap();
        fs::write(t.path().join("secret/key"), b"private").unwrap();
        let listed = if kind == "dir" { t.path().join("secret") } else { t.path().join("secret/key") };
        let kind = Kind::of(fs::symlink_metadata(&listed).unwrap().file_type());
        let link = t.path().join("link");
        symlink(&listed, &link).unwrap();
        let mut nar = NarWriter::new(Vec::new());
        dump_node(rustix::fs::CWD, link.as_os_str(), &link, kind, &mut nar)
    }

    #[rstest]
    #[case::directory("dir")]
    #[case::regular_file("file")]
    fn an_entry_swapped_for_a_symlink_is_not_followed(#[case] kind: &str) {
        let err = dump_swapped(kind).err().expect("followed a symlink");
        assert!(matches!(err, NarFsError::Changed { .. }), "{err}");
    }

    #[test]
    fn a_fifo_is_refused_with_its_path() {
        let t = tmp();
        fs::create_dir(t.path().join("d")).unwrap();
        let fifo = t.path().join("d/pipe");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(status.success());
        let err = dump_path(&t.path().join("d"), io::sink()).unwrap_err();
        assert_eq!(err.to_string(), format!("{}: FIFO cannot be stored in a NAR", fifo.display()));
    }

    #[test]
    fn hash_path_equals_the_hash_of_the_dump() {
        let t = tmp();
        fs::create_dir(t.path().join("d")).unwrap();
        write_mode(&t.path().join("d/x"), &vec![7u8; 300_000], 0o755);
        symlink("x", t.path().join("d/y")).unwrap();
        let nar = dump(&t.path().join("d"));
        for algo in HashAlgo::ALL {
            let (hash, size) = hash_path(&t.path().join("d"), algo).unwrap();
            assert_eq!(hash, Hash::compute(algo, &nar));
            assert_eq!(size, nar.len() as u64);
        }
    }

    #[test]
    fn flat_hash_is_the_hash_of_the_bytes() {
        let t = tmp();
        let f = t.path().join("f");
        fs::write(&f, b"hello\n").unwrap();
        let (hash, size) = hash_file_flat(&f, HashAlgo::Sha256).unwrap();
        assert_eq!(hash.to_base16(), "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
        assert_eq!(size, 6);
    }

    #[test]
    fn flat_hash_refuses_directories_symlinks_and_fifos() {
        let t = tmp();
        symlink("/etc/hostname", t.path().join("l")).unwrap();
        rustix::fs::mknodat(rustix::fs::CWD, t.path().join("fifo"), rustix::fs::FileType::Fifo, 0o600.into(), 0)
            .unwrap();
        for p in [t.path().to_path_buf(), t.path().join("l"), t.path().join("fifo")] {
            assert!(matches!(hash_file_flat(&p, HashAlgo::Sha256), Err(NarFsError::NotRegularFile { .. })));
        }
    }

    fn sample_tree(root: &Path) {
        fs::create_dir_all(root.join("a/b")).unwrap();
        write_mode(&root.join("a/b/run"), b"#!/bin/sh\n", 0o755);
        fs::write(root.join("a/data"), b"data").unwrap();
        symlink("../escape", root.join("a/link")).unwrap();
        fs::create_dir(root.join("empty")).unwrap();
    }

    #[test]
    fn unpack_then_dump_gives_the_same_nar() {
        let t = tmp();
        sample_tree(&t.path().join("src"));
        let nar = dump(&t.path().join("src"));
        let summary = unpack(&nar[..], &t.path().join("dst")).unwrap();
        assert_eq!(summary.size, nar.len() as u64);
        assert_eq!(summary.hash, Hash::compute(HashAlgo::Sha256, &nar));
        assert_eq!(dump(&t.path().join("dst")), nar);
        assert!(fs::symlink_metadata(t.path().join("dst/a/link")).unwrap().file_type().is_symlink());
        assert!(!t.path().join("escape").exists());
    }

    #[test]
    fn unpack_into_an_existing_empty_directory() {
        let t = tmp();
        sample_tree(&t.path().join("src"));
        let nar = dump(&t.path().join("src"));
        fs::create_dir(t.path().join("dst")).unwrap();
        unpack(&nar[..], &t.path().join("dst")).unwrap();
        assert_eq!(dump(&t.path().join("dst")), nar);
    }

    #[rstest]
    #[case::non_empty_dir("dir")]
    #[case::file("file")]
    #[case::symlink_to_empty_dir("link")]
    fn unpack_refuses_an_existing_target(#[case] kind: &str) {
        let t = tmp();
        let target = t.path().join("target");
        match kind {
            "dir" => {
                fs::create_dir(&target).unwrap();
                fs::write(target.join("keep"), b"").unwrap();
            }
            "file" => fs::write(&target, b"keep").unwrap(),
            "link" => {
                fs::create_dir(t.path().join("elsewhere")).unwrap();
                symlink(t.path().join("elsewhere"), &target).unwrap();
            }
            other => unreachable!("{other}"),
        }
        let nar = dump(&t.path().join(if kind == "link" { "elsewhere" } else { "target" }));
        let err = unpack(&nar[..], &target).unwrap_err();
        assert!(matches!(err, NarFsError::TargetExists { .. }), "{err}");
        assert!(fs::symlink_metadata(&target).is_ok(), "target removed");
    }

    #[test]
    fn unpack_refuses_a_symlink_target_named_with_a_trailing_slash() {
        // `lstat("link/")` follows the link, so the slash must not hide it.
        let t = tmp();
        sample_tree(&t.path().join("src"));
        let nar = dump(&t.path().join("src"));
        fs::create_dir(t.path().join("elsewhere")).unwrap();
        symlink(t.path().join("elsewhere"), t.path().join("link")).unwrap();
        let mut target = t.path().join("link").into_os_string();
        target.push("/");
        let err = unpack(&nar[..], Path::new(&target)).unwrap_err();
        assert!(matches!(err, NarFsError::TargetExists { .. }), "{err}");
        assert_eq!(fs::read_dir(t.path().join("elsewhere")).unwrap().count(), 0, "wrote through the link");
        assert!(fs::symlink_metadata(t.path().join("link")).unwrap().file_type().is_symlink());
    }

    /// Input that runs `action` once the reader has consumed `at` bytes,
    /// handing out one byte at a time so the moment is exact.
    struct ActAt<'a, F: FnMut()> {
        input: &'a [u8],
        pos: usize,
        at: usize,
        action: Option<F>,
    }

    impl<F: FnMut()> Read for ActAt<'_, F> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.fill_buf()?.len().min(buf.len());
            buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
            self.consume(n);
            Ok(n)
        }
    }

    impl<F: FnMut()> BufRead for ActAt<'_, F> {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            Ok(&self.input[self.pos..(self.pos + 1).min(self.input.len())])
        }
        fn consume(&mut self, amt: usize) {
            self.pos += amt;
            if self.pos >= self.at {
                if let Some(mut action) = self.action.take() {
                    action();
                }
            }
        }
    }

    #[test]
    fn unpack_does_not_follow_a_directory_swapped_for_a_symlink() {
        let t = tmp();
        fs::create_dir_all(t.path().join("src/d")).unwrap();
        fs::write(t.path().join("src/d/zzfile"), b"x").unwrap();
        let nar = dump(&t.path().join("src"));
        fs::create_dir(t.path().join("outside")).unwrap();
        let dst = t.path().join("dst");
        // Once `dst/d` exists and its entry is being read, swap it for a link.
        let at = nar.windows(6).position(|w| w == b"zzfile").unwrap();
        let swap = || {
            fs::rename(dst.join("d"), t.path().join("moved")).unwrap();
            symlink(t.path().join("outside"), dst.join("d")).unwrap();
        };
        let input = ActAt { input: &nar, pos: 0, at, action: Some(swap) };
        let _ = unpack(input, &dst);
        assert_eq!(fs::read_dir(t.path().join("outside")).unwrap().count(), 0, "wrote through the link");
    }

    #[test]
    fn unpack_refuses_a_file_root_over_an_empty_directory() {
        let t = tmp();
        fs::write(t.path().join("f"), b"x").unwrap();
        let nar = dump(&t.path().join("f"));
        fs::create_dir(t.path().join("dst")).unwrap();
        assert!(matches!(unpack(&nar[..], &t.path().join("dst")), Err(NarFsError::TargetExists { .. })));
        assert!(t.path().join("dst").is_dir());
    }

    #[rstest]
    #[case::fresh_target(false)]
    #[case::existing_empty_target(true)]
    fn a_failed_unpack_leaves_nothing_behind(#[case] existing: bool) {
        let t = tmp();
        sample_tree(&t.path().join("src"));
        let mut nar = dump(&t.path().join("src"));
        // Cut the last bytes: everything but the closing tokens gets created first.
        nar.truncate(nar.len() - 20);
        let dst = t.path().join("dst");
        if existing {
            fs::create_dir(&dst).unwrap();
        }
        let err = unpack(&nar[..], &dst).unwrap_err();
        assert!(
            matches!(&err, NarFsError::Unpack { source, .. } if matches!(source.problem(), Some(NarProblem::Wire(WireProblem::Truncated { .. })))),
            "{err}"
        );
        if existing {
            assert!(is_empty_dir(&dst).unwrap());
        } else {
            assert!(fs::symlink_metadata(&dst).is_err());
        }
    }

    #[test]
    fn unpack_rejects_trailing_bytes_and_cleans_up() {
        let t = tmp();
        fs::write(t.path().join("f"), b"x").unwrap();
        let mut nar = dump(&t.path().join("f"));
        nar.extend_from_slice(&[0; 8]);
        let err = unpack(&nar[..], &t.path().join("dst")).unwrap_err();
        assert!(err.source_problem_is(|p| matches!(p, NarProblem::TrailingBytes)), "{err}");
        assert!(!t.path().join("dst").exists());
    }

    #[test]
    fn unpack_of_a_name_with_dot_dot_writes_nothing_outside() {
        let t = tmp();
        let mut w = nar::NarWriter::new(Vec::new());
        w.begin_directory().unwrap();
        w.entry(b"ok").unwrap();
        w.regular(false, 1, &b"x"[..]).unwrap();
        w.end_directory().unwrap();
        let good = w.finish().unwrap();
        // Same length names: swap "ok" for "..".
        let pos = good.windows(2).position(|w| w == b"ok").unwrap();
        let mut bad = good.clone();
        bad[pos..pos + 2].copy_from_slice(b"..");
        let dst = t.path().join("a/dst");
        fs::create_dir(t.path().join("a")).unwrap();
        assert!(unpack(&bad[..], &dst).is_err());
        assert_eq!(fs::read_dir(t.path().join("a")).unwrap().count(), 0);
    }

    impl NarFsError {
        fn source_problem_is(&self, f: impl Fn(&NarProblem) -> bool) -> bool {
            match self {
                NarFsError::Unpack { source, .. } | NarFsError::Dump { source, .. } => source.problem().is_some_and(f),
                _ => false,
            }
        }
    }
}
