//! A small HTTP/1.1 server for tests that download, started in-process.
//!
//! [`HttpServer::start`] binds `127.0.0.1:0`, so the kernel picks a free port
//! and there is no race with other tests. One thread accepts; each connection
//! gets its own thread, answers one request and closes (`Connection: close`).
//!
//! What is served can change while the server runs: [`HttpServer::put`],
//! [`HttpServer::remove`], [`HttpServer::redirect`] and [`HttpServer::status`]
//! set a path's answer, and the fault switches make a download go wrong in a
//! chosen way:
//! - [`HttpServer::fail_once_after`]: the next GET sends full headers but
//!   closes after `n` body bytes, to test resuming;
//! - [`HttpServer::ignore_range`]: `Range` requests get the whole body with
//!   200, like servers that do not support ranges;
//! - [`HttpServer::omit_length`]: no `Content-Length`, the body ends when the
//!   connection closes, so the client learns the size only at the end;
//! - [`HttpServer::endless`]: 200 without `Content-Length` and a body that
//!   never ends (until the client goes away);
//! - [`HttpServer::drip`]: the body one byte at a time with a pause between
//!   bytes, so every read succeeds but the download takes forever.
//!
//! Only `GET` and `HEAD` are understood, and of `Range` only the single
//! forms `bytes=N-` and `bytes=N-M`. Unknown paths get 404, other methods 405.
//! Every request is logged with its `Range` header, see
//! [`HttpServer::requests`] and [`HttpServer::ranges`].

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// Longest request head (request line and headers) the server reads.
const MAX_HEAD: u64 = 16 * 1024;

/// How long a connection thread waits on a silent client.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP/1.1 server on `127.0.0.1`, stopped when dropped.
pub struct HttpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    stop: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Route>,
    /// Path → body bytes to send before closing, used by the next GET.
    fail_once: HashMap<String, usize>,
    ignore_range: HashSet<String>,
    omit_length: HashSet<String>,
    drip: HashMap<String, Duration>,
    log: Vec<Logged>,
}

#[derive(Clone)]
enum Route {
    Body(Arc<Vec<u8>>),
    Redirect(String),
    Status(u16),
    Endless,
}

struct Logged {
    path: String,
    range: Option<String>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A connection thread that panicked cannot leave the state half
        // changed (every change is one insert or push), so poison is harmless.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl HttpServer {
    /// Binds `127.0.0.1:0` and starts accepting; nothing is served yet.
    pub fn start() -> HttpServer {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address of the listener");
        let shared = Arc::new(Shared { stop: AtomicBool::new(false), state: Mutex::default() });
        let accept_shared = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name(format!("http-test-server-{}", addr.port()))
            .spawn(move || accept_loop(&listener, &accept_shared))
            .expect("spawn the accept thread");
        HttpServer { addr, shared, acceptor: Some(acceptor) }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/path` (a leading `/` is added if missing).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, normalise(path))
    }

    /// Serves `body` at `path` from now on (replacing what was there).
    pub fn put(&self, path: &str, body: Vec<u8>) {
        self.shared.state().routes.insert(normalise(path), Route::Body(Arc::new(body)));
    }

    /// Stops serving `path`: it gets 404 again.
    pub fn remove(&self, path: &str) {
        self.shared.state().routes.remove(&normalise(path));
    }

    /// Answers `from` with `302 Found` and `Location: to`, sent as given
    /// (a path or a full URL).
    pub fn redirect(&self, from: &str, to: &str) {
        self.shared.state().routes.insert(normalise(from), Route::Redirect(to.to_owned()));
    }

    /// Answers `path` with status `code` and a short text body.
    pub fn status(&self, path: &str, code: u16) {
        self.shared.state().routes.insert(normalise(path), Route::Status(code));
    }

    /// The next GET of `path` sends the usual headers, with the full
    /// `Content-Length`, then only `n_bytes` of the body, and closes.
    pub fn fail_once_after(&self, path: &str, n_bytes: usize) {
        self.shared.state().fail_once.insert(normalise(path), n_bytes);
    }

    /// From now on `path` ignores `Range` headers and answers 200 with the
    /// whole body.
    pub fn ignore_range(&self, path: &str) {
        self.shared.state().ignore_range.insert(normalise(path));
    }

    /// From now on `path` is sent without `Content-Length`, ending when the
    /// connection closes.
    pub fn omit_length(&self, path: &str) {
        self.shared.state().omit_length.insert(normalise(path));
    }

    /// From now on `path` answers 200 without `Content-Length` and sends
    /// zeros until the client closes the connection.
    pub fn endless(&self, path: &str) {
        self.shared.state().routes.insert(normalise(path), Route::Endless);
    }

    /// From now on the body of `path` is sent one byte at a time, `pause`
    /// apart (headers at once, with the full `Content-Length`).
    pub fn drip(&self, path: &str, pause: Duration) {
        self.shared.state().drip.insert(normalise(path), pause);
    }

    /// How many requests (any method) for `path` arrived so far.
    pub fn requests(&self, path: &str) -> usize {
        let path = normalise(path);
        self.shared.state().log.iter().filter(|l| l.path == path).count()
    }

    /// The `Range` header of each request for `path`, in arrival order
    /// (`None` where there was none).
    pub fn ranges(&self, path: &str) -> Vec<Option<String>> {
        let path = normalise(path);
        self.shared.state().log.iter().filter(|l| l.path == path).map(|l| l.range.clone()).collect()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept with a connection of our own. Should that
        // fail, the thread is left to exit with the process instead of
        // hanging the test in join.
        if TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)).is_ok()
            && let Some(acceptor) = self.acceptor.take()
        {
            let _ = acceptor.join();
        }
    }
}

fn normalise(path: &str) -> String {
    if path.starts_with('/') { path.to_owned() } else { format!("/{path}") }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let shared = Arc::clone(shared);
        // A connection that fails to get a thread is dropped; the client sees
        // it closed, as it would with an overloaded server.
        let _ = std::thread::Builder::new().name("http-test-conn".to_owned()).spawn(move || {
            let _ = serve(stream, &shared);
        });
    }
}

/// A parsed request head.
struct Request {
    method: String,
    path: String,
    range: Option<String>,
}

fn read_request(stream: &TcpStream) -> std::io::Result<Option<Request>> {
    let mut reader = BufReader::new(stream.take(MAX_HEAD));
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None); // the Drop wake-up, or a client that gave up
    }
    let mut words = line.split_whitespace();
    let (Some(method), Some(path)) = (words.next(), words.next()) else { return Ok(None) };
    let (method, path) = (method.to_owned(), path.to_owned());
    let mut range = None;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None); // head cut short or too long
        }
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_owned());
        }
    }
    Ok(Some(Request { method, path, range }))
}

/// What to send: status, extra headers, body, and how much of the body to
/// send before closing.
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Arc<Vec<u8>>,
    cut_after: Option<usize>,
    endless: bool,
}

fn serve(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let Some(request) = read_request(&stream)? else { return Ok(()) };
    let (answer, omit_length, drip) = {
        let mut state = shared.state();
        state.log.push(Logged { path: request.path.clone(), range: request.range.clone() });
        let drip = state.drip.get(&request.path).copied();
        (answer(&mut state, &request), state.omit_length.contains(&request.path), drip)
    };
    let content = answer.body.as_slice();
    let mut head = format!("HTTP/1.1 {} {}\r\nConnection: close\r\n", answer.status, reason(answer.status));
    if !omit_length && !answer.endless {
        head.push_str(&format!("Content-Length: {}\r\n", content.len()));
    }
    for (name, value) in &answer.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if request.method != "HEAD" {
        let sent = answer.cut_after.map_or(content, |n| content.get(..n).unwrap_or(content));
        if answer.endless {
            // Ends with an error once the client has gone away.
            let zeros = vec![0u8; 64 * 1024];
            while !shared.stop.load(Ordering::SeqCst) {
                stream.write_all(&zeros)?;
            }
        } else if let Some(pause) = drip {
            for byte in sent.chunks(1) {
                stream.write_all(byte)?;
                stream.flush()?;
                std::thread::sleep(pause);
            }
        } else {
            stream.write_all(sent)?;
        }
    }
    stream.flush()?;
    // Half-close first so the client reads what was sent, then EOF.
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

fn answer(state: &mut State, request: &Request) -> Answer {
    let plain = |status: u16, headers: Vec<(&'static str, String)>| Answer {
        status,
        headers,
        body: Arc::new(format!("{status} {}\n", reason(status)).into_bytes()),
        cut_after: None,
        endless: false,
    };
    if request.method != "GET" && request.method != "HEAD" {
        return plain(405, vec![("Allow", "GET, HEAD".to_owned())]);
    }
    let Some(route) = state.routes.get(&request.path).cloned() else { return plain(404, vec![]) };
    let body = match route {
        Route::Redirect(to) => return plain(302, vec![("Location", to)]),
        Route::Status(code) => return plain(code, vec![]),
        Route::Endless => return Answer { endless: true, ..plain(200, vec![]) },
        Route::Body(body) => body,
    };
    let len = body.len();
    let mut answer = Answer { status: 200, headers: vec![], body, cut_after: None, endless: false };
    let range = request.range.as_deref().filter(|_| !state.ignore_range.contains(&request.path));
    match range.map(|r| parse_range(r, len)) {
        None | Some(RangeAsk::Ignore) => {}
        Some(RangeAsk::Unsatisfiable) => {
            return plain(416, vec![("Content-Range", format!("bytes */{len}"))]);
        }
        Some(RangeAsk::Bytes(first, last)) => {
            answer.status = 206;
            answer.headers.push(("Content-Range", format!("bytes {first}-{last}/{len}")));
            answer.body = Arc::new(answer.body.get(first..=last).unwrap_or_default().to_vec());
        }
    }
    if request.method == "GET" {
        answer.cut_after = state.fail_once.remove(&request.path);
    }
    answer.headers.push(("Accept-Ranges", "bytes".to_owned()));
    answer
}

enum RangeAsk {
    /// Not a form we understand: serve the whole body, as servers do.
    Ignore,
    Unsatisfiable,
    /// First and last byte, inclusive.
    Bytes(usize, usize),
}

fn parse_range(value: &str, len: usize) -> RangeAsk {
    let Some(spec) = value.strip_prefix("bytes=") else { return RangeAsk::Ignore };
    let Some((first, last)) = spec.split_once('-') else { return RangeAsk::Ignore };
    let Ok(first) = first.trim().parse::<usize>() else { return RangeAsk::Ignore };
    let last = match last.trim() {
        "" => len.saturating_sub(1),
        text => match text.parse::<usize>() {
            Ok(last) if last >= first => last.min(len.saturating_sub(1)),
            _ => return RangeAsk::Ignore,
        },
    };
    if first >= len { RangeAsk::Unsatisfiable } else { RangeAsk::Bytes(first, last) }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends a raw request, returns the whole answer as text (lossy).
    fn exchange(server: &HttpServer, request: &str) -> String {
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    }

    fn get(server: &HttpServer, path: &str, extra: &str) -> String {
        exchange(server, &format!("GET {path} HTTP/1.1\r\nHost: test\r\n{extra}\r\n"))
    }

    #[test]
    fn serves_put_bytes_with_content_length() {
        let server = HttpServer::start();
        server.put("/a.txt", b"hello".to_vec());
        let answer = get(&server, "/a.txt", "");
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains("Content-Length: 5\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\nhello"), "{answer}");
        assert_eq!(server.url("a.txt"), format!("http://{}/a.txt", server.addr()));
    }

    #[test]
    fn answers_unknown_and_removed_paths_with_404() {
        let server = HttpServer::start();
        assert!(get(&server, "/nothing", "").starts_with("HTTP/1.1 404 "));
        server.put("/gone", b"x".to_vec());
        server.remove("/gone");
        assert!(get(&server, "/gone", "").starts_with("HTTP/1.1 404 "));
    }

    #[test]
    fn head_sends_headers_without_body() {
        let server = HttpServer::start();
        server.put("/a", b"0123456789".to_vec());
        let answer = exchange(&server, "HEAD /a HTTP/1.1\r\nHost: test\r\n\r\n");
        assert!(answer.contains("Content-Length: 10\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\n"), "{answer}");
    }

    #[test]
    fn range_from_offset_gets_206_with_content_range() {
        let server = HttpServer::start();
        server.put("/a", b"0123456789".to_vec());
        let answer = get(&server, "/a", "Range: bytes=4-\r\n");
        assert!(answer.starts_with("HTTP/1.1 206 "), "{answer}");
        assert!(answer.contains("Content-Range: bytes 4-9/10\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\n456789"), "{answer}");
        let past_end = get(&server, "/a", "Range: bytes=10-\r\n");
        assert!(past_end.starts_with("HTTP/1.1 416 "), "{past_end}");
        assert_eq!(server.ranges("/a"), [Some("bytes=4-".to_owned()), Some("bytes=10-".to_owned())]);
    }

    #[test]
    fn ignore_range_serves_the_whole_body_with_200() {
        let server = HttpServer::start();
        server.put("/a", b"0123456789".to_vec());
        server.ignore_range("/a");
        let answer = get(&server, "/a", "Range: bytes=4-\r\n");
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
        assert!(answer.ends_with("\r\n\r\n0123456789"), "{answer}");
    }

    #[test]
    fn fail_once_cuts_the_next_get_only() {
        let server = HttpServer::start();
        server.put("/a", b"0123456789".to_vec());
        server.fail_once_after("/a", 3);
        let cut = get(&server, "/a", "");
        assert!(cut.contains("Content-Length: 10\r\n"), "{cut}");
        assert!(cut.ends_with("\r\n\r\n012"), "{cut}");
        assert!(get(&server, "/a", "").ends_with("\r\n\r\n0123456789"));
        assert_eq!(server.requests("/a"), 2);
    }

    #[test]
    fn omit_length_sends_no_content_length() {
        let server = HttpServer::start();
        server.put("/a", b"0123456789".to_vec());
        server.omit_length("/a");
        let answer = get(&server, "/a", "");
        assert!(!answer.contains("Content-Length"), "{answer}");
        assert!(answer.ends_with("\r\n\r\n0123456789"), "{answer}");
    }

    #[test]
    fn endless_sends_more_than_any_limit_without_a_length() {
        let server = HttpServer::start();
        server.endless("/forever");
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream.write_all(b"GET /forever HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
        let mut got = vec![0u8; 1 << 20];
        stream.read_exact(&mut got).unwrap();
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 200 "), "{text:.80}");
        assert!(!text.contains("Content-Length"), "{text:.200}");
    }

    #[test]
    fn drip_sends_the_body_a_byte_at_a_time() {
        let server = HttpServer::start();
        server.put("/slow", b"abc".to_vec());
        server.drip("/slow", Duration::from_millis(20));
        let answer = get(&server, "/slow", "");
        assert!(answer.contains("Content-Length: 3\r\n") && answer.ends_with("\r\n\r\nabc"), "{answer}");
    }

    #[test]
    fn redirect_and_status_answer_as_set() {
        let server = HttpServer::start();
        server.redirect("/old", "/new");
        let moved = get(&server, "/old", "");
        assert!(moved.starts_with("HTTP/1.1 302 "), "{moved}");
        assert!(moved.contains("Location: /new\r\n"), "{moved}");
        server.status("/broken", 503);
        assert!(get(&server, "/broken", "").starts_with("HTTP/1.1 503 "));
    }

    #[test]
    fn content_can_change_while_running() {
        let server = HttpServer::start();
        server.put("/a", b"one".to_vec());
        assert!(get(&server, "/a", "").ends_with("one"));
        server.put("/a", b"two".to_vec());
        assert!(get(&server, "/a", "").ends_with("two"));
    }

    #[test]
    fn refuses_connections_once_dropped() {
        let server = HttpServer::start();
        let addr = server.addr();
        drop(server);
        assert!(TcpStream::connect(addr).is_err());
    }
}
