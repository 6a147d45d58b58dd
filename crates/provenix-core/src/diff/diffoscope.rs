//! Running diffoscope on two inputs: see the parent module's docs.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use provenix_store::nar::unpack;

use super::{DiffError, DiffoscopeOptions, DiffoscopeReport, DiffoscopeStatus, Input, READ_BUF, io_err, open_nofollow};

/// Bytes of diffoscope's stderr kept when it fails.
const STDERR_MAX: usize = 4096;
/// How often a running diffoscope is polled for its exit.
const POLL: Duration = Duration::from_millis(20);

/// Runs diffoscope on the two inputs (see the module docs).
pub(super) fn run(a: &Input, b: &Input, context: usize, d: &DiffoscopeOptions) -> Result<DiffoscopeReport, DiffError> {
    let tmp = tempfile::Builder::new()
        .prefix("provenix-diff-")
        .tempdir()
        .map_err(io_err("creating a temporary directory in", &std::env::temp_dir()))?;
    let path_a = diffoscope_input(a, &tmp.path().join("a"))?;
    let path_b = diffoscope_input(b, &tmp.path().join("b"))?;
    let out = tmp.path().join("diffoscope.txt");
    let err = tmp.path().join("diffoscope.stderr");
    let stderr = File::create(&err).map_err(io_err("creating", &err))?;
    let mut command = std::process::Command::new(&d.program);
    command
        .args(["--no-progress", "--text-color", "never", "--exclude-directory-metadata", "yes", "--text"])
        .arg(&out)
        .arg("--max-text-report-size")
        .arg(d.max_output.to_string())
        .arg("--diff-context")
        .arg(context.to_string())
        .arg("--")
        .arg(&path_a)
        .arg(&path_b)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(stderr);
    // Its own process group, so a timeout kills the tools it runs too.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    tracing::debug!(program = ?d.program, a = %path_a.display(), b = %path_b.display(), "running diffoscope");
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(DiffoscopeReport::status(DiffoscopeStatus::NotFound));
        }
        Err(e) => {
            let mut report = DiffoscopeReport::status(DiffoscopeStatus::Failed);
            report.error = Some(format!("starting {}: {e}", d.program.to_string_lossy()));
            return Ok(report);
        }
    };
    // A timeout too large to add to the clock means none.
    let deadline = Instant::now().checked_add(d.timeout);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if deadline.is_some_and(|deadline| Instant::now() >= deadline) => {
                let pid = rustix::process::Pid::from_child(&child);
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                let _ = child.kill();
                let _ = child.wait();
                return Ok(DiffoscopeReport::status(DiffoscopeStatus::TimedOut));
            }
            Ok(None) => thread::sleep(POLL),
            Err(e) => return Err(io_err("waiting for", Path::new(&d.program))(e)),
        }
    };
    let mut report = DiffoscopeReport::status(DiffoscopeStatus::Ran);
    report.exit_code = status.code();
    if matches!(status.code(), Some(0 | 1)) {
        let (text, truncated) = read_capped(&out, d.max_output)?;
        report.output = Some(text);
        report.truncated = truncated;
    } else {
        report.status = DiffoscopeStatus::Failed;
        let (text, _) = read_capped(&err, STDERR_MAX)?;
        report.error = Some(match status.code() {
            Some(code) => format!("exited with code {code}: {}", text.trim_end()),
            None => format!("killed by a signal: {}", text.trim_end()),
        });
    }
    Ok(report)
}

/// What diffoscope compares for an input: a tree as it is (absolute, so it
/// cannot be read as an option), a NAR unpacked under `dir`.
fn diffoscope_input(input: &Input, dir: &Path) -> Result<PathBuf, DiffError> {
    match input {
        Input::Tree(path) => std::path::absolute(path).map_err(io_err("resolving", path)),
        Input::Nar(path) => {
            std::fs::create_dir(dir).map_err(io_err("creating", dir))?;
            let name = path.file_stem().filter(|s| !s.is_empty()).unwrap_or(std::ffi::OsStr::new("nar"));
            let target = dir.join(name);
            let file = BufReader::with_capacity(READ_BUF, open_nofollow(path)?);
            unpack(file, &target).map_err(|source| DiffError::Unpack { path: path.clone(), source })?;
            Ok(target)
        }
    }
}

/// The first `max` bytes of a file as (lossy) UTF-8, cut at a character
/// boundary, and whether there was more. A missing file reads as empty
/// (diffoscope writes none when there is nothing to say).
fn read_capped(path: &Path, max: usize) -> Result<(String, bool), DiffError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((String::new(), false)),
        Err(e) => return Err(io_err("opening", path)(e)),
    };
    let mut bytes = Vec::new();
    file.take(max as u64 + 1).read_to_end(&mut bytes).map_err(io_err("reading", path))?;
    let truncated = bytes.len() > max;
    bytes.truncate(max);
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if truncated && text.ends_with(char::REPLACEMENT_CHARACTER) {
        // The cut split a character.
        text.pop();
    }
    Ok((text, truncated))
}
