//! Is this machine's Nix able to rebuild in its sandbox? The checks behind
//! `provenix doctor` and the ones `provenix rebuild` runs before it imports
//! anything.
//!
//! The settings are Nix's *effective* ones: `nix show-config --json` run with
//! the same environment (`NIX_CONF_DIR`, `NIX_CONFIG`, `nix.conf`) and the same
//! `--option`s the rebuild passes, so whatever their source they are seen as
//! Nix will use them. Each check gives a [`Status`], a one-line summary and,
//! when something is wrong, the fix: the setting to change, the line to add,
//! and what the choice means for isolation.
//!
//! What a sandboxed build on Linux needs (Nix 2.8):
//! - `sandbox = true` (forced by rebuild) and a kernel that grants the mount,
//!   PID, IPC, UTS and network namespaces (checked with `unshare`); user
//!   namespaces are used when available;
//! - `build-users-group` naming an existing group with members, or set empty
//!   on purpose (then builds run as the user running Nix, root here, and a
//!   build can write to its inputs);
//! - every builder outside the store (`/bin/sh` in hand-written derivations)
//!   bound into the sandbox by `sandbox-paths`, statically linked, since
//!   nothing else of the host is there;
//! - `unshare --net`, which rebuild wraps around the build.
//!
//! Cost: a handful of short child processes (`nix show-config`, `unshare`,
//! `getent`), well under a second.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::Serialize;
use serde_json::Value;

/// The settings recorded in rebuild attestations and shown by `doctor`:
/// those that decide what a build can see and reach.
pub const SANDBOX_SETTINGS: &[&str] = &[
    "sandbox",
    "sandbox-fallback",
    "sandbox-paths",
    "build-users-group",
    "substituters",
    "builders",
    "filter-syscalls",
    "allow-new-privileges",
    "allowed-impure-host-deps",
    "pre-build-hook",
    "system",
];

/// How a check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Present and usable.
    Ok,
    /// Usable, with a caveat worth knowing (e.g. weaker isolation).
    Warn,
    /// Missing or broken: a command that needs it fails.
    Fail,
    /// For information only (development tools).
    Info,
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    /// Stable name: `nix`, `sandbox`, `build-users`, `sandbox-shell`, `network-isolation`, ...
    pub name: &'static str,
    /// The outcome.
    pub status: Status,
    /// What was found.
    pub summary: String,
    /// What to do about it, when something is wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn new(name: &'static str, status: Status, summary: impl Into<String>, fix: Option<String>) -> Check {
        Check { name, status, summary: summary.into(), fix }
    }
}

/// Nix's effective configuration, from `nix show-config --json`.
#[derive(Debug, Clone, Default)]
pub struct NixSettings {
    values: BTreeMap<String, Value>,
}

impl NixSettings {
    /// Reads the effective settings with `options` (`--option NAME VALUE`) applied.
    pub fn load(options: &[(String, String)]) -> Result<NixSettings, String> {
        let out = Command::new("nix")
            .args(["--extra-experimental-features", "nix-command", "show-config", "--json"])
            .args(options.iter().flat_map(|(n, v)| ["--option", n.as_str(), v.as_str()]))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run `nix show-config` (is Nix installed?): {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`nix show-config` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let all: BTreeMap<String, Value> = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("`nix show-config --json` printed something else: {e}"))?;
        let values = all.into_iter().filter_map(|(k, v)| Some((k, v.get("value")?.clone()))).collect();
        Ok(NixSettings { values })
    }

    /// Settings from name-value pairs (for tests and for callers that know them).
    pub fn from_values(values: BTreeMap<String, Value>) -> NixSettings {
        NixSettings { values }
    }

    /// One setting's value.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// A setting as text: strings as they are, lists joined by spaces.
    pub fn text(&self, name: &str) -> Option<String> {
        Some(match self.get(name)? {
            Value::String(s) => s.clone(),
            Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join(" "),
            other => other.to_string(),
        })
    }

    /// The [`SANDBOX_SETTINGS`] that Nix reported.
    pub fn sandbox_settings(&self) -> BTreeMap<String, Value> {
        SANDBOX_SETTINGS.iter().filter_map(|n| Some(((*n).to_owned(), self.get(n)?.clone()))).collect()
    }

    /// `sandbox-paths` entries as (path inside the sandbox, host path, optional).
    pub fn sandbox_paths(&self) -> Vec<SandboxPath> {
        let items: Vec<String> = match self.get("sandbox-paths") {
            Some(Value::Array(items)) => items.iter().map(value_text).collect(),
            Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        items.iter().map(|item| SandboxPath::parse(item)).collect()
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One `sandbox-paths` entry: `TARGET=SOURCE`, or `PATH` for both, with a
/// trailing `?` when a missing source is not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPath {
    /// Where it appears inside the sandbox.
    pub target: String,
    /// What it is on the host.
    pub source: String,
    /// Missing sources are skipped rather than fatal.
    pub optional: bool,
}

impl SandboxPath {
    /// Parses an entry as Nix does.
    pub fn parse(item: &str) -> SandboxPath {
        let (item, optional) = match item.strip_suffix('?') {
            Some(rest) => (rest, true),
            None => (item, false),
        };
        let (target, source) = item.split_once('=').unwrap_or((item, item));
        SandboxPath { target: target.to_owned(), source: source.to_owned(), optional }
    }

    /// The host file that appears as `path` in the sandbox through this entry, if any.
    pub fn host_path_of(&self, path: &str) -> Option<String> {
        if path == self.target {
            return Some(self.source.clone());
        }
        let rest = path.strip_prefix(self.target.trim_end_matches('/'))?.strip_prefix('/')?;
        Some(format!("{}/{rest}", self.source.trim_end_matches('/')))
    }
}

/// The checks a rebuild needs to pass before it imports anything, run with
/// the options the rebuild will pass to Nix. `host_builders` are the
/// builders outside the store the bundle's derivations run (`/bin/sh`).
pub fn rebuild_checks(settings: &NixSettings, host_builders: &[String]) -> Vec<Check> {
    vec![
        nix_check(),
        sandbox_check(settings),
        build_users_check(settings),
        host_builders_check(settings, host_builders),
        network_check(),
    ]
}

/// `nix-store --version`.
pub fn nix_check() -> Check {
    match Command::new("nix-store").arg("--version").stdin(Stdio::null()).output() {
        Ok(out) if out.status.success() => version_check(String::from_utf8_lossy(&out.stdout).trim()),
        Ok(out) => Check::new(
            "nix",
            Status::Fail,
            format!("`nix-store --version` failed ({})", out.status),
            Some("reinstall Nix (Debian: apt-get install nix-bin)".to_owned()),
        ),
        Err(e) => Check::new(
            "nix",
            Status::Fail,
            format!("`nix-store` cannot be run: {e}"),
            Some("install Nix (Debian: apt-get install nix-bin)".to_owned()),
        ),
    }
}

/// The oldest Nix provenix is tested against (Debian's nix-bin).
pub const TESTED_NIX: (u32, u32) = (2, 8);

/// `nix-store --version` output judged: older than [`TESTED_NIX`] is a warning.
pub fn version_check(version: &str) -> Check {
    let number = version.rsplit(' ').next().unwrap_or_default();
    let leading = |p: &str| p.chars().take_while(char::is_ascii_digit).collect::<String>().parse::<u32>();
    let mut parts = number.split('.').map(leading);
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) if (major, minor) >= TESTED_NIX => {
            Check::new("nix", Status::Ok, version.to_owned(), None)
        }
        (Some(Ok(_)), Some(Ok(_))) => Check::new(
            "nix",
            Status::Warn,
            format!("{version}: older than {}.{}, the oldest Nix provenix is tested with", TESTED_NIX.0, TESTED_NIX.1),
            Some("install Nix 2.8 or later (Debian: apt-get install nix-bin)".to_owned()),
        ),
        _ => Check::new("nix", Status::Warn, format!("{version}: version not recognised"), None),
    }
}

/// The sandbox is on (and cannot silently fall back) and the kernel grants its namespaces.
pub fn sandbox_check(settings: &NixSettings) -> Check {
    let on = settings.text("sandbox").unwrap_or_default();
    if on != "true" {
        return Check::new(
            "sandbox",
            Status::Fail,
            format!("sandbox = {on}"),
            Some("add `sandbox = true` to /etc/nix/nix.conf, or pass `--nix-option sandbox true`".to_owned()),
        );
    }
    let probe = Command::new("unshare")
        .args(["--mount", "--pid", "--ipc", "--uts", "--net", "--fork", "--", "true"])
        .stdin(Stdio::null())
        .output();
    let user_ns = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let user_ns = if user_ns > 0 { "user namespaces available" } else { "no user namespaces" };
    match probe {
        Ok(out) if out.status.success() => Check::new(
            "sandbox",
            Status::Ok,
            format!(
                "sandbox = true; mount, PID, IPC, UTS and network namespaces work ({user_ns}); sandbox-fallback = {}",
                settings.text("sandbox-fallback").unwrap_or_default()
            ),
            None,
        ),
        Ok(out) => Check::new(
            "sandbox",
            Status::Fail,
            format!(
                "the kernel refuses the namespaces Nix's sandbox needs ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Some(
                "run as root on a kernel with namespaces (in a container: give it CAP_SYS_ADMIN, e.g. `--privileged`); \
                 without them Nix cannot build in a sandbox"
                    .to_owned(),
            ),
        ),
        Err(e) => Check::new(
            "sandbox",
            Status::Fail,
            format!("`unshare` cannot be run: {e}"),
            Some("install util-linux (it provides `unshare`)".to_owned()),
        ),
    }
}

/// The group `build-users-group` names exists and has members, or it is set empty.
pub fn build_users_check(settings: &NixSettings) -> Check {
    let group = settings.text("build-users-group").unwrap_or_default();
    let no_users_fix = "or build without build users: add `build-users-group =` (empty) to /etc/nix/nix.conf, or pass \
                        `--nix-option build-users-group ''`; then builds run as root and a build can write to its \
                        inputs and to the store, so isolation rests on the sandbox alone";
    let create = format!(
        "create the group and its users: `groupadd -r {group} && for i in 1 2 3 4 5 6 7 8; do useradd -r -M -g {group} \
         -G {group} -d /var/empty -s /usr/sbin/nologin {group}$i; done` (each build then runs as its own unprivileged \
         user); {no_users_fix}"
    );
    if group.is_empty() {
        return Check::new(
            "build-users",
            Status::Warn,
            "build-users-group is empty: builds run as the user running Nix (root), so a build can write to its inputs; \
             isolation rests on the sandbox alone",
            Some("for build users, create a group with members and set `build-users-group = GROUP`".to_owned()),
        );
    }
    match group_members(&group) {
        Ok(Some(members)) if !members.is_empty() => Check::new(
            "build-users",
            Status::Ok,
            format!("build-users-group = {group}: {} build users ({})", members.len(), members.join(", ")),
            None,
        ),
        Ok(Some(_)) => Check::new(
            "build-users",
            Status::Fail,
            format!("build-users-group = {group}, but the group has no members, so Nix has no user to build as"),
            Some(create),
        ),
        Ok(None) => Check::new(
            "build-users",
            Status::Fail,
            format!("build-users-group = {group}, but there is no group `{group}`"),
            Some(create),
        ),
        Err(e) => {
            Check::new("build-users", Status::Fail, format!("cannot look up the group `{group}`: {e}"), Some(create))
        }
    }
}

/// The members of a group (`getent group`), `None` when there is no such group.
fn group_members(group: &str) -> Result<Option<Vec<String>>, String> {
    let out = Command::new("getent")
        .args(["group", group])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `getent`: {e}"))?;
    // getent exits 2 for "no such key".
    if out.status.code() == Some(2) {
        return Ok(None);
    }
    if !out.status.success() {
        return Err(format!("`getent group {group}` failed ({})", out.status));
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let members = line.trim_end().splitn(4, ':').nth(3).unwrap_or_default();
    Ok(Some(members.split(',').filter(|m| !m.is_empty()).map(str::to_owned).collect()))
}

/// Every builder outside the store is bound into the sandbox, and runs there
/// (statically linked, or with its loader bound too).
pub fn host_builders_check(settings: &NixSettings, host_builders: &[String]) -> Check {
    let paths = settings.sandbox_paths();
    let shown: Vec<String> = paths
        .iter()
        .map(|p| if p.target == p.source { p.target.clone() } else { format!("{}={}", p.target, p.source) })
        .collect();
    let fix = |builder: &str| {
        let hint = if builder == "/bin/sh" {
            "/bin/sh=/bin/busybox` (apt-get install busybox-static)".to_owned()
        } else {
            format!("{builder}=HOST-PATH` (a statically linked program)")
        };
        format!(
            "add `sandbox-paths = {hint} to /etc/nix/nix.conf, or pass `--nix-option sandbox-paths {}`; \
             only what sandbox-paths names is visible in the sandbox, so the program must be statically linked",
            hint.split('`').next().unwrap_or_default()
        )
    };
    let shown = if shown.is_empty() { "(none)".to_owned() } else { shown.join(" ") };
    let mut problems = Vec::new();
    let mut found = Vec::new();
    for builder in host_builders {
        let Some(host) = paths.iter().find_map(|p| p.host_path_of(builder)) else {
            problems.push((format!("{builder} is not in the sandbox (sandbox-paths = {shown})"), fix(builder)));
            continue;
        };
        match std::fs::metadata(&host) {
            Err(e) => problems.push((format!("{builder} is bound to {host}, which cannot be read: {e}"), fix(builder))),
            Ok(_) => match elf_interpreter(Path::new(&host)) {
                Some(loader) if !paths.iter().any(|p| p.host_path_of(&loader).is_some()) => problems.push((
                    format!(
                        "{builder} is bound to {host}, which is dynamically linked: its loader {loader} is not in the sandbox"
                    ),
                    fix(builder),
                )),
                _ => found.push(format!("{builder} = {host}")),
            },
        }
    }
    match problems.first() {
        Some((_, fix)) => {
            let summary = problems.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>().join("; ");
            Check::new("sandbox-shell", Status::Fail, summary, Some(fix.clone()))
        }
        None if host_builders.is_empty() => {
            Check::new("sandbox-shell", Status::Ok, "no builder outside the store is needed", None)
        }
        None => Check::new("sandbox-shell", Status::Ok, format!("in the sandbox: {}", found.join(", ")), None),
    }
}

/// The ELF program interpreter of a file (`PT_INTERP`), if it is a 64-bit
/// little-endian ELF that names one; `None` for static programs and anything else.
pub fn elf_interpreter(path: &Path) -> Option<String> {
    let mut head = Vec::new();
    std::fs::File::open(path).ok()?.take(64 << 10).read_to_end(&mut head).ok()?;
    if head.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(head.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(head.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(head.get(at..at + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        let at = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(at)? == 3 {
            let offset = usize::try_from(u64_at(at + 8)?).ok()?;
            let size = usize::try_from(u64_at(at + 32)?).ok()?;
            let bytes = head.get(offset..offset.checked_add(size)?)?;
            return Some(String::from_utf8_lossy(bytes).trim_end_matches('\0').to_owned());
        }
    }
    None
}

/// `unshare --net` works (root, or CAP_SYS_ADMIN): the rebuild cuts the network with it.
pub fn network_check() -> Check {
    match Command::new("unshare").args(["--net", "--", "true"]).stdin(Stdio::null()).output() {
        Ok(out) if out.status.success() => {
            Check::new("network-isolation", Status::Ok, "`unshare --net` works: rebuilds run without a network", None)
        }
        Ok(out) => Check::new(
            "network-isolation",
            Status::Fail,
            format!("`unshare --net` failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()),
            Some("run the rebuild as root (a new network namespace needs CAP_SYS_ADMIN)".to_owned()),
        ),
        Err(e) => Check::new(
            "network-isolation",
            Status::Fail,
            format!("`unshare` cannot be run: {e}"),
            Some("install util-linux (it provides `unshare`)".to_owned()),
        ),
    }
}

/// The store directory is readable and so is the Nix database (when there is one).
pub fn store_checks(store: &provenix_store::Store, db: Option<&Path>) -> Vec<Check> {
    let dir = store.physical_dir();
    let store_check = match std::fs::read_dir(&dir) {
        Ok(entries) => Check::new(
            "store",
            Status::Ok,
            match entries.count() {
                1 => format!("{} is readable (1 entry)", dir.display()),
                n => format!("{} is readable ({n} entries)", dir.display()),
            },
            None,
        ),
        Err(e) => Check::new(
            "store",
            Status::Fail,
            format!("{} cannot be read: {e}", dir.display()),
            Some(
                "pass --store ROOT for a store under ROOT/nix/store, or install Nix (apt-get install nix-bin)"
                    .to_owned(),
            ),
        ),
    };
    let db_path = db.map_or_else(|| provenix_store::db::NixDb::default_path(store), Path::to_path_buf);
    let opened = match db {
        Some(path) => provenix_store::db::NixDb::open(path, store.dir().clone()).map(Some),
        None => provenix_store::db::NixDb::open_for(store),
    };
    let db_check = match opened {
        Ok(Some(_)) => Check::new("database", Status::Ok, format!("{} is readable", db_path.display()), None),
        Ok(None) => Check::new(
            "database",
            Status::Warn,
            format!("no Nix database at {}: output paths cannot be traced to their .drv", db_path.display()),
            Some("pass --db FILE, or build something once with Nix so it creates its database".to_owned()),
        ),
        Err(e) => Check::new(
            "database",
            Status::Fail,
            format!("{} cannot be read: {e}", db_path.display()),
            Some("run as a user who can read the database, or pass --db FILE".to_owned()),
        ),
    };
    vec![store_check, db_check]
}

/// `git --version`: the VCS checks need it.
pub fn git_check() -> Check {
    match Command::new("git").arg("--version").stdin(Stdio::null()).output() {
        Ok(out) if out.status.success() => {
            Check::new("git", Status::Ok, String::from_utf8_lossy(&out.stdout).trim().to_owned(), None)
        }
        _ => Check::new(
            "git",
            Status::Warn,
            "`git` cannot be run: comparing a release with its VCS tree needs it",
            Some("apt-get install git".to_owned()),
        ),
    }
}

/// The clock is not before `not_before` (when this program was built or
/// installed) and not absurdly late: attestations record times, and keys
/// and whitelist entries expire.
pub fn clock_check(now: std::time::SystemTime, not_before: std::time::SystemTime) -> Check {
    use std::time::{Duration, UNIX_EPOCH};
    let shown = crate::rebuild::rfc3339(now);
    // 2100-01-01: later than that is a clock set wrong, not the future.
    let too_late = UNIX_EPOCH + Duration::from_secs(4_102_444_800);
    let fix = Some("set the clock (e.g. `timedatectl set-ntp true`, or `date -s` from a trusted source)".to_owned());
    if now + Duration::from_secs(86_400) < not_before {
        let installed = crate::rebuild::rfc3339(not_before);
        Check::new(
            "clock",
            Status::Fail,
            format!("the clock says {shown}, before this provenix was installed ({installed})"),
            fix,
        )
    } else if now > too_late {
        Check::new("clock", Status::Fail, format!("the clock says {shown}, after 2100"), fix)
    } else {
        Check::new("clock", Status::Ok, format!("{shown} (UTC)"), None)
    }
}

/// The failed checks as one message: each problem and its fix on lines of their own.
pub fn describe_failures(checks: &[Check]) -> Option<String> {
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| match &c.fix {
            Some(fix) => format!("  {}: {}\n    fix: {fix}", c.name, c.summary),
            None => format!("  {}: {}", c.name, c.summary),
        })
        .collect();
    (!failed.is_empty()).then(|| failed.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(pairs: &[(&str, Value)]) -> NixSettings {
        NixSettings::from_values(pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect())
    }

    #[test]
    fn nix_versions_older_than_the_tested_one_warn() {
        assert_eq!(version_check("nix-store (Nix) 2.8.0").status, Status::Ok);
        assert_eq!(version_check("nix-store (Nix) 2.24.10").status, Status::Ok);
        assert_eq!(version_check("nix-store (Nix) 3.0pre20250101").status, Status::Ok);
        assert_eq!(version_check("nix-store (Nix) 2.3.16").status, Status::Warn);
        assert_eq!(version_check("something else").status, Status::Warn);
    }

    #[test]
    fn the_clock_must_not_be_before_the_install_nor_after_2100() {
        use std::time::{Duration, UNIX_EPOCH};
        let installed = UNIX_EPOCH + Duration::from_secs(1_764_072_061);
        assert_eq!(clock_check(installed + Duration::from_secs(60), installed).status, Status::Ok);
        let reset = clock_check(UNIX_EPOCH, installed);
        assert_eq!(reset.status, Status::Fail);
        assert!(reset.summary.contains("1970-01-01") && reset.fix.is_some(), "{reset:?}");
        let late = UNIX_EPOCH + Duration::from_secs(4_200_000_000);
        assert_eq!(clock_check(late, installed).status, Status::Fail);
    }

    #[test]
    fn sandbox_paths_parse_as_nix_reads_them() {
        assert_eq!(
            SandboxPath::parse("/bin/sh=/bin/busybox"),
            SandboxPath { target: "/bin/sh".into(), source: "/bin/busybox".into(), optional: false }
        );
        assert_eq!(
            SandboxPath::parse("/usr/bin?"),
            SandboxPath { target: "/usr/bin".into(), source: "/usr/bin".into(), optional: true }
        );
        let dir = SandboxPath::parse("/bin=/opt/static/bin");
        assert_eq!(dir.host_path_of("/bin/sh").as_deref(), Some("/opt/static/bin/sh"));
        assert_eq!(dir.host_path_of("/binx/sh"), None);
        assert_eq!(SandboxPath::parse("/bin/sh").host_path_of("/bin/sh").as_deref(), Some("/bin/sh"));
    }

    #[test]
    fn a_builder_missing_from_the_sandbox_fails_with_the_line_to_add() {
        let none = settings(&[("sandbox-paths", json!([]))]);
        let c = host_builders_check(&none, &["/bin/sh".to_owned()]);
        assert_eq!(c.status, Status::Fail);
        assert!(c.summary.contains("/bin/sh is not in the sandbox"), "{}", c.summary);
        assert!(c.fix.as_deref().unwrap().contains("sandbox-paths = /bin/sh=/bin/busybox"), "{:?}", c.fix);
        assert_eq!(host_builders_check(&none, &[]).status, Status::Ok);
    }

    #[test]
    fn a_dynamically_linked_shell_is_refused_a_static_one_accepted() {
        let dynamic =
            ["/bin/dash", "/usr/bin/dash", "/bin/bash"].into_iter().find(|p| elf_interpreter(Path::new(p)).is_some());
        if let Some(dynamic) = dynamic {
            let s = settings(&[("sandbox-paths", json!([format!("/bin/sh={dynamic}")]))]);
            let c = host_builders_check(&s, &["/bin/sh".to_owned()]);
            assert_eq!(c.status, Status::Fail, "{c:?}");
            assert!(c.summary.contains("dynamically linked"), "{}", c.summary);
        }
        if Path::new("/bin/busybox").exists() && elf_interpreter(Path::new("/bin/busybox")).is_none() {
            let s = settings(&[("sandbox-paths", json!(["/bin/sh=/bin/busybox"]))]);
            assert_eq!(host_builders_check(&s, &["/bin/sh".to_owned()]).status, Status::Ok);
        }
    }

    #[test]
    fn empty_build_users_group_is_a_warning_that_names_the_isolation_cost() {
        let c = build_users_check(&settings(&[("build-users-group", json!(""))]));
        assert_eq!(c.status, Status::Warn);
        assert!(c.summary.contains("can write to its inputs"), "{}", c.summary);
        let c = build_users_check(&settings(&[("build-users-group", json!("provenix-no-such-group"))]));
        assert_eq!(c.status, Status::Fail);
        let fix = c.fix.unwrap();
        assert!(fix.contains("groupadd -r provenix-no-such-group") && fix.contains("build-users-group ''"), "{fix}");
    }
}
