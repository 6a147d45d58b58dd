//! git's smart HTTP protocol for tests: git's own `git http-backend` (a
//! CGI program) behind a minimal HTTP/1.1 front on `127.0.0.1:0`.
//!
//! Each connection gets a thread that reads one request (head, then a body
//! by `Content-Length` or chunked), runs `git http-backend` with the CGI
//! variables it needs (`GIT_PROJECT_ROOT` is the served directory,
//! `GIT_HTTP_EXPORT_ALL` serves every repository below it), feeds it the
//! body, and turns its CGI answer (`Status:` and headers, a blank line, the
//! body) into an HTTP answer with `Connection: close`. Every request is
//! logged as `METHOD path` ([`GitHttpServer::requests`]), so a test can see
//! that the smart protocol was spoken (a `POST …/git-upload-pack`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Largest request body read (a test's fetch negotiation is a few KiB).
const MAX_BODY: usize = 16 << 20;

/// A git smart HTTP server on `127.0.0.1`, stopped when dropped.
pub struct GitHttpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<String>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl GitHttpServer {
    /// Serves the repositories below `root` (`http://ADDR/NAME.git` for `root/NAME.git`).
    pub fn start(root: &Path) -> GitHttpServer {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address of the listener");
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (root, accept_stop, accept_log) = (root.to_path_buf(), Arc::clone(&stop), Arc::clone(&log));
        let acceptor = std::thread::Builder::new()
            .name(format!("git-http-{}", addr.port()))
            .spawn(move || {
                for stream in listener.incoming() {
                    if accept_stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let (root, log) = (root.clone(), Arc::clone(&accept_log));
                    let _ = std::thread::Builder::new().name("git-http-conn".into()).spawn(move || {
                        let _ = serve(stream, &root, &log);
                    });
                }
            })
            .expect("spawn the accept thread");
        GitHttpServer { addr, stop, log, acceptor: Some(acceptor) }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far, as `METHOD path` (query string included).
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)).is_ok()
            && let Some(acceptor) = self.acceptor.take()
        {
            let _ = acceptor.join();
        }
    }
}

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

fn read_request(reader: &mut impl BufRead) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut words = line.split_whitespace();
    let (Some(method), Some(target)) = (words.next(), words.next()) else { return Ok(None) };
    let (method, target) = (method.to_owned(), target.to_owned());
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(bad("head cut short"));
        }
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let mut request = Request { method, target, headers, body: Vec::new() };
    if request.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or_default(), 16)
                .map_err(|_| bad("chunk size"))?;
            if size == 0 {
                // Trailers, up to the blank line.
                while reader.read_line(&mut line)? > 0 && !line.trim().is_empty() {
                    line.clear();
                }
                break;
            }
            if request.body.len() + size > MAX_BODY {
                return Err(bad("body too large"));
            }
            let start = request.body.len();
            request.body.resize(start + size, 0);
            reader.read_exact(&mut request.body[start..])?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf)?;
        }
    } else if let Some(len) = request.header("content-length") {
        let len: usize = len.parse().map_err(|_| bad("content-length"))?;
        if len > MAX_BODY {
            return Err(bad("body too large"));
        }
        request.body.resize(len, 0);
        reader.read_exact(&mut request.body)?;
    }
    Ok(Some(request))
}

fn serve(stream: TcpStream, root: &Path, log: &Mutex<Vec<String>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let Some(request) = read_request(&mut reader)? else { return Ok(()) };
    if let Ok(mut l) = log.lock() {
        l.push(format!("{} {}", request.method, request.target));
    }
    let (path, query) = request.target.split_once('?').unwrap_or((&request.target, ""));
    let mut cmd = Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", PathBuf::from(root))
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("REQUEST_METHOD", &request.method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", request.body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (header, var) in [
        ("content-type", "CONTENT_TYPE"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "GIT_PROTOCOL"),
    ] {
        if let Some(value) = request.header(header) {
            cmd.env(var, value);
        }
    }
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().ok_or_else(|| bad("no stdin"))?;
    let body = request.body;
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let mut cgi = Vec::new();
    child.stdout.take().ok_or_else(|| bad("no stdout"))?.read_to_end(&mut cgi)?;
    let _ = writer.join();
    child.wait()?;

    // The CGI answer: headers, a blank line (CRLF or LF), the body.
    let (head, body) = match (find(&cgi, b"\r\n\r\n"), find(&cgi, b"\n\n")) {
        (Some(i), _) => (&cgi[..i], &cgi[i + 4..]),
        (None, Some(i)) => (&cgi[..i], &cgi[i + 2..]),
        (None, None) => (&cgi[..], &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let mut status = "200 OK".to_owned();
    let mut out = String::new();
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        if name.eq_ignore_ascii_case("status") {
            status = value.trim().to_owned();
        } else {
            out.push_str(&format!("{}: {}\r\n", name.trim(), value.trim()));
        }
    }
    let mut stream = stream;
    write!(stream, "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n{out}\r\n", body.len())?;
    stream.write_all(body)?;
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let o = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"])
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    }

    #[test]
    fn git_clones_over_smart_http() {
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("work");
        std::fs::create_dir(&work).unwrap();
        std::fs::write(work.join("README"), "hello\n").unwrap();
        git(&work, &["init", "-q"]);
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-qm", "one"]);
        git(&work, &["tag", "v1"]);
        let served = tmp.path().join("served");
        std::fs::create_dir(&served).unwrap();
        git(tmp.path(), &["clone", "-q", "--bare", work.to_str().unwrap(), served.join("demo.git").to_str().unwrap()]);
        let server = GitHttpServer::start(&served);
        let clone = tmp.path().join("clone");
        git(
            tmp.path(),
            &["clone", "-q", "--depth", "1", "--branch", "v1", &server.url("/demo.git"), clone.to_str().unwrap()],
        );
        assert_eq!(std::fs::read_to_string(clone.join("README")).unwrap(), "hello\n");
        let requests = server.requests();
        assert!(requests.iter().any(|r| r == "GET /demo.git/info/refs?service=git-upload-pack"), "{requests:?}");
        assert!(requests.iter().any(|r| r == "POST /demo.git/git-upload-pack"), "{requests:?}");
    }
}
