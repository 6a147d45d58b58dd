//! The `provenix` binary.

mod cli;
mod cmd;
mod output;
mod signals;

/// mimalloc: loading a `.drv` closure makes hundreds of thousands of small
/// allocations across threads; glibc's malloc made `drv show -r` on 10,000
/// derivations 29% slower (arena locks, page faults from growing heaps).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
