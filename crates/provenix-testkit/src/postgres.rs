//! A throwaway PostgreSQL cluster for tests: `initdb` into a temp dir, the
//! server on 127.0.0.1 and a free port, stopped by PID on drop.
//!
//! Debian's `postgresql` package installs the binaries under
//! `/usr/lib/postgresql/<version>/bin`; the newest version found is used.
//! PostgreSQL refuses to run as root, so when the tests run as root the
//! cluster belongs to the unprivileged `postgres` user the package creates
//! (the commands run with that uid and gid). Missing PostgreSQL fails the
//! test with a message saying to run `scripts/install-deps.sh`: these tests
//! never skip silently.

use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running cluster; dropping it stops the server and removes its files.
pub struct TempPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    server: Option<Child>,
    owner: Option<(u32, u32)>,
    fsync: bool,
}

/// The newest `/usr/lib/postgresql/*/bin` holding `initdb` and `postgres`.
pub fn find_bin_dir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file()).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// Uid and gid of the `postgres` user, from `/etc/passwd`.
fn postgres_user() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|l| l.starts_with("postgres:"))?;
    let mut fields = line.split(':').skip(2);
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl TempPostgres {
    /// Starts a new cluster with `fsync` off (tests need no durability
    /// across power loss; a process crash loses nothing either way).
    pub fn start() -> TempPostgres {
        TempPostgres::start_with(false)
    }

    /// Starts a new cluster; `fsync` as in `postgresql.conf` (on for benchmarks).
    pub fn start_with(fsync: bool) -> TempPostgres {
        let bin = find_bin_dir().unwrap_or_else(|| {
            panic!(
                "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run scripts/install-deps.sh \
                 (Debian package `postgresql`)"
            )
        });
        let owner = if running_as_root() {
            Some(postgres_user().unwrap_or_else(|| {
                panic!(
                    "running as root and there is no `postgres` user to run PostgreSQL as: run scripts/install-deps.sh"
                )
            }))
        } else {
            None
        };
        let dir = tempfile::Builder::new().prefix("provenix-pg").tempdir().expect("temp dir");
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown the cluster dir to postgres");
        }
        let mut pg = TempPostgres { bin, dir, port: 0, server: None, owner, fsync };
        let out = pg
            .command("initdb")
            .args(["--auth=trust", "--username=postgres", "--encoding=UTF8", "--locale=C", "--no-sync"])
            .arg("-D")
            .arg(pg.data_dir())
            .output()
            .expect("running initdb");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        // The port is free when asked; another process may take it before the
        // server binds, so a failed start tries another.
        for _ in 0..5 {
            if pg.try_start() {
                return pg;
            }
        }
        panic!("PostgreSQL did not start; its log:\n{}", std::fs::read_to_string(pg.log_path()).unwrap_or_default());
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        cmd.current_dir(self.dir.path()).env("LC_ALL", "C").stdin(Stdio::null());
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn try_start(&mut self) -> bool {
        let port = free_port();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).expect("log file");
        let fsync = if self.fsync { "on" } else { "off" };
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-c", &format!("fsync={fsync}")])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.dir.path().display()))
            .args(["-c", "max_connections=100", "-c", "shared_buffers=32MB"])
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("starting postgres");
        self.server = Some(child);
        self.port = port;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(child) = self.server.as_mut() {
                if child.try_wait().ok().flatten().is_some() {
                    self.server = None;
                    return false;
                }
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.stop();
        false
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name` (`postgres` always exists).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs `sql` with `psql` against database `db`, returning its unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres"])
            .args(["-p", &self.port.to_string(), "-d", db, "-c", sql])
            .stdin(Stdio::null())
            .output()
            .expect("running psql");
        assert!(out.status.success(), "psql `{sql}` failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Creates an empty database and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        self.url(name)
    }

    /// The cluster's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the server by its PID: SIGINT (fast shutdown: disconnect clients, checkpoint), then wait.
    fn stop(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = Command::new("kill").args(["-QUIT", &child.id().to_string()]).status();
            let _ = child.wait();
        }
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_a_cluster_that_answers_sql_and_stops_on_drop() {
        let pg = TempPostgres::start();
        let url = pg.create_database("t1");
        assert!(url.ends_with("/t1"));
        assert_eq!(pg.psql("t1", "SELECT 40 + 2"), "42");
        let dir = pg.dir().to_owned();
        let pid: u32 =
            std::fs::read_to_string(dir.join("data/postmaster.pid")).unwrap().lines().next().unwrap().parse().unwrap();
        drop(pg);
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "the server process is gone");
        assert!(!dir.exists(), "the cluster's files are removed");
    }
}
