//! `provenix_core::fetch` against a real HTTP server on 127.0.0.1
//! (`provenix_testkit::HttpServer`) and real local files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use provenix_core::fetch::{FetchError, Fetched, Fetcher, TlsRoots};
use provenix_testkit::{HttpServer, error_chain};
use rstest::rstest;

/// `len` bytes that differ from chunk to chunk, so a misplaced resume shows.
fn payload(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

fn fetcher() -> Fetcher {
    let mut fetcher = Fetcher::default();
    fetcher.timeout = Duration::from_secs(10);
    fetcher
}

fn fetch(fetcher: &Fetcher, url: &str, dir: &Path) -> Result<Fetched, FetchError> {
    fetcher.fetch(url, dir, &|_| {})
}

fn bytes_of(fetched: &Fetched) -> Vec<u8> {
    std::fs::read(fetched.path()).unwrap()
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

/// The error's whole chain, checked to name `url`.
fn chain_naming(err: &FetchError, url: &str) -> String {
    let chain = error_chain(err);
    assert!(chain.contains(url), "error does not name {url}: {chain}");
    chain
}

#[test]
fn downloads_the_served_bytes_and_reports_progress() {
    let server = HttpServer::start();
    let body = payload(300_000); // several 64 KiB chunks
    server.put("/src.tar.gz", body.clone());
    let dir = tempfile::tempdir().unwrap();
    let seen = AtomicU64::new(0);
    let url = server.url("/src.tar.gz");
    let fetched = fetcher()
        .fetch(&url, dir.path(), &|delta| {
            seen.fetch_add(delta, Ordering::Relaxed);
        })
        .unwrap();
    assert_eq!(bytes_of(&fetched), body);
    assert_eq!(fetched.size(), 300_000);
    assert_eq!(fetched.final_url(), url);
    assert_eq!(seen.load(Ordering::Relaxed), 300_000);
    assert!(fetched.path().starts_with(dir.path()));
    assert_eq!(server.ranges("/src.tar.gz"), [None]);
}

#[test]
fn not_found_is_an_error_naming_the_url_and_404() {
    let server = HttpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("/missing.tar.gz");
    let err = fetch(&fetcher(), &url, dir.path()).unwrap_err();
    assert!(matches!(err, FetchError::Status { status: 404, .. }), "{err:?}");
    let chain = chain_naming(&err, &url);
    assert!(chain.contains("404"), "{chain}");
}

#[test]
fn server_error_status_is_an_error_with_its_code() {
    let server = HttpServer::start();
    server.status("/busy", 503);
    let dir = tempfile::tempdir().unwrap();
    let err = fetch(&fetcher(), &server.url("/busy"), dir.path()).unwrap_err();
    assert!(matches!(err, FetchError::Status { status: 503, .. }), "{err:?}");
}

#[test]
fn follows_redirects_and_reports_the_final_url() {
    let server = HttpServer::start();
    server.put("/real", b"moved bytes".to_vec());
    server.redirect("/old", "/middle"); // relative Location
    server.redirect("/middle", &server.url("/real")); // absolute Location
    let dir = tempfile::tempdir().unwrap();
    let fetched = fetch(&fetcher(), &server.url("/old"), dir.path()).unwrap();
    assert_eq!(bytes_of(&fetched), b"moved bytes");
    assert_eq!(fetched.final_url(), server.url("/real"));
}

#[test]
fn redirect_loop_is_an_error_naming_the_url() {
    let server = HttpServer::start();
    server.redirect("/loop", "/loop");
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("/loop");
    let err = fetch(&fetcher(), &url, dir.path()).unwrap_err();
    assert!(matches!(err, FetchError::Redirect { .. }), "{err:?}");
    chain_naming(&err, &url);
    // The first request and ten redirects.
    assert_eq!(server.requests("/loop"), 11);
}

#[rstest]
#[case::file("file:///etc/passwd")]
#[case::file_upper_case("FILE:///etc/hostname")]
#[case::ftp("ftp://127.0.0.1/x")]
#[case::relative_looking_scheme("gopher:x")]
fn regress_issue_16_a_redirect_to_another_scheme_is_refused_not_requested(#[case] location: &str) {
    let server = HttpServer::start();
    server.redirect("/src.tar.gz", location);
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("/src.tar.gz");
    let err = fetch(&fetcher(), &url, dir.path()).unwrap_err();
    assert!(matches!(err, FetchError::RedirectScheme { .. }), "{err:?}");
    let chain = chain_naming(&err, &url);
    assert!(chain.contains(location) && chain.contains("not an http or https URL"), "{chain}");
    // Asked once: nothing was requested from the origin host for the redirect.
    assert_eq!(server.requests("/src.tar.gz"), 1);
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[test]
fn regress_issue_16_an_endless_body_stops_at_the_limit_and_leaves_nothing() {
    let server = HttpServer::start();
    server.endless("/src.tar.gz");
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("/src.tar.gz");
    let mut small = fetcher();
    small.max_bytes = Some(543);
    let err = fetch(&small, &url, dir.path()).unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { limit: 543, .. }), "{err:?}");
    chain_naming(&err, &url);
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[test]
fn regress_issue_16_a_slow_drip_stops_at_the_deadline() {
    let server = HttpServer::start();
    server.put("/src.tar.gz", payload(10_000));
    server.drip("/src.tar.gz", Duration::from_millis(50));
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("/src.tar.gz");
    let mut slow = fetcher();
    slow.deadline = Some(Duration::from_secs(1));
    let err = fetch(&slow, &url, dir.path()).unwrap_err();
    let FetchError::Deadline { received, .. } = &err else { panic!("{err:?}") };
    assert!(*received < 10_000, "{err:?}");
    let chain = chain_naming(&err, &url);
    assert!(chain.contains("not finished after 1 s"), "{chain}");
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[test]
fn resumes_a_cut_download_with_a_range_request() {
    let server = HttpServer::start();
    let body = payload(200_000);
    server.put("/a", body.clone());
    server.fail_once_after("/a", 70_000);
    let dir = tempfile::tempdir().unwrap();
    let seen = AtomicU64::new(0);
    let fetched = fetcher()
        .fetch(&server.url("/a"), dir.path(), &|delta| {
            seen.fetch_add(delta, Ordering::Relaxed);
        })
        .unwrap();
    assert_eq!(server.ranges("/a"), [None, Some("bytes=70000-".to_owned())]);
    assert_eq!(bytes_of(&fetched), body);
    assert_eq!(fetched.size(), 200_000);
    assert_eq!(seen.load(Ordering::Relaxed), 200_000);
}

#[test]
fn restarts_from_zero_when_the_server_ignores_range() {
    let server = HttpServer::start();
    let body = payload(200_000);
    server.put("/a", body.clone());
    server.ignore_range("/a");
    server.fail_once_after("/a", 70_000);
    let dir = tempfile::tempdir().unwrap();
    let seen = AtomicU64::new(0);
    let fetched = fetcher()
        .fetch(&server.url("/a"), dir.path(), &|delta| {
            seen.fetch_add(delta, Ordering::Relaxed);
        })
        .unwrap();
    assert_eq!(server.ranges("/a"), [None, Some("bytes=70000-".to_owned())]);
    assert_eq!(bytes_of(&fetched), body);
    assert_eq!(fetched.size(), 200_000);
    // Progress counts bytes received, the cut part included.
    assert_eq!(seen.load(Ordering::Relaxed), 270_000);
}

#[test]
fn cut_download_without_retries_is_an_error_naming_the_url() {
    let server = HttpServer::start();
    server.put("/a", payload(100_000));
    server.fail_once_after("/a", 1_000);
    let dir = tempfile::tempdir().unwrap();
    let mut no_retries = fetcher();
    no_retries.retries = 0;
    let url = server.url("/a");
    let err = fetch(&no_retries, &url, dir.path()).unwrap_err();
    assert!(matches!(err, FetchError::Body { received: 1_000, attempts: 1, .. }), "{err:?}");
    chain_naming(&err, &url);
    assert_eq!(server.requests("/a"), 1);
    assert_eq!(entries(dir.path()), Vec::<String>::new());
}

#[test]
fn file_url_copies_the_local_file() {
    let dir = tempfile::tempdir().unwrap();
    let source = tempfile::tempdir().unwrap();
    let path = source.path().join("with space.txt");
    std::fs::write(&path, b"local bytes").unwrap();
    let url = format!("file://{}", source.path().join("with%20space.txt").display());
    let fetched = fetch(&fetcher(), &url, dir.path()).unwrap();
    assert_eq!(bytes_of(&fetched), b"local bytes");
    assert_eq!(fetched.size(), 11);
    assert_eq!(fetched.final_url(), url);
}

#[test]
fn missing_local_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.tar");
    let url = format!("file://{}", missing.display());
    let err = fetch(&fetcher(), &url, dir.path()).unwrap_err();
    assert!(matches!(err, FetchError::File { .. }), "{err:?}");
    let chain = chain_naming(&err, &url);
    assert!(chain.contains("cannot read") && chain.contains("No such file"), "{chain}");
    assert_eq!(entries(dir.path()), Vec::<String>::new());
}

#[test]
fn directory_as_local_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let err = fetch(&fetcher(), &url, dir.path()).unwrap_err();
    assert!(matches!(err, FetchError::File { .. }), "{err:?}");
    assert!(error_chain(&err).contains("not a regular file"), "{err}");
}

#[rstest]
#[case::ftp("ftp://ftp.gnu.org/gnu/hello/hello-2.12.tar.gz")]
#[case::git("git://github.com/NixOS/nix.git")]
#[case::git_plus_https("git+https://github.com/NixOS/nix.git")]
#[case::mirror("mirror://gnu/hello/hello-2.12.tar.gz")]
fn unsupported_scheme_is_an_error_naming_the_url(#[case] url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let err = fetch(&fetcher(), url, dir.path()).unwrap_err();
    assert!(matches!(err, FetchError::UnsupportedScheme { .. }), "{err:?}");
    chain_naming(&err, url);
    assert_eq!(entries(dir.path()), Vec::<String>::new());
}

#[test]
fn url_without_scheme_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let err = fetch(&fetcher(), "/nix/store/x.tar", dir.path()).unwrap_err();
    assert!(matches!(err, FetchError::InvalidUrl { .. }), "{err:?}");
    chain_naming(&err, "/nix/store/x.tar");
}

#[test]
fn temp_file_is_removed_when_fetched_is_dropped_and_after_errors() {
    let server = HttpServer::start();
    server.put("/a", payload(1_000));
    let dir = tempfile::tempdir().unwrap();
    let fetched = fetch(&fetcher(), &server.url("/a"), dir.path()).unwrap();
    assert_eq!(entries(dir.path()).len(), 1);
    drop(fetched);
    assert_eq!(entries(dir.path()), Vec::<String>::new());

    // Errors after the temp file exists: a status, and a limit hit mid-body.
    fetch(&fetcher(), &server.url("/nothing"), dir.path()).unwrap_err();
    server.omit_length("/a");
    let mut small = fetcher();
    small.max_bytes = Some(10);
    fetch(&small, &server.url("/a"), dir.path()).unwrap_err();
    assert_eq!(entries(dir.path()), Vec::<String>::new());
}

#[test]
fn size_limit_rejects_a_large_content_length_before_reading() {
    let server = HttpServer::start();
    server.put("/big", payload(100_000));
    let dir = tempfile::tempdir().unwrap();
    let mut small = fetcher();
    small.max_bytes = Some(99_999);
    let seen = AtomicU64::new(0);
    let url = server.url("/big");
    let err = small
        .fetch(&url, dir.path(), &|delta| {
            seen.fetch_add(delta, Ordering::Relaxed);
        })
        .unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { limit: 99_999, .. }), "{err:?}");
    chain_naming(&err, &url);
    assert_eq!(seen.load(Ordering::Relaxed), 0);
}

#[test]
fn size_limit_is_enforced_while_streaming_without_content_length() {
    let server = HttpServer::start();
    server.put("/big", payload(300_000));
    server.omit_length("/big");
    let dir = tempfile::tempdir().unwrap();
    let mut small = fetcher();
    small.max_bytes = Some(100_000);
    let seen = AtomicU64::new(0);
    let err = small
        .fetch(&server.url("/big"), dir.path(), &|delta| {
            seen.fetch_add(delta, Ordering::Relaxed);
        })
        .unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { limit: 100_000, .. }), "{err:?}");
    assert!(seen.load(Ordering::Relaxed) <= 100_000);
}

#[test]
fn size_limit_equal_to_the_size_is_accepted() {
    let server = HttpServer::start();
    server.put("/exact", payload(5_000));
    server.omit_length("/exact");
    let dir = tempfile::tempdir().unwrap();
    let mut exact = fetcher();
    exact.max_bytes = Some(5_000);
    assert_eq!(fetch(&exact, &server.url("/exact"), dir.path()).unwrap().size(), 5_000);
}

#[test]
fn size_limit_applies_to_local_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big");
    std::fs::write(&path, payload(2_000)).unwrap();
    let mut small = fetcher();
    small.max_bytes = Some(1_999);
    let err = fetch(&small, &format!("file://{}", path.display()), dir.path()).unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err:?}");
}

#[test]
fn connection_refused_is_an_error_naming_the_url() {
    // Port 1: nothing listens there, and unlike a port freed a moment ago it
    // is never handed out to another test's server running in parallel (that
    // race made this test, and the one whose server got the request, flaky).
    let url = "http://127.0.0.1:1/a".to_owned();
    let dir = tempfile::tempdir().unwrap();
    let err = fetch(&fetcher(), &url, dir.path()).unwrap_err();
    assert!(matches!(err, FetchError::Request { .. }), "{err:?}");
    chain_naming(&err, &url);
    assert_eq!(entries(dir.path()), Vec::<String>::new());
}

#[test]
fn silent_server_times_out_with_an_error_naming_the_url() {
    // The kernel completes the handshake from the backlog; nobody answers.
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let url = format!("http://{}/a", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut impatient = fetcher();
    impatient.timeout = Duration::from_millis(200);
    let err = fetch(&impatient, &url, dir.path()).unwrap_err();
    assert!(matches!(err, FetchError::Request { .. }), "{err:?}");
    let chain = chain_naming(&err, &url);
    assert!(chain.contains("timeout"), "{chain}");
}

#[test]
fn https_to_a_plain_http_server_fails_in_tls_naming_the_url() {
    let server = HttpServer::start();
    server.put("/a", b"x".to_vec());
    let url = server.url("/a").replacen("http://", "https://", 1);
    let dir = tempfile::tempdir().unwrap();
    let mut quick = fetcher();
    quick.timeout = Duration::from_secs(2); // in case the server waits for more of the "request"
    let err = fetch(&quick, &url, dir.path()).unwrap_err();
    assert!(matches!(err, FetchError::Request { .. }), "{err:?}");
    chain_naming(&err, &url);
}

#[test]
fn missing_ca_file_is_an_error_naming_it_and_the_url() {
    let server = HttpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("no-such-bundle.pem");
    let mut custom = fetcher();
    custom.roots = TlsRoots::File(ca.clone());
    let url = server.url("/a");
    let err = fetch(&custom, &url, dir.path()).unwrap_err();
    assert!(matches!(err, FetchError::RootCertificates { .. }), "{err:?}");
    let chain = chain_naming(&err, &url);
    assert!(chain.contains(&ca.display().to_string()), "{chain}");
    assert_eq!(server.requests("/a"), 0);
}

#[test]
fn ca_file_without_certificates_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("empty.pem");
    std::fs::write(&ca, b"not a certificate\n").unwrap();
    let mut custom = fetcher();
    custom.roots = TlsRoots::File(ca);
    let err = fetch(&custom, "https://127.0.0.1:9/a", dir.path()).unwrap_err();
    assert!(error_chain(&err).contains("no PEM certificates"), "{err}");
}
