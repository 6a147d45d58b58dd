//! The one place that runs Nix commands: evaluation (`nix-instantiate`,
//! `nix path-info --derivation` for flakes) and the deriver query fallback
//! (`nix-store -qd`). Everything after evaluation reads the store directly.
//!
//! Every command gets the store it should use: `--store local?root=ROOT`
//! (plus `&store=DIR` for another logical directory) when the [`Store`] has a
//! physical root, so evaluation writes its `.drv` files where provenix then
//! reads them. Commands run with stdin closed; their stderr is kept for the
//! error message.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};

use provenix_formats::store_path::StorePath;
use thiserror::Error;

use crate::store::Store;

/// How much of a failed command's stderr an error keeps.
const STDERR_KEEP: usize = 4000;

/// Errors from running Nix.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NixError {
    /// The program could not be started (not installed, not on `PATH`).
    #[error("cannot run `{program}` (is Nix installed and on PATH?)")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The command ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The end of its stderr.
        stderr: String,
    },
    /// The command printed something that is not a store path of this store.
    #[error("`{command}` printed `{line}`, which is not a store path of this store")]
    BadOutput {
        /// The command line.
        command: String,
        /// The line.
        line: String,
    },
}

/// A value for a Nix file's function argument, as `nix-instantiate` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NixArg {
    /// `--arg NAME EXPR`: a Nix expression.
    Expr {
        /// The argument's name.
        name: String,
        /// The expression.
        expr: String,
    },
    /// `--argstr NAME VALUE`: a string.
    Str {
        /// The argument's name.
        name: String,
        /// The string.
        value: String,
    },
}

/// Runs Nix commands against one store.
#[derive(Debug, Clone)]
pub struct Nix {
    store: Store,
}

impl Nix {
    /// Commands that use `store`.
    pub fn new(store: &Store) -> Nix {
        Nix { store: store.clone() }
    }

    /// The `--store` argument, if the store is not the default one.
    fn store_arg(&self) -> Option<String> {
        let dir = self.store.dir().as_str();
        let default_dir = dir == "/nix/store";
        match (self.store.root(), default_dir) {
            (Some(root), true) => Some(format!("local?root={}", root.display())),
            (Some(root), false) => Some(format!("local?root={}&store={dir}", root.display())),
            (None, true) => None,
            (None, false) => Some(format!("local?store={dir}")),
        }
    }

    fn command(&self, program: &str, args: &[&OsStr]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args);
        if let Some(store) = self.store_arg() {
            cmd.arg("--store").arg(store);
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs a command and returns its stdout lines.
    fn lines(&self, program: &str, args: &[&OsStr]) -> Result<Vec<String>, NixError> {
        let mut cmd = self.command(program, args);
        let command = command_line(program, args);
        tracing::debug!(%command, "running Nix");
        let out = cmd.output().map_err(|source| NixError::Spawn { program: program.to_owned(), source })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stderr = stderr.trim();
            let start = stderr.len().saturating_sub(STDERR_KEEP);
            let start = (start..stderr.len()).find(|&i| stderr.is_char_boundary(i)).unwrap_or(stderr.len());
            return Err(NixError::Failed {
                command,
                status: out.status,
                stderr: stderr.get(start..).unwrap_or_default().to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect())
    }

    fn store_paths(&self, program: &str, args: &[&OsStr]) -> Result<Vec<StorePath>, NixError> {
        let command = command_line(program, args);
        self.lines(program, args)?
            .into_iter()
            .map(|line| {
                // `nix-instantiate` prints `/nix/store/…drv!out` when an attribute selects an output.
                let path = line.split_once('!').map_or(line.as_str(), |(p, _)| p);
                self.store.dir().parse_path(path).map_err(|_| NixError::BadOutput { command: command.clone(), line })
            })
            .collect()
    }

    /// `nix-instantiate FILE [-A ATTR]...`: the `.drv` paths a Nix file evaluates to.
    pub fn instantiate(&self, file: &Path, attrs: &[String], values: &[NixArg]) -> Result<Vec<StorePath>, NixError> {
        let mut args: Vec<&OsStr> = vec![file.as_os_str()];
        for attr in attrs {
            args.push(OsStr::new("-A"));
            args.push(OsStr::new(attr.as_str()));
        }
        for value in values {
            let (flag, name, text) = match value {
                NixArg::Expr { name, expr } => ("--arg", name, expr),
                NixArg::Str { name, value } => ("--argstr", name, value),
            };
            args.extend([OsStr::new(flag), OsStr::new(name.as_str()), OsStr::new(text.as_str())]);
        }
        self.store_paths("nix-instantiate", &args)
    }

    /// `nix path-info --derivation REF`: the `.drv` paths of a flake output.
    pub fn flake_derivations(&self, reference: &str) -> Result<Vec<StorePath>, NixError> {
        let args = ["--extra-experimental-features", "nix-command flakes", "path-info", "--derivation", reference];
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        self.store_paths("nix", &args)
    }

    /// `nix-store -q --deriver PATH`: `None` when Nix knows no deriver.
    pub fn deriver(&self, path: &StorePath) -> Result<Option<StorePath>, NixError> {
        let full = self.store.dir().display(path);
        let args = ["-q", "--deriver", full.as_str()];
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        let lines = self.lines("nix-store", &args)?;
        match lines.first().map(String::as_str) {
            None | Some("unknown-deriver") => Ok(None),
            Some(line) => {
                self.store.dir().parse_path(line).map(Some).map_err(|_| NixError::BadOutput {
                    command: command_line("nix-store", &args),
                    line: line.to_owned(),
                })
            }
        }
    }
}

/// A command as it is shown in errors.
fn command_line(program: &str, args: &[&OsStr]) -> String {
    let args: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
    format!("{program} {}", args.join(" "))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use provenix_formats::store_path::StoreDir;

    use super::*;

    #[test]
    fn passes_the_root_and_logical_dir_to_nix() {
        let nix = Nix::new(&Store::new(StoreDir::new("/gnu/store").unwrap(), Some(PathBuf::from("/tmp/r"))));
        assert_eq!(nix.store_arg().as_deref(), Some("local?root=/tmp/r&store=/gnu/store"));
        let nix = Nix::new(&Store::new(StoreDir::default(), Some(PathBuf::from("/tmp/r"))));
        assert_eq!(nix.store_arg().as_deref(), Some("local?root=/tmp/r"));
        assert_eq!(Nix::new(&Store::default()).store_arg(), None);
    }

    #[test]
    fn a_missing_program_is_named() {
        let nix = Nix::new(&Store::default());
        let err = nix.lines("provenix-no-such-program", &[]).unwrap_err();
        assert!(err.to_string().contains("provenix-no-such-program"), "{err}");
    }
}
