//! The `provenix` binary.

mod cli;
mod cmd;

/// mimalloc: loading a `.drv` closure makes hundreds of thousands of small
/// allocations across threads, and glibc's malloc spent about 15% of
/// `drv show -r` in its arenas and in page faults from growing them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
