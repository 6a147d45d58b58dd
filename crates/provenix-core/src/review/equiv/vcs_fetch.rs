//! Fetching the VCS tree of a release with the system `git` (`verify
//! --vcs-fetch`): the tag that matches the version, shallow, into a temp
//! dir that is removed afterwards, bounded in time and size.
//!
//! 1. `git ls-remote --tags URL` lists the tags (an unreachable repository
//!    fails here);
//! 2. the first of the usual spellings that exists is taken: `v1.2.3`,
//!    `1.2.3`, `name-1.2.3`, `NAME_1_2_3` (each checked to normalise back to
//!    the version with the rule vulns uses for tags), or the ref given;
//! 3. `git fetch --depth 1` of that tag into a bare repository, then `git
//!    archive` of it into a tar file that [`super::read_tree`] reads.
//!
//! Every git process runs with a deadline and, for the fetch, a cap on the
//! bytes written to the temp dir; past either it is killed. No credential
//! prompt is ever shown (`GIT_TERMINAL_PROMPT=0`), and the user's and
//! system's git configuration are ignored.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::vulndb::rules::normalize_tag;

/// Bounds on a fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// The git program.
    pub git: PathBuf,
    /// Deadline for each git command.
    pub timeout: Duration,
    /// Most bytes a fetch may write (objects and the archive).
    pub max_bytes: u64,
    /// Where the temp dir is made.
    pub temp_dir: PathBuf,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            git: PathBuf::from("git"),
            timeout: Duration::from_secs(120),
            max_bytes: 2 << 30,
            temp_dir: std::env::temp_dir(),
        }
    }
}

/// A fetched tree: a tar file in a temp dir removed when this is dropped.
#[derive(Debug)]
pub struct FetchedTree {
    dir: tempfile::TempDir,
    /// The repository URL.
    pub url: String,
    /// The tag (or ref) fetched.
    pub tag: String,
}

impl FetchedTree {
    /// The `git archive` tar of the tag.
    pub fn archive(&self) -> PathBuf {
        self.dir.path().join("tree.tar")
    }
}

/// Why a fetch gave nothing; the message names the URL and the tags tried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchFailure {
    /// The repository could not be listed or fetched.
    #[error("{url}: {detail}")]
    Unreachable {
        /// The repository.
        url: String,
        /// What git said, or why it was stopped.
        detail: String,
    },
    /// None of the tags exists.
    #[error("{url}: no tag {} for version {version}", tried.join(", "))]
    NoTag {
        /// The repository.
        url: String,
        /// The version.
        version: String,
        /// The tags looked for.
        tried: Vec<String>,
    },
}

/// The tag spellings tried for `name` at `version`, in order.
pub fn tag_candidates(name: &str, version: &str) -> Vec<String> {
    let upper = format!("{}_{}", name.to_uppercase().replace('-', "_"), version.replace('.', "_"));
    let mut out = Vec::new();
    for tag in [format!("v{version}"), version.to_owned(), format!("{name}-{version}"), upper] {
        if normalize_tag(&tag, &[name]) == version && !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}

/// Fetches the tree of `url` at the tag for `version` (or at `git_ref` when given).
pub fn fetch_tag(
    url: &str,
    name: &str,
    version: &str,
    git_ref: Option<&str>,
    options: &FetchOptions,
) -> Result<FetchedTree, FetchFailure> {
    let unreachable = |detail: String| FetchFailure::Unreachable { url: url.to_owned(), detail };
    let dir = tempfile::Builder::new()
        .prefix("provenix-vcs-")
        .tempdir_in(&options.temp_dir)
        .map_err(|e| unreachable(format!("making a temp dir in {}: {e}", options.temp_dir.display())))?;
    let repo = dir.path().join("repo.git");
    let git = |args: &[&str]| -> Command {
        let mut cmd = Command::new(&options.git);
        cmd.arg("-c").arg("protocol.file.allow=always").args(args);
        cmd.env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("HOME", dir.path())
            .stdin(Stdio::null());
        cmd
    };

    let tried = match git_ref {
        Some(r) => vec![r.to_owned()],
        None => tag_candidates(name, version),
    };
    let listed = run(git(&["ls-remote", "--tags", "--", url]), dir.path(), options)
        .map_err(|e| unreachable(format!("listing its tags (for {}): {e}", tried.join(", "))))?;
    let tags: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.split('\t').nth(1))
        .filter_map(|r| r.strip_prefix("refs/tags/"))
        .filter(|r| !r.ends_with("^{}"))
        .collect();
    let Some(tag) = tried.iter().find(|t| tags.contains(&t.as_str()) || git_ref.is_some()) else {
        return Err(FetchFailure::NoTag { url: url.to_owned(), version: version.to_owned(), tried });
    };
    let repo_s = repo.to_string_lossy().into_owned();
    run(git(&["init", "-q", "--bare", &repo_s]), dir.path(), options).map_err(unreachable)?;
    let refspec = if tags.contains(&tag.as_str()) {
        format!("refs/tags/{tag}:refs/provenix")
    } else {
        format!("{tag}:refs/provenix")
    };
    run(git(&["-C", &repo_s, "fetch", "-q", "--depth", "1", "--no-tags", "--", url, &refspec]), dir.path(), options)
        .map_err(|e| unreachable(format!("fetching {tag}: {e}")))?;
    let tar = dir.path().join("tree.tar");
    let tar_s = tar.to_string_lossy().into_owned();
    run(git(&["-C", &repo_s, "archive", "--format=tar", "-o", &tar_s, "refs/provenix"]), dir.path(), options)
        .map_err(|e| unreachable(format!("archiving {tag}: {e}")))?;
    Ok(FetchedTree { dir, url: url.to_owned(), tag: tag.clone() })
}

/// Runs `cmd` to the end within the deadline and the byte cap on `dir`; its stdout, or why not.
fn run(mut cmd: Command, dir: &Path, options: &FetchOptions) -> Result<String, String> {
    let out_file = tempfile::tempfile_in(dir).map_err(|e| format!("temp file: {e}"))?;
    let err_file = tempfile::tempfile_in(dir).map_err(|e| format!("temp file: {e}"))?;
    let (mut out_read, mut err_read) =
        (out_file.try_clone().map_err(|e| e.to_string())?, err_file.try_clone().map_err(|e| e.to_string())?);
    let mut child =
        cmd.stdout(out_file).stderr(err_file).spawn().map_err(|e| format!("running {}: {e}", options.git.display()))?;
    let start = Instant::now();
    let mut polls = 0u32;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(format!("waiting for git: {e}")),
        }
        if start.elapsed() > options.timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("stopped after {} s (the time limit)", options.timeout.as_secs()));
        }
        polls += 1;
        if polls % 10 == 0 && dir_size(dir) > options.max_bytes {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("stopped past {} bytes (the size limit)", options.max_bytes));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    use std::io::{Read as _, Seek as _};
    let mut stdout = String::new();
    let mut stderr = String::new();
    let _ = out_read.rewind().map(|_| out_read.read_to_string(&mut stdout));
    let _ = err_read.rewind().map(|_| (&mut err_read).take(4096).read_to_string(&mut stderr));
    if !status.success() {
        let said = stderr.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("no message").trim().to_owned();
        return Err(format!("git failed ({status}): {said}"));
    }
    Ok(stdout)
}

/// Bytes of the regular files under `dir` (an explicit stack; symlinks not followed).
fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// The repository of a forge release or snapshot URL (`https://github.com/o/r/releases/...` →
/// `https://github.com/o/r`), for GitHub, GitLab, Codeberg and SourceHut.
pub fn repo_from_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let mut parts = rest.split('/');
    let host = parts.next()?;
    if !matches!(host, "github.com" | "gitlab.com" | "codeberg.org" | "git.sr.ht") {
        return None;
    }
    let (owner, repo) = (parts.next()?, parts.next()?);
    if owner.is_empty() || repo.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{host}/{owner}/{}", repo.strip_suffix(".git").unwrap_or(repo)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_spellings_follow_the_usual_conventions() {
        assert_eq!(tag_candidates("xz", "5.6.1"), ["v5.6.1", "5.6.1", "xz-5.6.1", "XZ_5_6_1"]);
        assert_eq!(tag_candidates("curl", "8.4.0"), ["v8.4.0", "8.4.0", "curl-8.4.0", "CURL_8_4_0"]);
    }

    #[test]
    fn forge_urls_name_their_repository() {
        assert_eq!(
            repo_from_url("https://github.com/tukaani-project/xz/releases/download/v5.6.1/xz-5.6.1.tar.gz").as_deref(),
            Some("https://github.com/tukaani-project/xz")
        );
        assert_eq!(repo_from_url("https://example.org/xz-5.6.1.tar.gz"), None);
    }
}
