//! `mirror://` URLs: nixpkgs' mirror sites and how a `mirror://` URL expands.
//!
//! nixpkgs' `fetchurl` accepts URLs of the form `mirror://SITE/PATH`. At
//! build time its builder replaces each one with `BASE + PATH` for every
//! base URL listed for `SITE` in `pkgs/build-support/fetchurl/mirrors.nix`,
//! tried in order. The `.drv` keeps the `mirror://` form, so an inventory of
//! sources must expand it itself to say where the bytes really come from.
//!
//! [`MirrorTable::builtin`] holds the sites nixpkgs defines, each with its
//! main two to four base URLs (the canonical host first). nixpkgs has no
//! `github` site, so neither does this table. A user file extends or
//! overrides it ([`MirrorTable::parse`], [`MirrorTable::load`],
//! [`MirrorTable::extend`]).
//!
//! # Expansion ([`MirrorTable::resolve`])
//!
//! - `mirror://SITE/PATH` splits at the first `/` after `mirror://`; `PATH`
//!   is everything after it, query and fragment included, and may be empty.
//! - Each base and `PATH` are joined with exactly one `/` between them.
//!   nixpkgs concatenates them as they are, so a base listed without its
//!   trailing slash would glue the path onto the last directory name; we
//!   treat that as the typo it is.
//! - Site names are case-sensitive (`ibiblioPubLinux`), as Nix attribute
//!   names are.
//! - A site the table does not know is reported as
//!   [`Resolved::UnknownMirror`], never dropped; nixpkgs' builder only warns
//!   and goes on to the other URLs.
//! - Any other URL stays as it is ([`Resolved::Plain`]).
//!
//! # Mirror file format
//!
//! UTF-8 text, one site per line:
//!
//! ```text
//! # comment lines start with `#`; blank lines are ignored
//! gnu      https://ftp.gnu.org/gnu/ https://mirror.example.org/gnu/
//! internal https://artifacts.example.com/mirror/   # a comment after the URLs
//! ```
//!
//! - Fields are separated by spaces or tabs. The first is the site name
//!   (letters, digits, `_`, `-`, `.`), the rest are one or more base URLs
//!   (`scheme://...`, where the scheme is letters, digits, `+`, `-`, `.`).
//! - A field that starts with `#` begins a comment that runs to the end of
//!   the line.
//! - A base URL may not itself be a `mirror://` URL (no recursion).
//! - A site may appear only once per file. An entry for a site the table
//!   already has replaces that site's whole list when the file's table is
//!   [`extend`](MirrorTable::extend)ed into it.
//!
//! Errors name the line (1-based) and, from [`MirrorTable::load`], the file.
//! A file is at most [`MAX_MIRROR_FILE_LEN`] bytes.
//!
//! # Cost
//!
//! Sites live in a sorted map; resolving one URL is one lookup plus one
//! string per base URL.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Largest mirror file [`MirrorTable::load`] reads, in bytes (1 MiB). The
/// nixpkgs list is about 12 KiB.
pub const MAX_MIRROR_FILE_LEN: u64 = 1024 * 1024;

/// The URL scheme that names a mirror site.
pub const MIRROR_SCHEME: &str = "mirror://";

/// nixpkgs' mirror sites (from `pkgs/build-support/fetchurl/mirrors.nix`),
/// with the main base URLs of each, canonical host first. Sorted by name.
const BUILTIN: &[(&str, &[&str])] = &[
    (
        "alsa",
        &[
            "https://www.alsa-project.org/files/pub/",
            "ftp://ftp.alsa-project.org/pub/",
            "http://www.mirrorservice.org/sites/ftp.alsa-project.org/pub/",
        ],
    ),
    ("apache", &["https://downloads.apache.org/", "https://archive.apache.org/dist/", "https://dlcdn.apache.org/"]),
    ("bioc", &["https://bioconductor.org/packages/", "https://bioconductor.statistik.tu-dortmund.de/packages/"]),
    ("bitlbee", &["https://get.bitlbee.org/"]),
    (
        "centos",
        &["https://vault.centos.org/", "https://archive.kernel.org/centos-vault/", "http://mirror.centos.org/centos/"],
    ),
    ("cpan", &["https://www.cpan.org/", "https://cpan.metacpan.org/", "https://backpan.perl.org/"]),
    ("cran", &["https://cran.r-project.org/src/contrib/"]),
    (
        "debian",
        &[
            "https://deb.debian.org/debian/",
            "https://archive.debian.org/debian-archive/debian/",
            "https://ftp.debian.org/debian/",
        ],
    ),
    ("dub", &["https://code.dlang.org/packages/"]),
    (
        "fedora",
        &[
            "https://archives.fedoraproject.org/pub/fedora/",
            "https://archives.fedoraproject.org/pub/archive/fedora/",
            "https://fedora.osuosl.org/",
        ],
    ),
    (
        "gcc",
        &[
            "https://gcc.gnu.org/pub/gcc/",
            "https://mirror.koddos.net/gcc/",
            "ftp://ftp.fu-berlin.de/unix/languages/gcc/",
        ],
    ),
    (
        "gentoo",
        &[
            "https://distfiles.gentoo.org/",
            "https://ftp.snt.utwente.nl/pub/os/linux/gentoo/",
            "https://mirrors.kernel.org/gentoo/",
        ],
    ),
    ("gnome", &["https://download.gnome.org/", "https://ftp.acc.umu.se/pub/GNOME/"]),
    ("gnu", &["https://ftp.gnu.org/pub/gnu/", "https://ftpmirror.gnu.org/", "https://mirrors.kernel.org/gnu/"]),
    ("gnupg", &["https://gnupg.org/ftp/gcrypt/", "https://mirrors.dotsrc.org/gcrypt/"]),
    ("hackage", &["https://hackage.haskell.org/package/"]),
    ("ibiblioPubLinux", &["https://www.ibiblio.org/pub/Linux/", "ftp://ftp.ibiblio.org/pub/linux/"]),
    ("imagemagick", &["https://www.imagemagick.org/download/", "https://ftp.nluug.nl/ImageMagick/"]),
    ("kde", &["https://download.kde.org/", "https://ftp.funet.fi/pub/mirrors/ftp.kde.org/pub/kde/"]),
    ("kernel", &["https://cdn.kernel.org/pub/", "http://linux-kernel.uio.no/pub/"]),
    ("luarocks", &["https://luarocks.org/", "https://luafr.org/moonrocks/"]),
    ("maven", &["https://repo1.maven.org/maven2/"]),
    ("mozilla", &["https://archive.mozilla.org/pub/", "https://download.cdn.mozilla.net/pub/mozilla.org/"]),
    ("mysql", &["https://cdn.mysql.com/Downloads/"]),
    ("openbsd", &["https://cdn.openbsd.org/pub/OpenBSD/", "https://ftp.openbsd.org/pub/OpenBSD/"]),
    (
        "opensuse",
        &["https://opensuse.hro.nl/opensuse/distribution/", "https://ftp.opensuse.org/pub/opensuse/distribution/"],
    ),
    ("osdn", &["https://mirrors.dotsrc.org/osdn/", "https://osdn.dl.osdn.jp/"]),
    ("postgresql", &["https://ftp.postgresql.org/pub/"]),
    ("pypi", &["https://files.pythonhosted.org/packages/source/", "https://pypi.io/packages/source/"]),
    ("qt", &["https://download.qt.io/"]),
    (
        "sageupstream",
        &[
            "https://mirrors.mit.edu/sage/spkg/upstream/",
            "https://sage.mirror.garr.it/mirrors/sage/spkg/upstream/",
            "https://www-ftp.lip6.fr/pub/math/sagemath/spkg/upstream/",
        ],
    ),
    ("samba", &["https://download.samba.org/pub/", "https://www.samba.org/ftp/"]),
    (
        "savannah",
        &[
            "https://download-mirror.savannah.gnu.org/releases/",
            "https://mirror.netcologne.de/savannah/",
            "https://nongnu.uib.no/",
        ],
    ),
    ("sourceforge", &["https://downloads.sourceforge.net/", "https://prdownloads.sourceforge.net/"]),
    ("steamrt", &["https://repo.steampowered.com/steamrt/"]),
    ("tcsh", &["https://astron.com/pub/tcsh/", "https://astron.com/pub/tcsh/old/"]),
    ("testpypi", &["https://test.pypi.io/packages/source/"]),
    ("ubuntu", &["https://archive.ubuntu.com/ubuntu/", "https://old-releases.ubuntu.com/ubuntu/"]),
    ("xfce", &["https://archive.xfce.org/"]),
    ("xorg", &["https://www.x.org/releases/", "https://xorg.freedesktop.org/releases/", "https://ftp.x.org/archive/"]),
];

/// Errors from reading a mirror file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MirrorError {
    /// The file cannot be opened or read.
    #[error("{}: cannot read mirror file", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_MIRROR_FILE_LEN`].
    #[error("{}: mirror file is larger than {MAX_MIRROR_FILE_LEN} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// A line that is not a valid entry.
    #[error("{}line {line}: {problem}", FilePrefix(path.as_deref()))]
    Line {
        /// The file, when read by [`MirrorTable::load`].
        path: Option<PathBuf>,
        /// The line, counting from 1.
        line: usize,
        /// What is wrong with it.
        problem: MirrorProblem,
    },
}

/// What is wrong with one line of a mirror file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MirrorProblem {
    /// The line is not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// The site name has characters outside letters, digits, `_`, `-`, `.`.
    #[error("invalid mirror name `{name}` (letters, digits, `_`, `-` and `.` only)")]
    BadName {
        /// The name as written.
        name: String,
    },
    /// A site with no base URLs.
    #[error("mirror `{name}` has no URLs")]
    NoUrls {
        /// The site.
        name: String,
    },
    /// A base URL without a `scheme://` prefix.
    #[error("mirror `{name}`: `{url}` is not a URL (expected scheme://...)")]
    BadUrl {
        /// The site.
        name: String,
        /// The field as written.
        url: String,
    },
    /// A base URL that is itself a `mirror://` URL.
    #[error("mirror `{name}`: base URL `{url}` is itself a mirror:// URL")]
    RecursiveUrl {
        /// The site.
        name: String,
        /// The base URL.
        url: String,
    },
    /// A site listed twice in one file.
    #[error("mirror `{name}` already appears on line {first_line}")]
    Duplicate {
        /// The site.
        name: String,
        /// Where it first appears.
        first_line: usize,
    },
}

/// Renders `path: ` before a line number, or nothing without a path.
struct FilePrefix<'a>(Option<&'a Path>);

impl fmt::Display for FilePrefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(path) => write!(f, "{}: ", path.display()),
            None => Ok(()),
        }
    }
}

/// What a URL expands to ([`MirrorTable::resolve`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Not a `mirror://` URL: the URL itself.
    Plain(String),
    /// A `mirror://` URL of a known site: one URL per base, in table order.
    Mirrored {
        /// The site name.
        mirror: String,
        /// The concrete URLs.
        urls: Vec<String>,
    },
    /// A `mirror://` URL whose site the table does not know (or, for
    /// `mirror://` with nothing after it, an empty name).
    UnknownMirror {
        /// The site name as written.
        mirror: String,
    },
}

impl Resolved {
    /// The concrete URLs: the URL itself, the expansions, or none for an
    /// unknown mirror.
    pub fn into_urls(self) -> Vec<String> {
        match self {
            Resolved::Plain(url) => vec![url],
            Resolved::Mirrored { urls, .. } => urls,
            Resolved::UnknownMirror { .. } => Vec::new(),
        }
    }
}

/// Mirror sites and their base URLs. See the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorTable {
    sites: BTreeMap<String, Vec<String>>,
}

impl MirrorTable {
    /// A table with no sites.
    pub fn new() -> MirrorTable {
        MirrorTable::default()
    }

    /// nixpkgs' sites, with the main base URLs of each.
    pub fn builtin() -> MirrorTable {
        let sites = BUILTIN
            .iter()
            .map(|(name, urls)| ((*name).to_owned(), urls.iter().map(|u| (*u).to_owned()).collect()))
            .collect();
        MirrorTable { sites }
    }

    /// Parses a mirror file's text (format in the [module docs](self)).
    /// Errors carry the line but no path.
    pub fn parse(text: &str) -> Result<MirrorTable, MirrorError> {
        let mut sites = BTreeMap::new();
        let mut first_lines: BTreeMap<String, usize> = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            let err = |problem| MirrorError::Line { path: None, line: line_no, problem };
            let mut fields = line.split([' ', '\t']).filter(|f| !f.is_empty()).take_while(|f| !f.starts_with('#'));
            let Some(name) = fields.next() else { continue };
            if !is_mirror_name(name) {
                return Err(err(MirrorProblem::BadName { name: name.to_owned() }));
            }
            let mut urls = Vec::new();
            for url in fields {
                if url.starts_with(MIRROR_SCHEME) {
                    return Err(err(MirrorProblem::RecursiveUrl { name: name.to_owned(), url: url.to_owned() }));
                }
                if !has_scheme(url) {
                    return Err(err(MirrorProblem::BadUrl { name: name.to_owned(), url: url.to_owned() }));
                }
                urls.push(url.to_owned());
            }
            if urls.is_empty() {
                return Err(err(MirrorProblem::NoUrls { name: name.to_owned() }));
            }
            if let Some(&first_line) = first_lines.get(name) {
                return Err(err(MirrorProblem::Duplicate { name: name.to_owned(), first_line }));
            }
            first_lines.insert(name.to_owned(), line_no);
            sites.insert(name.to_owned(), urls);
        }
        Ok(MirrorTable { sites })
    }

    /// Reads and parses a mirror file; errors name `path`.
    pub fn load(path: &Path) -> Result<MirrorTable, MirrorError> {
        let read_err = |source| MirrorError::Read { path: path.to_owned(), source };
        let file = std::fs::File::open(path).map_err(read_err)?;
        let mut bytes = Vec::new();
        file.take(MAX_MIRROR_FILE_LEN + 1).read_to_end(&mut bytes).map_err(read_err)?;
        if u64::try_from(bytes.len()).map_or(true, |len| len > MAX_MIRROR_FILE_LEN) {
            return Err(MirrorError::TooLarge { path: path.to_owned() });
        }
        let with_path = |err: MirrorError| match err {
            MirrorError::Line { line, problem, .. } => MirrorError::Line { path: Some(path.to_owned()), line, problem },
            other => other,
        };
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            let line = bytes.get(..e.valid_up_to()).map_or(0, |valid| count_byte(b'\n', valid)) + 1;
            with_path(MirrorError::Line { path: None, line, problem: MirrorProblem::NotUtf8 })
        })?;
        MirrorTable::parse(text).map_err(with_path)
    }

    /// Adds `other`'s sites; a site in both takes `other`'s list.
    pub fn extend(&mut self, other: MirrorTable) {
        self.sites.extend(other.sites);
    }

    /// The base URLs of a site.
    pub fn get(&self, name: &str) -> Option<&[String]> {
        self.sites.get(name).map(Vec::as_slice)
    }

    /// The site names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.sites.keys().map(String::as_str)
    }

    /// Number of sites.
    pub fn len(&self) -> usize {
        self.sites.len()
    }

    /// True if the table has no sites.
    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }

    /// Expands `url` if it is a `mirror://` URL (rules in the [module docs](self)).
    pub fn resolve(&self, url: &str) -> Resolved {
        let Some(rest) = url.strip_prefix(MIRROR_SCHEME) else {
            return Resolved::Plain(url.to_owned());
        };
        let (name, path) = rest.split_once('/').unwrap_or((rest, ""));
        match self.sites.get(name) {
            Some(bases) => Resolved::Mirrored {
                mirror: name.to_owned(),
                urls: bases.iter().map(|base| join(base, path)).collect(),
            },
            None => Resolved::UnknownMirror { mirror: name.to_owned() },
        }
    }
}

/// Joins a base URL and a path with exactly one `/` between them.
fn join(base: &str, path: &str) -> String {
    if path.is_empty() {
        return base.to_owned();
    }
    let base = base.trim_end_matches('/');
    let path = path.trim_start_matches('/');
    let mut out = String::with_capacity(base.len() + 1 + path.len());
    out.push_str(base);
    out.push('/');
    out.push_str(path);
    out
}

/// Letters, digits, `_`, `-`, `.`; not empty.
fn is_mirror_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// True for `scheme://rest` with a non-empty rest.
fn has_scheme(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else { return false };
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && !rest.is_empty()
}

/// Occurrences of `needle` in `haystack`.
fn count_byte(needle: u8, haystack: &[u8]) -> usize {
    haystack.iter().filter(|&&b| b == needle).count()
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::gnu_tarball(
        "mirror://gnu/hello/hello-2.12.tar.gz",
        &[
            "https://ftp.gnu.org/pub/gnu/hello/hello-2.12.tar.gz",
            "https://ftpmirror.gnu.org/hello/hello-2.12.tar.gz",
            "https://mirrors.kernel.org/gnu/hello/hello-2.12.tar.gz",
        ]
    )]
    #[case::pypi_with_nested_path(
        "mirror://pypi/r/requests/requests-2.31.0.tar.gz",
        &[
            "https://files.pythonhosted.org/packages/source/r/requests/requests-2.31.0.tar.gz",
            "https://pypi.io/packages/source/r/requests/requests-2.31.0.tar.gz",
        ]
    )]
    #[case::query_string_is_kept(
        "mirror://sourceforge/project/foo/foo-1.0.tar.gz?download",
        &[
            "https://downloads.sourceforge.net/project/foo/foo-1.0.tar.gz?download",
            "https://prdownloads.sourceforge.net/project/foo/foo-1.0.tar.gz?download",
        ]
    )]
    #[case::double_slash_after_site_is_collapsed(
        "mirror://cran//src/pkg.tar.gz",
        &["https://cran.r-project.org/src/contrib/src/pkg.tar.gz"]
    )]
    #[case::no_path_gives_the_bases(
        "mirror://kernel",
        &["https://cdn.kernel.org/pub/", "http://linux-kernel.uio.no/pub/"]
    )]
    #[case::camel_case_site(
        "mirror://ibiblioPubLinux/system/x.tar.gz",
        &["https://www.ibiblio.org/pub/Linux/system/x.tar.gz", "ftp://ftp.ibiblio.org/pub/linux/system/x.tar.gz"]
    )]
    fn expands_builtin_mirror_urls_to_every_base_in_order(#[case] url: &str, #[case] expected: &[&str]) {
        let resolved = MirrorTable::builtin().resolve(url);
        let Resolved::Mirrored { urls, .. } = resolved else { panic!("{url}: {resolved:?}") };
        assert_eq!(urls, expected);
    }

    #[rstest]
    #[case::https("https://example.org/x.tar.gz")]
    #[case::git_url("git://example.org/repo.git")]
    #[case::uppercase_scheme_is_not_a_mirror("MIRROR://gnu/x")]
    #[case::empty("")]
    fn leaves_other_urls_as_they_are(#[case] url: &str) {
        assert_eq!(MirrorTable::builtin().resolve(url), Resolved::Plain(url.to_owned()));
    }

    #[rstest]
    #[case::unknown_site("mirror://github/owner/repo/x.tar.gz", "github")]
    #[case::wrong_case("mirror://GNU/hello.tar.gz", "GNU")]
    #[case::empty_name("mirror:///x.tar.gz", "")]
    #[case::nothing_after_scheme("mirror://", "")]
    fn reports_an_unknown_mirror_instead_of_dropping_it(#[case] url: &str, #[case] name: &str) {
        let resolved = MirrorTable::builtin().resolve(url);
        assert_eq!(resolved, Resolved::UnknownMirror { mirror: name.to_owned() });
        assert!(resolved.into_urls().is_empty());
    }

    #[rstest]
    #[case::both_slashes("https://a.example/base/", "/x", "https://a.example/base/x")]
    #[case::no_slashes("https://a.example/base", "x", "https://a.example/base/x")]
    #[case::base_slash_only("https://a.example/base/", "x", "https://a.example/base/x")]
    #[case::path_slash_only("https://a.example/base", "/x", "https://a.example/base/x")]
    #[case::empty_path("https://a.example/base", "", "https://a.example/base")]
    fn joins_base_and_path_with_exactly_one_slash(#[case] base: &str, #[case] path: &str, #[case] expected: &str) {
        assert_eq!(join(base, path), expected);
    }

    #[test]
    fn builtin_table_is_sorted_and_every_base_is_a_url() {
        let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
        for (name, urls) in BUILTIN {
            assert!(is_mirror_name(name), "{name}");
            assert!(!urls.is_empty() && urls.len() <= 4, "{name}");
            for url in *urls {
                assert!(has_scheme(url) && url.ends_with('/'), "{name}: {url}");
            }
        }
        let table = MirrorTable::builtin();
        for site in ["gnu", "sourceforge", "savannah", "kernel", "gnome", "apache", "cpan", "debian", "pypi", "xorg"] {
            assert!(table.get(site).is_some(), "{site}");
        }
    }

    const USER_FILE: &str = "\
# Company mirrors
internal\thttps://artifacts.example.com/mirror/ https://backup.example.com/m/  # two bases

gnu https://gnu.example.com/
";

    #[test]
    fn a_user_file_adds_sites_and_replaces_existing_ones() {
        let user = MirrorTable::parse(USER_FILE).unwrap();
        assert_eq!(user.len(), 2);
        assert_eq!(
            user.get("internal").unwrap(),
            ["https://artifacts.example.com/mirror/", "https://backup.example.com/m/"]
        );
        let mut table = MirrorTable::builtin();
        let builtin_len = table.len();
        table.extend(user);
        assert_eq!(table.len(), builtin_len + 1);
        assert_eq!(table.resolve("mirror://gnu/hello.tar.gz").into_urls(), ["https://gnu.example.com/hello.tar.gz"]);
        assert_eq!(
            table.resolve("mirror://internal/a/b").into_urls(),
            ["https://artifacts.example.com/mirror/a/b", "https://backup.example.com/m/a/b"]
        );
    }

    #[rstest]
    #[case::only_comments_and_blanks("# nothing\n\n   \n\t# still nothing\n", 0)]
    #[case::comment_field_ends_line("a https://a.example/ #https://ignored.example/\n", 1)]
    #[case::crlf_line_endings("a https://a.example/\r\nb https://b.example/\r\n", 2)]
    #[case::empty_file("", 0)]
    fn parses_well_formed_files(#[case] text: &str, #[case] sites: usize) {
        let table = MirrorTable::parse(text).unwrap();
        assert_eq!(table.len(), sites);
        for name in table.names() {
            assert!(table.get(name).unwrap().iter().all(|u| !u.ends_with('\r')), "{name}");
        }
    }

    #[rstest]
    #[case::no_urls(
        "ok https://a.example/\n# fine\nlonely\n",
        3,
        MirrorProblem::NoUrls { name: "lonely".into() }
    )]
    #[case::bad_name("a/b https://a.example/\n", 1, MirrorProblem::BadName { name: "a/b".into() })]
    #[case::not_a_url(
        "a https://a.example/ ftp.example.org\n",
        1,
        MirrorProblem::BadUrl { name: "a".into(), url: "ftp.example.org".into() }
    )]
    #[case::empty_scheme("a ://x\n", 1, MirrorProblem::BadUrl { name: "a".into(), url: "://x".into() })]
    #[case::recursive(
        "a mirror://gnu/\n",
        1,
        MirrorProblem::RecursiveUrl { name: "a".into(), url: "mirror://gnu/".into() }
    )]
    #[case::duplicate(
        "a https://a.example/\n\na https://b.example/\n",
        3,
        MirrorProblem::Duplicate { name: "a".into(), first_line: 1 }
    )]
    fn rejects_malformed_lines_naming_the_line(
        #[case] text: &str,
        #[case] line: usize,
        #[case] problem: MirrorProblem,
    ) {
        let err = MirrorTable::parse(text).unwrap_err();
        let MirrorError::Line { path: None, line: got_line, problem: got } = &err else { panic!("{err:?}") };
        assert_eq!((*got_line, got), (line, &problem));
        assert!(err.to_string().starts_with(&format!("line {line}: ")), "{err}");
    }

    #[test]
    fn load_names_the_file_and_the_line_of_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mirrors.txt");
        std::fs::write(&path, "gnu https://gnu.example.com/\n# comment\nbroken\n").unwrap();
        let err = MirrorTable::load(&path).unwrap_err();
        assert_eq!(err.to_string(), format!("{}: line 3: mirror `broken` has no URLs", path.display()));
    }

    #[test]
    fn load_reports_the_line_of_invalid_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latin1.txt");
        std::fs::write(&path, b"a https://a.example/\ncaf\xe9 https://b.example/\n").unwrap();
        let err = MirrorTable::load(&path).unwrap_err();
        assert_eq!(err.to_string(), format!("{}: line 2: not UTF-8", path.display()));
    }

    #[test]
    fn load_rejects_a_file_over_the_limit_and_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.txt");
        let line = "a https://a.example/\n";
        let count = usize::try_from(MAX_MIRROR_FILE_LEN).unwrap() / line.len() + 1;
        std::fs::write(&big, line.repeat(count)).unwrap();
        assert!(matches!(MirrorTable::load(&big), Err(MirrorError::TooLarge { .. })));
        let missing = dir.path().join("missing.txt");
        let err = MirrorTable::load(&missing).unwrap_err();
        assert!(matches!(&err, MirrorError::Read { path, .. } if *path == missing), "{err:?}");
    }

    #[test]
    fn loads_a_valid_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mirrors.txt");
        std::fs::write(&path, USER_FILE).unwrap();
        assert_eq!(MirrorTable::load(&path).unwrap(), MirrorTable::parse(USER_FILE).unwrap());
    }
}
