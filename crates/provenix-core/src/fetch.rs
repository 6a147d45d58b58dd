//! Downloading a source (`provenix verify --refetch`): `http`, `https` and
//! `file` URLs, blocking, into a temporary file that removes itself.
//!
//! Outline of [`Fetcher::fetch`]:
//! 1. Read the scheme. `file://` URLs are copied from the local file; `http`
//!    and `https` go to ureq (rustls with ring); every other scheme is
//!    [`FetchError::UnsupportedScheme`], before anything is created.
//! 2. Create a temporary file in the target directory. It is removed when
//!    the [`Fetched`] is dropped, or at once when the fetch fails.
//! 3. GET the URL, following at most [`MAX_REDIRECTS`] redirects, to `http`
//!    and `https` URLs only: a `Location` with any other scheme (`file:`,
//!    `ftp:`) is [`FetchError::RedirectScheme`], never requested. Any final
//!    status outside 2xx is an error.
//! 4. Stream the body into the file in chunks, calling `progress` with each
//!    chunk's size and enforcing [`Fetcher::max_bytes`] as bytes arrive (and
//!    before, when `Content-Length` already says too much).
//! 5. When the connection drops or stalls mid-body, ask again with
//!    `Range: bytes=<have>-`, up to [`Fetcher::retries`] times. A `206` whose
//!    `Content-Range` starts at `<have>` is appended; a `200` means the server
//!    ignored the range, so the file restarts from zero.
//! 6. The whole download, retries included, must end within
//!    [`Fetcher::deadline`]: a server that sends a byte a second keeps every
//!    read alive, so per-read timeouts alone never stop it.
//!
//! While it is written, the temporary file is registered with
//! `provenix_store::cleanup`, so a binary stopped by a signal removes it.
//!
//! Memory stays at one 64 KiB buffer whatever the size; time is one pass
//! over the bytes, plus the bytes received again after a restart.
//!
//! Root certificates for `https` come from the system's CA bundle (see
//! [`TlsRoots`]), read on each fetch. Proxies are not used: nothing here reads
//! `http_proxy` or other environment variables.

use std::error::Error as StdError;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use provenix_store::cleanup;

use crate::text::shorten;

use tempfile::NamedTempFile;
use thiserror::Error;
use ureq::tls::{PemItem, RootCerts, TlsConfig};

/// Redirects followed before a fetch fails.
pub const MAX_REDIRECTS: u32 = 10;

/// [`Fetcher::deadline`] unless set: one hour, an hour for a few GiB over a
/// slow line.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(3600);

/// Longest `Location` value quoted in an error.
const MAX_QUOTED: usize = 200;

/// Size of the buffer between the connection (or file) and the temp file.
const CHUNK: usize = 64 * 1024;

/// CA bundles tried in order by [`TlsRoots::System`].
pub const SYSTEM_CA_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Arch, NixOS
    "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",             // openSUSE
    "/etc/ssl/cert.pem",                  // Alpine, macOS, the BSDs
];

/// A boxed cause, for errors from ureq and the PEM parser, whose types are
/// not part of this API.
type Cause = Box<dyn StdError + Send + Sync + 'static>;

/// Errors from [`Fetcher::fetch`]. Every variant names the URL as given.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The scheme is not `http`, `https` or `file`.
    #[error("{url}: unsupported URL scheme (provenix fetches http, https and file URLs)")]
    UnsupportedScheme {
        /// The URL.
        url: String,
    },
    /// The URL could not be understood.
    #[error("{url}: invalid URL: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `file://` URL whose file cannot be read.
    #[error("{url}: cannot read {}", path.display())]
    File {
        /// The URL.
        url: String,
        /// The local path it names.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The root certificates for TLS could not be loaded.
    #[error("{url}: cannot load TLS root certificates from {}", path.display())]
    RootCertificates {
        /// The URL.
        url: String,
        /// The CA bundle.
        path: PathBuf,
        /// Why.
        #[source]
        source: Cause,
    },
    /// The request failed before a response arrived: name resolution,
    /// connecting, TLS, a timeout, too many redirects.
    #[error("{url}: request failed")]
    Request {
        /// The URL.
        url: String,
        /// The client's error.
        #[source]
        source: Cause,
    },
    /// The server answered with a status outside 2xx.
    #[error("{url}: server answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// A `206 Partial Content` that is not the rest of the file.
    #[error("{url}: partial answer `Content-Range: {found}` does not continue at byte {expected}")]
    ContentRange {
        /// The URL.
        url: String,
        /// The offset asked for.
        expected: u64,
        /// The `Content-Range` header, or `(none)`.
        found: String,
    },
    /// The connection kept dropping mid-body and the retries ran out.
    #[error("{url}: download cut after {received} bytes (attempts: {attempts})")]
    Body {
        /// The URL.
        url: String,
        /// Bytes received, in order, before the last failure.
        received: u64,
        /// Attempts made, the first included.
        attempts: u32,
        /// The last failure.
        #[source]
        source: Cause,
    },
    /// The download is larger than [`Fetcher::max_bytes`].
    #[error("{url}: larger than the limit of {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// The download did not end within [`Fetcher::deadline`].
    #[error("{url}: not finished after {} s, the limit for one download ({received} bytes received)", limit.as_secs())]
    Deadline {
        /// The URL.
        url: String,
        /// The limit.
        limit: Duration,
        /// Bytes received, in order, when it was stopped.
        received: u64,
    },
    /// A redirect to a URL that is not `http` or `https`.
    #[error("{url}: redirected to `{location}`, which is not an http or https URL: not followed")]
    RedirectScheme {
        /// The URL.
        url: String,
        /// The `Location` header (shortened if long).
        location: String,
    },
    /// More than [`MAX_REDIRECTS`] redirects, or a redirect without a
    /// usable `Location`.
    #[error("{url}: {reason}")]
    Redirect {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: &'static str,
    },
    /// Creating or writing the temporary file failed.
    #[error("{url}: cannot write the download into {}", dir.display())]
    Write {
        /// The URL.
        url: String,
        /// The directory of the temporary file.
        dir: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// Where `https` root certificates come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsRoots {
    /// The first file of [`SYSTEM_CA_FILES`] that exists, or Mozilla's roots
    /// built into provenix when none does.
    #[default]
    System,
    /// Mozilla's roots built into provenix (the `webpki-roots` crate).
    Bundled,
    /// A PEM bundle, as Nix's `NIX_SSL_CERT_FILE` names one. A missing file,
    /// or one without certificates, is an error.
    File(PathBuf),
}

impl TlsRoots {
    fn load(&self) -> Result<RootCerts, (PathBuf, Cause)> {
        match self {
            TlsRoots::Bundled => Ok(RootCerts::WebPki),
            TlsRoots::File(path) => read_pem_bundle(path),
            TlsRoots::System => SYSTEM_CA_FILES
                .iter()
                .map(Path::new)
                .find(|path| path.is_file())
                .map_or(Ok(RootCerts::WebPki), read_pem_bundle),
        }
    }
}

fn read_pem_bundle(path: &Path) -> Result<RootCerts, (PathBuf, Cause)> {
    let fail = |source: Cause| (path.to_owned(), source);
    let pem = std::fs::read(path).map_err(|e| fail(e.into()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let PemItem::Certificate(cert) = item.map_err(|e| fail(e.into()))? {
            certs.push(cert);
        }
    }
    if certs.is_empty() {
        return Err(fail(io::Error::new(io::ErrorKind::InvalidData, "no PEM certificates").into()));
    }
    Ok(RootCerts::from(certs))
}

/// How to download. Set fields on [`Fetcher::default`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Fetcher {
    /// Limit for resolving and connecting, and for each read or write on the
    /// connection, so a stalled download fails (or resumes) instead of
    /// hanging. Not a limit on the whole download.
    pub timeout: Duration,
    /// How many times a download cut mid-body is resumed (and the resuming
    /// requests retried) before it fails. The first request is not retried.
    pub retries: u32,
    /// Largest download accepted, in bytes; `None` for no limit.
    pub max_bytes: Option<u64>,
    /// Longest time one download may take, retries included; `None` for no
    /// limit.
    pub deadline: Option<Duration>,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Root certificates for `https`.
    pub roots: TlsRoots,
}

impl Default for Fetcher {
    /// 30 s timeout, 5 retries (as Nix's `download-attempts`), no size
    /// limit, [`DEFAULT_DEADLINE`], `provenix/<version>`, system roots.
    fn default() -> Fetcher {
        Fetcher {
            timeout: Duration::from_secs(30),
            retries: 5,
            max_bytes: None,
            deadline: Some(DEFAULT_DEADLINE),
            user_agent: concat!("provenix/", env!("CARGO_PKG_VERSION")).to_owned(),
            roots: TlsRoots::System,
        }
    }
}

/// A finished download: a temporary file, removed when this is dropped.
#[derive(Debug)]
pub struct Fetched {
    file: NamedTempFile,
    size: u64,
    final_url: String,
    // Declared after `file`, so dropped after the file is removed.
    _cleanup: cleanup::Guard,
}

impl Fetched {
    /// Where the bytes are.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// How many bytes were downloaded (the file's length).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The URL the bytes came from after redirects; the URL as given for
    /// `file://`.
    pub fn final_url(&self) -> &str {
        &self.final_url
    }

    /// Opens the file anew for reading from the start.
    pub fn reopen(&self) -> io::Result<File> {
        self.file.reopen()
    }

    /// The temporary file, e.g. to `persist` it somewhere. It is no longer
    /// removed on a signal.
    pub fn into_temp_file(self) -> NamedTempFile {
        self.file
    }
}

impl Fetcher {
    /// Downloads `url` into a new temporary file inside `dir`, calling
    /// `progress` with the size of each chunk as it arrives. After a restart
    /// from zero (a server that ignored `Range`), bytes are counted again, so
    /// the sum of deltas is bytes received, which may exceed the final size.
    pub fn fetch(&self, url: &str, dir: &Path, progress: &(dyn Fn(u64) + Sync)) -> Result<Fetched, FetchError> {
        let scheme = scheme(url).ok_or_else(|| FetchError::InvalidUrl { url: url.to_owned(), reason: "no scheme" })?;
        let kind = match scheme.to_ascii_lowercase().as_str() {
            "file" => Kind::File(file_url_path(url)?),
            "http" | "https" => Kind::Http,
            _ => return Err(FetchError::UnsupportedScheme { url: url.to_owned() }),
        };
        let file = tempfile::Builder::new()
            .prefix(".provenix-fetch-")
            .tempfile_in(dir)
            .map_err(|source| FetchError::Write { url: url.to_owned(), dir: dir.to_owned(), source })?;
        let guard = cleanup::register(file.path(), cleanup::Kind::File);
        let deadline = self.deadline.map(|limit| (Instant::now() + limit, limit));
        let mut sink = Sink { file, have: 0, limit: self.max_bytes, deadline, progress, url, dir };
        let final_url = match kind {
            Kind::File(path) => {
                fetch_file(&path, &mut sink)?;
                url.to_owned()
            }
            Kind::Http => self.fetch_http(&mut sink)?,
        };
        Ok(Fetched { file: sink.file, size: sink.have, final_url, _cleanup: guard })
    }

    fn agent(&self, url: &str) -> Result<ureq::Agent, FetchError> {
        let roots = self.roots.load().map_err(|(path, source)| FetchError::RootCertificates {
            url: url.to_owned(),
            path,
            source,
        })?;
        let timeout = Some(self.timeout);
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // Redirects are followed by `attempt`, which checks each scheme.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(self.user_agent.as_str())
            .proxy(None)
            .timeout_resolve(timeout)
            .timeout_connect(timeout)
            .timeout_per_read(timeout)
            .timeout_per_write(timeout)
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .build();
        Ok(config.new_agent())
    }

    fn fetch_http(&self, sink: &mut Sink<'_>) -> Result<String, FetchError> {
        let agent = self.agent(sink.url)?;
        let mut attempts = 1;
        loop {
            match attempt(&agent, sink) {
                Ok(final_url) => return Ok(final_url),
                Err(Attempt::Retry(_)) if sink.past_deadline() => return Err(sink.deadline_error()),
                Err(Attempt::Retry(_)) if attempts <= self.retries => attempts += 1,
                Err(Attempt::Retry(source)) => {
                    return Err(FetchError::Body { url: sink.url.to_owned(), received: sink.have, attempts, source });
                }
                Err(Attempt::Fail(err)) => return Err(err),
            }
        }
    }
}

enum Kind {
    File(PathBuf),
    Http,
}

/// How one request ended, when not with the whole body.
enum Attempt {
    /// Worth resuming: the connection dropped or stalled.
    Retry(Cause),
    /// Final.
    Fail(FetchError),
}

impl From<FetchError> for Attempt {
    fn from(err: FetchError) -> Attempt {
        Attempt::Fail(err)
    }
}

/// One GET, resuming at `sink.have` if that is not zero, following
/// redirects to `http` and `https` URLs. Returns the URL after redirects.
fn attempt(agent: &ureq::Agent, sink: &mut Sink<'_>) -> Result<String, Attempt> {
    let url = sink.url;
    let resuming = sink.have > 0;
    let mut target = url.to_owned();
    let mut redirects = 0;
    let response = loop {
        let mut request = agent.get(&target);
        if let Some(remaining) = sink.remaining() {
            // The client stops a read or a connect at the deadline.
            request = request.config().timeout_global(Some(remaining)).build();
        }
        if resuming {
            request = request.header("Range", format!("bytes={}-", sink.have));
        }
        let response = match request.call() {
            Ok(response) => response,
            Err(_) if sink.past_deadline() => return Err(sink.deadline_error().into()),
            Err(err @ (ureq::Error::Io(_) | ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed)) if resuming => {
                return Err(Attempt::Retry(err.into()));
            }
            Err(err) => {
                return Err(FetchError::Request { url: url.to_owned(), source: err.into() }.into());
            }
        };
        if !response.status().is_redirection() || response.status().as_u16() == 304 {
            break response;
        }
        redirects += 1;
        if redirects > MAX_REDIRECTS {
            return Err(FetchError::Redirect { url: url.to_owned(), reason: "more than 10 redirects" }.into());
        }
        let location = response.headers().get("location").and_then(|v| v.to_str().ok());
        let Some(location) = location else {
            return Err(FetchError::Redirect { url: url.to_owned(), reason: "redirect without a Location" }.into());
        };
        target = match redirect_target(&target, location) {
            Some(next) => next,
            None => {
                let location = shorten(location, MAX_QUOTED);
                return Err(FetchError::RedirectScheme { url: url.to_owned(), location }.into());
            }
        };
    };
    let status = response.status().as_u16();
    let final_url = target;
    match status {
        206 => {
            let found = response.headers().get("content-range").map(|v| v.as_bytes());
            if !continues_at(found, sink.have) {
                return Err(FetchError::ContentRange {
                    url: url.to_owned(),
                    expected: sink.have,
                    found: found.map_or("(none)".into(), |v| String::from_utf8_lossy(v).into_owned()),
                }
                .into());
            }
        }
        200..=299 => {
            if resuming {
                sink.restart()?; // the server ignored Range and sends it all
            }
        }
        _ => return Err(FetchError::Status { url: url.to_owned(), status }.into()),
    }
    if let Some(length) = response.body().content_length() {
        sink.check_room(length)?;
    }
    let mut body = response.into_body().into_reader();
    sink.pour(&mut body).map_err(|err| match err {
        Poured::Read(err) => Attempt::Retry(err.into()),
        Poured::Fail(err) => Attempt::Fail(err),
    })?;
    Ok(final_url)
}

/// The URL a redirect from `base` to `location` leads to, when that is an
/// `http` or `https` URL: `location` absolute, scheme-relative (`//host/p`),
/// absolute-path (`/p`) or relative to `base`'s directory. `None` for any
/// other scheme.
fn redirect_target(base: &str, location: &str) -> Option<String> {
    let location = location.trim();
    if let Some(scheme) = scheme(location) {
        return matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https").then(|| location.to_owned());
    }
    let base_scheme = scheme(base)?;
    let after_scheme = base.get(base_scheme.len() + 1..)?;
    if location.starts_with("//") {
        return Some(format!("{base_scheme}:{location}"));
    }
    let rest = after_scheme.strip_prefix("//")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let origin = format!("{base_scheme}://{authority}");
    if location.starts_with('/') {
        return Some(format!("{origin}{location}"));
    }
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let dir = path.rfind('/').map_or("/", |i| path.get(..=i).unwrap_or("/"));
    Some(format!("{origin}{dir}{location}"))
}

/// True if `Content-Range: bytes START-END/TOTAL` starts at `have` and runs
/// to the end (`TOTAL` may be `*`).
fn continues_at(content_range: Option<&[u8]>, have: u64) -> bool {
    let Some(value) = content_range.and_then(|v| std::str::from_utf8(v).ok()) else { return false };
    let Some(spec) = value.trim().strip_prefix("bytes ") else { return false };
    let Some((span, total)) = spec.split_once('/') else { return false };
    let Some((start, end)) = span.split_once('-') else { return false };
    let (Ok(start), Ok(end)) = (start.trim().parse::<u64>(), end.trim().parse::<u64>()) else {
        return false;
    };
    let to_the_end = match total.trim() {
        "*" => true,
        total => total.parse::<u64>().is_ok_and(|total| end.checked_add(1) == Some(total)),
    };
    start == have && to_the_end
}

fn fetch_file(path: &Path, sink: &mut Sink<'_>) -> Result<(), FetchError> {
    let fail = |source: io::Error| FetchError::File { url: sink.url.to_owned(), path: path.to_owned(), source };
    // Checked before opening, so a FIFO cannot block the open.
    let not_regular = || io::Error::new(io::ErrorKind::InvalidInput, "not a regular file");
    if !std::fs::metadata(path).map_err(fail)?.is_file() {
        return Err(fail(not_regular()));
    }
    let mut file = File::open(path).map_err(fail)?;
    let metadata = file.metadata().map_err(fail)?;
    if !metadata.is_file() {
        return Err(fail(not_regular()));
    }
    sink.check_room(metadata.len())?;
    sink.pour(&mut file).map_err(|err| match err {
        Poured::Read(err) => fail(err),
        Poured::Fail(err) => err,
    })
}

/// The scheme of `url`: letters, digits, `+`, `-` and `.` before a `:`,
/// starting with a letter.
fn scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let first_is_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_valid = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (first_is_letter && rest_valid).then_some(scheme)
}

/// The local path of a `file://` URL: host empty or `localhost`, query and
/// fragment dropped, `%XX` escapes decoded (as curl does for Nix).
fn file_url_path(url: &str) -> Result<PathBuf, FetchError> {
    use std::os::unix::ffi::OsStringExt as _;
    let invalid = |reason| FetchError::InvalidUrl { url: url.to_owned(), reason };
    let rest = url.get("file:".len()..).unwrap_or_default();
    let rest = rest.strip_prefix("//").ok_or_else(|| invalid("a file URL starts with file://"))?;
    let slash = rest.find('/').ok_or_else(|| invalid("a file URL needs an absolute path"))?;
    let (host, path) = rest.split_at(slash);
    if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
        return Err(invalid("a file URL names no host other than localhost"));
    }
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let mut bytes = Vec::with_capacity(path.len());
    let mut rest = path.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = tail.get(..2).and_then(|h| std::str::from_utf8(h).ok());
            let decoded = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
            bytes.push(decoded.ok_or_else(|| invalid("`%` not followed by two hex digits"))?);
            rest = tail.get(2..).unwrap_or_default();
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    Ok(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
}

/// The temporary file being filled, with the running count and limit.
struct Sink<'a> {
    file: NamedTempFile,
    have: u64,
    limit: Option<u64>,
    /// When the download must have ended, and the limit it came from.
    deadline: Option<(Instant, Duration)>,
    progress: &'a (dyn Fn(u64) + Sync),
    url: &'a str,
    dir: &'a Path,
}

/// Why [`Sink::pour`] stopped early.
enum Poured {
    /// Reading the source failed.
    Read(io::Error),
    /// Too large, or writing failed.
    Fail(FetchError),
}

impl Sink<'_> {
    fn write_error(&self, source: io::Error) -> FetchError {
        FetchError::Write { url: self.url.to_owned(), dir: self.dir.to_owned(), source }
    }

    /// Fails if `more` bytes would take the download past the limit.
    fn check_room(&self, more: u64) -> Result<(), FetchError> {
        match self.limit {
            Some(limit) if self.have.saturating_add(more) > limit => {
                Err(FetchError::TooLarge { url: self.url.to_owned(), limit })
            }
            _ => Ok(()),
        }
    }

    /// Time left before the deadline, if there is one (zero once past it).
    fn remaining(&self) -> Option<Duration> {
        self.deadline.map(|(at, _)| at.saturating_duration_since(Instant::now()))
    }

    fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|(at, _)| Instant::now() >= at)
    }

    fn deadline_error(&self) -> FetchError {
        let limit = self.deadline.map_or(Duration::ZERO, |(_, limit)| limit);
        FetchError::Deadline { url: self.url.to_owned(), limit, received: self.have }
    }

    /// Empties the file to start again from byte zero.
    fn restart(&mut self) -> Result<(), FetchError> {
        let file = self.file.as_file_mut();
        file.set_len(0).and_then(|()| file.seek(SeekFrom::Start(0))).map_err(|e| self.write_error(e))?;
        self.have = 0;
        Ok(())
    }

    /// Copies `reader` to the end of the file until EOF.
    fn pour(&mut self, reader: &mut dyn Read) -> Result<(), Poured> {
        let mut buf = vec![0; CHUNK];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(Poured::Read(err)),
            };
            let chunk = buf
                .get(..n)
                .ok_or_else(|| Poured::Read(io::Error::other("reader claimed more bytes than its buffer holds")))?;
            let len = n as u64;
            self.check_room(len).map_err(Poured::Fail)?;
            self.file.as_file_mut().write_all(chunk).map_err(|e| Poured::Fail(self.write_error(e)))?;
            self.have += len;
            (self.progress)(len);
            if self.past_deadline() {
                return Err(Poured::Fail(self.deadline_error()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_must_start_at_the_offset_and_run_to_the_end() {
        assert!(continues_at(Some(b"bytes 100-199/200"), 100));
        assert!(continues_at(Some(b"bytes 100-199/*"), 100));
        assert!(!continues_at(Some(b"bytes 0-199/200"), 100));
        assert!(!continues_at(Some(b"bytes 100-149/200"), 100));
        assert!(!continues_at(Some(b"bytes */200"), 100));
        assert!(!continues_at(None, 100));
    }

    #[test]
    fn file_url_decodes_escapes_and_drops_query_and_fragment() {
        let path = file_url_path("file://localhost/tmp/a%20b%2Fc?x=1#frag").unwrap();
        assert_eq!(path, Path::new("/tmp/a b/c"));
        assert_eq!(file_url_path("file:///x").unwrap(), Path::new("/x"));
    }

    #[test]
    fn file_url_with_a_remote_host_or_bad_escape_is_invalid() {
        for url in ["file://example.org/x", "file:/x", "file:///a%2", "file:///a%zz", "file://"] {
            let err = file_url_path(url).unwrap_err();
            assert!(matches!(err, FetchError::InvalidUrl { .. }), "{url}: {err}");
            assert!(err.to_string().contains(url), "{err}");
        }
    }

    #[test]
    fn redirect_targets_resolve_against_the_base_and_keep_to_http() {
        let base = "http://h:8/a/b/c.tar?x=1";
        assert_eq!(redirect_target(base, "https://o/x").as_deref(), Some("https://o/x"));
        assert_eq!(redirect_target(base, "//o/x").as_deref(), Some("http://o/x"));
        assert_eq!(redirect_target(base, "/x").as_deref(), Some("http://h:8/x"));
        assert_eq!(redirect_target(base, "d.tar").as_deref(), Some("http://h:8/a/b/d.tar"));
        assert_eq!(redirect_target("http://h", "d").as_deref(), Some("http://h/d"));
        for other in ["file:///etc/passwd", "FILE:/x", "ftp://h/x", "gopher://h/"] {
            assert_eq!(redirect_target(base, other), None, "{other}");
        }
    }

    proptest::proptest! {
        /// A `Location` is the server's text: any of it resolves without a
        /// panic, and only ever to an http or https URL.
        #[test]
        fn any_location_resolves_to_http_or_nothing(location in "\\PC{0,40}", tail in "[a-z/:.?#%]{0,12}") {
            for candidate in [location.clone(), format!("{location}{tail}"), format!("file:{tail}")] {
                if let Some(url) = redirect_target("http://h:1/a/b?q", &candidate) {
                    let scheme = scheme(&url).map(str::to_ascii_lowercase);
                    proptest::prop_assert!(matches!(scheme.as_deref(), Some("http" | "https")), "{candidate} -> {url}");
                }
            }
        }
    }

    #[test]
    fn scheme_is_letters_before_the_colon() {
        assert_eq!(scheme("HTTPS://x"), Some("HTTPS"));
        assert_eq!(scheme("git+https://x"), Some("git+https"));
        assert_eq!(scheme("/no/scheme"), None);
        assert_eq!(scheme("1http://x"), None);
    }
}
