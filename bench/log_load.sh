#!/usr/bin/env bash
# Load test of `provenix serve`'s log on SQLite (BENCHMARKS.md, "Log server"):
# CONCURRENCY submitters for SECONDS, then inclusion proofs, on a log
# prefilled with PREFILL entries. Usage: bash bench/log_load.sh [CONCURRENCY] [SECONDS] [PREFILL]
set -euo pipefail
cd "$(dirname "$0")/.."
concurrency="${1:-64}" seconds="${2:-30}" prefill="${3:-1000000}"
work=target/bench/log-load
rm -rf "$work" && mkdir -p "$work"
cargo build --release -p provenix-server --example log_load
./target/release/examples/log_load "$work/log.sqlite" "$concurrency" "$seconds" "$prefill"
