//! What a user names as a root, resolved to `.drv` paths.
//!
//! A root argument is, tried in this order:
//!
//! 1. a flake reference: it contains `#`, starts with a flake URL scheme
//!    (`path:`, `git+…:`, `github:`, `gitlab:`, `sourcehut:`, `tarball+…:`,
//!    `file+…:`, `flake:`), or is a directory holding `flake.nix`; evaluated
//!    with `nix path-info --derivation`;
//! 2. a Nix file (an existing file, or a directory holding `default.nix`):
//!    evaluated with `nix-instantiate`, with the `-A` attributes and the
//!    `--arg`/`--argstr` values if any;
//! 3. a store path, given logically (`/nix/store/…`), physically under the
//!    store root, or through symlinks such as `result` (followed one link at a
//!    time, at most [`MAX_LINKS`], and only until the target is in the store,
//!    because with a store root the target names a logical path that does not
//!    exist on this machine). A file inside a store path stands for the store
//!    path. A `.drv` is its own root; an output path's deriver comes from the
//!    lookup the caller gives (the Nix database, or `nix-store -qd`).
//!
//! A file that is plainly not a Nix expression (a provenix bundle, an SBOM, an
//! attestation, a NAR, an archive, any binary) is named as what it is and
//! never handed to `nix-instantiate` ([`sniff`]). A path that is inside a
//! store under some root other than `--store`'s is refused with the
//! `--store` that reads it, and a missing store path that is in the host's
//! store says so.

use std::path::{Path, PathBuf};

use provenix_formats::store_path::StorePath;
use thiserror::Error;

use crate::nix::{Nix, NixArg, NixError};
use crate::store::Store;

/// Symlinks followed from a root argument before giving up.
pub const MAX_LINKS: usize = 40;

/// Errors from resolving roots.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RootError {
    /// Evaluating a Nix file or flake failed.
    #[error("evaluating root `{arg}`")]
    Eval {
        /// The argument.
        arg: String,
        /// Why.
        #[source]
        source: NixError,
    },
    /// Evaluation gave no derivation.
    #[error("root `{arg}` evaluates to no derivation")]
    Empty {
        /// The argument.
        arg: String,
    },
    /// The argument is none of the accepted forms.
    #[error("root `{arg}` is not a .drv or output path in the store {store}, a Nix file, or a flake reference")]
    NotARoot {
        /// The argument.
        arg: String,
        /// The store directory.
        store: String,
    },
    /// Following symlinks failed or went on too long.
    #[error("following symlinks from root `{arg}`")]
    Link {
        /// The argument.
        arg: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The path is not in the store (not on disk under the store root).
    #[error("root `{arg}`: {} does not exist{hint}", physical.display())]
    Missing {
        /// The argument.
        arg: String,
        /// Where it was looked for.
        physical: PathBuf,
        /// Where it is instead, as advice (`; …`), or empty.
        hint: String,
    },
    /// A file that is not a Nix expression, named as what it is.
    #[error("root `{arg}` is {what}, not a Nix file, store path or flake{advice}")]
    NotNix {
        /// The argument.
        arg: String,
        /// What it is (`a provenix bundle`, `a CycloneDX SBOM`, …).
        what: &'static str,
        /// What to do instead (`: …`), or empty.
        advice: &'static str,
    },
    /// A path inside a store under another root than the one being read.
    #[error("root `{arg}` is in the store under {}; read that store with `--store {}`", root.display(), root.display())]
    OtherStoreRoot {
        /// The argument.
        arg: String,
        /// The root of the store it is in.
        root: PathBuf,
    },
    /// No deriver is known for an output path.
    #[error(
        "root `{arg}`: no deriver is known for {path} (was it added or substituted without one?); name its .drv instead"
    )]
    NoDeriver {
        /// The argument.
        arg: String,
        /// The output path.
        path: String,
    },
    /// The deriver lookup failed.
    #[error("root `{arg}`: looking up the deriver of {path}")]
    Deriver {
        /// The argument.
        arg: String,
        /// The output path.
        path: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The deriver recorded for an output is not in the store.
    #[error("root `{arg}`: the deriver {deriver} of {path} is not in the store ({} is missing)", physical.display())]
    DeriverMissing {
        /// The argument.
        arg: String,
        /// The output path.
        path: String,
        /// The deriver.
        deriver: String,
        /// Where it was looked for.
        physical: PathBuf,
    },
}

/// How a root was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootSource {
    /// A `.drv` path.
    Derivation,
    /// An output path, with its deriver from the lookup.
    Output(StorePath),
    /// A Nix file, evaluated.
    NixFile,
    /// A flake reference, evaluated.
    Flake,
}

/// One resolved root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// The argument as given.
    pub arg: String,
    /// How it was given.
    pub source: RootSource,
    /// The `.drv` path.
    pub drv: StorePath,
}

/// Options for evaluating roots.
#[derive(Debug, Clone, Default)]
pub struct RootOptions {
    /// `-A` attributes for Nix files.
    pub attrs: Vec<String>,
    /// `--arg`/`--argstr` values for Nix files.
    pub args: Vec<NixArg>,
}

/// A deriver lookup: `Ok(None)` when none is known.
pub type DeriverLookup<'a> =
    dyn Fn(&StorePath) -> Result<Option<StorePath>, Box<dyn std::error::Error + Send + Sync>> + 'a;

/// Resolves each argument to its `.drv` paths, in order.
pub fn resolve(
    store: &Store,
    args: &[String],
    options: &RootOptions,
    deriver: &DeriverLookup<'_>,
) -> Result<Vec<Root>, RootError> {
    let mut roots = Vec::new();
    for arg in args {
        roots.extend(resolve_one(store, arg, options, deriver)?);
    }
    Ok(roots)
}

fn is_flake_ref(arg: &str) -> bool {
    const SCHEMES: [&str; 8] = ["path:", "git+", "github:", "gitlab:", "sourcehut:", "tarball+", "file+", "flake:"];
    arg.contains('#') || SCHEMES.iter().any(|s| arg.starts_with(s))
}

fn resolve_one(
    store: &Store,
    arg: &str,
    options: &RootOptions,
    deriver: &DeriverLookup<'_>,
) -> Result<Vec<Root>, RootError> {
    let evaluated = |source: RootSource, result: Result<Vec<StorePath>, NixError>| {
        let drvs = result.map_err(|source| RootError::Eval { arg: arg.to_owned(), source })?;
        if drvs.is_empty() {
            return Err(RootError::Empty { arg: arg.to_owned() });
        }
        Ok(drvs.into_iter().map(|drv| Root { arg: arg.to_owned(), source: source.clone(), drv }).collect())
    };
    let path = Path::new(arg);
    // Relative paths (`./result`, `root/nix/store/…`) compare as absolute ones.
    let absolute = lexically_absolute(path).map_or_else(|| arg.to_owned(), |p| p.to_string_lossy().into_owned());
    // Symlinks first: a `result` link into the store is a store path even if
    // the tree it points to has a `default.nix` or `flake.nix`.
    let target = follow_links(store, &absolute)?;
    let store_path = match store.parse_user_path_prefix(&target) {
        Some(store_path) => store_path,
        None => {
            let exists = std::fs::symlink_metadata(path).is_ok();
            // `#` marks a flake output only in a name that is not a file.
            if (!exists && is_flake_ref(arg)) || Path::new(&target).join("flake.nix").is_file() {
                return evaluated(RootSource::Flake, Nix::new(store).flake_derivations(arg));
            }
            let target = Path::new(&target);
            if let Some(root) = other_store_root(store, target) {
                return Err(RootError::OtherStoreRoot { arg: arg.to_owned(), root });
            }
            if target.is_file()
                && let Some((what, advice)) = sniff(target)
            {
                return Err(RootError::NotNix { arg: arg.to_owned(), what, advice });
            }
            if target.is_file() || target.join("default.nix").is_file() {
                return evaluated(
                    RootSource::NixFile,
                    Nix::new(store).instantiate(path, &options.attrs, &options.args),
                );
            }
            return Err(RootError::NotARoot { arg: arg.to_owned(), store: store.dir().to_string() });
        }
    };
    let physical = store.physical(&store_path);
    if std::fs::symlink_metadata(&physical).is_err() {
        return Err(RootError::Missing { arg: arg.to_owned(), physical, hint: missing_hint(store, &store_path) });
    }
    if store_path.is_derivation() {
        return Ok(vec![Root { arg: arg.to_owned(), source: RootSource::Derivation, drv: store_path }]);
    }
    let shown = store.dir().display(&store_path);
    let drv = deriver(&store_path)
        .map_err(|source| RootError::Deriver { arg: arg.to_owned(), path: shown.clone(), source })?
        .ok_or_else(|| RootError::NoDeriver { arg: arg.to_owned(), path: shown.clone() })?;
    let drv_physical = store.physical(&drv);
    if !drv_physical.is_file() {
        return Err(RootError::DeriverMissing {
            arg: arg.to_owned(),
            path: shown,
            deriver: store.dir().display(&drv),
            physical: drv_physical,
        });
    }
    Ok(vec![Root { arg: arg.to_owned(), source: RootSource::Output(store_path), drv }])
}

/// For a missing store path: where it is instead. Under `--store ROOT`, the host's own store;
/// without, a store root at or above the working directory (`DIR/nix/store/…`), the likely
/// place of a copied or chroot store.
fn missing_hint(store: &Store, path: &StorePath) -> String {
    match store.root() {
        Some(root) => {
            let host = Path::new(store.dir().as_str()).join(path.to_string());
            if std::fs::symlink_metadata(&host).is_ok() {
                format!("; it is in this machine's store {}: leave out `--store {}`", store.dir(), root.display())
            } else {
                String::new()
            }
        }
        None => {
            let Ok(cwd) = std::env::current_dir() else { return String::new() };
            let found = cwd.ancestors().find(|dir| {
                std::fs::symlink_metadata(dir.join("nix/store").join(path.to_string())).is_ok()
                    && *dir != Path::new("/")
            });
            match found {
                Some(dir) => format!(
                    "; it is in the store under {}: read that store with `--store {}`",
                    dir.display(),
                    dir.display()
                ),
                None => String::new(),
            }
        }
    }
}

/// The root of another store that `target` (absolute) lies in: `R` when `target` is
/// `R/nix/store/HASH-NAME[/…]` and `R` is not the root being read.
fn other_store_root(store: &Store, target: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let components: Vec<Component<'_>> = target.components().collect();
    let at = components.windows(3).position(|w| {
        matches!(w, [Component::Normal(a), Component::Normal(b), Component::Normal(name)]
            if *a == "nix" && *b == "store" && store.dir().parse_path(&format!("{}/{}", store.dir(), name.to_string_lossy())).is_ok())
    })?;
    let root: PathBuf = components.get(..at)?.iter().collect();
    let is_host = root == Path::new("/") || root.as_os_str().is_empty();
    (!is_host && store.root() != Some(root.as_path())).then_some(root)
}

/// Bytes [`sniff`] reads from the start of a file.
pub const SNIFF_LEN: usize = 64 << 10;

/// What a file is when it is plainly not a Nix expression, with advice, from its first bytes:
/// `None` for anything that may be Nix text.
pub fn sniff(file: &Path) -> Option<(&'static str, &'static str)> {
    use std::io::Read as _;
    let mut head = Vec::with_capacity(SNIFF_LEN);
    std::fs::File::open(file).ok()?.take(SNIFF_LEN as u64).read_to_end(&mut head).ok()?;
    sniff_bytes(&head)
}

/// Whether `head` starts like a JSON object: `{`, then a string key followed by `:`. A Nix
/// function's or attribute set's first key is mostly a name (`{ pkgs ? … }:`), and a quoted one
/// is followed by `=` or `.` (`{ "runs" = 1; }`), never by `:`.
fn json_object_start(head: &[u8]) -> bool {
    let Some(rest) = head.trim_ascii_start().strip_prefix(b"{") else { return false };
    let Some(key) = rest.trim_ascii_start().strip_prefix(b"\"") else { return false };
    let mut escaped = false;
    let Some(end) = key.iter().position(|&b| {
        let close = b == b'"' && !escaped;
        escaped = b == b'\\' && !escaped;
        close
    }) else {
        return false;
    };
    key.get(end + 1..).is_some_and(|after| after.trim_ascii_start().starts_with(b":"))
}

/// [`sniff`] of a file's first bytes (at most [`SNIFF_LEN`] of them are looked at by `sniff`).
/// Text that may be Nix is never named: each magic it looks for either holds a byte Nix text
/// cannot (NUL, a control character, invalid UTF-8) or is anchored where Nix text cannot match it
/// (a JSON object's first key, a bzip2 block header).
pub fn sniff_bytes(head: &[u8]) -> Option<(&'static str, &'static str)> {
    const NAR_MAGIC: &[u8] = b"\x0d\0\0\0\0\0\0\0nix-archive-1";
    // A tar header is 512 bytes padded with NULs: `ustar` at 257 in text is not one.
    let ustar = head.get(257..262) == Some(b"ustar".as_slice()) && head.iter().take(512).any(|&b| b == 0);
    let entry_name = head.get(..100).map(|n| n.split(|&b| b == 0).next().unwrap_or_default());
    if ustar && entry_name == Some(b"store.export".as_slice()) {
        return Some((
            "a provenix bundle",
            ": give it to `provenix rebuild`, or as the only root of `sources`, `sbom` or `vulns`",
        ));
    }
    if ustar {
        return Some(("a tar archive", ""));
    }
    if head.starts_with(NAR_MAGIC) {
        return Some(("a NAR file", ": check it with `provenix nar check`, or unpack it with `provenix nar unpack`"));
    }
    let magics: [(&[u8], &'static str); 4] = [
        (b"\x1f\x8b", "a gzip-compressed file"),
        (b"\xfd7zXZ\0", "an xz-compressed file"),
        (b"\x28\xb5\x2f\xfd", "a zstd-compressed file"),
        (b"PK\x03\x04", "a zip archive"),
    ];
    if let Some((_, what)) = magics.iter().find(|(m, _)| head.starts_with(m)) {
        return Some((what, ""));
    }
    // `BZh`, the block size 1-9, then a block's magic (pi) or the end of the stream (sqrt pi):
    // `BZh` alone also starts a Nix identifier.
    if let Some([b'B', b'Z', b'h', b'1'..=b'9', rest @ ..]) = head.get(..10)
        && (rest == b"1AY&SY" || rest == b"\x17rE8P\x90")
    {
        return Some(("a bzip2-compressed file", ""));
    }
    if head.starts_with(b"Derive(") {
        return Some(("a derivation outside the store", ": name its path in the store (`/nix/store/…drv`)"));
    }
    if json_object_start(head) {
        let has = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
        let json: [(&[u8], &'static str, &'static str); 5] = [
            (b"\"bomFormat\"", "a CycloneDX SBOM", ": name the roots it describes"),
            (b"\"spdxVersion\"", "an SPDX SBOM", ": name the roots it describes"),
            (b"\"payloadType\"", "a DSSE envelope (an attestation)", ": check it with `provenix attest verify`"),
            (b"\"provenix-bundle\"", "a provenix bundle manifest", ": name the roots it lists"),
            (b"\"runs\"", "a SARIF log", ""),
        ];
        let found = json.iter().find(|(key, what, _)| has(key) && (!what.contains("SARIF") || has(b"sarif")));
        if let Some((_, what, advice)) = found {
            return Some((what, advice));
        }
    }
    // Nix text is UTF-8 without NUL bytes.
    // (A character cut off at the end of the bytes read is not an error.)
    if head.contains(&0) || std::str::from_utf8(head).is_err_and(|e| e.error_len().is_some()) {
        return Some(("a binary file", ""));
    }
    None
}

/// Follows symlinks from `arg` until the path names something in the store.
fn follow_links(store: &Store, arg: &str) -> Result<String, RootError> {
    // `arg` is absolute, so relative link targets resolve against its parent.
    let mut at = PathBuf::from(arg);
    for _ in 0..MAX_LINKS {
        if store.parse_user_path_prefix(&at.to_string_lossy()).is_some() {
            return Ok(at.to_string_lossy().into_owned());
        }
        match std::fs::read_link(&at) {
            Ok(target) => {
                let joined = match at.parent() {
                    Some(parent) if target.is_relative() => parent.join(target),
                    _ => target,
                };
                // `../nix/store/…` targets: drop the `..` so the prefix test sees the store.
                at = lexically_absolute(&joined).unwrap_or(joined);
            }
            // Not a symlink (or absent): what it is decides the error.
            Err(_) => return Ok(at.to_string_lossy().into_owned()),
        }
    }
    Err(RootError::Link {
        arg: arg.to_owned(),
        source: std::io::Error::other(format!("more than {MAX_LINKS} symlinks")),
    })
}

/// `path` made absolute against the working directory, with `.` and `..`
/// removed lexically (as a shell's `cd -L` would), or `None` without a
/// working directory.
fn lexically_absolute(path: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let absolute = std::path::absolute(path).ok()?;
    let mut out = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

/// A deriver lookup that asks `nix-store -qd`.
pub fn nix_deriver(
    store: &Store,
) -> impl Fn(&StorePath) -> Result<Option<StorePath>, Box<dyn std::error::Error + Send + Sync>> {
    let nix = Nix::new(store);
    move |path| nix.deriver(path).map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
}

#[cfg(test)]
mod tests {
    use provenix_formats::store_path::StoreDir;

    use super::*;

    const DRV: &str = "7h7qgvs4kgzsn8a6rb273saxyqh4jxlz-hello.drv";
    const OUT: &str = "1z64zrf8b84zyk3sc5h08if9na3ln0j4-hello";

    fn store() -> (tempfile::TempDir, Store) {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("nix/store");
        std::fs::create_dir_all(dir.join(OUT).join("bin")).unwrap();
        std::fs::write(dir.join(DRV), "Derive(").unwrap();
        let store = Store::new(StoreDir::default(), Some(root.path().to_owned()));
        (root, store)
    }

    fn lookup(path: &StorePath) -> Result<Option<StorePath>, Box<dyn std::error::Error + Send + Sync>> {
        Ok((path.to_string() == OUT).then(|| StorePath::from_base_name(DRV).unwrap()))
    }

    fn no_deriver(_: &StorePath) -> Result<Option<StorePath>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(None)
    }

    #[test]
    fn a_drv_is_its_own_root_and_an_output_goes_through_its_deriver() {
        let (root, store) = store();
        let opts = RootOptions::default();
        let drv = resolve(&store, &[format!("/nix/store/{DRV}")], &opts, &lookup).unwrap();
        assert_eq!(drv[0].source, RootSource::Derivation);
        let file_inside = root.path().join("nix/store").join(OUT).join("bin");
        let out = resolve(&store, &[file_inside.to_string_lossy().into_owned()], &opts, &lookup).unwrap();
        assert_eq!(out[0].drv.to_string(), DRV);
        assert!(matches!(&out[0].source, RootSource::Output(p) if p.to_string() == OUT));
    }

    #[test]
    fn a_result_symlink_to_a_logical_path_is_followed() {
        let (root, store) = store();
        let link = root.path().join("result");
        std::os::unix::fs::symlink(format!("/nix/store/{OUT}"), &link).unwrap();
        let roots = resolve(&store, &[link.to_string_lossy().into_owned()], &RootOptions::default(), &lookup).unwrap();
        assert_eq!(roots[0].drv.to_string(), DRV);
    }

    #[test]
    fn errors_name_the_argument() {
        let (root, store) = store();
        let opts = RootOptions::default();
        let missing = format!("/nix/store/{}", OUT.replace("hello", "gone"));
        let err = resolve(&store, std::slice::from_ref(&missing), &opts, &lookup).unwrap_err();
        assert!(matches!(err, RootError::Missing { .. }) && err.to_string().contains(&missing), "{err}");
        let out = format!("/nix/store/{OUT}");
        let err = resolve(&store, std::slice::from_ref(&out), &opts, &no_deriver).unwrap_err();
        assert!(matches!(err, RootError::NoDeriver { .. }) && err.to_string().contains(&out), "{err}");
        let err = resolve(&store, &["/etc/hostname-not-a-root".to_owned()], &opts, &lookup).unwrap_err();
        assert!(matches!(err, RootError::NotARoot { .. }), "{err}");
        let a = root.path().join("a");
        let b = root.path().join("b");
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        let err = resolve(&store, &[a.to_string_lossy().into_owned()], &opts, &lookup).unwrap_err();
        assert!(matches!(err, RootError::Link { .. }), "{err}");
    }

    #[test]
    fn a_relative_physical_path_is_a_store_path_not_a_nix_file() {
        let (root, store) = store();
        let cwd = std::env::current_dir().unwrap();
        let up = "../".repeat(cwd.components().count() - 1);
        let physical = root.path().join("nix/store").join(DRV);
        let relative = format!("{up}{}", physical.to_string_lossy().trim_start_matches('/'));
        assert!(Path::new(&relative).is_relative() && Path::new(&relative).is_file());
        let roots = resolve(&store, &[relative], &RootOptions::default(), &lookup).unwrap();
        assert_eq!(roots[0].source, RootSource::Derivation);
    }

    #[test]
    fn a_relative_link_with_dotdot_into_the_store_root_is_followed() {
        let (root, store) = store();
        std::fs::create_dir_all(root.path().join("sub")).unwrap();
        let link = root.path().join("sub/result");
        std::os::unix::fs::symlink(format!("../nix/store/{OUT}"), &link).unwrap();
        let roots = resolve(&store, &[link.to_string_lossy().into_owned()], &RootOptions::default(), &lookup).unwrap();
        assert_eq!(roots[0].drv.to_string(), DRV);
    }

    #[test]
    fn a_sibling_of_the_store_directory_is_not_in_the_store() {
        let (root, store) = store();
        let sibling = root.path().join("nix/storage");
        std::fs::create_dir_all(&sibling).unwrap();
        let err =
            resolve(&store, &[sibling.to_string_lossy().into_owned()], &RootOptions::default(), &lookup).unwrap_err();
        assert!(matches!(err, RootError::NotARoot { .. }), "{err}");
    }

    #[test]
    fn files_that_are_not_nix_are_named_and_nix_text_is_not() {
        let mut tar = vec![0u8; 512];
        tar[..12].copy_from_slice(b"store.export");
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(sniff_bytes(&tar).unwrap().0, "a provenix bundle");
        tar[..12].copy_from_slice(b"other.export");
        assert_eq!(sniff_bytes(&tar).unwrap().0, "a tar archive");
        let cases: [(&[u8], &str); 8] = [
            (b"{\n  \"bomFormat\": \"CycloneDX\", \"specVersion\": \"1.6\" }", "a CycloneDX SBOM"),
            (b"{\"spdxVersion\":\"SPDX-2.3\"}", "an SPDX SBOM"),
            (b"{\"payloadType\":\"application/vnd.in-toto+json\"}", "a DSSE envelope (an attestation)"),
            (b"{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\"runs\":[]}", "a SARIF log"),
            (b"\x0d\0\0\0\0\0\0\0nix-archive-1\0\0\0", "a NAR file"),
            (b"\x1f\x8b\x08\0", "a gzip-compressed file"),
            (b"Derive([(\"out\",", "a derivation outside the store"),
            (b"\x7fELF\x02\x01\x01\0", "a binary file"),
        ];
        for (bytes, what) in cases {
            assert_eq!(sniff_bytes(bytes).map(|(w, _)| w), Some(what));
        }
        for nix in [
            b"{ pkgs ? import <nixpkgs> {} }: pkgs.hello\n".as_slice(),
            b"{ \"runs\" = 1; }",
            b"{ \"bomFormat\" = 1; }",
            b"{ \"runs\" = [ ]; x = \"sarif\"; }",
            b"{ runs = 1; x = \"sarif\"; y = \"bomFormat\"; }",
            b"derivation { name = \"caf\xc3\xa9\"; }",
            b"BZh: 1",
            b"BZhelper",
            b"",
        ] {
            assert_eq!(sniff_bytes(nix), None, "{}", String::from_utf8_lossy(nix));
        }
        // A character cut in two by the end of what was read is still text.
        assert_eq!(sniff_bytes(b"# caf\xc3"), None);
        // Found by the root_sniff fuzz body's rule: `ustar` at byte 257 of text is no tar.
        let mut text = b"# ".to_vec();
        text.resize(257, b'x');
        text.extend_from_slice(b"ustar formats\n1\n");
        assert_eq!(sniff_bytes(&text), None);
        assert_eq!(sniff_bytes(b"BZh91AY&SY\x01\x02").unwrap().0, "a bzip2-compressed file");
        assert_eq!(sniff_bytes(b"BZh9\x17rE8P\x90\0\0\0\0").unwrap().0, "a bzip2-compressed file");
    }

    #[test]
    fn a_store_path_under_another_root_names_that_root() {
        let (root, _) = store();
        let host = Store::new(StoreDir::default(), None);
        let inside = root.path().join("nix/store").join(OUT).join("bin");
        assert_eq!(other_store_root(&host, &inside), Some(root.path().to_owned()));
        let err =
            resolve(&host, &[inside.to_string_lossy().into_owned()], &RootOptions::default(), &lookup).unwrap_err();
        assert!(matches!(err, RootError::OtherStoreRoot { .. }), "{err}");
        assert!(err.to_string().contains(&format!("--store {}", root.path().display())), "{err}");
        // Not a store path name: no hint.
        assert_eq!(other_store_root(&host, &root.path().join("nix/store/not-a-hash")), None);
    }

    #[test]
    fn a_path_missing_under_the_root_but_in_the_logical_store_says_so() {
        let host = tempfile::tempdir().unwrap();
        let logical = host.path().join("store");
        std::fs::create_dir_all(logical.join(OUT)).unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("nix/store")).unwrap();
        let dir = StoreDir::new(logical.to_str().unwrap()).unwrap();
        let store = Store::new(dir, Some(root.path().to_owned()));
        let arg = format!("{}/{OUT}", logical.display());
        let err = resolve(&store, &[arg], &RootOptions::default(), &lookup).unwrap_err().to_string();
        assert!(err.contains(&format!("leave out `--store {}`", root.path().display())), "{err}");
    }

    #[test]
    fn recognises_flake_references() {
        assert!(is_flake_ref("github:NixOS/nixpkgs#hello"));
        assert!(is_flake_ref(".#hello"));
        assert!(is_flake_ref("path:/tmp/x"));
        assert!(!is_flake_ref("./default.nix"));
        assert!(!is_flake_ref("/nix/store/x"));
    }
}
