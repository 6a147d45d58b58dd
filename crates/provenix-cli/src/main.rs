//! The `provenix` binary.

mod cli;
mod cmd;

fn main() -> std::process::ExitCode {
    cli::main()
}
