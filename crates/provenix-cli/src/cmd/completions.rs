//! `provenix completions SHELL`: a completion script generated from the clap definition, the
//! same one `docs/cli.md` and the man pages come from, so the three cannot drift apart.

use std::io::{self, Write as _};

use clap_complete::Shell;

use crate::cli::{Outcome, command};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum, value_name = "SHELL")]
    shell: Shell,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Outcome> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command(), "provenix", &mut script);
    let mut out = io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(Outcome::Ok)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every command path (`nar dump`) and the long flags it takes.
    pub(crate) fn commands_and_flags() -> Vec<(String, Vec<String>)> {
        fn walk(cmd: &clap::Command, prefix: &str, out: &mut Vec<(String, Vec<String>)>) {
            let name =
                if prefix.is_empty() { cmd.get_name().to_owned() } else { format!("{prefix} {}", cmd.get_name()) };
            let flags = cmd
                .get_arguments()
                .filter(|a| !a.is_hide_set())
                .filter_map(|a| a.get_long())
                .map(str::to_owned)
                .collect();
            out.push((name.clone(), flags));
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                walk(sub, &name, out);
            }
        }
        let mut out = Vec::new();
        walk(&command(), "", &mut out);
        out
    }

    #[test]
    fn every_shell_gets_a_script_naming_every_command_and_flag() {
        let all = commands_and_flags();
        assert!(all.iter().any(|(name, _)| name == "provenix nar dump"), "{all:?}");
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::Elvish, Shell::PowerShell] {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command(), "provenix", &mut script);
            let script = String::from_utf8(script).unwrap();
            for (name, flags) in &all {
                let last = name.rsplit(' ').next().unwrap();
                assert!(script.contains(last), "{shell}: no command `{name}`");
                for flag in flags {
                    // fish spells a long option `-l NAME`.
                    let spelled = if shell == Shell::Fish { format!("-l {flag}") } else { format!("--{flag}") };
                    assert!(script.contains(&spelled), "{shell}: `{name}` lacks --{flag}");
                }
            }
        }
    }
}
