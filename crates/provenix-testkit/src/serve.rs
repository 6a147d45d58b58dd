//! A `provenix serve` process for tests that talk HTTP to the real server.
//!
//! [`ServeProcess::start`] runs the command it is given (a `provenix … serve
//! --listen 127.0.0.1:0 …` command line, built by the test, which knows the
//! binary), reads the URL from the server's first line on stderr
//! (`provenix serve: listening on URL`) and drains the rest of stderr in a
//! thread: the server writes more later (its role, errors), and a closed pipe
//! would make those writes fail. The process is killed (SIGKILL) and reaped
//! when the value is dropped, whether the test passed or not.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStderr, Command, Stdio};

/// A running `provenix serve`, killed by its PID when dropped.
pub struct ServeProcess {
    child: Child,
    url: String,
}

impl ServeProcess {
    /// Starts `command` and waits for the line naming its URL; the rest of stderr is drained.
    pub fn start(command: Command) -> ServeProcess {
        let (server, stderr) = ServeProcess::start_reading(command);
        ServeProcess::drain(stderr);
        server
    }

    /// Reads the rest of a server's stderr in a thread, discarding it.
    pub fn drain(mut stderr: BufReader<ChildStderr>) {
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    }

    /// Like [`ServeProcess::start`], but hands the rest of stderr to the test, which must keep
    /// reading it, or hand it to [`ServeProcess::drain`], so that the server's writes do not fail.
    pub fn start_reading(mut command: Command) -> (ServeProcess, BufReader<ChildStderr>) {
        let mut child = command.stderr(Stdio::piped()).spawn().expect("starting provenix serve");
        let mut stderr = BufReader::new(child.stderr.take().expect("a piped stderr"));
        let mut line = String::new();
        stderr.read_line(&mut line).expect("reading the server's first line");
        let Some(url) = line.trim().strip_prefix("provenix serve: listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("provenix serve did not say where it listens: {line:?}");
        };
        assert!(url.starts_with("http://127.0.0.1:"), "{line}");
        (ServeProcess { url: url.to_owned(), child }, stderr)
    }

    /// The server's base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Kills the server with SIGKILL (nothing flushed, as a crash) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
